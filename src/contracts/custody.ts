/**
 * `custody.*`: items and their chain of custody, each hand-off signed by
 * giver and taker.
 *
 * State: `custody.item/<item>` → {@link ItemState}; `custody.step/<item>
 * \u0001<step as 16 hex digits>` → {@link StepRecord}, so a prefix range is
 * the item's provenance in order. A step's `txId` leads to its inclusion
 * proof (`GET /v1/txs/{txId}/proof`).
 *
 * An item is held by a did:key. After the holder's device rotates that key,
 * the device's current key signs for it ({@link actingSigner}): it attaches
 * anchors and gives the item on. A taker always signs as itself: the item
 * then goes to the key it names in `to`, its current one.
 *
 * A step may cite sensor anchors (`data.anchor`); each must have been made
 * before the step applies. Rules 3 checks the anchor itself; rules 1 and 2
 * checked only its stream and `seq` bound, so they accepted a `seq` the
 * stream skipped ({@link checkAnchors}).
 *
 * @module
 */
import {
  type AnchorRef,
  type CustodyAttachBody,
  custodyAttachBody,
  type CustodyCreateBody,
  custodyCreateBody,
  type CustodyHandoffBody,
  custodyHandoffBody,
} from "../../sdk/kinds/custody.ts";
import { gated } from "./_gate.ts";
import { actingSigner, actingSignerKeys } from "./_holder.ts";
import { compositeKey, hex16 } from "./_keys.ts";
import {
  AdmissionRefusal,
  type Contract,
  Rejection,
  type StateAccess,
  type StateKey,
} from "./contract.ts";
import {
  ANCHOR_NS,
  anchorKey,
  type AnchorRecord,
  STREAM_NS,
  type StreamState,
} from "./data_anchor.ts";

export const ITEM_NS = "custody.item";
export const STEP_NS = "custody.step";

/** An item as stored. */
export interface ItemState {
  item: string;
  description: string;
  attributes?: Record<string, string>;
  producer: string;
  holder: string;
  /** Number of steps so far; the next step's number. */
  steps: number;
  createdTx: string;
  createdHeight: number;
  lastTx: string;
  lastHeight: number;
}

/** One step of an item's provenance. */
export interface StepRecord {
  item: string;
  step: number;
  type: "create" | "handoff" | "attach";
  /** The holder after this step. */
  holder: string;
  from?: string;
  to?: string;
  location?: string;
  note?: string;
  anchors?: AnchorRef[];
  txId: string;
  height: number;
  /** Block time of the step, ms. */
  time: number;
}

/** The state key of step `step` of `item`; sorts by step within an item. */
export function stepKey(item: string, step: number): string {
  return compositeKey(item, hex16(step));
}

/**
 * The keys {@link checkAnchors} reads: each cited stream (rules 1 and 2)
 * and each cited anchor's row (rules 3). Both are declared under every
 * version, since planning knows no rules version (`Contract.touches`);
 * neither is ever written here.
 */
function anchorKeys(anchors: AnchorRef[] | undefined): StateKey[] {
  const refs = anchors ?? [];
  const streams = [...new Set(refs.map((a) => a.stream))];
  const rows = [...new Set(refs.map((a) => anchorKey(a.stream, a.seq)))];
  return [
    ...streams.map((key) => ({ ns: STREAM_NS, key })),
    ...rows.map((key) => ({ ns: ANCHOR_NS, key })),
  ];
}

/**
 * Rejects `custody_anchor_unknown` unless each cited anchor was made before
 * the step that cites it.
 *
 * - Rules 1 and 2: the anchor's stream exists and its `seq` is at most the
 *   stream's last. A `data.anchor` `seq` only has to increase, so this
 *   accepts a `seq` the stream skipped: an anchor that was never made.
 * - Rules 3: the anchor itself exists — the `data.anchor/<stream, seq>` row
 *   `data.anchor` wrote for it.
 */
function checkAnchors(anchors: AnchorRef[] | undefined, state: StateAccess, rules: number): void {
  for (const a of anchors ?? []) {
    if (rules >= 3) {
      if (state.get<AnchorRecord>(ANCHOR_NS, anchorKey(a.stream, a.seq)) === undefined) {
        throw new Rejection(
          "custody_anchor_unknown",
          `Cannot attach anchor ${a.seq} of stream "${a.stream}": the stream has no anchor ` +
            `with seq ${a.seq}`,
        );
      }
      continue;
    }
    const stream = state.get<StreamState>(STREAM_NS, a.stream);
    if (stream === undefined || a.seq > stream.lastSeq) {
      throw new Rejection(
        "custody_anchor_unknown",
        `Cannot attach anchor ${a.seq} of stream "${a.stream}": no such anchor yet`,
      );
    }
  }
}

/** The item at the step a transaction names, or a rejection. */
function itemAt(state: StateAccess, item: string, step: number): ItemState {
  const current = state.get<ItemState>(ITEM_NS, item);
  if (current === undefined) {
    throw new Rejection("custody_item_unknown", `Cannot find item "${item}"`);
  }
  if (current.steps !== step) {
    throw new Rejection(
      "custody_step_mismatch",
      `Cannot record step ${step} of item "${item}": its next step is ${current.steps}`,
    );
  }
  return current;
}

