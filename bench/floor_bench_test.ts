import assert from "node:assert/strict";
import { envelopeText } from "../src/chain/envelope_text.ts";
import { ANCHOR_NS, STREAM_NS } from "../src/contracts/data_anchor.ts";
import { ChainStore } from "../src/storage/chain_store.ts";
import { openDatabase } from "../src/storage/db.ts";
import { RaftStore } from "../src/storage/raft_store.ts";
import { signTransactions } from "./_load.ts";
import { type ClusterShapeResult, floorBlockSizes } from "./cluster_bench.ts";
import {
  anchorBlockWrite,
  executeBlockTxs,
  type FloorResult,
  floorUsPerWrite,
  measureApply,
  measureOurs,
  measureStorage,
  startFloorServer,
  storageAt,
  type StorageFloor,
} from "./floor_bench.ts";

/** `count` data.anchor texts for ledger "demo", each on its own stream `${streamPrefix}/i`. */
function signed(streamPrefix: string, count: number): Promise<string[]> {
  return signTransactions({
    id: 1,
    algorithm: "ed25519",
    ledger: "demo",
    streamPrefix,
    firstIndex: 0,
    count,
  });
}

const texts = await signed("floor-test", 9);

Deno.test("the floor's block carries a data.anchor block's rows: one per transaction, RFC 9162 nodes, two state rows", () => {
  const w = anchorBlockWrite(texts, { height: 4, logIndex: 7 });
  assert.equal(w.block.height, 4);
  assert.equal(w.block.txCount, 9);
  assert.deepEqual(w.txs.map((t) => t.logIndex), [7, 8, 9, 10, 11, 12, 13, 14, 15]);
  assert.deepEqual(w.txs.map((t) => t.id), texts.map((t) => envelopeText(JSON.parse(t)).txId));
  // Leaves 7..15 and the subtrees each one completes (7 → 3/1/0, 9 → 4, 11 → 5/2, …).
  const coords = w.nodes.map((n) => `${n.level}/${n.index}`).sort();
  assert.deepEqual(
    coords,
    [
      ...[7, 8, 9, 10, 11, 12, 13, 14, 15].map((i) => `0/${i}`),
      "1/3",
      "2/1",
      "3/0",
      "1/4",
      "1/5",
      "2/2",
      "1/6",
      "1/7",
      "2/3",
      "3/1",
      "4/0",
    ].sort(),
  );
  assert.equal(w.stateWrites.filter((s) => s.ns === STREAM_NS).length, 9);
  assert.equal(w.stateWrites.filter((s) => s.ns === ANCHOR_NS).length, 9);
});

Deno.test("the floor's rows are ones a site database takes and serves back", async () => {
  const dir = await Deno.makeTempDir();
  const database = await openDatabase(`file:${dir}/floor.db`);
  try {
    assert.ok(database.native, "a file: database has the native write path");
    const first = anchorBlockWrite(texts.slice(0, 4), { height: 1, logIndex: 0 });
    const second = anchorBlockWrite(texts.slice(4), { height: 2, logIndex: 4 });
    database.native.writeBlocks([first]);
    database.native.writeBlocks([second]);
    const store = new ChainStore(database);
    const stored = await store.txById(second.txs[0].id);
    assert.equal(stored?.logIndex, 4);
    assert.equal(stored?.envelope, second.txs[0].envelope);
    assert.equal((await store.head())?.height, 2);
    // The same transaction twice is refused, as a site's database refuses it.
    assert.throws(() =>
      database.native!.writeBlocks([anchorBlockWrite(texts.slice(0, 1), {
        height: 3,
        logIndex: 9,
      })])
    );
  } finally {
    database.close();
    await Deno.remove(dir, { recursive: true });
  }
});

function storageFloor(
  txsPerBlock: number,
  raftCpuUsPerTx: number,
  cpuUsPerTx: number,
): StorageFloor {
  return {
    txsPerBlock,
    prefilledTxs: 0,
    txs: 1,
    rowsPerTx: 5,
    cpuUsPerTx,
    raftCpuUsPerTx,
    entryKiB: 1,
    writtenKiBPerTx: 1,
  };
}

Deno.test("the floor per write is one request and one verification plus decoding, the Raft entry and the rows on every site, at the nearest block size", () => {
  const f: FloorResult = {
    verifyUs: 30,
    applyUs: 5,
    http: {
      concurrency: 64,
      requestsPerSec: 1,
      serverUsPerRequest: 10,
      loadUsPerRequest: 1,
      errors: 0,
    },
    storage: [storageFloor(8, 20, 50), storageFloor(25, 6, 40), storageFloor(100, 2, 35)],
  };
  assert.equal(floorUsPerWrite(f, 3, 25), 10 + 30 + 3 * (5 + 6 + 40));
  assert.equal(floorUsPerWrite(f, 1, 110), 10 + 30 + (5 + 2 + 35));
  assert.equal(floorUsPerWrite(f, 3, 7.6), 10 + 30 + 3 * (5 + 20 + 50));
  // Halfway between two sizes: the smaller block (the dearer one) is taken.
  assert.equal(storageAt(f, 62.5)?.txsPerBlock, 25);
  assert.ok(Number.isNaN(floorUsPerWrite({ ...f, http: undefined }, 3, 25)));
  assert.ok(Number.isNaN(floorUsPerWrite({ ...f, storage: [] }, 3, 25)));
});

