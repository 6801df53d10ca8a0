import assert from "node:assert/strict";
import {
  BLOCK_DOMAIN,
  BlockError,
  blockHash,
  type BlockHeader,
  blockHeaderSchema,
  GENESIS_PREV,
  parseBlockHeader,
} from "./block.ts";
import { canonicalJson } from "./canonical_json.ts";
import { utf8Encode } from "./encoding.ts";
import { sha256Hex } from "./hash.ts";
import { EMPTY_ROOT } from "./merkle.ts";
import { hexEncode } from "./encoding.ts";

/** Stands in for the hash of a genesis config. */
const GENESIS_CONFIG_HASH = "5e".repeat(32);

const genesis: BlockHeader = {
  v: 1,
  ledger: "demo",
  height: 0,
  prev: GENESIS_CONFIG_HASH,
  time: 1_764_000_000_000,
  term: 0,
  proposer: "site-a",
  txCount: 0,
  logSize: 0,
  logRoot: hexEncode(EMPTY_ROOT),
};

Deno.test("blockHash() is SHA-256 of the domain line and the JCS header (golden vector)", () => {
  const text = BLOCK_DOMAIN + canonicalJson(genesis);
  assert.equal(
    text,
    'edgeledger/block/v1\n{"height":0,"ledger":"demo","logRoot":"' + hexEncode(EMPTY_ROOT) +
      '","logSize":0,"prev":"' + GENESIS_CONFIG_HASH +
      '","proposer":"site-a","term":0,"time":1764000000000,"txCount":0,"v":1}',
  );
  assert.equal(blockHash(genesis), sha256Hex(utf8Encode(text)));
  assert.match(blockHash(genesis), /^[0-9a-f]{64}$/);
});

Deno.test("blockHash() changes with every header field and chains through prev", () => {
  const next: BlockHeader = {
    ...genesis,
    height: 1,
    prev: blockHash(genesis),
    txCount: 3,
    logSize: 3,
  };
  const h = blockHash(next);
  assert.notEqual(h, blockHash(genesis));
  for (
    const change of [{ time: next.time + 1 }, { term: 1 }, { proposer: "site-b" }, { txCount: 4 }, {
      logSize: 4,
    }]
  ) {
    assert.notEqual(blockHash({ ...next, ...change }), h, JSON.stringify(change));
  }
});

Deno.test("blockHeaderSchema refuses unknown fields, bad hex and an all-zero prev", () => {
  const next: BlockHeader = { ...genesis, height: 1, prev: blockHash(genesis) };
  assert.ok(blockHeaderSchema.safeParse(next).success);
  const bad: unknown[] = [
    { ...genesis, extra: 1 },
    { ...genesis, v: 2 },
    { ...genesis, height: -1 },
    { ...genesis, height: 1.5 },
    { ...genesis, time: "1" },
    { ...genesis, prev: "00" },
    { ...next, prev: next.prev.toUpperCase() },
    { ...genesis, logRoot: "x".repeat(64) },
    { ...genesis, proposer: "" },
    { ...genesis, ledger: "Demo" },
    { ...genesis, prev: GENESIS_PREV }, // 64 zeros is no hash
    { ...next, prev: GENESIS_PREV },
    (({ term: _t, ...rest }) => rest)(genesis),
  ];
  for (const h of bad) {
    assert.throws(() => parseBlockHeader(h), BlockError, JSON.stringify(h));
    assert.throws(() => blockHash(h as BlockHeader), BlockError);
  }
});
