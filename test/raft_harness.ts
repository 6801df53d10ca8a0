/**
 * A small deterministic cluster for scripted Raft scenarios: FIFO delivery
 * under the test's control, cut links, crashes and restarts. Hosts follow
 * the Ready contract (persist, send, apply, advance).
 *
 * @module
 */

import { RaftNode, type RaftTestingBugs } from "../src/consensus/raft.ts";
import { MemoryStorage } from "../src/consensus/storage.ts";
import type { Entry, Message, NodeId, ReadState, Snapshot } from "../src/consensus/types.ts";

/** Decides a queued message's fate: deliver (true), drop (false), or deliver a rewrite. */
export type MessageFilter = (m: Message) => boolean | Message;

export interface HarnessOptions {
  /** Genesis voters; defaults to every id. */
  voters?: NodeId[];
  preVote?: boolean;
  checkQuorum?: boolean;
  electionTicks?: number;
  heartbeatTicks?: number;
  maxEntriesPerMsg?: number;
  maxBytesPerMsg?: number;
  maxInflightMsgs?: number;
  maxPromoteLagEntries?: number;
  bugs?: RaftTestingBugs;
}

export interface HarnessSite {
  id: NodeId;
  storage: MemoryStorage;
  node: RaftNode;
  down: boolean;
  /** Applied normal entries with data, decoded, in order (rebuilt from snapshots). */
  applied: string[];
  /** Every applied entry (index, term, data) since the last restart. */
  appliedEntries: Entry[];
  readStates: ReadState[];
  snapshotsInstalled: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const enc = (s: string): Uint8Array => encoder.encode(s);
export const dec = (b: Uint8Array): string => decoder.decode(b);

export class Harness {
  readonly sites = new Map<NodeId, HarnessSite>();
  queue: Message[] = [];
  /** Cut directed links "a>b". */
  readonly cut = new Set<string>();
  /** Every message ever sent, for assertions. */
  readonly sent: Message[] = [];
  readonly opts: Required<Omit<HarnessOptions, "voters" | "bugs">> & { bugs: RaftTestingBugs };

  constructor(readonly ids: NodeId[], opts: HarnessOptions = {}) {
    this.opts = {
      preVote: opts.preVote ?? true,
      checkQuorum: opts.checkQuorum ?? true,
      electionTicks: opts.electionTicks ?? 10,
      heartbeatTicks: opts.heartbeatTicks ?? 1,
      maxEntriesPerMsg: opts.maxEntriesPerMsg ?? 64,
      maxBytesPerMsg: opts.maxBytesPerMsg ?? 1 << 20,
      maxInflightMsgs: opts.maxInflightMsgs ?? 16,
      maxPromoteLagEntries: opts.maxPromoteLagEntries ?? 64,
      bugs: opts.bugs ?? {},
    };
    const voters = opts.voters ?? ids;
    for (const id of ids) {
      const storage = new MemoryStorage({ voters, learners: [] });
      const site: HarnessSite = {
        id,
        storage,
        node: this.#newNode(id, storage),
        down: false,
        applied: [],
        appliedEntries: [],
        readStates: [],
        snapshotsInstalled: 0,
      };
      this.sites.set(id, site);
    }
  }

  #newNode(id: NodeId, storage: MemoryStorage): RaftNode {
    return new RaftNode({
      id,
      storage,
      electionTicks: this.opts.electionTicks,
      heartbeatTicks: this.opts.heartbeatTicks,
      // Deterministic and distinct: site k's timeout is electionTicks + k.
      random: () =>
        Math.min(this.ids.indexOf(id), this.opts.electionTicks - 1) / this.opts.electionTicks,
      maxEntriesPerMsg: this.opts.maxEntriesPerMsg,
      maxBytesPerMsg: this.opts.maxBytesPerMsg,
      maxInflightMsgs: this.opts.maxInflightMsgs,
      checkQuorum: this.opts.checkQuorum,
      preVote: this.opts.preVote,
      maxPromoteLagEntries: this.opts.maxPromoteLagEntries,
      testingBugs: this.opts.bugs,
    });
  }

  site(id: NodeId): HarnessSite {
    const s = this.sites.get(id);
    if (!s) throw new Error(`no site ${id}`);
    return s;
  }

  node(id: NodeId): RaftNode {
    return this.site(id).node;
  }

  /** Handles every pending Ready of a site following the contract. */
  drain(id: NodeId): void {
    const s = this.site(id);
    if (s.down) return;
    while (s.node.hasReady()) {
      const rd = s.node.ready();
      if (rd.snapshot) s.storage.applySnapshot(rd.snapshot);
      s.storage.append(rd.entries);
      if (rd.hardState) s.storage.setHardState(rd.hardState);
      for (const m of rd.messages) {
        this.queue.push(m);
        this.sent.push(m);
      }
      if (rd.snapshot) this.#installSnapshot(s, rd.snapshot);
      for (const e of rd.committedEntries) {
        s.appliedEntries.push(e);
        if (e.type === "normal" && e.data.byteLength > 0) s.applied.push(dec(e.data));
      }
      s.readStates.push(...rd.readStates);
      s.node.advance(rd);
    }
  }

