/**
 * The public HTTP API of a site (DESIGN §6): the routes of
 * `sdk/api/routes.ts` implemented over a {@link LedgerService}.
 *
 * Every input is validated by zod at the route; every failure leaves as one
 * `application/problem+json` built in one place (`app.onError`, `notFound`,
 * the validation hook); every answer carries `X-Request-Id`.
 *
 * @module
 */

import { OpenAPIHono } from "@hono/zod-openapi";
import { requestId, type RequestIdVariables } from "hono/request-id";
import { streamSSE } from "hono/streaming";
import {
  BLOCKS_PAGE_LIMIT_DEFAULT,
  CACHE_IMMUTABLE,
  COMMIT_WAIT_MS_DEFAULT,
  getBlock,
  getBlockByHash,
  getCheckpoint,
  getConsistency,
  getHealth,
  getIntegrity,
  getMetrics,
  getReady,
  getSiteKeys,
  getStatus,
  getTx,
  getTxProof,
  listBlocks,
  listSites,
  PROBLEM_TYPES,
  RESPONSE_HEADERS,
  streamEvents,
  submitTxs,
} from "../../sdk/api/routes.ts";
import { MIN_HEIGHT_WAIT_MS_DEFAULT } from "../../sdk/api/schemas.ts";
import {
  ADMIN_RESPONSE_HEADERS,
  ADMIN_ROUTES,
  ADMIN_SECURITY_SCHEME,
  ADMIN_SECURITY_SCHEME_OBJECT,
} from "../../sdk/api/admin_routes.ts";
import { CONTRACT_ROUTES } from "./contract_routes/mod.ts";
import { explorerHtml } from "./explorer.ts";
import { createLogger, type Logger } from "../log.ts";
import { type ApiKeyOptions, apiKeys } from "./api_keys.ts";
import {
  awaitMinHeight,
  createHttpMetrics,
  refuseDuplicateMembers,
  requestSizeLimit,
  requireJsonBody,
} from "./middleware.ts";
import { processMetricsText } from "./process_metrics.ts";
import { ApiRouter } from "./router.ts";
import {
  bodyReadProblem,
  problemFromError,
  problemResponse,
  routeNotFound,
  toTypeUri,
  validationProblem,
} from "./problem.ts";
import { type BlockEvent, LedgerError, type LedgerService, type Receipt } from "./service.ts";
import { readiness } from "../../sdk/api/readiness.ts";

/** Options of {@link createApp}. Every limit has a default; units are in the names. */
export interface AppOptions {
  /** Largest request body accepted, in bytes; larger answers 413. Default 1 MiB. */
  requestBytesMax?: number;
  /** Live blocks buffered per SSE subscriber before it is dropped as slow (passed to `subscribe`). Default 256. */
  eventsBufferBlocksMax?: number;
  /** Concurrent SSE subscribers; one more answers 503 `unavailable`. Default 1000. */
  eventsSubscribersMax?: number;
  /** Interval of the SSE keep-alive comment, in milliseconds. Default 15000. */
  eventsHeartbeatMs?: number;
  /** The software version shown in `/openapi.json` and `/healthz`. Default `"0.0.0-dev"`. */
  version?: string;
  /** Extra Prometheus text (the site's gauges), appended to `/metrics`; must end with a newline. */
  metrics?: () => string;
  /** Title of the web explorer served at `/`. */
  explorerTitle?: string;
  /**
   * Receives every unexpected error (a bug) with its request id; default:
   * a `request failed` record of `log`.
   */
  logError?: (err: unknown, requestId: string) => void;
  /** Where `logError` writes by default; default: stderr. */
  log?: Logger;
  /** Tenant API keys under `/v1/` (see `api_keys.ts`); default: none, and none required. */
  apiKeys?: ApiKeyOptions;
  /** Longest a read waits for its `minHeight`, in milliseconds; then 503 `unavailable`. Default 5000. */
  minHeightWaitMs?: number;
}

/** `Cache-Control` of answers that never change (blocks, proofs at a given size). */
export { CACHE_IMMUTABLE };

/** Hono environment of the API: the request id middleware's variables. */
export type Env = { Variables: RequestIdVariables };

const REQUEST_BYTES_MAX_DEFAULT = 1024 * 1024;

