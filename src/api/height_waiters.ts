/**
 * Reads that wait for a block height (`minHeight`): each waits until the
 * site has applied that height, its time runs out, or its request goes away.
 *
 * @module
 */

import { LedgerError } from "./service.ts";

/** Default of the reads that may wait for a height at once, per site. */
export const HEIGHT_WAITERS_MAX_DEFAULT = 10_000;

interface Waiter {
  readonly height: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/**
 * The reads of one site that wait for a height. The site calls
 * {@link HeightWaiters.reached} once each block's rows are readable and
 * {@link HeightWaiters.close} when it stops.
 *
 * @example
 * ```ts
 * let applied = 3;
 * const waiters = new HeightWaiters("site-a", () => applied);
 * const read = waiters.wait(4, 5000);
 * applied = 4;
 * waiters.reached(4);
 * await read;
 * ```
 */
export class HeightWaiters {
  readonly #waiters = new Set<Waiter>();
  #closed: string | undefined;

  /**
   * `applied()` is the newest height whose rows reads see; at most
   * `waitingMax` reads wait at once (default 10,000), so that reads asking
   * for heights far ahead cannot pile up: one more is answered 503 at once.
   */
  constructor(
    readonly site: string,
    readonly applied: () => number,
    readonly waitingMax = HEIGHT_WAITERS_MAX_DEFAULT,
  ) {}

  /** Reads waiting now. */
  get size(): number {
    return this.#waiters.size;
  }

  /**
   * Resolves once {@link HeightWaiters.reached} reports `height` or more (at
   * once when `applied()` already has); rejects with a 503 `unavailable`
   * after `timeoutMs` or when the site stops, and with `signal`'s reason
   * when it aborts.
   */
  wait(height: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.applied() >= height) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#closed !== undefined) return Promise.reject(this.#stopped(height));
    if (this.#waiters.size >= this.waitingMax) return Promise.reject(this.#full(height));
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        height,
        resolve: () => {
          done();
          resolve();
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      const onAbort = () => waiter.reject(signal!.reason);
      const timer = setTimeout(() => waiter.reject(this.#behind(height, timeoutMs)), timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /** Releases the reads waiting for `height` or less. */
  reached(height: number): void {
    if (this.#waiters.size === 0) return;
    for (const w of [...this.#waiters]) if (w.height <= height) w.resolve();
  }

  /** Refuses the reads waiting now and every later one that would wait. */
  close(reason: string): void {
    this.#closed = reason;
    for (const w of [...this.#waiters]) w.reject(this.#stopped(w.height));
  }

  #behind(height: number, timeoutMs: number): LedgerError {
    const at = this.applied();
    return new LedgerError(
      "unavailable",
      503,
      "Not at that height yet",
      `Site ${this.site} has applied height ${at}, not ${height}, after waiting ${timeoutMs} ms; ` +
        "retry here or at another site",
      { height: at, minHeight: height, retryAfter: 1 },
    );
  }

  #full(height: number): LedgerError {
    return new LedgerError(
      "unavailable",
      503,
      "Too many reads waiting",
      `Site ${this.site} has ${this.waitingMax} reads waiting for a height already; it has ` +
        `applied ${this.applied()}, not ${height}`,
      { height: this.applied(), minHeight: height, retryAfter: 1 },
    );
  }

  #stopped(height: number): LedgerError {
    return new LedgerError(
      "unavailable",
      503,
      "Site stopping",
      `Site ${this.site} ${this.#closed}; read at height ${height} or later at another site`,
      { height: this.applied(), minHeight: height, retryAfter: 1 },
    );
  }
}
