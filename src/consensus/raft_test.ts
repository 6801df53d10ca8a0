import assert from "node:assert/strict";
import { AssertionError } from "./errors.ts";
import { RaftNode } from "./raft.ts";
import { MemoryStorage } from "./storage.ts";
import type { Message, Ready } from "./types.ts";

function node(id: string, voters: string[], storage = new MemoryStorage({ voters, learners: [] })) {
  return new RaftNode({
    id,
    storage,
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0,
    maxEntriesPerMsg: 16,
    maxBytesPerMsg: 1 << 16,
    maxInflightMsgs: 4,
    checkQuorum: false,
    preVote: false,
  });
}

/** Persists a Ready the way the contract says, then advances. */
function handle(n: RaftNode, s: MemoryStorage): Ready {
  const rd = n.ready();
  if (rd.snapshot) s.applySnapshot(rd.snapshot);
  s.append(rd.entries);
  if (rd.hardState) s.setHardState(rd.hardState);
  n.advance(rd);
  return rd;
}

Deno.test("RaftNode: a single voter elects itself and commits the empty entry of its term", () => {
  const s = new MemoryStorage({ voters: ["a"], learners: [] });
  const n = node("a", ["a"], s);
  for (let k = 0; k < 10; k++) n.tick();
  assert.equal(n.status().role, "leader");
  const rd = handle(n, s);
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term, e.data.byteLength]), [[1, 1, 0]]);
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [1]);
  assert.deepEqual(rd.hardState, { term: 1, vote: "a", commit: 1 });
  assert.deepEqual(rd.softState, { leader: "a", role: "leader" });
  assert.equal(n.propose(new Uint8Array([9])), true);
  assert.deepEqual(handle(n, s).committedEntries.map((e) => e.data[0]), [9]);
});

Deno.test("RaftNode: a granted vote is in the hardState of the same Ready as the VoteResp (durable before reply)", () => {
  const s = new MemoryStorage({ voters: ["a", "b", "c"], learners: [] });
  const n = node("b", ["a", "b", "c"], s);
  n.step({ type: "vote", from: "a", to: "b", term: 1, lastIndex: 0, lastTerm: 0, transfer: false });
  const rd = n.ready();
  assert.deepEqual(rd.hardState, { term: 1, vote: "a", commit: 0 });
  assert.deepEqual(rd.messages.map((m) => [m.type, (m as { reject: boolean }).reject]), [
    ["voteResp", false],
  ]);
  s.setHardState(rd.hardState!);
  n.advance(rd);
  // A second candidate in the same term is refused.
  n.step({ type: "vote", from: "c", to: "b", term: 1, lastIndex: 5, lastTerm: 1, transfer: false });
  const rd2 = n.ready();
  assert.equal((rd2.messages[0] as { reject: boolean }).reject, true);
});

Deno.test("RaftNode: step() and tick() emit messages only through ready()", () => {
  const n = node("a", ["a", "b", "c"]);
  for (let k = 0; k < 10; k++) n.tick();
  assert.equal(n.status().role, "candidate");
  assert.equal(n.hasReady(), true);
  const msgs: Message[] = n.ready().messages;
  assert.deepEqual(msgs.map((m) => `${m.type}>${m.to}`).sort(), ["vote>b", "vote>c"]);
});

Deno.test("RaftNode: ready() twice without advance() is a programmer error", () => {
  const n = node("a", ["a", "b", "c"]);
  n.ready();
  assert.throws(() => n.ready(), AssertionError);
});

Deno.test("RaftNode: propose() returns false on a follower and status() names the leader", () => {
  const n = node("b", ["a", "b", "c"]);
  n.step({
    type: "heartbeat",
    from: "a",
    to: "b",
    term: 3,
    commit: 0,
    ctx: undefined,
  });
  assert.equal(n.propose(new Uint8Array([1])), false);
  assert.equal(n.status().leader, "a");
  assert.equal(n.status().term, 3);
  assert.equal(n.status().progress, undefined);
});

Deno.test("RaftNode: an AppMessage from an older term is answered with the newer term", () => {
  const n = node("b", ["a", "b", "c"]);
  n.step({ type: "heartbeat", from: "a", to: "b", term: 5, commit: 0, ctx: undefined });
  n.advance(n.ready());
  n.step({
    type: "app",
    from: "c",
    to: "b",
    term: 2,
    prevIndex: 0,
    prevTerm: 0,
    entries: [],
    commit: 0,
  });
  const rd = n.ready();
  assert.equal(rd.messages.length, 1);
  assert.equal(rd.messages[0].type, "appResp");
  assert.equal(rd.messages[0].term, 5);
});

