/**
 * The rules-4 golden chain (`chain_rules4.json`): a ledger whose genesis
 * names rules version 3 (as a new ledger made by the release before rules
 * 4 did) and whose governance schedules version 4 for block 4, so the
 * chain crosses the 3 → 4 boundary with the same transactions decided on
 * both sides. From block 4 on, every block executes under rules 4 and pins
 * what that version decides:
 *
 * - A `roaming.record` may end exactly at its period's `until` (its span
 *   `[from, to)` lies in `[from, until)`); an instant record at `until - 1`
 *   fits, one at `until` does not. Under rules 3 a record whose `to` is the
 *   period's `until` is rejected `roaming_outside_period`.
 * - A `data.anchor` on an existing stream records as its `signer` the key
 *   that acted for the stream's owner (the owner, or its device's current
 *   key after a rotation), not the envelope's first signer. Under rules 3
 *   an anchor co-signed first by a stranger records the stranger.
 * - `gov.addSite` with an Ed25519 key of small order (which verifies no
 *   signature) is rejected `site_key_unusable`; under rules 3 it is
 *   recorded. (Admission refuses such a key under any rules: the builder
 *   bypasses admission.)
 * - A spread of the other kinds under rules 4.
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
  MINUTE,
  T0,
} from "./_builder.ts";

const ABOUT = "edgeledger golden chain, rules 4: a ledger begun under rules version 3 that " +
  "switches to 4 at block 4 (gov.setRules); roaming usage ending at its period's end, the " +
  "signer an anchor records and a site key of small order, each decided under 3 and under 4; " +
  "every future version must replay these blocks to the same hashes, results and state " +
  "(test/golden_chain_test.ts). Written by `deno task golden` (test/golden/rules4.ts); never " +
  "regenerate it to absorb a rule change: put the change behind tx.rules " +
  "(src/contracts/rules.ts).";

/** The height rules version 4 comes into force at. */
export const RULES4_HEIGHT = 4;

/** The stream whose anchors are co-signed by a stranger: owned by the truck. */
export const RULES4_STREAM = "truck-1/temp";

/** The roaming period's bounds: `[RULES4_FROM, RULES4_UNTIL)`, ended before genesis. */
export const RULES4_FROM = T0 - 2 * DAY;
export const RULES4_UNTIL = T0 - DAY;

/**
 * An Ed25519 public key of small order: 32 zero bytes (y = 0), a point of
 * order 4 that decodes on the curve but verifies no signature.
 */
export const SMALL_ORDER_SITE_KEY = base64urlEncode(new Uint8Array(32));

const K = {
  site: keyOf("r4/site-a"),
  siteB: keyOf("r4/site-b"),
  adminA: keyOf("r4/admin-a"),
  adminB: keyOf("r4/admin-b", "p256"),
  adminC: keyOf("r4/admin-c"),
  authA: keyOf("r4/authority-a"),
  truck: keyOf("r4/truck-1", "p256"),
  truckNext: keyOf("r4/truck-1-next"),
  carrierA: keyOf("r4/carrier-a"),
  carrierB: keyOf("r4/carrier-b", "secp256k1"),
  alice: keyOf("r4/alice"),
  bob: keyOf("r4/bob"),
  stranger: keyOf("r4/stranger"),
};

/** Three carriers, one site (Carrier A's), an authority for `a/`; rules 3 from genesis. */
function genesis(): GenesisConfig {
  return {
    v: 1,
    ledger: "golden-rules4",
    origin: "edgeledger.test/golden-rules4",
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
    rules: 3,
  };
}

/**
 * The chain, block by block. Add new blocks at the end: a change above
 * changes every later block's hash.
 */
