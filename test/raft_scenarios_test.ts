/**
 * Scripted Raft scenarios, each named after the rule of the paper (Ongaro &
 * Ousterhout 2014) or thesis it checks.
 */

import assert from "node:assert/strict";
import { AssertionError as RaftAssertionError, ConfChangeError } from "../src/consensus/errors.ts";
import { Harness, type MessageFilter } from "./raft_harness.ts";
import { RaftNode } from "../src/consensus/raft.ts";
import { MemoryStorage } from "../src/consensus/storage.ts";
import type { Message } from "../src/consensus/types.ts";
import { decodeConfChange, forcedSoleVoter } from "../src/consensus/membership.ts";

const S3 = ["s1", "s2", "s3"];
const S5 = ["s1", "s2", "s3", "s4", "s5"];

Deno.test("raft: election: the first site to time out becomes leader and others follow it (3 sites)", () => {
  const h = new Harness(S3);
  h.elect("s1");
  assert.deepEqual(h.leaders(), ["s1"]);
  for (const id of S3) {
    const st = h.node(id).status();
    assert.equal(st.leader, "s1");
    assert.equal(st.term, 1);
  }
  // The new leader's empty entry of its term commits everywhere.
  for (const id of S3) assert.equal(h.node(id).status().commitIndex, 1);
});

Deno.test("raft: election safety: at most one leader per term (5 sites)", () => {
  const h = new Harness(S5, { preVote: false, checkQuorum: false });
  const leaderOfTerm = new Map<number, string>();
  const record = () => {
    for (const id of S5) {
      const st = h.node(id).status();
      if (st.role !== "leader") continue;
      const prev = leaderOfTerm.get(st.term);
      assert.ok(prev === undefined || prev === id, `two leaders in term ${st.term}`);
      leaderOfTerm.set(st.term, id);
    }
  };
  // Split votes: several sites time out at once, repeatedly, under partitions.
  for (let round = 0; round < 12; round++) {
    h.heal();
    if (round % 3 === 1) h.isolate(S5[round % 5]);
    const starters = [S5[round % 5], S5[(round + 2) % 5]];
    for (let t = 0; t < 10; t++) {
      for (const id of starters) h.node(id).tick();
      h.drainAll();
    }
    h.deliverAll();
    record();
  }
  assert.ok(leaderOfTerm.size >= 2);
});

Deno.test("raft: election: a candidate that loses the vote does not become leader (split vote)", () => {
  const h = new Harness(["s1", "s2", "s3", "s4"], { preVote: false, checkQuorum: false });
  // s1 and s2 campaign at the same moment; s3 and s4 split their votes.
  h.cut.add("s1>s4").add("s2>s3");
  for (let t = 0; t < 12; t++) {
    h.node("s1").tick();
    h.node("s2").tick();
  }
  h.deliverAll();
  assert.deepEqual(h.leaders(), []);
  assert.equal(h.node("s1").status().term, 1);
  assert.equal(h.node("s2").status().term, 1);
});

Deno.test("raft: persistence: a restarted site remembers its vote and will not vote twice in a term", () => {
  const h = new Harness(S3, { preVote: false, checkQuorum: false });
  h.cut.add("s1>s3");
  h.campaign("s1"); // s2 votes for s1 in term 1
  assert.equal(h.site("s2").storage.hardState().vote, "s1");
  h.crash("s2");
  h.restart("s2");
  // s3 campaigns in term 1? It must move to term 2; ask s2 directly for a term-1 vote instead.
  h.node("s2").step({
    type: "vote",
    from: "s3",
    to: "s2",
    term: 1,
    lastIndex: 10,
    lastTerm: 1,
    transfer: false,
  });
  h.drain("s2");
  const resp = h.queue.filter((m) => m.from === "s2" && m.type === "voteResp").pop();
  assert.ok(resp && resp.type === "voteResp" && resp.reject);
});

