/**
 * `edgeledger`, the developer command line, in the spirit of etcdctl and
 * rekor-cli: keys, signing and submitting transactions, reading the
 * cluster, fetching proofs and verifying them offline, following blocks;
 * and for operators, membership changes, leadership transfer and backups
 * with the admin key. A thin layer over the SDK (see `cli/commands.ts`).
 *
 *     npx -y deno@2.9.6 task cli <command> [flags]
 *     npx -y deno@2.9.6 task cli --help
 *
 * Exit codes: 0 ok, 1 the operation failed (a site's problem, a failed
 * verification, a file that cannot be read), 2 a usage error — how it was
 * called must change: a wrong flag, an output file that exists without
 * --force, a Deno permission it was run without. A failure is one line on
 * standard error; results go to standard output. It never prompts for a
 * permission: without --allow-env the EDGELEDGER_* variables read as unset
 * (see `cli/permissions.ts`).
 *
 * @module
 */
import { type CliIo, COMMANDS, PROGRAM, VALUE_FLAGS } from "./cli/commands.ts";
import { UsageError } from "./cli/args.ts";
import { INPUT_BYTES_MAX } from "./cli/files.ts";
import { CliError } from "./cli/output.ts";
import { granted } from "./cli/permissions.ts";
import { concatBytes } from "../sdk/encoding.ts";

export type { CliIo } from "./cli/commands.ts";

/** The words that group commands (`key new`, `tx sign`, `trust init`, `member add`). */
const GROUPS = new Set(
  COMMANDS.filter((c) => c.name.includes(" ")).map((c) => c.name.split(" ")[0]),
);

/** The top-level help: the commands and what every command shares. */
export function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `${PROGRAM} — the developer command line of an edgeledger ledger`,
    "",
    `usage: ${PROGRAM} <command> [flags]`,
    "       (from a checkout: npx -y deno@2.9.6 task cli <command> [flags])",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${"help [COMMAND]".padEnd(width)}  This help, or a command's or a group's (as with --help)`,
    "",
    "Commands that talk to a site take:",
    "  --url URL      a site's base URL, repeatable for failover (default $EDGELEDGER_URL,",
    "                 comma-separated, or when it is unset or empty http://127.0.0.1:7001)",
    "  --api-key KEY  the API key (default $EDGELEDGER_API_KEY)",
    "Operator commands (member add, promote, update, remove and rotate-key, leader transfer, backup) take:",
    "  --admin-key-file FILE  a file holding the admin API key (else the key itself from",
    "                         $EDGELEDGER_ADMIN_KEY); - reads it from standard input; no flag",
    "                         takes the key itself: it would land in shell history",
    "Every command takes:",
    "  --json         print JSON: for status, sites and tx get the site's answer as it came;",
    "                 for the others JSON the command makes (its --help says what)",
    "  --help         its usage and flags",
    "",
    "Exit codes: 0 ok, 1 the operation failed, 2 usage error (a wrong flag, an output file",
    "that exists without --force, a Deno permission not granted: task cli grants net, read,",
    "write and env; without env, $EDGELEDGER_* are ignored).",
    `Run '${PROGRAM} <command> --help' for a command's flags.`,
  ].join("\n");
}

