import assert from "node:assert/strict";
import { base64urlEncode, utf8Encode } from "./encoding.ts";
import { generateKeyPair, type KeyPair, signSync } from "./keys.ts";
import {
  keyAfterChain,
  type KeyRetirement,
  type KeyRotation,
  retirementText,
  retirementVerifies,
  rotationText,
} from "./key_rotation.ts";

const b64 = (k: KeyPair) => base64urlEncode(k.publicKey);

function rotation(name: string, from: KeyPair, to: KeyPair): KeyRotation {
  const text = utf8Encode(rotationText(name, b64(from), b64(to)));
  return {
    name,
    previous: b64(from),
    publicKey: b64(to),
    previousSig: base64urlEncode(signSync(from, text)),
    newSig: base64urlEncode(signSync(to, text)),
  };
}

function retirement(name: string, retired: KeyPair, untilHeight: number, signer: KeyPair) {
  const text = utf8Encode(retirementText(name, b64(retired), untilHeight));
  return {
    publicKey: b64(retired),
    untilHeight,
    signer: b64(signer),
    signature: base64urlEncode(signSync(signer, text)),
  } satisfies KeyRetirement;
}

Deno.test("key retirement: the statement is the domain line, the site, the retired key and the height, each ending in a newline", () => {
  assert.equal(
    retirementText("site-b", "AAAA", 1402),
    "edgeledger/site-key-retirement/v1\nsite-b\nAAAA\n1402\n",
  );
});

Deno.test("key retirement: a retired key's last height verifies when signed by its successor or a later key of the chain — not by the retired key itself, a stranger, for another height or site, or past a forged step", () => {
  const [k0, k1, k2, stranger] = Array.from({ length: 4 }, () => generateKeyPair("ed25519"));
  const chain = [rotation("site-b", k0, k1), rotation("site-b", k1, k2)];
  assert.equal(retirementVerifies("site-b", retirement("site-b", k0, 10, k1), chain), true);
  assert.equal(
    retirementVerifies("site-b", retirement("site-b", k0, 10, k2), chain),
    true,
    "a later key",
  );
  assert.equal(retirementVerifies("site-b", retirement("site-b", k1, 20, k2), chain), true);
  assert.equal(
    retirementVerifies("site-b", retirement("site-b", k1, 20, k1), chain),
    false,
    "the retired key vouching for itself",
  );
  assert.equal(
    retirementVerifies("site-b", retirement("site-b", k1, 20, k0), chain),
    false,
    "an earlier key",
  );
  assert.equal(
    retirementVerifies("site-b", retirement("site-b", k0, 10, stranger), chain),
    false,
    "a key off the chain",
  );
  const signed = retirement("site-b", k0, 10, k1);
  assert.equal(retirementVerifies("site-b", { ...signed, untilHeight: 11 }, chain), false);
  assert.equal(retirementVerifies("site-c", signed, chain), false, "another site");
  assert.equal(retirementVerifies("site-b", { ...signed, untilHeight: -1 }, chain), false);
  assert.equal(retirementVerifies("site-b", null as unknown as KeyRetirement, chain), false);
  // A chain step the new key did not sign leads nowhere: k2 is no later key of k0's then.
  const forged = { ...chain[1], newSig: chain[1].previousSig };
  assert.equal(
    retirementVerifies("site-b", retirement("site-b", k0, 10, k2), [chain[0], forged]),
    false,
  );
  assert.equal(
    retirementVerifies("site-b", retirement("site-b", k0, 10, k1), [chain[0], forged]),
    true,
    "up to the forged step",
  );
});

Deno.test("key rotation: a chain that comes back to a key it passed is no chain — followed from that key it gives no key, the key cannot vouch for its own retirement through it — and a malformed step never throws", () => {
  const [a, b, c] = [0, 1, 2].map(() => generateKeyPair("ed25519"));
  const cycle = [rotation("site-b", a, b), rotation("site-b", b, a), rotation("site-b", a, c)];
  assert.equal(keyAfterChain("site-b", b64(a), cycle), undefined);
  assert.equal(keyAfterChain("site-b", b64(a), cycle.slice(0, 1)), b64(b), "the honest prefix");
  // a vouching for itself through the cycle; b, its true successor, still may.
  assert.equal(retirementVerifies("site-b", retirement("site-b", a, 4, a), cycle), false);
  assert.equal(retirementVerifies("site-b", retirement("site-b", a, 4, b), cycle), true);
  const malformed = [rotation("site-b", a, b), null, 7] as unknown as KeyRotation[];
  assert.equal(keyAfterChain("site-b", b64(a), malformed), undefined);
  assert.equal(keyAfterChain("site-b", b64(a), "no chain" as unknown as KeyRotation[]), b64(a));
  assert.equal(retirementVerifies("site-b", retirement("site-b", a, 4, b), malformed), true);
});
