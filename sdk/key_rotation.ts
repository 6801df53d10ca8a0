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
 * it; undefined when a step after it does not verify, is another site's,
 * or goes back to a key the walk already passed (a site never takes back a
 * key it retired). Never throws.
 */
export function keyAfterChain(
  name: string,
  known: string,
  chain: readonly KeyRotation[],
  verify: Ed25519Verify = referenceVerify,
): string | undefined {
  const keys = walkChain(name, known, chain, verify);
  if (keys === undefined) return known;
  return keys.complete ? keys.later.at(-1) ?? known : undefined;
}

/**
 * Walks `chain` from the first rotation that retires `from`, checking each
 * step: the keys it leads to, in order, up to the first step that is not
 * an object, does not verify, is another site's, does not follow on, or
 * brings a key already passed — `complete` when there was none. Undefined
 * when no rotation retires `from`.
 */
function walkChain(
  name: string,
  from: string,
  chain: readonly KeyRotation[],
  verify: Ed25519Verify,
): { later: string[]; complete: boolean } | undefined {
  if (!Array.isArray(chain)) return undefined;
  const start = chain.findIndex((r) => typeof r === "object" && r?.previous === from);
  if (start < 0) return undefined;
  const seen = new Set([from]);
  const later: string[] = [];
  let at = from;
  for (const r of chain.slice(start)) {
    if (
      typeof r !== "object" || r === null || r.name !== name || r.previous !== at ||
      seen.has(r.publicKey) || !rotationVerifies(r, verify)
    ) {
      return { later, complete: false };
    }
    at = r.publicKey;
    seen.add(at);
    later.push(at);
  }
  return { later, complete: true };
}

/** Domain separator of retirement statements. */
export const RETIREMENT_DOMAIN = "edgeledger/site-key-retirement/v1\n";

/**
 * The last block height a retired key signed, vouched for by a later key of
 * the same site: the site signs, once its rotation is in the log,
 *
 *     edgeledger/site-key-retirement/v1\n<name>\n<retired key>\n<untilHeight>\n
 *
 * with the key that replaced the retired one (or a later one of its chain).
 * A verifier that follows the chain to a key it trusts can then keep the
 * retired key for checkpoints up to that height — and no higher, whatever a
 * holder of the old key signs later — so receipts made before the rotation
 * still verify.
 */
export interface KeyRetirement {
  /** The retired Ed25519 key, base64url. */
  publicKey: string;
  /** The last block height it signed a checkpoint for. */
  untilHeight: number;
  /** The key that signed the statement (base64url), one the chain leads to from `publicKey`. */
  signer: string;
  /** Ed25519 signature of the statement by `signer`, base64url. */
  signature: string;
}

/** The statement a retirement's signer signs. */
export function retirementText(name: string, publicKey: string, untilHeight: number): string {
  return `${RETIREMENT_DOMAIN}${name}\n${publicKey}\n${untilHeight}\n`;
}

/**
 * Whether `r` is a well-formed retirement of one of `name`'s keys signed by
 * a key that `chain` (the site's rotations, oldest first) leads to from the
 * retired key — its successor or a later one — and the signature verifies.
 * Never throws.
 */
export function retirementVerifies(
  name: string,
  r: KeyRetirement,
  chain: readonly KeyRotation[],
  verify: Ed25519Verify = referenceVerify,
): boolean {
  try {
    if (
      typeof r !== "object" || r === null || typeof r.publicKey !== "string" ||
      typeof r.signer !== "string" || typeof r.signature !== "string" ||
      !Number.isSafeInteger(r.untilHeight) || r.untilHeight < 0
    ) {
      return false;
    }
    if (!laterKeys(name, r.publicKey, chain, verify).includes(r.signer)) return false;
    const signer = base64urlDecode(r.signer);
    if (signer.length !== 32) return false;
    const text = utf8Encode(retirementText(name, r.publicKey, r.untilHeight));
    return verify(signer, text, base64urlDecode(r.signature));
  } catch {
    return false;
  }
}

/**
 * The keys `chain` leads to from `key` (base64url), in order, each step
 * checked: [] when the chain does not pass through `key`; it stops at the
 * first step that does not verify, is another site's or brings back a key
 * already passed.
 */
export function laterKeys(
  name: string,
  key: string,
  chain: readonly KeyRotation[],
  verify: Ed25519Verify = referenceVerify,
): string[] {
  return walkChain(name, key, chain, verify)?.later ?? [];
}
