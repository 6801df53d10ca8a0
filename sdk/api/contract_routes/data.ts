/**
 * Read routes of the `data.*` kinds: a stream, its anchors, the gaps in its
 * sequence numbers (a monitor that went silent), and verifying one reading
 * against its anchor. Stream names may contain `/`: percent-encode them in
 * the path (`truck-17%2Ftelemetry`).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { canonicalJson, type JsonValue } from "../../canonical_json.ts";
import { Base64Url, decimalInt, Hash } from "../schemas.ts";
import { NO_STORE_HEADERS } from "../headers.ts";
import { COMMON_PROBLEMS, json, pageLimit, problem, readParams } from "./_common.ts";
import { StreamParam } from "./access.ts";

/** Most anchors `GET /v1/streams/{stream}/gaps` scans per call. */
export const GAPS_SCAN_ANCHORS_MAX = 1000;
/** Most audit path elements of a reading proof (a batch of at most 2^63 readings). */
export const READING_PROOF_PATH_MAX = 63;

/** A stream's state. */
export const StreamView = z.object({
  stream: z.string(),
  owner: z.string(),
  lastSeq: z.number().int(),
  count: z.number().int().openapi({ description: "Number of anchors." }),
  firstHeight: z.number().int(),
  lastHeight: z.number().int(),
}).openapi("DataStream");

/** A stored anchor. */
export const AnchorView = z.object({
  stream: z.string(),
  seq: z.number().int(),
  root: z.string(),
  count: z.number().int(),
  from: z.number().int(),
  to: z.number().int(),
  txId: z.string(),
  height: z.number().int(),
  signer: z.string(),
}).openapi("DataAnchor");

const seqCursor = decimalInt(0).optional().openapi({
  type: "integer",
  minimum: 0,
  description: "Start after this seq (the `next` of the previous page).",
});

