import assert from "node:assert/strict";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha512 } from "@noble/hashes/sha2.js";
import type { Algorithm } from "./did_key.ts";
import { concatBytes, hexDecode, hexEncode } from "./encoding.ts";
import { generateKeyPair, keyPairFromSecret, signSync } from "./keys.ts";
import {
  fastPathSupport,
  isCanonicalEd25519Encoding,
  setFastPathsEnabled,
  VERIFY_KEY_CACHE_ENTRIES_MAX,
  verifyEd25519With,
  verifyKeyCacheEntries,
  verifySignature,
  verifySignatureFastOnly,
  verifySignatureReference,
} from "./signature.ts";

const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;

function le32(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}
function leToBig(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
  return n;
}
function randomScalar(): bigint {
  return leToBig(crypto.getRandomValues(new Uint8Array(40))) % L;
}

/**
 * Builds an Ed25519 signature by hand so that R and A can carry torsion or
 * odd encodings: S = r + k·a mod L with k = SHA-512(Rbytes‖Abytes‖M) mod L.
 */
function forge(
  a: bigint,
  aBytes: Uint8Array,
  r: bigint,
  rBytes: Uint8Array,
  msg: Uint8Array,
  sOverride?: bigint,
) {
  const k = leToBig(sha512(concatBytes(rBytes, aBytes, msg))) % L;
  const s = sOverride ?? (r + k * a) % L;
  return concatBytes(rBytes, le32(s));
}

/** The eight points of small order, from a published order-8 point. */
const T8 = Point.fromBytes(
  hexDecode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
);
const TORSION: EdPoint[] = Array.from({ length: 8 }, (_, i) => T8.multiplyUnsafe(BigInt(i)));

/** Non-canonical encodings y+p (y < 19) that still decode to a point under ZIP-215 rules. */
function nonCanonicalEncodings(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let y = 0n; y < 19n; y++) {
    for (const sign of [0, 0x80]) {
      const enc = le32(y + P);
      enc[31] |= sign;
      try {
        Point.fromBytes(enc, true);
        out.push(enc);
      } catch { /* not on the curve */ }
    }
  }
  // "Negative zero": y = 1 or y = p−1 (x = 0) with the sign bit set.
  for (const y of [1n, P - 1n]) {
    const enc = le32(y);
    enc[31] |= 0x80;
    out.push(enc);
  }
  return out;
}

/**
 * Checks the fast||reference discipline on one input: verifySignature equals
 * the reference, and WebCrypto never says true where the reference says false.
 */
async function assertAgrees(
  alg: Algorithm,
  pk: Uint8Array,
  msg: Uint8Array,
  sig: Uint8Array,
  label: string,
) {
  const reference = verifySignatureReference(alg, pk, msg, sig);
  const combined = await verifySignature(alg, pk, msg, sig);
  assert.equal(combined, reference, `${label}: verifySignature must equal the reference`);
  if (alg === "ed25519" || alg === "p256") {
    const fast = await verifySignatureFastOnly(alg, pk, msg, sig);
    if (fast === true) {
      assert.ok(reference, `${label}: fast path accepted what the reference rejects`);
    }
  }
  return { reference, combined };
}

Deno.test("verifySignature(): WebCrypto fast paths exist on this platform", async () => {
  const support = await fastPathSupport();
  assert.ok(support.ed25519 && support.p256, JSON.stringify(support));
});

Deno.test("Ed25519 signing and both verification paths reproduce RFC 8032 §7.1 TEST 1 and TEST 2", async () => {
  const vectors = [
    [
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
      "",
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ],
    [
      "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
      "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
      "72",
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ],
  ];
  for (const [sk, pk, msgHex, sigHex] of vectors) {
    const kp = keyPairFromSecret("ed25519", hexDecode(sk));
    const msg = hexDecode(msgHex);
    assert.deepEqual(kp.publicKey, hexDecode(pk));
    assert.deepEqual(signSync(kp, msg), hexDecode(sigHex));
    assert.equal(verifySignatureReference("ed25519", kp.publicKey, msg, hexDecode(sigHex)), true);
    assert.equal(
      await verifySignatureFastOnly("ed25519", kp.publicKey, msg, hexDecode(sigHex)),
      true,
    );
    assert.equal(await verifySignature("ed25519", kp.publicKey, msg, hexDecode(sigHex)), true);
  }
});

