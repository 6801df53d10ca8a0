/**
 * Structured logs of a site or a gateway: one record per event an operator
 * needs (an election, a membership change, a peer out of reach, a halt),
 * never one per transaction or per message.
 *
 * A record has a time, a level (`debug` < `info` < `warn` < `error`), the
 * process's context (`site` or `gateway`: its name), a message that stays
 * the same from one occurrence to the next (so a log store can count it),
 * and fields. Two formats, one record per line on stderr (stdout is for the
 * lines scripts read, such as `site <name> <url>`):
 *
 * - `text`, for a terminal: `<ISO time> <LEVEL> <context> <message> k=v…`
 *   (a value with a space, a quote or `=` is a JSON string; an object or a
 *   list is JSON; an error is its message, after its name unless that is
 *   `Error`, then its causes the same way: `"<message>; cause: TypeError:
 *   <message>"`, at most four).
 * - `json`, for log aggregation: `{"time", "level", "site", "msg", …fields}`,
 *   an error as `{name, message, stack}` (and its `cause`).
 *
 * There is no global logger: whoever builds a site or a gateway passes one
 * in ({@link createLogger}), and tests pass one that records.
 *
 * @module
 */
import { z } from "zod";

/** The levels, least severe first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** How severe a record is. */
export type LogLevel = (typeof LOG_LEVELS)[number];
/** The formats of a log line. */
export const LOG_FORMATS = ["text", "json"] as const;
/** How a record is written: `text` for a terminal, `json` for log aggregation. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** A record's fields; `undefined` values are left out. */
export type LogFields = Record<string, unknown>;

/** Writes records at or above its level; never throws. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to each record (before the record's own, which win). */
  with(fields: LogFields): Logger;
  /** Whether a record at `level` is written (to skip building fields that cost something). */
  enabled(level: LogLevel): boolean;
}

/** `log` in a site's or a gateway's config. */
export const logConfigSchema = z.strictObject({
  /** The least severe level written. */
  level: z.enum(LOG_LEVELS, { error: 'must be "debug", "info", "warn" or "error"' })
    .default("info"),
  /** `text` (a terminal) or `json` (one object per line, for log aggregation). */
  format: z.enum(LOG_FORMATS, { error: 'must be "text" or "json"' }).default("text"),
}).default({ level: "info", format: "text" });

/** A parsed `log` config. */
export type LogConfig = z.output<typeof logConfigSchema>;

/**
 * Why `value` cannot be a `log` config's `member`, as the end of a one-line
 * message whose start says where the value came from — `EDGELEDGER_LOG_LEVEL
 * must be "debug", "info", "warn" or "error", not "loud"` — or undefined
 * when it can be.
 */
export function logValueProblem(member: keyof LogConfig, value: unknown): string | undefined {
  const allowed: readonly unknown[] = member === "level" ? LOG_LEVELS : LOG_FORMATS;
  if (allowed.includes(value)) return undefined;
  const rule = member === "level"
    ? 'must be "debug", "info", "warn" or "error"'
    : 'must be "text" or "json"';
  // An environment variable or a flag may be long: the start says enough.
  const shown = typeof value === "string" ? value.slice(0, 100) : value;
  return `${rule}, not ${JSON.stringify(shown)?.slice(0, 102) ?? String(shown)}`;
}

/**
 * `config` with the environment's overrides, `EDGELEDGER_LOG_LEVEL` and
 * `EDGELEDGER_LOG_FORMAT`. Throws an Error with a one-line message naming
 * the variable when its value is not a level or a format.
 */
export function logConfigWithEnv(
  config: LogConfig,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): LogConfig {
  const level = env("EDGELEDGER_LOG_LEVEL");
  const format = env("EDGELEDGER_LOG_FORMAT");
  const levelProblem = level === undefined ? undefined : logValueProblem("level", level);
  if (levelProblem !== undefined) throw new Error(`EDGELEDGER_LOG_LEVEL ${levelProblem}`);
  const formatProblem = format === undefined ? undefined : logValueProblem("format", format);
  if (formatProblem !== undefined) throw new Error(`EDGELEDGER_LOG_FORMAT ${formatProblem}`);
  return {
    level: (level as LogLevel | undefined) ?? config.level,
    format: (format as LogFormat | undefined) ?? config.format,
  };
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** The least severe level written; default `info`. */
  level?: LogLevel;
  /** Default `text`. */
  format?: LogFormat;
  /**
   * Who writes, e.g. `{site: "site-a"}` or `{gateway: "gw-1"}`: in JSON,
   * members before `msg`; in text, their values before the message.
   */
  context?: Readonly<Record<string, string>>;
  /** Receives each line, without its newline; default: stderr. */
  write?: (line: string) => void;
  /** The clock, ms since the epoch; default `Date.now`. */
  now?: () => number;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A logger that writes records as {@link LoggerOptions} say. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const least = RANK[options.level ?? "info"];
  const lineOf = options.format === "json" ? jsonLine : textLine;
  const context = options.context ?? {};
  const write = options.write ?? writeStderr;
  const now = options.now ?? Date.now;
  const make = (bound: LogFields): Logger => {
    const log = (level: LogLevel, msg: string, fields: LogFields | undefined) => {
      if (RANK[level] < least) return;
      const all = fields === undefined ? bound : { ...bound, ...fields };
      let line: string;
      try {
        line = lineOf(now(), level, context, msg, all);
      } catch (e) {
        // A field no encoder takes (a cycle, say) must not cost the record.
        line = lineOf(now(), level, context, msg, { logError: String(e) });
      }
      try {
        write(line);
      } catch {
        // A log that cannot be written (stderr closed) must not stop the site.
      }
    };
    return {
      debug: (msg, fields) => log("debug", msg, fields),
      info: (msg, fields) => log("info", msg, fields),
      warn: (msg, fields) => log("warn", msg, fields),
      error: (msg, fields) => log("error", msg, fields),
      with: (fields) => make({ ...bound, ...fields }),
      enabled: (level) => RANK[level] >= least,
    };
  };
  return make({});
}

