/**
 * The router of the API's Hono apps: Hono's default (a `SmartRouter` that
 * takes `RegExpRouter` when it can build every route, else `TrieRouter`),
 * with one repair.
 *
 * `TrieRouter` matches a path segment that is a literal `*` twice against a
 * wildcard route (once as the static child the wildcard is stored under,
 * once as the wildcard), so every `app.use()` middleware ran twice for
 * `OPTIONS *` (which Deno gives as the path `/*`) or `/v1/%2A` (Hono
 * decodes `%2A`): the request size limit read the body a second time, from
 * a stream the first read had locked, and the request was answered 500.
 * Such a segment is matched here as `%2A`, which no route spells either; a
 * path parameter that takes it is decoded back to `*` by Hono, as
 * parameters are.
 *
 * @module
 */
import type { Result, Router } from "hono/router";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { SmartRouter } from "hono/router/smart-router";
import { TrieRouter } from "hono/router/trie-router";

/** A path segment that is exactly `*`. */
const LITERAL_STAR_SEGMENT = /(?<=\/)\*(?=\/|$)/g;

/** Hono's default router, matching a path segment that is a literal `*` once (see the module doc). */
export class ApiRouter<T> implements Router<T> {
  readonly name = "ApiRouter";
  readonly #inner: Router<T> = new SmartRouter<T>({
    routers: [new RegExpRouter<T>(), new TrieRouter<T>()],
  });

  add(method: string, path: string, handler: T): void {
    this.#inner.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    const matched = path.includes("*") ? path.replace(LITERAL_STAR_SEGMENT, "%2A") : path;
    return this.#inner.match(method, matched);
  }
}

/** A route as Hono lists it in `app.routes`. */
export interface ListedRoute {
  method: string;
  path: string;
}

/** The methods a client may name in `Allow`, in the order they are listed. */
const ALLOW_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/**
 * The methods that some route of `routes` answers at a path, for a `405`'s
 * `Allow` header: empty when no route takes the path with any method.
 * Middleware (`use`, listed with the method `ALL`) is not a route. Hono
 * answers `HEAD` with a `GET` route, and the site answers `OPTIONS` on any
 * path a route takes, so both are listed with the rest. Build it once the
 * app's routes are all added.
 *
 * @example
 * ```ts
 * const methodsAt = routeMethods(app.routes);
 * methodsAt("/v1/txs"); // ["POST", "OPTIONS"]
 * ```
 */
export function routeMethods(routes: readonly ListedRoute[]): (path: string) => string[] {
  const router = new ApiRouter<string>();
  for (const route of routes) {
    if (route.method !== "ALL") router.add("ALL", route.path, route.method.toUpperCase());
  }
  return (path) => {
    const [matches] = router.match("GET", path);
    if (matches.length === 0) return [];
    const methods = new Set(matches.map(([method]) => method));
    if (methods.has("GET")) methods.add("HEAD");
    methods.add("OPTIONS");
    return ALLOW_ORDER.filter((m) => methods.has(m));
  };
}
