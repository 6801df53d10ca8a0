/**
 * `access.*`: consent records — a stream's owner grants a reader access for
 * a period and purpose, and revokes it.
 *
 * State, one record per grant written under two keys so that both listings
 * are prefix ranges:
 *
 * - `access.grant/<stream>\u0001<reader>\u0001<grant id>` → {@link GrantRecord}
 *   (a stream's grants; a stream and reader's grants, for checks at time T);
 * - `access.reader/<reader>\u0001<stream>\u0001<grant id>` → the same record
 *   (a reader's grants).
 *
 * Owner and reader are did:keys. After a device rotates one of them, its
 * current key acts in its place ({@link actingSigner}): the new key of a
 * stream's owner grants and revokes access to the stream, and the new key of
 * a reader renounces the grants its old key received. Grants keep the keys
 * they were made with.
 *
 * @module
 */
import {
  type AccessGrantBody,
  accessGrantBody,
  type AccessRevokeBody,
  accessRevokeBody,
} from "../../sdk/kinds/access.ts";
import { gated } from "./_gate.ts";
import { actingSigner, actingSignerKeys } from "./_holder.ts";
import { compositeKey } from "./_keys.ts";
import { type Contract, Rejection } from "./contract.ts";
import { STREAM_NS, type StreamState } from "./data_anchor.ts";

export const GRANT_NS = "access.grant";
export const READER_GRANT_NS = "access.reader";

/** A grant: who may read which stream, why, and when. */
export interface GrantRecord {
  /** The grant id: the `access.grant` transaction id. */
  grant: string;
  stream: string;
  owner: string;
  reader: string;
  purpose: string;
  /** Start of access, ms: the later of the requested `from` and the grant's block time. */
  from: number;
  /** End of access as granted, ms (exclusive). */
  until: number;
  /** Block time of the grant, ms. */
  grantedAt: number;
  height: number;
  revokedAt?: number;
  revokedBy?: string;
  revokedTx?: string;
  reason?: string;
}

/** The key of a grant in {@link GRANT_NS}. */
export function grantKey(stream: string, reader: string, grant: string): string {
  return compositeKey(stream, reader, grant);
}

/** The key of a grant in {@link READER_GRANT_NS}. */
export function readerGrantKey(reader: string, stream: string, grant: string): string {
  return compositeKey(reader, stream, grant);
}

/** Whether `g` lets its reader read at `at` (ms): `from <= at < min(until, revokedAt)`. */
export function grantActiveAt(g: GrantRecord, at: number): boolean {
  const end = g.revokedAt === undefined ? g.until : Math.min(g.until, g.revokedAt);
  return g.from <= at && at < end;
}

/** `access.grant`: signed by the stream's owner (or its device's current key). */
export const accessGrant: Contract<AccessGrantBody> = gated({
  kind: "access.grant",
  body: accessGrantBody,
  authorize() {},
  touches(tx) {
    const { stream, reader } = tx.body;
    return [
      { ns: STREAM_NS, key: stream },
      { ns: GRANT_NS, key: grantKey(stream, reader, tx.txId) },
      { ns: READER_GRANT_NS, key: readerGrantKey(reader, stream, tx.txId) },
      ...actingSignerKeys(tx.signers),
    ];
  },
  apply(tx, state) {
    const { stream, reader, purpose, from, until } = tx.body;
    const owned = state.get<StreamState>(STREAM_NS, stream);
    if (owned === undefined) {
      throw new Rejection(
        "access_stream_unknown",
        `Cannot grant access to unknown stream "${stream}"`,
      );
    }
    if (actingSigner(owned.owner, tx.signers, state) === undefined) {
      throw new Rejection(
        "access_not_owner",
        `Cannot grant access to stream "${stream}": only its owner ${owned.owner} may`,
      );
    }
    if (until <= tx.time) {
      throw new Rejection(
        "access_period_over",
        `Cannot grant access until ${until}: the block's time is already ${tx.time}`,
      );
    }
    const record: GrantRecord = {
      grant: tx.txId,
      stream,
      owner: owned.owner,
      reader,
      purpose,
      from: Math.max(from, tx.time),
      until,
      grantedAt: tx.time,
      height: tx.height,
    };
    state.put(GRANT_NS, grantKey(stream, reader, tx.txId), record);
    state.put(READER_GRANT_NS, readerGrantKey(reader, stream, tx.txId), record);
    return { grant: tx.txId, stream, reader, from: record.from, until };
  },
});

/**
 * `access.revoke`: by the stream's owner, or the reader renouncing the grant
 * (either through its device's current key after a rotation).
 */
export const accessRevoke: Contract<AccessRevokeBody> = gated({
  kind: "access.revoke",
  body: accessRevokeBody,
  authorize() {},
  touches(tx) {
    const { stream, reader, grant } = tx.body;
    return [
      { ns: GRANT_NS, key: grantKey(stream, reader, grant) },
      { ns: READER_GRANT_NS, key: readerGrantKey(reader, stream, grant) },
      ...actingSignerKeys(tx.signers),
    ];
  },
  apply(tx, state) {
    const { stream, reader, grant, reason } = tx.body;
    const g = state.get<GrantRecord>(GRANT_NS, grantKey(stream, reader, grant));
    if (g === undefined) {
      throw new Rejection(
        "access_grant_unknown",
        `Cannot revoke grant ${grant}: no such grant of stream "${stream}" to ${reader}`,
      );
    }
    // `by` is the signer that acted: for the owner if one did, else for the reader.
    const by = actingSigner(g.owner, tx.signers, state) ??
      actingSigner(g.reader, tx.signers, state);
    if (by === undefined) {
      throw new Rejection(
        "access_not_owner",
        `Cannot revoke grant ${grant}: only the owner ${g.owner} or the reader may`,
      );
    }
    if (g.revokedAt !== undefined) {
      throw new Rejection(
        "access_already_revoked",
        `Cannot revoke grant ${grant}: revoked at ${g.revokedAt}`,
      );
    }
    const record: GrantRecord = {
      ...g,
      revokedAt: tx.time,
      revokedBy: by,
      revokedTx: tx.txId,
      ...(reason !== undefined ? { reason } : {}),
    };
    state.put(GRANT_NS, grantKey(stream, reader, grant), record);
    state.put(READER_GRANT_NS, readerGrantKey(reader, stream, grant), record);
    return { grant, revokedAt: tx.time };
  },
});

/** Every `access.*` contract. */
export const accessContracts = [accessGrant, accessRevoke] as const;
