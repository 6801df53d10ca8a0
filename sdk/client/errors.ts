/**
 * The client's typed errors: the operating failures a caller handles
 * (DESIGN §7). Every error carries the request id of the attempt that failed
 * (`X-Request-Id`; the client sends one with every request, so even a
 * connection failure has an id to look up in the site's logs).
 *
 * Which error means what:
 *
 * | error | when | retried by the client |
 * |---|---|---|
 * | {@link NetworkError} | no answer: connection refused, reset, timeout (also mid-body) | yes, failing over to the next site |
 * | {@link RateLimitedError} | 429 after retries ran out | yes, after `Retry-After` |
 * | {@link ValidationError} | 400 `validation`: the request was malformed | no |
 * | {@link RejectedError} | a domain problem (4xx): bad signature, expired, not found, ... | no |
 * | {@link NotFoundError} | the `RejectedError` of a 4xx `not_found`: no such transaction, device, stream, ... | no |
 * | {@link ServerError} | 5xx, or an answer that breaks the API's schema | 502/503/504 yes (failing over), others no; never 503 `insufficient_storage` (the cluster pauses writes for want of disk space) or 504 `commit_timeout` (an admin change not applied in time; `POST /v1/txs?wait=commit` never answers it, its timed-out wait is a 202 pending receipt) |
 * | {@link CommitTimeoutError} | `waitForCommit` ran out of time | no |
 * | {@link LedgerMismatchError} | every site left to try serves another ledger than the client's (`slug` `ledger_mismatch`) | no: a site of another ledger is never used again by that client |
 *
 * @module
 */

import type { ProblemSlug } from "../api/routes.ts";
import { PROBLEM_TYPE_BASE } from "../api/schemas.ts";

/**
 * One bad field of a `validation` problem: `path` is dotted and starts with the request part.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof ValidationError) e.issues.forEach((i: FieldIssue) => console.log(i.path)); }
 * ```
 */
export interface FieldIssue {
  /** Dotted path of the field, prefixed by the request part: `query.limit`. */
  path: string;
  /** What is wrong with it. */
  message: string;
}

/**
 * The RFC 9457 problem a site answered with, as far as it parsed.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof RejectedError) console.log((e.problem as ProblemDetails).detail); }
 * ```
 */
export interface ProblemDetails {
  /** The problem type URI. */
  type: string;
  /** A short, stable summary of the problem type. */
  title: string;
  /** The HTTP status. */
  status: number;
  /** What went wrong in this occurrence. */
  detail: string;
  /** Extension members, e.g. `txId`, `errors`, `requestId`. */
  [extra: string]: unknown;
}

/**
 * The base of every error the client throws for an operating failure.
 *
 * @example
 * ```ts
 * try {
 *   await client.getTx(txId);
 * } catch (e) {
 *   if (e instanceof EdgeLedgerError) console.log(e.name, e.requestId, e.message);
 * }
 * ```
 */
export class EdgeLedgerError extends Error {
  /** The `X-Request-Id` of the failed attempt (sent by the client, echoed by the site). */
  readonly requestId: string | undefined;
  /** The site that failed, as a base URL; undefined when no site was tried. */
  readonly site: string | undefined;
  /**
   * The slug of the problem the site answered with (`"expired"`,
   * `"rate_limited"`, `"insufficient_storage"`, ...: the `type` URI without
   * `https://edgeledger.dev/problems/`), for every error that carries a
   * problem document; undefined when there is none (no answer, or an answer
   * that was not a problem), except for the failures the client finds
   * itself and names with a slug of its own ({@link LedgerMismatchError}'s
   * `ledger_mismatch`). Switch on it rather than on the message.
   */
  readonly slug: ProblemSlug | (string & Record<never, never>) | undefined;

