/**
 * Backups and restores of a site's database, as an operator runs them:
 * `deno task backup` ({@link backupToFile}), `GET /v1/admin/backup`
 * ({@link SiteBackups}) and `deno task restore` ({@link restoreDatabase}).
 *
 * A copy is the database as of one commit (see `storage/backup.ts`): the
 * chain up to some height, with its applied Raft index and its Raft log as
 * they stood then. It is judged by the integrity check a running site's
 * database is judged by ({@link checkIntegrity}), after a check that it
 * holds this config's ledger (the check a site makes when it opens a
 * database).
 *
 * @module
 */
import { type GenesisConfig, genesisConfigHash } from "../chain/genesis.ts";
import { type IntegrityReport, LedgerError } from "../api/service.ts";
import {
  BackupError,
  databaseHeld,
  exists,
  foldWal,
  type LedgerHead,
  localDatabasePath,
  notSqliteFile,
  openCopy,
  publishNoClobber,
  readLedgerHead,
  SIDE_FILE_SUFFIXES,
  vacuumInto,
} from "../storage/backup.ts";
import { ChainStore, type ChainStoreApi } from "../storage/chain_store.ts";
import { dirOf, fsyncDir, fsyncFile } from "../storage/durable_files.ts";
import { checkIntegrity } from "./integrity.ts";
import { checkByReplay, type ReplayReport } from "./replay_check.ts";
import type { VerifySignatures } from "./signature_pool.ts";
import { formatBytes, statfsFreeBytes, storageRetryAfterSeconds } from "./disk_space.ts";

export { integrityLines } from "./integrity.ts";

export { BackupError } from "../storage/backup.ts";

/** What a copy holds, as a restore or a download reports it. */
export interface CopyInfo {
  /** Height of its newest block. */
  height: number;
  /** Hash of its newest block. */
  head: string;
  /** The Raft entry index applied with its newest block (0 for a lone site). */
  appliedIndex: number;
  /** The genesis config hash it was created for, if it holds a ledger at all. */
  genesisHash: string | undefined;
  /** Its size in bytes. */
  bytes: number;
}

/** Reads what a database holds: its head, applied index and genesis. Requires block 0 stored. */
export async function describeCopy(
  store: ChainStoreApi,
  bytes: number,
): Promise<CopyInfo> {
  const head = await store.head();
  if (head === undefined) {
    throw new BackupError("not_a_database", "Cannot use the copy: it holds no blocks");
  }
  const applied = Number(await store.getMeta("applied_entry") ?? "0");
  return {
    height: head.height,
    head: head.hash,
    // As a site computes it on open: a block's entry index can run ahead of
    // the meta value written with an earlier block.
    appliedIndex: Math.max(applied, head.entryIndex),
    genesisHash: await store.getMeta("genesis_hash"),
    bytes,
  };
}

/**
 * The {@link BackupError} `other_ledger` for a copy whose stored genesis
 * hash is `genesisHash` (undefined: it stores none) when that is not the
 * ledger of `genesis`; undefined when it is.
 */
function otherLedger(
  genesisHash: string | undefined,
  genesis: GenesisConfig,
): BackupError | undefined {
  if (genesisHash === undefined) {
    return new BackupError("other_ledger", "The copy holds no ledger (no genesis is stored in it)");
  }
  const ours = genesisConfigHash(genesis);
  if (genesisHash === ours) return undefined;
  return new BackupError(
    "other_ledger",
    `The copy holds another ledger (genesis ${genesisHash.slice(0, 12)}…); ` +
      `this site's genesis file describes ledger ${genesis.ledger} (genesis ${ours.slice(0, 12)}…)`,
  );
}

/**
 * Refuses, with {@link BackupError} `other_ledger`, a copy at `from` that
 * holds another ledger than `genesis`, or none: read on its own, before
 * anything else is asked of it or of the database it would replace, as no
 * `--force` and no other state makes it the site's. A file that is missing
 * or cannot be read as a site database passes, for the copy's own checks.
 */