Deno.test("verifySignature() Ed25519 fast path agrees with the reference on 2000 valid signatures and 1000 bit flips", async () => {
  const keys = Array.from({ length: 50 }, () => generateKeyPair("ed25519"));
  const samples: Array<[Uint8Array, Uint8Array, Uint8Array]> = [];
  for (let i = 0; i < 2000; i++) {
    const kp = keys[i % keys.length];
    const msg = crypto.getRandomValues(new Uint8Array(i % 97));
    const sig = signSync(kp, msg);
    samples.push([kp.publicKey, msg, sig]);
    const { reference } = await assertAgrees("ed25519", kp.publicKey, msg, sig, `valid #${i}`);
    assert.ok(reference);
    assert.equal(await verifySignatureFastOnly("ed25519", kp.publicKey, msg, sig), true);
  }
  for (let i = 0; i < 1000; i++) {
    const [pk0, msg0, sig0] = samples[i];
    const pk = pk0.slice(), msg = msg0.slice(), sig = sig0.slice();
    const target = [pk, msg.length > 0 ? msg : sig, sig][i % 3];
    const bit = Math.floor(Math.random() * target.length * 8);
    target[bit >> 3] ^= 1 << (bit & 7);
    const { reference } = await assertAgrees("ed25519", pk, msg, sig, `flip #${i}`);
    assert.equal(reference, false, `flip #${i} must not verify`);
  }
});

Deno.test("verifySignature() agrees with the reference on the 'Taming the many EdDSAs' vectors", async () => {
  // [message, public key, signature, strict RFC 8032 (noble zip215:false) verdict]
  const vectors: Array<[string, string, string, boolean]> = [
    [
      "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000",
      false,
    ],
    [
      "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
      "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
      false,
    ],
    [
      "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
      "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
      "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
      true,
    ],
    [
      "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
      "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
      "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
      true,
    ],
    [
      "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
      "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
      "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
      true,
    ],
    [
      "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
      "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
      "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
      true,
    ],
    [
      "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
      "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
      "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
      false,
    ],
    [
      "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
      "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
      false,
    ],
    [
      "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
      "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
      false,
    ],
    [
      "e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
      false,
    ],
    [
      "39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
      "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
      false,
    ],
  ];
  for (const [i, [m, pk, sig, want]] of vectors.entries()) {
    const { reference } = await assertAgrees(
      "ed25519",
      hexDecode(pk),
      hexDecode(m),
      hexDecode(sig),
      `taming #${i}`,
    );
    assert.equal(reference, want, `taming #${i}`);
    // A native verifier as permissive as ZIP-215 cannot make the guarded
    // path say anything but the strict reference's verdict.
    const permissive = (k: Uint8Array, msg: Uint8Array, s: Uint8Array) =>
      ed25519.verify(s, msg, k, { zip215: true });
    assert.equal(
      verifyEd25519With(permissive, hexDecode(pk), hexDecode(m), hexDecode(sig)),
      want,
      `taming #${i} through verifyEd25519With`,
    );
  }
});

Deno.test("verifySignature() rejects every small-order Ed25519 public key, as the reference does", async () => {
  const msg = new Uint8Array([1, 2, 3]);
  for (const [i, A] of TORSION.entries()) {
    const aBytes = A.toBytes();
    for (const R of TORSION) {
      // With A of small order, S = 0 and R = −[k]A satisfies even the cofactorless equation.
      const k = leToBig(sha512(concatBytes(R.toBytes(), aBytes, msg))) % L;
      for (
        const sig of [
          forge(0n, aBytes, 0n, R.toBytes(), msg, 0n),
          concatBytes(A.multiplyUnsafe(k).negate().toBytes(), le32(0n)),
        ]
      ) {
        const { reference } = await assertAgrees(
          "ed25519",
          aBytes,
          msg,
          sig,
          `small-order A #${i}`,
        );
        assert.equal(reference, false);
      }
    }
  }
});

