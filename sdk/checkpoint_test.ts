import assert from "node:assert/strict";
import { CheckpointError, formatCheckpoint, parseCheckpoint } from "./checkpoint.ts";
import { base64Encode } from "./encoding.ts";

const root = new Uint8Array(32).map((_, i) => i);
const blockHash = "0f".repeat(32);
const base = { origin: "edgeledger.example/demo", size: 42, rootHash: root, height: 7, blockHash };

Deno.test("formatCheckpoint() writes origin, size, base64 root, height and block lines", () => {
  assert.equal(
    formatCheckpoint(base),
    `edgeledger.example/demo\n42\n${base64Encode(root)}\nheight 7\nblock ${blockHash}\n`,
  );
  assert.equal(formatCheckpoint({ ...base, size: 0, height: 0 }).split("\n")[1], "0");
});

Deno.test("parseCheckpoint() round-trips formatCheckpoint(), extensions included", () => {
  assert.deepEqual(parseCheckpoint(formatCheckpoint(base)), { ...base, extensions: [] });
  const withExt = formatCheckpoint({ ...base, extensions: ["time 1764000000000", "x y"] });
  assert.deepEqual(parseCheckpoint(withExt).extensions, ["time 1764000000000", "x y"]);
});

Deno.test("parseCheckpoint() rejects missing lines, bad numbers, bad base64 and wrong root length", () => {
  const good = formatCheckpoint(base).split("\n").slice(0, -1);
  const mutate = (i: number, v: string) => good.map((l, j) => (j === i ? v : l)).join("\n") + "\n";
  const bad = [
    good.join("\n"), // no final newline
    good.slice(0, 4).join("\n") + "\n", // no block line
    good.slice(0, 3).join("\n") + "\n", // no height line
    "",
    "\n",
    mutate(0, ""),
    mutate(1, "042"),
    mutate(1, "-1"),
    mutate(1, "4.2"),
    mutate(1, "0x2a"),
    mutate(1, " 42"),
    mutate(1, "99999999999999999999"),
    mutate(2, base64Encode(root).replace("=", "")),
    mutate(2, base64Encode(new Uint8Array(31))),
    mutate(2, base64Encode(new Uint8Array(33))),
    mutate(2, "!!!!"),
    mutate(3, "height 07"),
    mutate(3, "Height 7"),
    mutate(3, "height"),
    mutate(4, "block " + blockHash.toUpperCase()),
    mutate(4, "block " + blockHash.slice(2)),
    mutate(4, "blockhash " + blockHash),
    formatCheckpoint(base) + "\n", // empty extension line
    formatCheckpoint(base).replace("demo", "de\tmo"),
    formatCheckpoint(base).replace("\n", "\r\n"),
  ];
  for (const text of bad) {
    assert.throws(() => parseCheckpoint(text), CheckpointError, JSON.stringify(text));
  }
  // deno-lint-ignore no-explicit-any
  assert.throws(() => parseCheckpoint(42 as any), CheckpointError);
});

Deno.test("formatCheckpoint() refuses values it could not parse back", () => {
  const bad = [
    { ...base, origin: "" },
    { ...base, origin: "a\nb" },
    { ...base, size: -1 },
    { ...base, size: 1.5 },
    { ...base, height: 2 ** 53 },
    { ...base, rootHash: new Uint8Array(31) },
    { ...base, blockHash: "AB".repeat(32) },
    { ...base, extensions: [""] },
    { ...base, extensions: ["a\nb"] },
  ];
  for (const cp of bad) assert.throws(() => formatCheckpoint(cp), CheckpointError);
});
