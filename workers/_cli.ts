/**
 * What the operator commands (`task backup`, `task restore`, `task
 * integrity`) share: reading `--flag value` arguments and the site config
 * they act on. Internal to `workers/`.
 *
 * @module
 */
import { type LoadedSiteFiles, loadSiteFiles } from "../src/site/config.ts";

/**
 * Whether `args` ask for help (`--help` or `-h`). A command that is asked
 * prints its usage to standard output and exits 0, doing nothing else, as
 * etcdctl and rqlite do: asking how to run it is not a mistake in running it.
 */
export function helpAsked(args: readonly string[]): boolean {
  return args.includes("--help") || args.includes("-h");
}

/** The value after `name` in `args`, if `name` is there. */
export function argValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** A command's site config (`--config`), loaded. */
export interface CommandConfig {
  configPath: string;
  loaded: LoadedSiteFiles;
}

/** A command's site config and the value of its one other required flag. */
export interface CommandInput extends CommandConfig {
  value: string;
}

/**
 * Reads `--config` from `args` and loads the config. Resolves to the exit
 * code 2 (after printing `usage`, or why the config cannot be read) when the
 * flag is missing or the config is unreadable.
 */
export async function commandConfig(
  args: readonly string[],
  usage: string,
): Promise<CommandConfig | 2> {
  const configPath = argValue(args, "--config");
  if (!configPath) {
    console.error(`usage: ${usage}`);
    return 2;
  }
  try {
    return { configPath, loaded: await loadSiteFiles(configPath) };
  } catch (e) {
    // The config's errors name the config file ("Cannot read <config>: genesisFile …").
    const message = (e as Error).message;
    console.error(
      message.includes(configPath)
        ? message
        : `Cannot read the site config ${configPath}: ${message}`,
    );
    return 2;
  }
}

/**
 * Reads `--config` and `flag` from `args` and loads the config. Resolves to
 * the exit code 2 (after printing `usage`, or why the config cannot be read)
 * when either flag is missing or the config is unreadable.
 */
export async function commandInput(
  args: readonly string[],
  flag: string,
  usage: string,
): Promise<CommandInput | 2> {
  const value = argValue(args, flag);
  if (!value) {
    console.error(`usage: ${usage}`);
    return 2;
  }
  const config = await commandConfig(args, usage);
  return config === 2 ? 2 : { ...config, value };
}

/** What `--replay [--scratch <dir>]` asks of `task integrity` and `task restore`. */
export interface ReplayArgs {
  replay: boolean;
  scratchDir?: string;
}

/**
 * Reads `--replay` and `--scratch <dir>` from `args`. Resolves to the exit
 * code 2, after saying why (`refused` ends that line), for `--scratch`
 * without `--replay` or a `--scratch` folder that does not exist.
 */
export async function replayArgs(
  args: readonly string[],
  usage: string,
  refused = "",
): Promise<ReplayArgs | 2> {
  const replay = args.includes("--replay");
  const scratchDir = argValue(args, "--scratch");
  if (scratchDir === undefined) return { replay };
  if (!replay) {
    console.error(`usage: ${usage} (--scratch goes with --replay)`);
    return 2;
  }
  if (!(await Deno.stat(scratchDir).then((s) => s.isDirectory, () => false))) {
    console.error(`Cannot replay into ${scratchDir}: no such folder${refused}`);
    return 2;
  }
  return { replay, scratchDir };
}
