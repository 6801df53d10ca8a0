/**
 * The typed HTTP client of edgeledger (DESIGN §6, §7): every public route,
 * typed from the shared route definitions in `sdk/api/routes.ts` and
 * `sdk/api/contract_routes/` (the contracts' reads as namespaces:
 * `client.identity.device(did)`, `client.asset.balance(asset, account)`, ...), with
 * retries (exponential backoff, full jitter, `Retry-After`), failover between
 * sites, per-request timeouts, typed errors carrying the request id,
 * `waitForCommit`, cursor pagination and resumable Server-Sent Events.
 *
 * Uses only `fetch`, streams, `AbortController` and `TextDecoderStream`, so
 * it runs in Deno, Node 20+, browsers and React Native (give it a streaming
 * `fetch` there for `subscribe`).
 *
 * @example
 * ```ts
 * import { EdgeLedgerClient } from "./mod.ts";
 * const client = new EdgeLedgerClient({ urls: ["http://127.0.0.1:7001"] });
 * const receipt = await client.submit(signedEnvelope, { wait: "commit" });
 * ```
 *
 * @module
 */

export * from "./client.ts";
export * from "./contracts.ts";
export * from "./errors.ts";
export * from "./retry.ts";
export * from "./sse.ts";
export type * from "./route_types.ts";
