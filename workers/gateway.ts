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
 * SIGINT/SIGTERM stop it (open event streams are ended). Its log (sites
 * going down and up, errors) goes to stderr, as the config's `log` says.
 *
 * @module
 */
import {
  createGatewayApp,
  GATEWAY_USAGE,
  type GatewayConfig,
  GatewayConfigError,
  GatewayHelpRequested,
  LedgerUnknownError,
  loadGatewayConfig,
  resolveLedger,
  ResponseCut,
  SitePool,
} from "../src/gateway/mod.ts";
import {
  fetchVia,
  readCaCerts,
  readServeTls,
  serveError,
  TlsConfigError,
  trustingClient,
} from "../src/site/tls.ts";
import { createLogger, type Logger } from "../src/log.ts";

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
  /** Stops polling, ends forwarded requests and closes the listener. */
  stop(): Promise<void>;
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
  const log = options.log ?? createLogger({ ...config.log, context: { gateway: config.name } });
  const tls = config.tls === undefined ? undefined : await readServeTls(config.tls);
  const caCerts = config.caFile === undefined ? undefined : await readCaCerts(config.caFile);
  // One client for every request to the sites, closed when the gateway stops.
  const client = trustingClient(caCerts);
  const via = `1.1 ${config.name}`;
  const pool = new SitePool({
    urls: config.sites,
    preferred: config.preferredSites,
    pollIntervalMs: config.pollIntervalMs,
    pollTimeoutMs: config.pollTimeoutMs,
    via,
    fetch: fetchVia(client),
    log,
  });
  let server: Deno.HttpServer | undefined;
  const stop = async () => {
    await pool.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      server?.shutdown(),
      new Promise<void>((r) => timer = setTimeout(r, shutdownWaitMs)),
    ]);
    clearTimeout(timer);
    client?.close();
  };
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
    const { app } = createGatewayApp({ config, pool, version: VERSION, log });
    const scheme = tls === undefined ? "http" : "https";
    const url = await new Promise<string>((resolve) => {
      try {
        server = Deno.serve(
          {
            hostname: config.host,
            port: config.port,
            ...(tls === undefined ? {} : { cert: tls.cert, key: tls.key }),
            onListen: ({ hostname, port }) => resolve(`${scheme}://${hostname}:${port}`),
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
          },
          (req, info) => app.fetch(req, info),
        );
      } catch (e) {
        throw serveError(e, tls);
      }
    });
    log.info("gateway started", {
      url,
      ledger: pool.ledger,
      version: VERSION,
      sitesUp: pool.upCount(),
      sites: config.sites.length,
    });
    return { url, pool, stop };
  } catch (e) {
    await stop();
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
    const { url, stop } = await startGateway(config);
    console.log(`gateway ${url}`);
    let stopping = false;
    const onSignal = async () => {
      if (stopping) return;
      stopping = true;
      await stop();
      Deno.exit(0);
    };
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
  } catch (e) {
    console.error(`Cannot start gateway: ${(e as Error).message}`);
    const badConfig = e instanceof TlsConfigError ||
      (e instanceof LedgerUnknownError && e.disagreement);
    Deno.exit(badConfig ? 2 : 1);
  }
}
