import assert from "node:assert/strict";
import { base64urlEncode } from "../encoding.ts";
import { generateKeyPair } from "../keys.ts";
import { verifierKey } from "../note.ts";
import {
  majorityQuorum,
  parseTrustConfig,
  TrustConfigError,
  trustConfigFromGenesis,
  trustConfigFromSites,
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
