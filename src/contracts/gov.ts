/**
 * `gov.*`: the consortium's organisations, admins, sites, authorities and
 * policies, changed by proposals that a majority of organisations sign.
 *
 * State (one namespace per record type, so a prefix range is a listing):
 *
 * - `gov.consortium/orgs` → {@link ConsortiumRecord}: the organisation ids,
 *   sorted; the denominator of every majority. Also the membership epoch
 *   each organisation joined at, so a hijack report made before an
 *   organisation was removed never counts for it once it is added again.
 * - `gov.org/<id>` → {@link OrgRecord}.
 * - `gov.admin/<did>` → {@link AdminRecord}: which organisation a key
 *   administers (one organisation per key, so no key counts twice).
 * - `gov.site/<name>` → {@link SiteRecord}; `gov.siteKey/<did>` → the site
 *   of a site key, so a site can sign (e.g. a hijack report).
 * - `gov.authority/<did>` → {@link AuthorityRecord}: namespace prefixes the
 *   key may register devices under.
 * - `gov.policy/current` → {@link Policy}.
 * - `gov.rules/current` → `RulesRecord` (`rules.ts`): the rules version in
 *   force and the one `gov.setRules` scheduled.
 *
 * The first state comes from genesis (`genesisState` in
 * `src/chain/genesis.ts`). A change applies only if, at its point in the
 * log, its signers include admins of more than half of the organisations
 * (`no_majority` otherwise): admission checks the shape, apply the state.
 *
 * This module also defines a signer's *standing* (registered and active, or
 * revoked/quarantined), which admission and every contract that re-checks
 * signers at apply share.
 *
 * @module
 */
import {
  GOV_LIST_ITEMS_MAX,
  type GovAddAdminBody,
  govAddAdminBody,
  type GovAddAuthorityBody,
  govAddAuthorityBody,
  type GovAddOrgBody,
  govAddOrgBody,
  type GovAddSiteBody,
  govAddSiteBody,
  type GovRemoveAdminBody,
  govRemoveAdminBody,
  type GovRemoveAuthorityBody,
  govRemoveAuthorityBody,
  type GovRemoveOrgBody,
  govRemoveOrgBody,
  type GovRemoveSiteBody,
  govRemoveSiteBody,
  type GovSetPolicyBody,
  govSetPolicyBody,
  type GovSetRulesBody,
  govSetRulesBody,
  type Policy,
  policySchema,
  siteKeyCanSign,
  siteKeyDid,
} from "../../sdk/kinds/gov.ts";
import type { z } from "zod";
import {
  AdmissionRefusal,
  type Contract,
  Rejection,
  type StateAccess,
  type StateKey,
  type TxContext,
  type TxView,
} from "./contract.ts";
import { activationAt, RULES_KEY, RULES_NS, type RulesRecord, scheduledAfter } from "./rules.ts";

export type { Policy };

export const CONSORTIUM_NS = "gov.consortium";
export const CONSORTIUM_KEY = "orgs";
export const ORG_NS = "gov.org";
export const ADMIN_NS = "gov.admin";
export const SITE_NS = "gov.site";
export const SITE_KEY_NS = "gov.siteKey";
export const AUTHORITY_NS = "gov.authority";
export const POLICY_NS = "gov.policy";
export const POLICY_KEY = "current";
/** Signer statuses of device keys; admission refuses `revoked` and `quarantined`. */
export const IDENTITY_STATUS_NS = "identity.status";
/** Device owners: a did:key that owns at least one registered device. */
export const IDENTITY_OWNER_NS = "identity.owner";

/** Most organisations, like genesis. */
export const ORGS_MAX = 64;
/** Most sites or authorities one organisation may have. */
export const ORG_MEMBERS_MAX = 64;

/** `gov.consortium/orgs`. */
export interface ConsortiumRecord {
  /** Organisation ids, sorted. */
  orgs: string[];
  /**
   * Membership changes applied since genesis: every `gov.addOrg` and
   * `gov.removeOrg` adds one. Absent (genesis) means 0.
   */
  epoch?: number;
  /**
   * For each current organisation added after genesis, the `epoch` its
   * `gov.addOrg` set (absent: a genesis organisation, epoch 0). Keys sorted;
   * `gov.removeOrg` deletes the entry, so at most one per organisation.
   */
  joined?: Record<string, number>;
}

