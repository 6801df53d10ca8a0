/**
 * Property tests of `asset.*` under random transaction sequences, executed
 * block by block through the executor a site uses, against a small model
 * of what docs/payments.md promises.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Envelope } from "../sdk/envelope.ts";
import { ASSET_NS, type AssetState, BALANCE_NS, type BalanceState } from "../src/contracts/mod.ts";
import { fixedKey, MemLedger, runs, signedTx, T0 } from "./_props.ts";
import { testGenesis } from "./_helpers.ts";
import { OPEN_KINDS } from "./_kinds_helpers.ts";

const PARTIES = [0, 1, 2, 3].map((i) => fixedKey(i, 1));
const ASSETS = ["kwh", "eur.c"];

type Op =
  | {
    op: "create";
    asset: number;
    by: number;
    fee?: { amount: bigint; collector: number };
    max?: bigint;
  }
  | { op: "mint"; asset: number; by: number; to: number; amount: bigint }
  | {
    op: "transfer";
    asset: number;
    by: number;
    from: number;
    to: number;
    amount: bigint;
    fee: "policy" | "none" | "other";
  };

const party = fc.integer({ min: 0, max: PARTIES.length - 1 });
const asset = fc.integer({ min: 0, max: ASSETS.length - 1 });
const small = fc.bigInt({ min: 1n, max: 40n });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("create" as const),
    asset,
    by: party,
    fee: fc.option(fc.record({ amount: fc.bigInt({ min: 1n, max: 3n }), collector: party }), {
      nil: undefined,
    }),
    max: fc.option(fc.bigInt({ min: 1n, max: 100n }), { nil: undefined }),
  }, { requiredKeys: ["op", "asset", "by"] }),
  fc.record({ op: fc.constant("mint" as const), asset, by: party, to: party, amount: small }),
  fc.record({
    op: fc.constant("transfer" as const),
    asset,
    by: party,
    from: party,
    to: party,
    amount: small,
    fee: fc.constantFrom("policy" as const, "none" as const, "other" as const),
  }).filter((t) => t.from !== t.to),
);

/** What the ledger should hold, and decide, per docs/payments.md. */
class Model {
  defs = new Map<
    string,
    { issuer: number; fee?: { amount: bigint; collector: number }; max?: bigint; supply: bigint }
  >();
  balances = new Map<string, bigint>();

  bal(a: string, p: number): bigint {
    return this.balances.get(`${a}/${p}`) ?? 0n;
  }
  add(a: string, p: number, d: bigint) {
    this.balances.set(`${a}/${p}`, this.bal(a, p) + d);
  }

  /** The expected outcome: "applied" or the rejection code; applies it when applied. */
  step(o: Op, named?: { amount: bigint; collector: number }): string {
    const a = ASSETS[o.asset];
    const def = this.defs.get(a);
    if (o.op === "create") {
      if (def !== undefined) return "asset_exists";
      this.defs.set(a, { issuer: o.by, fee: o.fee, max: o.max, supply: 0n });
      return "applied";
    }
    if (def === undefined) return "asset_unknown";
    if (o.op === "mint") {
      if (o.by !== def.issuer) return "asset_not_issuer";
      if (def.max !== undefined && def.supply + o.amount > def.max) return "asset_supply_exceeded";
      def.supply += o.amount;
      this.add(a, o.to, o.amount);
      return "applied";
    }
    if (o.by !== o.from) return "asset_not_owner";
    const same = def.fee === undefined
      ? named === undefined
      : named !== undefined && named.amount === def.fee.amount &&
        named.collector === def.fee.collector;
    if (!same) return "asset_fee_mismatch";
    const fee = def.fee?.amount ?? 0n;
    if (this.bal(a, o.from) < o.amount + fee) return "asset_insufficient_funds";
    this.add(a, o.from, -(o.amount + fee));
    this.add(a, o.to, o.amount);
    if (def.fee !== undefined) this.add(a, def.fee.collector, fee);
    return "applied";
  }
}

