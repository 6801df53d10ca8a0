/**
 * Real-process clusters for tests: each site is its own `workers/site.ts`
 * process on loopback with its own libSQL file, started and stopped by the
 * test.
 *
 * @module
 */
import { FETCH_BLOCKED_PORTS } from "../src/site/ports.ts";
import assert from "node:assert/strict";
import { exportKey, generateKeyPair } from "../sdk/keys.ts";
import { base64urlEncode } from "../sdk/encoding.ts";
import { initLocalLedger } from "../src/site/config.ts";
import { anchorTx } from "./_helpers.ts";
import { type PartitionOptions, PartitionProxy } from "./_partition.ts";
import {
  portTaken,
  PortTakenError,
  portTriesMax,
  startOnFreePort as sharedStartOnFreePort,
} from "../workers/_ports.ts";

export { portTaken, PortTakenError, portTriesMax };

/** Signs the anchors {@link commitBatches} sends. */
const batchSigner = generateKeyPair("ed25519");

const siteScript = new URL("../workers/site.ts", import.meta.url).pathname;

/** One running site process. */
export interface SiteProc {
  name: string;
  configPath: string;
  url: string;
  proc: Deno.ChildProcess;
  alive: boolean;
  /** What the process wrote to stderr (its last 64 KiB). */
  stderr: string;
  /** Snapshot installs its logs said it finished, over all its runs. */
  snapshotsInstalled: number;
}

/** A cluster under a temp folder. */
export interface TestCluster {
  dir: string;
  sites: SiteProc[];
  /** A `fetch` that reaches the sites (over TLS: one that trusts the cluster's CA). */
  fetch: typeof fetch;
  /**
   * The fault proxy every link between the sites goes through, when started
   * with `partitions` ({@link ClusterOptions}): cut and heal links with it.
   */
  links?: PartitionProxy;
  adminKey: string;
  /** Starts site `i` again, on its port: a restart does not move (its URL is in genesis). */
  start(i: number): Promise<void>;
  kill(i: number, signal?: Deno.Signal): Promise<void>;
  /**
   * Writes a joining site's config on `port` under the cluster's folder,
   * taking the admin key as the others do; its public key.
   */
  addSiteConfig(name: string, port: number): Promise<string>;
  /**
   * Starts a site that never ran from its config and adds it to `sites`.
   * When its port was taken, it moves to a new one ({@link startOnFreePort}):
   * its config's `port` and `url` are rewritten; use the returned `url`.
   */
  startConfig(name: string, configPath: string): Promise<SiteProc>;
  stop(): Promise<void>;
}

/**
 * Runs `workers/<script>` with `args` (and `env` added to this process's) to
 * its end; its exit code and output (stdout, then stderr).
 */
