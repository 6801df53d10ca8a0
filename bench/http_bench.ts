/**
 * Committed transactions per second over HTTP on ONE site.
 *
 *     npx -y deno@2.9.6 run -A bench/http_bench.ts     # prints the sections
 *
 * For each signature algorithm and each shape (transactions per request ×
 * concurrent clients), a fresh site is started as a child process
 * (`workers/site.ts` on a new ledger under `.bench/`), warmed up, and then
 * driven by closed-loop clients in THIS process for a fixed duration,
 * `runs` times. Every transaction is signed before the timed phase (signing
 * is the client's cost, not the server's).
 *
 * Settings come from the environment (see {@link httpBenchOptionsFromEnv}):
 * `BENCH_SECONDS` (10), `BENCH_RUNS` (3), `BENCH_WARMUP_SECONDS` (2),
 * `BENCH_ALGS` (`ed25519,p256`), `BENCH_CONCURRENCY` (`16,64,256`),
 * `BENCH_BATCH` (`100x16`: 100 txs per request, 16 clients),
 * `BENCH_POOL_TXS_MAX` (1000000), `BENCH_SITE_FLAGS` (extra `deno run`
 * flags for the site, e.g. `--v8-flags=--prof`), `BENCH_KEEP=1` (keep the
 * ledgers under `.bench/`), `BENCH_PROFILE` (`<alg>/<shape>,…` to
 * CPU-profile, default `ed25519/single-c64,ed25519/batch100-c16`; `none`
 * for none), `BENCH_PROFILE_SECONDS` (5), `BENCH_QUIET_WAIT_SECONDS` (45).
 *
 * @module
 */
import { initLocalLedger } from "../src/site/config.ts";
import {
  type BenchAlgorithm,
  type ClosedLoopResult,
  CpuSampler,
  type CpuUsage,
  envNumber,
  freePort,
  InspectorProfiler,
  machineBusySeconds,
  processCpuSeconds,
  processMemoryMiB,
  type ProfileSummary,
  quantile,
  runClosedLoop,
  type RunCore,
  runMedians,
  type SiteProcess,
  spawnSite,
  summarizeProfile,
  TxPool,
} from "./_load.ts";
import { fmt, mdTable, type Section } from "./_report.ts";

/** A load shape: `txsPerRequest` transactions per POST, `concurrency` clients. */
export interface HttpShape {
  id: string;
  txsPerRequest: number;
  concurrency: number;
}

/** Settings of {@link runHttpBench}; every bound has its unit in its name. */
export interface HttpBenchOptions {
  algorithms: BenchAlgorithm[];
  shapes: HttpShape[];
  seconds: number;
  warmupSeconds: number;
  runs: number;
  /** Most transactions signed per algorithm; a run that uses them all stops early (count-bounded). */
  poolTxsMax: number;
  signWorkers: number;
  /** Where ledgers and site logs go (under `.bench/`). */
  workDir: string;
  keep: boolean;
  siteDenoFlags: string[];
  /**
   * `<algorithm>/<shape id>` pairs to CPU-profile: their site runs with
   * `--inspect`, and after the timed runs one extra run of
   * `profileSeconds` is profiled (not counted in the tables).
   */
  profile: string[];
  profileSeconds: number;
  /** Progress lines go here. */
  log: (line: string) => void;
}

/** One timed run of one shape. */
export interface RunResult extends RunCore {
  pending: number;
  site: CpuUsage;
  load: CpuUsage;
  /** Cores used by everything else on the machine during the run (noise). */
  otherCores: number;
  /** Blocks written during the run and their mean transaction count. */
  blocks: number;
  txsPerBlock: number;
  /** Largest block of the run (`txCount` from `GET /v1/blocks`). */
  txsPerBlockMax: number;
  /** Wall time per block over the run, ms (wall ÷ blocks). */
  msPerBlock: number;
  /** Site CPU time per committed transaction, µs. */
  siteCpuUsPerTx: number;
  /** CPU time of the site's busiest thread (its JS main thread) per committed transaction, µs. */
  mainCpuUsPerTx: number;
}

