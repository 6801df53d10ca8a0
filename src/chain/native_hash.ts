/**
 * SHA-256 on `node:crypto` for the server's hot paths: transaction ids,
 * Merkle leaves and nodes. Deno hashes natively there, 2–4× faster than the
 * SDK's pure-JS SHA-256 for the sizes a site hashes (a ~600-byte leaf:
 * ~1.2 µs from a string against ~5.5 µs plus UTF-8 encoding).
 *
 * Server-only: the SDK stays on its portable hash (`sdk/hash.ts`); the
 * tests check both give the same digests, including for the RFC 9162
 * leaf/node prefixes.
 *
 * @module
 */
import { createHash } from "node:crypto";

const NODE_PREFIX = new Uint8Array([0x01]);

/**
 * A digest as a plain `Uint8Array` over its own 32-byte buffer: Node's
 * `Buffer`s may view a shared pool, which structured cloning (to the
 * storage worker) would copy whole.
 */
function plain(digest: Uint8Array): Uint8Array {
  return new Uint8Array(digest);
}

/** Hex SHA-256 of `data` (a string is hashed as its UTF-8). */
export function sha256HexNative(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * RFC 9162 leaf hash, SHA-256(0x00 || UTF-8 of `leafText`). The prefix goes
 * in as U+0000, whose UTF-8 is the byte 0x00: one string crossing into the
 * hash instead of two updates (2.5 µs against 3.7 for a 700-byte leaf here).
 */
export function leafHashNative(leafText: string): Uint8Array {
  return plain(createHash("sha256").update("\u0000" + leafText).digest());
}

/** RFC 9162 interior node hash, SHA-256(0x01 || left || right). */
export function nodeHashNative(left: Uint8Array, right: Uint8Array): Uint8Array {
  return plain(createHash("sha256").update(NODE_PREFIX).update(left).update(right).digest());
}
