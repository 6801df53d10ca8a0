/**
 * A site whose database is a libSQL server (`http://` URL) rather than a
 * `file:` — the path with no prepared-statement writer, where every write
 * goes through drizzle and `@libsql/client`'s Hrana-over-HTTP transport. The
 * server is the test double in `_hrana_server.ts` (one SQLite file behind
 * Hrana over HTTP on loopback).
 */
import assert from "node:assert/strict";
import { base64urlDecode, hexDecode } from "../sdk/encoding.ts";
import { generateKeyPair } from "../sdk/keys.ts";
import { leafHash, verifyConsistency, verifyInclusion } from "../sdk/merkle.ts";
import { parseCheckpoint } from "../sdk/checkpoint.ts";
import { parseNote, verifyNote } from "../sdk/note.ts";
import { blockHash } from "../sdk/block.ts";
// @ts-types="../src/storage/libsql_native.d.ts"
import Libsql from "libsql";
import { createClient } from "@libsql/client";
import { ChainStore, openDatabase, StorageConflictError } from "../src/storage/mod.ts";
import { RaftStore } from "../src/storage/raft_store.ts";
import type { SiteOptions } from "../src/site/site.ts";
import {
  anchorTx,
  checkRestartMidStream,
  checkStorageWorkerRoundTrip,
  getJson,
  openTestSite,
  postJson,
} from "./_helpers.ts";
import { startHranaServer } from "./_hrana_server.ts";
import {
  adminCall,
  blockHashes,
  getJson as getUrl,
  startCluster,
  statuses,
  submitCommit,
  waitFor,
} from "./_cluster.ts";

const device = generateKeyPair("ed25519");

