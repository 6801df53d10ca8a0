/**
 * Conformance vectors of the wire protocol (DESIGN §2), for SDKs written in
 * other languages (Swift, Kotlin, …): fixed inputs and the exact bytes this
 * SDK derives from them — canonical JSON, did:keys, signing payloads,
 * transaction ids, signatures, leaf data, Merkle roots and proofs, block
 * hashes, the genesis hash, checkpoints, signed-note lines and verifier
 * keys, site key rotations. Keys come from fixed seeds and every signature
 * here is deterministic (Ed25519; ECDSA per RFC 6979, low-S), so the file is
 * the same on every run. `protocol_v1.json` beside this module is its
 * output, kept in the repository; `deno task vectors` writes it again, and
 * `vectors_test.ts` fails when the two differ (a change of the protocol's
 * bytes must be deliberate) and checks every vector by means other than the
 * code that made it.
 *
 * @example
 * ```ts
 * const vectors = buildVectors();
 * console.log(vectors.envelopes[0].txId);
 * ```
 *
 * @module
 */
import { ed25519, ED25519_TORSION_SUBGROUP } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { base58 } from "@scure/base";
import { sha512 } from "@noble/hashes/sha2.js";
import { canonicalJson } from "../canonical_json.ts";
import {
  base64Decode,
  base64Encode,
  base64urlDecode,
  base64urlEncode,
  hexDecode,
  hexEncode,
  utf8Encode,
} from "../encoding.ts";
import { sha256, sha256Hex } from "../hash.ts";
import { type Algorithm, decodeDidKey, encodeDidKey } from "../did_key.ts";
import { type KeyPair, keyPairFromSecret, signSync } from "../keys.ts";
import {
  type Envelope,
  SIGNING_DOMAIN,
  signingPayload,
  transactionId,
  type UnsignedEnvelope,
} from "../envelope.ts";
import { consistencyProof, inclusionProof, leafHash, rootFromLeafHashes } from "../merkle.ts";
import { blockHash, type BlockHeader } from "../block.ts";
import { formatCheckpoint } from "../checkpoint.ts";
import { assembleNote, signNoteLine, verifierKey, verifyNote } from "../note.ts";
import { verifySignatureReference } from "../signature.ts";
import { retirementText, rotationText } from "../key_rotation.ts";

/** The vector file's format version; bump it when a section changes shape. */
export const VECTORS_VERSION = 1;

/** A 32-byte secret key from a one-byte seed: SHA-256 of `"edgeledger/vectors/" + seed`. */
function secretOf(seed: string): Uint8Array {
  return sha256(utf8Encode(`edgeledger/vectors/${seed}`));
}

function keyOf(algorithm: Algorithm, seed: string): KeyPair {
  return keyPairFromSecret(algorithm, secretOf(seed));
}

/** JSON values whose canonical form (RFC 8785) is easy to get wrong. */
const CANONICAL_INPUTS: unknown[] = [
  { b: 2, a: 1, c: { z: null, y: [true, false] } },
  // Keys sort by UTF-16 code units: "" < "A" < "a" < "€" (0x20AC) < "😀" (0xD83D 0xDE00).
  { "\u20ac": 1, "\ud83d\ude00": 2, "a": 3, "A": 4, "": 5 },
  [1, 1.5, -0, 0.1, 1e21, 1e-7, 123456789012345680000, 5e-324, -1.7976931348623157e308],
  'line\nbreak "quoted" \\ tab\t control\u0001 non-ascii é 😀',
  { nested: { deeper: { deepest: [{}, [], ""] } } },
];

/** The group orders of P-256 and secp256k1, and Ed25519's L. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;

const bigOf = (bytes: Uint8Array) => BigInt("0x" + hexEncode(bytes));
const bytes32Of = (n: bigint) => hexDecode(n.toString(16).padStart(64, "0"));

/** An ECDSA `r||s` with `s` replaced by `n − s`: the same signature's other form. */
function highS(sig: Uint8Array, n: bigint): Uint8Array {
  return new Uint8Array([...sig.slice(0, 32), ...bytes32Of(n - bigOf(sig.slice(32)))]);
}

/** An Ed25519 `R||S` with `S` (little-endian) replaced by `S + L`. */
function unreducedS(sig: Uint8Array): Uint8Array {
  const s = bigOf(sig.slice(32).reverse()) + ED25519_L;
  return new Uint8Array([...sig.slice(0, 32), ...bytes32Of(s).reverse()]);
}

/** The Ed25519 field prime p = 2^255 − 19. */
const ED25519_P = 2n ** 255n - 19n;

/** A 32-byte little-endian encoding of `n` (a scalar or a field element). */
function le32(n: bigint): Uint8Array {
  return bytes32Of(n).reverse();
}

/** The number a little-endian byte string encodes. */
const bigOfLe = (bytes: Uint8Array) => bigOf(bytes.slice().reverse());

