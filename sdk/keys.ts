/**
 * Key pairs, signers and key import/export (DESIGN §2, §7).
 *
 * A {@link Signer} is all the envelope code needs: a did:key and an async
 * `sign`. Software keys use {@link softwareSigner}; keys that live in a
 * Secure Enclave, Android Keystore or a SIM applet (GSMA IoT SAFE) use
 * {@link hardwareSigner}, which converts their DER ECDSA output to the
 * protocol's 64-byte P1363 `r||s`.
 *
 * @module
 */

import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { type Algorithm, ALGORITHMS, decodeDidKey, encodeDidKey } from "./did_key.ts";
import { base64urlDecode, base64urlEncode, bytesEqual, concatBytes } from "./encoding.ts";

/**
 * Something that signs protocol payloads for one did:key.
 *
 * Contract of `sign(message)`: returns the signature over the exact bytes of
 * `message` — Ed25519: 64-byte pure Ed25519 (RFC 8032, no prehash); P-256 and
 * secp256k1: 64-byte IEEE P1363 `r||s` of ECDSA over SHA-256(message) (the
 * signer hashes; callers pass the message, not a digest). Low-S or high-S are
 * both fine.
 */
export interface Signer {
  /** The signer's identity; its algorithm must equal `algorithm`. */
  readonly did: string;
  /** The signature algorithm. */
  readonly algorithm: Algorithm;
  /** Signs `message` as described on {@link Signer}. */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/**
 * A software key pair. `secretKey` is 32 bytes for every algorithm (the
 * Ed25519 seed, or the ECDSA scalar big-endian); `publicKey` is 32 bytes
 * (Ed25519) or 33-byte compressed SEC1 (ECDSA).
 */
export interface KeyPair {
  /** The signature algorithm. */
  algorithm: Algorithm;
  /** 32-byte secret key (Ed25519 seed or big-endian ECDSA scalar). */
  secretKey: Uint8Array;
  /** Public key: 32 bytes (Ed25519) or 33 bytes compressed (ECDSA). */
  publicKey: Uint8Array;
  /** The did:key of `publicKey`. */
  did: string;
}

/** Thrown for malformed keys, JWKs and DER signatures. */
export class KeyError extends Error {
  /** Creates a key error with a sentence-case message. */
  constructor(message: string) {
    super(message);
    this.name = "KeyError";
  }
}

function assertAlgorithm(algorithm: unknown): asserts algorithm is Algorithm {
  if (!ALGORITHMS.includes(algorithm as Algorithm)) {
    throw new KeyError(`Cannot use key: unknown algorithm ${String(algorithm)}`);
  }
}

function publicKeyOf(algorithm: Algorithm, secretKey: Uint8Array): Uint8Array {
  switch (algorithm) {
    case "ed25519":
      return ed25519.getPublicKey(secretKey);
    case "p256":
      return p256.getPublicKey(secretKey, true);
    case "secp256k1":
      return secp256k1.getPublicKey(secretKey, true);
  }
}

/**
 * Generates a fresh key pair from the platform CSPRNG
 * (`crypto.getRandomValues`).
 *
 * @example
 * ```ts
 * const kp = generateKeyPair();        // Ed25519
 * const hw = generateKeyPair("p256");  // P-256, did:key:zDn...
 * ```
 */
export function generateKeyPair(algorithm: Algorithm = "ed25519"): KeyPair {
  assertAlgorithm(algorithm);
  const secretKey = algorithm === "ed25519"
    ? ed25519.utils.randomSecretKey()
    : algorithm === "p256"
    ? p256.utils.randomSecretKey()
    : secp256k1.utils.randomSecretKey();
  return keyPairFromSecret(algorithm, secretKey);
}

/**
 * Rebuilds a key pair from a 32-byte secret key. Throws {@link KeyError} if
 * the length is wrong or (ECDSA) the scalar is 0 or ≥ the curve order.
 *
 * @example
 * ```ts
 * keyPairFromSecret("ed25519", new Uint8Array(32)).did; // "did:key:z6Mk..."
 * ```
 */
export function keyPairFromSecret(algorithm: Algorithm, secretKey: Uint8Array): KeyPair {
  assertAlgorithm(algorithm);
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new KeyError("Cannot use secret key: expected 32 bytes");
  }
  let publicKey: Uint8Array;
  try {
    publicKey = publicKeyOf(algorithm, secretKey);
  } catch (e) {
    throw new KeyError(`Cannot use ${algorithm} secret key: ${(e as Error).message}`);
  }
  return {
    algorithm,
    secretKey: secretKey.slice(),
    publicKey,
    did: encodeDidKey(algorithm, publicKey),
  };
}

