/**
 * `roaming.*`: wholesale roaming settlement between two carriers.
 *
 * State:
 *
 * - `roaming.period/<period>` → {@link PeriodState}: the agreement, the
 *   running totals per visited carrier (billed, held and disputed; updated
 *   by every record, dispute and accept, so closing is O(1)), and once
 *   closed the statement, its hash and the carriers' signatures.
 * - `roaming.record/<period>\u0001<record>` → {@link UsageRecord}.
 * - `roaming.flag/<period>\u0001<record>` → {@link FlagRecord}: flagged
 *   records only, the fraud desk's queue.
 * - `roaming.usage/<period>\u0001<visited>\u0001<imsiHash>` →
 *   {@link UsageIndex}: the latest usage spans of one subscriber served by
 *   one carrier in one period, at most `ROAMING_SUBSCRIBER_SPANS_MAX`, for
 *   the duplicate-usage check.
 * - `roaming.sub/<imsiHash>` → {@link SubscriberSighting}: where a
 *   subscriber was last served, across periods and carriers, for the
 *   impossible-travel signal.
 *
 * Who acts for a carrier: governance decides, never the agreement alone. A
 * period opens only when, for each carrier, a signer is a site or admin key
 * that `gov.*` registered for that carrier's organisation (its consent).
 * Keys the agreement lists for a carrier (`carriers[i].keys`) act for it
 * afterwards (records, disputes, close, sign), because that carrier's
 * governance key signed the agreement that lists them; they never count
 * toward opening the period itself.
 *
 * All arithmetic is integer (BigInt for money and totals; distances with a
 * fixed cosine table and an integer square root), so every site computes
 * the same flags and the same statement.
 *
 * @module
 */
import {
  ROAMING_LIMITS_DEFAULT,
  ROAMING_SUBSCRIBER_SPANS_MAX,
  type RoamingAcceptBody,
  roamingAcceptBody,
  type RoamingCarrier,
  type RoamingCloseBody,
  roamingCloseBody,
  type RoamingDisputeBody,
  roamingDisputeBody,
  type RoamingLimits,
  type RoamingOpenBody,
  roamingOpenBody,
  type RoamingRecordBody,
  roamingRecordBody,
  type RoamingSignBody,
  roamingSignBody,
  roamingStatementHash,
} from "../../sdk/kinds/roaming.ts";
import { assert } from "../chain/assert.ts";
import { gated } from "./_gate.ts";
import { compositeKey } from "./_keys.ts";
import { type Contract, Rejection, type StateAccess, type StateKey } from "./contract.ts";
import { ADMIN_NS, ORG_NS, SITE_KEY_NS } from "./gov.ts";

export const PERIOD_NS = "roaming.period";
export const RECORD_NS = "roaming.record";
export const FLAG_NS = "roaming.flag";
export const SUBSCRIBER_NS = "roaming.sub";
export const USAGE_NS = "roaming.usage";
export const PAIR_NS = "roaming.pair";

/**
 * Periods one pair of carriers keeps in its index (`roaming.pair`), newest
 * `from` last. A period that starts before the end of one dropped from the
 * index is refused, so overlap is still decided exactly.
 */
export const ROAMING_PAIR_PERIODS_MAX = 64;

/**
 * `roaming.pair/<org>\u0001<org>` (the two ids sorted): the periods the pair
 * opened, so that no two of them overlap in time — every record lies inside
 * its period, so the same usage can be in only one period, where the
 * duplicate-usage check sees it.
 */
export interface PairIndex {
  /** `[from, until)` of the pair's latest periods, by `from`; at most ROAMING_PAIR_PERIODS_MAX. */
  periods: Array<{ period: string; from: number; until: number }>;
  /** The latest `until` of a period dropped from `periods`, if any. */
  droppedUntil?: number;
}

/** The `roaming.pair` key of two organisations, whichever order they come in. */
function pairKey(a: string, b: string): string {
  return a < b ? compositeKey(a, b) : compositeKey(b, a);
}
/** Governance namespaces whose records (`{org}`) tie a site or admin key to an organisation. */
const GOV_KEY_NAMESPACES = [SITE_KEY_NS, ADMIN_NS] as const;

/** Usage totals of one visited carrier, decimal strings. */
export interface UsageTotals {
  records: string;
  voiceMinutes: string;
  dataMb: string;
  sms: string;
  flagged: string;
}

/**
 * Totals per visited carrier, each record in exactly one: billed, held
 * (overlapping usage awaiting the home carrier's decision; never billed) or
 * disputed.
 */
export interface CarrierTotals {
  billed: UsageTotals;
  disputed: UsageTotals;
  held: UsageTotals;
}

/** One direction of the statement: what `home` owes `visited`. */
export interface StatementLine {
  visited: string;
  home: string;
  records: string;
  voiceMinutes: string;
  dataMb: string;
  sms: string;
  /** Charges per tariff: usage × unit price. */
  charges: { voice: string; data: string; sms: string };
  total: string;
  disputedRecords: string;
  /** Records still held at close (overlapping usage neither accepted nor disputed): not billed. */
  heldRecords: string;
  flaggedRecords: string;
}

