/**
 * The gateway's configuration: a JSON file, environment variables and
 * command-line flags, merged in that order (a flag wins) and validated by one
 * zod schema, so every source is held to the same rules and a bad value is
 * named in one line.
 *
 * Every key has a flag (`--kebab-case`, `--name value` or `--name=value`) and
 * an environment variable (`EDGELEDGER_GATEWAY_SNAKE_CASE`); list keys take a
 * comma-separated value there, and `--site` may also be repeated. `tls`'s
 * two files are `--tls-cert-file` and `--tls-key-file`
 * (`EDGELEDGER_GATEWAY_TLS_CERT_FILE`, `_TLS_KEY_FILE`), and `log`'s two
 * keys `--log-level` and `--log-format` (`EDGELEDGER_GATEWAY_LOG_LEVEL`,
 * `_LOG_FORMAT`; the sites' `EDGELEDGER_LOG_LEVEL` and `EDGELEDGER_LOG_FORMAT`
 * count too, below those). Relative file paths in the config file resolve
 * against its folder, others against the working directory. A bad log level
 * or format is named by where it came from: the flag, the variable, or the
 * config file's key.
 *
 * @module
 */
import { z } from "zod";
import { connectionLimitSchemas } from "../site/guarded_server.ts";
import { tlsFilesSchema } from "../site/tls.ts";
import { type LogConfig, logConfigSchema, logValueProblem } from "../log.ts";

const SITES_MISSING =
  'Must name at least one site URL (--site, EDGELEDGER_GATEWAY_SITES or "sites" in the config)';

