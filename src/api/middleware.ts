/**
 * Middleware of the public API, each an option factory in Hono's style:
 * request size limit, JSON-only bodies, and Prometheus metrics.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { escapeLabelValue, Histogram, methodLabel } from "./histogram.ts";
import { knownProblem, MalformedBodyError, problemResponse, validationProblem } from "./problem.ts";
import type { LedgerService } from "./service.ts";
import { z } from "@hono/zod-openapi";
import { MinHeight } from "../../sdk/api/schemas.ts";

/**
 * Refuses a request body larger than `requestBytesMax` with a 413
 * `payload_too_large` problem (see {@link bodySizeLimit}).
 */
export function requestSizeLimit(options: { requestBytesMax: number }): MiddlewareHandler {
  const { requestBytesMax } = options;
  return bodySizeLimit({
    bytesMax: requestBytesMax,
    tooLarge: (c) =>
      problemResponse(
        c,
        knownProblem(
          "payload_too_large",
          `Cannot accept the request: the body exceeds ${requestBytesMax} bytes`,
          { limitBytes: requestBytesMax },
        ),
      ),
  });
}

/**
 * Answers `tooLarge(c)` to a request whose body is larger than `bytesMax`.
 * A body with `Content-Length` is judged by the header; a chunked body (no
 * `Content-Length`) is read and counted, and cut as soon as it passes the
 * limit, so at most `bytesMax` bytes are ever buffered. The bytes of a
 * chunked body that fits go to Hono's body cache, from which `c.req.json()`,
 * `text()` and `arrayBuffer()` answer.
 *
 * Hono's `bodyLimit` does the same, but hands the bytes on in a copy of the
 * request (`new Request(raw, { body })`), and copying a request `Deno.serve`
 * made reads its `signal`: Deno 2.9 then prints a warning on stderr (a line
 * outside the log, which breaks a JSON log), for a chunked body and for a
 * method Deno gives a body stream without one (`PROPFIND`, a lower-case
 * `get`). Nothing downstream needs the copy: the request is left as it came.
 */
export function bodySizeLimit(options: {
  bytesMax: number;
  tooLarge: (c: Context) => Response | Promise<Response>;
}): MiddlewareHandler {
  const { bytesMax, tooLarge } = options;
  return async (c, next) => {
    const raw = c.req.raw;
    // Read already (by this middleware, run again for the same request):
    // its bytes are in Hono's body cache, and a second read would find none.
    if (raw.body === null || raw.bodyUsed) return await next();
    const length = raw.headers.get("content-length");
    if (length !== null && !raw.headers.has("transfer-encoding")) {
      // As Hono's bodyLimit judges it: a length that is no number is Deno's to refuse.
      return parseInt(length, 10) > bytesMax ? await tooLarge(c) : await next();
    }
    const reader = raw.body.getReader();
    let size = 0;
    let buffer = new Uint8Array(0);
    try {
      for (;;) {
        let read: ReadableStreamReadResult<Uint8Array>;
        try {
          read = await reader.read();
        } catch (e) {
          // The client left (BadResource) is thrown as it is; anything else
          // the stream fails with is the body's framing, the client's fault.
          throw e instanceof Deno.errors.BadResource ? e : new MalformedBodyError({ cause: e });
        }
        const { done, value } = read;
        if (done) break;
        const offset = size;
        size += value.length;
        if (size > bytesMax) return await tooLarge(c);
        if (size > buffer.length) {
          const grown = new Uint8Array(Math.min(bytesMax, Math.max(size, buffer.length * 2)));
          grown.set(buffer.subarray(0, offset));
          buffer = grown;
        }
        buffer.set(value, offset);
      }
    } finally {
      reader.releaseLock();
    }
    cacheBody(c, buffer.slice(0, size).buffer);
    await next();
  };
}

/**
 * Gives Hono `bytes` as the request's body, already read: its later reads
 * (`c.req.json()`, `text()`, `arrayBuffer()`, a validator's) answer from it.
 * Hono keeps each read as a promise (`HonoRequest`'s body cache), whatever
 * the cache's type says.
 */
