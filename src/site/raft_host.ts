/**
 * The host of the pure Raft core: the I/O around it. It ticks the core on a
 * timer, steps messages from peers into it, and drains its Ready batches in
 * the order the core's contract demands — persist (libSQL, durable), then
 * send, then apply committed entries as blocks, then advance.
 *
 * A normal entry's data is a {@link Batch} (JSON): the ordered admitted
 * transactions, the leader's clock, its term and name, and a proposal id so
 * the proposer learns when its batch is applied. An empty entry (a new
 * leader's no-op) advances the applied index without a block.
 *
 * Snapshots are pointers: `{entryIndex, height, hash}`, with the directory
 * (`members`) and the removals applied (`removed`) as of the pointer (see
 * SnapshotPointer). A site sent one by the leader (it fell behind the
 * leader's compacted log, or joined late) fetches the missing blocks from a
 * peer and re-executes each, checking that it reproduces the same block
 * hash, before applying further entries.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { sleep } from "../../sdk/client/_signals.ts";
import type { Envelope } from "../../sdk/envelope.ts";
import {
  base64urlDecode,
  base64urlEncode,
  bytesEqual,
  utf8Decode,
  utf8Encode,
} from "../../sdk/encoding.ts";
import { blockHash, type BlockHeader } from "../../sdk/block.ts";
import { canonicalJson } from "../../sdk/canonical_json.ts";
import {
  type ConfState,
  decodeConfChange,
  type Entry,
  MemoryStorage,
  type Message,
  RaftNode,
  type ReadState,
  type Ready,
  type Role,
  type Snapshot,
  type Status,
} from "../consensus/mod.ts";
import type { Batch } from "../chain/execute.ts";
import type { RaftStoreApi } from "../storage/raft_store.ts";
import { escapeLabelValue, Histogram } from "../api/histogram.ts";
import { type Logger, SlowWriteWarning } from "../log.ts";
import { mulberry32 } from "../prng.ts";
import {
  type CosignLine,
  fetchPeerText,
  FORWARD_ROUTE,
  MemberRemovedAnswer,
  memberRemovedAnswer,
  PeerAnswerError,
  peerCounters,
  type PeerInfo,
  peerMetricsText,
  peerReadHeaders,
  PeerSender,
  peerTimedOut,
  postSigned,
  type RemovedMember,
  verifyPeerAnswer,
} from "./peers.ts";
import {
  type ForwardOutcome,
  retryAfterOf,
  type Sequencer,
  type Site,
  type StorageLowSite,
} from "./site.ts";
import { forwardsInFlightMaxDefault, proposalsInFlightMaxDefault } from "./config.ts";
import type { StorageLowReport, StorageState } from "./disk_space.ts";
import { ForwardWatch } from "./forward_watch.ts";
import { parseStateDigestAnswer, type StateDigestAnswer } from "./state_check.ts";
import { SiteKey } from "./site_key.ts";
import { clientOf, type ClientSource } from "./tls.ts";
import { generateKeyPair, type KeyPair } from "../../sdk/keys.ts";
import {
  keyAfterChain,
  type KeyRetirement,
  type KeyRotation,
  readRotatedKey,
  type RetiredKey,
  RetirementPacer,
  retirementVerifies,
  rotationVerifies,
  signRetirement,
  signRotation,
  writeRotatedKey,
} from "./key_rotation.ts";

/**
 * Turns of the event loop a site gives the messages of a Ready before it
 * applies that Ready's committed entries. On the 3-site bench (2 cores),
 * three against none: +12–16 % tx/s at 64 clients, about ±2 % at 256; one
 * turn or a 0 ms timer did not help, five did no better than three.
 */
const turnsBeforeApply = 3;

/** How often a leader handing off before it stops looks whether another site leads, ms. */
const handOffPollMs = 10;

/**
 * Snapshot catch-up that no peer serves asks them all again after a pause
 * that doubles from the first, ms, up to the second: it never gives up (a
 * PoP's links may be down for minutes), and a stop ends the wait.
 */
const installRetryMsMin = 500;
const installRetryMsMax = 10_000;

/**
 * Committed entries read from the log at a time when applying those that
 * waited for a snapshot's install (they are applied one page after another).
 */
const deferredPageEntries = 256;

/** How often snapshot catch-up that no peer serves says so again, ms. */
const installStuckLogMs = 60_000;

/** Blocks snapshot catch-up asks a peer for in one page, at most (a peer sends 500 at most). */
const blocksPageMax = 200;

/**
 * How long a page of blocks may go without a byte arriving before
 * snapshot catch-up gives up on it, ms. A page that keeps arriving is read
 * to its end, however thin the link (see {@link fetchPeerText}).
 */
const blocksPageIdleMs = 10_000;

/** Longest one page of blocks may take in all, ms. */
const blocksPageMsMax = 600_000;

/** A page that took longer than this, ms, halves the next page asked for. */
const blocksPageSlowMs = 10_000;

/** Membership changes whose index and term a site keeps (see RaftHost#confChange). */
const appliedConfChangesKept = 64;

/**
 * How old a voter's clock reading may be for the leader's block time, ms
 * (see {@link quorumClock}): frames go every heartbeat, so a voter not
 * heard for this long is down or cut off, and its reading is left out.
 */
const clockReadingFreshMs = 10_000;

/** How far ahead of its voters' clocks a leader's may be before it says so, ms. */
const clockAheadWarnMs = 60_000;

/**
 * How far a member's clock (as its frames carry it) may be from this site's
 * before this site says so, ms — etcd's peer clock-drift warning uses 1 s
 * too. A frame's trip adds to it, so a link slower than this reads as
 * drift.
 */
const peerClockOffsetWarnMs = 1_000;

/** Tuning of the consensus host; every bound has its unit in its name. */
export interface RaftHostOptions {
  /** Milliseconds per Raft tick. */
  tickMs?: number;
  /** Election timeout base in ticks (randomised to [n, 2n)). */
  electionTicks?: number;
  heartbeatTicks?: number;
  /** Batches proposed and not yet applied, at most (leader); default {@link proposalsInFlightMaxDefault}. */
  proposalsInFlightMax?: number;
  /** Batches forwarded to the leader and not yet accepted, at most (follower); default {@link forwardsInFlightMaxDefault}. */
  forwardsInFlightMax?: number;
  /** A proposal not applied within this time is handed back to be retried, ms. */
  proposalTimeoutMs?: number;
  /** Compact the Raft log once this many entries are applied past the last snapshot. */
  snapshotEntriesMin?: number;
  /** Entries kept below a snapshot for slow followers. */
  compactKeepEntries?: number;
  /**
   * Entries a peer's log may be behind the leader's commit index before the
   * leader says it falls behind (default 1000); it says the peer caught up
   * once it is within half of that again.
   */
  peerLagEntriesWarn?: number;
  /**
   * The client every request to a peer goes through (streams, messages,
   * forwards, block catch-up): it carries the CA certificates the site
   * trusts for `https://` peers. The caller owns it and closes it after
   * {@link RaftHost.close}; a function is asked at each request (a client
   * renewed when the CA file changes). Default: the default `fetch`.
   */
  httpClient?: ClientSource;
  /** Where consensus events go (elections, membership, snapshots, peers). Default: the site's. */
  log?: Logger;
  /**
   * Where this site keeps its key once rotated, and the key of a rotation
   * under way (`rotatedKeyPaths` of its database file); without them it
   * cannot rotate its key ({@link RaftHost.rotateKey}).
   */
  rotatedKeys?: { current: string; next: string };
  /**
   * How this site reaches some members, by name (the config's `peerUrls`):
   * each URL replaces the recorded one in this site's own requests to that
   * member, whatever URL the log records for it later; the directory, the
   * log and {@link RaftHost.leaderUrl} keep the recorded URLs.
   */
  peerUrls?: Readonly<Record<string, string>>;
}

interface PendingProposal {
  resolve: () => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  /** `performance.now()` when proposed. */
  proposedAt: number;
}

