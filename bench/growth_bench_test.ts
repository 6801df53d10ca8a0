import assert from "node:assert/strict";
import { growthSections, runGrowthBench } from "./growth_bench.ts";

Deno.test("growth bench: fills a real site chunk by chunk, reads it back with proofs, times its starts and its integrity and replay checks, and reports them", async () => {
  const workDir = await Deno.makeTempDir({ prefix: "edgeledger-growth-bench-" });
  const lines: string[] = [];
  try {
    const r = await runGrowthBench({
      txs: 600,
      chunkTxs: 300,
      restarts: 1,
      signWorkers: 1,
      workDir,
      keep: false,
      log: (l) => lines.push(l),
    });
    assert.equal(r.logSize, 600);
    assert.deepEqual(r.chunks.map((c) => [c.logSizeBefore, c.committed, c.errors]), [
      [0, 300, 0],
      [300, 300, 0],
    ]);
    assert.equal(r.emptyStarts[0].filterIds, 0);
    assert.equal(r.fullStarts[0].filterIds, 600);
    assert.ok(r.fullStarts[0].answeringMs <= r.fullStarts[0].filterFilledMs);
    assert.ok(r.databaseBytes > 600 * 500, `${r.databaseBytes} bytes for 600 transactions`);
    assert.deepEqual(r.reads.map((x) => [x.logSize, x.txs]), [[300, 300], [600, 600]]);
    assert.ok(r.reads.every((x) => x.p50Ms > 0 && x.p50Ms <= x.p99Ms && x.requestsPerSecond > 0));
    assert.ok(r.rssMiB.filled > 10 && r.rssMiB.restarted > 10, JSON.stringify(r.rssMiB));
    // 600 anchors on 600 streams: an anchor row and a stream row each.
    assert.ok(r.checks.stateRows >= 1200, JSON.stringify(r.checks));
    assert.ok(r.checks.integrityMs >= 0 && r.checks.replayMs > 0, JSON.stringify(r.checks));
    const [section] = growthSections(r);
    assert.match(section.markdown, /filled\s*\|\s*600\s*\|/);
    assert.match(section.markdown, /^\| +300 +\| +[\d,]+ \| +[\d.]+ \| +0 \| +[\d,]+ \|$/m);
    assert.match(section.markdown, /^\| 600 +\| +600 \| +[\d.]+ \| +[\d.]+ \| +[\d,]+ \|$/m);
    assert.match(section.markdown, /comparing its [\d,]+ state rows took [\d.]+ s/);
    await assert.rejects(
      Deno.stat(workDir),
      Deno.errors.NotFound,
      "the ledger is removed unless kept",
    );
  } finally {
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
});
