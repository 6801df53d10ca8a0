/**
 * The narrow interface the HTTP layer needs from a site. The API owns this
 * contract; `src/site` implements it. Nothing here knows about HTTP.
 *
 * Domain failures are thrown as {@link LedgerError} (a stable `type` slug and
 * an HTTP status the API maps to problem+json); anything else thrown is a bug
 * and becomes a 500 without detail.
 *
 * @module
 */
import type { BlockHeader } from "../../sdk/block.ts";

/** Read consistency requested by a client (DESIGN §3). */
export type Consistency = "stale" | "leader" | "linearizable";

/** The outcome recorded in the log for a committed transaction. */
export interface TxResult {
  status: "applied" | "rejected";
  /** Stable reason code when `status` is `"rejected"`, e.g. `"stream_seq_not_increasing"`. */
  code?: string;
  /** Human-readable detail for a rejection. */
  detail?: string;
  /** Kind-specific output of an applied transaction. */
  [extra: string]: unknown;
}

/**
 * What a client gets back for a submitted transaction.
 *
 * `status` is `"pending"` once admitted and not yet committed, `"committed"`
 * once in a block (then `height`, `logIndex` and `result` are set), and
 * `"refused"` when admission refused it (then `problem` is set; only in a
 * batch answer, a single refused envelope is answered with problem+json).
 */
export interface Receipt {
  txId: string | null;
  status: "pending" | "committed" | "refused";
  height?: number;
  logIndex?: number;
  result?: TxResult;
  problem?: { type: string; title: string; status: number; detail: string };
  /**
   * Seconds until a retry of a refused transaction can succeed (a rate
   * limit's window ends), when its refusal says. Not part of a receipt's
   * JSON: a single refused envelope's problem carries it, as `Retry-After`.
   */
  retryAfter?: number;
}

/** A block header exactly as hashed (DESIGN §2, "Blocks"); the protocol's type. */
export type BlockHeaderJson = BlockHeader;

/** A block as served: header, its hash and the ids of its transactions in log order. */
export interface BlockView {
  hash: string;
  header: BlockHeaderJson;
  txIds: string[];
}

/** `GET /v1/txs/{txId}/proof` answer. */
export interface ProofView {
  logIndex: number;
  treeSize: number;
  /** base64url of the leaf data (JCS of `{tx, result}`). */
  leaf: string;
  /** Audit path, hex. */
  proof: string[];
}

export interface StatusView {
  ledger: string;
  origin: string;
  site: string;
  role: "leader" | "follower" | "candidate" | "learner";
  term: number;
  leader: string | null;
  commitIndex: number;
  appliedIndex: number;
  height: number;
  logSize: number;
  /** The latest block hash. */
  head: string;
  /** Transactions admitted and waiting for a block. */
  pendingTxs: number;
  version: string;
  /**
   * Rules versions: the one in force at `height`, the highest this site's
   * software executes, and an activation governance scheduled for a later
   * height. `scheduled.version > supported` means this site will stop
   * before block `scheduled.height` unless it is upgraded.
   */
  rules?: {
    active: number;
    supported: number;
    scheduled?: { version: number; height: number };
  };
  [extra: string]: unknown;
}

export interface SiteView {
  name: string;
  url: string;
  verifierKey: string;
}

/** A member's keys: now, the rotations that led there, and the retired ones (`GET /v1/sites/{name}/keys`). */
export interface SiteKeysView {
  name: string;
  verifierKey: string;
  rotations: Array<{
    name: string;
    previous: string;
    publicKey: string;
    previousSig: string;
    newSig: string;
  }>;
  /**
   * Each key it retired, the last height it signed, and — once the member
   * vouched for that height with a later key — the statement's signer and
   * signature (see `sdk/key_rotation.ts`).
   */
  retired: Array<{ verifierKey: string; untilHeight: number; signer?: string; signature?: string }>;
}

/** One finding of the integrity check; `ok: false` names the first mismatch. */
export interface IntegrityReport {
  ok: boolean;
  blocksChecked: number;
  txsChecked: number;
  /** The first thing that did not match, e.g. `"block 12: logRoot does not match the stored Merkle log"`. */
  firstMismatch?: string;
  durationMs: number;
}

/** A committed block as pushed to subscribers. */
export interface BlockEvent {
  height: number;
  hash: string;
  header: BlockHeaderJson;
  txs: Array<{ txId: string; kind: string; signers: string[]; logIndex: number; result: TxResult }>;
}

