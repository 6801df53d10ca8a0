/**
 * What a verifier trusts, kept as a small JSON document (a trust file): the
 * consortium's site verifier keys, how many of them must sign a checkpoint,
 * and the log's origin. These are the {@link LightClient} options that must
 * come from configuration, never from the sites being checked.
 *
 * ```json
 * { "v": 1, "origin": "edgeledger.local/demo", "quorum": 2,
 *   "trustedKeys": ["site-a+2a850ea9+AfV8…", "site-b+…", "site-c+…"],
 *   "retiredKeys": [{ "key": "site-b+91c3d0e2+AX2k…", "untilHeight": 1402 }] }
 * ```
 *
 * `retiredKeys` (optional) are keys the sites replaced, each good for the
 * checkpoints up to the last block height it signed — a height the site
 * vouched for with its later key, checked when {@link followKeyRotations}
 * kept it — so receipts made before a rotation still verify.
 *
 * A trust file is only as good as where its keys came from:
 * {@link trustConfigFromGenesis} takes them from the consortium's genesis
 * file (as good as the copy you hold), {@link trustConfigFromSites} from a
 * site's member list (trust on first use: as good as the site you asked and
 * the connection to it). It is not a `TrustStore`, which keeps the last
 * checkpoint a light client trusted.
 *
 * Pure and portable (no file access): read and write the JSON yourself.
 *
 * @module
 */

import { z } from "zod";
import { base64urlDecode, base64urlEncode, hexEncode } from "../encoding.ts";
import { keyAfterChain, type KeyRotation, laterKeys, retirementVerifies } from "../key_rotation.ts";
import { parseVerifierKey, verifierKey } from "../note.ts";

/** The `v` of a trust file this SDK writes and reads. */
export const TRUST_CONFIG_VERSION = 1;
/** Most site keys a trust file may hold (a genesis names at most 64 sites). */
export const TRUSTED_KEYS_MAX = 64;
/** Longest origin line, in characters (as in a genesis). */
export const ORIGIN_CHARS_MAX = 256;
/** Most retired keys a trust file may hold. */
export const RETIRED_KEYS_MAX = 1024;

/**
 * A key a site retired, as a verifier keeps it: its verifier key
 * (`name+hash+base64key`) and the last block height it signed a checkpoint
 * for; it counts for checkpoints up to that height only.
 */
export interface RetiredVerifierKey {
  key: string;
  untilHeight: number;
}

/**
 * The verifier keys that may sign the checkpoint of block `height`: every
 * trusted key, and each retired one of a trusted site whose last height is
 * `height` or above (after its site's trusted key; a retired key of a site
 * no trusted key names counts for nothing).
 *
 * @example
 * ```ts
 * const names = verifyNote(note, verifierKeysAt(trust.trustedKeys, trust.retiredKeys ?? [], checkpoint.height));
 * ```
 */
export function verifierKeysAt(
  trustedKeys: readonly string[],
  retiredKeys: readonly RetiredVerifierKey[],
  height: number,
): string[] {
  const usable = retiredKeys.filter((r) => r.untilHeight >= height && !trustedKeys.includes(r.key))
    .map((r) => ({ key: r.key, name: r.key.slice(0, r.key.indexOf("+")) }));
  // Each after the trusted key of its site, so signers come in the trusted keys' order.
  const names = trustedKeys.map((k) => k.slice(0, k.indexOf("+")));
  return trustedKeys.flatMap((
    k,
    i,
  ) => [k, ...usable.filter((r) => r.name === names[i]).map((r) => r.key)]);
}

/**
 * A trust file's content: pass `trustedKeys`, `quorum` and `origin` to a
 * {@link LightClient}.
 *
 * @example
 * ```ts
 * const trust: TrustConfig = parseTrustConfig(JSON.parse(text));
 * const light = new LightClient({ trustedKeys: trust.trustedKeys, quorum: trust.quorum, origin: trust.origin });
 * ```
 */
