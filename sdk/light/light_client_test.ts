import assert from "node:assert/strict";
import { generateKeyPair, signSync, softwareSigner } from "../keys.ts";
import { retirementText, rotationText } from "../key_rotation.ts";
import { assembleNote, parseNote, signNoteLine, verifierKey } from "../note.ts";
import { formatCheckpoint } from "../checkpoint.ts";
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  rootFromLeafHashes,
} from "../merkle.ts";
import { canonicalJson } from "../canonical_json.ts";
import { createEnvelope, type Envelope, signEnvelope, transactionId } from "../envelope.ts";
import { blockHash, type BlockHeader } from "../block.ts";
import { base64urlEncode, hexEncode, utf8Encode } from "../encoding.ts";
import { type BlockView, EdgeLedgerClient } from "../client/client.ts";
import { NetworkError, NotFoundError, RejectedError } from "../client/errors.ts";
import { FileTrustStore } from "./file_trust_store.ts";
import { fetchReceiptBundle, LightClient, type LightSource } from "./light_client.ts";
import { MemoryTrustStore } from "./trust_store.ts";

const keyA = verifierKey("site-a", generateKeyPair("ed25519").publicKey);
const keyB = verifierKey("site-b", generateKeyPair("ed25519").publicKey);

Deno.test("LightClient refuses a quorum larger than the distinct trusted names", () => {
  assert.throws(() => new LightClient({ trustedKeys: [keyA, keyB], quorum: 3 }), RangeError);
  assert.throws(() => new LightClient({ trustedKeys: [keyA, keyA], quorum: 2 }), RangeError);
  assert.throws(() => new LightClient({ trustedKeys: [keyA], quorum: 0 }), RangeError);
});

Deno.test("LightClient refuses one public key under two site names: one signer would count twice toward the quorum", () => {
  const pair = generateKeyPair("ed25519");
  const a = verifierKey("site-a", pair.publicKey);
  const b = verifierKey("site-b", pair.publicKey);
  assert.throws(() => new LightClient({ trustedKeys: [a, b], quorum: 2 }), /one key, two names/);
  assert.throws(
    () =>
      new LightClient({
        trustedKeys: [a, keyB],
        retiredKeys: [{ key: b, untilHeight: 5 }],
        quorum: 2,
      }),
    /one key, two names/,
  );
});

Deno.test("LightClient refuses a malformed trusted key", () => {
  assert.throws(
    () => new LightClient({ trustedKeys: ["site-a+00000000+AAAA"], quorum: 1 }),
    /bad trusted key/,
  );
});

Deno.test("LightClient.verifyBundle() rejects a checkpoint that is not a signed note", async () => {
  const light = new LightClient({ trustedKeys: [keyA], quorum: 1 });
  const verdict = await light.verifyBundle({
    txId: "ab".repeat(32),
    tx: {},
    receipt: { txId: "ab".repeat(32), status: "committed" },
    proof: { logIndex: 0, treeSize: 1, leaf: "", proof: [] },
    checkpoint: "not a note",
  });
  assert.equal(verdict.ok, false);
  assert.equal(verdict.reason, "checkpoint_malformed");
  assert.equal(await light.trusted(), undefined);
});

Deno.test("LightClient.verify() needs a source", async () => {
  const light = new LightClient({ trustedKeys: [keyA], quorum: 1 });
  await assert.rejects(() => light.verify("ab".repeat(32)), TypeError);
});

