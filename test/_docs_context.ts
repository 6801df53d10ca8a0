/**
 * What the samples of the use-case pages (`docs/*.md`) take as given: the
 * keys, devices, streams, items and organisations a page's prose assumes
 * exist before its code runs. `test/docs_samples_test.ts` runs each page's
 * ```ts blocks after one of these, against a cluster made by `task start`'s
 * `initLocalLedger` (one organisation `local`, an authority for `demo/`,
 * only `data.anchor` open).
 *
 * Every page's script also calls {@link checkReceipts}, so a sample whose
 * transaction is rejected at apply fails the test instead of passing quietly.
 *
 * @module
 */
import assert from "node:assert/strict";
import { EdgeLedgerClient, type Receipt } from "../sdk/client/mod.ts";
import { addSignature, createEnvelope, isFullySigned, signEnvelope } from "../sdk/envelope.ts";
import { utf8Encode } from "../sdk/encoding.ts";
import { parseCheckpoint } from "../sdk/checkpoint.ts";
import { sha256Hex } from "../sdk/hash.ts";
import {
  exportKey,
  generateKeyPair,
  importKey,
  type KeyPair,
  type Signer,
  softwareSigner,
} from "../sdk/keys.ts";
import { createAsset, mintAsset } from "../sdk/kinds/asset.ts";
import { attachAnchors, createItem } from "../sdk/kinds/custody.ts";
import { govProposal } from "../sdk/kinds/gov.ts";
import { registerDevice } from "../sdk/kinds/identity.ts";
import { anchorBody, buildBatch } from "../sdk/kinds/readings.ts";
import { buildTx } from "../sdk/kinds/build.ts";

/** Where a page's script runs: the first site's URL and the ledger's data folder. */
export interface DocsEnv {
  url: string;
  dir: string;
}

/**
 * Makes every `client.submit` of the script check that what it submitted
 * committed and applied: a sample must do what its page says.
 */
export function checkReceipts(): void {
  const submit = EdgeLedgerClient.prototype.submit;
  // deno-lint-ignore no-explicit-any
  (EdgeLedgerClient.prototype as any).submit = async function (
    this: EdgeLedgerClient,
    ...args: unknown[]
  ) {
    // deno-lint-ignore no-explicit-any
    const out = await (submit as any).apply(this, args);
    for (const r of (Array.isArray(out) ? out : [out]) as Receipt[]) {
      assert.equal(r.status, "committed", JSON.stringify(r));
      assert.equal(r.result?.status, "applied", JSON.stringify(r));
    }
    return out;
  };
}

async function keyFile(env: DocsEnv, name: string): Promise<Signer> {
  return softwareSigner(importKey(JSON.parse(await Deno.readTextFile(`${env.dir}/${name}`))));
}

async function submitApplied(client: EdgeLedgerClient, env: Promise<unknown>): Promise<void> {
  // The patched submit (checkReceipts) checks the receipt.
  await client.submit(await env as never, { wait: "commit" });
}

/** A key registered as device `demo/<name>` by the local authority: a registered signer. */
async function device(
  env: DocsEnv,
  name: string,
  algorithm: "ed25519" | "p256" = "ed25519",
): Promise<{ key: KeyPair; signer: Signer }> {
  const client = new EdgeLedgerClient({ urls: [env.url] });
  const key = generateKeyPair(algorithm);
  const signer = softwareSigner(key);
  await submitApplied(
    client,
    registerDevice({
      ledger: "demo",
      name: `demo/${name}`,
      attributes: { model: "docs-sample" },
      authority: await keyFile(env, "authority-key.json"),
      device: signer,
    }),
  );
  return { key, signer };
}

/** Anchors `seq` of `stream`, signed by `owner` (`data.anchor` is open). */
async function anchor(env: DocsEnv, owner: Signer, stream: string, seq: number, at: number) {
  const client = new EdgeLedgerClient({ urls: [env.url] });
  const body = anchorBody(buildBatch([{ seq }]), { stream, seq, from: at, to: at });
  await submitApplied(
    client,
    signEnvelope(
      createEnvelope({ ledger: "demo", kind: "data.anchor", body, signers: [owner.did] }),
      [owner],
    ),
  );
}

/** docs/sensor-data.md: a vehicle, a minute of readings, and a monitor stream with a gap. */
export async function sensorDataContext(env: DocsEnv) {
  const vehicle = generateKeyPair();
  const vehicleSigner = softwareSigner(vehicle);
  const from = Date.now() - 60_000;
  const to = from + 59_000;
  const minute = Array.from({ length: 60 }, (_, i) => ({
    t: from + i * 1000,
    speed: 80 + (i % 7),
    lat: 45_750_000,
    lon: 4_850_000,
  }));
  // Anchors 1, 2 and 5 of a monitor: 3..4 are missing.
  for (const seq of [1, 2, 5]) {
    await anchor(env, vehicleSigner, "monitor-3/nox", seq, from - 10 * 3_600_000 + seq * 3_600_000);
  }
  return { vehicle, vehicleSigner, from, to, minute };
}

/** docs/custody.md: a courier holding item `batch-7` at step 3, and a pharmacy. */
export async function custodyContext(env: DocsEnv) {
  const client = new EdgeLedgerClient({ urls: [env.url] });
  const { key: courier, signer: courierSigner } = await device(env, "couriers/van-3");
  const { key: pharmacy, signer: pharmacySigner } = await device(env, "pharmacies/lyon-1");
  await submitApplied(
    client,
    createItem({ item: "batch-7", description: "Insulin, 40 boxes" }, courierSigner, {
      ledger: "demo",
    }),
  );
  // Steps 1 and 2: the van's temperature attached to the leg.
  for (const seq of [1, 2]) {
    await anchor(env, courierSigner, "van-3/temp", seq, Date.now());
    await submitApplied(
      client,
      attachAnchors(
        { item: "batch-7", step: seq, anchors: [{ stream: "van-3/temp", seq }] },
        courierSigner,
        {
          ledger: "demo",
        },
      ),
    );
  }
  return { courier, courierSigner, pharmacy, pharmacySigner };
}