/** The settlement statement of a period. */
export interface Statement {
  period: string;
  currency: string;
  from: number;
  until: number;
  lines: [StatementLine, StatementLine];
  /** The net amount: who pays whom after offsetting both directions. */
  net: { from: string; to: string; amount: string };
}

/** A period as stored. */
export interface PeriodState {
  period: string;
  carriers: [RoamingCarrier, RoamingCarrier];
  from: number;
  until: number;
  currency: string;
  limits: RoamingLimits;
  status: "open" | "closed" | "final";
  totals: Record<string, CarrierTotals>;
  openedTx: string;
  openedHeight: number;
  statement?: Statement;
  statementHash?: string;
  closedTx?: string;
  closedAt?: number;
  signatures: Record<string, { by: string; txId: string; time: number }>;
  finalTx?: string;
  finalAt?: number;
}

/** A usage record as stored. */
export interface UsageRecord extends RoamingRecordBody {
  home: string;
  flags: string[];
  /** With `overlapping_usage`: the records (ids, in span order) whose usage this one overlaps. */
  overlaps?: string[];
  /** True while the record is held: flagged `overlapping_usage` or `overlap_unchecked`, and neither accepted nor disputed. */
  held?: true;
  /** The home carrier accepted the held record (`roaming.accept`): it is billed. */
  accepted?: { by: string; detail?: string; txId: string; time: number };
  txId: string;
  height: number;
  disputed?: { by: string; reason: string; detail?: string; txId: string; time: number };
}

/** A flagged record, in the flag queue. */
export interface FlagRecord {
  period: string;
  record: string;
  visited: string;
  imsiHash: string;
  flags: string[];
  overlaps?: string[];
  txId: string;
}

/** Where a subscriber was last served. */
export interface SubscriberSighting {
  imsiHash: string;
  country: string;
  lat: number;
  lon: number;
  from: number;
  to: number;
  period: string;
  record: string;
}

/** The key of a record (or its flag) in its period. */
export function recordKey(period: string, record: string): string {
  return compositeKey(period, record);
}

/** The key of a subscriber's {@link UsageIndex} with one visited carrier in one period. */
export function usageKey(period: string, visited: string, imsiHash: string): string {
  return compositeKey(period, visited, imsiHash);
}

/** The hex hash a statement is signed by (`roamingStatementHash` of the SDK). */
export function statementHash(statement: Statement): string {
  return roamingStatementHash(statement);
}

// ---- carriers ------------------------------------------------------------

function carrierKeys(signers: readonly string[]): StateKey[] {
  return signers.flatMap((s) => GOV_KEY_NAMESPACES.map((ns) => ({ ns, key: s })));
}

/**
 * Whether governance registered `signer` for organisation `org` (as a site
 * or admin key). Requires {@link carrierKeys} of `signer` in `touches`.
 */
function registeredFor(signer: string, org: string, state: StateAccess): boolean {
  return GOV_KEY_NAMESPACES.some((ns) => state.get<{ org?: string }>(ns, signer)?.org === org);
}

/**
 * Whether `signer` acts for carrier `c` of an opened period: a key the
 * period lists for it (which that carrier's governance key consented to at
 * `roaming.open`), or a key governance registered for its organisation.
 * It never authorises `roaming.open` on its own: there `c.keys` come from
 * the very body being authorised (see {@link registeredFor}).
 */
function actsFor(signer: string, c: RoamingCarrier, state: StateAccess): boolean {
  return c.keys?.includes(signer) === true || registeredFor(signer, c.org, state);
}

/** The first signer acting for `c`, or undefined. */
function signerFor(
  signers: readonly string[],
  c: RoamingCarrier,
  state: StateAccess,
): string | undefined {
  return signers.find((s) => actsFor(s, c, state));
}

function carrierOf(p: PeriodState, org: string): RoamingCarrier | undefined {
  return p.carriers.find((c) => c.org === org);
}

function otherOrg(p: PeriodState, org: string): string {
  return p.carriers[0].org === org ? p.carriers[1].org : p.carriers[0].org;
}

function loadPeriod(state: StateAccess, period: string): PeriodState {
  const p = state.get<PeriodState>(PERIOD_NS, period);
  if (p === undefined) {
    throw new Rejection("roaming_period_unknown", `Cannot find roaming period "${period}"`);
  }
  return p;
}

function requireOpen(p: PeriodState): void {
  if (p.status !== "open") {
    throw new Rejection(
      "roaming_period_closed",
      `Cannot change roaming period "${p.period}": it is ${p.status}`,
    );
  }
}

// ---- totals --------------------------------------------------------------

const ZERO_TOTALS: UsageTotals = {
  records: "0",
  voiceMinutes: "0",
  dataMb: "0",
  sms: "0",
  flagged: "0",
};