/** `custody.create`: the first signer produces and holds the item. */
export const custodyCreate: Contract<CustodyCreateBody> = gated({
  kind: "custody.create",
  body: custodyCreateBody,
  authorize() {},
  touches(tx) {
    return [{ ns: ITEM_NS, key: tx.body.item }, { ns: STEP_NS, key: stepKey(tx.body.item, 0) }];
  },
  apply(tx, state) {
    const { item, description, attributes } = tx.body;
    if (state.get(ITEM_NS, item) !== undefined) {
      throw new Rejection("custody_item_exists", `Cannot create item "${item}": it exists`);
    }
    const producer = tx.signers[0];
    const next: ItemState = {
      item,
      description,
      ...(attributes !== undefined ? { attributes } : {}),
      producer,
      holder: producer,
      steps: 1,
      createdTx: tx.txId,
      createdHeight: tx.height,
      lastTx: tx.txId,
      lastHeight: tx.height,
    };
    state.put(ITEM_NS, item, next);
    const record: StepRecord = {
      item,
      step: 0,
      type: "create",
      holder: producer,
      txId: tx.txId,
      height: tx.height,
      time: tx.time,
    };
    state.put(STEP_NS, stepKey(item, 0), record);
    return { item, step: 0, holder: producer };
  },
});

/**
 * `custody.handoff`: signed by the holder (`from`) and the receiver (`to`).
 *
 * The receiver must sign as `to` itself, and the giver needs a signature of
 * its own: `from`, or a signer other than `to` (both checked at admission,
 * so the taker alone never gets a hand-off into the log). The giver signs
 * as `from`, or through its device's current key after a rotation; which
 * signer acts for `from` depends on state, so that is checked at apply
 * (`custody_not_holder`).
 */
export const custodyHandoff: Contract<CustodyHandoffBody> = gated({
  kind: "custody.handoff",
  body: custodyHandoffBody,
  authorize(tx) {
    const { item, from, to } = tx.body;
    const giverSigned = tx.signers.includes(from) || tx.signers.some((s) => s !== to);
    for (const [party, signed] of [[to, tx.signers.includes(to)], [from, giverSigned]] as const) {
      if (!signed) {
        throw new AdmissionRefusal(
          "unauthorized_signer",
          `Cannot hand off item "${item}": ${party} must sign (giver and taker both sign)`,
        );
      }
    }
  },
  touches(tx) {
    return [
      { ns: ITEM_NS, key: tx.body.item },
      { ns: STEP_NS, key: stepKey(tx.body.item, tx.body.step) },
      ...anchorKeys(tx.body.anchors),
      ...actingSignerKeys(tx.signers),
    ];
  },
  apply(tx, state) {
    const { item, step, from, to, location, note, anchors } = tx.body;
    const current = itemAt(state, item, step);
    if (current.holder !== from) {
      throw new Rejection(
        "custody_not_holder",
        `Cannot hand off item "${item}" from ${from}: it is held by ${current.holder}`,
      );
    }
    if (actingSigner(from, tx.signers, state) === undefined) {
      throw new Rejection(
        "custody_not_holder",
        `Cannot hand off item "${item}" from ${from}: only it, or its device's current key ` +
          `after a rotation, may sign for it (giver and taker both sign)`,
      );
    }
    checkAnchors(anchors, state, tx.rules);
    state.put(ITEM_NS, item, {
      ...current,
      holder: to,
      steps: step + 1,
      lastTx: tx.txId,
      lastHeight: tx.height,
    });
    const record: StepRecord = {
      item,
      step,
      type: "handoff",
      holder: to,
      from,
      to,
      ...(location !== undefined ? { location } : {}),
      ...(note !== undefined ? { note } : {}),
      ...(anchors !== undefined ? { anchors } : {}),
      txId: tx.txId,
      height: tx.height,
      time: tx.time,
    };
    state.put(STEP_NS, stepKey(item, step), record);
    return { item, step, holder: to };
  },
});

/**
 * `custody.attach`: the holder (or its device's current key after a
 * rotation) attaches sensor anchors to the current leg.
 */
export const custodyAttach: Contract<CustodyAttachBody> = gated({
  kind: "custody.attach",
  body: custodyAttachBody,
  authorize() {},
  touches(tx) {
    return [
      { ns: ITEM_NS, key: tx.body.item },
      { ns: STEP_NS, key: stepKey(tx.body.item, tx.body.step) },
      ...anchorKeys(tx.body.anchors),
      ...actingSignerKeys(tx.signers),
    ];
  },
  apply(tx, state) {
    const { item, step, anchors, note } = tx.body;
    const current = itemAt(state, item, step);
    if (actingSigner(current.holder, tx.signers, state) === undefined) {
      throw new Rejection(
        "custody_not_holder",
        `Cannot attach anchors to item "${item}": only its holder ${current.holder} may`,
      );
    }
    checkAnchors(anchors, state, tx.rules);
    state.put(ITEM_NS, item, {
      ...current,
      steps: step + 1,
      lastTx: tx.txId,
      lastHeight: tx.height,
    });
    const record: StepRecord = {
      item,
      step,
      type: "attach",
      holder: current.holder,
      anchors,
      ...(note !== undefined ? { note } : {}),
      txId: tx.txId,
      height: tx.height,
      time: tx.time,
    };
    state.put(STEP_NS, stepKey(item, step), record);
    return { item, step, holder: current.holder };
  },
});

/** Every `custody.*` contract. */
export const custodyContracts = [custodyCreate, custodyHandoff, custodyAttach] as const;
