/**
 * Bounded exhaustive model checking of the Raft core (test/raft_model_check.ts):
 * every schedule of 3 voters up to a bound — with membership changes (and a
 * spare site to add), snapshots and compaction, or leadership transfer in
 * their own searches — Raft's safety properties checked in every state, and
 * proof that the checker finds each deliberate bug of `RaftTestingBugs`
 * with a shortest trace.
 *
 * Each search prints how many distinct states it kept and the depth it
 * reached. Environment variables widen the safety searches (not the bug
 * hunts, whose bounds are the smallest that find each bug):
 *
 *   MC_DEPTH=N          actions from the initial state (defaults 9–13 per search)
 *   MC_TERMS=N          highest term (default 2)
 *   MC_PROPOSALS=N      client writes in total (default 1)
 *   MC_CRASHES=N        crash-and-restarts in total (default 1)
 *   MC_READS=N          ReadIndex requests in total (default 0; 1 in the read search)
 *   MC_TIMEOUTS=N       election timeouts in total (default 4)
 *   MC_HEARTBEATS=N     leader ticks in total (default 2)
 *   MC_INFLIGHT=N       messages in the network (default 64; 6 for the bag)
 *   MC_CONF_CHANGES=N   membership changes (default 0; 2 in the membership search)
 *   MC_COMPACTIONS=N    snapshots taken, each compacting (default 0; 2 in the snapshot search)
 *   MC_TRANSFERS=N      leadership transfers (default 0; 1 in the transfer search)
 *   MC_STATES=N         stop (and fail as incomplete) after N states (default 5,000,000)
 *   MC_VOTERS=N         genesis voters, 3 to 5 (default 3; the searches that start with
 *                       s1 leading take 9 of their steps for that with 5)
 *   MC_HOST=async       every safety search with raft_host's host (MC_HOST=sync: the harness's)
 *   MC_SYMMETRY=0       no symmetry reduction (about six times the states)
 *   MC_PROGRESS=1       print each depth level as it completes
 *
 * e.g. MC_DEPTH=12 MC_TERMS=3 npx -y deno@2.9.6 test -A test/raft_model_check_test.ts
 * (from about two million states on, add --v8-flags=--max-old-space-size=7000:
 * three million states take about 4 GB). A failing search prints its shortest
 * trace, every state on the way, and the command that repeats it.
 */

import assert from "node:assert/strict";
import {
  type CheckOptions,
  type CheckResult,
  defaultCheckOptions,
  type HostModel,
  modelCheck,
  replay,
} from "./raft_model_check.ts";
import { RaftNode } from "../src/consensus/raft.ts";
import { MemoryStorage } from "../src/consensus/storage.ts";
import { envInt } from "./_helpers.ts";

const file = "test/raft_model_check_test.ts";