/**
 * Signs `message` with a software key, synchronously (the same output as
 * {@link softwareSigner}). ECDSA signatures are deterministic (RFC 6979),
 * low-S, P1363 `r||s` over SHA-256(message).
 *
 * @example
 * ```ts
 * const sig = signSync(kp, utf8Encode("hi")); // 64 bytes
 * ```
 */
export function signSync(keyPair: KeyPair, message: Uint8Array): Uint8Array {
  switch (keyPair.algorithm) {
    case "ed25519":
      return ed25519.sign(message, keyPair.secretKey);
    case "p256":
      return p256.sign(message, keyPair.secretKey, { prehash: true, format: "compact" });
    case "secp256k1":
      return secp256k1.sign(message, keyPair.secretKey, { prehash: true, format: "compact" });
    default:
      throw new KeyError(`Cannot sign: unknown algorithm ${String(keyPair.algorithm)}`);
  }
}

/**
 * Wraps a software key pair as a {@link Signer}.
 *
 * @example
 * ```ts
 * const signer = softwareSigner(generateKeyPair());
 * const sig = await signer.sign(payload);
 * ```
 */
export function softwareSigner(keyPair: KeyPair): Signer {
  assertAlgorithm(keyPair.algorithm);
  const kp: KeyPair = { ...keyPair, secretKey: keyPair.secretKey.slice() };
  return {
    did: kp.did,
    algorithm: kp.algorithm,
    sign: (message: Uint8Array) => Promise.resolve(signSync(kp, message)),
  };
}

/**
 * Converts a strict DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`
 * (as emitted by Secure Enclave, Android Keystore, SIM applets, OpenSSL) to
 * the 64-byte P1363 `r||s` for 256-bit curves.
 *
 * Strict DER only: short-form lengths, minimal positive INTEGERs (no
 * superfluous 0x00, no negative values), 1 ≤ r, s < 2^256, and no trailing
 * bytes. Throws {@link KeyError} otherwise.
 *
 * @example
 * ```ts
 * derToP1363(der).length; // 64
 * ```
 */
export function derToP1363(der: Uint8Array): Uint8Array {
  if (!(der instanceof Uint8Array)) throw new KeyError("Cannot parse DER signature: not bytes");
  const fail = (why: string): never => {
    throw new KeyError(`Cannot parse DER signature: ${why}`);
  };
  if (der.length < 8 || der.length > 72) fail(`length ${der.length} out of range 8..72`);
  if (der[0] !== 0x30) fail("not a SEQUENCE");
  if (der[1] !== der.length - 2) fail("SEQUENCE length does not match");
  let offset = 2;
  const readInteger = (): Uint8Array => {
    if (offset + 2 > der.length) fail("truncated INTEGER");
    if (der[offset] !== 0x02) fail("expected INTEGER");
    const len = der[offset + 1];
    offset += 2;
    if (len === 0 || len > 33 || offset + len > der.length) fail("bad INTEGER length");
    const value = der.subarray(offset, offset + len);
    offset += len;
    if (value[0] & 0x80) fail("negative INTEGER");
    if (len > 1 && value[0] === 0 && (value[1] & 0x80) === 0) fail("non-minimal INTEGER");
    const stripped = value[0] === 0 ? value.subarray(1) : value;
    if (stripped.length > 32) fail("INTEGER larger than 256 bits");
    if (stripped.every((b) => b === 0)) fail("INTEGER is zero");
    const out = new Uint8Array(32);
    out.set(stripped, 32 - stripped.length);
    return out;
  };
  const r = readInteger();
  const s = readInteger();
  if (offset !== der.length) fail("trailing bytes");
  return concatBytes(r, s);
}

