/**
 * The typed HTTP client of an edgeledger consortium (DESIGN §6, §7).
 *
 * Every request is built from a shared route definition (`sdk/api/routes.ts`:
 * method, path, zod schemas) and every answer is checked against that
 * route's response schema before it is returned, so a site cannot hand the
 * caller a value of the wrong shape. All requests of the public API are
 * idempotent (a submission is keyed by its transaction id), so the client
 * retries any of them, failing over between the configured sites.
 *
 * The contracts' state reads are namespaces built on the same call
 * (`client.gov`, `client.identity`, `client.asset`, `client.custody`,
 * `client.access`, `client.data`, `client.roaming`; see `contracts.ts`).
 *
 * @module
 */

import { z } from "@hono/zod-openapi";
import {
  BATCH_TXS_MAX,
  BLOCKS_PAGE_LIMIT_MAX,
  COMMIT_WAIT_MS_MAX,
  getBlock,
  getBlockByHash,
  getCheckpoint,
  getConsistency,
  getHealth,
  getIntegrity,
  getSiteKeys,
  getStatus,
  getTx,
  getTxProof,
  listBlocks,
  listSites,
  ROUTES,
  streamEvents,
  submitTxs,
} from "../api/routes.ts";
import { BlockEvent as BlockEventSchema, Problem as ProblemSchema } from "../api/schemas.ts";
import { type Envelope, transactionId } from "../envelope.ts";
import {
  abortReason,
  isAbortLike,
  linkedAbort,
  namedError,
  newRequestId,
  sleep,
} from "./_signals.ts";
import {
  CommitTimeoutError,
  describeProblem,
  EdgeLedgerError,
  LedgerMismatchError,
  NetworkError,
  NotFoundError,
  type ProblemDetails,
  problemSlug,
  RateLimitedError,
  RejectedError,
  ServerError,
  ValidationError,
} from "./errors.ts";
import {
  backoffDelayMs,
  parseRetryAfterMs,
  type ResolvedRetryPolicy,
  resolveRetryPolicy,
  type RetryPolicy,
  serverNowMs,
} from "./retry.ts";
import {
  AccessResource,
  AssetResource,
  CustodyResource,
  DataResource,
  GovResource,
  IdentityResource,
  RoamingResource,
} from "./contracts.ts";
import { fillPath } from "./_path.ts";
import type { RequestInput, ResponseOf, RouteDefinition } from "./route_types.ts";
import { SseParser } from "./sse.ts";

/**
 * A receipt (`POST /v1/txs`, `GET /v1/txs/{txId}`): `pending` once admitted,
 * `committed` once in a block (then with `height`, `logIndex` and `result`),
 * `refused` only inside a batch answer (then with `problem`). `txId` is null
 * only for a batch entry too malformed to have an id. One envelope's
 * submission answers a {@link SubmittedReceipt} and `waitForCommit` a
 * {@link CommittedReceipt}, whose fields are typed as always present.
 *
 * @example
 * ```ts
 * const receipt: Receipt = await client.submit(envelope);
 * if (receipt.status === "committed") console.log(receipt.height, receipt.logIndex);
 * ```
 */
export type Receipt = z.output<typeof import("../api/schemas.ts").Receipt>;
/**
 * The receipt of one envelope a site took, as `submit(envelope)` answers it:
 * `txId` is always the envelope's transaction id (a {@link Receipt}'s `txId`
 * is null only inside a batch answer, for an envelope too malformed to have
 * an id), and the status is `pending` or, with `wait: "commit"`, `committed`.
 *
 * @example
 * ```ts
 * const { txId }: SubmittedReceipt = await client.submit(envelope);
 * await client.waitForCommit(txId);
 * ```
 */
export type SubmittedReceipt = Receipt & { txId: string; status: "pending" | "committed" };
/**
 * A committed receipt, as `waitForCommit` answers it: where the transaction
 * landed (`height`, `logIndex`) and what its contract did (`result.status`
 * `"applied"`, or `"rejected"` with a `code`: committed, and refused by its
 * contract).
 *
 * @example
 * ```ts
 * const { height, logIndex, result }: CommittedReceipt = await client.waitForCommit(txId);
 * if (result.status === "rejected") console.log(result.code, result.detail);
 * ```
 */
export type CommittedReceipt = Receipt & {
  txId: string;
  status: "committed";
  height: number;
  logIndex: number;
  result: NonNullable<Receipt["result"]>;
};
/**
 * `GET /v1/txs/{txId}`: the envelope as submitted and its receipt.
 *
 * @example
 * ```ts
 * const { tx, receipt }: TxView = await client.getTx(txId);
 * ```
 */
export type TxView = ResponseOf<typeof getTx>;
/**
 * `GET /v1/txs/{txId}/proof`: an RFC 9162 inclusion proof.
 *
 * @example
 * ```ts
 * const { logIndex, treeSize, proof }: ProofView = await client.proof(txId);
 * ```
 */
export type ProofView = ResponseOf<typeof getTxProof>;
/**
 * A block: header, hash, transaction ids.
 *
 * @example
 * ```ts
 * const { hash, header, txIds }: BlockView = await client.block(7);
 * ```
 */
export type BlockView = ResponseOf<typeof getBlock>;
/**
 * `GET /v1/status`.
 *
 * @example
 * ```ts
 * const { role, height }: StatusView = await client.status();
 * ```
 */
export type StatusView = ResponseOf<typeof getStatus>;
/**
 * One member site with its checkpoint verifier key.
 *
 * @example
 * ```ts
 * const [{ name, verifierKey }]: SiteView[] = await client.sites();
 * ```
 */
export type SiteView = ResponseOf<typeof listSites>["sites"][number];

/** A member's keys: now, the rotations that led there, the retired ones (`GET /v1/sites/{name}/keys`). */
export type SiteKeys = ResponseOf<typeof getSiteKeys>;
/**
 * `GET /v1/consistency`.
 *
 * @example
 * ```ts
 * const { proof }: ConsistencyProofView = await client.consistency(3, 9);
 * ```
 */
export type ConsistencyProofView = ResponseOf<typeof getConsistency>;
/**
 * `GET /v1/integrity`.
 *
 * @example
 * ```ts
 * const report: IntegrityReport = await client.integrity();
 * ```
 */
export type IntegrityReport = ResponseOf<typeof getIntegrity>;
/**
 * `GET /healthz`.
 *
 * @example
 * ```ts
 * const { version }: HealthView = await client.health();
 * ```
 */
export type HealthView = ResponseOf<typeof getHealth>;
/**
 * The data of one SSE `block` event.
 *
 * @example
 * ```ts
 * for await (const event of client.subscribe()) console.log((event satisfies BlockEvent).height);
 * ```
 */
export type BlockEvent = z.output<typeof BlockEventSchema>;
/**
 * Read consistency (DESIGN §3).
 *
 * @example
 * ```ts
 * await client.getTx(txId, { consistency: "leader" satisfies Consistency });
 * ```
 */
export type Consistency = "stale" | "leader" | "linearizable";

/** Default of {@link ClientOptions.responseBytesMax}: 64 MiB. */
export const RESPONSE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

/**
 * Options of {@link EdgeLedgerClient}. Every limit has a default; units are in the names.
 *
 * @example
 * ```ts
 * const options: ClientOptions = { urls: ["http://127.0.0.1:7001"], timeoutMs: 5000 };
 * const client = new EdgeLedgerClient(options);
 * ```
 */
