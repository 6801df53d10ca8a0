/**
 * The contract framework: a transaction kind is a body schema, an
 * admission-time authorisation rule, the state keys it touches, and a
 * deterministic `apply`.
 *
 * `apply` runs inside block execution on every site and must be a pure
 * function of (state, transaction, block context): no clock, no randomness,
 * no I/O. The executor prefetches exactly the keys `touches` names, so
 * `apply` may only read and write those.
 *
 * @module
 */
import type { z } from "zod";

/** One key of contract state. */
export interface StateKey {
  ns: string;
  key: string;
}

/** What `apply` sees of the ledger's state: only the keys its kind declared. */
export interface StateAccess {
  /** The value, or undefined when absent. Requires the key to be declared in `touches`. */
  get<T = unknown>(ns: string, key: string): T | undefined;
  /** Writes a JSON value. Requires the key to be declared in `touches`. */
  put(ns: string, key: string, value: unknown): void;
  /** Deletes a key. Requires the key to be declared in `touches`. */
  delete(ns: string, key: string): void;
}

/** The transaction as a contract sees it, after admission. */
export interface TxContext<B> {
  txId: string;
  kind: string;
  body: B;
  /** Signer did:keys, in envelope order. */
  signers: readonly string[];
  /** The block's time (ms), never decreasing along the chain. */
  time: number;
  height: number;
  /**
   * The rules version the block executes under (`src/contracts/rules.ts`):
   * the latest activation at a height `<= height`, 1 unless governance or
   * genesis set another. A rule change is written `if (tx.rules >= 2) …
   * else …`, keeping the old branch for blocks executed before it.
   */
  rules: number;
}

/**
 * The transaction as admission and planning see it: no block yet, so no
 * time, height or rules version.
 */
export type TxView<B> = Omit<TxContext<B>, "time" | "height" | "rules">;

/**
 * A deterministic refusal during apply. The transaction is recorded in the
 * log with `status: "rejected"` and this `code`, and nothing it wrote is kept.
 */
export class Rejection extends Error {
  constructor(readonly code: string, detail: string) {
    super(detail);
    this.name = "Rejection";
  }
}

/**
 * An admission-time refusal: the transaction never reaches the log. `type`
 * is a problem type slug.
 */
export class AdmissionRefusal extends Error {
  constructor(readonly type: string, detail: string) {
    super(detail);
    this.name = "AdmissionRefusal";
  }
}

/** A built-in transaction kind. */
export interface Contract<B = unknown> {
  kind: string;
  /** The body's zod schema (protocol: shared with the SDK). */
  body: z.ZodType<B>;
  /**
   * Stateless authorisation at admission: throw {@link AdmissionRefusal}
   * (type `unauthorized_signer`) when the signer set cannot be right for this
   * kind whatever the state, e.g. a missing co-signer.
   */
  authorize(tx: TxView<B>): void;
  /**
   * Every state key `apply` may read or write for this transaction, whatever
   * the rules version (a key only a newer version reads is declared always).
   */
  touches(tx: TxView<B>): StateKey[];
  /**
   * The rules version a site's software must support to admit this
   * transaction (absent: any). Admission only: it depends on the site's
   * software, which `apply` never may.
   */
  rulesNeeded?(body: B): number;
  /**
   * Applies the transaction. Returns kind-specific output merged into the
   * recorded result, or throws {@link Rejection}.
   */
  apply(tx: TxContext<B>, state: StateAccess): Record<string, unknown>;
}
