/**
 * Forwarding one request to a site and streaming its answer back unchanged,
 * with failover: a request that is safe to repeat is tried on another site
 * when a site refuses the connection, does not start answering in time, or
 * answers 503.
 *
 * What is safe to repeat: reads (`GET`, `HEAD`, and `POST
 * /v1/streams/{stream}/verify-reading`, which only computes a verdict) and
 * `POST /v1/txs`, whose transactions are keyed by their id (DESIGN §2, §6):
 * a second site given the same envelope answers the same receipt. Nothing
 * else is retried, since the gateway cannot know whether a site acted on it.
 *
 * A site that stalls once its response has started (no body byte within
 * an idle limit) is cut off and marked down; that response is never
 * retried, as its status has reached the client already.
 *
 * @module
 */
import type { Context } from "hono";
import { assert } from "../chain/assert.ts";
import type { GatewayMetrics, RetryReason } from "./metrics.ts";
import { siteFetchFailure, type SitePool, type SiteState } from "./site_pool.ts";

/** Headers that belong to one connection (RFC 9110 §7.6.1), never forwarded either way. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/** Statuses whose responses carry no body (Fetch standard). */
const NULL_BODY_STATUSES = new Set([204, 205, 304]);

/** How one request is forwarded. */
export interface ForwardOptions {
  /** May be tried on another site (see the module doc). */
  retryable: boolean;
  /** Try the leader first (reads with `consistency=leader` or `linearizable`). */
  preferLeader: boolean;
  /** Longest a site may take to send its response headers, ms. */
  responseTimeoutMs: number;
  /** The request body as received, or null. */
  body: Uint8Array<ArrayBuffer> | null;
  /** The method sent to the site, when not the client's (the gateway asking `OPTIONS`). */
  method?: string;
}

/** What forwarding needs from the gateway. */
export interface ForwardContext {
  pool: SitePool;
  metrics: GatewayMetrics;
  /** This gateway's `Via` entry, e.g. `1.1 edgeledger-gateway`. */
  via: string;
  /** Most sites one request is tried on. */
  attemptsMax: number;
  /** Most requests forwarded at once. */
  inFlightRequestsMax: number;
  /**
   * Longest a site may leave a response body (not an event stream) without
   * sending a byte while the client waits for more, ms.
   */
  bodyIdleTimeoutMs: number;
  /** The same for an event stream (`text/event-stream`), ms: longer than the sites' heartbeat. */
  eventsIdleTimeoutMs: number;
  /** The client's address, for `X-Forwarded-For`, when known. */
  clientAddress?: string;
}

/** Why forwarding answered on its own; the caller turns it into a problem. */
export class ForwardRefusal extends Error {
  constructor(
    readonly reason: "no_site" | "busy" | "failed",
    detail: string,
  ) {
    super(detail);
    this.name = "ForwardRefusal";
  }
}

/**
 * Forwards `c`'s request and answers the site's response: its status and
 * headers (hop-by-hop ones dropped, `Via` and `X-Edgeledger-Site` added) and
 * its body as a stream, so event streams flow as the site sends them.
 * Throws {@link ForwardRefusal} when no site answered. Sets `c`'s `site`
 * variable to the URL of the site that answered.
 */
export async function forward(
  c: Context,
  ctx: ForwardContext,
  options: ForwardOptions,
): Promise<Response> {
  const { pool, metrics } = ctx;
  if (metrics.inFlight >= ctx.inFlightRequestsMax) {
    throw new ForwardRefusal(
      "busy",
      `The gateway already forwards ${ctx.inFlightRequestsMax} requests; retry shortly`,
    );
  }
  const incoming = new URL(c.req.url);
  const headers = requestHeaders(c.req.raw.headers, c.get("requestId") as string, ctx);
  const tried = new Set<SiteState>();
  const attemptsMax = options.retryable ? ctx.attemptsMax : 1;
  /** The previous try's failure: counted as a retry once another try starts. */
  let failed: { site: SiteState; reason: RetryReason; message: string } | undefined;
  for (let attempt = 0; attempt < attemptsMax && !pool.closing.aborted; attempt++) {
    const site = pool.pick(tried, options.preferLeader);
    if (site === undefined) break;
    if (failed !== undefined) metrics.retry(failed.site.url, failed.reason);
    tried.add(site);
    const outcome = await tryOnce(c, ctx, site, incoming, headers, options);
    if (outcome instanceof Response) {
      // A refusal may mean the site fell out of touch: its status, asked now,
      // keeps the next requests from it before the next round of polls would.
      if (outcome.status === 503) void pool.pollSoon(site);
      const more = attempt + 1 < attemptsMax && pool.canPick(tried);
      if (outcome.status === 503 && options.retryable && more) {
        // Busy, no leader, or not the leader: another site may serve it —
        // unless the cluster pauses writes for want of disk space, which
        // every site answers alike (its problem is passed on as it came).
        const clusterWide = await clusterWideRefusal(outcome);
        if (clusterWide !== undefined) {
          c.set("site", site.url);
          return clusterWide;
        }
        failed = { site, reason: "unavailable", message: `${site.url} answered 503` };
        continue;
      }
      c.set("site", site.url);
      return outcome;
    }
    failed = { site, ...outcome };
  }
  if (tried.size === 0) {
    throw new ForwardRefusal("no_site", "Cannot forward the request: no site is up");
  }
  throw new ForwardRefusal(
    "failed",
    `Cannot forward the request: ${tried.size} site(s) tried, none answered (${failed?.message})`,
  );
}

