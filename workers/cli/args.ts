/**
 * The command line's argument parser: `--flag value`, `--flag=value`,
 * boolean `--flag`, repeatable flags, `-h`, `--` to end the flags, and `-`
 * as an ordinary argument (standard input). Pure: it reads only the
 * arguments it is given; every mistake is a {@link UsageError}.
 *
 * @module
 */

/** A flag a command accepts. */
export interface FlagSpec {
  /** `string` takes a value; `boolean` takes none. */
  type: "string" | "boolean";
  /** May be given more than once (values kept in order). Only for `string`. */
  multiple?: boolean;
  /** The value's placeholder in help, e.g. `FILE`. */
  value?: string;
  /** One line of help. */
  help: string;
}

/** Flags by name, without the leading `--`. */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** The parsed value of one flag of `S`. */
export type FlagValue<S extends FlagSpec> = S extends { type: "boolean" } ? boolean
  : S extends { multiple: true } ? string[]
  : string | undefined;

/** The parsed flags of `S`: booleans default to false, repeatable ones to `[]`. */
export type FlagValues<S extends FlagSpecs> = { [K in keyof S]: FlagValue<S[K]> };

/** What {@link parseArgs} found. */
export interface ParsedArgs<S extends FlagSpecs> {
  /** Every flag of the specs, given or defaulted. */
  flags: FlagValues<S>;
  /** The arguments that are not flags, in order. */
  positionals: string[];
  /** True when `--help` or `-h` was given (it may stand anywhere). */
  help: boolean;
}

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  /** `message` says what is wrong, in sentence case. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Most arguments one invocation may carry. */
export const ARGS_MAX = 1000;

/**
 * Parses `argv` against `specs`. Flags may come before, between or after
 * the positionals; `--` ends the flags. A string flag takes the next
 * argument as its value unless that argument starts with `--`. Throws
 * {@link UsageError} for an unknown flag, a string flag without a value, a
 * value given to a boolean flag, or a flag that is not `multiple` given
 * twice.
 *
 * @example
 * ```ts
 * const { flags, positionals } = parseArgs(["show", "--out", "k.json"], {
 *   out: { type: "string", help: "where" },
 * });
 * // flags.out === "k.json", positionals = ["show"]
 * ```
 */
export function parseArgs<S extends FlagSpecs>(
  argv: readonly string[],
  specs: S,
): ParsedArgs<S> {
  if (argv.length > ARGS_MAX) throw new UsageError(`Too many arguments (more than ${ARGS_MAX})`);
  const flags: Record<string, string | boolean | string[] | undefined> = {};
  for (const [name, spec] of Object.entries(specs)) {
    flags[name] = spec.type === "boolean" ? false : spec.multiple ? [] : undefined;
  }
  const seen = new Set<string>();
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-h" || arg === "--help") {
      help = true;
      continue;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    if (!arg.startsWith("--")) throw new UsageError(`Unknown flag ${arg}`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined) throw new UsageError(`Unknown flag --${name}`);
    if (seen.has(name) && !spec.multiple) throw new UsageError(`Flag --${name} is given twice`);
    seen.add(name);
    if (spec.type === "boolean") {
      if (eq >= 0) throw new UsageError(`Flag --${name} takes no value`);
      flags[name] = true;
      continue;
    }
    let value: string;
    if (eq >= 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) {
        // A value that starts with "--" (a base64url key may) goes after "=".
        const hint = next === undefined ? "" : `; for a value that starts with --, --${name}=VALUE`;
        throw new UsageError(
          `Flag --${name} needs a value${spec.value ? ` (${spec.value})` : ""}${hint}`,
        );
      }
      value = next;
      i++;
    }
    if (spec.multiple) (flags[name] as string[]).push(value);
    else flags[name] = value;
  }
  return { flags: flags as FlagValues<S>, positionals, help };
}

/** Units {@link parseDuration} accepts, in milliseconds. */
const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Longest duration {@link parseDuration} accepts: 30 days. */
export const DURATION_MS_MAX = 30 * 86_400_000;

/**
 * A duration such as `500ms`, `30s`, `10m`, `2h` or `1d`, in milliseconds:
 * an integer and a unit, above 0 and at most `maxMs` (default
 * {@link DURATION_MS_MAX}). Throws {@link UsageError} naming `flag`
 * otherwise.
 *
 * @example
 * ```ts
 * parseDuration("10m", "--expires-in"); // 600000
 * ```
 */
export function parseDuration(text: string, flag: string, maxMs = DURATION_MS_MAX): number {
  const m = /^([0-9]{1,9})(ms|s|m|h|d)$/.exec(text);
  const ms = m ? Number(m[1]) * DURATION_UNITS_MS[m[2]] : NaN;
  if (!(ms > 0 && ms <= maxMs)) {
    const [unit, unitMs] = Object.entries(DURATION_UNITS_MS)
      .filter(([, u]) => maxMs % u === 0).at(-1)!;
    throw new UsageError(
      `Flag ${flag} must be a duration like 30s, 10m or 2h (above 0, at most ` +
        `${maxMs / unitMs}${unit}), not "${text}"`,
    );
  }
  return ms;
}

/**
 * A non-negative integer (a height, a quorum); throws {@link UsageError}
 * naming `flag` otherwise.
 *
 * @example
 * ```ts
 * parseCount("12", "--from"); // 12
 * ```
 */
export function parseCount(text: string, flag: string): number {
  if (!/^(0|[1-9][0-9]{0,14})$/.test(text)) {
    throw new UsageError(`Flag ${flag} must be a whole number, not "${text}"`);
  }
  return Number(text);
}
