import assert from "node:assert/strict";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { ALGORITHMS } from "./did_key.ts";
import { base64urlDecode, base64urlEncode, concatBytes, utf8Encode } from "./encoding.ts";
import {
  derToP1363,
  exportKey,
  generateKeyPair,
  hardwareSigner,
  importKey,
  KeyError,
  keyPairFromSecret,
  softwareSigner,
} from "./keys.ts";
import { verifySignature } from "./signature.ts";

const msg = utf8Encode("edgeledger/tx/v1\n{}");

Deno.test("softwareSigner() produces 64-byte signatures that verify, for every algorithm", async () => {
  for (const alg of ALGORITHMS) {
    const kp = generateKeyPair(alg);
    const signer = softwareSigner(kp);
    assert.equal(signer.did, kp.did);
    assert.equal(signer.algorithm, alg);
    const sig = await signer.sign(msg);
    assert.equal(sig.length, 64);
    assert.ok(await verifySignature(alg, kp.publicKey, msg, sig), alg);
    assert.equal(kp.secretKey.length, 32);
    assert.equal(kp.publicKey.length, alg === "ed25519" ? 32 : 33);
  }
});

Deno.test("keyPairFromSecret() is deterministic and rejects bad secrets", () => {
  const sk = new Uint8Array(32).fill(9);
  for (const alg of ALGORITHMS) {
    assert.deepEqual(keyPairFromSecret(alg, sk), keyPairFromSecret(alg, sk));
  }
  assert.throws(() => keyPairFromSecret("ed25519", new Uint8Array(31)), KeyError);
  assert.throws(() => keyPairFromSecret("p256", new Uint8Array(32)), KeyError); // scalar 0
  assert.throws(() => keyPairFromSecret("secp256k1", new Uint8Array(32).fill(0xff)), KeyError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => generateKeyPair("rsa" as any), KeyError);
});

