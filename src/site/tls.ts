/**
 * TLS for sites and gateways, opt-in: the PEM files a server presents
 * (`tls: {certFile, keyFile}`) and the extra CA certificates it trusts when
 * it connects to other sites (`caFile`), read at start with errors that
 * name the file and say what is wrong with it, in one line, and again when
 * they change ({@link ReloadingClient}, `https_server.ts`).
 *
 * TLS adds confidentiality and lets a client authenticate the server it
 * talks to. It does not replace the peer signatures of `peers.ts`: a Raft
 * message is still signed by its sender's site key inside the TLS
 * connection, so a site authenticates its peers by key, never by
 * certificate (no client certificates are asked for).
 *
 * @module
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { z } from "zod";
import type { Logger } from "../log.ts";
import { FileReloader, oneLine, type ReloadOutcome } from "./file_reloader.ts";

/** `tls` in a site's or a gateway's config: the PEM files it serves HTTPS with. */
export const tlsFilesSchema = z.strictObject({
  /** PEM certificate chain: the server's certificate first, then any intermediates. */
  certFile: z.string().min(1),
  /** PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1). */
  keyFile: z.string().min(1),
  /**
   * How often the server looks for renewed files, ms (see `https_server.ts`);
   * 0: only on SIGHUP. Default 60 s.
   */
  checkIntervalMs: z.number().int().min(0).max(86_400_000).optional(),
});

/** The PEM files a server presents. */
export type TlsFiles = z.infer<typeof tlsFilesSchema>;

/** What `Deno.serve` takes to serve HTTPS, and the files it came from (for errors). */
export interface ServeTls {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

/** A TLS file that cannot be used: missing, unreadable or not the PEM it should be. One line. */
export class TlsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TlsConfigError";
  }
}

/** Largest PEM file read, bytes: a chain or a CA bundle is a few KiB, the system store about 200. */
export const pemFileBytesMax = 1024 * 1024;

const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
const PRIVATE_KEY_PEM = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;
const LEGACY_ENCRYPTED = /^Proc-Type:\s*4,\s*ENCRYPTED/m;

/**
 * Reads a server's certificate chain and key. `field` names the config key
 * in errors (`tls`). Throws {@link TlsConfigError} when a file is missing,
 * unreadable, or holds no PEM certificate (resp. private key), when the
 * key is encrypted, and when it is not the key of the first certificate
 * ({@link certificateInfo}): before a site opens its database, and for either
 * server (node's would listen and fail every handshake).
 */
export async function readServeTls(files: TlsFiles, field = "tls"): Promise<ServeTls> {
  const cert = await readPem(files.certFile, `${field}.certFile`);
  if (cert.match(CERTIFICATE_PEM) === null) {
    throw new TlsConfigError(
      `Cannot use ${field}.certFile ${files.certFile}: it holds no PEM certificate`,
    );
  }
  const key = await readPem(files.keyFile, `${field}.keyFile`);
  const keyHeader = PRIVATE_KEY_PEM.exec(key);
  if (keyHeader === null) {
    throw new TlsConfigError(
      `Cannot use ${field}.keyFile ${files.keyFile}: it holds no PEM private key`,
    );
  }
  // PKCS#8 says so in its label; the legacy PKCS#1/SEC1 form in a header line.
  if (keyHeader[0].includes("ENCRYPTED") || LEGACY_ENCRYPTED.test(key)) {
    throw new TlsConfigError(
      `Cannot use ${field}.keyFile ${files.keyFile}: the key is encrypted (store it unencrypted, mode 0600)`,
    );
  }
  const tls = { cert, key, certFile: files.certFile, keyFile: files.keyFile };
  certificateInfo(tls, field);
  return tls;
}

/** What a server says about the certificate it serves. */
export interface CertificateInfo {
  /** When it expires, ms since the epoch. */
  notAfter: number;
  /** Its serial number, hex. */
  serial: string;
}

/**
 * Reads the first certificate of a chain and checks that `key` is its
 * private key. Throws {@link TlsConfigError} naming the files otherwise.
 */
export function certificateInfo(tls: ServeTls, field = "tls"): CertificateInfo {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(tls.cert);
  } catch (e) {
    throw new TlsConfigError(
      `Cannot use ${field}.certFile ${tls.certFile}: its first certificate does not parse (${
        oneLine(e)
      })`,
    );
  }
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(tls.key));
  } catch (e) {
    throw new TlsConfigError(
      `Cannot use ${field}.keyFile ${tls.keyFile}: the key does not parse (${oneLine(e)})`,
    );
  }
  if (!matches) {
    throw new TlsConfigError(
      `Cannot use ${field}.keyFile ${tls.keyFile}: it is not the key of the certificate in ${field}.certFile ${tls.certFile}`,
    );
  }
  return {
    notAfter: cert.validToDate.getTime(),
    serial: cert.serialNumber.toLowerCase(),
  };
}

