/**
 * Byte encodings used on the wire (DESIGN §2): base64url without padding for
 * binary values in JSON, standard padded base64 inside signed notes, and
 * lowercase hex for hashes. Every decoder is strict: it accepts exactly one
 * spelling per byte string, so that two parties never disagree about whether
 * two encodings denote the same bytes.
 *
 * @module
 */

import { base64, base64urlnopad, hex } from "@scure/base";

/**
 * Thrown by every decoder in this module when its input is not the one
 * canonical encoding of some byte string.
 *
 * @example
 * ```ts
 * try { hexDecode("ABC"); } catch (e) { e instanceof EncodingError; } // true
 * ```
 */
export class EncodingError extends Error {
  /** Creates an encoding error with a sentence-case message. */
  constructor(message: string) {
    super(message);
    this.name = "EncodingError";
  }
}

const BASE64URL_RE = /^[A-Za-z0-9_-]*$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX_RE = /^(?:[0-9a-f]{2})*$/;

/**
 * Encodes bytes as base64url (RFC 4648 §5) WITHOUT padding.
 *
 * @example
 * ```ts
 * base64urlEncode(new Uint8Array([0xfb, 0xff])); // "-_8"
 * ```
 */
export function base64urlEncode(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

/**
 * Decodes unpadded base64url (RFC 4648 §5). Throws {@link EncodingError} on
 * padding (`=`), characters outside `[A-Za-z0-9_-]`, an impossible length
 * (length % 4 == 1), or non-zero trailing bits (so `"AB"` is refused: only
 * `"AA"` encodes the byte 0x00).
 *
 * @example
 * ```ts
 * base64urlDecode("-_8"); // Uint8Array [0xfb, 0xff]
 * ```
 */
export function base64urlDecode(s: string): Uint8Array {
  if (typeof s !== "string") throw new EncodingError("Cannot decode base64url: not a string");
  if (!BASE64URL_RE.test(s)) {
    throw new EncodingError("Cannot decode base64url: padding or invalid character");
  }
  try {
    return base64urlnopad.decode(s);
  } catch (e) {
    throw new EncodingError(`Cannot decode base64url: ${(e as Error).message}`);
  }
}

/** Each base64url character's 6-bit value, indexed by char code; -1 for characters outside it. */
const BASE64URL_VALUES: Int8Array = (() => {
  const values = new Int8Array(128).fill(-1);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i;
  return values;
})();

/**
 * The number of bytes `s` decodes to when {@link base64urlDecode} accepts
 * it, else undefined — the same verdict without building the bytes, for
 * checks that only need to know (a schema's refinements run on every
 * envelope a site admits). Accepts exactly what `base64urlDecode` accepts:
 * characters of `[A-Za-z0-9_-]` only, a length that is not 1 more than a
 * multiple of 4, and zero bits past the last whole byte.
 *
 * @example
 * ```ts
 * base64urlByteLength("-_8"); // 2
 * base64urlByteLength("AB"); // undefined (a non-zero trailing bit)
 * ```
 */
export function base64urlByteLength(s: string): number | undefined {
  if (typeof s !== "string") return undefined;
  const n = s.length;
  const rest = n % 4;
  if (rest === 1) return undefined;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const code = s.charCodeAt(i);
    last = code < 128 ? BASE64URL_VALUES[code] : -1;
    if (last < 0) return undefined;
  }
  // Two characters carry 12 bits for one byte, three 18 bits for two: the
  // 4 or 2 bits left over must be zero, as the decoder requires.
  if (rest === 2 && (last & 0x0f) !== 0) return undefined;
  if (rest === 3 && (last & 0x03) !== 0) return undefined;
  return (n - rest) / 4 * 3 + (rest === 0 ? 0 : rest - 1);
}

/**
 * Encodes bytes as standard, padded base64 (RFC 4648 §4), as used in C2SP
 * signed notes and checkpoints.
 *
 * @example
 * ```ts
 * base64Encode(new Uint8Array([0xfb, 0xff])); // "+/8="
 * ```
 */
export function base64Encode(bytes: Uint8Array): string {
  return base64.encode(bytes);
}

/**
 * Decodes standard, padded base64 (RFC 4648 §4). Throws
 * {@link EncodingError} on missing or excess padding, characters outside the
 * standard alphabet, whitespace, or non-zero trailing bits.
 *
 * @example
 * ```ts
 * base64Decode("+/8="); // Uint8Array [0xfb, 0xff]
 * ```
 */
export function base64Decode(s: string): Uint8Array {
  if (typeof s !== "string" || !BASE64_RE.test(s)) {
    throw new EncodingError("Cannot decode base64: padding or invalid character");
  }
  try {
    return base64.decode(s);
  } catch (e) {
    throw new EncodingError(`Cannot decode base64: ${(e as Error).message}`);
  }
}

/**
 * Encodes bytes as lowercase hex.
 *
 * @example
 * ```ts
 * hexEncode(new Uint8Array([0xab, 0x01])); // "ab01"
 * ```
 */
export function hexEncode(bytes: Uint8Array): string {
  return hex.encode(bytes);
}

/**
 * Decodes lowercase hex. Throws {@link EncodingError} on odd length,
 * uppercase digits, or any other character (hashes are lowercase on the wire,
 * so `"AB"` is not an alternative spelling of `"ab"`).
 *
 * @example
 * ```ts
 * hexDecode("ab01"); // Uint8Array [0xab, 0x01]
 * ```
 */
export function hexDecode(s: string): Uint8Array {
  if (typeof s !== "string" || !HEX_RE.test(s)) {
    throw new EncodingError("Cannot decode hex: odd length, uppercase or invalid character");
  }
  return hex.decode(s);
}

const UTF8_ENCODER = new TextEncoder();
const UTF8_DECODER = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Encodes a string as UTF-8. Lone surrogates become U+FFFD (per the WHATWG
 * encoder); callers that sign text should reject such strings beforehand, as
 * {@link canonicalJson} does.
 *
 * @example
 * ```ts
 * utf8Encode("é"); // Uint8Array [0xc3, 0xa9]
 * ```
 */
export function utf8Encode(s: string): Uint8Array {
  return UTF8_ENCODER.encode(s);
}

/**
 * Decodes UTF-8, throwing {@link EncodingError} on any invalid sequence
 * (fatal mode; no replacement characters). A leading BOM is kept as U+FEFF.
 *
 * @example
 * ```ts
 * utf8Decode(new Uint8Array([0xc3, 0xa9])); // "é"
 * ```
 */
export function utf8Decode(bytes: Uint8Array): string {
  try {
    return UTF8_DECODER.decode(bytes);
  } catch {
    throw new EncodingError("Cannot decode UTF-8: invalid byte sequence");
  }
}

/**
 * Returns true iff `a` and `b` have the same length and contents. Not
 * constant-time: use it for public data (hashes, keys, signatures) only.
 *
 * @example
 * ```ts
 * bytesEqual(new Uint8Array([1]), new Uint8Array([1])); // true
 * ```
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false;
  }
  return true;
}

/**
 * Concatenates byte arrays into a new array.
 *
 * @example
 * ```ts
 * concatBytes(new Uint8Array([1]), new Uint8Array([2, 3])); // Uint8Array [1, 2, 3]
 * ```
 */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
