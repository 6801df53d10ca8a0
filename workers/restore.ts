/**
 * The restore command: puts a copy made by `deno task backup` (or
 * downloaded from `GET /v1/admin/backup`) in place as a stopped site's
 * database.
 *
 *     deno task restore --config data/site-a/site.json --from backups/site-a.db
 *
 * Refuses while the site runs (its port is taken, or its database is held
 * open), when the copy holds another ledger than the config's genesis, and
 * when the copy does not pass the checks of `deno task integrity`. The
 * database it replaces is kept as `<db>.replaced-<time>`, never deleted;
 * the copy is never changed. See {@link restoreDatabase}.
 *
 * Exits 0 once restored; 1 when the copy is refused (another ledger, not a
 * site database, a chain that does not verify) or the restore failed; 2 on
 * bad usage: no config, no copy, the site running, a database on a libSQL
 * server (restoring that is the server's job).
 *
 * @module
 */
import { commandInput } from "./_cli.ts";
import { BackupError, integrityLines, restoreDatabase } from "../src/site/backup.ts";

/** Runs the command; resolves to the exit code. */
export async function runRestore(args: readonly string[]): Promise<number> {
  const input = await commandInput(
    args,
    "--from",
    "deno task restore --config <site.json> --from <copy>",
  );
  if (input === 2) return 2;
  const { configPath, loaded, value: from } = input;
  try {
    const result = await restoreDatabase({
      dbUrl: loaded.dbUrl,
      genesis: loaded.genesis,
      from,
      listen: { host: loaded.config.host, port: loaded.config.port },
    });
    const { info, report } = result;
    for (const line of integrityLines(report)) console.log(line);
    if (!report.ok) {
      console.error(`Cannot restore from ${from}: the copy does not verify; nothing was replaced`);
      return 1;
    }
    console.log(
      `restored ${from} into ${result.path}: height ${info.height}, head ${info.head}, ` +
        `applied index ${info.appliedIndex}`,
    );
    console.log(
      result.replaced === undefined
        ? "there was no database to replace"
        : `the replaced database is kept as ${result.replaced}`,
    );
    const name = loaded.config.name;
    if (loaded.genesis.sites.length > 1 || loaded.config.join) {
      // Raft lets no member's log go back in time: a voter that forgot
      // entries it acknowledged could help elect a leader that lacks them.
      console.log(
        `next: make sure ${name} is out of the cluster (on the leader: ` +
          `DELETE /v1/admin/members/${name}), start it, add it back as a learner ` +
          `(POST /v1/admin/members), and promote it once it has caught up on the blocks after ${info.height}`,
      );
    } else {
      console.log(
        `next: start ${name}; the ledger resumes after block ${info.height} ` +
          "(transactions committed after the copy was taken are not in it)",
      );
    }
    return 0;
  } catch (e) {
    if (e instanceof BackupError) {
      console.error(e.message);
      return ["remote", "missing", "exists", "in_use"].includes(e.reason) ? 2 : 1;
    }
    console.error(`Cannot restore ${configPath}: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await runRestore(Deno.args));
