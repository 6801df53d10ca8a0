/**
 * Proof generation for the ledger's Merkle log from stored nodes (RFC 9162
 * §2.1), pure: no database, no I/O. The storage layer persists the nodes this
 * module creates and hands them back through a {@link NodeReader}.
 *
 * A stored node is a perfect subtree identified by `(level, index)`: the hash
 * of the 2^level leaves `[index·2^level, (index+1)·2^level)`. Leaves are level
 * 0 (their value is the leaf hash `SHA-256(0x00||d)`). Nodes never change once
 * written, so a proof for any past tree size `n` can be built from the nodes
 * that lie entirely inside `[0, n)`.
 *
 * Every range the RFC's recursive definitions hash, `MTH(D[lo:hi])`, splits
 * into at most ⌈log2⌉ perfect subtrees: the binary decomposition of the range
 * from the left. The functions `nodesFor*` list the coordinates a proof
 * needs, so storage can fetch them in one query; `*At` compute the proof from
 * them.
 *
 * @module
 */

import { EMPTY_ROOT, HASH_BYTES, splitPoint } from "../../sdk/merkle.ts";
import { nodeHashNative as nodeHash } from "./native_hash.ts";

/** Coordinates of a perfect subtree: leaves `[index·2^level, (index+1)·2^level)`. */
export interface NodeId {
  /** Height above the leaves; 0 for a leaf. */
  level: number;
  /** Position among the nodes of that level, from the left. */
  index: number;
}

/** A stored node: coordinates and 32-byte hash. */
export interface MerkleNode extends NodeId {
  /** The subtree's Merkle Tree Hash. */
  hash: Uint8Array;
}

/**
 * Synchronous reader of stored nodes. Must return the 32-byte hash of node
 * `(level, index)` and throw if it is missing (a missing node is a broken
 * invariant of the storage, not an operating error).
 */
export type NodeReader = (level: number, index: number) => Uint8Array;

/** Highest tree size handled; numbers stay safe integers and levels ≤ 52. */
export const TREE_SIZE_MAX = Number.MAX_SAFE_INTEGER;

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`Merkle log invariant broken: ${message}`);
}

function assertSize(name: string, n: number, min = 0): void {
  if (!Number.isSafeInteger(n) || n < min) {
    throw new RangeError(`${name} must be a safe integer ≥ ${min}, got ${n}`);
  }
}

function read(getNode: NodeReader, level: number, index: number): Uint8Array {
  const hash = getNode(level, index);
  assert(
    hash instanceof Uint8Array && hash.length === HASH_BYTES,
    `node (${level}, ${index}) is not a 32-byte hash`,
  );
  return hash;
}

/**
 * The perfect subtrees that make up leaves `[lo, hi)` in RFC 9162 split
 * order: repeatedly take the largest power of two k < n (or n itself when n
 * is a power of two and `lo` is aligned). Requires `lo < hi`, and that every
 * left part be aligned, which holds for every range the RFC's recursions
 * produce.
 */
function rangeNodes(lo: number, hi: number): NodeId[] {
  const out: NodeId[] = [];
  while (lo < hi) {
    const n = hi - lo;
    // The largest power of two ≤ n.
    let size = 1;
    let level = 0;
    while (size * 2 <= n) {
      size *= 2;
      level++;
    }
    // When n is not a power of two, the RFC split takes the largest power < n,
    // which is the same `size`; when it is, the range is one perfect subtree.
    assert(lo % size === 0, `range [${lo}, ${hi}) is not aligned`);
    out.push({ level, index: lo / size });
    lo += size;
  }
  return out;
}

/** Folds the perfect subtrees of a range right to left into MTH(D[lo:hi]). */
function foldRange(lo: number, hi: number, getNode: NodeReader): Uint8Array {
  const nodes = rangeNodes(lo, hi);
  let hash = read(getNode, nodes[nodes.length - 1].level, nodes[nodes.length - 1].index);
  for (let i = nodes.length - 2; i >= 0; i--) {
    hash = nodeHash(read(getNode, nodes[i].level, nodes[i].index), hash);
  }
  return hash;
}

/**
 * The nodes created by appending leaf number `size` (0-based) to a tree of
 * `size` leaves: the leaf itself at `(0, size)`, then every parent the leaf
 * completes, bottom-up. `getNode` is asked only for the left siblings, which
 * already exist. Requires `0 <= size < TREE_SIZE_MAX` and a 32-byte leaf hash.
 *
 * @example
 * ```ts
 * appendLeaf(3, leafHash(d), getNode);
 * // [{level: 0, index: 3, hash}, {level: 1, index: 1, hash}, {level: 2, index: 0, hash}]
 * ```
 */
