/**
 * Admission: every check a site makes before a transaction may enter a
 * batch (DESIGN §2), cheapest first, each refusal a distinct problem type.
 * Signature verification runs last because it is the expensive part.
 *
 * @module
 */
import { utf8Encode } from "../../sdk/encoding.ts";
import { fieldIssuesText } from "../../sdk/client/errors.ts";
import {
  type Envelope,
  ENVELOPE_BYTES_MAX,
  envelopeFieldsSchema,
  type SignatureCheck,
  SIGNING_DOMAIN,
  verifyEnvelopeSignatures,
} from "../../sdk/envelope.ts";
import { boundedIssues, FIELD_ISSUES_MAX } from "../api/field_issues.ts";
import { LedgerError } from "../api/service.ts";
import { type EnvelopeText, envelopeText } from "../chain/envelope_text.ts";
import type { ContractRegistry } from "../contracts/mod.ts";
import { AdmissionRefusal, introducedSignersOf } from "../contracts/mod.ts";
import { verifySignatureNative } from "./native_ed25519.ts";

/** A transaction that passed every stateless check. */
export interface Admitted {
  txId: string;
  envelope: Envelope;
  /** Canonical size in bytes. */
  bytes: number;
  /** JCS of the whole envelope: what the log stores and hashes. */
  envelopeJson: string;
  /** The signing payload (UTF-8 of the domain line and JCS without sigs). */
  payload?: Uint8Array;
  /** The signatures' verdict, when they were checked with the stateless part (a worker's). */
  signatures?: SignatureCheck;
}

/** A refusal as plain data (it crosses from an admission worker). */
export interface RefusalData {
  type: string;
  status: number;
  title: string;
  detail: string;
  extra: Record<string, unknown>;
}

/**
 * What {@link admitStateless} concludes about one raw envelope, as plain
 * data: an admission worker answers with it.
 */
export type StatelessVerdict =
  | {
    ok: true;
    txId: string;
    bytes: number;
    envelopeJson: string;
    signatures?: SignatureCheck;
  }
  | { ok: false; refusal: RefusalData };

const SIGNING_DOMAIN_BYTES = utf8Encode(SIGNING_DOMAIN).length;

/** How many bad fields an `invalid_body` detail names (all are in its `errors`). */
const INVALID_BODY_FIELDS_NAMED_MAX = 2;

/** Admission settings from genesis policy and site config. */
export interface AdmissionPolicy {
  ledger: string;
  /** How far in the future `expiresAt` may be, ms. */
  expiryWindowMs: number;
  /** Largest canonical envelope, bytes. */
  envelopeBytesMax: number;
}

/**
 * Looks up each signer's standing: `"revoked"` and `"quarantined"` are
 * refused; `"active"` is a registered signer (device, owner, authority,
 * site, organisation admin); absent is an unregistered did:key.
 */
export type SignerStatusLookup = (dids: readonly string[]) => Promise<Map<string, string>>;

/** The kinds any did:key may submit (the current policy's `openKinds`). */
export type OpenKindsLookup = () => Promise<readonly string[]>;

const problemTitles: Record<string, string> = {
  invalid_envelope: "Invalid envelope",
  envelope_too_large: "Envelope too large",
  wrong_ledger: "Wrong ledger",
  unknown_kind: "Unknown transaction kind",
  invalid_body: "Invalid transaction body",
  expired: "Transaction expired",
  expires_too_far: "Expiry too far in the future",
  bad_signature: "Bad signature",
  revoked_signer: "Revoked signer",
  unauthorized_signer: "Unauthorized signer",
  unsupported_rules: "Rules version not supported",
};

/** A refusal as the API reports it (422 unless stated). */
export function refusal(
  type: string,
  detail: string,
  extra: Record<string, unknown> = {},
): LedgerError {
  const status = type === "envelope_too_large" ? 413 : 422;
  return new LedgerError(type, status, problemTitles[type] ?? "Refused", detail, extra);
}

/**
 * Parses and checks one raw envelope against everything that does not
 * depend on order: size, strict schema, ledger, kind, body, authorisation,
 * the rules version the kind needs (`unsupported_rules`), expiry window,
 * and signatures. Duplicates and revocation are the
 * caller's (they need storage). Throws {@link LedgerError}.
 */
