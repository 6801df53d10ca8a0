/**
 * Sites read each other's blocks and state hashes (`GET /raft/blocks`,
 * `GET /raft/state`) signed as members: on a cluster whose sites serve
 * nothing without an API key, those reads stay closed to everyone else, and
 * the members' own reads still work.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { hashKey } from "../src/api/api_keys.ts";
import { anchorTx } from "./_helpers.ts";
import { startCluster, waitFor } from "./_cluster.ts";

const KEY = "fleet-key-0123456789abcdef0123";

Deno.test({
  name:
    "peer reads: on sites that serve nothing without an API key (requireApiKey all), an unsigned GET /raft/blocks or /raft/state is 403 while the members' signed reads go on — their state checks compare (3 sites)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(3, {
      apiKeys: [{ name: "fleet", hash: hashKey(KEY), requestsPerMinute: 100_000 }],
      requireApiKey: "all",
      stateCheckBlocks: 2,
    });
    try {
      // Its status wants the key too.
      await waitFor("a leader", async () => {
        const res = await fetch(`${cluster.sites[0].url}/v1/status`, {
          headers: { authorization: `Bearer ${KEY}` },
        });
        return res.ok && (await res.json()).leader ? true : undefined;
      }, 20_000);
      const device = generateKeyPair("ed25519");
      const url = cluster.sites[0].url;
      const write = async () => {
        const res = await fetch(`${url}/v1/txs?wait=commit`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
          body: JSON.stringify({ txs: [await anchorTx(device), await anchorTx(device)] }),
        });
        assert.equal(res.status, 200, await res.clone().text());
        await res.body?.cancel();
      };
      // The members compare state hashes, each read from a peer's /raft/state, signed.
      await waitFor("a state comparison that agreed", async () => {
        await write();
        const agreed = await Promise.all(cluster.sites.map(async (s) => {
          const text = await (await fetch(`${s.url}/metrics`)).text();
          return Number(
            /^edgeledger_state_comparisons_total\{result="agreed"\} (\d+)$/m.exec(text)?.[1] ?? 0,
          );
        }));
        return agreed.some((n) => n > 0) || undefined;
      }, 30_000);
      for (const path of ["/raft/blocks?from=1&limit=5", "/raft/state?height=2"]) {
        const res = await fetch(`${url}${path}`);
        assert.equal(res.status, 403, path);
        const body = await res.json();
        assert.match(body.detail, /serves nothing without an API key: a member reads/, path);
      }
      const blocks = await fetch(`${url}/v1/blocks/1`);
      assert.equal(blocks.status, 401, "and the public route wants the key, as before");
      await blocks.body?.cancel();
    } finally {
      await cluster.stop();
    }
  },
});
