/**
 * A signature-verification worker (see `verify_pool.ts`): checks envelopes'
 * signatures off the site's main thread.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { type Envelope, verifyEnvelopeSignatures } from "../../sdk/envelope.ts";

self.onmessage = async (
  e: MessageEvent<{ id: number; envelope: Envelope; payload: Uint8Array }>,
) => {
  const { id, envelope, payload } = e.data;
  const result = await verifyEnvelopeSignatures(envelope, payload);
  self.postMessage({ id, result });
};
