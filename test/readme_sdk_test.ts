/**
 * The README's SDK tour ("Using the SDK") runs as it stands against a real
 * 3-site cluster: the code block is taken from README.md, only the sites'
 * URLs, the genesis file's path and the SDK's import are pointed at this
 * test's cluster, and its output is checked line by line.
 */
import assert from "node:assert/strict";
import { startCluster } from "./_cluster.ts";

const root = new URL("..", import.meta.url);

/** The first ```ts block of README.md's "Using the SDK" section. */
async function sdkTour(): Promise<string> {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const section = readme.slice(readme.indexOf("\n## Using the SDK\n"));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(block !== null, "README.md has no ts block under 'Using the SDK'");
  return block[1];
}

Deno.test({
  name:
    "readme: the SDK tour runs as written against a 3-site cluster — commit, light-client proof right after the commit, the block event, the anchor read back, a reading proven",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tour = await sdkTour();
    for (
      const needle of ['"http://127.0.0.1:7001"', '"http://127.0.0.1:7002"', '"data/genesis.json"']
    ) {
      assert.ok(tour.includes(needle), `the tour no longer mentions ${needle}`);
    }
    const cluster = await startCluster(3);
    const dir = await Deno.makeTempDir({ prefix: "readme-tour-" });
    try {
      const script = tour
        .replace('"http://127.0.0.1:7001"', JSON.stringify(cluster.sites[0].url))
        .replace('"http://127.0.0.1:7002"', JSON.stringify(cluster.sites[1].url))
        .replace('"data/genesis.json"', JSON.stringify(`${cluster.dir}/genesis.json`))
        .replace('from "./sdk/mod.ts"', `from ${JSON.stringify(new URL("sdk/mod.ts", root).href)}`);
      await Deno.writeTextFile(`${dir}/tour.ts`, script);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--config", new URL("deno.json", root).pathname, `${dir}/tour.ts`],
        cwd: root.pathname,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      const stdout = dec.decode(out.stdout);
      assert.equal(out.code, 0, stdout + dec.decode(out.stderr));
      const lines = stdout.trimEnd().split("\n");
      assert.equal(lines.length, 5, stdout);
      const [height, status] = lines[0].split(" ");
      assert.equal(status, "applied", lines[0]);
      // The light client's verdict: proven against a checkpoint a quorum signed.
      assert.match(lines[1], /^Transaction [0-9a-f]{64} is in ledger edgeledger\.local\/demo/);
      assert.match(lines[1], /signed by 2 trusted site\(s\)|signed by 3 trusted site\(s\)/);
      // The event of the block the anchor is in, then the anchor read back.
      assert.equal(lines[2], height);
      assert.match(lines[3], /^1 [0-9a-f]{64}$/);
      assert.equal(lines[4], "true");
    } finally {
      await cluster.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