Deno.test("raft: log matching: a follower truncates conflicting entries", () => {
  const h = new Harness(S3);
  h.elect("s1");
  h.propose("s1", "a");
  // s1 is cut off and takes writes nobody else sees.
  h.isolate("s1");
  h.propose("s1", "lost1");
  h.propose("s1", "lost2");
  assert.equal(h.node("s1").status().lastIndex, 4);
  // s2 wins term 2 with s3 and commits different entries at the same indexes.
  h.tickAll(12);
  h.elect("s2");
  h.propose("s2", "b");
  h.propose("s2", "c");
  h.heal();
  h.tickAll(3);
  const logs = S3.map((id) => h.logOf(id).join(","));
  assert.equal(logs[0], logs[1]);
  assert.equal(logs[1], logs[2]);
  for (const id of S3) {
    assert.deepEqual(h.site(id).applied.filter((x) => x.startsWith("lost")), []);
  }
  assert.deepEqual(h.site("s1").applied, ["a", "b", "c"]);
});

Deno.test("raft: log matching: fast back-off skips a whole conflicting term per round trip", () => {
  const h = new Harness(S3, { maxEntriesPerMsg: 1 });
  h.elect("s1");
  h.isolate("s1");
  for (let k = 0; k < 30; k++) h.node("s1").propose(new TextEncoder().encode(`x${k}`));
  h.drainAll();
  h.queue = [];
  h.tickAll(12);
  h.elect("s2");
  h.propose("s2", "y");
  h.heal();
  const before = h.sent.length;
  h.tickAll(3);
  const rejects = h.sent.slice(before).filter((m) =>
    m.type === "appResp" && m.from === "s1" && m.reject
  );
  // Without the hint the leader would back off one entry per rejection (30+).
  assert.ok(rejects.length <= 3, `${rejects.length} rejections`);
  assert.deepEqual(h.logOf("s1"), h.logOf("s2"));
});

Deno.test("raft: leader completeness: a site missing committed entries cannot win", () => {
  const h = new Harness(S3, { preVote: false, checkQuorum: false });
  h.elect("s1");
  h.isolate("s3");
  h.propose("s1", "a");
  h.propose("s1", "b");
  assert.equal(h.node("s1").status().commitIndex, 3);
  h.heal();
  h.isolate("s1");
  h.connect("s3", "s2");
  // s3's log is behind s2's: s2 refuses its vote, so s3 cannot win.
  for (let k = 0; k < 3; k++) h.campaign("s3");
  assert.notEqual(h.node("s3").status().role, "leader");
  // s2 holds every committed entry and can win.
  h.elect("s2");
  assert.deepEqual(h.site("s2").applied, ["a", "b"]);
});

/**
 * Figure 8 of the paper, with 5 sites and one entry per message:
 * (a) s1 leads term 2 and replicates index 2 only to s2; (b) s1 crashes, s5
 * wins term 3 and appends a different index 2; (c) s5 crashes, s1 wins term 4
 * and brings index 2 (term 2) to a majority; (d) s1 crashes and s5 can still
 * win and overwrite index 2. So s1 must not commit index 2 in (c) by counting.
 */
function figure8(bug: boolean): Harness {
  const h = new Harness(S5, {
    preVote: false,
    checkQuorum: false,
    maxEntriesPerMsg: 1,
    bugs: { commitOldTermEntries: bug },
  });
  const win = (id: string, filter?: MessageFilter) => {
    for (let k = 0; k < 4 && h.node(id).status().role !== "leader"; k++) h.campaign(id, filter);
    assert.equal(h.node(id).status().role, "leader", `${id} should win`);
    return h.node(id).status().term;
  };
  h.elect("s1"); // term 1, index 1 everywhere
  // (a) s1 leads a new term; its empty entry (index 2) reaches only s2.
  h.crash("s1");
  h.restart("s1");
  h.isolate("s1");
  h.connect("s1", "s2");
  h.connect("s1", "s3");
  const noAppToS3 = (m: Message) => !(m.type === "app" && m.to === "s3");
  const termA = win("s1", noAppToS3);
  h.deliverAll(noAppToS3);
  assert.deepEqual(h.logOf("s2"), ["1:1", `2:${termA}`]);
  assert.deepEqual(h.logOf("s3"), ["1:1"]);
  // (b) s1 crashes; s5 wins a later term with s3 and s4 and appends its own
  // index 2, which nobody else receives.
  h.crash("s1");
  h.heal();
  h.isolate("s5");
  h.connect("s5", "s3");
  h.connect("s5", "s4");
  const noApp = (m: Message) => m.type !== "app";
  const termB = win("s5", noApp);
  h.deliverAll(noApp);
  h.queue = [];
  assert.ok(termB > termA);
  assert.deepEqual(h.logOf("s5"), ["1:1", `2:${termB}`]);
  h.crash("s5");
  h.heal();
  // (c) s1 restarts and wins a later term with s2 and s3, then brings index 2
  // (of termA) to s3 and s4 but its own index 3 to nobody.
  h.restart("s1");
  const noIndex3 = (m: Message): Message =>
    m.type === "app" ? { ...m, entries: m.entries.filter((e) => e.index < 3) } : m;
  const termC = win("s1", noIndex3);
  h.deliverAll(noIndex3);
  assert.ok(termC > termB);
  assert.deepEqual(h.logOf("s3"), ["1:1", `2:${termA}`]);
  assert.deepEqual(h.logOf("s1"), ["1:1", `2:${termA}`, `3:${termC}`]);
  // (d) s1 crashes; s5 restarts and wins again (its last term beats termA).
  h.crash("s1");
  h.queue = [];
  h.restart("s5");
  win("s5");
  h.tickAll(2);
  return h;
}

