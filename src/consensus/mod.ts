/**
 * Raft consensus among edge sites, as a pure deterministic state machine
 * (DESIGN §3). No clock, no randomness, no I/O: the host drives a
 * {@link RaftNode} with `tick()`, `step()` and proposals, and handles each
 * {@link Ready} (persist, then send, then apply, then `advance()`).
 *
 * This folder imports nothing from outside itself.
 *
 * @module
 */

export { RaftNode } from "./raft.ts";
export type { RaftConfig, RaftTestingBugs } from "./raft.ts";
export { cloneConfState, entryOverheadBytes, entrySize, MemoryStorage } from "./storage.ts";
export type { RaftStorage } from "./storage.ts";
export {
  AssertionError,
  CompactedError,
  ConfChangeError,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from "./errors.ts";
export { decodeConfChange, encodeConfChange } from "./membership.ts";
export type * from "./types.ts";
