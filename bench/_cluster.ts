/**
 * Machinery for the cluster bench: a local 3-site edgeledger cluster as
 * child processes, status polling, and a closed-loop load generator that
 * spreads its clients over several targets (sites or etcd members).
 *
 * Everything is bounded: loops stop at a deadline or when their pre-built
 * requests run out, polls give up after `…MsMax`, and every request has a
 * timeout.
 *
 * @module
 */
import type { StatusView } from "../src/api/service.ts";
import { initLocalLedger } from "../src/site/config.ts";
import { freePort, RawHttpConnection, type SiteProcess, spawnSite } from "./_load.ts";
import { DelayProxy } from "./_delay_proxy.ts";

// ---------------------------------------------------------------------------
// Status of one site.

/** `GET /v1/status` as a site answers it. */
export type SiteStatus = StatusView;

/** `GET <url>/v1/status`; throws on a network error, a timeout or a non-200 answer. */
export async function getSiteStatus(url: string, timeoutMs = 2_000): Promise<SiteStatus> {
  const res = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`GET ${url}/v1/status answered ${res.status}: ${text.slice(0, 400)}`);
  }
  return JSON.parse(text) as SiteStatus;
}

/** Like {@link getSiteStatus} but `undefined` instead of throwing (a site that is down or busy). */
export async function tryStatus(url: string, timeoutMs = 2_000): Promise<SiteStatus | undefined> {
  try {
    return await getSiteStatus(url, timeoutMs);
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// A local cluster of sites.

/** Ports a cluster needs, consecutive from a base (as `initLocalLedger` assigns them). */
function freeBasePort(count: number): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = freePort();
    if (base + count > 65535) continue;
    let ok = true;
    for (let p = base; p < base + count && ok; p++) {
      try {
        Deno.listen({ hostname: "127.0.0.1", port: p }).close();
      } catch {
        ok = false;
      }
    }
    if (ok) return base;
  }
  throw new Error(`Cannot find ${count} consecutive free ports on 127.0.0.1`);
}

/** Options of {@link LocalCluster.start}. */
export interface LocalClusterOptions {
  /** Run each site with `--inspect` on its own loopback port (for CPU profiles). */
  inspect?: boolean;
  /**
   * Round trip between sites, ms (0, the default: loopback). Above 0, the
   * URLs the sites know each other by (genesis's) point at a
   * {@link DelayProxy} that delays each direction by half of it; clients
   * still reach the sites directly.
   */
  peerRttMs?: number;
  /** Fields merged into every site's config file (e.g. `proposalsInFlightMax`). */
  siteConfig?: Record<string, unknown>;
}

/** A running local cluster: `sites[i]` is `undefined` while site `i` is down. */
export class LocalCluster {
  readonly dir: string;
  readonly configs: string[];
  /** Each site's own URL (what clients use). */
  readonly urls: string[];
  readonly names: string[];
  readonly sites: Array<SiteProcess | undefined>;
  /** V8 inspector port of each site when started with `inspect`, else empty. */
  readonly inspectPorts: number[];
  /** The proxy between the sites, when started with `peerRttMs` above 0. */
  readonly proxy: DelayProxy | undefined;
  #restarts = 0;

  private constructor(
    dir: string,
    configs: string[],
    sites: SiteProcess[],
    inspectPorts: number[],
    proxy: DelayProxy | undefined,
  ) {
    this.dir = dir;
    this.configs = configs;
    this.sites = sites;
    this.inspectPorts = inspectPorts;
    this.proxy = proxy;
    this.urls = sites.map((s) => s.url);
    this.names = sites.map((s) => s.name);
  }

