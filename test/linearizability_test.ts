/**
 * The linearizability checker (`test/_linearizability.ts`) on register
 * histories: classic violations it must report, with the partition, the
 * order it could build and the operations that could not come next;
 * linearizable histories under heavy concurrency it must accept; writes
 * whose outcome is unknown, taken either way; and a history of thousands of
 * operations checked in a moment. Then the ledger's models
 * (`test/_ledger_models.ts`) on small hand-made histories.
 */
import assert from "node:assert/strict";
import {
  check,
  explain,
  type KvInput,
  kvModel,
  type Model,
  type Operation,
  type RegisterInput,
  registerModel,
  type RegisterOutput,
} from "./_linearizability.ts";
import {
  type BalancesInput,
  balancesModel,
  type BalancesOutput,
  INSUFFICIENT_FUNDS,
  type TxInput,
  txModel,
  type TxOutput,
} from "./_ledger_models.ts";
import { mulberry32 } from "./raft_sim.ts";

type RegOp = Operation<RegisterInput, RegisterOutput>;

const w = (client: number, call: number, ret: number, value: number): RegOp => ({
  client,
  call,
  ret,
  input: { kind: "write", value },
  output: {},
});
const r = (client: number, call: number, ret: number, value: number): RegOp => ({
  client,
  call,
  ret,
  input: { kind: "read" },
  output: { value },
});
/** A write whose answer never came: it may take effect at any time after `call`, or never. */
const wLost = (client: number, call: number, value: number): RegOp => ({
  client,
  call,
  ret: Infinity,
  input: { kind: "write", value },
});

const verdict = (history: RegOp[]) => check(registerModel(0), history).verdict;