/** All runs of one (algorithm, shape) on one fresh site. */
export interface ShapeResult {
  algorithm: BenchAlgorithm;
  shape: HttpShape;
  runs: RunResult[];
  /** Per-metric medians over `runs`. */
  median: RunResult | undefined;
  warmupTxPerSec: number;
  siteMemory: { peakMiB: number; rssMiB: number };
  errorCauses: Record<string, number>;
  errorExamples: string[];
  siteLog: string;
  /** The CPU profile of the extra profiled run, when one was asked for. */
  profile?: { summary: ProfileSummary; path: string; txPerSec: number };
  /** Set when the shape could not be measured (site failed to start, crashed, …). */
  failure?: string;
}

/** Everything {@link runHttpBench} measured. */
export interface HttpBenchResult {
  options: Omit<HttpBenchOptions, "log">;
  shapes: ShapeResult[];
  signing: Record<string, { txs: number; seconds: number; envelopeBytes: number }>;
}

/** Reads the bench settings from the environment (defaults in the module doc). */
export function httpBenchOptionsFromEnv(): HttpBenchOptions {
  const algorithms = (Deno.env.get("BENCH_ALGS") ?? "ed25519,p256").split(",").map((s) => s.trim());
  for (const a of algorithms) {
    if (a !== "ed25519" && a !== "p256") {
      throw new Error(`Cannot use BENCH_ALGS: unknown algorithm ${a}`);
    }
  }
  const shapes: HttpShape[] = [];
  for (
    const c of (Deno.env.get("BENCH_CONCURRENCY") ?? "16,64,256").split(",").filter((s) => s.trim())
  ) {
    const concurrency = Number(c);
    if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 1024)) {
      throw new Error(`Cannot use BENCH_CONCURRENCY: ${c} is not 1..1024`);
    }
    shapes.push({ id: `single-c${concurrency}`, txsPerRequest: 1, concurrency });
  }
  for (const b of (Deno.env.get("BENCH_BATCH") ?? "100x16").split(",").filter((s) => s.trim())) {
    const m = /^(\d+)x(\d+)$/.exec(b.trim());
    if (m === null) throw new Error(`Cannot use BENCH_BATCH: ${b} is not <txs>x<clients>`);
    const txsPerRequest = Number(m[1]);
    const concurrency = Number(m[2]);
    if (!(txsPerRequest >= 2 && txsPerRequest <= 1000 && concurrency >= 1 && concurrency <= 1024)) {
      throw new Error(`Cannot use BENCH_BATCH: ${b} is out of range (2..1000 x 1..1024)`);
    }
    shapes.push({ id: `batch${txsPerRequest}-c${concurrency}`, txsPerRequest, concurrency });
  }
  return {
    algorithms: algorithms as BenchAlgorithm[],
    shapes,
    seconds: envNumber("BENCH_SECONDS", 10, 0.5, 600),
    warmupSeconds: envNumber("BENCH_WARMUP_SECONDS", 2, 0, 60),
    runs: envNumber("BENCH_RUNS", 3, 1, 21),
    poolTxsMax: envNumber("BENCH_POOL_TXS_MAX", 1_000_000, 1000, 5_000_000),
    signWorkers: envNumber("BENCH_SIGN_WORKERS", navigator.hardwareConcurrency, 1, 64),
    workDir: new URL("../.bench", import.meta.url).pathname,
    keep: Deno.env.get("BENCH_KEEP") === "1",
    siteDenoFlags: (Deno.env.get("BENCH_SITE_FLAGS") ?? "").split(" ").filter((s) => s !== ""),
    profile: (Deno.env.get("BENCH_PROFILE") ?? "ed25519/single-c64,ed25519/batch100-c16").split(",")
      .map((s) => s.trim()).filter((s) => s !== "" && s !== "none"),
    profileSeconds: envNumber("BENCH_PROFILE_SECONDS", 5, 1, 60),
    log: (line) => console.error(line),
  };
}

interface Status {
  ledger: string;
  height: number;
  logSize: number;
}

async function getStatus(url: string): Promise<Status> {
  const res = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`GET ${url}/v1/status answered ${res.status}: ${text.slice(0, 400)}`);
  }
  return JSON.parse(text) as Status;
}

/** Most blocks {@link getBlockSizes} reads (pages of up to 1000). */
const blockSizesMax = 3000;

/**
 * `txCount` of blocks `[from, to]` from `GET /v1/blocks` (at most
 * {@link blockSizesMax}); empty if the route fails, which is reported by the
 * status-based numbers anyway.
 */