export async function runWorker(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`../workers/${script}`, import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
    env,
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

/** A worker process started by {@link spawnWorker}. */
export interface SpawnedWorker {
  process: Deno.ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output: () => string;
  /** Resolves once both its stdout and stderr have ended: `output()` is then all it printed. */
  outputEnded: Promise<void>;
}

/** Starts `workers/<script>` with `args`, collecting what it prints; the caller stops it. */
export function spawnWorker(script: string, args: string[]): SpawnedWorker {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`../workers/${script}`, import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const outputEnded = Promise.all([pump(process.stdout), pump(process.stderr)]).then(
    () => {},
    () => {},
  );
  return { process, output: () => text, outputEnded };
}

/** Waits until what `worker` printed includes `text`, or throws after `timeoutMs`. */
export async function waitForOutput(
  worker: SpawnedWorker,
  text: string,
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(
    `"${text}" in the output`,
    () => Promise.resolve(worker.output().includes(text)),
    timeoutMs,
  );
}

// ---- ports -------------------------------------------------------------------
//
// Test files run in parallel, and every test that starts a process on a port
// it chose races the others for that port. Two rules keep that rare and
// harmless:
//
// 1. Chosen ports come from [testPortMin, testPortMax), below Linux's
//    ephemeral range (32768–60999, net.ipv4.ip_local_port_range), where every
//    outgoing connection of the tests and their sites takes its local port.
//    Here only other tests' chosen ports compete, never a connection.
// 2. A first start that finds its port taken moves to a new one
//    (startOnFreePort, spawnWorkerOnPort). A restart keeps its port: a
//    ledger's sites keep the URLs genesis gave them.
//
// A test that binds port 0 in its own process (Deno.serve, Deno.listen) and
// reads the port back needs neither.

/** The least port a test chooses (clear of the usual servers below it). */
export const testPortMin = 10_000;
/**
 * The port a test's choice stays below: room above it for a base port's
 * neighbours (up to 9 sites of `task start`, the gateway one below the first)
 * before the ephemeral range starts at 32768.
 */
export const testPortMax = 32_000;

/**
 * A random port in `[testPortMin, testPortMax)` to start a process on (a
 * cluster's first site; its others take the ports above). It may be taken:
 * start on it with {@link startOnFreePort}.
 */
export function basePort(): number {
  for (;;) {
    const port = testPortMin + Math.floor(Math.random() * (testPortMax - testPortMin));
    // The ports a cluster takes around its first (the gateway below it, up to 9 sites above)
    // must not include one fetch refuses to connect to ("Requests to port 10080 are blocked").
    if (![...FETCH_BLOCKED_PORTS].some((b) => b >= port - 1 && b <= port + 9)) return port;
  }
}

export { FETCH_BLOCKED_PORTS };

/** How many tries to find a closed port {@link closedPort} makes. */
const closedPortTriesMax = 20;

/**
 * A port in `[testPortMin, testPortMax)` on which nothing listens now: for
 * the URL of a site that is down (a connection is refused). Not to start a
 * process on (use {@link startOnFreePort}). Below the ephemeral range no
 * outgoing connection takes it as its local port; a closed port in that
 * range could be, and a connection to it from that very port would reach
 * itself (TCP simultaneous open) instead of being refused. Only another
 * test's chosen port, drawn at random, can take it meanwhile.
 */
export function closedPort(): number {
  for (let tries = 0; tries < closedPortTriesMax; tries++) {
    const port = basePort();
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse)) throw e;
    }
  }
  throw new Error(`Cannot find a closed port: ${closedPortTriesMax} tries were all in use`);
}

/** How a start picks its ports ({@link startOnFreePort}). */
export interface PortOptions {
  /** Picks each try's port (default {@link basePort}); a test injects its own. */
  pick?: () => number;
  /** Tries at most, each on a port of its own (default {@link portTriesMax}). */
  triesMax?: number;
}

/**
 * {@link sharedStartOnFreePort} with a test's ports: `options.pick` or
 * {@link basePort}, {@link portTriesMax} tries unless told.
 */
export function startOnFreePort<T>(
  start: (port: number) => Promise<T>,
  options: PortOptions = {},
): Promise<T> {
  return sharedStartOnFreePort(start, { ...options, pick: options.pick ?? basePort });
}

/** A worker started by {@link spawnWorkerOnPort}: on `port`, with `args`. */
export interface WorkerOnPort {
  worker: SpawnedWorker;
  port: number;
  args: string[];
}

/** How long a worker that did not get ready gets to stop on SIGTERM before SIGKILL, ms. */
const workerStopWaitMs = 20_000;

/**
 * Starts `workers/<script>` with `args(port)` on a port of
 * {@link startOnFreePort} and waits until its output includes `ready`. A
 * worker that ends before that, saying its address was in use (`task start`
 * passes on its sites' and gateway's errors), is started again: `args` is
 * called with a new port (give each its own `--data` folder). Any other early
 * end, or no `ready` within `timeoutMs`, throws with what it printed (a
 * worker still running is stopped first). The caller stops the worker it gets.
 */
