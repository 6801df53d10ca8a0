/**
 * `roaming.*` end to end on a real site: two carriers open a period, report
 * usage of each other's subscribers, a duplicate record id is refused,
 * usage overlapping recorded usage is held until the home carrier accepts
 * or disputes it, fraud signals are flagged, a record is disputed, the
 * statement is computed at close and becomes final once both carriers sign
 * it; each refusal with its code.
 *
 * The consortium: carriers `orga` (admin `adminA`, and `site-a`, the site
 * under test) and `orgb` (admin `adminB`). Their admins open periods; the
 * keys a period lists (`siteA`, `siteB`) act for their carrier after that.
 */
import assert from "node:assert/strict";
import { generateKeyPair, type KeyPair, softwareSigner } from "../sdk/keys.ts";
import {
  acceptUsage,
  ROAMING_SUBSCRIBER_SPANS_MAX,
  roamingStatementHash,
  signStatement,
  submitUsage,
} from "../sdk/kinds/roaming.ts";
import {
  distanceMetres,
  fraudFlags,
  type PairIndex,
  ROAMING_PAIR_PERIODS_MAX,
  withPeriod,
} from "../src/contracts/roaming.ts";
import { ROAMING_LIMITS_DEFAULT } from "../sdk/kinds/roaming.ts";
import { base64urlEncode } from "../sdk/encoding.ts";
import { getJson, openTestSite } from "./_helpers.ts";
import { applied, OPEN_KINDS, rejected, tx } from "./_kinds_helpers.ts";

const adminA = generateKeyPair("ed25519");
const adminB = generateKeyPair("ed25519");
const siteA = generateKeyPair("ed25519");
const siteB = generateKeyPair("ed25519");
const stranger = generateKeyPair("ed25519");
/** Who consents to a period: a governance key of each carrier. */
const CARRIERS = [adminA, adminB];

/** A site of the two carriers' consortium, every kind under test open. */
async function openCarriersSite() {
  const key = generateKeyPair("ed25519");
  return await openTestSite({
    key,
    genesis: {
      v: 1,
      ledger: "demo",
      origin: "edgeledger.test/roaming",
      time: 1_700_000_000_000,
      organisations: [
        { id: "orga", name: "Carrier A", admins: [adminA.did] },
        { id: "orgb", name: "Carrier B", admins: [adminB.did] },
      ],
      sites: [{
        name: "site-a",
        org: "orga",
        publicKey: base64urlEncode(key.publicKey),
        url: "http://127.0.0.1:1",
      }],
      policies: { expiryWindowMs: 24 * 3600 * 1000, openKinds: OPEN_KINDS },
    },
  });
}
const HOUR = 3600_000;
const NOW = Date.now();
const FROM = NOW - 48 * HOUR;
const UNTIL = NOW - 1000;
const sub1 = "a1".repeat(32);
const sub2 = "b2".repeat(32);
const PARIS = { country: "FR", lat: 48_856_600, lon: 2_352_200 };
const BERLIN = { country: "DE", lat: 52_520_000, lon: 13_405_000 };
const NEW_YORK = { country: "US", lat: 40_712_800, lon: -74_006_000 };

function openBody(period: string, until = UNTIL) {
  return {
    period,
    carriers: [
      { org: "orga", keys: [siteA.did], tariff: { voiceMinute: "10", dataMb: "2", sms: "1" } },
      { org: "orgb", keys: [siteB.did], tariff: { voiceMinute: "12", dataMb: "3", sms: "2" } },
    ],
    from: FROM,
    until,
    currency: "EUR",
  };
}

function usage(
  record: string,
  visited: "orga" | "orgb",
  imsiHash: string,
  where: { country: string; lat: number; lon: number },
  start: number,
  amounts: { voiceMinutes?: number; dataMb?: number; sms?: number } = {},
) {
  return {
    period: "p1",
    record,
    visited,
    imsiHash,
    ...where,
    from: start,
    to: start + HOUR - 1,
    voiceMinutes: amounts.voiceMinutes ?? 0,
    dataMb: amounts.dataMb ?? 0,
    sms: amounts.sms ?? 0,
  };
}

const record = (body: ReturnType<typeof usage>, key: KeyPair) =>
  submitUsage(body, softwareSigner(key), { ledger: "demo" });

