/**
 * The transaction envelope (DESIGN §2): building, signing (alone or by
 * several parties in any order), parsing and signature checking.
 *
 * ```json
 * { "v": 1, "ledger": "demo", "kind": "data.anchor", "body": {...},
 *   "nonce": "<base64url of 16 bytes>", "expiresAt": 1764000000000,
 *   "signers": ["did:key:z6Mk..."], "sigs": ["<base64url signature>"] }
 * ```
 *
 * Every signer signs the same payload, UTF-8 of `"edgeledger/tx/v1\n" +
 * JCS(envelope without "sigs")`; `sigs[i]` belongs to `signers[i]`. The
 * transaction id is the hex SHA-256 of that payload, so it does not depend on
 * the signatures (ECDSA high-S/low-S malleability cannot change it).
 *
 * @module
 */

import { z } from "zod";
import { canonicalBytes, canonicalJson } from "./canonical_json.ts";
import { type Algorithm, decodeDidKey, isDidKey } from "./did_key.ts";
import {
  base64urlByteLength,
  base64urlDecode,
  base64urlEncode,
  concatBytes,
  utf8Encode,
} from "./encoding.ts";
import { sha256Hex } from "./hash.ts";
import type { Signer } from "./keys.ts";
import { verifySignature } from "./signature.ts";

/** Domain separator prefixed to every transaction signing payload. */
export const SIGNING_DOMAIN = "edgeledger/tx/v1\n";
/** Exact length in bytes of the decoded `nonce`. */
export const NONCE_BYTES = 16;
/** Most signers one envelope may carry. */
export const SIGNERS_MAX = 16;
/** Largest envelope accepted, in bytes of its canonical JSON (JCS, UTF-8). */
export const ENVELOPE_BYTES_MAX = 65536;
/** Default lifetime of an envelope built by {@link createEnvelope}: 1 hour. */
export const ENVELOPE_TTL_MS_DEFAULT = 60 * 60 * 1000;
/** Longest `ledger` and `kind`, in characters. */
export const LEDGER_CHARS_MAX = 64;
/** Longest `kind`, in characters. */
export const KIND_CHARS_MAX = 64;

/** `ledger`: 1–64 chars of `[a-z0-9._-]`, starting with a letter or digit. */
export const LEDGER_RE = /^[a-z0-9][a-z0-9._-]*$/;
/** `kind`: dotted lower-camel identifiers, e.g. `data.anchor`, `gov.addSite`. */
export const KIND_RE = /^[a-z][a-z0-9]*(\.[a-z][a-zA-Z0-9]*)+$/;

/** A signed transaction envelope (DESIGN §2). */
export type Envelope = {
  v: 1;
  ledger: string;
  kind: string;
  body: unknown;
  nonce: string;
  expiresAt: number;
  signers: string[];
  sigs: string[];
};

/** An envelope before signing: everything the signatures cover. */
export type UnsignedEnvelope = Omit<Envelope, "sigs">;

/**
 * An envelope being signed by several parties: `sigs[i]` is null until
 * `signers[i]` has signed. Plain JSON, so it can travel between parties.
 */
export type PartialEnvelope = UnsignedEnvelope & { sigs: Array<string | null> };

/** What went wrong with an envelope; stable strings callers may switch on. */
export type EnvelopeErrorCode =
  | "schema"
  | "too_large"
  | "signers_mismatch"
  | "bad_signature";

/**
 * Thrown when an envelope cannot be built, signed or parsed. `code` says
 * why; `issues` carries the zod issues for `"schema"`.
 */
export class EnvelopeError extends Error {
  /** Stable reason code. */
  readonly code: EnvelopeErrorCode;
  /** zod issues, for `code === "schema"`. */
  readonly issues: z.core.$ZodIssue[];
  /** Creates an envelope error. */
  constructor(code: EnvelopeErrorCode, message: string, issues: z.core.$ZodIssue[] = []) {
    super(message);
    this.name = "EnvelopeError";
    this.code = code;
    this.issues = issues;
  }
}

