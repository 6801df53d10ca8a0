/**
 * Body schemas of the `gov.*` transaction kinds (protocol: DESIGN §5).
 *
 * Governance changes the consortium: its organisations (carriers) and their
 * admin keys, its sites, the authorities that may register devices under a
 * namespace prefix, and its policies. Every `gov.*` kind is a proposal that
 * takes effect when it commits signed by admins of MORE THAN HALF of the
 * organisations in state at that point of the log (one multi-signer
 * envelope; pass it between the carriers with `addSignature`). Keys a change
 * adds (a new admin, a new authority) must co-sign it, proving possession.
 * `gov.setRules` schedules a new version of the contract rules at a block
 * height.
 *
 * @module
 */
import { z } from "zod";
import { encodeDidKey, isDidKey } from "../did_key.ts";
import { base64urlDecode } from "../encoding.ts";
import { createEnvelope, type UnsignedEnvelope } from "../envelope.ts";
import { isStrictEd25519Key } from "../signature.ts";
import { checkBody } from "./_common.ts";

/** Most admins, namespaces or open kinds one record holds. */
export const GOV_LIST_ITEMS_MAX = 16;
/** Most kinds `openKinds` may name. */
export const OPEN_KINDS_MAX = 64;

/** A did:key in its one canonical spelling. */
export const didKey = z.string().max(128).refine(isDidKey, "must be a did:key");

/** An organisation id or site name: 1-64 of a-z, 0-9, '.', '_', '-'. */
export const govName = z.string().regex(
  /^[a-z0-9][a-z0-9._-]{0,63}$/,
  "must be 1-64 of a-z, 0-9, '.', '_', '-'",
);

/**
 * A device namespace prefix: path segments of `[a-z0-9._-]` each ending in
 * `/`, e.g. `demo/` or `acme/cameras/`. A device name is under a prefix when
 * it starts with it, so `demo/` never covers `demo2/x`.
 */
export const namespacePrefix = z.string().max(64).regex(
  /^([a-z0-9][a-z0-9._-]*\/)+$/,
  "must be path segments of a-z, 0-9, '.', '_', '-' each ending in '/'",
);

/** A transaction kind name (as in the envelope's `kind`). */
export const kindName = z.string().max(64).regex(
  /^[a-z][a-z0-9]*(\.[a-z][a-zA-Z0-9]*)+$/,
  "must be a kind such as data.anchor",
);

/** An Ed25519 site key: base64url of 32 bytes encoding a point on the curve. */
export const siteKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be a base64url Ed25519 key")
  .refine((k) => siteKeyDid(k) !== undefined, "must be a valid Ed25519 public key");

/** The did:key of a base64url Ed25519 site key, or undefined when it is not a valid key. */
export function siteKeyDid(publicKey: string): string | undefined {
  try {
    return encodeDidKey("ed25519", base64urlDecode(publicKey));
  } catch {
    return undefined;
  }
}

/**
 * True when a site key that passed {@link siteKey} can sign: canonically
 * encoded and not of small order, which signature verification requires of
 * every Ed25519 key. A site recorded with a key of small order could never
 * sign a checkpoint or a Raft message.
 */
export function siteKeyCanSign(publicKey: string): boolean {
  try {
    return isStrictEd25519Key(base64urlDecode(publicKey));
  } catch {
    return false;
  }
}

/** A site key a new site may have: a {@link siteKey} that {@link siteKeyCanSign}. */
export const usableSiteKey = siteKey.refine(
  siteKeyCanSign,
  "must be an Ed25519 key that can sign: canonically encoded, not of small order",
);

const distinct = <T>(items: T[]) => new Set(items).size === items.length;

/** Rate limits the API enforces per signer (recorded here; enforced by the API layer). */
export const rateLimitsSchema = z.strictObject({
  /** Most transactions one signer may submit per minute, per site. */
  signerTxsPerMinuteMax: z.number().int().min(1).max(1_000_000),
});

/**
 * The consortium's policies as governance sets them.
 *
 * - `expiryWindowMs`: how far in the future `expiresAt` may lie at admission.
 * - `openKinds`: kinds any did:key may submit; every other kind needs every
 *   signer to be registered (device, device owner, authority, site, admin),
 *   except keys the kind itself introduces (DESIGN §5).
 * - `quarantineOrgsMin`: hijack reports from this many distinct
 *   organisations quarantine a device (capped at the number of
 *   organisations, so a one-carrier ledger quarantines on one report);
 *   only current organisations' reports from their current membership
 *   count.
 * - `rateLimits`: per-signer limits, or absent for none.
 */