/**
 * Builds the API over `service`. Routes are chained so that `typeof` the
 * result ({@link AppType}) types an `hc` client. The returned app also serves
 * `/openapi.json` (OpenAPI 3.1) and `/metrics` (Prometheus text).
 *
 * Errors: a thrown `LedgerError` becomes its problem (slug, status, title,
 * detail, extras); Hono's `HTTPException`s below 500 keep status and message;
 * anything else is logged via `logError` and answered 500 `internal` without
 * its message.
 */
export function createApp(service: LedgerService, options: AppOptions = {}) {
  const requestBytesMax = options.requestBytesMax ?? REQUEST_BYTES_MAX_DEFAULT;
  const explorer = explorerHtml({ title: options.explorerTitle ?? "edgeledger explorer" });
  const eventsBufferBlocksMax = options.eventsBufferBlocksMax ?? 256;
  const eventsSubscribersMax = options.eventsSubscribersMax ?? 1000;
  const eventsHeartbeatMs = options.eventsHeartbeatMs ?? 15_000;
  /** How long a stream's last frame may wait for its reader before the connection is dropped, ms. */
  const eventsEndWriteMs = 1000;
  const minHeightWaitMs = options.minHeightWaitMs ?? MIN_HEIGHT_WAIT_MS_DEFAULT;
  const version = options.version ?? "0.0.0-dev";
  const log = options.log ?? createLogger();
  const logError = options.logError ??
    ((err: unknown, id: string) => log.error("request failed", { requestId: id, error: err }));
  assert(
    Number.isInteger(requestBytesMax) && requestBytesMax > 0,
    "requestBytesMax must be a positive integer",
  );
  assert(
    Number.isInteger(eventsBufferBlocksMax) && eventsBufferBlocksMax > 0,
    "eventsBufferBlocksMax must be positive",
  );
  assert(
    Number.isInteger(eventsSubscribersMax) && eventsSubscribersMax >= 0,
    "eventsSubscribersMax must be >= 0",
  );
  assert(eventsHeartbeatMs > 0, "eventsHeartbeatMs must be positive");
  assert(
    Number.isInteger(minHeightWaitMs) && minHeightWaitMs >= 0,
    "minHeightWaitMs must be an integer >= 0",
  );

  const httpMetrics = createHttpMetrics();
  let eventsSubscribers = 0;

  const app = new OpenAPIHono<Env>({
    router: new ApiRouter(),
    defaultHook: (result, c) => {
      if (!result.success) {
        return problemResponse(c, validationProblem(result.target, result.error));
      }
    },
  });

  app.openAPIRegistry.registerComponent("securitySchemes", "apiKey", {
    type: "http",
    scheme: "bearer",
    description: "A tenant API key (`deno task apikey <name>` makes one; sites keep its SHA-256).",
  });
  app.openAPIRegistry.registerComponent(
    "securitySchemes",
    ADMIN_SECURITY_SCHEME,
    ADMIN_SECURITY_SCHEME_OBJECT,
  );
  // The headers the routes' responses refer to (`sdk/api/headers.ts`), the
  // admin routes' after them (`sdk/api/admin_routes.ts`).
  for (const [name, header] of Object.entries({ ...RESPONSE_HEADERS, ...ADMIN_RESPONSE_HEADERS })) {
    app.openAPIRegistry.registerComponent("headers", name, header);
  }
  app.onError((err, c) => {
    const unread = bodyReadProblem(err, c.req.raw);
    if (unread !== undefined) {
      log.debug(unread.message, { requestId: c.get("requestId") ?? "", error: err });
      return problemResponse(c, unread.problem);
    }
    return problemResponse(c, problemFromError(err, (e) => logError(e, c.get("requestId") ?? "")));
  });
  app.notFound(routeNotFound(app));

  // Order matters: the request id exists before anything can fail; metrics
  // see every answer, including problems; the size limit applies before any
  // handler reads a body.
  app.use(requestId());
  app.use(httpMetrics.middleware);
  app.use(requestSizeLimit({ requestBytesMax }));
  if (options.apiKeys !== undefined) app.use("/v1/*", apiKeys(options.apiKeys));
  // After the key check: a caller the site refuses is not held.
  app.use(
    "/v1/*",
    awaitMinHeight(service, {
      waitMs: minHeightWaitMs,
      skip: ["/v1/events"],
      postReads: /^\/v1\/streams\/.+\/verify-reading$/,
    }),
  );
  app.use("/v1/txs", requireJsonBody({ methods: ["POST"] }));
  app.use("/v1/streams/:stream/verify-reading", requireJsonBody({ methods: ["POST"] }));
  // Every JSON body the API reads (envelopes; a reading to verify, whose
  // JCS is hashed): a repeated name would let two parsers read two values.
  app.use("/v1/*", refuseDuplicateMembers({ methods: ["POST"] }));
  // The document changes with the site's version: reused only after asking again.
  app.use("/openapi.json", async (c, next) => {
    await next();
    c.header("Cache-Control", "no-cache");
  });

  const routes = app
    .openapi(submitTxs, async (c) => {
      const { wait, timeoutMs } = c.req.valid("query");
      const validated = c.req.valid("json");
      // zod copies objects; the site must see the envelopes exactly as sent
      // (it computes ids and refuses unknown fields), so pass the parsed JSON
      // that zod validated, which Hono caches.
      const raw = await c.req.json() as Record<string, unknown>;
      const batch = "txs" in validated;
      const envelopes = batch ? raw.txs as unknown[] : [raw];
      const receipts = await service.submit(envelopes, {
        wait: wait === "commit",
        waitTimeoutMs: timeoutMs ?? COMMIT_WAIT_MS_DEFAULT,
        batch,
      });
      assert(
        receipts.length === envelopes.length,
        `LedgerService.submit() returned ${receipts.length} receipts for ${envelopes.length} envelopes`,
      );
      c.header("Cache-Control", "no-store");
      if (batch) return c.json({ receipts: receipts.map(servedReceipt) }, 200);
      const [receipt] = receipts;
      if (receipt.status === "refused") {
        assert(receipt.problem !== undefined, "A refused receipt must carry its problem");
        const { type, status, title, detail } = receipt.problem;
        // As the site's own refusal of a single envelope is answered (thrown from submit).
        throw new LedgerError(type, status, title, detail, {
          ...(receipt.txId === null ? {} : { txId: receipt.txId }),
          ...(receipt.retryAfter === undefined ? {} : { retryAfter: receipt.retryAfter }),
        });
      }
      const served = servedReceipt(receipt);
      return served.status === "committed" ? c.json(served, 200) : c.json(served, 202);
    })
    .openapi(getTx, async (c) => {
      const { txId } = c.req.valid("param");
      const { consistency } = c.req.valid("query");
      const found = await service.getTx(txId, consistency);
      if (!found) throw notFound(`Cannot find transaction ${txId}`);
      c.header("Cache-Control", "no-cache");
      return c.json({ tx: found.tx, receipt: servedReceipt(found.receipt) }, 200);
    })
    .openapi(getTxProof, async (c) => {
      const { txId } = c.req.valid("param");
      const { treeSize, consistency } = c.req.valid("query");
      const proof = await service.proof(txId, treeSize, consistency);
      if (!proof) throw notFound(`Cannot find transaction ${txId}`);
      c.header("Cache-Control", treeSize === undefined ? "no-cache" : CACHE_IMMUTABLE);
      return c.json(proof, 200);
    })
    .openapi(getBlockByHash, async (c) => {
      const { hash } = c.req.valid("param");
      const { consistency } = c.req.valid("query");
      const block = await service.blockByHash(hash, consistency);
      if (!block) throw notFound(`Cannot find block ${hash}`);
      c.header("Cache-Control", CACHE_IMMUTABLE);
      return c.json(block, 200);
    })
    .openapi(getBlock, async (c) => {
      const { height } = c.req.valid("param");
      const { consistency } = c.req.valid("query");
      const block = await service.blockByHeight(height, consistency);
      if (!block) throw notFound(`Cannot find block at height ${height}`);
      c.header("Cache-Control", CACHE_IMMUTABLE);
      return c.json(block, 200);
    })
    .openapi(listBlocks, async (c) => {
      const { from = 0, limit = BLOCKS_PAGE_LIMIT_DEFAULT, consistency } = c.req.valid("query");
      const blocks = await service.blocks(from, limit, consistency);
      // A full page may have a successor; a short one reached the head.
      const last = blocks.at(-1);
      const next = blocks.length === limit && last ? last.header.height + 1 : null;
      c.header("Cache-Control", "no-cache");
      return c.json({ blocks, next }, 200);
    })
    .openapi(getCheckpoint, async (c) => {
      const { consistency } = c.req.valid("query");
      const note = await service.checkpoint(consistency);
      c.header("Cache-Control", "no-store");
      return c.text(note, 200, { "Content-Type": "text/plain; charset=utf-8" });
    })
    .openapi(getConsistency, async (c) => {
      const { from, to, consistency } = c.req.valid("query");
      const proof = await service.consistency(from, to, consistency);
      c.header("Cache-Control", CACHE_IMMUTABLE);
      return c.json({ proof }, 200);
    })
    .openapi(getStatus, async (c) => {
      const status = await service.status();
      c.header("Cache-Control", "no-store");
      return c.json(status, 200);
    })
    .openapi(listSites, async (c) => {
      const sites = await service.sites();
      c.header("Cache-Control", "no-cache");
      return c.json({ sites }, 200);
    })
    .openapi(getSiteKeys, async (c) => {
      const { name } = c.req.valid("param");
      const keys = await service.siteKeys(name);
      if (keys === undefined) throw notFound(`No member site is named ${name}`);
      c.header("Cache-Control", "no-cache");
      return c.json(keys, 200);
    })
    .openapi(getIntegrity, async (c) => {
      const report = await service.integrity();
      c.header("Cache-Control", "no-store");
      return c.json(report, 200);
    })
    .openapi(streamEvents, async (c) => {
      const { from, kind, signer } = c.req.valid("query");
      const lastEventId = c.req.valid("header")["last-event-id"];
      if (eventsSubscribers >= eventsSubscribersMax) {
        throw new LedgerError(
          "unavailable",
          503,
          "Service unavailable",
          `Cannot subscribe: this site already serves ${eventsSubscribersMax} event streams`,
        );
      }
      if (c.req.method === "HEAD") {
        // Hono runs this handler for HEAD and Deno drops the body unread, so
        // a stream opened here would never see its client leave and would
        // hold a slot until dropped as slow: answer the stream's headers only.
        return c.body(null, 200, {
          "Content-Type": "text/event-stream",
          "Cache-Control": "no-cache",
        });
      }
      // Last-Event-ID wins: a reconnecting EventSource sends it and keeps the
      // original URL, whose `from` is stale by then.
      const afterHeight = lastEventId ??
        (from !== undefined ? from - 1 : (await service.status()).height);
      const filter = txFilter(kind, signer);
      eventsSubscribers++;
      return streamSSE(c, async (stream) => {
        let unsubscribe = () => {};
        let writing = false;
        const write = async (chunk: string) => {
          writing = true;
          try {
            await stream.write(chunk);
          } finally {
            writing = false;
          }
        };
        const heartbeat = setInterval(() => {
          // Skip when a write is blocked on a slow reader: it proves the
          // connection is alive, and piling up writes would be unbounded.
          if (!writing) void write(": heartbeat\n\n");
        }, eventsHeartbeatMs);
        try {
          const endReason = await new Promise<string | null>((resolve) => {
            stream.onAbort(() => resolve(null));
            unsubscribe = service.subscribe(
              afterHeight,
              async (event) => {
                if (stream.aborted || stream.closed) return;
                await write(sseFrame(event, filter));
              },
              (reason) => resolve(reason),
              { bufferBlocksMax: eventsBufferBlocksMax },
            );
          });
          if (endReason !== null && !stream.aborted) {
            // A reader that stopped reading (the usual reason to end: a slow
            // consumer) never takes this frame: give it a moment, then drop
            // the connection, so its slot and timer are freed.
            let timer: ReturnType<typeof setTimeout> | undefined;
            const sent = await Promise.race([
              write(`event: end\ndata: ${JSON.stringify({ reason: endReason })}\n\n`)
                .then(() => true),
              new Promise<false>((r) => (timer = setTimeout(() => r(false), eventsEndWriteMs))),
            ]);
            clearTimeout(timer);
            if (!sent) stream.abort();
          }
        } catch (err) {
          // The 200 is sent already: log the bug and end the stream with a
          // reason that leaks nothing (streamSSE's own handler would send
          // the error's message).
          logError(err, c.get("requestId") ?? "");
          if (!stream.aborted) await write(`event: end\ndata: {"reason":"internal"}\n\n`);
        } finally {
          clearInterval(heartbeat);
          unsubscribe();
          eventsSubscribers--;
        }
      });
    })
    .openapi(getHealth, (c) => {
      c.header("Cache-Control", "no-store");
      return c.json({ status: "ok" as const, version }, 200);
    })
    .openapi(getReady, async (c) => {
      const status = await service.status();
      const { checks, failed } = readiness(status);
      // (A null leader or a candidate is in `failed` already; the type needs it said here.)
      if (failed.length > 0 || status.leader === null || status.role === "candidate") {
        const { title } = PROBLEM_TYPES.unavailable;
        throw new LedgerError("unavailable", 503, title, `Not ready: ${failed.join("; ")}`, {
          checks,
        });
      }
      c.header("Cache-Control", "no-store");
      return c.json(
        { status: "ready" as const, version, role: status.role, leader: status.leader },
        200,
      );
    })
    .openapi(getMetrics, (c) => {
      c.header("Cache-Control", "no-store");
      const events = [
        "# HELP edgeledger_http_event_streams Open Server-Sent Events streams.",
        "# TYPE edgeledger_http_event_streams gauge",
        `edgeledger_http_event_streams ${eventsSubscribers}`,
        "",
      ].join("\n");
      return c.text(
        httpMetrics.render() + events + (options.metrics?.() ?? "") + processMetricsText(),
        200,
        { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
      );
    })
    .doc31("/openapi.json", {
      openapi: "3.1.0",
      info: {
        title: "edgeledger site API",
        version,
        description:
          "The public HTTP API of an edgeledger site: submit signed transactions, read " +
          "blocks, receipts and proofs, follow committed blocks. Errors are RFC 9457 problems " +
          "(`application/problem+json`) whose `type` is `https://edgeledger.dev/problems/<slug>`. " +
          "Every answer carries `X-Request-Id` and `Cache-Control`; every 429 and 503 carries " +
          "`Retry-After` in integer seconds (see `components.headers`). " +
          "A tenant sends its API key as `Authorization: Bearer <key>`; whether requests without " +
          "one are served is each site's choice (`requireApiKey`).",
      },
      // Keys are optional unless the site requires them: no key, or a bearer key.
      security: [{}, { apiKey: [] }],
    })
    .get("/", (c) => {
      c.header("Cache-Control", "no-cache");
      return c.html(explorer);
    });

  // Read routes of the built-in contracts (identity, assets, custody, ...).
  for (const register of CONTRACT_ROUTES) register(routes as unknown as OpenAPIHono<Env>, service);
  // The admin routes are served by the site's admin app (`admin_routes.ts`,
  // its own key and middleware), not by this one: listed in the document only.
  for (const route of Object.values(ADMIN_ROUTES)) app.openAPIRegistry.registerPath(route);

  return routes;
}

/** The type of the app {@link createApp} returns, for a typed `hc` client. */
export type AppType = ReturnType<typeof createApp>;

/** A programmer error: the invariant does not hold, so stop this request as a bug (500, logged). */
function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`Assertion failed: ${message}`);
}

