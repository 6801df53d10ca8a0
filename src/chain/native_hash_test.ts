import assert from "node:assert/strict";
import { utf8Encode } from "../../sdk/encoding.ts";
import { sha256Hex } from "../../sdk/hash.ts";
import { leafHash, nodeHash } from "../../sdk/merkle.ts";
import { leafHashNative, nodeHashNative, sha256HexNative } from "./native_hash.ts";

const texts = [
  "",
  "a",
  '{"result":{"status":"applied"},"tx":{"v":1}}',
  "ünïcødé € \u2028 𝄞",
  "x".repeat(65),
  "y".repeat(4096),
];

Deno.test("native SHA-256 gives the SDK's digests for ids, RFC 9162 leaves and nodes", () => {
  for (const t of texts) {
    assert.equal(sha256HexNative(t), sha256Hex(utf8Encode(t)), t.slice(0, 20));
    assert.equal(sha256HexNative(utf8Encode(t)), sha256Hex(utf8Encode(t)));
    assert.deepEqual(leafHashNative(t), leafHash(utf8Encode(t)));
  }
  for (let i = 0; i < 50; i++) {
    const l = crypto.getRandomValues(new Uint8Array(32));
    const r = crypto.getRandomValues(new Uint8Array(32));
    assert.deepEqual(nodeHashNative(l, r), nodeHash(l, r));
  }
});

Deno.test("native digests are plain 32-byte arrays over their own buffers (cheap to clone)", () => {
  for (const h of [leafHashNative("a"), nodeHashNative(new Uint8Array(32), new Uint8Array(32))]) {
    assert.equal(Object.getPrototypeOf(h), Uint8Array.prototype);
    assert.equal(h.byteLength, 32);
    assert.equal(h.buffer.byteLength, 32);
  }
});
