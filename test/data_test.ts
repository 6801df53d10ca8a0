/**
 * The `data.*` read routes on a real site: a stream, its anchors in pages,
 * gaps in its sequence numbers, and a single reading proven against its
 * anchor with the SDK's batch helpers.
 */
import assert from "node:assert/strict";
import { base64urlEncode, utf8Encode } from "../sdk/encoding.ts";
import { generateKeyPair } from "../sdk/keys.ts";
import { anchorBody, buildBatch, readingProof } from "../sdk/kinds/readings.ts";
import { EdgeLedgerClient } from "../sdk/client/client.ts";
import { getStream, listStreamAnchors } from "../sdk/api/contract_routes/data.ts";
import { seqFloor } from "../src/api/contract_routes/data.ts";
import { anchorTx, getJson, postJson } from "./_helpers.ts";
import { applied, devicesSite, openKindsSite, refused, rejected, tx } from "./_kinds_helpers.ts";

const vehicle = generateKeyPair("p256");
const STREAM = "truck-17/telemetry";
const enc = encodeURIComponent(STREAM);
const T0 = 1_764_000_000_000;
const minute = (i: number) =>
  Array.from({ length: 60 }, (_, s) => ({ t: T0 + i * 60_000 + s * 1000, kmh: 50 + (s % 7) }));

async function anchorMinute(app: Parameters<typeof postJson>[0], seq: number) {
  const batch = buildBatch(minute(seq));
  const from = T0 + seq * 60_000;
  await applied(
    app,
    await tx("data.anchor", anchorBody(batch, { stream: STREAM, seq, from, to: from + 59_000 }), [
      vehicle,
    ]),
  );
  return batch;
}

