/**
 * A bounded exhaustive model checker of the real Raft core, in the style of
 * implementation-level model checking (TLC run over the code itself, as
 * stateright and "model checking the implementation" do): it drives the
 * real {@link RaftNode} and {@link MemoryStorage} of `src/consensus/`, never
 * a re-implementation, explores every schedule of a small cluster up to a
 * bound, and checks Raft's safety properties in every state it reaches.
 *
 * **The model.** A state is N voters and any spare sites — each a
 * `RaftNode` over its `MemoryStorage` (its disk: hard state, latest
 * snapshot, entries after it), plus the Ready its host is handling, if any
 * — the network, the counters the bounds limit, and three history variables
 * the invariants need: the leader seen in each term, every entry ever known
 * committed with the term it was first known committed in, and what was
 * committed when each read began. From a state, the actions are:
 *
 * - `deliver m`: any one message in the network reaches its site.
 * - `drop m` (bag network with `drop` only): a message is removed unread.
 * - `timeout s`: a site's timer fires. Ticks are abstracted: a follower or
 *   candidate is ticked until it campaigns (from 0 its election timer is
 *   deterministic: the injected `random` is constant, electionTicks is 2),
 *   a leader is ticked once (its heartbeat; with CheckQuorum every second
 *   leader tick is also its quorum check).
 * - `propose s`: a client write at a leader (data `p1`, `p2`, …).
 * - `read s`: a ReadIndex request at any site (ctx `r1`, …).
 * - `restart s`: the site crashes and restarts at once from what its disk
 *   holds (a site that stays down is one whose messages are not delivered
 *   and whose timer does not fire, which other schedules cover).
 * - `persist s` (async host only): the host finishes the Ready it holds.
 * - `confChange s addLearner t`, `confChange s promote t`, `confChange s
 *   remove t`: a membership change at a leader, one site at a time, as
 *   `proposeConfChange` takes them (raft_host's membership routes): any
 *   change valid for the leader's membership — add a site that is no
 *   member (a spare, or a removed site again) as a learner, promote a
 *   learner, remove any member but the last voter, the leader itself
 *   included. The core refuses (and the action is skipped) while another
 *   change is uncommitted or before the leader has committed an entry of
 *   its term. Spare sites (`spares`, s4… for 3 voters) start with an empty
 *   disk and the genesis membership, as a site that joins later does.
 * - `compact s`: the site's host snapshots its applied state and compacts
 *   its log up to it, as raft_host's `#maybeSnapshot` does between Readies
 *   (it keeps `compactKeepEntries` entries before the snapshot; the model
 *   keeps none, so a site behind it needs an InstallSnapshot). A
 *   snapshot's data is the state machine: the entries applied up to it
 *   (their keys, without a conf change's content, so that it names no
 *   site); its metadata carries the membership at its index. A restart
 *   starts from the snapshot on disk, with the state machine it holds.
 * - `transfer s->t`: leadership transfer (`transferLeadership`) from a
 *   leader to another voter of its membership: it stops taking proposals,
 *   catches `t` up and sends MsgTimeoutNow, on which `t` campaigns at once
 *   (without PreVote, through a leader lease).
 * - `hold s`, `release s`: the host holds a site's campaigns
 *   (`holdCampaigns(true)`, as raft_host.ts does while the site catches up
 *   to a snapshot; not a leader's) or releases them. A restart releases
 *   them (the host holds them again only if it is still catching up).
 *
 * **The host.** Each site's host handles Ready batches as a real one does.
 * `"sync"` is test/raft_harness.ts: after every input the host persists,
 * sends, applies and advances until no Ready is left, atomically. `"async"`
 * is src/site/raft_host.ts (as test/raft_sim.ts models it): after an input
 * an idle host takes the Ready at once, a leader's messages leave then,
 * before its write (thesis §10.2.1; not when the Ready changes term or vote
 * or carries a commit covering its own entries), and the Ready is finished —
 * persist, send the rest, apply, advance — by a separate `persist` action,
 * so messages, timeouts and proposals reach the node meanwhile and a crash
 * loses the Ready's writes.
 *
 * **Fault model.** The network is either a `"set"` of every message ever
 * sent, never consumed by a delivery — as Lamport's Paxos specification
 * models it: loss (a message never delivered, which no site can tell from a
 * lost one), reordering and duplication, all without an action of their
 * own — or a `"bag"` (multiset) of messages in flight, each delivery
 * consuming one: loss and reordering, and with `drop` explicit loss, which
 * matters only against the in-flight bound. Crashes: up to `crashes`
 * restarts, each losing what is not on disk. Not modelled: partitions as
 * such (a partition is a schedule that delivers nothing across it), more
 * than one entry per message (`maxEntriesPerMsg` 1, which lets a leader
 * send an old-term entry on its own, as Figure 8 needs), a compaction
 * that keeps entries before the snapshot, `reportSnapshot` (the leader
 * learns of a lost snapshot only by its heartbeat replies), the promotion
 * lag limit (`maxPromoteLagEntries` is never reached in such short logs),
 * the host's removed-site handling (a removed site's host stops ticking;
 * here it keeps its timer, which only allows more), and forced recovery
 * (`forcedSoleVoter`, outside Raft).
 *
 * **Invariants**, checked in every state reached (and on every transition
 * for the ones about transitions):
 *
 * - Election Safety: at most one leader per term, across history.
 * - Log Matching: two logs (any site's current log, or what its disk holds)
 *   with an entry of the same index and term hold the same entry there,
 *   after an entry of the same term, so they are identical as far back as
 *   both hold entries; a compacted prefix is a snapshot, whose last index
 *   and term count as an entry.
 * - Leader Completeness: an entry known committed while its knower was in
 *   term T is in the log (or snapshot) of every leader of a term above T.
 *   And, looking ahead as the paper's proof does (§5.4.3): no log without
 *   a committed entry could win an election, that is, fewer than a quorum
 *   of the voters of the membership that log ends with (whose votes its
 *   candidate counts) have a current log or a disk no more up to date
 *   than it. With membership changes this is what fails when two
 *   configurations have disjoint majorities.
 * - State Machine Safety: no two sites commit (durably) or apply different
 *   entries at one index, across history; each applies a contiguous run
 *   (a snapshot from the leader moves it forward).
 * - Snapshots: a snapshot taken or installed holds only entries known
 *   committed, each the one committed at its index (so never an
 *   uncommitted one), its term is its last entry's, and its membership is
 *   the one the committed conf changes up to it make.
 * - Membership: a site's membership (`confState()`) is the one its log
 *   (snapshot and conf-change entries) makes. A leader has a conf change
 *   of its own term in its log only while every earlier conf change is at
 *   or below its commit index (one change at a time), and only once it has
 *   committed an entry of its term (the fix to the single-server change
 *   bug, Ongaro, raft-dev, July 2015). `confRules: false` leaves these two
 *   rules out, to show what breaking them leads to.
 * - A site's commit and applied indexes never decrease without a crash.
 * - Durable before reply: a granted vote or an acknowledged append leaves
 *   only once the disk holds it.
 * - A ReadIndex answer is never below the highest index known committed
 *   when the read began.
 * - Held campaigns: a site whose campaigns are held never becomes a
 *   candidate or pre-candidate (on its timer or on a MsgTimeoutNow).
 * - Any assertion of the core (`AssertionError`: it checks Election Safety
 *   and Leader Completeness itself on some messages) is a violation.
 *
 * **Search.** Breadth-first, so that the first violation comes with a
 * shortest trace (fewest actions), and so that with deduplication the
 * search is complete up to the depth bound: depth-first search with a
 * visited set can reach a state first by a long path, mark it seen, and
 * then skip it when a shorter path reaches it with depth to spare.
 *
 * **Deduplication.** A site's fingerprint is a SHA-1 (120 bits kept) of
 * its complete state: `RaftNode.debugState()` (every field of the node that
 * can change), its disk, and its host's pending Ready. A state's
 * fingerprint hashes (128-bit cyrb128) the sites' fingerprints, the
 * network, the counters and the history variables. A hash collision would
 * make the search skip a state; at 10^7 states the odds are below 10^-20
 * for hashes this wide. With `symmetry` (the default), states that differ
 * only by the sites' names are one state: the sites are interchangeable
 * (same genesis membership and config; the core never orders by name; the
 * order of a membership list only decides the order messages are sent in,
 * which the network ignores), so the fingerprint is the least over every
 * renaming. That keeps about one state in six for 3 voters;
 * `countOrbits` checks it against a search without it. Spare sites keep
 * their names (they do not start as members); a renaming renames the site
 * a conf-change entry names, in logs, messages and the committed history.
 *
 * **Cloning** a site is replay: its state is its disk when it last
 * (re)started plus the inputs it has had since, a list shared between
 * states, and a copy to act on is built by replaying them into a fresh
 * `RaftNode` (the core is deterministic). States share the sites an action
 * did not touch, and a site's answer to an input is memoized by the site's
 * fingerprint and the input, so each is computed once.
 *
 * **Bounds.** `depth` (actions), `terms` (a state where a term exceeds it
 * is not kept), `proposals`, `reads`, `crashes`, `timeouts` (election
 * timeouts), `heartbeats` (leader ticks), `inFlight` (messages in the
 * network; a state with more is not kept), `confChanges`, `compactions`,
 * `transfers`, `holds`, and `states` (a safety valve: the search stops and says it
 * is incomplete). A search may start from the state a fixed `prefix` of
 * actions reaches (a leader elected, say), to spend its depth past it. What the bounds leave out is not
 * checked: deeper schedules, larger clusters, timing (ticks are abstracted
 * as timeouts, so a follower's leader lease ends exactly when it
 * campaigns), and what the fault model leaves out.
 *
 * @module
 */

