/**
 * The write path of a site's database on prepared statements.
 *
 * Every block writes a few rows per transaction (the transaction, its Merkle
 * log nodes, contract state) and every Raft Ready writes its entries. Built
 * by drizzle through `@libsql/client`, each of those statements is turned
 * into SQL text and compiled by SQLite again for every block; here they are
 * compiled once per connection and run row by row inside one transaction,
 * which measured 3× less CPU per transaction (see BENCHMARKS.md).
 *
 * Same tables, same rows as the drizzle schema in `schema.ts` (whose
 * migrations create them); used for `file:` databases only — a remote libSQL
 * server is written through drizzle.
 *
 * @module
 */
import { Buffer } from "node:buffer";
// @ts-types="./libsql_native.d.ts"
import Libsql from "libsql";
import type { BlockRow, BlockWrite, TxRowStored } from "./chain_store.ts";

type Statement = ReturnType<Libsql["prepare"]>;

/**
 * The committed rows a site's read routes ask for: answered at once on
 * prepared statements ({@link NativeReader}) or later by a store.
 */
export interface RowReads {
  txById(id: string): TxRowStored | undefined | Promise<TxRowStored | undefined>;
  nodes(
    coords: ReadonlyArray<{ level: number; index: number }>,
  ): Map<string, Uint8Array> | Promise<Map<string, Uint8Array>>;
  blockByHeight(height: number): BlockRow | undefined | Promise<BlockRow | undefined>;
  blockByHash(hash: string): BlockRow | undefined | Promise<BlockRow | undefined>;
  blockRange(from: number, limit: number): BlockRow[] | Promise<BlockRow[]>;
  txIdsOfBlocks(heights: number[]): Map<number, string[]> | Promise<Map<number, string[]>>;
  txsByLogRange(lo: number, hi: number): TxRowStored[] | Promise<TxRowStored[]>;
}

/**
 * Bytes of write-ahead log a checkpoint leaves on disk (`PRAGMA
 * journal_size_limit`): SQLite reuses the WAL file from its start and never
 * shrinks it by itself, so one long reader (a backup to a slow client, the
 * state check) that let it grow would keep that size for good. A site's WAL
 * runs a few MiB between checkpoints, so this only trims after such a reader.
 */
export const WAL_BYTES_KEPT_MAX = 64 * 1024 * 1024;

/** The `txs` columns in `TxRowStored`'s order. */
const txColumns = "id, log_index, height, kind, envelope, result, status";

type TxTuple = [string, number, number, string, string, string, TxRowStored["status"]];

function txRowOf(t: TxTuple): TxRowStored {
  const [id, logIndex, height, kind, envelope, result, status] = t;
  return { id, logIndex, height, kind, envelope, result, status };
}

/** The `blocks` columns in `BlockRow`'s order. */
const blockColumns =
  "height, hash, prev, time, term, proposer, tx_count, log_size, log_root, header, entry_index";

type BlockTuple = [
  number,
  string,
  string,
  number,
  number,
  string,
  number,
  number,
  string,
  string,
  number,
];

function blockRowOf(t: BlockTuple): BlockRow {
  const [height, hash, prev, time, term, proposer, txCount, logSize, logRoot, header, entryIndex] =
    t;
  return {
    height,
    hash,
    prev,
    time,
    term,
    proposer,
    txCount,
    logSize,
    logRoot,
    header,
    entryIndex,
  };
}

/** One site's checkpoint signature line for a block. */
export interface CheckpointLineRow {
  height: number;
  site: string;
  line: string;
}

/** One Ready's durable part, as the Raft store receives it. */
export interface NativeRaftWrite {
  /** Replace the whole log with this snapshot (encoded), if set. */
  snapshot?: string;
  entries: Array<{ index: number; term: number; type: string; data: Uint8Array }>;
  /** The hard state (JSON), if it changed. */
  hardState?: string;
}

