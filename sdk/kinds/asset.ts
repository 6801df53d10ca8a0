/**
 * Body schemas of the `asset.*` kinds: fungible assets for machine-to-machine
 * micropayments (a car paying a charging post), and the SDK call that makes
 * a payment in one step.
 *
 * Amounts are integer decimal strings in the asset's smallest unit (see
 * {@link amount}); balances never go negative.
 *
 * @module
 */
import { z } from "zod";
import type { Envelope } from "../envelope.ts";
import type { Signer } from "../keys.ts";
import { type BuilderOptions, did, ident, positiveAmount, signedTx, text } from "./_common.ts";

/** Longest asset id, in characters. */
export const ASSET_ID_CHARS_MAX = 64;
/** Longest transfer memo, in characters. */
export const ASSET_MEMO_CHARS_MAX = 256;

/** An asset id, e.g. `"EURc"` or `"kwh-credit"`. */
export const assetId = ident(ASSET_ID_CHARS_MAX);

/** A per-transfer fee: `amount` paid by the sender to `collector` on every transfer. */
export const assetFee = z.strictObject({ amount: positiveAmount, collector: did });

/**
 * `asset.create`: the first signer becomes the asset's issuer. `fee`, when
 * given, is the asset's fee policy: every transfer pays it, and says so in
 * its own body (so the payer signs the fee it pays). `maxSupply` caps what
 * can ever be minted. Neither can change later.
 *
 * Refused at apply: `asset_exists`.
 */
export const assetCreateBody = z.strictObject({
  asset: assetId,
  name: text(128),
  /** Display decimals: `"1250"` of an asset with 2 decimals reads 12.50. */
  decimals: z.number().int().min(0).max(18),
  maxSupply: positiveAmount.optional(),
  fee: assetFee.optional(),
});

/**
 * `asset.mint`: the issuer creates `amount` new units credited to `to`.
 *
 * Refused at apply: `asset_unknown`, `asset_not_issuer` (neither the issuer
 * nor, after a rotation, its device's current key signed),
 * `asset_supply_exceeded`.
 */
export const assetMintBody = z.strictObject({
  asset: assetId,
  to: did,
  amount: positiveAmount,
});

/**
 * `asset.transfer`: moves `amount` from `from` to `to`. `from` must sign,
 * or, once a device has rotated `from` out, that device's current key.
 * `fee` must equal the asset's fee policy exactly, or be absent when it has
 * none; the sender pays `amount + fee.amount`. `memo` and `ref` are the
 * payer's (e.g. a charging session id).
 *
 * Refused at apply: `asset_unknown`, `asset_not_owner` (no signer acts for
 * `from`), `asset_fee_mismatch`, `asset_insufficient_funds`.
 */
export const assetTransferBody = z.strictObject({
  asset: assetId,
  from: did,
  to: did,
  amount: positiveAmount,
  fee: assetFee.optional(),
  memo: text(ASSET_MEMO_CHARS_MAX).optional(),
  ref: ident(128).optional(),
}).refine((b) => b.from !== b.to, { message: "to must differ from from", path: ["to"] });

/**
 * The body of `asset.create`, whose first signer becomes the issuer: asset
 * id `asset`, display `name` and `decimals` (amounts are integer decimal
 * strings in the smallest unit: `"1250"` with 2 decimals reads 12.50), an
 * optional `maxSupply` cap and an optional per-transfer `fee`. Neither cap
 * nor fee can change later.
 */
export type AssetCreateBody = z.infer<typeof assetCreateBody>;
/**
 * The body of `asset.mint`, signed by the asset's issuer: credits `amount`
 * new units (a positive integer decimal string in the smallest unit) to the
 * did:key `to`, within the asset's `maxSupply`.
 */
export type AssetMintBody = z.infer<typeof assetMintBody>;
/**
 * The body of `asset.transfer`, signed by `from` (or, after a key rotation,
 * its device's current key): moves `amount` (a positive integer decimal
 * string in the smallest unit) from `from` to `to`. `fee` must repeat the
 * asset's fee policy exactly, or be absent when it has none; the sender pays
 * `amount + fee.amount`. `memo` and `ref` (e.g. a charging session id) are
 * the payer's.
 */
export type AssetTransferBody = z.infer<typeof assetTransferBody>;
/**
 * An asset's per-transfer fee: `amount` (a positive integer decimal string
 * in the asset's smallest unit) that the sender pays to the did:key
 * `collector` on every transfer. Set once by `asset.create` and repeated in
 * each `asset.transfer` body, so the payer signs the fee it pays.
 */
export type AssetFee = z.infer<typeof assetFee>;

/** Options of {@link payTransfer}. */
export interface PayTransferOptions extends BuilderOptions {
  asset: string;
  /** The payee's did:key. */
  to: string;
  /** Integer decimal string in the asset's smallest unit. */
  amount: string;
  /** The payer; its did is `from` unless `from` is given. */
  signer: Signer;
  /**
   * The account to pay from when it is not the signer's own: an earlier key
   * of the signer's device, which the signer spends for after a rotation.
   */
  from?: string;
  /** The asset's fee policy, as `GET /v1/assets/{asset}` shows it; omit when it has none. */
  fee?: AssetFee;
  memo?: string;
  ref?: string;
}

/**
 * A signed `asset.transfer` from `signer` in one call, ready for
 * `POST /v1/txs`.
 *
 * @example
 * ```ts
 * const env = await payTransfer({
 *   ledger: "demo", asset: "kwh-credit", to: charger.did, amount: "1250",
 *   signer: softwareSigner(car), ref: "session-8812",
 * });
 * await client.submit(env, { wait: "commit" });
 * ```
 */
export async function payTransfer(options: PayTransferOptions): Promise<Envelope> {
  const body: AssetTransferBody = {
    asset: options.asset,
    from: options.from ?? options.signer.did,
    to: options.to,
    amount: options.amount,
    ...(options.fee ? { fee: options.fee } : {}),
    ...(options.memo !== undefined ? { memo: options.memo } : {}),
    ...(options.ref !== undefined ? { ref: options.ref } : {}),
  };
  return await signedTx(assetTransferBody, "asset.transfer", body, [options.signer], options);
}

/** A signed `asset.create` by `issuer`. */
export async function createAsset(
  body: AssetCreateBody,
  issuer: Signer,
  options: BuilderOptions,
): Promise<Envelope> {
  return await signedTx(assetCreateBody, "asset.create", body, [issuer], options);
}

/** A signed `asset.mint` by `issuer`. */
export async function mintAsset(
  body: AssetMintBody,
  issuer: Signer,
  options: BuilderOptions,
): Promise<Envelope> {
  return await signedTx(assetMintBody, "asset.mint", body, [issuer], options);
}

/** The body schema of every `asset.*` kind. */
export const ASSET_BODIES = {
  "asset.create": assetCreateBody,
  "asset.mint": assetMintBody,
  "asset.transfer": assetTransferBody,
} as const;