import { createHash } from "node:crypto";
import {
  applyConfChange,
  confChangeProblem,
  decodeConfChange,
  encodeConfChange,
  quorum,
} from "../src/consensus/membership.ts";
import { RaftNode, type RaftTestingBugs } from "../src/consensus/raft.ts";
import { MemoryStorage } from "../src/consensus/storage.ts";
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  ReadState,
  Ready,
  Role,
  Snapshot,
} from "../src/consensus/types.ts";

/** How Ready batches are handled; see the module documentation. */
export type HostModel = "sync" | "async";

export interface CheckBounds {
  /** Actions from the initial state. */
  depth: number;
  /** The highest term a kept state may have. */
  terms: number;
  /** Client writes, in total. */
  proposals: number;
  /** ReadIndex requests, in total. */
  reads: number;
  /** Crash-and-restarts, in total. */
  crashes: number;
  /** Election timeouts (a follower's or candidate's timer firing), in total. */
  timeouts: number;
  /** Leader ticks (each sends heartbeats), in total. */
  heartbeats: number;
  /**
   * Messages in the network a kept state may have: in flight, with
   * multiplicity, for the bag; ever sent, for the set.
   */
  inFlight: number;
  /** Membership changes proposed at a leader, in total. */
  confChanges: number;
  /** Snapshots taken (each compacting the site's log up to it), in total. */
  compactions: number;
  /** Leadership transfers started, in total. */
  transfers: number;
  /**
   * Campaign holds, in total: a host holding a site's campaigns
   * (`RaftNode.holdCampaigns(true)`, as `raft_host.ts` does while the site
   * catches up to a snapshot) or releasing them, each one action.
   */
  holds: number;
  /** Distinct states after which the search stops, incomplete. */
  states: number;
}

export interface CheckOptions {
  /** Voters of the genesis configuration, named s1…sN. */
  voters: number;
  /**
   * Sites outside the genesis configuration, named after the voters
   * (s4… for 3 voters): each starts with an empty disk and takes part once
   * a membership change adds it.
   */
  spares: number;
  host: HostModel;
  preVote: boolean;
  checkQuorum: boolean;
  /** Entries per AppMessage (1 lets a leader send an old-term entry on its own). */
  maxEntriesPerMsg: number;
  /** Unacknowledged AppMessages per follower. */
  maxInflightMsgs: number;
  /**
   * `"bag"`: a multiset of messages in flight, each delivery consuming one
   * (loss, reordering). `"set"`: every message ever sent, never consumed
   * (loss, reordering and duplication), as Lamport's Paxos specification
   * models its network.
   */
  network: "bag" | "set";
  /** With the bag, allow removing a message unread (it frees room under `inFlight`). */
  drop: boolean;
  /**
   * Treat states that differ only by the sites' names as one (the sites are
   * interchangeable: same genesis membership, same config, and the core
   * never orders by name); spares keep their names. At most 5 voters
   * (120 renamings).
   */
  symmetry: boolean;
  /**
   * Actions taken, in order, before the search (each a label as traces
   * print them, or its beginning up to a space when that names exactly
   * one enabled action): the search explores everything from the state
   * they reach, and `depth` counts them. A violation's trace starts with
   * them, so it is shortest among traces that start so. With the async
   * host, each step is followed by `persist` of every Ready it left
   * pending (they count too).
   */
  prefix?: string[];
  /**
   * For checking the symmetry reduction itself: search without it, but
   * also count the distinct canonical fingerprints (orbits) of the states
   * kept, which must equal the states the same search keeps with it.
   */
  countOrbits?: boolean;
  bounds: CheckBounds;
  bugs?: RaftTestingBugs;
  /**
   * Check the membership rules themselves (one change at a time; a leader
   * commits an entry of its term before it proposes one), not only the
   * safety properties their breach leads to. Default true; a bug hunt turns
   * it off to show what breaking a rule leads to.
   */
  confRules?: boolean;
}

/**
 * Defaults: 3 voters, the paper's Raft (no PreVote, no CheckQuorum), the
 * synchronous host, the set network, symmetry, and the bounds of the
 * default test run's first search.
 */
export const defaultCheckOptions: CheckOptions = {
  voters: 3,
  spares: 0,
  host: "sync",
  preVote: false,
  checkQuorum: false,
  maxEntriesPerMsg: 1,
  maxInflightMsgs: 2,
  network: "set",
  drop: false,
  symmetry: true,
  bounds: {
    depth: 10,
    terms: 2,
    proposals: 1,
    reads: 0,
    crashes: 1,
    timeouts: 4,
    heartbeats: 2,
    inFlight: 64,
    confChanges: 0,
    compactions: 0,
    transfers: 0,
    holds: 0,
    states: 5_000_000,
  },
};

export interface Violation {
  /** What broke, e.g. "election safety: s1 and s3 both lead term 1". */
  message: string;
  /** The actions from the initial state, shortest first found. */
  trace: string[];
  /** The trace replayed with every state after every action, for reading. */
  explained: string;
}

export interface CheckResult {
  ok: boolean;
  violation?: Violation;
  /** Distinct states kept (within every bound). */
  states: number;
  /** Actions applied (each produced a kept, a duplicate or a pruned state). */
  transitions: number;
  /** States reached but not kept because they exceeded the term or in-flight bound. */
  pruned: number;
  /** The deepest level that held a state. */
  depthReached: number;
  /** Distinct states at each depth. */
  levels: number[];
  /** With `countOrbits`: the distinct canonical fingerprints of the states kept. */
  orbits?: number;
  /** True when no state was left unexplored within the depth bound (no state cap hit). */
  complete: boolean;
  /** True when the search ran out of states before the depth bound. */
  exhausted: boolean;
  seconds: number;
  /** How far the kept states got, to show what the bounds cover. */
  coverage: Coverage;
}

export interface Coverage {
  /** The highest term of a site. */
  maxTerm: number;
  /** The highest index known committed. */
  maxCommitted: number;
  /** The most terms that had a leader, in one history. */
  maxLeaders: number;
  /** The most client writes (`p1`, …) known committed, in one history. */
  maxWritesCommitted: number;
  /** Transitions in which a site answered a ReadIndex request. */
  readsAnswered: number;
  /** Kept states that a restart led to. */
  restarts: number;
  /** The most membership changes known committed, in one history. */
  maxConfChangesCommitted: number;
  /**
   * The kinds of membership change known committed in some history:
   * `addLearner`, `promote`, `remove`, and `remove the leader` (a leader's
   * removal of itself).
   */
  confChangesCommitted: string[];
  /** Transitions in which a site installed a snapshot from its leader. */
  snapshotsInstalled: number;
  /** Transitions in which a site campaigned on a leader's MsgTimeoutNow. */
  transferCampaigns: number;
  /** Transitions in which a held site was handed a MsgTimeoutNow and did not campaign. */
  heldBack: number;
}

// ------------------------------------------------------------------ keys

const decoder = new TextDecoder();
const encoder = new TextEncoder();

const entryKeys = new WeakMap<Entry, string>();

/** `index.term`, then `:data` for a normal entry with data, `:cc(…)` for a conf change. */
export function entryKey(e: Entry): string {
  let k = entryKeys.get(e);
  if (k === undefined) {
    const data = decoder.decode(e.data);
    k = `${e.index}.${e.term}` +
      (e.type === "confChange" ? `:cc(${data})` : data === "" ? "" : `:${data}`);
    entryKeys.set(e, k);
  }
  return k;
}

/**
 * What a state machine keeps of an entry, by its {@link entryKey}: the key
 * without a conf change's content (`3.1:cc`). A snapshot's data lists these
 * for every index it covers, so it names no site (renaming the sites leaves
 * it as it is); its `confState` carries the membership.
 */
function stateKey(key: string): string {
  const k = key.indexOf(":cc(");
  return k < 0 ? key : key.slice(0, k) + ":cc";
}

/** The conf change an {@link entryKey} carries, or undefined for a normal entry. */
function confChangeOfKey(key: string): ConfChange | undefined {
  const k = key.indexOf(":cc(");
  return k < 0 ? undefined : JSON.parse(key.slice(k + 4, -1)) as ConfChange;
}

const messageKeys = new WeakMap<Message, string>();

/**
 * A readable description of a message, every field included:
 * `app s1>s2 t1 commit=0 entries=[1.1] prevIndex=0 prevTerm=0`. Traces name
 * messages by it (the network tells messages apart by their JSON).
 */
export function messageKey(m: Message): string {
  let k = messageKeys.get(m);
  if (k === undefined) {
    const rec = m as unknown as Record<string, unknown>;
    const parts = [`${m.type} ${m.from}>${m.to} t${m.term}`];
    for (const f of Object.keys(rec).sort()) {
      if (f === "type" || f === "from" || f === "to" || f === "term") continue;
      const v = rec[f];
      if (f === "entries") parts.push(`entries=[${(v as Entry[]).map(entryKey).join(" ")}]`);
      else if (v === undefined) parts.push(`${f}=-`);
      else if (typeof v === "object") parts.push(`${f}=${JSON.stringify(v)}`);
      else parts.push(`${f}=${v}`);
    }
    k = parts.join(" ");
    messageKeys.set(m, k);
  }
  return k;
}

/** A 120-bit hash (SHA-1, truncated) of a fingerprint, as 20 base64 characters. */
function hash(s: string): string {
  return createHash("sha1").update(s).digest("base64").slice(0, 20);
}

