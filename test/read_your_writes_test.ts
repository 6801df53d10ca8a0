/**
 * Read your own writes across real sites (`minHeight`): a write acknowledged
 * at one site is read back at another with the receipt's height, and the
 * read never misses it — first at a follower whose links are slowed (so it
 * is hundreds of milliseconds behind, and a plain `stale` read there misses
 * the write), then while the followers are killed and restarted in turn and
 * clients write and read at random sites. `RYW_SECONDS` runs the second part
 * longer (default 6), `RYW_SEED` replays its schedule.
 */

import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { anchorTx, envInt } from "./_helpers.ts";
import { leaderIndex, startCluster, submitCommit, type TestCluster } from "./_cluster.ts";
import { isolation } from "./_partition.ts";
import { mulberry32 } from "../src/prng.ts";

/** A stale read of `txId` at `url`, with `minHeight` when given: its status (0: no answer). */
async function readTx(url: string, txId: string, minHeight?: number): Promise<number> {
  const query = minHeight === undefined ? "" : `?minHeight=${minHeight}`;
  try {
    const res = await fetch(`${url}/v1/txs/${txId}${query}`, { signal: AbortSignal.timeout(8000) });
    const body = await res.json();
    if (res.status === 200) assert.equal(body.receipt.status, "committed", JSON.stringify(body));
    return res.status;
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return 0;
  }
}

Deno.test({
  name:
    "read your writes: a read with the receipt's height as minHeight, at any other site, finds the write — at a follower far behind, and while followers are killed and restarted",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const seed = envInt("RYW_SEED") ?? Date.now() % 1_000_000;
    const seconds = envInt("RYW_SECONDS") ?? 6;
    const repro = `RYW_SEED=${seed} RYW_SECONDS=${seconds} npx -y deno@2.9.6 test -A ` +
      "test/read_your_writes_test.ts";
    const cluster: TestCluster = await startCluster(3, {}, [], { partitions: { seed } });
    try {
      const key = generateKeyPair("ed25519");
      const { index: leader } = await leaderIndex(cluster);
      const behind = (leader + 1) % 3;
      const writer = cluster.sites[(leader + 2) % 3];

      await t.step(
        "at a follower whose links are slowed, a plain stale read misses writes a minHeight read finds",
        async () => {
          await cluster.links!.slow(isolation(3, behind), 250);
          let missedPlain = 0;
          for (let i = 0; i < 10; i++) {
            const w = await submitCommit(writer.url, await anchorTx(key));
            assert.equal(w.status, 200, JSON.stringify(w.body));
            const { txId, height } = w.body;
            // The control: without minHeight the follower 250 ms behind does not have it yet.
            if (await readTx(cluster.sites[behind].url, txId) === 404) missedPlain++;
            assert.equal(await readTx(cluster.sites[behind].url, txId, height), 200, txId);
          }
          assert.ok(
            missedPlain > 0,
            "the slowed follower was never behind: the test shows nothing",
          );
          await cluster.links!.heal();
        },
      );

      await t.step(
        `while followers are killed and restarted, every read with minHeight finds its write (${repro})`,
        async () => {
          const random = mulberry32(seed);
          const stopAt = Date.now() + seconds * 1000;
          const counts = { writes: 0, found: 0, unanswered: 0, refused: 0, restarts: 0 };
          const nemesis = (async () => {
            while (Date.now() < stopAt) {
              await new Promise((r) => setTimeout(r, 800 + random() * 700));
              const st = cluster.sites.map((s) => s.alive);
              const { index: l } = await leaderIndex(cluster);
              const victim = [0, 1, 2].find((i) => i !== l && st[i] && random() < 0.5) ??
                [0, 1, 2].find((i) => i !== l && st[i]);
              if (victim === undefined) continue;
              await cluster.kill(victim);
              await new Promise((r) => setTimeout(r, 300 + random() * 400));
              await cluster.start(victim);
              counts.restarts++;
            }
          })();
          const clients = Array.from({ length: 3 }, async (_, c) => {
            const pick = () => cluster.sites.filter((s) => s.alive);
            while (Date.now() < stopAt) {
              const live = pick();
              if (live.length < 2) {
                await new Promise((r) => setTimeout(r, 50));
                continue;
              }
              const at = live[Math.floor(random() * live.length)];
              const w = await submitCommit(
                at.url,
                await anchorTx(key, { stream: `ryw-${c}-${seed}` }),
              );
              if (w.status !== 200 || w.body?.status !== "committed") continue;
              counts.writes++;
              const others = pick().filter((s) => s !== at);
              if (others.length === 0) continue;
              const there = others[Math.floor(random() * others.length)];
              const status = await readTx(there.url, w.body.txId, w.body.height);
              // A read refused (503: killed mid-wait, stopping) or unanswered has no effect;
              // one answered must find the write.
              if (status === 200) counts.found++;
              else if (status === 0) counts.unanswered++;
              else if (status === 503) counts.refused++;
              else {
                assert.fail(
                  `${there.name} answered ${status} for ${w.body.txId} at minHeight ` +
                    `${w.body.height}, acknowledged by ${at.name} (${repro})`,
                );
              }
            }
          });
          await Promise.all([nemesis, ...clients]);
          console.log(
            `  ${counts.writes} writes acknowledged, ${counts.found} read back at another site, ` +
              `${counts.unanswered} reads unanswered (the site killed) and ${counts.refused} refused ` +
              `(503), ${counts.restarts} restarts (${repro})`,
          );
          assert.ok(counts.found > 0, "no write was read back");
          assert.ok(counts.restarts > 0, "no follower was restarted");
        },
      );
    } finally {
      await cluster.stop();
    }
  },
});