export interface ClientOptions {
  /**
   * The sites to talk to, as base URLs (`http://127.0.0.1:7001`), in order
   * of preference. The client sticks to the site that last answered and
   * moves to the next one when a site fails to answer or is unavailable.
   */
  urls: string | readonly string[];
  /** Per-attempt timeout, in milliseconds. Default 10000. */
  timeoutMs?: number;
  /** Retry policy; see {@link RetryPolicy}. */
  retry?: RetryPolicy;
  /** Headers sent with every request, e.g. `{ authorization: "Bearer ..." }` for an API key. */
  headers?: Record<string, string>;
  /** The `fetch` to use (a streaming one for React Native). Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Random numbers in `[0, 1)` for backoff jitter. Default `Math.random`. */
  random?: () => number;
  /** Send a fresh `X-Request-Id` with every attempt. Default true. Turn off for browsers talking to a site without CORS for it. */
  sendRequestId?: boolean;
  /**
   * Most bytes of one answer's body the client reads, so that a site (or
   * something posing as one) cannot fill a device's memory within the
   * attempt's timeout; a larger body is a {@link ServerError}, not retried.
   * Default 64 MiB — far above any page a site serves.
   */
  responseBytesMax?: number;
  /**
   * The ledger the client is for: its id, as in envelopes, block headers and
   * `GET /v1/status` (`"demo"`). Before it first sends a site anything, the
   * client asks the site's `GET /v1/status` which ledger it serves (once per
   * site, and again after the site failed to answer); a site that serves
   * another ledger, or will not say, is refused with a
   * {@link LedgerMismatchError} and never used again, and the call fails over
   * to the other URLs (a status refused 401 / 403 for want of credentials is
   * the call's error instead, and the site is asked again next time). Unset, a client of one URL checks nothing, and a
   * client of several learns the ledger from the first site that answers
   * its status and refuses a site of another ledger the same way (a site
   * that will not say is then used unchecked). Set it whenever the ledger is
   * known: only then is the first site checked too.
   */
  ledger?: string;
  /**
   * Read your own writes, whichever site answers. The client keeps the
   * highest block `height` of its own writes' committed receipts (`submit`,
   * `waitForCommit`: {@link EdgeLedgerClient.sessionHeight}) and sends it as
   * `minHeight` with every read of the ledger's data (not a site's status,
   * members or integrity check): a site that has not applied that block yet
   * (after a failover, or behind a load balancer) waits for it before
   * answering, up to 5 s, or answers 503 `unavailable` and the call moves to
   * the next site at once. When every site refuses it so (a receipt that
   * lied, a ledger set back by a restore), that read fails and the session
   * height drops to the highest height a site reported. Default true;
   * `false` sends `minHeight` only where a call gives it. A site of an
   * earlier version ignores the parameter.
   */
  readYourWrites?: boolean;
  /** The {@link EdgeLedgerClient.sessionHeight} to start from (another client's). Default 0. */
  sessionHeight?: number;
}

/**
 * Options every call takes.
 *
 * @example
 * ```ts
 * await client.status({ timeoutMs: 2000, signal: AbortSignal.timeout(5000) } satisfies CallOptions);
 * ```
 */
export interface CallOptions {
  /** Aborts the call (and its retries); the call rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Overrides the client's per-attempt timeout, in milliseconds. */
  timeoutMs?: number;
  /**
   * Reads only: the block height the answering site must have applied (it
   * waits for it up to 5 s). Default: {@link EdgeLedgerClient.sessionHeight}
   * with `readYourWrites`, else none; 0 sends none. Writes ignore it.
   */
  minHeight?: number;
}

/**
 * Options of {@link EdgeLedgerClient.submit}.
 *
 * @example
 * ```ts
 * await client.submit(envelope, { wait: "commit", waitTimeoutMs: 20_000 } satisfies SubmitOptions);
 * ```
 */
export interface SubmitOptions extends CallOptions {
  /**
   * `"commit"`: the site answers once the transactions are committed or
   * `waitTimeoutMs` passed; then their receipts are still `pending` (a
   * single envelope's is answered 202, not an error): see `waitForCommit`.
   */
  wait?: "commit";
  /** How long the site waits for commit, in milliseconds (1–60000). Default 10000. */
  waitTimeoutMs?: number;
}

/**
 * Options of {@link EdgeLedgerClient.waitForCommit}.
 *
 * @example
 * ```ts
 * await client.waitForCommit(txId, { timeoutMs: 30_000, pollMsMax: 500 });
 * ```
 */
export interface WaitForCommitOptions extends CallOptions {
  /** Give up after this many milliseconds. Default 30000. */
  timeoutMs?: number;
  /** The longest pause between polls, in milliseconds. Default 1000. */
  pollMsMax?: number;
}

/**
 * Options of {@link EdgeLedgerClient.blocks}.
 *
 * @example
 * ```ts
 * for await (const b of client.blocks({ from: 10, to: 20, pageSize: 5 })) console.log(b.hash);
 * ```
 */
export interface BlocksOptions extends CallOptions {
  /** The first height. Default 0. */
  from?: number;
  /** Stop before this height (exclusive). Default: at the head. */
  to?: number;
  /** Blocks per page (1–1000). Default 100. */
  pageSize?: number;
  /** Read consistency of each page. Default `stale`. */
  consistency?: Consistency;
}

/**
 * Options of {@link EdgeLedgerClient.subscribe}.
 *
 * @example
 * ```ts
 * client.subscribe({ kinds: ["data.anchor"], signer: did, fromHeight: 100 });
 * ```
 */
export interface SubscribeOptions {
  /** Only transactions of these kinds (blocks without one are skipped). */
  kinds?: readonly string[];
  /** Only transactions signed by this did:key. */
  signer?: string;
  /**
   * The first height to receive. Default: the block after the site's current
   * height when subscribing (read from `/v1/status`), so nothing committed
   * while (re)connecting is missed.
   */
  fromHeight?: number;
  /** Ends the subscription; the iterator then finishes without error. */
  signal?: AbortSignal;
  /** Reconnect when nothing (not even a heartbeat) arrived for this long, in milliseconds. Default 45000. */
  idleMsMax?: number;
  /** Consecutive failed connection attempts before the iterator throws. Default 100. */
  reconnectAttemptsMax?: number;
  /**
   * Called when a connection attempt starts — every attempt, a failed one
   * included — with the site and the height it resumes after (-1 for none).
   * Like `onOpen`'s, an exception it throws ends the subscription: the
   * iterator throws it.
   */
  onConnect?: (site: string, afterHeight: number) => void;
  /**
   * Called when a site's event stream is open: its answer was accepted — a
   * 2xx status, of type `text/event-stream`, with a body — and no event has
   * been read from it yet (whether one ever comes or not). It fires at most
   * once per connection, after that connection's `onConnect`: once for the
   * first stream, then once per reconnection that opens one. It never fires
   * for an attempt that fails before that — no answer, a refusal (a 503, a
   * 429, ...) or an answer that is not an event stream (e.g. a proxy's HTML
   * page with status 200) — so between two `onOpen` calls there may be many
   * `onConnect` calls. Like `onConnect`'s, an exception it throws ends the
   * subscription: the connection is closed and the iterator throws it (it
   * is never taken for a connection failure and retried).
   */
  onOpen?: (open: SubscriptionOpen) => void;
}

/**
 * What {@link SubscribeOptions.onOpen} is told of an event stream that opened.
 *
 * @example
 * ```ts
 * const onOpen = ({ site, afterHeight, reconnect }: SubscriptionOpen) =>
 *   console.log(`${reconnect ? "Back" : "Open"} on ${site}, from height ${afterHeight + 1}`);
 * client.subscribe({ onOpen });
 * ```
 */
export interface SubscriptionOpen {
  /** The base URL of the site whose stream opened (as `onConnect` named it). */
  site: string;
  /**
   * The `Last-Event-ID` the connection sent, i.e. the height it resumes
   * after: `String(afterHeight)`, or undefined when it sent none (it starts at
   * height 0).
   */
  lastEventId: string | undefined;
  /** The height the stream resumes after, as `onConnect` had it (-1 for none). */
  afterHeight: number;
  /**
   * False for the first stream this subscription opened; true for every
   * later one (it opened again after a stream dropped, ended, or went
   * silent). Failed attempts do not count: a subscription whose first
   * attempts were refused is not reconnecting when one finally opens.
   */
  reconnect: boolean;
  /** The `X-Request-Id` the site answered with (or the one the client sent). */
  requestId: string;
}

/**
 * A raw answer: status, parsed body, and where it came from.
 *
 * @example
 * ```ts
 * const { status, body, requestId }: RawResponse<unknown> = await client.request(ROUTES.getStatus, {});
 * ```
 */
export interface RawResponse<T> {
  /** The HTTP status. */
  status: number;
  /** The body, parsed and checked against the route's response schema. */
  body: T;
  /**
   * The body exactly as the site sent it (the JSON or text that `body` was
   * parsed from), for a caller that must pass the answer on unchanged — a
   * command line's `--json`, an audit log. `body` may differ from it: the
   * schema drops members it does not declare, and object members come out
   * in the schema's order.
   */
  text: string;
  /** The response headers. */
  headers: Headers;
  /** The `X-Request-Id` the site answered with (or the one the client sent). */
  requestId: string | undefined;
  /** The base URL of the site that answered. */
  site: string;
}

