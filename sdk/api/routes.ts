/**
 * The public HTTP API's route definitions (DESIGN §6), shared by the server
 * (which implements them with `@hono/zod-openapi`) and the typed client.
 *
 * Every route lists its success responses and the problems it can answer
 * with (`application/problem+json`, see {@link PROBLEM_TYPES}). Paths and
 * shapes of the routes in DESIGN §6's table are normative.
 *
 * Consistency defaults: reads of committed, immutable data (transactions,
 * proofs, blocks) default to `stale`, because any replica that has them
 * serves the same bytes and a replica that does not yet answers 404, which a
 * client may retry with `leader`. Checkpoints and consistency proofs default
 * to `stale` too: a checkpoint is co-signed by a quorum of sites and
 * verifies on its own, so any replica may serve the newest it holds.
 *
 * @module
 */

import { createRoute, z } from "@hono/zod-openapi";
import { KIND_CHARS_MAX, KIND_RE } from "../envelope.ts";
import {
  BlockEvent,
  BlockPage,
  BLOCKS_PAGE_LIMIT_DEFAULT,
  BLOCKS_PAGE_LIMIT_MAX,
  BlockView,
  ConsistencyLevel,
  ConsistencyProof,
  decimalInt,
  Did,
  EVENTS_KINDS_MAX,
  Hash,
  Health,
  IntegrityReport,
  MinHeight,
  PROBLEM_TYPE_BASE,
  ProofView,
  Ready,
  READY_APPLY_LAG_MAX,
  Receipt,
  ReceiptList,
  SiteKeys,
  SiteList,
  StatusView,
  SubmitBody,
  SubmitQuery,
  TxId,
  TxView,
} from "./schemas.ts";
import {
  IMMUTABLE_HEADERS,
  NO_CACHE_HEADERS,
  NO_STORE_HEADERS,
  PROOF_HEADERS,
  RETRY_PROBLEM_HEADERS,
  UNAUTHORIZED_HEADERS,
} from "./headers.ts";
import { json, problem } from "./contract_routes/_common.ts";

export * from "./schemas.ts";
export * from "./headers.ts";

/**
 * The stable problem types: slug → title and the status it is normally
 * served with. Slugs are never renamed or reused; the `type` URI of a
 * problem is `https://edgeledger.dev/problems/<slug>`. The admission slugs
 * are thrown by the site (which decides the status it serves).
 */
export const PROBLEM_TYPES = {
  validation: { title: "Request validation failed", status: 400 },
  unauthorized: { title: "Authentication required", status: 401 },
  forbidden: { title: "Forbidden", status: 403 },
  not_found: { title: "Not found", status: 404 },
  /** A path some route takes, asked with another method; `Allow` lists the methods it takes. */
  method_not_allowed: { title: "Method not allowed", status: 405 },
  payload_too_large: { title: "Request body too large", status: 413 },
  unsupported_media_type: { title: "Unsupported media type", status: 415 },
  rate_limited: { title: "Too many requests", status: 429 },
  internal: { title: "Internal server error", status: 500 },
  unavailable: { title: "Service unavailable", status: 503 },
  wrong_ledger: { title: "Envelope is for another ledger", status: 422 },
  unknown_kind: { title: "Unknown transaction kind", status: 422 },
  invalid_body: { title: "Transaction body fails its kind's schema", status: 422 },
  invalid_envelope: { title: "Malformed transaction envelope", status: 422 },
  expired: { title: "Transaction expired", status: 422 },
  expires_too_far: { title: "Transaction expires too far in the future", status: 422 },
  bad_signature: { title: "Bad or missing signature", status: 422 },
  revoked_signer: { title: "Signer is revoked", status: 422 },
  /**
   * Not served by this version: a resubmitted transaction is answered its
   * receipt (idempotency by id). Kept because slugs are never removed.
   */
  duplicate: { title: "Duplicate transaction", status: 409 },
  envelope_too_large: { title: "Envelope too large", status: 413 },
  unauthorized_signer: { title: "Signer is not authorised for this kind", status: 422 },
  unsupported_rules: { title: "Rules version not supported by this site", status: 422 },
  /**
   * Not served by this version: a proof the site cannot give (a tree size
   * without the transaction, or a transaction not yet in the latest
   * checkpoint) is `invalid_range`. Kept because slugs are never removed.
   */
  proof_unavailable: { title: "Proof unavailable for that tree size", status: 422 },
  invalid_range: { title: "Invalid range", status: 422 },
  /**
   * Served by the admin routes (a membership change or key rotation not
   * applied in time; it may still take effect). `POST /v1/txs?wait=commit`
   * never answers it: its wait times out into 202 and the pending receipt.
   */
  commit_timeout: { title: "Timed out waiting for commit", status: 504 },
  not_leader: { title: "Not the leader", status: 503 },
  insufficient_storage: { title: "Insufficient storage", status: 503 },
  conflict: { title: "Conflict", status: 409 },
} as const satisfies Record<string, { title: string; status: number }>;