/**
 * The membership epoch organisation `org` joined at, or undefined when it is
 * not a current organisation. Something an organisation did at epoch `e`
 * (e.g. a hijack report) belongs to its current membership iff `e` is at
 * least this.
 */
export function joinedEpoch(c: ConsortiumRecord | undefined, org: string): number | undefined {
  if (c === undefined || !c.orgs.includes(org)) return undefined;
  return c.joined !== undefined && Object.hasOwn(c.joined, org) ? c.joined[org] : 0;
}

/** `c` after `org` joined (`joined` true) or left, with one more membership change. */
function withMembership(c: ConsortiumRecord, org: string, joined: boolean): ConsortiumRecord {
  const epoch = (c.epoch ?? 0) + 1;
  const entries = Object.entries(c.joined ?? {}).filter(([id]) => id !== org);
  if (joined) entries.push([org, epoch]);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    orgs: joined ? sortedWith(c.orgs, org) : sortedWithout(c.orgs, org),
    epoch,
    joined: Object.fromEntries(entries),
  };
}

/** `gov.org/<id>`. Lists are sorted. */
export interface OrgRecord {
  id: string;
  name: string;
  admins: string[];
  sites: string[];
  authorities: string[];
  /** Height at which the organisation joined (0 = genesis). */
  since: number;
}

/** `gov.admin/<did>`. */
export interface AdminRecord {
  org: string;
  since: number;
}

/** `gov.site/<name>`. */
export interface SiteRecord {
  name: string;
  org: string;
  publicKey: string;
  /** The did:key of `publicKey`. */
  did: string;
  url: string;
  since: number;
}

/** `gov.siteKey/<did>`. */
export interface SiteKeyRecord {
  site: string;
  org: string;
}

/** `gov.authority/<did>`. */
export interface AuthorityRecord {
  did: string;
  org: string;
  name: string;
  /** Namespace prefixes, each ending in `/`. */
  namespaces: string[];
  since: number;
}

/** `identity.status/<did>`: the standing of one device key. */
export interface KeyStatusRecord {
  status: "active" | "revoked" | "quarantined";
  /** The device's name. */
  device: string;
  /** The organisation of the device's authority. */
  org: string;
  /** Why the key stopped being active, e.g. `"rotated"`. */
  reason?: string;
  /**
   * On the row of a device's current key: the device's earlier keys, oldest
   * first, as its record lists them (so at most `DEVICE_KEYS_MAX - 1`;
   * absent when there are none). While this row is `active`, the key acts
   * for them: see `actingSigner` in `_holder.ts`.
   */
  earlierKeys?: string[];
}

/** `identity.owner/<did>`. */
export interface OwnerRecord {
  /** Devices registered with this owner (revoked ones included). */
  devices: number;
  since: number;
}

// ---- signer standing ---------------------------------------------------

/** A signer's standing: refused (`revoked`, `quarantined`), `active` (registered), or unknown. */
export type Standing = "active" | "revoked" | "quarantined";

/** Reads one state value; undefined when absent. */
export type StateReader = <T>(ns: string, key: string) => T | undefined;

/** The state keys that decide the standing of `did`. */
export function standingKeys(did: string): StateKey[] {
  return [
    { ns: IDENTITY_STATUS_NS, key: did },
    { ns: ADMIN_NS, key: did },
    { ns: AUTHORITY_NS, key: did },
    { ns: SITE_KEY_NS, key: did },
    { ns: IDENTITY_OWNER_NS, key: did },
  ];
}

/**
 * The standing of `did`: `revoked` or `quarantined` when its device key row
 * says so (whatever else it is), `active` when it is an active device key,
 * an organisation admin, an authority, a site key or a device owner, and
 * undefined when it is none of these (unregistered).
 */
export function standingOf(did: string, get: StateReader): Standing | undefined {
  const status = get<KeyStatusRecord>(IDENTITY_STATUS_NS, did)?.status;
  if (status === "revoked" || status === "quarantined") return status;
  if (status === "active") return "active";
  for (const ns of [ADMIN_NS, AUTHORITY_NS, SITE_KEY_NS, IDENTITY_OWNER_NS]) {
    if (get(ns, did) !== undefined) return "active";
  }
  return undefined;
}

