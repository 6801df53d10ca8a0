/**
 * The storage contract the consensus core reads its durable state through,
 * and an in-memory implementation for unit tests and the simulator.
 *
 * The core only ever reads storage; the host writes it while handling a
 * {@link Ready} (see the ordering rule there). Methods are synchronous: a
 * host backed by a database keeps what the core needs in memory.
 *
 * @module
 */

import { assert, CompactedError, SnapshotOutOfDateError, UnavailableError } from "./errors.ts";
import type { ConfState, Entry, HardState, Snapshot } from "./types.ts";

/** Bytes counted for an entry's fixed fields when sizing batches. */
export const entryOverheadBytes = 16;

/** The size an entry counts for against a byte limit. */
export function entrySize(entry: Entry): number {
  return entry.data.byteLength + entryOverheadBytes;
}

/**
 * Read access to a site's durable Raft state.
 *
 * The log is the contiguous range `[firstIndex(), lastIndex()]`. Index
 * `firstIndex() - 1` is the last index covered by the latest snapshot (0 when
 * there is none); its term is still available through `term()`.
 */
export interface RaftStorage {
  /**
   * The persisted hard state, and the membership `confState` in force at
   * index `confIndex`: the latest snapshot's index, which may be above
   * `firstIndex() - 1` when the log was compacted less far than the snapshot.
   * Requires `firstIndex() - 1 <= confIndex <= lastIndex()`.
   */
  initialState(): { hardState: HardState; confState: ConfState; confIndex: number };
  /**
   * Entries in `[lo, hi)`, stopping early once their total size would exceed
   * `maxBytes` (always at least one entry when `lo < hi`).
   * Requires `lo <= hi`. Throws {@link CompactedError} when
   * `lo < firstIndex()` and {@link UnavailableError} when `hi > lastIndex() + 1`.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /**
   * The term of the entry at index `i`, for `firstIndex() - 1 <= i <= lastIndex()`.
   * Throws {@link CompactedError} below and {@link UnavailableError} above that range.
   */
  term(i: number): number;
  /** The index of the first entry still in the log (the latest snapshot's index + 1). */
  firstIndex(): number;
  /** The index of the last entry (the latest snapshot's index when the log is empty). */
  lastIndex(): number;
  /**
   * The latest snapshot. May throw `SnapshotTemporarilyUnavailableError`
   * when one is being built; the leader then retries later.
   */
  snapshot(): Snapshot;
}

/**
 * An in-memory {@link RaftStorage}. Whatever it holds is what a crashed site
 * restarts with, so the simulator treats it as the site's disk.
 */
export class MemoryStorage implements RaftStorage {
  #hardState: HardState = { term: 0, vote: "", commit: 0 };
  #snapshot: Snapshot;
  /** The compaction point: entries at or below it are gone; its term is kept. */
  #offset = 0;
  #offsetTerm = 0;
  /** `#entries[k]` has index `#offset + 1 + k`. */
  #entries: Entry[] = [];

  /**
   * Starts with an empty log and the cluster's genesis membership at index 0.
   * Every site, including one that will only join later, must start from
   * the same genesis membership: conf-change entries in the log are applied
   * on top of it.
   */
  constructor(initialConf: ConfState) {
    this.#snapshot = {
      metadata: { index: 0, term: 0, confState: cloneConfState(initialConf) },
      data: new Uint8Array(0),
    };
  }

  initialState(): { hardState: HardState; confState: ConfState; confIndex: number } {
    return {
      hardState: { ...this.#hardState },
      confState: cloneConfState(this.#snapshot.metadata.confState),
      confIndex: this.#snapshot.metadata.index,
    };
  }

  firstIndex(): number {
    return this.#offset + 1;
  }

  lastIndex(): number {
    return this.#offset + this.#entries.length;
  }

  term(i: number): number {
    if (i < this.#offset) throw new CompactedError(i, this.firstIndex());
    if (i > this.lastIndex()) throw new UnavailableError(i, this.lastIndex());
    if (i === this.#offset) return this.#offsetTerm;
    return this.#entries[i - this.#offset - 1].term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo <= hi, `entries(${lo}, ${hi}): lo must not exceed hi`);
    if (lo < this.firstIndex()) throw new CompactedError(lo, this.firstIndex());
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.#entries[i - this.#offset - 1];
      bytes += entrySize(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Persists the hard state from a {@link Ready}. */
  setHardState(hs: HardState): void {
    this.#hardState = { ...hs };
  }

  /** The persisted hard state. */
  hardState(): HardState {
    return { ...this.#hardState };
  }

  /**
   * Appends entries from a {@link Ready}. Entries must be contiguous; an entry
   * whose index already exists replaces it and everything after it. Entries
   * at or below the compaction point are skipped (they are already covered).
   */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    for (let k = 1; k < entries.length; k++) {
      assert(entries[k].index === entries[k - 1].index + 1, "append: entries must be contiguous");
    }
    const first = entries[0].index;
    assert(first <= this.lastIndex() + 1, `append: gap before index ${first}`);
    let from = 0;
    if (first <= this.#offset) {
      from = this.#offset + 1 - first;
      if (from >= entries.length) return;
    }
    const start = entries[from].index;
    this.#entries.length = start - this.#offset - 1;
    for (let k = from; k < entries.length; k++) this.#entries.push(entries[k]);
  }

  /**
   * Installs a snapshot received from the leader (from a {@link Ready}),
   * discarding the whole log. Throws {@link SnapshotOutOfDateError} if it is
   * older than the snapshot held.
   */
  applySnapshot(snap: Snapshot): void {
    const current = this.#snapshot.metadata.index;
    if (snap.metadata.index < current) {
      throw new SnapshotOutOfDateError(snap.metadata.index, current);
    }
    this.#snapshot = {
      metadata: { ...snap.metadata, confState: cloneConfState(snap.metadata.confState) },
      data: snap.data,
    };
    this.#offset = snap.metadata.index;
    this.#offsetTerm = snap.metadata.term;
    this.#entries = [];
  }

  /**
   * Records a snapshot of the host's applied state at `index` (requires
   * `snapshotIndex <= index <= lastIndex()`), with the membership at that
   * index (see `RaftNode.confStateAt`). Does not compact; call
   * {@link compact} afterwards. Throws {@link SnapshotOutOfDateError} if it
   * is older than the snapshot held.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    const current = this.#snapshot.metadata.index;
    if (index < current) throw new SnapshotOutOfDateError(index, current);
    assert(index <= this.lastIndex(), `createSnapshot: index ${index} is beyond the log`);
    this.#snapshot = {
      metadata: { index, term: this.term(index), confState: cloneConfState(confState) },
      data,
    };
    return this.#snapshot;
  }

  /**
   * Discards entries up to and including `index`, which must not exceed the
   * latest snapshot's index (a follower sent that snapshot must be able to
   * continue from the entry after it). Compacting at or below the current
   * compaction point does nothing.
   */
  compact(index: number): void {
    if (index <= this.#offset) return;
    assert(
      index <= this.#snapshot.metadata.index,
      `compact: index ${index} is beyond the latest snapshot ${this.#snapshot.metadata.index}`,
    );
    const term = this.term(index);
    this.#entries = this.#entries.slice(index - this.#offset);
    this.#offset = index;
    this.#offsetTerm = term;
  }
}

/** A deep copy of a membership configuration. */
export function cloneConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}