/** The gateway config file's schema; units are in the names, every limit bounded. */
export const gatewayConfigSchema = z.strictObject({
  /** Interface to listen on. */
  host: z.string().min(1).default("127.0.0.1"),
  /** TCP port to listen on; 0 picks a free one (the `gateway <url>` line says which). */
  port: z.number().int().min(0).max(65535).default(7000),
  /** This gateway's name in `Via` headers. */
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, {
    error: "Must be 1–64 letters, digits, dots, dashes or underscores",
  }).default("edgeledger-gateway"),
  /** Base URLs of the sites (http or https, no path); at least one. */
  sites: z.array(z.string(), {
    error: (issue) => issue.input === undefined ? SITES_MISSING : undefined,
  }).min(1, { error: SITES_MISSING }).max(64).transform((urls, ctx) => {
    const out: string[] = [];
    for (const [i, u] of urls.entries()) {
      const url = siteUrl(u);
      if (url === undefined) {
        ctx.addIssue({
          code: "custom",
          path: [i],
          message: `"${u.slice(0, 200)}" is not an http(s) base URL without query or fragment`,
        });
      } else if (out.includes(url)) {
        ctx.addIssue({ code: "custom", path: [i], message: `${url} is listed twice` });
      } else out.push(url);
    }
    return out;
  }),
  /**
   * The "nearest" sites (a subset of `sites`): while one of them is healthy,
   * requests go to them only; the others take over when none is.
   */
  preferredSites: z.array(z.string()).max(64).default([]),
  /** The ledger id; learned from the sites' `/v1/status` when absent. */
  ledger: z.string().min(1).max(128).optional(),
  /** How often each site's `/v1/status` is polled, ms. */
  pollIntervalMs: z.number().int().min(50).max(60_000).default(1000),
  /** Longest a status poll may take, ms. */
  pollTimeoutMs: z.number().int().min(50).max(60_000).default(1000),
  /**
   * Longest a site may take to start answering a forwarded request (its
   * response headers), ms; `POST /v1/txs?wait=commit` adds its commit wait.
   */
  responseTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
  /**
   * Longest a site may leave a response body unfinished without sending a
   * byte, ms, once its headers are in. Counted only while the client waits
   * for more (a slow client never makes a site look stalled). Past it the
   * client's connection is cut (its status is already sent) and the site is
   * marked down. Event streams are judged by `eventsIdleTimeoutMs` instead.
   */
  bodyIdleTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
  /**
   * Longest an event stream (`text/event-stream`) may go without a byte
   * from its site, ms. A site sends a heartbeat comment every 15 s, so keep
   * it well above that. Past it the stream ends as if the site had closed it
   * (the client resumes with `Last-Event-ID`) and the site is marked down.
   */
  eventsIdleTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
  /** Most sites one request is tried on (first try included); retries only where safe. */
  attemptsMax: z.number().int().min(1).max(16).default(3),
  /**
   * Largest request body, bytes; larger answers 413 as a site does. Keep it
   * equal to the sites' `requestBytesMax` (so the gateway never refuses a
   * body a site would take).
   */
  requestBytesMax: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  /** Requests (event streams included) forwarded at once; one more answers 503. */
  inFlightRequestsMax: z.number().int().min(1).max(1_000_000).default(10_000),
  /**
   * No longer used: the gateway leaves expiry to the sites, which answer a
   * committed transaction's receipt however long ago it expired. Still
   * accepted so that configs which set it load; the gateway logs a warning.
   */
  expiredGraceMs: z.number().int().min(0).max(3_600_000).optional(),
  /** Longest the gateway waits at start for a site to tell it the ledger, ms. */
  startupWaitMs: z.number().int().min(0).max(600_000).default(30_000),
  /**
   * Close slow and idle clients (`src/site/guarded_server.ts`): with it the
   * gateway listens with Node's server and the five `client…` limits below;
   * without, with Deno's, which spends less CPU per request but has no
   * connection timeouts at all (then only behind a proxy that has them).
   */
  guardClientConnections: z.boolean().default(true),
  /** A client's TLS handshake and first request headers within this after it connects, ms. */
  clientHeadersTimeoutMs: connectionLimitSchemas.headersTimeoutMs,
  /** Longest pause while a client sends a request body, ms. */
  clientIdleTimeoutMs: connectionLimitSchemas.idleTimeoutMs,
  /** Longest an idle kept-alive client connection waits for its next request, ms. */
  clientKeepAliveTimeoutMs: connectionLimitSchemas.keepAliveTimeoutMs,
  /** Client connections open at once; one more is closed at once. */
  clientConnectionsMax: connectionLimitSchemas.maxConnections,
  /**
   * Client connections open at once from one address. Behind a proxy or a
   * NAT every client has the same address: raise it there.
   */
  clientConnectionsPerAddressMax: connectionLimitSchemas.maxConnectionsPerAddress,
  /** Run the stateless admission checks on single envelopes before forwarding them. */
  precheck: z.boolean().default(true),
  /** Serve HTTPS to clients with this PEM certificate chain and key; plain HTTP without. */
  tls: tlsFilesSchema.optional(),
  /** PEM CA certificates trusted, besides Deno's root store, for `https://` sites. */
  caFile: z.string().min(1).optional(),
  /**
   * A file holding a tenant API key the gateway sends with its own status
   * polls, for sites that serve requests only with a key (`requireApiKey:
   * "all"`); its budget must allow a poll per `pollIntervalMs`. Clients'
   * requests carry their own keys, passed on as they are.
   */
  siteApiKeyFile: z.string().min(1).optional(),
  /** What the gateway logs (`level`: the least severe written) and how (`format`: `text` or `json`). */
  log: logConfigSchema,
}).superRefine((c, ctx) => {
  for (const [i, u] of c.preferredSites.entries()) {
    const url = siteUrl(u);
    if (url === undefined || !c.sites.includes(url)) {
      ctx.addIssue({
        code: "custom",
        path: ["preferredSites", i],
        message: `"${u.slice(0, 200)}" is not one of the sites`,
      });
    }
  }
}).transform((c) => ({ ...c, preferredSites: c.preferredSites.map((u) => siteUrl(u)!) }));

/** A validated gateway configuration (defaults filled in, site URLs normalised). */
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;

/** A configuration the gateway cannot start with; the message is one line. */
export class GatewayConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GatewayConfigError";
  }
}