  /**
   * `message` is sentence case, the action then the detail; `problem` sets
   * {@link slug}, or `slug` does for an error the client found itself.
   */
  constructor(
    message: string,
    options: {
      requestId?: string;
      site?: string;
      cause?: unknown;
      problem?: ProblemDetails;
      slug?: string;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.requestId = options.requestId;
    this.site = options.site;
    this.slug = options.problem === undefined ? options.slug : problemSlug(options.problem.type);
  }

  /**
   * Whether the same call may succeed later: no site refused it for good.
   * True for {@link NetworkError}, {@link RateLimitedError},
   * {@link ServerError} (every write is idempotent by transaction id, so
   * sending it again never applies it twice) and {@link CommitTimeoutError};
   * false for {@link ValidationError}, {@link RejectedError} and its
   * {@link NotFoundError} (a record a replica behind does not show yet may
   * appear later: ask with `consistency: "leader"`). The client has already
   * retried what it retries itself (see the table above); this says whether
   * to try again later, e.g. from an offline queue.
   *
   * @example
   * ```ts
   * catch (e) { if (e instanceof EdgeLedgerError && e.retryable) await queue.enqueue(envelope); }
   * ```
   */
  get retryable(): boolean {
    return false;
  }
}

/**
 * No usable answer arrived: the connection failed, was reset, or the
 * per-request timeout elapsed (`timedOut`) — before the answer or while its
 * body was being read. Safe to retry: every client request is idempotent.
 *
 * @example
 * ```ts
 * try {
 *   await client.submit(envelope);
 * } catch (e) {
 *   if (e instanceof NetworkError) await queue.enqueue(envelope); // try again later
 * }
 * ```
 */
export class NetworkError extends EdgeLedgerError {
  /** No answer: the call may succeed later (or at another site). */
  override get retryable(): boolean {
    return true;
  }

  /** True when the per-request timeout elapsed rather than the connection failing. */
  readonly timedOut: boolean;

  /** `timedOut` says whether the per-request timeout elapsed. */
  constructor(
    message: string,
    options: { requestId?: string; site?: string; cause?: unknown; timedOut?: boolean } = {},
  ) {
    super(message, options);
    this.timedOut = options.timedOut ?? false;
  }
}

/**
 * The site asked the client to slow down (429) and the client's retries ran
 * out. `retryAfterMs` is the site's last hint.
 *
 * @example
 * ```ts
 * catch (e) {
 *   if (e instanceof RateLimitedError) setTimeout(retry, e.retryAfterMs);
 * }
 * ```
 */
export class RateLimitedError extends EdgeLedgerError {
  /** Over a budget: the call may succeed after `retryAfterMs`. */
  override get retryable(): boolean {
    return true;
  }

  /** How long the site asked to wait, in milliseconds (0 when it gave no hint). */
  readonly retryAfterMs: number;
  /** The problem the site answered with, when it sent one. */
  readonly problem: ProblemDetails | undefined;

  /** `retryAfterMs` is the site's hint (0 when none). */
  constructor(
    message: string,
    options: {
      retryAfterMs: number;
      problem?: ProblemDetails;
      requestId?: string;
      site?: string;
    },
  ) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
    this.problem = options.problem;
  }
}

/**
 * The site refused the request's shape (400 `validation`): a parameter or the
 * body failed the route's schema. `issues` names each bad field. Not retried:
 * the same request fails the same way.
 *
 * @example
 * ```ts
 * catch (e) {
 *   if (e instanceof ValidationError) for (const i of e.issues) console.log(i.path, i.message);
 * }
 * ```
 */
export class ValidationError extends EdgeLedgerError {
  /** The bad fields, e.g. `{ path: "query.limit", message: "Too big" }`. */
  readonly issues: FieldIssue[];
  /** The problem document. */
  readonly problem: ProblemDetails;

  /** `issues` are the problem's `errors`. */
  constructor(
    message: string,
    options: { issues: FieldIssue[]; problem: ProblemDetails; requestId?: string; site?: string },
  ) {
    super(message, options);
    this.issues = options.issues;
    this.problem = options.problem;
  }
}

