/**
 * `deno task demo` end to end: the whole day on its own fresh cluster, and
 * on a running cluster (`--url`) with some kinds missing from the build and
 * then a second day on the same ledger.
 *
 * @module
 */
import assert from "node:assert/strict";
import { KIND_BODIES } from "../sdk/mod.ts";
import { runDemo, type UseCaseResult } from "../workers/demo.ts";
import { startDemoCluster } from "../workers/demo/cluster.ts";
import { basePort } from "./_cluster.ts";
import { loadSiteConfig } from "../src/site/config.ts";
import { checkByReplay } from "../src/site/replay_check.ts";
import { filePathOf } from "../src/storage/db.ts";

/** The use cases of the day, in order. */
const USE_CASES = [
  "governance",
  "identity",
  "telemetry",
  "custody",
  "quarantine",
  "payments",
  "access",
  "roaming",
];

function failed(useCases: UseCaseResult[]): string {
  return useCases.filter((u) => u.status === "failed").map((u) => `${u.id}: ${u.detail}`)
    .join("; ");
}

Deno.test({
  name: "demo: a day on its own cluster runs every use case and the light client verifies",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const lines: string[] = [];
    const t0 = Date.now();
    const summary = await runDemo({ print: (l) => lines.push(l) });
    const elapsedMs = Date.now() - t0;
    assert.ok(summary.ok, `demo failed: ${failed(summary.useCases)}\n${lines.join("\n")}`);
    assert.deepEqual(summary.useCases.map((u) => u.id), USE_CASES);
    // Every kind is in this build, so nothing may be skipped.
    for (const u of summary.useCases) assert.equal(u.status, "ok", `${u.id}: ${u.detail}`);
    assert.equal(summary.verdict?.ok, true, summary.verdict?.message);
    assert.ok(summary.txs >= 300, `only ${summary.txs} transactions`);
    assert.ok(elapsedMs < 90_000, `the demo took ${elapsedMs} ms`);
    assert.ok(lines.some((l) => /\/#\/tx\/[0-9a-f]{64}$/.test(l)), "no explorer link printed");
    assert.ok(lines.some((l) => /\/v1\/txs\/[0-9a-f]{64}$/.test(l)), "no API link printed");
    assert.ok(lines.some((l) => l.includes("cluster stopped")), "the cluster was not stopped");
  },
});

Deno.test({
  name:
    "demo: --url skips use cases whose kinds the build lacks, a rerun on the same ledger succeeds — its roaming period before the first run's, its light client following two sites' key rotations from genesis's keys — and every site's state is what re-executing its chain gives",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cluster = await startDemoCluster({ sites: 3 });
    try {
      const lines: string[] = [];
      const without = new Set(["custody.handoff", "access.revoke"]);
      const partial = await runDemo({
        url: cluster.urls[0],
        dataDir: cluster.dataDir,
        devices: 80,
        print: (l) => lines.push(l),
        kinds: Object.keys(KIND_BODIES).filter((k) => !without.has(k)),
      });
      const byId = new Map(partial.useCases.map((u) => [u.id, u]));
      assert.equal(byId.get("custody")?.status, "skipped");
      assert.equal(byId.get("access")?.status, "skipped");
      assert.equal(byId.get("roaming")?.status, "ok", byId.get("roaming")?.detail);
      assert.ok(lines.includes("    skipped: custody.handoff not available in this build"));
      assert.ok(lines.includes("    skipped: access.revoke not available in this build"));
      assert.ok(partial.ok, `demo failed: ${failed(partial.useCases)}\n${lines.join("\n")}`);

      // Two of the three sites rotate their keys: the light client, trusting
      // genesis's keys, follows their rotations (two genesis keys alone no
      // longer reach the quorum of new checkpoints).
      const adminApiKey = (await Deno.readTextFile(`${cluster.dataDir}/admin-api-key.txt`)).trim();
      const rotatedKeys: string[] = [];
      for (const url of cluster.urls.slice(0, 2)) {
        const res = await fetch(`${url}/v1/admin/site-key`, {
          method: "POST",
          headers: { authorization: `Bearer ${adminApiKey}` },
        });
        const body = await res.json();
        assert.equal(res.status, 200, JSON.stringify(body));
        rotatedKeys.push(body.site);
      }
      assert.deepEqual(rotatedKeys, ["site-a", "site-b"]);

      // Same ledger again: the second carrier exists, and the demo acts for it with its kept keys;
      // it settles the hour before the roaming period the first run settled (they may not overlap).
      const again: string[] = [];
      const rerun = await runDemo({
        url: cluster.urls[0],
        dataDir: cluster.dataDir,
        devices: 80,
        print: (l) => again.push(l),
      });
      assert.ok(rerun.ok, `rerun failed: ${failed(rerun.useCases)}\n${again.join("\n")}`);
      for (const u of rerun.useCases) assert.equal(u.status, "ok", `${u.id}: ${u.detail}`);
      assert.equal(rerun.verdict?.ok, true, rerun.verdict?.message);
      const periods = [lines, again].map((l) => l.find((x) => /roaming\.open \S+ \[/.test(x)));
      const [first, second] = periods.map((l) => l?.match(/\[(\S+), (\S+)\)/)?.slice(1));
      assert.ok(first && second, periods.join("\n"));
      assert.equal(second[1], first[0], "the rerun's period ends where the first run's begins");
      for (const name of rotatedKeys) {
        assert.ok(
          again.some((l) =>
            l.includes(`followed ${name}'s key rotations`) &&
            /its old key still counts for checkpoints up to block \d+/.test(l)
          ),
          `${name}'s rotation not followed:\n${again.join("\n")}`,
        );
      }

      // Every kind's state, on every site, is what re-executing the chain gives.
      for (const name of ["site-a", "site-b", "site-c"]) {
        const { genesis, dbUrl } = await loadSiteConfig(`${cluster.dataDir}/${name}/site.json`);
        const report = await checkByReplay({ dbPath: filePathOf(dbUrl)!, genesis });
        assert.equal(report.ok, true, `${name}: ${report.firstMismatch}`);
        assert.ok(report.txsReplayed >= 300, `${name}: ${report.txsReplayed} transactions`);
      }
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test({
  name:
    "demo cluster: a drawn port another process holds makes it start again on new ports, in a new folder; a given one is refused as taken",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Hold a port, and draw it first: the first try's site-a finds it taken.
    const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const taken = (held.addr as Deno.NetAddr).port;
    try {
      const draws = [taken, basePort()];
      const cluster = await startDemoCluster({ sites: 1, drawPort: () => draws.shift()! });
      try {
        assert.equal(draws.length, 0, "it did not draw again");
        assert.notEqual(new URL(cluster.urls[0]).port, String(taken));
        const status = await (await fetch(`${cluster.urls[0]}/v1/status`)).json();
        assert.equal(status.site, "site-a");
      } finally {
        await cluster.stop();
      }
      await assert.rejects(
        startDemoCluster({ sites: 1, basePort: taken }),
        /Address already in use/,
      );
    } finally {
      held.close();
    }
  },
});
