/**
 * Unit tests of the signer gate shared by admission and apply.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../sdk/keys.ts";
import { base64urlEncode } from "../../sdk/encoding.ts";
import { AdmissionRefusal, Rejection } from "./contract.ts";
import { dataAnchor } from "./data_anchor.ts";
import {
  ADMIN_NS,
  CONSORTIUM_KEY,
  CONSORTIUM_NS,
  type ConsortiumRecord,
  govAddSite,
  govRemoveAdmin,
  govRemoveOrg,
  IDENTITY_STATUS_NS,
  joinedEpoch,
  ORG_NS,
  POLICY_KEY,
  POLICY_NS,
  SITE_NS,
  standingOf,
  withSignerGate,
} from "./gov.ts";
import { memoryState } from "./_memory_state.ts";

const body = { stream: "s", seq: 0, root: "ab".repeat(32), count: 1, from: 0, to: 0 };

function anchorBy(did: string) {
  return { txId: "t", kind: "data.anchor", body, signers: [did], time: 1, height: 1, rules: 1 };
}

Deno.test("standingOf() puts a revoked or quarantined key row above every role", () => {
  const k = generateKeyPair().did;
  const state = memoryState([
    [IDENTITY_STATUS_NS, k, { status: "quarantined", device: "a/x", org: "o" }],
    [ADMIN_NS, k, { org: "o", since: 0 }],
  ]);
  assert.equal(standingOf(k, (ns, key) => state.get(ns, key)), "quarantined");
  assert.equal(standingOf(generateKeyPair().did, (ns, key) => state.get(ns, key)), undefined);
});

Deno.test("withSignerGate() rejects a signer revoked earlier in the log with revoked_signer", () => {
  const gated = withSignerGate(dataAnchor);
  const k = generateKeyPair().did;
  const state = memoryState([
    [POLICY_NS, POLICY_KEY, {
      expiryWindowMs: 1000,
      openKinds: ["data.anchor"],
      quarantineOrgsMin: 2,
    }],
    [IDENTITY_STATUS_NS, k, { status: "revoked", device: "a/x", org: "o" }],
  ]);
  assert.throws(
    () => gated.apply(anchorBy(k), state),
    (e) => e instanceof Rejection && e.code === "revoked_signer",
  );
  assert.ok(gated.touches(anchorBy(k)).some((s) => s.ns === IDENTITY_STATUS_NS && s.key === k));
});

Deno.test("withSignerGate() rejects an unregistered signer of a kind that is not open, and applies when it is open", () => {
  const gated = withSignerGate(dataAnchor);
  const k = generateKeyPair().did;
  const closed = memoryState([
    [POLICY_NS, POLICY_KEY, { expiryWindowMs: 1000, openKinds: [], quarantineOrgsMin: 2 }],
  ]);
  assert.throws(
    () => gated.apply(anchorBy(k), closed),
    (e) => e instanceof Rejection && e.code === "unregistered_signer",
  );
  const open = memoryState([
    [POLICY_NS, POLICY_KEY, {
      expiryWindowMs: 1000,
      openKinds: ["data.anchor"],
      quarantineOrgsMin: 2,
    }],
  ]);
  assert.equal(gated.apply(anchorBy(k), open).owner, k);
});

/**
 * Organisations `ids` with one admin each (`admins[id]`) and nothing else,
 * under the consortium record `consortium` (its `orgs` are `ids`); `change`
 * applies a gov change at the next height under `rules`.
 */
function orgsWithOneAdmin(
  ids: string[],
  rules = 1,
  consortium: Omit<ConsortiumRecord, "orgs"> = {},
) {
  const admins = Object.fromEntries(ids.map((id) => [id, generateKeyPair().did]));
  const org = (id: string) => ({
    id,
    name: id,
    admins: [admins[id]],
    sites: [],
    authorities: [],
    since: 0,
  });
  const state = memoryState([
    [CONSORTIUM_NS, CONSORTIUM_KEY, { ...consortium, orgs: [...ids].sort() }],
    ...ids.map((id): [string, string, unknown] => [ADMIN_NS, admins[id], { org: id, since: 0 }]),
    ...ids.map((id): [string, string, unknown] => [ORG_NS, id, org(id)]),
    [POLICY_NS, POLICY_KEY, { expiryWindowMs: 1000, openKinds: [], quarantineOrgsMin: 2 }],
  ]);
  let height = 0;
  const change = (
    contract: typeof govRemoveOrg | typeof govRemoveAdmin | typeof govAddSite,
    body: object,
  ) =>
  (
    signers: string[],
  ) => {
    height += 1;
    const kind = contract.kind;
    return contract.apply(
      { txId: `t${height}`, kind, body: body as never, signers, time: height, height, rules },
      state,
    );
  };
  return { admins, state, change };
}

