/**
 * The chain's repository: blocks, committed transactions, the Merkle log's
 * nodes, checkpoint signatures and contract state, in one libSQL database.
 *
 * A block and everything it writes (transactions, log nodes, state, the
 * applied position) commit in ONE database transaction: a crash leaves a
 * block either fully applied or not at all.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { and, asc, eq, gt, gte, inArray, lt, lte, or, sql } from "drizzle-orm";
import type { Database, Db } from "./db.ts";
import type { CheckpointLineRow, NativeReader } from "./native.ts";
import { blocks, checkpointSigs, merkleNodes, meta, state, txs } from "./schema.ts";

/** A stored block row. */
export type BlockRow = typeof blocks.$inferSelect;
/** A stored transaction row. */
export type TxRowStored = typeof txs.$inferSelect;

/** Thrown when a write would break a uniqueness rule (e.g. a block height or tx id stored twice). */
export class StorageConflictError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StorageConflictError";
  }
}

/** Everything one block writes, in storage terms. */
export interface BlockWrite {
  block: Omit<BlockRow, never>;
  txs: TxRowStored[];
  nodes: Array<{ level: number; index: number; hash: Uint8Array }>;
  stateWrites: Array<{ ns: string; key: string; value: string | null }>;
  checkpointLine: { site: string; line: string };
  /** Meta keys to set in the same transaction (e.g. the applied entry index). */
  meta: Record<string, string>;
}

/** Rows per multi-row INSERT, under SQLite's bound-variable limit. */
const insertRowsMax = 500;

/**
 * What the site needs of its repository: {@link ChainStore} in process, or
 * the same methods answered by a storage worker (`worker_store.ts`).
 */
export type ChainStoreApi = Omit<
  { [K in keyof ChainStore]: ChainStore[K] },
  "database"
>;

/** The site's repository. The only place in the codebase that talks SQL. */
export class ChainStore {
  readonly #db: Db;

  constructor(readonly database: Database) {
    this.#db = database.db;
  }