/**
 * A contract whose transactions introduce keys that are not registered yet
 * (a new device key, a rotation's new key, a new admin): those signers are
 * exempt from the open-kinds rule, since the transaction is what registers
 * them (and they sign it, proving possession).
 */
export interface IntroducesSigners<B> {
  introducedSigners(tx: TxView<B>): string[];
}

/** The signers `contract` introduces for this transaction (none for most kinds). */
export function introducedSignersOf(
  contract: Contract,
  tx: TxView<unknown>,
): string[] {
  const f = (contract as Partial<IntroducesSigners<unknown>>).introducedSigners;
  return f === undefined ? [] : f(tx);
}

/** The keys {@link checkSignerGate} reads: the policy and each signer's standing. */
export function signerGateKeys(signers: readonly string[]): StateKey[] {
  return [{ ns: POLICY_NS, key: POLICY_KEY }, ...signers.flatMap(standingKeys)];
}

/**
 * The apply-time (authoritative, order-dependent) re-check of what
 * admission checked: no signer is revoked or quarantined (`revoked_signer`),
 * and unless the kind is open, every signer other than `introduced` is
 * registered and active (`unregistered_signer`). Requires
 * {@link signerGateKeys} of the signers in `touches`. A ledger without a
 * policy record (created before governance) enforces only the first rule.
 */
export function checkSignerGate(
  tx: Pick<TxContext<unknown>, "kind" | "signers">,
  state: StateAccess,
  introduced: readonly string[] = [],
): void {
  const get: StateReader = (ns, key) => state.get(ns, key);
  const standings = tx.signers.map((s) => standingOf(s, get));
  tx.signers.forEach((s, i) => {
    const st = standings[i];
    if (st === "revoked" || st === "quarantined") {
      throw new Rejection("revoked_signer", `Cannot apply ${tx.kind}: signer ${s} is ${st}`);
    }
  });
  const policy = state.get<Policy>(POLICY_NS, POLICY_KEY);
  if (policy === undefined || policy.openKinds.includes(tx.kind)) return;
  tx.signers.forEach((s, i) => {
    if (standings[i] !== "active" && !introduced.includes(s)) {
      throw new Rejection(
        "unregistered_signer",
        `Cannot apply ${tx.kind}: signer ${s} is not registered and the kind is not open`,
      );
    }
  });
}

// ---- majority ----------------------------------------------------------

/**
 * The organisations whose admins signed, sorted. Requires `gov.consortium`
 * and `gov.admin/<signer>` of every signer in `touches`.
 */
export function approvingOrgs(signers: readonly string[], state: StateAccess): string[] {
  const orgs = new Set(state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY)?.orgs ?? []);
  const approving = new Set<string>();
  for (const s of signers) {
    const admin = state.get<AdminRecord>(ADMIN_NS, s);
    if (admin !== undefined && orgs.has(admin.org)) approving.add(admin.org);
  }
  return [...approving].sort();
}

/**
 * Rejects `no_majority` unless admins of more than half of the
 * organisations signed. `abstaining`, an organisation with no admins left
 * (so one that cannot sign), is left out of the count when given: see
 * {@link govRemoveOrg}. The detail of a rejection is the same as before that
 * exception existed, so old blocks replay byte for byte.
 */
function requireMajority(
  tx: TxContext<unknown>,
  state: StateAccess,
  abstaining?: string,
): string[] {
  const orgs = state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY)?.orgs ?? [];
  const total = orgs.length;
  const approving = approvingOrgs(tx.signers, state);
  if (approving.length * 2 > total) return approving;
  if (
    abstaining !== undefined && orgs.includes(abstaining) && !approving.includes(abstaining) &&
    approving.length * 2 > total - 1
  ) {
    return approving;
  }
  throw new Rejection(
    "no_majority",
    `Cannot apply ${tx.kind}: approved by ${approving.length} of ${total} organisations (${
      approving.join(", ") || "none"
    }); a majority needs ${Math.floor(total / 2) + 1}`,
  );
}

// ---- the kinds ---------------------------------------------------------

