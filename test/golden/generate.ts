/**
 * The golden chains' generator (`deno task golden`). Each golden chain is a
 * small chain built on an in-process lone site (`_builder.ts`) and written
 * beside this module with what a catching-up site needs to re-execute it:
 * the genesis config, each block as `Site.replayBlocks` serves it (hash,
 * header, entry index, envelopes), each transaction's recorded result, and
 * the final state (its `state_check.ts` hash and every row). The chains
 * ({@link GOLDEN_CHAINS}):
 *
 * - `chain.json` (this module's script): rules version 1 throughout; every
 *   transaction kind the contracts accept, applied and rejected with many
 *   distinct codes.
 * - `chain_rules2.json` (`rules2.ts`): begun under rules 1, switched to
 *   rules 2 by a `gov.setRules` reached within the chain; what rules 2
 *   changes (`gov.removeAdmin` of a last admin removes its organisation) and
 *   a spread of the other kinds under it.
 * - `chain_rules3.json` (`rules3.ts`): begun under rules 2 (its genesis
 *   names it), switched to rules 3 by a `gov.setRules` reached within the
 *   chain; what rules 3 changes (a custody step may cite only an anchor
 *   that was made: a `seq` its stream skipped is applied before the switch,
 *   rejected after) and a spread of the other kinds under it.
 * - `chain_rules4.json` (`rules4.ts`): begun under rules 3, switched to
 *   rules 4 within the chain; what rules 4 changes (roaming usage ending at
 *   its period's end, the signer an anchor records, a site key of small
 *   order), each decided on both sides of the switch, and other kinds
 *   under it.
 *
 * `test/golden_chain_test.ts` replays every one of them on every run and
 * fails when this version of the contracts no longer gives the same hashes,
 * results or state. Run this by hand only to extend a chain (a new kind, a
 * new rejection, a new rules version's blocks): add blocks at the END of its
 * script so the blocks recorded before stay byte for byte what they were.
 * The generator checks that: it refuses to write a fixture whose genesis or
 * recorded blocks would change, or the state those blocks leave (compared
 * after the last recorded block, also when blocks are added), and writes
 * nothing then. Never use it to make
 * the test pass after a contract change: a rule change goes behind
 * `tx.rules` (`src/contracts/rules.ts`), and old blocks keep replaying under
 * the old rules. A new rules version gets blocks of its own (a new chain that
 * switches to it, like `rules2.ts`), so later versions must replay it too.
 *
 * @module
 */
import { base64urlEncode } from "../../sdk/encoding.ts";
import { canonicalJson } from "../../sdk/canonical_json.ts";
import type { GenesisConfig } from "../../src/chain/genesis.ts";
import {
  buildChain,
  type ChainBuilder,
  DAY,
  fixtureText,
  GOLDEN_OPEN_KINDS,
  type GoldenChain,
  type GoldenSpec,
  type GoldenState,
  hexOf,
  HOUR,
  keyOf,
  T0,
} from "./_builder.ts";
import { RULES2_CHAIN } from "./rules2.ts";
import { RULES3_CHAIN } from "./rules3.ts";
import { RULES4_CHAIN } from "./rules4.ts";

export type { GoldenBlock, GoldenChain, GoldenSpec } from "./_builder.ts";

/** Where the first golden chain's fixture is kept, beside this module. */
export const GOLDEN_FILE = new URL("./chain.json", import.meta.url);

const ABOUT = "edgeledger golden chain: every future version must replay these blocks to the " +
  "same hashes, results and state (test/golden_chain_test.ts). Written by `deno task golden` " +
  "(test/golden/generate.ts); never regenerate it to absorb a rule change: put the change " +
  "behind tx.rules (src/contracts/rules.ts).";

const K = {
  site: keyOf("site-a"),
  siteB: keyOf("site-b"),
  adminA: keyOf("admin-a"),
  adminB: keyOf("admin-b"),
  adminC: keyOf("admin-c"),
  adminC2: keyOf("admin-c2", "p256"),
  adminD: keyOf("admin-d"),
  authA: keyOf("authority-a"),
  authB: keyOf("authority-b"),
  authC: keyOf("authority-c"),
  alice: keyOf("alice"),
  collector: keyOf("fee-collector"),
  car: keyOf("car-1"),
  carNext: keyOf("car-1-next", "p256"),
  car4: keyOf("car-1-other"),
  meter: keyOf("meter-1", "p256"),
  meterNext: keyOf("meter-1-next"),
  gateway: keyOf("gw-1", "secp256k1"),
  carrierA: keyOf("carrier-a"),
  carrierB: keyOf("carrier-b", "p256"),
  stranger: keyOf("stranger"),
};