export function checkStateless(
  raw: unknown,
  now: number,
  policy: AdmissionPolicy,
  registry: ContractRegistry,
): Admitted {
  // One signature per signer is checked with the signatures (bad_signature).
  const parsed = envelopeFieldsSchema.safeParse(raw);
  if (!parsed.success) {
    throw refusal("invalid_envelope", "Envelope does not match the protocol", {
      errors: boundedIssues(
        parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      ),
    });
  }
  const envelope = parsed.data as Envelope;
  // The canonical text of the envelope without sigs is computed once: it
  // gives the signing payload (what every signature is checked against),
  // the id, the canonical size and the JCS of the whole envelope.
  let text: EnvelopeText;
  try {
    text = envelopeText(envelope);
  } catch (e) {
    throw refusal("invalid_envelope", `Envelope is not canonical JSON: ${(e as Error).message}`);
  }
  const { txId, unsignedJson, envelopeJson } = text;
  const payload = utf8Encode(SIGNING_DOMAIN + unsignedJson);
  // The inserted `"sigs":[…],` is ASCII: one byte per character.
  const bytes = payload.length - SIGNING_DOMAIN_BYTES + envelopeJson.length - unsignedJson.length;
  const limit = Math.min(policy.envelopeBytesMax, ENVELOPE_BYTES_MAX);
  if (bytes > limit) {
    throw refusal("envelope_too_large", `Envelope is ${bytes} bytes; the limit is ${limit}`);
  }
  if (envelope.ledger !== policy.ledger) {
    throw refusal(
      "wrong_ledger",
      `Envelope is for ledger "${envelope.ledger}"; this is "${policy.ledger}"`,
      {
        txId,
      },
    );
  }
  const contract = registry.get(envelope.kind);
  if (contract === undefined) {
    throw refusal(
      "unknown_kind",
      `Unknown kind "${envelope.kind}"; known: ${registry.kinds().join(", ")}`,
      {
        txId,
      },
    );
  }
  const body = contract.body.safeParse(envelope.body);
  if (!body.success) {
    const errors = body.error.issues.map((i) => ({
      path: ["body", ...i.path].join("."),
      message: i.message,
    }));
    // The detail names the first bad fields, as a `validation` detail does,
    // because a batch's refused receipt carries the detail but not `errors`.
    // The count of the rest is of all of them.
    const named = fieldIssuesText(
      [...boundedIssues(errors), ...errors.slice(FIELD_ISSUES_MAX)],
      INVALID_BODY_FIELDS_NAMED_MAX,
    );
    throw refusal("invalid_body", `Body does not match ${envelope.kind}: ${named}`, {
      txId,
      errors: boundedIssues(errors),
    });
  }
  try {
    contract.authorize({ txId, kind: envelope.kind, body: body.data, signers: envelope.signers });
  } catch (e) {
    if (e instanceof AdmissionRefusal) throw refusal(e.type, e.message, { txId });
    throw e;
  }
  // A site refuses to carry a change to rules its own software cannot
  // execute: once that version is in force it would halt. Per-site by
  // design (apply never asks what the software supports).
  const rulesNeeded = contract.rulesNeeded?.(body.data);
  if (rulesNeeded !== undefined && rulesNeeded > registry.rulesSupported) {
    throw refusal(
      "unsupported_rules",
      `Cannot accept ${envelope.kind} for rules version ${rulesNeeded}: this site's software ` +
        `supports up to ${registry.rulesSupported}; upgrade every site's software first, then ` +
        `submit the proposal`,
      { txId, rulesSupported: registry.rulesSupported },
    );
  }
  // Both refusals name this site's clock: a device told its fresh
  // transaction expired (or expires too far ahead) can then tell whether its
  // own clock or the site's is off.
  if (envelope.expiresAt < now) {
    throw refusal(
      "expired",
      `Transaction expired at ${instant(envelope.expiresAt)}; this site's clock reads ` +
        instant(now),
      { txId },
    );
  }
  if (envelope.expiresAt > now + policy.expiryWindowMs) {
    throw refusal(
      "expires_too_far",
      `expiresAt ${instant(envelope.expiresAt)} is more than ${policy.expiryWindowMs} ms ` +
        `ahead of this site's clock, which reads ${instant(now)}`,
      { txId },
    );
  }
  return { txId, envelope, bytes, envelopeJson, payload };
}

