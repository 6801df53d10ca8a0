/**
 * The offline queue (DESIGN §7): signed transactions wait while no site can
 * be reached and drain in order, without duplicates, when one can. Bounded,
 * with a drop policy and a pluggable store; expired entries are reported.
 *
 * The file store lives in `./file_store.ts` (Deno/Node only) and is not
 * re-exported here, so browsers never load `node:fs`.
 *
 * @example
 * ```ts
 * import { OfflineQueue } from "./mod.ts";
 * const queue = new OfflineQueue({ submitter: client, sizeMax: 5000 });
 * await queue.send(signedEnvelope);
 * ```
 *
 * @module
 */

export * from "./queue.ts";
export * from "./store.ts";
