/**
 * The edgeledger SDK: everything a device, app, gateway or auditor needs,
 * using only web-standard APIs (Deno, Node 20+, browsers, React Native).
 *
 * - Protocol (DESIGN §2): canonical JSON, did:key, keys and `Signer`s,
 *   envelopes and transaction ids, signature verification, the RFC 9162
 *   Merkle log, C2SP checkpoints and signed notes, block hashes.
 * - The verification surface: `canonicalJson`, `transactionId`,
 *   `verifySignature`, `verifyInclusion`, `verifyConsistency`, `verifyNote`.
 * - Transaction kinds: every kind's body schema (`KIND_BODIES`) and builders.
 * - The HTTP API's shared route definitions, the typed client (retries,
 *   failover, typed errors, SSE), the offline queue and the light client.
 *
 * File-backed stores (`node:fs`) are separate modules
 * (`sdk/queue/file_store.ts`, `sdk/light/file_trust_store.ts`) so browsers
 * never load them.
 *
 * @example
 * ```ts
 * import { createEnvelope, generateKeyPair, signEnvelope, softwareSigner } from "./sdk/mod.ts";
 * const key = generateKeyPair("ed25519");
 * const env = await signEnvelope(
 *   createEnvelope({ ledger: "demo", kind: "data.anchor", body, signers: [key.did] }),
 *   [softwareSigner(key)],
 * );
 * ```
 *
 * @module
 */
export * from "./protocol.ts";
export * from "./kinds/mod.ts";
export * from "./kinds/build.ts";
export { PROBLEM_TYPES, problemTypeUri, ROUTES } from "./api/routes.ts";
export type { ProblemSlug } from "./api/routes.ts";
export { type Readiness, readiness } from "./api/readiness.ts";
export * from "./client/mod.ts";
export * from "./queue/mod.ts";
export * from "./light/mod.ts";