/** `ms` since the epoch as a number and, when a date can show it, as UTC (`1767268800000 (2026-01-01T12:00:00.000Z)`). */
function instant(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : `${ms} (${date.toISOString()})`;
}

/**
 * {@link checkStateless}, then (with `signatures`) every signature, as plain
 * data: what an admission worker runs for the main thread. The signatures'
 * verdict is reported, not thrown, so the caller keeps admission's order of
 * refusals (duplicates and signer standing are decided before signatures).
 */
export async function admitStateless(
  raw: unknown,
  now: number,
  policy: AdmissionPolicy,
  registry: ContractRegistry,
  signatures: boolean,
): Promise<StatelessVerdict> {
  let admitted: Admitted;
  try {
    admitted = checkStateless(raw, now, policy, registry);
  } catch (e) {
    if (!(e instanceof LedgerError)) throw e;
    return {
      ok: false,
      refusal: {
        type: e.type,
        status: e.status,
        title: e.title,
        detail: e.message,
        extra: e.extra,
      },
    };
  }
  const { txId, bytes, envelopeJson } = admitted;
  if (!signatures) return { ok: true, txId, bytes, envelopeJson };
  return {
    ok: true,
    txId,
    bytes,
    envelopeJson,
    signatures: await verifyEnvelopeSignatures(
      admitted.envelope,
      admitted.payload,
      verifySignatureNative,
    ),
  };
}

/** The {@link LedgerError} a {@link RefusalData} stands for. */
export function refusalError(r: RefusalData): LedgerError {
  return new LedgerError(r.type, r.status, r.title, r.detail, r.extra);
}

/**
 * Throws `bad_signature` unless every signature of an admitted envelope
 * verifies: the verdict a worker reached with the stateless checks, or one
 * reached by `checks` (a site's, see `signature_checks.ts`), or here.
 */
export async function checkSignatures(
  admitted: Admitted,
  checks?: { check(envelope: Envelope, payload: Uint8Array): Promise<SignatureCheck> },
): Promise<void> {
  const verdict = admitted.signatures ??
    (checks !== undefined && admitted.payload !== undefined
      ? await checks.check(admitted.envelope, admitted.payload)
      : await verifyEnvelopeSignatures(admitted.envelope, admitted.payload, verifySignatureNative));
  // The verdict's reason is a whole sentence that names the signature (and
  // its signer when there is one), so it is the detail as it stands.
  if (!verdict.ok) throw refusal("bad_signature", verdict.reason, { txId: admitted.txId });
}

/**
 * Refuses a transaction any of whose signers is revoked or quarantined
 * (`revoked_signer`). With `gate`, also refuses a kind that is not open when
 * a signer is not registered and active (`unauthorized_signer`), except the
 * keys the kind itself introduces (a device key being registered, a
 * rotation's new key, an admin being added). Apply re-checks both against
 * the state at the transaction's point in the log.
 */
export async function checkSignerStatus(
  admitted: Admitted,
  lookup: SignerStatusLookup,
  gate?: { openKinds: OpenKindsLookup; registry: ContractRegistry },
): Promise<void> {
  const statuses = await lookup(admitted.envelope.signers);
  for (const did of admitted.envelope.signers) {
    const s = statuses.get(did);
    if (s === "revoked" || s === "quarantined") {
      throw refusal("revoked_signer", `Signer ${did} is ${s}`, { txId: admitted.txId });
    }
  }
  if (gate === undefined) return;
  const { kind, signers, body } = admitted.envelope;
  if ((await gate.openKinds()).includes(kind)) return;
  const contract = gate.registry.get(kind);
  const parsed = contract?.body.safeParse(body);
  const introduced = contract === undefined || !parsed?.success
    ? []
    : introducedSignersOf(contract, { txId: admitted.txId, kind, body: parsed.data, signers });
  for (const did of signers) {
    if (statuses.get(did) !== "active" && !introduced.includes(did)) {
      throw refusal(
        "unauthorized_signer",
        `Signer ${did} is not registered, and ${kind} is not open to unregistered signers`,
        { txId: admitted.txId },
      );
    }
  }
}
