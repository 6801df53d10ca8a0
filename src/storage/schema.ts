/**
 * The one drizzle schema of a site's libSQL database. `drizzle-kit generate`
 * turns it into the SQL under `migrations/`, applied at start.
 *
 * @module
 */
import { blob, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Chain metadata: genesis, applied position, the site's identity. One row per key. */
export const meta = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

/** Blocks in height order. `header` is the JCS text that was hashed. */
export const blocks = sqliteTable("blocks", {
  height: integer("height").primaryKey(),
  hash: text("hash").notNull().unique(),
  prev: text("prev").notNull(),
  time: integer("time").notNull(),
  term: integer("term").notNull(),
  proposer: text("proposer").notNull(),
  txCount: integer("tx_count").notNull(),
  logSize: integer("log_size").notNull(),
  logRoot: text("log_root").notNull(),
  header: text("header").notNull(),
  /** The consensus log index whose entry produced this block (0 for genesis). */
  entryIndex: integer("entry_index").notNull(),
});

/**
 * Committed transactions, one row per log leaf. The primary key is the set of
 * seen transaction ids: a second copy cannot be stored.
 */
export const txs = sqliteTable("txs", {
  id: text("id").primaryKey(),
  logIndex: integer("log_index").notNull().unique(),
  height: integer("height").notNull(),
  kind: text("kind").notNull(),
  /** JCS of the signed envelope. */
  envelope: text("envelope").notNull(),
  /** JCS of the result recorded in the leaf. */
  result: text("result").notNull(),
  status: text("status", { enum: ["applied", "rejected"] }).notNull(),
}, (t) => [index("txs_height").on(t.height)]);

/**
 * Perfect subtrees of the RFC 9162 log: `(level, idx)` is the hash over leaves
 * `[idx * 2^level, (idx + 1) * 2^level)`. Level 0 holds the leaf hashes.
 */
export const merkleNodes = sqliteTable("merkle_nodes", {
  level: integer("level").notNull(),
  idx: integer("idx").notNull(),
  hash: blob("hash", { mode: "buffer" }).notNull(),
}, (t) => [primaryKey({ columns: [t.level, t.idx] })]);

/** One signed-note signature line per (block height, site). */
export const checkpointSigs = sqliteTable("checkpoint_sigs", {
  height: integer("height").notNull(),
  site: text("site").notNull(),
  line: text("line").notNull(),
}, (t) => [primaryKey({ columns: [t.height, t.site] })]);

/**
 * Contract state as namespaced keys with JSON values. Keys are chosen by each
 * contract so that a prefix range is a useful read model.
 */
export const state = sqliteTable("state", {
  ns: text("ns").notNull(),
  key: text("key").notNull(),
  value: text("value").notNull(),
}, (t) => [primaryKey({ columns: [t.ns, t.key] })]);

/**
 * The Raft log: entries after the latest snapshot. Hard state and snapshot
 * metadata live in `meta` (`raft_hard_state`, `raft_snapshot`).
 */
export const raftEntries = sqliteTable("raft_entries", {
  idx: integer("idx").primaryKey(),
  term: integer("term").notNull(),
  type: text("type", { enum: ["normal", "confChange"] }).notNull(),
  data: blob("data", { mode: "buffer" }).notNull(),
});
