/**
 * SHA-256, the one hash of the protocol (DESIGN §2): transaction ids, Merkle
 * nodes, block hashes and note key hashes all use it.
 *
 * @module
 */

import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { hexEncode } from "./encoding.ts";

/**
 * Returns the 32-byte SHA-256 digest of `bytes` (synchronous, pure JS, so it
 * runs everywhere the SDK runs).
 *
 * @example
 * ```ts
 * sha256(new Uint8Array()).length; // 32
 * ```
 */
export function sha256(bytes: Uint8Array): Uint8Array {
  return nobleSha256(bytes);
}

/**
 * Returns the SHA-256 digest of `bytes` as 64 lowercase hex characters.
 *
 * @example
 * ```ts
 * sha256Hex(new Uint8Array()); // "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
 * ```
 */
export function sha256Hex(bytes: Uint8Array): string {
  return hexEncode(nobleSha256(bytes));
}
