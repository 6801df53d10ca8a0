/**
 * Where the offline queue keeps signed transactions: a narrow interface an
 * app backs with whatever storage it has, and an in-memory default.
 *
 * ## Implementing a store (mobile apps)
 *
 * A React Native, iOS or Android app backs the queue with its own storage
 * (SQLite, MMKV, AsyncStorage, a file) by implementing three methods:
 *
 * - `list()` returns every entry, oldest first (the order `add` saw them).
 * - `add(entry)` appends one entry. The queue never adds a `txId` that is
 *   already present. It must be durable BEFORE the promise resolves: the
 *   queue tells the caller "queued" only then.
 * - `remove(txIds)` deletes those entries (ids not present are ignored),
 *   durable before it resolves. Removal happens after the site accepted
 *   them, so a crash in between resubmits them — harmless, because
 *   submission is idempotent by transaction id.
 *
 * Entries are plain JSON (`JSON.stringify` round-trips them). The queue
 * serialises its calls to a store, so a store need not handle concurrency
 * from one queue; do not share one store between two queues.
 *
 * ```ts
 * // An AsyncStorage-backed store (React Native), as a sketch:
 * const KEY = "edgeledger.queue";
 * const asyncStorageStore: QueueStore = {
 *   async list() { return JSON.parse((await AsyncStorage.getItem(KEY)) ?? "[]"); },
 *   async add(entry) {
 *     const all = await this.list();
 *     await AsyncStorage.setItem(KEY, JSON.stringify([...all, entry]));
 *   },
 *   async remove(ids) {
 *     const drop = new Set(ids);
 *     const all = await this.list();
 *     await AsyncStorage.setItem(KEY, JSON.stringify(all.filter((e) => !drop.has(e.txId))));
 *   },
 * };
 * ```
 *
 * @module
 */

import type { Envelope } from "../envelope.ts";

/**
 * One queued transaction.
 *
 * @example
 * ```ts
 * const [first]: QueuedTx[] = await queue.list();
 * ```
 */
export interface QueuedTx {
  /** The transaction id (hex SHA-256 of the signing payload): the queue's key. */
  txId: string;
  /** The signed envelope, exactly as it will be submitted. */
  envelope: Envelope;
  /** When it was queued, in milliseconds since the epoch. */
  enqueuedAt: number;
}

/**
 * The storage of an {@link OfflineQueue}; see the module documentation for
 * the contract of each method.
 *
 * @example
 * ```ts
 * const queue = new OfflineQueue({ submitter: client, store: new MemoryQueueStore() });
 * ```
 */
export interface QueueStore {
  /** Every entry, oldest first. */
  list(): Promise<QueuedTx[]>;
  /** Appends `entry` (its `txId` is not present); durable before it resolves. */
  add(entry: QueuedTx): Promise<void>;
  /** Removes the entries with these ids, ignoring absent ones; durable before it resolves. */
  remove(txIds: readonly string[]): Promise<void>;
}

/**
 * A store in memory: the default. Lost when the process ends — use a file
 * store (`sdk/queue/file_store.ts`) or an app-specific one to survive
 * restarts.
 *
 * @example
 * ```ts
 * const store = new MemoryQueueStore();
 * await store.add({ txId, envelope, enqueuedAt: Date.now() });
 * (await store.list()).length; // 1
 * ```
 */
export class MemoryQueueStore implements QueueStore {
  readonly #entries = new Map<string, QueuedTx>();

  list(): Promise<QueuedTx[]> {
    return Promise.resolve([...this.#entries.values()].map((e) => cloneJson(e)));
  }

  add(entry: QueuedTx): Promise<void> {
    if (this.#entries.has(entry.txId)) {
      return Promise.reject(new Error(`Cannot add ${entry.txId}: already in the store`));
    }
    this.#entries.set(entry.txId, cloneJson(entry));
    return Promise.resolve();
  }

  remove(txIds: readonly string[]): Promise<void> {
    for (const id of txIds) this.#entries.delete(id);
    return Promise.resolve();
  }
}

/** A deep copy of a JSON value (entries are JSON; `structuredClone` is missing on Hermes). */
function cloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value));
}
