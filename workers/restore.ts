/**
 * The restore command: puts a copy made by `deno task backup` (or
 * downloaded from `GET /v1/admin/backup`) in place as a stopped site's
 * database.
 *
 *     deno task restore --config data/site-a/site.json --from backups/site-a.db
 *
 * Refuses while the site runs (its port is taken, or its database is held
 * open), when the copy holds another ledger than the config's genesis, and
 * when the copy does not pass the checks of `deno task integrity`. It reads
 * the database it would replace first, and refuses, unless `--force`, one
 * of another ledger or one holding a block the copy does not (a newer
 * one: what was committed after the copy was taken); it says what it
 * replaced. The database it replaces is kept as `<db>.replaced-<time>`,
 * never deleted; the copy is never changed. See {@link restoreDatabase}.
 *
 * One restore at a time goes into a database's folder: the command holds a
 * lock on it while it runs (another restore meanwhile exits 2). Under it,
 * it first removes, and names, what an earlier restore that did not finish
 * left beside the database (`<db>.restoring-<id>` and its side files).
 *
 * A cluster site must be out of the cluster first: Raft lets no member's log
 * go back in time (a voter that forgot entries it acknowledged could help
 * elect a leader that lacks them), so the command asks the other sites'
 * `GET /v1/sites` and refuses while any lists this site as a member. When
 * none answers, it refuses unless `--removed` says the site was removed
 * (or was never added). A new site may start from a copy of another
 * site's database in the same way, as a new member.
 *
 * With `--replay` the copy's chain is also re-executed from genesis into a
 * scratch database (under `--scratch`, default the system's temporary
 * folder) and its state compared row by row before it is put in place —
 * for a copy that came from another operator's site, whose state rows the
 * integrity checks cannot vouch for (see `src/site/replay_check.ts`).
 *
 * Exits 0 once restored; 1 when the copy is refused (another ledger, no
 * SQLite database or not a site database — named as `--from`, never as the
 * temporary copy the restore works on — a chain that does not verify, a
 * state that re-executing does not give, no room for the replay's scratch
 * database) or the restore failed; 2 on bad usage: no config, no copy, the
 * site running, a cluster site still a member (or no other site answering
 * without `--removed`), a database on a libSQL server (restoring that is
 * the server's job), a `--scratch` folder that does not exist, a database
 * to replace that would lose what only it holds (without `--force`).
 *
 * @module
 */
import { commandInput, helpAsked, replayArgs } from "./_cli.ts";
import {
  BackupError,
  integrityLines,
  refuseOtherLedgerCopy,
  refuseRunningSite,
  restoreDatabase,
  type RestoreResult,
} from "../src/site/backup.ts";
import { ReplayCheckError, replayLines } from "../src/site/replay_check.ts";
import { SignaturePool } from "../src/site/signature_pool.ts";
import { type LoadedSiteFiles, memberUrls } from "../src/site/config.ts";
import { fetchVia, trustingClient } from "../src/site/tls.ts";
import {
  localDatabasePath,
  lockRestores,
  partialIdleMsMin,
  removeRestoreLeftovers,
  storedDirectory,
} from "../src/storage/backup.ts";

const usage = "deno task restore --config <site.json> --from <copy> [--removed] [--force] " +
  "[--replay [--scratch <dir>]]";

/** Longest one other site may take to answer `GET /v1/sites`, ms. */
const sitesAnswerMsMax = 3000;

/**
 * What the other sites of `loaded`'s cluster say of its membership: the
 * names of those that list it as a member, and how many answered at all.
 * Each is asked at its URL in the last of `directories` that names it
 * (directories the Raft log built, oldest first: the copy's), else as
 * genesis and the config's `peers` give it — sites added or moved since
 * genesis are asked too — unless the config's `peerUrls` names where this
 * site reaches it.
 */
