/**
 * Running the command line (`workers/cli.ts`) as its own process, as the
 * end-to-end CLI tests do: `deno run` with the permissions `task cli`
 * grants, in the repo (as `deno task` does).
 *
 * @module
 */
import assert from "node:assert/strict";

/** The command line's entry. */
export const CLI = new URL("../workers/cli.ts", import.meta.url).pathname;
/** The repository's folder: where `deno task cli` runs. */
export const ROOT = new URL("..", import.meta.url).pathname;
/** The permissions `deno task cli` grants. */
export const TASK_PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/** What a run of the command line printed, and its exit code. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the command line to its end with `permissions`, `env` and `stdin`, in
 * `cwd` (default: the repo, as `deno task` does, with INIT_CWD the repo too).
 * The developer's own EDGELEDGER_URL, EDGELEDGER_API_KEY and
 * EDGELEDGER_ADMIN_KEY stay out; `env` adds to that.
 */
export async function cli(
  args: string[],
  options: {
    env?: Record<string, string>;
    stdin?: string;
    permissions?: string[];
    cwd?: string;
  } = {},
): Promise<CliRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...(options.permissions ?? TASK_PERMISSIONS), CLI, ...args],
    cwd: options.cwd ?? ROOT,
    // Relative paths resolve against INIT_CWD, as under `deno task`.
    env: {
      INIT_CWD: ROOT,
      EDGELEDGER_URL: "",
      EDGELEDGER_API_KEY: "",
      EDGELEDGER_ADMIN_KEY: "",
      ...options.env,
    },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Asserts exit 0 and no stack trace on stderr (notes may be there). */
export function ok(run: CliRun): CliRun {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  assert.doesNotMatch(run.stderr, /\n\s+at /);
  return run;
}