Deno.test("data: one reading is proven against its anchor without the others, and a changed one is not", async () => {
  const t = await openKindsSite();
  try {
    const batch = await anchorMinute(t.app, 0);
    const proof = readingProof(batch, 17);
    const ok = await postJson(t.app, `/v1/streams/${enc}/verify-reading`, {
      seq: 0,
      reading: { json: minute(0)[17] },
      proof,
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.valid, true);
    assert.equal(ok.body.anchor.root, batch.root);
    const bad = await postJson(t.app, `/v1/streams/${enc}/verify-reading`, {
      seq: 0,
      reading: { json: { ...minute(0)[17], kmh: 200 } },
      proof,
    });
    assert.equal(bad.body.valid, false);
    assert.equal(bad.body.reason, "proof_mismatch");
    const count = await postJson(t.app, `/v1/streams/${enc}/verify-reading`, {
      seq: 0,
      reading: { json: minute(0)[17] },
      proof: { ...proof, count: 61 },
    });
    assert.equal(count.body.reason, "count_mismatch");
    const missing = await postJson(t.app, `/v1/streams/${enc}/verify-reading`, {
      seq: 9,
      reading: { json: 1 },
      proof,
    });
    assert.equal(missing.status, 404);
    const malformed = await postJson(t.app, `/v1/streams/${enc}/verify-reading`, {
      seq: 0,
      reading: {},
      proof,
    });
    assert.equal(malformed.status, 400);
  } finally {
    await t.cleanup();
  }
});

Deno.test("data: a raw-bytes reading verifies through the route as base64url", async () => {
  const t = await openKindsSite();
  try {
    const raw = ["a", "b", "c"].map(utf8Encode);
    const batch = buildBatch(raw);
    await applied(
      t.app,
      await tx("data.anchor", anchorBody(batch, { stream: "cam/1", seq: 0, from: T0, to: T0 }), [
        vehicle,
      ]),
    );
    const r = await postJson(t.app, `/v1/streams/${encodeURIComponent("cam/1")}/verify-reading`, {
      seq: 0,
      reading: { bytes: base64urlEncode(raw[2]) },
      proof: readingProof(batch, 2),
    });
    assert.equal(r.body.valid, true);
  } finally {
    await t.cleanup();
  }
});

Deno.test("data: a stream shows its owner and last seq, and its anchors page by seq", async () => {
  const t = await openKindsSite();
  try {
    for (const seq of [0, 1, 2]) await anchorMinute(t.app, seq);
    const s = await getJson(t.app, `/v1/streams/${enc}`);
    assert.equal(s.status, 200);
    assert.equal(s.body.owner, vehicle.did);
    assert.equal(s.body.lastSeq, 2);
    assert.equal(s.body.count, 3);
    const p1 = await getJson(t.app, `/v1/streams/${enc}/anchors?limit=2`);
    assert.deepEqual(p1.body.anchors.map((a: { seq: number }) => a.seq), [0, 1]);
    assert.equal(p1.body.next, "1");
    const p2 = await getJson(t.app, `/v1/streams/${enc}/anchors?limit=2&after=1`);
    assert.deepEqual(p2.body.anchors.map((a: { seq: number }) => a.seq), [2]);
    assert.equal(p2.body.next, null);
    assert.equal((await getJson(t.app, "/v1/streams/no%2Fsuch")).status, 404);
  } finally {
    await t.cleanup();
  }
});

Deno.test("data: gaps report the missing seq ranges and silent stretches of a monitor", async () => {
  const t = await openKindsSite();
  try {
    for (const seq of [0, 1, 4, 5, 9]) await anchorMinute(t.app, seq);
    const g = await getJson(t.app, `/v1/streams/${enc}/gaps?silenceMs=1000`);
    assert.equal(g.status, 200);
    assert.deepEqual(g.body.gaps, [{ from: 2, to: 3, missing: 2 }, { from: 6, to: 8, missing: 3 }]);
    assert.equal(g.body.silences.length, 2);
    assert.equal(g.body.silences[0].afterSeq, 1);
    assert.equal(g.body.lastSeq, 9);
    assert.equal(g.body.lastTo, T0 + 9 * 60_000 + 59_000);
    assert.equal(g.body.next, null);
    // Bounded work: scan two anchors at a time and continue from `next`.
    const a = await getJson(t.app, `/v1/streams/${enc}/gaps?limit=2`);
    assert.deepEqual(a.body.gaps, []);
    assert.equal(a.body.next, "1");
    const b = await getJson(t.app, `/v1/streams/${enc}/gaps?limit=2&after=1`);
    assert.deepEqual(b.body.gaps, [{ from: 2, to: 3, missing: 2 }]);
  } finally {
    await t.cleanup();
  }
});

Deno.test("data: the SDK client reaches a stream whose name contains '/' through the shared route", async () => {
  const t = await openKindsSite();
  try {
    await anchorMinute(t.app, 0);
    const client = new EdgeLedgerClient({
      urls: ["http://site-a.test"],
      fetch: (input, init) => Promise.resolve(t.app.request(input as string, init)),
    });
    const { body } = await client.request(getStream, { params: { stream: STREAM } });
    assert.equal(body.owner, vehicle.did);
    const page = await client.request(listStreamAnchors, {
      params: { stream: STREAM },
      query: { limit: 10 },
    });
    assert.equal(page.body.anchors.length, 1);
  } finally {
    await t.cleanup();
  }
});

Deno.test("data routes: another stream whose name continues after NUL neither hides a stream's anchors and gaps nor ends its pages early", async () => {
  const t = await openKindsSite();
  const owner = generateKeyPair("ed25519");
  const other = generateKeyPair("ed25519");
  try {
    for (const seq of [0, 1, 5]) await applied(t.app, await anchorTx(owner, { stream: "v", seq }));
    // "v\u00000"'s keys sort before all of "v"'s; "v\u00000000000000000001x"'s between seq 1 and 5.
    for (const seq of [0, 1, 2]) {
      await applied(t.app, await anchorTx(other, { stream: "v\u00000", seq }));
    }
    await applied(t.app, await anchorTx(other, { stream: "v\u00000000000000000001x", seq: 0 }));
    const seqs = (body: { anchors: Array<{ stream: string; seq: number }> }) =>
      body.anchors.map((a) => `${a.stream}:${a.seq}`);
    const all = await getJson(t.app, "/v1/streams/v/anchors?limit=3");
    assert.deepEqual(seqs(all.body), ["v:0", "v:1", "v:5"]);
    assert.equal(all.body.next, "5");
    // One anchor a page: each page is full and continues from the last seq.
    const pages: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 5; i++) {
      const q: string = after === null ? "" : `&after=${after}`;
      const page = await getJson(t.app, `/v1/streams/v/anchors?limit=1${q}`);
      pages.push(...seqs(page.body));
      after = page.body.next;
      if (after === null) break;
    }
    assert.deepEqual(pages, ["v:0", "v:1", "v:5"]);
    const gaps = await getJson(t.app, "/v1/streams/v/gaps?limit=3");
    assert.deepEqual(gaps.body.gaps, [{ from: 2, to: 4, missing: 3 }]);
    assert.equal(gaps.body.scanned, 3);
    // The other stream still reads as its own.
    const own = await getJson(t.app, `/v1/streams/${encodeURIComponent("v\u00000")}/anchors`);
    assert.deepEqual(seqs(own.body), ["v\u00000:0", "v\u00000:1", "v\u00000:2"]);
  } finally {
    await t.cleanup();
  }
});

Deno.test("data routes: a run of other streams' keys longer than one read is skipped, not taken for the end of the stream", async () => {
  const t = await openKindsSite();
  const owner = generateKeyPair("ed25519");
  const other = generateKeyPair("ed25519");
  try {
    // 70 streams "v\u0000!<i>" sort before every anchor of "v": more than one read's rows.
    await Promise.all(
      Array.from(
        { length: 70 },
        async (_, i) => applied(t.app, await anchorTx(other, { stream: `v\u0000!${i}`, seq: 0 })),
      ),
    );
    for (const seq of [0, 2]) await applied(t.app, await anchorTx(owner, { stream: "v", seq }));
    // A small page reads few rows at a time, so the run outlasts the first read.
    const page = await getJson(t.app, "/v1/streams/v/anchors?limit=3");
    assert.deepEqual(page.body.anchors.map((a: { seq: number }) => a.seq), [0, 2]);
    assert.equal(page.body.next, null);
    const gaps = await getJson(t.app, "/v1/streams/v/gaps?limit=3");
    assert.deepEqual(gaps.body.gaps, [{ from: 1, to: 1, missing: 1 }]);
  } finally {
    await t.cleanup();
  }
});

