/**
 * Raft (Ongaro & Ousterhout 2014; Ongaro's thesis 2014) as a pure,
 * deterministic state machine, in the style of etcd/raft.
 *
 * A {@link RaftNode} never reads a clock, a random source, the network or the
 * disk. Time arrives as {@link RaftNode.tick}, randomness through the injected
 * `random` function, messages through {@link RaftNode.step}, and everything
 * the host must do (persist, send, apply) comes out of {@link RaftNode.ready}.
 *
 * @module
 */

import {
  assert,
  CompactedError,
  ConfChangeError,
  SnapshotTemporarilyUnavailableError,
} from "./errors.ts";
import {
  confChangeProblem,
  ConfHistory,
  encodeConfChange,
  isMember,
  quorum,
} from "./membership.ts";
import { Progress } from "./progress.ts";
import { RaftLog } from "./raft_log.ts";
import type { RaftStorage } from "./storage.ts";
import type {
  AppMessage,
  AppRespMessage,
  ConfChange,
  ConfState,
  Entry,
  HardState,
  HeartbeatMessage,
  HeartbeatRespMessage,
  Message,
  NodeId,
  ReadState,
  Ready,
  Role,
  SnapshotMessage,
  SoftState,
  Status,
  VoteMessage,
  VoteRespMessage,
} from "./types.ts";

/**
 * Deliberate bugs, for proving that the simulator's checker can fail. Never
 * set outside tests.
 */
export interface RaftTestingBugs {
  /** Commit an entry of an earlier term by counting replicas (the Figure 8 mistake). */
  commitOldTermEntries?: boolean;
  /** Grant votes without checking that the candidate's log is up to date (§5.4.1). */
  skipVoteUpToDateCheck?: boolean;
  /** Forget the persisted vote on restart, as if it had not been made durable before the reply. */
  forgetVoteOnRestart?: boolean;
  /** Propose a membership change while another is still uncommitted (thesis §4.1 allows one). */
  concurrentConfChanges?: boolean;
  /**
   * Propose a membership change before the leader has committed an entry of
   * its term (the single-server change bug, Ongaro, raft-dev, July 2015).
   */
  confChangeBeforeTermCommit?: boolean;
  /**
   * Answer `confStateAt()` with the membership after the last entry, so a
   * host's snapshot of its applied state carries a change not yet applied
   * (maybe never committed).
   */
  confStateAtLastIndex?: boolean;
  /** Stand on a leader's MsgTimeoutNow even while the host holds this site's campaigns. */
  campaignWhileHeld?: boolean;
}

/** How a {@link RaftNode} is configured. All limits are explicit (STYLE 8). */
export interface RaftConfig {
  id: NodeId;
  storage: RaftStorage;
  /**
   * Base election timeout in ticks. Each wait is drawn from
   * `[electionTicks, 2 * electionTicks)`. It is also the CheckQuorum period and
   * the leader lease. Requires `electionTicks > heartbeatTicks`.
   */
  electionTicks: number;
  /** Ticks between leader heartbeats. Requires `heartbeatTicks >= 1`. */
  heartbeatTicks: number;
  /** Returns a number in `[0, 1)`; seeded by the host so runs replay. */
  random: () => number;
  /** Entries per AppMessage, at least 1. */
  maxEntriesPerMsg: number;
  /** Bytes of entries per AppMessage (one oversized entry is still sent alone). */
  maxBytesPerMsg: number;
  /** Unacknowledged AppMessages per follower in the replicate state, at least 1. */
  maxInflightMsgs: number;
  /** Leader steps down when it has not heard from a quorum for an election timeout. */
  checkQuorum: boolean;
  /** Run a PreVote round before incrementing the term (thesis §9.6). */
  preVote: boolean;
  /**
   * The host's applied index on restart; defaults to `confIndex` from
   * {@link RaftStorage.initialState} (the latest snapshot's index).
   */
  applied?: number;
  /** Bytes of committed entries per Ready; default 16 × maxBytesPerMsg. */
  maxApplyBytesPerReady?: number;
  /** Proposals refused while this many entries are uncommitted; default 4096. */
  maxUncommittedEntries?: number;
  /** A learner more than this many entries behind may not be promoted; default 64. */
  maxPromoteLagEntries?: number;
  /** Queued ReadIndex requests on the leader; default 1024. */
  maxPendingReadIndexRequests?: number;
  /** Heartbeat replies without progress before a follower is probed again; default 3. */
  maxStalledHeartbeats?: number;
  /** Tests only. */
  testingBugs?: RaftTestingBugs;
}

type InternalRole = "follower" | "candidate" | "preCandidate" | "leader";

interface PendingRead {
  ctx: string;
  index: number;
  from: NodeId;
  acks: Set<NodeId>;
}

/**
 * One site's Raft state machine.
 *
 * Proposals: {@link propose} returns `false` (and does nothing) when this site
 * is not the leader, a leadership transfer is in progress, or too many entries
 * are uncommitted; the caller can find the leader in `status().leader`.
 */
export class RaftNode {
  readonly id: NodeId;
  readonly #electionTicks: number;
  readonly #heartbeatTicks: number;
  readonly #random: () => number;
  readonly #maxEntriesPerMsg: number;
  readonly #maxBytesPerMsg: number;
  readonly #maxInflightMsgs: number;
  readonly #checkQuorum: boolean;
  readonly #preVote: boolean;
  readonly #maxApplyBytesPerReady: number;
  readonly #maxUncommittedEntries: number;
  readonly #maxPromoteLagEntries: number;
  readonly #maxPendingReadIndexRequests: number;
  readonly #maxStalledHeartbeats: number;
  readonly #bugs: RaftTestingBugs;

