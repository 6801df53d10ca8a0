/**
 * Retry timing: exponential backoff with full jitter, and `Retry-After`.
 * Pure functions; the client injects its random source and clock.
 *
 * @module
 */

/**
 * How the client retries. Every field has a default; units are in the names.
 *
 * @example
 * ```ts
 * new EdgeLedgerClient({ urls, retry: { attemptsMax: 3, delayMsBase: 200 } });
 * ```
 */
export interface RetryPolicy {
  /** Attempts per call, the first included; at least 1. Default 5. */
  attemptsMax?: number;
  /** The backoff's first ceiling, in milliseconds. Default 100. */
  delayMsBase?: number;
  /** The backoff's largest ceiling, in milliseconds. Default 10000. */
  delayMsMax?: number;
  /** The largest `Retry-After` honoured, in milliseconds; longer hints end the retries. Default 60000. */
  retryAfterMsMax?: number;
}

/**
 * {@link RetryPolicy} with every default filled in.
 *
 * @example
 * ```ts
 * const policy: ResolvedRetryPolicy = resolveRetryPolicy({ attemptsMax: 3 });
 * ```
 */
export type ResolvedRetryPolicy = Required<RetryPolicy>;

/**
 * The policy with its defaults. Throws a `RangeError` for a nonsensical one
 * (a programmer error).
 *
 * @example
 * ```ts
 * resolveRetryPolicy({ attemptsMax: 3 }).delayMsBase; // 100
 * ```
 */
export function resolveRetryPolicy(policy: RetryPolicy = {}): ResolvedRetryPolicy {
  const resolved = {
    attemptsMax: policy.attemptsMax ?? 5,
    delayMsBase: policy.delayMsBase ?? 100,
    delayMsMax: policy.delayMsMax ?? 10_000,
    retryAfterMsMax: policy.retryAfterMsMax ?? 60_000,
  };
  if (!Number.isInteger(resolved.attemptsMax) || resolved.attemptsMax < 1) {
    throw new RangeError("Cannot use retry policy: attemptsMax must be an integer >= 1");
  }
  if (!(resolved.delayMsBase >= 0) || !(resolved.delayMsMax >= resolved.delayMsBase)) {
    throw new RangeError("Cannot use retry policy: need 0 <= delayMsBase <= delayMsMax");
  }
  if (!(resolved.retryAfterMsMax >= 0)) {
    throw new RangeError("Cannot use retry policy: retryAfterMsMax must be >= 0");
  }
  return resolved;
}

/**
 * The delay before retry number `retry` (0 for the first retry), in
 * milliseconds: "full jitter" — uniform in `[0, min(delayMsMax, delayMsBase *
 * 2^retry))` — so that many clients that failed together do not retry
 * together. `random` returns a number in `[0, 1)`.
 *
 * @example
 * ```ts
 * backoffDelayMs(3, resolveRetryPolicy(), Math.random); // somewhere in [0, 800)
 * ```
 */
export function backoffDelayMs(
  retry: number,
  policy: ResolvedRetryPolicy,
  random: () => number,
): number {
  const ceiling = Math.min(policy.delayMsMax, policy.delayMsBase * 2 ** Math.min(retry, 30));
  return Math.floor(random() * ceiling);
}

/**
 * Parses a `Retry-After` header (RFC 9110 §10.2.3: delay-seconds or an
 * HTTP-date) into milliseconds from `nowMs`. Undefined when absent or
 * malformed; never negative.
 *
 * @example
 * ```ts
 * parseRetryAfterMs("2", Date.now()); // 2000
 * parseRetryAfterMs("Wed, 21 Oct 2015 07:28:00 GMT", Date.now()); // 0 (in the past)
 * ```
 */
export function parseRetryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^[0-9]{1,10}$/.test(value)) return Number(value) * 1000;
  const at = parseHttpDate(value);
  return at === undefined ? undefined : Math.max(0, at - nowMs);
}

/**
 * The "now" to read a `Retry-After` HTTP-date against: the answer's `Date`
 * header (RFC 9110 §6.6.1: when the site answered, by the site's clock),
 * or `localNowMs` when it has none or a malformed one. The date in
 * `Retry-After` is by the site's clock too, so their difference is the wait
 * the site meant however far the device's clock is off (read against the
 * device's clock, a device ahead would not wait at all, one behind would
 * wait `retryAfterMsMax`).
 *
 * @example
 * ```ts
 * serverNowMs("Wed, 21 Oct 2015 07:28:00 GMT"); // 1445412480000
 * serverNowMs(null, 5); // 5
 * ```
 */
export function serverNowMs(date: string | null, localNowMs: number = Date.now()): number {
  return (date === null ? undefined : parseHttpDate(date.trim())) ?? localNowMs;
}

/** An HTTP-date (RFC 9110 §5.6.7) in ms since the epoch; undefined if `value` is none. */
function parseHttpDate(value: string): number | undefined {
  // An HTTP-date always names a weekday and "GMT"; Date.parse accepts more.
  if (!/^[A-Za-z]{3}, .+ GMT$/.test(value)) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at;
}
