/**
 * A single site end to end through its HTTP API (`app.request`), on a real
 * libSQL file: admission, commit, receipts, proofs, checkpoints, restart and
 * the integrity check.
 */
import assert from "node:assert/strict";
import { base64urlDecode, base64urlEncode, hexDecode } from "../sdk/encoding.ts";
import { type Envelope, signEnvelope, transactionId } from "../sdk/envelope.ts";
import { generateKeyPair, softwareSigner } from "../sdk/keys.ts";
import { govProposal } from "../sdk/kinds/gov.ts";
import { leafHash, verifyConsistency, verifyInclusion } from "../sdk/merkle.ts";
import { parseCheckpoint } from "../sdk/checkpoint.ts";
import { parseNote, verifierKey, verifyNote } from "../sdk/note.ts";
import { SiteKey } from "../src/site/site_key.ts";
import { blockHash } from "../sdk/block.ts";
import { type Sequencer, type Site, STATUS_NS } from "../src/site/site.ts";
import { histogramTotalsIn } from "../src/api/histogram.ts";
import { openDatabase } from "../src/storage/db.ts";
import { databaseHeld, foldWal } from "../src/storage/backup.ts";
import {
  anchorTx,
  checkRestartMidStream,
  checkStorageWorkerRoundTrip,
  getJson,
  openTestSite,
  postJson,
  recordingLogger,
  testGenesis,
} from "./_helpers.ts";
import { silentLogger } from "../src/log.ts";
import type { LedgerError } from "../src/api/service.ts";

const device = generateKeyPair("ed25519");

