/** The SDK's front door exports the DESIGN §2 verification surface with its exact signatures. */
import assert from "node:assert/strict";
import * as sdk from "./mod.ts";

Deno.test("sdk/mod.ts exports the DESIGN §2 verification surface", async () => {
  for (
    const name of [
      "canonicalJson",
      "transactionId",
      "verifySignature",
      "verifyInclusion",
      "verifyConsistency",
      "verifyNote",
    ] as const
  ) {
    assert.equal(typeof sdk[name], "function", name);
  }
  assert.equal(sdk.canonicalJson({ b: 1, a: 2 }), '{"a":2,"b":1}');
  const key = sdk.generateKeyPair("p256");
  const msg = new TextEncoder().encode("hello");
  const sig = await sdk.softwareSigner(key).sign(msg);
  assert.equal(await sdk.verifySignature("p256", key.publicKey, msg, sig), true);
  assert.equal(await sdk.verifySignature("ed25519", key.publicKey, msg, sig), false);
  assert.equal(sdk.verifyInclusion(new Uint8Array(32), 0, 1, [], new Uint8Array(31)), false);
  assert.equal(sdk.verifyConsistency(2, 1, [], new Uint8Array(32), new Uint8Array(32)), false);
  assert.deepEqual(sdk.verifyNote("not a note", []), []);
});