export function appendLeaf(size: number, leafHash: Uint8Array, getNode: NodeReader): MerkleNode[] {
  assertSize("size", size);
  assert(size < TREE_SIZE_MAX, "tree is full");
  if (!(leafHash instanceof Uint8Array) || leafHash.length !== HASH_BYTES) {
    throw new RangeError("Cannot append leaf: leaf hash must be 32 bytes");
  }
  const out: MerkleNode[] = [{ level: 0, index: size, hash: leafHash }];
  let index = size;
  let level = 0;
  let hash = leafHash;
  while (index % 2 === 1) {
    hash = nodeHash(read(getNode, level, index - 1), hash);
    index = (index - 1) / 2;
    level++;
    out.push({ level, index, hash });
  }
  return out;
}

/**
 * The right edge of the tree held in memory: one hash per perfect subtree in
 * the binary decomposition of `size` (at most 53), so the leader can append
 * and compute roots without reading storage.
 *
 * @example
 * ```ts
 * const f = MerkleFrontier.fromNodes(size, getNode);
 * const created = f.append(leafHash(d)); // persist these
 * f.root();
 * ```
 */
export class MerkleFrontier {
  /** Perfect subtrees from the left, strictly decreasing levels. */
  #stack: MerkleNode[] = [];
  #size = 0;

  /** Number of leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Rebuilds the frontier of a tree of `size` leaves from stored nodes: reads
   * exactly the nodes {@link nodesForRoot}(size) lists.
   */
  static fromNodes(size: number, getNode: NodeReader): MerkleFrontier {
    assertSize("size", size);
    const f = new MerkleFrontier();
    if (size > 0) {
      for (const { level, index } of rangeNodes(0, size)) {
        f.#stack.push({ level, index, hash: read(getNode, level, index) });
      }
    }
    f.#size = size;
    return f;
  }

