/**
 * The duplicate-usage check of `roaming.record` as pure functions: which
 * spans overlap, and what the bounded per-subscriber index remembers.
 */
import assert from "node:assert/strict";
import { ROAMING_SUBSCRIBER_SPANS_MAX, type RoamingRecordBody } from "../../sdk/kinds/roaming.ts";
import { AssertionError } from "../chain/assert.ts";
import { checkUsage, indexUsage, type UsageIndex, usageSpan, withinPeriod } from "./roaming.ts";

const MINUTE = 60_000;
const T0 = 1_700_000_000_000;

function body(
  record: string,
  from: number,
  to: number,
  amounts: { voiceMinutes?: number; dataMb?: number; sms?: number },
): RoamingRecordBody {
  return {
    period: "p1",
    record,
    visited: "orga",
    imsiHash: "a1".repeat(32),
    country: "FR",
    lat: 48_856_600,
    lon: 2_352_200,
    from,
    to,
    voiceMinutes: amounts.voiceMinutes ?? 0,
    dataMb: amounts.dataMb ?? 0,
    sms: amounts.sms ?? 0,
  };
}

/** The index after recording `bodies` in order. */
function indexOf(...bodies: RoamingRecordBody[]): UsageIndex | undefined {
  let index: UsageIndex | undefined;
  for (const b of bodies) index = indexUsage(index, usageSpan(b));
  return index;
}

Deno.test("usageSpan() is [from, to) of the services with an amount above zero; an instant is [t, t + 1)", () => {
  assert.deepEqual(usageSpan(body("a", T0, T0 + MINUTE, { voiceMinutes: 1, sms: 2 })), {
    record: "a",
    from: T0,
    end: T0 + MINUTE,
    services: ["voice", "sms"],
  });
  assert.deepEqual(usageSpan(body("b", T0, T0, { sms: 1 })).end, T0 + 1);
  assert.deepEqual(usageSpan(body("c", T0, T0 + MINUTE, {})).services, []);
});

Deno.test("checkUsage() finds a recorded span of the same service that overlaps, fully or in part", () => {
  const index = indexOf(body("a-1", T0, T0 + 60 * MINUTE, { voiceMinutes: 10 }));
  const same = checkUsage(
    index,
    usageSpan(body("a-2", T0, T0 + 60 * MINUTE, { voiceMinutes: 10 })),
  );
  assert.deepEqual(same, { overlaps: ["a-1"], unchecked: false });
  const part = usageSpan(body("a-3", T0 + 59 * MINUTE, T0 + 90 * MINUTE, { voiceMinutes: 3 }));
  assert.deepEqual(checkUsage(index, part).overlaps, ["a-1"]);
  const inside = usageSpan(body("a-4", T0 + MINUTE, T0 + MINUTE, { voiceMinutes: 1 }));
  assert.deepEqual(checkUsage(index, inside).overlaps, ["a-1"]);
});

Deno.test("checkUsage(): spans that only touch are not duplicate usage, on either side", () => {
  const index = indexOf(body("a-1", T0, T0 + 60 * MINUTE, { dataMb: 10 }));
  const after = usageSpan(body("a-2", T0 + 60 * MINUTE, T0 + 120 * MINUTE, { dataMb: 10 }));
  assert.deepEqual(checkUsage(index, after), { overlaps: [], unchecked: false });
  const before = usageSpan(body("a-3", T0 - 60 * MINUTE, T0, { dataMb: 10 }));
  assert.deepEqual(checkUsage(index, before), { overlaps: [], unchecked: false });
  // An instant at the end of a span touches it; one at its start is inside it.
  const atEnd = usageSpan(body("a-4", T0 + 60 * MINUTE, T0 + 60 * MINUTE, { dataMb: 1 }));
  assert.deepEqual(checkUsage(index, atEnd).overlaps, []);
  const atStart = usageSpan(body("a-5", T0, T0, { dataMb: 1 }));
  assert.deepEqual(checkUsage(index, atStart).overlaps, ["a-1"]);
});

Deno.test("checkUsage(): two instant records of the same service at the same time overlap", () => {
  const index = indexOf(body("s-1", T0, T0, { sms: 1 }));
  assert.deepEqual(checkUsage(index, usageSpan(body("s-2", T0, T0, { sms: 1 }))).overlaps, ["s-1"]);
  assert.deepEqual(
    checkUsage(index, usageSpan(body("s-3", T0 + 1, T0 + 1, { sms: 1 }))).overlaps,
    [],
  );
});

