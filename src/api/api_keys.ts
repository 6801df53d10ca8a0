/**
 * API keys for the public API (DESIGN §6: "rate limits per signer and per
 * API key, and API keys (hashed at rest) for tenant/admin routes").
 *
 * A tenant — an MVNO, a fleet operator, an enterprise integrating devices —
 * sends `Authorization: Bearer <key>` with its requests under `/v1/`. A site
 * keeps only each key's SHA-256 (as for admin keys) with a name and a
 * per-minute request budget. A request with a key the site does not know is
 * refused 401 (never treated as anonymous: a typo must not pass silently),
 * its Bearer challenge saying `error="invalid_token"`;
 * past its budget a key gets 429 with `Retry-After`. Whether a request
 * without a key is served is the site's choice: `none` (keys optional),
 * `writes` (`POST`s need one) or `all`. Budgets are per site, like the
 * signer rate limit of the consortium's policy.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { sha256Hex } from "../../sdk/hash.ts";
import { utf8Encode } from "../../sdk/encoding.ts";
import { BEARER_CHALLENGE_INVALID } from "../../sdk/api/headers.ts";
import { knownProblem, problemResponse } from "./problem.ts";

/** One tenant key as a site keeps it. */
export interface ApiKeyEntry {
  /** Who holds it (shown in problems and logs; never the key). */
  name: string;
  /** SHA-256 hex of the key. */
  hash: string;
  /** Requests per minute this key may make on this site. */
  requestsPerMinute: number;
}

/** What an API key's name may be (it shows in problems and logs). */
export const API_KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Which requests without a key a site serves. */
export type ApiKeyRequirement = "none" | "writes" | "all";

/**
 * Options of {@link apiKeys}. Read on every request, so a site that reloads
 * its keys (SIGHUP) replaces `keys` and `require` here and the next request
 * is judged by them.
 */
export interface ApiKeyOptions {
  keys: readonly ApiKeyEntry[];
  require: ApiKeyRequirement;
  /** The clock, ms (tests). */
  now?: () => number;
}

/** SHA-256 hex of an API key, the form kept in site configs. */
export function hashKey(key: string): string {
  return sha256Hex(utf8Encode(key));
}

/** Equal-length hex strings compared in constant time. */
export function sameHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** An `Authorization` that carries a key: `Bearer` and 16–256 characters without spaces. */
export const BEARER_KEY = /^Bearer (\S{16,256})$/;

/**
 * The entry of `keys` whose hash is `hash` (SHA-256 hex), if any. Every
 * entry is compared, so the time taken says nothing about which matched.
 */
export function keyEntryOf(
  keys: readonly ApiKeyEntry[],
  hash: string,
): ApiKeyEntry | undefined {
  let entry: ApiKeyEntry | undefined;
  for (const k of keys) if (sameHex(k.hash, hash)) entry = k;
  return entry;
}
const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The middleware: authenticates tenant keys and holds each to its budget. */
export function apiKeys(options: ApiKeyOptions): MiddlewareHandler {
  const now = options.now ?? Date.now;
  /** Requests of the current minute, by key name. */
  const windows = new Map<string, { minute: number; count: number }>();
  return async (c, next) => {
    // No keys and none required: as if there were no middleware at all.
    if (options.keys.length === 0 && options.require === "none") return await next();
    const auth = c.req.header("authorization");
    if (auth === undefined) {
      const needed = options.require === "all" ||
        (options.require === "writes" && WRITE_METHODS.has(c.req.method));
      if (!needed) return await next();
      return problemResponse(
        c,
        knownProblem(
          "unauthorized",
          `This site serves ${
            options.require === "all" ? "requests" : "writes"
          } only with an API key (Authorization: Bearer <key>)`,
        ),
      );
    }
    const m = BEARER_KEY.exec(auth);
    const entry = m === null ? undefined : keyEntryOf(options.keys, hashKey(m[1]));
    if (entry === undefined) {
      return problemResponse(
        c,
        knownProblem("unauthorized", "Unknown API key (Authorization: Bearer <key>)"),
        { challenge: BEARER_CHALLENGE_INVALID },
      );
    }
    const t = now();
    const minute = Math.floor(t / 60_000);
    const w = windows.get(entry.name);
    const count = w?.minute === minute ? w.count : 0;
    if (count >= entry.requestsPerMinute) {
      return problemResponse(
        c,
        knownProblem(
          "rate_limited",
          `API key ${entry.name} made ${entry.requestsPerMinute} requests this minute, its limit on this site`,
          {
            apiKey: entry.name,
            retryAfter: Math.max(1, Math.ceil(((minute + 1) * 60_000 - t) / 1000)),
          },
        ),
      );
    }
    windows.set(entry.name, { minute, count: count + 1 });
    await next();
  };
}
