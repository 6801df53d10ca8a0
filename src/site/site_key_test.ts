import assert from "node:assert/strict";
import { ed25519 } from "@noble/curves/ed25519.js";
import { generateKeyPair } from "../../sdk/keys.ts";
import { SiteKey } from "./site_key.ts";

Deno.test("SiteKey signs byte-identically to the reference Ed25519 path, natively or not", async () => {
  for (let i = 0; i < 20; i++) {
    const kp = generateKeyPair("ed25519");
    const native = await SiteKey.create(kp);
    const reference = await SiteKey.create(kp, { native: false });
    assert.equal(reference.native, false);
    const message = crypto.getRandomValues(new Uint8Array(i * 37));
    const want = ed25519.sign(message, kp.secretKey);
    assert.deepEqual(await native.sign(message), want);
    assert.deepEqual(await reference.sign(message), want);
    assert.ok(ed25519.verify(await native.sign(message), message, kp.publicKey));
  }
});

Deno.test("SiteKey signs natively where the platform can (Deno does)", async () => {
  assert.equal((await SiteKey.create(generateKeyPair("ed25519"))).native, true);
});

Deno.test("SiteKey refuses a key that is not Ed25519", async () => {
  await assert.rejects(SiteKey.create(generateKeyPair("p256")), TypeError);
});
