/**
 * Plain data types of the consensus core: log entries, hard state,
 * membership, snapshots, messages and the {@link Ready} batch.
 *
 * Everything here is plain data (JSON-serializable except for `Uint8Array`
 * payloads, which the host encodes on the wire), so a message can be signed,
 * sent over HTTP and decoded by the peer without any class machinery.
 *
 * @module
 */

/** Identifies a site in the cluster (its name). */
export type NodeId = string;

/**
 * One log entry. `index` starts at 1 and is contiguous; `term` never
 * decreases along the log.
 *
 * A `"normal"` entry's data is opaque to Raft (the host puts an ordered batch
 * of admitted transactions plus the leader's timestamp in it; a new leader
 * appends one with empty data). A `"confChange"` entry's data is the UTF-8
 * JSON of a {@link ConfChange}, written and read by the core only.
 */
export interface Entry {
  index: number;
  term: number;
  type: "normal" | "confChange";
  data: Uint8Array;
}

/**
 * What a site must persist about itself before it replies to anyone: the
 * latest term it has seen, whom it voted for in that term, and the highest
 * index it knows to be committed.
 */
export interface HardState {
  term: number;
  /** The candidate this site voted for in `term`, or `""` for none. */
  vote: NodeId;
  commit: number;
}

/** A membership configuration. A site is in at most one of the two lists. */
export interface ConfState {
  /** Sites that vote and count towards quorums. */
  voters: NodeId[];
  /** Sites that receive the log but never vote and never count. */
  learners: NodeId[];
}

/**
 * A single-server membership change (thesis §4.1). It takes effect on every
 * site as soon as that site appends the entry (not when it commits), and the
 * leader allows only one uncommitted change at a time.
 */
export interface ConfChange {
  type: "addLearner" | "promote" | "remove";
  node: NodeId;
}

/** Identifies the last entry a snapshot covers and the membership at that point. */
export interface SnapshotMetadata {
  index: number;
  term: number;
  confState: ConfState;
}

/** The host's applied state at `metadata.index`, opaque to Raft. */
export interface Snapshot {
  metadata: SnapshotMetadata;
  data: Uint8Array;
}

/**
 * The answer to a {@link RaftNode.readIndex} request: once the host has
 * applied up to `index`, a read made then is linearizable for the request
 * `ctx`.
 */
export interface ReadState {
  index: number;
  ctx: string;
}

/** The role a site plays. `"learner"` is a follower that may not vote. */
export type Role = "leader" | "follower" | "candidate" | "preCandidate" | "learner";

/** Volatile state the host may want to watch (leader changes, role changes). */
export interface SoftState {
  leader: NodeId | undefined;
  role: Role;
}

interface MessageBase {
  from: NodeId;
  to: NodeId;
  /** The sender's term (for a granted PreVoteResp: the term it was granted for). */
  term: number;
}

/** A (pre-)vote request. `transfer` marks an election started by MsgTimeoutNow. */
export interface VoteMessage extends MessageBase {
  type: "preVote" | "vote";
  lastIndex: number;
  lastTerm: number;
  transfer: boolean;
}

export interface VoteRespMessage extends MessageBase {
  type: "preVoteResp" | "voteResp";
  reject: boolean;
}

/** AppendEntries: `entries` follow the entry at (`prevIndex`, `prevTerm`). */
export interface AppMessage extends MessageBase {
  type: "app";
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
}

/**
 * The reply to an AppMessage. On success `index` is the last index the
 * follower now shares with the leader. On rejection `index` is the rejected
 * `prevIndex`, and the hint (thesis §5.3) is the follower's term at that index
 * (`conflictTerm`, 0 if its log is shorter) and the first index it holds of
 * that term (`conflictIndex`; its last index + 1 if the log is shorter).
 */
export interface AppRespMessage extends MessageBase {
  type: "appResp";
  index: number;
  reject: boolean;
  conflictTerm: number;
  conflictIndex: number;
}

/** A heartbeat; `ctx` is set when it also confirms leadership for a ReadIndex request. */
export interface HeartbeatMessage extends MessageBase {
  type: "heartbeat";
  commit: number;
  ctx: string | undefined;
}

export interface HeartbeatRespMessage extends MessageBase {
  type: "heartbeatResp";
  ctx: string | undefined;
}

/** InstallSnapshot, the whole snapshot in one message. */
export interface SnapshotMessage extends MessageBase {
  type: "snapshot";
  snapshot: Snapshot;
}

/** Leadership transfer: the receiver campaigns at once, skipping PreVote. */
export interface TimeoutNowMessage extends MessageBase {
  type: "timeoutNow";
}

/** A follower forwarding a linearizable-read request to the leader. */
export interface ReadIndexMessage extends MessageBase {
  type: "readIndex";
  ctx: string;
}

/** The leader's answer to a forwarded read: read after applying `index`. */
export interface ReadIndexRespMessage extends MessageBase {
  type: "readIndexResp";
  ctx: string;
  index: number;
}

/** Every message one site sends another. */
export type Message =
  | VoteMessage
  | VoteRespMessage
  | AppMessage
  | AppRespMessage
  | HeartbeatMessage
  | HeartbeatRespMessage
  | SnapshotMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexRespMessage;

/** The message type names. */
export type MessageType = Message["type"];

/**
 * A batch of work for the host, returned by {@link RaftNode.ready}.
 *
 * The host MUST handle it in this order:
 *
 * 1. Persist durably, in one atomic write if it can: `snapshot` (if any),
 *    then `entries` (appending; an entry whose index already exists replaces
 *    it and every entry after it), then `hardState` (if any). Nothing may be
 *    sent before this write is durable: a vote, or an acknowledgment of
 *    appended entries, that is sent and then forgotten in a crash breaks
 *    Raft's safety.
 * 2. Only then send `messages` (in any order; the network may also drop,
 *    duplicate and reorder them).
 * 3. Apply the snapshot's data (if any) to the state machine, then apply
 *    `committedEntries` in order, then serve `readStates` whose index has
 *    been applied.
 * 4. Call {@link RaftNode.advance} with this same object before calling
 *    `ready()` again.
 */
export interface Ready {
  /** Set when term, vote or commit changed since the last Ready. */
  hardState?: HardState;
  /** Entries to append to stable storage. */
  entries: Entry[];
  /** A snapshot received from the leader, to install in stable storage. */
  snapshot?: Snapshot;
  /** Messages to send once the writes above are durable. */
  messages: Message[];
  /** Committed entries to apply, in index order, contiguous with the last applied entry. */
  committedEntries: Entry[];
  /** Answers to ReadIndex requests. */
  readStates: ReadState[];
  /** Set when the leader or the role changed since the last Ready. */
  softState?: SoftState;
}

/** Per-follower replication progress as the leader sees it. */
export interface ProgressStatus {
  match: number;
  next: number;
  state: "probe" | "replicate" | "snapshot";
  recentActive: boolean;
  isLearner: boolean;
}

/** A snapshot of a site's consensus state, for monitoring and for hosts. */
export interface Status {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId;
  leader: NodeId | undefined;
  commitIndex: number;
  appliedIndex: number;
  firstIndex: number;
  lastIndex: number;
  confState: ConfState;
  /** Set when a leadership transfer is in progress. */
  leadTransferee: NodeId | undefined;
  /** Only on the leader. */
  progress?: Record<NodeId, ProgressStatus>;
}
