/**
 * A pool of admission workers. Admission's stateless part — the strict
 * schema, canonical JSON, the transaction id, the kind's body and
 * authorisation checks — and signature verification are most of a
 * transaction's CPU before it is batched, and none of it needs the site's
 * state: spreading it over workers lets a site use every core for it while
 * the main thread serves HTTP, batches and executes blocks.
 *
 * @module
 */
import { LedgerError } from "../api/service.ts";
import { createLogger, type Logger } from "../log.ts";
import type { AdmissionPolicy, StatelessVerdict } from "./admission.ts";

/** Jobs queued per worker before callers wait for room. */
const inFlightPerWorkerMax = 4096;
/** Jobs sent to a worker in one message, at most. */
const batchMax = 256;
/**
 * Jobs a worker may have outstanding (queued or being worked on) before new
 * jobs spill to the next worker. Under a light load one worker takes
 * everything (fewer threads to wake and schedule: on 2 cores that admitted
 * Ed25519 faster, with less CPU); a backlog — a burst, or slow P-256
 * verifications — spreads over every worker.
 */
const spillJobs = 16;

/** What a worker posts once its module has loaded, before any answer. */
export const ADMISSION_WORKER_READY = "edgeledger/admission-worker-ready";

/**
 * Longest wait before starting again a worker that failed before it loaded,
 * ms: doubled from 250 ms per failure in a row, so a module that cannot load
 * (a file it may not read) does not respawn in a tight loop.
 */
const respawnDelayMsMax = 5_000;

/** One job: a raw envelope to admit at `now` under `policy`. */
export interface AdmissionJob {
  id: number;
  raw: unknown;
  now: number;
  policy: AdmissionPolicy;
  /** Whether to verify the signatures too (not for envelopes a member site forwarded). */
  signatures: boolean;
}

/** A worker's answer to one job. */
export type AdmissionAnswer = { id: number; verdict: StatelessVerdict } | {
  id: number;
  error: string;
};

/** A fixed set of workers answering {@link admitStateless} calls. */
export class AdmissionPool {
  readonly #workers: Worker[] = [];
  readonly #waiting = new Map<
    number,
    { resolve: (r: StatelessVerdict) => void; reject: (e: Error) => void }
  >();
  #nextId = 1;
  #closed = false;
  /** Jobs waiting for their worker to answer its current message, per worker. */
  readonly #queued: AdmissionJob[][] = [];
  /** Ids of the jobs sent to each worker and not answered yet (none: the worker is idle). */
  readonly #sent: Set<number>[] = [];
  /** Jobs each worker was given since the pool started. */
  readonly #given: number[] = [];
  readonly #workerUrl: string;
  readonly #log: Logger;
  /** Whether each worker has loaded (posted {@link ADMISSION_WORKER_READY}). */
  readonly #loaded: boolean[] = [];
  /** Failures before loading in a row, per worker (see {@link respawnDelayMsMax}). */
  readonly #loadFailures: number[] = [];
  /** Set while a worker waits to be started again (its jobs queue meanwhile). */
  readonly #respawnTimers: Array<ReturnType<typeof setTimeout> | undefined> = [];
  /** Settles {@link ready}: every worker loaded, or one failed before it did. */
  readonly #started = Promise.withResolvers<void>();

  /**
   * Starts `size` workers (`1 <= size <= 16`). `workerUrl` replaces the
   * admission worker's module (tests); `log` hears of a worker that died
   * (default: stderr).
   */
  constructor(
    readonly size: number,
    options: { workerUrl?: string; log?: Logger } = {},
  ) {
    if (!Number.isInteger(size) || size < 1 || size > 16) {
      throw new RangeError("AdmissionPool: size must be an integer in [1, 16]");
    }
    this.#workerUrl = options.workerUrl ??
      new URL("./admission_worker_main.ts", import.meta.url).href;
    this.#log = options.log ?? createLogger();
    this.#started.promise.catch(() => {}); // read by ready(), if anyone asks
    for (let i = 0; i < size; i++) {
      this.#loaded.push(false);
      this.#loadFailures.push(0);
      this.#respawnTimers.push(undefined);
      this.#workers.push(this.#startWorker(i));
      this.#queued.push([]);
      this.#sent.push(new Set());
      this.#given.push(0);
    }
  }