Deno.test("verifySignature() accepts small-order R and mixed-torsion R exactly when the cofactored reference does", async () => {
  const kp = generateKeyPair("ed25519");
  const { scalar: a, pointBytes } = ed25519.utils.getExtendedPublicKey(kp.secretKey);
  const msg = new Uint8Array([9, 9]);
  for (const [i, T] of TORSION.entries()) {
    // Small-order R (r = 0): cofactored equation holds, cofactorless only for T = identity.
    const sigSmall = forge(a, pointBytes, 0n, T.toBytes(), msg);
    // Mixed-torsion R = [r]B + T.
    const r = randomScalar();
    const sigMixed = forge(a, pointBytes, r, Point.BASE.multiply(r).add(T).toBytes(), msg);
    for (
      const [label, sig] of [["small-order R", sigSmall], ["mixed-torsion R", sigMixed]] as const
    ) {
      const { reference, combined } = await assertAgrees(
        "ed25519",
        pointBytes,
        msg,
        sig,
        `${label} #${i}`,
      );
      assert.equal(reference, true, `${label} #${i}: the cofactored reference accepts`);
      assert.equal(combined, true);
    }
  }
});

Deno.test("verifySignature() follows the reference on mixed-torsion public keys", async () => {
  const msg = new Uint8Array([7]);
  for (const [i, T] of TORSION.entries()) {
    const a = randomScalar();
    const aBytes = Point.BASE.multiply(a).add(T).toBytes();
    const r = randomScalar();
    const sig = forge(a, aBytes, r, Point.BASE.multiply(r).toBytes(), msg);
    const { reference } = await assertAgrees("ed25519", aBytes, msg, sig, `mixed-torsion A #${i}`);
    assert.equal(reference, true, "cofactored verification accepts a mixed-torsion A");
  }
});

Deno.test("verifySignature() rejects non-canonical A and R encodings (y >= p, negative zero)", async () => {
  const kp = generateKeyPair("ed25519");
  const { scalar: a, pointBytes } = ed25519.utils.getExtendedPublicKey(kp.secretKey);
  const msg = new Uint8Array([4, 2]);
  const encodings = nonCanonicalEncodings();
  assert.ok(encodings.length >= 4, "found non-canonical encodings to test");
  for (const [i, enc] of encodings.entries()) {
    assert.equal(isCanonicalEd25519Encoding(enc), false);
    const decoded = Point.fromBytes(enc, true);
    // As R: S chosen so that the equation would hold for the decoded point if R were accepted.
    let sig: Uint8Array;
    if (decoded.isSmallOrder()) {
      sig = forge(a, pointBytes, 0n, enc, msg);
    } else {
      sig = forge(a, pointBytes, 0n, enc, msg, 0n);
    }
    const asR = await assertAgrees("ed25519", pointBytes, msg, sig, `non-canonical R #${i}`);
    assert.equal(asR.reference, false);
    // As A.
    const r = randomScalar();
    const sigA = forge(0n, enc, r, Point.BASE.multiply(r).toBytes(), msg);
    const asA = await assertAgrees("ed25519", enc, msg, sigA, `non-canonical A #${i}`);
    assert.equal(asA.reference, false);
  }
  // The identity encoded as y = p + 1 would verify under lenient decoding with S = k·a.
  const identityNonCanonical = le32(P + 1n);
  const sig = forge(a, pointBytes, 0n, identityNonCanonical, msg);
  assert.equal(ed25519.verify(sig, msg, pointBytes, { zip215: true }), true, "ZIP-215 accepts it");
  assert.equal(
    await verifySignature("ed25519", pointBytes, msg, sig),
    false,
    "strict RFC 8032 does not",
  );
});

Deno.test("verifySignature() rejects Ed25519 signatures with S >= L, including S = L + s", async () => {
  const kp = generateKeyPair("ed25519");
  const msg = new Uint8Array([5]);
  const sig = signSync(kp, msg);
  const s = leToBig(sig.subarray(32));
  for (const bad of [s + L, L, (1n << 256n) - 1n, s + 2n * L]) {
    if (bad >= 1n << 256n) continue;
    const forged = concatBytes(sig.subarray(0, 32), le32(bad));
    const { reference } = await assertAgrees("ed25519", kp.publicKey, msg, forged, `S=${bad}`);
    assert.equal(reference, false);
    assert.equal(await verifySignatureFastOnly("ed25519", kp.publicKey, msg, forged), null);
  }
  assert.ok(await verifySignature("ed25519", kp.publicKey, msg, sig));
});

