/**
 * The signer gate for the use-case contracts. Internal to `src/contracts/`.
 *
 * @module
 */
import type { Contract } from "./contract.ts";
import { withSignerGate } from "./gov.ts";

/**
 * `contract` with governance's apply-time signer gate in front of its
 * `apply`: a signer revoked or quarantined after admission (while the
 * transaction was in flight) is rejected `revoked_signer`, and an
 * unregistered signer of a kind that is not open `unregistered_signer`, the
 * same on every site (DESIGN §3: apply re-checks what depends on order).
 */
export function gated<B>(contract: Contract<B>): Contract<B> {
  return withSignerGate(contract);
}
