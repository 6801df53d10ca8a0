/**
 * The offline queue (DESIGN §7): signed transactions wait here while no site
 * can be reached and are submitted, in order, when one can.
 *
 * Guarantees:
 * - **Order.** Entries are submitted oldest first, one batch at a time; a
 *   batch is sent only after the previous one was answered.
 * - **No duplicates.** Entries are keyed by transaction id: queueing the same
 *   signed transaction twice keeps one entry, and a resubmission after a
 *   lost answer is the same transaction at the site (idempotent by id).
 * - **Nothing lost silently.** An entry leaves the queue only when a site
 *   committed it (`delivered`; by default the queue waits for commit, so a
 *   site that crashes before committing what it admitted loses nothing),
 *   refused it for good (`rejected`), a site refused it as expired once this
 *   device's clock also says it has expired, or it was expired when queued
 *   (`expired`: a site is asked, as an earlier attempt whose answer was lost
 *   may have committed it; a site whose clock runs ahead refuses it early,
 *   and the entry stays queued), or the drop policy dropped it (`dropped`) — each reported by
 *   a callback and in the returned lists. A `duplicate` answer means "already
 *   in", never a refusal: like the client, the queue takes it for pending
 *   until a lookup shows the transaction committed, and a `not_found` answer
 *   to a submission (the lookup of a duplicate a site does not show yet, or a
 *   request that reached no submit route) refuses no transaction: the entry
 *   stays queued and is tried again later.
 * - **Bounded.** At most `sizeMax` entries; when full, `"reject-new"` refuses
 *   the new one ({@link QueueFullError}), `"drop-oldest"` drops the oldest —
 *   after the new one is stored, so the store briefly holds `sizeMax + 1`.
 *
 * @module
 */

import type { Envelope } from "../envelope.ts";
import { transactionId } from "../envelope.ts";
import type { Receipt } from "../client/client.ts";
import {
  EdgeLedgerError,
  NetworkError,
  type ProblemDetails,
  problemSlug,
  RateLimitedError,
  RejectedError,
  ServerError,
  ValidationError,
} from "../client/errors.ts";
import { PROBLEM_TYPE_BASE } from "../api/schemas.ts";
import { MemoryQueueStore, type QueuedTx, type QueueStore } from "./store.ts";

/**
 * What the queue needs from a client: {@link EdgeLedgerClient} provides it.
 *
 * @example
 * ```ts
 * const submitter: Submitter = new EdgeLedgerClient({ urls });
 * ```
 */
export interface Submitter {
  /** Submits envelopes in order and answers one receipt per envelope, in order. */
  submit(
    envelopes: readonly Envelope[],
    options?: { signal?: AbortSignal; wait?: "commit"; waitTimeoutMs?: number },
  ): Promise<Receipt[]>;
  /**
   * Looks a transaction up; throws a `not_found` {@link RejectedError} for
   * one the site does not show. Optional: with it the queue learns what
   * became of a transaction a site answered `duplicate` (an
   * `EdgeLedgerClient` does that lookup itself and never answers
   * `duplicate`); without it such an entry counts as pending.
   */
  getTx?(txId: string, options?: { signal?: AbortSignal }): Promise<{ receipt: Receipt }>;
}

/**
 * What happens when the queue is full.
 *
 * @example
 * ```ts
 * new OfflineQueue({ submitter, dropPolicy: "drop-oldest" satisfies DropPolicy });
 * ```
 */
export type DropPolicy = "reject-new" | "drop-oldest";

/**
 * Options of {@link OfflineQueue}. Every limit has a default; units are in the names.
 *
 * @example
 * ```ts
 * const options: OfflineQueueOptions = { submitter: client, sizeMax: 500 };
 * const queue = new OfflineQueue(options);
 * ```
 */
