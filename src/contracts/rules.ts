/**
 * Rules versions: which version of the contract rules a block executes
 * under, decided by ledger state alone.
 *
 * Contract rules change between software versions. A replica that executed
 * a block under other rules than the rest would diverge, so the rules are
 * versioned and a new version takes effect at a block height that
 * governance agrees on (`gov.setRules`), as Ethereum's fork heights and
 * Hyperledger Fabric's channel capabilities do. Carriers upgrade their
 * sites one at a time — new software still executes the old rules — and
 * every site switches at the same block.
 *
 * - The version in force at block `h` is the latest activation at a height
 *   `<= h` ({@link rulesAt}); version 1 when the ledger never set one.
 * - A contract sees it as `tx.rules` and branches on it:
 *   `if (tx.rules >= 2) … else …`. The older branch stays: old blocks are
 *   replayed (a snapshot catch-up, a new site) under the rules they were
 *   executed under. `test/golden_chain_test.ts` replays recorded chains
 *   (`test/golden/chain.json` under version 1, `chain_rules2.json` switching
 *   to 2, `chain_rules3.json` switching from 2 to 3) and fails when a change
 *   alters what an old block decides; a new version adds a chain that
 *   switches to it (`test/golden/generate.ts`).
 * - A site whose software cannot execute the version in force at a block
 *   stops before executing any of it ({@link checkRules}); the check reads
 *   state only, so every site that supports the version decides alike.
 *
 * State: `gov.rules/current` → {@link RulesRecord}. Absent on a ledger
 * whose genesis names no `rules` and that never applied a `gov.setRules`.
 *
 * @module
 */

/**
 * The highest rules version this software can execute. A release that
 * changes a rule raises this, keeps the old behaviour for `tx.rules` below
 * the new version, and ships before governance schedules the new version
 * (docs/governance.md). The versions:
 *
 * - 1: the rules as versioned on 2026-12-03 (software before that gave some
 *   other results, so it cannot re-execute ledgers begun then: README,
 *   "Upgrading a site").
 * - 2: `gov.removeAdmin` of an organisation's last admin removes the
 *   organisation with it (and refuses it for the only organisation), so
 *   organisations without admins, which count in every majority and can
 *   sign nothing, never pile up until no change can pass (`gov.ts`).
 * - 3: a `custody.handoff` or `custody.attach` may cite only an anchor that
 *   was made (the `data.anchor` row of its stream and `seq`), rejected
 *   `custody_anchor_unknown` otherwise. Up to 2 a `seq` at most the
 *   stream's last passed, so a `seq` the stream skipped — an anchor never
 *   made — was accepted (`custody.ts`).
 * - 4: a `roaming.record` may end exactly at its period's `until` (up to 3
 *   its `to` had to be before it, so usage running up to the boundary fit
 *   no period: `roaming.ts`); a `data.anchor` on an existing stream records
 *   as its `signer` the key that acted for the stream's owner, not the
 *   envelope's first signer, which may be any co-signer (`data_anchor.ts`);
 *   `gov.addSite` rejects an Ed25519 key of small order, which verifies no
 *   signature, `site_key_unusable` (up to 3 it recorded a site that could
 *   never sign: `gov.ts`).
 */
export const RULES_VERSION_SUPPORTED = 4;

export const RULES_NS = "gov.rules";
export const RULES_KEY = "current";

/** One activation: `version` is in force from block `height` on. */
export interface RulesActivation {
  version: number;
  height: number;
}

/**
 * `gov.rules/current`: the version in force since `height` (0 for a
 * genesis `rules`), and at most one activation waiting at a later height.
 * A `scheduled` activation whose height has been reached is in force
 * (nothing rewrites the record when a height passes); the next
 * `gov.setRules` folds it into `version`/`height`. So the record never holds
 * more than two activations.
 */
export interface RulesRecord extends RulesActivation {
  scheduled?: RulesActivation;
}

/** The activation in force at block `height` (version 1 since 0 when there is no record). */
export function activationAt(record: RulesRecord | undefined, height: number): RulesActivation {
  if (record === undefined) return { version: 1, height: 0 };
  const s = record.scheduled;
  if (s !== undefined && s.height <= height) return { version: s.version, height: s.height };
  return { version: record.version, height: record.height };
}

/** The rules version in force at block `height`. */
export function rulesAt(record: RulesRecord | undefined, height: number): number {
  return activationAt(record, height).version;
}

/** The activation still waiting after block `height`, if any. */
export function scheduledAfter(
  record: RulesRecord | undefined,
  height: number,
): RulesActivation | undefined {
  const s = record?.scheduled;
  return s !== undefined && s.height > height
    ? { version: s.version, height: s.height }
    : undefined;
}

/**
 * A site was asked to execute a block under a rules version its software
 * does not implement. Not a rejection of a transaction: the site cannot go
 * on, and stops as on any fatal error until it is upgraded.
 */
export class UnsupportedRulesError extends Error {
  constructor(
    readonly height: number,
    readonly activation: RulesActivation,
    readonly supported: number,
  ) {
    super(
      `Cannot execute block ${height}: the ledger activated rules version ${activation.version} ` +
        `at height ${activation.height}; this site supports up to ${supported} — upgrade it`,
    );
    this.name = "UnsupportedRulesError";
  }
}

/**
 * The rules version block `height` executes under, given the record as of
 * its parent. Throws {@link UnsupportedRulesError} when it is above
 * `supported`.
 */
export function checkRules(
  record: RulesRecord | undefined,
  height: number,
  supported: number,
): number {
  const activation = activationAt(record, height);
  if (activation.version > supported) {
    throw new UnsupportedRulesError(height, activation, supported);
  }
  return activation.version;
}