/** The variable that sets bound `k` (`MC_CONF_CHANGES` for `confChanges`, `MC_INFLIGHT`). */
function envName(k: string): string {
  return k === "inFlight"
    ? "MC_INFLIGHT"
    : `MC_${k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

const overrides = {
  depth: envInt("MC_DEPTH"),
  terms: envInt("MC_TERMS"),
  proposals: envInt("MC_PROPOSALS"),
  crashes: envInt("MC_CRASHES"),
  reads: envInt("MC_READS"),
  timeouts: envInt("MC_TIMEOUTS"),
  heartbeats: envInt("MC_HEARTBEATS"),
  inFlight: envInt("MC_INFLIGHT"),
  confChanges: envInt("MC_CONF_CHANGES"),
  compactions: envInt("MC_COMPACTIONS"),
  transfers: envInt("MC_TRANSFERS"),
  holds: envInt("MC_HOLDS"),
  states: envInt("MC_STATES"),
};
const symmetry = Deno.env.get("MC_SYMMETRY") !== "0";
const voters = envInt("MC_VOTERS");
if (voters !== undefined && (voters < 3 || voters > 5)) {
  throw new Error(`Cannot search ${voters} voters (MC_VOTERS): 3 to 5`);
}
const hostEnv = Deno.env.get("MC_HOST") || undefined;
if (hostEnv !== undefined && hostEnv !== "sync" && hostEnv !== "async") {
  throw new Error(`Cannot use host ${hostEnv} (MC_HOST): sync or async`);
}
const host: HostModel | undefined = hostEnv;

/**
 * The options of a safety search: `o` over the defaults, then the
 * environment's bounds and voters. With `leading`, the search starts where
 * s1 leads term 1 with its first entry committed ({@link leadingPrefix}).
 */
function safety(
  o: Partial<Omit<CheckOptions, "bounds">> & { bounds?: Partial<CheckOptions["bounds"]> },
  leading = false,
): CheckOptions {
  const bounds = { ...defaultCheckOptions.bounds, ...o.bounds };
  for (const [k, v] of Object.entries(overrides)) {
    if (v !== undefined) bounds[k as keyof typeof bounds] = v;
  }
  const opts = { ...defaultCheckOptions, symmetry, ...o, bounds };
  if (voters !== undefined) opts.voters = voters;
  if (host !== undefined) opts.host = host;
  if (leading) opts.prefix = leadingPrefix(opts.voters, opts.preVote);
  return opts;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "3 voters (sync host, set network) up to depth 10, term 2, 1 proposal, 1 crash". */
function scope(o: CheckOptions): string {
  const b = o.bounds;
  const features = [
    `${o.host} host`,
    o.network === "bag"
      ? `bag network${o.drop ? " with drops" : ""}, at most ${b.inFlight} messages in flight`
      : "set network",
    ...(o.preVote ? ["PreVote"] : []),
    ...(o.checkQuorum ? ["CheckQuorum"] : []),
    ...(o.symmetry ? [] : ["no symmetry"]),
  ];
  const limits = [
    `depth ${b.depth}`,
    `term ${b.terms}`,
    plural(b.proposals, "proposal"),
    ...(b.reads > 0 ? [plural(b.reads, "read")] : []),
    plural(b.crashes, "crash", "crashes"),
    ...(b.confChanges > 0 ? [plural(b.confChanges, "conf change")] : []),
    ...(b.compactions > 0 ? [plural(b.compactions, "compaction")] : []),
    ...(b.transfers > 0 ? [plural(b.transfers, "transfer")] : []),
    ...(b.holds > 0 ? [plural(b.holds, "campaign hold")] : []),
  ];
  const spares = o.spares > 0 ? ` and ${plural(o.spares, "spare site")}` : "";
  const from = o.prefix !== undefined && o.prefix.length > 0 ? ` from ${prefixName(o.prefix)}` : "";
  return `${o.voters} voters${spares} (${features.join(", ")})${from} up to ${limits.join(", ")}`;
}

const prefixNames = new WeakMap<string[], string>();

/**
 * The schedule (a CheckOptions.prefix) in which s1 times out and wins
 * term 1 with the votes of s2…sQ (Q a quorum), after a PreVote round with
 * `preVote`, and they acknowledge its first entry, so s1 commits it: 5
 * steps for 3 voters (7 with PreVote), 9 for 5.
 */
function leadingPrefix(voters: number, preVote: boolean): string[] {
  const others = Array.from({ length: Math.floor(voters / 2) }, (_, k) => `s${k + 2}`);
  const round = (req: string, resp: string) => [
    ...others.map((s) => `deliver ${req} s1>${s}`),
    ...others.map((s) => `deliver ${resp} ${s}>s1`),
  ];
  const p = [
    "timeout s1",
    ...(preVote ? round("preVote", "preVoteResp") : []),
    ...round("vote", "voteResp"),
    ...round("app", "appResp"),
  ];
  prefixNames.set(
    p,
    `s1 leading term 1${preVote ? " after PreVote" : ""} with its first entry committed`,
  );
  return p;
}

function prefixName(prefix: string[]): string {
  return prefixNames.get(prefix) ?? `a ${prefix.length}-step schedule`;
}

/** The command that runs this search again with the same bounds. */
function repro(name: string): string {
  const env = Object.entries(overrides).filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${envName(k)}=${v} `).join("");
  const sym = symmetry ? "" : "MC_SYMMETRY=0 ";
  const vs = voters === undefined ? "" : `MC_VOTERS=${voters} `;
  const hs = host === undefined ? "" : `MC_HOST=${host} `;
  return `${env}${vs}${hs}${sym}npx -y deno@2.9.6 test -A ${file} --filter '${name}'`;
}

