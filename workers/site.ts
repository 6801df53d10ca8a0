/**
 * Entry point of one edge site (a carrier PoP):
 *
 *     deno run -A workers/site.ts --config data/site-a/site.json
 *
 * Opens the site's libSQL database (migrating it), serves the HTTP API
 * (HTTPS with `tls` in the config), and prints `site <name> <url>` once it
 * listens (on stdout, which scripts read; its log goes to stderr, as the
 * config's `log` says). SIGINT/SIGTERM stop it gracefully (see
 * {@link startSite}'s `stop`); a second signal stops it at once. A site that
 * cannot start prints one line, `Cannot start site: <why>`, and exits 1.
 * An error while it serves — a response body that fails part-way included —
 * is one line of that log, never a stack trace from Deno (see
 * {@link serveErrorLogger}).
 *
 * @module
 */
import { createApp } from "../src/api/app.ts";
import { adminRoot, type AdminService } from "../src/api/admin_routes.ts";
import { raftRoot, raftRoutes } from "../src/api/raft_routes.ts";
import { SiteBackups } from "../src/site/backup.ts";
import { keyChainHeaders, type PeerInfo, signPeerBody } from "../src/site/peers.ts";
import { cosignKeysAt, rotatedKeyPaths } from "../src/site/key_rotation.ts";
import { filePathOf } from "../src/storage/db.ts";
import { RaftHost } from "../src/site/raft_host.ts";
import {
  clusterDirectory,
  type LoadedSite,
  loadSiteConfig,
  readSiteConfig,
  type SiteConfig,
} from "../src/site/config.ts";
import { Site } from "../src/site/site.ts";
import { certificateDoubts, ReloadingClient } from "../src/site/tls.ts";
import { blockedPortProblem } from "../src/site/ports.ts";
import { AccessKeys } from "../src/site/access_keys.ts";
import { HttpsServer, reloadTls, type TlsReload } from "../src/site/https_server.ts";
import { createLogger, logConfigWithEnv, type Logger } from "../src/log.ts";
import { AssertionError } from "../src/chain/assert.ts";
import { helpAsked } from "./_cli.ts";
import { reloadOnHangup, stopOnSignals } from "./_signals.ts";

export const VERSION = "0.1.0";

/**
 * Longest a stopping leader waits for another site to lead after handing
 * leadership off, ms (it waits no longer than the transfer is pursued: an
 * election timeout).
 */
const handOffWaitMs = 2000;
/** Longest a stopping site waits for the writes it admitted to commit, ms. */
const drainWaitMs = 5000;
/**
 * Longest a stopping site waits for its open requests to finish, ms.
 * (`deno task start` gives a site longer than these three waits together
 * before it kills it.)
 */
const shutdownWaitMs = 3000;

/**
 * The site's threads: `EDGELEDGER_STORAGE` and `EDGELEDGER_VERIFY_WORKERS`
 * override the config's `storage` and `admissionWorkers`; by default one
 * admission worker per core (the pool keeps a light load on the first and
 * spreads a backlog over all) and a storage worker.
 */
export function siteThreads(
  config: Pick<SiteConfig, "storage" | "admissionWorkers">,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): { storage: "worker" | "inline"; verifyWorkers: number } {
  const storage = env("EDGELEDGER_STORAGE") ?? config.storage;
  if (storage !== "worker" && storage !== "inline") {
    throw new Error(`EDGELEDGER_STORAGE must be "worker" or "inline", not "${storage}"`);
  }
  const workers = env("EDGELEDGER_VERIFY_WORKERS");
  const verifyWorkers = workers === undefined
    ? config.admissionWorkers ?? navigator.hardwareConcurrency ?? 1
    : workers.trim() === ""
    ? NaN
    : Number(workers);
  if (!Number.isInteger(verifyWorkers) || verifyWorkers < 0 || verifyWorkers > 64) {
    throw new Error(`EDGELEDGER_VERIFY_WORKERS must be an integer from 0 to 64, not "${workers}"`);
  }
  return { storage, verifyWorkers };
}

/**
 * The site's logger: the config's `log`, overridden by `EDGELEDGER_LOG_LEVEL`
 * and `EDGELEDGER_LOG_FORMAT`, on stderr, with the site's name. Throws a
 * one-line Error naming a variable whose value is not a level or format.
 */
