import assert from "node:assert/strict";
import { escapeLabelValue, Histogram, histogramTotalsIn, labelText } from "./histogram.ts";

Deno.test("Histogram: buckets are cumulative, +Inf equals the count, sum adds every observation", () => {
  const h = new Histogram("x_seconds", "A test.", [0.01, 0.1, 1]);
  for (const v of [0.005, 0.01, 0.05, 0.5, 3]) h.observe(v);
  const lines = h.render().split("\n");
  for (
    const line of [
      "# HELP x_seconds A test.",
      "# TYPE x_seconds histogram",
      'x_seconds_bucket{le="0.01"} 2',
      'x_seconds_bucket{le="0.1"} 3',
      'x_seconds_bucket{le="1"} 4',
      'x_seconds_bucket{le="+Inf"} 5',
      "x_seconds_sum 3.565",
      "x_seconds_count 5",
    ]
  ) assert.ok(lines.includes(line), line);
});

Deno.test("Histogram: each label set is its own series, le comes after the labels", () => {
  const h = new Histogram("y_seconds", "Per route.", [1]);
  h.observe(0.5, labelText({ route: "msg" }));
  h.observe(2, labelText({ route: "forward" }));
  const text = h.render();
  assert.match(text, /^y_seconds_bucket\{route="msg",le="1"\} 1$/m);
  assert.match(text, /^y_seconds_bucket\{route="forward",le="1"\} 0$/m);
  assert.match(text, /^y_seconds_count\{route="forward"\} 1$/m);
  assert.deepEqual(h.totals('route="msg"'), { count: 1, sum: 0.5 });
  assert.deepEqual(h.totals('route="none"'), { count: 0, sum: 0 });
});

Deno.test("Histogram: a non-finite observation is ignored, an empty family still has HELP and TYPE", () => {
  const h = new Histogram("z_seconds", "Empty.");
  h.observe(Number.NaN);
  h.observe(Number.POSITIVE_INFINITY);
  assert.equal(h.render(), "# HELP z_seconds Empty.\n# TYPE z_seconds histogram\n");
});

Deno.test("Histogram: refuses a malformed name and unordered or non-finite bounds", () => {
  assert.throws(() => new Histogram("bad-name", "x"), RangeError);
  assert.throws(() => new Histogram("ok", "x", [1, 0.5]), RangeError);
  assert.throws(() => new Histogram("ok", "x", [0.1, 0.1]), RangeError);
  assert.throws(() => new Histogram("ok", "x", [Number.POSITIVE_INFINITY]), RangeError);
});

Deno.test("labelText: values are escaped (backslash, quote, newline)", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(labelText({ route: '/x"y', method: "GET" }), 'route="/x\\"y",method="GET"');
});

Deno.test("histogramTotalsIn: sums every series of a name, or exactly one label set", () => {
  const h = new Histogram("w_seconds", "Totals.");
  h.observe(0.002, 'route="a"');
  h.observe(0.004, 'route="b"');
  h.observe(0.006, 'route="b"');
  const text = h.render() + "w_seconds_other 99\nw_seconds_summary 5\nw_secondsx_sum 7\n";
  const all = histogramTotalsIn(text, "w_seconds");
  assert.equal(all.count, 3);
  assert.ok(Math.abs(all.sum - 0.012) < 1e-12);
  assert.deepEqual(histogramTotalsIn(text, "w_seconds", 'route="a"'), { count: 1, sum: 0.002 });
  assert.equal(histogramTotalsIn(text, "w_seconds", 'route="b"').count, 2);
  assert.deepEqual(histogramTotalsIn(text, "w_seconds", 'route="c"'), { count: 0, sum: 0 });
  const plain = new Histogram("v_seconds", "No labels.");
  plain.observe(0.5);
  assert.deepEqual(histogramTotalsIn(plain.render(), "v_seconds", ""), { count: 1, sum: 0.5 });
  assert.deepEqual(histogramTotalsIn("", "v_seconds"), { count: 0, sum: 0 });
});