/** A problem slug from {@link PROBLEM_TYPES}. */
export type ProblemSlug = keyof typeof PROBLEM_TYPES;

/**
 * The title a problem of `type` (a slug or its URI) is served with: the
 * catalogue's for a slug in {@link PROBLEM_TYPES} — one title per type, as
 * RFC 9457 §3.1.4 asks; what differs between occurrences is the `detail` —
 * else `fallback`.
 *
 * @example
 * ```ts
 * problemTitle("https://edgeledger.dev/problems/invalid_range", "x"); // "Invalid range"
 * ```
 */
export function problemTitle(type: string, fallback: string): string {
  const slug = type.startsWith(PROBLEM_TYPE_BASE) ? type.slice(PROBLEM_TYPE_BASE.length) : type;
  return Object.hasOwn(PROBLEM_TYPES, slug) ? PROBLEM_TYPES[slug as ProblemSlug].title : fallback;
}

/** The `type` URI of a problem slug: `https://edgeledger.dev/problems/<slug>`. */
export function problemTypeUri(slug: string): string {
  return PROBLEM_TYPE_BASE + slug;
}

/** The problems every route can answer with. */
const COMMON_PROBLEMS = {
  400: problem(
    "`validation`: a parameter or the body failed validation; `errors` names the fields.",
  ),
  401: problem(
    "`unauthorized`: an API key this site does not know, or none where it requires one.",
    UNAUTHORIZED_HEADERS,
  ),
  429: problem("`rate_limited`.", RETRY_PROBLEM_HEADERS),
  500: problem("`internal`: a bug; no detail is leaked."),
  503: problem(
    "`unavailable`: the site cannot serve this now (no leader, a full queue, the site is stopping, or — with `height` and `minHeight` — a read's `minHeight` block not applied in time); retry after `Retry-After`, here or at another site. `insufficient_storage` (with `sites`): a write while a site of the cluster is low on disk space; retry after `Retry-After`. `not_leader` " +
      "(with `leader` and `leaderUrl`): a `consistency=leader` read asked of another site.",
    RETRY_PROBLEM_HEADERS,
  ),
} as const;

const consistencyParam = (fallback: "stale" | "leader") =>
  ConsistencyLevel.default(fallback).openapi({ default: fallback });

/** `POST /v1/txs`: submit one envelope or a batch `{ txs: [...] }`. */
export const submitTxs = createRoute({
  method: "post",
  path: "/v1/txs",
  operationId: "submitTxs",
  tags: ["transactions"],
  summary: "Submit one signed envelope, or a batch",
  description: "One envelope is answered by one receipt (200 committed, 202 pending) or, when " +
    "admission refuses it, by its problem. `{ txs: [...] }` is always answered 200 by " +
    "`{ receipts }` in the same order, refused items as receipts with `status: refused` and " +
    "`problem` (`txId` null for an item too malformed to have an id). Idempotent by transaction " +
    "id: a transaction already committed is answered its receipt (also once it has expired), one " +
    "already pending a pending receipt. `wait=commit` answers once committed or after " +
    "`timeoutMs`; a wait that times out is answered 202 with the pending receipt, not a problem.",
  request: {
    query: SubmitQuery,
    body: {
      required: true,
      content: { "application/json": { schema: SubmitBody } },
    },
  },
  responses: {
    200: {
      description: "A committed receipt (one envelope) or the receipts of a batch, in order.",
      headers: NO_STORE_HEADERS,
      content: { "application/json": { schema: z.union([Receipt, ReceiptList]) } },
    },
    202: json(
      Receipt,
      "One envelope, admitted and pending (also when `wait=commit` timed out: poll `GET /v1/txs/{txId}`).",
      NO_STORE_HEADERS,
    ),
    ...COMMON_PROBLEMS,
    413: problem("`payload_too_large` (the request) or `envelope_too_large`."),
    415: problem("`unsupported_media_type`: the body must be application/json."),
    422: problem(
      "Admission refused the envelope: `invalid_envelope`, `wrong_ledger`, `unknown_kind`, " +
        "`invalid_body`, `expired`, `expires_too_far`, `bad_signature`, `revoked_signer`, " +
        "`unauthorized_signer`, `unsupported_rules` (a `gov.setRules` for a rules version this " +
        "site's software cannot execute: upgrade it first).",
    ),
  },
});

