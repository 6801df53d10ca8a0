/**
 * The log as one site sees it: what {@link RaftStorage} already holds durably,
 * plus an "unstable" tail (entries, or a snapshot from the leader) that the
 * core has accepted but the host has not yet persisted.
 *
 * Unstable entries shadow storage: when the unstable tail starts at index
 * `k`, any stored entry at `k` or above is logically truncated and will be
 * overwritten when the host persists the tail.
 *
 * @module
 */

import { assert, CompactedError, UnavailableError } from "./errors.ts";
import { entrySize, type RaftStorage } from "./storage.ts";
import type { Entry, Snapshot } from "./types.ts";

export class RaftLog {
  /** The highest index known to be committed. Never decreases. */
  committed: number;
  /** The highest index handed to the host to apply (via {@link Ready}). Never decreases. */
  applied: number;
  /** A snapshot received from the leader, not yet persisted. */
  unstableSnapshot: Snapshot | undefined;
  /** Entries not yet persisted; `unstable[k].index === unstableOffset + k`. */
  unstable: Entry[] = [];
  unstableOffset: number;

  constructor(readonly storage: RaftStorage, committed: number, applied: number) {
    const first = storage.firstIndex();
    this.unstableOffset = storage.lastIndex() + 1;
    this.committed = committed;
    this.applied = applied;
    assert(
      first - 1 <= applied && applied <= committed && committed <= storage.lastIndex(),
      `RaftLog: need firstIndex-1 <= applied <= commit <= lastIndex, got ${
        first - 1
      } ${applied} ${committed} ${storage.lastIndex()}`,
    );
  }

  /** The first index still held (after the latest snapshot). */
  firstIndex(): number {
    if (this.unstableSnapshot) return this.unstableSnapshot.metadata.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.unstableOffset + this.unstable.length - 1;
    if (this.unstableSnapshot) return this.unstableSnapshot.metadata.index;
    return this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /**
   * The term at `i`, for `firstIndex() - 1 <= i <= lastIndex()`. Throws
   * {@link CompactedError} or {@link UnavailableError} outside that range.
   */
  term(i: number): number {
    if (i > this.lastIndex()) throw new UnavailableError(i, this.lastIndex());
    if (this.unstable.length > 0 && i >= this.unstableOffset) {
      return this.unstable[i - this.unstableOffset].term;
    }
    if (this.unstableSnapshot) {
      const m = this.unstableSnapshot.metadata;
      if (i === m.index) return m.term;
      if (i < m.index) throw new CompactedError(i, m.index + 1);
    }
    return this.storage.term(i);
  }

  /** The term at `i`, or undefined when `i` is compacted or beyond the log. */
  termOrUndefined(i: number): number | undefined {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    return this.term(i);
  }

  matchTerm(i: number, term: number): boolean {
    return this.termOrUndefined(i) === term;
  }

  /** Raft's up-to-date rule (§5.4.1): a later last term wins, then a longer log. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries in `[lo, hi)` up to `maxBytes` (at least one when `lo < hi`).
   * Throws {@link CompactedError} when `lo < firstIndex()`.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo <= hi, `entries: lo ${lo} > hi ${hi}`);
    assert(hi <= this.lastIndex() + 1, `entries: hi ${hi} beyond last ${this.lastIndex()}`);
    if (lo < this.firstIndex()) throw new CompactedError(lo, this.firstIndex());
    if (lo === hi) return [];
    let out: Entry[] = [];
    if (lo < this.unstableOffset && !this.unstableSnapshot) {
      out = this.storage.entries(lo, Math.min(hi, this.unstableOffset), maxBytes);
      // Stop if storage already hit the byte limit before reaching the unstable tail.
      if (out.length < Math.min(hi, this.unstableOffset) - lo) return out;
    }
    if (hi > this.unstableOffset) {
      let bytes = 0;
      for (const e of out) bytes += entrySize(e);
      for (let i = Math.max(lo, this.unstableOffset); i < hi; i++) {
        const e = this.unstable[i - this.unstableOffset];
        bytes += entrySize(e);
        if (out.length > 0 && bytes > maxBytes) break;
        out.push(e);
      }
    }
    return out;
  }

  /**
   * Appends entries after whatever the log holds at `entries[0].index - 1`,
   * truncating any unstable or stored entries from `entries[0].index` on.
   * Requires `entries[0].index > committed` (committed entries never change).
   */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    assert(first > this.committed, `append: index ${first} would overwrite committed entries`);
    assert(first <= this.lastIndex() + 1, `append: gap before index ${first}`);
    if (first === this.unstableOffset + this.unstable.length) {
      for (const e of entries) this.unstable.push(e);
    } else if (first <= this.unstableOffset) {
      // Replace the whole unstable tail; storage from `first` on is shadowed.
      this.unstableOffset = first;
      this.unstable = [...entries];
    } else {
      this.unstable.length = first - this.unstableOffset;
      for (const e of entries) this.unstable.push(e);
    }
  }

