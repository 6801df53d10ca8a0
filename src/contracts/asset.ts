/**
 * `asset.*`: fungible assets with an issuer, for machine-to-machine
 * micropayments.
 *
 * State: `asset.def/<asset>` → {@link AssetState}; `asset.balance/<asset>
 * \u0001<account did>` → {@link BalanceState}, so a prefix range lists an
 * asset's holders. A balance that reaches zero is deleted. Amounts are
 * integer decimal strings, computed with BigInt.
 *
 * An account is a did:key, and so is an issuer. Where a rule says "`D`
 * signs", the current key of a device that had `D` as an earlier key signs
 * for it ({@link actingSigner}): a device that rotated its key spends what
 * its old key holds, and an issuer that is a device keeps minting.
 *
 * @module
 */
import {
  type AssetCreateBody,
  assetCreateBody,
  type AssetFee,
  type AssetMintBody,
  assetMintBody,
  type AssetTransferBody,
  assetTransferBody,
} from "../../sdk/kinds/asset.ts";
import { gated } from "./_gate.ts";
import { actingSigner, actingSignerKeys } from "./_holder.ts";
import { compositeKey } from "./_keys.ts";
import { type Contract, Rejection, type StateAccess } from "./contract.ts";

export const ASSET_NS = "asset.def";
export const BALANCE_NS = "asset.balance";

/** An asset as stored. */
export interface AssetState {
  asset: string;
  name: string;
  decimals: number;
  issuer: string;
  /** Units minted so far (decimal string). */
  supply: string;
  maxSupply?: string;
  fee?: AssetFee;
  createdTx: string;
  createdHeight: number;
}

/** One account's balance of one asset. */
export interface BalanceState {
  asset: string;
  account: string;
  balance: string;
}

/** The state key of `account`'s balance of `asset`; sorts by account within an asset. */
export function balanceKey(asset: string, account: string): string {
  return compositeKey(asset, account);
}

function readBalance(state: StateAccess, asset: string, account: string): bigint {
  const b = state.get<BalanceState>(BALANCE_NS, balanceKey(asset, account));
  return b === undefined ? 0n : BigInt(b.balance);
}

function writeBalance(state: StateAccess, asset: string, account: string, value: bigint): void {
  // A negative balance is a bug in this module, never an outcome of input.
  if (value < 0n) throw new Error(`Assertion failed: negative balance of ${account} in ${asset}`);
  if (value === 0n) state.delete(BALANCE_NS, balanceKey(asset, account));
  else state.put(BALANCE_NS, balanceKey(asset, account), { asset, account, balance: `${value}` });
}

function loadAsset(state: StateAccess, asset: string): AssetState {
  const def = state.get<AssetState>(ASSET_NS, asset);
  if (def === undefined) throw new Rejection("asset_unknown", `Cannot find asset "${asset}"`);
  return def;
}

/** `asset.create`: the first signer becomes the issuer. */
export const assetCreate: Contract<AssetCreateBody> = gated({
  kind: "asset.create",
  body: assetCreateBody,
  authorize() {},
  touches(tx) {
    return [{ ns: ASSET_NS, key: tx.body.asset }];
  },
  apply(tx, state) {
    const b = tx.body;
    if (state.get(ASSET_NS, b.asset) !== undefined) {
      throw new Rejection("asset_exists", `Cannot create asset "${b.asset}": it exists`);
    }
    const def: AssetState = {
      asset: b.asset,
      name: b.name,
      decimals: b.decimals,
      issuer: tx.signers[0],
      supply: "0",
      ...(b.maxSupply !== undefined ? { maxSupply: b.maxSupply } : {}),
      ...(b.fee !== undefined ? { fee: b.fee } : {}),
      createdTx: tx.txId,
      createdHeight: tx.height,
    };
    state.put(ASSET_NS, b.asset, def);
    return { asset: b.asset, issuer: def.issuer };
  },
});