async function getBlockSizes(url: string, from: number, to: number): Promise<number[]> {
  const out: number[] = [];
  try {
    for (let at = from; at <= to && out.length < blockSizesMax;) {
      const limit = Math.min(1000, to - at + 1);
      const res = await fetch(`${url}/v1/blocks?from=${at}&limit=${limit}`, {
        signal: AbortSignal.timeout(30_000),
      });
      if (!res.ok) {
        await res.body?.cancel();
        break;
      }
      const page = await res.json() as {
        blocks: Array<{ header: { height: number; txCount: number } }>;
      };
      if (page.blocks.length === 0) break;
      for (const b of page.blocks) if (b.header.height <= to) out.push(b.header.txCount);
      at = page.blocks[page.blocks.length - 1].header.height + 1;
    }
  } catch {
    // Block sizes are a detail; Δ logSize ÷ Δ height still stands.
  }
  return out;
}

/** Builds the request bodies for pool indices `[lo, hi)`. */
function buildBodies(pool: TxPool, lo: number, hi: number, txsPerRequest: number): string[] {
  if (txsPerRequest === 1) return pool.slice(lo, hi);
  const out: string[] = [];
  for (let i = lo; i + txsPerRequest <= hi; i += txsPerRequest) {
    out.push(`{"txs":[${pool.slice(i, i + txsPerRequest).join(",")}]}`);
  }
  return out;
}

function tail(path: string, bytes = 2000): string {
  try {
    return Deno.readTextFileSync(path).slice(-bytes);
  } catch {
    return "(no log)";
  }
}

/**
 * Runs every (algorithm, shape) on its own fresh site and returns the
 * measurements. A shape that fails is recorded with its `failure` and the
 * bench moves on.
 */
export async function runHttpBench(options: HttpBenchOptions): Promise<HttpBenchResult> {
  const { log } = options;
  await Deno.mkdir(options.workDir, { recursive: true });
  const result: HttpBenchResult = {
    options: { ...options, log: undefined } as unknown as HttpBenchResult["options"],
    shapes: [],
    signing: {},
  };
  delete (result.options as { log?: unknown }).log;
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  // Shapes outside, algorithms inside: the machine's background load drifts
  // over minutes, and interleaving keeps that drift out of the comparison
  // between algorithms. Each algorithm keeps one pool across shapes.
  const pools = new Map<BenchAlgorithm, TxPool>();
  try {
    for (const shape of options.shapes) {
      for (const algorithm of options.algorithms) {
        const shapeResult = await runShape(
          algorithm,
          shape,
          options,
          `${options.workDir}/http-${stamp}`,
          (ledger) => {
            let pool = pools.get(algorithm);
            if (pool === undefined || pool.ledger !== ledger) {
              pool?.close();
              pool = new TxPool(algorithm, ledger, options.signWorkers);
              pools.set(algorithm, pool);
            }
            return pool;
          },
        );
        result.shapes.push(shapeResult);
        const m = shapeResult.median;
        log(
          shapeResult.failure !== undefined
            ? `http ${algorithm} ${shape.id}: FAILED ${shapeResult.failure}`
            : `http ${algorithm} ${shape.id}: ${fmt(m?.txPerSec ?? NaN)} tx/s median, p50 ${
              fmt(m?.p50Ms ?? NaN, 1)
            } ms, ` +
              `p99 ${fmt(m?.p99Ms ?? NaN, 1)} ms, site ${fmt(m?.site.cores ?? NaN, 2)} cores`,
        );
      }
    }
  } finally {
    for (const [algorithm, p] of pools) {
      result.signing[algorithm] = {
        txs: p.size,
        seconds: p.signSeconds,
        envelopeBytes: p.size > 0 ? new TextEncoder().encode(p.at(0)).length : NaN,
      };
      p.close();
    }
  }
  // Ledgers are removed shape by shape; the site logs stay when something failed.
  if (!options.keep && result.shapes.every((s) => s.failure === undefined)) {
    await Deno.remove(`${options.workDir}/http-${stamp}`, { recursive: true }).catch(() => {});
  }
  return result;
}