/** The consensus host of one site. */
export class RaftHost implements Sequencer {
  readonly #site: Site;
  readonly #store: RaftStoreApi;
  readonly #self: string;
  readonly #key: SiteKey;
  readonly #members: Map<string, PeerInfo>;
  readonly #senders = new Map<string, PeerSender>();
  readonly #traffic = peerCounters();
  readonly #persistSeconds = new Histogram(
    "edgeledger_raft_persist_seconds",
    "Time to make a Ready's entries, snapshot or vote durable (before anything leaves the site).",
  );
  readonly #commitSeconds = new Histogram(
    "edgeledger_raft_proposal_commit_seconds",
    "Leader: time from proposing a batch to seeing it committed (held durably by a quorum).",
  );
  readonly #options: Required<
    Omit<RaftHostOptions, "httpClient" | "log" | "rotatedKeys" | "peerUrls">
  >;
  /** Where this site sends to a member instead of its recorded URL (see RaftHostOptions.peerUrls). */
  readonly #peerUrls: ReadonlyMap<string, string>;
  readonly #rotatedKeys: { current: string; next: string } | undefined;
  /** The key of this site's rotation under way (in the `next` file), until applied. */
  #pendingKey: KeyPair | undefined;
  /** This site's own key rotation is under way (one at a time). */
  #rotating = false;
  readonly #client: ClientSource;
  readonly #log: Logger;
  /** Warns of Raft persists slower than a second (an fsync, mostly). */
  readonly #slowPersists: SlowWriteWarning;
  /** This site's role, the leader it knows and the term, as last logged (see #logTransitions). */
  #role: Role = "follower";
  #leader: string | undefined;
  /** The tick since which this site knows no leader; undefined while it knows one (see {@link leaderlessMs}). */
  #leaderlessSince: number | undefined = 0;
  #term = 0;
  /** Peers the leader said fall behind (see #watchPeers). */
  readonly #behind = new Set<string>();
  /** This site's graceful stop began (see {@link handOffLeadership}): it takes no leadership. */
  #leaving = false;
  #ticks = 0;
  /** The tick at which each peer was last heard from (see {@link receive}; for `/metrics`). */
  readonly #heardAt = new Map<string, number>();
  /**
   * Each member's clock as its latest frame said it (see {@link quorumClock}),
   * and that clock minus this site's when the frame arrived (`offsetMs`).
   */
  readonly #peerClocks = new Map<string, ClockReading & { offsetMs: number }>();
  /** Members whose clock was last found over {@link peerClockOffsetWarnMs} from this site's (said once). */
  readonly #peerClocksOff = new Set<string>();
  /** Whether this leader's clock was last found far ahead of its voters' (said once). */
  #clockAhead = false;
  /**
   * What each peer said of its disk on its latest frame, and at which tick:
   * a peer low on space makes this site refuse new transactions (see
   * {@link storageLow}).
   */
  readonly #peerStorage = new Map<string, { state: StorageState; tick: number }>();
  /**
   * The members another site's latest frame passed on as low on space (a
   * leader's `storageLow`), and at which tick: counted while that site is
   * this one's leader (see {@link storageLow}).
   */
  #relayedStorageLow: { from: string; reports: StorageLowReport[]; tick: number } | undefined;
  /**
   * The peers whose latest frame said they are catching up by snapshot:
   * they stand for no election, so leadership is not handed to them.
   */
  readonly #peersCatchingUp = new Set<string>();
  /** Counters for `/metrics` (see #stateMetrics). */
  #leaderChanges = 0;
  #proposalsFailed = 0;
  #snapshotsSent = 0;
  #snapshotsInstalled = 0;
  /** Since when (monotonic ms) snapshot catch-up found no peer serving the next block. */
  #installStalledSince: number | undefined;
  readonly #proposals = new Map<string, PendingProposal>();
  /**
   * Forwards on their way, each with the leader it went to: abandoned once
   * this site learns of another leader (see #abandonForwards).
   */
  readonly #forwards = new Set<{ leader: string; abort: AbortController }>();
  /** Whether the leader answers this site's forwards (see {@link leaderUnreachable}). */
  readonly #forwardWatch = new ForwardWatch();
  /** Empty forwards sent to ask the leader whether it answers (see {@link #probeLeader}). */
  #leaderProbes = 0;
  /** Linearizable reads waiting for the leader's answer, by read id (see {@link readBarrier}). */
  readonly #reads = new Map<
    string,
    {
      resolve: (index: number) => void;
      reject: (e: Error) => void;
      timer: ReturnType<typeof setTimeout>;
    }
  >();
  #storage!: MemoryStorage;
  #node!: RaftNode;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #draining = false;
  #again = false;
  #closed = false;
  #lastSnapshotIndex = 0;
  /**
   * A snapshot made durable before a crash (or a failed fetch) ended its
   * catch-up: its blocks are fetched before anything after it is applied.
   */
  #unfinishedInstall: Snapshot | undefined;
  /**
   * The snapshot install under way beside the Ready loop, if any (see
   * {@link #startInstall}): the site keeps voting, appending and
   * acknowledging meanwhile, and applies nothing past the snapshot.
   */
  #install: Promise<void> | undefined;
  /** The snapshot the installs under way catch up to, the latest (see {@link catchingUp}). */
  #installTarget: { snapshotIndex: number; targetHeight: number } | undefined;
  /**
   * The last committed entry handed out while an install was under way:
   * those after the snapshot, up to it, are applied from the log once the
   * install is in (see {@link #applyDeferred}).
   */
  #deferredTo = 0;
  #readSeq = 0;
  /**
   * Read ids are `<site>:<this>:<n>`: unique across restarts, so a leader
   * never merges a new read into one queued before this site restarted (it
   * would answer the older, lower index), and an old answer replayed after
   * a restart matches no read.
   */
  readonly #readEpoch = crypto.randomUUID().slice(0, 8);
  #fatal: unknown;
  /**
   * Sites whose removal this site applied (so it is committed), by name,
   * with the log index of the removal; persisted. A site added again
   * leaves it. See {@link removedMember}.
   */
  readonly #removedAt = new Map<string, number>();
  /** Set while this site is removed from the cluster: it takes no part (see #retire). */
  #removal: Removal | undefined;
  /**
   * The term of each membership change applied lately, by index: a change
   * this leader proposed took effect only if the entry applied at its index
   * is its own (see #confChange).
   */
  readonly #appliedConfChanges = new Map<number, number>();
  /** A probe of whether this site's removal is applied is under way (see #probeRemoval). */
  #probing = false;

  private constructor(
    site: Site,
    store: RaftStoreApi,
    self: string,
    key: SiteKey,
    members: PeerInfo[],
    options: RaftHostOptions,
  ) {
    this.#site = site;
    this.#store = store;
    this.#self = self;
    this.#key = key;
    this.#members = new Map(members.map((m) => [m.name, m]));
    this.#options = {
      tickMs: options.tickMs ?? 50,
      electionTicks: options.electionTicks ?? 10,
      heartbeatTicks: options.heartbeatTicks ?? 2,
      proposalsInFlightMax: options.proposalsInFlightMax ?? proposalsInFlightMaxDefault,
      forwardsInFlightMax: options.forwardsInFlightMax ?? forwardsInFlightMaxDefault,
      proposalTimeoutMs: options.proposalTimeoutMs ?? 5000,
      snapshotEntriesMin: options.snapshotEntriesMin ?? 2000,
      compactKeepEntries: options.compactKeepEntries ?? 500,
      peerLagEntriesWarn: options.peerLagEntriesWarn ?? 1000,
    };
    this.#client = options.httpClient;
    this.#peerUrls = new Map(Object.entries(options.peerUrls ?? {}));
    this.#publishPacer = new RetirementPacer(this.#electionMs());
    this.#rotatedKeys = options.rotatedKeys;
    this.#log = options.log ?? site.log;
    this.#slowPersists = new SlowWriteWarning(this.#log, "raft");
  }

  /**
   * Loads the durable Raft state into memory, builds the core with the
   * site's applied index, and starts ticking. `voters` is the initial
   * membership (genesis sites) used when nothing is persisted yet.
   */
  static async start(
    site: Site,
    store: RaftStoreApi,
    self: string,
    key: SiteKey,
    members: PeerInfo[],
    voters: string[],
    options: RaftHostOptions = {},
  ): Promise<RaftHost> {
    const host = new RaftHost(site, store, self, key, members, options);
    const durable = await store.load();
    const directory = await site.store.getMeta("directory");
    // The directory the log built wins over genesis and the config's
    // `peers` (a member's URL may have moved since, see updateMemberUrl),
    // for a name with the same key or one its rotations lead to.
    if (directory !== undefined) {
      for (const m of JSON.parse(directory) as WireMember[]) host.#upsertMember(m, 0);
    }
    // A rotated key: the chain that leads to it goes with every peer request;
    // the key of a rotation under way is taken once the log applies it.
    const me = host.#members.get(self);
    if (me !== undefined && bytesEqual(me.publicKey, key.publicKey)) {
      key.setChain(me.rotations ?? []);
    }
    if (host.#rotatedKeys !== undefined) {
      const inUse = base64urlEncode(key.publicKey);
      const next = await readRotatedKey(host.#rotatedKeys.next);
      if (next !== undefined && base64urlEncode(next.publicKey) !== inUse) host.#pendingKey = next;
    }
    const removed = await site.store.getMeta("removed_members");
    if (removed !== undefined) {
      for (const [name, index] of Object.entries(JSON.parse(removed) as Record<string, number>)) {
        host.#removedAt.set(name, index);
      }
    }
    const initial: ConfState = { voters: [...voters].sort(), learners: [] };
    const storage = new MemoryStorage(durable.snapshot?.metadata.confState ?? initial);
    if (durable.snapshot) storage.applySnapshot(durable.snapshot);
    storage.append(durable.entries);
    if (durable.hardState) storage.setHardState(durable.hardState);
    host.#storage = storage;
    host.#lastSnapshotIndex = durable.snapshot?.metadata.index ?? 0;
    // A snapshot is stored (replacing the log) before its blocks are
    // fetched; a site whose applied index is behind it stopped mid-way.
    if (durable.snapshot && site.appliedIndex < durable.snapshot.metadata.index) {
      host.#unfinishedInstall = durable.snapshot;
    }
    const seed = crypto.getRandomValues(new Uint32Array(1))[0];
    host.#node = new RaftNode({
      id: self,
      storage,
      electionTicks: host.#options.electionTicks,
      heartbeatTicks: host.#options.heartbeatTicks,
      random: mulberry32(seed),
      maxEntriesPerMsg: 64,
      maxBytesPerMsg: 1024 * 1024,
      maxInflightMsgs: 8,
      checkQuorum: true,
      preVote: true,
      applied: Math.max(site.appliedIndex, storage.firstIndex() - 1),
    });
    const status = host.#node.status();
    host.#role = status.role;
    host.#leader = status.leader;
    host.#term = status.term;
    for (const m of host.#members.values()) {
      if (m.name !== self) host.#senders.set(m.name, host.#sender(m));
    }
    await site.attachSequencer(host);
    site.stateChecks.attachPeers({
      others: () => [...host.#members.keys()].filter((n) => n !== self),
      fetch: (member, height, signal) => host.#fetchStateDigest(member, height, signal),
    });
    // A site that rotated its key may hold its old key's line for the head
    // (a quiet cluster's, stored before the rotation): it signs it again.
    const rotatedMe = host.#members.get(self);
    if (rotatedMe?.retired !== undefined && bytesEqual(rotatedMe.publicKey, key.publicKey)) {
      void site.signHeadAgain().catch((e) =>
        host.#log.warn("cannot sign the head's checkpoint with the current key", { error: e })
      );
    }
    // Removed before it stopped: it stays out (it would campaign alone) until added again.
    const removedAt = host.#removedAt.get(self);
    if (removedAt !== undefined) host.#retire({ index: removedAt });
    host.#ticker = setInterval(() => {
      if (host.#closed) return;
      // A removed site does not tick: no election timeout, so it never campaigns.
      if (host.#removal === undefined) host.#node.tick();
      if (++host.#ticks % host.#options.electionTicks === 0) {
        host.#watchPeers();
        host.#probeLeader();
        host.#probeRemoval();
        host.#publishRetirements();
      }
      host.#kick();
    }, host.#options.tickMs);
    host.#kick();
    return host;
  }

  /** Aborted once the host stops (peers' open streams to this site end then). */
  get stopping(): AbortSignal {
    return this.#stopping.signal;
  }

  readonly #stopping = new AbortController();

  /** Stops ticking and sending; waits for the Ready being handled. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopping.abort();
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    // Closed after #closed is set: the messages they still hold are not
    // reported lost (#snapshotsLost), as the core stops with them.
    for (const s of this.#senders.values()) s.close();
    for (const p of this.#proposals.values()) {
      clearTimeout(p.timer);
      p.reject(new Error("Site is stopping"));
    }
    this.#proposals.clear();
    this.#failReads("Site is stopping");
    while (this.#draining) await new Promise((r) => setTimeout(r, 5));
    // The stop ends the install's wait for blocks (#stopping).
    await this.#install?.catch(() => {});
  }

  /**
   * A member by name, for peer authentication: a site in the directory that
   * is a voter or learner of the membership in force after the last entry of
   * this site's log, or one whose removal this site has not applied yet. A
   * removed site's key is refused from the moment its removal is applied
   * here (committed): an entry that removes it but is not committed yet may
   * be undone by a new leader whose log lacks it, and if that leader is the
   * removed site, this site must hear it to learn so (refusing it, a site
   * whose log held the removal waited for that leader forever, a candidate
   * no one voted for — found by the soak). A site that is not (yet) a
   * member itself — one joining, before the snapshot that names it arrives —
   * hears every site of its directory, or it could never learn that it was
   * added.
   */
  member(name: string): PeerInfo | undefined {
    const info = this.#members.get(name);
    if (info === undefined || this.#node === undefined) return info;
    const cs = this.#node.confState();
    const inConf = (n: string) => cs.voters.includes(n) || cs.learners.includes(n);
    if (inConf(name) || !inConf(this.#self)) return info;
    return this.#removedAt.has(name) ? undefined : info;
  }

  /**
   * `name` was heard signing with `publicKey`: once that is its current key,
   * the key it retired last is no longer taken from it (see PeerInfo.graceKey).
   */
  keyHeard(name: string, publicKey: Uint8Array): void {
    const m = this.#members.get(name);
    if (m?.graceKey === undefined || !bytesEqual(m.publicKey, publicKey)) return;
    m.graceKey = undefined;
    this.#log.debug("member heard with its new key", { member: name });
  }

  /**
   * A site that is no member now and whose removal this site applied, with
   * the key it had: the peer routes answer it 410, so that it learns it was
   * removed and stops (a site that missed its own removal would otherwise
   * campaign alone forever, refused by all). Only an applied — committed —
   * removal counts: one still uncommitted may yet be undone by a new leader.
   */
  removedMember(name: string): RemovedMember | undefined {
    const index = this.#removedAt.get(name);
    const info = this.#members.get(name);
    if (index === undefined || info === undefined || this.member(name) !== undefined) {
      return undefined;
    }
    return { info, index };
  }

  /** Set while this site is removed from the cluster: it takes no part until added again. */
  get removal(): Removal | undefined {
    return this.#removal;
  }

  /**
   * This site was removed from the cluster: it applied its own removal
   * (`index`), or a peer that applied it answered so (`by`). It stops taking
   * part — it no longer ticks, so it never campaigns, and the site refuses
   * writes and current reads with a message that says so; stale reads of
   * what it holds go on. Proposals and reads waiting here fail. It still
   * hears a leader: added again (a restored site is), it gets the log or a
   * snapshot that names it and takes part again (#rejoinIfAdded). Logged
   * once, at `error`: an operator should stop it, or add it again.
   */
  #retire(how: { index: number } | { by: MemberRemovedAnswer }): void {
    if (this.#removal !== undefined) return;
    // A peer that has not applied this site's addition since (it lags) still says removed.
    if ("by" in how && this.#addedSince(how.by.index)) return;
    this.#removal = "by" in how
      ? { index: how.by.index, by: how.by.peer, detail: how.by.detail }
      : { index: how.index };
    for (const [id, p] of this.#proposals) {
      clearTimeout(p.timer);
      this.#proposals.delete(id);
      p.reject(new Error("This site was removed from the cluster"));
    }
    this.#failReads("This site was removed from the cluster");
    this.#log.error(
      "this site was removed from the cluster: it takes no part in it any more; stop it, " +
        "or add it again to bring it back",
      { ...this.#removal },
    );
  }

  /**
   * Whether this site has applied past the removal at `index` and is a
   * member again (it was added back).
   */
  #addedSince(index: number): boolean {
    const conf = this.#node.confState();
    return this.#site.appliedIndex > index &&
      (conf.voters.includes(this.#self) || conf.learners.includes(this.#self));
  }

  /** A removed site that was added again (see #retire) takes part again. */
  #rejoinIfAdded(): void {
    if (this.#removal === undefined || !this.#addedSince(this.#removal.index)) return;
    this.#removal = undefined;
    this.#log.info("this site was added to the cluster again", {});
  }

  /** All members. */
  members(): PeerInfo[] {
    return [...this.#members.values()];
  }

  /**
   * Takes what a peer's frame said of its disk (`storage`, see
   * `disk_space.ts`): a frame without it says the peer is not low.
   */
  peerStorage(from: string, state: StorageState | undefined): void {
    if (state?.low) this.#peerStorage.set(from, { state, tick: this.#ticks });
    else this.#peerStorage.delete(from);
  }

  /**
   * Takes the members a peer's frame said are low on space (`storageLow`, a
   * leader's relay): a frame without it says none is.
   */
  peerStorageLow(from: string, reports: StorageLowReport[]): void {
    if (reports.length > 0) {
      this.#relayedStorageLow = { from, reports, tick: this.#ticks };
    } else if (this.#relayedStorageLow?.from === from) {
      this.#relayedStorageLow = undefined;
    }
  }

  /**
   * Takes whether a peer's frame said it is catching up by snapshot
   * (`catchingUp`): a frame without it says it is not.
   */
  peerCatchingUp(from: string, catchingUp: boolean): void {
    if (catchingUp) this.#peersCatchingUp.add(from);
    else this.#peersCatchingUp.delete(from);
  }

  /**
   * The members of the configuration whose latest frame said they are
   * catching up by snapshot (as heard by this site; a leader hears from
   * every member).
   */
  peersCatchingUp(): string[] {
    const conf = this.#node.confState();
    return [...this.#peersCatchingUp].filter((n) =>
      conf.voters.includes(n) || conf.learners.includes(n)
    ).sort();
  }

  /**
   * The snapshot this site is catching up to, while it is (its entry index,
   * and the height of its block): it votes and acknowledges meanwhile, but
   * stands for no election and applies nothing past the snapshot.
   */
  catchingUp(): { snapshotIndex: number; targetHeight: number } | undefined {
    return this.#install === undefined ? undefined : this.#installTarget;
  }

  /**
   * How long, in ms, this site has known no leader, once that is longer than
   * an election takes: four election timeouts, twice the longest randomized
   * one, so a vote that splits once and is run again fits. Undefined while
   * it knows a leader, and before that. A voter cut off from a majority gets
   * there: a follower forgets its leader when it starts to campaign, an
   * election timeout after it last heard it, and a leader steps down by
   * CheckQuorum. A site that does not campaign — a learner, or a voter
   * catching up by snapshot — keeps naming its last leader: for it, the time
   * since it last heard from that leader counts. Such a site cannot have
   * writes ordered, so it refuses new ones.
   */
  leaderlessMs(): number | undefined {
    const since = this.#leaderlessSince ?? this.#leaderSilentSince();
    if (since === undefined) return undefined;
    const ms = (this.#ticks - since) * this.#options.tickMs;
    return ms > 4 * this.#electionMs() ? ms : undefined;
  }

  /**
   * The leader this site forwards to and how long, in ms, it has answered
   * none of its forwards, once that is longer than an election takes (four
   * election timeouts, as {@link leaderlessMs}). Undefined while forwards
   * are answered, while none is on its way or failed, and on the leader. A
   * follower whose link to the leader alone is cut gets there: it still hears
   * the leader, so it names it and never campaigns (and is not leaderless),
   * but nothing it forwards arrives. It cannot have writes ordered, so it
   * refuses new ones, as a leaderless site does. A site that takes no writes
   * learns of the cut by the empty forwards it asks with
   * ({@link #probeLeader}).
   */
  leaderUnreachable(): { leader: string; ms: number } | undefined {
    const leader = this.#leader;
    if (leader === undefined || leader === this.#self) return undefined;
    const since = this.#forwardWatch.unansweredSince(leader);
    if (since === undefined) return undefined;
    const ms = (this.#ticks - since) * this.#options.tickMs;
    return ms > 4 * this.#electionMs() ? { leader, ms } : undefined;
  }

  /** The tick this site last heard from the leader it names, when that is another site. */
  #leaderSilentSince(): number | undefined {
    if (this.#leader === undefined || this.#leader === this.#self) return undefined;
    return this.#heardAt.get(this.#leader);
  }

  /**
   * The members of the configuration whose latest frame said they are low
   * on space, heard from within two election timeouts (one that went
   * silent — halted on a full disk, say — no longer holds the cluster's
   * writes: the others go on without it); and on a follower, which hears
   * only its leader, the other members its leader's latest frame passed on
   * as low (within as long), so that every site says why writes are paused.
   * Never this site itself (its own disk is its own to say).
   */
  storageLow(): StorageLowSite[] {
    const relay = this.#relayedStorageLow;
    const relayed = relay !== undefined && relay.from === this.#leader &&
        this.#ticks - relay.tick <= 2 * this.#options.electionTicks
      ? relay.reports
      : [];
    if (this.#peerStorage.size === 0 && relayed.length === 0) return [];
    const conf = this.#node.confState();
    const member = (site: string) => conf.voters.includes(site) || conf.learners.includes(site);
    const out: StorageLowSite[] = [];
    for (const [site, { state, tick }] of this.#peerStorage) {
      if (!member(site)) continue;
      if (this.#ticks - tick > 2 * this.#options.electionTicks) continue;
      out.push({ site, ...state });
    }
    for (const r of relayed) {
      if (r.site === this.#self || !member(r.site) || out.some((s) => s.site === r.site)) continue;
      out.push({ ...r, low: true });
    }
    return out;
  }

  /** What this site's frames pass on as low (`storageLow`): on a leader, {@link storageLow}. */
  #storageLowRelay(): StorageLowReport[] {
    if (this.#leader !== this.#self) return [];
    return this.storageLow().map(({ site, freeBytes, freeBytesMin }) => ({
      site,
      freeBytes,
      freeBytesMin,
    }));
  }

  /**
   * Takes the clock a member's frame carried (`clock`, ms since the epoch;
   * a frame without one — an older site — leaves the last reading).
   */
  peerClock(from: string, ms: number | undefined): void {
    if (ms === undefined) return;
    const offsetMs = ms - this.#site.now();
    this.#peerClocks.set(from, { ms, at: performance.now(), offsetMs });
    // Said once each way, as etcd's peer clock-drift warning.
    if (Math.abs(offsetMs) > peerClockOffsetWarnMs) {
      if (this.#peerClocksOff.has(from)) return;
      this.#peerClocksOff.add(from);
      this.#log.warn("a member's clock differs from this site's", {
        peer: from,
        offsetMs,
        hint: "check NTP on both; block time is the voters' median clock, and expiry is judged " +
          "by each site's own clock at admission",
      });
    } else if (this.#peerClocksOff.delete(from)) {
      this.#log.info("a member's clock agrees with this site's again", { peer: from, offsetMs });
    }
  }

  /**
   * The time this site, as leader, gives a batch whose own clock read `own`:
   * its voters' {@link quorumClock}. Says once (a warning) when its own
   * clock is more than a minute ahead of that, and once when it is not any more.
   */
  blockTime(own: number): number {
    const time = quorumClock(
      own,
      this.#node.confState().voters,
      this.#self,
      this.#peerClocks,
      performance.now(),
      clockReadingFreshMs,
    );
    const aheadMs = own - time;
    if (aheadMs > clockAheadWarnMs && !this.#clockAhead) {
      this.#clockAhead = true;
      this.#log.warn("this leader's clock is ahead of its voters'", {
        aheadMs,
        hint: "blocks take the voters' median clock, not this one; check NTP here",
      });
    } else if (aheadMs <= clockAheadWarnMs && this.#clockAhead) {
      this.#clockAhead = false;
      this.#log.info("this leader's clock agrees with its voters' again", { aheadMs });
    }
    return time;
  }

  /** Steps messages received from a peer into the core. Unknown recipients are ignored. */
  receive(from: string, messages: Message[]): void {
    if (this.#closed) return;
    this.#heardAt.set(from, this.#ticks);
    const leaving = this.#leaving;
    for (const m of messages) {
      if (m.from !== from || m.to !== this.#self) continue;
      // A stopping site would lead only to leave without a hand-off (its
      // own came before), so the cluster would wait out an election
      // timeout: it refuses leadership, and the transfer to it lapses.
      if (leaving && m.type === "timeoutNow") continue;
      if (this.#claimsOurTerm(m)) continue;
      this.#node.step(m);
    }
    this.#kick();
  }

  /** The last term in which each peer was caught claiming to lead a term this site led. */
  readonly #falseLeaderTerm = new Map<string, number>();

  /**
   * Whether a message claims its sender leads the term this site leads — an
   * append, heartbeat or snapshot of this leader's own term from another
   * site. No correct member sends one (a term has one leader: it took a
   * majority's votes), so it comes from a faulty or hostile member. The core
   * asserts election safety on such a message; the host drops it instead,
   * saying so once per sender and term, so that a member's lie is neither a
   * 500 nor a thrown step that loses the rest of its frame. The host's view of
   * role and term may trail the core's by one Ready; a message is only
   * dropped when it names the term this site led, which no legitimate leader
   * can hold whatever the core learnt since.
   */
  #claimsOurTerm(m: Message): boolean {
    if (this.#role !== "leader" || m.term !== this.#term) return false;
    if (m.type !== "app" && m.type !== "heartbeat" && m.type !== "snapshot") return false;
    if (this.#falseLeaderTerm.get(m.from) !== m.term) {
      this.#falseLeaderTerm.set(m.from, m.term);
      this.#log.error(
        "a member claims to lead the term this site leads; its messages are dropped",
        {
          peer: m.from,
          term: m.term,
          type: m.type,
          hint: "no correct site sends this: check that site's software, its key, and who holds it",
        },
      );
    }
    return true;
  }

  // ---- Sequencer -----------------------------------------------------------

  /**
   * Batches this site may have on their way at once: as leader, proposals
   * not yet applied (two by default: what arrives while both are out
   * becomes the next, larger, batch); as follower, forwards the leader has not yet
   * accepted (a forward returns once the transactions are in the leader's
   * pool, so a few in flight only cut latency).
   */
  get proposalsInFlightMax(): number {
    return this.#node.status().role === "leader"
      ? this.#options.proposalsInFlightMax
      : this.#options.forwardsInFlightMax;
  }

  /**
   * Orders a batch: proposes it when this site leads, otherwise forwards its
   * transactions to the leader. Resolves once the batch is applied here (as
   * leader) or accepted by the leader (as follower); rejects when neither
   * can happen now, so the site retries the transactions.
   */
  async propose(batch: Batch & { members?: WireMember[] }): Promise<ForwardOutcome | void> {
    // A retry timer may fire while the host closes: nothing new starts then
    // (a proposal would wait out its timeout, a forward its request's).
    if (this.#closed) throw new Error("Site is stopping");
    if (this.#removal !== undefined) throw new Error("This site was removed from the cluster");
    const status = this.#node.status();
    if (status.role === "leader") {
      const id = crypto.randomUUID();
      const data = utf8Encode(
        JSON.stringify({ ...batch, time: this.blockTime(batch.time), id, term: status.term }),
      );
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          this.#proposals.delete(id);
          this.#proposalsFailed++;
          reject(new ProposalTimeout("Proposal not applied in time"));
        }, this.#options.proposalTimeoutMs);
        this.#proposals.set(id, { resolve, reject, timer, proposedAt: performance.now() });
      });
      if (!this.#node.propose(data)) {
        const p = this.#proposals.get(id);
        if (p) clearTimeout(p.timer);
        this.#proposals.delete(id);
        throw new Error("Not leader, or too many uncommitted entries");
      }
      this.#kick();
      return await done;
    }
    const leader = status.leader === undefined ? undefined : this.#members.get(status.leader);
    if (leader === undefined || leader.name === this.#self) throw new Error("No leader known");
    const body = JSON.stringify({ from: this.#self, txs: batch.txs });
    this.#traffic.forwardRequests++;
    this.#traffic.forwardedTxs += batch.txs.length;
    const started = performance.now();
    let answer: unknown;
    const forward = { leader: leader.name, abort: new AbortController() };
    this.#forwards.add(forward);
    try {
      answer = await this.#sendForward(leader, body, forward);
    } finally {
      this.#forwards.delete(forward);
    }
    this.#traffic.requestSeconds.observe((performance.now() - started) / 1000, FORWARD_ROUTE);
    return forwardOutcomeOf(answer);
  }

  /**
   * Posts a forward's `body` to `leader`, watched (see #forwardWatch): any
   * answer shows the link works, a refusal too; no answer, unless this site
   * gave the forward up itself, counts against it. Answers what the leader
   * said; throws its refusal or the failure.
   */
  async #sendForward(
    leader: PeerInfo,
    body: string,
    forward: { abort: AbortController },
  ): Promise<unknown> {
    const watched = this.#forwardWatch.started(leader.name, this.#ticks);
    try {
      const answer = await postSigned(
        this.#urlOf(leader) + "/raft/forward",
        body,
        this.#self,
        this.#key,
        undefined,
        clientOf(this.#client),
        forward.abort.signal,
      );
      this.#forwardWatch.answered(watched, this.#ticks);
      return answer;
    } catch (e) {
      if (e instanceof MemberRemovedAnswer) {
        this.#retire({ by: e.from(leader.name) });
      }
      if (e instanceof MemberRemovedAnswer || e instanceof PeerAnswerError) {
        this.#forwardWatch.answered(watched, this.#ticks);
      } else if (forward.abort.signal.aborted || this.#closed) this.#forwardWatch.dropped(watched);
      else this.#forwardWatch.failed(watched);
      throw e;
    }
  }

  /**
   * Asks the leader with an empty forward whether it answers this site, when
   * nothing did lately: no forward on its way to it and none answered for an
   * election timeout. Run every election timeout, so a follower whose link
   * to the leader alone is cut finds out ({@link leaderUnreachable}) though
   * it takes no writes: its status, `/readyz` and metrics say so, and its
   * first write is refused at once rather than held. A site under writes
   * never asks: its forwards say.
   */
  #probeLeader(): void {
    if (this.#closed || this.#removal !== undefined) return;
    const status = this.#node.status();
    if (status.role === "leader" || status.leader === undefined) return;
    const leader = this.#members.get(status.leader);
    if (leader === undefined || leader.name === this.#self) return;
    if (!this.#forwardWatch.quiet(leader.name, this.#ticks - this.#options.electionTicks)) return;
    const forward = { leader: leader.name, abort: new AbortController() };
    this.#forwards.add(forward);
    this.#leaderProbes++;
    this.#sendForward(leader, JSON.stringify({ from: this.#self, txs: [] }), forward)
      .catch(() => {}) // Counted by the watch; a refusal is an answer too.
      .finally(() => this.#forwards.delete(forward));
  }

  /** Peer traffic counters and the consensus state as Prometheus text, for `/metrics`. */
  metrics(): string {
    return peerMetricsText(this.#traffic) + this.#persistSeconds.render() +
      this.#commitSeconds.render() +
      "# HELP edgeledger_slow_raft_persists_total Raft persists that took longer than a second.\n" +
      "# TYPE edgeledger_slow_raft_persists_total counter\n" +
      `edgeledger_slow_raft_persists_total ${this.#slowPersists.count}\n` +
      this.#stateMetrics();
  }

  /**
   * The consensus state as gauges and counters, named after etcd's
   * (`etcd_server_has_leader`, `…_is_leader`, `…_leader_changes_seen_total`,
   * `…_proposals_failed_total`): what docs/monitoring.md alerts on. Peer
   * gauges come from the sites this one sends to every heartbeat, so their
   * value is current: the leader's for every other member of its
   * configuration, a follower's for its leader. Match index and lag only on
   * the leader, which alone tracks them.
   */
  #stateMetrics(): string {
    const s = this.consensusStatus();
    const { voters, learners } = s.confState;
    const lines = [
      "# HELP edgeledger_raft_term This site's current Raft term.",
      "# TYPE edgeledger_raft_term gauge",
      `edgeledger_raft_term ${s.term}`,
      "# HELP edgeledger_raft_has_leader Whether this site knows a leader of its term that it hears and that answers it (1) or not (0): 0 too when it has not heard from its leader for four election timeouts (a learner, or a removed site, keeps naming its last one: leaderlessMs) or its leader has answered none of its forwards for as long (leaderUnreachableMs), as /readyz's leader check.",
      "# TYPE edgeledger_raft_has_leader gauge",
      `edgeledger_raft_has_leader ${
        s.leader === undefined || this.leaderlessMs() !== undefined ||
          this.leaderUnreachable() !== undefined
          ? 0
          : 1
      }`,
      "# HELP edgeledger_raft_is_leader Whether this site is the leader (1) or not (0).",
      "# TYPE edgeledger_raft_is_leader gauge",
      `edgeledger_raft_is_leader ${s.role === "leader" ? 1 : 0}`,
      "# HELP edgeledger_raft_is_learner Whether this site is a non-voting learner (1) or not (0).",
      "# TYPE edgeledger_raft_is_learner gauge",
      `edgeledger_raft_is_learner ${learners.includes(this.#self) ? 1 : 0}`,
      "# HELP edgeledger_raft_leader_changes_total Times this site learned of a leader (itself included) after knowing none or another: its first, and one elected again after a time with none, count.",
      "# TYPE edgeledger_raft_leader_changes_total counter",
      `edgeledger_raft_leader_changes_total ${this.#leaderChanges}`,
      "# HELP edgeledger_raft_proposals_failed_total Batches this site proposed as leader that were not applied (leadership lost, or timed out); their transactions are retried.",
      "# TYPE edgeledger_raft_proposals_failed_total counter",
      `edgeledger_raft_proposals_failed_total ${this.#proposalsFailed}`,
      "# HELP edgeledger_raft_leader_probes_total Empty forwards this site sent its leader to ask whether it answers, when no forward had said so for an election timeout.",
      "# TYPE edgeledger_raft_leader_probes_total counter",
      `edgeledger_raft_leader_probes_total ${this.#leaderProbes}`,
      "# HELP edgeledger_raft_commit_index Highest log index this site knows is committed.",
      "# TYPE edgeledger_raft_commit_index gauge",
      `edgeledger_raft_commit_index ${s.commitIndex}`,
      "# HELP edgeledger_raft_applied_index Highest log index this site has applied to its blocks.",
      "# TYPE edgeledger_raft_applied_index gauge",
      `edgeledger_raft_applied_index ${this.#site.appliedIndex}`,
      "# HELP edgeledger_raft_voters Voting members in this site's configuration.",
      "# TYPE edgeledger_raft_voters gauge",
      `edgeledger_raft_voters ${voters.length}`,
      "# HELP edgeledger_raft_learners Non-voting members (learners) in this site's configuration.",
      "# TYPE edgeledger_raft_learners gauge",
      `edgeledger_raft_learners ${learners.length}`,
      "# HELP edgeledger_raft_snapshots_sent_total Snapshots this site sent to peers that were too far behind.",
      "# TYPE edgeledger_raft_snapshots_sent_total counter",
      `edgeledger_raft_snapshots_sent_total ${this.#snapshotsSent}`,
      "# HELP edgeledger_raft_snapshots_installed_total Snapshots this site caught up from.",
      "# TYPE edgeledger_raft_snapshots_installed_total counter",
      `edgeledger_raft_snapshots_installed_total ${this.#snapshotsInstalled}`,
      "# HELP edgeledger_raft_snapshot_install_stalled_seconds How long this site's snapshot catch-up has found no peer serving the next block (0 while blocks come, when no snapshot is being installed, or while this site is removed from the cluster).",
      "# TYPE edgeledger_raft_snapshot_install_stalled_seconds gauge",
      `edgeledger_raft_snapshot_install_stalled_seconds ${
        this.#installStalledSince === undefined
          ? 0
          : ((performance.now() - this.#installStalledSince) / 1000).toFixed(3)
      }`,
      "# HELP edgeledger_site_key_retirements_unsigned Keys this site retired whose last height its signed retirement does not vouch for in the log yet (verifiers keep a retired key only for a signed height).",
      "# TYPE edgeledger_site_key_retirements_unsigned gauge",
      `edgeledger_site_key_retirements_unsigned ${
        (this.#members.get(this.#self)?.retired ?? []).filter((r) => r.signed === undefined).length
      }`,
    ];
    // The members of the configuration, not every site in the directory: a
    // removed site keeps its sender (and its last send's outcome) forever.
    // A follower speaks for its leader; a site that knows no leader (cut off
    // from the majority, campaigning) for every member, so that its links
    // are still seen where they failed.
    const peers = s.role === "leader" || s.leader === undefined
      ? [...voters, ...learners].filter((p) => p !== this.#self && this.#senders.has(p))
      : this.#senders.has(s.leader)
      ? [s.leader]
      : [];
    lines.push(
      "# HELP edgeledger_raft_peer_reachable Whether this site's last send to the peer succeeded and it heard from the peer within two election timeouts (1), or not (0); the leader's view of each member, a follower's of its leader (they exchange messages every heartbeat; a leader that has answered none of the follower's forwards for four election timeouts is unreachable too), and the view of each member of a site that knows no leader.",
      "# TYPE edgeledger_raft_peer_reachable gauge",
      ...peers.sort().map((p) =>
        `edgeledger_raft_peer_reachable{peer="${escapeLabelValue(p)}"} ${
          this.#peerReachable(p) ? 1 : 0
        }`
      ),
    );
    const progress = s.role === "leader" && s.progress !== undefined
      ? Object.entries(s.progress).filter(([name]) => name !== this.#self)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      : [];
    lines.push(
      "# HELP edgeledger_raft_peer_match_index On the leader: highest log index known to be held by the peer.",
      "# TYPE edgeledger_raft_peer_match_index gauge",
      ...progress.map(([name, p]) =>
        `edgeledger_raft_peer_match_index{peer="${escapeLabelValue(name)}"} ${p.match}`
      ),
      "# HELP edgeledger_raft_peer_clock_offset_seconds The peer's clock minus this site's, as its latest frame carried it (a frame's trip adds to it); over 1 s, the sites' clocks drift.",
      "# TYPE edgeledger_raft_peer_clock_offset_seconds gauge",
      ...peers.filter((p) => this.#peerClocks.has(p)).map((p) =>
        `edgeledger_raft_peer_clock_offset_seconds{peer="${escapeLabelValue(p)}"} ${
          this.#peerClocks.get(p)!.offsetMs / 1000
        }`
      ),
      "# HELP edgeledger_raft_peer_lag_entries On the leader: committed entries the peer does not hold yet.",
      "# TYPE edgeledger_raft_peer_lag_entries gauge",
      ...progress.map(([name, p]) =>
        `edgeledger_raft_peer_lag_entries{peer="${escapeLabelValue(name)}"} ${
          Math.max(0, s.commitIndex - p.match)
        }`
      ),
    );
    return lines.join("\n") + "\n";
  }

  /**
   * Whether `peer` answers: the last send to it succeeded, and a message
   * from it arrived within two election timeouts — a peer cut off silently
   * (a host powered off, a link that drops packets) fails no send until
   * TCP gives up, but stops being heard at once. Holds for the peers this
   * site exchanges heartbeats with: the leader's members, a follower's leader.
   * A follower's leader that answers none of its forwards (see
   * {@link leaderUnreachable}) is unreachable too, though heard from.
   */
  #peerReachable(peer: string): boolean {
    if (this.#senders.get(peer)?.unreachable) return false;
    if (this.leaderUnreachable()?.leader === peer) return false;
    const heard = this.#heardAt.get(peer);
    return heard !== undefined && this.#ticks - heard <= 2 * this.#options.electionTicks;
  }

  /** A sender to `peer`, counting into this site's traffic and logging through its log. */
  #sender(peer: PeerInfo): PeerSender {
    const sender = new PeerSender(
      // It sends where this site reaches the peer; the directory keeps the recorded URL.
      { ...peer, url: this.#urlOf(peer) },
      this.#self,
      this.#key,
      this.#traffic,
      this.#client,
      this.#log,
      (answer) => this.#retire({ by: answer }),
      () => this.#site.storageState(),
      () => this.#site.now(),
      (dropped) => this.#snapshotsLost(dropped),
      () => this.#install !== undefined,
      () => this.#storageLowRelay(),
    );
    if (this.#leaving) sender.siteStopping();
    return sender;
  }

  /**
   * Tells the core of each snapshot among `dropped` (messages that never
   * left, see PeerSender: also those still queued in a sender replaced for
   * a member's new URL or this site's new key), as etcd's hosts report a
   * failed snapshot transfer: the leader stops waiting for it and probes
   * that peer with its next answer, sending another when needed. Unreported, it waits in
   * snapshot state until a few heartbeat replies without progress give up
   * on it. Success is not reported: a snapshot here is a pointer of a few
   * hundred bytes, and the peer acknowledges it (an append reply at its
   * index) as soon as it is durable there — before it fetches the blocks,
   * which it pulls from members itself — and that reply is what moves the
   * leader on (a frame written to a stream says nothing of delivery).
   */
  #snapshotsLost(dropped: Message[]): void {
    // A stopping site's senders drop what they hold: nothing to probe again.
    if (this.#closed) return;
    let lost = false;
    for (const m of dropped) {
      if (m.type !== "snapshot") continue;
      this.#log.info("snapshot not sent: the peer is probed again once it answers", {
        to: m.to,
        index: m.snapshot.metadata.index,
      });
      this.#node.reportSnapshot(m.to, false);
      lost = true;
    }
    if (lost) this.#kick();
  }

  /**
   * Role, term and leader for status; on the leader, each site's progress.
   * What it says the leader holds is what the leader holds durably: its own
   * `match` is the last entry it has written, and the commit index the one
   * of the last Ready it has written. The core counts the leader's own entry
   * from the moment it appends it, and may commit with it while the write
   * that makes it durable is still under way (the leader sends its appends
   * while it writes, thesis §10.2.1). That commit is safe all the same:
   * nothing outside the core learns of it before the write returns — the
   * host applies a Ready's committed entries only after it wrote that
   * Ready, and a commit the core reaches while the write is under way leaves
   * (in the hard state, in messages, as a read index) only with the next
   * Ready, taken after the write returned. Status alone could see it earlier.
   */
  consensusStatus(): Status {
    const s = this.#node.status();
    const self = s.progress?.[this.#self];
    if (s.progress === undefined || self === undefined) return s;
    return {
      ...s,
      commitIndex: Math.min(s.commitIndex, this.#storage.hardState().commit),
      progress: {
        ...s.progress,
        [this.#self]: { ...self, match: Math.min(self.match, this.#storage.lastIndex()) },
      },
    };
  }

  /** The leader's URL as the membership records it (what clients are told), if a leader is known. */
  leaderUrl(): string | undefined {
    const l = this.#node.status().leader;
    return l === undefined ? undefined : this.#members.get(l)?.url;
  }

  /** Where this site sends to the leader (its `peerUrls` entry, else its recorded URL), if one is known. */
  #leaderPeerUrl(): string | undefined {
    const l = this.#node.status().leader;
    const m = l === undefined ? undefined : this.#members.get(l);
    return m === undefined ? undefined : this.#urlOf(m);
  }

  /** Where this site sends to `member`: its `peerUrls` entry, else the URL the membership records. */
  #urlOf(member: PeerInfo): string {
    return this.#peerUrls.get(member.name) ?? member.url;
  }

  /**
   * Resolves once a read made now on this site is linearizable (ReadIndex,
   * thesis §6.4): the leader confirms it still leads and names its commit
   * index; this site waits until it has applied that far.
   */
  async readBarrier(timeoutMs = 3000): Promise<void> {
    const ctx = `${this.#self}:${this.#readEpoch}:${++this.#readSeq}`;
    const index = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#reads.delete(ctx);
        reject(new Error("No leader confirmed the read in time"));
      }, timeoutMs);
      this.#reads.set(ctx, { resolve, reject, timer });
      if (!this.#node.readIndex(ctx)) {
        clearTimeout(timer);
        this.#reads.delete(ctx);
        reject(new Error("Cannot serve a linearizable read now: no leader"));
      }
      this.#kick();
    });
    // Waits here are timed with the monotonic clock: an NTP step neither ends nor stretches them.
    const deadline = performance.now() + timeoutMs;
    // Applied and written: with a storage worker a block's rows may still be
    // on their way to the database after it is applied.
    while (this.#site.readableIndex < index) {
      if (performance.now() > deadline) {
        throw new Error("Did not apply up to the read index in time");
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /**
   * Adds sites to the directory (name, URL, key) so they can be sent to and
   * authenticated, or moves a known one to a new URL; persisted, and carried
   * in snapshots for sites that join later. A known name keeps its key (keys
   * never change silently).
   */
  async #learnMembers(members: WireMember[]): Promise<void> {
    let changed = false;
    // The last block signed with a key this entry retires (an entry with
    // members makes no block, so every site counts the same).
    const height = this.#site.head.header.height;
    for (const m of members) {
      const before = this.#members.get(m.name);
      if (!this.#upsertMember(m, height)) continue;
      changed = true;
      const info = this.#members.get(m.name)!;
      if (
        before !== undefined && before.url === info.url &&
        bytesEqual(before.publicKey, info.publicKey)
      ) {
        this.#log.info("member key retirement signed", {
          member: m.name,
          retired: (info.retired ?? []).filter((r) => r.signed !== undefined)
            .map((r) => ({ publicKey: base64urlEncode(r.publicKey), untilHeight: r.untilHeight })),
        });
        continue;
      }
      if (before !== undefined && before.url !== info.url) {
        this.#log.info("member moved", { member: m.name, from: before.url, to: info.url });
      }
      if (before !== undefined && !bytesEqual(before.publicKey, info.publicKey)) {
        this.#log.info("member key rotated", {
          member: m.name,
          previous: base64urlEncode(before.publicKey),
          publicKey: base64urlEncode(info.publicKey),
          untilHeight: height,
        });
        if (m.name === this.#self) await this.#adoptKey(info);
        continue;
      }
      if (m.name === this.#self) continue;
      // A sender to the new URL (its stream to the old one ends); none to a
      // removed site, which is sent nothing (see broadcastCosign).
      this.#senders.get(m.name)?.close();
      this.#senders.set(m.name, this.#sender(info));
    }
    if (changed) await this.#site.store.setMeta({ directory: JSON.stringify(this.#directory()) });
  }

  /**
   * Puts `m` in the directory: a new name with its URL and key; a known one
   * takes the new URL when the key is the same, and a new key only through
   * its chain of rotations from the key known here, each step signed by
   * both keys (see `key_rotation.ts`) — any other key for a known name is
   * ignored, and the leader refuses to propose one. The key it retires
   * signed up to block `height`, unless `m` says (a directory read back or
   * carried in a snapshot). Whether the directory changed.
   */
  #upsertMember(m: WireMember, height: number): boolean {
    const known = this.#members.get(m.name);
    let rotations = m.rotations ?? known?.rotations;
    let retired = m.retired?.map(retiredFromWire) ?? known?.retired;
    // Heard with the key it retired last until heard with its new one
    // (PeerInfo.graceKey): so is a member first known here with retired
    // keys (a directory read back at start, a snapshot).
    let graceKey = known !== undefined ? known.graceKey : retired?.at(-1)?.publicKey;
    if (known !== undefined) {
      const knownKey = base64urlEncode(known.publicKey);
      if (knownKey !== m.publicKey) {
        const chain = m.rotations ?? [];
        if (
          !chain.some((r) => r.previous === knownKey) ||
          keyAfterChain(m.name, knownKey, chain) !== m.publicKey
        ) {
          return false;
        }
        // The whole chain: what is known here, then the steps on from the
        // key known here (an entry may carry only those).
        rotations = [
          ...(known.rotations ?? []),
          ...chain.slice(chain.findIndex((r) => r.previous === knownKey)),
        ];
        if (m.retired === undefined) {
          retired = [...(known.retired ?? []), { publicKey: known.publicKey, untilHeight: height }];
        } else {
          retired = mergedRetired(known.retired, retired!);
        }
        graceKey = retired!.at(-1)!.publicKey;
      } else if (known.rotations === undefined && m.rotations !== undefined) {
        // The same key, first known here without its history (a config's
        // `peers` name a member by its current key): the history is taken
        // from the log's entry or snapshot when its chain leads to this key.
        if (
          m.rotations.length === 0 ||
          keyAfterChain(m.name, m.rotations[0].previous, m.rotations) !== m.publicKey
        ) {
          return false;
        }
        rotations = m.rotations;
        // Keys of the chain only; their signatures where they verify, as for a known member.
        const unsigned = (m.retired ?? []).map(retiredFromWire)
          .filter((r) => m.rotations!.some((x) => x.previous === base64urlEncode(r.publicKey)))
          .map((r) => ({ publicKey: r.publicKey, untilHeight: r.untilHeight }));
        retired =
          withRetirementSignatures(m.name, { retired: unsigned, rotations }, m.retired ?? []) ??
            unsigned;
        graceKey = undefined;
      } else if (known.retired !== undefined && m.retired !== undefined) {
        // The same key with retirements: only signatures of retirements
        // (an entry of the leader's, a snapshot) are taken, where they verify.
        rotations = known.rotations;
        const signed = withRetirementSignatures(m.name, known, m.retired);
        if (signed === undefined && known.url === m.url) return false;
        retired = signed ?? known.retired;
      } else if (known.url === m.url) {
        return false;
      } else {
        // Moved: only its URL changes.
        rotations = known.rotations;
        retired = known.retired;
      }
    }
    if (m.name === this.#self) graceKey = undefined;
    // Once the member has signed that key's last height with its new key, it
    // has applied its rotation and signs with the new key: the grace ends
    // (a restart here does not open it again).
    if (
      graceKey !== undefined &&
      retired?.some((r) => r.signed !== undefined && bytesEqual(r.publicKey, graceKey!))
    ) {
      graceKey = undefined;
    }
    this.#members.set(m.name, {
      name: m.name,
      url: m.url,
      publicKey: base64urlDecode(m.publicKey),
      ...(rotations === undefined || rotations.length === 0 ? {} : { rotations }),
      ...(retired === undefined || retired.length === 0 ? {} : { retired }),
      ...(graceKey === undefined ? {} : { graceKey }),
    });
    return true;
  }

  #directory(): WireMember[] {
    return [...this.#members.values()].map((m) => ({
      name: m.name,
      url: m.url,
      publicKey: base64urlEncode(m.publicKey),
      ...(m.rotations === undefined ? {} : { rotations: m.rotations }),
      ...(m.retired === undefined ? {} : { retired: m.retired.map(retiredToWire) }),
    }));
  }

  /**
   * This site's key was rotated (an entry applied here): it signs with the
   * new key from the next block on, keeps it in its data folder, and
   * reopens its streams so that they carry the chain. A key it does not
   * hold halts it: it could sign nothing any member would take.
   */
  async #adoptKey(info: PeerInfo): Promise<void> {
    const wanted = base64urlEncode(info.publicKey);
    const inUse = base64urlEncode(this.#key.publicKey);
    if (inUse === wanted) {
      this.#key.setChain(info.rotations ?? []);
      return;
    }
    const pending = this.#pendingKey;
    if (pending !== undefined && base64urlEncode(pending.publicKey) === wanted) {
      this.#key.replace(pending, info.rotations ?? []);
      this.#pendingKey = undefined;
      if (this.#rotatedKeys !== undefined) {
        try {
          await Deno.rename(this.#rotatedKeys.next, this.#rotatedKeys.current);
        } catch (e) {
          // The next file is still there and holds the key: a restart takes it.
          this.#log.warn("cannot move the rotated key in place", { error: e });
        }
      }
      this.#rotated(wanted);
      return;
    }
    // A site restored from a copy made before its later rotations applies
    // them again, already on the newest key its data folder keeps.
    if (!(info.rotations ?? []).some((r) => r.previous === inUse)) return;
    this.#site.halt(
      new Error(
        `This site's key was rotated to ${wanted}, which it does not hold: ` +
          "it cannot sign for the cluster any more; rebuild it under a new key",
      ),
      "its key was rotated to one it does not hold",
    );
  }

  /**
   * Says the site signs with `publicKey` now, reopens its streams to carry
   * the chain, and signs its head's checkpoint again with the new key.
   */
  #rotated(publicKey: string): void {
    this.#log.info("site key rotated: signing with the new key", { publicKey });
    for (const [name, sender] of this.#senders) {
      sender.close();
      this.#senders.set(name, this.#sender(this.#members.get(name)!));
    }
    void this.#site.signHeadAgain().catch((e) =>
      this.#log.warn("cannot sign the head's checkpoint with the new key", { error: e })
    );
    this.#publishPacer.reset();
    this.#publishRetirements();
  }

  /**
   * Signs, with the key this site holds now, the last height of each key it
   * retired that no later key has vouched for yet, and has the leader put
   * the signatures in the log (itself, or through `POST /raft/retired-key`),
   * so verifiers can keep a retired key for the checkpoints it signed (see
   * `sdk/key_rotation.ts`). One attempt at a time, tried again at the next
   * election timeout's watch after a failure — except that a leader too old
   * to know the route is asked again after a pause doubling from one
   * election timeout up to five minutes (a new leader is asked at once).
   */
  #publishRetirements(): void {
    if (this.#publishing || this.#closed || this.#removal !== undefined) return;
    const leader = this.#node.status().leader;
    if (leader === undefined || !this.#publishPacer.mayTry(performance.now(), leader)) return;
    const me = this.#members.get(this.#self);
    // Behind its own rotation, it holds a key the log has retired: it waits.
    if (me === undefined || !bytesEqual(me.publicKey, this.#key.publicKey)) return;
    const unsigned = (me.retired ?? []).filter((r) => r.signed === undefined);
    if (unsigned.length === 0) return;
    this.#publishing = true;
    void (async () => {
      const retirements = await Promise.all(
        unsigned.map((r) => signRetirement(this.#self, r.publicKey, r.untilHeight, this.#key)),
      );
      if (leader === this.#self) {
        await this.signMemberRetirements(this.#self, retirements);
        return;
      }
      const url = this.#leaderPeerUrl();
      if (url === undefined) return;
      await postSigned(
        `${url}/raft/retired-key`,
        JSON.stringify({ from: this.#self, retirements }),
        this.#self,
        this.#key,
        this.#options.proposalTimeoutMs + 5000,
        clientOf(this.#client),
      );
    })().then(() => this.#publishPacer.reset(), (e) => {
      if (this.#closed) return;
      const retryInMs = this.#publishPacer.failed(
        performance.now(),
        leader,
        e instanceof PeerAnswerError && e.status === 404,
      );
      this.#log.warn("cannot publish the retirement of this site's old key yet", {
        error: e,
        retryInMs,
      });
    }).finally(() => {
      this.#publishing = false;
    });
  }

  #publishing = false;
  /** When to try publishing again after a failure. */
  readonly #publishPacer: RetirementPacer;

  #electionMs(): number {
    return this.#options.electionTicks * this.#options.tickMs;
  }

  /**
   * Puts the signed retirements of a member's keys in the log (leader only;
   * `from` is the member, authenticated as peer routes authenticate it — by
   * its current key, or the key it retired last while in its grace; what
   * counts is each retirement's own signature, by a later key): each must name
   * a key the directory says it retired, with the same last height, signed
   * by a later key of its chain. Resolves once applied here.
   */
  async signMemberRetirements(from: string, retirements: unknown): Promise<void> {
    const known = this.#memberAtLeader(from);
    if (!Array.isArray(retirements) || retirements.length === 0 || retirements.length > 64) {
      throw new TypeError("retirements must be a list of 1 to 64 signed key retirements");
    }
    const wire = (retirements as KeyRetirement[]).map((r) => ({
      publicKey: r?.publicKey,
      untilHeight: r?.untilHeight,
      signer: r?.signer,
      signature: r?.signature,
    }));
    const signed = withRetirementSignatures(from, known, wire);
    const after = signed ?? known.retired ?? [];
    // Each one given is signed once this entry applies (now, or already).
    const refused = wire.find((w) =>
      !after.some((r) =>
        r.signed !== undefined && base64urlEncode(r.publicKey) === w.publicKey &&
        r.untilHeight === w.untilHeight
      )
    );
    if (refused !== undefined) {
      throw new TypeError(
        `A key retirement of ${from} does not verify: each must name a key it retired, with ` +
          "the last height the cluster recorded, signed by a later key of its chain",
      );
    }
    if (signed === undefined) return;
    await this.#proposeDirectory(
      {
        name: from,
        url: known.url,
        publicKey: base64urlEncode(known.publicKey),
        retired: signed.map(retiredToWire),
      },
      `sign the retirement of ${from}'s old key`,
    );
  }

  /**
   * Adds a site as a non-voting learner (leader only): first a directory
   * entry with its URL and key, then the membership change. Resolves once
   * both are applied here.
   */
  async addLearner(member: WireMember): Promise<void> {
    this.#requireLeader();
    if (
      this.#node.confState().voters.includes(member.name) ||
      this.#node.confState().learners.includes(member.name)
    ) {
      throw new MembershipError(`Site ${member.name} is already a member`);
    }
    const known = this.#members.get(member.name);
    if (known && base64urlEncode(known.publicKey) !== member.publicKey) {
      throw new MembershipError(`Site ${member.name} is known with another key`);
    }
    await this.#proposeDirectory(member, `add ${member.name}`);
    await this.#confChange({ type: "addLearner", node: member.name });
  }

  /**
   * Promotes a caught-up learner to voter (leader only). Throws
   * {@link UnknownMemberError} for a name that is neither voter nor learner,
   * and {@link MembershipError} for a learner whose log is far behind (the
   * core's check) or that is catching up by snapshot: its log is current
   * then (it acknowledges), but its state is not, and a voter that stands
   * for no election is not what a promotion is for.
   */
  async promote(name: string): Promise<void> {
    this.#requireLeader();
    this.#requireMember(name);
    if (this.#node.confState().learners.includes(name) && this.#peersCatchingUp.has(name)) {
      throw new MembershipError(
        `Cannot promote ${name}: it is catching up by snapshot; promote it once its blocks are ` +
          "in (member list, or GET /v1/status on it: catchingUp)",
      );
    }
    await this.#confChange({ type: "promote", node: name });
  }

  /**
   * Removes a site from the membership (leader only). Throws
   * {@link UnknownMemberError} for a name that is neither voter nor learner.
   */
  async remove(name: string): Promise<void> {
    this.#requireLeader();
    this.#requireMember(name);
    await this.#confChange({ type: "remove", node: name });
  }

  /**
   * Moves a member to a new URL (leader only), as `etcdctl member update`
   * does: a directory entry with the same name and key and the new URL goes
   * through the log, so every site — and a site that joins later, by
   * snapshot — sends to the new URL once it applies it. Resolves once
   * applied here; a URL the member has already changes nothing. The site
   * itself is then restarted at the new address (its config's `url`).
   */
  async updateMemberUrl(name: string, url: string): Promise<void> {
    const known = this.#memberAtLeader(name);
    if (known.url === url) return;
    await this.#proposeDirectory(
      { name, url, publicKey: base64urlEncode(known.publicKey) },
      `move ${name} to ${url}`,
    );
  }

  /**
   * Rotates this site's own key: makes a new one, keeps it in the data
   * folder (`next`), signs the rotation with both keys and has the leader
   * put it in the log (itself, or through `POST /raft/rotate-key`); resolves
   * once this site applied it and signs with the new key, and (within the
   * same time limit) has signed the old key's last height with it. The key
   * it retires signed up to the height the answer gives; `retirementSigned`
   * says whether that height is signed yet (it is, later, if not).
   */
  async rotateKey(): Promise<
    { previous: string; publicKey: string; untilHeight: number; retirementSigned: boolean }
  > {
    if (this.#rotatedKeys === undefined) {
      throw new MembershipError(
        "This site cannot rotate its key: it keeps no data folder of its own (its database is not a local file)",
      );
    }
    if (this.#removal !== undefined) {
      throw new MembershipError(`Site ${this.#self} was removed from the cluster`);
    }
    if (this.#rotating) throw new MembershipError("A rotation of this site's key is under way");
    this.#rotating = true;
    try {
      // A rotation asked again (the first timed out, say) proposes the same
      // key: the first may still be applied, and this site must hold its key.
      let next = this.#pendingKey;
      if (next === undefined) {
        next = generateKeyPair("ed25519");
        await writeRotatedKey(this.#rotatedKeys.next, next);
        this.#pendingKey = next;
      }
      const rotation = await signRotation(this.#self, this.#key, await SiteKey.create(next));
      const leader = this.#node.status().leader;
      if (leader === this.#self) {
        await this.rotateMemberKey(this.#self, rotation);
      } else {
        const url = this.#leaderPeerUrl();
        if (url === undefined) throw new MembershipError("No leader is known; try again shortly");
        const body = JSON.stringify({ from: this.#self, rotation });
        try {
          await postSigned(
            `${url}/raft/rotate-key`,
            body,
            this.#self,
            this.#key,
            this.#options.proposalTimeoutMs + 5000,
            clientOf(this.#client),
          );
        } catch (e) {
          // The leader proposed it and ran out of time, or its answer did not
          // come: it may still take effect, as when this site leads.
          if (!peerTimedOut(e)) throw e;
          throw new MembershipTimeout(
            `The rotation of ${this.#self}'s key was sent to the leader but not seen applied ` +
              `in time (${(e as Error).message}): it may still take effect; check ` +
              "GET /v1/sites before asking again",
          );
        }
      }
      const deadline = performance.now() + this.#options.proposalTimeoutMs;
      while (base64urlEncode(this.#key.publicKey) !== rotation.publicKey) {
        if (this.#site.fatal !== undefined) throw this.#site.fatal;
        if (performance.now() > deadline) {
          throw new MembershipTimeout(
            `The rotation of ${this.#self}'s key is in the leader's log but was not applied here ` +
              `within ${this.#options.proposalTimeoutMs} ms: it may still take effect; check ` +
              "GET /v1/sites before asking again",
          );
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      // Then the retired key's last height, signed with the new key (see
      // #publishRetirements), so that verifiers refreshed from the answer on
      // keep the old key for what it signed; the rotation stands either way,
      // and the signature comes later when this wait runs out.
      const retiredHere = () =>
        this.#members.get(this.#self)?.retired?.find((r) =>
          base64urlEncode(r.publicKey) === rotation.previous
        );
      while (performance.now() < deadline && !this.#closed && this.#site.fatal === undefined) {
        const last = retiredHere();
        if (last === undefined || last.signed !== undefined) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      const last = retiredHere();
      return {
        previous: rotation.previous,
        publicKey: rotation.publicKey,
        untilHeight: last?.untilHeight ?? this.#site.head.header.height,
        retirementSigned: last?.signed !== undefined,
      };
    } finally {
      this.#rotating = false;
    }
  }

  /**
   * Puts a member's key rotation in the log (leader only; `from` is the
   * member, authenticated by its current key): checked against the key
   * known here for it, both signatures; resolves once applied here.
   */
  async rotateMemberKey(from: string, rotation: unknown): Promise<void> {
    const known = this.#memberAtLeader(from);
    const r = rotation as KeyRotation;
    if (
      !rotationVerifies(r) || r.name !== from || r.previous !== base64urlEncode(known.publicKey)
    ) {
      throw new TypeError(
        `The key rotation of ${from} does not verify: it must be signed by its current key and ` +
          "by the new one",
      );
    }
    // A key retired stays retired: verifiers keep it for the heights it
    // signed only, and a chain that comes back to a key is no chain.
    // (Every key it retired is the `previous` of a step of its chain.)
    if ((known.rotations ?? []).some((x) => x.previous === r.publicKey)) {
      throw new TypeError(
        `The key rotation of ${from} brings back a key it retired: a site never takes one back`,
      );
    }
    await this.#proposeDirectory(
      {
        name: from,
        url: known.url,
        publicKey: r.publicKey,
        rotations: [...(known.rotations ?? []), r],
      },
      `rotate the key of ${from}`,
    );
  }

  /**
   * Proposes a directory entry (a site's name, URL and key) and waits until
   * it is applied here; {@link MembershipTimeout} when it was proposed but
   * not applied in time (it may still be).
   */
  async #proposeDirectory(member: WireMember, what: string): Promise<void> {
    try {
      await this.propose({
        time: Date.now(),
        proposer: this.#self,
        term: 0,
        txs: [],
        members: [member],
      });
    } catch (e) {
      if (!(e instanceof ProposalTimeout)) throw e;
      throw new MembershipTimeout(
        `The change (${what}) was proposed but not applied within ${this.#options.proposalTimeoutMs} ms: ` +
          "it may still take effect; check the membership (GET /v1/status: voters, learners, " +
          "or GET /v1/sites) before asking again",
      );
    }
  }

  /**
   * Hands leadership to `to` (leader only); resolves when `to` leads or after
   * a timeout. Requires `to` to be a voter of the configuration: a learner,
   * a name that is no member, or this site itself is refused with a message
   * that says which, since none of them is a state that passes.
   */
  async transferLeadership(to: string): Promise<void> {
    this.#requireLeader();
    const conf = this.#node.confState();
    if (conf.learners.includes(to)) {
      throw new MembershipError(
        `Cannot transfer leadership to ${to}: it is a learner; promote it to a voter first`,
      );
    }
    if (!conf.voters.includes(to)) {
      throw new MembershipError(
        `Cannot transfer leadership to ${to}: ${to} is not a voting member: the voters are ${
          conf.voters.join(", ")
        }`,
      );
    }
    if (to === this.#self) {
      throw new MembershipError(`Cannot transfer leadership to ${to}: it leads already`);
    }
    if (this.#peersCatchingUp.has(to)) {
      throw new MembershipError(
        `Cannot transfer leadership to ${to}: it is catching up by snapshot and stands for no ` +
          "election until its blocks are in (GET /v1/status on it: catchingUp)",
      );
    }
    if (!this.#node.transferLeadership(to)) {
      throw new MembershipError(`Cannot transfer leadership to ${to} now`);
    }
    const started = this.#transferStarted(to);
    this.#kick();
    const deadline = performance.now() + this.#options.proposalTimeoutMs;
    while (performance.now() < deadline) {
      if (this.#node.status().leader === to) {
        this.#log.info("leadership transfer finished", { to, tookMs: since(started) });
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    this.#log.warn("leadership transfer did not finish in time", { to, waitedMs: since(started) });
    throw new MembershipError(`Leadership did not move to ${to} in time`);
  }

  /** Says that a transfer to `to` started; returns when (`performance.now()`). */
  #transferStarted(to: string): number {
    this.#log.info("leadership transfer started", { to, term: this.#node.status().term });
    return performance.now();
  }

  /**
   * The first step of this site's graceful stop (etcd's `Stop` does the
   * same): when it leads and there are other voters, it hands leadership to
   * the most caught-up of them ({@link handOffTarget}) and waits until
   * another site leads, so the cluster does not wait out an election
   * timeout without a leader. Waits at most `waitMs`, no longer than the
   * core pursues the transfer (an election timeout), and no longer than the
   * voter is reachable: one that goes away (it stops too, as on a Ctrl-C of
   * a whole local cluster) cannot take over. Resolves with the new leader's
   * name, or undefined when this site did not lead, had no voter to hand
   * over to, or the hand-off did not finish (the site stops anyway: the
   * others elect a leader after an election timeout). Never rejects.
   *
   * Every site calls it when its stop begins, leader or not: from then on
   * it refuses leadership (a `timeoutNow` is dropped), and peers that go
   * away are logged at `info` ({@link PeerSender.siteStopping}).
   */
  async handOffLeadership(waitMs: number): Promise<string | undefined> {
    if (!this.#leaving) {
      this.#leaving = true;
      for (const s of this.#senders.values()) s.siteStopping();
    }
    if (this.#closed) return undefined;
    const status = this.#node.status();
    if (status.role !== "leader") return undefined;
    const to = handOffTarget(status, this.#peersCatchingUp);
    if (to === undefined || !this.#node.transferLeadership(to)) return undefined;
    const started = this.#transferStarted(to);
    this.#kick();
    const deadline = performance.now() + waitMs;
    while (!this.#closed && performance.now() < deadline) {
      const s = this.#node.status();
      if (s.leader !== undefined && s.leader !== this.#self) {
        this.#log.info("leadership transfer finished", { to: s.leader, tookMs: since(started) });
        return s.leader;
      }
      // Still leading with no transfer under way: the core gave it up.
      if (s.role === "leader" && s.leadTransferee === undefined) break;
      if (this.#senders.get(to)?.unreachable) {
        this.#log.info("leadership transfer abandoned", {
          to,
          reason: "the voter is unreachable",
          waitedMs: since(started),
        });
        return undefined;
      }
      await new Promise((r) => setTimeout(r, handOffPollMs));
    }
    this.#log.warn("leadership transfer did not finish in time", { to, waitedMs: since(started) });
    return undefined;
  }

  /** A voter's or learner's directory entry (leader only); MembershipError otherwise. */
  #memberAtLeader(name: string): PeerInfo {
    this.#requireLeader();
    this.#requireMember(name);
    const known = this.#members.get(name);
    if (known === undefined) throw new UnknownMemberError(name);
    return known;
  }

  /** Throws {@link UnknownMemberError} unless `name` is a voter or a learner of the configuration. */
  #requireMember(name: string): void {
    const conf = this.#node.confState();
    if (!conf.voters.includes(name) && !conf.learners.includes(name)) {
      throw new UnknownMemberError(name);
    }
  }

  #requireLeader(): void {
    if (this.#node.status().role !== "leader") {
      throw new MembershipError(
        `Site ${this.#self} is not the leader; ask ${this.leaderUrl() ?? "the leader"}`,
      );
    }
  }

  async #confChange(
    cc: { type: "addLearner" | "promote" | "remove"; node: string },
  ): Promise<void> {
    // The change is appended at the next index, in this term.
    const { lastIndex: before, term } = this.#node.status();
    if (!this.#node.proposeConfChange(cc)) {
      throw new MembershipError(
        `Cannot ${cc.type} ${cc.node} now (one change at a time; learners must catch up first)`,
      );
    }
    this.#kick();
    const target = before + 1;
    const deadline = performance.now() + this.#options.proposalTimeoutMs;
    while (this.#site.appliedIndex < target) {
      if (performance.now() > deadline) {
        throw new MembershipTimeout(
          `The change (${cc.type} ${cc.node}) is in the leader's log at index ${target} but was ` +
            `not applied within ${this.#options.proposalTimeoutMs} ms: it may still take effect; ` +
            "check the membership (GET /v1/status: voters, learners) before asking again",
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    // A leader that lost its majority before the change committed: the next
    // leader's entries took its index, and what was applied there is not it.
    if (this.#appliedConfChanges.get(target) !== term) {
      throw new MembershipTimeout(
        `The change (${cc.type} ${cc.node}) was proposed at index ${target}, but what this site ` +
          "applied there is not it (a leader change replaced it before it committed, or this " +
          "site caught up past it by snapshot): check the membership (GET /v1/status: voters, " +
          "learners) before asking the leader again",
      );
    }
  }

  /**
   * Sends checkpoint signature lines to every other member of the
   * configuration (best effort): they ride with the next Raft messages to
   * that peer, or go alone shortly after. A removed site keeps its
   * directory entry and sender, but is sent nothing more.
   */
  broadcastCosign(lines: CosignLine[]): void {
    if (lines.length === 0 || this.#closed) return;
    const { voters, learners } = this.#node.confState();
    for (const members of [voters, learners]) {
      for (const name of members) {
        if (name !== this.#self) this.#senders.get(name)?.sendLines(lines);
      }
    }
  }

  // ---- the Ready loop --------------------------------------------------------

  #kick(): void {
    if (this.#closed && !this.#draining) return;
    if (this.#draining) {
      this.#again = true;
      return;
    }
    this.#draining = true;
    void this.#drain().finally(() => {
      this.#draining = false;
      if (this.#again && !this.#closed) {
        this.#again = false;
        this.#kick();
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      if (this.#unfinishedInstall !== undefined) {
        this.#startInstall(this.#unfinishedInstall, true);
        this.#unfinishedInstall = undefined;
      }
      await this.#applyDeferred();
      while (!this.#closed && this.#node.hasReady()) {
        const rd = this.#node.ready();
        const hs = rd.hardState;
        // The storage holds the hard state last persisted (it is set below).
        const persisted = this.#storage.hardState();
        const voteChanged = hs !== undefined &&
          (hs.term !== persisted.term || hs.vote !== persisted.vote);
        const mustSync = rd.entries.length > 0 || rd.snapshot !== undefined || voteChanged;
        // A leader may send its appends while it writes them itself (thesis
        // §10.2.1). The core counts the leader's own copy as soon as it
        // appends an entry, so it may commit the entry (with one follower's
        // acknowledgment, say) while this write is under way. Nothing learns
        // of that commit before the write returns: this Ready's committed
        // entries are applied after it, and a commit reached meanwhile
        // leaves only with the next Ready, taken after it — so the world
        // sees an entry committed only once a majority holds it durably
        // (consensusStatus reports the durable index too). The exception is
        // a lone voter: its own copy is the majority, so it committed this
        // Ready's entries before the Ready was taken, and this Ready's
        // messages carry that commit index to its learners, which would
        // apply an entry that a crash before this write returns erases (the
        // voter, restarted, puts another entry at its index). Its messages
        // leave after the write. Anything else — votes, a new term, a
        // follower's acknowledgment — leaves only once it is durable.
        const status = this.#node.status();
        const commitsOwn = rd.entries.length > 0 && status.commitIndex >= rd.entries[0].index;
        const early = !voteChanged && !commitsOwn && status.role === "leader";
        if (early) this.#send(rd.messages);
        // 1. Durable before anything leaves this site.
        const persistStarted = performance.now();
        await this.#store.persist(rd, { sync: mustSync });
        if (mustSync) {
          const ms = performance.now() - persistStarted;
          this.#persistSeconds.observe(ms / 1000);
          this.#slowPersists.observe(ms);
        }
        if (rd.snapshot) this.#storage.applySnapshot(rd.snapshot);
        this.#storage.append(rd.entries);
        if (rd.hardState) this.#storage.setHardState(rd.hardState);
        // Said once durable: a term or vote logged is one this site holds.
        this.#logTransitions(rd);
        // 2. Send.
        if (!early) this.#send(rd.messages);
        // Applying is a long stretch of this thread's time (executing and
        // writing a block): the messages just sent — an acknowledgment the
        // leader waits for, the leader's next appends — leave first. Each
        // turn of the event loop takes them a step further (framed and
        // signed, handed to the stream, written to the socket).
        if (rd.messages.length > 0 && rd.committedEntries.length > 0) {
          for (let i = 0; i < turnsBeforeApply; i++) await new Promise((r) => setImmediate(r));
        }
        // 3. Apply: what follows a snapshot waits for its blocks, which
        // are fetched beside this loop (see #startInstall).
        if (rd.snapshot) this.#startInstall(rd.snapshot, false);
        if (this.#install !== undefined) {
          const last = rd.committedEntries.at(-1);
          if (last !== undefined) this.#deferredTo = last.index;
        } else {
          // (Checked here: the Ready loop does not await a call that has nothing to do.)
          if (this.#site.appliedIndex < this.#deferredTo) await this.#applyDeferred();
          const committedAt = performance.now();
          for (const e of rd.committedEntries) await this.#apply(e, committedAt);
        }
        for (const rs of rd.readStates) this.#answerRead(rs);
        if (rd.softState?.role !== undefined && rd.softState.role !== "leader") {
          this.#failProposals();
        }
        if (rd.softState?.leader !== undefined) {
          this.#abandonForwards(rd.softState.leader);
          this.#site.leaderKnown(this.#node.status().term);
        }
        this.#rejoinIfAdded();
        // 4. Advance.
        this.#node.advance(rd);
        await this.#maybeSnapshot();
      }
    } catch (e) {
      this.#stopOn(e, "the Ready being handled");
    }
  }

  /**
   * Halts the site on an error of the Ready loop or of a snapshot install
   * (`what`), unless the site is stopping: a stop ends what they waited on
   * (a peer's answer, say), which is the stop, not an error to halt on.
   */
  #stopOn(e: unknown, what: string): void {
    if (this.#fatal !== undefined) return;
    const stopping = this.#closed;
    this.#fatal = e;
    this.#closed = true;
    if (stopping) this.#log.info(`stopping: ${what} ends`, { error: String(e) });
    else this.#site.halt(e, "consensus host stopped");
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
  }

  /**
   * Installs `snap` beside the Ready loop (after the install under way, if
   * one is: `snap` is later, and its blocks follow that one's). The Ready
   * loop goes on meanwhile: the site votes, appends and acknowledges, so a
   * cluster with one site down keeps its majority while another catches up
   * a long way behind a thin link (it waited on the install before, and
   * took no part in elections: etcd too receives a snapshot beside its Raft
   * loop). The entries committed meanwhile are applied once the blocks are
   * in, in order (see {@link #applyDeferred}); the site takes no snapshot
   * of its own and stands for no election until then (it could not lead:
   * its state is behind). Its frames say so meanwhile (`catchingUp`), so a
   * leader neither hands it leadership nor promotes it. Requires that the
   * snapshot is durable.
   */
  #startInstall(snap: Snapshot, resumed: boolean): void {
    const target = JSON.parse(utf8Decode(snap.data)) as SnapshotPointer;
    this.#installTarget = { snapshotIndex: snap.metadata.index, targetHeight: target.height };
    const before = this.#install;
    const run = (async () => {
      // One that failed halted the site: this one then stops at once.
      await before?.catch(() => {});
      await this.#installSnapshot(snap, target, resumed);
    })();
    this.#install = run;
    this.#node.holdCampaigns(true);
    run.then(() => {
      if (this.#install !== run) return;
      this.#install = undefined;
      this.#node.holdCampaigns(false);
      this.#kick();
    }, (e) => this.#stopOn(e, "the snapshot install under way"));
  }

  /**
   * Applies, in order, the committed entries handed out while an install
   * was under way (from the log, which keeps them: no snapshot of this
   * site's own compacts it meanwhile). Does nothing while one is.
   */
  async #applyDeferred(): Promise<void> {
    let next = this.#site.appliedIndex + 1;
    while (this.#install === undefined && !this.#closed && next <= this.#deferredTo) {
      const hi = Math.min(this.#deferredTo, next + deferredPageEntries - 1);
      const committedAt = performance.now();
      for (const e of this.#storage.entries(next, hi + 1, Infinity)) {
        await this.#apply(e, committedAt);
      }
      next = hi + 1;
    }
  }

  /**
   * Logs what a Ready says changed, once per change: this site's role (it
   * leads, steps down, starts an election), the leader it follows (or that
   * it knows none), and a term that moved with neither. A Ready carries a
   * soft state only when the role or the leader changed, and a term only
   * when the hard state did, so a Ready with neither costs two comparisons.
   */
  #logTransitions(rd: Ready): void {
    const term = rd.hardState?.term ?? this.#term;
    const ss = rd.softState;
    if (ss === undefined && term === this.#term) return;
    const previous = { role: this.#role, leader: this.#leader, term: this.#term };
    this.#term = term;
    let said = false;
    if (ss !== undefined) {
      this.#role = ss.role;
      this.#leader = ss.leader;
      if (ss.leader !== undefined) this.#leaderlessSince = undefined;
      else this.#leaderlessSince ??= this.#ticks;
      if (ss.leader !== undefined && ss.leader !== previous.leader) this.#leaderChanges++;
      if (ss.leader !== previous.leader) this.#forwardWatch.reset();
      if (ss.role !== previous.role) {
        if (ss.role === "leader") {
          this.#log.info("became leader", { term });
          said = true;
        } else if (previous.role === "leader") {
          const quorumLost = term === previous.term;
          this.#log[quorumLost ? "warn" : "info"]("stepped down", {
            term,
            role: ss.role,
            reason: quorumLost ? "no quorum heard from in an election timeout" : "a higher term",
          });
          said = true;
        }
        if (ss.role === "candidate") {
          this.#log.info("election started", { term });
          said = true;
        } else if (ss.role === "preCandidate") {
          this.#log.debug("pre-vote started", { term });
        }
      }
      if (ss.leader !== previous.leader && ss.role !== "leader") {
        if (ss.leader !== undefined) {
          this.#log.info("following leader", { leader: ss.leader, term });
          said = true;
        } else if (
          previous.leader !== undefined && previous.leader !== this.#self &&
          ss.role !== "candidate"
        ) {
          // In a new term an election elsewhere is moving leadership (info);
          // in the same term this site stopped hearing its leader (warn). A
          // candidate's own election says it already.
          this.#log[term === previous.term ? "warn" : "info"]("leader lost", {
            leader: previous.leader,
            term,
          });
          said = true;
        }
      }
    }
    if (!said && term !== previous.term) {
      this.#log.info("term changed", { term, previousTerm: previous.term });
    }
  }

  /**
   * A site whose log holds its own removal, not yet applied, is sent
   * nothing more by a leader whose log holds it too, and campaigns only
   * while the removal may be uncommitted (to finish it when its own log is
   * the one ahead; the core steps down once it commits): it may never learn
   * that the removal committed, and so never apply it.
   * Once per election timeout it asks its peers (an empty signed
   * `/raft/msg`): one that applied the removal answers 410 and this site
   * retires; one for which it is still a member (the removal was not
   * committed, and a new leader will overwrite it) answers 204.
   */
  #probeRemoval(): void {
    if (this.#removal !== undefined || this.#probing || this.#closed) return;
    const conf = this.#node.confState();
    const inConf = conf.voters.includes(this.#self) || conf.learners.includes(this.#self);
    if (inConf || this.#storage.lastIndex() <= this.#site.appliedIndex) return;
    this.#probing = true;
    const body = JSON.stringify({ from: this.#self, messages: [] });
    const peers = [...this.#members.values()].filter((m) => m.name !== this.#self);
    void Promise.all(peers.map(async (m) => {
      try {
        await postSigned(
          this.#urlOf(m) + "/raft/msg",
          body,
          this.#self,
          this.#key,
          undefined,
          clientOf(this.#client),
        );
      } catch (e) {
        if (e instanceof MemberRemovedAnswer) {
          this.#retire({ by: e.from(m.name) });
        }
      }
    })).finally(() => this.#probing = false);
  }

  /**
   * On the leader, once per election timeout: says when a peer's log falls
   * `peerLagEntriesWarn` entries or more behind the commit index, and when
   * it is within half of that again (once each way). A voter behind is a
   * warning (the quorum has less to spare); a learner behind is `info`: a
   * site just added starts from nothing and catches up by design.
   */
  #watchPeers(): void {
    const s = this.#node.status();
    if (s.role !== "leader" || s.progress === undefined) {
      this.#behind.clear();
      return;
    }
    const lagMax = this.#options.peerLagEntriesWarn;
    for (const name of this.#behind) if (s.progress[name] === undefined) this.#behind.delete(name);
    for (const [name, p] of Object.entries(s.progress)) {
      if (name === this.#self) continue;
      const lag = Math.max(0, s.commitIndex - p.match);
      if (!this.#behind.has(name) && lag >= lagMax) {
        this.#behind.add(name);
        const learner = s.confState.learners.includes(name);
        this.#log[learner ? "info" : "warn"]("peer falling behind", {
          peer: name,
          learner,
          lag,
          match: p.match,
          state: p.state,
        });
      } else if (this.#behind.has(name) && lag < lagMax / 2) {
        this.#behind.delete(name);
        this.#log.info("peer caught up", { peer: name, lag, match: p.match });
      }
    }
  }

  #send(messages: Message[]): void {
    const byPeer = new Map<string, Message[]>();
    for (const m of messages) {
      if (m.type === "snapshot") {
        this.#snapshotsSent++;
        this.#log.info("sending snapshot", {
          to: m.to,
          index: m.snapshot.metadata.index,
          term: m.term,
        });
      }
      const list = byPeer.get(m.to) ?? [];
      list.push(m);
      byPeer.set(m.to, list);
    }
    for (const [to, list] of byPeer) this.#senders.get(to)?.send(list);
  }

  async #apply(e: Entry, committedAt: number): Promise<void> {
    if (e.type !== "normal" || e.data.length === 0) {
      if (e.type === "confChange") await this.#applyConfChange(e);
      await this.#site.markApplied(e.index);
      return;
    }
    const batch = decodeBatch(e.data);
    const proposed = this.#proposals.get(batch.id);
    if (proposed) this.#commitSeconds.observe((committedAt - proposed.proposedAt) / 1000);
    if (batch.members !== undefined) await this.#learnMembers(batch.members);
    await this.#site.applyEntry(e.index, batch);
    const p = this.#proposals.get(batch.id);
    if (p) {
      clearTimeout(p.timer);
      this.#proposals.delete(batch.id);
      p.resolve();
    }
  }

  /**
   * Keeps which sites were removed (so they are answered 410, see
   * {@link removedMember}) before the entry counts as applied: applying
   * it again after a crash finds the same. A site that applies its own
   * removal retires.
   */
  async #applyConfChange(e: Entry): Promise<void> {
    this.#logConfChange(e);
    this.#appliedConfChanges.set(e.index, e.term);
    for (const index of this.#appliedConfChanges.keys()) {
      if (this.#appliedConfChanges.size <= appliedConfChangesKept) break;
      this.#appliedConfChanges.delete(index);
    }
    const cc = decodeConfChange(e.data);
    const had = this.#removedAt.get(cc.node);
    if (cc.type === "remove") this.#removedAt.set(cc.node, e.index);
    else this.#removedAt.delete(cc.node);
    if (had !== this.#removedAt.get(cc.node)) {
      await this.#site.store.setMeta({
        removed_members: JSON.stringify(Object.fromEntries(this.#removedAt)),
      });
    }
    if (cc.type === "remove" && cc.node === this.#self) this.#retire({ index: e.index });
  }

  /**
   * Takes the removals `snap` carries (`removed`: name → index of the
   * applied removal, as of the snapshot's index) over this site's, which
   * are older (it applied nothing past the snapshot); a member of the
   * snapshot's membership was added again since and is removed no more.
   * Kept before the snapshot counts as applied, as #applyConfChange keeps
   * them, so a site that caught up by snapshot answers a removed site 410
   * as one that applied the log does. Kept too are this site's own that a
   * snapshot does not name: one made by older software carries none, and
   * one made by a site that caught up from such a snapshot only those it
   * applied since.
   *
   * A removal of this site the snapshot names is not taken: a leader sends
   * only to members of its configuration, which drops a site the moment its
   * removal is appended, so this site was added again after the snapshot's
   * index (a restored site comes back so) and that entry follows. Taking
   * it would retire a member — "removed" in its status, an error telling
   * the operator to stop it, writes refused — for the whole catch-up.
   */
  async #takeRemovals(removed: Record<string, number>, snap: Snapshot): Promise<void> {
    const before = JSON.stringify(Object.fromEntries(this.#removedAt));
    for (const [name, index] of Object.entries(removed)) {
      if (name !== this.#self) this.#removedAt.set(name, index);
    }
    const { voters, learners } = snap.metadata.confState;
    for (const name of [...voters, ...learners]) this.#removedAt.delete(name);
    const after = JSON.stringify(Object.fromEntries(this.#removedAt));
    if (after !== before) await this.#site.store.setMeta({ removed_members: after });
  }

  /** Says which membership change a committed entry made, and the membership after it. */
  #logConfChange(e: Entry): void {
    const cc = decodeConfChange(e.data);
    // A change takes effect when appended, and one at a time: the
    // membership in force includes it.
    const { voters, learners } = this.#node.confState();
    const fields = { member: cc.node, index: e.index, voters, learners };
    if (cc.type === "addLearner") this.#log.info("learner added", fields);
    else if (cc.type === "promote") this.#log.info("learner promoted to voter", fields);
    // This site's own removal: said once it retires (see #retire).
    else if (cc.node !== this.#self) this.#log.info("member removed", fields);
  }

  #answerRead(rs: ReadState): void {
    const r = this.#reads.get(rs.ctx);
    if (!r) return;
    clearTimeout(r.timer);
    this.#reads.delete(rs.ctx);
    r.resolve(rs.index);
  }

  /** Refuses the reads waiting for the leader's answer (none would come, or be wanted). */
  #failReads(why: string): void {
    for (const r of this.#reads.values()) {
      clearTimeout(r.timer);
      r.reject(new Error(why));
    }
    this.#reads.clear();
  }

  /**
   * Abandons the forwards on their way to a leader other than `leader`,
   * which this site now knows leads (itself, maybe): their transactions go
   * back to the site's pool at once, to be proposed here or forwarded to
   * `leader`. A leader cut off silently answers a forward only when its
   * time runs out (`peerRequestTimeoutMs`, 5 s); until then the batches
   * would count against this site's in-flight limit — as the new leader it
   * proposed nothing for seconds. Whatever the old leader took of them is
   * applied once at most (applying skips a transaction id already in).
   */
  #abandonForwards(leader: string): void {
    for (const f of this.#forwards) {
      if (f.leader !== leader) f.abort.abort(new Error(`${leader} leads now, not ${f.leader}`));
    }
  }

  #failProposals(): void {
    for (const [id, p] of this.#proposals) {
      clearTimeout(p.timer);
      this.#proposals.delete(id);
      this.#proposalsFailed++;
      p.reject(new Error("Lost leadership before the batch was applied"));
    }
  }

  /** Records a snapshot pointer of the applied state and compacts the log behind it. */
  async #maybeSnapshot(): Promise<void> {
    // Its state is behind its log until the install is in and what waited applied.
    if (this.#install !== undefined || this.#site.appliedIndex < this.#deferredTo) return;
    const applied = this.#site.appliedIndex;
    if (applied - this.#lastSnapshotIndex < this.#options.snapshotEntriesMin) return;
    if (applied > this.#storage.lastIndex()) return;
    // A snapshot that arrived while this Ready was being applied (it is
    // installed with the next Ready) moved the log past what this site
    // applied: the membership at `applied` is no longer known. Nothing to
    // snapshot until it is installed.
    if (this.#node.status().firstIndex - 1 > applied) return;
    const head = this.#site.head;
    // The directory rides along: a site catching up from this snapshot
    // learns the URLs and keys of sites added before it (their entries are
    // compacted away, and replayed blocks do not carry them). So do the
    // removals applied up to it, so that it answers a removed site as
    // removed as a site that applied them does (see #installSnapshot).
    const data = utf8Encode(
      JSON.stringify(
        {
          entryIndex: applied,
          height: head.header.height,
          hash: head.hash,
          members: this.#directory(),
          removed: Object.fromEntries(this.#removedAt),
        } satisfies SnapshotPointer,
      ),
    );
    const snap = this.#storage.createSnapshot(applied, this.#node.confStateAt(applied), data);
    const compactTo = Math.max(0, applied - this.#options.compactKeepEntries);
    await this.#store.saveSnapshot(snap, compactTo);
    this.#storage.compact(Math.min(compactTo, snap.metadata.index));
    this.#lastSnapshotIndex = applied;
    this.#log.info("took snapshot", {
      index: applied,
      height: head.header.height,
      compactedTo: compactTo,
    });
  }

  /**
   * Catches up to a snapshot (`target`: its pointer, parsed) by fetching and
   * re-executing the blocks it covers; `resumed` when a restart finishes an
   * install a crash cut short.
   */
  async #installSnapshot(
    snap: Snapshot,
    target: SnapshotPointer,
    resumed: boolean,
  ): Promise<void> {
    try {
      await this.#catchUpTo(snap, target, resumed);
    } finally {
      this.#installStalledSince = undefined;
    }
  }

  /** {@link #installSnapshot}'s work. */
  async #catchUpTo(snap: Snapshot, target: SnapshotPointer, resumed: boolean): Promise<void> {
    if (Array.isArray(target.members)) await this.#learnMembers(target.members);
    await this.#takeRemovals(isRemovedMap(target.removed) ? target.removed : {}, snap);
    const leaderName = this.#node.status().leader;
    const started = performance.now();
    const fromHeight = this.#site.head.header.height;
    this.#log.info("installing snapshot", {
      index: snap.metadata.index,
      height: target.height,
      blocks: Math.max(0, target.height - fromHeight),
      leader: leaderName,
      resumed,
    });
    /** When it was last logged that no peer serves a block (since #installStalledSince). */
    let warnedAt = -Infinity;
    /** Whether it was said that the catch-up waits because this site was removed. */
    let pausedSaid = false;
    let retryMs = installRetryMsMin;
    /** Blocks asked for in the next page (halved after a slow one; see blocksPageSlowMs). */
    let pageBlocks = blocksPageMax;
    /** Asks `p` for up to `limit` blocks from `from`: the page, or why there is none. */
    const ask = async (
      p: PeerInfo,
      from: number,
      limit: number,
    ): Promise<{ page: ReplayBlock[] } | { refused: string }> => {
      try {
        // A page is abandoned when it stops arriving, not when it is slow:
        // behind a thin link a page of large blocks may take minutes, and a
        // deadline on the whole would abandon it again and again (the site
        // then halted, "Cannot fetch block"). A stop does not wait it out.
        const askedAt = performance.now();
        const path = `/raft/blocks?from=${from}&limit=${limit}`;
        const { res, text } = await fetchPeerText(
          `${this.#urlOf(p)}${path}`,
          blocksPageIdleMs,
          blocksPageMsMax,
          clientOf(this.#client),
          this.#stopping.signal,
          // Signed: a site that serves nothing without an API key serves its blocks to members only.
          await peerReadHeaders(this.#self, p.name, this.#key, path),
        );
        // A slow page: smaller ones next, so that progress is written as
        // it comes and a stall loses less; a quick one: larger again.
        pageBlocks = performance.now() - askedAt > blocksPageSlowMs
          ? Math.max(1, Math.floor(pageBlocks / 2))
          : Math.min(blocksPageMax, pageBlocks * 2);
        if (!res.ok) {
          // A member that applied this site's removal answers so, on every peer route.
          const removed = memberRemovedAnswer(p.name, res, text);
          if (removed === undefined) return { refused: `HTTP ${res.status}` };
          this.#retire({ by: removed });
          return { refused: "this site was removed from the cluster" };
        }
        // Only answers a member signed are read.
        verifyPeerAnswer(res, text, p.name, (n) => this.member(n));
        const page = JSON.parse(text).blocks as ReplayBlock[];
        if (!Array.isArray(page) || page.length === 0) return { refused: "no blocks" };
        return { page };
      } catch (e) {
        if (this.#closed) throw e;
        // A page that stopped arriving: a smaller one next.
        if ((e as Error)?.name === "TimeoutError") pageBlocks = Math.max(1, pageBlocks >> 1);
        return { refused: (e as Error)?.message ?? String(e) };
      }
    };
    /**
     * Blocks known to be the cluster's, by height: the snapshot's (its hash
     * came in the leader's signed message), then each one whose hash the
     * next known block names as `prev` (see {@link linkBack}).
     */
    const known = new Map<number, string>([[target.height, target.hash]]);
    let knownFrom = target.height;
    /** Peers that served nothing in the last round: asked last in the next. */
    let failed = new Set<string>();
    while (this.#site.head.header.height < target.height) {
      if (this.#closed) throw new Error("Site is stopping");
      const from = this.#site.head.header.height + 1;
      // Whose blocks are written (each re-executed first, and written only
      // if it comes out with the hash served, which must follow the head):
      // the leader's (as known now: it may change while this runs), since it
      // orders the log anyway; another member's once a second member served
      // the same ones, or as far as they are blocks known to be the
      // cluster's — one member alone could serve a chain of its own making.
      // The leader is asked first, unless it served nothing last round (out
      // of reach: with only one other member left, as in a cluster of three
      // whose leader is cut off, this site would otherwise wait on it for
      // ever — and the other could not be elected without this site's vote).
      const leader = this.#node.status().leader;
      const rank = (m: PeerInfo) => (failed.has(m.name) ? 2 : 0) + (m.name === leader ? 0 : 1);
      const peers = [...this.#members.values()].filter((m) => m.name !== this.#self)
        .sort((a, b) => rank(a) - rank(b));
      let blocks: ReplayBlock[] | undefined;
      const served: Array<{ peer: PeerInfo; page: ReplayBlock[] }> = [];
      /** Why each peer asked served nothing, for the log. */
      const refused: Record<string, string> = {};
      failed = new Set();
      for (const p of peers) {
        const answer = await ask(p, from, pageBlocks);
        if ("refused" in answer) {
          refused[p.name] = answer.refused;
          failed.add(p.name);
          continue;
        }
        const { page } = answer;
        if (p.name === leader) {
          blocks = page;
          break;
        }
        blocks = knownPrefix(page, known) ?? servedTwice(page, served.map((s) => s.page));
        if (blocks !== undefined) break;
        served.push({ peer: p, page });
      }
      if (blocks === undefined && served.length > 0 && knownFrom > from) {
        // One member served blocks no other confirmed: learn the cluster's
        // blocks below the snapshot's from it, checking each link by hash,
        // then ask again.
        const linked = await linkBack(
          (lo, n) => ask(served[0].peer, lo, n),
          from,
          knownFrom,
          known,
        );
        if (linked !== undefined) {
          knownFrom = linked;
          continue;
        }
        refused[served[0].peer.name] = "its blocks do not lead to the snapshot's";
      }
      if (!blocks || blocks.length === 0) {
        // Keep asking, less often the longer it lasts. (Giving up after 30 s
        // once halted a site whose links were down for longer, until it was
        // restarted.)
        if (this.#removal !== undefined) {
          // Removed from the cluster: members refuse it blocks until it is
          // added again (then they serve them, and the install goes on),
          // which is no stall — EdgeledgerRemovedSiteRunning is the alert.
          this.#installStalledSince = undefined;
          if (!pausedSaid) {
            pausedSaid = true;
            this.#log.info(
              "snapshot catch-up waits: this site was removed from the cluster; it goes on if " +
                "the site is added again",
              { height: from, target: target.height },
            );
          }
        } else {
          // Peers restarting, or this site's links down.
          const stalledSince = this.#installStalledSince ??= performance.now();
          if (performance.now() - warnedAt >= installStuckLogMs) {
            warnedAt = performance.now();
            this.#log.warn("snapshot catch-up: no peer serves the next block; asking again", {
              height: from,
              target: target.height,
              forMs: since(stalledSince),
              peers: refused,
            });
          }
        }
        await sleep(retryMs, this.#stopping.signal);
        retryMs = Math.min(installRetryMsMax, retryMs * 2);
        continue;
      }
      if (this.#installStalledSince !== undefined) {
        this.#log.info("snapshot catch-up: blocks served again", {
          height: from,
          afterMs: since(this.#installStalledSince),
        });
      }
      this.#installStalledSince = undefined;
      warnedAt = -Infinity;
      retryMs = installRetryMsMin;
      for (const b of blocks) {
        if (b.header.height > target.height) break;
        await this.#site.replayBlock(b, { checkBeforeWriting: true });
      }
    }
    if (this.#site.head.hash !== target.hash) {
      throw new Error(`Snapshot catch-up reached block ${target.height} with a different hash`);
    }
    await this.#site.markApplied(snap.metadata.index);
    this.#lastSnapshotIndex = snap.metadata.index;
    this.#snapshotsInstalled++;
    this.#log.info("installed snapshot", {
      index: snap.metadata.index,
      height: target.height,
      blocks: target.height - fromHeight,
      tookMs: since(started),
    });
  }

  /**
   * A member's state hash at `height` (`GET /raft/state`, its answer signed
   * by its key and refused otherwise). A peer without the route says `none`.
   */
  async #fetchStateDigest(
    member: string,
    height: number,
    signal: AbortSignal,
  ): Promise<StateDigestAnswer> {
    const m = this.#members.get(member);
    if (m === undefined) return { status: "none" };
    const path = `/raft/state?height=${height}`;
    const res = await fetch(`${this.#urlOf(m)}${path}`, {
      headers: await peerReadHeaders(this.#self, m.name, this.#key, path),
      signal: AbortSignal.any([AbortSignal.timeout(10_000), signal, this.#stopping.signal]),
      client: clientOf(this.#client),
    });
    const text = await res.text();
    if (res.status === 404) return { status: "none" };
    if (!res.ok) throw new Error(`${m.name} answered ${res.status}`);
    verifyPeerAnswer(res, text, m.name, (n) => this.member(n));
    return parseStateDigestAnswer(text, height);
  }

  /** Set when the host stopped on an error it cannot recover from. */
  get fatal(): unknown {
    return this.#fatal;
  }
}

/**
 * The longest start of `page` that another member served exactly alike
 * (`served`: the pages of other members for the same first height), or
 * undefined when none did.
 */
export function servedTwice(
  page: ReplayBlock[],
  served: ReadonlyArray<ReplayBlock[]>,
): ReplayBlock[] | undefined {
  let best: ReplayBlock[] | undefined;
  for (const other of served) {
    let n = 0;
    while (
      n < page.length && n < other.length && canonicalJson(page[n]) === canonicalJson(other[n])
    ) n++;
    if (n > 0 && n > (best?.length ?? 0)) best = page.slice(0, n);
  }
  return best;
}

/**
 * The longest start of `page` whose blocks are all known to be the
 * cluster's (`known`: height → hash); undefined if the first is not.
 */
export function knownPrefix(
  page: ReplayBlock[],
  known: ReadonlyMap<number, string>,
): ReplayBlock[] | undefined {
  let n = 0;
  for (; n < page.length; n++) {
    const hash = known.get(page[n].header?.height);
    if (hash === undefined || hash !== page[n].hash) break;
  }
  return n > 0 ? page.slice(0, n) : undefined;
}

/**
 * Learns which blocks below `knownFrom` (the lowest height in `known`) are
 * the cluster's, down towards `from`, from one member's pages (`ask`): a
 * page ending at `knownFrom` whose last block has the known hash, each
 * block's hash its header's, and each `prev` the hash of the block before,
 * is the cluster's — the chain of hashes from the snapshot's block vouches
 * for it whoever served it. Adds the page's blocks (and the block its first
 * one names as `prev`) to `known` and returns the new lowest known height;
 * undefined when the member's blocks do not link so (a chain of its own, or
 * no answer).
 */
export async function linkBack(
  ask: (from: number, limit: number) => Promise<{ page: ReplayBlock[] } | { refused: string }>,
  from: number,
  knownFrom: number,
  known: Map<number, string>,
): Promise<number | undefined> {
  let n = Math.min(blocksPageMax, knownFrom - from + 1);
  for (;;) {
    const lo = knownFrom - n + 1;
    const answer = await ask(lo, n);
    if ("refused" in answer) return undefined;
    const { page } = answer;
    // An answer stops short once its transactions pass its size limit: ask
    // for as many as it held, ending at the known block.
    if (page.length < n) {
      n = page.length;
      continue;
    }
    const chain = page.slice(0, n);
    try {
      for (let i = 0; i < n; i++) {
        const b = chain[i];
        if (b.header.height !== lo + i || blockHash(b.header) !== b.hash) return undefined;
        if (i > 0 && b.header.prev !== chain[i - 1].hash) return undefined;
      }
    } catch {
      return undefined; // a header that is no block header
    }
    if (chain[n - 1].hash !== known.get(knownFrom)) return undefined;
    for (const b of chain) known.set(b.header.height, b.hash);
    known.set(lo - 1, chain[0].header.prev);
    return lo - 1;
  }
}

/**
 * What a snapshot's data holds (JSON): a pointer to the applied state, not
 * the state. Fields past `hash` were added later and are absent in
 * snapshots made by older software, which ignores them in newer ones.
 */
interface SnapshotPointer {
  entryIndex: number;
  height: number;
  hash: string;
  /** The directory (see #learnMembers). */
  members?: WireMember[];
  /** The removals applied up to the snapshot: name → log index of the removal. */
  removed?: Record<string, number>;
}

/** Whether `v` is a map of names to log indexes (a snapshot's `removed`). */
function isRemovedMap(v: unknown): v is Record<string, number> {
  return typeof v === "object" && v !== null && !Array.isArray(v) &&
    Object.values(v).every((i) => Number.isSafeInteger(i) && i > 0);
}

/** A directory entry as carried in entries and snapshots. */
export interface WireMember {
  name: string;
  url: string;
  /** Ed25519 public key, base64url. */
  publicKey: string;
  /** The rotations that led to `publicKey`, oldest first (absent: never rotated). */
  rotations?: KeyRotation[];
  /**
   * The keys it retired and the last height each signed (in the directory
   * a site keeps and in snapshots; an entry that rotates a key has none:
   * each site counts the height when it applies it).
   */
  retired?: Array<{ publicKey: string; untilHeight: number; signer?: string; signature?: string }>;
}

/** A retired key as a directory entry carries it. */
function retiredFromWire(r: NonNullable<WireMember["retired"]>[number]): RetiredKey {
  return {
    publicKey: base64urlDecode(r.publicKey),
    untilHeight: r.untilHeight,
    ...(typeof r.signer === "string" && typeof r.signature === "string"
      ? { signed: { signer: r.signer, signature: r.signature } }
      : {}),
  };
}

/**
 * `known`'s retired keys, then those of `more` for keys it does not hold
 * (a retired key is recorded once, with its last height, as first applied).
 */
function mergedRetired(known: RetiredKey[] | undefined, more: RetiredKey[]): RetiredKey[] {
  const out = [...(known ?? [])];
  for (const r of more) {
    if (!out.some((k) => bytesEqual(k.publicKey, r.publicKey))) out.push(r);
  }
  return out;
}

function retiredToWire(r: RetiredKey): NonNullable<WireMember["retired"]>[number] {
  return {
    publicKey: base64urlEncode(r.publicKey),
    untilHeight: r.untilHeight,
    ...(r.signed === undefined ? {} : r.signed),
  };
}

/**
 * `known`'s retired keys with the signatures of `wire` (retirements as an
 * entry carries them) added where one names a retired key without one,
 * with its last height, and verifies by a later key of `known`'s chain;
 * undefined when none is added.
 */
function withRetirementSignatures(
  name: string,
  known: { retired?: RetiredKey[]; rotations?: KeyRotation[] },
  wire: ReadonlyArray<
    { publicKey?: unknown; untilHeight?: unknown; signer?: unknown; signature?: unknown }
  >,
): RetiredKey[] | undefined {
  let added = false;
  const retired = (known.retired ?? []).map((r) => {
    if (r.signed !== undefined) return r;
    const publicKey = base64urlEncode(r.publicKey);
    const w = wire.find((x) =>
      x?.publicKey === publicKey && x.untilHeight === r.untilHeight &&
      typeof x.signer === "string" && typeof x.signature === "string"
    );
    if (w === undefined) return r;
    const candidate = {
      publicKey,
      untilHeight: r.untilHeight,
      signer: w.signer as string,
      signature: w.signature as string,
    };
    if (!retirementVerifies(name, candidate, known.rotations ?? [])) return r;
    added = true;
    return { ...r, signed: { signer: candidate.signer, signature: candidate.signature } };
  });
  return added ? retired : undefined;
}

/** A membership operation that cannot be done now; the message says why. */
export class MembershipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MembershipError";
  }
}

/**
 * A membership operation on a name that is no member (neither voter nor
 * learner): there is nothing to change, now or later (the admin routes
 * answer it 404 `not_found`, not 409).
 */
export class UnknownMemberError extends MembershipError {
  constructor(readonly member: string) {
    super(`Site ${member} is not a member`);
    this.name = "UnknownMemberError";
  }
}

/**
 * This site's removal from the cluster, while it lasts: the log index of the
 * removal, and the peer that answered so (`by`, with its `detail`) when this
 * site did not apply it itself.
 */
export interface Removal {
  index: number;
  by?: string;
  detail?: string;
}

/**
 * A membership change (or a member's new URL) was proposed but not applied
 * within the proposal timeout: unlike a refusal, it may still take effect.
 * The admin routes answer it 504 `commit_timeout`.
 */
export class MembershipTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MembershipTimeout";
  }
}

/** A proposal not applied within the proposal timeout (it may still be). */
export class ProposalTimeout extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProposalTimeout";
  }
}

/** A block as served to a catching-up peer: enough to re-execute it. */
export interface ReplayBlock {
  hash: string;
  header: BlockHeader;
  entryIndex: number;
  txs: Envelope[];
}

/** Parses an entry's batch; a malformed entry is a broken invariant (every site wrote it the same way). */
export function decodeBatch(data: Uint8Array): Batch & { id: string; members?: WireMember[] } {
  return JSON.parse(utf8Decode(data)) as Batch & { id: string; members?: WireMember[] };
}

/** A member's clock as its latest frame said (`ms`), and when it was heard (`at`, monotonic ms). */
export interface ClockReading {
  ms: number;
  at: number;
}

/**
 * The time a leader proposes for a batch: the lower median of the voters'
 * clocks — its own (`own`) and each other voter's as its latest frame said,
 * heard within `freshMs` and carried forward by the monotonic time since
 * (`nowMono`). Block time never decreases (DESIGN §3), so one block at a
 * clock that ran ahead would hold the chain's time there and every
 * transaction expiring before it would be rejected (docs/block-time.md);
 * the median of three voters or more is moved by no one clock, the
 * leader's included. With fewer fresh readings it is the lower median of
 * those it has: the earlier of two (a clock behind only holds block time
 * back until it is set right), its own alone.
 */
export function quorumClock(
  own: number,
  voters: readonly string[],
  self: string,
  readings: ReadonlyMap<string, ClockReading>,
  nowMono: number,
  freshMs: number,
): number {
  const clocks = [own];
  for (const voter of voters) {
    if (voter === self) continue;
    const r = readings.get(voter);
    if (r === undefined || nowMono - r.at > freshMs) continue;
    clocks.push(r.ms + (nowMono - r.at));
  }
  clocks.sort((a, b) => a - b);
  return Math.round(clocks[Math.floor((clocks.length - 1) / 2)]);
}

/**
 * The voter a stopping leader hands leadership to: of the other voters but
 * those `catchingUp` by snapshot (they stand for no election), those heard
 * from in the current CheckQuorum round first (one that is down cannot
 * take over), then the most caught-up (the highest `match`: the transfer
 * waits until it holds the whole log), then by name. Undefined when
 * `status` is not a leader's or there is no such voter.
 */
export function handOffTarget(
  status: Pick<Status, "id" | "confState" | "progress">,
  catchingUp: ReadonlySet<string> = new Set(),
): string | undefined {
  const progress = status.progress;
  if (progress === undefined) return undefined;
  const candidates = status.confState.voters
    .filter((v) => v !== status.id && progress[v] !== undefined && !catchingUp.has(v))
    .map((v) => ({ name: v, ...progress[v] }));
  candidates.sort((a, b) =>
    Number(b.recentActive) - Number(a.recentActive) || b.match - a.match ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  return candidates[0]?.name;
}

/** Whole milliseconds since `started` (a `performance.now()`). */
function since(started: number): number {
  return Math.round(performance.now() - started);
}

/**
 * A leader's answer to `/raft/forward`, checked: `{accepted, refused?}`
 * (a leader from before refusals were reported sends no `refused`; one from
 * before `index` and `retryAfter`, refusals without them). A refusal that
 * names its envelope neither by id nor by position is left out, as is a
 * malformed one.
 */
export function forwardOutcomeOf(answer: unknown): ForwardOutcome {
  const a = answer as { accepted?: unknown; refused?: unknown } | undefined;
  const refused: unknown[] = Array.isArray(a?.refused) ? a.refused : [];
  return {
    accepted: typeof a?.accepted === "number" ? a.accepted : 0,
    refused: refused.flatMap((r) => {
      const { txId, index, problem: p, retryAfter } = (r ?? {}) as Record<string, unknown>;
      const problem = (p ?? {}) as Record<string, unknown>;
      const at = Number.isSafeInteger(index) && (index as number) >= 0
        ? index as number
        : undefined;
      const named = typeof txId === "string" || (txId === null && at !== undefined);
      if (
        !named || typeof problem.type !== "string" || typeof problem.title !== "string" ||
        typeof problem.status !== "number" || typeof problem.detail !== "string"
      ) return [];
      const { type, title, status, detail } = problem;
      const seconds = retryAfterOf(retryAfter);
      return [{
        txId: txId as string | null,
        ...(at === undefined ? {} : { index: at }),
        problem: { type, title, status, detail },
        ...(seconds === undefined ? {} : { retryAfter: seconds }),
      }];
    }),
  };
}
