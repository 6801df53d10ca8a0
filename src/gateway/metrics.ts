/**
 * The gateway's Prometheus metrics (text format 0.0.4): requests by route,
 * status and the site that answered, retries, pre-check refusals by problem
 * type, upstream latency, and each site's state as gauges.
 *
 * Label values are bounded: `method` is one of HTTP's methods (RFC 9110
 * §9.3, and `PATCH`) or `other`; `route` is a route template of the public
 * API (`/v1/txs/{txId}`), one of the gateway's own routes, or `other`;
 * `site` is a configured site URL or `gateway` (answered here).
 *
 * @module
 */
import { ROUTES } from "../../sdk/api/routes.ts";
import { ACCESS_ROUTES } from "../../sdk/api/contract_routes/access.ts";
import { ASSET_ROUTES } from "../../sdk/api/contract_routes/asset.ts";
import { CUSTODY_ROUTES } from "../../sdk/api/contract_routes/custody.ts";
import { DATA_ROUTES } from "../../sdk/api/contract_routes/data.ts";
import { GOV_ROUTES } from "../../sdk/api/contract_routes/gov.ts";
import { IDENTITY_ROUTES } from "../../sdk/api/contract_routes/identity.ts";
import { ROAMING_ROUTES } from "../../sdk/api/contract_routes/roaming.ts";
import { Histogram, labelText, methodLabel } from "../api/histogram.ts";
import { LATENCY_BUCKETS_SECONDS } from "../api/middleware.ts";
import type { SitePool } from "./site_pool.ts";

/** The gateway's own routes, labelled as they are. */
export const GATEWAY_ROUTES = ["/v1/gateway", "/metrics", "/healthz", "/readyz"] as const;

const API_ROUTES: ReadonlyArray<{ path: string }> = [
  ...Object.values(ROUTES),
  ...Object.values(ACCESS_ROUTES),
  ...Object.values(ASSET_ROUTES),
  ...Object.values(CUSTODY_ROUTES),
  ...Object.values(DATA_ROUTES),
  ...Object.values(GOV_ROUTES),
  ...Object.values(IDENTITY_ROUTES),
  ...Object.values(ROAMING_ROUTES),
];

/**
 * Templates of the public API as regular expressions, literal paths first so
 * `/v1/blocks/by-hash/{hash}` wins over `/v1/blocks/{height}`.
 */
const TEMPLATES: ReadonlyArray<{ template: string; re: RegExp }> = [
  ...new Set([...API_ROUTES.map((r) => r.path), "/", "/openapi.json", ...GATEWAY_ROUTES]),
]
  .sort((a, b) => literalLength(b) - literalLength(a))
  .map((template) => ({
    template,
    re: new RegExp(
      "^" + template.split(/\{[^}]+\}/).map((s) => s.replace(/[.*+?^$()|[\]\\]/g, "\\$&"))
        .join("[^/]+") +
        "$",
    ),
  }));

function literalLength(template: string): number {
  return template.replace(/\{[^}]+\}/g, "").length;
}

/** The route label of `path`: its API template, or `other`. */
export function routeLabel(path: string): string {
  for (const { template, re } of TEMPLATES) if (re.test(path)) return template;
  return "other";
}

/** Why a request was tried again on another site. */
export type RetryReason = "connect" | "timeout" | "unavailable";

/** Counters and a latency histogram; gauges are read from the pool when rendered. */
export class GatewayMetrics {
  readonly #requests = new Map<string, number>();
  readonly #retries = new Map<string, number>();
  readonly #refusals = new Map<string, number>();
  readonly #upstream = new Histogram(
    "edgeledger_gateway_upstream_seconds",
    "Time from forwarding a request to a site until its response headers arrive.",
    LATENCY_BUCKETS_SECONDS,
  );
  /** Requests forwarded now, event streams included. */
  inFlight = 0;

  /** One answered request (`site`: the site URL, or `gateway` when answered here). */
  request(method: string, route: string, status: number, site: string): void {
    bump(
      this.#requests,
      labelText({ method: methodLabel(method), route, status: String(status), site }),
    );
  }

  /** One retry after `site` failed with `reason`. */
  retry(site: string, reason: RetryReason): void {
    bump(this.#retries, labelText({ site, reason }));
  }

  /** One request refused here before reaching a site, by problem slug. */
  refusal(type: string): void {
    bump(this.#refusals, labelText({ type }));
  }

  /** Time to a site's response headers. */
  upstream(site: string, seconds: number): void {
    this.#upstream.observe(seconds, labelText({ site }));
  }

  /** The exposition text, with the pool's gauges. */
  render(pool: SitePool): string {
    const lines: string[] = [];
    const counter = (name: string, help: string, values: Map<string, number>) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const [labels, n] of values) lines.push(`${name}{${labels}} ${n}`);
    };
    const gauge = (name: string, help: string, value: (s: SitePool["sites"][number]) => number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
      for (const s of pool.sites) lines.push(`${name}{${labelText({ site: s.url })}} ${value(s)}`);
    };
    counter(
      "edgeledger_gateway_requests_total",
      "Requests answered, by method, route, status and the site that answered (gateway: answered here).",
      this.#requests,
    );
    counter(
      "edgeledger_gateway_retries_total",
      "Requests tried again on another site, by the site that failed and why.",
      this.#retries,
    );
    counter(
      "edgeledger_gateway_precheck_refusals_total",
      "Submissions refused by the gateway before reaching a site, by problem type.",
      this.#refusals,
    );
    const leader = pool.leaderName();
    gauge("edgeledger_gateway_site_up", "1 while the site takes requests.", (s) => s.up ? 1 : 0);
    gauge(
      "edgeledger_gateway_site_leader",
      "1 for the site the cluster reports as leader.",
      (s) => leader !== null && s.name === leader ? 1 : 0,
    );
    gauge(
      "edgeledger_gateway_site_in_flight_requests",
      "Requests forwarded to the site and not yet answered in full (event streams excluded).",
      (s) => s.inFlight,
    );
    gauge(
      "edgeledger_gateway_site_event_streams",
      "Event streams open through the site.",
      (s) => s.streams,
    );
    lines.push(
      "# HELP edgeledger_gateway_in_flight_requests Requests being forwarded, event streams included.",
      "# TYPE edgeledger_gateway_in_flight_requests gauge",
      `edgeledger_gateway_in_flight_requests ${this.inFlight}`,
    );
    return lines.join("\n") + "\n" + this.#upstream.render();
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
