/**
 * Site key rotations as anyone can check them offline: a member of a
 * cluster replaces its Ed25519 key with a statement signed twice — by the
 * key it retires (the site authorises the change) and by the key it brings
 * (the site holds it):
 *
 *     edgeledger/site-key-rotation/v1\n<name>\n<previous key>\n<new key>\n
 *
 * (keys in base64url, each line ending in a newline). A site's rotations
 * form a chain from the key it started with; `GET /v1/sites/{name}/keys`
 * serves it. Whoever trusts one of its keys can follow the chain from that
 * key to the site's current one, each step checked, without trusting the
 * server that served it ({@link keyAfterChain}); `cli trust update` does so
 * for a trust file.
 *
 * @module
 */
import { base64urlDecode, utf8Encode } from "./encoding.ts";
import { verifySignatureReference } from "./signature.ts";

/** Domain separator of rotation statements. */
export const ROTATION_DOMAIN = "edgeledger/site-key-rotation/v1\n";

/** A site's change of key, signed by both keys (see the module doc). */
export interface KeyRotation {
  name: string;
  /** The retired Ed25519 key, base64url. */
  previous: string;
  /** The new Ed25519 key, base64url. */
  publicKey: string;
  /** Signature of the statement by the previous key, base64url. */
  previousSig: string;
  /** Signature of the statement by the new key, base64url. */
  newSig: string;
}

/** The statement both keys sign. */
export function rotationText(name: string, previous: string, publicKey: string): string {
  return `${ROTATION_DOMAIN}${name}\n${previous}\n${publicKey}\n`;
}

/** Checks one Ed25519 signature (the reference implementation by default). */
export type Ed25519Verify = (
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
) => boolean;

const referenceVerify: Ed25519Verify = (publicKey, message, signature) =>
  verifySignatureReference("ed25519", publicKey, message, signature);

/** Whether `r` is well formed and both of its signatures verify. Never throws. */
export function rotationVerifies(r: KeyRotation, verify: Ed25519Verify = referenceVerify): boolean {
  try {
    if (
      typeof r !== "object" || r === null || typeof r.name !== "string" ||
      typeof r.previous !== "string" || typeof r.publicKey !== "string" ||
      typeof r.previousSig !== "string" || typeof r.newSig !== "string" ||
      r.previous === r.publicKey
    ) {
      return false;
    }
    const prev = base64urlDecode(r.previous);
    const pub = base64urlDecode(r.publicKey);
    if (prev.length !== 32 || pub.length !== 32) return false;
    const text = utf8Encode(rotationText(r.name, r.previous, r.publicKey));
    return verify(prev, text, base64urlDecode(r.previousSig)) &&
      verify(pub, text, base64urlDecode(r.newSig));
  } catch {
    return false;
  }
}

/**
 * The key `name` holds after following `chain` from `known` (base64url),
 * each step checked; `known` itself when the chain does not pass through
 * it; undefined when a step after it does not verify or is another site's.
 */
export function keyAfterChain(
  name: string,
  known: string,
  chain: readonly KeyRotation[],
  verify: Ed25519Verify = referenceVerify,
): string | undefined {
  const start = chain.findIndex((r) => r?.previous === known);
  if (start < 0) return known;
  let key = known;
  for (const r of chain.slice(start)) {
    if (r.name !== name || r.previous !== key || !rotationVerifies(r, verify)) return undefined;
    key = r.publicKey;
  }
  return key;
}
