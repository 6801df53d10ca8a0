/**
 * Batches of sensor readings for `data.anchor`: the RFC 9162 Merkle root
 * that one signature covers, and per-reading inclusion proofs, so that any
 * single reading can later be proven against its anchor without revealing
 * the others.
 *
 * A reading is either raw bytes (a `Uint8Array`, used as is) or any JSON
 * value, whose bytes are its RFC 8785 canonical form (JCS) — so a JSON
 * string reading is hashed with its quotes. Leaf `i` of the tree is
 * `leafHash(bytes(readings[i]))` (RFC 9162 §2.1.1).
 *
 * @module
 */
import { canonicalBytes, type JsonValue } from "../canonical_json.ts";
import { hexDecode, hexEncode } from "../encoding.ts";
import { inclusionProof, leafHash, rootFromLeafHashes, verifyInclusion } from "../merkle.ts";
import type { DataAnchorBody } from "./data.ts";

/** Most readings in one batch. */
export const READINGS_BATCH_MAX = 1_000_000;

/**
 * A reading: raw bytes (a `Uint8Array`, hashed as they are), or a JSON value
 * (hashed as its RFC 8785 bytes) — the two forms `verify-reading` takes,
 * `{bytes}` and `{json}`. A JSON value the type lets through but JCS
 * refuses (`NaN`, a lone surrogate, a cycle) still throws in
 * {@link buildBatch} and fails {@link verifyReading}.
 *
 * A value typed by an `interface` is not a `JsonValue` to TypeScript (an
 * interface has no implicit index signature): declare the reading's shape
 * with `type` instead (`type Speed = { t: number; kmh: number }`), or spread
 * it (`{ ...speed }`).
 *
 * @example
 * ```ts
 * const readings: Reading[] = [{ t: 1764000000000, kmh: 87 }, new Uint8Array([1, 2])];
 * ```
 */
export type Reading = Uint8Array | JsonValue;

/** The proof that one reading is leaf `index` of a batch of `count`: the audit path, hex. */
export interface ReadingProof {
  index: number;
  count: number;
  path: string[];
}

/** A batch of readings with its root, ready to anchor and to prove from. */
export interface ReadingBatch {
  /** Hex RFC 9162 root over the readings: `data.anchor`'s `root`. */
  root: string;
  /** Number of readings: `data.anchor`'s `count`. */
  count: number;
  /** Leaf hashes, in reading order. */
  leafHashes: Uint8Array[];
}

/** The bytes a reading is hashed as: itself for bytes, its JCS for JSON. */
export function readingBytes(reading: Reading): Uint8Array {
  return reading instanceof Uint8Array ? reading : canonicalBytes(reading);
}

/** RFC 9162 leaf hash of a reading. */
export function readingLeafHash(reading: Reading): Uint8Array {
  return leafHash(readingBytes(reading));
}

/**
 * Builds the batch of `readings`, in order. Requires `1 <= readings.length
 * <= READINGS_BATCH_MAX`; throws RangeError otherwise, and the JCS error for
 * a JSON reading that cannot be canonicalized (e.g. a non-finite number).
 *
 * @example
 * ```ts
 * const batch = buildBatch(minute.map((r) => ({ t: r.t, speedKmh: r.speed })));
 * const body = anchorBody(batch, { stream: "truck-17/telemetry", seq: 42, from, to });
 * ```
 */
export function buildBatch(readings: readonly Reading[]): ReadingBatch {
  if (readings.length < 1 || readings.length > READINGS_BATCH_MAX) {
    throw new RangeError(
      `Cannot build a batch of ${readings.length} readings: must be 1 to ${READINGS_BATCH_MAX}`,
    );
  }
  const leafHashes = readings.map(readingLeafHash);
  return { root: hexEncode(rootFromLeafHashes(leafHashes)), count: leafHashes.length, leafHashes };
}

/** The inclusion proof of reading `index`. Requires `0 <= index < batch.count` (RangeError). */
export function readingProof(batch: ReadingBatch, index: number): ReadingProof {
  return {
    index,
    count: batch.count,
    path: inclusionProof(index, batch.leafHashes).map(hexEncode),
  };
}

/** The `data.anchor` body that anchors `batch` as anchor `seq` of `stream`, covering `[from, to]`. */
export function anchorBody(
  batch: ReadingBatch,
  at: { stream: string; seq: number; from: number; to: number },
): DataAnchorBody {
  return {
    stream: at.stream,
    seq: at.seq,
    root: batch.root,
    count: batch.count,
    from: at.from,
    to: at.to,
  };
}

/**
 * Whether `reading` is leaf `proof.index` of the batch `anchor` commits to:
 * `proof.count` must equal the anchor's `count` and the audit path must lead
 * to its `root`. False, never throws, for anything malformed.
 *
 * @example
 * ```ts
 * verifyReading({ t: 1764000012000, speedKmh: 87 }, proof, anchor); // true
 * ```
 */
export function verifyReading(
  reading: Reading,
  proof: ReadingProof,
  anchor: Pick<DataAnchorBody, "root" | "count">,
): boolean {
  try {
    if (proof.count !== anchor.count) return false;
    return verifyInclusion(
      readingLeafHash(reading),
      proof.index,
      proof.count,
      proof.path.map(hexDecode),
      hexDecode(anchor.root),
    );
  } catch {
    return false;
  }
}
