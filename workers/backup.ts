/**
 * The backup command: a consistent copy of a site's database, taken while
 * the site runs, then verified.
 *
 *     deno task backup --config data/site-a/site.json --out backups/site-a-2025-06-01.db
 *
 * The copy is SQLite's `VACUUM INTO` on a connection of its own (the site's
 * writes go on; see `src/storage/backup.ts`), written under a temporary
 * name beside `--out`, fsynced, then given its name. It prints the copy's
 * height, head hash, applied Raft index and size, then runs the checks of
 * `deno task integrity` on the copy. First it removes, and names, the
 * partial files of crashed backups in `--out`'s folder that have gone a day
 * without a write (see `removeStalePartials`): never one a running backup
 * writes.
 *
 * Exits 0 when the copy verifies; 1 when it does not (the copy is kept, for
 * a look) or the copy failed; 2 on bad usage: no config, no database, an
 * `--out` that exists (never replaced) or whose folder does not exist
 * (never created: checked before anything is copied), a database on a
 * libSQL server (backing that up is the server's job). Also 1, before
 * anything is copied, when `--out`'s volume has no room for the copy (on
 * the site's own volume: and the site's `diskFreeBytesMin` left free).
 *
 * @module
 */
import { commandInput, helpAsked } from "./_cli.ts";
import { BackupError, backupToFile, integrityLines, verifyCopyFile } from "../src/site/backup.ts";
import { SignaturePool } from "../src/site/signature_pool.ts";
import { removeStalePartials } from "../src/storage/backup.ts";

/** Runs the command; resolves to the exit code. */
export async function runBackup(args: readonly string[]): Promise<number> {
  const usage = "deno task backup --config <site.json> --out <file>";
  if (helpAsked(args)) {
    console.log(`usage: ${usage}`);
    return 0;
  }
  const input = await commandInput(args, "--out", usage);
  if (input === 2) return 2;
  const { configPath, loaded, value: out } = input;
  try {
    for (const path of await removeStalePartials(out)) {
      console.log(`removed ${path}: left by a backup that did not finish (no write for a day)`);
    }
    const started = performance.now();
    await backupToFile(loaded.dbUrl, out, { reserveBytes: loaded.config.diskFreeBytesMin });
    const pool = new SignaturePool();
    const { info, report } = await verifyCopyFile(out, loaded.genesis, pool.verify).finally(
      () => pool.close(),
    );
    console.log(
      `backup ${out}: height ${info.height}, head ${info.head}, applied index ${info.appliedIndex}, ` +
        `${info.bytes} bytes (${Math.round(performance.now() - started)} ms)`,
    );
    for (const line of integrityLines(report)) console.log(line);
    if (!report.ok) console.error(`The copy at ${out} does not verify; it is kept for a look`);
    return report.ok ? 0 : 1;
  } catch (e) {
    if (e instanceof BackupError) {
      console.error(e.message);
      return ["remote", "missing", "exists"].includes(e.reason) ? 2 : 1;
    }
    console.error(`Cannot back up ${configPath}: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await runBackup(Deno.args));
