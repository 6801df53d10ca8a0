/**
 * The SDK's contract namespaces (`client.gov`, `client.identity`, ...)
 * against a real in-process site served over HTTP on 127.0.0.1: each group's
 * methods answer the state the transactions of that group left, submitted
 * through the same client; paths with `/`, spaces, `%` and `:` reach the
 * right record; unknown records are `NotFoundError`s and malformed
 * parameters `ValidationError`s.
 *
 * The consortium: carriers `orga` (admin `adminA`, runs `site-a`, the site
 * under test, and the device authority for `demo/`) and `orgb` (admin
 * `adminB`). Every kind these tests submit is open to any did:key.
 */
import assert from "node:assert/strict";
import {
  EdgeLedgerClient,
  NotFoundError,
  RejectedError,
  ValidationError,
} from "../sdk/client/mod.ts";
import { parseCheckpoint } from "../sdk/checkpoint.ts";
import { base64urlDecode, base64urlEncode, hexDecode } from "../sdk/encoding.ts";
import { type Envelope, transactionId } from "../sdk/envelope.ts";
import { generateKeyPair, type KeyPair, softwareSigner } from "../sdk/keys.ts";
import { payTransfer } from "../sdk/kinds/asset.ts";
import { handoffTx, signHandoff } from "../sdk/kinds/custody.ts";
import { deviceDid, registerDevice, revokeDevice } from "../sdk/kinds/identity.ts";
import { anchorBody, buildBatch, readingProof } from "../sdk/kinds/readings.ts";
import { roamingStatementHash, signStatement, submitUsage } from "../sdk/kinds/roaming.ts";
import { leafHash, verifyInclusion } from "../sdk/merkle.ts";
import { parseNote } from "../sdk/note.ts";
import type { GenesisConfig } from "../src/chain/genesis.ts";
import { openTestSite } from "./_helpers.ts";
import { OPEN_KINDS, tx } from "./_kinds_helpers.ts";

const LEDGER = "demo";
const HOUR = 3600_000;
const k = () => generateKeyPair("ed25519");
const siteKey = k();
const adminA = k();
const adminB = k();
const authority = k();

const GENESIS: GenesisConfig = {
  v: 1,
  ledger: LEDGER,
  origin: "edgeledger.test/sdk-contracts",
  time: 1_700_000_000_000,
  organisations: [
    { id: "orga", name: "Carrier A", admins: [adminA.did] },
    { id: "orgb", name: "Carrier B", admins: [adminB.did] },
  ],
  sites: [{
    name: "site-a",
    org: "orga",
    publicKey: base64urlEncode(siteKey.publicKey),
    url: "http://127.0.0.1:1",
  }],
  policies: { expiryWindowMs: 24 * HOUR, openKinds: OPEN_KINDS, quarantineOrgsMin: 2 },
  authorities: [{ did: authority.did, org: "orga", name: "A devices", namespaces: ["demo/"] }],
};

/**
 * Runs `fn` with a client of a fresh site that listens on a loopback port,
 * and a `commit` that submits through that client and asserts the
 * transaction applied.
 */
