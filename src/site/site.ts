/**
 * One edge site: admission, batching, deterministic block execution,
 * storage, checkpoint signing and the read side, behind the
 * {@link LedgerService} the HTTP API serves.
 *
 * Ordering today is local (this site is the only sequencer); the batch →
 * block path is exactly what a Raft follower runs on a committed entry, so
 * consensus replaces {@link Site.sequence} and nothing else.
 *
 * @module
 */
import { dirname } from "node:path";
import { blockHash, type BlockHeader } from "../../sdk/block.ts";
import { formatCheckpoint, parseCheckpoint } from "../../sdk/checkpoint.ts";
import { canonicalJson } from "../../sdk/canonical_json.ts";
import { base64urlDecode, base64urlEncode, hexDecode, hexEncode } from "../../sdk/encoding.ts";
import type { Envelope } from "../../sdk/envelope.ts";
import { envelopeText } from "../chain/envelope_text.ts";
import type { KeyPair } from "../../sdk/keys.ts";
import { assembleNote, parseNote, verifierKey, verifyNoteWith } from "../../sdk/note.ts";
import { problemTitle } from "../../sdk/api/routes.ts";
import { SignatureChecks } from "./signature_checks.ts";
import { verifyEd25519Native } from "./native_ed25519.ts";
import { SiteKey } from "./site_key.ts";
import type {
  BlockEvent,
  BlockView,
  Consistency,
  IntegrityReport,
  LedgerService,
  ProofView,
  Receipt,
  SiteKeysView,
  SiteView,
  StatusView,
  SubmitOptions,
  TxResult,
} from "../api/service.ts";
import { Histogram, labelText } from "../api/histogram.ts";
import { LedgerError } from "../api/service.ts";
import { HeightWaiters } from "../api/height_waiters.ts";
import { createLogger, type Logger, SlowWriteWarning } from "../log.ts";
import { assert } from "../chain/assert.ts";
import { type Batch, executeBatch, leafData, planBatch, stateMapKey } from "../chain/execute.ts";
import {
  genesisBlock,
  type GenesisConfig,
  genesisConfigHash,
  genesisState,
} from "../chain/genesis.ts";
import {
  consistencyProofAt,
  inclusionProofAt,
  MerkleFrontier,
  nodesForConsistency,
  nodesForInclusion,
  nodesForRoot,
} from "../chain/merkle_log.ts";
import {
  activationAt,
  builtinContracts,
  checkRules,
  type ContractRegistry,
  type Policy,
  POLICY_KEY,
  POLICY_NS,
  RULES_KEY,
  RULES_NS,
  RULES_VERSION_SUPPORTED,
  rulesAt,
  type RulesRecord,
  scheduledAfter,
  standingKeys,
  standingOf,
  UnsupportedRulesError,
} from "../contracts/mod.ts";
import {
  type BlockRow,
  type BlockWrite,
  ChainStore,
  type ChainStoreApi,
  openDatabase,
  type TxRowStored,
} from "../storage/mod.ts";
import { filePathOf } from "../storage/db.ts";
import { NativeReader, type RowReads } from "../storage/native.ts";
import { releaseClosedConnections } from "../storage/release.ts";
import { RaftStore, type RaftStoreApi } from "../storage/raft_store.ts";
import { openWorkerStores, type WorkerStores } from "../storage/worker_store.ts";
import {
  type AdmissionPolicy,
  type Admitted,
  checkSignatures,
  checkSignerStatus,
  checkStateless,
  refusalError,
  type StatelessVerdict,
} from "./admission.ts";
import { AdmissionPool } from "./admission_pool.ts";
import { type CosignLine, cosignLinesPerRequestMax, type PeerInfo } from "./peers.ts";
import { checkIntegrity } from "./integrity.ts";
import {
  DiskSpaceGuard,
  lowSpaceText,
  storageRetryAfterSeconds,
  type StorageState,
} from "./disk_space.ts";
import { TxIdFilter } from "./tx_id_filter.ts";
import { StateChecks } from "./state_check.ts";
import { readRotatedKey } from "./key_rotation.ts";
import type { ReplayBlock } from "./raft_host.ts";

/** Limits and timing of a site; every bound has its unit in its name. */
export interface SiteOptions {
  /** This site's name; must be one of `genesis.sites`. */
  name: string;
  /** libSQL URL: `file:data/site-a.db`, `libsql://…` or `http://…`. */
  dbUrl: string;
  dbAuthToken?: string;
  genesis: GenesisConfig;
  /**
   * The site's Ed25519 key (its config's `keyFile`); its public half must
   * be the one the membership has for it — genesis's, or the last its
   * rotations gave it, which the site keeps in its data folder
   * (`rotatedKeys`, see `key_rotation.ts`) and takes from there instead.
   */
  key: KeyPair;
  /** Where a rotated key is kept (`rotatedKeyPaths` of the database file). */
  rotatedKeys?: { current: string; next: string };
  /** Most transactions in one block. */
  batchTxsMax?: number;
  /**
   * Most canonical envelope bytes in one block (4 MiB by default): a batch
   * travels whole in one Raft entry, and an entry must fit a peer frame.
   */
  batchBytesMax?: number;
  /** Longest a transaction waits for a batch to be cut while the site is idle, ms. */
  batchDelayMs?: number;
  /** Most admitted transactions waiting for a block; beyond, submits get 503. */
  pendingTxsMax?: number;
  /** Most canonical bytes of one envelope. */
  envelopeBytesMax?: number;
  /**
   * Refuse new transactions while the volume of a `file:` database has fewer
   * bytes free than this, and make the cluster refuse them too (see
   * `disk_space.ts`); 0 (the default here; a config file's is 512 MiB)
   * never does.
   */
  diskFreeBytesMin?: number;
  /** How often the free space is read, ms (default 5000). */
  diskCheckIntervalMs?: number;
  /**
   * Most bytes the filter of committed transaction ids grows to (default
   * 256 MiB, about 211 million ids; see `tx_id_filter.ts`).
   */
  txIdFilterBytesMax?: number;
  /** Ids read per page while that filter is filled at start (default 5000, a few ms each). */
  txIdFilterPageIds?: number;
  /** Reads the free bytes of the volume holding a path (default: statfs). Tests inject one. */
  diskFreeBytes?: (path: string) => Promise<number>;
  /**
   * Hash the contract state at every height that is a multiple of this and
   * compare it with the peers' (see `state_check.ts`); 0 (the default here;
   * a config file's is 100,000) never does.
   */
  stateCheckBlocks?: number;
  /** How soon a peer that has not hashed a checked height yet is asked again, ms (default 5000). */
  stateCheckRetryMs?: number;
  /**
   * Where the database connection lives: `inline` (this thread; tests) or
   * `worker` (a storage worker thread, so fsyncs never stall request
   * handling; what `workers/site.ts` uses).
   */
  storage?: "inline" | "worker";
  /**
   * Admission worker threads (admission's stateless checks and signature
   * verification); 0 admits on the main thread. `workers/site.ts` uses one
   * per core.
   */
  verifyWorkers?: number;
  /** A site added to a running cluster after genesis (it is not in `genesis.sites`). */
  joining?: boolean;
  /** Injected clock (ms); defaults to `Date.now`. */
  clock?: () => number;
  version?: string;
  /**
   * The contracts this site executes and the highest rules version they
   * implement; `builtinContracts()` by default. Tests inject a registry with
   * a stub contract or another `rulesSupported`; admission workers build the
   * built-in one, so an injected registry needs `verifyWorkers: 0`.
   */
  contracts?: ContractRegistry;
  /**
   * Where the site's events go (a halt, a divergence, a slow disk, a rules
   * upgrade; its consensus host logs through it too). Default: `info` and
   * up, as text on stderr, with the site's name.
   */
  log?: Logger;
}

/**
 * One forwarded envelope the leader refused: the forwarding site tells its
 * client (see {@link Site.acceptForwarded}).
 */
export interface LeaderRefusal {
  /** The transaction id as the leader reads the envelope; null when it has none (malformed). */
  txId: string | null;
  /**
   * Where the envelope is in the forward's `txs`, `0 <= index < txs.length`:
   * the forwarding site finds its client by it even when the leader read no
   * id. Leaders from before this member send none; the id is used then.
   */
  index?: number;
  problem: { type: string; title: string; status: number; detail: string };
  /**
   * Seconds until a retry can succeed (a rate limit's window ends), when
   * the refusal says: the forwarding site answers it as `Retry-After`, as
   * it answers its own refusal.
   */
  retryAfter?: number;
}

/** What a leader did with transactions a follower forwarded. */
export interface ForwardOutcome {
  /** How many joined its pending pool (the others were pending or committed already, or refused). */
  accepted: number;
  /** Every envelope it refused, each once. */
  refused: LeaderRefusal[];
}

/**
 * Orders batches. Without one, a site orders locally (it is the only site).
 * With consensus, the Raft host proposes (as leader) or forwards to the
 * leader (as follower).
 */
export interface Sequencer {
  /**
   * Resolves once the batch is ordered (see the implementation), with what
   * the leader refused when it was forwarded; rejects to hand it back.
   */
  propose(batch: Batch): Promise<ForwardOutcome | void>;
  /** Batches handed to `propose` and not yet settled, at most. */
  readonly proposalsInFlightMax: number;
  consensusStatus(): {
    role: string;
    term: number;
    leader: string | undefined;
    commitIndex: number;
    confState: { voters: string[]; learners: string[] };
    progress?: Record<
      string,
      { match: number; next: number; state: string; recentActive: boolean }
    >;
  };
  /** Resolves once a read made now is linearizable. */
  readBarrier(): Promise<void>;
  leaderUrl(): string | undefined;
  broadcastCosign(lines: CosignLine[]): void;
  /** Every site of the directory (current members and former ones). */
  members(): PeerInfo[];
  /**
   * Set while this site is removed from the cluster (the log index of the
   * removal): it then refuses writes and current reads (see `RaftHost`).
   */
  readonly removal?: { index: number } | undefined;
  /**
   * The members that said on their latest Raft frames that their volume is
   * low on space (see `disk_space.ts`): new transactions are refused while
   * any is.
   */
  storageLow?(): StorageLowSite[];
  /** The snapshot this site is catching up to, while it is (see `RaftHost.catchingUp`). */
  catchingUp?(): { snapshotIndex: number; targetHeight: number } | undefined;
  /**
   * How long this site has known no leader, in ms, once longer than an
   * election takes (see `RaftHost.leaderlessMs`): new writes are refused.
   */
  leaderlessMs?(): number | undefined;
  /**
   * The leader this site forwards to, when it has answered none of its
   * forwards for longer than an election takes, and for how long in ms (see
   * `RaftHost.leaderUnreachable`): new writes are refused.
   */
  leaderUnreachable?(): { leader: string; ms: number } | undefined;
  /** The members whose latest frame said they are catching up by snapshot. */
  peersCatchingUp?(): string[];
}

/** A member that refuses new transactions for want of space, as it said. */
export interface StorageLowSite extends StorageState {
  site: string;
}

/** A block waiting to be written (see `Site.#queueWrite`). */
interface QueuedWrite {
  write: BlockWrite;
  sync: "full" | "normal";
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Lays the writes of blocks not yet written over what the
 * database answered for a plan: their transactions count as committed,
 * their state writes (in block order; `null` deletes) as current.
 */
function overlayUnwritten(
  unwritten: readonly QueuedWrite[],
  committed: Set<string>,
  state: Map<string, string>,
): void {
  for (const { write } of unwritten) {
    for (const t of write.txs) committed.add(t.id);
    for (const w of write.stateWrites) {
      const k = stateMapKey(w.ns, w.key);
      if (w.value === null) state.delete(k);
      else state.set(k, w.value);
    }
  }
}

/** A block's checkpoint text and the signature lines held for it, by site. */
interface RecentCheckpoint {
  text: string;
  /** The block's hash (hex). */
  hash: string;
  lines: Map<string, string>;
}

/**
 * A member whose checkpoint line was for another block than this site's at
 * the same height: the two replicas executed the same log into different
 * blocks (nondeterminism, a mixed-version cluster, a corrupted database).
 */
export interface Divergence {
  site: string;
  height: number;
  /** This site's block hash at `height`. */
  ours: string;
  /** The block hash the member signed. */
  theirs: string;
}

/** Most members whose divergence a site remembers (a consortium has far fewer sites). */
const divergencesMax = 64;
/** A block hash as peers send it. */
const BLOCK_HASH = /^[0-9a-f]{64}$/;

interface Pending {
  admitted: Admitted;
}

type Waiter = (receipt: Receipt) => void;

/** Blocks a lone site executes ahead of the one being written. */
const localBlocksInFlightMax = 8;
/** Envelope characters past which {@link Site.replayBlocks} answers no more blocks. */
const replayBytesMax = 8 * 1024 * 1024;
/** Transactions {@link Site.replayBlocks} reads at once (more when one block holds more). */
const replayReadTxsMax = 500;
/** How often {@link Site.drain} looks whether the writes it waits for are done, ms. */
const drainPollMs = 10;
/**
 * How far a block's time may be ahead of this site's clock before the site
 * says so (see `#watchBlockTime`), ms: well above the skew of clocks kept by
 * NTP and a block's trip from its leader.
 */
const blockTimeAheadWarnMs = 60_000;
/** Delay that batches peers' checkpoint signatures into one database write, ms. */
const cosignStoreDelayMs = 100;
/** Newest blocks whose checkpoint text and signature lines are kept in memory. */
const recentCheckpointsMax = 1024;
/** Peers' checkpoint lines held in memory before they are written together. */
const linesToStoreMax = 512;
/** State keys whose values execution remembers before the cache starts over. */
const stateCacheKeysMax = 200_000;
/** Signer standings remembered by admission before the cache starts over. */
const standingsCachedMax = 100_000;
/**
 * Heights of not-yet-applied blocks whose peer signatures are held; lines
 * for heights further than this above the head are dropped.
 */
const earlyCosignHeightsMax = 4096;
/** Longest checkpoint signature line taken from a peer, characters (an Ed25519 line is ~120). */
const cosignLineCharsMax = 1024;
/** Newest blocks searched for a quorum-signed checkpoint when consensus is attached. */
const quorumSearchBlocks = 256;
/**
 * How often a cluster site that serves no quorum-signed checkpoint sends its
 * peers its head's signature line again, ms (see Site.attachSequencer).
 */
const headCosignEveryMs = 500;

/** State namespace holding signer statuses (`revoked`, `quarantined`) that admission refuses. */
export const STATUS_NS = "identity.status";

/** A running site. Create with {@link Site.open}; stop with {@link Site.close}. */
export class Site implements LedgerService {
  readonly name: string;
  readonly #store: ChainStoreApi;
  #workerStores: WorkerStores | undefined;
  #admissionPool: AdmissionPool | undefined;
  /**
   * Signature checks on this thread with the slow answers on a worker
   * (`signature_checks.ts`), for a site without admission workers.
   */
  readonly #signatureChecks = new SignatureChecks();
  /** Main-thread point reads when a storage worker writes a `file:` database. */
  #reader: NativeReader | undefined;
  /**
   * Where read routes read committed rows: the main-thread reader with a
   * storage worker (prepared statements instead of a hop to the worker and
   * drizzle's query builder there), else the store. It sees every block
   * whose write returned, so every receipt a client was given.
   */
  #rowReads: RowReads;
  readonly #genesis: GenesisConfig;
  #siteKey!: SiteKey;
  readonly #registry: ContractRegistry;
  readonly #policy: AdmissionPolicy;
  readonly #clock: () => number;
  readonly #batchTxsMax: number;
  readonly #batchBytesMax: number;
  readonly #batchDelayMs: number;
  readonly #pendingTxsMax: number;
  readonly #version: string;
  readonly #log: Logger;
  /** Warns of block writes slower than a second (the fsync of a lone site's block, mostly). */
  readonly #slowBlockWrites: SlowWriteWarning;