  /**
   * The follower side of AppendEntries. If the log holds (`prevIndex`,
   * `prevTerm`), appends what is new in `entries` (truncating from the first
   * conflicting entry), advances the commit to `min(commit, last new index)`,
   * and returns the last new index with the index of the first entry actually
   * appended (0 when every entry was already present). Returns undefined when
   * the log does not match.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    commit: number,
    entries: Entry[],
  ): { lastNew: number; appendedFrom: number } | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    let conflictAt = -1;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k];
      assert(e.index === prevIndex + 1 + k, "maybeAppend: entries must be contiguous");
      if (!this.matchTerm(e.index, e.term)) {
        conflictAt = k;
        break;
      }
    }
    let appendedFrom = 0;
    if (conflictAt >= 0) {
      appendedFrom = entries[conflictAt].index;
      assert(
        appendedFrom > this.committed,
        `maybeAppend: entry ${appendedFrom} conflicts with the committed prefix (commit ${this.committed})`,
      );
      this.append(entries.slice(conflictAt));
    }
    this.commitTo(Math.min(commit, lastNew));
    return { lastNew, appendedFrom };
  }

  /** Raises the commit index; never lowers it. Requires `commit <= lastIndex()`. */
  commitTo(commit: number): void {
    if (commit <= this.committed) return;
    assert(
      commit <= this.lastIndex(),
      `commitTo: ${commit} beyond last index ${this.lastIndex()}`,
    );
    this.committed = commit;
  }

  /** Committed entries not yet handed out for applying, up to `maxBytes`. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed < lo) return [];
    return this.entries(lo, this.committed + 1, maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  appliedTo(index: number): void {
    if (index <= this.applied) return;
    assert(
      index <= this.committed,
      `appliedTo: ${index} beyond commit ${this.committed}`,
    );
    this.applied = index;
  }

  /** Marks unstable entries through (`index`, `term`) as persisted. */
  stableTo(index: number, term: number): void {
    if (index < this.unstableOffset) return;
    const k = index - this.unstableOffset;
    if (k >= this.unstable.length || this.unstable[k].term !== term) return;
    this.unstable = this.unstable.slice(k + 1);
    this.unstableOffset = index + 1;
  }

  /** Marks the unstable snapshot at `index` as persisted. */
  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot && this.unstableSnapshot.metadata.index === index) {
      this.unstableSnapshot = undefined;
    }
  }

  /** Replaces the whole log with a snapshot from the leader (not yet persisted). */
  restore(snap: Snapshot): void {
    const idx = snap.metadata.index;
    assert(idx > this.committed, `restore: snapshot ${idx} is not beyond commit ${this.committed}`);
    this.unstableSnapshot = snap;
    this.unstable = [];
    this.unstableOffset = idx + 1;
    this.committed = idx;
  }
}