/** `--help` was asked for: the caller prints {@link GATEWAY_USAGE} and exits 0. */
export class GatewayHelpRequested extends Error {
  constructor() {
    super(GATEWAY_USAGE);
    this.name = "GatewayHelpRequested";
  }
}

type Kind = "string" | "int" | "bool" | "list";

/** Each key's type as flags and environment variables carry it. */
const KEYS: Record<string, Kind> = {
  host: "string",
  port: "int",
  name: "string",
  sites: "list",
  preferredSites: "list",
  ledger: "string",
  pollIntervalMs: "int",
  pollTimeoutMs: "int",
  responseTimeoutMs: "int",
  bodyIdleTimeoutMs: "int",
  eventsIdleTimeoutMs: "int",
  attemptsMax: "int",
  requestBytesMax: "int",
  inFlightRequestsMax: "int",
  expiredGraceMs: "int",
  startupWaitMs: "int",
  precheck: "bool",
  guardClientConnections: "bool",
  clientHeadersTimeoutMs: "int",
  clientIdleTimeoutMs: "int",
  clientKeepAliveTimeoutMs: "int",
  clientConnectionsMax: "int",
  clientConnectionsPerAddressMax: "int",
  caFile: "string",
  siteApiKeyFile: "string",
  // Flags and variables only: they set `tls.certFile` and `tls.keyFile`,
  // `log.level` and `log.format`.
  tlsCertFile: "string",
  tlsKeyFile: "string",
  logLevel: "string",
  logFormat: "string",
};

/**
 * Moves `tlsCertFile` and `tlsKeyFile` (flags, environment) into a `tls`
 * object, and `logLevel` and `logFormat` into a `log` object.
 */
function foldNested(values: Record<string, unknown>): Record<string, unknown> {
  const { tlsCertFile, tlsKeyFile, logLevel, logFormat, ...rest } = values;
  const out: Record<string, unknown> = rest;
  if (tlsCertFile !== undefined || tlsKeyFile !== undefined) {
    out.tls = {
      ...(tlsCertFile === undefined ? {} : { certFile: tlsCertFile }),
      ...(tlsKeyFile === undefined ? {} : { keyFile: tlsKeyFile }),
    };
  }
  if (logLevel !== undefined || logFormat !== undefined) {
    out.log = {
      ...(logLevel === undefined ? {} : { level: logLevel }),
      ...(logFormat === undefined ? {} : { format: logFormat }),
    };
  }
  return out;
}

/**
 * The object `key` (`tls`, `log`) of each source, merged member by member, a
 * later source winning (`undefined` when none has one).
 */
function mergeObject(key: string, ...sources: Record<string, unknown>[]): unknown {
  const given = sources.map((s) => s[key]).filter((t) => t !== undefined);
  if (given.length === 0) return undefined;
  if (given.some((t) => typeof t !== "object" || t === null || Array.isArray(t))) {
    return given.at(-1);
  }
  return Object.assign({}, ...given);
}