  /** Reads on the write connection's prepared statements (a `file:` database), else undefined: drizzle. */
  get #nativeReads(): NativeReader | undefined {
    return this.database.native?.reader;
  }

  /** Reads one meta value, or undefined. */
  async getMeta(key: string): Promise<string | undefined> {
    const rows = await this.#db.select().from(meta).where(eq(meta.key, key));
    return rows[0]?.value;
  }

  /** Sets meta values in one transaction. */
  async setMeta(values: Record<string, string>): Promise<void> {
    const stmts = Object.entries(values).map(([key, value]) =>
      this.#db.insert(meta).values({ key, value }).onConflictDoUpdate({
        target: meta.key,
        set: { value },
      })
    );
    if (stmts.length === 0) return;
    await this.#db.batch(stmts as [typeof stmts[0], ...typeof stmts]);
  }

  /**
   * Writes one block atomically. Requires `write.block.height` to be one more
   * than the stored head (checked by the caller against its head, and by the
   * primary key here).
   */
  async writeBlock(write: BlockWrite, sync: "full" | "normal" = "full"): Promise<void> {
    if (this.database.native !== undefined) return await this.writeBlocks([write], sync);
    const db = this.#db;
    // deno-lint-ignore no-explicit-any
    const stmts: any[] = [db.insert(blocks).values(write.block)];
    for (let i = 0; i < write.txs.length; i += insertRowsMax) {
      stmts.push(db.insert(txs).values(write.txs.slice(i, i + insertRowsMax)));
    }
    const nodeRows = write.nodes.map((n) => ({
      level: n.level,
      idx: n.index,
      hash: toBuffer(n.hash),
    }));
    for (let i = 0; i < nodeRows.length; i += insertRowsMax) {
      stmts.push(db.insert(merkleNodes).values(nodeRows.slice(i, i + insertRowsMax)));
    }
    const puts = write.stateWrites.filter((w) => w.value !== null) as Array<
      { ns: string; key: string; value: string }
    >;
    for (let i = 0; i < puts.length; i += insertRowsMax) {
      stmts.push(
        db.insert(state).values(puts.slice(i, i + insertRowsMax)).onConflictDoUpdate({
          target: [state.ns, state.key],
          set: { value: sql`excluded.value` },
        }),
      );
    }
    for (const d of write.stateWrites.filter((w) => w.value === null)) {
      stmts.push(db.delete(state).where(and(eq(state.ns, d.ns), eq(state.key, d.key))));
    }
    stmts.push(
      db.insert(checkpointSigs).values({ height: write.block.height, ...write.checkpointLine })
        .onConflictDoNothing(),
    );
    for (const [key, value] of Object.entries(write.meta)) {
      stmts.push(
        db.insert(meta).values({ key, value }).onConflictDoUpdate({
          target: meta.key,
          set: { value },
        }),
      );
    }
    try {
      await db.batch(stmts as [typeof stmts[0], ...typeof stmts]);
    } catch (e) {
      throw asDomainError(e, `Cannot write block ${write.block.height}`);
    }
  }

  /**
   * Writes consecutive blocks in order, in ONE database transaction where
   * the database allows (a `file:` database): one commit, one fsync, for a
   * group of blocks executed while an earlier write was on its way to disk.
   * Elsewhere, one transaction per block. Either way each block is atomic.
   */
  async writeBlocks(writes: BlockWrite[], sync: "full" | "normal" = "full"): Promise<void> {
    if (writes.length === 0) return;
    const native = this.database.native;
    if (native === undefined) {
      for (const w of writes) await this.writeBlock(w, sync);
      return;
    }
    this.database.setSync(sync);
    try {
      native.writeBlocks(writes);
    } catch (e) {
      const [first, last] = [writes[0].block.height, writes[writes.length - 1].block.height];
      const which = first === last ? `block ${first}` : `blocks ${first}..${last}`;
      throw asDomainError(e, `Cannot write ${which}`);
    }
  }

  /** The highest block, or undefined before genesis is stored. */
  async head(): Promise<BlockRow | undefined> {
    const rows = await this.#db.select().from(blocks).orderBy(sql`${blocks.height} desc`).limit(1);
    return rows[0];
  }

  async blockByHeight(height: number): Promise<BlockRow | undefined> {
    const native = this.#nativeReads;
    if (native !== undefined) return native.blockByHeight(height);
    return (await this.#db.select().from(blocks).where(eq(blocks.height, height)))[0];
  }

  async blockByHash(hash: string): Promise<BlockRow | undefined> {
    const native = this.#nativeReads;
    if (native !== undefined) return native.blockByHash(hash);
    return (await this.#db.select().from(blocks).where(eq(blocks.hash, hash)))[0];
  }

  /** Blocks with `from <= height < from + limit`, ascending. */
  async blockRange(from: number, limit: number): Promise<BlockRow[]> {
    const native = this.#nativeReads;
    if (native !== undefined) return native.blockRange(from, limit);
    return await this.#db.select().from(blocks)
      .where(and(gte(blocks.height, from), lt(blocks.height, from + limit)))
      .orderBy(asc(blocks.height));
  }

  async txById(id: string): Promise<TxRowStored | undefined> {
    const native = this.#nativeReads;
    if (native !== undefined) return native.txById(id);
    return (await this.#db.select().from(txs).where(eq(txs.id, id)))[0];
  }

  /** Committed transactions with `lo <= logIndex < hi`, in log order. */
  async txsByLogRange(lo: number, hi: number): Promise<TxRowStored[]> {
    const native = this.#nativeReads;
    if (native !== undefined) return native.txsByLogRange(lo, hi);
    return await this.#db.select().from(txs)
      .where(and(gte(txs.logIndex, lo), lt(txs.logIndex, hi)))
      .orderBy(asc(txs.logIndex));
  }

  /** Ids and kinds of a block's transactions in log order. */
  async txIdsOfBlocks(heights: number[]): Promise<Map<number, string[]>> {
    const native = this.#nativeReads;
    if (native !== undefined) return native.txIdsOfBlocks(heights);
    const out = new Map<number, string[]>(heights.map((h) => [h, []]));
    if (heights.length === 0) return out;
    const rows = await this.#db.select({ id: txs.id, height: txs.height }).from(txs)
      .where(inArray(txs.height, heights)).orderBy(asc(txs.logIndex));
    for (const r of rows) out.get(r.height)?.push(r.id);
    return out;
  }

  /**
   * Up to `limit` committed transaction ids above `after`, in id order (`""`
   * for the first): a walk over the id index alone, which is a fraction of
   * the table's size, so filling the site's id filter at start reads little.
   */
  async txIdsAfter(after: string, limit: number): Promise<string[]> {
    const native = this.#nativeReads;
    if (native !== undefined) return native.txIdsAfter(after, limit);
    const rows = await this.#db.select({ id: txs.id }).from(txs)
      .where(gt(txs.id, after)).orderBy(asc(txs.id)).limit(limit);
    return rows.map((r) => r.id);
  }

  /** The subset of `ids` already committed. */
  async committedIds(ids: readonly string[]): Promise<Set<string>> {
    const native = this.#nativeReads;
    if (native !== undefined) return native.committedIds(ids);
    const found = new Set<string>();
    for (let i = 0; i < ids.length; i += insertRowsMax) {
      const rows = await this.#db.select({ id: txs.id }).from(txs)
        .where(inArray(txs.id, ids.slice(i, i + insertRowsMax)));
      for (const r of rows) found.add(r.id);
    }
    return found;
  }

  /** Merkle nodes at the given coordinates, keyed `level/index`. Missing ones are absent. */
  async nodes(
    coords: ReadonlyArray<{ level: number; index: number }>,
  ): Promise<Map<string, Uint8Array>> {
    const native = this.#nativeReads;
    if (native !== undefined) return native.nodes(coords);
    const out = new Map<string, Uint8Array>();
    for (let i = 0; i < coords.length; i += 200) {
      const part = coords.slice(i, i + 200);
      if (part.length === 0) break;
      const rows = await this.#db.select().from(merkleNodes).where(
        or(...part.map((c) => and(eq(merkleNodes.level, c.level), eq(merkleNodes.idx, c.index)))),
      );
      for (const r of rows) out.set(`${r.level}/${r.idx}`, new Uint8Array(r.hash));
    }
    return out;
  }

  /** Values of the given state keys, keyed `ns\0key`. */
  async stateValues(
    keys: ReadonlyArray<{ ns: string; key: string }>,
  ): Promise<Map<string, string>> {
    const native = this.#nativeReads;
    if (native !== undefined) return native.stateValues(keys);
    const out = new Map<string, string>();
    for (let i = 0; i < keys.length; i += 200) {
      const part = keys.slice(i, i + 200);
      if (part.length === 0) break;
      const rows = await this.#db.select({ ns: state.ns, key: keyText, value: state.value })
        .from(state).where(
          or(...part.map((k) => and(eq(state.ns, k.ns), eq(state.key, k.key)))),
        );
      for (const r of rows) out.set(`${r.ns}\u0000${decodeKey(r.key)}`, r.value);
    }
    return out;
  }

  /** State entries of `ns` whose key starts with `prefix`, after `afterKey`, ascending. */
  async stateRange(
    ns: string,
    prefix: string,
    limit: number,
    afterKey?: string,
  ): Promise<Array<{ key: string; value: string }>> {
    const lower = afterKey !== undefined && afterKey >= prefix ? afterKey : undefined;
    const rows = await this.#db.select({ key: keyText, value: state.value }).from(state).where(
      and(
        eq(state.ns, ns),
        lower === undefined ? gte(state.key, prefix) : gt(state.key, lower),
        lt(state.key, prefix + "\uffff"),
      ),
    ).orderBy(asc(state.key)).limit(limit);
    return rows.map((r) => ({ key: decodeKey(r.key), value: r.value }));
  }

  /** Signature lines stored for a block. */
  async checkpointLines(height: number): Promise<Array<{ site: string; line: string }>> {
    return await this.#db.select({ site: checkpointSigs.site, line: checkpointSigs.line })
      .from(checkpointSigs).where(eq(checkpointSigs.height, height)).orderBy(
        asc(checkpointSigs.site),
      );
  }

  /**
   * Adds checkpoint signature lines (each idempotent) in one transaction:
   * peers' lines arrive many a second, and one commit each would cost more
   * than the blocks they sign. Not fsynced on its own: a crash may lose the
   * newest lines (those blocks' stored checkpoints then carry fewer
   * signatures; later blocks' checkpoints carry their own).
   */
  async addCheckpointLines(lines: ReadonlyArray<CheckpointLineRow>): Promise<void> {
    if (lines.length === 0) return;
    const native = this.database.native;
    if (native !== undefined) {
      this.database.setSync("normal");
      native.addCheckpointLines(lines);
      return;
    }
    // One batch: one transaction (and one round trip to a server) for all.
    const stmts = [];
    for (let i = 0; i < lines.length; i += insertRowsMax) {
      stmts.push(
        this.#db.insert(checkpointSigs).values(lines.slice(i, i + insertRowsMax))
          .onConflictDoNothing(),
      );
    }
    await this.#db.batch(stmts as [typeof stmts[0], ...typeof stmts]);
  }

  /** Counts for status and metrics. */
  /**
   * Transaction rows that no block up to `height` (whose log holds
   * `logSize` transactions) accounts for and no later block can: at a
   * log index below 0, or at one from `logSize` on while placed at a height
   * up to `height`. Rows of blocks written after that one are not counted.
   */
  async strayTxCount(logSize: number, height: number): Promise<number> {
    const [t] = await this.#db.select({ n: sql<number>`count(*)` }).from(txs).where(
      or(lt(txs.logIndex, 0), and(gte(txs.logIndex, logSize), lte(txs.height, height))),
    );
    return Number(t.n);
  }

  close(): void {
    this.database.close();
  }
}

/**
 * A state key read as bytes: libSQL hands TEXT back cut at the first NUL, and
 * contract keys may contain any character, so keys are read as BLOBs and
 * decoded here.
 */
const keyText = sql<ArrayBuffer | Uint8Array>`CAST(${state.key} AS BLOB)`;

function decodeKey(raw: ArrayBuffer | Uint8Array): string {
  return new TextDecoder().decode(raw instanceof Uint8Array ? raw : new Uint8Array(raw));
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Turns SQLite constraint failures into {@link StorageConflictError}; rethrows anything else. */
function asDomainError(e: unknown, action: string): unknown {
  const text = String((e as { message?: string })?.message ?? e);
  if (/UNIQUE constraint|PRIMARY KEY|constraint failed/i.test(text)) {
    return new StorageConflictError(`${action}: ${text}`, { cause: e });
  }
  return e;
}
