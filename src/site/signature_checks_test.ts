import assert from "node:assert/strict";
import {
  createEnvelope,
  type Envelope,
  signEnvelope,
  signingPayload,
  verifyEnvelopeSignatures,
} from "../../sdk/envelope.ts";
import { generateKeyPair, softwareSigner } from "../../sdk/keys.ts";
import { anchorTx } from "../../test/_helpers.ts";
import { fastPathsAccept, SignatureChecks } from "./signature_checks.ts";
import { type VerifySignatures, verifySignaturesHere } from "./signature_pool.ts";

/** Flips one character of signature 0 (still valid base64url). */
function forged(env: Envelope): Envelope {
  const sig = env.sigs[0];
  return { ...env, sigs: [sig.slice(0, 10) + (sig[10] === "A" ? "B" : "A") + sig.slice(11)] };
}

/** A verifier of the slow answers that counts what it is sent, answering as the worker would. */
function countingVerifier(fail = false) {
  const sent: number[] = [];
  const verify: VerifySignatures = (jobs) => {
    sent.push(jobs.length);
    return fail ? Promise.reject(new Error("worker died")) : verifySignaturesHere(jobs);
  };
  return { sent, make: () => ({ verify, close() {} }) };
}

Deno.test("SignatureChecks: an honest Ed25519 or P-256 envelope is answered by the fast paths on this thread; the worker is never started", async () => {
  const v = countingVerifier();
  const checks = new SignatureChecks({ makeVerifier: v.make });
  for (const alg of ["ed25519", "p256"] as const) {
    const env = await anchorTx(generateKeyPair(alg));
    assert.equal(await fastPathsAccept(env, signingPayload(env)), true, alg);
    assert.deepEqual(await checks.check(env, signingPayload(env)), { ok: true }, alg);
  }
  assert.deepEqual(v.sent, []);
  assert.equal(checks.slowChecks, 0);
  checks.close();
});

Deno.test("SignatureChecks: a forged signature, and every secp256k1 one, is judged by the reference on the worker: refused and accepted as the reference says", async () => {
  const v = countingVerifier();
  const checks = new SignatureChecks({ makeVerifier: v.make });
  const ed = await anchorTx(generateKeyPair("ed25519"));
  const bad = forged(ed);
  const verdict = await checks.check(bad, signingPayload(bad));
  assert.equal(verdict.ok, false);
  assert.match(
    (verdict as { reason: string }).reason,
    /^Signature 0 by did:key:\S+ does not verify$/,
  );
  const k1 = await anchorTx(generateKeyPair("secp256k1"));
  assert.deepEqual(await checks.check(k1, signingPayload(k1)), { ok: true });
  const badK1 = forged(k1);
  assert.equal((await checks.check(badK1, signingPayload(badK1))).ok, false);
  assert.deepEqual(v.sent, [1, 1, 1]);
  assert.equal(checks.slowChecks, 3);
  checks.close();
});

Deno.test("SignatureChecks: when the worker fails, the envelope is checked on this thread with the same answer, and so is every later one", async () => {
  const v = countingVerifier(true);
  const checks = new SignatureChecks({ makeVerifier: v.make });
  const env = await anchorTx(generateKeyPair("secp256k1"));
  assert.deepEqual(await checks.check(env, signingPayload(env)), { ok: true });
  const bad = forged(env);
  assert.equal((await checks.check(bad, signingPayload(bad))).ok, false);
  assert.deepEqual(v.sent, [1], "a failed worker is not asked again");
  checks.close();
});

Deno.test("SignatureChecks: with its own worker thread (the default), a forged signature is refused and a valid secp256k1 one accepted; closed, it checks here", async () => {
  const checks = new SignatureChecks();
  try {
    const env = await anchorTx(generateKeyPair("ed25519"));
    const bad = forged(env);
    assert.equal((await checks.check(bad, signingPayload(bad))).ok, false);
    const k1 = await anchorTx(generateKeyPair("secp256k1"));
    assert.deepEqual(await checks.check(k1, signingPayload(k1)), { ok: true });
  } finally {
    checks.close();
  }
  const after = await anchorTx(generateKeyPair("secp256k1"));
  assert.deepEqual(await checks.check(after, signingPayload(after)), { ok: true });
});

Deno.test("SignatureChecks: a refusal judged on the worker names the failing signature as the reference does (its index and reason), not always the first", async () => {
  const checks = new SignatureChecks({ makeVerifier: countingVerifier().make });
  const [a, b] = [generateKeyPair("ed25519"), generateKeyPair("ed25519")];
  const env = await signEnvelope(
    createEnvelope({
      ledger: "demo",
      kind: "data.anchor",
      body: { stream: "s", seq: 0, root: "ab".repeat(32), count: 1, from: 0, to: 1 },
      signers: [a.did, b.did],
      ttlMs: 60_000,
    }),
    [softwareSigner(a), softwareSigner(b)],
  );
  const sig = env.sigs[1];
  const bad = {
    ...env,
    sigs: [env.sigs[0], sig.slice(0, 10) + (sig[10] === "A" ? "B" : "A") + sig.slice(11)],
  };
  const reference = await verifyEnvelopeSignatures(bad, signingPayload(bad));
  assert.equal(reference.ok, false);
  assert.equal((reference as { index: number }).index, 1);
  assert.deepEqual(await checks.check(bad, signingPayload(bad)), reference);
  assert.equal(checks.slowChecks, 1);
  checks.close();
});
