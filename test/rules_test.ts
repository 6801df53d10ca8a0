/**
 * Rules versions activated by height, across governance, execution,
 * admission, the consensus host and the read routes.
 *
 * No production rule depends on a version above 1 yet, so these tests give
 * sites a registry of the built-in contracts plus a stub kind, `test.rules`,
 * whose result records the `tx.rules` it was applied under, and say through
 * the registry which version the site's "software" supports.
 *
 * The consortium: three organisations with one admin each (a majority is
 * two), one site (`site-a`).
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { base64urlEncode, hexDecode, utf8Encode } from "../sdk/encoding.ts";
import { createEnvelope, type Envelope, signEnvelope, transactionId } from "../sdk/envelope.ts";
import { generateKeyPair, softwareSigner } from "../sdk/keys.ts";
import { govProposal } from "../sdk/kinds/gov.ts";
import {
  genesisBlock,
  type GenesisConfig,
  genesisSchema,
  genesisState,
} from "../src/chain/genesis.ts";
import type { Batch } from "../src/chain/execute.ts";
import { builtinContractList, type Contract, ContractRegistry } from "../src/contracts/mod.ts";
import { RULES_VERSION_SUPPORTED } from "../src/contracts/rules.ts";
import { RaftHost } from "../src/site/raft_host.ts";
import type { Site } from "../src/site/site.ts";
import {
  getJson,
  openTestSite,
  postJson,
  type RecordingLogger,
  recordingLogger,
} from "./_helpers.ts";

const LEDGER = "demo";

/** Applies anything and reports the rules version it was applied under. */
const recordRules: Contract<Record<string, never>> = {
  kind: "test.rules",
  body: z.strictObject({}),
  authorize() {},
  touches: () => [],
  apply: (tx) => ({ rules: tx.rules }),
};

/** The built-in contracts and the stub, as software supporting rules up to `supported`. */
function software(supported: number): ContractRegistry {
  return new ContractRegistry([...builtinContractList(), recordRules as Contract<never>], {
    rulesSupported: supported,
  });
}

const k = () => generateKeyPair("ed25519");
const [siteKey, adminA, adminB, adminC, device] = [k(), k(), k(), k(), k()];

function genesis(rules?: number): GenesisConfig {
  return {
    v: 1,
    ledger: LEDGER,
    origin: "edgeledger.test/rules",
    time: 1_700_000_000_000,
    organisations: [
      { id: "org-a", name: "Carrier A", admins: [adminA.did] },
      { id: "org-b", name: "Carrier B", admins: [adminB.did] },
      { id: "org-c", name: "Carrier C", admins: [adminC.did] },
    ],
    sites: [{
      name: "site-a",
      org: "org-a",
      publicKey: base64urlEncode(siteKey.publicKey),
      url: "http://127.0.0.1:1",
    }],
    policies: { expiryWindowMs: 24 * 3600 * 1000, openKinds: ["data.anchor", "test.rules"] },
    ...(rules !== undefined ? { rules } : {}),
  };
}

async function setRules(version: number, height: number, signers = [adminA, adminB]) {
  const unsigned = govProposal("gov.setRules", { version, height }, signers.map((s) => s.did), {
    ledger: LEDGER,
  });
  return await signEnvelope(unsigned, signers.map(softwareSigner));
}

async function stubTx(): Promise<Envelope> {
  const unsigned = createEnvelope({
    ledger: LEDGER,
    kind: "test.rules",
    body: {},
    signers: [device.did],
  });
  return await signEnvelope(unsigned, [softwareSigner(device)]);
}

type App = Parameters<typeof postJson>[0];

/** Commits `env` alone (a block of its own on a lone site) and returns its receipt. */
async function commit(app: App, env: Envelope) {
  const r = await postJson(app, "/v1/txs?wait=commit", env);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, "committed");
  return r.body as { height: number; result: Record<string, unknown> & { status: string } };
}

