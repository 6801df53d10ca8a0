/**
 * Online copies of a site's `file:` database, and the file handling a
 * restore needs: the SQL and the SQLite file rules (WAL, journals, locks)
 * of backups live here, as all SQL does.
 *
 * A copy is made with SQLite's `VACUUM INTO` on a connection of its own: one
 * read transaction, so the copy is the database as of one commit (a block
 * and its applied position are one transaction, so the copy ends at a block
 * boundary), and in WAL mode it never blocks the site's writer (the WAL only
 * grows while the copy runs, as no checkpoint can pass the reader). The
 * statement runs in a worker thread: libSQL's embedded driver blocks the
 * thread that calls it, and a site must keep serving meanwhile.
 *
 * @module
 */
import { createClient } from "@libsql/client";
import { drizzle } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
// @ts-types="./libsql_native.d.ts"
import Libsql from "libsql";
import type { Database } from "./db.ts";
import * as schema from "./schema.ts";
import { dirOf, fsyncDir } from "./durable_files.ts";
import { readOnlyUri } from "./_read_only_uri.ts";
import { releaseClosedConnections } from "./release.ts";

/** Why a backup or restore step refused to go on: an operating error, for the caller to report. */
export class BackupError extends Error {
  constructor(
    readonly reason:
      | "remote"
      | "missing"
      | "exists"
      | "in_use"
      | "not_a_database"
      | "other_ledger"
      | "would_lose"
      | "no_space"
      | "failed",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "BackupError";
  }
}

const MIGRATIONS_DIR = new URL("../../migrations", import.meta.url);

/** How long a probe waits for another connection's lock before calling the database in use, ms. */
const lockWaitMs = 200;

/** The files SQLite may keep beside a database, by the suffix added to its name. */
export const SIDE_FILE_SUFFIXES = ["-wal", "-shm", "-journal"] as const;

/**
 * The path of a `file:` database URL. Throws {@link BackupError} `remote`
 * for a libSQL server's URL: copying the server's database is the server's
 * job (its own backups or replicas), not a site's.
 */
export function localDatabasePath(url: string, action: string): string {
  if (!url.startsWith("file:")) {
    throw new BackupError(
      "remote",
      `Cannot ${action} ${url.split("?")[0]}: the database is on a libSQL server; ` +
        "backups and restores of it are the server's job (use its own backup tools)",
    );
  }
  return decodeURIComponent(url.slice("file:".length));
}

/** True when `path` names an existing file system entry (of any kind). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/**
 * Writes a consistent copy of the database at `sourcePath` to `targetPath`
 * with `VACUUM INTO`, in a worker thread. Requires `targetPath` not to
 * exist (SQLite refuses to write into an existing non-empty file). The copy
 * is a plain rollback-journal database, not yet fsynced.
 */
export async function vacuumInto(sourcePath: string, targetPath: string): Promise<void> {
  const worker = new Worker(new URL("./backup_worker_main.ts", import.meta.url).href, {
    type: "module",
  });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<{ ok: boolean; message?: string }>) =>
        e.data.ok ? resolve() : reject(
          new BackupError("failed", `Cannot copy ${sourcePath}: ${e.data.message}`),
        );
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new BackupError("failed", `Cannot copy ${sourcePath}: ${e.message}`));
      };
      worker.postMessage({ source: sourcePath, target: targetPath });
    });
  } finally {
    worker.terminate();
  }
}

/**
 * Gives `tmpPath` the name `finalPath` without ever replacing a file of
 * that name: a hard link fails when the name exists, which a rename would
 * not. Falls back to a check and a rename where hard links are not
 * supported. Removes `tmpPath` on success; throws {@link BackupError}
 * `exists` (leaving `tmpPath` to the caller) when `finalPath` exists.
 */
export async function publishNoClobber(tmpPath: string, finalPath: string): Promise<void> {
  try {
    await Deno.link(tmpPath, finalPath);
    await Deno.remove(tmpPath);
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new BackupError("exists", `Cannot write ${finalPath}: the file exists`);
    }
    if (await exists(finalPath)) {
      throw new BackupError("exists", `Cannot write ${finalPath}: the file exists`);
    }
    await Deno.rename(tmpPath, finalPath);
  }
  await fsyncDir(dirOf(finalPath));
}

/**
 * Least time a backup's partial file must have gone unmodified before
 * another backup removes it as a crashed backup's leftover, ms. A file last
 * modified that long ago was created at least that long ago, and no backup
 * runs for a day (a running one writes its file throughout `VACUUM INTO`,
 * then names it within seconds), so no running backup loses its file.
 */