/**
 * Adapts a hardware key to a {@link Signer}. For P-256 and secp256k1,
 * `signDer(message)` must return a DER ECDSA signature over SHA-256(message)
 * (the hardware hashes; e.g. iOS `.ecdsaSignatureMessageX962SHA256`, Android
 * `SHA256withECDSA`), which is converted with {@link derToP1363}. For Ed25519,
 * `signDer` must return the raw 64-byte signature. Throws {@link KeyError} at
 * construction if `did` is not a did:key of `algorithm`, and from `sign` if
 * `signDer`'s answer is not strict DER (an answer that is already the 64-byte
 * P1363 `r||s`, as WebCrypto's `crypto.subtle.sign` gives, needs no adapter:
 * implement {@link Signer} directly).
 *
 * @example
 * ```ts
 * const signer = hardwareSigner({ did, algorithm: "p256", signDer: (m) => enclave.sign(m) });
 * ```
 */
export function hardwareSigner(options: {
  did: string;
  algorithm: Algorithm;
  signDer: (message: Uint8Array) => Promise<Uint8Array>;
}): Signer {
  const { did, algorithm, signDer } = options;
  assertAlgorithm(algorithm);
  let decoded;
  try {
    decoded = decodeDidKey(did);
  } catch (e) {
    throw new KeyError(`Cannot use hardware signer: ${(e as Error).message}`);
  }
  if (decoded.algorithm !== algorithm) {
    throw new KeyError(
      `Cannot use hardware signer: ${did} is a ${decoded.algorithm} key, not ${algorithm}`,
    );
  }
  return {
    did,
    algorithm,
    async sign(message: Uint8Array): Promise<Uint8Array> {
      const out = await signDer(message);
      if (algorithm === "ed25519") {
        if (!(out instanceof Uint8Array) || out.length !== 64) {
          throw new KeyError("Cannot sign: hardware Ed25519 signature is not 64 bytes");
        }
        return out;
      }
      try {
        return derToP1363(out);
      } catch (e) {
        // WebCrypto and some SDKs already answer the 64-byte r||s: say so,
        // rather than only that it is not DER.
        if (out instanceof Uint8Array && out.length === 64) {
          throw new KeyError(
            `${(e as Error).message}; the hardware returned 64 bytes, which looks like a ` +
              "P1363 r||s signature already (as WebCrypto answers): give it to the SDK as a " +
              "Signer whose sign() returns it unchanged, not through hardwareSigner",
          );
        }
        throw e;
      }
    },
  };
}

/**
 * A private JSON Web Key as produced by {@link exportKey}:
 * - Ed25519 (RFC 8037): `{ kty: "OKP", crv: "Ed25519", x, d }` — `x` the
 *   32-byte public key, `d` the 32-byte seed;
 * - P-256 (RFC 7518 §6.2): `{ kty: "EC", crv: "P-256", x, y, d }`;
 * - secp256k1 (RFC 8812): `{ kty: "EC", crv: "secp256k1", x, y, d }` —
 *   `x`, `y` the 32-byte big-endian affine coordinates, `d` the scalar.
 * All members are base64url without padding. `kid` is the did:key.
 */
export interface PrivateJwk {
  /** Key type: "OKP" (Ed25519) or "EC". */
  kty: "OKP" | "EC";
  /** Curve: "Ed25519", "P-256" or "secp256k1". */
  crv: "Ed25519" | "P-256" | "secp256k1";
  /** Public key (OKP) or affine x (EC), base64url. */
  x: string;
  /** Affine y (EC only), base64url. */
  y?: string;
  /** Secret key, base64url. */
  d: string;
  /** The key's did:key (informational; checked on import when present). */
  kid?: string;
}

