/**
 * An envelope's canonical texts and id, computed with one canonicalization:
 * JCS of the envelope without `sigs` gives the signing payload (and so the
 * transaction id), and JCS of the whole envelope is the same text with
 * `"sigs":[…],` inserted before `"v"` (members sort `…, "signers", "sigs",
 * "v"`, and `v` is always 1). Admission and execution both use it; the
 * tests check it against the SDK's `canonicalJson` and `transactionId`.
 *
 * @module
 */
import { canonicalJson } from "../../sdk/canonical_json.ts";
import { type Envelope, SIGNING_DOMAIN } from "../../sdk/envelope.ts";
import { sha256HexNative } from "./native_hash.ts";

/** The end of the JCS of an envelope without `sigs`. */
const UNSIGNED_TAIL = ',"v":1}';
/** Strings whose JSON.stringify is their JCS and needs no escaping. */
const BASE64URL_RE = /^[A-Za-z0-9_-]*$/;

/** The texts and id of one envelope. */
export interface EnvelopeText {
  /** Hex SHA-256 of the signing payload (DESIGN §2). */
  txId: string;
  /** JCS of the envelope without `sigs`: the signing payload is the domain line and this. */
  unsignedJson: string;
  /** JCS of the whole envelope. */
  envelopeJson: string;
}

/**
 * Canonical texts and id of `envelope`. Throws TypeError (from
 * `canonicalJson`) when it holds a value JSON cannot carry.
 */
export function envelopeText(envelope: Envelope): EnvelopeText {
  const { sigs, ...unsigned } = envelope;
  const unsignedJson = canonicalJson(unsigned);
  const txId = sha256HexNative(SIGNING_DOMAIN + unsignedJson);
  const spliceable = unsignedJson.endsWith(UNSIGNED_TAIL) && Array.isArray(sigs) &&
    sigs.every((s) => typeof s === "string" && BASE64URL_RE.test(s));
  const envelopeJson = spliceable
    ? `${unsignedJson.slice(0, -UNSIGNED_TAIL.length)},"sigs":${
      JSON.stringify(sigs)
    }${UNSIGNED_TAIL}`
    : canonicalJson(envelope);
  return { txId, unsignedJson, envelopeJson };
}
