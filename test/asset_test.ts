/**
 * `asset.*` end to end on a real site: create, mint, transfer with and
 * without a fee policy, and each refusal with its stable code.
 */
import assert from "node:assert/strict";
import { generateKeyPair, softwareSigner } from "../sdk/keys.ts";
import { payTransfer } from "../sdk/kinds/asset.ts";
import { registerDevice, revokeDevice } from "../sdk/kinds/identity.ts";
import { getJson, openTestSite, postJson, testGenesis } from "./_helpers.ts";
import { applied, openKindsSite, refused, rejected, tx } from "./_kinds_helpers.ts";

const issuer = generateKeyPair("ed25519");
const car = generateKeyPair("p256");
const charger = generateKeyPair("ed25519");
const operator = generateKeyPair("ed25519");

async function withAsset(
  fn: (t: Awaited<ReturnType<typeof openKindsSite>>) => Promise<void>,
  fee?: { amount: string; collector: string },
) {
  const t = await openKindsSite();
  try {
    await applied(
      t.app,
      await tx("asset.create", {
        asset: "kwh",
        name: "Charging credit",
        decimals: 3,
        maxSupply: "1000000",
        ...(fee ? { fee } : {}),
      }, [issuer]),
    );
    await fn(t);
  } finally {
    await t.cleanup();
  }
}

const balance = async (app: Parameters<typeof getJson>[0], who: string) =>
  (await getJson(app, `/v1/assets/kwh/balances/${who}`)).body.balance;

Deno.test("asset: the issuer mints and a payer's one-call transfer moves the amount", async () => {
  await withAsset(async (t) => {
    const minted = await applied(
      t.app,
      await tx("asset.mint", { asset: "kwh", to: car.did, amount: "5000" }, [issuer]),
    );
    assert.equal(minted.supply, "5000");
    const pay = await payTransfer({
      ledger: "demo",
      asset: "kwh",
      to: charger.did,
      amount: "1250",
      signer: softwareSigner(car),
      ref: "session-1",
    });
    const r = await applied(t.app, pay);
    assert.equal(r.balance, "3750");
    assert.equal(await balance(t.app, car.did), "3750");
    assert.equal(await balance(t.app, charger.did), "1250");
    const info = await getJson(t.app, "/v1/assets/kwh");
    assert.equal(info.body.issuer, issuer.did);
    assert.equal(info.body.supply, "5000");
    const holders = await getJson(t.app, "/v1/assets/kwh/balances?limit=1");
    assert.equal(holders.body.balances.length, 1);
    assert.ok(holders.body.next);
    const rest = await getJson(t.app, `/v1/assets/kwh/balances?after=${holders.body.next}`);
    assert.equal(rest.body.balances.length, 1);
    assert.equal(rest.body.next, null);
  });
});

Deno.test("asset: the fee policy is paid by the sender to the collector, and must be named exactly", async () => {
  const fee = { amount: "10", collector: operator.did };
  await withAsset(async (t) => {
    await applied(
      t.app,
      await tx("asset.mint", { asset: "kwh", to: car.did, amount: "100" }, [issuer]),
    );
    await rejected(
      t.app,
      await tx("asset.transfer", { asset: "kwh", from: car.did, to: charger.did, amount: "50" }, [
        car,
      ]),
      "asset_fee_mismatch",
    );
    await rejected(
      t.app,
      await tx("asset.transfer", {
        asset: "kwh",
        from: car.did,
        to: charger.did,
        amount: "50",
        fee: { amount: "1", collector: operator.did },
      }, [car]),
      "asset_fee_mismatch",
    );
    const pay = await payTransfer({
      ledger: "demo",
      asset: "kwh",
      to: charger.did,
      amount: "90",
      fee,
      signer: softwareSigner(car),
    });
    await applied(t.app, pay);
    assert.equal(await balance(t.app, car.did), "0");
    assert.equal(await balance(t.app, charger.did), "90");
    assert.equal(await balance(t.app, operator.did), "10");
  }, fee);
});

