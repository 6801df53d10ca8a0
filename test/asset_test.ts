/**
 * `asset.*` end to end on a real site: create, mint, transfer with and
 * without a fee policy, and each refusal with its stable code.
 */
import assert from "node:assert/strict";
import { blockHash, type BlockHeader } from "../sdk/block.ts";
import { hexEncode } from "../sdk/encoding.ts";
import { EMPTY_ROOT } from "../sdk/merkle.ts";
import { generateKeyPair, softwareSigner } from "../sdk/keys.ts";
import { payTransfer } from "../sdk/kinds/asset.ts";
import { registerDevice, revokeDevice } from "../sdk/kinds/identity.ts";
import { getJson, openTestSite, postJson, testGenesis } from "./_helpers.ts";
import { type Batch, executeBatch, planBatch, stateMapKey } from "../src/chain/execute.ts";
import { MerkleFrontier } from "../src/chain/merkle_log.ts";
import { ASSET_NS, BALANCE_NS, balanceKey, builtinContracts } from "../src/contracts/mod.ts";
import { applied, devicesSite, openKindsSite, refused, rejected, tx } from "./_kinds_helpers.ts";

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

Deno.test("asset: a transfer signed by neither its sender nor its sender's device is rejected asset_not_owner", async () => {
  await withAsset(async (t) => {
    await applied(
      t.app,
      await tx("asset.mint", { asset: "kwh", to: car.did, amount: "10" }, [issuer]),
    );
    // Whether a signer acts for `from` (after a rotation) depends on state: decided at apply.
    await rejected(
      t.app,
      await tx("asset.transfer", { asset: "kwh", from: car.did, to: charger.did, amount: "1" }, [
        charger,
      ]),
      "asset_not_owner",
    );
    assert.equal(await balance(t.app, car.did), "10");
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

// ---- key rotation -------------------------------------------------------

/** A {@link devicesSite} with the asset `kwh` of `issuer`; `fn` runs, then the site closes. */
async function withDevices(fn: (t: Awaited<ReturnType<typeof devicesSite>>) => Promise<void>) {
  const t = await devicesSite();
  try {
    await applied(
      t.app,
      await tx("asset.create", { asset: "kwh", name: "Charging credit", decimals: 3 }, [issuer]),
    );
    await fn(t);
  } finally {
    await t.cleanup();
  }
}

const mint = async (app: Parameters<typeof getJson>[0], to: string, amount: string) =>
  await applied(app, await tx("asset.mint", { asset: "kwh", to, amount }, [issuer]));

const spend = (from: string, signer: typeof car, amount: string, to = charger.did) =>
  payTransfer({ ledger: "demo", asset: "kwh", to, amount, signer: softwareSigner(signer), from });

Deno.test("asset: after a rotation the device's new key spends the old key's balance; the old key is refused", async () => {
  await withDevices(async (t) => {
    const [k1, k2] = [generateKeyPair("p256"), generateKeyPair("p256")];
    await t.register("a/car-1", k1);
    await mint(t.app, k1.did, "5000");
    await t.rotate("a/car-1", k1, k2);
    // The balance stays under the old key; the read says which key spends it now.
    const before = (await getJson(t.app, `/v1/assets/kwh/balances/${k1.did}`)).body;
    assert.deepEqual(before, {
      asset: "kwh",
      account: k1.did,
      balance: "5000",
      currentKey: k2.did,
    });
    const r = await applied(t.app, await spend(k1.did, k2, "1250"));
    assert.equal(r.from, k1.did);
    assert.equal(r.balance, "3750");
    assert.equal(await balance(t.app, charger.did), "1250");
    // The old key can no longer act, not even on its own balance.
    await refused(t.app, await spend(k1.did, k1, "1"), "revoked_signer");
    // The new key's own balance needs no `currentKey`: it is its own.
    await mint(t.app, k2.did, "7");
    const own = (await getJson(t.app, `/v1/assets/kwh/balances/${k2.did}`)).body;
    assert.equal(own.currentKey, undefined);
    // Moving the old balance to the new key is an ordinary transfer, signed by the new key.
    await applied(t.app, await spend(k1.did, k2, "3750", k2.did));
    assert.equal(await balance(t.app, k1.did), "0");
    assert.equal(await balance(t.app, k2.did), "3757");
  });
});

Deno.test("asset: after two rotations the third key spends what the first and second keys hold", async () => {
  await withDevices(async (t) => {
    const [k1, k2, k3] = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
    await t.register("a/car-1", k1);
    await mint(t.app, k1.did, "100");
    await t.rotate("a/car-1", k1, k2);
    await mint(t.app, k2.did, "50");
    await t.rotate("a/car-1", k2, k3);
    await applied(t.app, await spend(k1.did, k3, "100"));
    await applied(t.app, await spend(k2.did, k3, "50"));
    assert.equal(await balance(t.app, charger.did), "150");
    // The middle key, rotated out too, is refused.
    await refused(t.app, await spend(k2.did, k2, "1"), "revoked_signer");
  });
});

Deno.test("asset: a revoked device's balances stay frozen: no key spends them", async () => {
  await withDevices(async (t) => {
    const [k1, k2] = [generateKeyPair(), generateKeyPair()];
    await t.register("a/car-1", k1);
    await mint(t.app, k1.did, "100");
    await t.rotate("a/car-1", k1, k2);
    await mint(t.app, k2.did, "10");
    await t.revoke("a/car-1", k2);
    await refused(t.app, await spend(k1.did, k2, "1"), "revoked_signer");
    await refused(t.app, await spend(k2.did, k2, "1"), "revoked_signer");
    const frozen = (await getJson(t.app, `/v1/assets/kwh/balances/${k1.did}`)).body;
    assert.deepEqual(frozen, { asset: "kwh", account: k1.did, balance: "100" });
    assert.equal(await balance(t.app, k2.did), "10");
  });
});

Deno.test("asset: a quarantined device's new key cannot spend the old key's balance until the quarantine is lifted", async () => {
  await withDevices(async (t) => {
    const [k1, k2] = [generateKeyPair(), generateKeyPair()];
    await t.register("a/car-1", k1);
    await mint(t.app, k1.did, "100");
    await t.rotate("a/car-1", k1, k2);
    await t.quarantine("a/car-1", k2);
    await refused(t.app, await spend(k1.did, k2, "1"), "revoked_signer");
    assert.equal(
      (await getJson(t.app, `/v1/assets/kwh/balances/${k1.did}`)).body.currentKey,
      undefined,
    );
    await t.unquarantine("a/car-1", k2);
    await applied(t.app, await spend(k1.did, k2, "1"));
    assert.equal(await balance(t.app, k1.did), "99");
  });
});

Deno.test("asset: a key that was never the device's key gains nothing from its rotation (asset_not_owner)", async () => {
  await withDevices(async (t) => {
    const [k1, k2, van] = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
    await t.register("a/car-1", k1);
    await t.register("a/van-1", van);
    await mint(t.app, k1.did, "100");
    await t.rotate("a/car-1", k1, k2);
    // Another registered device, an authority, and a key no device ever had.
    await rejected(t.app, await spend(k1.did, van, "1"), "asset_not_owner");
    await rejected(t.app, await spend(k1.did, t.authority, "1"), "asset_not_owner");
    await rejected(t.app, await spend(k1.did, operator, "1"), "asset_not_owner");
    assert.equal(await balance(t.app, k1.did), "100");
  });
});

Deno.test("asset: an issuer that is a device keeps minting with its new key after a rotation", async () => {
  await withDevices(async (t) => {
    const [k1, k2] = [generateKeyPair(), generateKeyPair()];
    await t.register("a/meter-1", k1);
    await applied(
      t.app,
      await tx("asset.create", { asset: "co2", name: "CO2", decimals: 0 }, [k1]),
    );
    await t.rotate("a/meter-1", k1, k2);
    const r = await applied(
      t.app,
      await tx("asset.mint", { asset: "co2", to: charger.did, amount: "5" }, [k2]),
    );
    assert.equal(r.supply, "5");
    assert.equal((await getJson(t.app, "/v1/assets/co2")).body.issuer, k1.did);
    await rejected(
      t.app,
      await tx("asset.mint", { asset: "co2", to: charger.did, amount: "5" }, [operator]),
      "asset_not_issuer",
    );
  });
});

Deno.test("asset: two transfers in one block that together overspend a balance: the first in block order applies, the second is rejected, on every execution alike", async () => {
  const registry = builtinContracts();
  const signed = async (to: string, amount: string) =>
    await tx("asset.transfer", { asset: "kwh", from: car.did, to, amount }, [car]);
  const header: BlockHeader = {
    v: 1,
    ledger: "demo",
    height: 7,
    prev: "ab".repeat(32),
    time: Date.now(),
    term: 1,
    proposer: "site-a",
    txCount: 0,
    logSize: 0,
    logRoot: hexEncode(EMPTY_ROOT),
  };
  const def = { asset: "kwh", name: "Charging credit", decimals: 3, issuer: issuer.did };
  const state = new Map([
    [stateMapKey(ASSET_NS, "kwh"), JSON.stringify({ ...def, supply: "100" })],
    [
      stateMapKey(BALANCE_NS, balanceKey("kwh", car.did)),
      JSON.stringify({ asset: "kwh", account: car.did, balance: "100" }),
    ],
  ]);
  const batch: Batch = {
    time: header.time,
    proposer: "site-a",
    term: 1,
    txs: [await signed(charger.did, "70"), await signed(operator.did, "70")],
  };
  const run = () =>
    executeBatch(
      { header, hash: blockHash(header) },
      batch,
      planBatch(batch, registry),
      { committed: new Set(), state, rules: undefined },
      registry,
      new MerkleFrontier(),
    );
  const out = run();
  assert.deepEqual(out.results.map((r) => [r.status, r.code]), [
    ["applied", undefined],
    ["rejected", "asset_insufficient_funds"],
  ]);
  const written = new Map(out.stateWrites.map((w) => [w.key, w.value]));
  const balanceIn = (who: string) => {
    const v = written.get(balanceKey("kwh", who));
    return v === undefined || v === null ? "0" : JSON.parse(v).balance;
  };
  assert.deepEqual([balanceIn(car.did), balanceIn(charger.did), balanceIn(operator.did)], [
    "30",
    "70",
    "0",
  ]);
  assert.equal(run().hash, out.hash, "the same batch executes to the same block");
});