/** The most bytes of a 503's body read to tell whether it speaks for the whole cluster. */
const refusalBytesMax = 16 * 1024;

/**
 * `response` (a 503) rebuilt with its body when it is a problem every site
 * would answer alike — `insufficient_storage`: the cluster pauses writes
 * for want of disk space (README, "Disk space") — else undefined, its body
 * consumed. Only a small problem document is read.
 */
async function clusterWideRefusal(response: Response): Promise<Response | undefined> {
  const type = response.headers.get("content-type") ?? "";
  const length = Number(response.headers.get("content-length") ?? NaN);
  if (!type.startsWith("application/problem+json") || !(length <= refusalBytesMax)) {
    await response.body?.cancel().catch(() => {});
    return undefined;
  }
  let text: string;
  try {
    text = await response.text();
  } catch {
    return undefined;
  }
  let slug: unknown;
  try {
    slug = (JSON.parse(text) as { type?: unknown }).type;
  } catch {
    return undefined;
  }
  if (typeof slug !== "string" || !slug.endsWith("/problems/insufficient_storage")) {
    return undefined;
  }
  return new Response(text, { status: response.status, headers: response.headers });
}

/**
 * A response body cut part-way: its site stalled or failed after the status
 * had gone to the client. The body fails with it, so the client's
 * connection is cut and it sees the answer incomplete; the server that
 * sends the body logs it as one line (see `workers/gateway.ts`), not as a
 * stack trace.
 */
export class ResponseCut extends Error {
  constructor(
    /** The URL of the site whose body was cut. */
    readonly site: string,
    /** The id of the request it answered. */
    readonly requestId: string,
    /** Why, in one line (what the site did). */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`Cannot finish the response: ${reason}`, options);
    this.name = "ResponseCut";
  }
}

/** A try that got no response: why, for the retry metric and the final problem. */
interface Failure {
  reason: RetryReason;
  message: string;
}

/**
 * One try on `site`: the response (its body wrapped so the site's in-flight
 * count drops when the body ends) or why there was none. A site that refused
 * the connection, did not answer in time, or stalled in the middle of its
 * body is marked down.
 */
async function tryOnce(
  c: Context,
  ctx: ForwardContext,
  site: SiteState,
  incoming: URL,
  headers: Headers,
  options: ForwardOptions,
): Promise<Response | Failure> {
  const { pool, metrics } = ctx;
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new DOMException("No response in time", "TimeoutError")),
    options.responseTimeoutMs,
  );
  // The wait for the site's answer is bounded by the timeout, not by the
  // client: a client that leaves is noticed once the answer streams (its
  // body is cancelled, see tracked()).
  const started = performance.now();
  site.inFlight++;
  metrics.inFlight++;
  let done = false;
  const finish = (stream: boolean) => {
    if (done) return;
    done = true;
    if (stream) site.streams--;
    else site.inFlight--;
    metrics.inFlight--;
  };
  let upstream: Response;
  try {
    upstream = await pool.fetch(site.url + incoming.pathname + incoming.search, {
      method: options.method ?? c.req.method,
      headers,
      body: options.body,
      redirect: "manual",
      signal: AbortSignal.any([timeout.signal, pool.closing]),
    });
  } catch (e) {
    finish(false);
    const timedOut = timeout.signal.aborted;
    const message = timedOut
      ? `${site.url} sent no response within ${options.responseTimeoutMs} ms`
      : `${site.url}: ${siteFetchFailure(e)}`;
    if (!pool.closing.aborted) pool.markDown(site, message);
    return { reason: timedOut ? "timeout" : "connect", message };
  } finally {
    clearTimeout(timer);
  }
  metrics.upstream(site.url, (performance.now() - started) / 1000);
  const stream = (upstream.headers.get("content-type") ?? "").startsWith("text/event-stream");
  if (stream) {
    // A long-lived stream is not load: count it apart from requests in flight.
    site.inFlight--;
    site.streams++;
  }
  const out = responseHeaders(upstream.headers, ctx.via);
  out.set("X-Edgeledger-Site", site.name ?? site.url);
  // A status that has no body (204, 304, a HEAD's answer) must be answered without one.
  const bodyless = (options.method ?? c.req.method) === "HEAD" ||
    NULL_BODY_STATUSES.has(upstream.status);
  if (bodyless) await upstream.body?.cancel().catch(() => {});
  const idleMs = stream ? ctx.eventsIdleTimeoutMs : ctx.bodyIdleTimeoutMs;
  const body = bodyless || upstream.body === null ? null : tracked(upstream.body, idleMs, {
    site: site.url,
    requestId: c.get("requestId") as string,
    end: () => finish(stream),
    stalled: () => {
      const why = stream
        ? `${site.url} sent nothing on an event stream for ${idleMs} ms`
        : `${site.url} sent no more of its response body within ${idleMs} ms`;
      if (!pool.closing.aborted) pool.markDown(site, why);
      return why;
    },
    endCleanly: () => stream || pool.closing.aborted,
  });
  if (body === null) finish(stream);
  return new Response(body, {
    status: upstream.status,
    statusText: upstream.statusText,
    headers: out,
  });
}

