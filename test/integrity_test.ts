/**
 * The integrity check re-verifies the chain from the database and names the
 * first thing that does not match when a row is edited behind the site's back.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { anchorTx, getJson, openSiteOf, openTestSite, writeBlockZero } from "./_helpers.ts";
import { runWorker } from "./_cluster.ts";
import { initLocalLedger } from "../src/site/config.ts";
import { checkIntegrity } from "../src/site/integrity.ts";
import { SignaturePool } from "../src/site/signature_pool.ts";

const device = generateKeyPair("ed25519");

async function siteWithChain() {
  const t = await openTestSite();
  for (let i = 0; i < 4; i++) {
    const envs = await Promise.all(Array.from({ length: 5 }, () => anchorTx(device)));
    await t.site.submit(envs, { wait: true, waitTimeoutMs: 10_000 });
  }
  const report = await t.site.integrity();
  assert.ok(report.ok, report.firstMismatch);
  assert.equal(report.txsChecked, 20);
  return t;
}

async function exec(
  t: Awaited<ReturnType<typeof openTestSite>>,
  sql: string,
  args: unknown[] = [],
) {
  // deno-lint-ignore no-explicit-any
  await t.site.store.database.client.execute({ sql, args: args as any });
}

Deno.test("integrity: an untouched chain verifies, over HTTP too", async () => {
  const t = await siteWithChain();
  try {
    const r = await getJson(t.app, "/v1/integrity");
    assert.equal(r.status, 200);
    assert.equal(r.body.ok, true);
    assert.ok(r.body.blocksChecked >= 2);
  } finally {
    await t.cleanup();
  }
});

Deno.test("integrity: an edited transaction body is caught and named", async () => {
  const t = await siteWithChain();
  try {
    const row = (await t.site.store.txsByLogRange(7, 8))[0];
    await exec(t, "UPDATE txs SET envelope = ? WHERE id = ?", [
      row.envelope.replace('"count":10', '"count":11'),
      row.id,
    ]);
    const report = await t.site.integrity();
    assert.equal(report.ok, false);
    assert.match(report.firstMismatch!, /log index 7: id .* does not match its envelope/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("integrity: a swapped signature is caught", async () => {
  const t = await siteWithChain();
  try {
    const [a, b] = await t.site.store.txsByLogRange(3, 5);
    const sigA = JSON.parse(a.envelope).sigs[0];
    const envB = JSON.parse(b.envelope);
    // Same key signed both, so only the message binding can tell them apart.
    const forged = b.envelope.replace(envB.sigs[0], sigA);
    await exec(t, "UPDATE txs SET envelope = ? WHERE id = ?", [forged, b.id]);
    const report = await t.site.integrity();
    assert.equal(report.ok, false);
    // The signature's own reason, said once.
    assert.match(report.firstMismatch!, /log index 4: Signature 0 by did:key:\S+ does not verify$/);
    assert.equal(report.firstMismatch!.split("does not verify").length, 2);
  } finally {
    await t.cleanup();
  }
});

Deno.test("integrity: an edited result is caught through the log root", async () => {
  const t = await siteWithChain();
  try {
    const row = (await t.site.store.txsByLogRange(12, 13))[0];
    const result = row.result.replace('"seq":0', '"seq":1');
    assert.notEqual(result, row.result);
    await exec(t, "UPDATE txs SET result = ? WHERE id = ?", [result, row.id]);
    const report = await t.site.integrity();
    assert.equal(report.ok, false);
    assert.match(report.firstMismatch!, /logRoot does not match/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("integrity: an edited block time is caught by the block hash", async () => {
  const t = await siteWithChain();
  try {
    await exec(
      t,
      "UPDATE blocks SET header = replace(header, '\"time\":', '\"time\":1') WHERE height = 2",
    );
    const report = await t.site.integrity();
    assert.equal(report.ok, false);
    assert.match(report.firstMismatch!, /^block 2: hash does not match its header/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("integrity: a corrupted stored Merkle node is caught", async () => {
  const t = await siteWithChain();
  try {
    await exec(t, "UPDATE merkle_nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 2");
    const report = await t.site.integrity();
    assert.equal(report.ok, false);
    assert.match(report.firstMismatch!, /stored Merkle node 1\/2 does not match/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("integrity: a proof that needs a deleted stored Merkle node is a logged 500 internal, not the client's proof_unavailable, and the check names the node", async () => {
  const t = await siteWithChain();
  try {
    const first = (await t.site.store.txsByLogRange(0, 1))[0];
    const before = await getJson(t.app, `/v1/txs/${first.id}/proof?treeSize=20`);
    assert.equal(before.status, 200);
    // Leaf 0's audit path in a tree of 20 starts leaf 1, node 1/1, …
    await exec(t, "DELETE FROM merkle_nodes WHERE level = 1 AND idx = 1");
    const after = await getJson(t.app, `/v1/txs/${first.id}/proof?treeSize=20`);
    assert.equal(after.status, 500);
    assert.equal(after.body.type, "https://edgeledger.dev/problems/internal");
    assert.doesNotMatch(after.body.detail, /merkle|node/i, "nothing of the store leaks");
    const report = await t.site.integrity();
    assert.equal(report.ok, false);
    assert.match(report.firstMismatch!, /1\/1/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("integrity: a deleted transaction row is caught", async () => {
  const t = await siteWithChain();
  try {
    await exec(t, "DELETE FROM txs WHERE log_index = 19");
    const report = await t.site.integrity();
    assert.equal(report.ok, false);
    assert.match(report.firstMismatch!, /holds 4 transactions, header says 5/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("integrity: a forged checkpoint signature is caught", async () => {
  const t = await siteWithChain();
  try {
    await exec(
      t,
      "UPDATE checkpoint_sigs SET line = replace(line, substr(line, -10, 6), 'AAAAAA') WHERE height = 3",
    );
    const report = await t.site.integrity();
    assert.equal(report.ok, false);
    assert.match(
      report.firstMismatch!,
      /block 3: checkpoint signature of site site-a does not verify/,
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("integrity command: exit 0 for a sound chain, 2 (and no database created) for a config whose database does not exist", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-integrity-" });
  const run = (config: string) => runWorker("integrity.ts", ["--config", config]);
  try {
    const [config] = await initLocalLedger({
      dataDir: dir,
      sites: 1,
      basePort: 1,
      host: "127.0.0.1",
    });
    const missing = await run(config);
    assert.equal(missing.code, 2, missing.text);
    assert.match(missing.text, /no database at/);
    assert.equal(await Deno.stat(`${dir}/site-a/ledger.db`).then(() => true, () => false), false);
    // The site's first start writes block 0; then the chain verifies.
    await writeBlockZero(config);
    const ok = await run(config);
    assert.equal(ok.code, 0, ok.text);
    assert.match(ok.text, /^ok: 1 block and/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A lone site holding `blocks` blocks of one transaction each, applied as entries 1, 2, … */
