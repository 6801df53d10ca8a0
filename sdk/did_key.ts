/**
 * `did:key` identities (W3C CCG did:key method) for the three signature
 * algorithms of the protocol (DESIGN §2).
 *
 * A did:key is `"did:key:"` + multibase base58btc (prefix `z`) of
 * `varint(multicodec) || publicKey`, with the multicodec table entries
 * ed25519-pub = 0xed, p256-pub = 0x1200 and secp256k1-pub = 0xe7. ECDSA keys
 * are carried in 33-byte compressed SEC1 form, so each key has exactly one
 * did:key spelling; that matters because signer identities are compared as
 * strings (stream ownership, revocation).
 *
 * @module
 */

import { base58 } from "@scure/base";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { concatBytes } from "./encoding.ts";

/** A signature algorithm of the protocol. */
export type Algorithm = "ed25519" | "p256" | "secp256k1";

/**
 * Every {@link Algorithm}, Ed25519 (the default for software keys) first.
 *
 * @example
 * ```ts
 * ALGORITHMS.includes("p256"); // true
 * ```
 */
export const ALGORITHMS: readonly Algorithm[] = Object.freeze(["ed25519", "p256", "secp256k1"]);

/** Multicodec code of each algorithm's public key (multicodec table). */
export const MULTICODEC: Readonly<Record<Algorithm, number>> = Object.freeze({
  ed25519: 0xed,
  p256: 0x1200,
  secp256k1: 0xe7,
});

/** Length in bytes of the public key inside a did:key, per algorithm. */
export const DID_KEY_PUBLIC_KEY_BYTES: Readonly<Record<Algorithm, number>> = Object.freeze({
  ed25519: 32,
  p256: 33,
  secp256k1: 33,
});

/** Longest did:key string accepted by {@link decodeDidKey} (ours are ≤ 60). */
export const DID_KEY_CHARS_MAX = 128;

const DID_KEY_PREFIX = "did:key:";

/**
 * Thrown by {@link decodeDidKey} and {@link encodeDidKey} when a did:key or a
 * public key is malformed; the message says which rule was broken.
 */
export class DidKeyError extends Error {
  /** Creates a did:key error with a sentence-case message. */
  constructor(message: string) {
    super(message);
    this.name = "DidKeyError";
  }
}

/** Encodes an unsigned integer < 2^21 as an unsigned LEB128 varint. */
function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return new Uint8Array(out);
}

/**
 * Reads a minimally-encoded varint of at most 3 bytes. Returns null when the
 * varint is truncated, too long or non-minimal (a trailing 0x00 group).
 */
function readVarint(bytes: Uint8Array): { value: number; length: number } | null {
  let value = 0;
  for (let i = 0; i < 3 && i < bytes.length; i++) {
    value |= (bytes[i] & 0x7f) << (7 * i);
    if ((bytes[i] & 0x80) === 0) {
      if (i > 0 && bytes[i] === 0) return null;
      return { value, length: i + 1 };
    }
  }
  return null;
}

/**
 * Normalizes and validates a public key for `algorithm`: Ed25519 keys must be
 * 32 bytes and a canonical curve point; ECDSA keys may be 33-byte compressed
 * or 65-byte uncompressed SEC1 and are returned compressed.
 *
 * @example
 * ```ts
 * normalizePublicKey("p256", uncompressed65).length; // 33
 * ```
 */
export function normalizePublicKey(algorithm: Algorithm, publicKey: Uint8Array): Uint8Array {
  if (!(publicKey instanceof Uint8Array)) {
    throw new DidKeyError("Cannot use public key: not a Uint8Array");
  }
  switch (algorithm) {
    case "ed25519":
      if (publicKey.length !== 32) {
        throw new DidKeyError(
          `Cannot use ed25519 public key: expected 32 bytes, got ${publicKey.length}`,
        );
      }
      try {
        ed25519.Point.fromBytes(publicKey, false);
      } catch {
        throw new DidKeyError("Cannot use ed25519 public key: not a canonical point on the curve");
      }
      return publicKey.slice();
    case "p256":
    case "secp256k1": {
      if (publicKey.length !== 33 && publicKey.length !== 65) {
        throw new DidKeyError(
          `Cannot use ${algorithm} public key: expected 33 (compressed) or 65 (uncompressed) bytes, got ${publicKey.length}`,
        );
      }
      const curve = algorithm === "p256" ? p256 : secp256k1;
      try {
        return curve.Point.fromBytes(publicKey).toBytes(true);
      } catch {
        throw new DidKeyError(`Cannot use ${algorithm} public key: point not on the curve`);
      }
    }
    default:
      throw new DidKeyError(`Cannot use public key: unknown algorithm ${String(algorithm)}`);
  }
}

