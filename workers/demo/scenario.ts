/**
 * "A realistic day" on an edgeledger consortium, driven through the SDK
 * only: governance, device identity, telemetry anchors, custody, a
 * quarantined camera, micropayments, access grants and roaming settlement,
 * then a light-client check of one receipt.
 *
 * Every use case checks that the ledger did what it should (applied, or
 * rejected or refused with the expected code) and says so; a use case whose
 * kinds are not in this build (`KIND_BODIES`) is skipped, never faked.
 *
 * @module
 */
import { getGov } from "../../sdk/api/contract_routes/gov.ts";
import { getDevice } from "../../sdk/api/contract_routes/identity.ts";
import { getStream, verifyStreamReading } from "../../sdk/api/contract_routes/data.ts";
import { getCustodyHistory } from "../../sdk/api/contract_routes/custody.ts";
import { getAssetBalance } from "../../sdk/api/contract_routes/asset.ts";
import { checkStreamAccess } from "../../sdk/api/contract_routes/access.ts";
import {
  getRoamingPeriod,
  getRoamingStatement,
  listRoamingFlags,
} from "../../sdk/api/contract_routes/roaming.ts";
import {
  addSignature,
  anchorBody,
  buildBatch,
  createAsset,
  createEnvelope,
  createItem,
  EdgeLedgerClient,
  type Envelope,
  exportKey,
  flagDevice,
  followKeyRotations,
  generateKeyPair,
  govProposal,
  grantAccess,
  handoffTx,
  importKey,
  type KeyPair,
  KIND_BODIES,
  LightClient,
  mintAsset,
  type PartialEnvelope,
  payTransfer,
  readingProof,
  type Receipt,
  registerDevice,
  RejectedError,
  revokeAccess,
  roamingStatementHash,
  sha256Hex,
  signEnvelope,
  type Signer,
  signHandoff,
  signStatement,
  softwareSigner,
  submitUsage,
  trustConfigFromGenesis,
  type UnsignedEnvelope,
  utf8Encode,
  type Verdict,
  verifyReading,
} from "../../sdk/mod.ts";
import { ms, Report, short, shortDid, type UseCaseResult } from "./report.ts";

/** The second carrier's organisation id. */
export const CARRIER_B = "nordtel";
/** Where the second carrier's keys are kept in the data folder, so a rerun can act for it. */
export const CARRIER_B_KEYS_FILE = "demo-carrier-b-keys.json";
/**
 * Where the demo keeps the earliest roaming period it settled on this
 * ledger (`{earliestFrom}`, ms), so that a rerun settles the hour before it:
 * one pair of carriers' periods may not overlap.
 */
export const DEMO_ROAMING_FILE = "demo-roaming.json";
/** Most hours a run steps back past periods of the pair it did not know of. */
const ROAMING_PERIOD_TRIES_MAX = 48;
const HOUR_MS = 3_600_000;
/** Longest wait for a batch to commit, ms (the site holds the answer that long at most). */
const COMMIT_WAIT_MS_MAX = 30_000;
/** How long the light client may wait for a checkpoint that covers the receipt, ms. */
const CHECKPOINT_WAIT_MS_MAX = 10_000;

/** What the day needs to know about the ledger it runs on. */
export interface DayOptions {
  /** Site base URLs; the first is where links point. */
  urls: string[];
  /** The ledger's folder: `genesis.json`, `admin-key.json`, `authority-key.json`, site keys. */
  dataDir: string;
  /** Devices to register (at least 80). */
  devices: number;
  print: (line: string) => void;
  /** The kinds this build offers; default every kind of `KIND_BODIES`. */
  kinds?: readonly string[];
}

/** The day's outcome. */
export interface DaySummary {
  /** True when no use case failed and the light client proved the receipt. */
  ok: boolean;
  useCases: UseCaseResult[];
  /** The light client's verdict on one receipt. */
  verdict?: Pick<Verdict, "ok" | "reason" | "message" | "txId" | "logIndex" | "height">;
  /** Transactions submitted in all. */
  txs: number;
  ms: number;
}

interface Genesis {
  ledger: string;
  origin: string;
  organisations: { id: string; name: string; admins: string[] }[];
  sites: { name: string; org: string; publicKey: string; url: string }[];
}

/** A named key: a device, a person, an organisation's admin. */
interface Party {
  name: string;
  signer: Signer;
}

interface CarrierB {
  org: string;
  admin: Party;
  authority: Party;
}

/** The day's devices, by role. */
interface Fleet {
  gateways: Party[];
  cars: Party[];
  chargers: Party[];
  cameras: Party[];
  logistics: { producer: Party; courier: Party; warehouse: Party; pharmacy: Party };
  glucoseMonitor: Party;
  fleetOwner: Party;
  chargeOperator: Party;
  patient: Party;
}

/** Thrown when a step's outcome is not the expected one. */
class StepError extends Error {}

function party(name: string, key: KeyPair = generateKeyPair("ed25519")): Party {
  return { name, signer: softwareSigner(key) };
}

function isComplete(env: PartialEnvelope): env is Envelope & PartialEnvelope {
  return env.sigs.every((s) => s !== null);
}

