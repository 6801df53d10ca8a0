/**
 * Signature verification, the one judgment every site must make alike
 * (DESIGN §2).
 *
 * The REFERENCE path ({@link verifySignatureReference}) is @noble/curves:
 * - Ed25519: strict RFC 8032 (`zip215: false`): A and R must be canonical
 *   encodings (y < p, no "negative zero" x), S < L, A must not be of small
 *   order, and the cofactored equation [8][S]B = [8]R + [8][k]A must hold.
 * - P-256 / secp256k1: ECDSA over SHA-256(message), signature 64-byte P1363
 *   `r||s` with 1 ≤ r, s < n, low-S and high-S both accepted, public key
 *   compressed (33) or uncompressed (65) SEC1.
 *
 * {@link verifySignature} adds WebCrypto fast paths for Ed25519 and P-256
 * whose answer provably equals the reference answer:
 *
 *   result = reference(x)                      if the pre-checks fail,
 *   result = fast(x) || reference(x)           otherwise.
 *
 * `fast || reference` equals `reference` exactly when `fast(x) ⇒ reference(x)`.
 * For Ed25519 the pre-checks establish: A is canonical and not of small order
 * (checked once per key with noble and cached), R is canonical, S < L. Under
 * those, any RFC 8032 verifier decodes A and R to the same points as the
 * reference, computes the same k = SHA-512(R‖A‖M) mod L from the same bytes,
 * and checks either [S]B = R + [k]A (cofactorless) or the cofactored
 * equation. The cofactorless equation implies the cofactored one (multiply
 * both sides by 8), so a `true` from the fast path is a `true` from the
 * reference; a `false` from the fast path is never trusted (we then ask the
 * reference). For P-256 ECDSA there is a single verification equation; the
 * pre-checks establish 1 ≤ r, s < n (so no implementation can reduce an
 * out-of-range scalar into a valid one), and the fast path is again only
 * trusted when it says `true`.
 *
 * @module
 */

import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import type { Algorithm } from "./did_key.ts";
import { hexEncode } from "./encoding.ts";

/** Ed25519 field prime p = 2^255 − 19. */
const ED25519_P = (1n << 255n) - 19n;
/** Ed25519 group order L = 2^252 + 27742317777372353535851937790883648493. */
const ED25519_L = (1n << 252n) + 27742317777372353535851937790883648493n;

/** P-256 group order n. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** Maximum number of imported WebCrypto keys kept per algorithm. */
export const VERIFY_KEY_CACHE_ENTRIES_MAX = 1024;

function isBytes(x: unknown): x is Uint8Array {
  return x instanceof Uint8Array;
}

/**
 * Verifies a signature with the @noble/curves reference implementation only
 * (synchronous). Rules per algorithm are in the module doc. Never throws:
 * returns false for any malformed input (wrong types or lengths, unknown
 * algorithm, off-curve keys, DER instead of P1363).
 *
 * @example
 * ```ts
 * verifySignatureReference("ed25519", kp.publicKey, msg, sig); // true
 * ```
 */
export function verifySignatureReference(
  alg: Algorithm,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    if (!isBytes(publicKey) || !isBytes(message) || !isBytes(signature)) return false;
    if (signature.length !== 64) return false;
    switch (alg) {
      case "ed25519":
        if (publicKey.length !== 32) return false;
        return ed25519.verify(signature, message, publicKey, { zip215: false });
      case "p256":
      case "secp256k1": {
        if (publicKey.length !== 33 && publicKey.length !== 65) return false;
        const curve = alg === "p256" ? p256 : secp256k1;
        return curve.verify(signature, message, publicKey, {
          prehash: true,
          lowS: false,
          format: "compact",
        });
      }
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** A small LRU: a Map iterates in insertion order, so the first key is the oldest. */
class Lru<V> {
  readonly #map = new Map<string, V>();
  constructor(readonly entriesMax: number) {}
  get(key: string): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.entriesMax) {
      this.#map.delete(this.#map.keys().next().value!);
    }
  }
  get size(): number {
    return this.#map.size;
  }
  clear(): void {
    this.#map.clear();
  }
}

/** A cached public key: null when the key fails the pre-checks or import. */
type CachedKey = Promise<CryptoKey | null>;
const ed25519Keys = new Lru<CachedKey>(VERIFY_KEY_CACHE_ENTRIES_MAX);
const p256Keys = new Lru<CachedKey>(VERIFY_KEY_CACHE_ENTRIES_MAX);

function subtle(): SubtleCrypto | undefined {
  return (globalThis as { crypto?: Crypto }).crypto?.subtle;
}