/**
 * What is wrong with a certificate that serves nonetheless, to be said at
 * start: it expired (clients refuse it), or it does not name `host` (the
 * host of the URL the server is reached at) in its subjectAltName (clients
 * that check the name refuse it). Empty when nothing is; never throws on a
 * certificate {@link certificateInfo} took.
 */
export function certificateDoubts(
  tls: ServeTls,
  options: { now: number; host?: string },
): string[] {
  const cert = new X509Certificate(tls.cert);
  const doubts: string[] = [];
  if (cert.validToDate.getTime() <= options.now) {
    doubts.push(
      `the certificate in ${tls.certFile} expired at ${cert.validToDate.toISOString()}: ` +
        "clients refuse it",
    );
  } else if (cert.validFromDate.getTime() > options.now) {
    doubts.push(
      `the certificate in ${tls.certFile} is valid only from ${cert.validFromDate.toISOString()}`,
    );
  }
  const host = options.host?.replace(/^\[(.*)\]$/, "$1");
  if (host !== undefined && host !== "") {
    const ip = /^[\d.]+$/.test(host) || host.includes(":");
    const named = ip ? cert.checkIP(host) : cert.checkHost(host);
    if (named === undefined) {
      doubts.push(
        `the certificate in ${tls.certFile} does not name ${host} (its subjectAltName): ` +
          "clients that reach this server by that name refuse it",
      );
    }
  }
  return doubts;
}

/**
 * Reads the CA certificates of `path`, one PEM string each (a bundle may
 * hold several). Throws {@link TlsConfigError} when the file is missing,
 * unreadable or holds no PEM certificate (Deno would otherwise ignore it),
 * or a certificate Deno cannot load (it would otherwise fail later without
 * naming the file).
 */
export async function readCaCerts(path: string, field = "caFile"): Promise<string[]> {
  const certs = (await readPem(path, field)).match(CERTIFICATE_PEM);
  if (certs === null) {
    throw new TlsConfigError(`Cannot use ${field} ${path}: it holds no PEM certificate`);
  }
  try {
    Deno.createHttpClient({ caCerts: [...certs] }).close();
  } catch (e) {
    throw new TlsConfigError(
      `Cannot use ${field} ${path}: ${oneLine((e as Error)?.message ?? String(e))}`,
    );
  }
  return [...certs];
}

/**
 * A client that also trusts `caCerts`, or undefined (the default `fetch`,
 * with Deno's root store) when there are none: for a command's connections
 * (`task start`, `task restore`); a running server's is a
 * {@link ReloadingClient}, built on it. The caller closes it when done.
 */
export function trustingClient(
  caCerts: readonly string[] | undefined,
): Deno.HttpClient | undefined {
  return caCerts === undefined ? undefined : Deno.createHttpClient({ caCerts: [...caCerts] });
}

/** A client, or where to find the current one (a {@link ReloadingClient}'s). */
export type ClientSource = Deno.HttpClient | (() => Deno.HttpClient | undefined) | undefined;

/** The client `source` stands for now. */
export function clientOf(source: ClientSource): Deno.HttpClient | undefined {
  return typeof source === "function" ? source() : source;
}

/**
 * A `fetch` whose every request goes through `client` (the default `fetch`
 * without one; a function: the client it answers at each request).
 */
export function fetchVia(client: ClientSource): typeof fetch {
  if (client === undefined) return (input, init) => fetch(input, init);
  return (input, init) => {
    const c = clientOf(client);
    return fetch(input, c === undefined ? init : { ...init, client: c });
  };
}

/**
 * The client a server uses for its own connections (a site's to its peers,
 * a gateway's to sites) when it has a `caFile`: read again when the file
 * changes (looked at every `checkIntervalMs`, and on {@link reload}), so a
 * consortium can add a new CA, and later drop the old one, without
 * restarting its sites. New connections trust the new certificates;
 * connections already open (a Raft stream) go on until they end. A file
 * that cannot be used keeps the trust in service (see `file_reloader.ts`).
 */
export class ReloadingClient {
  #client: Deno.HttpClient | undefined;
  #files: FileReloader<string[]> | undefined;

  private constructor(client: Deno.HttpClient | undefined) {
    this.#client = client;
  }