async function runShape(
  algorithm: BenchAlgorithm,
  shape: HttpShape,
  options: HttpBenchOptions,
  baseDir: string,
  poolFor: (ledger: string) => TxPool,
): Promise<ShapeResult> {
  const { log } = options;
  const dataDir = `${baseDir}/${algorithm}-${shape.id}`;
  const logPath = `${baseDir}/${algorithm}-${shape.id}.log`;
  const out: ShapeResult = {
    algorithm,
    shape,
    runs: [],
    median: undefined,
    warmupTxPerSec: NaN,
    siteMemory: { peakMiB: NaN, rssMiB: NaN },
    errorCauses: {},
    errorExamples: [],
    siteLog: logPath,
  };
  let site: SiteProcess | undefined;
  try {
    const [config] = await initLocalLedger({
      dataDir,
      sites: 1,
      basePort: freePort(),
      host: "127.0.0.1",
    });
    const profiled = options.profile.includes(`${algorithm}/${shape.id}`);
    const inspectPort = freePort();
    site = await spawnSite(
      config,
      logPath,
      profiled
        ? [...options.siteDenoFlags, `--inspect=127.0.0.1:${inspectPort}`]
        : options.siteDenoFlags,
    );
    const status0 = await getStatus(site.url);
    const pool = poolFor(status0.ledger);
    const url = `${site.url}/v1/txs?wait=commit`;
    const perRequest = shape.txsPerRequest;
    let cursor = 0;
    const take = async (txs: number): Promise<string[]> => {
      const want = Math.min(options.poolTxsMax, cursor + txs);
      const before = pool.size;
      await pool.ensure(want);
      if (pool.size > before) {
        log(
          `  signed ${fmt(pool.size - before)} ${algorithm} txs (pool ${fmt(pool.size)}, ${
            fmt(pool.signSeconds, 1)
          } s signing so far)`,
        );
      }
      const bodies = buildBodies(pool, cursor, Math.min(want, pool.size), perRequest);
      cursor += bodies.length * perRequest;
      return bodies;
    };
    const account = (r: ClosedLoopResult) => {
      for (const [k, v] of Object.entries(r.errors)) {
        out.errorCauses[k] = (out.errorCauses[k] ?? 0) + v;
      }
      for (const e of r.errorExamples) if (out.errorExamples.length < 5) out.errorExamples.push(e);
      if (r.pending > 0) {
        const k = "still pending when the commit wait ended (202, not counted as committed)";
        out.errorCauses[k] = (out.errorCauses[k] ?? 0) + r.pending;
      }
    };

    // Warm-up: JIT, connection pool, database pages; also sizes the first timed run.
    let estRate = 2000;
    if (options.warmupSeconds > 0) {
      const bodies = await take(Math.max(shape.concurrency * perRequest * 8, 4000));
      const w = await runClosedLoop({
        url,
        bodies,
        txsPerRequest: perRequest,
        concurrency: shape.concurrency,
        durationMs: options.warmupSeconds * 1000,
      });
      account(w);
      out.warmupTxPerSec = w.committed / w.wallSeconds;
      // The warm-up runs cold (JIT, empty caches) and often underestimates;
      // a floor keeps the first timed run from running out of transactions.
      if (w.committed > 0) estRate = Math.max(out.warmupTxPerSec, estRateFloor);
      // Requests still in flight at the deadline have been answered; let the site drain its queue.
      await waitForIdle(site.url, status0.height);
    }

    for (let run = 0; run < options.runs; run++) {
      // Unused transactions stay in the pool for the next run or site, so
      // a generous margin costs little; running out would shorten the run.
      const margin = 2;
      const bodies = await take(
        Math.ceil(estRate * options.seconds * margin) + shape.concurrency * perRequest * 4,
      );
      if (bodies.length === 0) {
        throw new Error(`No transactions left for run ${run + 1} (BENCH_POOL_TXS_MAX reached)`);
      }
      const otherBefore = await waitForQuietMachine([site.pid, Deno.pid]);
      if (otherBefore >= 0.25) {
        log(`  the machine is busy: other processes use ${fmt(otherBefore, 2)} cores`);
      }
      const before = await getStatus(site.url);
      const sampler = new CpuSampler([site.pid, Deno.pid]);
      const machine0 = machineBusySeconds();
      const machineT0 = performance.now();
      sampler.start();
      const r = await runClosedLoop({
        url,
        bodies,
        txsPerRequest: perRequest,
        concurrency: shape.concurrency,
        durationMs: options.seconds * 1000,
      });
      const [siteCpu, loadCpu] = sampler.stop();
      const machineCores = (machineBusySeconds() - machine0) /
        ((performance.now() - machineT0) / 1000);
      const after = await getStatus(site.url);
      const blockSizes = await getBlockSizes(site.url, before.height + 1, after.height);
      account(r);
      const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
      const txPerSec = r.committed / r.wallSeconds;
      const blocks = after.height - before.height;
      const runResult: RunResult = {
        txPerSec,
        committed: r.committed,
        requests: r.requests,
        wallSeconds: r.wallSeconds,
        p50Ms: quantile(r.latenciesMs, 0.5),
        p99Ms: quantile(r.latenciesMs, 0.99),
        errors,
        pending: r.pending,
        exhausted: r.exhausted,
        site: siteCpu,
        load: loadCpu,
        otherCores: Math.max(0, machineCores - siteCpu.cores - loadCpu.cores),
        blocks,
        txsPerBlock: blocks > 0 ? (after.logSize - before.logSize) / blocks : NaN,
        txsPerBlockMax: blockSizes.length > 0 ? Math.max(...blockSizes) : NaN,
        msPerBlock: blocks > 0 ? (r.wallSeconds * 1000) / blocks : NaN,
        siteCpuUsPerTx: r.committed > 0 ? (siteCpu.cores * r.wallSeconds * 1e6) / r.committed : NaN,
        mainCpuUsPerTx: r.committed > 0
          ? (siteCpu.busiestThread.cores * r.wallSeconds * 1e6) / r.committed
          : NaN,
      };
      out.runs.push(runResult);
      estRate = Math.max(estRate, txPerSec);
      log(
        `  ${algorithm} ${shape.id} run ${run + 1}/${options.runs}: ${fmt(txPerSec)} tx/s, ` +
          `p50 ${fmt(runResult.p50Ms, 1)} ms, p99 ${
            fmt(runResult.p99Ms, 1)
          } ms, errors ${errors}, pending ${r.pending}, ` +
          `site ${fmt(siteCpu.cores, 2)} cores (busiest thread ${siteCpu.busiestThread.comm} ${
            fmt(siteCpu.busiestThread.cores, 2)
          }), ` +
          `load ${fmt(loadCpu.cores, 2)} cores, other ${fmt(runResult.otherCores, 2)} cores, ` +
          `${fmt(runResult.txsPerBlock, 1)} txs/block (max ${fmt(runResult.txsPerBlockMax)}), ` +
          `${fmt(runResult.msPerBlock, 1)} ms/block` +
          (r.exhausted ? " (ran out of pre-signed txs)" : ""),
      );
      if (run + 1 < options.runs) await waitForIdle(site.url, after.height);
    }
    out.median = medianRun(out.runs);
    out.siteMemory = processMemoryMiB(site.pid);

    const profileBodies = profiled
      ? await take(
        Math.ceil(estRate * options.profileSeconds * 1.6) + shape.concurrency * perRequest * 4,
      )
      : [];
    if (profiled && profileBodies.length === 0) {
      log(`  not profiled ${algorithm} ${shape.id}: no pre-signed txs left (BENCH_POOL_TXS_MAX)`);
    }
    if (profiled && profileBodies.length > 0) {
      const bodies = profileBodies;
      const profiler = await InspectorProfiler.connect(inspectPort);
      try {
        await profiler.start();
        const r = await runClosedLoop({
          url,
          bodies,
          txsPerRequest: perRequest,
          concurrency: shape.concurrency,
          durationMs: options.profileSeconds * 1000,
        });
        const profile = await profiler.stop();
        const path = `${options.workDir}/profile-${algorithm}-${shape.id}.cpuprofile`;
        await Deno.writeTextFile(path, JSON.stringify(profile));
        const root = new URL("..", import.meta.url).pathname;
        out.profile = {
          summary: summarizeProfile(profile, root),
          path,
          txPerSec: r.committed / r.wallSeconds,
        };
        log(
          `  profiled ${algorithm} ${shape.id}: ${
            fmt(out.profile.txPerSec)
          } tx/s while profiling → ${path}`,
        );
      } finally {
        profiler.close();
      }
    }
  } catch (e) {
    out.failure = `${(e as Error).message}\n\nsite log tail:\n${tail(logPath)}`;
    if (out.runs.length > 0) out.median = medianRun(out.runs);
  } finally {
    await site?.stop();
    if (!options.keep) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
  return out;
}

/** Lowest committed tx/s assumed when sizing a run's pre-signed transactions. */
const estRateFloor = 500;

/** Seconds left for {@link waitForQuietMachine} over the whole bench. */
let quietWaitBudgetSeconds = Number(Deno.env.get("BENCH_QUIET_WAIT_SECONDS") ?? 45);

/**
 * Waits, in 1 s probes, until processes other than `ours` use under
 * `coresMax` cores, for at most `msMax` and within the bench-wide budget
 * (`BENCH_QUIET_WAIT_SECONDS`, default 45): colleagues' test runs on a
 * shared 2-core machine would otherwise be measured as the site's
 * slowness. Returns the other processes' cores at the last probe.
 */
async function waitForQuietMachine(
  ours: number[],
  coresMax = 0.25,
  msMax = 10_000,
): Promise<number> {
  const until = performance.now() + Math.min(msMax, quietWaitBudgetSeconds * 1000);
  let other = 0;
  for (;;) {
    const t0 = performance.now();
    const m0 = machineBusySeconds();
    const p0 = ours.map(processCpuSeconds);
    await new Promise((r) => setTimeout(r, 1000));
    const dt = (performance.now() - t0) / 1000;
    const mine = ours.map(processCpuSeconds).reduce((a, c, i) => a + c - p0[i], 0);
    other = Math.max(0, (machineBusySeconds() - m0 - mine) / dt);
    if (other < coresMax || performance.now() >= until) break;
    quietWaitBudgetSeconds -= dt;
  }
  return other;
}

/** Waits (bounded) until two status reads in a row show no new blocks, so runs do not overlap. */
async function waitForIdle(url: string, height: number, msMax = 15_000): Promise<void> {
  const until = performance.now() + msMax;
  let last = height;
  while (performance.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    const s = await getStatus(url);
    if (s.height === last) return;
    last = s.height;
  }
}

function medianRun(runs: RunResult[]): RunResult | undefined {
  if (runs.length === 0) return undefined;
  const { m, cpu, common } = runMedians(runs);
  return {
    ...common,
    pending: m((r) => r.pending),
    site: cpu((r) => r.site),
    load: cpu((r) => r.load),
    otherCores: m((r) => r.otherCores),
    blocks: m((r) => r.blocks),
    txsPerBlock: m((r) => r.txsPerBlock),
    txsPerBlockMax: m((r) => r.txsPerBlockMax),
    msPerBlock: m((r) => r.msPerBlock),
    siteCpuUsPerTx: m((r) => r.siteCpuUsPerTx),
    mainCpuUsPerTx: m((r) => r.mainCpuUsPerTx),
  };
}

// ---------------------------------------------------------------------------
// Report sections.

/** Human label of a shape. */
export function shapeLabel(shape: HttpShape): string {
  return shape.txsPerRequest === 1
    ? `1 tx/request, ${shape.concurrency} clients`
    : `${shape.txsPerRequest} txs/request, ${shape.concurrency} clients`;
}

const algLabel = (a: string) => (a === "ed25519" ? "Ed25519" : a === "p256" ? "P-256" : a);

/** Columns of a shape's table. */
const shapeHeaders = [
  "signer",
  "committed tx/s",
  "p50 ms",
  "p99 ms",
  "errors (all runs)",
  "site cores",
  "busiest site thread",
  "load cores",
  "site µs CPU/tx",
  "site peak / end RSS MiB",
  "txs/block mean / max",
  "ms/block",
];

/** The HTTP bench's report sections: method, one table per shape, errors, cores used. */
export function httpSections(result: HttpBenchResult): Section[] {
  const o = result.options;
  const sections: Section[] = [];
  const signing = Object.entries(result.signing).map(([alg, s]) =>
    `${algLabel(alg)}: ${fmt(s.txs)} txs signed in ${fmt(s.seconds, 1)} s, ~${
      fmt(s.envelopeBytes)
    } bytes each`
  );
  sections.push({
    id: "http-method",
    markdown: `## Single site over HTTP: method

One site (\`workers/site.ts\`, a child process on a fresh ledger made by
\`initLocalLedger\`, embedded libSQL file) per algorithm and shape; the load
generator is the bench driver, a separate process: closed-loop clients, each
with one keep-alive HTTP/1.1 connection and one request in flight (a minimal
client over \`Deno.connect\` with pre-built bodies; \`fetch\` cost ~150 µs of
load-generator CPU per request, a raw connection ~40 µs). Every transaction is a \`data.anchor\` on its own
stream, signed before the timed phase by ${o.signWorkers} worker threads
(${signing.join("; ") || "none signed"}). Each shape: ${
      fmt(o.warmupSeconds)
    } s warm-up, then ${o.runs} timed
runs of ${fmt(o.seconds)} s (a run stops early only if its pre-signed transactions
run out); the tables quote the **median** of the runs for each metric.

- **committed tx/s**: receipts with \`status: "committed"\` / wall time of the run.
- **p50 / p99**: request start → committed receipt (for a batch, the whole request).
- **errors**: refused receipts, non-2xx answers, network failures, and
  transactions committed with \`result.status: "rejected"\`; receipts still
  \`pending\` when the server's 10 s commit wait ended are listed under
  *Errors and failures* and not counted as committed.
- **site cores** / **load cores**: CPU-seconds (utime+stime from
  \`/proc/<pid>/stat\`) ÷ wall-seconds during the run, for the site and for the
  load generator. **Both share the same ${navigator.hardwareConcurrency} cores.**
- **other cores**: CPU used by everything else on the machine during the
  run (\`/proc/stat\` minus site and load generator): noise, ideally ≈ 0.
- **busiest thread**: the site thread that used most CPU (1.00 = one core saturated).
- **site µs CPU/tx**: site CPU time per committed transaction.
- **peak memory**: the site's VmHWM (and VmRSS at the end) from
  \`/proc/<pid>/status\`, after warm-up and all runs.
- **txs/block**: mean is Δ\`logSize\` ÷ Δ\`height\` from \`GET /v1/status\` over
  the run, max is the largest \`txCount\` in \`GET /v1/blocks\` for those
  heights; **ms/block** is the run's wall time ÷ blocks written.`,
  });

  const shapes = [...new Map(result.shapes.map((s) => [s.shape.id, s.shape])).values()];
  for (const shape of shapes) {
    const rows = result.shapes.filter((s) => s.shape.id === shape.id).map((s) => {
      const m = s.median;
      if (m === undefined) {
        return [algLabel(s.algorithm), "failed", ...shapeHeaders.slice(2).map(() => "–")];
      }
      return [
        algLabel(s.algorithm),
        fmt(m.txPerSec),
        fmt(m.p50Ms, 1),
        fmt(m.p99Ms, 1),
        fmt(s.runs.reduce((a, r) => a + r.errors, 0)),
        fmt(m.site.cores, 2),
        `${fmt(m.site.busiestThread.cores, 2)} (${m.site.busiestThread.comm})`,
        fmt(m.load.cores, 2),
        fmt(m.siteCpuUsPerTx),
        `${fmt(s.siteMemory.peakMiB)} / ${fmt(s.siteMemory.rssMiB)}`,
        `${fmt(m.txsPerBlock, 1)} / ${fmt(m.txsPerBlockMax)}`,
        fmt(m.msPerBlock, 1),
      ];
    });
    const runsLine = result.shapes.filter((s) => s.shape.id === shape.id).map((s) =>
      `${algLabel(s.algorithm)} ${s.runs.map((r) => fmt(r.txPerSec)).join(", ") || "–"}` +
      (s.runs.some((r) => r.exhausted) ? " (a run ran out of pre-signed txs)" : "") +
      (s.failure !== undefined ? " (FAILED, see below)" : "")
    ).join("; ");
    sections.push({
      id: `http-${shape.id}`,
      markdown: `### ${shapeLabel(shape)}${
        shape.txsPerRequest === 1 ? ", `?wait=commit`" : ", `{txs:[…]}` + `?wait=commit`"
      }

${mdTable(shapeHeaders, rows)}

Per-run committed tx/s: ${runsLine}.`,
    });
  }

  const failures = result.shapes.filter((s) =>
    s.failure !== undefined || Object.keys(s.errorCauses).length > 0
  );
  sections.push({
    id: "http-errors",
    markdown: `### Errors and failures

${
      failures.length === 0
        ? "None: every request was answered and every transaction committed."
        : failures.map((s) =>
          `- **${algLabel(s.algorithm)}, ${shapeLabel(s.shape)}**: ` +
          (Object.entries(s.errorCauses).map(([k, v]) => `${k} × ${v}`).join(", ") ||
            "no request errors") +
          (s.failure !== undefined
            ? `\n\n  Failure:\n\n  \`\`\`\n${indent(s.failure, "  ")}\n  \`\`\``
            : "") +
          (s.errorExamples.length > 0
            ? `\n\n  Examples:\n\n  \`\`\`\n${indent(s.errorExamples.join("\n"), "  ")}\n  \`\`\``
            : "")
        ).join("\n")
    }`,
  });
  const profiled = result.shapes.filter((s) => s.profile !== undefined);
  if (profiled.length > 0) {
    const root = new URL("..", import.meta.url).pathname;
    sections.push({
      id: "http-profile",
      markdown: `### Where the site's main thread spends its time (V8 CPU profile)

For these shapes the site ran with \`--inspect\`, and one extra run of
${fmt(o.profileSeconds)} s (not in the tables above) was sampled with the V8 profiler
over the inspector protocol. Percentages are of sampled time on the site's
JavaScript thread, idle included; work on other threads (WebCrypto, libSQL
I/O threads, the HTTP server's Rust side) is not in a JS profile. The
\`.cpuprofile\` files open in Chrome DevTools → Performance.

${
        profiled.map((s) => {
          const p = s.profile!;
          const rel = p.path.startsWith(root) ? p.path.slice(root.length) : p.path;
          return `#### ${algLabel(s.algorithm)}, ${shapeLabel(s.shape)}

${fmt(p.txPerSec)} tx/s while profiled; JS thread idle ${
            fmt(p.summary.idlePct, 1)
          } % of the time. Profile: \`${rel}\`.

${
            mdTable(
              ["site JS thread time by kind of work", "%"],
              profileByCategory(p.summary).map(([k, v]) => [k, fmt(v, 1)]),
            )
          }

${
            mdTable(
              ["self time by package / file", "%"],
              p.summary.byOwner.slice(0, 12).map(([k, v]) => [k, fmt(v, 1)]),
            )
          }

${
            mdTable(
              ["project function (inclusive)", "%"],
              p.summary.projectInclusiveTop.slice(0, 15).map(([k, v]) => [k, fmt(v, 1)]),
            )
          }

${
            mdTable(
              ["function (self)", "%"],
              p.summary.selfTop.slice(0, 15).map(([k, v]) => [k, fmt(v, 1)]),
            )
          }`;
        }).join("\n\n")
      }`,
    });
  }
  return sections;
}

/** Buckets of site work, matched against a profile's owners (package or file) in order. */
const profileCategories: Array<[string, RegExp]> = [
  ["idle (waiting for requests, I/O, timers)", /^\(idle\)$/],
  [
    // Native frames are named by their op: node:crypto's Ed25519 verify and
    // sign (admission, peer requests, checkpoint lines) and WebCrypto's.
    "signatures (verify, sign) and key decoding",
    /^verify$|^op_node_(verify|sign)_|^op_crypto_(verify|sign)|@noble\/curves|sdk\/(signature|did_key)\.ts/,
  ],
  ["storage (libSQL, drizzle, src/storage)", /libsql|drizzle|src\/storage\//],
  [
    "HTTP and routing (Hono, Deno HTTP, src/api)",
    /hono|deno:deno_http|deno:deno_fetch|deno:deno_net|src\/api\//,
  ],
  [
    "validation, canonical JSON, hashing",
    /zod|canonicalize|@noble\/hashes|@scure|sdk\/(canonical_json|envelope|hash|encoding|merkle|kinds)|src\/(contracts|site\/admission)/,
  ],
  ["block execution and Merkle log", /src\/chain\/|src\/site\/site\.ts/],
  ["garbage collection", /^\(garbage collector\)$/],
];

/** Self time of a profile summed into {@link profileCategories} (the rest is "other"). */
export function profileByCategory(summary: ProfileSummary): Array<[string, number]> {
  const sums = new Map<string, number>(profileCategories.map(([name]) => [name, 0]));
  let other = 0;
  for (const [owner, pct] of summary.byOwner) {
    const hit = profileCategories.find(([, re]) => re.test(owner));
    if (hit) sums.set(hit[0], sums.get(hit[0])! + pct);
    else other += pct;
  }
  return [...sums, ["other (Deno runtime, V8, …)", other] as [string, number]];
}

function indent(text: string, prefix: string): string {
  return text.split("\n").map((l) => prefix + l).join("\n");
}

if (import.meta.main) {
  const options = httpBenchOptionsFromEnv();
  const result = await runHttpBench(options);
  for (const s of httpSections(result)) console.log(s.markdown + "\n");
}
