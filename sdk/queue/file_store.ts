/**
 * A {@link QueueStore} in one JSON file, for Deno and Node (it imports
 * `node:fs/promises`, so browsers must not load it — which is why it is not
 * re-exported by `sdk/queue/mod.ts`).
 *
 * Every change rewrites the whole file atomically: write a temporary file,
 * flush it to disk, rename it over the old one. A crash leaves either the old
 * or the new content, never a torn file. The queue is bounded, so rewriting
 * it is cheap.
 *
 * @module
 */

import { mkdir, open, readFile, rename } from "node:fs/promises";
import type { QueuedTx, QueueStore } from "./store.ts";

const FILE_VERSION = 1;

/**
 * A durable queue store in a file.
 *
 * @example
 * ```ts
 * import { FileQueueStore } from "./file_store.ts";
 * const queue = new OfflineQueue({
 *   submitter: client,
 *   store: new FileQueueStore("./data/outbox.json"),
 * });
 * ```
 */
export class FileQueueStore implements QueueStore {
  /** The file that holds the queue. */
  readonly path: string;
  #entries: QueuedTx[] | undefined;

  /** `path` is created on first write, with its folder. */
  constructor(path: string) {
    this.path = path;
  }

  async list(): Promise<QueuedTx[]> {
    return cloneJson(await this.#load());
  }

  async add(entry: QueuedTx): Promise<void> {
    const entries = await this.#load();
    if (entries.some((e) => e.txId === entry.txId)) {
      throw new Error(`Cannot add ${entry.txId} to ${this.path}: already in the store`);
    }
    await this.#write([...entries, cloneJson(entry)]);
  }

  async remove(txIds: readonly string[]): Promise<void> {
    const gone = new Set(txIds);
    const entries = await this.#load();
    const kept = entries.filter((e) => !gone.has(e.txId));
    if (kept.length !== entries.length) await this.#write(kept);
  }

  async #load(): Promise<QueuedTx[]> {
    if (this.#entries !== undefined) return this.#entries;
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return this.#entries = [];
      throw e;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(`Cannot read queue ${this.path}: not JSON (${(e as Error).message})`);
    }
    const file = parsed as { v?: unknown; entries?: unknown };
    if (file.v !== FILE_VERSION || !Array.isArray(file.entries)) {
      throw new Error(`Cannot read queue ${this.path}: not a version ${FILE_VERSION} queue file`);
    }
    for (const e of file.entries as QueuedTx[]) {
      if (typeof e?.txId !== "string" || typeof e.envelope !== "object" || e.envelope === null) {
        throw new Error(`Cannot read queue ${this.path}: an entry has no txId or envelope`);
      }
    }
    return this.#entries = file.entries as QueuedTx[];
  }

  async #write(entries: QueuedTx[]): Promise<void> {
    const slash = this.path.lastIndexOf("/");
    if (slash > 0) await mkdir(this.path.slice(0, slash), { recursive: true });
    const tmp = `${this.path}.tmp`;
    const handle = await open(tmp, "w", 0o600);
    try {
      await handle.writeFile(JSON.stringify({ v: FILE_VERSION, entries }) + "\n", "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.path);
    this.#entries = entries;
  }
}

/** A deep copy of a JSON value (entries are JSON; `structuredClone` is missing on Hermes). */
function cloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value));
}