/** The ledger: three carriers, one site, authorities for `a/` and `b/`. */
export function goldenGenesis(): GenesisConfig {
  return {
    v: 1,
    ledger: "golden",
    origin: "edgeledger.test/golden",
    time: T0,
    organisations: [
      { id: "orga", name: "Carrier A", admins: [K.adminA.did] },
      { id: "orgb", name: "Carrier B", admins: [K.adminB.did] },
      { id: "orgc", name: "Carrier C", admins: [K.adminC.did] },
    ],
    sites: [{
      name: "site-a",
      org: "orga",
      publicKey: base64urlEncode(K.site.publicKey),
      url: "http://127.0.0.1:1",
    }],
    policies: { expiryWindowMs: DAY, openKinds: [...GOLDEN_OPEN_KINDS], quarantineOrgsMin: 2 },
    authorities: [
      { did: K.authA.did, org: "orga", name: "Carrier A devices", namespaces: ["a/"] },
      { did: K.authB.did, org: "orgb", name: "Carrier B devices", namespaces: ["b/"] },
    ],
  };
}

/**
 * The chain, block by block. Add new blocks at the end (see the module
 * doc): a change above changes every later block's hash.
 */
async function script(g: ChainBuilder): Promise<void> {
  const { adminA, adminB, adminC, adminC2, adminD, authA, authB, authC } = K;
  const { alice, collector, car, carNext, car4, meter, meterNext, gateway } = K;
  const { carrierA, carrierB, stranger } = K;
  const siteBKey = base64urlEncode(K.siteB.publicKey);

  // ---- gov.* ----------------------------------------------------------
  await g.block("gov: organisations, admins and authorities by majority; one change without", [
    [
      await g.tx("gov.addAuthority", {
        did: authC.did,
        org: "orgc",
        name: "Carrier C devices",
        namespaces: ["c/"],
      }, [adminA, adminC, authC]),
      "applied",
    ],
    [
      await g.tx("gov.addAdmin", { org: "orgc", did: adminC2.did }, [adminB, adminC, adminC2]),
      "applied",
    ],
    [
      await g.tx("gov.setPolicy", { rateLimits: { signerTxsPerMinuteMax: 600 } }, [adminA]),
      "no_majority",
    ],
    [
      await g.tx("gov.addOrg", { id: "orgd", name: "Carrier D", admins: [adminD.did] }, [
        adminA,
        adminB,
        adminD,
      ]),
      "applied",
    ],
  ]);
  await g.block("gov: sites; an organisation that exists, one not empty, a site key in use", [
    [
      await g.tx("gov.addSite", {
        name: "site-b",
        org: "orgb",
        publicKey: siteBKey,
        url: "http://127.0.0.1:2",
      }, [adminA, adminB, adminC]),
      "applied",
    ],
    [
      await g.tx("gov.addSite", {
        name: "site-c",
        org: "orgc",
        publicKey: siteBKey,
        url: "http://127.0.0.1:3",
      }, [adminA, adminB, adminC]),
      "site_key_in_use",
    ],
    [
      await g.tx("gov.addOrg", { id: "orga", name: "Again", admins: [stranger.did] }, [
        adminA,
        adminB,
        adminC,
        stranger,
      ]),
      "org_exists",
    ],
    [await g.tx("gov.removeOrg", { id: "orgc" }, [adminA, adminB, adminC]), "org_not_empty"],
    [
      await g.tx("gov.removeAdmin", { org: "orgd", did: adminD.did }, [adminA, adminB, adminC]),
      "applied",
    ],
  ]);
  await g.block("gov: removals, and what cannot be removed", [
    // orgd has no admin left: the majority is counted among the other three.
    [await g.tx("gov.removeOrg", { id: "orgd" }, [adminA, adminB]), "applied"],
    [
      await g.tx("gov.removeSite", { name: "site-b", org: "orgb", publicKey: siteBKey }, [
        adminA,
        adminB,
      ]),
      "applied",
    ],
    [
      await g.tx("gov.removeSite", { name: "site-b", org: "orgb", publicKey: siteBKey }, [
        adminA,
        adminB,
      ]),
      "unknown_site",
    ],
    [
      await g.tx("gov.removeAuthority", { did: authC.did, org: "orgc" }, [adminA, adminC]),
      "applied",
    ],
    [
      await g.tx("gov.removeAuthority", { did: authC.did, org: "orgc" }, [adminA, adminC]),
      "unknown_authority",
    ],
    [
      await g.tx("gov.addAdmin", { org: "orga", did: adminB.did }, [adminA, adminC, adminB]),
      "admin_exists",
    ],
    [
      await g.tx("gov.removeAdmin", { org: "orga", did: adminA.did }, [adminA, adminB]),
      "last_admin",
    ],
  ]);
  await g.block("gov: policy and rules versions", [
    [
      await g.tx("gov.setPolicy", {
        quarantineOrgsMin: 2,
        rateLimits: { signerTxsPerMinuteMax: 6000 },
      }, [adminA, adminB]),
      "applied",
    ],
    // Apply decides from state alone (admission, skipped here, refuses a
    // version the software cannot execute); this one waits far beyond the
    // chain, so every block here executes under rules 1.
    [
      await g.tx("gov.setRules", { version: 2, height: 1_000_000_000 }, [adminA, adminC]),
      "applied",
    ],
    [
      await g.tx("gov.setRules", { version: 3, height: 2 }, [adminA, adminC]),
      "rules_height_not_future",
    ],
    [
      await g.tx("gov.setRules", { version: 2, height: 2_000_000_000 }, [adminA, adminC]),
      "rules_version_not_newer",
    ],
    [
      await g.tx("gov.setPolicy", { expiryWindowMs: DAY }, [adminA, adminB, stranger]),
      "unregistered_signer",
    ],
  ]);

  // ---- identity.* -----------------------------------------------------
  await g.block("identity: devices registered under their authority's namespace", [
    [
      await g.tx("identity.register", {
        name: "a/car-1",
        key: car.did,
        attributes: { model: "EV-1", owner: alice.did, imeiHash: hexOf("imei-car-1") },
      }, [authA, car]),
      "applied",
    ],
    [
      await g.tx("identity.register", {
        name: "a/meter-1",
        key: meter.did,
        attributes: { model: "M-3" },
      }, [authA, meter]),
      "applied",
    ],
    [
      await g.tx("identity.register", {
        name: "b/gw-1",
        key: gateway.did,
        attributes: { model: "GW-2" },
      }, [authB, gateway]),
      "applied",
    ],
    [
      await g.tx("identity.register", {
        name: "a/car-1",
        key: car4.did,
        attributes: { model: "EV-1" },
      }, [authA, car4]),
      "device_exists",
    ],
    [
      await g.tx("identity.register", {
        name: "a/car-2",
        key: car.did,
        attributes: { model: "EV-1" },
      }, [authA, car]),
      "key_in_use",
    ],
    [
      await g.tx("identity.register", {
        name: "a/car-3",
        key: car4.did,
        attributes: { model: "EV-1" },
      }, [authB, car4]),
      "namespace_not_authorised",
    ],
    [
      await g.tx("identity.register", {
        name: "a/car-3",
        key: car4.did,
        attributes: { model: "EV-1" },
      }, [alice, car4]),
      "not_an_authority",
    ],
  ]);
  await g.block("identity: a key rotation, a stale key, hijack reports from two carriers", [
    [
      await g.tx("identity.rotate", { device: "a/car-1", key: car.did, newKey: carNext.did }, [
        car,
        carNext,
      ]),
      "applied",
    ],
    [
      await g.tx("identity.rotate", { device: "a/car-1", key: car.did, newKey: car4.did }, [
        car,
        car4,
      ]),
      "stale_key",
    ],
    [
      await g.tx("identity.flag", { device: "a/meter-1", key: meter.did, reason: "C2 traffic" }, [
        adminB,
      ]),
      "applied",
    ],
    [
      await g.tx("identity.flag", { device: "a/meter-1", key: meter.did, reason: "port scan" }, [
        adminC,
      ]),
      "applied",
    ],
    [
      await g.tx("identity.rotate", {
        device: "a/meter-1",
        key: meter.did,
        newKey: meterNext.did,
      }, [meter, meterNext]),
      "device_quarantined",
    ],
  ]);
  await g.block("identity: quarantined and revoked signers, lifting a quarantine, revocation", [
    [
      await g.tx("data.anchor", {
        stream: "meter-1/readings",
        seq: 0,
        root: hexOf("meter-0"),
        count: 4,
        from: T0,
        to: T0 + HOUR,
      }, [meter]),
      "revoked_signer",
    ],
    [
      await g.tx("identity.unquarantine", {
        device: "a/meter-1",
        key: meter.did,
        reason: "cleaned",
      }, [
        authA,
      ]),
      "applied",
    ],
    [
      await g.tx("identity.unquarantine", { device: "a/meter-1", key: meter.did }, [authA]),
      "device_not_quarantined",
    ],
    [
      // A device owner is a registered party, but speaks for no organisation.
      await g.tx("identity.flag", { device: "a/meter-1", key: meter.did, reason: "noise" }, [
        alice,
      ]),
      "reporter_unknown",
    ],
    [
      await g.tx("identity.revoke", { device: "b/gw-1", key: gateway.did, reason: "stolen" }, [
        authA,
      ]),
      "not_authority_or_owner",
    ],
    [
      await g.tx("identity.revoke", { device: "b/gw-1", key: gateway.did, reason: "stolen" }, [
        authB,
      ]),
      "applied",
    ],
    [
      await g.tx("identity.revoke", { device: "b/gw-1", key: gateway.did }, [authB]),
      "device_revoked",
    ],
    [
      await g.tx("data.anchor", {
        stream: "gw-1/log",
        seq: 0,
        root: hexOf("gw-0"),
        count: 1,
        from: T0,
        to: T0,
      }, [gateway]),
      "revoked_signer",
    ],
    [
      await g.tx("identity.revoke", { device: "b/gw-9", key: stranger.did }, [authB]),
      "unknown_device",
    ],
  ]);

  // ---- data.anchor and what only a block decides ----------------------
  const anchor0 = await g.tx("data.anchor", {
    stream: "car-1/telemetry",
    seq: 0,
    root: hexOf("car-0"),
    count: 60,
    from: T0,
    to: T0 + HOUR,
  }, [carNext]);
  await g.block("data: a stream, a repeated seq, another owner, a rotated-out key, expiry, junk", [
    [anchor0, "applied"],
    [
      await g.tx("data.anchor", {
        stream: "car-1/telemetry",
        seq: 1,
        root: hexOf("car-1"),
        count: 60,
        from: T0 + HOUR,
        to: T0 + 2 * HOUR,
      }, [carNext]),
      "applied",
    ],
    [anchor0, "duplicate"],
    [
      await g.tx("data.anchor", {
        stream: "car-1/telemetry",
        seq: 1,
        root: hexOf("car-1-replayed"),
        count: 60,
        from: T0 + HOUR,
        to: T0 + 2 * HOUR,
      }, [carNext]),
      "stream_seq_not_increasing",
    ],
    [
      await g.tx("data.anchor", {
        stream: "car-1/telemetry",
        seq: 5,
        root: hexOf("car-stranger"),
        count: 1,
        from: T0,
        to: T0,
      }, [stranger]),
      "stream_not_owner",
    ],
    [
      await g.tx("data.anchor", {
        stream: "car-1/old-key",
        seq: 0,
        root: hexOf("car-old"),
        count: 1,
        from: T0,
        to: T0,
      }, [car]),
      "revoked_signer",
    ],
    [
      await g.tx("data.anchor", {
        stream: "meter-1/readings",
        seq: 0,
        root: hexOf("meter-0"),
        count: 4,
        from: T0,
        to: T0 + HOUR,
      }, [meter]),
      "applied",
    ],
    [
      // Admitted in time, expired by the time its block was made.
      await g.tx(
        "data.anchor",
        {
          stream: "late/stream",
          seq: 0,
          root: hexOf("late"),
          count: 1,
          from: T0,
          to: T0,
        },
        [stranger],
        { expiresAt: g.now - 1 },
      ),
      "expired",
    ],
    [await g.raw("data.erase", { stream: "car-1/telemetry" }, [stranger]), "unknown_kind"],
    [await g.raw("data.anchor", { stream: "x", seq: 0 }, [stranger]), "invalid_body"],
  ]);
  await g.block("a batch of one transaction already committed: a block of none", [
    [anchor0, "duplicate"],
  ]);
  await g.block("data: one more anchor on its own", [
    [
      await g.tx("data.anchor", {
        stream: "car-1/telemetry",
        seq: 2,
        root: hexOf("car-2"),
        count: 60,
        from: T0 + 2 * HOUR,
        to: T0 + 3 * HOUR,
      }, [carNext]),
      "applied",
    ],
  ]);

  // ---- asset.* --------------------------------------------------------
  const fee = { amount: "2", collector: collector.did };
  await g.block("asset: assets created and minted; issuer, supply and asset checks", [
    [
      await g.tx("asset.create", {
        asset: "kwh",
        name: "Kilowatt-hour",
        decimals: 3,
        maxSupply: "1000000",
        fee,
      }, [alice]),
      "applied",
    ],
    [await g.tx("asset.create", { asset: "tok", name: "Token", decimals: 0 }, [alice]), "applied"],
    [
      await g.tx("asset.create", { asset: "kwh", name: "Again", decimals: 0 }, [stranger]),
      "asset_exists",
    ],
    [
      await g.tx("asset.mint", { asset: "kwh", to: carNext.did, amount: "1000" }, [alice]),
      "applied",
    ],
    // Minted to the car's rotated-out key: its current key spends it.
    [await g.tx("asset.mint", { asset: "tok", to: car.did, amount: "50" }, [alice]), "applied"],
    [
      await g.tx("asset.mint", { asset: "kwh", to: stranger.did, amount: "5" }, [stranger]),
      "asset_not_issuer",
    ],
    [
      await g.tx("asset.mint", { asset: "kwh", to: alice.did, amount: "2000000" }, [alice]),
      "asset_supply_exceeded",
    ],
    [
      await g.tx("asset.mint", { asset: "gold", to: alice.did, amount: "1" }, [alice]),
      "asset_unknown",
    ],
  ]);
  await g.block("asset: payments with a fee; overspends, one by the second transfer of the block", [
    [
      await g.tx("asset.transfer", {
        asset: "kwh",
        from: carNext.did,
        to: alice.did,
        amount: "100",
        fee,
        memo: "charging session 1",
        ref: "session-1",
      }, [carNext]),
      "applied",
    ],
    [
      await g.tx("asset.transfer", {
        asset: "kwh",
        from: carNext.did,
        to: alice.did,
        amount: "10000",
        fee,
      }, [carNext]),
      "asset_insufficient_funds",
    ],
    [
      await g.tx(
        "asset.transfer",
        { asset: "kwh", from: carNext.did, to: alice.did, amount: "1" },
        [
          carNext,
        ],
      ),
      "asset_fee_mismatch",
    ],
    [
      await g.tx("asset.transfer", {
        asset: "kwh",
        from: carNext.did,
        to: stranger.did,
        amount: "1",
        fee,
      }, [stranger]),
      "asset_not_owner",
    ],
    [
      await g.tx("asset.transfer", { asset: "tok", from: car.did, to: alice.did, amount: "20" }, [
        carNext,
      ]),
      "applied",
    ],
    [
      await g.tx("asset.transfer", {
        asset: "kwh",
        from: carNext.did,
        to: alice.did,
        amount: "500",
        fee,
        ref: "session-2",
      }, [carNext]),
      "applied",
    ],
    [
      await g.tx("asset.transfer", {
        asset: "kwh",
        from: carNext.did,
        to: alice.did,
        amount: "500",
        fee,
        ref: "session-3",
      }, [carNext]),
      "asset_insufficient_funds",
    ],
  ]);

  // ---- custody.* ------------------------------------------------------
  await g.block("custody: an item created, handed off with an anchor, anchors attached", [
    [
      await g.tx("custody.create", {
        item: "crate-1",
        description: "Battery modules",
        attributes: { lot: "L-7" },
      }, [alice]),
      "applied",
    ],
    [
      await g.tx("custody.create", { item: "crate-1", description: "Again" }, [stranger]),
      "custody_item_exists",
    ],
    [
      await g.tx("custody.handoff", {
        item: "crate-1",
        step: 1,
        from: alice.did,
        to: carNext.did,
        location: "Depot 4",
        anchors: [{ stream: "car-1/telemetry", seq: 1 }],
      }, [alice, carNext]),
      "applied",
    ],
    [
      await g.tx(
        "custody.handoff",
        { item: "crate-1", step: 1, from: alice.did, to: stranger.did },
        [
          alice,
          stranger,
        ],
      ),
      "custody_step_mismatch",
    ],
    [
      await g.tx("custody.attach", {
        item: "crate-1",
        step: 2,
        anchors: [{ stream: "car-1/telemetry", seq: 2 }],
        note: "in transit",
      }, [carNext]),
      "applied",
    ],
  ]);
  await g.block("custody: the wrong holder, an anchor not made yet, an unknown item", [
    [
      await g.tx("custody.attach", {
        item: "crate-1",
        step: 3,
        anchors: [{ stream: "car-1/telemetry", seq: 0 }],
      }, [stranger]),
      "custody_not_holder",
    ],
    [
      await g.tx("custody.attach", {
        item: "crate-1",
        step: 3,
        anchors: [{ stream: "car-1/telemetry", seq: 99 }],
      }, [carNext]),
      "custody_anchor_unknown",
    ],
    [
      await g.tx(
        "custody.handoff",
        { item: "crate-9", step: 1, from: alice.did, to: stranger.did },
        [
          alice,
          stranger,
        ],
      ),
      "custody_item_unknown",
    ],
    [
      await g.tx(
        "custody.handoff",
        { item: "crate-1", step: 3, from: alice.did, to: stranger.did },
        [
          alice,
          stranger,
        ],
      ),
      "custody_not_holder",
    ],
    [
      await g.tx("custody.handoff", {
        item: "crate-1",
        step: 3,
        from: carNext.did,
        to: alice.did,
        note: "delivered",
      }, [carNext, alice]),
      "applied",
    ],
  ]);

  // ---- access.* -------------------------------------------------------
  const granted = await g.block(
    "access: a grant; an unknown stream, not the owner, a period over",
    [
      [
        await g.tx("access.grant", {
          stream: "car-1/telemetry",
          reader: alice.did,
          purpose: "billing",
          from: T0,
          until: T0 + 30 * DAY,
        }, [carNext]),
        "applied",
      ],
      [
        await g.tx("access.grant", {
          stream: "nope/stream",
          reader: alice.did,
          purpose: "billing",
          from: T0,
          until: T0 + DAY,
        }, [carNext]),
        "access_stream_unknown",
      ],
      [
        await g.tx("access.grant", {
          stream: "car-1/telemetry",
          reader: stranger.did,
          purpose: "curiosity",
          from: T0,
          until: T0 + DAY,
        }, [stranger]),
        "access_not_owner",
      ],
      [
        await g.tx("access.grant", {
          stream: "car-1/telemetry",
          reader: stranger.did,
          purpose: "audit",
          from: T0 - DAY,
          until: T0,
        }, [carNext]),
        "access_period_over",
      ],
    ],
  );
  const grant = granted[0].grant as string;
  await g.block("access: the reader renounces its grant; twice; an unknown grant", [
    [
      await g.tx("access.revoke", {
        stream: "car-1/telemetry",
        reader: alice.did,
        grant,
        reason: "done",
      }, [alice]),
      "applied",
    ],
    [
      await g.tx("access.revoke", { stream: "car-1/telemetry", reader: alice.did, grant }, [
        carNext,
      ]),
      "access_already_revoked",
    ],
    [
      await g.tx("access.revoke", {
        stream: "car-1/telemetry",
        reader: alice.did,
        grant: hexOf("no-grant"),
      }, [carNext]),
      "access_grant_unknown",
    ],
  ]);

  // ---- roaming.* ------------------------------------------------------
  const FROM = T0 - 2 * DAY;
  const UNTIL = T0 - 1000;
  const tariffA = { voiceMinute: "10", dataMb: "2", sms: "1" };
  const tariffB = { voiceMinute: "12", dataMb: "3", sms: "2" };
  const openBody = (period: string, from: number, until: number, orgB = "orgb") => ({
    period,
    carriers: [
      { org: "orga", keys: [carrierA.did], tariff: tariffA },
      { org: orgB, keys: [carrierB.did], tariff: tariffB },
    ] as [
      { org: string; keys: string[]; tariff: typeof tariffA },
      { org: string; keys: string[]; tariff: typeof tariffA },
    ],
    from,
    until,
    currency: "EUR",
  });
  await g.block("roaming: periods opened; one that exists, overlaps, lacks a carrier, names none", [
    [await g.tx("roaming.open", openBody("p1", FROM, UNTIL), [adminA, adminB]), "applied"],
    [
      await g.tx("roaming.open", openBody("p1", UNTIL, UNTIL + DAY), [adminA, adminB]),
      "roaming_period_exists",
    ],
    [
      await g.tx("roaming.open", openBody("p2", FROM + DAY, UNTIL + DAY), [adminA, adminB]),
      "roaming_period_overlap",
    ],
    [
      await g.tx("roaming.open", openBody("p3", UNTIL, UNTIL + DAY), [adminA]),
      "roaming_not_carrier",
    ],
    [
      await g.tx("roaming.open", openBody("p3", UNTIL, UNTIL + DAY, "orgz"), [adminA, carrierB]),
      "roaming_unknown_org",
    ],
    [await g.tx("roaming.open", openBody("p4", UNTIL, T0 + 30 * DAY), [adminA, adminB]), "applied"],
  ]);
  const sub1 = hexOf("imsi-1");
  const sub2 = hexOf("imsi-2");
  const PARIS = { country: "FR", lat: 48_856_600, lon: 2_352_200 };
  const BERLIN = { country: "DE", lat: 52_520_000, lon: 13_405_000 };
  const NEW_YORK = { country: "US", lat: 40_712_800, lon: -74_006_000 };
  const usage = (
    period: string,
    record: string,
    visited: string,
    imsiHash: string,
    where: { country: string; lat: number; lon: number },
    from: number,
    amounts: { voiceMinutes?: number; dataMb?: number; sms?: number },
  ) => ({
    period,
    record,
    visited,
    imsiHash,
    ...where,
    from,
    to: from + HOUR - 1,
    voiceMinutes: amounts.voiceMinutes ?? 0,
    dataMb: amounts.dataMb ?? 0,
    sms: amounts.sms ?? 0,
  });
  await g.block("roaming: usage records; overlapping, travelling too fast, duplicate, misplaced", [
    [
      await g.tx(
        "roaming.record",
        usage("p1", "a-1", "orga", sub1, PARIS, FROM, {
          voiceMinutes: 30,
          dataMb: 100,
          sms: 5,
        }),
        [carrierA],
      ),
      "applied",
    ],
    [
      await g.tx(
        "roaming.record",
        usage("p1", "b-1", "orgb", sub2, BERLIN, FROM, {
          voiceMinutes: 10,
          dataMb: 50,
        }),
        [carrierB],
      ),
      "applied",
    ],
    [
      await g.tx(
        "roaming.record",
        usage("p1", "a-2", "orga", sub1, PARIS, FROM + HOUR / 2, {
          voiceMinutes: 20,
        }),
        [carrierA],
      ),
      "applied",
    ],
    [
      await g.tx(
        "roaming.record",
        usage("p1", "a-3", "orga", sub1, NEW_YORK, FROM + 2 * HOUR, {
          voiceMinutes: 500,
          sms: 1000,
        }),
        [carrierA],
      ),
      "applied",
    ],
    [
      await g.tx("roaming.record", usage("p1", "a-1", "orga", sub1, PARIS, FROM, {}), [carrierA]),
      "roaming_duplicate_record",
    ],
    [
      await g.tx("roaming.record", usage("p1", "a-4", "orga", sub1, PARIS, UNTIL, {}), [carrierA]),
      "roaming_outside_period",
    ],
    [
      await g.tx("roaming.record", usage("p1", "a-5", "orga", sub1, PARIS, FROM, {}), [stranger]),
      "roaming_not_carrier",
    ],
    [
      await g.tx("roaming.record", usage("p9", "a-6", "orga", sub1, PARIS, FROM, {}), [carrierA]),
      "roaming_period_unknown",
    ],
    [
      await g.tx("roaming.record", usage("p1", "c-1", "orgc", sub1, PARIS, FROM, {}), [carrierA]),
      "roaming_unknown_carrier",
    ],
  ]);
  await g.block("roaming: the home carrier accepts held usage and disputes a record", [
    [
      await g.tx("roaming.accept", { period: "p1", record: "a-2", detail: "two calls" }, [
        carrierB,
      ]),
      "applied",
    ],
    [await g.tx("roaming.accept", { period: "p1", record: "a-1" }, [carrierB]), "roaming_not_held"],
    [
      await g.tx("roaming.dispute", {
        period: "p1",
        record: "a-3",
        reason: "fraud_suspected",
        detail: "Paris to New York in an hour",
      }, [carrierB]),
      "applied",
    ],
    [
      await g.tx("roaming.dispute", { period: "p1", record: "a-3", reason: "other" }, [carrierB]),
      "roaming_already_disputed",
    ],
    [
      await g.tx("roaming.dispute", { period: "p1", record: "z-1", reason: "other" }, [carrierB]),
      "roaming_record_unknown",
    ],
    [
      await g.tx("roaming.sign", { period: "p1", statement: hexOf("early") }, [carrierA]),
      "roaming_period_open",
    ],
  ]);
  const closed = await g.block("roaming: a period closed; one not ended; usage after close", [
    [await g.tx("roaming.close", { period: "p1" }, [carrierB]), "applied"],
    [await g.tx("roaming.close", { period: "p4" }, [carrierA]), "roaming_period_not_ended"],
    [
      await g.tx("roaming.record", usage("p1", "a-7", "orga", sub1, PARIS, FROM + 5 * HOUR, {}), [
        carrierA,
      ]),
      "roaming_period_closed",
    ],
  ]);
  const statement = closed[0].statement as string;
  await g.block("roaming: the statement signed by both carriers; a wrong hash, twice, a stranger", [
    [
      await g.tx("roaming.sign", { period: "p1", statement: hexOf("wrong") }, [carrierA]),
      "roaming_statement_mismatch",
    ],
    [await g.tx("roaming.sign", { period: "p1", statement }, [carrierA]), "applied"],
    [await g.tx("roaming.sign", { period: "p1", statement }, [carrierA]), "roaming_already_signed"],
    [await g.tx("roaming.sign", { period: "p1", statement }, [stranger]), "roaming_not_carrier"],
    [await g.tx("roaming.sign", { period: "p1", statement }, [carrierB]), "applied"],
  ]);

  // ---- after every kind: what governance and roaming still refuse -----
  await g.block(
    "gov and roaming: an authority twice, an admin or organisation not there, a stale site, a key for both carriers",
    [
      [
        await g.tx("gov.addAuthority", {
          did: authA.did,
          org: "orga",
          name: "Again",
          namespaces: ["a/"],
        }, [adminA, adminB, authA]),
        "authority_exists",
      ],
      [
        await g.tx("gov.removeAdmin", { org: "orgb", did: adminA.did }, [adminA, adminB]),
        "unknown_admin",
      ],
      [
        await g.tx("gov.addAdmin", { org: "orgz", did: stranger.did }, [adminA, adminB, stranger]),
        "unknown_org",
      ],
      [
        await g.tx("gov.removeSite", {
          name: "site-a",
          org: "orgb",
          publicKey: base64urlEncode(K.site.publicKey),
        }, [adminA, adminB]),
        "stale_site",
      ],
      [
        await g.tx("roaming.open", {
          ...openBody("p5", T0 + 30 * DAY, T0 + 60 * DAY),
          carriers: [
            { org: "orga", keys: [adminB.did], tariff: tariffA },
            { org: "orgb", keys: [carrierB.did], tariff: tariffB },
          ],
        }, [adminA, adminB]),
        "roaming_key_conflict",
      ],
    ],
  );
}

