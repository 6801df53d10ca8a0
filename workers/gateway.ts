/**
 * Entry point of a gateway, the stateless ingress in front of the sites:
 *
 *     deno run -A workers/gateway.ts --site http://pop-1:7001 --site http://pop-2:7001
 *     deno run -A workers/gateway.ts --config /etc/edgeledger/gateway.json
 *
 * Learns the ledger from the sites (unless configured), serves the public
 * API on `--port` (default 7000; HTTPS with `tls`) and prints
 * `gateway <url>` once it listens. A bad config (a TLS file missing or
 * unusable included) exits 2 with one line; sites that disagree on the
 * ledger exit 2, no site answering within `startupWaitMs` exits 1.
 * SIGINT/SIGTERM stop it (see {@link RunningGateway}'s `stop`), as a site
 * stops: a second signal within a second of the first is its echo, a later
 * one stops it at once (exit 1). Its log (its start and stop, sites going
 * down and up, errors) goes to stderr, as the config's `log` says.
 *
 * @module
 */
import { SignatureChecks } from "../src/site/signature_checks.ts";
import {
  createGatewayApp,
  GATEWAY_USAGE,
  type GatewayConfig,
  GatewayConfigError,
  GatewayHelpRequested,
  LedgerUnknownError,
  loadGatewayConfig,
  readSiteApiKey,
  resolveLedger,
  ResponseCut,
  SiteApiKeyError,
  SitePool,
} from "../src/gateway/mod.ts";
import {
  certificateDoubts,
  fetchVia,
  readCaCerts,
  readServeTls,
  ReloadingClient,
  TlsConfigError,
} from "../src/site/tls.ts";
import { HttpsServer, reloadTls, type TlsReload } from "../src/site/https_server.ts";
import { blockedPortProblem } from "../src/site/ports.ts";
import { createLogger, type Logger } from "../src/log.ts";
import { reloadOnHangup, stopOnSignals } from "./_signals.ts";

/**
 * The release, as `/healthz` and `/v1/gateway` show it: the sites' (see
 * `workers/site.ts`), not imported from there, which would load the
 * storage layer into a process that has no database.
 */
export const VERSION = "0.1.0";

/** Longest a stopping gateway waits for its open requests to finish, ms. */
const shutdownWaitMs = 3000;
/** A running gateway. */
export interface RunningGateway {
  url: string;
  pool: SitePool;
  /** What it logs to. */
  log: Logger;
  /**
   * Stops polling, ends forwarded requests and event streams, and closes the
   * listener once open requests finish (at most {@link shutdownWaitMs}).
   * Logs `stopping: forwarding ends` (with `why`, a signal say) and
   * `stopped`, at `info`, and a warning when open requests did not finish in
   * time. Calling it again returns the same promise.
   */
  stop(why?: string): Promise<void>;
  /**
   * Reads the TLS certificate files and the CA file again and puts them in
   * service if they changed (SIGHUP).
   */
  reloadTls(trigger?: string): Promise<TlsReload>;
}

/**
 * The gateway's logger as its config's `log` says (the environment's and
 * the flags' overrides are in it already), on stderr, with its name.
 */
export function gatewayLogger(config: Pick<GatewayConfig, "name" | "log">): Logger {
  return createLogger({ ...config.log, context: { gateway: config.name } });
}

/**
 * Starts a gateway: reads its TLS files, learns (or checks) the ledger,
 * takes a first view of the sites, then listens. Throws
 * {@link TlsConfigError} when a TLS file is missing or unusable (or the key
 * is not the certificate's), {@link LedgerUnknownError} when the ledger
 * cannot be learned. `log` replaces the logger the config's `log` describes
 * (stderr, with the gateway's name).
 */