/** `t` plus (`sign` = 1) or minus (`sign` = -1) one record. */
function addRecord(t: UsageTotals, r: UsageRecord, sign: 1n | -1n): UsageTotals {
  const add = (a: string, b: number) => `${BigInt(a) + sign * BigInt(b)}`;
  return {
    records: add(t.records, 1),
    voiceMinutes: add(t.voiceMinutes, r.voiceMinutes),
    dataMb: add(t.dataMb, r.dataMb),
    sms: add(t.sms, r.sms),
    flagged: add(t.flagged, r.flags.length > 0 ? 1 : 0),
  };
}

/** Which totals a record is in: disputed, else held, else billed. */
type Bucket = keyof CarrierTotals;

function bucketOf(r: UsageRecord): Bucket {
  return r.disputed !== undefined ? "disputed" : r.held === true ? "held" : "billed";
}

/**
 * The totals of carrier `org`. `held` is absent from a period opened before
 * records could be held; it counts as zero there.
 */
function carrierTotals(p: PeriodState, org: string): CarrierTotals {
  const t = Object.hasOwn(p.totals, org) ? p.totals[org] : undefined;
  return {
    billed: t?.billed ?? ZERO_TOTALS,
    disputed: t?.disputed ?? ZERO_TOTALS,
    held: t?.held ?? ZERO_TOTALS,
  };
}

/**
 * `p` with record `r` moved between its visited carrier's totals: added to
 * `to`, and taken from `from` unless `from` is undefined (a new record).
 * Requires `from !== to`.
 */
function moveRecord(
  p: PeriodState,
  r: UsageRecord,
  from: Bucket | undefined,
  to: Bucket,
): PeriodState {
  assert(from !== to, `Cannot move record ${r.record} from ${from} to itself`);
  const t = carrierTotals(p, r.visited);
  if (from !== undefined) t[from] = addRecord(t[from], r, -1n);
  t[to] = addRecord(t[to], r, 1n);
  return { ...p, totals: { ...p.totals, [r.visited]: t } };
}

// ---- duplicate usage -----------------------------------------------------

/** A service a record carries: one whose amount is above zero. */
export type UsageService = "voice" | "data" | "sms";

/** Every service, in the order spans and indexes list them. */
const USAGE_SERVICES: readonly UsageService[] = ["voice", "data", "sms"];

/** One record's usage as the duplicate-usage check sees it: `[from, end)` of `services`. */
export interface UsageSpan {
  record: string;
  from: number;
  /** Exclusive; `from < end`. */
  end: number;
  services: UsageService[];
}

/**
 * `roaming.usage/<period>\u0001<visited>\u0001<imsiHash>`: what the
 * duplicate-usage check remembers of one subscriber's records with one
 * visited carrier in one period.
 */
export interface UsageIndex {
  /**
   * The latest-starting spans, sorted by `from`, then `end`, then record id;
   * at most `ROAMING_SUBSCRIBER_SPANS_MAX`. Spans with no service are never
   * kept (they cannot overlap anything).
   */
  spans: UsageSpan[];
  /**
   * Per service, the greatest `end` of a span dropped from `spans` that
   * carried it; absent while none was dropped. A dropped span ends at or
   * before it, so a new span of that service starting at or after it
   * cannot overlap a dropped one.
   */
  droppedUntil: Partial<Record<UsageService, number>>;
}

/** What the duplicate-usage check found for a new span. */
export interface UsageCheck {
  /** The kept spans that overlap it and share a service with it, in `spans` order. */
  overlaps: string[];
  /** Whether it starts before `droppedUntil` of a service it carries: it may overlap a dropped span. */
  unchecked: boolean;
}

/**
 * The span of a record: `[from, to)`, or `[from, from + 1)` for an instant
 * (`from === to`, e.g. one SMS), so that two records of the same instant
 * overlap while records that only touch (`a.to === b.from`) do not.
 */
export function usageSpan(r: RoamingRecordBody): UsageSpan {
  const amounts: Record<UsageService, number> = {
    voice: r.voiceMinutes,
    data: r.dataMb,
    sms: r.sms,
  };
  return {
    record: r.record,
    from: r.from,
    end: Math.max(r.to, r.from + 1),
    services: USAGE_SERVICES.filter((s) => amounts[s] > 0),
  };
}

/**
 * True when record `r` lies in its period `[from, until)`. From rules 4 its
 * span ({@link usageSpan}) must: `p.from <= r.from` and the span's end
 * `<= p.until`, so usage may run up to the period's end, and an instant
 * record is its millisecond. Up to rules 3 `r.to` had to be before `until`,
 * so usage that ended exactly at the boundary fit no period (the next one
 * starts after its `from`).
 */
export function withinPeriod(
  r: RoamingRecordBody,
  p: { from: number; until: number },
  rules: number,
): boolean {
  if (r.from < p.from) return false;
  return rules >= 4 ? usageSpan(r).end <= p.until : r.to < p.until;
}

