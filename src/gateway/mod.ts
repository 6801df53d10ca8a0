/**
 * The stateless ingress (DESIGN §1, `workers/gateway.ts`): one front door
 * for the public API of several sites, as a carrier deploys it — many
 * gateways at cell aggregation points behind a load balancer, in front of a
 * few PoP sites, with no database and no keys, restartable at will.
 *
 * It forwards `/v1/*` (never `/raft/` or `/v1/admin/`) to a healthy site and
 * streams the answer back; it polls the sites and fails over where a retry
 * is safe; and it refuses, with the site's own problem, a submission that
 * fails a check no ledger state can change. The sites trust none of it: they
 * check everything again.
 *
 * @module
 */
export {
  GATEWAY_USAGE,
  type GatewayConfig,
  GatewayConfigError,
  gatewayConfigSchema,
  GatewayHelpRequested,
  loadGatewayConfig,
  readSiteApiKey,
  SiteApiKeyError,
} from "./config.ts";
export { createGatewayApp, type GatewayAppOptions, type GatewayEnv, isPublicPath } from "./app.ts";
export { GatewayMetrics, routeLabel } from "./metrics.ts";
export { precheckEnvelope, type PrecheckOptions } from "./precheck.ts";
export {
  forward,
  type ForwardContext,
  type ForwardOptions,
  ForwardRefusal,
  ResponseCut,
} from "./proxy.ts";
export {
  type Candidate,
  chooseSite,
  LedgerUnknownError,
  resolveLedger,
  SitePool,
  type SitePoolOptions,
  type SiteState,
} from "./site_pool.ts";
