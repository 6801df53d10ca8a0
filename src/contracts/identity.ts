/**
 * `identity.*`: devices registered under an authority's namespace, their
 * keys, revocation, and quarantine after hijack reports from several
 * organisations.
 *
 * State:
 *
 * - `identity.device/<name>` → {@link DeviceRecord}: status, current key,
 *   attributes, key history, open hijack reports and a bounded event
 *   history (the full history is the log).
 * - `identity.status/<did>` → `KeyStatusRecord` for every key a device ever
 *   had: `active` for the current key of an active device, `quarantined`
 *   for that of a quarantined one, `revoked` for a revoked device's key and
 *   for every rotated-out key (`reason: "rotated"`). Admission on every
 *   site refuses signers whose row says `revoked` or `quarantined`. The row
 *   of a device's current key also lists the device's earlier keys
 *   (`earlierKeys`, from the record's `keys`): while it is `active`, the
 *   current key acts for what the device holds under them (`_holder.ts`).
 * - `identity.owner/<did>` → `OwnerRecord`: owners are registered parties.
 *
 * Rules are re-checked at apply against the state at that point of the
 * log, so two sites admitting conflicting transactions yield one outcome.
 *
 * @module
 */
import {
  type DeviceAttributes,
  type IdentityFlagBody,
  identityFlagBody,
  type IdentityRegisterBody,
  identityRegisterBody,
  type IdentityRevokeBody,
  identityRevokeBody,
  type IdentityRotateBody,
  identityRotateBody,
  type IdentityUnquarantineBody,
  identityUnquarantineBody,
} from "../../sdk/kinds/identity.ts";
import { QUARANTINE_ORGS_MIN_DEFAULT } from "../../sdk/kinds/gov.ts";
import {
  AdmissionRefusal,
  type Contract,
  Rejection,
  type StateAccess,
  type StateKey,
} from "./contract.ts";
import {
  ADMIN_NS,
  type AdminRecord,
  AUTHORITY_NS,
  type AuthorityRecord,
  checkSignerGate,
  CONSORTIUM_KEY,
  CONSORTIUM_NS,
  type ConsortiumRecord,
  IDENTITY_OWNER_NS,
  IDENTITY_STATUS_NS,
  type IntroducesSigners,
  joinedEpoch,
  type KeyStatusRecord,
  type OwnerRecord,
  type Policy,
  POLICY_KEY,
  POLICY_NS,
  signerGateKeys,
  SITE_KEY_NS,
  type SiteKeyRecord,
} from "./gov.ts";
import { assert } from "../chain/assert.ts";
import { actingSigner, actingSignerKeys } from "./_holder.ts";

export const DEVICE_NS = "identity.device";

/** Most past keys a device record lists (older ones are in the log). */
export const DEVICE_KEYS_MAX = 16;
/** Most events a device record lists (older ones are in the log). */
export const DEVICE_EVENTS_MAX = 64;

/** One key a device has had; `until` is the height it was rotated out at. */
export interface DeviceKey {
  key: string;
  from: number;
  until?: number;
}

/**
 * A hijack report counted toward quarantine: the first from each
 * organisation during its current membership.
 */
export interface HijackReport {
  org: string;
  reporter: string;
  reason: string;
  txId: string;
  height: number;
  time: number;
  /**
   * The consortium's membership epoch when the report applied
   * (`ConsortiumRecord.epoch`; absent means 0). The report counts while
   * `org` is an organisation that joined at or before it: not once `org`
   * is removed, nor after `org` is added again.
   */
  epoch?: number;
}

/**
 * Whether `r` counts toward quarantine under consortium `c`: its
 * organisation is a current one, and the report was made during that
 * organisation's current membership (see {@link joinedEpoch}).
 */
export function reportCounts(r: HijackReport, c: ConsortiumRecord | undefined): boolean {
  const joined = joinedEpoch(c, r.org);
  return joined !== undefined && (r.epoch ?? 0) >= joined;
}

/** One entry of a device's history. */
export interface DeviceEvent {
  event: "registered" | "rotated" | "revoked" | "flagged" | "quarantined" | "unquarantined";
  txId: string;
  height: number;
  time: number;
  signers: string[];
  detail?: string;
}