export const policySchema = z.strictObject({
  expiryWindowMs: z.number().int().min(1000).max(30 * 24 * 3600 * 1000),
  openKinds: z.array(kindName).max(OPEN_KINDS_MAX).refine(distinct, "must be distinct"),
  quarantineOrgsMin: z.number().int().min(1).max(64),
  rateLimits: rateLimitsSchema.optional(),
});

/** The policy record. */
export type Policy = z.infer<typeof policySchema>;

/** Default `quarantineOrgsMin` when genesis does not set it. */
export const QUARANTINE_ORGS_MIN_DEFAULT = 2;

/** `gov.addOrg`: a new organisation with its admin keys, each of which co-signs. */
export const govAddOrgBody = z.strictObject({
  id: govName,
  name: z.string().min(1).max(128),
  admins: z.array(didKey).min(1).max(GOV_LIST_ITEMS_MAX).refine(distinct, "must be distinct"),
});
/**
 * The body of `gov.addOrg`: organisation `id` (1-64 of a-z, 0-9, `.`, `_`,
 * `-`), its display `name`, and 1-16 distinct admin did:keys, each of which
 * co-signs. Like every `gov.*` kind, it takes effect when signed by admins
 * of more than half of the organisations.
 */
export type GovAddOrgBody = z.infer<typeof govAddOrgBody>;

/** `gov.removeOrg`: removes an organisation that has no admins, sites or authorities left. */
export const govRemoveOrgBody = z.strictObject({ id: govName });
/**
 * The body of `gov.removeOrg`: removes organisation `id`, which must have no
 * admins, sites or authorities left. Signed by admins of more than half of
 * the organisations.
 */
export type GovRemoveOrgBody = z.infer<typeof govRemoveOrgBody>;

/** `gov.addAdmin`: a new admin key for an organisation; the key co-signs. */
export const govAddAdminBody = z.strictObject({ org: govName, did: didKey });
/**
 * The body of `gov.addAdmin`: adds the did:key `did` as an admin of
 * organisation `org`. The new key co-signs, with admins of more than half
 * of the organisations.
 */
export type GovAddAdminBody = z.infer<typeof govAddAdminBody>;

/** `gov.removeAdmin`: removes an admin key from its organisation. */
export const govRemoveAdminBody = z.strictObject({ org: govName, did: didKey });
/**
 * The body of `gov.removeAdmin`: removes the admin did:key `did` from
 * organisation `org`. Signed by admins of more than half of the
 * organisations.
 */
export type GovRemoveAdminBody = z.infer<typeof govRemoveAdminBody>;

/** `gov.addSite`: records a site (PoP) of an organisation and its Ed25519 key. */
export const govAddSiteBody = z.strictObject({
  name: govName,
  org: govName,
  publicKey: siteKey,
  url: z.url().max(256),
});
/**
 * The body of `gov.addSite`: records site `name` (a PoP) of organisation
 * `org`, its Ed25519 `publicKey` (base64url of 32 bytes; it signs
 * checkpoints and Raft messages) and its `url`. Signed by admins of more
 * than half of the organisations.
 */
export type GovAddSiteBody = z.infer<typeof govAddSiteBody>;

/**
 * `gov.removeSite`: removes a site. `org` and `publicKey` must be the
 * recorded ones (the change names exactly what it removes).
 */
export const govRemoveSiteBody = z.strictObject({
  name: govName,
  org: govName,
  publicKey: siteKey,
});
/**
 * The body of `gov.removeSite`: removes site `name`; `org` and `publicKey`
 * must be the recorded ones, so the change names exactly what it removes.
 * Signed by admins of more than half of the organisations.
 */
export type GovRemoveSiteBody = z.infer<typeof govRemoveSiteBody>;

/**
 * `gov.addAuthority`: a key of an organisation that may register devices
 * under the given namespace prefixes; the key co-signs.
 */
export const govAddAuthorityBody = z.strictObject({
  did: didKey,
  org: govName,
  name: z.string().min(1).max(128),
  namespaces: z.array(namespacePrefix).min(1).max(GOV_LIST_ITEMS_MAX).refine(
    distinct,
    "must be distinct",
  ),
});
/**
 * The body of `gov.addAuthority`: the did:key `did` of organisation `org`,
 * shown as `name`, may register devices under 1-16 distinct `namespaces`
 * (prefixes such as `acme/cameras/`). The key co-signs, with admins of more
 * than half of the organisations.
 */
export type GovAddAuthorityBody = z.infer<typeof govAddAuthorityBody>;

/**
 * `gov.removeAuthority`: the key may no longer register, revoke or
 * un-quarantine devices; `org` must be the recorded one.
 */
