import assert from "node:assert/strict";
import { openDatabase } from "./db.ts";
import { type BlockWrite, ChainStore, StorageConflictError } from "./chain_store.ts";
import { NativeReader, NativeSnapshot, WAL_BYTES_KEPT_MAX } from "./native.ts";
import { RaftStore } from "./raft_store.ts";

async function tempStore() {
  const dir = await Deno.makeTempDir();
  const url = `file:${dir}/site.db`;
  const database = await openDatabase(url);
  return {
    store: new ChainStore(database),
    database,
    path: `${dir}/site.db`,
    cleanup: async () => {
      database.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function block(height: number, txIds: string[], state: BlockWrite["stateWrites"] = []): BlockWrite {
  return {
    block: {
      height,
      hash: `hash-${height}`,
      prev: `hash-${height - 1}`,
      time: 1000 + height,
      term: 1,
      proposer: "site-a",
      txCount: txIds.length,
      logSize: height * 10,
      logRoot: "00".repeat(32),
      header: "{}",
      entryIndex: height,
    },
    txs: txIds.map((id, i) => ({
      id,
      logIndex: height * 10 + i,
      height,
      kind: "data.anchor",
      envelope: `{"id":"${id}"}`,
      result: '{"status":"applied"}',
      status: "applied" as const,
    })),
    nodes: txIds.map((_, i) => ({
      level: 0,
      index: height * 10 + i,
      hash: new Uint8Array(32).fill(i),
    })),
    stateWrites: state,
    checkpointLine: { site: "site-a", line: `line-${height}` },
    meta: { applied_entry: String(height) },
  };
}

Deno.test("writeBlocks() stores a group of blocks that the drizzle reads see exactly", async () => {
  const t = await tempStore();
  try {
    await t.store.writeBlocks([
      block(1, ["a1", "a2"], [{ ns: "data.stream", key: "s\u0000with-nul", value: '{"seq":1}' }]),
      block(2, ["b1"], [{ ns: "data.stream", key: "s\u0000with-nul", value: '{"seq":2}' }]),
    ]);
    assert.equal((await t.store.head())?.height, 2);
    assert.deepEqual((await t.store.txById("a2"))?.logIndex, 11);
    assert.deepEqual([...(await t.store.committedIds(["a1", "b1", "zz"]))].sort(), ["a1", "b1"]);
    const values = await t.store.stateValues([{ ns: "data.stream", key: "s\u0000with-nul" }]);
    assert.equal(
      values.get("data.stream\u0000s\u0000with-nul"),
      '{"seq":2}',
      "the later block wins",
    );
    assert.deepEqual(await t.store.checkpointLines(2), [{ site: "site-a", line: "line-2" }]);
    assert.equal(await t.store.getMeta("applied_entry"), "2");
    const range = await t.store.stateRange("data.stream", "s", 10);
    assert.deepEqual(range.map((r) => r.key), ["s\u0000with-nul"], "a key with NUL is kept whole");
  } finally {
    await t.cleanup();
  }
});

Deno.test("writeBlocks() writes nothing of a group when one block conflicts", async () => {
  const t = await tempStore();
  try {
    await t.store.writeBlocks([block(1, ["a1"])]);
    await assert.rejects(
      t.store.writeBlocks([block(2, ["b1"]), block(3, ["a1"])]),
      StorageConflictError,
    );
    assert.equal((await t.store.head())?.height, 1);
    assert.equal(await t.store.txById("b1"), undefined);
  } finally {
    await t.cleanup();
  }
});

Deno.test("txIdsAfter() walks committed ids in id order a page at a time, alike on prepared statements and through drizzle", async () => {
  const t = await tempStore();
  try {
    await t.store.writeBlocks([block(1, ["c3", "a1", "e5"]), block(2, ["b2", "d4"])]);
    const viaDrizzle = new ChainStore({ ...t.database, native: undefined });
    for (const store of [t.store, viaDrizzle]) {
      const pages: string[][] = [];
      let after = "";
      for (;;) {
        const page = await store.txIdsAfter(after, 2);
        pages.push(page);
        if (page.length < 2) break;
        after = page[page.length - 1];
      }
      assert.deepEqual(pages, [["a1", "b2"], ["c3", "d4"], ["e5"]]);
    }
  } finally {
    await t.cleanup();
  }
});

Deno.test("txById(), nodes() and the block reads on prepared statements answer what drizzle's reads answer, misses included", async () => {
  const t = await tempStore();
  const reader = new NativeReader(t.path);
  try {
    await t.store.writeBlocks([block(1, ["a1", "a2"]), block(2, ["b1"])]);
    const viaDrizzle = new ChainStore({ ...t.database, native: undefined });
    const coords = [{ level: 0, index: 10 }, { level: 0, index: 20 }, { level: 3, index: 0 }];
    for (const id of ["a1", "a2", "b1", "zz"]) {
      const expected = await viaDrizzle.txById(id);
      assert.deepEqual(await t.store.txById(id), expected, id);
      assert.deepEqual(reader.txById(id), expected, id);
    }
    const expected = await viaDrizzle.nodes(coords);
    assert.deepEqual([...expected.keys()].sort(), ["0/10", "0/20"]);
    assert.deepEqual(await t.store.nodes(coords), expected);
    assert.deepEqual(reader.nodes(coords), expected);
    assert.deepEqual(reader.nodes([]), new Map());
    for (const height of [1, 2, 3]) {
      const row = await viaDrizzle.blockByHeight(height);
      assert.deepEqual(await t.store.blockByHeight(height), row, `block ${height}`);
      assert.deepEqual(reader.blockByHeight(height), row, `block ${height}`);
      assert.deepEqual(reader.blockByHash(`hash-${height}`), row, `block hash-${height}`);
    }
    assert.deepEqual(reader.blockRange(0, 10), await viaDrizzle.blockRange(0, 10));
    assert.deepEqual(await t.store.blockRange(2, 5), await viaDrizzle.blockRange(2, 5));
    const ids = await viaDrizzle.txIdsOfBlocks([2, 1, 7]);
    assert.deepEqual([...ids], [[2, ["b1"]], [1, ["a1", "a2"]], [7, []]]);
    assert.deepEqual(reader.txIdsOfBlocks([2, 1, 7]), ids);
    assert.deepEqual(await t.store.txIdsOfBlocks([2, 1, 7]), ids);
    for (const [lo, hi] of [[0, 100], [10, 12], [11, 21], [30, 40]]) {
      const expected = await viaDrizzle.txsByLogRange(lo, hi);
      assert.deepEqual(reader.txsByLogRange(lo, hi), expected, `[${lo}, ${hi})`);
      assert.deepEqual(await t.store.txsByLogRange(lo, hi), expected, `[${lo}, ${hi})`);
    }
    assert.deepEqual((await viaDrizzle.txsByLogRange(0, 100)).map((r) => r.id), ["a1", "a2", "b1"]);
  } finally {
    reader.close();
    await t.cleanup();
  }
});

Deno.test("NativeReader on its own connection sees what the writer committed, and deletions", async () => {
  const t = await tempStore();
  const reader = new NativeReader(t.path);
  try {
    await t.store.writeBlocks([block(1, ["a1"], [{ ns: "n", key: "k", value: '"v"' }])]);
    assert.deepEqual([...reader.committedIds(["a1", "a2"])], ["a1"]);
    assert.equal(reader.stateValues([{ ns: "n", key: "k" }]).get("n\u0000k"), '"v"');
    await t.store.writeBlocks([block(2, ["a2"], [{ ns: "n", key: "k", value: null }])]);
    assert.equal(reader.stateValues([{ ns: "n", key: "k" }]).size, 0);
  } finally {
    reader.close();
    await t.cleanup();
  }
});

Deno.test("RaftStore.persist() on prepared statements replaces the log's tail and survives reopening", async () => {
  const dir = await Deno.makeTempDir();
  const url = `file:${dir}/site.db`;
  try {
    const d1 = await openDatabase(url);
    const raft = new RaftStore(d1);
    const e = (index: number, term: number) => ({
      index,
      term,
      type: "normal" as const,
      data: new Uint8Array([index, term]),
    });
    await raft.persist({
      entries: [e(1, 1), e(2, 1), e(3, 1)],
      hardState: { term: 1, vote: "a", commit: 1 },
    });
    await raft.persist({ entries: [e(2, 2)], hardState: { term: 2, vote: "b", commit: 1 } });
    await raft.persist({ entries: [], hardState: { term: 2, vote: "b", commit: 2 } }, {
      sync: false,
    });
    d1.close();
    const d2 = await openDatabase(url);
    const loaded = await new RaftStore(d2).load();
    d2.close();
    assert.deepEqual(loaded.entries.map((x) => [x.index, x.term, [...x.data]]), [[1, 1, [1, 1]], [
      2,
      2,
      [2, 2],
    ]]);
    assert.deepEqual(loaded.hardState, { term: 2, vote: "b", commit: 2 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("setSync() switches only the write path's connection: drizzle's commits stay FULL", async () => {
  const t = await tempStore();
  try {
    const drizzleLevel = async () =>
      Number((await t.database.client.execute("PRAGMA synchronous")).rows[0][0]);
    const native = t.database.native!;
    assert.equal(await drizzleLevel(), 2);
    assert.equal(native.syncLevel(), 2);
    t.database.setSync("normal");
    assert.equal(native.syncLevel(), 1, "the write path commits with NORMAL");
    await t.store.writeBlocks([block(1, ["a"])], "normal");
    assert.equal(await drizzleLevel(), 2, "drizzle's connection left FULL");
    await t.store.writeBlocks([block(2, ["b"])], "full");
    assert.equal(native.syncLevel(), 2, "the write path is back to FULL");
    t.database.setSync("normal");
    await t.store.setMeta({ probe: "1" });
    assert.equal(await drizzleLevel(), 2);
    assert.equal(native.syncLevel(), 1);
    assert.equal(await t.store.getMeta("probe"), "1");
    assert.equal((await t.store.head())?.height, 2);
  } finally {
    await t.cleanup();
  }
});

Deno.test("openDatabase(): every connection of drizzle's client waits for a busy lock, at FULL sync", async () => {
  const t = await tempStore();
  try {
    const c = t.database.client;
    // Concurrent calls: a pool would open a connection per call in flight.
    const one = async (sql: string) => Number(Object.values((await c.execute(sql)).rows[0])[0]);
    const timeouts = await Promise.all([0, 1, 2].map(() => one("PRAGMA busy_timeout")));
    const syncs = await Promise.all([0, 1, 2].map(() => one("PRAGMA synchronous")));
    assert.deepEqual(timeouts, [5000, 5000, 5000]);
    assert.deepEqual(syncs, [2, 2, 2]);
  } finally {
    await t.cleanup();
  }
});

Deno.test("both connections trim the write-ahead log to WAL_BYTES_KEPT_MAX at a checkpoint (a long reader's growth is not kept for good)", async () => {
  const t = await tempStore();
  try {
    const limit = async (sql: (q: string) => Promise<unknown> | unknown) =>
      Number(Object.values(await sql("PRAGMA journal_size_limit") as object)[0]);
    const drizzleLimit = await limit(async (q) => (await t.database.client.execute(q)).rows[0]);
    const nativeLimit = t.database.native!.pragmaNumber("journal_size_limit");
    assert.equal(drizzleLimit, WAL_BYTES_KEPT_MAX);
    assert.equal(nativeLimit, WAL_BYTES_KEPT_MAX);
  } finally {
    await t.cleanup();
  }
});

Deno.test("NativeSnapshot.statePage() hands back a key holding U+0000 whole (libSQL cuts TEXT there), so the page after one ending on it goes on past it", async () => {
  const t = await tempStore();
  try {
    // data.anchor keys are `<stream>\u0000<seq in hex>`.
    const keys = ["a", "s\u000001", "s\u000002", "s\u000003", "t\u0000\u{1F4E1}", "u"];
    await t.store.writeBlocks([
      block(
        1,
        ["t1"],
        keys.map((key) => ({ ns: "zz.test", key, value: `"${keys.indexOf(key)}"` })),
      ),
    ]);
    const snapshot = new NativeSnapshot(t.path);
    try {
      const seen: string[] = [];
      let after: { ns: string; key: string } | undefined;
      // Bounded: a cut key would send the next page back to the stream's first row for good.
      for (let pages = 0; pages < 10; pages++) {
        const page = snapshot.statePage(after, 2).filter((r) => r.ns === "zz.test");
        seen.push(...page.map((r) => r.key));
        if (page.length < 2) break;
        after = { ns: "zz.test", key: page[1].key };
      }
      assert.deepEqual(seen, keys);
    } finally {
      snapshot.close();
    }
  } finally {
    await t.cleanup();
  }
});
