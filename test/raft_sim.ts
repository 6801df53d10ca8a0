/**
 * A seeded cluster simulator for the Raft core (TigerBeetle VOPR style).
 *
 * One seed drives one PRNG, which picks the cluster (3 or 5 voters, maybe a
 * spare site for membership changes), the Raft limits, the network's drop,
 * delay, duplicate and reorder rates, symmetric and one-way partitions,
 * crashes and restarts, client writes, ReadIndex reads, leadership
 * transfers, membership changes and log compaction. In half the seeds a site
 * may also leave a Ready half-handled while messages and ticks reach its
 * node, as the real host does while it awaits its disk (those pauses draw
 * from a PRNG of their own, so seeds without them keep their schedules).
 * A leader's messages leave as soon as it takes a Ready, before it persists
 * the Ready, as the host sends them (thesis §10.2.1; a crash meanwhile loses
 * the entries, not the messages). In half the seeds membership changes may
 * remove voters down to one, a lone voter with learners (drawn apart too).
 * Everything runs in one process on logical time, so a seed replays exactly.
 *
 * Safety is checked after every step (every delivery and every tick):
 * at most one leader per term; no two sites ever commit or apply different
 * entries at one index; each site applies a contiguous sequence; no write is
 * applied twice; a ReadIndex answer is never below what was committed when
 * the read started. Then a liveness phase heals the network, stops the
 * faults, restarts every site, and requires that within a bounded number of
 * ticks a leader is elected, a fresh write commits on every member, and every
 * acknowledged write is in every member's applied log exactly once.
 *
 * @module
 */

import { RaftNode } from "../src/consensus/raft.ts";
import { mulberry32 } from "../src/prng.ts";
import type { RaftTestingBugs } from "../src/consensus/raft.ts";
import { MemoryStorage } from "../src/consensus/storage.ts";
import { ConfChangeError } from "../src/consensus/errors.ts";
import { applyConfChange, decodeConfChange } from "../src/consensus/membership.ts";
import type {
  ConfChange,
  Entry,
  Message,
  NodeId,
  Ready,
  Snapshot,
} from "../src/consensus/types.ts";

/** The simulator's seeded PRNG, for the tests that replay from a seed too. */
export { mulberry32 };

/** Convenience wrappers over a `[0, 1)` source. */
export class Prng {
  constructor(readonly next: () => number) {}
  /** An integer in `[lo, hi]`. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  /** A fresh 32-bit seed for a child PRNG. */
  seed(): number {
    return Math.floor(this.next() * 4294967296);
  }
}

export interface SimOptions {
  seed: number;
  /** Ticks of the faulty phase. */
  safetyTicks?: number;
  /** Ticks allowed for the liveness phase to elect a leader, before backlog allowance. */
  livenessTicksBase?: number;
  /** Deliberate bugs to inject into every site (to prove the checker can fail). */
  bugs?: RaftTestingBugs;
  /** Make faults more frequent (used with `bugs`). */
  hostile?: boolean;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  violation?: string;
  stats: {
    sites: number;
    ticks: number;
    maxTerm: number;
    committed: number;
    acked: number;
    crashes: number;
    confChanges: number;
    snapshotsSent: number;
    reads: number;
    livenessTicks: number;
  };
}

/** Thrown inside the simulation when a check fails. */
export class Violation extends Error {
  override name = "Violation";
}

interface StateMachine {
  appliedIndex: number;
  ids: string[];
  idSet: Set<string>;
}

interface Site {
  id: NodeId;
  storage: MemoryStorage;
  node: RaftNode | undefined;
  sm: StateMachine;
  restartAt: number;
  checkedCommit: number;
  /**
   * A Ready taken and not handled yet. The real host awaits inside its
   * Ready loop (persisting, applying; src/site/raft_host.ts), so messages
   * and ticks reach the node between `ready()` and `advance()`.
   */
  pending: Ready | undefined;
  /** The pending Ready's messages already left (a leader's, as the host sends them, see #sendsEarly). */
  pendingSent: boolean;
}

