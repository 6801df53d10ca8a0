/**
 * The command line's files: reading inputs (a path, or `-` for standard
 * input), JSON, key files, and writing outputs atomically — a text or a
 * download, as a new file or one that replaces another (temporary file,
 * flush, then link or rename).
 * Every failure is a {@link CliError} naming the file: a missing Deno
 * permission a {@link PermissionError}, an output that exists and may not be
 * replaced one with exit code 2 that names --force.
 *
 * @module
 */
import { exportKey, importKey, type KeyPair } from "../../sdk/mod.ts";
import { dirOf, fsyncDir } from "../../src/storage/durable_files.ts";
import { CliError } from "./output.ts";
import { PermissionError, requirePermissions } from "./permissions.ts";

/** Largest input read from a file or standard input: 16 MiB. */
export const INPUT_BYTES_MAX = 16 * 1024 * 1024;

/** Where inputs come from; standard input is read only when a path is `-`. */
export interface InputSource {
  /** The whole of standard input, as text. */
  readStdin(): Promise<string>;
}

/** How errors name the input at `path`: the path, or "from standard input" for `-`. */
export function inputName(path: string): string {
  return path === "-" ? "from standard input" : path;
}

/** `path`'s text, or standard input's for `-`. `what` names the input in errors ("envelope"). */
export async function readInput(source: InputSource, path: string, what: string): Promise<string> {
  const name = inputName(path);
  if (path !== "-") requirePermissions(`Cannot read the ${what} ${name}`, [{ name: "read", path }]);
  let text: string;
  try {
    if (path === "-") {
      text = await source.readStdin();
    } else {
      const info = await Deno.stat(path);
      if (!info.isFile) throw new CliError(`Cannot read the ${what} ${name}: not a file`);
      if (info.size > INPUT_BYTES_MAX) {
        throw new CliError(`Cannot read the ${what} ${name}: larger than ${INPUT_BYTES_MAX} bytes`);
      }
      text = await Deno.readTextFile(path);
    }
  } catch (e) {
    if (e instanceof CliError) throw e;
    if (e instanceof Deno.errors.NotCapable) {
      throw new PermissionError(`Cannot read the ${what} ${name}`, ["read"]);
    }
    throw new CliError(`Cannot read the ${what} ${name}: ${fileErrorText(e)}`);
  }
  if (text.length > INPUT_BYTES_MAX) {
    throw new CliError(`Cannot read the ${what} ${name}: larger than ${INPUT_BYTES_MAX} bytes`);
  }
  return text;
}

/**
 * `path`'s content (or standard input's for `-`) parsed as JSON. With
 * `secret`, a parse error does not say why: the parser's message quotes the
 * text, which in a key file is the private key.
 */
export async function readJsonInput(
  source: InputSource,
  path: string,
  what: string,
  options: { secret?: boolean } = {},
): Promise<unknown> {
  const text = await readInput(source, path, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    const why = options.secret ? "" : ` (${(e as Error).message})`;
    throw new CliError(`Cannot read the ${what} ${inputName(path)}: not JSON${why}`);
  }
}

/**
 * A key file: a private JWK as `exportKey` writes it (what `key new`,
 * `task start` and `task sitekey` write). `warn` is told when the file is
 * readable by others than its owner.
 */
export async function readKeyFile(
  source: InputSource,
  path: string,
  warn: (line: string) => void,
): Promise<KeyPair> {
  const jwk = await readJsonInput(source, path, "key file", { secret: true });
  if (!looksLikeJwk(jwk)) {
    // An envelope or a bundle given by mistake: the SDK would name the first
    // JWK member it lacks ("unsupported crv undefined"), which says nothing.
    throw new CliError(
      `Cannot read the key file ${inputName(path)}: not a key file (a private JWK, as key new ` +
        "writes)",
    );
  }
  let key: KeyPair;
  try {
    key = importKey(jwk);
  } catch (e) {
    throw new CliError(`Cannot read the key file ${inputName(path)}: ${(e as Error).message}`);
  }
  if (path !== "-") await warnIfReadableByOthers(path, "key file", warn);
  return key;
}

/** Whether `value` is a JSON Web Key at all: an object with its `kty`, `crv` or private `d`. */
function looksLikeJwk(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const jwk = value as Record<string, unknown>;
  return "kty" in jwk || "crv" in jwk || "d" in jwk;
}

/**
 * Tells `warn` when the secret file at `path` (a key file, an admin key
 * file) is readable by others than its owner: one line naming it and the
 * chmod that fixes it. `what` names the file ("key file").
 */
export async function warnIfReadableByOthers(
  path: string,
  what: string,
  warn: (line: string) => void,
): Promise<void> {
  const mode = (await Deno.stat(path)).mode;
  if (mode !== null && (mode & 0o077) !== 0) {
    warn(
      `Warning: the ${what} ${path} is readable by others (mode ${
        (mode & 0o777).toString(8).padStart(4, "0")
      }); run chmod 600 ${path}`,
    );
  }
}