export interface TrustConfig {
  /** Format version, {@link TRUST_CONFIG_VERSION}. */
  v: 1;
  /** The log's origin line (`edgeledger.local/demo`); checkpoints of other logs are refused. */
  origin: string;
  /** How many distinct trusted keys must sign a checkpoint (1 ≤ quorum ≤ distinct names). */
  quorum: number;
  /** The site verifier keys, `name+hash+base64key`, one per site name. */
  trustedKeys: string[];
  /**
   * Keys the trusted sites retired, each with the last block height it
   * signed (see {@link RetiredVerifierKey}); absent when none is kept.
   */
  retiredKeys?: RetiredVerifierKey[];
}

/** Thrown for a trust file, genesis or member list that cannot give a {@link TrustConfig}. */
export class TrustConfigError extends Error {
  /** Creates a trust config error with a sentence-case message. */
  constructor(message: string) {
    super(message);
    this.name = "TrustConfigError";
  }
}

const origin = z.string().min(1).max(ORIGIN_CHARS_MAX).regex(
  /^[^\s+][^\n+]*$/,
  "must be one line, not starting with a space, without '+'",
);

const trustConfigSchema = z.strictObject({
  v: z.literal(TRUST_CONFIG_VERSION),
  origin,
  quorum: z.number().int().min(1),
  trustedKeys: z.array(z.string()).min(1).max(TRUSTED_KEYS_MAX),
  retiredKeys: z.array(z.strictObject({
    key: z.string(),
    untilHeight: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  })).max(RETIRED_KEYS_MAX).optional(),
}).superRefine((t, ctx) => {
  const names = new Set<string>();
  // Which site each public key belongs to: one key under two names would
  // count twice toward the quorum with one signer.
  const owners = new Map<string, string>();
  const ownedByAnother = (publicKey: Uint8Array, name: string): string | undefined => {
    const hex = hexEncode(publicKey);
    const owner = owners.get(hex);
    if (owner === undefined) owners.set(hex, name);
    return owner !== undefined && owner !== name ? owner : undefined;
  };
  t.trustedKeys.forEach((key, i) => {
    let name: string;
    let publicKey: Uint8Array;
    try {
      ({ name, publicKey } = parseVerifierKey(key));
    } catch (e) {
      ctx.addIssue({ code: "custom", path: ["trustedKeys", i], message: (e as Error).message });
      return;
    }
    if (names.has(name)) {
      ctx.addIssue({
        code: "custom",
        path: ["trustedKeys", i],
        message: `a second key for site ${name}`,
      });
    }
    const owner = ownedByAnother(publicKey, name);
    if (owner !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["trustedKeys", i],
        message: `the key of site ${owner} under another name`,
      });
    }
    names.add(name);
  });
  const retired = new Set<string>();
  (t.retiredKeys ?? []).forEach((r, i) => {
    let name: string;
    let publicKey: Uint8Array;
    try {
      ({ name, publicKey } = parseVerifierKey(r.key));
    } catch (e) {
      ctx.addIssue({
        code: "custom",
        path: ["retiredKeys", i, "key"],
        message: (e as Error).message,
      });
      return;
    }
    if (t.trustedKeys.includes(r.key)) {
      ctx.addIssue({
        code: "custom",
        path: ["retiredKeys", i, "key"],
        message: "a trusted key is not retired",
      });
    } else if (!names.has(name)) {
      ctx.addIssue({
        code: "custom",
        path: ["retiredKeys", i, "key"],
        message: `a retired key of site ${name}, which no trusted key names`,
      });
    } else if (retired.has(r.key)) {
      ctx.addIssue({
        code: "custom",
        path: ["retiredKeys", i, "key"],
        message: "listed twice",
      });
    } else {
      const owner = ownedByAnother(publicKey, name);
      if (owner !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["retiredKeys", i, "key"],
          message: `a key of site ${owner} under another name`,
        });
      }
    }
    retired.add(r.key);
  });
  if (names.size === t.trustedKeys.length && t.quorum > names.size) {
    ctx.addIssue({
      code: "custom",
      path: ["quorum"],
      message: `must be at most the ${names.size} trusted site(s)`,
    });
  }
});

