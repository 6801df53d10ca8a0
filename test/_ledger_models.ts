/**
 * Sequential models of ledger state that clients can observe, for the
 * linearizability checker (`_linearizability.ts`) over histories of a real
 * cluster (`linearizability_cluster_test.ts`).
 *
 * - {@link balancesModel}: the balances of a few accounts of one asset under
 *   `asset.transfer`s, read one account at a time or all at once. A
 *   transfer that would overdraw is rejected at apply
 *   (`asset_insufficient_funds`), so both its answer and every later read
 *   depend on the order the ledger chose: a stale read, a lost or
 *   reordered transfer shows. Partitioned by asset (a transfer moves one
 *   asset; assets never observe each other).
 * - {@link txModel}: whether a transaction is committed, and with what
 *   result, as `GET /v1/txs/{txId}` says: a grow-only set of transaction
 *   ids, partitioned by id. Weaker, but it sees a committed transaction
 *   that a read then misses.
 *
 * @module
 */
import type { Model } from "./_linearizability.ts";

/** An operation on one asset's balances; accounts are numbered `0..n-1`. */
export type BalancesInput =
  | { kind: "transfer"; asset: string; from: number; to: number; amount: number; txId: string }
  | { kind: "balance"; asset: string; account: number }
  | { kind: "balances"; asset: string };

/**
 * A transfer's committed result (`applied`, or `rejected` with its code), a
 * balance, or every account's balance.
 */
export type BalancesOutput =
  | { status: "applied" }
  | { status: "rejected"; code: string }
  | { balance: number }
  | { balances: number[] };

/** The rejection that depends on balances; any other (an expired transaction) changes nothing anywhere. */
export const INSUFFICIENT_FUNDS = "asset_insufficient_funds";

/**
 * Balances of each asset of `initial` (by asset, one number per account),
 * changed only by transfers. A transfer applies when its sender holds the
 * amount and is rejected `asset_insufficient_funds` otherwise; a rejection
 * for any other reason is a no-op in every state; an unknown answer is what
 * the state decides.
 */
export function balancesModel(
  initial: ReadonlyMap<string, readonly number[]>,
): Model<readonly number[], BalancesInput, BalancesOutput> {
  return {
    init(asset) {
      const balances = initial.get(asset);
      if (balances === undefined) {
        throw new Error(`Cannot check asset "${asset}": no initial balances`);
      }
      return balances;
    },
    step(state, input, output) {
      switch (input.kind) {
        case "transfer": {
          const funded = state[input.from] >= input.amount;
          const moved = () => {
            const next = state.slice();
            next[input.from] -= input.amount;
            next[input.to] += input.amount;
            return next;
          };
          if (output === undefined) return funded ? moved() : state;
          if (!("status" in output)) return undefined;
          if (output.status === "applied") return funded ? moved() : undefined;
          if (output.code !== INSUFFICIENT_FUNDS) return state;
          return funded ? undefined : state;
        }
        case "balance":
          if (output === undefined) return state;
          return "balance" in output && output.balance === state[input.account] ? state : undefined;
        case "balances":
          if (output === undefined) return state;
          return "balances" in output && output.balances.length === state.length &&
              output.balances.every((b, i) => b === state[i])
            ? state
            : undefined;
      }
    },
    // A read, or a transfer rejected: neither changes any state it is accepted in.
    observes: (input, output) =>
      input.kind !== "transfer" || (output !== undefined && "status" in output &&
        output.status === "rejected"),
    stateKey: (s) => s.join(","),
    describeState: (s) => `[${s.join(", ")}]`,
    partition: (input) => input.asset,
    describe(input, output) {
      const out = output === undefined
        ? "?"
        : "status" in output
        ? (output.status === "applied" ? "applied" : `rejected ${output.code}`)
        : "balance" in output
        ? String(output.balance)
        : `[${output.balances.join(", ")}]`;
      switch (input.kind) {
        case "transfer":
          return `transfer ${input.amount} ${input.asset} ${input.from}→${input.to} (${
            input.txId.slice(0, 12)
          }) → ${out}`;
        case "balance":
          return `balance ${input.asset} of ${input.account} → ${out}`;
        case "balances":
          return `balances ${input.asset} → ${out}`;
      }
    },
  };
}

/** A transaction's submission, or a read of it. */
export type TxInput = { kind: "submit"; txId: string } | { kind: "lookup"; txId: string };

/** A lookup's answer: committed (a pending transaction is not), and with what result. */
export type LookupOutput = { committed: false } | { committed: true; result: string };

/** A submission answers its committed result (`applied` or `rejected:<code>`); a lookup, a {@link LookupOutput}. */
export type TxOutput = { result: string } | LookupOutput;

/**
 * What `GET /v1/txs/{txId}` shows of each transaction: absent until it
 * commits, then committed with one result for good. State: `""` absent,
 * `"?"` committed with a result not known (its submission's answer was
 * lost), else the result.
 */
export function txModel(): Model<string, TxInput, TxOutput> {
  return {
    init: () => "",
    step(state, input, output) {
      if (input.kind === "submit") {
        if (state !== "") return undefined;
        if (output === undefined) return "?";
        return "result" in output && !("committed" in output) ? output.result : undefined;
      }
      if (output === undefined) return state;
      if (!("committed" in output)) return undefined;
      if (!output.committed) return state === "" ? state : undefined;
      return state !== "" && (state === "?" || state === output.result) ? state : undefined;
    },
    observes: (input) => input.kind === "lookup",
    stateKey: (s) => s,
    describeState: (s) => s === "" ? "absent" : s === "?" ? "committed" : `committed, ${s}`,
    partition: (input) => input.txId,
    describe(input, output) {
      const out = output === undefined
        ? "?"
        : "committed" in output
        ? (output.committed ? `committed, ${output.result}` : "absent")
        : output.result;
      return `${input.kind} ${input.txId.slice(0, 12)} → ${out}`;
    },
  };
}
