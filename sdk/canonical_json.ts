/**
 * JSON Canonicalization Scheme (RFC 8785), the canonical form that every
 * signed or hashed JSON value in the protocol goes through (DESIGN §2).
 *
 * RFC 8785 §3.2.2 serializes primitives as ECMAScript's JSON.stringify does
 * (numbers per ECMA-262 Number::toString, strings with minimal escaping), and
 * §3.2.3 sorts object members by the UTF-16 code units of their names,
 * recursively. The `canonicalize` package implements exactly this; this
 * module adds the strictness a signing format needs: values JSON cannot carry
 * are refused instead of silently dropped or turned into `null`.
 *
 * @module
 */

import canonicalize from "canonicalize";
import { utf8Encode } from "./encoding.ts";

const MAX_DEPTH = 128;

/** Matches a lone surrogate: in `u` mode a valid pair is one code point. */
const LONE_SURROGATE_RE = /[\uD800-\uDFFF]/u;

/** String.prototype.isWellFormed, which older engines (Hermes) lack. */
function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE_RE.test(s);
}

/**
 * Walks `value` and throws a TypeError for anything JSON cannot represent
 * faithfully. Object members whose value is `undefined` are allowed (they are
 * omitted, as JSON.stringify omits them), because optional fields in
 * TypeScript objects are commonly `undefined`; everywhere else `undefined` is
 * refused because it would silently become `null` or vanish.
 */
function assertJsonValue(value: unknown, path: string, depth: number, seen: Set<object>): void {
  if (depth > MAX_DEPTH) throw new TypeError(`Cannot canonicalize ${path}: nesting too deep`);
  switch (typeof value) {
    case "string":
      if (!isWellFormed(value)) {
        throw new TypeError(`Cannot canonicalize ${path}: string has a lone surrogate`);
      }
      return;
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) {
        throw new TypeError(`Cannot canonicalize ${path}: ${value} is not a finite number`);
      }
      return;
    case "object": {
      if (value === null) return;
      if (seen.has(value)) throw new TypeError(`Cannot canonicalize ${path}: circular reference`);
      const proto = Object.getPrototypeOf(value);
      if (Array.isArray(value)) {
        seen.add(value);
        for (let i = 0; i < value.length; i++) {
          const item = value[i];
          if (item === undefined) {
            throw new TypeError(`Cannot canonicalize ${path}[${i}]: undefined in an array`);
          }
          assertJsonValue(item, `${path}[${i}]`, depth + 1, seen);
        }
        seen.delete(value);
        return;
      }
      if (proto !== Object.prototype && proto !== null) {
        // Dates, Maps, typed arrays, class instances and toJSON() tricks have
        // no single obvious JSON form; a signing format should not guess.
        throw new TypeError(`Cannot canonicalize ${path}: not a plain object or array`);
      }
      seen.add(value);
      for (const key of Object.keys(value)) {
        if (!isWellFormed(key)) {
          throw new TypeError(`Cannot canonicalize ${path}: key has a lone surrogate`);
        }
        const member = (value as Record<string, unknown>)[key];
        if (member === undefined) continue;
        assertJsonValue(member, `${path}.${key}`, depth + 1, seen);
      }
      seen.delete(value);
      return;
    }
    default:
      // undefined, function, symbol, bigint
      throw new TypeError(`Cannot canonicalize ${path}: ${typeof value} is not a JSON value`);
  }
}

/**
 * Serializes `value` in RFC 8785 canonical form.
 *
 * Accepts: null, booleans, finite numbers, well-formed strings, arrays and
 * plain objects of those (members whose value is `undefined` are omitted).
 * Throws TypeError for `undefined` (top level or in an array), functions,
 * symbols, bigints, NaN/±Infinity, lone surrogates, cycles, non-plain objects
 * (Date, Map, Uint8Array, class instances) and nesting deeper than 128.
 *
 * Integers above 2^53 must be passed as decimal strings (DESIGN §2).
 *
 * @example
 * ```ts
 * canonicalJson({ b: 1e21, a: [true, "\u20ac"] }); // '{"a":[true,"€"],"b":1e+21}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  assertJsonValue(value, "value", 0, new Set());
  const out = canonicalize(value);
  if (typeof out !== "string") throw new TypeError("Cannot canonicalize value");
  return out;
}

/**
 * UTF-8 bytes of {@link canonicalJson}(value); same preconditions and errors.
 *
 * @example
 * ```ts
 * canonicalBytes({ a: 1 }); // bytes of '{"a":1}'
 * ```
 */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8Encode(canonicalJson(value));
}
