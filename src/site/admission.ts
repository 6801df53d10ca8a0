/**
 * Admission: every check a site makes before a transaction may enter a
 * batch (DESIGN §2), cheapest first, each refusal a distinct problem type.
 * Signature verification runs last because it is the expensive part.
 *
 * @module
 */
import {
  type Envelope,
  ENVELOPE_BYTES_MAX,
  envelopeSchema,
  type SignatureCheck,
  SIGNING_DOMAIN,
  signingPayload,
  verifyEnvelopeSignatures,
} from "../../sdk/envelope.ts";
import { sha256Hex } from "../../sdk/hash.ts";

const SIGNING_DOMAIN_BYTES = new TextEncoder().encode(SIGNING_DOMAIN).length;
import { LedgerError } from "../api/service.ts";
import type { ContractRegistry } from "../contracts/mod.ts";
import { AdmissionRefusal, introducedSignersOf } from "../contracts/mod.ts";
import { verifySignatureNative } from "./native_ed25519.ts";

/** A transaction that passed every stateless check. */
export interface Admitted {
  txId: string;
  envelope: Envelope;
  /** Canonical size in bytes. */
  bytes: number;
  /** The signing payload (UTF-8 of the domain line and JCS without sigs). */
  payload: Uint8Array;
}

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
 * expiry window, and signatures. Duplicates and revocation are the
 * caller's (they need storage). Throws {@link LedgerError}.
 */
export function checkStateless(
  raw: unknown,
  now: number,
  policy: AdmissionPolicy,
  registry: ContractRegistry,
): Admitted {
  const parsed = envelopeSchema.safeParse(raw);
  if (!parsed.success) {
    throw refusal("invalid_envelope", "Envelope does not match the protocol", {
      errors: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    });
  }
  const envelope = parsed.data as Envelope;
  // The signing payload is computed once: it gives the id, the canonical
  // size, and is what every signature is checked against.
  let payload: Uint8Array;
  try {
    payload = signingPayload(envelope);
  } catch (e) {
    throw refusal("invalid_envelope", `Envelope is not canonical JSON: ${(e as Error).message}`);
  }
  // JCS(envelope) is JCS(envelope without sigs) with `"sigs":[…],` inserted
  // ("signers" < "sigs" < "v"); sigs are base64url, so JSON.stringify is JCS.
  const bytes = payload.length - SIGNING_DOMAIN_BYTES + '"sigs":,'.length +
    JSON.stringify(envelope.sigs).length;
  const limit = Math.min(policy.envelopeBytesMax, ENVELOPE_BYTES_MAX);
  if (bytes > limit) {
    throw refusal("envelope_too_large", `Envelope is ${bytes} bytes; the limit is ${limit}`);
  }
  const txId = sha256Hex(payload);
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
    throw refusal("invalid_body", `Body does not match ${envelope.kind}`, {
      txId,
      errors: body.error.issues.map((i) => ({
        path: ["body", ...i.path].join("."),
        message: i.message,
      })),
    });
  }
  try {
    contract.authorize({ txId, kind: envelope.kind, body: body.data, signers: envelope.signers });
  } catch (e) {
    if (e instanceof AdmissionRefusal) throw refusal(e.type, e.message, { txId });
    throw e;
  }
  if (envelope.expiresAt < now) {
    throw refusal("expired", `Transaction expired at ${envelope.expiresAt}; now is ${now}`, {
      txId,
    });
  }
  if (envelope.expiresAt > now + policy.expiryWindowMs) {
    throw refusal(
      "expires_too_far",
      `expiresAt ${envelope.expiresAt} is more than ${policy.expiryWindowMs} ms in the future`,
      { txId },
    );
  }
  return { txId, envelope, bytes, payload };
}

/** Verifies every signature of an admitted envelope; throws `bad_signature`. */
export async function checkSignatures(
  admitted: Admitted,
  pool?: { verify(envelope: Envelope, payload: Uint8Array): Promise<SignatureCheck> },
): Promise<void> {
  const verdict = pool
    ? await pool.verify(admitted.envelope, admitted.payload)
    : await verifyEnvelopeSignatures(admitted.envelope, admitted.payload, verifySignatureNative);
  if (!verdict.ok) {
    throw refusal(
      "bad_signature",
      `Signature ${verdict.index} (${
        admitted.envelope.signers[verdict.index]
      }) does not verify: ${verdict.reason}`,
      { txId: admitted.txId },
    );
  }
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