interface GovSpec<B> {
  kind: string;
  body: z.ZodType<B>;
  /** Keys the change adds, which must co-sign it. */
  introduced?: (body: B) => string[];
  /** Kind-specific state keys. */
  touches: (body: B) => StateKey[];
  /**
   * An organisation left out of the majority's count for this change (it
   * has no admin to sign it), read from the kind's own `touches`.
   */
  abstaining?: (body: B, state: StateAccess) => string | undefined;
  apply: (tx: TxContext<B>, state: StateAccess) => Record<string, unknown>;
  /** See `Contract.rulesNeeded`. */
  rulesNeeded?: (body: B) => number;
  /**
   * A stateless check of the body at admission, beyond its schema: throws
   * {@link AdmissionRefusal}. Admission only, so it may be stricter than
   * the rules an old block was executed under.
   */
  admit?: (body: B) => void;
}

/** A `gov.*` contract: proof-of-possession shape at admission, gate + majority + change at apply. */
function govKind<B>(spec: GovSpec<B>): Contract<B> & IntroducesSigners<B> {
  const introduced = (body: B) => spec.introduced?.(body) ?? [];
  return {
    kind: spec.kind,
    body: spec.body,
    introducedSigners: (tx) => introduced(tx.body),
    ...(spec.rulesNeeded ? { rulesNeeded: spec.rulesNeeded } : {}),
    authorize(tx) {
      const added = introduced(tx.body);
      for (const d of added) {
        if (!tx.signers.includes(d)) {
          throw new AdmissionRefusal(
            "unauthorized_signer",
            `Cannot accept ${spec.kind}: ${d} must co-sign the change it is added by`,
          );
        }
      }
      if (tx.signers.every((s) => added.includes(s))) {
        throw new AdmissionRefusal(
          "unauthorized_signer",
          `Cannot accept ${spec.kind}: it needs signatures of organisation admins`,
        );
      }
      spec.admit?.(tx.body);
    },
    touches(tx) {
      return [
        { ns: CONSORTIUM_NS, key: CONSORTIUM_KEY },
        ...signerGateKeys(tx.signers),
        ...spec.touches(tx.body),
      ];
    },
    apply(tx, state) {
      checkSignerGate(tx, state, introduced(tx.body));
      const approvedBy = requireMajority(
        tx as TxContext<unknown>,
        state,
        spec.abstaining?.(tx.body, state),
      );
      return { ...spec.apply(tx, state), approvedBy };
    },
  };
}

function getOrg(state: StateAccess, id: string, kind: string): OrgRecord {
  const org = state.get<OrgRecord>(ORG_NS, id);
  if (org === undefined) {
    throw new Rejection("unknown_org", `Cannot apply ${kind}: no organisation ${id}`);
  }
  return org;
}

function sortedWith(list: readonly string[], item: string): string[] {
  return [...list, item].sort();
}

function sortedWithout(list: readonly string[], item: string): string[] {
  return list.filter((x) => x !== item);
}

function limit(kind: string, what: string, n: number, max: number): void {
  if (n > max) {
    throw new Rejection("limit_reached", `Cannot apply ${kind}: more than ${max} ${what}`);
  }
}

/** `gov.addOrg`. */
export const govAddOrg = govKind<GovAddOrgBody>({
  kind: "gov.addOrg",
  body: govAddOrgBody,
  introduced: (b) => b.admins,
  touches: (b) => [{ ns: ORG_NS, key: b.id }, ...b.admins.map((d) => ({ ns: ADMIN_NS, key: d }))],
  apply(tx, state) {
    const { id, name, admins } = tx.body;
    if (state.get(ORG_NS, id) !== undefined) {
      throw new Rejection("org_exists", `Cannot add organisation ${id}: it exists`);
    }
    for (const d of admins) {
      const a = state.get<AdminRecord>(ADMIN_NS, d);
      if (a !== undefined) {
        throw new Rejection("admin_exists", `Cannot add admin ${d}: already an admin of ${a.org}`);
      }
    }
    const consortium = state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY) ?? { orgs: [] };
    limit(tx.kind, "organisations", consortium.orgs.length + 1, ORGS_MAX);
    const org: OrgRecord = {
      id,
      name,
      admins: [...admins].sort(),
      sites: [],
      authorities: [],
      since: tx.height,
    };
    state.put(ORG_NS, id, org);
    for (const d of admins) state.put(ADMIN_NS, d, { org: id, since: tx.height } as AdminRecord);
    state.put(CONSORTIUM_NS, CONSORTIUM_KEY, withMembership(consortium, id, true));
    return { org: id };
  },
});