Deno.test("site: a submitted data.anchor commits with height, logIndex and an applied result", async () => {
  const t = await openTestSite();
  try {
    const env = await anchorTx(device);
    const r = await postJson(t.app, "/v1/txs?wait=commit", env);
    assert.equal(r.status, 200);
    assert.equal(r.body.txId, transactionId(env));
    assert.equal(r.body.status, "committed");
    assert.equal(r.body.height, 1);
    assert.equal(r.body.logIndex, 0);
    assert.equal(r.body.result.status, "applied");
    const got = await getJson(t.app, `/v1/txs/${r.body.txId}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.tx, env);
    assert.equal(got.body.receipt.logIndex, 0);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: /metrics times each block from execution to its durable write, one observation per block", async () => {
  const t = await openTestSite();
  try {
    for (let i = 0; i < 3; i++) {
      const r = await postJson(t.app, "/v1/txs?wait=commit", await anchorTx(device));
      assert.equal(r.status, 200);
    }
    const res = await t.app.request("/metrics");
    const text = await res.text();
    const { count, sum } = histogramTotalsIn(text, "edgeledger_block_apply_seconds");
    const blocks = Number(text.match(/^edgeledger_blocks_total (\d+)$/m)?.[1]);
    assert.equal(blocks, 3);
    assert.equal(count, blocks);
    assert.ok(sum > 0);
    assert.match(text, /^edgeledger_block_apply_seconds_bucket\{le="\+Inf"\} 3$/m);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: resubmitting a committed transaction returns its receipt and never a second copy", async () => {
  const t = await openTestSite();
  try {
    const env = await anchorTx(device);
    const first = await postJson(t.app, "/v1/txs?wait=commit", env);
    const again = await postJson(t.app, "/v1/txs?wait=commit", env);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, first.body);
    const batch = await postJson(t.app, "/v1/txs?wait=commit", { txs: [env, env] });
    assert.deepEqual(batch.body.receipts, [first.body, first.body]);
    const status = await getJson(t.app, "/v1/status");
    assert.equal(status.body.logSize, 1);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: a committed transaction resubmitted after it expired gets its receipt, not an expired refusal; a batch of one refused envelope is answered 200 with its refused receipt, as any batch", async () => {
  let now = Date.now();
  const t = await openTestSite({ clock: () => now });
  try {
    const env = await anchorTx(device, { ttlMs: 60_000 });
    const expired = await anchorTx(device, { ttlMs: 60_000 });
    const first = await postJson(t.app, "/v1/txs?wait=commit", env);
    assert.equal(first.body.status, "committed");
    now += 120_000;
    const again = await postJson(t.app, "/v1/txs?wait=commit", env);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, first.body);
    // In a batch too, beside an envelope that expired without committing: that one is refused.
    const batch = await postJson(t.app, "/v1/txs", { txs: [expired, env] });
    assert.equal(batch.body.receipts[0].status, "refused");
    assert.equal(batch.body.receipts[0].txId, transactionId(expired));
    assert.equal(batch.body.receipts[0].problem.type, "https://edgeledger.dev/problems/expired");
    assert.deepEqual(batch.body.receipts[1], first.body);
    const single = await postJson(t.app, "/v1/txs", expired);
    assert.equal(single.status, 422);
    assert.equal(single.body.type, "https://edgeledger.dev/problems/expired");
    // A batch of that one envelope alone is still a batch: 200 and its receipt says refused.
    const batchOfOne = await postJson(t.app, "/v1/txs", { txs: [expired] });
    assert.equal(batchOfOne.status, 200);
    assert.equal(batchOfOne.body.receipts.length, 1);
    assert.equal(batchOfOne.body.receipts[0].status, "refused");
    assert.equal(
      batchOfOne.body.receipts[0].problem.type,
      "https://edgeledger.dev/problems/expired",
    );
    assert.equal((await getJson(t.app, "/v1/status")).body.logSize, 1);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: a receipt is the same bytes whether the commit wait, a resubmission or a read answers it (a rejected result's keys too)", async () => {
  const t = await openTestSite();
  const post = async (env: unknown) => {
    const res = await t.app.request("/v1/txs?wait=commit", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(env),
    });
    return await res.text();
  };
  try {
    const stream = "truck-9/temp";
    await post(await anchorTx(device, { stream, seq: 3 }));
    // Rejected by its contract: a result of several keys, made in the contract's order.
    const env = await anchorTx(device, { stream, seq: 3 });
    const first = await post(env);
    assert.equal(JSON.parse(first).result.status, "rejected", first);
    assert.ok(Object.keys(JSON.parse(first).result).length > 1, first);
    assert.equal(await post(env), first);
    const read = await (await t.app.request(`/v1/txs/${JSON.parse(first).txId}`)).json();
    assert.equal(JSON.stringify(read.receipt), first);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: a live block event carries the same result bytes as the event read back from storage (a rejected result's keys too)", async () => {
  const t = await openTestSite();
  try {
    const stream = "truck-10/temp";
    const first = await postJson(
      t.app,
      "/v1/txs?wait=commit",
      await anchorTx(device, { stream, seq: 4 }),
    );
    const live: string[] = [];
    let seen!: () => void;
    const got = new Promise<void>((r) => seen = r);
    const stop = t.site.subscribe(first.body.height, (ev) => {
      live.push(JSON.stringify(ev.txs.map((x) => x.result)));
      seen();
    }, () => {});
    // Rejected by its contract: a result of several keys, made in the contract's order.
    const again = await postJson(
      t.app,
      "/v1/txs?wait=commit",
      await anchorTx(device, { stream, seq: 4 }),
    );
    assert.equal(again.body.result.status, "rejected");
    await got;
    stop();
    const stored: string[] = [];
    let read!: () => void;
    const done = new Promise<void>((r) => read = r);
    const stop2 = t.site.subscribe(first.body.height, (ev) => {
      stored.push(JSON.stringify(ev.txs.map((x) => x.result)));
      read();
    }, () => {});
    await done;
    stop2();
    assert.equal(live[0], stored[0]);
    assert.ok(Object.keys(JSON.parse(live[0])[0]).length > 1, live[0]);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: the same transaction submitted concurrently is committed once", async () => {
  const t = await openTestSite();
  try {
    const env = await anchorTx(device);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => postJson(t.app, "/v1/txs?wait=commit", env)),
    );
    for (const a of answers) assert.equal(a.body.logIndex, 0);
    assert.equal((await getJson(t.app, "/v1/status")).body.logSize, 1);
  } finally {
    await t.cleanup();
  }
});

async function refusedType(app: Parameters<typeof postJson>[0], env: unknown): Promise<string> {
  const r = await postJson(app, "/v1/txs", env);
  assert.ok(r.status >= 400 && r.status < 500, `expected a 4xx, got ${r.status}`);
  assert.match(r.headers.get("content-type") ?? "", /application\/problem\+json/);
  assert.ok(r.body.requestId, "a problem carries the request id");
  assert.equal(r.body.stack, undefined);
  return (r.body.type as string).split("/").pop()!;
}

Deno.test("site: admission refuses each bad envelope with its own problem type", async () => {
  const t = await openTestSite();
  try {
    const good = await anchorTx(device);
    assert.equal(
      await refusedType(t.app, await anchorTx(device, { ledger: "other" })),
      "wrong_ledger",
    );
    assert.equal(await refusedType(t.app, { ...good, kind: "data.nope" }), "unknown_kind");
    assert.equal(await refusedType(t.app, { ...good, extra: 1 }), "invalid_envelope");
    assert.equal(
      await refusedType(t.app, { ...good, nonce: base64urlEncode(new Uint8Array(15)) }),
      "invalid_envelope",
    );
    const flipped = base64urlDecode(good.sigs[0]);
    flipped[5] ^= 1;
    assert.equal(
      await refusedType(t.app, { ...good, sigs: [base64urlEncode(flipped)] }),
      "bad_signature",
    );
    // A changed body changes the payload, so the old signature no longer verifies.
    const body = good.body as Record<string, unknown>;
    assert.equal(
      await refusedType(t.app, { ...good, body: { ...body, count: 11 } }),
      "bad_signature",
    );
    assert.equal(
      await refusedType(t.app, { ...good, body: { ...body, count: 0 } }),
      "invalid_body",
    );
    assert.equal(
      await refusedType(t.app, { ...good, body: { ...body, mystery: true } }),
      "invalid_body",
    );
    assert.equal(
      await refusedType(t.app, await anchorTx(device, { expiresAt: Date.now() - 1 })),
      "expired",
    );
    assert.equal(
      await refusedType(t.app, await anchorTx(device, { expiresAt: Date.now() + 48 * 3600_000 })),
      "expires_too_far",
    );
    const big = await anchorTx(device, { stream: "x".repeat(128) });
    const huge = { ...big, body: { ...(big.body as object), stream: "y".repeat(70_000) } };
    assert.equal(await refusedType(t.app, huge), "envelope_too_large");
    assert.equal(
      (await getJson(t.app, "/v1/status")).body.logSize,
      0,
      "nothing refused reaches the log",
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: admission refuses a transaction from a revoked signer", async () => {
  const t = await openTestSite();
  try {
    const revoked = generateKeyPair("ed25519");
    // The identity contracts write this namespace; here the row is written directly.
    await t.site.store.database.client.execute({
      sql: "INSERT INTO state (ns, key, value) VALUES (?, ?, ?)",
      args: [STATUS_NS, revoked.did, JSON.stringify({ status: "revoked" })],
    });
    assert.equal(await refusedType(t.app, await anchorTx(revoked)), "revoked_signer");
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: P-256 and secp256k1 signers are admitted like Ed25519", async () => {
  const t = await openTestSite();
  try {
    for (const alg of ["p256", "secp256k1"] as const) {
      const r = await postJson(t.app, "/v1/txs?wait=commit", await anchorTx(generateKeyPair(alg)));
      assert.equal(r.body.status, "committed", alg);
      assert.equal(r.body.result.status, "applied", alg);
    }
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: a batch answers one receipt per envelope in order, a refused one in the middle", async () => {
  const t = await openTestSite();
  try {
    const a = await anchorTx(device);
    const c = await anchorTx(device);
    const r = await postJson(t.app, "/v1/txs?wait=commit", {
      txs: [a, { ...a, ledger: "zzz" }, c],
    });
    assert.equal(r.status, 200);
    const [ra, rb, rc] = r.body.receipts;
    assert.equal(ra.txId, transactionId(a));
    assert.equal(ra.status, "committed");
    assert.equal(rb.status, "refused");
    assert.match(rb.problem.type, /wrong_ledger$/);
    assert.equal(rc.txId, transactionId(c));
    assert.equal(rc.status, "committed");
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: an anchor that does not raise its stream's seq is recorded as rejected, not applied", async () => {
  const t = await openTestSite();
  try {
    const stream = "truck-1/temp";
    const first = await postJson(
      t.app,
      "/v1/txs?wait=commit",
      await anchorTx(device, { stream, seq: 5 }),
    );
    assert.equal(first.body.result.status, "applied");
    const same = await postJson(
      t.app,
      "/v1/txs?wait=commit",
      await anchorTx(device, { stream, seq: 5 }),
    );
    assert.equal(same.body.status, "committed");
    assert.equal(same.body.result.status, "rejected");
    assert.equal(same.body.result.code, "stream_seq_not_increasing");
    const other = generateKeyPair("ed25519");
    const stolen = await postJson(
      t.app,
      "/v1/txs?wait=commit",
      await anchorTx(other, { stream, seq: 9 }),
    );
    assert.equal(stolen.body.result.code, "stream_not_owner");
    const next = await postJson(
      t.app,
      "/v1/txs?wait=commit",
      await anchorTx(device, { stream, seq: 6 }),
    );
    assert.equal(next.body.result.status, "applied", "a rejected anchor changed nothing");
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: proofs verify against the co-signed checkpoint, and checkpoints stay consistent", async () => {
  const t = await openTestSite();
  try {
    const sites = await getJson(t.app, "/v1/sites");
    const keys = sites.body.sites.map((s: { verifierKey: string }) => s.verifierKey);
    const receipts = [];
    for (let i = 0; i < 5; i++) {
      const envs = await Promise.all(Array.from({ length: 3 }, () => anchorTx(device)));
      receipts.push(...(await postJson(t.app, "/v1/txs?wait=commit", { txs: envs })).body.receipts);
    }
    const note1 = (await getJson(t.app, "/v1/checkpoint")).body as string;
    assert.deepEqual(verifyNote(note1, keys), ["site-a"]);
    const cp1 = parseCheckpoint(parseNote(note1).text);
    assert.equal(cp1.size, 15);
    for (const r of receipts) {
      const p = await getJson(t.app, `/v1/txs/${r.txId}/proof`);
      assert.equal(p.status, 200);
      const proof = p.body.proof.map(hexDecode);
      const leaf = leafHash(base64urlDecode(p.body.leaf));
      assert.ok(verifyInclusion(leaf, p.body.logIndex, cp1.size, proof, cp1.rootHash));
      const tampered = base64urlDecode(p.body.leaf);
      tampered[10] ^= 1;
      assert.ok(
        !verifyInclusion(leafHash(tampered), p.body.logIndex, cp1.size, proof, cp1.rootHash),
      );
    }
    // The block header named in the checkpoint hashes to the checkpoint's block hash.
    const block = await getJson(t.app, `/v1/blocks/${cp1.height}`);
    assert.equal(blockHash(block.body.header), cp1.blockHash);
    await postJson(t.app, "/v1/txs?wait=commit", await anchorTx(device));
    const cp2 = parseCheckpoint(parseNote((await getJson(t.app, "/v1/checkpoint")).body).text);
    const c = await getJson(t.app, `/v1/consistency?from=${cp1.size}&to=${cp2.size}`);
    assert.ok(
      verifyConsistency(
        cp1.size,
        cp2.size,
        c.body.proof.map(hexDecode),
        cp1.rootHash,
        cp2.rootHash,
      ),
    );
    const bad = await getJson(t.app, `/v1/consistency?from=${cp2.size + 1}&to=${cp2.size + 2}`);
    assert.equal(bad.status, 422);
    const old = await getJson(t.app, `/v1/txs/${receipts[0].txId}/proof?treeSize=1`);
    assert.equal(old.status, 200, "a proof against an older tree size is served");
    assert.equal(old.body.proof.length, 0);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: blocks are served by height, by hash and in pages with a cursor", async () => {
  const t = await openTestSite();
  try {
    for (let i = 0; i < 3; i++) {
      await postJson(t.app, "/v1/txs?wait=commit", await anchorTx(device));
    }
    const b1 = await getJson(t.app, "/v1/blocks/1");
    assert.equal(b1.body.header.height, 1);
    assert.equal(b1.body.hash, blockHash(b1.body.header));
    const byHash = await getJson(t.app, `/v1/blocks/by-hash/${b1.body.hash}`);
    assert.deepEqual(byHash.body, b1.body);
    const page = await getJson(t.app, "/v1/blocks?from=0&limit=2");
    assert.equal(page.body.blocks.length, 2);
    assert.equal(page.body.next, 2);
    const rest = await getJson(t.app, `/v1/blocks?from=${page.body.next}&limit=100`);
    assert.equal(rest.body.blocks.at(-1).header.height, 3);
    for (let i = 1; i < rest.body.blocks.length; i++) {
      assert.equal(rest.body.blocks[i].header.prev, rest.body.blocks[i - 1].hash);
    }
    assert.equal((await getJson(t.app, "/v1/blocks/99")).status, 404);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: block time never decreases when the leader's clock goes backwards", async () => {
  let now = Date.now();
  const t = await openTestSite({ clock: () => now });
  try {
    await postJson(t.app, "/v1/txs?wait=commit", await anchorTx(device));
    const first = (await getJson(t.app, "/v1/blocks/1")).body.header.time;
    now -= 60_000;
    await postJson(t.app, "/v1/txs?wait=commit", await anchorTx(device));
    const second = (await getJson(t.app, "/v1/blocks/2")).body.header.time;
    assert.ok(second >= first, `block 2 time ${second} < block 1 time ${first}`);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: a block whose time is ahead of this site's clock is reported — a warning once, and edgeledger_head_block_time_ahead_seconds — as it holds the chain's time there", async () => {
  const year = 365 * 24 * 3600_000;
  let skew = year;
  const rec = recordingLogger();
  const t = await openTestSite({ clock: () => Date.now() + skew, log: rec.log });
  const ahead = async () =>
    Number(
      (await t.site.metrics()).match(/^edgeledger_head_block_time_ahead_seconds (\S+)$/m)?.[1],
    );
  try {
    // A transaction as wrong as the clock commits at a time a year ahead.
    const wrong = await anchorTx(device, { expiresAt: Date.now() + year + 3600_000 });
    assert.equal((await postJson(t.app, "/v1/txs?wait=commit", wrong)).body.status, "committed");
    assert.ok((await ahead()) < 1, "the clock that made the block agrees with it");
    // The clock is set right: block time stays a year ahead (it never decreases).
    skew = 0;
    assert.ok((await ahead()) > 364 * 24 * 3600);
    for (let i = 0; i < 2; i++) {
      const r = await postJson(t.app, "/v1/txs?wait=commit", await anchorTx(device));
      assert.equal(r.body.result.code, "expired");
    }
    const said = rec.said("block time is ahead of this site's clock");
    assert.equal(said.length, 1, "said once, not per block");
    assert.equal(said[0].height, 2);
    assert.equal(said[0].proposer, "site-a");
    assert.ok((said[0].aheadMs as number) > 364 * 24 * 3600_000);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: restart mid-stream loses nothing committed, applies nothing twice, and the chain continues", async () => {
  const t = await openTestSite();
  try {
    await checkRestartMidStream(t, device);
  } finally {
    await t.cleanup();
  }
});

/**
 * Commits 30 transactions, restarts the site with a filter filled two ids a
 * page, and resubmits the one whose id the walk reaches last before the
 * walk is done: it must get its receipt, not a second log index.
 */
async function checkDuplicateWhileFilterFills(storage: "inline" | "worker"): Promise<void> {
  const t = await openTestSite({ txIdFilterPageIds: 2, storage });
  try {
    const envs: Envelope[] = [];
    for (let i = 0; i < 30; i++) envs.push(await anchorTx(device));
    const first = await t.site.submit(envs, { wait: true, waitTimeoutMs: 10_000 });
    await t.site.close();
    const rec = recordingLogger();
    const reopened = await t.reopen({ log: rec.log });
    try {
      assert.equal(
        reopened.txIdFilter().loaded,
        false,
        "the site serves before its filter is filled",
      );
      assert.match(await reopened.metrics(), /^edgeledger_txid_filter_filled 0$/m);
      const ids = envs.map((e) => transactionId(e));
      const last = ids.indexOf([...ids].sort().at(-1)!);
      const again = await reopened.submit([envs[last]], { wait: true, waitTimeoutMs: 10_000 });
      assert.deepEqual(again[0], first[last]);
      await reopened.whenTxIdFilterFilled();
      assert.deepEqual(
        { loaded: reopened.txIdFilter().loaded, ids: reopened.txIdFilter().ids },
        { loaded: true, ids: 30 },
      );
      assert.equal(rec.said("transaction id filter filled")[0]?.ids, 30);
      const metrics = await reopened.metrics();
      assert.match(metrics, /^edgeledger_txid_filter_filled 1$/m);
      assert.match(metrics, /^edgeledger_txid_filter_ids 30$/m);
      assert.match(metrics, /^edgeledger_txid_filter_bytes 2097152$/m);
      assert.deepEqual(await reopened.submit(envs, { wait: true, waitTimeoutMs: 10_000 }), first);
      assert.equal((await reopened.status()).logSize, 30);
    } finally {
      await reopened.close();
    }
  } finally {
    await t.cleanup();
  }
}

Deno.test("site: a restarted site answers a duplicate with its receipt while its committed-id filter is still filling", async () => {
  await checkDuplicateWhileFilterFills("inline");
});

Deno.test("site: the committed-id filter fills through the storage worker too", async () => {
  await checkDuplicateWhileFilterFills("worker");
});

Deno.test("site: closing a site while its committed-id filter fills stops the walk without an error", async () => {
  const t = await openTestSite();
  try {
    await t.site.submit(await Promise.all([1, 2, 3, 4].map(() => anchorTx(device))), {
      wait: true,
      waitTimeoutMs: 10_000,
    });
    await t.site.close();
    const rec = recordingLogger();
    const reopened = await t.reopen({ log: rec.log, txIdFilterPageIds: 1 });
    assert.equal(reopened.txIdFilter().loaded, false);
    await reopened.close();
    assert.deepEqual(rec.said("transaction id filter not filled"), []);
    assert.deepEqual(rec.said("transaction id filter filled"), []);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: replaying an already applied entry is ignored", async () => {
  const t = await openTestSite();
  try {
    const env = await anchorTx(device);
    await t.site.submit([env], { wait: true, waitTimeoutMs: 5000 });
    const before = await t.site.status();
    await t.site.applyEntry(before.appliedIndex, {
      time: Date.now(),
      proposer: "site-a",
      term: 0,
      txs: [env],
    });
    assert.deepEqual(await t.site.status(), before);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: two sites applying the same entries produce identical blocks", async () => {
  const a = await openTestSite();
  const b = await openTestSite({ genesis: a.options.genesis, key: a.options.key });
  try {
    const envs = await Promise.all(Array.from({ length: 6 }, () => anchorTx(device)));
    const stream = "shared";
    envs.push(
      await anchorTx(device, { stream, seq: 1 }),
      await anchorTx(device, { stream, seq: 1 }),
    );
    const batches = [envs.slice(0, 3), envs.slice(3)];
    let time = 1_800_000_000_000;
    for (const [i, txs] of batches.entries()) {
      const batch = { time: time++, proposer: "site-a", term: 1, txs };
      await a.site.applyEntry(i + 1, batch);
      await b.site.applyEntry(i + 1, batch);
    }
    const ha = await a.site.blocks(0, 10, "stale");
    const hb = await b.site.blocks(0, 10, "stale");
    assert.deepEqual(ha, hb);
    assert.equal(ha.length, 3);
  } finally {
    await a.cleanup();
    await b.cleanup();
  }
});

Deno.test("site: a block of no transactions (its batch was all repeats) replays to the same hash", async () => {
  const a = await openTestSite();
  const b = await openTestSite({ genesis: a.options.genesis, key: a.options.key });
  try {
    const env = await anchorTx(device);
    const batch = (time: number) => ({ time, proposer: "site-a", term: 1, txs: [env] });
    await a.site.applyEntry(1, batch(1_800_000_000_000));
    // A re-proposed batch (its proposal timed out after it had committed).
    await a.site.applyEntry(2, batch(1_800_000_000_001));
    assert.equal(a.site.head.header.height, 2);
    assert.equal(a.site.head.header.txCount, 0);
    const blocks = await a.site.replayBlocks(1, 10);
    assert.deepEqual(blocks.map((x) => x.txs.length), [1, 0]);
    for (const block of blocks) await b.site.replayBlock(block);
    assert.equal(b.site.head.hash, a.site.head.hash);
    assert.equal(b.site.appliedIndex, 2);
  } finally {
    await a.cleanup();
    await b.cleanup();
  }
});

Deno.test("site: a peer's catch-up answer stops adding blocks past its byte cap, but always holds one, and the rest follows from where it stopped", async () => {
  const a = await openTestSite();
  const b = await openTestSite({ genesis: a.options.genesis, key: a.options.key });
  try {
    for (let h = 1; h <= 6; h++) {
      const txs = await Promise.all([1, 2, 3].map(() => anchorTx(device)));
      await a.site.applyEntry(h, { time: 1_800_000_000_000 + h, proposer: "site-a", term: 1, txs });
    }
    const all = await a.site.replayBlocks(1, 10);
    assert.deepEqual(all.map((x) => x.txs.length), [3, 3, 3, 3, 3, 3]);
    const blockBytes = (await a.site.store.txsByLogRange(0, 3))
      .reduce((n, t) => n + t.envelope.length, 0);
    // Two blocks' envelopes reach the cap: the answer stops after the second.
    const capped = await a.site.replayBlocks(1, 10, 2 * blockBytes - 1);
    assert.deepEqual(capped.map((x) => x.header.height), [1, 2]);
    assert.deepEqual(capped, all.slice(0, 2));
    assert.deepEqual((await a.site.replayBlocks(1, 10, 1)).map((x) => x.header.height), [1]);
    // A peer asking again from its head gets the rest and reaches the same chain.
    for (let from = 1; from <= 6;) {
      const part = await a.site.replayBlocks(from, 10, 2 * blockBytes - 1);
      for (const block of part) await b.site.replayBlock(block);
      from = b.site.head.header.height + 1;
    }
    assert.equal(b.site.head.hash, a.site.head.hash);
  } finally {
    await a.cleanup();
    await b.cleanup();
  }
});

Deno.test("site: opening a database with a different genesis is refused", async () => {
  const t = await openTestSite();
  try {
    await t.site.close();
    const other = { ...t.options.genesis, time: t.options.genesis.time + 1 };
    await assert.rejects(() => t.reopen({ genesis: other }), /different ledger/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: a batch keeps its order in the log, so a stream's anchors sent together all apply", async () => {
  const t = await openTestSite();
  try {
    const stream = "ordered";
    const envs = [];
    for (let seq = 1; seq <= 30; seq++) envs.push(await anchorTx(device, { stream, seq }));
    const r = await postJson(t.app, "/v1/txs?wait=commit", { txs: envs });
    const receipts = r.body.receipts as Array<{ logIndex: number; result: { status: string } }>;
    assert.ok(receipts.every((x) => x.result.status === "applied"));
    for (let i = 1; i < receipts.length; i++) {
      assert.ok(receipts[i].logIndex > receipts[i - 1].logIndex);
    }
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: contract state keys holding a NUL character are found again (storage reads keys as bytes)", async () => {
  const t = await openTestSite();
  try {
    await t.site.store.database.client.execute({
      sql: "INSERT INTO state (ns, key, value) VALUES (?, ?, ?), (?, ?, ?)",
      args: ["test.ns", "a\u0000b", '"one"', "test.ns", "a\u0000c", '"two"'],
    });
    assert.equal(await t.site.stateGet("test.ns", "a\u0000b", "stale"), "one");
    const range = await t.site.stateRange("test.ns", "a\u0000", { limit: 10 }, "stale");
    assert.deepEqual(range, [{ key: "a\u0000b", value: "one" }, { key: "a\u0000c", value: "two" }]);
    const after = await t.site.stateRange(
      "test.ns",
      "a\u0000",
      { limit: 10, after: "a\u0000b" },
      "stale",
    );
    assert.deepEqual(after.map((e) => e.key), ["a\u0000c"]);
  } finally {
    await t.cleanup();
  }
});

/**
 * A clock stopped half a minute into the current minute: the per-signer rate
 * limit counts in whole-minute windows, so a test whose admissions must share
 * one window cannot run across a minute's end (it did, once, in CI).
 */
function midMinute(): () => number {
  const now = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;
  return () => now;
}

Deno.test("site: the policy's per-signer rate limit refuses the excess with 429 and Retry-After", async () => {
  const key = generateKeyPair("ed25519");
  const genesis = testGenesis(key);
  genesis.policies.rateLimits = { signerTxsPerMinuteMax: 3 };
  const t = await openTestSite({ key, genesis, clock: midMinute() });
  try {
    const busy = generateKeyPair("ed25519");
    for (let i = 0; i < 3; i++) {
      const ok = await postJson(t.app, "/v1/txs", await anchorTx(busy));
      assert.ok(ok.status === 200 || ok.status === 202, `submit ${i} answered ${ok.status}`);
    }
    const over = await postJson(t.app, "/v1/txs", await anchorTx(busy));
    assert.equal(over.status, 429);
    assert.match(over.body.type, /rate_limited$/);
    assert.ok(Number(over.headers.get("retry-after")) >= 1);
    // Another signer is not affected.
    const other = await postJson(t.app, "/v1/txs", await anchorTx(generateKeyPair("ed25519")));
    assert.notEqual(other.status, 429);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: the leader counts forwarded transactions against the per-signer limit too, so it holds for the cluster, not per site", async () => {
  const key = generateKeyPair("ed25519");
  const genesis = testGenesis(key);
  genesis.policies.rateLimits = { signerTxsPerMinuteMax: 3 };
  const t = await openTestSite({ key, genesis, clock: midMinute() });
  try {
    const busy = generateKeyPair("ed25519");
    // One admitted here, then four forwarded by other sites (each within its own count).
    const own = await postJson(t.app, "/v1/txs", await anchorTx(busy));
    assert.ok(own.status === 200 || own.status === 202, `own submit answered ${own.status}`);
    const forwarded = await Promise.all(Array.from({ length: 4 }, () => anchorTx(busy)));
    const outcome = await t.site.acceptForwarded(forwarded);
    assert.equal(outcome.accepted, 2);
    assert.deepEqual(
      outcome.refused.map((r) => [r.txId, r.problem.type, r.problem.status]),
      forwarded.slice(2).map((e) => [transactionId(e), "rate_limited", 429]),
    );
    // The same forward again (its answer was lost): nothing charged twice, nothing new.
    const again = await t.site.acceptForwarded(forwarded.slice(0, 2));
    assert.deepEqual(again, { accepted: 0, refused: [] });
    // Another signer is not affected.
    const other = await t.site.acceptForwarded([await anchorTx(generateKeyPair("ed25519"))]);
    assert.equal(other.accepted, 1);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: the per-signer rate limit holds only the current minute's windows: a new minute drops the others at once, not by a sweep per admission", async () => {
  const key = generateKeyPair("ed25519");
  const genesis = testGenesis(key);
  genesis.policies.rateLimits = { signerTxsPerMinuteMax: 3 };
  let now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const t = await openTestSite({ key, genesis, clock: () => now });
  const windows = async () =>
    Number((await t.site.metrics()).match(/^edgeledger_rate_limit_signers (\d+)$/m)?.[1]);
  try {
    const busy = generateKeyPair("ed25519");
    for (const signer of [busy, busy, generateKeyPair("ed25519"), generateKeyPair("ed25519")]) {
      const r = await postJson(
        t.app,
        "/v1/txs",
        await anchorTx(signer, { expiresAt: now + 3600_000 }),
      );
      assert.ok(r.status === 200 || r.status === 202, `submit answered ${r.status}`);
    }
    assert.equal(await windows(), 3);
    now += 60_000;
    const next = await postJson(
      t.app,
      "/v1/txs",
      await anchorTx(busy, { expiresAt: now + 3600_000 }),
    );
    assert.ok(next.status === 200 || next.status === 202, `submit answered ${next.status}`);
    // The last minute's windows count for nothing now: none is held.
    assert.equal(await windows(), 1);
    // The new minute's count starts from the one admission: two more pass, the fourth is over.
    for (let i = 0; i < 2; i++) {
      const r = await postJson(
        t.app,
        "/v1/txs",
        await anchorTx(busy, { expiresAt: now + 3600_000 }),
      );
      assert.ok(r.status === 200 || r.status === 202, `submit ${i} answered ${r.status}`);
    }
    const over = await postJson(
      t.app,
      "/v1/txs",
      await anchorTx(busy, { expiresAt: now + 3600_000 }),
    );
    assert.equal(over.status, 429);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: the per-signer rate limit drops its windows when the clock steps back (NTP) instead of keeping every signer until the clock is past the old minute again", async () => {
  const key = generateKeyPair("ed25519");
  const genesis = testGenesis(key);
  genesis.policies.rateLimits = { signerTxsPerMinuteMax: 3 };
  let now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const t = await openTestSite({ key, genesis, clock: () => now });
  const windows = async () =>
    Number((await t.site.metrics()).match(/^edgeledger_rate_limit_signers (\d+)$/m)?.[1]);
  const submit = async (signer: ReturnType<typeof generateKeyPair>) => {
    const r = await postJson(
      t.app,
      "/v1/txs",
      await anchorTx(signer, { expiresAt: now + 600_000 }),
    );
    assert.ok(r.status === 200 || r.status === 202, `submit answered ${r.status}`);
  };
  try {
    for (let i = 0; i < 3; i++) await submit(generateKeyPair("ed25519"));
    assert.equal(await windows(), 3);
    // The clock steps back an hour, then runs on: each minute holds its own signers only.
    now -= 3600_000;
    await submit(generateKeyPair("ed25519"));
    assert.equal(await windows(), 1);
    now += 60_000;
    await submit(generateKeyPair("ed25519"));
    assert.equal(await windows(), 1);
    // A signer's count still holds within the minute after the step.
    const busy = generateKeyPair("ed25519");
    for (let i = 0; i < 3; i++) await submit(busy);
    const over = await postJson(
      t.app,
      "/v1/txs",
      await anchorTx(busy, { expiresAt: now + 600_000 }),
    );
    assert.equal(over.status, 429);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: envelopes forged in a signer's name are refused without using up its rate limit", async () => {
  const key = generateKeyPair("ed25519");
  const genesis = testGenesis(key);
  genesis.policies.rateLimits = { signerTxsPerMinuteMax: 3 };
  const t = await openTestSite({ key, genesis, clock: midMinute() });
  try {
    const victim = generateKeyPair("ed25519");
    const attacker = generateKeyPair("ed25519");
    for (let i = 0; i < 5; i++) {
      const forged = await anchorTx(attacker);
      forged.signers = [victim.did];
      const r = await postJson(t.app, "/v1/txs", forged);
      assert.equal(r.status, 422);
      assert.match(r.body.type, /bad_signature$/);
    }
    for (let i = 0; i < 3; i++) {
      const r = await postJson(t.app, "/v1/txs", await anchorTx(victim));
      assert.ok(r.status === 200 || r.status === 202, `genuine ${i} answered ${r.status}`);
    }
    assert.equal((await postJson(t.app, "/v1/txs", await anchorTx(victim))).status, 429);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: with its database in a storage worker, commits, proofs, restart and integrity work alike", async () => {
  const t = await openTestSite({ storage: "worker" });
  try {
    await checkStorageWorkerRoundTrip(t, device);
  } finally {
    await t.cleanup();
  }
});

for (const storage of ["inline", "worker"] as const) {
  Deno.test(`site: once close() resolves the database is let go — the same process may take it for itself, reopen it and close it again (${storage} storage)`, async () => {
    const t = await openTestSite({ storage });
    try {
      const path = `${t.dir}/ledger.db`;
      for (let round = 0; round < 2; round++) {
        const site = round === 0 ? t.site : await t.reopen({ storage });
        const env = await anchorTx(device, { stream: "close", seq: round + 1 });
        const [r] = await site.submit([env], { wait: true, waitTimeoutMs: 5000 });
        assert.equal(r.status, "committed");
        // A second call made while the first runs resolves when that one does.
        void site.close();
        await site.close();
        // What a restore does first: an exclusive lock (after collecting
        // this process's closed connections), then taking the database out
        // of WAL mode — both refused while any connection of this process
        // still holds it.
        assert.equal(await databaseHeld(path), false);
        await foldWal(path);
      }
      const last = await t.reopen({ storage });
      assert.equal((await last.status()).height, 2);
      await last.close();
    } finally {
      await t.cleanup();
    }
  });
}

Deno.test("site: an anchor whose signer was revoked while it was in flight is recorded as rejected at apply", async () => {
  const t = await openTestSite();
  try {
    const env = await anchorTx(device, { stream: "in-flight", seq: 1 });
    // Admitted while the key is in good standing…
    const admitted = await t.site.submit([env], { wait: false, waitTimeoutMs: 0 });
    assert.equal(admitted[0].status, "pending");
    // …then revoked before its block is built (as a revocation earlier in the log would).
    await t.site.store.database.client.execute({
      sql: "INSERT INTO state (ns, key, value) VALUES (?, ?, ?)",
      args: [STATUS_NS, device.did, JSON.stringify({ status: "revoked" })],
    });
    await t.site.applyEntry("next", { time: Date.now(), proposer: "site-a", term: 0, txs: [env] });
    const got = await t.site.getTx(transactionId(env), "stale");
    assert.equal(got?.receipt.result?.status, "rejected");
    assert.equal(got?.receipt.result?.code, "revoked_signer");
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: blocks executed while an earlier one is being written see its transactions and state (group commit)", async () => {
  const t = await openTestSite({ storage: "worker" });
  try {
    const first = await anchorTx(device, { stream: "grouped", seq: 1 });
    const sameSeq = await anchorTx(device, { stream: "grouped", seq: 1 });
    const next = await anchorTx(device, { stream: "grouped", seq: 2 });
    const batch = (tx: Envelope) => ({ time: Date.now(), proposer: "site-a", term: 0, txs: [tx] });
    // Four blocks in a row, none awaited: the first is written while the
    // others execute and queue behind it.
    await Promise.all(
      [first, sameSeq, next, first].map((tx) => t.site.applyEntry("next", batch(tx))),
    );
    const result = async (tx: Envelope) =>
      (await t.site.getTx(transactionId(tx), "stale"))?.receipt.result;
    assert.equal((await result(first))?.status, "applied");
    assert.equal((await result(sameSeq))?.status, "rejected", "seq 1 again on the same stream");
    assert.equal((await result(next))?.status, "applied");
    const status = await t.site.status();
    assert.equal(status.logSize, 3, "the repeated first transaction is not logged twice");
    assert.ok(
      t.site.counters.blockWrites < t.site.counters.blocks,
      `blocks were grouped: ${t.site.counters.blockWrites} writes for ${t.site.counters.blocks} blocks`,
    );
    assert.ok((await t.site.integrity()).ok);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: execution reads a state key from storage once, then sees later blocks' writes from memory", async () => {
  const t = await openTestSite();
  try {
    const fetched: string[] = [];
    const store = t.site.store;
    const read = store.stateValues.bind(store);
    store.stateValues = (keys) => {
      fetched.push(...keys.map((k) => `${k.ns}/${k.key}`));
      return read(keys);
    };
    const txs = [
      await anchorTx(device, { stream: "cached", seq: 1 }),
      await anchorTx(device, { stream: "cached", seq: 2 }),
      await anchorTx(device, { stream: "cached", seq: 2 }),
      await anchorTx(device, { stream: "cached", seq: 3 }),
    ];
    for (const tx of txs) {
      await t.site.applyEntry("next", { time: Date.now(), proposer: "site-a", term: 0, txs: [tx] });
    }
    const results = await Promise.all(
      txs.map(async (tx) => (await t.site.getTx(transactionId(tx), "stale"))?.receipt.result),
    );
    assert.deepEqual(results.map((r) => r?.status), ["applied", "applied", "rejected", "applied"]);
    assert.equal(results[2]?.code, "stream_seq_not_increasing");
    assert.equal(fetched.filter((k) => k === "data.stream/cached").length, 1, fetched.join(" "));
    assert.equal(fetched.filter((k) => k === `identity.status/${device.did}`).length, 1);
    assert.ok((await t.site.integrity()).ok);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: a peer's checkpoint lines are verified, then stored together; a forged line is not", async () => {
  const t = await openTestSite({ storage: "worker" });
  let reopened;
  try {
    const peer = await SiteKey.create(generateKeyPair("ed25519"));
    const forger = await SiteKey.create(generateKeyPair("ed25519"));
    const genuine = [];
    const forged = [];
    for (let i = 0; i < 3; i++) {
      await t.site.submit([await anchorTx(device)], { wait: true, waitTimeoutMs: 5000 });
      const height = t.site.head.header.height;
      const { text } = parseNote(await t.site.checkpoint("stale"));
      genuine.push({ height, line: await peer.noteLine(text, "site-b") });
      forged.push({ height, line: await forger.noteLine(text, "site-b") });
    }
    // Forged lines first: a stored forgery would also keep the genuine line out (one per site).
    await t.site.addCosignLines("site-b", verifierKey("site-b", peer.publicKey), [
      ...forged,
      ...genuine,
    ]);
    await t.site.close();
    reopened = await t.reopen({ storage: "worker" });
    for (const { height, line } of genuine) {
      const stored = await reopened.store.checkpointLines(height);
      const siteB = stored.filter((l) => l.site === "site-b").map((l) => l.line);
      assert.deepEqual(siteB, [line], `height ${height}: only the genuine line is stored`);
    }
  } finally {
    await reopened?.close();
    await t.cleanup();
  }
});

/** `site` as `site-a` and `peers` (name, key) as the other members, at made-up URLs. */
function membersOf(
  site: Site,
  peers: Array<[string, SiteKey]>,
): Array<{ name: string; url: string; publicKey: Uint8Array }> {
  return [
    { name: "site-a", url: "http://127.0.0.1:1", publicKey: site.siteKey.publicKey },
    ...peers.map(([name, key], i) => ({
      name,
      url: `http://127.0.0.1:${i + 2}`,
      publicKey: key.publicKey,
    })),
  ];
}