/** {@link usage} over exactly `[start, end)`. */
function spanning(
  rec: string,
  visited: "orga" | "orgb",
  imsiHash: string,
  start: number,
  end: number,
  amounts: { voiceMinutes?: number; dataMb?: number; sms?: number },
) {
  return { ...usage(rec, visited, imsiHash, PARIS, start, amounts), to: end };
}

const accept = (rec: string, key: KeyPair) =>
  acceptUsage("p1", rec, [softwareSigner(key)], { ledger: "demo" });

Deno.test("roaming: a period settles — totals per tariff, amounts owed each way, final once both carriers sign", async () => {
  const t = await openCarriersSite();
  try {
    await applied(t.app, await tx("roaming.open", openBody("p1"), CARRIERS));
    // orga serves orgb's subscriber in Paris; orgb serves orga's in Berlin.
    await applied(
      t.app,
      await record(
        usage("a-1", "orga", sub1, PARIS, FROM, { voiceMinutes: 30, dataMb: 100, sms: 5 }),
        siteA,
      ),
    );
    await applied(
      t.app,
      await record(
        usage("b-1", "orgb", sub2, BERLIN, FROM, { voiceMinutes: 10, dataMb: 50 }),
        siteB,
      ),
    );
    // A record orgb disputes leaves the billed totals.
    await applied(
      t.app,
      await record(usage("a-2", "orga", sub1, PARIS, FROM + 2 * HOUR, { voiceMinutes: 20 }), siteA),
    );
    await applied(
      t.app,
      await tx("roaming.dispute", { period: "p1", record: "a-2", reason: "rate_error" }, [siteB]),
    );
    const period = await getJson(t.app, "/v1/roaming/periods/p1");
    assert.equal(period.body.totals.orga.billed.voiceMinutes, "30");
    assert.equal(period.body.totals.orga.disputed.records, "1");
    assert.equal((await getJson(t.app, "/v1/roaming/periods/p1/statement")).status, 404);

    const closed = await applied(t.app, await tx("roaming.close", { period: "p1" }, [siteB]));
    const s = await getJson(t.app, "/v1/roaming/periods/p1/statement");
    assert.equal(s.status, 200);
    const [a, b] = s.body.statement.lines;
    assert.deepEqual(a.charges, { voice: "300", data: "200", sms: "5" });
    assert.equal(a.total, "505");
    assert.equal(a.home, "orgb");
    assert.equal(a.disputedRecords, "1");
    assert.deepEqual(b.charges, { voice: "120", data: "150", sms: "0" });
    assert.equal(b.total, "270");
    assert.deepEqual(s.body.statement.net, { from: "orgb", to: "orga", amount: "235" });
    // Anyone recomputes the hash the carriers sign.
    assert.equal(roamingStatementHash(s.body.statement), s.body.statementHash);
    assert.equal(closed.statement, s.body.statementHash);

    const hash = s.body.statementHash;
    await rejected(
      t.app,
      await signStatement("p1", "00".repeat(32), [softwareSigner(siteA)], { ledger: "demo" }),
      "roaming_statement_mismatch",
    );
    const first = await applied(
      t.app,
      await signStatement("p1", hash, [softwareSigner(siteA)], { ledger: "demo" }),
    );
    assert.equal(first.final, false);
    await rejected(
      t.app,
      await signStatement("p1", hash, [softwareSigner(siteA)], { ledger: "demo" }),
      "roaming_already_signed",
    );
    await rejected(
      t.app,
      await signStatement("p1", hash, [softwareSigner(stranger)], { ledger: "demo" }),
      "roaming_not_carrier",
    );
    const second = await applied(
      t.app,
      await signStatement("p1", hash, [softwareSigner(siteB)], { ledger: "demo" }),
    );
    assert.equal(second.final, true);
    const final = await getJson(t.app, "/v1/roaming/periods/p1/statement");
    assert.equal(final.body.final, true);
    assert.deepEqual(Object.keys(final.body.signatures).sort(), ["orga", "orgb"]);
    // Closed: no more records or disputes.
    await rejected(
      t.app,
      await record(usage("a-9", "orga", sub1, PARIS, FROM), siteA),
      "roaming_period_closed",
    );
    await rejected(
      t.app,
      await tx("roaming.dispute", { period: "p1", record: "a-1", reason: "other" }, [siteB]),
      "roaming_period_closed",
    );
    await rejected(
      t.app,
      await tx("roaming.close", { period: "p1" }, [siteA]),
      "roaming_period_closed",
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("roaming: a duplicate record id is refused, and usage only counts once", async () => {
  const t = await openCarriersSite();
  try {
    await applied(t.app, await tx("roaming.open", openBody("p1"), CARRIERS));
    const body = usage("a-1", "orga", sub1, PARIS, FROM, { voiceMinutes: 5 });
    await applied(t.app, await record(body, siteA));
    await rejected(t.app, await record(body, siteA), "roaming_duplicate_record");
    const period = await getJson(t.app, "/v1/roaming/periods/p1");
    assert.equal(period.body.totals.orga.billed.records, "1");
    const records = await getJson(t.app, "/v1/roaming/periods/p1/records");
    assert.equal(records.body.records.length, 1);
    assert.equal((await getJson(t.app, "/v1/roaming/periods/p1/records/a-1")).body.home, "orgb");
  } finally {
    await t.cleanup();
  }
});

Deno.test("roaming: the same usage under another record id is held (overlapping_usage) and not billed until the home carrier accepts or disputes it", async () => {
  const t = await openCarriersSite();
  try {
    await applied(t.app, await tx("roaming.open", openBody("p1"), CARRIERS));
    const first = spanning("a-1", "orga", sub1, FROM, FROM + HOUR, { voiceMinutes: 10 });
    const r1 = await applied(t.app, await record(first, siteA));
    assert.equal(r1.held, false);
    // The same hour of the same subscriber's voice, sent again as a-2.
    const r2 = await applied(t.app, await record({ ...first, record: "a-2" }, siteA));
    assert.deepEqual(r2.flags, ["overlapping_usage"]);
    assert.deepEqual(r2.overlaps, ["a-1"]);
    assert.equal(r2.held, true);
    // Half of it again: it overlaps both.
    const half = spanning("a-3", "orga", sub1, FROM + HOUR / 2, FROM + 2 * HOUR, {
      voiceMinutes: 4,
    });
    assert.deepEqual((await applied(t.app, await record(half, siteA))).overlaps, ["a-1", "a-2"]);
    let totals = (await getJson(t.app, "/v1/roaming/periods/p1")).body.totals.orga;
    assert.equal(totals.billed.voiceMinutes, "10");
    assert.equal(totals.held.records, "2");
    assert.equal(totals.held.voiceMinutes, "14");
    const flags = await getJson(t.app, "/v1/roaming/periods/p1/flags");
    assert.deepEqual(flags.body.flags.map((f: { record: string }) => f.record), ["a-2", "a-3"]);
    const held = await getJson(t.app, "/v1/roaming/periods/p1/records/a-2");
    assert.equal(held.body.held, true);
    assert.deepEqual(held.body.overlaps, ["a-1"]);

    // Only the home carrier decides, and only on a held record.
    await rejected(t.app, await accept("a-2", siteA), "roaming_not_carrier");
    await rejected(t.app, await accept("a-1", siteB), "roaming_not_held");
    await rejected(t.app, await accept("zz", siteB), "roaming_record_unknown");
    await applied(t.app, await accept("a-2", siteB));
    await rejected(t.app, await accept("a-2", siteB), "roaming_not_held");
    const accepted = await getJson(t.app, "/v1/roaming/periods/p1/records/a-2");
    assert.equal(accepted.body.held, undefined);
    assert.equal(accepted.body.accepted.by, siteB.did);
    assert.deepEqual(accepted.body.flags, ["overlapping_usage"]);
    // Disputing a held record moves it from held to disputed.
    await applied(
      t.app,
      await tx("roaming.dispute", { period: "p1", record: "a-3", reason: "duplicate_usage" }, [
        siteB,
      ]),
    );
    await rejected(t.app, await accept("a-3", siteB), "roaming_not_held");
    totals = (await getJson(t.app, "/v1/roaming/periods/p1")).body.totals.orga;
    assert.equal(totals.billed.voiceMinutes, "20");
    assert.equal(totals.held.records, "0");
    assert.equal(totals.disputed.voiceMinutes, "4");

    // A record still held at close is not billed; the statement counts it.
    await applied(t.app, await record({ ...first, record: "a-4" }, siteA));
    await applied(t.app, await tx("roaming.close", { period: "p1" }, [siteA]));
    const s = await getJson(t.app, "/v1/roaming/periods/p1/statement");
    const [a] = s.body.statement.lines;
    assert.equal(a.records, "2");
    assert.equal(a.voiceMinutes, "20");
    assert.equal(a.total, "200");
    assert.equal(a.heldRecords, "1");
    assert.equal(a.disputedRecords, "1");
    assert.equal(a.flaggedRecords, "3");
    assert.equal(roamingStatementHash(s.body.statement), s.body.statementHash);
    await rejected(t.app, await accept("a-4", siteB), "roaming_period_closed");
  } finally {
    await t.cleanup();
  }
});

Deno.test("roaming: spans that only touch, other services, other subscribers and the other carrier's records are not duplicate usage", async () => {
  const t = await openCarriersSite();
  try {
    await applied(t.app, await tx("roaming.open", openBody("p1"), CARRIERS));
    const held = async (body: ReturnType<typeof usage>, key = siteA) =>
      (await applied(t.app, await record(body, key))).held;
    assert.equal(
      await held(spanning("a-1", "orga", sub1, FROM, FROM + HOUR, { voiceMinutes: 9 })),
      false,
    );
    // The next hour starts where the first ends: touching, not overlapping.
    assert.equal(
      await held(spanning("a-2", "orga", sub1, FROM + HOUR, FROM + 2 * HOUR, { voiceMinutes: 9 })),
      false,
    );
    // The same hour, data and SMS only: other services.
    assert.equal(
      await held(spanning("a-3", "orga", sub1, FROM, FROM + HOUR, { dataMb: 50, sms: 2 })),
      false,
    );
    // The same hour of voice for another subscriber.
    assert.equal(
      await held(spanning("a-4", "orga", sub2, FROM, FROM + HOUR, { voiceMinutes: 9 })),
      false,
    );
    // The same subscriber and hour, served by the other carrier.
    assert.equal(
      await held(spanning("b-1", "orgb", sub1, FROM, FROM + HOUR, { voiceMinutes: 9 }), siteB),
      false,
    );
    // Records without usage carry no service.
    assert.equal(await held(spanning("a-5", "orga", sub1, FROM, FROM + HOUR, {})), false);
    // Two SMS at the same instant are the same usage; the next millisecond is not.
    const at = FROM + 3 * HOUR;
    assert.equal(await held(spanning("a-6", "orga", sub1, at, at, { sms: 1 })), false);
    assert.equal(await held(spanning("a-7", "orga", sub1, at + 1, at + 1, { sms: 1 })), false);
    assert.equal(await held(spanning("a-8", "orga", sub1, at, at, { sms: 1 })), true);
    const totals = (await getJson(t.app, "/v1/roaming/periods/p1")).body.totals;
    assert.equal(totals.orga.billed.records, "7");
    assert.equal(totals.orga.held.records, "1");
    assert.equal(totals.orgb.billed.records, "1");
  } finally {
    await t.cleanup();
  }
});

Deno.test(`roaming: the duplicate-usage check keeps the last ${ROAMING_SUBSCRIBER_SPANS_MAX} spans per subscriber; a record reaching before a dropped one is held overlap_unchecked`, async () => {
  const t = await openCarriersSite();
  try {
    await applied(t.app, await tx("roaming.open", openBody("p1"), CARRIERS));
    const TEN_MINUTES = 10 * 60_000;
    const at = (i: number) => FROM + i * TEN_MINUTES;
    // One more five-minute record than the limit, in time order: none held.
    for (let i = 0; i <= ROAMING_SUBSCRIBER_SPANS_MAX; i++) {
      const r = await applied(
        t.app,
        await record(
          spanning(`s-${i}`, "orga", sub1, at(i), at(i) + TEN_MINUTES / 2, { sms: 1 }),
          siteA,
        ),
      );
      assert.equal(r.held, false, `s-${i}`);
    }
    // s-0's span was dropped: the same usage again cannot be checked against it.
    const old = await applied(
      t.app,
      await record(
        spanning("x-0", "orga", sub1, at(0), at(0) + TEN_MINUTES / 2, { sms: 1 }),
        siteA,
      ),
    );
    assert.deepEqual(old.flags, ["overlap_unchecked"]);
    assert.equal(old.held, true);
    // After the dropped span's end the check stays exact: a gap is billed, s-5 again is held.
    const gap = await applied(
      t.app,
      await record(
        spanning("x-1", "orga", sub1, at(0) + TEN_MINUTES / 2, at(1), { sms: 1 }),
        siteA,
      ),
    );
    assert.deepEqual(gap.flags, []);
    const dup = await applied(
      t.app,
      await record(spanning("x-2", "orga", sub1, at(5), at(5) + 1, { sms: 1 }), siteA),
    );
    assert.deepEqual(dup.flags, ["overlapping_usage"]);
    assert.deepEqual(dup.overlaps, ["s-5"]);
    const totals = (await getJson(t.app, "/v1/roaming/periods/p1")).body.totals.orga;
    assert.equal(totals.billed.records, `${ROAMING_SUBSCRIBER_SPANS_MAX + 2}`);
    assert.equal(totals.held.records, "2");
  } finally {
    await t.cleanup();
  }
});

Deno.test("roaming: the same subscriber in two countries too far apart too soon is flagged impossible_travel", async () => {
  const t = await openCarriersSite();
  try {
    await applied(t.app, await tx("roaming.open", openBody("p1"), CARRIERS));
    await applied(t.app, await record(usage("b-1", "orgb", sub2, BERLIN, FROM), siteB));
    // Berlin to New York (~6400 km) one hour later: faster than 900 km/h.
    const r = await applied(
      t.app,
      await record(usage("b-2", "orgb", sub2, NEW_YORK, FROM + 2 * HOUR), siteB),
    );
    assert.deepEqual(r.flags, ["impossible_travel"]);
    // Twelve hours later the same trip is plausible.
    const later = await applied(
      t.app,
      await record(usage("b-3", "orgb", sub2, BERLIN, FROM + 20 * HOUR), siteB),
    );
    assert.deepEqual(later.flags, []);
    const flags = await getJson(t.app, "/v1/roaming/periods/p1/flags");
    assert.deepEqual(flags.body.flags.map((f: { record: string }) => f.record), ["b-2"]);
    assert.equal(
      (await getJson(t.app, "/v1/roaming/periods/p1")).body.totals.orgb.billed.flagged,
      "1",
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("roaming: usage beyond a plausible rate is flagged", async () => {
  const t = await openCarriersSite();
  try {
    await applied(t.app, await tx("roaming.open", openBody("p1"), CARRIERS));
    const r = await applied(
      t.app,
      await record(
        usage("a-1", "orga", sub1, PARIS, FROM, { voiceMinutes: 90, dataMb: 50_000, sms: 1000 }),
        siteA,
      ),
    );
    assert.deepEqual(r.flags, ["excessive_voice", "excessive_data", "excessive_sms"]);
  } finally {
    await t.cleanup();
  }
});

Deno.test("roaming: only the visited carrier records, within the period, for a carrier of the period", async () => {
  const t = await openCarriersSite();
  try {
    await applied(t.app, await tx("roaming.open", openBody("p1"), CARRIERS));
    await rejected(
      t.app,
      await record(usage("a-1", "orga", sub1, PARIS, FROM), siteB),
      "roaming_not_carrier",
    );
    await rejected(
      t.app,
      await tx("roaming.record", { ...usage("c-1", "orga", sub1, PARIS, FROM), visited: "orgc" }, [
        siteA,
      ]),
      "roaming_unknown_carrier",
    );
    await rejected(
      t.app,
      await record(usage("a-2", "orga", sub1, PARIS, FROM - HOUR), siteA),
      "roaming_outside_period",
    );
    await rejected(
      t.app,
      await record({ ...usage("a-3", "orga", sub1, PARIS, FROM), period: "nope" }, siteA),
      "roaming_period_unknown",
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("roaming: only the home carrier disputes, once, a record that exists", async () => {
  const t = await openCarriersSite();
  try {
    await applied(t.app, await tx("roaming.open", openBody("p1"), CARRIERS));
    await applied(t.app, await record(usage("a-1", "orga", sub1, PARIS, FROM, { sms: 1 }), siteA));
    const dispute = { period: "p1", record: "a-1", reason: "fraud_suspected" };
    await rejected(t.app, await tx("roaming.dispute", dispute, [siteA]), "roaming_not_carrier");
    await rejected(
      t.app,
      await tx("roaming.dispute", { ...dispute, record: "zz" }, [siteB]),
      "roaming_record_unknown",
    );
    await applied(t.app, await tx("roaming.dispute", dispute, [siteB]));
    await rejected(
      t.app,
      await tx("roaming.dispute", dispute, [siteB]),
      "roaming_already_disputed",
    );
    const r = await getJson(t.app, "/v1/roaming/periods/p1/records/a-1");
    assert.equal(r.body.disputed.reason, "fraud_suspected");
    assert.equal(r.body.disputed.by, siteB.did);
  } finally {
    await t.cleanup();
  }
});

Deno.test("roaming: a period opens only with both carriers' signatures, once, and closes only after it ends", async () => {
  const t = await openCarriersSite();
  try {
    await rejected(t.app, await tx("roaming.open", openBody("p1"), [siteA]), "roaming_not_carrier");
    await applied(t.app, await tx("roaming.open", openBody("p1"), CARRIERS));
    await rejected(
      t.app,
      await tx("roaming.open", openBody("p1"), CARRIERS),
      "roaming_period_exists",
    );
    // The same carriers' next period starts where p1 ends: periods of a pair never overlap.
    await applied(
      t.app,
      await tx("roaming.open", { ...openBody("p2", NOW + 24 * HOUR), from: UNTIL }, CARRIERS),
    );
    await rejected(
      t.app,
      await tx("roaming.close", { period: "p2" }, [siteA]),
      "roaming_period_not_ended",
    );
    await rejected(
      t.app,
      await tx("roaming.close", { period: "p1" }, [stranger]),
      "roaming_not_carrier",
    );
    await rejected(
      t.app,
      await signStatement("p2", "00".repeat(32), [softwareSigner(siteA)], { ledger: "demo" }),
      "roaming_period_open",
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("roaming: two periods of the same carriers may not overlap in time, so the same usage cannot be billed in both", async () => {
  const t = await openCarriersSite();
  try {
    await applied(t.app, await tx("roaming.open", openBody("p1"), CARRIERS));
    // Any overlap with [FROM, UNTIL), inside, around or across either end, is refused.
    for (
      const [from, until] of [[FROM + HOUR, UNTIL - HOUR], [FROM - HOUR, UNTIL + HOUR], [
        FROM - HOUR,
        FROM + 1,
      ], [UNTIL - 1, UNTIL + HOUR]]
    ) {
      await rejected(
        t.app,
        await tx("roaming.open", { ...openBody(`x${from}`, until), from }, CARRIERS),
        "roaming_period_overlap",
      );
    }
    // Touching periods are fine, before and after.
    await applied(
      t.app,
      await tx("roaming.open", { ...openBody("p0", FROM), from: FROM - 24 * HOUR }, CARRIERS),
    );
    await applied(
      t.app,
      await tx("roaming.open", { ...openBody("p2", UNTIL + HOUR), from: UNTIL }, CARRIERS),
    );
    // The carriers in the other order are the same pair.
    const swapped = openBody("p3", UNTIL + 2 * HOUR);
    await rejected(
      t.app,
      await tx(
        "roaming.open",
        { ...swapped, from: UNTIL, carriers: [swapped.carriers[1], swapped.carriers[0]] },
        CARRIERS,
      ),
      "roaming_period_overlap",
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("withPeriod() keeps the pair's latest periods by start and remembers the end of those it drops", () => {
  let index: PairIndex = { periods: [] };
  for (let i = ROAMING_PAIR_PERIODS_MAX; i >= 0; i--) {
    index = withPeriod(index, { period: `p${i}`, from: i * 10, until: i * 10 + 5 });
  }
  assert.equal(index.periods.length, ROAMING_PAIR_PERIODS_MAX);
  assert.deepEqual(index.periods[0], { period: "p1", from: 10, until: 15 });
  assert.equal(index.droppedUntil, 5);
});

Deno.test("roaming: distances are integer arithmetic, so every site flags alike", () => {
  const km = Number(distanceMetres(BERLIN.lat, BERLIN.lon, NEW_YORK.lat, NEW_YORK.lon)) / 1000;
  assert.ok(km > 5500 && km < 7500, `Berlin-New York ~6400 km, got ${km}`);
  const paris = Number(distanceMetres(PARIS.lat, PARIS.lon, BERLIN.lat, BERLIN.lon)) / 1000;
  assert.ok(paris > 850 && paris < 950, `Paris-Berlin ~880 km, got ${paris}`);
  assert.equal(distanceMetres(0, 179_000_000, 0, -179_000_000), distanceMetres(0, 0, 0, 2_000_000));
  const base = usage("x", "orga", sub1, PARIS, FROM);
  assert.deepEqual(fraudFlags(base, undefined, ROAMING_LIMITS_DEFAULT), []);
});

Deno.test("roaming: a carrier acts through the site key governance registered for its organisation", async () => {
  const t = await openCarriersSite();
  try {
    // The genesis registers site-a's key for organisation orga.
    const siteKey = t.options.key;
    const body = {
      ...openBody("p1"),
      carriers: [
        { org: "orga", tariff: { voiceMinute: "10", dataMb: "2", sms: "1" } },
        { org: "orgb", keys: [siteB.did], tariff: { voiceMinute: "12", dataMb: "3", sms: "2" } },
      ],
    };
    await rejected(t.app, await tx("roaming.open", body, [siteA, adminB]), "roaming_not_carrier");
    await applied(t.app, await tx("roaming.open", body, [siteKey, adminB]));
    const usageA = usage("a-1", "orga", sub1, PARIS, FROM, { sms: 1 });
    await rejected(t.app, await tx("roaming.record", usageA, [siteA]), "roaming_not_carrier");
    await applied(t.app, await tx("roaming.record", usageA, [siteKey]));
  } finally {
    await t.cleanup();
  }
});

Deno.test("roaming: keys an agreement lists never consent for a carrier to open it; only the carrier's governance keys do", async () => {
  const t = await openCarriersSite();
  try {
    const tariff = { voiceMinute: "1000", dataMb: "0", sms: "0" };
    // orga's admin names itself as orgb's key and signs alone.
    const selfDealing = {
      ...openBody("p1"),
      carriers: [{ org: "orga", tariff }, { org: "orgb", keys: [adminA.did], tariff }],
    };
    await rejected(t.app, await tx("roaming.open", selfDealing, [adminA]), "roaming_not_carrier");
    // A fresh key listed for orgb is orga's word, not orgb's consent.
    const proxy = generateKeyPair("ed25519");
    const viaProxy = {
      ...openBody("p1"),
      carriers: [{ org: "orga", tariff }, { org: "orgb", keys: [proxy.did], tariff }],
    };
    await rejected(
      t.app,
      await tx("roaming.open", viaProxy, [adminA, proxy]),
      "roaming_not_carrier",
    );
    // Nothing opened, so nothing can be billed, closed or signed against orgb.
    await rejected(
      t.app,
      await record(usage("a-1", "orga", sub1, PARIS, FROM, { voiceMinutes: 5 }), adminA),
      "roaming_period_unknown",
    );
    assert.equal((await getJson(t.app, "/v1/roaming/periods/p1")).status, 404);
  } finally {
    await t.cleanup();
  }
});

Deno.test("roaming: both carriers of a period must be organisations of governance (roaming_unknown_org)", async () => {
  const t = await openCarriersSite();
  try {
    const body = {
      ...openBody("p1"),
      carriers: [
        { org: "orga", tariff: { voiceMinute: "10", dataMb: "2", sms: "1" } },
        { org: "orgz", keys: [siteB.did], tariff: { voiceMinute: "12", dataMb: "3", sms: "2" } },
      ],
    };
    await rejected(t.app, await tx("roaming.open", body, [adminA, siteB]), "roaming_unknown_org");
  } finally {
    await t.cleanup();
  }
});

Deno.test("roaming: a key an agreement lists for one carrier may not act for the other (roaming_key_conflict)", async () => {
  const t = await openCarriersSite();
  try {
    const tariff = { voiceMinute: "10", dataMb: "2", sms: "1" };
    // orga's admin listed as orgb's key: it would sign for both sides.
    const adminOfA = {
      ...openBody("p1"),
      carriers: [{ org: "orga", tariff }, { org: "orgb", keys: [adminA.did], tariff }],
    };
    await rejected(t.app, await tx("roaming.open", adminOfA, CARRIERS), "roaming_key_conflict");
    // One key listed for both carriers.
    const shared = {
      ...openBody("p1"),
      carriers: [{ org: "orga", keys: [siteA.did], tariff }, {
        org: "orgb",
        keys: [siteB.did, siteA.did],
        tariff,
      }],
    };
    await rejected(t.app, await tx("roaming.open", shared, CARRIERS), "roaming_key_conflict");
    await applied(t.app, await tx("roaming.open", openBody("p1"), CARRIERS));
  } finally {
    await t.cleanup();
  }
});