/** `identity.device/<name>`. */
export interface DeviceRecord {
  name: string;
  status: "active" | "revoked" | "quarantined";
  /** The current key (for a revoked device, the last one). */
  key: string;
  /** The authority that registered it, its organisation, and the prefix that covered the name. */
  authority: string;
  org: string;
  namespace: string;
  attributes: DeviceAttributes;
  registered: { txId: string; height: number; time: number };
  /** Keys, oldest first, at most {@link DEVICE_KEYS_MAX}. */
  keys: DeviceKey[];
  /**
   * Open hijack reports (one per organisation), cleared by un-quarantine.
   * Each new report first drops those that no longer count (see
   * {@link reportCounts}); until then a removed organisation's report is
   * listed but not counted.
   */
  reports: HijackReport[];
  /** Most recent events, oldest first, at most {@link DEVICE_EVENTS_MAX}. */
  events: DeviceEvent[];
  /** Events dropped from `events` to keep it bounded. */
  eventsDropped: number;
}

type Kind<B> = Contract<B> & IntroducesSigners<B>;

function deviceKeys(device: string, key: string): StateKey[] {
  return [{ ns: DEVICE_NS, key: device }, { ns: IDENTITY_STATUS_NS, key }];
}

function requireSigners(kind: string, signers: readonly string[], needed: string[]): void {
  for (const d of needed) {
    if (!signers.includes(d)) {
      throw new AdmissionRefusal("unauthorized_signer", `Cannot accept ${kind}: ${d} must sign it`);
    }
  }
}

/** The device named `name` whose current key is `key`, or a rejection. */
function currentDevice(
  state: StateAccess,
  kind: string,
  name: string,
  key: string,
): DeviceRecord {
  const d = state.get<DeviceRecord>(DEVICE_NS, name);
  if (d === undefined) {
    throw new Rejection("unknown_device", `Cannot apply ${kind}: no device ${name}`);
  }
  if (d.key !== key) {
    throw new Rejection(
      "stale_key",
      `Cannot apply ${kind}: ${key} is not the current key of ${name}`,
    );
  }
  return d;
}

function requireNotRevoked(d: DeviceRecord, kind: string): void {
  if (d.status === "revoked") {
    throw new Rejection("device_revoked", `Cannot apply ${kind}: device ${d.name} is revoked`);
  }
}

/** The authority records among the signers that cover `name` (one of their prefixes starts it). */
function coveringAuthorities(
  state: StateAccess,
  signers: readonly string[],
  name: string,
): { authorities: AuthorityRecord[]; covering: Array<{ a: AuthorityRecord; prefix: string }> } {
  const authorities = signers
    .map((s) => state.get<AuthorityRecord>(AUTHORITY_NS, s))
    .filter((a): a is AuthorityRecord => a !== undefined);
  const covering = authorities.flatMap((a) => {
    const prefix = a.namespaces.find((p) => name.startsWith(p));
    return prefix === undefined ? [] : [{ a, prefix }];
  });
  return { authorities, covering };
}

function requireAuthority(
  state: StateAccess,
  kind: string,
  signers: readonly string[],
  name: string,
): { a: AuthorityRecord; prefix: string } {
  const { authorities, covering } = coveringAuthorities(state, signers, name);
  if (authorities.length === 0) {
    throw new Rejection("not_an_authority", `Cannot apply ${kind}: no signer is an authority`);
  }
  if (covering.length === 0) {
    throw new Rejection(
      "namespace_not_authorised",
      `Cannot apply ${kind}: no signing authority covers ${name} (${
        authorities.flatMap((a) => a.namespaces).join(", ")
      })`,
    );
  }
  return covering[0];
}

function withEvent(d: DeviceRecord, e: DeviceEvent): DeviceRecord {
  const events = [...d.events, e];
  const drop = Math.max(0, events.length - DEVICE_EVENTS_MAX);
  return { ...d, events: events.slice(drop), eventsDropped: d.eventsDropped + drop };
}