/** The text of a key file for `key`: its private JWK, as `task start` writes one. */
export function keyFileText(key: KeyPair): string {
  return JSON.stringify(exportKey(key), null, 2) + "\n";
}

/** How {@link writeOutput} and {@link checkOutput} treat an output file. */
export interface OutputOptions {
  /** The file's name in errors ("key file", "proof bundle"). */
  what: string;
  /** Replace an existing file (`--force`); without it one is refused. */
  replace: boolean;
}

/**
 * Checks, before a command does its work (a fetch, a signature), what
 * {@link writeOutput} will: that the read and write permissions are granted
 * for `path`, and — unless `replace` — that nothing is there yet, refused
 * with exit code 2 naming --force. Only an early answer: {@link writeOutput}
 * refuses an existing file again, atomically.
 */
export async function checkOutput(path: string, options: OutputOptions): Promise<void> {
  const action = `Cannot write the ${options.what} ${path}`;
  requirePermissions(action, [
    { name: "write", path },
    { name: "read", path },
  ]);
  await checkFolder(action, path);
  if (options.replace) return;
  try {
    await Deno.lstat(path);
  } catch {
    // Nothing there (or nothing to say yet): writeOutput reports what it finds.
    return;
  }
  throw existsError(path, options.what);
}

/**
 * Refuses, with exit code 2 and a message that starts with `action`, a file
 * to write at `path` whose folder does not exist or is not a folder: a
 * folder is never made, so a missing one is a mistake in the command, said
 * before any work. Anything else (a permission) is left to the write.
 */
export async function checkFolder(action: string, path: string): Promise<void> {
  const folder = dirOf(path);
  let folderInfo: Deno.FileInfo | undefined;
  try {
    folderInfo = await Deno.stat(folder);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CliError(`${action}: its folder ${folder} does not exist (it is not created)`, 2);
    }
    // Anything else (a permission): the write reports what it finds.
  }
  if (folderInfo !== undefined && !folderInfo.isDirectory) {
    throw new CliError(`${action}: ${folder} is not a folder`, 2);
  }
}

/**
 * What {@link writeOutput} writes: all of a text, or the chunks of a stream
 * as they come (a download). A stream that throws stops the write: nothing
 * is left under the output's name.
 */
export type OutputContent = string | AsyncIterable<Uint8Array>;

/**
 * Writes `content` to `path` so that a crash never leaves half a file there:
 * into a temporary file beside it (created with `mode`), flushed to disk,
 * then given its name — by a rename over any existing file with `replace`,
 * else by a hard link that refuses an existing one (exit code 2, naming
 * --force). Needs the write and read permissions for `path`'s folder (a
 * link and a rename read the temporary file's name). Resolves to the bytes
 * written. A {@link CliError} thrown by a streamed `content` (a download
 * that broke off, a check that failed) is thrown on as it is, after the
 * temporary file is removed; any other failure names the file.
 */
export async function writeOutput(
  path: string,
  content: OutputContent,
  options: OutputOptions & { mode?: number },
): Promise<number> {
  const action = `Cannot write the ${options.what} ${path}`;
  requirePermissions(action, [{ name: "write", path }, { name: "read", path }]);
  const suffix = Array.from(crypto.getRandomValues(new Uint8Array(6)))
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const tmp = `${path}.tmp-${suffix}`;
  let written = 0;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: options.mode });
    try {
      const chunks = typeof content === "string" ? [new TextEncoder().encode(content)] : content;
      for await (const bytes of chunks) {
        for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
        written += bytes.length;
      }
      await file.sync();
    } finally {
      file.close();
    }
    if (options.replace) await Deno.rename(tmp, path);
    else await Deno.link(tmp, path);
    // The new name itself survives a crash only once its folder is flushed too.
    await fsyncDir(dirOf(path));
  } catch (e) {
    if (e instanceof CliError) throw e;
    if (e instanceof Deno.errors.AlreadyExists && !options.replace) {
      throw existsError(path, options.what);
    }
    if (e instanceof Deno.errors.NotCapable) throw new PermissionError(action, ["write", "read"]);
    throw new CliError(`${action}: ${fileErrorText(e)}`);
  } finally {
    // After a rename there is nothing left to remove; after a link, the second name.
    await Deno.remove(tmp).catch(() => {});
  }
  return written;
}

/** An output that exists and may not be replaced: how it was called must change (exit code 2). */
function existsError(path: string, what: string): CliError {
  return new CliError(
    `Cannot write the ${what} ${path}: it exists (pass --force to replace it)`,
    2,
  );
}

/** A file operation's error as a short phrase. */
export function fileErrorText(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  return e instanceof Error ? e.message : String(e);
}
