/**
 * Site key rotation: a member replaces its Ed25519 key without leaving the
 * cluster, so a key that may have leaked stops counting at once instead of
 * after a removal, a new site and a catch-up.
 *
 * A rotation is a statement signed twice — by the key it retires (the
 * member authorises it) and by the key it brings (the member holds it):
 *
 *     edgeledger/site-key-rotation/v1\n<name>\n<previous key>\n<new key>\n
 *
 * (keys in base64url). The leader checks both signatures against the key
 * it knows for that member before proposing it; every site applies it from
 * the log (a directory entry with the new key and the member's whole chain
 * of rotations), so all agree from which block on the new key signs. A
 * member keeps its chain: it sends it with every peer request and stream
 * (`X-Edgeledger-Key-Chain`), so a site that has not applied the rotation
 * yet still hears it — it follows the chain from the key it knows, checking
 * each step, to the key the request is signed with. A leaked old key gains
 * nothing there: whoever holds it could sign as the member to that site
 * anyway, until it applies the rotation.
 *
 * The new key lives in the site's data folder (`site-key.rotated.json`,
 * mode 0600), beside its database, because the deployment kit keeps the
 * config folder read-only to the site; at start a site takes whichever of
 * its config's key and that file the membership names for it.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { base64urlDecode, base64urlEncode, utf8Decode, utf8Encode } from "../../sdk/encoding.ts";
import { exportKey, importKey, type KeyPair } from "../../sdk/keys.ts";
import { verifyEd25519Native } from "./native_ed25519.ts";
import type { SiteKey } from "./site_key.ts";

/** Domain separator of rotation statements. */
export const ROTATION_DOMAIN = "edgeledger/site-key-rotation/v1\n";

/** A member's change of key, signed by both keys (see the module doc). */
export interface KeyRotation {
  name: string;
  /** The retired key, base64url. */
  previous: string;
  /** The new key, base64url. */
  publicKey: string;
  /** Signature of the statement by the previous key, base64url. */
  previousSig: string;
  /** Signature of the statement by the new key, base64url. */
  newSig: string;
}

/** A key a member retired, and the last block height it signed a checkpoint for. */
export interface RetiredKey {
  publicKey: Uint8Array;
  untilHeight: number;
}

/**
 * The keys of a member that may sign the checkpoint of block `height`: the
 * one it holds now, and each it retired at or after that height.
 */
export function memberKeysAt(
  member: { publicKey: Uint8Array; retired?: readonly RetiredKey[] },
  height: number,
): Uint8Array[] {
  return [
    member.publicKey,
    ...(member.retired ?? []).filter((r) => r.untilHeight >= height).map((r) => r.publicKey),
  ];
}

/** The statement both keys sign. */
export function rotationText(name: string, previous: string, publicKey: string): string {
  return `${ROTATION_DOMAIN}${name}\n${previous}\n${publicKey}\n`;
}

/** A rotation of `name` from `previous` to `next`, signed by both. */
export async function signRotation(
  name: string,
  previous: SiteKey,
  next: SiteKey,
): Promise<KeyRotation> {
  const prev = base64urlEncode(previous.publicKey);
  const pub = base64urlEncode(next.publicKey);
  const text = utf8Encode(rotationText(name, prev, pub));
  return {
    name,
    previous: prev,
    publicKey: pub,
    previousSig: base64urlEncode(await previous.sign(text)),
    newSig: base64urlEncode(await next.sign(text)),
  };
}

/** Whether `r` is well formed and both of its signatures verify. */
export function rotationVerifies(r: KeyRotation): boolean {
  try {
    if (
      typeof r !== "object" || r === null || typeof r.name !== "string" ||
      typeof r.previous !== "string" || typeof r.publicKey !== "string" ||
      r.previous === r.publicKey
    ) {
      return false;
    }
    const prev = base64urlDecode(r.previous);
    const pub = base64urlDecode(r.publicKey);
    if (prev.length !== 32 || pub.length !== 32) return false;
    const text = utf8Encode(rotationText(r.name, r.previous, r.publicKey));
    return verifyEd25519Native(prev, text, base64urlDecode(r.previousSig)) &&
      verifyEd25519Native(pub, text, base64urlDecode(r.newSig));
  } catch {
    return false;
  }
}

/**
 * The key `name` holds after following `chain` from `known` (base64url),
 * each step checked; `known` itself when the chain does not pass through
 * it; undefined when a step after it does not verify.
 */
export function keyAfterChain(
  name: string,
  known: string,
  chain: readonly KeyRotation[],
): string | undefined {
  const start = chain.findIndex((r) => r.previous === known);
  if (start < 0) return known;
  let key = known;
  for (const r of chain.slice(start)) {
    if (r.name !== name || r.previous !== key || !rotationVerifies(r)) return undefined;
    key = r.publicKey;
  }
  return key;
}

/** A chain as the `X-Edgeledger-Key-Chain` header carries it (base64url of its JSON). */
export function encodeKeyChain(chain: readonly KeyRotation[]): string {
  return base64urlEncode(utf8Encode(JSON.stringify(chain)));
}

/** Chains longer than this in a header are refused (a member rotates rarely). */
const chainLengthMax = 64;

/** The chain in an `X-Edgeledger-Key-Chain` header; [] for none or one that cannot be read. */
export function decodeKeyChain(header: string | null | undefined): KeyRotation[] {
  if (!header || header.length > chainLengthMax * 512) return [];
  try {
    const v = JSON.parse(utf8Decode(base64urlDecode(header)));
    return Array.isArray(v) && v.length <= chainLengthMax ? v as KeyRotation[] : [];
  } catch {
    return [];
  }
}

/**
 * Where a site whose database is the file `dbPath` keeps its keys after a
 * rotation: `current`, the key the membership last gave it (once it
 * rotated), and `next`, the key of a rotation under way (renamed to
 * `current` once applied).
 */
export function rotatedKeyPaths(dbPath: string): { current: string; next: string } {
  return {
    current: join(dirname(dbPath), "site-key.rotated.json"),
    next: join(dirname(dbPath), "site-key.next.json"),
  };
}

/**
 * Writes `key` to `path` (a private JWK, mode 0600) durably — the file and
 * then its folder synced — replacing the file there through a rename, so a
 * crash leaves the old file or the new one, never half of one.
 */
export async function writeRotatedKey(path: string, key: KeyPair): Promise<void> {
  const tmp = `${path}.tmp`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    await file.write(utf8Encode(JSON.stringify(exportKey(key)) + "\n"));
    await file.syncData();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
  const folder = await Deno.open(dirname(path), { read: true });
  try {
    await folder.syncData();
  } catch {
    /* not every platform syncs a folder */
  } finally {
    folder.close();
  }
}

/** The key in the rotated-key file at `path`, or undefined when there is none. */
export async function readRotatedKey(path: string): Promise<KeyPair | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`Cannot read the rotated site key ${path}: ${(e as Error).message}`);
  }
  try {
    return importKey(JSON.parse(text));
  } catch {
    throw new Error(`Cannot read the rotated site key ${path}: it holds no private key JWK`);
  }
}