let ed25519Probe: Promise<boolean> | undefined;
let p256Probe: Promise<boolean> | undefined;
let fastPathsEnabled = true;

/** Resolves true iff WebCrypto verifies Ed25519 and accepts a known-good signature. */
function ed25519FastAvailable(): Promise<boolean> {
  ed25519Probe ??= (async () => {
    const s = subtle();
    if (!s) return false;
    try {
      // A known-good signature made by the reference, and a known-bad one.
      const sk = new Uint8Array(32).fill(7);
      const msg = new Uint8Array([1, 2, 3]);
      const sig = ed25519.sign(msg, sk);
      const key = await s.importKey("raw", buf(ed25519.getPublicKey(sk)), "Ed25519", false, [
        "verify",
      ]);
      const good = await s.verify("Ed25519", key, buf(sig), buf(msg));
      const bad = await s.verify("Ed25519", key, buf(sig), buf(new Uint8Array([1, 2, 4])));
      return good === true && bad === false;
    } catch {
      return false;
    }
  })();
  return ed25519Probe;
}

/** Resolves true iff WebCrypto verifies ECDSA P-256. */
function p256FastAvailable(): Promise<boolean> {
  p256Probe ??= (async () => {
    const s = subtle();
    if (!s) return false;
    try {
      const sk = new Uint8Array(32).fill(7);
      const pk = p256.getPublicKey(sk, false);
      const msg = new Uint8Array([1, 2, 3]);
      const sig = p256.sign(msg, sk);
      const key = await s.importKey("raw", buf(pk), { name: "ECDSA", namedCurve: "P-256" }, false, [
        "verify",
      ]);
      const alg = { name: "ECDSA", hash: "SHA-256" };
      const good = await s.verify(alg, key, buf(sig), buf(msg));
      const bad = await s.verify(alg, key, buf(sig), buf(new Uint8Array([1, 2, 4])));
      return good === true && bad === false;
    } catch {
      return false;
    }
  })();
  return p256Probe;
}

/** WebCrypto wants an ArrayBuffer-backed view; our inputs may be any view. */
function buf(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return b.buffer instanceof ArrayBuffer ? b as Uint8Array<ArrayBuffer> : new Uint8Array(b);
}

/** Little-endian bytes of a 256-bit number. */
function le32(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}
const P_LE = le32(ED25519_P);
const P_MINUS_1_LE = le32(ED25519_P - 1n);
const ONE_LE = le32(1n);
const L_LE = le32(ED25519_L);

/**
 * Compares two 32-byte little-endian numbers, ignoring bit 255 of `a` (the
 * sign bit of a point encoding) when `maskTop`. Returns −1, 0 or 1. Byte
 * compares instead of bigints: this runs on every fast-path verification.
 */
function compareLE(a: Uint8Array, b: Uint8Array, maskTop: boolean): number {
  for (let i = 31; i >= 0; i--) {
    const x = i === 31 && maskTop ? a[i] & 0x7f : a[i];
    if (x !== b[i]) return x < b[i] ? -1 : 1;
  }
  return 0;
}

/**
 * True iff `enc` is a canonical Ed25519 point encoding as far as cheap byte
 * checks go: y < p, and not the "negative zero" x (sign bit set while y = ±1,
 * where x = 0). Whether y is on the curve at all is left to the verifiers.
 */
export function isCanonicalEd25519Encoding(enc: Uint8Array): boolean {
  if (!(enc instanceof Uint8Array) || enc.length !== 32) return false;
  if (compareLE(enc, P_LE, true) >= 0) return false;
  const sign = (enc[31] & 0x80) !== 0;
  if (sign && (compareLE(enc, ONE_LE, true) === 0 || compareLE(enc, P_MINUS_1_LE, true) === 0)) {
    return false;
  }
  return true;
}

/** True iff the 32-byte little-endian scalar is < L. */
function isReducedScalar(s: Uint8Array): boolean {
  return compareLE(s, L_LE, false) < 0;
}

function bytesToBigIntBE(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = 0; i < b.length; i++) n = (n << 8n) | BigInt(b[i]);
  return n;
}

/**
 * True iff both halves of a P1363 `r||s` are in [1, n−1], as the reference
 * requires; a WebCrypto implementation that reduced them mod n would
 * otherwise accept a second encoding of a valid signature.
 */
function isP256ScalarPairInRange(signature: Uint8Array): boolean {
  const r = bytesToBigIntBE(signature.subarray(0, 32));
  const s = bytesToBigIntBE(signature.subarray(32, 64));
  return r > 0n && r < P256_N && s > 0n && s < P256_N;
}