/**
 * The headers sent to a site: the client's, minus hop-by-hop ones and
 * `Host`, with this request's id (so the site logs and answers the same
 * one), `Via` and `X-Forwarded-For` appended, and identity encoding (the
 * body streams back byte for byte).
 */
function requestHeaders(from: Headers, requestId: string, ctx: ForwardContext): Headers {
  const out = new Headers(from);
  for (const name of connectionHeaders(from)) out.delete(name);
  out.delete("host");
  out.delete("content-length");
  out.set("accept-encoding", "identity");
  out.set("x-request-id", requestId);
  const via = from.get("via");
  out.set("via", via ? `${via}, ${ctx.via}` : ctx.via);
  if (ctx.clientAddress !== undefined) {
    const xff = from.get("x-forwarded-for");
    out.set("x-forwarded-for", xff ? `${xff}, ${ctx.clientAddress}` : ctx.clientAddress);
  }
  return out;
}

/** The site's response headers for the client: hop-by-hop ones dropped, `Via` appended. */
function responseHeaders(from: Headers, via: string): Headers {
  const out = new Headers(from);
  for (const name of connectionHeaders(from)) out.delete(name);
  // A body the fetch decoded no longer has the length the site sent.
  if (from.has("content-encoding")) out.delete("content-length");
  const upstreamVia = from.get("via");
  out.set("via", upstreamVia ? `${upstreamVia}, ${via}` : via);
  return out;
}

/** Hop-by-hop header names, with those the `Connection` header lists. */
function connectionHeaders(headers: Headers): string[] {
  const listed = (headers.get("connection") ?? "").split(",").map((s) => s.trim().toLowerCase());
  return [...HOP_BY_HOP, ...listed.filter((s) => s !== "")];
}

/** What {@link tracked} tells its caller, and whose body it passes (for a {@link ResponseCut}). */
interface TrackedHooks {
  /** The site's URL. */
  site: string;
  /** The request's id. */
  requestId: string;
  /** Runs once, when the body ends, fails, stalls, or the client goes away. */
  end: () => void;
  /**
   * Runs when the site sent nothing for the idle limit, before the body is
   * cut; answers why (one line), for the error the body fails with.
   */
  stalled: () => string;
  /** Whether a failure or stall ends the body as if the site had closed it. */
  endCleanly: () => boolean;
}

/**
 * `body` passed through chunk by chunk (the reader pulls only as the client
 * reads, so a slow client slows the site's stream rather than filling
 * memory). Each read from the site may take at most `idleMs`: the clock
 * runs only while the client waits for the next chunk, so a slow client
 * never counts against the site. A read that takes longer is a stalled site:
 * `stalled()` runs and the site's body is cancelled. When the site's side
 * fails or stalls mid-body and `endCleanly()` (an event stream, or the
 * gateway stopping), the body ends as if the site had closed it — an event
 * stream's client resumes with `Last-Event-ID`; any other body fails with a
 * {@link ResponseCut}, so the client's connection is cut and it sees the
 * answer incomplete. Requires `idleMs > 0`.
 */
function tracked(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  hooks: TrackedHooks,
): ReadableStream<Uint8Array> {
  assert(idleMs > 0, "tracked() needs a positive idle limit");
  const { end, stalled, endCleanly } = hooks;
  const cut = (why: string, cause?: unknown) =>
    new ResponseCut(hooks.site, hooks.requestId, why, { cause });
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<"idle">((resolve) => timer = setTimeout(resolve, idleMs, "idle"));
      try {
        // The losing read settles once the body is cancelled below; race() has handled it.
        const read = await Promise.race([reader.read(), idle]);
        if (read === "idle") {
          end();
          const e = cut(stalled());
          void reader.cancel(e).catch(() => {});
          if (endCleanly()) controller.close();
          else controller.error(e);
        } else if (read.done) {
          end();
          controller.close();
        } else controller.enqueue(read.value);
      } catch (e) {
        end();
        if (endCleanly()) controller.close();
        else controller.error(cut(`${hooks.site} failed: ${oneLine(String(e))}`, e));
      } finally {
        clearTimeout(timer);
      }
    },
    async cancel(reason) {
      end();
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").slice(0, 300);
}