/** A Raft entry's batch of one fresh data.anchor, at a fixed leader time. */
async function oneAnchorBatch() {
  return { time: 1_800_000_000_000, proposer: "site-a", term: 1, txs: [await anchorTx(device)] };
}

/** Consensus as a site sees it, for a site that is told it leads voters `voters`. */
function fakeSequencer(
  site: Site,
  voters: string[],
  members: Array<{ name: string; url: string; publicKey: Uint8Array }>,
): Sequencer {
  return {
    propose: (batch) => site.applyEntry(site.appliedIndex + 1, batch),
    proposalsInFlightMax: 1,
    consensusStatus: () => ({
      role: "leader",
      term: 1,
      leader: site.name,
      commitIndex: site.appliedIndex,
      confState: { voters, learners: [] },
    }),
    readBarrier: () => Promise.resolve(),
    leaderUrl: () => undefined,
    broadcastCosign: () => {},
    members: () => members,
  };
}

/**
 * How a site cut off from having writes ordered answers: told by its
 * sequencer, for `ms` set (undefined: in touch), it refuses new
 * transactions 503 `unavailable` with `detail`, one by one in a batch, and
 * the ones it holds too (their client can have them ordered elsewhere),
 * answers the committed their receipts, says `field` in its status, and
 * takes transactions again once told it is in touch (the held one answered
 * `pending`, still held, not taken twice).
 */
