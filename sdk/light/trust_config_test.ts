import assert from "node:assert/strict";
import { base64urlEncode, utf8Encode } from "../encoding.ts";
import { generateKeyPair, signSync } from "../keys.ts";
import { verifierKey } from "../note.ts";
import { retirementText, rotationText } from "../key_rotation.ts";
import {
  followKeyRotations,
  majorityQuorum,
  parseTrustConfig,
  TrustConfigError,
  trustConfigFromGenesis,
  trustConfigFromSites,
  verifierKeysAt,
} from "./trust_config.ts";

const keyPairs = ["site-a", "site-b", "site-c"].map((name) => ({
  name,
  key: generateKeyPair("ed25519"),
}));
const keys = keyPairs.map(({ name, key }) => verifierKey(name, key.publicKey));
const good = { v: 1, origin: "edgeledger.test/demo", quorum: 2, trustedKeys: keys };

Deno.test("parseTrustConfig() accepts a well-formed trust file as it is", () => {
  assert.deepEqual(parseTrustConfig(JSON.parse(JSON.stringify(good))), good);
});

Deno.test("parseTrustConfig() refuses a quorum above the trusted sites, or below 1", () => {
  assert.throws(() => parseTrustConfig({ ...good, quorum: 4 }), /at quorum: must be at most the 3/);
  assert.throws(() => parseTrustConfig({ ...good, quorum: 0 }), TrustConfigError);
  assert.throws(() => parseTrustConfig({ ...good, quorum: 1.5 }), TrustConfigError);
});

Deno.test("parseTrustConfig() refuses a malformed key, two keys of one site, and no keys", () => {
  assert.throws(
    () => parseTrustConfig({ ...good, trustedKeys: [keys[0], "site-b+00000000+AAAA"] }),
    /at trustedKeys\.1: Invalid verifier key/,
  );
  const otherA = verifierKey("site-a", generateKeyPair("ed25519").publicKey);
  assert.throws(
    () => parseTrustConfig({ ...good, trustedKeys: [keys[0], otherA], quorum: 1 }),
    /a second key for site site-a/,
  );
  assert.throws(() => parseTrustConfig({ ...good, trustedKeys: [], quorum: 1 }), TrustConfigError);
});

Deno.test("parseTrustConfig() refuses an unknown member, another version and a multi-line origin", () => {
  assert.throws(() => parseTrustConfig({ ...good, extra: true }), TrustConfigError);
  assert.throws(() => parseTrustConfig({ ...good, v: 2 }), /at v/);
  assert.throws(() => parseTrustConfig({ ...good, origin: "a\nb" }), /at origin/);
  assert.throws(() => parseTrustConfig(null), TrustConfigError);
  assert.throws(() => parseTrustConfig("trust me"), TrustConfigError);
});

Deno.test("majorityQuorum() is the smallest majority", () => {
  assert.deepEqual([1, 2, 3, 4, 5].map(majorityQuorum), [1, 2, 2, 3, 3]);
  assert.throws(() => majorityQuorum(0), RangeError);
});

Deno.test("trustConfigFromSites() trusts only the voters' keys, with a majority of them as quorum", () => {
  const sites = keyPairs.map(({ name }, i) => ({
    name,
    url: `http://127.0.0.1:${7001 + i}`,
    verifierKey: keys[i],
  }));
  const all = trustConfigFromSites(sites, { origin: "o/demo" });
  assert.deepEqual(all, { v: 1, origin: "o/demo", quorum: 2, trustedKeys: keys });
  const voters = trustConfigFromSites(sites, { origin: "o/demo", voters: ["site-a", "site-c"] });
  assert.deepEqual(voters.trustedKeys, [keys[0], keys[2]]);
  assert.equal(voters.quorum, 2);
  assert.equal(trustConfigFromSites(sites, { origin: "o/demo", quorum: 3 }).quorum, 3);
  assert.throws(
    () => trustConfigFromSites(sites, { origin: "o/demo", voters: ["site-d"] }),
    /voter\(s\) site-d not listed/,
  );
  assert.throws(() => trustConfigFromSites([], { origin: "o/demo" }), TrustConfigError);
});

Deno.test("trustConfigFromGenesis() derives each site's verifier key from its genesis public key", () => {
  const genesis = {
    v: 1,
    ledger: "demo",
    origin: "edgeledger.test/demo",
    time: 0,
    organisations: [{ id: "org-a", name: "Org A" }],
    sites: keyPairs.map(({ name, key }) => ({
      name,
      org: "org-a",
      publicKey: base64urlEncode(key.publicKey),
      url: "http://127.0.0.1:1",
    })),
    policies: { expiryWindowMs: 1000, openKinds: [] },
  };
  assert.deepEqual(trustConfigFromGenesis(genesis), good);
  assert.equal(trustConfigFromGenesis(genesis, { quorum: 3 }).quorum, 3);
  assert.throws(
    () => trustConfigFromGenesis({ ...genesis, sites: [{ name: "site-a", publicKey: "x" }] }),
    /at sites\.0\.publicKey/,
  );
  assert.throws(() => trustConfigFromGenesis({ sites: genesis.sites }), /at origin/);
  assert.throws(() => trustConfigFromGenesis(genesis, { quorum: 4 }), /at quorum/);
});

