/**
 * The disaster-recovery command: makes a stopped site that survived the
 * loss of a majority of its cluster's voters the only voter, keeping its
 * ledger (see `src/site/force_new_cluster.ts`; etcd's
 * `--force-new-cluster`).
 *
 *     deno task force-new-cluster --config data/site-a/site.json          # says what it would do
 *     deno task force-new-cluster --config data/site-a/site.json --yes    # does it
 *
 * Refuses while the site runs (its port is taken, or its database is held
 * open), and while any other voter answers `GET /v1/status` for this ledger
 * at its URL: a voter that is up would carry on the old cluster beside the
 * new one, and the ledger would fork. Without `--yes` it changes nothing
 * and prints what it would do, so the survivors can be compared (force the
 * one with the highest commit index, then the longest log).
 *
 * Exits 0 once done (or when the site already is the only voter); 1 when
 * the site cannot be the one (another ledger's database, a removed site, a
 * learner, a snapshot install cut short) or the write failed; 2 on bad
 * usage, a running site or voter, a database on a libSQL server, or no
 * `--yes`.
 *
 * @module
 */
import { commandConfig, helpAsked } from "./_cli.ts";
import {
  forceNewCluster,
  ForceNewClusterError,
  planForceNewCluster,
} from "../src/site/force_new_cluster.ts";
import { type LoadedSiteFiles, memberUrls } from "../src/site/config.ts";
import { fetchVia, trustingClient } from "../src/site/tls.ts";
import { filePathOf, openDatabase } from "../src/storage/db.ts";
import { databaseInUse, exists } from "../src/storage/backup.ts";
import { portInUse } from "../src/site/backup.ts";
import { ChainStore } from "../src/storage/chain_store.ts";

const usage = "deno task force-new-cluster --config <site.json> [--yes]";

/** Longest one voter may take to answer `GET /v1/status`, ms. */
const statusAnswerMsMax = 3000;

/**
 * The voters among `names` that answer `GET /v1/status` for `loaded`'s
 * ledger at the URL the site's directory (or genesis and its config's
 * `peers`) gives them, or its config's `peerUrls` entry for them.
 */
export async function votersUp(
  loaded: LoadedSiteFiles,
  directory: ReadonlyArray<{ name: string; url: string }>,
  names: readonly string[],
): Promise<string[]> {
  const urls = memberUrls(loaded, [directory]);
  const client = trustingClient(loaded.caCerts);
  const get = fetchVia(client);
  try {
    const up = await Promise.all(names.map(async (name) => {
      const url = urls.get(name);
      if (url === undefined) return false;
      try {
        const res = await get(`${url}/v1/status`, {
          signal: AbortSignal.timeout(statusAnswerMsMax),
        });
        if (!res.ok) {
          await res.body?.cancel();
          return false;
        }
        const body = await res.json() as { ledger?: unknown };
        return body.ledger === loaded.genesis.ledger;
      } catch {
        return false;
      }
    }));
    return names.filter((_, i) => up[i]);
  } finally {
    client?.close();
  }
}

