/**
 * Opening a site's libSQL database: WAL, full sync, generated migrations.
 *
 * @module
 */
import { type Client, createClient } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
import { NativeWriter, WAL_BYTES_KEPT_MAX } from "./native.ts";
import * as schema from "./schema.ts";

/** A drizzle handle over the site's schema. */
export type Db = LibSQLDatabase<typeof schema>;

/** An open database: the drizzle handle and the client to close. */
export interface Database {
  db: Db;
  client: Client;
  url: string;
  /**
   * Sets how the next write transactions reach the disk: `full` fsyncs the
   * WAL at every commit; `normal` lets SQLite fsync later (a crash may lose
   * the newest `normal` commits, never earlier ones, and a later `full`
   * commit makes every earlier one durable, as the WAL is sequential).
   * Applies to the prepared-statement connection ({@link native}) that
   * carries the write path; drizzle's connection always commits with FULL.
   * No-op for remote databases.
   */
  setSync(mode: "full" | "normal"): void;
  /** Prepared statements for the write path (`file:` databases only). */
  native?: NativeWriter;
  close(): void;
}

/** The file path of a `file:` database URL (percent-decoded), else undefined. */
export function filePathOf(url: string): string | undefined {
  return url.startsWith("file:") ? decodeURIComponent(url.slice("file:".length)) : undefined;
}

const MIGRATIONS_DIR = new URL("../../migrations", import.meta.url);

/** How long a connection waits for another's write lock before SQLITE_BUSY, ms. */
const busyTimeoutMs = 5000;

/**
 * Longest one HTTP call to a libSQL server may take, ms. `@libsql/client`
 * sets no limit of its own over HTTP, so a server that takes a request and
 * never answers would hold the site's storage forever; past this the call
 * fails like an unreachable server (a write then stops the site, see the
 * README). Large enough for a block of `batchBytesMax` on a slow link.
 */
export const REMOTE_CALL_MS_MAX = 30_000;

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Overrides {@link REMOTE_CALL_MS_MAX} (tests). */
  remoteCallMsMax?: number;
}

/** A `fetch` whose every call fails after `ms` (or when the caller's own signal aborts first). */
function fetchWithin(ms: number): typeof fetch {
  return (input, init) => {
    const own = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    const limit = AbortSignal.timeout(ms);
    return fetch(input, { ...init, signal: own ? AbortSignal.any([own, limit]) : limit });
  };
}

/**
 * Opens (creating if needed) the database at `url` — a `file:` path, or a
 * `libsql://`/`http(s)://` URL of a libSQL server — and applies every pending
 * migration before returning.
 *
 * For files: WAL journal and `synchronous=FULL`, so a committed transaction
 * is on disk when the commit returns (a site tells a client "committed" only
 * after that). For a server: a commit returns once the server answered it,
 * and the server decides when that is durable (its own sync settings).
 *
 * Rejects with the database (its URL without the query, which may hold a
 * token) and the reason when it cannot be reached or migrated.
 */
export async function openDatabase(
  url: string,
  authToken?: string,
  options: OpenDatabaseOptions = {},
): Promise<Database> {
  const path = filePathOf(url);
  if (path !== undefined) {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    if (dir !== "") await Deno.mkdir(dir, { recursive: true });
  }
  // One connection, and a busy timeout set when the client opens it: the
  // client's pool opens connections as it needs them, without the PRAGMAs
  // below (a second one had busy_timeout 0, so a write through it could fail
  // at once with SQLITE_BUSY). Nothing here holds a transaction open across
  // calls, so one connection never waits on itself.
  const client = createClient({
    url,
    authToken,
    concurrency: 1,
    timeout: busyTimeoutMs,
    fetch: path === undefined
      ? fetchWithin(options.remoteCallMsMax ?? REMOTE_CALL_MS_MAX)
      : undefined,
  });
  if (url.startsWith("file:")) {
    await client.execute("PRAGMA journal_mode = WAL");
    await client.execute("PRAGMA synchronous = FULL");
    await client.execute(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    await client.execute(`PRAGMA journal_size_limit = ${WAL_BYTES_KEPT_MAX}`);
  }
  const db = drizzle(client, { schema });
  try {
    await migrate(db, { migrationsFolder: decodeURIComponent(MIGRATIONS_DIR.pathname) });
  } catch (e) {
    client.close();
    // drizzle names only the query that failed (the migrations table's
    // CREATE), which hides why: a server that refused the token, or that
    // cannot be reached. Its causes say ("fetch failed: … Connection refused").
    const reasons: string[] = [];
    let c: unknown = (e as Error).cause ?? e;
    for (let depth = 0; c && depth < 4; depth++, c = (c as Error).cause) {
      const m = (c as Error).message ?? String(c);
      if (!reasons.some((r) => r.includes(m))) reasons.push(m);
    }
    throw new Error(`Cannot open the database ${url.split("?")[0]}: ${reasons.join(": ")}`, {
      cause: e,
    });
  }
  const native = path === undefined ? undefined : new NativeWriter(path);
  // Only the prepared-statement connection switches: the write path (blocks,
  // Raft log, checkpoint lines) runs there. drizzle's connection stays at
  // FULL for the rare writes it still makes (metadata, snapshots), which
  // saves a statement through the async client twice per block.
  const setSync = (mode: "full" | "normal") => native?.setSync(mode);
  const close = () => {
    native?.close();
    client.close();
  };
  return { db, client, url, setSync, native, close };
}