Deno.test("verifySignature() never throws and returns false for malformed input", async () => {
  const kp = generateKeyPair("ed25519");
  const msg = new Uint8Array([1]);
  const sig = signSync(kp, msg);
  const junk: unknown[] = [null, undefined, "abc", 12, {}, [1, 2], new ArrayBuffer(32)];
  for (const alg of ["ed25519", "p256", "secp256k1", "rsa", 7] as Algorithm[]) {
    for (const j of junk) {
      // deno-lint-ignore no-explicit-any
      const x = j as any;
      assert.equal(await verifySignature(alg, x, msg, sig), false);
      assert.equal(await verifySignature(alg, kp.publicKey, x, sig), false);
      assert.equal(await verifySignature(alg, kp.publicKey, msg, x), false);
      assert.equal(verifySignatureReference(alg, x, msg, sig), false);
    }
    assert.equal(await verifySignature(alg, kp.publicKey.subarray(1), msg, sig), false);
    assert.equal(await verifySignature(alg, kp.publicKey, msg, sig.subarray(1)), false);
    assert.equal(
      await verifySignature(alg, kp.publicKey, msg, concatBytes(sig, new Uint8Array(1))),
      false,
    );
  }
});

for (const [alg, curve] of [["p256", p256], ["secp256k1", secp256k1]] as const) {
  const n = curve.Point.Fn.ORDER;
  const sign = (sk: Uint8Array, msg: Uint8Array) =>
    signSync({ algorithm: alg, secretKey: sk, publicKey: new Uint8Array(), did: "" }, msg);

  Deno.test(`verifySignature() ${alg}: accepts high-S and low-S, compressed and uncompressed keys`, async () => {
    for (let i = 0; i < 20; i++) {
      const kp = generateKeyPair(alg);
      const msg = crypto.getRandomValues(new Uint8Array(i * 3));
      const sig = sign(kp.secretKey, msg);
      const r = sig.subarray(0, 32);
      const s = BigInt(
        "0x" + Array.from(sig.subarray(32), (b) => b.toString(16).padStart(2, "0")).join(""),
      );
      const highS = concatBytes(r, hexDecode((n - s).toString(16).padStart(64, "0")));
      const uncompressed = curve.Point.fromBytes(kp.publicKey).toBytes(false);
      for (const pk of [kp.publicKey, uncompressed]) {
        for (const sg of [sig, highS]) {
          const { reference } = await assertAgrees(alg, pk, msg, sg, `${alg} #${i}`);
          assert.ok(reference);
        }
      }
    }
  });

  Deno.test(`verifySignature() ${alg}: rejects flipped bits, wrong keys, DER and out-of-range r/s`, async () => {
    const kp = generateKeyPair(alg);
    const msg = new Uint8Array([1, 2, 3, 4]);
    const sig = sign(kp.secretKey, msg);
    for (let bit = 0; bit < 512; bit += 7) {
      const bad = sig.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      const { reference } = await assertAgrees(alg, kp.publicKey, msg, bad, `bit ${bit}`);
      assert.equal(reference, false);
    }
    for (let bit = 0; bit < 32; bit++) {
      const badMsg = msg.slice();
      badMsg[bit >> 3] ^= 1 << (bit & 7);
      assert.equal(await verifySignature(alg, kp.publicKey, badMsg, sig), false);
    }
    const other = alg === "p256" ? "secp256k1" : "p256";
    assert.equal(await verifySignature(alg, generateKeyPair("ed25519").publicKey, msg, sig), false);
    assert.equal(await verifySignature(alg, generateKeyPair(alg).publicKey, msg, sig), false);
    assert.equal(await verifySignature(other, kp.publicKey, msg, sig), false);
    assert.equal(await verifySignature("ed25519", kp.publicKey.subarray(1), msg, sig), false);
    const der = curve.Signature.fromBytes(sig, "compact").toBytes("der");
    assert.equal(await verifySignature(alg, kp.publicKey, msg, der), false, "DER is not P1363");
    const nHex = hexDecode(n.toString(16).padStart(64, "0"));
    for (
      const bad of [
        concatBytes(new Uint8Array(32), sig.subarray(32)),
        concatBytes(sig.subarray(0, 32), new Uint8Array(32)),
        concatBytes(nHex, sig.subarray(32)),
        concatBytes(sig.subarray(0, 32), nHex),
      ]
    ) {
      const { reference } = await assertAgrees(alg, kp.publicKey, msg, bad, "out of range");
      assert.equal(reference, false);
    }
  });
}

