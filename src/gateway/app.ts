/**
 * The gateway's HTTP app: the public API of the sites behind one front
 * door, the state-independent admission checks in front of `POST /v1/txs`,
 * and the gateway's own routes (`GET /v1/gateway`, `/metrics`, `/healthz`, `/readyz`).
 *
 * A request reaches the submit route through the same middleware, in the
 * same order, as on a site (`src/api/app.ts`): request id, size limit, JSON
 * media type, repeated member names, then the route's zod validation with
 * the same hook. So whatever the gateway refuses is refused with the
 * problem a site answers — the same functions build it.
 *
 * @module
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { requestId, type RequestIdVariables } from "hono/request-id";
import { COMMIT_WAIT_MS_DEFAULT, submitTxs } from "../../sdk/api/routes.ts";
import { processMetricsText } from "../api/process_metrics.ts";
import { ApiRouter } from "../api/router.ts";
import { refuseDuplicateMembers, requestSizeLimit, requireJsonBody } from "../api/middleware.ts";
import {
  bodyReadProblem,
  knownProblem,
  noSuchRoute,
  PROBLEM_MEDIA_TYPE,
  problemFromError,
  problemResponse,
  routeNotFound,
  validationProblem,
} from "../api/problem.ts";
import { builtinContracts, type ContractRegistry } from "../contracts/mod.ts";
import type { GatewayConfig } from "./config.ts";
import { GatewayMetrics, routeLabel } from "./metrics.ts";
import { precheckEnvelope, type PrecheckOptions } from "./precheck.ts";
import { forward, type ForwardContext, ForwardRefusal } from "./proxy.ts";
import type { SitePool } from "./site_pool.ts";
import { createLogger, type Logger } from "../log.ts";

/** Hono environment of the gateway: the request id, the body as received, the site that answered. */
export type GatewayEnv = {
  Variables: RequestIdVariables & {
    body: Uint8Array<ArrayBuffer> | null;
    site: string | undefined;
  };
  Bindings: { remoteAddr?: Deno.Addr } | undefined;
};

/** Options of {@link createGatewayApp}. */
export interface GatewayAppOptions {
  config: GatewayConfig;
  /** The sites; its `ledger` must be set before the first submission is checked. */
  pool: SitePool;
  /** The kinds the sites know; default the built-in contracts. */
  registry?: ContractRegistry;
  /** Shown by `/healthz` and `/v1/gateway`. */
  version?: string;
  /** This gateway's clock, ms since the epoch (pre-checks judge expiry by it). */
  now?: () => number;
  /**
   * Receives every unexpected error (a bug) with its request id; default:
   * a `request failed` record of `log`.
   */
  logError?: (err: unknown, requestId: string) => void;
  /** Where `logError` writes by default; default: stderr. */
  log?: Logger;
  /** More Prometheus text for `/metrics` (the TLS certificate's); ends with a newline. */
  metrics?: () => string;
  /** Signature checks for the pre-checks (see `PrecheckOptions.signatureChecks`); default: here. */
  signatureChecks?: PrecheckOptions["signatureChecks"];
}

/** Longest `Retry-After` the gateway asks for when it has no site, seconds. */
const RETRY_AFTER_SECONDS_MAX = 5;

/**
 * The methods forwarded, spelled as a site routes them (upper case). Any
 * other (`TRACE`, `PROPFIND`) matches no route of a site, which answers 405
 * with its `Allow` where it has a route: the gateway asks a site `OPTIONS`
 * and answers the same, never sending the method itself — `fetch` cannot
 * even send some of them (`TRACE`, `TRACK`), and that failure must never be
 * taken for the site's.
 */
const FORWARDED_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Reads whose consistency level only the leader (or a ReadIndex through it) serves. */
const LEADER_READS = new Set(["leader", "linearizable"]);

/**
 * Builds the gateway's app. Everything under `/v1/` except `/v1/admin/` and
 * the gateway's own route is forwarded, as are `/` (the explorer) and
 * `/openapi.json`; anything else, `/raft/` included, is 404 `not_found` here.
 * A method a site has no route for is answered as a site would (see
 * {@link FORWARDED_METHODS}).
 */
