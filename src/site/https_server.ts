/**
 * The HTTP(S) listener of a site or a gateway, which puts a renewed TLS
 * certificate in service without a restart, as etcd does.
 *
 * A certificate is renewed by replacing its two files (certbot, an ACME
 * client, cert-manager's mounted secret). The server notices — it looks at
 * the files' size and modification time every `tls.checkIntervalMs`, and
 * again at once on `reload()` (a site or gateway calls it on SIGHUP) — reads
 * them, and checks them as at start plus one more thing: that the key is the
 * certificate's. Files that fail keep the old certificate in service; the
 * server logs why once per version of the files and says so in `/metrics`
 * until the files are fixed (an ACME client that writes the certificate
 * before the key is seen between the two, then fixed).
 *
 * Deno's server takes its certificate when it starts listening, so a
 * reload starts a new one on the same address: the old one stops accepting
 * and is shut down gracefully — requests in flight finish, and long-lived
 * ones (a peer's Raft stream, an event stream) go on over the old
 * connection until they end — and the new one listens as soon as the
 * address is free, a few milliseconds later. A connection attempt in that
 * gap is refused, and retried by the clients and peers that retry.
 *
 * @module
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Logger } from "../log.ts";
import { readServeTls, serveError, type ServeTls, TlsConfigError } from "./tls.ts";

/** How often the certificate files are looked at by default, ms. */
export const tlsCheckIntervalMsDefault = 60_000;

/** Longest a reload waits for the old listener to free the address, ms. */
export const relistenWaitMs = 5_000;

/** What a server says about the certificate it serves. */
export interface CertificateInfo {
  /** When it expires, ms since the epoch. */
  notAfter: number;
  /** Its serial number, hex. */
  serial: string;
  /** SHA-256 of its DER, lowercase hex. */
  fingerprint: string;
}

/** How a {@link HttpsServer.reload} ended. */
export type ReloadOutcome = "reloaded" | "unchanged" | "failed";

/** What starts a {@link HttpsServer}. */
export interface HttpsServerOptions {
  hostname: string;
  port: number;
  /** The certificate to serve HTTPS with, read at start; plain HTTP without it. */
  tls?: ServeTls;
  /** How often to look at the certificate files, ms; 0 only on {@link HttpsServer.reload}. */
  checkIntervalMs?: number;
  /** The config key the files came from, for errors (`tls`). */
  field?: string;
  handler: Deno.ServeHandler;
  onError: (error: unknown) => Response | Promise<Response>;
  log: Logger;
  /**
   * Called when a reload could not listen on the address again (another
   * process took it in the gap): the server serves nothing any more, and the
   * process should stop.
   */
  onListenLost?: (error: Error) => void;
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
    fingerprint: cert.fingerprint256.replaceAll(":", "").toLowerCase(),
  };
}

/** Deno's HTTP server on one address, reloading its TLS certificate in place. */
export class HttpsServer {
  /** The URL it listens on (`https://` with TLS). */
  readonly url: string;
  readonly #options: HttpsServerOptions;
  readonly #field: string;
  readonly #port: number;
  #server: Deno.HttpServer;
  #tls: ServeTls | undefined;
  #info: CertificateInfo | undefined;
  /** Size and mtime of the files last loaded (or last found unusable). */
  #loadedStamp = "";
  #failedStamp: string | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #reloading: Promise<ReloadOutcome> = Promise.resolve("unchanged");
  readonly #draining = new Set<Promise<void>>();
  #closed = false;
  #reloads = 0;
  #failures = 0;

  private constructor(options: HttpsServerOptions, server: Deno.HttpServer, url: string) {
    this.#options = options;
    this.#field = options.field ?? "tls";
    this.#server = server;
    this.url = url;
    this.#port = Number(new URL(url).port);
    this.#tls = options.tls;
  }

