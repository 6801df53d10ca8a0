/**
 * Unit tests of block execution under rules versions, with a stub contract
 * that records the version it was applied under (no production rule
 * depends on a version above 1 yet).
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { blockHash, type BlockHeader } from "../../sdk/block.ts";
import { hexEncode } from "../../sdk/encoding.ts";
import { createEnvelope, type Envelope, signEnvelope } from "../../sdk/envelope.ts";
import { generateKeyPair, softwareSigner } from "../../sdk/keys.ts";
import { EMPTY_ROOT } from "../../sdk/merkle.ts";
import {
  type Contract,
  ContractRegistry,
  type RulesRecord,
  UnsupportedRulesError,
} from "../contracts/mod.ts";
import { type Batch, executeBatch, planBatch } from "./execute.ts";
import { MerkleFrontier } from "./merkle_log.ts";

/** Applies anything and reports the rules version it saw. */
const recordRules: Contract<Record<string, never>> = {
  kind: "test.rules",
  body: z.strictObject({}),
  authorize() {},
  touches: () => [],
  apply: (tx) => ({ rules: tx.rules }),
};

const signer = generateKeyPair();

async function stubTx(): Promise<Envelope> {
  const unsigned = createEnvelope({
    ledger: "demo",
    kind: "test.rules",
    body: {},
    signers: [signer.did],
  });
  return await signEnvelope(unsigned, [softwareSigner(signer)]);
}

/** A parent block at `height` with an empty log. */
function parentAt(height: number) {
  const header: BlockHeader = {
    v: 1,
    ledger: "demo",
    height,
    prev: "ab".repeat(32),
    time: 1_700_000_000_000,
    term: 1,
    proposer: "site-a",
    txCount: 0,
    logSize: 0,
    logRoot: hexEncode(EMPTY_ROOT),
  };
  return { header, hash: blockHash(header) };
}

async function execute(parentHeight: number, rules: RulesRecord | undefined, supported: number) {
  const registry = new ContractRegistry([recordRules as unknown as Contract<never>], {
    rulesSupported: supported,
  });
  const batch: Batch = {
    time: Date.now(),
    proposer: "site-a",
    term: 1,
    txs: [await stubTx(), await stubTx()],
  };
  const frontier = new MerkleFrontier();
  const plan = planBatch(batch, registry);
  const run = () =>
    executeBatch(
      parentAt(parentHeight),
      batch,
      plan,
      { committed: new Set(), state: new Map(), rules },
      registry,
      frontier,
    );
  return { run, frontier };
}

const schedule: RulesRecord = { version: 1, height: 0, scheduled: { version: 2, height: 5 } };

Deno.test("executeBatch() gives every transaction the rules version in force at the block's height", async () => {
  const before = (await execute(3, schedule, 2)).run();
  assert.equal(before.header.height, 4);
  assert.deepEqual(before.results.map((r) => r.rules), [1, 1]);
  const at = (await execute(4, schedule, 2)).run();
  assert.equal(at.header.height, 5);
  assert.deepEqual(at.results.map((r) => r.rules), [2, 2]);
  const none = (await execute(4, undefined, 2)).run();
  assert.deepEqual(none.results.map((r) => r.rules), [1, 1], "no record: version 1");
});

Deno.test("executeBatch() refuses a block whose rules version is above the registry's before applying any transaction", async () => {
  const { run, frontier } = await execute(4, schedule, 1);
  assert.throws(
    run,
    (e) =>
      e instanceof UnsupportedRulesError && e.height === 5 && e.activation.version === 2 &&
      e.supported === 1 && /^Cannot execute block 5: .* — upgrade it$/.test(e.message),
  );
  assert.equal(frontier.size, 0, "nothing was appended to the log");
  // The block before the activation executes as ever.
  assert.equal((await execute(3, schedule, 1)).run().header.height, 4);
});