/** Organisations `org-a`, `org-b`, `org-c` with one admin each and nothing else. */
function threeOrgs(rules = 1) {
  const { admins, state, change } = orgsWithOneAdmin(["org-a", "org-b", "org-c"], rules);
  return { a: admins["org-a"], b: admins["org-b"], c: admins["org-c"], state, change };
}

Deno.test("gov: organisations leave one at a time — last admin, then the organisation — down to one", () => {
  const { a, b, c, state, change } = threeOrgs();
  change(govRemoveAdmin, { org: "org-b", did: b })([a, b]);
  change(govRemoveOrg, { id: "org-b" })([a, c]);
  change(govRemoveAdmin, { org: "org-c", did: c })([a, c]);
  change(govRemoveOrg, { id: "org-c" })([a]);
  assert.deepEqual(state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY)?.orgs, ["org-a"]);
});

Deno.test("gov (rules 1, known limit): once organisations without admins outnumber those with admins, no change reaches a majority, not even removing one of them", () => {
  const { a, b, c, change } = threeOrgs();
  // Both leaving organisations give up their last admin before either is removed...
  change(govRemoveAdmin, { org: "org-b", did: b })([a, b]);
  change(govRemoveAdmin, { org: "org-c", did: c })([a, c]);
  // ...and org-a, the only one that can still sign, is 1 of 3, or 1 of the 2 others.
  for (const id of ["org-b", "org-c"]) {
    assert.throws(
      () => change(govRemoveOrg, { id })([a]),
      (e) => e instanceof Rejection && e.code === "no_majority",
    );
  }
});

Deno.test("gov (rules 2): an organisation goes with its last admin, so organisations leaving together never lock governance", () => {
  const { a, b, c, state, change } = threeOrgs(2);
  // The same order that locks rules 1: both leaving organisations give up their last admin.
  assert.deepEqual(change(govRemoveAdmin, { org: "org-b", did: b })([a, b]), {
    org: "org-b",
    admin: b,
    orgRemoved: true,
    approvedBy: ["org-a", "org-b"],
  });
  assert.equal(state.get(ORG_NS, "org-b"), undefined);
  assert.equal(state.get(ADMIN_NS, b), undefined);
  assert.deepEqual(state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY)?.orgs, [
    "org-a",
    "org-c",
  ]);
  change(govRemoveAdmin, { org: "org-c", did: c })([a, c]);
  assert.deepEqual(state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY)?.orgs, ["org-a"]);
  // The only organisation left keeps its last admin: no one would govern the ledger.
  assert.throws(
    () => change(govRemoveAdmin, { org: "org-a", did: a })([a]),
    (e) => e instanceof Rejection && e.code === "last_admin" && /only organisation/.test(e.message),
  );
  assert.deepEqual(state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY)?.orgs, ["org-a"]);
});

Deno.test("gov (rules 2): an admin who is not the last leaves the organisation in place, as under rules 1", () => {
  const { a, b, state, change } = threeOrgs(2);
  const second = generateKeyPair().did;
  const org = state.get<{ admins: string[] }>(ORG_NS, "org-b")!;
  state.put(ORG_NS, "org-b", { ...org, admins: [b, second].sort() });
  state.put(ADMIN_NS, second, { org: "org-b", since: 0 });
  const result = change(govRemoveAdmin, { org: "org-b", did: b })([a, second]);
  assert.equal(result.orgRemoved, undefined);
  assert.deepEqual(state.get<{ admins: string[] }>(ORG_NS, "org-b")?.admins, [second]);
});