interface InFlight {
  at: number;
  seq: number;
  msg: Message;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function entryKey(e: Entry): string {
  if (e.type === "confChange") {
    const cc = decodeConfChange(e.data);
    return `${e.term}:cc:${cc.type}:${cc.node}`;
  }
  return `${e.term}:n:${decoder.decode(e.data)}`;
}

function encodeSm(sm: StateMachine): Uint8Array {
  return encoder.encode(JSON.stringify({ appliedIndex: sm.appliedIndex, ids: sm.ids }));
}

function decodeSm(data: Uint8Array): StateMachine {
  if (data.byteLength === 0) return { appliedIndex: 0, ids: [], idSet: new Set() };
  const v = JSON.parse(decoder.decode(data)) as { appliedIndex: number; ids: string[] };
  return { appliedIndex: v.appliedIndex, ids: v.ids, idSet: new Set(v.ids) };
}

/** Runs one seed; never throws for a Raft bug, returns it as `violation` instead. */
export function runSimulation(opts: SimOptions): SimResult {
  const sim = new Simulation(opts);
  try {
    sim.run();
    return sim.result(true);
  } catch (e) {
    const msg = e instanceof Error
      ? `${e.name}: ${e.message}${Deno.env.get("SIM_STACK") ? "\n" + e.stack : ""}`
      : String(e);
    return sim.result(false, `t=${sim.now} ${msg}`);
  }
}

class Simulation {
  readonly prng: Prng;
  readonly seed: number;
  now = 0;
  phase: "safety" | "liveness" = "safety";
  readonly sites: Site[] = [];
  readonly ids: NodeId[] = [];
  readonly bugs: RaftTestingBugs;
  readonly hostile: boolean;

  // Parameters drawn from the seed.
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxEntriesPerMsg: number;
  readonly maxBytesPerMsg: number;
  readonly maxInflightMsgs: number;
  dropRate: number;
  dupRate: number;
  delayMax: number;
  readonly partitionRate: number;
  readonly crashRate: number;
  readonly proposeRate: number;
  readonly confChangeRate: number;
  readonly compactRate: number;
  readonly transferRate: number;
  readonly readRate: number;
  /** Chance that a site leaves a Ready half-handled while the network goes on. */
  readonly readyPauseRate: number;
  readonly #pauses: Prng;
  /** Membership changes may remove voters down to one (a lone voter with learners). */
  readonly shrinkToOne: boolean;
  readonly safetyTicks: number;
  readonly livenessTicksBase: number;

  // Network.
  #queue: InFlight[] = [];
  #seq = 0;
  /** Directed links that drop everything: "a>b". */
  #blocked = new Set<string>();
  #healAt = -1;

  // Checker state.
  readonly leaderOfTerm = new Map<number, NodeId>();
  readonly committedAt = new Map<number, string>();
  maxCommitted = 0;
  readonly acked = new Set<string>();
  readonly reads = new Map<string, { minIndex: number }>();
  #writeSeq = 0;
  #readSeq = 0;
  stats = {
    crashes: 0,
    confChanges: 0,
    snapshotsSent: 0,
    reads: 0,
    livenessTicks: 0,
  };