function run(name: string, o: CheckOptions): CheckResult {
  const progress = Deno.env.get("MC_PROGRESS") === "1";
  const r = modelCheck(o, (depth, states, frontier, seconds) => {
    if (progress) {
      console.log(`  depth ${depth}: ${states} states, ${frontier} new, ${seconds.toFixed(1)} s`);
    }
  });
  const c = r.coverage;
  const n = (x: number) => x.toLocaleString("en");
  const summary = [
    `${n(r.states)} distinct states, ${n(r.transitions)} transitions, ${n(r.pruned)} beyond bounds`,
    `depth ${r.depthReached} reached${r.exhausted ? " (nothing left)" : ""}, ${
      r.seconds.toFixed(1)
    } s`,
    `max term ${c.maxTerm}, max committed index ${c.maxCommitted}`,
    `${plural(c.maxLeaders, "leader")} in one history, ${
      plural(c.maxWritesCommitted, "write")
    } committed`,
    `${plural(c.readsAnswered, "read")} answered, ${plural(c.restarts, "restart")}`,
    ...(o.bounds.confChanges > 0
      ? [
        `${plural(c.maxConfChangesCommitted, "conf change")} committed in one history (${
          c.confChangesCommitted.join(", ") || "none"
        } in some)`,
      ]
      : []),
    ...(o.bounds.compactions > 0 ? [`${plural(c.snapshotsInstalled, "snapshot")} installed`] : []),
    ...(o.bounds.transfers > 0
      ? [`${plural(c.transferCampaigns, "campaign")} on a MsgTimeoutNow`]
      : []),
    ...(o.bounds.holds > 0
      ? [`${plural(c.heldBack, "MsgTimeoutNow")} held back by a held site`]
      : []),
  ];
  console.log(`${name}\n  ${summary.join("; ")}`);
  return r;
}

/** Runs a safety search and fails with the shortest trace if it finds anything. */
function checkSafety(name: string, o: CheckOptions): void {
  const r = run(name, o);
  if (r.violation) {
    assert.fail(
      `${r.violation.message}\n${r.violation.trace.length}-step trace:\n${r.violation.explained}\n` +
        `repro: ${repro(name)}`,
    );
  }
  assert.ok(
    r.complete,
    `the search stopped at ${r.states} states before its depth bound (MC_STATES)`,
  );
  // A prefix as long as the depth bound leaves nothing to search: that checks nothing.
  assert.ok(
    r.transitions > 0,
    `no action was searched past the prefix within depth ${o.bounds.depth}`,
  );
}

const rules = "election safety, log matching, leader completeness and state machine safety hold";

/** Registers a safety search under a name that states its scope. */
function safetyTest(o: CheckOptions, name: (scope: string) => string): void {
  Deno.test(name(scope(o)), (t) => checkSafety(t.name, o));
}

safetyTest(
  safety({ bounds: { depth: 10 } }),
  (s) => `model check: ${rules} in every state of ${s}`,
);

safetyTest(
  safety({ host: "async", bounds: { depth: 11 } }),
  (s) => `model check: ${rules} in every state of ${s}, leaders sending before they persist`,
);

safetyTest(
  safety({ preVote: true, checkQuorum: true, bounds: { depth: 10 } }),
  (s) => `model check: ${rules} in every state of ${s}`,
);

safetyTest(
  safety({ bounds: { depth: 10, reads: 1, proposals: 0, crashes: 0 } }),
  (s) =>
    `model check: a ReadIndex answer is never below what was committed when the read began, and ${rules}, in every state of ${s}`,
);

safetyTest(
  safety({ network: "bag", drop: true, bounds: { depth: 9, inFlight: 6 } }),
  (s) => `model check: ${rules} in every state of ${s}`,
);