Deno.test("verifySignature() P-256 fast path is not consulted for r or s outside [1, n-1]", async () => {
  const kp = generateKeyPair("p256");
  const msg = new Uint8Array([3]);
  const sig = signSync(kp, msg);
  const n = p256.Point.Fn.ORDER;
  const be32 = (x: bigint) => hexDecode(x.toString(16).padStart(64, "0"));
  for (
    const bad of [
      concatBytes(be32(n + 1n), sig.subarray(32)),
      concatBytes(sig.subarray(0, 32), be32(n + 1n)),
      concatBytes(sig.subarray(0, 32), be32(0n)),
    ]
  ) {
    assert.equal(await verifySignatureFastOnly("p256", kp.publicKey, msg, bad), null);
    assert.equal(await verifySignature("p256", kp.publicKey, msg, bad), false);
  }
});

Deno.test("verifySignature() P-256 fast path agrees with the reference on 300 signatures and flips", async () => {
  const keys = Array.from({ length: 20 }, () => generateKeyPair("p256"));
  for (let i = 0; i < 300; i++) {
    const kp = keys[i % keys.length];
    const msg = crypto.getRandomValues(new Uint8Array(i % 50));
    const sig = signSync(kp, msg);
    if (i % 2 === 1) sig[(i * 13) % 64] ^= 1 << (i % 8);
    const { reference } = await assertAgrees("p256", kp.publicKey, msg, sig, `p256 #${i}`);
    assert.equal(reference, i % 2 === 0);
    if (i % 2 === 0) {
      assert.equal(await verifySignatureFastOnly("p256", kp.publicKey, msg, sig), true);
    }
  }
});

Deno.test("verifySignature() keeps its key cache bounded and gives the same verdicts with fast paths off", async () => {
  const msg = new Uint8Array([1]);
  for (let i = 0; i < VERIFY_KEY_CACHE_ENTRIES_MAX + 50; i++) {
    const kp = generateKeyPair("ed25519");
    assert.ok(await verifySignature("ed25519", kp.publicKey, msg, signSync(kp, msg)));
  }
  assert.equal(verifyKeyCacheEntries().ed25519, VERIFY_KEY_CACHE_ENTRIES_MAX);
  const kp = generateKeyPair("p256");
  const sig = signSync(kp, msg);
  const bad = sig.slice();
  bad[5] ^= 4;
  try {
    setFastPathsEnabled(false);
    assert.deepEqual(verifyKeyCacheEntries(), { ed25519: 0, p256: 0 });
    assert.equal(await verifySignature("p256", kp.publicKey, msg, sig), true);
    assert.equal(await verifySignature("p256", kp.publicKey, msg, bad), false);
    assert.deepEqual(
      verifyKeyCacheEntries(),
      { ed25519: 0, p256: 0 },
      "reference only: nothing cached",
    );
  } finally {
    setFastPathsEnabled(true);
  }
  assert.equal(await verifySignature("p256", kp.publicKey, msg, sig), true);
  assert.equal(verifyKeyCacheEntries().p256, 1);
});

Deno.test("isCanonicalEd25519Encoding() agrees with a bigint reading on edge and random encodings", () => {
  const slow = (enc: Uint8Array) => {
    const sign = (enc[31] & 0x80) !== 0;
    const y = leToBig(enc) & ((1n << 255n) - 1n);
    return y < P && !(sign && (y === 1n || y === P - 1n));
  };
  const edges = [0n, 1n, 2n, P - 2n, P - 1n, P, P + 1n, P + 18n, (1n << 255n) - 1n];
  const encodings = edges.flatMap((y) => {
    const plain = le32(y);
    const signed = plain.slice();
    signed[31] |= 0x80;
    return [plain, signed];
  });
  for (let i = 0; i < 2000; i++) encodings.push(crypto.getRandomValues(new Uint8Array(32)));
  for (const enc of encodings) {
    assert.equal(isCanonicalEd25519Encoding(enc), slow(enc), hexEncode(enc));
  }
  assert.equal(isCanonicalEd25519Encoding(new Uint8Array(31)), false);
});

Deno.test("verifySignatureFastOnly() consults WebCrypto for S = L − 1 but not for S = L", async () => {
  const kp = generateKeyPair("ed25519");
  const msg = new Uint8Array([8]);
  const sig = signSync(kp, msg);
  const withS = (s: bigint) => concatBytes(sig.subarray(0, 32), le32(s));
  assert.equal(await verifySignatureFastOnly("ed25519", kp.publicKey, msg, withS(L - 1n)), false);
  assert.equal(await verifySignatureFastOnly("ed25519", kp.publicKey, msg, withS(L)), null);
  assert.equal(await verifySignature("ed25519", kp.publicKey, msg, withS(L - 1n)), false);
});
