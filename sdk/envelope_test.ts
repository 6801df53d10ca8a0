import assert from "node:assert/strict";
import { p256 } from "@noble/curves/nist.js";
import {
  addSignature,
  createEnvelope,
  type Envelope,
  ENVELOPE_BYTES_MAX,
  EnvelopeError,
  envelopeSchema,
  isFullySigned,
  parseEnvelope,
  signEnvelope,
  SIGNERS_MAX,
  signingPayload,
  transactionId,
  type UnsignedEnvelope,
  verifyEnvelopeSignatures,
} from "./envelope.ts";
import { base64urlDecode, base64urlEncode, utf8Decode } from "./encoding.ts";
import { generateKeyPair, keyPairFromSecret, type Signer, softwareSigner } from "./keys.ts";
import { sha256Hex } from "./hash.ts";

const NOW = 1_764_000_000_000;
const alice = softwareSigner(keyPairFromSecret("ed25519", new Uint8Array(32).fill(1)));
const bob = softwareSigner(keyPairFromSecret("p256", new Uint8Array(32).fill(2)));
const carol = softwareSigner(keyPairFromSecret("secp256k1", new Uint8Array(32).fill(3)));

function unsigned(
  signers: Signer[] = [alice],
  extra: Partial<Parameters<typeof createEnvelope>[0]> = {},
) {
  return createEnvelope({
    ledger: "demo",
    kind: "data.anchor",
    body: { stream: "s1", seq: 0, root: "ab".repeat(32), count: 1, from: NOW, to: NOW },
    signers: signers.map((s) => s.did),
    nonce: "AAECAwQFBgcICQoLDA0ODw",
    now: NOW,
    ...extra,
  });
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string) {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    assert.ok(e instanceof EnvelopeError, String(e));
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected EnvelopeError ${code}`);
}

Deno.test("signingPayload() is the domain line plus JCS of the envelope without sigs (golden vector)", async () => {
  const u = unsigned();
  const text = utf8Decode(signingPayload(u));
  assert.equal(
    text,
    "edgeledger/tx/v1\n" +
      '{"body":{"count":1,"from":1764000000000,"root":"' + "ab".repeat(32) +
      '","seq":0,"stream":"s1","to":1764000000000},"expiresAt":1764003600000,' +
      '"kind":"data.anchor","ledger":"demo","nonce":"AAECAwQFBgcICQoLDA0ODw",' +
      `"signers":["${alice.did}"],"v":1}`,
  );
  // Fixed cross-SDK vectors (the secret key is 32 bytes of 0x01; Ed25519 is deterministic).
  assert.equal(alice.did, "did:key:z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX");
  assert.equal(transactionId(u), sha256Hex(signingPayload(u)));
  assert.equal(
    transactionId(u),
    "a5e7717d35684010657b0bfa16bfa46ecb7ae4e93c5e21c3888c2d230a225030",
  );
  const env = await signEnvelope(u, [alice]);
  assert.deepEqual(env.sigs, [
    "E3B2LXS9xkaLcVVAE99viGVpWpdBgKEHfhXpG2qWUOedg2ipGetBaG4SXQ_K9o_5YFAEZWlM74yeOb8GDyveDg",
  ]);
  assert.equal(base64urlDecode(env.sigs[0]).length, 64);
});

Deno.test("transactionId() ignores sigs: unsigned, partial and signed forms share one id", async () => {
  const u = unsigned([alice, bob]);
  const partial = await addSignature(u, bob);
  const env = await signEnvelope(u, [alice, bob]);
  assert.equal(transactionId(u), transactionId(partial));
  assert.equal(transactionId(u), transactionId(env));
  assert.equal(transactionId({ ...env, sigs: [] }), transactionId(env));
  assert.notEqual(transactionId(u), transactionId({ ...u, expiresAt: u.expiresAt + 1 }));
  assert.match(transactionId(u), /^[0-9a-f]{64}$/);
});

Deno.test("signEnvelope() places each signature at its signer's index, whatever the order given", async () => {
  const u = unsigned([alice, bob, carol]);
  const env = await signEnvelope(u, [carol, alice, bob]);
  assert.deepEqual(await verifyEnvelopeSignatures(env), { ok: true });
  const swapped = { ...env, sigs: [env.sigs[1], env.sigs[0], env.sigs[2]] };
  const check = await verifyEnvelopeSignatures(swapped);
  assert.equal(check.ok, false);
  assert.equal(!check.ok && check.index, 0);
  assert.deepEqual(parseEnvelope(JSON.parse(JSON.stringify(env))), env);
});

Deno.test("signEnvelope() refuses signers that do not match the envelope's signers", async () => {
  const u = unsigned([alice, bob]);
  await expectCode(signEnvelope(u, [alice]), "signers_mismatch");
  await expectCode(signEnvelope(u, [alice, bob, carol]), "signers_mismatch");
  await expectCode(signEnvelope(u, [alice, alice]), "signers_mismatch");
  await expectCode(signEnvelope(u, [alice, carol]), "signers_mismatch");
});

Deno.test("signEnvelope() refuses a signer whose signature does not verify", async () => {
  const liar: Signer = { did: alice.did, algorithm: "ed25519", sign: (m) => bob.sign(m) };
  await expectCode(signEnvelope(unsigned(), [liar]), "bad_signature");
});

Deno.test("addSignature() collects signatures from several parties in any order", async () => {
  const u = unsigned([alice, bob, carol]);
  let p = await addSignature(u, carol);
  assert.deepEqual(p.sigs.map((s) => s !== null), [false, false, true]);
  assert.equal(isFullySigned(p), false);
  p = await addSignature(JSON.parse(JSON.stringify(p)), alice);
  assert.equal(isFullySigned(p), false);
  p = await addSignature(p, bob);
  assert.ok(isFullySigned(p));
  assert.deepEqual(await verifyEnvelopeSignatures(p), { ok: true });
  assert.deepEqual(parseEnvelope(p), p);
  await expectCode(addSignature(u, softwareSigner(generateKeyPair())), "signers_mismatch");
  assert.equal(isFullySigned(u), false);
});

Deno.test("verifyEnvelopeSignatures() reports the first failing index and never throws", async () => {
  const env = await signEnvelope(unsigned([alice, bob]), [alice, bob]);
  const cases: Array<[Envelope, number]> = [
    [{ ...env, body: { ...(env.body as object), seq: 1 } }, 0],
    [{ ...env, sigs: [env.sigs[0], env.sigs[0]] }, 1],
    [{ ...env, sigs: [env.sigs[0]] }, 1],
    [{ ...env, sigs: [env.sigs[0], env.sigs[1], env.sigs[1]] }, 2],
    [{ ...env, sigs: [env.sigs[0], "!!"] }, 1],
    // Changing signers changes the payload, so signature 0 fails first.
    [{ ...env, signers: [env.signers[0], "did:key:zBad"] }, 0],
    [{ ...env, signers: ["did:key:zBad", env.signers[1]] }, 0],
    [{ ...env, sigs: [base64urlEncode(new Uint8Array(64)), env.sigs[1]] }, 0],
    [{ ...env, signers: [] }, 0],
  ];
  for (const [bad, index] of cases) {
    const check = await verifyEnvelopeSignatures(bad);
    assert.equal(check.ok, false);
    assert.equal(!check.ok && check.index, index, !check.ok ? check.reason : "");
  }
  // deno-lint-ignore no-explicit-any
  const junk = await verifyEnvelopeSignatures(null as any);
  assert.equal(junk.ok, false);
  // deno-lint-ignore no-explicit-any
  assert.equal((await verifyEnvelopeSignatures({ ...env, body: 1n } as any)).ok, false);
});

Deno.test("parseEnvelope() refuses unknown fields, bad nonces and malformed fields (code 'schema')", async () => {
  const env = await signEnvelope(unsigned(), [alice]);
  const bad: unknown[] = [
    null,
    [],
    { ...env, extra: 1 },
    { ...env, v: 2 },
    { ...env, v: "1" },
    { ...env, nonce: base64urlEncode(new Uint8Array(15)) },
    { ...env, nonce: base64urlEncode(new Uint8Array(17)) },
    { ...env, nonce: "AAECAwQFBgcICQoLDA0ODw==" },
    { ...env, expiresAt: 1.5 },
    { ...env, expiresAt: "1764000000000" },
    { ...env, expiresAt: 2 ** 60 },
    { ...env, ledger: "" },
    { ...env, ledger: "Demo" },
    { ...env, ledger: "-demo" },
    { ...env, ledger: "a".repeat(65) },
    { ...env, kind: "data" },
    { ...env, kind: "Data.anchor" },
    { ...env, kind: "data.Anchor" },
    { ...env, kind: "data..anchor" },
    { ...env, kind: "data." + "a".repeat(60) },
    { ...env, signers: [] },
    { ...env, signers: [alice.did, alice.did], sigs: [env.sigs[0], env.sigs[0]] },
    { ...env, signers: ["did:web:example.com"] },
    { ...env, sigs: [] },
    { ...env, sigs: ["a+b"] },
    { ...env, body: undefined },
    (({ body: _b, ...rest }) => rest)(env),
    (({ nonce: _n, ...rest }) => rest)(env),
  ];
  for (const value of bad) {
    const e = await expectCode(() => parseEnvelope(value), "schema");
    assert.ok(e.issues.length > 0 || e.message.length > 0);
  }
  const many = Array.from({ length: SIGNERS_MAX + 1 }, () => generateKeyPair().did);
  await expectCode(
    () => parseEnvelope({ ...env, signers: many, sigs: many.map(() => "AA") }),
    "schema",
  );
  assert.ok(envelopeSchema.safeParse(env).success);
  assert.ok(parseEnvelope({ ...env, kind: "gov.addSite" }));
  assert.ok(parseEnvelope({ ...env, ledger: "a.b-c_9" }));
});

Deno.test("parseEnvelope() and createEnvelope() refuse envelopes over ENVELOPE_BYTES_MAX (code 'too_large')", async () => {
  const big = { blob: "x".repeat(ENVELOPE_BYTES_MAX) };
  await expectCode(() => unsigned([alice], { body: big }), "too_large");
  const env = await signEnvelope(unsigned(), [alice]);
  await expectCode(() => parseEnvelope({ ...env, body: big }), "too_large");
});

Deno.test("createEnvelope() defaults: random 16-byte nonce, 1 h TTL; explicit expiresAt wins", () => {
  const a = createEnvelope({
    ledger: "demo",
    kind: "data.anchor",
    body: {},
    signers: [alice.did],
    now: NOW,
  });
  const b = createEnvelope({
    ledger: "demo",
    kind: "data.anchor",
    body: {},
    signers: [alice.did],
    now: NOW,
  });
  assert.notEqual(a.nonce, b.nonce);
  assert.equal(base64urlDecode(a.nonce).length, 16);
  assert.equal(a.expiresAt, NOW + 3_600_000);
  const c: UnsignedEnvelope = unsigned([alice], { ttlMs: 5000 });
  assert.equal(c.expiresAt, NOW + 5000);
  assert.equal(unsigned([alice], { ttlMs: 5000, expiresAt: 42 }).expiresAt, 42);
  assert.ok(
    Math.abs(
      createEnvelope({ ledger: "demo", kind: "data.anchor", body: {}, signers: [alice.did] })
        .expiresAt - Date.now() - 3_600_000,
    ) < 5000,
  );
});

Deno.test("createEnvelope() refuses bodies JSON cannot carry and bad fields", async () => {
  await expectCode(() => unsigned([alice], { body: { n: NaN } }), "schema");
  await expectCode(() => unsigned([alice], { body: undefined }), "schema");
  await expectCode(() => unsigned([alice], { ledger: "UPPER" }), "schema");
  await expectCode(() => unsigned([alice], { nonce: "short" }), "schema");
  await expectCode(() => unsigned([]), "schema");
});

Deno.test("signEnvelope() names the likely mistake when an ECDSA Signer returns DER instead of the 64-byte P1363 r||s", async () => {
  const kp = generateKeyPair("p256");
  const derSigner: Signer = {
    did: kp.did,
    algorithm: "p256",
    sign: (m) => Promise.resolve(p256.sign(m, kp.secretKey, { format: "der" })),
  };
  const unsigned = createEnvelope({
    ledger: "demo",
    kind: "data.anchor",
    body: {},
    signers: [kp.did],
  });
  const e = await signEnvelope(unsigned, [derSigner]).catch((e) => e);
  assert.ok(e instanceof EnvelopeError);
  assert.equal(e.code, "bad_signature");
  assert.match(e.message, /DER/);
  assert.match(e.message, /hardwareSigner/);
});