  readonly #log: RaftLog;
  readonly #confs: ConfHistory;
  #term: number;
  #vote: NodeId;
  #leader: NodeId | undefined = undefined;
  #role: InternalRole = "follower";
  #prs = new Map<NodeId, Progress>();
  #votes = new Map<NodeId, boolean>();
  #msgs: Message[] = [];
  #readStates: ReadState[] = [];
  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #randomizedElectionTimeout = 0;
  #leadTransferee: NodeId | undefined = undefined;
  #pendingConfIndex = 0;
  /** ReadIndex requests waiting for a heartbeat quorum, oldest first. */
  #readQueue: PendingRead[] = [];
  /** ReadIndex requests waiting for the leader's first commit in its term. */
  #readsBeforeCommit: { ctx: string; from: NodeId }[] = [];
  #prevHardState: HardState;
  #prevSoftState: SoftState;
  #readyOutstanding = false;
  /** Set by the host while it cannot lead (see {@link holdCampaigns}). */
  #campaignsHeld = false;

  constructor(config: RaftConfig) {
    assert(config.id !== "", "RaftNode: id must not be empty");
    assert(config.heartbeatTicks >= 1, "RaftNode: heartbeatTicks must be at least 1");
    assert(
      config.electionTicks > config.heartbeatTicks,
      "RaftNode: electionTicks must exceed heartbeatTicks",
    );
    assert(config.maxEntriesPerMsg >= 1, "RaftNode: maxEntriesPerMsg must be at least 1");
    assert(config.maxBytesPerMsg >= 1, "RaftNode: maxBytesPerMsg must be at least 1");
    assert(config.maxInflightMsgs >= 1, "RaftNode: maxInflightMsgs must be at least 1");
    this.id = config.id;
    this.#electionTicks = config.electionTicks;
    this.#heartbeatTicks = config.heartbeatTicks;
    this.#random = config.random;
    this.#maxEntriesPerMsg = config.maxEntriesPerMsg;
    this.#maxBytesPerMsg = config.maxBytesPerMsg;
    this.#maxInflightMsgs = config.maxInflightMsgs;
    this.#checkQuorum = config.checkQuorum;
    this.#preVote = config.preVote;
    this.#maxApplyBytesPerReady = config.maxApplyBytesPerReady ?? 16 * config.maxBytesPerMsg;
    this.#maxUncommittedEntries = config.maxUncommittedEntries ?? 4096;
    this.#maxPromoteLagEntries = config.maxPromoteLagEntries ?? 64;
    this.#maxPendingReadIndexRequests = config.maxPendingReadIndexRequests ?? 1024;
    this.#maxStalledHeartbeats = config.maxStalledHeartbeats ?? 3;
    this.#bugs = config.testingBugs ?? {};

    const storage = config.storage;
    const { hardState, confState, confIndex } = storage.initialState();
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    assert(
      first - 1 <= confIndex && confIndex <= last,
      `RaftNode: confIndex ${confIndex} outside [${first - 1}, ${last}]`,
    );
    this.#confs = new ConfHistory(confIndex, confState);
    // Rebuild the configuration history from conf-change entries after it.
    for (let lo = confIndex + 1; lo <= last;) {
      const batch = storage.entries(lo, last + 1, this.#maxApplyBytesPerReady);
      this.#confs.appendEntries(batch);
      lo += batch.length;
    }
    const commit = Math.max(hardState.commit, confIndex);
    const applied = config.applied ?? confIndex;
    this.#log = new RaftLog(storage, commit, applied);
    this.#term = hardState.term;
    this.#vote = this.#bugs.forgetVoteOnRestart === true ? "" : hardState.vote;
    this.#prevHardState = { term: hardState.term, vote: hardState.vote, commit };
    this.#resetRandomizedElectionTimeout();
    this.#prevSoftState = this.#softState();
  }

  // ---------------------------------------------------------------- queries

  /** The membership in force after the last entry of this site's log. */
  confState(): ConfState {
    return this.#confs.at(this.#confs.currentIndex());
  }

  /**
   * The membership in force at `index`, for a host building a snapshot of
   * its applied state (see `MemoryStorage.createSnapshot`). Requires
   * `snapshotIndex <= index <= lastIndex` (any index from the applied index
   * on is fine).
   */
  confStateAt(index: number): ConfState {
    assert(index <= this.#log.lastIndex(), `confStateAt: ${index} is beyond the log`);
    if (this.#bugs.confStateAtLastIndex === true) return this.confState();
    return this.#confs.at(index);
  }

  status(): Status {
    const s: Status = {
      id: this.id,
      role: this.#publicRole(),
      term: this.#term,
      vote: this.#vote,
      leader: this.#leader,
      commitIndex: this.#log.committed,
      appliedIndex: this.#log.applied,
      firstIndex: this.#log.firstIndex(),
      lastIndex: this.#log.lastIndex(),
      confState: this.confState(),
      leadTransferee: this.#leadTransferee,
    };
    if (this.#role === "leader") {
      s.progress = {};
      for (const [id, pr] of this.#prs) s.progress[id] = pr.status();
    }
    return s;
  }

  /**
   * Tests only: every field of this node that can change, as plain data (no
   * class instances; entries and messages are the node's own objects, not
   * copies, and must not be mutated). Two nodes built with the same config
   * whose dumps are equal and whose storages hold the same state behave the
   * same on every future input, which is what lets the model checker
   * (test/raft_model_check.ts) treat them as one state. Keep it complete:
   * test/raft_model_check_test.ts checks that it names every `#` field of
   * this class that is not a config limit.
   */
  debugState(): Record<string, unknown> {
    const { storage: _storage, ...log } = this.#log;
    return {
      term: this.#term,
      vote: this.#vote,
      leader: this.#leader,
      role: this.#role,
      log: { ...log, unstable: [...log.unstable] },
      confs: this.#confs.items(),
      prs: [...this.#prs].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([id, pr]) => ({
        id,
        ...pr,
        inflights: pr.inflights.indexes(),
      })),
      votes: [...this.#votes].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
      msgs: [...this.#msgs],
      readStates: [...this.#readStates],
      electionElapsed: this.#electionElapsed,
      heartbeatElapsed: this.#heartbeatElapsed,
      randomizedElectionTimeout: this.#randomizedElectionTimeout,
      leadTransferee: this.#leadTransferee,
      pendingConfIndex: this.#pendingConfIndex,
      readQueue: this.#readQueue.map((r) => ({ ...r, acks: [...r.acks].sort() })),
      readsBeforeCommit: this.#readsBeforeCommit.map((r) => ({ ...r })),
      prevHardState: { ...this.#prevHardState },
      prevSoftState: { ...this.#prevSoftState },
      readyOutstanding: this.#readyOutstanding,
      campaignsHeld: this.#campaignsHeld,
    };
  }

  // ------------------------------------------------------------ host inputs

  /** Advances logical time by one tick. */
  tick(): void {
    if (this.#role === "leader") this.#tickLeader();
    else this.#tickElection();
  }

  /**
   * Appends a normal entry with opaque `data` if this site is the leader.
   * Returns false, doing nothing, when it is not the leader, when a
   * leadership transfer is in progress, or when `maxUncommittedEntries` are
   * already uncommitted. A `true` return is no promise of commitment: the
   * host learns of that from `committedEntries`.
   */
  propose(data: Uint8Array): boolean {
    if (this.#role !== "leader" || this.#leadTransferee !== undefined) return false;
    if (this.#log.lastIndex() - this.#log.committed >= this.#maxUncommittedEntries) return false;
    this.#appendEntries([{ type: "normal", data }]);
    this.#bcastAppend();
    return true;
  }

  /**
   * Proposes one membership change (thesis §4.1). Returns false, doing
   * nothing, when this site is not the leader, a transfer is in progress,
   * another change is still uncommitted, or the leader has not yet
   * committed an entry of its own term (needed for single-server changes
   * to stay safe across leader changes). Throws {@link ConfChangeError} when
   * the change is invalid for the current membership, or when it promotes
   * a learner whose match is more than `maxPromoteLagEntries` entries behind
   * (the caller should wait until `status().progress` shows it caught up).
   */
  proposeConfChange(cc: ConfChange): boolean {
    if (this.#role !== "leader" || this.#leadTransferee !== undefined) return false;
    if (this.#pendingConfIndex > this.#log.committed && this.#bugs.concurrentConfChanges !== true) {
      return false;
    }
    if (!this.#committedInCurrentTerm() && this.#bugs.confChangeBeforeTermCommit !== true) {
      return false;
    }
    const problem = confChangeProblem(this.#confs.current(), cc);
    if (problem !== undefined) {
      throw new ConfChangeError(`Cannot propose conf change ${cc.type} ${cc.node}: ${problem}`);
    }
    if (cc.type === "promote") {
      const pr = this.#prs.get(cc.node);
      const match = pr?.match ?? 0;
      if (match + this.#maxPromoteLagEntries < this.#log.lastIndex()) {
        throw new ConfChangeError(
          `Cannot promote learner ${cc.node}: match ${match} is more than ${this.#maxPromoteLagEntries} entries behind ${this.#log.lastIndex()}`,
        );
      }
    }
    this.#appendEntries([{ type: "confChange", data: encodeConfChange(cc) }]);
    this.#pendingConfIndex = this.#log.lastIndex();
    this.#bcastAppend();
    return true;
  }

  /**
   * Requests a linearizable read. The leader records its commit index,
   * confirms it is still leader with a heartbeat round, and then emits a
   * {@link ReadState} with `ctx`; a follower forwards the request to the
   * leader and emits the ReadState when the answer arrives. `ctx` must be
   * unique among outstanding requests. Returns false when the request was
   * dropped (no known leader, or too many queued); a true return is no
   * promise either (a message may be lost), so callers time out and retry.
   */
  readIndex(ctx: string): boolean {
    if (this.#role === "leader") return this.#handleReadIndex(this.id, ctx);
    if (this.#role === "follower" && this.#leader !== undefined) {
      this.#send({ type: "readIndex", to: this.#leader, term: this.#term, ctx, from: this.id });
      return true;
    }
    return false;
  }

  /**
   * Starts handing leadership to voter `to` (thesis §3.10): the leader stops
   * taking proposals, brings `to` up to date, then sends it MsgTimeoutNow so it
   * campaigns at once. Gives up after an election timeout. Returns false when
   * this site is not the leader or `to` is not another voter.
   */
  transferLeadership(to: NodeId): boolean {
    if (this.#role !== "leader" || to === this.id) return false;
    if (!this.#confs.current().voters.includes(to)) return false;
    if (this.#leadTransferee === to) return true;
    this.#leadTransferee = to;
    this.#electionElapsed = 0;
    const pr = this.#prs.get(to);
    assert(pr !== undefined, `transferLeadership: no progress for voter ${to}`);
    if (pr.match === this.#log.lastIndex()) this.#sendTimeoutNow(to);
    else this.#sendAppend(to, true);
    return true;
  }

  /**
   * While `held`, this site starts no election: neither when its election
   * timeout passes (it lets it run on, as a learner does, and stands at its
   * next tick once released if it has heard no leader meanwhile) nor on a leader's
   * MsgTimeoutNow (the transfer times out). It still votes, appends and
   * acknowledges, so it still counts towards a majority. A host holds
   * campaigns while it could not serve as leader: its state machine is
   * catching up to a snapshot, its log current but its applied state far
   * behind (etcd refuses to campaign, likewise, while its committed
   * membership changes are not applied). Holding them is as safe as a site
   * whose timer never fires; liveness needs some other voter able to win.
   */
  holdCampaigns(held: boolean): void {
    this.#campaignsHeld = held;
  }

  /**
   * Tells the leader whether sending a snapshot to `to` succeeded (the host
   * knows when its transfer failed). On failure the leader probes again and
   * resends when needed; on success it waits for the follower's reply. Without
   * a report the leader falls back to probing after `maxStalledHeartbeats`
   * heartbeat replies. Does nothing on a non-leader or for an unknown site.
   */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.#prs.get(to);
    if (this.#role !== "leader" || !pr || pr.state !== "snapshot") return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's reply (or the next heartbeat reply) before probing.
    pr.probeSent = true;
  }

  /** Feeds a message from a peer. Requires `msg.to` to be this site. */
  step(m: Message): void {
    assert(m.to === this.id, `step: message for ${m.to} delivered to ${this.id}`);
    if (m.term > this.#term) {
      if (m.type === "preVote" || m.type === "vote") {
        // Leader lease: while we heard from a live leader within the election
        // timeout, a vote request is most likely from a disrupted site; ignore
        // it without raising our term (unless it is a leadership transfer).
        const inLease = this.#checkQuorum && this.#leader !== undefined &&
          this.#electionElapsed < this.#electionTicks;
        if (inLease && !m.transfer) return;
      }
      if (m.type === "preVote") {
        // A PreVote never changes the receiver's term.
      } else if (m.type === "preVoteResp" && !m.reject) {
        // A granted PreVote carries the future term the candidate asked for.
      } else {
        const fromLeader = m.type === "app" || m.type === "heartbeat" || m.type === "snapshot";
        this.#becomeFollower(m.term, fromLeader ? m.from : undefined);
      }
    } else if (m.term < this.#term) {
      if (m.type === "app" || m.type === "heartbeat") {
        // Tell a stale leader about the newer term so it steps down.
        this.#send({
          type: "appResp",
          to: m.from,
          from: this.id,
          term: this.#term,
          index: 0,
          reject: true,
          conflictTerm: 0,
          conflictIndex: 0,
        });
      } else if (m.type === "preVote") {
        this.#send({
          type: "preVoteResp",
          to: m.from,
          from: this.id,
          term: this.#term,
          reject: true,
        });
      }
      return;
    }

    if (m.type === "preVote" || m.type === "vote") {
      this.#handleVoteRequest(m);
      return;
    }
    switch (this.#role) {
      case "leader":
        this.#stepLeader(m);
        break;
      case "candidate":
      case "preCandidate":
        this.#stepCandidate(m);
        break;
      case "follower":
        this.#stepFollower(m);
        break;
    }
  }

  // ---------------------------------------------------------------- Ready

  /** Whether {@link ready} has anything for the host. */
  hasReady(): boolean {
    return this.#msgs.length > 0 || this.#log.unstable.length > 0 ||
      this.#log.unstableSnapshot !== undefined || this.#log.hasNextCommittedEntries() ||
      this.#readStates.length > 0 || !sameHardState(this.#hardState(), this.#prevHardState) ||
      !sameSoftState(this.#softState(), this.#prevSoftState);
  }

  /**
   * Collects what the host must persist, send and apply (see {@link Ready}
   * for the ordering rule). Must be followed by {@link advance} with the same
   * object before the next call.
   */
  ready(): Ready {
    assert(!this.#readyOutstanding, "ready: the previous Ready was not advanced");
    const rd: Ready = {
      entries: [...this.#log.unstable],
      messages: this.#msgs,
      committedEntries: this.#log.nextCommittedEntries(this.#maxApplyBytesPerReady),
      readStates: this.#readStates,
    };
    if (this.#log.unstableSnapshot) rd.snapshot = this.#log.unstableSnapshot;
    const hs = this.#hardState();
    if (!sameHardState(hs, this.#prevHardState)) rd.hardState = hs;
    const ss = this.#softState();
    if (!sameSoftState(ss, this.#prevSoftState)) rd.softState = ss;
    this.#msgs = [];
    this.#readStates = [];
    this.#readyOutstanding = true;
    return rd;
  }

  /**
   * Tells the node the host has persisted, sent and applied `rd`, the value
   * returned by the last {@link ready}.
   */
  advance(rd: Ready): void {
    assert(this.#readyOutstanding, "advance: no outstanding Ready");
    this.#readyOutstanding = false;
    if (rd.hardState) this.#prevHardState = rd.hardState;
    if (rd.softState) this.#prevSoftState = rd.softState;
    if (rd.snapshot) {
      this.#log.stableSnapshotTo(rd.snapshot.metadata.index);
      this.#log.appliedTo(rd.snapshot.metadata.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      this.#log.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      this.#log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index);
    }
    this.#confs.prune(this.#log.firstIndex());
  }

  // ---------------------------------------------------------- role changes

  #resetRandomizedElectionTimeout(): void {
    const r = this.#random();
    assert(r >= 0 && r < 1, "random() must return a number in [0, 1)");
    this.#randomizedElectionTimeout = this.#electionTicks + Math.floor(r * this.#electionTicks);
  }

  #reset(term: number): void {
    if (term !== this.#term) {
      this.#term = term;
      this.#vote = "";
    }
    this.#leader = undefined;
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#resetRandomizedElectionTimeout();
    this.#leadTransferee = undefined;
    this.#votes = new Map();
    this.#prs = new Map();
    this.#readQueue = [];
    this.#readsBeforeCommit = [];
  }

  #becomeFollower(term: number, leader: NodeId | undefined): void {
    this.#reset(term);
    this.#role = "follower";
    this.#leader = leader;
  }

  #becomePreCandidate(): void {
    assert(this.#role !== "leader", "becomePreCandidate: a leader cannot pre-campaign");
    // Term and vote stay as they are: a PreVote round changes no durable state.
    this.#votes = new Map();
    this.#leader = undefined;
    this.#electionElapsed = 0;
    this.#resetRandomizedElectionTimeout();
    this.#role = "preCandidate";
  }

  #becomeCandidate(): void {
    assert(this.#role !== "leader", "becomeCandidate: a leader cannot campaign");
    this.#reset(this.#term + 1);
    this.#vote = this.id;
    this.#role = "candidate";
  }

  #becomeLeader(): void {
    assert(this.#role === "candidate", "becomeLeader: only a candidate can become leader");
    this.#reset(this.#term);
    this.#role = "leader";
    this.#leader = this.id;
    const last = this.#log.lastIndex();
    const cs = this.#confs.current();
    for (const id of [...cs.voters, ...cs.learners]) {
      const pr = new Progress(last + 1, this.#maxInflightMsgs, cs.learners.includes(id));
      this.#prs.set(id, pr);
    }
    const self = this.#prs.get(this.id);
    if (self) {
      self.maybeUpdate(last);
      self.becomeReplicate();
    }
    // Changes before this point must commit before another one is allowed.
    this.#pendingConfIndex = last;
    // A new leader appends an empty entry of its term, so that it can commit
    // (and learn the commit point of) everything before it (§5.4.2, §8).
    this.#appendEntries([{ type: "normal", data: new Uint8Array(0) }]);
    this.#bcastAppend();
  }

  // -------------------------------------------------------------- elections

  /**
   * Whether this site may campaign: it is a voter of its latest
   * configuration, or that configuration is not committed as far as this
   * site knows and it was a voter of the one in force at its commit index —
   * a voter whose own removal is still uncommitted. Such a site may hold the
   * only log that is ahead (a leader that removed itself and lost leadership
   * before the entry reached the others): if it never campaigned, voters
   * whose logs are behind could never win its vote, and with every site up
   * no leader would ever be elected again (openraft#2091). It counts only
   * the votes of its latest configuration's voters, never its own (a leader
   * may manage a configuration that does not include it, thesis §4.2.2), and
   * once the removal commits it steps down and never campaigns again.
   */
  #promotable(): boolean {
    if (this.#confs.current().voters.includes(this.id)) return true;
    const committed = this.#log.committed;
    return this.#confs.currentIndex() > committed &&
      this.#confs.at(committed).voters.includes(this.id);
  }

  #tickElection(): void {
    this.#electionElapsed++;
    // A site that may not stand lets its timer run on (as a learner's does):
    // once past the election timeout it no longer refuses votes for a
    // leader it stopped hearing (the lease in step), so others can win.
    if (
      this.#promotable() && !this.#campaignsHeld &&
      this.#electionElapsed >= this.#randomizedElectionTimeout
    ) {
      this.#electionElapsed = 0;
      this.#hup(false);
    }
  }

  #tickLeader(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.#electionTicks) {
      this.#electionElapsed = 0;
      if (this.#checkQuorum) {
        if (!this.#quorumActive()) {
          this.#becomeFollower(this.#term, undefined);
          return;
        }
        for (const [id, pr] of this.#prs) pr.recentActive = id === this.id;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.#leadTransferee = undefined;
    }
    if (this.#heartbeatElapsed >= this.#heartbeatTicks) {
      this.#heartbeatElapsed = 0;
      this.#bcastHeartbeat();
    }
  }

  #quorumActive(): boolean {
    const voters = this.#confs.current().voters;
    let active = 0;
    for (const v of voters) {
      if (v === this.id || this.#prs.get(v)?.recentActive) active++;
    }
    return active >= quorum(voters.length);
  }

  #hup(transfer: boolean): void {
    const held = this.#campaignsHeld && !(transfer && this.#bugs.campaignWhileHeld === true);
    if (this.#role === "leader" || !this.#promotable() || held) return;
    if (this.#preVote && !transfer) this.#campaign("preVote");
    else this.#campaign(transfer ? "transfer" : "election");
  }

  #campaign(kind: "preVote" | "election" | "transfer"): void {
    let voteTerm: number;
    if (kind === "preVote") {
      this.#becomePreCandidate();
      voteTerm = this.#term + 1;
    } else {
      this.#becomeCandidate();
      voteTerm = this.#term;
    }
    this.#votes.set(this.id, true);
    const result = this.#tally();
    if (result === "won") {
      if (kind === "preVote") this.#campaign("election");
      else this.#becomeLeader();
      return;
    }
    const lastIndex = this.#log.lastIndex();
    const lastTerm = this.#log.lastTerm();
    for (const v of this.#confs.current().voters) {
      if (v === this.id) continue;
      this.#send({
        type: kind === "preVote" ? "preVote" : "vote",
        from: this.id,
        to: v,
        term: voteTerm,
        lastIndex,
        lastTerm,
        transfer: kind === "transfer",
      });
    }
  }

  #tally(): "won" | "lost" | "pending" {
    const voters = this.#confs.current().voters;
    let granted = 0;
    let rejected = 0;
    for (const v of voters) {
      const g = this.#votes.get(v);
      if (g === true) granted++;
      else if (g === false) rejected++;
    }
    const q = quorum(voters.length);
    if (granted >= q) return "won";
    if (rejected > voters.length - q) return "lost";
    return "pending";
  }

  #handleVoteRequest(m: VoteMessage): void {
    const respType = m.type === "preVote" ? "preVoteResp" : "voteResp";
    const canVote = this.#vote === m.from ||
      (this.#vote === "" && this.#leader === undefined) ||
      (m.type === "preVote" && m.term > this.#term);
    // A site answers whatever its own view of the membership: that view may
    // be stale (a learner may not yet have appended its promotion). Only the
    // candidate's configuration decides whose answers count, so a learner's
    // vote never counts (see #tally).
    const upToDate = this.#bugs.skipVoteUpToDateCheck === true ||
      this.#log.isUpToDate(m.lastIndex, m.lastTerm);
    if (canVote && upToDate) {
      this.#send({ type: respType, from: this.id, to: m.from, term: m.term, reject: false });
      if (m.type === "vote") {
        this.#electionElapsed = 0;
        this.#vote = m.from;
      }
    } else {
      this.#send({ type: respType, from: this.id, to: m.from, term: this.#term, reject: true });
    }
  }

  #stepCandidate(m: Message): void {
    switch (m.type) {
      case "app":
        this.#becomeFollower(m.term, m.from);
        this.#handleApp(m);
        return;
      case "heartbeat":
        this.#becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case "snapshot":
        this.#becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return;
      case "preVoteResp":
      case "voteResp":
        this.#handleVoteResp(m);
        return;
      default:
        return;
    }
  }

  #handleVoteResp(m: VoteRespMessage): void {
    const expected = this.#role === "preCandidate" ? "preVoteResp" : "voteResp";
    if (m.type !== expected) return;
    if (!this.#votes.has(m.from)) this.#votes.set(m.from, !m.reject);
    const result = this.#tally();
    if (result === "won") {
      if (this.#role === "preCandidate") this.#campaign("election");
      else this.#becomeLeader();
    } else if (result === "lost") {
      this.#becomeFollower(this.#term, undefined);
    }
  }

  // -------------------------------------------------------------- follower

  #stepFollower(m: Message): void {
    switch (m.type) {
      case "app":
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#handleApp(m);
        return;
      case "heartbeat":
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#handleHeartbeat(m);
        return;
      case "snapshot":
        this.#electionElapsed = 0;
        this.#leader = m.from;
        this.#handleSnapshot(m);
        return;
      case "timeoutNow":
        this.#hup(true);
        return;
      case "readIndexResp":
        this.#readStates.push({ index: m.index, ctx: m.ctx });
        return;
      default:
        return;
    }
  }

  #replyApp(to: NodeId, index: number): void {
    this.#send({
      type: "appResp",
      from: this.id,
      to,
      term: this.#term,
      index,
      reject: false,
      conflictTerm: 0,
      conflictIndex: 0,
    });
  }

  #handleApp(m: AppMessage): void {
    const log = this.#log;
    if (m.prevIndex < log.committed) {
      // Everything up to our commit index already matches any leader's log.
      this.#replyApp(m.from, log.committed);
      return;
    }
    const r = log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (r !== undefined) {
      if (r.appendedFrom > 0) {
        this.#dropAcksFrom(r.appendedFrom);
        this.#confs.truncateFrom(r.appendedFrom);
        this.#confs.appendEntries(m.entries.slice(r.appendedFrom - m.prevIndex - 1));
      }
      this.#replyApp(m.from, r.lastNew);
      return;
    }
    // Our entry at our commit index is in every later leader's log (Leader
    // Completeness), so a mismatch there means safety is already broken.
    assert(
      m.prevIndex > log.committed,
      `leader completeness: ${m.from} lacks committed entry ${m.prevIndex} of ${this.id}`,
    );
    // Rejection with the fast back-off hint (thesis §5.3): our term at
    // prevIndex and the first index we hold of that term.
    let conflictTerm = 0;
    let conflictIndex = log.lastIndex() + 1;
    if (m.prevIndex <= log.lastIndex()) {
      conflictTerm = log.term(m.prevIndex);
      let i = m.prevIndex;
      const floor = Math.max(log.committed + 1, log.firstIndex());
      while (i - 1 >= floor && log.term(i - 1) === conflictTerm) i--;
      conflictIndex = i;
    }
    this.#send({
      type: "appResp",
      from: this.id,
      to: m.from,
      term: this.#term,
      index: m.prevIndex,
      reject: true,
      conflictTerm,
      conflictIndex,
    });
  }

  #handleHeartbeat(m: HeartbeatMessage): void {
    // The leader sends min(our match, its commit), so this never runs past our log.
    this.#log.commitTo(Math.min(m.commit, this.#log.lastIndex()));
    this.#send({ type: "heartbeatResp", from: this.id, to: m.from, term: this.#term, ctx: m.ctx });
  }

  #handleSnapshot(m: SnapshotMessage): void {
    const meta = m.snapshot.metadata;
    if (meta.index <= this.#log.committed) {
      this.#replyApp(m.from, this.#log.committed);
      return;
    }
    if (this.#log.matchTerm(meta.index, meta.term)) {
      // We already hold the snapshot's last entry: just fast-forward the commit.
      this.#log.commitTo(meta.index);
      this.#replyApp(m.from, meta.index);
      return;
    }
    // Our entries past the commit index are gone, whatever their index.
    this.#dropAcksFrom(this.#log.committed + 1);
    this.#log.restore(m.snapshot);
    this.#confs.reset(meta.index, meta.confState);
    this.#replyApp(m.from, meta.index);
  }

  /**
   * Withdraws the acknowledgments not yet handed out in a Ready of entries
   * at `index` or above, which this node has just replaced (a conflicting
   * append, a snapshot). The Ready that carries an acknowledgment persists
   * the log as it is when the Ready is made, so one queued before the
   * replacement would be sent after the entries it acknowledges were
   * overwritten: a leader of the older term could count a copy the follower
   * no longer holds towards committing them. Dropping it is as safe as
   * losing the message; the newer entries are acknowledged on their own.
   * Acknowledgments already handed out in a Ready were durable when sent.
   */
  #dropAcksFrom(index: number): void {
    this.#msgs = this.#msgs.filter((q) => q.type !== "appResp" || q.reject || q.index < index);
  }

  // ---------------------------------------------------------------- leader

  #stepLeader(m: Message): void {
    switch (m.type) {
      case "appResp":
        this.#handleAppResp(m);
        return;
      case "heartbeatResp":
        this.#handleHeartbeatResp(m);
        return;
      case "readIndex":
        this.#handleReadIndex(m.from, m.ctx);
        return;
      case "app":
      case "heartbeat":
      case "snapshot":
        assert(false, `election safety: two leaders in term ${this.#term} (${this.id}, ${m.from})`);
        return;
      default:
        return;
    }
  }

  #appendEntries(ents: Omit<Entry, "index" | "term">[]): void {
    const last = this.#log.lastIndex();
    const entries: Entry[] = ents.map((e, k) => ({
      index: last + 1 + k,
      term: this.#term,
      type: e.type,
      data: e.data,
    }));
    this.#log.append(entries);
    const confBefore = this.#confs.currentIndex();
    this.#confs.appendEntries(entries);
    if (this.#confs.currentIndex() !== confBefore) this.#syncProgressWithConf();
    this.#prs.get(this.id)?.maybeUpdate(this.#log.lastIndex());
    this.#maybeCommit();
  }

  /** Adds and removes progress trackers after the membership changed. */
  #syncProgressWithConf(): void {
    const cs = this.#confs.current();
    const last = this.#log.lastIndex();
    for (const id of [...this.#prs.keys()]) {
      if (!isMember(cs, id)) {
        this.#prs.delete(id);
        if (this.#leadTransferee === id) this.#leadTransferee = undefined;
      }
    }
    for (const id of [...cs.voters, ...cs.learners]) {
      const learner = cs.learners.includes(id);
      const pr = this.#prs.get(id);
      if (pr) pr.isLearner = learner;
      else this.#prs.set(id, new Progress(last + 1, this.#maxInflightMsgs, learner));
    }
  }

  #committedInCurrentTerm(): boolean {
    return this.#log.termOrUndefined(this.#log.committed) === this.#term;
  }

  /**
   * Advances the commit index to the highest index a quorum of voters holds,
   * but only if that entry is of the current term (§5.4.2, Figure 8): older
   * entries are committed indirectly. Returns whether it advanced.
   */
  #maybeCommit(): boolean {
    const voters = this.#confs.current().voters;
    const matches = voters.map((v) => this.#prs.get(v)?.match ?? 0).sort((a, b) => b - a);
    const idx = matches[quorum(voters.length) - 1];
    if (idx <= this.#log.committed) return false;
    if (this.#log.term(idx) !== this.#term && this.#bugs.commitOldTermEntries !== true) {
      return false;
    }
    this.#log.commitTo(idx);
    this.#onLeaderCommit();
    return true;
  }

  #onLeaderCommit(): void {
    // A leader that removed itself steps down once the removal commits (thesis §4.2.2).
    if (
      !isMember(this.#confs.current(), this.id) && this.#confs.currentIndex() <= this.#log.committed
    ) {
      this.#becomeFollower(this.#term, undefined);
      return;
    }
    if (this.#committedInCurrentTerm() && this.#readsBeforeCommit.length > 0) {
      const waiting = this.#readsBeforeCommit;
      this.#readsBeforeCommit = [];
      for (const r of waiting) this.#handleReadIndex(r.from, r.ctx);
    }
  }

  #send(m: Message): void {
    this.#msgs.push(m);
  }

  #bcastAppend(): void {
    for (const id of this.#prs.keys()) {
      if (id !== this.id) this.#sendAppend(id, true);
    }
  }

  #bcastHeartbeat(ctx?: string): void {
    const c = ctx ?? this.#readQueue[this.#readQueue.length - 1]?.ctx;
    for (const [id, pr] of this.#prs) {
      if (id === this.id) continue;
      this.#send({
        type: "heartbeat",
        from: this.id,
        to: id,
        term: this.#term,
        commit: Math.min(pr.match, this.#log.committed),
        ctx: c,
      });
    }
  }

  /**
   * Sends the next AppMessage to `to` if its progress is not paused (or a
   * snapshot if the entries it needs are compacted). Returns true when
   * entries were sent, so callers may loop to fill the in-flight window.
   */
  #sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.#prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const log = this.#log;
    const prevIndex = pr.next - 1;
    assert(prevIndex <= log.lastIndex(), `sendAppend: next ${pr.next} beyond the log for ${to}`);
    let prevTerm = log.termOrUndefined(prevIndex);
    let entries: Entry[] = [];
    if (prevTerm !== undefined && pr.next <= log.lastIndex()) {
      try {
        const hi = Math.min(log.lastIndex() + 1, pr.next + this.#maxEntriesPerMsg);
        entries = log.entries(pr.next, hi, this.#maxBytesPerMsg);
      } catch (e) {
        if (!(e instanceof CompactedError)) throw e;
        prevTerm = undefined;
      }
    }
    if (prevTerm === undefined) {
      this.#sendSnapshot(to, pr);
      return false;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.#send({
      type: "app",
      from: this.id,
      to,
      term: this.#term,
      prevIndex,
      prevTerm,
      entries,
      commit: log.committed,
    });
    if (pr.state === "replicate" && entries.length > 0) {
      const last = entries[entries.length - 1].index;
      pr.next = last + 1;
      pr.inflights.add(last);
    } else if (pr.state === "probe") {
      pr.probeSent = true;
    }
    return entries.length > 0 && pr.state === "replicate";
  }

  #sendSnapshot(to: NodeId, pr: Progress): void {
    let snap;
    try {
      snap = this.#log.storage.snapshot();
    } catch (e) {
      if (e instanceof SnapshotTemporarilyUnavailableError) return;
      throw e;
    }
    // The snapshot must cover everything the follower cannot get as entries.
    if (snap.metadata.index < this.#log.firstIndex() - 1) return;
    pr.becomeSnapshot(snap.metadata.index);
    this.#send({ type: "snapshot", from: this.id, to, term: this.#term, snapshot: snap });
  }

  #sendTimeoutNow(to: NodeId): void {
    this.#send({ type: "timeoutNow", from: this.id, to, term: this.#term });
  }

  /** The first index after the last entry of `term` in our log at or below `from`, or undefined. */
  #nextAfterTerm(term: number, from: number): number | undefined {
    const log = this.#log;
    for (let i = Math.min(from, log.lastIndex()); i >= log.firstIndex() - 1; i--) {
      const t = log.term(i);
      if (t === term) return i + 1;
      if (t < term) return undefined;
    }
    return undefined;
  }

  #handleAppResp(m: AppRespMessage): void {
    const pr = this.#prs.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (m.reject) {
      const hint = m.conflictTerm === 0
        ? m.conflictIndex
        : this.#nextAfterTerm(m.conflictTerm, m.index) ?? m.conflictIndex;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.#sendAppend(m.from, true);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === "probe") {
      pr.becomeReplicate();
    } else if (pr.state === "snapshot") {
      if (pr.match >= pr.pendingSnapshot) pr.becomeReplicate();
    } else {
      pr.inflights.freeLE(m.index);
    }
    if (this.#maybeCommit()) {
      if (this.#role !== "leader") return;
      this.#bcastAppend();
    } else if (oldPaused) {
      this.#sendAppend(m.from, true);
    }
    while (this.#sendAppend(m.from, false)) {
      // Fill the in-flight window; bounded by maxInflightMsgs.
    }
    if (m.from === this.#leadTransferee && pr.match === this.#log.lastIndex()) {
      this.#sendTimeoutNow(m.from);
    }
  }

