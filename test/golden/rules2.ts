/**
 * The rules-2 golden chain (`chain_rules2.json`): a ledger begun under rules
 * version 1 whose governance schedules version 2 for block 3, so the chain
 * crosses the version boundary the way every ledger made before rules 2
 * does, and a last admin's removal is decided under both versions in
 * neighbouring blocks. From block 3 on, every block executes under rules 2
 * and pins what that version decides:
 *
 * - `gov.removeAdmin` of an organisation's last admin removes the
 *   organisation (`orgRemoved: true`); the majority of every later change
 *   is counted among the organisations left, and an organisation left
 *   without admins under rules 1 still counts until `gov.removeOrg`.
 * - What stays of a removed organisation, as the contracts define it: its
 *   admin key signs no `gov.*` change and acts for it in no roaming period,
 *   but keeps its asset holdings, its issuer role and its custody items, and
 *   may administer again (the organisation rejoins with it); its device
 *   stays active, anchors and pays, yet speaks for no organisation (hijack
 *   reports) until the organisation rejoins; its hijack reports stop
 *   counting, and a report made before it left never counts after it
 *   rejoins (the membership epoch); the keys a roaming period lists for it
 *   still act in that period.
 * - `last_admin` both ways: an organisation that still has a site or an
 *   authority (as under rules 1), and the only organisation.
 * - A spread of the other kinds, applied and rejected, under rules 2.
 *
 * Built with `deno task golden` (`generate.ts`, which lists every golden
 * chain); add blocks only at the end of {@link script}.
 *
 * @module
 */
import { base64urlEncode } from "../../sdk/encoding.ts";
import type { GenesisConfig } from "../../src/chain/genesis.ts";
import {
  type ChainBuilder,
  DAY,
  GOLDEN_OPEN_KINDS,
  type GoldenSpec,
  hexOf,
  HOUR,
  keyOf,
  T0,
} from "./_builder.ts";

const ABOUT = "edgeledger golden chain, rules 2: a ledger that switches from rules version 1 " +
  "to 2 at block 3 (gov.setRules), then removes organisations with their last admins; every " +
  "future version must replay these blocks to the same hashes, results and state " +
  "(test/golden_chain_test.ts). Written by `deno task golden` (test/golden/rules2.ts); never " +
  "regenerate it to absorb a rule change: put the change behind tx.rules " +
  "(src/contracts/rules.ts).";

/** The height rules version 2 comes into force at. */
export const RULES2_HEIGHT = 3;

const K = {
  site: keyOf("r2/site-a"),
  adminA: keyOf("r2/admin-a"),
  adminB: keyOf("r2/admin-b", "p256"),
  adminC: keyOf("r2/admin-c"),
  adminC2: keyOf("r2/admin-c2", "secp256k1"),
  adminD: keyOf("r2/admin-d"),
  adminE: keyOf("r2/admin-e"),
  authA: keyOf("r2/authority-a"),
  authB: keyOf("r2/authority-b"),
  authB2: keyOf("r2/authority-b2"),
  alice: keyOf("r2/alice"),
  bob: keyOf("r2/bob"),
  car: keyOf("r2/car-1"),
  carNext: keyOf("r2/car-1-next", "p256"),
  meter: keyOf("r2/meter-1", "p256"),
  gateway: keyOf("r2/gw-1", "secp256k1"),
  gateway2: keyOf("r2/gw-2"),
  carrierA: keyOf("r2/carrier-a"),
  carrierB: keyOf("r2/carrier-b", "p256"),
  stranger: keyOf("r2/stranger"),
};

/**
 * Five carriers, one site (Carrier A's), authorities for `a/` and `b/`; no
 * `rules`, so the ledger starts under version 1.
 */
