/**
 * C2SP signed notes with Ed25519 signatures (c2sp.org/signed-note), the
 * envelope of co-signed checkpoints (DESIGN §2).
 *
 * A note is a text ending in a newline, a blank line, then one signature line
 * per key: `— <key name> <base64(keyID || signature)>\n` (em dash U+2014).
 * The key ID is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || pubkey),
 * 0x01 being the Ed25519 signature type; the signature is Ed25519 (RFC 8032)
 * over the UTF-8 text including its final newline. A verifier key is written
 * `<name>+<key ID, 8 hex digits>+<base64(0x01 || pubkey)>`.
 *
 * @module
 */

import { ed25519 } from "@noble/curves/ed25519.js";
import {
  base64Decode,
  base64Encode,
  bytesEqual,
  concatBytes,
  hexEncode,
  utf8Encode,
} from "./encoding.ts";
import { sha256 } from "./hash.ts";
import { verifySignatureReference } from "./signature.ts";

/** Signature type byte of Ed25519 in signed notes. */
export const NOTE_ALG_ED25519 = 0x01;
/** Most signature lines accepted in one note (the spec requires at least 16). */
export const NOTE_SIGNATURES_MAX = 100;
/** Largest note accepted, in UTF-16 code units of the string. */
export const NOTE_CHARS_MAX = 1 << 20;

const EM_DASH_PREFIX = "\u2014 ";
// deno-lint-ignore no-control-regex
const CONTROL_RE = /[\u0000-\u0009\u000b-\u001f]/;
const LONE_SURROGATE_RE = /[\uD800-\uDFFF]/u;
const SPACE_OR_PLUS_RE = /[\s+\u0085]/u;
const HEX8_RE = /^[0-9a-f]{8}$/;

/** Thrown by the parsers and signers of this module for malformed input. */
export class NoteError extends Error {
  /** Creates a note error with a sentence-case message. */
  constructor(message: string) {
    super(message);
    this.name = "NoteError";
  }
}

/** One signature line of a note. */
export interface NoteSignature {
  /** The key name. */
  name: string;
  /** The 4-byte key ID. */
  keyHash: Uint8Array;
  /** The signature bytes after the key ID (64 for Ed25519). */
  signature: Uint8Array;
}

function assertKeyName(name: string): void {
  if (typeof name !== "string" || name.length === 0) throw new NoteError("Invalid key name: empty");
  if (SPACE_OR_PLUS_RE.test(name) || CONTROL_RE.test(name) || name.includes("\n")) {
    throw new NoteError(`Invalid key name "${name}": contains a space, "+" or control character`);
  }
  if (LONE_SURROGATE_RE.test(name)) throw new NoteError("Invalid key name: not valid UTF-8");
}

function assertText(text: string): void {
  if (typeof text !== "string") throw new NoteError("Invalid note text: not a string");
  if (!text.endsWith("\n")) throw new NoteError("Invalid note text: must end with a newline");
  if (CONTROL_RE.test(text)) throw new NoteError("Invalid note text: contains a control character");
  if (LONE_SURROGATE_RE.test(text)) throw new NoteError("Invalid note text: not valid UTF-8");
}

/** key ID = SHA-256(name || 0x0A || 0x01 || publicKey)[:4] (c2sp.org/signed-note). */
function keyId(name: string, publicKey: Uint8Array): Uint8Array {
  return sha256(concatBytes(utf8Encode(name + "\n"), new Uint8Array([NOTE_ALG_ED25519]), publicKey))
    .slice(0, 4);
}

/**
 * The verifier key string of an Ed25519 key: `name+<8 hex key ID>+<base64(0x01||pubkey)>`.
 * Requires a valid key name (non-empty, no spaces or "+") and a 32-byte key.
 *
 * @example
 * ```ts
 * verifierKey("PeterNeumann", pk); // "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
 * ```
 */
export function verifierKey(name: string, publicKey: Uint8Array): string {
  assertKeyName(name);
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new NoteError("Invalid Ed25519 public key: must be 32 bytes");
  }
  const encoded = base64Encode(concatBytes(new Uint8Array([NOTE_ALG_ED25519]), publicKey));
  return `${name}+${hexEncode(keyId(name, publicKey))}+${encoded}`;
}

/**
 * Parses a verifier key string (format on {@link verifierKey}). Throws
 * {@link NoteError} for a bad name, a key ID that is not 8 lowercase hex
 * digits or does not match the key, a key type other than Ed25519, or a key
 * that is not 32 bytes.
 *
 * @example
 * ```ts
 * parseVerifierKey("PeterNeumann+c74f20a3+ARpc...").name; // "PeterNeumann"
 * ```
 */