/**
 * Checks `span` against a subscriber's index (undefined: no record yet).
 * Exact, never probabilistic: every recorded span that overlaps `span` and
 * shares a service with it is either in `overlaps` (kept) or makes
 * `unchecked` true (dropped); neither means no recorded span overlaps it.
 */
export function checkUsage(index: UsageIndex | undefined, span: UsageSpan): UsageCheck {
  if (index === undefined || span.services.length === 0) return { overlaps: [], unchecked: false };
  const overlaps = index.spans
    .filter((x) =>
      x.from < span.end && span.from < x.end && x.services.some((s) => span.services.includes(s))
    )
    .map((x) => x.record);
  const unchecked = span.services.some((s) => {
    const until = index.droppedUntil[s];
    return until !== undefined && span.from < until;
  });
  return { overlaps, unchecked };
}

function compareSpans(a: UsageSpan, b: UsageSpan): number {
  if (a.from !== b.from) return a.from - b.from;
  if (a.end !== b.end) return a.end - b.end;
  return a.record < b.record ? -1 : a.record > b.record ? 1 : 0;
}

/**
 * The index with `span` added; when that makes one more than
 * `ROAMING_SUBSCRIBER_SPANS_MAX`, the earliest-starting span (possibly
 * `span` itself) is dropped and raises `droppedUntil` of its services.
 * Requires `span` to carry a service.
 */
export function indexUsage(index: UsageIndex | undefined, span: UsageSpan): UsageIndex {
  assert(span.services.length > 0, `Cannot index record ${span.record}: it carries no service`);
  const spans = [...(index?.spans ?? []), span].sort(compareSpans);
  const dropped: Partial<Record<UsageService, number>> = { ...index?.droppedUntil };
  if (spans.length > ROAMING_SUBSCRIBER_SPANS_MAX) {
    const first = spans.shift()!;
    for (const s of first.services) dropped[s] = Math.max(dropped[s] ?? first.end, first.end);
  }
  assert(spans.length <= ROAMING_SUBSCRIBER_SPANS_MAX, "Cannot keep more spans than the limit");
  // Services in a fixed order, so every site writes the same JSON.
  const droppedUntil = Object.fromEntries(
    USAGE_SERVICES.filter((s) => dropped[s] !== undefined).map((s) => [s, dropped[s]]),
  );
  return { spans, droppedUntil };
}

// ---- fraud signals -------------------------------------------------------

/** cos(d°) × 10^6 for d = 0..90, rounded: a fixed table, so every site computes alike. */
const COS_MICRO = [
  1000000,
  999848,
  999391,
  998630,
  997564,
  996195,
  994522,
  992546,
  990268,
  987688,
  984808,
  981627,
  978148,
  974370,
  970296,
  965926,
  961262,
  956305,
  951057,
  945519,
  939693,
  933580,
  927184,
  920505,
  913545,
  906308,
  898794,
  891007,
  882948,
  874620,
  866025,
  857167,
  848048,
  838671,
  829038,
  819152,
  809017,
  798636,
  788011,
  777146,
  766044,
  754710,
  743145,
  731354,
  719340,
  707107,
  694658,
  681998,
  669131,
  656059,
  642788,
  629320,
  615661,
  601815,
  587785,
  573576,
  559193,
  544639,
  529919,
  515038,
  500000,
  484810,
  469472,
  453990,
  438371,
  422618,
  406737,
  390731,
  374607,
  358368,
  342020,
  325568,
  309017,
  292372,
  275637,
  258819,
  241922,
  224951,
  207912,
  190809,
  173648,
  156434,
  139173,
  121869,
  104528,
  87156,
  69756,
  52336,
  34899,
  17452,
  0,
];

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = n;
  let y = (x + 1n) / 2n;
  while (y < x) {
    x = y;
    y = (x + n / x) / 2n;
  }
  return x;
}

/**
 * Approximate ground distance in metres between two points given in
 * microdegrees (equirectangular projection at the mean latitude; within a
 * few percent below ~1000 km, which is all a plausibility check needs).
 */
export function distanceMetres(lat1: number, lon1: number, lat2: number, lon2: number): bigint {
  const meanLatDeg = Math.min(90, Math.trunc(Math.abs(lat1 + lat2) / 2 / 1_000_000));
  let dLon = BigInt(Math.abs(lon1 - lon2));
  if (dLon > 180_000_000n) dLon = 360_000_000n - dLon;
  const x = dLon * BigInt(COS_MICRO[meanLatDeg]) / 1_000_000n;
  const y = BigInt(Math.abs(lat1 - lat2));
  // One microdegree of arc is 0.111195 m on a 6371 km sphere.
  return isqrt(x * x + y * y) * 111_195n / 1_000_000n;
}