  #handleHeartbeatResp(m: HeartbeatRespMessage): void {
    const pr = this.#prs.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.match < this.#log.lastIndex()) {
      // Messages may have been lost: after a few heartbeats without progress,
      // fall back to probing from the known match.
      pr.stalledHeartbeats++;
      if (pr.state !== "probe" && pr.stalledHeartbeats >= this.#maxStalledHeartbeats) {
        pr.becomeProbe();
      }
      // A probe goes out even when empty: its reply is how we learn the match.
      this.#sendAppend(m.from, pr.state === "probe");
    } else {
      pr.stalledHeartbeats = 0;
    }
    if (m.ctx !== undefined) this.#ackRead(m.from, m.ctx);
  }

  #handleReadIndex(from: NodeId, ctx: string): boolean {
    if (!this.#committedInCurrentTerm()) {
      // Until an entry of its term commits, the leader's commit index may lag.
      if (this.#readsBeforeCommit.length >= this.#maxPendingReadIndexRequests) return false;
      this.#readsBeforeCommit.push({ ctx, from });
      return true;
    }
    const voters = this.#confs.current().voters;
    const read = { ctx, index: this.#log.committed, from, acks: new Set<NodeId>() };
    if (voters.includes(this.id)) read.acks.add(this.id);
    if (read.acks.size >= quorum(voters.length)) {
      this.#answerRead(read);
      return true;
    }
    if (this.#readQueue.length >= this.#maxPendingReadIndexRequests) return false;
    if (this.#readQueue.some((r) => r.ctx === ctx)) return true;
    this.#readQueue.push(read);
    this.#bcastHeartbeat(ctx);
    return true;
  }

  #ackRead(from: NodeId, ctx: string): void {
    const voters = this.#confs.current().voters;
    if (!voters.includes(from)) return;
    const k = this.#readQueue.findIndex((r) => r.ctx === ctx);
    if (k < 0) return;
    const read = this.#readQueue[k];
    read.acks.add(from);
    let n = 0;
    for (const v of voters) if (read.acks.has(v)) n++;
    if (n < quorum(voters.length)) return;
    // A quorum confirmed leadership after every earlier request was queued too.
    const done = this.#readQueue.splice(0, k + 1);
    for (const r of done) this.#answerRead(r);
  }

  #answerRead(r: PendingRead): void {
    if (r.from === this.id) {
      this.#readStates.push({ index: r.index, ctx: r.ctx });
    } else {
      this.#send({
        type: "readIndexResp",
        from: this.id,
        to: r.from,
        term: this.#term,
        ctx: r.ctx,
        index: r.index,
      });
    }
  }

  // ----------------------------------------------------------------- misc

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#log.committed };
  }

  #publicRole(): Role {
    if (this.#role === "follower" && this.#confs.current().learners.includes(this.id)) {
      return "learner";
    }
    return this.#role;
  }

  #softState(): SoftState {
    return { leader: this.#leader, role: this.#publicRole() };
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}