export async function spawnWorkerOnPort(
  script: string,
  args: (port: number) => string[],
  ready: string,
  options: PortOptions & { timeoutMs?: number } = {},
): Promise<WorkerOnPort> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return await startOnFreePort(async (port) => {
    const argv = args(port);
    const worker = spawnWorker(script, argv);
    await waitUntilReady(worker, `${script} on port ${port}`, ready, timeoutMs);
    return { worker, port, args: argv };
  }, options);
}

/**
 * Waits until `worker`'s output includes `ready`; throws {@link PortTakenError}
 * when it ended before saying its address was in use, else an error with its
 * output (stopping it if it still runs).
 */
async function waitUntilReady(
  worker: SpawnedWorker,
  what: string,
  ready: string,
  timeoutMs: number,
): Promise<void> {
  let exited: Deno.CommandStatus | undefined;
  const status = worker.process.status.then((s) => exited = s);
  try {
    await waitFor(
      `"${ready}" from ${what}`,
      () => Promise.resolve(worker.output().includes(ready) || exited !== undefined || undefined),
      timeoutMs,
    );
  } catch (e) {
    await stopWorker(worker);
    throw new Error(`${(e as Error).message}: ${worker.output().trim().slice(-2000)}`);
  }
  if (exited === undefined) return;
  await status;
  await worker.outputEnded;
  const output = worker.output();
  if (output.includes(ready)) return;
  if (portTaken(output)) throw new PortTakenError(`${what}: ${output.trim().slice(-2000)}`);
  throw new Error(
    `${what} exited with code ${exited.code} before "${ready}": ${output.trim().slice(-2000)}`,
  );
}

/** SIGTERM (a `task start` stops its sites), then SIGKILL after {@link workerStopWaitMs}. */
async function stopWorker(worker: SpawnedWorker): Promise<void> {
  const signal = (s: Deno.Signal) => {
    try {
      worker.process.kill(s);
    } catch { /* exited */ }
  };
  signal("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    worker.process.status,
    new Promise((r) => timer = setTimeout(r, workerStopWaitMs)),
  ]);
  clearTimeout(timer);
  signal("SIGKILL");
  await worker.process.status;
}

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Serve every site over HTTPS with these files (see `initLocalLedger`). */
  tls?: { certFile: string; keyFile: string; caFile?: string };
  /** How the test reaches the sites (default `fetch`): over TLS, one that trusts their CA. */
  fetch?: typeof fetch;
  /** How the first site's port is picked, and how often ({@link startOnFreePort}). */
  ports?: PortOptions;
  /**
   * Route every link between the sites through a fault proxy
   * (`test/_partition.ts`, `cluster.links`): each site's config gets
   * `peerUrls` naming its own route to each other site; clients still reach
   * the sites directly, unless given routes of their own (`clients`: see
   * {@link PartitionProxy.clientUrl}). `oneWayMs` delays each direction of
   * each route; `seed` seeds the routes' jitter. Sites that join later
   * (`startConfig`) are not routed through it.
   */
  partitions?: boolean | PartitionOptions;
}

/**
 * Starts `n` sites with fast Raft ticks; `overrides` are merged into each
 * site.json, then `siteOverrides[i]` into site i's (e.g. its `db`). A site
 * given its own `tls` there serves `https://`, and genesis says so.
 */
export async function startCluster(
  n: number,
  overrides: Record<string, unknown> = {},
  siteOverrides: ReadonlyArray<Record<string, unknown>> = [],
  options: ClusterOptions = {},
): Promise<TestCluster> {
  // A site whose port was taken stops the try; the next is on new ports and a new folder.
  return await startOnFreePort(
    (port) => startClusterOnce(n, overrides, siteOverrides, options, port),
    options.ports,
  );
}