export interface OfflineQueueOptions {
  /** Sends the transactions; usually an `EdgeLedgerClient`. */
  submitter: Submitter;
  /** Where entries live. Default: a {@link MemoryQueueStore}. */
  store?: QueueStore;
  /** Largest number of entries. Default 1000. */
  sizeMax?: number;
  /** What to do when full. Default `"reject-new"`. */
  dropPolicy?: DropPolicy;
  /** Entries per submission while draining (1–1000). Default 100. */
  batchTxsMax?: number;
  /**
   * When an entry counts as delivered and leaves the queue:
   * `"committed"` (default) — drain submits with `wait=commit` and keeps an
   * entry until a site reports it committed, so a site that crashes with
   * admitted-but-uncommitted transactions loses nothing; `"admitted"` —
   * as soon as a site admits it (faster, trusts the site's durability).
   */
  deliveredWhen?: "committed" | "admitted";
  /** With `deliveredWhen: "committed"`, how long a site waits for commit per batch, in milliseconds. Default 10000. */
  commitWaitMs?: number;
  /** The clock, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Called with entries that expired before a site accepted them. */
  onExpired?: (entries: QueuedTx[]) => void;
  /** Called with entries the drop policy dropped to make room. */
  onDropped?: (entries: QueuedTx[]) => void;
  /** Called with entries a site accepted, with their receipts. */
  onDelivered?: (delivered: Delivered[]) => void;
  /**
   * Called with entries a site refused for good (bad signature, wrong
   * ledger, ...). Never with a `duplicate` or `not_found` answer: those
   * keep the entry queued (see {@link OfflineQueue.drain}).
   */
  onRejected?: (rejected: Rejected[]) => void;
}

/**
 * An entry a site took: `committed` (or, with `deliveredWhen: "admitted"`,
 * `pending`, which a `duplicate` answer counts as: it means "already in").
 *
 * @example
 * ```ts
 * new OfflineQueue({ submitter, onDelivered: (d: Delivered[]) => console.log(d.length) });
 * ```
 */
export interface Delivered {
  /** The queued entry. */
  entry: QueuedTx;
  /** The site's receipt for it. */
  receipt: Receipt;
}

/**
 * An entry a site refused for good; `slug` is the problem type's slug, e.g. `"bad_signature"`.
 *
 * @example
 * ```ts
 * new OfflineQueue({ submitter, onRejected: (r: Rejected[]) => r.forEach((x) => console.log(x.slug)) });
 * ```
 */
export interface Rejected {
  /** The queued entry. */
  entry: QueuedTx;
  /** The problem type's slug, e.g. `"bad_signature"`. */
  slug: string;
  /** The site's explanation. */
  detail: string;
  /** The problem as the site reported it. */
  problem: ProblemDetails;
}

/**
 * The outcome of {@link OfflineQueue.enqueue}.
 *
 * @example
 * ```ts
 * const { status }: EnqueueResult = await queue.enqueue(envelope); // "queued" | "duplicate" | "expired"
 * ```
 */
export interface EnqueueResult {
  /** The transaction id of the envelope. */
  txId: string;
  /** `queued`: added; `duplicate`: already queued (nothing added); `expired`: not added, already expired. */
  status: "queued" | "duplicate" | "expired";
  /** Entries the `"drop-oldest"` policy dropped to make room. */
  dropped: QueuedTx[];
}

/**
 * The outcome of {@link OfflineQueue.send}: submitted now, or queued for later.
 *
 * @example
 * ```ts
 * const r: SendResult = await queue.send(envelope);
 * if (r.status === "submitted") console.log(r.receipt.status);
 * ```
 */
export type SendResult =
  | { txId: string; status: "submitted"; receipt: Receipt }
  | (EnqueueResult & { error?: EdgeLedgerError });

/**
 * The outcome of one {@link OfflineQueue.drain}.
 *
 * @example
 * ```ts
 * const { delivered, expired, remaining }: DrainReport = await queue.drain();
 * ```
 */
export interface DrainReport {
  /** Entries a site took, in submission order. */
  delivered: Delivered[];
  /** Entries that expired before a site took them. */
  expired: QueuedTx[];
  /** Entries a site refused for good. */
  rejected: Rejected[];
  /** Entries still queued. */
  remaining: number;
  /** Why draining stopped early (no site reachable, rate limited, ...), if it did. */
  error?: EdgeLedgerError;
}

/**
 * The queue is full and its policy is `"reject-new"`: the transaction was not
 * queued.
 *
 * @example
 * ```ts
 * try { await queue.enqueue(envelope); }
 * catch (e) { if (e instanceof QueueFullError) warnUser(e.sizeMax); }
 * ```
 */
export class QueueFullError extends Error {
  /** The id of the transaction that was not queued. */
  readonly txId: string;
  /** The queue's bound. */
  readonly sizeMax: number;
  /** Builds the error for `txId` and the queue's bound. */
  constructor(txId: string, sizeMax: number) {
    super(`Cannot queue transaction ${txId}: the queue holds its maximum of ${sizeMax} entries`);
    this.name = "QueueFullError";
    this.txId = txId;
    this.sizeMax = sizeMax;
  }
}