/** `GET /v1/streams/{stream}`. */
export const getStream = createRoute({
  method: "get",
  path: "/v1/streams/{stream}",
  operationId: "getStream",
  tags: ["data"],
  summary: "A stream: owner, last seq, number of anchors",
  request: {
    params: z.object({ stream: StreamParam }),
    query: z.object({ ...readParams }),
  },
  responses: {
    200: json(StreamView, "The stream."),
    404: problem("`not_found`: no such stream."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/streams/{stream}/anchors?after=&limit=`. */
export const listStreamAnchors = createRoute({
  method: "get",
  path: "/v1/streams/{stream}/anchors",
  operationId: "listStreamAnchors",
  tags: ["data"],
  summary: "A stream's anchors in seq order, a page at a time",
  request: {
    params: z.object({ stream: StreamParam }),
    query: z.object({ after: seqCursor, limit: pageLimit, ...readParams }),
  },
  responses: {
    200: json(
      z.object({
        anchors: z.array(AnchorView),
        next: z.string().nullable().openapi({ description: "The last seq of a full page." }),
      }).openapi("DataAnchorPage"),
      "The page.",
    ),
    404: problem("`not_found`: no such stream."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/streams/{stream}/gaps?after=&limit=&silenceMs=`. */
export const getStreamGaps = createRoute({
  method: "get",
  path: "/v1/streams/{stream}/gaps",
  operationId: "getStreamGaps",
  tags: ["data"],
  summary: "Missing sequence ranges of a stream (and silent periods)",
  description: "Scans at most `limit` anchors (default and maximum " +
    `${GAPS_SCAN_ANCHORS_MAX}) after seq \`after\` and reports each missing seq range between ` +
    "consecutive anchors (`after` itself counts as anchored when given; a stream starts at its " +
    "first anchor). With `silenceMs`, also reports each stretch longer than that between one " +
    "anchor's `to` and the next one's `from`. `lastSeq`/`lastTo` tell how long a monitor has " +
    "been silent. `next` continues the scan.",
  request: {
    params: z.object({ stream: StreamParam }),
    query: z.object({
      after: seqCursor,
      limit: decimalInt(1, GAPS_SCAN_ANCHORS_MAX).optional().openapi({
        type: "integer",
        minimum: 1,
        maximum: GAPS_SCAN_ANCHORS_MAX,
        default: GAPS_SCAN_ANCHORS_MAX,
      }),
      silenceMs: decimalInt(1).optional().openapi({ type: "integer", minimum: 1 }),
      ...readParams,
    }),
  },
  responses: {
    200: json(
      z.object({
        stream: z.string(),
        lastSeq: z.number().int(),
        lastTo: z.number().int().nullable(),
        gaps: z.array(z.object({
          from: z.number().int(),
          to: z.number().int(),
          missing: z.number().int(),
        })),
        silences: z.array(z.object({
          afterSeq: z.number().int(),
          beforeSeq: z.number().int(),
          from: z.number().int(),
          to: z.number().int(),
        })).optional(),
        scanned: z.number().int(),
        next: z.string().nullable(),
      }).openapi("DataStreamGaps"),
      "The gaps found in the scanned anchors.",
    ),
    404: problem("`not_found`: no such stream."),
    ...COMMON_PROBLEMS,
  },
});

/**
 * Any JSON value that RFC 8785 canonicalizes, as a JSON reading is hashed:
 * not one with a lone surrogate, a number JSON.parse made infinite (`1e999`)
 * or nesting deeper than `canonicalJson` allows. Typed as the
 * {@link JsonValue} it is once it passed (the same schema at run time: the
 * type only names what the refinement already checks).
 */
const CanonicalJsonValue = z.unknown().superRefine((value, ctx) => {
  // No member at all: the object's refinement says json is required.
  if (value === undefined) return;
  try {
    canonicalJson(value);
  } catch (e) {
    // "Cannot canonicalize value[0].a: nesting too deep": the reason, and
    // where unless the path is long (a deep value's is as deep as it).
    const message = e instanceof Error ? e.message : String(e);
    const split = message.lastIndexOf(": ");
    const where = message.slice(0, split).replace(/^Cannot canonicalize /, "");
    const why = message.slice(split + 2);
    ctx.addIssue({
      code: "custom",
      message: `Must be a JSON value with an RFC 8785 canonical form: ${why}` +
        (where.length <= 100 ? ` (at ${where})` : ""),
    });
  }
}) as unknown as z.ZodType<JsonValue, JsonValue>;

/** The body of `POST /v1/streams/{stream}/verify-reading`. */
export const VerifyReadingRequest = z.strictObject({
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  reading: z.union([
    z.strictObject({ json: CanonicalJsonValue }).refine((r) => Object.hasOwn(r, "json"), {
      error: "json is required",
    }),
    z.strictObject({ bytes: Base64Url }),
  ]).openapi({
    description: "The reading: `{json: <value>}` (hashed as its JCS) or `{bytes: <base64url>}`.",
  }),
  proof: z.strictObject({
    index: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    count: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    path: z.array(Hash).max(READING_PROOF_PATH_MAX),
  }),
}).openapi("VerifyReadingRequest");

/** `POST /v1/streams/{stream}/verify-reading`. */
export const verifyStreamReading = createRoute({
  method: "post",
  path: "/v1/streams/{stream}/verify-reading",
  operationId: "verifyStreamReading",
  tags: ["data"],
  summary: "Verify one reading against the anchor of its batch",
  description: "Checks that the reading is leaf `proof.index` of the batch anchored as `seq`. " +
    "The verdict is computed by this site; clients that trust no site verify the same with the " +
    "SDK's `verifyReading` and the anchor transaction's own inclusion proof (`anchor.txId`).",
  request: {
    params: z.object({ stream: StreamParam }),
    query: z.object({ ...readParams }),
    body: { required: true, content: { "application/json": { schema: VerifyReadingRequest } } },
  },
  responses: {
    200: json(
      z.object({
        valid: z.boolean(),
        reason: z.enum(["count_mismatch", "proof_mismatch"]).optional(),
        leafHash: z.string(),
        anchor: AnchorView,
      }).openapi("VerifyReadingVerdict"),
      "The verdict.",
      NO_STORE_HEADERS,
    ),
    404: problem("`not_found`: no anchor `seq` on this stream."),
    413: problem("`payload_too_large`: the body is larger than the site takes (`limitBytes`)."),
    415: problem("`unsupported_media_type`: the body must be application/json."),
    ...COMMON_PROBLEMS,
  },
});

/** Every `data.*` read route. */
export const DATA_ROUTES = { getStream, listStreamAnchors, getStreamGaps, verifyStreamReading };
