/**
 * The site's own Ed25519 key as a signer: checkpoint lines and peer
 * requests are signed with it many times a second, so it signs natively
 * with `node:crypto` (synchronous; see `native_ed25519.ts`), ~25× faster
 * than the pure-JS reference, @noble/curves, its fallback. Ed25519
 * signatures are deterministic (RFC 8032 §5.1.6): both paths give the same
 * bytes for the same key and message, which a test checks.
 *
 * @module
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import type { KeyPair } from "../../sdk/keys.ts";
import { signNoteLineWith } from "../../sdk/note.ts";
import { nativeEd25519Signer } from "./native_ed25519.ts";
import type { KeyRotation } from "./key_rotation.ts";

/**
 * An Ed25519 signer over the site's key. One object serves the whole site
 * (checkpoints, peer requests and streams, signed answers), so a key
 * rotation ({@link replace}) takes effect everywhere at once.
 */
export class SiteKey {
  #publicKey: Uint8Array;
  #sign: (message: Uint8Array) => Uint8Array;
  #native: boolean;
  #chain: readonly KeyRotation[] = [];

  private constructor(keyPair: KeyPair, native: ((message: Uint8Array) => Uint8Array) | undefined) {
    this.#publicKey = keyPair.publicKey;
    this.#native = native !== undefined;
    this.#sign = native ?? ((m) => ed25519.sign(m, keyPair.secretKey));
  }

  /** The public key signatures verify against now. */
  get publicKey(): Uint8Array {
    return this.#publicKey;
  }

  /** The rotations that led to this key, oldest first (sent to peers: see `key_rotation.ts`). */
  get chain(): readonly KeyRotation[] {
    return this.#chain;
  }

  /** Sets the chain of rotations that led to the key held now. */
  setChain(chain: readonly KeyRotation[]): void {
    this.#chain = [...chain];
  }

  /** Signs with `keyPair` from now on (a rotation applied), `chain` leading to it. */
  replace(keyPair: KeyPair, chain: readonly KeyRotation[]): void {
    if (keyPair.algorithm !== "ed25519") throw new TypeError("A site key must be an Ed25519 key");
    const native = this.#native ? nativeEd25519Signer(keyPair.secretKey) : undefined;
    this.#sign = native ?? ((m) => ed25519.sign(m, keyPair.secretKey));
    this.#native = native !== undefined;
    this.#publicKey = keyPair.publicKey;
    this.#chain = [...chain];
  }

  /**
   * Wraps an Ed25519 key pair; signs natively unless `native: false` or the
   * platform cannot (or its signature differs from the reference's on a probe).
   */
  static create(keyPair: KeyPair, options: { native?: boolean } = {}): Promise<SiteKey> {
    if (keyPair.algorithm !== "ed25519") {
      return Promise.reject(new TypeError("A site key must be an Ed25519 key"));
    }
    const native = options.native === false ? undefined : nativeEd25519Signer(keyPair.secretKey);
    return Promise.resolve(new SiteKey(keyPair, native));
  }

  /** Whether signatures are made natively. */
  get native(): boolean {
    return this.#native;
  }

  /** Signs `message` (RFC 8032 Ed25519, 64 bytes). */
  sign(message: Uint8Array): Promise<Uint8Array> {
    try {
      return Promise.resolve(this.#sign(message));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** A signed-note signature line over `text` under the key name `name` (see `sdk/note.ts`). */
  noteLine(text: string, name: string): Promise<string> {
    return signNoteLineWith(text, name, this.publicKey, (m) => this.sign(m));
  }
}
