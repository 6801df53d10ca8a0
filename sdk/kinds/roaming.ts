/**
 * Body schemas of the `roaming.*` kinds: wholesale roaming settlement
 * between two carriers.
 *
 * A period is opened by both carriers with each one's tariff (what it
 * charges, as the visited network, per voice minute, MB and SMS, in minor
 * units of `currency`). During the period each visited carrier submits usage
 * records of the other's subscribers (per IMSI hash); a record id sent
 * twice is refused, a record whose usage overlaps usage already recorded
 * for the same subscriber is held out of the billed totals until the home
 * carrier accepts or disputes it, and simple fraud signals are flagged.
 * After the period ends either carrier closes it, which computes the
 * settlement statement; it is final once both carriers have signed its
 * hash. Before close, a carrier may dispute a record of its subscribers,
 * which takes it out of the statement's billed totals.
 *
 * A carrier acts through any key listed for it in the period, or through a
 * site or admin key that governance (`gov.*`) registered for its
 * organisation.
 *
 * @module
 */
import { z } from "zod";
import { canonicalJson } from "../canonical_json.ts";
import { utf8Encode } from "../encoding.ts";
import { sha256Hex } from "../hash.ts";
import type { Envelope } from "../envelope.ts";
import type { Signer } from "../keys.ts";
import {
  amount,
  type BuilderOptions,
  count,
  did,
  hex64,
  ident,
  millis,
  signedTx,
  text,
} from "./_common.ts";

/** Most keys listed for one carrier in a period. */
export const ROAMING_CARRIER_KEYS_MAX = 8;

/**
 * Most usage spans the duplicate-usage check keeps per subscriber, visited
 * carrier and period: the latest-starting ones. A record starting before
 * the end of a span it dropped (of a service they share) cannot be checked
 * against that span, so it is held, flagged `overlap_unchecked`; records
 * sent in time order never are.
 */
export const ROAMING_SUBSCRIBER_SPANS_MAX = 32;

/** An organisation id, as in genesis and `gov.*`. */
export const orgId = z.string().regex(
  /^[a-z0-9][a-z0-9._-]{0,63}$/,
  "must be 1-64 of a-z, 0-9, '.', '_', '-'",
);

/** Unit prices a visited carrier charges, in minor units of the period's currency. */
export const roamingTariff = z.strictObject({
  voiceMinute: amount,
  dataMb: amount,
  sms: amount,
});

/**
 * Plausibility limits of the fraud signals. `maxSpeedKmh`: faster travel
 * between two countries flags `impossible_travel`; the per-hour limits flag
 * `excessive_voice`, `excessive_data`, `excessive_sms` (a record shorter
 * than a minute counts as a minute).
 */
export const roamingLimits = z.strictObject({
  maxSpeedKmh: z.number().int().min(1).max(100_000),
  voiceMinutesPerHour: z.number().int().min(1).max(1_000_000),
  dataMbPerHour: z.number().int().min(1).max(1_000_000_000),
  smsPerHour: z.number().int().min(1).max(1_000_000),
});

/** The limits of a period that names none. */
export const ROAMING_LIMITS_DEFAULT: z.infer<typeof roamingLimits> = {
  maxSpeedKmh: 900,
  voiceMinutesPerHour: 60,
  dataMbPerHour: 20_000,
  smsPerHour: 200,
};

/** One carrier of a period. */
export const roamingCarrier = z.strictObject({
  org: orgId,
  keys: z.array(did).max(ROAMING_CARRIER_KEYS_MAX).optional(),
  tariff: roamingTariff,
});

/** A period id, e.g. `"orga-orgb-2026-11"`. */
export const periodId = ident(64);

/**
 * `roaming.open`: both carriers agree on a period `[from, until)`, its
 * currency and tariffs. Signed by both, each through a key governance
 * registered for that carrier's organisation (one of its sites or admins;
 * checked at apply). Keys the body lists for a carrier act for it once the
 * period is open (records, disputes, close, sign), never to open it.
 *
 * Refused at apply: `roaming_period_exists`, `roaming_period_overlap` (the
 * same two carriers have a period overlapping `[from, until)`: records lie
 * inside their period, so non-overlapping periods keep the same usage out
 * of two statements), `roaming_not_carrier` (a carrier did not sign), `roaming_unknown_org` (a carrier is not an
 * organisation of governance), `roaming_key_conflict` (a key acts for both
 * carriers).
 */