/** The fraud flags of a record, given where its subscriber was last served. */
export function fraudFlags(
  r: RoamingRecordBody,
  last: SubscriberSighting | undefined,
  limits: RoamingLimits,
): string[] {
  const flags: string[] = [];
  if (last !== undefined && last.country !== r.country) {
    // Time between the two usage intervals; 0 when they overlap.
    const gapMs = BigInt(Math.max(0, Math.max(r.from, last.from) - Math.min(r.to, last.to)));
    const metres = distanceMetres(r.lat, r.lon, last.lat, last.lon);
    // metres / gapMs > maxSpeedKmh km/h  ⇔  metres × 3600 > maxSpeedKmh × gapMs.
    if (metres * 3600n > BigInt(limits.maxSpeedKmh) * gapMs) flags.push("impossible_travel");
  }
  const durationMs = BigInt(Math.max(60_000, r.to - r.from));
  const beyond = (usage: number, perHour: number) =>
    BigInt(usage) * 3_600_000n > BigInt(perHour) * durationMs;
  if (beyond(r.voiceMinutes, limits.voiceMinutesPerHour)) flags.push("excessive_voice");
  if (beyond(r.dataMb, limits.dataMbPerHour)) flags.push("excessive_data");
  if (beyond(r.sms, limits.smsPerHour)) flags.push("excessive_sms");
  return flags;
}

// ---- statement -----------------------------------------------------------

/** The statement of a period from its running totals: O(1) in the number of records. */
export function computeStatement(p: PeriodState): Statement {
  const line = (c: RoamingCarrier): StatementLine => {
    const t = carrierTotals(p, c.org);
    const voice = BigInt(t.billed.voiceMinutes) * BigInt(c.tariff.voiceMinute);
    const data = BigInt(t.billed.dataMb) * BigInt(c.tariff.dataMb);
    const sms = BigInt(t.billed.sms) * BigInt(c.tariff.sms);
    return {
      visited: c.org,
      home: otherOrg(p, c.org),
      records: t.billed.records,
      voiceMinutes: t.billed.voiceMinutes,
      dataMb: t.billed.dataMb,
      sms: t.billed.sms,
      charges: { voice: `${voice}`, data: `${data}`, sms: `${sms}` },
      total: `${voice + data + sms}`,
      disputedRecords: t.disputed.records,
      heldRecords: t.held.records,
      flaggedRecords: `${
        BigInt(t.billed.flagged) + BigInt(t.disputed.flagged) + BigInt(t.held.flagged)
      }`,
    };
  };
  const lines: [StatementLine, StatementLine] = [line(p.carriers[0]), line(p.carriers[1])];
  const [a, b] = lines;
  // Line a: b (home) owes a (visited) a.total; line b: a owes b b.total.
  const diff = BigInt(a.total) - BigInt(b.total);
  const net = diff >= 0n
    ? { from: a.home, to: a.visited, amount: `${diff}` }
    : { from: b.home, to: b.visited, amount: `${-diff}` };
  return {
    period: p.period,
    currency: p.currency,
    from: p.from,
    until: p.until,
    lines,
    net,
  };
}

// ---- contracts -----------------------------------------------------------

/** Every key the agreement lists for either carrier. */
function listedKeys(b: RoamingOpenBody): string[] {
  return b.carriers.flatMap((c) => c.keys ?? []);
}

/**
 * `roaming.open`: both carriers sign the period's agreement, each through a
 * key governance registered for its organisation (its consent); the keys
 * the agreement lists only act for a carrier once the period is open.
 *
 * The rules run in this order so that a transaction that earlier versions
 * rejected is rejected with the same code and detail (replay must
 * reproduce old blocks): the period exists; a carrier has no signer even
 * counting listed keys (the earlier rule); then the rules added since, which
 * only reject transactions the earlier rule applied: each carrier is an
 * organisation of governance (`roaming_unknown_org`), signed through a
 * governance key of its own (`roaming_not_carrier`), and no listed key acts
 * for the other carrier too (`roaming_key_conflict`).
 */
