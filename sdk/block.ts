/**
 * Block headers and block hashes (DESIGN §2, "Blocks").
 *
 * A block header is `{v, ledger, height, prev, time, term, proposer, txCount,
 * logSize, logRoot}`; its hash is the hex SHA-256 of
 * `"edgeledger/block/v1\n" + JCS(header)`. Blocks chain by `prev`; block 0
 * (genesis) has as `prev` the hex SHA-256 of
 * `"edgeledger/genesis/v1\n" + JCS(genesis config)`, so a chain commits to
 * the consortium it was founded with.
 *
 * @module
 */

import { z } from "zod";
import { canonicalBytes } from "./canonical_json.ts";
import { concatBytes, utf8Encode } from "./encoding.ts";
import { sha256Hex } from "./hash.ts";
import { LEDGER_CHARS_MAX, LEDGER_RE } from "./envelope.ts";

/** Domain separator prefixed to the canonical header before hashing. */
export const BLOCK_DOMAIN = "edgeledger/block/v1\n";
/**
 * 64 zeros: never a valid `prev` (not of genesis, whose `prev` is its config
 * hash, nor of any later block).
 */
export const GENESIS_PREV = "0".repeat(64);
/** Longest `proposer` (a site name), in characters. */
export const PROPOSER_CHARS_MAX = 128;

/** A block header (DESIGN §2). */
export interface BlockHeader {
  /** Format version, always 1. */
  v: 1;
  /** The ledger's name. */
  ledger: string;
  /** Block number; 0 is genesis. */
  height: number;
  /** Hex hash of the previous block; for genesis, the hash of the genesis config. */
  prev: string;
  /** Leader's timestamp, ms since the epoch; never decreases along the chain. */
  time: number;
  /** Raft term in which the block's entry was committed. */
  term: number;
  /** Name of the site that proposed the block (the Raft leader). */
  proposer: string;
  /** Number of transactions in the block. */
  txCount: number;
  /** Size of the Merkle log after this block. */
  logSize: number;
  /** Hex RFC 9162 root of the log after this block. */
  logRoot: string;
}

const HEX32_RE = /^[0-9a-f]{64}$/;
const count = () => z.number().int().nonnegative();

/**
 * zod schema of a {@link BlockHeader}: strict (unknown fields refused),
 * non-negative safe integers, lowercase 64-hex `prev` and `logRoot`, ledger
 * name as in envelopes, a non-empty proposer of at most
 * {@link PROPOSER_CHARS_MAX} chars, and `prev` never {@link GENESIS_PREV}.
 *
 * @example
 * ```ts
 * blockHeaderSchema.parse(JSON.parse(text));
 * ```
 */
export const blockHeaderSchema = z.object({
  v: z.literal(1),
  ledger: z.string().min(1).max(LEDGER_CHARS_MAX).regex(LEDGER_RE, "Invalid ledger name"),
  height: count(),
  prev: z.string().regex(HEX32_RE, "Must be 64 lowercase hex digits"),
  time: count(),
  term: count(),
  proposer: z.string().min(1).max(PROPOSER_CHARS_MAX),
  txCount: count(),
  logSize: count(),
  logRoot: z.string().regex(HEX32_RE, "Must be 64 lowercase hex digits"),
}).strict().refine((h) => h.prev !== GENESIS_PREV, {
  message: "prev must be a block hash or, for genesis, the genesis config hash; not 64 zeros",
  path: ["prev"],
});

/** Thrown by {@link blockHash} and {@link parseBlockHeader} for an invalid header. */
export class BlockError extends Error {
  /** zod issues describing what is wrong. */
  readonly issues: z.core.$ZodIssue[];
  /** Creates a block error. */
  constructor(message: string, issues: z.core.$ZodIssue[] = []) {
    super(message);
    this.name = "BlockError";
    this.issues = issues;
  }
}

/**
 * Validates an untrusted value as a block header. Throws {@link BlockError}
 * with the zod issues if it fails {@link blockHeaderSchema}.
 *
 * @example
 * ```ts
 * const header = parseBlockHeader(json.header);
 * ```
 */
export function parseBlockHeader(value: unknown): BlockHeader {
  const result = blockHeaderSchema.safeParse(value);
  if (!result.success) {
    const first = result.error.issues[0];
    const where = first && first.path.length > 0 ? ` at ${first.path.join(".")}` : "";
    throw new BlockError(`Invalid block header${where}: ${first?.message}`, result.error.issues);
  }
  return result.data as BlockHeader;
}

/**
 * The block hash: lowercase hex SHA-256 of UTF-8(`BLOCK_DOMAIN`) followed by
 * the JCS of the header. Requires a header that passes
 * {@link blockHeaderSchema} (so no extra field can slip into the hash);
 * throws {@link BlockError} otherwise.
 *
 * @example
 * ```ts
 * const hash = blockHash(header); // 64 hex chars; the next block's `prev`
 * ```
 */
export function blockHash(header: BlockHeader): string {
  const h = parseBlockHeader(header);
  return sha256Hex(concatBytes(utf8Encode(BLOCK_DOMAIN), canonicalBytes(h)));
}
