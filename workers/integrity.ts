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
import { loadSiteConfig } from "../src/site/config.ts";
import { checkIntegrity, integrityLines } from "../src/site/integrity.ts";
import { ChainStore, filePathOf, openDatabase } from "../src/storage/mod.ts";

if (import.meta.main) {
  const i = Deno.args.indexOf("--config");
  const path = i >= 0 ? Deno.args[i + 1] : undefined;
  if (!path) {
    console.error("usage: deno task integrity --config <site.json>");
    Deno.exit(2);
  }
  let loaded: Awaited<ReturnType<typeof loadSiteConfig>>;
  try {
    loaded = await loadSiteConfig(path);
  } catch (e) {
    console.error(`Cannot read the site config ${path}: ${(e as Error).message}`);
    Deno.exit(2);
  }
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