function decodesTo(s: string, bytes?: number): boolean {
  const length = base64urlByteLength(s);
  return length !== undefined && (bytes === undefined || length === bytes);
}

const baseSchema = z.object({
  v: z.literal(1),
  ledger: z.string().min(1).max(LEDGER_CHARS_MAX).regex(LEDGER_RE, "Invalid ledger name"),
  kind: z.string().max(KIND_CHARS_MAX).regex(KIND_RE, "Invalid kind"),
  body: z.unknown().refine((b) => b !== undefined, "Body is required"),
  nonce: z.string().refine(
    (s) => decodesTo(s, NONCE_BYTES),
    `Nonce must be base64url of exactly ${NONCE_BYTES} bytes`,
  ),
  expiresAt: z.number().int().nonnegative(),
  signers: z.array(z.string().refine(isDidKey, "Signer must be a did:key"))
    .min(1)
    .max(SIGNERS_MAX)
    .refine((s) => new Set(s).size === s.length, "Signers must be distinct"),
  sigs: z.array(z.string().refine((s) => decodesTo(s), "Signature must be base64url")),
}).strict();

/**
 * zod schema of a signed {@link Envelope}: strict (unknown fields refused),
 * `v` = 1, ledger per {@link LEDGER_RE} (1–64 chars), kind per
 * {@link KIND_RE} (≤ 64 chars), `nonce` base64url of exactly 16 bytes,
 * `expiresAt` an integer (ms since the epoch), 1–{@link SIGNERS_MAX} distinct
 * did:key signers, and one base64url signature per signer. `body` is only
 * required to be present; each kind validates it with its own schema.
 *
 * @example
 * ```ts
 * envelopeSchema.safeParse(JSON.parse(text)).success;
 * ```
 */
export const envelopeSchema = baseSchema.superRefine((env, ctx) => {
  if (env.sigs.length !== env.signers.length) {
    ctx.addIssue({
      code: "custom",
      path: ["sigs"],
      message: `Expected ${env.signers.length} signatures (one per signer), got ${env.sigs.length}`,
    });
  }
});

/**
 * {@link envelopeSchema} without its rule of one signature per signer: every
 * field and its shape. Admission parses with it, so that a missing (or an
 * extra) signature is refused with the other signature failures
 * (`bad_signature`, DESIGN §2), after the envelope's ledger, kind and body.
 */
export const envelopeFieldsSchema = baseSchema;

/**
 * zod schema of an {@link UnsignedEnvelope}: {@link envelopeSchema} without
 * `sigs` (a `sigs` field is refused as unknown).
 */
export const unsignedEnvelopeSchema = baseSchema.omit({ sigs: true });

function schemaError(what: string, error: z.ZodError): EnvelopeError {
  const first = error.issues[0];
  const where = first && first.path.length > 0 ? ` at ${first.path.join(".")}` : "";
  return new EnvelopeError(
    "schema",
    `Invalid ${what}${where}: ${first?.message ?? "schema mismatch"}`,
    error.issues,
  );
}

/**
 * Validates an untrusted value as a signed envelope and returns it typed.
 * Throws {@link EnvelopeError} with code `"schema"` (and the zod issues) if it
 * fails {@link envelopeSchema}, or `"too_large"` if its canonical JSON
 * exceeds {@link ENVELOPE_BYTES_MAX} bytes. Does not verify signatures (see
 * {@link verifyEnvelopeSignatures}) or check expiry.
 *
 * @example
 * ```ts
 * const env = parseEnvelope(await request.json());
 * ```
 */
export function parseEnvelope(value: unknown): Envelope {
  const result = envelopeSchema.safeParse(value);
  if (!result.success) throw schemaError("envelope", result.error);
  const env = result.data as Envelope;
  let size: number;
  try {
    size = canonicalBytes(env).length;
  } catch (e) {
    throw new EnvelopeError("schema", `Invalid envelope body: ${(e as Error).message}`);
  }
  if (size > ENVELOPE_BYTES_MAX) {
    throw new EnvelopeError(
      "too_large",
      `Envelope is ${size} bytes, more than the ${ENVELOPE_BYTES_MAX}-byte limit`,
    );
  }
  return env;
}