  /**
   * Resolves once every worker has loaded its module; rejects when one fails
   * before it did (its module or a module it imports cannot load: a file the
   * process may not read, say) or none of that happens within `timeoutMs` —
   * so a site that could never admit a transaction fails at start, not
   * with a 503 for each. After it resolved, a worker that dies is started
   * again.
   */
  async ready(timeoutMs = 30_000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.#started.promise,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(`Cannot start the admission workers: not loaded in ${timeoutMs} ms`),
              ),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  #startWorker(index: number): Worker {
    const w = new Worker(this.#workerUrl, { type: "module" });
    w.onmessage = (e: MessageEvent<AdmissionAnswer[] | typeof ADMISSION_WORKER_READY>) => {
      if (e.data === ADMISSION_WORKER_READY) {
        this.#loaded[index] = true;
        this.#loadFailures[index] = 0;
        if (this.#loaded.every((l) => l)) this.#started.resolve();
        return;
      }
      for (const answer of e.data) {
        this.#sent[index].delete(answer.id);
        const done = this.#waiting.get(answer.id);
        this.#waiting.delete(answer.id);
        if ("error" in answer) done?.reject(new Error(answer.error));
        else done?.resolve(answer.verdict);
      }
      this.#send(index);
    };
    w.onerror = (e) => {
      e.preventDefault();
      this.#replaceWorker(index, e.message);
    };
    return w;
  }

  /**
   * A worker died: the jobs it held are answered `unavailable` (their
   * clients retry), and a new worker takes its place and its queue.
   */
  #replaceWorker(index: number, why: string): void {
    const loaded = this.#loaded[index];
    this.#workers[index].terminate();
    const lost = [...this.#sent[index]];
    this.#sent[index].clear();
    for (const id of lost) {
      const done = this.#waiting.get(id);
      this.#waiting.delete(id);
      done?.reject(workerFailed());
    }
    if (!loaded) {
      // Its module did not load: at start, the pool fails; later (a file
      // gone during an upgrade, say) it is tried again after a pause.
      this.#started.reject(new Error(`Cannot start the admission workers: ${why}`));
      this.#loadFailures[index]++;
    }
    this.#loaded[index] = false;
    if (this.#closed) return;
    const failures = this.#loadFailures[index];
    this.#log.error(
      loaded ? "admission worker failed; starting another" : "admission worker failed to load",
      { worker: index, reason: why, ...(loaded ? {} : { failuresInARow: failures }) },
    );
    if (failures === 0) {
      this.#workers[index] = this.#startWorker(index);
      this.#send(index);
      return;
    }
    const delay = Math.min(respawnDelayMsMax, 250 * 2 ** (failures - 1));
    this.#respawnTimers[index] = setTimeout(() => {
      this.#respawnTimers[index] = undefined;
      if (this.#closed) return;
      this.#workers[index] = this.#startWorker(index);
      this.#send(index);
    }, delay);
  }

  /**
   * Runs {@link admitStateless} on a worker. Never throws for a refusal (it
   * is the verdict); rejects (`unavailable`) when the pool is closed or the
   * worker holding the job failed.
   */
  async admit(
    raw: unknown,
    now: number,
    policy: AdmissionPolicy,
    signatures: boolean,
  ): Promise<StatelessVerdict> {
    if (this.#closed) throw stopping();
    while (this.#waiting.size >= inFlightPerWorkerMax * this.size) {
      await new Promise((r) => setTimeout(r, 1));
    }
    // Closed while this call waited for room: no worker would ever answer it.
    if (this.#closed) throw stopping();
    const id = this.#nextId++;
    const index = this.#pick();
    this.#given[index]++;
    return await new Promise<StatelessVerdict>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#queued[index].push({ id, raw, now, policy, signatures });
      // Each message costs (cloning, waking the worker): an idle worker gets
      // what queued in this turn of the event loop as one message (a
      // microtask later: no timer, no added latency); a busy one gets
      // everything that queued meanwhile as one message when it answers.
      if (this.#queued[index].length >= batchMax) this.#send(index);
      else if (this.#sent[index].size === 0 && !this.#flushQueued) {
        this.#flushQueued = true;
        queueMicrotask(() => this.#flushIdle());
      }
    });
  }

  /** Jobs each worker was given since the pool started (tests check the routing with it). */
  get jobsGiven(): readonly number[] {
    return [...this.#given];
  }

  /** The first worker with fewer than {@link spillJobs} outstanding, else the least loaded. */
  #pick(): number {
    let least = 0;
    for (let i = 0; i < this.#workers.length; i++) {
      const outstanding = this.#queued[i].length + this.#sent[i].size;
      if (outstanding < spillJobs) return i;
      if (outstanding < this.#queued[least].length + this.#sent[least].size) least = i;
    }
    return least;
  }

  #flushQueued = false;

  #flushIdle(): void {
    this.#flushQueued = false;
    for (let i = 0; i < this.#workers.length; i++) if (this.#sent[i].size === 0) this.#send(i);
  }

  #send(index: number): void {
    const jobs = this.#queued[index];
    // A worker waiting to be started again gets its queue when it is.
    if (this.#closed || jobs.length === 0 || this.#respawnTimers[index] !== undefined) return;
    this.#queued[index] = [];
    for (const j of jobs) this.#sent[index].add(j.id);
    this.#workers[index].postMessage(jobs);
  }

  /** Stops the workers; pending jobs reject with `unavailable`. */
  close(): void {
    this.#closed = true;
    for (const t of this.#respawnTimers) clearTimeout(t);
    for (const w of this.#workers) w.terminate();
    for (const done of this.#waiting.values()) done.reject(stopping());
    this.#waiting.clear();
  }
}

function workerFailed(): LedgerError {
  return new LedgerError(
    "unavailable",
    503,
    "Admission unavailable",
    "The admission worker holding this transaction failed; retry",
    { retryAfter: 1 },
  );
}

function stopping(): LedgerError {
  return new LedgerError("unavailable", 503, "Site stopping", "The site is shutting down", {
    retryAfter: 1,
  });
}
