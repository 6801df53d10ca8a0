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
import { RULES_VERSION_SUPPORTED } from "./rules.ts";

export * from "./contract.ts";
export * from "./data_anchor.ts";
export * from "./gov.ts";
export * from "./identity.ts";
export * from "./asset.ts";
export * from "./custody.ts";
export * from "./access.ts";
export * from "./roaming.ts";
export * from "./rules.ts";

/** What a registry implements besides its kinds. */
export interface RegistryOptions {
  /**
   * The highest rules version these contracts implement; default
   * {@link RULES_VERSION_SUPPORTED}. Tests raise it, with a stub contract
   * that branches on `tx.rules`, to exercise a version production code does
   * not have yet.
   */
  rulesSupported?: number;
}

/**
 * Kind → contract, and the rules versions they implement. Immutable once
 * built, so every site judges alike.
 */
export class ContractRegistry {
  readonly #byKind: ReadonlyMap<string, Contract>;
  /** The highest rules version these contracts can execute (see `rules.ts`). */
  readonly rulesSupported: number;

  constructor(contracts: readonly Contract<never>[], options: RegistryOptions = {}) {
    const rulesSupported = options.rulesSupported ?? RULES_VERSION_SUPPORTED;
    if (!Number.isInteger(rulesSupported) || rulesSupported < 1) {
      throw new Error(`Cannot build the registry: rulesSupported ${rulesSupported} is not >= 1`);
    }
    this.rulesSupported = rulesSupported;
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

/** The registry of every built-in kind, at {@link RULES_VERSION_SUPPORTED}. */
export function builtinContracts(): ContractRegistry {
  return new ContractRegistry(builtinContractList());
}

/** Every built-in contract, as {@link builtinContracts} registers them. */
export function builtinContractList(): Contract<never>[] {
  return [
    // data.anchor is open to any did:key, but a key revoked or quarantined
    // while its anchor was in flight is still refused at apply (DESIGN §3).
    withSignerGate(dataAnchor) as unknown as Contract<never>,
    ...GOV_CONTRACTS,
    ...IDENTITY_CONTRACTS,
    ...assetContracts.map((c) => c as unknown as Contract<never>),
    ...custodyContracts.map((c) => c as unknown as Contract<never>),
    ...accessContracts.map((c) => c as unknown as Contract<never>),
    ...roamingContracts.map((c) => c as unknown as Contract<never>),
  ];
}
