/**
 * Single-server membership changes (thesis §4.1, §4.2.1) as pure functions,
 * and the history of configurations along a site's log.
 *
 * A configuration takes effect on a site as soon as the conf-change entry is
 * in its log (appended, not committed), so the history must be able to roll
 * back when a follower truncates uncommitted entries.
 *
 * @module
 */

import { assert, ConfChangeError } from "./errors.ts";
import { cloneConfState } from "./storage.ts";
import type { ConfChange, ConfState, Entry, HardState, NodeId } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a change as a conf-change entry's data (UTF-8 JSON). */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify({ type: cc.type, node: cc.node }));
}

/** Decodes a conf-change entry's data. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  const v = JSON.parse(decoder.decode(data)) as ConfChange;
  assert(
    (v.type === "addLearner" || v.type === "promote" || v.type === "remove") &&
      typeof v.node === "string",
    "decodeConfChange: malformed conf-change entry",
  );
  return v;
}

/**
 * Why `cc` cannot be applied to `cs`, or undefined when it can. An addition
 * needs a site that is not a member; a promotion needs a learner; a removal
 * needs a member and must leave at least one voter.
 */
export function confChangeProblem(cs: ConfState, cc: ConfChange): string | undefined {
  const isVoter = cs.voters.includes(cc.node);
  const isLearner = cs.learners.includes(cc.node);
  switch (cc.type) {
    case "addLearner":
      return isVoter || isLearner ? `site ${cc.node} is already a member` : undefined;
    case "promote":
      return isLearner ? undefined : `site ${cc.node} is not a learner`;
    case "remove":
      if (!isVoter && !isLearner) return `site ${cc.node} is not a member`;
      if (isVoter && cs.voters.length === 1) return `site ${cc.node} is the last voter`;
      return undefined;
  }
}

/** The configuration after `cc`. Throws {@link ConfChangeError} when `cc` is invalid for `cs`. */
export function applyConfChange(cs: ConfState, cc: ConfChange): ConfState {
  const problem = confChangeProblem(cs, cc);
  if (problem !== undefined) {
    throw new ConfChangeError(`Cannot apply conf change ${cc.type} ${cc.node}: ${problem}`);
  }
  const out = cloneConfState(cs);
  switch (cc.type) {
    case "addLearner":
      out.learners.push(cc.node);
      break;
    case "promote":
      out.learners = out.learners.filter((n) => n !== cc.node);
      out.voters.push(cc.node);
      break;
    case "remove":
      out.learners = out.learners.filter((n) => n !== cc.node);
      out.voters = out.voters.filter((n) => n !== cc.node);
      break;
  }
  return out;
}

/** The smallest number of voters that forms a majority of `n`. */
export function quorum(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * The configurations in force along a log: element 0 is the base (as of the
 * snapshot index), each later element is the configuration from a
 * conf-change entry at `index` on. Indexes strictly increase.
 */
export class ConfHistory {
  #items: { index: number; conf: ConfState }[];

  constructor(baseIndex: number, base: ConfState) {
    this.#items = [{ index: baseIndex, conf: cloneConfState(base) }];
  }

  /** The configuration in force after the last entry of the log. */
  current(): ConfState {
    return this.#items[this.#items.length - 1].conf;
  }

  /** The index of the latest conf-change entry (or the base index). */
  currentIndex(): number {
    return this.#items[this.#items.length - 1].index;
  }

  /**
   * The configuration in force at `index`. Requires `index` to be at or
   * above the base index (which moves forward on {@link prune}).
   */
  at(index: number): ConfState {
    assert(index >= this.#items[0].index, `ConfHistory.at: ${index} is below the base`);
    for (let k = this.#items.length - 1; k >= 0; k--) {
      if (this.#items[k].index <= index) return cloneConfState(this.#items[k].conf);
    }
    throw new Error("unreachable");
  }

  /** Records the conf-change entries among `entries` (appended in order after everything recorded). */
  appendEntries(entries: Entry[]): void {
    for (const e of entries) {
      if (e.type !== "confChange") continue;
      assert(e.index > this.currentIndex(), "ConfHistory: conf entries must be appended in order");
      const cc = decodeConfChange(e.data);
      // The leader validated this change against the same log prefix.
      const problem = confChangeProblem(this.current(), cc);
      assert(problem === undefined, `ConfHistory: invalid conf entry ${e.index}: ${problem}`);
      this.#items.push({ index: e.index, conf: applyConfChange(this.current(), cc) });
    }
  }

  /** Forgets configurations from entries at `index` or later (a follower truncated them). */
  truncateFrom(index: number): void {
    while (this.#items.length > 1 && this.#items[this.#items.length - 1].index >= index) {
      this.#items.pop();
    }
    assert(this.#items[0].index < index, "ConfHistory: cannot truncate the base configuration");
  }

  /** Replaces everything with the configuration of a snapshot. */
  reset(baseIndex: number, base: ConfState): void {
    this.#items = [{ index: baseIndex, conf: cloneConfState(base) }];
  }

  /** Drops configurations that no index at or above `firstIndex - 1` can need. */
  prune(firstIndex: number): void {
    let k = 0;
    while (k + 1 < this.#items.length && this.#items[k + 1].index <= firstIndex - 1) k++;
    if (k > 0) this.#items.splice(0, k);
  }

  get length(): number {
    return this.#items.length;
  }

  /** A copy of every recorded configuration, oldest first (for tests' state dumps). */
  items(): { index: number; conf: ConfState }[] {
    return this.#items.map((it) => ({ index: it.index, conf: cloneConfState(it.conf) }));
  }
}

/** Whether `id` is a voter or learner in `cs`. */
export function isMember(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.learners.includes(id);
}

/**
 * Disaster recovery, outside Raft (etcd's `--force-new-cluster`): what a
 * stopped voter `self`, left alone by the loss of its configuration's
 * majority, appends to its log to be the only voter — one `remove` entry
 * per other voter of `conf` (the configuration its log ends with) after its
 * last entry `last`, in a term above any it has seen (`hardState.term`,
 * `last.term`), everything up to them committed. Entries already after the
 * commit index stay and become committed: the lost majority may have
 * committed them. Learners stay. No entries when `self` is the only voter
 * already. Throws {@link ConfChangeError} when `self` is no voter of `conf`.
 */
export function forcedSoleVoter(
  self: NodeId,
  conf: ConfState,
  last: { index: number; term: number },
  hardState: HardState,
): { entries: Entry[]; hardState: HardState } {
  if (!conf.voters.includes(self)) {
    throw new ConfChangeError(`Cannot make ${self} the only voter: it is no voter`);
  }
  const term = Math.max(hardState.term, last.term) + 1;
  const entries: Entry[] = conf.voters.filter((v) => v !== self).map((node, i) => ({
    index: last.index + 1 + i,
    term,
    type: "confChange",
    data: encodeConfChange({ type: "remove", node }),
  }));
  if (entries.length === 0) return { entries, hardState };
  return { entries, hardState: { term, vote: self, commit: entries.at(-1)!.index } };
}
