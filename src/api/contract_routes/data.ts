/**
 * Read routes of `data.*` (`sdk/api/contract_routes/data.ts`).
 *
 * Anchor keys contain `\u0000` (`data_anchor.ts`), which storage hands back
 * cut short, so these routes read anchors as ranges and take cursors from
 * the anchors' own `seq`, never from returned keys.
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

async function loadStream(service: LedgerService, stream: string, consistency: Consistency) {
  const s = await service.stateGet(STREAM_NS, stream, consistency) as StreamState | undefined;
  if (s === undefined) throw notFound(`Cannot find stream "${stream}"`);
  return s;
}

/** Anchors of `stream` with seq > `after` (all when undefined), ascending, at most `limit`. */
async function anchorsAfter(
  service: LedgerService,
  stream: string,
  after: number | undefined,
  limit: number,
  consistency: Consistency,
): Promise<AnchorRecord[]> {
  const rows = await service.stateRange(
    ANCHOR_NS,
    `${stream}\u0000`,
    { limit, ...(after !== undefined ? { after: anchorKey(stream, after) } : {}) },
    consistency,
  );
  // The prefix `<stream>\u0000` also matches a longer stream whose name
  // continues with NUL; keep this stream's anchors only.
  return rows.map((r) => r.value as AnchorRecord).filter((a) => a.stream === stream);
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
    const anchors = await anchorsAfter(service, stream, after, limit, consistency);
    const last = anchors.at(-1);
    c.header("Cache-Control", "no-cache");
    return c.json({
      anchors,
      next: anchors.length === limit && last ? `${last.seq}` : null,
    }, 200);
  });
  app.openapi(getStreamGaps, async (c) => {
    const { stream } = c.req.valid("param");
    const { after, limit = GAPS_SCAN_ANCHORS_MAX, silenceMs, consistency } = c.req.valid("query");
    const s = await loadStream(service, stream, consistency);
    const anchors = await anchorsAfter(service, stream, after, limit, consistency);
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
    const lastAnchor = await findAnchor(service, stream, s.lastSeq, consistency);
    c.header("Cache-Control", "no-cache");
    return c.json({
      stream,
      lastSeq: s.lastSeq,
      lastTo: lastAnchor?.to ?? null,
      gaps,
      ...(silenceMs !== undefined ? { silences } : {}),
      scanned: anchors.length,
      next: anchors.length === limit && prevSeq !== undefined ? `${prevSeq}` : null,
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
