/**
 * Disaster recovery: `deno task force-new-cluster` on the one voter left of
 * a 3-site cluster that lost the other two for good.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { anchorTx } from "./_helpers.ts";
import { loadSiteConfig } from "../src/site/config.ts";
import { filePathOf } from "../src/storage/db.ts";
import {
  adminCall,
  basePort,
  blockHashes,
  copyOfCaughtUp,
  getJson,
  runWorker,
  startCluster,
  submitCommit,
  txIdsInLog,
  waitFor,
} from "./_cluster.ts";

const device = generateKeyPair("ed25519");

interface Status {
  role: string;
  leader: string | null;
  height: number;
  voters?: string[];
  removed?: boolean;
}

/** The signature lines of the checkpoint `url` serves now. */
async function checkpointSigners(url: string): Promise<string[]> {
  const note = await (await fetch(`${url}/v1/checkpoint`)).text();
  return note.split("\n").filter((l) => l.startsWith("— ")).map((l) => l.split(" ")[1]);
}

Deno.test("force-new-cluster: the one voter left of three, stopped, becomes the only voter with its whole ledger — refused while it or another voter runs, a dry run without --yes — then takes writes, signs checkpoints alone, takes a new site as learner and voter; a lost site started again learns it was removed", async () => {
  const cluster = await startCluster(3);
  const [a, b] = cluster.sites;
  const force = (...flags: string[]) =>
    runWorker("force_new_cluster.ts", ["--config", a.configPath, ...flags]);
  try {
    await waitFor("a leader", async () => {
      const s = await getJson<Status>(`${a.url}/v1/status`);
      return s?.leader ? true : undefined;
    });
    const acked: string[] = [];
    for (const [i, site] of cluster.sites.entries()) {
      for (let k = 0; k < 5; k++) {
        const tx = await anchorTx(device);
        const r = await submitCommit(site.url, tx, 10_000);
        assert.equal(r.body?.status, "committed", `write ${k} via site ${i}`);
        acked.push(r.body.txId);
      }
    }
    await waitFor("site-a at every write", async () => {
      const ids = new Set(await txIdsInLog(a.url));
      return acked.every((id) => ids.has(id)) ? true : undefined;
    });
    const before = await blockHashes(a.url);

    // site-b and site-c are lost; site-a alone has no majority.
    await cluster.kill(1);
    await cluster.kill(2);
    const running = await force("--yes");
    assert.equal(running.code, 2, running.text);
    assert.match(running.text, /listens on .* \(is the site running\? stop it first\)/);
    await cluster.kill(0, "SIGTERM");

    // A voter that answers at its URL would carry on the old cluster: refused.
    await cluster.start(1);
    const up = await force("--yes");
    assert.equal(up.code, 2, up.text);
    assert.match(up.text, /site-b answers at its URL\. A voter that is up would carry on/);
    await cluster.kill(1);

    const dry = await force();
    assert.equal(dry.code, 2, dry.text);
    assert.match(dry.text, /voters site-a, site-b, site-c; Raft log to index \d+/);
    assert.match(
      dry.text,
      /Would remove site-b, site-c \(in term \d+\), leaving site-a the only voter/,
    );
    assert.match(dry.text, /no verifier holds a checkpoint above height \d+/);
    assert.match(dry.text, /run again with --yes\. Nothing was changed\./);

    // site-a started while the command asked the other voters (here: its port taken at
    // the moment site-b's URL is asked, which then does not answer for the ledger).
    let aPort: Deno.Listener | undefined;
    const bPort = Number(new URL(b.url).port);
    const fakeB = Deno.serve({ hostname: "127.0.0.1", port: bPort, onListen: () => {} }, () => {
      aPort ??= Deno.listen({ hostname: "127.0.0.1", port: Number(new URL(a.url).port) });
      return new Response("starting", { status: 503 });
    });
    try {
      const raced = await force("--yes");
      assert.equal(raced.code, 2, raced.text);
      assert.match(raced.text, /the site started while this command ran/);
      assert.ok(aPort !== undefined, "site-b's URL was asked");
    } finally {
      aPort?.close();
      await fakeB.shutdown();
    }

    const done = await force("--yes");
    assert.equal(done.code, 0, done.text);
    assert.match(done.text, /done: remove site-b, site-c/);
    const again = await force("--yes");
    assert.equal(again.code, 0, again.text);
    assert.match(again.text, /voters site-a;.*\n.*site-a already is the only voter: nothing to do/);

    await cluster.start(0);
    await waitFor("site-a to lead alone", async () => {
      const s = await getJson<Status>(`${a.url}/v1/status`);
      return s?.role === "leader" ? true : undefined;
    }, 15_000);
    const status = (await getJson<Status>(`${a.url}/v1/status`))!;
    assert.deepEqual(status.voters, ["site-a"]);
    const w = await submitCommit(a.url, await anchorTx(device), 10_000);
    assert.equal(w.body?.status, "committed", JSON.stringify(w.body));
    const ids = await txIdsInLog(a.url);
    for (const id of [...acked, w.body.txId]) {
      assert.equal(ids.filter((x) => x === id).length, 1, `${id} once in the ledger`);
    }
    // The chain goes on from the same blocks.
    assert.deepEqual((await blockHashes(a.url)).slice(0, before.length), before);
    await waitFor("a checkpoint signed by site-a alone", async () => {
      const signers = await checkpointSigners(a.url);
      return signers.length === 1 && signers[0] === "site-a" ? true : undefined;
    });

    // A new PoP joins as a learner, is promoted, and takes writes.
    const port = basePort();
    const dKey = await cluster.addSiteConfig("site-d", port);
    const d = await cluster.startConfig("site-d", `${cluster.dir}/site-d/site.json`);
    const added = await adminCall(cluster, "/members", {
      method: "POST",
      body: { name: "site-d", url: d.url, publicKey: dKey },
    });
    assert.equal(added.status, 200, await added.text());
    const height = (await getJson<Status>(`${a.url}/v1/status`))!.height;
    await waitFor("site-d to catch up", async () => {
      const s = await getJson<Status>(`${d.url}/v1/status`);
      return s && s.height >= height ? true : undefined;
    }, 30_000);
    const promoted = await adminCall(cluster, "/members/site-d/promote", { method: "POST" });
    assert.equal(promoted.status, 200, await promoted.text());
    const viaD = await submitCommit(d.url, await anchorTx(device), 10_000);
    assert.equal(viaD.body?.status, "committed", JSON.stringify(viaD.body));
    assert.deepEqual((await getJson<Status>(`${a.url}/v1/status`))!.voters, ["site-a", "site-d"]);
    await waitFor("checkpoints signed by site-a and site-d", async () => {
      const signers = await checkpointSigners(a.url);
      return signers.join() === "site-a,site-d" ? true : undefined;
    });

    // site-b comes back on its old data: site-a answers it 410, and it stays out.
    await cluster.start(1);
    await waitFor("site-b to learn it was removed", async () => {
      const s = await getJson<Status>(`${b.url}/v1/status`);
      return s?.removed === true ? true : undefined;
    }, 15_000);
    assert.deepEqual((await getJson<Status>(`${a.url}/v1/status`))!.voters, ["site-a", "site-d"]);
  } finally {
    await cluster.stop();
  }
});

