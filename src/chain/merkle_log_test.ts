import assert from "node:assert/strict";
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from "../../sdk/merkle.ts";
import {
  appendLeaf,
  consistencyProofAt,
  inclusionProofAt,
  MerkleFrontier,
  type MerkleNode,
  type NodeId,
  nodesForConsistency,
  nodesForInclusion,
  nodesForRoot,
  rootAt,
} from "./merkle_log.ts";

const SIZE_MAX = 100;
const LEAVES = Array.from({ length: SIZE_MAX }, (_, i) => leafHash(new Uint8Array([i, 0xee])));

/** An in-memory node store built with appendLeaf(), as the storage layer would. */
function buildStore(n: number) {
  const nodes = new Map<string, Uint8Array>();
  const getNode = (level: number, index: number) => {
    const h = nodes.get(`${level}/${index}`);
    if (!h) throw new Error(`missing node (${level}, ${index})`);
    return h;
  };
  for (let size = 0; size < n; size++) {
    for (const node of appendLeaf(size, LEAVES[size], getNode)) {
      const key = `${node.level}/${node.index}`;
      assert.ok(!nodes.has(key), `node ${key} written twice`);
      nodes.set(key, node.hash);
    }
  }
  return { nodes, getNode };
}

/** A reader that records which nodes were read, to check the nodesFor* lists. */
function recording(getNode: (l: number, i: number) => Uint8Array) {
  const reads = new Set<string>();
  return {
    reads,
    getNode: (l: number, i: number) => {
      reads.add(`${l}/${i}`);
      return getNode(l, i);
    },
  };
}
const keys = (ids: NodeId[]) => new Set(ids.map((n) => `${n.level}/${n.index}`));

const store = buildStore(SIZE_MAX);
const ROOTS = Array.from(
  { length: SIZE_MAX + 1 },
  (_, n) => rootFromLeafHashes(LEAVES.slice(0, n)),
);

Deno.test("appendLeaf() creates the leaf and every completed parent, and nothing else", () => {
  assert.equal(
    store.nodes.size,
    2 * SIZE_MAX - [...SIZE_MAX.toString(2)].filter((c) => c === "1").length,
  );
  const created = appendLeaf(3, LEAVES[3], store.getNode);
  assert.deepEqual(created.map((n) => [n.level, n.index]), [[0, 3], [1, 1], [2, 0]]);
  assert.deepEqual(created[2].hash, ROOTS[4]);
  assert.deepEqual(appendLeaf(4, LEAVES[4], store.getNode).map((n) => [n.level, n.index]), [[
    0,
    4,
  ]]);
  assert.throws(() => appendLeaf(3, new Uint8Array(31), store.getNode), RangeError);
  assert.throws(() => appendLeaf(-1, LEAVES[0], store.getNode), RangeError);
});

Deno.test("rootAt() equals the in-memory root for every size up to 100 and reads only nodesForRoot()", () => {
  assert.deepEqual(rootAt(0, store.getNode), EMPTY_ROOT);
  for (let size = 1; size <= SIZE_MAX; size++) {
    const r = recording(store.getNode);
    assert.deepEqual(rootAt(size, r.getNode), ROOTS[size], `size ${size}`);
    assert.deepEqual(r.reads, keys(nodesForRoot(size)));
  }
  assert.deepEqual(nodesForRoot(6), [{ level: 2, index: 0 }, { level: 1, index: 2 }]);
});

Deno.test("inclusionProofAt() equals the in-memory proof and verifies, for every index/size pair up to 100", () => {
  for (let size = 1; size <= SIZE_MAX; size++) {
    const tree = LEAVES.slice(0, size);
    for (let i = 0; i < size; i++) {
      const r = recording(store.getNode);
      const proof = inclusionProofAt(i, size, r.getNode);
      assert.deepEqual(proof, inclusionProof(i, tree), `${i}/${size}`);
      assert.ok(verifyInclusion(LEAVES[i], i, size, proof, ROOTS[size]));
      assert.deepEqual(r.reads, keys(nodesForInclusion(i, size)), `nodes for ${i}/${size}`);
    }
  }
});

Deno.test("consistencyProofAt() equals the in-memory proof and verifies, for every size pair up to 100", () => {
  for (let size2 = 0; size2 <= SIZE_MAX; size2++) {
    const tree = LEAVES.slice(0, size2);
    for (let size1 = 0; size1 <= size2; size1++) {
      const r = recording(store.getNode);
      const proof = consistencyProofAt(size1, size2, r.getNode);
      assert.deepEqual(proof, consistencyProof(size1, tree), `${size1}->${size2}`);
      assert.ok(verifyConsistency(size1, size2, proof, ROOTS[size1], ROOTS[size2]));
      assert.deepEqual(
        r.reads,
        keys(nodesForConsistency(size1, size2)),
        `nodes for ${size1}->${size2}`,
      );
    }
  }
});

Deno.test("proofs at a past size read only nodes inside that past tree", () => {
  for (const size of [1, 7, 33, 64]) {
    const past = new Set([...store.nodes.keys()].filter((k) => {
      const [l, i] = k.split("/").map(Number);
      return (i + 1) * 2 ** l <= size;
    }));
    for (let i = 0; i < size; i++) {
      for (const k of keys(nodesForInclusion(i, size))) {
        assert.ok(past.has(k), `${k} in tree ${size}`);
      }
    }
    for (let m = 0; m <= size; m++) {
      for (const k of keys(nodesForConsistency(m, size))) assert.ok(past.has(k));
    }
  }
});

Deno.test("MerkleFrontier appends like appendLeaf() and tracks the root without reading storage", () => {
  const f = new MerkleFrontier();
  assert.deepEqual(f.root(), EMPTY_ROOT);
  for (let size = 0; size < SIZE_MAX; size++) {
    const created: MerkleNode[] = f.append(LEAVES[size]);
    assert.deepEqual(created, appendLeaf(size, LEAVES[size], store.getNode));
    assert.equal(f.size, size + 1);
    assert.deepEqual(f.root(), ROOTS[size + 1]);
  }
});

Deno.test("MerkleFrontier.fromNodes() resumes at any size and reads only nodesForRoot()", () => {
  for (let size = 0; size < SIZE_MAX; size++) {
    const r = recording(store.getNode);
    const f = MerkleFrontier.fromNodes(size, r.getNode);
    assert.deepEqual(r.reads, keys(nodesForRoot(size)));
    assert.deepEqual(f.root(), ROOTS[size]);
    assert.deepEqual(f.append(LEAVES[size]), appendLeaf(size, LEAVES[size], store.getNode));
    assert.deepEqual(f.root(), ROOTS[size + 1]);
  }
});

Deno.test("merkle_log refuses out-of-range arguments and reports missing nodes", () => {
  assert.throws(() => nodesForInclusion(5, 5), RangeError);
  assert.throws(() => nodesForInclusion(0, 0), RangeError);
  assert.throws(() => nodesForConsistency(6, 5), RangeError);
  assert.throws(() => inclusionProofAt(1.5, 5, store.getNode), RangeError);
  assert.throws(() => consistencyProofAt(-1, 5, store.getNode), RangeError);
  assert.throws(() => rootAt(NaN, store.getNode), RangeError);
  assert.throws(() => rootAt(SIZE_MAX + 1, store.getNode), /missing node/);
  assert.throws(() => rootAt(3, () => new Uint8Array(31)), /invariant/);
  assert.throws(() => new MerkleFrontier().append(new Uint8Array(33)), RangeError);
});
