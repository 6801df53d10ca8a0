import assert from "node:assert/strict";
import fc from "fast-check";
import {
  base64Decode,
  base64Encode,
  base64urlByteLength,
  base64urlDecode,
  base64urlEncode,
  bytesEqual,
  concatBytes,
  EncodingError,
  hexDecode,
  hexEncode,
  utf8Decode,
  utf8Encode,
} from "./encoding.ts";

const bytes = (...b: number[]) => new Uint8Array(b);

Deno.test("base64urlEncode() uses the URL alphabet and no padding", () => {
  assert.equal(base64urlEncode(bytes(0xfb, 0xff)), "-_8");
  assert.equal(base64urlEncode(bytes()), "");
  assert.equal(base64urlEncode(bytes(0, 0, 0)), "AAAA");
});

Deno.test("base64urlDecode() round-trips every length up to 70", () => {
  for (let n = 0; n <= 70; n++) {
    const b = crypto.getRandomValues(new Uint8Array(n));
    assert.deepEqual(base64urlDecode(base64urlEncode(b)), b);
  }
});

Deno.test("base64urlDecode() rejects padding, invalid characters and non-canonical trailing bits", () => {
  for (const bad of ["AA==", "AA=", "+/8", "A", "AB", "AAF", "AA A", "AA\n", "ÄÄ", "-_9"]) {
    assert.throws(() => base64urlDecode(bad), EncodingError, bad);
  }
  // deno-lint-ignore no-explicit-any
  assert.throws(() => base64urlDecode(1 as any), EncodingError);
});

Deno.test("base64urlByteLength() gives base64urlDecode()'s verdict and length on any string", () => {
  const decoderVerdict = (s: string) => {
    try {
      return base64urlDecode(s).length;
    } catch {
      return undefined;
    }
  };
  // Mostly the alphabet, now and then a character outside it (padding, '+', '/', a space, non-ASCII).
  const char = fc.oneof(
    { weight: 20, arbitrary: fc.constantFrom(..."AQgwBCDPZaz09-_") },
    { weight: 1, arbitrary: fc.constantFrom("=", "+", "/", " ", "\n", "Ä", "\u0100", "\u{1F600}") },
  );
  fc.assert(
    fc.property(fc.array(char, { maxLength: 40 }).map((cs) => cs.join("")), (s) => {
      assert.equal(base64urlByteLength(s), decoderVerdict(s), JSON.stringify(s));
    }),
    { numRuns: 5000 },
  );
  for (let n = 0; n <= 70; n++) {
    const encoded = base64urlEncode(crypto.getRandomValues(new Uint8Array(n)));
    assert.equal(base64urlByteLength(encoded), n);
  }
  for (const bad of ["AA==", "A", "AB", "AAF", "-_9"]) {
    assert.equal(base64urlByteLength(bad), undefined);
  }
  // deno-lint-ignore no-explicit-any
  assert.equal(base64urlByteLength(1 as any), undefined);
});

Deno.test("base64Decode() accepts only canonical padded standard base64", () => {
  assert.equal(base64Encode(bytes(0xfb, 0xff)), "+/8=");
  assert.deepEqual(base64Decode("+/8="), bytes(0xfb, 0xff));
  assert.deepEqual(base64Decode(""), bytes());
  for (const bad of ["+/8", "-_8=", "AB==", "AAF=", "A===", "AA=A", "AAAA\n", " AAA", "AA==AA=="]) {
    assert.throws(() => base64Decode(bad), EncodingError, bad);
  }
});

Deno.test("hexDecode() rejects odd length, uppercase and invalid characters", () => {
  assert.equal(hexEncode(bytes(0xab, 0x01)), "ab01");
  assert.deepEqual(hexDecode("ab01"), bytes(0xab, 0x01));
  for (const bad of ["a", "AB", "aB", "0g", "0x00", " 00"]) {
    assert.throws(() => hexDecode(bad), EncodingError, bad);
  }
});

Deno.test("utf8Decode() is fatal on invalid UTF-8", () => {
  assert.deepEqual(utf8Encode("é€😀"), bytes(0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80));
  assert.equal(utf8Decode(utf8Encode("é€😀")), "é€😀");
  for (const bad of [bytes(0xff), bytes(0xc3), bytes(0xc0, 0x80), bytes(0xed, 0xa0, 0x80)]) {
    assert.throws(() => utf8Decode(bad), EncodingError);
  }
});

Deno.test("bytesEqual() compares length and content; concatBytes() joins in order", () => {
  assert.ok(bytesEqual(bytes(1, 2), bytes(1, 2)));
  assert.ok(!bytesEqual(bytes(1, 2), bytes(1, 3)));
  assert.ok(!bytesEqual(bytes(1), bytes(1, 0)));
  assert.deepEqual(concatBytes(bytes(1), bytes(), bytes(2, 3)), bytes(1, 2, 3));
  assert.deepEqual(concatBytes(), bytes());
});
