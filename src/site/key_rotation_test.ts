import assert from "node:assert/strict";
import { base64urlEncode } from "../../sdk/encoding.ts";
import { generateKeyPair } from "../../sdk/keys.ts";
import { verifierKey } from "../../sdk/note.ts";
import {
  cosignKeysAt,
  decodeKeyChain,
  encodeKeyChain,
  keyAfterChain,
  type KeyRotation,
  memberKeysAt,
  type RetiredKey,
  RETIREMENT_RETRY_MS_MAX,
  RetirementPacer,
  rotationVerifies,
  signRotation,
} from "./key_rotation.ts";
import { keyChainHeaders, signPeerBody, verifyPeerRequest } from "./peers.ts";
import { SiteKey } from "./site_key.ts";

const keyOf = async () => await SiteKey.create(generateKeyPair("ed25519"));
const b64 = (k: SiteKey) => base64urlEncode(k.publicKey);

Deno.test("key rotation: a statement signed by the retiring key and by the new one verifies; one signature swapped, the name changed, or a key replaced does not", async () => {
  const [k1, k2, k3] = [await keyOf(), await keyOf(), await keyOf()];
  const r = await signRotation("site-b", k1, k2);
  assert.equal(r.previous, b64(k1));
  assert.equal(r.publicKey, b64(k2));
  assert.equal(rotationVerifies(r), true);
  assert.equal(rotationVerifies({ ...r, previousSig: r.newSig }), false, "the new key alone");
  assert.equal(rotationVerifies({ ...r, name: "site-c" }), false);
  assert.equal(rotationVerifies({ ...r, publicKey: b64(k3) }), false, "another new key");
  assert.equal(rotationVerifies({ ...r, publicKey: r.previous }), false, "no change");
  assert.equal(rotationVerifies({ ...r, previous: "short" }), false);
  assert.equal(rotationVerifies(null as unknown as KeyRotation), false);
});

Deno.test("key rotation: a chain is followed from the key a site knows, each step checked — through every later rotation, not from one it never held, not past a forged step", async () => {
  const [k1, k2, k3, evil] = [await keyOf(), await keyOf(), await keyOf(), await keyOf()];
  const chain = [await signRotation("site-b", k1, k2), await signRotation("site-b", k2, k3)];
  assert.equal(keyAfterChain("site-b", b64(k1), chain), b64(k3), "two rotations behind");
  assert.equal(keyAfterChain("site-b", b64(k2), chain), b64(k3), "one behind");
  assert.equal(keyAfterChain("site-b", b64(k3), chain), b64(k3), "up to date");
  assert.equal(keyAfterChain("site-b", b64(evil), chain), b64(evil), "not on the chain");
  assert.equal(keyAfterChain("site-c", b64(k1), chain), undefined, "another site's chain");
  // A step signed by the old key only (whoever took k2 cannot hand it to a key it lacks).
  const forged = { ...(await signRotation("site-b", k2, evil)), newSig: chain[1].newSig };
  assert.equal(keyAfterChain("site-b", b64(k1), [chain[0], forged]), undefined);
  // Header form: round trip; anything unreadable is no chain.
  assert.deepEqual(decodeKeyChain(encodeKeyChain(chain)), chain);
  assert.deepEqual(decodeKeyChain("not base64 json"), []);
  assert.deepEqual(decodeKeyChain(undefined), []);
});

Deno.test("key rotation: a peer request signed with a rotated key is taken by a site that has not applied the rotation when its chain leads there from the key it knows; without the chain, or with a chain to another key, it is refused", async () => {
  const [k1, k2, other] = [await keyOf(), await keyOf(), await keyOf()];
  const known = { name: "site-b", url: "http://127.0.0.1:1", publicKey: k1.publicKey };
  const members = (n: string) => (n === "site-b" ? known : undefined);
  k2.setChain([await signRotation("site-b", k1, k2)]);
  const body = JSON.stringify({ from: "site-b", messages: [] });
  const sig = await signPeerBody(body, k2);
  const chain = keyChainHeaders(k2)["x-edgeledger-key-chain"];
  assert.ok(chain);
  const peer = verifyPeerRequest("site-b", sig, body, members, undefined, chain);
  assert.equal(base64urlEncode(peer.publicKey), b64(k2), "authenticated as its new key");
  assert.throws(() => verifyPeerRequest("site-b", sig, body, members), /does not verify/);
  other.setChain([await signRotation("site-b", k1, other)]);
  assert.throws(
    () =>
      verifyPeerRequest(
        "site-b",
        sig,
        body,
        members,
        undefined,
        keyChainHeaders(other)["x-edgeledger-key-chain"],
      ),
    /does not verify/,
  );
  // A key never rotated sends no chain.
  assert.deepEqual(keyChainHeaders(k1), {});
});

