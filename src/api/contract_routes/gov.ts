/**
 * Read routes of `gov.*` (`sdk/api/contract_routes/gov.ts`).
 *
 * @module
 */
import { getGov } from "../../../sdk/api/contract_routes/gov.ts";
import {
  AUTHORITY_NS,
  type AuthorityRecord,
  ORG_NS,
  type OrgRecord,
  type Policy,
  POLICY_KEY,
  POLICY_NS,
  SITE_NS,
  type SiteRecord,
} from "../../contracts/gov.ts";
import {
  activationAt,
  RULES_KEY,
  RULES_NS,
  type RulesRecord,
  scheduledAfter,
} from "../../contracts/rules.ts";
import type { Consistency, LedgerService } from "../service.ts";
import type { ContractRouteRegistrar } from "./mod.ts";

/** Pages per namespace read for `GET /v1/gov`; the state's own limits keep it far below. */
const GOV_PAGES_MAX = 8;
const PAGE_LIMIT = 1000;

/** Every value of `ns`, in key order, at most `GOV_PAGES_MAX` pages. */
async function all<T>(service: LedgerService, ns: string, consistency: Consistency): Promise<T[]> {
  const out: T[] = [];
  let after: string | undefined;
  for (let page = 0; page < GOV_PAGES_MAX; page++) {
    const rows = await service.stateRange(ns, "", { limit: PAGE_LIMIT, after }, consistency);
    out.push(...rows.map((r) => r.value as T));
    if (rows.length < PAGE_LIMIT) break;
    after = rows[rows.length - 1].key;
  }
  return out;
}

/** Adds the `gov.*` read routes. */
export const govRoutes: ContractRouteRegistrar = (app, service) => {
  app.openapi(getGov, async (c) => {
    const { consistency } = c.req.valid("query");
    const [organisations, sites, authorities, policy, rules] = await Promise.all([
      all<OrgRecord>(service, ORG_NS, consistency),
      all<SiteRecord>(service, SITE_NS, consistency),
      all<AuthorityRecord>(service, AUTHORITY_NS, consistency),
      service.stateGet(POLICY_NS, POLICY_KEY, consistency) as Promise<Policy | undefined>,
      service.stateGet(RULES_NS, RULES_KEY, consistency) as Promise<RulesRecord | undefined>,
    ]);
    // The head read after the state: at least the block that wrote it, so a
    // scheduled height already reached is shown in force, not as scheduled.
    const { height } = await service.status();
    const active = activationAt(rules, height);
    const scheduled = scheduledAfter(rules, height);
    c.header("Cache-Control", "no-cache");
    return c.json({
      organisations,
      sites,
      authorities,
      policy: policy ?? null,
      rules: { active: active.version, since: active.height, ...(scheduled ? { scheduled } : {}) },
      majority: Math.floor(organisations.length / 2) + 1,
    }, 200);
  });
};
