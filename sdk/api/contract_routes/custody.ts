/**
 * Read routes of the `custody.*` kinds: an item and its provenance, one
 * step per transaction, each with the route of its inclusion proof (and
 * the proof itself with `proofs=true`), so a consumer can check every step
 * against a co-signed checkpoint.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { decimalInt, ProofView } from "../schemas.ts";
import { COMMON_PROBLEMS, json, nextCursor, pageAfter, problem, readParams } from "./_common.ts";

/** Largest `limit` of the history route (each step may carry a proof and anchors). */
export const CUSTODY_HISTORY_LIMIT_MAX = 100;

const ItemId = z.string().min(1).max(128).regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/).openapi({
  example: "shipment:0042",
});

/** An item as stored. */
export const ItemView = z.object({
  item: z.string(),
  description: z.string(),
  attributes: z.record(z.string(), z.string()).optional(),
  producer: z.string(),
  holder: z.string(),
  steps: z.number().int(),
  createdTx: z.string(),
  createdHeight: z.number().int(),
  lastTx: z.string(),
  lastHeight: z.number().int(),
}).openapi("CustodyItem");

/** A sensor anchor cited by a step, resolved to its `data.anchor` when it is found. */
export const StepAnchorView = z.object({
  stream: z.string(),
  seq: z.number().int(),
  txId: z.string().optional(),
  root: z.string().optional(),
  count: z.number().int().optional(),
  from: z.number().int().optional(),
  to: z.number().int().optional(),
}).openapi("CustodyStepAnchor");

/** One step of an item's provenance. */
export const StepView = z.object({
  item: z.string(),
  step: z.number().int(),
  type: z.enum(["create", "handoff", "attach"]),
  holder: z.string(),
  from: z.string().optional(),
  to: z.string().optional(),
  location: z.string().optional(),
  note: z.string().optional(),
  anchors: z.array(StepAnchorView).optional(),
  txId: z.string(),
  height: z.number().int(),
  time: z.number().int(),
  proofUrl: z.string().openapi({ example: "/v1/txs/9f2c.../proof" }),
  proof: ProofView.optional(),
}).openapi("CustodyStep");

/** `GET /v1/custody/items/{item}`. */
export const getCustodyItem = createRoute({
  method: "get",
  path: "/v1/custody/items/{item}",
  operationId: "getCustodyItem",
  tags: ["custody"],
  summary: "An item: producer, current holder, number of steps",
  request: { params: z.object({ item: ItemId }), query: z.object({ ...readParams }) },
  responses: {
    200: json(ItemView, "The item."),
    404: problem("`not_found`: no such item."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/custody/items/{item}/history?after=&limit=&proofs=`. */
export const getCustodyHistory = createRoute({
  method: "get",
  path: "/v1/custody/items/{item}/history",
  operationId: "getCustodyHistory",
  tags: ["custody"],
  summary: "An item's provenance, a page of steps in order, each with its proof",
  description: "Steps in order from creation. Each step names its transaction and the route of " +
    "its inclusion proof; with `proofs=true` the proof (at the latest checkpoint's tree size) " +
    "is inlined. Cited sensor anchors are resolved to their `data.anchor` (root, tx id).",
  request: {
    params: z.object({ item: ItemId }),
    query: z.object({
      after: pageAfter,
      limit: decimalInt(1, CUSTODY_HISTORY_LIMIT_MAX).optional().openapi({
        type: "integer",
        minimum: 1,
        maximum: CUSTODY_HISTORY_LIMIT_MAX,
        default: CUSTODY_HISTORY_LIMIT_MAX,
      }),
      proofs: z.enum(["true", "false"]).optional(),
      ...readParams,
    }),
  },
  responses: {
    200: json(
      z.object({ item: ItemView, steps: z.array(StepView), next: nextCursor })
        .openapi("CustodyHistory"),
      "The page.",
    ),
    404: problem("`not_found`: no such item."),
    ...COMMON_PROBLEMS,
  },
});

/** Every `custody.*` read route. */
export const CUSTODY_ROUTES = { getCustodyItem, getCustodyHistory };
