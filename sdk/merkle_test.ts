import assert from "node:assert/strict";
import fc from "fast-check";
import { hexDecode, hexEncode } from "./encoding.ts";
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  nodeHash,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";

/** The RFC 6962 / Certificate Transparency reference leaves and roots. */
const LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
]
  .map((h) => leafHash(hexDecode(h)));
const ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

function leaves(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => leafHash(new Uint8Array([i & 0xff, i >> 8])));
}

function flipped(h: Uint8Array, bit: number): Uint8Array {
  const c = h.slice();
  c[bit >> 3] ^= 1 << (bit & 7);
  return c;
}

Deno.test("rootFromLeafHashes() matches the RFC 6962 reference roots for sizes 1..8", () => {
  assert.equal(
    hexEncode(EMPTY_ROOT),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assert.deepEqual(rootFromLeafHashes([]), EMPTY_ROOT);
  for (let n = 1; n <= 8; n++) {
    assert.equal(hexEncode(rootFromLeafHashes(LEAVES.slice(0, n))), ROOTS[n - 1]);
  }
  assert.deepEqual(
    rootFromLeafHashes(LEAVES.slice(0, 3)),
    nodeHash(nodeHash(LEAVES[0], LEAVES[1]), LEAVES[2]),
  );
  assert.throws(() => rootFromLeafHashes([new Uint8Array(31)]), RangeError);
});

Deno.test("verifyInclusion() and verifyConsistency() accept every generated proof for all sizes up to 70", () => {
  const all = leaves(70);
  const roots = Array.from({ length: 71 }, (_, n) => rootFromLeafHashes(all.slice(0, n)));
  for (let size = 1; size <= 70; size++) {
    const tree = all.slice(0, size);
    for (let i = 0; i < size; i++) {
      assert.ok(
        verifyInclusion(tree[i], i, size, inclusionProof(i, tree), roots[size]),
        `${i}/${size}`,
      );
    }
    for (let m = 0; m <= size; m++) {
      assert.ok(
        verifyConsistency(m, size, consistencyProof(m, tree), roots[m], roots[size]),
        `${m}->${size}`,
      );
    }
  }
});

Deno.test("verifyInclusion() rejects a proof with one flipped bit, in every bit of every element", () => {
  const tree = leaves(13);
  const root = rootFromLeafHashes(tree);
  for (const index of [0, 5, 12]) {
    const proof = inclusionProof(index, tree);
    for (let e = 0; e < proof.length; e++) {
      for (let bit = 0; bit < 256; bit++) {
        const bad = proof.map((p, j) => (j === e ? flipped(p, bit) : p));
        assert.equal(verifyInclusion(tree[index], index, 13, bad, root), false);
      }
    }
    for (let bit = 0; bit < 256; bit += 17) {
      assert.equal(verifyInclusion(flipped(tree[index], bit), index, 13, proof, root), false);
      assert.equal(verifyInclusion(tree[index], index, 13, proof, flipped(root, bit)), false);
    }
  }
});

Deno.test("verifyInclusion() rejects dropped, extra and reordered nodes and wrong index or size", () => {
  const tree = leaves(21);
  const root = rootFromLeafHashes(tree);
  const proof = inclusionProof(6, tree);
  assert.ok(verifyInclusion(tree[6], 6, 21, proof, root));
  assert.equal(verifyInclusion(tree[6], 6, 21, proof.slice(1), root), false);
  assert.equal(verifyInclusion(tree[6], 6, 21, proof.slice(0, -1), root), false);
  assert.equal(verifyInclusion(tree[6], 6, 21, [...proof, proof[0]], root), false);
  assert.equal(verifyInclusion(tree[6], 6, 21, [...proof, root], root), false);
  assert.equal(
    verifyInclusion(tree[6], 6, 21, [proof[1], proof[0], ...proof.slice(2)], root),
    false,
  );
  assert.equal(verifyInclusion(tree[6], 6, 21, [], root), false);
  // A size that only changes the right-most subtree (e.g. 22 or 32) leaves the path's
  // shape alone, so it is not a wrong size for leaf 6; sizes that change the shape are.
  for (const [i, n] of [[7, 21], [5, 21], [6, 16], [6, 8], [6, 64], [6, 6], [21, 21], [-1, 21]]) {
    assert.equal(verifyInclusion(tree[6], i, n, proof, root), false, `${i}/${n}`);
  }
});

Deno.test("verifyInclusion() handles size-1 trees and rejects malformed numbers and hashes", () => {
  const [leaf] = leaves(1);
  assert.ok(verifyInclusion(leaf, 0, 1, [], leaf));
  assert.equal(verifyInclusion(leaf, 0, 1, [leaf], leaf), false, "trailing element");
  assert.equal(verifyInclusion(leaf, 0, 0, [], leaf), false, "empty tree has no leaves");
  const tree = leaves(4);
  const root = rootFromLeafHashes(tree);
  const proof = inclusionProof(1, tree);
  const bad = [1.5, NaN, Infinity, -0.5, 2 ** 53, "1", null, 1n];
  for (const x of bad) {
    // deno-lint-ignore no-explicit-any
    const v = x as any;
    assert.equal(verifyInclusion(tree[1], v, 4, proof, root), false, String(x));
    assert.equal(verifyInclusion(tree[1], 1, v, proof, root), false, String(x));
  }
  assert.equal(verifyInclusion(tree[1].subarray(1), 1, 4, proof, root), false);
  assert.equal(verifyInclusion(tree[1], 1, 4, proof, root.subarray(1)), false);
  assert.equal(verifyInclusion(tree[1], 1, 4, [proof[0], new Uint8Array(33)], root), false);
  // deno-lint-ignore no-explicit-any
  assert.equal(verifyInclusion(tree[1], 1, 4, "proof" as any, root), false);
  // deno-lint-ignore no-explicit-any
  assert.equal(verifyInclusion(tree[1], 1, 4, [null as any], root), false);
  // Indexes beyond 2^32 are handled without 32-bit truncation.
  assert.equal(verifyInclusion(tree[1], 2 ** 40 + 1, 2 ** 40 + 4, proof, root), false);
});

Deno.test("verifyConsistency() rejects a proof with one flipped bit, in every bit of every element", () => {
  const tree = leaves(11);
  const root7 = rootFromLeafHashes(tree.slice(0, 7));
  const root11 = rootFromLeafHashes(tree);
  const proof = consistencyProof(7, tree);
  for (let e = 0; e < proof.length; e++) {
    for (let bit = 0; bit < 256; bit++) {
      const bad = proof.map((p, j) => (j === e ? flipped(p, bit) : p));
      assert.equal(verifyConsistency(7, 11, bad, root7, root11), false);
    }
  }
  for (let bit = 0; bit < 256; bit += 13) {
    assert.equal(verifyConsistency(7, 11, proof, flipped(root7, bit), root11), false);
    assert.equal(verifyConsistency(7, 11, proof, root7, flipped(root11, bit)), false);
  }
});

Deno.test("verifyConsistency() rejects dropped, extra nodes, wrong sizes and size1 > size2", () => {
  const tree = leaves(11);
  const r = (n: number) => rootFromLeafHashes(tree.slice(0, n));
  const proof = consistencyProof(6, tree);
  assert.ok(verifyConsistency(6, 11, proof, r(6), r(11)));
  assert.equal(verifyConsistency(6, 11, proof.slice(1), r(6), r(11)), false);
  assert.equal(verifyConsistency(6, 11, proof.slice(0, -1), r(6), r(11)), false);
  assert.equal(verifyConsistency(6, 11, [...proof, proof[0]], r(6), r(11)), false);
  assert.equal(verifyConsistency(6, 11, [], r(6), r(11)), false);
  assert.equal(verifyConsistency(5, 11, proof, r(5), r(11)), false);
  assert.equal(verifyConsistency(6, 10, proof, r(6), r(10)), false);
  assert.equal(verifyConsistency(11, 6, proof, r(11), r(6)), false);
  // A power-of-two old size: the proof must not repeat root1.
  const p4 = consistencyProof(4, tree);
  assert.ok(verifyConsistency(4, 11, p4, r(4), r(11)));
  assert.equal(verifyConsistency(4, 11, [r(4), ...p4], r(4), r(11)), false);
  for (const x of [1.5, -1, NaN, 2 ** 53, "4"]) {
    // deno-lint-ignore no-explicit-any
    const v = x as any;
    assert.equal(verifyConsistency(v, 11, p4, r(4), r(11)), false, String(x));
    assert.equal(verifyConsistency(4, v, p4, r(4), r(11)), false, String(x));
  }
  assert.equal(
    verifyConsistency(4, 11, [...p4.slice(0, -1), new Uint8Array(32 + 1)], r(4), r(11)),
    false,
  );
  assert.equal(verifyConsistency(4, 11, p4, r(4).subarray(0, 31), r(11)), false);
});

Deno.test("verifyConsistency() size1 = size2 requires an empty proof and equal roots (RFC 9162 §2.1.4.1)", () => {
  const tree = leaves(5);
  const root = rootFromLeafHashes(tree);
  assert.deepEqual(consistencyProof(5, tree), []);
  assert.ok(verifyConsistency(5, 5, [], root, root));
  assert.equal(verifyConsistency(5, 5, [root], root, root), false);
  assert.equal(verifyConsistency(5, 5, [], root, flipped(root, 0)), false);
  assert.ok(verifyConsistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT));
});