  #installSnapshot(s: HarnessSite, snap: Snapshot): void {
    s.applied = snap.data.byteLength === 0 ? [] : JSON.parse(dec(snap.data));
    s.snapshotsInstalled++;
  }

  drainAll(): void {
    for (const id of this.ids) this.drain(id);
  }

  /**
   * Delivers queued messages in FIFO order until none are left (bounded).
   * Messages on cut links, to crashed sites, or rejected by `filter` are
   * dropped; `filter` may also return a rewritten message to deliver instead.
   */
  deliverAll(filter: MessageFilter = () => true, maxMsgs = 100_000): number {
    this.drainAll();
    let n = 0;
    while (this.queue.length > 0) {
      if (++n > maxMsgs) throw new Error("deliverAll: too many messages");
      const queued = this.queue.shift()!;
      if (this.cut.has(`${queued.from}>${queued.to}`)) continue;
      const verdict = filter(queued);
      if (verdict === false) continue;
      const m = verdict === true ? queued : verdict;
      const s = this.site(m.to);
      if (s.down) continue;
      s.node.step(m);
      this.drain(m.to);
    }
    return n;
  }

  /** Ticks one site `n` times, delivering (through `filter`) after each tick. */
  tick(id: NodeId, n = 1, filter?: MessageFilter): void {
    for (let k = 0; k < n; k++) {
      if (!this.site(id).down) this.node(id).tick();
      this.deliverAll(filter);
    }
  }

  /** Ticks every live site `n` times, delivering after each round. */
  tickAll(n = 1): void {
    for (let k = 0; k < n; k++) {
      for (const id of this.ids) if (!this.site(id).down) this.node(id).tick();
      this.deliverAll();
    }
  }

  /** Ticks `id` until its election timer fires and it sends (pre-)vote requests. */
  campaign(id: NodeId, filter?: MessageFilter): void {
    const requests = () =>
      this.sent.filter((m) => m.from === id && (m.type === "vote" || m.type === "preVote"))
        .length;
    const before = requests();
    for (let k = 0; k <= 2 * this.opts.electionTicks; k++) {
      this.tick(id, 1, filter);
      if (requests() > before || this.node(id).status().role === "leader") return;
    }
  }

  /** Makes `id` leader of a healthy cluster and settles. */
  elect(id: NodeId): void {
    for (let round = 0; round < 5 && this.node(id).status().role !== "leader"; round++) {
      this.campaign(id);
    }
    if (this.node(id).status().role !== "leader") throw new Error(`elect: ${id} did not win`);
    this.deliverAll();
  }

  propose(id: NodeId, data: string): boolean {
    const ok = this.node(id).propose(enc(data));
    this.deliverAll();
    return ok;
  }

  isolate(id: NodeId): void {
    for (const o of this.ids) {
      if (o === id) continue;
      this.cut.add(`${id}>${o}`);
      this.cut.add(`${o}>${id}`);
    }
  }

  /** Restores both directions of the link between `a` and `b`. */
  connect(a: NodeId, b: NodeId): void {
    this.cut.delete(`${a}>${b}`);
    this.cut.delete(`${b}>${a}`);
  }

  heal(): void {
    this.cut.clear();
  }

  crash(id: NodeId): void {
    this.site(id).down = true;
  }

  /** Restarts a crashed site from what its storage persisted. */
  restart(id: NodeId): void {
    const s = this.site(id);
    s.down = false;
    s.node = this.#newNode(id, s.storage);
    const snap = s.storage.snapshot();
    s.applied = snap.data.byteLength === 0 ? [] : JSON.parse(dec(snap.data));
    s.appliedEntries = [];
    this.drain(id);
  }

  /** Snapshots a site's applied state at its applied index and compacts its log. */
  compact(id: NodeId): number {
    const s = this.site(id);
    const applied = s.node.status().appliedIndex;
    s.storage.createSnapshot(applied, s.node.confStateAt(applied), enc(JSON.stringify(s.applied)));
    s.storage.compact(applied);
    return applied;
  }

  /** The log entries a site holds (from its storage), as "index:term" strings. */
  logOf(id: NodeId): string[] {
    const st = this.site(id).storage;
    return st.entries(st.firstIndex(), st.lastIndex() + 1, Infinity).map((e) =>
      `${e.index}:${e.term}`
    );
  }

  leaders(): NodeId[] {
    return this.ids.filter((id) => !this.site(id).down && this.node(id).status().role === "leader");
  }
}