export function siteLogger(
  config: Pick<SiteConfig, "name" | "log">,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): Logger {
  return createLogger({ ...logConfigWithEnv(config.log, env), context: { site: config.name } });
}

/** A site started by {@link startSite}. */
export interface RunningSite {
  /** Stops it gracefully (see {@link startSite}). */
  stop: (why?: string) => Promise<void>;
  site: Site;
  url: string;
  /**
   * Reads the TLS certificate files and the CA file again and puts them in
   * service if they changed (SIGHUP).
   */
  reloadTls: (trigger?: string) => Promise<TlsReload>;
  /** Puts the config file's tenant and admin keys in service (SIGHUP); see {@link reloadKeys}. */
  reloadKeys: (trigger?: string) => Promise<"reloaded" | "unchanged" | "failed">;
}

/**
 * Starts one site from its config file; resolves to a stop function. A
 * start that fails part-way closes what it had opened (the Raft host, the
 * peer client, the site with its database and threads), newest first, and
 * throws the step's error; a failure to close one is logged, not thrown.
 * `log` replaces the logger the config describes ({@link siteLogger}).
 *
 * `stop()` is graceful, as etcd's server stops, and every step is bounded:
 * 1. The site takes no new writes: they answer 503 `unavailable` with
 *    `Retry-After` (a client retries, or goes to another site).
 * 2. A leader hands leadership to the most caught-up voter and waits until
 *    another site leads ({@link handOffWaitMs}; not once that voter is out
 *    of reach), so the cluster is not left without a leader for an election
 *    timeout. From here on the site takes no leadership itself.
 * 3. The writes admitted before the stop commit (on a follower, through the
 *    new leader) and the requests waiting for them answer
 *    ({@link drainWaitMs}; after that they answer `pending`).
 * 4. Event streams end, then peers' streams to this site, then the HTTP
 *    server drains ({@link shutdownWaitMs}).
 * 5. Consensus stops; the database closes after the block being written;
 *    the site's peer client (`caFile`) closes.
 *
 * Each step is logged; `why` (a signal, say) goes with the first. Calling
 * `stop()` again returns the same promise.
 */
export async function startSite(
  configPath: string,
  options: { log?: Logger } = {},
): Promise<RunningSite> {
  const loaded = await loadSiteConfig(configPath);
  // Before the database opens: a site there could be reached by no one (the
  // config itself is sound; the operator commands read it elsewhere).
  const blocked = blockedPortProblem(loaded.config.port);
  if (blocked !== undefined) throw new Error(`Cannot listen on port: ${blocked}`);
  const log = options.log ?? siteLogger(loaded.config);
  const opened: Opened[] = [];
  try {
    return await openAndServe(configPath, loaded, log, opened);
  } catch (e) {
    // Else an embedder that goes on (a test) keeps the database, its threads and the Raft ticker.
    for (const { what, close } of opened.reverse()) {
      try {
        await close();
      } catch (closeError) {
        log.error("cannot close after a failed start", { what, error: closeError });
      }
    }
    throw e;
  }
}

/**
 * A response body that failed part-way: its status had gone to the client,
 * so the client's connection is cut and it sees the answer incomplete.
 * {@link watchBody} logs it where it fails and hands it to `Deno.serve`,
 * whose `onError` ({@link serveErrorLogger}) then knows it is logged.
 */
export class ResponseBodyError extends Error {
  constructor(
    /** `METHOD /path` of the request it answered. */
    readonly route: string,
    /** The id of the request it answered (`X-Request-Id`), when it had one. */
    readonly requestId: string | undefined,
    options: ErrorOptions,
  ) {
    super(`Cannot finish the response to ${route}`, options);
    this.name = "ResponseBodyError";
  }
}

/** Whether `e` is what a bug throws (a broken invariant, a wrong type) rather than a condition. */
function isBug(e: unknown): boolean {
  return e instanceof AssertionError || e instanceof TypeError || e instanceof RangeError ||
    e instanceof ReferenceError || e instanceof SyntaxError;
}