Deno.test("raft: commitment: a leader does not commit an old-term entry by counting replicas (Figure 8)", () => {
  const h = figure8(false);
  // s1 never applied its index 2; everyone else applied s5's index 2.
  assert.equal(h.site("s1").appliedEntries.some((e) => e.index === 2), false);
  const s5Term = h.site("s5").appliedEntries.find((e) => e.index === 2)?.term;
  for (const id of ["s2", "s3", "s4"]) {
    assert.equal(h.site(id).appliedEntries.find((e) => e.index === 2)?.term, s5Term, id);
  }
});

Deno.test("raft: commitment: with the Figure 8 bug injected, a later leader lacks a committed entry", () => {
  assert.throws(
    () => figure8(true),
    (e: unknown) => e instanceof RaftAssertionError && /leader completeness/.test(e.message),
  );
});

Deno.test("raft: PreVote: a partitioned site does not disrupt the leader when it rejoins", () => {
  const h = new Harness(S3, { preVote: true, checkQuorum: true });
  h.elect("s1");
  h.isolate("s3");
  for (let k = 0; k < 5; k++) h.campaign("s3");
  // PreVote never succeeded, so s3 never raised its term.
  assert.equal(h.node("s3").status().term, 1);
  h.heal();
  h.tickAll(3);
  assert.deepEqual(h.leaders(), ["s1"]);
  assert.equal(h.node("s1").status().term, 1);
  assert.equal(h.node("s3").status().leader, "s1");
});

Deno.test("raft: without PreVote a rejoining partitioned site does disrupt the leader", () => {
  const h = new Harness(S3, { preVote: false, checkQuorum: false });
  h.elect("s1");
  h.isolate("s3");
  for (let k = 0; k < 3; k++) h.campaign("s3");
  assert.ok(h.node("s3").status().term > 1);
  h.heal();
  h.tickAll(3);
  assert.ok(h.node("s1").status().term > 1, "the old leader saw the higher term");
});

Deno.test("raft: CheckQuorum: a leader that loses its majority steps down", () => {
  const h = new Harness(S3, { checkQuorum: true });
  h.elect("s1");
  h.isolate("s1");
  // The first check may still count replies from before the partition; the
  // second, one election timeout of silence later, cannot.
  h.tick("s1", 20);
  assert.notEqual(h.node("s1").status().role, "leader");
  assert.equal(h.node("s1").propose(new Uint8Array([1])), false);
});

Deno.test("raft: CheckQuorum: followers ignore vote requests while they hear from a live leader (lease)", () => {
  const h = new Harness(S3, { checkQuorum: true, preVote: false });
  h.elect("s1");
  // s3 cannot hear s1 but s2 can; s3 campaigns at a higher term.
  h.cut.add("s1>s3");
  h.campaign("s3");
  h.campaign("s3");
  // s2 heard from s1 within the election timeout, so it ignored s3 and kept its term.
  assert.equal(h.node("s2").status().term, 1);
  assert.equal(h.node("s1").status().role, "leader");
});