Deno.test("FileTrustStore round-trips the trusted checkpoint and starts empty", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new FileTrustStore(`${dir}/x/trusted.json`);
    assert.equal(await store.load(), undefined);
    const cp = {
      origin: "o",
      size: 3,
      rootHash: "00".repeat(32),
      height: 2,
      blockHash: "11".repeat(32),
      note: "n",
    };
    await store.save(cp);
    assert.deepEqual(await new FileTrustStore(`${dir}/x/trusted.json`).load(), cp);
    await Deno.writeTextFile(`${dir}/x/trusted.json`, "{}");
    await assert.rejects(() => store.load(), /malformed fields/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileTrustStore: a save never replaces a larger checkpoint of the same log, and saves at once leave a whole file and no temporary ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/trusted.json`;
    const cp = (origin: string, size: number) => ({
      origin,
      size,
      rootHash: size.toString(16).padStart(64, "0"),
      height: size,
      blockHash: "11".repeat(32),
      note: "n".repeat(size * 10),
    });
    // Another process trusted a later checkpoint first: it stays.
    await new FileTrustStore(path).save(cp("o", 9));
    await new FileTrustStore(path).save(cp("o", 5));
    assert.equal((await new FileTrustStore(path).load())?.size, 9);
    // A larger one replaces it; so does any of another log (a new ledger).
    await new FileTrustStore(path).save(cp("o", 12));
    assert.equal((await new FileTrustStore(path).load())?.size, 12);
    await new FileTrustStore(path).save(cp("p", 1));
    assert.deepEqual(await new FileTrustStore(path).load(), cp("p", 1));
    // Many saves at once (each its own store, as separate processes): the
    // file reads whole, holds the largest, and no temporary file is left.
    await Promise.all(
      Array.from(
        { length: 40 },
        (_, i) => new FileTrustStore(path).save(cp("p", 2 + (i * 7) % 40)),
      ),
    );
    assert.equal((await new FileTrustStore(path).load())?.size, 41);
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["trusted.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The checkpoint text of the empty log at block 0. */
const EMPTY_LOG_TEXT = formatCheckpoint({
  origin: "edgeledger.test/demo",
  size: 0,
  rootHash: EMPTY_ROOT,
  height: 0,
  blockHash: "00".repeat(32),
});

/** A site key and its signed checkpoint of the empty log. */
function emptyLogNote() {
  const site = generateKeyPair("ed25519");
  const text = EMPTY_LOG_TEXT;
  return { site, note: assembleNote(text, [signNoteLine(text, "site-a", site.secretKey)]) };
}

/** The empty log's checkpoint as of block `height`, signed by each [name, key]. */
function emptyLogNoteAt(height: number, signers: Array<[string, { secretKey: Uint8Array }]>) {
  const text = formatCheckpoint({
    origin: "edgeledger.test/demo",
    size: 0,
    rootHash: EMPTY_ROOT,
    height,
    blockHash: "00".repeat(32),
  });
  return assembleNote(text, signers.map(([name, k]) => signNoteLine(text, name, k.secretKey)));
}

/** A source that serves `note` as its checkpoint and nothing else. */
function checkpointOnly(note: string): LightSource {
  return {
    checkpoint: () => Promise.resolve(note),
    consistency: () => Promise.reject(new Error("unused")),
    getTx: () => Promise.reject(new Error("unused")),
    proof: () => Promise.reject(new Error("unused")),
    blocks: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error("unused")) }),
    }),
  };
}

Deno.test("LightClient reads the checkpoint from any replica when no leader answers", async () => {
  const { site, note } = emptyLogNote();
  const asked: Array<string | undefined> = [];
  const source: LightSource = {
    checkpoint: (options) => {
      asked.push(options?.consistency);
      return options?.consistency === "leader"
        ? Promise.reject(new NetworkError("Cannot reach the leader"))
        : Promise.resolve(note);
    },
    consistency: () => Promise.reject(new Error("unused")),
    getTx: () => Promise.reject(new Error("unused")),
    proof: () => Promise.reject(new Error("unused")),
    blocks: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error("unused")) }),
    }),
  };
  const light = new LightClient({
    source,
    trustedKeys: [verifierKey("site-a", site.publicKey)],
    quorum: 1,
  });
  const verdict = await light.updateCheckpoint();
  assert.equal(verdict.ok, true, verdict.message);
  assert.deepEqual(asked, ["leader", "stale"]);
  assert.equal((await light.trusted())?.size, 0);
});

/**
 * An honest ledger of two blocks, one transaction each, with its checkpoint
 * signed by site-a, served by a source whose `blocks()` returns
 * `blocksServed(consistency)` of them (a lagging replica returns fewer).
 * `txId` is the transaction of block 1; `asked` records each `blocks()`
 * consistency.
 */
async function twoBlockLedger(blocksServed: (consistency: string | undefined) => number) {
  const siteKey = generateKeyPair("ed25519");
  const author = generateKeyPair("ed25519");
  const txs: Envelope[] = [];
  for (let seq = 0; seq < 2; seq++) {
    const unsigned = createEnvelope({
      ledger: "demo",
      kind: "data.anchor",
      body: { stream: "s", seq, root: "00".repeat(32), count: 1, from: 0, to: 0 },
      signers: [author.did],
    });
    txs.push(await signEnvelope(unsigned, [softwareSigner(author)]));
  }
  const result = { status: "applied" as const };
  const leaves = txs.map((tx) => utf8Encode(canonicalJson({ tx, result })));
  const hashes = leaves.map(leafHash);
  const blocks: BlockView[] = [];
  for (let height = 1; height <= 2; height++) {
    const header: BlockHeader = {
      v: 1,
      ledger: "demo",
      height,
      prev: height === 1 ? "ab".repeat(32) : blocks[0].hash,
      time: height,
      term: 1,
      proposer: "site-a",
      txCount: 1,
      logSize: height,
      logRoot: hexEncode(rootFromLeafHashes(hashes.slice(0, height))),
    };
    blocks.push({ hash: blockHash(header), header, txIds: [transactionId(txs[height - 1])] });
  }
  const text = formatCheckpoint({
    origin: "edgeledger.test/demo",
    size: 2,
    rootHash: rootFromLeafHashes(hashes),
    height: 2,
    blockHash: blocks[1].hash,
  });
  const note = assembleNote(text, [signNoteLine(text, "site-a", siteKey.secretKey)]);
  const txId = transactionId(txs[0]);
  const asked: Array<string | undefined> = [];
  const source: LightSource = {
    checkpoint: () => Promise.resolve(note),
    consistency: () => Promise.reject(new Error("unused")),
    getTx: () =>
      Promise.resolve({
        tx: txs[0] as unknown as Record<string, unknown>,
        receipt: { txId, status: "committed", height: 1, logIndex: 0, result },
      }),
    proof: () =>
      Promise.resolve({
        logIndex: 0,
        treeSize: 2,
        leaf: base64urlEncode(leaves[0]),
        proof: inclusionProof(0, hashes).map(hexEncode),
      }),
    async *blocks(options) {
      asked.push(options.consistency);
      for (const block of blocks.slice(0, blocksServed(options.consistency))) {
        const h = block.header.height;
        if (h >= (options.from ?? 0) && h < (options.to ?? Infinity)) yield block;
      }
    },
  };
  const light = new LightClient({
    source,
    trustedKeys: [verifierKey("site-a", siteKey.publicKey)],
    quorum: 1,
  });
  return { light, txId, asked, source, siteKey, hashes, blocks, txs, leaves, note, result };
}

Deno.test("LightClient.verify() reads the blocks a lagging replica lacks from the leader; a chain short there too is block_mismatch", async () => {
  // The replica is one block behind the checkpoint, the leader is not.
  const lagging = await twoBlockLedger((consistency) => consistency === "leader" ? 2 : 1);
  const verdict = await lagging.light.verify(lagging.txId);
  assert.equal(verdict.reason, "ok", verdict.message);
  assert.equal(verdict.blockVerified, true);
  assert.deepEqual(lagging.asked, ["stale", "leader"]);

  // Even the leader lacks the checkpoint's block: the chain is broken.
  const broken = await twoBlockLedger(() => 1);
  const v2 = await broken.light.verify(broken.txId);
  assert.equal(v2.reason, "block_mismatch", v2.message);
  assert.deepEqual(broken.asked, ["stale", "leader"]);
});

Deno.test("LightClient.verify() reports an answer whose body broke off as unavailable, not malformed", async () => {
  const { site, note } = emptyLogNote();
  const fetchFn = ((input: URL | RequestInfo) => {
    const url = new URL(input instanceof Request ? input.url : input);
    if (url.pathname === "/v1/checkpoint") {
      return Promise.resolve(new Response(note, { headers: { "content-type": "text/plain" } }));
    }
    // The transaction's answer starts, then the connection resets.
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.error(new TypeError("connection reset by peer"));
        sent = true;
        controller.enqueue(utf8Encode('{"tx":{'));
      },
    });
    return Promise.resolve(
      new Response(body, { headers: { "content-type": "application/json" } }),
    );
  }) as typeof fetch;
  const light = new LightClient({
    source: new EdgeLedgerClient({
      urls: "http://a",
      fetch: fetchFn,
      retry: { attemptsMax: 2, delayMsBase: 1, delayMsMax: 1 },
    }),
    trustedKeys: [verifierKey("site-a", site.publicKey)],
    quorum: 1,
  });
  const verdict = await light.verify("ab".repeat(32));
  assert.equal(verdict.reason, "unavailable", verdict.message);
});

Deno.test("fetchReceiptBundle() needs no trusted keys, and its bundle verifies with no source", async () => {
  const ledger = await twoBlockLedger(() => 2);
  const bundle = await fetchReceiptBundle(ledger.source, ledger.txId);
  assert.ok(!("reason" in bundle), JSON.stringify(bundle));
  assert.equal(bundle.txId, ledger.txId);
  assert.equal(bundle.proof.treeSize, 2);
  assert.deepEqual(bundle.chain?.map((b) => b.header.height), [1, 2]);
  // Offline: a light client without a source, trusting the site's key.
  const offline = new LightClient({
    trustedKeys: [verifierKey("site-a", ledger.siteKey.publicKey)],
    quorum: 1,
  });
  const verdict = await offline.verifyBundle(JSON.parse(JSON.stringify(bundle)));
  assert.equal(verdict.reason, "ok", verdict.message);
  assert.equal(verdict.blockVerified, true);
  // A chain longer than chainBlocksMax is left out of the bundle.
  const short = await fetchReceiptBundle(ledger.source, ledger.txId, { chainBlocksMax: 1 });
  assert.ok(!("reason" in short));
  assert.equal(short.chain, undefined);
});

Deno.test("fetchReceiptBundle() answers tx_not_found for a transaction no site knows", async () => {
  const { note } = emptyLogNote();
  const source: LightSource = {
    checkpoint: () => Promise.resolve(note),
    consistency: () => Promise.reject(new Error("unused")),
    getTx: () =>
      Promise.reject(
        new NotFoundError("404", {
          problem: {
            type: "https://edgeledger.dev/problems/not_found",
            title: "Not found",
            status: 404,
            detail: "no such transaction",
          },
        }),
      ),
    proof: () => Promise.reject(new Error("unused")),
    blocks: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error("unused")) }),
    }),
  };
  const verdict = await fetchReceiptBundle(source, "ab".repeat(32));
  assert.ok("reason" in verdict);
  assert.equal(verdict.reason, "tx_not_found");
  assert.equal(verdict.ok, false);
});

Deno.test("Verdict.detail is a failure's reason without its subject: message is 'Cannot verify <subject>: <detail>.'", async () => {
  const txId = "ab".repeat(32);
  const source = checkpointOnly("not a note");
  const fetched = await fetchReceiptBundle(source, txId);
  assert.ok("reason" in fetched);
  assert.equal(fetched.reason, "checkpoint_malformed");
  assert.match(fetched.detail ?? "", /^the checkpoint does not parse: /);
  assert.equal(fetched.message, `Cannot verify transaction ${txId}: ${fetched.detail}.`);
  // The same for a verdict on a bundle, and none on a pass.
  const light = new LightClient({ trustedKeys: [keyA], quorum: 1 });
  const verdict = await light.verifyBundle({
    txId,
    tx: {},
    receipt: { txId, status: "committed" },
    proof: { logIndex: 0, treeSize: 1, leaf: "", proof: [] },
    checkpoint: "not a note",
  });
  assert.equal(verdict.reason, "checkpoint_malformed");
  assert.ok(verdict.detail !== undefined && verdict.detail !== "");
  assert.ok(verdict.message.endsWith(`: ${verdict.detail}.`), verdict.message);
  const ledger = await twoBlockLedger(() => 2);
  const passed = await new LightClient({
    source: ledger.source,
    trustedKeys: [verifierKey("site-a", ledger.siteKey.publicKey)],
    quorum: 1,
  }).verify(ledger.txId);
  assert.equal(passed.reason, "ok", passed.message);
  assert.equal(passed.detail, undefined);
});

Deno.test("LightClient verdicts say how the checkpoint compares with the one trusted before: unchecked, same_tree, extends", async () => {
  const ledger = await twoBlockLedger(() => 2);
  const bundle = await fetchReceiptBundle(ledger.source, ledger.txId);
  assert.ok(!("reason" in bundle), JSON.stringify(bundle));
  const trustedKeys = [verifierKey("site-a", ledger.siteKey.publicKey)];
  // A fresh client trusts nothing yet: no earlier checkpoint was compared.
  const fresh = new LightClient({ trustedKeys, quorum: 1 });
  const first = await fresh.verifyBundle(bundle);
  assert.equal(first.reason, "ok", first.message);
  assert.equal(first.checkpointConsistency, "unchecked");
  // The same client again: the checkpoint it now trusts, the same tree.
  const again = await fresh.verifyBundle(bundle);
  assert.equal(again.checkpointConsistency, "same_tree", again.message);
  // A client that trusted the one-block tree: a consistency proof shows the extension.
  const header1 = ledger.blocks[0].header;
  const store = new MemoryTrustStore({
    origin: "edgeledger.test/demo",
    size: 1,
    rootHash: header1.logRoot,
    height: 1,
    blockHash: ledger.blocks[0].hash,
    note: "(the checkpoint of size 1)",
  });
  const source: LightSource = {
    ...ledger.source,
    consistency: (from, to) =>
      Promise.resolve({ proof: consistencyProof(from, ledger.hashes.slice(0, to)).map(hexEncode) }),
  };
  const extended = await new LightClient({ source, trustedKeys, quorum: 1, store })
    .verifyBundle(bundle);
  assert.equal(extended.reason, "ok", extended.message);
  assert.equal(extended.checkpointConsistency, "extends");
  // A failed verification claims nothing about it.
  const stranger = new LightClient({
    trustedKeys: [verifierKey("site-a", generateKeyPair("ed25519").publicKey)],
    quorum: 1,
  });
  assert.equal((await stranger.verifyBundle(bundle)).checkpointConsistency, undefined);
});

/**
 * The two-block ledger asked about its second transaction (log index 1) by
 * a source whose checkpoint covers only the first block for the first
 * `behind` times it is asked — as right after the second one's commit,
 * before the sites have exchanged its co-signatures — and whose proof
 * route answers `invalid_range` for the first `refused` requests.
 */
async function justCommitted(behind: number, refused = 0) {
  const ledger = await twoBlockLedger(() => 2);
  const text = formatCheckpoint({
    origin: "edgeledger.test/demo",
    size: 1,
    rootHash: rootFromLeafHashes(ledger.hashes.slice(0, 1)),
    height: 1,
    blockHash: ledger.blocks[0].hash,
  });
  const older = assembleNote(text, [signNoteLine(text, "site-a", ledger.siteKey.secretKey)]);
  const txId = transactionId(ledger.txs[1]);
  const asked = { checkpoints: 0, proofs: 0 };
  const source: LightSource = {
    ...ledger.source,
    checkpoint: () => Promise.resolve(asked.checkpoints++ < behind ? older : ledger.note),
    consistency: (from) =>
      Promise.resolve({ proof: consistencyProof(from, ledger.hashes).map(hexEncode) }),
    getTx: () =>
      Promise.resolve({
        tx: ledger.txs[1] as unknown as Record<string, unknown>,
        receipt: { txId, status: "committed", height: 2, logIndex: 1, result: ledger.result },
      }),
    proof: (_id, options) => {
      if (asked.proofs++ < refused || (options?.treeSize ?? 0) < 2) {
        return Promise.reject(
          new RejectedError("422", {
            problem: {
              type: "https://edgeledger.dev/problems/invalid_range",
              title: "Invalid tree size",
              status: 422,
              detail: "Cannot prove log index 1 in a tree of size 1",
            },
          }),
        );
      }
      return Promise.resolve({
        logIndex: 1,
        treeSize: 2,
        leaf: base64urlEncode(ledger.leaves[1]),
        proof: inclusionProof(1, ledger.hashes).map(hexEncode),
      });
    },
  };
  const trust = { trustedKeys: [verifierKey("site-a", ledger.siteKey.publicKey)], quorum: 1 };
  return { source, txId, asked, trust };
}

Deno.test("LightClient.verify() of a transaction committed after the latest co-signed checkpoint waits for one that covers it (checkpointWaitMs), then verifies", async () => {
  const t = await justCommitted(3);
  const verdict = await new LightClient({ source: t.source, ...t.trust }).verify(t.txId);
  assert.equal(verdict.reason, "ok", verdict.message);
  assert.equal(t.asked.checkpoints, 4);
  // The proof was asked for only at a size that covers the transaction.
  assert.equal(t.asked.proofs, 1);

  // A proof a site refuses for its size (a replica whose log is behind) is waited out too.
  const refusing = await justCommitted(0, 2);
  const late = await new LightClient({ source: refusing.source, ...refusing.trust }).verify(
    refusing.txId,
  );
  assert.equal(late.reason, "ok", late.message);
  assert.equal(refusing.asked.proofs, 3);
});

Deno.test("LightClient.verify() answers tx_not_committed, saying the checkpoint does not cover it yet, once checkpointWaitMs is over", async () => {
  const t = await justCommitted(Infinity);
  const started = Date.now();
  const light = new LightClient({ source: t.source, ...t.trust, checkpointWaitMs: 300 });
  const verdict = await light.verify(t.txId);
  assert.equal(verdict.ok, false);
  assert.equal(verdict.reason, "tx_not_committed");
  assert.match(
    verdict.message,
    /log index 1\) is committed but not yet in the latest co-signed checkpoint \(tree size 1\)/,
  );
  assert.ok(Date.now() - started >= 300);
  assert.ok(t.asked.checkpoints >= 3, `${t.asked.checkpoints} checkpoints asked for`);
  assert.equal(t.asked.proofs, 0);

  const now = await justCommitted(Infinity);
  const once = new LightClient({ source: now.source, ...now.trust, checkpointWaitMs: 0 });
  assert.equal((await once.verify(now.txId)).reason, "tx_not_committed");
  assert.equal(now.asked.checkpoints, 1);
  assert.throws(
    () => new LightClient({ source: now.source, ...now.trust, checkpointWaitMs: -1 }),
    /checkpointWaitMs must be a whole number >= 0/,
  );
});

Deno.test("fetchReceiptBundle() of a transaction committed after the latest co-signed checkpoint waits for one that covers it", async () => {
  const t = await justCommitted(2);
  const bundle = await fetchReceiptBundle(t.source, t.txId);
  assert.ok(!("reason" in bundle), JSON.stringify(bundle));
  assert.equal(bundle.proof.treeSize, 2);
  assert.equal(t.asked.checkpoints, 3);
  const never = await justCommitted(Infinity);
  const verdict = await fetchReceiptBundle(never.source, never.txId, { checkpointWaitMs: 0 });
  assert.ok("reason" in verdict);
  assert.equal(verdict.reason, "tx_not_committed");
});

Deno.test("LightClient.verify() waits for a checkpoint signed by a quorum when the site serves one short of it (co-signatures still on their way), then verifies; past checkpointWaitMs it answers checkpoint_quorum_not_met", async () => {
  const ledger = await twoBlockLedger(() => 2);
  const text = parseNote(ledger.note).text;
  // The same checkpoint with no signature of a trusted site: short of the quorum.
  const stranger = generateKeyPair("ed25519");
  const unsigned = assembleNote(text, [signNoteLine(text, "site-z", stranger.secretKey)]);
  let asked = 0;
  let shortFor = 3;
  const source: LightSource = {
    ...ledger.source,
    checkpoint: () => Promise.resolve(asked++ < shortFor ? unsigned : ledger.note),
  };
  const trust = { trustedKeys: [verifierKey("site-a", ledger.siteKey.publicKey)], quorum: 1 };
  const verdict = await new LightClient({ source, ...trust }).verify(ledger.txId);
  assert.equal(verdict.reason, "ok", verdict.message);
  assert.equal(asked, 4);

  asked = 0;
  shortFor = Infinity;
  const started = Date.now();
  const never = await new LightClient({ source, ...trust, checkpointWaitMs: 200 }).verify(
    ledger.txId,
  );
  assert.equal(never.reason, "checkpoint_quorum_not_met", never.message);
  assert.ok(Date.now() - started >= 200);
  assert.ok(asked >= 2, `${asked} checkpoints asked for`);
});

/**
 * site-a's keys 0 → 1 (a rotation signed by both), site-b's key, and the
 * empty log's checkpoint signed by site-a's key `signer` and by site-b.
 */
function rotatedSite(signer: "rotated" | "stranger") {
  const [a0, a1, stranger, b] = Array.from({ length: 4 }, () => generateKeyPair("ed25519"));
  const b64 = (k: { publicKey: Uint8Array }) => base64urlEncode(k.publicKey);
  const rotation = (from: typeof a0, to: typeof a0) => {
    const text = utf8Encode(rotationText("site-a", b64(from), b64(to)));
    return {
      name: "site-a",
      previous: b64(from),
      publicKey: b64(to),
      previousSig: base64urlEncode(signSync(from, text)),
      newSig: base64urlEncode(signSync(to, text)),
    };
  };
  const aNow = signer === "rotated" ? a1 : stranger;
  const text = EMPTY_LOG_TEXT;
  const note = assembleNote(text, [
    signNoteLine(text, "site-a", aNow.secretKey),
    signNoteLine(text, "site-b", b.secretKey),
  ]);
  const vkA = (k: typeof a0) => verifierKey("site-a", k.publicKey);
  const sites = [
    { name: "site-a", url: "http://127.0.0.1:7001", verifierKey: vkA(aNow) },
    {
      name: "site-b",
      url: "http://127.0.0.1:7002",
      verifierKey: verifierKey("site-b", b.publicKey),
    },
  ];
  // The stranger's "chain" is signed by its own key only: no step from a0.
  const chain = signer === "rotated" ? [rotation(a0, a1)] : [rotation(a1, stranger)];
  const asked: string[] = [];
  const keySource = {
    sites: () => {
      asked.push("sites");
      return Promise.resolve(sites);
    },
    siteKeys: (name: string) => {
      asked.push(name);
      return Promise.resolve({
        verifierKey: sites.find((s) => s.name === name)!.verifierKey,
        rotations: name === "site-a" ? chain : [],
      });
    },
  };
  const source = checkpointOnly(note);
  return {
    source,
    keySource,
    asked,
    trustedKeys: [vkA(a0), sites[1].verifierKey],
    nowA: vkA(aNow),
    from: b64(a0),
    to: b64(aNow),
  };
}

Deno.test("LightClient with keyRotations follows a trusted site's rotation signed by its trusted key when a checkpoint carries that site's line by a key it does not know (short of the quorum or not), and reports the new keys", async () => {
  const { source, keySource, asked, trustedKeys, nowA, from, to } = rotatedSite("rotated");
  // Without following rotations, site-a's line by its new key does not count.
  const pinned = new LightClient({ source, trustedKeys, quorum: 2 });
  const refused = await pinned.updateCheckpoint();
  assert.equal(refused.reason, "checkpoint_quorum_not_met");
  assert.deepEqual(asked, []);

  const changes: unknown[] = [];
  const light = new LightClient({
    source,
    trustedKeys,
    quorum: 2,
    keyRotations: {
      source: keySource,
      onChange: (keys, rotated) => {
        changes.push({ keys, rotated });
      },
    },
  });
  const verdict = await light.updateCheckpoint();
  assert.equal(verdict.ok, true, verdict.message);
  assert.deepEqual(verdict.checkpoint?.signers, ["site-a", "site-b"]);
  assert.deepEqual(asked, ["sites", "site-a"]);
  assert.deepEqual(changes, [{
    keys: [nowA, trustedKeys[1]],
    rotated: [{ name: "site-a", from, to, retired: [] }],
  }]);
  assert.deepEqual(light.trustedKeys(), [nowA, trustedKeys[1]]);
  // Trusted now: the next checkpoint needs no look at the rotations.
  assert.equal((await light.updateCheckpoint()).ok, true);
  assert.deepEqual(asked, ["sites", "site-a"]);

  // Following does not wait for the quorum to fail: with site-b alone enough,
  // site-a's line by a key not trusted still moves the trust to it.
  const { source: s2, keySource: k2, trustedKeys: t2, nowA: a2 } = rotatedSite("rotated");
  const early = new LightClient({
    source: s2,
    trustedKeys: t2,
    quorum: 1,
    keyRotations: { source: k2 },
  });
  const first = await early.updateCheckpoint();
  assert.equal(first.ok, true, first.message);
  assert.deepEqual(first.checkpoint?.signers, ["site-a", "site-b"]);
  assert.deepEqual(early.trustedKeys(), [a2, t2[1]]);
});

Deno.test("LightClient with keyRotations keeps its key when no chain signed by it leads to the key that signed, and looks again only after intervalMs", async () => {
  const { source, keySource, asked, trustedKeys } = rotatedSite("stranger");
  const light = new LightClient({
    source,
    trustedKeys,
    quorum: 2,
    keyRotations: { source: keySource, intervalMs: 60_000 },
  });
  const first = await light.updateCheckpoint();
  assert.equal(first.reason, "checkpoint_quorum_not_met");
  assert.match(
    first.message,
    /no chain of rotations signed by the trusted key leads to the key of site-a/,
  );
  assert.deepEqual(light.trustedKeys(), trustedKeys);
  const again = await light.updateCheckpoint();
  assert.equal(again.reason, "checkpoint_quorum_not_met");
  assert.match(again.message, /read moments ago/);
  assert.deepEqual(asked, ["sites", "site-a"]);
  assert.throws(
    () =>
      new LightClient({
        trustedKeys,
        quorum: 1,
        keyRotations: { source: keySource, intervalMs: -1 },
      }),
    /intervalMs must be a whole number/,
  );
});

Deno.test("LightClient counts a retired key's signature on checkpoints up to the last height it signed, never above it, and a site once whichever of its keys signed", async () => {
  const [a0, a1, b] = Array.from({ length: 3 }, () => generateKeyPair("ed25519"));
  const noteAt = emptyLogNoteAt;

  const trust = {
    trustedKeys: [verifierKey("site-a", a1.publicKey), verifierKey("site-b", b.publicKey)],
    retiredKeys: [{ key: verifierKey("site-a", a0.publicKey), untilHeight: 7 }],
    quorum: 2,
  };
  const byOld = (height: number) => noteAt(height, [["site-a", a0], ["site-b", b]]);
  for (const height of [0, 7]) {
    const v = await new LightClient({ source: checkpointOnly(byOld(height)), ...trust })
      .updateCheckpoint();
    assert.equal(v.ok, true, `height ${height}: ${v.message}`);
    assert.deepEqual(v.checkpoint?.signers, ["site-a", "site-b"]);
  }
  const above = await new LightClient({ source: checkpointOnly(byOld(8)), ...trust })
    .updateCheckpoint();
  assert.equal(above.reason, "checkpoint_quorum_not_met", "a retired key above its height");
  const pinned = await new LightClient({
    source: checkpointOnly(byOld(7)),
    ...trust,
    retiredKeys: [],
  })
    .updateCheckpoint();
  assert.equal(pinned.reason, "checkpoint_quorum_not_met", "without the retired key");
  // Both of site-a's keys signed: it counts once, short of a quorum of 2 alone.
  const twice = noteAt(3, [["site-a", a0], ["site-a", a1]]);
  const once = await new LightClient({ source: checkpointOnly(twice), ...trust })
    .updateCheckpoint();
  assert.equal(once.reason, "checkpoint_quorum_not_met");
  assert.deepEqual(new LightClient(trust).retiredKeys(), trust.retiredKeys);
  assert.throws(
    () => new LightClient({ ...trust, retiredKeys: [{ key: "site-a+x", untilHeight: 1 }] }),
    /bad retired key/,
  );
});

Deno.test("LightClient with keyRotations that followed a rotation before the site signed its old key's last height keeps that key once it is signed: a line by it on an older checkpoint sets off the look", async () => {
  const [a0, a1, b] = Array.from({ length: 3 }, () => generateKeyPair("ed25519"));
  const b64 = (k: typeof a0) => base64urlEncode(k.publicKey);
  const vkA = (k: typeof a0) => verifierKey("site-a", k.publicKey);
  const vkB = verifierKey("site-b", b.publicKey);
  const rotationStatement = utf8Encode(rotationText("site-a", b64(a0), b64(a1)));
  const rotation = {
    name: "site-a",
    previous: b64(a0),
    publicKey: b64(a1),
    previousSig: base64urlEncode(signSync(a0, rotationStatement)),
    newSig: base64urlEncode(signSync(a1, rotationStatement)),
  };
  let signed = false;
  const keySource = {
    sites: () =>
      Promise.resolve([
        { name: "site-a", url: "http://127.0.0.1:7001", verifierKey: vkA(a1) },
        { name: "site-b", url: "http://127.0.0.1:7002", verifierKey: vkB },
      ]),
    siteKeys: (name: string) =>
      Promise.resolve({
        verifierKey: name === "site-a" ? vkA(a1) : vkB,
        rotations: name === "site-a" ? [rotation] : [],
        retired: name === "site-a"
          ? [{
            verifierKey: vkA(a0),
            untilHeight: 5,
            ...(signed
              ? {
                signer: b64(a1),
                signature: base64urlEncode(
                  signSync(a1, utf8Encode(retirementText("site-a", b64(a0), 5))),
                ),
              }
              : {}),
          }]
          : [],
      }),
  };
  const noteAt = (height: number, a: typeof a0) =>
    emptyLogNoteAt(height, [["site-a", a], ["site-b", b]]);
  let served = noteAt(3, a1);
  const source: LightSource = { ...checkpointOnly(""), checkpoint: () => Promise.resolve(served) };
  const changes: unknown[][] = [];
  const light = new LightClient({
    source,
    trustedKeys: [vkA(a0), vkB],
    quorum: 2,
    keyRotations: {
      source: keySource,
      intervalMs: 0,
      onChange: (...args: unknown[]) => void changes.push(args),
    },
  });
  // site-a's line by its new key, read before site-a signed its old key's height:
  // followed at once, the old key not kept yet.
  assert.equal((await light.updateCheckpoint()).ok, true);
  assert.deepEqual(light.trustedKeys(), [vkA(a1), vkB]);
  assert.deepEqual(light.retiredKeys(), []);
  // A checkpoint of block 5 carrying the old key's line while the height is still unsigned:
  // it does not count.
  served = noteAt(5, a0);
  assert.equal((await light.updateCheckpoint()).reason, "checkpoint_quorum_not_met");
  // Signed now: the old key's line makes the client look again and keep the key up to block 5.
  signed = true;
  const verdict = await light.updateCheckpoint();
  assert.equal(verdict.ok, true, verdict.message);
  assert.deepEqual(verdict.checkpoint?.signers, ["site-a", "site-b"]);
  assert.deepEqual(light.retiredKeys(), [{ key: vkA(a0), untilHeight: 5 }]);
  assert.deepEqual(changes.at(-1), [[vkA(a1), vkB], [], [{ key: vkA(a0), untilHeight: 5 }]]);
});

/**
 * A `fetch` for one follower's URL (`http://follower`): it serves `note` as
 * its checkpoint, answers 404 for any transaction and 422 `invalid_range`
 * for a consistency proof (it lacks the tree), and 503 `not_leader` naming
 * a leader at another URL for every read at `consistency=leader`. Records
 * each request's path and consistency.
 */
function followerFetch(note: string) {
  const asked: string[] = [];
  const problem = (status: number, slug: string, detail: string, extra = {}) =>
    Promise.resolve(
      new Response(
        JSON.stringify({
          type: `https://edgeledger.dev/problems/${slug}`,
          title: slug,
          status,
          detail,
          instance: "/v1",
          requestId: crypto.randomUUID(),
          ...extra,
        }),
        { status, headers: { "content-type": "application/problem+json" } },
      ),
    );
  const fetchFn = ((input: URL | RequestInfo) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const consistency = url.searchParams.get("consistency") ?? "stale";
    asked.push(`${url.pathname} ${consistency}`);
    if (consistency === "leader") {
      return problem(503, "not_leader", "Site site-b is not the leader", {
        leader: "site-a",
        leaderUrl: "http://leader",
        retryAfter: 1,
      });
    }
    if (url.pathname === "/v1/checkpoint") {
      return Promise.resolve(new Response(note, { headers: { "content-type": "text/plain" } }));
    }
    if (url.pathname === "/v1/consistency") {
      return problem(422, "invalid_range", "The log has 1 entries, not 2");
    }
    return problem(404, "not_found", "No such transaction");
  }) as typeof fetch;
  return { fetchFn, asked };
}

Deno.test("withLeaderRetry: a follower's 404 stands when the leader retry is refused not_leader (one URL, no failover): tx_not_found, not unavailable", async () => {
  const { note } = emptyLogNote();
  const { fetchFn, asked } = followerFetch(note);
  const source = new EdgeLedgerClient({
    urls: "http://follower",
    fetch: fetchFn,
    retry: { attemptsMax: 2, delayMsBase: 1, delayMsMax: 1 },
  });
  const txId = "ab".repeat(32);
  const verdict = await fetchReceiptBundle(source, txId, { checkpointWaitMs: 0 });
  assert.ok("reason" in verdict);
  assert.equal(verdict.reason, "tx_not_found", verdict.message);
  assert.equal(verdict.detail, "the site does not know this transaction");
  // The leader was asked (and refused), then the follower's answer was the one reported.
  assert.ok(asked.includes(`/v1/txs/${txId} stale`), asked.join(", "));
  assert.ok(asked.includes(`/v1/txs/${txId} leader`), asked.join(", "));
});

Deno.test("withLeaderRetry: a follower that lacks a consistency proof's tree, the leader retry refused not_leader, is unavailable (no proof had), not not_leader and not a fork", async () => {
  const ledger = await twoBlockLedger(() => 2);
  const bundle = await fetchReceiptBundle(ledger.source, ledger.txId);
  assert.ok(!("reason" in bundle), JSON.stringify(bundle));
  const { fetchFn } = followerFetch(ledger.note);
  const store = new MemoryTrustStore({
    origin: "edgeledger.test/demo",
    size: 1,
    rootHash: ledger.blocks[0].header.logRoot,
    height: 1,
    blockHash: ledger.blocks[0].hash,
    note: "(the checkpoint of size 1)",
  });
  const verdict = await new LightClient({
    source: new EdgeLedgerClient({
      urls: "http://follower",
      fetch: fetchFn,
      retry: { attemptsMax: 2, delayMsBase: 1, delayMsMax: 1 },
    }),
    trustedKeys: [verifierKey("site-a", ledger.siteKey.publicKey)],
    quorum: 1,
    store,
  }).verifyBundle(bundle);
  assert.equal(verdict.reason, "unavailable", verdict.message);
  assert.match(verdict.message, /invalid_range|The log has 1 entries, not 2/);
  assert.doesNotMatch(verdict.message, /not the leader/i);
  assert.equal((await store.load())?.size, 1, "nothing proven: the trusted checkpoint stays");
});

Deno.test("verifyBundle: a receipt of another transaction (a swapped txId) says so, not that the receipt lacks a field", async () => {
  const ledger = await twoBlockLedger(() => 2);
  const bundle = await fetchReceiptBundle(ledger.source, ledger.txId);
  assert.ok(!("reason" in bundle), JSON.stringify(bundle));
  const other = "cd".repeat(32);
  const light = new LightClient({
    trustedKeys: [verifierKey("site-a", ledger.siteKey.publicKey)],
    quorum: 1,
  });
  const swapped = await light.verifyBundle({ ...bundle, txId: other });
  assert.equal(swapped.reason, "receipt_malformed");
  assert.equal(swapped.detail, `the receipt is for another transaction, ${ledger.txId}`);
  assert.doesNotMatch(swapped.message, /lacks/);
  // A receipt that does lack its id still says that.
  const { txId: _gone, ...noId } = bundle.receipt;
  const lacking = await light.verifyBundle({ ...bundle, receipt: noId as typeof bundle.receipt });
  assert.equal(lacking.reason, "receipt_malformed");
  assert.match(lacking.message, /lacks its txId/);
});