export function createGatewayApp(options: GatewayAppOptions) {
  const { config, pool } = options;
  const registry = options.registry ?? builtinContracts();
  const version = options.version ?? "0.0.0-dev";
  const now = options.now ?? Date.now;
  const log = options.log ?? createLogger();
  const logError = options.logError ??
    ((err: unknown, id: string) => log.error("request failed", { requestId: id, error: err }));
  const metrics = new GatewayMetrics();
  const via = `1.1 ${config.name}`;
  // A site comes back with its next good poll: ask clients to wait about that long.
  const retryAfterSeconds = Math.min(
    RETRY_AFTER_SECONDS_MAX,
    Math.max(1, Math.ceil(config.pollIntervalMs / 1000)),
  );
  const forwarding: Omit<ForwardContext, "clientAddress"> = {
    pool,
    metrics,
    via,
    attemptsMax: config.attemptsMax,
    inFlightRequestsMax: config.inFlightRequestsMax,
    bodyIdleTimeoutMs: config.bodyIdleTimeoutMs,
    eventsIdleTimeoutMs: config.eventsIdleTimeoutMs,
  };
  const contextOf = (c: { env: GatewayEnv["Bindings"] }): ForwardContext => {
    const addr = c.env?.remoteAddr;
    return { ...forwarding, clientAddress: addr && "hostname" in addr ? addr.hostname : undefined };
  };

  const app = new OpenAPIHono<GatewayEnv>({
    // As the site's: a literal `*` path segment (`OPTIONS *`) runs each middleware once.
    router: new ApiRouter(),
    // The site's validation hook (src/api/app.ts): the same problem for the same zod failure.
    defaultHook: (result, c) => {
      if (!result.success) {
        return problemResponse(c, validationProblem(result.target, result.error));
      }
    },
  });
  app.onError((err, c) => {
    // The client left (or the gateway is stopping) while its body was read,
    // or the body's framing was malformed.
    const unread = c.get("body") === undefined ? bodyReadProblem(err, c.req.raw) : undefined;
    if (unread !== undefined) {
      log.debug(unread.message, { requestId: c.get("requestId") ?? "", error: err });
      return problemResponse(c, unread.problem);
    }
    if (err instanceof ForwardRefusal) {
      return problemResponse(
        c,
        knownProblem("unavailable", err.message, { retryAfter: retryAfterSeconds }),
      );
    }
    return problemResponse(c, problemFromError(err, (e) => logError(e, c.get("requestId") ?? "")));
  });
  const notFound = (c: Context<GatewayEnv>) => noSuchRoute(c);
  // A method the gateway's own routes do not take is 405 here; a public
  // path goes on to a site, which answers the same for its routes.
  app.notFound(routeNotFound(app));

  // The site's order (src/api/app.ts): request id, metrics, size limit, the
  // submit route's media type, then repeated member names.
  app.use(requestId());
  app.use(countRequests(metrics));
  app.use(requestSizeLimit({ requestBytesMax: config.requestBytesMax }));
  app.use(keepBody());
  app.use("/v1/txs", requireJsonBody({ methods: ["POST"] }));
  // A site refuses a repeated member name in every body under /v1/ it
  // reads; its admin routes (not served here) are another app.
  const repeatedNames = refuseDuplicateMembers({ methods: ["POST"] });
  app.use(
    "/v1/*",
    (c, next) => c.req.path.startsWith("/v1/admin") ? next() : repeatedNames(c, next),
  );

  const proxy = async (c: Context<GatewayEnv>) => {
    // Routing saw the path as sent; the site gets it with dot segments
    // resolved (`/v1/txs/../admin/x` is `/v1/admin/x` there): judge that one.
    const url = new URL(c.req.url);
    if (!isPublicPath(url.pathname)) return notFound(c);
    if (!FORWARDED_METHODS.has(c.req.method)) return await notAllowed(c);
    const consistency = url.searchParams.get("consistency") ?? "";
    const method = c.req.method;
    return await forward(c, contextOf(c), {
      retryable: method === "GET" || method === "HEAD" ||
        (method === "POST" && routeLabel(c.req.path) === "/v1/streams/{stream}/verify-reading"),
      preferLeader: LEADER_READS.has(consistency),
      responseTimeoutMs: config.responseTimeoutMs,
      body: c.get("body"),
    });
  };

  /**
   * A method never forwarded (`PROPFIND`, `TRACE`) on a public path: a site
   * is asked `OPTIONS` for the methods it takes there, so the answer is its
   * 405 with its `Allow` (or 404 for a path it has no route for) — never the
   * method itself, which `fetch` may not even send. With no site to ask (or
   * the gateway busy), 503 as for any forwarded request: nothing is known.
   */
  const notAllowed = async (c: Context<GatewayEnv>) => {
    const answer = await forward(c, contextOf(c), {
      retryable: true,
      preferLeader: false,
      responseTimeoutMs: config.responseTimeoutMs,
      body: null,
      method: "OPTIONS",
    });
    await answer.body?.cancel();
    const allow = answer.status === 204 ? answer.headers.get("allow") : null;
    const methods = allow?.split(",").map((m) => m.trim()).filter((m) => m !== "") ?? [];
    return noSuchRoute(c, "route", methods);
  };

  app.get("/v1/gateway", (c) => {
    c.header("Cache-Control", "no-store");
    return c.json({
      gateway: config.name,
      version,
      inFlight: metrics.inFlight,
      ...pool.view(),
    }, 200);
  });
  app.get("/metrics", (c) => {
    c.header("Cache-Control", "no-store");
    c.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    return c.body(metrics.render(pool) + (options.metrics?.() ?? "") + processMetricsText());
  });
  // Ready while a site is up (`/healthz`, and `/readyz` as on a site): a
  // load balancer in front of several gateways then skips one that has
  // lost every site.
  app.on("GET", ["/healthz", "/readyz"], (c) => {
    if (pool.upCount() === 0) {
      return problemResponse(
        c,
        knownProblem("unavailable", "No site is up behind this gateway", {
          retryAfter: retryAfterSeconds,
        }),
      );
    }
    c.header("Cache-Control", "no-store");
    return c.json({ status: "ok" as const, version }, 200);
  });
  app.all("/v1/admin", notFound);
  app.all("/v1/admin/*", notFound);
  app.openapi(submitTxs, async (c) => {
    const { wait, timeoutMs } = c.req.valid("query");
    const validated = c.req.valid("json");
    if (config.precheck && pool.ledger !== undefined && !("txs" in validated)) {
      // As on a site: the parsed JSON as sent, not zod's copy of it.
      await precheckEnvelope(await c.req.json(), {
        ledger: pool.ledger,
        registry,
        now: now(),
        signatureChecks: options.signatureChecks,
      });
    }
    const commitWaitMs = wait === "commit" ? timeoutMs ?? COMMIT_WAIT_MS_DEFAULT : 0;
    const answer = await forward(c, contextOf(c), {
      retryable: true,
      preferLeader: false,
      responseTimeoutMs: config.responseTimeoutMs + commitWaitMs,
      body: c.get("body"),
    });
    // The site's answer as it sent it: the route types what the site builds, not this relay.
    return answer as never;
  });
  app.all("/v1/*", proxy);
  app.get("/", proxy);
  app.get("/openapi.json", proxy);

  return { app, metrics };
}

