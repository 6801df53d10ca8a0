/**
 * `data.anchor`: a device anchors the Merkle root of a batch of readings on a
 * stream it owns.
 *
 * State: `data.stream/<stream>` → {@link StreamState}; `data.anchor/<stream>
 * \u0000<seq as 16 hex digits>` → the anchor, so a prefix range lists a
 * stream's anchors in sequence order.
 *
 * A stream belongs to its first signer for good. After that key's device
 * rotates it, the device's current key anchors on the stream instead
 * ({@link actingSigner}): the stream keeps its owner and its `seq`, so the
 * next anchor simply continues with a larger `seq`.
 *
 * @module
 */
import { type DataAnchorBody, dataAnchorBody } from "../../sdk/kinds/data.ts";
import { actingSigner, actingSignerKeys } from "./_holder.ts";
import { type Contract, Rejection, type StateKey } from "./contract.ts";

/** Per-stream state. */
export interface StreamState {
  owner: string;
  lastSeq: number;
  anchors: number;
  firstHeight: number;
  lastHeight: number;
}

/** A stored anchor, the read model for a stream's history. */
export interface AnchorRecord extends DataAnchorBody {
  txId: string;
  height: number;
  /**
   * The key that anchored for the stream's owner (from rules 4; up to
   * rules 3 the envelope's first signer, see `apply`).
   */
  signer: string;
}

export const STREAM_NS = "data.stream";
export const ANCHOR_NS = "data.anchor";

/** The state key of anchor `seq` of `stream`; sorts by sequence within a stream. */
export function anchorKey(stream: string, seq: number): string {
  return `${stream}\u0000${seq.toString(16).padStart(16, "0")}`;
}

/** The `data.anchor` contract. */
export const dataAnchor: Contract<DataAnchorBody> = {
  kind: "data.anchor",
  body: dataAnchorBody,
  authorize() {
    // Any did:key may anchor on the local ledger; stream ownership is
    // order-dependent and checked in apply.
  },
  touches(tx): StateKey[] {
    return [
      { ns: STREAM_NS, key: tx.body.stream },
      { ns: ANCHOR_NS, key: anchorKey(tx.body.stream, tx.body.seq) },
      ...actingSignerKeys(tx.signers),
    ];
  },
  apply(tx, state) {
    const { stream, seq } = tx.body;
    const owner = tx.signers[0];
    const current = state.get<StreamState>(STREAM_NS, stream);
    // The key recorded as the anchor's signer: the stream's first signer on
    // a new stream. On an existing one, from rules 4 the key that acted for
    // its owner (the owner or the owner's device's current key); up to 3 the
    // envelope's first signer, which may be any co-signer.
    let signer = owner;
    if (current !== undefined) {
      const acting = actingSigner(current.owner, tx.signers, state);
      if (acting === undefined) {
        throw new Rejection(
          "stream_not_owner",
          `Cannot anchor on stream "${stream}": it belongs to ${current.owner}`,
        );
      }
      if (tx.rules >= 4) signer = acting;
      if (seq <= current.lastSeq) {
        throw new Rejection(
          "stream_seq_not_increasing",
          `Cannot anchor seq ${seq} on stream "${stream}": last seq is ${current.lastSeq}`,
        );
      }
    }
    const next: StreamState = current === undefined
      ? { owner, lastSeq: seq, anchors: 1, firstHeight: tx.height, lastHeight: tx.height }
      : { ...current, lastSeq: seq, anchors: current.anchors + 1, lastHeight: tx.height };
    state.put(STREAM_NS, stream, next);
    const record: AnchorRecord = { ...tx.body, txId: tx.txId, height: tx.height, signer };
    state.put(ANCHOR_NS, anchorKey(stream, seq), record);
    return { stream, seq, owner: next.owner };
  },
};