/**
 * A 128-bit non-cryptographic hash (cyrb128: four 32-bit multiply-xor
 * lanes), for the short strings that combine hashes into a state's
 * fingerprint, where SHA-1's per-call cost dominates.
 */
function fastHash(s: string): string {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < s.length; i++) {
    const k = s.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return (h1 >>> 0).toString(36) + "." + (h2 >>> 0).toString(36) + "." +
    (h3 >>> 0).toString(36) + "." + (h4 >>> 0).toString(36);
}

/**
 * Small integers standing for longer strings (message keys, site
 * fingerprints), one per distinct string, so that a state's fingerprint is
 * short to build and hash.
 */
class Interner {
  readonly #ids = new Map<string, number>();
  id(s: string): number {
    let n = this.#ids.get(s);
    if (n === undefined) {
      n = this.#ids.size;
      this.#ids.set(s, n);
    }
    return n;
  }
}

// ------------------------------------------------------------------ sites

/** Exact state fingerprints the search remembers before it empties that cache. */
const recentStatesMax = 4_000_000;

/** Memoized site transitions kept before the memo is emptied (it is only a cache). */
const memoEntriesMax = 2_000_000;

/** Thrown when an invariant breaks; the search turns it into a {@link Violation}. */
export class InvariantViolation extends Error {
  override name = "InvariantViolation";
}

/**
 * What a site's disk held at some point: its latest snapshot (the genesis
 * one, index 0, until it takes or installs one) and the entries after it
 * (the model compacts exactly up to the snapshot).
 */
interface Disk {
  hardState: HardState;
  snapshot: Snapshot;
  entries: Entry[];
}

/**
 * A log as the checker reads it: the snapshot it starts after and the
 * entries after that. `base.keys[i - 1]` is the {@link stateKey} of index i.
 */
interface Log {
  base: Base;
  entries: Entry[];
}

interface Base {
  index: number;
  term: number;
  conf: ConfState;
  keys: string[];
}

const bases = new WeakMap<Snapshot, Base>();

/** A snapshot as a {@link Log}'s base (its data: the state keys, space-separated). */
function baseOf(snap: Snapshot): Base {
  let b = bases.get(snap);
  if (b === undefined) {
    const text = decoder.decode(snap.data);
    b = {
      index: snap.metadata.index,
      term: snap.metadata.term,
      conf: snap.metadata.confState,
      keys: text === "" ? [] : text.split(" "),
    };
    bases.set(snap, b);
  }
  return b;
}

function lastIndexOf(log: Log): number {
  return log.base.index + log.entries.length;
}

function lastTermOf(log: Log): number {
  return log.entries.length === 0 ? log.base.term : log.entries[log.entries.length - 1].term;
}

/** Whether `log` holds the entry whose {@link entryKey} is `key` at `i` (in its snapshot or as an entry). */
function holds(log: Log, i: number, key: string): boolean {
  if (i <= log.base.index) return log.base.keys[i - 1] === stateKey(key);
  const e = log.entries[i - log.base.index - 1];
  return e !== undefined && entryKey(e) === key;
}

/** What `log` has at `i`, for messages: its entry key, `snapshot:<state key>`, or "no entry". */
function describeAt(log: Log, i: number): string {
  if (i <= log.base.index) return `snapshot:${log.base.keys[i - 1]}`;
  const e = log.entries[i - log.base.index - 1];
  return e === undefined ? "no entry" : entryKey(e);
}

/**
 * The membership in force after the last entry of `log`, or why its
 * conf-change entries do not apply to its snapshot's membership.
 */
function confOf(log: Log): ConfState | string {
  let cs = log.base.conf;
  for (const e of log.entries) {
    if (e.type !== "confChange") continue;
    const cc = decodeConfChange(e.data);
    const problem = confChangeProblem(cs, cc);
    if (problem !== undefined) {
      return `${showLog(log)}: ${entryKey(e)} does not apply to ${JSON.stringify(cs)}: ${problem}`;
    }
    cs = applyConfChange(cs, cc);
  }
  return cs;
}

function showLog(log: Log): string {
  const snap = log.base.index > 0 ? `snap@${log.base.index}.${log.base.term} | ` : "";
  return `[${snap}${log.entries.map(entryKey).join(" ")}]`;
}

type Op =
  | { k: "step"; m: Message }
  | { k: "timeout" }
  | { k: "propose"; data: string }
  | { k: "read"; ctx: string }
  | { k: "persist" }
  | { k: "confChange"; cc: ConfChange }
  | { k: "transfer"; to: NodeId }
  | { k: "hold"; held: boolean }
  | { k: "compact" };

/** The inputs a site has had since it last (re)started, newest first, shared between states. */
interface OpList {
  op: Op;
  prev: OpList | undefined;
}

/** A live site: the node, its disk, and the Ready its host is handling. */
interface Host {
  node: RaftNode;
  storage: MemoryStorage;
  pending: Ready | undefined;
  /** The pending Ready's messages already left (a leader's, sent before its write). */
  pendingSent: boolean;
}

/**
 * What a host did that the checker must see: messages sent, what it
 * applied (entries, and snapshots from its leader, in order), reads
 * answered, snapshots it took.
 */
interface Output {
  sent: Message[];
  applied: (Entry | Snapshot)[];
  readStates: ReadState[];
  taken: Snapshot[];
}

function newOutput(): Output {
  return { sent: [], applied: [], readStates: [], taken: [] };
}

/** One site in one state. Immutable once built; states share the sites an action left alone. */
interface Site {
  readonly id: NodeId;
  /** The disk when the site last (re)started, and the inputs since. */
  readonly base: Disk;
  readonly ops: OpList | undefined;
  /** Hash of the site's complete state (node, disk, pending Ready). */
  readonly fp: string;
  /** The interned fingerprint of the site renamed by each of `Model.perms` (`sids[0]`: `fp`). */
  readonly sids: number[];
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  /** The commit index the disk guarantees (what the site may durably claim). */
  readonly durableCommit: number;
  /** The site's current log (disk shadowed by unstable entries and an unstable snapshot). */
  readonly log: Log;
  /** The membership after the last entry of `log`. */
  readonly conf: ConfState;
  readonly disk: Disk;
  /** What the disk holds, as a log. */
  readonly diskLog: Log;
  /** The membership after the last entry of `diskLog`. */
  readonly diskConf: ConfState;
  /** Set when the core's membership is not the one its log makes (or its log makes none). */
  readonly confProblem: string | undefined;
  readonly pending: boolean;
  /** Whether its host holds its campaigns. */
  readonly held: boolean;
}

interface BagItem {
  /** The message as JSON: its identity in the bag. */
  key: string;
  /** `key`, interned. */
  h: number;
  /** The interned keys of the message renamed by each of `Model.perms` (`hs[0] === h`). */
  hs: number[];
  msg: Message;
  count: number;
}

interface Trace {
  action: Action;
  prev: Trace | undefined;
}

interface World {
  sites: Site[];
  /** Sorted by `h`. */
  bag: BagItem[];
  inFlight: number;
  proposals: number;
  reads: number;
  crashes: number;
  timeouts: number;
  heartbeats: number;
  confChanges: number;
  compactions: number;
  transfers: number;
  holds: number;
  /** `leaders[t]`: the site that led term t. */
  leaders: (NodeId | undefined)[];
  /** `committed[i]`: the entry key known committed at index i, and the term it was first known in. */
  committed: ({ key: string; term: number } | undefined)[];
  /** The highest committed index when each read began. */
  readMin: Map<string, number>;
  /** The fingerprint of the state with its sites under their own names. */
  exact: string;
  trace: Trace | undefined;
}

type Action =
  | { k: "timeout"; site: number }
  | { k: "propose"; site: number }
  | { k: "read"; site: number }
  | { k: "restart"; site: number }
  | { k: "persist"; site: number }
  | { k: "confChange"; site: number; cc: ConfChange }
  | { k: "transfer"; site: number; to: NodeId }
  | { k: "hold"; site: number; held: boolean }
  | { k: "compact"; site: number }
  | { k: "deliver"; item: BagItem }
  | { k: "drop"; item: BagItem };

function label(ids: NodeId[], a: Action): string {
  switch (a.k) {
    case "deliver":
      return `deliver ${messageKey(a.item.msg)}`;
    case "drop":
      return `drop ${messageKey(a.item.msg)}`;
    case "confChange":
      return `confChange ${ids[a.site]} ${a.cc.type} ${a.cc.node}`;
    case "transfer":
      return `transfer ${ids[a.site]}->${a.to}`;
    case "hold":
      return `${a.held ? "hold" : "release"} ${ids[a.site]}`;
    default:
      return `${a.k} ${ids[a.site]}`;
  }
}

class Model {
  readonly ids: NodeId[];
  /** The genesis membership: the voters, not the spares. */
  readonly genesis: ConfState;
  readonly electionTicks = 2;
  /**
   * The renamings of the sites a fingerprint is taken under: `perm[k]` is
   * the index of the name site k takes. Only the genesis voters are
   * interchangeable; spares keep their names. Only the identity without
   * symmetry.
   */
  readonly perms: number[][];

  constructor(readonly opts: CheckOptions) {
    this.ids = Array.from({ length: opts.voters + opts.spares }, (_, k) => `s${k + 1}`);
    this.genesis = { voters: this.ids.slice(0, opts.voters), learners: [] };
    const spares = this.ids.slice(opts.voters).map((_, k) => opts.voters + k);
    this.perms =
      (opts.symmetry || opts.countOrbits
        ? permutations(opts.voters)
        : [this.genesis.voters.map((_, k) => k)]).map((p) => [...p, ...spares]);
    this.#index = new Map(this.ids.map((id, k) => [id, k]));
  }

