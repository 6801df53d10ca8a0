/**
 * The integrity command: re-verifies a site's whole chain from its database
 * (every signature, block hash link, log root, Merkle node and checkpoint
 * signature) and names the first thing that does not match.
 *
 *     deno task integrity --config data/site-a/site.json
 *     deno task integrity --config data/site-a/site.json --replay [--scratch <dir>]
 *
 * With `--replay` it then re-executes the chain from genesis into a scratch
 * database (under `--scratch`, default the system's temporary folder,
 * removed at the end) and compares each block and every row of contract
 * state with the database's (see `src/site/replay_check.ts`).
 *
 * Safe while the site runs (WAL readers do not block the writer; the replay
 * reads the database as of its start). Exits 0 when the chain verifies, 1 on
 * a mismatch or when the replay cannot run (no room for its scratch
 * database), 2 on bad usage (no config, no database, a `--scratch` folder
 * that does not exist, `--replay` on a database on a libSQL server).
 *
 * @module
 */
import { commandConfig, helpAsked, replayArgs } from "./_cli.ts";
import { checkIntegrity, integrityLines } from "../src/site/integrity.ts";
import { checkByReplay, ReplayCheckError, replayLines } from "../src/site/replay_check.ts";
import { SignaturePool } from "../src/site/signature_pool.ts";
import { ChainStore, filePathOf, openDatabase } from "../src/storage/mod.ts";

const usage = "deno task integrity --config <site.json> [--replay [--scratch <dir>]]";

/** Runs the command; resolves to the exit code. */
export async function runIntegrity(args: readonly string[]): Promise<number> {
  if (helpAsked(args)) {
    console.log(`usage: ${usage}`);
    return 0;
  }
  const input = await commandConfig(args, usage);
  if (input === 2) return 2;
  const { configPath: path, loaded } = input;
  const flags = await replayArgs(args, usage);
  if (flags === 2) return 2;
  const { replay, scratchDir } = flags;
  // Opening a missing file would create an empty database (and report it broken).
  const file = filePathOf(loaded.dbUrl);
  if (file !== undefined && !(await Deno.stat(file).then(() => true, () => false))) {
    console.error(`Cannot check ${path}: no database at ${file}`);
    return 2;
  }
  if (replay && file === undefined) {
    console.error(
      `Cannot replay ${path}: its database is on a libSQL server; --replay reads a local file`,
    );
    return 2;
  }
  const store = new ChainStore(await openDatabase(loaded.dbUrl, loaded.dbAuthToken));
  // Signatures are checked on every core while this thread walks the chain.
  const pool = new SignaturePool();
  try {
    const report = await checkIntegrity(store, loaded.genesis, { verifySignatures: pool.verify });
    for (const line of integrityLines(report)) console.log(line);
    if (!report.ok) return 1;
  } finally {
    pool.close();
    store.close();
  }
  if (!replay) return 0;
  try {
    const report = await checkByReplay({
      dbPath: file!,
      genesis: loaded.genesis,
      ...(scratchDir === undefined ? {} : { scratchDir }),
      progress: (height, head) => console.log(`replayed to block ${height} of ${head}`),
    });
    for (const line of replayLines(report)) console.log(line);
    return report.ok ? 0 : 1;
  } catch (e) {
    if (e instanceof ReplayCheckError) {
      console.error(e.message);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await runIntegrity(Deno.args));
