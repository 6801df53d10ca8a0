import assert from "node:assert/strict";
import { backoffDelayMs, parseRetryAfterMs, resolveRetryPolicy, serverNowMs } from "./retry.ts";

Deno.test("backoffDelayMs() stays in [0, min(delayMsMax, delayMsBase * 2^retry))", () => {
  const policy = resolveRetryPolicy({ delayMsBase: 100, delayMsMax: 1000 });
  assert.equal(backoffDelayMs(0, policy, () => 0), 0);
  assert.equal(backoffDelayMs(0, policy, () => 0.999999), 99);
  assert.equal(backoffDelayMs(2, policy, () => 0.999999), 399);
  assert.equal(backoffDelayMs(10, policy, () => 0.999999), 999);
  assert.equal(backoffDelayMs(1000, policy, () => 0.5), 500);
});

Deno.test("parseRetryAfterMs() reads delay-seconds and HTTP-dates and refuses anything else", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfterMs("3", now), 3000);
  assert.equal(parseRetryAfterMs("Thu, 01 Jan 2026 00:00:05 GMT", now), 5000);
  assert.equal(parseRetryAfterMs("Wed, 31 Dec 2025 00:00:05 GMT", now), 0);
  assert.equal(parseRetryAfterMs(null, now), undefined);
  assert.equal(parseRetryAfterMs("-1", now), undefined);
  assert.equal(parseRetryAfterMs("1.5", now), undefined);
  assert.equal(parseRetryAfterMs("soon", now), undefined);
});

Deno.test("serverNowMs() reads the answer's Date header, and falls back to the device's clock without a valid one", () => {
  assert.equal(serverNowMs("Thu, 01 Jan 2026 00:00:00 GMT", 5), Date.parse("2026-01-01T00:00:00Z"));
  assert.equal(serverNowMs(null, 5), 5);
  assert.equal(serverNowMs("yesterday", 5), 5);
  assert.equal(serverNowMs("Thu, 99 Jan 2026 00:00:00 GMT", 5), 5);
});

Deno.test("resolveRetryPolicy() refuses zero attempts and inverted delays", () => {
  assert.throws(() => resolveRetryPolicy({ attemptsMax: 0 }), RangeError);
  assert.throws(() => resolveRetryPolicy({ delayMsBase: 10, delayMsMax: 5 }), RangeError);
});
