/**
 * Body schemas of the `data.*` transaction kinds (protocol: DESIGN §5).
 *
 * @module
 */
import { z } from "zod";

/** A millisecond timestamp: a non-negative safe integer. */
const millis = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * `data.anchor`: one signature over the RFC 9162 Merkle root of a batch of
 * readings. Telemetry stays off-ledger; any reading can later be proven
 * against `root` with an inclusion proof.
 *
 * Rules checked at apply: `seq` exceeds the stream's last `seq`; a stream
 * belongs to the first signer of its first anchor, who must sign every later
 * anchor (or, once a device has rotated that key out, the device's current
 * key, continuing with the next `seq`).
 *
 * @example
 * ```ts
 * dataAnchorBody.parse({
 *   stream: "truck-17/temperature", seq: 0, root: "ab".repeat(32),
 *   count: 60, from: 1764000000000, to: 1764000060000,
 * });
 * ```
 */
export const dataAnchorBody = z.strictObject({
  stream: z.string().min(1).max(128),
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  root: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex characters"),
  count: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  from: millis,
  to: millis,
}).refine((b) => b.from <= b.to, { message: "from must not be after to", path: ["to"] });

/** The body of a `data.anchor` transaction. */
export type DataAnchorBody = z.infer<typeof dataAnchorBody>;
