/**
 * The site's own Ed25519 key as a signer: checkpoint lines and peer
 * requests are signed with it many times a second, so it signs natively —
 * `node:crypto` (synchronous; see `native_ed25519.ts`), else WebCrypto —
 * ~10–25× faster than the pure-JS reference, @noble/curves, its fallback. Ed25519
 * signatures are deterministic (RFC 8032 §5.1.6): both paths give the same
 * bytes for the same key and message, which a test checks.
 *
 * @module
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { concatBytes } from "../../sdk/encoding.ts";
import type { KeyPair } from "../../sdk/keys.ts";
import { ED25519_PKCS8_PREFIX, nativeEd25519Signer } from "./native_ed25519.ts";

/** An Ed25519 signer over the site's key. */
export class SiteKey {
  readonly publicKey: Uint8Array;
  readonly #secretKey: Uint8Array;
  readonly #native: CryptoKey | undefined;
  readonly #sync: ((message: Uint8Array) => Uint8Array) | undefined;

  private constructor(
    keyPair: KeyPair,
    native: CryptoKey | undefined,
    sync: ((message: Uint8Array) => Uint8Array) | undefined,
  ) {
    this.publicKey = keyPair.publicKey;
    this.#secretKey = keyPair.secretKey;
    this.#native = native;
    this.#sync = sync;
  }

  /**
   * Wraps an Ed25519 key pair; uses WebCrypto when it can import the key
   * and its signature matches the reference path's on a probe message.
   */
  static async create(keyPair: KeyPair, options: { native?: boolean } = {}): Promise<SiteKey> {
    if (keyPair.algorithm !== "ed25519") {
      throw new TypeError("A site key must be an Ed25519 key");
    }
    let native: CryptoKey | undefined;
    const sync = options.native === false ? undefined : nativeEd25519Signer(keyPair.secretKey);
    if (options.native !== false && sync === undefined) {
      try {
        const key = await crypto.subtle.importKey(
          "pkcs8",
          concatBytes(ED25519_PKCS8_PREFIX, keyPair.secretKey) as Uint8Array<ArrayBuffer>,
          { name: "Ed25519" },
          false,
          ["sign"],
        );
        const probe = new TextEncoder().encode("edgeledger/site-key-probe");
        const got = new Uint8Array(await crypto.subtle.sign("Ed25519", key, probe));
        const want = ed25519.sign(probe, keyPair.secretKey);
        if (got.length === 64 && got.every((b, i) => b === want[i])) native = key;
      } catch {
        // No Ed25519 in this platform's WebCrypto: the reference path signs.
      }
    }
    return new SiteKey(keyPair, native, sync);
  }

  /** Whether signatures are made natively (node:crypto, else WebCrypto). */
  get native(): boolean {
    return this.#sync !== undefined || this.#native !== undefined;
  }

  /** Signs `message` (RFC 8032 Ed25519, 64 bytes). */
  async sign(message: Uint8Array): Promise<Uint8Array> {
    if (this.#sync !== undefined) return this.#sync(message);
    if (this.#native === undefined) return ed25519.sign(message, this.#secretKey);
    return new Uint8Array(await crypto.subtle.sign("Ed25519", this.#native, ownBuffer(message)));
  }
}

/** `bytes` on a plain ArrayBuffer of its own (WebCrypto refuses shared memory). */
function ownBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? bytes as Uint8Array<ArrayBuffer> : bytes.slice();
}