/**
 * Whether a site would serve `path` (as it receives it) from its public
 * API: `/`, `/openapi.json` and `/v1/` except `/v1/admin/`; never `/raft/`.
 * Judged on the path and on its percent-decoded form, so no spelling of a
 * peer or admin route gets through.
 */
export function isPublicPath(path: string): boolean {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch { /* not decodable: judged as it is */ }
  const hidden = /^\/+(raft(\/|$)|v1\/+admin(\/|$))/i;
  if (hidden.test(path) || hidden.test(decoded)) return false;
  return path === "/" || path === "/openapi.json" || path.startsWith("/v1/");
}

/** Keeps the request body as received (bytes, not text), to forward it unchanged. */
function keepBody(): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    // Read as bytes first: later reads (text, JSON) derive from them, and
    // the bytes go to the site untouched (never re-encoded from text).
    c.set("body", c.req.raw.body === null ? null : new Uint8Array(await c.req.arrayBuffer()));
    await next();
  };
}

/**
 * Counts every answer by method, route, status and site; a submission the
 * gateway refused (a 4xx answered here) also counts by its problem type.
 */
function countRequests(metrics: GatewayMetrics): MiddlewareHandler<GatewayEnv> {
  return async (c, next) => {
    try {
      await next();
    } finally {
      const route = routeLabel(c.req.path);
      const site = c.get("site") ?? "gateway";
      const status = c.res.status;
      metrics.request(c.req.method, route, status, site);
      if (
        site === "gateway" && route === "/v1/txs" && c.req.method === "POST" &&
        status >= 400 && status < 500 &&
        c.res.headers.get("content-type") === PROBLEM_MEDIA_TYPE
      ) {
        try {
          const { type } = await c.res.clone().json();
          metrics.refusal(String(type).slice(String(type).lastIndexOf("/") + 1));
        } catch {
          metrics.refusal("unknown");
        }
      }
    }
  };
}
