/**
 * Who may act for a holder: the rule the use-case contracts share for "the
 * signer is the owner (or holder) `D`" of something keyed by a did:key — an
 * asset balance, a stream, a custody item, an access grant. Internal to
 * `src/contracts/`.
 *
 * A device that rotates its key (`identity.rotate`) keeps its standing: its
 * current key acts for every earlier key its device record still lists, so
 * what the device holds under an old key is not stranded when that key can
 * no longer sign. The rule is an authorisation rule, not a migration: a
 * rotation moves nothing, and holdings stay under the did:key that created
 * them (new ones are made under the new key, as the signer names it).
 *
 * It is decided from one state row per signer, its `identity.status` row
 * (already read by the signer gate), which `identity.*` keeps in step with
 * the device record: the row of a device's current key lists the device's
 * earlier keys (`KeyStatusRecord.earlierKeys`, at most `DEVICE_KEYS_MAX - 1`,
 * the oldest dropped first). So the check reads a bounded, declared set of
 * keys whatever the number of rotations, and every site agrees.
 *
 * What follows from it, on every site alike:
 *
 * - A rotated-out key acts for nothing, not even its own holdings: its row
 *   says `revoked`, so admission and the signer gate refuse it before any
 *   contract rule runs.
 * - A quarantined device's current key acts for nothing (its row says
 *   `quarantined`); once its authority lifts the quarantine, it acts again.
 * - A revoked device's holdings stay frozen: no key of it is `active`.
 * - A key that was never a device key has no row, and acts only for itself.
 * - Keys are never shared: `identity.register` and `identity.rotate` refuse
 *   a key any device ever had (`key_in_use`), and each proves possession of
 *   it, so no signer can claim another party's key as an earlier one.
 *
 * @module
 */
import type { StateAccess, StateKey } from "./contract.ts";
import { IDENTITY_STATUS_NS, type KeyStatusRecord } from "./gov.ts";

/** The keys {@link actingSigner} reads: the `identity.status` row of each signer. */
export function actingSignerKeys(signers: readonly string[]): StateKey[] {
  return signers.map((s) => ({ ns: IDENTITY_STATUS_NS, key: s }));
}

/**
 * The signer that acts for `holder`: `holder` itself when it signed, else
 * the first signer (in envelope order) that is the current key of an active
 * device whose earlier keys include `holder`; undefined when none does.
 * Requires {@link actingSignerKeys} of the signers in `touches`.
 *
 * The signer's own standing (revoked, quarantined, unregistered) is the
 * signer gate's to judge, before this runs.
 */
export function actingSigner(
  holder: string,
  signers: readonly string[],
  state: StateAccess,
): string | undefined {
  if (signers.includes(holder)) return holder;
  return signers.find((s) => {
    const row = state.get<KeyStatusRecord>(IDENTITY_STATUS_NS, s);
    return row?.status === "active" && row.earlierKeys?.includes(holder) === true;
  });
}
