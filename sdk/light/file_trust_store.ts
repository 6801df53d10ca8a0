/**
 * A {@link TrustStore} in a JSON file, for Deno and Node (imports
 * `node:fs/promises`; not re-exported by `sdk/light/mod.ts` so browsers never
 * load it). Saves take turns under a lock file (`<path>.lock`, as
 * `proper-lockfile` keeps it), and each is atomic: temporary file, flush,
 * rename. A save never replaces a larger checkpoint of the same log
 * (another process's, trusted later), which would weaken the next fork check
 * to the older point. Two processes still each check against what they
 * loaded; one file per process is the firm setup.
 *
 * @module
 */

import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
// @ts-types="@types/proper-lockfile"
import lockfile from "proper-lockfile";
import type { TrustedCheckpoint, TrustStore } from "./trust_store.ts";

/**
 * Keeps the last trusted checkpoint in `path`.
 *
 * @example
 * ```ts
 * import { FileTrustStore } from "./file_trust_store.ts";
 * const light = new LightClient({
 *   client, trustedKeys, quorum: 2, store: new FileTrustStore("./data/trusted-checkpoint.json"),
 * });
 * ```
 */
export class FileTrustStore implements TrustStore {
  /** The file that holds the checkpoint. */
  readonly path: string;

  /** `path` is created on first save, with its folder. */
  constructor(path: string) {
    this.path = path;
  }

  async load(): Promise<TrustedCheckpoint | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return undefined;
      throw e;
    }
    let value: TrustedCheckpoint;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new Error(`Cannot read trusted checkpoint ${this.path}: ${(e as Error).message}`);
    }
    if (
      typeof value?.origin !== "string" || !Number.isSafeInteger(value.size) ||
      typeof value.rootHash !== "string" || !Number.isSafeInteger(value.height) ||
      typeof value.blockHash !== "string" || typeof value.note !== "string"
    ) {
      throw new Error(`Cannot read trusted checkpoint ${this.path}: missing or malformed fields`);
    }
    return value;
  }

  async save(checkpoint: TrustedCheckpoint): Promise<void> {
    const slash = this.path.lastIndexOf("/");
    if (slash > 0) await mkdir(this.path.slice(0, slash), { recursive: true });
    // One save at a time across processes: look, then replace, under a lock
    // (`<path>.lock`, taken over once 10 s stale if a process died holding it).
    const release = await lockfile.lock(this.path, {
      realpath: false,
      lockfilePath: `${this.path}.lock`,
      stale: 10_000,
      retries: { retries: 100, minTimeout: 5, maxTimeout: 100 },
    });
    try {
      const held = await this.#held();
      if (held?.origin === checkpoint.origin && held.size > checkpoint.size) return;
      await this.#replace(checkpoint);
    } finally {
      await release();
    }
  }

  /** The file's checkpoint; undefined when there is none or it cannot be read. */
  async #held(): Promise<TrustedCheckpoint | undefined> {
    try {
      return await this.load();
    } catch {
      return undefined; // unreadable: a save replaces it
    }
  }

  /** Writes `checkpoint` to a temporary file of its own, flushes it and renames it over the file. */
  async #replace(checkpoint: TrustedCheckpoint): Promise<void> {
    const unique = crypto.getRandomValues(new Uint32Array(2)).join("-");
    const tmp = `${this.path}.${unique}.tmp`;
    try {
      const handle = await open(tmp, "wx", 0o600);
      try {
        await handle.writeFile(JSON.stringify(checkpoint, null, 2) + "\n", "utf8");
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, this.path);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