Deno.test("followKeyRotations() replaces a trusted key by the one its chain of rotations leads to, each step signed by both keys; a site no chain reaches, or one not listed, keeps its key; an untrusted site is never added", async () => {
  const k = Array.from({ length: 5 }, () => generateKeyPair("ed25519"));
  const b64 = (i: number) => base64urlEncode(k[i].publicKey);
  const rotation = (name: string, from: number, to: number) => {
    const text = utf8Encode(rotationText(name, b64(from), b64(to)));
    return {
      name,
      previous: b64(from),
      publicKey: b64(to),
      previousSig: base64urlEncode(signSync(k[from], text)),
      newSig: base64urlEncode(signSync(k[to], text)),
    };
  };
  const vk = (name: string, i: number) => verifierKey(name, k[i].publicKey);
  const trust = parseTrustConfig({
    v: 1,
    origin: "o/demo",
    quorum: 2,
    trustedKeys: [vk("site-a", 0), vk("site-b", 1), vk("site-c", 2), vk("site-gone", 4)],
  });
  // site-a rotated twice (0 → 3 → 4 is not its; 0 → 3); site-b did not; site-c is listed with a
  // key nothing leads to from 2 (its chain is a stranger's); site-d was never trusted.
  const sites = [
    { name: "site-a", verifierKey: vk("site-a", 3) },
    { name: "site-b", verifierKey: vk("site-b", 1) },
    { name: "site-c", verifierKey: vk("site-c", 4) },
    { name: "site-d", verifierKey: vk("site-d", 4) },
  ];
  const chains: Record<string, ReturnType<typeof rotation>[]> = {
    "site-a": [rotation("site-a", 0, 3)],
    "site-c": [rotation("site-c", 3, 4)],
  };
  const asked: string[] = [];
  // (These sites serve no retired keys: followed without waiting for their signed heights.)
  const update = await followKeyRotations(trust, sites, (name) => {
    asked.push(name);
    return Promise.resolve({
      verifierKey: sites.find((s) => s.name === name)!.verifierKey,
      rotations: chains[name] ?? [],
    });
  }, { awaitRetirements: false });
  assert.deepEqual(asked, ["site-a", "site-c"]);
  assert.deepEqual(update.rotated, [{ name: "site-a", from: b64(0), to: b64(3), retired: [] }]);
  assert.deepEqual(update.unreachable, ["site-c"]);
  assert.deepEqual(update.unlisted, ["site-gone"]);
  assert.deepEqual(update.pending, ["site-a"], "its old key's height not signed: not settled");
  assert.deepEqual(update.trust.trustedKeys, [
    vk("site-a", 3),
    vk("site-b", 1),
    vk("site-c", 2),
    vk("site-gone", 4),
  ]);
  assert.equal(update.trust.quorum, 2);
  // A chain whose new key did not sign is followed no further.
  const forged = { ...rotation("site-a", 0, 3), newSig: rotation("site-a", 0, 3).previousSig };
  const refused = await followKeyRotations(trust, sites, (name) =>
    Promise.resolve({
      verifierKey: sites.find((s) => s.name === name)!.verifierKey,
      rotations: name === "site-a" ? [forged] : chains[name] ?? [],
    }), { awaitRetirements: false });
  assert.deepEqual(refused.rotated, []);
  assert.deepEqual(refused.unreachable, ["site-a", "site-c"]);
  assert.equal(refused.trust.trustedKeys[0], vk("site-a", 0));
});

