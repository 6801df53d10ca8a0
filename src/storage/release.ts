/**
 * Making closed libSQL connections let go of their database files.
 *
 * The embedded driver (the `libsql` package, 0.5.x, which `@libsql/client`
 * uses for `file:` URLs too) closes a connection's SQLite handle only when
 * the last statement prepared on it is garbage-collected: after
 * `Database.close()` the file stays open, with its locks, until the
 * collector happens to run (tursodatabase/libsql-js#228 and #230; fixed
 * upstream by #236, in no release yet). A process that closes a site and
 * then needs the database to itself — a restore, a test reopening a data
 * folder, an embedder — would find it "in use" by its own dead connection,
 * and a storage worker's connections would outlive the worker (ending a
 * worker runs no finalizers).
 *
 * So whoever closes connections drops every reference to their statements
 * (the classes in `native.ts` do on `close()`; `@libsql/client` keeps none)
 * and then calls {@link releaseClosedConnections} on the same thread.
 *
 * @module
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Full collections {@link releaseClosedConnections} runs, each followed by a turn of the event loop. */
const collectionsMax = 2;

/** The collector, once found; null when this runtime does not give it. */
let collect: (() => void) | null | undefined;

/**
 * V8's `gc()`: the global one when the process runs with
 * `--v8-flags=--expose-gc`, else one taken from a new context after
 * turning the flag on (Node's documented way; Deno's `node:v8` and
 * `node:vm` support it). Null when neither works.
 */
function collector(): (() => void) | null {
  if (collect !== undefined) return collect;
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === "function") return collect = own as () => void;
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc");
    collect = typeof gc === "function" ? gc as () => void : null;
  } catch {
    collect = null;
  }
  return collect;
}

/**
 * Runs the garbage collector so that the statements of connections closed
 * on this thread are finalized and their database files closed (see the
 * module's doc): a full collection, then a turn of the event loop (the
 * driver's finalizers run after the collection, not in it), twice.
 * Requires every reference to those statements dropped first. Resolves
 * false, having done nothing, where the collector cannot be had; the files
 * are then closed whenever the collector runs by itself.
 *
 * A full collection takes milliseconds on a small heap and up to a few
 * hundred on a large one: for a close, never for a request.
 */
export async function releaseClosedConnections(): Promise<boolean> {
  const gc = collector();
  if (gc === null) return false;
  for (let i = 0; i < collectionsMax; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return true;
}