Deno.test("linearizability: a read that misses a write completed before it was invoked is a violation", () => {
  const history = [w(0, 0, 10, 1), r(1, 20, 30, 0)];
  const result = check(registerModel(0), history);
  assert.equal(result.verdict, "violation");
  const [v] = result.violations;
  assert.equal(v.key, "");
  // The write takes effect; the read of 0 cannot come after it.
  assert.deepEqual(v.prefix.map((p) => p.index), [0]);
  assert.equal(v.state, 1);
  assert.equal(v.blocked, 1);
  assert.deepEqual(v.candidates, [1]);
  const text = explain(registerModel(0), history, v);
  assert.match(text, /places 1 of them/);
  assert.match(text, /→ #1 client 1 \[20\.0, 30\.0\] read\(\) → 0/);
});

Deno.test("linearizability: the same read concurrent with the write may see either value", () => {
  assert.equal(verdict([w(0, 0, 10, 1), r(1, 5, 30, 0)]), "linearizable");
  assert.equal(verdict([w(0, 0, 10, 1), r(1, 5, 30, 1)]), "linearizable");
  // Touching at an instant counts as concurrent.
  assert.equal(verdict([w(0, 0, 10, 1), r(1, 10, 30, 0)]), "linearizable");
});

Deno.test("linearizability: two clients reading two concurrent writes in opposite orders is a violation", () => {
  // Both writes span every read; client 2 sees 1 then 2, client 3 sees 2 then 1.
  const history = [
    w(0, 0, 100, 1),
    w(1, 0, 100, 2),
    r(2, 10, 20, 1),
    r(2, 30, 40, 2),
    r(3, 10, 20, 2),
    r(3, 30, 40, 1),
  ];
  assert.equal(verdict(history), "violation");
  // Either client alone is fine.
  assert.equal(verdict(history.slice(0, 4)), "linearizable");
  assert.equal(verdict([...history.slice(0, 2), ...history.slice(4)]), "linearizable");
});

Deno.test("linearizability: reads after both writes completed that see 2 then 1 are a violation", () => {
  assert.equal(
    verdict([w(0, 0, 100, 1), w(1, 0, 100, 2), r(2, 110, 120, 2), r(2, 130, 140, 1)]),
    "violation",
  );
});

Deno.test("linearizability: a read of a value never written is a violation", () => {
  const history = [w(0, 0, 10, 1), r(1, 0, 30, 7), w(2, 5, 15, 2)];
  const result = check(registerModel(0), history);
  assert.equal(result.verdict, "violation");
  assert.ok(result.violations[0].candidates.includes(1));
});

Deno.test("linearizability: a write whose outcome is unknown may have taken effect, or not yet", () => {
  // Seen by a read long after its invocation: it took effect.
  assert.equal(verdict([wLost(0, 0, 1), r(1, 1000, 1010, 1)]), "linearizable");
  // Not seen: it has not taken effect (or never will).
  assert.equal(verdict([wLost(0, 0, 1), r(1, 1000, 1010, 0)]), "linearizable");
  // Not seen, then seen: it took effect between the reads.
  assert.equal(verdict([wLost(0, 0, 1), r(1, 10, 20, 0), r(1, 30, 40, 1)]), "linearizable");
  // Seen, then not seen: it cannot be undone.
  assert.equal(verdict([wLost(0, 0, 1), r(1, 10, 20, 1), r(1, 30, 40, 0)]), "violation");
  // Not before its invocation.
  assert.equal(verdict([r(1, 0, 5, 1), wLost(0, 10, 1)]), "violation");
  // Its value overwritten by a later write, then back: it took effect after that write.
  assert.equal(
    verdict([wLost(0, 0, 1), w(1, 10, 20, 2), r(2, 30, 40, 2), r(2, 50, 60, 1)]),
    "linearizable",
  );
  // Two unknown writes: each at most once.
  assert.equal(
    verdict([
      wLost(0, 0, 1),
      wLost(1, 0, 2),
      r(2, 10, 20, 1),
      r(2, 30, 40, 2),
      r(2, 50, 60, 1),
    ]),
    "violation",
  );
});

Deno.test("linearizability: each key is checked alone, and a violation names its key", () => {
  const model = kvModel(0);
  const op = (
    client: number,
    call: number,
    ret: number,
    key: string,
    input: RegisterInput,
    value?: number,
  ): Operation<KvInput, RegisterOutput> => ({
    client,
    call,
    ret,
    input: { ...input, key },
    output: value === undefined ? {} : { value },
  });
  const history = [
    op(0, 0, 10, "a", { kind: "write", value: 1 }),
    op(1, 20, 30, "a", { kind: "read" }, 1),
    op(2, 0, 10, "b", { kind: "write", value: 5 }),
    // Stale on b.
    op(3, 20, 30, "b", { kind: "read" }, 0),
    // On c, a read of 0 after a's write is fine: another key.
    op(4, 20, 30, "c", { kind: "read" }, 0),
  ];
  const result = check(model, history);
  assert.equal(result.partitions, 3);
  assert.equal(result.verdict, "violation");
  assert.deepEqual(result.violations.map((v) => v.key), ["b"]);
  assert.deepEqual(result.violations[0].prefix.map((p) => p.index), [2]);
  assert.match(explain(model, history, result.violations[0]), /partition "b"/);
});

/**
 * A history of `clients` clients each running `opsPerClient` operations on
 * one atomic register: every operation takes effect at a random instant
 * inside its interval, and reads answer what the register held then. It is
 * linearizable by construction. `lostEvery` makes every n-th write lose its
 * answer (it still takes effect).
 */
function atomicRegisterHistory(
  seed: number,
  clients: number,
  opsPerClient: number,
  lostEvery = 0,
): RegOp[] {
  const random = mulberry32(seed);
  type Pending = { op: RegOp; at: number };
  const pending: Pending[] = [];
  for (let c = 0; c < clients; c++) {
    let t = random() * 10;
    for (let k = 0; k < opsPerClient; k++) {
      const call = t;
      const ret = call + 1 + random() * 30;
      const at = call + random() * (ret - call);
      const write = random() < 0.4;
      const op: RegOp = write
        ? w(c, call, ret, Math.floor(random() * 5))
        : { client: c, call, ret, input: { kind: "read" }, output: {} };
      pending.push({ op, at });
      t = ret + random() * 5;
    }
  }
  // Run them in order of their linearization points.
  pending.sort((a, b) => a.at - b.at);
  let value = 0;
  let writes = 0;
  for (const p of pending) {
    if (p.op.input.kind === "write") {
      value = p.op.input.value;
      writes++;
      if (lostEvery > 0 && writes % lostEvery === 0) {
        p.op.ret = Infinity;
        delete p.op.output;
      }
    } else {
      p.op.output = { value };
    }
  }
  return pending.map((p) => p.op).sort((a, b) => a.call - b.call);
}

Deno.test("linearizability: histories of an atomic register under heavy concurrency are accepted", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const history = atomicRegisterHistory(seed, 4 + (seed % 13), 25, seed % 3 === 0 ? 7 : 0);
    const result = check(registerModel(0), history);
    assert.equal(result.verdict, "linearizable", `seed ${seed}`);
  }
});