Deno.test("force-new-cluster: every site lost — a backup of one, restored on a new machine (--removed: no site answers), made the only voter, leads with the ledger up to the copy and takes writes", async () => {
  const cluster = await startCluster(3);
  const [a] = cluster.sites;
  try {
    await waitFor("a leader", async () => {
      const s = await getJson<Status>(`${a.url}/v1/status`);
      return s?.leader ? true : undefined;
    });
    const kept: string[] = [];
    for (const site of cluster.sites) {
      const r = await submitCommit(site.url, await anchorTx(device), 10_000);
      assert.equal(r.body?.status, "committed");
      kept.push(r.body.txId);
    }
    const { copy } = await copyOfCaughtUp(cluster, 0);
    const lost = await submitCommit(a.url, await anchorTx(device), 10_000);
    assert.equal(lost.body?.status, "committed");
    for (const i of [0, 1, 2]) await cluster.kill(i);

    // site-a's machine is replaced: no database, then the copy.
    const dbPath = filePathOf((await loadSiteConfig(a.configPath)).dbUrl)!;
    for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(dbPath + suffix).catch(() => {});
    const restored = await runWorker("restore.ts", [
      "--config",
      a.configPath,
      "--from",
      copy,
      "--removed",
    ]);
    assert.equal(restored.code, 0, restored.text);
    assert.match(
      restored.text,
      /if every other site is lost for good, make site-a the only voter first: deno task force-new-cluster --config /,
    );
    const forced = await runWorker("force_new_cluster.ts", ["--config", a.configPath, "--yes"]);
    assert.equal(forced.code, 0, forced.text);
    assert.match(forced.text, /done: remove site-b, site-c/);

    await cluster.start(0);
    await waitFor("site-a to lead alone", async () => {
      const s = await getJson<Status>(`${a.url}/v1/status`);
      return s?.role === "leader" ? true : undefined;
    }, 15_000);
    const w = await submitCommit(a.url, await anchorTx(device), 10_000);
    assert.equal(w.body?.status, "committed", JSON.stringify(w.body));
    const ids = await txIdsInLog(a.url);
    for (const id of [...kept, w.body.txId]) assert.ok(ids.includes(id), `${id} in the ledger`);
    assert.ok(!ids.includes(lost.body.txId), "what came after the copy is gone");
  } finally {
    await cluster.stop();
  }
});