export const roamingOpenBody = z.strictObject({
  period: periodId,
  carriers: z.tuple([roamingCarrier, roamingCarrier]),
  from: millis,
  until: millis,
  currency: z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code"),
  limits: roamingLimits.optional(),
})
  .refine((b) => b.from < b.until, { message: "until must be after from", path: ["until"] })
  .refine((b) => b.carriers[0].org !== b.carriers[1].org, {
    message: "the two carriers must differ",
    path: ["carriers"],
  });

/**
 * `roaming.record`: the visited carrier reports one subscriber's usage from
 * `from` until `to` (the same instant for a single event), where it served
 * them (`country`, ISO 3166-1 alpha-2, and the serving cell's position in
 * microdegrees). The record id is unique within the period.
 *
 * Duplicate usage is held, not refused: a record that shares a service
 * (voice, data or SMS: an amount above zero) with a record of the same
 * subscriber, visited carrier and period whose span `[from, to)` overlaps
 * its own (an instant `t` is `[t, t + 1)`; spans that only touch do not
 * overlap) is flagged `overlapping_usage`, lists those records in
 * `overlaps`, and stays out of the billed totals until the home carrier
 * accepts it (`roaming.accept`) or disputes it. See
 * {@link ROAMING_SUBSCRIBER_SPANS_MAX} for `overlap_unchecked`.
 *
 * Refused at apply: `roaming_period_unknown`, `roaming_period_closed`,
 * `roaming_unknown_carrier` (`visited` is not a carrier of the period),
 * `roaming_not_carrier` (no signer acts for `visited`),
 * `roaming_outside_period`, `roaming_duplicate_record` (the record id).
 */
export const roamingRecordBody = z.strictObject({
  period: periodId,
  record: ident(128),
  visited: orgId,
  imsiHash: hex64,
  country: z.string().regex(/^[A-Z]{2}$/, "must be an ISO 3166-1 alpha-2 code"),
  lat: z.number().int().min(-90_000_000).max(90_000_000),
  lon: z.number().int().min(-180_000_000).max(180_000_000),
  from: millis,
  to: millis,
  voiceMinutes: count,
  dataMb: count,
  sms: count,
}).refine((b) => b.from <= b.to, { message: "from must not be after to", path: ["to"] });

/** Why a record is disputed. */
export const disputeReason = z.enum([
  "fraud_suspected",
  "duplicate_usage",
  "unknown_subscriber",
  "rate_error",
  "other",
]);

/**
 * `roaming.dispute`: the home carrier (the record's other carrier) contests
 * a record while the period is open; the record leaves the billed (or held)
 * totals for the disputed ones.
 *
 * Refused at apply: `roaming_period_unknown`, `roaming_period_closed`,
 * `roaming_record_unknown`, `roaming_not_carrier`, `roaming_already_disputed`.
 */
export const roamingDisputeBody = z.strictObject({
  period: periodId,
  record: ident(128),
  reason: disputeReason,
  detail: text(256).optional(),
});

/**
 * `roaming.accept`: the home carrier accepts a held record (flagged
 * `overlapping_usage` or `overlap_unchecked`) as usage it owes for, while
 * the period is open; the record moves from the held totals to the billed
 * ones. To refuse it, the home carrier disputes it instead. A record still
 * held at close is not billed.
 *
 * Refused at apply: `roaming_period_unknown`, `roaming_period_closed`,
 * `roaming_record_unknown`, `roaming_not_carrier`, `roaming_not_held`.
 */
export const roamingAcceptBody = z.strictObject({
  period: periodId,
  record: ident(128),
  detail: text(256).optional(),
});

/**
 * `roaming.close`: after `until`, either carrier closes the period; every
 * site computes the same statement from the period's running totals.
 *
 * Refused at apply: `roaming_period_unknown`, `roaming_period_closed`,
 * `roaming_period_not_ended`, `roaming_not_carrier`.
 */
export const roamingCloseBody = z.strictObject({ period: periodId });

/**
 * `roaming.sign`: a carrier signs the statement whose hash it computed or
 * read; the statement is final once both carriers signed (one envelope
 * signed by both works too).
 *
 * Refused at apply: `roaming_period_unknown`, `roaming_period_open`,
 * `roaming_statement_mismatch`, `roaming_not_carrier`,
 * `roaming_already_signed`.
 */
export const roamingSignBody = z.strictObject({ period: periodId, statement: hex64 });

/**
 * What a carrier charges as the visited network, in minor units of the
 * period's currency (integer decimal strings): per voice minute, per MB of
 * data and per SMS.
 */