  /**
   * Creates a fresh ledger with `siteCount` sites under `dir` (which must
   * not hold one yet), starts every site, and waits for a leader (see
   * {@link LocalClusterOptions}).
   */
  static async start(
    dir: string,
    siteCount: number,
    options: LocalClusterOptions = {},
  ): Promise<LocalCluster> {
    const inspect = options.inspect ?? false;
    const configs = await initLocalLedger({
      dataDir: dir,
      sites: siteCount,
      basePort: freeBasePort(siteCount),
      host: "127.0.0.1",
    });
    if (options.siteConfig !== undefined) {
      for (const path of configs) {
        const config = JSON.parse(await Deno.readTextFile(path));
        await Deno.writeTextFile(
          path,
          JSON.stringify({ ...config, ...options.siteConfig }, null, 2) + "\n",
        );
      }
    }
    let proxy: DelayProxy | undefined;
    const peerRttMs = options.peerRttMs ?? 0;
    if (peerRttMs > 0) {
      // Sites find each other by genesis's URLs: those go through the proxy.
      const ports = await Promise.all(
        configs.map(async (p) => (JSON.parse(await Deno.readTextFile(p)) as { port: number }).port),
      );
      proxy = await DelayProxy.start(ports, peerRttMs / 2);
      const genesisPath = `${dir}/genesis.json`;
      const genesis = JSON.parse(await Deno.readTextFile(genesisPath)) as {
        sites: Array<{ url: string }>;
      };
      genesis.sites.forEach((s, i) => s.url = `http://127.0.0.1:${proxy!.ports[i]}`);
      await Deno.writeTextFile(genesisPath, JSON.stringify(genesis, null, 2) + "\n");
    }
    const inspectPorts = inspect ? configs.map(() => freePort()) : [];
    const started = await Promise.allSettled(
      configs.map((c, i) =>
        spawnSite(
          c,
          `${dir}/site-${i}.log`,
          inspect ? [`--inspect=127.0.0.1:${inspectPorts[i]}`] : [],
        )
      ),
    );
    const sites = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failed = started.find((s) => s.status === "rejected") as
      | PromiseRejectedResult
      | undefined;
    if (failed !== undefined) {
      await Promise.all(sites.map((s) => s.stop()));
      await proxy?.stop();
      throw failed.reason;
    }
    const cluster = new LocalCluster(dir, configs, sites, inspectPorts, proxy);
    try {
      await cluster.waitForLeader();
    } catch (e) {
      await cluster.close();
      throw e;
    }
    return cluster;
  }

  /** URLs of the sites that are up. */
  get liveUrls(): string[] {
    return this.urls.filter((_, i) => this.sites[i] !== undefined);
  }

  /** Pids of the sites that are up. */
  get livePids(): number[] {
    return this.sites.flatMap((s) => (s ? [s.pid] : []));
  }

  /** Status of every site (`undefined` for a site that is down or did not answer). */
  statuses(timeoutMs = 2_000): Promise<Array<SiteStatus | undefined>> {
    return Promise.all(
      this.urls.map((u, i) => (this.sites[i] ? tryStatus(u, timeoutMs) : undefined)),
    );
  }

  /**
   * Waits until a live site reports `role: "leader"` with a term above
   * `termAbove` and every live site names it as leader; returns the
   * leader's index and status. Throws after `msMax` with every status seen.
   */
  async waitForLeader(
    termAbove = 0,
    msMax = 30_000,
  ): Promise<{ index: number; status: SiteStatus }> {
    const until = performance.now() + msMax;
    let last: Array<SiteStatus | undefined> = [];
    while (performance.now() < until) {
      last = await this.statuses();
      const i = last.findIndex((s) => s?.role === "leader" && s.term > termAbove);
      if (
        i >= 0 &&
        last.every((s, j) => this.sites[j] === undefined || s?.leader === last[i]!.site)
      ) {
        return { index: i, status: last[i]! };
      }
      await sleep(20);
    }
    throw new Error(
      `No leader with term > ${termAbove} within ${msMax} ms; statuses: ${JSON.stringify(last)}`,
    );
  }

  /** SIGKILLs site `i` (a crash) and waits for the process to be gone. */
  async kill(i: number): Promise<void> {
    const site = this.sites[i];
    if (site === undefined) return;
    try {
      Deno.kill(site.pid, "SIGKILL");
    } catch { /* already gone */ }
    await site.stop(1_000);
    this.sites[i] = undefined;
  }

