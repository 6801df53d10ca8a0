/**
 * Ed25519 on `node:crypto` for the site's own hot paths: signing its peer
 * requests and checkpoint lines, and checking its peers' requests. Deno runs
 * these natively and synchronously (measured here: ~22 µs to sign and ~34 µs
 * to verify a 2 KB message, against ~55/~80 µs through WebCrypto's promise
 * round trip, which also puts a thread-pool hop on every message's path).
 *
 * Server-only: the SDK stays on web-standard APIs. Verification goes through
 * the SDK's {@link verifyEd25519With}, whose guards make the answer the
 * reference's exactly; signing is checked against the reference on a probe
 * before it is used (Ed25519 signatures are deterministic).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { hexEncode } from "../../sdk/encoding.ts";
import type { Algorithm } from "../../sdk/did_key.ts";
import { ed25519NativeAccepts, verifyEd25519With, verifySignature } from "../../sdk/signature.ts";

/** PKCS #8 prefix of an Ed25519 private key (RFC 8410 §7): the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = new Uint8Array([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
]);
/** SPKI prefix of an Ed25519 public key (RFC 8410 §4): the 32 key bytes follow. */
const SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/** Public keys imported for verification, at most (members, a few at a time). */
const publicKeysMax = 256;
const publicKeys = new Map<string, KeyObject | null>();

/**
 * A synchronous native signer for an Ed25519 seed, or undefined when the
 * platform cannot sign Ed25519 natively or disagrees with the reference.
 */
export function nativeEd25519Signer(
  secretKey: Uint8Array,
): ((message: Uint8Array) => Uint8Array) | undefined {
  try {
    const key = createPrivateKey({
      key: Buffer.from([...ED25519_PKCS8_PREFIX, ...secretKey]),
      format: "der",
      type: "pkcs8",
    });
    const signer = (message: Uint8Array) => new Uint8Array(sign(null, message, key));
    const probe = new TextEncoder().encode("edgeledger/native-ed25519-probe");
    const got = signer(probe);
    const want = ed25519.sign(probe, secretKey);
    return got.length === 64 && got.every((b, i) => b === want[i]) ? signer : undefined;
  } catch {
    return undefined;
  }
}

/** Ed25519 verification with the reference's answer, natively where possible. */
export function verifyEd25519Native(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  return verifyEd25519With(nodeVerify, publicKey, message, signature);
}

/**
 * True when `node:crypto` accepts an Ed25519 signature under the guards that
 * make its yes the reference's; false means the reference must decide (see
 * `ed25519NativeAccepts` in sdk/signature.ts, and `signature_checks.ts`).
 */
export function ed25519NativeQuick(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  return ed25519NativeAccepts(nodeVerify, publicKey, message, signature);
}

/**
 * {@link verifySignature}'s verdict for any algorithm: Ed25519 natively and
 * synchronously, the others as the SDK does.
 */
export function verifySignatureNative(
  alg: Algorithm,
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> | boolean {
  return alg === "ed25519"
    ? verifyEd25519Native(publicKey, message, signature)
    : verifySignature(alg, publicKey, message, signature);
}

function nodeVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const id = hexEncode(publicKey);
  let key = publicKeys.get(id);
  if (key === undefined) {
    try {
      key = createPublicKey({
        key: Buffer.from([...SPKI_PREFIX, ...publicKey]),
        format: "der",
        type: "spki",
      });
    } catch {
      key = null;
    }
    if (publicKeys.size >= publicKeysMax) publicKeys.clear();
    publicKeys.set(id, key);
  }
  return key !== null && verify(null, message, key, signature);
}