/** RFC 8032 §5.1.7's k = SHA-512(R ‖ A ‖ M) mod L, over the bytes as given. */
function challenge(r: Uint8Array, a: Uint8Array, message: Uint8Array): bigint {
  return bigOfLe(sha512(new Uint8Array([...r, ...a, ...message]))) % ED25519_L;
}

const modL = (n: bigint) => ((n % ED25519_L) + ED25519_L) % ED25519_L;

/** A scalar in [0, L) from a seed, for the hand-made Ed25519 signatures below. */
const scalarOf = (seed: string) => bigOfLe(secretOf(seed)) % ED25519_L;

/**
 * Ed25519 inputs at the edges of RFC 8032 verification, each made from its
 * definition (R = [r]B + T, S = r + k·a mod L with k over the bytes as
 * given), with the verdict the SDK's reference verifier gives
 * (`verifySignatureReference`, @noble/curves with `zip215: false`) and the
 * verdict OpenSSL 3.0 gives (`opensslValid`, recorded by running Node 20's
 * `crypto.verify`, OpenSSL 3.0.19), where a platform library may differ.
 * `key` is envelope 0's signer: its secret scalar signs the hand-made cases.
 */
function ed25519EdgeCases(key: KeyPair, message: Uint8Array) {
  const B = ed25519.Point.BASE;
  const identity = hexDecode(ED25519_TORSION_SUBGROUP[0]);
  // A point of order 8: [4]T is not the identity, [8]T is.
  const T = ed25519.Point.fromHex(ED25519_TORSION_SUBGROUP[1]);
  const a = ed25519.utils.getExtendedPublicKey(key.secretKey).scalar;
  const A = key.publicKey;
  const sig = (r: Uint8Array, s: bigint) => new Uint8Array([...r, ...le32(s)]);
  /** A signature by `a` whose R is `rPoint`'s bytes `rBytes` (defaults to its encoding). */
  const signWithR = (r: bigint, rPoint: typeof B, pk: Uint8Array, sk: bigint, m: Uint8Array) => {
    const rBytes = rPoint.toBytes();
    return sig(rBytes, modL(r + challenge(rBytes, pk, m) * sk));
  };
  /** The first nonce index `i` (from 0) whose k = H(R ‖ A ‖ M) satisfies `want`. */
  const nonceWhere = (
    seed: string,
    pk: Uint8Array,
    m: Uint8Array,
    rOf: (r: bigint) => typeof B,
    want: (k: bigint) => boolean,
  ) => {
    for (let i = 0; i < 256; i++) {
      const r = scalarOf(`${seed}-${i}`);
      if (want(challenge(rOf(r).toBytes(), pk, m))) return r;
    }
    throw new Error(`Cannot build vector ${seed}: no nonce found`);
  };
  const smallOrderMessage = utf8Encode("edgeledger/vectors/ed25519 small-order key\n");
  const mixedKey = B.multiply(a).add(T).toBytes(); // [a]B + T: full order 8L, not small
  const rMixed0 = nonceWhere(
    "mixed-k0",
    mixedKey,
    message,
    (r) => B.multiply(r),
    (k) => k % 8n === 0n,
  );
  const rMixedN = nonceWhere(
    "mixed-kn",
    mixedKey,
    message,
    (r) => B.multiply(r),
    (k) => k % 8n !== 0n,
  );
  const rOrder8 = nonceWhere(
    "order8-k0",
    T.toBytes(),
    smallOrderMessage,
    (r) => B.multiply(r),
    (k) => k % 8n === 0n,
  );
  const rTorsion = scalarOf("torsion-r");
  // y = p + 1 ≡ 1: the identity, encoded with y ≥ p.
  const identityNonCanonical = le32(ED25519_P + 1n);
  // y = 1 with the sign bit set: x = 0 cannot be negative.
  const identityNegativeZero = new Uint8Array([...identity.slice(0, 31), 0x80]);
  const withS = (s: Uint8Array, newS: bigint) => sig(s.slice(0, 32), newS);
  const valid = ed25519.sign(message, key.secretKey);
  const sOf = (s: Uint8Array) => bigOfLe(s.slice(32));
  const cases: Array<
    {
      description: string;
      publicKey: Uint8Array;
      message: Uint8Array;
      signature: Uint8Array;
      opensslValid: boolean;
    }
  > = [
    {
      description:
        "Ed25519, small-order key: A, R = the identity (01 00…00), S = 0 — [0]B = R + [k]A for every message: refused (A of small order); OpenSSL accepts",
      publicKey: identity,
      message: smallOrderMessage,
      signature: sig(identity, 0n),
      opensslValid: true,
    },
    {
      description:
        "Ed25519, small-order key: A = a point of order 8, R = [r]B, S = r, with 8 | k so that [k]A is the identity: refused (A of small order); OpenSSL accepts",
      publicKey: T.toBytes(),
      message: smallOrderMessage,
      signature: sig(B.multiply(rOrder8).toBytes(), rOrder8),
      opensslValid: true,
    },
    {
      description:
        "Ed25519, mixed-order key A = [a]B + T (T of order 8), S = r + k·a with 8 | k: accepted (A is not of small order; both equations hold)",
      publicKey: mixedKey,
      message,
      signature: signWithR(rMixed0, B.multiply(rMixed0), mixedKey, a, message),
      opensslValid: true,
    },
    {
      description:
        "Ed25519, mixed-order key A = [a]B + T, S = r + k·a with 8 ∤ k: accepted — only the cofactored equation [8][S]B = [8]R + [8][k]A holds; OpenSSL (cofactorless) refuses",
      publicKey: mixedKey,
      message,
      signature: signWithR(rMixedN, B.multiply(rMixedN), mixedKey, a, message),
      opensslValid: false,
    },
    {
      description:
        "Ed25519, envelope 0's key, R = [r]B + T (a small-order component), S = r + k·a: accepted — only the cofactored equation holds; OpenSSL (cofactorless) refuses",
      publicKey: A,
      message,
      signature: signWithR(rTorsion, B.multiply(rTorsion).add(T), A, a, message),
      opensslValid: false,
    },
    {
      description:
        "Ed25519, envelope 0's key, R = the identity (r = 0, small order), S = k·a: accepted — a small-order R is not refused",
      publicKey: A,
      message,
      signature: sig(identity, modL(challenge(identity, A, message) * a)),
      opensslValid: true,
    },
    {
      description:
        "Ed25519, envelope 0's key, R = the identity encoded with y = p + 1 (non-canonical), S = k·a over those bytes: refused; a verifier reducing y mod p would accept",
      publicKey: A,
      message,
      signature: sig(
        identityNonCanonical,
        modL(challenge(identityNonCanonical, A, message) * a),
      ),
      opensslValid: false,
    },
    {
      description:
        "Ed25519, envelope 0's key, R = the identity with the sign bit set (x = 0 cannot be negative: non-canonical), S = k·a over those bytes: refused",
      publicKey: A,
      message,
      signature: sig(
        identityNegativeZero,
        modL(challenge(identityNegativeZero, A, message) * a),
      ),
      opensslValid: false,
    },
    {
      description:
        "Ed25519, A = the identity encoded with y = p + 1 (non-canonical and of small order), R = the identity, S = 0: refused; OpenSSL accepts",
      publicKey: identityNonCanonical,
      message: smallOrderMessage,
      signature: sig(identity, 0n),
      opensslValid: true,
    },
    {
      description:
        "Ed25519, A = the identity with the sign bit set (non-canonical, small order), R = the identity, S = 0: refused; OpenSSL accepts",
      publicKey: identityNegativeZero,
      message: smallOrderMessage,
      signature: sig(identity, 0n),
      opensslValid: true,
    },
    {
      description:
        "Ed25519, A, R = the identity, S = L exactly ([L]B is the identity): refused (S ≥ L, and A of small order)",
      publicKey: identity,
      message: smallOrderMessage,
      signature: sig(identity, ED25519_L),
      opensslValid: false,
    },
    {
      description:
        "Ed25519, A = the identity, R = B, S = L + 1 (≡ 1, and [1]B = R): refused (S ≥ L, and A of small order)",
      publicKey: identity,
      message: smallOrderMessage,
      signature: sig(B.toBytes(), ED25519_L + 1n),
      opensslValid: false,
    },
    {
      description:
        "Ed25519, a valid signature by envelope 0's key with S replaced by S + 8L (bit 255 set, ≡ S mod L): refused (S ≥ L)",
      publicKey: A,
      message,
      signature: withS(valid, sOf(valid) + 8n * ED25519_L),
      opensslValid: false,
    },
  ];
  return cases;
}