/** The envelope without `sigs`, keeping every other field as is. */
function unsignedPart(env: UnsignedEnvelope | Envelope | PartialEnvelope): UnsignedEnvelope {
  const { sigs: _sigs, ...rest } = env as Envelope;
  return rest;
}

/**
 * The bytes every signer signs: UTF-8 of {@link SIGNING_DOMAIN} followed by
 * the JCS of the envelope without `sigs` (any `sigs` present is ignored).
 * Throws TypeError if the body is not canonicalizable JSON.
 *
 * @example
 * ```ts
 * const payload = signingPayload(unsigned);
 * ```
 */
export function signingPayload(env: UnsignedEnvelope | Envelope | PartialEnvelope): Uint8Array {
  return concatBytes(utf8Encode(SIGNING_DOMAIN), canonicalBytes(unsignedPart(env)));
}

/**
 * The transaction id: lowercase hex SHA-256 of {@link signingPayload}. The
 * same for the unsigned, partially signed and signed forms of an envelope.
 *
 * @example
 * ```ts
 * transactionId(env); // "3f9a...", 64 hex chars
 * ```
 */
export function transactionId(env: UnsignedEnvelope | Envelope | PartialEnvelope): string {
  return sha256Hex(signingPayload(env));
}

/** Options of {@link createEnvelope}. */
export interface CreateEnvelopeOptions {
  /** The ledger's name. */
  ledger: string;
  /** The transaction kind, e.g. `"data.anchor"`. */
  kind: string;
  /** The kind-specific body (JSON; validated by the kind, not here). */
  body: unknown;
  /** The signers' did:keys, in signature order. */
  signers: string[];
  /** Absolute expiry (ms since the epoch); wins over `ttlMs`. */
  expiresAt?: number;
  /** Lifetime from `now`, default {@link ENVELOPE_TTL_MS_DEFAULT} (1 h). */
  ttlMs?: number;
  /** base64url of 16 bytes; random (crypto.getRandomValues) by default. */
  nonce?: string;
  /** The current time in ms, default `Date.now()`. */
  now?: number;
}

/**
 * Builds an unsigned envelope. Throws {@link EnvelopeError} `"schema"` if the
 * result would not pass {@link unsignedEnvelopeSchema}, or `"too_large"` if
 * its canonical JSON (before signatures) already exceeds the limit.
 *
 * @example
 * ```ts
 * const unsigned = createEnvelope({
 *   ledger: "demo", kind: "data.anchor", body: { stream: "s1", seq: 0, ... },
 *   signers: [signer.did],
 * });
 * ```
 */
export function createEnvelope(options: CreateEnvelopeOptions): UnsignedEnvelope {
  const now = options.now ?? Date.now();
  const expiresAt = options.expiresAt ?? now + (options.ttlMs ?? ENVELOPE_TTL_MS_DEFAULT);
  const nonce = options.nonce ??
    base64urlEncode(crypto.getRandomValues(new Uint8Array(NONCE_BYTES)));
  const candidate = {
    v: 1 as const,
    ledger: options.ledger,
    kind: options.kind,
    body: options.body,
    nonce,
    expiresAt,
    signers: [...options.signers],
  };
  const result = unsignedEnvelopeSchema.safeParse(candidate);
  if (!result.success) throw schemaError("envelope", result.error);
  let size: number;
  try {
    size = canonicalBytes(candidate).length;
  } catch (e) {
    throw new EnvelopeError("schema", `Invalid envelope body: ${(e as Error).message}`);
  }
  if (size > ENVELOPE_BYTES_MAX) {
    throw new EnvelopeError("too_large", `Envelope is ${size} bytes, over the limit`);
  }
  return candidate;
}

