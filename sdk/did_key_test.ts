import assert from "node:assert/strict";
import { base58 } from "@scure/base";
import { p256 } from "@noble/curves/nist.js";
import {
  ALGORITHMS,
  decodeDidKey,
  DidKeyError,
  encodeDidKey,
  isDidKey,
  normalizePublicKey,
} from "./did_key.ts";
import { base64urlDecode, concatBytes, hexDecode, hexEncode } from "./encoding.ts";
import { generateKeyPair } from "./keys.ts";

Deno.test("decodeDidKey() decodes the published Ed25519 vector", () => {
  const { algorithm, publicKey } = decodeDidKey(
    "did:key:z6MkmjY8GnV5i9YTDtPETC2uUAW6ejw3nk5mXF5yci5ab7th",
  );
  assert.equal(algorithm, "ed25519");
  assert.deepEqual(publicKey, base58.decode("8HH5gYEeNc3z7PYXmd54d4x6qAfCNrqQqEB3nS7Zfu7K"));
  assert.equal(
    encodeDidKey("ed25519", publicKey),
    "did:key:z6MkmjY8GnV5i9YTDtPETC2uUAW6ejw3nk5mXF5yci5ab7th",
  );
});

Deno.test("encodeDidKey() matches the did:key P-256 test vectors (nist-curves.json)", () => {
  const vectors = [
    {
      did: "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv",
      x: "igrFmi0whuihKnj9R3Om1SoMph72wUGeFaBbzG2vzns",
      y: "efsX5b10x8yjyrj4ny3pGfLcY7Xby1KzgqOdqnsrJIM",
    },
    {
      did: "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169",
      x: "fyNYMN0976ci7xqiSdag3buk-ZCwgXU4kz9XNkBlNUI",
      y: "hW2ojTNfH7Jbi8--CJUo3OCbH3y5n91g-IMA9MLMbTU",
    },
  ];
  for (const v of vectors) {
    const uncompressed = concatBytes(
      new Uint8Array([4]),
      base64urlDecode(v.x),
      base64urlDecode(v.y),
    );
    assert.equal(encodeDidKey("p256", uncompressed), v.did, "uncompressed input is compressed");
    const decoded = decodeDidKey(v.did);
    assert.equal(decoded.algorithm, "p256");
    assert.equal(decoded.publicKey.length, 33);
    assert.deepEqual(decoded.publicKey.subarray(1), base64urlDecode(v.x));
    assert.equal(encodeDidKey("p256", decoded.publicKey), v.did);
  }
});

Deno.test("decodeDidKey() decodes the did:key secp256k1 test vectors", () => {
  const vectors = [
    [
      "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
      "03874c15c7fda20e539c6e5ba573c139884c351188799f5458b4b41f7924f235cd",
    ],
  ];
  for (const [did, key] of vectors) {
    const decoded = decodeDidKey(did);
    assert.equal(decoded.algorithm, "secp256k1");
    assert.equal(hexEncode(decoded.publicKey), key);
    assert.equal(encodeDidKey("secp256k1", hexDecode(key)), did);
  }
});

Deno.test("decodeDidKey() round-trips generated keys of every algorithm", () => {
  for (const alg of ALGORITHMS) {
    const kp = generateKeyPair(alg);
    assert.deepEqual(decodeDidKey(kp.did), { algorithm: alg, publicKey: kp.publicKey });
    assert.ok(isDidKey(kp.did));
  }
  assert.ok(encodeDidKey("ed25519", generateKeyPair().publicKey).startsWith("did:key:z6Mk"));
  assert.ok(encodeDidKey("p256", generateKeyPair("p256").publicKey).startsWith("did:key:zDn"));
  assert.ok(
    encodeDidKey("secp256k1", generateKeyPair("secp256k1").publicKey).startsWith("did:key:zQ3s"),
  );
});

function did(prefix: number[], key: Uint8Array): string {
  return "did:key:z" + base58.encode(concatBytes(new Uint8Array(prefix), key));
}

function offCurveX(): Uint8Array {
  for (let x = 1;; x++) {
    const enc = new Uint8Array(33);
    enc[0] = 2;
    enc[32] = x;
    try {
      p256.Point.fromBytes(enc);
    } catch {
      return enc;
    }
  }
}

Deno.test("decodeDidKey() rejects wrong prefixes, unknown multicodecs, wrong lengths and off-curve points", () => {
  const ed = generateKeyPair().publicKey;
  const ec = generateKeyPair("p256").publicKey;
  const cases: Array<[string, RegExp]> = [
    ["did:web:example.com", /did:key:/],
    ["did:key:" + base58.encode(concatBytes(new Uint8Array([0xed, 1]), ed)), /multibase/],
    ["did:key:m7QEG", /multibase/],
    ["did:key:z0OIl", /base58/],
    ["did:key:z", /varint/],
    [did([0xec, 0x01], ed), /unknown multicodec 0xec/], // x25519-pub
    [did([0xed, 0x81, 0x00], ed), /varint/], // non-minimal varint
    [did([0xed, 0x01], ed.subarray(1)), /32 bytes, got 31/],
    [did([0xed, 0x01], concatBytes(ed, new Uint8Array(1))), /32 bytes, got 33/],
    [did([0x80, 0x24], p256.Point.fromBytes(ec).toBytes(false)), /33 bytes, got 65/],
    [did([0x80, 0x24], offCurveX()), /not on the curve/],
    [did([0xed, 0x01], new Uint8Array(32).fill(0xff)), /canonical point/],
    [generateKeyPair().did + "#key-1", /base58/],
    ["did:key:z" + "1".repeat(200), /longer than/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => decodeDidKey(input), (e: unknown) => {
      assert.ok(e instanceof DidKeyError, input);
      assert.match((e as Error).message, message, input);
      return true;
    });
    assert.equal(isDidKey(input), false);
  }
  // deno-lint-ignore no-explicit-any
  assert.throws(() => decodeDidKey(42 as any), DidKeyError);
});

Deno.test("encodeDidKey() rejects wrong key lengths and off-curve ECDSA points", () => {
  assert.throws(() => encodeDidKey("ed25519", new Uint8Array(33)), DidKeyError);
  assert.throws(() => encodeDidKey("p256", new Uint8Array(32)), DidKeyError);
  assert.throws(() => encodeDidKey("p256", offCurveX()), DidKeyError);
  assert.throws(() => normalizePublicKey("secp256k1", new Uint8Array(65)), DidKeyError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => encodeDidKey("rsa" as any, new Uint8Array(32)), DidKeyError);
});

Deno.test("decodeDidKey() answers a repeated did from memory with an unshared copy", () => {
  const did = "did:key:zDnaerx9CtbPJ1q36T5Ln5wYt3MQYeGRG5ehnPAmxcf5mDZpv";
  const a = decodeDidKey(did);
  a.publicKey[0] ^= 0xff;
  const b = decodeDidKey(did);
  assert.notEqual(a.publicKey[0], b.publicKey[0], "mutating one answer does not change the next");
  assert.equal(b.algorithm, "p256");
  assert.throws(() => decodeDidKey("did:key:zBad"), DidKeyError);
  assert.throws(
    () => decodeDidKey("did:key:zBad"),
    DidKeyError,
    "a failure is not remembered as a success",
  );
});