Deno.test("asset: a transfer above the balance is rejected and leaves no balance negative", async () => {
  await withAsset(async (t) => {
    await applied(
      t.app,
      await tx("asset.mint", { asset: "kwh", to: car.did, amount: "100" }, [issuer]),
    );
    await rejected(
      t.app,
      await tx("asset.transfer", { asset: "kwh", from: car.did, to: charger.did, amount: "101" }, [
        car,
      ]),
      "asset_insufficient_funds",
    );
    await rejected(
      t.app,
      await tx("asset.transfer", { asset: "kwh", from: charger.did, to: car.did, amount: "1" }, [
        charger,
      ]),
      "asset_insufficient_funds",
    );
    assert.equal(await balance(t.app, car.did), "100");
    assert.equal(await balance(t.app, charger.did), "0");
  });
});

Deno.test("asset: only the issuer mints, within the maximum supply", async () => {
  await withAsset(async (t) => {
    await rejected(
      t.app,
      await tx("asset.mint", { asset: "kwh", to: car.did, amount: "1" }, [car]),
      "asset_not_issuer",
    );
    await rejected(
      t.app,
      await tx("asset.mint", { asset: "kwh", to: car.did, amount: "1000001" }, [issuer]),
      "asset_supply_exceeded",
    );
    await rejected(
      t.app,
      await tx("asset.mint", { asset: "nope", to: car.did, amount: "1" }, [issuer]),
      "asset_unknown",
    );
    await rejected(
      t.app,
      await tx("asset.create", { asset: "kwh", name: "Again", decimals: 0 }, [car]),
      "asset_exists",
    );
  });
});

Deno.test("asset: a transfer not signed by its sender is refused at admission", async () => {
  await withAsset(async (t) => {
    await refused(
      t.app,
      await tx("asset.transfer", { asset: "kwh", from: car.did, to: charger.did, amount: "1" }, [
        charger,
      ]),
      "unauthorized_signer",
    );
    // Amounts are integer decimal strings: no floats, signs or leading zeros.
    for (const amount of ["1.5", "-1", "01", "0", 5]) {
      await refused(
        t.app,
        await tx("asset.transfer", { asset: "kwh", from: car.did, to: charger.did, amount }, [car]),
        "invalid_body",
      );
    }
    assert.equal((await getJson(t.app, "/v1/assets/nope")).status, 404);
  });
});

Deno.test("asset: a transfer admitted before its sender's key was revoked is rejected revoked_signer at apply", async () => {
  const key = generateKeyPair("ed25519");
  const authority = generateKeyPair("ed25519");
  const base = testGenesis(key, "demo", ["data.anchor"]);
  const genesis = {
    ...base,
    // asset.* is not open here: the issuer is an admin, the car a registered device.
    organisations: [{ id: "org-a", name: "Org A", admins: [issuer.did] }],
    authorities: [{ did: authority.did, org: "org-a", name: "Cars", namespaces: ["a/"] }],
  };
  const t = await openTestSite({ key, genesis });
  try {
    await applied(
      t.app,
      await registerDevice({
        ledger: "demo",
        name: "a/car-1",
        attributes: { model: "EV-1", imeiHash: "ab".repeat(32) },
        authority: softwareSigner(authority),
        device: softwareSigner(car),
      }),
    );
    await applied(
      t.app,
      await tx("asset.create", { asset: "kwh", name: "kWh", decimals: 0 }, [issuer]),
    );
    await applied(
      t.app,
      await tx("asset.mint", { asset: "kwh", to: car.did, amount: "10" }, [issuer]),
    );
    // Both are admitted (the car is active), then ordered: the revocation applies first.
    const revoke = await revokeDevice({
      ledger: "demo",
      device: "a/car-1",
      key: car.did,
      by: softwareSigner(authority),
    });
    const pay = await payTransfer({
      ledger: "demo",
      asset: "kwh",
      to: charger.did,
      amount: "5",
      signer: softwareSigner(car),
    });
    const r = await postJson(t.app, "/v1/txs?wait=commit", { txs: [revoke, pay] });
    assert.equal(r.body.receipts[0].result.status, "applied");
    assert.equal(r.body.receipts[1].result.status, "rejected");
    assert.equal(r.body.receipts[1].result.code, "revoked_signer");
    assert.equal(await balance(t.app, car.did), "10");
  } finally {
    await t.cleanup();
  }
});