  /** SIGTERMs site `i` (a clean stop). */
  async stop(i: number): Promise<void> {
    const site = this.sites[i];
    if (site === undefined) return;
    await site.stop();
    this.sites[i] = undefined;
  }

  /** Starts site `i` again on its data; resolves once it listens. */
  async restart(i: number): Promise<SiteProcess> {
    if (this.sites[i] !== undefined) throw new Error(`Cannot restart site ${i}: it is running`);
    const site = await spawnSite(this.configs[i], `${this.dir}/site-${i}.r${++this.#restarts}.log`);
    this.sites[i] = site;
    return site;
  }

  /** Stops every site (SIGTERM, SIGKILL after a grace period), then the proxy. */
  async close(): Promise<void> {
    await Promise.all(this.sites.map((s) => s?.stop()));
    this.sites.fill(undefined);
    await this.proxy?.stop();
  }

  /**
   * Waits (bounded) until every live site has the same height twice in a
   * row 100 ms apart: no block in flight, all replicas applied. Returns
   * the last statuses.
   */
  async waitForQuiet(msMax = 20_000): Promise<Array<SiteStatus | undefined>> {
    const until = performance.now() + msMax;
    let prev = "";
    let last: Array<SiteStatus | undefined> = [];
    while (performance.now() < until) {
      last = await this.statuses(5_000);
      const heights = last.map((s, j) => (this.sites[j] ? s?.height ?? -1 : -2));
      const key = heights.join(",");
      if (key === prev && heights.every((h) => h === heights.find((x) => x !== -2))) return last;
      prev = key;
      await sleep(100);
    }
    return last;
  }
}

// ---------------------------------------------------------------------------
// Closed-loop load over several targets.

/** One HTTP endpoint clients send to. */
export interface Target {
  host: string;
  port: number;
  /** Path and query, e.g. `/v1/txs?wait=commit`. */
  path: string;
}

/** What one answer meant: transactions committed by it, or why it failed. */
export type Verdict = { committed: number; cause?: undefined } | {
  committed: number;
  cause: string;
};

/** Options of {@link runSpreadLoop}. */
export interface SpreadLoopOptions {
  /** Client `c` sends every request to `targets[c % targets.length]`. */
  targets: readonly Target[];
  /** Request bodies, each sent at most once, in order. */
  bodies: readonly string[];
  /** Concurrent clients, each with one request in flight. Requires 1..4096. */
  concurrency: number;
  /** No client starts a request after this many ms. */
  durationMs: number;
  /** Abort a request after this many ms. */
  requestTimeoutMs?: number;
  /** Judges one answer (status and body text). */
  judge: (status: number, text: string) => Verdict;
}

/** What {@link runSpreadLoop} observed. */
export interface SpreadLoopResult {
  requests: number;
  committed: number;
  /** Failures by cause (a request may count once per failed transaction in it). */
  errors: Record<string, number>;
  /** A few failures in full: target, request excerpt and answer. */
  errorExamples: string[];
  /** Latency of every request that committed at least one transaction, ms, ascending. */
  latenciesMs: Float64Array;
  /** Committed transactions per target index. */
  committedByTarget: number[];
  wallSeconds: number;
  /** True when the bodies ran out before the deadline. */
  exhausted: boolean;
}

const errorExamplesMax = 5;

/**
 * Runs `concurrency` closed-loop clients spread round-robin over
 * `targets`, each with one keep-alive connection ({@link RawHttpConnection})
 * and one request in flight, until `durationMs` passes or the bodies run
 * out. HTTP and network failures are counted, never thrown.
 */
