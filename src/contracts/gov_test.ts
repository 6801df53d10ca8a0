/**
 * Unit tests of the signer gate shared by admission and apply.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../sdk/keys.ts";
import { Rejection } from "./contract.ts";
import { dataAnchor } from "./data_anchor.ts";
import {
  ADMIN_NS,
  IDENTITY_STATUS_NS,
  POLICY_KEY,
  POLICY_NS,
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