interface Attempt {
  site: string;
  requestId: string;
}

const RETRYABLE_STATUSES = new Set([502, 503, 504]);
/** An event stream open this long before it dropped counts as a working connection. */
const SSE_HEALTHY_CONNECTION_MS = 10_000;

/**
 * The typed client. Construct one per consortium (it is cheap and holds only
 * its failover position).
 *
 * @example
 * ```ts
 * const client = new EdgeLedgerClient({
 *   urls: ["http://127.0.0.1:7001", "http://127.0.0.1:7002"],
 * });
 * const receipt = await client.submit(signedEnvelope, { wait: "commit" });
 * console.log(receipt.status, receipt.height);
 * const device = await client.identity.device(signedEnvelope.signers[0]);
 * ```
 */
export class EdgeLedgerClient {
  /** The sites, normalised (no trailing slash), in failover order. */
  readonly urls: readonly string[];
  /** `gov.*` state: organisations, sites, authorities, policies (`client.gov.consortium()`). */
  readonly gov: GovResource;
  /** `identity.*` state: devices by DID or key, DID documents, devices by name prefix. */
  readonly identity: IdentityResource;
  /** `asset.*` state: assets, balances, holders. */
  readonly asset: AssetResource;
  /** `custody.*` state: items and their provenance. */
  readonly custody: CustodyResource;
  /** `access.*` state: a stream's grants, a reader's grants, access checks. */
  readonly access: AccessResource;
  /** `data.*` state: streams, anchors, gaps, reading verification. */
  readonly data: DataResource;
  /** `roaming.*` state: periods, usage records, flags, statements. */
  readonly roaming: RoamingResource;
  readonly #timeoutMs: number;
  readonly #responseBytesMax: number;
  readonly #retry: ResolvedRetryPolicy;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof fetch;
  readonly #random: () => number;
  readonly #sendRequestId: boolean;
  #current = 0;
  /** The `ledger` option, or the ledger learned from the first site that told it; see {@link ledger}. */
  #ledger: string | undefined;
  readonly #ledgerPinned: boolean;
  /** Whether sites are checked at all: with the `ledger` option, or several URLs to mix up. */
  readonly #checksLedger: boolean;
  /** The sites whose ledger was checked (or, unpinned, could not be): used without asking again. */
  readonly #ledgerChecked = new Set<string>();
  /** The sites refused for serving another ledger, with why; never used again. */
  readonly #ledgerRefused = new Map<string, LedgerMismatchError>();
  readonly #readYourWrites: boolean;
  #sessionHeight = 0;

