import assert from "node:assert/strict";
import { generateKeyPair } from "../../sdk/keys.ts";
import { anchorTx, openTestSite } from "../../test/_helpers.ts";
import { builtinContractList, ContractRegistry, dataAnchor } from "../contracts/mod.ts";
import type { Contract } from "../contracts/contract.ts";
import { checkByReplay, ReplayCheckError, replayLines } from "./replay_check.ts";

const device = generateKeyPair("ed25519");

/** A lone site with `blocks` blocks of 5 anchors, two on one stream (so a stream row changes). */
async function siteWithChain(blocks = 4) {
  const t = await openTestSite();
  const stream = `replay-${crypto.randomUUID().slice(0, 8)}`;
  for (let i = 0; i < blocks; i++) {
    const envs = await Promise.all([
      ...Array.from({ length: 4 }, () => anchorTx(device)),
      anchorTx(device, { stream, seq: i }),
    ]);
    await t.site.submit(envs, { wait: true, waitTimeoutMs: 10_000 });
  }
  return { ...t, stream, dbPath: `${t.dir}/ledger.db` };
}

async function exec(t: Awaited<ReturnType<typeof siteWithChain>>, sql: string, args: unknown[]) {
  // deno-lint-ignore no-explicit-any
  await t.site.store.database.client.execute({ sql, args: args as any });
}

Deno.test("replay check: an untouched chain re-executes to the same blocks and the same state, row for row, and the scratch database is removed", async () => {
  const t = await siteWithChain();
  const scratchDir = await Deno.makeTempDir({ prefix: "edgeledger-scratch-" });
  try {
    const report = await checkByReplay({
      dbPath: t.dbPath,
      genesis: t.options.genesis,
      scratchDir,
    });
    assert.equal(report.ok, true, report.firstMismatch);
    assert.equal(report.height, t.site.head.header.height);
    assert.equal(report.blocksReplayed, report.height);
    assert.equal(report.txsReplayed, 20);
    const rows = await t.site.store.database.client.execute("SELECT count(*) AS n FROM state");
    // 20 anchors on 17 streams (20 anchor rows, 17 stream rows) and the genesis's own rows.
    assert.equal(report.stateRowsCompared, Number(rows.rows[0].n));
    assert.ok(report.stateRowsCompared >= 37);
    assert.match(replayLines(report)[0], /^ok: re-executing \d+ blocks and 20 transactions/);
    assert.deepEqual([...Deno.readDirSync(scratchDir)], []);
  } finally {
    await Deno.remove(scratchDir, { recursive: true });
    await t.cleanup();
  }
});

Deno.test("replay check: more than a page of data.anchor rows (keys holding U+0000) is compared row for row, each row once", async () => {
  const t = await openTestSite();
  const scratchDir = await Deno.makeTempDir({ prefix: "edgeledger-scratch-" });
  try {
    // 1,200 anchor rows sort first, so the first page of 1,000 ends on one.
    for (let i = 0; i < 6; i++) {
      const envs = await Promise.all(Array.from({ length: 200 }, () => anchorTx(device)));
      await t.site.submit(envs, { wait: true, waitTimeoutMs: 20_000 });
    }
    const report = await checkByReplay({
      dbPath: `${t.dir}/ledger.db`,
      genesis: t.options.genesis,
      scratchDir,
    });
    assert.equal(report.ok, true, report.firstMismatch);
    assert.equal(report.txsReplayed, 1200);
    const rows = await t.site.store.database.client.execute("SELECT count(*) AS n FROM state");
    assert.equal(report.stateRowsCompared, Number(rows.rows[0].n));
  } finally {
    await Deno.remove(scratchDir, { recursive: true });
    await t.cleanup();
  }
});

Deno.test("replay check: a state value edited behind the site's back is named, though the integrity check passes", async () => {
  const t = await siteWithChain();
  try {
    await exec(t, "UPDATE state SET value = json_set(value, '$.lastSeq', 99) WHERE key = ?", [
      t.stream,
    ]);
    assert.equal((await t.site.integrity()).ok, true, "integrity does not read the state");
    const report = await checkByReplay({ dbPath: t.dbPath, genesis: t.options.genesis });
    assert.equal(report.ok, false);
    assert.match(
      report.firstMismatch!,
      new RegExp(
        `^state \\S+ "${t.stream}": the database holds \\{.*"lastSeq":99.*\\}, re-executing the chain gives \\{.*"lastSeq":3.*\\}$`,
      ),
    );
    assert.equal(replayLines(report)[0], `MISMATCH: ${report.firstMismatch}`);
  } finally {
    await t.cleanup();
  }
});

