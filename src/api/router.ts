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