  constructor(opts: SimOptions) {
    this.seed = opts.seed;
    this.prng = new Prng(mulberry32(opts.seed));
    const p = this.prng;
    this.bugs = opts.bugs ?? {};
    const hostile = opts.hostile === true;
    this.hostile = hostile;
    const voters = hostile || p.chance(0.5) ? 5 : 3;
    const spare = p.chance(0.5) ? 1 : 0;
    for (let k = 0; k < voters + spare; k++) this.ids.push(`s${k + 1}`);
    const initialVoters = this.ids.slice(0, voters);
    this.electionTicks = p.int(8, 14);
    this.heartbeatTicks = p.int(1, 3);
    this.preVote = p.chance(0.75);
    this.checkQuorum = p.chance(0.75);
    this.maxEntriesPerMsg = hostile ? 1 : p.pick([1, 2, 4, 16]);
    this.maxBytesPerMsg = p.pick([32, 128, 1024]);
    this.maxInflightMsgs = p.pick([1, 2, 4, 8]);
    this.dropRate = p.pick([0, 0.02, 0.05, 0.15]);
    this.dupRate = p.pick([0, 0.02, 0.1]);
    this.delayMax = p.int(1, 6);
    this.partitionRate = hostile ? 0.03 : p.pick([0, 0.005, 0.01, 0.02]);
    this.crashRate = hostile ? 0.02 : p.pick([0, 0.001, 0.003, 0.006]);
    this.proposeRate = p.pick([0.1, 0.3, 0.6]);
    this.confChangeRate = p.pick([0, 0, 0.005, 0.02]);
    this.compactRate = p.pick([0, 0.01, 0.05]);
    this.transferRate = p.pick([0, 0.002, 0.01]);
    this.readRate = p.pick([0, 0.05, 0.2]);
    this.safetyTicks = opts.safetyTicks ?? 500;
    this.livenessTicksBase = opts.livenessTicksBase ?? 60 * this.electionTicks;
    // From a PRNG of its own: a seed that never pauses runs exactly as it did
    // before pauses existed (the seeds quoted in tests keep their schedules).
    this.#pauses = new Prng(mulberry32(opts.seed ^ 0x5bd1e995));
    this.readyPauseRate = this.#pauses.pick([0, 0, 0.2, 0.4]);
    // Also apart, for the same reason: a seed that never shrinks keeps its schedule.
    this.shrinkToOne = new Prng(mulberry32(opts.seed ^ 0x27d4eb2f)).chance(0.5);

    for (const id of this.ids) {
      // Every site starts from the same genesis membership; a spare site is
      // simply not in it until it is added as a learner.
      const storage = new MemoryStorage({ voters: initialVoters, learners: [] });
      const site: Site = {
        id,
        storage,
        node: undefined,
        sm: { appliedIndex: 0, ids: [], idSet: new Set() },
        restartAt: -1,
        checkedCommit: 0,
        pending: undefined,
        pendingSent: false,
      };
      this.sites.push(site);
      this.#start(site);
    }
  }

  result(ok: boolean, violation?: string): SimResult {
    let maxTerm = 0;
    for (const t of this.leaderOfTerm.keys()) maxTerm = Math.max(maxTerm, t);
    return {
      seed: this.seed,
      ok,
      violation,
      stats: {
        sites: this.sites.length,
        ticks: this.now,
        maxTerm,
        committed: this.maxCommitted,
        acked: this.acked.size,
        ...this.stats,
      },
    };
  }

  #start(site: Site): void {
    site.node = new RaftNode({
      id: site.id,
      storage: site.storage,
      electionTicks: this.electionTicks,
      heartbeatTicks: this.heartbeatTicks,
      random: mulberry32(this.prng.seed()),
      maxEntriesPerMsg: this.maxEntriesPerMsg,
      maxBytesPerMsg: this.maxBytesPerMsg,
      maxInflightMsgs: this.maxInflightMsgs,
      checkQuorum: this.checkQuorum,
      preVote: this.preVote,
      testingBugs: this.bugs,
      // Flow control: clients are refused while this many entries are uncommitted.
      maxUncommittedEntries: 64,
    });
    // The state machine is rebuilt from the persisted snapshot; Raft then
    // re-delivers the committed entries after it.
    site.sm = decodeSm(site.storage.snapshot().data);
    const snapIndex = site.storage.snapshot().metadata.index;
    if (site.sm.appliedIndex !== snapIndex) {
      throw new Violation(
        `${site.id}: snapshot data at ${site.sm.appliedIndex} but metadata at ${snapIndex}`,
      );
    }
    site.checkedCommit = Math.max(site.checkedCommit, snapIndex);
  }