export const partialIdleMsMin = 24 * 60 * 60 * 1000;

/** What follows `.partial-` in a backup's partial file name (`<out>.partial-<id>`). */
const PARTIAL_ID = /^[0-9a-f]{8}$/;

/** What follows `<db>.restoring-` in a restore's files: its id, and a SQLite side file's suffix. */
const RESTORING_REST = /^[0-9a-f]{8}(-wal|-shm|-journal)?$/;

/**
 * Removes the partial files crashed backups left in `outPath`'s folder —
 * `<name>.partial-<id>` (`<id>` 8 lowercase hex digits), whatever the
 * output's name — that have gone unmodified for at least `idleMsMin`
 * (default {@link partialIdleMsMin}), so a file another backup is writing is
 * never removed. Nothing else is touched. Answers the paths removed; a
 * folder that cannot be read, or a file that cannot be removed, is left as
 * it is (the backup goes on).
 */
export async function removeStalePartials(
  outPath: string,
  options: { idleMsMin?: number; now?: number } = {},
): Promise<string[]> {
  return await removeLeftovers(
    outPath,
    (name) => {
      const at = name.lastIndexOf(".partial-");
      return at > 0 && PARTIAL_ID.test(name.slice(at + ".partial-".length));
    },
    options.idleMsMin ?? partialIdleMsMin,
    options.now ?? Date.now(),
  );
}

/**
 * Removes what restores into the database at `dbPath` that did not finish
 * left beside it: `<db>.restoring-<id>` and its `-wal`, `-shm` and
 * `-journal` files. Never another database's files, nor a
 * `<db>.replaced-<time>` (a database a restore kept). Requires that no
 * other restore into `dbPath` runs: hold {@link lockRestores}; where the
 * folder cannot be locked, pass `idleMsMin` so that only files unmodified
 * that long are removed. Answers the paths removed (see
 * {@link removeStalePartials} for what cannot be).
 */
export async function removeRestoreLeftovers(
  dbPath: string,
  options: { idleMsMin?: number; now?: number } = {},
): Promise<string[]> {
  const prefix = dbPath.slice(dbPath.lastIndexOf("/") + 1) + ".restoring-";
  return await removeLeftovers(
    dbPath,
    (name) => name.startsWith(prefix) && RESTORING_REST.test(name.slice(prefix.length)),
    options.idleMsMin ?? 0,
    options.now ?? Date.now(),
  );
}

/**
 * Takes the lock that lets one restore at a time into `dbPath`'s folder (an
 * exclusive advisory lock on the folder, created if missing): released by
 * `release()` or when the process ends, however it ends, so a crash never
 * leaves it held. Throws {@link BackupError} `in_use` while another restore
 * holds it. Answers undefined where a folder cannot be locked (a platform
 * that cannot open one, such as Windows).
 */
export async function lockRestores(dbPath: string): Promise<{ release(): void } | undefined> {
  const dir = dirOf(dbPath);
  await Deno.mkdir(dir, { recursive: true });
  let folder: Deno.FsFile;
  try {
    folder = await Deno.open(dir, { read: true });
  } catch {
    return undefined;
  }
  let locked: boolean;
  try {
    locked = await folder.tryLock(true);
  } catch {
    folder.close();
    return undefined;
  }
  if (!locked) {
    folder.close();
    throw new BackupError(
      "in_use",
      `Cannot restore into ${dbPath}: another restore into ${dir} is running`,
    );
  }
  // Closing the folder gives the lock back.
  return { release: () => folder.close() };
}

/**
 * Removes the files beside `path` whose names `ours()` accepts and that
 * have gone unmodified for at least `idleMsMin` (0: all of them, however
 * new); answers the paths removed, spelled as `path` is.
 */
async function removeLeftovers(
  path: string,
  ours: (name: string) => boolean,
  idleMsMin: number,
  now: number,
): Promise<string[]> {
  const dir = dirOf(path);
  const spelled = path.slice(0, path.lastIndexOf("/") + 1);
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile && ours(e.name)) names.push(e.name);
  } catch {
    return []; // No folder (nothing to remove), or one that cannot be read.
  }
  const removed: string[] = [];
  for (const name of names.sort()) {
    const leftover = spelled + name;
    try {
      if (idleMsMin > 0) {
        const modified = (await Deno.lstat(leftover)).mtime;
        if (modified === null || now - modified.getTime() < idleMsMin) continue;
      }
      await Deno.remove(leftover);
      removed.push(leftover);
    } catch { /* removed meanwhile, or not ours to remove: left as it is */ }
  }
  return removed;
}