Deno.test("raft: membership: a learner receives the log, never campaigns, and its vote never counts", () => {
  const h = new Harness(["s1", "s2", "s3", "s4"], { voters: S3 });
  h.elect("s1");
  h.propose("s1", "a");
  assert.equal(h.node("s1").proposeConfChange({ type: "addLearner", node: "s4" }), true);
  h.tickAll(2);
  h.propose("s1", "b");
  assert.deepEqual(h.site("s4").applied, ["a", "b"]);
  assert.equal(h.node("s4").status().role, "learner");
  // A learner's clock never starts an election.
  h.isolate("s4");
  h.tick("s4", 50);
  assert.equal(h.node("s4").status().role, "learner");
  assert.equal(h.node("s4").status().term, 1);
  // A learner's vote never counts: s1 cut off from s2 and s3 cannot win with s4 alone.
  h.heal();
  h.tickAll(2);
  h.isolate("s1");
  h.connect("s1", "s4");
  h.tickAll(12);
  for (let k = 0; k < 3; k++) h.campaign("s1");
  assert.notEqual(h.node("s1").status().role, "leader");
});

Deno.test("raft: membership: promotion is refused while the learner is far behind, then allowed", () => {
  const h = new Harness(["s1", "s2", "s3", "s4"], { voters: S3, maxPromoteLagEntries: 5 });
  h.elect("s1");
  h.isolate("s4");
  assert.equal(h.node("s1").proposeConfChange({ type: "addLearner", node: "s4" }), true);
  h.deliverAll();
  for (let k = 0; k < 10; k++) h.propose("s1", `w${k}`);
  assert.throws(
    () => h.node("s1").proposeConfChange({ type: "promote", node: "s4" }),
    ConfChangeError,
  );
  h.heal();
  h.tickAll(3);
  assert.equal(h.node("s1").proposeConfChange({ type: "promote", node: "s4" }), true);
  h.tickAll(2);
  for (const id of ["s1", "s2", "s3", "s4"]) {
    assert.deepEqual(h.node(id).confState().voters.sort(), ["s1", "s2", "s3", "s4"]);
  }
  assert.equal(h.node("s4").status().role, "follower");
});

Deno.test("raft: membership: only one conf change may be pending at a time", () => {
  const h = new Harness(["s1", "s2", "s3", "s4", "s5"], { voters: S3 });
  h.elect("s1");
  h.isolate("s2");
  h.isolate("s3");
  assert.equal(h.node("s1").proposeConfChange({ type: "addLearner", node: "s4" }), true);
  // The first change is not committed (s1 is alone), so the second is refused.
  assert.equal(h.node("s1").proposeConfChange({ type: "addLearner", node: "s5" }), false);
  h.heal();
  h.tickAll(2);
  assert.equal(h.node("s1").proposeConfChange({ type: "addLearner", node: "s5" }), true);
  h.tickAll(2);
  assert.throws(
    () => h.node("s1").proposeConfChange({ type: "promote", node: "s2" }),
    ConfChangeError,
  );
});

Deno.test("raft: membership: a conf change takes effect when appended and rolls back when truncated", () => {
  const h = new Harness(["s1", "s2", "s3", "s4"], { voters: S3 });
  h.elect("s1");
  h.isolate("s1");
  assert.equal(h.node("s1").proposeConfChange({ type: "addLearner", node: "s4" }), true);
  // In force on s1 as soon as it is in s1's log, before it commits.
  assert.deepEqual(h.node("s1").confState().learners, ["s4"]);
  h.tickAll(12);
  h.elect("s2");
  h.propose("s2", "x");
  h.heal();
  h.tickAll(3);
  // s1 truncated the uncommitted change and its configuration rolled back.
  assert.deepEqual(h.node("s1").confState().learners, []);
});

Deno.test("raft: membership: removing a voter shrinks the quorum", () => {
  const h = new Harness(S5);
  h.elect("s1");
  assert.equal(h.node("s1").proposeConfChange({ type: "remove", node: "s5" }), true);
  h.tickAll(2);
  h.crash("s4");
  h.crash("s3");
  // 2 of the remaining 4 voters is not a quorum...
  h.propose("s1", "a");
  assert.equal(h.site("s1").applied.includes("a"), false);
  h.restart("s3");
  h.tickAll(3);
  // ...but 3 of 4 is.
  assert.ok(h.site("s1").applied.includes("a"));
  assert.deepEqual(h.node("s2").confState().voters, ["s1", "s2", "s3", "s4"]);
});