async function checkCutOffSiteRefusesNewWrites(
  cutOff: (ms: () => number | undefined) => Partial<Sequencer>,
  field: "leaderlessMs" | "leaderUnreachableMs",
  detail: RegExp,
): Promise<void> {
  const t = await openTestSite();
  const held: Array<() => void> = [];
  try {
    const [committed] = await t.site.submit([await anchorTx(device)], {
      wait: true,
      waitTimeoutMs: 5000,
    });
    assert.equal(committed.status, "committed");
    const committedTx = (await t.site.getTx(committed.txId!, "stale"))!.tx;
    let ms: number | undefined;
    await t.site.attachSequencer({
      ...fakeSequencer(t.site, ["site-a", "site-b", "site-c"], []),
      // A leader that never orders anything: what it is given stays held.
      propose: () => {
        return new Promise((_resolve, reject) => held.push(() => reject(new Error("closed"))));
      },
      ...cutOff(() => ms),
    });
    const heldTx = await anchorTx(device);
    const [pending] = await t.site.submit([heldTx], { wait: false, waitTimeoutMs: 0 });
    assert.equal(pending.status, "pending");
    assert.equal((await t.site.status())[field], undefined);

    ms = 2345.6;
    const fresh = await anchorTx(device);
    await assert.rejects(
      t.site.submit([fresh], { wait: false, waitTimeoutMs: 0 }),
      (e: LedgerError) =>
        e.type === "unavailable" && e.status === 503 && e.extra.retryAfter === 1 &&
        e.extra.txId === transactionId(fresh) && detail.test(e.message) &&
        /; send them to another site \(GET \/v1\/sites lists them\)$/.test(e.message),
    );
    // A held one may still commit, and its refusal says so: the same envelope, elsewhere.
    await assert.rejects(
      t.site.submit([heldTx], { wait: false, waitTimeoutMs: 0 }),
      (e: LedgerError) =>
        e.type === "unavailable" && e.status === 503 && e.extra.txId === transactionId(heldTx) &&
        detail.test(e.message) &&
        /; it holds this transaction, which may still commit once it can forward it: resubmit the same envelope to another site/
          .test(e.message),
    );
    const batch = await t.site.submit([committedTx, heldTx, fresh], {
      wait: false,
      waitTimeoutMs: 0,
    });
    assert.deepEqual(batch.map((r) => r.status), ["committed", "refused", "refused"]);
    assert.equal(batch[0].height, committed.height);
    assert.equal(batch[1].problem!.type, "unavailable");
    assert.equal(batch[1].txId, transactionId(heldTx));
    assert.equal(batch[2].problem!.type, "unavailable");
    assert.equal(batch[2].txId, transactionId(fresh));
    const st = await t.site.status();
    assert.equal(st[field], 2346);
    assert.equal(st.pendingTxs, 1, "the held one is still held");

    // In touch again, it takes them.
    ms = undefined;
    const again = await t.site.submit([heldTx, fresh], { wait: false, waitTimeoutMs: 0 });
    assert.deepEqual(again.map((r) => r.status), ["pending", "pending"]);
    assert.equal((await t.site.status()).pendingTxs, 2);
    assert.equal((await t.site.status())[field], undefined);
  } finally {
    const closing = t.cleanup();
    for (const hand of held) hand();
    await closing;
  }
}

