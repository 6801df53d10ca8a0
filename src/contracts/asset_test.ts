/**
 * Unit tests of the `asset.*` rules over in-memory state: amounts as
 * decimal strings, and balances that add up to the supply whoever collects
 * the fee.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../sdk/keys.ts";
import { assetMintBody, assetTransferBody } from "../../sdk/kinds/asset.ts";
import { ASSET_NS, type AssetState, assetTransfer, BALANCE_NS, balanceKey } from "./asset.ts";
import { Rejection, type StateAccess } from "./contract.ts";
import { memoryState } from "./_memory_state.ts";

const [issuer, payer, payee, operator] = [
  generateKeyPair().did,
  generateKeyPair().did,
  generateKeyPair().did,
  generateKeyPair().did,
];

/** Asset `kwh` with a fee of 7 to `collector`, and `payer` holding all 100 units minted. */
function feeAsset(collector: string): StateAccess {
  const def: AssetState = {
    asset: "kwh",
    name: "Charging credit",
    decimals: 3,
    issuer,
    supply: "100",
    fee: { amount: "7", collector },
    createdTx: "t0",
    createdHeight: 1,
  };
  return memoryState([
    [ASSET_NS, "kwh", def],
    [BALANCE_NS, balanceKey("kwh", payer), { asset: "kwh", account: payer, balance: "100" }],
  ]);
}

function transfer(to: string, amount: string, collector: string, n: number) {
  return {
    txId: `t${n}`,
    kind: "asset.transfer",
    body: { asset: "kwh", from: payer, to, amount, fee: { amount: "7", collector } },
    signers: [payer],
    time: n,
    height: n,
    rules: 1,
  };
}

function balanceOf(state: StateAccess, account: string): bigint {
  const b = state.get<{ balance: string }>(BALANCE_NS, balanceKey("kwh", account));
  return b === undefined ? 0n : BigInt(b.balance);
}

Deno.test("asset amounts: exponents, signs, negative zero, spaces, non-ASCII digits and more than 38 digits are refused", () => {
  const body = (amount: unknown) => ({ asset: "kwh", to: payee, amount });
  for (
    const amount of [
      "1e3",
      "1E3",
      "-0",
      "+1",
      " 1",
      "1 ",
      "1\n",
      "0x10",
      "1_000",
      "\uff11", // a fullwidth digit one
      "\u0661", // an Arabic-Indic digit one
      "1".repeat(39),
      "",
      1,
    ]
  ) {
    assert.equal(assetMintBody.safeParse(body(amount)).success, false, JSON.stringify(amount));
  }
  assert.equal(assetMintBody.safeParse(body("9".repeat(38))).success, true);
});

Deno.test("asset.transfer: balances add up to the supply whether the fee goes to a third party, the receiver or the sender", () => {
  for (const collector of [operator, payee, payer]) {
    const state = feeAsset(collector);
    assetTransfer.apply(transfer(payee, "50", collector, 1), state);
    // The sender needs amount + fee, even when the fee comes back to it.
    const left = balanceOf(state, payer);
    assert.equal(left, collector === payer ? 50n : 43n);
    assert.throws(
      () => assetTransfer.apply(transfer(payee, `${left - 6n}`, collector, 2), state),
      (e) => e instanceof Rejection && e.code === "asset_insufficient_funds",
    );
    assetTransfer.apply(transfer(payee, `${left - 7n}`, collector, 3), state);
    assert.equal(balanceOf(state, payer), collector === payer ? 7n : 0n);
    const total = [payer, payee, operator].reduce((sum, a) => sum + balanceOf(state, a), 0n);
    assert.equal(total, 100n, `collector ${collector}`);
    for (const a of [payer, payee, operator]) assert.ok(balanceOf(state, a) >= 0n);
  }
  assert.equal(assetTransferBody.safeParse(transfer(payer, "1", operator, 4).body).success, false);
});
