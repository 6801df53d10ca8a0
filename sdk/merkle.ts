/**
 * The Merkle tree of the log: RFC 9162 §2.1 (Certificate Transparency 2.0),
 * SHA-256 (DESIGN §2).
 *
 * Hashes are 32-byte `Uint8Array`s. Tree sizes and indexes are JavaScript
 * numbers that must be safe integers (< 2^53); all arithmetic below is done
 * with `Math.floor(x / 2)` and `x % 2` rather than bit operators, which would
 * truncate to 32 bits.
 *
 * The verifiers never throw: anything malformed (bad numbers, hashes that are
 * not 32 bytes, a proof of the wrong length, trailing proof elements) is a
 * proof that does not verify, and they return false.
 *
 * @module
 */

import { bytesEqual, concatBytes } from "./encoding.ts";
import { sha256 } from "./hash.ts";

/** Length in bytes of every hash in the tree. */
export const HASH_BYTES = 32;

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/**
 * The root of the empty tree, MTH({}) = SHA-256() (RFC 9162 §2.1.1).
 *
 * @example
 * ```ts
 * hexEncode(EMPTY_ROOT); // "e3b0c442...b855"
 * ```
 */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array());

/**
 * Hash of one leaf: SHA-256(0x00 || data) (RFC 9162 §2.1.1). The 0x00 prefix
 * separates leaves from interior nodes (second-preimage resistance).
 *
 * @example
 * ```ts
 * leafHash(utf8Encode("reading-1")).length; // 32
 * ```
 */
export function leafHash(data: Uint8Array): Uint8Array {
  return sha256(concatBytes(LEAF_PREFIX, data));
}

/**
 * Hash of an interior node: SHA-256(0x01 || left || right) (RFC 9162 §2.1.1).
 * Requires 32-byte `left` and `right` (not checked here; the verifiers check
 * their inputs).
 *
 * @example
 * ```ts
 * nodeHash(leafHash(a), leafHash(b)); // root of a two-leaf tree
 * ```
 */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(concatBytes(NODE_PREFIX, left, right));
}

/** The largest power of two strictly smaller than `n`. Requires n ≥ 2. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isSize(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_BYTES;
}

function assertLeafHashes(hashes: Uint8Array[]): void {
  if (!Array.isArray(hashes) || !hashes.every(isHash)) {
    throw new RangeError("Cannot build Merkle tree: every leaf hash must be 32 bytes");
  }
}

/** MTH(D[lo:hi]) over leaf hashes (RFC 9162 §2.1.1). Requires lo < hi. */
function subtreeRoot(hashes: Uint8Array[], lo: number, hi: number): Uint8Array {
  const n = hi - lo;
  if (n === 1) return hashes[lo];
  const k = splitPoint(n);
  return nodeHash(subtreeRoot(hashes, lo, lo + k), subtreeRoot(hashes, lo + k, hi));
}

/**
 * The Merkle Tree Hash MTH of a list of leaf hashes (RFC 9162 §2.1.1):
 * {@link EMPTY_ROOT} for none, the leaf hash itself for one, and otherwise
 * `nodeHash(MTH(first k), MTH(rest))` with k the largest power of two < n.
 * Throws RangeError if a leaf hash is not 32 bytes.
 *
 * @example
 * ```ts
 * rootFromLeafHashes([leafHash(a), leafHash(b), leafHash(c)]);
 * ```
 */
export function rootFromLeafHashes(hashes: Uint8Array[]): Uint8Array {
  assertLeafHashes(hashes);
  if (hashes.length === 0) return EMPTY_ROOT.slice();
  return subtreeRoot(hashes, 0, hashes.length);
}

/** PATH(m, D[lo:hi]) of RFC 9162 §2.1.3.1, innermost sibling first. */
function path(m: number, hashes: Uint8Array[], lo: number, hi: number): Uint8Array[] {
  const n = hi - lo;
  if (n === 1) return [];
  const k = splitPoint(n);
  if (m < k) return [...path(m, hashes, lo, lo + k), subtreeRoot(hashes, lo + k, hi)];
  return [...path(m - k, hashes, lo + k, hi), subtreeRoot(hashes, lo, lo + k)];
}

/**
 * The inclusion proof (audit path) of leaf `index` in the tree of all
 * `leafHashes` (RFC 9162 §2.1.3.1), computed in memory. Requires
 * `0 <= index < leafHashes.length`; throws RangeError otherwise.
 *
 * @example
 * ```ts
 * const proof = inclusionProof(1, leaves);
 * verifyInclusion(leaves[1], 1, leaves.length, proof, rootFromLeafHashes(leaves)); // true
 * ```
 */
export function inclusionProof(index: number, leafHashes: Uint8Array[]): Uint8Array[] {
  assertLeafHashes(leafHashes);
  if (!isSize(index) || index >= leafHashes.length) {
    throw new RangeError(
      `Cannot build inclusion proof: index ${index} not in [0, ${leafHashes.length})`,
    );
  }
  return path(index, leafHashes, 0, leafHashes.length);
}