safetyTest(
  safety({ spares: 1, bounds: { depth: 11, proposals: 0, confChanges: 2 } }, true),
  (s) =>
    `model check: membership changes (add a learner, promote it, remove any member, the leader too) keep one leader per term, leader completeness under each configuration's quorum, state machine safety, log matching and one change at a time, in every state of ${s}`,
);

safetyTest(
  safety({ bounds: { depth: 12, compactions: 2 } }, true),
  (s) =>
    `model check: a snapshot holds only committed entries, the state machine and the membership at its index, and ${rules} with compacted logs, in every state of ${s}`,
);

safetyTest(
  safety({
    preVote: true,
    checkQuorum: true,
    bounds: { depth: 13, proposals: 0, transfers: 1 },
  }, true),
  (s) => `model check: with leadership transfers (MsgTimeoutNow) ${rules} in every state of ${s}`,
);

safetyTest(
  safety({
    preVote: true,
    checkQuorum: true,
    bounds: { depth: 13, proposals: 0, transfers: 1, holds: 2, crashes: 1 },
  }, true),
  (s) =>
    `model check: with campaigns held and released (a site catching up to a snapshot), a held site never stands and ${rules} in every state of ${s}`,
);

// ------------------------------------------------------------ the checker can fail

/** Bounds for a bug hunt: nothing beyond what the named bug needs. */
function hunt(
  bugs: CheckOptions["bugs"],
  bounds: Partial<CheckOptions["bounds"]>,
  o: Partial<Omit<CheckOptions, "bounds">> = {},
): CheckOptions {
  return {
    ...defaultCheckOptions,
    ...o,
    bugs,
    bounds: { ...defaultCheckOptions.bounds, ...bounds },
  };
}

/** Runs a bug hunt, which must find a violation matching `expected`, and checks its trace replays. */
function findsBug(name: string, o: CheckOptions, expected: RegExp, depth: number): void {
  const r = run(`${name} within ${scope(o)}`, o);
  assert.ok(r.violation, `expected the injected bug to be found within ${scope(o)}`);
  const v = r.violation;
  console.log(
    `  found with a ${v.trace.length}-step trace: ${v.message}\n  ${v.trace.join("\n  ")}`,
  );
  assert.match(v.message, expected);
  // Breadth-first: no shorter trace exists within these bounds.
  assert.equal(v.trace.length, depth);
  // The trace replays to the same violation (the search is deterministic).
  const again = replay(o, v.trace);
  assert.equal(again.steps, v.trace.length);
  assert.ok(again.violation?.endsWith(v.message), again.violation);
  // The same schedule without the bug breaks nothing: the core without it
  // either refuses a step of it (a vote, a commit) or goes through it safely.
  const clean = replay({ ...o, bugs: undefined }, v.trace);
  assert.equal(clean.violation, undefined, clean.explained);
  console.log(
    `  without the bug: ${
      clean.stuck === undefined
        ? `all ${clean.steps} steps, no violation`
        : `no violation; ${clean.stuck}`
    }`,
  );
}

Deno.test("model check: finds a held site standing for election when a MsgTimeoutNow overrides the hold (campaignWhileHeld, 10 steps)", () => {
  const o = hunt({ campaignWhileHeld: true }, {
    depth: 10,
    terms: 2,
    proposals: 0,
    crashes: 0,
    timeouts: 1,
    heartbeats: 0,
    transfers: 1,
    holds: 1,
  }, { preVote: true, checkQuorum: true, prefix: leadingPrefix(3, true) });
  findsBug("model check: campaignWhileHeld", o, /^held campaigns: /, 10);
});

Deno.test("model check: finds a leader lacking a committed entry when votes skip the up-to-date check (skipVoteUpToDateCheck, 8 steps)", () => {
  const o = hunt({ skipVoteUpToDateCheck: true }, { depth: 8, terms: 2, proposals: 0, crashes: 0 });
  findsBug("model check: skipVoteUpToDateCheck", o, /^leader completeness: /, 8);
});