export function parseVerifierKey(
  s: string,
): { name: string; keyHash: Uint8Array; publicKey: Uint8Array } {
  if (typeof s !== "string") throw new NoteError("Invalid verifier key: not a string");
  // The key is standard base64, which may itself contain "+": split on the
  // first two only.
  const first = s.indexOf("+");
  const second = first < 0 ? -1 : s.indexOf("+", first + 1);
  if (first < 0 || second < 0) throw new NoteError("Invalid verifier key: expected name+hash+key");
  const name = s.slice(0, first);
  const hash = s.slice(first + 1, second);
  const key = s.slice(second + 1);
  assertKeyName(name);
  if (!HEX8_RE.test(hash)) {
    throw new NoteError("Invalid verifier key: hash must be 8 lowercase hex digits");
  }
  let raw: Uint8Array;
  try {
    raw = base64Decode(key);
  } catch {
    throw new NoteError("Invalid verifier key: key is not base64");
  }
  if (raw.length !== 33 || raw[0] !== NOTE_ALG_ED25519) {
    throw new NoteError("Invalid verifier key: not an Ed25519 key (type 0x01, 32 bytes)");
  }
  const publicKey = raw.slice(1);
  const keyHash = keyId(name, publicKey);
  if (hexEncode(keyHash) !== hash) {
    throw new NoteError("Invalid verifier key: hash does not match key");
  }
  return { name, keyHash, publicKey };
}

/**
 * Signs `text` with an Ed25519 key and returns one signature line,
 * `— <name> <base64(keyID || sig)>\n`, so that sites can sign independently
 * and the lines be assembled later with {@link assembleNote}. Requires text
 * ending in a newline without control characters (other than newline), a
 * valid key name and a 32-byte Ed25519 secret key (seed).
 *
 * @example
 * ```ts
 * const line = signNoteLine(checkpointText, "site-a.example", siteSecretKey);
 * ```
 */
export function signNoteLine(text: string, name: string, secretKey: Uint8Array): string {
  assertText(text);
  assertKeyName(name);
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new NoteError("Invalid Ed25519 secret key: must be 32 bytes");
  }
  const publicKey = ed25519.getPublicKey(secretKey);
  return noteSignatureLine(name, publicKey, ed25519.sign(utf8Encode(text), secretKey));
}

/**
 * Like {@link signNoteLine}, with the signature made by `sign` (an Ed25519
 * signer over the text's UTF-8 bytes, e.g. a non-extractable WebCrypto key)
 * for the given public key. Ed25519 signatures are deterministic, so the
 * line is byte-identical to {@link signNoteLine}'s with the same key.
 *
 * @example
 * ```ts
 * const line = await signNoteLineWith(text, "site-a.example", publicKey, (m) => key.sign(m));
 * ```
 */
export async function signNoteLineWith(
  text: string,
  name: string,
  publicKey: Uint8Array,
  sign: (message: Uint8Array) => Promise<Uint8Array>,
): Promise<string> {
  assertText(text);
  assertKeyName(name);
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new NoteError("Invalid Ed25519 public key: must be 32 bytes");
  }
  const sig = await sign(utf8Encode(text));
  if (!(sig instanceof Uint8Array) || sig.length !== 64) {
    throw new NoteError("Invalid Ed25519 signature: must be 64 bytes");
  }
  return noteSignatureLine(name, publicKey, sig);
}

function noteSignatureLine(name: string, publicKey: Uint8Array, sig: Uint8Array): string {
  return `${EM_DASH_PREFIX}${name} ${base64Encode(concatBytes(keyId(name, publicKey), sig))}\n`;
}

/**
 * Assembles a signed note: `text`, a blank line, then the signature lines (a
 * missing final newline on a line is added). Throws {@link NoteError} if the
 * text or any line is malformed or there are no lines.
 *
 * @example
 * ```ts
 * const note = assembleNote(text, [lineFromSiteA, lineFromSiteB]);
 * ```
 */
export function assembleNote(text: string, signatureLines: string[]): string {
  assertText(text);
  if (!Array.isArray(signatureLines) || signatureLines.length === 0) {
    throw new NoteError("Cannot assemble note: no signature lines");
  }
  const lines = signatureLines.map((
    l,
  ) => (typeof l === "string" && !l.endsWith("\n") ? l + "\n" : l));
  const note = text + "\n" + lines.join("");
  const parsed = parseNote(note);
  if (parsed.text !== text || parsed.signatures.length !== lines.length) {
    throw new NoteError("Cannot assemble note: malformed signature line");
  }
  return note;
}

