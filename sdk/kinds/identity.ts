/**
 * Body schemas of the `identity.*` transaction kinds (protocol: DESIGN §5).
 *
 * A device has a stable name under an authority's namespace prefix (e.g.
 * `demo/cameras/cam-17`), a current key (a did:key) that signs its
 * transactions, and a status: `active`, `quarantined` (reported hijacked by
 * enough distinct organisations; its key is refused at admission until its
 * authority lifts the quarantine) or `revoked` (final). Its W3C DID is
 * {@link deviceDid}: `did:edgeledger:<ledger>:<name with "/" as ":">`.
 *
 * Kinds that act on an existing device name both the device and its current
 * `key`: the site prefetches the key's status row by it, and a transaction
 * written against a key that has since been rotated is rejected
 * (`stale_key`) rather than applied to the wrong key.
 *
 * @module
 */
import { z } from "zod";
import { createEnvelope, type Envelope, signEnvelope } from "../envelope.ts";
import type { Signer } from "../keys.ts";
import { didKey } from "./gov.ts";
import { checkBody } from "./_common.ts";

/** Longest device name, in characters. */
export const DEVICE_NAME_CHARS_MAX = 128;

/** A device name: `/`-separated segments of `[a-z0-9._-]`, e.g. `demo/cameras/cam-17`. */
export const deviceName = z.string().max(DEVICE_NAME_CHARS_MAX).regex(
  /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)+$/,
  "must be '/'-separated segments of a-z, 0-9, '.', '_', '-' under a namespace",
);

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex characters");

/**
 * A device's registered attributes. Identifiers that name a subscriber
 * (IMEI, ICCID) are recorded only as hex SHA-256 hashes; `owner` is the
 * did:key that may revoke the device besides its authority.
 */
export const deviceAttributes = z.strictObject({
  model: z.string().min(1).max(128),
  imeiHash: sha256Hex.optional(),
  iccidHash: sha256Hex.optional(),
  owner: didKey.optional(),
});
/**
 * A device's registered attributes: its `model`, optional hex SHA-256
 * hashes of its IMEI and ICCID (never the identifiers themselves), and an
 * optional `owner` did:key that may revoke the device besides its authority.
 */
export type DeviceAttributes = z.infer<typeof deviceAttributes>;

/**
 * `identity.register`: signed by an authority whose namespace covers `name`
 * AND by `key` (the device proves it holds the key).
 */
export const identityRegisterBody = z.strictObject({
  name: deviceName,
  key: didKey,
  attributes: deviceAttributes,
});
/**
 * The body of `identity.register`, signed by an authority whose namespace
 * covers `name` and by the device's `key` (proving it holds the key):
 * registers device `name` (e.g. `demo/cameras/cam-17`) with its current
 * did:key and its `attributes`.
 */
export type IdentityRegisterBody = z.infer<typeof identityRegisterBody>;

/** `identity.rotate`: signed by the current `key` AND by `newKey`. */
export const identityRotateBody = z.strictObject({
  device: deviceName,
  key: didKey,
  newKey: didKey,
}).refine((b) => b.key !== b.newKey, { message: "must differ from key", path: ["newKey"] });
/**
 * The body of `identity.rotate`, signed by the current `key` and by
 * `newKey`: `device`'s key becomes `newKey`. Rejected `stale_key` when `key`
 * is no longer the device's current key.
 */
export type IdentityRotateBody = z.infer<typeof identityRotateBody>;

/** `identity.revoke`: signed by an authority covering the device or by its owner. Final. */
export const identityRevokeBody = z.strictObject({
  device: deviceName,
  key: didKey,
  reason: z.string().max(256).optional(),
});
/**
 * The body of `identity.revoke`, signed by an authority covering `device` or
 * by its owner: revokes the device for good. `key` must be its current key;
 * `reason` is free text.
 */
export type IdentityRevokeBody = z.infer<typeof identityRevokeBody>;

/**
 * `identity.flag`: a hijack report, signed by ONE reporter that belongs to
 * an organisation (a site key, an admin, an authority, or an active device
 * such as a gateway). Reports from `quarantineOrgsMin` distinct
 * organisations quarantine the device; a report counts only while its
 * organisation is a member without a removal since the report.
 */
export const identityFlagBody = z.strictObject({
  device: deviceName,
  key: didKey,
  reason: z.string().min(1).max(256),
});
/**
 * The body of `identity.flag`: a hijack report on `device` (whose current
 * key is `key`) with a `reason`, signed by one reporter of an organisation
 * (a site key, an admin, an authority or an active device such as a
 * gateway). Reports from `quarantineOrgsMin` distinct organisations
 * quarantine the device.
 */
export type IdentityFlagBody = z.infer<typeof identityFlagBody>;

