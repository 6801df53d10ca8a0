import assert from "node:assert/strict";
import { AssertionError, CompactedError } from "./errors.ts";
import { RaftLog } from "./raft_log.ts";
import { MemoryStorage } from "./storage.ts";
import type { Entry } from "./types.ts";

const conf = { voters: ["a"], learners: [] };

function e(index: number, term: number): Entry {
  return { index, term, type: "normal", data: new Uint8Array(1) };
}

function logWith(terms: number[]): { log: RaftLog; storage: MemoryStorage } {
  const storage = new MemoryStorage(conf);
  storage.append(terms.map((t, k) => e(k + 1, t)));
  return { log: new RaftLog(storage, 0, 0), storage };
}

Deno.test("RaftLog.maybeAppend() refuses entries whose predecessor does not match", () => {
  const { log } = logWith([1, 1, 2]);
  assert.equal(log.maybeAppend(3, 1, 0, [e(4, 3)]), undefined);
  assert.equal(log.maybeAppend(5, 2, 0, [e(6, 3)]), undefined);
});

Deno.test("RaftLog.maybeAppend(): a follower truncates conflicting entries and keeps matching ones", () => {
  const { log } = logWith([1, 1, 2, 2]);
  const r = log.maybeAppend(2, 1, 0, [e(3, 2), e(4, 3), e(5, 3)]);
  assert.deepEqual(r, { lastNew: 5, appendedFrom: 4 });
  assert.deepEqual([1, 2, 3, 4, 5].map((i) => log.term(i)), [1, 1, 2, 3, 3]);
});

Deno.test("RaftLog.maybeAppend() ignores a stale, shorter copy and keeps the longer log", () => {
  const { log } = logWith([1, 1, 2, 2]);
  const r = log.maybeAppend(1, 1, 0, [e(2, 1)]);
  assert.deepEqual(r, { lastNew: 2, appendedFrom: 0 });
  assert.equal(log.lastIndex(), 4);
});

Deno.test("RaftLog.maybeAppend() commits only up to the last new entry", () => {
  const { log } = logWith([1, 1, 2, 2]);
  log.maybeAppend(2, 1, 10, []);
  assert.equal(log.committed, 2);
});

Deno.test("RaftLog: a committed entry is never overwritten (assertion)", () => {
  const { log } = logWith([1, 1, 2]);
  log.commitTo(3);
  assert.throws(() => log.maybeAppend(2, 1, 0, [e(3, 5)]), AssertionError);
});

Deno.test("RaftLog.isUpToDate(): a later last term wins, then a longer log", () => {
  const { log } = logWith([1, 2, 2]);
  assert.equal(log.isUpToDate(1, 3), true);
  assert.equal(log.isUpToDate(3, 2), true);
  assert.equal(log.isUpToDate(2, 2), false);
  assert.equal(log.isUpToDate(10, 1), false);
});

Deno.test("RaftLog: unstable entries shadow storage until stableTo()", () => {
  const { log, storage } = logWith([1, 1, 1]);
  log.append([e(2, 2), e(3, 2), e(4, 2)]);
  assert.equal(log.term(2), 2);
  assert.equal(log.lastIndex(), 4);
  assert.deepEqual(log.entries(1, 5, Infinity).map((x) => x.term), [1, 2, 2, 2]);
  storage.append(log.unstable);
  log.stableTo(4, 2);
  assert.equal(log.unstable.length, 0);
  assert.equal(log.term(2), 2);
  // A stale stableTo for a replaced entry does nothing.
  log.append([e(5, 3)]);
  log.stableTo(5, 2);
  assert.equal(log.unstable.length, 1);
});

Deno.test("RaftLog.entries() throws CompactedError below the first index", () => {
  const { log, storage } = logWith([1, 1, 1, 1]);
  storage.createSnapshot(2, conf, new Uint8Array());
  storage.compact(2);
  assert.throws(() => log.entries(2, 4, Infinity), CompactedError);
  assert.equal(log.termOrUndefined(1), undefined);
  assert.equal(log.term(2), 1);
});

Deno.test("RaftLog.restore() installs a snapshot and commits its index", () => {
  const { log } = logWith([1, 1]);
  log.restore({ metadata: { index: 9, term: 4, confState: conf }, data: new Uint8Array() });
  assert.equal(log.committed, 9);
  assert.equal(log.firstIndex(), 10);
  assert.equal(log.lastIndex(), 9);
  assert.equal(log.term(9), 4);
  assert.deepEqual(log.nextCommittedEntries(Infinity), []);
});

Deno.test("RaftLog.nextCommittedEntries() hands out (applied, committed] within the byte limit", () => {
  const { log } = logWith([1, 1, 1, 1]);
  log.commitTo(3);
  assert.deepEqual(log.nextCommittedEntries(Infinity).map((x) => x.index), [1, 2, 3]);
  assert.deepEqual(log.nextCommittedEntries(1).map((x) => x.index), [1]);
  log.appliedTo(2);
  assert.deepEqual(log.nextCommittedEntries(Infinity).map((x) => x.index), [3]);
  assert.throws(() => log.appliedTo(4), AssertionError);
});
