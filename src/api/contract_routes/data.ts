/**
 * Read routes of `data.*` (`sdk/api/contract_routes/data.ts`).
 *
 * A stream's anchors are the keys `<stream>\u0000<seq as 16 hex digits>`
 * (`data_anchor.ts`). Stream names may contain `\u0000`, so the range with
 * prefix `<stream>\u0000` also holds other streams' anchors (stream
 * `"v\u00000"` sorts inside stream `"v"`'s range), anywhere in it. These
 * routes page over the raw rows and keep only keys whose remainder after the
 * prefix is exactly 16 hex digits, so another stream's keys neither count
 * nor end a page early.
 *
 * @module
 */
import {
  GAPS_SCAN_ANCHORS_MAX,
  getStream,
  getStreamGaps,
  listStreamAnchors,
  verifyStreamReading,
} from "../../../sdk/api/contract_routes/data.ts";
import { CONTRACT_PAGE_LIMIT_DEFAULT } from "../../../sdk/api/contract_routes/_common.ts";
import { base64urlDecode, hexEncode } from "../../../sdk/encoding.ts";
import { readingLeafHash, verifyReading } from "../../../sdk/kinds/readings.ts";
import { assert } from "../../chain/assert.ts";
import {
  ANCHOR_NS,
  anchorKey,
  type AnchorRecord,
  STREAM_NS,
  type StreamState,
} from "../../contracts/data_anchor.ts";
import type { Consistency, LedgerService } from "../service.ts";
import { findAnchor } from "./custody.ts";
import type { ContractRouteRegistrar } from "./mod.ts";
import { notFound } from "./_common.ts";

/** Most range reads one scan of a stream's anchors makes (each also may look one anchor up). */
const ANCHOR_SCAN_READS_MAX = 64;
/** Fewest rows one range read asks for, so that other streams' keys are passed in few reads. */
const ANCHOR_SCAN_BATCH_ROWS_MIN = 64;
/** Most rows one range read asks for (the storage's bound). */
const ANCHOR_SCAN_BATCH_ROWS_MAX = 1000;

/** What follows `<stream>\u0000` in the key of one of that stream's anchors. */
const SEQ_HEX = /^[0-9a-f]{16}$/;

/**
 * The largest seq whose anchor key remainder (16 hex digits) sorts at or
 * below `rest`, or -1 when none does. Requires `rest` not to be 16 hex
 * digits itself (another stream's key remainder), so that seq's key sorts
 * strictly below `rest` and the next seq's strictly above it. Clamped to
 * `Number.MAX_SAFE_INTEGER`, the largest seq a body may carry.
 */
export function seqFloor(rest: string): number {
  assert(!SEQ_HEX.test(rest), "seqFloor() takes another stream's key remainder");
  let digits = 0n;
  let floor: bigint | undefined;
  for (let i = 0; i < 16; i++) {
    const shift = BigInt(4 * (16 - i));
    const c = i < rest.length ? rest[i] : undefined;
    if (c !== undefined && /[0-9a-f]/.test(c)) {
      digits = digits * 16n + BigInt(parseInt(c, 16));
      continue;
    }
    if (c === undefined || c < "0") {
      // `rest` sorts below every seq starting with the digits so far.
      floor = (digits << shift) - 1n;
    } else if (c < "a") {
      // Between "9" and "a": the digits so far, then 9, then all f.
      floor = ((digits * 16n + 9n + 1n) << (shift - 4n)) - 1n;
    } else {
      // Above "f": the digits so far, then all f.
      floor = ((digits + 1n) << shift) - 1n;
    }
    break;
  }
  // 16 hex digits and more: that seq's key is a proper prefix of `rest`.
  floor ??= digits;
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  return Number(floor > max ? max : floor);
}

/** Where a scan of a stream's anchors stopped. */
interface AnchorScan {
  /** The stream's anchors found, ascending by seq. */
  anchors: AnchorRecord[];
  /** Every anchor with seq <= `through` has been examined; undefined when none was. */
  through: number | undefined;
  /** Whether the range ended: the stream has no anchor after those found. */
  ended: boolean;
}

/**
 * Anchors of `stream` with seq > `after` (all when undefined), ascending,
 * until `limit` of them, the end of the range, or
 * {@link ANCHOR_SCAN_READS_MAX} reads. The cursor is the last raw key
 * examined; when a read ends inside other streams' keys, the scan looks up
 * the next seq whose key sorts above them and continues from it, so a run
 * of other streams' keys costs one read however long it is.
 */
async function scanAnchors(
  service: LedgerService,
  stream: string,
  after: number | undefined,
  limit: number,
  consistency: Consistency,
): Promise<AnchorScan> {
  const prefix = `${stream}\u0000`;
  const anchors: AnchorRecord[] = [];
  let through = after;
  let cursor = after === undefined ? undefined : anchorKey(stream, after);
  for (let reads = 0; reads < ANCHOR_SCAN_READS_MAX; reads++) {
    const batch = Math.min(
      ANCHOR_SCAN_BATCH_ROWS_MAX,
      Math.max(ANCHOR_SCAN_BATCH_ROWS_MIN, limit - anchors.length),
    );
    const rows = await service.stateRange(
      ANCHOR_NS,
      prefix,
      { limit: batch, ...(cursor !== undefined ? { after: cursor } : {}) },
      consistency,
    );
    // The seq below the last row when that row is another stream's key.
    let floor: number | undefined;
    for (const row of rows) {
      assert(row.key.startsWith(prefix), `state range under "${prefix}" returned ${row.key}`);
      cursor = row.key;
      const rest = row.key.slice(prefix.length);
      if (SEQ_HEX.test(rest)) {
        floor = undefined;
        through = parseInt(rest, 16);
        anchors.push(row.value as AnchorRecord);
        if (anchors.length === limit) return { anchors, through, ended: false };
      } else {
        floor = seqFloor(rest);
        if (floor >= 0) through = Math.max(through ?? floor, floor);
      }
    }
    if (rows.length < batch) return { anchors, through, ended: true };
    if (floor !== undefined) {
      // Skip the rest of this run of other streams' keys: no key of this
      // stream sorts between the last row and seq `floor + 1`'s key.
      const next = floor + 1;
      if (next > Number.MAX_SAFE_INTEGER) return { anchors, through, ended: true };
      const found = await findAnchor(service, stream, next, consistency);
      through = next;
      cursor = anchorKey(stream, next);
      if (found !== undefined) {
        anchors.push(found);
        if (anchors.length === limit) return { anchors, through, ended: false };
      }
    }
  }
  return { anchors, through, ended: false };
}