/** The `file:` URL of a path, percent-encoded so that `filePathOf` and libSQL give the path back. */
export function fileUrlOf(path: string): string {
  return "file:" + encodeURI(path).replace(/[?#]/g, encodeURIComponent);
}

/**
 * Opens a copy (a rollback-journal file, as `VACUUM INTO` writes them) to
 * read it through the repositories. Without `migrate` it changes nothing:
 * no migration, no journal mode, no PRAGMA — reads of a rollback-journal
 * file write nothing; with it, pending migrations are applied first (to a
 * copy being restored, so that a copy made by an older version reads as
 * the site will read it). Either way the file stays in rollback-journal
 * mode, where a connection holds no lock between transactions and leaves
 * no side file, so the copy can be moved once closed. Requires the file to
 * exist (SQLite would create an empty one).
 */
export async function openCopy(
  path: string,
  options: { migrate?: boolean } = {},
): Promise<Database> {
  if (!(await exists(path))) throw new BackupError("missing", `Cannot open ${path}: no such file`);
  const url = fileUrlOf(path);
  const client = createClient({ url, concurrency: 1 });
  const db = drizzle(client, { schema });
  if (options.migrate) {
    try {
      await migrate(db, { migrationsFolder: decodeURIComponent(MIGRATIONS_DIR.pathname) });
    } catch (e) {
      client.close();
      throw notADatabase(path, e);
    }
  }
  return { db, client, url, setSync: () => {}, close: () => client.close() };
}

/**
 * The probes here run with `exec` only, never a prepared statement: libSQL
 * finalizes a statement when it is garbage-collected, and until then its
 * closed connection lingers and keeps holding a WAL database open.
 *
 * True when another connection holds `path` open — a running site keeps
 * its WAL-mode database open, holding a shared lock on it for as long as it
 * runs. Probes by asking for an exclusive lock and giving it back at once;
 * the data is not changed. Requires the file to exist.
 */
export function databaseInUse(path: string): boolean {
  let db: Libsql | undefined;
  try {
    db = new Libsql(path);
    db.exec(`PRAGMA busy_timeout = ${lockWaitMs}`);
    db.exec("PRAGMA locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE");
    db.exec("ROLLBACK");
    return false;
  } catch (e) {
    if (isLocked(e)) return true;
    throw notADatabase(path, e);
  } finally {
    db?.close();
  }
}

/**
 * {@link databaseInUse}, for a caller about to take the database to itself
 * (a restore): when it seems held, the closed connections of this thread
 * are collected first (libSQL lets a closed connection's file go only once
 * its statements are, see `release.ts`: a site closed in this process may
 * otherwise still hold it) and the lock asked again.
 */
export async function databaseHeld(path: string): Promise<boolean> {
  if (!databaseInUse(path)) return false;
  if (!(await releaseClosedConnections())) return true;
  return databaseInUse(path);
}

/**
 * The sites' directory (names and URLs, as the Raft log built it) that the
 * database at `path` holds (one query, no write); `[]` when it has none or
 * cannot be read (missing, damaged, not a site's database).
 */
export function storedDirectory(path: string): Array<{ name: string; url: string }> {
  let db: Libsql | undefined;
  try {
    if (!Deno.statSync(path).isFile) return [];
    db = new Libsql(path);
    const row = db.prepare("SELECT value FROM meta WHERE key = 'directory'").get() as
      | { value?: unknown }
      | undefined;
    const parsed = typeof row?.value === "string" ? JSON.parse(row.value) : [];
    return Array.isArray(parsed)
      ? parsed.filter((m) => typeof m?.name === "string" && typeof m?.url === "string")
        .map((m) => ({ name: m.name, url: m.url }))
      : [];
  } catch {
    return [];
  } finally {
    try {
      db?.close();
    } catch { /* already unusable */ }
  }
}

/** What a site database holds, as {@link readLedgerHead} reads it. */
export interface LedgerHead {
  /** The genesis config hash it was created for; undefined when it holds none. */
  genesisHash: string | undefined;
  /** Height of its newest block; -1 when it holds no block. */
  height: number;
  /** Hash of its newest block ("" when none). */
  head: string;
  /** The hash of its block at the `at` height asked for, if it holds one. */
  hashAt?: string;
}

/**
 * Reads what the database at `path` holds — its genesis hash, its newest
 * block, and the hash of its block at height `at` when asked — on a
 * read-only connection (SQLite's `mode=ro`: nothing is written, not even a
 * checkpoint of its WAL; the empty -wal and -shm such a connection makes
 * are removed after it), then lets the file go (see `release.ts`), so
 * that the caller may have it to itself next. Requires that no other
 * connection has the database open (the restore checked). Answers undefined when it
 * cannot be read as a site's database (no SQLite file, damaged, or without
 * the site's tables). Requires the file to exist.
 */
export async function readLedgerHead(path: string, at?: number): Promise<LedgerHead | undefined> {
  let db: Libsql | undefined;
  let found: LedgerHead | undefined;
  // A read-only connection to a WAL database makes its -wal and -shm when
  // missing, and may not delete them when it closes: those it made go.
  const had = new Set<string>();
  for (const s of ["-wal", "-shm"]) if (await exists(path + s)) had.add(s);
  try {
    if (await notSqliteFile(path)) return undefined;
    db = new Libsql(readOnlyUri(path));
    db.exec(`PRAGMA busy_timeout = ${lockWaitMs}`);
    const meta = db.prepare("SELECT value FROM meta WHERE key = 'genesis_hash'").raw().get() as
      | [unknown]
      | undefined;
    const newest = db.prepare("SELECT height, hash FROM blocks ORDER BY height DESC LIMIT 1").raw()
      .get() as [number, string] | undefined;
    const atRow = at === undefined
      ? undefined
      : db.prepare("SELECT hash FROM blocks WHERE height = ?").raw().get(at) as
        | [string]
        | undefined;
    found = {
      genesisHash: typeof meta?.[0] === "string" ? meta[0] : undefined,
      height: newest?.[0] ?? -1,
      head: newest?.[1] ?? "",
      ...(atRow === undefined ? {} : { hashAt: atRow[0] }),
    };
  } catch {
    found = undefined;
  } finally {
    try {
      db?.close();
    } catch { /* already unusable */ }
    db = undefined;
  }
  await releaseClosedConnections();
  const wal = had.has("-wal") ? undefined : await Deno.stat(path + "-wal").catch(() => undefined);
  if (wal !== undefined && wal.size === 0) {
    await Deno.remove(path + "-wal").catch(() => {});
    if (!had.has("-shm")) await Deno.remove(path + "-shm").catch(() => {});
  }
  return found;
}

/**
 * Takes `path` out of WAL mode: folds the WAL into the database file and
 * deletes the `-wal` and `-shm` files, so the database is one file that can
 * be moved by itself. SQLite allows this only to the sole connection, so it
 * doubles as a proof that no site has the database open. Throws
 * {@link BackupError} `in_use` when another connection has it, and
 * `not_a_database` when the file is not a readable SQLite database.
 */
export async function foldWal(path: string): Promise<void> {
  let db: Libsql | undefined;
  const inUse = () =>
    new BackupError(
      "in_use",
      `Cannot replace ${path}: the database is in use (is the site running?)`,
    );
  try {
    db = new Libsql(path);
    db.exec(`PRAGMA busy_timeout = ${lockWaitMs}`);
    db.exec("PRAGMA journal_mode = DELETE");
  } catch (e) {
    if (isLocked(e)) throw inUse();
    throw notADatabase(path, e);
  } finally {
    db?.close();
  }
  // The header says which mode the file is in (bytes 18 and 19: 1 rollback
  // journal, 2 WAL); a change SQLite declined leaves 2.
  if (await walHeader(path)) throw inUse();
}

/**
 * True when `path` does not start with SQLite's header string, an empty
 * file included: no database, and SQLite must not be let near it (opening
 * it deletes a `-wal` file beside it, which a restore keeps; SQLite deletes
 * the `-wal` of an empty file, where a crash may have left all its pages).
 */
export async function notSqliteFile(path: string): Promise<boolean> {
  const f = await Deno.open(path, { read: true });
  try {
    const head = new Uint8Array(16);
    let got = 0;
    while (got < head.length) {
      const n = await f.read(head.subarray(got));
      if (n === null) break;
      got += n;
    }
    return new TextDecoder().decode(head.subarray(0, got)) !== "SQLite format 3\u0000";
  } finally {
    f.close();
  }
}

/** True when the database header at `path` says WAL mode. */
async function walHeader(path: string): Promise<boolean> {
  const f = await Deno.open(path, { read: true });
  try {
    const header = new Uint8Array(20);
    const n = await f.read(header);
    return n !== null && n >= 20 && (header[18] === 2 || header[19] === 2);
  } finally {
    f.close();
  }
}

function isLocked(e: unknown): boolean {
  return /database is locked|SQLITE_BUSY|SQLITE_LOCKED/i.test(String((e as Error)?.message ?? e));
}

function notADatabase(path: string, e: unknown): BackupError {
  return new BackupError(
    "not_a_database",
    `Cannot read ${path} as a SQLite database: ${(e as Error)?.message ?? e}`,
    { cause: e },
  );
}