/**
 * Encodes a public key as a did:key. ECDSA keys given uncompressed (65 bytes)
 * are compressed first. Throws {@link DidKeyError} for a wrong length or a
 * point not on the curve.
 *
 * @example
 * ```ts
 * encodeDidKey("ed25519", publicKey32); // "did:key:z6Mk..."
 * encodeDidKey("p256", publicKey33);    // "did:key:zDn..."
 * ```
 */
export function encodeDidKey(algorithm: Algorithm, publicKey: Uint8Array): string {
  const key = normalizePublicKey(algorithm, publicKey);
  return DID_KEY_PREFIX + "z" + base58.encode(concatBytes(varint(MULTICODEC[algorithm]), key));
}

/**
 * Decodes a did:key into its algorithm and public key (ECDSA keys compressed,
 * 33 bytes). Strict: the string must be exactly `did:key:z<base58btc>` with no
 * fragment or query, the multicodec must be one of ours, the key must have
 * the length above (uncompressed ECDSA keys are refused so that each key has
 * one spelling), and the point must be on the curve. Throws
 * {@link DidKeyError} otherwise.
 *
 * @example
 * ```ts
 * decodeDidKey("did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv").algorithm; // "p256"
 * ```
 */
export function decodeDidKey(did: string): { algorithm: Algorithm; publicKey: Uint8Array } {
  const cached = typeof did === "string" ? decoded.get(did) : undefined;
  if (cached !== undefined) {
    return { algorithm: cached.algorithm, publicKey: cached.publicKey.slice() };
  }
  const result = decodeUncached(did);
  // Devices sign again and again with one key: remember the last few
  // thousand decodings (point checks are the costly part). Bounded: the
  // oldest entry leaves first.
  if (decoded.size >= DECODED_DID_KEYS_MAX) decoded.delete(decoded.keys().next().value!);
  decoded.set(did, { algorithm: result.algorithm, publicKey: result.publicKey.slice() });
  return result;
}

/** Decoded did:keys remembered by {@link decodeDidKey}. */
export const DECODED_DID_KEYS_MAX = 4096;
const decoded = new Map<string, { algorithm: Algorithm; publicKey: Uint8Array }>();

function decodeUncached(did: string): { algorithm: Algorithm; publicKey: Uint8Array } {
  if (typeof did !== "string") throw new DidKeyError("Cannot decode did:key: not a string");
  if (did.length > DID_KEY_CHARS_MAX) {
    throw new DidKeyError(`Cannot decode did:key: longer than ${DID_KEY_CHARS_MAX} characters`);
  }
  if (!did.startsWith(DID_KEY_PREFIX)) {
    throw new DidKeyError('Cannot decode did:key: must start with "did:key:"');
  }
  const multibase = did.slice(DID_KEY_PREFIX.length);
  if (!multibase.startsWith("z")) {
    throw new DidKeyError('Cannot decode did:key: multibase prefix must be "z" (base58btc)');
  }
  let bytes: Uint8Array;
  try {
    bytes = base58.decode(multibase.slice(1));
  } catch {
    throw new DidKeyError("Cannot decode did:key: invalid base58btc");
  }
  const codec = readVarint(bytes);
  if (codec === null) throw new DidKeyError("Cannot decode did:key: malformed multicodec varint");
  const algorithm = ALGORITHMS.find((a) => MULTICODEC[a] === codec.value);
  if (algorithm === undefined) {
    throw new DidKeyError(
      `Cannot decode did:key: unknown multicodec 0x${codec.value.toString(16)}`,
    );
  }
  const key = bytes.subarray(codec.length);
  const want = DID_KEY_PUBLIC_KEY_BYTES[algorithm];
  if (key.length !== want) {
    throw new DidKeyError(
      `Cannot decode did:key: ${algorithm} key must be ${want} bytes, got ${key.length}`,
    );
  }
  return { algorithm, publicKey: normalizePublicKey(algorithm, key) };
}

/**
 * Returns true iff `did` decodes with {@link decodeDidKey}. Never throws.
 *
 * @example
 * ```ts
 * isDidKey("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"); // true
 * ```
 */
export function isDidKey(did: unknown): did is string {
  if (typeof did !== "string") return false;
  try {
    decodeDidKey(did);
    return true;
  } catch {
    return false;
  }
}