Deno.test("key rotation: a checkpoint of block h verifies with the key a member holds and with each it retired at or after h", async () => {
  const [k1, k2, k3] = [await keyOf(), await keyOf(), await keyOf()];
  const m = {
    publicKey: k3.publicKey,
    retired: [{ publicKey: k1.publicKey, untilHeight: 10 }, {
      publicKey: k2.publicKey,
      untilHeight: 20,
    }],
  };
  const at = (h: number) => memberKeysAt(m, h).map((k) => base64urlEncode(k));
  assert.deepEqual(at(5), [b64(k3), b64(k1), b64(k2)]);
  assert.deepEqual(at(10), [b64(k3), b64(k1), b64(k2)]);
  assert.deepEqual(at(11), [b64(k3), b64(k2)]);
  assert.deepEqual(at(21), [b64(k3)]);
});

Deno.test("key rotation: a retirement publication that failed is tried again at the next chance, unless the leader answered 404 — then only after a pause doubling from one election timeout up to five minutes, or at once with a new leader; a success or a new rotation forgets the pause", () => {
  const pacer = new RetirementPacer(1000);
  assert.equal(pacer.mayTry(0, "site-a"), true);
  // No leader reached, a timeout: the next watch tries again.
  assert.equal(pacer.failed(0, "site-a", false), 0);
  assert.equal(pacer.mayTry(0, "site-a"), true);
  // A leader without the route: 1, 2, 4 … s, at most five minutes.
  const pauses: number[] = [];
  let now = 0;
  for (let i = 0; i < 12; i++) {
    const pause = pacer.failed(now, "site-a", true);
    pauses.push(pause);
    assert.equal(pacer.mayTry(now + pause - 1, "site-a"), false, `try ${i} waits ${pause} ms`);
    assert.equal(pacer.mayTry(now + pause - 1, "site-c"), true, "a new leader is asked at once");
    now += pause;
    assert.equal(pacer.mayTry(now, "site-a"), true);
  }
  assert.deepEqual(pauses, [
    1000,
    2000,
    4000,
    8000,
    16000,
    32000,
    64000,
    128000,
    256000,
    RETIREMENT_RETRY_MS_MAX,
    RETIREMENT_RETRY_MS_MAX,
    RETIREMENT_RETRY_MS_MAX,
  ]);
  assert.equal(RETIREMENT_RETRY_MS_MAX, 300_000);
  // Another failure that is not a 404 ends the pause; a 404 then starts again from one timeout.
  assert.equal(pacer.failed(now, "site-a", false), 0);
  assert.equal(pacer.failed(now, "site-a", true), 1000);
  // A success (or a rotation just applied) forgets it.
  pacer.failed(now, "site-a", true);
  assert.equal(pacer.mayTry(now, "site-a"), false);
  pacer.reset();
  assert.equal(pacer.mayTry(now, "site-a"), true);
  assert.equal(pacer.failed(now, "site-a", true), 1000);
});

Deno.test("cosignKeysAt: asked when a line is checked, it gives the member's keys for the height then; the key the lines came with counts only while the member's key is still the one it had then, and never once retired", async () => {
  const [a, b, t] = await Promise.all(
    [0, 1, 2].map(() => SiteKey.create(generateKeyPair("ed25519"))),
  );
  const vk = (k: SiteKey) => verifierKey("site-b", k.publicKey);
  let member: { publicKey: Uint8Array; retired?: RetiredKey[] } | undefined = {
    publicKey: a.publicKey,
  };
  // Lines signed by t, a rotated key of site-b this site has not applied yet.
  const keysAt = cosignKeysAt("site-b", () => member, a.publicKey, t.publicKey);
  assert.deepEqual(keysAt(7), [vk(t), vk(a)]);
  // A rotation a → b applied since (a retired after height 5): t no longer counts, a only up to 5.
  member = { publicKey: b.publicKey, retired: [{ publicKey: a.publicKey, untilHeight: 5 }] };
  assert.deepEqual(keysAt(5), [vk(b), vk(a)]);
  assert.deepEqual(keysAt(6), [vk(b)]);
  // Lines that came with b before the rotation was applied here: b counts (it is the key now).
  const withB = cosignKeysAt("site-b", () => member, a.publicKey, b.publicKey);
  assert.deepEqual(withB(6), [vk(b)]);
  // A key the member retired never counts as the key the lines came with.
  const withA = cosignKeysAt("site-b", () => member, b.publicKey, a.publicKey);
  assert.deepEqual(withA(6), [vk(b)]);
  // No longer a member: no key.
  member = undefined;
  assert.deepEqual(keysAt(1), []);
});