export async function refuseOtherLedgerCopy(from: string, genesis: GenesisConfig): Promise<void> {
  const stat = await Deno.stat(from).catch(() => undefined);
  if (stat === undefined || !stat.isFile) return;
  const head = await readLedgerHead(from);
  if (head === undefined) return;
  const wrong = otherLedger(head.genesisHash, genesis);
  if (wrong !== undefined) throw wrong;
}

/**
 * Checks that a copy's database holds the ledger of `genesis` (the check
 * `Site.open` makes) and re-verifies its whole chain. Throws
 * {@link BackupError} `other_ledger` for another ledger's copy (or a
 * database that holds no ledger); a chain that does not verify is the
 * report's `firstMismatch`.
 */
export async function verifyCopy(
  store: ChainStoreApi,
  genesis: GenesisConfig,
  bytes: number,
  verifySignatures?: VerifySignatures,
): Promise<{ info: CopyInfo; report: IntegrityReport }> {
  let info: CopyInfo;
  try {
    info = await describeCopy(store, bytes);
  } catch (e) {
    if (e instanceof BackupError) throw e;
    throw new BackupError(
      "not_a_database",
      `Cannot read the copy as a site database: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const wrong = otherLedger(info.genesisHash, genesis);
  if (wrong !== undefined) throw wrong;
  return {
    info,
    report: await checkIntegrity(
      store,
      genesis,
      verifySignatures === undefined ? {} : { verifySignatures },
    ),
  };
}

/** Where a copy goes and what must stay free there (see {@link requireRoomForCopy}). */
export interface CopyRoom {
  /**
   * Bytes the site keeps free on its database's volume (its
   * `diskFreeBytesMin`): a copy on that volume leaves them free too.
   */
  reserveBytes?: number;
  /** Reads the free bytes of the volume holding a path (default: statfs). Tests inject one. */
  freeBytes?: (path: string) => Promise<number>;
}

/**
 * Throws {@link BackupError} `no_space` when the volume of `folder` cannot
 * take a copy of the database at `source`: at most the database and its
 * WAL, plus, when that volume is the database's own, the site's
 * `reserveBytes` — a copy that filled the site's volume would stop the site
 * (a block it cannot write halts it), and pause its cluster's writes
 * before that (see `disk_space.ts`).
 */
export async function requireRoomForCopy(
  source: string,
  folder: string,
  room: CopyRoom = {},
): Promise<void> {
  let need = 0;
  for (const suffix of ["", "-wal"]) {
    need += await Deno.stat(source + suffix).then((s) => s.size, () => 0);
  }
  const sameVolume = (await Deno.stat(folder)).dev === (await Deno.stat(dirOf(source))).dev;
  const reserve = sameVolume ? room.reserveBytes ?? 0 : 0;
  const free = await (room.freeBytes ?? statfsFreeBytes)(folder);
  if (free >= need + reserve) return;
  throw new BackupError(
    "no_space",
    `Cannot back up ${source} into ${folder}: the copy may take ${formatBytes(need)}` +
      (reserve > 0
        ? ` and the site keeps ${formatBytes(reserve)} free on that volume (diskFreeBytesMin)`
        : "") +
      `, but it has ${formatBytes(free)} free; copy to another volume, or make room`,
  );
}

/**
 * Writes a consistent copy of the site database at `dbUrl` to `outPath`
 * while the site runs. Never replaces a file: throws {@link BackupError}
 * `exists` when `outPath` exists (before any work, and again, atomically,
 * when the copy is put in place). The copy is written under a temporary
 * name beside `outPath` (`<out>.partial-<id>`), fsynced, then given its
 * name, so a crash leaves no partial file under the final name. Throws
 * `remote` for a libSQL server's database, and `missing` when there is no
 * database file or `outPath`'s folder does not exist (it is never created:
 * a mistyped folder must not collect backups), and `no_space` when that
 * folder's volume cannot take the copy ({@link requireRoomForCopy}). All
 * are checked before anything is copied.
 */
export async function backupToFile(
  dbUrl: string,
  outPath: string,
  room: CopyRoom = {},
): Promise<{ bytes: number }> {
  const source = localDatabasePath(dbUrl, "back up");
  if (!(await exists(source))) {
    throw new BackupError("missing", `Cannot back up ${source}: no database there`);
  }
  await requireFolder(outPath);
  if (await exists(outPath)) {
    throw new BackupError(
      "exists",
      `Cannot back up to ${outPath}: the file exists (choose another name, or remove it first)`,
    );
  }
  await requireRoomForCopy(source, dirOf(outPath), room);
  const tmp = `${outPath}.partial-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await vacuumInto(source, tmp);
    await fsyncFile(tmp);
    await publishNoClobber(tmp, outPath);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  return { bytes: (await Deno.stat(outPath)).size };
}

/**
 * Throws {@link BackupError} `missing`, naming the folder, when the folder
 * `outPath` is to be written in does not exist or is not a folder: SQLite
 * would say only that it cannot open the temporary file it was given.
 */
async function requireFolder(outPath: string): Promise<void> {
  const folder = dirOf(outPath);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(folder);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      throw new BackupError(
        "missing",
        `Cannot back up to ${outPath}: the folder ${folder} does not exist (create it first)`,
      );
    }
    throw new BackupError(
      "failed",
      `Cannot back up to ${outPath}: cannot read the folder ${folder}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  if (!info.isDirectory) {
    throw new BackupError("missing", `Cannot back up to ${outPath}: ${folder} is not a folder`);
  }
}

/** Opens a copy without changing it and verifies it (see {@link verifyCopy}). */
export async function verifyCopyFile(
  path: string,
  genesis: GenesisConfig,
  verifySignatures?: VerifySignatures,
): Promise<{ info: CopyInfo; report: IntegrityReport }> {
  const bytes = (await Deno.stat(path)).size;
  const store = new ChainStore(await openCopy(path));
  try {
    return await verifyCopy(store, genesis, bytes, verifySignatures);
  } finally {
    store.close();
  }
}

/** A copy being downloaded: its bytes as a stream, and what it holds. */
export interface BackupDownload {
  body: ReadableStream<Uint8Array>;
  info: CopyInfo;
  /** A file name for `Content-Disposition`: `<ledger>-<site>-<height>.db`. */
  filename: string;
}

/** Bytes read from the copy per chunk of a download. */
const downloadChunkBytes = 256 * 1024;
/**
 * Longest a download may wait for its reader, ms: a client that neither
 * reads nor disconnects would otherwise hold the site's one backup slot.
 */
const downloadIdleMsMax = 60_000;

/**
 * The backups a running site serves (`GET /v1/admin/backup`): one at a
 * time. Each is a copy made into a temporary file beside the database
 * (`<db>.backup-<id>.tmp`), streamed from disk in chunks, and deleted as
 * soon as it is open (so nothing is left behind once the download ends,
 * however it ends); a copy a crash left behind is deleted by the next
 * backup.
 */
export class SiteBackups {
  #running = false;

  /** `dbUrl` is the site's database; `name` and `ledger` name the files. */
  constructor(
    readonly dbUrl: string,
    readonly name: string,
    readonly ledger: string,
    /** What a copy beside the database must leave free (the site's `diskFreeBytesMin`). */
    readonly room: CopyRoom = {},
  ) {}

  /** True while a backup is being made or downloaded. */
  get running(): boolean {
    return this.#running;
  }

  /**
   * Makes a copy and returns it as a stream; the slot is free again once
   * the stream ends, is cancelled or idles past {@link downloadIdleMsMax}.
   * Throws a 409 `conflict` {@link LedgerError} while another backup runs
   * and for a database on a libSQL server, and a 503 `insufficient_storage`
   * when the copy would not leave the site its free-space minimum.
   */
  async take(): Promise<BackupDownload> {
    let path: string;
    try {
      path = localDatabasePath(this.dbUrl, "back up");
    } catch (e) {
      throw new LedgerError("conflict", 409, "Cannot back up", (e as Error).message);
    }
    if (this.#running) {
      throw new LedgerError(
        "conflict",
        409,
        "Backup running",
        "A backup of this site is already running; retry once it has ended",
      );
    }
    this.#running = true;
    let tmp: string | undefined;
    try {
      await this.#removeLeftovers(path);
      try {
        await requireRoomForCopy(path, dirOf(path), this.room);
      } catch (e) {
        if (!(e instanceof BackupError)) throw e;
        throw new LedgerError("insufficient_storage", 503, "Cannot back up", e.message, {
          retryAfter: storageRetryAfterSeconds,
        });
      }
      tmp = `${path}.backup-${crypto.randomUUID().slice(0, 8)}.tmp`;
      await vacuumInto(path, tmp);
      const file = await Deno.open(tmp, { read: true });
      const bytes = (await file.stat()).size;
      let info: CopyInfo;
      try {
        const store = new ChainStore(await openCopy(tmp));
        try {
          info = await describeCopy(store, bytes);
        } finally {
          store.close();
        }
      } catch (e) {
        file.close();
        throw e;
      }
      // Unlinked while open, the file lives on until the stream closes it.
      let unlinked = false;
      try {
        await Deno.remove(tmp);
        unlinked = true;
      } catch { /* a platform that cannot: removed when the stream ends */ }
      const toRemove = unlinked ? undefined : tmp;
      tmp = undefined;
      return {
        body: this.#stream(file, toRemove),
        info,
        filename: `${safeName(this.ledger)}-${safeName(this.name)}-${info.height}.db`,
      };
    } catch (e) {
      this.#running = false;
      if (tmp !== undefined) await Deno.remove(tmp).catch(() => {});
      throw e;
    }
  }

  #stream(file: Deno.FsFile, toRemove: string | undefined): ReadableStream<Uint8Array> {
    let done = false;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      try {
        file.close();
      } catch { /* closed */ }
      if (toRemove !== undefined) Deno.remove(toRemove).catch(() => {});
      this.#running = false;
    };
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        idle = setTimeout(() => {
          finish();
          controller.error(new Error("Backup download idle too long"));
        }, downloadIdleMsMax);
      },
      pull: async (controller) => {
        if (done) return;
        clearTimeout(idle);
        try {
          const buf = new Uint8Array(downloadChunkBytes);
          const n = await file.read(buf);
          if (n === null) {
            finish();
            controller.close();
            return;
          }
          controller.enqueue(buf.subarray(0, n));
          idle = setTimeout(() => {
            finish();
            controller.error(new Error("Backup download idle too long"));
          }, downloadIdleMsMax);
        } catch (e) {
          finish();
          controller.error(e);
        }
      },
      cancel: () => finish(),
    });
  }

  /** Removes copies an earlier run left beside the database (the caller holds the slot). */
  async #removeLeftovers(path: string): Promise<void> {
    const dir = dirOf(path);
    const prefix = path.slice(path.lastIndexOf("/") + 1) + ".backup-";
    try {
      for await (const e of Deno.readDir(dir)) {
        if (e.isFile && e.name.startsWith(prefix) && e.name.endsWith(".tmp")) {
          await Deno.remove(`${dir}/${e.name}`).catch(() => {});
        }
      }
    } catch { /* an unreadable folder: VACUUM INTO will say so */ }
  }
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64);
}

/** True when something on this machine listens on `host:port` (a running site, say). */
export function portInUse(host: string, port: number): boolean {
  if (port === 0) return false;
  try {
    Deno.listen({ hostname: host, port }).close();
    return false;
  } catch (e) {
    return e instanceof Deno.errors.AddrInUse;
  }
}

/**
 * Throws {@link BackupError} `in_use` when something listens on the site's
 * `listen` address: the site whose database `target` is runs (a restore
 * refuses it, before anything else and again just before it replaces).
 */
export function refuseRunningSite(target: string, listen?: { host: string; port: number }): void {
  if (listen !== undefined && portInUse(listen.host, listen.port)) {
    throw new BackupError(
      "in_use",
      `Cannot restore into ${target}: something listens on ${listen.host}:${listen.port} ` +
        "(is the site running? stop it first)",
    );
  }
}

/** What {@link restoreDatabase} did. */
export interface RestoreResult {
  /** The database file restored into. */
  path: string;
  info: CopyInfo;
  report: IntegrityReport;
  /** Where the database it replaced (or side files left without it) was kept, if there was one. */
  replaced?: string;
  /**
   * What the replaced database held, when there was one and it could be
   * read as a site's database (its genesis hash says whether it was this
   * ledger's).
   */
  replacedHead?: LedgerHead;
  /**
   * What `force` let the restore lose: why the replaced database would
   * have been refused without it (another ledger, or blocks the copy
   * lacks). Absent when the copy holds all it held.
   */
  replacedLoss?: string;
  /** The replay check's report, when one was asked for and the copy verified. */
  replay?: ReplayReport;
}

/**
 * Puts a copy in place as a stopped site's database.
 *
 * Refuses, changing nothing, when: the database is on a libSQL server
 * (`remote`); the copy is missing or is a live WAL database rather than a
 * copy (`missing`, `in_use`); the copy is no SQLite database, or one SQLite
 * cannot read (`not_a_database`, naming `from`, never the temporary copy);
 * the copy holds another ledger than `genesis`, or none (`other_ledger`,
 * told before anything of the database it would replace); something
 * listens on the site's `listen` address or holds the database open
 * (`in_use`: the site runs); unless `force`, the database it would replace
 * holds another ledger than `genesis`, or a block the copy does not hold —
 * a newer block, or another block at a height both hold (`would_lose`: read
 * before anything is copied); or it does not verify (the returned report is
 * not ok and nothing is replaced), or, with `replay`, re-executing its chain
 * does not give its state ({@link checkByReplay}: the returned `replay`
 * report is not ok and nothing is replaced).
 *
 * Otherwise the copy is copied beside the database, made one file in
 * rollback-journal mode, migrated and verified there, and fsynced; the
 * database it replaces is kept as
 * `<db>.replaced-<time>` (its WAL folded in first, or its `-wal`, `-shm`
 * and `-journal` files kept under the same new name, as are side files
 * left without their database; `-2`, `-3`, … is added to a name already
 * taken) — never deleted; then
 * the copy takes the database's name with one atomic rename. `from` itself
 * is never changed.
 */
export async function restoreDatabase(options: {
  dbUrl: string;
  genesis: GenesisConfig;
  from: string;
  /** The site's listening address, probed to tell whether it runs. */
  listen?: { host: string; port: number };
  /** Clock for the `.replaced-<time>` name. */
  now?: () => Date;
  /**
   * Also re-execute the copy's chain and compare its state before putting
   * it in place (for a copy from another operator's site): where the
   * scratch database goes, and progress.
   */
  replay?: { scratchDir?: string; progress?: (height: number, head: number) => void };
  /** How the copy's signatures are checked (default: on this thread; see `signature_pool.ts`). */
  verifySignatures?: VerifySignatures;
  /**
   * Replace a database of another ledger, or one holding blocks the copy
   * does not, all the same (it is kept, as any replaced database is).
   */
  force?: boolean;
}): Promise<RestoreResult> {
  const target = localDatabasePath(options.dbUrl, "restore into");
  const from = options.from;
  const fromStat = await Deno.stat(from).catch(() => undefined);
  if (fromStat === undefined || !fromStat.isFile) {
    throw new BackupError("missing", `Cannot restore from ${from}: no such file`);
  }
  if (await notSqliteFile(from)) {
    throw new BackupError(
      "not_a_database",
      `Cannot restore from ${from}: it is not a SQLite database (make a copy with deno task backup)`,
    );
  }
  if (await exists(from + "-wal")) {
    throw new BackupError(
      "in_use",
      `Cannot restore from ${from}: it has a -wal file beside it, so it is a live database ` +
        "rather than a copy (make one with deno task backup)",
    );
  }
  const targetExists = await exists(target);
  if (targetExists && (await Deno.realPath(target)) === (await Deno.realPath(from))) {
    throw new BackupError("exists", `Cannot restore ${from} onto itself`);
  }
  // The copy's ledger before the database it would replace: a copy of
  // another ledger is a wrong file (or a wrong --config), whatever that
  // database holds, and --force would not make it the site's — so it is
  // not refused as a loss (would_lose) that --force seems to get past.
  await refuseOtherLedgerCopy(from, options.genesis);
  const refuseIfRunning = () => refuseRunningSite(target, options.listen);
  refuseIfRunning();
  // A file that is no database (what a restore may be for) is not in use,
  // and SQLite is not let near a file without its header.
  const foreign = targetExists && await notSqliteFile(target);
  let held = false;
  try {
    held = targetExists && !foreign && await databaseHeld(target);
  } catch (e) {
    if (!unreadable(e)) throw e;
  }
  if (held) {
    throw new BackupError(
      "in_use",
      `Cannot restore into ${target}: the database is in use (is the site running? stop it first)`,
    );
  }
  // What it would replace, read before anything is done: a database of
  // another ledger (a wrong --config), or one ahead of the copy, would lose
  // what only it holds — refused unless forced.
  const replacedHead = targetExists && !foreign ? await readLedgerHead(target) : undefined;
  const loss = replacedHead === undefined
    ? undefined
    : await lossOf(replacedHead, from, options.genesis);
  if (loss !== undefined && !options.force) {
    throw new BackupError(
      "would_lose",
      `Cannot restore into ${target}: ${loss}. Nothing was replaced; --force replaces it all ` +
        "the same, keeping it as <db>.replaced-<time>.",
    );
  }
  await Deno.mkdir(dirOf(target), { recursive: true });
  const tmp = `${target}.restoring-${crypto.randomUUID().slice(0, 8)}`;
  const removeTmp = async () => {
    for (const p of [tmp, ...SIDE_FILE_SUFFIXES.map((s) => tmp + s)]) {
      await Deno.remove(p).catch(() => {});
    }
  };
  try {
    await Deno.copyFile(from, tmp);
    // One file in rollback-journal mode (a copy from VACUUM INTO already
    // is), then migrated as the site would migrate it and verified as it
    // will be used. What SQLite cannot read is the copy's fault: named as
    // `from`, never as the temporary file.
    let store: ChainStore;
    try {
      await foldWal(tmp);
      store = new ChainStore(await openCopy(tmp, { migrate: true }));
    } catch (e) {
      if (!unreadable(e)) throw e;
      const reason = ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message;
      throw new BackupError(
        "not_a_database",
        `Cannot restore from ${from}: SQLite cannot read it (${reason.replace(/\s+/g, " ")})`,
        { cause: e },
      );
    }
    let verified: { info: CopyInfo; report: IntegrityReport };
    try {
      verified = await verifyCopy(store, options.genesis, fromStat.size, options.verifySignatures);
    } finally {
      store.close();
    }
    if (!verified.report.ok) return { path: target, ...verified };
    let replay: ReplayReport | undefined;
    if (options.replay !== undefined) {
      replay = await checkByReplay({ dbPath: tmp, genesis: options.genesis, ...options.replay });
      if (!replay.ok) return { path: target, ...verified, replay };
    }
    await fsyncFile(tmp);
    // Again at the last moment: the site may have been started meanwhile.
    refuseIfRunning();
    let replaced: string | undefined;
    // Side files without their database (a lost disk may leave a -wal
    // behind) are kept too: SQLite would apply them to the copy.
    const sideFiles = async () => {
      const found = [];
      for (const s of SIDE_FILE_SUFFIXES) if (await exists(target + s)) found.push(s);
      return found;
    };
    if (targetExists || (await sideFiles()).length > 0) {
      // A database that is not one (the reason for a restore, perhaps) is
      // kept as it is, side files and all.
      try {
        if (targetExists && !foreign) await foldWal(target);
      } catch (e) {
        if (!unreadable(e)) throw e;
      }
      const base = `${target}.replaced-${stamp((options.now ?? (() => new Date()))())}`;
      const taken = async (p: string) => {
        for (const s of ["", ...SIDE_FILE_SUFFIXES]) if (await exists(p + s)) return true;
        return false;
      };
      replaced = base;
      for (let n = 2; await taken(replaced); n++) replaced = `${base}-${n}`;
      // Side files first: a -wal or -journal left beside the copy would be
      // applied to it by SQLite.
      for (const s of await sideFiles()) await Deno.rename(target + s, replaced + s);
      if (targetExists) {
        try {
          await Deno.link(target, replaced);
        } catch (e) {
          if (e instanceof Deno.errors.AlreadyExists) throw e;
          // No hard links here: a copy, as durable as the link would be.
          await Deno.copyFile(target, replaced);
          await fsyncFile(replaced);
        }
      }
    }
    await Deno.rename(tmp, target);
    await fsyncDir(dirOf(target));
    return {
      path: target,
      ...verified,
      replaced,
      ...(replaced !== undefined && replacedHead !== undefined ? { replacedHead } : {}),
      ...(replaced !== undefined && loss !== undefined ? { replacedLoss: loss } : {}),
      ...(replay === undefined ? {} : { replay }),
    };
  } finally {
    await removeTmp();
  }
}

/**
 * What replacing the database at `target` (holding `existing`) with the
 * copy `from` would lose, as a clause — it holds another ledger than
 * `genesis`, or a block the copy does not (its newest block is not the
 * copy's block at that height: the copy is older, or of another history)
 * — or undefined when the copy holds all it holds. A copy that cannot be
 * read is left to the copy's own checks.
 */
async function lossOf(
  existing: LedgerHead,
  from: string,
  genesis: GenesisConfig,
): Promise<string | undefined> {
  if (existing.genesisHash === undefined || existing.height < 0) return undefined;
  if (existing.genesisHash !== genesisConfigHash(genesis)) {
    return `it holds another ledger than ${genesis.ledger} (genesis ` +
      `${existing.genesisHash.slice(0, 12)}…, height ${existing.height}; is --config the site's?)`;
  }
  const copy = await readLedgerHead(from, existing.height);
  if (copy === undefined || copy.hashAt === existing.head) return undefined;
  return copy.height < existing.height
    ? `it holds blocks up to ${existing.height} and the copy only up to ${copy.height}: ` +
      `blocks ${copy.height + 1}–${existing.height} would be lost`
    : `its block ${existing.height} (${existing.head.slice(0, 12)}…) is not the copy's ` +
      `(${copy.hashAt?.slice(0, 12)}…): the two hold different histories from some height on`;
}

/** Whether `e` says the file is not a readable SQLite database. */
function unreadable(e: unknown): boolean {
  return e instanceof BackupError && e.reason === "not_a_database";
}

/** `2025-01-31T12:00:00.000Z` as `20250131T120000Z`: sortable, and safe in a file name. */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}