  // ---------------------------------------------------------------- hosts

  /** A mutable copy of `site`, rebuilt by replaying its inputs since it last started. */
  materialize(site: Site): Host {
    const h = this.start(site.id, site.base, undefined);
    const ops: Op[] = [];
    for (let l = site.ops; l !== undefined; l = l.prev) ops.push(l.op);
    for (let k = ops.length - 1; k >= 0; k--) this.input(h, ops[k], undefined);
    return h;
  }

  /** Starts a site from its disk, as a restarted host does (it handles any Ready at once). */
  start(id: NodeId, disk: Disk, out: Output | undefined): Host {
    const storage = new MemoryStorage(this.genesis);
    if (disk.snapshot.metadata.index > 0) storage.applySnapshot(disk.snapshot);
    storage.setHardState(disk.hardState);
    storage.append(disk.entries);
    const o = this.opts;
    const node = new RaftNode({
      id,
      storage,
      electionTicks: this.electionTicks,
      heartbeatTicks: 1,
      random: () => 0,
      maxEntriesPerMsg: o.maxEntriesPerMsg,
      maxBytesPerMsg: 1 << 20,
      maxInflightMsgs: o.maxInflightMsgs,
      checkQuorum: o.checkQuorum,
      preVote: o.preVote,
      testingBugs: o.bugs,
    });
    const h: Host = { node, storage, pending: undefined, pendingSent: false };
    this.#settle(h, out);
    return h;
  }

  /**
   * Feeds one input to a host and lets it handle Readies as its model says.
   * Returns false when the input changed nothing (a timeout that never
   * fires, a refused proposal), so the action can be skipped.
   */
  input(h: Host, op: Op, out: Output | undefined): boolean {
    const n = h.node;
    switch (op.k) {
      case "step":
        n.step(op.m);
        break;
      case "timeout": {
        if (n.status().role === "leader") {
          n.tick();
          break;
        }
        // Tick until the election timer fires (the node campaigns).
        const before = n.status();
        let fired = false;
        for (let t = 0; t < 2 * this.electionTicks + 1 && !fired; t++) {
          n.tick();
          const s = n.status();
          fired = n.hasReady() || s.role !== before.role || s.term !== before.term;
        }
        if (!fired) return false;
        break;
      }
      case "propose":
        if (!n.propose(encoder.encode(op.data))) return false;
        break;
      case "read":
        if (!n.readIndex(op.ctx)) return false;
        break;
      case "persist":
        if (h.pending === undefined) return false;
        this.#finish(h, out);
        break;
      case "confChange":
        if (!n.proposeConfChange(op.cc)) return false;
        break;
      case "transfer":
        if (!n.transferLeadership(op.to)) return false;
        break;
      case "hold":
        // Offered only when it changes the hold (see actions()).
        n.holdCampaigns(op.held);
        break;
      case "compact":
        if (!this.#compact(h, out)) return false;
        break;
    }
    this.#settle(h, out);
    return true;
  }

  /**
   * The host snapshots its applied state and compacts its log up to it, as
   * raft_host's #maybeSnapshot does after a Ready (which keeps
   * `compactKeepEntries` entries before it; the model keeps none, so a
   * follower behind it needs the snapshot). Only between Readies. The
   * snapshot's data is the state machine: the {@link stateKey} of every
   * applied entry. Returns false when there is nothing new to snapshot.
   */
  #compact(h: Host, out: Output | undefined): boolean {
    if (h.pending !== undefined) return false;
    const st = h.node.status();
    const s = h.storage;
    const snap = s.snapshot();
    const applied = st.appliedIndex;
    if (applied <= snap.metadata.index || applied > s.lastIndex()) return false;
    if (st.firstIndex - 1 > applied) return false;
    const keys = [...baseOf(snap).keys];
    for (const e of s.entries(snap.metadata.index + 1, applied + 1, Infinity)) {
      keys.push(stateKey(entryKey(e)));
    }
    const data = encoder.encode(keys.join(" "));
    // Its lists sorted: their order means nothing, and renamed lists are sorted too (renameIds).
    const taken = s.createSnapshot(applied, canonicalConf(h.node.confStateAt(applied)), data);
    s.compact(applied);
    out?.taken.push(taken);
    return true;
  }

