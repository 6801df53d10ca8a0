import assert from "node:assert/strict";
import { initLocalLedger } from "../src/site/config.ts";
import { closedPort } from "../test/_cluster.ts";
import { runForceNewCluster } from "./force_new_cluster.ts";

/**
 * Writes block 0 of `config`'s site in another process: a site closed in
 * this one leaves its connections to the garbage collector, which holds the
 * database's lock a while longer (its prepared statements), and the command
 * would rightly call the database in use.
 */
async function writeBlockZeroApart(config: string): Promise<void> {
  const helpers = new URL("../test/_helpers.ts", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { writeBlockZero } from ${JSON.stringify(helpers)};` +
      `await writeBlockZero(${JSON.stringify(config)});`,
    ],
    cwd: new URL("..", import.meta.url).pathname,
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

/** Runs the command, capturing what it prints. */
async function run(args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    return { code: await runForceNewCluster(args), text: lines.join("\n") };
  } finally {
    Object.assign(console, { log, error });
  }
}

Deno.test("force-new-cluster command: no --config is usage (exit 2); a database on a libSQL server is refused (exit 2), a missing database file exit 1; a lone site already is the only voter (exit 0), with nothing written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-force-" });
  try {
    const [config] = await initLocalLedger({
      dataDir: dir,
      sites: 1,
      basePort: closedPort(),
      host: "127.0.0.1",
    });
    const usage = await run([]);
    assert.equal(usage.code, 2);
    assert.match(usage.text, /usage: deno task force-new-cluster --config <site\.json> \[--yes\]/);

    const missing = await run(["--config", config, "--yes"]);
    assert.equal(missing.code, 1, missing.text);
    assert.match(missing.text, /Cannot force a new cluster on site-a: .*ledger\.db does not exist/);

    await writeBlockZeroApart(config);
    const alone = await run(["--config", config, "--yes"]);
    assert.equal(alone.code, 0, alone.text);
    assert.match(
      alone.text,
      /site-a: voters site-a; Raft log to index 0 \(term 0\), committed to 0/,
    );
    assert.match(alone.text, /site-a already is the only voter: nothing to do/);

    const remote = JSON.parse(await Deno.readTextFile(config));
    await Deno.writeTextFile(config, JSON.stringify({ ...remote, db: "http://127.0.0.1:1" }));
    const onServer = await run(["--config", config, "--yes"]);
    assert.equal(onServer.code, 2, onServer.text);
    assert.match(
      onServer.text,
      /its database is on a libSQL server, and this command edits a stopped site's own database file only/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
