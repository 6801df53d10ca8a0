/**
 * Assertions for broken invariants (programmer errors), kept apart from the
 * typed errors callers handle. A failed assertion means the process must
 * stop: continuing could write a wrong block.
 *
 * @module
 */

/** Thrown only by {@link assert}; never caught to continue. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`Invariant broken: ${message}`);
    this.name = "AssertionError";
  }
}

/** Throws {@link AssertionError} unless `condition` holds. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