export const roamingOpen: Contract<RoamingOpenBody> = gated({
  kind: "roaming.open",
  body: roamingOpenBody,
  authorize() {},
  touches(tx) {
    const [a, b] = tx.body.carriers;
    return [
      { ns: PERIOD_NS, key: tx.body.period },
      { ns: PAIR_NS, key: pairKey(a.org, b.org) },
      ...tx.body.carriers.map((c) => ({ ns: ORG_NS, key: c.org })),
      ...carrierKeys(tx.signers),
      ...carrierKeys(listedKeys(tx.body)),
    ];
  },
  apply(tx, state) {
    const b = tx.body;
    if (state.get(PERIOD_NS, b.period) !== undefined) {
      throw new Rejection(
        "roaming_period_exists",
        `Cannot open roaming period "${b.period}": it exists`,
      );
    }
    for (const c of b.carriers) {
      if (signerFor(tx.signers, c, state) === undefined) {
        throw new Rejection(
          "roaming_not_carrier",
          `Cannot open roaming period "${b.period}": carrier ${c.org} did not sign`,
        );
      }
    }
    for (const c of b.carriers) {
      if (state.get(ORG_NS, c.org) === undefined) {
        throw new Rejection(
          "roaming_unknown_org",
          `Cannot open roaming period "${b.period}": governance has no organisation ${c.org}`,
        );
      }
    }
    for (const c of b.carriers) {
      // Consent comes from governance only: the keys this body lists for
      // `c` are the other party's word, so they cannot consent for `c`.
      if (!tx.signers.some((s) => registeredFor(s, c.org, state))) {
        throw new Rejection(
          "roaming_not_carrier",
          `Cannot open roaming period "${b.period}": carrier ${c.org} did not sign with a site ` +
            `or admin key governance registered for it`,
        );
      }
    }
    for (const [i, c] of b.carriers.entries()) {
      const other = b.carriers[1 - i];
      const conflict = (c.keys ?? []).find((k) =>
        other.keys?.includes(k) === true || registeredFor(k, other.org, state)
      );
      if (conflict !== undefined) {
        throw new Rejection(
          "roaming_key_conflict",
          `Cannot open roaming period "${b.period}": key ${conflict} listed for ${c.org} also ` +
            `acts for ${other.org}`,
        );
      }
    }
    const pair = pairKey(b.carriers[0].org, b.carriers[1].org);
    const index = state.get<PairIndex>(PAIR_NS, pair) ?? { periods: [] };
    const clash = index.periods.find((q) => q.from < b.until && b.from < q.until);
    if (clash !== undefined) {
      throw new Rejection(
        "roaming_period_overlap",
        `Cannot open roaming period "${b.period}": [${b.from}, ${b.until}) overlaps period ` +
          `"${clash.period}" [${clash.from}, ${clash.until}) of the same carriers`,
      );
    }
    if (index.droppedUntil !== undefined && b.from < index.droppedUntil) {
      throw new Rejection(
        "roaming_period_overlap",
        `Cannot open roaming period "${b.period}": it starts before ${index.droppedUntil}, the end ` +
          `of an earlier period of the same carriers no longer indexed`,
      );
    }
    state.put(PAIR_NS, pair, withPeriod(index, { period: b.period, from: b.from, until: b.until }));
    const p: PeriodState = {
      period: b.period,
      carriers: b.carriers,
      from: b.from,
      until: b.until,
      currency: b.currency,
      limits: b.limits ?? ROAMING_LIMITS_DEFAULT,
      status: "open",
      totals: Object.fromEntries(
        b.carriers.map((
          c,
        ) => [c.org, { billed: ZERO_TOTALS, disputed: ZERO_TOTALS, held: ZERO_TOTALS }]),
      ),
      openedTx: tx.txId,
      openedHeight: tx.height,
      signatures: {},
    };
    state.put(PERIOD_NS, b.period, p);
    return { period: b.period };
  },
});

/** `index` with `q` added in `from` order, the earliest dropped past ROAMING_PAIR_PERIODS_MAX. */
export function withPeriod(
  index: PairIndex,
  q: { period: string; from: number; until: number },
): PairIndex {
  const periods = [...index.periods, q].sort((x, y) => x.from - y.from);
  let droppedUntil = index.droppedUntil;
  while (periods.length > ROAMING_PAIR_PERIODS_MAX) {
    const dropped = periods.shift()!;
    droppedUntil = Math.max(droppedUntil ?? dropped.until, dropped.until);
  }
  return { periods, ...(droppedUntil !== undefined ? { droppedUntil } : {}) };
}

/**
 * `roaming.record`: the visited carrier reports usage; flags are computed
 * here. A record id already recorded is refused; a record whose usage
 * overlaps recorded usage of the same subscriber (see {@link checkUsage})
 * is kept but held: flagged, and counted in the held totals instead of the
 * billed ones until the home carrier accepts or disputes it.
 */