/** The time, ms since the epoch, the `refusals` vectors are judged at (before every expiresAt of theirs but one). */
export const REFUSALS_NOW = 1_764_000_000_000;

/** Merkle leaves: UTF-8 of `leaf-0` … `leaf-6`. */
const MERKLE_LEAVES = Array.from({ length: 7 }, (_, i) => `leaf-${i}`);

/** Everything in `protocol_v1.json`. */
export function buildVectors() {
  const hex = hexEncode;

  // ---- canonical JSON ---------------------------------------------------------------------
  const canonical = CANONICAL_INPUTS.map((input) => ({ input, output: canonicalJson(input) }));

  // ---- did:key ----------------------------------------------------------------------------
  const algorithms: Algorithm[] = ["ed25519", "p256", "secp256k1"];
  const didKeys = algorithms.map((algorithm) => {
    const kp = keyOf(algorithm, `did-${algorithm}`);
    return {
      algorithm,
      secretKeyHex: hex(kp.secretKey),
      publicKeyHex: hex(kp.publicKey),
      did: encodeDidKey(algorithm, kp.publicKey),
    };
  });

  // ---- envelopes: one per algorithm, and one with two signers -----------------------------
  const signersOf = (seeds: Array<[Algorithm, string]>) => seeds.map(([a, s]) => keyOf(a, s));
  const envelopeCase = (description: string, keys: KeyPair[], unsignedRest: {
    kind: string;
    body: unknown;
    nonce: string;
    expiresAt: number;
  }) => {
    const unsigned: UnsignedEnvelope = {
      v: 1,
      ledger: "demo",
      kind: unsignedRest.kind,
      body: unsignedRest.body,
      nonce: unsignedRest.nonce,
      expiresAt: unsignedRest.expiresAt,
      signers: keys.map((k) => k.did),
    } as UnsignedEnvelope;
    const payload = signingPayload(unsigned);
    const sigs = keys.map((k) => base64urlEncode(signSync(k, payload)));
    const signed = { ...unsigned, sigs } as Envelope;
    return {
      description,
      signers: keys.map((k) => ({ algorithm: k.algorithm, secretKeyHex: hex(k.secretKey) })),
      unsigned,
      signingPayload: new TextDecoder().decode(payload),
      txId: transactionId(unsigned),
      signed,
    };
  };
  const nonce = (i: number) => base64urlEncode(sha256(utf8Encode(`nonce-${i}`)).slice(0, 16));
  const anchorBody = (stream: string, seq: number) => ({
    stream,
    seq,
    root: sha256Hex(utf8Encode(`${stream}/${seq}`)),
    count: 60,
    from: 1_764_000_000_000,
    to: 1_764_000_060_000,
  });
  const envelopes = [
    envelopeCase(
      "data.anchor signed with Ed25519",
      signersOf([["ed25519", "device-ed25519"]]),
      {
        kind: "data.anchor",
        body: anchorBody("truck-42/temp", 0),
        nonce: nonce(0),
        expiresAt: 1_764_003_600_000,
      },
    ),
    envelopeCase(
      "data.anchor signed with ECDSA P-256 (RFC 6979, low-S, r||s)",
      signersOf([["p256", "device-p256"]]),
      {
        kind: "data.anchor",
        body: anchorBody("meter-7/kwh", 3),
        nonce: nonce(1),
        expiresAt: 1_764_003_600_000,
      },
    ),
    envelopeCase(
      "data.anchor signed with ECDSA secp256k1 (RFC 6979, low-S, r||s)",
      signersOf([["secp256k1", "device-secp256k1"]]),
      {
        kind: "data.anchor",
        body: anchorBody("car-9/odo", 1),
        nonce: nonce(2),
        expiresAt: 1_764_003_600_000,
      },
    ),
    envelopeCase(
      "custody.handoff signed by two signers in order (Ed25519, then P-256)",
      signersOf([["ed25519", "courier"], ["p256", "warehouse"]]),
      {
        kind: "custody.handoff",
        body: {
          item: "pallet-42",
          step: 1,
          from: keyOf("ed25519", "courier").did,
          to: keyOf("p256", "warehouse").did,
        },
        nonce: nonce(3),
        expiresAt: 1_764_003_600_000,
      },
    ),
  ];

  // ---- signatures a verifier must accept or refuse -----------------------------------------
  const sigOf = (i: number) => base64urlDecode(envelopes[i].signed.sigs[0]);
  const payloadOf = (i: number) => envelopes[i].signingPayload;
  const keyHexOf = (i: number) => hex(decodeDidKey(envelopes[i].unsigned.signers[0]).publicKey);
  const signatures: Array<{
    description: string;
    algorithm: string;
    publicKeyHex: string;
    message: string;
    signatureHex: string;
    valid: boolean;
    /** OpenSSL 3.0's verdict, present where it differs from `valid`. */
    opensslValid?: boolean;
  }> = [
    {
      description: "P-256, envelope 1's signature with s replaced by n − s (high-S): accepted",
      algorithm: "p256",
      publicKeyHex: keyHexOf(1),
      message: payloadOf(1),
      signatureHex: hex(highS(sigOf(1), P256_N)),
      valid: true,
    },
    {
      description: "secp256k1, envelope 2's signature with s replaced by n − s (high-S): accepted",
      algorithm: "secp256k1",
      publicKeyHex: keyHexOf(2),
      message: payloadOf(2),
      signatureHex: hex(highS(sigOf(2), SECP256K1_N)),
      valid: true,
    },
    {
      description:
        "Ed25519, envelope 0's signature with S replaced by S + L (not reduced): refused, as RFC 8032 §5.1.7 says",
      algorithm: "ed25519",
      publicKeyHex: keyHexOf(0),
      message: payloadOf(0),
      signatureHex: hex(unreducedS(sigOf(0))),
      valid: false,
    },
    {
      description: "Ed25519, envelope 0's signature over envelope 1's payload: refused",
      algorithm: "ed25519",
      publicKeyHex: keyHexOf(0),
      message: payloadOf(1),
      signatureHex: hex(sigOf(0)),
      valid: false,
    },
    {
      description: "P-256, envelope 1's signature with r = 0: refused",
      algorithm: "p256",
      publicKeyHex: keyHexOf(1),
      message: payloadOf(1),
      signatureHex: hex(new Uint8Array([...new Uint8Array(32), ...sigOf(1).slice(32)])),
      valid: false,
    },
  ];

  for (const c of ed25519EdgeCases(keyOf("ed25519", "device-ed25519"), utf8Encode(payloadOf(0)))) {
    const valid = verifySignatureReference("ed25519", c.publicKey, c.message, c.signature);
    signatures.push({
      description: c.description,
      algorithm: "ed25519",
      publicKeyHex: hex(c.publicKey),
      message: new TextDecoder().decode(c.message),
      signatureHex: hex(c.signature),
      valid,
      ...(valid === c.opensslValid ? {} : { opensslValid: c.opensslValid }),
    });
  }

  // ---- refusals: envelopes a site must refuse, and with which problem ----------------------
  // Each breaks one rule and is otherwise valid: what it signs is signed over its own payload
  // (SIGNING_DOMAIN + JCS without sigs, whatever it holds), judged at REFUSALS_NOW on ledger
  // "demo" with a 24 h expiry window. A site checks the envelope's fields, its ledger, kind,
  // body, expiry, then its signatures (DESIGN §2), so the slug is the broken rule's.
  const base = envelopes[0].unsigned as unknown as Record<string, unknown>;
  const baseKey = keyOf("ed25519", "device-ed25519");
  const signedAs = (unsigned: Record<string, unknown>, keys: KeyPair[] = [baseKey]) => {
    const payload = utf8Encode(SIGNING_DOMAIN + canonicalJson(unsigned));
    return { ...unsigned, sigs: keys.map((k) => base64urlEncode(signSync(k, payload))) };
  };
  const didOf = (multicodec: number[], key: Uint8Array) =>
    "did:key:z" + base58.encode(new Uint8Array([...multicodec, ...key]));
  const p256Key = keyOf("p256", "device-p256");
  const p256Env = envelopes[1].signed;
  const derSig = p256.Signature.fromBytes(base64urlDecode(p256Env.sigs[0]), "compact")
    .toBytes("der");
  const good = signedAs(base);
  const refusals: Array<{ description: string; envelope: unknown; slug: string }> = [
    {
      description: "a missing signature (one signer, no sig)",
      envelope: { ...good, sigs: [] },
      slug: "bad_signature",
    },
    {
      description: "an extra signature (one signer, two sigs)",
      envelope: { ...good, sigs: [good.sigs[0], good.sigs[0]] },
      slug: "bad_signature",
    },
    {
      description: "a signature with one bit flipped",
      envelope: {
        ...good,
        sigs: [base64urlEncode(
          (() => {
            const b = base64urlDecode(good.sigs[0]);
            b[0] ^= 1;
            return b;
          })(),
        )],
      },
      slug: "bad_signature",
    },
    {
      description: "an ECDSA P-256 signature in DER instead of r||s (valid as DER)",
      envelope: { ...p256Env, sigs: [base64urlEncode(derSig)] },
      slug: "bad_signature",
    },
    {
      description: "an unknown field (the envelope is strict)",
      envelope: signedAs({ ...base, memo: "x" }),
      slug: "invalid_envelope",
    },
    {
      description: "a nonce of 15 bytes",
      envelope: signedAs({ ...base, nonce: base64urlEncode(new Uint8Array(15).fill(7)) }),
      slug: "invalid_envelope",
    },
    {
      description: "a nonce with base64 padding (base64url is unpadded)",
      envelope: signedAs({ ...base, nonce: `${base.nonce}==` }),
      slug: "invalid_envelope",
    },
    {
      description: "a signature in standard base64 (+ and /), not base64url",
      envelope: { ...good, sigs: [good.sigs[0].replaceAll("-", "+").replaceAll("_", "/") + "+/"] },
      slug: "invalid_envelope",
    },
    {
      description: "the same signer twice",
      envelope: signedAs({ ...base, signers: [baseKey.did, baseKey.did] }, [baseKey, baseKey]),
      slug: "invalid_envelope",
    },
    {
      description: "a P-256 did:key of the uncompressed point (65 bytes; keys are compressed)",
      envelope: signedAs({
        ...base,
        signers: [didOf([0x80, 0x24], p256.Point.fromBytes(p256Key.publicKey).toBytes(false))],
      }, [p256Key]),
      slug: "invalid_envelope",
    },
    {
      description: "a did:key of an unknown multicodec (0xec, X25519)",
      envelope: signedAs({ ...base, signers: [didOf([0xec, 0x01], baseKey.publicKey)] }),
      slug: "invalid_envelope",
    },
    {
      description: "another ledger",
      envelope: signedAs({ ...base, ledger: "other" }),
      slug: "wrong_ledger",
    },
    {
      description: "a kind no contract takes",
      envelope: signedAs({ ...base, kind: "data.unknown" }),
      slug: "unknown_kind",
    },
    {
      description: "a body its kind's schema refuses (a negative seq)",
      envelope: signedAs({ ...base, body: { ...(base.body as object), seq: -1 } }),
      slug: "invalid_body",
    },
    {
      description: "expired before now",
      envelope: signedAs({ ...base, expiresAt: REFUSALS_NOW - 1 }),
      slug: "expired",
    },
    {
      description: "expiring more than the 24 h window after now",
      envelope: signedAs({ ...base, expiresAt: REFUSALS_NOW + 86_400_000 + 1 }),
      slug: "expires_too_far",
    },
  ];

  // ---- leaves -----------------------------------------------------------------------------
  const leaves = [
    { tx: envelopes[0].signed, result: { status: "applied" } },
    {
      tx: envelopes[1].signed,
      // A result a site records (data.anchor's own code and detail): the stream's last seq was 5.
      result: {
        status: "rejected",
        code: "stream_seq_not_increasing",
        detail: 'Cannot anchor seq 3 on stream "meter-7/kwh": last seq is 5',
      },
    },
  ].map(({ tx, result }) => {
    const data = canonicalJson({ tx, result });
    return { tx, result, leafData: data, leafHashHex: hex(leafHash(utf8Encode(data))) };
  });

  // ---- Merkle tree (RFC 9162) ---------------------------------------------------------------
  const leafHashes = MERKLE_LEAVES.map((l) => leafHash(utf8Encode(l)));
  const merkle = {
    leaves: MERKLE_LEAVES,
    leafHashesHex: leafHashes.map(hex),
    roots: Array.from({ length: MERKLE_LEAVES.length + 1 }, (_, size) => ({
      size,
      rootHex: hex(rootFromLeafHashes(leafHashes.slice(0, size))),
    })),
    inclusion: [1, 2, 3, 5, 7].flatMap((size) =>
      Array.from({ length: size }, (_, index) => ({
        index,
        size,
        proofHex: inclusionProof(index, leafHashes.slice(0, size)).map(hex),
      }))
    ),
    consistency: [[1, 2], [1, 7], [2, 7], [3, 7], [4, 7], [6, 7], [3, 5], [7, 7]].map((
      [size1, size2],
    ) => ({
      size1,
      size2,
      proofHex: size1 === size2 ? [] : consistencyProof(size1, leafHashes.slice(0, size2)).map(hex),
    })),
  };

  // ---- genesis and blocks -------------------------------------------------------------------
  const siteA = keyOf("ed25519", "site-a");
  const siteB = keyOf("ed25519", "site-b");
  const genesis = {
    v: 1,
    ledger: "demo",
    origin: "edgeledger.example/demo",
    time: 1_764_000_000_000,
    organisations: [{ id: "carrier-a", name: "Carrier A" }],
    sites: [
      {
        name: "site-a",
        org: "carrier-a",
        publicKey: base64urlEncode(siteA.publicKey),
        url: "https://pop-a.example.net",
      },
      {
        name: "site-b",
        org: "carrier-a",
        publicKey: base64urlEncode(siteB.publicKey),
        url: "https://pop-b.example.net",
      },
    ],
    policies: { expiryWindowMs: 86_400_000, openKinds: ["data.anchor"] },
  };
  const genesisPrev = sha256Hex(utf8Encode("edgeledger/genesis/v1\n" + canonicalJson(genesis)));
  const header: BlockHeader = {
    v: 1,
    ledger: "demo",
    height: 1,
    prev: sha256Hex(utf8Encode("block 0 stands here")),
    time: 1_764_000_001_000,
    term: 2,
    proposer: "site-a",
    txCount: 2,
    logSize: 2,
    logRoot: hex(
      rootFromLeafHashes(leaves.map((l) => leafHash(utf8Encode(l.leafData)))),
    ),
  };
  const block = {
    header,
    hashedText: "edgeledger/block/v1\n" + canonicalJson(header),
    hash: blockHash(header),
  };

  // ---- checkpoint and signed note -----------------------------------------------------------
  const rootHash = rootFromLeafHashes(leafHashes);
  const text = formatCheckpoint({
    origin: genesis.origin,
    size: MERKLE_LEAVES.length,
    rootHash,
    height: 5,
    blockHash: block.hash,
  });
  const lines = [
    signNoteLine(text, "site-a", siteA.secretKey),
    signNoteLine(text, "site-b", siteB.secretKey),
  ];
  const checkpoint = {
    origin: genesis.origin,
    size: MERKLE_LEAVES.length,
    rootBase64: base64Encode(rootHash),
    height: 5,
    blockHash: block.hash,
    text,
    sites: [
      {
        name: "site-a",
        secretKeyHex: hex(siteA.secretKey),
        verifierKey: verifierKey("site-a", siteA.publicKey),
      },
      {
        name: "site-b",
        secretKeyHex: hex(siteB.secretKey),
        verifierKey: verifierKey("site-b", siteB.publicKey),
      },
    ],
    signatureLines: lines,
    note: assembleNote(text, lines),
  };

  // ---- signed notes: which names verifyNote answers -----------------------------------------
  // The checkpoint text above, signed by site-a and site-b; `verifyNote` answers the names of
  // the verifier keys whose lines verify, in verifier-key order, and [] as soon as a line from a
  // known key (name AND key ID match) fails (c2sp.org/signed-note, Go's note.Open).
  const stranger = keyOf("ed25519", "stranger");
  const keysAB = [verifierKey("site-a", siteA.publicKey), verifierKey("site-b", siteB.publicKey)];
  const [lineA, lineB] = lines;
  /** `line` with one bit of its signature (not of its key ID) flipped. */
  const flipped = (line: string) => {
    const space = line.lastIndexOf(" ");
    const raw = base64Decode(line.slice(space + 1, -1));
    raw[4 + 10] ^= 0x01;
    return `${line.slice(0, space)} ${base64Encode(raw)}\n`;
  };
  const noteCase = (description: string, note: string, verifierKeys: string[]) => ({
    description,
    note,
    verifierKeys,
    names: verifyNote(note, verifierKeys),
  });
  const notes = [
    noteCase("signed by site-a and site-b, both known", assembleNote(text, lines), keysAB),
    noteCase(
      "site-b's signature altered (one bit): a known key's signature fails, so the whole note is invalid — not [site-a]",
      assembleNote(text, [lineA, flipped(lineB)]),
      keysAB,
    ),
    noteCase(
      "a third line from site-c, a name no verifier key has: ignored",
      assembleNote(text, [lineA, lineB, signNoteLine(text, "site-c", stranger.secretKey)]),
      keysAB,
    ),
    noteCase(
      "a line named site-b made by another key (its key ID is not site-b's): ignored, not failed",
      assembleNote(text, [lineA, signNoteLine(text, "site-b", stranger.secretKey)]),
      keysAB,
    ),
    noteCase(
      "site-a's line twice: each name counts once",
      assembleNote(text, [lineA, lineA, lineB]),
      keysAB,
    ),
    noteCase(
      "the lines in the other order: names come in verifier-key order",
      assembleNote(text, [lineB, lineA]),
      keysAB,
    ),
    noteCase(
      "verifier keys with malformed entries (site-b's with a wrong key ID, and garbage): skipped, so site-b's line comes from an unknown key and is ignored",
      assembleNote(text, lines),
      [keysAB[0], keysAB[1].replace(/\+[0-9a-f]{8}\+/, "+00000000+"), "not a verifier key"],
    ),
    noteCase(
      "a malformed note (no blank line before the signature lines): []",
      text + lineA + lineB,
      keysAB,
    ),
    noteCase(
      "a malformed note (a signature line without the em dash): []",
      text + "\n" + lineA + lineB.slice(1),
      keysAB,
    ),
  ];

  // ---- receipt bundles: what a light client verifies offline ---------------------------------
  // The log of `leaves` (envelope 0 applied, envelope 1 rejected) is block 1 above; its
  // checkpoint is signed by site-a and site-b.
  const blockText = formatCheckpoint({
    origin: genesis.origin,
    size: 2,
    rootHash: hexDecode(header.logRoot),
    height: header.height,
    blockHash: block.hash,
  });
  const signedBy = (keys: KeyPair[], names: string[], body = blockText) =>
    assembleNote(body, keys.map((k, i) => signNoteLine(body, names[i], k.secretKey)));
  const bothSigned = signedBy([siteA, siteB], ["site-a", "site-b"]);
  const leafHashOf = (i: number) => leafHash(utf8Encode(leaves[i].leafData));
  const bundleOf = (i: number) => ({
    txId: envelopes[i].txId,
    tx: envelopes[i].signed as Record<string, unknown>,
    receipt: {
      txId: envelopes[i].txId,
      status: "committed" as const,
      height: header.height,
      logIndex: i,
      result: leaves[i].result as Record<string, unknown>,
    },
    proof: {
      logIndex: i,
      treeSize: 2,
      leaf: base64urlEncode(utf8Encode(leaves[i].leafData)),
      proof: [hex(leafHashOf(1 - i))],
    },
    checkpoint: bothSigned,
    chain: [{ hash: block.hash, header, txIds: [envelopes[0].txId, envelopes[1].txId] }],
  });
  const valid = bundleOf(0);
  const otherOrigin = formatCheckpoint({
    origin: "edgeledger.example/other",
    size: 2,
    rootHash: hexDecode(header.logRoot),
    height: header.height,
    blockHash: block.hash,
  });
  const receiptBundles = {
    trust: {
      v: 1,
      origin: genesis.origin,
      quorum: 2,
      trustedKeys: [
        verifierKey("site-a", siteA.publicKey),
        verifierKey("site-b", siteB.publicKey),
      ],
    },
    cases: [
      { description: "envelope 0's receipt: valid", bundle: valid, reason: "ok" },
      {
        description: "envelope 1's receipt (rejected by its contract, still in the log): valid",
        bundle: bundleOf(1),
        reason: "ok",
      },
      {
        description: "the checkpoint signed by site-a alone: short of the quorum of 2",
        bundle: { ...valid, checkpoint: signedBy([siteA], ["site-a"]) },
        reason: "checkpoint_quorum_not_met",
      },
      {
        description: "the checkpoint signed by site-a and by a key site-b never had",
        bundle: {
          ...valid,
          checkpoint: signedBy([siteA, keyOf("ed25519", "stranger")], ["site-a", "site-b"]),
        },
        reason: "checkpoint_quorum_not_met",
      },
      {
        description: "a checkpoint of another log (origin), signed by both",
        bundle: {
          ...valid,
          checkpoint: signedBy([siteA, siteB], ["site-a", "site-b"], otherOrigin),
        },
        reason: "checkpoint_origin_mismatch",
      },
      {
        description: "the inclusion proof's sibling is another hash",
        bundle: { ...valid, proof: { ...valid.proof, proof: [hex(leafHash(utf8Encode("x")))] } },
        reason: "inclusion_proof_invalid",
      },
      {
        description: "the receipt says rejected where the proven leaf says applied",
        bundle: {
          ...valid,
          receipt: { ...valid.receipt, result: { status: "rejected", code: "x", detail: "x" } },
        },
        reason: "receipt_mismatch",
      },
      {
        description:
          "the receipt names block 2, after the checkpoint's block 1 that holds its log index",
        bundle: { ...valid, receipt: { ...valid.receipt, height: 2 } },
        reason: "receipt_mismatch",
      },
      {
        description:
          "the chain's block altered (time + 1): it no longer hashes to the checkpoint's block",
        bundle: {
          ...valid,
          chain: [{ ...valid.chain[0], header: { ...header, time: header.time + 1 } }],
        },
        reason: "block_mismatch",
      },
    ],
  };

  // ---- a site key rotation ------------------------------------------------------------------
  const siteA2 = keyOf("ed25519", "site-a-rotated");
  const previous = base64urlEncode(siteA.publicKey);
  const next = base64urlEncode(siteA2.publicKey);
  const statement = rotationText("site-a", previous, next);
  const rotation = {
    name: "site-a",
    previousSecretKeyHex: hex(siteA.secretKey),
    newSecretKeyHex: hex(siteA2.secretKey),
    statement,
    rotation: {
      name: "site-a",
      previous,
      publicKey: next,
      previousSig: base64urlEncode(signSync(siteA, utf8Encode(statement))),
      newSig: base64urlEncode(signSync(siteA2, utf8Encode(statement))),
    },
    verifierKeyAfter: verifierKey("site-a", siteA2.publicKey),
    // The retired key's last height, signed by the new key once the rotation is in the log.
    retirement: (() => {
      const untilHeight = 1402;
      const text = retirementText("site-a", previous, untilHeight);
      return {
        statement: text,
        retired: {
          verifierKey: verifierKey("site-a", siteA.publicKey),
          untilHeight,
          signer: next,
          signature: base64urlEncode(signSync(siteA2, utf8Encode(text))),
        },
      };
    })(),
  };

  return {
    v: VECTORS_VERSION,
    description:
      "edgeledger wire protocol (DESIGN §2) conformance vectors: inputs and the exact outputs " +
      "an implementation must derive. Hex is lowercase; base64url has no padding; base64 is " +
      "padded (signed-note lines, checkpoint roots). See sdk/conformance/README.md.",
    canonicalJson: canonical,
    didKeys,
    envelopes,
    signatures,
    refusals: {
      now: REFUSALS_NOW,
      ledger: "demo",
      expiryWindowMs: 86_400_000,
      cases: refusals,
    },
    leaves,
    merkle,
    genesis: {
      config: genesis,
      hashedText: "edgeledger/genesis/v1\n" + canonicalJson(genesis),
      prev: genesisPrev,
    },
    block,
    checkpoint,
    notes,
    receiptBundles,
    keyRotation: rotation,
  };
}

/** The vectors as the file holds them: 2-space JSON and a final newline. */
export function vectorsFileText(): string {
  return JSON.stringify(buildVectors(), null, 2) + "\n";
}

/** Where the vectors are kept, beside this module. */
export const VECTORS_FILE = new URL("./protocol_v1.json", import.meta.url);

if (import.meta.main) {
  await Deno.writeTextFile(VECTORS_FILE, vectorsFileText());
  console.log(`Wrote ${VECTORS_FILE.pathname}`);
}