/** SUBPROOF(m, D[lo:hi], b) of RFC 9162 §2.1.4.1. */
function subproof(
  m: number,
  hashes: Uint8Array[],
  lo: number,
  hi: number,
  complete: boolean,
): Uint8Array[] {
  const n = hi - lo;
  if (m === n) return complete ? [] : [subtreeRoot(hashes, lo, hi)];
  const k = splitPoint(n);
  if (m <= k) {
    return [...subproof(m, hashes, lo, lo + k, complete), subtreeRoot(hashes, lo + k, hi)];
  }
  return [...subproof(m - k, hashes, lo + k, hi, false), subtreeRoot(hashes, lo, lo + k)];
}

/**
 * The consistency proof between the first `size1` leaves and all
 * `leafHashes` (RFC 9162 §2.1.4.1), computed in memory. Requires
 * `0 <= size1 <= leafHashes.length`; the proof is empty when `size1` is 0 or
 * equals the tree size. Throws RangeError otherwise.
 *
 * @example
 * ```ts
 * const proof = consistencyProof(3, leaves); // leaves.length === 7
 * verifyConsistency(3, 7, proof, root3, root7); // true
 * ```
 */
export function consistencyProof(size1: number, leafHashes: Uint8Array[]): Uint8Array[] {
  assertLeafHashes(leafHashes);
  if (!isSize(size1) || size1 > leafHashes.length) {
    throw new RangeError(
      `Cannot build consistency proof: size ${size1} not in [0, ${leafHashes.length}]`,
    );
  }
  if (size1 === 0) return [];
  return subproof(size1, leafHashes, 0, leafHashes.length, true);
}

/**
 * Verifies that `leafHash` is leaf number `index` of the tree of size
 * `treeSize` whose root is `root`, given the audit path `proof`
 * (RFC 9162 §2.1.3.2). Returns false, never throws, for a proof that does not
 * verify and for malformed input: non-integer, negative or unsafe numbers,
 * `index >= treeSize`, hashes that are not 32 bytes, or a proof with missing
 * or trailing elements.
 *
 * @example
 * ```ts
 * verifyInclusion(leafHash(d), 5, 8, proof, root); // true or false
 * ```
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  treeSize: number,
  proof: Uint8Array[],
  root: Uint8Array,
): boolean {
  try {
    if (!isHash(leafHash) || !isHash(root) || !Array.isArray(proof)) return false;
    if (!isSize(index) || !isSize(treeSize)) return false;
    // §2.1.3.2 step 1: the leaf must be inside the tree.
    if (index >= treeSize) return false;
    // Steps 2–3.
    let fn = index;
    let sn = treeSize - 1;
    let r = leafHash;
    // Step 4.
    for (const p of proof) {
      if (!isHash(p)) return false;
      // 4a: a proof longer than the path is refused (trailing elements).
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        // 4b: p is a left sibling.
        r = nodeHash(p, r);
        // Skip levels where this node has no right sibling (the right edge).
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        r = nodeHash(r, p);
      }
      // 4c.
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    // Step 5: the whole path was consumed, and the root matches.
    return sn === 0 && bytesEqual(r, root);
  } catch {
    return false;
  }
}

/**
 * Verifies that the tree of size `size2` with root `root2` extends the tree
 * of size `size1` with root `root1`, given the consistency proof `proof`
 * (RFC 9162 §2.1.4.2). Returns false, never throws, for a proof that does not
 * verify and for malformed input (bad numbers, `size1 > size2`, hashes that
 * are not 32 bytes, missing or trailing proof elements).
 *
 * Edge cases, following RFC 9162 §2.1.4.1: for `size1 === size2` the proof
 * must be empty and the roots equal; for `size1 === 0` the proof must be
 * empty and `root1` must be {@link EMPTY_ROOT} (every tree extends the empty
 * tree). Otherwise (0 < size1 < size2) the §2.1.4.2 algorithm runs.
 *
 * @example
 * ```ts
 * verifyConsistency(3, 7, proof, root3, root7); // true or false
 * ```
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  try {
    if (!isHash(root1) || !isHash(root2) || !Array.isArray(proof)) return false;
    if (!isSize(size1) || !isSize(size2) || size1 > size2) return false;
    if (!proof.every(isHash)) return false;
    if (size1 === size2) return proof.length === 0 && bytesEqual(root1, root2);
    if (size1 === 0) return proof.length === 0 && bytesEqual(root1, EMPTY_ROOT);
    // §2.1.4.2 step 1: a non-trivial proof is never empty.
    if (proof.length === 0) return false;
    // Step 2: when the old tree is a perfect subtree, its root is the first node.
    let path = proof;
    if (isPowerOfTwo(size1)) path = [root1, ...proof];
    // Step 3.
    let fn = size1 - 1;
    let sn = size2 - 1;
    // Step 4: skip the levels where the old tree's last node is a right child.
    while (fn % 2 === 1) {
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    // Step 5.
    let fr = path[0];
    let sr = path[0];
    // Step 6.
    for (let i = 1; i < path.length; i++) {
      const c = path[i];
      // 6a: trailing elements.
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        // 6b: c is a left sibling, shared by both trees.
        fr = nodeHash(c, fr);
        sr = nodeHash(c, sr);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        // c is a right sibling, present only in the new tree.
        sr = nodeHash(sr, c);
      }
      // 6c.
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    // Step 7.
    return sn === 0 && bytesEqual(fr, root1) && bytesEqual(sr, root2);
  } catch {
    return false;
  }
}

function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}
