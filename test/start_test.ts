/**
 * `deno task start`, the main job, as a user runs it: real processes on
 * loopback. It starts a cluster that takes a transaction; Ctrl-C stops every
 * site; starting again resumes the same chain; a stop during startup leaves
 * nothing running; a site that dies stops the rest with a failing exit code.
 */
import assert from "node:assert/strict";
import { initLocalLedger } from "../src/site/config.ts";
import { closedPort, spawnWorker, spawnWorkerOnPort, waitFor, waitForOutput } from "./_cluster.ts";

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

/** A test of start in a fresh temp folder, which holds the data folders of its starts. */
function startTest(name: string, fn: (root: string) => Promise<void>): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const root = await Deno.makeTempDir({ prefix: "edgeledger-start-" });
      try {
        await fn(root);
      } finally {
        await Deno.remove(root, { recursive: true }).catch(() => {});
      }
    },
  });
}

/**
 * Starts `task start` with `args` on fresh ports (`--port`) and a fresh data
 * folder under `root` (`--data`), and waits for `ready` in its output; a
 * start whose ports were taken moves to new ones, in a new folder
 * (spawnWorkerOnPort). `args` is then what starts it again on the same ledger.
 */
async function startFresh(root: string, args: string[], ready: string) {
  const data = (port: number) => `${root}/data-${port}`;
  const started = await spawnWorkerOnPort(
    "start.ts",
    (port) => [...args, "--port", String(port), "--data", data(port)],
    ready,
  );
  return { s: started.worker, port: started.port, data: data(started.port), args: started.args };
}

/** Asserts that no site listens on the cluster's three ports any more. */
async function allStopped(port: number): Promise<void> {
  for (let i = 0; i < 3; i++) assert.equal(await listening(port + i), false, `site ${i} stopped`);
}

startTest(
  "start: a 3-site cluster takes a transaction; Ctrl-C stops every site with exit 0; starting again resumes the same chain",
  async (root) => {
    const { s: first, port, data, args } = await startFresh(
      root,
      ["--sites", "3"],
      "edgeledger is running",
    );
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
  "start: a site removed from the cluster is said as such when the cluster starts again, and not waited for to catch up",
  async (root) => {
    const { s: first, port, data, args } = await startFresh(
      root,
      ["--sites", "3"],
      "edgeledger is running",
    );
    const leaderPort = port + ["site-a", "site-b", "site-c"].indexOf((await status(port)).leader);
    const key = (await Deno.readTextFile(`${data}/admin-api-key.txt`)).trim();
    const removed = await fetch(`http://127.0.0.1:${leaderPort}/v1/admin/members/site-c`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(removed.status, 200, await removed.text());
    await waitFor("site-c to learn it was removed", async () => {
      return (await status(port + 2)).removed === true ? true : undefined;
    }, 10_000);
    first.process.kill("SIGINT");
    assert.equal((await first.process.status).code, 0);

    const t0 = performance.now();
    const again = start(args);
    try {
      await waitForOutput(again, "edgeledger is running");
      const tookMs = performance.now() - t0;
      assert.match(again.output(), /note: site-c was removed from the cluster and takes no part/);
      assert.doesNotMatch(again.output(), /site-c is still catching up/);
      assert.match(again.output(), /leader site-[ab],/);
      assert.ok(
        tookMs < 12_000,
        `start took ${tookMs.toFixed(0)} ms (waited for the removed site?)`,
      );
    } finally {
      // Stopped gracefully even when an assertion failed: its sites go with it.
      again.process.kill("SIGTERM");
      assert.equal((await again.process.status).code, 0);
    }
    await allStopped(port);
  },
);

startTest(
  "start: SIGHUP is passed on to every site, which reloads its keys and goes on serving",
  async (root) => {
    const { s, port } = await startFresh(root, ["--sites", "3"], "edgeledger is running");
    assert.match(s.output(), new RegExp(`kill -HUP ${s.process.pid} has every site reload`));
    s.process.kill("SIGHUP");
    await waitForOutput(s, "SIGHUP: asking every site to reload", 5000);
    // Each site logs its reload (its name in the line); none stopped.
    await waitFor("every site's reload", () => {
      const lines = s.output().split("\n").filter((l) => l.includes("access keys unchanged"));
      const names = ["site-a", "site-b", "site-c"].filter((n) => lines.some((l) => l.includes(n)));
      return Promise.resolve(names.length === 3 ? true : undefined);
    }, 10_000);
    for (let i = 0; i < 3; i++) assert.equal((await status(port + i)).role !== undefined, true);
    s.process.kill("SIGTERM");
    assert.equal((await s.process.status).code, 0);
    await allStopped(port);
  },
);

startTest(
  "start: a terminal's Ctrl-C, which reaches start twice (from the terminal and passed on by deno task), stops every site gracefully instead of killing them",
  async (root) => {
    const { s, port } = await startFresh(root, ["--sites", "3"], "edgeledger is running");
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
  async (root) => {
    const { s, port } = await startFresh(root, [], "site site-a");
    s.process.kill("SIGTERM");
    assert.equal((await s.process.status).code, 0);
    await allStopped(port);
  },
);

startTest(
  "start: a site that dies stops the others and start exits 1, naming the site",
  async (root) => {
    const { s, port, data } = await startFresh(root, [], "edgeledger is running");
    const pgrep = await new Deno.Command("pgrep", {
      args: ["-f", `${data}/site-b/site.json`],
      stdout: "piped",
    }).output();
    const pid = Number(new TextDecoder().decode(pgrep.stdout).trim().split("\n")[0]);
    assert.ok(pid > 0, "site-b's pid");
    Deno.kill(pid, "SIGKILL");
    assert.equal((await s.process.status).code, 1);
    // Its last lines may still be on their way through the pipe.
    await s.outputEnded;
    assert.match(s.output(), /site site-b exited with code \d+; stopping the others/);
    await allStopped(port);
  },
);

startTest(
  "start: a data folder that holds a ledger of another number of sites is refused (exit 1), first suggesting --sites N to resume that ledger, then removing the folder for a new one, starting nothing",
  async (root) => {
    const data = `${root}/data`;
    // A 1-site ledger, as `start --sites 1` made it; nothing listens on its port.
    const port = closedPort();
    await initLocalLedger({ dataDir: data, sites: 1, basePort: port, host: "127.0.0.1" });
    const s = start(["--data", data]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      s.process.status,
      new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), 30_000)),
    ]);
    clearTimeout(timer);
    if (status === undefined) {
      s.process.kill("SIGKILL");
      await s.process.status;
      assert.fail(`start did not refuse the folder: ${s.output()}`);
    }
    await s.outputEnded;
    assert.equal(status.code, 1, s.output());
    assert.equal(
      s.output().trim(),
      `Cannot start 3 sites: ${data} holds a ledger of 1 site (${data}/genesis.json). ` +
        "To resume it, run with --sites 1; to start a new ledger of 3 sites instead, " +
        `remove ${data} first (its chain and keys go with it).`,
    );
    assert.equal(await listening(port), false);
  },
);
