/**
 * The golden chains (`test/golden/*.json`): chains recorded by an earlier
 * version of the contracts, which this version must replay to exactly the
 * same blocks, results and state. `chain.json` runs under rules version 1
 * throughout; `chain_rules2.json` switches to rules 2 at block 3
 * (`gov.setRules`) and pins what rules 2 decides (a last admin's removal
 * takes its organisation with it; `last_admin` for the only organisation);
 * `chain_rules3.json` begins under rules 2 (its genesis), switches to rules
 * 3 at block 3 and pins what rules 3 decides (a custody step may cite only
 * an anchor that was made, not a `seq` its stream skipped).
 *
 * A contract rule that changes without a rules version changes what an old
 * block decides: a site replaying the chain from genesis (a new site, a
 * snapshot catch-up, `task integrity --replay`) would then fork from the
 * sites that executed it. Rule changes go behind `tx.rules`
 * (`src/contracts/rules.ts`); this test catches one that did not. It opens a
 * fresh site with the recorded genesis and applies every recorded block the
 * way a catching-up site does (`Site.replayBlock`: re-execute, then compare
 * the block hash), then compares each transaction's result and the final
 * contract state (every row, and the hash sites compare in `state_check.ts`).
 *
 * The fixtures are written by `deno task golden` (`test/golden/generate.ts`,
 * which lists every chain in `GOLDEN_CHAINS`; each is replayed here). Run
 * it only to extend a chain at its end — a new kind, a new rejection, the
 * blocks of a new rules version — never to make this test pass after a
 * contract change: the generator refuses to change a recorded block, and
 * deleting a fixture to get round that drops the ledgers it stands for.
 *
 * @module
 */
import assert from "node:assert/strict";
import { canonicalJson } from "../sdk/canonical_json.ts";
import { transactionId } from "../sdk/envelope.ts";
import { generateKeyPair } from "../sdk/keys.ts";
import { builtinContracts } from "../src/contracts/mod.ts";
import type { ReplayBlock } from "../src/site/raft_host.ts";
import { Site } from "../src/site/site.ts";
import { hashState } from "../src/site/state_check.ts";
import { NativeSnapshot, type StateRow } from "../src/storage/native.ts";
import {
  GOLDEN_CHAINS,
  type GoldenChain,
  type GoldenSpec,
  RULES1_CHAIN,
} from "./golden/generate.ts";
import { RULES2_CHAIN, RULES2_HEIGHT } from "./golden/rules2.ts";
import { RULES3_CHAIN, RULES3_HEIGHT, RULES3_STREAM } from "./golden/rules3.ts";
import {
  RULES4_CHAIN,
  RULES4_HEIGHT,
  RULES4_STREAM,
  RULES4_UNTIL,
  SMALL_ORDER_SITE_KEY,
} from "./golden/rules4.ts";
import { ANCHOR_NS, anchorKey, STREAM_NS } from "../src/contracts/data_anchor.ts";
import { rulesAt, type RulesRecord } from "../src/contracts/rules.ts";
import { testLogger } from "./_helpers.ts";

/** What every failure of the replay says to do. */
const WHAT_TO_DO = [
  "This version of the contracts decides a block recorded by an earlier version differently: a",
  "site replaying the chain from genesis (a new site, a snapshot catch-up, `task integrity",
  "--replay`) would fork from the sites that executed it. A contract rule change must not alter",
  "what an old block decides: keep the old behaviour and put the new one behind `tx.rules`",
  "(src/contracts/rules.ts: raise RULES_VERSION_SUPPORTED, branch on `tx.rules >= N`, governance",
  "schedules version N with gov.setRules). Do NOT regenerate a test/golden/*.json to make this",
  "pass: `deno task golden` only extends a chain with new blocks at its end, for a new kind,",
  "rejection or rules version, once a change is deliberate and versioned (old blocks then replay",
  "unchanged); it refuses to change a recorded block.",
].join("\n");

/** A value as the failure quotes it: its canonical JSON, cut after 400 characters. */
function quote(value: unknown): string {
  const text = typeof value === "string" ? value : canonicalJson(value);
  return text.length <= 400 ? text : `${text.slice(0, 400)}…`;
}

const chains = new Map<GoldenSpec, GoldenChain>();
for (const spec of GOLDEN_CHAINS) {
  chains.set(spec, JSON.parse(await Deno.readTextFile(spec.file)) as GoldenChain);
}

/** The fixture's path as the repository names it. */
function fixturePath(spec: GoldenSpec): string {
  return `test/golden/${spec.file.pathname.split("/").pop()}`;
}

/**
 * Replays `spec`'s recorded chain on a fresh site as a catching-up site does,
 * failing on the first block, result or state row this version decides
 * otherwise.
 */