  /** Requires at least one http(s) URL; throws a `RangeError` otherwise. */
  constructor(options: ClientOptions) {
    const urls = typeof options.urls === "string" ? [options.urls] : [...options.urls];
    if (urls.length === 0) throw new RangeError("Cannot create client: no site URL given");
    this.urls = Object.freeze(urls.map((u) => u.replace(/\/+$/, "")));
    for (const u of this.urls) {
      if (!/^https?:\/\/[^/]+/.test(u)) {
        throw new RangeError(`Cannot create client: ${u} is not an http(s) URL`);
      }
    }
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#responseBytesMax = options.responseBytesMax ?? RESPONSE_BYTES_MAX_DEFAULT;
    if (!Number.isSafeInteger(this.#responseBytesMax) || this.#responseBytesMax <= 0) {
      throw new RangeError("Cannot create client: responseBytesMax must be a positive integer");
    }
    this.#retry = resolveRetryPolicy(options.retry);
    this.#headers = { ...(options.headers ?? {}) };
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#random = options.random ?? Math.random;
    this.#sendRequestId = options.sendRequestId ?? true;
    this.#readYourWrites = options.readYourWrites ?? true;
    this.#sessionHeight = options.sessionHeight ?? 0;
    if (!Number.isSafeInteger(this.#sessionHeight) || this.#sessionHeight < 0) {
      throw new RangeError("Cannot create client: sessionHeight must be an integer >= 0");
    }
    if (options.ledger !== undefined && options.ledger.length === 0) {
      throw new RangeError("Cannot create client: ledger must not be empty");
    }
    this.#ledger = options.ledger;
    this.#ledgerPinned = options.ledger !== undefined;
    this.#checksLedger = this.#ledgerPinned || this.urls.length > 1;
    this.gov = new GovResource(this);
    this.identity = new IdentityResource(this);
    this.asset = new AssetResource(this);
    this.custody = new CustodyResource(this);
    this.access = new AccessResource(this);
    this.data = new DataResource(this);
    this.roaming = new RoamingResource(this);
  }

  /** The site the next request goes to first. */
  get currentUrl(): string {
    return this.urls[this.#current];
  }

  /**
   * The highest block height of the committed receipts of this client's own
   * writes (0 before any): with `readYourWrites`, every read asks for it
   * as `minHeight`. Pass it as `sessionHeight` to another client (another
   * process, a device's next run) to carry the guarantee over.
   */
  get sessionHeight(): number {
    return this.#sessionHeight;
  }

  /**
   * The ledger this client is for: the `ledger` option, or — without it —
   * the ledger the first site that answered its status serves (undefined
   * until one did, and always for a client of one URL without the option).
   */
  get ledger(): string | undefined {
    return this.#ledger;
  }

  // ---- transactions ----------------------------------------------------

  /**
   * Submits one signed envelope (answered by its receipt) or several
   * (answered by their receipts, in order; sent in batches of at most
   * `BATCH_TXS_MAX`, one batch after another). Safe to repeat: the same
   * signed envelope is the same transaction, so a retry after a lost answer
   * returns the existing receipt instead of a second transaction.
   *
   * A single envelope that admission refuses throws {@link RejectedError}
   * (e.g. `slug === "bad_signature"`); in a batch a refused envelope is a
   * receipt with `status: "refused"` and its `problem`. A `duplicate`
   * refusal is answered with the existing transaction's receipt instead.
   *
   * @example
   * ```ts
   * const receipt = await client.submit(envelope, { wait: "commit" });
   * const receipts = await client.submit([e1, e2, e3]);
   * ```
   */
  submit(envelope: Envelope, options?: SubmitOptions): Promise<SubmittedReceipt>;
  /** Submits several envelopes in order; answers their receipts in the same order. */
  submit(envelopes: readonly Envelope[], options?: SubmitOptions): Promise<Receipt[]>;
  async submit(
    input: Envelope | readonly Envelope[],
    options: SubmitOptions = {},
  ): Promise<SubmittedReceipt | Receipt[]> {
    const waitTimeoutMs = options.wait === "commit" ? (options.waitTimeoutMs ?? 10_000) : 0;
    if (options.wait === "commit" && !(waitTimeoutMs >= 1 && waitTimeoutMs <= COMMIT_WAIT_MS_MAX)) {
      throw new RangeError(`Cannot submit: waitTimeoutMs must be in [1, ${COMMIT_WAIT_MS_MAX}]`);
    }
    const query = options.wait === "commit"
      ? { wait: "commit" as const, timeoutMs: waitTimeoutMs }
      : {};
    // The site may hold the answer up to waitTimeoutMs; the attempt must outlast it.
    const call = {
      signal: options.signal,
      timeoutMs: (options.timeoutMs ?? this.#timeoutMs) + waitTimeoutMs,
    };
    if (!Array.isArray(input)) {
      let res;
      try {
        res = await this.request(submitTxs, {
          query,
          body: input as unknown as Record<string, unknown>,
        }, call);
      } catch (e) {
        // A site that answers a resubmission with `duplicate` (instead of the
        // existing receipt) still means "already in": return that receipt.
        if (e instanceof RejectedError && e.slug === "duplicate") {
          return await this.#receiptOfDuplicate(input as Envelope, call);
        }
        throw e;
      }
      if ("receipts" in res.body) {
        throw this.#schemaError(res, "a receipt list answered a single envelope");
      }
      const receipt = res.body;
      const txId = txIdOf(input as Envelope);
      if (receipt.status === "refused" || receipt.txId === null) {
        throw this.#schemaError(
          res,
          `a "${receipt.status}" receipt without an id answered one envelope`,
        );
      }
      if (txId !== undefined && receipt.txId !== txId) {
        throw this.#schemaError(res, `the receipt is of transaction ${receipt.txId}, not ${txId}`);
      }
      this.#noteReceipt(receipt);
      return receipt as SubmittedReceipt;
    }
    const envelopes = input as readonly Envelope[];
    const out: Receipt[] = [];
    for (let i = 0; i < envelopes.length; i += BATCH_TXS_MAX) {
      const chunk = envelopes.slice(i, i + BATCH_TXS_MAX);
      const res = await this.request(submitTxs, {
        query,
        body: { txs: chunk as unknown as Record<string, unknown>[] },
      }, call);
      if (!("receipts" in res.body) || res.body.receipts.length !== chunk.length) {
        throw this.#schemaError(res, `expected ${chunk.length} receipts for the batch`);
      }
      for (let j = 0; j < chunk.length; j++) {
        const receipt = res.body.receipts[j];
        const duplicate = receipt.status === "refused" && receipt.problem !== undefined &&
          problemSlug(receipt.problem.type) === "duplicate";
        if (!duplicate) this.#noteReceipt(receipt);
        out.push(duplicate ? await this.#receiptOfDuplicate(chunk[j], call) : receipt);
      }
    }
    return out;
  }

  /**
   * The receipt of an envelope a site called a duplicate: the stored one,
   * or — when the site read does not know it yet (it is still pending, or
   * this replica is behind) — a pending receipt: a duplicate is "already
   * in", never a refusal of the transaction.
   */
  async #receiptOfDuplicate(
    envelope: Envelope,
    call: CallOptions | undefined,
  ): Promise<SubmittedReceipt> {
    const txId = transactionId(envelope);
    try {
      const res = await this.request(getTx, { params: { txId }, query: {} }, call);
      const { receipt } = res.body;
      if (receipt.txId !== txId || receipt.status === "refused") {
        throw this.#schemaError(
          res,
          `the "${receipt.status}" receipt of transaction ${receipt.txId} answered ${txId}`,
        );
      }
      this.#noteReceipt(receipt);
      return receipt as SubmittedReceipt;
    } catch (e) {
      if (e instanceof NotFoundError) return { txId, status: "pending" };
      throw e;
    }
  }

  /**
   * Polls until transaction `txId` is committed and returns its committed
   * receipt (with `height`, `logIndex`, `result`; `result.status` may be
   * `"rejected"` — committed and rejected by its contract). A site that does
   * not know the id yet (404) is polled again: another site may have
   * admitted it. From the third poll on, every other one asks at
   * `consistency=linearizable`: the site polled may be cut off from the
   * others (it never hears the commit; it refuses such a read, and the
   * client asks its next site at once) or behind. Throws
   * {@link CommitTimeoutError} after `timeoutMs`.
   *
   * @example
   * ```ts
   * const { txId } = await client.submit(envelope);
   * const receipt = await client.waitForCommit(txId, { timeoutMs: 20_000 });
   * ```
   */
  async waitForCommit(
    txId: string,
    options: WaitForCommitOptions = {},
  ): Promise<CommittedReceipt> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const pollMsMax = options.pollMsMax ?? 1000;
    // Monotonic: a device's clock that is set while it waits (NITZ, NTP, the
    // user) neither ends the wait early nor stretches it.
    const deadline = performance.now() + timeoutMs;
    // One signal bounds the whole wait, retries and pauses included.
    const bound = linkedAbort(options.signal, timeoutMs);
    let lastStatus: "unknown" | "pending" = "unknown";
    let lastError: EdgeLedgerError | undefined;
    // The answer that reported the transaction committed, once one did.
    let res: RawResponse<TxView> | undefined;
    try {
      for (let poll = 0;; poll++) {
        const remainingMs = deadline - performance.now();
        if (remainingMs <= 0) break;
        // A stale answer of a site cut off after it forwarded the transaction
        // stays "pending" however long it is asked: from the third poll on,
        // every other one asks a site that can show it is in touch with a quorum.
        const query = poll >= 2 && poll % 2 === 0 ? { consistency: "linearizable" as const } : {};
        try {
          res = await this.request(getTx, { params: { txId }, query }, {
            signal: bound.signal,
            timeoutMs: Math.min(this.#timeoutMs, remainingMs),
          });
          if (res.body.receipt.status === "committed") break;
          lastStatus = "pending";
          res = undefined;
        } catch (e) {
          if (bound.timedOut()) break;
          if (options.signal?.aborted) throw abortReason(options.signal);
          if (e instanceof NotFoundError) lastError = e;
          else if (e instanceof NetworkError || e instanceof ServerError) lastError = e;
          else throw e;
        }
        const pauseMs = Math.min(
          pollMsMax,
          50 * 2 ** Math.min(poll, 10),
          deadline - performance.now(),
        );
        if (pauseMs > 0) {
          try {
            await sleep(pauseMs, bound.signal);
          } catch (e) {
            if (bound.timedOut()) break;
            throw e;
          }
        }
      }
    } finally {
      bound.dispose();
    }
    if (res !== undefined) {
      // Checked out of the loop: an answer that breaks the contract is not polled again.
      const { receipt } = res.body;
      if (
        receipt.txId !== txId || receipt.height === undefined ||
        receipt.logIndex === undefined || receipt.result === undefined
      ) {
        throw this.#schemaError(
          res,
          `the committed receipt answered for ${txId} is of transaction ${receipt.txId} or ` +
            "lacks its height, logIndex or result",
        );
      }
      this.#noteReceipt(receipt);
      return receipt as CommittedReceipt;
    }
    throw new CommitTimeoutError(
      `Cannot confirm transaction ${txId}: not committed within ${timeoutMs} ms (${lastStatus})`,
      { txId, lastStatus, requestId: lastError?.requestId, site: lastError?.site },
    );
  }

  /**
   * The signed envelope of transaction `txId` and its receipt. Throws
   * {@link NotFoundError} for an unknown id.
   *
   * @example
   * ```ts
   * const { tx, receipt } = await client.getTx(txId);
   * ```
   */
  async getTx(
    txId: string,
    options: CallOptions & { consistency?: Consistency } = {},
  ): Promise<TxView> {
    const res = await this.request(getTx, {
      params: { txId },
      query: { consistency: options.consistency },
    }, options);
    return res.body;
  }

  /**
   * The RFC 9162 inclusion proof of committed transaction `txId` in the tree
   * of `treeSize` leaves (default: the latest checkpoint's size). The proof
   * is the site's claim: check it with `verifyInclusion` or the light client.
   *
   * @example
   * ```ts
   * const { logIndex, treeSize, leaf, proof } = await client.proof(txId, { treeSize: 42 });
   * ```
   */
  async proof(
    txId: string,
    options: CallOptions & { treeSize?: number; consistency?: Consistency } = {},
  ): Promise<ProofView> {
    const res = await this.request(getTxProof, {
      params: { txId },
      query: { treeSize: options.treeSize, consistency: options.consistency },
    }, options);
    return res.body;
  }

  // ---- blocks and the log ----------------------------------------------

  /**
   * One block, by height (a number) or by hash (64 lowercase hex
   * characters). Throws {@link NotFoundError} when absent.
   *
   * @example
   * ```ts
   * const genesis = await client.block(0);
   * const same = await client.block(genesis.hash);
   * ```
   */
  async block(
    heightOrHash: number | string,
    options: CallOptions & { consistency?: Consistency } = {},
  ): Promise<BlockView> {
    const query = { consistency: options.consistency };
    if (typeof heightOrHash === "number") {
      return (await this.request(getBlock, { params: { height: heightOrHash }, query }, options))
        .body;
    }
    return (await this.request(getBlockByHash, { params: { hash: heightOrHash }, query }, options))
      .body;
  }

  /**
   * Blocks in ascending height from `from`, fetched a page at a time as the
   * iteration proceeds (cursor `next` of `GET /v1/blocks`); ends at the head
   * or before `to`. Each page is one request with retries.
   *
   * @example
   * ```ts
   * for await (const block of client.blocks({ from: 1, to: 100 })) {
   *   console.log(block.header.height, block.txIds.length);
   * }
   * ```
   */
  async *blocks(options: BlocksOptions = {}): AsyncGenerator<BlockView, void, undefined> {
    const pageSize = options.pageSize ?? 100;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > BLOCKS_PAGE_LIMIT_MAX) {
      throw new RangeError(`Cannot list blocks: pageSize must be in [1, ${BLOCKS_PAGE_LIMIT_MAX}]`);
    }
    let from: number | null = options.from ?? 0;
    const to = options.to ?? Infinity;
    while (from !== null && from < to) {
      const limit: number = Math.min(pageSize, to - from);
      const res: RawResponse<ResponseOf<typeof listBlocks>> = await this.request(listBlocks, {
        query: { from, limit, consistency: options.consistency },
      }, options);
      const page = res.body;
      let last = from - 1;
      for (const block of page.blocks) {
        // A cursor that moves backwards or repeats would loop forever.
        if (block.header.height <= last) {
          throw this.#schemaError(res, "blocks are not in ascending height order");
        }
        last = block.header.height;
        if (last >= to) return;
        yield block;
      }
      if (page.next !== null && page.next <= from) {
        throw this.#schemaError(res, `the next cursor ${page.next} does not advance`);
      }
      from = page.next;
    }
  }