/**
 * `gov.removeOrg`: removes an organisation with no admins, sites or
 * authorities left.
 *
 * An organisation with no admins cannot sign anything, yet it counts in
 * every majority; in a consortium of two, the other one alone could never
 * reach a majority again, not even to remove it. So the majority for
 * removing an organisation that has no admins is counted among the other
 * organisations. An organisation with admins is never removed this way
 * (`org_not_empty`); {@link govRemoveAdmin} keeps an organisation that still
 * has sites or authorities from losing its last admin, so the way out is:
 * remove its sites and authorities, then its last admin, then the
 * organisation — one organisation at a time. Only the one being removed is
 * left out of the count: with `k` organisations that have admins and `m`
 * that have none, any change needs `k > m` and this one `k >= m`, so once
 * organisations without admins outnumber the others (two leaving
 * organisations of three that both gave up their last admin) no change can
 * pass again, `gov.setRules` included. Known limit of rules version 1;
 * under rules 2 an organisation goes with its last admin
 * ({@link govRemoveAdmin}), and this kind serves only organisations left
 * without admins before (or by a genesis that gave one none).
 */
export const govRemoveOrg = govKind<GovRemoveOrgBody>({
  kind: "gov.removeOrg",
  body: govRemoveOrgBody,
  touches: (b) => [{ ns: ORG_NS, key: b.id }],
  abstaining(b, state) {
    const org = state.get<OrgRecord>(ORG_NS, b.id);
    return org !== undefined && org.admins.length === 0 ? org.id : undefined;
  },
  apply(tx, state) {
    const org = getOrg(state, tx.body.id, tx.kind);
    if (org.admins.length + org.sites.length + org.authorities.length > 0) {
      throw new Rejection(
        "org_not_empty",
        `Cannot remove organisation ${org.id}: it still has ${org.admins.length} admins, ${org.sites.length} sites and ${org.authorities.length} authorities`,
      );
    }
    const consortium = state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY) ?? { orgs: [] };
    if (consortium.orgs.length <= 1) {
      throw new Rejection("last_org", `Cannot remove organisation ${org.id}: it is the last one`);
    }
    state.delete(ORG_NS, org.id);
    state.put(CONSORTIUM_NS, CONSORTIUM_KEY, withMembership(consortium, org.id, false));
    return { org: org.id };
  },
});

/** `gov.addAdmin`. */
export const govAddAdmin = govKind<GovAddAdminBody>({
  kind: "gov.addAdmin",
  body: govAddAdminBody,
  introduced: (b) => [b.did],
  touches: (b) => [{ ns: ORG_NS, key: b.org }, { ns: ADMIN_NS, key: b.did }],
  apply(tx, state) {
    const org = getOrg(state, tx.body.org, tx.kind);
    const a = state.get<AdminRecord>(ADMIN_NS, tx.body.did);
    if (a !== undefined) {
      throw new Rejection(
        "admin_exists",
        `Cannot add admin ${tx.body.did}: already an admin of ${a.org}`,
      );
    }
    limit(tx.kind, "admins", org.admins.length + 1, GOV_LIST_ITEMS_MAX);
    state.put(ORG_NS, org.id, { ...org, admins: sortedWith(org.admins, tx.body.did) });
    state.put(ADMIN_NS, tx.body.did, { org: org.id, since: tx.height } as AdminRecord);
    return { org: org.id, admin: tx.body.did };
  },
});

/**
 * `gov.removeAdmin`. An organisation's last admin is removed only once the
 * organisation has no sites or authorities left (`last_admin` otherwise):
 * an organisation without admins cannot sign, so nothing could remove its
 * sites and authorities where its vote is needed (any consortium of two),
 * and `gov.removeOrg` refuses it while it has them.
 *
 * Rules 1: once its last admin is gone, the other organisations' majority
 * removes it with `gov.removeOrg` — and organisations left without admins
 * meanwhile count in every majority, which can lock governance for good
 * (see {@link govRemoveOrg}). Rules 2: the organisation goes with its last
 * admin (`orgRemoved: true` in the result), so no organisation is ever
 * without admins; the last admin of the only organisation stays
 * (`last_admin`: the ledger would have no one left to govern it).
 */