function event(
  tx: { txId: string; height: number; time: number; signers: readonly string[] },
  kind: DeviceEvent["event"],
  detail?: string,
): DeviceEvent {
  const e: DeviceEvent = {
    event: kind,
    txId: tx.txId,
    height: tx.height,
    time: tx.time,
    signers: [...tx.signers],
  };
  if (detail !== undefined) e.detail = detail;
  return e;
}

function keyStatus(
  d: Pick<DeviceRecord, "name" | "org">,
  status: KeyStatusRecord["status"],
  reason?: string,
): KeyStatusRecord {
  const r: KeyStatusRecord = { status, device: d.name, org: d.org };
  if (reason !== undefined) r.reason = reason;
  return r;
}

/**
 * The row of `d`'s current key (`d` as it is after the change): its status,
 * and the device's earlier keys as its record lists them, so that the
 * current key acts for them while it is active (`_holder.ts`). Written by
 * every kind that writes the current key's row, so the two never disagree.
 */
function currentKeyStatus(
  d: DeviceRecord,
  status: KeyStatusRecord["status"],
  reason?: string,
): KeyStatusRecord {
  const r = keyStatus(d, status, reason);
  const earlier = d.keys.map((k) => k.key).filter((k) => k !== d.key);
  // The record lists the current key last, once, within DEVICE_KEYS_MAX.
  assert(
    earlier.length === d.keys.length - 1 && d.keys.length <= DEVICE_KEYS_MAX,
    `device ${d.name} lists its current key once, within ${DEVICE_KEYS_MAX} keys`,
  );
  if (earlier.length > 0) r.earlierKeys = earlier;
  return r;
}

/** `identity.register`. */
export const identityRegister: Kind<IdentityRegisterBody> = {
  kind: "identity.register",
  body: identityRegisterBody,
  introducedSigners: (tx) => [tx.body.key],
  authorize(tx) {
    requireSigners(tx.kind, tx.signers, [tx.body.key]);
    if (tx.signers.length < 2) {
      throw new AdmissionRefusal(
        "unauthorized_signer",
        `Cannot accept ${tx.kind}: an authority must co-sign with the device key`,
      );
    }
  },
  touches(tx) {
    const owner = tx.body.attributes.owner;
    return [
      ...deviceKeys(tx.body.name, tx.body.key),
      ...signerGateKeys(tx.signers),
      ...(owner === undefined ? [] : [{ ns: IDENTITY_OWNER_NS, key: owner }]),
    ];
  },
  apply(tx, state) {
    const { name, key, attributes } = tx.body;
    checkSignerGate(tx, state, [key]);
    const { a, prefix } = requireAuthority(
      state,
      tx.kind,
      tx.signers.filter((s) => s !== key),
      name,
    );
    if (state.get(DEVICE_NS, name) !== undefined) {
      throw new Rejection("device_exists", `Cannot register ${name}: it exists`);
    }
    const used = state.get<KeyStatusRecord>(IDENTITY_STATUS_NS, key);
    if (used !== undefined) {
      throw new Rejection("key_in_use", `Cannot register ${name}: ${key} is ${used.device}'s key`);
    }
    const device: DeviceRecord = {
      name,
      status: "active",
      key,
      authority: a.did,
      org: a.org,
      namespace: prefix,
      attributes,
      registered: { txId: tx.txId, height: tx.height, time: tx.time },
      keys: [{ key, from: tx.height }],
      reports: [],
      events: [event(tx, "registered")],
      eventsDropped: 0,
    };
    state.put(DEVICE_NS, name, device);
    state.put(IDENTITY_STATUS_NS, key, currentKeyStatus(device, "active"));
    if (attributes.owner !== undefined) {
      const o = state.get<OwnerRecord>(IDENTITY_OWNER_NS, attributes.owner);
      state.put(
        IDENTITY_OWNER_NS,
        attributes.owner,
        { devices: (o?.devices ?? 0) + 1, since: o?.since ?? tx.height } as OwnerRecord,
      );
    }
    return { device: name, key, authority: a.did, org: a.org };
  },
};

