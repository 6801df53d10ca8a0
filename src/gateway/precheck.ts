/**
 * The admission checks a gateway may run before forwarding one envelope:
 * those whose verdict cannot depend on ledger state, governed policy or
 * which site judges. They are the site's own functions
 * (`src/site/admission.ts`), so a refusal here is the problem a site
 * would answer — type, status, title, detail and extras.
 *
 * Run here: the strict envelope schema, canonical JSON, the envelope size
 * (the protocol's {@link ENVELOPE_BYTES_MAX}; a site may only be stricter),
 * the ledger, the kind, the body schema, the kind's stateless authorisation
 * rule (e.g. a missing co-signer) and every signature.
 *
 * Left to the site: expiry (a committed transaction is answered with its
 * receipt however long ago it expired), the expiry window (`expires_too_far`: governed policy),
 * whether its software supports the rules version a `gov.setRules` needs
 * (`unsupported_rules`: the site's software, which may be newer than this
 * gateway's), who may submit a kind (open kinds, registration, revocation:
 * state), duplicates, rate limits and capacity.
 *
 * @module
 */
import { type Envelope, ENVELOPE_BYTES_MAX, type SignatureCheck } from "../../sdk/envelope.ts";
import { LedgerError } from "../api/service.ts";
import type { ContractRegistry } from "../contracts/mod.ts";
import { type Admitted, checkSignatures, checkStateless } from "../site/admission.ts";

/** What {@link precheckEnvelope} needs. */
export interface PrecheckOptions {
  /** The ledger the sites serve. */
  ledger: string;
  registry: ContractRegistry;
  /** This gateway's clock, ms since the epoch. */
  now: number;
  /**
   * Checks signatures with the slow answers (forged signatures, secp256k1)
   * off the event loop (`src/site/signature_checks.ts`); default: here.
   */
  signatureChecks?: { check(envelope: Envelope, payload: Uint8Array): Promise<SignatureCheck> };
}

/**
 * Throws the {@link LedgerError} a site would answer when `raw` (one parsed
 * envelope, exactly as received) fails a state-independent admission check;
 * returns its transaction id otherwise. Checks run in the site's order, the
 * signatures last.
 */
export async function precheckEnvelope(raw: unknown, options: PrecheckOptions): Promise<string> {
  const policy = {
    ledger: options.ledger,
    // The window is governed policy (state): the site judges `expires_too_far`.
    expiryWindowMs: Number.POSITIVE_INFINITY,
    envelopeBytesMax: ENVELOPE_BYTES_MAX,
  };
  let admitted: Admitted;
  try {
    admitted = checkStateless(raw, options.now, policy, options.registry);
  } catch (e) {
    // Which rules versions a site can execute is its software's answer, not
    // this gateway's: the site judges this envelope (and the checks after).
    if (e instanceof LedgerError && e.type === "unsupported_rules") return e.extra.txId as string;
    // Expired by this clock: judge the rest as of its expiry and let the
    // site decide — a site answers a committed transaction's receipt however
    // long ago it expired (the id is the idempotency key), and refuses it as
    // expired otherwise (by its own clock, which may lag this one).
    if (!(e instanceof LedgerError) || e.type !== "expired") throw e;
    admitted = checkStateless(raw, (raw as Envelope).expiresAt, policy, options.registry);
  }
  await checkSignatures(admitted, options.signatureChecks);
  return admitted.txId;
}