function cacheBody(c: Context, bytes: ArrayBuffer): void {
  (c.req.bodyCache as Record<string, unknown>).arrayBuffer = Promise.resolve(bytes);
}

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * Answers 415 `unsupported_media_type` to a request with the given methods
 * whose `Content-Type` is not JSON (`application/json` or `application/*+json`),
 * including one with no `Content-Type` at all, so a body is never guessed at.
 */
export function requireJsonBody(options: { methods: string[] } = { methods: ["POST"] }) {
  const methods = new Set(options.methods.map((m) => m.toUpperCase()));
  const handler: MiddlewareHandler = async (c, next) => {
    if (!methods.has(c.req.method)) return await next();
    const contentType = c.req.header("content-type") ?? "";
    const mediaType = contentType.split(";")[0].trim();
    if (!JSON_MEDIA_TYPE.test(mediaType)) {
      return problemResponse(
        c,
        knownProblem(
          "unsupported_media_type",
          `Cannot read the body: Content-Type must be application/json, not "${
            mediaType.slice(0, 100) || "(none)"
          }"`,
        ),
      );
    }
    await next();
  };
  return handler;
}

/** Upper bounds of the request latency histogram, in seconds. */
export const LATENCY_BUCKETS_SECONDS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** Prometheus metrics of the HTTP layer: a middleware that records, and a renderer. */
export interface HttpMetrics {
  /** Records one request: count by method, route and status, and latency by method and route. */
  middleware: MiddlewareHandler;
  /** The Prometheus text exposition (format 0.0.4) of what was recorded. */
  render(): string;
}

/**
 * Creates the HTTP metrics. The `route` label is the route pattern that
 * handled the request (`/v1/blocks/:height`) or `unmatched`, never the raw
 * path, so label cardinality is bounded by the route table. Latency is
 * measured until the response headers are ready (for SSE, until the stream
 * opens).
 */
export function createHttpMetrics(options: { now?: () => number } = {}): HttpMetrics {
  const now = options.now ?? (() => performance.now());
  const counts = new Map<string, number>();
  const durations = new Histogram(
    "edgeledger_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    LATENCY_BUCKETS_SECONDS,
  );

  const middleware: MiddlewareHandler = async (c, next) => {
    const start = now();
    try {
      await next();
    } finally {
      const seconds = (now() - start) / 1000;
      const handlers = matchedRoutes(c).filter((r) => r.method !== "ALL");
      const route = handlers.length > 0 ? handlers[handlers.length - 1].path : "unmatched";
      // A client may send any token as a method: the label set stays bounded.
      const method = methodLabel(c.req.method);
      const status = c.res.status;
      const countKey = `method="${method}",route="${escapeLabelValue(route)}",status="${status}"`;
      counts.set(countKey, (counts.get(countKey) ?? 0) + 1);
      durations.observe(seconds, `method="${method}",route="${escapeLabelValue(route)}"`);
    }
  };

  const render = () => {
    const lines: string[] = [
      "# HELP edgeledger_http_requests_total HTTP requests answered, by method, route and status.",
      "# TYPE edgeledger_http_requests_total counter",
    ];
    for (const [labels, n] of counts) lines.push(`edgeledger_http_requests_total{${labels}} ${n}`);
    return lines.join("\n") + "\n" + durations.render();
  };

  return { middleware, render };
}

/**
 * Deepest nesting of objects and arrays a request body may have. Canonical
 * JSON refuses more than 128 levels in an envelope (and a reading), and a
 * batch or a route's wrapper adds a few; parsing a body nested hundreds of
 * thousands deep costs the event loop a fifth of a second per megabyte.
 */
export const JSON_DEPTH_MAX = 160;

/**
 * Most members one object of a request body may have: no route takes an
 * object of more than a few dozen, and zod reports every unknown one.
 */
export const JSON_OBJECT_MEMBERS_MAX = 10_000;

