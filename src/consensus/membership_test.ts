import assert from "node:assert/strict";
import { ConfChangeError } from "./errors.ts";
import {
  applyConfChange,
  confChangeProblem,
  ConfHistory,
  decodeConfChange,
  encodeConfChange,
  quorum,
} from "./membership.ts";
import type { Entry } from "./types.ts";

const base = { voters: ["a", "b", "c"], learners: [] };

function cc(index: number, type: "addLearner" | "promote" | "remove", node: string): Entry {
  return { index, term: 1, type: "confChange", data: encodeConfChange({ type, node }) };
}

Deno.test("membership: quorum is a strict majority", () => {
  assert.deepEqual([1, 2, 3, 4, 5].map(quorum), [1, 2, 2, 3, 3]);
});

Deno.test("membership: learners first, then promotion, then removal", () => {
  let cs = applyConfChange(base, { type: "addLearner", node: "d" });
  assert.deepEqual(cs, { voters: ["a", "b", "c"], learners: ["d"] });
  cs = applyConfChange(cs, { type: "promote", node: "d" });
  assert.deepEqual(cs, { voters: ["a", "b", "c", "d"], learners: [] });
  cs = applyConfChange(cs, { type: "remove", node: "a" });
  assert.deepEqual(cs.voters, ["b", "c", "d"]);
});

Deno.test("membership: invalid changes are refused with ConfChangeError", () => {
  assert.match(confChangeProblem(base, { type: "addLearner", node: "a" })!, /already a member/);
  assert.match(confChangeProblem(base, { type: "promote", node: "a" })!, /not a learner/);
  assert.match(confChangeProblem(base, { type: "remove", node: "z" })!, /not a member/);
  const one = { voters: ["a"], learners: [] };
  assert.throws(() => applyConfChange(one, { type: "remove", node: "a" }), ConfChangeError);
});

Deno.test("membership: a conf change round-trips through entry data", () => {
  const c = { type: "promote" as const, node: "site-7" };
  assert.deepEqual(decodeConfChange(encodeConfChange(c)), c);
});

Deno.test("ConfHistory: changes take effect when appended and roll back when truncated", () => {
  const h = new ConfHistory(0, base);
  h.appendEntries([cc(3, "addLearner", "d"), cc(5, "promote", "d")]);
  assert.deepEqual(h.current().voters, ["a", "b", "c", "d"]);
  assert.deepEqual(h.at(4).learners, ["d"]);
  assert.deepEqual(h.at(2), base);
  h.truncateFrom(5);
  assert.deepEqual(h.current(), { voters: ["a", "b", "c"], learners: ["d"] });
  h.prune(5);
  assert.equal(h.length, 1);
  assert.deepEqual(h.current().learners, ["d"]);
});