function feeOf(
  o: Extract<Op, { op: "transfer" }>,
  policy: { amount: bigint; collector: number } | undefined,
): { amount: bigint; collector: number } | undefined {
  if (o.fee === "none") return undefined;
  if (o.fee === "policy") return policy ?? { amount: 1n, collector: 0 };
  return { amount: (policy?.amount ?? 1n) + 1n, collector: policy?.collector ?? 1 };
}

/** The fee a transfer names, as its signer saw the asset's policy. */
function namedFee(o: Op, model: Model) {
  return o.op === "transfer" ? feeOf(o, model.defs.get(ASSETS[o.asset])?.fee) : undefined;
}

function envelopeOf(o: Op, model: Model): Envelope {
  const a = ASSETS[o.asset];
  const by = [PARTIES[o.by]];
  if (o.op === "create") {
    return signedTx("asset.create", {
      asset: a,
      name: `Asset ${a}`,
      decimals: 2,
      ...(o.max !== undefined ? { maxSupply: `${o.max}` } : {}),
      ...(o.fee !== undefined
        ? { fee: { amount: `${o.fee.amount}`, collector: PARTIES[o.fee.collector].did } }
        : {}),
    }, by);
  }
  if (o.op === "mint") {
    return signedTx("asset.mint", { asset: a, to: PARTIES[o.to].did, amount: `${o.amount}` }, by);
  }
  const fee = feeOf(o, model.defs.get(a)?.fee);
  return signedTx("asset.transfer", {
    asset: a,
    from: PARTIES[o.from].did,
    to: PARTIES[o.to].did,
    amount: `${o.amount}`,
    ...(fee !== undefined
      ? { fee: { amount: `${fee.amount}`, collector: PARTIES[fee.collector].did } }
      : {}),
  }, by);
}

function ledger(): MemLedger {
  return new MemLedger(testGenesis(fixedKey(99), "demo", OPEN_KINDS));
}

Deno.test("asset props: supply equals the sum of balances, none negative, and every result is the model's, same-block overspends decided in block order", () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(opArb, { minLength: 1, maxLength: 8 }), { maxLength: 6 }),
      (blocks) => {
        const l = ledger();
        const model = new Model();
        let time = T0;
        for (const ops of blocks) {
          // Envelopes are built against the model's view before the block, as
          // a client would sign them; the model then decides in block order.
          const envs = ops.map((o) => envelopeOf(o, model));
          const fees = ops.map((o) => namedFee(o, model));
          const expected = ops.map((o, i) => model.step(o, fees[i]));
          const out = l.block(envs, time += 1000);
          assert.deepEqual(
            out.results.map((r) => r.status === "applied" ? "applied" : r.code),
            expected,
          );
          for (const a of ASSETS) {
            const def = l.get<AssetState>(ASSET_NS, a);
            const rows = l.list<BalanceState>(BALANCE_NS, `${a}\u0001`);
            const sum = rows.reduce((s, [, b]) => s + BigInt(b.balance), 0n);
            for (const [, b] of rows) assert.ok(BigInt(b.balance) > 0n, `balance ${b.balance}`);
            assert.equal(sum, def === undefined ? 0n : BigInt(def.supply), `supply of ${a}`);
            for (const [i, p] of PARTIES.entries()) {
              const row = rows.find(([, b]) => b.account === p.did)?.[1];
              assert.equal(BigInt(row?.balance ?? "0"), model.bal(a, i), `balance of party ${i}`);
            }
          }
        }
      },
    ),
    { numRuns: runs(60) },
  );
});

Deno.test("asset props: a transaction repeated in the same block or a later one is one transaction", () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 6 }), fc.nat(), (ops, pick) => {
      const l = ledger();
      const model = new Model();
      const envs = ops.map((o) => envelopeOf(o, model));
      const again = envs[pick % envs.length];
      const first = l.block([...envs, again], T0 + 1000);
      assert.equal(first.txRows.length, envs.length);
      assert.deepEqual(first.duplicates, [first.txRows[pick % envs.length].id]);
      const before = l.snapshot();
      const second = l.block([again], T0 + 2000);
      assert.equal(second.txRows.length, 0);
      assert.deepEqual(l.snapshot(), before);
    }),
    { numRuns: runs(40) },
  );
});
