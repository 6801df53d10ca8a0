/**
 * Sites that guard their client connections (`clientConnections` in their
 * configs): a cluster of real processes keeps committing across quiet spells
 * longer than every deadline — its peers' streams pause between messages —
 * while a client that trickles its headers is closed.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { anchorTx } from "./_helpers.ts";
import { blockHashes, startCluster, statuses, submitCommit, waitFor } from "./_cluster.ts";

const device = generateKeyPair("ed25519");

function metric(text: string, line: RegExp): number | undefined {
  const m = line.exec(text);
  return m === null ? undefined : Number(m[1]);
}

Deno.test({
  name:
    "guarded sites: a 3-site cluster with short connection deadlines commits through quiet spells longer than all of them (peer streams are never cut), identical blocks on every site, and a trickling client is closed",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(3, {
      clientConnections: { headersTimeoutMs: 800, idleTimeoutMs: 800, keepAliveTimeoutMs: 800 },
    });
    try {
      await waitFor("a leader", async () => {
        const st = await statuses(cluster);
        return st.some((s) => s?.role === "leader") || undefined;
      });
      const acked: string[] = [];
      for (let round = 0; round < 3; round++) {
        for (const site of cluster.sites) {
          const r = await submitCommit(site.url, await anchorTx(device), 10_000);
          assert.equal(r.body?.status, "committed", JSON.stringify(r.body));
          acked.push(r.body.txId);
        }
        // Quieter than every deadline: only Raft heartbeats flow, on the peers' streams.
        await new Promise((r) => setTimeout(r, 2000));
      }
      await waitFor("every site at the same height", async () => {
        const st = await statuses(cluster);
        const heights = new Set(st.map((s) => s?.height));
        return heights.size === 1 && !heights.has(undefined) || undefined;
      });
      const hashes = await Promise.all(cluster.sites.map((s) => blockHashes(s.url)));
      assert.deepEqual(hashes[1], hashes[0]);
      assert.deepEqual(hashes[2], hashes[0]);

      const { port } = new URL(cluster.sites[1].url);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
      const t0 = performance.now();
      let closedAfter: number | undefined;
      const reading = (async () => {
        try {
          while ((await conn.read(new Uint8Array(1024))) !== null) { /* nothing comes */ }
        } catch { /* reset */ }
        closedAfter = performance.now() - t0;
      })();
      for (const ch of "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Pad: " + "a".repeat(40)) {
        if (closedAfter !== undefined) break;
        await conn.write(new TextEncoder().encode(ch)).catch(() => {});
        await new Promise((r) => setTimeout(r, 50));
      }
      try {
        conn.close();
      } catch { /* closed */ }
      await reading;
      assert.ok(closedAfter !== undefined && closedAfter < 1800, `${closedAfter}`);

      for (const site of cluster.sites) {
        const text = await (await fetch(`${site.url}/metrics`)).text();
        const cut = (reason: string) =>
          metric(
            text,
            new RegExp(
              `^edgeledger_http_connections_closed_total\\{reason="${reason}"\\} (\\d+)$`,
              "m",
            ),
          );
        assert.equal(cut("body"), 0, `${site.name}: a body (a peer's stream) was cut`);
        assert.ok((cut("keepalive") ?? -1) >= 0, `${site.name}: no connection metrics`);
      }
      const b = await (await fetch(`${cluster.sites[1].url}/metrics`)).text();
      assert.ok(
        (metric(b, /^edgeledger_http_connections_closed_total\{reason="headers"\} (\d+)$/m) ?? 0) >=
          1,
      );
    } finally {
      await cluster.stop();
    }
  },
});