async function signOne(payload: Uint8Array, signer: Signer): Promise<string> {
  const sig = await signer.sign(payload);
  let publicKey: Uint8Array;
  let algorithm;
  try {
    ({ publicKey, algorithm } = decodeDidKey(signer.did));
  } catch (e) {
    throw new EnvelopeError("signers_mismatch", `Cannot sign: ${(e as Error).message}`);
  }
  // Check our own output: a hardware signer that hashes twice or returns
  // the wrong format would otherwise produce a transaction every site rejects.
  if (!(sig instanceof Uint8Array) || !await verifySignature(algorithm, publicKey, payload, sig)) {
    // The usual mistake with a hardware ECDSA key: its DER answer passed on as is.
    const hint = algorithm !== "ed25519" && sig instanceof Uint8Array && sig.length !== 64 &&
        sig[0] === 0x30
      ? ` (it is ${sig.length} bytes starting 0x30, like a DER signature: the protocol wants ` +
        "the 64-byte P1363 r||s; wrap the key with hardwareSigner, which converts DER)"
      : "";
    throw new EnvelopeError(
      "bad_signature",
      `Cannot sign envelope: the signature from ${signer.did} does not verify${hint}`,
    );
  }
  return base64urlEncode(sig);
}

function assertUnsigned(env: UnsignedEnvelope | PartialEnvelope): void {
  const result = unsignedEnvelopeSchema.safeParse(unsignedPart(env));
  if (!result.success) throw schemaError("envelope", result.error);
}

/**
 * Signs an unsigned envelope with all of its signers at once. `signers` must
 * match `unsigned.signers` as a set (same dids, no extra, none missing; any
 * order); each signature is placed at its signer's index. Every signature is
 * checked before it is used. Throws {@link EnvelopeError}: `"schema"`,
 * `"signers_mismatch"`, `"bad_signature"`.
 *
 * @example
 * ```ts
 * const env = await signEnvelope(createEnvelope({ ..., signers: [a.did, b.did] }), [b, a]);
 * ```
 */
export async function signEnvelope(
  unsigned: UnsignedEnvelope,
  signers: Signer[],
): Promise<Envelope> {
  assertUnsigned(unsigned);
  const wanted = unsigned.signers;
  const given = signers.map((s) => s.did);
  if (
    given.length !== wanted.length || new Set(given).size !== given.length ||
    !given.every((d) => wanted.includes(d))
  ) {
    throw new EnvelopeError(
      "signers_mismatch",
      "Cannot sign envelope: the signers given do not match the envelope's signers",
    );
  }
  const payload = signingPayload(unsigned);
  const sigs = new Array<string>(wanted.length);
  await Promise.all(signers.map(async (signer) => {
    sigs[wanted.indexOf(signer.did)] = await signOne(payload, signer);
  }));
  return { ...unsignedPart(unsigned), sigs };
}

/**
 * Adds one party's signature to an unsigned or partially signed envelope and
 * returns a new {@link PartialEnvelope} (the input is not modified). Parties
 * may sign in any order; signing twice replaces the earlier signature.
 * Throws {@link EnvelopeError} `"signers_mismatch"` if `signer.did` is not
 * one of the envelope's signers.
 *
 * @example
 * ```ts
 * let p = await addSignature(unsigned, giver);
 * p = await addSignature(p, taker);
 * if (isFullySigned(p)) await client.submit(p);
 * ```
 */
export async function addSignature(
  env: UnsignedEnvelope | PartialEnvelope,
  signer: Signer,
): Promise<PartialEnvelope> {
  assertUnsigned(env);
  const index = env.signers.indexOf(signer.did);
  if (index < 0) {
    throw new EnvelopeError(
      "signers_mismatch",
      `Cannot add signature: ${signer.did} is not a signer of this envelope`,
    );
  }
  const previous = (env as PartialEnvelope).sigs;
  const sigs: Array<string | null> =
    Array.isArray(previous) && previous.length === env.signers.length
      ? [...previous]
      : env.signers.map(() => null);
  sigs[index] = await signOne(signingPayload(env), signer);
  return { ...unsignedPart(env), sigs };
}