Deno.test("model check: finds two leaders in one term when a restarted site forgets its vote (forgetVoteOnRestart, 7 steps)", () => {
  const o = hunt({ forgetVoteOnRestart: true }, { depth: 7, terms: 1, proposals: 0, crashes: 1 });
  findsBug("model check: forgetVoteOnRestart", o, /^election safety: /, 7);
});

Deno.test("model check: finds the Figure 8 mistake, a leader committing an old-term entry by counting replicas (commitOldTermEntries, 14 steps)", () => {
  // Three terms (one leader creates the entry, another a rival, the first
  // then commits its old entry by counting) and three election timeouts;
  // no heartbeats, writes or crashes are needed. The lookahead form of
  // Leader Completeness sees it when the entry is committed: the rival's
  // log could still win an election. The plain form fails on the same
  // schedule 4 steps later, once the rival leads a 4th term.
  const o = hunt({ commitOldTermEntries: true }, {
    depth: 14,
    terms: 3,
    proposals: 0,
    crashes: 0,
    timeouts: 3,
    heartbeats: 0,
  });
  findsBug(
    "model check: commitOldTermEntries",
    o,
    /^leader completeness: .* would vote for it/,
    14,
  );
});

Deno.test("model check: finds a committed entry that a rival log can still outvote when a leader proposes a second membership change while one is uncommitted (concurrentConfChanges, 7 steps)", () => {
  // Remove s3, then s2 at once: s1 alone is a majority of {s1} and
  // commits both, while s2 and s3 are still a majority of {s1, s2, s3}.
  // The rule check is off, to show what breaking the rule leads to.
  const o = hunt({ concurrentConfChanges: true }, {
    depth: 7,
    terms: 1,
    proposals: 0,
    crashes: 0,
    timeouts: 1,
    heartbeats: 0,
    confChanges: 2,
  }, { confRules: false });
  findsBug(
    "model check: concurrentConfChanges",
    o,
    /^leader completeness: .* would vote for it/,
    7,
  );
});

Deno.test("model check: finds a leader proposing a membership change before it committed an entry of its term (confChangeBeforeTermCommit, 4 steps)", () => {
  const o = hunt({ confChangeBeforeTermCommit: true }, {
    depth: 4,
    terms: 1,
    proposals: 0,
    crashes: 0,
    timeouts: 1,
    heartbeats: 0,
    confChanges: 1,
  });
  findsBug(
    "model check: confChangeBeforeTermCommit (the rule)",
    o,
    /^conf change before a commit in its term: /,
    4,
  );
});

Deno.test("model check: finds the single-server change bug, two configurations with disjoint majorities, when a new leader changes the membership before committing an entry of its term (confChangeBeforeTermCommit, 4 voters, 14 steps)", () => {
  // Ongaro, raft-dev, July 2015. Out of {s1, s2, s3, s4}, s1 (term 1)
  // appends "remove s2" and s2 (term 2, elected by s2, s3, s4) appends
  // "remove s1" before its empty entry commits; {s2, s3} commits it,
  // while {s1, s4} is still a majority of s1's {s1, s3, s4}. With 3
  // voters two one-site changes of one configuration always share a
  // voter; it takes an even number. The rule check is off, to show what
  // breaking the rule leads to.
  const o = hunt({ confChangeBeforeTermCommit: true }, {
    depth: 14,
    terms: 2,
    proposals: 0,
    crashes: 0,
    timeouts: 2,
    heartbeats: 0,
    confChanges: 2,
  }, { voters: 4, confRules: false });
  findsBug(
    "model check: confChangeBeforeTermCommit (4 voters)",
    o,
    /^leader completeness: .* would vote for it/,
    14,
  );
});

Deno.test("model check: finds a snapshot carrying an uncommitted membership change when confStateAt() answers with the latest membership (confStateAtLastIndex, 7 steps)", () => {
  // The leader proposes a change and, before it commits, snapshots what
  // it has applied: the snapshot's membership must be the one at its index.
  const o = hunt({ confStateAtLastIndex: true }, {
    depth: 7,
    terms: 1,
    proposals: 0,
    crashes: 0,
    timeouts: 1,
    heartbeats: 0,
    confChanges: 1,
    compactions: 1,
  });
  findsBug("model check: confStateAtLastIndex", o, /^snapshot: .* its membership /, 7);
});

