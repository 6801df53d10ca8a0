/**
 * Body schemas of the `custody.*` kinds: items (a shipment, a medicine
 * batch, a luxury good) and their chain of custody. Every hand-off is signed
 * by both the current holder and the receiver, so a courier cannot fake a
 * delivery signature; sensor anchors (`data.anchor`) can be attached to each
 * leg.
 *
 * Every step after creation names its step number (`step`), the number of
 * steps the item has so far: like a stream's `seq`, it pins the transaction
 * to the item's state both parties saw when they signed, so an old hand-off
 * cannot be replayed later, and it is what makes the history a prefix range
 * in state.
 *
 * @module
 */
import { z } from "zod";
import type { Envelope, PartialEnvelope, UnsignedEnvelope } from "../envelope.ts";
import { addSignature } from "../envelope.ts";
import type { Signer } from "../keys.ts";
import { dataAnchorBody } from "./data.ts";
import { type BuilderOptions, did, ident, signedTx, text, unsignedTx } from "./_common.ts";

/** Longest item id, in characters. */
export const CUSTODY_ITEM_CHARS_MAX = 128;
/** Most sensor anchors one step may attach. */
export const CUSTODY_ANCHORS_MAX = 16;
/** Most attributes of an item. */
export const CUSTODY_ATTRIBUTES_MAX = 16;

/** An item id, e.g. `"shipment:2026-11-24:0042"`. */
export const itemId = ident(CUSTODY_ITEM_CHARS_MAX);

/** A reference to a sensor anchor: a stream and the `seq` of one of its anchors. */
export const anchorRef = z.strictObject({
  stream: dataAnchorBody.shape.stream,
  seq: dataAnchorBody.shape.seq,
});

const anchors = z.array(anchorRef).max(CUSTODY_ANCHORS_MAX);
const step = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

/**
 * `custody.create`: the first signer is the producer and first holder. Step
 * 0 of the item's history.
 *
 * Refused at apply: `custody_item_exists`.
 */
export const custodyCreateBody = z.strictObject({
  item: itemId,
  description: text(256),
  attributes: z.record(ident(64), text(256)).refine(
    (a) => Object.keys(a).length <= CUSTODY_ATTRIBUTES_MAX,
    `must have at most ${CUSTODY_ATTRIBUTES_MAX} attributes`,
  ).optional(),
});

/**
 * `custody.handoff`: `from` (the current holder) gives the item to `to`.
 * Both sign: `to` itself, and `from` itself or, once a device has rotated
 * `from` out, that device's current key. Refused at admission with
 * `unauthorized_signer` when `to` did not sign, or when no signer but `to`
 * did; rejected `custody_not_holder` at apply when no signer acts for
 * `from`. `anchors` are sensor anchors of the leg that ends here (e.g. the
 * truck's temperature during the drive).
 *
 * Refused at apply: `custody_item_unknown`, `custody_step_mismatch`,
 * `custody_not_holder`, `custody_anchor_unknown` (a cited anchor not made:
 * what each rules version requires is at {@link AnchorRef}).
 */
export const custodyHandoffBody = z.strictObject({
  item: itemId,
  step,
  from: did,
  to: did,
  location: text(128).optional(),
  note: text(256).optional(),
  anchors: anchors.optional(),
}).refine((b) => b.from !== b.to, { message: "to must differ from from", path: ["to"] });

/**
 * `custody.attach`: the current holder (or, once a device has rotated it
 * out, that device's current key) attaches sensor anchors to the current
 * leg.
 *
 * Refused at apply: `custody_item_unknown`, `custody_step_mismatch`,
 * `custody_not_holder`, `custody_anchor_unknown` (a cited anchor not made:
 * what each rules version requires is at {@link AnchorRef}).
 */
export const custodyAttachBody = z.strictObject({
  item: itemId,
  step,
  anchors: anchors.min(1),
  note: text(256).optional(),
});

/**
 * A sensor anchor a custody step points to: `stream` and the `seq` of one
 * of its `data.anchor` transactions (e.g. a truck's temperature during a
 * leg). What the step requires of it (`custody_anchor_unknown` otherwise)
 * depends on the rules version of the step's block: under rules 3 that
 * anchor must exist when the step applies (a `data.anchor` of `stream` with
 * exactly this `seq`); under rules 1 and 2 only `stream` must exist with
 * `seq` at most its last, so a `seq` the stream skipped, never anchored,
 * passes.
 */
export type AnchorRef = z.infer<typeof anchorRef>;
/**
 * The body of `custody.create`, whose first signer becomes the item's
 * producer and first holder (step 0 of its history): item id `item`, a
 * `description`, and at most 16 free-text `attributes`.
 */
export type CustodyCreateBody = z.infer<typeof custodyCreateBody>;
/**
 * The body of `custody.handoff`, signed by both the current holder `from`
 * (or its device's current key after a rotation) and the receiver `to`:
 * gives `item` to `to`. `step` must equal the number of steps the item has
 * so far, so an old hand-off cannot be replayed; `location`, `note` and up
 * to 16 sensor `anchors` of the leg that ends here are optional.
 */
export type CustodyHandoffBody = z.infer<typeof custodyHandoffBody>;
/**
 * The body of `custody.attach`, signed by the current holder (or its
 * device's current key after a rotation): attaches 1 to 16 sensor `anchors`
 * to the current leg of `item`. `step` must equal the number of steps the
 * item has so far.
 */
export type CustodyAttachBody = z.infer<typeof custodyAttachBody>;

/** The body schema of every `custody.*` kind. */
export const CUSTODY_BODIES = {
  "custody.create": custodyCreateBody,
  "custody.handoff": custodyHandoffBody,
  "custody.attach": custodyAttachBody,
} as const;

/** A signed `custody.create` by the producer. */
export async function createItem(
  body: CustodyCreateBody,
  producer: Signer,
  options: BuilderOptions,
): Promise<Envelope> {
  return await signedTx(custodyCreateBody, "custody.create", body, [producer], options);
}

/**
 * The unsigned hand-off both parties sign: signers are `[from, to]`, or
 * `[giverKey, to]` when the giver's device has rotated `from` out and
 * `giverKey` is its current key. One party signs it with `addSignature`,
 * passes the partial envelope (plain JSON) to the other, who adds theirs;
 * see {@link signHandoff}.
 *
 * @example
 * ```ts
 * const unsigned = handoffTx({ item, step: 3, from: courier.did, to: pharmacy.did }, { ledger });
 * const partial = await signHandoff(unsigned, courierSigner); // on the courier's device
 * const env = await signHandoff(partial, pharmacySigner);     // on the pharmacy's
 * ```
 */
export function handoffTx(
  body: CustodyHandoffBody,
  options: BuilderOptions & { giverKey?: string },
): UnsignedEnvelope {
  const giver = options.giverKey ?? body.from;
  return unsignedTx(custodyHandoffBody, "custody.handoff", body, [giver, body.to], options);
}

/** Adds one party's signature to a hand-off; returns the envelope once both signed. */
export async function signHandoff(
  env: UnsignedEnvelope | PartialEnvelope,
  signer: Signer,
): Promise<PartialEnvelope | Envelope> {
  const partial = await addSignature(env, signer);
  return partial.sigs.every((s) => s !== null) ? partial as Envelope : partial;
}

/** A signed `custody.attach` by the current holder. */
export async function attachAnchors(
  body: CustodyAttachBody,
  holder: Signer,
  options: BuilderOptions,
): Promise<Envelope> {
  return await signedTx(custodyAttachBody, "custody.attach", body, [holder], options);
}