async function rejectedCode(app: App, env: Envelope): Promise<string> {
  const r = await commit(app, env);
  assert.equal(r.result.status, "rejected", JSON.stringify(r.result));
  return r.result.code as string;
}

/** The messages of the warnings `rec` took while `f` ran. */
async function warnings<T>(
  rec: RecordingLogger,
  f: () => Promise<T>,
): Promise<{ value: T; lines: string[] }> {
  const from = rec.records.length;
  const value = await f();
  const lines = rec.records.slice(from).filter((r) => r.level === "warn").map((r) => String(r.msg));
  return { value, lines };
}

/** The warning of a site whose software cannot execute a scheduled rules version. */
const CANNOT_EXECUTE =
  "rules version scheduled that this site cannot execute: upgrade it before that height";

const unsupportedAt = (block: number, height: number) =>
  `Cannot execute block ${block}: the ledger activated rules version 2 at height ${height}; ` +
  `this site supports up to 1 — upgrade it`;

let batchTime = Date.now();
const batch = (txs: Envelope[]): Batch => ({ time: batchTime++, proposer: "site-a", term: 1, txs });

Deno.test("rules: gov.setRules activates version 2 at exactly its height: block H-1 executes under 1, block H under 2; /v1/status and GET /v1/gov show it scheduled, then active; the log says so once each", async () => {
  const rec = recordingLogger({ site: "site-a" });
  const t = await openTestSite({
    genesis: genesis(),
    key: siteKey,
    contracts: software(2),
    log: rec.log,
  });
  try {
    let status = await getJson(t.app, "/v1/status");
    assert.deepEqual(status.body.rules, { active: 1, supported: 2 });
    let gov = await getJson(t.app, "/v1/gov");
    assert.deepEqual(gov.body.rules, { active: 1, since: 0 });

    const H = 4;
    const scheduled = await commit(t.app, await setRules(2, H));
    assert.equal(scheduled.height, 1);
    assert.equal(scheduled.result.status, "applied", JSON.stringify(scheduled.result));
    assert.deepEqual(scheduled.result.rules, { version: 2, height: H });
    status = await getJson(t.app, "/v1/status");
    assert.deepEqual(status.body.rules, {
      active: 1,
      supported: 2,
      scheduled: { version: 2, height: H },
    });
    gov = await getJson(t.app, "/v1/gov");
    assert.deepEqual(gov.body.rules, { active: 1, since: 0, scheduled: { version: 2, height: H } });

    const seen: Array<[number, unknown]> = [];
    for (let i = 0; i < 4; i++) {
      const r = await commit(t.app, await stubTx());
      seen.push([r.height, r.result.rules]);
    }
    assert.deepEqual(seen, [[2, 1], [H - 1, 1], [H, 2], [H + 1, 2]]);

    status = await getJson(t.app, "/v1/status");
    assert.deepEqual(status.body.rules, { active: 2, supported: 2 });
    gov = await getJson(t.app, "/v1/gov");
    assert.deepEqual(gov.body.rules, { active: 2, since: H });
    assert.deepEqual(
      rec.records.filter((r) => /^rules version/.test(r.msg as string))
        .map((r) => [r.level, r.msg, r.version, r.height]),
      [["info", "rules version scheduled", 2, H], ["info", "rules version activated", 2, H]],
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("rules: a site that supports only version 1 warns when version 2 is scheduled, halts at its height without executing any of that block (healthy: false), and halts there again after a restart", async () => {
  const upgraded = await openTestSite({ genesis: genesis(), key: siteKey, contracts: software(2) });
  const rec = recordingLogger({ site: "site-a" });
  const old = await openTestSite({
    genesis: genesis(),
    key: siteKey,
    contracts: software(1),
    log: rec.log,
  });
  let reopened: Site | undefined;
  try {
    const H = 3;
    const entries = [
      batch([await setRules(2, H)]),
      batch([await stubTx()]),
      batch([await stubTx()]),
    ];
    const blockH = entries[2].txs[0];
    await upgraded.site.applyEntry(1, entries[0]);
    const { lines } = await warnings(rec, () => old.site.applyEntry(1, entries[0]));
    // One message for every such warning (a log store counts it); its fields say which and when.
    assert.deepEqual(lines, [CANNOT_EXECUTE]);
    const warned = rec.records.findLast((r) => r.level === "warn")!;
    assert.deepEqual([warned.version, warned.height, warned.supported], [2, H, 1]);
    let status = await old.site.status();
    assert.deepEqual(status.rules, {
      active: 1,
      supported: 1,
      scheduled: { version: 2, height: H },
    });
    assert.equal(status.healthy, true);

    for (const s of [upgraded.site, old.site]) await s.applyEntry(2, entries[1]);
    assert.equal(old.site.head.hash, upgraded.site.head.hash, "block H-1 is the same on both");

    await upgraded.site.applyEntry(3, entries[2]);
    assert.equal(upgraded.site.head.header.height, H);
    const executed = await upgraded.site.getTx(transactionId(blockH), "stale");
    assert.equal(executed?.receipt.result?.rules, 2, "the upgraded site executes block H under 2");
    await assert.rejects(() => old.site.applyEntry(3, entries[2]), {
      name: "UnsupportedRulesError",
      message: unsupportedAt(H, H),
    });
    status = await old.site.status();
    assert.equal(status.healthy, false);
    assert.equal(status.height, H - 1);
    assert.equal(status.appliedIndex, 2);
    assert.equal(old.site.head.header.height, H - 1, "nothing of block H was executed");
    assert.equal(await old.site.getTx(transactionId(blockH), "stale"), null);
    await assert.rejects(
      () => old.site.submit([entries[2].txs[0]], { wait: false, waitTimeoutMs: 0 }),
      (e: Error & { type?: string }) => e.type === "unavailable",
    );

    // Restarted with the same software: it opens (blocks up to H-1 are
    // fine, stale reads serve them), warns again, and is halted at once,
    // since the next block is H.
    await old.site.close();
    const restart = await warnings(rec, () => old.reopen());
    reopened = restart.value;
    assert.deepEqual(restart.lines, [CANNOT_EXECUTE]);
    assert.equal(reopened.head.header.height, H - 1);
    assert.equal((await reopened.status()).healthy, false, "halted at open, not at block H");
    assert.equal((await reopened.blockByHeight(H - 1, "stale"))?.header.height, H - 1);
    assert.deepEqual((await reopened.status()).rules, {
      active: 1,
      supported: 1,
      scheduled: { version: 2, height: H },
    });
    await assert.rejects(() => reopened!.applyEntry(3, entries[2]), {
      message: unsupportedAt(H, H),
    });
    assert.equal((await reopened.status()).healthy, false);
    assert.equal(reopened.head.header.height, H - 1);
    // A later entry is refused with the same reason.
    const later = batch([await stubTx()]);
    await assert.rejects(() => reopened!.applyEntry(4, later), { message: unsupportedAt(H, H) });
    // Each site halted once (the first, then the reopened one), saying why.
    const halted = rec.said("site halted");
    assert.equal(halted.length, 2);
    for (const h of halted) {
      assert.equal(h.reason, "its software does not support the ledger's rules");
      assert.equal((h.error as { message: string }).message, unsupportedAt(H, H));
    }
  } finally {
    await reopened?.close();
    await upgraded.cleanup();
    await old.cleanup();
  }
});

Deno.test("rules: under consensus, a site that cannot execute the activated version stops its consensus host at that block, and again when restarted from its Raft log", async () => {
  const rec = recordingLogger({ site: "site-a" });
  const t = await openTestSite({
    genesis: genesis(),
    key: siteKey,
    contracts: software(1),
    log: rec.log,
  });
  const keyB = k();
  const keyC = k();
  const members = [
    { name: "site-a", url: "http://127.0.0.1:1", publicKey: siteKey.publicKey },
    { name: "site-b", url: "http://127.0.0.1:2", publicKey: keyB.publicKey },
    { name: "site-c", url: "http://127.0.0.1:3", publicKey: keyC.publicKey },
  ];
  const voters = ["site-a", "site-b", "site-c"];
  let host: RaftHost | undefined;
  let reopened: Site | undefined;
  const waitFatal = async (h: RaftHost) => {
    for (let i = 0; i < 500 && h.fatal === undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  try {
    host = await RaftHost.start(
      t.site,
      t.site.raftStore(),
      "site-a",
      t.site.siteKey,
      members,
      voters,
      {
        tickMs: 1_000_000,
      },
    );
    // The leader (site-b) replicates three committed entries: the schedule
    // for block 3, then blocks 2 and 3.
    const txs = [await setRules(2, 3), await stubTx(), await stubTx()];
    const entries = txs.map((tx, i) => ({
      index: i + 1,
      term: 1,
      type: "normal" as const,
      data: utf8Encode(JSON.stringify({ ...batch([tx]), proposer: "site-b", id: `b${i}` })),
    }));
    host.receive("site-b", [{
      type: "app",
      from: "site-b",
      to: "site-a",
      term: 1,
      prevIndex: 0,
      prevTerm: 0,
      entries,
      commit: 3,
    }]);
    await waitFatal(host);
    assert.equal((host.fatal as Error | undefined)?.message, unsupportedAt(3, 3));
    assert.ok(
      rec.records.some((r) =>
        r.level === "error" && r.reason === "its software does not support the ledger's rules" &&
        (r.error as { message: string }).message === unsupportedAt(3, 3)
      ),
      "the reason is logged",
    );
    assert.equal(t.site.head.header.height, 2);
    assert.equal(t.site.appliedIndex, 2);
    assert.equal((await t.site.status()).healthy, false);

    await host.close();
    host = undefined;
    await t.site.close();
    reopened = await t.reopen();
    host = await RaftHost.start(
      reopened,
      reopened.raftStore(),
      "site-a",
      reopened.siteKey,
      members,
      voters,
      { tickMs: 1_000_000 },
    );
    await waitFatal(host);
    assert.equal((host.fatal as Error | undefined)?.message, unsupportedAt(3, 3));
    assert.equal(
      reopened.head.header.height,
      2,
      "block 3 is not executed after the restart either",
    );
    assert.equal((await reopened.status()).healthy, false);
  } finally {
    await host?.close();
    await reopened?.close();
    await t.cleanup();
  }
});

Deno.test("rules: admission refuses gov.setRules for a version this site's software does not support (422 unsupported_rules), telling the operator to upgrade first", async () => {
  const old = await openTestSite({ genesis: genesis(), key: siteKey, contracts: software(1) });
  const upgraded = await openTestSite({ genesis: genesis(), key: siteKey, contracts: software(2) });
  try {
    const r = await postJson(old.app, "/v1/txs", await setRules(2, 100));
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal((r.body.type as string).split("/").pop(), "unsupported_rules");
    assert.match(r.body.detail, /rules version 2: this site's software supports up to 1; upgrade/);
    const v3 = await postJson(upgraded.app, "/v1/txs", await setRules(3, 100));
    assert.equal(v3.status, 422);
    assert.equal((v3.body.type as string).split("/").pop(), "unsupported_rules");
    const v2 = await commit(upgraded.app, await setRules(2, 100));
    assert.equal(v2.result.status, "applied");
  } finally {
    await old.cleanup();
    await upgraded.cleanup();
  }
});

Deno.test("rules: apply rejects gov.setRules for a height not in the future, a version not above the current one, and without a majority; a higher version replaces the schedule", async () => {
  const t = await openTestSite({ genesis: genesis(), key: siteKey, contracts: software(3) });
  try {
    // This proposal lands in block 1: height 1 is not in the future.
    assert.equal(await rejectedCode(t.app, await setRules(2, 1)), "rules_height_not_future");
    const far = 1_000;
    assert.equal((await commit(t.app, await setRules(2, far))).result.status, "applied");
    assert.equal(await rejectedCode(t.app, await setRules(2, far + 5)), "rules_version_not_newer");
    assert.equal(await rejectedCode(t.app, await setRules(3, far, [adminA])), "no_majority");
    const replaced = await commit(t.app, await setRules(3, far + 10, [adminB, adminC]));
    assert.equal(replaced.result.status, "applied");
    assert.deepEqual(replaced.result.replaced, { version: 2, height: far });
    assert.deepEqual(replaced.result.approvedBy, ["org-b", "org-c"]);
    const gov = await getJson(t.app, "/v1/gov");
    assert.deepEqual(gov.body.rules, {
      active: 1,
      since: 0,
      scheduled: { version: 3, height: far + 10 },
    });
  } finally {
    await t.cleanup();
  }
});

Deno.test("rules: a genesis with rules 2 executes under version 2 on a site that supports it; a site that supports only 1 refuses to open it", async () => {
  const t = await openTestSite({ genesis: genesis(2), key: siteKey, contracts: software(2) });
  try {
    const r = await commit(t.app, await stubTx());
    assert.equal(r.height, 1);
    assert.equal(r.result.rules, 2);
    assert.deepEqual((await t.site.status()).rules, { active: 2, supported: 2 });
    assert.deepEqual((await getJson(t.app, "/v1/gov")).body.rules, { active: 2, since: 0 });
    assert.equal(await rejectedCode(t.app, await setRules(2, 100)), "rules_version_not_newer");
    await t.site.close();
    await assert.rejects(
      () => t.reopen({ contracts: software(1) }),
      {
        message: "Cannot open site site-a: the genesis sets rules version 2; this site supports " +
          "up to 1 — upgrade it",
      },
    );
  } finally {
    await t.cleanup();
  }
  await assert.rejects(
    () => openTestSite({ genesis: genesis(2), key: siteKey, contracts: software(1) }),
    /the genesis sets rules version 2; this site supports up to 1/,
  );
});

Deno.test("rules: a genesis without rules keeps its block-0 hash, writes no rules record, and runs version 1", async () => {
  // A genesis as written before rules versions existed, with a fixed key
  // (RFC 8032 test 1), and the block-0 hash it had then.
  const publicKey = base64urlEncode(
    hexDecode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
  );
  const old = {
    v: 1,
    ledger: "demo",
    origin: "edgeledger.test/demo",
    time: 1_700_000_000_000,
    organisations: [{ id: "org-a", name: "Org A" }],
    sites: [{ name: "site-a", org: "org-a", publicKey, url: "http://127.0.0.1:1" }],
    policies: { expiryWindowMs: 86_400_000, openKinds: ["data.anchor"] },
  };
  const parsed = genesisSchema.parse(structuredClone(old));
  assert.deepEqual(parsed, old);
  const block0 = genesisBlock(parsed);
  assert.equal(
    block0.header.prev,
    "f65ffa7babf96a1eeedc8054410835ecdbaf77a315c96a40a6d448c54370ca77",
  );
  assert.equal(block0.hash, "8a6e99776dac51f00da833eb1cf34ec1a37eb8feabb4c52f9e6ef17648e6fce6");
  assert.ok(!genesisState(parsed).some((w) => w.ns === "gov.rules"));
  // Naming the version, even 1, is another config (and another ledger).
  assert.notEqual(genesisBlock(genesisSchema.parse({ ...old, rules: 1 })).hash, block0.hash);
  assert.equal(genesisSchema.safeParse({ ...old, rules: 0 }).success, false);

  const t = await openTestSite({ genesis: genesis(), key: siteKey });
  try {
    assert.deepEqual((await t.site.status()).rules, {
      active: 1,
      supported: RULES_VERSION_SUPPORTED,
    });
  } finally {
    await t.cleanup();
  }
});