export async function runSpreadLoop(options: SpreadLoopOptions): Promise<SpreadLoopResult> {
  const { targets, bodies, concurrency, durationMs, judge } = options;
  if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 4096)) {
    throw new Error(`Cannot run ${concurrency} clients: expected 1..4096`);
  }
  if (targets.length === 0) throw new Error("Cannot run a load without targets");
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const encoder = new TextEncoder();
  const heads = targets.map((t) =>
    `POST ${t.path} HTTP/1.1\r\nhost: ${t.host}:${t.port}\r\n` +
    `content-type: application/json\r\ncontent-length: `
  );
  const latencies = new Float64Array(bodies.length);
  let latencyCount = 0;
  let next = 0;
  let requests = 0;
  let committed = 0;
  const committedByTarget = targets.map(() => 0);
  const errors: Record<string, number> = {};
  const errorExamples: string[] = [];
  const fail = (cause: string, n: number, target: Target, body: string, answer: string) => {
    errors[cause] = (errors[cause] ?? 0) + n;
    if (errorExamples.length < errorExamplesMax) {
      errorExamples.push(
        `${cause}: POST http://${target.host}:${target.port}${target.path} ${
          body.slice(0, 120)
        }… → ${answer.slice(0, 600)}`,
      );
    }
  };
  const connections: RawHttpConnection[] = [];
  const started = performance.now();
  const deadline = started + durationMs;
  const client = async (c: number) => {
    const t = c % targets.length;
    const target = targets[t];
    const head = heads[t];
    const connection = new RawHttpConnection(target.host, target.port);
    connections.push(connection);
    while (performance.now() < deadline && next < bodies.length) {
      const body = bodies[next++];
      const t0 = performance.now();
      requests++;
      let status: number;
      let text: string;
      try {
        const bytes = encoder.encode(body);
        const request = new Uint8Array(head.length + 24 + bytes.length);
        const { written } = encoder.encodeInto(`${head}${bytes.length}\r\n\r\n`, request);
        request.set(bytes, written);
        ({ status, body: text } = await connection.request(
          request.subarray(0, written + bytes.length),
          requestTimeoutMs,
        ));
      } catch (e) {
        fail(`network: ${(e as Error).name}`, 1, target, body, String((e as Error).message));
        // A refused connection fails at once; do not spin.
        await sleep(5);
        continue;
      }
      const t1 = performance.now();
      const v = judge(status, text);
      if (v.cause !== undefined) fail(v.cause, 1, target, body, `${status} ${text}`);
      if (v.committed > 0) {
        committed += v.committed;
        committedByTarget[t] += v.committed;
        latencies[latencyCount++] = t1 - t0;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, (_, c) => client(c)));
  } finally {
    for (const c of connections) c.close();
  }
  return {
    requests,
    committed,
    errors,
    errorExamples,
    latenciesMs: latencies.slice(0, latencyCount).sort(),
    committedByTarget,
    wallSeconds: (performance.now() - started) / 1000,
    exhausted: next >= bodies.length && performance.now() < deadline,
  };
}

/** A {@link Target} for `url` (origin only) and `path`. */
export function targetOf(url: string, path: string): Target {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 80), path };
}

interface Receipt {
  status?: string;
  result?: { status?: string; code?: string };
  problem?: { type?: string };
}

/**
 * Judges an edgeledger `POST /v1/txs?wait=commit` answer: committed
 * receipts count (a transaction applied as `rejected` counts as committed
 * AND as an error, as in the single-site bench); anything else is a cause.
 */
export function judgeLedger(status: number, text: string): Verdict {
  let answer: Receipt & { receipts?: Receipt[]; type?: string };
  try {
    answer = JSON.parse(text);
  } catch {
    return { committed: 0, cause: `http ${status}: not JSON` };
  }
  const receipts = Array.isArray(answer.receipts)
    ? answer.receipts
    : status === 200 || status === 202
    ? [answer]
    : undefined;
  if (receipts === undefined) {
    return {
      committed: 0,
      cause: `http ${status} ${(answer.type ?? "").replace(/^.*\//, "")}`.trim(),
    };
  }
  let committed = 0;
  let cause: string | undefined;
  for (const r of receipts) {
    if (r.status === "committed") {
      committed++;
      if (r.result?.status === "rejected") cause ??= `rejected on apply: ${r.result.code ?? "?"}`;
    } else if (r.status === "pending") cause ??= "pending (wait timed out)";
    else cause ??= `refused: ${(r.problem?.type ?? "?").replace(/^.*\//, "")}`;
  }
  return cause === undefined ? { committed } : { committed, cause };
}
