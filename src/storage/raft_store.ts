/**
 * Durable Raft state in the site's libSQL database: the log entries after
 * the latest snapshot, the hard state and the snapshot itself.
 *
 * The consensus core reads its log synchronously from memory; this store is
 * what makes that memory survive a crash. {@link RaftStore.persist} writes one
 * Ready's snapshot, entries and hard state in ONE database transaction, and
 * the host sends the Ready's messages only after it returns.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { and, asc, gte, lte, sql } from "drizzle-orm";
import type { Entry, HardState, Snapshot } from "../consensus/mod.ts";
import type { Database, Db } from "./db.ts";
import { meta, raftEntries } from "./schema.ts";

/** What a restarting site loads into its in-memory Raft storage. */
export interface RaftDurableState {
  hardState: HardState | undefined;
  snapshot: Snapshot | undefined;
  /** Entries after the snapshot, ascending and contiguous. */
  entries: Entry[];
}

/** Entries per multi-row INSERT. */
const insertRowsMax = 400;

/** What the consensus host needs of the Raft log's repository. */
export interface RaftStoreApi {
  load(): Promise<RaftDurableState>;
  persist(
    ready: { snapshot?: Snapshot; entries: Entry[]; hardState?: HardState },
    options?: { sync?: boolean },
  ): Promise<void>;
  saveSnapshot(snapshot: Snapshot, compactIndex: number): Promise<void>;
}

/** The Raft log's repository. */
export class RaftStore implements RaftStoreApi {
  readonly #db: Db;
  readonly #database: Database;

  constructor(database: Database) {
    this.#db = database.db;
    this.#database = database;
  }

  /** Reads everything persisted. */
  async load(): Promise<RaftDurableState> {
    const rows = await this.#db.select().from(meta).where(
      sql`${meta.key} in ('raft_hard_state', 'raft_snapshot')`,
    );
    const byKey = new Map(rows.map((r) => [r.key, r.value]));
    const hs = byKey.get("raft_hard_state");
    const snap = byKey.get("raft_snapshot");
    const entries = (await this.#db.select().from(raftEntries).orderBy(asc(raftEntries.idx))).map((
      r,
    ) => ({ index: r.idx, term: r.term, type: r.type, data: new Uint8Array(r.data) }));
    const snapshot = snap === undefined ? undefined : decodeSnapshot(snap);
    const after = snapshot?.metadata.index ?? 0;
    return {
      hardState: hs === undefined ? undefined : JSON.parse(hs) as HardState,
      snapshot,
      entries: entries.filter((e) => e.index > after),
    };
  }

  /**
   * Durably writes one Ready's snapshot (replacing the whole log), entries
   * (an entry whose index exists replaces it and every later one) and hard
   * state, in one transaction. Returns once it is on disk, unless `sync` is
   * false: the caller may say so when only the commit index changed (it
   * can be learned again from the leader after a crash; etcd's MustSync).
   */
  async persist(
    ready: { snapshot?: Snapshot; entries: Entry[]; hardState?: HardState },
    options: { sync?: boolean } = {},
  ): Promise<void> {
    // The Raft log is what makes an acknowledgment true: fsynced whenever
    // it holds entries, a snapshot, a new term or a vote.
    this.#database.setSync(options.sync === false ? "normal" : "full");
    const native = this.#database.native;
    if (native !== undefined) {
      if (!ready.snapshot && ready.entries.length === 0 && !ready.hardState) return;
      native.persistRaft({
        snapshot: ready.snapshot ? encodeSnapshot(ready.snapshot) : undefined,
        entries: ready.entries,
        hardState: ready.hardState ? JSON.stringify(ready.hardState) : undefined,
      });
      return;
    }
    const db = this.#db;
    // deno-lint-ignore no-explicit-any
    const stmts: any[] = [];
    if (ready.snapshot) {
      stmts.push(db.delete(raftEntries));
      stmts.push(upsertMeta(db, "raft_snapshot", encodeSnapshot(ready.snapshot)));
    }
    if (ready.entries.length > 0) {
      stmts.push(db.delete(raftEntries).where(gte(raftEntries.idx, ready.entries[0].index)));
      const rows = ready.entries.map((e) => ({
        idx: e.index,
        term: e.term,
        type: e.type,
        data: Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength),
      }));
      for (let i = 0; i < rows.length; i += insertRowsMax) {
        stmts.push(db.insert(raftEntries).values(rows.slice(i, i + insertRowsMax)));
      }
    }
    if (ready.hardState) {
      stmts.push(upsertMeta(db, "raft_hard_state", JSON.stringify(ready.hardState)));
    }
    if (stmts.length === 0) return;
    await db.batch(stmts as [typeof stmts[0], ...typeof stmts]);
  }

  /**
   * Records a snapshot the site made of its own applied state and discards
   * the entries up to `compactIndex` (which must not exceed the snapshot's
   * index), in one transaction.
   */
  async saveSnapshot(snapshot: Snapshot, compactIndex: number): Promise<void> {
    // Through drizzle's connection, which always commits with FULL.
    const db = this.#db;
    await db.batch([
      upsertMeta(db, "raft_snapshot", encodeSnapshot(snapshot)),
      db.delete(raftEntries).where(and(lte(raftEntries.idx, compactIndex))),
    ]);
  }
}

function upsertMeta(db: Db, key: string, value: string) {
  return db.insert(meta).values({ key, value }).onConflictDoUpdate({
    target: meta.key,
    set: { value },
  });
}

function encodeSnapshot(s: Snapshot): string {
  return JSON.stringify({ metadata: s.metadata, data: Buffer.from(s.data).toString("base64") });
}

function decodeSnapshot(text: string): Snapshot {
  const o = JSON.parse(text) as { metadata: Snapshot["metadata"]; data: string };
  return { metadata: o.metadata, data: new Uint8Array(Buffer.from(o.data, "base64")) };
}
