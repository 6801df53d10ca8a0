/**
 * The rules-3 golden chain (`chain_rules3.json`): a ledger whose genesis
 * names rules version 2 (as a new ledger made by the release before rules
 * 3 did) and whose governance schedules version 3 for block 3, so the
 * chain crosses the 2 → 3 boundary, and custody steps citing the same
 * anchors are decided under both versions in neighbouring blocks. From
 * block 3 on, every block executes under rules 3 and pins what that
 * version decides:
 *
 * - A `custody.attach` or `custody.handoff` may cite only an anchor that
 *   was made: a `seq` its stream skipped (`data.anchor` seqs only have to
 *   increase), a `seq` above the stream's last, one below its first, or an
 *   unknown stream is rejected `custody_anchor_unknown`. Under rules 2 (the
 *   blocks before) a skipped `seq` is applied.
 * - An anchor made earlier in the same block counts; one made later in the
 *   block does not yet. A skipped `seq` can never be anchored afterwards
 *   (`stream_seq_not_increasing`), so such a citation stays refused.
 * - An anchor made by a device's rotated key counts like any other.
 * - A spread of the other kinds, applied and rejected, under rules 3
 *   (a last admin still takes its organisation with it, as under rules 2).
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

const ABOUT = "edgeledger golden chain, rules 3: a ledger begun under rules version 2 that " +
  "switches to 3 at block 3 (gov.setRules); custody steps citing anchors a stream skipped are " +
  "applied before and rejected after; every future version must replay these blocks to the " +
  "same hashes, results and state (test/golden_chain_test.ts). Written by `deno task golden` " +
  "(test/golden/rules3.ts); never regenerate it to absorb a rule change: put the change behind " +
  "tx.rules (src/contracts/rules.ts).";

/** The height rules version 3 comes into force at. */
export const RULES3_HEIGHT = 3;

/** The stream whose anchors the custody steps cite: seqs 1 and 5 first (2 to 4 skipped). */
export const RULES3_STREAM = "truck-1/temp";

const K = {
  site: keyOf("r3/site-a"),
  adminA: keyOf("r3/admin-a"),
  adminB: keyOf("r3/admin-b", "p256"),
  adminC: keyOf("r3/admin-c"),
  authA: keyOf("r3/authority-a"),
  truck: keyOf("r3/truck-1", "p256"),
  truckNext: keyOf("r3/truck-1-next"),
  alice: keyOf("r3/alice"),
  bob: keyOf("r3/bob", "secp256k1"),
  carol: keyOf("r3/carol"),
  stranger: keyOf("r3/stranger"),
};

/** Three carriers, one site (Carrier A's), an authority for `a/`; rules 2 from genesis. */
function genesis(): GenesisConfig {
  return {
    v: 1,
    ledger: "golden-rules3",
    origin: "edgeledger.test/golden-rules3",
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
    ],
    rules: 2,
  };
}

/**
 * The chain, block by block. Add new blocks at the end: a change above
 * changes every later block's hash.
 */
