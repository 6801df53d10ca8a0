/**
 * Unit tests of rules versions: which version a block executes under, and
 * `gov.setRules` applied over in-memory state.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../sdk/keys.ts";
import { govSetRulesBody } from "../../sdk/kinds/gov.ts";
import { Rejection, type StateAccess } from "./contract.ts";
import {
  ADMIN_NS,
  CONSORTIUM_KEY,
  CONSORTIUM_NS,
  govSetPolicy,
  govSetRules,
  POLICY_KEY,
  POLICY_NS,
} from "./gov.ts";
import { builtinContracts, ContractRegistry } from "./mod.ts";
import {
  activationAt,
  checkRules,
  RULES_KEY,
  RULES_NS,
  RULES_VERSION_SUPPORTED,
  rulesAt,
  type RulesRecord,
  scheduledAfter,
  UnsupportedRulesError,
} from "./rules.ts";
import { memoryState } from "./_memory_state.ts";

const [adminA, adminB, adminC] = [
  generateKeyPair().did,
  generateKeyPair().did,
  generateKeyPair().did,
];

/** Three organisations, one admin each; `rules` as the rules record when given. */
function consortium(rules?: RulesRecord): StateAccess {
  return memoryState([
    [CONSORTIUM_NS, CONSORTIUM_KEY, { orgs: ["org-a", "org-b", "org-c"] }],
    [ADMIN_NS, adminA, { org: "org-a", since: 0 }],
    [ADMIN_NS, adminB, { org: "org-b", since: 0 }],
    [ADMIN_NS, adminC, { org: "org-c", since: 0 }],
    [POLICY_NS, POLICY_KEY, { expiryWindowMs: 1000, openKinds: [], quarantineOrgsMin: 2 }],
    ...(rules ? [[RULES_NS, RULES_KEY, rules] as [string, string, unknown]] : []),
  ]);
}

function setRules(version: number, height: number, at: number, signers = [adminA, adminB]) {
  return {
    txId: `t${at}`,
    kind: "gov.setRules",
    body: { version, height },
    signers,
    time: at,
    height: at,
    rules: 1,
  };
}

function rejectsWith(f: () => unknown, code: string): void {
  assert.throws(f, (e) => e instanceof Rejection && e.code === code);
}

Deno.test("rulesAt() is 1 without a record, the record's version before a scheduled height, and the scheduled version from that height on", () => {
  assert.equal(rulesAt(undefined, 0), 1);
  assert.equal(rulesAt(undefined, 1_000_000), 1);
  const record: RulesRecord = { version: 2, height: 0, scheduled: { version: 3, height: 10 } };
  assert.equal(rulesAt(record, 9), 2);
  assert.equal(rulesAt(record, 10), 3);
  assert.equal(rulesAt(record, 11), 3);
  assert.deepEqual(activationAt(record, 10), { version: 3, height: 10 });
  assert.deepEqual(scheduledAfter(record, 9), { version: 3, height: 10 });
  assert.equal(scheduledAfter(record, 10), undefined, "a reached activation waits no more");
});

Deno.test("checkRules() refuses a block whose version is above the supported one, naming the block, the activation and the supported version", () => {
  const record: RulesRecord = { version: 1, height: 0, scheduled: { version: 2, height: 7 } };
  assert.equal(checkRules(record, 6, 1), 1);
  assert.equal(checkRules(record, 7, 2), 2);
  assert.throws(
    () => checkRules(record, 7, 1),
    (e) =>
      e instanceof UnsupportedRulesError &&
      e.message ===
        "Cannot execute block 7: the ledger activated rules version 2 at height 7; this site " +
          "supports up to 1 — upgrade it",
  );
  assert.throws(() => checkRules(record, 12, 1), /Cannot execute block 12: .* at height 7;/);
});

Deno.test("the built-in registry supports exactly RULES_VERSION_SUPPORTED (today 4); a registry may be built for another", () => {
  assert.equal(RULES_VERSION_SUPPORTED, 4);
  assert.equal(builtinContracts().rulesSupported, 4);
  assert.equal(new ContractRegistry([], { rulesSupported: 4 }).rulesSupported, 4);
  assert.throws(() => new ContractRegistry([], { rulesSupported: 0 }), /rulesSupported 0/);
});