Deno.test("parseTrustConfig() keeps well-formed retired keys and refuses a malformed one, a trusted key listed as retired, a negative or unsafe height, a key of a site no trusted key names, or one listed twice", () => {
  const retired = verifierKey("site-a", generateKeyPair("ed25519").publicKey);
  const withRetired = { ...good, retiredKeys: [{ key: retired, untilHeight: 12 }] };
  assert.deepEqual(parseTrustConfig(JSON.parse(JSON.stringify(withRetired))), withRetired);
  assert.deepEqual(parseTrustConfig({ ...good, retiredKeys: [] }), good, "an empty list is none");
  assert.throws(
    () => parseTrustConfig({ ...good, retiredKeys: [{ key: "site-a+zz", untilHeight: 1 }] }),
    /at retiredKeys\.0\.key/,
  );
  assert.throws(
    () => parseTrustConfig({ ...good, retiredKeys: [{ key: keys[0], untilHeight: 1 }] }),
    /a trusted key is not retired/,
  );
  assert.throws(
    () => parseTrustConfig({ ...good, retiredKeys: [{ key: retired, untilHeight: -1 }] }),
    /at retiredKeys\.0\.untilHeight/,
  );
  assert.throws(
    () => parseTrustConfig({ ...good, retiredKeys: [{ key: retired, untilHeight: 1, x: 1 }] }),
    TrustConfigError,
  );
  assert.throws(
    () =>
      parseTrustConfig({
        ...good,
        retiredKeys: [{ key: retired, untilHeight: Number.MAX_SAFE_INTEGER + 1 }],
      }),
    /at retiredKeys\.0\.untilHeight/,
  );
  const stranger = verifierKey("site-z", generateKeyPair("ed25519").publicKey);
  assert.throws(
    () => parseTrustConfig({ ...good, retiredKeys: [{ key: stranger, untilHeight: 1 }] }),
    /a retired key of site site-z, which no trusted key names/,
  );
  assert.throws(
    () =>
      parseTrustConfig({
        ...good,
        retiredKeys: [{ key: retired, untilHeight: 1 }, { key: retired, untilHeight: 2 }],
      }),
    /at retiredKeys\.1\.key: listed twice/,
  );
});

Deno.test("verifierKeysAt() gives the trusted keys and each retired key of a trusted site whose last height is the checkpoint's or above; a retired key of a site no trusted key names counts for nothing", () => {
  const retired = [{ key: "site-a+old", untilHeight: 10 }, { key: "site-b+old", untilHeight: 4 }];
  assert.deepEqual(verifierKeysAt(["site-b+new", "site-a+new"], retired, 4), [
    "site-b+new",
    "site-b+old",
    "site-a+new",
    "site-a+old",
  ]);
  assert.deepEqual(verifierKeysAt(["site-a+new"], retired, 4), ["site-a+new", "site-a+old"]);
  assert.deepEqual(verifierKeysAt(["site-a+new"], retired, 10), ["site-a+new", "site-a+old"]);
  assert.deepEqual(verifierKeysAt(["site-a+new"], retired, 11), ["site-a+new"]);
});

Deno.test("followKeyRotations() keeps each key it replaces as a retired key up to the last height the site signed with a later key of its chain; one not signed yet leaves the site pending (unless told not to wait), one signed for another height or by a stranger is not kept, and those the file held stay", async () => {
  const k = Array.from({ length: 4 }, () => generateKeyPair("ed25519"));
  const b64 = (i: number) => base64urlEncode(k[i].publicKey);
  const vk = (i: number) => verifierKey("site-a", k[i].publicKey);
  const rotation = (from: number, to: number) => {
    const text = utf8Encode(rotationText("site-a", b64(from), b64(to)));
    return {
      name: "site-a",
      previous: b64(from),
      publicKey: b64(to),
      previousSig: base64urlEncode(signSync(k[from], text)),
      newSig: base64urlEncode(signSync(k[to], text)),
    };
  };
  const retirement = (
    i: number,
    untilHeight: number,
    signer: number,
    signedHeight = untilHeight,
  ) => ({
    verifierKey: vk(i),
    untilHeight,
    signer: b64(signer),
    signature: base64urlEncode(
      signSync(k[signer], utf8Encode(retirementText("site-a", b64(i), signedHeight))),
    ),
  });
  const b = verifierKey("site-b", generateKeyPair("ed25519").publicKey);
  const trust = parseTrustConfig({ v: 1, origin: "o/demo", quorum: 2, trustedKeys: [vk(0), b] });
  const sites = [{ name: "site-a", verifierKey: vk(2) }, { name: "site-b", verifierKey: b }];
  const follow = (retired: unknown[], from = trust, awaitRetirements = true) =>
    followKeyRotations(
      from,
      sites,
      () =>
        Promise.resolve({
          verifierKey: vk(2),
          rotations: [rotation(0, 1), rotation(1, 2)],
          retired: retired as never,
        }),
      { awaitRetirements },
    );

  // 0 retired at 10 (signed by 1), 1 retired at 20 (signed by 2): both kept.
  const both = await follow([retirement(0, 10, 1), retirement(1, 20, 2)]);
  assert.deepEqual(both.rotated, [{
    name: "site-a",
    from: b64(0),
    to: b64(2),
    retired: [{ key: vk(0), untilHeight: 10 }, { key: vk(1), untilHeight: 20 }],
  }]);
  assert.deepEqual(both.trust.trustedKeys, [vk(2), b]);
  assert.deepEqual(both.trust.retiredKeys, both.rotated[0].retired);

  // Not signed yet (a moment after the rotation): the site keeps its trusted key, pending —
  // or, not waiting (as a light client does), it is followed and that key not kept.
  const { signer: _s, signature: _g, ...unsigned } = retirement(0, 10, 1);
  const waiting = await follow([unsigned, retirement(1, 20, 2)]);
  assert.deepEqual(waiting.pending, ["site-a"]);
  assert.deepEqual(waiting.rotated, []);
  assert.deepEqual(waiting.trust, trust);
  const notWaiting = await follow([unsigned, retirement(1, 20, 2)], trust, false);
  assert.deepEqual(notWaiting.rotated[0].retired, [{ key: vk(1), untilHeight: 20 }]);
  assert.deepEqual(notWaiting.pending, ["site-a"], "followed, and named as not settled");
  // Signed, but not for the recorded height, or by a key off the chain (3): followed, not kept.
  const none = await follow([retirement(0, 10, 3), retirement(1, 20, 2, 21)]);
  assert.deepEqual(none.pending, []);
  assert.deepEqual(none.rotated[0].retired, []);
  assert.equal(none.trust.retiredKeys, undefined);
  assert.deepEqual(none.trust.trustedKeys, [vk(2), b], "the rotation is followed all the same");

  // Retired keys the trust file held stay, once.
  const earlier = {
    key: verifierKey("site-b", generateKeyPair("ed25519").publicKey),
    untilHeight: 3,
  };
  // A file that followed site-a to key 1 earlier: key 1 joins the retired keys it held.
  const again = await follow([retirement(0, 10, 1), retirement(1, 20, 2)], {
    ...trust,
    trustedKeys: [vk(1), b],
    retiredKeys: [earlier, { key: vk(0), untilHeight: 10 }],
  });
  assert.deepEqual(again.trust.retiredKeys, [
    earlier,
    { key: vk(0), untilHeight: 10 },
    { key: vk(1), untilHeight: 20 },
  ]);
});