/** A body deeper or wider than the limits {@link repeatedMembers} was given. */
export class JsonShapeError extends Error {
  override name = "JsonShapeError";
}

/** A member name that an object repeats, and where that object is. */
export interface RepeatedMember {
  /** The repeated name, decoded. */
  name: string;
  /**
   * The object's place in the document: member names and array indexes from
   * the root, e.g. `["txs", 3, "body"]`; `[]` for the root object. At most
   * `pathLengthMax` entries (the first ones) when that option is given.
   */
  path: Array<string | number>;
}

/**
 * Every repeat of a member name in the objects of `text`, in document order
 * (a name that an object has three times is reported twice). `text` is JSON
 * as received (invalid JSON may give any answer; the parser refuses it
 * anyway). Names are compared decoded, so `"a"` and `"\u0061"` are the same
 * name. One pass over `text`; memory is bounded by the names of the objects
 * open at once. Each report copies its path, so iterating every report costs
 * O(text + reports × path length): a caller that reads every report of a
 * body it does not trust bounds the path with `pathLengthMax` (otherwise a
 * deeply nested object with many repeats costs time quadratic in the size).
 * With `depthMax` or `membersMax` it throws {@link JsonShapeError} as soon as
 * the nesting or one object's distinct names go beyond them, before
 * reading the rest.
 */
export function* repeatedMembers(
  text: string,
  options: { pathLengthMax?: number; depthMax?: number; membersMax?: number } = {},
): Generator<RepeatedMember, void, undefined> {
  const pathLengthMax = options.pathLengthMax ?? Infinity;
  const depthMax = options.depthMax ?? Infinity;
  const membersMax = options.membersMax ?? Infinity;
  // One entry per open object (its names so far, and the latest) or array
  // (names null; the index of the current element).
  const open: Array<{ names: Set<string> | null; name: string; index: number }> = [];
  let keyNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // The closing quote: the next one after an even run of backslashes
      // (indexOf, since strings, base64 above all, are most of a body).
      let j = text.indexOf('"', i + 1);
      while (j !== -1 && escaped(text, j)) j = text.indexOf('"', j + 1);
      if (j === -1) j = text.length;
      const top = open[open.length - 1];
      if (keyNext && top?.names) {
        let name = text.slice(i + 1, j);
        if (name.includes("\\")) {
          try {
            name = JSON.parse(text.slice(i, j + 1));
          } catch {
            return;
          }
        }
        if (top.names.has(name)) {
          const path = open.slice(0, Math.min(open.length - 1, pathLengthMax));
          yield { name, path: path.map((o) => o.names ? o.name : o.index) };
        }
        top.names.add(name);
        if (top.names.size > membersMax) {
          throw new JsonShapeError(`an object has more than ${membersMax} members`);
        }
        top.name = name;
        keyNext = false;
      }
      i = j;
    } else if (c === 0x7b || c === 0x5b) {
      if (open.length >= depthMax) {
        throw new JsonShapeError(`objects and arrays are nested more than ${depthMax} deep`);
      }
      const object = c === 0x7b;
      open.push({ names: object ? new Set() : null, name: "", index: 0 });
      keyNext = object;
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      keyNext = false;
    } else if (c === 0x2c) {
      const top = open[open.length - 1];
      if (top !== undefined && top.names === null) top.index++;
      keyNext = top !== undefined && top.names !== null;
    } else if (c === 0x3a) {
      keyNext = false;
    }
  }
}

/** Whether the character at `at` follows an odd run of backslashes. */
function escaped(text: string, at: number): boolean {
  let n = 0;
  while (at - n - 1 >= 0 && text.charCodeAt(at - n - 1) === 0x5c) n++;
  return n % 2 === 1;
}

/**
 * The first member name that an object of `text` repeats, or undefined (see
 * {@link repeatedMembers}).
 */
export function duplicateMember(
  text: string,
  limits: { depthMax?: number; membersMax?: number } = {},
): string | undefined {
  for (const { name } of repeatedMembers(text, limits)) return name;
  return undefined;
}