/**
 * The site refused the request for a domain reason (a 4xx problem other than
 * `validation` and `rate_limited`): `bad_signature`, `expired`, `not_found`,
 * `duplicate`, ... `slug` is the problem type without its URI prefix.
 *
 * @example
 * ```ts
 * catch (e) {
 *   if (e instanceof RejectedError && e.slug === "expired") resign(envelope);
 * }
 * ```
 */
export class RejectedError extends EdgeLedgerError {
  /** The problem `type` URI, `https://edgeledger.dev/problems/<slug>`. */
  readonly problemType: string;
  /** The slug of `problemType`, e.g. `"bad_signature"`. */
  declare readonly slug: ProblemSlug | (string & Record<never, never>);
  /** The HTTP status. */
  readonly status: number;
  /** The problem document. */
  readonly problem: ProblemDetails;

  /** `problem` is the site's problem document. */
  constructor(
    message: string,
    options: { problem: ProblemDetails; requestId?: string; site?: string },
  ) {
    super(message, options);
    this.problem = options.problem;
    this.problemType = options.problem.type;
    this.status = options.problem.status;
  }
}

/**
 * The {@link RejectedError} of a `not_found` problem (404): the transaction,
 * block, device, asset, item, stream, period or record asked for does not
 * exist on the replica that answered. `slug` is `"not_found"`. A replica
 * that is behind may not know something a `consistency: "leader"` read finds.
 *
 * @example
 * ```ts
 * try {
 *   await client.identity.device(did);
 * } catch (e) {
 *   if (e instanceof NotFoundError) console.log(`no device ${did}`);
 * }
 * ```
 */
export class NotFoundError extends RejectedError {}

/**
 * The site failed (5xx) or answered something the API's schema does not
 * allow (`status` is then the HTTP status it answered with and `problem` is
 * undefined). 502/503/504 were retried before this was thrown.
 *
 * @example
 * ```ts
 * catch (e) {
 *   if (e instanceof ServerError) report(e.status, e.requestId);
 * }
 * ```
 */
export class ServerError extends EdgeLedgerError {
  /** The site failed or is unavailable: the call may succeed later. */
  override get retryable(): boolean {
    return true;
  }

  /** The HTTP status the site answered with. */
  readonly status: number;
  /** The problem document, when the site sent one. */
  readonly problem: ProblemDetails | undefined;
  /** The site's `Retry-After` hint in milliseconds (a 503 sends one), when it gave one. */
  readonly retryAfterMs: number | undefined;

