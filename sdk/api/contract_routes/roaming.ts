/**
 * Read routes of the `roaming.*` kinds: a period with its running totals,
 * its records, its flagged records, and its settlement statement with the
 * carriers' signatures.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  COMMON_PROBLEMS,
  json,
  nextCursor,
  pageAfter,
  pageLimit,
  problem,
  readParams,
} from "./_common.ts";

const PeriodId = z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/).openapi({
  example: "orga-orgb-2026-11",
});
const RecordId = z.string().min(1).max(128).regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/);
const Dec = z.string().openapi({ description: "Integer decimal string." });

const Totals = z.object({
  records: Dec,
  voiceMinutes: Dec,
  dataMb: Dec,
  sms: Dec,
  flagged: Dec,
});

/** A settlement statement. */
export const StatementView = z.object({
  period: z.string(),
  currency: z.string(),
  from: z.number().int(),
  until: z.number().int(),
  lines: z.array(z.object({
    visited: z.string(),
    home: z.string(),
    records: Dec,
    voiceMinutes: Dec,
    dataMb: Dec,
    sms: Dec,
    charges: z.object({ voice: Dec, data: Dec, sms: Dec }),
    total: Dec,
    disputedRecords: Dec,
    heldRecords: Dec.openapi({
      description: "Records still held at close (overlapping usage neither accepted nor " +
        "disputed); not billed.",
    }),
    flaggedRecords: Dec,
  })),
  net: z.object({ from: z.string(), to: z.string(), amount: Dec }),
}).openapi("RoamingStatement");

const Signatures = z.record(
  z.string(),
  z.object({ by: z.string(), txId: z.string(), time: z.number().int() }),
);

/** A period as stored. */
export const PeriodView = z.object({
  period: z.string(),
  carriers: z.array(z.object({
    org: z.string(),
    keys: z.array(z.string()).optional(),
    tariff: z.object({ voiceMinute: Dec, dataMb: Dec, sms: Dec }),
  })),
  from: z.number().int(),
  until: z.number().int(),
  currency: z.string(),
  limits: z.object({
    maxSpeedKmh: z.number().int(),
    voiceMinutesPerHour: z.number().int(),
    dataMbPerHour: z.number().int(),
    smsPerHour: z.number().int(),
  }),
  status: z.enum(["open", "closed", "final"]),
  totals: z.record(
    z.string(),
    z.object({
      billed: Totals,
      disputed: Totals,
      held: Totals.optional().openapi({
        description: "Records held for overlapping usage, awaiting the home carrier's " +
          "`roaming.accept` or `roaming.dispute`; never billed.",
      }),
    }),
  ),
  openedTx: z.string(),
  openedHeight: z.number().int(),
  statement: StatementView.optional(),
  statementHash: z.string().optional(),
  closedTx: z.string().optional(),
  closedAt: z.number().int().optional(),
  signatures: Signatures,
  finalTx: z.string().optional(),
  finalAt: z.number().int().optional(),
}).openapi("RoamingPeriod");

/** A usage record as stored. */
export const UsageRecordView = z.object({
  period: z.string(),
  record: z.string(),
  visited: z.string(),
  home: z.string(),
  imsiHash: z.string(),
  country: z.string(),
  lat: z.number().int(),
  lon: z.number().int(),
  from: z.number().int(),
  to: z.number().int(),
  voiceMinutes: z.number().int(),
  dataMb: z.number().int(),
  sms: z.number().int(),
  flags: z.array(z.string()),
  overlaps: z.array(z.string()).optional().openapi({
    description: "With the flag `overlapping_usage`: the records whose usage this one overlaps.",
  }),
  held: z.literal(true).optional().openapi({
    description: "Present while the record is held out of the billed totals.",
  }),
  accepted: z.object({
    by: z.string(),
    detail: z.string().optional(),
    txId: z.string(),
    time: z.number().int(),
  }).optional(),
  txId: z.string(),
  height: z.number().int(),
  disputed: z.object({
    by: z.string(),
    reason: z.string(),
    detail: z.string().optional(),
    txId: z.string(),
    time: z.number().int(),
  }).optional(),
}).openapi("RoamingRecord");

