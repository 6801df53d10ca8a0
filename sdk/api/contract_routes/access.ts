/**
 * Read routes of the `access.*` kinds: a stream's grants, a reader's grants,
 * and whether a reader had access at a given time. Stream names may contain
 * `/`: percent-encode them in the path (`truck-17%2Ftemp`).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { decimalInt, Did } from "../schemas.ts";
import { COMMON_PROBLEMS, json, nextCursor, pageAfter, pageLimit, readParams } from "./_common.ts";

/**
 * Most grants of one stream and reader key that `GET /v1/streams/{stream}/access`
 * examines (per key: a device's earlier keys are examined too).
 */
export const ACCESS_CHECK_GRANTS_MAX = 1000;

/** A stream name in a path (percent-encoded when it contains `/`). */
export const StreamParam = z.string().min(1).max(128).openapi({ example: "truck-17/temp" });

/** A grant as stored; its window is `[from, min(until, revokedAt))`. */
export const GrantView = z.object({
  grant: z.string(),
  stream: z.string(),
  owner: z.string(),
  reader: z.string(),
  purpose: z.string(),
  from: z.number().int(),
  until: z.number().int(),
  grantedAt: z.number().int(),
  height: z.number().int(),
  revokedAt: z.number().int().optional(),
  revokedBy: z.string().optional(),
  revokedTx: z.string().optional(),
  reason: z.string().optional(),
}).openapi("AccessGrant");

const GrantPage = z.object({ grants: z.array(GrantView), next: nextCursor }).openapi(
  "AccessGrantPage",
);

/** `GET /v1/streams/{stream}/grants?reader=&after=&limit=`. */
export const listStreamGrants = createRoute({
  method: "get",
  path: "/v1/streams/{stream}/grants",
  operationId: "listStreamGrants",
  tags: ["access"],
  summary: "Who was granted access to a stream, when, and why",
  description: "Every grant of the stream, revoked ones included, ordered by reader; " +
    "`reader` keeps one reader's.",
  request: {
    params: z.object({ stream: StreamParam }),
    query: z.object({
      reader: Did.optional(),
      after: pageAfter,
      limit: pageLimit,
      ...readParams,
    }),
  },
  responses: { 200: json(GrantPage, "The page."), ...COMMON_PROBLEMS },
});

/** `GET /v1/access/readers/{reader}/grants?after=&limit=`. */
export const listReaderGrants = createRoute({
  method: "get",
  path: "/v1/access/readers/{reader}/grants",
  operationId: "listReaderGrants",
  tags: ["access"],
  summary: "Every grant a reader received, ordered by stream",
  request: {
    params: z.object({ reader: Did }),
    query: z.object({ after: pageAfter, limit: pageLimit, ...readParams }),
  },
  responses: { 200: json(GrantPage, "The page."), ...COMMON_PROBLEMS },
});

/** `GET /v1/streams/{stream}/access?reader=&at=`. */
export const checkStreamAccess = createRoute({
  method: "get",
  path: "/v1/streams/{stream}/access",
  operationId: "checkStreamAccess",
  tags: ["access"],
  summary: "Whether a reader had access to a stream at time `at`",
  description: "`allowed` is true when a grant's window `[from, min(until, revokedAt))` " +
    `contains \`at\`; \`grants\` are those grants. Examines at most ${ACCESS_CHECK_GRANTS_MAX} ` +
    "grants of the pair (`truncated` says when there were more). When `reader` is the current " +
    "key of an active device that rotated its key, the grants its earlier keys received count " +
    "too, and `readerKeys` lists the keys examined (`reader` first).",
  request: {
    params: z.object({ stream: StreamParam }),
    query: z.object({
      reader: Did,
      at: decimalInt(0).openapi({ type: "integer", minimum: 0, description: "Time, ms." }),
      ...readParams,
    }),
  },
  responses: {
    200: json(
      z.object({
        stream: z.string(),
        reader: z.string(),
        at: z.number().int(),
        allowed: z.boolean(),
        grants: z.array(GrantView),
        truncated: z.boolean(),
        readerKeys: z.array(z.string()).optional(),
      }).openapi("AccessCheck"),
      "The verdict.",
    ),
    ...COMMON_PROBLEMS,
  },
});

/** Every `access.*` read route. */
export const ACCESS_ROUTES = { listStreamGrants, listReaderGrants, checkStreamAccess };
