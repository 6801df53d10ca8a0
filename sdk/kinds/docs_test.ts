import assert from "node:assert/strict";

/**
 * Every declaration `sdk/kinds` exports — each kind's body schema and body
 * type above all — carries a doc comment: editors show it where the body is
 * written, and it is what says who signs and in which units.
 */
Deno.test("sdk/kinds: every exported schema, type and function has a doc comment", async () => {
  const missing: string[] = [];
  for await (const entry of Deno.readDir(new URL(".", import.meta.url))) {
    if (!entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
    const lines = (await Deno.readTextFile(new URL(entry.name, import.meta.url))).split("\n");
    lines.forEach((line, i) => {
      const declared = /^export (?:async )?(?:type|const|function|interface|class) (\w+)/.exec(
        line,
      );
      if (declared !== null && !/\*\/\s*$/.test(lines[i - 1] ?? "")) {
        missing.push(`${entry.name}: ${declared[1]}`);
      }
    });
  }
  assert.deepEqual(missing, []);
});