/**
 * Validates an untrusted value (a parsed trust file) as a
 * {@link TrustConfig}: strict (an unknown member is refused), `v` = 1, a
 * one-line origin, 1–{@link TRUSTED_KEYS_MAX} well-formed verifier keys with
 * distinct names, `1 ≤ quorum ≤` their number, and well-formed retired
 * keys (none of them a trusted one), no public key under two site names
 * (trusted or retired: it would count twice toward the quorum). Throws
 * {@link TrustConfigError} naming the first bad member.
 *
 * @example
 * ```ts
 * const trust = parseTrustConfig(JSON.parse(await Deno.readTextFile("trust.json")));
 * ```
 */
export function parseTrustConfig(value: unknown): TrustConfig {
  const result = trustConfigSchema.safeParse(value);
  if (!result.success) {
    throw new TrustConfigError(`Invalid trust config${firstIssue(result.error)}`);
  }
  const { retiredKeys, ...rest } = result.data;
  return {
    ...rest,
    trustedKeys: [...rest.trustedKeys],
    ...(retiredKeys === undefined || retiredKeys.length === 0
      ? {}
      : { retiredKeys: retiredKeys.map((r) => ({ ...r })) }),
  };
}

/** A schema error's first issue, as it ends a message: ` at <path>: <why>`. */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
  return `${where}: ${issue.message}`;
}

/**
 * The smallest majority of `n` sites, `⌊n/2⌋ + 1`: how many voting sites
 * sign a checkpoint before a site serves it. Requires `n ≥ 1`.
 *
 * @example
 * ```ts
 * majorityQuorum(3); // 2
 * ```
 */
export function majorityQuorum(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`Cannot compute a quorum of ${n} sites: need at least 1`);
  }
  return Math.floor(n / 2) + 1;
}

/**
 * A trust config from a member list as `GET /v1/sites` serves it
 * (`client.sites()`): trust on first use, as good as the site that answered.
 * With `voters` (the `voters` of `GET /v1/status`), only those sites' keys
 * are trusted, since only voters' signatures make a checkpoint; `quorum`
 * defaults to a majority of the trusted keys. Throws
 * {@link TrustConfigError} when a voter is missing from `sites` or the
 * result is invalid.
 *
 * @example
 * ```ts
 * const status = await client.status();
 * const trust = trustConfigFromSites(await client.sites(), { origin: status.origin! });
 * ```
 */
export function trustConfigFromSites(
  sites: readonly { name: string; verifierKey: string }[],
  options: { origin: string; voters?: readonly string[]; quorum?: number },
): TrustConfig {
  let chosen = [...sites];
  if (options.voters !== undefined) {
    const missing = options.voters.filter((v) => !sites.some((s) => s.name === v));
    if (missing.length > 0) {
      throw new TrustConfigError(
        `Cannot trust the member list: voter(s) ${missing.join(", ")} not listed`,
      );
    }
    chosen = sites.filter((s) => options.voters!.includes(s.name));
  }
  if (chosen.length === 0) throw new TrustConfigError("Cannot trust the member list: no sites");
  return parseTrustConfig({
    v: TRUST_CONFIG_VERSION,
    origin: options.origin,
    quorum: options.quorum ?? majorityQuorum(chosen.length),
    trustedKeys: chosen.map((s) => s.verifierKey),
  });
}

/** The members of a genesis config a trust config needs; others are ignored. */
const genesisTrustSchema = z.object({
  origin,
  sites: z.array(z.object({
    name: z.string(),
    publicKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be a base64url Ed25519 key"),
  })).min(1).max(TRUSTED_KEYS_MAX),
});

/**
 * A trust config from the consortium's genesis config (parsed JSON): every
 * genesis site's key (`sites[].name`, `sites[].publicKey`), the genesis
 * `origin`, and by default a majority of those sites as the quorum. As good
 * as the genesis file you hold; sites added or removed since genesis are
 * not in it. Throws {@link TrustConfigError} for a value that is not such a
 * genesis.
 *
 * @example
 * ```ts
 * const trust = trustConfigFromGenesis(JSON.parse(await Deno.readTextFile("genesis.json")));
 * ```
 */
