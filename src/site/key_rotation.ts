/**
 * Site key rotation: a member replaces its Ed25519 key without leaving the
 * cluster, so a key that may have leaked stops counting at once instead of
 * after a removal, a new site and a catch-up.
 *
 * A rotation is a statement signed twice — by the key it retires (the
 * member authorises it) and by the key it brings (the member holds it; see
 * `sdk/key_rotation.ts`, with which anyone can check one). The leader
 * checks both signatures against the key it knows for that member before
 * proposing it; every site applies it from the log (a directory entry with
 * the new key and the member's whole chain of rotations), so all agree from
 * which block on the new key signs. A member keeps its chain: it sends it
 * with every peer request and stream (`X-Edgeledger-Key-Chain`), so a site
 * that has not applied the rotation yet still hears it — it follows the
 * chain from the key it knows, checking each step, to the key the request
 * is signed with (whoever holds the old key could sign as the member to
 * that site anyway, until it applies the rotation). The other way round, a
 * member behind its own rotation still signs with its old key: sites take
 * that key on peer routes until they hear the member with its new one
 * (`PeerInfo.graceKey`), never for a checkpoint above the rotation.
 *
 * The new key lives in the site's data folder (`site-key.rotated.json`,
 * mode 0600), beside its database, because the deployment kit keeps the
 * config folder read-only to the site; at start a site signs with that
 * file's key once it has one (see `siteKeyOf` in `site.ts`).
 *
 * @module
 */
import { dirname, join } from "node:path";
import {
  base64urlDecode,
  base64urlEncode,
  bytesEqual,
  utf8Decode,
  utf8Encode,
} from "../../sdk/encoding.ts";
import { verifierKey } from "../../sdk/note.ts";
import { exportKey, importKey, type KeyPair } from "../../sdk/keys.ts";
import {
  keyAfterChain as keyAfterChainWith,
  type KeyRetirement,
  type KeyRotation,
  retirementText,
  retirementVerifies as retirementVerifiesWith,
  rotationText,
  rotationVerifies as rotationVerifiesWith,
} from "../../sdk/key_rotation.ts";
import { verifyEd25519Native } from "./native_ed25519.ts";
import type { SiteKey } from "./site_key.ts";

export { type KeyRetirement, type KeyRotation, rotationText } from "../../sdk/key_rotation.ts";

/**
 * A key a member retired, and the last block height it signed a checkpoint
 * for; once the member has signed that height with a later key, the
 * statement (`sdk/key_rotation.ts`, {@link KeyRetirement}), which lets a
 * verifier keep the retired key for checkpoints up to that height.
 */
export interface RetiredKey {
  publicKey: Uint8Array;
  untilHeight: number;
  /** The later key that signed the retirement, and its signature (base64url); absent until then. */
  signed?: { signer: string; signature: string };
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

/**
 * The verifier keys (`name+hash+key`) a member's checkpoint lines for a
 * height count under, asked when a line is checked — for a block not
 * applied yet, later than the lines came: the keys {@link memberKeysAt}
 * gives for the member as `member()` answers then, and `signer`, the key
 * the lines came with, when it is a rotated key this site has not applied
 * yet (authenticated by its chain, see peers.ts) — only while the member's
 * key is still `keyThen`, the one it had when they came (a rotation applied
 * since decides), and never a key the member retired.
 */
export function cosignKeysAt(
  name: string,
  member: () => { publicKey: Uint8Array; retired?: readonly RetiredKey[] } | undefined,
  keyThen: Uint8Array,
  signer: Uint8Array | undefined,
): (height: number) => string[] {
  return (height) => {
    const m = member();
    if (m === undefined) return [];
    const ahead = signer !== undefined && bytesEqual(m.publicKey, keyThen) &&
        !(m.retired ?? []).some((r) => bytesEqual(r.publicKey, signer))
      ? [signer]
      : [];
    return [...ahead, ...memberKeysAt(m, height)].map((k) => verifierKey(name, k));
  };
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

/**
 * The retirement of `retired` (the last height it signed, `untilHeight`),
 * signed by `signer`, a later key of member `name`.
 */
export async function signRetirement(
  name: string,
  retired: Uint8Array,
  untilHeight: number,
  signer: SiteKey,
): Promise<KeyRetirement> {
  const publicKey = base64urlEncode(retired);
  const text = utf8Encode(retirementText(name, publicKey, untilHeight));
  return {
    publicKey,
    untilHeight,
    signer: base64urlEncode(signer.publicKey),
    signature: base64urlEncode(await signer.sign(text)),
  };
}

/** Longest pause between two tries to publish a signed key retirement, ms. */
export const RETIREMENT_RETRY_MS_MAX = 5 * 60_000;

/**
 * When a site tries again to have the leader put its signed retirements in
 * the log. A failure for want of a leader, or a timeout, is tried again at
 * the next try the caller makes (it calls once per election timeout); a
 * leader that answers 404 — too old to know the route, mid-upgrade — is
 * asked again after a pause doubling from one election timeout up to
 * {@link RETIREMENT_RETRY_MS_MAX}, while a new leader is asked at once.
 * A success forgets the pause.
 */
export class RetirementPacer {
  /** The pause after the last failure, ms (0 after a success). */
  #pauseMs = 0;
  /** Not before this (the caller's clock, ms), after a failure. */
  #retryAt = 0;
  /** The leader the last failure came from. */
  #failedWith: string | undefined;

  constructor(readonly electionMs: number) {}

  /** Whether to try now, at `now` (ms), with `leader`. */
  mayTry(now: number, leader: string): boolean {
    return now >= this.#retryAt || leader !== this.#failedWith;
  }

  /** Try at the next chance whatever the last failure was (a rotation just applied). */
  reset(): void {
    this.#pauseMs = 0;
    this.#retryAt = 0;
    this.#failedWith = undefined;
  }

  /**
   * A try with `leader` failed at `now`; `unknownRoute` when the leader
   * answered 404. Returns the pause before the next try, ms.
   */
  failed(now: number, leader: string, unknownRoute: boolean): number {
    this.#pauseMs = unknownRoute
      ? Math.min(Math.max(this.electionMs, this.#pauseMs * 2), RETIREMENT_RETRY_MS_MAX)
      : 0;
    this.#retryAt = now + this.#pauseMs;
    this.#failedWith = leader;
    return this.#pauseMs;
  }
}

/** `retirementVerifies` of the SDK, with signatures checked natively. */
export function retirementVerifies(
  name: string,
  r: KeyRetirement,
  chain: readonly KeyRotation[],
): boolean {
  return retirementVerifiesWith(name, r, chain, verifyEd25519Native);
}

/** Whether `r` is well formed and both of its signatures verify (natively). */
export function rotationVerifies(r: KeyRotation): boolean {
  return rotationVerifiesWith(r, verifyEd25519Native);
}

/** `keyAfterChain` of the SDK, with signatures checked natively. */
export function keyAfterChain(
  name: string,
  known: string,
  chain: readonly KeyRotation[],
): string | undefined {
  return keyAfterChainWith(name, known, chain, verifyEd25519Native);
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