/** A flagged record in the flag queue. */
export const FlagView = z.object({
  period: z.string(),
  record: z.string(),
  visited: z.string(),
  imsiHash: z.string(),
  flags: z.array(z.string()),
  overlaps: z.array(z.string()).optional(),
  txId: z.string(),
}).openapi("RoamingFlag");

const notFoundPeriod = problem("`not_found`: no such period.");

/** `GET /v1/roaming/periods/{period}`. */
export const getRoamingPeriod = createRoute({
  method: "get",
  path: "/v1/roaming/periods/{period}",
  operationId: "getRoamingPeriod",
  tags: ["roaming"],
  summary: "A roaming period: agreement, running totals, status",
  request: { params: z.object({ period: PeriodId }), query: z.object({ ...readParams }) },
  responses: { 200: json(PeriodView, "The period."), 404: notFoundPeriod, ...COMMON_PROBLEMS },
});

/** `GET /v1/roaming/periods/{period}/records?after=&limit=`. */
export const listRoamingRecords = createRoute({
  method: "get",
  path: "/v1/roaming/periods/{period}/records",
  operationId: "listRoamingRecords",
  tags: ["roaming"],
  summary: "A period's usage records, by record id",
  request: {
    params: z.object({ period: PeriodId }),
    query: z.object({ after: pageAfter, limit: pageLimit, ...readParams }),
  },
  responses: {
    200: json(
      z.object({ records: z.array(UsageRecordView), next: nextCursor }).openapi(
        "RoamingRecordPage",
      ),
      "The page.",
    ),
    404: notFoundPeriod,
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/roaming/periods/{period}/records/{record}`. */
export const getRoamingRecord = createRoute({
  method: "get",
  path: "/v1/roaming/periods/{period}/records/{record}",
  operationId: "getRoamingRecord",
  tags: ["roaming"],
  summary: "One usage record, with its flags, hold and dispute",
  request: {
    params: z.object({ period: PeriodId, record: RecordId }),
    query: z.object({ ...readParams }),
  },
  responses: {
    200: json(UsageRecordView, "The record."),
    404: problem("`not_found`: no such record."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/roaming/periods/{period}/flags?after=&limit=`. */
export const listRoamingFlags = createRoute({
  method: "get",
  path: "/v1/roaming/periods/{period}/flags",
  operationId: "listRoamingFlags",
  tags: ["roaming"],
  summary: "A period's records flagged by the fraud signals or held for overlapping usage",
  request: {
    params: z.object({ period: PeriodId }),
    query: z.object({ after: pageAfter, limit: pageLimit, ...readParams }),
  },
  responses: {
    200: json(
      z.object({ flags: z.array(FlagView), next: nextCursor }).openapi("RoamingFlagPage"),
      "The page.",
    ),
    404: notFoundPeriod,
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/roaming/periods/{period}/statement`. */
export const getRoamingStatement = createRoute({
  method: "get",
  path: "/v1/roaming/periods/{period}/statement",
  operationId: "getRoamingStatement",
  tags: ["roaming"],
  summary: "The settlement statement of a closed period, its hash and signatures",
  description: '`statementHash` is hex SHA-256 of `"edgeledger/roaming-statement/v1\\n" + ' +
    "JCS(statement)`: recompute it, then sign it with `roaming.sign`. `final` once both " +
    "carriers signed.",
  request: { params: z.object({ period: PeriodId }), query: z.object({ ...readParams }) },
  responses: {
    200: json(
      z.object({
        statement: StatementView,
        statementHash: z.string(),
        signatures: Signatures,
        final: z.boolean(),
      }).openapi("RoamingStatementView"),
      "The statement.",
    ),
    404: problem("`not_found`: no such period, or it is not closed yet."),
    ...COMMON_PROBLEMS,
  },
});

/** Every `roaming.*` read route. */
export const ROAMING_ROUTES = {
  getRoamingPeriod,
  listRoamingRecords,
  getRoamingRecord,
  listRoamingFlags,
  getRoamingStatement,
};
