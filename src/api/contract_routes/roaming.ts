/**
 * Read routes of `roaming.*` (`sdk/api/contract_routes/roaming.ts`).
 *
 * @module
 */
import {
  getRoamingPeriod,
  getRoamingRecord,
  getRoamingStatement,
  listRoamingFlags,
  listRoamingRecords,
} from "../../../sdk/api/contract_routes/roaming.ts";
import {
  FLAG_NS,
  type FlagRecord,
  PERIOD_NS,
  type PeriodState,
  RECORD_NS,
  recordKey,
  type UsageRecord,
} from "../../contracts/roaming.ts";
import type { Consistency, LedgerService } from "../service.ts";
import type { ContractRouteRegistrar } from "./mod.ts";
import { notFound, statePage } from "./_common.ts";

async function loadPeriod(service: LedgerService, period: string, consistency: Consistency) {
  const p = await service.stateGet(PERIOD_NS, period, consistency) as PeriodState | undefined;
  if (p === undefined) throw notFound(`Cannot find roaming period "${period}"`);
  return p;
}

/** Adds the `roaming.*` read routes. */
export const roamingRoutes: ContractRouteRegistrar = (app, service) => {
  app.openapi(getRoamingPeriod, async (c) => {
    const { period } = c.req.valid("param");
    const { consistency } = c.req.valid("query");
    const p = await loadPeriod(service, period, consistency);
    c.header("Cache-Control", "no-cache");
    return c.json(p, 200);
  });
  app.openapi(listRoamingRecords, async (c) => {
    const { period } = c.req.valid("param");
    const { after, limit, consistency } = c.req.valid("query");
    await loadPeriod(service, period, consistency);
    const page = await statePage<UsageRecord>(
      service,
      RECORD_NS,
      recordKey(period, ""),
      { after, limit },
      consistency,
    );
    c.header("Cache-Control", "no-cache");
    return c.json({ records: page.items, next: page.next }, 200);
  });
  app.openapi(getRoamingRecord, async (c) => {
    const { period, record } = c.req.valid("param");
    const { consistency } = c.req.valid("query");
    const r = await service.stateGet(RECORD_NS, recordKey(period, record), consistency) as
      | UsageRecord
      | undefined;
    if (r === undefined) throw notFound(`Cannot find record "${record}" in "${period}"`);
    c.header("Cache-Control", "no-cache");
    return c.json(r, 200);
  });
  app.openapi(listRoamingFlags, async (c) => {
    const { period } = c.req.valid("param");
    const { after, limit, consistency } = c.req.valid("query");
    await loadPeriod(service, period, consistency);
    const page = await statePage<FlagRecord>(
      service,
      FLAG_NS,
      recordKey(period, ""),
      { after, limit },
      consistency,
    );
    c.header("Cache-Control", "no-cache");
    return c.json({ flags: page.items, next: page.next }, 200);
  });
  app.openapi(getRoamingStatement, async (c) => {
    const { period } = c.req.valid("param");
    const { consistency } = c.req.valid("query");
    const p = await loadPeriod(service, period, consistency);
    if (p.statement === undefined || p.statementHash === undefined) {
      throw notFound(`Cannot find the statement of "${period}": the period is not closed`);
    }
    c.header("Cache-Control", "no-cache");
    return c.json({
      statement: p.statement,
      statementHash: p.statementHash,
      signatures: p.signatures,
      final: p.status === "final",
    }, 200);
  });
};
