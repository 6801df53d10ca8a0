/**
 * Runs the seeded Raft simulator over many seeds.
 *
 *   SIM_SEEDS=5000 npx -y deno@2.9.6 test -A test/raft_sim_test.ts   (a long sweep)
 *   SIM_SEED=1234  npx -y deno@2.9.6 test -A test/raft_sim_test.ts   (replay one seed)
 *   SIM_SEED_BASE=100000 shifts the first seed of a sweep.
 *   SIM_TICKS=3000 lengthens the faulty phase of each seed (default 500).
 *   SIM_HOSTILE=1 runs every seed hostile: 5 voters, one entry per message, more
 *     partitions and crashes, leaders crashed on purpose.
 *   SIM_STACK=1 adds the stack trace of the failing check to the report.
 */

import assert from "node:assert/strict";
import { runSimulation, type SimResult } from "./raft_sim.ts";
import { envInt } from "./_helpers.ts";

const seedsDefault = 500;

const hostile = Deno.env.get("SIM_HOSTILE") === "1";

function repro(seed: number): string {
  const ticks = envInt("SIM_TICKS") === undefined ? "" : `SIM_TICKS=${envInt("SIM_TICKS")} `;
  const mode = hostile ? "SIM_HOSTILE=1 " : "";
  return `seed=${seed}\nrepro: ${mode}${ticks}SIM_SEED=${seed} npx -y deno@2.9.6 test -A test/raft_sim_test.ts`;
}

Deno.test("raft sim: safety after every step and liveness after healing, over many seeds", () => {
  const one = envInt("SIM_SEED");
  const base = envInt("SIM_SEED_BASE") ?? 1;
  const seeds = one !== undefined ? [one] : Array.from(
    { length: envInt("SIM_SEEDS") ?? seedsDefault },
    (_, k) => base + k,
  );
  const failures: SimResult[] = [];
  let crashes = 0, confChanges = 0, snapshots = 0, reads = 0, acked = 0, maxTerm = 0;
  for (const seed of seeds) {
    const r = runSimulation({ seed, safetyTicks: envInt("SIM_TICKS"), hostile });
    crashes += r.stats.crashes;
    confChanges += r.stats.confChanges;
    snapshots += r.stats.snapshotsSent;
    reads += r.stats.reads;
    acked += r.stats.acked;
    maxTerm = Math.max(maxTerm, r.stats.maxTerm);
    if (!r.ok) {
      console.error(`${repro(seed)}\n${r.violation}`);
      failures.push(r);
      if (failures.length >= 5) break;
    }
  }
  if (one !== undefined) {
    console.log(
      JSON.stringify(
        runSimulation({ seed: one, safetyTicks: envInt("SIM_TICKS"), hostile }).stats,
      ),
    );
  }
  console.log(
    `raft sim: ${seeds.length} seeds, ${acked} acknowledged writes, ${crashes} crashes, ` +
      `${confChanges} conf changes, ${snapshots} snapshots sent, ${reads} reads, max term ${maxTerm}`,
  );
  assert.equal(
    failures.length,
    0,
    failures.map((f) => `${repro(f.seed)}\n${f.violation}`).join("\n"),
  );
});

Deno.test("raft sim: the checker finds a violation when votes skip the up-to-date check", () => {
  let found: SimResult | undefined;
  for (let seed = 1; seed <= 300 && !found; seed++) {
    const r = runSimulation({ seed, bugs: { skipVoteUpToDateCheck: true }, hostile: true });
    if (!r.ok) found = r;
  }
  assert.ok(found, "expected some seed to expose the injected bug");
  console.log(`injected bug found: seed=${found.seed}: ${found.violation}`);
});

Deno.test("raft sim: the checker finds two leaders in a term when a restarted site forgets its vote", () => {
  let found: SimResult | undefined;
  for (let seed = 1; seed <= 300 && !found; seed++) {
    const r = runSimulation({ seed, bugs: { forgetVoteOnRestart: true }, hostile: true });
    if (!r.ok) found = r;
  }
  assert.ok(found, "expected some seed to expose the injected bug");
  assert.match(found.violation!, /election safety|state machine safety/);
  console.log(`injected bug found: seed=${found.seed}: ${found.violation}`);
});

Deno.test("raft sim: the checker finds the Figure 8 bug (old-term entries committed by counting)", () => {
  // Random search finds this bug rarely (about 1 seed in 4000 hostile seeds:
  // it needs a leader to crash within one round trip of committing an
  // old-term entry, while a site holding a later-term entry survives). The
  // seed below came from such a sweep; if the simulator's use of its PRNG
  // changes, find a new one with:
  //   for s in 1..N: runSimulation({ seed: s, bugs: { commitOldTermEntries: true }, hostile: true })
  const seed = 2137;
  const buggy = runSimulation({ seed, bugs: { commitOldTermEntries: true }, hostile: true });
  assert.equal(buggy.ok, false, "expected the injected bug to be found");
  assert.match(buggy.violation!, /state machine safety|leader completeness/);
  console.log(`injected bug found: seed=${seed}: ${buggy.violation}`);
  // The same schedule without the bug is safe.
  assert.equal(runSimulation({ seed, hostile: true }).ok, true);
});

Deno.test("raft sim: durable before reply holds on the schedule that found a follower acknowledging entries it had replaced (seed 7327883, 3000 ticks)", () => {
  // Found by a 40,000-seed sweep (SIM_SEEDS=40000 SIM_SEED_BASE=7300000
  // SIM_TICKS=3000): a follower stepped a stale leader's append, then a newer
  // leader's conflicting one, before the host took the next Ready, and that
  // Ready carried the first acknowledgment out after the entries were gone.
  // Replayed here so the default run keeps the fix; if the simulator's use
  // of its PRNG changes, this schedule is lost and the check below is moot —
  // the unit test in src/consensus/raft_test.ts pins the rule itself.
  const r = runSimulation({ seed: 7327883, safetyTicks: 3000 });
  assert.equal(r.ok, true, r.violation);
});

Deno.test("raft sim: liveness holds on the schedule that found a leader that removed itself from two voters, lost leadership before the entry reached the other, and left no site able to win (seed 228, 3000 ticks)", () => {
  // Found by a 600-seed sweep once membership changes could shrink the
  // cluster below three voters (SIM_SEEDS=600 SIM_TICKS=3000). The rule
  // itself is pinned in test/raft_scenarios_test.ts.
  const r = runSimulation({ seed: 228, safetyTicks: 3000 });
  assert.equal(r.ok, true, r.violation);
});