// ------------------------------------------------------------ the checker's own soundness

Deno.test("model check: the symmetry reduction keeps exactly one state per renaming orbit (sync and async hosts, set and bag networks, PreVote)", () => {
  // A search without symmetry that also computes each state's canonical
  // fingerprint must find exactly as many distinct ones as the search with
  // symmetry keeps states. A renaming that missed a name somewhere (in a
  // pending Ready's messages, say) breaks the equality.
  const configs: Partial<CheckOptions>[] = [
    { host: "sync", network: "set" },
    { host: "sync", network: "bag", drop: true },
    { host: "async", network: "set" },
    { host: "async", network: "bag", drop: true },
    { host: "sync", network: "set", preVote: true, checkQuorum: true },
    { host: "async", network: "set", preVote: true, checkQuorum: true },
    // Conf-change entries and snapshots name sites too (depth 7: a
    // leader, its first entry committed, a change and one more step).
    {
      host: "sync",
      network: "set",
      spares: 1,
      bounds: { ...defaultCheckOptions.bounds, confChanges: 2, compactions: 1, transfers: 1 },
    },
  ];
  for (const c of configs) {
    const o: CheckOptions = {
      ...defaultCheckOptions,
      ...c,
      bounds: {
        ...defaultCheckOptions.bounds,
        ...c.bounds,
        depth: c.spares === undefined ? 6 : 7,
        reads: 1,
        inFlight: c.network === "bag" ? 6 : 64,
      },
    };
    const plain = modelCheck({ ...o, symmetry: false, countOrbits: true });
    const reduced = modelCheck({ ...o, symmetry: true });
    assert.ok(plain.ok && reduced.ok);
    assert.equal(
      plain.orbits,
      reduced.states,
      `${
        scope(o)
      }: ${plain.states} states fall into ${plain.orbits} orbits, symmetry kept ${reduced.states}`,
    );
    console.log(`${scope(o)}: ${plain.states} states, ${plain.orbits} orbits`);
  }
});

/** Fields of RaftNode that hold its configuration, which never changes. */
const configFields = [
  "electionTicks",
  "heartbeatTicks",
  "random",
  "maxEntriesPerMsg",
  "maxBytesPerMsg",
  "maxInflightMsgs",
  "checkQuorum",
  "preVote",
  "maxApplyBytesPerReady",
  "maxUncommittedEntries",
  "maxPromoteLagEntries",
  "maxPendingReadIndexRequests",
  "maxStalledHeartbeats",
  "bugs",
];

Deno.test("model check: RaftNode.debugState() names every field of RaftNode that is not configuration (the fingerprint misses nothing)", async () => {
  const source = await Deno.readTextFile(new URL("../src/consensus/raft.ts", import.meta.url));
  const body = source.slice(
    source.indexOf("export class RaftNode"),
    source.indexOf("  constructor("),
  );
  const fields = [...body.matchAll(/^ {2}(readonly )?#(\w+)/gm)].map((m) => ({
    name: m[2],
    readonly: m[1] !== undefined,
  }));
  assert.ok(fields.length > 20, `found only ${fields.length} fields: did the class change shape?`);
  const storage = new MemoryStorage({ voters: ["a"], learners: [] });
  const node = new RaftNode({
    id: "a",
    storage,
    electionTicks: 2,
    heartbeatTicks: 1,
    random: () => 0,
    maxEntriesPerMsg: 1,
    maxBytesPerMsg: 1024,
    maxInflightMsgs: 1,
    checkQuorum: false,
    preVote: false,
  });
  const dumped = new Set(Object.keys(node.debugState()));
  for (const f of fields) {
    if (configFields.includes(f.name)) {
      assert.ok(f.readonly, `#${f.name} is configuration, so it must be readonly`);
    } else {
      assert.ok(dumped.has(f.name), `debugState() lacks #${f.name}`);
    }
  }
});
