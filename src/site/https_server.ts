/**
 * The HTTP(S) listener of a site or a gateway, which puts a renewed TLS
 * certificate in service without a restart, as etcd does.
 *
 * A certificate is renewed by replacing its two files (certbot, an ACME
 * client, cert-manager's mounted secret). The server notices — it looks at
 * the files' size, modification time and inode every `tls.checkIntervalMs`, and
 * again at once on `reload()` (a site or gateway calls it on SIGHUP) — reads
 * them, and checks them as at start plus one more thing: that the key is the
 * certificate's. Files that fail keep the old certificate in service; the
 * server logs why once per version of the files and says so in `/metrics`
 * until the files are fixed (an ACME client that writes the certificate
 * before the key is seen between the two, then fixed).
 *
 * With connection `limits` the server is Node's, as `guarded_server.ts`
 * runs it, and a reload hands it the new pair in place. Without, it is
 * Deno's, which takes its certificate when it starts listening, so a
 * reload starts a new one on the same address: the old one stops accepting
 * and is shut down gracefully — requests in flight finish, and long-lived
 * ones (a peer's Raft stream, an event stream) go on over the old
 * connection until they end — and the new one listens as soon as the
 * address is free, a few milliseconds later. A connection attempt in that
 * gap is refused, and retried by the clients and peers that retry.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { FileReloader, oneLine, type ReloadOutcome } from "./file_reloader.ts";
import { type ConnectionLimits, CUT_REASONS, GuardedServer } from "./guarded_server.ts";
import {
  type CertificateInfo,
  certificateInfo,
  readServeTls,
  type ReloadingClient,
  serveError,
  type ServeTls,
  TlsConfigError,
} from "./tls.ts";

export type { CertificateInfo, ReloadOutcome };
export { certificateInfo };

/** What a server's SIGHUP did: to its certificate, and to the CA file it trusts. */
export interface TlsReload {
  certificate: ReloadOutcome;
  ca: ReloadOutcome;
}

/** A server's SIGHUP: its certificate files, then the CA file its client trusts. */
export async function reloadTls(
  server: HttpsServer,
  client: ReloadingClient,
  trigger?: string,
): Promise<TlsReload> {
  return { certificate: await server.reload(trigger), ca: await client.reload(trigger) };
}

/** Longest a reload waits for the old listener to free the address, ms. */
export const relistenWaitMs = 5_000;

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
   * Deadlines and caps per connection (`guarded_server.ts`): with them the
   * server is Node's, which closes slow and idle clients and takes a renewed
   * certificate in place; without them, Deno's (less CPU per request, no
   * connection timeouts).
   */
  limits?: ConnectionLimits;
  /** With `limits`: paths whose request bodies may pause without limit (see `guarded_server.ts`). */
  quietBodies?: (path: string) => boolean;
  /**
   * Called when a reload could not listen on the address again (another
   * process took it in the gap): the server serves nothing any more, and the
   * process should stop.
   */
  onListenLost?: (error: Error) => void;
}

/** What a server serves HTTPS with, and what it says about it. */
interface Served {
  tls: ServeTls;
  info: CertificateInfo | undefined;
}

/** Deno's HTTP server on one address, reloading its TLS certificate in place. */
export class HttpsServer {
  /** The URL it listens on (`https://` with TLS). */
  readonly url: string;
  readonly #options: HttpsServerOptions;
  readonly #field: string;
  readonly #port: number;
  #server: Deno.HttpServer | GuardedServer;
  #files: FileReloader<Served> | undefined;
  readonly #draining = new Set<Promise<void>>();

  private constructor(
    options: HttpsServerOptions,
    server: Deno.HttpServer | GuardedServer,
    url: string,
  ) {
    this.#options = options;
    this.#field = options.field ?? "tls";
    this.#server = server;
    this.url = url;
    this.#port = Number(new URL(url).port);
  }