/**
 * Refusal slugs that say "not now" rather than "never". `not_found` refuses
 * no transaction: admission never answers it, so it comes from the lookup
 * of a duplicate a site does not show yet (pending, or a replica behind) or
 * from a request that reached no submit route.
 */
const TRANSIENT_SLUGS = new Set([
  "unavailable",
  "rate_limited",
  "internal",
  "not_found",
  "insufficient_storage",
]);

/**
 * An offline queue in front of a client.
 *
 * @example
 * ```ts
 * const client = new EdgeLedgerClient({ urls: ["http://127.0.0.1:7001"] });
 * const queue = new OfflineQueue({
 *   submitter: client,
 *   sizeMax: 10_000,
 *   dropPolicy: "drop-oldest",
 *   onExpired: (entries) => console.warn(`${entries.length} transactions expired offline`),
 * });
 * await queue.send(signedEnvelope);  // submitted now, or queued if no site answers
 * queue.start({ intervalMs: 5000 }); // keeps draining in the background
 * ```
 */
export class OfflineQueue {
  /** Largest number of entries. */
  readonly sizeMax: number;
  /** What happens when the queue is full. */
  readonly dropPolicy: DropPolicy;
  readonly #submitter: Submitter;
  readonly #store: QueueStore;
  readonly #batchTxsMax: number;
  readonly #deliveredWhen: "committed" | "admitted";
  readonly #commitWaitMs: number;
  readonly #now: () => number;
  readonly #options: OfflineQueueOptions;
  /** A mirror of the store, loaded once; every change goes to the store first. */
  #entries: QueuedTx[] | undefined;
  #lock: Promise<unknown> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;

  /** Throws a `RangeError` for a nonsensical limit or policy. */
  constructor(options: OfflineQueueOptions) {
    this.#options = options;
    this.#submitter = options.submitter;
    this.#store = options.store ?? new MemoryQueueStore();
    this.sizeMax = options.sizeMax ?? 1000;
    this.dropPolicy = options.dropPolicy ?? "reject-new";
    this.#batchTxsMax = options.batchTxsMax ?? 100;
    this.#deliveredWhen = options.deliveredWhen ?? "committed";
    this.#commitWaitMs = options.commitWaitMs ?? 10_000;
    this.#now = options.now ?? Date.now;
    if (!Number.isInteger(this.sizeMax) || this.sizeMax < 1) {
      throw new RangeError("Cannot create queue: sizeMax must be an integer >= 1");
    }
    if (!Number.isInteger(this.#batchTxsMax) || this.#batchTxsMax < 1 || this.#batchTxsMax > 1000) {
      throw new RangeError("Cannot create queue: batchTxsMax must be in [1, 1000]");
    }
    if (this.dropPolicy !== "reject-new" && this.dropPolicy !== "drop-oldest") {
      throw new RangeError(`Cannot create queue: unknown drop policy ${this.dropPolicy}`);
    }
  }

  /**
   * The queued entries, oldest first (copies).
   *
   * @example
   * ```ts
   * for (const { txId, enqueuedAt } of await queue.list()) console.log(txId, enqueuedAt);
   * ```
   */
  list(): Promise<QueuedTx[]> {
    return this.#locked(async () => (await this.#load()).map((e) => ({ ...e })));
  }

  /**
   * The number of queued entries.
   *
   * @example
   * ```ts
   * if (await queue.size() > 0) showOfflineBadge();
   * ```
   */
  size(): Promise<number> {
    return this.#locked(async () => (await this.#load()).length);
  }

  /**
   * Queues a signed envelope without trying to send it. Resolves once the
   * entry is durable in the store. An already queued transaction id is not
   * added twice (`"duplicate"`); an already expired envelope is not added and
   * is reported to `onExpired` (`"expired"`). When the queue is full, throws
   * {@link QueueFullError} (`"reject-new"`) or drops the oldest entry,
   * reported to `onDropped` and in `dropped` (`"drop-oldest"`). When the
   * store fails the call rejects with its error and no entry is lost: a
   * failed add drops nothing; a failed drop after the add leaves the new
   * entry queued (enqueueing it again answers `"duplicate"`).
   *
   * @example
   * ```ts
   * const { txId, status } = await queue.enqueue(envelope);
   * ```
   */
  enqueue(envelope: Envelope): Promise<EnqueueResult> {
    return this.#locked(() => this.#enqueue(envelope));
  }

  /**
   * Submits `envelope` now if the queue is empty and a site answers;
   * otherwise queues it (behind any queued entries, to keep order) and
   * returns the queue's answer with the error that prevented sending. A
   * permanent refusal (e.g. a bad signature) is thrown, not queued. With
   * `deliveredWhen: "committed"` (the default) "submitted" means committed:
   * the call waits up to `commitWaitMs` for it, and queues what is still
   * pending then.
   *
   * @example
   * ```ts
   * const r = await queue.send(envelope);
   * if (r.status === "submitted") console.log(r.receipt.status);
   * else console.log(`queued offline: ${r.error?.message}`);
   * ```
   */
  async send(envelope: Envelope, options: { signal?: AbortSignal } = {}): Promise<SendResult> {
    const txId = transactionId(envelope);
    if ((await this.size()) > 0) {
      const queued = await this.enqueue(envelope);
      const report = await this.drain(options);
      const delivered = report.delivered.find((d) => d.entry.txId === txId);
      if (delivered) return { txId, status: "submitted", receipt: delivered.receipt };
      const rejected = report.rejected.find((r) => r.entry.txId === txId);
      if (rejected) {
        throw new RejectedError(
          `Cannot submit transaction ${txId}: ${rejected.slug}: ${rejected.detail}`,
          { problem: rejected.problem },
        );
      }
      return { ...queued, error: report.error };
    }
    try {
      const [answer] = await this.#submitter.submit(
        [envelope],
        this.#submitOptions(options.signal),
      );
      const receipt = await this.#receiptOfDuplicate(answer, options.signal);
      const outcome = this.#classify(receipt, envelope.expiresAt);
      if (outcome === "delivered") return { txId, status: "submitted", receipt };
      if (outcome === "transient") {
        return { ...(await this.enqueue(envelope)), error: undefined };
      }
      throw new RejectedError(
        `Cannot submit transaction ${txId}: ${receipt.problem?.detail ?? "refused"}`,
        { problem: { ...receipt.problem! } },
      );
    } catch (e) {
      if (!isTransient(e)) throw e;
      return { ...(await this.enqueue(envelope)), error: e as EdgeLedgerError };
    }
  }