/** The first golden chain: rules version 1, every kind. */
export const RULES1_CHAIN: GoldenSpec = {
  name: "rules 1",
  file: GOLDEN_FILE,
  about: ABOUT,
  genesis: goldenGenesis,
  siteKey: K.site,
  script,
};

/** Every golden chain, oldest first: the test replays each, the generator writes each. */
export const GOLDEN_CHAINS: readonly GoldenSpec[] = [
  RULES1_CHAIN,
  RULES2_CHAIN,
  RULES3_CHAIN,
  RULES4_CHAIN,
];

/**
 * Why `next` may not replace `recorded`, or undefined when it only adds
 * blocks at the end: same genesis, every recorded block (envelopes,
 * results, hash) the same, and the same state after the recorded blocks (a
 * rule change can alter state and no result): `next`'s final state when it
 * adds no block, else `stateAfterRecorded` — `next`'s state right after
 * the recorded chain's last block (`buildChain`'s `stateAfter`); without
 * it, a chain that adds blocks is refused, since the state its recorded
 * blocks leave cannot be compared.
 */
export function changesRecorded(
  recorded: GoldenChain,
  next: GoldenChain,
  stateAfterRecorded: GoldenState | undefined,
): string | undefined {
  if (canonicalJson(recorded.genesis) !== canonicalJson(next.genesis)) {
    return "its genesis changed";
  }
  if (next.blocks.length < recorded.blocks.length) {
    return `it has ${next.blocks.length} blocks, ${recorded.blocks.length} recorded`;
  }
  for (const [i, b] of recorded.blocks.entries()) {
    if (canonicalJson(b) !== canonicalJson(next.blocks[i])) {
      return `block ${b.header.height} (${b.about}) changed`;
    }
  }
  if (next.blocks.length === recorded.blocks.length) {
    return canonicalJson(recorded.final) !== canonicalJson(next.final)
      ? "the state after its last block changed"
      : undefined;
  }
  const height = recorded.final.height;
  if (stateAfterRecorded === undefined) {
    return `the state after block ${height}, its last recorded one, was not read to compare`;
  }
  const was = { state: recorded.final.state, stateRows: recorded.final.stateRows };
  const now = { state: stateAfterRecorded.state, stateRows: stateAfterRecorded.stateRows };
  if (canonicalJson(was) !== canonicalJson(now)) {
    return `the state after block ${height}, its last recorded one, changed`;
  }
  return undefined;
}