Deno.test("raft: membership: disaster recovery — a voter left alone by the loss of its majority, its log extended with forced removals, leads alone, keeps its committed log and commits the tail it held", () => {
  const h = new Harness(S3);
  h.elect("s1");
  h.propose("s1", "a");
  h.propose("s1", "b");
  for (const id of S3) assert.deepEqual(h.site(id).applied, ["a", "b"]);
  h.crash("s2");
  h.crash("s3");
  // Appended, never committed: no majority left.
  h.propose("s1", "c");
  h.tickAll(30);
  assert.deepEqual(h.site("s1").applied, ["a", "b"]);
  assert.notEqual(h.node("s1").status().role, "leader", "CheckQuorum: it stepped down");
  h.crash("s1");

  const st = h.site("s1").storage;
  const before = h.logOf("s1");
  const last = { index: st.lastIndex(), term: st.term(st.lastIndex()) };
  const hs = st.initialState().hardState;
  const { entries, hardState } = forcedSoleVoter("s1", h.node("s1").confState(), last, hs);
  assert.deepEqual(entries.map((e) => decodeConfChange(e.data)), [
    { type: "remove", node: "s2" },
    { type: "remove", node: "s3" },
  ]);
  assert.ok(entries.every((e) => e.term === Math.max(hs.term, last.term) + 1));
  st.append(entries);
  st.setHardState(hardState);

  h.restart("s1");
  assert.deepEqual(h.node("s1").confState(), { voters: ["s1"], learners: [] });
  assert.deepEqual(h.site("s1").applied, ["a", "b", "c"], "the tail it held is committed");
  h.tick("s1", 30);
  assert.deepEqual(h.leaders(), ["s1"]);
  assert.ok(h.propose("s1", "d"));
  assert.deepEqual(h.site("s1").applied, ["a", "b", "c", "d"]);
  assert.deepEqual(h.logOf("s1").slice(0, before.length), before, "its log before is unchanged");
  // Alone already: nothing to add; a site that is no voter cannot be forced.
  const again = forcedSoleVoter("s1", h.node("s1").confState(), last, hardState);
  assert.deepEqual(again.entries, []);
  assert.throws(
    () => forcedSoleVoter("s9", h.node("s1").confState(), last, hardState),
    ConfChangeError,
  );
});

Deno.test("raft: membership: a removed leader steps down once its removal commits", () => {
  const h = new Harness(S3);
  h.elect("s1");
  assert.equal(h.node("s1").proposeConfChange({ type: "remove", node: "s1" }), true);
  h.tickAll(2);
  assert.notEqual(h.node("s1").status().role, "leader");
  h.tickAll(30);
  const leaders = h.leaders();
  assert.equal(leaders.length, 1);
  assert.ok(leaders[0] === "s2" || leaders[0] === "s3");
  assert.deepEqual(h.node(leaders[0]).confState().voters.sort(), ["s2", "s3"]);
  assert.ok(h.propose(leaders[0], "after"));
  assert.ok(h.site("s2").applied.includes("after"));
});

Deno.test("raft: membership: a leader that removed itself and lost leadership before the removal reached the others campaigns again, so a cluster whose other voters' logs are behind still elects (liveness)", () => {
  // s1 leads {s1, s2} and removes itself; the entry never reaches s2. s1
  // restarts a follower whose log ends with {s2}, ahead of s2's: s2 (still
  // in {s1, s2}) needs s1's vote and never gets it, so only s1 can end this
  // (openraft#2091).
  const h = new Harness(["s1", "s2"]);
  h.elect("s1");
  h.propose("s1", "a");
  h.isolate("s1");
  assert.equal(h.node("s1").proposeConfChange({ type: "remove", node: "s1" }), true);
  h.deliverAll();
  h.crash("s1");
  h.restart("s1");
  h.heal();
  h.tickAll(100);
  assert.deepEqual(h.leaders(), ["s2"]);
  for (const id of ["s1", "s2"]) assert.deepEqual(h.node(id).confState().voters, ["s2"]);
  assert.ok(h.propose("s2", "b"));
  assert.deepEqual(h.site("s2").applied, ["a", "b"]);
  // Once it knows its removal committed, s1 never campaigns again.
  h.isolate("s1");
  const term = h.node("s1").status().term;
  h.tick("s1", 100);
  assert.equal(h.node("s1").status().term, term);
});