Deno.test("site: while it has known no leader for longer than an election takes, a site refuses new transactions 503 unavailable (one by one in a batch) and the ones it holds, answers the committed their receipts, and says so in its status", async () => {
  await checkCutOffSiteRefusesNewWrites(
    (ms) => ({ leaderlessMs: ms }),
    "leaderlessMs",
    /^Site site-a has heard from no leader for 2\.3 s, so it cannot have writes ordered;/,
  );
});

Deno.test("site: while its leader has answered none of its forwards for longer than an election takes, a site refuses new transactions 503 unavailable naming the leader (one by one in a batch) and the ones it holds, answers the committed their receipts, and says so in its status", async () => {
  await checkCutOffSiteRefusesNewWrites(
    (ms) => ({
      leaderUnreachable: () => {
        const v = ms();
        return v === undefined ? undefined : { leader: "site-b", ms: v };
      },
    }),
    "leaderUnreachableMs",
    /^Site site-a has had no answer from the leader site-b to what it forwarded for 2\.3 s, so it cannot have writes ordered;/,
  );
});

Deno.test("site: in a cluster the checkpoint, its height and the default proof size are the newest a quorum of voters signed, also after a restart", async () => {
  const keyB = await SiteKey.create(generateKeyPair("ed25519"));
  const keyC = await SiteKey.create(generateKeyPair("ed25519"));
  const t = await openTestSite();
  const members = [
    { name: "site-a", url: "http://127.0.0.1:1", publicKey: t.site.siteKey.publicKey },
    { name: "site-b", url: "http://127.0.0.1:2", publicKey: keyB.publicKey },
    { name: "site-c", url: "http://127.0.0.1:3", publicKey: keyC.publicKey },
    // Known to the directory, no longer a member.
    { name: "site-x", url: "http://127.0.0.1:4", publicKey: keyC.publicKey },
  ];
  const voters = ["site-a", "site-b", "site-c"];
  let reopened: Site | undefined;
  try {
    // Two blocks, each signed by this site alone.
    const ids: string[] = [];
    const texts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const [r] = await t.site.submit([await anchorTx(device)], {
        wait: true,
        waitTimeoutMs: 5000,
      });
      ids.push(r.txId!);
      texts.push(parseNote(await t.site.checkpoint("stale")).text);
    }
    await t.site.attachSequencer(fakeSequencer(t.site, voters, members));
    assert.equal((await t.site.status()).checkpointHeight, 0, "no block has a quorum yet");
    // site-b co-signs block 1: 2 of 3 voters.
    await t.site.addCosignLines("site-b", verifierKey("site-b", keyB.publicKey), [
      { height: 1, line: await keyB.noteLine(texts[0], "site-b") },
    ]);
    const note = await t.site.checkpoint("stale");
    const vks = members.slice(0, 3).map((m) => verifierKey(m.name, m.publicKey));
    assert.deepEqual(verifyNote(note, vks), ["site-a", "site-b"]);
    const cp = parseCheckpoint(parseNote(note).text);
    assert.equal(cp.size, 1);
    assert.equal((await t.site.status()).checkpointHeight, 1);
    const p = await t.site.proof(ids[0], undefined, "stale");
    assert.equal(p?.treeSize, 1);
    assert.ok(verifyInclusion(
      leafHash(base64urlDecode(p!.leaf)),
      p!.logIndex,
      cp.size,
      p!.proof.map(hexDecode),
      cp.rootHash,
    ));
    await assert.rejects(() => t.site.proof(ids[1], undefined, "stale"), /not yet in the latest/);
    assert.equal((await t.site.proof(ids[1], 2, "stale"))?.treeSize, 2);
    assert.deepEqual((await t.site.sites()).map((s) => s.name), voters);
    // After a restart the head's note has this site's line alone: block 1's is served.
    await t.site.close();
    reopened = await t.reopen();
    await reopened.attachSequencer(fakeSequencer(reopened, voters, members));
    assert.equal(await reopened.checkpoint("stale"), note);
    assert.equal((await reopened.status()).checkpointHeight, 1);
  } finally {
    await reopened?.close();
    await t.cleanup();
  }
});

