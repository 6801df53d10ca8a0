/**
 * The public HTTP API of a site (DESIGN §6): Hono routes over the
 * {@link LedgerService} contract, with zod validation at every route,
 * RFC 9457 problems for every failure, `X-Request-Id` on every answer,
 * Server-Sent Events of committed blocks, `/openapi.json` and `/metrics`.
 *
 * The route definitions themselves are protocol and live in
 * `sdk/api/routes.ts`; this folder implements them. `src/site` implements
 * `LedgerService` and mounts {@link createApp}'s app.
 *
 * @module
 */

export { type AppOptions, type AppType, CACHE_IMMUTABLE, createApp } from "./app.ts";
export {
  type BlockEvent,
  type BlockHeaderJson,
  type BlockView,
  type Consistency,
  type IntegrityReport,
  LedgerError,
  type LedgerService,
  type ProofView,
  type Receipt,
  type SiteView,
  type StatusView,
  type SubmitOptions,
  type TxResult,
} from "./service.ts";
export {
  createHttpMetrics,
  type HttpMetrics,
  requestSizeLimit,
  requireJsonBody,
} from "./middleware.ts";
export { PROBLEM_MEDIA_TYPE, type ProblemInit, problemResponse } from "./problem.ts";