export const govRemoveAdmin = govKind<GovRemoveAdminBody>({
  kind: "gov.removeAdmin",
  body: govRemoveAdminBody,
  touches: (b) => [{ ns: ORG_NS, key: b.org }, { ns: ADMIN_NS, key: b.did }],
  apply(tx, state) {
    const org = getOrg(state, tx.body.org, tx.kind);
    const a = state.get<AdminRecord>(ADMIN_NS, tx.body.did);
    if (a === undefined || a.org !== org.id) {
      throw new Rejection(
        "unknown_admin",
        `Cannot remove admin ${tx.body.did}: not an admin of ${org.id}`,
      );
    }
    const admins = sortedWithout(org.admins, tx.body.did);
    if (admins.length === 0 && org.sites.length + org.authorities.length > 0) {
      throw new Rejection(
        "last_admin",
        `Cannot remove admin ${tx.body.did}: it is the last admin of ${org.id}, which still has ` +
          `${org.sites.length} sites and ${org.authorities.length} authorities; add another ` +
          `admin first, or remove those, then this admin, then the organisation (gov.removeOrg)`,
      );
    }
    if (tx.rules >= 2 && admins.length === 0) {
      const consortium = state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY) ??
        { orgs: [] };
      if (consortium.orgs.length <= 1) {
        throw new Rejection(
          "last_admin",
          `Cannot remove admin ${tx.body.did}: it is the last admin of ${org.id}, the ledger's ` +
            `only organisation; add another admin first`,
        );
      }
      state.delete(ORG_NS, org.id);
      state.put(CONSORTIUM_NS, CONSORTIUM_KEY, withMembership(consortium, org.id, false));
      state.delete(ADMIN_NS, tx.body.did);
      return { org: org.id, admin: tx.body.did, orgRemoved: true };
    }
    state.put(ORG_NS, org.id, { ...org, admins });
    state.delete(ADMIN_NS, tx.body.did);
    return { org: org.id, admin: tx.body.did };
  },
});

/** The did:key of a site key that passed the body schema. */
function siteDid(publicKey: string): string {
  const did = siteKeyDid(publicKey);
  // The body schema refuses keys that are not on the curve.
  if (did === undefined) throw new Error(`Assertion failed: site key ${publicKey} decodes`);
  return did;
}

/** Why a site key of small order (or encoded non-canonically) is refused. */
function unusableSiteKey(name: string): string {
  return `Cannot add site ${name}: its publicKey is an Ed25519 point of small order (or not ` +
    `canonically encoded), which verifies no signature, so the site could never sign`;
}

/**
 * `gov.addSite`. Up to rules 3 a key of small order was recorded (a site
 * that could never sign); from rules 4 it is rejected `site_key_unusable`,
 * and admission refuses it under any rules.
 */
export const govAddSite = govKind<GovAddSiteBody>({
  kind: "gov.addSite",
  body: govAddSiteBody,
  touches: (b) => [
    { ns: SITE_NS, key: b.name },
    { ns: SITE_KEY_NS, key: siteDid(b.publicKey) },
    { ns: ORG_NS, key: b.org },
  ],
  admit(b) {
    if (!siteKeyCanSign(b.publicKey)) {
      throw new AdmissionRefusal("invalid_body", unusableSiteKey(b.name));
    }
  },
  apply(tx, state) {
    const { name, publicKey, url } = tx.body;
    const org = getOrg(state, tx.body.org, tx.kind);
    if (state.get(SITE_NS, name) !== undefined) {
      throw new Rejection("site_exists", `Cannot add site ${name}: it exists`);
    }
    if (tx.rules >= 4 && !siteKeyCanSign(publicKey)) {
      throw new Rejection("site_key_unusable", unusableSiteKey(name));
    }
    const did = siteDid(publicKey);
    const used = state.get<SiteKeyRecord>(SITE_KEY_NS, did);
    if (used !== undefined) {
      throw new Rejection("site_key_in_use", `Cannot add site ${name}: its key is ${used.site}'s`);
    }
    limit(tx.kind, "sites per organisation", org.sites.length + 1, ORG_MEMBERS_MAX);
    const site: SiteRecord = { name, org: org.id, publicKey, did, url, since: tx.height };
    state.put(SITE_NS, name, site);
    state.put(SITE_KEY_NS, did, { site: name, org: org.id } as SiteKeyRecord);
    state.put(ORG_NS, org.id, { ...org, sites: sortedWith(org.sites, name) });
    return { site: name, org: org.id };
  },
});