export const govRemoveAuthorityBody = z.strictObject({ did: didKey, org: govName });
/**
 * The body of `gov.removeAuthority`: the did:key `did` may no longer
 * register, revoke or un-quarantine devices; `org` must be the recorded
 * one. Signed by admins of more than half of the organisations.
 */
export type GovRemoveAuthorityBody = z.infer<typeof govRemoveAuthorityBody>;

/**
 * `gov.setPolicy`: replaces the named policy fields, keeps the others;
 * `rateLimits: null` removes the rate limits.
 */
export const govSetPolicyBody = z.strictObject({
  expiryWindowMs: policySchema.shape.expiryWindowMs.optional(),
  openKinds: policySchema.shape.openKinds.optional(),
  quarantineOrgsMin: policySchema.shape.quarantineOrgsMin.optional(),
  rateLimits: rateLimitsSchema.nullable().optional(),
}).refine((b) => Object.keys(b).length > 0, "must set at least one policy field");
/**
 * The body of `gov.setPolicy`: replaces the policy fields it names and
 * keeps the others — `expiryWindowMs` (how far ahead `expiresAt` may lie,
 * 1 s to 30 days), `openKinds`, `quarantineOrgsMin`, and `rateLimits`
 * (`null` removes them). At least one field. Signed by admins of more than
 * half of the organisations.
 */
export type GovSetPolicyBody = z.infer<typeof govSetPolicyBody>;

/** The highest rules version a body or a genesis may name. */
export const RULES_VERSION_MAX = 65_535;

/** A rules version: 1 is the rules every ledger starts with. */
export const rulesVersion = z.number().int().min(1).max(RULES_VERSION_MAX);

/**
 * `gov.setRules`: schedules the ledger's contract rules `version` to take
 * effect at block `height`: that block and every later one execute under it.
 * At apply, `height` must lie above the block the change is in, and
 * `version` above the version in force and above any version still
 * scheduled (which it then replaces); one activation waits at a time.
 * Sites refuse at admission a version their software cannot execute: every
 * site is upgraded first, then the change is proposed (docs/governance.md,
 * "Upgrading the rules").
 */
export const govSetRulesBody = z.strictObject({
  version: rulesVersion.min(2),
  height: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});
/**
 * The body of `gov.setRules`: contract rules `version` (2 or more) take
 * effect at block `height`, which must lie above the block of the change.
 * Every site must run software that executes that version first. Signed by
 * admins of more than half of the organisations.
 */
export type GovSetRulesBody = z.infer<typeof govSetRulesBody>;

/** Every `gov.*` kind's body schema. */
export const GOV_BODIES = {
  "gov.addOrg": govAddOrgBody,
  "gov.removeOrg": govRemoveOrgBody,
  "gov.addAdmin": govAddAdminBody,
  "gov.removeAdmin": govRemoveAdminBody,
  "gov.addSite": govAddSiteBody,
  "gov.removeSite": govRemoveSiteBody,
  "gov.addAuthority": govAddAuthorityBody,
  "gov.removeAuthority": govRemoveAuthorityBody,
  "gov.setPolicy": govSetPolicyBody,
  "gov.setRules": govSetRulesBody,
} as const;

/** A `gov.*` kind. */
export type GovKind = keyof typeof GOV_BODIES;

/** Where and how long a proposal envelope lives. */
export interface ProposalOptions {
  ledger: string;
  /** Lifetime from now in ms (default 1 h; at most the ledger's expiry window). */
  ttlMs?: number;
  /** Absolute expiry in ms; wins over `ttlMs`. */
  expiresAt?: number;
  now?: number;
}

/**
 * An unsigned governance proposal naming every signer: the admins of the
 * organisations that approve it, plus any key the change adds (it must
 * co-sign). Pass it from party to party with `addSignature`, then submit
 * the fully signed envelope. Throws `EnvelopeError` (`code: "schema"`,
 * the field named) for a bad body.
 *
 * @example
 * ```ts
 * let p: PartialEnvelope = govProposal("gov.addAuthority", {
 *   did: authority.did, org: "carrier-a", name: "Carrier A devices", namespaces: ["carrier-a/"],
 * }, [adminA.did, adminB.did, authority.did], { ledger: "demo" });
 * for (const s of [adminA, adminB, authority]) p = await addSignature(p, s);
 * ```
 */
export function govProposal<K extends GovKind>(
  kind: K,
  body: z.input<(typeof GOV_BODIES)[K]>,
  signers: string[],
  options: ProposalOptions,
): UnsignedEnvelope {
  checkBody(GOV_BODIES[kind], kind, body);
  return createEnvelope({ ...options, kind, body, signers });
}