/** A logger that writes nothing. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  with: () => silentLogger,
  enabled: () => false,
};

const encoder = new TextEncoder();

/** Writes `line` and a newline to stderr, whole (a pipe may take it in parts). */
function writeStderr(line: string): void {
  const bytes = encoder.encode(line + "\n");
  for (let n = 0; n < bytes.length;) {
    const wrote = Deno.stderr.writeSync(bytes.subarray(n));
    // A stream that takes nothing will take nothing more: give the line up.
    if (wrote <= 0) return;
    n += wrote;
  }
}

/** Keys a record's own members take in JSON; a field of the same name gets a `field.` prefix. */
const RESERVED = new Set(["time", "level", "msg"]);

function jsonLine(
  time: number,
  level: LogLevel,
  context: Readonly<Record<string, string>>,
  msg: string,
  fields: LogFields,
): string {
  const record: Record<string, unknown> = { time: new Date(time).toISOString(), level };
  for (const [k, v] of Object.entries(context)) record[k] = v;
  record.msg = msg;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    record[RESERVED.has(k) || k in context ? `field.${k}` : k] = v;
  }
  return JSON.stringify(record, jsonValue);
}

/** A replacer: errors as `{name, message, stack, cause}`, bigints as decimal strings. */
function jsonValue(_key: string, value: unknown): unknown {
  if (value instanceof Error) return errorObject(value, 0);
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** Causes followed, at most (in both formats): a chain of errors is short, a cycle is not. */
const causeDepthMax = 4;

function errorObject(e: Error, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { name: e.name, message: e.message };
  // A `code` or `status` of a system or domain error says what it was.
  for (const key of ["code", "status", "type"]) {
    const v = (e as unknown as Record<string, unknown>)[key];
    if (typeof v === "string" || typeof v === "number") out[key] = v;
  }
  if (e.stack !== undefined) out.stack = e.stack;
  if (e.cause !== undefined && depth < causeDepthMax) {
    out.cause = e.cause instanceof Error ? errorObject(e.cause, depth + 1) : String(e.cause);
  }
  return out;
}

function textLine(
  time: number,
  level: LogLevel,
  context: Readonly<Record<string, string>>,
  msg: string,
  fields: LogFields,
): string {
  let line = `${new Date(time).toISOString()} ${level.toUpperCase().padEnd(5)}`;
  for (const v of Object.values(context)) line += ` ${v}`;
  line += ` ${msg.replace(/[\r\n]+/g, " ")}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) line += ` ${k}=${textValue(v)}`;
  }
  return line;
}

/** A value that needs no quotes: printable ASCII but a space, a quote, a backslash or `=`. */
const BARE = /^[!#-<>-[\]-~]+$/;

function textValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(errorText(v));
  if (typeof v === "string") return BARE.test(v) ? v : JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint" || v === null) {
    return String(v);
  }
  return JSON.stringify(v, jsonValue) ?? String(v);
}

/**
 * `e` in one line's worth of text: its name (unless plain `Error`) and
 * message, then each cause the same way after `; cause: ` (a cause that is
 * not an Error as `String()` makes it), at most {@link causeDepthMax}.
 */
function errorText(e: Error): string {
  const head = (x: Error) => x.name === "Error" ? x.message : `${x.name}: ${x.message}`;
  let text = head(e);
  let cause = e.cause;
  for (let depth = 0; cause !== undefined && depth < causeDepthMax; depth++) {
    text += `; cause: ${cause instanceof Error ? head(cause) : String(cause)}`;
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return text;
}

/**
 * Warns when a durable write (an fsync, mostly) takes longer than
 * `thresholdMs`, as etcd warns of a slow fdatasync. Only the caller's
 * measurement is needed (a `performance.now()` pair it may take anyway).
 * On a disk that stays slow it warns at most once per `intervalMs`, with
 * how many slow writes there were since its last warning.
 */
export class SlowWriteWarning {
  /** Slow writes since the start. */
  count = 0;
  #since = 0;
  #slowestMs = 0;
  #lastWarnAt = -Infinity;

  constructor(
    readonly log: Logger,
    /** What is written, e.g. `raft log` or `blocks`. */
    readonly write: string,
    readonly thresholdMs = 1000,
    readonly intervalMs = 10_000,
    readonly now: () => number = () => performance.now(),
  ) {}

  /** Notes a write that took `ms`; warns when it was slow and the last warning is old enough. */
  observe(ms: number): void {
    if (!(ms > this.thresholdMs)) return;
    this.count++;
    this.#since++;
    this.#slowestMs = Math.max(this.#slowestMs, ms);
    const t = this.now();
    if (t - this.#lastWarnAt < this.intervalMs) return;
    this.#lastWarnAt = t;
    this.log.warn("slow durable write", {
      write: this.write,
      tookMs: Math.round(ms),
      thresholdMs: this.thresholdMs,
      slowWrites: this.#since,
      slowestMs: Math.round(this.#slowestMs),
    });
    this.#since = 0;
    this.#slowestMs = 0;
  }
}
