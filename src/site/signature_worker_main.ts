/**
 * A signature worker (see `signature_pool.ts`): checks envelopes'
 * signatures off the main thread, one batch per message, answered in order.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import {
  type SignatureAnswer,
  type SignatureRequest,
  verifySignaturesHere,
} from "./signature_pool.ts";

self.onmessage = async (e: MessageEvent<SignatureRequest>) => {
  const verdicts = await verifySignaturesHere(e.data.jobs);
  self.postMessage({ id: e.data.id, verdicts } satisfies SignatureAnswer);
};
