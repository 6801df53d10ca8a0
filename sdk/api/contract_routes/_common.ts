/**
 * Helpers shared by the contract groups' route definitions: response
 * builders (which `routes.ts` uses too), the problems every contract route
 * can answer, and cursor paging. Internal to `sdk/api/`.
 *
 * @module
 */
import { z } from "@hono/zod-openapi";
import { ConsistencyLevel, decimalInt, MinHeight, Problem } from "../schemas.ts";
import {
  NO_CACHE_HEADERS,
  PROBLEM_HEADERS,
  type ResponseHeaderRefs,
  RETRY_PROBLEM_HEADERS,
  UNAUTHORIZED_HEADERS,
} from "../headers.ts";

/** Largest `limit` of a contract listing route. */
export const CONTRACT_PAGE_LIMIT_MAX = 1000;
/** `limit` of a contract listing route when none is given. */
export const CONTRACT_PAGE_LIMIT_DEFAULT = 100;

/**
 * A problem response documented with its slugs; `headers` are
 * `PROBLEM_HEADERS` unless a 429, 503 or 401 needs more.
 */
export const problem = (
  description: string,
  headers: ResponseHeaderRefs = PROBLEM_HEADERS,
) => ({
  description,
  headers,
  content: { "application/problem+json": { schema: Problem } },
});

/**
 * A JSON response. Contract state changes as blocks commit, so `headers`
 * are `NO_CACHE_HEADERS` unless the route says otherwise.
 */
export const json = <T extends z.ZodType>(
  schema: T,
  description: string,
  headers: ResponseHeaderRefs = NO_CACHE_HEADERS,
) => ({
  description,
  headers,
  content: { "application/json": { schema } },
});

/**
 * The problems every contract read route can answer with: as every route
 * under `/v1/`, it checks a tenant API key when one is sent (or the site
 * requires one) and holds the key to its budget.
 */
export const COMMON_PROBLEMS = {
  400: problem("`validation`: a parameter failed validation; `errors` names the fields."),
  401: problem(
    "`unauthorized`: an API key this site does not know, or none where it requires one.",
    UNAUTHORIZED_HEADERS,
  ),
  429: problem(
    "`rate_limited`: a signer or an API key over its budget; retry after `Retry-After`.",
    RETRY_PROBLEM_HEADERS,
  ),
  500: problem("`internal`: a bug; no detail is leaked."),
  503: problem(
    "`unavailable`: the site cannot serve this now (with `height` and `minHeight`: a read's " +
      "`minHeight` block not applied in time); retry after `Retry-After`. `not_leader` " +
      "(with `leader` and `leaderUrl`): a `consistency=leader` read asked of another site.",
    RETRY_PROBLEM_HEADERS,
  ),
} as const;

/** `consistency` query parameter; contract state defaults to this site's replica. */
export const consistency = ConsistencyLevel.default("stale").openapi({ default: "stale" });

/** `minHeight` query parameter: the block height this site must have applied first. */
export const minHeight = MinHeight;

/** The query parameters every contract read takes: `consistency` and `minHeight`. */
export const readParams = { consistency, minHeight };

/** `limit` query parameter of a listing. */
export const pageLimit = decimalInt(1, CONTRACT_PAGE_LIMIT_MAX).optional().openapi({
  type: "integer",
  minimum: 1,
  maximum: CONTRACT_PAGE_LIMIT_MAX,
  default: CONTRACT_PAGE_LIMIT_DEFAULT,
});

/** `after` query parameter: the opaque cursor a previous page returned as `next`. */
export const pageAfter = z.string().min(1).max(512).optional().openapi({
  description: "The `next` cursor of the previous page.",
});

/** The `next` member of a page: the cursor of the following page, or null at the end. */
export const nextCursor = z.string().nullable().openapi({
  description: "Pass as `after` to get the next page; null when this page is the last.",
});

/** A transaction's inclusion proof route, for a step's `proof` link. */
export function proofPath(txId: string): string {
  return `/v1/txs/${txId}/proof`;
}
