/**
 * The SDK against a real 3-site Raft cluster (each site its own process):
 * the client fails over when the site it uses dies, an SSE subscription
 * follows across that failover without missing or repeating a block, and the
 * light client proves receipts with checkpoints co-signed by 2 of the 3 real
 * site keys.
 */

import assert from "node:assert/strict";
import { EdgeLedgerClient } from "../sdk/client/mod.ts";
import { LightClient, MemoryTrustStore } from "../sdk/light/mod.ts";
import { createEnvelope, signEnvelope } from "../sdk/envelope.ts";
import { generateKeyPair, softwareSigner } from "../sdk/keys.ts";
import { startCluster, statuses, waitFor } from "./_cluster.ts";

Deno.test({
  name:
    "cluster: the SDK reads its writes at every site, fails over when its site dies, keeps its subscription gap-free, and proves receipts by a 2-of-3 quorum",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const cluster = await startCluster(3);
    const stop = new AbortController();
    try {
      await waitFor("a leader", async () => {
        const all = await statuses(cluster);
        return all.some((s) => s?.role === "leader") || undefined;
      });
      const client = new EdgeLedgerClient({
        urls: cluster.sites.map((s) => s.url),
        timeoutMs: 5000,
        retry: { attemptsMax: 12, delayMsBase: 100, delayMsMax: 1000 },
      });
      const status = await client.status();
      const trustedKeys = (await client.sites()).map((s) => s.verifierKey);
      assert.equal(trustedKeys.length, 3);
      const store = new MemoryTrustStore();
      const light = new LightClient({
        source: client,
        trustedKeys,
        quorum: 2,
        origin: status.origin,
        store,
      });
      const key = generateKeyPair("p256");
      let seq = 0;
      const commitOne = async () => {
        const envelope = await signEnvelope(
          createEnvelope({
            ledger: status.ledger,
            kind: "data.anchor",
            body: {
              stream: "cluster",
              seq: seq++,
              root: "55".repeat(32),
              count: 1,
              from: 0,
              to: 1,
            },
            signers: [key.did],
          }),
          [softwareSigner(key)],
        );
        const receipt = await client.submit(envelope, { wait: "commit" });
        assert.equal(receipt.status, "committed", JSON.stringify(receipt));
        return receipt;
      };
      /** Co-signatures travel after the block; a quorum-signed checkpoint follows shortly. */
      const proven = (txId: string) =>
        waitFor(`a proof of ${txId}`, async () => {
          const v = await light.verify(txId);
          if (v.ok) return v;
          if (
            !["checkpoint_quorum_not_met", "tx_not_committed", "unavailable"].includes(v.reason)
          ) {
            throw new Error(`Cannot verify ${txId}: ${v.reason}: ${v.message}`);
          }
          return undefined;
        }, 15_000);

      const fromHeight = (await client.status()).height + 1;
      const heights: number[] = [];
      const seen: string[] = [];
      const consumer = (async () => {
        for await (const event of client.subscribe({ fromHeight, signal: stop.signal })) {
          heights.push(event.height);
          seen.push(...event.txs.map((t) => t.txId));
        }
      })();

      const before = [];
      for (let i = 0; i < 3; i++) before.push(await commitOne());
      const first = await proven(before[0].txId!);
      assert.ok(first.checkpoint!.signers.length >= 2, first.message);
      assert.equal(first.blockVerified, true);

      // Read your writes at the other sites: the client's session height (its
      // last committed receipt's) goes with each read as minHeight.
      const last = before[2];
      assert.equal(client.sessionHeight, last.height);
      for (const site of cluster.sites.filter((s) => s.url !== client.currentUrl)) {
        const elsewhere = new EdgeLedgerClient({
          urls: site.url,
          sessionHeight: client.sessionHeight,
        });
        const read = await elsewhere.getTx(last.txId!);
        assert.equal(read.receipt.status, "committed", site.name);
      }
      // A read for a block no site has yet waits for it, then answers it.
      const head = Math.max(...(await statuses(cluster)).map((s) => s?.height ?? 0));
      const follower = cluster.sites.find((s) => s.url !== client.currentUrl)!;
      const early = fetch(`${follower.url}/v1/blocks/${head + 1}?minHeight=${head + 1}`);
      await new Promise((r) => setTimeout(r, 100));
      before.push(await commitOne());
      const waited = await early;
      assert.equal(waited.status, 200);
      assert.equal((await waited.json()).header.height, head + 1);

      // The site the client uses dies (SIGKILL): everything continues elsewhere.
      const victim = cluster.sites.findIndex((s) => s.url === client.currentUrl);
      await cluster.kill(victim);
      const after = [];
      for (let i = 0; i < 3; i++) after.push(await commitOne());
      assert.notEqual(client.currentUrl, cluster.sites[victim].url);
      for (const r of after) {
        const v = await proven(r.txId!);
        assert.ok(v.checkpoint!.signers.length >= 2);
        assert.ok(!v.checkpoint!.signers.includes(cluster.sites[victim].name));
      }
      assert.ok((await store.load())!.size >= 6);

      const committed = [...before, ...after].map((r) => r.txId!);
      await waitFor(
        "the subscription to see every transaction",
        () => Promise.resolve(committed.every((id) => seen.includes(id)) || undefined),
        20_000,
      );
      stop.abort();
      await consumer;
      const expected = Array.from({ length: heights.length }, (_, i) => fromHeight + i);
      assert.deepEqual(heights, expected, "every block once, in order, across the failover");
      assert.deepEqual(seen.filter((id) => committed.includes(id)), committed);
    } finally {
      stop.abort();
      await cluster.stop();
    }
  },
});