Deno.test("data routes: seqFloor() places another stream's key between two consecutive seqs", () => {
  const hex = (n: number) => n.toString(16).padStart(16, "0");
  const cases: Array<[string, number]> = [
    ["", -1],
    ["0\u00000000000000000000", -1],
    [`${hex(1)}x`, 1],
    [`${hex(1)}\u0000${hex(7)}`, 1],
    ["00000000000000a\u0000", 0x9f],
    ["000000000000001:", 0x19],
    ["000000000000001g", 0x1f],
    ["g", Number.MAX_SAFE_INTEGER],
  ];
  for (const [rest, floor] of cases) {
    assert.equal(seqFloor(rest), floor, JSON.stringify(rest));
    if (floor >= 0) assert.ok(hex(floor) < rest, JSON.stringify(rest));
    if (floor < Number.MAX_SAFE_INTEGER) assert.ok(hex(floor + 1) > rest, JSON.stringify(rest));
  }
});

// ---- key rotation -------------------------------------------------------

Deno.test("data: after a rotation the device's new key continues the old key's stream with the next seq, and after a second rotation the third key does", async () => {
  const t = await devicesSite();
  try {
    const [k1, k2, k3] = [generateKeyPair("p256"), generateKeyPair("p256"), generateKeyPair()];
    await t.register("a/truck-17", k1);
    for (const seq of [0, 1]) await applied(t.app, await anchorTx(k1, { stream: STREAM, seq }));
    await t.rotate("a/truck-17", k1, k2);
    // The stream keeps its owner and its seq: the new key goes on from the last one.
    await rejected(
      t.app,
      await anchorTx(k2, { stream: STREAM, seq: 1 }),
      "stream_seq_not_increasing",
    );
    const r = await applied(t.app, await anchorTx(k2, { stream: STREAM, seq: 2 }));
    assert.equal(r.owner, k1.did);
    await refused(t.app, await anchorTx(k1, { stream: STREAM, seq: 3 }), "revoked_signer");
    await t.rotate("a/truck-17", k2, k3);
    await applied(t.app, await anchorTx(k3, { stream: STREAM, seq: 3 }));
    const s = (await getJson(t.app, `/v1/streams/${enc}`)).body;
    assert.equal(s.owner, k1.did);
    assert.equal(s.lastSeq, 3);
    assert.equal(s.count, 4);
    const anchors = (await getJson(t.app, `/v1/streams/${enc}/anchors`)).body.anchors;
    assert.deepEqual(
      anchors.map((a: { seq: number; signer: string }) => [a.seq, a.signer]),
      [[0, k1.did], [1, k1.did], [2, k2.did], [3, k3.did]],
    );
    const gaps = (await getJson(t.app, `/v1/streams/${enc}/gaps`)).body;
    assert.deepEqual(gaps.gaps, []);
  } finally {
    await t.cleanup();
  }
});

Deno.test("data: a revoked device's stream stays frozen, and a quarantined device's new key cannot anchor on it", async () => {
  const t = await devicesSite();
  try {
    const [a1, a2, b1, b2] = [
      generateKeyPair(),
      generateKeyPair(),
      generateKeyPair(),
      generateKeyPair(),
    ];
    await t.register("a/monitor-1", a1);
    await t.register("a/monitor-2", b1);
    await applied(t.app, await anchorTx(a1, { stream: "m1/nox", seq: 0 }));
    await applied(t.app, await anchorTx(b1, { stream: "m2/nox", seq: 0 }));
    await t.rotate("a/monitor-1", a1, a2);
    await t.rotate("a/monitor-2", b1, b2);
    await t.revoke("a/monitor-1", a2);
    await t.quarantine("a/monitor-2", b2);
    await refused(t.app, await anchorTx(a2, { stream: "m1/nox", seq: 1 }), "revoked_signer");
    await refused(t.app, await anchorTx(b2, { stream: "m2/nox", seq: 1 }), "revoked_signer");
    assert.equal((await getJson(t.app, "/v1/streams/m1%2Fnox")).body.lastSeq, 0);
    assert.equal((await getJson(t.app, "/v1/streams/m2%2Fnox")).body.lastSeq, 0);
  } finally {
    await t.cleanup();
  }
});

Deno.test("data: a key that was never the device's key cannot continue its stream after a rotation (stream_not_owner)", async () => {
  const t = await devicesSite();
  try {
    const [k1, k2, other] = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
    await t.register("a/truck-17", k1);
    await t.register("a/truck-18", other);
    await applied(t.app, await anchorTx(k1, { stream: STREAM, seq: 0 }));
    await t.rotate("a/truck-17", k1, k2);
    for (const k of [other, t.authority, generateKeyPair()]) {
      await rejected(t.app, await anchorTx(k, { stream: STREAM, seq: 1 }), "stream_not_owner");
    }
  } finally {
    await t.cleanup();
  }
});
