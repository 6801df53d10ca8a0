/**
 * Read routes of `custody.*` (`sdk/api/contract_routes/custody.ts`).
 *
 * @module
 */
import {
  CUSTODY_HISTORY_LIMIT_MAX,
  getCustodyHistory,
  getCustodyItem,
} from "../../../sdk/api/contract_routes/custody.ts";
import { proofPath } from "../../../sdk/api/contract_routes/_common.ts";
import {
  ITEM_NS,
  type ItemState,
  STEP_NS,
  stepKey,
  type StepRecord,
} from "../../contracts/custody.ts";
import { ANCHOR_NS, anchorKey, type AnchorRecord } from "../../contracts/data_anchor.ts";
import { type Consistency, LedgerError, type LedgerService } from "../service.ts";
import type { ContractRouteRegistrar } from "./mod.ts";
import { notFound, statePage } from "./_common.ts";

/**
 * The `data.anchor` record of `stream`/`seq`, or undefined. Read as a
 * one-entry range: its key contains `\u0000`, which storage's point lookup
 * cannot match.
 */
export async function findAnchor(
  service: LedgerService,
  stream: string,
  seq: number,
  consistency: Consistency,
): Promise<AnchorRecord | undefined> {
  const key = anchorKey(stream, seq);
  const rows = await service.stateRange(ANCHOR_NS, key, { limit: 1 }, consistency);
  const found = rows[0]?.value as AnchorRecord | undefined;
  return found !== undefined && found.stream === stream && found.seq === seq ? found : undefined;
}

/** Adds the `custody.*` read routes. */
export const custodyRoutes: ContractRouteRegistrar = (app, service) => {
  app.openapi(getCustodyItem, async (c) => {
    const { item } = c.req.valid("param");
    const { consistency } = c.req.valid("query");
    const found = await service.stateGet(ITEM_NS, item, consistency) as ItemState | undefined;
    if (found === undefined) throw notFound(`Cannot find item "${item}"`);
    c.header("Cache-Control", "no-cache");
    return c.json(found, 200);
  });
  app.openapi(getCustodyHistory, async (c) => {
    const { item } = c.req.valid("param");
    const { after, limit = CUSTODY_HISTORY_LIMIT_MAX, proofs, consistency } = c.req.valid(
      "query",
    );
    const found = await service.stateGet(ITEM_NS, item, consistency) as ItemState | undefined;
    if (found === undefined) throw notFound(`Cannot find item "${item}"`);
    const prefix = stepKey(item, 0).slice(0, -16);
    const page = await statePage<StepRecord>(
      service,
      STEP_NS,
      prefix,
      { after, limit },
      consistency,
    );
    const steps = await Promise.all(page.items.map(async (s) => {
      const anchors = s.anchors === undefined ? undefined : await Promise.all(
        s.anchors.map(async (a) => {
          const rec = await findAnchor(service, a.stream, a.seq, consistency);
          return rec === undefined ? a : {
            ...a,
            txId: rec.txId,
            root: rec.root,
            count: rec.count,
            from: rec.from,
            to: rec.to,
          };
        }),
      );
      const proof = proofs === "true"
        ? await proofOrUndefined(service, s.txId, consistency)
        : undefined;
      return {
        ...s,
        ...(anchors !== undefined ? { anchors } : {}),
        proofUrl: proofPath(s.txId),
        ...(proof !== undefined ? { proof } : {}),
      };
    }));
    c.header("Cache-Control", "no-cache");
    return c.json({ item: found, steps, next: page.next }, 200);
  });
};

/**
 * The step's inclusion proof at the latest checkpoint, or undefined when
 * the checkpoint does not cover it yet (the client follows `proofUrl` later).
 */
async function proofOrUndefined(service: LedgerService, txId: string, consistency: Consistency) {
  try {
    return await service.proof(txId, undefined, consistency) ?? undefined;
  } catch (e) {
    if (e instanceof LedgerError && e.status < 500) return undefined;
    throw e;
  }
}
