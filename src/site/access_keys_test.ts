import assert from "node:assert/strict";
import { AccessKeys } from "./access_keys.ts";

const hash = (c: string) => c.repeat(64);
const fleet = { name: "fleet", hash: hash("a"), requestsPerMinute: 100 };
const mvno = { name: "mvno", hash: hash("b"), requestsPerMinute: 100 };

Deno.test("AccessKeys.replace() puts new keys in the objects the middleware reads, in place, and names what changed", () => {
  const keys = new AccessKeys({
    apiKeys: [fleet, mvno],
    requireApiKey: "none",
    adminKeyHashes: [hash("1"), hash("2")],
  });
  const api = keys.api;
  const admin = keys.admin;
  const change = keys.replace({
    apiKeys: [{ ...fleet, requestsPerMinute: 5 }, {
      name: "iot",
      hash: hash("c"),
      requestsPerMinute: 9,
    }],
    requireApiKey: "writes",
    adminKeyHashes: [hash("2"), hash("3"), hash("4")],
  });
  assert.deepEqual(change, {
    apiKeysAdded: ["iot"],
    apiKeysChanged: ["fleet"],
    apiKeysRemoved: ["mvno"],
    requireApiKey: { from: "none", to: "writes" },
    adminKeysAdded: 2,
    adminKeysRemoved: 1,
  });
  // The same objects: the middleware holding them sees the new keys.
  assert.equal(keys.api, api);
  assert.equal(keys.admin, admin);
  assert.deepEqual(api.keys.map((k) => k.name), ["fleet", "iot"]);
  assert.equal(api.require, "writes");
  assert.deepEqual(admin, [hash("2"), hash("3"), hash("4")]);
});

Deno.test("AccessKeys.replace() with the same keys changes nothing and says so", () => {
  const config = { apiKeys: [fleet], requireApiKey: "all" as const, adminKeyHashes: [hash("1")] };
  const keys = new AccessKeys(config);
  assert.equal(keys.replace({ ...config, apiKeys: [{ ...fleet }] }), undefined);
});

Deno.test("AccessKeys.isTenantKey() knows the tenant keys in service, after a reload too, and never an admin key", () => {
  const keys = new AccessKeys({
    apiKeys: [fleet],
    requireApiKey: "none",
    adminKeyHashes: [hash("1")],
  });
  assert.equal(keys.isTenantKey(fleet.hash), true);
  assert.equal(keys.isTenantKey(mvno.hash), false);
  assert.equal(keys.isTenantKey(hash("1")), false);
  keys.replace({ apiKeys: [mvno], requireApiKey: "none", adminKeyHashes: [hash("1")] });
  assert.equal(keys.isTenantKey(fleet.hash), false);
  assert.equal(keys.isTenantKey(mvno.hash), true);
});