/** The `next` cursor of a scan: where to continue, or null when the stream has no more anchors. */
function scanNext(scan: AnchorScan): string | null {
  return scan.ended || scan.through === undefined ? null : `${scan.through}`;
}

async function loadStream(service: LedgerService, stream: string, consistency: Consistency) {
  const s = await service.stateGet(STREAM_NS, stream, consistency) as StreamState | undefined;
  if (s === undefined) throw notFound(`Cannot find stream "${stream}"`);
  return s;
}

/** Adds the `data.*` read routes. */
export const dataRoutes: ContractRouteRegistrar = (app, service) => {
  app.openapi(getStream, async (c) => {
    const { stream } = c.req.valid("param");
    const { consistency } = c.req.valid("query");
    const s = await loadStream(service, stream, consistency);
    c.header("Cache-Control", "no-cache");
    return c.json({
      stream,
      owner: s.owner,
      lastSeq: s.lastSeq,
      count: s.anchors,
      firstHeight: s.firstHeight,
      lastHeight: s.lastHeight,
    }, 200);
  });
  app.openapi(listStreamAnchors, async (c) => {
    const { stream } = c.req.valid("param");
    const { after, limit = CONTRACT_PAGE_LIMIT_DEFAULT, consistency } = c.req.valid("query");
    await loadStream(service, stream, consistency);
    const scan = await scanAnchors(service, stream, after, limit, consistency);
    c.header("Cache-Control", "no-cache");
    // A page is short of `limit` with a `next` only when the scan ran out of
    // reads among other streams' keys.
    return c.json({ anchors: scan.anchors, next: scanNext(scan) }, 200);
  });
  app.openapi(getStreamGaps, async (c) => {
    const { stream } = c.req.valid("param");
    const { after, limit = GAPS_SCAN_ANCHORS_MAX, silenceMs, consistency } = c.req.valid("query");
    const s = await loadStream(service, stream, consistency);
    const scan = await scanAnchors(service, stream, after, limit, consistency);
    const anchors = scan.anchors;
    const gaps: Array<{ from: number; to: number; missing: number }> = [];
    const silences: Array<{ afterSeq: number; beforeSeq: number; from: number; to: number }> = [];
    let prevSeq = after;
    let prevTo: number | undefined;
    for (const a of anchors) {
      if (prevSeq !== undefined && a.seq > prevSeq + 1) {
        gaps.push({ from: prevSeq + 1, to: a.seq - 1, missing: a.seq - prevSeq - 1 });
      }
      if (silenceMs !== undefined && prevTo !== undefined && prevSeq !== undefined) {
        if (a.from - prevTo > silenceMs) {
          silences.push({ afterSeq: prevSeq, beforeSeq: a.seq, from: prevTo, to: a.from });
        }
      }
      prevSeq = a.seq;
      prevTo = a.to;
    }
    if (!scan.ended && scan.through !== undefined && prevSeq !== undefined) {
      // The scan ran out of reads among other streams' keys: every seq up to
      // `through` was examined, so those after the last anchor are missing;
      // the next page starts after `through`, which it counts as anchored.
      // (Had the scan found no anchor at all, nothing is missing yet, and
      // the next page reports the seqs before the stream's first anchor:
      // over-reporting, never hiding.)
      if (scan.through > prevSeq) {
        gaps.push({ from: prevSeq + 1, to: scan.through, missing: scan.through - prevSeq });
      }
    }
    const lastAnchor = await findAnchor(service, stream, s.lastSeq, consistency);
    c.header("Cache-Control", "no-cache");
    return c.json({
      stream,
      lastSeq: s.lastSeq,
      lastTo: lastAnchor?.to ?? null,
      gaps,
      ...(silenceMs !== undefined ? { silences } : {}),
      scanned: anchors.length,
      next: scanNext(scan),
    }, 200);
  });
  app.openapi(verifyStreamReading, async (c) => {
    const { stream } = c.req.valid("param");
    const { consistency } = c.req.valid("query");
    const { seq, reading, proof } = c.req.valid("json");
    const anchor = await findAnchor(service, stream, seq, consistency);
    if (anchor === undefined) throw notFound(`Cannot find anchor ${seq} of stream "${stream}"`);
    const value = "bytes" in reading ? base64urlDecode(reading.bytes) : reading.json;
    const leafHash = hexEncode(readingLeafHash(value));
    const valid = verifyReading(value, proof, anchor);
    const reason = valid
      ? undefined
      : proof.count !== anchor.count
      ? "count_mismatch" as const
      : "proof_mismatch" as const;
    c.header("Cache-Control", "no-store");
    return c.json({ valid, ...(reason ? { reason } : {}), leafHash, anchor }, 200);
  });
};