/** `gov.removeSite`. */
export const govRemoveSite = govKind<GovRemoveSiteBody>({
  kind: "gov.removeSite",
  body: govRemoveSiteBody,
  touches: (b) => [
    { ns: SITE_NS, key: b.name },
    { ns: SITE_KEY_NS, key: siteDid(b.publicKey) },
    { ns: ORG_NS, key: b.org },
  ],
  apply(tx, state) {
    const { name, publicKey } = tx.body;
    const site = state.get<SiteRecord>(SITE_NS, name);
    if (site === undefined) {
      throw new Rejection("unknown_site", `Cannot remove site ${name}: no such site`);
    }
    if (site.org !== tx.body.org || site.publicKey !== publicKey) {
      throw new Rejection(
        "stale_site",
        `Cannot remove site ${name}: it belongs to ${site.org} with another key than the change names`,
      );
    }
    const org = getOrg(state, site.org, tx.kind);
    state.delete(SITE_NS, name);
    state.delete(SITE_KEY_NS, site.did);
    state.put(ORG_NS, org.id, { ...org, sites: sortedWithout(org.sites, name) });
    return { site: name, org: org.id };
  },
});

/** `gov.addAuthority`. */
export const govAddAuthority = govKind<GovAddAuthorityBody>({
  kind: "gov.addAuthority",
  body: govAddAuthorityBody,
  introduced: (b) => [b.did],
  touches: (b) => [{ ns: AUTHORITY_NS, key: b.did }, { ns: ORG_NS, key: b.org }],
  apply(tx, state) {
    const { did, name, namespaces } = tx.body;
    const org = getOrg(state, tx.body.org, tx.kind);
    const existing = state.get<AuthorityRecord>(AUTHORITY_NS, did);
    if (existing !== undefined) {
      throw new Rejection(
        "authority_exists",
        `Cannot add authority ${did}: already an authority of ${existing.org}`,
      );
    }
    limit(tx.kind, "authorities per organisation", org.authorities.length + 1, ORG_MEMBERS_MAX);
    const record: AuthorityRecord = {
      did,
      org: org.id,
      name,
      namespaces: [...namespaces].sort(),
      since: tx.height,
    };
    state.put(AUTHORITY_NS, did, record);
    state.put(ORG_NS, org.id, { ...org, authorities: sortedWith(org.authorities, did) });
    return { authority: did, org: org.id, namespaces: record.namespaces };
  },
});

/** `gov.removeAuthority`. */
export const govRemoveAuthority = govKind<GovRemoveAuthorityBody>({
  kind: "gov.removeAuthority",
  body: govRemoveAuthorityBody,
  touches: (b) => [{ ns: AUTHORITY_NS, key: b.did }, { ns: ORG_NS, key: b.org }],
  apply(tx, state) {
    const a = state.get<AuthorityRecord>(AUTHORITY_NS, tx.body.did);
    if (a === undefined || a.org !== tx.body.org) {
      throw new Rejection(
        "unknown_authority",
        `Cannot remove authority ${tx.body.did}: not an authority of ${tx.body.org}`,
      );
    }
    const org = getOrg(state, a.org, tx.kind);
    state.delete(AUTHORITY_NS, a.did);
    state.put(ORG_NS, org.id, { ...org, authorities: sortedWithout(org.authorities, a.did) });
    return { authority: a.did, org: org.id };
  },
});

