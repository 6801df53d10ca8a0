import assert from "node:assert/strict";
import { utf8Encode } from "../encoding.ts";
import type { JsonValue } from "../canonical_json.ts";
import {
  anchorBody,
  buildBatch,
  type Reading,
  readingBytes,
  readingProof,
  verifyReading,
} from "./readings.ts";
import { dataAnchorBody } from "./data.ts";

const readings = Array.from(
  { length: 7 },
  (_, i) => ({ t: 1764000000000 + i * 1000, kmh: 80 + i }),
);

Deno.test("verifyReading() proves every reading of a batch against its anchor alone", () => {
  const batch = buildBatch(readings);
  const body = anchorBody(batch, { stream: "truck-1/telemetry", seq: 3, from: 1, to: 2 });
  assert.ok(dataAnchorBody.safeParse(body).success);
  for (let i = 0; i < readings.length; i++) {
    assert.ok(verifyReading(readings[i], readingProof(batch, i), body), `reading ${i}`);
  }
});

Deno.test("verifyReading() hashes JSON readings as JCS, so key order does not matter", () => {
  const batch = buildBatch([{ b: 1, a: 2 }, { c: 3 }]);
  assert.ok(verifyReading({ a: 2, b: 1 }, readingProof(batch, 0), batch));
});

Deno.test("verifyReading() rejects a changed reading, a wrong index, a wrong count and a flipped path bit", () => {
  const batch = buildBatch(readings);
  const proof = readingProof(batch, 2);
  assert.equal(verifyReading({ ...readings[2] as object, kmh: 999 }, proof, batch), false);
  assert.equal(verifyReading(readings[2], { ...proof, index: 3 }, batch), false);
  assert.equal(verifyReading(readings[2], { ...proof, count: 8 }, batch), false);
  assert.equal(verifyReading(readings[2], proof, { ...batch, count: 8 }), false);
  const flipped = proof.path[0].replace(/^./, (c) => (c === "0" ? "1" : "0"));
  assert.equal(
    verifyReading(readings[2], { ...proof, path: [flipped, ...proof.path.slice(1)] }, batch),
    false,
  );
  assert.equal(
    verifyReading(readings[2], { ...proof, path: [...proof.path, "00".repeat(32)] }, batch),
    false,
  );
  assert.equal(verifyReading(readings[2], { ...proof, path: ["zz"] }, batch), false);
});

Deno.test("buildBatch() takes raw bytes as they are, and refuses an empty batch", () => {
  const raw = [utf8Encode("a"), utf8Encode("b"), utf8Encode("c")];
  const batch = buildBatch(raw);
  assert.ok(verifyReading(utf8Encode("b"), readingProof(batch, 1), batch));
  // The JSON string "b" is hashed with its quotes: a different leaf.
  assert.equal(verifyReading("b", readingProof(batch, 1), batch), false);
  assert.throws(() => buildBatch([]), RangeError);
  assert.throws(() => readingProof(batch, 3), RangeError);
});

Deno.test("Reading is typed as raw bytes or a JSON value: a function, a bigint, a Date, a symbol or undefined does not type-check", () => {
  const ok: Reading[] = [
    new Uint8Array([1]),
    null,
    true,
    4.2,
    "s",
    [1, "a", null],
    { t: 1764000000000, kmh: 87, tags: ["gps"], gone: undefined },
  ];
  // Narrowed past the bytes, a reading is a JSON value (it was `unknown`).
  const json: JsonValue[] = ok.filter((r): r is JsonValue => !(r instanceof Uint8Array));
  assert.equal(json.length, 6);
  // @ts-expect-error a function is no reading
  const fn: Reading = () => 1;
  // @ts-expect-error a bigint is no JSON value (integers above 2^53 are decimal strings)
  const big: Reading = 10n;
  // @ts-expect-error a Date is no plain object
  const date: Reading = new Date(0);
  // @ts-expect-error a symbol is no reading
  const sym: Reading = Symbol("x");
  // @ts-expect-error undefined is no reading
  const none: Reading = undefined;
  // The checks at run time stay: each of these still throws when hashed.
  for (const bad of [fn, big, date, sym, none, { x: NaN }]) {
    assert.throws(() => readingBytes(bad), TypeError);
  }
});