export const roamingRecord: Contract<RoamingRecordBody> = gated({
  kind: "roaming.record",
  body: roamingRecordBody,
  authorize() {},
  touches(tx) {
    const { period, record, visited, imsiHash } = tx.body;
    return [
      { ns: PERIOD_NS, key: period },
      { ns: RECORD_NS, key: recordKey(period, record) },
      { ns: FLAG_NS, key: recordKey(period, record) },
      { ns: SUBSCRIBER_NS, key: imsiHash },
      { ns: USAGE_NS, key: usageKey(period, visited, imsiHash) },
      ...carrierKeys(tx.signers),
    ];
  },
  apply(tx, state) {
    const r = tx.body;
    const p = loadPeriod(state, r.period);
    requireOpen(p);
    const visited = carrierOf(p, r.visited);
    if (visited === undefined) {
      throw new Rejection(
        "roaming_unknown_carrier",
        `Cannot record usage: ${r.visited} is not a carrier of period "${r.period}"`,
      );
    }
    if (signerFor(tx.signers, visited, state) === undefined) {
      throw new Rejection(
        "roaming_not_carrier",
        `Cannot record usage for ${r.visited}: no signer acts for that carrier`,
      );
    }
    if (!withinPeriod(r, p, tx.rules)) {
      throw new Rejection(
        "roaming_outside_period",
        tx.rules >= 4
          ? `Cannot record usage ${
            r.from === r.to ? `at ${r.from}` : `[${r.from}, ${r.to})`
          }: it lies outside period "${r.period}" [${p.from}, ${p.until})`
          : `Cannot record usage [${r.from}, ${r.to}] in period [${p.from}, ${p.until})`,
      );
    }
    const key = recordKey(r.period, r.record);
    if (state.get(RECORD_NS, key) !== undefined) {
      throw new Rejection(
        "roaming_duplicate_record",
        `Cannot record "${r.record}" in period "${r.period}": it is already recorded`,
      );
    }
    const last = state.get<SubscriberSighting>(SUBSCRIBER_NS, r.imsiHash);
    const span = usageSpan(r);
    const indexKey = usageKey(r.period, r.visited, r.imsiHash);
    const index = state.get<UsageIndex>(USAGE_NS, indexKey);
    const { overlaps, unchecked } = checkUsage(index, span);
    const flags = [
      ...fraudFlags(r, last, p.limits),
      ...(overlaps.length > 0 ? ["overlapping_usage"] : []),
      ...(unchecked ? ["overlap_unchecked"] : []),
    ];
    const held = overlaps.length > 0 || unchecked;
    const stored: UsageRecord = {
      ...r,
      home: otherOrg(p, r.visited),
      flags,
      ...(overlaps.length > 0 ? { overlaps } : {}),
      ...(held ? { held: true as const } : {}),
      txId: tx.txId,
      height: tx.height,
    };
    state.put(RECORD_NS, key, stored);
    if (flags.length > 0) {
      const flag: FlagRecord = {
        period: r.period,
        record: r.record,
        visited: r.visited,
        imsiHash: r.imsiHash,
        flags,
        ...(overlaps.length > 0 ? { overlaps } : {}),
        txId: tx.txId,
      };
      state.put(FLAG_NS, key, flag);
    }
    // Every record with usage is indexed, held or not, so a third copy of
    // the same usage is held too.
    if (span.services.length > 0) state.put(USAGE_NS, indexKey, indexUsage(index, span));
    if (last === undefined || r.to >= last.to) {
      const sighting: SubscriberSighting = {
        imsiHash: r.imsiHash,
        country: r.country,
        lat: r.lat,
        lon: r.lon,
        from: r.from,
        to: r.to,
        period: r.period,
        record: r.record,
      };
      state.put(SUBSCRIBER_NS, r.imsiHash, sighting);
    }
    state.put(PERIOD_NS, r.period, moveRecord(p, stored, undefined, bucketOf(stored)));
    return {
      period: r.period,
      record: r.record,
      flags,
      held,
      ...(overlaps.length > 0 ? { overlaps } : {}),
    };
  },
});

/**
 * `roaming.dispute`: the home carrier contests a record before close; a
 * billed or held record moves to the disputed totals (a held one is no
 * longer held).
 */
export const roamingDispute: Contract<RoamingDisputeBody> = gated({
  kind: "roaming.dispute",
  body: roamingDisputeBody,
  authorize() {},
  touches: (tx) => recordActionKeys(tx),
  apply(tx, state) {
    const { period, record, reason, detail } = tx.body;
    const { p, key, r, by } = homeCarrierRecord(tx, state, "dispute");
    if (r.disputed !== undefined) {
      throw new Rejection("roaming_already_disputed", `Cannot dispute record "${record}" twice`);
    }
    const { held: _held, ...rest } = r;
    const disputed: UsageRecord = {
      ...rest,
      disputed: {
        by,
        reason,
        ...(detail !== undefined ? { detail } : {}),
        txId: tx.txId,
        time: tx.time,
      },
    };
    state.put(RECORD_NS, key, disputed);
    state.put(PERIOD_NS, period, moveRecord(p, r, bucketOf(r), "disputed"));
    return { period, record, reason };
  },
});

/** What a dispute or an accept reads: the period, the record, the signers' carrier keys. */
function recordActionKeys(
  tx: { body: { period: string; record: string }; signers: readonly string[] },
): StateKey[] {
  const { period, record } = tx.body;
  return [
    { ns: PERIOD_NS, key: period },
    { ns: RECORD_NS, key: recordKey(period, record) },
    ...carrierKeys(tx.signers),
  ];
}

/**
 * The open period, the record `tx.body` names and the signer acting for the
 * record's home carrier: what a dispute and an accept both need first.
 * Throws the rejection that says which of them is missing.
 */
function homeCarrierRecord(
  tx: { body: { period: string; record: string }; signers: readonly string[] },
  state: StateAccess,
  action: "dispute" | "accept",
): { p: PeriodState; key: string; r: UsageRecord; by: string } {
  const { period, record } = tx.body;
  const p = loadPeriod(state, period);
  requireOpen(p);
  const key = recordKey(period, record);
  const r = state.get<UsageRecord>(RECORD_NS, key);
  if (r === undefined) {
    throw new Rejection("roaming_record_unknown", `Cannot find record "${record}" in "${period}"`);
  }
  const by = signerFor(tx.signers, carrierOf(p, r.home)!, state);
  if (by === undefined) {
    throw new Rejection(
      "roaming_not_carrier",
      `Cannot ${action} record "${record}": only its home carrier ${r.home} may`,
    );
  }
  return { p, key, r, by };
}

