/**
 * The integrity command: re-verifies a site's whole chain from its database
 * (every signature, block hash link, log root, Merkle node and checkpoint
 * signature) and names the first thing that does not match.
 *
 *     deno task integrity --config data/site-a/site.json
 *
 * Safe while the site runs (WAL readers do not block the writer). Exits 0
 * when the chain verifies, 1 on a mismatch, 2 on bad usage (no config, no
 * database).
 *
 * @module
 */
import { commandConfig } from "./_cli.ts";
import { checkIntegrity, integrityLines } from "../src/site/integrity.ts";
import { ChainStore, filePathOf, openDatabase } from "../src/storage/mod.ts";

if (import.meta.main) {
  const input = await commandConfig(Deno.args, "deno task integrity --config <site.json>");
  if (input === 2) Deno.exit(2);
  const { configPath: path, loaded } = input;
  // Opening a missing file would create an empty database (and report it broken).
  const file = filePathOf(loaded.dbUrl);
  if (file !== undefined && !(await Deno.stat(file).then(() => true, () => false))) {
    console.error(`Cannot check ${path}: no database at ${file}`);
    Deno.exit(2);
  }
  const store = new ChainStore(await openDatabase(loaded.dbUrl, loaded.dbAuthToken));
  try {
    const report = await checkIntegrity(store, loaded.genesis);
    for (const line of integrityLines(report)) console.log(line);
    Deno.exitCode = report.ok ? 0 : 1;
  } finally {
    store.close();
  }
}