  /** The client for `caCerts` (read from `caFile`); the default `fetch`'s without them. */
  static async open(
    caFile: string | undefined,
    caCerts: string[] | undefined,
    log: Logger,
    checkIntervalMs?: number,
  ): Promise<ReloadingClient> {
    if (caFile === undefined || caCerts === undefined) return new ReloadingClient(undefined);
    const c = new ReloadingClient(trustingClient(caCerts));
    c.#files = await FileReloader.watch<string[]>({
      what: "tls ca file",
      metric: "tls_ca",
      metricHelp: "CA files",
      paths: () => [caFile],
      load: () => readCaCerts(caFile),
      same: (a, b) => a.length === b.length && a.every((cert, i) => cert === b[i]),
      apply: (next) => {
        const old = c.#client;
        c.#client = trustingClient(next);
        // Requests under way on the old client go on; none start on it again.
        old?.close();
        return Promise.resolve();
      },
      describe: (certs) => ({ caFile, certificates: certs.length }),
      failure: (e) => e instanceof TlsConfigError,
      log,
      checkIntervalMs,
    }, caCerts);
    return c;
  }

  /** This client as a {@link ClientSource}: what it is at each request. */
  readonly source = (): Deno.HttpClient | undefined => this.#client;

  /** Reads the CA file again; "unchanged" without one. */
  reload(trigger = "reload"): Promise<ReloadOutcome> {
    return this.#files?.reload(trigger) ?? Promise.resolve("unchanged");
  }

  /** Prometheus lines about the CA file (none without one). */
  metricsText(): string {
    return this.#files?.metricsText() ?? "";
  }

  /** Stops looking at the file and closes the client. */
  async close(): Promise<void> {
    await this.#files?.close();
    this.#client?.close();
  }
}

/** Why a `fetch` failed, as {@link fetchFailure} reads it. */
export interface FetchFailure {
  /** The reason in one line (at most 300 characters), without the URL. */
  reason: string;
  /**
   * The server's TLS certificate was refused, and why (rustls's words:
   * `invalid peer certificate: UnknownIssuer`): a configuration to fix — the
   * CA certificates the client trusts, or the server's certificate — not a
   * server that is down.
   */
  certificate?: string;
  /** The certificate's issuer is not trusted (`UnknownIssuer`): the client lacks its CA. */
  unknownIssuer: boolean;
}

/**
 * Why a `fetch` failed. Deno rejects with a bare `TypeError: fetch failed`;
 * the reason is in its `cause` ("error sending request for url (…): client
 * error (Connect): tcp connect error: Connection refused (os error 111)",
 * "…: invalid peer certificate: UnknownIssuer"), which this digs out, as a
 * site's peer sender does. An error without a cause (a timeout's) is its
 * own message.
 */
export function fetchFailure(e: unknown): FetchFailure {
  const err = e as { message?: unknown; cause?: { message?: unknown } } | undefined;
  const parts = [err?.message, err?.cause?.message]
    .filter((m): m is string => typeof m === "string" && m !== "")
    .map((m) => m.replace(/^error sending request for url \([^)]*\): /, ""));
  const joined = parts.length > 0 ? parts.join(": ") : String(e);
  const certificate = /[^:]*certificate[^\n]*$/i.exec(joined)?.[0].trim();
  return {
    reason: oneLine(joined),
    ...(certificate === undefined ? {} : { certificate: oneLine(certificate) }),
    unknownIssuer: certificate !== undefined && /UnknownIssuer/.test(certificate),
  };
}

/**
 * The error of a server that could not start with `tls`: Deno's reason (for
 * a key that does not belong to the certificate, "keys may not be
 * consistent: KeyMismatch") with the files it was given. An error of the
 * address (in use, not available, not allowed) is returned as it is.
 */
export function serveError(e: unknown, tls: ServeTls | undefined, field = "tls"): Error {
  const reason = oneLine((e as Error)?.message ?? String(e));
  const notTls = e instanceof Deno.errors.AddrInUse || e instanceof Deno.errors.AddrNotAvailable ||
    e instanceof Deno.errors.PermissionDenied;
  if (tls === undefined || notTls) return e instanceof Error ? e : new Error(reason);
  return new TlsConfigError(
    `Cannot serve HTTPS with ${field}.certFile ${tls.certFile} and ${field}.keyFile ${tls.keyFile}: ${reason}`,
  );
}

async function readPem(path: string, field: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new TlsConfigError(`Cannot read ${field} ${path}: not a file`);
    if (info.size > pemFileBytesMax) {
      throw new TlsConfigError(
        `Cannot read ${field} ${path}: larger than ${pemFileBytesMax} bytes`,
      );
    }
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof TlsConfigError) throw e;
    const reason = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : oneLine((e as Error).message);
    throw new TlsConfigError(`Cannot read ${field} ${path}: ${reason}`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new TlsConfigError(`Cannot read ${field} ${path}: not PEM text (DER is not supported)`);
  }
}