  run(): void {
    while (this.now < this.safetyTicks) this.#step();
    this.phase = "liveness";
    this.#heal();
    const start = this.now;
    const bound = this.#livenessBound();
    let finalId: string | undefined;
    let finalLeader = "";
    let caughtUp = false;
    while (true) {
      if (this.now - start > bound) {
        throw new Violation(
          `liveness: no convergence within ${bound} ticks (${this.#describe()})`,
        );
      }
      this.#step();
      const leader = this.#soleLeader();
      if (leader === undefined) continue;
      // First, with no new writes, every member must catch up with the leader
      // on its own (heartbeat-driven probing, snapshots).
      if (!caughtUp) {
        caughtUp = this.#caughtUp(leader);
        if (!caughtUp) continue;
      }
      if (finalId !== undefined && this.#converged(leader, finalId)) break;
      // A write proposed to a leader that since lost leadership may be lost; retry.
      const who = `${leader.id}/${leader.node!.status().term}`;
      if (finalId !== undefined && !this.acked.has(finalId) && who !== finalLeader) {
        finalId = undefined;
      }
      if (finalId === undefined) {
        const id = `final-${this.#writeSeq++}`;
        if (leader.node!.propose(encoder.encode(id))) {
          finalId = id;
          finalLeader = who;
        }
        this.#drain(leader);
      }
    }
    this.stats.livenessTicks = this.now - start;
  }

  /**
   * Ticks allowed for the liveness phase: time to elect a leader, plus time
   * to ship the largest backlog at the configured per-round-trip rate. When
   * the network still reorders (a delay of more than one tick), an append
   * overtaken by a later one is rejected and the leader falls back to
   * probing — one message per round trip — and back: the backlog is counted
   * at that rate (seed 9604351 at 8,000 ticks caught up in 2,121 ticks
   * against 2,100 allowed at the pipelined rate). A bound this loose still
   * fails a cluster that stops making progress.
   */
  #livenessBound(): number {
    let maxLast = 0;
    let minApplied = Infinity;
    for (const s of this.sites) {
      maxLast = Math.max(maxLast, s.storage.lastIndex());
      minApplied = Math.min(minApplied, s.sm.appliedIndex);
    }
    const entryBytes = 16 + 12;
    const perMsg = Math.max(
      1,
      Math.min(this.maxEntriesPerMsg, Math.floor(this.maxBytesPerMsg / entryBytes)),
    );
    const perRoundTrip = this.delayMax > 1 ? perMsg : perMsg * this.maxInflightMsgs;
    const roundTrips = Math.ceil((maxLast - minApplied) / perRoundTrip);
    return this.livenessTicksBase + roundTrips * (2 * 2 + 2);
  }