  /**
   * The latest co-signed checkpoint as the C2SP signed note the site served
   * (text). Unverified: pass it to the light client or `verifyNote`.
   *
   * @example
   * ```ts
   * const note = await client.checkpoint();
   * ```
   */
  async checkpoint(options: CallOptions & { consistency?: Consistency } = {}): Promise<string> {
    const res = await this.request(getCheckpoint, {
      query: { consistency: options.consistency },
    }, options);
    return res.body;
  }

  /**
   * The RFC 9162 consistency proof between tree sizes `from` and `to`
   * (`0 < from <= to <= logSize`), hex.
   *
   * @example
   * ```ts
   * const { proof } = await client.consistency(10, 42);
   * ```
   */
  async consistency(
    from: number,
    to: number,
    options: CallOptions & { consistency?: Consistency } = {},
  ): Promise<ConsistencyProofView> {
    const res = await this.request(getConsistency, {
      query: { from, to, consistency: options.consistency },
    }, options);
    return res.body;
  }

  // ---- cluster ----------------------------------------------------------

  /**
   * The status of the site that answers (the current failover site).
   *
   * @example
   * ```ts
   * const { height, role, leader } = await client.status();
   * ```
   */
  async status(options: CallOptions = {}): Promise<StatusView> {
    return (await this.request(getStatus, {}, options)).body;
  }

  /**
   * The member sites and their checkpoint verifier keys. Do not take trust
   * from this list: a light client's trusted keys come from configuration.
   *
   * @example
   * ```ts
   * const sites = await client.sites(); // [{ name, url, verifierKey }]
   * ```
   */
  async sites(options: CallOptions = {}): Promise<SiteView[]> {
    return (await this.request(listSites, {}, options)).body.sites;
  }

  /**
   * A member's keys: the one it signs with now, the rotations that led to
   * it (each signed by the key it retired and by the new one) and its
   * retired keys. As with {@link sites}, take no trust from the answer:
   * follow the rotations from a key you trust (`followKeyRotations`).
   *
   * @example
   * ```ts
   * const { verifierKey, rotations } = await client.siteKeys("site-b");
   * ```
   */
  async siteKeys(name: string, options: CallOptions = {}): Promise<SiteKeys> {
    return (await this.request(getSiteKeys, { params: { name } }, options)).body;
  }

  /**
   * Liveness of the current site (`GET /healthz`).
   *
   * @example
   * ```ts
   * await client.health(); // { status: "ok", version: "0.1.0" }
   * ```
   */
  async health(options: CallOptions = {}): Promise<HealthView> {
    return (await this.request(getHealth, {}, options)).body;
  }

  /**
   * Runs the site's integrity check (expensive; admin-only later).
   *
   * @example
   * ```ts
   * const { ok, firstMismatch } = await client.integrity();
   * ```
   */
  async integrity(options: CallOptions = {}): Promise<IntegrityReport> {
    return (await this.request(getIntegrity, {}, options)).body;
  }

  // ---- events -----------------------------------------------------------

