/**
 * Property tests of `roaming.*` under random sequences of records, disputes
 * and accepts, executed block by block through the executor a site uses:
 * the running totals are what the records say, no usage is billed twice
 * without the home carrier's accept, and a closed period's statement is
 * computed from exactly the billed records (docs/roaming.md).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { sha256Hex } from "../sdk/hash.ts";
import { utf8Encode } from "../sdk/encoding.ts";
import type { Envelope } from "../sdk/envelope.ts";
import {
  type CarrierTotals,
  PERIOD_NS,
  type PeriodState,
  RECORD_NS,
  statementHash,
  type UsageRecord,
  usageSpan,
  type UsageTotals,
} from "../src/contracts/mod.ts";
import { testGenesis } from "./_helpers.ts";
import { OPEN_KINDS } from "./_kinds_helpers.ts";
import { fixedKey, MemLedger, runs, signedTx, T0 } from "./_props.ts";

const ADMIN_A = fixedKey(0, 2);
const ADMIN_B = fixedKey(1, 2);
const ORGS = ["org-a", "org-b"] as const;
const ADMINS = [ADMIN_A, ADMIN_B];
const TARIFFS = [
  { voiceMinute: "7", dataMb: "3", sms: "2" },
  { voiceMinute: "5", dataMb: "4", sms: "1" },
];
const PERIOD = "p-1";
const MIN = 60_000;
const FROM = T0;
const UNTIL = T0 + 1000 * MIN;
const IMSIS = [0, 1].map((i) => sha256Hex(utf8Encode(`imsi-${i}`)));

function ledger(): MemLedger {
  const base = testGenesis(fixedKey(99), "demo", OPEN_KINDS);
  return new MemLedger({
    ...base,
    organisations: [
      { id: "org-a", name: "Org A", admins: [ADMIN_A.did] },
      { id: "org-b", name: "Org B", admins: [ADMIN_B.did] },
    ],
  });
}

function openTx(): Envelope {
  return signedTx("roaming.open", {
    period: PERIOD,
    carriers: ORGS.map((org, i) => ({ org, tariff: TARIFFS[i] })),
    from: FROM,
    until: UNTIL,
    currency: "EUR",
  }, ADMINS);
}

type Op =
  | {
    op: "record";
    visited: number;
    imsi: number;
    start: number;
    minutes: number;
    voice: number;
    data: number;
    sms: number;
    country: number;
    /** Reuse an earlier record id (a resend). */
    reuse: boolean;
  }
  | { op: "dispute" | "accept"; pick: number; byHome: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("record" as const),
      visited: fc.integer({ min: 0, max: 1 }),
      imsi: fc.integer({ min: 0, max: 1 }),
      start: fc.integer({ min: 0, max: 120 }),
      minutes: fc.integer({ min: 0, max: 20 }),
      voice: fc.constantFrom(0, 0, 1, 5),
      data: fc.constantFrom(0, 0, 10),
      sms: fc.constantFrom(0, 1),
      country: fc.integer({ min: 0, max: 1 }),
      reuse: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constantFrom("dispute" as const, "accept" as const),
      pick: fc.nat(),
      byHome: fc.boolean(),
    }),
  },
);

function sumTotals(records: UsageRecord[]): UsageTotals {
  const t = { records: 0n, voiceMinutes: 0n, dataMb: 0n, sms: 0n, flagged: 0n };
  for (const r of records) {
    t.records += 1n;
    t.voiceMinutes += BigInt(r.voiceMinutes);
    t.dataMb += BigInt(r.dataMb);
    t.sms += BigInt(r.sms);
    t.flagged += r.flags.length > 0 ? 1n : 0n;
  }
  return {
    records: `${t.records}`,
    voiceMinutes: `${t.voiceMinutes}`,
    dataMb: `${t.dataMb}`,
    sms: `${t.sms}`,
    flagged: `${t.flagged}`,
  };
}

function bucket(r: UsageRecord): keyof CarrierTotals {
  return r.disputed !== undefined ? "disputed" : r.held === true ? "held" : "billed";
}

function overlap(a: UsageRecord, b: UsageRecord): boolean {
  const x = usageSpan(a);
  const y = usageSpan(b);
  return a.imsiHash === b.imsiHash && a.visited === b.visited && x.from < y.end &&
    y.from < x.end && x.services.some((s) => y.services.includes(s));
}

/**
 * Runs `blocks` after opening the period, checking after every block that
 * the totals are the records' and that no usage is billed twice, then
 * closes, checks the statement and signs it.
 */
