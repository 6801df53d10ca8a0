import assert from "node:assert/strict";
import { base64urlDecode, base64urlEncode } from "../../sdk/encoding.ts";
import { signingPayload } from "../../sdk/envelope.ts";
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