Deno.test("importKey() reads the RFC 8037 Appendix A Ed25519 JWK", () => {
  const kp = importKey({
    kty: "OKP",
    crv: "Ed25519",
    d: "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
  });
  assert.equal(kp.algorithm, "ed25519");
  assert.equal(base64urlEncode(kp.publicKey), "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
});

Deno.test("importKey() reads the did:key P-256 vector JWK and derives its did:key", () => {
  const kp = importKey({
    kty: "EC",
    crv: "P-256",
    x: "igrFmi0whuihKnj9R3Om1SoMph72wUGeFaBbzG2vzns",
    y: "efsX5b10x8yjyrj4ny3pGfLcY7Xby1KzgqOdqnsrJIM",
    d: "gPh-VvVS8MbvKQ9LSVVmfnxnKjHn4Tqj0bmbpehRlpc",
  });
  assert.equal(kp.did, "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv");
});

Deno.test("exportKey() and importKey() round-trip every algorithm", () => {
  for (const alg of ALGORITHMS) {
    const kp = generateKeyPair(alg);
    const jwk = exportKey(kp);
    assert.equal(jwk.kty, alg === "ed25519" ? "OKP" : "EC");
    assert.equal(jwk.y === undefined, alg === "ed25519");
    assert.deepEqual(importKey(JSON.parse(JSON.stringify(jwk))), kp);
  }
});

Deno.test("importKey() rejects mismatched, incomplete or foreign JWKs", () => {
  const a = exportKey(generateKeyPair("p256"));
  const b = exportKey(generateKeyPair("p256"));
  const ed = exportKey(generateKeyPair());
  const bad: unknown[] = [
    null,
    "jwk",
    { ...a, x: b.x, y: b.y },
    { ...a, d: undefined },
    { ...a, crv: "P-384" },
    { ...a, kty: "OKP" },
    { ...ed, x: a.x },
    { ...ed, kid: b.kid },
    { ...a, y: base64urlEncode(new Uint8Array(31)) },
    { ...a, x: a.x + "=" },
    { kty: "RSA", n: "AQAB", e: "AQAB" },
  ];
  for (const jwk of bad) assert.throws(() => importKey(jwk), KeyError, JSON.stringify(jwk));
});

function der(r: Uint8Array, s: Uint8Array): Uint8Array {
  const int = (v: Uint8Array) => concatBytes(new Uint8Array([0x02, v.length]), v);
  const body = concatBytes(int(r), int(s));
  return concatBytes(new Uint8Array([0x30, body.length]), body);
}

Deno.test("derToP1363() converts DER from hardware to r||s", () => {
  const kp = generateKeyPair("p256");
  for (let i = 0; i < 50; i++) {
    const m = crypto.getRandomValues(new Uint8Array(20));
    const sig = p256.sign(m, kp.secretKey, { format: "der", lowS: false });
    const compact = p256.Signature.fromBytes(sig, "der").toBytes("compact");
    assert.deepEqual(derToP1363(sig), compact);
  }
  // Minimal encodings: a leading 0x00 only before a high bit, short values left-padded.
  const r = new Uint8Array([0x00, 0x80, ...new Uint8Array(31).fill(1)]);
  const s = new Uint8Array([0x05]);
  const out = derToP1363(der(r, s));
  assert.deepEqual(out.subarray(0, 32), r.subarray(1));
  assert.deepEqual(out.subarray(32), concatBytes(new Uint8Array(31), s));
});

Deno.test("derToP1363() rejects malformed or non-strict DER", () => {
  const one = new Uint8Array([1]);
  const good = der(new Uint8Array(32).fill(0x11), new Uint8Array(32).fill(0x22));
  const bad: Uint8Array[] = [
    new Uint8Array(64), // P1363, not DER
    concatBytes(good, new Uint8Array([0])), // trailing byte
    good.subarray(0, good.length - 1), // truncated
    der(new Uint8Array([0x00, 0x01]), one), // non-minimal r
    der(new Uint8Array([0x80]), one), // negative r
    der(new Uint8Array([0]), one), // r = 0
    der(one, new Uint8Array(33).fill(1)), // s > 256 bits
    der(new Uint8Array(), one), // empty INTEGER
    Uint8Array.from([0x31, ...good.subarray(1)]), // SET, not SEQUENCE
    Uint8Array.from([0x30, good[1] + 1, ...good.subarray(2)]), // wrong length
    Uint8Array.from([0x30, 0x81, ...good.subarray(1)]), // long-form length
  ];
  for (const b of bad) assert.throws(() => derToP1363(b), KeyError);
});

Deno.test("hardwareSigner() turns DER output of a P-256 / secp256k1 key into verifiable signatures", async () => {
  for (const [alg, curve] of [["p256", p256], ["secp256k1", secp256k1]] as const) {
    const kp = generateKeyPair(alg);
    const signer = hardwareSigner({
      did: kp.did,
      algorithm: alg,
      signDer: (m) => Promise.resolve(curve.sign(m, kp.secretKey, { format: "der", lowS: false })),
    });
    const sig = await signer.sign(msg);
    assert.equal(sig.length, 64);
    assert.ok(await verifySignature(alg, kp.publicKey, msg, sig));
  }
});

Deno.test("hardwareSigner() refuses a did:key of another algorithm", () => {
  const kp = generateKeyPair("ed25519");
  assert.throws(
    () => hardwareSigner({ did: kp.did, algorithm: "p256", signDer: () => Promise.resolve(msg) }),
    KeyError,
  );
  assert.throws(
    () =>
      hardwareSigner({ did: "did:web:x", algorithm: "p256", signDer: () => Promise.resolve(msg) }),
    KeyError,
  );
});

Deno.test("exportKey() emits base64url members that decode to 32 bytes", () => {
  const jwk = exportKey(generateKeyPair("secp256k1"));
  assert.equal(jwk.crv, "secp256k1");
  for (const k of ["x", "y", "d"] as const) assert.equal(base64urlDecode(jwk[k]!).length, 32);
});

Deno.test("hardwareSigner() given a 64-byte P1363 signature (WebCrypto's ECDSA output) says so and what to do, not only that the DER is malformed", async () => {
  const kp = generateKeyPair("p256");
  const signer = hardwareSigner({
    did: kp.did,
    algorithm: "p256",
    signDer: (m) => Promise.resolve(p256.sign(m, kp.secretKey, { format: "compact" })),
  });
  const e = await signer.sign(msg).catch((e) => e);
  assert.ok(e instanceof KeyError);
  assert.match(e.message, /64 bytes/);
  assert.match(e.message, /P1363/);
  assert.match(e.message, /Signer/);
});