export function trustConfigFromGenesis(
  genesis: unknown,
  options: { quorum?: number } = {},
): TrustConfig {
  const result = genesisTrustSchema.safeParse(genesis);
  if (!result.success) {
    throw new TrustConfigError(`Cannot read the genesis${firstIssue(result.error)}`);
  }
  const { sites } = result.data;
  let trustedKeys: string[];
  try {
    trustedKeys = sites.map((s) => verifierKey(s.name, base64urlDecode(s.publicKey)));
  } catch (e) {
    throw new TrustConfigError(`Cannot read the genesis: ${(e as Error).message}`);
  }
  return parseTrustConfig({
    v: TRUST_CONFIG_VERSION,
    origin: result.data.origin,
    quorum: options.quorum ?? majorityQuorum(sites.length),
    trustedKeys,
  });
}

/** A member's keys as `GET /v1/sites/{name}/keys` serves them (`client.siteKeys(name)`). */
export interface SiteKeyHistory {
  verifierKey: string;
  rotations: readonly KeyRotation[];
  /** Retired keys with their last heights, signed by a later key once the site vouched for them. */
  retired?: readonly {
    verifierKey: string;
    untilHeight: number;
    signer?: string;
    signature?: string;
  }[];
}

/** What {@link followKeyRotations} changed, and what it could not. */
export interface KeyRotationUpdate {
  /**
   * The trust config with each followed site's key replaced by its current
   * one, and the keys it replaced kept as retired ones where the site
   * vouched for their last heights.
   */
  trust: TrustConfig;
  /**
   * Sites whose trusted key a chain of rotations led from to the key they
   * hold now; `retired` lists the keys of the way kept with the last height
   * each signed.
   */
  rotated: Array<{ name: string; from: string; to: string; retired: RetiredVerifierKey[] }>;
  /**
   * Sites that rotated moments ago: the chain leads to their key now, but
   * the last height of a key they retired is not signed yet (the site
   * signs it once the rotation is in the log). With `awaitRetirements`
   * (a trust file's default) they keep their trusted key: ask again
   * shortly; without it they are followed all the same (also in
   * `rotated`) and that key is not kept yet (see
   * {@link retirementsOnTheWay} to look again).
   */
  pending: string[];
  /**
   * Sites whose key now no chain from the trusted key leads to (a chain
   * that does not verify, or a server that lists a key no chain reaches —
   * a cluster never takes a known name back under another key): left as
   * they were, to be checked out of band.
   */
  unreachable: string[];
  /** Trusted sites the member list does not name (removed, or not listed by that site): kept. */
  unlisted: string[];
}

/**
 * Follows the key rotations of the sites a trust config trusts (see
 * `sdk/key_rotation.ts`): for each trusted site whose listed key is not the
 * trusted one, `keysOf(name)` gives its chain of rotations, which is
 * followed from the trusted key, each step's two signatures checked; when
 * it leads to the listed key, that key replaces the trusted one. Nothing is
 * taken on the server's word: a new key is trusted only through signatures
 * of a key trusted already (whoever held an old key could sign a chain
 * from it — as they could sign checkpoints with it while you trusted it).
 * Sites the trust config does not name are never added. Each key it
 * replaces is kept in `retiredKeys` for the checkpoints up to the last
 * height the site signed for it with a later key; a site that has not
 * signed that height yet keeps its trusted key (`pending`) unless
 * `options.awaitRetirements` is false.
 *
 * @example
 * ```ts
 * const { trust: next, rotated } = await followKeyRotations(
 *   trust,
 *   await client.sites(),
 *   (name) => client.siteKeys(name),
 * );
 * ```
 */
export async function followKeyRotations(
  trust: TrustConfig,
  sites: readonly { name: string; verifierKey: string }[],
  keysOf: (name: string) => Promise<SiteKeyHistory>,
  options: { awaitRetirements?: boolean } = {},
): Promise<KeyRotationUpdate> {
  const { trustedKeys, ...outcome } = await followKeyRotationsOf(trust.trustedKeys, sites, keysOf, {
    awaitRetirements: options.awaitRetirements ?? true,
  });
  const kept = trust.retiredKeys ?? [];
  const retiredKeys = [
    ...kept,
    ...outcome.rotated.flatMap((r) => r.retired).filter((r) => !kept.some((k) => k.key === r.key)),
  ];
  return {
    trust: parseTrustConfig({
      ...trust,
      trustedKeys,
      ...(retiredKeys.length === 0 ? {} : { retiredKeys }),
    }),
    ...outcome,
  };
}

