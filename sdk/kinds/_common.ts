/**
 * Field schemas and envelope builders shared by the body schemas of the
 * built-in kinds. Internal to `sdk/kinds/`.
 *
 * @module
 */
import { z } from "zod";
import { DID_KEY_CHARS_MAX, isDidKey } from "../did_key.ts";
import {
  createEnvelope,
  type Envelope,
  EnvelopeError,
  signEnvelope,
  type UnsignedEnvelope,
} from "../envelope.ts";
import type { Signer } from "../keys.ts";

/** Most decimal digits of an amount: 38 digits fit any 128-bit unsigned integer. */
export const AMOUNT_DIGITS_MAX = 38;

/**
 * An amount: an integer decimal string without sign, exponent or leading
 * zero (`"0"`, `"1250"`), at most {@link AMOUNT_DIGITS_MAX} digits. Amounts
 * are integers in the asset's smallest unit; never floats (DESIGN §2).
 */
export const amount = z.string().regex(
  /^(0|[1-9][0-9]{0,37})$/,
  "must be an integer decimal string without sign or leading zero",
);

/** An {@link amount} greater than zero. */
export const positiveAmount = amount.refine((s) => s !== "0", "must be greater than 0");

/** A signer identity: a did:key (DESIGN §2). */
export const did = z.string().max(DID_KEY_CHARS_MAX).refine(isDidKey, "must be a did:key");

/** A millisecond timestamp: a non-negative safe integer. */
export const millis = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A non-negative safe integer count. */
export const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** Lowercase hex SHA-256. */
export const hex64 = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex characters");

/**
 * An identifier chosen by a client (asset, item, period, record): 1 to
 * `charsMax` of `A-Z a-z 0-9 . _ : -`, starting with a letter or digit. No
 * `/`, so it can stand in a URL path as is, and no `\u0000`, which separates
 * the parts of state keys.
 */
export function ident(charsMax: number) {
  return z.string().max(charsMax).regex(
    /^[A-Za-z0-9][A-Za-z0-9._:-]*$/,
    "must start with a letter or digit and contain only A-Z a-z 0-9 . _ : -",
  );
}

/** Free text shown to people (a note, a reason): 1 to `charsMax` characters. */
export function text(charsMax: number) {
  return z.string().min(1).max(charsMax);
}

/**
 * Where and how long an envelope built by a kind builder (`grantAccess`,
 * `payTransfer`, `createItem`, `submitUsage`, ...) lives; the builder names
 * the signers itself. (`buildTx` takes its `TxOptions`, which name the signers
 * as well.)
 *
 * @example
 * ```ts
 * const options: BuilderOptions = { ledger: "demo", ttlMs: 10 * 60_000 };
 * const env = await grantAccess(body, ownerSigner, options);
 * ```
 */
export interface BuilderOptions {
  /** The ledger's name, e.g. `"demo"`. */
  ledger: string;
  /** Lifetime from now in ms (default 1 h). */
  ttlMs?: number;
  /** Absolute expiry in ms; wins over `ttlMs`. */
  expiresAt?: number;
  /** The current time in ms, default `Date.now()`. */
  now?: number;
}

/**
 * Checks `body` against `schema`, the body schema of `kind`, so that a
 * mistake is reported where it is made and not as a refusal by the site.
 * Throws {@link EnvelopeError} (`code: "schema"`) naming the first bad field
 * (`Invalid data.anchor body at body.seq: ...`) and carrying every zod issue
 * — the error type every envelope builder throws, and one a bundle user can
 * catch (zod's own `ZodError` is not exported by the bundle).
 */
export function checkBody(schema: z.ZodType, kind: string, body: unknown): void {
  const parsed = schema.safeParse(body);
  if (parsed.success) return;
  const issue = parsed.error.issues[0];
  throw new EnvelopeError(
    "schema",
    `Invalid ${kind} body at ${["body", ...issue.path].join(".")}: ${issue.message}`,
    parsed.error.issues,
  );
}

/**
 * An unsigned envelope of `kind` whose body has been checked against
 * `schema` first, so a mistake is reported here and not as a refusal by the
 * site. Throws {@link EnvelopeError} (`code: "schema"`) for a bad body, as
 * {@link checkBody} does.
 */
export function unsignedTx<S extends z.ZodType>(
  schema: S,
  kind: string,
  body: z.input<S>,
  signers: string[],
  options: BuilderOptions,
): UnsignedEnvelope {
  checkBody(schema, kind, body);
  return createEnvelope({
    ledger: options.ledger,
    kind,
    body,
    signers,
    ...(options.expiresAt !== undefined ? { expiresAt: options.expiresAt } : {}),
    ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}),
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
}

/** {@link unsignedTx} signed by every signer in `signers` (their order is the envelope's). */
export async function signedTx<S extends z.ZodType>(
  schema: S,
  kind: string,
  body: z.input<S>,
  signers: Signer[],
  options: BuilderOptions,
): Promise<Envelope> {
  const unsigned = unsignedTx(schema, kind, body, signers.map((s) => s.did), options);
  return await signEnvelope(unsigned, signers);
}