Deno.test("verifyConsistency() size1 = 0 requires an empty proof and the empty root", () => {
  const tree = leaves(5);
  const root = rootFromLeafHashes(tree);
  assert.deepEqual(consistencyProof(0, tree), []);
  assert.ok(verifyConsistency(0, 5, [], EMPTY_ROOT, root));
  assert.equal(verifyConsistency(0, 5, [root], EMPTY_ROOT, root), false);
  assert.equal(verifyConsistency(0, 5, [], root, root), false);
});

Deno.test("inclusionProof() and consistencyProof() refuse out-of-range arguments", () => {
  const tree = leaves(4);
  assert.throws(() => inclusionProof(4, tree), RangeError);
  assert.throws(() => inclusionProof(-1, tree), RangeError);
  assert.throws(() => inclusionProof(0, []), RangeError);
  assert.throws(() => consistencyProof(5, tree), RangeError);
  assert.throws(() => consistencyProof(1.5, tree), RangeError);
});

Deno.test("verifyInclusion()/verifyConsistency(): property — proofs verify only for the pair they were made for", () => {
  const all = leaves(70);
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 70 }),
      fc.nat(),
      fc.nat(),
      fc.nat(),
      (size, a, b, c) => {
        const tree = all.slice(0, size);
        const root = rootFromLeafHashes(tree);
        const i = a % size;
        const proof = inclusionProof(i, tree);
        assert.ok(verifyInclusion(tree[i], i, size, proof, root));
        const j = b % size;
        if (j !== i) assert.equal(verifyInclusion(tree[i], j, size, proof, root), false);
        const m = c % (size + 1);
        const cp = consistencyProof(m, tree);
        const rootM = rootFromLeafHashes(tree.slice(0, m));
        assert.ok(verifyConsistency(m, size, cp, rootM, root));
        if (m > 0 && m < size) {
          assert.equal(
            verifyConsistency(m - 1, size, cp, rootFromLeafHashes(tree.slice(0, m - 1)), root),
            false,
          );
          if (cp.length > 0) {
            assert.equal(verifyConsistency(m, size, cp.slice(0, -1), rootM, root), false);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});
