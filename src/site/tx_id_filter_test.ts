import assert from "node:assert/strict";
import { sha256Hex } from "../../sdk/hash.ts";
import { utf8Encode } from "../../sdk/encoding.ts";
import { TxIdFilter } from "./tx_id_filter.ts";

const id = (i: number) => sha256Hex(utf8Encode(String(i)));

/** A filter holding ids `[0, n)`, filled. */
function filled(n: number, options: ConstructorParameters<typeof TxIdFilter>[0]): TxIdFilter {
  const f = new TxIdFilter(options);
  for (let i = 0; i < n; i++) f.add(id(i));
  f.markLoaded();
  return f;
}

/** How many of the ids `[from, from + n)` (never added) the filter cannot rule out. */
function falsePositives(f: TxIdFilter, from: number, n: number): number {
  let count = 0;
  for (let i = from; i < from + n; i++) if (f.mightContain(id(i))) count++;
  return count;
}

Deno.test("TxIdFilter never misses an id it holds, across the layers it grew", () => {
  const f = filled(5000, { firstLayerBitsLog2: 10 });
  assert.ok(f.layers >= 5, `${f.layers} layers for 50× the first layer's ids`);
  for (let i = 0; i < 5000; i++) assert.ok(f.mightContain(id(i)), `id ${i} missed`);
  assert.equal(f.count, 5000);
});

Deno.test("TxIdFilter answers no for most ids it does not hold", () => {
  const f = filled(10_000, { firstLayerBitsLog2: 20 });
  assert.equal(f.layers, 1);
  const fp = falsePositives(f, 10_000, 10_000);
  assert.ok(fp < 100, `${fp} false positives in 10,000`);
});

Deno.test("TxIdFilter grows with its ids, so false positives stay low at 50× its first layer's capacity", () => {
  // The first layer (4,096 bits) takes 405 ids; 20,000 would saturate it alone.
  const f = filled(20_000, { firstLayerBitsLog2: 12 });
  const fp = falsePositives(f, 20_000, 20_000) / 20_000;
  assert.ok(fp < 0.05, `false positive rate ${fp}`);
  assert.ok(f.bytes < 20_000 * 2, `${f.bytes} bytes for 20,000 ids`);
  const estimate = f.falsePositiveRate();
  assert.ok(
    estimate / 2 < fp + 1e-3 && fp < estimate * 2 + 1e-3,
    `estimate ${estimate} against measured ${fp}`,
  );
});

Deno.test("TxIdFilter adds no layer past bytesMax: it overfills its newest one and still never misses", () => {
  // Layers of 128 and 256 bytes fit in 400; the next (512) does not.
  const f = filled(3000, { firstLayerBitsLog2: 10, bytesMax: 400 });
  assert.equal(f.layers, 2);
  assert.equal(f.bytes, 384);
  for (let i = 0; i < 3000; i++) assert.ok(f.mightContain(id(i)), `id ${i} missed`);
  assert.ok(f.falsePositiveRate() > 0.5, "an overfull layer says so");
  assert.throws(() => new TxIdFilter({ firstLayerBitsLog2: 10, bytesMax: 127 }), RangeError);
});

Deno.test("TxIdFilter says every id may be present until it is marked loaded", () => {
  const f = new TxIdFilter({ firstLayerBitsLog2: 10 });
  f.add(id(1));
  assert.equal(f.loaded, false);
  assert.equal(f.mightContain(id(2)), true);
  assert.equal(f.falsePositiveRate(), 1);
  f.markLoaded();
  assert.equal(f.mightContain(id(2)), false);
  assert.equal(f.mightContain(id(1)), true);
});

Deno.test("TxIdFilter works with a layer of 2^32 bits, whose positions pass 2^31", () => {
  const f = new TxIdFilter({ firstLayerBitsLog2: 32, bytesMax: 2 ** 29 });
  // Every slice of these ids has its top bit set.
  const high = ["8", "c", "f"].map((d) => (d + "abcdef1").repeat(8));
  for (const h of high) f.add(h);
  f.markLoaded();
  for (const h of high) assert.ok(f.mightContain(h), `${h} missed`);
  assert.equal(f.mightContain(("9" + "abcdef1").repeat(8)), false);
});

Deno.test("TxIdFilter treats a malformed id as possibly present (the database decides)", () => {
  const f = new TxIdFilter({ firstLayerBitsLog2: 10 });
  f.markLoaded();
  assert.equal(f.mightContain("xyz"), true);
  f.add("xyz");
  assert.equal(f.count, 0);
  assert.throws(() => new TxIdFilter({ firstLayerBitsLog2: 5 }), RangeError);
  assert.throws(() => new TxIdFilter({ firstLayerBitsLog2: 33 }), RangeError);
});