/** A {@link NativeWriter}'s connection and what runs its statements. */
interface WriterParts {
  db: Libsql;
  writeBlocks: (ws: BlockWrite[]) => void;
  persistRaft: (w: NativeRaftWrite) => void;
  addLines: (lines: ReadonlyArray<CheckpointLineRow>) => void;
}

/** A second connection to a `file:` database with the hot statements compiled once. */
export class NativeWriter {
  /**
   * The connection and everything that holds its statements; undefined once
   * closed, so that nothing here keeps a statement (and with it the
   * database file) alive — see `release.ts`.
   */
  #open: WriterParts | undefined;
  #sync: "full" | "normal" = "full";
  readonly #reader: NativeReader;

  constructor(path: string) {
    const db = openConnection(path);
    this.#reader = new NativeReader(db);
    const s = (sql: string): Statement => db.prepare(sql);
    const st = {
      block: s(
        "INSERT INTO blocks (height, hash, prev, time, term, proposer, tx_count, log_size, log_root, header, entry_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      tx: s(
        "INSERT INTO txs (id, log_index, height, kind, envelope, result, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      node: s("INSERT INTO merkle_nodes (level, idx, hash) VALUES (?, ?, ?)"),
      statePut: s(
        "INSERT INTO state (ns, key, value) VALUES (?, ?, ?) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
      ),
      stateDelete: s("DELETE FROM state WHERE ns = ? AND key = ?"),
      line: s(
        "INSERT INTO checkpoint_sigs (height, site, line) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
      ),
      meta: s(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ),
      raftDeleteAll: s("DELETE FROM raft_entries"),
      raftDeleteFrom: s("DELETE FROM raft_entries WHERE idx >= ?"),
      raftEntry: s("INSERT INTO raft_entries (idx, term, type, data) VALUES (?, ?, ?, ?)"),
    };
    const writeOne = (w: BlockWrite) => {
      const b = w.block;
      st.block.run(
        b.height,
        b.hash,
        b.prev,
        b.time,
        b.term,
        b.proposer,
        b.txCount,
        b.logSize,
        b.logRoot,
        b.header,
        b.entryIndex,
      );
      for (const t of w.txs) {
        st.tx.run(t.id, t.logIndex, t.height, t.kind, t.envelope, t.result, t.status);
      }
      for (const n of w.nodes) st.node.run(n.level, n.index, toBuffer(n.hash));
      for (const x of w.stateWrites) {
        if (x.value === null) st.stateDelete.run(x.ns, x.key);
        else st.statePut.run(x.ns, x.key, x.value);
      }
      st.line.run(b.height, w.checkpointLine.site, w.checkpointLine.line);
      for (const [key, value] of Object.entries(w.meta)) st.meta.run(key, value);
    };
    const writeBlocks = db.transaction((ws: BlockWrite[]) => {
      for (const w of ws) writeOne(w);
    });
    const addLines = db.transaction((lines: ReadonlyArray<CheckpointLineRow>) => {
      for (const l of lines) st.line.run(l.height, l.site, l.line);
    });
    const persistRaft = db.transaction((w: NativeRaftWrite) => {
      if (w.snapshot !== undefined) {
        st.raftDeleteAll.run();
        st.meta.run("raft_snapshot", w.snapshot);
      }
      if (w.entries.length > 0) {
        st.raftDeleteFrom.run(w.entries[0].index);
        for (const e of w.entries) st.raftEntry.run(e.index, e.term, e.type, toBuffer(e.data));
      }
      if (w.hardState !== undefined) st.meta.run("raft_hard_state", w.hardState);
    });
    this.#open = { db, writeBlocks, persistRaft, addLines };
  }

  /** The open connection's parts; throws once closed. */
  #live(): WriterParts {
    if (this.#open === undefined) throw new Error("Cannot use the database: it is closed");
    return this.#open;
  }

  /** Sets how the next commits reach the disk (see `Database.setSync`). */
  setSync(mode: "full" | "normal"): void {
    if (mode === this.#sync) return;
    // Not a prepared statement: libSQL's prepared PRAGMA does not reliably
    // take effect when run (its first run left the level unchanged).
    this.#live().db.exec(`PRAGMA synchronous = ${mode === "full" ? "FULL" : "NORMAL"}`);
    this.#sync = mode;
  }

  /** The write connection's `PRAGMA synchronous` as SQLite reports it (1 NORMAL, 2 FULL). */
  syncLevel(): number {
    return this.pragmaNumber("synchronous");
  }

  /** A numeric PRAGMA of the write connection (`name` from this code, never from input). */
  pragmaNumber(name: string): number {
    return Number(Object.values(this.#live().db.prepare(`PRAGMA ${name}`).get() as object)[0]);
  }

  /** Writes blocks (in order) and everything they carry in one transaction. */
  writeBlocks(writes: BlockWrite[]): void {
    this.#live().writeBlocks(writes);
  }

  /** Adds checkpoint signature lines (each idempotent) in one transaction. */
  addCheckpointLines(lines: ReadonlyArray<CheckpointLineRow>): void {
    this.#live().addLines(lines);
  }

  /** Writes one Ready's snapshot, entries and hard state in one transaction. */
  persistRaft(write: NativeRaftWrite): void {
    this.#live().persistRaft(write);
  }

  /** Point and range reads on this connection's prepared statements (it sees every commit). */
  get reader(): NativeReader {
    return this.#reader;
  }

  /**
   * Closes the connection and drops every statement prepared on it (its
   * reader's too). Idempotent. The file is let go once the statements are
   * collected: see `releaseClosedConnections`.
   */
  close(): void {
    const open = this.#open;
    if (open === undefined) return;
    this.#open = undefined;
    this.#reader.close();
    open.db.close();
  }
}

/** A {@link NativeReader}'s statements. */
interface ReaderStatements {
  stateIn: Statement;
  txsIn: Statement;
  idsAfter: Statement;
  txById: Statement;
  txsByLogRange: Statement;
  nodesIn: Statement;
  blockByHeight: Statement;
  blockByHash: Statement;
  blockRange: Statement;
  txIdsOfBlocks: Statement;
}

/**
 * Point reads on prepared statements: which transactions are committed and
 * the current value of state keys. A site whose writes go through a storage
 * worker opens one on its main thread: reads then never queue behind a
 * write on its way to disk (WAL readers see the last committed state).
 */
export class NativeReader implements RowReads {
  readonly #db: Libsql | undefined;
  /** Its statements; undefined once closed (nothing here then keeps the file open). */
  #st: ReaderStatements | undefined;

  /** Opens its own connection to `path`, or shares `connection`. */
  constructor(source: string | Libsql) {
    const db = typeof source === "string" ? openConnection(source) : source;
    if (typeof source === "string") this.#db = db;
    this.#st = {
      // One statement per call, whatever the number of keys: the keys travel
      // as one JSON array and json_each's `key` is the position in it.
      stateIn: db.prepare(
        "SELECT j.key, s.value FROM json_each(?) AS j JOIN state AS s " +
          "ON s.ns = json_extract(j.value, '$[0]') AND s.key = json_extract(j.value, '$[1]')",
      ).raw(),
      txsIn: db.prepare(
        "SELECT j.key FROM json_each(?) AS j JOIN txs AS t ON t.id = j.value",
      ).raw(),
      // The primary key's index covers `id`: the walk never reads the table.
      idsAfter: db.prepare("SELECT id FROM txs WHERE id > ? ORDER BY id LIMIT ?").raw(),
      txById: db.prepare(`SELECT ${txColumns} FROM txs WHERE id = ?`).raw(),
      txsByLogRange: db.prepare(
        `SELECT ${txColumns} FROM txs WHERE log_index >= ? AND log_index < ? ORDER BY log_index`,
      ).raw(),
      nodesIn: db.prepare(
        "SELECT n.level, n.idx, n.hash FROM json_each(?) AS j JOIN merkle_nodes AS n " +
          "ON n.level = json_extract(j.value, '$[0]') AND n.idx = json_extract(j.value, '$[1]')",
      ).raw(),
      blockByHeight: db.prepare(`SELECT ${blockColumns} FROM blocks WHERE height = ?`).raw(),
      blockByHash: db.prepare(`SELECT ${blockColumns} FROM blocks WHERE hash = ?`).raw(),
      blockRange: db.prepare(
        `SELECT ${blockColumns} FROM blocks WHERE height >= ? AND height < ? ORDER BY height`,
      ).raw(),
      txIdsOfBlocks: db.prepare(
        "SELECT height, id FROM txs WHERE height IN (SELECT value FROM json_each(?)) ORDER BY log_index",
      ).raw(),
    };
  }

  /** The statements; throws once closed. */
  get #s(): ReaderStatements {
    if (this.#st === undefined) throw new Error("Cannot read the database: it is closed");
    return this.#st;
  }

  /** Which of `ids` are committed transactions. */
  committedIds(ids: readonly string[]): Set<string> {
    const found = new Set<string>();
    if (ids.length === 0) return found;
    for (const [i] of this.#s.txsIn.all(JSON.stringify(ids)) as Array<[number]>) found.add(ids[i]);
    return found;
  }

  /** Up to `limit` committed transaction ids above `after`, in id order. */
  txIdsAfter(after: string, limit: number): string[] {
    return (this.#s.idsAfter.all(after, limit) as Array<[string]>).map((r) => r[0]);
  }

  /** A committed transaction's row, as drizzle's `txs` gives it. */
  txById(id: string): TxRowStored | undefined {
    const t = this.#s.txById.get(id) as TxTuple | undefined;
    return t === undefined ? undefined : txRowOf(t);
  }

  /** Committed transactions with `lo <= logIndex < hi`, in log order. */
  txsByLogRange(lo: number, hi: number): TxRowStored[] {
    return (this.#s.txsByLogRange.all(lo, hi) as TxTuple[]).map(txRowOf);
  }

  /** Merkle nodes at `coords`, keyed `level/index`; absent ones are missing. */
  nodes(coords: ReadonlyArray<{ level: number; index: number }>): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    if (coords.length === 0) return out;
    const rows = this.#s.nodesIn.all(
      JSON.stringify(coords.map((c) => [c.level, c.index])),
    ) as Array<
      [number, number, Uint8Array]
    >;
    for (const [level, index, hash] of rows) out.set(`${level}/${index}`, new Uint8Array(hash));
    return out;
  }

  /** The block at `height`, as drizzle's `blocks` gives it. */
  blockByHeight(height: number): BlockRow | undefined {
    const t = this.#s.blockByHeight.get(height) as BlockTuple | undefined;
    return t === undefined ? undefined : blockRowOf(t);
  }

  /** The block whose hash is `hash`. */
  blockByHash(hash: string): BlockRow | undefined {
    const t = this.#s.blockByHash.get(hash) as BlockTuple | undefined;
    return t === undefined ? undefined : blockRowOf(t);
  }

  /** Blocks with `from <= height < from + limit`, ascending. */
  blockRange(from: number, limit: number): BlockRow[] {
    return (this.#s.blockRange.all(from, from + limit) as BlockTuple[]).map(blockRowOf);
  }

  /** Each block's transaction ids in log order. */
  txIdsOfBlocks(heights: number[]): Map<number, string[]> {
    const out = new Map<number, string[]>(heights.map((h) => [h, []]));
    if (heights.length === 0) return out;
    for (
      const [height, id] of this.#s.txIdsOfBlocks.all(JSON.stringify(heights)) as Array<
        [number, string]
      >
    ) {
      out.get(height)?.push(id);
    }
    return out;
  }

  /** Current values of state keys, keyed `ns\0key`; absent keys are missing. */
  stateValues(keys: ReadonlyArray<{ ns: string; key: string }>): Map<string, string> {
    const out = new Map<string, string>();
    if (keys.length === 0) return out;
    const rows = this.#s.stateIn.all(JSON.stringify(keys.map((k) => [k.ns, k.key]))) as Array<
      [number, string]
    >;
    for (const [i, value] of rows) out.set(`${keys[i].ns}\u0000${keys[i].key}`, value);
    return out;
  }

  /**
   * Drops its statements and closes the connection it opened (a shared one
   * is its owner's to close). Idempotent. The file is let go once the
   * statements are collected: see `releaseClosedConnections`.
   */
  close(): void {
    if (this.#st === undefined) return;
    this.#st = undefined;
    this.#db?.close();
  }
}

function openConnection(path: string): Libsql {
  const db = new Libsql(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec(`PRAGMA journal_size_limit = ${WAL_BYTES_KEPT_MAX}`);
  return db;
}

/** Keys are stored as UTF-8 text; a byte sequence that is not would be a broken invariant. */
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A row of the `state` table. */
export interface StateRow {
  ns: string;
  key: string;
  value: string;
}

/** A {@link NativeSnapshot}'s own statements. */
interface SnapshotStatements {
  statePage: Statement;
  stateFirst: Statement;
  head: Statement;
}

/**
 * One consistent view of a `file:` database for a long read (the replay
 * check walks a whole chain, the state check hashes every state row): its
 * own connection, `query_only`, and one read
 * transaction from the first read to {@link close}, so what a site that goes
 * on running commits meanwhile is not seen — the view is the database as of
 * one commit, as a backup's copy is. In WAL mode it does not hold up the
 * site's writes (the WAL grows while it is open: no checkpoint can pass it).
 */
export class NativeSnapshot {
  readonly #db: Libsql;
  /** Its own statements; undefined once closed (see `NativeReader`). */
  #st: SnapshotStatements | undefined;
  /** The committed rows, as the read routes read them, within the view. */
  readonly reads: NativeReader;

  constructor(path: string) {
    const db = new Libsql(path);
    try {
      db.exec("PRAGMA busy_timeout = 5000");
      db.exec("PRAGMA query_only = ON");
      this.reads = new NativeReader(db);
      this.#st = {
        // Keys as bytes: libSQL hands TEXT back cut at its first U+0000, and
        // data.anchor keys hold one (`<stream>\u0000<seq>`), so a page ending
        // on one would start the next over from the stream's first row.
        stateFirst: db.prepare(
          "SELECT ns, CAST(key AS BLOB), value FROM state ORDER BY ns, key LIMIT ?",
        ).raw(),
        statePage: db.prepare(
          "SELECT ns, CAST(key AS BLOB), value FROM state WHERE (ns, key) > (?, ?) " +
            "ORDER BY ns, key LIMIT ?",
        ).raw(),
        head: db.prepare("SELECT max(height) FROM blocks").raw(),
      };
      // Deferred: the view is fixed by the first read below.
      db.exec("BEGIN");
    } catch (e) {
      this.#st = undefined;
      db.close();
      throw e;
    }
    this.#db = db;
  }

  /** The statements; throws once closed. */
  get #s(): SnapshotStatements {
    if (this.#st === undefined) throw new Error("Cannot read the database: it is closed");
    return this.#st;
  }

  /** The height of the newest block in the view. */
  headHeight(): number {
    const [[height]] = this.#s.head.all() as Array<[number | null]>;
    return height ?? -1;
  }

  /**
   * Up to `limit` state rows after `after` (from the first when absent), in
   * `(ns, key)` order; each key whole, U+0000 included.
   */
  statePage(after: { ns: string; key: string } | undefined, limit: number): StateRow[] {
    const rows =
      (after === undefined
        ? this.#s.stateFirst.all(limit)
        : this.#s.statePage.all(after.ns, after.key, limit)) as Array<
          [string, Uint8Array, string]
        >;
    return rows.map(([ns, key, value]) => ({ ns, key: utf8Decoder.decode(key), value }));
  }

  /**
   * Ends the read transaction, drops the statements and closes the
   * connection. Idempotent. The file is let go once the statements are
   * collected: see `releaseClosedConnections`.
   */
  close(): void {
    if (this.#st === undefined) return;
    this.#st = undefined;
    this.reads.close();
    try {
      if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
    } finally {
      this.#db.close();
    }
  }
}