/**
 * {@link followKeyRotations} over a list of trusted verifier keys (as a
 * `LightClient` holds them): the keys with each followed site's replaced,
 * in the same order, and what was followed, pending, unreachable or
 * unlisted. Without `options.awaitRetirements` (the default here) a site
 * whose retired key's last height is not signed yet is followed all the
 * same (a light client must count its new key's signatures now).
 */
export async function followKeyRotationsOf(
  trustedList: readonly string[],
  sites: readonly { name: string; verifierKey: string }[],
  keysOf: (name: string) => Promise<SiteKeyHistory>,
  options: { awaitRetirements?: boolean } = {},
): Promise<Omit<KeyRotationUpdate, "trust"> & { trustedKeys: string[] }> {
  const rotated: KeyRotationUpdate["rotated"] = [];
  const pending: string[] = [];
  const unreachable: string[] = [];
  const unlisted: string[] = [];
  const trustedKeys: string[] = [];
  for (const trusted of trustedList) {
    const { name, publicKey } = parseVerifierKey(trusted);
    const listed = sites.find((s) => s.name === name);
    if (listed === undefined) {
      unlisted.push(name);
      trustedKeys.push(trusted);
      continue;
    }
    if (listed.verifierKey === trusted) {
      trustedKeys.push(trusted);
      continue;
    }
    const keys = await keysOf(name);
    const from = base64urlEncode(publicKey);
    const to = keyAfterChain(name, from, keys.rotations);
    if (
      to === undefined || to === from || keys.verifierKey !== listed.verifierKey ||
      verifierKey(name, base64urlDecode(to)) !== listed.verifierKey ||
      // Another trusted site's key: one key under two names counts twice.
      trustedList.some((k) => {
        const other = parseVerifierKey(k);
        return other.name !== name && base64urlEncode(other.publicKey) === to;
      })
    ) {
      unreachable.push(name);
      trustedKeys.push(trusted);
      continue;
    }
    const { retired, unsigned } = retirementsOnTheWay(name, from, to, keys);
    if (unsigned > 0) pending.push(name);
    if (unsigned > 0 && options.awaitRetirements === true) {
      trustedKeys.push(trusted);
      continue;
    }
    rotated.push({ name, from, to, retired });
    trustedKeys.push(listed.verifierKey);
  }
  return { trustedKeys, rotated, pending, unreachable, unlisted };
}

/**
 * The keys `keys.rotations` (a site's answer to `GET /v1/sites/{name}/keys`)
 * leads through from `from` to `to` (base64url; `from` included, `to` not;
 * none when the chain, each step checked, does not lead there)
 * whose retirement the site signed with a later key of that chain, each
 * with its last height; and how many of the others the site has not signed
 * yet (one whose signature does not verify is dropped).
 *
 * @example
 * ```ts
 * const { retired, unsigned } = retirementsOnTheWay("site-b", oldKey, newKey, await client.siteKeys("site-b"));
 * ```
 */
export function retirementsOnTheWay(
  name: string,
  from: string,
  to: string,
  keys: SiteKeyHistory,
): { retired: RetiredVerifierKey[]; unsigned: number } {
  const out: RetiredVerifierKey[] = [];
  let unsigned = 0;
  const later = laterKeys(name, from, keys.rotations);
  const end = later.indexOf(to);
  for (const key of end < 0 ? [] : [from, ...later.slice(0, end)]) {
    const vk = verifierKey(name, base64urlDecode(key));
    const r = (keys.retired ?? []).find((x) => x.verifierKey === vk);
    if (
      r !== undefined && typeof r.signer === "string" && typeof r.signature === "string" &&
      retirementVerifies(name, {
        publicKey: key,
        untilHeight: r.untilHeight,
        signer: r.signer,
        signature: r.signature,
      }, keys.rotations)
    ) {
      out.push({ key: vk, untilHeight: r.untilHeight });
    } else if (r === undefined || r.signer === undefined || r.signature === undefined) {
      unsigned++;
    }
  }
  return { retired: out, unsigned };
}