function notFound(detail: string): LedgerError {
  return new LedgerError("not_found", 404, "Not found", detail);
}

/**
 * A receipt as served: its problem `type` as a URI (the site may give a
 * bare slug), and without `retryAfter` (not a member of a receipt's JSON).
 */
function servedReceipt(receipt: Receipt): Receipt {
  // Only a refused receipt has a problem, and a retryAfter.
  const problem = receipt.problem;
  if (!problem) return receipt;
  const { retryAfter: _retryAfter, ...served } = receipt;
  return { ...served, problem: { ...problem, type: toTypeUri(problem.type) } };
}

type TxFilter = ((tx: BlockEvent["txs"][number]) => boolean) | null;

/** Null when no filter is given: every transaction matches. */
function txFilter(kind: string | undefined, signer: string | undefined): TxFilter {
  if (kind === undefined && signer === undefined) return null;
  const kinds = kind === undefined ? null : new Set(kind.split(","));
  return (tx) =>
    (kinds === null || kinds.has(tx.kind)) && (signer === undefined || tx.signers.includes(signer));
}

/**
 * One SSE frame for a block. A block with no matching transaction under a
 * filter becomes a bare `id:` line: the client's last event id advances (so a
 * resume does not rescan it) and no event is dispatched.
 */
function sseFrame(event: BlockEvent, filter: TxFilter): string {
  const txs = filter === null ? event.txs : event.txs.filter(filter);
  if (filter !== null && txs.length === 0) return `id: ${event.height}\n\n`;
  const data = JSON.stringify(filter === null ? event : { ...event, txs });
  return `event: block\nid: ${event.height}\ndata: ${data}\n\n`;
}
