/**
 * RFC 9457 problem details: building them, and mapping what a request can
 * throw (a {@link LedgerError}, a Hono `HTTPException`, a zod failure, a bug)
 * to one.
 *
 * @module
 */

import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { z } from "@hono/zod-openapi";
import {
  BEARER_CHALLENGE,
  PROBLEM_TYPES,
  problemTitle,
  problemTypeUri,
} from "../../sdk/api/routes.ts";
import { LedgerError } from "./service.ts";
import { boundedIssues, type FieldIssue } from "./field_issues.ts";
import { type ListedRoute, routeMethods } from "./router.ts";

/** The media type of every error answer. */
export const PROBLEM_MEDIA_TYPE = "application/problem+json";

/** One bad field of a `validation` problem: `path` is dotted and starts with the request part. */
export type { FieldIssue } from "./field_issues.ts";

/** The members of a problem besides those the API fills in (`instance`, `requestId`). */
export interface ProblemInit {
  /** A slug (normally from `PROBLEM_TYPES`) or an already absolute `type` URI. */
  type: string;
  status: number;
  title: string;
  detail: string;
  /** Extension members; they never override the standard ones. */
  extra?: Record<string, unknown>;
}

/** Turns a slug into its `type` URI; leaves an absolute URI as it is. */
export function toTypeUri(type: string): string {
  return /^https?:\/\//.test(type) ? type : problemTypeUri(type);
}

/** A problem of a known slug with its usual status and title. */
export function knownProblem(
  slug: keyof typeof PROBLEM_TYPES,
  detail: string,
  extra?: Record<string, unknown>,
): ProblemInit {
  const { title, status } = PROBLEM_TYPES[slug];
  return { type: slug, status, title, detail, extra };
}

/** A problem's JSON members (RFC 9457) for a request to `instance`. */
export function problemBody(init: ProblemInit, instance: string, requestId: string) {
  return {
    ...(init.extra ?? {}),
    type: toTypeUri(init.type),
    title: problemTitle(init.type, init.title),
    status: init.status,
    detail: init.detail,
    instance,
    requestId,
  };
}

/**
 * Answers `init` as `application/problem+json`, with `instance` = the request
 * path, `requestId` = the request id, `Cache-Control: no-store`,
 * `Retry-After` on 429 and 503 (the `retryAfter` extra in seconds, else 1),
 * a `WWW-Authenticate` Bearer challenge on 401 (RFC 9110 §15.5.2 requires
 * one; `challenge` replaces the default {@link BEARER_CHALLENGE}),
 * and the `X-Request-Id` header (set here too, since an error answer may be built
 * after the header set by the request-id middleware was dropped).
 */
export function problemResponse(
  c: Context,
  init: ProblemInit,
  options: { challenge?: string } = {},
): Response {
  const requestId = (c.get("requestId") as string | undefined) ?? "";
  const body = problemBody(init, c.req.path, requestId);
  const headers: Record<string, string> = {
    "Content-Type": PROBLEM_MEDIA_TYPE,
    "Cache-Control": "no-store",
  };
  if (requestId) headers["X-Request-Id"] = requestId;
  if (init.status === 429 || init.status === 503) {
    const seconds = init.extra?.retryAfter;
    headers["Retry-After"] = typeof seconds === "number" && Number.isInteger(seconds) && seconds > 0
      ? String(seconds)
      : "1";
  }
  if (init.status === 401) headers["WWW-Authenticate"] = options.challenge ?? BEARER_CHALLENGE;
  return c.body(JSON.stringify(body), init.status as 400, headers);
}

/** Hono's validation targets named as OpenAPI names the parameter locations. */
const TARGET_NAMES: Record<string, string> = {
  json: "body",
  form: "body",
  param: "path",
  query: "query",
  header: "header",
  cookie: "cookie",
};

/**
 * Flattens zod issues into `{ path, message }` pairs, prefixing each path with
 * the request part as OpenAPI names it (`path`, `query`, `header`, `body`),
 * e.g. `query.limit`, `body.txs.3`. A union failure is
 * reported by the branch that got furthest into the value, so
 * `{ "txs": [] }` names `json.txs` rather than "invalid input".
 */
/**
 * An issue's message, except that a member left out is said to be required:
 * zod says "Invalid input: expected string, received undefined" of it.
 */
function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_type" && / received undefined$/.test(issue.message)) {
    return `Required: ${issue.expected === "string" ? "a value" : `a ${issue.expected}`}`;
  }
  return issue.message;
}

export function fieldIssues(target: string, error: z.ZodError): FieldIssue[] {
  const where = TARGET_NAMES[target] ?? target;
  const out: FieldIssue[] = [];
  const walk = (issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[]) => {
    for (const issue of issues) {
      const path = [...prefix, ...issue.path];
      if (issue.code === "invalid_union" && issue.errors.length > 0) {
        const depth = (branch: z.core.$ZodIssue[]) =>
          Math.max(0, ...branch.map((i) => i.path.length));
        const best = issue.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a));
        if (best.length > 0 && depth(best) > 0) {
          walk(best, path);
          continue;
        }
      }
      out.push({ path: [where, ...path].map(String).join("."), message: issueMessage(issue) });
    }
  };
  walk(error.issues, []);
  return out;
}