  #head: { header: BlockHeader; hash: string };
  /**
   * The newest block whose write returned, and the entry index stored with
   * it: what reads of the database see. With a storage worker `#head` and
   * `#appliedIndex` run ahead of it while blocks are on their way to disk.
   */
  #written: { header: BlockHeader; hash: string; appliedIndex: number };
  #frontier: MerkleFrontier;
  #note: string;
  readonly #pending = new Map<string, Pending>();
  readonly #inFlight = new Map<string, Pending>();
  /**
   * Transactions a leader took from this site's forwards (in the term they
   * went in), kept until this site applies them. A leader holds what it
   * takes in memory until it orders it, so a leader that dies first loses
   * them; told of a leader of a later term ({@link leaderKnown}), this site
   * puts them back in its pool, to be forwarded again or proposed here.
   */
  readonly #forwarded = new Map<string, Pending & { term: number }>();
  readonly #waiters = new Map<string, Waiter[]>();
  readonly #listeners = new Set<(e: BlockEvent) => void>();
  /** Reads waiting for a height (`minHeight`), released as blocks are written. */
  readonly #heightWaiters: HeightWaiters;
  #applying = 0;
  #appliedIndex: number;
  #sequencer: Sequencer | undefined;
  /** Heights known to carry a quorum of checkpoint signatures, newest last. */
  #quorumHeight = 0;
  /**
   * Whether the served note carries a quorum of signatures (this site's own
   * is one for a lone site); false on a cluster site until its peers' lines
   * for some block arrive.
   */
  #quorumFound = false;
  /** Sends the head's line to the peers while no quorum is found ({@link Site.attachSequencer}). */
  #headCosignTimer: ReturnType<typeof setInterval> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Watches the free space of a `file:` database's volume (see `disk_space.ts`). */
  #disk: DiskSpaceGuard | undefined;
  /** Hashes of the contract state every `stateCheckBlocks`, against the peers' (see `state_check.ts`). */
  readonly #stateChecks: StateChecks;
  #closed = false;
  #fatal: unknown = undefined;
  readonly #idle: Array<() => void> = [];
  /** Execute-and-write time of each block (its predecessor's turn excluded). */
  readonly #applySeconds = new Histogram(
    "edgeledger_block_apply_seconds",
    "Time to execute a batch into a block and write it, from the end of the previous block's execution.",
  );
  readonly counters = {
    txsCommitted: 0,
    txsRejected: 0,
    blocks: 0,
    /** Database writes of blocks through the storage worker (a group of blocks is one). */
    blockWrites: 0,
    refused: new Map<string, number>(),
    /** Members' checkpoint lines for another block than this site's at that height. */
    divergentLines: 0,
  };

