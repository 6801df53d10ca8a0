/**
 * A running site takes its config's tenant and admin keys again on SIGHUP:
 * a key revoked in the file is refused, a new one served, an admin key
 * rotated — no restart, the cluster going on; a config that no longer loads
 * leaves the keys in use as they were.
 */
import assert from "node:assert/strict";
import { hashKey } from "../src/api/api_keys.ts";
import { anchorTx } from "./_helpers.ts";
import { leaderIndex, startCluster, submitCommit, waitFor } from "./_cluster.ts";
import { generateKeyPair } from "../sdk/keys.ts";

const OLD = "fleet-old-key-0123456789abcdef";
const NEW = "fleet-new-key-0123456789abcdef";
const ADMIN_NEW = "admin-new-key-0123456789abcdef";

Deno.test({
  name:
    "key reload: on SIGHUP a site serves the tenant and admin keys its config now holds (a revoked key refused 401, a new one served, an admin key rotated) without a restart, even while the genesis or CA file the config names is broken (it reads the config alone); a config that does not load keeps the keys in use, and says so",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(3, {
      apiKeys: [{ name: "fleet", hash: hashKey(OLD), requestsPerMinute: 100_000 }],
      requireApiKey: "writes",
      log: { format: "json" },
    });
    const site = cluster.sites[0];
    const status = (key: string) =>
      fetch(`${site.url}/v1/status`, { headers: { authorization: `Bearer ${key}` } })
        .then(async (r) => (await r.body?.cancel(), r.status));
    // An admin request that changes nothing: an empty member is refused 400 once the key is
    // taken (403 before that).
    const members = (key: string) =>
      fetch(`${site.url}/v1/admin/members`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: "{}",
      }).then(async (r) => (await r.body?.cancel(), r.status));
    const reloads = (msg: string) =>
      site.stderr.split("\n").filter((l) => l.startsWith("{") && l.endsWith("}"))
        .map((l) => JSON.parse(l)).filter((r) => r.msg === msg);
    try {
      await leaderIndex(cluster);
      assert.equal(await status(OLD), 200);
      assert.equal(await status(NEW), 401);
      assert.equal(await members(cluster.adminKey), 400);
      const pid = site.proc.pid;

      // The tenant's key is replaced, and a second admin key takes the first's place.
      const config = JSON.parse(await Deno.readTextFile(site.configPath));
      await Deno.writeTextFile(
        site.configPath,
        JSON.stringify({
          ...config,
          apiKeys: [{ name: "fleet", hash: hashKey(NEW), requestsPerMinute: 100_000 }],
          adminKeyHashes: [hashKey(ADMIN_NEW)],
        }),
      );
      site.proc.kill("SIGHUP");
      await waitFor("the keys reloaded", () => Promise.resolve(reloads("access keys reloaded")[0]));
      assert.equal(await status(OLD), 401);
      assert.equal(await status(NEW), 200);
      assert.equal(await members(cluster.adminKey), 401);
      assert.equal(await members(ADMIN_NEW), 400);
      // On the admin routes, the new tenant key is known (403) and the old one no more (401).
      assert.equal(await members(NEW), 403);
      assert.equal(await members(OLD), 401);
      const logged = reloads("access keys reloaded")[0];
      assert.deepEqual(logged.apiKeysChanged, ["fleet"]);
      assert.equal(logged.adminKeysAdded, 1);
      assert.equal(logged.adminKeysRemoved, 1);
      assert.ok(!JSON.stringify(logged).includes(hashKey(NEW)), "a key's hash was logged");

      // Writes go on through it with the new key: the same process, in the same cluster.
      const tx = await anchorTx(generateKeyPair("ed25519"));
      const res = await fetch(`${site.url}/v1/txs?wait=commit`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${NEW}` },
        body: JSON.stringify(tx),
      });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal((await res.json()).status, "committed");
      assert.equal((await submitCommit(site.url, tx)).status, 401, "a write without a key");
      assert.equal(site.proc.pid, pid);

      // The key is revoked again while the files the config names are broken (a CA file being
      // rotated, a genesis file moved): the reload reads the config alone, so the revocation holds.
      const dir = site.configPath.slice(0, site.configPath.lastIndexOf("/"));
      await Deno.writeTextFile(`${dir}/broken-ca.pem`, "not a certificate\n");
      await Deno.writeTextFile(
        site.configPath,
        JSON.stringify({
          ...config,
          apiKeys: [{ name: "fleet", hash: hashKey(OLD), requestsPerMinute: 100_000 }],
          adminKeyHashes: [hashKey(ADMIN_NEW)],
          caFile: "broken-ca.pem",
          genesisFile: "moved-genesis.json",
        }),
      );
      site.proc.kill("SIGHUP");
      await waitFor(
        "the second reload",
        () => Promise.resolve(reloads("access keys reloaded")[1]),
      );
      assert.equal(await status(NEW), 401);
      assert.equal(await status(OLD), 200);

      // A config that no longer loads: the keys in use stay, and the log says why.
      await Deno.writeTextFile(site.configPath, "{ not json");
      site.proc.kill("SIGHUP");
      await waitFor(
        "the failed reload logged",
        () =>
          Promise.resolve(
            reloads("access keys not reloaded: the config does not load; the keys in use stay")[0],
          ),
      );
      assert.equal(await status(OLD), 200);
      assert.equal(await members(ADMIN_NEW), 400);
      await Deno.writeTextFile(site.configPath, JSON.stringify(config));
    } finally {
      await cluster.stop();
    }
  },
});