/** {@link startCluster} on sites' ports from `port` up; throws PortTakenError when one was taken. */
async function startClusterOnce(
  n: number,
  overrides: Record<string, unknown>,
  siteOverrides: ReadonlyArray<Record<string, unknown>>,
  options: ClusterOptions,
  port: number,
): Promise<TestCluster> {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-cluster-" });
  const configs = await initLocalLedger({
    dataDir: dir,
    sites: n,
    basePort: port,
    host: "127.0.0.1",
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  const scheme = options.tls === undefined ? "http" : "https";
  const urls = configs.map((_, i) => `${scheme}://127.0.0.1:${port + i}`);
  const tuning = { tickMs: 50, electionTicks: 10, ...overrides };
  for (const [i, path] of configs.entries()) {
    const c = JSON.parse(await Deno.readTextFile(path));
    const own = siteOverrides[i] ?? {};
    // A site given its own `tls` serves https.
    const url = own.tls !== undefined && own.url === undefined
      ? { url: urls[i].replace(/^http:/, "https:") }
      : {};
    await Deno.writeTextFile(path, JSON.stringify({ ...c, ...tuning, ...url, ...own }, null, 2));
    urls[i] = (own.url as string | undefined) ?? url.url ?? urls[i];
  }
  if (urls.some((u, i) => u !== `${scheme}://127.0.0.1:${port + i}`)) {
    const genesis = JSON.parse(await Deno.readTextFile(`${dir}/genesis.json`));
    genesis.sites.forEach((s: { url: string }, i: number) => s.url = urls[i]);
    await Deno.writeTextFile(`${dir}/genesis.json`, JSON.stringify(genesis, null, 2));
  }
  const adminKey = (await Deno.readTextFile(`${dir}/admin-api-key.txt`)).trim();
  let links: PartitionProxy | undefined;
  if (options.partitions !== undefined && options.partitions !== false) {
    const parsed = await Promise.all(
      configs.map(async (path) =>
        JSON.parse(await Deno.readTextFile(path)) as { name: string; port: number }
      ),
    );
    const proxy = await PartitionProxy.start(
      parsed.map((c) => c.port),
      options.partitions === true ? {} : options.partitions,
    );
    links = proxy;
    const names = parsed.map((c) => c.name);
    try {
      for (const [i, path] of configs.entries()) {
        const c = { ...parsed[i], peerUrls: proxy.peerUrls(i, names) };
        await Deno.writeTextFile(path, JSON.stringify(c, null, 2));
      }
    } catch (e) {
      await proxy.stop();
      throw e;
    }
  }
  const sites: SiteProc[] = configs.map((configPath, i) => ({
    name: `site-${String.fromCharCode(97 + i)}`,
    configPath,
    url: urls[i],
    proc: undefined as unknown as Deno.ChildProcess,
    alive: false,
    stderr: "",
    snapshotsInstalled: 0,
  }));

  const launch = async (s: SiteProc) => {
    s.proc = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", siteScript, "--config", s.configPath],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    s.alive = true;
    // Drain stderr so the child never blocks on a full pipe; keep it for failures.
    const stderrRead = (async () => {
      const dec = new TextDecoder();
      /** The start of a line whose end is still to come. */
      let partial = "";
      for await (const chunk of s.proc.stderr) {
        const text = dec.decode(chunk, { stream: true });
        s.stderr = (s.stderr + text).slice(-65_536);
        const lines = (partial + text).split("\n");
        partial = lines.pop()!;
        for (const l of lines) if (l.includes("installed snapshot")) s.snapshotsInstalled++;
        if (Deno.env.get("CLUSTER_LOG")) console.error(`[${s.name}] ${text}`);
      }
    })().catch(() => {});
    try {
      await waitForLine(s.proc, /^site \S+ \S+$/, 30_000);
    } catch (e) {
      // A site that exited has said why on stderr: read all of it.
      await Promise.race([stderrRead, new Promise((r) => setTimeout(r, 2000))]);
      if (portTaken(s.stderr)) {
        s.alive = false;
        await s.proc.status;
        throw new PortTakenError(`${s.name}: ${s.stderr.trim()}`);
      }
      throw new Error(`${(e as Error).message} (${s.name}): ${s.stderr.trim().slice(-2000)}`);
    }
  };

  const cluster: TestCluster = {
    dir,
    sites,
    fetch: options.fetch ?? fetch,
    ...(links === undefined ? {} : { links }),
    adminKey,
    async start(i) {
      await launch(sites[i]);
    },
    async kill(i, signal = "SIGKILL") {
      const s = sites[i];
      if (!s.alive) return;
      s.alive = false;
      try {
        s.proc.kill(signal);
      } catch { /* gone */ }
      await s.proc.status;
    },
    async addSiteConfig(name, sitePort) {
      const siteDir = `${dir}/${name}`;
      await Deno.mkdir(siteDir, { recursive: true });
      const key = generateKeyPair("ed25519");
      await Deno.writeTextFile(`${siteDir}/site-key.json`, JSON.stringify(exportKey(key)), {
        mode: 0o600,
      });
      const url = `http://127.0.0.1:${sitePort}`;
      // Like every site of the consortium it takes the admin key (once it
      // leads, membership changes go to it).
      const { adminKeyHashes } = JSON.parse(await Deno.readTextFile(sites[0].configPath));
      const config = {
        name,
        host: "127.0.0.1",
        port: sitePort,
        url,
        db: "file:ledger.db",
        keyFile: "site-key.json",
        genesisFile: "../genesis.json",
        join: true,
        ...(adminKeyHashes === undefined ? {} : { adminKeyHashes }),
        ...tuning,
      };
      await Deno.writeTextFile(`${siteDir}/site.json`, JSON.stringify(config, null, 2));
      return base64urlEncode(key.publicKey);
    },
    async startConfig(name, configPath) {
      const c = JSON.parse(await Deno.readTextFile(configPath));
      // The config's port first; a site that never ran may move (a restart is start(i)).
      let first = true;
      const pick = () => first ? (first = false, c.port as number) : basePort();
      return await startOnFreePort(async (port) => {
        if (port !== c.port) {
          const { protocol, hostname } = new URL(c.url);
          c.port = port;
          c.url = `${protocol}//${hostname}:${port}`;
          await Deno.writeTextFile(configPath, JSON.stringify(c, null, 2));
        }
        const s: SiteProc = {
          name,
          configPath,
          url: c.url,
          proc: undefined as unknown as Deno.ChildProcess,
          alive: false,
          stderr: "",
          snapshotsInstalled: 0,
        };
        sites.push(s);
        try {
          await launch(s);
        } catch (e) {
          // It exited: the next try is a site of its own.
          if (e instanceof PortTakenError) sites.splice(sites.indexOf(s), 1);
          throw e;
        }
        return s;
      }, { pick });
    },
    async stop() {
      await Promise.all(sites.map((_, i) => cluster.kill(i, "SIGTERM")));
      await links?.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  try {
    for (const s of sites) await launch(s);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

/** Reads a child's stdout until a line matches; keeps draining afterwards. */
async function waitForLine(
  proc: Deno.ChildProcess,
  re: RegExp,
  timeoutMs: number,
): Promise<string> {
  const reader = proc.stdout.getReader();
  const dec = new TextDecoder();
  let buf = "";
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) throw new Error("Site exited before it listened");
    buf += dec.decode(value, { stream: true });
    for (const line of buf.split("\n")) {
      if (re.test(line)) {
        // Keep draining stdout in the background.
        void (async () => {
          while (!(await reader.read()).done) { /* drain */ }
        })().catch(() => {});
        return line;
      }
    }
  }
  throw new Error("Site did not listen in time");
}

/** GETs JSON, or undefined when the site does not answer. */
export async function getJson<T = Record<string, unknown>>(
  url: string,
  timeoutMs = 2000,
  fetchFn: typeof fetch = fetch,
): Promise<T | undefined> {
  try {
    const res = await fetchFn(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    return await res.json() as T;
  } catch {
    return undefined;
  }
}

/**
 * POSTs `body` to `url`'s `/v1/txs?wait=commit`; its status and parsed body,
 * or status 0 when the site does not answer within `timeoutMs` (plus 2 s).
 */
export async function submitCommit(url: string, body: unknown, timeoutMs = 5000) {
  try {
    const res = await fetch(`${url}/v1/txs?wait=commit&timeoutMs=${timeoutMs}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs + 2000),
    });
    return { status: res.status, body: await res.json() };
  } catch {
    return { status: 0, body: undefined };
  }
}

/** Polls until `check` returns a value, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

/** The status of every live site. */
export async function statuses(cluster: TestCluster) {
  return await Promise.all(
    cluster.sites.map((s) =>
      s.alive
        ? getJson<
          {
            role: string;
            term: number;
            leader: string | null;
            height: number;
            site: string;
            storageLow?: Array<{ site: string; freeBytes: number; freeBytesMin: number }>;
          }
        >(`${s.url}/v1/status`, undefined, cluster.fetch)
        : undefined
    ),
  );
}

/**
 * Waits until every live site has applied `height`: a `stale` read at any of
 * them then finds what a receipt from one of them says committed there.
 */
export async function allAtHeight(cluster: TestCluster, height: number) {
  await waitFor(`every site at height ${height}`, async () => {
    const st = await statuses(cluster);
    return st.every((s, i) => !cluster.sites[i].alive || (s !== undefined && s.height >= height)) ||
      undefined;
  });
}

/** The index and term of the site that leads now, at a term above `minTerm`, once one does. */
export async function leaderIndex(cluster: TestCluster, minTerm = 0) {
  return await waitFor("a leader", async () => {
    const st = await statuses(cluster);
    const i = st.findIndex((s) => s?.role === "leader" && s.term > minTerm);
    return i >= 0 ? { index: i, term: st[i]!.term } : undefined;
  });
}

/** Every block hash of a site, ascending from height 0. */
export async function blockHashes(url: string, fetchFn: typeof fetch = fetch): Promise<string[]> {
  const out: string[] = [];
  let from = 0;
  for (;;) {
    const page = await getJson<
      { blocks: Array<{ hash: string; txIds: string[] }>; next: number | null }
    >(
      `${url}/v1/blocks?from=${from}&limit=1000`,
      10_000,
      fetchFn,
    );
    if (!page) throw new Error(`Cannot read blocks from ${url}`);
    out.push(...page.blocks.map((b) => b.hash));
    if (page.next === null) return out;
    from = page.next;
  }
}

/** Every transaction id of a site in log order. */
export async function txIdsInLog(url: string): Promise<string[]> {
  const out: string[] = [];
  let from = 0;
  for (;;) {
    const page = await getJson<{ blocks: Array<{ txIds: string[] }>; next: number | null }>(
      `${url}/v1/blocks?from=${from}&limit=1000`,
      10_000,
    );
    if (!page) throw new Error(`Cannot read blocks from ${url}`);
    for (const b of page.blocks) out.push(...b.txIds);
    if (page.next === null) return out;
    from = page.next;
  }
}

/** What `POST /v1/admin/site-key` answers. */
export interface SiteKeyRotated {
  site: string;
  previous: string;
  publicKey: string;
  untilHeight: number;
  retirementSigned: boolean;
}

/** Has site `i` rotate its own key (`POST /v1/admin/site-key`, the admin key); asserts 200. */
export async function rotateSiteKey(cluster: TestCluster, i: number): Promise<SiteKeyRotated> {
  const res = await cluster.fetch(`${cluster.sites[i].url}/v1/admin/site-key`, {
    method: "POST",
    headers: { authorization: `Bearer ${cluster.adminKey}` },
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body as SiteKeyRotated;
}

/**
 * Calls an admin route on the leader, following `not_leader` answers to the
 * leader they name (leadership may move under load).
 */
export async function adminCall(
  cluster: TestCluster,
  path: string,
  init: { method: string; body?: unknown },
): Promise<Response> {
  let url = cluster.sites.find((s) => s.alive)!.url;
  for (let attempt = 0; attempt < 20; attempt++) {
    const res = await fetch(`${url}/v1/admin${path}`, {
      method: init.method,
      headers: { "content-type": "application/json", authorization: `Bearer ${cluster.adminKey}` },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    // 503 not_leader (follow it), or 409 conflict (another change under way: wait).
    if (res.status !== 503 && res.status !== 409) return res;
    const problem = await res.json();
    if (problem.type?.endsWith("/not_leader") && problem.leaderUrl) url = problem.leaderUrl;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Admin call ${path} kept failing`);
}

/**
 * Asks site `at` (`POST /v1/admin/leader`) to hand leadership to `to`, once:
 * its answer as it is (unlike {@link adminCall}, which follows and retries).
 */
export function transferLeadership(
  cluster: TestCluster,
  at: number,
  to: string,
): Promise<Response> {
  return cluster.fetch(`${cluster.sites[at].url}/v1/admin/leader`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${cluster.adminKey}` },
    body: JSON.stringify({ to }),
  });
}

/**
 * Brings a restored site (`cluster.sites[i]`, started on its copy after its
 * removal) back as `README.md` says: adds it as a learner with `publicKey`,
 * waits until it reached the height the first site has then, promotes it,
 * and commits `tx` through it. The height it caught up to.
 */
export async function addBackRestored(
  cluster: TestCluster,
  i: number,
  publicKey: string,
  tx: unknown,
): Promise<number> {
  const site = cluster.sites[i];
  const added = await adminCall(cluster, "/members", {
    method: "POST",
    body: { name: site.name, url: site.url, publicKey },
  });
  assert.equal(added.status, 200, await added.text());
  const target = (await getJson<{ height: number }>(`${cluster.sites[0].url}/v1/status`))!.height;
  await waitFor("the restored site to catch up", async () => {
    const h = await getJson<{ height: number }>(`${site.url}/v1/status`);
    return h && h.height >= target ? true : undefined;
  }, 30_000);
  const promoted = await adminCall(cluster, `/members/${site.name}/promote`, { method: "POST" });
  assert.equal(promoted.status, 200, await promoted.text());
  // A voter again, it takes writes: one through it commits everywhere.
  const w = await submitCommit(site.url, tx, 10_000);
  assert.equal(w.body?.status, "committed", JSON.stringify(w.body));
  return target;
}

/** Submits `rounds` batches of `size` anchors to `url`, each waiting for its commit. */
export async function commitBatches(url: string, rounds: number, size = 20) {
  for (let i = 0; i < rounds; i++) {
    const txs = await Promise.all(Array.from({ length: size }, () => anchorTx(batchSigner)));
    const r = await submitCommit(url, { txs }, 10_000);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
}

/**
 * Waits until every site holds the same height, then copies site `i`'s
 * database with `task backup` (its `--config`) to `<dir>/<name>-copy.db`:
 * the copy's path and what the command printed.
 */
export async function copyOfCaughtUp(cluster: TestCluster, i: number) {
  const site = cluster.sites[i];
  await waitFor(`${site.name} at the others' height`, async () => {
    const hs = (await statuses(cluster)).map((s) => s?.height);
    return hs.every((h) => h === hs[0]) ? true : undefined;
  });
  const copy = `${cluster.dir}/${site.name}-copy.db`;
  const b = await runWorker("backup.ts", ["--config", site.configPath, "--out", copy]);
  assert.equal(b.code, 0, b.text);
  return { copy, output: b.text };
}

/**
 * Three sites that compact their Raft log after 10 entries (so a site
 * further behind catches up by snapshot), once one of them leads.
 */
export async function snapshottingCluster() {
  const cluster = await startCluster(3, { snapshotEntriesMin: 10, compactKeepEntries: 2 });
  await waitFor("a leader", async () => {
    const st = await statuses(cluster);
    return st.some((s) => s?.role === "leader") ? true : undefined;
  }).catch(async (e) => {
    await cluster.stop();
    throw e;
  });
  return cluster;
}