function checkPeriod(blocks: Op[][]): void {
  const l = ledger();
  let time = T0;
  assert.equal(l.block([openTx()], time += 1000).results[0].status, "applied");
  const ids: string[] = [];
  /** Records in log order, as first applied. */
  const order: string[] = [];
  let n = 0;
  for (const ops of blocks) {
    const envs = ops.map((o) => {
      if (o.op === "record") {
        const record = o.reuse && ids.length > 0 ? ids[n % ids.length] : `r-${++n}`;
        if (!ids.includes(record)) ids.push(record);
        const from = FROM + o.start * MIN;
        return signedTx("roaming.record", {
          period: PERIOD,
          record,
          visited: ORGS[o.visited],
          imsiHash: IMSIS[o.imsi],
          country: ["FR", "DE"][o.country],
          lat: 48_000_000 + o.country * 4_000_000,
          lon: 2_000_000 + o.country * 9_000_000,
          from,
          to: from + o.minutes * MIN,
          voiceMinutes: o.voice,
          dataMb: o.data,
          sms: o.sms,
        }, [ADMINS[o.visited]]);
      }
      const record = ids.length === 0 ? "none" : ids[o.pick % ids.length];
      const r = l.get<UsageRecord>(RECORD_NS, `${PERIOD}\u0001${record}`);
      const home = r === undefined ? 0 : ORGS.indexOf(r.home as typeof ORGS[number]);
      const by = ADMINS[o.byHome ? home : 1 - home];
      return signedTx(`roaming.${o.op}`, {
        period: PERIOD,
        record,
        ...(o.op === "dispute" ? { reason: "duplicate_usage" } : {}),
      }, [by]);
    });
    const out = l.block(envs, time += 1000);
    out.results.forEach((r, i) => {
      if (r.status === "applied" && envs[i].kind === "roaming.record") {
        order.push(r.record as string);
      }
    });
    const p = l.get<PeriodState>(PERIOD_NS, PERIOD)!;
    const records = l.list<UsageRecord>(RECORD_NS, `${PERIOD}\u0001`).map(([, r]) => r);
    assert.equal(records.length, order.length, "one record per applied roaming.record");
    for (const org of ORGS) {
      for (const b of ["billed", "held", "disputed"] as const) {
        const mine = records.filter((r) => r.visited === org && bucket(r) === b);
        assert.deepEqual(p.totals[org][b], sumTotals(mine), `${org} ${b}`);
      }
    }
    // No usage billed twice: a record overlapping an earlier one is
    // held until the home carrier accepts or disputes it.
    const byId = new Map(records.map((r) => [r.record, r]));
    order.forEach((id, i) => {
      const r = byId.get(id)!;
      const earlier = order.slice(0, i).map((e) => byId.get(e)!).filter((e) => overlap(e, r));
      if (earlier.length > 0) {
        assert.ok(
          r.held === true || r.accepted !== undefined || r.disputed !== undefined,
          `record ${id} overlaps ${earlier.map((e) => e.record)} and is billed unaccepted`,
        );
      }
      for (const o of r.overlaps ?? []) {
        assert.ok(earlier.some((e) => e.record === o), `${id} lists ${o}, no overlap`);
      }
    });
  }
  // Close and sign: the statement bills exactly the billed records.
  const close = l.block([signedTx("roaming.close", { period: PERIOD }, [ADMIN_A])], UNTIL);
  assert.equal(close.results[0].status, "applied", JSON.stringify(close.results[0]));
  const p = l.get<PeriodState>(PERIOD_NS, PERIOD)!;
  const records = l.list<UsageRecord>(RECORD_NS, `${PERIOD}\u0001`).map(([, r]) => r);
  assert.equal(p.statementHash, statementHash(p.statement!));
  let owed = [0n, 0n];
  p.statement!.lines.forEach((line, i) => {
    const billed = records.filter((r) => r.visited === ORGS[i] && bucket(r) === "billed");
    const t = sumTotals(billed);
    assert.equal(line.visited, ORGS[i]);
    assert.equal(line.home, ORGS[1 - i]);
    assert.equal(line.records, t.records);
    const total = BigInt(t.voiceMinutes) * BigInt(TARIFFS[i].voiceMinute) +
      BigInt(t.dataMb) * BigInt(TARIFFS[i].dataMb) + BigInt(t.sms) * BigInt(TARIFFS[i].sms);
    assert.equal(line.total, `${total}`);
    assert.equal(
      line.heldRecords,
      `${records.filter((r) => r.visited === ORGS[i] && bucket(r) === "held").length}`,
    );
    owed[i] = total;
  });
  const net = owed[0] - owed[1];
  assert.equal(p.statement!.net.amount, `${net < 0n ? -net : net}`);
  owed = [];
  const sign = l.block(
    [signedTx("roaming.sign", { period: PERIOD, statement: p.statementHash }, ADMINS)],
    UNTIL + 1,
  );
  assert.equal(sign.results[0].final, true);
}

Deno.test("roaming props: a period's running totals are the sum of its records, each in exactly one of billed, held and disputed, and no usage is billed twice", () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(opArb, { minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 8 }),
      checkPeriod,
    ),
    { numRuns: runs(40) },
  );
});

Deno.test("roaming props: no usage is billed twice past the 32 spans a subscriber keeps (records out of time order)", () => {
  const crowd = opArb.map((o) =>
    o.op === "record" ? { ...o, imsi: 0, visited: 0, reuse: false } : o
  );
  fc.assert(
    fc.property(
      fc.array(fc.array(crowd, { minLength: 8, maxLength: 12 }), { minLength: 4, maxLength: 6 }),
      checkPeriod,
    ),
    { numRuns: runs(15) },
  );
});