Deno.test("site: a peer's checkpoint line for a block not applied yet counts once it is, a site added after genesis included", async () => {
  const keyD = await SiteKey.create(generateKeyPair("ed25519"));
  const t = await openTestSite();
  const twin = await openTestSite({ genesis: t.options.genesis, key: t.options.key });
  try {
    const members = membersOf(t.site, [["site-d", keyD]]);
    await t.site.attachSequencer(fakeSequencer(t.site, ["site-a", "site-d"], members));
    const batch = await oneAnchorBatch();
    // site-d applied block 1 first (here: a twin applying the same entry) and signed it.
    await twin.site.applyEntry(1, batch);
    const text = parseNote(await twin.site.checkpoint("stale")).text;
    await t.site.addCosignLines("site-d", verifierKey("site-d", keyD.publicKey), [
      { height: 1, line: await keyD.noteLine(text, "site-d") },
    ]);
    assert.equal((await t.site.status()).checkpointHeight, 0);
    await t.site.applyEntry(1, batch);
    assert.equal((await t.site.status()).checkpointHeight, 1);
    const vks = members.map((m) => verifierKey(m.name, m.publicKey));
    assert.deepEqual(verifyNote(await t.site.checkpoint("stale"), vks), ["site-a", "site-d"]);
  } finally {
    await t.cleanup();
    await twin.cleanup();
  }
});

Deno.test("site: a peer's early checkpoint line is checked, once its block is applied, against the keys the member may sign it with then: a key retired in between does not count", async () => {
  const [old, current] = await Promise.all(
    [0, 1].map(() => SiteKey.create(generateKeyPair("ed25519"))),
  );
  const t = await openTestSite();
  const twin = await openTestSite({ genesis: t.options.genesis, key: t.options.key });
  try {
    const members = membersOf(t.site, [["site-d", current]]);
    await t.site.attachSequencer(fakeSequencer(t.site, ["site-a", "site-d"], members));
    const batch = await oneAnchorBatch();
    await twin.site.applyEntry(1, batch);
    const text = parseNote(await twin.site.checkpoint("stale")).text;
    // When the line came, site-d's key here was `old`; a rotation applied before block 1 retired it.
    let keys = [verifierKey("site-d", old.publicKey)];
    await t.site.addCosignLines("site-d", () => keys, [
      { height: 1, line: await old.noteLine(text, "site-d") },
    ]);
    keys = [verifierKey("site-d", current.publicKey)];
    await t.site.applyEntry(1, batch);
    assert.equal(
      (await t.site.status()).checkpointHeight,
      0,
      "no quorum: the old key's line is not counted",
    );
    const vks = members.map((m) => verifierKey(m.name, m.publicKey));
    assert.deepEqual(verifyNote(await t.site.checkpoint("stale"), vks), ["site-a"]);
    // site-d's line by its current key counts.
    await t.site.addCosignLines("site-d", () => keys, [
      { height: 1, line: await current.noteLine(text, "site-d") },
    ]);
    assert.equal((await t.site.status()).checkpointHeight, 1);
  } finally {
    await t.cleanup();
    await twin.cleanup();
  }
});