/**
 * Parses a signed note without verifying it. The note must be valid UTF-8
 * without control characters other than newline, end with a newline, and
 * consist of text, a blank line (the LAST blank line separates), and 1 to
 * {@link NOTE_SIGNATURES_MAX} lines `— <name> <base64>` whose base64 decodes
 * to at least 5 bytes (4-byte key ID, then the signature). Throws
 * {@link NoteError} otherwise.
 *
 * @example
 * ```ts
 * const { text, signatures } = parseNote(note);
 * ```
 */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  if (typeof note !== "string") throw new NoteError("Invalid note: not a string");
  if (note.length > NOTE_CHARS_MAX) throw new NoteError("Invalid note: too large");
  if (LONE_SURROGATE_RE.test(note)) throw new NoteError("Invalid note: not valid UTF-8");
  if (CONTROL_RE.test(note)) throw new NoteError("Invalid note: contains a control character");
  if (!note.endsWith("\n")) throw new NoteError("Invalid note: must end with a newline");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new NoteError("Invalid note: no blank line before the signatures");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  if (lines.length === 1 && lines[0] === "") throw new NoteError("Invalid note: no signatures");
  if (lines.length > NOTE_SIGNATURES_MAX) throw new NoteError("Invalid note: too many signatures");
  const signatures = lines.map((line, i): NoteSignature => {
    if (!line.startsWith(EM_DASH_PREFIX)) {
      throw new NoteError(`Invalid note: signature line ${i + 1} does not start with "— "`);
    }
    const rest = line.slice(EM_DASH_PREFIX.length);
    const space = rest.indexOf(" ");
    if (space < 0) throw new NoteError(`Invalid note: signature line ${i + 1} has no signature`);
    const name = rest.slice(0, space);
    assertKeyName(name);
    let raw: Uint8Array;
    try {
      raw = base64Decode(rest.slice(space + 1));
    } catch {
      throw new NoteError(`Invalid note: signature line ${i + 1} is not base64`);
    }
    if (raw.length < 5) throw new NoteError(`Invalid note: signature line ${i + 1} is too short`);
    return { name, keyHash: raw.slice(0, 4), signature: raw.slice(4) };
  });
  return { text, signatures };
}

/**
 * Verifies a signed note against trusted verifier keys and returns the names
 * of the keys whose signatures verify, each once, in verifier-key order.
 * Synchronous; Ed25519 is checked with the strict RFC 8032 reference path.
 *
 * Following c2sp.org/signed-note: signatures from unknown keys are ignored
 * (a key is known only if BOTH its name and key ID match a verifier key, so
 * a name with a mismatched key ID does not count), and a signature from a
 * known key that fails to verify makes the whole note invalid. Malformed
 * notes and invalid notes yield an empty array; malformed verifier keys are
 * skipped. Never throws.
 *
 * @example
 * ```ts
 * const names = verifyNote(noteText, sites.map((s) => s.verifierKey));
 * if (names.length >= quorum) trust(parseCheckpoint(parseNote(noteText).text));
 * ```
 */
export function verifyNote(note: string, verifierKeys: string[]): string[] {
  return verifyNoteWith(
    note,
    verifierKeys,
    (publicKey, message, signature) =>
      verifySignatureReference("ed25519", publicKey, message, signature),
  );
}

/**
 * {@link verifyNote} with each Ed25519 signature checked by `verify` (which
 * must answer as the reference does, e.g. `verifyEd25519With` over a native
 * verifier). Same rules and result; never throws.
 *
 * @example
 * ```ts
 * const names = verifyNoteWith(noteText, keys, (pk, m, s) => myVerify(pk, m, s));
 * ```
 */
export function verifyNoteWith(
  note: string,
  verifierKeys: string[],
  verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean,
): string[] {
  try {
    const plan = planNoteChecks(note, verifierKeys);
    for (const c of plan.checks) {
      if (!verify(c.publicKey, plan.message, c.signature)) return [];
    }
    return plan.names;
  } catch {
    return [];
  }
}

/**
 * What verifying a note takes: the signatures to check (those from known
 * keys: name AND key ID match) and the names that count if all of them
 * verify, each once, in verifier-key order. Throws on a malformed note.
 */
function planNoteChecks(note: string, verifierKeys: string[]): {
  message: Uint8Array;
  checks: Array<{ publicKey: Uint8Array; signature: Uint8Array }>;
  names: string[];
} {
  const parsed = parseNote(note);
  const keys: Array<{ name: string; keyHash: Uint8Array; publicKey: Uint8Array }> = [];
  for (const k of Array.isArray(verifierKeys) ? verifierKeys : []) {
    try {
      keys.push(parseVerifierKey(k));
    } catch {
      // A malformed verifier key cannot vouch for anything.
    }
  }
  const checks: Array<{ publicKey: Uint8Array; signature: Uint8Array }> = [];
  const signed = new Set<string>();
  for (const sig of parsed.signatures) {
    const matches = keys.filter((k) => k.name === sig.name && bytesEqual(k.keyHash, sig.keyHash));
    for (const key of matches) {
      checks.push({ publicKey: key.publicKey, signature: sig.signature });
      signed.add(`${key.name}+${hexEncode(key.keyHash)}+${hexEncode(key.publicKey)}`);
    }
  }
  const names: string[] = [];
  for (const k of keys) {
    const id = `${k.name}+${hexEncode(k.keyHash)}+${hexEncode(k.publicKey)}`;
    if (signed.has(id) && !names.includes(k.name)) names.push(k.name);
  }
  return { message: utf8Encode(parsed.text), checks, names };
}