Deno.test("parseTrustConfig() and trustConfigFromGenesis() refuse one public key under two site names (trusted or retired): one signer would count twice toward the quorum", () => {
  const aKey = keyPairs[0].key.publicKey;
  const asB = verifierKey("site-b", aKey);
  assert.throws(
    () => parseTrustConfig({ ...good, trustedKeys: [keys[0], asB, keys[2]] }),
    /at trustedKeys\.1: the key of site site-a under another name/,
  );
  assert.throws(
    () => parseTrustConfig({ ...good, retiredKeys: [{ key: asB, untilHeight: 9 }] }),
    /at retiredKeys\.0\.key: a key of site site-a under another name/,
  );
  // A site's own retired key is still fine.
  const oldA = verifierKey("site-a", generateKeyPair("ed25519").publicKey);
  assert.equal(
    parseTrustConfig({ ...good, retiredKeys: [{ key: oldA, untilHeight: 9 }] }).retiredKeys?.length,
    1,
  );
  const genesis = {
    origin: "edgeledger.test/demo",
    sites: [
      { name: "site-a", publicKey: base64urlEncode(aKey) },
      { name: "site-b", publicKey: base64urlEncode(aKey) },
      { name: "site-c", publicKey: base64urlEncode(keyPairs[2].key.publicKey) },
    ],
  };
  assert.throws(() => trustConfigFromGenesis(genesis), /under another name/);
});

Deno.test("followKeyRotations() does not follow a site's chain to another trusted site's key", async () => {
  const [a, b] = [keyPairs[0].key, keyPairs[1].key];
  const text = utf8Encode(
    rotationText("site-a", base64urlEncode(a.publicKey), base64urlEncode(b.publicKey)),
  );
  const rotation = {
    name: "site-a",
    previous: base64urlEncode(a.publicKey),
    publicKey: base64urlEncode(b.publicKey),
    previousSig: base64urlEncode(signSync(a, text)),
    newSig: base64urlEncode(signSync(b, text)),
  };
  const sites = [
    { name: "site-a", verifierKey: verifierKey("site-a", b.publicKey) },
    { name: "site-b", verifierKey: keys[1] },
    { name: "site-c", verifierKey: keys[2] },
  ];
  const update = await followKeyRotations(
    parseTrustConfig(good),
    sites,
    () => Promise.resolve({ verifierKey: sites[0].verifierKey, rotations: [rotation] }),
    { awaitRetirements: false },
  );
  assert.deepEqual(update.rotated, []);
  assert.deepEqual(update.unreachable, ["site-a"]);
  assert.deepEqual(update.trust.trustedKeys, keys);
});