Deno.test("site: a member's line for another block at the same height is a divergence; once a majority of the voters diverged, the site halts; each divergence and the halt are logged once", async () => {
  const keyB = await SiteKey.create(generateKeyPair("ed25519"));
  const keyC = await SiteKey.create(generateKeyPair("ed25519"));
  const rec = recordingLogger({ site: "site-a" });
  const t = await openTestSite({ log: rec.log });
  // The other replicas executed the same height into another block (here: a
  // twin given another leader time, as a nondeterministic executor would).
  const other = await openTestSite({ genesis: t.options.genesis, key: t.options.key });
  try {
    const members = membersOf(t.site, [["site-b", keyB], ["site-c", keyC]]);
    await t.site.attachSequencer(fakeSequencer(t.site, ["site-a", "site-b", "site-c"], members));
    const tx = await anchorTx(device);
    const batch = { time: 1_800_000_000_000, proposer: "site-a", term: 1, txs: [tx] };
    await t.site.applyEntry(1, batch);
    await other.site.applyEntry(1, { ...batch, time: batch.time + 1 });
    const ours = t.site.head.hash;
    const theirs = other.site.head.hash;
    assert.notEqual(ours, theirs);
    const theirText = parseNote(await other.site.checkpoint("stale")).text;
    const lineOf = async (key: SiteKey, name: string) => ({
      height: 1,
      line: await key.noteLine(theirText, name),
    });
    const metric = () =>
      Number(/edgeledger_checkpoint_divergent_lines_total (\d+)/.exec(t.site.metrics())![1]);

    // A line that does not verify but names our block is garbled, not a fork;
    // one from a sender that names no block proves nothing either.
    await t.site.addCosignLines("site-b", verifierKey("site-b", keyB.publicKey), [
      { ...(await lineOf(keyB, "site-b")), hash: ours },
      await lineOf(keyB, "site-b"),
    ]);
    assert.equal((await t.site.status()).divergence, undefined);
    assert.equal(metric(), 0);

    // site-b signed another block: recorded, but site-c may still agree with us.
    await t.site.addCosignLines("site-b", verifierKey("site-b", keyB.publicKey), [
      { ...(await lineOf(keyB, "site-b")), hash: theirs },
    ]);
    let status = await t.site.status();
    assert.deepEqual(status.divergence, [{ site: "site-b", height: 1, ours, theirs }]);
    assert.equal(status.healthy, true);
    assert.equal(metric(), 1);
    const diverged = "checkpoint divergence: a member signed another block at this height";
    assert.deepEqual(
      rec.said(diverged).map((r) => [r.level, r.peer, r.height, r.ours, r.theirs]),
      [["error", "site-b", 1, ours, theirs]],
    );
    assert.equal(rec.said("site halted").length, 0);
    await t.site.submit([await anchorTx(device)], { wait: true, waitTimeoutMs: 5000 });

    // site-c too: two of three voters hold another chain, so this replica is
    // the one that diverged, and it stops taking writes.
    await t.site.addCosignLines("site-c", verifierKey("site-c", keyC.publicKey), [
      { ...(await lineOf(keyC, "site-c")), hash: theirs },
    ]);
    status = await t.site.status();
    assert.equal(status.healthy, false);
    assert.deepEqual((status.divergence as Array<{ site: string }>).map((d) => d.site), [
      "site-b",
      "site-c",
    ]);
    const after = await anchorTx(device);
    await assert.rejects(
      () => t.site.submit([after], { wait: true, waitTimeoutMs: 5000 }),
      (e: Error & { type?: string }) => e.type === "unavailable",
    );
    assert.deepEqual(rec.said(diverged).map((r) => r.peer), ["site-b", "site-c"]);
    const halted = rec.said("site halted");
    assert.equal(halted.length, 1);
    assert.equal(halted[0].reason, "the replicas diverged");
    assert.match((halted[0].error as { message: string }).message, /^Cannot go on: 2 of 3 voters/);
  } finally {
    await t.cleanup();
    await other.cleanup();
  }
});

Deno.test("site: a diverged member that signs this site's block again (it was replaced) no longer counts towards a majority against it", async () => {
  const keyB = await SiteKey.create(generateKeyPair("ed25519"));
  const keyC = await SiteKey.create(generateKeyPair("ed25519"));
  const t = await openTestSite({ log: silentLogger });
  const other = await openTestSite({ genesis: t.options.genesis, key: t.options.key });
  try {
    const members = membersOf(t.site, [["site-b", keyB], ["site-c", keyC]]);
    const batch = await oneAnchorBatch();
    await t.site.applyEntry(1, batch);
    await other.site.applyEntry(1, { ...batch, time: batch.time + 1 });
    // Block 1's text before the sequencer: then the note is the head's.
    const ourText = parseNote(await t.site.checkpoint("stale")).text;
    await t.site.attachSequencer(fakeSequencer(t.site, ["site-a", "site-b", "site-c"], members));
    const theirText = parseNote(await other.site.checkpoint("stale")).text;
    const ours = t.site.head.hash;
    const theirs = other.site.head.hash;
    // site-c diverged at block 1 ...
    await t.site.addCosignLines("site-c", verifierKey("site-c", keyC.publicKey), [
      { height: 1, line: await keyC.noteLine(theirText, "site-c"), hash: theirs },
    ]);
    assert.equal((await t.site.status()).divergence !== undefined, true);
    // ... was replaced, caught up, and signs our block 1.
    await t.site.addCosignLines("site-c", verifierKey("site-c", keyC.publicKey), [
      { height: 1, line: await keyC.noteLine(ourText, "site-c"), hash: ours },
    ]);
    assert.equal((await t.site.status()).divergence, undefined);
    // Now site-b diverges: one of three voters, so this site goes on.
    await t.site.addCosignLines("site-b", verifierKey("site-b", keyB.publicKey), [
      { height: 1, line: await keyB.noteLine(theirText, "site-b"), hash: theirs },
    ]);
    const status = await t.site.status();
    assert.deepEqual(status.divergence, [{ site: "site-b", height: 1, ours, theirs }]);
    assert.equal(status.healthy, true);
  } finally {
    await t.cleanup();
    await other.cleanup();
  }
});

Deno.test("site: a divergent line for a block not applied yet is judged once the block is; two voters split one against one both halt", async () => {
  const keyB = await SiteKey.create(generateKeyPair("ed25519"));
  const t = await openTestSite({ log: silentLogger });
  const other = await openTestSite({ genesis: t.options.genesis, key: t.options.key });
  try {
    const members = membersOf(t.site, [["site-b", keyB]]);
    await t.site.attachSequencer(fakeSequencer(t.site, ["site-a", "site-b"], members));
    const batch = await oneAnchorBatch();
    await other.site.applyEntry(1, { ...batch, time: batch.time + 1 });
    const text = parseNote(await other.site.checkpoint("stale")).text;
    await t.site.addCosignLines("site-b", verifierKey("site-b", keyB.publicKey), [
      { height: 1, line: await keyB.noteLine(text, "site-b"), hash: other.site.head.hash },
    ]);
    assert.equal(
      (await t.site.status()).divergence,
      undefined,
      "not judged before block 1 applies",
    );
    await t.site.applyEntry(1, batch);
    const status = await t.site.status();
    assert.deepEqual(status.divergence, [{
      site: "site-b",
      height: 1,
      ours: t.site.head.hash,
      theirs: other.site.head.hash,
    }]);
    // One of two voters diverged: neither side is a majority, so this site
    // halts (and so does the other, by the same rule).
    assert.equal(status.healthy, false);
  } finally {
    await t.cleanup();
    await other.cleanup();
  }
});

Deno.test("site: a leader answers which forwarded transactions it refuses and why, and the forwarding site tells its waiting client", async () => {
  // The leader's clock is two minutes behind: an expiry the follower
  // accepted is too far in the future for it.
  const leader = await openTestSite({ clock: () => Date.now() - 120_000 });
  const follower = await openTestSite();
  try {
    const late = await anchorTx(device, { expiresAt: Date.now() + 24 * 3600_000 - 30_000 });
    const fine = await anchorTx(device);
    const outcome = await leader.site.acceptForwarded([late, fine]);
    assert.equal(outcome.accepted, 1);
    assert.deepEqual(outcome.refused.map((r) => [r.txId, r.problem.type]), [
      [transactionId(late), "expires_too_far"],
    ]);
    // The follower forwards `late` and hears the leader's refusal.
    const sequencer = fakeSequencer(follower.site, ["site-a", "site-b", "site-c"], []);
    sequencer.propose = () => Promise.resolve(outcome);
    await follower.site.attachSequencer(sequencer);
    const [receipt] = await follower.site.submit([late], { wait: true, waitTimeoutMs: 5000 });
    assert.equal(receipt.status, "refused");
    assert.equal(receipt.problem?.type, "expires_too_far");
  } finally {
    await leader.cleanup();
    await follower.cleanup();
  }
});

