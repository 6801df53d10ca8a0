/**
 * The response headers of the public HTTP API that a client acts on, as
 * OpenAPI 3.1 header objects. The server registers {@link RESPONSE_HEADERS}
 * as the `components.headers` of its `/openapi.json`, and every response of
 * `routes.ts` and `contract_routes/` names the ones it carries by reference,
 * through the header sets below.
 *
 * Each one is declared exactly as the sites send it (a `const` or an `enum`
 * where the value is fixed) and `required: true` only where every answer of
 * that status carries it; `test/openapi_fidelity_test.ts` holds live answers
 * of a cluster to both. The API sends no `ETag`, `Last-Modified`,
 * `Location`, rate-limit (`RateLimit-*`, `X-RateLimit-*`) or CORS headers.
 *
 * @module
 */

/** `Cache-Control` of answers that never change (blocks, proofs at a given size). */
export const CACHE_IMMUTABLE = "public, max-age=31536000, immutable";

/** The challenge of a 401 to a request without an API key (RFC 6750 §3). */
export const BEARER_CHALLENGE = 'Bearer realm="edgeledger"';

/**
 * The challenge of a 401 to a request whose `Authorization` is no API key
 * this site knows (RFC 6750 §3.1 `invalid_token`).
 */
export const BEARER_CHALLENGE_INVALID = 'Bearer realm="edgeledger", error="invalid_token"';

/** An OpenAPI 3.1 Header Object, as far as this module writes one. */
export interface HeaderObject {
  description: string;
  required?: boolean;
  /** The value's JSON Schema; an `integer` header's value is its decimal digits. */
  schema: {
    type: "string" | "integer";
    pattern?: string;
    minimum?: number;
    const?: string;
    enum?: string[];
  };
}

/** The header components of `/openapi.json`, by component name. */
export const RESPONSE_HEADERS = {
  XRequestId: {
    description: "The request's id, also the `requestId` of a problem. It is the " +
      "`X-Request-Id` the client sent when that is 1–255 characters of letters, digits, `_`, " +
      "`-` and `=`; otherwise one the site made (a UUID). Log it with every failure and quote " +
      "it to the site's operators: their logs carry it. A client may send its own (a fresh one " +
      "per attempt) to trace a call through a gateway and the sites.",
    required: true,
    schema: { type: "string", pattern: "^[A-Za-z0-9_=-]{1,255}$" },
  },
  RetryAfter: {
    description: "How long to wait before asking again: integer seconds, at least 1 " +
      "(RFC 9110 delay-seconds; never an HTTP-date). Sent on every 429 and 503 answer. Do not " +
      "send the request to this site again sooner. 429 `rate_limited`: the caller (its API key, " +
      "or a signer) spent its per-minute budget on this site; the value is the time left in " +
      "that minute. 503 `unavailable` or `not_leader`: this site cannot serve now (no leader, a " +
      "full queue, stopping, its event-stream slots taken); a client that knows other sites may " +
      "try one of them at once. 503 `insufficient_storage`: the whole cluster pauses writes " +
      "(30 s); every site answers alike. A problem whose cause named a wait also carries it as " +
      "its `retryAfter` member. Bound the wait on the client's side, and give up (or queue the " +
      "request) past that bound.",
    required: true,
    schema: { type: "integer", minimum: 1 },
  },
  CacheControlNoStore: {
    description: "`no-store`: the answer is of one request or one moment (a receipt, status, " +
      "metrics, a problem); never store or reuse it.",
    required: true,
    schema: { type: "string", const: "no-store" },
  },
  CacheControlNoCache: {
    description: "`no-cache`: the answer may change as blocks are committed; a cache must ask " +
      "the site again before each reuse. The site sends no validators (`ETag`, " +
      "`Last-Modified`), so each reuse is a full request.",
    required: true,
    schema: { type: "string", const: "no-cache" },
  },
  CacheControlImmutable: {
    description: `\`${CACHE_IMMUTABLE}\`: the answer never changes (a block, a consistency ` +
      "proof between two sizes); cache it for good, keyed by its URL.",
    required: true,
    schema: { type: "string", const: CACHE_IMMUTABLE },
  },
  CacheControlProof: {
    description: `\`${CACHE_IMMUTABLE}\` when the request named \`treeSize\` (the proof for ` +
      "that size never changes: cache it for good); `no-cache` without it (the proof is " +
      "against the latest checkpoint, which moves on).",
    required: true,
    schema: { type: "string", enum: [CACHE_IMMUTABLE, "no-cache"] },
  },
  VaryAccept: {
    description: "`Accept`: the media type of the answer depends on the request's `Accept`; a " +
      "cache must key it by that header too.",
    required: true,
    schema: { type: "string", const: "Accept" },
  },
  WwwAuthenticate: {
    description: "The Bearer challenge of every 401 (RFC 9110 §11.6.1, RFC 6750 §3): send a " +
      "tenant API key as `Authorization: Bearer <key>`. Without `error` the request had no " +
      'key and the site requires one. With `error="invalid_token"` the `Authorization` sent ' +
      "is no key this site knows (a typo, a withdrawn key, or not a Bearer key): asking again " +
      "with it will not help.",
    required: true,
    schema: { type: "string", enum: [BEARER_CHALLENGE, BEARER_CHALLENGE_INVALID] },
  },
} satisfies Record<string, HeaderObject>;

/** The name of a header component of `/openapi.json`. */
export type ResponseHeaderComponent = keyof typeof RESPONSE_HEADERS;

/** A response's headers: each header field's name and a reference to its component. */
export type ResponseHeaderRefs = Readonly<Record<string, { readonly $ref: string }>>;

/** A reference to the header component `name`. */
function ref<N extends ResponseHeaderComponent>(name: N) {
  return { $ref: `#/components/headers/${name}` as const };
}

/** The headers every answer carries. */
const EVERY_ANSWER = { "X-Request-Id": ref("XRequestId") } as const;

/** The headers of an answer with the `Cache-Control` of component `cacheControl`. */
function cached(cacheControl: ResponseHeaderComponent & `CacheControl${string}`) {
  return { ...EVERY_ANSWER, "Cache-Control": ref(cacheControl) } as const;
}

/** Headers of an answer that must not be stored: most writes, status, metrics. */
export const NO_STORE_HEADERS = cached("CacheControlNoStore");

/** Headers of an answer that may change as blocks commit: state, listings, receipts. */
export const NO_CACHE_HEADERS = cached("CacheControlNoCache");

/** Headers of an answer that never changes. */
export const IMMUTABLE_HEADERS = cached("CacheControlImmutable");

/** Headers of an inclusion proof: immutable with `treeSize`, `no-cache` without. */
export const PROOF_HEADERS = cached("CacheControlProof");

/** Headers of an answer whose media type follows `Accept`. */
export const NEGOTIATED_HEADERS = {
  ...NO_CACHE_HEADERS,
  Vary: ref("VaryAccept"),
} as const;

/** Headers of every problem (`application/problem+json`). */
export const PROBLEM_HEADERS = NO_STORE_HEADERS;

/** Headers of a 429 or 503 problem: a problem's, and `Retry-After`. */
export const RETRY_PROBLEM_HEADERS = {
  ...PROBLEM_HEADERS,
  "Retry-After": ref("RetryAfter"),
} as const;

/** Headers of a 401 problem: a problem's, and the Bearer challenge. */
export const UNAUTHORIZED_HEADERS = {
  ...PROBLEM_HEADERS,
  "WWW-Authenticate": ref("WwwAuthenticate"),
} as const;
