import assert from "node:assert/strict";
import { ed25519 } from "@noble/curves/ed25519.js";
import { generateKeyPair } from "../../sdk/keys.ts";
import { verifySignatureReference } from "../../sdk/signature.ts";
import { nativeEd25519Signer, verifyEd25519Native } from "./native_ed25519.ts";

Deno.test("nativeEd25519Signer signs byte-identically to the reference", () => {
  for (let i = 0; i < 50; i++) {
    const kp = generateKeyPair("ed25519");
    const sign = nativeEd25519Signer(kp.secretKey);
    assert.ok(sign, "node:crypto signs Ed25519 on this platform");
    const message = crypto.getRandomValues(new Uint8Array(i * 41));
    assert.deepEqual(sign(message), ed25519.sign(message, kp.secretKey));
  }
});

Deno.test("verifyEd25519Native agrees with the reference on 500 valid signatures and their bit flips", () => {
  for (let i = 0; i < 500; i++) {
    const kp = generateKeyPair("ed25519");
    const message = crypto.getRandomValues(new Uint8Array(1 + (i % 300)));
    const sig = ed25519.sign(message, kp.secretKey);
    assert.equal(verifyEd25519Native(kp.publicKey, message, sig), true);
    const flipped = sig.slice();
    flipped[i % 64] ^= 1 << (i % 8);
    const m2 = message.slice();
    m2[i % m2.length] ^= 1;
    for (const [pk, m, s] of [[kp.publicKey, message, flipped], [kp.publicKey, m2, sig]]) {
      assert.equal(verifyEd25519Native(pk, m, s), verifySignatureReference("ed25519", pk, m, s));
    }
  }
});

Deno.test("verifyEd25519Native refuses S >= L, a small-order key and malformed sizes, as the reference does", () => {
  const kp = generateKeyPair("ed25519");
  const message = new TextEncoder().encode("edge");
  const sig = ed25519.sign(message, kp.secretKey);
  // S + L: the same signature with a non-reduced scalar.
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]);
  s += L;
  const big = sig.slice();
  for (let i = 0; i < 32; i++) big[32 + i] = Number((s >> BigInt(8 * i)) & 0xffn);
  assert.equal(verifyEd25519Native(kp.publicKey, message, big), false);
  const identity = new Uint8Array(32);
  identity[0] = 1; // the neutral point, of small order
  assert.equal(verifyEd25519Native(identity, message, sig), false);
  assert.equal(verifyEd25519Native(kp.publicKey.slice(1), message, sig), false);
  assert.equal(verifyEd25519Native(kp.publicKey, message, sig.slice(1)), false);
});