  /** After an input: the sync host handles every Ready; the async one takes the next. */
  #settle(h: Host, out: Output | undefined): void {
    if (this.opts.host === "sync") {
      while (h.node.hasReady()) {
        this.#take(h, out, false);
        this.#finish(h, out);
      }
    } else if (h.pending === undefined && h.node.hasReady()) {
      this.#take(h, out, true);
    }
  }

  #take(h: Host, out: Output | undefined, mayEarly: boolean): void {
    const rd = h.node.ready();
    // As src/site/raft_host.ts: a leader's messages leave before its write,
    // unless the Ready changes term or vote or its commit covers its own entries.
    const st = h.node.status();
    const hs = h.storage.hardState();
    const voteChanged = rd.hardState !== undefined &&
      (rd.hardState.term !== hs.term || rd.hardState.vote !== hs.vote);
    const commitsOwn = rd.entries.length > 0 && st.commitIndex >= rd.entries[0].index;
    const early = mayEarly && !voteChanged && !commitsOwn && st.role === "leader";
    h.pending = rd;
    h.pendingSent = early;
    if (early && out) out.sent.push(...rd.messages);
  }

  #finish(h: Host, out: Output | undefined): void {
    const rd = h.pending!;
    const sent = h.pendingSent;
    h.pending = undefined;
    h.pendingSent = false;
    // 1. Persist.
    if (rd.snapshot) h.storage.applySnapshot(rd.snapshot);
    h.storage.append(rd.entries);
    if (rd.hardState) h.storage.setHardState(rd.hardState);
    if (out) {
      // 2. Send, once durable.
      if (!sent) {
        for (const m of rd.messages) {
          this.#checkDurable(h, m);
          out.sent.push(m);
        }
      }
      // 3. Apply.
      if (rd.snapshot) out.applied.push(rd.snapshot);
      out.applied.push(...rd.committedEntries);
      out.readStates.push(...rd.readStates);
    }
    h.node.advance(rd);
  }

  /** Durable before reply (as test/raft_sim.ts checks it). */
  #checkDurable(h: Host, m: Message): void {
    const hs = h.storage.hardState();
    if (
      m.type === "voteResp" && !m.reject && hs.term <= m.term &&
      (hs.term !== m.term || hs.vote !== m.to)
    ) {
      throw new InvariantViolation(
        `durability: ${m.from} granted a vote to ${m.to} in term ${m.term} before persisting it`,
      );
    }
    if (m.type === "appResp" && !m.reject && m.index > 0) {
      if (h.storage.lastIndex() < m.index || hs.term < m.term) {
        throw new InvariantViolation(
          `durability: ${m.from} acknowledged index ${m.index} before persisting it`,
        );
      }
    }
  }

  /** The immutable summary of a host after an input. */
  site(id: NodeId, base: Disk, ops: OpList | undefined, h: Host): Site {
    const n = h.node;
    const dump = n.debugState();
    const st = n.status();
    const s = h.storage;
    const snap = s.snapshot();
    if (s.firstIndex() !== snap.metadata.index + 1) {
      throw new Error("the model compacts exactly up to the snapshot");
    }
    const diskEntries = s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity);
    const disk: Disk = { hardState: s.hardState(), snapshot: snap, entries: diskEntries };
    const diskLog: Log = { base: baseOf(snap), entries: diskEntries };
    const rlog = dump.log as {
      unstable: Entry[];
      unstableOffset: number;
      unstableSnapshot: Snapshot | undefined;
    };
    const log: Log = rlog.unstableSnapshot !== undefined
      ? { base: baseOf(rlog.unstableSnapshot), entries: rlog.unstable }
      : {
        base: diskLog.base,
        entries: diskEntries.slice(0, Math.max(0, rlog.unstableOffset - s.firstIndex()))
          .concat(rlog.unstable),
      };
    // The core's membership is the one its log says (ConfHistory agrees
    // with the log); #check reports a difference, after the snapshots.
    const conf = st.confState;
    const logConf = confOf(log);
    const diskConf = confOf(diskLog);
    let confProblem: string | undefined;
    if (typeof logConf === "string" || typeof diskConf === "string") {
      confProblem = `${id}'s ${typeof logConf === "string" ? "log" : "disk"}: ${
        typeof logConf === "string" ? logConf : diskConf
      }`;
    } else if (!sameConf(conf, logConf)) {
      confProblem = `${id} has voters ${conf.voters} learners ${conf.learners}, its log ${
        showLog(log)
      } makes ${JSON.stringify(logConf)}`;
    }
    const pending = h.pending;
    const durableCommit = pending === undefined
      ? st.commitIndex
      : Math.min(st.commitIndex, disk.hardState.commit, s.lastIndex());
    // One fingerprint per renaming of the sites (the first is the identity).
    const fps = this.perms.map((perm, p) => {
      const rename = (v: unknown) => p === 0 ? v : renameIds(v, this.ids, perm);
      // The snapshot's data names no site; its membership and conf-change entries do.
      let diskText = `|${snap.metadata.index}.${snap.metadata.term}${
        JSON.stringify(canonicalConf(rename(snap.metadata.confState) as ConfState))
      }${decoder.decode(snap.data)}|`;
      for (const e of diskEntries) {
        diskText += entryKey(p > 0 && e.type === "confChange" ? rename(e) as Entry : e) + " ";
      }
      const d = canonicalDump(rename(dump) as Record<string, unknown>);
      // The dump is plain data (entry data as Uint8Array, which JSON writes byte by byte).
      let text = JSON.stringify(d) + "|" + JSON.stringify(rename(disk.hardState)) + diskText;
      if (pending !== undefined) {
        // Renamed once, then sorted (the host sends them all at once).
        const messages = h.pendingSent ? [] : sortedByJson(rename(pending.messages) as Message[]);
        const rest = rename({ ...pending, messages: [] }) as Record<string, unknown>;
        text += "|" + JSON.stringify({ ...rest, messages }) + h.pendingSent;
      }
      return hash(text);
    });
    const fp = fps[0];
    return {
      id,
      base,
      ops,
      fp,
      sids: fps.map((f) => this.#sites.id(f)),
      role: st.role,
      term: st.term,
      vote: st.vote,
      commit: st.commitIndex,
      applied: st.appliedIndex,
      durableCommit,
      log,
      conf,
      disk,
      diskLog,
      diskConf: typeof diskConf === "string" ? conf : diskConf,
      confProblem,
      pending: pending !== undefined,
      held: dump.campaignsHeld === true,
    };
  }

  // ---------------------------------------------------------------- worlds

  initial(): World {
    const empty: Disk = {
      hardState: { term: 0, vote: "", commit: 0 },
      snapshot: new MemoryStorage(this.genesis).snapshot(),
      entries: [],
    };
    const sites = this.ids.map((id) =>
      this.site(id, empty, undefined, this.start(id, empty, undefined))
    );
    return this.#seal({
      sites,
      bag: [],
      inFlight: 0,
      proposals: 0,
      reads: 0,
      crashes: 0,
      timeouts: 0,
      heartbeats: 0,
      confChanges: 0,
      compactions: 0,
      transfers: 0,
      holds: 0,
      leaders: [],
      committed: [],
      readMin: new Map(),
      exact: "",
      trace: undefined,
    });
  }

  /**
   * Sets the state's exact fingerprint (its sites under their own names).
   * The search looks it up in a cache of states seen before it pays for
   * {@link fingerprint}.
   */
  #seal(w: World): World {
    w.exact = fastHash(this.#vector(w, 0).join(",") + this.#rest(w, 0));
    return w;
  }

  /**
   * The state's fingerprint for deduplication: with symmetry the least of
   * its fingerprints under every renaming of the sites, so that states that
   * differ only by the sites' names are one state; else the exact one.
   */
  fingerprint(w: World): string {
    return this.opts.symmetry ? this.canonical(w) : w.exact;
  }

  /** The least of the state's fingerprints under every renaming of the sites. */
  canonical(w: World): string {
    let best = this.#vector(w, 0);
    let ties = [0];
    for (let p = 1; p < this.perms.length; p++) {
      const v = this.#vector(w, p);
      if (lessThan(v, best)) {
        best = v;
        ties = [p];
      } else if (!lessThan(best, v)) ties.push(p);
    }
    // The rest differs between renamings only by the names in committed conf changes.
    let rest = this.#rest(w, ties[0]);
    for (let k = 1; k < ties.length; k++) {
      const r = this.#rest(w, ties[k]);
      if (r < rest) rest = r;
    }
    return fastHash(best.join(",") + rest);
  }

  /**
   * The state renamed by `perms[p]`, as numbers: each site's interned
   * fingerprint in name order, then each message's interned key and count
   * (sorted), then the leader of each term.
   */
  #vector(w: World, p: number): Float64Array {
    const n = w.sites.length;
    const perm = this.perms[p];
    const v = new Float64Array(n + 1 + w.bag.length + 1 + w.leaders.length);
    // Site k, renamed, stands where the site of its new name stands.
    for (let k = 0; k < n; k++) v[perm[k]] = w.sites[k].sids[p];
    v[n] = -1;
    const bag = v.subarray(n + 1, n + 1 + w.bag.length);
    for (let i = 0; i < w.bag.length; i++) bag[i] = w.bag[i].hs[p] * 1024 + w.bag[i].count;
    if (p > 0) insertionSort(bag);
    v[n + 1 + w.bag.length] = -1;
    for (let t = 0; t < w.leaders.length; t++) {
      const l = w.leaders[t];
      v[n + 2 + w.bag.length + t] = l === undefined ? -1 : perm[this.#index.get(l)!];
    }
    return v;
  }

  /**
   * The rest of the fingerprint, renamed by `perms[p]`: counters, commits,
   * reads. Only committed conf changes name sites.
   */
  #rest(w: World, p: number): string {
    let rest = `|${w.proposals},${w.reads},${w.crashes},${w.timeouts},${w.heartbeats},` +
      `${w.confChanges},${w.compactions},${w.transfers},${w.holds}|`;
    rest += this.#committedText(w.committed, p);
    for (const [ctx, min] of [...w.readMin].sort()) rest += `${ctx}>=${min};`;
    return rest;
  }

  /** The committed history renamed by `perms[p]`, as text (cached: states share it until it grows). */
  #committedText(committed: World["committed"], p: number): string {
    let texts = this.#committedTexts.get(committed);
    if (texts === undefined) {
      texts = [];
      this.#committedTexts.set(committed, texts);
    }
    let text = texts[p];
    if (text === undefined) {
      const perm = this.perms[p];
      const name = (c: { key: string }) => {
        const cc = p === 0 ? undefined : confChangeOfKey(c.key);
        if (cc === undefined) return c.key;
        const node = renameIds(cc.node, this.ids, perm) as NodeId;
        const data = decoder.decode(encodeConfChange({ type: cc.type, node }));
        return `${c.key.slice(0, c.key.indexOf(":cc("))}:cc(${data})`;
      };
      text = committed.map((c) => c === undefined ? "" : `${name(c)}@${c.term}`).join(",") + "|";
      texts[p] = text;
    }
    return text;
  }

  readonly #committedTexts = new WeakMap<World["committed"], string[]>();

  /** The interned ids of a message renamed by each of `perms` (the first: unrenamed). */
  renamedMessageIds(m: Message, h: number): number[] {
    let ids = this.#renamedMessages.get(h);
    if (ids === undefined) {
      ids = this.perms.map((perm, q) =>
        q === 0 ? h : this.messages.id(JSON.stringify(renameIds(m, this.ids, perm)))
      );
      this.#renamedMessages.set(h, ids);
    }
    return ids;
  }

  readonly #index: Map<NodeId, number>;
  readonly #renamedMessages = new Map<number, number[]>();

  actions(w: World): Action[] {
    const o = this.opts;
    const out: Action[] = [];
    w.sites.forEach((s, k) => {
      if (
        s.role === "leader" ? w.heartbeats < o.bounds.heartbeats : w.timeouts < o.bounds.timeouts
      ) {
        out.push({ k: "timeout", site: k });
      }
      if (s.role === "leader" && w.proposals < o.bounds.proposals) {
        out.push({ k: "propose", site: k });
      }
      if (s.role === "leader" && w.confChanges < o.bounds.confChanges) {
        // Every change valid for the leader's membership (the core refuses the others).
        for (const id of this.ids) {
          for (const type of ["addLearner", "promote", "remove"] as const) {
            const cc = { type, node: id };
            if (confChangeProblem(s.conf, cc) === undefined) {
              out.push({ k: "confChange", site: k, cc });
            }
          }
        }
      }
      if (s.role === "leader" && w.transfers < o.bounds.transfers) {
        for (const to of s.conf.voters) if (to !== s.id) out.push({ k: "transfer", site: k, to });
      }
      // A host holds a site's campaigns while it catches up (never a leader's), and releases them.
      if (w.holds < o.bounds.holds && (s.held || s.role !== "leader")) {
        out.push({ k: "hold", site: k, held: !s.held });
      }
      if (
        w.compactions < o.bounds.compactions && !s.pending &&
        s.applied > s.disk.snapshot.metadata.index
      ) {
        out.push({ k: "compact", site: k });
      }
      if (w.reads < o.bounds.reads) out.push({ k: "read", site: k });
      if (w.crashes < o.bounds.crashes) out.push({ k: "restart", site: k });
      if (s.pending) out.push({ k: "persist", site: k });
    });
    for (const item of w.bag) {
      out.push({ k: "deliver", item });
      if (o.drop && o.network === "bag") out.push({ k: "drop", item });
    }
    return out;
  }

  /**
   * The state after `a`, with every invariant checked (throws
   * {@link InvariantViolation}, or the core's own error), or undefined when
   * the action changes nothing.
   */
  apply(w: World, a: Action): World | undefined {
    const out = newOutput();
    // The next state, filled in below; `#check` updates its history variables.
    const nw: World = {
      ...w,
      sites: w.sites.slice(),
      exact: "",
      trace: { action: a, prev: w.trace },
    };
    let acted = -1;
    if (a.k === "drop" || a.k === "deliver") {
      if (this.opts.network === "bag") {
        nw.bag = bagRemove(nw.bag, a.item.h);
        nw.inFlight--;
      }
      if (a.k === "deliver") {
        acted = this.ids.indexOf(a.item.msg.to);
        nw.sites[acted] = this.#act(
          w.sites[acted],
          { k: "step", m: a.item.msg },
          out,
          `m${a.item.h}`,
        )!;
      }
    } else if (a.k === "restart") {
      nw.crashes++;
      acted = a.site;
      const old = w.sites[acted];
      nw.sites[acted] = this.site(old.id, old.disk, undefined, this.start(old.id, old.disk, out));
    } else {
      acted = a.site;
      let op: Op;
      if (a.k === "propose") op = { k: "propose", data: `p${++nw.proposals}` };
      else if (a.k === "read") {
        op = { k: "read", ctx: `r${++nw.reads}` };
        nw.readMin = new Map(w.readMin);
        nw.readMin.set(op.ctx, Math.max(0, w.committed.length - 1));
      } else if (a.k === "confChange") {
        op = { k: "confChange", cc: a.cc };
        nw.confChanges++;
      } else if (a.k === "transfer") {
        op = { k: "transfer", to: a.to };
        nw.transfers++;
      } else if (a.k === "hold") {
        op = { k: "hold", held: a.held };
        nw.holds++;
      } else if (a.k === "compact") {
        op = { k: "compact" };
        nw.compactions++;
      } else {
        op = { k: a.k };
        if (a.k === "timeout") {
          if (w.sites[acted].role === "leader") nw.heartbeats++;
          else nw.timeouts++;
        }
      }
      const s = this.#act(w.sites[acted], op, out, JSON.stringify(op));
      if (s === undefined) return undefined;
      nw.sites[acted] = s;
    }
    for (const m of out.sent) {
      const before = nw.bag;
      nw.bag = bagAdd(nw.bag, m, this.opts.network === "set", this);
      if (nw.bag !== before) nw.inFlight++;
    }
    this.#check(w, nw, a, out, acted);
    return this.#seal(nw);
  }

  /**
   * `s` after `op`, with what its host did added to `out`. Memoized by the
   * site's fingerprint and the input: a site in one state answers an input
   * the same way in every state of the cluster it is part of (the core is
   * deterministic), so the replay is done once. The memo holds whichever
   * recipe (disk and inputs) reached that site state first; any recipe
   * that reaches it replays to the same state.
   */
  #act(s: Site, op: Op, out: Output, opKey: string): Site | undefined {
    const key = s.id + "|" + s.fp + "|" + opKey;
    let memo = this.#memo.get(key);
    if (memo === undefined) {
      const h = this.materialize(s);
      const mine = newOutput();
      const changed = this.input(h, op, mine);
      memo = {
        site: changed ? this.site(s.id, s.base, { op, prev: s.ops }, h) : undefined,
        out: mine,
      };
      if (this.#memo.size >= memoEntriesMax) this.#memo.clear();
      this.#memo.set(key, memo);
    }
    out.sent.push(...memo.out.sent);
    out.applied.push(...memo.out.applied);
    out.readStates.push(...memo.out.readStates);
    out.taken.push(...memo.out.taken);
    return memo.site;
  }

  readonly #memo = new Map<string, { site: Site | undefined; out: Output }>();
  readonly #sites = new Interner();
  readsAnswered = 0;
  snapshotsInstalled = 0;
  transferCampaigns = 0;
  heldBack = 0;
  readonly messages = new Interner();

  /** Checks every invariant on the transition `w` → `nw` and updates the history variables. */
  #check(w: World, nw: World, a: Action, out: Output, acted: number): void {
    const fail = (msg: string) => {
      throw new InvariantViolation(msg);
    };
    // Election Safety, across history.
    for (const s of nw.sites) {
      if (s.role !== "leader") continue;
      const prev = nw.leaders[s.term];
      if (prev === undefined) {
        if (nw.leaders === w.leaders) nw.leaders = w.leaders.slice();
        nw.leaders[s.term] = s.id;
      } else if (prev !== s.id) {
        fail(`election safety: ${prev} and ${s.id} both lead term ${s.term}`);
      }
    }
    // State Machine Safety: what a site commits durably and what it applies.
    const record = (site: Site, e: Entry, how: string) => {
      const key = entryKey(e);
      const c = nw.committed[e.index];
      if (c === undefined) {
        if (nw.committed === w.committed) nw.committed = w.committed.slice();
        nw.committed[e.index] = { key, term: site.term };
      } else if (c.key !== key) {
        fail(
          `state machine safety: ${site.id} ${how} ${key} at index ${e.index}, where ${c.key} was committed`,
        );
      }
    };
    for (const s of nw.sites) {
      // What a snapshot covers is checked when it is taken or installed.
      const lo = s.disk.snapshot.metadata.index;
      for (let i = lo + 1; i <= s.durableCommit; i++) {
        record(s, s.disk.entries[i - lo - 1], "commits");
      }
    }
    if (acted >= 0) {
      const before = w.sites[acted];
      const after = nw.sites[acted];
      const restarted = a.k === "restart";
      // A restarted site's state machine is its snapshot's.
      let applied = restarted ? before.disk.snapshot.metadata.index : before.applied;
      for (const x of out.applied) {
        if ("metadata" in x) {
          if (x.metadata.index <= applied) {
            fail(
              `state machine safety: ${after.id} installed a snapshot at ${x.metadata.index} after applying ${applied}`,
            );
          }
          this.#checkSnapshot(nw, after.id, x, "installed");
          this.snapshotsInstalled++;
          applied = x.metadata.index;
          continue;
        }
        if (x.index !== applied + 1) {
          fail(`state machine safety: ${after.id} applied index ${x.index} after ${applied}`);
        }
        applied = x.index;
        record(after, x, "applies");
      }
      for (const snap of out.taken) this.#checkSnapshot(nw, after.id, snap, "took");
      if (!restarted) {
        if (after.commit < before.commit) {
          fail(
            `commit regressed: ${after.id} from ${before.commit} to ${after.commit} without a crash`,
          );
        }
        if (after.applied < before.applied) {
          fail(
            `applied regressed: ${after.id} from ${before.applied} to ${after.applied} without a crash`,
          );
        }
      }
      if (out.readStates.length > 0) this.readsAnswered++;
      for (const r of out.readStates) {
        const min = nw.readMin.get(r.ctx);
        if (min === undefined) fail(`read: ${after.id} answered unknown read ${r.ctx}`);
        else if (r.index < min) {
          fail(
            `linearizability: read ${r.ctx} at ${after.id} got index ${r.index}, below ${min} committed when it began`,
          );
        }
      }
      if (
        a.k === "deliver" && a.item.msg.type === "timeoutNow" && after.term > before.term
      ) {
        this.transferCampaigns++;
      }
      if (before.held && after.term === before.term && after.role === before.role) {
        if (a.k === "deliver" && a.item.msg.type === "timeoutNow") this.heldBack++;
      }
      // Held campaigns: a site whose host holds them never stands.
      const standing = (r: Role) => r === "candidate" || r === "preCandidate";
      if (before.held && after.held && standing(after.role) && !standing(before.role)) {
        fail(`held campaigns: ${after.id} stood for election (${after.role}) while held`);
      }
    }
    // Leader Completeness.
    for (const s of nw.sites) {
      if (s.role !== "leader") continue;
      for (let i = 1; i < nw.committed.length; i++) {
        const c = nw.committed[i];
        if (c === undefined || c.term >= s.term) continue;
        if (!holds(s.log, i, c.key)) {
          fail(
            `leader completeness: ${s.id} leads term ${s.term} with ${
              describeAt(s.log, i)
            } at index ${i}, where ${c.key} was committed in term ${c.term}`,
          );
        }
      }
    }
    // Leader Completeness, looking ahead (the step of the paper's proof,
    // §5.4.3): a quorum holds every committed entry, and each of its members
    // refuses its vote to a log without it, so no log without it can win an
    // election. A log's candidate counts the votes of the voters of the
    // membership its log ends with (the core's #tally), whoever they are
    // and whatever they think the membership is (a site answers a vote
    // request whatever its own view). A voter counts when the log is at
    // least as up to date as its current log or as its disk (what it has
    // after a crash); votes already cast are not considered, which only
    // counts more.
    for (let i = 1; i < nw.committed.length; i++) {
      const c = nw.committed[i];
      if (c === undefined) continue;
      for (const cand of nw.sites) {
        const logs = [["log", cand.log, cand.conf], ["disk", cand.diskLog, cand.diskConf]] as const;
        for (const [which, log, conf] of logs) {
          if (holds(log, i, c.key)) continue;
          const voters = nw.sites.filter((v) =>
            conf.voters.includes(v.id) && (upToDate(log, v.log) || upToDate(log, v.diskLog))
          );
          if (voters.length >= quorum(conf.voters.length)) {
            fail(
              `leader completeness: ${cand.id}'s ${which} ${
                showLog(log)
              } lacks ${c.key}, committed, yet ${
                voters.map((v) => v.id).join(", ")
              } of its voters ${
                conf.voters.join(", ")
              } would vote for it (logs no more up to date)`,
            );
          }
        }
      }
    }
    // Log Matching, over every site's current log and its disk: two logs
    // with an entry of the same index and term hold the same entry there,
    // after an entry of the same term (so, by induction, the same prefix as
    // far as both hold entries; a compacted prefix is a snapshot, checked
    // against what was committed). A snapshot's last index and term count
    // as an entry (its state key).
    const seen = new Map<string, MatchItem & { who: string }>();
    const logs: [string, Log][] = [];
    for (const s of nw.sites) logs.push([s.id, s.log], [`${s.id}'s disk`, s.diskLog]);
    for (const [who, log] of logs) {
      for (const it of matchItems(log)) {
        const other = seen.get(it.at);
        if (other === undefined) {
          seen.set(it.at, { ...it, who });
        } else if (
          other.state !== it.state || other.prev !== it.prev ||
          (other.key !== undefined && it.key !== undefined && other.key !== it.key)
        ) {
          fail(
            `log matching: ${who} holds ${
              it.key ?? it.state
            } at ${it.at} after term ${it.prev}, ${other.who} ${
              other.key ?? other.state
            } after term ${other.prev}`,
          );
        }
      }
    }
    for (const s of nw.sites) {
      if (s.confProblem !== undefined) fail(`membership: ${s.confProblem}`);
    }
    if (this.opts.confRules !== false) this.#checkConfRules(nw);
  }

  /**
   * The rules of single-server membership changes (thesis §4.1, and the
   * fix to its bug, Ongaro, raft-dev, July 2015), as the core states them
   * in `proposeConfChange`: a leader has a conf change of its own term in
   * its log only while every earlier conf change is at or below its commit
   * index (one change at a time), and only once it has committed an entry
   * of its term (its first one, the empty entry it appends on election).
   * Conf changes of earlier terms may be above its commit index: it
   * inherited them.
   */
  #checkConfRules(nw: World): void {
    for (const s of nw.sites) {
      if (s.role !== "leader") continue;
      // Its first entry of the term, or at most the snapshot's index when compacted.
      const base = s.log.base;
      const firstOwn = base.term === s.term
        ? base.index
        : s.log.entries.find((e) => e.term === s.term)?.index ?? base.index;
      let prev: Entry | undefined;
      for (const e of s.log.entries) {
        if (e.type !== "confChange") continue;
        if (e.term === s.term) {
          if (prev !== undefined && prev.index > s.commit) {
            throw new InvariantViolation(
              `one change at a time: ${s.id} leads term ${s.term} with conf change ${
                entryKey(e)
              } while ${entryKey(prev)} is uncommitted (commit ${s.commit})`,
            );
          }
          if (s.commit < firstOwn) {
            throw new InvariantViolation(
              `conf change before a commit in its term: ${s.id} leads term ${s.term} with conf change ${
                entryKey(e)
              } but has not committed its first entry ${firstOwn} of the term (commit ${s.commit})`,
            );
          }
        }
        prev = e;
      }
    }
  }

  /**
   * A snapshot taken or installed holds only committed entries, each the
   * one committed at its index (state machine safety for snapshots), ends
   * with the committed entry's term, and carries the membership that the
   * committed conf changes up to it make.
   */
  #checkSnapshot(nw: World, who: NodeId, snap: Snapshot, how: string): void {
    const b = baseOf(snap);
    const fail = (msg: string) => {
      throw new InvariantViolation(`snapshot: ${who} ${how} a snapshot at ${b.index}: ${msg}`);
    };
    if (b.keys.length !== b.index) fail(`its data covers ${b.keys.length} entries`);
    let conf = this.genesis;
    for (let i = 1; i <= b.index; i++) {
      const c = nw.committed[i];
      if (c === undefined) fail(`it holds ${b.keys[i - 1]} at ${i}, not known committed`);
      else if (stateKey(c.key) !== b.keys[i - 1]) {
        fail(`it holds ${b.keys[i - 1]} at ${i}, where ${c.key} was committed`);
      } else {
        const cc = confChangeOfKey(c.key);
        if (cc !== undefined) conf = applyConfChange(conf, cc);
      }
    }
    if (b.index > 0 && termOfKey(b.keys[b.index - 1]) !== b.term) {
      fail(`its term ${b.term} is not its last entry's (${b.keys[b.index - 1]})`);
    }
    if (!sameConf(conf, b.conf)) {
      fail(`its membership ${JSON.stringify(b.conf)} is not the committed ${JSON.stringify(conf)}`);
    }
  }

  /** A one-line description of a state: each site, then the messages in flight. */
  describe(w: World): string {
    const sites = w.sites.map((s) => {
      const conf = sameConf(s.conf, this.genesis)
        ? ""
        : ` voters=${s.conf.voters.join(",")} learners=${s.conf.learners.join(",") || "-"}`;
      return `  ${s.id} ${s.role} t${s.term} vote=${s.vote || "-"} log=${
        showLog(s.log)
      } commit=${s.commit} applied=${s.applied}${conf}` +
        (s.disk.snapshot.metadata.index > 0
          ? ` disk-snapshot@${s.disk.snapshot.metadata.index}`
          : "") +
        (s.pending ? " (Ready pending)" : "");
    });
    const bag = w.bag.map((b) => `    ${b.count > 1 ? `${b.count}× ` : ""}${messageKey(b.msg)}`);
    return [...sites, `  in flight (${w.inFlight}):`, ...bag].join("\n");
  }
}

