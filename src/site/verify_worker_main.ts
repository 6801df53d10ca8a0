/**
 * A signature-verification worker (see `verify_pool.ts`): checks envelopes'
 * signatures off the site's main thread.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { type Envelope, verifyEnvelopeSignatures } from "../../sdk/envelope.ts";
import { verifySignatureNative } from "./native_ed25519.ts";

/** One request: a batch of envelopes with their signing payloads; answered as one batch. */
self.onmessage = async (
  e: MessageEvent<Array<{ id: number; envelope: Envelope; payload: Uint8Array }>>,
) => {
  const answers = await Promise.all(e.data.map(async ({ id, envelope, payload }) => ({
    id,
    result: await verifyEnvelopeSignatures(envelope, payload, verifySignatureNative),
  })));
  self.postMessage(answers);
};
