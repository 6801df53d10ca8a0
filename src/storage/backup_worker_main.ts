/**
 * The backup worker's entry (see `backup.ts`): copies one database with
 * `VACUUM INTO` on a connection of its own, then answers.
 *
 * @module
 */
/// <reference lib="deno.worker" />
// @ts-types="./libsql_native.d.ts"
import Libsql from "libsql";
import { readOnlyUri } from "./_read_only_uri.ts";

self.onmessage = (e: MessageEvent<{ source: string; target: string }>) => {
  let db: Libsql | undefined;
  try {
    // Read-only (SQLite's `mode=ro`): a copy never writes the database it
    // copies — no checkpoint of its WAL when it closes, as a last connection
    // of a stopped site's database otherwise would.
    db = new Libsql(readOnlyUri(e.data.source));
    // A reader waits for nothing in WAL mode; the timeout covers the moment
    // a checkpoint or the first connection's recovery holds a lock.
    db.exec("PRAGMA busy_timeout = 5000");
    // One read transaction: the copy is the database as of one commit. Run
    // with exec, not a prepared statement: libSQL finalizes a statement only
    // when it is garbage-collected, and until then the closed connection
    // lingers, holding the site's database open (and its locks) — after the
    // worker ends too.
    db.exec(`VACUUM INTO '${e.data.target.replaceAll("'", "''")}'`);
    self.postMessage({ ok: true });
  } catch (err) {
    self.postMessage({ ok: false, message: String((err as Error)?.message ?? err) });
  } finally {
    db?.close();
  }
};
