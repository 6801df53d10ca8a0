/**
 * Request and response types derived from the shared route definitions in
 * `sdk/api/routes.ts` — the same objects the server implements — so the
 * client keeps no hand-written copy of the API: a field added to a schema
 * appears here, a field removed breaks the build.
 *
 * @module
 */

import type { z } from "@hono/zod-openapi";
import type { ROUTES } from "../api/routes.ts";

/**
 * The shape of a route definition the client can call (what `createRoute` returns).
 *
 * @example
 * ```ts
 * const route: RouteDefinition = ROUTES.getTx;
 * ```
 */
export interface RouteDefinition {
  /** The HTTP method, lowercase (`"get"`, `"post"`). */
  method: string;
  /** The path template with `{name}` parameters, e.g. `/v1/txs/{txId}`. */
  path: string;
  /** The zod schemas of the request's parts. */
  request?: {
    params?: z.ZodType;
    query?: z.ZodType;
    headers?: z.ZodType;
    body?: unknown;
  };
  /** The responses by status; success ones carry `content` with a schema. */
  responses: Record<string | number, unknown>;
}

/**
 * The name of a public route, e.g. `"getTx"`.
 *
 * @example
 * ```ts
 * const name: RouteName = "getTxProof";
 * ```
 */
export type RouteName = keyof typeof ROUTES;

/**
 * A value as it may be written into a URL: strings stay strings, and a
 * string field may also be given as a number (the API's integers travel as
 * strict decimal strings; `String(n)` of a safe integer is one).
 *
 * @example
 * ```ts
 * const q: Wire<{ limit?: string }> = { limit: 100 };
 * ```
 */
export type Wire<T> = T extends object
  ? { [K in keyof T]: T[K] | (string extends NonNullable<T[K]> ? number : never) }
  : T;

type SchemaIn<R, Part extends string> = R extends { request: { [P in Part]: infer S } }
  ? S extends z.ZodType ? Wire<z.input<S>> : never
  : undefined;

/**
 * The path parameters of route `R`, e.g. `{ txId: string }` for `getTx`.
 *
 * @example
 * ```ts
 * const p: ParamsOf<typeof ROUTES.getTx> = { txId: "ab".repeat(32) };
 * ```
 */
export type ParamsOf<R> = SchemaIn<R, "params">;
/**
 * The query of route `R`; numbers may be given as numbers.
 *
 * @example
 * ```ts
 * const q: QueryOf<typeof ROUTES.listBlocks> = { from: 0, limit: 10 };
 * ```
 */
export type QueryOf<R> = SchemaIn<R, "query">;
/**
 * The request headers route `R` defines (e.g. `last-event-id`).
 *
 * @example
 * ```ts
 * const h: HeadersOf<typeof ROUTES.streamEvents> = { "last-event-id": 41 };
 * ```
 */
export type HeadersOf<R> = SchemaIn<R, "headers">;
/**
 * The JSON body of route `R`, or `undefined` when it takes none.
 *
 * @example
 * ```ts
 * const body: BodyOf<typeof ROUTES.submitTxs> = { txs: [signedEnvelope] };
 * ```
 */
export type BodyOf<R> = R extends
  { request: { body: { content: { "application/json": { schema: infer S } } } } }
  ? S extends z.ZodType ? z.input<S> : never
  : undefined;

/**
 * The success statuses route `R` declares (2xx).
 *
 * @example
 * ```ts
 * const s: SuccessStatusOf<typeof ROUTES.submitTxs> = 202;
 * ```
 */
export type SuccessStatusOf<R> = R extends { responses: infer Rs }
  ? Extract<keyof Rs, 200 | 201 | 202 | 204>
  : never;

/**
 * The parsed body of route `R`'s answers with status `S` (default: every
 * success status): `z.output` of its `application/json` schema, or `string`
 * for a `text/plain` answer.
 *
 * @example
 * ```ts
 * type Proof = ResponseOf<typeof ROUTES.getTxProof>; // { logIndex, treeSize, leaf, proof }
 * ```
 */
export type ResponseOf<R, S extends number = SuccessStatusOf<R>> = R extends { responses: infer Rs }
  ? {
    [K in S]: K extends keyof Rs
      ? Rs[K] extends { content: { "application/json": { schema: infer T } } }
        ? T extends z.ZodType ? z.output<T> : never
      : Rs[K] extends { content: { "text/plain": unknown } } ? string
      : Rs[K] extends { content: { "text/event-stream": unknown } } ? ReadableStream<Uint8Array>
      : never
      : never;
  }[S]
  : never;

/**
 * What {@link ResponseOf} is for each public route, by name.
 *
 * @example
 * ```ts
 * type Status = Responses["getStatus"]; // { ledger, site, role, height, ... }
 * ```
 */
export type Responses = { [N in RouteName]: ResponseOf<(typeof ROUTES)[N]> };

/**
 * The input of a call to route `R`: each part the route defines, and nothing
 * else. Parts whose every member is optional may be left out.
 *
 * @example
 * ```ts
 * const input: RequestInput<typeof ROUTES.getBlock> = { params: { height: 3 } };
 * ```
 */
export type RequestInput<R> =
  & (ParamsOf<R> extends undefined ? { params?: undefined } : { params: ParamsOf<R> })
  & (QueryOf<R> extends undefined ? { query?: undefined } : { query?: QueryOf<R> })
  & (HeadersOf<R> extends undefined ? { headers?: undefined } : { headers?: HeadersOf<R> })
  & (BodyOf<R> extends undefined ? { body?: undefined } : { body: BodyOf<R> });