Deno.test("raft: membership: a voter whose uncommitted removal is in its log counts only its latest configuration's votes, never its own", () => {
  // s1 removed itself from {s1, s2, s3} and lost leadership; s3 got the
  // entry, s2 did not. s1's vote for itself does not count in {s2, s3}: with
  // s3 cut off, s2's vote alone is not a majority, so s1 does not win.
  const h = new Harness(S3, { checkQuorum: false, preVote: false });
  h.elect("s1");
  h.propose("s1", "a");
  h.isolate("s1");
  h.connect("s1", "s3");
  assert.equal(h.node("s1").proposeConfChange({ type: "remove", node: "s1" }), true);
  h.deliverAll((m) => m.type !== "appResp");
  assert.deepEqual(h.node("s3").confState().voters, ["s2", "s3"]);
  h.crash("s1");
  h.restart("s1");
  h.isolate("s3");
  h.connect("s1", "s2");
  h.cut.add("s2>s1");
  for (let k = 0; k < 3; k++) h.campaign("s1");
  assert.equal(h.node("s1").status().role, "candidate");
  h.cut.delete("s2>s1");
  for (let k = 0; k < 3; k++) h.campaign("s1");
  assert.notEqual(h.node("s1").status().role, "leader");
});

Deno.test("raft: snapshot: a follower behind the leader's first index catches up by InstallSnapshot", () => {
  const h = new Harness(S3);
  h.elect("s1");
  h.crash("s3");
  for (let k = 0; k < 20; k++) h.propose("s1", `w${k}`);
  const snapIndex = h.compact("s1");
  assert.equal(h.site("s1").storage.firstIndex(), snapIndex + 1);
  h.restart("s3");
  h.tickAll(3);
  assert.equal(h.site("s3").snapshotsInstalled, 1);
  h.propose("s1", "after");
  assert.deepEqual(h.site("s3").applied, h.site("s1").applied);
  assert.equal(h.site("s3").applied.length, 21);
  // The follower's storage starts right after the snapshot.
  assert.equal(h.site("s3").storage.firstIndex(), snapIndex + 1);
});

Deno.test("raft: snapshot: a site that restarts after compaction keeps its membership and state", () => {
  const h = new Harness(["s1", "s2", "s3", "s4"], { voters: S3 });
  h.elect("s1");
  assert.equal(h.node("s1").proposeConfChange({ type: "addLearner", node: "s4" }), true);
  h.tickAll(2);
  for (let k = 0; k < 5; k++) h.propose("s1", `w${k}`);
  h.compact("s2");
  h.crash("s2");
  h.restart("s2");
  assert.deepEqual(h.node("s2").confState().learners, ["s4"]);
  h.tickAll(3);
  h.propose("s1", "z");
  assert.deepEqual(h.site("s2").applied, ["w0", "w1", "w2", "w3", "w4", "z"]);
});

Deno.test("raft: leadership transfer: MsgTimeoutNow makes the target leader at once", () => {
  const h = new Harness(S3);
  h.elect("s1");
  h.propose("s1", "a");
  assert.equal(h.node("s1").transferLeadership("s2"), true);
  h.deliverAll();
  assert.deepEqual(h.leaders(), ["s2"]);
  assert.equal(h.node("s2").status().term, 2);
  assert.ok(h.propose("s2", "b"));
  assert.deepEqual(h.site("s1").applied, ["a", "b"]);
});

