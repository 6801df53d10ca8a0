/**
 * The golden chain (`test/golden/chain.json`): a chain recorded by an earlier
 * version of the contracts, which this version must replay to exactly the
 * same blocks, results and state.
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
 * The fixture is written by `deno task golden` (`test/golden/generate.ts`).
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
import type { GoldenChain } from "./golden/generate.ts";
import { testLogger } from "./_helpers.ts";

const FIXTURE = new URL("./golden/chain.json", import.meta.url);

/** What every failure of the replay says to do. */
const WHAT_TO_DO = [
  "This version of the contracts decides a block recorded by an earlier version differently: a",
  "site replaying the chain from genesis (a new site, a snapshot catch-up, `task integrity",
  "--replay`) would fork from the sites that executed it. A contract rule change must not alter",
  "what an old block decides: keep the old behaviour and put the new one behind `tx.rules`",
  "(src/contracts/rules.ts: raise RULES_VERSION_SUPPORTED, branch on `tx.rules >= N`, governance",
  "schedules version N with gov.setRules). Do NOT regenerate test/golden/chain.json to make this",
  "pass: `deno task golden` only extends the chain with new blocks at its end, for a new kind or",
  "rejection, once a change is deliberate and versioned (old blocks then replay unchanged).",
].join("\n");

function failure(what: string): string {
  return `Golden chain: ${what}\n\n${WHAT_TO_DO}`;
}

/** A value as the failure quotes it: its canonical JSON, cut after 400 characters. */
function quote(value: unknown): string {
  const text = typeof value === "string" ? value : canonicalJson(value);
  return text.length <= 400 ? text : `${text.slice(0, 400)}…`;
}

const chain = JSON.parse(await Deno.readTextFile(FIXTURE)) as GoldenChain;

Deno.test("golden chain: every block recorded by an earlier version replays to the same hash, results and state", async () => {
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
});

Deno.test("golden chain: every kind the contracts accept is applied in it at least once (a new kind extends it: `deno task golden`)", () => {
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
