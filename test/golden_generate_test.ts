/**
 * The golden chains' generator (`test/golden/generate.ts`): what it refuses
 * to write over a recorded fixture.
 *
 * @module
 */
import assert from "node:assert/strict";
import { buildChain, type ChainBuilder, type GoldenChain, keyOf, T0 } from "./golden/_builder.ts";
import { changesRecorded, goldenGenesis } from "./golden/generate.ts";

/** A fixture of `blocks` blocks whose final state is `state` (only what the comparison reads). */
function fixture(blocks: number, state: string): GoldenChain {
  return {
    v: 1,
    about: "test",
    genesis: goldenGenesis(),
    genesisHash: "g",
    blocks: Array.from({ length: blocks }, (_, i) => ({
      about: `block ${i + 1}`,
      hash: `h${i + 1}`,
      header: { height: i + 1 } as GoldenChain["blocks"][number]["header"],
      entryIndex: i + 1,
      txs: [],
      results: [],
    })),
    final: {
      height: blocks,
      hash: `h${blocks}`,
      logSize: 0,
      logRoot: "r",
      state: { hash: state, rows: 1 },
      stateRows: [["ns", "key", state]],
    },
  };
}

Deno.test("golden generator: refuses a chain that adds blocks when the state its recorded blocks leave changed (a rule change that alters state and no result)", () => {
  const recorded = fixture(2, "s2");
  const next = fixture(3, "s3");
  // The new build's state after block 2, where the recorded chain ended.
  const same = { state: { hash: "s2", rows: 1 }, stateRows: recorded.final.stateRows };
  const changed = { state: { hash: "s2'", rows: 1 }, stateRows: [["ns", "key", "s2'"]] } as const;
  assert.equal(changesRecorded(recorded, next, same), undefined);
  assert.match(
    changesRecorded(recorded, next, {
      state: changed.state,
      stateRows: [[...changed.stateRows[0]]],
    }) ?? "",
    /state after block 2, its last recorded one, changed/,
  );
  // Not knowing it is no licence either.
  assert.match(changesRecorded(recorded, next, undefined) ?? "", /state after block 2/);
  // With no block added, the final state is what is compared.
  assert.equal(changesRecorded(recorded, fixture(2, "s2"), same), undefined);
  assert.match(changesRecorded(recorded, fixture(2, "s2'"), same) ?? "", /state/);
});

Deno.test("golden builder: the state it reads after a block within the chain is the state a chain ending at that block records", async () => {
  const meter = keyOf("meter-test", "p256");
  const anchor = (g: ChainBuilder, seq: number) =>
    g.tx("data.anchor", {
      stream: "meter-test/readings",
      seq,
      root: "00".repeat(32),
      count: 1,
      from: T0,
      to: T0 + 1,
    }, [meter]);
  const spec = (blocks: number) => ({
    name: `test ${blocks}`,
    file: new URL("./golden/never_written.json", import.meta.url),
    about: "test",
    genesis: goldenGenesis,
    siteKey: keyOf("site-a"),
    script: async (g: ChainBuilder) => {
      for (let i = 0; i < blocks; i++) {
        await g.block(`anchor ${i}`, [[await anchor(g, i), "applied"]]);
      }
    },
  });
  const short = await buildChain(spec(1));
  const long = await buildChain(spec(2), { stateAfter: 1 });
  assert.ok(long.stateAfter !== undefined, "the state after block 1 was read");
  assert.deepEqual(long.stateAfter, {
    state: short.chain.final.state,
    stateRows: short.chain.final.stateRows,
  });
  assert.notDeepEqual(long.stateAfter.state, long.chain.final.state);
  assert.equal(changesRecorded(short.chain, long.chain, long.stateAfter), undefined);
});