  /**
   * Submits the queued entries, oldest first, in batches of `batchTxsMax`,
   * each after the previous one was answered. Entries past their expiry
   * are sent too, since an earlier attempt whose answer was lost may have
   * committed one: a site answers its receipt (delivered), or refuses it as
   * `expired` (reported expired); while no site answers they stay queued.
   * A batch refused as a whole (e.g. too large) is sent
   * again one entry at a time. Stops at the first failure to reach a site
   * (the failed batch and the rest stay queued, `error` says why); only a
   * site's answer settles an entry. An abort of `signal` during a
   * submission, or any error that is not an {@link EdgeLedgerError}, also
   * stops it and rejects with that error, the unanswered entries still
   * queued. Every entry that leaves the queue is in the report (when one is
   * returned) and was passed to its callback.
   *
   * An entry a site answers `duplicate` is looked up (`Submitter.getTx`):
   * committed, it is delivered with its committed receipt; pending, or not
   * shown yet (`not_found`), it is pending — delivered with
   * `deliveredWhen: "admitted"`, else kept and tried again. A `not_found`
   * answer to the submission itself also keeps the entry. A kept entry stops
   * the drain with `error` set, so `start()` backs off; it leaves the queue
   * once committed, or when it expires or the drop policy drops it.
   *
   * @example
   * ```ts
   * const { delivered, expired, rejected, remaining, error } = await queue.drain();
   * ```
   */
  drain(options: { signal?: AbortSignal } = {}): Promise<DrainReport> {
    return this.#locked(() => this.#drain(options.signal));
  }

