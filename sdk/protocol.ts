/**
 * The edgeledger wire protocol (DESIGN §2), everything the server and every
 * client must agree on: byte encodings, SHA-256, RFC 8785 canonical JSON,
 * did:key identities, signers and signature verification, the transaction
 * envelope, the RFC 9162 Merkle log and its proofs, C2SP checkpoints and
 * signed notes, and block headers.
 *
 * Pure and portable: web-standard APIs plus @noble/curves, @noble/hashes,
 * @scure/base and zod, so it runs unchanged in Deno, Node 20+,
 * browsers and React Native.
 *
 * @example
 * ```ts
 * import { createEnvelope, generateKeyPair, signEnvelope, softwareSigner, transactionId } from "./protocol.ts";
 * const signer = softwareSigner(generateKeyPair());
 * const env = await signEnvelope(
 *   createEnvelope({ ledger: "demo", kind: "data.anchor", body, signers: [signer.did] }),
 *   [signer],
 * );
 * transactionId(env);
 * ```
 *
 * @module
 */

export * from "./encoding.ts";
export * from "./hash.ts";
export * from "./canonical_json.ts";
export * from "./did_key.ts";
export * from "./keys.ts";
export * from "./signature.ts";
export * from "./envelope.ts";
export * from "./merkle.ts";
export * from "./checkpoint.ts";
export * from "./note.ts";
export * from "./key_rotation.ts";
export * from "./block.ts";
