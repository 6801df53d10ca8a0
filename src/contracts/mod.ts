/**
 * Built-in transaction kinds (contracts) and the registry that looks them up.
 *
 * @module
 */
import type { Contract } from "./contract.ts";
import { dataAnchor } from "./data_anchor.ts";
import { GOV_CONTRACTS, withSignerGate } from "./gov.ts";
import { IDENTITY_CONTRACTS } from "./identity.ts";
import { assetContracts } from "./asset.ts";
import { custodyContracts } from "./custody.ts";
import { accessContracts } from "./access.ts";
import { roamingContracts } from "./roaming.ts";

export * from "./contract.ts";
export * from "./data_anchor.ts";
export * from "./gov.ts";
export * from "./identity.ts";
export * from "./asset.ts";
export * from "./custody.ts";
export * from "./access.ts";
export * from "./roaming.ts";

/** Kind → contract. Immutable once built, so every site judges alike. */
export class ContractRegistry {
  readonly #byKind: ReadonlyMap<string, Contract>;

  constructor(contracts: readonly Contract<never>[]) {
    const byKind = new Map<string, Contract>();
    for (const c of contracts) {
      if (byKind.has(c.kind)) throw new Error(`Cannot register kind ${c.kind}: already registered`);
      byKind.set(c.kind, c as unknown as Contract);
    }
    this.#byKind = byKind;
  }

  /** The contract for `kind`, or undefined for an unknown kind. */
  get(kind: string): Contract | undefined {
    return this.#byKind.get(kind);
  }

  /** Every registered kind, sorted. */
  kinds(): string[] {
    return [...this.#byKind.keys()].sort();
  }
}

/** The registry of every built-in kind. */
export function builtinContracts(): ContractRegistry {
  return new ContractRegistry([
    // data.anchor is open to any did:key, but a key revoked or quarantined
    // while its anchor was in flight is still refused at apply (DESIGN §3).
    withSignerGate(dataAnchor) as unknown as Contract<never>,
    ...GOV_CONTRACTS,
    ...IDENTITY_CONTRACTS,
    ...assetContracts.map((c) => c as unknown as Contract<never>),
    ...custodyContracts.map((c) => c as unknown as Contract<never>),
    ...accessContracts.map((c) => c as unknown as Contract<never>),
    ...roamingContracts.map((c) => c as unknown as Contract<never>),
  ]);
}
