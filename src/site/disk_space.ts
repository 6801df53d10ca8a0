/**
 * The free space on a site's data volume, and whether it is too low to take
 * writes.
 *
 * A site whose disk fills cannot write the block of an entry its cluster
 * committed: it halts (a fail-stop, see `Site.halt`), and sites of one
 * consortium usually have disks of one size, so they fill together. As
 * etcd's space quota raises an alarm that makes the whole cluster refuse
 * writes, a site whose volume has less than its minimum free refuses new
 * transactions, says so to its peers on every Raft frame, and a leader that
 * hears it refuses new transactions for the whole cluster (see
 * `RaftHost.storageLow`) — before any site runs out. Reads, membership
 * changes and the entries already committed go on. Writes resume by
 * themselves once the volume has its minimum free again plus a margin
 * ({@link recoveryMarginBytes}), so one that hovers at the line does not flap.
 *
 * @module
 */
import { promises as fs } from "node:fs";
import type { Logger } from "../log.ts";

export { formatBytes, lowSpaceText } from "../../sdk/api/readiness.ts";

/** The `Retry-After` of a write refused for want of disk space, seconds. */
export const storageRetryAfterSeconds = 30;

/** What a site says of its volume (the `storage` of `/v1/status`, and of its Raft frames when low). */
export interface StorageState {
  /** Bytes free for this site's process on the volume of its database (statfs `bavail`). */
  freeBytes: number;
  /** Below this, the site refuses new transactions; 0: never. */
  freeBytesMin: number;
  /** True while the site refuses new transactions for want of space. */
  low: boolean;
}

/** Options of {@link DiskSpaceGuard}. */
export interface DiskSpaceGuardOptions {
  /** A path on the volume to watch (the database's folder). */
  path: string;
  /** Refuse new transactions while fewer bytes than this are free; 0 turns the guard off. */
  freeBytesMin: number;
  /** How often to look, in milliseconds. */
  intervalMs: number;
  /** Reads the free bytes at `path` (default: statfs). Tests inject one. */
  freeBytes?: (path: string) => Promise<number>;
  log: Logger;
}

/**
 * How much more than the minimum must be free before writes resume: a
 * tenth of the minimum, at least 16 MiB.
 */
export function recoveryMarginBytes(freeBytesMin: number): number {
  return Math.max(Math.ceil(freeBytesMin / 10), 16 * 1024 * 1024);
}

/**
 * Bytes free for an unprivileged process on the volume holding `path`:
 * available blocks times the fragment size, as `df` counts them (the
 * block size only where no fragment size is given).
 */
export async function statfsFreeBytes(path: string): Promise<number> {
  const s = await fs.statfs(path) as { bavail: number | bigint; bsize: number | bigint };
  const frsize = Number((s as { frsize?: number | bigint }).frsize ?? 0);
  return Number(s.bavail) * (frsize > 0 ? frsize : Number(s.bsize));
}

/** Watches the free space of one volume (see the module's doc). */
export class DiskSpaceGuard {
  readonly #options: DiskSpaceGuardOptions;
  readonly #read: (path: string) => Promise<number>;
  #state: StorageState;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** A failed look was logged (once, until one succeeds). */
  #failureSaid = false;
  #checking: Promise<void> | undefined;

  constructor(options: DiskSpaceGuardOptions) {
    if (!Number.isSafeInteger(options.freeBytesMin) || options.freeBytesMin < 0) {
      throw new RangeError(
        `freeBytesMin must be a whole number of bytes ≥ 0, not ${options.freeBytesMin}`,
      );
    }
    this.#options = options;
    this.#read = options.freeBytes ?? statfsFreeBytes;
    this.#state = { freeBytes: 0, freeBytesMin: options.freeBytesMin, low: false };
  }

  /** The verdict of the last look. */
  get state(): StorageState {
    return this.#state;
  }

