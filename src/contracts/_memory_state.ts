/**
 * An in-memory {@link StateAccess} for contract unit tests: rows as
 * `[namespace, key, value]`, values kept as JSON text so a test sees what
 * a contract wrote, not an object it may still hold; and
 * {@link applyDeclared}, which applies a transaction to one as block
 * execution does.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Contract, StateAccess, TxContext, TxView } from "./contract.ts";

/** A state holding `rows` (`[namespace, key, value]`), read and written as JSON. */
export function memoryState(rows: ReadonlyArray<[string, string, unknown]>): StateAccess {
  const m = new Map(rows.map(([ns, key, v]) => [`${ns}\u0000${key}`, JSON.stringify(v)]));
  return {
    get<T>(ns: string, key: string) {
      const v = m.get(`${ns}\u0000${key}`);
      return v === undefined ? undefined : JSON.parse(v) as T;
    },
    put(ns, key, value) {
      m.set(`${ns}\u0000${key}`, JSON.stringify(value));
    },
    delete(ns, key) {
      m.delete(`${ns}\u0000${key}`);
    },
  };
}

/**
 * `contract`'s transaction with `body`, signed by `signers`, under rules
 * `rules`, applied to `state` through a view that fails on any key its
 * `touches` left out, as block execution does (`src/chain/execute.ts`).
 * Answers what `apply` returns; a rejection is thrown (`Rejection`).
 */
export function applyDeclared<B>(
  contract: Contract<B>,
  body: B,
  signers: string[],
  rules: number,
  state: StateAccess,
  at: { time: number; height: number } = { time: 1_000, height: 7 },
): Record<string, unknown> {
  const view: TxView<B> = { txId: `tx-${contract.kind}`, kind: contract.kind, body, signers };
  const declared = new Set(contract.touches(view).map((k) => `${k.ns}\u0000${k.key}`));
  const check = (ns: string, key: string) =>
    assert.ok(declared.has(`${ns}\u0000${key}`), `${contract.kind} used undeclared ${ns}/${key}`);
  const tx: TxContext<B> = { ...view, ...at, rules };
  return contract.apply(tx, {
    get: (ns, key) => (check(ns, key), state.get(ns, key)),
    put: (ns, key, value) => (check(ns, key), state.put(ns, key, value)),
    delete: (ns, key) => (check(ns, key), state.delete(ns, key)),
  });
}