  #describe(): string {
    return this.sites.map((s) => {
      if (!s.node) return `${s.id}:down`;
      const st = s.node.status();
      return `${s.id}:${st.role}/t${st.term}/c${st.commitIndex}/a${st.appliedIndex}/l${st.lastIndex}/L${st.leader}/v${
        st.confState.voters.join("+")
      }`;
    }).join(" ");
  }

  /** The leader of the highest term among live sites, if exactly one site leads it. */
  #soleLeader(): Site | undefined {
    let best: Site | undefined;
    let bestTerm = -1;
    for (const s of this.sites) {
      if (!s.node) continue;
      const st = s.node.status();
      if (st.role === "leader" && st.term > bestTerm) {
        best = s;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** Whether every member holds and has applied everything the leader holds. */
  #caughtUp(leader: Site): boolean {
    const ls = leader.node!.status();
    if (ls.commitIndex !== ls.lastIndex) return false;
    for (const id of [...ls.confState.voters, ...ls.confState.learners]) {
      const s = this.sites.find((x) => x.id === id)!;
      if (!s.node) return false;
      const st = s.node.status();
      if (st.lastIndex !== ls.lastIndex || st.appliedIndex !== ls.lastIndex) return false;
    }
    return true;
  }

  #converged(leader: Site, finalId: string): boolean {
    const cs = leader.node!.status().confState;
    const members = [...cs.voters, ...cs.learners];
    for (const id of members) {
      const s = this.sites.find((x) => x.id === id)!;
      if (!s.node) return false;
      if (!s.sm.idSet.has(finalId)) return false;
    }
    // Every acknowledged write is on every member, exactly once.
    for (const id of members) {
      const s = this.sites.find((x) => x.id === id)!;
      if (s.sm.idSet.size !== s.sm.ids.length) {
        throw new Violation(`${s.id}: a write was applied twice`);
      }
      for (const w of this.acked) {
        if (!s.sm.idSet.has(w)) {
          throw new Violation(
            `liveness: acknowledged write ${w} missing on ${s.id} after convergence`,
          );
        }
      }
    }
    return true;
  }

  #heal(): void {
    this.#blocked.clear();
    this.#healAt = -1;
    this.dropRate = 0;
    this.dupRate = 0;
    this.delayMax = Math.min(this.delayMax, 2);
    for (const s of this.sites) {
      if (!s.node) {
        this.#start(s);
        this.#drain(s);
      }
    }
  }

  #step(): void {
    this.now++;
    const p = this.prng;
    // 1. Deliver the messages due now, in a random order.
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of this.#queue) (f.at <= this.now ? due : later).push(f);
    this.#queue = later;
    for (let k = due.length - 1; k > 0; k--) {
      const j = Math.floor(p.next() * (k + 1));
      [due[k], due[j]] = [due[j], due[k]];
    }
    for (const f of due) this.#deliver(f.msg);

    if (this.phase === "safety") this.#faults();

    // 2. Tick every live site.
    for (const s of this.sites) {
      if (!s.node) continue;
      s.node.tick();
      this.#drain(s);
    }
  }

  #faults(): void {
    const p = this.prng;
    // Partitions.
    if (this.#healAt >= 0 && this.now >= this.#healAt) {
      this.#blocked.clear();
      this.#healAt = -1;
    }
    if (this.#healAt < 0 && p.chance(this.partitionRate)) {
      const kind = p.int(0, 2);
      if (kind === 0) {
        // Symmetric split into two groups.
        const group = new Set(this.ids.filter(() => p.chance(0.5)));
        for (const a of this.ids) {
          for (const b of this.ids) {
            if (group.has(a) !== group.has(b)) this.#blocked.add(`${a}>${b}`);
          }
        }
      } else if (kind === 1) {
        // Isolate one site completely.
        const x = p.pick(this.ids);
        for (const o of this.ids) {
          if (o !== x) {
            this.#blocked.add(`${x}>${o}`);
            this.#blocked.add(`${o}>${x}`);
          }
        }
      } else {
        // One-way links.
        const n = p.int(1, 3);
        for (let k = 0; k < n; k++) this.#blocked.add(`${p.pick(this.ids)}>${p.pick(this.ids)}`);
      }
      this.#healAt = this.now + p.int(5, 20 * this.electionTicks);
    }
    // Crashes and restarts. A hostile run also crashes leaders on purpose,
    // soon after they win, to leave logs half-replicated across terms.
    for (const s of this.sites) {
      const leaderHunt = this.hostile && s.node?.status().role === "leader" && p.chance(0.15);
      if (s.node && (leaderHunt || p.chance(this.crashRate))) {
        s.node = undefined;
        s.pending = undefined;
        s.pendingSent = false;
        s.restartAt = this.now + p.int(1, 10 * this.electionTicks);
        this.stats.crashes++;
      } else if (!s.node && this.now >= s.restartAt) {
        this.#start(s);
        this.#drain(s);
      }
    }
    // Clients.
    if (p.chance(this.proposeRate)) this.#clientWrite();
    if (p.chance(this.readRate)) this.#clientRead();
    if (p.chance(this.confChangeRate)) this.#confChange();
    if (p.chance(this.transferRate)) {
      const s = this.#soleLeader();
      if (s) {
        const voters = s.node!.status().confState.voters;
        s.node!.transferLeadership(p.pick(voters));
        this.#drain(s);
      }
    }
    if (p.chance(this.compactRate)) this.#compact(p.pick(this.sites));
  }

  #live(): Site[] {
    return this.sites.filter((s) => s.node !== undefined);
  }

  #clientWrite(): void {
    const live = this.#live();
    if (live.length === 0) return;
    let s = this.prng.pick(live);
    const hint = s.node!.status().leader;
    if (hint !== undefined && hint !== s.id) {
      const l = this.sites.find((x) => x.id === hint);
      if (l?.node) s = l;
    }
    const id = `w${this.#writeSeq++}`;
    if (s.node!.propose(encoder.encode(id))) this.#drain(s);
  }

  #clientRead(): void {
    const live = this.#live();
    if (live.length === 0) return;
    const s = this.prng.pick(live);
    const ctx = `r${this.#readSeq++}`;
    this.reads.set(ctx, { minIndex: this.maxCommitted });
    if (s.node!.readIndex(ctx)) this.#drain(s);
  }

  #confChange(): void {
    const s = this.#soleLeader();
    if (!s) return;
    const p = this.prng;
    const st = s.node!.status();
    const cs = st.confState;
    const nonMembers = this.ids.filter((id) =>
      !cs.voters.includes(id) && !cs.learners.includes(id)
    );
    const options: ConfChange[] = [];
    for (const id of nonMembers) options.push({ type: "addLearner", node: id });
    for (const id of cs.learners) {
      options.push({ type: "promote", node: id });
      options.push({ type: "remove", node: id });
    }
    if (cs.voters.length > 3 || (this.shrinkToOne && cs.voters.length > 1)) {
      for (const id of cs.voters) options.push({ type: "remove", node: id });
    }
    if (options.length === 0) return;
    const cc = p.pick(options);
    try {
      if (s.node!.proposeConfChange(cc)) this.stats.confChanges++;
    } catch (e) {
      if (!(e instanceof ConfChangeError)) throw e;
    }
    this.#drain(s);
  }

  #compact(s: Site): void {
    if (!s.node) return;
    const applied = s.sm.appliedIndex;
    const first = s.storage.firstIndex();
    if (applied - first < 4) return;
    // As the host: never in the middle of a Ready, nor at an applied index a
    // received snapshot has overtaken (its membership there is gone).
    if (s.pending !== undefined || s.node.status().firstIndex - 1 > applied) return;
    const conf = s.node.confStateAt(applied);
    s.storage.createSnapshot(applied, conf, encodeSm(s.sm));
    s.storage.compact(applied - this.prng.int(0, 3));
  }

  #send(m: Message): void {
    const p = this.prng;
    if (m.type === "snapshot") this.stats.snapshotsSent++;
    if (p.chance(this.dropRate)) {
      // A host learns that its snapshot transfer failed; half the time, say so.
      if (m.type === "snapshot" && p.chance(0.5)) {
        this.sites.find((x) => x.id === m.from)?.node?.reportSnapshot(m.to, false);
      }
      return;
    }
    const copies = p.chance(this.dupRate) ? 2 : 1;
    for (let k = 0; k < copies; k++) {
      this.#queue.push({ at: this.now + p.int(1, this.delayMax), seq: this.#seq++, msg: m });
    }
  }

  #deliver(m: Message): void {
    if (this.#blocked.has(`${m.from}>${m.to}`)) return;
    const s = this.sites.find((x) => x.id === m.to);
    if (!s || !s.node) return;
    s.node.step(m);
    this.#drain(s);
  }

  /** Handles every Ready of a site, following the contract, then checks. */
  #drain(s: Site): void {
    const node = s.node!;
    // Readies that applied nothing in a row: a site applying a long backlog
    // (a bounded number of bytes per Ready) needs many Readies, each of
    // which makes progress; a hundred without any is a loop.
    for (let idle = 0;; idle++) {
      if (idle > 100) throw new Violation(`${s.id}: hasReady() never settles`);
      if (s.pending === undefined) {
        if (!node.hasReady()) break;
        s.pending = node.ready();
        // As the host: a leader's messages leave while it writes (a crash
        // before the write returns loses the Ready's entries, not them).
        s.pendingSent = this.#sendsEarly(s, s.pending);
        if (s.pendingSent) { for (const m of s.pending.messages) this.#send(m); }
      }
      // The host is still busy with it: what arrives meanwhile steps the node first.
      if (this.phase === "safety" && this.#pauses.chance(this.readyPauseRate)) break;
      const rd = s.pending;
      const sent = s.pendingSent;
      s.pending = undefined;
      s.pendingSent = false;
      if (rd.committedEntries.length > 0) idle = 0;
      // 1. Persist: snapshot, entries, hard state.
      if (rd.snapshot) s.storage.applySnapshot(rd.snapshot);
      s.storage.append(rd.entries);
      if (rd.hardState) s.storage.setHardState(rd.hardState);
      // 2. Send, checking that what each reply promises is already durable.
      for (const m of sent ? [] : rd.messages) {
        this.#checkDurable(s, m);
        this.#send(m);
      }
      // 3. Apply.
      if (rd.snapshot) this.#applySnapshot(s, rd.snapshot);
      for (const e of rd.committedEntries) this.#apply(s, e);
      for (const r of rd.readStates) this.#checkRead(s, r.index, r.ctx);
      node.advance(rd);
    }
    this.#check(s);
  }

  /**
   * Whether the host sends this Ready's messages before it writes the Ready
   * (src/site/raft_host.ts, #drain): a leader's, when the Ready changes
   * neither term nor vote and its messages carry no commit index that
   * covers its own entries (a lone voter's would).
   */
  #sendsEarly(s: Site, rd: Ready): boolean {
    const st = s.node!.status();
    const hs = s.storage.hardState();
    const voteChanged = rd.hardState !== undefined &&
      (rd.hardState.term !== hs.term || rd.hardState.vote !== hs.vote);
    const commitsOwn = rd.entries.length > 0 && st.commitIndex >= rd.entries[0].index;
    return !voteChanged && !commitsOwn && st.role === "leader";
  }

  /** Durable before reply: a granted vote and an acknowledged append are on disk. */
  #checkDurable(s: Site, m: Message): void {
    const hs = s.storage.hardState();
    // A vote may leave after a later term is stored: no other vote in its
    // term can follow then (a node granted it, then moved on, in one Ready).
    if (
      m.type === "voteResp" && !m.reject && hs.term <= m.term &&
      (hs.term !== m.term || hs.vote !== m.to)
    ) {
      throw new Violation(
        `durability: ${s.id} granted a vote to ${m.to} in term ${m.term} before persisting it`,
      );
    }
    if (m.type === "appResp" && !m.reject && m.index > 0) {
      if (s.storage.lastIndex() < m.index || hs.term < m.term) {
        throw new Violation(
          `durability: ${s.id} acknowledged index ${m.index} before persisting it`,
        );
      }
    }
  }

  #applySnapshot(s: Site, snap: Snapshot): void {
    const sm = decodeSm(snap.data);
    if (sm.appliedIndex !== snap.metadata.index) {
      throw new Violation(`${s.id}: snapshot data does not match its metadata`);
    }
    this.#record(snap.metadata.index, `snap`, s.id, true);
    s.sm = sm;
  }

  #apply(s: Site, e: Entry): void {
    if (e.index !== s.sm.appliedIndex + 1) {
      throw new Violation(`${s.id}: applied index ${e.index} after ${s.sm.appliedIndex}`);
    }
    this.#record(e.index, entryKey(e), s.id, false);
    s.sm.appliedIndex = e.index;
    if (e.type === "normal" && e.data.byteLength > 0) {
      const id = decoder.decode(e.data);
      if (s.sm.idSet.has(id)) throw new Violation(`${s.id}: write ${id} applied twice`);
      s.sm.ids.push(id);
      s.sm.idSet.add(id);
      this.acked.add(id);
    }
  }

  /** Records the committed entry at `index`; a different one there is a violation. */
  #record(index: number, key: string, site: NodeId, isSnapshot: boolean): void {
    if (isSnapshot) return; // A snapshot's entries were recorded when its owner applied them.
    const prev = this.committedAt.get(index);
    if (prev === undefined) {
      this.committedAt.set(index, key);
      if (index > this.maxCommitted) this.maxCommitted = index;
    } else if (prev !== key) {
      throw new Violation(
        `state machine safety: ${site} committed ${key} at ${index}, another site committed ${prev}`,
      );
    }
  }

  #checkRead(s: Site, index: number, ctx: string): void {
    const r = this.reads.get(ctx);
    if (!r) throw new Violation(`${s.id}: ReadState for unknown ctx ${ctx}`);
    this.stats.reads++;
    if (index < r.minIndex) {
      throw new Violation(
        `linearizability: read ${ctx} at ${s.id} got index ${index} below ${r.minIndex} committed before it began`,
      );
    }
  }

  #check(s: Site): void {
    const st = s.node!.status();
    if (st.role === "leader") {
      const prev = this.leaderOfTerm.get(st.term);
      if (prev === undefined) this.leaderOfTerm.set(st.term, s.id);
      else if (prev !== s.id) {
        throw new Violation(`election safety: ${prev} and ${s.id} both lead term ${st.term}`);
      }
    }
    // Every newly committed entry (now durable) must agree with the global
    // record. With a Ready pending, the node may know a commit index whose
    // entries are still in that Ready: check what is durable.
    const commit = s.pending === undefined
      ? st.commitIndex
      : Math.min(st.commitIndex, s.storage.hardState().commit, s.storage.lastIndex());
    const first = s.storage.firstIndex();
    const from = Math.max(s.checkedCommit + 1, first);
    if (commit > s.storage.lastIndex()) {
      throw new Violation(
        `${s.id}: commit ${commit} beyond the persisted log ${s.storage.lastIndex()}`,
      );
    }
    if (from <= commit) {
      for (const e of s.storage.entries(from, commit + 1, Infinity)) {
        this.#record(e.index, entryKey(e), s.id, false);
      }
    }
    s.checkedCommit = Math.max(s.checkedCommit, commit);
    if (Deno.env.get("SIM_DEBUG_CONF")) {
      const snap = s.storage.snapshot().metadata;
      let cs = snap.confState;
      const ents = s.storage.entries(snap.index + 1, s.storage.lastIndex() + 1, Infinity);
      const seen: string[] = [];
      for (const e of ents) {
        if (e.type === "confChange") {
          const cc = decodeConfChange(e.data);
          seen.push(`${e.index}:${e.term}:${cc.type}:${cc.node}`);
          cs = applyConfChange(cs, cc);
        }
      }
      const mine = JSON.stringify(s.node!.confState());
      if (!s.node!.hasReady() && JSON.stringify(cs) !== mine) {
        throw new Violation(`${s.id} conf ${mine} vs storage ${JSON.stringify(cs)} ${seen}`);
      }
    }
  }
}