const CRV: Record<Algorithm, PrivateJwk["crv"]> = {
  ed25519: "Ed25519",
  p256: "P-256",
  secp256k1: "secp256k1",
};

/**
 * Exports a key pair as a private JWK (format on {@link PrivateJwk}). The
 * result contains the secret key: store it like a password.
 *
 * @example
 * ```ts
 * exportKey(generateKeyPair()); // { kty: "OKP", crv: "Ed25519", x: "...", d: "...", kid: "did:key:..." }
 * ```
 */
export function exportKey(keyPair: KeyPair): PrivateJwk {
  assertAlgorithm(keyPair.algorithm);
  const d = base64urlEncode(keyPair.secretKey);
  if (keyPair.algorithm === "ed25519") {
    return {
      kty: "OKP",
      crv: "Ed25519",
      x: base64urlEncode(keyPair.publicKey),
      d,
      kid: keyPair.did,
    };
  }
  const curve = keyPair.algorithm === "p256" ? p256 : secp256k1;
  const raw = curve.Point.fromBytes(keyPair.publicKey).toBytes(false);
  return {
    kty: "EC",
    crv: CRV[keyPair.algorithm],
    x: base64urlEncode(raw.subarray(1, 33)),
    y: base64urlEncode(raw.subarray(33, 65)),
    d,
    kid: keyPair.did,
  };
}

/**
 * Imports a private JWK (format on {@link PrivateJwk}). The public members
 * must match the key derived from `d`, and `kid`, when present, must be the
 * key's did:key. Throws {@link KeyError} otherwise.
 *
 * @example
 * ```ts
 * importKey({ kty: "OKP", crv: "Ed25519", x, d }).algorithm; // "ed25519"
 * ```
 */
export function importKey(jwk: unknown): KeyPair {
  if (typeof jwk !== "object" || jwk === null) {
    throw new KeyError("Cannot import JWK: not an object");
  }
  const j = jwk as Record<string, unknown>;
  const algorithm = (Object.keys(CRV) as Algorithm[]).find((a) => CRV[a] === j.crv);
  if (algorithm === undefined) {
    throw new KeyError(`Cannot import JWK: unsupported crv ${String(j.crv)}`);
  }
  const wantKty = algorithm === "ed25519" ? "OKP" : "EC";
  if (j.kty !== wantKty) throw new KeyError(`Cannot import JWK: kty must be ${wantKty}`);
  const field = (name: string): Uint8Array => {
    const v = j[name];
    if (typeof v !== "string") throw new KeyError(`Cannot import JWK: missing "${name}"`);
    try {
      const b = base64urlDecode(v);
      if (b.length !== 32) throw new Error("not 32 bytes");
      return b;
    } catch (e) {
      throw new KeyError(`Cannot import JWK: "${name}" ${(e as Error).message}`);
    }
  };
  const kp = keyPairFromSecret(algorithm, field("d"));
  let publicKey: Uint8Array;
  if (algorithm === "ed25519") {
    publicKey = field("x");
  } else {
    publicKey = concatBytes(new Uint8Array([0x04]), field("x"), field("y"));
    const curve = algorithm === "p256" ? p256 : secp256k1;
    try {
      publicKey = curve.Point.fromBytes(publicKey).toBytes(true);
    } catch {
      throw new KeyError("Cannot import JWK: public point not on the curve");
    }
  }
  if (!bytesEqual(publicKey, kp.publicKey)) {
    throw new KeyError("Cannot import JWK: public key does not match the secret key");
  }
  if (j.kid !== undefined && j.kid !== kp.did) {
    throw new KeyError("Cannot import JWK: kid is not the key's did:key");
  }
  return kp;
}
