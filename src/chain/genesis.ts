/**
 * The genesis config and block 0 derived from it.
 *
 * Block 0 commits to the whole config: its `prev` is the hex SHA-256 of
 * `"edgeledger/genesis/v1\n" + JCS(config)`, so two sites with different
 * configs can never share a chain.
 *
 * @module
 */
import { z } from "zod";
import { blockHash, type BlockHeader } from "../../sdk/block.ts";
import { canonicalJson } from "../../sdk/canonical_json.ts";
import { EMPTY_ROOT } from "../../sdk/merkle.ts";
import { hexEncode, utf8Encode } from "../../sdk/encoding.ts";
import { sha256Hex } from "../../sdk/hash.ts";
import {
  didKey,
  namespacePrefix,
  type Policy,
  QUARANTINE_ORGS_MIN_DEFAULT,
  rateLimitsSchema,
  rulesVersion,
  siteKeyDid,
  usableSiteKey,
} from "../../sdk/kinds/gov.ts";
import {
  ADMIN_NS,
  AUTHORITY_NS,
  type AuthorityRecord,
  CONSORTIUM_KEY,
  CONSORTIUM_NS,
  ORG_NS,
  type OrgRecord,
  POLICY_KEY,
  POLICY_NS,
  SITE_KEY_NS,
  SITE_NS,
  type SiteRecord,
} from "../contracts/gov.ts";
import { RULES_KEY, RULES_NS, type RulesRecord } from "../contracts/rules.ts";

const name = z.string().regex(
  /^[a-z0-9][a-z0-9._-]{0,63}$/,
  "must be 1-64 of a-z, 0-9, '.', '_', '-'",
);

/** The genesis config: who the consortium is and its first policies. */
export const genesisSchema = z.strictObject({
  v: z.literal(1),
  ledger: name,
  /** The C2SP checkpoint origin line, e.g. `edgeledger.example/demo`. */
  origin: z.string().min(1).max(256).regex(/^[^\s+][^\n+]*$/, "must be one line without '+'"),
  /** Genesis time, ms. */
  time: z.number().int().min(0),
  organisations: z.array(z.strictObject({
    id: name,
    name: z.string().min(1).max(128),
    /** Admin did:keys whose signatures count as this organisation's in `gov.*` proposals. */
    admins: z.array(didKey).max(16).optional(),
  })).min(1).max(64),
  sites: z.array(z.strictObject({
    name,
    org: name,
    /** Ed25519 public key, base64url; one that can sign (not of small order). */
    publicKey: usableSiteKey,
    url: z.url(),
  })).min(1).max(64),
  policies: z.strictObject({
    /** How far in the future `expiresAt` may lie at admission, ms. */
    expiryWindowMs: z.number().int().min(1000).max(30 * 24 * 3600 * 1000),
    /** Kinds any did:key may submit without being registered. */
    openKinds: z.array(z.string()).max(64),
    /** Hijack reports from this many distinct organisations quarantine a device (default 2). */
    quarantineOrgsMin: z.number().int().min(1).max(64).optional(),
    /** Per-signer rate limits, recorded for the API. */
    rateLimits: rateLimitsSchema.optional(),
  }),
  /** Keys that may register devices under namespace prefixes (`identity.register`). */
  authorities: z.array(z.strictObject({
    did: didKey,
    org: name,
    name: z.string().min(1).max(128),
    namespaces: z.array(namespacePrefix).min(1).max(16),
  })).max(256).optional(),
  /**
   * The rules version block 1 on executes under (default 1). A site whose
   * software supports a lower version refuses to open the ledger. Absent,
   * it is not written, so existing genesis files keep their hash.
   */
  rules: rulesVersion.optional(),
}).superRefine((g, ctx) => {
  // Optional fields are checked here so that existing genesis files (which
  // lack them) parse to the same value and keep their hash.
  const orgs = new Set(g.organisations.map((o) => o.id));
  const admins = new Set<string>();
  g.organisations.forEach((o, i) => {
    for (const d of o.admins ?? []) {
      if (admins.has(d)) {
        ctx.addIssue({
          code: "custom",
          path: ["organisations", i, "admins"],
          message: `${d} is an admin of two organisations`,
        });
      }
      admins.add(d);
    }
  });
  // One key is one site: a key under two names would sign two of a
  // checkpoint's lines and count twice towards its quorum.
  const siteNames = new Set<string>();
  const siteKeys = new Set<string>();
  g.sites.forEach((s, i) => {
    if (siteNames.has(s.name)) {
      ctx.addIssue({ code: "custom", path: ["sites", i, "name"], message: "duplicate site name" });
    }
    if (siteKeys.has(s.publicKey)) {
      ctx.addIssue({
        code: "custom",
        path: ["sites", i, "publicKey"],
        message: "the key of another site: each site has a key of its own",
      });
    }
    siteNames.add(s.name);
    siteKeys.add(s.publicKey);
  });
  const authorities = new Set<string>();
  (g.authorities ?? []).forEach((a, i) => {
    if (!orgs.has(a.org)) {
      ctx.addIssue({
        code: "custom",
        path: ["authorities", i, "org"],
        message: "unknown organisation",
      });
    }
    if (authorities.has(a.did)) {
      ctx.addIssue({
        code: "custom",
        path: ["authorities", i, "did"],
        message: "duplicate authority",
      });
    }
    authorities.add(a.did);
  });
});