async function readFixture(file: URL): Promise<GoldenChain | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(file)) as GoldenChain;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

if (import.meta.main) {
  // Build every chain before writing any, so a refusal leaves all files as they were.
  const built: Array<[GoldenSpec, GoldenChain]> = [];
  for (const spec of GOLDEN_CHAINS) {
    const recorded = await readFixture(spec.file);
    const { chain, stateAfter } = await buildChain(
      spec,
      recorded === undefined ? {} : { stateAfter: recorded.final.height },
    );
    const why = recorded === undefined ? undefined : changesRecorded(recorded, chain, stateAfter);
    if (why !== undefined) {
      console.error(
        `Cannot write ${spec.file.pathname} (golden chain "${spec.name}"): ${why}. Recorded ` +
          "blocks, and the state they leave, never change: a contract change that alters them " +
          "goes behind tx.rules (src/contracts/rules.ts), and new blocks go at the end of the " +
          "chain's script.",
      );
      Deno.exit(1);
    }
    built.push([spec, chain]);
  }
  for (const [spec, chain] of built) {
    const text = fixtureText(chain);
    await Deno.writeTextFile(spec.file, text);
    const txs = chain.blocks.reduce((n, b) => n + b.txs.length, 0);
    console.log(
      `Wrote ${spec.file.pathname}: ${chain.blocks.length} blocks, ${txs} transactions, ` +
        `${chain.final.stateRows.length} state rows, ${text.length} bytes; head ${chain.final.hash}`,
    );
  }
}