/**
 * The reference's key-level rules, checked once per key: canonical encoding,
 * on the curve, not of small order. A key that fails them verifies no
 * signature here, so a record that names one (a site key) names a key that
 * can never sign.
 */
export function isStrictEd25519Key(publicKey: Uint8Array): boolean {
  try {
    return !ed25519.Point.fromBytes(publicKey, false).isSmallOrder();
  } catch {
    return false;
  }
}

function ed25519Key(publicKey: Uint8Array): CachedKey {
  const id = hexEncode(publicKey);
  let entry = ed25519Keys.get(id);
  if (entry === undefined) {
    const raw = publicKey.slice();
    entry = (async () => {
      if (!isStrictEd25519Key(raw)) return null;
      try {
        return await subtle()!.importKey("raw", raw, "Ed25519", false, ["verify"]);
      } catch {
        return null;
      }
    })();
    ed25519Keys.set(id, entry);
  }
  return entry;
}

function p256Key(publicKey: Uint8Array): CachedKey {
  const id = hexEncode(publicKey);
  let entry = p256Keys.get(id);
  if (entry === undefined) {
    const raw = publicKey.slice();
    entry = (async () => {
      let uncompressed: Uint8Array<ArrayBuffer>;
      try {
        uncompressed = buf(p256.Point.fromBytes(raw).toBytes(false));
      } catch {
        return null;
      }
      try {
        return await subtle()!.importKey(
          "raw",
          uncompressed,
          { name: "ECDSA", namedCurve: "P-256" },
          false,
          ["verify"],
        );
      } catch {
        return null;
      }
    })();
    p256Keys.set(id, entry);
  }
  return entry;
}

/** Keys that passed (true) or failed (false) the reference's key-level rules. */
const strictEd25519Keys = new Lru<boolean>(VERIFY_KEY_CACHE_ENTRIES_MAX);

/**
 * Ed25519 verification with a caller's synchronous native verifier (a
 * server's `node:crypto`, say) under the same guards as the WebCrypto fast
 * path, so the answer is the reference's exactly (module doc): the native
 * verdict is consulted only for a canonical R, S < L and a strict key, and
 * only trusted when it says `true`. Never throws.
 *
 * @example
 * ```ts
 * verifyEd25519With((pk, m, s) => nodeVerify(pk, m, s), publicKey, message, sig); // true
 * ```
 */
export function verifyEd25519With(
  native: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    // The reference refuses malformed input itself (false, never a throw).
    return ed25519NativeAccepts(native, publicKey, message, signature) ||
      verifySignatureReference("ed25519", publicKey, message, signature);
  } catch {
    return false;
  }
}

/**
 * The first half of {@link verifyEd25519With}: true when `native` accepts
 * the signature under the guards that make its yes the reference's (a
 * canonical R, S < L, a strict key); false when it does not or the guards
 * send the signature to the reference. So true is the reference's answer,
 * and false means "ask the reference" — which a server may do elsewhere
 * (off its event loop), since only forged or unusual signatures get there.
 * Never throws.
 *
 * @example
 * ```ts
 * ed25519NativeAccepts((pk, m, s) => nodeVerify(pk, m, s), publicKey, message, sig); // true
 * ```
 */
export function ed25519NativeAccepts(
  native: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    if (!isBytes(publicKey) || !isBytes(message) || !isBytes(signature)) return false;
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    if (!isCanonicalEd25519Encoding(signature.subarray(0, 32))) return false;
    if (!isReducedScalar(signature.subarray(32))) return false;
    const id = hexEncode(publicKey);
    let strict = strictEd25519Keys.get(id);
    if (strict === undefined) {
      strict = isStrictEd25519Key(publicKey);
      strictEd25519Keys.set(id, strict);
    }
    if (!strict) return false;
    return native(publicKey, message, signature) === true;
  } catch {
    return false;
  }
}

/** Ed25519 through WebCrypto, guarded as described in the module doc. */
async function verifyEd25519Fast(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const reference = () => verifySignatureReference("ed25519", publicKey, message, signature);
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  if (!isCanonicalEd25519Encoding(signature.subarray(0, 32))) return reference();
  if (!isReducedScalar(signature.subarray(32))) return reference();
  const key = await ed25519Key(publicKey);
  if (key === null) return reference();
  let fast = false;
  try {
    fast = await subtle()!.verify("Ed25519", key, buf(signature), buf(message));
  } catch {
    fast = false;
  }
  return fast || reference();
}

