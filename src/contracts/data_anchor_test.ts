/**
 * Unit tests of `data.anchor`'s record of who anchored, under each rules
 * version.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../sdk/keys.ts";
import { Rejection, type StateAccess } from "./contract.ts";
import { ANCHOR_NS, anchorKey, type AnchorRecord, dataAnchor, STREAM_NS } from "./data_anchor.ts";
import { IDENTITY_STATUS_NS, type KeyStatusRecord } from "./gov.ts";
import { applyDeclared, memoryState } from "./_memory_state.ts";

const owner = generateKeyPair().did;
const ownerNext = generateKeyPair().did;
const stranger = generateKeyPair().did;

/** Stream `t/1` anchored once (seq 1) by `owner`, whose device rotated to `ownerNext`. */
function ledger(rules: number): StateAccess {
  const rotated: KeyStatusRecord = {
    status: "active",
    device: "a/truck-1",
    org: "orga",
    earlierKeys: [owner],
  };
  const state = memoryState([[IDENTITY_STATUS_NS, ownerNext, rotated]]);
  anchor(1, [owner], rules, state);
  return state;
}

function anchor(seq: number, signers: string[], rules: number, state: StateAccess) {
  const body = { stream: "t/1", seq, root: "ab".repeat(32), count: 1, from: 0, to: 1 };
  return applyDeclared(dataAnchor, body, signers, rules, state);
}

function signerOf(state: StateAccess, seq: number): string | undefined {
  return state.get<AnchorRecord>(ANCHOR_NS, anchorKey("t/1", seq))?.signer;
}

Deno.test("data.anchor (rules 4): an anchor records the key that acted for the stream's owner, not a co-signer listed first", () => {
  const state = ledger(4);
  assert.equal(signerOf(state, 1), owner, "a new stream's first signer is its owner");
  anchor(2, [stranger, owner], 4, state);
  assert.equal(signerOf(state, 2), owner);
  anchor(3, [stranger, ownerNext], 4, state);
  assert.equal(signerOf(state, 3), ownerNext, "the owner's device's current key acted");
  assert.equal(state.get<{ owner: string }>(STREAM_NS, "t/1")?.owner, owner);
});

Deno.test("data.anchor (rules 1 to 3): an anchor records the envelope's first signer, as recorded chains decided (pinned)", () => {
  for (const rules of [1, 2, 3]) {
    const state = ledger(rules);
    anchor(2, [stranger, owner], rules, state);
    assert.equal(signerOf(state, 2), stranger, `rules ${rules}`);
    anchor(3, [stranger, ownerNext], rules, state);
    assert.equal(signerOf(state, 3), stranger, `rules ${rules}`);
  }
});

Deno.test("data.anchor: a stream takes anchors only from its owner's keys, under every rules version", () => {
  for (const rules of [1, 3, 4]) {
    const state = ledger(rules);
    assert.throws(
      () => anchor(2, [stranger], rules, state),
      (e) => e instanceof Rejection && e.code === "stream_not_owner",
    );
    assert.equal(signerOf(state, 2), undefined);
  }
});