  /**
   * Drains in the background: every `intervalMs` while entries are queued,
   * backing off up to `intervalMsMax` while no site answers. A drain that
   * ended on a site's `Retry-After` (a 429, a 503 such as
   * `insufficient_storage`) is not tried again sooner than that, nor later
   * than `intervalMsMax`. `stop()` ends it.
   * Call {@link OfflineQueue.kick} when the app learns the network is back.
   *
   * @example
   * ```ts
   * queue.start({ intervalMs: 2000 });
   * globalThis.addEventListener?.("online", () => queue.kick());
   * ```
   */
  start(options: { intervalMs?: number; intervalMsMax?: number } = {}): void {
    const intervalMs = options.intervalMs ?? 5000;
    const intervalMsMax = options.intervalMsMax ?? 60_000;
    if (this.#running) return;
    this.#running = true;
    let delayMs = intervalMs;
    /** The delay after a drain that failed with `error`: doubled, at least its Retry-After. */
    const backOff = (error: unknown) =>
      Math.min(intervalMsMax, Math.max(delayMs * 2, retryAfterMsOf(error)));
    const tick = async () => {
      this.#timer = undefined;
      if (!this.#running) return;
      try {
        const report = await this.drain();
        delayMs = report.error ? backOff(report.error) : intervalMs;
      } catch (e) {
        delayMs = backOff(e);
      }
      if (this.#running) this.#timer = setTimeout(tick, delayMs);
    };
    this.#kick = () => {
      if (!this.#running) return;
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      delayMs = intervalMs;
      this.#timer = setTimeout(tick, 0);
    };
    this.#timer = setTimeout(tick, 0);
  }

  /**
   * Stops background draining; a drain in progress finishes.
   *
   * @example
   * ```ts
   * queue.stop();
   * ```
   */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Drains now (when started), e.g. on an "online" event.
   *
   * @example
   * ```ts
   * window.addEventListener("online", () => queue.kick());
   * ```
   */
  kick(): void {
    this.#kick();
  }

  #kick: () => void = () => {};

  // ---- internals --------------------------------------------------------

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
  }

  async #load(): Promise<QueuedTx[]> {
    if (this.#entries === undefined) this.#entries = await this.#store.list();
    return this.#entries;
  }

  async #remove(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#storeChange(() => this.#store.remove(ids));
    const gone = new Set(ids);
    this.#entries = (await this.#load()).filter((e) => !gone.has(e.txId));
  }

  /**
   * Runs one change of the store. When it fails the store may hold the
   * change in part, so the mirror is dropped and read again from the store.
   */
  async #storeChange(change: () => Promise<void>): Promise<void> {
    try {
      await change();
    } catch (e) {
      this.#entries = undefined;
      throw e;
    }
  }

  async #enqueue(envelope: Envelope): Promise<EnqueueResult> {
    const entries = await this.#load();
    const txId = transactionId(envelope);
    const entry: QueuedTx = { txId, envelope, enqueuedAt: this.#now() };
    if (entries.some((e) => e.txId === txId)) return { txId, status: "duplicate", dropped: [] };
    if (envelope.expiresAt < this.#now()) {
      this.#options.onExpired?.([entry]);
      return { txId, status: "expired", dropped: [] };
    }
    const dropCount = entries.length + 1 - this.sizeMax;
    if (dropCount > 0 && this.dropPolicy === "reject-new") {
      throw new QueueFullError(txId, this.sizeMax);
    }
    // Add BEFORE dropping: a failed add then loses nothing (the oldest entries
    // are still queued, none is reported dropped). The price is that the
    // store holds `sizeMax + 1` entries between the add and the removal, or
    // until the next enqueue if the removal fails or the process stops there
    // (that enqueue drops the surplus too).
    await this.#storeChange(() => this.#store.add(entry));
    entries.push(entry);
    if (dropCount <= 0) return { txId, status: "queued", dropped: [] };
    const dropped = entries.slice(0, dropCount);
    await this.#remove(dropped.map((e) => e.txId));
    this.#options.onDropped?.(dropped);
    return { txId, status: "queued", dropped };
  }

