/**
 * Read routes of the `gov.*` kinds: the consortium as governance last left
 * it — organisations with their admins, sites and authorities, the
 * policies, and the rules versions (in force and scheduled).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { NO_CACHE_HEADERS } from "../headers.ts";
import { COMMON_PROBLEMS, readParams } from "./_common.ts";

/** An organisation (carrier). */
export const OrgView = z.object({
  id: z.string(),
  name: z.string(),
  admins: z.array(z.string()),
  sites: z.array(z.string()),
  authorities: z.array(z.string()),
  since: z.number().int(),
}).openapi("Organisation");

/** A site of an organisation. */
export const GovSiteView = z.object({
  name: z.string(),
  org: z.string(),
  publicKey: z.string(),
  did: z.string(),
  url: z.string(),
  since: z.number().int(),
}).openapi("GovSite");

/** An authority: may register devices under its namespace prefixes. */
export const AuthorityView = z.object({
  did: z.string(),
  org: z.string(),
  name: z.string(),
  namespaces: z.array(z.string()),
  since: z.number().int(),
}).openapi("Authority");

/** The consortium's policies. */
export const PolicyView = z.object({
  expiryWindowMs: z.number().int(),
  openKinds: z.array(z.string()),
  quarantineOrgsMin: z.number().int(),
  rateLimits: z.object({ signerTxsPerMinuteMax: z.number().int() }).optional(),
}).openapi("Policy");

/** A rules version and the block height it is in force from. */
export const RulesActivationView = z.object({
  version: z.number().int().min(1),
  height: z.number().int().min(0),
}).openapi("RulesActivation");

/**
 * The ledger's contract rules versions as of the head block: the one in
 * force (`active`, since block `since`) and the one `gov.setRules`
 * scheduled for a later block, if any.
 */
export const RulesView = z.object({
  active: z.number().int().min(1),
  since: z.number().int().min(0),
  scheduled: RulesActivationView.optional(),
}).openapi("Rules");

/** `GET /v1/gov`'s answer. `policy` is null on a ledger created before governance state. */
export const GovView = z.object({
  organisations: z.array(OrgView),
  sites: z.array(GovSiteView),
  authorities: z.array(AuthorityView),
  // A union, not `.nullable()`: a nullable named schema is documented as its bare `$ref`,
  // and a client generated from the document would refuse the null.
  policy: z.union([PolicyView, z.null()]),
  /** Absent from sites older than rules versions (they run version 1). */
  rules: RulesView.optional(),
  /** Signatures of admins of this many organisations make a proposal pass. */
  majority: z.number().int(),
}).openapi("Governance");

/** `GET /v1/gov`. */
export const getGov = createRoute({
  method: "get",
  path: "/v1/gov",
  operationId: "getGov",
  tags: ["governance"],
  summary: "Organisations, sites, authorities, policies and rules versions",
  request: { query: z.object({ ...readParams }) },
  responses: {
    200: {
      description: "The consortium's governance state.",
      headers: NO_CACHE_HEADERS,
      content: { "application/json": { schema: GovView } },
    },
    ...COMMON_PROBLEMS,
  },
});

/** Every `gov.*` read route. */
export const GOV_ROUTES = { getGov } as const;