/**
 * `res` with its body watched, for a route whose body streams (a backup
 * download, an event stream). `Deno.serve` hands an error of the body to
 * `onError` only once its write to the client returns — for a client that
 * stopped reading, when it leaves — so the body is watched here:
 * - a body that fails is logged as it fails, once, as `response cut` with
 *   the route, the request id and the error: a warning, or an error when
 *   the error is a bug's ({@link isBug}); the body the client gets then
 *   fails with a {@link ResponseBodyError}, which `onError` does not log again;
 * - a client that leaves before the end (Deno cancels the body) is normal:
 *   a `debug` line, `client left mid-response`, and the body is cancelled.
 * The body is passed on chunk by chunk as the client reads, as it came.
 */
export function watchBody(res: Response, route: string, log: Logger): Response {
  const body = res.body;
  if (body === null) return res;
  const requestId = res.headers.get("x-request-id") ?? undefined;
  const reader = body.getReader();
  let ended = false;
  let out!: ReadableStreamDefaultController<Uint8Array>;
  const failed = (e: unknown) => {
    // A body cancelled meanwhile ends as done; whatever it does after is nobody's concern.
    if (ended) return;
    ended = true;
    log[isBug(e) ? "error" : "warn"]("response cut", { route, requestId, error: e });
    out.error(new ResponseBodyError(route, requestId, { cause: e }));
  };
  // Fails as the body fails, whether or not the client is reading.
  reader.closed.catch(failed);
  const watched = new ReadableStream<Uint8Array>({
    start(controller) {
      out = controller;
    },
    async pull(controller) {
      let read: ReadableStreamReadResult<Uint8Array>;
      try {
        read = await reader.read();
      } catch (e) {
        return failed(e);
      }
      if (ended) return;
      if (read.done) {
        ended = true;
        controller.close();
      } else controller.enqueue(read.value);
    },
    async cancel(reason) {
      if (ended) return;
      ended = true;
      log.debug("client left mid-response", { route, requestId, reason: String(reason) });
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
  return new Response(watched, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}

/**
 * A site's `onError` for `Deno.serve`, in place of Deno's, which prints the
 * error's stack trace on stderr: a {@link ResponseBodyError} was logged
 * where it failed; any other error (a handler's that escaped its app, a
 * body not watched) is our bug, one `request failed` error line. Answers a
 * bare 500, which reaches the client only when no status had gone yet.
 */
export function serveErrorLogger(log: Logger): (error: unknown) => Response {
  return (error) => {
    if (!(error instanceof ResponseBodyError)) log.error("request failed", { error });
    return new Response(null, { status: 500 });
  };
}

/** Longest route logged, characters: a path is the client's to choose. */
const routeCharsMax = 200;

/** `METHOD /path` of `req` (no query), whose path starts at `pathAt` in its URL. */
function routeOf(req: Request, pathAt: number): string {
  const query = req.url.indexOf("?", pathAt);
  const path = req.url.slice(pathAt, query < 0 ? undefined : query);
  return `${req.method} ${path.slice(0, routeCharsMax)}`;
}

/** Something a start opened, and how to close it. */
interface Opened {
  what: string;
  close: () => void | Promise<void>;
}

/**
 * The steps of {@link startSite}: each thing it opens is pushed on
 * `opened` as soon as it is open, so that a later step's failure can close
 * it (newest first).
 */
async function openAndServe(
  configPath: string,
  loaded: LoadedSite,
  log: Logger,
  opened: Opened[],
): Promise<RunningSite> {
  const { config } = loaded;
  // A site on a local file keeps a rotated key beside its database.
  const dbPath = filePathOf(loaded.dbUrl);
  const rotatedKeys = dbPath === undefined ? undefined : rotatedKeyPaths(dbPath);
  const site = await Site.open({
    log,
    name: config.name,
    dbUrl: loaded.dbUrl,
    dbAuthToken: loaded.dbAuthToken,
    genesis: loaded.genesis,
    key: loaded.key,
    ...(rotatedKeys === undefined ? {} : { rotatedKeys }),
    batchTxsMax: config.batchTxsMax,
    batchBytesMax: config.batchBytesMax,
    batchDelayMs: config.batchDelayMs,
    pendingTxsMax: config.pendingTxsMax,
    diskFreeBytesMin: config.diskFreeBytesMin,
    diskCheckIntervalMs: config.diskCheckIntervalMs,
    txIdFilterBytesMax: config.txIdFilterBytesMax,
    // A lone site has nobody to compare its state with.
    stateCheckBlocks: loaded.genesis.sites.length > 1 || config.join ? config.stateCheckBlocks : 0,
    version: VERSION,
    joining: config.join,
    ...siteThreads(config),
  });
  opened.push({ what: "site", close: () => site.close() });
  // One client for every request this site makes to its peers (`caFile`,
  // read again when it changes).
  const peerClient = await ReloadingClient.open(
    loaded.caFile,
    loaded.caCerts,
    log,
    config.tls?.checkIntervalMs,
  );
  opened.push({ what: "peer client", close: () => peerClient.close() });
  // Set once it listens: its certificate's lines join `/metrics`.
  const served: { server?: HttpsServer } = {};
  // Tenant and admin keys, read on every request: a SIGHUP puts the config's current ones in service.
  const accessKeys = new AccessKeys(config);
  const app = createApp(site, {
    requestBytesMax: config.requestBytesMax,
    minHeightWaitMs: config.minHeightWaitMs,
    apiKeys: accessKeys.api,
    version: VERSION,
    metrics: () =>
      site.metrics() + (host?.metrics() ?? "") + (served.server?.metricsText() ?? "") +
      peerClient.metricsText(),
    log,
  });
  // With more than one site in genesis, blocks are ordered by Raft.
  let host: RaftHost | undefined;
  let peerApp: ReturnType<typeof raftRoutes> | undefined;
  let membership: Omit<AdminService, "backup"> | undefined;
  const backups = new SiteBackups(loaded.dbUrl, config.name, loaded.genesis.ledger, {
    reserveBytes: config.diskFreeBytesMin,
  });
  const peerStreamsEnd = new AbortController();
  if (loaded.genesis.sites.length > 1 || config.join) {
    const members: PeerInfo[] = clusterDirectory(loaded.genesis, config.peers);
    host = await RaftHost.start(
      site,
      site.raftStore(),
      config.name,
      site.siteKey,
      members,
      loaded.genesis.sites.map((s) => s.name),
      {
        tickMs: config.tickMs,
        electionTicks: config.electionTicks,
        proposalsInFlightMax: config.proposalsInFlightMax,
        forwardsInFlightMax: config.forwardsInFlightMax,
        snapshotEntriesMin: config.snapshotEntriesMin,
        compactKeepEntries: config.compactKeepEntries,
        httpClient: peerClient.source,
        peerUrls: config.peerUrls,
        ...(rotatedKeys === undefined ? {} : { rotatedKeys }),
      },
    );
    const h = host;
    opened.push({ what: "Raft host", close: () => h.close() });
    membership = {
      addLearner: (m) => h.addLearner(m),
      promote: (n) => h.promote(n),
      remove: (n) => h.remove(n),
      updateMemberUrl: (n, url) => h.updateMemberUrl(n, url),
      transferLeadership: (to) => h.transferLeadership(to),
      leader: () => h.consensusStatus().leader,
      leaderUrl: () => h.leaderUrl(),
      isLeader: () => h.consensusStatus().role === "leader",
      rotateKey: () => h.rotateKey(),
      self: config.name,
    };
    peerApp = raftRoutes({
      self: config.name,
      member: (n) => h.member(n),
      removedMember: (n) => h.removedMember(n),
      receive: (from, messages) => h.receive(from, messages),
      peerStorage: (from, state) => h.peerStorage(from, state),
      peerStorageLow: (from, reports) => h.peerStorageLow(from, reports),
      // Read live: a SIGHUP that sets requireApiKey "all" closes these reads to non-members too.
      servesAnonymousReads: () => accessKeys.api.require !== "all",
      peerCatchingUp: (from, catchingUp) => h.peerCatchingUp(from, catchingUp),
      peerClock: (from, ms) => h.peerClock(from, ms),
      acceptForwarded: (_from, envelopes) => site.acceptForwarded(envelopes),
      addCosignLines: (from, lines, signer) => {
        const arrived = h.member(from);
        if (arrived === undefined) return Promise.resolve();
        const keysAt = cosignKeysAt(
          from,
          () => h.member(from),
          arrived.publicKey,
          signer?.publicKey,
        );
        return site.addCosignLines(from, keysAt, lines);
      },
      replayBlocks: (from, limit) => site.replayBlocks(from, limit),
      stateDigest: (height) => site.stateChecks.answer(height),
      sign: (body) => signPeerBody(body, site.siteKey),
      signedHeaders: () => keyChainHeaders(site.siteKey),
      rotateMemberKey: (from, rotation) => h.rotateMemberKey(from, rotation),
      signMemberRetirements: (from, retirements) => h.signMemberRetirements(from, retirements),
      keyHeard: (name, publicKey) => h.keyHeard(name, publicKey),
      log,
      // Peers' streams stay open while a stop hands off and drains (the new
      // leader's appends are how this site's waiting writes commit), and end
      // before the HTTP server drains.
      signal: AbortSignal.any([h.stopping, peerStreamsEnd.signal]),
    });
  }
  // A lone site has no membership to change, but serves its backups.
  const lone = () => Promise.reject(new Error("A lone site has no cluster membership to change"));
  const admin = adminRoot(
    {
      ...(membership ?? {
        addLearner: lone,
        promote: lone,
        remove: lone,
        updateMemberUrl: lone,
        transferLeadership: lone,
        leader: () => config.name,
        leaderUrl: () => undefined,
        isLeader: () => true,
      }),
      backup: () => backups.take(),
    },
    accessKeys.admin,
    (err, id) => log.error("admin request failed", { requestId: id, error: err }),
    { requestBytesMax: config.requestBytesMax, isTenantKey: (h) => accessKeys.isTenantKey(h) },
  );
  // The peer and admin apps serve their routes under their prefixes, so a
  // request reaches them as it came (no copy of the Request per call).
  const peerRoot = peerApp === undefined ? undefined : raftRoot(peerApp);
  // The routes whose bodies stream to a client (a backup download, an event
  // stream) are watched (watchBody); the others' bodies are whole, and the
  // peers' stream is the Raft path's own.
  const watched = async (res: Response | Promise<Response>, req: Request, path: number) =>
    watchBody(await res, routeOf(req, path), log);
  const handler = (req: Request) => {
    // The path starts at the first "/" after the scheme's "//".
    const path = req.url.indexOf("/", req.url.indexOf("//") + 2);
    if (peerRoot !== undefined && req.url.startsWith("/raft/", path)) return peerRoot.fetch(req);
    if (req.url.startsWith("/v1/admin/", path)) return watched(admin.fetch(req), req, path);
    if (req.url.startsWith("/v1/events", path)) return watched(app.fetch(req), req, path);
    return app.fetch(req);
  };
  // A key that does not belong to the certificate, a port in use: startSite closes what is open.
  const server = await HttpsServer.start({
    hostname: config.host,
    port: config.port,
    tls: loaded.tls,
    checkIntervalMs: config.tls?.checkIntervalMs,
    handler,
    onError: serveErrorLogger(log),
    log,
    limits: config.clientConnections,
    // A peer's stream is quiet between Raft messages.
    quietBodies: (path: string) => path.startsWith("/raft/"),
    // Another process took the address in a reload's gap: the site serves
    // nothing any more, so it stops (a supervisor starts it again).
    onListenLost: () => void stop("listener lost").finally(() => Deno.exit(1)),
  });
  served.server = server;
  // What the config says that the cluster or the certificate disagrees with.
  await warnOfUrl(config.url, site, log);
  if (loaded.tls !== undefined) {
    const host = new URL(config.url).hostname;
    for (const doubt of certificateDoubts(loaded.tls, { now: Date.now(), host })) {
      log.warn("tls certificate will be refused", { reason: doubt });
    }
  }
  const url = server.url;
  let stopping: Promise<void> | undefined;
  const stop = (why?: string) =>
    stopping ??= (async () => {
      const started = performance.now();
      log.info("stopping: new writes are refused", { reason: why });
      site.stopAdmitting();
      // A leader hands off first (the host logs the transfer).
      await host?.handOffLeadership(handOffWaitMs);
      if (await site.drain(drainWaitMs)) {
        log.info("stopping: admitted writes done", { tookMs: since(started) });
      } else {
        log.warn("stopping: writes still uncommitted; stopping anyway", { waitedMs: drainWaitMs });
      }
      site.endSubscriptions();
      peerStreamsEnd.abort();
      // A client or peer that neither ends its request nor reads the answer cannot hold the stop up.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const drained = await Promise.race([
        server.shutdown().then(() => true),
        new Promise<boolean>((r) => timer = setTimeout(() => r(false), shutdownWaitMs)),
      ]);
      clearTimeout(timer);
      if (!drained) {
        log.warn("stopping: open requests did not finish; closing anyway", {
          waitedMs: shutdownWaitMs,
        });
      }
      await host?.close();
      await site.close();
      await peerClient.close();
      log.info("stopped", { tookMs: since(started) });
    })();
  return {
    stop,
    site,
    url,
    reloadTls: (trigger) => reloadTls(server, peerClient, trigger),
    reloadKeys: (trigger = "SIGHUP") => reloadKeys(configPath, accessKeys, log, trigger),
  };
}

/**
 * Reads the site's config file again — that file alone, not the genesis or
 * CA files it names, so that a CA file being rotated cannot keep a revoked
 * key in service — and puts its tenant and admin keys in service
 * ({@link AccessKeys}); logs what changed (key names, never keys), or why
 * nothing was: a config that does not parse leaves the keys in use as they
 * were. Other settings take effect at the next start.
 */
export async function reloadKeys(
  configPath: string,
  keys: AccessKeys,
  log: Logger,
  trigger: string,
): Promise<"reloaded" | "unchanged" | "failed"> {
  let config;
  try {
    config = await readSiteConfig(configPath);
  } catch (e) {
    log.error("access keys not reloaded: the config does not load; the keys in use stay", {
      trigger,
      error: e,
    });
    return "failed";
  }
  const change = keys.replace(config);
  if (change === undefined) {
    log.info("access keys unchanged", { trigger });
    return "unchanged";
  }
  log.info("access keys reloaded", { trigger, ...change });
  return "reloaded";
}

/** Whole milliseconds since `started` (a `performance.now()`). */
function since(started: number): number {
  return Math.round(performance.now() - started);
}

/** The value of flag `name`, given as `name value` or `name=value`. */
function argValue(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  if (i >= 0) return Deno.args[i + 1];
  return Deno.args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

const USAGE = "usage: deno run -A workers/site.ts --config <site.json> " +
  "(or the config's path in EDGELEDGER_CONFIG)";

/**
 * Says once, at start, when the config's `url` (`configured`) is not the
 * URL the cluster records for this site: the others reach it at the
 * recorded one (genesis, or its membership entry), whatever the config says.
 */
async function warnOfUrl(configured: string, site: Site, log: Logger): Promise<void> {
  const recorded = (await site.sites()).find((s) => s.name === site.name)?.url;
  if (recorded === undefined || new URL(recorded).href === new URL(configured).href) return;
  log.warn("this site's url differs from the one the cluster records for it", {
    url: configured,
    recorded,
    hint: "the other sites and clients reach it at the recorded URL; move it with `cli member " +
      "update` (or set url to the recorded one)",
  });
}

if (import.meta.main) {
  if (helpAsked(Deno.args)) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const configPath = argValue("--config") ?? Deno.env.get("EDGELEDGER_CONFIG");
  if (!configPath) {
    console.error(USAGE);
    Deno.exit(2);
  }
  try {
    const { stop, site, url, reloadTls, reloadKeys } = await startSite(configPath);
    console.log(`site ${site.name} ${url}`);
    const status = await site.status();
    site.log.info("site started", {
      url,
      ledger: status.ledger,
      version: VERSION,
      height: status.height,
      appliedIndex: status.appliedIndex,
      voters: status.voters,
      learners: status.learners,
    });
    stopOnSignals(stop, site.log);
    reloadOnHangup(async (trigger) => {
      await reloadKeys(trigger);
      await reloadTls(trigger);
    }, site.log);
  } catch (e) {
    console.error(`Cannot start site: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