function groupHelp(group: string): string {
  const members = COMMANDS.filter((c) => c.name.startsWith(`${group} `));
  const width = Math.max(...members.map((c) => c.name.length));
  return [
    `usage: ${PROGRAM} ${group} <command> [flags]`,
    "",
    "Commands:",
    ...members.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join("\n");
}

/**
 * The command's words in `argv` (the first one or two arguments that are
 * not flags or flag values) and the arguments left for the command.
 */
function locate(argv: readonly string[]): { words: string[]; rest: string[] } {
  const picked: number[] = [];
  for (let i = 0; i < argv.length && picked.length < 2; i++) {
    const arg = argv[i];
    if (arg === "--") break;
    if (arg.startsWith("--")) {
      if (!arg.includes("=") && VALUE_FLAGS.has(arg.slice(2))) i++;
      continue;
    }
    if (arg.startsWith("-") && arg !== "-") continue;
    // The second word only completes a group ("tx sign"); otherwise it is an argument.
    if (picked.length === 1 && !GROUPS.has(argv[picked[0]])) break;
    picked.push(i);
  }
  return {
    words: picked.map((i) => argv[i]),
    rest: argv.filter((_, i) => !picked.includes(i)),
  };
}

/**
 * Runs the command line on `argv` (the arguments after the program's name)
 * and resolves to the exit code: 0 ok, 1 the operation failed, 2 usage (a
 * missing Deno permission included). Expected failures are one line on
 * `io.stderr`, never a stack trace.
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const wantsHelp = argv.includes("--help") || argv.includes("-h");
  let { words, rest } = locate(argv);
  let asksHelp = wantsHelp;
  if (words[0] === "help") {
    // `help tx sign` is `tx sign --help`, and `help tx` is `tx --help`.
    ({ words } = locate(argv.slice(argv.indexOf("help") + 1)));
    if (words.length === 0) {
      io.stdout(topHelp() + "\n");
      return 0;
    }
    rest = ["--help"];
    asksHelp = true;
  }
  if (words.length === 0) {
    if (wantsHelp) {
      io.stdout(topHelp() + "\n");
      return 0;
    }
    io.stderr(topHelp() + "\n");
    return 2;
  }
  const name = words.join(" ");
  const found = COMMANDS.find((c) => c.name === name);
  if (found === undefined) {
    if (GROUPS.has(words[0]) && words.length === 1) {
      if (asksHelp) {
        io.stdout(groupHelp(words[0]) + "\n");
        return 0;
      }
      io.stderr(`Missing a ${words[0]} command\n${groupHelp(words[0])}\n`);
      return 2;
    }
    io.stderr(`Unknown command "${name}"; run '${PROGRAM} --help' for the commands\n`);
    return 2;
  }
  try {
    return await found.run(io, rest);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`${e.message}; see '${PROGRAM} ${found.name} --help'\n`);
      return 2;
    }
    if (e instanceof CliError) {
      io.stderr(e.message + "\n");
      return e.exitCode;
    }
    if (e instanceof Deno.errors.NotCapable) {
      // A permission no check foresaw; Deno's message names it and its flag.
      io.stderr(`Cannot run ${PROGRAM} ${found.name}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

/** Writes all of `text` to a synchronous stream. */
function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

/**
 * The folder relative paths mean: the one the user typed them in. `deno
 * task` runs the command line in the folder of deno.json and names the
 * user's folder in INIT_CWD; run any other way (`deno run workers/cli.ts`
 * from elsewhere) the working folder is the user's, and an INIT_CWD left in
 * the environment by an enclosing npm or deno task names another folder.
 * So INIT_CWD counts only while the working folder is deno.json's.
 */
export function userFolder(cwd: string, initCwd: string | undefined, taskFolder: string): string {
  return initCwd && cwd === taskFolder ? initCwd : cwd;
}

if (import.meta.main) {
  // Asked only when granted: a plain `deno run` must not prompt for them.
  if (granted({ name: "env", variable: "INIT_CWD" }) && granted({ name: "read" })) {
    try {
      const cwd = Deno.realPathSync(Deno.cwd());
      const folder = userFolder(
        cwd,
        Deno.env.get("INIT_CWD"),
        Deno.realPathSync(new URL("..", import.meta.url)),
      );
      if (folder !== cwd) Deno.chdir(folder);
    } catch {
      // An INIT_CWD that is gone: paths stay relative to the working folder.
    }
  }
  const io: CliIo = {
    stdout(text) {
      try {
        writeAll(Deno.stdout, text);
      } catch (e) {
        // The reader went away (`… | head`): nothing more to say.
        if (e instanceof Deno.errors.BrokenPipe) Deno.exit(0);
        throw e;
      }
    },
    stderr: (text) => writeAll(Deno.stderr, text),
    // Without the env permission (or with it for other variables only) a
    // variable is unset: read only when granted, so never a prompt or an error.
    env: (name) => granted({ name: "env", variable: name }) ? Deno.env.get(name) : undefined,
    async readStdin() {
      const chunks: Uint8Array[] = [];
      let bytes = 0;
      for await (const chunk of Deno.stdin.readable) {
        bytes += chunk.length;
        if (bytes > INPUT_BYTES_MAX) {
          throw new CliError(`Cannot read standard input: larger than ${INPUT_BYTES_MAX} bytes`);
        }
        chunks.push(chunk);
      }
      return new TextDecoder().decode(concatBytes(...chunks));
    },
    onInterrupt(handler) {
      Deno.addSignalListener("SIGINT", handler);
      return () => Deno.removeSignalListener("SIGINT", handler);
    },
  };
  let code: number;
  try {
    code = await run(Deno.args, io);
  } catch (e) {
    // Not an operating failure: a bug. Say so, with the trace to report.
    io.stderr(`Internal error (please report it): ${(e as Error)?.stack ?? String(e)}\n`);
    code = 1;
  }
  Deno.exit(code);
}
