/**
 * Backups and restores: `deno task backup` and `GET /v1/admin/backup` on
 * sites that keep committing, `deno task restore` into a lone site and into
 * a site of a 3-site cluster, and what the commands refuse.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { LedgerError } from "../src/api/service.ts";
import { backupToFile, restoreDatabase, SiteBackups, verifyCopyFile } from "../src/site/backup.ts";
import { initLocalLedger, loadSiteConfig } from "../src/site/config.ts";
import {
  BackupError,
  databaseHeld,
  exists,
  lockRestores,
  openCopy,
  partialIdleMsMin,
} from "../src/storage/backup.ts";
import { ChainStore } from "../src/storage/chain_store.ts";
import { anchorTx, openTestSite, writeBlockZero } from "./_helpers.ts";
import {
  addBackRestored,
  adminCall,
  basePort,
  blockHashes,
  closedPort,
  commitBatches,
  copyOfCaughtUp,
  getJson,
  runWorker,
  snapshottingCluster,
  startCluster,
  statuses,
  submitCommit,
  waitFor,
} from "./_cluster.ts";

const device = generateKeyPair("ed25519");
/**
 * Writes the config of a one-site ledger in `dataDir` and returns its path;
 * the site never listens (commands run on its files), so its port is moot.
 */
async function oneSiteLedger(dataDir: string): Promise<string> {
  const [config] = await initLocalLedger({ dataDir, sites: 1, basePort: 1, host: "127.0.0.1" });
  return config;
}

/** Every block hash a copy holds, ascending from height 0. */
async function copyHashes(path: string): Promise<string[]> {
  const store = new ChainStore(await openCopy(path));
  try {
    return (await store.blockRange(0, 1_000_000)).map((b) => b.hash);
  } finally {
    store.close();
  }
}

async function namesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out;
}

async function height(url: string): Promise<number> {
  return (await getJson<{ height: number }>(`${url}/v1/status`))!.height;
}

const backupLine =
  /^backup .+: height (\d+), head ([0-9a-f]{64}), applied index (\d+), (\d+) bytes/m;

