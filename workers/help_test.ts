/**
 * `--help` of the entry points a user runs by hand (`task start`, `task
 * sitekey`, `task demo`), as real processes: asking for help prints the
 * usage on standard output, exits 0 and does nothing else — it never starts
 * a ledger or writes a file — and a mistyped flag is refused (exit 2)
 * instead of being taken for a file name or ignored.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { demoArgsProblem } from "./demo.ts";

const workerPath = (name: string) => fileURLToPath(new URL(`./${name}`, import.meta.url));

/** Runs `deno run <perms> workers/<name> ...args` in `cwd`; its exit code and output. */
async function run(
  name: string,
  args: string[],
  cwd: string,
  perms = ["--allow-all"],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...perms, workerPath(name), ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-help-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const entries = async (dir: string) =>
  (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);

Deno.test("task start --help prints the usage with each flag and exits 0, starting nothing", async () => {
  await inTempDir(async (dir) => {
    for (const flag of ["--help", "-h"]) {
      const r = await run("start.ts", [flag, "--data", "ledger"], dir);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^usage: deno task start/);
      for (const name of ["--sites", "--port", "--data", "--gateway", "--tls"]) {
        assert.match(r.stdout, new RegExp(`\\n  ${name} `), `${name} is described`);
      }
      assert.doesNotMatch(r.stderr + r.stdout, /cannot use/);
      assert.deepEqual(await entries(dir), [], "no ledger folder was made");
    }
  });
});

Deno.test("task start refuses an unknown flag with exit 2", async () => {
  await inTempDir(async (dir) => {
    const r = await run("start.ts", ["--prot", "7001"], dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot use "--prot"/);
  });
});

Deno.test("task sitekey --help prints the usage and exits 0, writing no key file", async () => {
  await inTempDir(async (dir) => {
    // As `deno task sitekey` runs it: write permission only.
    const r = await run("sitekey.ts", ["--help"], dir, ["--allow-write"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^usage: deno task sitekey/);
    assert.deepEqual(await entries(dir), [], "no file named --help");
  });
});

Deno.test("task sitekey refuses a path that looks like a flag, and writes ./-name as asked", async () => {
  await inTempDir(async (dir) => {
    const r = await run("sitekey.ts", ["--out"], dir, ["--allow-write"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown flag --out \(a key file named so: \.\/--out\)/);
    assert.deepEqual(await entries(dir), []);
    const ok = await run("sitekey.ts", ["./-odd.json"], dir, ["--allow-write"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(await entries(dir), ["-odd.json"]);
  });
});

Deno.test("task demo --help prints the usage and exits 0, starting no cluster", async () => {
  await inTempDir(async (dir) => {
    const r = await run("demo.ts", ["--help"], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^usage: deno task demo/);
    assert.doesNotMatch(r.stdout, /starting a fresh/);
  });
});

Deno.test("task demo refuses a mistyped flag instead of starting a cluster of its own", async () => {
  assert.equal(demoArgsProblem([]), null);
  assert.equal(demoArgsProblem(["--devices", "100"]), null);
  assert.equal(demoArgsProblem(["--url", "http://127.0.0.1:7001", "--data", "data"]), null);
  assert.match(demoArgsProblem(["--ulr", "http://127.0.0.1:7001"])!, /Unknown flag .*--ulr/);
  assert.match(demoArgsProblem(["--devices"])!, /--devices needs a value/);
  assert.match(demoArgsProblem(["--data", "data"])!, /--url and --data go together/);
  await inTempDir(async (dir) => {
    const r = await run("demo.ts", ["--ulr", "http://127.0.0.1:7001"], dir);
    assert.equal(r.code, 2);
    assert.doesNotMatch(r.stdout, /starting a fresh/);
  });
});

Deno.test("task site, integrity, backup, restore, force-new-cluster and apikey --help print the usage and exit 0", async () => {
  await inTempDir(async (dir) => {
    // A config named too: --help wins, so no site starts and no database opens.
    await Deno.writeTextFile(`${dir}/site.json`, "{}");
    const cases: [string, string[], string[]][] = [
      ["site.ts", ["--config", "site.json", "--help"], ["--allow-all"]],
      ["integrity.ts", ["--config", "site.json", "--help"], ["--allow-all"]],
      ["backup.ts", ["--config", "site.json", "--out", "copy.db", "--help"], ["--allow-all"]],
      ["restore.ts", ["--config", "site.json", "--from", "copy.db", "-h"], ["--allow-all"]],
      ["force_new_cluster.ts", ["--config", "site.json", "--yes", "-h"], ["--allow-all"]],
      // As `deno task apikey` runs it: no permissions at all.
      ["apikey.ts", ["--help"], []],
    ];
    for (const [name, args, perms] of cases) {
      const r = await run(name, args, dir, perms);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: /, name);
      assert.equal(r.stderr, "", name);
    }
    assert.deepEqual(await entries(dir), ["site.json"]);
  });
});
