/**
 * Real-process clusters for tests: each site is its own `workers/site.ts`
 * process on loopback with its own libSQL file, started and stopped by the
 * test.
 *
 * @module
 */
import { exportKey, generateKeyPair } from "../sdk/keys.ts";
import { base64urlEncode } from "../sdk/encoding.ts";
import { initLocalLedger } from "../src/site/config.ts";

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
}

/** A cluster under a temp folder. */
export interface TestCluster {
  dir: string;
  sites: SiteProc[];
  /** A `fetch` that reaches the sites (over TLS: one that trusts the cluster's CA). */
  fetch: typeof fetch;
  adminKey: string;
  start(i: number): Promise<void>;
  kill(i: number, signal?: Deno.Signal): Promise<void>;
  addSiteConfig(name: string, port: number): Promise<string>;
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
  void pump(process.stdout);
  void pump(process.stderr);
  return { process, output: () => text };
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

/** A free-ish port range start for this process's clusters. */
export function basePort(): number {
  // Below Linux's ephemeral range (32768 up), where the connections tests
  // and sites open take their local ports, and clear of the usual servers.
  return 10_000 + Math.floor(Math.random() * 22_000);
}

/** Whether a site that did not start says its port was taken (by another test, say). */
function portTaken(stderr: string): boolean {
  return /address already in use|AddrInUse/i.test(stderr);
}

/** Tries {@link startCluster} takes, each on new ports, when a site's port was taken. */
const clusterStartTries = 3;

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Serve every site over HTTPS with these files (see `initLocalLedger`). */
  tls?: { certFile: string; keyFile: string; caFile?: string };
  /** How the test reaches the sites (default `fetch`): over TLS, one that trusts their CA. */
  fetch?: typeof fetch;
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
  // Ports are picked at random and test files run in parallel: one may be taken.
  for (let tries = 1;; tries++) {
    try {
      return await startClusterOnce(n, overrides, siteOverrides, options);
    } catch (e) {
      if (!(e instanceof PortTaken) || tries >= clusterStartTries) throw e;
    }
  }
}

/** A site could not start because its port was taken. */
class PortTaken extends Error {}

async function startClusterOnce(
  n: number,
  overrides: Record<string, unknown>,
  siteOverrides: ReadonlyArray<Record<string, unknown>>,
  options: ClusterOptions,
): Promise<TestCluster> {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-cluster-" });
  const port = basePort();
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
  const sites: SiteProc[] = configs.map((configPath, i) => ({
    name: `site-${String.fromCharCode(97 + i)}`,
    configPath,
    url: urls[i],
    proc: undefined as unknown as Deno.ChildProcess,
    alive: false,
    stderr: "",
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
      for await (const chunk of s.proc.stderr) {
        const text = dec.decode(chunk);
        s.stderr = (s.stderr + text).slice(-65_536);
        if (Deno.env.get("CLUSTER_LOG")) console.error(`[${s.name}] ${text}`);
      }
    })().catch(() => {});
    try {
      await waitForLine(s.proc, /^site \S+ \S+$/, 30_000);
    } catch (e) {
      // A site that exited has said why on stderr: read all of it.
      await Promise.race([stderrRead, new Promise((r) => setTimeout(r, 2000))]);
      if (portTaken(s.stderr)) throw new PortTaken(`${s.name}: ${s.stderr.trim()}`);
      throw new Error(`${(e as Error).message} (${s.name}): ${s.stderr.trim().slice(-2000)}`);
    }
  };

  const cluster: TestCluster = {
    dir,
    sites,
    fetch: options.fetch ?? fetch,
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
      const config = {
        name,
        host: "127.0.0.1",
        port: sitePort,
        url,
        db: "file:ledger.db",
        keyFile: "site-key.json",
        genesisFile: "../genesis.json",
        join: true,
        ...tuning,
      };
      await Deno.writeTextFile(`${siteDir}/site.json`, JSON.stringify(config, null, 2));
      return base64urlEncode(key.publicKey);
    },
    async startConfig(name, configPath) {
      const c = JSON.parse(await Deno.readTextFile(configPath));
      const s: SiteProc = {
        name,
        configPath,
        url: c.url,
        proc: undefined as unknown as Deno.ChildProcess,
        alive: false,
        stderr: "",
      };
      sites.push(s);
      await launch(s);
      return s;
    },
    async stop() {
      await Promise.all(sites.map((_, i) => cluster.kill(i, "SIGTERM")));
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
          { role: string; term: number; leader: string | null; height: number; site: string }
        >(`${s.url}/v1/status`, undefined, cluster.fetch)
        : undefined
    ),
  );
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
    if (res.status !== 409) return res;
    const problem = await res.json();
    if (problem.type?.endsWith("/not_leader") && problem.leaderUrl) url = problem.leaderUrl;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Admin call ${path} kept failing`);
}