Deno.test("site: a block holds at most batchBytesMax of envelopes; the rest go in the next blocks", async () => {
  const env = await anchorTx(device);
  const bytes = new TextEncoder().encode(JSON.stringify(env)).length;
  const t = await openTestSite({ batchBytesMax: bytes * 2 + bytes / 2, batchDelayMs: 20 });
  try {
    const envs = await Promise.all(Array.from({ length: 7 }, () => anchorTx(device)));
    const receipts = await t.site.submit(envs, { wait: true, waitTimeoutMs: 10_000 });
    assert.deepEqual(receipts.map((r) => r.status), Array(7).fill("committed"));
    const blocks = await t.site.blocks(1, 10, "stale");
    assert.ok(
      blocks.every((b) => b.header.txCount <= 2),
      blocks.map((b) => b.header.txCount).join(),
    );
    assert.equal(blocks.reduce((n, b) => n + b.header.txCount, 0), 7);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: with a storage worker, what status reports is readable: its head block and a consistency proof up to its log size, under load", async () => {
  const t = await openTestSite({ storage: "worker", batchTxsMax: 4 });
  const errors: string[] = [];
  let stop = false;
  try {
    const k = generateKeyPair("ed25519");
    const envs = await Promise.all(Array.from({ length: 600 }, () => anchorTx(k)));
    let polls = 0;
    const poller = (async () => {
      while (!stop) {
        const s = (await getJson(t.app, "/v1/status")).body;
        if (s.logSize >= 2) {
          const r = await getJson(t.app, `/v1/consistency?from=1&to=${s.logSize}`);
          if (r.status !== 200) errors.push(`consistency: ${r.status} ${r.body.detail}`);
          const b = await getJson(t.app, `/v1/blocks/${s.height}`);
          if (b.status !== 200) errors.push(`block ${s.height}: ${b.status}`);
          polls++;
        }
        await new Promise((r) => setTimeout(r, 0));
      }
    })();
    const submits = [];
    for (let i = 0; i < envs.length; i += 40) {
      submits.push(postJson(t.app, "/v1/txs", { txs: envs.slice(i, i + 40) }));
    }
    await Promise.all(submits);
    for (let i = 0; i < 500 && (await t.site.status()).logSize < envs.length; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    stop = true;
    await poller;
    assert.equal((await t.site.status()).logSize, envs.length);
    assert.ok(polls >= 5, `${polls} polls`);
    assert.deepEqual(errors, []);
  } finally {
    stop = true;
    await t.cleanup();
  }
});

Deno.test("site: integrity checks run one at a time, shared by concurrent callers", async () => {
  const t = await openTestSite();
  try {
    await t.site.submit([await anchorTx(device)], { wait: true, waitTimeoutMs: 5000 });
    const [a, b] = await Promise.all([t.site.integrity(), t.site.integrity()]);
    assert.ok(a.ok);
    assert.equal(a, b, "one check answered both");
    assert.notEqual(await t.site.integrity(), a, "a later call checks again");
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: with a storage worker, a block that fails to write stops the site; no block built on it is written or acknowledged; the halt is logged once, naming the block", async () => {
  const rec = recordingLogger({ site: "site-a" });
  const t = await openTestSite({ storage: "worker", log: rec.log });
  let reopened: Site | undefined;
  // A connection of the test's own (the site's database is on its worker thread).
  const side = await openDatabase(t.options.dbUrl);
  const exec = (sql: string) => side.client.execute(sql);
  try {
    await t.site.submit([await anchorTx(device)], { wait: true, waitTimeoutMs: 5000 });
    const h = t.site.head.header.height;
    // The disk refuses exactly the next block (as a full disk or an I/O error would).
    await exec(`CREATE TRIGGER fail_next BEFORE INSERT ON blocks WHEN NEW.height = ${h + 1}
      BEGIN SELECT RAISE(ABORT, 'simulated I/O error'); END`);
    const envs = await Promise.all([0, 1, 2, 3].map(() => anchorTx(device)));
    const results = await Promise.allSettled(
      envs.map((tx) =>
        t.site.applyEntry("next", { time: Date.now(), proposer: "site-a", term: 0, txs: [tx] })
      ),
    );
    assert.deepEqual(results.map((r) => r.status), Array(4).fill("rejected"));
    await exec("DROP TRIGGER fail_next");
    const stored = await t.site.store.blockRange(0, 100);
    assert.equal(stored.at(-1)?.height, h, "nothing above the failed block was written");
    assert.equal((await t.site.status()).healthy, false);
    await assert.rejects(
      () => t.site.submit([envs[0]], { wait: false, waitTimeoutMs: 0 }),
      /cannot write blocks/,
    );
    const halted = rec.said("site halted");
    assert.equal(halted.length, 1);
    assert.equal(halted[0].reason, `cannot write block ${h + 1}`);
    assert.match((halted[0].error as { message: string }).message, /simulated I\/O error/);
    await t.site.close();
    reopened = await t.reopen({ storage: "worker" });
    assert.equal(reopened.head.header.height, h);
    assert.ok((await reopened.integrity()).ok);
  } finally {
    side.close();
    await reopened?.close();
    await t.cleanup();
  }
});

Deno.test("site: a leader judges forwarded transactions by the expiry window governance set, as the forwarding site did", async () => {
  const siteKey = generateKeyPair("ed25519");
  const admin = generateKeyPair("ed25519");
  const genesis = testGenesis(siteKey);
  genesis.organisations[0].admins = [admin.did];
  const t = await openTestSite({ genesis, key: siteKey });
  try {
    const week = 7 * 24 * 3600_000;
    const set = await signEnvelope(
      govProposal("gov.setPolicy", { expiryWindowMs: week }, [admin.did], { ledger: "demo" }),
      [softwareSigner(admin)],
    );
    assert.equal(
      (await t.site.submit([set], { wait: true, waitTimeoutMs: 5000 }))[0].status,
      "committed",
    );
    // Expires in two days: too far for genesis's 24 h, fine for the week governance set.
    const twoDays = await anchorTx(device, { expiresAt: Date.now() + 48 * 3600_000 });
    const outcome = await t.site.acceptForwarded([twoDays]);
    assert.deepEqual(outcome, { accepted: 1, refused: [] });
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: once a stop begins, new writes answer 503 unavailable with Retry-After, while a commit wait admitted before gets its committed receipt; drain() resolves once it has", async () => {
  // Batches wait 300 ms: the first write is still uncommitted when the stop begins.
  const t = await openTestSite({ batchDelayMs: 300 });
  try {
    const inFlight = postJson(t.app, "/v1/txs?wait=commit", await anchorTx(device));
    for (let i = 0; i < 200 && (await t.site.status()).pendingTxs === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal((await t.site.status()).pendingTxs, 1);
    t.site.stopAdmitting();
    const late = await postJson(t.app, "/v1/txs?wait=commit", await anchorTx(device));
    assert.equal(late.status, 503);
    assert.equal(late.headers.get("content-type"), "application/problem+json");
    assert.match(late.body.type, /\/unavailable$/);
    assert.equal(late.body.title, "Service unavailable");
    assert.match(late.body.detail, /shutting down/);
    assert.equal(late.headers.get("retry-after"), "1");
    const forwarded = t.site.acceptForwarded([await anchorTx(device)]);
    await assert.rejects(forwarded, /shutting down/, "a peer's forwarded write is refused too");
    assert.equal(await t.site.drain(5000), true);
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.equal(answer.body.status, "committed");
    assert.equal((await t.site.status()).height, 1, "the refused writes are in no block");
    // Reads are still served until the site closes.
    assert.equal((await getJson(t.app, `/v1/txs/${answer.body.txId}`)).status, 200);
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: a stop's drain is timed with a monotonic clock: the wall clock stepped an hour forward does not cut it short", async () => {
  // The site's own clock is injected, so the step below reaches the drain's timing only.
  const real = Date.now;
  const t = await openTestSite({ batchDelayMs: 300, clock: () => real() });
  try {
    const inFlight = postJson(t.app, "/v1/txs?wait=commit", await anchorTx(device));
    for (let i = 0; i < 200 && (await t.site.status()).pendingTxs === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    t.site.stopAdmitting();
    const drained = t.site.drain(5000);
    Date.now = () => real() + 3600_000;
    try {
      assert.equal(await drained, true, "drain waited for the commit instead of giving up");
    } finally {
      Date.now = real;
    }
    assert.equal((await inFlight).body.status, "committed");
  } finally {
    await t.cleanup();
  }
});

Deno.test("site: a stop's drain that runs out of time answers the commit waits still open at once with their pending receipt (202), as their own timeout would", async () => {
  const t = await openTestSite({ batchDelayMs: 60_000 });
  try {
    const started = Date.now();
    const inFlight = postJson(t.app, "/v1/txs?wait=commit&timeoutMs=30000", await anchorTx(device));
    for (let i = 0; i < 200 && (await t.site.status()).pendingTxs === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    t.site.stopAdmitting();
    assert.equal(await t.site.drain(100), false);
    const answer = await inFlight;
    assert.equal(answer.status, 202);
    assert.equal(answer.body.status, "pending");
    assert.ok(Date.now() - started < 10_000, "answered long before its own timeout");
  } finally {
    await t.cleanup();
  }
});
