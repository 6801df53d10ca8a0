/**
 * Raft consensus among edge sites, as a pure deterministic state machine
 * (DESIGN §3). No clock, no randomness, no I/O: the host drives a
 * {@link RaftNode} with `tick()`, `step()` and proposals, and handles each
 * {@link Ready} (persist, then send, then apply, then `advance()`).
 *
 * This folder imports nothing from outside itself.
 *
 * A host loop, in outline:
 *
 * ```ts
 * const node = new RaftNode({ id, storage, electionTicks: 10, heartbeatTicks: 1,
 *   random: seededPrng, maxEntriesPerMsg: 64, maxBytesPerMsg: 1 << 20,
 *   maxInflightMsgs: 16, checkQuorum: true, preVote: true });
 * // on a timer: node.tick(); on a message: node.step(msg); on a write: node.propose(data)
 * while (node.hasReady()) {
 *   const rd = node.ready();
 *   persist(rd.snapshot, rd.entries, rd.hardState); // durable BEFORE sending
 *   send(rd.messages);
 *   applySnapshot(rd.snapshot); apply(rd.committedEntries); serveReads(rd.readStates);
 *   node.advance(rd);
 * }
 * // To bound the log: at an applied index i, save
 * //   storage.createSnapshot(i, node.confStateAt(i), stateMachineBytes)
 * // and then storage.compact(j) for some j <= i (keeping a tail for slow followers).
 * ```
 *
 * Error kinds: {@link AssertionError} is a broken invariant (stop the
 * process); every other error class is an operating error of a documented
 * contract.
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
export { decodeConfChange, encodeConfChange, forcedSoleVoter } from "./membership.ts";
export type * from "./types.ts";