/** `GET /v1/txs/{txId}`: the envelope and its receipt. */
export const getTx = createRoute({
  method: "get",
  path: "/v1/txs/{txId}",
  operationId: "getTx",
  tags: ["transactions"],
  summary: "A transaction and its receipt",
  request: {
    params: z.object({ txId: TxId }),
    query: z.object({ consistency: consistencyParam("stale"), minHeight: MinHeight }),
  },
  responses: {
    200: json(TxView, "The signed envelope and its receipt.", NO_CACHE_HEADERS),
    404: problem("`not_found`."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/txs/{txId}/proof`: inclusion proof in the tree of `treeSize` (default: latest checkpoint). */
export const getTxProof = createRoute({
  method: "get",
  path: "/v1/txs/{txId}/proof",
  operationId: "getTxProof",
  tags: ["transactions"],
  summary: "Inclusion proof of a committed transaction",
  description: "RFC 9162 inclusion proof in the tree of size `treeSize` (default: the latest " +
    "checkpoint's size). Cacheable forever when `treeSize` is given.",
  request: {
    params: z.object({ txId: TxId }),
    query: z.object({
      treeSize: decimalInt(1).optional().openapi({ type: "integer", minimum: 1 }),
      consistency: consistencyParam("stale"),
      minHeight: MinHeight,
    }),
  },
  responses: {
    200: json(ProofView, "The inclusion proof.", PROOF_HEADERS),
    404: problem("`not_found`: unknown transaction."),
    422: problem(
      "`invalid_range`: without `treeSize`, the transaction is not yet in the latest co-signed " +
        "checkpoint (a moment after its commit: ask again, or pass `treeSize`); with it, " +
        "`treeSize` does not include the transaction or exceeds the written log.",
    ),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/blocks/{height}`: one block; `height` is a decimal integer. */
export const getBlock = createRoute({
  method: "get",
  path: "/v1/blocks/{height}",
  operationId: "getBlock",
  tags: ["blocks"],
  summary: "A block by height",
  request: {
    params: z.object({
      height: decimalInt(0).openapi({ type: "integer", minimum: 0, example: 12 }),
    }),
    query: z.object({ consistency: consistencyParam("stale"), minHeight: MinHeight }),
  },
  responses: {
    200: json(BlockView, "The block; immutable.", IMMUTABLE_HEADERS),
    404: problem("`not_found`."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/blocks/by-hash/{hash}`: one block by its hash. */
export const getBlockByHash = createRoute({
  method: "get",
  path: "/v1/blocks/by-hash/{hash}",
  operationId: "getBlockByHash",
  tags: ["blocks"],
  summary: "A block by hash",
  request: {
    params: z.object({ hash: Hash }),
    query: z.object({ consistency: consistencyParam("stale"), minHeight: MinHeight }),
  },
  responses: {
    200: json(BlockView, "The block; immutable.", IMMUTABLE_HEADERS),
    404: problem("`not_found`."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/blocks`: blocks `[from, from + limit)` ascending; `next` is the next page's `from`. */
export const listBlocks = createRoute({
  method: "get",
  path: "/v1/blocks",
  operationId: "listBlocks",
  tags: ["blocks"],
  summary: "A page of blocks, ascending",
  description: "Blocks with heights in `[from, from + limit)` that exist. `next` is the `from` " +
    "of the next page, or null when this page reached the head.",
  request: {
    query: z.object({
      from: decimalInt(0).optional().openapi({ type: "integer", minimum: 0, default: 0 }),
      limit: decimalInt(1, BLOCKS_PAGE_LIMIT_MAX).optional().openapi({
        type: "integer",
        minimum: 1,
        maximum: BLOCKS_PAGE_LIMIT_MAX,
        default: BLOCKS_PAGE_LIMIT_DEFAULT,
      }),
      consistency: consistencyParam("stale"),
      minHeight: MinHeight,
    }),
  },
  responses: {
    200: json(BlockPage, "The page.", NO_CACHE_HEADERS),
    ...COMMON_PROBLEMS,
  },
});

/**
 * A real checkpoint as `GET /v1/checkpoint` serves it (size 42, height 7,
 * signed by two example keys): origin, size, base64 root, `height <n>`,
 * `block <hex>`, a blank line, one `— <site> <base64>` line per signer.
 * It parses with `parseNote` and `parseCheckpoint` (`routes_test.ts`).
 */
export const CHECKPOINT_EXAMPLE = "edgeledger.local/demo\n42\n" +
  "tWfAy7LoXCleat6TDluzSaS5vulInKp9a2ed1G6CpxE=\nheight 7\n" +
  "block 7c36d27a3da53bf5c9cf81bb542acdf263744b2f79979d622d181fd074048bbf\n\n" +
  "— site-a AgpRkL3L4PS7IKN8Nrh9EmDO2NwrLkUwFzEQATjsYYeyI10UpoTumCGxLXCATUiLp1LDwF5N2/HeADgkrpg2eFuHGwU=\n" +
  "— site-b YuE180seb1+/hNQ8jqmFxuAn48qVv9zyG+XUjsoVuksq3x/T6m+BlNPCoAb0pac1JGzwInDAu65hgYgr7XzaHk5SegY=\n";

/** `GET /v1/checkpoint`: the latest co-signed checkpoint as a C2SP signed note. */
export const getCheckpoint = createRoute({
  method: "get",
  path: "/v1/checkpoint",
  operationId: "getCheckpoint",
  tags: ["log"],
  summary: "The latest co-signed checkpoint",
  request: { query: z.object({ consistency: consistencyParam("stale"), minHeight: MinHeight }) },
  responses: {
    200: {
      description: "A C2SP signed note wrapping a tlog-checkpoint, served as " +
        "`text/plain; charset=utf-8`. Never cached: the next block brings a newer one.",
      headers: NO_STORE_HEADERS,
      content: {
        "text/plain": {
          schema: z.string().openapi({
            example: CHECKPOINT_EXAMPLE,
          }),
        },
      },
    },
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/consistency?from=N&to=M`: RFC 9162 consistency proof; requires `0 < from <= to <= logSize`. */
export const getConsistency = createRoute({
  method: "get",
  path: "/v1/consistency",
  operationId: "getConsistency",
  tags: ["log"],
  summary: "Consistency proof between two tree sizes",
  request: {
    query: z.object({
      from: decimalInt(1).openapi({ type: "integer", minimum: 1 }),
      to: decimalInt(1).openapi({ type: "integer", minimum: 1 }),
      consistency: consistencyParam("stale"),
      minHeight: MinHeight,
    }).refine((q) => q.from <= q.to, { error: "Must be at least from", path: ["to"] }),
  },
  responses: {
    200: json(ConsistencyProof, "The proof, hex.", IMMUTABLE_HEADERS),
    422: problem("`invalid_range`: `to` exceeds the log size."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/status`: this site's view of the cluster. */
export const getStatus = createRoute({
  method: "get",
  path: "/v1/status",
  operationId: "getStatus",
  tags: ["cluster"],
  summary: "This site's status",
  request: { query: z.object({ minHeight: MinHeight }) },
  responses: {
    200: json(StatusView, "The status; never cached.", NO_STORE_HEADERS),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/sites`: the member sites and their checkpoint verifier keys. */
export const listSites = createRoute({
  method: "get",
  path: "/v1/sites",
  operationId: "listSites",
  tags: ["cluster"],
  summary: "Member sites",
  request: { query: z.object({ minHeight: MinHeight }) },
  responses: { 200: json(SiteList, "The sites.", NO_CACHE_HEADERS), ...COMMON_PROBLEMS },
});

/** `GET /v1/sites/{name}/keys`: a member's key, its rotations and its retired keys. */
export const getSiteKeys = createRoute({
  method: "get",
  path: "/v1/sites/{name}/keys",
  operationId: "getSiteKeys",
  tags: ["cluster"],
  summary: "A member site's keys",
  description: "The key the site signs with now, the rotations that led to it (each signed by " +
    "the key it retired and the new one, so a verifier that trusts an earlier key can follow " +
    "them offline), and its retired keys with the last block height each signed.",
  request: {
    params: z.object({ name: z.string().min(1).max(64) }),
    query: z.object({ minHeight: MinHeight }),
  },
  responses: {
    200: json(SiteKeys, "The site's keys.", NO_CACHE_HEADERS),
    404: problem("`not_found`: no member of that name."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/integrity`: re-verifies the whole chain from this site's database. */
export const getIntegrity = createRoute({
  method: "get",
  path: "/v1/integrity",
  operationId: "getIntegrity",
  tags: ["cluster"],
  summary: "Run the integrity check",
  description: "Re-verifies every block and the Merkle log from this site's database. Expensive: " +
    "one check runs at a time, and requests that arrive while it runs share its report.",
  request: { query: z.object({ minHeight: MinHeight }) },
  responses: {
    200: json(IntegrityReport, "The report.", NO_STORE_HEADERS),
    ...COMMON_PROBLEMS,
  },
});

/**
 * `GET /v1/events`: Server-Sent Events of committed blocks.
 *
 * Each block is an event `block` with `id` = height and data = a
 * {@link BlockEvent}. Resume with `Last-Event-ID` (the last height received;
 * it wins over `from`) or start at height `from`; with neither, only blocks
 * committed after connecting are sent. Filters (`kind`: comma list, `signer`:
 * a did) keep the transactions that match all given filters; a block with no
 * matching transaction is sent as a bare `id:` line, which advances the
 * resume point without dispatching an event. A comment line every 15 s keeps
 * the connection alive. An `end` event with `{reason}` precedes a server-side
 * close (e.g. `slow_consumer`).
 */
export const streamEvents = createRoute({
  method: "get",
  path: "/v1/events",
  operationId: "streamEvents",
  tags: ["events"],
  summary: "Server-Sent Events of committed blocks",
  request: {
    query: z.object({
      from: decimalInt(0).optional().openapi({ type: "integer", minimum: 0 }),
      kind: z.string()
        .refine(
          (s) => s.split(",").every((k) => k.length <= KIND_CHARS_MAX && KIND_RE.test(k)),
          { error: "Must be a comma-separated list of kinds (e.g. data.anchor,gov.addSite)" },
        )
        .refine((s) => s.split(",").length <= EVENTS_KINDS_MAX, {
          error: `Must list at most ${EVENTS_KINDS_MAX} kinds`,
        })
        .optional()
        .openapi({ example: "data.anchor,custody.handoff" }),
      signer: Did.optional(),
    }),
    headers: z.object({
      "last-event-id": decimalInt(0).optional().openapi({
        type: "integer",
        minimum: 0,
        description: "The height of the last block received; resume after it.",
      }),
    }),
  },
  responses: {
    200: {
      description: "`text/event-stream` of `block` events (data: BlockEvent). The stream " +
        "has no length (chunked) and is never cached.",
      headers: NO_CACHE_HEADERS,
      content: { "text/event-stream": { schema: BlockEvent } },
    },
    ...COMMON_PROBLEMS,
  },
});

/** `GET /healthz`: liveness; answers without touching the ledger. */
export const getHealth = createRoute({
  method: "get",
  path: "/healthz",
  operationId: "getHealth",
  tags: ["operations"],
  summary: "Liveness",
  responses: { 200: json(Health, "The process serves HTTP.", NO_STORE_HEADERS) },
});

/** `GET /readyz`: readiness, for load balancers and orchestrators. */
export const getReady = createRoute({
  method: "get",
  path: "/readyz",
  operationId: "getReady",
  tags: ["operations"],
  summary: "Readiness",
  description:
    "200 while the site can take traffic: it has not stopped taking writes, is a member of the " +
    "cluster, knows a leader, has no more than " + READY_APPLY_LAG_MAX + " committed Raft " +
    "entries left to apply, and has its minimum of free space on its data volume " +
    "(`diskFreeBytesMin`). Otherwise 503 `unavailable`, whose `detail` names every check that " +
    "failed and whose `checks` says which passed. Unlike `/healthz` (the process answers), a " +
    "site that is not ready may still serve `stale` reads.",
  responses: {
    200: json(Ready, "The site is ready for traffic.", NO_STORE_HEADERS),
    503: problem(
      "`unavailable`: not ready; `detail` names the failed checks, `checks` " +
        "(`running`, `member`, `leader`, `applied`, `disk`) which passed.",
      RETRY_PROBLEM_HEADERS,
    ),
  },
});

/** `GET /metrics`: the site's Prometheus metrics, for its operators' scrapers. */
export const getMetrics = createRoute({
  method: "get",
  path: "/metrics",
  operationId: "getMetrics",
  tags: ["operations"],
  summary: "Prometheus metrics",
  description: "The Prometheus text exposition format 0.0.4 (`text/plain; version=0.0.4`): HTTP " +
    "requests by route and status, the ledger's and consensus' gauges, the process's. Never cached.",
  responses: {
    200: {
      description: "The metrics, one sample a line.",
      headers: NO_STORE_HEADERS,
      content: {
        "text/plain": {
          schema: z.string().openapi({
            example: "# TYPE edgeledger_site_height gauge\nedgeledger_site_height 7\n",
          }),
        },
      },
    },
    500: problem("`internal`: a bug; no detail is leaked."),
  },
});

/** Every route of the public API, for clients and documentation tooling. */
export const ROUTES = {
  submitTxs,
  getTx,
  getTxProof,
  getBlock,
  getBlockByHash,
  listBlocks,
  getCheckpoint,
  getConsistency,
  getStatus,
  listSites,
  getSiteKeys,
  getIntegrity,
  streamEvents,
  getHealth,
  getReady,
  getMetrics,
} as const;