  /**
   * Listens on the address. Throws {@link TlsConfigError} for a key that is
   * not the certificate's (or a certificate that does not parse) before it
   * listens — Deno's server refuses such a pair, node's (the guarded one)
   * would listen and fail every handshake — and what {@link serveError}
   * makes of a failure to listen (an address in use).
   */
  static async start(options: HttpsServerOptions): Promise<HttpsServer> {
    const scheme = options.tls === undefined ? "http" : "https";
    const info = options.tls === undefined
      ? undefined
      : certificateInfo(options.tls, options.field ?? "tls");
    let server!: Deno.HttpServer | GuardedServer;
    const url = options.limits === undefined
      ? await new Promise<string>((resolve, reject) => {
        try {
          server = serve(options, options.port, options.tls, ({ hostname, port }) => {
            resolve(`${scheme}://${hostname}:${port}`);
          });
        } catch (e) {
          reject(serveError(e, options.tls, options.field));
        }
      })
      : await (async () => {
        try {
          server = await GuardedServer.listen({ ...options, limits: options.limits! });
        } catch (e) {
          throw serveError(e, options.tls, options.field);
        }
        return `${scheme}://${server.addr.hostname}:${server.addr.port}`;
      })();
    const s = new HttpsServer(options, server, url);
    const tls = options.tls;
    if (tls === undefined) return s;
    s.#files = await FileReloader.watch<Served>({
      what: "tls certificate",
      metric: "tls_cert",
      metricHelp: "TLS certificates",
      paths: () => [tls.certFile, tls.keyFile],
      load: async () => {
        const next = await readServeTls({ certFile: tls.certFile, keyFile: tls.keyFile }, s.#field);
        return { tls: next, info: certificateInfo(next, s.#field) };
      },
      same: (a, b) => a.tls.cert === b.tls.cert && a.tls.key === b.tls.key,
      apply: (next) => s.#relisten(next.tls),
      describe: ({ tls, info }) => ({
        certFile: tls.certFile,
        ...(info === undefined
          ? {}
          : { serial: info.serial, notAfter: new Date(info.notAfter).toISOString() }),
      }),
      failure: (e) => e instanceof TlsConfigError,
      log: options.log,
      checkIntervalMs: options.checkIntervalMs,
    }, { tls, info });
    return s;
  }

  /** The certificate in service (undefined without TLS, or when unreadable). */
  get certificate(): CertificateInfo | undefined {
    return this.#files?.value.info;
  }

  /**
   * Reads the certificate files again and, when they changed and are
   * usable, serves them from now on. Without TLS, "unchanged" (logged).
   * Calls run one after another.
   */
  reload(trigger = "reload"): Promise<ReloadOutcome> {
    if (this.#files === undefined) {
      this.#options.log.info("tls reload: no tls configured, nothing to reload", { trigger });
      return Promise.resolve("unchanged");
    }
    return this.#files.reload(trigger);
  }

  /**
   * Stops the listener in service and listens again with `next`. When Deno
   * refuses `next` the old pair listens again and this throws a
   * {@link TlsConfigError}; when the address cannot be had again, it calls
   * `onListenLost` and throws.
   */
  async #relisten(next: ServeTls): Promise<void> {
    const old = this.#server;
    // Node's server takes the new pair in place: no second listener, no gap.
    if (old instanceof GuardedServer) {
      try {
        return old.setTls(next);
      } catch (e) {
        const refused = serveError(e, next, this.#field);
        throw refused instanceof TlsConfigError ? refused : new TlsConfigError(refused.message);
      }
    }
    const drained = old.shutdown().catch(() => {});
    this.#draining.add(drained);
    void drained.finally(() => this.#draining.delete(drained));
    try {
      this.#server = await this.#listenAgain(next);
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse) return this.#lost(e);
      try {
        this.#server = await this.#listenAgain(this.#files?.value.tls);
      } catch (again) {
        return this.#lost(again);
      }
      const refused = serveError(e, next, this.#field);
      throw refused instanceof TlsConfigError ? refused : new TlsConfigError(refused.message);
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

  /**
   * Prometheus lines about the connections (with `limits`) and the
   * certificate (with TLS); "" or ends with a newline.
   */
  metricsText(): string {
    return this.#connectionsText() + this.#certificateText();
  }

  #connectionsText(): string {
    const server = this.#server;
    if (!(server instanceof GuardedServer)) return "";
    const cuts = server.cuts();
    return [
      "# HELP edgeledger_http_connections Open client connections.",
      "# TYPE edgeledger_http_connections gauge",
      `edgeledger_http_connections ${server.connections}`,
      "# HELP edgeledger_http_connections_closed_total Connections the server closed: a deadline passed (headers, body, keepalive) or a cap was reached (max_connections, max_per_address).",
      "# TYPE edgeledger_http_connections_closed_total counter",
      ...CUT_REASONS.map((r) =>
        `edgeledger_http_connections_closed_total{reason="${r}"} ${cuts.get(r) ?? 0}`
      ),
    ].join("\n") + "\n";
  }

  #certificateText(): string {
    if (this.#files === undefined) return "";
    const info = this.#files.value.info;
    return this.#files.metricsText() + (info === undefined ? "" : [
      "# HELP edgeledger_tls_cert_expiry_timestamp_seconds When the TLS certificate in service expires (Unix time).",
      "# TYPE edgeledger_tls_cert_expiry_timestamp_seconds gauge",
      `edgeledger_tls_cert_expiry_timestamp_seconds ${Math.floor(info.notAfter / 1000)}`,
    ].join("\n") + "\n");
  }

  /**
   * Stops looking at the files and shuts every listener down gracefully
   * (the one in service and any still draining after a reload).
   */
  async shutdown(): Promise<void> {
    await this.#files?.close();
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