  /**
   * Appends one 32-byte leaf hash and returns the nodes it created (as
   * {@link appendLeaf} would), which the caller must persist.
   */
  append(leafHash: Uint8Array): MerkleNode[] {
    if (!(leafHash instanceof Uint8Array) || leafHash.length !== HASH_BYTES) {
      throw new RangeError("Cannot append leaf: leaf hash must be 32 bytes");
    }
    assert(this.#size < TREE_SIZE_MAX, "tree is full");
    const created: MerkleNode[] = [{ level: 0, index: this.#size, hash: leafHash }];
    this.#stack.push(created[0]);
    while (this.#stack.length >= 2) {
      const right = this.#stack[this.#stack.length - 1];
      const left = this.#stack[this.#stack.length - 2];
      if (left.level !== right.level) break;
      this.#stack.length -= 2;
      const parent = {
        level: left.level + 1,
        index: left.index / 2,
        hash: nodeHash(left.hash, right.hash),
      };
      assert(left.index % 2 === 0 && right.index === left.index + 1, "frontier out of order");
      this.#stack.push(parent);
      created.push(parent);
    }
    this.#size++;
    return created;
  }

  /** The current root: MTH of all leaves, {@link EMPTY_ROOT} when empty. */
  root(): Uint8Array {
    if (this.#stack.length === 0) return EMPTY_ROOT.slice();
    let hash = this.#stack[this.#stack.length - 1].hash;
    for (let i = this.#stack.length - 2; i >= 0; i--) hash = nodeHash(this.#stack[i].hash, hash);
    return hash;
  }

  /** The frontier's nodes, left to right (copies). */
  nodes(): MerkleNode[] {
    return this.#stack.map((n) => ({ ...n }));
  }
}

/**
 * Coordinates needed for the root of the tree of `size` leaves: the binary
 * decomposition of `[0, size)`, left to right (empty for size 0).
 *
 * @example
 * ```ts
 * nodesForRoot(6); // [{level: 2, index: 0}, {level: 1, index: 2}]
 * ```
 */
export function nodesForRoot(size: number): NodeId[] {
  assertSize("size", size);
  return size === 0 ? [] : rangeNodes(0, size);
}

/** The ranges hashed by PATH(m, D[lo:hi]) of RFC 9162 §2.1.3.1, innermost first. */
function inclusionRanges(m: number, lo: number, hi: number, out: Array<[number, number]>): void {
  // Iterative descent records the siblings outermost first; reverse at the end.
  const outer: Array<[number, number]> = [];
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (m < k) {
      outer.push([lo + k, hi]);
      hi = lo + k;
    } else {
      outer.push([lo, lo + k]);
      m -= k;
      lo += k;
    }
  }
  out.push(...outer.reverse());
}

/** The ranges hashed by SUBPROOF(m, D[lo:hi], b) of RFC 9162 §2.1.4.1, in proof order. */
function consistencyRanges(m: number, lo: number, hi: number): Array<[number, number]> {
  const outer: Array<[number, number]> = [];
  let complete = true;
  while (m !== hi - lo) {
    const k = splitPoint(hi - lo);
    if (m <= k) {
      outer.push([lo + k, hi]);
      hi = lo + k;
    } else {
      outer.push([lo, lo + k]);
      m -= k;
      lo += k;
      complete = false;
    }
  }
  const inner: Array<[number, number]> = complete ? [] : [[lo, hi]];
  return [...inner, ...outer.reverse()];
}

function uniqueNodes(ranges: Array<[number, number]>): NodeId[] {
  const seen = new Set<string>();
  const out: NodeId[] = [];
  for (const [lo, hi] of ranges) {
    for (const n of rangeNodes(lo, hi)) {
      const key = `${n.level}/${n.index}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push(n);
      }
    }
  }
  return out;
}

function assertInclusionArgs(index: number, size: number): void {
  assertSize("index", index);
  assertSize("size", size, 1);
  if (index >= size) throw new RangeError(`index ${index} not in [0, ${size})`);
}

function assertConsistencyArgs(size1: number, size2: number): void {
  assertSize("size1", size1);
  assertSize("size2", size2);
  if (size1 > size2) throw new RangeError(`size1 ${size1} is larger than size2 ${size2}`);
}

/**
 * Coordinates needed for the inclusion proof of leaf `index` in the tree of
 * `size` leaves (no duplicates). Requires `0 <= index < size`; throws
 * RangeError otherwise.
 *
 * @example
 * ```ts
 * nodesForInclusion(2, 5); // [{0,3}, {1,0}, {0,4}]
 * ```
 */
export function nodesForInclusion(index: number, size: number): NodeId[] {
  assertInclusionArgs(index, size);
  const ranges: Array<[number, number]> = [];
  inclusionRanges(index, 0, size, ranges);
  return uniqueNodes(ranges);
}

/**
 * Coordinates needed for the consistency proof from `size1` to `size2` (no
 * duplicates; empty when `size1` is 0 or equals `size2`). Requires
 * `0 <= size1 <= size2`; throws RangeError otherwise.
 *
 * @example
 * ```ts
 * nodesForConsistency(3, 7);
 * ```
 */
export function nodesForConsistency(size1: number, size2: number): NodeId[] {
  assertConsistencyArgs(size1, size2);
  if (size1 === 0 || size1 === size2) return [];
  return uniqueNodes(consistencyRanges(size1, 0, size2));
}

/**
 * The root of the tree of `size` leaves, from stored nodes
 * ({@link EMPTY_ROOT} for 0). Reads exactly {@link nodesForRoot}(size).
 *
 * @example
 * ```ts
 * rootAt(7, getNode); // equals rootFromLeafHashes(first 7 leaf hashes)
 * ```
 */
export function rootAt(size: number, getNode: NodeReader): Uint8Array {
  assertSize("size", size);
  if (size === 0) return EMPTY_ROOT.slice();
  return foldRange(0, size, getNode);
}

/**
 * The RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of `size`
 * leaves, from stored nodes. Requires `0 <= index < size`.
 *
 * @example
 * ```ts
 * verifyInclusion(leaf, 2, 5, inclusionProofAt(2, 5, getNode), rootAt(5, getNode)); // true
 * ```
 */
export function inclusionProofAt(index: number, size: number, getNode: NodeReader): Uint8Array[] {
  assertInclusionArgs(index, size);
  const ranges: Array<[number, number]> = [];
  inclusionRanges(index, 0, size, ranges);
  return ranges.map(([lo, hi]) => foldRange(lo, hi, getNode));
}

/**
 * The RFC 9162 §2.1.4.1 consistency proof from `size1` to `size2`, from
 * stored nodes. Requires `0 <= size1 <= size2`; empty when `size1` is 0 or
 * equals `size2`.
 *
 * @example
 * ```ts
 * verifyConsistency(3, 7, consistencyProofAt(3, 7, getNode), root3, root7); // true
 * ```
 */
export function consistencyProofAt(
  size1: number,
  size2: number,
  getNode: NodeReader,
): Uint8Array[] {
  assertConsistencyArgs(size1, size2);
  if (size1 === 0 || size1 === size2) return [];
  return consistencyRanges(size1, 0, size2).map(([lo, hi]) => foldRange(lo, hi, getNode));
}