  async #drain(signal?: AbortSignal): Promise<DrainReport> {
    const report: DrainReport = { delivered: [], expired: [], rejected: [], remaining: 0 };
    try {
      // Entries past their expiry are offered too: an earlier attempt whose
      // answer was lost may have committed one, and only a site can say —
      // it answers the receipt, or refuses the envelope as expired.
      while (!signal?.aborted) {
        const batch = (await this.#load()).slice(0, this.#batchTxsMax);
        if (batch.length === 0) break;
        const sent = await this.#submitBatch(batch, signal);
        const receipts: Receipt[] = [];
        for (const r of sent.receipts) receipts.push(await this.#receiptOfDuplicate(r, signal));
        const outcome = await this.#settle(
          batch.slice(0, receipts.length),
          receipts,
          report,
        );
        if (sent.failure !== undefined) {
          // Not a refusal by a site: the unanswered entries stay queued.
          if (!(sent.failure instanceof EdgeLedgerError)) throw sent.failure;
          report.error = sent.failure;
          break;
        }
        if (outcome === "stop") break;
      }
      report.remaining = (await this.#load()).length;
      return report;
    } finally {
      // Also when an abort or a bug ends the drain: what already left the
      // queue is reported.
      if (report.expired.length > 0) this.#options.onExpired?.(report.expired);
      if (report.delivered.length > 0) this.#options.onDelivered?.(report.delivered);
      if (report.rejected.length > 0) this.#options.onRejected?.(report.rejected);
    }
  }

  /**
   * Submits `batch` and answers a receipt for each entry a site answered,
   * in order: a prefix of `batch`. `failure` is why the rest got no answer —
   * anything but a site's refusal (no site reachable, rate limited, an
   * abort, a bug); those entries must stay queued. A batch refused as a
   * whole (e.g. too large) is sent again one entry at a time.
   */
  async #submitBatch(
    batch: QueuedTx[],
    signal?: AbortSignal,
  ): Promise<{ receipts: Receipt[]; failure?: unknown }> {
    try {
      return {
        receipts: await this.#submitter.submit(
          batch.map((e) => e.envelope),
          this.#submitOptions(signal),
        ),
      };
    } catch (e) {
      // A site's not_found refuses no transaction (see TRANSIENT_SLUGS):
      // nothing is settled, and sending one by one would only repeat it.
      if (!isRefusal(e) || isNotFound(e)) return { receipts: [], failure: e };
      if (batch.length === 1) {
        return isSiteRefusal(e)
          ? { receipts: [refusedReceipt(batch[0].txId, e)] }
          : { receipts: [], failure: e };
      }
    }
    const receipts: Receipt[] = [];
    for (const entry of batch) {
      const one = await this.#submitBatch([entry], signal);
      receipts.push(...one.receipts);
      if (one.failure !== undefined) return { receipts, failure: one.failure };
    }
    return { receipts };
  }

  /**
   * Removes the entries the receipts settle and records them in `report`.
   * "stop" when a transient refusal means the rest must wait.
   */
  async #settle(
    batch: QueuedTx[],
    receipts: Receipt[],
    report: DrainReport,
  ): Promise<"continue" | "stop"> {
    if (receipts.length !== batch.length) {
      throw new Error(
        `Assertion failed: ${receipts.length} receipts for a batch of ${batch.length}`,
      );
    }
    const done: string[] = [];
    let stop = false;
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i];
      const receipt = receipts[i];
      const outcome = this.#classify(receipt, entry.envelope.expiresAt);
      if (outcome === "transient") {
        stop = true;
        const slug = problemSlug(receipt.problem?.type ?? "");
        report.error ??= new ServerError(
          receipt.status === "pending"
            ? `Cannot confirm transaction ${entry.txId}: admitted but not committed yet`
            : slug === "not_found"
            ? `Cannot confirm transaction ${entry.txId}: no site shows it yet`
            : slug === "expired"
            ? `Cannot submit transaction ${entry.txId}: a site refused it as expired, but by this ` +
              `device's clock it expires at ${
                new Date(entry.envelope.expiresAt).toISOString()
              }; kept (a site's clock may be ahead): ${receipt.problem?.detail ?? ""}`
            : `Cannot submit transaction ${entry.txId}: ${receipt.problem?.detail ?? "site busy"}`,
          { status: receipt.problem?.status ?? 503 },
        );
        continue;
      }
      done.push(entry.txId);
      if (outcome === "delivered") report.delivered.push({ entry, receipt });
      else if (outcome === "expired") report.expired.push(entry);
      else {
        const problem: ProblemDetails = receipt.problem ??
          { type: "unknown", title: "Refused", status: 400, detail: "" };
        report.rejected.push({
          entry,
          slug: problemSlug(problem.type),
          detail: problem.detail,
          problem: { ...problem },
        });
      }
    }
    await this.#remove(done);
    return stop ? "stop" : "continue";
  }

  #submitOptions(signal?: AbortSignal) {
    return this.#deliveredWhen === "committed"
      ? { signal, wait: "commit" as const, waitTimeoutMs: this.#commitWaitMs }
      : { signal };
  }

  /**
   * `receipt`, or for a `duplicate` refusal what a lookup shows, as the
   * client's `submit` answers one: the stored receipt, or `pending` when no
   * site shows it yet (`not_found`) or the submitter cannot look it up. A
   * lookup that fails otherwise is `pending` too (the entry is kept), unless
   * the error is not an {@link EdgeLedgerError} (an abort, a bug): that ends
   * the drain, as a submission's would.
   */
  async #receiptOfDuplicate(receipt: Receipt, signal?: AbortSignal): Promise<Receipt> {
    if (!isDuplicate(receipt) || receipt.txId === null) return receipt;
    const pending: Receipt = { txId: receipt.txId, status: "pending" };
    if (this.#submitter.getTx === undefined) return pending;
    try {
      const found = (await this.#submitter.getTx(receipt.txId, { signal })).receipt;
      // A stored receipt of another transaction, or one that says duplicate again, proves nothing.
      return found.txId === receipt.txId && !isDuplicate(found) ? found : pending;
    } catch (e) {
      if (!(e instanceof EdgeLedgerError)) throw e;
      return pending;
    }
  }

  /**
   * What a site's answer means for an entry expiring at `expiresAt`. An
   * `expired` refusal while this device's clock says the envelope has not
   * expired is a site whose clock is ahead (or this one's behind): the entry
   * is kept and offered again — another site, or the same once its clock is
   * set right, may take it — until this clock passes `expiresAt`.
   */
  #classify(
    receipt: Receipt,
    expiresAt: number,
  ): "delivered" | "expired" | "rejected" | "transient" {
    if (receipt.status === "committed") return "delivered";
    // A duplicate left as it is (no txId to look up) is "already in": pending.
    if (receipt.status === "pending" || isDuplicate(receipt)) {
      // Admitted but not committed within the wait: keep it; resubmitting is idempotent.
      return this.#deliveredWhen === "admitted" ? "delivered" : "transient";
    }
    const slug = problemSlug(receipt.problem?.type ?? "");
    if (slug === "expired") return expiresAt < this.#now() ? "expired" : "transient";
    // A server's problem (5xx) says "not now" whatever its slug.
    if (TRANSIENT_SLUGS.has(slug) || (receipt.problem?.status ?? 0) >= 500) return "transient";
    return "rejected";
  }
}

