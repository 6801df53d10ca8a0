import assert from "node:assert/strict";
import fc from "fast-check";
import canonicalize from "canonicalize";
import { canonicalBytes, canonicalJson } from "./canonical_json.ts";
import { utf8Decode } from "./encoding.ts";

function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt("0x" + hex));
  return view.getFloat64(0);
}

Deno.test("canonicalJson() serializes numbers per RFC 8785 Appendix B", () => {
  const table: Array<[string, string]> = [
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ];
  for (const [bits, want] of table) assert.equal(canonicalJson(fromBits(bits)), want, bits);
});

Deno.test("canonicalJson() reproduces the RFC 8785 §3.2.2 example (whitespace, escaping, numbers)", () => {
  const input = JSON.parse(
    '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
      '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
      '"literals": [null, true, false]}',
  );
  assert.equal(
    canonicalJson(input),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
      '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  );
});

Deno.test("canonicalJson() sorts keys by UTF-16 code units (RFC 8785 §3.2.3 example)", () => {
  const input = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
  };
  // JSON.parse would move the integer-like key "1" first, so check the text itself.
  assert.equal(
    canonicalJson(input),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control",' +
      '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
      '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

Deno.test("canonicalJson() sorts nested objects and keeps array order", () => {
  assert.equal(canonicalJson({ b: [{ z: 1, y: 2 }, 3], a: {} }), '{"a":{},"b":[{"y":2,"z":1},3]}');
  assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
  assert.equal(canonicalJson(Object.assign(Object.create(null), { x: 1 })), '{"x":1}');
});

Deno.test("canonicalJson() throws TypeError for values JSON cannot carry", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const bad: unknown[] = [
    undefined,
    () => 1,
    NaN,
    Infinity,
    -Infinity,
    10n,
    Symbol("s"),
    [undefined],
    { a: NaN },
    { a: [1, () => 1] },
    { a: 1n },
    "\ud800",
    { "\udc00": 1 },
    new Date(0),
    new Uint8Array(1),
    new Map(),
    cyclic,
  ];
  for (const v of bad) assert.throws(() => canonicalJson(v), TypeError, String(typeof v));
});

Deno.test("canonicalBytes() is the UTF-8 of canonicalJson()", () => {
  const v = { "é": "€", n: -0 };
  assert.equal(utf8Decode(canonicalBytes(v)), '{"n":0,"é":"€"}');
});

/** Any code point, now and then a lone surrogate or an escape-worthy control character. */
const jsonStringUnit = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom("\ud800", "\udfff", "\u0000", "\u001f", '"', "\\") },
);

Deno.test("canonicalJson() matches the canonicalize package on any JSON value", () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6, stringUnit: jsonStringUnit }), (value) => {
      let reference: string | undefined;
      try {
        reference = canonicalize(value);
      } catch {
        // Lone surrogates: the reference refuses them too.
      }
      if (reference === undefined) assert.throws(() => canonicalJson(value), TypeError);
      else assert.equal(canonicalJson(value), reference);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("canonicalJson() names where a refused value sits", () => {
  assert.throws(
    () => canonicalJson({ a: [1, { b: NaN }] }),
    { name: "TypeError", message: "Cannot canonicalize value.a[1].b: NaN is not a finite number" },
  );
  assert.throws(
    () => canonicalJson({ a: [1, undefined] }),
    { message: "Cannot canonicalize value.a[1]: undefined in an array" },
  );
  const cyclic: unknown[] = [];
  cyclic.push({ again: cyclic });
  assert.throws(() => canonicalJson(cyclic), {
    message: "Cannot canonicalize value[0].again: circular reference",
  });
  let deep: unknown = 1;
  for (let i = 0; i < 129; i++) deep = [deep];
  assert.throws(() => canonicalJson(deep), { message: /nesting too deep/ });
  let fine: unknown = 1;
  for (let i = 0; i < 128; i++) fine = [fine];
  assert.equal(canonicalJson(fine), "[".repeat(128) + "1" + "]".repeat(128));
});

Deno.test("canonicalJson() keeps a container met twice without a cycle", () => {
  const shared = { x: 1 };
  assert.equal(
    canonicalJson({ a: shared, b: [shared, shared] }),
    '{"a":{"x":1},"b":[{"x":1},{"x":1}]}',
  );
});