Deno.test({
  name:
    "backup: a copy taken while a site commits continuously is a consistent prefix: it verifies, each of its blocks is the live site's block at that height, and no partial file is left",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(1);
    try {
      const site = cluster.sites[0];
      const { genesis } = await loadSiteConfig(site.configPath);
      let stop = false;
      let committed = 0;
      const writers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const txs = await Promise.all(Array.from({ length: 10 }, () => anchorTx(device)));
          const r = await submitCommit(site.url, { txs }, 10_000);
          if (r.status === 200) committed += txs.length;
        }
      });
      await waitFor("blocks before the backup", async () => (await height(site.url)) >= 5);
      const copies: Array<{ path: string; height: number; head: string }> = [];
      for (let i = 0; i < 3; i++) {
        const path = `${cluster.dir}/copy-${i}.db`;
        const before = committed;
        const r = await runWorker("backup.ts", ["--config", site.configPath, "--out", path]);
        assert.equal(r.code, 0, r.text);
        const m = backupLine.exec(r.text);
        assert.ok(m, r.text);
        assert.match(r.text, /^ok: \d+ blocks and \d+ transactions verify/m);
        copies.push({ path, height: Number(m[1]), head: m[2] });
        await waitFor("commits after the backup", () => Promise.resolve(committed > before));
      }
      stop = true;
      await Promise.all(writers);
      const live = await blockHashes(site.url);
      for (const c of copies) {
        assert.ok(c.height < live.length - 1, "the site went on committing after the copy");
        const { info, report } = await verifyCopyFile(c.path, genesis);
        assert.equal(report.ok, true, report.firstMismatch);
        assert.equal(info.height, c.height);
        assert.equal(info.head, c.head);
        const hashes = await copyHashes(c.path);
        assert.equal(hashes.length, c.height + 1, "blocks 0..height, none missing");
        assert.deepEqual(hashes, live.slice(0, c.height + 1));
      }
      assert.ok(copies[2].height > copies[0].height, "later copies hold more blocks");
      assert.deepEqual(
        (await namesIn(cluster.dir)).filter((n) => n.includes(".partial-")),
        [],
      );
      console.log(
        `  copies at heights ${
          copies.map((c) => c.height).join(", ")
        } while ${committed} txs committed`,
      );
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test({
  name:
    "backup route: GET /v1/admin/backup requires the admin key, streams a database that opens and passes integrity, and refuses a second concurrent backup with 409",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(1);
    try {
      const site = cluster.sites[0];
      const { genesis } = await loadSiteConfig(site.configPath);
      await commitBatches(site.url, 5);
      const url = `${site.url}/v1/admin/backup`;
      const auth = { authorization: `Bearer ${cluster.adminKey}` };
      const anon = await fetch(url);
      assert.equal(anon.status, 401);
      await anon.body?.cancel();
      const wrong = await fetch(url, { headers: { authorization: `Bearer ${"x".repeat(32)}` } });
      assert.equal(wrong.status, 401);
      await wrong.body?.cancel();

      // Two at once: one copy is made, the other is refused while it runs.
      let pair: Response[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
        pair = await Promise.all([fetch(url, { headers: auth }), fetch(url, { headers: auth })]);
        if (pair.some((r) => r.status === 409)) break;
        for (const r of pair) await r.body?.cancel();
      }
      const ok = pair.find((r) => r.status === 200)!;
      const refused = pair.find((r) => r.status === 409);
      assert.ok(ok && refused, `statuses ${pair.map((r) => r.status)}`);
      assert.equal(refused.headers.get("content-type"), "application/problem+json");
      const problem = await refused.json();
      assert.match(problem.type, /\/conflict$/);
      assert.match(problem.detail, /already running/);

      assert.equal(ok.headers.get("content-type"), "application/vnd.sqlite3");
      assert.match(
        ok.headers.get("content-disposition")!,
        /^attachment; filename="demo-site-a-\d+\.db"$/,
      );
      const h = Number(ok.headers.get("x-edgeledger-backup-height"));
      const head = ok.headers.get("x-edgeledger-backup-head");
      const path = `${cluster.dir}/download.db`;
      await Deno.writeFile(path, ok.body!);
      assert.equal((await Deno.stat(path)).size, Number(ok.headers.get("content-length")));
      const { info, report } = await verifyCopyFile(path, genesis);
      assert.equal(report.ok, true, report.firstMismatch);
      assert.equal(info.height, h);
      assert.equal(info.head, head);
      assert.equal((await blockHashes(site.url))[h], head);

      // The slot is free again once a download ends, or is cancelled.
      const cancelled = await fetch(url, { headers: auth });
      assert.equal(cancelled.status, 200);
      await cancelled.body!.cancel();
      await waitFor("the slot after a cancelled download", async () => {
        const r = await fetch(url, { headers: auth });
        await r.body?.cancel();
        return r.status === 200 ? true : undefined;
      }, 10_000);
      await waitFor("no copy left beside the database", async () => {
        const left = (await namesIn(`${cluster.dir}/site-a`)).filter((n) => n.includes(".backup-"));
        return left.length === 0 ? true : undefined;
      }, 5000);
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test("site backups: one at a time — the slot is held from the copy until its stream ends or is cancelled, and the copy is off the disk once open", async () => {
  const t = await openTestSite();
  try {
    await t.site.submit(await Promise.all(Array.from({ length: 5 }, () => anchorTx(device))), {
      wait: true,
      waitTimeoutMs: 10_000,
    });
    const backups = new SiteBackups(t.options.dbUrl, "site-a", "demo");
    const isConflict = (e: unknown) => e instanceof LedgerError && e.status === 409;
    // Asked twice at once: the second is refused while the first copies.
    const [a, b] = await Promise.allSettled([backups.take(), backups.take()]);
    assert.equal(a.status, "fulfilled");
    assert.ok(b.status === "rejected" && isConflict(b.reason));
    const first = (a as PromiseFulfilledResult<Awaited<ReturnType<SiteBackups["take"]>>>).value;
    assert.equal(first.info.height, 1);
    assert.equal(first.filename, "demo-site-a-1.db");
    // Streaming: still one at a time, and nothing is left beside the database.
    await assert.rejects(backups.take(), isConflict);
    assert.deepEqual((await namesIn(t.dir)).filter((n) => n.includes(".backup-")), []);
    const bytes = new Uint8Array(await new Response(first.body).arrayBuffer());
    assert.equal(bytes.length, first.info.bytes);
    assert.equal(backups.running, false);
    await Deno.writeFile(`${t.dir}/copy.db`, bytes);
    const { report } = await verifyCopyFile(`${t.dir}/copy.db`, t.options.genesis);
    assert.equal(report.ok, true, report.firstMismatch);
    const second = await backups.take();
    await second.body.cancel();
    assert.equal(backups.running, false);
    // A remote database is the server's to back up.
    await assert.rejects(
      new SiteBackups("http://127.0.0.1:9", "site-a", "demo").take(),
      (e) => isConflict(e) && /server's job/.test((e as Error).message),
    );
  } finally {
    await t.cleanup();
  }
});

/** Commits five transactions on `t`'s site (block 1) and backs it up to `<dir>/copy.db`. */
async function commitAndCopy(t: Awaited<ReturnType<typeof openTestSite>>): Promise<string> {
  await t.site.submit(await Promise.all(Array.from({ length: 5 }, () => anchorTx(device))), {
    wait: true,
    waitTimeoutMs: 10_000,
  });
  const copy = `${t.dir}/copy.db`;
  await backupToFile(t.options.dbUrl, copy);
  return copy;
}

Deno.test("restore: a database that cannot be read is replaced by the copy and kept, with its side files, under the replaced name", async () => {
  const t = await openTestSite();
  try {
    const copy = await commitAndCopy(t);
    await Deno.mkdir(`${t.dir}/lost`);
    const target = `${t.dir}/lost/ledger.db`;
    await Deno.writeTextFile(target, "x".repeat(8192));
    await Deno.writeTextFile(`${target}-wal`, "y".repeat(4096));
    const result = await restoreDatabase({
      dbUrl: `file:${target}`,
      genesis: t.options.genesis,
      from: copy,
      now: () => new Date("2025-06-01T12:00:00Z"),
    });
    assert.equal(result.report.ok, true, result.report.firstMismatch);
    assert.equal(result.info.height, 1);
    assert.equal(result.replaced, `${target}.replaced-20250601T120000Z`);
    assert.equal(await Deno.readTextFile(result.replaced!), "x".repeat(8192));
    assert.equal(await Deno.readTextFile(`${result.replaced}-wal`), "y".repeat(4096));
    assert.deepEqual((await namesIn(`${t.dir}/lost`)).sort(), [
      "ledger.db",
      "ledger.db.replaced-20250601T120000Z",
      "ledger.db.replaced-20250601T120000Z-wal",
    ]);
    const { report } = await verifyCopyFile(target, t.options.genesis);
    assert.equal(report.ok, true, report.firstMismatch);
  } finally {
    await t.cleanup();
  }
});

Deno.test("restore: the database it would replace is read first — another ledger's is refused (would_lose), changing nothing, unless forced; one the copy extends is replaced, and what it held is said", async () => {
  const t = await openTestSite();
  const other = await openTestSite(); // another key, so another genesis: another ledger
  try {
    const older = `${t.dir}/older.db`;
    await backupToFile(t.options.dbUrl, older); // block 0 only
    const copy = await commitAndCopy(t);
    await other.site.close();
    const target = `${other.dir}/ledger.db`;
    // Its closed connections collected (what restore asks first), so the files listed are settled.
    assert.equal(await databaseHeld(target), false);
    const before = (await namesIn(other.dir)).sort();
    await assert.rejects(
      restoreDatabase({ dbUrl: `file:${target}`, genesis: t.options.genesis, from: copy }),
      (e: unknown) => {
        assert.equal((e as { reason?: string }).reason, "would_lose");
        assert.match(
          (e as Error).message,
          /^Cannot restore into .*: it holds another ledger than demo \(genesis [0-9a-f]{12}…, height 0; is --config the site's\?\)\. Nothing was replaced; --force/,
        );
        return true;
      },
    );
    assert.deepEqual((await namesIn(other.dir)).sort(), before);
    const forced = await restoreDatabase({
      dbUrl: `file:${target}`,
      genesis: t.options.genesis,
      from: copy,
      force: true,
    });
    assert.equal(forced.report.ok, true, forced.report.firstMismatch);
    assert.match(forced.replacedLoss ?? "", /another ledger/);
    assert.equal(forced.replacedHead?.height, 0);

    // A database the copy extends (its head is the copy's block at that height): no force needed.
    await Deno.mkdir(`${t.dir}/behind`);
    const behind = `${t.dir}/behind/ledger.db`;
    await Deno.copyFile(older, behind);
    const extended = await restoreDatabase({
      dbUrl: `file:${behind}`,
      genesis: t.options.genesis,
      from: copy,
    });
    assert.equal(extended.report.ok, true, extended.report.firstMismatch);
    assert.equal(extended.replacedHead?.height, 0);
    assert.equal(extended.replacedLoss, undefined);
    assert.equal(extended.info.height, 1);
  } finally {
    await other.cleanup();
    await t.cleanup();
  }
});

Deno.test("restore: a copy of another ledger is refused as such (other_ledger), before the database it would replace is judged — not as the blocks that database would lose (would_lose), which --force seems to get past", async () => {
  const t = await openTestSite();
  const other = await openTestSite(); // another key, so another genesis: another ledger
  try {
    const otherCopy = `${other.dir}/copy.db`;
    await backupToFile(other.options.dbUrl, otherCopy); // block 0 only
    await commitAndCopy(t); // the site's own database is ahead: height 1
    await t.site.close();
    const target = `${t.dir}/ledger.db`;
    assert.equal(await databaseHeld(target), false);
    const before = (await namesIn(t.dir)).sort();
    const hashes = await copyHashes(target);
    for (const force of [false, true]) {
      await assert.rejects(
        restoreDatabase({
          dbUrl: `file:${target}`,
          genesis: t.options.genesis,
          from: otherCopy,
          force,
        }),
        (e: unknown) => {
          assert.equal((e as { reason?: string }).reason, "other_ledger", (e as Error).message);
          assert.match(
            (e as Error).message,
            /^The copy holds another ledger \(genesis [0-9a-f]{12}…\); this site's genesis file describes ledger demo/,
          );
          return true;
        },
      );
    }
    assert.deepEqual((await namesIn(t.dir)).sort(), before);
    assert.deepEqual(await copyHashes(target), hashes);
  } finally {
    await other.cleanup();
    await t.cleanup();
  }
});

Deno.test("restore: side files of a lost database (its -wal, -journal) are moved away even when the database file itself is gone, so SQLite never applies them to the copy", async () => {
  const t = await openTestSite();
  try {
    const copy = await commitAndCopy(t);
    // The database file is lost; its WAL (live frames of a real site
    // database, which SQLite would replay onto whatever file takes the
    // name) and a journal are left beside where it was.
    await t.site.submit(await Promise.all(Array.from({ length: 5 }, () => anchorTx(device))), {
      wait: true,
      waitTimeoutMs: 10_000,
    });
    await Deno.mkdir(`${t.dir}/lost`);
    const target = `${t.dir}/lost/ledger.db`;
    const wal = await Deno.readFile(`${t.dir}/ledger.db-wal`);
    assert.ok(wal.length > 32, "the live site's WAL holds frames");
    await Deno.writeFile(`${target}-wal`, wal);
    await Deno.writeTextFile(`${target}-journal`, "j".repeat(512));
    const result = await restoreDatabase({
      dbUrl: `file:${target}`,
      genesis: t.options.genesis,
      from: copy,
      now: () => new Date("2025-06-01T12:00:00Z"),
    });
    assert.equal(result.report.ok, true, result.report.firstMismatch);
    assert.equal(result.replaced, `${target}.replaced-20250601T120000Z`);
    assert.deepEqual((await namesIn(`${t.dir}/lost`)).sort(), [
      "ledger.db",
      "ledger.db.replaced-20250601T120000Z-journal",
      "ledger.db.replaced-20250601T120000Z-wal",
    ]);
    assert.deepEqual(await Deno.readFile(`${result.replaced}-wal`), wal);
    const { info, report } = await verifyCopyFile(target, t.options.genesis);
    assert.equal(report.ok, true, report.firstMismatch);
    assert.equal(info.height, 1);
  } finally {
    await t.cleanup();
  }
});

Deno.test("restore: an empty database file's -wal is kept under the replaced name, not deleted by SQLite", async () => {
  const t = await openTestSite();
  try {
    const copy = await commitAndCopy(t);
    await Deno.mkdir(`${t.dir}/lost`);
    const target = `${t.dir}/lost/ledger.db`;
    // A crash can leave a database file empty while its pages sit in the
    // WAL; SQLite deletes the -wal of an empty file it opens.
    await Deno.writeFile(target, new Uint8Array(0));
    await Deno.writeTextFile(`${target}-wal`, "w".repeat(4096));
    const result = await restoreDatabase({
      dbUrl: `file:${target}`,
      genesis: t.options.genesis,
      from: copy,
      now: () => new Date("2025-06-01T12:00:00Z"),
    });
    assert.equal(result.report.ok, true, result.report.firstMismatch);
    assert.equal(result.replaced, `${target}.replaced-20250601T120000Z`);
    assert.equal((await Deno.stat(result.replaced!)).size, 0);
    assert.equal(await Deno.readTextFile(`${result.replaced}-wal`), "w".repeat(4096));
  } finally {
    await t.cleanup();
  }
});

Deno.test({
  name:
    "restore: a lone site restored from a copy resumes the chain from the copy's height, and the database it replaced is kept; a database ahead of the copy is replaced only with --force",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(1);
    try {
      const site = cluster.sites[0];
      await commitBatches(site.url, 3);
      const copy = `${cluster.dir}/copy.db`;
      const b = await runWorker("backup.ts", ["--config", site.configPath, "--out", copy]);
      assert.equal(b.code, 0, b.text);
      const copyHeight = Number(backupLine.exec(b.text)![1]);
      const before = await blockHashes(site.url);
      assert.equal(before.length - 1, copyHeight);
      await commitBatches(site.url, 2);
      const lostHeight = await height(site.url);
      assert.ok(lostHeight > copyHeight);

      const running = await runWorker("restore.ts", ["--config", site.configPath, "--from", copy]);
      assert.equal(running.code, 2, running.text);
      assert.match(running.text, /is the site running\?/);

      await cluster.kill(0, "SIGTERM");
      // The database it would replace is read first: it holds blocks the copy lacks.
      const ahead = await runWorker("restore.ts", ["--config", site.configPath, "--from", copy]);
      assert.equal(ahead.code, 2, ahead.text);
      assert.match(
        ahead.text,
        new RegExp(
          `it holds blocks up to ${lostHeight} and the copy only up to ${copyHeight}: ` +
            `blocks ${copyHeight + 1}–${lostHeight} would be lost\\. Nothing was replaced; --force`,
        ),
      );
      assert.deepEqual(
        (await namesIn(`${cluster.dir}/site-a`)).filter((n) => n.includes(".replaced-")),
        [],
      );
      const r = await runWorker("restore.ts", [
        "--config",
        site.configPath,
        "--from",
        copy,
        "--force",
      ]);
      assert.equal(r.code, 0, r.text);
      assert.match(r.text, new RegExp(`height ${copyHeight}, head ${before[copyHeight]}`));
      assert.match(
        r.text,
        new RegExp(
          `replaced the database all the same \\(--force\\): it holds blocks up to ${lostHeight}`,
        ),
      );
      const replaced = (await namesIn(`${cluster.dir}/site-a`)).filter((n) =>
        /^ledger\.db\.replaced-\d{8}T\d{6}Z$/.test(n)
      );
      assert.equal(replaced.length, 1, r.text);
      assert.equal(
        (await copyHashes(`${cluster.dir}/site-a/${replaced[0]}`)).length - 1,
        lostHeight,
        "the replaced database is kept whole",
      );

      await cluster.start(0);
      assert.equal(await height(site.url), copyHeight);
      const res = await submitCommit(site.url, await anchorTx(device), 10_000);
      assert.equal(res.body?.status, "committed", JSON.stringify(res.body));
      assert.equal(res.body.height, copyHeight + 1);
      const after = await blockHashes(site.url);
      assert.deepEqual(after.slice(0, copyHeight + 1), before);
      const next = await getJson<{ header: { prev: string } }>(
        `${site.url}/v1/blocks/${copyHeight + 1}`,
      );
      assert.equal(next?.header.prev, before[copyHeight]);
      const integrity = await getJson<{ ok: boolean }>(`${site.url}/v1/integrity`);
      assert.equal(integrity?.ok, true);
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test({
  name:
    "restore: a site of a 3-site cluster restored from an older copy (removed, restored, added back as a learner) catches up from the others, holds identical block hashes and votes again",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Compacting after 10 entries: by the time site-c is back the leader's
    // log no longer holds what the copy lacks, so it catches up by snapshot.
    const cluster = await snapshottingCluster();
    try {
      const c = cluster.sites[2];
      const { genesis } = await loadSiteConfig(c.configPath);
      const publicKey = genesis.sites.find((s) => s.name === "site-c")!.publicKey;
      await commitBatches(cluster.sites[0].url, 5);
      const { copy, output } = await copyOfCaughtUp(cluster, 2);
      const copyHeight = Number(backupLine.exec(output)![1]);
      await commitBatches(cluster.sites[0].url, 15);
      // While it runs, that is what is said first (not its membership).
      const running = await runWorker("restore.ts", ["--config", c.configPath, "--from", copy]);
      assert.equal(running.code, 2, running.text);
      assert.match(running.text, /something listens on 127\.0\.0\.1:\d+ \(is the site running\?/);
      assert.doesNotMatch(running.text, /still list/);

      // site-c's disk is lost: it stops, and leaves the cluster.
      await cluster.kill(2, "SIGKILL");
      // Still a member: restoring now would let a voter's log go back in time.
      const early = await runWorker("restore.ts", ["--config", c.configPath, "--from", copy]);
      assert.equal(early.code, 2, early.text);
      assert.match(early.text, /still list it as a member/);
      assert.match(early.text, /DELETE \/v1\/admin\/members\/site-c/);
      const removed = await adminCall(cluster, "/members/site-c", { method: "DELETE" });
      assert.equal(removed.status, 200, await removed.text());
      await commitBatches(cluster.sites[1].url, 5);
      // Its database is ahead of the copy: replaced only when asked, the
      // others holding the blocks the copy lacks.
      const ahead = await runWorker("restore.ts", ["--config", c.configPath, "--from", copy]);
      assert.equal(ahead.code, 2, ahead.text);
      assert.match(ahead.text, /would be lost\. Nothing was replaced; --force/);
      assert.match(ahead.text, /catches up on them once added back/);
      const r = await runWorker("restore.ts", [
        "--config",
        c.configPath,
        "--from",
        copy,
        "--force",
      ]);
      assert.equal(r.code, 0, r.text);
      assert.match(
        r.text,
        /add it as a learner \(POST \/v1\/admin\/members with its name, URL and key: back, if it was one\)/,
      );
      await cluster.start(2);
      const target = await addBackRestored(cluster, 2, publicKey, await anchorTx(device));
      assert.ok(target > copyHeight + 15, `${target} vs the copy's ${copyHeight}`);
      await waitFor("every site at one height", async () => {
        const hs = (await statuses(cluster)).map((s) => s?.height);
        return hs.every((h) => h !== undefined && h === hs[0]) ? true : undefined;
      });
      const st = await getJson<{ voters: string[] }>(`${c.url}/v1/status`);
      assert.deepEqual(st?.voters, ["site-a", "site-b", "site-c"]);
      const [ha, hb, hc] = await Promise.all(cluster.sites.map((s) => blockHashes(s.url)));
      assert.deepEqual(hc, ha);
      assert.deepEqual(hb, ha);
      const integrity = await getJson<{ ok: boolean; firstMismatch?: string }>(
        `${c.url}/v1/integrity`,
        10_000,
      );
      assert.equal(integrity?.ok, true, integrity?.firstMismatch);
      console.log(`  site-c restored at height ${copyHeight}, caught up to ${target}`);
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test({
  name:
    "restore --replay: a new site starts from another site's copy — one with an edited state row is refused, replacing nothing; the sound one joins as a learner, executes only the blocks after the copy, and holds identical block hashes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await snapshottingCluster();
    try {
      await commitBatches(cluster.sites[0].url, 10);
      // The copy comes from site-b, over HTTP, as an operator would fetch it.
      const res = await fetch(`${cluster.sites[1].url}/v1/admin/backup`, {
        headers: { authorization: `Bearer ${cluster.adminKey}` },
      });
      assert.equal(res.status, 200);
      const copyHeight = Number(res.headers.get("x-edgeledger-backup-height"));
      const copy = `${cluster.dir}/site-b-copy.db`;
      await Deno.writeFile(copy, res.body!);
      const forged = `${cluster.dir}/site-b-forged.db`;
      await Deno.copyFile(copy, forged);
      const store = new ChainStore(await openCopy(forged));
      try {
        const { rows } = await store.database.client.execute(
          "SELECT ns, key FROM state WHERE ns = 'data.stream' ORDER BY key LIMIT 1",
        );
        await store.database.client.execute({
          sql: "UPDATE state SET value = json_set(value, '$.lastSeq', 7) WHERE ns = ? AND key = ?",
          args: [rows[0].ns, rows[0].key],
        });
      } finally {
        store.close();
      }
      await commitBatches(cluster.sites[0].url, 5);

      const publicKey = await cluster.addSiteConfig("site-d", basePort());
      const dConfig = `${cluster.dir}/site-d/site.json`;
      const refused = await runWorker("restore.ts", [
        "--config",
        dConfig,
        "--from",
        forged,
        "--replay",
        "--scratch",
        cluster.dir,
      ]);
      assert.equal(refused.code, 1, refused.text);
      assert.match(refused.text, /^ok: \d+ blocks and \d+ transactions verify/m);
      assert.match(
        refused.text,
        /^MISMATCH: state data\.stream "[^"]+": the database holds \{.*"lastSeq":7.*\}, re-executing the chain gives \{.*"lastSeq":0.*\}$/m,
      );
      assert.match(
        refused.text,
        /re-executing its chain does not give its state; nothing was replaced/,
      );
      assert.equal(await exists(`${cluster.dir}/site-d/ledger.db`), false);

      const r = await runWorker("restore.ts", ["--config", dConfig, "--from", copy, "--replay"]);
      assert.equal(r.code, 0, r.text);
      assert.match(
        r.text,
        /^ok: re-executing \d+ blocks and 200 transactions gives the same blocks/m,
      );
      assert.match(r.text, /add it as a learner/);
      const d = await cluster.startConfig("site-d", dConfig);
      const added = await adminCall(cluster, "/members", {
        method: "POST",
        body: { name: "site-d", url: d.url, publicKey },
      });
      assert.equal(added.status, 200, await added.text());
      const target = await height(cluster.sites[0].url);
      await waitFor("the new site to catch up", async () => {
        const h = await getJson<{ height: number }>(`${d.url}/v1/status`);
        return h && h.height >= target ? true : undefined;
      }, 30_000);
      const promoted = await adminCall(cluster, "/members/site-d/promote", { method: "POST" });
      assert.equal(promoted.status, 200, await promoted.text());
      const w = await submitCommit(d.url, await anchorTx(device), 10_000);
      assert.equal(w.body?.status, "committed", JSON.stringify(w.body));
      const all = [...cluster.sites.slice(0, 3), d];
      await waitFor("every site at one height", async () => {
        const hs = await Promise.all(all.map((s) => height(s.url).catch(() => -1)));
        return hs.every((h) => h === hs[0]) ? true : undefined;
      });
      const [ha, hd] = await Promise.all([blockHashes(cluster.sites[0].url), blockHashes(d.url)]);
      assert.deepEqual(hd, ha);
      // It executed the blocks after the copy, not the ones the copy held.
      const metrics = await (await fetch(`${d.url}/metrics`)).text();
      const executed = Number(/^edgeledger_blocks_total (\d+)$/m.exec(metrics)?.[1]);
      assert.equal(executed, ha.length - 1 - copyHeight);
      console.log(
        `  site-d started from site-b's copy at height ${copyHeight}, executed ${executed} blocks`,
      );
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test("restore: a cluster site is not restored while no other site can say it left the cluster, unless --removed says so; a copy of another ledger is refused as such first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-restore-" });
  try {
    // Three sites' configs, none of them running: nobody answers GET /v1/sites.
    const [, , configC] = await initLocalLedger({
      dataDir: dir,
      sites: 3,
      // Below the ephemeral range, where no connection of this or another test takes a port.
      basePort: closedPort(),
      host: "127.0.0.1",
    });
    const copy = `${dir}/copy.db`;
    await Deno.writeTextFile(copy, "not checked before the membership question");
    const r = await runWorker("restore.ts", ["--config", configC, "--from", copy]);
    assert.equal(r.code, 2, r.text);
    assert.match(r.text, /no other site answered/);
    assert.match(r.text, /--removed/);
    // With --removed the command goes on to judge the copy itself (this one is no database).
    const forced = await runWorker("restore.ts", [
      "--config",
      configC,
      "--from",
      copy,
      "--removed",
    ]);
    assert.equal(forced.code, 1, forced.text);
    assert.doesNotMatch(forced.text, /no other site answered/);
    // A copy of another ledger is a wrong file, said before the membership question.
    const other = await openTestSite();
    try {
      await backupToFile(other.options.dbUrl, `${dir}/other.db`);
    } finally {
      await other.cleanup();
    }
    const wrong = await runWorker("restore.ts", ["--config", configC, "--from", `${dir}/other.db`]);
    assert.equal(wrong.code, 1, wrong.text);
    assert.match(wrong.text, /^The copy holds another ledger .*\. Nothing was replaced\.$/m);
    assert.doesNotMatch(wrong.text, /no other site answered/);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("backup and restore commands refuse an existing output file, a database on a libSQL server, and on restore a copy of another ledger or a file that is no database, changing nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-cli-" });
  try {
    const config = await oneSiteLedger(`${dir}/one`);
    const otherConfig = await oneSiteLedger(`${dir}/other`);
    // The other ledger's site has written its block 0; this one's disk is
    // lost: it has no database.
    await writeBlockZero(otherConfig);
    const db = `${dir}/one/site-a/ledger.db`;
    const untouched = async () =>
      assert.deepEqual(
        (await namesIn(`${dir}/one/site-a`)).filter((n) => n.includes(".db")),
        [],
        "no database is created, restored or replaced",
      );

    // An existing output file is never replaced.
    await Deno.writeTextFile(`${dir}/taken.db`, "keep me");
    const exists = await runWorker("backup.ts", [
      "--config",
      otherConfig,
      "--out",
      `${dir}/taken.db`,
    ]);
    assert.equal(exists.code, 2, exists.text);
    assert.match(exists.text, /the file exists/);
    assert.equal(await Deno.readTextFile(`${dir}/taken.db`), "keep me");

    // A database on a libSQL server: its backups are the server's job.
    const remote = { EDGELEDGER_DB_URL: "http://127.0.0.1:9" };
    const rb = await runWorker("backup.ts", ["--config", config, "--out", `${dir}/r.db`], remote);
    assert.equal(rb.code, 2, rb.text);
    assert.match(rb.text, /libSQL server.*the server's job/);
    assert.equal(await Deno.stat(`${dir}/r.db`).then(() => true, () => false), false);
    const rr = await runWorker(
      "restore.ts",
      ["--config", config, "--from", `${dir}/taken.db`],
      remote,
    );
    assert.equal(rr.code, 2, rr.text);
    assert.match(rr.text, /libSQL server.*the server's job/);

    // A copy of another ledger is refused before anything is replaced.
    const otherCopy = `${dir}/other-copy.db`;
    const ob = await runWorker("backup.ts", ["--config", otherConfig, "--out", otherCopy]);
    assert.equal(ob.code, 0, ob.text);
    const wrong = await runWorker("restore.ts", ["--config", config, "--from", otherCopy]);
    assert.equal(wrong.code, 1, wrong.text);
    assert.match(wrong.text, /holds another ledger/);
    await untouched();
    // Nor is a file that is no database at all.
    const junk = await runWorker("restore.ts", ["--config", config, "--from", `${dir}/taken.db`]);
    assert.equal(junk.code, 1, junk.text);
    await untouched();
    assert.equal(await Deno.stat(db).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("backup command: an --out whose folder does not exist is refused (exit 2) naming that folder, before anything is copied, and the folder is not created", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-cli-" });
  try {
    const config = await oneSiteLedger(`${dir}/one`);
    await writeBlockZero(config);
    const out = `${dir}/backups/x.db`;
    const r = await runWorker("backup.ts", ["--config", config, "--out", out]);
    assert.equal(r.code, 2, r.text);
    assert.equal(
      r.text.trim(),
      `Cannot back up to ${out}: the folder ${dir}/backups does not exist (create it first)`,
    );
    assert.equal(await exists(`${dir}/backups`), false, "the folder is not created");
    // A file where the folder should be is no folder either.
    await Deno.writeTextFile(`${dir}/file`, "");
    const onFile = await runWorker("backup.ts", ["--config", config, "--out", `${dir}/file/x.db`]);
    assert.equal(onFile.code, 2, onFile.text);
    assert.match(onFile.text, /the folder .*\/file does not exist|\/file is not a folder/);
    assert.doesNotMatch(r.text + onFile.text, /partial|SQLite|unable to open/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("backup command: a copy onto the site's own volume that would not leave the site its diskFreeBytesMin is refused (exit 1) before anything is copied, saying how much it needs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-cli-" });
  try {
    const config = await oneSiteLedger(`${dir}/one`);
    await writeBlockZero(config);
    const c = JSON.parse(await Deno.readTextFile(config));
    await Deno.writeTextFile(
      config,
      JSON.stringify({ ...c, diskFreeBytesMin: Number.MAX_SAFE_INTEGER }),
    );
    await Deno.mkdir(`${dir}/backups`);
    const out = `${dir}/backups/x.db`;
    const r = await runWorker("backup.ts", ["--config", config, "--out", out]);
    assert.equal(r.code, 1, r.text);
    assert.match(
      r.text.trim(),
      /^Cannot back up .*ledger\.db into .*\/backups: the copy may take \d+ (B|KiB|MiB) and the site keeps 8192 TiB free on that volume \(diskFreeBytesMin\), but it has .* free; copy to another volume, or make room$/,
    );
    assert.deepEqual([...Deno.readDirSync(`${dir}/backups`)], [], "nothing was written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("site backups and backupToFile: a copy the volume cannot take (with the site's minimum kept free beside the database) is refused before it is made; with room it is made", async () => {
  const t = await openTestSite();
  try {
    await t.site.submit([await anchorTx(device)], { wait: true, waitTimeoutMs: 10_000 });
    const MiB = 1024 * 1024;
    const dbBytes = (await Deno.stat(`${t.dir}/ledger.db`)).size;
    let free = dbBytes + 100 * MiB;
    const room = { reserveBytes: 512 * MiB, freeBytes: () => Promise.resolve(free) };
    const backups = new SiteBackups(t.options.dbUrl, "site-a", "demo", room);
    await assert.rejects(backups.take(), (e) => {
      assert.ok(e instanceof LedgerError);
      assert.equal(e.status, 503);
      assert.equal(e.type, "insufficient_storage");
      assert.match(e.message, /the site keeps 512 MiB free on that volume \(diskFreeBytesMin\)/);
      return true;
    });
    assert.equal(backups.running, false, "the slot is free again");
    assert.deepEqual((await namesIn(t.dir)).filter((n) => n.includes(".backup-")), []);
    await assert.rejects(
      backupToFile(t.options.dbUrl, `${t.dir}/copy.db`, room),
      (e) => e instanceof BackupError && e.reason === "no_space",
    );
    assert.equal(await exists(`${t.dir}/copy.db`), false);
    free = dbBytes + 1024 * MiB;
    const taken = await backups.take();
    await taken.body.cancel();
    await backupToFile(t.options.dbUrl, `${t.dir}/copy.db`, room);
    assert.equal(await exists(`${t.dir}/copy.db`), true);
  } finally {
    await t.cleanup();
  }
});

Deno.test("restore command: a --from that is no database (a genesis file) is refused (exit 1) naming that file, not the copy the restore works on, and nothing is restored", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-cli-" });
  try {
    // The site's disk is lost: it has no database (and none held open by this process).
    const config = await oneSiteLedger(`${dir}/one`);
    const from = `${dir}/one/genesis.json`;
    const r = await runWorker("restore.ts", ["--config", config, "--from", from]);
    assert.equal(r.code, 1, r.text);
    assert.equal(
      r.text.trim(),
      `Cannot restore from ${from}: it is not a SQLite database (make a copy with deno task backup)`,
    );
    assert.deepEqual(
      (await namesIn(`${dir}/one/site-a`)).filter((n) => n.includes(".db")),
      [],
      "no database is restored, no restoring copy left",
    );
    // A file with SQLite's header and nothing SQLite can read after it.
    const broken = `${dir}/broken.db`;
    await Deno.writeTextFile(broken, "SQLite format 3\u0000" + "x".repeat(200));
    const b = await runWorker("restore.ts", ["--config", config, "--from", broken]);
    assert.equal(b.code, 1, b.text);
    assert.match(
      b.text.trim(),
      new RegExp(`^Cannot restore from ${escaped(broken)}: SQLite cannot read it \\(`),
    );
    assert.doesNotMatch(b.text, /restoring/);
    assert.deepEqual((await namesIn(`${dir}/one/site-a`)).filter((n) => n.includes(".db")), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("restore command: --scratch without --replay, or a --scratch folder that does not exist, is refused (exit 2) before anything is restored", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-cli-" });
  try {
    const config = await oneSiteLedger(`${dir}/one`);
    const from = `${dir}/copy.db`;
    await Deno.writeTextFile(from, "never read");
    const alone = await runWorker("restore.ts", [
      "--config",
      config,
      "--from",
      from,
      "--scratch",
      dir,
    ]);
    assert.equal(alone.code, 2, alone.text);
    assert.match(alone.text, /--scratch goes with --replay/);
    const nowhere = await runWorker("restore.ts", [
      "--config",
      config,
      "--from",
      from,
      "--replay",
      "--scratch",
      `${dir}/missing`,
    ]);
    assert.equal(nowhere.code, 2, nowhere.text);
    assert.equal(
      nowhere.text.trim(),
      `Cannot replay into ${dir}/missing: no such folder. Nothing was replaced.`,
    );
    assert.equal(await exists(`${dir}/missing`), false);
    assert.deepEqual((await namesIn(`${dir}/one/site-a`)).filter((n) => n.includes(".db")), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("restore command: its usage line names every flag it takes, --removed, --force and --replay included", async () => {
  const r = await runWorker("restore.ts", []);
  assert.equal(r.code, 2, r.text);
  assert.equal(
    r.text.trim(),
    "usage: deno task restore --config <site.json> --from <copy> [--removed] [--force] " +
      "[--replay [--scratch <dir>]]",
  );
});

/** `s` as a regular expression that matches it literally. */
function escaped(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Writes each of `names` in `dir`, last modified `ageMs` ago. */
async function filesAged(dir: string, names: string[], ageMs: number): Promise<void> {
  const at = new Date(Date.now() - ageMs);
  for (const name of names) {
    await Deno.writeTextFile(`${dir}/${name}`, name);
    await Deno.utime(`${dir}/${name}`, at, at);
  }
}

Deno.test("backup command: removes, and names, the partial files crashed backups left beside --out once no write has touched them for a day, and keeps a newer one another backup may be writing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-cli-" });
  try {
    const config = await oneSiteLedger(`${dir}/one`);
    await writeBlockZero(config);
    await Deno.mkdir(`${dir}/backups`);
    await filesAged(`${dir}/backups`, ["old.db.partial-0123abcd"], partialIdleMsMin + 60_000);
    await filesAged(`${dir}/backups`, ["running.db.partial-89abcdef"], 60_000);
    await filesAged(`${dir}/backups`, ["notes.partial-0123abcd.txt"], 2 * partialIdleMsMin);
    const r = await runWorker("backup.ts", ["--config", config, "--out", `${dir}/backups/new.db`]);
    assert.equal(r.code, 0, r.text);
    assert.match(
      r.text,
      new RegExp(
        `^removed ${escaped(`${dir}/backups/old.db.partial-0123abcd`)}: left by a backup`,
        "m",
      ),
    );
    assert.equal(r.text.match(/^removed /gm)?.length, 1, r.text);
    assert.deepEqual((await namesIn(`${dir}/backups`)).sort(), [
      "new.db",
      "notes.partial-0123abcd.txt",
      "running.db.partial-89abcdef",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("restore command: removes, and names, what a restore that did not finish left beside the database, and while another restore into the folder runs it is refused (exit 2), removing nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-cli-" });
  try {
    const config = await oneSiteLedger(`${dir}/one`);
    await writeBlockZero(config);
    const { dbUrl } = await loadSiteConfig(config);
    const copy = `${dir}/copy.db`;
    await backupToFile(dbUrl, copy);
    // The site's disk is lost: its database goes to a new folder (this
    // process may still hold the old one open).
    const siteDir = `${dir}/lost`;
    await Deno.mkdir(siteDir);
    const env = { EDGELEDGER_DB_URL: `file:${siteDir}/ledger.db` };
    const leftovers = [
      "ledger.db.restoring-0123abcd",
      "ledger.db.restoring-0123abcd-journal",
      "ledger.db.restoring-0123abcd-wal",
    ];
    await filesAged(siteDir, leftovers, 0);
    await filesAged(siteDir, ["other.db.restoring-0123abcd"], 0);

    // Another restore holds the folder: its files may be in use, so none goes.
    const held = await lockRestores(`${siteDir}/ledger.db`);
    assert.ok(held, "this platform locks folders");
    let r: Awaited<ReturnType<typeof runWorker>>;
    try {
      r = await runWorker("restore.ts", ["--config", config, "--from", copy], env);
    } finally {
      held.release();
    }
    assert.equal(r.code, 2, r.text);
    assert.match(r.text, /another restore into .*lost is running/);
    for (const name of leftovers) assert.equal(await exists(`${siteDir}/${name}`), true, name);

    r = await runWorker("restore.ts", ["--config", config, "--from", copy], env);
    assert.equal(r.code, 0, r.text);
    for (const name of leftovers) {
      assert.match(
        r.text,
        new RegExp(`^removed ${escaped(`${siteDir}/${name}`)}: left by a restore`, "m"),
      );
      assert.equal(await exists(`${siteDir}/${name}`), false, name);
    }
    assert.equal(r.text.match(/^removed /gm)?.length, leftovers.length, r.text);
    assert.equal(await exists(`${siteDir}/other.db.restoring-0123abcd`), true);
    assert.match(r.text, /^restored .*: height 0, /m);
    assert.deepEqual((await namesIn(siteDir)).sort(), ["ledger.db", "other.db.restoring-0123abcd"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "backup and integrity commands read no private key: they work with a config whose site key and TLS key files are not there",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(1);
    try {
      const site = cluster.sites[0];
      const r = await submitCommit(site.url, await anchorTx(device));
      assert.equal(r.status, 200);
      // The same config beside it (its database path is relative to it), without its keys.
      const config = JSON.parse(await Deno.readTextFile(site.configPath));
      const keyless = site.configPath.replace(/site\.json$/, "keyless.json");
      await Deno.writeTextFile(
        keyless,
        JSON.stringify({
          ...config,
          url: config.url.replace(/^http:/, "https:"),
          keyFile: "no-such-key.json",
          tls: { certFile: "no-such-cert.pem", keyFile: "no-such-tls-key.pem" },
        }),
      );
      const copy = `${cluster.dir}/keyless-copy.db`;
      const b = await runWorker("backup.ts", ["--config", keyless, "--out", copy]);
      assert.equal(b.code, 0, b.text);
      assert.match(b.text, /^ok: \d+ blocks and 1 transaction verify/m);
      const i = await runWorker("integrity.ts", ["--config", keyless]);
      assert.equal(i.code, 0, i.text);
    } finally {
      await cluster.stop();
    }
  },
});