/** `asset.mint`: only the issuer (or its device's current key) may mint, within `maxSupply`. */
export const assetMint: Contract<AssetMintBody> = gated({
  kind: "asset.mint",
  body: assetMintBody,
  authorize() {},
  touches(tx) {
    return [
      { ns: ASSET_NS, key: tx.body.asset },
      { ns: BALANCE_NS, key: balanceKey(tx.body.asset, tx.body.to) },
      ...actingSignerKeys(tx.signers),
    ];
  },
  apply(tx, state) {
    const { asset, to } = tx.body;
    const def = loadAsset(state, asset);
    if (actingSigner(def.issuer, tx.signers, state) === undefined) {
      throw new Rejection(
        "asset_not_issuer",
        `Cannot mint "${asset}": only its issuer ${def.issuer} may mint`,
      );
    }
    const amount = BigInt(tx.body.amount);
    const supply = BigInt(def.supply) + amount;
    if (def.maxSupply !== undefined && supply > BigInt(def.maxSupply)) {
      throw new Rejection(
        "asset_supply_exceeded",
        `Cannot mint ${amount} "${asset}": supply would be ${supply}, above ${def.maxSupply}`,
      );
    }
    state.put(ASSET_NS, asset, { ...def, supply: `${supply}` });
    const balance = readBalance(state, asset, to) + amount;
    writeBalance(state, asset, to, balance);
    return { asset, to, supply: `${supply}`, balance: `${balance}` };
  },
});

/**
 * `asset.transfer`: the sender signs, or its device's current key after a
 * rotation; the asset's fee, if any, is paid by the sender.
 *
 * Whether a signer acts for `from` depends on state, so it is decided at
 * apply (`asset_not_owner`), not at admission.
 */
export const assetTransfer: Contract<AssetTransferBody> = gated({
  kind: "asset.transfer",
  body: assetTransferBody,
  authorize() {},
  touches(tx) {
    const { asset, from, to, fee } = tx.body;
    const keys = [
      { ns: ASSET_NS, key: asset },
      { ns: BALANCE_NS, key: balanceKey(asset, from) },
      { ns: BALANCE_NS, key: balanceKey(asset, to) },
      ...actingSignerKeys(tx.signers),
    ];
    if (fee !== undefined) keys.push({ ns: BALANCE_NS, key: balanceKey(asset, fee.collector) });
    return keys;
  },
  apply(tx, state) {
    const { asset, from, to, fee } = tx.body;
    const def = loadAsset(state, asset);
    if (actingSigner(from, tx.signers, state) === undefined) {
      throw new Rejection(
        "asset_not_owner",
        `Cannot transfer from ${from}: only it, or its device's current key after a rotation, ` +
          `may sign the transfer`,
      );
    }
    if (!sameFee(def.fee, fee)) {
      throw new Rejection(
        "asset_fee_mismatch",
        def.fee === undefined
          ? `Cannot transfer "${asset}": it has no fee, and the transfer names one`
          : `Cannot transfer "${asset}": its fee is ${def.fee.amount} to ${def.fee.collector}, ` +
            `and the transfer must name exactly that`,
      );
    }
    const amount = BigInt(tx.body.amount);
    const feeAmount = fee === undefined ? 0n : BigInt(fee.amount);
    const debit = amount + feeAmount;
    const fromBalance = readBalance(state, asset, from);
    if (fromBalance < debit) {
      throw new Rejection(
        "asset_insufficient_funds",
        `Cannot transfer ${debit} "${asset}" from ${from}: its balance is ${fromBalance}`,
      );
    }
    // Write in a fixed order and re-read between writes: `to` or the
    // collector may be the same account as another party.
    writeBalance(state, asset, from, fromBalance - debit);
    writeBalance(state, asset, to, readBalance(state, asset, to) + amount);
    if (fee !== undefined) {
      writeBalance(
        state,
        asset,
        fee.collector,
        readBalance(state, asset, fee.collector) + feeAmount,
      );
    }
    return {
      asset,
      from,
      to,
      amount: `${amount}`,
      fee: `${feeAmount}`,
      balance: `${readBalance(state, asset, from)}`,
    };
  },
});

function sameFee(policy: AssetFee | undefined, given: AssetFee | undefined): boolean {
  if (policy === undefined || given === undefined) return policy === given;
  return policy.amount === given.amount && policy.collector === given.collector;
}

/** Every `asset.*` contract. */
export const assetContracts = [assetCreate, assetMint, assetTransfer] as const;