Deno.test("checkUsage(): overlapping spans of different services are not duplicate usage; one shared service is", () => {
  const index = indexOf(body("v-1", T0, T0 + 60 * MINUTE, { voiceMinutes: 10 }));
  const data = usageSpan(body("d-1", T0, T0 + 60 * MINUTE, { dataMb: 100 }));
  assert.deepEqual(checkUsage(index, data), { overlaps: [], unchecked: false });
  const both = usageSpan(body("vd-1", T0, T0 + 60 * MINUTE, { voiceMinutes: 1, dataMb: 1 }));
  assert.deepEqual(checkUsage(index, both).overlaps, ["v-1"]);
  // A record without usage carries no service: it overlaps nothing.
  const empty = usageSpan(body("e-1", T0, T0 + 60 * MINUTE, {}));
  assert.deepEqual(checkUsage(index, empty), { overlaps: [], unchecked: false });
  assert.throws(() => indexUsage(index, empty), AssertionError);
});

Deno.test(`indexUsage() keeps the ${ROAMING_SUBSCRIBER_SPANS_MAX} latest-starting spans; a record reaching before a dropped span's end is unchecked, one after it is checked exactly`, () => {
  // Spans of 5 minutes every 10 minutes, in time order, one more than the limit.
  const spans = Array.from(
    { length: ROAMING_SUBSCRIBER_SPANS_MAX + 1 },
    (_, i) => body(`s-${i}`, T0 + i * 10 * MINUTE, T0 + i * 10 * MINUTE + 5 * MINUTE, { sms: 1 }),
  );
  const full = indexOf(...spans.slice(0, ROAMING_SUBSCRIBER_SPANS_MAX))!;
  assert.equal(full.spans.length, ROAMING_SUBSCRIBER_SPANS_MAX);
  assert.deepEqual(full.droppedUntil, {});
  const index = indexUsage(full, usageSpan(spans[ROAMING_SUBSCRIBER_SPANS_MAX]));
  assert.equal(index.spans.length, ROAMING_SUBSCRIBER_SPANS_MAX);
  assert.equal(index.spans[0].record, "s-1");
  assert.deepEqual(index.droppedUntil, { sms: T0 + 5 * MINUTE });
  // The same usage as the dropped s-0: cannot be checked against it, so unchecked.
  const again = usageSpan(body("x-0", T0, T0 + 5 * MINUTE, { sms: 1 }));
  assert.deepEqual(checkUsage(index, again), { overlaps: [], unchecked: true });
  // Starting at the dropped span's end or later: exact against the kept spans.
  const gap = usageSpan(body("x-1", T0 + 5 * MINUTE, T0 + 10 * MINUTE, { sms: 1 }));
  assert.deepEqual(checkUsage(index, gap), { overlaps: [], unchecked: false });
  const dup = usageSpan(body("x-2", T0 + 50 * MINUTE, T0 + 51 * MINUTE, { sms: 1 }));
  assert.deepEqual(checkUsage(index, dup), { overlaps: ["s-5"], unchecked: false });
  // Another service was never dropped: still exact at any time.
  const voice = usageSpan(body("x-3", T0, T0 + 5 * MINUTE, { voiceMinutes: 1 }));
  assert.deepEqual(checkUsage(index, voice), { overlaps: [], unchecked: false });
  // A record older than every kept span is itself the one dropped.
  const older = indexUsage(index, usageSpan(body("x-4", T0 - MINUTE, T0, { sms: 1 })));
  assert.deepEqual(older.spans, index.spans);
  assert.deepEqual(older.droppedUntil, { sms: T0 + 5 * MINUTE });
});

Deno.test("withinPeriod() (rules 4): a record lies in [from, until) when its span does: it may end at until, and an instant at until - 1 fits while one at until does not", () => {
  const p = { from: T0, until: T0 + 60 * MINUTE };
  const fits = (from: number, to: number) => withinPeriod(body("r", from, to, { sms: 1 }), p, 4);
  assert.equal(fits(p.until - MINUTE, p.until), true, "usage up to the boundary");
  assert.equal(fits(p.from, p.until), true, "the whole period");
  assert.equal(fits(p.from, p.from), true, "an instant at from");
  assert.equal(fits(p.until - 1, p.until - 1), true, "an instant at until - 1");
  assert.equal(fits(p.until, p.until), false, "an instant at until is the next period's");
  assert.equal(fits(p.until - MINUTE, p.until + 1), false, "past until");
  assert.equal(fits(p.from - 1, p.from + MINUTE), false, "before from");
});

Deno.test("withinPeriod() (rules 1 to 3): a record's to must be before until, so usage ending at the boundary fits no period, as recorded chains decided (pinned)", () => {
  const p = { from: T0, until: T0 + 60 * MINUTE };
  for (const rules of [1, 2, 3]) {
    const fits = (from: number, to: number) =>
      withinPeriod(body("r", from, to, { sms: 1 }), p, rules);
    assert.equal(fits(p.until - MINUTE, p.until), false, `rules ${rules}`);
    assert.equal(fits(p.until - MINUTE, p.until - 1), true, `rules ${rules}`);
    assert.equal(fits(p.until - 1, p.until - 1), true, `rules ${rules}`);
    assert.equal(fits(p.from - 1, p.from), false, `rules ${rules}`);
  }
});
