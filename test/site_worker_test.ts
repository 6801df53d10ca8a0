/**
 * `workers/site.ts`'s `startSite`: a start that fails part-way closes what
 * it had opened. In this process, Deno's test sanitizers catch a timer, an
 * op or a resource left behind; they do not see threads (the storage and
 * admission workers), so those cases start the site in a process of its own,
 * which ends by itself only when nothing is left running.
 */
import assert from "node:assert/strict";
import { startSite } from "../workers/site.ts";
import { basePort, startOnFreePort } from "./_cluster.ts";
import { writeBlockZero } from "./_helpers.ts";
import { initLocalLedger } from "../src/site/config.ts";
import { openDatabase } from "../src/storage/db.ts";
import { RULES_KEY, RULES_NS } from "../src/contracts/rules.ts";

const startScript = new URL("./testdata/start_site.ts", import.meta.url).pathname;

/** Longest a process that started a site, or failed to, may take to end by itself, ms. */
const processEndMs = 20_000;

/**
 * A two-site ledger in a temp folder, its sites on `port` and up; site-a's
 * config with `overrides` (default: its database in a storage worker and one
 * admission worker, so that a thread left running keeps a process alive).
 * The starts here fail before they listen, so any port does, save for a test
 * that holds site-a's port itself.
 */
async function siteAConfig(overrides: Record<string, unknown> = {}, port = basePort()) {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-start-" });
  const [path] = await initLocalLedger({
    dataDir: dir,
    sites: 2,
    basePort: port,
    host: "127.0.0.1",
  });
  const config = JSON.parse(await Deno.readTextFile(path));
  await Deno.writeTextFile(
    path,
    JSON.stringify({ ...config, storage: "worker", admissionWorkers: 1, ...overrides }),
  );
  const genesis = JSON.parse(await Deno.readTextFile(`${dir}/genesis.json`));
  const siteB: { name: string; url: string } = genesis.sites[1];
  return { dir, path, port, siteB };
}

/**
 * Runs `test/testdata/start_site.ts` on `path`: what it printed, or
 * `undefined` when it had not ended by itself after {@link processEndMs}
 * (it is killed then).
 */
async function startInOwnProcess(path: string): Promise<string | undefined> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", startScript, path],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ended = await Promise.race([
    output,
    new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), processEndMs)),
  ]);
  clearTimeout(timer);
  if (ended !== undefined) return new TextDecoder().decode(ended.stdout).trim();
  child.kill("SIGKILL");
  await output;
  return undefined;
}

Deno.test({
  name:
    "startSite: a start that fails once the Raft host runs (its port is in use) stops the host and closes the site, leaving no timer, op or resource, and throws why; the database opens again",
  // Off by default in this Deno: on here, they are the test.
  sanitizeOps: true,
  sanitizeResources: true,
  fn: async () => {
    // This test takes site-a's port; one another test holds already is traded for a new one.
    const { dir, path, taken } = await startOnFreePort(async (port) => {
      const taken = Deno.listen({ hostname: "127.0.0.1", port });
      try {
        return { ...await siteAConfig({ storage: "inline", admissionWorkers: 0 }, port), taken };
      } catch (e) {
        taken.close();
        throw e;
      }
    });
    try {
      try {
        await assert.rejects(() => startSite(path), Deno.errors.AddrInUse);
      } finally {
        taken.close();
      }
      await writeBlockZero(path);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("startSite: a start that fails after the site opened (a config peer is a genesis site) closes the site, its database and threads: the process ends by itself", async () => {
  const { dir, path, siteB } = await siteAConfig();
  const config = JSON.parse(await Deno.readTextFile(path));
  config.peers = [{ name: siteB.name, url: siteB.url, publicKey: "A".repeat(43) }];
  await Deno.writeTextFile(path, JSON.stringify(config));
  try {
    const printed = await startInOwnProcess(path);
    assert.notEqual(printed, undefined, "the process did not end by itself");
    assert.match(printed!, /^failed: Cannot use peer site-b: /);
    await writeBlockZero(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startSite: a database its storage worker cannot open leaves no thread behind: the process ends by itself", async () => {
  // A folder where a file is: the worker cannot create the database.
  const { dir, path } = await siteAConfig({ db: "file:site.json/ledger.db" });
  try {
    const printed = await startInOwnProcess(path);
    assert.notEqual(printed, undefined, "the process did not end by itself");
    assert.match(printed!, /^failed: .*mkdir .*site\.json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startSite: a site that fails to open after its admission workers started (its stored rules are garbled) stops them: the process ends by itself", async () => {
  const { dir, path } = await siteAConfig({ storage: "inline" });
  try {
    await writeBlockZero(path);
    // The ledger's rules record is read after the workers start.
    const db = await openDatabase(`file:${dir}/site-a/ledger.db`);
    await db.client.execute({
      sql: "INSERT OR REPLACE INTO state (ns, key, value) VALUES (?, ?, ?)",
      args: [RULES_NS, RULES_KEY, "{garbled"],
    });
    db.client.close();
    const printed = await startInOwnProcess(path);
    assert.notEqual(printed, undefined, "the process did not end by itself");
    assert.match(printed!, /^failed: .*JSON/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