async function script(g: ChainBuilder): Promise<void> {
  const { adminA, adminB, authA, truck, truckNext, carrierA, carrierB, alice, bob, stranger } = K;
  const S = RULES4_STREAM;
  const anchor = (seq: number, by: typeof truck[]) =>
    g.tx("data.anchor", {
      stream: S,
      seq,
      root: hexOf(`r4/temp-${seq}`),
      count: 12,
      from: T0 + seq * HOUR,
      to: T0 + (seq + 1) * HOUR,
    }, by);
  const tariff = { voiceMinute: "10", dataMb: "2", sms: "1" };
  const PARIS = { country: "FR", lat: 48_856_600, lon: 2_352_200 };
  /** A record by Carrier A (visited) of `subscriber`'s usage `[from, to)`. */
  const usage = (
    record: string,
    subscriber: string,
    from: number,
    to: number,
    amounts: { voiceMinutes?: number; dataMb?: number; sms?: number },
  ) =>
    g.tx("roaming.record", {
      period: "p1",
      record,
      visited: "orga",
      imsiHash: hexOf(`r4/${subscriber}`),
      ...PARIS,
      from,
      to,
      voiceMinutes: amounts.voiceMinutes ?? 0,
      dataMb: amounts.dataMb ?? 0,
      sms: amounts.sms ?? 0,
    }, [carrierA]);
  const addSite = (name: string, publicKey: string) =>
    g.tx("gov.addSite", { name, org: "orgb", publicKey, url: `https://${name}.example.net` }, [
      adminA,
      adminB,
    ]);
  const END = RULES4_UNTIL;

  // ---- rules 3: the switch is scheduled --------------------------------
  await g.block("rules 3: rules 4 scheduled for block 4; a truck's stream; a roaming period", [
    [
      await g.tx("gov.setRules", { version: 4, height: RULES4_HEIGHT }, [adminA, adminB]),
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
    [await anchor(1, [truck]), "applied"],
    [
      await g.tx("roaming.open", {
        period: "p1",
        carriers: [
          { org: "orga", keys: [carrierA.did], tariff },
          { org: "orgb", keys: [carrierB.did], tariff },
        ],
        from: RULES4_FROM,
        until: RULES4_UNTIL,
        currency: "EUR",
      }, [adminA, adminB]),
      "applied",
    ],
  ]);
  await g.block("rules 3: usage ending at the period's end is outside it; a stranger co-signs", [
    [await usage("a-1", "imsi-1", END - HOUR, END, { voiceMinutes: 60 }), "roaming_outside_period"],
    [await usage("a-2", "imsi-1", END - HOUR, END - 1, { voiceMinutes: 60 }), "applied"],
    [await usage("a-3", "imsi-2", END - 1, END - 1, { sms: 1 }), "applied"],
    // The stranger signs first and is recorded as the anchor's signer.
    [await anchor(2, [stranger, truck]), "applied"],
    [await addSite("site-dead", SMALL_ORDER_SITE_KEY), "applied"],
  ]);
  await g.block("rules 3, the block before the switch: the truck's key is rotated", [
    [
      await g.tx(
        "identity.rotate",
        { device: "a/truck-1", key: truck.did, newKey: truckNext.did },
        [truck, truckNext],
      ),
      "applied",
    ],
    [await anchor(3, [stranger, truckNext]), "applied"],
  ]);

  // ---- rules 4 from here -----------------------------------------------
  await g.block("rules 4: usage may end at the period's end; the acting key is recorded", [
    [await usage("a-4", "imsi-3", END - HOUR, END, { voiceMinutes: 60 }), "applied"],
    [await usage("a-5", "imsi-4", END - 1, END - 1, { sms: 1 }), "applied"],
    [await usage("a-6", "imsi-5", END, END, { sms: 1 }), "roaming_outside_period"],
    [
      await usage("a-7", "imsi-6", END - MINUTE, END + 1, { dataMb: 5 }),
      "roaming_outside_period",
    ],
    [
      await usage("a-8", "imsi-7", RULES4_FROM - 1, RULES4_FROM + HOUR, { dataMb: 5 }),
      "roaming_outside_period",
    ],
    [await usage("a-9", "imsi-8", RULES4_FROM, RULES4_FROM, { sms: 2 }), "applied"],
    // Records the rotated key, which acted for the owner; not the stranger.
    [await anchor(4, [stranger, truckNext]), "applied"],
    [await anchor(5, [truckNext]), "applied"],
    [await anchor(6, [stranger]), "stream_not_owner"],
    [await addSite("site-dead-2", SMALL_ORDER_SITE_KEY), "site_key_unusable"],
    [await addSite("site-b", base64urlEncode(K.siteB.publicKey)), "applied"],
  ]);
  await g.block("rules 4: the period is closed and signed; other kinds under rules 4", [
    [await g.tx("roaming.close", { period: "p1" }, [carrierA]), "applied"],
    [
      await g.tx("gov.removeSite", {
        name: "site-dead",
        org: "orgb",
        publicKey: SMALL_ORDER_SITE_KEY,
      }, [adminA, adminB]),
      "applied",
    ],
    [
      await g.tx("custody.create", { item: "pallet-1", description: "Vaccines" }, [alice]),
      "applied",
    ],
    [
      await g.tx("custody.handoff", {
        item: "pallet-1",
        step: 1,
        from: alice.did,
        to: bob.did,
        location: "Depot 1",
        anchors: [{ stream: S, seq: 4 }],
      }, [alice, bob]),
      "applied",
    ],
    [
      await g.tx("asset.create", { asset: "credit", name: "Carrier A credit", decimals: 0 }, [
        adminA,
      ]),
      "applied",
    ],
    [
      await g.tx("asset.mint", { asset: "credit", to: bob.did, amount: "5" }, [adminA]),
      "applied",
    ],
    [
      await g.tx("asset.transfer", { asset: "credit", from: bob.did, to: alice.did, amount: "5" }, [
        bob,
      ]),
      "applied",
    ],
    [
      await g.tx("gov.setRules", { version: 4, height: 100 }, [adminA, adminB]),
      "rules_version_not_newer",
    ],
  ]);
}

/** The rules-4 golden chain. */
export const RULES4_CHAIN: GoldenSpec = {
  name: "rules 4",
  file: new URL("./chain_rules4.json", import.meta.url),
  about: ABOUT,
  genesis,
  siteKey: K.site,
  script,
};