/** `bag` with `m` added; as a set, `bag` itself when it holds `m` already. */
function bagAdd(bag: BagItem[], m: Message, asSet: boolean, model: Model): BagItem[] {
  // Identity by content; the readable messageKey() is made only for traces.
  const key = JSON.stringify(m);
  const h = model.messages.id(key);
  let lo = 0, hi = bag.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bag[mid].h < h) lo = mid + 1;
    else hi = mid;
  }
  const found = lo < bag.length && bag[lo].h === h;
  if (asSet && found) return bag;
  const out = bag.slice();
  if (found) out[lo] = { ...bag[lo], count: bag[lo].count + 1 };
  else out.splice(lo, 0, { key, h, hs: model.renamedMessageIds(m, h), msg: m, count: 1 });
  return out;
}

function bagRemove(bag: BagItem[], h: number): BagItem[] {
  const k = bag.findIndex((b) => b.h === h);
  const out = bag.slice();
  if (bag[k].count > 1) out[k] = { ...bag[k], count: bag[k].count - 1 };
  else out.splice(k, 1);
  return out;
}

function traceOf(ids: NodeId[], t: Trace | undefined): string[] {
  const out: string[] = [];
  for (; t !== undefined; t = t.prev) out.push(label(ids, t.action));
  return out.reverse();
}