  /**
   * Committed blocks as they happen, over Server-Sent Events, as an async
   * iterator. Every height at or after the start is delivered at most once
   * and in ascending order: when the connection drops (or the site ends the
   * stream, or goes silent past `idleMsMax`), the client reconnects — failing
   * over between sites, with backoff — and resumes after the last height it
   * saw via `Last-Event-ID`. With `kinds`/`signer`, blocks without a matching
   * transaction are skipped and `txs` holds only the matches.
   *
   * A connection counts as failed when it gets no answer, a retryable
   * refusal, or an answer that is not an event stream. `onConnect` is told of
   * every attempt, `onOpen` of every stream that opened.
   *
   * The iterator ends without error when `signal` aborts or the loop breaks;
   * it throws after `reconnectAttemptsMax` consecutive failed connections, on
   * a refusal whose `Retry-After` exceeds the retry policy's
   * `retryAfterMsMax` (a shorter one is waited before reconnecting), on
   * a non-retryable error (e.g. a {@link ValidationError} for a bad filter),
   * or with what `onConnect` or `onOpen` threw.
   *
   * @example
   * ```ts
   * const stop = new AbortController();
   * for await (const block of client.subscribe({ kinds: ["data.anchor"], signal: stop.signal })) {
   *   for (const tx of block.txs) console.log(block.height, tx.txId, tx.result.status);
   * }
   * ```
   */
  async *subscribe(options: SubscribeOptions = {}): AsyncGenerator<BlockEvent, void, undefined> {
    const idleMsMax = options.idleMsMax ?? 45_000;
    const attemptsMax = options.reconnectAttemptsMax ?? 100;
    const outer = options.signal;
    if (
      options.fromHeight !== undefined &&
      (!Number.isSafeInteger(options.fromHeight) || options.fromHeight < 0)
    ) {
      throw new RangeError("Cannot subscribe: fromHeight must be an integer >= 0");
    }
    let after: number;
    try {
      after = options.fromHeight !== undefined
        ? options.fromHeight - 1
        : (await this.status({ signal: outer })).height;
    } catch (e) {
      if (outer?.aborted) return;
      throw e;
    }
    const query: { kind?: string; signer?: string; from?: number } = {};
    if (options.kinds !== undefined && options.kinds.length > 0) {
      query.kind = options.kinds.join(",");
    }
    if (options.signer !== undefined) query.signer = options.signer;
    let failures = 0;
    let lastError: unknown;
    let opened = false;
    while (!outer?.aborted) {
      const site = this.#siteToUse();
      const requestId = newRequestId();
      const connection = linkedAbort(outer);
      let idleTimer: ReturnType<typeof setTimeout> | undefined;
      const armIdle = () => {
        if (idleTimer !== undefined) clearTimeout(idleTimer);
        idleTimer = setTimeout(
          () =>
            connection.abort(
              namedError("TimeoutError", `No event for ${idleMsMax} ms`),
            ),
          idleMsMax,
        );
      };
      let delivered = false;
      let openedAt: number | undefined;
      try {
        armIdle();
        const q = after >= 0 ? query : { ...query, from: 0 };
        const headers: Record<string, string> = after >= 0
          ? { "last-event-id": String(after) }
          : {};
        const checked = await this.#checkLedger(site, requestId, connection.signal);
        // Refused for good and failed over from: the next site at once.
        if (checked instanceof LedgerMismatchError) continue;
        if (checked !== undefined) {
          if (!isRetryableError(checked)) throw checked;
          throw new SubscribeRetry(checked);
        }
        callHook(options.onConnect, site, after);
        const response = await this.#fetchOnce(
          streamEvents,
          streamEvents.path,
          { query: q, headers },
          site,
          requestId,
          connection.signal,
          "text/event-stream",
        );
        if (!response.ok) {
          const error = await this.#errorFromResponse(response, { site, requestId });
          if (!isRetryableError(error)) throw error;
          throw new SubscribeRetry(error);
        }
        const type = mediaTypeOf(response.headers);
        if (response.body === null || type !== "text/event-stream") {
          // A proxy's or captive portal's page, say: retried like a site that is down.
          await response.body?.cancel().catch(() => {});
          const got = response.body === null
            ? "no body"
            : type === ""
            ? "no content type"
            : `content type "${type}"`;
          throw new SubscribeRetry(
            new ServerError(`Cannot subscribe: the site sent no event stream (${got})`, {
              status: response.status,
              requestId,
              site,
            }),
          );
        }
        openedAt = performance.now();
        callHook(options.onOpen, {
          site,
          lastEventId: headers["last-event-id"],
          afterHeight: after,
          reconnect: opened,
          requestId: response.headers.get("x-request-id") ?? requestId,
        });
        opened = true;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SseParser();
        try {
          let ended = false;
          while (!ended) {
            const { value, done } = await reader.read();
            if (done) break;
            armIdle();
            for (const d of parser.push(value)) {
              const height = /^(0|[1-9][0-9]{0,15})$/.test(d.id) ? Number(d.id) : undefined;
              if (d.event === "end") {
                // The site closes after this (e.g. slow_consumer): reconnect and resume.
                ended = true;
                break;
              }
              if (d.event === "block" && d.data !== undefined) {
                const event = this.#parseBlockEvent(d.data, site, requestId);
                if (event.height <= after) continue;
                failures = 0;
                delivered = true;
                after = event.height;
                yield event;
                if (outer?.aborted) return;
              } else if (d.data === undefined && height !== undefined && height > after) {
                // A filtered-out block: move the resume point past it.
                after = height;
                failures = 0;
              }
            }
          }
        } finally {
          reader.cancel().catch(() => {});
        }
        // A clean end of stream: reconnect at once the first time.
        lastError = new NetworkError("Event stream ended", { site, requestId });
      } catch (e) {
        // A hook's exception is the caller's, whatever its type: never a
        // connection failure to retry, nor swallowed by an abort.
        if (e instanceof HookFailure) throw e.error;
        if (outer?.aborted) return;
        if (e instanceof SubscribeRetry) lastError = e.error;
        else if (e instanceof NetworkError || isAbortLike(e)) {
          lastError = e instanceof NetworkError
            ? e
            : new NetworkError(`Cannot read events from ${site}: ${errorText(e)}`, {
              site,
              requestId,
              cause: e,
              timedOut: true,
            });
        } else if (e instanceof TypeError) {
          // fetch and stream reads fail with TypeError on connection loss.
          lastError = new NetworkError(`Cannot read events from ${site}: ${e.message}`, {
            site,
            requestId,
            cause: e,
          });
        } else {
          throw e;
        }
        if (lastError instanceof NetworkError) this.#ledgerChecked.delete(site);
        this.#failover(site);
      } finally {
        if (idleTimer !== undefined) clearTimeout(idleTimer);
        connection.abort();
        connection.dispose();
      }
      // A connection that delivered blocks, or stayed open a while (a quiet
      // ledger behind a proxy that closes idle streams), was not a failure.
      const healthy = delivered ||
        (openedAt !== undefined && performance.now() - openedAt >= SSE_HEALTHY_CONNECTION_MS);
      if (healthy) failures = 0;
      else failures++;
      if (failures >= attemptsMax) throw lastError;
      if (failures > 0) {
        const retryAfterMs = lastError instanceof RateLimitedError
          ? lastError.retryAfterMs
          : lastError instanceof ServerError
          ? (lastError.retryAfterMs ?? 0)
          : 0;
        // As for a call: a site that asks for a longer wait than the policy
        // honours ends the reconnects (the caller may subscribe again later).
        if (retryAfterMs > this.#retry.retryAfterMsMax) throw lastError;
        const delayMs = Math.max(
          retryAfterMs,
          backoffDelayMs(failures - 1, this.#retry, this.#random),
        );
        try {
          await sleep(delayMs, outer);
        } catch {
          return;
        }
      }
    }
  }

  // ---- the generic call -------------------------------------------------

  /**
   * Calls any public route by its shared definition (`ROUTES.<name>`) with
   * typed input and a schema-checked, typed answer, retrying and failing over
   * per the client's policy. The named methods above are built on this; use
   * it for routes added later. Path parameters are percent-encoded as one
   * segment each; one no URL can carry (`""`, `"."`, `".."`) is a
   * `RangeError` before any attempt.
   *
   * @example
   * ```ts
   * import { ROUTES } from "../api/routes.ts";
   * const { body } = await client.request(ROUTES.getBlock, { params: { height: 3 } });
   * ```
   */
  async request<R extends RouteDefinition>(
    route: R,
    input: RequestInput<R>,
    options: CallOptions = {},
  ): Promise<RawResponse<ResponseOf<R>>> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    // Built once, before any attempt: a parameter no URL can carry is the
    // caller's mistake (a RangeError now), not a site failure to retry.
    const path = fillPath(route.path, (input as CallInput).params ?? {});
    const call = this.#withMinHeight(route, input as CallInput, options);
    // The session's height, when this read asks for it (not one the caller gave).
    const sessionAsked = (input as CallInput).query?.minHeight === undefined &&
        options.minHeight === undefined
      ? call.query?.minHeight as number | undefined
      : undefined;
    /** The heights sites said they had applied when refusing this read's `minHeight`. */
    const behindAt: number[] = [];
    const tried = new Set<string>();
    let lastError: EdgeLedgerError | undefined;
    for (let attempt = 0; attempt < this.#retry.attemptsMax; attempt++) {
      const site = this.#siteToUse();
      tried.add(site);
      const requestId = newRequestId();
      const attemptAbort = linkedAbort(options.signal, timeoutMs);
      let error: EdgeLedgerError;
      let sameSite = false;
      try {
        const checked = await this.#checkLedger(site, requestId, attemptAbort.signal);
        if (checked instanceof LedgerMismatchError) {
          // Refused for good and failed over from: the next site at once,
          // without spending an attempt (#siteToUse throws when none is left).
          attempt--;
          continue;
        }
        // A status the site could not answer now fails the attempt like any answer.
        const response = checked === undefined
          ? await this.#fetchOnce(
            route,
            path,
            call,
            site,
            requestId,
            attemptAbort.signal,
          )
          : undefined;
        if (response?.ok) {
          return await this.#parseSuccess(route, response, { site, requestId });
        }
        error = checked ?? await this.#errorFromResponse(response!, { site, requestId });
        if (!isRetryableError(error)) throw error;
        // A 429 is about the caller, not the site: wait, same site.
        sameSite = error instanceof RateLimitedError;
        // A `leader` read asked of a follower that names the leader: the
        // leader next, at once, when it is one of this client's sites (a URL
        // the answer names is never sent this client's keys otherwise);
        // when it is none, asking this follower again cannot help.
        const leader = leaderNamed(error);
        if (leader !== undefined) {
          const at = this.urls.indexOf(leader.replace(/\/+$/, ""));
          if (at >= 0 && !tried.has(this.urls[at])) {
            lastError = error;
            this.#current = at;
            continue;
          }
          if (at < 0 && this.urls.every((u) => tried.has(u))) throw error;
        }
      } catch (e) {
        if (options.signal?.aborted) throw abortReason(options.signal);
        if (e instanceof EdgeLedgerError) throw e;
        error = new NetworkError(
          attemptAbort.timedOut()
            ? `Cannot reach ${site}: no answer within ${timeoutMs} ms`
            : `Cannot reach ${site}: ${errorText(e)}`,
          { site, requestId, cause: e, timedOut: attemptAbort.timedOut() },
        );
        // What answers at that URL once it is back may be another process: ask again.
        this.#ledgerChecked.delete(site);
      } finally {
        attemptAbort.dispose();
      }
      lastError = error;
      if (behind(error)) {
        const at = (error as ServerError).problem?.height;
        if (typeof at === "number" && Number.isSafeInteger(at)) behindAt.push(at);
      }
      if (attempt + 1 >= this.#retry.attemptsMax) break;
      if (!sameSite) this.#failover(site);
      const hintMs = error instanceof RateLimitedError
        ? error.retryAfterMs
        : error instanceof ServerError
        ? error.retryAfterMs
        : undefined;
      // Another site that has not failed in this call is worth trying at once:
      // after no answer, a 503 (this site is busy, stopping, cut off from the
      // leader, or has not applied the read's `minHeight`; its Retry-After is
      // about asking it again, however long), or a follower naming the leader.
      const freshSite = !sameSite && !tried.has(this.urls[this.#current]) &&
        (error instanceof NetworkError || (error instanceof ServerError && error.status === 503));
      if (!freshSite && hintMs !== undefined && hintMs > this.#retry.retryAfterMsMax) break;
      const delayMs = freshSite
        ? 0
        : Math.max(hintMs ?? 0, backoffDelayMs(attempt, this.#retry, this.#random));
      await sleep(delayMs, options.signal);
    }
    if (
      sessionAsked !== undefined && sessionAsked === this.#sessionHeight && behind(lastError!) &&
      behindAt.length > 0 && this.urls.every((u) => tried.has(u))
    ) {
      // No site has applied the session's height: a site lied about a receipt,
      // or the ledger was set back (a restore, force-new-cluster). This call
      // fails saying so; later reads ask for the highest height a site has.
      this.#sessionHeight = Math.max(...behindAt);
    }
    throw lastError!;
  }

  /**
   * `input` with `minHeight` for a read of the public API (a `GET`, or the
   * `POST` of `verify-reading`): the call's own, else the session's with
   * `readYourWrites`; none for 0, writes, the event stream and the admin
   * routes, and the session's none for a site's own state. A `RangeError`
   * for a value that is not an integer >= 0 (a write's too).
   */
  #withMinHeight(route: RouteDefinition, input: CallInput, options: CallOptions): CallInput {
    const h = options.minHeight ?? (this.#readYourWrites ? this.#sessionHeight : 0);
    if (!Number.isSafeInteger(h) || h < 0) {
      throw new RangeError(
        `Cannot call ${route.path}: minHeight must be an integer >= 0, not ${h}`,
      );
    }
    const read = route.method === "get"
      ? route.path.startsWith("/v1/") && route.path !== "/v1/events" &&
        !route.path.startsWith("/v1/admin/")
      : route.path === "/v1/streams/{stream}/verify-reading";
    if (h === 0 || !read || input.query?.minHeight !== undefined) return input;
    // A site's own state (its status, the members, its integrity) is asked of
    // that site as it is now: the session's height goes only with reads of the
    // ledger's data. A height the call gives goes with any read.
    if (options.minHeight === undefined && SITE_STATE_PATHS.has(route.path)) return input;
    return { ...input, query: { ...input.query, minHeight: h } };
  }

  /**
   * Raises the session height to a committed receipt's, once the call that
   * got it has checked it is the receipt it asked for.
   */
  #noteReceipt(receipt: { status: string; height?: number }): void {
    if (
      receipt.status === "committed" && receipt.height !== undefined &&
      receipt.height > this.#sessionHeight
    ) {
      this.#sessionHeight = receipt.height;
    }
  }

  #failover(failedSite: string): void {
    // Only move on if no concurrent call already did.
    if (this.urls[this.#current] === failedSite) {
      this.#current = (this.#current + 1) % this.urls.length;
    }
  }

  /**
   * The current site, moving past those refused for serving another ledger;
   * throws the first refusal's {@link LedgerMismatchError} when every site was refused.
   */
  #siteToUse(): string {
    for (let i = 0; i < this.urls.length; i++) {
      const site = this.urls[this.#current];
      if (!this.#ledgerRefused.has(site)) return site;
      this.#current = (this.#current + 1) % this.urls.length;
    }
    throw this.#ledgerRefused.values().next().value!;
  }

  /**
   * Makes sure `site` serves the client's ledger before anything else is
   * sent to it (see {@link ClientOptions.ledger}): asks its
   * `GET /v1/status` unless it was checked already. Answers undefined when
   * the site may be used; the error of the status's answer when that fails
   * the attempt (a 5xx, a 429, with the `ledger` option an answer that is
   * no status or a 401 / 403 for want of credentials); a
   * {@link LedgerMismatchError} when the site was refused for good (the
   * client has failed over from it). No answer throws, as a fetch does. Any
   * other refusal of the status (4xx) refuses the site with the `ledger`
   * option; without it, a site whose status is refused or unreadable is used
   * unchecked.
   */
  async #checkLedger(
    site: string,
    requestId: string,
    signal: AbortSignal,
  ): Promise<EdgeLedgerError | undefined> {
    if (!this.#checksLedger || this.#ledgerChecked.has(site)) return undefined;
    // Under the call's request id: a site's log ties the question to the call it precedes.
    const response = await this.#fetchOnce(getStatus, getStatus.path, {}, site, requestId, signal);
    let served: string | undefined;
    let failure: EdgeLedgerError | undefined;
    if (response.ok) {
      try {
        served = (await this.#parseSuccess(getStatus, response, { site, requestId })).body.ledger;
      } catch (e) {
        if (!(e instanceof ServerError)) throw e;
        // No status at all (a captive portal's page, say) may be gone next
        // time: with the option it fails this attempt, as any such answer does.
        if (this.#ledgerPinned) return e;
        failure = e;
      }
    } else {
      const error = await this.#errorFromResponse(response, { site, requestId });
      // The site failed, or asks to slow down: says nothing of its ledger.
      if (isRetryableError(error) || error instanceof ServerError) return error;
      // It wants credentials this client lacks (an API key): that is the
      // call's answer — its own would be the same — and no verdict on the
      // site, which is asked again once the client has them.
      if (this.#ledgerPinned && (response.status === 401 || response.status === 403)) {
        return error;
      }
      failure = error;
    }
    if (served === undefined && !this.#ledgerPinned) {
      // Nothing to learn from a site that will not say: it is used unchecked
      // (refusing it would break a client that worked before it checked).
      this.#ledgerChecked.add(site);
      return undefined;
    }
    this.#ledger ??= served;
    if (served === this.#ledger) {
      this.#ledgerChecked.add(site);
      return undefined;
    }
    const expected = this.#ledger!;
    const why = this.#ledgerPinned
      ? `the client's ledger option`
      : "the ledger the first site that answered serves";
    const refusal = new LedgerMismatchError(
      served === undefined
        ? `Cannot use ${site}: it does not say which ledger it serves, and the client is for ` +
          `ledger ${JSON.stringify(expected)} (${why}): ${failure!.message}`
        : `Cannot use ${site}: it serves ledger ${JSON.stringify(served)}, not ` +
          `${JSON.stringify(expected)} (${why})`,
      { expected, actual: served, site, requestId, cause: failure },
    );
    this.#ledgerRefused.set(site, refusal);
    this.#failover(site);
    return refusal;
  }

  /** One attempt at `route`; `path` is its path with the parameters filled in ({@link fillPath}). */
  async #fetchOnce(
    route: RouteDefinition,
    path: string,
    input: CallInput,
    site: string,
    requestId: string,
    signal: AbortSignal,
    accept?: string,
  ): Promise<Response> {
    const url = new URL(site + path);
    for (const [k, v] of Object.entries(input.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = {
      ...this.#headers,
      // Generic on purpose: a route that offers a specific type (e.g.
      // application/did+json) then answers plain JSON, which every client reads.
      accept: accept ?? "application/json, application/problem+json, text/plain",
    };
    for (const [k, v] of Object.entries(input.headers ?? {})) {
      if (v !== undefined) headers[k] = String(v);
    }
    if (this.#sendRequestId) headers["x-request-id"] = requestId;
    let body: string | undefined;
    if (input.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(input.body);
    }
    return await this.#fetch(url, {
      method: route.method.toUpperCase(),
      headers,
      body,
      signal,
    });
  }

  async #parseSuccess<R extends RouteDefinition>(
    route: R,
    response: Response,
    attempt: Attempt,
  ): Promise<RawResponse<ResponseOf<R>>> {
    const requestId = response.headers.get("x-request-id") ?? attempt.requestId;
    const declared = route.responses[response.status] as
      | { content?: Record<string, { schema?: z.ZodType }> }
      | undefined;
    const raw: RawResponse<unknown> = {
      status: response.status,
      body: undefined,
      text: "",
      headers: response.headers,
      requestId,
      site: attempt.site,
    };
    if (declared?.content === undefined) {
      await response.body?.cancel();
      throw this.#schemaError(raw, `status ${response.status} is not one the route declares`);
    }
    // The schema of the media type the site answered with; a JSON answer
    // (`application/json` or `*+json`) may use any JSON type the route declares.
    const mediaType = mediaTypeOf(response.headers);
    const declaredTypes = Object.keys(declared.content);
    const chosen = declared.content[mediaType] !== undefined
      ? mediaType
      : isJsonMediaType(mediaType) || mediaType === ""
      ? declaredTypes.find(isJsonMediaType)
      : declaredTypes.find((t) => t === "text/plain");
    const jsonSchema = chosen !== undefined && isJsonMediaType(chosen)
      ? declared.content[chosen]?.schema
      : undefined;
    if (jsonSchema !== undefined) {
      // The whole body first: a read that fails (connection reset, the
      // attempt's timeout) throws as it is and becomes a NetworkError in
      // request(), retried like any other; only a body that arrived complete
      // and does not parse breaks the schema.
      const text = await this.#bodyText(response, attempt);
      raw.text = text;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        throw this.#schemaError(raw, `the body is not JSON (${errorText(e)})`);
      }
      const parsed = jsonSchema.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw this.#schemaError(
          raw,
          `${issue.path.join(".") || "(root)"}: ${issue.message}`,
        );
      }
      raw.body = parsed.data;
    } else if (chosen === "text/plain") {
      raw.text = await this.#bodyText(response, attempt);
      raw.body = raw.text;
    } else {
      await response.body?.cancel();
      throw this.#schemaError(raw, "the route declares no body the client can read");
    }
    return raw as RawResponse<ResponseOf<R>>;
  }

  /**
   * The body as text, at most `responseBytesMax` bytes of it: a declared or
   * streamed length beyond that cancels the body and throws a ServerError.
   * A failed read throws as it is (a NetworkError in request()).
   */
  async #bodyText(response: Response, attempt: Attempt): Promise<string> {
    const max = this.#responseBytesMax;
    const tooLarge = async (size: string) => {
      await response.body?.cancel().catch(() => {});
      return new ServerError(
        `Cannot use the answer of ${attempt.site}: its body is ${size}, over responseBytesMax (${max})`,
        {
          status: response.status,
          requestId: response.headers.get("x-request-id") ?? attempt.requestId,
          site: attempt.site,
        },
      );
    };
    const declared = Number(response.headers.get("content-length") ?? NaN);
    if (declared > max) throw await tooLarge(`${declared} bytes`);
    // A fetch without streaming bodies (some React Native builds) reads it whole.
    if (response.body === null) return await response.text();
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > max) {
        reader.releaseLock();
        throw await tooLarge(`more than ${max} bytes`);
      }
      chunks.push(value);
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.byteLength;
    }
    return new TextDecoder().decode(bytes);
  }

