import assert from "node:assert/strict";
import { base64urlDecode, base64urlEncode } from "../../sdk/encoding.ts";
import { signingPayload, verifyEnvelopeSignatures } from "../../sdk/envelope.ts";
import { generateKeyPair } from "../../sdk/keys.ts";
import { anchorTx } from "../../test/_helpers.ts";
import { VerifyPool } from "./verify_pool.ts";

Deno.test("VerifyPool judges signatures as the main thread does, good and bad, for every algorithm", async () => {
  const pool = new VerifyPool(2);
  try {
    for (const alg of ["ed25519", "p256", "secp256k1"] as const) {
      const env = await anchorTx(generateKeyPair(alg));
      assert.deepEqual(await pool.verify(env, signingPayload(env)), { ok: true }, alg);
      const sig = base64urlDecode(env.sigs[0]);
      sig[3] ^= 1;
      const bad = { ...env, sigs: [base64urlEncode(sig)] };
      const verdict = await pool.verify(bad, signingPayload(bad));
      assert.equal(verdict.ok, false, alg);
    }
  } finally {
    pool.close();
  }
});

Deno.test("VerifyPool refuses work once closed", async () => {
  const pool = new VerifyPool(1);
  pool.close();
  const env = await anchorTx(generateKeyPair("ed25519"));
  await assert.rejects(() => pool.verify(env, signingPayload(env)), /shutting down/);
  assert.throws(() => new VerifyPool(0), RangeError);
});

Deno.test("VerifyPool answers many concurrent envelopes exactly as verifyEnvelopeSignatures does", async () => {
  const pool = new VerifyPool(2);
  try {
    const envs = [];
    for (let i = 0; i < 60; i++) {
      const env = await anchorTx(generateKeyPair(i % 3 === 0 ? "p256" : "ed25519"));
      if (i % 4 === 1) {
        const sig = base64urlDecode(env.sigs[0]);
        sig[i % 64] ^= 1;
        envs.push({ ...env, sigs: [base64urlEncode(sig)] });
      } else if (i % 7 === 2) {
        envs.push({ ...env, sigs: [] });
      } else envs.push(env);
    }
    const got = await Promise.all(envs.map((e) => pool.verify(e, signingPayload(e))));
    const want = await Promise.all(envs.map((e) => verifyEnvelopeSignatures(e)));
    assert.deepEqual(got, want);
  } finally {
    pool.close();
  }
});

Deno.test("VerifyPool matches each answer to its envelope when a worker gets several messages at once", async () => {
  // More jobs than one message holds, P-256 (awaited) and Ed25519 (not)
  // interleaved, a few bad: a worker gets several messages at once.
  const pool = new VerifyPool(1);
  try {
    const keys = [generateKeyPair("p256"), generateKeyPair("ed25519")];
    const base = await Promise.all(keys.map((k) => anchorTx(k)));
    const envs = Array.from({ length: 1500 }, (_, i) => {
      const env = base[i % 2];
      if (i % 5 !== 3) return env;
      const sig = base64urlDecode(env.sigs[0]);
      sig[10] ^= 1;
      return { ...env, sigs: [base64urlEncode(sig)] };
    });
    const got = await Promise.all(envs.map((e) => pool.verify(e, signingPayload(e))));
    got.forEach((v, i) => assert.equal(v.ok, i % 5 !== 3, `envelope ${i}`));
  } finally {
    pool.close();
  }
});
