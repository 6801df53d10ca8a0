/**
 * Helpers shared by the contract groups' route handlers: not-found problems
 * and cursor pages over a prefix of contract state. Internal to
 * `src/api/contract_routes/`.
 *
 * @module
 */
import { base64urlDecode, base64urlEncode, utf8Decode, utf8Encode } from "../../../sdk/encoding.ts";
import { CONTRACT_PAGE_LIMIT_DEFAULT } from "../../../sdk/api/contract_routes/_common.ts";
import { type Consistency, LedgerError, type LedgerService } from "../service.ts";
import { IDENTITY_STATUS_NS, type KeyStatusRecord } from "../../contracts/gov.ts";
import { DEVICE_NS, type DeviceRecord } from "../../contracts/identity.ts";

/** A `not_found` problem (404). */
export function notFound(detail: string): LedgerError {
  return new LedgerError("not_found", 404, "Not found", detail);
}

/** A `validation` problem (400) about one query parameter. */
export function badQuery(name: string, message: string): LedgerError {
  return new LedgerError(
    "validation",
    400,
    "Request validation failed",
    `query.${name}: ${message}`,
    {
      errors: [{ path: `query.${name}`, message }],
    },
  );
}

/** The opaque cursor of a key suffix: base64url of its UTF-8. */
export function encodeCursor(suffix: string): string {
  return base64urlEncode(utf8Encode(suffix));
}

/** The key suffix of a cursor; a `validation` problem for one that does not decode. */
export function decodeCursor(cursor: string): string {
  try {
    return utf8Decode(base64urlDecode(cursor));
  } catch {
    throw badQuery("after", "Must be the `next` cursor of a previous page");
  }
}

/**
 * One page of the entries of `ns` under `prefix`, ascending by key, after the
 * entry whose suffix `after` encodes. `next` is the cursor of the last entry
 * when the page is full (a successor may exist), else null. `suffixOf`
 * rebuilds an entry's key suffix from its value; give it for keys that
 * contain `\u0000` (e.g. `data.anchor`), which storage hands back cut short.
 */
export async function statePage<T>(
  service: LedgerService,
  ns: string,
  prefix: string,
  options: { after?: string; limit?: number },
  consistency: Consistency,
  suffixOf?: (value: T) => string,
): Promise<{ items: T[]; next: string | null }> {
  const limit = options.limit ?? CONTRACT_PAGE_LIMIT_DEFAULT;
  const after = options.after === undefined ? undefined : prefix + decodeCursor(options.after);
  const rows = await service.stateRange(ns, prefix, { limit, after }, consistency);
  const last = rows.at(-1);
  const next = rows.length === limit && last
    ? encodeCursor(suffixOf ? suffixOf(last.value as T) : last.key.slice(prefix.length))
    : null;
  return { items: rows.map((r) => r.value as T), next };
}

/**
 * The key that acts for `did` now when it is not `did` itself: the current
 * key of the active device whose record lists `did` as an earlier key (the
 * contracts' rule, `src/contracts/_holder.ts`). Undefined when `did` is a
 * device's current key, no device's key, a key the device no longer lists,
 * or a key of a device that is quarantined or revoked (its holdings are
 * frozen). Two reads.
 */
export async function currentKeyFor(
  service: LedgerService,
  did: string,
  consistency: Consistency,
): Promise<string | undefined> {
  const row = await service.stateGet(IDENTITY_STATUS_NS, did, consistency) as
    | KeyStatusRecord
    | undefined;
  if (row === undefined) return undefined;
  const device = await service.stateGet(DEVICE_NS, row.device, consistency) as
    | DeviceRecord
    | undefined;
  if (device === undefined || device.status !== "active" || device.key === did) return undefined;
  return device.keys.some((k) => k.key === did) ? device.key : undefined;
}