  private constructor(
    options: SiteOptions,
    store: ChainStoreApi,
    head: { header: BlockHeader; hash: string },
    frontier: MerkleFrontier,
    note: string,
    appliedIndex: number,
  ) {
    this.name = options.name;
    this.#store = store;
    this.#rowReads = store;
    this.#genesis = options.genesis;
    this.#registry = options.contracts ?? builtinContracts();
    this.#clock = options.clock ?? Date.now;
    this.#batchTxsMax = options.batchTxsMax ?? 2000;
    this.#batchBytesMax = options.batchBytesMax ?? 4 * 1024 * 1024;
    this.#batchDelayMs = options.batchDelayMs ?? 2;
    this.#pendingTxsMax = options.pendingTxsMax ?? 50_000;
    this.#version = options.version ?? "0.1.0";
    this.#log = options.log ?? createLogger({ context: { site: options.name } });
    this.#slowBlockWrites = new SlowWriteWarning(this.#log, "blocks");
    this.#policy = {
      ledger: options.genesis.ledger,
      expiryWindowMs: options.genesis.policies.expiryWindowMs,
      envelopeBytesMax: options.envelopeBytesMax ?? 65536,
    };
    this.#stateChecks = new StateChecks({
      everyBlocks: options.stateCheckBlocks ?? 0,
      path: filePathOf(options.dbUrl),
      log: this.#log,
      head: () => this.#written.header.height,
      retryMs: options.stateCheckRetryMs,
      save: (json) => this.#store.setMeta({ state_checks: json }),
    });
    this.#heightWaiters = new HeightWaiters(options.name, () => this.#written.header.height);
    this.#committedFilter = new TxIdFilter({ bytesMax: options.txIdFilterBytesMax });
    this.#committedFilterPageIds = options.txIdFilterPageIds ?? 5000;
    this.#head = head;
    this.#written = { ...head, appliedIndex };
    this.#frontier = frontier;
    this.#note = note;
    this.#appliedIndex = appliedIndex;
  }

  /**
   * Opens the site's database (migrating it), writes block 0 on first start,
   * and reloads the head and the Merkle frontier on restart. Throws when the
   * database belongs to another genesis or the key is not this site's.
   */
  static async open(options: SiteOptions): Promise<Site> {
    const me = options.genesis.sites.find((s) => s.name === options.name);
    if (me === undefined && !options.joining) {
      throw new Error(
        `Cannot open site ${options.name}: not in genesis (set "join": true to join a cluster)`,
      );
    }
    const rulesSupported = options.contracts?.rulesSupported ?? RULES_VERSION_SUPPORTED;
    if ((options.genesis.rules ?? 1) > rulesSupported) {
      throw new Error(
        `Cannot open site ${options.name}: the genesis sets rules version ${options.genesis.rules}; ` +
          `this site supports up to ${rulesSupported} — upgrade it`,
      );
    }
    if (options.contracts !== undefined && (options.verifyWorkers ?? 0) > 0) {
      throw new Error(
        `Cannot open site ${options.name}: an injected contract registry needs verifyWorkers: 0`,
      );
    }
    const workerStores = options.storage === "worker"
      ? await openWorkerStores(options.dbUrl, options.dbAuthToken)
      : undefined;
    const store: ChainStoreApi = workerStores?.chain ??
      new ChainStore(await openDatabase(options.dbUrl, options.dbAuthToken));
    let site: Site | undefined;
    try {
      const siteKey = await SiteKey.create(await siteKeyOf(options, store));
      const configHash = genesisConfigHash(options.genesis);
      const stored = await store.getMeta("genesis_hash");
      if (stored !== undefined && stored !== configHash) {
        throw new Error(
          `Cannot open site ${options.name}: ${options.dbUrl} holds a different ledger (genesis ${
            stored.slice(0, 12)
          }…)`,
        );
      }
      if (stored === undefined) {
        const g = genesisBlock(options.genesis);
        const text = formatCheckpoint({
          origin: options.genesis.origin,
          size: 0,
          rootHash: hexDecode(g.header.logRoot),
          height: 0,
          blockHash: g.hash,
        });
        await store.writeBlock({
          block: rowOf(g.header, g.hash, 0),
          txs: [],
          nodes: [],
          stateWrites: genesisState(options.genesis).map((w) => ({
            ns: w.ns,
            key: w.key,
            value: canonicalJson(w.value),
          })),
          checkpointLine: {
            site: options.name,
            line: await siteKey.noteLine(text, options.name),
          },
          meta: {
            genesis_hash: configHash,
            genesis: JSON.stringify(options.genesis),
            applied_entry: "0",
          },
        });
      }
      const row = await store.head();
      assert(row !== undefined, "a stored genesis implies a head");
      const header = headerOf(row);
      assert(blockHash(header) === row.hash, `stored head ${row.height} hashes to its hash`);
      const coords = nodesForRoot(header.logSize);
      const nodes = await store.nodes(coords);
      const frontier = MerkleFrontier.fromNodes(header.logSize, (level, index) => {
        const n = nodes.get(`${level}/${index}`);
        if (n === undefined) {
          throw new Error(`Cannot rebuild the log: node ${level}/${index} missing`);
        }
        return n;
      });
      assert(
        base64urlEncode(frontier.root()) === base64urlEncode(hexDecode(header.logRoot)),
        "the stored Merkle log matches the head's logRoot",
      );
      const applied = Number(await store.getMeta("applied_entry") ?? "0");
      site = new Site(
        options,
        store,
        { header, hash: row.hash },
        frontier,
        "",
        Math.max(applied, row.entryIndex),
      );
      site.#workerStores = workerStores;
      const path = filePathOf(options.dbUrl);
      if (workerStores !== undefined && path !== undefined) {
        site.#reader = new NativeReader(path);
        site.#rowReads = site.#reader;
      }
      if (path !== undefined && (options.diskFreeBytesMin ?? 0) > 0) {
        site.#disk = new DiskSpaceGuard({
          path: dirname(path),
          freeBytesMin: options.diskFreeBytesMin!,
          intervalMs: options.diskCheckIntervalMs ?? 5000,
          freeBytes: options.diskFreeBytes,
          log: site.#log,
        });
        await site.#disk.start();
      }
      site.#siteKey = siteKey;
      site.#stateChecks.restore(await store.getMeta("state_checks"));
      if ((options.verifyWorkers ?? 0) > 0) {
        site.#admissionPool = new AdmissionPool(options.verifyWorkers!, { log: site.#log });
        // A site that could not admit anything must not start (a 503 per transaction).
        await site.#admissionPool.ready();
      }
      site.#note = await site.#buildNote(header, row.hash);
      site.#quorumHeight = header.height;
      site.#quorumFound = true;
      const rules = await store.stateValues([{ ns: RULES_NS, key: RULES_KEY }]);
      site.#setRules(rules.get(stateMapKey(RULES_NS, RULES_KEY)) ?? null, false);
      // Software older than the rules the ledger has moved to (a downgrade)
      // could not execute the next block: say so now, not at that block.
      // Opening still succeeds, so stale reads of what it holds keep working.
      try {
        checkRules(site.#rules, header.height + 1, site.#registry.rulesSupported);
      } catch (e) {
        if (!(e instanceof UnsupportedRulesError)) throw e;
        site.halt(e, "its software does not support the ledger's rules");
      }
      // Last, when nothing can fail any more: close waits for it.
      site.#committedFilterLoad = site.#loadCommittedFilter();
      return site;
    } catch (e) {
      // What this open started, newest first: its threads would keep the process alive.
      if (site !== undefined) {
        site.#disk?.stop();
        site.#admissionPool?.close();
        site.#reader?.close();
      }
      if (workerStores) await workerStores.close();
      else store.close();
      // Nor may its connections hold the database (a retry, a restore).
      await releaseClosedConnections();
      throw e;
    }
  }

  /** Ends every event subscription (so open SSE streams finish before the server stops). */
  endSubscriptions(reason = "shutdown"): void {
    for (const end of [...this.#subscriptionEnds]) end(reason);
  }

  readonly #subscriptionEnds = new Set<(reason: string) => void>();

  /**
   * The first step of a graceful stop: from now on `submit` and
   * `acceptForwarded` refuse new writes with 503 `unavailable` ("Site
   * stopping", `Retry-After: 1`), while the writes admitted before go on to
   * be ordered and committed, and their commit waits answer as usual (see
   * {@link drain}). Reads are served until {@link close}.
   */
  stopAdmitting(): void {
    this.#admitting = false;
  }

  /**
   * Waits, at most `waitMs`, until the writes admitted before
   * {@link stopAdmitting} are done: no `submit` is still running (its wait
   * for commit included) and every admitted transaction is applied here
   * (on a follower, one the leader took is kept until then: it may have to
   * go to the next leader, see {@link leaderKnown}).
   * When `waitMs` passes first, the commit waits still open answer at once
   * with their receipts as they stand — `pending`, as when their own
   * `timeoutMs` passes — so that the HTTP server can drain. Resolves whether
   * everything finished in time. Requires {@link stopAdmitting} first
   * (otherwise new writes could keep it busy until `waitMs`).
   */
  async drain(waitMs: number): Promise<boolean> {
    assert(!this.#admitting, "drain() requires stopAdmitting() first");
    // Monotonic, as every wait here: an NTP step neither cuts it short nor stretches it.
    const deadline = performance.now() + waitMs;
    const busy = () => this.#submitsRunning > 0 || this.#heldCount() > 0;
    // A site that cannot write blocks any more will not get less busy.
    while (busy() && performance.now() < deadline && !this.#closed && this.#fatal === undefined) {
      await new Promise((r) => setTimeout(r, drainPollMs));
    }
    if (!busy()) return true;
    this.#commitWaitsEnded = true;
    for (const end of [...this.#commitWaitEnds]) end();
    return false;
  }

  /** False once the site stops taking writes ({@link stopAdmitting}). */
  #admitting = true;
  /** Calls of {@link submit} not yet returned. */
  #submitsRunning = 0;
  /** Ends each open commit wait now (see {@link drain}). */
  readonly #commitWaitEnds = new Set<() => void>();
  /** Set when {@link drain} ran out of time: a commit wait starting later answers at once. */
  #commitWaitsEnded = false;

  /**
   * Stops batching, waits for the block being written, stops the threads
   * the site started (its storage worker, admission and signature workers)
   * and closes every connection it opened to its database. Once it resolves
   * a reopened site may open it, and another connection of this process
   * may have the files to itself once it asked `databaseHeld` (which
   * collects the closed connections' statements, what libSQL waits for to
   * let a file go; see `release.ts`). Idempotent: a call made while one
   * runs resolves when that one does.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  #closing: Promise<void> | undefined;

  async #close(): Promise<void> {
    this.endSubscriptions();
    this.#heightWaiters.close("is stopping");
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    clearInterval(this.#headCosignTimer);
    this.#disk?.stop();
    while (this.#applying > 0) await new Promise<void>((r) => this.#idle.push(r));
    await this.#stateChecks.close();
    await this.#committedFilterLoad;
    await this.#storeLines();
    for (const l of [...this.#listeners]) this.#listeners.delete(l);
    this.#admissionPool?.close();
    this.#signatureChecks.close();
    this.#reader?.close();
    if (this.#workerStores) await this.#workerStores.close();
    else this.#store.close();
    // libSQL lets a closed connection's file go only once its statements
    // are collected (see `release.ts`): the storage worker collected its
    // own (a worker's end runs no finalizers); this thread's are dropped,
    // and whoever here needs the files to itself runs the collector first
    // (`databaseHeld`) — a full collection on every close cost the test
    // suite's hundreds of sites minutes.
  }

  /**
   * The repository. In `inline` mode it is the {@link ChainStore} itself
   * (tests reach its database through it); in `worker` mode, the proxy.
   */
  get store(): ChainStore {
    return this.#store as ChainStore;
  }

  /** The state checks: the peer route answers from them, the consensus host attaches the peers. */
  get stateChecks(): StateChecks {
    return this.#stateChecks;
  }

  /** The Raft log's repository, on the same database connection as the chain's. */
  raftStore(): RaftStoreApi {
    return this.#workerStores?.raft ?? new RaftStore((this.#store as ChainStore).database);
  }

  // ---- writes ----------------------------------------------------------

  async submit(envelopes: unknown[], options: SubmitOptions): Promise<Receipt[]> {
    this.#assertRunning();
    this.#submitsRunning++;
    try {
      return await this.#submit(envelopes, options);
    } finally {
      this.#submitsRunning--;
    }
  }

  async #submit(envelopes: unknown[], options: SubmitOptions): Promise<Receipt[]> {
    // Writes paused for want of disk space: a new transaction is refused, a
    // committed one still gets its receipt and a held one stays pending (it
    // was taken before the pause), as on a cut-off site (below).
    const storage = this.#storageRefusal();
    const now = this.#clock();
    const receipts: Receipt[] = new Array(envelopes.length);
    const checked: Array<{ i: number; admitted: Admitted }> = [];
    // One envelope sent alone is refused by its problem; a batch, of one
    // too, gets a receipt for each (DESIGN §6).
    const single = envelopes.length === 1 && options.batch !== true;
    // Governance may change the expiry window and the rate limits after genesis.
    const policy = await this.#policyNow();
    const admission = { ...this.#policy, expiryWindowMs: policy.expiryWindowMs };
    // Cut off from the majority, or from the leader alone: what is committed
    // here is answered its receipt as usual; anything else is refused, what
    // this site holds too (see below).
    const leaderlessMs = this.#sequencer?.leaderlessMs?.();
    const unreachable = leaderlessMs === undefined
      ? this.#sequencer?.leaderUnreachable?.()
      : undefined;
    const cutOffRefusal = (txId: string, held: boolean): LedgerError | undefined =>
      leaderlessMs !== undefined
        ? this.#leaderlessRefusal(leaderlessMs, txId, held)
        : unreachable !== undefined
        ? this.#unreachableRefusal(unreachable, txId, held)
        : undefined;
    const refuse = (i: number, e: unknown) => {
      if (!(e instanceof LedgerError)) throw e;
      this.#countRefusal(e.type);
      if (single) throw e;
      receipts[i] = {
        txId: (e.extra.txId as string | undefined) ?? null,
        status: "refused",
        problem: receiptProblem(e),
      };
    };
    const stateless = await this.#admitStateless(envelopes, now, admission, true);
    // Refusals that name an id wait for the lookup below: a transaction that
    // committed is answered with its receipt whatever admission says of it
    // now (it has expired since, or governance narrowed the window), as the
    // id is the idempotency key (DESIGN §2).
    const refusedWithId: Array<{ i: number; txId: string; e: unknown }> = [];
    for (let i = 0; i < envelopes.length; i++) {
      try {
        checked.push({ i, admitted: stateless(i) });
      } catch (e) {
        const txId = e instanceof LedgerError ? e.extra.txId : undefined;
        if (typeof txId === "string") refusedWithId.push({ i, txId, e });
        else refuse(i, e);
      }
    }
    // Only ids the filter may hold can be committed: the rest skip the database.
    const committed = await this.#committedReceipts(
      [...checked.map((c) => c.admitted.txId), ...refusedWithId.map((r) => r.txId)]
        .filter((id) => this.#committedFilter.mightContain(id)),
    );
    for (const r of refusedWithId) {
      const existing = committed.get(r.txId);
      if (existing) receipts[r.i] = existing;
      else if (this.#isPending(r.txId)) receipts[r.i] = { txId: r.txId, status: "pending" };
      else refuse(r.i, r.e);
    }
    const toVerify: typeof checked = [];
    for (const c of checked) {
      const existing = committed.get(c.admitted.txId);
      if (existing) receipts[c.i] = existing;
      else if (this.#isPending(c.admitted.txId)) {
        // Held here: while this site cannot have it ordered, its client is
        // sent to another site with it (the leader orders an id once, so the
        // copy held here, forwarded later, is left out).
        const refusal = cutOffRefusal(c.admitted.txId, true);
        if (refusal !== undefined) refuse(c.i, refusal);
        else receipts[c.i] = { txId: c.admitted.txId, status: "pending" };
      } else {
        try {
          const refusal = cutOffRefusal(c.admitted.txId, false);
          if (refusal !== undefined) throw refusal;
          if (storage !== undefined) {
            const { type, status, title, message, extra } = storage;
            throw new LedgerError(type, status, title, message, {
              ...extra,
              txId: c.admitted.txId,
            });
          }
          // Refused cheaply when already over (no signature checked for it);
          // charged only once its signatures verify (below), so envelopes
          // forged in a signer's name never use up that signer's quota.
          this.#rateLimit(c.admitted, policy, now, false);
          toVerify.push(c);
        } catch (e) {
          refuse(c.i, e);
        }
      }
    }
    // Verify in parallel, then admit in request order, so a batch keeps its
    // order in the log (a stream's anchors sent together apply in sequence).
    const verdicts = await Promise.all(toVerify.map(async (c) => {
      try {
        await checkSignerStatus(c.admitted, (dids) => this.#signerStatuses(dids), {
          openKinds: () => this.#openKinds(),
          registry: this.#registry,
        });
        await checkSignatures(c.admitted, this.#signatureChecks);
        return undefined;
      } catch (e) {
        return e;
      }
    }));
    for (const [k, c] of toVerify.entries()) {
      try {
        if (verdicts[k] !== undefined) throw verdicts[k];
        if (!this.#isPending(c.admitted.txId)) {
          this.#rateLimit(c.admitted, policy, now, true);
          if (this.#heldCount() >= this.#pendingTxsMax) {
            throw new LedgerError(
              "unavailable",
              503,
              "Site busy",
              `${this.#pendingTxsMax} transactions are waiting for a block; retry shortly`,
              { retryAfter: 1, txId: c.admitted.txId },
            );
          }
          this.#pending.set(c.admitted.txId, { admitted: c.admitted });
          this.#admittedEnvelopes.set(c.admitted.envelope, c.admitted);
        }
        receipts[c.i] = { txId: c.admitted.txId, status: "pending" };
      } catch (e) {
        refuse(c.i, e);
      }
    }
    if (toVerify.length > 0) this.#schedule();
    if (!options.wait) return receipts;
    return await this.#awaitCommit(receipts, options.waitTimeoutMs);
  }

  /** Resolves pending receipts as their transactions commit, until `timeoutMs`. */
  async #awaitCommit(receipts: Receipt[], timeoutMs: number): Promise<Receipt[]> {
    const waits: Promise<void>[] = [];
    const cancel: Array<() => void> = [];
    for (let i = 0; i < receipts.length; i++) {
      const r = receipts[i];
      if (r.status !== "pending" || r.txId === null) continue;
      const txId = r.txId;
      waits.push(
        new Promise<void>((resolve) => {
          const w: Waiter = (receipt) => {
            receipts[i] = receipt;
            resolve();
          };
          const list = this.#waiters.get(txId) ?? [];
          list.push(w);
          this.#waiters.set(txId, list);
          cancel.push(() => {
            const l = this.#waiters.get(txId);
            if (!l) return;
            const k = l.indexOf(w);
            if (k >= 0) l.splice(k, 1);
            if (l.length === 0) this.#waiters.delete(txId);
          });
        }),
      );
    }
    if (waits.length === 0 || this.#commitWaitsEnded) {
      for (const c of cancel) c();
      return receipts;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    let end!: () => void;
    await Promise.race([
      Promise.all(waits),
      new Promise<void>((r) => {
        end = r;
        timer = setTimeout(r, timeoutMs);
        this.#commitWaitEnds.add(end);
      }),
    ]);
    clearTimeout(timer);
    this.#commitWaitEnds.delete(end);
    for (const c of cancel) c();
    return receipts;
  }

  #isPending(txId: string): boolean {
    return this.#pending.has(txId) || this.#inFlight.has(txId) || this.#forwarded.has(txId);
  }

  /** Transactions this site holds until they commit: its pool, its batches out, its forwards taken. */
  #heldCount(): number {
    return this.#pending.size + this.#inFlight.size + this.#forwarded.size;
  }

  /**
   * Runs admission's stateless checks (and, with `signatures`, signature
   * verification) on every envelope: on the admission workers when the
   * site has them, else here. Answers a function that returns envelope
   * `i`'s {@link Admitted} or throws its refusal.
   */
  async #admitStateless(
    envelopes: unknown[],
    now: number,
    policy: AdmissionPolicy,
    signatures: boolean,
  ): Promise<(i: number) => Admitted> {
    const pool = this.#admissionPool;
    if (pool === undefined) {
      return (i) => checkStateless(envelopes[i], now, policy, this.#registry);
    }
    const verdicts: StatelessVerdict[] = await Promise.all(
      envelopes.map((raw) => pool.admit(raw, now, policy, signatures)),
    );
    return (i) => {
      const v = verdicts[i];
      if (!v.ok) throw refusalError(v.refusal);
      // The worker checked the strict schema: the raw value is the envelope.
      return {
        txId: v.txId,
        envelope: envelopes[i] as Envelope,
        bytes: v.bytes,
        envelopeJson: v.envelopeJson,
        signatures: v.signatures,
      };
    };
  }

  /** Cuts a batch now if one is full or the site is idle past the delay; group commit otherwise. */
  #schedule(): void {
    if (this.#closed || this.#fatal !== undefined || this.#pending.size === 0) return;
    if (this.#applying >= this.#inFlightMax()) return;
    if (this.#pending.size >= this.#batchTxsMax || this.#batchDelayMs === 0) {
      this.#cut();
      return;
    }
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#cut();
      }, this.#batchDelayMs);
    }
  }

  #cut(): void {
    if (this.#closed || this.#fatal !== undefined || this.#pending.size === 0) return;
    if (this.#applying >= this.#inFlightMax()) return;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const txs: Envelope[] = [];
    const taken: Array<[string, Pending]> = [];
    let bytes = 0;
    for (const [id, p] of this.#pending) {
      if (txs.length >= this.#batchTxsMax) break;
      // The rest wait for the next batch (one transaction alone always goes).
      if (txs.length > 0 && bytes + p.admitted.bytes > this.#batchBytesMax) break;
      bytes += p.admitted.bytes;
      txs.push(p.admitted.envelope);
      taken.push([id, p]);
      this.#inFlight.set(id, p);
      this.#pending.delete(id);
    }
    const batch: Batch = { time: this.#clock(), proposer: this.name, term: 0, txs };
    // The term a forward goes in: a leader of a later term may not have what it took.
    const term = this.#sequencer?.consensusStatus().term ?? 0;
    this.#applying++;
    let retry = false;
    this.sequence(batch).then((outcome) => {
      if (outcome === undefined) return;
      const refused = this.#refusedByLeader(outcome.refused, taken);
      this.#rememberForwarded(taken.filter(([id]) => !refused.has(id)), term);
    }, (e) => {
      if (this.#sequencer === undefined) {
        // A block that cannot be written leaves a lone site unable to go on
        // safely; stop accepting writes and report it loudly.
        this.halt(e, `cannot apply block ${this.#head.header.height + 1}`);
        return;
      }
      // Consensus could not order the batch now (no leader, leadership
      // lost, timeout): hand the transactions back to be retried. Applying
      // is idempotent by transaction id, so a batch that did commit after
      // all is not applied twice.
      retry = true;
      this.#returnToPool(taken.filter(([id]) => !this.#isCommittedLocally(id)));
    }).finally(() => {
      this.#applying--;
      for (const [id] of taken) this.#inFlight.delete(id);
      for (const r of this.#idle.splice(0)) r();
      // Group commit: what arrived while this batch was being ordered goes
      // out now, as one batch.
      if (retry) setTimeout(() => this.#schedule(), 50);
      else if (this.#pending.size > 0) this.#cut();
    });
  }

  /**
   * Batches ordered and not yet applied, at most: consensus sets its own;
   * a lone site pipelines a few blocks when a storage worker writes them.
   */
  #inFlightMax(): number {
    return this.#sequencer?.proposalsInFlightMax ??
      (this.#workerStores ? localBlocksInFlightMax : 1);
  }

  /** Whether this site applied the transaction (kept in memory briefly after each block). */
  #isCommittedLocally(txId: string): boolean {
    return this.#recentlyCommitted.has(txId);
  }

  readonly #recentlyCommitted = new Set<string>();
  /**
   * What admission computed for the envelope objects it admitted (their
   * batches reuse the objects): execution takes their ids and JCS from here.
   */
  readonly #admittedEnvelopes = new WeakMap<Envelope, Admitted>();
  /** Settles when the block being executed has been executed (see applyEntry). */
  #executing: Promise<void> = Promise.resolve();
  /** Every committed transaction id (a Bloom filter; see {@link TxIdFilter}). */
  readonly #committedFilter: TxIdFilter;
  readonly #committedFilterPageIds: number;
  /** Settles when the start-up walk filling {@link #committedFilter} has ended. */
  #committedFilterLoad: Promise<void> = Promise.resolve();

  /**
   * Fills the committed-id filter from the database while the site serves,
   * so that a site starts in the same time whatever its ledger's size (the
   * walk takes seconds per million transactions). Until it ends the filter
   * says "maybe" to every id: admission and planning then ask the database,
   * which is correct, only slower. An id committed during the walk is added
   * by apply, whichever page the walk is on.
   */
  async #loadCommittedFilter(): Promise<void> {
    const started = performance.now();
    const pageIds = this.#committedFilterPageIds;
    let after = "";
    try {
      for (;;) {
        const ids = await this.#store.txIdsAfter(after, pageIds);
        if (this.#closed) return;
        for (const id of ids) this.#committedFilter.add(id);
        if (ids.length < pageIds) break;
        after = ids[ids.length - 1];
        // A database on this thread answers synchronously: let requests in between pages.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    } catch (e) {
      if (this.#closed) return;
      this.#log.warn("transaction id filter not filled: every admission asks the database", {
        error: e instanceof Error ? e.message : String(e),
      });
      return;
    }
    this.#committedFilter.markLoaded();
    // Worth an operator's eye on a ledger with history; on a new one, noise.
    const level = this.#committedFilter.count > 0 ? "info" : "debug";
    this.#log[level]("transaction id filter filled", {
      ids: this.#committedFilter.count,
      bytes: this.#committedFilter.bytes,
      ms: Math.round(performance.now() - started),
    });
  }

  /** The committed-id filter's state: whether it is filled, how many ids, its memory. */
  txIdFilter(): { loaded: boolean; ids: number; bytes: number; falsePositiveRate: number } {
    const f = this.#committedFilter;
    return {
      loaded: f.loaded,
      ids: f.count,
      bytes: f.bytes,
      falsePositiveRate: f.falsePositiveRate(),
    };
  }

  /** Settles when the start-up filling of the committed-id filter has ended (tests, benches). */
  whenTxIdFilterFilled(): Promise<void> {
    return this.#committedFilterLoad;
  }

  /**
   * Orders a batch. With a single site, ordering is local: the batch is the
   * next entry. With consensus, the sequencer proposes it (leader) or
   * forwards it (follower), and the block is applied from the Raft log.
   */
  sequence(batch: Batch): Promise<ForwardOutcome | void> {
    if (this.#sequencer) return this.#sequencer.propose(batch);
    return this.applyEntry("next", batch);
  }

  /**
   * Hands ordering to consensus, and from then on serves only checkpoints a
   * quorum of voters signed: at open the site took its head's note with
   * whatever lines it had stored, which after a restart may be its own
   * alone. The newest of the last {@link quorumSearchBlocks} blocks whose
   * stored lines reach a quorum is served until a newer one does.
   */
  async attachSequencer(sequencer: Sequencer): Promise<void> {
    this.#sequencer = sequencer;
    this.#quorumHeight = 0;
    this.#quorumFound = false;
    const head = this.#head.header.height;
    for (let h = head; h >= Math.max(0, head - quorumSearchBlocks); h--) {
      const lines = this.#quorumLines(
        (await this.#store.checkpointLines(h)).map((l) => [l.site, l.line]),
      );
      if (lines === undefined) continue;
      const row = await this.#store.blockByHeight(h);
      if (row === undefined) break;
      this.#note = assembleNote(this.#checkpointText(headerOf(row), row.hash), lines);
      this.#quorumHeight = h;
      this.#quorumFound = true;
      return;
    }
    // None: a new cluster's block 0, which no site applies through consensus
    // (so none sent its line for it), or a head whose peers' lines were lost.
    // Until peers' lines come, what this site serves carries its own alone —
    // no co-signed checkpoint: it asks for them (#askForHeadLines).
    this.#askForHeadLines(sequencer);
  }

  /**
   * Every {@link headCosignEveryMs}, while the checkpoint this site serves is
   * not co-signed at its head and its head has not moved since the last
   * look, sends its head's line marked `again`; a peer answers such a line
   * with its own (#answerAgain). So a site that started last hears from
   * peers that reached their quorum before it was up, and one that caught
   * up — by a snapshot install or a long log — while the cluster is quiet,
   * when no new block brings the others' lines, serves a co-signed
   * checkpoint of its head without waiting for a write. A head that moves
   * brings its lines with its blocks: nothing is sent then.
   */
  #askForHeadLines(sequencer: Sequencer): void {
    let seen = this.#head.header.height;
    const ask = async () => {
      if (this.#closed) {
        clearInterval(this.#headCosignTimer);
        this.#headCosignTimer = undefined;
        return;
      }
      const head = this.#head.header.height;
      const hash = this.#head.hash;
      if (this.#quorumFound && this.#quorumHeight >= head) return;
      if (head !== seen) {
        seen = head;
        return;
      }
      const own = this.#recentCheckpoints.get(head)?.lines.get(this.name) ??
        (await this.#store.checkpointLines(head)).find((l) => l.site === this.name)?.line;
      if (own === undefined || this.#head.header.height !== head) return;
      sequencer.broadcastCosign([{ height: head, line: own, hash, again: true }]);
    };
    // A store that fails here (the site closing) fails the next look too.
    const look = () =>
      ask().catch((e) => {
        if (!this.#closed) {
          this.#log.warn("cannot ask peers for their checkpoint lines", { error: e });
        }
      });
    clearInterval(this.#headCosignTimer);
    this.#headCosignTimer = setInterval(look, headCosignEveryMs);
    look();
  }

  /** Why the site halted, or undefined while it runs (see {@link halt}). */
  get fatal(): unknown {
    return this.#fatal;
  }

  /**
   * Stops this site taking writes and answering `leader` or `linearizable`
   * reads (503), and marks it unhealthy in its status: its consensus host
   * stopped on an error it cannot recover from (a failed durable write, a
   * snapshot it could not catch up to, a block under a rules version this
   * software does not support). Restarting the site recovers from its Raft
   * log (after an upgrade, for the last). The first `reason` is logged, with
   * `why` (what the site was doing): it is the one that stopped the site,
   * and later calls change nothing.
   */
  halt(reason: unknown, why = "a fatal error"): void {
    if (this.#fatal !== undefined) return;
    this.#fatal = reason;
    this.#log.error("site halted", { reason: why, error: reason });
  }

  /** Where this site's events go (its consensus host logs through it too). */
  get log(): Logger {
    return this.#log;
  }

  /**
   * The highest entry whose effects reads see: its block is written (with a
   * storage worker, {@link appliedIndex} may be ahead while it is on its way).
   * A linearizable read waits for this one.
   */
  get readableIndex(): number {
    return this.#written.appliedIndex;
  }

  /** The highest consensus entry applied (durably). */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** The site's key as a signer (checkpoint lines, peer requests). */
  get siteKey(): SiteKey {
    return this.#siteKey;
  }

  /** The current head block. */
  get head(): { header: BlockHeader; hash: string } {
    return { header: this.#head.header, hash: this.#head.hash };
  }

  /** Records that an entry with no block (a no-op, a membership change) was applied. */
  async markApplied(entryIndex: number): Promise<void> {
    if (entryIndex <= this.#appliedIndex) return;
    // After the blocks queued before it, so the stored index never goes back.
    await this.#lastWrite.catch(() => {});
    await this.#store.setMeta({ applied_entry: String(entryIndex) });
    this.#appliedIndex = entryIndex;
    this.#written.appliedIndex = Math.max(this.#written.appliedIndex, entryIndex);
  }

  /**
   * Admits transactions a member site already verified and forwarded (this
   * site leads): the stateless checks and the signatures again, dedupe,
   * then the pending pool. Signatures are checked here too because nothing
   * after this does (execution trusts the log, and every site co-signs the
   * block): a member that forwarded an envelope whose signatures do not
   * verify — buggy or hostile — would otherwise put a transaction its
   * signers never signed into every site's chain. Answers how many joined
   * the pool and, for each one refused here (by this site's clock, say,
   * where it had passed the forwarder's), its position in `envelopes`, its
   * id (null if it has none), its problem and, for a rate limit, the
   * seconds until a retry can succeed: the forwarding site tells its client. Every envelope is
   * either refused or taken (newly, or pending or committed already).
   */
  async acceptForwarded(envelopes: unknown[]): Promise<ForwardOutcome> {
    this.#assertRunning();
    const storage = this.#storageRefusal();
    if (storage !== undefined) {
      return {
        accepted: 0,
        refused: envelopes.map((e, i) => leaderRefusal(storage, txIdOf(e) ?? null, i)),
      };
    }
    const now = this.#clock();
    const admitted: Admitted[] = [];
    /** Where each of `admitted` is in `envelopes`. */
    const admittedAt: number[] = [];
    const refused: LeaderRefusal[] = [];
    // The window governance set now, as the forwarding site used (not genesis's).
    const policy = await this.#policyNow();
    const admission = { ...this.#policy, expiryWindowMs: policy.expiryWindowMs };
    const stateless = await this.#admitStateless(envelopes, now, admission, true);
    for (let i = 0; i < envelopes.length; i++) {
      try {
        admitted.push(stateless(i));
        admittedAt.push(i);
      } catch (e) {
        if (!(e instanceof LedgerError)) throw e;
        const txId = (e.extra.txId as string | undefined) ?? txIdOf(envelopes[i]) ?? null;
        refused.push(leaderRefusal(e, txId, i));
      }
    }
    // One in a block not yet written may pass here: execution leaves such a repeat out.
    const committed = await this.#committedAmong(admitted.map((a) => a.txId));
    // The admission workers' verdicts (or this thread's, without workers), in parallel.
    const badSignature = await Promise.all(admitted.map(async (a) => {
      if (committed.has(a.txId) || this.#isPending(a.txId)) return undefined;
      try {
        await checkSignatures(a, this.#signatureChecks);
        return undefined;
      } catch (e) {
        return e;
      }
    }));
    let accepted = 0;
    for (let k = 0; k < admitted.length; k++) {
      const a = admitted[k];
      if (committed.has(a.txId) || this.#isPending(a.txId)) continue;
      const bad = badSignature[k];
      if (bad !== undefined) {
        if (!(bad instanceof LedgerError)) throw bad;
        refused.push(leaderRefusal(bad, a.txId, admittedAt[k]));
        continue;
      }
      if (this.#heldCount() >= this.#pendingTxsMax) {
        throw new LedgerError("unavailable", 503, "Site busy", "Leader queue is full", {
          retryAfter: 1,
        });
      }
      // Every admitted transaction of the cluster passes the leader: charged
      // here too, the policy's per-signer limit holds for the cluster, not
      // per site (each site's own count stays an early filter). A forward
      // retried after a lost answer finds its transactions pending above,
      // so none is charged twice.
      try {
        this.#rateLimit(a, policy, now, true);
      } catch (e) {
        if (!(e instanceof LedgerError)) throw e;
        refused.push(leaderRefusal(e, a.txId, admittedAt[k]));
        continue;
      }
      this.#pending.set(a.txId, { admitted: a });
      this.#admittedEnvelopes.set(a.envelope, a);
      accepted++;
    }
    this.#schedule();
    return { accepted, refused };
  }

  /**
   * Tells the clients waiting here for transactions the leader refused
   * (see {@link acceptForwarded}) why, as a refused receipt. `forwarded`
   * holds the batch's transactions with this site's ids, in the order they
   * were forwarded: a refusal names its transaction by position there (the
   * leader may have read no id, or another one), or else by the leader's id.
   * The ids refused.
   */
  #refusedByLeader(
    refused: LeaderRefusal[],
    forwarded: ReadonlyArray<readonly [string, Pending]>,
  ): Set<string> {
    const ids = new Set<string>();
    for (const { txId: theirs, index, problem, retryAfter } of refused) {
      const txId = (index === undefined ? undefined : forwarded[index]?.[0]) ?? theirs;
      if (txId === null) continue;
      ids.add(txId);
      this.#countRefusal(problem.type);
      this.#resolve(txId, {
        txId,
        status: "refused",
        problem,
        ...(retryAfter === undefined ? {} : { retryAfter }),
      });
    }
    return ids;
  }

  /**
   * Keeps the transactions a leader took from a forward sent in `term` until
   * this site applies them (see {@link leaderKnown}). When a leader of a
   * later term is known already (the news came while the forward was on
   * its way), they go back to the pool at once.
   */
  #rememberForwarded(taken: ReadonlyArray<readonly [string, Pending]>, term: number): void {
    for (const [id, p] of taken) {
      // No longer on its way (the batch's settling would say so a moment later).
      this.#inFlight.delete(id);
      if (!this.#isCommittedLocally(id)) this.#forwarded.set(id, { ...p, term });
    }
    const now = this.#sequencer?.consensusStatus();
    if (now?.leader !== undefined && now.term > term) this.leaderKnown(now.term);
  }

  /**
   * Puts transactions back at the front of the pool, ahead of those that
   * arrived since, so that they keep their order (a stream's anchors).
   */
  #returnToPool(entries: Iterable<readonly [string, Pending]>): void {
    const back = new Map(entries);
    for (const [id, p] of this.#pending) back.set(id, p);
    this.#pending.clear();
    for (const [id, p] of back) this.#pending.set(id, p);
  }

  /**
   * The consensus layer learned of a leader of `term` (this site, maybe).
   * What leaders of earlier terms took from this site's forwards and this
   * site has not applied goes back to the front of its pool, to be forwarded
   * to the new leader or proposed here: a leader that died or was deposed
   * before ordering them has lost them, and their clients were told
   * `pending`. One the old leader did order is not applied twice (applying
   * skips an id already in the chain); one committed already is dropped.
   */
  leaderKnown(term: number): void {
    const earlier: Array<[string, Pending]> = [];
    for (const [id, f] of this.#forwarded) {
      if (f.term >= term) continue;
      this.#forwarded.delete(id);
      if (!this.#pending.has(id) && !this.#inFlight.has(id)) {
        earlier.push([id, { admitted: f.admitted }]);
      }
    }
    if (earlier.length === 0) return;
    this.#committedAmong(earlier.map(([id]) => id)).then((committed) => {
      const back = new Map(earlier.filter(([id]) => !committed.has(id) && !this.#isPending(id)));
      if (back.size === 0 || this.#closed) return;
      this.#log.info("transactions a former leader took go to the new one", {
        term,
        txs: back.size,
      });
      this.#returnToPool(back);
      this.#schedule();
    }, (e) => {
      this.#log.warn("cannot look up forwarded transactions; their clients may resubmit", {
        term,
        txs: earlier.length,
        error: String(e),
      });
    });
  }

  /**
   * Re-executes a block fetched from a peer (snapshot catch-up) and checks
   * that it reproduces the same hash. Throws when it does not: with
   * `checkBeforeWriting`, before anything of it is written or signed (what
   * catch-up wants); without, once written (what the replay check wants, to
   * compare the results it wrote with the database's). A block of no
   * transactions (its batch held only ones already committed) is replayed
   * too: it is still a block of the chain.
   */
  async replayBlock(b: ReplayBlock, options: { checkBeforeWriting?: boolean } = {}): Promise<void> {
    if (b.header.height !== this.#head.header.height + 1) {
      throw new Error(
        `Cannot replay block ${b.header.height}: head is ${this.#head.header.height}`,
      );
    }
    await this.applyEntry(b.entryIndex, {
      time: b.header.time,
      proposer: b.header.proposer,
      term: b.header.term,
      txs: b.txs,
    }, { force: true, ...(options.checkBeforeWriting ? { expectHash: b.hash } : {}) });
    if (this.#head.hash !== b.hash) {
      throw new Error(
        `Cannot replay block ${b.header.height}: re-execution gives a different hash`,
      );
    }
  }

  /**
   * Blocks with the envelopes that produced them, for a peer catching up
   * (see {@link blocksWithEnvelopes}).
   */
  replayBlocks(from: number, limit: number, bytesMax = replayBytesMax): Promise<ReplayBlock[]> {
    return blocksWithEnvelopes(this.#rowReads, from, limit, bytesMax);
  }

  /**
   * Applies a committed entry: executes the batch into the next block and
   * writes it, its transactions, log nodes, state, checkpoint signature and
   * the applied entry index in one database transaction. Entries at or below
   * the applied index are ignored (a restart replays nothing twice), unless
   * `force` (a replayed block); with `expectHash`, a block that does not come
   * out with that hash throws before anything of it is written or signed.
   *
   * Durability: a lone site fsyncs each block before telling anyone it
   * committed. In a cluster the Raft log (fsynced before any acknowledgment)
   * is the source of truth, so blocks are written without their own fsync:
   * a crash can lose the newest blocks but never the entries they came
   * from, and they are re-applied from the log on restart.
   */
  async applyEntry(
    entryIndex: number | "next",
    batch: Batch,
    options: { force?: boolean; expectHash?: string } = {},
  ): Promise<void> {
    // Execution is serial: each block builds on the one executed before it.
    // With the storage worker, the next block may execute while this one is
    // being written: the worker answers calls in order, so the next block's
    // reads see this block's writes, and nobody is told "committed" before
    // the write has returned.
    const previous = this.#executing;
    let release!: () => void;
    this.#executing = new Promise<void>((r) => (release = r));
    let written: Promise<void>;
    let out: ReturnType<typeof executeBatch>;
    let text: string;
    let line: string;
    let index: number;
    let started: number;
    try {
      await previous;
      // A site that could not write a block executes nothing on top of it.
      if (this.#fatal !== undefined) throw this.#fatal;
      started = performance.now();
      index = entryIndex === "next" ? this.#appliedIndex + 1 : entryIndex;
      if (index <= this.#appliedIndex && !options.force) {
        release();
        return;
      }
      // An entry without transactions makes no block — unless it replays
      // one: a batch whose transactions were all already committed (a
      // re-proposal) made a block of none, which a peer serves with none.
      if (batch.txs.length === 0 && !options.force) {
        await this.markApplied(index);
        release();
        return;
      }
      const parent = { header: this.#head.header, hash: this.#head.hash };
      const plan = planBatch(batch, this.#registry, (e) => this.#admittedEnvelopes.get(e));
      // Blocks executed but not yet written (the group being written, and
      // those queued behind it; see #queueWrite) may be invisible to these
      // reads: lay them over what the database answers, in block order.
      const unwritten = [...this.#writeGroup, ...this.#writeQueue];
      if (this.#stateCache.size + plan.keys.length > stateCacheKeysMax) this.#stateCache.clear();
      const uncached = plan.keys.filter((k) => !this.#stateCache.has(stateMapKey(k.ns, k.key)));
      const [committed, fetched] = await Promise.all([
        this.#committedAmong(plan.txIds),
        uncached.length === 0
          ? new Map<string, string>()
          : this.#reader?.stateValues(uncached) ?? this.#store.stateValues(uncached),
      ]);
      overlayUnwritten(unwritten, committed, fetched);
      const state = this.#stateAsOfHead(plan.keys, fetched);
      const frontier = cloneFrontier(this.#frontier);
      out = executeBatch(
        parent,
        batch,
        plan,
        { committed, state, rules: this.#rules },
        this.#registry,
        frontier,
      );
      assert(out.header.prev === parent.hash, "a new block links to its parent");
      assert(out.header.height === parent.header.height + 1, "heights increase by one");
      assert(out.header.time >= parent.header.time, "block time never decreases");
      // A replayed block that does not come out as served is neither written nor signed.
      if (options.expectHash !== undefined && out.hash !== options.expectHash) {
        throw new Error(
          `Cannot replay block ${out.header.height}: re-execution gives a different hash`,
        );
      }
      text = this.#checkpointText(out.header, out.hash);
      line = await this.#siteKey.noteLine(text, this.name);
      const write: BlockWrite = {
        block: rowOf(out.header, out.hash, index),
        txs: out.txRows,
        nodes: out.nodes,
        stateWrites: out.stateWrites,
        checkpointLine: { site: this.name, line },
        meta: { applied_entry: String(Math.max(index, this.#appliedIndex)) },
      };
      const sync = this.#sequencer === undefined ? "full" : "normal";
      if (this.#workerStores === undefined) {
        const writeStarted = performance.now();
        written = this.#store.writeBlock(write, sync);
        await written;
        this.#slowBlockWrites.observe(performance.now() - writeStarted);
      } else {
        written = this.#queueWrite(write, sync);
      }
      // Into the filter before the write: the next block may execute before
      // this one's write returns (a false "maybe" only costs a read).
      for (const row of out.txRows) this.#committedFilter.add(row.id);
      this.#forgetStandings(out.stateWrites);
      for (const w of out.stateWrites) {
        this.#stateCache.set(stateMapKey(w.ns, w.key), w.value);
        if (w.ns === POLICY_NS && w.key === POLICY_KEY) {
          this.#consortiumPolicy = this.#policyFrom(w.value);
        }
        if (w.ns === RULES_NS && w.key === RULES_KEY) this.#setRules(w.value, true);
      }
      this.#frontier = frontier;
      this.#head = { header: out.header, hash: out.hash };
      this.#appliedIndex = Math.max(index, this.#appliedIndex);
    } catch (e) {
      // The ledger moved on to rules this software lacks: nothing of the
      // block was executed, and no later block can be. Stop until upgraded.
      if (e instanceof UnsupportedRulesError) {
        this.halt(e, "its software does not support the ledger's rules");
      }
      release();
      throw e;
    }
    if (this.#stateChecks.due(out.header.height)) {
      // The check's view must hold exactly this block: the next block waits
      // for this one's write (a failed write is handled below).
      if (await written.then(() => true, () => false)) this.#stateChecks.start(out.header.height);
    }
    release();
    try {
      await written;
      if (out.header.height > this.#written.header.height) {
        this.#written = { header: out.header, hash: out.hash, appliedIndex: index };
        this.#heightWaiters.reached(out.header.height);
      }
      this.#applySeconds.observe((performance.now() - started) / 1000);
      // Standings read while the block waited to be written may predate it.
      this.#forgetStandings(out.stateWrites);
    } catch (e) {
      // The head moved on in memory; the database did not. Nothing can
      // continue safely on this site: stop it and say so.
      this.halt(e, `cannot write block ${out.header.height}`);
      throw e;
    }
    if (this.#sequencer === undefined) {
      this.#note = assembleNote(text, [line]);
      this.#quorumHeight = out.header.height;
    } else {
      // The peer senders hold it for their next Raft message (see PeerSender.sendLines).
      this.#sequencer.broadcastCosign([{ height: out.header.height, line, hash: out.hash }]);
      this.#refreshQuorum(
        out.header.height,
        this.#rememberCheckpoint(out.header.height, text, out.hash, line),
      );
    }
    for (const row of out.txRows) this.#recentlyCommitted.add(row.id);
    if (this.#forwarded.size > 0) { for (const row of out.txRows) this.#forwarded.delete(row.id); }
    if (this.#recentlyCommitted.size > 100_000) this.#recentlyCommitted.clear();
    this.counters.blocks++;
    this.#watchBlockTime(out.header);
    // Per block: comparisons only; the activation is looked up when one may be at this block.
    const rules = this.#rules;
    const h = out.header.height;
    if (rules !== undefined && h > 0 && (rules.scheduled?.height === h || rules.height === h)) {
      const activation = activationAt(rules, h);
      if (activation.height === h) {
        this.#log.info("rules version activated", { version: activation.version, height: h });
      }
    }

    const event: BlockEvent = {
      height: out.header.height,
      hash: out.hash,
      header: out.header,
      txs: [],
    };
    // Events and receipts carry each result as stored (canonical), as a
    // resumed stream, a repeated submission and a read of the transaction
    // read it back, so every path answers the same bytes (the live result's
    // keys are in the order the contract made them). Parsed once, and only
    // when someone listens or waits on the transaction.
    const listened = this.#listeners.size > 0;
    for (const [k, row] of out.txRows.entries()) {
      const waited = this.#waiters.has(row.id);
      const stored = listened || waited ? JSON.parse(row.result) as TxResult : undefined;
      if (row.status === "applied") this.counters.txsCommitted++;
      else this.counters.txsRejected++;
      const envelope = this.#inFlight.get(row.id)?.admitted.envelope;
      event.txs.push({
        txId: row.id,
        kind: row.kind,
        signers: envelope?.signers ?? (JSON.parse(row.envelope) as Envelope).signers,
        logIndex: row.logIndex,
        result: stored ?? out.results[k] as TxResult,
      });
      if (waited) this.#resolve(row.id, receiptOf(row, stored));
    }
    if (out.duplicates.length > 0) {
      const existing = await this.#committedReceipts(out.duplicates);
      for (const [id, r] of existing) this.#resolve(id, r);
    }
    for (const l of [...this.#listeners]) l(event);
    if (this.#earlyCosigns.size > 0) {
      await this.#drainEarlyCosigns(out.header.height);
    }
  }

  /**
   * State values as of the newest executed block (written or not), by
   * {@link stateMapKey}; `null` is an absent key. Blocks executed on this
   * site are the only writers of state, and each lays its writes here as it
   * executes, so a key read once is not read from the database again while
   * it stays (device standings and the policy are read by nearly every
   * transaction). Cleared whole when it grows past its bound.
   */
  readonly #stateCache = new Map<string, string | null>();

  /**
   * The values of `keys` for execution: cached ones from the cache, the
   * others from `fetched` (the database's answer for every key the cache
   * lacked, with unwritten blocks laid over it), which then join the cache.
   */
  #stateAsOfHead(
    keys: ReadonlyArray<{ ns: string; key: string }>,
    fetched: ReadonlyMap<string, string>,
  ): Map<string, string> {
    const state = new Map<string, string>();
    for (const k of keys) {
      const mapKey = stateMapKey(k.ns, k.key);
      let value = this.#stateCache.get(mapKey);
      if (value === undefined) {
        value = fetched.get(mapKey) ?? null;
        this.#stateCache.set(mapKey, value);
      }
      if (value !== null) state.set(mapKey, value);
    }
    return state;
  }

  /**
   * Which of `ids` are committed in the database: only ids the Bloom filter
   * may hold are looked up, on the main-thread reader when there is one.
   */
  async #committedAmong(ids: readonly string[]): Promise<Set<string>> {
    const maybe = ids.filter((id) => this.#committedFilter.mightContain(id));
    if (maybe.length === 0) return new Set();
    return this.#reader?.committedIds(maybe) ?? await this.#store.committedIds(maybe);
  }

  /** Blocks executed and waiting for the write in flight to finish (group commit). */
  readonly #writeQueue: QueuedWrite[] = [];
  /** The blocks being written now. */
  #writeGroup: QueuedWrite[] = [];
  /** Settles when the newest queued block is written. */
  #lastWrite: Promise<void> = Promise.resolve();

  /**
   * Writes a block through the storage worker. While one write is in flight
   * (its fsync, mostly), the blocks executed meanwhile queue and then go
   * together as one database transaction: one fsync for all of them. Each
   * block stays atomic, and the order of blocks is kept.
   */
  #queueWrite(write: BlockWrite, sync: "full" | "normal"): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      // After a failed write every later block builds on one that is not
      // in the database: none of them may be written.
      if (this.#fatal !== undefined) return reject(this.#fatal);
      this.#writeQueue.push({ write, sync, resolve, reject });
      if (this.#writeGroup.length === 0) this.#sendWrites();
    });
    this.#lastWrite = done;
    return done;
  }

  #sendWrites(): void {
    if (this.#writeQueue.length === 0) return;
    const group = this.#writeQueue.splice(0, this.#writeQueue.length);
    this.#writeGroup = group;
    const sync = group.some((g) => g.sync === "full") ? "full" : "normal";
    this.counters.blockWrites++;
    const started = performance.now();
    this.#store.writeBlocks(group.map((g) => g.write), sync).then(
      () => {
        this.#slowBlockWrites.observe(performance.now() - started);
        this.#writeGroup = [];
        for (const g of group) g.resolve();
        this.#sendWrites();
      },
      (e) => {
        // The blocks queued behind the group were executed on top of it:
        // writing them would leave a gap in the chain under blocks already
        // reported committed. Refuse them all; the site stops (see applyEntry).
        this.halt(e, `cannot write block ${group[0].write.block.height}`);
        this.#writeGroup = [];
        const queued = this.#writeQueue.splice(0, this.#writeQueue.length);
        for (const g of [...group, ...queued]) g.reject(e);
      },
    );
  }

  // ---- checkpoint co-signing -------------------------------------------

  /** Checkpoint texts and lines of the newest applied blocks, by height. */
  readonly #recentCheckpoints = new Map<number, RecentCheckpoint>();

  /** Lines received for blocks this site has not applied yet, by height. */
  readonly #earlyCosigns = new Map<
    number,
    Array<{ site: string; line: string; keysAt: (height: number) => string[]; hash?: string }>
  >();

  /**
   * Stores checkpoint signature lines a member site sent for blocks it
   * applied. Each is verified against that site's key over this site's own
   * checkpoint text for the height, so a line for a different (forked) block
   * never counts. Lines for heights not applied yet wait (bounded), and are
   * checked once applied against the keys `keysOfSite` gives then: a
   * rotation applied in between retires the key they were signed with.
   * `keysOfSite` is that site's verifier key, or its keys that may sign a
   * given height (one that rotated its key signed earlier blocks with the
   * key it retired).
   */
  async addCosignLines(
    site: string,
    keysOfSite: string | ((height: number) => string[]),
    lines: CosignLine[],
  ): Promise<void> {
    if (this.#closed) return;
    const keysAt = typeof keysOfSite === "string" ? () => [keysOfSite] : keysOfSite;
    for (const { height, line, hash: h, again } of lines.slice(0, cosignLinesPerRequestMax)) {
      if (!Number.isSafeInteger(height) || height < 0 || typeof line !== "string") continue;
      if (line.length > cosignLineCharsMax) continue;
      const hash = typeof h === "string" && BLOCK_HASH.test(h) ? h : undefined;
      if (height > this.#head.header.height) {
        // Held until applied: one line per site per height, a bounded window ahead.
        if (height > this.#head.header.height + earlyCosignHeightsMax) continue;
        const l = (this.#earlyCosigns.get(height) ?? []).filter((x) => x.site !== site);
        l.push({ site, line, keysAt, hash });
        this.#earlyCosigns.set(height, l);
        continue;
      }
      await this.#storeCosign(height, site, keysAt(height), line, hash, again === true);
    }
  }

  /**
   * Answers a peer's line sent `again` (its site serves no quorum-signed
   * checkpoint: see attachSequencer) with this site's own line for that
   * block, sent without `again`, so an answer is never answered.
   */
  #answerAgain(height: number, cp: RecentCheckpoint): void {
    const ours = cp.lines.get(this.name);
    if (ours !== undefined) {
      this.#sequencer?.broadcastCosign([{ height, line: ours, hash: cp.hash }]);
    }
  }

  async #storeCosign(
    height: number,
    site: string,
    keys: string[],
    line: string,
    hash?: string,
    again = false,
  ): Promise<void> {
    const cp = await this.#checkpointAt(height);
    if (cp === undefined) return;
    if (cp.lines.get(site) === line) {
      if (again) this.#answerAgain(height, cp);
      return;
    }
    let ok: string[] = [];
    try {
      ok = verifyNoteWith(assembleNote(cp.text, [line]), keys, verifyEd25519Native);
    } catch { /* malformed line */ }
    if (ok.length !== 1) {
      if (hash !== undefined && hash !== cp.hash) this.#noteDivergence(site, height, cp.hash, hash);
      return;
    }
    // A member that signed our block at or above the height it diverged at
    // is on our chain again (blocks chain by hash, so a diverged replica's
    // later blocks never match): it was replaced, as the README says to do.
    // Its old divergence must neither stay in status nor count towards a
    // majority against this site.
    const d = this.#divergences.get(site);
    if (d !== undefined && d.height <= height) this.#divergences.delete(site);
    cp.lines.set(site, line);
    this.#refreshQuorum(height, cp);
    if (again) this.#answerAgain(height, cp);
    this.#linesToStore.push({ height, site, line });
    if (this.#linesToStore.length >= linesToStoreMax) await this.#storeLines();
    else this.#linesTimer ??= setTimeout(() => void this.#storeLines(), cosignStoreDelayMs);
  }

  /**
   * Signs the head's checkpoint again, with the key the site holds now: run
   * once it rotated its key, so that a quiet cluster's newest checkpoint
   * (signed with the retired key, and served until the next block) carries
   * a line verifiers that followed the rotation know. The line replaces
   * this site's in the served note and goes to the peers, which take it
   * once they applied the rotation (a member's current key may sign any
   * height). The stored line stays the one the block was written with.
   */
  async signHeadAgain(): Promise<void> {
    if (this.#closed || this.#sequencer === undefined) return;
    const { header, hash } = this.#written;
    const cp = await this.#checkpointAt(header.height);
    if (cp === undefined || cp.hash !== hash) return;
    const line = await this.#siteKey.noteLine(cp.text, this.name);
    if (cp.lines.get(this.name) === line) return;
    cp.lines.set(this.name, line);
    this.#refreshQuorum(header.height, cp);
    this.#sequencer.broadcastCosign([{ height: header.height, line, hash }]);
  }

  /** Peers' verified checkpoint lines not yet in the database (served from memory meanwhile). */
  #linesToStore: Array<{ height: number; site: string; line: string }> = [];
  #linesTimer: ReturnType<typeof setTimeout> | undefined;

  /** Writes the peers' lines received since the last write, in one transaction. */
  async #storeLines(): Promise<void> {
    if (this.#linesTimer !== undefined) clearTimeout(this.#linesTimer);
    this.#linesTimer = undefined;
    const lines = this.#linesToStore;
    this.#linesToStore = [];
    if (lines.length === 0) return;
    try {
      await this.#store.addCheckpointLines(lines);
    } catch (e) {
      this.#log.error("cannot store peers' checkpoint lines", { lines: lines.length, error: e });
    }
  }

  /**
   * The checkpoint text and the signature lines held for a block: from
   * memory for recently applied blocks, else from the database.
   */
  async #checkpointAt(height: number): Promise<RecentCheckpoint | undefined> {
    const recent = this.#recentCheckpoints.get(height);
    if (recent !== undefined) return recent;
    const row = await this.#store.blockByHeight(height);
    if (!row) return undefined;
    const lines = await this.#store.checkpointLines(height);
    return {
      text: this.#checkpointText(headerOf(row), row.hash),
      hash: row.hash,
      lines: new Map(lines.map((l) => [l.site, l.line])),
    };
  }

  /** Remembers an applied block's checkpoint text and this site's line (bounded, oldest out). */
  #rememberCheckpoint(height: number, text: string, hash: string, line: string): RecentCheckpoint {
    const cp = { text, hash, lines: new Map([[this.name, line]]) };
    this.#recentCheckpoints.set(height, cp);
    if (this.#recentCheckpoints.size > recentCheckpointsMax) {
      const oldest = this.#recentCheckpoints.keys().next().value!;
      this.#recentCheckpoints.delete(oldest);
    }
    return cp;
  }

  /**
   * Peers' early lines for heights up to `height`, once applied, verified
   * against the keys their sender may sign that height with now (a site
   * added after genesis included; a key retired since the line came, not).
   */
  async #drainEarlyCosigns(height: number): Promise<void> {
    for (const h of [...this.#earlyCosigns.keys()]) {
      if (h > height) continue;
      const lines = this.#earlyCosigns.get(h)!;
      this.#earlyCosigns.delete(h);
      for (const l of lines) await this.#storeCosign(h, l.site, l.keysAt(h), l.line, l.hash);
    }
  }

  /**
   * The first divergence seen from each member, by site (see
   * {@link Divergence}), until the member signs this site's block at or above
   * that height (see #storeCosign).
   */
  readonly #divergences = new Map<string, Divergence>();

  /**
   * Records that `site` signed a different block at `height`, says so once
   * per member, and halts this site (fail-stop, as a replica whose state
   * machine diverged must not go on executing or serving; etcd raises its
   * CORRUPT alarm for the same finding) once the voters not known to have
   * diverged from it, itself included, are no longer a strict majority.
   * With three voters, one diverged: the other two go on (they are the
   * majority), the diverged one halts. With the voters split evenly (one
   * against one, two against two) every site halts: none can tell which
   * chain is right, and no checkpoint could reach a quorum of signatures
   * anyway, so taking writes would only hand out receipts no client can
   * ever verify.
   */
  #noteDivergence(site: string, height: number, ours: string, theirs: string): void {
    this.counters.divergentLines++;
    // Records of sites no longer members neither count nor may fill the bound.
    const conf = this.#sequencer?.consensusStatus().confState;
    if (conf !== undefined) {
      for (const s of this.#divergences.keys()) {
        if (!conf.voters.includes(s) && !conf.learners.includes(s)) this.#divergences.delete(s);
      }
    }
    if (this.#divergences.has(site) || this.#divergences.size >= divergencesMax) return;
    this.#divergences.set(site, { site, height, ours, theirs });
    this.#log.error("checkpoint divergence: a member signed another block at this height", {
      peer: site,
      height,
      theirs,
      ours,
    });
    const voters = this.#voters();
    const against = voters.filter((v) => v !== this.name && this.#divergences.has(v)).length;
    if (voters.length - against <= voters.length / 2) {
      this.halt(
        new Error(
          `Cannot go on: ${against} of ${voters.length} voters signed other blocks than this ` +
            `site's (first at height ${height}); this replica diverged from the cluster`,
        ),
        "the replicas diverged",
      );
    }
  }

  /** The voters whose signatures count towards a checkpoint quorum. */
  #voters(): string[] {
    return this.#sequencer?.consensusStatus().confState.voters ?? [this.name];
  }

  /**
   * Serves `height`'s checkpoint once a quorum of voters signed it (and it
   * is the newest such), with every voter's line held for it: a line that
   * comes after the quorum is added to the served note (DESIGN §2: one line
   * per site that applied the block), so a quiet cluster's checkpoint
   * carries all its voters' signatures.
   */
  #refreshQuorum(height: number, cp: RecentCheckpoint): void {
    if (this.#quorumFound && height < this.#quorumHeight) return;
    const lines = this.#quorumLines(cp.lines);
    if (lines !== undefined) {
      this.#quorumHeight = height;
      this.#quorumFound = true;
      this.#note = assembleNote(cp.text, lines);
    }
  }

  /**
   * The voters' lines among `lines` (site, line), in site order, when they
   * are a quorum of the voters; undefined when they are not.
   */
  #quorumLines(lines: Iterable<[string, string]>): string[] | undefined {
    const voters = this.#voters();
    const ours = [...lines].filter(([site]) => voters.includes(site))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, line]) => line);
    return ours.length >= Math.floor(voters.length / 2) + 1 ? ours : undefined;
  }

  #resolve(txId: string, receipt: Receipt): void {
    const list = this.#waiters.get(txId);
    if (!list) return;
    this.#waiters.delete(txId);
    for (const w of list) w(receipt);
  }

  // ---- reads -----------------------------------------------------------

  async getTx(txId: string, c: Consistency) {
    await this.#readBarrier(c);
    const row = await this.#rowReads.txById(txId);
    if (row === undefined) {
      const p = this.#pending.get(txId) ?? this.#inFlight.get(txId) ?? this.#forwarded.get(txId);
      if (p === undefined) return null;
      return {
        tx: p.admitted.envelope as unknown as Record<string, unknown>,
        receipt: { txId, status: "pending" as const },
      };
    }
    return { tx: JSON.parse(row.envelope) as Record<string, unknown>, receipt: receiptOf(row) };
  }

  async proof(
    txId: string,
    treeSize: number | undefined,
    c: Consistency,
  ): Promise<ProofView | null> {
    await this.#readBarrier(c);
    const row = await this.#rowReads.txById(txId);
    if (row === undefined) return null;
    // DESIGN §6: the default is the latest co-signed checkpoint's size, so
    // the proof verifies against what `GET /v1/checkpoint` serves.
    const checkpointSize = parseCheckpoint(parseNote(this.#note).text).size;
    const size = treeSize ?? checkpointSize;
    if (treeSize === undefined && row.logIndex >= checkpointSize) {
      throw new LedgerError(
        "invalid_range",
        422,
        "Not in a checkpoint yet",
        `Transaction ${txId} (log index ${row.logIndex}) is not yet in the latest co-signed checkpoint (tree size ${checkpointSize}); ask again shortly, or pass treeSize (at most ${this.#written.header.logSize})`,
      );
    }
    // Against the written log: the Merkle nodes of blocks still on their way are not readable yet.
    const written = this.#written.header.logSize;
    if (!Number.isSafeInteger(size) || size <= row.logIndex || size > written) {
      throw new LedgerError(
        "invalid_range",
        422,
        "Invalid tree size",
        `Cannot prove log index ${row.logIndex} in a tree of size ${size}: need ${row.logIndex} < treeSize <= ${written}`,
      );
    }
    const nodes = await this.#rowReads.nodes(nodesForInclusion(row.logIndex, size));
    const proof = inclusionProofAt(row.logIndex, size, nodeGetter(nodes));
    return {
      logIndex: row.logIndex,
      treeSize: size,
      leaf: base64urlEncode(leafData(row.envelope, row.result)),
      proof: proof.map(hexEncode),
    };
  }

  async blockByHeight(height: number, c: Consistency): Promise<BlockView | null> {
    await this.#readBarrier(c);
    const row = await this.#rowReads.blockByHeight(height);
    return row ? (await this.#views([row]))[0] : null;
  }

  async blockByHash(hash: string, c: Consistency): Promise<BlockView | null> {
    await this.#readBarrier(c);
    const row = await this.#rowReads.blockByHash(hash);
    return row ? (await this.#views([row]))[0] : null;
  }

  async blocks(from: number, limit: number, c: Consistency): Promise<BlockView[]> {
    await this.#readBarrier(c);
    return await this.#views(await this.#rowReads.blockRange(from, limit));
  }

  async checkpoint(c: Consistency): Promise<string> {
    await this.#readBarrier(c);
    return this.#note;
  }

  async consistency(from: number, to: number, c: Consistency): Promise<string[]> {
    await this.#readBarrier(c);
    const size = this.#written.header.logSize;
    if (
      !(Number.isSafeInteger(from) && Number.isSafeInteger(to) && 0 < from && from <= to &&
        to <= size)
    ) {
      throw new LedgerError(
        "invalid_range",
        422,
        "Invalid range",
        `Cannot prove consistency from ${from} to ${to}: need 0 < from <= to <= ${size}`,
      );
    }
    const nodes = await this.#rowReads.nodes(nodesForConsistency(from, to));
    return consistencyProofAt(from, to, nodeGetter(nodes)).map(hexEncode);
  }

  status(): Promise<StatusView> {
    // What reads see: the written head (with a storage worker, blocks on
    // their way to disk are not counted yet).
    const h = this.#written;
    const c = this.#sequencer?.consensusStatus();
    const role = c === undefined ? "leader" : c.role === "preCandidate" ? "candidate" : c.role;
    const peersCatchingUp = new Set(this.#sequencer?.peersCatchingUp?.() ?? []);
    const peers = c?.progress === undefined ? undefined : Object.fromEntries(
      Object.entries(c.progress).map(([name, p]) => [
        name,
        {
          match: p.match,
          next: p.next,
          state: p.state,
          active: p.recentActive,
          lag: Math.max(0, c.commitIndex - p.match),
          ...(peersCatchingUp.has(name) ? { catchingUp: true } : {}),
        },
      ]),
    );
    const catchingUp = this.#sequencer?.catchingUp?.();
    const leaderlessMs = this.#sequencer?.leaderlessMs?.();
    const unreachable = this.#sequencer?.leaderUnreachable?.();
    const lowSites = this.storageLowSites();
    const stateDivergence = this.#stateChecks.divergent();
    return Promise.resolve({
      ledger: this.#genesis.ledger,
      origin: this.#genesis.origin,
      site: this.name,
      role: role as StatusView["role"],
      term: c?.term ?? h.header.term,
      leader: c === undefined ? this.name : (c.leader ?? null),
      commitIndex: c?.commitIndex ?? h.appliedIndex,
      appliedIndex: h.appliedIndex,
      height: h.header.height,
      logSize: h.header.logSize,
      head: h.hash,
      checkpointHeight: this.#quorumHeight,
      pendingTxs: this.#pending.size + this.#inFlight.size,
      version: this.#version,
      healthy: this.#fatal === undefined,
      ...(this.#sequencer?.removal !== undefined ? { removed: true } : {}),
      ...(this.#disk !== undefined ? { storage: this.#disk.state } : {}),
      ...(lowSites.length > 0
        ? {
          storageLow: lowSites.map(({ site, freeBytes, freeBytesMin }) => ({
            site,
            freeBytes,
            freeBytesMin,
          })),
        }
        : {}),
      rules: this.#rulesView(h.header.height),
      ...(this.#divergences.size > 0 ? { divergence: [...this.#divergences.values()] } : {}),
      ...(stateDivergence.length > 0 ? { stateDivergence } : {}),
      ...(c ? { voters: c.confState.voters, learners: c.confState.learners } : {}),
      ...(peers ? { peers } : {}),
      ...(catchingUp !== undefined ? { catchingUp } : {}),
      ...(leaderlessMs !== undefined ? { leaderlessMs: Math.round(leaderlessMs) } : {}),
      ...(unreachable !== undefined ? { leaderUnreachableMs: Math.round(unreachable.ms) } : {}),
    });
  }

  /**
   * Waits until a read at `consistency` may be served from this replica:
   * `stale` at once; `leader` only on a site whose Raft role is leader
   * (otherwise a `not_leader` problem naming the leader's URL), with no
   * quorum round, so a deposed leader that has not yet heard of the new
   * term answers from its old state (test/linearizability_cluster_test.ts
   * shows it after a SIGSTOP); `linearizable` after a ReadIndex round.
   */
  async #readBarrier(consistency: Consistency): Promise<void> {
    if (consistency === "stale" || this.#sequencer === undefined) return;
    // A site whose consensus stopped holds a frozen state: it cannot say it is current.
    if (this.#fatal !== undefined) this.#assertRunning();
    this.#assertMember();
    const c = this.#sequencer.consensusStatus();
    if (consistency === "leader") {
      if (c.role === "leader") return;
      throw new LedgerError(
        "not_leader",
        503,
        "Not the leader",
        `Site ${this.name} is not the leader`,
        {
          leader: c.leader ?? null,
          leaderUrl: this.#sequencer.leaderUrl() ?? null,
          retryAfter: 1,
        },
      );
    }
    try {
      await this.#sequencer.readBarrier();
    } catch (e) {
      throw new LedgerError("unavailable", 503, "No quorum", (e as Error).message, {
        retryAfter: 1,
      });
    }
  }

  awaitHeight(height: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.#heightWaiters.wait(height, timeoutMs, signal);
  }

  /**
   * The sites of the ledger: the genesis sites for a lone site; in a
   * cluster the current members, voters then learners (added sites
   * included, removed ones not), each with its checkpoint verifier key.
   */
  sites(): Promise<SiteView[]> {
    if (this.#sequencer === undefined) {
      return Promise.resolve(this.#genesis.sites.map((s) => ({
        name: s.name,
        url: s.url,
        verifierKey: verifierKey(s.name, base64urlDecode(s.publicKey)),
      })));
    }
    const { voters, learners } = this.#sequencer.consensusStatus().confState;
    const byName = new Map(this.#sequencer.members().map((m) => [m.name, m]));
    return Promise.resolve(
      [...voters, ...learners].flatMap((name) => {
        const m = byName.get(name);
        return m === undefined
          ? []
          : [{ name, url: m.url, verifierKey: verifierKey(name, m.publicKey) }];
      }),
    );
  }

  /**
   * A member's keys (see {@link sites}: a removed site is none): the key it
   * signs with now, the rotations that led to it, and its retired keys with
   * the last height each signed.
   */
  siteKeys(name: string): Promise<SiteKeysView | undefined> {
    const vk = (k: Uint8Array) => verifierKey(name, k);
    if (this.#sequencer === undefined) {
      const s = this.#genesis.sites.find((x) => x.name === name);
      return Promise.resolve(
        s === undefined
          ? undefined
          : { name, verifierKey: vk(base64urlDecode(s.publicKey)), rotations: [], retired: [] },
      );
    }
    const { voters, learners } = this.#sequencer.consensusStatus().confState;
    const m = this.#sequencer.members().find((x) => x.name === name);
    if (m === undefined || !(voters.includes(name) || learners.includes(name))) {
      return Promise.resolve(undefined);
    }
    return Promise.resolve({
      name,
      verifierKey: vk(m.publicKey),
      rotations: [...(m.rotations ?? [])],
      retired: (m.retired ?? []).map((r) => ({
        verifierKey: vk(r.publicKey),
        untilHeight: r.untilHeight,
        ...(r.signed ?? {}),
      })),
    });
  }

  /**
   * Re-verifies the whole chain. One check runs at a time, and callers that
   * ask while it runs share its report: the route is public and the check
   * reads every block, so requests never multiply it.
   */
  async integrity(): Promise<IntegrityReport> {
    this.#integrityRun ??= checkIntegrity(this.#store, this.#genesis).finally(() => {
      this.#integrityRun = undefined;
    });
    return await this.#integrityRun;
  }

  #integrityRun: Promise<IntegrityReport> | undefined;

  async stateGet(ns: string, key: string, c: Consistency): Promise<unknown | undefined> {
    await this.#readBarrier(c);
    const values = await this.#store.stateValues([{ ns, key }]);
    const v = values.get(`${ns}\u0000${key}`);
    return v === undefined ? undefined : JSON.parse(v);
  }

  async stateRange(
    ns: string,
    prefix: string,
    options: { limit: number; after?: string },
    c: Consistency,
  ): Promise<Array<{ key: string; value: unknown }>> {
    await this.#readBarrier(c);
    const limit = Math.max(1, Math.min(1000, Math.trunc(options.limit)));
    const rows = await this.#store.stateRange(ns, prefix, limit, options.after);
    return rows.map((r) => ({ key: r.key, value: JSON.parse(r.value) }));
  }

  subscribe(
    afterHeight: number,
    onBlock: (event: BlockEvent) => void | Promise<void>,
    onEnd: (reason: string) => void,
    options: { bufferBlocksMax?: number } = {},
  ): () => void {
    const bufferBlocksMax = options.bufferBlocksMax ?? 256;
    let closed = false;
    let cursor = afterHeight;
    let pumping = false;
    const buffer: BlockEvent[] = [];
    const end = (reason: string) => {
      if (closed) return;
      closed = true;
      this.#listeners.delete(listener);
      this.#subscriptionEnds.delete(end);
      onEnd(reason);
    };
    this.#subscriptionEnds.add(end);
    const pump = async () => {
      if (pumping) return;
      pumping = true;
      try {
        while (!closed) {
          if (buffer.length > 0 && buffer[0].height <= cursor) {
            buffer.shift();
            continue;
          }
          if (buffer.length > 0 && buffer[0].height === cursor + 1) {
            const ev = buffer.shift()!;
            await onBlock(ev);
            cursor = ev.height;
            continue;
          }
          const head = this.#head.header.height;
          if (cursor >= head) break;
          const upTo = buffer.length > 0 ? buffer[0].height - 1 : head;
          const events = await this.#eventsFromStore(cursor + 1, Math.min(100, upTo - cursor));
          if (events.length === 0) break;
          for (const ev of events) {
            if (closed) break;
            await onBlock(ev);
            cursor = ev.height;
          }
        }
      } catch (e) {
        this.#log.error("event subscription failed", { error: e });
        end("error");
      } finally {
        pumping = false;
      }
      if (!closed && buffer.length > 0 && buffer[0].height <= cursor + 1) void pump();
    };
    const listener = (ev: BlockEvent) => {
      if (closed) return;
      buffer.push(ev);
      if (buffer.length > bufferBlocksMax) end("slow_consumer");
      else void pump();
    };
    this.#listeners.add(listener);
    void pump();
    return () => {
      closed = true;
      this.#listeners.delete(listener);
      this.#subscriptionEnds.delete(end);
    };
  }

  /** Prometheus gauges and counters of this site. */
  metrics(): string {
    const h = this.#head.header;
    const lines = [
      "# HELP edgeledger_height Height of the newest block this site applied.",
      "# TYPE edgeledger_height gauge",
      `edgeledger_height ${h.height}`,
      "# HELP edgeledger_log_size Transactions in the Merkle log as of the newest applied block.",
      "# TYPE edgeledger_log_size gauge",
      `edgeledger_log_size ${h.logSize}`,
      "# HELP edgeledger_txid_filter_filled Whether the filter of committed transaction ids holds them all (1) or is still being filled after a start (0: admission asks the database for every id).",
      "# TYPE edgeledger_txid_filter_filled gauge",
      `edgeledger_txid_filter_filled ${this.#committedFilter.loaded ? 1 : 0}`,
      "# HELP edgeledger_txid_filter_ids Transaction ids in the committed-id filter.",
      "# TYPE edgeledger_txid_filter_ids gauge",
      `edgeledger_txid_filter_ids ${this.#committedFilter.count}`,
      "# HELP edgeledger_txid_filter_bytes Memory the committed-id filter holds.",
      "# TYPE edgeledger_txid_filter_bytes gauge",
      `edgeledger_txid_filter_bytes ${this.#committedFilter.bytes}`,
      "# HELP edgeledger_txid_filter_false_positive_ratio Estimated share of new transaction ids the filter cannot rule out, each costing a database read (1 while it is being filled).",
      "# TYPE edgeledger_txid_filter_false_positive_ratio gauge",
      `edgeledger_txid_filter_false_positive_ratio ${
        this.#committedFilter.falsePositiveRate().toPrecision(3)
      }`,
      "# HELP edgeledger_pending_txs Admitted transactions not yet in a block (waiting or on their way to the leader).",
      "# TYPE edgeledger_pending_txs gauge",
      `edgeledger_pending_txs ${this.#pending.size + this.#inFlight.size}`,
      "# HELP edgeledger_txs_applied_total Transactions this site wrote into blocks as applied.",
      "# TYPE edgeledger_txs_applied_total counter",
      `edgeledger_txs_applied_total ${this.counters.txsCommitted}`,
      "# HELP edgeledger_txs_rejected_total Transactions this site wrote into blocks as rejected (by a rule that depends on order).",
      "# TYPE edgeledger_txs_rejected_total counter",
      `edgeledger_txs_rejected_total ${this.counters.txsRejected}`,
      "# HELP edgeledger_blocks_total Blocks this site applied since it started.",
      "# TYPE edgeledger_blocks_total counter",
      `edgeledger_blocks_total ${this.counters.blocks}`,
      "# HELP edgeledger_block_writes_total Durable writes of blocks to the database (one write may carry several blocks).",
      "# TYPE edgeledger_block_writes_total counter",
      `edgeledger_block_writes_total ${this.counters.blockWrites}`,
      "# HELP edgeledger_checkpoint_divergent_lines_total Members' checkpoint lines for another block than this site's at the same height.",
      "# TYPE edgeledger_checkpoint_divergent_lines_total counter",
      `edgeledger_checkpoint_divergent_lines_total ${this.counters.divergentLines}`,
      "# HELP edgeledger_slow_block_writes_total Block writes that took longer than a second.",
      "# TYPE edgeledger_slow_block_writes_total counter",
      `edgeledger_slow_block_writes_total ${this.#slowBlockWrites.count}`,
      "# HELP edgeledger_head_block_time_ahead_seconds How far the newest block's time is ahead of this site's clock (0 when it is not): block time never decreases, so a transaction expiring before it is rejected as expired.",
      "# TYPE edgeledger_head_block_time_ahead_seconds gauge",
      `edgeledger_head_block_time_ahead_seconds ${
        Math.max(0, this.#head.header.time - this.#clock()) / 1000
      }`,
      "# HELP edgeledger_rate_limit_signers Signers whose admissions the policy's per-signer rate limit counts this minute.",
      "# TYPE edgeledger_rate_limit_signers gauge",
      `edgeledger_rate_limit_signers ${this.#signerWindows.size}`,
      "# HELP edgeledger_admission_refused_total Submissions refused at admission, by problem type.",
      "# TYPE edgeledger_admission_refused_total counter",
      ...[...this.counters.refused].map(([t, n]) =>
        `edgeledger_admission_refused_total{type="${t}"} ${n}`
      ),
      ...this.#healthMetrics(),
    ];
    return lines.join("\n") + "\n" + this.#applySeconds.render();
  }

  /**
   * What an operator alerts on, as gauges (see docs/monitoring.md): the
   * site's identity, whether it still writes blocks, how far the co-signed
   * checkpoint trails the head, whether a member signed another block, and
   * the rules versions (a scheduled one above the supported one halts the
   * site when it activates).
   */
  #healthMetrics(): string[] {
    const height = this.#written.header.height;
    const rules = this.#rulesView(height);
    const info = labelText({
      site: this.name,
      ledger: this.#genesis.ledger,
      version: this.#version,
    });
    return [
      "# HELP edgeledger_site_info The site's name, ledger and software version (always 1).",
      "# TYPE edgeledger_site_info gauge",
      `edgeledger_site_info{${info}} 1`,
      "# HELP edgeledger_site_healthy Whether the site writes blocks (1) or has halted on an error it cannot recover from (0).",
      "# TYPE edgeledger_site_healthy gauge",
      `edgeledger_site_healthy ${this.#fatal === undefined ? 1 : 0}`,
      "# HELP edgeledger_site_removed Whether this site was removed from the cluster and still runs (1): it takes no part any more; stop it.",
      "# TYPE edgeledger_site_removed gauge",
      `edgeledger_site_removed ${this.#sequencer?.removal === undefined ? 0 : 1}`,
      ...this.#storageMetrics(),
      "# HELP edgeledger_checkpoint_height Height of the newest checkpoint signed by a quorum of sites.",
      "# TYPE edgeledger_checkpoint_height gauge",
      `edgeledger_checkpoint_height ${this.#quorumHeight}`,
      "# HELP edgeledger_checkpoint_divergent_members Members seen signing another block than this site's at the same height.",
      "# TYPE edgeledger_checkpoint_divergent_members gauge",
      `edgeledger_checkpoint_divergent_members ${this.#divergences.size}`,
      ...this.#stateChecks.metrics(),
      "# HELP edgeledger_rules_active The rules version the head block executed under.",
      "# TYPE edgeledger_rules_active gauge",
      `edgeledger_rules_active ${rules.active}`,
      "# HELP edgeledger_rules_supported The newest rules version this site's software implements.",
      "# TYPE edgeledger_rules_supported gauge",
      `edgeledger_rules_supported ${rules.supported}`,
      "# HELP edgeledger_rules_scheduled The rules version scheduled to activate at a later height (0 when none).",
      "# TYPE edgeledger_rules_scheduled gauge",
      `edgeledger_rules_scheduled ${rules.scheduled?.version ?? 0}`,
    ];
  }

  // ---- helpers ---------------------------------------------------------

  /** Throws the 503 a write gets when the site does not take writes now. */
  #assertRunning(): void {
    if (this.#closed || !this.#admitting) {
      throw new LedgerError("unavailable", 503, "Site stopping", "The site is shutting down", {
        retryAfter: 1,
      });
    }
    if (this.#fatal !== undefined) {
      throw new LedgerError(
        "unavailable",
        503,
        "Site unhealthy",
        "The site cannot write blocks; see its log",
      );
    }
    this.#assertMember();
  }

  /**
   * The 503 a new transaction gets while this site has known no leader for
   * `ms`, longer than an election takes (see `RaftHost.leaderlessMs`): cut
   * off from the majority, it could only hold it until it hears a leader
   * again, while its client waits. Refused, it goes to another site (the SDK
   * and the gateway move on at once). One committed here already is
   * answered its receipt as ever. One held here is refused too (a client
   * that resubmits it wants it ordered, which another site can do; the copy
   * held here is forwarded once a leader is heard, and left out as a repeat
   * if the other got there first). A shorter spell, an election, takes new
   * ones: they are forwarded once a leader is elected.
   */
  #leaderlessRefusal(ms: number, txId: string, held: boolean): LedgerError {
    return new LedgerError(
      "unavailable",
      503,
      "No leader",
      `Site ${this.name} ${CUT_OFF_DETAIL.leaderless} for ${
        (ms / 1000).toFixed(1)
      } s, so it cannot ` +
        `have writes ordered; ${cutOffAdvice(held)}`,
      { retryAfter: 1, txId },
    );
  }

  /**
   * The 503 a new transaction, or one held here, gets while the leader has
   * answered none of this site's forwards for longer than an election takes
   * (see `RaftHost.leaderUnreachable`): the link from this site to the
   * leader is cut, though the leader's messages still arrive. As with
   * {@link #leaderlessRefusal}, the client goes to another site, and what is
   * held here is forwarded once the leader answers again.
   */
  #unreachableRefusal(
    { leader, ms }: { leader: string; ms: number },
    txId: string,
    held: boolean,
  ): LedgerError {
    return new LedgerError(
      "unavailable",
      503,
      "Leader unreachable",
      `Site ${this.name} ${CUT_OFF_DETAIL.leaderUnreachable} ${leader} to what it forwarded ` +
        `for ${(ms / 1000).toFixed(1)} s, so it cannot have writes ordered; ${cutOffAdvice(held)}`,
      { retryAfter: 1, txId },
    );
  }

  /**
   * Throws the 503 a site removed from the cluster answers writes and current
   * reads with, while it is removed (until it is added again, see `RaftHost`).
   */
  #assertMember(): void {
    const removal = this.#sequencer?.removal;
    if (removal === undefined) return;
    throw new LedgerError(
      "unavailable",
      503,
      "Site removed",
      `Site ${this.name} was removed from the cluster at log index ${removal.index}; send to a member (GET /v1/sites lists them)`,
    );
  }

  /**
   * What this site and the members it heard from say of their disks (see
   * `disk_space.ts`): each one low on space, this site first.
   */
  storageLowSites(): StorageLowSite[] {
    const own = this.#disk?.state;
    const out: StorageLowSite[] = own?.low ? [{ site: this.name, ...own }] : [];
    for (const s of this.#sequencer?.storageLow?.() ?? []) {
      if (s.site !== this.name) out.push(s);
    }
    return out;
  }

  /** The disk gauges of `/metrics` (see `disk_space.ts`). */
  #storageMetrics(): string[] {
    const out: string[] = [];
    const own = this.#disk?.state;
    if (own !== undefined) {
      out.push(
        "# HELP edgeledger_disk_free_bytes Bytes free for the site on its database's volume.",
        "# TYPE edgeledger_disk_free_bytes gauge",
        `edgeledger_disk_free_bytes ${own.freeBytes}`,
        "# HELP edgeledger_disk_free_bytes_min Below this many free bytes the site (and its cluster) refuses new transactions.",
        "# TYPE edgeledger_disk_free_bytes_min gauge",
        `edgeledger_disk_free_bytes_min ${own.freeBytesMin}`,
        "# HELP edgeledger_disk_low Whether this site is under its free-space minimum (1): it and its cluster refuse new transactions.",
        "# TYPE edgeledger_disk_low gauge",
        `edgeledger_disk_low ${own.low ? 1 : 0}`,
      );
    }
    out.push(
      "# HELP edgeledger_storage_low_sites Sites of the cluster under their free-space minimum, as this site knows (this one included): new transactions are refused while above 0.",
      "# TYPE edgeledger_storage_low_sites gauge",
      `edgeledger_storage_low_sites ${this.storageLowSites().length}`,
    );
    return out;
  }

  /** This site's clock (ms since the epoch; the `clock` option, else `Date.now`). */
  now(): number {
    return this.#clock();
  }

  /** This site's own disk verdict (see `disk_space.ts`); undefined without a guard. */
  storageState(): StorageState | undefined {
    return this.#disk?.state;
  }

  /**
   * The 503 `insufficient_storage` new transactions get while this site or a
   * member it heard from is low on disk space, naming them; undefined while
   * none is.
   */
  #storageRefusal(): LedgerError | undefined {
    const low = this.storageLowSites();
    if (low.length === 0) return undefined;
    const which = low.map((s) =>
      `${s.site} has ${lowSpaceText(s.freeBytes, s.freeBytesMin, "its data volume")}`
    ).join("; ");
    return new LedgerError(
      "insufficient_storage",
      503,
      "Insufficient storage",
      `New transactions are paused: ${which}. They are taken again once it has more; reads go on`,
      {
        retryAfter: storageRetryAfterSeconds,
        sites: low.map(({ site, freeBytes, freeBytesMin }) => ({ site, freeBytes, freeBytesMin })),
      },
    );
  }

  #countRefusal(type: string): void {
    this.counters.refused.set(type, (this.counters.refused.get(type) ?? 0) + 1);
  }

  async #committedReceipts(ids: string[]): Promise<Map<string, Receipt>> {
    const out = new Map<string, Receipt>();
    if (ids.length === 0) return out;
    // Through the store: with a storage worker, behind the writes in flight.
    const found = await this.#store.committedIds(ids);
    for (const id of found) {
      const row = await this.#store.txById(id);
      if (row) out.set(id, receiptOf(row));
    }
    return out;
  }

  /** Each signer's standing (`revoked`, `quarantined`, `active`; absent = unregistered). */
  /**
   * Signer standings as of the applied state, remembered until a block
   * writes one of the namespaces a standing is read from (admission for a
   * device that signs again and again then needs no database read).
   */
  readonly #standings = new Map<string, string | null>();
  #standingNamespaces: ReadonlySet<string> | undefined;

  #forgetStandings(writes: ReadonlyArray<{ ns: string }>): void {
    this.#standingNamespaces ??= new Set(standingKeys("did:key:x").map((k) => k.ns));
    if (writes.some((w) => this.#standingNamespaces!.has(w.ns))) {
      this.#standings.clear();
      this.#standingsGeneration++;
    }
  }

  #standingsGeneration = 0;

  async #signerStatuses(dids: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const unknown = dids.filter((d) => !this.#standings.has(d));
    let fresh = new Map<string, string>();
    if (unknown.length > 0) {
      const generation = this.#standingsGeneration;
      fresh = await this.#signerStatusesUncached(unknown);
      // Remember only what no block has changed since the read began.
      if (generation === this.#standingsGeneration) {
        if (this.#standings.size + unknown.length > standingsCachedMax) this.#standings.clear();
        for (const d of unknown) this.#standings.set(d, fresh.get(d) ?? null);
      }
    }
    for (const d of dids) {
      const s = fresh.has(d) ? fresh.get(d) : this.#standings.get(d);
      if (s !== undefined && s !== null) out.set(d, s);
    }
    return out;
  }

  async #signerStatusesUncached(dids: readonly string[]): Promise<Map<string, string>> {
    const values = await this.#store.stateValues(dids.flatMap(standingKeys));
    const get = <T>(ns: string, key: string): T | undefined => {
      const v = values.get(`${ns}\u0000${key}`);
      return v === undefined ? undefined : JSON.parse(v) as T;
    };
    const out = new Map<string, string>();
    for (const d of dids) {
      const s = standingOf(d, get);
      if (s !== undefined) out.set(d, s);
    }
    return out;
  }

  /** `gov.rules/current` as of the newest executed block (undefined: absent, version 1). */
  #rules: RulesRecord | undefined;

  /**
   * Takes the rules record a block (`fromBlock`) or the database at open
   * holds. Says when a block schedules a version, and warns when the version
   * waiting is one this software cannot execute, so operators upgrade
   * before the height arrives (status shows it too).
   */
  #setRules(value: string | null, fromBlock: boolean): void {
    this.#rules = value === null ? undefined : JSON.parse(value) as RulesRecord;
    const next = scheduledAfter(this.#rules, this.#head.header.height);
    if (next === undefined) return;
    const supported = this.#registry.rulesSupported;
    if (next.version > supported) {
      // The message stays the same (a log store counts it); the fields say which.
      this.#log.warn(
        "rules version scheduled that this site cannot execute: upgrade it before that height",
        { version: next.version, height: next.height, supported },
      );
    } else if (fromBlock) {
      this.#log.info("rules version scheduled", {
        version: next.version,
        height: next.height,
        supported,
      });
    }
  }

  /** `status().rules`: the version in force at `height`, what this site supports, what waits. */
  #rulesView(height: number): NonNullable<StatusView["rules"]> {
    const scheduled = scheduledAfter(this.#rules, height);
    return {
      active: rulesAt(this.#rules, height),
      supported: this.#registry.rulesSupported,
      ...(scheduled ? { scheduled } : {}),
    };
  }

  /** The policy as of the newest executed block; undefined until first read. */
  #consortiumPolicy: Policy | undefined;

  /**
   * The consortium's policy as of the head block: governance state, or the
   * genesis policies for a ledger without governance state. Read once, then
   * kept current from the state writes of each block as it executes (see
   * {@link Site.applyEntry}), so it never lags a block not yet written.
   */
  async #policyNow(): Promise<Policy> {
    if (this.#consortiumPolicy !== undefined) return this.#consortiumPolicy;
    const values = await this.#store.stateValues([{ ns: POLICY_NS, key: POLICY_KEY }]);
    // A block executed meanwhile may have set it already: that one is newer.
    this.#consortiumPolicy ??= this.#policyFrom(
      values.get(`${POLICY_NS}\u0000${POLICY_KEY}`) ?? null,
    );
    return this.#consortiumPolicy;
  }

  /** The policy a state value holds (`null`: none stored, the genesis policies apply). */
  #policyFrom(value: string | null): Policy {
    return value === null
      ? this.#genesis.policies as unknown as Policy
      : JSON.parse(value) as Policy;
  }

  async #openKinds(): Promise<readonly string[]> {
    return (await this.#policyNow()).openKinds;
  }

  /** Whether the newest block's time was ahead of this site's clock when applied (said once). */
  #blockTimeAhead = false;

  /**
   * Says when an applied block's time is more than {@link blockTimeAheadWarnMs}
   * ahead of this site's clock, once until one is not. Block time is its
   * leader's voters' median clock and never decreases (DESIGN §3), so a
   * majority of clocks (or a lone voter's) that ran ahead holds the chain's
   * time there: every transaction that
   * expires before it is rejected `expired`, on every site, until the
   * clocks catch up. Only said: what a block holds must not depend on the
   * clock of the site applying it.
   */
  #watchBlockTime(header: BlockHeader): void {
    const aheadMs = header.time - this.#clock();
    if (aheadMs <= blockTimeAheadWarnMs) {
      if (this.#blockTimeAhead) {
        this.#log.info("block time is no longer ahead of this site's clock", {
          height: header.height,
        });
      }
      this.#blockTimeAhead = false;
      return;
    }
    if (this.#blockTimeAhead) return;
    this.#blockTimeAhead = true;
    this.#log.warn("block time is ahead of this site's clock", {
      height: header.height,
      proposer: header.proposer,
      aheadMs,
      hint: "a leader's clock ran ahead (or this site's is behind): check NTP on both; until " +
        "the clocks reach the block's time, transactions expiring before it are rejected as expired",
    });
  }

  /**
   * Per-signer admissions in the current minute, for
   * `rateLimits.signerTxsPerMinuteMax`: one entry per signer admitted this
   * minute (as many as the site admits from distinct signers in a minute;
   * dropping one would let its signer start over).
   */
  readonly #signerWindows = new Map<string, { minute: number; count: number }>();
  /**
   * The newest minute whose older windows were dropped: once per minute, so
   * an admission costs the same however many signers the minute holds.
   */
  #signerWindowsMinute = -Infinity;

  /**
   * The policy's per-signer rate limit (per clock minute; counted by each
   * site for what it admits, and by the leader for the whole cluster, see
   * {@link acceptForwarded}): throws
   * `rate_limited` (429, with the seconds until the window ends) when a
   * signer used up its quota; with `charge`, counts the transaction against
   * each of its signers.
   */
  #rateLimit(admitted: Admitted, policy: Policy, now: number, charge: boolean): void {
    const max = policy.rateLimits?.signerTxsPerMinuteMax;
    if (max === undefined) return;
    const minute = Math.floor(now / 60_000);
    // Forward, or back by more than a minute: an admission that read the
    // clock before the minute turned (its signatures were being checked)
    // must not drop the new minute's windows, but a clock stepped back (NTP)
    // must not keep every signer of the minutes until it is past the old
    // one again. A window of another minute counts nothing below.
    if (minute > this.#signerWindowsMinute || minute < this.#signerWindowsMinute - 1) {
      this.#signerWindowsMinute = minute;
      for (const [k, w] of this.#signerWindows) {
        if (w.minute !== minute) this.#signerWindows.delete(k);
      }
    }
    for (const did of admitted.envelope.signers) {
      const w = this.#signerWindows.get(did);
      const count = w?.minute === minute ? w.count : 0;
      if (count >= max) {
        throw new LedgerError(
          "rate_limited",
          429,
          "Rate limited",
          `Signer ${did} submitted ${max} transactions this minute, the policy's limit`,
          {
            txId: admitted.txId,
            retryAfter: Math.max(1, Math.ceil(((minute + 1) * 60_000 - now) / 1000)),
          },
        );
      }
    }
    if (!charge) return;
    for (const did of admitted.envelope.signers) {
      const w = this.#signerWindows.get(did);
      this.#signerWindows.set(did, { minute, count: (w?.minute === minute ? w.count : 0) + 1 });
    }
  }

  #checkpointText(header: BlockHeader, hash: string): string {
    return formatCheckpoint({
      origin: this.#genesis.origin,
      size: header.logSize,
      rootHash: hexDecode(header.logRoot),
      height: header.height,
      blockHash: hash,
    });
  }

  async #buildNote(header: BlockHeader, hash: string): Promise<string> {
    const lines = await this.#store.checkpointLines(header.height);
    return assembleNote(this.#checkpointText(header, hash), lines.map((l) => l.line));
  }

  async #views(rows: BlockRow[]): Promise<BlockView[]> {
    const ids = await this.#rowReads.txIdsOfBlocks(rows.map((r) => r.height));
    return rows.map((r) => ({ hash: r.hash, header: headerOf(r), txIds: ids.get(r.height) ?? [] }));
  }

  async #eventsFromStore(from: number, count: number): Promise<BlockEvent[]> {
    const rows = await this.#rowReads.blockRange(from, count);
    if (rows.length === 0) return [];
    const byHeight = await txsOfBlocks(this.#rowReads, rows);
    return rows.map((r) => ({
      height: r.height,
      hash: r.hash,
      header: headerOf(r),
      txs: (byHeight.get(r.height) ?? []).map((t) => ({
        txId: t.id,
        kind: t.kind,
        signers: (JSON.parse(t.envelope) as Envelope).signers,
        logIndex: t.logIndex,
        result: JSON.parse(t.result) as TxResult,
      })),
    }));
  }
}

/** The receipt of a committed transaction row; `result` is its stored result when already parsed. */
export function receiptOf(row: TxRowStored, result?: TxResult): Receipt {
  return {
    txId: row.id,
    status: "committed",
    height: row.height,
    logIndex: row.logIndex,
    result: result ?? JSON.parse(row.result) as TxResult,
  };
}

/**
 * Blocks from `from` with the envelopes that produced them, as `reads`
 * holds them: up to `limit` (at most 500), and fewer once their envelopes
 * pass `bytesMax` (always the first block), so one answer stays a few MiB
 * however large the blocks — a peer asks again from where it got to. Read a
 * few hundred transactions at a time, so the cap also bounds what is read.
 */
export async function blocksWithEnvelopes(
  reads: RowReads,
  from: number,
  limit: number,
  bytesMax = replayBytesMax,
): Promise<ReplayBlock[]> {
  const rows = await reads.blockRange(from, Math.min(limit, 500));
  const out: ReplayBlock[] = [];
  let bytes = 0;
  for (let i = 0; i < rows.length && (out.length === 0 || bytes < bytesMax);) {
    let j = i + 1;
    let txs = rows[i].txCount;
    while (j < rows.length && txs + rows[j].txCount <= replayReadTxsMax) txs += rows[j++].txCount;
    const group = rows.slice(i, j);
    const byHeight = await txsOfBlocks(reads, group);
    for (const r of group) {
      if (out.length > 0 && bytes >= bytesMax) break;
      const stored = byHeight.get(r.height) ?? [];
      for (const t of stored) bytes += t.envelope.length;
      out.push({
        hash: r.hash,
        header: headerOf(r),
        entryIndex: r.entryIndex,
        txs: stored.map((t) => JSON.parse(t.envelope) as Envelope),
      });
    }
    i = j;
  }
  return out;
}

/** The transactions of consecutive blocks `rows`, by height, in log order. */
async function txsOfBlocks(
  reads: RowReads,
  rows: BlockRow[],
): Promise<Map<number, TxRowStored[]>> {
  const lo = rows[0].logSize - rows[0].txCount;
  const txRows = await reads.txsByLogRange(lo, rows[rows.length - 1].logSize);
  const byHeight = new Map<number, TxRowStored[]>();
  for (const t of txRows) {
    const l = byHeight.get(t.height);
    if (l === undefined) byHeight.set(t.height, [t]);
    else l.push(t);
  }
  return byHeight;
}

/** The header of a stored block, parsed from the exact JCS text that was hashed. */
export function headerOf(row: BlockRow): BlockHeader {
  return JSON.parse(row.header) as BlockHeader;
}

function rowOf(header: BlockHeader, hash: string, entryIndex: number): BlockRow {
  return {
    height: header.height,
    hash,
    prev: header.prev,
    time: header.time,
    term: header.term,
    proposer: header.proposer,
    txCount: header.txCount,
    logSize: header.logSize,
    logRoot: header.logRoot,
    header: canonicalJson(header),
    entryIndex,
  };
}

/** A copy of `f` to append to, so a failed block write leaves the site's frontier untouched. */
function cloneFrontier(f: MerkleFrontier): MerkleFrontier {
  const nodes = new Map(f.nodes().map((n) => [`${n.level}/${n.index}`, n.hash]));
  return MerkleFrontier.fromNodes(f.size, (level, index) => nodes.get(`${level}/${index}`)!);
}

function nodeGetter(nodes: Map<string, Uint8Array>) {
  return (level: number, index: number): Uint8Array => {
    const n = nodes.get(`${level}/${index}`);
    // The site's own storage is damaged: an internal error (logged with
    // this, answered as `internal`), not the client's `proof_unavailable`.
    if (n === undefined) {
      throw new Error(
        `The stored Merkle log lacks node ${level}/${index}; run the integrity check`,
      );
    }
    return n;
  };
}

/** The id of a forwarded envelope, if it is one (a member admitted it, so it should be). */
function txIdOf(envelope: unknown): string | undefined {
  try {
    return envelopeText(envelope as Envelope).txId;
  } catch {
    return undefined;
  }
}

/** A refusal as a receipt (or a forward's answer) carries it: the problem's summary. */
function receiptProblem(
  e: LedgerError,
): { type: string; title: string; status: number; detail: string } {
  return {
    type: e.type,
    title: problemTitle(e.type, e.title),
    status: e.status,
    detail: e.message,
  };
}

/**
 * How the `detail` of a write refused for want of a leader this site can
 * reach says why (after the site's name): it hears none, or the one it
 * hears answers none of its forwards. The problem's `type` and `title` are
 * the catalogue's `unavailable`, so a test that tells the two apart (the
 * soak's count) reads these.
 */
export const CUT_OFF_DETAIL = {
  leaderless: "has heard from no leader",
  leaderUnreachable: "has had no answer from the leader",
} as const;

/**
 * What a site that cannot have writes ordered tells the client of a
 * transaction: a new one has had no effect; one it holds (admitted, not yet
 * ordered) may still commit, so the client must resubmit that same envelope
 * elsewhere — never sign it anew — and the ledger orders it once.
 */
function cutOffAdvice(held: boolean): string {
  return held
    ? "it holds this transaction, which may still commit once it can forward it: resubmit the " +
      "same envelope to another site (GET /v1/sites lists them), and it is ordered once"
    : "send them to another site (GET /v1/sites lists them)";
}

/** `value` as `Retry-After` seconds: a positive integer, else undefined. */
export function retryAfterOf(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/**
 * A refusal of the forwarded envelope at `index` as a forward's answer
 * carries it, with the seconds until a retry can succeed when the refusal
 * has them (a rate limit's, see `Site.#rateLimit`).
 */
function leaderRefusal(e: LedgerError, txId: string | null, index: number): LeaderRefusal {
  const retryAfter = retryAfterOf(e.extra.retryAfter);
  return {
    txId,
    index,
    problem: receiptProblem(e),
    ...(retryAfter === undefined ? {} : { retryAfter }),
  };
}

/**
 * The key a site signs with. Once it rotated, the last key the log gave it,
 * which it keeps in its data folder (`key_rotation.ts`) — even when its
 * database is a copy made before that rotation (it applies it again); a
 * rotation applied but whose key was not yet moved in place (a crash
 * between the two) is finished here. Else its config's key, which must be
 * the one the membership has for it (genesis's, or the directory's for a
 * site added since); a joining site the membership does not name yet
 * takes its config's key.
 */
async function siteKeyOf(options: SiteOptions, store: ChainStoreApi): Promise<KeyPair> {
  const directory = await store.getMeta("directory");
  const listed = directory === undefined
    ? undefined
    : (JSON.parse(directory) as Array<{ name: string; publicKey: string }>)
      .find((m) => m.name === options.name);
  const inGenesis = options.genesis.sites.find((s) => s.name === options.name);
  const expected = listed?.publicKey ?? inGenesis?.publicKey;
  const paths = options.rotatedKeys;
  if (paths !== undefined) {
    const next = await readRotatedKey(paths.next);
    if (next !== undefined && base64urlEncode(next.publicKey) === expected) {
      await Deno.rename(paths.next, paths.current);
      return next;
    }
    const current = await readRotatedKey(paths.current);
    if (current !== undefined) return current;
  }
  if (expected === undefined || base64urlEncode(options.key.publicKey) === expected) {
    return options.key;
  }
  throw new Error(
    `Cannot open site ${options.name}: its key does not match the one ` +
      `${
        listed !== undefined && listed.publicKey !== inGenesis?.publicKey
          ? "its last key rotation gave it"
          : "genesis names"
      } ` +
      `(${expected})` +
      (paths === undefined ? "" : `; neither its keyFile nor ${paths.current} holds it`),
  );
}