  /** `status` is the HTTP status; `problem` the parsed problem, if any. */
  constructor(
    message: string,
    options: {
      status: number;
      retryAfterMs?: number;
      problem?: ProblemDetails;
      requestId?: string;
      site?: string;
      cause?: unknown;
    },
  ) {
    super(message, options);
    this.status = options.status;
    this.problem = options.problem;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * `waitForCommit` gave up: the transaction was not committed within
 * `timeoutMs`. `lastStatus` is the last receipt status seen (`"unknown"` when
 * no site knew the transaction).
 *
 * @example
 * ```ts
 * catch (e) {
 *   if (e instanceof CommitTimeoutError) console.log(`still ${e.lastStatus}`);
 * }
 * ```
 */
export class CommitTimeoutError extends EdgeLedgerError {
  /** Not committed yet: waiting again may see it committed. */
  override get retryable(): boolean {
    return true;
  }

  /** The transaction waited for. */
  readonly txId: string;
  /** The last status seen: `unknown` (no site knew it) or `pending`. */
  readonly lastStatus: "unknown" | "pending";

  /** Builds the error for `txId` and the last status seen. */
  constructor(
    message: string,
    options: { txId: string; lastStatus: "unknown" | "pending"; requestId?: string; site?: string },
  ) {
    super(message, options);
    this.txId = options.txId;
    this.lastStatus = options.lastStatus;
  }
}

/**
 * A site serves another ledger than the client's — the one its `ledger`
 * option names, or, without one, the one the first site that answered
 * serves (`GET /v1/status`'s `ledger`) — or, with the `ledger` option set,
 * it would not say which ledger it serves. The client never sends that
 * site anything else again and fails over to its other sites; this is
 * thrown only when no site is left to try. `slug` is `"ledger_mismatch"`.
 * Not retryable: the configuration (the URLs, or the `ledger` option) is
 * wrong. The site was asked only its status, never sent a transaction or a
 * read, so nothing was lost: an offline queue keeps its entries.
 *
 * @example
 * ```ts
 * catch (e) {
 *   if (e instanceof LedgerMismatchError) console.log(`${e.site} serves ${e.actual}, not ${e.expected}`);
 * }
 * ```
 */
export class LedgerMismatchError extends EdgeLedgerError {
  /** The ledger the client is for: its `ledger` option, or the one it learned. */
  readonly expected: string;
  /** The ledger the site serves; undefined when it would not say. */
  readonly actual: string | undefined;
  /** Always `"ledger_mismatch"`. */
  declare readonly slug: "ledger_mismatch";

  /** `expected` is the client's ledger, `actual` the site's (undefined when unknown). */
  constructor(
    message: string,
    options: {
      expected: string;
      actual: string | undefined;
      site: string;
      requestId?: string;
      cause?: unknown;
    },
  ) {
    super(message, { ...options, slug: "ledger_mismatch" });
    this.expected = options.expected;
    this.actual = options.actual;
  }
}

/**
 * The slug of a problem `type`: the part after
 * `https://edgeledger.dev/problems/`, or the whole string when it is not such
 * a URI.
 *
 * @example
 * ```ts
 * problemSlug("https://edgeledger.dev/problems/expired"); // "expired"
 * ```
 */
export function problemSlug(type: string): string {
  return type.startsWith(PROBLEM_TYPE_BASE) ? type.slice(PROBLEM_TYPE_BASE.length) : type;
}

/**
 * A problem's `detail`, followed by the first `fieldsMax` of its field
 * `errors` (`path: message`) that the detail does not already name, and how
 * many more there are: what an error message needs to say which field
 * failed. `invalid_body` names the bad fields only in `errors`; a
 * `validation` detail already names them, so it comes back unchanged.
 * Entries of `errors` that are not `{path, message}` strings are skipped.
 *
 * @example
 * ```ts
 * describeProblem({
 *   type: "https://edgeledger.dev/problems/invalid_body",
 *   title: "Invalid body",
 *   status: 422,
 *   detail: "Body does not match data.anchor",
 *   errors: [{ path: "body.root", message: "must be 64 lowercase hex characters" }],
 * }); // "Body does not match data.anchor (body.root: must be 64 lowercase hex characters)"
 * ```
 */
export function describeProblem(problem: ProblemDetails, fieldsMax = 2): string {
  const errors = Array.isArray(problem.errors) ? problem.errors as unknown[] : [];
  const unnamed = errors.filter((e): e is FieldIssue =>
    typeof (e as FieldIssue)?.path === "string" &&
    typeof (e as FieldIssue).message === "string" &&
    !problem.detail.includes((e as FieldIssue).path)
  );
  if (unnamed.length === 0) return problem.detail;
  return `${problem.detail} (${fieldIssuesText(unnamed, fieldsMax)})`;
}

/**
 * The first `fieldsMax` of `issues` as `path: message`, joined with `; `,
 * and how many more there are: `body.root: must be 64 lowercase hex
 * characters; body.count: Too small; 1 more`.
 *
 * @example
 * ```ts
 * fieldIssuesText([{ path: "body.seq", message: "Too small" }]); // "body.seq: Too small"
 * ```
 */
export function fieldIssuesText(issues: readonly FieldIssue[], fieldsMax = 2): string {
  const shown = issues.slice(0, fieldsMax).map((e) => `${e.path}: ${e.message}`);
  if (issues.length > shown.length) shown.push(`${issues.length - shown.length} more`);
  return shown.join("; ");
}
