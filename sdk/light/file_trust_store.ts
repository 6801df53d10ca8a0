/**
 * A {@link TrustStore} in a JSON file, for Deno and Node (imports
 * `node:fs/promises`; not re-exported by `sdk/light/mod.ts` so browsers never
 * load it). Writes are atomic: temporary file, flush, rename.
 *
 * @module
 */

import { mkdir, open, readFile, rename } from "node:fs/promises";
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
    const tmp = `${this.path}.tmp`;
    const handle = await open(tmp, "w", 0o600);
    try {
      await handle.writeFile(JSON.stringify(checkpoint, null, 2) + "\n", "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.path);
  }
}