export type RoamingTariff = z.infer<typeof roamingTariff>;
/**
 * The plausibility limits of a period's fraud signals: travel faster than
 * `maxSpeedKmh` between two countries flags `impossible_travel`; more voice
 * minutes, data MB or SMS per hour than the limits flag `excessive_voice`,
 * `excessive_data`, `excessive_sms`. Defaults: {@link ROAMING_LIMITS_DEFAULT}.
 */
export type RoamingLimits = z.infer<typeof roamingLimits>;
/**
 * One carrier of a roaming period: its organisation `org`, up to 8 did:keys
 * that act for it once the period is open, and its {@link RoamingTariff}.
 */
export type RoamingCarrier = z.infer<typeof roamingCarrier>;
/**
 * The body of `roaming.open`, signed by both carriers, each through a key
 * governance registered for its organisation: opens `period` between the two
 * `carriers` for `[from, until)` (ms), in `currency` (ISO 4217), with
 * optional fraud `limits`.
 */
export type RoamingOpenBody = z.infer<typeof roamingOpenBody>;
/**
 * The body of `roaming.record`, signed by the `visited` carrier: one
 * subscriber's usage (`imsiHash`, hex SHA-256) from `from` to `to` (ms),
 * where it was served (`country`, ISO 3166-1 alpha-2; the cell's `lat`/`lon`
 * in microdegrees) and how much (`voiceMinutes`, `dataMb`, `sms`). `record`
 * is unique in the period; overlapping usage is held out of the totals.
 */
export type RoamingRecordBody = z.infer<typeof roamingRecordBody>;
/**
 * The body of `roaming.dispute`, signed by the home carrier (the record's
 * other carrier) while the period is open: contests `record` for `reason`,
 * taking it out of the billed totals; `detail` is free text.
 */
export type RoamingDisputeBody = z.infer<typeof roamingDisputeBody>;
/**
 * The body of `roaming.accept`, signed by the home carrier while the period
 * is open: accepts a held `record` (flagged `overlapping_usage` or
 * `overlap_unchecked`) into the billed totals; `detail` is free text.
 */
export type RoamingAcceptBody = z.infer<typeof roamingAcceptBody>;
/**
 * The body of `roaming.close`, signed by either carrier once the period's
 * `until` passed: closes `period`, and every site computes the same
 * settlement statement from its totals.
 */
export type RoamingCloseBody = z.infer<typeof roamingCloseBody>;
/**
 * The body of `roaming.sign`, signed by a carrier: signs the closed period's
 * settlement `statement` (its hex SHA-256 hash); the statement is final once
 * both carriers signed.
 */
export type RoamingSignBody = z.infer<typeof roamingSignBody>;

/** The body schema of every `roaming.*` kind. */
export const ROAMING_BODIES = {
  "roaming.open": roamingOpenBody,
  "roaming.record": roamingRecordBody,
  "roaming.dispute": roamingDisputeBody,
  "roaming.accept": roamingAcceptBody,
  "roaming.close": roamingCloseBody,
  "roaming.sign": roamingSignBody,
} as const;

/** A signed `roaming.record` by the visited carrier's key (e.g. its site key). */
export async function submitUsage(
  body: RoamingRecordBody,
  signer: Signer,
  options: BuilderOptions,
): Promise<Envelope> {
  return await signedTx(roamingRecordBody, "roaming.record", body, [signer], options);
}

/** A signed `roaming.accept` of held `record` by `signers` (the home carrier's keys). */
export async function acceptUsage(
  period: string,
  record: string,
  signers: Signer[],
  options: BuilderOptions,
): Promise<Envelope> {
  return await signedTx(roamingAcceptBody, "roaming.accept", { period, record }, signers, options);
}

/** A signed `roaming.sign` of `statement` (the hash `GET .../statement` shows) by `signers`. */
export async function signStatement(
  period: string,
  statement: string,
  signers: Signer[],
  options: BuilderOptions,
): Promise<Envelope> {
  return await signedTx(roamingSignBody, "roaming.sign", { period, statement }, signers, options);
}

/** Domain separator of a settlement statement's hash. */
export const ROAMING_STATEMENT_DOMAIN = "edgeledger/roaming-statement/v1\n";

/**
 * The hash carriers sign a settlement statement by: hex SHA-256 of
 * `"edgeledger/roaming-statement/v1\n" + JCS(statement)`. Recompute it from
 * the statement `GET /v1/roaming/periods/{period}/statement` serves before
 * signing it.
 */
export function roamingStatementHash(statement: unknown): string {
  return sha256Hex(utf8Encode(ROAMING_STATEMENT_DOMAIN + canonicalJson(statement)));
}