Deno.test("raft: held campaigns: a site catching its state up starts no election, from its timer or MsgTimeoutNow, yet votes and acknowledges so the others keep a majority", () => {
  const h = new Harness(S3);
  h.elect("s1");
  h.propose("s1", "a");
  h.node("s2").holdCampaigns(true);
  // A transfer to it: it does not campaign, and the leader gives up.
  assert.equal(h.node("s1").transferLeadership("s2"), true);
  h.deliverAll();
  assert.deepEqual(h.leaders(), ["s1"]);
  h.tick("s1", 10);
  assert.equal(h.node("s1").status().leadTransferee, undefined);
  // s3 is down: s1 and s2 are the majority, and s2 still acknowledges.
  h.crash("s3");
  assert.ok(h.propose("s1", "b"));
  assert.deepEqual(h.site("s2").applied, ["a", "b"]);
  h.restart("s3");
  h.tickAll(3);
  assert.deepEqual(h.site("s3").applied, ["a", "b"]);
  // The leader is lost: s2's timer passes again and again, and it does not stand.
  h.crash("s1");
  h.tick("s2", 60);
  assert.equal(h.node("s2").status().role, "follower");
  assert.equal(h.node("s2").status().term, 1);
  assert.equal(h.sent.filter((m) => m.from === "s2" && /^(pre)?[vV]ote$/.test(m.type)).length, 0);
  // s3 stands: s2 votes for it, and the two commit.
  h.campaign("s3");
  h.deliverAll();
  assert.deepEqual(h.leaders(), ["s3"]);
  assert.ok(h.propose("s3", "c"));
  assert.deepEqual(h.site("s2").applied, ["a", "b", "c"]);
  // Released, it stands like any voter.
  h.node("s2").holdCampaigns(false);
  h.crash("s3");
  h.restart("s1");
  h.campaign("s2");
  h.deliverAll();
  assert.deepEqual(h.leaders(), ["s2"]);
});

Deno.test("raft: leadership transfer: the leader refuses proposals while it catches the target up", () => {
  const h = new Harness(S3);
  h.elect("s1");
  h.isolate("s3");
  h.propose("s1", "a");
  assert.equal(h.node("s1").transferLeadership("s3"), true);
  assert.equal(h.node("s1").propose(new Uint8Array([1])), false);
  // The transfer cannot finish; after an election timeout the leader gives up.
  h.tick("s1", 10);
  assert.equal(h.node("s1").status().role, "leader");
  assert.equal(h.node("s1").status().leadTransferee, undefined);
  h.heal();
  assert.ok(h.propose("s1", "b"));
});

Deno.test("raft: ReadIndex: the leader answers after a heartbeat round confirms its leadership", () => {
  const h = new Harness(S3);
  h.elect("s1");
  h.propose("s1", "a");
  assert.equal(h.node("s1").readIndex("r1"), true);
  h.drain("s1");
  assert.deepEqual(h.site("s1").readStates, []); // not before the heartbeat round
  h.deliverAll();
  assert.deepEqual(h.site("s1").readStates, [{ index: 2, ctx: "r1" }]);
});

Deno.test("raft: ReadIndex: a follower's request is forwarded to the leader", () => {
  const h = new Harness(S3);
  h.elect("s1");
  h.propose("s1", "a");
  assert.equal(h.node("s3").readIndex("r2"), true);
  h.deliverAll();
  assert.deepEqual(h.site("s3").readStates, [{ index: 2, ctx: "r2" }]);
});

Deno.test("raft: ReadIndex: a leader cut off from its majority never answers", () => {
  const h = new Harness(S3);
  h.elect("s1");
  h.isolate("s1");
  h.node("s1").readIndex("r3");
  h.tick("s1", 5);
  assert.deepEqual(h.site("s1").readStates, []);
});

Deno.test("raft: replication: batches respect maxEntriesPerMsg and the in-flight window", () => {
  const h = new Harness(S3, { maxEntriesPerMsg: 2, maxInflightMsgs: 3 });
  h.elect("s1");
  h.propose("s1", "first"); // followers are now in the replicate state
  h.queue = [];
  for (let k = 0; k < 20; k++) h.node("s1").propose(new TextEncoder().encode(`w${k}`));
  h.drain("s1");
  // Nothing was acknowledged yet, so at most 3 messages of at most 2 entries each.
  const toS2 = h.queue.filter((m) => m.type === "app" && m.to === "s2" && m.entries.length > 0);
  assert.equal(toS2.length, 3);
  for (const m of toS2) assert.ok(m.type === "app" && m.entries.length <= 2);
  h.deliverAll();
  h.tickAll(2);
  assert.equal(h.site("s2").applied.length, 21);
  assert.deepEqual(h.site("s3").applied, h.site("s1").applied);
});