/** `identity.rotate`. */
export const identityRotate: Kind<IdentityRotateBody> = {
  kind: "identity.rotate",
  body: identityRotateBody,
  introducedSigners: (tx) => [tx.body.newKey],
  authorize(tx) {
    requireSigners(tx.kind, tx.signers, [tx.body.key, tx.body.newKey]);
  },
  touches(tx) {
    return [
      ...deviceKeys(tx.body.device, tx.body.key),
      { ns: IDENTITY_STATUS_NS, key: tx.body.newKey },
      ...signerGateKeys(tx.signers),
    ];
  },
  apply(tx, state) {
    const { device: name, key, newKey } = tx.body;
    const d = currentDevice(state, tx.kind, name, key);
    requireNotRevoked(d, tx.kind);
    if (d.status === "quarantined") {
      throw new Rejection(
        "device_quarantined",
        `Cannot rotate the key of ${name}: it is quarantined; its authority must lift that first`,
      );
    }
    checkSignerGate(tx, state, [newKey]);
    const used = state.get<KeyStatusRecord>(IDENTITY_STATUS_NS, newKey);
    if (used !== undefined) {
      throw new Rejection("key_in_use", `Cannot rotate to ${newKey}: it is ${used.device}'s key`);
    }
    const keys = [
      ...d.keys.map((
        k,
      ) => (k.key === key && k.until === undefined ? { ...k, until: tx.height } : k)),
      { key: newKey, from: tx.height },
    ];
    const next = withEvent(
      { ...d, key: newKey, keys: keys.slice(-DEVICE_KEYS_MAX) },
      event(tx, "rotated", newKey),
    );
    state.put(DEVICE_NS, name, next);
    state.put(IDENTITY_STATUS_NS, key, keyStatus(d, "revoked", "rotated"));
    state.put(IDENTITY_STATUS_NS, newKey, currentKeyStatus(next, "active"));
    return { device: name, key: newKey, previousKey: key };
  },
};

/** `identity.revoke`. */
export const identityRevoke: Kind<IdentityRevokeBody> = {
  kind: "identity.revoke",
  body: identityRevokeBody,
  introducedSigners: () => [],
  authorize() {
    // Who may revoke (a covering authority or the owner) depends on state.
  },
  touches(tx) {
    return [
      ...deviceKeys(tx.body.device, tx.body.key),
      ...signerGateKeys(tx.signers),
      ...actingSignerKeys(tx.signers),
    ];
  },
  apply(tx, state) {
    const { device: name, key, reason } = tx.body;
    checkSignerGate(tx, state);
    const d = currentDevice(state, tx.kind, name, key);
    requireNotRevoked(d, tx.kind);
    const owner = d.attributes.owner;
    // An owner that is itself a device key acts through its current key after a rotation.
    const byOwner = owner !== undefined && actingSigner(owner, tx.signers, state) !== undefined;
    const byAuthority = coveringAuthorities(state, tx.signers, name).covering.length > 0;
    if (!byOwner && !byAuthority) {
      throw new Rejection(
        "not_authority_or_owner",
        `Cannot revoke ${name}: only an authority covering it or its owner may`,
      );
    }
    const next = withEvent({ ...d, status: "revoked" }, event(tx, "revoked", reason));
    state.put(DEVICE_NS, name, next);
    state.put(IDENTITY_STATUS_NS, key, currentKeyStatus(next, "revoked", reason ?? "revoked"));
    return { device: name, key, deviceStatus: "revoked", by: byAuthority ? "authority" : "owner" };
  },
};

/**
 * The organisation a reporter speaks for: as a site key, an admin, an
 * authority, or an active device (a gateway), in that order.
 */
function reporterOrg(state: StateAccess, did: string): string | undefined {
  const site = state.get<SiteKeyRecord>(SITE_KEY_NS, did);
  if (site !== undefined) return site.org;
  const admin = state.get<AdminRecord>(ADMIN_NS, did);
  if (admin !== undefined) return admin.org;
  const authority = state.get<AuthorityRecord>(AUTHORITY_NS, did);
  if (authority !== undefined) return authority.org;
  const device = state.get<KeyStatusRecord>(IDENTITY_STATUS_NS, did);
  if (device?.status === "active") return device.org;
  return undefined;
}