/**
 * The root of the latest checkpoint once it covers the whole log, as a
 * verifier would hold it from the light client (which also checks its
 * signatures; this test trusts its own cluster).
 */
export async function checkpointRootOfHead(env: DocsEnv): Promise<Uint8Array> {
  const client = new EdgeLedgerClient({ urls: [env.url] });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const status = await client.status();
    const note = await client.checkpoint();
    // The signed note's text, up to the blank line before its signatures.
    const checkpoint = parseCheckpoint(note.slice(0, note.indexOf("\n\n") + 1));
    if (checkpoint.size >= status.logSize) return checkpoint.rootHash;
    assert.ok(Date.now() < deadline, "the checkpoint does not cover the log");
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** docs/payments.md: a registered car holding kWh credits, and a charger. */
export async function paymentsContext(env: DocsEnv) {
  const client = new EdgeLedgerClient({ urls: [env.url] });
  const issuer = await keyFile(env, "authority-key.json");
  const { key: car, signer: carSigner } = await device(env, "cars/car-1", "p256");
  const { key: charger } = await device(env, "chargers/post-1");
  await submitApplied(
    client,
    createAsset({ asset: "kwh-credit", name: "kWh credit", decimals: 3 }, issuer, {
      ledger: "demo",
    }),
  );
  await submitApplied(
    client,
    mintAsset({ asset: "kwh-credit", to: car.did, amount: "100000" }, issuer, { ledger: "demo" }),
  );
  return { car, carSigner, charger };
}

/** docs/access.md: a registered patient owning stream `patient-42/glucose`, and a clinic. */
export async function accessContext(env: DocsEnv) {
  const { signer: patientSigner } = await device(env, "patients/p-42");
  await anchor(env, patientSigner, "patient-42/glucose", 1, Date.now());
  const clinic = generateKeyPair();
  return { patientSigner, clinic };
}

/**
 * docs/governance.md, before "Upgrading the rules": a second organisation
 * `orgb`, so that the proposal there needs two admins (`adminA` of `local`,
 * `adminB` of `orgb`). `orgb`'s admin key is kept in the data folder for
 * {@link roamingContext}.
 */
export async function governanceContext(env: DocsEnv) {
  const client = new EdgeLedgerClient({ urls: [env.url] });
  const adminA = await keyFile(env, "admin-key.json");
  const adminBKey = generateKeyPair();
  const adminB = softwareSigner(adminBKey);
  await addOrg(client, "orgb", adminB, [adminA]);
  await Deno.writeTextFile(`${env.dir}/orgb-admin-key.json`, JSON.stringify(exportKey(adminBKey)));
  return { adminA, adminB };
}

async function addOrg(client: EdgeLedgerClient, id: string, admin: Signer, approvers: Signer[]) {
  const signers = [...approvers, admin];
  let p = govProposal(
    "gov.addOrg",
    { id, name: id, admins: [admin.did] },
    signers.map((s) => s.did),
    {
      ledger: "demo",
    },
  );
  for (const s of signers) p = await addSignature(p, s);
  assert.ok(isFullySigned(p));
  await submitApplied(client, Promise.resolve(p));
}

/**
 * docs/roaming.md: carriers `orga` (visited) and `orgb` (home) with period
 * `orga-orgb-2026-11` open and already ended (so the sample can close it),
 * holding record `tap-000124` (overlapping usage of an earlier record).
 * Runs after {@link governanceContext}.
 */
export async function roamingContext(env: DocsEnv) {
  const client = new EdgeLedgerClient({ urls: [env.url] });
  const adminLocal = await keyFile(env, "admin-key.json");
  const adminB = await keyFile(env, "orgb-admin-key.json");
  const adminA = softwareSigner(generateKeyPair());
  await addOrg(client, "orga", adminA, [adminLocal, adminB]);
  const until = Date.now() - 60_000;
  const periodFrom = until - 3_600_000;
  const tariff = { voiceMinute: "12", dataMb: "3", sms: "5" };
  const open = buildTx("roaming.open", {
    period: "orga-orgb-2026-11",
    carriers: [{ org: "orga", tariff }, { org: "orgb", tariff }],
    from: periodFrom,
    until,
    currency: "EUR",
  }, { ledger: "demo", signers: [adminA.did, adminB.did] });
  await submitApplied(client, signEnvelope(open, [adminA, adminB]));
  const sha256HexOfImsi = sha256Hex(utf8Encode("208150123456789"));
  const from = periodFrom + 600_000;
  const to = from + 1_200_000;
  for (const record of ["tap-000122", "tap-000124"]) {
    const usage = buildTx("roaming.record", {
      period: "orga-orgb-2026-11",
      record,
      visited: "orga",
      imsiHash: sha256HexOfImsi,
      country: "FR",
      lat: 48_856_600,
      lon: 2_352_200,
      from,
      to,
      voiceMinutes: 3,
      dataMb: 0,
      sms: 0,
    }, { ledger: "demo", signers: [adminA.did] });
    await submitApplied(client, signEnvelope(usage, [adminA]));
  }
  return {
    sha256HexOfImsi,
    from,
    to,
    siteKeySigner: adminA,
    homeCarrierSigner: adminB,
    carrierSigner: adminA,
  };
}
