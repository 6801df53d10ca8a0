/**
 * Admission's signature checks on a site that verifies on its own event
 * loop (a cluster's site: its admission has no worker threads, which cost
 * throughput where three sites share two cores), with the slow answers
 * somewhere else.
 *
 * An honest envelope's signatures are answered here by the native fast
 * paths: `node:crypto` for Ed25519 (~30 µs), WebCrypto for P-256. A `true`
 * from them is the reference's answer (see `sdk/signature.ts`). Anything
 * else — a forged or corrupted signature, a key or an encoding the fast
 * paths leave to the reference, every secp256k1 signature — needs the
 * reference implementation (@noble/curves, ~0.5 ms for Ed25519 here, more
 * for the ECDSA curves), and a batch of a thousand of those would hold the
 * event loop, and the site's Raft ticks with it, for half a second or more:
 * long enough for a leader to lose its term. Those envelopes go to a
 * worker thread ({@link SignaturePool}, started on first need), so the
 * event loop only waits for its answer. Should the worker fail, they are
 * checked here as before.
 *
 * @module
 */
import {
  type Envelope,
  type SignatureCheck,
  verifyEnvelopeSignatures,
} from "../../sdk/envelope.ts";
import { decodeDidKey } from "../../sdk/did_key.ts";
import { base64urlDecode, utf8Decode } from "../../sdk/encoding.ts";
import { verifySignatureFastOnly } from "../../sdk/signature.ts";
import { ed25519NativeQuick, verifySignatureNative } from "./native_ed25519.ts";
import { setImmediate } from "node:timers";
import {
  type SignatureJob,
  SignaturePool,
  type SignatureVerdict,
  type VerifySignatures,
} from "./signature_pool.ts";

/**
 * Whether the fast paths accept every signature of `envelope` over
 * `payload`: true is the reference's answer; false means the reference
 * must decide (it may still accept).
 */
export async function fastPathsAccept(envelope: Envelope, payload: Uint8Array): Promise<boolean> {
  const { signers, sigs } = envelope;
  if (!Array.isArray(signers) || !Array.isArray(sigs) || signers.length === 0) return false;
  if (sigs.length !== signers.length) return false;
  for (let i = 0; i < signers.length; i++) {
    let key;
    let sig: Uint8Array;
    try {
      key = decodeDidKey(signers[i]);
      sig = base64urlDecode(sigs[i]);
    } catch {
      return false;
    }
    if (key.algorithm === "ed25519") {
      if (!ed25519NativeQuick(key.publicKey, payload, sig)) return false;
    } else if (key.algorithm === "p256") {
      if ((await verifySignatureFastOnly("p256", key.publicKey, payload, sig)) !== true) {
        return false;
      }
    } else return false;
  }
  return true;
}

/** Options of {@link SignatureChecks}. */
export interface SignatureChecksOptions {
  /** Makes the verifier of the slow answers (default: a {@link SignaturePool} of one worker). */
  makeVerifier?: () => { verify: VerifySignatures; close(): void };
}

/** See the module doc. */
export class SignatureChecks {
  readonly #make: () => { verify: VerifySignatures; close(): void };
  #verifier: { verify: VerifySignatures; close(): void } | undefined;
  #verifierFailed = false;
  #closed = false;
  /** Envelopes the fast paths did not accept, sent to the worker (or, failing it, checked here). */
  slowChecks = 0;

  constructor(options: SignatureChecksOptions = {}) {
    this.#make = options.makeVerifier ?? (() => new SignaturePool(1));
  }

  /** `envelope`'s signatures over `payload` (its signing payload), as the reference judges them. */
  async check(envelope: Envelope, payload: Uint8Array): Promise<SignatureCheck> {
    if (await fastPathsAccept(envelope, payload)) return { ok: true };
    this.slowChecks++;
    const verifier = this.#slowVerifier();
    if (verifier !== undefined) {
      try {
        const verdict = await this.#queued(verifier, {
          payload: utf8Decode(payload),
          signers: envelope.signers,
          sigs: envelope.sigs,
        });
        return verdict.ok ? { ok: true } : {
          ok: false,
          index: verdict.index ?? 0,
          reason: verdict.reason ?? "A signature does not verify",
        };
      } catch {
        // The worker failed (or was closed): from now on, here.
        this.#verifierFailed = true;
      }
    }
    return await verifyEnvelopeSignatures(envelope, payload, verifySignatureNative);
  }

  /** Jobs waiting for the next message to the worker, with their callers. */
  #batch: Array<{
    job: SignatureJob;
    resolve: (v: SignatureVerdict) => void;
    reject: (e: unknown) => void;
  }> = [];

  /**
   * `job`'s verdict from `verifier`, sent with the other jobs made in the
   * same turn of the event loop as one message (a batch's envelopes, one
   * message for all of them rather than one each).
   */
  #queued(verifier: { verify: VerifySignatures }, job: SignatureJob): Promise<SignatureVerdict> {
    return new Promise((resolve, reject) => {
      if (this.#batch.length === 0) {
        setImmediate(() => {
          const batch = this.#batch;
          this.#batch = [];
          verifier.verify(batch.map((b) => b.job)).then(
            (verdicts) => batch.forEach((b, i) => b.resolve(verdicts[i])),
            (e) => batch.forEach((b) => b.reject(e)),
          );
        });
      }
      this.#batch.push({ job, resolve, reject });
    });
  }

  #slowVerifier(): { verify: VerifySignatures } | undefined {
    if (this.#closed || this.#verifierFailed) return undefined;
    try {
      this.#verifier ??= this.#make();
    } catch {
      this.#verifierFailed = true;
      return undefined;
    }
    return this.#verifier;
  }

  /** Stops the worker, if one was started; later checks run here. */
  close(): void {
    this.#closed = true;
    this.#verifier?.close();
    this.#verifier = undefined;
  }
}
