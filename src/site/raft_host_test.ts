/**
 * The consensus host around one site, with its peers played by a loopback
 * HTTP server: what it does on restart after a crash.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../sdk/keys.ts";
import { anchorTx, openTestSite } from "../../test/_helpers.ts";
import { RaftHost } from "./raft_host.ts";
import type { RaftStoreApi } from "../storage/raft_store.ts";

const device = generateKeyPair("ed25519");

Deno.test("raft host: a failed durable write halts the site: unhealthy, no writes, no leader reads", async () => {
  const t = await openTestSite();
  const real = t.site.raftStore();
  let fail = false;
  const store: RaftStoreApi = {
    load: () => real.load(),
    persist: (rd, o) =>
      fail ? Promise.reject(new Error("SQLITE_FULL: disk is full")) : real.persist(rd, o),
    saveSnapshot: (s, c) => real.saveSnapshot(s, c),
  };
  const errors = console.error;
  console.error = () => {};
  const host = await RaftHost.start(
    t.site,
    store,
    "site-a",
    t.site.siteKey,
    [{ name: "site-a", url: "http://127.0.0.1:1", publicKey: t.site.siteKey.publicKey }],
    ["site-a"],
    { tickMs: 5, electionTicks: 4, heartbeatTicks: 1 },
  );
  try {
    for (let i = 0; i < 400 && host.consensusStatus().role !== "leader"; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(host.consensusStatus().role, "leader");
    await t.site.blocks(0, 1, "leader");
    fail = true;
    await t.site.submit([await anchorTx(device)], { wait: false, waitTimeoutMs: 0 });
    for (let i = 0; i < 400 && host.fatal === undefined; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.match(String(host.fatal), /SQLITE_FULL/);
    assert.equal((await t.site.status()).healthy, false);
    const env = await anchorTx(device);
    await assert.rejects(
      () => t.site.submit([env], { wait: false, waitTimeoutMs: 0 }),
      /cannot write blocks/,
    );
    await assert.rejects(() => t.site.blocks(0, 1, "leader"), /cannot write blocks/);
    await t.site.blocks(0, 1, "stale");
  } finally {
    console.error = errors;
    await host.close();
    await t.cleanup();
  }
});
