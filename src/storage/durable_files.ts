/**
 * Making files and folder entries durable: what a copy that must survive a
 * crash (a backup, a restored database, a command line's output) calls
 * after writing, without the database modules (the command line loads no
 * libSQL).
 *
 * @module
 */

/** Flushes a file's contents to disk. */
export async function fsyncFile(path: string): Promise<void> {
  const f = await Deno.open(path, { read: true, write: true });
  try {
    await f.sync();
  } finally {
    f.close();
  }
}

/** Makes the entries of `dir` (a rename, a new link) durable, where the platform allows it. */
export async function fsyncDir(dir: string): Promise<void> {
  let d: Deno.FsFile;
  try {
    d = await Deno.open(dir, { read: true });
  } catch {
    return; // Not every platform opens folders (Windows); their renames are durable anyway.
  }
  try {
    await d.sync();
  } catch {
    /* same */
  } finally {
    d.close();
  }
}

/** The folder part of a path ("." for a bare name). */
export function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}
