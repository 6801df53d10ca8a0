/**
 * The leader's view of one follower's replication: how far its log matches,
 * what to send next, and the flow-control state.
 *
 * - `probe`: the leader does not know where the follower's log diverges. It
 *   sends one AppMessage and waits for the reply (or the next heartbeat
 *   reply) before sending another.
 * - `replicate`: the follower is known to match up to `match`. The leader
 *   streams entries optimistically (advancing `next` as it sends), with at
 *   most `inflightMsgsMax` unacknowledged messages outstanding.
 * - `snapshot`: the follower needs entries the leader has compacted; a
 *   snapshot is on its way and nothing else is sent until it is acknowledged
 *   (or the leader gives up and probes again).
 *
 * @module
 */

import { assert } from "./errors.ts";
import type { ProgressStatus } from "./types.ts";

/**
 * A bounded FIFO of the last index carried by each in-flight AppMessage,
 * used as a sliding window in the `replicate` state.
 */
export class Inflights {
  #buf: number[] = [];

  constructor(readonly capacity: number) {
    assert(capacity >= 1, "Inflights: capacity must be at least 1");
  }

  get count(): number {
    return this.#buf.length;
  }

  full(): boolean {
    return this.#buf.length >= this.capacity;
  }

  /** Records a sent message whose last entry is `lastIndex`. Requires not full and increasing indexes. */
  add(lastIndex: number): void {
    assert(!this.full(), "Inflights.add: window is full");
    const n = this.#buf.length;
    assert(n === 0 || this.#buf[n - 1] < lastIndex, "Inflights.add: indexes must increase");
    this.#buf.push(lastIndex);
  }

  /** Frees every in-flight message whose last index is at or below `index`. */
  freeLE(index: number): void {
    let k = 0;
    while (k < this.#buf.length && this.#buf[k] <= index) k++;
    if (k > 0) this.#buf.splice(0, k);
  }

  reset(): void {
    this.#buf.length = 0;
  }

  /** A copy of the in-flight last indexes, oldest first (for tests' state dumps). */
  indexes(): number[] {
    return [...this.#buf];
  }
}

export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  /** The highest index known to match the leader's log. */
  match = 0;
  /** The next index to send. Invariant: `match < next`. */
  next: number;
  state: ProgressState = "probe";
  /** In `probe`, set after one message is sent; cleared by a reply or heartbeat reply. */
  probeSent = false;
  /** In `snapshot`, the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = true;
  /** Consecutive heartbeat replies without `match` moving while behind: detects lost messages. */
  stalledHeartbeats = 0;
  readonly inflights: Inflights;

  constructor(next: number, inflightMsgsMax: number, public isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(inflightMsgsMax);
  }

  #reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.stalledHeartbeats = 0;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === "snapshot") {
      const pending = this.pendingSnapshot;
      this.#reset("probe");
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#reset("probe");
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.#reset("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.#reset("snapshot");
    this.pendingSnapshot = snapshotIndex;
  }

  /**
   * Records an acknowledgment up to `index`. Returns false when it is stale
   * (does not raise `match`).
   */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      this.probeSent = false;
      this.stalledHeartbeats = 0;
      updated = true;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /**
   * Handles a rejection of the AppMessage whose `prevIndex` was `rejected`,
   * moving `next` back to `hintNext` (clamped so that `match < next <= rejected`).
   * Returns false when the rejection is stale and was ignored.
   */
  maybeDecrTo(rejected: number, hintNext: number): boolean {
    if (this.state === "replicate") {
      // A rejection at or below match answers an older message.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe, only the reply to the probe in flight counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hintNext), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader should hold back AppMessages to this follower. */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }

  status(): ProgressStatus {
    return {
      match: this.match,
      next: this.next,
      state: this.state,
      recentActive: this.recentActive,
      isLearner: this.isLearner,
    };
  }
}