/** Progress callback: called after each depth level. */
export type OnLevel = (depth: number, states: number, frontier: number, seconds: number) => void;

/** What an action that threw broke: an invariant's message, or the error's name and message. */
function failureOf(e: unknown): string {
  if (e instanceof InvariantViolation) return e.message;
  return `${e instanceof Error ? e.name : "Error"}: ${e instanceof Error ? e.message : e}`;
}

/** Runs the bounded breadth-first search. Never throws for a Raft bug: it returns it. */
export function modelCheck(opts: CheckOptions, onLevel?: OnLevel): CheckResult {
  const started = performance.now();
  const model = new Model(opts);
  const b = opts.bounds;
  const seconds = () => (performance.now() - started) / 1000;
  let init = model.initial();
  const prefixLevels: number[] = [];
  const take = (a: Action, step: string) => {
    let nw: World | undefined;
    try {
      nw = model.apply(init, a);
    } catch (e) {
      const trace = [...traceOf(model.ids, init.trace), label(model.ids, a)];
      const message = failureOf(e);
      throw new Error(`Prefix step "${step}" breaks an invariant: ${message}\n${trace.join("\n")}`);
    }
    if (nw === undefined) throw new Error(`Cannot take prefix step "${step}": it changes nothing`);
    init = nw;
    prefixLevels.push(1);
  };
  for (const step of opts.prefix ?? []) {
    const matches = model.actions(init).filter((a) => {
      const l = label(model.ids, a);
      return l === step || l.startsWith(step + " ");
    });
    if (matches.length !== 1) {
      throw new Error(
        `Cannot take prefix step "${step}": ${matches.length} enabled actions match it`,
      );
    }
    take(matches[0], step);
    // The async host: every Ready the step left pending is finished, in site order.
    for (let k = init.sites.findIndex((s) => s.pending); k >= 0;) {
      take({ k: "persist", site: k }, `persist ${model.ids[k]}`);
      k = init.sites.findIndex((s) => s.pending);
      if (prefixLevels.length > 4 * (opts.prefix?.length ?? 0) + 16) {
        throw new Error(`Cannot finish the Readies after prefix step "${step}"`);
      }
    }
  }
  const visited = new Set<string>([model.fingerprint(init)]);
  const orbits = new Set<string>(opts.countOrbits ? [model.canonical(init)] : []);
  // Exact fingerprints of states seen lately: most actions lead back to a
  // state seen before, under the same names, and this spares the
  // canonical fingerprint then. Only a cache, emptied when full.
  let recent = new Set<string>([init.exact]);
  const levels = [1, ...prefixLevels];
  let frontier: World[] = [init];
  let transitions = 0;
  let pruned = 0;
  let capped = false;
  let depth = prefixLevels.length;
  const coverage: Coverage = {
    maxTerm: 0,
    maxCommitted: 0,
    maxLeaders: 0,
    maxWritesCommitted: 0,
    readsAnswered: 0,
    restarts: 0,
    maxConfChangesCommitted: 0,
    confChangesCommitted: [],
    snapshotsInstalled: 0,
    transferCampaigns: 0,
    heldBack: 0,
  };
  const cover = (w: World, a: Action) => {
    for (const s of w.sites) if (s.term > coverage.maxTerm) coverage.maxTerm = s.term;
    const committed = w.committed.length - 1;
    if (committed > coverage.maxCommitted) coverage.maxCommitted = committed;
    const leaders = w.leaders.filter((l) => l !== undefined).length;
    if (leaders > coverage.maxLeaders) coverage.maxLeaders = leaders;
    const writes = w.committed.filter((c) => c !== undefined && c.key.includes(":p")).length;
    if (writes > coverage.maxWritesCommitted) coverage.maxWritesCommitted = writes;
    if (a.k === "restart") coverage.restarts++;
    let ccs = 0;
    for (const c of w.committed) {
      const cc = c === undefined ? undefined : confChangeOfKey(c.key);
      if (cc === undefined) continue;
      ccs++;
      const self = cc.type === "remove" && w.leaders[termOfKey(c!.key)] === cc.node;
      const kind = self ? "remove the leader" : cc.type;
      if (!coverage.confChangesCommitted.includes(kind)) {
        coverage.confChangesCommitted = [...coverage.confChangesCommitted, kind].sort();
      }
    }
    if (ccs > coverage.maxConfChangesCommitted) coverage.maxConfChangesCommitted = ccs;
  };
  const result = (violation?: Violation): CheckResult => ({
    ok: violation === undefined,
    violation,
    states: visited.size,
    transitions,
    pruned,
    depthReached: levels.length - 1,
    levels,
    complete: violation === undefined && !capped,
    exhausted: frontier.length === 0,
    seconds: seconds(),
    coverage: {
      ...coverage,
      readsAnswered: model.readsAnswered,
      snapshotsInstalled: model.snapshotsInstalled,
      transferCampaigns: model.transferCampaigns,
      heldBack: model.heldBack,
    },
    orbits: opts.countOrbits ? orbits.size : undefined,
  });
  for (; depth < b.depth && frontier.length > 0 && !capped; depth++) {
    const next: World[] = [];
    for (const w of frontier) {
      for (const a of model.actions(w)) {
        let nw: World | undefined;
        try {
          nw = model.apply(w, a);
        } catch (e) {
          const trace = [...traceOf(model.ids, w.trace), label(model.ids, a)];
          const message = failureOf(e);
          return result({ message, trace, explained: explain(opts, trace) });
        }
        if (nw === undefined) continue;
        transitions++;
        if (nw.inFlight > b.inFlight || nw.sites.some((s) => s.term > b.terms)) {
          pruned++;
          continue;
        }
        if (recent.has(nw.exact)) continue;
        if (recent.size >= recentStatesMax) recent = new Set();
        recent.add(nw.exact);
        const fp = model.fingerprint(nw);
        if (visited.has(fp)) continue;
        visited.add(fp);
        if (opts.countOrbits) orbits.add(model.canonical(nw));
        next.push(nw);
        cover(nw, a);
        if (visited.size >= b.states) {
          capped = true;
          break;
        }
      }
      if (capped) break;
    }
    frontier = next;
    if (next.length > 0) levels.push(next.length);
    onLevel?.(depth + 1, visited.size, next.length, seconds());
  }
  return result();
}