/** The config file's relative `tls`, `caFile` and `siteApiKeyFile` paths, resolved against its folder. */
function resolveFilePaths(fromFile: Record<string, unknown>, configPath: string) {
  const dir = configPath.includes("/") ? configPath.slice(0, configPath.lastIndexOf("/") + 1) : "";
  const resolve = (p: unknown) =>
    typeof p === "string" && p !== "" && !p.startsWith("/") ? dir + p : p;
  const out = { ...fromFile };
  if (out.caFile !== undefined) out.caFile = resolve(out.caFile);
  if (out.siteApiKeyFile !== undefined) out.siteApiKeyFile = resolve(out.siteApiKeyFile);
  const tls = out.tls;
  if (typeof tls === "object" && tls !== null && !Array.isArray(tls)) {
    const t = { ...tls } as Record<string, unknown>;
    if (t.certFile !== undefined) t.certFile = resolve(t.certFile);
    if (t.keyFile !== undefined) t.keyFile = resolve(t.keyFile);
    out.tls = t;
  }
  return out;
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
const envName = (key: string) => "EDGELEDGER_GATEWAY_" + key.replace(/[A-Z]/g, "_$&").toUpperCase();

/** One line of usage, plus the flags. */
export const GATEWAY_USAGE = "usage: deno task gateway --site <url> [--site <url>...] " +
  "[--config gateway.json] [--port 7000] [--host 127.0.0.1] [--ledger <id>] " +
  "[" + Object.keys(KEYS).filter((k) => !["sites", "host", "port", "ledger"].includes(k))
  .map((k) => `--${kebab(k)} <${KEYS[k] === "list" ? "a,b" : KEYS[k]}>`).join("] [") + "]";

/**
 * Merges the config file (`--config` or `EDGELEDGER_GATEWAY_CONFIG`), the
 * environment and `args`, then validates. Throws {@link GatewayConfigError}
 * with a one-line message for an unknown flag, a value of the wrong type, an
 * unreadable file or a value the schema refuses (named with the file when
 * the file set it: `Cannot use gw.json: Unrecognized key: "sitez"`);
 * {@link GatewayHelpRequested} for `--help`.
 */
export async function loadGatewayConfig(
  args: readonly string[],
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
  readTextFile: (path: string) => Promise<string> = Deno.readTextFile,
): Promise<GatewayConfig> {
  const flags = parseFlags(args);
  const configPath = flags.config ?? env("EDGELEDGER_GATEWAY_CONFIG");
  delete flags.config;
  let fromFile: Record<string, unknown> = {};
  if (configPath !== undefined) {
    let text: string;
    try {
      text = await readTextFile(configPath);
    } catch (e) {
      throw new GatewayConfigError(`Cannot read ${configPath}: ${(e as Error).message}`);
    }
    try {
      fromFile = JSON.parse(text);
    } catch (e) {
      throw new GatewayConfigError(`Cannot parse ${configPath}: ${(e as Error).message}`);
    }
    if (typeof fromFile !== "object" || fromFile === null || Array.isArray(fromFile)) {
      throw new GatewayConfigError(`Cannot use ${configPath}: it must hold a JSON object`);
    }
    fromFile = resolveFilePaths(fromFile, configPath);
  }
  let fromEnv: Record<string, unknown> = {};
  for (const key of Object.keys(KEYS)) {
    const v = env(envName(key));
    if (v !== undefined) fromEnv[key] = convert(key, v, envName(key));
  }
  fromEnv = foldNested(fromEnv);
  // What the sites read too: below the gateway's own variables.
  const fromSitesEnv = foldNested({
    logLevel: env("EDGELEDGER_LOG_LEVEL"),
    logFormat: env("EDGELEDGER_LOG_FORMAT"),
  });
  const fromFlags = foldNested(flags.values);
  const merged = { ...fromFile, ...fromEnv, ...fromFlags };
  const tls = mergeObject("tls", fromFile, fromEnv, fromFlags);
  if (tls !== undefined) merged.tls = tls;
  const log = mergeObject("log", fromFile, fromSitesEnv, fromEnv, fromFlags);
  if (log !== undefined) merged.log = log;
  checkLogValues([
    [fromFile, (m) => `log.${m} in ${configPath}`],
    [fromSitesEnv, (m) => m === "level" ? "EDGELEDGER_LOG_LEVEL" : "EDGELEDGER_LOG_FORMAT"],
    [fromEnv, (m) => envName(m === "level" ? "logLevel" : "logFormat")],
    [fromFlags, (m) => m === "level" ? "--log-level" : "--log-format"],
  ]);
  const parsed = gatewayConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue.path.join(".");
    // A key the value in force came from the config file alone (an unknown
    // key can come from nowhere else): the message names the file.
    const key = issue.path[0];
    const fromFileOnly = configPath !== undefined &&
      (key === undefined ||
        (typeof key === "string" && key in fromFile && !(key in fromEnv) &&
          !(key in fromFlags) && !(key in fromSitesEnv)));
    if (fromFileOnly) {
      throw new GatewayConfigError(
        `Cannot use ${configPath}: ${where === "" ? "" : `${where}: `}${issue.message}`,
      );
    }
    throw new GatewayConfigError(`${where || "config"}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * Throws a {@link GatewayConfigError} naming the source of the log level or
 * format in force when that value is not one (the schema would name only
 * `log.level`). `sources` are each source's values (its `log` object, if
 * any) and how it names a member, lowest first: the last that sets a member
 * is the one in force.
 */
function checkLogValues(
  sources: Array<[Record<string, unknown>, (member: keyof LogConfig) => string]>,
): void {
  for (const member of ["level", "format"] as const) {
    for (const [values, name] of sources.toReversed()) {
      const log = values.log;
      // A `log` that is not an object is the schema's to refuse.
      if (typeof log !== "object" || log === null || Array.isArray(log)) continue;
      const value = (log as Record<string, unknown>)[member];
      if (value === undefined) continue;
      const problem = logValueProblem(member, value);
      if (problem !== undefined) throw new GatewayConfigError(`${name(member)} ${problem}`);
      break;
    }
  }
}

/** Flags to config values (`--site` accumulates); `config` is the file's path. */
function parseFlags(args: readonly string[]): { config?: string; values: Record<string, unknown> } {
  const byFlag = new Map(Object.keys(KEYS).map((k) => [`--${kebab(k)}`, k]));
  byFlag.set("--site", "sites");
  const out: { config?: string; values: Record<string, unknown> } = { values: {} };
  for (let k = 0; k < args.length; k++) {
    const arg = args[k];
    if (arg === "--help" || arg === "-h") throw new GatewayHelpRequested();
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? args[++k] : arg.slice(eq + 1);
    if (flag !== "--config" && !byFlag.has(flag)) {
      throw new GatewayConfigError(
        `Unknown flag ${JSON.stringify(arg.slice(0, 100))} (see --help)`,
      );
    }
    if (value === undefined) throw new GatewayConfigError(`Flag ${flag} needs a value`);
    if (flag === "--config") {
      out.config = value;
      continue;
    }
    const key = byFlag.get(flag)!;
    const converted = convert(key, value, flag);
    if (flag === "--site") {
      out.values.sites = [
        ...(out.values.sites as string[] | undefined ?? []),
        ...converted as string[],
      ];
    } else out.values[key] = converted;
  }
  return out;
}

function convert(key: string, value: string, source: string): unknown {
  switch (KEYS[key]) {
    case "int":
      if (!/^(0|[1-9][0-9]{0,15})$/.test(value.trim())) {
        throw new GatewayConfigError(`${source} must be a non-negative integer, not "${value}"`);
      }
      return Number(value.trim());
    case "bool":
      if (value !== "true" && value !== "false") {
        throw new GatewayConfigError(`${source} must be true or false, not "${value}"`);
      }
      return value === "true";
    case "list":
      return value.split(",").map((s) => s.trim()).filter((s) => s !== "");
    default:
      return value;
  }
}

/** `u` as a base URL without a trailing slash, or undefined when it is not one. */
function siteUrl(u: string): string | undefined {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    return undefined;
  }
  return url.href.replace(/\/+$/, "");
}

/** A bad `siteApiKeyFile`: the gateway does not start (exit code 2). */
export class SiteApiKeyError extends Error {}

/** The tenant API key in `path` (`siteApiKeyFile`): one line, 16–256 characters without spaces. */
export async function readSiteApiKey(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new SiteApiKeyError(
      `Cannot use siteApiKeyFile ${path}: ${
        e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message
      }`,
    );
  }
  const key = text.trim();
  if (!/^\S{16,256}$/.test(key)) {
    throw new SiteApiKeyError(
      `Cannot use siteApiKeyFile ${path}: it holds no API key (one line of 16 to 256 characters ` +
        "without spaces)",
    );
  }
  return key;
}
