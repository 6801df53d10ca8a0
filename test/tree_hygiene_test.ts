/**
 * The tree as committed is formatted and lint-clean, so that CI (which runs
 * the test suite) catches what a commit's `deno fmt` or `deno lint` missed:
 * a formatter's reflow can move a `deno-lint-ignore` away from the line it
 * was for.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

async function run(args: string[]): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, output: decode(stdout) + decode(stderr) };
}

Deno.test("the tree is formatted as deno fmt formats it", async () => {
  const { code, output } = await run(["fmt", "--check"]);
  assert.equal(code, 0, output.slice(-4000));
});

Deno.test("the tree is clean under deno lint", async () => {
  const { code, output } = await run(["lint"]);
  assert.equal(code, 0, output.slice(-4000));
});