Deno.test("linearizability: one read changed to a value no write gave makes a violation", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const history = atomicRegisterHistory(seed, 8, 25);
    const reads = history.filter((op) => op.input.kind === "read");
    reads[Math.floor(reads.length / 2)].output = { value: 99 };
    assert.equal(check(registerModel(0), history).verdict, "violation", `seed ${seed}`);
  }
});

/**
 * Whether some order of `history` respecting real time is accepted by
 * `model` from the state of partition `""`: every permutation tried.
 */
function linearizableByBruteForce<S, I, O>(
  model: Model<S, I, O>,
  history: ReadonlyArray<Operation<I, O>>,
): boolean {
  const used = new Array(history.length).fill(false);
  const extend = (state: S, placed: number): boolean => {
    if (placed === history.length) return true;
    for (const [i, op] of history.entries()) {
      if (used[i]) continue;
      // Every operation that completed before this one's call must already be placed.
      if (history.some((other, j) => !used[j] && j !== i && other.ret < op.call)) continue;
      const after = model.step(state, op.input, op.output);
      if (after === undefined) continue;
      used[i] = true;
      const ok = extend(after, placed + 1);
      used[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return extend(model.init(""), 0);
}

Deno.test("linearizability: the checker agrees with trying every order on small random histories, and its explanation replays", () => {
  const random = mulberry32(7);
  const counts = { linearizable: 0, violation: 0 };
  for (let n = 0; n < 3000; n++) {
    const size = 2 + Math.floor(random() * 6);
    const history: RegOp[] = Array.from({ length: size }, (_, k) => {
      const call = Math.floor(random() * 20);
      const ret = random() < 0.15 ? Infinity : call + Math.floor(random() * 10);
      const value = Math.floor(random() * 3);
      if (random() < 0.5) {
        return ret === Infinity ? wLost(k, call, value) : w(k, call, ret, value);
      }
      return r(k, call, ret === Infinity ? call + 5 : ret, value);
    });
    const expected = linearizableByBruteForce(registerModel(0), history)
      ? "linearizable"
      : "violation";
    const result = check(registerModel(0), history);
    assert.equal(result.verdict, expected, JSON.stringify(history));
    counts[expected]++;
    // The explanation holds: its prefix replays, and the model refuses every candidate after it.
    for (const v of result.violations) {
      const model = registerModel(0);
      let state = 0;
      for (const p of v.prefix) {
        const op = history[p.index];
        state = model.step(state, op.input, op.output)!;
        assert.equal(state, p.state);
      }
      assert.equal(v.state, state);
      assert.ok(v.candidates.includes(v.blocked));
      for (const c of v.candidates) {
        assert.equal(model.step(state, history[c].input, history[c].output), undefined);
      }
    }
  }
  // Both verdicts were exercised.
  assert.ok(counts.linearizable > 300 && counts.violation > 300, JSON.stringify(counts));
});

Deno.test("linearizability: a search past its step budget says unknown, not linearizable", () => {
  const history = atomicRegisterHistory(3, 8, 25);
  const result = check(registerModel(0), history, { stepsMax: 10 });
  assert.equal(result.verdict, "unknown");
  assert.deepEqual(result.undecided, [""]);
});

Deno.test("linearizability: a history of 5,000 operations by 16 clients, some writes lost, is checked in a moment", () => {
  const history = atomicRegisterHistory(42, 16, 5000 / 16, 50);
  assert.ok(history.length >= 4992);
  const result = check(registerModel(0), history);
  assert.equal(result.verdict, "linearizable");
  // A loose bound: the memoized search takes tens of ms here; without memo it can take years.
  assert.ok(result.ms < 20_000, `took ${result.ms} ms`);
  console.log(
    `  ${result.ops} operations, ${result.steps} search steps, ${result.ms.toFixed(0)} ms`,
  );
});

// ---- the ledger models (test/_ledger_models.ts) ------------------------------

type BalOp = Operation<BalancesInput, BalancesOutput>;

const transfer = (
  client: number,
  call: number,
  ret: number,
  from: number,
  to: number,
  amount: number,
  output?: BalancesOutput,
): BalOp => ({
  client,
  call,
  ret,
  input: { kind: "transfer", asset: "kwh", from, to, amount, txId: `tx-${client}-${call}` },
  ...(output === undefined ? {} : { output }),
});
const applied: BalancesOutput = { status: "applied" };
const overdrawn: BalancesOutput = { status: "rejected", code: INSUFFICIENT_FUNDS };
const balances = (client: number, call: number, ret: number, values: number[]): BalOp => ({
  client,
  call,
  ret,
  input: { kind: "balances", asset: "kwh" },
  output: { balances: values },
});
const bank = () => balancesModel(new Map([["kwh", [4, 0]], ["eur", [1, 1]]]));

Deno.test("ledger balances model: of two concurrent transfers that together overdraw, exactly one applies", () => {
  const both = (a: BalancesOutput, b: BalancesOutput) =>
    check(bank(), [transfer(0, 0, 10, 0, 1, 3, a), transfer(1, 0, 10, 0, 1, 3, b)]).verdict;
  assert.equal(both(applied, overdrawn), "linearizable");
  assert.equal(both(overdrawn, applied), "linearizable");
  assert.equal(both(applied, applied), "violation");
  assert.equal(both(overdrawn, overdrawn), "violation");
});

Deno.test("ledger balances model: a transfer rejected for want of funds after a credit completed is a violation", () => {
  // Account 1 holds nothing until the first transfer completes; then it can pay 2.
  assert.equal(
    check(bank(), [transfer(0, 0, 10, 0, 1, 3, applied), transfer(1, 20, 30, 1, 0, 2, overdrawn)])
      .verdict,
    "violation",
  );
  assert.equal(
    check(bank(), [transfer(0, 0, 10, 0, 1, 3, applied), transfer(1, 5, 30, 1, 0, 2, overdrawn)])
      .verdict,
    "linearizable",
  );
});

Deno.test("ledger balances model: reads of all balances order transfers, and a stale one is a violation", () => {
  const history = [
    transfer(0, 0, 10, 0, 1, 1, applied),
    balances(1, 20, 30, [3, 1]),
    transfer(0, 40, 50, 0, 1, 1, applied),
    balances(1, 60, 70, [3, 1]),
  ];
  const result = check(bank(), history);
  assert.equal(result.verdict, "violation");
  assert.equal(result.violations[0].key, "kwh");
  assert.equal(result.violations[0].blocked, 3);
  assert.deepEqual(result.violations[0].state, [2, 2]);
});

Deno.test("ledger balances model: a transfer whose outcome is unknown applies when funded, at a time reads allow", () => {
  const lost = transfer(0, 0, Infinity, 0, 1, 3);
  assert.equal(check(bank(), [lost, balances(1, 20, 30, [4, 0])]).verdict, "linearizable");
  assert.equal(check(bank(), [lost, balances(1, 20, 30, [1, 3])]).verdict, "linearizable");
  // Not with another amount.
  assert.equal(check(bank(), [lost, balances(1, 20, 30, [2, 2])]).verdict, "violation");
  // A rejection for another reason (it expired) changes nothing, wherever it goes.
  const expired: BalancesOutput = { status: "rejected", code: "expired" };
  assert.equal(
    check(bank(), [transfer(0, 0, 10, 0, 1, 3, expired), balances(1, 20, 30, [4, 0])]).verdict,
    "linearizable",
  );
});

Deno.test("ledger transaction model: a lookup that misses a committed transaction, or changes its result, is a violation", () => {
  const model = txModel();
  type T = Operation<TxInput, TxOutput>;
  const submit = (call: number, ret: number, result?: string): T => ({
    client: 0,
    call,
    ret,
    input: { kind: "submit", txId: "t1" },
    ...(result === undefined ? {} : { output: { result } }),
  });
  const lookup = (call: number, ret: number, output: TxOutput): T => ({
    client: 1,
    call,
    ret,
    input: { kind: "lookup", txId: "t1" },
    output,
  });
  const found = { committed: true as const, result: "applied" };
  const absent = { committed: false as const };
  assert.equal(
    check(model, [submit(0, 10, "applied"), lookup(20, 30, found)]).verdict,
    "linearizable",
  );
  assert.equal(
    check(model, [submit(0, 10, "applied"), lookup(20, 30, absent)]).verdict,
    "violation",
  );
  assert.equal(
    check(model, [submit(0, 10, "applied"), lookup(5, 30, absent)]).verdict,
    "linearizable",
  );
  assert.equal(
    check(model, [
      submit(0, 10, "applied"),
      lookup(20, 30, { committed: true, result: "rejected:x" }),
    ])
      .verdict,
    "violation",
  );
  // Unknown outcome: found later, then never absent again.
  assert.equal(
    check(model, [submit(0, Infinity), lookup(20, 30, absent), lookup(40, 50, found)]).verdict,
    "linearizable",
  );
  assert.equal(
    check(model, [submit(0, Infinity), lookup(20, 30, found), lookup(40, 50, absent)]).verdict,
    "violation",
  );
});

Deno.test("ledger balances model: the checker agrees with trying every order on small random histories of transfers and reads", () => {
  const random = mulberry32(11);
  const model = balancesModel(new Map([["", [2, 1]]]));
  const counts = { linearizable: 0, violation: 0 };
  for (let n = 0; n < 3000; n++) {
    const size = 2 + Math.floor(random() * 5);
    const history: BalOp[] = Array.from({ length: size }, (_, k): BalOp => {
      const call = Math.floor(random() * 20);
      const ret = call + Math.floor(random() * 10);
      const x = random();
      if (x < 0.5) {
        const from = random() < 0.5 ? 0 : 1;
        const outcome = random();
        return {
          client: k,
          call,
          ret: outcome < 0.15 ? Infinity : ret,
          input: {
            kind: "transfer",
            asset: "",
            from,
            to: 1 - from,
            amount: 1 + Math.floor(random() * 2),
            txId: `t${k}`,
          },
          ...(outcome < 0.15 ? {} : { output: outcome < 0.6 ? applied : overdrawn }),
        };
      }
      const output = x < 0.75
        ? { balance: Math.floor(random() * 4) }
        : { balances: [Math.floor(random() * 4), Math.floor(random() * 4)] };
      const input: BalancesInput = "balance" in output
        ? { kind: "balance", asset: "", account: random() < 0.5 ? 0 : 1 }
        : { kind: "balances", asset: "" };
      return { client: k, call, ret, input, output };
    });
    const expected = linearizableByBruteForce(model, history) ? "linearizable" : "violation";
    assert.equal(check(model, history).verdict, expected, JSON.stringify(history));
    counts[expected]++;
  }
  // Random answers are mostly wrong; both verdicts are still exercised.
  assert.ok(counts.linearizable > 150 && counts.violation > 150, JSON.stringify(counts));
});