/** A parsed genesis config. */
export type GenesisConfig = z.infer<typeof genesisSchema>;

/** The domain-separated hash that block 0's `prev` carries. */
export function genesisConfigHash(config: GenesisConfig): string {
  return sha256Hex(utf8Encode("edgeledger/genesis/v1\n" + canonicalJson(config)));
}

/** Block 0 of the ledger that `config` describes. */
export function genesisBlock(config: GenesisConfig): { header: BlockHeader; hash: string } {
  const header: BlockHeader = {
    v: 1,
    ledger: config.ledger,
    height: 0,
    prev: genesisConfigHash(config),
    time: config.time,
    term: 0,
    proposer: "genesis",
    txCount: 0,
    logSize: 0,
    logRoot: hexEncode(EMPTY_ROOT),
  };
  return { header, hash: blockHash(header) };
}

/** One state row written with block 0. */
export interface GenesisStateWrite {
  ns: string;
  key: string;
  /** JSON value. */
  value: unknown;
}

/**
 * The first `gov.*` state, derived from the config and written with block 0
 * (the config hash in block 0 commits to it): the consortium's organisation
 * list, each organisation with its admins, sites and authorities, the
 * admin, site-key and authority indexes, the policy record, and with a
 * genesis `rules` the rules record (in force from height 0). Sorted by
 * (ns, key), so every site writes the same rows in the same order.
 */
export function genesisState(config: GenesisConfig): GenesisStateWrite[] {
  const writes: GenesisStateWrite[] = [];
  const orgs = new Map<string, OrgRecord>();
  for (const o of config.organisations) {
    orgs.set(o.id, {
      id: o.id,
      name: o.name,
      admins: [...(o.admins ?? [])].sort(),
      sites: [],
      authorities: [],
      since: 0,
    });
    for (const d of o.admins ?? []) {
      writes.push({ ns: ADMIN_NS, key: d, value: { org: o.id, since: 0 } });
    }
  }
  for (const s of config.sites) {
    const did = siteKeyDid(s.publicKey);
    if (did === undefined) {
      throw new Error(`Cannot derive genesis state: site ${s.name} has an invalid key`);
    }
    const site: SiteRecord = {
      name: s.name,
      org: s.org,
      publicKey: s.publicKey,
      did,
      url: s.url,
      since: 0,
    };
    writes.push({ ns: SITE_NS, key: s.name, value: site });
    writes.push({ ns: SITE_KEY_NS, key: did, value: { site: s.name, org: s.org } });
    orgs.get(s.org)?.sites.push(s.name);
  }
  for (const a of config.authorities ?? []) {
    const record: AuthorityRecord = {
      did: a.did,
      org: a.org,
      name: a.name,
      namespaces: [...a.namespaces].sort(),
      since: 0,
    };
    writes.push({ ns: AUTHORITY_NS, key: a.did, value: record });
    orgs.get(a.org)?.authorities.push(a.did);
  }
  for (const org of orgs.values()) {
    org.sites.sort();
    org.authorities.sort();
    writes.push({ ns: ORG_NS, key: org.id, value: org });
  }
  writes.push({ ns: CONSORTIUM_NS, key: CONSORTIUM_KEY, value: { orgs: [...orgs.keys()].sort() } });
  const policy: Policy = {
    expiryWindowMs: config.policies.expiryWindowMs,
    openKinds: [...new Set(config.policies.openKinds)],
    quarantineOrgsMin: config.policies.quarantineOrgsMin ?? QUARANTINE_ORGS_MIN_DEFAULT,
    ...(config.policies.rateLimits ? { rateLimits: config.policies.rateLimits } : {}),
  };
  writes.push({ ns: POLICY_NS, key: POLICY_KEY, value: policy });
  if (config.rules !== undefined) {
    const rules: RulesRecord = { version: config.rules, height: 0 };
    writes.push({ ns: RULES_NS, key: RULES_KEY, value: rules });
  }
  return writes.sort((a, b) => cmp(a.ns, b.ns) || cmp(a.key, b.key));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