async function withSite(
  fn: (client: EdgeLedgerClient, commit: (env: Envelope) => Promise<void>) => Promise<void>,
) {
  const t = await openTestSite({ key: siteKey, genesis: GENESIS });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => t.app.fetch(req),
  );
  try {
    const client = new EdgeLedgerClient({
      urls: `http://127.0.0.1:${server.addr.port}`,
      retry: { attemptsMax: 2, delayMsBase: 10, delayMsMax: 20 },
    });
    const commit = async (env: Envelope) => {
      const receipt = await client.submit(env, { wait: "commit" });
      assert.equal(receipt.status, "committed");
      assert.equal(receipt.result?.status, "applied", JSON.stringify(receipt.result));
    };
    await fn(client, commit);
  } finally {
    await server.shutdown();
    await t.cleanup();
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

Deno.test("sdk contracts: gov.consortium() answers the genesis organisations, authority, policy and majority", async () => {
  await withSite(async (client) => {
    const g = await client.gov.consortium({ consistency: "linearizable" });
    assert.deepEqual(g.organisations.map((o) => o.id), ["orga", "orgb"]);
    assert.deepEqual(g.organisations[0].admins, [adminA.did]);
    assert.deepEqual(g.sites.map((s) => s.name), ["site-a"]);
    assert.deepEqual(g.authorities.map((a) => [a.did, a.namespaces]), [[authority.did, ["demo/"]]]);
    assert.deepEqual(g.policy?.openKinds, OPEN_KINDS);
    assert.equal(g.majority, 2);
    // @ts-expect-error: not a consistency level; the site refuses it.
    const bad = await client.gov.consortium({ consistency: "eventually" }).catch((e) => e);
    assert.ok(bad instanceof ValidationError, String(bad));
  });
});

Deno.test("sdk contracts: identity finds a registered device by DID and by did:key, pages devices, and refuses unknown or malformed DIDs", async () => {
  await withSite(async (client, commit) => {
    const keys: KeyPair[] = [k(), k(), k()];
    const names = ["demo/cams/cam-1", "demo/cams/cam-2", "demo/gw/gw-1"];
    for (let i = 0; i < names.length; i++) {
      await commit(
        await registerDevice({
          ledger: LEDGER,
          name: names[i],
          attributes: { model: "CAM-4K" },
          authority: softwareSigner(authority),
          device: softwareSigner(keys[i]),
        }),
      );
    }
    const did = deviceDid(LEDGER, names[0]);
    const byDid = await client.identity.device(did);
    assert.equal(byDid.did, did);
    assert.equal(byDid.status, "active");
    assert.equal(byDid.key, keys[0].did);
    assert.equal(byDid.org, "orga");
    // A signer's did:key (':' in the path segment) leads to the device behind it.
    assert.deepEqual(await client.identity.device(keys[0].did, { consistency: "leader" }), byDid);

    const doc = await client.identity.didDocument(did);
    assert.equal(doc.id, did);
    assert.equal(
      doc.verificationMethod[0].publicKeyMultibase,
      keys[0].did.slice("did:key:".length),
    );
    assert.deepEqual(doc.authentication, [doc.verificationMethod[0].id]);

    const page = await client.identity.devicesPage({ prefix: "demo/cams/", limit: 1 });
    assert.deepEqual(page.devices.map((d) => d.name), ["demo/cams/cam-1"]);
    assert.notEqual(page.next, null);
    const cams = await collect(client.identity.devices({ prefix: "demo/cams/", pageSize: 1 }));
    assert.deepEqual(cams.map((d) => d.name), ["demo/cams/cam-1", "demo/cams/cam-2"]);
    const all = await collect(client.identity.devices({ pageSize: 2 }));
    assert.deepEqual(all.map((d) => d.name), names);

    // A revoked device's DID is deactivated: 410 device_revoked, not a 404.
    await commit(
      await revokeDevice({
        ledger: LEDGER,
        device: names[1],
        key: keys[1].did,
        by: softwareSigner(authority),
      }),
    );
    assert.equal((await client.identity.device(deviceDid(LEDGER, names[1]))).status, "revoked");
    const gone = await client.identity.didDocument(deviceDid(LEDGER, names[1])).catch((e) => e);
    assert.ok(gone instanceof RejectedError && !(gone instanceof NotFoundError), String(gone));
    assert.equal(gone.slug, "device_revoked");

    const unknown = await client.identity.device(deviceDid(LEDGER, "demo/cams/nope"))
      .catch((e) => e);
    assert.ok(unknown instanceof NotFoundError, String(unknown));
    assert.equal(unknown.slug, "not_found");
    assert.ok(unknown.requestId);
    const unknownKey = await client.identity.device(k().did).catch((e) => e);
    assert.ok(unknownKey instanceof NotFoundError, String(unknownKey));
    const malformed = await client.identity.device("did:web:example.com").catch((e) => e);
    assert.ok(malformed instanceof ValidationError, String(malformed));
    assert.ok(
      malformed.issues.some((i) => i.path.includes("did")),
      JSON.stringify(malformed.issues),
    );
  });
});

Deno.test("sdk contracts: asset reads the minted supply, each balance, and every holder across pages", async () => {
  await withSite(async (client, commit) => {
    const [issuer, car, charger, stranger] = [k(), k(), k(), k()];
    await commit(
      await tx("asset.create", { asset: "kwh", name: "Charging credit", decimals: 3 }, [issuer]),
    );
    await commit(await tx("asset.mint", { asset: "kwh", to: car.did, amount: "5000" }, [issuer]));
    await commit(
      await payTransfer({
        ledger: LEDGER,
        asset: "kwh",
        to: charger.did,
        amount: "1250",
        signer: softwareSigner(car),
      }),
    );
    const asset = await client.asset.get("kwh");
    assert.equal(asset.issuer, issuer.did);
    assert.equal(asset.supply, "5000");
    assert.equal(asset.decimals, 3);
    assert.equal((await client.asset.balance("kwh", car.did)).balance, "3750");
    assert.equal((await client.asset.balance("kwh", charger.did)).balance, "1250");
    assert.equal((await client.asset.balance("kwh", stranger.did)).balance, "0");

    const page = await client.asset.balancesPage("kwh", { limit: 1 });
    assert.equal(page.balances.length, 1);
    assert.notEqual(page.next, null);
    const holders = await collect(client.asset.balances("kwh", { pageSize: 1 }));
    assert.deepEqual(
      holders.map((b) => [b.account, b.balance]).sort(),
      [[car.did, "3750"], [charger.did, "1250"]].sort(),
    );

    assert.ok((await client.asset.get("nope").catch((e) => e)) instanceof NotFoundError);
    assert.ok(
      (await client.asset.balance("nope", car.did).catch((e) => e)) instanceof NotFoundError,
    );
    const badAccount = await client.asset.balance("kwh", "alice").catch((e) => e);
    assert.ok(badAccount instanceof ValidationError, String(badAccount));
    const badLimit = await client.asset.balancesPage("kwh", { limit: 5000 }).catch((e) => e);
    assert.ok(badLimit instanceof ValidationError, String(badLimit));
    assert.ok(
      badLimit.issues.some((i) => i.path === "query.limit"),
      JSON.stringify(badLimit.issues),
    );
  });
});

Deno.test("sdk contracts: custody reads an item's holder and its history step by step, each proof verifying against the checkpoint", async () => {
  await withSite(async (client, commit) => {
    const [producer, courier, truck] = [k(), k(), k()];
    const item = "shipment:0042"; // ':' travels percent-encoded
    await commit(await tx("custody.create", { item, description: "Insulin" }, [producer]));
    const unsigned = handoffTx(
      { item, step: 1, from: producer.did, to: courier.did, location: "Lyon" },
      { ledger: LEDGER },
    );
    const partial = await signHandoff(unsigned, softwareSigner(producer));
    await commit(await signHandoff(partial, softwareSigner(courier)) as Envelope);
    const anchor = await tx("data.anchor", {
      stream: "truck-9/temp",
      seq: 0,
      root: "11".repeat(32),
      count: 1,
      from: 0,
      to: 1,
    }, [truck]);
    await commit(anchor);
    await commit(
      await tx("custody.attach", {
        item,
        step: 2,
        anchors: [{ stream: "truck-9/temp", seq: 0 }],
      }, [courier]),
    );

    const found = await client.custody.item(item);
    assert.equal(found.producer, producer.did);
    assert.equal(found.holder, courier.did);
    assert.equal(found.steps, 3);

    const steps = await collect(client.custody.history(item, { pageSize: 1 }));
    assert.deepEqual(steps.map((s) => s.type), ["create", "handoff", "attach"]);
    assert.equal(steps[1].location, "Lyon");
    assert.equal(steps[2].anchors?.[0].txId, transactionId(anchor));

    const page = await client.custody.historyPage(item, { proofs: true });
    assert.equal(page.next, null);
    const cp = parseCheckpoint(parseNote(await client.checkpoint()).text);
    for (const s of page.steps) {
      assert.equal(s.proofUrl, `/v1/txs/${s.txId}/proof`);
      const proof = s.proof!;
      assert.ok(proof, `step ${s.step} carries its proof`);
      assert.ok(
        verifyInclusion(
          leafHash(base64urlDecode(proof.leaf)),
          proof.logIndex,
          proof.treeSize,
          proof.proof.map(hexDecode),
          cp.rootHash,
        ),
        `step ${s.step} verifies against the checkpoint`,
      );
    }

    assert.ok((await client.custody.item("nope").catch((e) => e)) instanceof NotFoundError);
    const badItem = await client.custody.historyPage("bad item!").catch((e) => e);
    assert.ok(badItem instanceof ValidationError, String(badItem));
  });
});

Deno.test("sdk contracts: access lists a stream's and a reader's grants and checks access at a time, for a stream name with '/' and spaces", async () => {
  await withSite(async (client, commit) => {
    const [patient, clinic, insurer] = [k(), k(), k()];
    const stream = "patient 42/glucose";
    const now = Date.now();
    await commit(
      await tx("data.anchor", { stream, seq: 0, root: "22".repeat(32), count: 1, from: 0, to: 1 }, [
        patient,
      ]),
    );
    for (const reader of [clinic, insurer]) {
      await commit(
        await tx("access.grant", {
          stream,
          reader: reader.did,
          purpose: reader === clinic ? "Follow-up" : "Claims",
          from: now,
          until: now + 2 * HOUR,
        }, [patient]),
      );
    }
    const all = await collect(client.access.streamGrants(stream, { pageSize: 1 }));
    assert.deepEqual(
      all.map((g) => g.reader).sort(),
      [clinic.did, insurer.did].sort(),
    );
    assert.ok(all.every((g) => g.stream === stream && g.owner === patient.did));
    const page = await client.access.streamGrantsPage(stream, { reader: clinic.did });
    assert.deepEqual(page.grants.map((g) => g.purpose), ["Follow-up"]);
    assert.equal(page.next, null);

    const byReader = await collect(client.access.readerGrants(clinic.did));
    assert.deepEqual(byReader.map((g) => g.stream), [stream]);
    assert.equal((await client.access.readerGrantsPage(insurer.did)).grants[0].purpose, "Claims");

    const inside = await client.access.check(stream, clinic.did, now + HOUR);
    assert.equal(inside.allowed, true);
    assert.equal(inside.stream, stream);
    assert.equal(inside.grants[0].purpose, "Follow-up");
    assert.equal((await client.access.check(stream, clinic.did, now + 3 * HOUR)).allowed, false);
    assert.equal((await client.access.check(stream, patient.did, now + HOUR)).allowed, false);

    const badReader = await client.access.check(stream, "clinic", now).catch((e) => e);
    assert.ok(badReader instanceof ValidationError, String(badReader));
  });
});

Deno.test("sdk contracts: data reads a stream, its anchors and gaps, and verifies a reading, for stream names with '/', spaces, '%', '?' and '#'", async () => {
  await withSite(async (client, commit) => {
    const device = k();
    const readings = Array.from({ length: 8 }, (_, i) => ({ t: i, celsius: 4 + i / 10 }));
    const batch = buildBatch(readings);
    for (const stream of ["truck-17/temp", "cab 9/gps ü", "100%/a?b#c"]) {
      // seqs 0, 1 and 4: 2 and 3 are missing.
      for (const seq of [0, 1, 4]) {
        await commit(
          await tx("data.anchor", anchorBody(batch, { stream, seq, from: seq, to: seq + 1 }), [
            device,
          ]),
        );
      }
      const s = await client.data.stream(stream);
      assert.equal(s.stream, stream);
      assert.equal(s.owner, device.did);
      assert.equal(s.lastSeq, 4);
      assert.equal(s.count, 3);

      const anchors = await collect(client.data.anchors(stream, { pageSize: 2 }));
      assert.deepEqual(anchors.map((a) => a.seq), [0, 1, 4], stream);
      assert.ok(anchors.every((a) => a.stream === stream && a.root === batch.root));
      const first = await client.data.anchorsPage(stream, { limit: 2 });
      assert.equal(first.next, "1");
      const rest = await client.data.anchorsPage(stream, { after: first.next! });
      assert.deepEqual(rest.anchors.map((a) => a.seq), [4]);

      const scan = await client.data.gaps(stream, { silenceMs: 1 });
      assert.deepEqual(scan.gaps, [{ from: 2, to: 3, missing: 2 }]);
      assert.equal(scan.lastSeq, 4);
      const pages = await collect(client.data.gapPages(stream, { limit: 2 }));
      assert.ok(pages.length >= 2, `${pages.length} pages`);
      assert.deepEqual(pages.flatMap((p) => p.gaps), [{ from: 2, to: 3, missing: 2 }]);

      const proof = readingProof(batch, 3);
      const ok = await client.data.verifyReading(stream, {
        seq: 1,
        reading: { json: readings[3] },
        proof,
      });
      assert.equal(ok.valid, true);
      assert.equal(ok.anchor.seq, 1);
      const wrong = await client.data.verifyReading(stream, {
        seq: 1,
        reading: { json: { ...readings[3], celsius: 99 } },
        proof,
      });
      assert.deepEqual([wrong.valid, wrong.reason], [false, "proof_mismatch"]);
      const missing = await client.data.verifyReading(stream, {
        seq: 2,
        reading: { json: readings[3] },
        proof,
      }).catch((e) => e);
      assert.ok(missing instanceof NotFoundError, String(missing));
    }
    // A name that is a prefix of another's, or one '/'-segment of it, is another stream.
    assert.ok((await client.data.stream("truck-17").catch((e) => e)) instanceof NotFoundError);
    assert.ok((await client.data.stream("temp").catch((e) => e)) instanceof NotFoundError);
    await assert.rejects(() => client.data.stream(".."), RangeError);
    const badLimit = await client.data.anchorsPage("truck-17/temp", { limit: 0 }).catch((e) => e);
    assert.ok(badLimit instanceof ValidationError, String(badLimit));
  });
});

Deno.test("sdk contracts: roaming reads a period's totals, records, flags and its statement until final", async () => {
  await withSite(async (client, commit) => {
    const [keyA, keyB] = [k(), k()];
    const from = Date.now() - 48 * HOUR;
    const period = "orga-orgb-2026-11";
    const tariff = { voiceMinute: "10", dataMb: "2", sms: "1" };
    await commit(
      await tx("roaming.open", {
        period,
        carriers: [
          { org: "orga", keys: [keyA.did], tariff },
          { org: "orgb", keys: [keyB.did], tariff },
        ],
        from,
        until: Date.now() - 1000,
        currency: "EUR",
      }, [adminA, adminB]),
    );
    const sub = "b2".repeat(32);
    const usage = (record: string, visited: "orga" | "orgb", at: number, where: number[]) => ({
      period,
      record,
      visited,
      imsiHash: sub,
      country: where[0] === 0 ? "DE" : "US",
      lat: where[1],
      lon: where[2],
      from: at,
      to: at + HOUR - 1,
      voiceMinutes: 10,
      dataMb: 5,
      sms: 1,
    });
    const BERLIN = [0, 52_520_000, 13_405_000];
    const NEW_YORK = [1, 40_712_800, -74_006_000];
    await commit(
      await submitUsage(usage("b-1", "orgb", from, BERLIN), softwareSigner(keyB), {
        ledger: LEDGER,
      }),
    );
    // Berlin to New York an hour later is faster than any plane: flagged.
    await commit(
      await submitUsage(usage("b-2", "orgb", from + 2 * HOUR, NEW_YORK), softwareSigner(keyB), {
        ledger: LEDGER,
      }),
    );

    const open = await client.roaming.period(period);
    assert.equal(open.status, "open");
    assert.equal(open.totals.orgb.billed.records, "2");
    assert.equal(open.totals.orgb.billed.flagged, "1");
    const records = await collect(client.roaming.records(period, { pageSize: 1 }));
    assert.deepEqual(records.map((r) => r.record), ["b-1", "b-2"]);
    assert.equal((await client.roaming.recordsPage(period, { limit: 1 })).next !== null, true);
    const one = await client.roaming.record(period, "b-2");
    assert.equal(one.home, "orga");
    assert.deepEqual(one.flags, ["impossible_travel"]);
    const flags = await collect(client.roaming.flags(period));
    assert.deepEqual(flags.map((f) => [f.record, f.flags]), [["b-2", ["impossible_travel"]]]);
    assert.equal((await client.roaming.flagsPage(period)).next, null);
    const early = await client.roaming.statement(period).catch((e) => e);
    assert.ok(early instanceof NotFoundError, "no statement before close");

    await commit(await tx("roaming.close", { period }, [keyB]));
    const closed = await client.roaming.statement(period);
    assert.equal(closed.final, false);
    assert.equal(roamingStatementHash(closed.statement), closed.statementHash);
    for (const key of [keyA, keyB]) {
      await commit(
        await signStatement(period, closed.statementHash, [softwareSigner(key)], {
          ledger: LEDGER,
        }),
      );
    }
    const final = await client.roaming.statement(period);
    assert.equal(final.final, true);
    assert.deepEqual(Object.keys(final.signatures).sort(), ["orga", "orgb"]);
    assert.equal((await client.roaming.period(period)).status, "final");

    assert.ok(
      (await client.roaming.record(period, "nope").catch((e) => e)) instanceof NotFoundError,
    );
    assert.ok((await client.roaming.period("p-unknown").catch((e) => e)) instanceof NotFoundError);
    const badPeriod = await client.roaming.period("bad period!").catch((e) => e);
    assert.ok(badPeriod instanceof ValidationError, String(badPeriod));
  });
});