Deno.test("the floor writes at the block sizes the ledger's one-transaction shapes ran at, or 25 without them", () => {
  const shape = (txsPerRequest: number, txsPerBlock: number | undefined) =>
    ({
      shape: { txsPerRequest },
      median: txsPerBlock === undefined ? undefined : { txsPerBlock },
    }) as unknown as ClusterShapeResult;
  assert.deepEqual(floorBlockSizes([]), [25]);
  assert.deepEqual(
    floorBlockSizes([shape(1, 109.9), shape(1, 7.6), shape(100, 734.6), shape(1, undefined)]),
    [8, 110],
  );
  assert.deepEqual(floorBlockSizes([shape(1, 0.2), shape(1, 1.4)]), [1]);
});

Deno.test("decoding and hashing a transaction into the log takes a positive time per transaction and refuses no texts", () => {
  const us = measureApply(texts);
  assert.ok(us > 0 && Number.isFinite(us), `${us}`);
  assert.throws(() => measureApply([]), /no transaction texts/);
});

Deno.test("our own admission and execution are timed on transactions that all pass and all apply, and refuse to time ones that do not", async () => {
  const block = await signed("ours-test", executeBlockTxs);
  const ours = measureOurs(block);
  for (const us of [ours.admitUs, ours.executeUs]) {
    assert.ok(us > 0 && Number.isFinite(us), `${us}`);
  }
  assert.throws(() => measureOurs(block.slice(1)), /too few/);
  // The same stream and seq twice: the second anchor is rejected, so nothing is timed as applied.
  const repeat = JSON.parse(block[0]);
  repeat.nonce = JSON.parse(block[1]).nonce;
  assert.throws(
    () => measureOurs([...block.slice(0, -1), JSON.stringify(repeat)]),
    /did not apply/,
  );
});

Deno.test("the floor's Raft entries and rows land in a site database as a site writes them: entries readable by the Raft store, blocks by the chain store", async () => {
  const many = await signed("floor-test-storage", 60);
  const dir = await Deno.makeTempDir();
  try {
    const s = await measureStorage(
      {
        concurrency: 1,
        seconds: 0,
        warmupSeconds: 0,
        blockSizes: [10],
        prefillTxs: 20,
        storageTxs: 40,
        workDir: dir,
        log: () => {},
      },
      10,
      many,
      async (database) => {
        // Six entries of ten texts each, one per line, and six blocks.
        const { entries } = await new RaftStore(database).load();
        assert.deepEqual(entries.map((e) => e.index), [1, 2, 3, 4, 5, 6]);
        assert.deepEqual(new TextDecoder().decode(entries[5].data).split("\n"), many.slice(50, 60));
        const chain = new ChainStore(database);
        assert.equal((await chain.head())?.height, 6);
        assert.equal((await chain.txById(envelopeText(JSON.parse(many[59])).txId))?.logIndex, 59);
      },
    );
    assert.equal(s.txsPerBlock, 10);
    assert.equal(s.prefilledTxs, 20);
    assert.equal(s.txs, 40);
    assert.ok(s.cpuUsPerTx > 0 && s.raftCpuUsPerTx > 0, JSON.stringify(s));
    // An entry is the block's ten transaction texts, one per line.
    const expected = new TextEncoder().encode(many.slice(0, 10).join("\n")).length / 1024;
    assert.ok(Math.abs(s.entryKiB - expected) < 0.2, `${s.entryKiB} vs ${expected}`);
    // The database is removed afterwards.
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    await assert.rejects(
      measureStorage(
        {
          concurrency: 1,
          seconds: 0,
          warmupSeconds: 0,
          blockSizes: [10],
          prefillTxs: 60,
          storageTxs: 0,
          workDir: dir,
          log: () => {},
        },
        10,
        many,
      ),
      /no transactions left to time/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the minimal HTTP endpoint answers a JSON body with a committed receipt and refuses other bodies, on Deno's server and on the guarded listener alike", async () => {
  for (const kind of ["deno", "guarded"] as const) {
    const server = await startFloorServer(kind);
    try {
      const url = `http://${server.target.host}:${server.target.port}${server.target.path}`;
      const ok = await fetch(url, { method: "POST", body: texts[0] });
      assert.equal(ok.status, 200, kind);
      assert.equal((await ok.json()).status, "committed", kind);
      const bad = await fetch(url, { method: "POST", body: "{" });
      assert.equal(bad.status, 400, kind);
      await bad.body?.cancel();
    } finally {
      await server.stop();
    }
  }
});