/** Runs the day against the sites at `options.urls`. */
export async function runDay(options: DayOptions): Promise<DaySummary> {
  const started = performance.now();
  const available = new Set<string>(options.kinds ?? Object.keys(KIND_BODIES));
  const report = new Report(options.print, options.urls[0]);
  const client = new EdgeLedgerClient({ urls: options.urls, timeoutMs: 10_000 });
  const genesis = JSON.parse(
    await Deno.readTextFile(`${options.dataDir}/genesis.json`),
  ) as Genesis;
  const readKey = async (file: string) =>
    softwareSigner(importKey(JSON.parse(await Deno.readTextFile(`${options.dataDir}/${file}`))));
  const admin = await readKey("admin-key.json");
  const authority = await readKey("authority-key.json");
  const siteA = genesis.sites[0];
  const siteKey = await readKey(`${siteA.name}/site-key.json`).catch(() => undefined);
  const orgA = genesis.organisations.find((o) => o.admins.includes(admin.did));
  if (orgA === undefined) {
    throw new Error(
      `Cannot run the demo: ${options.dataDir}/admin-key.json is no admin in genesis`,
    );
  }
  const status = await client.status();
  const { ledger } = status;
  // Names unique to this run, so the day can be replayed on the same ledger.
  const run = Date.now().toString(36).slice(-6);
  const day = `day-${run}`;
  let txs = 0;
  const useCases: UseCaseResult[] = [];

  report.plain(
    `edgeledger demo — ledger "${ledger}", ${genesis.sites.length} sites, leader ${
      status.leader ?? "?"
    }, run ${run}`,
  );
  report.plain(`sites: ${options.urls.join("  ")}`);

  /** Submits one envelope and waits for it to commit applied; returns the receipt. */
  const commit = async (env: Envelope): Promise<Receipt & { txId: string }> => {
    txs++;
    const r = await client.submit(env, { wait: "commit", waitTimeoutMs: COMMIT_WAIT_MS_MAX });
    const receipt = r.status === "committed" ? r : await client.waitForCommit(r.txId!);
    if (receipt.result?.status !== "applied") {
      throw new StepError(
        `${env.kind} ${short(receipt.txId ?? "?")} was ${receipt.result?.status}: ${
          receipt.result?.code ?? ""
        } ${receipt.result?.detail ?? ""}`,
      );
    }
    return receipt as Receipt & { txId: string };
  };

  /** Submits envelopes in batches and waits for all to commit applied; returns their receipts. */
  const commitMany = async (envs: Envelope[]): Promise<(Receipt & { txId: string })[]> => {
    txs += envs.length;
    const receipts = await client.submit(envs, {
      wait: "commit",
      waitTimeoutMs: COMMIT_WAIT_MS_MAX,
    });
    const out: (Receipt & { txId: string })[] = [];
    for (let i = 0; i < receipts.length; i++) {
      let r = receipts[i];
      if (r.status === "refused") {
        throw new StepError(`${envs[i].kind} #${i} was refused: ${r.problem?.detail ?? ""}`);
      }
      if (r.status !== "committed") r = await client.waitForCommit(r.txId!);
      if (r.result?.status !== "applied") {
        throw new StepError(
          `${envs[i].kind} #${i} was ${r.result?.status}: ${r.result?.code} ${r.result?.detail}`,
        );
      }
      out.push(r as Receipt & { txId: string });
    }
    return out;
  };

  /** Submits `env`, which must commit rejected with `code`; returns the receipt. */
  const commitRejected = async (env: Envelope, code: string): Promise<Receipt> => {
    txs++;
    const r = await client.submit(env, { wait: "commit", waitTimeoutMs: COMMIT_WAIT_MS_MAX });
    const receipt = r.status === "committed" ? r : await client.waitForCommit(r.txId!);
    if (receipt.result?.status !== "rejected" || receipt.result.code !== code) {
      throw new StepError(
        `${env.kind} should have been rejected ${code}, was ${JSON.stringify(receipt.result)}`,
      );
    }
    return receipt;
  };

  /** Submits `env` to `on`, which must refuse it at admission with problem `slug`. */
  const refused = async (env: Envelope, slug: string, on = client): Promise<RejectedError> => {
    txs++;
    try {
      const r = await on.submit(env);
      throw new StepError(`${env.kind} should have been refused ${slug}, got ${r.status}`);
    } catch (e) {
      if (e instanceof RejectedError && e.slug === slug) return e;
      throw e;
    }
  };

  /**
   * Runs one use case: skipped (and says which kind is missing) when a kind
   * is not in this build, failed (with the reason) when a step went wrong.
   */
  const useCase = async (
    id: string,
    title: string,
    kinds: string[],
    body: () => Promise<string>,
    needs?: string,
  ): Promise<UseCaseResult> => {
    report.section(title);
    const t0 = performance.now();
    const txs0 = txs;
    const missing = kinds.filter((k) => !available.has(k));
    let result: UseCaseResult;
    if (missing.length > 0) {
      const detail = missing.map((k) => `skipped: ${k} not available in this build`).join("; ");
      for (const k of missing) report.line(`skipped: ${k} not available in this build`);
      result = { id, title, status: "skipped", detail, txs: 0, ms: 0 };
    } else if (needs !== undefined) {
      report.line(`skipped: ${needs}`);
      result = { id, title, status: "skipped", detail: `skipped: ${needs}`, txs: 0, ms: 0 };
    } else {
      try {
        const detail = await body();
        const elapsed = performance.now() - t0;
        report.line(`✓ ${detail} (${ms(elapsed)})`);
        result = { id, title, status: "ok", detail, txs: txs - txs0, ms: elapsed };
      } catch (e) {
        const detail = e instanceof Error ? e.message : String(e);
        report.line(`✗ FAILED: ${detail}`);
        result = {
          id,
          title,
          status: "failed",
          detail,
          txs: txs - txs0,
          ms: performance.now() - t0,
        };
      }
    }
    useCases.push(result);
    return result;
  };

  const tx = { ledger };

  // ---- 1. Governance: a second carrier joins ------------------------------
  let carrierB: CarrierB | undefined;
  await useCase(
    "governance",
    `Governance — carrier "${CARRIER_B}" joins "${orgA.id}" (majority-signed proposals)`,
    ["gov.addOrg", "gov.addAuthority"],
    async () => {
      const gov = (await client.request(getGov, { query: {} })).body;
      const keysPath = `${options.dataDir}/${CARRIER_B_KEYS_FILE}`;
      if (gov.organisations.some((o) => o.id === CARRIER_B)) {
        // A previous run on this ledger added it: act for it with the keys it kept.
        const saved = JSON.parse(await Deno.readTextFile(keysPath).catch(() => "null"));
        if (saved === null) {
          throw new StepError(
            `organisation ${CARRIER_B} exists but its keys are not in ${keysPath}`,
          );
        }
        carrierB = {
          org: CARRIER_B,
          admin: { name: "nordtel admin", signer: softwareSigner(importKey(saved.admin)) },
          authority: {
            name: "nordtel authority",
            signer: softwareSigner(importKey(saved.authority)),
          },
        };
        report.line(`${CARRIER_B} is a member already (${gov.organisations.length} organisations)`);
        return `${CARRIER_B} already a member; reusing its keys from ${CARRIER_B_KEYS_FILE}`;
      }
      if (gov.majority > 1) {
        throw new StepError(
          `adding an organisation needs admins of ${gov.majority} organisations; ` +
            `this demo holds the keys of one`,
        );
      }
      const adminKey = generateKeyPair("ed25519");
      const authorityKey = generateKeyPair("ed25519");
      // Keep the keys before the proposal commits, so a rerun can act for the carrier.
      await Deno.writeTextFile(
        keysPath,
        JSON.stringify({ admin: exportKey(adminKey), authority: exportKey(authorityKey) }),
        { mode: 0o600 },
      );
      const b: CarrierB = {
        org: CARRIER_B,
        admin: party("nordtel admin", adminKey),
        authority: party("nordtel authority", authorityKey),
      };
      report.line(
        `${gov.organisations.length} organisation(s); a proposal passes with admins of ${gov.majority}`,
      );
      // gov.addOrg: the current majority (local's admin) plus the new admin key.
      const proposal = govProposal(
        "gov.addOrg",
        {
          id: CARRIER_B,
          name: "Nordtel Mobile",
          admins: [b.admin.signer.did],
        },
        [admin.did, b.admin.signer.did],
        tx,
      );
      let p = await addSignature(proposal, admin); // on local's admin console
      p = await addSignature(p, b.admin.signer); // passed to nordtel, which co-signs
      if (!isComplete(p)) throw new StepError("gov.addOrg is not fully signed");
      const addOrg = await commit(p);
      report.tx(`gov.addOrg ${CARRIER_B} signed by ${orgA.id} admin + new admin:`, addOrg.txId);
      const after = (await client.request(getGov, { query: {} })).body;
      report.line(
        `now ${after.organisations.length} organisations; majority is ${after.majority}`,
      );
      // gov.addAuthority: both carriers' admins now, plus the authority key itself.
      const unsignedAuthority = govProposal(
        "gov.addAuthority",
        {
          did: b.authority.signer.did,
          org: CARRIER_B,
          name: "Nordtel device authority",
          namespaces: [`${CARRIER_B}/`],
        },
        [admin.did, b.admin.signer.did, b.authority.signer.did],
        tx,
      );
      let q = await addSignature(unsignedAuthority, admin);
      for (const s of [b.admin.signer, b.authority.signer]) q = await addSignature(q, s);
      if (!isComplete(q)) throw new StepError("gov.addAuthority is not fully signed");
      const addAuth = await commit(q);
      report.tx(
        `gov.addAuthority ${CARRIER_B}/ signed by both carriers + the authority:`,
        addAuth.txId,
      );
      carrierB = b;
      return `2 proposals applied; ${CARRIER_B} is a carrier with an authority for ${CARRIER_B}/`;
    },
  );

  // ---- 2. Device identity: a few hundred devices ----------------------------
  const carsN = 40;
  const chargersN = 10;
  const fixedN = 2 + carsN + chargersN + 4 + 1; // gateways, cars, chargers, logistics, monitor
  const camerasN = Math.max(20, options.devices - fixedN);
  const fleet: Fleet = {
    gateways: [],
    cars: Array.from(
      { length: carsN },
      (_, i) => party(`car-${pad(i + 1)}`, generateKeyPair("p256")),
    ),
    chargers: Array.from({ length: chargersN }, (_, i) => party(`charger-${pad(i + 1)}`)),
    cameras: Array.from({ length: camerasN }, (_, i) => party(`cam-${pad(i + 1)}`)),
    logistics: {
      producer: party("pharma-plant-basel"),
      courier: party("courier-van-7"),
      warehouse: party("hub-lyon"),
      pharmacy: party("pharmacy-12-marseille"),
    },
    glucoseMonitor: party("glucose-42", generateKeyPair("p256")),
    fleetOwner: party("fleet operator"),
    chargeOperator: party("charge-point operator"),
    patient: party("patient 42"),
  };
  let registered = false;
  await useCase(
    "identity",
    `Device identity — ${fixedN + camerasN} devices registered (authority + device key each)`,
    ["identity.register"],
    async () => {
      const nsA = `demo/${day}`;
      const regs: { name: string; device: Party; by: Signer; model: string; owner?: string }[] = [];
      const gwA = party(`${orgA.id} gateway gw-01`);
      regs.push({ name: `${nsA}/gateways/gw-01`, device: gwA, by: authority, model: "GW-5G" });
      fleet.gateways.push(gwA);
      if (carrierB !== undefined) {
        const gwB = party(`${CARRIER_B} gateway gw-01`);
        regs.push({
          name: `${CARRIER_B}/${day}/gateways/gw-01`,
          device: gwB,
          by: carrierB.authority.signer,
          model: "GW-5G",
        });
        fleet.gateways.push(gwB);
      }
      const add = (group: string, ps: Party[], model: string, owner?: Party) => {
        for (const p of ps) {
          regs.push({
            name: `${nsA}/${group}/${p.name}`,
            device: p,
            by: authority,
            model,
            owner: owner?.signer.did,
          });
        }
      };
      add("cars", fleet.cars, "EV-SIM-P256", fleet.fleetOwner);
      add("chargers", fleet.chargers, "DC-150", fleet.chargeOperator);
      add("cameras", fleet.cameras, "CAM-4K");
      add("logistics", Object.values(fleet.logistics), "HANDHELD-2");
      add("health", [fleet.glucoseMonitor], "CGM-3", fleet.patient);
      const t0 = performance.now();
      const envs = await Promise.all(regs.map((r, i) =>
        registerDevice({
          ...tx,
          name: r.name,
          attributes: {
            model: r.model,
            imeiHash: sha256Hex(utf8Encode(`imei:${run}:${i}`)),
            ...(r.owner ? { owner: r.owner } : {}),
          },
          authority: r.by,
          device: r.device.signer,
        })
      ));
      const signedMs = performance.now() - t0;
      const t1 = performance.now();
      const receipts = await commitMany(envs);
      const commitMs = performance.now() - t1;
      const heights = receipts.map((r) => r.height ?? 0);
      report.line(
        `signed ${envs.length} registrations (${envs.length * 2} signatures) in ${ms(signedMs)}`,
      );
      report.line(
        `submitted in ${Math.ceil(envs.length / 1000)} batched call(s): all committed in ${
          ms(commitMs)
        } (${Math.round(envs.length / (commitMs / 1000))} tx/s), blocks ${Math.min(...heights)}–${
          Math.max(...heights)
        }`,
      );
      report.line(
        `${fleet.gateways.length} gateways, ${carsN} cars (P-256 SIM keys), ${chargersN} chargers, ` +
          `${camerasN} cameras, 4 logistics handhelds, 1 glucose monitor`,
      );
      const sample = fleet.cameras[16];
      const view =
        (await client.request(getDevice, { params: { did: sample.signer.did }, query: {} })).body;
      report.line(`resolve ${shortDid(sample.signer.did)} → ${view.did} (${view.status})`);
      report.tx(`registration of ${view.name}:`, view.registered.txId);
      registered = true;
      return `${receipts.length} devices registered and active`;
    },
  );
  const needsDevices = registered ? undefined : "needs the devices of step 2";

  // ---- 3. Telemetry: vehicles anchor a minute each, one reading proven ----
  let lightTxId: string | undefined;
  await useCase(
    "telemetry",
    "Telemetry — vehicles anchor a minute of readings each; one reading proven",
    ["data.anchor"],
    async () => {
      const vehicles = fleet.cars.slice(0, 8);
      const minuteStart = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
      const batches = vehicles.map((car, v) => {
        const readings = Array.from({ length: 60 }, (_, s) => ({
          t: minuteStart + s * 1000,
          kmh: 40 + ((v * 7 + s * 3) % 50),
          soc: 80 - v,
          lat: 48_856_600 + v * 1000 + s * 12,
          lon: 2_352_200 + v * 1000 + s * 9,
        }));
        return { car, readings, batch: buildBatch(readings) };
      });
      const envs = await Promise.all(batches.map(({ car, batch }) =>
        signEnvelope(
          createEnvelope({
            ...tx,
            kind: "data.anchor",
            body: anchorBody(batch, {
              stream: `${day}/${car.name}/telemetry`,
              seq: 0,
              from: minuteStart,
              to: minuteStart + 59_000,
            }),
            signers: [car.signer.did],
          }),
          [car.signer],
        )
      ));
      const receipts = await commitMany(envs);
      report.line(
        `${receipts.length} anchors × 60 readings = ${receipts.length * 60} readings, ` +
          `${receipts.length} signatures (one per vehicle-minute), nothing but roots on the ledger`,
      );
      const { car, readings, batch } = batches[0];
      const stream = `${day}/${car.name}/telemetry`;
      const proof = readingProof(batch, 17);
      const anchor = envs[0].body as { root: string; count: number };
      const local = verifyReading(readings[17], proof, anchor);
      const tampered = verifyReading(
        { ...readings[17], kmh: 199 },
        proof,
        anchor,
      );
      const site = (await client.request(verifyStreamReading, {
        params: { stream },
        query: {},
        body: { seq: 0, reading: { json: readings[17] }, proof },
      })).body;
      const info = (await client.request(getStream, { params: { stream }, query: {} })).body;
      report.line(
        `reading 17 of ${stream}: ${proof.path.length}-hash proof → SDK verifyReading ${local}, ` +
          `site verify-reading ${site.valid}; a tampered copy → ${tampered}`,
      );
      report.line(`stream owner ${shortDid(info.owner)} (${car.name}), last seq ${info.lastSeq}`);
      report.tx(`anchor of ${stream} seq 0:`, receipts[0].txId);
      if (!local || !site.valid || tampered) throw new StepError("the reading proof did not check");
      lightTxId = receipts[0].txId;
      return `${receipts.length} vehicle-minutes anchored; reading 17 proven against its anchor`;
    },
    needsDevices,
  );

  // ---- 4. Custody: a shipment across four parties --------------------------
  await useCase(
    "custody",
    "Custody — a medicine shipment handed off across four parties",
    ["custody.create", "custody.handoff", "data.anchor"],
    async () => {
      const { producer, courier, warehouse, pharmacy } = fleet.logistics;
      const item = `shipment-${run}-0042`;
      const created = await commit(
        await createItem(
          {
            item,
            description: "Insulin, 40 boxes, 2–8 °C",
            attributes: { gtin: "07612345000428", lot: `L${run}` },
          },
          producer.signer,
          tx,
        ),
      );
      report.tx(`custody.create by ${producer.name}:`, created.txId);
      // The courier van's fridge logs its temperature during the drive.
      const temps = Array.from({ length: 30 }, (_, i) => ({ t: Date.now() - 30_000 + i * 1000 }))
        .map((r, i) => ({ ...r, celsius10: 41 + (i % 7) }));
      const tempBatch = buildBatch(temps);
      const tempStream = `${day}/${courier.name}/fridge-temp`;
      const tempAnchor = await commit(
        await signEnvelope(
          createEnvelope({
            ...tx,
            kind: "data.anchor",
            body: anchorBody(tempBatch, {
              stream: tempStream,
              seq: 0,
              from: temps[0].t,
              to: temps[29].t,
            }),
            signers: [courier.signer.did],
          }),
          [courier.signer],
        ),
      );
      report.line(`${courier.name} anchors 30 fridge readings: tx ${short(tempAnchor.txId)}`);
      const legs: [Party, Party, string, boolean][] = [
        [producer, courier, "Basel plant dock 3", false],
        [courier, warehouse, "Lyon cold hub", true],
        [warehouse, pharmacy, "Marseille, pharmacy 12", false],
      ];
      let step = 1;
      for (const [from, to, location, withAnchor] of legs) {
        const unsigned = handoffTx({
          item,
          step,
          from: from.signer.did,
          to: to.signer.did,
          location,
          ...(withAnchor ? { anchors: [{ stream: tempStream, seq: 0 }] } : {}),
        }, tx);
        const partial = await signHandoff(unsigned, from.signer); // on the giver's device
        const env = await signHandoff(partial, to.signer); // the taker checks, co-signs, submits
        const r = await commit(env as Envelope);
        report.tx(
          `hand-off ${step}: ${from.name} → ${to.name} (${location}${
            withAnchor ? ", + fridge anchor" : ""
          }), co-signed:`,
          r.txId,
        );
        step++;
      }
      // A courier alone cannot fake a delivery signature.
      const forged = await signEnvelope(
        createEnvelope({
          ...tx,
          kind: "custody.handoff",
          body: { item, step, from: pharmacy.signer.did, to: courier.signer.did },
          signers: [courier.signer.did],
        }),
        [courier.signer],
      );
      const refusal = await refused(forged, "unauthorized_signer");
      report.line(`a hand-off signed by the courier alone → refused (${refusal.slug})`);
      const history = (await client.request(getCustodyHistory, {
        params: { item },
        query: { proofs: "true" },
      })).body;
      const proven = history.steps.filter((s) => s.proof !== undefined).length;
      report.line(
        `provenance of ${item}: ${history.steps.length} steps, held by ${
          history.item.holder ===
              pharmacy.signer.did
            ? pharmacy.name
            : shortDid(history.item.holder)
        }; ${proven} with an inline inclusion proof`,
      );
      if (history.item.holder !== pharmacy.signer.did || history.steps.length !== 4) {
        throw new StepError("the shipment did not reach the pharmacy in 4 steps");
      }
      return `3 co-signed hand-offs applied, a forged one refused, 4-step provenance served`;
    },
    needsDevices,
  );

  // ---- 5. A hijacked camera: flagged, quarantined, refused ------------------
  await useCase(
    "quarantine",
    "Hijacked camera — flagged by gateways of distinct carriers, quarantined, refused",
    ["identity.flag", "data.anchor"],
    async () => {
      const camera = fleet.cameras[16];
      const name = `demo/${day}/cameras/${camera.name}`;
      const motion = `${day}/${camera.name}/motion`;
      const anchorTx = (seq: number) =>
        signEnvelope(
          createEnvelope({
            ...tx,
            kind: "data.anchor",
            body: anchorBody(buildBatch([{ seq, motion: true }]), {
              stream: motion,
              seq,
              from: Date.now() - 1000,
              to: Date.now(),
            }),
            signers: [camera.signer.did],
          }),
          [camera.signer],
        );
      const before = await commit(await anchorTx(0));
      report.line(`${camera.name} anchors motion events as usual: tx ${short(before.txId)}`);
      const gov = (await client.request(getGov, { query: {} })).body;
      const threshold = Math.min(
        gov.policy?.quarantineOrgsMin ?? 2,
        gov.organisations.length,
      );
      report.line(`policy: reports from ${threshold} distinct organisation(s) quarantine a device`);
      let status = "active";
      let flaggedAt = 0;
      for (const gw of fleet.gateways) {
        const r = await commit(
          await flagDevice({
            ...tx,
            device: name,
            key: camera.signer.did,
            reporter: gw.signer,
            reason: "Beaconing to a known C2 host at 03:12",
          }),
        );
        status = (await client.request(getDevice, {
          params: { did: camera.signer.did },
          query: {},
        })).body.status;
        report.tx(`identity.flag by ${gw.name} → ${camera.name} is ${status}:`, r.txId);
        flaggedAt = r.height ?? flaggedAt;
        if (status === "quarantined") break;
      }
      if (status !== "quarantined") throw new StepError(`${camera.name} is still ${status}`);
      const next = await anchorTx(1);
      const sites = options.urls.length > 1
        ? options.urls
        : (await client.sites()).map((s) => s.url);
      const refusals: string[] = [];
      for (const url of sites) {
        const one = new EdgeLedgerClient({ urls: [url], retry: { attemptsMax: 1 } });
        // Each site admits against its own replica: ask once it has applied the quarantine.
        await appliedThrough(one, flaggedAt);
        const e = await refused(next, "revoked_signer", one);
        refusals.push(`${new URL(url).port}: ${e.slug}`);
      }
      txs -= sites.length - 1; // the same transaction, offered to each site
      report.line(
        `its next transaction is refused at admission on every site (${refusals.join(", ")})`,
      );
      const reporters = fleet.gateways.length > 1 ? "two carriers' gateways" : "one gateway";
      return `${camera.name} quarantined on reports by ${reporters}; refused on ${sites.length} site(s)`;
    },
    needsDevices,
  );

  // ---- 6. Micropayments: cars pay chargers ----------------------------------
  await useCase(
    "payments",
    "Micropayments — cars pay charging posts",
    ["asset.create", "asset.mint", "asset.transfer"],
    async () => {
      const asset = `kwh-${run}`;
      const issuer = fleet.chargeOperator;
      const created = await commit(
        await createAsset({ asset, name: "Charging credit (Wh)", decimals: 0 }, issuer.signer, tx),
      );
      report.tx(`asset.create ${asset} by the ${issuer.name}:`, created.txId);
      const topUp = "20000";
      const mints = await commitMany(
        await Promise.all(
          fleet.cars.map((car) =>
            mintAsset({ asset, to: car.signer.did, amount: topUp }, issuer.signer, tx)
          ),
        ),
      );
      report.line(`minted ${topUp} Wh to each of ${mints.length} cars (one batch)`);
      const amounts = fleet.cars.map((_, i) => 900 + 37 * i);
      const t0 = performance.now();
      const pays = await commitMany(
        await Promise.all(fleet.cars.map((car, i) =>
          payTransfer({
            ...tx,
            asset,
            to: fleet.chargers[i % fleet.chargers.length].signer.did,
            amount: String(amounts[i]),
            signer: car.signer,
            ref: `session-${pad(i + 1)}`,
          })
        )),
      );
      const total = amounts.reduce((a, b) => a + b, 0);
      report.line(
        `${pays.length} payments (one signed transfer each, P-256) committed in ${
          ms(performance.now() - t0)
        }: ${total} Wh in all`,
      );
      report.tx(`payment car-001 → charger-001:`, pays[0].txId);
      let received = 0;
      for (const charger of fleet.chargers) {
        const b = (await client.request(getAssetBalance, {
          params: { asset, account: charger.signer.did },
          query: {},
        })).body;
        received += Number(b.balance);
      }
      const car1 = (await client.request(getAssetBalance, {
        params: { asset, account: fleet.cars[0].signer.did },
        query: {},
      })).body.balance;
      report.line(
        `chargers hold ${received} Wh; car-001 has ${car1} Wh left (${topUp} − ${amounts[0]})`,
      );
      const overdraft = await commitRejected(
        await payTransfer({
          ...tx,
          asset,
          to: fleet.chargers[0].signer.did,
          amount: "1000000",
          signer: fleet.cars[1].signer,
        }),
        "asset_insufficient_funds",
      );
      report.line(
        `car-002 tries to pay 1000000 Wh → committed as rejected (asset_insufficient_funds), tx ${
          short(overdraft.txId!)
        }`,
      );
      if (received !== total || Number(car1) !== 20000 - amounts[0]) {
        throw new StepError("balances do not add up");
      }
      return `${pays.length} car→charger payments, balances add up, an overdraft rejected`;
    },
    needsDevices,
  );

  // ---- 7. Access: a patient grants and revokes a clinic's access ------------
  await useCase(
    "access",
    "Access — a patient grants a clinic access to a glucose stream, then revokes it",
    ["access.grant", "access.revoke", "data.anchor"],
    async () => {
      const { patient } = fleet;
      const clinic = party("Clinique du Parc");
      const stream = `${day}/patient-42/glucose`;
      const readings = Array.from({ length: 12 }, (_, i) => ({
        t: Date.now() - (12 - i) * 300_000,
        mgdl: 95 + ((i * 13) % 40),
      }));
      const first = await commit(
        await signEnvelope(
          createEnvelope({
            ...tx,
            kind: "data.anchor",
            body: anchorBody(buildBatch(readings), {
              stream,
              seq: 0,
              from: readings[0].t,
              to: readings[11].t,
            }),
            signers: [patient.signer.did],
          }),
          [patient.signer],
        ),
      );
      report.line(
        `the patient's phone anchors an hour of glucose readings: tx ${short(first.txId)}`,
      );
      const now = Date.now();
      const grant = await commit(
        await grantAccess(
          {
            stream,
            reader: clinic.signer.did,
            purpose: "Diabetes follow-up",
            from: now,
            until: now + 30 * 86_400_000,
          },
          patient.signer,
          tx,
        ),
      );
      report.tx(`access.grant to ${clinic.name} for 30 days:`, grant.txId);
      const check = async () =>
        (await client.request(checkStreamAccess, {
          params: { stream },
          query: { reader: clinic.signer.did, at: Date.now() },
        })).body.allowed;
      const during = await check();
      const revoke = await commit(
        await revokeAccess(
          {
            stream,
            reader: clinic.signer.did,
            grant: grant.txId,
            reason: "Changed clinic",
          },
          patient.signer,
          tx,
        ),
      );
      report.tx(`access.revoke by the patient:`, revoke.txId);
      const after = await check();
      report.line(`clinic may read now? before revoke: ${during}; after: ${after}`);
      if (!during || after) throw new StepError("the access checks did not follow the grant");
      return "consent granted and revoked; access checks follow it";
    },
    needsDevices,
  );

  // ---- 8. Roaming: a period settled between the two carriers ----------------
  await useCase(
    "roaming",
    `Roaming — ${orgA.id} and ${CARRIER_B} settle an hour of roaming`,
    ["roaming.open", "roaming.record", "roaming.dispute", "roaming.close", "roaming.sign"],
    async () => {
      const b = carrierB!;
      const period = `${orgA.id}-${CARRIER_B}-${run}`;
      // The last full hour on a new ledger; on one an earlier run used, the hour before the
      // earliest period it settled (one pair's periods may not overlap). A period the kept file
      // does not know of (it was removed) is stepped past: its rejection names its start.
      const keptPath = `${options.dataDir}/${DEMO_ROAMING_FILE}`;
      const kept = JSON.parse(await Deno.readTextFile(keptPath).catch(() => "{}")) as {
        earliestFrom?: number;
      };
      let until = Math.min(
        Math.floor(Date.now() / HOUR_MS) * HOUR_MS,
        kept.earliestFrom ?? Number.MAX_SAFE_INTEGER,
      );
      let opened: Receipt & { txId: string } | undefined;
      for (let tries = 0; opened === undefined; tries++) {
        const unsignedOpen = createEnvelope({
          ...tx,
          kind: "roaming.open",
          body: {
            period,
            carriers: [
              { org: orgA.id, tariff: { voiceMinute: "9", dataMb: "2", sms: "3" } },
              { org: b.org, tariff: { voiceMinute: "11", dataMb: "2", sms: "4" } },
            ],
            from: until - HOUR_MS,
            until,
            currency: "EUR",
          },
          signers: [admin.did, b.admin.signer.did],
        });
        let open = await addSignature(unsignedOpen, admin);
        open = await addSignature(open, b.admin.signer);
        if (!isComplete(open)) throw new StepError("roaming.open is not fully signed");
        txs++;
        const r = await client.submit(open, { wait: "commit", waitTimeoutMs: COMMIT_WAIT_MS_MAX });
        const receipt = r.status === "committed" ? r : await client.waitForCommit(r.txId!);
        const clash = receipt.result?.code === "roaming_period_overlap"
          ? /overlaps period "[^"]*" \[(\d+), \d+\)/.exec(receipt.result.detail ?? "")
          : null;
        if (receipt.result?.status === "applied") {
          opened = receipt as Receipt & { txId: string };
        } else if (clash !== null && tries + 1 < ROAMING_PERIOD_TRIES_MAX) {
          until = Math.min(until - HOUR_MS, Number(clash[1]));
        } else {
          throw new StepError(
            `roaming.open ${short(receipt.txId ?? "?")} was ${receipt.result?.status}: ` +
              `${receipt.result?.code ?? ""} ${receipt.result?.detail ?? ""}`,
          );
        }
      }
      const from = until - HOUR_MS;
      await Deno.writeTextFile(keptPath, JSON.stringify({ earliestFrom: from }));
      report.tx(
        `roaming.open ${period} [${iso(from)}, ${iso(until)}) signed by both:`,
        opened.txId,
      );
      // Usage records: orgA serves nordtel subscribers in Paris (signed by its site key),
      // nordtel serves orgA subscribers in Stockholm (signed by its admin).
      const visitedA = siteKey ?? admin;
      const imsi = (who: string, i: number) => sha256Hex(utf8Encode(`imsi:${run}:${who}:${i}`));
      const records: Parameters<typeof submitUsage>[0][] = [];
      for (let i = 0; i < 12; i++) {
        records.push({
          period,
          record: `tap-a-${pad(i + 1)}`,
          visited: orgA.id,
          imsiHash: imsi("b", i),
          country: "FR",
          lat: 48_856_600 + i * 500,
          lon: 2_352_200 + i * 500,
          from: from + i * 120_000,
          to: from + i * 120_000 + 1_800_000,
          voiceMinutes: 3 + i,
          dataMb: 40 + 11 * i,
          sms: i % 3,
        });
      }
      for (let i = 0; i < 8; i++) {
        records.push({
          period,
          record: `tap-b-${pad(i + 1)}`,
          visited: b.org,
          imsiHash: imsi("a", i),
          country: "SE",
          lat: 59_329_300 + i * 500,
          lon: 18_068_600 + i * 500,
          from: from + i * 180_000,
          to: from + i * 180_000 + 900_000,
          voiceMinutes: 2 + i,
          dataMb: 120 + 7 * i,
          sms: 1,
        });
      }
      // Nordtel subscriber b:0 seen in Madrid 10 minutes after Paris: impossible travel.
      records.push({
        period,
        record: `tap-a-suspect`,
        visited: orgA.id,
        imsiHash: imsi("b", 0),
        country: "ES",
        lat: 40_416_800,
        lon: -3_703_800,
        from: from + 2_400_000,
        to: from + 2_700_000,
        voiceMinutes: 4,
        dataMb: 150,
        sms: 2,
      });
      const signed = await Promise.all(
        records.map((r) => submitUsage(r, r.visited === orgA.id ? visitedA : b.admin.signer, tx)),
      );
      const recorded = await commitMany(signed);
      report.line(
        `${recorded.length} usage records: 13 by ${orgA.id} (${
          siteKey ? `site key of ${siteA.name}` : "admin"
        }), 8 by ${b.org}`,
      );
      const dup = await commitRejected(
        await submitUsage({ ...records[0], dataMb: 4000 }, visitedA, tx),
        "roaming_duplicate_record",
      );
      report.line(
        `tap-a-001 sent again → rejected (roaming_duplicate_record), tx ${short(dup.txId!)}`,
      );
      const flags = (await client.request(listRoamingFlags, {
        params: { period },
        query: {},
      })).body;
      const flagged = flags.flags;
      for (const f of flagged) report.line(`fraud signal: ${f.record} → ${f.flags.join(", ")}`);
      const disputed = await commit(
        await signedBy(
          createEnvelope({
            ...tx,
            kind: "roaming.dispute",
            body: {
              period,
              record: "tap-a-suspect",
              reason: "fraud_suspected",
              detail: "Paris then Madrid 10 minutes later",
            },
            signers: [b.admin.signer.did],
          }),
          [b.admin.signer],
        ),
      );
      report.tx(`${b.org} disputes tap-a-suspect:`, disputed.txId);
      const closed = await commit(
        await signedBy(
          createEnvelope({ ...tx, kind: "roaming.close", body: { period }, signers: [admin.did] }),
          [admin],
        ),
      );
      report.tx(`roaming.close by ${orgA.id}:`, closed.txId);
      const st = (await client.request(getRoamingStatement, { params: { period }, query: {} }))
        .body;
      const recomputed = roamingStatementHash(st.statement);
      report.line(
        `statement ${short(st.statementHash)}: recomputed with the SDK → ${
          recomputed === st.statementHash ? "same hash" : "MISMATCH"
        }`,
      );
      for (const l of st.statement.lines) {
        report.line(
          `  ${l.home} owes ${l.visited}: ${l.records} records, ${l.voiceMinutes} min, ${l.dataMb} MB, ` +
            `${l.sms} SMS = ${l.total} ${st.statement.currency} minor units (${l.disputedRecords} disputed, ${l.flaggedRecords} flagged)`,
        );
      }
      const net = st.statement.net;
      report.line(
        `  net: ${net.from} pays ${net.to} ${net.amount} ${st.statement.currency} minor units`,
      );
      if (recomputed !== st.statementHash) throw new StepError("the statement hash differs");
      const signA = await commit(await signStatement(period, recomputed, [admin], tx));
      report.tx(`roaming.sign by ${orgA.id}:`, signA.txId);
      const signB = await commit(await signStatement(period, recomputed, [b.admin.signer], tx));
      report.tx(`roaming.sign by ${b.org}:`, signB.txId);
      const final = (await client.request(getRoamingPeriod, { params: { period }, query: {} }))
        .body;
      report.line(`period ${period} is ${final.status}`);
      if (final.status !== "final") throw new StepError(`the period is ${final.status}`);
      if (flagged.length === 0) throw new StepError("no fraud signal was raised");
      lightTxId ??= signB.txId;
      return `${recorded.length} records, ${flagged.length} flagged, 1 disputed, 1 duplicate ` +
        `rejected; statement signed by both carriers (final)`;
    },
    carrierB === undefined ? "needs a second carrier (step 1)" : undefined,
  );

  // ---- Finally: a light client verifies one receipt -------------------------
  report.section("Light client — one receipt checked against the co-signed checkpoint");
  let verdict: Verdict | undefined;
  const lastOk = lightTxId;
  if (lastOk === undefined) {
    report.line("✗ no receipt to verify (no use case committed one)");
  } else {
    const pinned = trustConfigFromGenesis(genesis);
    report.line(
      `trusting ${pinned.trustedKeys.length} site keys from genesis (not from the sites), quorum ${pinned.quorum}, origin ${pinned.origin}`,
    );
    // A site that rotated its key signs new checkpoints with its new one: the
    // trust moves to it only through rotations signed by the key genesis names.
    let trust = pinned;
    try {
      const followed = await followKeyRotations(
        pinned,
        await client.sites(),
        (name) => client.siteKeys(name),
        // Checking a receipt now: a rotation moments old is followed at once.
        { awaitRetirements: false },
      );
      for (const r of followed.rotated) {
        const kept = r.retired.map((k) => k.untilHeight);
        report.line(
          `followed ${r.name}'s key rotations (signed by the key it had): now ${short(r.to)}` +
            (kept.length > 0
              ? `; its old key still counts for checkpoints up to block ${kept.join(", ")}`
              : ""),
        );
      }
      for (const name of followed.unreachable) {
        report.line(
          `✗ ${name}'s key changed with no rotation signed by the key genesis names: kept`,
        );
      }
      trust = followed.trust;
    } catch (e) {
      report.line(
        `✗ cannot read the sites' key rotations (${(e as Error).message}): genesis's keys`,
      );
    }
    const light = new LightClient({ source: client, ...trust });
    const deadline = Date.now() + CHECKPOINT_WAIT_MS_MAX;
    for (;;) {
      verdict = await light.verify(lastOk);
      if (verdict.ok || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 300)); // the checkpoint may not cover it yet
    }
    report.line(`tx ${short(lastOk)}: ${verdict.ok ? "✓ VERIFIED" : `✗ ${verdict.reason}`}`);
    report.line(verdict.message);
    if (verdict.checkpoint) {
      report.line(
        `checkpoint: tree size ${verdict.checkpoint.size}, signed by ${
          verdict.checkpoint.signers.join(", ")
        }${verdict.blockVerified ? "; block hash chain verified" : ""}`,
      );
    }
    report.line(`    ${report.apiLink(lastOk)}/proof`);
    report.line(`    ${report.explorerLink(lastOk)}`);
  }

  const elapsed = performance.now() - started;
  report.plain("");
  report.plain("Summary");
  for (const u of useCases) {
    const mark = u.status === "ok" ? "✓" : u.status === "skipped" ? "-" : "✗";
    report.plain(
      `  ${mark} ${u.id.padEnd(11)} ${u.status.padEnd(8)} ${String(u.txs).padStart(4)} txs ${
        ms(u.ms).padStart(8)
      }${u.status === "ok" ? "" : "  " + u.detail}`,
    );
  }
  const ok = useCases.every((u) => u.status !== "failed") && verdict?.ok === true;
  report.plain(
    `  ${ok ? "✓" : "✗"} ${txs} transactions in ${ms(elapsed)}; light-client verdict: ${
      verdict ? (verdict.ok ? "verified" : verdict.reason) : "none"
    }`,
  );
  return {
    ok,
    useCases,
    verdict: verdict && {
      ok: verdict.ok,
      reason: verdict.reason,
      message: verdict.message,
      txId: verdict.txId,
      logIndex: verdict.logIndex,
      height: verdict.height,
    },
    txs,
    ms: elapsed,
  };
}

/** Waits (at most {@link COMMIT_WAIT_MS_MAX}) until the client's site has applied block `height`. */
async function appliedThrough(client: EdgeLedgerClient, height: number): Promise<void> {
  const deadline = Date.now() + COMMIT_WAIT_MS_MAX;
  while ((await client.status()).height < height) {
    if (Date.now() > deadline) {
      throw new StepError(`the site did not apply block ${height} within ${COMMIT_WAIT_MS_MAX} ms`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function signedBy(env: UnsignedEnvelope, signers: Signer[]): Promise<Envelope> {
  return await signEnvelope(env, signers);
}

function pad(n: number): string {
  return String(n).padStart(3, "0");
}

function iso(t: number): string {
  return new Date(t).toISOString().slice(11, 16) + "Z";
}
