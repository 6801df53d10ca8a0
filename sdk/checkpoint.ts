/**
 * Checkpoints: the body of a C2SP `tlog-checkpoint`, extended with the block
 * height and block hash (DESIGN §2, "Checkpoints"). The checkpoint text is
 * what sites co-sign as a C2SP signed note (see `note.ts`).
 *
 * ```
 * <origin>\n
 * <tree size, decimal>\n
 * <root hash, standard base64>\n
 * height <block height, decimal>\n
 * block <block hash, lowercase hex>\n
 * [<further extension line>\n ...]
 * ```
 *
 * @module
 */

import { base64Decode, base64Encode, EncodingError } from "./encoding.ts";
import { HASH_BYTES } from "./merkle.ts";

/** Thrown by {@link parseCheckpoint} and {@link formatCheckpoint} for malformed input. */
export class CheckpointError extends Error {
  /** Creates a checkpoint error with a sentence-case message. */
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/** A parsed checkpoint. */
export interface Checkpoint {
  /** The log's origin line (the ledger's origin string). */
  origin: string;
  /** Tree size: number of leaves in the log. */
  size: number;
  /** 32-byte RFC 9162 root hash of the first `size` leaves. */
  rootHash: Uint8Array;
  /** Height of the block whose log state this is. */
  height: number;
  /** Hex hash of that block (see `blockHash`). */
  blockHash: string;
  /** Further extension lines, in order (without their newline). */
  extensions: string[];
}

/** Most extension lines accepted after `height` and `block`. */
export const CHECKPOINT_EXTENSIONS_MAX = 16;

const DECIMAL_RE = /^(0|[1-9][0-9]*)$/;
const HEX32_RE = /^[0-9a-f]{64}$/;
// deno-lint-ignore no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

function parseDecimal(what: string, s: string): number {
  if (!DECIMAL_RE.test(s)) {
    throw new CheckpointError(
      `Invalid checkpoint ${what}: "${s}" is not a decimal without leading zeros`,
    );
  }
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new CheckpointError(`Invalid checkpoint ${what}: too large`);
  return n;
}

function checkLine(what: string, s: string): void {
  if (typeof s !== "string" || s.length === 0) {
    throw new CheckpointError(`Invalid checkpoint ${what}: empty`);
  }
  if (CONTROL_RE.test(s)) {
    throw new CheckpointError(`Invalid checkpoint ${what}: contains a control character`);
  }
}

/**
 * Formats a checkpoint body. Requires a non-empty `origin` without control
 * characters, `size` and `height` safe non-negative integers, a 32-byte
 * `rootHash`, a 64-char lowercase hex `blockHash`, and non-empty extension
 * lines without control characters. Throws {@link CheckpointError} otherwise.
 *
 * @example
 * ```ts
 * formatCheckpoint({ origin: "edgeledger.example/demo", size: 3, rootHash, height: 2, blockHash });
 * // "edgeledger.example/demo\n3\n<base64>\nheight 2\nblock <hex>\n"
 * ```
 */
export function formatCheckpoint(checkpoint: {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  height: number;
  blockHash: string;
  extensions?: string[];
}): string {
  const { origin, size, rootHash, height, blockHash, extensions = [] } = checkpoint;
  checkLine("origin", origin);
  for (const [what, n] of [["size", size], ["height", height]] as const) {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new CheckpointError(`Invalid checkpoint ${what}: ${n}`);
    }
  }
  if (!(rootHash instanceof Uint8Array) || rootHash.length !== HASH_BYTES) {
    throw new CheckpointError("Invalid checkpoint root hash: must be 32 bytes");
  }
  if (typeof blockHash !== "string" || !HEX32_RE.test(blockHash)) {
    throw new CheckpointError("Invalid checkpoint block hash: must be 64 lowercase hex digits");
  }
  if (extensions.length > CHECKPOINT_EXTENSIONS_MAX) {
    throw new CheckpointError("Invalid checkpoint: too many extension lines");
  }
  for (const e of extensions) checkLine("extension line", e);
  return [
    origin,
    String(size),
    base64Encode(rootHash),
    `height ${height}`,
    `block ${blockHash}`,
    ...extensions,
  ].join("\n") + "\n";
}

/**
 * Parses a checkpoint body strictly: it must end with a newline, have no
 * empty lines or control characters, decimal size and height without leading
 * zeros (safe integers), a root that is canonical padded base64 of 32 bytes,
 * then `height <n>` and `block <64 hex>` lines, then at most
 * {@link CHECKPOINT_EXTENSIONS_MAX} further extension lines. Throws
 * {@link CheckpointError} otherwise.
 *
 * @example
 * ```ts
 * const cp = parseCheckpoint(noteText);
 * verifyInclusion(leaf, index, cp.size, proof, cp.rootHash);
 * ```
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== "string") throw new CheckpointError("Invalid checkpoint: not a string");
  if (!text.endsWith("\n")) {
    throw new CheckpointError("Invalid checkpoint: must end with a newline");
  }
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 5) {
    throw new CheckpointError(
      `Invalid checkpoint: expected at least 5 lines (origin, size, root, height, block), got ${lines.length}`,
    );
  }
  lines.forEach((line, i) => checkLine(`line ${i + 1}`, line));
  const [origin, sizeLine, rootLine, heightLine, blockLine, ...extensions] = lines;
  const size = parseDecimal("size", sizeLine);
  let rootHash: Uint8Array;
  try {
    rootHash = base64Decode(rootLine);
  } catch (e) {
    if (e instanceof EncodingError) {
      throw new CheckpointError("Invalid checkpoint root hash: bad base64");
    }
    throw e;
  }
  if (rootHash.length !== HASH_BYTES) {
    throw new CheckpointError(`Invalid checkpoint root hash: ${rootHash.length} bytes, not 32`);
  }
  if (!heightLine.startsWith("height ")) {
    throw new CheckpointError('Invalid checkpoint: line 4 must be "height <n>"');
  }
  const height = parseDecimal("height", heightLine.slice("height ".length));
  if (!blockLine.startsWith("block ")) {
    throw new CheckpointError('Invalid checkpoint: line 5 must be "block <hash>"');
  }
  const blockHash = blockLine.slice("block ".length);
  if (!HEX32_RE.test(blockHash)) {
    throw new CheckpointError("Invalid checkpoint block hash: must be 64 lowercase hex digits");
  }
  if (extensions.length > CHECKPOINT_EXTENSIONS_MAX) {
    throw new CheckpointError("Invalid checkpoint: too many extension lines");
  }
  return { origin, size, rootHash, height, blockHash, extensions };
}