/** The outcome of replaying a trace. */
export interface Replay {
  /** The violation the replay ran into, if any (`Name: message`). */
  violation?: string;
  /** Steps applied (the last one raised the violation, if any). */
  steps: number;
  /** Set when a step was not enabled (or changed nothing) where the trace has it. */
  stuck?: string;
  /** The initial state and every state after a step, described. */
  explained: string;
}

/**
 * Replays a trace (action labels, as a violation reports them) from the
 * initial state, checking every invariant on the way, and describes every
 * state. Stops at the first violation, or where a step is not enabled.
 */
export function replay(opts: CheckOptions, trace: string[]): Replay {
  const model = new Model(opts);
  let w = model.initial();
  const lines = ["initial state:", model.describe(w)];
  const done = (r: Omit<Replay, "explained">): Replay => ({ ...r, explained: lines.join("\n") });
  for (let i = 0; i < trace.length; i++) {
    const a = model.actions(w).find((x) => label(model.ids, x) === trace[i]);
    if (a === undefined) {
      return done({ steps: i, stuck: `step ${i + 1} is not enabled: ${trace[i]}` });
    }
    lines.push(`${i + 1}. ${trace[i]}`);
    let nw: World | undefined;
    try {
      nw = model.apply(w, a);
    } catch (e) {
      const violation = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      lines.push(`  → ${violation}`);
      return done({ steps: i + 1, violation });
    }
    if (nw === undefined) {
      return done({ steps: i, stuck: `step ${i + 1} changes nothing: ${trace[i]}` });
    }
    w = nw;
    lines.push(model.describe(w));
  }
  return done({ steps: trace.length });
}

/** {@link replay}'s description of every state on the way. */
export function explain(opts: CheckOptions, trace: string[]): string {
  return replay(opts, trace).explained;
}

/** An entry of a log as Log Matching compares it: `at` is `index.term`. */
interface MatchItem {
  at: string;
  state: string;
  /** The entry key; undefined for a snapshot's last entry. */
  key?: string;
  /** The term of the entry before it. */
  prev: number;
}

const matchItemsOf = new WeakMap<Log, MatchItem[]>();

/** What Log Matching compares of `log` (computed once per log: sites are immutable). */
function matchItems(log: Log): MatchItem[] {
  let items = matchItemsOf.get(log);
  if (items === undefined) {
    items = [];
    const b = log.base;
    if (b.index > 0) {
      const prev = b.index > 1 ? termOfKey(b.keys[b.index - 2]) : 0;
      items.push({ at: `${b.index}.${b.term}`, state: b.keys[b.index - 1], prev });
    }
    let prev = b.term;
    for (const e of log.entries) {
      const key = entryKey(e);
      items.push({ at: `${e.index}.${e.term}`, state: stateKey(key), key, prev });
      prev = e.term;
    }
    matchItemsOf.set(log, items);
  }
  return items;
}

/** Raft's up-to-date rule (§5.4.1): whether log `a` is at least as up to date as log `b`. */
function upToDate(a: Log, b: Log): boolean {
  const ta = lastTermOf(a);
  const tb = lastTermOf(b);
  return ta > tb || (ta === tb && lastIndexOf(a) >= lastIndexOf(b));
}

/** The term in an {@link entryKey} or {@link stateKey} (`index.term…`). */
function termOfKey(key: string): number {
  return parseInt(key.slice(key.indexOf(".") + 1), 10);
}

/** A membership with its lists sorted (their order never matters). */
function canonicalConf(cs: ConfState): ConfState {
  return { voters: [...cs.voters].sort(), learners: [...cs.learners].sort() };
}

function sameConf(a: ConfState, b: ConfState): boolean {
  return JSON.stringify(canonicalConf(a)) === JSON.stringify(canonicalConf(b));
}

/** Every permutation of `[0, n)`, the identity first. */
function permutations(n: number): number[][] {
  if (n > 5) throw new Error(`Cannot use symmetry with ${n} voters: at most 5`);
  const out: number[][] = [];
  const go = (prefix: number[]) => {
    if (prefix.length === n) {
      out.push(prefix);
      return;
    }
    for (let k = 0; k < n; k++) if (!prefix.includes(k)) go([...prefix, k]);
  };
  go([]);
  return out;
}

/**
 * A copy of plain data with every string that is a site name replaced by
 * the name `perm` gives that site (`ids[k]` becomes `ids[perm[k]]`). It
 * renames every such string wherever it is, so no name can be missed, and
 * the site a conf-change entry's data names; other byte arrays (a normal
 * entry's data, a snapshot's, which holds {@link stateKey}s) name no site
 * and are kept as they are. A membership's `voters` and `learners` come
 * out sorted, as the model's snapshots store them (their order means
 * nothing).
 */
function renameIds(v: unknown, ids: NodeId[], perm: number[]): unknown {
  if (typeof v === "string") {
    const k = ids.indexOf(v);
    return k < 0 ? v : ids[perm[k]];
  }
  if (v === null || typeof v !== "object" || v instanceof Uint8Array) return v;
  const e = v as Entry;
  if (e.type === "confChange" && e.data instanceof Uint8Array) {
    const cc = decodeConfChange(e.data);
    const node = renameIds(cc.node, ids, perm) as NodeId;
    return { ...e, data: encodeConfChange({ type: cc.type, node }) };
  }
  if (Array.isArray(v)) return v.map((x) => renameIds(x, ids, perm));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const renamed = renameIds(x, ids, perm);
    // A membership's lists (in a snapshot), sorted as the model's snapshots are.
    out[k] = (k === "voters" || k === "learners") && Array.isArray(renamed)
      ? (renamed as string[]).sort()
      : renamed;
  }
  return out;
}

function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedByJson<T>(xs: T[]): T[] {
  return xs.map((x) => [JSON.stringify(x), x] as const).sort((a, b) => byString(a[0], b[0]))
    .map(([, x]) => x);
}

/**
 * Puts the collections of a `RaftNode.debugState()` that are sets (or
 * whose order only decides the order messages are sent in, which the
 * network ignores) in a canonical order: after renaming, a site's dump then
 * reads as the dump of the renamed site. A collection left unsorted here
 * only keeps two symmetric states apart; it never merges different ones.
 */
function canonicalDump(d: Record<string, unknown>): Record<string, unknown> {
  const prs = d.prs as { id: string }[] | undefined;
  prs?.sort((a, b) => byString(a.id, b.id));
  const votes = d.votes as [string, boolean][] | undefined;
  votes?.sort((a, b) => byString(a[0], b[0]));
  for (const r of (d.readQueue as { acks: string[] }[] | undefined) ?? []) r.acks.sort();
  for (const c of (d.confs as { conf: { voters: string[]; learners: string[] } }[]) ?? []) {
    c.conf.voters.sort();
    c.conf.learners.sort();
  }
  if (Array.isArray(d.msgs)) d.msgs = sortedByJson(d.msgs);
  return d;
}

/** Lexicographic order of two vectors of the same length. */
function lessThan(a: Float64Array, b: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i] < b[i];
  }
  return false;
}

/** Sorts a short array in place (faster than the typed array's own sort at this size). */
function insertionSort(a: Float64Array): void {
  for (let i = 1; i < a.length; i++) {
    const x = a[i];
    let j = i - 1;
    while (j >= 0 && a[j] > x) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = x;
  }
}