/**
 * The detail of a `validation` problem for a repeated member `name`, as the
 * API words it wherever it refuses one.
 */
export function repeatedMemberDetail(name: string, what = "the body"): string {
  return `Cannot read ${what}: an object repeats the member ${
    JSON.stringify(name.slice(0, 100))
  } (JSON names must be unique, RFC 7493)`;
}

/**
 * Refuses (400 `validation`) a JSON body in which an object repeats a member
 * name. JSON.parse keeps the last one silently; I-JSON, which RFC 8785
 * canonicalization assumes, forbids repeats, and a parser elsewhere that
 * kept the first would read a different transaction from the one signed.
 * Also refuses, before it is parsed, a body nested deeper than
 * {@link JSON_DEPTH_MAX} or with an object of more than
 * {@link JSON_OBJECT_MEMBERS_MAX} members: junk that would hold the event
 * loop (and the site's Raft ticks) for a long parse and a longer refusal.
 */
export function refuseDuplicateMembers(
  options: { methods: string[] } = { methods: ["POST"] },
): MiddlewareHandler {
  const methods = new Set(options.methods.map((m) => m.toUpperCase()));
  return async (c, next) => {
    if (methods.has(c.req.method)) {
      // Hono keeps the text: the route's JSON parse reads it again from memory.
      let name: string | undefined;
      try {
        name = duplicateMember(await c.req.text(), {
          depthMax: JSON_DEPTH_MAX,
          membersMax: JSON_OBJECT_MEMBERS_MAX,
        });
      } catch (e) {
        if (!(e instanceof JsonShapeError)) throw e;
        return problemResponse(c, knownProblem("validation", `Cannot read the body: ${e.message}`));
      }
      if (name !== undefined) {
        return problemResponse(
          c,
          knownProblem("validation", repeatedMemberDetail(name)),
        );
      }
    }
    await next();
  };
}

const MIN_HEIGHT_QUERY = z.object({ minHeight: MinHeight });

/**
 * Holds a read that carries `minHeight` until this site has applied that
 * height (read your writes across sites): `GET` and `HEAD` under the paths
 * it is mounted on, except `skip` (the event stream, which resumes by
 * `Last-Event-ID`), and the `POST`s that `postReads` matches (a read with a
 * body). A malformed value is 400 `validation`, as the route's own check
 * would answer; a height not reached within `waitMs` is the service's 503
 * `unavailable`. A request without it passes through untouched.
 */
export function awaitMinHeight(
  service: Pick<LedgerService, "awaitHeight">,
  options: { waitMs: number; skip?: readonly string[]; postReads?: RegExp },
): MiddlewareHandler {
  const skip = new Set(options.skip ?? []);
  return async (c, next) => {
    const method = c.req.method;
    const read = method === "GET" || method === "HEAD"
      ? !skip.has(c.req.path)
      : method === "POST" && options.postReads?.test(c.req.path) === true;
    if (read) {
      const raw = c.req.query("minHeight");
      if (raw !== undefined) {
        const parsed = MIN_HEIGHT_QUERY.safeParse({ minHeight: raw });
        if (!parsed.success) return problemResponse(c, validationProblem("query", parsed.error));
        const height = parsed.data.minHeight;
        if (height !== undefined) {
          // Fires only when the client goes away: deno.json opts into
          // Deno's no-legacy-abort (the legacy signal also fired once an
          // answer was sent, and reading it printed a warning on stderr).
          const request = c.req.raw.signal;
          try {
            await service.awaitHeight(height, options.waitMs, request);
          } catch (e) {
            // The client went away while its read waited: nobody reads the
            // answer, and it is no error of the site's (not logged as one).
            if (!request.aborted) throw e;
            return problemResponse(
              c,
              knownProblem("unavailable", `The request ended while it waited for height ${height}`),
            );
          }
        }
      }
    }
    await next();
  };
}
