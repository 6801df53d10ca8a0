import assert from "node:assert/strict";
import {
  AssertionError,
  CompactedError,
  SnapshotOutOfDateError,
  UnavailableError,
} from "./errors.ts";
import { MemoryStorage } from "./storage.ts";
import type { Entry } from "./types.ts";

const conf = { voters: ["a", "b", "c"], learners: [] };

function ents(from: number, to: number, term: number, bytes = 4): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({ index: i, term, type: "normal", data: new Uint8Array(bytes) });
  }
  return out;
}

Deno.test("MemoryStorage: an empty log has firstIndex 1, lastIndex 0 and term(0) = 0", () => {
  const s = new MemoryStorage(conf);
  assert.equal(s.firstIndex(), 1);
  assert.equal(s.lastIndex(), 0);
  assert.equal(s.term(0), 0);
  assert.deepEqual(s.initialState().confState, conf);
  assert.equal(s.initialState().confIndex, 0);
  assert.deepEqual(s.initialState().hardState, { term: 0, vote: "", commit: 0 });
});

Deno.test("MemoryStorage.entries() returns [lo, hi) and stops at maxBytes but never returns nothing", () => {
  const s = new MemoryStorage(conf);
  s.append(ents(1, 5, 1, 4)); // 20 bytes each with overhead
  assert.deepEqual(s.entries(2, 5, Infinity).map((e) => e.index), [2, 3, 4]);
  assert.deepEqual(s.entries(1, 6, 45).map((e) => e.index), [1, 2]);
  assert.deepEqual(s.entries(1, 6, 1).map((e) => e.index), [1]);
  assert.deepEqual(s.entries(3, 3, 1), []);
});

Deno.test("MemoryStorage.entries() throws CompactedError below the first index and UnavailableError beyond the last", () => {
  const s = new MemoryStorage(conf);
  s.append(ents(1, 10, 1));
  s.createSnapshot(5, conf, new Uint8Array([1]));
  s.compact(5);
  assert.throws(() => s.entries(5, 7, Infinity), CompactedError);
  assert.throws(() => s.entries(6, 12, Infinity), UnavailableError);
  assert.throws(() => s.term(4), CompactedError);
  assert.throws(() => s.term(11), UnavailableError);
  assert.equal(s.term(5), 1, "the compaction point keeps its term");
  assert.equal(s.firstIndex(), 6);
});

Deno.test("MemoryStorage.append() replaces a conflicting suffix", () => {
  const s = new MemoryStorage(conf);
  s.append(ents(1, 5, 1));
  s.append(ents(3, 4, 2));
  assert.equal(s.lastIndex(), 4);
  assert.deepEqual(s.entries(1, 5, Infinity).map((e) => e.term), [1, 1, 2, 2]);
});

Deno.test("MemoryStorage.append() refuses a gap", () => {
  const s = new MemoryStorage(conf);
  s.append(ents(1, 2, 1));
  assert.throws(() => s.append(ents(4, 5, 1)), AssertionError);
});

Deno.test("MemoryStorage.append() skips entries already compacted", () => {
  const s = new MemoryStorage(conf);
  s.append(ents(1, 6, 1));
  s.createSnapshot(4, conf, new Uint8Array());
  s.compact(4);
  s.append(ents(3, 8, 1));
  assert.equal(s.firstIndex(), 5);
  assert.equal(s.lastIndex(), 8);
});

Deno.test("MemoryStorage.compact() refuses to pass the latest snapshot", () => {
  const s = new MemoryStorage(conf);
  s.append(ents(1, 6, 1));
  s.createSnapshot(3, conf, new Uint8Array());
  assert.throws(() => s.compact(4), AssertionError);
  s.compact(2); // compacting less than the snapshot is allowed
  assert.equal(s.firstIndex(), 3);
  assert.equal(s.initialState().confIndex, 3);
});

Deno.test("MemoryStorage.applySnapshot() discards the log and refuses an older snapshot", () => {
  const s = new MemoryStorage(conf);
  s.append(ents(1, 6, 1));
  const snap = { metadata: { index: 10, term: 3, confState: conf }, data: new Uint8Array([7]) };
  s.applySnapshot(snap);
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 10);
  assert.equal(s.term(10), 3);
  assert.throws(
    () => s.applySnapshot({ ...snap, metadata: { ...snap.metadata, index: 9 } }),
    SnapshotOutOfDateError,
  );
  assert.throws(() => s.createSnapshot(9, conf, new Uint8Array()), SnapshotOutOfDateError);
});