async function replay(spec: GoldenSpec): Promise<void> {
  const chain = chains.get(spec)!;
  const failure = (what: string) =>
    `Golden chain ${fixturePath(spec)} (${spec.name}): ${what}\n\n${WHAT_TO_DO}`;
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-golden-" });
  const dbPath = `${dir}/ledger.db`;
  // A site catching up: not one of genesis's sites, executing what it is served.
  let site: Site | undefined = await Site.open({
    name: "golden-replay",
    joining: true,
    dbUrl: `file:${dbPath}`,
    genesis: chain.genesis,
    key: generateKeyPair("ed25519"),
    storage: "inline",
    verifyWorkers: 0,
    diskFreeBytesMin: 0,
    stateCheckBlocks: 0,
    log: testLogger({ site: "golden-replay" }),
  });
  try {
    assert.equal(
      site.head.hash,
      chain.genesisHash,
      failure(
        `block 0 from the recorded genesis is ${site.head.hash}, recorded ${chain.genesisHash}`,
      ),
    );
    for (const b of chain.blocks) {
      const height = b.header.height;
      const served: ReplayBlock = {
        hash: b.hash,
        header: b.header,
        entryIndex: b.entryIndex,
        txs: b.txs,
      };
      let error: unknown;
      try {
        await site.replayBlock(served);
      } catch (e) {
        error = e;
      }
      // The results first: they name the transaction a changed rule decides otherwise.
      for (const [i, env] of b.txs.entries()) {
        const txId = transactionId(env);
        const row = await site.store.txById(txId);
        const recorded = canonicalJson(b.results[i]);
        if (row?.result !== recorded) {
          assert.fail(failure(
            `block ${height} (${b.about}), transaction ${i} ${txId} (${env.kind}) was recorded ` +
              `as\n  ${quote(recorded)}\nand this version decides\n  ${
                quote(row?.result ?? "nothing")
              }`,
          ));
        }
      }
      if (error !== undefined || site.head.hash !== b.hash) {
        assert.fail(failure(
          `block ${height} (${b.about}) replays to ${site.head.hash} (header ` +
            `${quote(site.head.header)}), recorded ${b.hash} (header ${quote(b.header)}), with ` +
            `the same results${error === undefined ? "" : `: ${(error as Error).message}`}`,
        ));
      }
    }
    const head = site.head;
    assert.equal(
      head.header.height,
      chain.final.height,
      failure("the replay ends at another height"),
    );
    assert.equal(head.hash, chain.final.hash, failure("the replay ends at another block"));
    assert.equal(head.header.logRoot, chain.final.logRoot, failure("the log ends at another root"));
    await site.close();
    site = undefined;

    // State a changed rule wrote differently with the same results shows here.
    const snapshot = new NativeSnapshot(dbPath);
    try {
      const rows: StateRow[] = [];
      for (let after: StateRow | undefined = undefined;;) {
        const page = snapshot.statePage(after, 1000);
        rows.push(...page);
        if (page.length < 1000) break;
        after = page[page.length - 1];
      }
      const recorded = chain.final.stateRows;
      for (let i = 0; i < Math.max(rows.length, recorded.length); i++) {
        const [ns, key, value] = recorded[i] ?? [];
        const got = rows[i];
        if (got?.ns !== ns || got?.key !== key) {
          assert.fail(failure(
            `state row ${i} after the last block is ${
              got === undefined ? "missing" : `${got.ns} ${JSON.stringify(got.key)}`
            }, recorded ${ns === undefined ? "none" : `${ns} ${JSON.stringify(key)}`}`,
          ));
        }
        if (got.value !== canonicalJson(value)) {
          assert.fail(failure(
            `state ${ns} ${JSON.stringify(key)} after the last block was recorded as\n  ${
              quote(value)
            }\nand this version writes\n  ${quote(got.value)}`,
          ));
        }
      }
      const state = await hashState(snapshot);
      assert.deepEqual(
        state,
        chain.final.state,
        failure("the state hash after the last block differs"),
      );
    } finally {
      snapshot.close();
    }
  } finally {
    await site?.close().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

for (const spec of GOLDEN_CHAINS) {
  Deno.test(
    spec === RULES1_CHAIN
      ? "golden chain: every block recorded by an earlier version replays to the same hash, results and state"
      : `golden chain (${spec.name}): every block recorded by an earlier version replays to the same hash, results and state`,
    () => replay(spec),
  );
}

Deno.test("golden chain: every kind the contracts accept is applied in it at least once (a new kind extends it: `deno task golden`)", () => {
  const chain = chains.get(RULES1_CHAIN)!;
  const applied = new Set<string>();
  for (const b of chain.blocks) {
    b.txs.forEach((env, i) => {
      if (b.results[i].status === "applied") applied.add(env.kind);
    });
  }
  const missing = builtinContracts().kinds().filter((k) => !applied.has(k));
  assert.deepEqual(
    missing,
    [],
    `The golden chain applies no transaction of ${missing.join(", ")}: add blocks that do at the ` +
      "end of test/golden/generate.ts and run `deno task golden` (earlier blocks must not change)",
  );
});

Deno.test("golden chain (rules 2): rules 2 comes into force within the chain, and after it a last admin's removal removes its organisation and is refused for the only one", () => {
  // What the rules-2 chain must keep covering, so that no regeneration drops it.
  const chain = chains.get(RULES2_CHAIN)!;
  const rulesRow = chain.final.stateRows.find(([ns, key]) =>
    ns === "gov.rules" && key === "current"
  );
  const record = rulesRow?.[2] as RulesRecord | undefined;
  assert.equal(rulesAt(record, RULES2_HEIGHT - 1), 1, "the chain begins under rules 1");
  assert.equal(
    rulesAt(record, RULES2_HEIGHT),
    2,
    `rules 2 is in force from block ${RULES2_HEIGHT}`,
  );
  assert.ok(chain.final.height > RULES2_HEIGHT, "the chain goes on under rules 2");
  const removals = (under: (height: number) => boolean) =>
    chain.blocks.filter((b) => under(b.header.height)).flatMap((b) =>
      b.txs.flatMap((env, i) => env.kind === "gov.removeAdmin" ? [b.results[i]] : [])
    );
  const before = removals((h) => h < RULES2_HEIGHT);
  const after = removals((h) => h >= RULES2_HEIGHT);
  assert.ok(before.some((r) => r.status === "applied"), "a last admin leaves under rules 1");
  assert.ok(before.every((r) => r.orgRemoved === undefined), "no organisation goes with it");
  assert.ok(
    after.some((r) => r.status === "applied" && r.orgRemoved === true),
    "under rules 2 an organisation goes with its last admin",
  );
  assert.ok(
    after.some((r) => r.code === "last_admin" && /only organisation/.test(String(r.detail))),
    "under rules 2 the only organisation's last admin is refused",
  );
});

Deno.test("golden chain (rules 3): rules 3 comes into force within a chain begun under 2, and a custody step citing an anchor its stream skipped is applied before and rejected after, while one citing an anchor that was made is applied", () => {
  // What the rules-3 chain must keep covering, so that no regeneration drops it.
  const chain = chains.get(RULES3_CHAIN)!;
  const rulesRow = chain.final.stateRows.find(([ns, key]) =>
    ns === "gov.rules" && key === "current"
  );
  const record = rulesRow?.[2] as RulesRecord | undefined;
  assert.equal(chain.genesis.rules, 2, "the chain's genesis names rules 2");
  assert.equal(rulesAt(record, RULES3_HEIGHT - 1), 2, "the chain begins under rules 2");
  assert.equal(
    rulesAt(record, RULES3_HEIGHT),
    3,
    `rules 3 is in force from block ${RULES3_HEIGHT}`,
  );
  assert.ok(chain.final.height > RULES3_HEIGHT, "the chain goes on under rules 3");
  const made = new Set(
    chain.final.stateRows.filter(([ns]) => ns === ANCHOR_NS).map(([, key]) => key),
  );
  const lastSeq = Math.max(
    ...chain.blocks.flatMap((b) =>
      b.txs.flatMap((env, i) => {
        const body = env.body as { stream?: string; seq?: number };
        return env.kind === "data.anchor" && body.stream === RULES3_STREAM &&
            b.results[i].status === "applied"
          ? [body.seq!]
          : [];
      })
    ),
  );
  /** Custody steps citing anchors, with whether one of them is a seq the stream skipped. */
  const steps = (under: (height: number) => boolean) =>
    chain.blocks.filter((b) => under(b.header.height)).flatMap((b) =>
      b.txs.flatMap((env, i) => {
        const anchors = (env.body as { anchors?: Array<{ stream: string; seq: number }> }).anchors;
        if (!env.kind.startsWith("custody.") || anchors === undefined) return [];
        const skipped = anchors.some((a) =>
          a.stream === RULES3_STREAM && a.seq <= lastSeq && !made.has(anchorKey(a.stream, a.seq))
        );
        return [{ skipped, result: b.results[i] }];
      })
    );
  const before = steps((h) => h < RULES3_HEIGHT);
  const after = steps((h) => h >= RULES3_HEIGHT);
  assert.ok(
    before.some((s) => s.skipped && s.result.status === "applied"),
    "under rules 2 a step citing a skipped seq is applied",
  );
  assert.ok(
    after.some((s) => s.skipped && s.result.code === "custody_anchor_unknown"),
    "under rules 3 a step citing a skipped seq is rejected custody_anchor_unknown",
  );
  assert.ok(
    after.every((s) => !s.skipped || s.result.status === "rejected"),
    "under rules 3 no step citing a skipped seq is applied",
  );
  assert.ok(
    after.some((s) => !s.skipped && s.result.status === "applied"),
    "under rules 3 a step citing anchors that were made is applied",
  );
});

Deno.test("golden chain (rules 4): rules 4 comes into force within a chain begun under 3, and usage ending at its period's end, an anchor co-signed by a stranger and a site key of small order are decided one way before and the other after", () => {
  // What the rules-4 chain must keep covering, so that no regeneration drops it.
  const chain = chains.get(RULES4_CHAIN)!;
  const rulesRow = chain.final.stateRows.find(([ns, key]) =>
    ns === "gov.rules" && key === "current"
  );
  const record = rulesRow?.[2] as RulesRecord | undefined;
  assert.equal(chain.genesis.rules, 3, "the chain's genesis names rules 3");
  assert.equal(rulesAt(record, RULES4_HEIGHT - 1), 3, "the chain begins under rules 3");
  assert.equal(
    rulesAt(record, RULES4_HEIGHT),
    4,
    `rules 4 is in force from block ${RULES4_HEIGHT}`,
  );
  const decided = (kind: string, under: (height: number) => boolean) =>
    chain.blocks.filter((b) => under(b.header.height)).flatMap((b) =>
      b.txs.flatMap((env, i) =>
        env.kind === kind
          ? [{ body: env.body as Record<string, unknown>, result: b.results[i] }]
          : []
      )
    );
  const before = (h: number) => h < RULES4_HEIGHT;
  const after = (h: number) => h >= RULES4_HEIGHT;

  const endingAtUntil = (r: { body: Record<string, unknown> }) =>
    r.body.to === RULES4_UNTIL && r.body.from !== r.body.to;
  assert.ok(
    decided("roaming.record", before).some((r) =>
      endingAtUntil(r) && r.result.code === "roaming_outside_period"
    ),
    "under rules 3 usage ending at until is outside the period",
  );
  assert.ok(
    decided("roaming.record", after).some((r) => endingAtUntil(r) && r.result.status === "applied"),
    "under rules 4 usage ending at until is recorded",
  );
  assert.ok(
    decided("roaming.record", after).some((r) =>
      r.body.from === RULES4_UNTIL && r.result.code === "roaming_outside_period"
    ),
    "under rules 4 an instant at until is outside the period",
  );

  const anchors = new Map(
    chain.final.stateRows.filter(([ns]) => ns === ANCHOR_NS).map(([, key, value]) => [
      key,
      value as { signer: string; height: number },
    ]),
  );
  const stream = chain.final.stateRows.find(([ns, key]) =>
    ns === STREAM_NS && key === RULES4_STREAM
  )?.[2] as { owner: string } | undefined;
  const coSigned = (under: (height: number) => boolean) =>
    chain.blocks.filter((b) => under(b.header.height)).flatMap((b) =>
      b.txs.flatMap((env, i) => {
        const seq = (env.body as { seq?: number }).seq;
        return env.kind === "data.anchor" && b.results[i].status === "applied" &&
            env.signers.length > 1
          ? [{ signers: env.signers, anchor: anchors.get(anchorKey(RULES4_STREAM, seq!))! }]
          : [];
      })
    );
  const early = coSigned(before);
  const late = coSigned(after);
  assert.ok(early.length > 0 && late.length > 0, "co-signed anchors on both sides");
  assert.ok(
    early.every((a) => a.anchor.signer === a.signers[0] && a.signers[0] !== stream?.owner),
    "under rules 3 an anchor records its first signer, a stranger",
  );
  assert.ok(
    late.every((a) => a.anchor.signer !== a.signers[0] && a.signers.includes(a.anchor.signer)),
    "under rules 4 an anchor records the signer that acted for the owner",
  );

  const smallOrder = (r: { body: Record<string, unknown> }) =>
    r.body.publicKey === SMALL_ORDER_SITE_KEY;
  assert.ok(
    decided("gov.addSite", before).some((r) => smallOrder(r) && r.result.status === "applied"),
    "under rules 3 a site key of small order is recorded",
  );
  assert.ok(
    decided("gov.addSite", after).some((r) =>
      smallOrder(r) && r.result.code === "site_key_unusable"
    ),
    "under rules 4 it is rejected site_key_unusable",
  );
});