/** Runs the command; resolves to the exit code. */
export async function runForceNewCluster(args: readonly string[]): Promise<number> {
  if (helpAsked(args)) {
    console.log(`usage: ${usage}`);
    return 0;
  }
  const input = await commandConfig(args, usage);
  if (input === 2) return 2;
  const { loaded } = input;
  const name = loaded.config.name;
  const yes = args.includes("--yes");
  if (filePathOf(loaded.dbUrl) === undefined) {
    console.error(
      `Cannot force a new cluster on ${name}: its database is on a libSQL server, and this ` +
        "command edits a stopped site's own database file only. Nothing was changed.",
    );
    return 2;
  }
  const path = filePathOf(loaded.dbUrl)!;
  if (portInUse(loaded.config.host, loaded.config.port)) {
    console.error(
      `Cannot force a new cluster on ${name}: something listens on ` +
        `${loaded.config.host}:${loaded.config.port} (is the site running? stop it first). ` +
        "Nothing was changed.",
    );
    return 2;
  }
  if (!(await exists(path))) {
    console.error(`Cannot force a new cluster on ${name}: ${path} does not exist`);
    return 1;
  }
  if (databaseInUse(path)) {
    console.error(
      `Cannot force a new cluster on ${name}: its database ${path} is in use (is the site ` +
        "running? stop it first). Nothing was changed.",
    );
    return 2;
  }
  const database = await openDatabase(loaded.dbUrl);
  try {
    const plan = await planForceNewCluster(database, name, loaded.genesis);
    const { voters, learners } = plan.confState;
    console.log(
      `${name}: voters ${voters.join(", ")}${
        learners.length > 0 ? `; learners ${learners.join(", ")}` : ""
      }; Raft log to index ${plan.lastIndex} (term ${plan.lastTerm}), committed to ` +
        `${plan.commit}; ledger height ${plan.height}, head ${plan.head.slice(0, 16)}…`,
    );
    if (plan.removes.length === 0) {
      console.log(`${name} already is the only voter: nothing to do`);
      return 0;
    }
    const directory = JSON.parse(
      await new ChainStore(database).getMeta("directory") ?? "[]",
    ) as Array<{ name: string; url: string }>;
    const up = await votersUp(loaded, directory, plan.removes);
    if (up.length > 0) {
      console.error(
        `Cannot force a new cluster on ${name}: ${up.join(", ")} ${
          up.length === 1 ? "answers" : "answer"
        } at ${up.length === 1 ? "its" : "their"} URL. A voter that is up would carry on the ` +
          "old cluster beside the new one and fork the ledger: if a majority is up, change " +
          "the membership through the leader instead; otherwise stop every surviving site, " +
          "force the one with the highest commit index, and add the others back as new " +
          "members. Nothing was changed.",
      );
      return 2;
    }
    const what = `remove ${plan.removes.join(", ")} (in term ${plan.term}), leaving ${name} ` +
      "the only voter" +
      (plan.uncommitted > 0
        ? `, and commit the ${plan.uncommitted} entr${
          plan.uncommitted === 1 ? "y" : "ies"
        } after index ${plan.commit} that its log holds`
        : "");
    if (!yes) {
      console.error(
        `Would ${what}. None of ${plan.removes.join(", ")} answered; make sure each is down ` +
          "for good (a lost site started again on its data must not reach another lost one), " +
          `and that no verifier holds a checkpoint above height ${plan.height} (blocks the ` +
          "lost sites committed beyond this log would be lost, and such a checkpoint would " +
          "show a fork), then run again with --yes. Nothing was changed.",
      );
      return 2;
    }
    // Again at the last moment: asking the other voters took seconds, and a
    // site started meanwhile would run on a log this command then rewrites.
    // Its port, and its Raft state (a site that started writes its term and
    // vote when it campaigns), must not have changed. (The database cannot
    // be asked again: this command's own connection holds it until its
    // statements are collected.)
    const again = await planForceNewCluster(database, name, loaded.genesis);
    if (
      portInUse(loaded.config.host, loaded.config.port) ||
      JSON.stringify(again) !== JSON.stringify(plan)
    ) {
      console.error(
        `Cannot force a new cluster on ${name}: the site started while this command ran (its ` +
          "port is in use, or its Raft state changed). Stop it and run again. Nothing was changed.",
      );
      return 2;
    }
    await forceNewCluster(database, plan);
    console.log(`done: ${what}`);
    console.log(
      `next: start ${name}; it elects itself and takes writes, its checkpoints signed by it ` +
        "alone. Add new sites as learners (POST /v1/admin/members) and promote them once " +
        "caught up; verifiers then need a trust file for the new members (cli trust init).",
    );
    return 0;
  } catch (e) {
    if (e instanceof ForceNewClusterError) {
      console.error(`Cannot force a new cluster on ${name}: ${e.message}. Nothing was changed.`);
      return 1;
    }
    console.error(`Cannot force a new cluster on ${name}: ${(e as Error).message}`);
    return 1;
  } finally {
    database.close();
  }
}

if (import.meta.main) Deno.exit(await runForceNewCluster(Deno.args));
