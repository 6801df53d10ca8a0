/**
 * What `GET /v1/checkpoint` serves on a cluster: a checkpoint co-signed by
 * a quorum of the voters (DESIGN: "the latest co-signed checkpoint"), also
 * before the first transaction, and on a site that started after its peers
 * had already reached their quorum.
 */
import assert from "node:assert/strict";
// @ts-types="../src/storage/libsql_native.d.ts"
import Libsql from "libsql";
import { LightClient } from "../sdk/light/light_client.ts";
import { trustConfigFromGenesis } from "../sdk/light/trust_config.ts";
import { EdgeLedgerClient } from "../sdk/client/client.ts";
import { commitBatches, getJson, startCluster, type TestCluster, waitFor } from "./_cluster.ts";

/** Signature lines of the checkpoint `url` serves. */
async function signatureCount(url: string): Promise<number> {
  const note = await (await fetch(`${url}/v1/checkpoint`)).text();
  return note.split("\n").filter((l) => l.startsWith("— ")).length;
}

/** The height and the signing sites' key names of the checkpoint `url` serves. */
async function servedCheckpoint(url: string): Promise<{ height: number; signers: string[] }> {
  const note = await (await fetch(`${url}/v1/checkpoint`)).text();
  const height = Number(/^height (\d+)$/m.exec(note)?.[1]);
  const signers = note.split("\n").filter((l) => l.startsWith("— ")).map((l) => l.split(" ")[1])
    .sort();
  return { height, signers };
}

/** Waits until every running site serves a checkpoint of at least two lines; then checks each with the light client. */
async function everySiteCoSigned(cluster: TestCluster, sites: number[]): Promise<void> {
  await waitFor("a co-signed checkpoint on every site", async () => {
    const counts = await Promise.all(sites.map((i) => signatureCount(cluster.sites[i].url)));
    return counts.every((n) => n >= 2) || undefined;
  }, 15_000);
  const trust = trustConfigFromGenesis(
    JSON.parse(await Deno.readTextFile(`${cluster.dir}/genesis.json`)),
  );
  for (const i of sites) {
    const light = new LightClient({
      // A follower answers the light client's `leader` read 503 at once: no retry, it reads `stale`.
      source: new EdgeLedgerClient({ urls: [cluster.sites[i].url], retry: { attemptsMax: 1 } }),
      ...trust,
      checkpointWaitMs: 0,
    });
    const verdict = await light.updateCheckpoint();
    assert.equal(verdict.ok, true, `${cluster.sites[i].name}: ${verdict.message}`);
    assert.equal(verdict.checkpoint?.height, 0);
  }
}

Deno.test({
  name:
    "checkpoint: a new cluster serves block 0's checkpoint co-signed by a quorum from every site before any transaction (it served each site's own signature alone); a site that holds no peer's signature for its head asks again, and peers that reached their quorum long before answer; a line that comes after the quorum is added to the served checkpoint",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const cluster = await startCluster(3);
    try {
      await t.step("a new idle cluster is co-signed on every site", async () => {
        await everySiteCoSigned(cluster, [0, 1, 2]);
      });
      await t.step("a site restarted without its peers' lines gets them again", async () => {
        // site-c forgets its peers' lines: restarted, it finds no quorum among
        // its blocks and has only its own line for its head, as a site that
        // started after its peers had exchanged theirs.
        await cluster.kill(2);
        const db = new Libsql(`${cluster.dir}/site-c/ledger.db`);
        db.exec("DELETE FROM checkpoint_sigs WHERE site != 'site-c'");
        const left = db.prepare("SELECT COUNT(*) AS n FROM checkpoint_sigs").get() as {
          n: number;
        };
        db.close();
        assert.equal(left.n, 1);
        await cluster.start(2);
        await everySiteCoSigned(cluster, [0, 1, 2]);
      });
      await t.step(
        "a line that comes after the quorum is added: once quiet, every site serves its head's checkpoint signed by all three voters",
        async () => {
          await commitBatches(cluster.sites[1].url, 3, 5);
          const head = (await getJson<{ height: number }>(`${cluster.sites[1].url}/v1/status`))!
            .height;
          await waitFor("every site's checkpoint of the head signed by all three", async () => {
            const served = await Promise.all(
              cluster.sites.map((s) => servedCheckpoint(s.url)),
            );
            return served.every((c) => c.height >= head && c.signers.length === 3) || undefined;
          }, 15_000);
          const served = await Promise.all(cluster.sites.map((s) => servedCheckpoint(s.url)));
          assert.equal(new Set(served.map((c) => c.signers.join())).size, 1);
        },
      );
    } finally {
      await cluster.stop();
    }
  },
});