  #schemaError(res: RawResponse<unknown>, detail: string): ServerError {
    return new ServerError(
      `Cannot use the answer of ${res.site}: it breaks the API schema: ${detail}`,
      { status: res.status, requestId: res.requestId, site: res.site },
    );
  }

  async #errorFromResponse(response: Response, attempt: Attempt): Promise<EdgeLedgerError> {
    const requestId = response.headers.get("x-request-id") ?? attempt.requestId;
    const retryAfterMs = parseRetryAfterMs(
      response.headers.get("retry-after"),
      serverNowMs(response.headers.get("date")),
    );
    let problem: ProblemDetails | undefined;
    // A body that breaks off is no answer: the read's error is thrown as it
    // is (a NetworkError in request()), never taken for a 4xx without a
    // problem document, which would be a refusal.
    const text = await this.#bodyText(response, attempt);
    const type = response.headers.get("content-type") ?? "";
    if (type.includes("json")) {
      try {
        const parsed = ProblemSchema.safeParse(JSON.parse(text));
        if (parsed.success) problem = parsed.data as ProblemDetails;
      } catch {
        // Not a problem document; described below from the status.
      }
    }
    const detail = problem?.detail ?? (text.slice(0, 200) || response.statusText);
    // The message names the bad fields too: `invalid_body` lists them only in `errors`.
    const message = `${response.status} from ${attempt.site}: ${
      problem ? `${problem.title}: ${describeProblem(problem)}` : detail
    }`;
    const base = { requestId, site: attempt.site };
    const status = response.status;
    if (status === 429) {
      return new RateLimitedError(message, { ...base, retryAfterMs: retryAfterMs ?? 0, problem });
    }
    if (status >= 400 && status < 500 && problem !== undefined) {
      if (problemSlug(problem.type) === "validation") {
        return new ValidationError(message, {
          ...base,
          problem,
          issues: Array.isArray(problem.errors) ? problem.errors as ValidationError["issues"] : [],
        });
      }
      if (problemSlug(problem.type) === "not_found") {
        return new NotFoundError(message, { ...base, problem });
      }
      return new RejectedError(message, { ...base, problem });
    }
    if (status >= 400 && status < 500) {
      // A 4xx without a problem document (e.g. from a proxy): still a refusal.
      return new RejectedError(message, {
        ...base,
        problem: { type: "about:blank", title: response.statusText, status, detail },
      });
    }
    return new ServerError(message, { ...base, status, problem, retryAfterMs });
  }

  #parseBlockEvent(data: string, site: string, requestId: string): BlockEvent {
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      throw new ServerError(`Cannot use an event from ${site}: its data is not JSON`, {
        status: 200,
        site,
        requestId,
      });
    }
    const parsed = BlockEventSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ServerError(
        `Cannot use an event from ${site}: it breaks the API schema: ${
          issue.path.join(".") || "(root)"
        }: ${issue.message}`,
        { status: 200, site, requestId },
      );
    }
    return parsed.data;
  }
}