export async function membershipSeen(
  loaded: LoadedSiteFiles,
  directories: ReadonlyArray<ReadonlyArray<{ name: string; url: string }>> = [],
): Promise<{ listedBy: string[]; answered: number }> {
  const name = loaded.config.name;
  const urls = memberUrls(loaded, directories);
  const others = [...urls].filter(([n]) => n !== name).map(([n, url]) => ({ name: n, url }));
  const client = trustingClient(loaded.caCerts);
  const get = fetchVia(client);
  try {
    const answers = await Promise.all(others.map(async (m) => {
      try {
        const res = await get(`${m.url}/v1/sites`, {
          signal: AbortSignal.timeout(sitesAnswerMsMax),
        });
        if (!res.ok) {
          await res.body?.cancel();
          return undefined;
        }
        const body = await res.json() as { sites?: Array<{ name?: unknown }> };
        return { site: m.name, lists: (body.sites ?? []).some((s) => s.name === name) };
      } catch {
        return undefined;
      }
    }));
    const got = answers.filter((a) => a !== undefined);
    return { listedBy: got.filter((a) => a.lists).map((a) => a.site), answered: got.length };
  } finally {
    client?.close();
  }
}

/** Runs the command; resolves to the exit code. */
export async function runRestore(args: readonly string[]): Promise<number> {
  if (helpAsked(args)) {
    console.log(`usage: ${usage}`);
    return 0;
  }
  const input = await commandInput(
    args,
    "--from",
    usage,
  );
  if (input === 2) return 2;
  const { configPath, loaded, value: from } = input;
  const flags = await replayArgs(args, usage, ". Nothing was replaced.");
  if (flags === 2) return 2;
  const { replay, scratchDir } = flags;
  const name = loaded.config.name;
  const cluster = loaded.genesis.sites.length > 1 || loaded.config.join;
  let seenAnswered = 0;
  // A copy of another ledger is a wrong file whatever else holds: said
  // before the cluster is asked about the site, or the database it would
  // replace is read (see restoreDatabase).
  try {
    await refuseOtherLedgerCopy(from, loaded.genesis);
  } catch (e) {
    if (!(e instanceof BackupError)) throw e;
    console.error(`${e.message}. Nothing was replaced.`);
    return 1;
  }
  // A running site first: whatever else holds, it must be stopped (the
  // membership question, and the restore itself, come after).
  try {
    refuseRunningSite(localDatabasePath(loaded.dbUrl, "restore into"), {
      host: loaded.config.host,
      port: loaded.config.port,
    });
  } catch (e) {
    if (!(e instanceof BackupError)) throw e;
    console.error(`${e.message}. Nothing was replaced.`);
    return 2;
  }
  if (cluster) {
    // The copy's directory. (Not the database it replaces: a read here
    // would hold that database open until this process ends — libSQL keeps
    // a connection whose statements are not yet collected — and the restore
    // then finds it in use.)
    const seen = await membershipSeen(loaded, [storedDirectory(from)]);
    seenAnswered = seen.answered;
    if (seen.listedBy.length > 0) {
      console.error(
        `Cannot restore ${name}: ${seen.listedBy.join(", ")} still list${
          seen.listedBy.length === 1 ? "s" : ""
        } it as a member. A member's log must not go back in time: remove it first (on the ` +
          `leader: DELETE /v1/admin/members/${name}), then restore, start it, and add it back ` +
          "as a learner. Nothing was replaced.",
      );
      return 2;
    }
    if (seen.answered === 0 && !args.includes("--removed")) {
      console.error(
        `Cannot restore ${name}: no other site answered to say whether it is still a member. ` +
          `If ${name} was removed from the cluster (or was never added: a new site), run again ` +
          "with --removed. Nothing was replaced.",
      );
      return 2;
    }
  }
  let lock: { release(): void } | undefined;
  let pool: SignaturePool | undefined;
  try {
    const dbPath = localDatabasePath(loaded.dbUrl, "restore into");
    lock = await lockRestores(dbPath);
    // Under the lock no other restore writes here, so what one left is
    // garbage; without it (no folder lock on this platform) only what has
    // gone a day without a write, as for a backup's partial files.
    const leftovers = await removeRestoreLeftovers(
      dbPath,
      lock === undefined ? { idleMsMin: partialIdleMsMin } : {},
    );
    for (const path of leftovers) {
      console.log(`removed ${path}: left by a restore that did not finish`);
    }
    pool = new SignaturePool();
    const result = await restoreDatabase({
      force: args.includes("--force"),
      verifySignatures: pool.verify,
      dbUrl: loaded.dbUrl,
      genesis: loaded.genesis,
      from,
      listen: { host: loaded.config.host, port: loaded.config.port },
      ...(replay
        ? {
          replay: {
            ...(scratchDir === undefined ? {} : { scratchDir }),
            progress: (height: number, head: number) =>
              console.log(`replayed to block ${height} of ${head}`),
          },
        }
        : {}),
    });
    const { info, report } = result;
    for (const line of integrityLines(report)) console.log(line);
    if (!report.ok) {
      console.error(`Cannot restore from ${from}: the copy does not verify; nothing was replaced`);
      return 1;
    }
    if (result.replay !== undefined) {
      for (const line of replayLines(result.replay)) console.log(line);
      if (!result.replay.ok) {
        console.error(
          `Cannot restore from ${from}: re-executing its chain does not give its state; ` +
            "nothing was replaced",
        );
        return 1;
      }
    }
    console.log(
      `restored ${from} into ${result.path}: height ${info.height}, head ${info.head}, ` +
        `applied index ${info.appliedIndex}`,
    );
    console.log(replacedLine(result));
    if (cluster) {
      console.log(
        `next: start ${name} (it is not a member), add it as a learner (POST /v1/admin/members ` +
          `with its name, URL and key: back, if it was one), and promote it once it has caught up ` +
          `on the blocks after ${info.height}` +
          (seenAnswered === 0
            ? `; or, if every other site is lost for good, make ${name} the only voter first: ` +
              `deno task force-new-cluster --config ${configPath}`
            : ""),
      );
    } else {
      console.log(
        `next: start ${name}; the ledger resumes after block ${info.height} ` +
          "(transactions committed after the copy was taken are not in it)",
      );
    }
    return 0;
  } catch (e) {
    if (e instanceof ReplayCheckError) {
      console.error(`${e.message}. Nothing was replaced.`);
      return 1;
    }
    if (e instanceof BackupError) {
      console.error(
        e.message +
          (e.reason === "would_lose" && cluster
            ? ` (On a cluster site out of its cluster, blocks the copy lacks are the other ` +
              "sites' too: it catches up on them once added back.)"
            : ""),
      );
      return ["remote", "missing", "exists", "in_use", "would_lose"].includes(e.reason) ? 2 : 1;
    }
    console.error(`Cannot restore ${configPath}: ${(e as Error).message}`);
    return 1;
  } finally {
    pool?.close();
    lock?.release();
  }
}

/** What a restore says of the database it replaced (see {@link RestoreResult}). */
export function replacedLine(result: RestoreResult): string {
  const { replaced, replacedHead: was, replacedLoss: loss, info } = result;
  if (replaced === undefined) return "there was no database to replace";
  const kept = `it is kept as ${replaced}`;
  if (was === undefined) {
    return "replaced a file that could not be read as a site database (or side files left " +
      `without one); ${kept}`;
  }
  if (was.genesisHash === undefined || was.height < 0) {
    return `replaced a database that held no ledger; ${kept}`;
  }
  if (loss !== undefined) return `replaced the database all the same (--force): ${loss}; ${kept}`;
  return `replaced the database at height ${was.height}, head ${was.head.slice(0, 12)}… ` +
    `(the copy holds its blocks` +
    (info.height > was.height ? ` and ${info.height - was.height} more` : "") + `); ${kept}`;
}

if (import.meta.main) Deno.exit(await runRestore(Deno.args));
