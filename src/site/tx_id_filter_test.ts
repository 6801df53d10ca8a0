import assert from "node:assert/strict";
import { sha256Hex } from "../../sdk/hash.ts";
import { utf8Encode } from "../../sdk/encoding.ts";
import { TxIdFilter } from "./tx_id_filter.ts";

const id = (i: number) => sha256Hex(utf8Encode(String(i)));

Deno.test("TxIdFilter never misses an id it holds", () => {
  const f = new TxIdFilter(16);
  for (let i = 0; i < 2000; i++) f.add(id(i));
  for (let i = 0; i < 2000; i++) assert.ok(f.mightContain(id(i)));
  assert.equal(f.count, 2000);
});

Deno.test("TxIdFilter answers no for most ids it does not hold", () => {
  const f = new TxIdFilter(20);
  for (let i = 0; i < 10_000; i++) f.add(id(i));
  let falsePositives = 0;
  for (let i = 10_000; i < 20_000; i++) if (f.mightContain(id(i))) falsePositives++;
  assert.ok(falsePositives < 100, `${falsePositives} false positives in 10,000`);
});

Deno.test("TxIdFilter treats a malformed id as possibly present (the database decides)", () => {
  assert.equal(new TxIdFilter(10).mightContain("xyz"), true);
  assert.throws(() => new TxIdFilter(5), RangeError);
});