export interface SubmitOptions {
  /** Resolve only once every admitted transaction is committed (or the timeout passes). */
  wait: boolean;
  /** Upper bound on waiting for commit, in milliseconds. */
  waitTimeoutMs: number;
  /**
   * The envelopes came as a batch (`{"txs": [...]}`): every envelope's
   * refusal is its receipt, a batch of one included (DESIGN §6). Without
   * it, one envelope's refusal is thrown, to be answered as a problem.
   */
  batch?: boolean;
}

/**
 * Everything the public HTTP API needs from a site.
 *
 * Preconditions are the API's to check (zod): the service still validates
 * envelopes itself, because envelopes are protocol and arrive as `unknown`.
 */
export interface LedgerService {
  /**
   * Admits each envelope independently and returns one receipt per envelope
   * in the same order. Idempotent by transaction id: a transaction already
   * committed returns its existing receipt; one already pending is not
   * admitted twice. With `wait`, resolves once all admitted transactions are
   * committed (durable) or `waitTimeoutMs` passes (those still pending keep
   * `status: "pending"`). A lone envelope that is not `batch` is refused by
   * throwing its problem.
   */
  submit(envelopes: unknown[], options: SubmitOptions): Promise<Receipt[]>;
  /** The signed envelope and its receipt, or null when unknown. */
  getTx(
    txId: string,
    consistency: Consistency,
  ): Promise<{ tx: Record<string, unknown>; receipt: Receipt } | null>;
  /** Requires `treeSize` (default: latest checkpoint size) `> logIndex`. Null when the tx is unknown. */
  proof(
    txId: string,
    treeSize: number | undefined,
    consistency: Consistency,
  ): Promise<ProofView | null>;
  blockByHeight(height: number, consistency: Consistency): Promise<BlockView | null>;
  blockByHash(hash: string, consistency: Consistency): Promise<BlockView | null>;
  /** Blocks `[from, from + limit)` that exist, ascending. */
  blocks(from: number, limit: number, consistency: Consistency): Promise<BlockView[]>;
  /** The latest co-signed checkpoint as a C2SP signed note. */
  checkpoint(consistency: Consistency): Promise<string>;
  /** Requires `0 < from <= to <= logSize`. */
  consistency(from: number, to: number, consistency: Consistency): Promise<string[]>;
  /**
   * Resolves once this site has applied the block at `height` and reads see
   * it (at once when it has). Rejects with a `LedgerError` 503 `unavailable`
   * (extras `height`, `minHeight`, `retryAfter`) when `timeoutMs` passes
   * first or the site stops, and with `signal`'s reason when it aborts.
   */
  awaitHeight(height: number, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  status(): Promise<StatusView>;
  sites(): Promise<SiteView[]>;
  /** A member's keys, or undefined when no member has that name. */
  siteKeys(name: string): Promise<SiteKeysView | undefined>;
  /** Re-verifies the whole chain from the database. */
  integrity(): Promise<IntegrityReport>;
  /**
   * One key of contract state (the read model of built-in kinds), parsed
   * JSON, or undefined when absent.
   */
  stateGet(ns: string, key: string, consistency: Consistency): Promise<unknown | undefined>;
  /**
   * Contract state entries of `ns` whose key starts with `prefix`, strictly
   * after `after` when given, ascending by key, at most `limit`
   * (`1 <= limit <= 1000`).
   */
  stateRange(
    ns: string,
    prefix: string,
    options: { limit: number; after?: string },
    consistency: Consistency,
  ): Promise<Array<{ key: string; value: unknown }>>;
  /**
   * Calls `onBlock` for every committed block with height `> afterHeight`,
   * first from storage (catch-up) then live, in height order, until the
   * returned function is called. At most `bufferBlocksMax` live blocks are
   * buffered for a slow subscriber; past that the subscription ends with
   * `onEnd("slow_consumer")`. `onBlock` is not called again before the
   * promise it returned settles, so awaiting a slow write is what makes the
   * live buffer fill. `options.bufferBlocksMax`, when given, is the caller's
   * bound (the API passes its `eventsBufferBlocksMax`); otherwise the site's
   * default applies.
   */
  subscribe(
    afterHeight: number,
    onBlock: (event: BlockEvent) => void | Promise<void>,
    onEnd: (reason: string) => void,
    options?: { bufferBlocksMax?: number },
  ): () => void;
}

/**
 * A domain error the API maps to problem+json. `type` is a stable slug; the
 * problem's `type` URI is `https://edgeledger.dev/problems/<type>`.
 */
export class LedgerError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = "LedgerError";
  }
}
