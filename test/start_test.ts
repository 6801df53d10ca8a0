/**
 * `deno task start`, the main job, as a user runs it: real processes on
 * loopback. It starts a cluster that takes a transaction; Ctrl-C stops every
 * site; starting again resumes the same chain; a stop during startup leaves
 * nothing running; a site that dies stops the rest with a failing exit code.
 */
import assert from "node:assert/strict";
import { basePort, spawnWorker, waitForOutput } from "./_cluster.ts";

const start = (args: string[]) => spawnWorker("start.ts", args);

/** Whether anything still listens on the port (a site left running). */
async function listening(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

async function status(port: number) {
  return await (await fetch(`http://127.0.0.1:${port}/v1/status`)).json();
}

/** A test of start in a fresh data folder on fresh ports. */
function startTest(name: string, fn: (data: string, port: number) => Promise<void>): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const data = await Deno.makeTempDir({ prefix: "edgeledger-start-" });
      try {
        await fn(data, basePort());
      } finally {
        await Deno.remove(data, { recursive: true }).catch(() => {});
      }
    },
  });
}

/** Asserts that no site listens on the cluster's three ports any more. */
async function allStopped(port: number): Promise<void> {
  for (let i = 0; i < 3; i++) assert.equal(await listening(port + i), false, `site ${i} stopped`);
}

startTest(
  "start: a 3-site cluster takes a transaction; Ctrl-C stops every site with exit 0; starting again resumes the same chain",
  async (data, port) => {
    const args = ["--sites", "3", "--port", String(port), "--data", data];
    const first = start(args);
    await waitForOutput(first, "edgeledger is running");
    for (let i = 0; i < 3; i++) {
      assert.match(first.output(), new RegExp(`site site-\\w http://127\\.0\\.0\\.1:${port + i}`));
    }
    const res = await fetch(`http://127.0.0.1:${port + 1}/v1/txs?wait=commit`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: await Deno.readTextFile(`${data}/example-tx.json`),
    });
    assert.equal((await res.json()).status, "committed");
    const head = (await status(port)).head;
    first.process.kill("SIGINT");
    assert.equal((await first.process.status).code, 0);
    await allStopped(port);

    const again = start(args);
    await waitForOutput(again, "edgeledger is running");
    const s = await status(port + 2);
    assert.equal(s.height, 1);
    assert.equal(s.head, head);
    again.process.kill("SIGTERM");
    assert.equal((await again.process.status).code, 0);
  },
);

startTest(
  "start: a terminal's Ctrl-C, which reaches start twice (from the terminal and passed on by deno task), stops every site gracefully instead of killing them",
  async (data, port) => {
    const s = start(["--sites", "3", "--port", String(port), "--data", data]);
    await waitForOutput(s, "edgeledger is running");
    s.process.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 5));
    s.process.kill("SIGINT");
    assert.equal((await s.process.status).code, 0);
    // Each site says it stopped (its last line): a killed one says nothing.
    for (const name of ["site-a", "site-b", "site-c"]) {
      await waitForOutput(s, `${name} stopped`, 5000);
    }
    await allStopped(port);
  },
);

startTest(
  "start: a stop while the sites are starting leaves no site running",
  async (data, port) => {
    const s = start(["--port", String(port), "--data", data]);
    await waitForOutput(s, "site site-a");
    s.process.kill("SIGTERM");
    assert.equal((await s.process.status).code, 0);
    await allStopped(port);
  },
);

startTest(
  "start: a site that dies stops the others and start exits 1, naming the site",
  async (data, port) => {
    const s = start(["--port", String(port), "--data", data]);
    await waitForOutput(s, "edgeledger is running");
    const pgrep = await new Deno.Command("pgrep", {
      args: ["-f", `${data}/site-b/site.json`],
      stdout: "piped",
    }).output();
    const pid = Number(new TextDecoder().decode(pgrep.stdout).trim().split("\n")[0]);
    assert.ok(pid > 0, "site-b's pid");
    Deno.kill(pid, "SIGKILL");
    assert.equal((await s.process.status).code, 1);
    assert.match(s.output(), /site site-b exited with code \d+; stopping the others/);
    await allStopped(port);
  },
);