Deno.test("replay check: a deleted state row is named with what re-executing writes there", async () => {
  const t = await siteWithChain();
  try {
    await exec(t, "DELETE FROM state WHERE key = ?", [t.stream]);
    const report = await checkByReplay({ dbPath: t.dbPath, genesis: t.options.genesis });
    assert.match(
      report.firstMismatch!,
      new RegExp(
        `^state \\S+ "${t.stream}": missing from the database, re-executing the chain writes \\{.*"lastSeq":3`,
      ),
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("replay check: a state row no transaction wrote (a forged balance) is named", async () => {
  const t = await siteWithChain();
  try {
    await exec(t, "INSERT INTO state (ns, key, value) VALUES ('zz', 'forged', ?)", [
      '{"balance":1000000}',
    ]);
    const report = await checkByReplay({ dbPath: t.dbPath, genesis: t.options.genesis });
    assert.equal(
      report.firstMismatch,
      'state zz "forged": the database holds {"balance":1000000}, re-executing the chain writes no such row',
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("replay check: a block whose recorded results another version of the rules would not give is named, with the transaction whose result differs", async () => {
  const t = await siteWithChain(2);
  try {
    const changed: Contract = {
      ...(dataAnchor as unknown as Contract),
      apply(tx, state) {
        const result = (dataAnchor as unknown as Contract).apply(tx, state);
        return { ...result, note: "another rule" };
      },
    };
    const contracts = new ContractRegistry(
      builtinContractList().map((c) => c.kind === "data.anchor" ? changed as Contract<never> : c),
    );
    const report = await checkByReplay({
      dbPath: t.dbPath,
      genesis: t.options.genesis,
      contracts,
    });
    assert.equal(report.ok, false);
    assert.match(
      report.firstMismatch!,
      /^block 1: re-executing it gives block [0-9a-f]{64}, the database holds [0-9a-f]{64} \(transaction [0-9a-f]{64}: the database holds the result \{.*\}, re-executing gives \{.*"note":"another rule".*\}\)$/,
    );
    assert.equal(report.blocksReplayed, 0);
  } finally {
    await t.cleanup();
  }
});

Deno.test("replay check: it reads the database as of its start — blocks a running site writes meanwhile are not replayed", async () => {
  const t = await siteWithChain();
  try {
    const before = t.site.head.header.height;
    const running = checkByReplay({ dbPath: t.dbPath, genesis: t.options.genesis });
    const envs = await Promise.all(Array.from({ length: 5 }, () => anchorTx(device)));
    await t.site.submit(envs, { wait: true, waitTimeoutMs: 10_000 });
    const report = await running;
    assert.equal(report.ok, true, report.firstMismatch);
    assert.equal(report.height, before);
    assert.ok(t.site.head.header.height > before);
    assert.equal((await t.site.integrity()).ok, true);
  } finally {
    await t.cleanup();
  }
});

Deno.test("replay check: a scratch folder without room for a copy of the database is refused before anything is written there", async () => {
  const t = await siteWithChain(1);
  const scratchDir = await Deno.makeTempDir({ prefix: "edgeledger-scratch-" });
  try {
    await assert.rejects(
      checkByReplay({
        dbPath: t.dbPath,
        genesis: t.options.genesis,
        scratchDir,
        freeBytes: () => Promise.resolve(1000),
      }),
      (e: Error) =>
        e instanceof ReplayCheckError &&
        new RegExp(
          `^Cannot replay into ${scratchDir}: it has 1000 bytes free and the scratch database needs about \\d+`,
        )
          .test(e.message),
    );
    assert.deepEqual([...Deno.readDirSync(scratchDir)], []);
  } finally {
    await Deno.remove(scratchDir, { recursive: true });
    await t.cleanup();
  }
});