function genesis(): GenesisConfig {
  return {
    v: 1,
    ledger: "golden-rules2",
    origin: "edgeledger.test/golden-rules2",
    time: T0,
    organisations: [
      { id: "orga", name: "Carrier A", admins: [K.adminA.did] },
      { id: "orgb", name: "Carrier B", admins: [K.adminB.did] },
      { id: "orgc", name: "Carrier C", admins: [K.adminC.did] },
      { id: "orgd", name: "Carrier D", admins: [K.adminD.did] },
      { id: "orge", name: "Carrier E", admins: [K.adminE.did] },
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
 * The chain, block by block. Add new blocks at the end: a change above
 * changes every later block's hash.
 */
async function script(g: ChainBuilder): Promise<void> {
  const { adminA, adminB, adminC, adminC2, adminD, adminE, authA, authB, authB2 } = K;
  const { alice, bob, car, carNext, meter, gateway, gateway2, carrierA, carrierB, stranger } = K;
  const siteKey = base64urlEncode(K.site.publicKey);

  // ---- rules 1: the switch is scheduled --------------------------------
  await g.block("rules 1: rules 2 scheduled for block 3; Carrier B's device, holdings, custody", [
    [
      await g.tx("gov.setRules", { version: 2, height: RULES2_HEIGHT }, [adminA, adminB, adminC]),
      "applied",
    ],
    [
      await g.tx("identity.register", {
        name: "a/car-1",
        key: car.did,
        attributes: { model: "EV-1", owner: alice.did },
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
        attributes: { model: "GW-2", owner: bob.did },
      }, [authB, gateway]),
      "applied",
    ],
    [
      await g.tx("asset.create", { asset: "credit", name: "Carrier B credit", decimals: 0 }, [
        adminB,
      ]),
      "applied",
    ],
    [
      await g.tx("asset.mint", { asset: "credit", to: adminB.did, amount: "100" }, [adminB]),
      "applied",
    ],
    [
      await g.tx("asset.mint", { asset: "credit", to: gateway.did, amount: "40" }, [adminB]),
      "applied",
    ],
    [
      await g.tx("custody.create", { item: "pallet-1", description: "SIM cards" }, [adminB]),
      "applied",
    ],
    [
      await g.tx("data.anchor", {
        stream: "gw-1/log",
        seq: 0,
        root: hexOf("r2/gw-0"),
        count: 10,
        from: T0,
        to: T0 + HOUR,
      }, [gateway]),
      "applied",
    ],
  ]);
  await g.block(
    "rules 1, the block before the switch: a last admin leaves, its organisation stays",
    [
      [
        await g.tx("gov.setRules", { version: 2, height: 5 }, [adminA, adminB, adminC]),
        "rules_version_not_newer",
      ],
      [
        await g.tx("gov.setRules", { version: 3, height: 2 }, [adminA, adminB, adminC]),
        "rules_height_not_future",
      ],
      // Rules 1: orgd stays, without admins, and counts in every majority.
      [
        await g.tx("gov.removeAdmin", { org: "orgd", did: adminD.did }, [adminA, adminB, adminC]),
        "applied",
      ],
    ],
  );

  // ---- rules 2 from here -----------------------------------------------
  const limits = { rateLimits: { signerTxsPerMinuteMax: 600 } };
  await g.block("rules 2: a last admin takes its organisation with it; majorities recounted", [
    // Two of five (orgd, without admins, still counts).
    [await g.tx("gov.setPolicy", limits, [adminA, adminC]), "no_majority"],
    [
      await g.tx("gov.removeAdmin", { org: "orge", did: adminE.did }, [adminA, adminB, adminC]),
      "applied",
    ],
    // Two of four.
    [await g.tx("gov.setPolicy", limits, [adminA, adminC]), "no_majority"],
    [await g.tx("gov.removeOrg", { id: "orge" }, [adminA, adminB, adminC]), "unknown_org"],
    // The organisation rules 1 left without admins: counted among the other three.
    [await g.tx("gov.removeOrg", { id: "orgd" }, [adminA, adminC]), "applied"],
    // Two of three.
    [await g.tx("gov.setPolicy", limits, [adminA, adminC]), "applied"],
  ]);
  const FROM = T0 - 2 * DAY;
  const UNTIL = T0 - 1000;
  await g.block("rules 2: a last admin that cannot go; Carrier B reports, then leaves", [
    [
      await g.tx("gov.removeAdmin", { org: "orga", did: adminA.did }, [adminA, adminB]),
      "last_admin",
    ],
    [
      await g.tx("roaming.open", {
        period: "p1",
        carriers: [
          {
            org: "orga",
            keys: [carrierA.did],
            tariff: { voiceMinute: "10", dataMb: "2", sms: "1" },
          },
          {
            org: "orgb",
            keys: [carrierB.did],
            tariff: { voiceMinute: "12", dataMb: "3", sms: "2" },
          },
        ],
        from: FROM,
        until: UNTIL,
        currency: "EUR",
      }, [adminA, adminB]),
      "applied",
    ],
    [
      await g.tx("identity.flag", { device: "a/car-1", key: car.did, reason: "C2 traffic" }, [
        adminB,
      ]),
      "applied",
    ],
    [
      await g.tx("identity.flag", { device: "a/meter-1", key: meter.did, reason: "C2 traffic" }, [
        adminB,
      ]),
      "applied",
    ],
    // Its authority first (`last_admin` otherwise), then its last admin.
    [
      await g.tx("gov.removeAdmin", { org: "orgb", did: adminB.did }, [adminA, adminC]),
      "last_admin",
    ],
    [
      await g.tx("gov.removeAuthority", { did: authB.did, org: "orgb" }, [adminA, adminB]),
      "applied",
    ],
    [
      await g.tx("gov.removeAdmin", { org: "orgb", did: adminB.did }, [adminA, adminC]),
      "applied",
    ],
  ]);
  const record = (rec: string, from: number, voiceMinutes: number) => ({
    period: "p1",
    record: rec,
    visited: "orgb",
    imsiHash: hexOf("r2/imsi-1"),
    country: "DE",
    lat: 52_520_000,
    lon: 13_405_000,
    from,
    to: from + HOUR - 1,
    voiceMinutes,
    dataMb: 0,
    sms: 0,
  });
  await g.block("rules 2: Carrier B is gone: its admin key, its device, its report, its holdings", [
    [
      await g.tx("gov.setPolicy", { quarantineOrgsMin: 2 }, [adminA, adminB]),
      "unregistered_signer",
    ],
    // Its device is active but speaks for no organisation.
    [
      await g.tx("identity.flag", { device: "a/car-1", key: car.did, reason: "scan" }, [gateway]),
      "reporter_unknown",
    ],
    // Carrier B's report no longer counts: one organisation of two reported.
    [
      await g.tx("identity.flag", { device: "a/car-1", key: car.did, reason: "port scan" }, [
        adminC,
      ]),
      "applied",
    ],
    [
      await g.tx("identity.register", {
        name: "b/gw-2",
        key: gateway2.did,
        attributes: { model: "GW-2" },
      }, [authB, gateway2]),
      "unregistered_signer",
    ],
    [
      await g.tx("data.anchor", {
        stream: "gw-1/log",
        seq: 1,
        root: hexOf("r2/gw-1"),
        count: 10,
        from: T0 + HOUR,
        to: T0 + 2 * HOUR,
      }, [gateway]),
      "applied",
    ],
    [
      await g.tx("asset.transfer", {
        asset: "credit",
        from: adminB.did,
        to: alice.did,
        amount: "30",
      }, [adminB]),
      "applied",
    ],
    [
      await g.tx("asset.mint", { asset: "credit", to: alice.did, amount: "10" }, [adminB]),
      "applied",
    ],
    [
      await g.tx("asset.transfer", {
        asset: "credit",
        from: gateway.did,
        to: alice.did,
        amount: "5",
      }, [gateway]),
      "applied",
    ],
    [
      await g.tx("custody.handoff", {
        item: "pallet-1",
        step: 1,
        from: adminB.did,
        to: alice.did,
        location: "Depot 2",
      }, [adminB, alice]),
      "applied",
    ],
    // The period's listed key still acts for Carrier B; its admin key no longer does.
    [await g.tx("roaming.record", record("b-1", FROM, 30), [carrierB]), "applied"],
    [
      await g.tx("roaming.record", record("b-2", FROM + 2 * HOUR, 5), [adminB]),
      "roaming_not_carrier",
    ],
    [
      await g.tx("roaming.open", {
        period: "p2",
        carriers: [
          {
            org: "orga",
            keys: [carrierA.did],
            tariff: { voiceMinute: "10", dataMb: "2", sms: "1" },
          },
          {
            org: "orgb",
            keys: [carrierB.did],
            tariff: { voiceMinute: "12", dataMb: "3", sms: "2" },
          },
        ],
        from: T0,
        until: T0 + DAY,
        currency: "EUR",
      }, [adminA, carrierB]),
      "roaming_unknown_org",
    ],
  ]);
  await g.block(
    "rules 2: Carrier B rejoins with its old admin key; its report from before does not count",
    [
      // The admin key's record went with the organisation (`admin_exists` otherwise).
      [
        await g.tx("gov.addOrg", { id: "orgb", name: "Carrier B again", admins: [adminB.did] }, [
          adminA,
          adminC,
          adminB,
        ]),
        "applied",
      ],
      [
        await g.tx("gov.addAuthority", {
          did: authB2.did,
          org: "orgb",
          name: "Carrier B devices again",
          namespaces: ["b/"],
        }, [adminA, adminB, authB2]),
        "applied",
      ],
      // Its report from before it left, still listed here, does not count for it now.
      [
        await g.tx("identity.flag", { device: "a/meter-1", key: meter.did, reason: "port scan" }, [
          adminC,
        ]),
        "applied",
      ],
      // Its old device speaks for it again: with Carrier C's report, two organisations.
      [
        await g.tx("identity.flag", { device: "a/car-1", key: car.did, reason: "beaconing" }, [
          gateway,
        ]),
        "applied",
      ],
      [
        await g.tx("identity.unquarantine", {
          device: "a/car-1",
          key: car.did,
          reason: "reflashed",
        }, [
          authA,
        ]),
        "applied",
      ],
      [
        await g.tx("identity.rotate", { device: "a/car-1", key: car.did, newKey: carNext.did }, [
          car,
          carNext,
        ]),
        "applied",
      ],
      // The new authority covers the old organisation's device.
      [
        await g.tx("identity.revoke", { device: "b/gw-1", key: gateway.did, reason: "replaced" }, [
          authB2,
        ]),
        "applied",
      ],
      [
        await g.tx("identity.revoke", { device: "b/gw-1", key: gateway.did }, [bob]),
        "device_revoked",
      ],
    ],
  );
  const anchor0 = await g.tx("data.anchor", {
    stream: "car-1/telemetry",
    seq: 0,
    root: hexOf("r2/car-0"),
    count: 60,
    from: T0,
    to: T0 + HOUR,
  }, [carNext]);
  const granted = await g.block("rules 2: anchors, access, custody and payments", [
    [anchor0, "applied"],
    [
      await g.tx("data.anchor", {
        stream: "car-1/telemetry",
        seq: 0,
        root: hexOf("r2/car-0-again"),
        count: 60,
        from: T0,
        to: T0 + HOUR,
      }, [carNext]),
      "stream_seq_not_increasing",
    ],
    [anchor0, "duplicate"],
    [
      await g.tx("data.anchor", {
        stream: "gw-1/log",
        seq: 2,
        root: hexOf("r2/gw-2"),
        count: 10,
        from: T0 + 2 * HOUR,
        to: T0 + 3 * HOUR,
      }, [gateway]),
      "revoked_signer",
    ],
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
        stream: "car-1/telemetry",
        reader: stranger.did,
        purpose: "curiosity",
        from: T0,
        until: T0 + DAY,
      }, [stranger]),
      "access_not_owner",
    ],
    [
      await g.tx("custody.attach", {
        item: "pallet-1",
        step: 2,
        anchors: [{ stream: "car-1/telemetry", seq: 0 }],
      }, [alice]),
      "applied",
    ],
    [
      await g.tx("custody.handoff", {
        item: "pallet-1",
        step: 3,
        from: adminB.did,
        to: stranger.did,
      }, [adminB, stranger]),
      "custody_not_holder",
    ],
    // A revoked device's holdings stay frozen.
    [
      await g.tx("asset.transfer", {
        asset: "credit",
        from: gateway.did,
        to: alice.did,
        amount: "1",
      }, [gateway]),
      "revoked_signer",
    ],
    [
      await g.tx("asset.transfer", {
        asset: "credit",
        from: alice.did,
        to: carNext.did,
        amount: "1000",
      }, [alice]),
      "asset_insufficient_funds",
    ],
    [
      await g.tx(
        "data.anchor",
        { stream: "late/stream", seq: 0, root: hexOf("r2/late"), count: 1, from: T0, to: T0 },
        [stranger],
        { expiresAt: g.now - 1 },
      ),
      "expired",
    ],
    [await g.raw("gov.dissolve", { id: "orga" }, [adminA, adminC]), "unknown_kind"],
  ]);
  const grant = granted[4].grant as string;
  const closed = await g.block("rules 2: a period with a removed carrier disputed and closed", [
    [
      await g.tx("access.revoke", { stream: "car-1/telemetry", reader: alice.did, grant }, [
        carNext,
      ]),
      "applied",
    ],
    [
      await g.tx("roaming.dispute", { period: "p1", record: "b-1", reason: "other" }, [carrierA]),
      "applied",
    ],
    [await g.tx("roaming.close", { period: "p1" }, [carrierA]), "applied"],
  ]);
  const statement = closed[2].statement as string;
  await g.block(
    "rules 2: the statement signed by both carriers; an admin key that acts again, a stranger",
    [
      [await g.tx("roaming.sign", { period: "p1", statement }, [carrierB]), "applied"],
      // Carrier B's admin key acts for it again since it rejoined.
      [await g.tx("roaming.sign", { period: "p1", statement }, [adminB]), "roaming_already_signed"],
      [await g.tx("roaming.sign", { period: "p1", statement }, [stranger]), "roaming_not_carrier"],
      [await g.tx("roaming.sign", { period: "p1", statement }, [carrierA]), "applied"],
    ],
  );
  await g.block("rules 2: down to one organisation, whose last admin stays", [
    [
      await g.tx("gov.removeAuthority", { did: authB2.did, org: "orgb" }, [adminA, adminC]),
      "applied",
    ],
    [
      await g.tx("gov.removeAdmin", { org: "orgb", did: adminB.did }, [adminA, adminC]),
      "applied",
    ],
    [
      await g.tx("gov.removeSite", { name: "site-a", org: "orga", publicKey: siteKey }, [
        adminA,
        adminC,
      ]),
      "applied",
    ],
    [
      await g.tx("gov.removeAuthority", { did: authA.did, org: "orga" }, [adminA, adminC]),
      "applied",
    ],
    [
      await g.tx("gov.removeAdmin", { org: "orga", did: adminA.did }, [adminA, adminC]),
      "applied",
    ],
    // orgc alone: its own admin is a majority, and its last admin stays.
    [await g.tx("gov.removeAdmin", { org: "orgc", did: adminC.did }, [adminC]), "last_admin"],
    [await g.tx("gov.removeOrg", { id: "orgc" }, [adminC]), "org_not_empty"],
    [
      await g.tx("gov.addAdmin", { org: "orgc", did: adminC2.did }, [adminC, adminC2]),
      "applied",
    ],
    [await g.tx("gov.removeAdmin", { org: "orgc", did: adminC.did }, [adminC2]), "applied"],
    [await g.tx("gov.removeAdmin", { org: "orgc", did: adminC2.did }, [adminC2]), "last_admin"],
    [
      await g.tx("gov.setRules", { version: 2, height: 1_000 }, [adminC2]),
      "rules_version_not_newer",
    ],
    // One organisation left: one report quarantines.
    [
      await g.tx("identity.flag", { device: "a/car-1", key: carNext.did, reason: "tamper" }, [
        adminC2,
      ]),
      "applied",
    ],
  ]);
}

/** The rules-2 golden chain. */
export const RULES2_CHAIN: GoldenSpec = {
  name: "rules 2",
  file: new URL("./chain_rules2.json", import.meta.url),
  about: ABOUT,
  genesis,
  siteKey: K.site,
  script,
};
