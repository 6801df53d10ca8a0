import assert from "node:assert/strict";
import { canonicalJson } from "../../sdk/canonical_json.ts";
import { generateKeyPair } from "../../sdk/keys.ts";
import { base64urlDecode, base64urlEncode } from "../../sdk/encoding.ts";
import { transactionId } from "../../sdk/envelope.ts";
import { builtinContracts } from "../contracts/mod.ts";
import { anchorTx } from "../../test/_helpers.ts";
import { checkSignatures, checkStateless } from "./admission.ts";
import { FIELD_ISSUE_CHARS_MAX, FIELD_ISSUES_MAX } from "../api/field_issues.ts";

const policy = { ledger: "demo", expiryWindowMs: 24 * 3600_000, envelopeBytesMax: 65536 };

Deno.test("checkStateless() measures the canonical envelope exactly, from the signing payload", async () => {
  for (const alg of ["ed25519", "p256", "secp256k1"] as const) {
    const env = await anchorTx(generateKeyPair(alg), { stream: "ünïcødé/" + alg });
    const admitted = checkStateless(env, Date.now(), policy, builtinContracts());
    assert.equal(admitted.bytes, new TextEncoder().encode(canonicalJson(env)).length, alg);
    assert.equal(admitted.txId, transactionId(env));
  }
});

Deno.test("checkStateless() refuses an envelope one byte over the limit", async () => {
  const env = await anchorTx(generateKeyPair("ed25519"));
  const size = new TextEncoder().encode(canonicalJson(env)).length;
  assert.doesNotThrow(() =>
    checkStateless(env, Date.now(), { ...policy, envelopeBytesMax: size }, builtinContracts())
  );
  assert.throws(
    () =>
      checkStateless(
        env,
        Date.now(),
        { ...policy, envelopeBytesMax: size - 1 },
        builtinContracts(),
      ),
    (e) => (e as { type?: string }).type === "envelope_too_large",
  );
});

Deno.test("checkStateless() gives the JCS of the whole envelope, built from the signing text", async () => {
  for (const alg of ["ed25519", "p256", "secp256k1"] as const) {
    for (const stream of ["plain", "ünïcødé/€", 'quote"and\\slash', "\u2028line"]) {
      const env = await anchorTx(generateKeyPair(alg), { stream });
      const admitted = checkStateless(env, Date.now(), policy, builtinContracts());
      assert.equal(admitted.envelopeJson, canonicalJson(env), `${alg} ${stream}`);
    }
  }
});

Deno.test("checkSignatures() refuses a tampered signature with a detail that says so once", async () => {
  for (const alg of ["ed25519", "p256", "secp256k1"] as const) {
    const key = generateKeyPair(alg);
    const env = await anchorTx(key);
    const sig = base64urlDecode(env.sigs[0]);
    sig[5] ^= 1;
    const tampered = { ...env, sigs: [base64urlEncode(sig)] };
    const admitted = checkStateless(tampered, Date.now(), policy, builtinContracts());
    await assert.rejects(checkSignatures(admitted), (e: Error & { type?: string }) => {
      assert.equal(e.type, "bad_signature", alg);
      assert.equal(e.message, `Signature 0 by ${env.signers[0]} does not verify`, alg);
      return true;
    });
  }
});

Deno.test("admission: a missing or an extra signature is bad_signature (DESIGN §2: a bad or missing signature), not a malformed envelope, with the txId", async () => {
  const env = await anchorTx(generateKeyPair("ed25519"));
  const cases: Array<[string[], string]> = [
    [[], `Signature 0 is missing`],
    [[env.sigs[0], env.sigs[0]], `Expected 1 signatures, got 2`],
  ];
  for (const [sigs, detail] of cases) {
    const admitted = checkStateless({ ...env, sigs }, Date.now(), policy, builtinContracts());
    await assert.rejects(
      checkSignatures(admitted),
      (e: Error & { type?: string; extra?: Record<string, unknown> }) => {
        assert.equal(e.type, "bad_signature", JSON.stringify(sigs));
        assert.equal(e.message, detail);
        assert.equal(e.extra?.txId, transactionId(env));
        return true;
      },
    );
  }
});

Deno.test("checkStateless() refuses a body that fails its kind's schema with a detail naming the bad field", async () => {
  const env = await anchorTx(generateKeyPair("ed25519"));
  const bad = { ...env, body: { ...(env.body as Record<string, unknown>), root: "XYZ" } };
  assert.throws(
    () => checkStateless(bad, Date.now(), policy, builtinContracts()),
    (e: Error & { type?: string; extra?: { errors?: { path: string }[] } }) => {
      assert.equal(e.type, "invalid_body");
      assert.match(e.message, /^Body does not match data\.anchor: body\.root: \S/);
      assert.equal(e.extra?.errors?.[0].path, "body.root");
      return true;
    },
  );
});

Deno.test("checkStateless() lists at most FIELD_ISSUES_MAX issues of an envelope or a body with thousands of bad fields, each message bounded; the detail still counts them all", async () => {
  const env = await anchorTx(generateKeyPair("ed25519"));
  const unknown = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]));
  const refusal = (raw: unknown) => {
    try {
      checkStateless(raw, Date.now(), policy, builtinContracts());
    } catch (e) {
      return e as Error & { type: string; extra: { errors: { path: string; message: string }[] } };
    }
    throw new Error("not refused");
  };
  const envelope = refusal({ ...env, ...unknown });
  assert.equal(envelope.type, "invalid_envelope");
  assert.ok(envelope.extra.errors.length <= FIELD_ISSUES_MAX);
  for (const e of envelope.extra.errors) assert.ok(e.message.length <= FIELD_ISSUE_CHARS_MAX);
  const badBody = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]));
  const body = refusal({ ...env, body: { ...(env.body as object), count: "x", ...badBody } });
  assert.equal(body.type, "invalid_body");
  assert.ok(body.extra.errors.length <= FIELD_ISSUES_MAX);
  for (const e of body.extra.errors) assert.ok(e.message.length <= FIELD_ISSUE_CHARS_MAX);
});

Deno.test("checkStateless() names this site's clock in an expiry refusal, so a device can tell whose clock is off", async () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const key = generateKeyPair("ed25519");
  const refusal = (env: unknown) => {
    try {
      checkStateless(env, now, policy, builtinContracts());
    } catch (e) {
      return e as Error & { type?: string };
    }
    assert.fail("admitted");
  };
  const past = refusal(await anchorTx(key, { expiresAt: now - 90_000 }));
  assert.equal(past.type, "expired");
  assert.match(past.message, /2026-01-01T11:58:30\.000Z/);
  assert.match(
    past.message,
    /this site's clock.* reads 1767268800000 \(2026-01-01T12:00:00\.000Z\)/,
  );
  const far = refusal(await anchorTx(key, { expiresAt: now + 25 * 3600_000 }));
  assert.equal(far.type, "expires_too_far");
  assert.match(far.message, /2026-01-02T13:00:00\.000Z/);
  assert.match(
    far.message,
    /this site's clock.* reads 1767268800000 \(2026-01-01T12:00:00\.000Z\)/,
  );
  // An expiry beyond what a date can show is still named, as a number.
  const huge = refusal(await anchorTx(key, { expiresAt: Number.MAX_SAFE_INTEGER }));
  assert.equal(huge.type, "expires_too_far");
  assert.match(huge.message, new RegExp(String(Number.MAX_SAFE_INTEGER)));
});