export async function startGateway(
  config: GatewayConfig,
  options: { log?: Logger } = {},
): Promise<RunningGateway> {
  const blocked = blockedPortProblem(config.port);
  if (blocked !== undefined) throw new GatewayConfigError(`Cannot listen on port: ${blocked}`);
  const log = options.log ?? gatewayLogger(config);
  if (config.expiredGraceMs !== undefined) {
    log.warn("expiredGraceMs has no effect: the sites judge expiry (remove it from the config)");
  }
  const tls = config.tls === undefined ? undefined : await readServeTls(config.tls);
  const caCerts = config.caFile === undefined ? undefined : await readCaCerts(config.caFile);
  // One client for every request to the sites (read again when `caFile`
  // changes), closed when the gateway stops.
  const client = await ReloadingClient.open(
    config.caFile,
    caCerts,
    log,
    config.tls?.checkIntervalMs,
  );
  const via = `1.1 ${config.name}`;
  const pollApiKey = config.siteApiKeyFile === undefined
    ? undefined
    : await readSiteApiKey(config.siteApiKeyFile);
  const pool = new SitePool({
    urls: config.sites,
    preferred: config.preferredSites,
    pollIntervalMs: config.pollIntervalMs,
    pollTimeoutMs: config.pollTimeoutMs,
    via,
    pollApiKey,
    fetch: fetchVia(client.source),
    log,
  });
  let server: HttpsServer | undefined;
  // Forged signatures and secp256k1 are checked on a worker thread, started on first need.
  const signatureChecks = new SignatureChecks();
  /** Closes what is open; answers whether open requests finished in time. */
  const close = async (): Promise<boolean> => {
    await pool.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drained = await Promise.race([
      (server?.shutdown() ?? Promise.resolve()).then(() => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), shutdownWaitMs)),
    ]);
    clearTimeout(timer);
    await client.close();
    signatureChecks.close();
    return drained;
  };
  let stopping: Promise<void> | undefined;
  const stop = (why?: string) =>
    stopping ??= (async () => {
      const started = performance.now();
      log.info("stopping: forwarding ends", { reason: why });
      if (!await close()) {
        log.warn("stopping: open requests did not finish; closing anyway", {
          waitedMs: shutdownWaitMs,
        });
      }
      log.info("stopped", { tookMs: Math.round(performance.now() - started) });
    })();
  try {
    if (config.ledger !== undefined) {
      pool.ledger = config.ledger;
      // A first view before the first request (a restarted gateway serves at once).
      await pool.pollAll();
    } else {
      await resolveLedger(pool, {
        waitMs: config.startupWaitMs,
        pollIntervalMs: config.pollIntervalMs,
      });
    }
    pool.start();
    const { app } = createGatewayApp({
      config,
      pool,
      version: VERSION,
      log,
      signatureChecks,
      metrics: () => (server?.metricsText() ?? "") + client.metricsText(),
    });
    if (tls !== undefined) {
      for (const doubt of certificateDoubts(tls, { now: Date.now() })) {
        log.warn("tls certificate will be refused", { reason: doubt });
      }
    }
    server = await HttpsServer.start({
      hostname: config.host,
      port: config.port,
      tls,
      checkIntervalMs: config.tls?.checkIntervalMs,
      // A body cut part-way (its status went out already) comes here:
      // one line in the log, where Deno's default prints a stack trace.
      // The app answers every other error itself (app.onError).
      onError: (e) => {
        if (e instanceof ResponseCut) {
          log.warn("response cut", {
            site: e.site,
            requestId: e.requestId,
            reason: e.reason,
          });
        } else {
          log.error("request failed", { error: e });
        }
        return new Response(null, { status: 500 });
      },
      handler: (req, info) => app.fetch(req, info),
      limits: config.guardClientConnections
        ? {
          headersTimeoutMs: config.clientHeadersTimeoutMs,
          idleTimeoutMs: config.clientIdleTimeoutMs,
          keepAliveTimeoutMs: config.clientKeepAliveTimeoutMs,
          maxConnections: config.clientConnectionsMax,
          maxConnectionsPerAddress: config.clientConnectionsPerAddressMax,
        }
        : undefined,
      log,
      // Another process took the address in a reload's gap: nothing serves.
      onListenLost: () => void stop("listener lost").finally(() => Deno.exit(1)),
    });
    const url = server.url;
    log.info("gateway started", {
      url,
      ledger: pool.ledger,
      version: VERSION,
      sitesUp: pool.upCount(),
      sites: config.sites.length,
    });
    const served = server;
    return {
      url,
      pool,
      log,
      stop,
      reloadTls: (trigger) => reloadTls(served, client, trigger),
    };
  } catch (e) {
    // Nothing was started that an operator saw: close without logging a stop.
    await close();
    throw e;
  }
}

if (import.meta.main) {
  let config: GatewayConfig;
  try {
    config = await loadGatewayConfig(Deno.args);
  } catch (e) {
    if (e instanceof GatewayHelpRequested) {
      console.log(GATEWAY_USAGE);
      Deno.exit(0);
    }
    if (!(e instanceof GatewayConfigError)) throw e;
    console.error(`Cannot start gateway: ${e.message}`);
    Deno.exit(2);
  }
  try {
    const { url, log, stop, reloadTls } = await startGateway(config);
    console.log(`gateway ${url}`);
    stopOnSignals(stop, log);
    reloadOnHangup(reloadTls, log);
  } catch (e) {
    console.error(`Cannot start gateway: ${(e as Error).message}`);
    const badConfig = e instanceof TlsConfigError || e instanceof SiteApiKeyError ||
      e instanceof GatewayConfigError ||
      (e instanceof LedgerUnknownError && e.disagreement);
    Deno.exit(badConfig ? 2 : 1);
  }
}
