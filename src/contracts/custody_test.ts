/**
 * Unit tests of the `custody.*` contracts' anchor rule under each rules
 * version: what a cited sensor anchor must be for a step to apply.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../sdk/keys.ts";
import type { AnchorRef } from "../../sdk/kinds/custody.ts";
import { type Contract, Rejection, type StateAccess } from "./contract.ts";
import {
  custodyAttach,
  custodyCreate,
  custodyHandoff,
  ITEM_NS,
  type ItemState,
} from "./custody.ts";
import { ANCHOR_NS, anchorKey, dataAnchor, STREAM_NS } from "./data_anchor.ts";
import { applyDeclared as apply, memoryState } from "./_memory_state.ts";

const holder = generateKeyPair().did;
const taker = generateKeyPair().did;
const sensor = generateKeyPair().did;

/** Stream `t/1` with anchors seq 1 and 5 only (3 skipped), and item `c` held by `holder`. */
function ledger(rules: number): StateAccess {
  const state = memoryState([]);
  for (const seq of [1, 5]) {
    const body = { stream: "t/1", seq, root: "ab".repeat(32), count: 1, from: 0, to: 1 };
    apply(dataAnchor, body, [sensor], rules, state);
  }
  apply(custodyCreate, { item: "c", description: "Crate" }, [holder], rules, state);
  return state;
}

function attach(anchors: AnchorRef[], rules: number, state: StateAccess) {
  return apply(custodyAttach, { item: "c", step: 1, anchors }, [holder], rules, state);
}

function handoff(anchors: AnchorRef[], rules: number, state: StateAccess) {
  return apply(
    custodyHandoff,
    { item: "c", step: 1, from: holder, to: taker, anchors },
    [holder, taker],
    rules,
    state,
  );
}

function rejectsAnchorUnknown(f: () => unknown, detail: RegExp): void {
  assert.throws(f, (e) => {
    assert.ok(e instanceof Rejection);
    assert.equal(e.code, "custody_anchor_unknown");
    assert.match(e.message, detail);
    return true;
  });
}

Deno.test("custody (rules 1 and 2): a step citing a seq its stream skipped is applied, as recorded chains decided (pinned)", () => {
  for (const rules of [1, 2]) {
    for (const step of [attach, handoff]) {
      const state = ledger(rules);
      const out = step([{ stream: "t/1", seq: 3 }], rules, state);
      assert.equal(out.step, 1, `rules ${rules}, ${step.name}`);
      assert.equal(state.get<ItemState>(ITEM_NS, "c")?.steps, 2);
    }
  }
});

Deno.test("custody (rules 1 and 2): a step citing a seq above its stream's last, or an unknown stream, is rejected custody_anchor_unknown with the detail recorded chains hold", () => {
  for (const rules of [1, 2]) {
    const state = ledger(rules);
    rejectsAnchorUnknown(
      () => attach([{ stream: "t/1", seq: 6 }], rules, state),
      /^Cannot attach anchor 6 of stream "t\/1": no such anchor yet$/,
    );
    rejectsAnchorUnknown(
      () => handoff([{ stream: "t/2", seq: 0 }], rules, state),
      /^Cannot attach anchor 0 of stream "t\/2": no such anchor yet$/,
    );
  }
});

Deno.test("custody (rules 3): attach and handoff citing a seq the stream skipped are rejected custody_anchor_unknown and change nothing", () => {
  for (const step of [attach, handoff]) {
    const state = ledger(3);
    rejectsAnchorUnknown(
      () => step([{ stream: "t/1", seq: 5 }, { stream: "t/1", seq: 3 }], 3, state),
      /^Cannot attach anchor 3 of stream "t\/1": the stream has no anchor with seq 3$/,
    );
    const item = state.get<ItemState>(ITEM_NS, "c");
    assert.equal(item?.steps, 1, step.name);
    assert.equal(item?.holder, holder, step.name);
  }
});

Deno.test("custody (rules 3): a seq above the stream's last, a seq below its first and an unknown stream are rejected custody_anchor_unknown", () => {
  const state = ledger(3);
  for (
    const anchor of [{ stream: "t/1", seq: 6 }, { stream: "t/1", seq: 0 }, { stream: "x", seq: 1 }]
  ) {
    rejectsAnchorUnknown(() => attach([anchor], 3, state), /the stream has no anchor with seq/);
    rejectsAnchorUnknown(() => handoff([anchor], 3, state), /the stream has no anchor with seq/);
  }
});

Deno.test("custody: a step citing anchors that were made is applied under rules 1, 2 and 3", () => {
  for (const rules of [1, 2, 3]) {
    const state = ledger(rules);
    const anchors = [{ stream: "t/1", seq: 1 }, { stream: "t/1", seq: 5 }];
    assert.equal(attach(anchors, rules, state).step, 1);
    const out = apply(
      custodyHandoff,
      { item: "c", step: 2, from: holder, to: taker, anchors },
      [holder, taker],
      rules,
      state,
    );
    assert.equal(out.holder, taker, `rules ${rules}`);
  }
});

Deno.test("custody: touches declares each cited anchor's row and stream once, whatever the rules version (planning knows none)", () => {
  const anchors = [{ stream: "t/1", seq: 3 }, { stream: "t/1", seq: 3 }, { stream: "t/2", seq: 0 }];
  const views = [
    { kind: custodyAttach.kind, body: { item: "c", step: 1, anchors }, contract: custodyAttach },
    {
      kind: custodyHandoff.kind,
      body: { item: "c", step: 1, from: holder, to: taker, anchors },
      contract: custodyHandoff,
    },
  ] as const;
  for (const { kind, body, contract } of views) {
    const keys = (contract as Contract<typeof body>).touches({
      txId: "t",
      kind,
      body,
      signers: [holder, taker],
    });
    const of = (ns: string) => keys.filter((k) => k.ns === ns).map((k) => k.key);
    assert.deepEqual(of(STREAM_NS), ["t/1", "t/2"], kind);
    assert.deepEqual(of(ANCHOR_NS), [anchorKey("t/1", 3), anchorKey("t/2", 0)], kind);
  }
});