/** `identity.flag`. */
export const identityFlag: Kind<IdentityFlagBody> = {
  kind: "identity.flag",
  body: identityFlagBody,
  introducedSigners: () => [],
  authorize(tx) {
    if (tx.signers.length !== 1) {
      throw new AdmissionRefusal(
        "unauthorized_signer",
        `Cannot accept ${tx.kind}: a report has exactly one reporter, not ${tx.signers.length}`,
      );
    }
  },
  touches(tx) {
    return [
      ...deviceKeys(tx.body.device, tx.body.key),
      ...signerGateKeys(tx.signers),
      { ns: CONSORTIUM_NS, key: CONSORTIUM_KEY },
    ];
  },
  apply(tx, state) {
    const { device: name, key, reason } = tx.body;
    checkSignerGate(tx, state);
    const d = currentDevice(state, tx.kind, name, key);
    requireNotRevoked(d, tx.kind);
    const reporter = tx.signers[0];
    const consortium = state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY);
    const orgs = consortium?.orgs ?? [];
    const org = reporterOrg(state, reporter);
    if (org === undefined || !orgs.includes(org)) {
      throw new Rejection(
        "reporter_unknown",
        `Cannot accept a report on ${name}: ${reporter} speaks for no organisation`,
      );
    }
    // Only reports of current organisations, made during their current
    // membership, count; the others are dropped here, never revived.
    const live = d.reports.filter((r) => reportCounts(r, consortium));
    const counted = !live.some((r) => r.org === org);
    const report: HijackReport = {
      org,
      reporter,
      reason,
      txId: tx.txId,
      height: tx.height,
      time: tx.time,
      epoch: consortium?.epoch ?? 0,
    };
    const reports = counted ? [...live, report] : live;
    const policy = state.get<Policy>(POLICY_NS, POLICY_KEY);
    const threshold = Math.max(
      1,
      Math.min(policy?.quarantineOrgsMin ?? QUARANTINE_ORGS_MIN_DEFAULT, orgs.length),
    );
    let next = withEvent({ ...d, reports }, event(tx, "flagged", `${org}: ${reason}`));
    const quarantine = d.status === "active" && reports.length >= threshold;
    if (quarantine) {
      next = withEvent(
        { ...next, status: "quarantined" },
        event(tx, "quarantined", reports.map((r) => r.org).join(",")),
      );
      state.put(IDENTITY_STATUS_NS, key, currentKeyStatus(next, "quarantined", "hijack reports"));
    }
    state.put(DEVICE_NS, name, next);
    return {
      device: name,
      org,
      counted,
      distinctOrgs: reports.length,
      droppedReports: d.reports.length - live.length,
      threshold,
      deviceStatus: next.status,
    };
  },
};

/** `identity.unquarantine`. */
export const identityUnquarantine: Kind<IdentityUnquarantineBody> = {
  kind: "identity.unquarantine",
  body: identityUnquarantineBody,
  introducedSigners: () => [],
  authorize() {
    // The device's covering authority is known only from state.
  },
  touches(tx) {
    return [...deviceKeys(tx.body.device, tx.body.key), ...signerGateKeys(tx.signers)];
  },
  apply(tx, state) {
    const { device: name, key, reason } = tx.body;
    checkSignerGate(tx, state);
    const d = currentDevice(state, tx.kind, name, key);
    requireNotRevoked(d, tx.kind);
    if (d.status !== "quarantined") {
      throw new Rejection(
        "device_not_quarantined",
        `Cannot lift quarantine: ${name} is ${d.status}`,
      );
    }
    requireAuthority(state, tx.kind, tx.signers, name);
    const next = withEvent(
      { ...d, status: "active", reports: [] },
      event(tx, "unquarantined", reason),
    );
    state.put(DEVICE_NS, name, next);
    state.put(IDENTITY_STATUS_NS, key, currentKeyStatus(next, "active"));
    return { device: name, key, deviceStatus: "active", clearedReports: d.reports.length };
  },
};

/** Every `identity.*` contract. */
export const IDENTITY_CONTRACTS: readonly Contract<never>[] = [
  identityRegister,
  identityRotate,
  identityRevoke,
  identityFlag,
  identityUnquarantine,
] as unknown as Contract<never>[];