Deno.test("raft: replication: maxBytesPerMsg bounds a batch but one oversized entry still goes alone", () => {
  const h = new Harness(S3, { maxBytesPerMsg: 100 });
  h.elect("s1");
  h.propose("s1", "first");
  h.queue = [];
  h.node("s1").propose(new Uint8Array(500));
  for (let k = 0; k < 5; k++) h.node("s1").propose(new Uint8Array(30));
  h.deliverAll();
  const apps = h.sent.filter((m) => m.type === "app" && m.to === "s2" && m.entries.length > 0);
  for (const m of apps) {
    if (m.type !== "app") continue;
    const bytes = m.entries.reduce((n, e) => n + e.data.byteLength + 16, 0);
    assert.ok(m.entries.length === 1 || bytes <= 100, `batch of ${bytes} bytes`);
  }
  assert.equal(h.node("s2").status().commitIndex, 8);
});

Deno.test("raft: snapshot: a lost snapshot is sent again (after reportSnapshot or stalled heartbeats)", () => {
  for (const report of [true, false]) {
    const h = new Harness(S3);
    h.elect("s1");
    h.crash("s3");
    for (let k = 0; k < 10; k++) h.propose("s1", `w${k}`);
    h.compact("s1");
    h.restart("s3");
    // The first snapshot is lost on the way.
    let dropped = false;
    const dropFirstSnapshot = (m: Message) => {
      if (m.type === "snapshot" && !dropped) {
        dropped = true;
        return false;
      }
      return true;
    };
    for (let k = 0; k < 20 && !dropped; k++) h.tick("s1", 1, dropFirstSnapshot);
    assert.ok(dropped);
    assert.equal(h.node("s1").status().progress!.s3.state, "snapshot");
    if (report) h.node("s1").reportSnapshot("s3", false);
    h.tickAll(6);
    assert.equal(h.site("s3").snapshotsInstalled, 1, `report=${report}`);
    assert.deepEqual(h.site("s3").applied, h.site("s1").applied);
  }
});

Deno.test("raft: leadership transfer: refused to itself, to a learner, or by a follower", () => {
  const h = new Harness(["s1", "s2", "s3", "s4"], { voters: S3 });
  h.elect("s1");
  assert.equal(h.node("s1").proposeConfChange({ type: "addLearner", node: "s4" }), true);
  h.tickAll(2);
  assert.equal(h.node("s1").transferLeadership("s1"), false);
  assert.equal(h.node("s1").transferLeadership("s4"), false);
  assert.equal(h.node("s2").transferLeadership("s3"), false);
  assert.equal(h.node("s1").status().leadTransferee, undefined);
});

Deno.test("raft: replication: proposals are refused while maxUncommittedEntries are uncommitted", () => {
  const storage = new MemoryStorage({ voters: ["a", "b", "c"], learners: [] });
  const n = new RaftNode({
    id: "a",
    storage,
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0,
    maxEntriesPerMsg: 8,
    maxBytesPerMsg: 1024,
    maxInflightMsgs: 2,
    checkQuorum: false,
    preVote: false,
    maxUncommittedEntries: 3,
  });
  for (let k = 0; k < 10; k++) n.tick();
  n.step({ type: "voteResp", from: "b", to: "a", term: 1, reject: false });
  assert.equal(n.status().role, "leader");
  // The leader's empty entry is the first uncommitted one.
  assert.equal(n.propose(new Uint8Array([1])), true);
  assert.equal(n.propose(new Uint8Array([2])), true);
  assert.equal(n.propose(new Uint8Array([3])), false);
});

Deno.test("raft: ReadIndex: a new leader answers only after committing an entry of its term", () => {
  const h = new Harness(S3, { checkQuorum: false });
  h.elect("s1");
  h.isolate("s1");
  // s2 wins, but its empty entry does not reach s3 yet.
  const noAppFromS2 = (m: Message) => !(m.type === "app" && m.from === "s2");
  for (let k = 0; k < 4 && h.node("s2").status().role !== "leader"; k++) {
    h.campaign("s2", noAppFromS2);
  }
  assert.equal(h.node("s2").status().role, "leader");
  assert.equal(h.node("s2").readIndex("r"), true);
  h.tick("s2", 2, noAppFromS2);
  assert.deepEqual(h.site("s2").readStates, []);
  h.tickAll(2);
  assert.deepEqual(h.site("s2").readStates, [{ index: 2, ctx: "r" }]);
});