Deno.test("gov (rules 2): an organisation that goes with its last admin is a membership change — the epoch advances by one and its joined epoch is dropped, as gov.removeOrg does under rules 1", () => {
  // org-b joined at epoch 2 and org-c at 3 (after genesis); org-a is of genesis.
  const before = { epoch: 3, joined: { "org-b": 2, "org-c": 3 } };
  const ids = ["org-a", "org-b", "org-c"];
  const two = orgsWithOneAdmin(ids, 2, before);
  const [a, b] = ids.map((id) => two.admins[id]);
  two.change(govRemoveAdmin, { org: "org-b", did: b })([a, b]);
  const after = two.state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY)!;
  assert.deepEqual(after, { orgs: ["org-a", "org-c"], epoch: 4, joined: { "org-c": 3 } });
  assert.equal(joinedEpoch(after, "org-b"), undefined);
  assert.equal(joinedEpoch(after, "org-c"), 3);
  // The same record as rules 1 reaches in two changes: the last admin, then the organisation.
  const one = orgsWithOneAdmin(ids, 1, before);
  const [a1, b1, c1] = ids.map((id) => one.admins[id]);
  one.change(govRemoveAdmin, { org: "org-b", did: b1 })([a1, b1]);
  assert.deepEqual(
    one.state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY),
    { orgs: ids, ...before },
    "under rules 1 removing the last admin changes no membership",
  );
  one.change(govRemoveOrg, { id: "org-b" })([a1, c1]);
  assert.deepEqual(one.state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY), after);
});

Deno.test("gov (rules 2): once an organisation went with its last admin, majorities are counted among the organisations left", () => {
  const ids = ["org-a", "org-b", "org-c", "org-d"];
  const { admins, state, change } = orgsWithOneAdmin(ids, 2);
  const [a, b, c, d] = ids.map((id) => admins[id]);
  change(govRemoveAdmin, { org: "org-b", did: b })([a, b, c]);
  // 2 of the 3 left is a majority (it would not be of 4): org-d goes as org-b did.
  assert.deepEqual(change(govRemoveAdmin, { org: "org-d", did: d })([a, c]), {
    org: "org-d",
    admin: d,
    orgRemoved: true,
    approvedBy: ["org-a", "org-c"],
  });
  // 1 of the 2 left is not.
  assert.throws(
    () => change(govRemoveAdmin, { org: "org-c", did: c })([a]),
    (e) =>
      e instanceof Rejection && e.code === "no_majority" &&
      /approved by 1 of 2 organisations \(org-a\); a majority needs 2$/.test(e.message),
  );
  assert.deepEqual(state.get<ConsortiumRecord>(CONSORTIUM_NS, CONSORTIUM_KEY)?.orgs, [
    "org-a",
    "org-c",
  ]);
});

/** 32 zero bytes: an Ed25519 point of order 4, on the curve, that verifies no signature. */
const SMALL_ORDER_KEY = base64urlEncode(new Uint8Array(32));

function siteBody(name: string, publicKey: string) {
  return { name, org: "org-b", publicKey, url: `https://${name}.example.net` };
}

Deno.test("gov.addSite (rules 4): a site key of small order is rejected site_key_unusable and records nothing; a usable key is recorded", () => {
  const { a, b, state, change } = threeOrgs(4);
  assert.throws(
    () => change(govAddSite, siteBody("dead", SMALL_ORDER_KEY))([a, b]),
    (e) =>
      e instanceof Rejection && e.code === "site_key_unusable" &&
      /small order .*verifies no signature/.test(e.message),
  );
  assert.equal(state.get(SITE_NS, "dead"), undefined);
  const key = base64urlEncode(generateKeyPair().publicKey);
  assert.deepEqual(change(govAddSite, siteBody("site-b", key))([a, b]), {
    site: "site-b",
    org: "org-b",
    approvedBy: ["org-a", "org-b"],
  });
});

Deno.test("gov.addSite (rules 1 to 3): a site key of small order is recorded, as recorded chains decided (pinned)", () => {
  for (const rules of [1, 2, 3]) {
    const { a, b, state, change } = threeOrgs(rules);
    change(govAddSite, siteBody("dead", SMALL_ORDER_KEY))([a, b]);
    assert.equal(state.get<{ publicKey: string }>(SITE_NS, "dead")?.publicKey, SMALL_ORDER_KEY);
  }
});

Deno.test("gov.addSite: admission refuses a site key of small order as invalid_body under any rules, naming the site", () => {
  const { a, b } = threeOrgs();
  const view = (publicKey: string) => ({
    txId: "t",
    kind: "gov.addSite",
    body: siteBody("dead", publicKey),
    signers: [a, b],
  });
  assert.throws(
    () => govAddSite.authorize(view(SMALL_ORDER_KEY)),
    (e) =>
      e instanceof AdmissionRefusal && e.type === "invalid_body" &&
      /^Cannot add site dead: its publicKey is an Ed25519 point of small order/.test(e.message),
  );
  govAddSite.authorize(view(base64urlEncode(generateKeyPair().publicKey)));
});