/**
 * True iff every signer has a signature, so the envelope can be submitted.
 * (Whether the signatures verify is {@link verifyEnvelopeSignatures}' job.)
 *
 * @example
 * ```ts
 * isFullySigned(partial); // narrows to Envelope
 * ```
 */
export function isFullySigned(env: UnsignedEnvelope | PartialEnvelope | Envelope): env is Envelope {
  const sigs = (env as PartialEnvelope).sigs;
  return Array.isArray(sigs) && sigs.length === env.signers.length &&
    sigs.every((s) => typeof s === "string" && s.length > 0);
}

/** Result of {@link verifyEnvelopeSignatures}. */
export type SignatureCheck = { ok: true } | { ok: false; index: number; reason: string };

/**
 * Verifies every signature of an envelope over its {@link signingPayload}
 * (DESIGN §2). Returns `{ ok: true }`, or the lowest failing signer index
 * with a reason: a signer that is not a did:key, a missing or non-base64url
 * signature, or a signature that does not verify. Never throws. Does not
 * check the rest of the schema (use {@link parseEnvelope} first), expiry or
 * revocation. A caller that already built the signing payload may pass it as
 * `precomputedPayload` (it must be `signingPayload(env)`), and a server may
 * pass its own `verify` (it must answer as {@link verifySignature} does).
 *
 * @example
 * ```ts
 * const check = await verifyEnvelopeSignatures(env);
 * if (!check.ok) console.log(check.index, check.reason);
 * ```
 */
export async function verifyEnvelopeSignatures(
  env: Envelope,
  precomputedPayload?: Uint8Array,
  verify: (
    alg: Algorithm,
    publicKey: Uint8Array,
    message: Uint8Array,
    signature: Uint8Array,
  ) => Promise<boolean> | boolean = verifySignature,
): Promise<SignatureCheck> {
  try {
    if (!Array.isArray(env?.signers) || !Array.isArray(env?.sigs)) {
      return { ok: false, index: 0, reason: "Envelope has no signers or sigs array" };
    }
    if (env.signers.length === 0) return { ok: false, index: 0, reason: "Envelope has no signers" };
    let payload: Uint8Array;
    try {
      payload = precomputedPayload ?? signingPayload(env);
    } catch (e) {
      return {
        ok: false,
        index: 0,
        reason: `Cannot build signing payload: ${(e as Error).message}`,
      };
    }
    const results = await Promise.all(env.signers.map(async (did, i): Promise<string | null> => {
      let key;
      try {
        key = decodeDidKey(did);
      } catch (e) {
        return `Signer ${i} is not a valid did:key: ${(e as Error).message}`;
      }
      const encoded = env.sigs[i];
      if (typeof encoded !== "string") return `Signature ${i} is missing`;
      let sig: Uint8Array;
      try {
        sig = base64urlDecode(encoded);
      } catch {
        return `Signature ${i} is not base64url`;
      }
      const ok = await verify(key.algorithm, key.publicKey, payload, sig);
      return ok ? null : `Signature ${i} by ${did} does not verify`;
    }));
    const index = results.findIndex((r) => r !== null);
    if (index >= 0) return { ok: false, index, reason: results[index]! };
    if (env.sigs.length !== env.signers.length) {
      return {
        ok: false,
        index: env.signers.length,
        reason: `Expected ${env.signers.length} signatures, got ${env.sigs.length}`,
      };
    }
    return { ok: true };
  } catch (e) {
    return { ok: false, index: 0, reason: `Cannot verify envelope: ${(e as Error).message}` };
  }
}

/**
 * Canonical JSON text of an envelope (what clients send and what the log's
 * leaf data embeds). Same errors as {@link canonicalJson}.
 *
 * @example
 * ```ts
 * await fetch(url, { method: "POST", body: envelopeJson(env) });
 * ```
 */
export function envelopeJson(env: Envelope): string {
  return canonicalJson(env);
}