Deno.test("gov.setRules body: a version of at least 2 and a height of at least 1; nothing else", () => {
  assert.ok(govSetRulesBody.safeParse({ version: 2, height: 100 }).success);
  assert.equal(govSetRulesBody.safeParse({ version: 1, height: 100 }).success, false);
  assert.equal(govSetRulesBody.safeParse({ version: 2, height: 0 }).success, false);
  assert.equal(govSetRulesBody.safeParse({ version: 2.5, height: 100 }).success, false);
  assert.equal(govSetRulesBody.safeParse({ version: 2, height: 100, at: 1 }).success, false);
});

Deno.test("gov.setRules schedules a version above the one in force at a height above its block", () => {
  const state = consortium();
  const out = govSetRules.apply(setRules(2, 50, 10), state);
  assert.deepEqual(out.rules, { version: 2, height: 50 });
  assert.deepEqual(out.approvedBy, ["org-a", "org-b"]);
  assert.equal(out.replaced, undefined);
  assert.deepEqual(state.get(RULES_NS, RULES_KEY), {
    version: 1,
    height: 0,
    scheduled: { version: 2, height: 50 },
  });
  // The next block is the earliest height.
  assert.deepEqual(govSetRules.apply(setRules(3, 11, 10), consortium()).rules, {
    version: 3,
    height: 11,
  });
});

Deno.test("gov.setRules rejects a height not above its own block with rules_height_not_future", () => {
  rejectsWith(
    () => govSetRules.apply(setRules(2, 10, 10), consortium()),
    "rules_height_not_future",
  );
  rejectsWith(() => govSetRules.apply(setRules(2, 3, 10), consortium()), "rules_height_not_future");
});

Deno.test("gov.setRules rejects a version not above the one in force or the one scheduled with rules_version_not_newer", () => {
  const inForce = consortium({ version: 3, height: 0 });
  rejectsWith(() => govSetRules.apply(setRules(2, 50, 10), inForce), "rules_version_not_newer");
  rejectsWith(() => govSetRules.apply(setRules(3, 50, 10), inForce), "rules_version_not_newer");
  const scheduled = consortium({ version: 1, height: 0, scheduled: { version: 4, height: 90 } });
  rejectsWith(() => govSetRules.apply(setRules(4, 95, 10), scheduled), "rules_version_not_newer");
  rejectsWith(() => govSetRules.apply(setRules(2, 95, 10), scheduled), "rules_version_not_newer");
});

Deno.test("gov.setRules with a higher version replaces the activation still waiting, so one waits at a time", () => {
  const state = consortium({ version: 1, height: 0, scheduled: { version: 2, height: 90 } });
  const out = govSetRules.apply(setRules(3, 60, 10), state);
  assert.deepEqual(out.replaced, { version: 2, height: 90 });
  assert.deepEqual(state.get(RULES_NS, RULES_KEY), {
    version: 1,
    height: 0,
    scheduled: { version: 3, height: 60 },
  });
});

Deno.test("gov.setRules folds an activation whose height was reached into the version in force", () => {
  const state = consortium({ version: 1, height: 0, scheduled: { version: 2, height: 20 } });
  // At block 30 version 2 is in force: 2 again is not newer, 3 is.
  rejectsWith(() => govSetRules.apply(setRules(2, 40, 30), state), "rules_version_not_newer");
  const out = govSetRules.apply(setRules(3, 40, 30), state);
  assert.equal(out.replaced, undefined, "a version in force is not replaced");
  assert.deepEqual(state.get(RULES_NS, RULES_KEY), {
    version: 2,
    height: 20,
    scheduled: { version: 3, height: 40 },
  });
});

Deno.test("gov.setRules needs admins of a majority of organisations (no_majority) and writes nothing without it", () => {
  const state = consortium();
  rejectsWith(() => govSetRules.apply(setRules(2, 50, 10, [adminA]), state), "no_majority");
  assert.equal(state.get(RULES_NS, RULES_KEY), undefined);
});

Deno.test("gov.setRules asks admission for the version it names; other gov kinds ask nothing", () => {
  assert.equal(govSetRules.rulesNeeded?.({ version: 7, height: 100 }), 7);
  assert.equal(govSetPolicy.rulesNeeded, undefined);
});