/** `identity.unquarantine`: signed by an authority covering the device. */
export const identityUnquarantineBody = z.strictObject({
  device: deviceName,
  key: didKey,
  reason: z.string().max(256).optional(),
});
/**
 * The body of `identity.unquarantine`, signed by an authority covering
 * `device`: lifts its quarantine. `key` must be its current key; `reason` is
 * free text.
 */
export type IdentityUnquarantineBody = z.infer<typeof identityUnquarantineBody>;

/** Every `identity.*` kind's body schema. */
export const IDENTITY_BODIES = {
  "identity.register": identityRegisterBody,
  "identity.rotate": identityRotateBody,
  "identity.revoke": identityRevokeBody,
  "identity.flag": identityFlagBody,
  "identity.unquarantine": identityUnquarantineBody,
} as const;

/** The DID method of devices. */
export const DEVICE_DID_METHOD = "edgeledger";

/** The W3C DID of device `name` on `ledger`, e.g. `did:edgeledger:demo:demo:cam-17`. */
export function deviceDid(ledger: string, name: string): string {
  return `did:${DEVICE_DID_METHOD}:${ledger}:${name.replaceAll("/", ":")}`;
}

/**
 * The ledger and device name of a device DID, or undefined when `did` is not
 * one. Inverse of {@link deviceDid}.
 */
export function parseDeviceDid(did: string): { ledger: string; name: string } | undefined {
  const m = /^did:edgeledger:([a-z0-9][a-z0-9._-]*):([a-z0-9._:-]+)$/.exec(did);
  if (m === null) return undefined;
  const name = m[2].replaceAll(":", "/");
  return deviceName.safeParse(name).success ? { ledger: m[1], name } : undefined;
}

/** Where and how long an identity envelope lives. */
export interface IdentityTxOptions {
  ledger: string;
  /** Lifetime from now in ms (default 1 h). */
  ttlMs?: number;
  /** Absolute expiry in ms; wins over `ttlMs`. */
  expiresAt?: number;
  now?: number;
}

async function signed<K extends keyof typeof IDENTITY_BODIES>(
  kind: K,
  body: z.input<(typeof IDENTITY_BODIES)[K]>,
  signers: Signer[],
  options: IdentityTxOptions,
): Promise<Envelope> {
  checkBody(IDENTITY_BODIES[kind], kind, body);
  const { ledger, ttlMs, expiresAt, now } = options;
  const unsigned = createEnvelope({
    ledger,
    kind,
    body,
    signers: signers.map((s) => s.did),
    ...(ttlMs !== undefined ? { ttlMs } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
    ...(now !== undefined ? { now } : {}),
  });
  return await signEnvelope(unsigned, signers);
}

/**
 * A signed `identity.register` of `device`'s key as `name`, signed by the
 * authority and the device (proof of possession).
 *
 * @example
 * ```ts
 * const env = await registerDevice({
 *   ledger: "demo", name: "demo/cameras/cam-17", attributes: { model: "CAM-4K" },
 *   authority: softwareSigner(authorityKey), device: softwareSigner(cameraKey),
 * });
 * await client.submit(env, { wait: "commit" });
 * ```
 */
export function registerDevice(
  options: IdentityTxOptions & {
    name: string;
    attributes: DeviceAttributes;
    authority: Signer;
    device: Signer;
  },
): Promise<Envelope> {
  const { name, attributes, authority, device } = options;
  return signed(
    "identity.register",
    { name, key: device.did, attributes },
    [authority, device],
    options,
  );
}

/** A signed `identity.rotate` of `device` from `current` to `next`, signed by both keys. */
export function rotateDeviceKey(
  options: IdentityTxOptions & { device: string; current: Signer; next: Signer },
): Promise<Envelope> {
  const { device, current, next } = options;
  return signed(
    "identity.rotate",
    { device, key: current.did, newKey: next.did },
    [current, next],
    options,
  );
}

/** A signed `identity.revoke` of `device` (current key `key`) by its authority or owner. */
export function revokeDevice(
  options: IdentityTxOptions & { device: string; key: string; by: Signer; reason?: string },
): Promise<Envelope> {
  const { device, key, by, reason } = options;
  return signed(
    "identity.revoke",
    { device, key, ...(reason !== undefined ? { reason } : {}) },
    [by],
    options,
  );
}

/** A signed `identity.flag` (hijack report) on `device` by one `reporter`. */
export function flagDevice(
  options: IdentityTxOptions & { device: string; key: string; reporter: Signer; reason: string },
): Promise<Envelope> {
  const { device, key, reporter, reason } = options;
  return signed("identity.flag", { device, key, reason }, [reporter], options);
}

/** A signed `identity.unquarantine` of `device` by an authority covering it. */
export function unquarantineDevice(
  options: IdentityTxOptions & {
    device: string;
    key: string;
    authority: Signer;
    reason?: string;
  },
): Promise<Envelope> {
  const { device, key, authority, reason } = options;
  return signed(
    "identity.unquarantine",
    { device, key, ...(reason !== undefined ? { reason } : {}) },
    [authority],
    options,
  );
}