  /**
   * Looks once now, then every `intervalMs` until {@link stop}. Throws when
   * that first look fails — a volume the site cannot read the space of
   * (Deno refuses `statfs` without `--allow-sys=statfs`) would leave it
   * unguarded without a word; later failures keep the last verdict.
   */
  async start(): Promise<void> {
    const { path } = this.#options;
    let free: number;
    try {
      free = await this.#read(path);
    } catch (e) {
      throw new Error(
        `Cannot read the free space of ${path}: ${(e as Error).message} ` +
          `(a site needs --allow-sys=statfs; or set diskFreeBytesMin to 0 to run unguarded)`,
        { cause: e },
      );
    }
    this.#judge(free);
    this.#timer ??= setInterval(() => void this.check(), this.#options.intervalMs);
    Deno.unrefTimer(this.#timer);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Reads the free space and updates the verdict. A volume that cannot be
   * read keeps the last verdict (logged once, until a read succeeds).
   */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => this.#checking = undefined);
    return this.#checking;
  }

  async #check(): Promise<void> {
    const { path, log } = this.#options;
    let free: number;
    try {
      free = await this.#read(path);
    } catch (e) {
      if (!this.#failureSaid) {
        this.#failureSaid = true;
        log.warn("cannot read the free space of the data volume", { path, error: e });
      }
      return;
    }
    this.#failureSaid = false;
    this.#judge(free);
  }

  /** Takes a reading of `free` bytes: the verdict, said when it changes. */
  #judge(free: number): void {
    const { path, freeBytesMin, log } = this.#options;
    const was = this.#state.low;
    const low = freeBytesMin > 0 &&
      (was ? free < freeBytesMin + recoveryMarginBytes(freeBytesMin) : free < freeBytesMin);
    this.#state = { freeBytes: free, freeBytesMin, low };
    if (low === was) return;
    if (low) {
      log.error("disk space low: this site and its cluster refuse new transactions", {
        path,
        freeBytes: free,
        freeBytesMin,
      });
    } else {
      log.info("disk space recovered: new transactions are taken again", {
        path,
        freeBytes: free,
        freeBytesMin,
      });
    }
  }
}

/** A member low on space, as a leader passes it on in its frames (`storageLow`). */
export interface StorageLowReport {
  site: string;
  freeBytes: number;
  freeBytesMin: number;
}

/** Most members a frame's `storageLow` may name (a membership's bound). */
export const storageLowReportsMax = 256;

/**
 * A frame's `storageLow` (undefined: none is low). Throws `TypeError` on
 * anything but an array of at most {@link storageLowReportsMax}
 * `{site, freeBytes, freeBytesMin}`.
 */
export function parseStorageLowReports(value: unknown): StorageLowReport[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > storageLowReportsMax) {
    throw new TypeError(`storageLow must be an array of at most ${storageLowReportsMax} sites`);
  }
  const bytes = (x: unknown) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  return value.map((item) => {
    const v = item as Record<string, unknown>;
    if (
      typeof item !== "object" || item === null || typeof v.site !== "string" ||
      v.site.length === 0 || v.site.length > 64 || !bytes(v.freeBytes) || !bytes(v.freeBytesMin)
    ) {
      throw new TypeError("storageLow must hold {site, freeBytes, freeBytesMin}");
    }
    return {
      site: v.site,
      freeBytes: v.freeBytes as number,
      freeBytesMin: v.freeBytesMin as number,
    };
  });
}

/**
 * The `storage` member of a peer's Raft frame: undefined when absent (the
 * peer is not low on space), the state when well formed; TypeError else.
 */
export function parseStorageReport(value: unknown): StorageState | undefined {
  if (value === undefined) return undefined;
  const v = value as Record<string, unknown>;
  const bytes = (x: unknown) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  if (
    typeof value !== "object" || value === null || Array.isArray(value) ||
    !bytes(v.freeBytes) || !bytes(v.freeBytesMin) || typeof v.low !== "boolean"
  ) {
    throw new TypeError("storage must be {freeBytes, freeBytesMin, low}");
  }
  return { freeBytes: v.freeBytes as number, freeBytesMin: v.freeBytesMin as number, low: v.low };
}