/** `gov.setPolicy`. */
export const govSetPolicy = govKind<GovSetPolicyBody>({
  kind: "gov.setPolicy",
  body: govSetPolicyBody,
  touches: () => [{ ns: POLICY_NS, key: POLICY_KEY }],
  apply(tx, state) {
    const current = state.get<Policy>(POLICY_NS, POLICY_KEY);
    const { rateLimits, ...rest } = tx.body;
    const merged: Record<string, unknown> = { ...current, ...rest };
    if (rateLimits === null) delete merged.rateLimits;
    else if (rateLimits !== undefined) merged.rateLimits = rateLimits;
    const parsed = policySchema.safeParse(merged);
    if (!parsed.success) {
      // Only a ledger created before governance lacks a policy record.
      throw new Rejection(
        "policy_incomplete",
        `Cannot set policy: the result is incomplete (${parsed.error.issues[0]?.path.join(".")})`,
      );
    }
    state.put(POLICY_NS, POLICY_KEY, parsed.data);
    return { policy: parsed.data };
  },
});

/**
 * `gov.setRules`: schedules rules version `version` for block `height` on.
 *
 * Decided from state alone, like every apply (whether this site's software
 * supports the version is admission's question, never apply's): `height`
 * must lie above this block (`rules_height_not_future`), `version` above
 * the version in force and above a version still scheduled
 * (`rules_version_not_newer`). A change with a higher version than the one
 * scheduled replaces it (its result names it in `replaced`), so at most one
 * activation waits; one whose height was reached is folded into the
 * version in force.
 */
export const govSetRules = govKind<GovSetRulesBody>({
  kind: "gov.setRules",
  body: govSetRulesBody,
  touches: () => [{ ns: RULES_NS, key: RULES_KEY }],
  rulesNeeded: (b) => b.version,
  apply(tx, state) {
    const { version, height } = tx.body;
    const record = state.get<RulesRecord>(RULES_NS, RULES_KEY);
    if (height <= tx.height) {
      throw new Rejection(
        "rules_height_not_future",
        `Cannot schedule rules version ${version} at height ${height}: it is not in the future ` +
          `(this is block ${tx.height}); name a height above it`,
      );
    }
    const active = activationAt(record, tx.height);
    const pending = scheduledAfter(record, tx.height);
    const newest = pending ?? active;
    if (version <= newest.version) {
      throw new Rejection(
        "rules_version_not_newer",
        `Cannot schedule rules version ${version}: version ${newest.version} is ${
          pending ? `already scheduled at height ${pending.height}` : "in force"
        }; a change names a higher version`,
      );
    }
    const next: RulesRecord = { ...active, scheduled: { version, height } };
    state.put(RULES_NS, RULES_KEY, next);
    return { rules: { version, height }, ...(pending ? { replaced: pending } : {}) };
  },
});

/** Every `gov.*` contract. */
export const GOV_CONTRACTS: readonly Contract<never>[] = [
  govAddOrg,
  govRemoveOrg,
  govAddAdmin,
  govRemoveAdmin,
  govAddSite,
  govRemoveSite,
  govAddAuthority,
  govRemoveAuthority,
  govSetPolicy,
  govSetRules,
] as unknown as Contract<never>[];

/**
 * `contract` with the apply-time signer re-check of {@link checkSignerGate}
 * in front of its own rules: a signer revoked or quarantined earlier in the
 * log, or (for a kind not open) one that is not registered, rejects the
 * transaction before `contract.apply` runs. For kinds that do not re-check
 * signers themselves (the `gov.*` and `identity.*` kinds do); the registry
 * can wrap every other built-in kind with it.
 */
export function withSignerGate<B>(contract: Contract<B>): Contract<B> & IntroducesSigners<B> {
  const introduced = (tx: TxView<B>) =>
    introducedSignersOf(contract as Contract, tx as TxView<unknown>);
  return {
    kind: contract.kind,
    body: contract.body,
    introducedSigners: introduced,
    authorize: (tx) => contract.authorize(tx),
    ...(contract.rulesNeeded ? { rulesNeeded: contract.rulesNeeded } : {}),
    touches: (tx) => [...signerGateKeys(tx.signers), ...contract.touches(tx)],
    apply(tx, state) {
      checkSignerGate(tx, state, introduced(tx));
      return contract.apply(tx, state);
    },
  };
}