async function siteWithBlocks(blocks: number) {
  const t = await openTestSite();
  const start = Date.now();
  for (let i = 1; i <= blocks; i++) {
    await t.site.applyEntry(i, {
      time: start + i,
      proposer: "site-a",
      term: 1,
      txs: [await anchorTx(device)],
    });
  }
  return t;
}

Deno.test("integrity: a transaction row that no block holds, at a height the chain has, is caught", async () => {
  const t = await siteWithChain();
  try {
    const env = await anchorTx(device);
    await exec(
      t,
      "INSERT INTO txs (id, log_index, height, kind, envelope, result, status) VALUES (?, 25, 2, 'data.anchor', ?, '{}', 'applied')",
      ["ab".repeat(32), JSON.stringify(env)],
    );
    const report = await t.site.integrity();
    assert.equal(report.ok, false);
    assert.match(
      report.firstMismatch!,
      /^transactions table holds 1 row\(s\) outside the chain's log of 20 transactions \(up to block \d+\)$/,
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("integrity: a long check lets the site's event loop turn every few milliseconds, and blocks written while it runs do not fail it", async () => {
  const t = await siteWithBlocks(600);
  try {
    let last = performance.now();
    let longestGapMs = 0;
    const probe = setInterval(() => {
      const now = performance.now();
      longestGapMs = Math.max(longestGapMs, now - last);
      last = now;
    }, 2);
    const started = performance.now();
    const running = t.site.integrity();
    // The site goes on writing blocks (its database on this thread) meanwhile.
    for (let i = 601; i <= 610; i++) {
      await t.site.applyEntry(i, {
        time: Date.now() + 1_000_000 + i,
        proposer: "site-a",
        term: 1,
        txs: [await anchorTx(device)],
      });
    }
    const report = await running;
    const tookMs = performance.now() - started;
    clearInterval(probe);
    assert.equal(report.ok, true, report.firstMismatch);
    assert.ok(report.blocksChecked >= 601, String(report.blocksChecked));
    // Without turns the loop would stall for the whole check (here ≥ 0.4 s).
    assert.ok(tookMs > 200, `the check took ${tookMs} ms: too short to tell`);
    assert.ok(longestGapMs < 150, `the event loop stalled ${longestGapMs.toFixed(0)} ms`);
  } finally {
    await t.cleanup();
  }
});

Deno.test("integrity command --replay: exit 0 when re-executing the chain gives its state, 1 naming a state row edited behind the site's back (which the plain check passes), 2 for --scratch alone or a scratch folder that does not exist", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-integrity-" });
  const run = (...args: string[]) => runWorker("integrity.ts", ["--config", config, ...args]);
  let config = "";
  try {
    [config] = await initLocalLedger({ dataDir: dir, sites: 1, basePort: 1, host: "127.0.0.1" });
    const site = await openSiteOf(config);
    const stream = `cmd-${crypto.randomUUID().slice(0, 8)}`;
    try {
      for (let seq = 0; seq < 3; seq++) {
        await site.submit([await anchorTx(device, { stream, seq }), await anchorTx(device)], {
          wait: true,
          waitTimeoutMs: 10_000,
        });
      }
    } finally {
      await site.close();
    }
    const ok = await run("--replay", "--scratch", dir);
    assert.equal(ok.code, 0, ok.text);
    assert.match(ok.text, /^ok: \d+ blocks and 6 transactions verify/m);
    assert.match(
      ok.text,
      /^ok: re-executing 3 blocks and 6 transactions gives the same blocks and the same \d+ state rows/m,
    );

    const edit = await openSiteOf(config);
    try {
      await edit.store.database.client.execute({
        sql: "UPDATE state SET value = json_set(value, '$.lastSeq', 0) WHERE key = ?",
        args: [stream],
      });
    } finally {
      await edit.close();
    }
    const plain = await run();
    assert.equal(plain.code, 0, plain.text);
    const caught = await run("--replay");
    assert.equal(caught.code, 1, caught.text);
    assert.match(
      caught.text,
      new RegExp(
        `^MISMATCH: state \\S+ "${stream}": the database holds \\{.*"lastSeq":0.*\\}, re-executing the chain gives \\{.*"lastSeq":2.*\\}$`,
        "m",
      ),
    );

    const alone = await run("--scratch", dir);
    assert.equal(alone.code, 2, alone.text);
    assert.match(alone.text, /--scratch goes with --replay/);
    const nowhere = await run("--replay", "--scratch", `${dir}/missing`);
    assert.equal(nowhere.code, 2, nowhere.text);
    assert.match(nowhere.text, /Cannot replay into .*\/missing: no such folder/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("integrity: signatures checked on worker threads (SignaturePool) give the same findings — a forged signature in an earlier block is reported before an edited result in a later one, whichever thread checks, with the blocks verified before it", async () => {
  const t = await siteWithChain();
  const pool = new SignaturePool(2);
  try {
    const clean = await checkIntegrity(t.site.store, t.options.genesis, {
      verifySignatures: pool.verify,
    });
    assert.equal(clean.ok, true, clean.firstMismatch);
    assert.equal(clean.txsChecked, 20);

    const [a, b] = await t.site.store.txsByLogRange(3, 5);
    const forged = b.envelope.replace(
      JSON.parse(b.envelope).sigs[0],
      JSON.parse(a.envelope).sigs[0],
    );
    await exec(t, "UPDATE txs SET envelope = ? WHERE id = ?", [forged, b.id]);
    const later = (await t.site.store.txsByLogRange(17, 18))[0];
    await exec(t, "UPDATE txs SET result = ? WHERE id = ?", [
      later.result.replace('"seq":0', '"seq":1'),
      later.id,
    ]);
    const blockOf4 = (await t.site.store.txsByLogRange(4, 5))[0].height;
    for (const options of [{}, { verifySignatures: pool.verify }]) {
      const report = await checkIntegrity(t.site.store, t.options.genesis, options);
      assert.equal(report.ok, false);
      assert.match(
        report.firstMismatch!,
        new RegExp(
          `^block ${blockOf4}: transaction at log index 4: Signature 0 by did:key:\\S+ does not verify$`,
        ),
      );
      assert.equal(report.blocksChecked, blockOf4, "block 0 up to the forged one's");
    }
  } finally {
    pool.close();
    await t.cleanup();
  }
});