async function script(g: ChainBuilder): Promise<void> {
  const { adminA, adminB, adminC, authA, truck, truckNext, alice, bob, carol, stranger } = K;
  const S = RULES3_STREAM;
  const anchor = (seq: number, by = truck) =>
    g.tx("data.anchor", {
      stream: S,
      seq,
      root: hexOf(`r3/temp-${seq}`),
      count: 12,
      from: T0 + seq * HOUR,
      to: T0 + (seq + 1) * HOUR,
    }, [by]);

  // ---- rules 2: the switch is scheduled --------------------------------
  await g.block("rules 2: rules 3 scheduled for block 3; a truck anchors seqs 1 and 5; a pallet", [
    [
      await g.tx("gov.setRules", { version: 3, height: RULES3_HEIGHT }, [adminA, adminB]),
      "applied",
    ],
    [
      await g.tx("identity.register", {
        name: "a/truck-1",
        key: truck.did,
        attributes: { model: "Reefer-2" },
      }, [authA, truck]),
      "applied",
    ],
    [await anchor(1), "applied"],
    // Seqs only have to increase: 2 to 4 are skipped, never made.
    [await anchor(5), "applied"],
    [
      await g.tx("custody.create", { item: "pallet-1", description: "Vaccines" }, [alice]),
      "applied",
    ],
  ]);
  await g.block("rules 2, the block before the switch: a skipped anchor is cited and applied", [
    [
      await g.tx("custody.attach", {
        item: "pallet-1",
        step: 1,
        anchors: [{ stream: S, seq: 3 }],
      }, [alice]),
      "applied",
    ],
    [
      await g.tx("custody.handoff", {
        item: "pallet-1",
        step: 2,
        from: alice.did,
        to: bob.did,
        location: "Depot 1",
        anchors: [{ stream: S, seq: 1 }, { stream: S, seq: 4 }],
      }, [alice, bob]),
      "applied",
    ],
    // Above the stream's last seq: refused under rules 2 as well.
    [
      await g.tx("custody.attach", {
        item: "pallet-1",
        step: 3,
        anchors: [{ stream: S, seq: 6 }],
      }, [bob]),
      "custody_anchor_unknown",
    ],
    [
      await g.tx("gov.setRules", { version: 3, height: 10 }, [adminA, adminB]),
      "rules_version_not_newer",
    ],
  ]);

  // ---- rules 3 from here -----------------------------------------------
  await g.block("rules 3: only anchors that were made; one made earlier in the block counts", [
    [
      await g.tx("custody.attach", {
        item: "pallet-1",
        step: 3,
        anchors: [{ stream: S, seq: 3 }],
      }, [bob]),
      "custody_anchor_unknown",
    ],
    [
      await g.tx("custody.handoff", {
        item: "pallet-1",
        step: 3,
        from: bob.did,
        to: carol.did,
        anchors: [{ stream: S, seq: 5 }, { stream: S, seq: 2 }],
      }, [bob, carol]),
      "custody_anchor_unknown",
    ],
    [
      await g.tx("custody.attach", {
        item: "pallet-1",
        step: 3,
        anchors: [{ stream: S, seq: 0 }],
      }, [bob]),
      "custody_anchor_unknown",
    ],
    [
      await g.tx("custody.attach", {
        item: "pallet-1",
        step: 3,
        anchors: [{ stream: "truck-9/temp", seq: 1 }],
      }, [bob]),
      "custody_anchor_unknown",
    ],
    [
      await g.tx("custody.attach", {
        item: "pallet-1",
        step: 3,
        anchors: [{ stream: S, seq: 1 }, { stream: S, seq: 5 }],
        note: "Cold chain held",
      }, [bob]),
      "applied",
    ],
    // A skipped seq can never be made afterwards.
    [await anchor(3), "stream_seq_not_increasing"],
    // Cited before it is made in the same block: not yet; after: counted.
    [
      await g.tx("custody.attach", {
        item: "pallet-1",
        step: 4,
        anchors: [{ stream: S, seq: 6 }],
      }, [bob]),
      "custody_anchor_unknown",
    ],
    [await anchor(6), "applied"],
    [
      await g.tx("custody.handoff", {
        item: "pallet-1",
        step: 4,
        from: bob.did,
        to: carol.did,
        location: "Clinic",
        anchors: [{ stream: S, seq: 6 }],
      }, [bob, carol]),
      "applied",
    ],
  ]);
  await g.block("rules 3: a rotated truck key anchors on; governance and assets under rules 3", [
    [
      await g.tx(
        "identity.rotate",
        { device: "a/truck-1", key: truck.did, newKey: truckNext.did },
        [
          truck,
          truckNext,
        ],
      ),
      "applied",
    ],
    [await anchor(8, truckNext), "applied"],
    [await anchor(9, truck), "revoked_signer"],
    [
      await g.tx("custody.attach", {
        item: "pallet-1",
        step: 5,
        anchors: [{ stream: S, seq: 8 }, { stream: S, seq: 9 }],
      }, [carol]),
      "custody_anchor_unknown",
    ],
    [
      await g.tx("custody.attach", {
        item: "pallet-1",
        step: 5,
        anchors: [{ stream: S, seq: 8 }],
      }, [carol]),
      "applied",
    ],
    [
      await g.tx("custody.handoff", {
        item: "pallet-1",
        step: 6,
        from: bob.did,
        to: stranger.did,
      }, [bob, stranger]),
      "custody_not_holder",
    ],
    [
      await g.tx("gov.removeAdmin", { org: "orgc", did: adminC.did }, [adminA, adminB]),
      "applied",
    ],
    // Two organisations left: one is not a majority.
    [
      await g.tx("gov.setPolicy", { rateLimits: { signerTxsPerMinuteMax: 600 } }, [adminA]),
      "no_majority",
    ],
    [
      await g.tx("gov.setRules", { version: 4, height: 2 }, [adminA, adminB]),
      "rules_height_not_future",
    ],
    [
      await g.tx("gov.setRules", { version: 3, height: 100 }, [adminA, adminB]),
      "rules_version_not_newer",
    ],
    [
      await g.tx("asset.create", { asset: "credit", name: "Carrier A credit", decimals: 0 }, [
        adminA,
      ]),
      "applied",
    ],
    [
      await g.tx("asset.mint", { asset: "credit", to: carol.did, amount: "5" }, [adminA]),
      "applied",
    ],
    [
      await g.tx("asset.transfer", { asset: "credit", from: carol.did, to: bob.did, amount: "9" }, [
        carol,
      ]),
      "asset_insufficient_funds",
    ],
    [
      await g.tx("access.grant", {
        stream: S,
        reader: carol.did,
        purpose: "cold-chain audit",
        from: T0,
        until: T0 + 30 * DAY,
      }, [truckNext]),
      "applied",
    ],
  ]);
}

/** The rules-3 golden chain. */
export const RULES3_CHAIN: GoldenSpec = {
  name: "rules 3",
  file: new URL("./chain_rules3.json", import.meta.url),
  about: ABOUT,
  genesis,
  siteKey: K.site,
  script,
};