  /**
   * Listens on the address. Throws what {@link serveError} makes of a
   * failure (a key that is not the certificate's, an address in use).
   */
  static async start(options: HttpsServerOptions): Promise<HttpsServer> {
    const scheme = options.tls === undefined ? "http" : "https";
    let server!: Deno.HttpServer;
    const url = await new Promise<string>((resolve, reject) => {
      try {
        server = serve(options, options.port, options.tls, ({ hostname, port }) => {
          resolve(`${scheme}://${hostname}:${port}`);
        });
      } catch (e) {
        reject(serveError(e, options.tls, options.field));
      }
    });
    const s = new HttpsServer(options, server, url);
    if (options.tls !== undefined) {
      // Deno took the pair, so the key is the certificate's; a certificate
      // it takes but node:crypto cannot read only goes without its expiry.
      try {
        s.#info = certificateInfo(options.tls, s.#field);
      } catch (e) {
        options.log.warn("tls certificate not readable for its expiry", { reason: oneLine(e) });
      }
      s.#loadedStamp = await filesStamp(options.tls);
      const every = options.checkIntervalMs ?? tlsCheckIntervalMsDefault;
      if (every > 0) {
        s.#timer = setInterval(() => void s.#check(), every);
        Deno.unrefTimer(s.#timer);
      }
    }
    return s;
  }

  /** The certificate in service (undefined without TLS, or when unreadable). */
  get certificate(): CertificateInfo | undefined {
    return this.#info;
  }

  /**
   * Reads the certificate files again and, when they changed and are
   * usable, serves them from now on. Without TLS, "unchanged". Calls run
   * one after another.
   */
  reload(trigger = "reload"): Promise<ReloadOutcome> {
    return this.#queue(trigger, false);
  }

  #queue(trigger: string, quietIfSeen: boolean): Promise<ReloadOutcome> {
    const run = this.#reloading
      .catch(() => "failed" as const)
      .then(() => this.#reload(trigger, quietIfSeen));
    this.#reloading = run;
    return run;
  }

  async #check(): Promise<void> {
    if (this.#tls === undefined || this.#closed) return;
    const stamp = await filesStamp(this.#tls);
    if (stamp === this.#loadedStamp || stamp === this.#failedStamp) return;
    // A lost listener was logged and handed to onListenLost.
    await this.#queue("files changed", true).catch(() => {});
  }

  async #reload(trigger: string, quietIfSeen: boolean): Promise<ReloadOutcome> {
    const current = this.#tls;
    const log = this.#options.log;
    if (current === undefined) {
      log.info("tls reload: no tls configured, nothing to reload", { trigger });
    }
    if (current === undefined || this.#closed) return "unchanged";
    const stamp = await filesStamp(current);
    let next: ServeTls;
    let info: CertificateInfo;
    try {
      next = await readServeTls(
        { certFile: current.certFile, keyFile: current.keyFile },
        this.#field,
      );
      info = certificateInfo(next, this.#field);
    } catch (e) {
      if (!(e instanceof TlsConfigError)) throw e;
      this.#failures++;
      if (!(quietIfSeen && stamp === this.#failedStamp)) {
        log.error("tls certificate not reloaded: the one in service stays", {
          trigger,
          reason: e.message,
          ...this.#describe(this.#info),
        });
      }
      this.#failedStamp = stamp;
      return "failed";
    }
    if (next.cert === current.cert && next.key === current.key) {
      this.#loadedStamp = stamp;
      this.#failedStamp = undefined;
      log.info("tls certificate unchanged", { trigger, ...this.#describe(this.#info) });
      return "unchanged";
    }
    try {
      await this.#relisten(next);
    } catch (e) {
      // The new pair was refused by Deno's TLS (after the checks above) and
      // the old one listens again; or nothing listens any more.
      this.#failures++;
      this.#failedStamp = stamp;
      log.error("tls certificate not reloaded: the one in service stays", {
        trigger,
        reason: oneLine(e),
        ...this.#describe(this.#info),
      });
      return "failed";
    }
    this.#tls = next;
    this.#info = info;
    this.#loadedStamp = stamp;
    this.#failedStamp = undefined;
    this.#reloads++;
    log.info("tls certificate reloaded", { trigger, ...this.#describe(info) });
    return "reloaded";
  }

  /** Stops the listener in service and listens again with `next` (or the old pair, failing that). */
  async #relisten(next: ServeTls): Promise<void> {
    const old = this.#server;
    const drained = old.shutdown().catch(() => {});
    this.#draining.add(drained);
    void drained.finally(() => this.#draining.delete(drained));
    try {
      this.#server = await this.#listenAgain(next);
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse) return this.#lost(e);
      try {
        this.#server = await this.#listenAgain(this.#tls);
      } catch (again) {
        return this.#lost(again);
      }
      throw serveError(e, next, this.#field);
    }
  }

  /** Listens on the same address as soon as the old listener has let it go. */
  async #listenAgain(tls: ServeTls | undefined): Promise<Deno.HttpServer> {
    const deadline = performance.now() + relistenWaitMs;
    for (;;) {
      try {
        return serve(this.#options, this.#port, tls, () => {});
      } catch (e) {
        if (!(e instanceof Deno.errors.AddrInUse) || performance.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  }

  #lost(e: unknown): never {
    const error = new Error(
      `Cannot listen on ${this.url} again after a tls reload: ${oneLine(e)}`,
    );
    this.#options.log.error("listener lost", { reason: error.message });
    this.#options.onListenLost?.(error);
    throw error;
  }

  #describe(info: CertificateInfo | undefined): Record<string, unknown> {
    const tls = this.#tls;
    return {
      ...(tls === undefined ? {} : { certFile: tls.certFile }),
      ...(info === undefined
        ? {}
        : { serial: info.serial, notAfter: new Date(info.notAfter).toISOString() }),
    };
  }

  /** Prometheus lines about the certificate (none without TLS); ends with a newline. */
  metricsText(): string {
    if (this.#tls === undefined) return "";
    const lines = [
      "# HELP edgeledger_tls_cert_reloads_total Renewed TLS certificates put in service without a restart.",
      "# TYPE edgeledger_tls_cert_reloads_total counter",
      `edgeledger_tls_cert_reloads_total ${this.#reloads}`,
      "# HELP edgeledger_tls_cert_reload_failures_total Reloads whose certificate files could not be used (the one in service stayed).",
      "# TYPE edgeledger_tls_cert_reload_failures_total counter",
      `edgeledger_tls_cert_reload_failures_total ${this.#failures}`,
      "# HELP edgeledger_tls_cert_reload_failing 1 while the certificate files differ from the certificate in service and cannot be used.",
      "# TYPE edgeledger_tls_cert_reload_failing gauge",
      `edgeledger_tls_cert_reload_failing ${this.#failedStamp === undefined ? 0 : 1}`,
    ];
    if (this.#info !== undefined) {
      lines.push(
        "# HELP edgeledger_tls_cert_expiry_timestamp_seconds When the TLS certificate in service expires (Unix time).",
        "# TYPE edgeledger_tls_cert_expiry_timestamp_seconds gauge",
        `edgeledger_tls_cert_expiry_timestamp_seconds ${Math.floor(this.#info.notAfter / 1000)}`,
      );
    }
    return lines.join("\n") + "\n";
  }

  /**
   * Stops looking at the files and shuts every listener down gracefully
   * (the one in service and any still draining after a reload).
   */
  async shutdown(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#reloading.catch(() => {});
    await Promise.all([this.#server.shutdown(), ...this.#draining]);
  }
}

function serve(
  options: HttpsServerOptions,
  port: number,
  tls: ServeTls | undefined,
  onListen: (addr: Deno.NetAddr) => void,
): Deno.HttpServer {
  return Deno.serve({
    hostname: options.hostname,
    port,
    ...(tls === undefined ? {} : { cert: tls.cert, key: tls.key }),
    onListen,
    onError: options.onError,
  }, options.handler);
}

/** Size and modification time of both files ("missing" for one that cannot be looked at). */
async function filesStamp(tls: ServeTls): Promise<string> {
  const one = async (path: string) => {
    try {
      const s = await Deno.stat(path);
      return `${s.size}:${s.mtime?.getTime() ?? 0}:${s.ino ?? 0}`;
    } catch {
      return "missing";
    }
  };
  return `${await one(tls.certFile)}|${await one(tls.keyFile)}`;
}

function oneLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/\s+/g, " ").trim().slice(0, 300);
}
