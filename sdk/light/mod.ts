/**
 * The light client (DESIGN §2, §7): verifies receipts trusting no single
 * site — inclusion proof against a checkpoint, the checkpoint's signatures
 * against a quorum of configured site keys, and consistency with the last
 * checkpoint it trusted. A trust config (`trust_config.ts`) holds the keys,
 * quorum and origin to trust. `./file_trust_store.ts` (Deno/Node) keeps the
 * last trusted checkpoint in a file and is not re-exported here, so browsers
 * never load `node:fs`.
 *
 * @example
 * ```ts
 * import { LightClient } from "./mod.ts";
 * const light = new LightClient({ source: client, trustedKeys, quorum: 2 });
 * console.log((await light.verify(txId)).message);
 * ```
 *
 * @module
 */

export * from "./light_client.ts";
export * from "./trust_config.ts";
export * from "./trust_store.ts";