/** Every public route, re-exported for {@link EdgeLedgerClient.request}. */
export { ROUTES };

interface CallInput {
  params?: Record<string, unknown>;
  query?: Record<string, unknown>;
  headers?: Record<string, unknown>;
  body?: unknown;
}

class SubscribeRetry {
  constructor(readonly error: EdgeLedgerError) {}
}

/** An exception of a caller's hook, carried past the subscription's retry handling unchanged. */
class HookFailure {
  constructor(readonly error: unknown) {}
}

/** Calls `hook` (if any) with `args`; what it throws comes out as a {@link HookFailure}. */
function callHook<A extends unknown[]>(hook: ((...args: A) => void) | undefined, ...args: A): void {
  try {
    hook?.(...args);
  } catch (e) {
    throw new HookFailure(e);
  }
}

/** The media type of `Content-Type`, lowercase and without parameters; "" when there is none. */
function mediaTypeOf(headers: Headers): string {
  return (headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
}

/**
 * The leader's URL a `not_leader` answer names (a read at `consistency=leader`
 * asked of another site), or undefined: another answer, or no leader known
 * (an election: worth asking again after `Retry-After`).
 */
function leaderNamed(error: EdgeLedgerError): string | undefined {
  if (!(error instanceof ServerError) || error.problem === undefined) return undefined;
  if (problemSlug(error.problem.type) !== "not_leader") return undefined;
  const url = error.problem.leaderUrl;
  return typeof url === "string" && /^https?:\/\//.test(url) ? url : undefined;
}

/** Reads of a site's own state, which the session's height does not go with. */
const SITE_STATE_PATHS: ReadonlySet<string> = new Set([
  "/v1/status",
  "/v1/sites",
  "/v1/sites/{name}/keys",
  "/v1/integrity",
]);

/** Whether `error` is a site's 503 for a read's `minHeight` it has not applied. */
function behind(error: EdgeLedgerError): boolean {
  return error instanceof ServerError && error.problem !== undefined &&
    problemSlug(error.problem.type) === "unavailable" && error.problem.minHeight !== undefined;
}

function isRetryableError(error: EdgeLedgerError): boolean {
  if (error instanceof NetworkError || error instanceof RateLimitedError) return true;
  if (!(error instanceof ServerError) || !RETRYABLE_STATUSES.has(error.status)) return false;
  if (error.problem === undefined) return true;
  // 504 commit_timeout comes from the admin routes (a membership change or
  // key rotation proposed but not applied in time: it may still take
  // effect); asking again would propose it again. `POST /v1/txs?wait=commit`
  // never answers it: a wait that times out is a 202 pending receipt. One answering
  // 503 insufficient_storage speaks for the whole cluster (a site is low on
  // disk space, for minutes or hours): another site, or this one in 30 s,
  // answers the same, so the caller hears it at once (an offline queue
  // keeps the transaction for later).
  const slug = problemSlug(error.problem.type);
  return slug !== "commit_timeout" && slug !== "insufficient_storage";
}

/** The transaction id of `envelope`, or undefined when it cannot be computed (then the site's is not checked). */
function txIdOf(envelope: Envelope): string | undefined {
  try {
    return transactionId(envelope);
  } catch {
    return undefined;
  }
}

/**
 * An error's message, with its cause's when it has one: a fetch that failed
 * says only "fetch failed", and its cause why (a connection refused, reset
 * or closed before the answer), which is what a caller needs to read.
 */
function errorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e.cause as { message?: unknown } | undefined)?.message;
  if (typeof cause !== "string" || cause === "" || e.message.includes(cause)) return e.message;
  // Deno's cause repeats the URL the error already names.
  return `${e.message}: ${cause.replace(/^error sending request .*?\): /, "")}`;
}

function isJsonMediaType(type: string): boolean {
  return type === "application/json" || type.endsWith("+json");
}
