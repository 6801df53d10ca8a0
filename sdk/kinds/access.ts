/**
 * Body schemas of the `access.*` kinds: a data owner (a patient, a fleet
 * operator) grants a reader access to a stream for a period and a purpose,
 * and revokes it. The ledger records consent; it never holds the data.
 *
 * The owner of a stream is the key that owns it under `data.anchor` (its
 * first signer). A grant's id is its transaction id. Once a device has
 * rotated the owner's or the reader's key out, that device's current key
 * signs in its place.
 *
 * @module
 */
import { z } from "zod";
import type { Envelope } from "../envelope.ts";
import type { Signer } from "../keys.ts";
import { dataAnchorBody } from "./data.ts";
import { type BuilderOptions, did, hex64, millis, signedTx, text } from "./_common.ts";

/** A stream name as `data.anchor` has it, without control characters (they order state keys). */
export const grantStream = dataAnchorBody.shape.stream.refine(
  // deno-lint-ignore no-control-regex
  (s) => !/[\u0000-\u001f]/.test(s),
  "must not contain control characters",
);

/**
 * `access.grant`: the stream's owner lets `reader` read it for `purpose`
 * during `[from, until)` (ms). A grant cannot be backdated: it takes effect
 * at the later of `from` and its block's time.
 *
 * Refused at apply: `access_stream_unknown`, `access_not_owner`,
 * `access_period_over` (`until` is not after the block's time).
 */
export const accessGrantBody = z.strictObject({
  stream: grantStream,
  reader: did,
  purpose: text(256),
  from: millis,
  until: millis,
}).refine((b) => b.from < b.until, { message: "until must be after from", path: ["until"] });

/**
 * `access.revoke`: ends grant `grant` (its transaction id) at the block's
 * time. Signed by the stream's owner, or by the reader renouncing it.
 *
 * Refused at apply: `access_grant_unknown`, `access_not_owner`,
 * `access_already_revoked`.
 */
export const accessRevokeBody = z.strictObject({
  stream: grantStream,
  reader: did,
  grant: hex64,
  reason: text(256).optional(),
});

/**
 * The body of `access.grant`, signed by the stream's owner (the first signer
 * of its first `data.anchor`): `reader` (a did:key) may read `stream` for
 * `purpose` during `[from, until)`, both in ms since the epoch. The grant's
 * id is its transaction id; it takes effect no earlier than its block's time.
 */
export type AccessGrantBody = z.infer<typeof accessGrantBody>;
/**
 * The body of `access.revoke`: ends grant `grant` (the hex transaction id of
 * its `access.grant`) on `stream` for `reader` at the block's time. Signed by
 * the stream's owner, or by the reader giving the grant up; `reason` is free
 * text.
 */
export type AccessRevokeBody = z.infer<typeof accessRevokeBody>;

/** The body schema of every `access.*` kind. */
export const ACCESS_BODIES = {
  "access.grant": accessGrantBody,
  "access.revoke": accessRevokeBody,
} as const;

/** A signed `access.grant` by the stream's owner; its transaction id is the grant id. */
export async function grantAccess(
  body: AccessGrantBody,
  owner: Signer,
  options: BuilderOptions,
): Promise<Envelope> {
  return await signedTx(accessGrantBody, "access.grant", body, [owner], options);
}

/** A signed `access.revoke` by the stream's owner (or the reader). */
export async function revokeAccess(
  body: AccessRevokeBody,
  signer: Signer,
  options: BuilderOptions,
): Promise<Envelope> {
  return await signedTx(accessRevokeBody, "access.revoke", body, [signer], options);
}