/** P-256 through WebCrypto; trusted only when it says true. */
async function verifyP256Fast(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const reference = () => verifySignatureReference("p256", publicKey, message, signature);
  if ((publicKey.length !== 33 && publicKey.length !== 65) || signature.length !== 64) return false;
  if (!isP256ScalarPairInRange(signature)) return reference();
  const key = await p256Key(publicKey);
  if (key === null) return reference();
  let fast = false;
  try {
    fast = await subtle()!.verify(
      { name: "ECDSA", hash: "SHA-256" },
      key,
      buf(signature),
      buf(message),
    );
  } catch {
    fast = false;
  }
  return fast || reference();
}

/**
 * Verifies `signature` over `message` by `publicKey` (DESIGN §2). The answer
 * is always the reference answer ({@link verifySignatureReference}); WebCrypto
 * is used to reach a `true` faster when the platform has it (module doc
 * explains why that cannot change the answer). Never throws and never
 * rejects: false for any malformed input.
 *
 * - `ed25519`: 32-byte public key, 64-byte RFC 8032 signature.
 * - `p256`, `secp256k1`: 33- or 65-byte SEC1 public key, 64-byte P1363
 *   `r||s` over SHA-256(message); high-S accepted.
 *
 * @example
 * ```ts
 * await verifySignature("p256", kp.publicKey, payload, sig); // true
 * ```
 */
export async function verifySignature(
  alg: Algorithm,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  try {
    if (!isBytes(publicKey) || !isBytes(message) || !isBytes(signature)) return false;
    if (fastPathsEnabled) {
      // Snapshot the inputs: the fast path awaits, and a caller mutating its
      // buffers meanwhile must not get a verdict mixing two inputs.
      publicKey = publicKey.slice();
      message = message.slice();
      signature = signature.slice();
      if (alg === "ed25519" && await ed25519FastAvailable()) {
        return await verifyEd25519Fast(publicKey, message, signature);
      }
      if (alg === "p256" && await p256FastAvailable()) {
        return await verifyP256Fast(publicKey, message, signature);
      }
    }
    return verifySignatureReference(alg, publicKey, message, signature);
  } catch {
    return false;
  }
}

/**
 * Runs only the WebCrypto fast path for Ed25519 or P-256, with no reference
 * fallback: resolves true/false as WebCrypto judges, or null when WebCrypto
 * lacks the algorithm, the key fails the pre-checks, or the inputs fail the
 * cheap canonical-encoding checks. For tests and benchmarks only; production
 * code calls {@link verifySignature}.
 *
 * @example
 * ```ts
 * await verifySignatureFastOnly("ed25519", pk, msg, sig); // true | false | null
 * ```
 */
export async function verifySignatureFastOnly(
  alg: "ed25519" | "p256",
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean | null> {
  if (signature.length !== 64) return null;
  try {
    if (alg === "ed25519") {
      if (!await ed25519FastAvailable() || publicKey.length !== 32) return null;
      if (!isCanonicalEd25519Encoding(signature.subarray(0, 32))) return null;
      if (!isReducedScalar(signature.subarray(32))) return null;
      const key = await ed25519Key(publicKey);
      if (key === null) return null;
      return await subtle()!.verify("Ed25519", key, buf(signature), buf(message));
    }
    if (!await p256FastAvailable() || !isP256ScalarPairInRange(signature)) return null;
    const key = await p256Key(publicKey);
    if (key === null) return null;
    return await subtle()!.verify(
      { name: "ECDSA", hash: "SHA-256" },
      key,
      buf(signature),
      buf(message),
    );
  } catch {
    return null;
  }
}

/**
 * Reports which WebCrypto fast paths this platform offers.
 *
 * @example
 * ```ts
 * await fastPathSupport(); // { ed25519: true, p256: true } in Deno and Node 20+
 * ```
 */
export async function fastPathSupport(): Promise<{ ed25519: boolean; p256: boolean }> {
  return { ed25519: await ed25519FastAvailable(), p256: await p256FastAvailable() };
}

/**
 * Turns the WebCrypto fast paths on or off process-wide (on by default), and
 * empties the key caches. For benchmarks and tests; the verdicts are the same
 * either way.
 *
 * @example
 * ```ts
 * setFastPathsEnabled(false); // reference only
 * ```
 */
export function setFastPathsEnabled(enabled: boolean): void {
  fastPathsEnabled = enabled;
  ed25519Keys.clear();
  p256Keys.clear();
}

/**
 * Number of public keys currently cached per fast path; each is at most
 * {@link VERIFY_KEY_CACHE_ENTRIES_MAX}. For metrics and tests.
 *
 * @example
 * ```ts
 * verifyKeyCacheEntries(); // { ed25519: 12, p256: 3 }
 * ```
 */
export function verifyKeyCacheEntries(): { ed25519: number; p256: number } {
  return { ed25519: ed25519Keys.size, p256: p256Keys.size };
}