Deno.test("RaftNode: durable before reply — an acknowledgment of entries a newer leader overwrote before the Ready was made is never sent", () => {
  const s = new MemoryStorage({ voters: ["a", "b", "c"], learners: [] });
  const n = node("b", ["a", "b", "c"], s);
  const entries = (term: number, from: number, count: number) =>
    Array.from({ length: count }, (_, k) => ({
      index: from + k,
      term,
      type: "normal" as const,
      data: new Uint8Array([term]),
    }));
  // Leader a (term 1) sends entries 1..3: b acknowledges 3 — in the next Ready.
  n.step({
    type: "app",
    from: "a",
    to: "b",
    term: 1,
    prevIndex: 0,
    prevTerm: 0,
    entries: entries(1, 1, 3),
    commit: 0,
  });
  // Before that Ready is made, leader c (term 2) replaces them from index 2.
  n.step({
    type: "app",
    from: "c",
    to: "b",
    term: 2,
    prevIndex: 1,
    prevTerm: 1,
    entries: entries(2, 2, 1),
    commit: 0,
  });
  const rd = handle(n, s);
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term]), [[1, 1], [2, 2]]);
  const acks = rd.messages.filter((m) => m.type === "appResp" && !m.reject);
  // Only c's is sent: a (still in term 1) must not count b's copy of entries 2..3 of term 1.
  assert.deepEqual(acks.map((m) => [m.to, m.term, (m as { index: number }).index]), [["c", 2, 2]]);

  // The same for a snapshot that replaces the log after an acknowledgment was queued.
  n.step({
    type: "app",
    from: "c",
    to: "b",
    term: 2,
    prevIndex: 2,
    prevTerm: 2,
    entries: entries(2, 3, 2),
    commit: 0,
  });
  n.step({
    type: "snapshot",
    from: "d",
    to: "b",
    term: 3,
    snapshot: {
      metadata: { index: 6, term: 3, confState: { voters: ["a", "b", "c"], learners: [] } },
      data: new Uint8Array(),
    },
  });
  const rd2 = handle(n, s);
  const acks2 = rd2.messages.filter((m) => m.type === "appResp" && !m.reject);
  assert.deepEqual(acks2.map((m) => [m.to, (m as { index: number }).index]), [["d", 6]]);
});

Deno.test("RaftNode: a rejection carries the conflicting term and its first index (fast back-off hint)", () => {
  const s = new MemoryStorage({ voters: ["a", "b"], learners: [] });
  s.append([1, 2, 2, 2, 2].map((t, k) => ({
    index: k + 1,
    term: t,
    type: "normal" as const,
    data: new Uint8Array(),
  })));
  const n = node("b", ["a", "b"], s);
  n.step({
    type: "app",
    from: "a",
    to: "b",
    term: 4,
    prevIndex: 5,
    prevTerm: 3,
    entries: [],
    commit: 0,
  });
  const resp = n.ready().messages[0];
  assert.ok(resp.type === "appResp");
  assert.deepEqual([resp.reject, resp.index, resp.conflictTerm, resp.conflictIndex], [
    true,
    5,
    2,
    2,
  ]);
});

Deno.test("RaftNode: invalid limits are programmer errors", () => {
  const storage = new MemoryStorage({ voters: ["a"], learners: [] });
  const base = {
    id: "a",
    storage,
    electionTicks: 10,
    heartbeatTicks: 1,
    random: () => 0,
    maxEntriesPerMsg: 1,
    maxBytesPerMsg: 1,
    maxInflightMsgs: 1,
    checkQuorum: true,
    preVote: true,
  };
  assert.throws(() => new RaftNode({ ...base, electionTicks: 1 }), AssertionError);
  assert.throws(() => new RaftNode({ ...base, maxInflightMsgs: 0 }), AssertionError);
  assert.throws(() => new RaftNode({ ...base, random: () => 1 }), AssertionError);
});

Deno.test("RaftNode: a restarted site resumes its term, vote, commit and membership from storage", () => {
  const s = new MemoryStorage({ voters: ["a"], learners: [] });
  const n = node("a", ["a"], s);
  for (let k = 0; k < 10; k++) n.tick();
  handle(n, s);
  n.proposeConfChange({ type: "addLearner", node: "z" });
  handle(n, s);
  const again = node("a", ["a"], s);
  const st = again.status();
  assert.deepEqual([st.term, st.vote, st.commitIndex, st.role], [1, "a", 2, "follower"]);
  assert.deepEqual(again.confState(), { voters: ["a"], learners: ["z"] });
});

Deno.test("raft: a snapshot stepped in between ready and advance puts firstIndex past the applied index until it is installed", () => {
  // A host awaits while it applies a Ready, and messages keep arriving: a
  // host snapshotting its applied state must see that the membership at
  // `applied` is gone (src/site/raft_host.ts #maybeSnapshot).
  const voters = ["a", "b", "c"];
  const s = new MemoryStorage({ voters, learners: [] });
  const n = node("b", voters, s);
  const entries = [1, 2, 3, 4, 5].map((index) => ({
    index,
    term: 1,
    type: "normal" as const,
    data: new Uint8Array(),
  }));
  n.step({
    type: "app",
    from: "a",
    to: "b",
    term: 1,
    prevIndex: 0,
    prevTerm: 0,
    entries,
    commit: 5,
  });
  const rd = n.ready();
  assert.equal(rd.committedEntries.length, 5);
  n.step({
    type: "snapshot",
    from: "a",
    to: "b",
    term: 1,
    snapshot: {
      metadata: { index: 20, term: 1, confState: { voters, learners: [] } },
      data: new Uint8Array(),
    },
  });
  s.append(rd.entries);
  if (rd.hardState) s.setHardState(rd.hardState);
  n.advance(rd);
  const st = n.status();
  assert.equal(st.appliedIndex, 5);
  assert.ok(st.firstIndex - 1 > st.appliedIndex, `firstIndex ${st.firstIndex}`);
  assert.throws(() => n.confStateAt(5), AssertionError);
  // Once installed, the applied index is the snapshot's and snapshotting is safe again.
  const next = handle(n, s);
  assert.equal(next.snapshot?.metadata.index, 20);
  assert.equal(n.status().appliedIndex, 20);
  assert.deepEqual(n.confStateAt(20).voters, voters);
});