/** A Hrana server on a fresh SQLite file, and a site on it. */
async function remoteSite(overrides: Partial<SiteOptions> = {}, serverToken?: string) {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-hrana-" });
  const server = await startHranaServer({ path: `${dir}/server.db`, authToken: serverToken });
  const t = await openTestSite({ dbUrl: server.url, ...overrides });
  return {
    ...t,
    server,
    serverFile: `${dir}/server.db`,
    cleanup: async () => {
      await t.cleanup();
      await server.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Rows of a query on a SQLite file (e.g. the server's), read directly, not through a server. */
function readSqliteFile(path: string, sql: string): unknown[][] {
  const db = new Libsql(path);
  try {
    return db.prepare(sql).raw().all() as unknown[][];
  } finally {
    db.close();
  }
}

Deno.test("remote database: a site on an http:// libSQL URL migrates through the server, commits, and serves proofs, blocks and checkpoints", async () => {
  const t = await remoteSite();
  try {
    assert.equal(t.site.store.database.native, undefined, "no prepared-statement writer remotely");
    // Everything lives in the server's file; the site made no database of its own.
    const local = [...Deno.readDirSync(t.dir)].map((e) => e.name);
    assert.deepEqual(local, [], "the site wrote no local database file");
    const migrations = readSqliteFile(t.serverFile, "SELECT count(*) FROM __drizzle_migrations");
    assert.equal(Number(migrations[0][0]), 2, "both migrations applied through the server");

    const sites = await getJson(t.app, "/v1/sites");
    const keys = sites.body.sites.map((s: { verifierKey: string }) => s.verifierKey);
    const receipts = [];
    for (let i = 0; i < 4; i++) {
      const envs = await Promise.all(Array.from({ length: 3 }, () => anchorTx(device)));
      const r = await postJson(t.app, "/v1/txs?wait=commit", { txs: envs });
      assert.equal(r.status, 200);
      receipts.push(...r.body.receipts);
    }
    assert.ok(receipts.every((r) => r.status === "committed" && r.result.status === "applied"));
    assert.equal(new Set(receipts.map((r) => r.logIndex)).size, 12);

    const note1 = (await getJson(t.app, "/v1/checkpoint")).body as string;
    assert.deepEqual(verifyNote(note1, keys), ["site-a"]);
    const cp1 = parseCheckpoint(parseNote(note1).text);
    assert.equal(cp1.size, 12);
    for (const r of receipts) {
      const p = await getJson(t.app, `/v1/txs/${r.txId}/proof`);
      assert.equal(p.status, 200);
      const leaf = leafHash(base64urlDecode(p.body.leaf));
      assert.ok(
        verifyInclusion(leaf, p.body.logIndex, cp1.size, p.body.proof.map(hexDecode), cp1.rootHash),
      );
    }
    const head = await getJson(t.app, `/v1/blocks/${cp1.height}`);
    assert.equal(blockHash(head.body.header), cp1.blockHash);
    const byHash = await getJson(t.app, `/v1/blocks/by-hash/${head.body.hash}`);
    assert.deepEqual(byHash.body, head.body);
    const page = await getJson(t.app, "/v1/blocks?from=0&limit=100");
    assert.equal(page.body.blocks.length, cp1.height + 1);
    for (let i = 1; i < page.body.blocks.length; i++) {
      assert.equal(page.body.blocks[i].header.prev, page.body.blocks[i - 1].hash);
    }

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
    const report = await t.site.integrity();
    assert.ok(report.ok, report.firstMismatch);
    assert.equal(report.txsChecked, 13);

    // What the site acknowledged is in the server's file.
    const stored = readSqliteFile(t.serverFile, "SELECT count(*) FROM txs");
    assert.equal(Number(stored[0][0]), 13);
    assert.ok(t.server.stats.pipelines > 0);
  } finally {
    await t.cleanup();
  }
});

Deno.test("remote database: restart mid-stream loses nothing committed, applies nothing twice, and the chain continues", async () => {
  const t = await remoteSite();
  try {
    await checkRestartMidStream(t, device, () => {
      assert.equal(t.server.stats.streamsOpen(), 0, "the closed site left no stream open");
    });
    const rows = readSqliteFile(t.serverFile, "SELECT count(*), count(DISTINCT id) FROM txs");
    assert.deepEqual(rows[0].map(Number), [40, 40], "no transaction stored twice");
  } finally {
    await t.cleanup();
  }
});

Deno.test("remote database: with a storage worker (what workers/site.ts uses), commits, restart and integrity work alike", async () => {
  const t = await remoteSite({ storage: "worker" });
  try {
    await checkStorageWorkerRoundTrip(t, device);
  } finally {
    await t.cleanup();
  }
});

Deno.test("remote database: a row edited on the server behind the site's back is caught by the integrity check", async () => {
  const t = await remoteSite();
  try {
    const envs = await Promise.all(Array.from({ length: 5 }, () => anchorTx(device)));
    await t.site.submit(envs, { wait: true, waitTimeoutMs: 10_000 });
    const row = (await t.site.store.txsByLogRange(2, 3))[0];
    await t.site.store.database.client.execute({
      sql: "UPDATE txs SET envelope = ? WHERE id = ?",
      args: [row.envelope.replace('"count":10', '"count":11'), row.id],
    });
    const report = await t.site.integrity();
    assert.equal(report.ok, false);
    assert.match(report.firstMismatch!, /log index 2: id .* does not match its envelope/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("remote database: while the server is unreachable nothing is acknowledged; a site restarted once it is back continues the chain", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-hrana-" });
  const path = `${dir}/server.db`;
  let server = await startHranaServer({ path });
  const t = await openTestSite({ dbUrl: server.url });
  let reopened;
  try {
    await t.site.submit([await anchorTx(device)], { wait: true, waitTimeoutMs: 5000 });
    const h = t.site.head.header.height;
    await server.close();
    const env = await anchorTx(device);
    const answer = await t.site.submit([env], { wait: true, waitTimeoutMs: 1000 }).then(
      (receipts) => receipts[0].status,
      (e: Error) => e.message,
    );
    assert.notEqual(answer, "committed", "no commit is acknowledged without the server");
    assert.equal((await t.site.status()).healthy, false, "the site says it cannot write");
    // The server comes back on the same address with the same file.
    server = await startHranaServer({ path, port: server.port });
    await t.site.close();
    reopened = await t.reopen();
    assert.equal(reopened.head.header.height, h, "the unwritten block is not in the chain");
    const [r] = await reopened.submit([env], { wait: true, waitTimeoutMs: 5000 });
    assert.equal(r.status, "committed");
    assert.equal(r.height, h + 1);
    const report = await reopened.integrity();
    assert.ok(report.ok, report.firstMismatch);
  } finally {
    await reopened?.close();
    await t.cleanup();
    await server.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("remote database: a libsql:// URL (with ?tls=0) reaches the same server as http://", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-hrana-" });
  const server = await startHranaServer({ path: `${dir}/server.db` });
  const t = await openTestSite({ dbUrl: `libsql://127.0.0.1:${server.port}?tls=0` });
  try {
    const r = await postJson(t.app, "/v1/txs?wait=commit", await anchorTx(device));
    assert.equal(r.body.status, "committed");
    assert.equal(Number(readSqliteFile(`${dir}/server.db`, "SELECT count(*) FROM txs")[0][0]), 1);
  } finally {
    await t.cleanup();
    await server.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("remote database: a block stored twice is refused as a StorageConflictError carrying SQLite's reason, and the server stays usable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-hrana-" });
  const server = await startHranaServer({ path: `${dir}/server.db` });
  const store = new ChainStore(await openDatabase(server.url));
  try {
    const write = {
      block: {
        height: 0,
        hash: "00".repeat(32),
        prev: "",
        time: 1,
        term: 0,
        proposer: "site-a",
        txCount: 0,
        logSize: 0,
        logRoot: "00".repeat(32),
        header: "{}",
        entryIndex: 0,
      },
      txs: [],
      nodes: [{ level: 0, index: 0, hash: new Uint8Array(32).fill(7) }],
      stateWrites: [{ ns: "n", key: "k\u0000x", value: '"v"' }],
      checkpointLine: { site: "site-a", line: "— site-a x" },
      meta: { applied_entry: "0" },
    };
    await store.writeBlock(write);
    await assert.rejects(
      () => store.writeBlock({ ...write, meta: { applied_entry: "9" } }),
      (e: Error) =>
        e instanceof StorageConflictError &&
        /Cannot write block 0: .*UNIQUE constraint/.test(e.message),
    );
    // The failed batch rolled back whole: the meta row it carried is not there.
    assert.equal(await store.getMeta("applied_entry"), "0");
    assert.equal((await store.head())?.height, 0);
    const nodes = await store.nodes([{ level: 0, index: 0 }]);
    assert.deepEqual(nodes.get("0/0"), new Uint8Array(32).fill(7), "blobs round-trip");
    const state = await store.stateValues([{ ns: "n", key: "k\u0000x" }]);
    assert.equal(state.get("n\u0000k\u0000x"), '"v"', "a key with a NUL round-trips");
    assert.equal(server.stats.streamsOpen(), 0);
  } finally {
    store.close();
    await server.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("remote database: checkpoint lines are stored together, each once, however many arrive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-hrana-" });
  const server = await startHranaServer({ path: `${dir}/server.db` });
  const store = new ChainStore(await openDatabase(server.url));
  try {
    // More lines than one INSERT takes: two sites' lines for 350 heights.
    const lines = Array.from({ length: 700 }, (_, i) => ({
      height: Math.floor(i / 2),
      site: `site-${i % 2}`,
      line: `— site-${i % 2} line-${i}`,
    }));
    const before = server.stats.pipelines;
    await store.addCheckpointLines(lines);
    assert.equal(server.stats.pipelines - before, 1, "one round trip for all the lines");
    // Lines stored already are kept as they are, not stored twice.
    await store.addCheckpointLines(lines.slice(0, 10).map((l) => ({ ...l, line: "other" })));
    const [[n]] = readSqliteFile(`${dir}/server.db`, "SELECT count(*) FROM checkpoint_sigs");
    assert.equal(Number(n), 700);
    assert.deepEqual(await store.checkpointLines(1), [
      { site: "site-0", line: "— site-0 line-2" },
      { site: "site-1", line: "— site-1 line-3" },
    ]);
  } finally {
    store.close();
    await server.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("remote database: an unreachable server is named with the reason when the database is opened", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-hrana-" });
  const server = await startHranaServer({ path: `${dir}/server.db` });
  await server.close();
  try {
    await assert.rejects(
      () => openDatabase(`${server.url}?authToken=secret`),
      (e: Error) =>
        e.message.startsWith(`Cannot open the database ${server.url}: `) &&
        !e.message.includes("secret"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("remote database: a server that takes a call and never answers fails it after the call limit instead of hanging the site", async () => {
  // A listener that reads each request and never answers: what a wedged
  // server or a black-holed connection looks like to the client.
  const never = Promise.withResolvers<Response>();
  const hung = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => never.promise);
  const url = `http://127.0.0.1:${hung.addr.port}`;
  const started = performance.now();
  try {
    await assert.rejects(
      () => openDatabase(url, undefined, { remoteCallMsMax: 300 }),
      (e: Error) => e.message.startsWith(`Cannot open the database ${url}: `),
    );
    assert.ok(performance.now() - started < 10_000, "the call failed at its limit, not never");
  } finally {
    never.resolve(new Response(null, { status: 503 }));
    await hung.shutdown();
  }
});

Deno.test("remote database: the Raft log persists through the server and loads back (entries replaced from a conflicting index, snapshot, hard state)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-hrana-" });
  const server = await startHranaServer({ path: `${dir}/server.db` });
  let database = await openDatabase(server.url);
  try {
    const raft = new RaftStore(database);
    const entry = (index: number, term: number) => ({
      index,
      term,
      type: "normal" as const,
      data: new Uint8Array([index, term, 0, 255]),
    });
    await raft.persist({
      entries: [entry(1, 1), entry(2, 1), entry(3, 1)],
      hardState: { term: 1, vote: "site-a", commit: 1 },
    });
    // A new leader's entries from index 2 on replace the old tail.
    await raft.persist({ entries: [entry(2, 2)], hardState: { term: 2, vote: "", commit: 2 } });
    database.close();
    database = await openDatabase(server.url);
    const loaded = await new RaftStore(database).load();
    assert.deepEqual(loaded.hardState, { term: 2, vote: "", commit: 2 });
    assert.deepEqual(loaded.entries, [entry(1, 1), entry(2, 2)]);
    const snapshot = {
      metadata: { index: 2, term: 2, confState: { voters: ["site-a"], learners: [] } },
      data: new Uint8Array([1, 2, 3]),
    };
    await new RaftStore(database).saveSnapshot(snapshot, 1);
    const after = await new RaftStore(database).load();
    assert.deepEqual(after.snapshot, snapshot);
    assert.deepEqual(after.entries, [], "entries up to the snapshot are not loaded");
  } finally {
    database.close();
    await server.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("remote database: the auth token reaches the server, and a site with the wrong one does not open", async () => {
  const t = await remoteSite({ dbAuthToken: "s3cret" }, "s3cret");
  try {
    const r = await postJson(t.app, "/v1/txs?wait=commit", await anchorTx(device));
    assert.equal(r.body.status, "committed");
    await assert.rejects(
      () => t.reopen({ dbAuthToken: "wrong" }),
      /Cannot open the database http:\/\/127.0.0.1:\d+: .*Authorization is missing or wrong/,
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test({
  name:
    "cluster: a site whose database is a libSQL server replicates, catches up by snapshot after SIGKILL, leads, and holds the same chain as the file-backed sites (3 sites)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "edgeledger-hrana-" });
    const server = await startHranaServer({ path: `${dir}/site-c.db` });
    // Small snapshots, so the restarted site-c finds the leader's log compacted past it.
    const cluster = await startCluster(3, { snapshotEntriesMin: 10, compactKeepEntries: 2 }, [
      {},
      {},
      { db: server.url },
    ]);
    try {
      const leaderIs = (name?: string) =>
        waitFor(`${name ?? "a"} leader`, async () => {
          const st = await statuses(cluster);
          return st.some((s) => s?.role === "leader" && (name === undefined || s.site === name))
            ? true
            : undefined;
        });
      const converged = () =>
        waitFor("sites to converge", async () => {
          const st = await statuses(cluster);
          const heights = st.map((s) => s?.height);
          return heights.every((h) => h !== undefined && h === heights[0]) ? true : undefined;
        }, 20_000);
      await leaderIs();
      let committed = 0;
      // Writes through every site, the remote-backed one included.
      for (let i = 0; i < 6; i++) {
        const r = await submitCommit(cluster.sites[i % 3].url, await anchorTx(device));
        assert.equal(r.body.status, "committed", JSON.stringify(r.body));
        committed++;
      }
      await converged();
      assert.ok(server.stats.pipelines > 0, "site-c wrote through the server");

      const cApplied = (await getUrl<{ appliedIndex: number }>(
        `${cluster.sites[2].url}/v1/status`,
      ))!.appliedIndex;
      await cluster.kill(2);
      await leaderIs();
      for (let i = 0; i < 24; i++) {
        const r = await submitCommit(cluster.sites[i % 2].url, await anchorTx(device));
        assert.equal(r.body.status, "committed", JSON.stringify(r.body));
        committed++;
      }
      // Both other sites compacted their logs past what site-c holds: it can
      // only catch up by snapshot (fetching and re-executing blocks).
      for (const name of ["site-a", "site-b"]) {
        const [[first]] = readSqliteFile(
          `${cluster.dir}/${name}/ledger.db`,
          "SELECT min(idx) FROM raft_entries",
        );
        assert.ok(Number(first) > cApplied + 1, `${name}'s log starts at ${first}`);
      }
      await cluster.start(2);
      await converged();

      // site-c leads: its proposals and Raft log go through the server too.
      const moved = await adminCall(cluster, "/leader", { method: "POST", body: { to: "site-c" } });
      assert.equal(moved.status, 200, await moved.text());
      await leaderIs("site-c");
      for (let i = 0; i < 6; i++) {
        const r = await submitCommit(cluster.sites[i % 3].url, await anchorTx(device));
        assert.equal(r.body.status, "committed", JSON.stringify(r.body));
        committed++;
      }
      await converged();
      const [a, b, c] = await Promise.all(cluster.sites.map((s) => blockHashes(s.url)));
      assert.deepEqual(b, a);
      assert.deepEqual(c, a, "the remote-backed site holds the same blocks");
      const status = await getUrl<{ logSize: number }>(`${cluster.sites[2].url}/v1/status`);
      assert.equal(status?.logSize, committed);
      const integrity = await getUrl<{ ok: boolean; firstMismatch?: string }>(
        `${cluster.sites[2].url}/v1/integrity`,
        10_000,
      );
      assert.equal(integrity?.ok, true, integrity?.firstMismatch);
      const rows = readSqliteFile(`${dir}/site-c.db`, "SELECT count(*) FROM txs");
      assert.equal(Number(rows[0][0]), committed, "site-c's transactions are in the server's file");
    } finally {
      await cluster.stop();
      await server.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

// ---- the test double itself ----------------------------------------------

/** A Hrana server on a fresh file, with `@libsql/client` on it. */
async function hranaClient(intMode: "number" | "bigint" = "number") {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-hrana-" });
  const server = await startHranaServer({ path: `${dir}/server.db` });
  const client = createClient({ url: server.url, intMode });
  return {
    server,
    client,
    close: async () => {
      client.close();
      await server.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

Deno.test("hrana test server: values keep their types (64-bit integer, float, text, blob, null), with column types, affected rows and last rowid", async () => {
  const h = await hranaClient("bigint");
  try {
    await h.client.execute(
      "CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, f REAL, s TEXT, b BLOB)",
    );
    const big = 2n ** 62n + 1n;
    const r = await h.client.execute({
      sql: "INSERT INTO t (i, f, s, b) VALUES (?, ?, ?, ?), (?, NULL, NULL, NULL)",
      args: [big, 1.5, "é ✓", new Uint8Array([0, 255]), -7n],
    });
    assert.equal(r.rowsAffected, 2);
    assert.equal(r.lastInsertRowid, 2n);
    const rows = await h.client.execute("SELECT i, f, s, b FROM t ORDER BY id");
    assert.deepEqual(rows.columnTypes, ["INTEGER", "REAL", "TEXT", "BLOB"]);
    assert.equal(rows.rows[0].i, big);
    assert.equal(rows.rows[0].f, 1.5);
    assert.equal(rows.rows[0].s, "é ✓");
    assert.deepEqual(new Uint8Array(rows.rows[0].b as ArrayBuffer), new Uint8Array([0, 255]));
    assert.deepEqual([rows.rows[1].i, rows.rows[1].f, rows.rows[1].s], [-7n, null, null]);
    const named = await h.client.execute({ sql: "SELECT :a + @b AS n", args: { a: 1, b: 2 } });
    assert.equal(named.rows[0].n, 3);
    const ret = await h.client.execute("UPDATE t SET f = 2 WHERE i = -7 RETURNING id");
    assert.equal(ret.rowsAffected, 1, "a statement returning rows still counts its writes");
  } finally {
    await h.close();
  }
});

Deno.test("hrana test server: an interactive transaction holds other streams' statements until it commits, and a rollback leaves nothing", async () => {
  const h = await hranaClient();
  const other = createClient({ url: h.server.url });
  try {
    await h.client.execute("CREATE TABLE t (v TEXT)");
    const tx = await h.client.transaction("write");
    await tx.execute("INSERT INTO t VALUES ('in tx')");
    let otherDone = false;
    const write = other.execute("INSERT INTO t VALUES ('other')").then(() => (otherDone = true));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(otherDone, false, "another stream waits for the transaction");
    await tx.commit();
    await write;
    const rows = await h.client.execute("SELECT v FROM t ORDER BY rowid");
    assert.deepEqual(rows.rows.map((r) => r.v), ["in tx", "other"]);
    const rolled = await h.client.transaction("write");
    await rolled.execute("INSERT INTO t VALUES ('rolled back')");
    await rolled.rollback();
    assert.equal((await h.client.execute("SELECT count(*) AS n FROM t")).rows[0].n, 2);
    assert.equal(h.server.stats.streamsOpen(), 0);
  } finally {
    other.close();
    await h.close();
  }
});

Deno.test("hrana test server: a baton is good for one request, and a failed step skips the steps conditioned on it", async () => {
  const h = await hranaClient();
  try {
    const post = async (body: unknown) => {
      const res = await fetch(`${h.server.url}/v2/pipeline`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };
    const first = await post({ baton: null, requests: [{ type: "get_autocommit" }] });
    assert.equal(first.status, 200);
    assert.equal(first.body.results[0].response.is_autocommit, true);
    const baton = first.body.baton;
    const step = (sql: string, condition?: unknown) => ({ condition, stmt: { sql } });
    const second = await post({
      baton,
      requests: [{
        type: "batch",
        batch: {
          steps: [
            step("SELECT nope"),
            step("SELECT 1", { type: "ok", step: 0 }),
            step("SELECT 2", { type: "not", cond: { type: "ok", step: 0 } }),
          ],
        },
      }, { type: "close" }],
    });
    const result = second.body.results[0].response.result;
    assert.match(result.step_errors[0].message, /no such column: nope/);
    assert.deepEqual([result.step_results[1], result.step_errors[1]], [null, null]);
    assert.deepEqual(result.step_results[2].rows, [[{ type: "integer", value: "2" }]]);
    assert.equal(second.body.baton, null, "a closed stream has no baton");
    const reused = await post({ baton, requests: [{ type: "get_autocommit" }] });
    assert.equal(reused.status, 400);
    assert.equal(reused.body.code, "STREAM_EXPIRED");
  } finally {
    await h.close();
  }
});