/** The `Retry-After` a site answered with `error`, in milliseconds; 0 when it gave none. */
function retryAfterMsOf(error: unknown): number {
  if (error instanceof RateLimitedError) return error.retryAfterMs;
  if (error instanceof ServerError) return error.retryAfterMs ?? 0;
  return 0;
}

function isTransient(e: unknown): boolean {
  if (e instanceof NetworkError || e instanceof RateLimitedError) return true;
  return e instanceof ServerError || isNotFound(e);
}

/** True for a site's `not_found` problem: it refuses no transaction (see `TRANSIENT_SLUGS`). */
function isNotFound(e: unknown): boolean {
  return isSiteRefusal(e) && problemSlug(e.problem.type) === "not_found";
}

/** True for a receipt refusing a transaction as a `duplicate`: "already in". */
function isDuplicate(receipt: Receipt): boolean {
  return receipt.status === "refused" && problemSlug(receipt.problem?.type ?? "") === "duplicate";
}

/** True for a 4xx answer, from a site or from anything in front of it. */
function isRefusal(e: unknown): e is RejectedError | ValidationError {
  return e instanceof RejectedError || e instanceof ValidationError;
}

/**
 * True for a refusal a site stated as one of its problem types: the only
 * kind that may settle an entry. A 4xx without one (a proxy's 401, 404 or
 * 413 page) says nothing about the transaction, and neither does a site's
 * refusal of the request's credentials (401 `unauthorized`: an API key it
 * does not know or requires; 403 `forbidden`) — the entry waits until the
 * client is configured right.
 */
function isSiteRefusal(e: unknown): e is RejectedError | ValidationError {
  return isRefusal(e) && e.problem.type.startsWith(PROBLEM_TYPE_BASE) &&
    e.problem.status !== 401 && e.problem.status !== 403;
}

/** The receipt of an entry a site refused by a problem answer. */
function refusedReceipt(txId: string, e: RejectedError | ValidationError): Receipt {
  const problem = e.problem;
  return {
    txId,
    status: "refused",
    problem: {
      type: problem.type,
      title: problem.title,
      status: problem.status,
      detail: problem.detail,
    },
  };
}