/**
 * The answer to a request no route takes: a `not_found` problem naming the
 * method and (the first 200 characters of) the path; `what` says which
 * routes (`"route"`, `"admin route"`, `"peer route"`). When routes take the
 * path with other methods (`allowed`, from {@link routeMethods}), the
 * answer is a `method_not_allowed` problem with their `Allow` header —
 * or, for `OPTIONS`, `204` with that header (RFC 9110 §9.3.7, §15.5.6).
 */
export function noSuchRoute(c: Context, what = "route", allowed: readonly string[] = []): Response {
  if (allowed.length === 0) {
    return problemResponse(
      c,
      knownProblem(
        "not_found",
        `Cannot find ${c.req.method} ${c.req.path.slice(0, 200)}: no such ${what}`,
      ),
    );
  }
  const allow = allowed.join(", ");
  if (c.req.method === "OPTIONS") return c.body(null, 204, { Allow: allow });
  c.header("Allow", allow);
  return problemResponse(
    c,
    knownProblem(
      "method_not_allowed",
      `${c.req.method.slice(0, 20)} is not allowed on ${c.req.path.slice(0, 200)}: ${allow}`,
    ),
  );
}

/**
 * The not-found handler of an app whose routes are all added by its first
 * request: {@link noSuchRoute} with the methods `app`'s routes take at the
 * path.
 */
export function routeNotFound(
  app: { readonly routes: readonly ListedRoute[] },
  what = "route",
): (c: Context) => Response {
  let methodsAt: ((path: string) => string[]) | undefined;
  return (c) => {
    methodsAt ??= routeMethods(app.routes);
    return noSuchRoute(c, what, methodsAt(c.req.path));
  };
}

/** The `validation` problem for zod issues of one request part. */
export function validationProblem(target: string, error: z.ZodError): ProblemInit {
  const all = fieldIssues(target, error);
  const errors = boundedIssues(all);
  const shown = errors.map((e) => `${e.path}: ${e.message}`);
  if (all.length > errors.length) shown.push(`${all.length - errors.length} more`);
  return knownProblem("validation", shown.join("; "), { errors });
}

const HTTP_STATUS_SLUGS: Record<number, keyof typeof PROBLEM_TYPES> = {
  400: "validation",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
  503: "unavailable",
};

/**
 * Maps anything a handler or middleware threw to a problem:
 * a `LedgerError` with a 4xx or 5xx status keeps its slug, status, title, detail and extras; an
 * `HTTPException` below 500 keeps its status and message (Hono's messages are
 * written for clients); everything else, including an `HTTPException` of 500
 * or more, is `internal` with a fixed detail, and `report` receives the
 * error so it can be logged server-side.
 */
export function problemFromError(err: unknown, report: (err: unknown) => void): ProblemInit {
  // A LedgerError with a status that is not an error status is a bug in its
  // thrower; answering it as-is would tell the client the request succeeded.
  if (err instanceof LedgerError && err.status >= 400 && err.status <= 599) {
    return {
      type: err.type,
      status: err.status,
      title: err.title,
      detail: err.message,
      extra: err.extra,
    };
  }
  if (err instanceof HTTPException && err.status < 500) {
    const slug = HTTP_STATUS_SLUGS[err.status];
    if (slug) return knownProblem(slug, err.message || PROBLEM_TYPES[slug].title);
    return {
      type: `http_${err.status}`,
      status: err.status,
      title: err.message || `HTTP ${err.status}`,
      detail: err.message || `HTTP ${err.status}`,
    };
  }
  if (err instanceof HTTPException && err.status === 503) {
    return knownProblem("unavailable", "The site cannot serve this request now; retry later");
  }
  report(err);
  return knownProblem("internal", "The request failed because of an internal error; it was logged");
}

/**
 * A request body that could not be read for a reason of the client's own:
 * its HTTP framing (a chunk not followed by CRLF, a bad chunk size). Deno
 * fails the body's stream with a plain `Error` ("invalid HTTP/1 request"),
 * so the reader of the body (`bodySizeLimit`) throws this in its place, the
 * stream's error as `cause`.
 */
export class MalformedBodyError extends Error {
  constructor(options: ErrorOptions) {
    super("Cannot read the request body: malformed request body", options);
    this.name = "MalformedBodyError";
  }
}

/**
 * The problem to answer (a 400 `validation`), and a line worth a debug
 * record, when `err` is a failure to read the request body that is no fault
 * of the server's: the client's connection ended mid-body (Deno's
 * `BadResource` for the body's stream: the client left, or the server is
 * stopping, so nobody may read the answer), or the body was malformed HTTP
 * ({@link MalformedBodyError}). Undefined for any other error.
 */
export function bodyReadProblem(
  err: unknown,
  req: Request,
): { problem: ProblemInit; message: string } | undefined {
  if (err instanceof Deno.errors.BadResource && req.bodyUsed) {
    return {
      problem: knownProblem(
        "validation",
        "Cannot read the request body: the connection ended first",
      ),
      message: "client left mid-request",
    };
  }
  if (err instanceof MalformedBodyError) {
    return { problem: knownProblem("validation", err.message), message: "malformed request body" };
  }
  return undefined;
}
