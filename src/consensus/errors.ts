/**
 * The two kinds of failure in the consensus core, kept apart (STYLE 6).
 *
 * - {@link AssertionError} is a programmer error: an internal invariant broke.
 *   It is thrown by {@link assert} and the host should stop the process rather
 *   than try to carry on with a state machine it can no longer trust.
 * - Every other class here is an operating error: part of a contract (for
 *   example {@link RaftStorage}'s), expected to happen, and handled by callers.
 *
 * @module
 */

/** A broken internal invariant. Never caught by the core; the process should stop. */
export class AssertionError extends Error {
  override name = "AssertionError";
}

/**
 * Throws an {@link AssertionError} when `condition` is false.
 *
 * Use it for invariants only (things that cannot happen unless the code is
 * wrong), never for input that a peer or the host may legitimately send.
 */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** The requested log index is below the storage's first index: it was compacted into a snapshot. */
export class CompactedError extends Error {
  override name = "CompactedError";
  constructor(readonly index: number, readonly firstIndex: number) {
    super(`Cannot read log index ${index}: compacted, the first index is ${firstIndex}`);
  }
}

/** The requested log index is above the storage's last index. */
export class UnavailableError extends Error {
  override name = "UnavailableError";
  constructor(readonly index: number, readonly lastIndex: number) {
    super(`Cannot read log index ${index}: unavailable, the last index is ${lastIndex}`);
  }
}

/**
 * The storage cannot produce a snapshot right now (for example one is being
 * built). The leader retries on a later heartbeat.
 */
export class SnapshotTemporarilyUnavailableError extends Error {
  override name = "SnapshotTemporarilyUnavailableError";
  constructor() {
    super("Cannot read snapshot: temporarily unavailable");
  }
}

/** A snapshot older than the one already held was offered to storage. */
export class SnapshotOutOfDateError extends Error {
  override name = "SnapshotOutOfDateError";
  constructor(readonly index: number, readonly currentIndex: number) {
    super(`Cannot apply snapshot at index ${index}: storage already holds index ${currentIndex}`);
  }
}

/**
 * A membership change was refused because it is invalid against the current
 * configuration (unknown site, promotion of a learner that is far behind,
 * removal of the last voter, ...). Transient refusals (not leader, a change
 * already pending) are reported by a `false` return instead.
 */
export class ConfChangeError extends Error {
  override name = "ConfChangeError";
}