/**
 * `roaming.accept`: the home carrier accepts a held record as usage it owes
 * for; it moves from the held totals to the billed ones. Its flags stay.
 */
export const roamingAccept: Contract<RoamingAcceptBody> = gated({
  kind: "roaming.accept",
  body: roamingAcceptBody,
  authorize() {},
  touches: (tx) => recordActionKeys(tx),
  apply(tx, state) {
    const { period, record, detail } = tx.body;
    const { p, key, r, by } = homeCarrierRecord(tx, state, "accept");
    if (bucketOf(r) !== "held") {
      const why = r.disputed !== undefined
        ? "it is disputed"
        : r.accepted !== undefined
        ? "it is already accepted"
        : "it overlaps no recorded usage";
      throw new Rejection("roaming_not_held", `Cannot accept record "${record}": ${why}`);
    }
    const { held: _held, ...rest } = r;
    const accepted: UsageRecord = {
      ...rest,
      accepted: { by, ...(detail !== undefined ? { detail } : {}), txId: tx.txId, time: tx.time },
    };
    state.put(RECORD_NS, key, accepted);
    state.put(PERIOD_NS, period, moveRecord(p, r, "held", "billed"));
    return { period, record };
  },
});

/** `roaming.close`: after the period ends, computes the statement. */
export const roamingClose: Contract<RoamingCloseBody> = gated({
  kind: "roaming.close",
  body: roamingCloseBody,
  authorize() {},
  touches(tx) {
    return [{ ns: PERIOD_NS, key: tx.body.period }, ...carrierKeys(tx.signers)];
  },
  apply(tx, state) {
    const p = loadPeriod(state, tx.body.period);
    requireOpen(p);
    if (tx.time < p.until) {
      throw new Rejection(
        "roaming_period_not_ended",
        `Cannot close roaming period "${p.period}" before ${p.until}; block time is ${tx.time}`,
      );
    }
    if (!p.carriers.some((c) => signerFor(tx.signers, c, state) !== undefined)) {
      throw new Rejection(
        "roaming_not_carrier",
        `Cannot close roaming period "${p.period}": no signer acts for one of its carriers`,
      );
    }
    const statement = computeStatement(p);
    const hash = statementHash(statement);
    state.put(PERIOD_NS, p.period, {
      ...p,
      status: "closed",
      statement,
      statementHash: hash,
      closedTx: tx.txId,
      closedAt: tx.time,
    });
    return { period: p.period, statement: hash, net: statement.net };
  },
});

/** `roaming.sign`: a carrier signs the statement; final once both did. */
export const roamingSign: Contract<RoamingSignBody> = gated({
  kind: "roaming.sign",
  body: roamingSignBody,
  authorize() {},
  touches(tx) {
    return [{ ns: PERIOD_NS, key: tx.body.period }, ...carrierKeys(tx.signers)];
  },
  apply(tx, state) {
    const p = loadPeriod(state, tx.body.period);
    if (p.status === "open" || p.statementHash === undefined) {
      throw new Rejection(
        "roaming_period_open",
        `Cannot sign the statement of "${p.period}": the period is not closed`,
      );
    }
    if (tx.body.statement !== p.statementHash) {
      throw new Rejection(
        "roaming_statement_mismatch",
        `Cannot sign statement ${tx.body.statement}: the statement of "${p.period}" is ` +
          p.statementHash,
      );
    }
    const acting = p.carriers
      .map((c) => ({ org: c.org, by: signerFor(tx.signers, c, state) }))
      .filter((a): a is { org: string; by: string } => a.by !== undefined);
    if (acting.length === 0) {
      throw new Rejection(
        "roaming_not_carrier",
        `Cannot sign the statement of "${p.period}": no signer acts for one of its carriers`,
      );
    }
    const fresh = acting.filter((a) => !Object.hasOwn(p.signatures, a.org));
    if (fresh.length === 0) {
      throw new Rejection(
        "roaming_already_signed",
        `Cannot sign the statement of "${p.period}" again for ${
          acting.map((a) => a.org).join(", ")
        }`,
      );
    }
    const signatures = { ...p.signatures };
    for (const a of fresh) signatures[a.org] = { by: a.by, txId: tx.txId, time: tx.time };
    const final = p.carriers.every((c) => Object.hasOwn(signatures, c.org));
    state.put(PERIOD_NS, p.period, {
      ...p,
      signatures,
      ...(final ? { status: "final" as const, finalTx: tx.txId, finalAt: tx.time } : {}),
    });
    return { period: p.period, signed: fresh.map((a) => a.org), final };
  },
});

/** Every `roaming.*` contract. */
export const roamingContracts = [
  roamingOpen,
  roamingRecord,
  roamingDispute,
  roamingAccept,
  roamingClose,
  roamingSign,
] as const;
