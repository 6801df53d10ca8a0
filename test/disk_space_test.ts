/**
 * A site whose data volume runs low on space refuses new transactions
 * before it cannot write a block, says so in its status and metrics, keeps
 * serving reads, and takes transactions again once it has room.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { transactionId } from "../sdk/envelope.ts";
import { anchorTx, getJson, openTestSite, postJson, recordingLogger } from "./_helpers.ts";
import { startCluster, statuses, submitCommit, waitFor } from "./_cluster.ts";

const MiB = 1024 * 1024;
const device = generateKeyPair("ed25519");

Deno.test("disk space: a lone site under its free-space minimum answers new transactions 503 insufficient_storage with Retry-After (a committed one still its receipt), serves reads, says so in status and metrics, and takes them again once it has its minimum plus the margin", async () => {
  let free = 2048 * MiB;
  const rec = recordingLogger({ site: "site-a" });
  const t = await openTestSite({
    diskFreeBytesMin: 512 * MiB,
    diskCheckIntervalMs: 10,
    diskFreeBytes: () => Promise.resolve(free),
    log: rec.log,
  });
  const until = async (what: string, ok: () => Promise<boolean>) => {
    const deadline = Date.now() + 5000;
    while (!(await ok())) {
      assert.ok(Date.now() < deadline, what);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  try {
    const first = await anchorTx(device);
    assert.equal((await postJson(t.app, "/v1/txs?wait=commit", first)).status, 200);
    let status = await getJson(t.app, "/v1/status");
    assert.deepEqual(status.body.storage, {
      freeBytes: 2048 * MiB,
      freeBytesMin: 512 * MiB,
      low: false,
    });
    assert.equal(status.body.storageLow, undefined);

    free = 100 * MiB;
    await until(
      "the site sees its volume low",
      async () => (await getJson(t.app, "/v1/status")).body.storage.low === true,
    );
    const env = await anchorTx(device);
    const refused = await postJson(t.app, "/v1/txs?wait=commit", env);
    assert.equal(refused.status, 503);
    assert.equal(refused.body.type, "https://edgeledger.dev/problems/insufficient_storage");
    assert.equal(refused.body.title, "Insufficient storage");
    assert.equal(refused.headers.get("retry-after"), "30");
    assert.deepEqual(refused.body.sites, [
      { site: "site-a", freeBytes: 100 * MiB, freeBytesMin: 512 * MiB },
    ]);
    // In a batch each new transaction gets that refusal as its receipt; a committed one its
    // committed receipt, as when it is sent alone (it is no new transaction).
    const batch = await postJson(t.app, "/v1/txs", { txs: [await anchorTx(device), first] });
    assert.equal(batch.status, 200);
    assert.equal(batch.body.receipts[0].status, "refused");
    assert.equal(
      batch.body.receipts[0].problem.type,
      "https://edgeledger.dev/problems/insufficient_storage",
    );
    assert.equal(batch.body.receipts[1].status, "committed");
    const resent = await postJson(t.app, "/v1/txs?wait=commit", first);
    assert.equal(resent.status, 200);
    assert.equal(resent.body.status, "committed");
    // Reads go on: the transaction committed before, its proof, the blocks.
    assert.equal((await getJson(t.app, `/v1/txs/${transactionId(first)}`)).status, 200);
    assert.equal((await getJson(t.app, `/v1/txs/${transactionId(first)}/proof`)).status, 200);
    assert.equal((await getJson(t.app, "/v1/blocks?from=0&limit=5")).status, 200);
    assert.equal((await getJson(t.app, `/v1/txs/${transactionId(env)}`)).status, 404);
    status = await getJson(t.app, "/v1/status");
    assert.deepEqual(status.body.storageLow, [
      { site: "site-a", freeBytes: 100 * MiB, freeBytesMin: 512 * MiB },
    ]);
    const metrics = await (await t.app.request("/metrics")).text();
    assert.match(metrics, new RegExp(`^edgeledger_disk_free_bytes ${100 * MiB}$`, "m"));
    assert.match(metrics, new RegExp(`^edgeledger_disk_free_bytes_min ${512 * MiB}$`, "m"));
    assert.match(metrics, /^edgeledger_disk_low 1$/m);
    assert.match(metrics, /^edgeledger_storage_low_sites 1$/m);
    assert.match(metrics, /^edgeledger_admission_refused_total\{type="insufficient_storage"\} 2$/m);
    assert.equal(
      rec.said("disk space low: this site and its cluster refuse new transactions").length,
      1,
    );

    // At the minimum again: still refused (the margin keeps it from flapping), and it says so
    // rather than that 520 MiB is under 512 MiB.
    free = 520 * MiB;
    await new Promise((r) => setTimeout(r, 50));
    const inMargin = await postJson(t.app, "/v1/txs", await anchorTx(device));
    assert.equal(inMargin.status, 503);
    assert.match(
      inMargin.body.detail,
      /site-a has 520 MiB free on its data volume, back over its minimum of 512 MiB but not yet by the margin it needs to take writes again/,
    );
    free = 600 * MiB;
    await until(
      "the site sees its volume recovered",
      async () => (await getJson(t.app, "/v1/status")).body.storage.low === false,
    );
    const again = await postJson(t.app, "/v1/txs?wait=commit", env);
    assert.equal(again.status, 200);
    assert.equal(again.body.status, "committed");
    const after = await (await t.app.request("/metrics")).text();
    assert.match(after, /^edgeledger_disk_low 0$/m);
    assert.match(after, /^edgeledger_storage_low_sites 0$/m);
    assert.equal(rec.said("disk space recovered: new transactions are taken again").length, 1);
  } finally {
    await t.cleanup();
  }
});

Deno.test("disk space: a site started on a volume already under its minimum refuses from its first request", async () => {
  const t = await openTestSite({
    diskFreeBytesMin: 512 * MiB,
    diskFreeBytes: () => Promise.resolve(0),
    log: recordingLogger().log,
  });
  try {
    const r = await postJson(t.app, "/v1/txs", await anchorTx(device));
    assert.equal(r.status, 503);
    assert.match(r.body.type, /insufficient_storage$/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("disk space: a site under its free-space minimum is not ready (/readyz 503 naming the disk) and ready again once it has its minimum plus the margin; a probe reads no disk", async () => {
  let free = 2048 * MiB;
  const t = await openTestSite({
    diskFreeBytesMin: 512 * MiB,
    diskCheckIntervalMs: 10,
    diskFreeBytes: () => Promise.resolve(free),
    log: recordingLogger().log,
  });
  const readyz = async () => {
    const res = await t.app.request("/readyz");
    return { status: res.status, body: await res.json() };
  };
  const until = async (what: string, status: number) => {
    const deadline = Date.now() + 5000;
    while ((await readyz()).status !== status) {
      assert.ok(Date.now() < deadline, what);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  try {
    assert.equal((await readyz()).status, 200);
    free = 100 * MiB;
    await until("the site is not ready once its volume is low", 503);
    const low = await readyz();
    assert.equal(
      low.body.detail,
      "Not ready: 100 MiB free on the data volume, under its minimum of 512 MiB " +
        "(new transactions are refused)",
    );
    assert.deepEqual(low.body.checks, {
      running: true,
      member: true,
      leader: true,
      applied: true,
      disk: false,
    });
    // The margin (a tenth of the minimum, at least 16 MiB) keeps it from flapping.
    free = 520 * MiB;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await readyz()).status, 503);
    free = 600 * MiB;
    await until("the site is ready again once it has room", 200);
  } finally {
    await t.cleanup();
  }

  // A probe answers from the guard's last reading (every diskCheckIntervalMs), never reads the disk.
  let reads = 0;
  const quiet = await openTestSite({
    diskFreeBytesMin: 512 * MiB,
    diskCheckIntervalMs: 60_000,
    diskFreeBytes: () => {
      reads++;
      return Promise.resolve(100 * MiB);
    },
    log: recordingLogger().log,
  });
  try {
    const before = reads;
    for (let i = 0; i < 20; i++) assert.equal((await quiet.app.request("/readyz")).status, 503);
    assert.equal(reads, before);
  } finally {
    await quiet.cleanup();
  }
});

Deno.test("disk space: without a minimum (0, the in-process default) a site never looks at its volume", async () => {
  let reads = 0;
  const t = await openTestSite({
    diskFreeBytes: () => {
      reads++;
      return Promise.resolve(0);
    },
  });
  try {
    assert.equal(
      (await postJson(t.app, "/v1/txs?wait=commit", await anchorTx(device))).status,
      200,
    );
    assert.equal(reads, 0);
    assert.equal((await getJson(t.app, "/v1/status")).body.storage, undefined);
    assert.doesNotMatch(await (await t.app.request("/metrics")).text(), /edgeledger_disk_low/);
  } finally {
    await t.cleanup();
  }
});

Deno.test({
  name:
    "disk space: in a cluster of real processes, one site under its minimum makes every site refuse new transactions naming it, and say so in its status and metrics (a follower as its leader passes it on); once it is gone they are taken again, and after its restart with room, at every site",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // site-c's real volume is always under a minimum this large.
    const cluster = await startCluster(3, {}, [{}, {}, {
      diskFreeBytesMin: Number.MAX_SAFE_INTEGER,
      diskCheckIntervalMs: 200,
    }]);
    try {
      // The leader hears of site-c's volume on its first frames (a write
      // before that may still commit: refusals start within a heartbeat).
      await waitFor(
        "the leader to hear that site-c is low",
        async () =>
          (await statuses(cluster)).some((s) =>
            s?.role === "leader" && s.storageLow?.some((x) => x.site === "site-c")
          ),
      );
      const heightBefore = (await statuses(cluster)).find((s) => s?.role === "leader")!.height;
      for (const s of cluster.sites) {
        const r = await waitFor(`${s.name} refusing for site-c`, async () => {
          const r = await submitCommit(s.url, await anchorTx(device));
          return r.status === 503 && String(r.body?.type).endsWith("/insufficient_storage")
            ? r
            : undefined;
        });
        assert.deepEqual(r.body.sites.map((x: { site: string }) => x.site), ["site-c"], s.name);
        assert.match(
          r.body.detail,
          /^New transactions are paused: site-c has .* free on its data volume/,
        );
      }
      const leader = (await statuses(cluster)).find((s) => s?.role === "leader")!;
      assert.deepEqual(leader.storageLow?.map((x) => x.site), ["site-c"]);
      assert.equal(leader.height, heightBefore, "nothing was ordered meanwhile");
      // Every site says so, a follower too: its status, its gauge. With nothing ordered, no
      // checkpoint lines flow between followers, so after two election timeouts (1 s) a follower
      // hears site-c only through its leader, which passes on who is low.
      await new Promise((r) => setTimeout(r, 2_500));
      for (const s of cluster.sites) {
        await waitFor(`${s.name} to say site-c is low`, async () => {
          const st = await (await fetch(`${s.url}/v1/status`)).json();
          const metrics = await (await fetch(`${s.url}/metrics`)).text();
          return st.storageLow?.map((x: { site: string }) => x.site).join() === "site-c" &&
            /^edgeledger_storage_low_sites 1$/m.test(metrics);
        });
      }

      // site-c stops (a site that halted on a full disk goes silent too): the others go on.
      await cluster.kill(2, "SIGTERM");
      const whileDown = await waitFor("a write at site-a while site-c is down", async () => {
        const r = await submitCommit(cluster.sites[0].url, await anchorTx(device));
        return r.status === 200 ? r : undefined;
      });
      assert.equal(whileDown.body.status, "committed");

      // Room again: site-c restarts without the minimum and catches up; every site takes writes.
      const config = JSON.parse(await Deno.readTextFile(cluster.sites[2].configPath));
      await Deno.writeTextFile(
        cluster.sites[2].configPath,
        JSON.stringify({ ...config, diskFreeBytesMin: 0 }, null, 2),
      );
      await cluster.start(2);
      for (const s of cluster.sites) {
        const r = await waitFor(`a write at ${s.name}`, async () => {
          const r = await submitCommit(s.url, await anchorTx(device));
          return r.status === 200 ? r : undefined;
        });
        assert.equal(r.body.status, "committed", s.name);
      }
      for (const st of await statuses(cluster)) assert.equal(st?.storageLow, undefined);
    } finally {
      await cluster.stop();
    }
  },
});
