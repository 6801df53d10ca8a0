/**
 * A 3-site Raft cluster under load, compared with a 3-member etcd cluster
 * on the same machine; leader failover time; catch-up rate of a site.
 *
 *     npx -y deno@2.9.6 run -A bench/cluster_bench.ts            # prints the sections
 *     BENCH_ONLY=cluster npx -y deno@2.9.6 task bench            # into BENCHMARKS.md
 *
 * Parts (`BENCH_CLUSTER_PARTS`, default `ledger,etcd,failover,catchup,floor`):
 *
 * - **ledger**: for each shape a fresh 3-site ledger (`initLocalLedger`,
 *   three `workers/site.ts` processes); closed-loop clients spread
 *   round-robin over the 3 sites post pre-signed Ed25519 `data.anchor`
 *   transactions (`?wait=commit`), one per request or `{txs:[…]}`.
 * - **etcd**: the same shapes against a fresh 3-member etcd cluster
 *   (`/usr/bin/etcd`, skipped with a printed reason when absent): values
 *   are the very same envelope texts, `POST /v3/kv/put` per value or one
 *   `POST /v3/kv/txn` of `txsPerRequest` puts.
 * - **failover**: a light write load on all sites, SIGKILL of the leader,
 *   time until a survivor is leader with a higher term and until a write
 *   started after the kill commits; the killed site is restarted between
 *   runs.
 * - **catchup**: a follower is stopped, `BENCH_CATCHUP_TXS` transactions
 *   are committed without it, it is restarted, and the time until its
 *   height equals the leader's is measured (a learner added through admin
 *   routes is measured instead once such a route exists — the bench probes
 *   `POST /v1/admin/members` and says which it measured).
 * - **floor**: what any implementation of the design spends per write on
 *   this stack, piece by piece (`floor_bench.ts`), against ours and etcd.
 *
 * Settings: `BENCH_SECONDS` (10), `BENCH_RUNS` (3), `BENCH_WARMUP_SECONDS`
 * (2), `BENCH_CONCURRENCY` (`16,64,256`), `BENCH_BATCH` (`100x16`),
 * `BENCH_FAILOVER_RUNS` (5), `BENCH_CATCHUP_TXS` (20000),
 * `BENCH_POOL_TXS_MAX` (1000000), `BENCH_KEEP=1` (keep data and logs under
 * `.bench/`), `BENCH_PEER_RTT_MS` (0: sites far apart — the sites' URLs for
 * each other, and etcd's peer URLs, go through a delaying proxy,
 * `_delay_proxy.ts`, with this round trip; clients still reach members
 * directly), `BENCH_PROPOSALS_IN_FLIGHT` (the sites' `proposalsInFlightMax`;
 * unset: their default), `BENCH_FORWARDS_IN_FLIGHT` (`forwardsInFlightMax`).
 *
 * @module
 */
import {
  CpuSampler,
  type CpuUsage,
  envNumber,
  freePort,
  InspectorProfiler,
  machineBusySeconds,
  median,
  type ProfileSummary,
  quantile,
  RawHttpConnection,
  type RunCore,
  runMedians,
  type SiteProcess,
  spawnSite,
  summarizeProfile,
  TxPool,
} from "./_load.ts";
import { profileByCategory } from "./http_bench.ts";
import {
  executeBlockTxs,
  type FloorResult,
  floorUsPerWrite,
  runFloorBench,
  storageAt,
} from "./floor_bench.ts";
import {
  judgeLedger,
  LocalCluster,
  runSpreadLoop,
  type SiteStatus,
  type SpreadLoopResult,
  targetOf,
  tryStatus,
} from "./_cluster.ts";
import { base64Text, EtcdCluster, type EtcdFound, findEtcd, judgeEtcd } from "./_etcd.ts";
import { fmt, mdTable, type Section } from "./_report.ts";
import { histogramTotalsIn } from "../src/api/histogram.ts";
import { base64urlEncode } from "../sdk/encoding.ts";
import { threadsForSharedMachine } from "../src/site/config.ts";
import { FORWARD_ROUTE, MSG_ROUTE } from "../src/site/peers.ts";
import { exportKey, generateKeyPair } from "../sdk/keys.ts";

/** A load shape: `txsPerRequest` per POST, `concurrency` clients over all members. */
export interface ClusterShape {
  id: string;
  txsPerRequest: number;
  concurrency: number;
}

/** Parts of the bench that can be run on their own. */
export type ClusterPart = "ledger" | "etcd" | "failover" | "catchup" | "floor";

/** Settings of {@link runClusterBench}; every bound has its unit in its name. */
export interface ClusterBenchOptions {
  parts: ClusterPart[];
  shapes: ClusterShape[];
  seconds: number;
  warmupSeconds: number;
  runs: number;
  siteCount: number;
  poolTxsMax: number;
  signWorkers: number;
  failoverRuns: number;
  /** Clients of the light load during failover; each sends at most one request per `failoverPaceMs`. */
  failoverClients: number;
  failoverPaceMs: number;
  catchupTxs: number;
  /** Round trip between members, ms, through a delaying proxy (0: loopback, no proxy). */
  peerRttMs: number;
  /** Fields merged into every site's config (`proposalsInFlightMax`, `forwardsInFlightMax`). */
  siteConfig: Record<string, number>;
  workDir: string;
  keep: boolean;
  /** Shape ids whose leader and one follower are CPU-profiled in one extra run (not in the tables). */
  profile: string[];
  profileSeconds: number;
  log: (line: string) => void;
}

/** One timed run of one shape on one system. */
export interface ClusterRun extends RunCore {
  /** CPU of each member process (site or etcd member), in member order. */
  members: CpuUsage[];
  /** Member index of the Raft leader at the start of the run (-1 unknown). */
  leader: number;
  /** Raft terms that began during the run (elections; 0 = one leader throughout). */
  termsElapsed: number;
  load: CpuUsage;
  /** The delaying proxy between the members (0 without one; absent in results saved before it). */
  proxyCores?: number;
  /** The rest of the machine: not members, load generator or proxy. */
  otherCores: number;
  /** CPU of all members together per committed transaction, µs. */
  clusterCpuUsPerTx: number;
  /** The leader's busiest thread's CPU per committed transaction, µs. */
  leaderMainCpuUsPerTx: number;
  /** Ledger only: blocks in the run and their mean size. */
  blocks: number;
  txsPerBlock: number;
  /**
   * Ledger only: peer sends per block, all members together: Raft message
   * frames on `/raft/stream` (or `/raft/msg` requests), and `/raft/forward` requests.
   */
  msgRequestsPerBlock: number;
  forwardRequestsPerBlock: number;
  /** Ledger only: mean time of each stage of a block, from the members' `/metrics`. */
  stagesMs: BlockStagesMs;
  committedByMember: number[];
}

/** All runs of one shape on one system. */
export interface ClusterShapeResult {
  system: "ledger" | "etcd";
  shape: ClusterShape;
  runs: ClusterRun[];
  median: ClusterRun | undefined;
  errorCauses: Record<string, number>;
  errorExamples: string[];
  /** Ledger only, when something failed: every site's `GET /v1/status` right after the runs. */
  statusAfter?: string;
  /** Ledger only, for {@link ClusterBenchOptions.profile}: V8 CPU profiles of an extra run. */
  /**
   * The profiled run's leader and follower: the profile's summary (sorted
   * into kinds of work when the report is rendered), or, in results saved
   * before summaries were kept, the kinds of work themselves.
   */
  profiles?: Array<{
    role: string;
    site: string;
    txPerSec: number;
    summary?: ProfileSummary;
    categories?: [string, number][];
  }>;
  failure?: string;
}

/** One failover run. */
export interface FailoverRun {
  killedSite: string;
  oldTerm: number;
  newLeader: string;
  newTerm: number;
  /** SIGKILL → a survivor reports `role: "leader"` with a higher term, ms. */
  electedMs: number;
  /** SIGKILL → first commit of a write started after the kill, ms. */
  writesMs: number;
  /** Failed requests (any cause) during the run's load. */
  failedRequests: number;
  /** The killed site, restarted: start → caught up with the leader's height, ms. */
  rejoinMs: number;
}

/** The catch-up measurement (of a restarted site, or of a new learner). */
export interface CatchupResult {
  /** What was measured, in words. */
  what: string;
  /** How the admin-members probe answered. */
  adminProbe: string;
  missedTxs: number;
  missedBlocks: number;
  missedEntries: number;
  /** Restart (spawn) → process listening, ms. */
  startMs: number;
  /** Listening → height equals the leader's, ms. */
  catchupMs: number;
  txPerSec: number;
  blocksPerSec: number;
  leaderHeight: number;
  siteHeightAtStart: number;
}

/** Everything {@link runClusterBench} measured. */
export interface ClusterBenchResult {
  options: Omit<ClusterBenchOptions, "log">;
  /** A new site added as a learner through `POST /v1/admin/members`, when the route exists. */
  learner?: CatchupResult;
  learnerFailure?: string;
  /** The floor (part `floor`). */
  floor?: FloorResult;
  etcd: EtcdFound;
  envelopeBytes: number;
  signSeconds: number;
  signedTxs: number;
  ledger: ClusterShapeResult[];
  etcdShapes: ClusterShapeResult[];
  failover: FailoverRun[];
  failoverFailure?: string;
  catchup?: CatchupResult;
  catchupFailure?: string;
  seconds: number;
}

/** Reads the settings from the environment (defaults in the module doc). */
export function clusterBenchOptionsFromEnv(): ClusterBenchOptions {
  const parts = (Deno.env.get("BENCH_CLUSTER_PARTS") ?? "ledger,etcd,failover,catchup,floor")
    .split(",")
    .map((s) => s.trim()).filter((s) => s !== "");
  for (const p of parts) {
    if (!["ledger", "etcd", "failover", "catchup", "floor"].includes(p)) {
      throw new Error(`Cannot use BENCH_CLUSTER_PARTS: unknown part ${p}`);
    }
  }
  const shapes: ClusterShape[] = [];
  for (const c of (Deno.env.get("BENCH_CONCURRENCY") ?? "16,64,256").split(",")) {
    if (c.trim() === "") continue;
    const concurrency = Number(c);
    if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 1024)) {
      throw new Error(`Cannot use BENCH_CONCURRENCY: ${c} is not 1..1024`);
    }
    shapes.push({ id: `single-c${concurrency}`, txsPerRequest: 1, concurrency });
  }
  for (const b of (Deno.env.get("BENCH_BATCH") ?? "100x16").split(",")) {
    if (b.trim() === "") continue;
    const m = /^(\d+)x(\d+)$/.exec(b.trim());
    if (m === null) throw new Error(`Cannot use BENCH_BATCH: ${b} is not <txs>x<clients>`);
    const [txsPerRequest, concurrency] = [Number(m[1]), Number(m[2])];
    // etcd refuses a txn of more than 128 operations by default (--max-txn-ops).
    if (!(txsPerRequest >= 2 && txsPerRequest <= 128 && concurrency >= 1 && concurrency <= 1024)) {
      throw new Error(`Cannot use BENCH_BATCH: ${b} is out of range (2..128 x 1..1024)`);
    }
    shapes.push({ id: `batch${txsPerRequest}-c${concurrency}`, txsPerRequest, concurrency });
  }
  return {
    parts: parts as ClusterPart[],
    shapes,
    seconds: envNumber("BENCH_SECONDS", 10, 0.5, 600),
    warmupSeconds: envNumber("BENCH_WARMUP_SECONDS", 2, 0, 60),
    runs: envNumber("BENCH_RUNS", 3, 1, 21),
    siteCount: 3,
    poolTxsMax: envNumber("BENCH_POOL_TXS_MAX", 1_000_000, 1000, 5_000_000),
    signWorkers: envNumber("BENCH_SIGN_WORKERS", navigator.hardwareConcurrency, 1, 64),
    failoverRuns: envNumber("BENCH_FAILOVER_RUNS", 5, 1, 51),
    failoverClients: 6,
    failoverPaceMs: 20,
    catchupTxs: envNumber("BENCH_CATCHUP_TXS", 20_000, 100, 1_000_000),
    peerRttMs: envNumber("BENCH_PEER_RTT_MS", 0, 0, 2_000),
    siteConfig: Object.fromEntries(
      ([
        ["proposalsInFlightMax", "BENCH_PROPOSALS_IN_FLIGHT"],
        ["forwardsInFlightMax", "BENCH_FORWARDS_IN_FLIGHT"],
      ] as const).flatMap(([key, name]) =>
        Deno.env.get(name) ? [[key, envNumber(name, 1, 1, 64)]] : []
      ),
    ),
    workDir: new URL("../.bench", import.meta.url).pathname,
    keep: Deno.env.get("BENCH_KEEP") === "1",
    profile: (Deno.env.get("BENCH_CLUSTER_PROFILE") ?? "single-c64").split(",").map((x) => x.trim())
      .filter((x) => x !== "" && x !== "none"),
    profileSeconds: envNumber("BENCH_PROFILE_SECONDS", 5, 1, 60),
    log: (line) => console.error(line),
  };
}

/** Human label of a shape. */
export function clusterShapeLabel(shape: ClusterShape): string {
  return shape.txsPerRequest === 1
    ? `1 tx/request, ${shape.concurrency} clients`
    : `${shape.txsPerRequest} txs/request, ${shape.concurrency} clients`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Throughput: one shape on one system.

/** What a system under test offers to {@link measureShape}. */
interface System {
  name: "ledger" | "etcd";
  /** Member processes, in member order. */
  pids(): number[];
  /** The delaying proxy's process, if there is one. */
  proxyPid?: number;
  /** Index of the current leader (-1 if unknown) and its term (NaN if unknown). */
  leader(): Promise<{ index: number; term: number }>;
  /** Fewest transactions to prepare for a timed run (cheap bodies may be over-provisioned). */
  minRunTxs?: number;
  /** Request bodies carrying `txs` transactions from the cursor on. */
  take(txs: number): Promise<string[]>;
  /** Runs the load once. */
  load(bodies: string[], concurrency: number, durationMs: number): Promise<SpreadLoopResult>;
  /** Ledger only: the leader's chain position and every member's `/metrics`. */
  chain?(): Promise<ChainSample>;
  /** Waits until the previous run's work has drained. */
  settle(): Promise<void>;
}

/** Where a ledger stands, sampled before and after each timed run. */
interface ChainSample {
  /** The leader's height and log size (NaN if unknown). */
  height: number;
  logSize: number;
  /** Each member's `/metrics` text (empty if it did not answer). */
  metrics: string[];
}

/**
 * Mean durations of a block's stages over a run, ms, from the members'
 * histograms in `/metrics` (NaN when nothing was observed).
 */
export interface BlockStagesMs {
  /** Leader: proposing a batch → seeing it committed (a quorum holds it durably). */
  commit: number;
  /** Every member: making a Ready's entries (or vote) durable. */
  persist: number;
  /**
   * Every member: how long the oldest Raft message of each frame (or
   * `/raft/msg` request) waited in the sender's queue before it left.
   */
  peerQueue: number;
  /** Followers: round trip of a `/raft/forward` request (admitted transactions to the leader). */
  forward: number;
  /** Every member: executing a committed batch into a block and writing it. */
  apply: number;
}

/** Sum of a counter over the members' `/metrics` (NaN if a member lacks it). */
function counterSum(texts: string[], series: string): number {
  return texts.reduce((total, text) => {
    const line = text.split("\n").find((l) => l.startsWith(series + " "));
    return total + (line ? Number(line.slice(series.length + 1)) : NaN);
  }, 0);
}

/** {@link BlockStagesMs} between two samples of the members' `/metrics`. */
function blockStagesBetween(before: string[], after: string[]): BlockStagesMs {
  const mean = (name: string, labels?: string) => {
    const a = after.map((t) => histogramTotalsIn(t, name, labels));
    const b = before.map((t) => histogramTotalsIn(t, name, labels));
    const count = a.reduce((n, x) => n + x.count, 0) - b.reduce((n, x) => n + x.count, 0);
    const sum = a.reduce((n, x) => n + x.sum, 0) - b.reduce((n, x) => n + x.sum, 0);
    return count > 0 ? (sum / count) * 1000 : NaN;
  };
  return {
    commit: mean("edgeledger_raft_proposal_commit_seconds"),
    persist: mean("edgeledger_raft_persist_seconds"),
    peerQueue: mean("edgeledger_peer_queue_seconds"),
    forward: mean("edgeledger_peer_request_seconds", FORWARD_ROUTE),
    apply: mean("edgeledger_block_apply_seconds"),
  };
}

const noStages: BlockStagesMs = {
  commit: NaN,
  persist: NaN,
  peerQueue: NaN,
  forward: NaN,
  apply: NaN,
};

async function measureShape(
  system: System,
  shape: ClusterShape,
  options: ClusterBenchOptions,
  out: ClusterShapeResult,
): Promise<void> {
  const { log } = options;
  const account = (r: SpreadLoopResult) => {
    for (const [k, v] of Object.entries(r.errors)) {
      out.errorCauses[k] = (out.errorCauses[k] ?? 0) + v;
    }
    for (const e of r.errorExamples) if (out.errorExamples.length < 5) out.errorExamples.push(e);
  };
  const perRequest = shape.txsPerRequest;
  let estRate = 2000;
  if (options.warmupSeconds > 0) {
    const bodies = await system.take(Math.max(shape.concurrency * perRequest * 8, 4000));
    const w = await system.load(bodies, shape.concurrency, options.warmupSeconds * 1000);
    account(w);
    if (w.committed > 0) estRate = w.committed / w.wallSeconds;
    await system.settle();
  }
  for (let run = 0; run < options.runs; run++) {
    const bodies = await system.take(
      Math.max(
        system.minRunTxs ?? 0,
        Math.ceil(estRate * options.seconds * 3) + shape.concurrency * perRequest * 4,
      ),
    );
    if (bodies.length === 0) throw new Error(`No transactions left for run ${run + 1}`);
    const { index: leader, term: term0 } = await system.leader();
    const chain0 = await system.chain?.();
    const pids = system.pids();
    const sampler = new CpuSampler([
      ...pids,
      Deno.pid,
      ...(system.proxyPid === undefined ? [] : [system.proxyPid]),
    ]);
    const machine0 = machineBusySeconds();
    const machineT0 = performance.now();
    sampler.start();
    const r = await system.load(bodies, shape.concurrency, options.seconds * 1000);
    const cpu = sampler.stop();
    const machineCores = (machineBusySeconds() - machine0) /
      ((performance.now() - machineT0) / 1000);
    const chain1 = await system.chain?.();
    const { term: term1 } = await system.leader();
    account(r);
    const members = cpu.slice(0, pids.length);
    const loadCpu = cpu[pids.length];
    const proxyCores = cpu[pids.length + 1]?.cores ?? 0;
    const membersCores = members.reduce((a, c) => a + c.cores, 0);
    const blocks = chain0 && chain1 ? chain1.height - chain0.height : NaN;
    // Raft messages leave as frames on a stream, or as `/raft/msg` requests
    // to a peer without one: both count as "msg" sends.
    const requests = (c: ChainSample | undefined, route: string) =>
      c
        ? counterSum(c.metrics, `edgeledger_peer_requests_total{${route}}`) +
          (route === MSG_ROUTE ? counterSum(c.metrics, "edgeledger_peer_stream_frames_total") : 0)
        : NaN;
    const result: ClusterRun = {
      txPerSec: r.committed / r.wallSeconds,
      committed: r.committed,
      requests: r.requests,
      wallSeconds: r.wallSeconds,
      p50Ms: quantile(r.latenciesMs, 0.5),
      p99Ms: quantile(r.latenciesMs, 0.99),
      errors: Object.values(r.errors).reduce((a, b) => a + b, 0),
      exhausted: r.exhausted,
      members,
      leader,
      termsElapsed: term1 - term0,
      load: loadCpu,
      proxyCores,
      otherCores: Math.max(0, machineCores - membersCores - loadCpu.cores - proxyCores),
      clusterCpuUsPerTx: r.committed > 0 ? (membersCores * r.wallSeconds * 1e6) / r.committed : NaN,
      leaderMainCpuUsPerTx: r.committed > 0 && leader >= 0
        ? (members[leader].busiestThread.cores * r.wallSeconds * 1e6) / r.committed
        : NaN,
      blocks,
      txsPerBlock: chain0 && chain1 && blocks > 0
        ? (chain1.logSize - chain0.logSize) / blocks
        : NaN,
      msgRequestsPerBlock: blocks > 0
        ? (requests(chain1, MSG_ROUTE) - requests(chain0, MSG_ROUTE)) / blocks
        : NaN,
      forwardRequestsPerBlock: blocks > 0
        ? (requests(chain1, FORWARD_ROUTE) - requests(chain0, FORWARD_ROUTE)) / blocks
        : NaN,
      stagesMs: chain0 && chain1 ? blockStagesBetween(chain0.metrics, chain1.metrics) : noStages,
      committedByMember: r.committedByTarget,
    };
    out.runs.push(result);
    estRate = Math.max(estRate, result.txPerSec);
    log(
      `  ${system.name} ${shape.id} run ${run + 1}/${options.runs}: ${
        fmt(result.txPerSec)
      } tx/s, ` +
        `p50 ${fmt(result.p50Ms, 1)} ms, p99 ${
          fmt(result.p99Ms, 1)
        } ms, errors ${result.errors}, ` +
        `members ${members.map((m) => fmt(m.cores, 2)).join("/")} cores (leader #${leader}), ` +
        `load ${fmt(loadCpu.cores, 2)}, ` +
        (system.proxyPid === undefined ? "" : `proxy ${fmt(proxyCores, 2)}, `) +
        `other ${fmt(result.otherCores, 2)}` +
        (Number.isFinite(result.txsPerBlock) ? `, ${fmt(result.txsPerBlock, 1)} txs/block` : "") +
        (Number.isFinite(result.msgRequestsPerBlock)
          ? `, peer sends/block ${fmt(result.msgRequestsPerBlock, 1)} msg + ${
            fmt(result.forwardRequestsPerBlock, 1)
          } forward`
          : "") +
        (Number.isFinite(result.stagesMs.commit)
          ? `, block stages: propose→commit ${fmt(result.stagesMs.commit, 1)} ms (persist ${
            fmt(result.stagesMs.persist, 1)
          }, peer queue ${fmt(result.stagesMs.peerQueue, 1)}), apply ${
            fmt(result.stagesMs.apply, 1)
          } ms` +
            (Number.isFinite(result.stagesMs.forward)
              ? `, forward round trip ${fmt(result.stagesMs.forward, 1)} ms`
              : "")
          : "") +
        (result.termsElapsed !== 0
          ? `, ${fmt(result.termsElapsed)} new term(s) during the run`
          : "") +
        (r.exhausted ? " (ran out of pre-built requests)" : ""),
    );
    if (run + 1 < options.runs) await system.settle();
  }
}

function medianRun(runs: ClusterRun[]): ClusterRun | undefined {
  if (runs.length === 0) return undefined;
  const { m, cpu, byRate, common } = runMedians(runs);
  return {
    ...common,
    // Members are compared by role, so the median run's own member list is kept whole.
    members: byRate.members,
    leader: byRate.leader,
    termsElapsed: Math.max(0, ...runs.map((r) => r.termsElapsed).filter(Number.isFinite)),
    load: cpu((r) => r.load),
    proxyCores: m((r) => r.proxyCores ?? 0),
    otherCores: m((r) => r.otherCores),
    clusterCpuUsPerTx: m((r) => r.clusterCpuUsPerTx),
    leaderMainCpuUsPerTx: m((r) => r.leaderMainCpuUsPerTx),
    blocks: m((r) => r.blocks),
    txsPerBlock: m((r) => r.txsPerBlock),
    msgRequestsPerBlock: m((r) => r.msgRequestsPerBlock),
    forwardRequestsPerBlock: m((r) => r.forwardRequestsPerBlock),
    stagesMs: {
      commit: m((r) => r.stagesMs.commit),
      persist: m((r) => r.stagesMs.persist),
      peerQueue: m((r) => r.stagesMs.peerQueue),
      forward: m((r) => r.stagesMs.forward),
      apply: m((r) => r.stagesMs.apply),
    },
    committedByMember: byRate.committedByMember,
  };
}

/** Each member's `/metrics` text ("" for a member that does not answer). */
async function memberMetrics(urls: string[]): Promise<string[]> {
  return await Promise.all(urls.map(async (u) => {
    try {
      const res = await fetch(`${u}/metrics`, { signal: AbortSignal.timeout(5_000) });
      return res.ok ? await res.text() : "";
    } catch {
      return "";
    }
  }));
}

/** Request bodies for pool indices `[lo, hi)` (whole requests only). */
function ledgerBodies(pool: TxPool, lo: number, hi: number, txsPerRequest: number): string[] {
  if (txsPerRequest === 1) return pool.slice(lo, hi);
  const out: string[] = [];
  for (let i = lo; i + txsPerRequest <= hi; i += txsPerRequest) {
    out.push(`{"txs":[${pool.slice(i, i + txsPerRequest).join(",")}]}`);
  }
  return out;
}

async function ledgerShape(
  shape: ClusterShape,
  options: ClusterBenchOptions,
  dir: string,
  pool: TxPool,
): Promise<ClusterShapeResult> {
  const out: ClusterShapeResult = {
    system: "ledger",
    shape,
    runs: [],
    median: undefined,
    errorCauses: {},
    errorExamples: [],
  };
  let cluster: LocalCluster | undefined;
  try {
    const profiled = options.profile.includes(shape.id);
    cluster = await LocalCluster.start(dir, options.siteCount, {
      inspect: profiled,
      peerRttMs: options.peerRttMs,
      siteConfig: options.siteConfig,
    });
    const c = cluster;
    const targets = c.urls.map((u) => targetOf(u, "/v1/txs?wait=commit"));
    let cursor = 0;
    const leaderStatus = async (): Promise<SiteStatus | undefined> => {
      const all = await c.statuses(5_000);
      return all.find((s) => s?.role === "leader");
    };
    const system: System = {
      name: "ledger",
      pids: () => c.livePids,
      proxyPid: c.proxy?.pid,
      leader: async () => {
        // The highest term any site reports counts elections even while no site leads.
        const all = await c.statuses(5_000);
        const s = all.find((x) => x?.role === "leader");
        const terms = all.flatMap((x) => (x ? [x.term] : []));
        return {
          index: s === undefined ? -1 : c.names.indexOf(s.site),
          term: terms.length > 0 ? Math.max(...terms) : NaN,
        };
      },
      minRunTxs: Math.ceil(300 * options.seconds),
      take: async (txs) => {
        const want = Math.min(options.poolTxsMax, cursor + txs);
        const before = pool.size;
        await pool.ensure(want);
        if (pool.size > before) {
          options.log(`  signed ${fmt(pool.size - before)} txs (pool ${fmt(pool.size)})`);
        }
        const bodies = ledgerBodies(pool, cursor, Math.min(want, pool.size), shape.txsPerRequest);
        cursor += bodies.length * shape.txsPerRequest;
        return bodies;
      },
      load: (bodies, concurrency, durationMs) =>
        runSpreadLoop({ targets, bodies, concurrency, durationMs, judge: judgeLedger }),
      chain: async () => {
        const [s, metrics] = await Promise.all([leaderStatus(), memberMetrics(c.urls)]);
        return { height: s?.height ?? NaN, logSize: s?.logSize ?? NaN, metrics };
      },
      settle: async () => {
        await c.waitForQuiet();
      },
    };
    await measureShape(system, shape, options, out);
    // Every site must end on the same chain: the same head at the same height.
    const quiet = await c.waitForQuiet();
    const heads = new Set(quiet.map((q) => `${q?.height}:${q?.head}`));
    if (heads.size !== 1) {
      throw new Error(
        `Cannot trust the runs: the sites' chains differ after them (height:head ${
          [...heads].join(", ")
        })`,
      );
    }
    options.log(
      `  same chain on every site: height ${quiet[0]?.height}, head ${
        quiet[0]?.head.slice(0, 12)
      }…`,
    );
    if (Object.keys(out.errorCauses).length > 0) {
      out.statusAfter = (await c.statuses(5_000)).map((x) => JSON.stringify(x)).join("\n");
    }
    if (profiled) {
      await system.settle();
      const { index: leader } = await system.leader();
      const follower = (Math.max(0, leader) + 1) % c.urls.length;
      const rate = out.runs.length > 0 ? median(out.runs.map((x) => x.txPerSec)) : 100;
      const bodies = await system.take(
        Math.ceil(rate * options.profileSeconds * 2) + shape.concurrency * shape.txsPerRequest * 4,
      );
      const profilers = await Promise.all(
        [leader, follower].map((i) => InspectorProfiler.connect(c.inspectPorts[i])),
      );
      try {
        await Promise.all(profilers.map((p) => p.start()));
        const r = await system.load(bodies, shape.concurrency, options.profileSeconds * 1000);
        const profiles = await Promise.all(profilers.map((p) => p.stop()));
        const root = new URL("..", import.meta.url).pathname;
        out.profiles = profiles.map((p, k) => {
          const i = k === 0 ? leader : follower;
          const path = `${options.workDir}/profile-cluster-${shape.id}-${
            k === 0 ? "leader" : "follower"
          }.cpuprofile`;
          Deno.writeTextFileSync(path, JSON.stringify(p));
          return {
            role: k === 0 ? "leader" : "follower",
            site: c.names[i],
            txPerSec: r.committed / r.wallSeconds,
            summary: summarizeProfile(p, root),
          };
        });
        options.log(
          `  profiled ${shape.id}: ${fmt(r.committed / r.wallSeconds)} tx/s while profiling`,
        );
      } finally {
        for (const p of profilers) p.close();
      }
    }
  } catch (e) {
    out.failure = `${(e as Error).message}\n\n${cluster ? logTails(cluster.dir) : ""}`;
  } finally {
    await cluster?.close();
    if (!options.keep && out.failure === undefined) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
  out.median = medianRun(out.runs);
  return out;
}

async function etcdShape(
  shape: ClusterShape,
  options: ClusterBenchOptions,
  etcd: { path: string; gatewayPrefix: string },
  dir: string,
  pool: TxPool,
): Promise<ClusterShapeResult> {
  const out: ClusterShapeResult = {
    system: "etcd",
    shape,
    runs: [],
    median: undefined,
    errorCauses: {},
    errorExamples: [],
  };
  let cluster: EtcdCluster | undefined;
  try {
    cluster = await EtcdCluster.start(etcd, dir, options.siteCount, options.peerRttMs);
    const c = cluster;
    const path = shape.txsPerRequest === 1 ? "/kv/put" : "/kv/txn";
    const targets = c.members.map((m) => targetOf(m.clientUrl, `${c.gatewayPrefix}${path}`));
    let key = 0;
    // Values are the ledger's own envelope texts, so both systems carry the same bytes.
    const put = () => {
      const i = key++;
      return `{"key":"${base64Text(`bench/${i}`)}","value":"${
        base64Text(pool.at(i % pool.size))
      }"}`;
    };
    const memberIds = await Promise.all(c.members.map((_, i) => c.status(i)));
    const system: System = {
      name: "etcd",
      pids: () => c.pids,
      proxyPid: c.proxy?.pid,
      leader: async () => {
        try {
          const s = await c.status(0);
          return {
            index: memberIds.findIndex((m) =>
              (m.header as { member_id?: string })?.member_id === s.leader
            ),
            term: Number(s.raftTerm),
          };
        } catch {
          return { index: -1, term: NaN };
        }
      },
      // Bodies cost nothing to sign here, so never let a run run short.
      minRunTxs: Math.ceil(3000 * options.seconds),
      take: (txs) => {
        const bodies: string[] = [];
        if (shape.txsPerRequest === 1) {
          for (let i = 0; i < txs; i++) bodies.push(put());
        } else {
          for (let i = 0; i + shape.txsPerRequest <= txs; i += shape.txsPerRequest) {
            const ops = Array.from(
              { length: shape.txsPerRequest },
              () => `{"requestPut":${put()}}`,
            );
            bodies.push(`{"success":[${ops.join(",")}]}`);
          }
        }
        return Promise.resolve(bodies);
      },
      load: (bodies, concurrency, durationMs) =>
        runSpreadLoop({
          targets,
          bodies,
          concurrency,
          durationMs,
          judge: judgeEtcd(shape.txsPerRequest),
        }),
      settle: () => sleep(500),
    };
    await measureShape(system, shape, options, out);
  } catch (e) {
    out.failure = `${(e as Error).message}\n\n${logTails(dir, /^etcd-\d+\.log$/)}`;
  } finally {
    await cluster?.close();
    if (!options.keep && out.failure === undefined) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
  out.median = medianRun(out.runs);
  return out;
}

/** The last lines of every log under `dir` whose name matches `re`. */
function logTails(dir: string, re = /^site-\d+.*\.log$/, bytes = 1500): string {
  const parts: string[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (!e.isFile || !re.test(e.name)) continue;
      const text = Deno.readTextFileSync(`${dir}/${e.name}`);
      parts.push(`--- ${e.name} (last ${bytes} bytes)\n${text.slice(-bytes)}`);
    }
  } catch { /* no logs */ }
  return parts.join("\n");
}

// ---------------------------------------------------------------------------
// Failover.

interface LightLoad {
  /** Answers: start, end (performance.now() ms), committed or not. */
  events: Array<{ t0: number; t1: number; ok: boolean }>;
  stop(): Promise<void>;
}

/**
 * A light write load: `clients` clients, each sending one transaction per
 * request to the sites in turn (a site that is down fails at once and the
 * client moves on), at most one request per `paceMs`, until stopped or
 * `msMax` passes or the bodies run out.
 */
function startLightLoad(
  urls: string[],
  bodies: string[],
  clients: number,
  paceMs: number,
  msMax: number,
): LightLoad {
  const events: LightLoad["events"] = [];
  let stopped = false;
  let next = 0;
  const until = performance.now() + msMax;
  const encoder = new TextEncoder();
  const targets = urls.map((u) => targetOf(u, "/v1/txs?wait=commit"));
  const client = async (c: number) => {
    const connections = targets.map((t) => new RawHttpConnection(t.host, t.port));
    try {
      for (let k = c; !stopped && performance.now() < until && next < bodies.length; k++) {
        const t = k % targets.length;
        const target = targets[t];
        const body = encoder.encode(bodies[next++]);
        const head = encoder.encode(
          `POST ${target.path} HTTP/1.1\r\nhost: ${target.host}:${target.port}\r\n` +
            `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
        );
        const request = new Uint8Array(head.length + body.length);
        request.set(head);
        request.set(body, head.length);
        const t0 = performance.now();
        let ok = false;
        try {
          const { status, body: text } = await connections[t].request(request, 15_000);
          ok = judgeLedger(status, text).committed > 0;
        } catch { /* down: counted as not ok */ }
        const t1 = performance.now();
        events.push({ t0, t1, ok });
        const wait = paceMs - (t1 - t0);
        if (wait > 0) await sleep(wait);
      }
    } finally {
      for (const c of connections) c.close();
    }
  };
  const done = Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  return {
    events,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

/** Waits (bounded) until site `i`'s height reaches the leader's; ms taken, or NaN on timeout. */
async function waitCaughtUp(cluster: LocalCluster, i: number, msMax: number): Promise<number> {
  const t0 = performance.now();
  const until = t0 + msMax;
  while (performance.now() < until) {
    const all = await cluster.statuses(2_000);
    const leader = all.find((s) => s?.role === "leader");
    const me = all[i];
    if (leader && me && me.height >= leader.height && me.role !== "candidate") {
      return performance.now() - t0;
    }
    await sleep(25);
  }
  return NaN;
}

async function runFailover(
  options: ClusterBenchOptions,
  cluster: LocalCluster,
  takeBodies: (n: number) => Promise<string[]>,
  out: ClusterBenchResult,
): Promise<void> {
  const { log } = options;
  for (let run = 0; run < options.failoverRuns; run++) {
    const { index: leader, status: before } = await cluster.waitForLeader(0, 30_000);
    const perRun = Math.ceil((options.failoverClients * 30_000) / options.failoverPaceMs);
    const load = startLightLoad(
      cluster.urls,
      await takeBodies(perRun),
      options.failoverClients,
      options.failoverPaceMs,
      30_000,
    );
    let stopped = false;
    try {
      await sleep(1_000);
      const survivors = cluster.urls.filter((_, j) => j !== leader);
      const tKill = performance.now();
      Deno.kill(cluster.sites[leader]!.pid, "SIGKILL");
      // Election: poll the survivors until one is leader with a higher term.
      let elected: SiteStatus | undefined;
      const electUntil = tKill + 20_000;
      while (elected === undefined && performance.now() < electUntil) {
        const ss = await Promise.all(survivors.map((u) => tryStatus(u, 500)));
        elected = ss.find((s) => s?.role === "leader" && s.term > before.term);
        if (elected === undefined) await sleep(10);
      }
      const tElected = performance.now();
      await cluster.kill(leader);
      if (elected === undefined) {
        throw new Error(
          `No new leader within 20 s of SIGKILL of ${before.site}; statuses: ${
            JSON.stringify(await cluster.statuses())
          }`,
        );
      }
      // Writes: the first commit of a request started after the kill.
      let tWrites = NaN;
      const writesUntil = tKill + 20_000;
      while (performance.now() < writesUntil) {
        const first = load.events.filter((e) => e.ok && e.t0 >= tKill).map((e) => e.t1);
        if (first.length > 0) {
          tWrites = Math.min(...first);
          break;
        }
        await sleep(20);
      }
      await sleep(500);
      await load.stop();
      stopped = true;
      const failed = load.events.filter((e) => !e.ok).length;
      // Restart the killed site and let it catch up before the next run.
      await cluster.restart(leader);
      const rejoinMs = await waitCaughtUp(cluster, leader, 60_000);
      const r: FailoverRun = {
        killedSite: before.site,
        oldTerm: before.term,
        newLeader: elected.site,
        newTerm: elected.term,
        electedMs: tElected - tKill,
        writesMs: tWrites - tKill,
        failedRequests: failed,
        rejoinMs,
      };
      out.failover.push(r);
      log(
        `  failover ${
          run + 1
        }/${options.failoverRuns}: killed ${r.killedSite} (term ${r.oldTerm}), ` +
          `${r.newLeader} leader in term ${r.newTerm} after ${fmt(r.electedMs)} ms, ` +
          `writes after ${fmt(r.writesMs)} ms, ${failed} failed requests, rejoined in ${
            fmt(rejoinMs)
          } ms`,
      );
    } finally {
      if (!stopped) await load.stop();
    }
  }
}

// ---------------------------------------------------------------------------
// Catch-up.

/** Asks a site whether it has the admin route to add members; the answer in words. */
async function probeAdminMembers(url: string): Promise<{ exists: boolean; answer: string }> {
  try {
    const res = await fetch(`${url}/v1/admin/members`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
      signal: AbortSignal.timeout(5_000),
    });
    const text = (await res.text()).slice(0, 200);
    return {
      exists: res.status !== 404 && res.status !== 405,
      answer: `POST /v1/admin/members (no key) → ${res.status} ${text}`,
    };
  } catch (e) {
    return { exists: false, answer: `POST /v1/admin/members failed: ${(e as Error).message}` };
  }
}

async function runCatchup(
  options: ClusterBenchOptions,
  cluster: LocalCluster,
  takeBatches: (txs: number) => Promise<string[]>,
): Promise<CatchupResult> {
  const { log } = options;
  const { index: leader } = await cluster.waitForLeader(0, 30_000);
  const follower = (leader + 1) % cluster.urls.length;
  await cluster.waitForQuiet();
  const atStop = (await cluster.statuses())[follower];
  if (atStop === undefined) throw new Error(`Cannot read the status of site ${follower}`);
  await cluster.stop(follower);
  const liveTargets = cluster.urls.filter((_, j) => j !== follower).map((u) =>
    targetOf(u, "/v1/txs?wait=commit")
  );
  const bodies = await takeBatches(options.catchupTxs);
  const r = await runSpreadLoop({
    targets: liveTargets,
    bodies,
    concurrency: 8,
    durationMs: 300_000,
    judge: judgeLedger,
  });
  log(
    `  catch-up: committed ${fmt(r.committed)} txs without ${cluster.names[follower]} ` +
      `(${fmt(r.committed / r.wallSeconds)} tx/s, errors ${JSON.stringify(r.errors)})`,
  );
  const quiet = await cluster.waitForQuiet();
  const lead = quiet.find((s) => s?.role === "leader");
  if (lead === undefined) throw new Error(`No leader after the load: ${JSON.stringify(quiet)}`);
  const t0 = performance.now();
  const site = await cluster.restart(follower);
  const tListen = performance.now();
  const first = await tryStatus(site.url, 5_000);
  const catchupMs = await waitCaughtUp(cluster, follower, 300_000);
  const after = (await cluster.statuses())[follower];
  if (!Number.isFinite(catchupMs)) {
    throw new Error(
      `${cluster.names[follower]} did not catch up within 300 s: its status ${
        JSON.stringify(after)
      }, leader ${JSON.stringify(lead)}`,
    );
  }
  const missedTxs = lead.logSize - atStop.logSize;
  const missedBlocks = lead.height - atStop.height;
  const seconds = catchupMs / 1000;
  return {
    what: "a site stopped (SIGTERM) while the others committed the transactions, then restarted",
    adminProbe: "",
    missedTxs,
    missedBlocks,
    missedEntries: lead.commitIndex - atStop.commitIndex,
    startMs: tListen - t0,
    catchupMs,
    txPerSec: missedTxs / seconds,
    blocksPerSec: missedBlocks / seconds,
    leaderHeight: lead.height,
    siteHeightAtStart: first?.height ?? NaN,
  };
}

/**
 * Adds a new site (not in genesis, `join: true`) as a learner through
 * `POST /v1/admin/members` on the leader (with the local ledger's admin API
 * key) and measures how fast it reaches the leader's height. The new site
 * is stopped afterwards (a learner does not count for quorum).
 */
async function runLearnerCatchup(
  options: ClusterBenchOptions,
  cluster: LocalCluster,
  adminProbe: string,
): Promise<CatchupResult> {
  const { log } = options;
  const apiKey = (await Deno.readTextFile(`${cluster.dir}/admin-api-key.txt`)).trim();
  const template = JSON.parse(await Deno.readTextFile(cluster.configs[0])) as Record<
    string,
    unknown
  >;
  const name = "site-new";
  const dir = `${cluster.dir}/${name}`;
  await Deno.mkdir(dir, { recursive: true });
  const key = generateKeyPair("ed25519");
  await Deno.writeTextFile(`${dir}/site-key.json`, JSON.stringify(exportKey(key)), { mode: 0o600 });
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = {
    ...template,
    name,
    port,
    url,
    db: "file:ledger.db",
    keyFile: "site-key.json",
    genesisFile: "../genesis.json",
    join: true,
  };
  await Deno.writeTextFile(`${dir}/site.json`, JSON.stringify(config, null, 2));
  const quiet = await cluster.waitForQuiet();
  const lead = quiet.find((s) => s?.role === "leader");
  if (lead === undefined) throw new Error(`No leader: ${JSON.stringify(quiet)}`);
  const leaderUrl = cluster.urls[cluster.names.indexOf(lead.site)];
  let site: SiteProcess | undefined;
  try {
    const t0 = performance.now();
    site = await spawnSite(`${dir}/site.json`, `${cluster.dir}/${name}.log`);
    const tListen = performance.now();
    const first = await tryStatus(url, 5_000);
    // Leadership may move between the status read and the request: follow
    // `not_leader` answers to the leader they name, a few times at most.
    let target = leaderUrl;
    const tried: string[] = [];
    for (let attempt = 0;; attempt++) {
      const res = await fetch(`${target}/v1/admin/members`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ name, url, publicKey: base64urlEncode(key.publicKey) }),
        signal: AbortSignal.timeout(30_000),
      });
      const answer = await res.text();
      if (res.ok) break;
      tried.push(`POST ${target}/v1/admin/members → ${res.status} ${answer}`);
      const next = (() => {
        try {
          return (JSON.parse(answer) as { leaderUrl?: string | null }).leaderUrl ?? undefined;
        } catch {
          return undefined;
        }
      })();
      if (res.status !== 409 || next === undefined || attempt >= 4) {
        throw new Error(`Cannot add a learner: ${tried.join("; ")}`);
      }
      target = next;
      await sleep(200);
    }
    const tAdded = performance.now();
    let last: SiteStatus | undefined;
    let tDone = NaN;
    const until = tAdded + 300_000;
    while (performance.now() < until) {
      last = await tryStatus(url, 2_000);
      if (last !== undefined && last.height >= lead.height) {
        tDone = performance.now();
        break;
      }
      await sleep(25);
    }
    if (!Number.isFinite(tDone)) {
      throw new Error(
        `The learner did not reach height ${lead.height} within 300 s: its status ${
          JSON.stringify(last)
        }; cluster ${JSON.stringify(await cluster.statuses())}`,
      );
    }
    const seconds = (tDone - tAdded) / 1000;
    log(
      `  learner: ${fmt(lead.logSize)} txs (${fmt(lead.height)} blocks) in ${
        fmt(seconds * 1000)
      } ms after being added (role ${last?.role})`,
    );
    return {
      what: `a new site (not in genesis, \`join: true\`) added as a learner with ` +
        `\`POST /v1/admin/members\` on the leader, catching up the whole ledger; ` +
        `it reported role \`${last?.role}\``,
      adminProbe,
      missedTxs: lead.logSize,
      missedBlocks: lead.height,
      missedEntries: lead.commitIndex,
      startMs: tListen - t0,
      catchupMs: tDone - tAdded,
      txPerSec: lead.logSize / seconds,
      blocksPerSec: lead.height / seconds,
      leaderHeight: lead.height,
      siteHeightAtStart: first?.height ?? NaN,
    };
  } finally {
    await site?.stop();
  }
}

// ---------------------------------------------------------------------------
// The whole bench.

/** Runs the parts in {@link ClusterBenchOptions.parts}; a failing part is recorded and the rest go on. */
export async function runClusterBench(options: ClusterBenchOptions): Promise<ClusterBenchResult> {
  const { log } = options;
  const t0 = performance.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const base = `${options.workDir}/cluster-${stamp}`;
  await Deno.mkdir(base, { recursive: true });
  const { log: _log, ...kept } = options;
  const result: ClusterBenchResult = {
    options: kept,
    etcd: await findEtcd(),
    envelopeBytes: NaN,
    signSeconds: 0,
    signedTxs: 0,
    ledger: [],
    etcdShapes: [],
    failover: [],
    seconds: 0,
  };
  if (!result.etcd.ok && options.parts.includes("etcd")) {
    log(`cluster: skipping etcd: ${result.etcd.reason}`);
  }
  const pool = new TxPool("ed25519", "demo", options.signWorkers);
  try {
    await pool.ensure(20_000);
    result.envelopeBytes = new TextEncoder().encode(pool.at(0)).length;
    for (const shape of options.shapes) {
      if (options.parts.includes("ledger")) {
        const s = await ledgerShape(shape, options, `${base}/ledger-${shape.id}`, pool);
        result.ledger.push(s);
        log(summaryLine(s));
      }
      if (options.parts.includes("etcd") && result.etcd.ok) {
        const s = await etcdShape(shape, options, result.etcd, `${base}/etcd-${shape.id}`, pool);
        result.etcdShapes.push(s);
        log(summaryLine(s));
      }
    }
    if (options.parts.includes("failover") || options.parts.includes("catchup")) {
      const dir = `${base}/ledger-failover`;
      let cluster: LocalCluster | undefined;
      let failed = false;
      try {
        cluster = await LocalCluster.start(dir, options.siteCount, {
          peerRttMs: options.peerRttMs,
          siteConfig: options.siteConfig,
        });
        // Transactions after those any throughput shape used: this is a fresh ledger, so any
        // index works, but distinct ones keep failover and catch-up from overlapping.
        let cursor = 0;
        const take = async (txs: number, perRequest: number) => {
          const want = Math.min(options.poolTxsMax, cursor + txs);
          await pool.ensure(want);
          const bodies = ledgerBodies(pool, cursor, Math.min(want, pool.size), perRequest);
          cursor += bodies.length * perRequest;
          return bodies;
        };
        if (options.parts.includes("failover")) {
          try {
            await runFailover(options, cluster, (n) => take(n, 1), result);
          } catch (e) {
            failed = true;
            result.failoverFailure = `${(e as Error).message}\n\n${logTails(dir)}`;
            log(`  failover FAILED: ${(e as Error).message}`);
          }
        }
        if (options.parts.includes("catchup")) {
          try {
            for (let i = 0; i < cluster.sites.length; i++) {
              if (cluster.sites[i] === undefined) await cluster.restart(i);
            }
            result.catchup = await runCatchup(options, cluster, (n) => take(n, 100));
            const c = result.catchup;
            log(
              `  catch-up: ${fmt(c.missedTxs)} txs (${fmt(c.missedBlocks)} blocks) in ${
                fmt(c.catchupMs)
              } ms after listening: ${fmt(c.txPerSec)} tx/s`,
            );
          } catch (e) {
            failed = true;
            result.catchupFailure = `${(e as Error).message}\n\n${logTails(dir)}`;
            log(`  catch-up FAILED: ${(e as Error).message}`);
          }
          const probe = await probeAdminMembers(cluster.urls[0]);
          if (probe.exists) {
            try {
              result.learner = await runLearnerCatchup(options, cluster, probe.answer);
            } catch (e) {
              failed = true;
              result.learnerFailure = `${(e as Error).message}\n\n${
                logTails(dir, /^site-.*\.log$/)
              }`;
              log(`  learner catch-up FAILED: ${(e as Error).message}`);
            }
          } else {
            result.learnerFailure = `Not measured: the cluster has no admin route to add a ` +
              `learner (${probe.answer}).`;
          }
        }
      } catch (e) {
        failed = true;
        result.failoverFailure ??= `${(e as Error).message}\n\n${logTails(dir)}`;
      } finally {
        await cluster?.close();
        if (!options.keep && !failed) await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
    if (options.parts.includes("floor")) {
      // Clients as in the ledger's 1-tx shapes (64 when those include it).
      const single = options.shapes.filter((s) => s.txsPerRequest === 1).map((s) => s.concurrency);
      result.floor = await runFloorBench({
        concurrency: single.includes(64) ? 64 : single[0] ?? 64,
        seconds: options.seconds,
        warmupSeconds: Math.min(options.warmupSeconds, 2),
        blockSizes: floorBlockSizes(result.ledger),
        prefillTxs: 20_000,
        storageTxs: 20_000,
        workDir: base,
        log,
      }, async (n) => {
        await pool.ensure(Math.min(options.poolTxsMax, n));
        return pool.slice(0, Math.min(pool.size, n));
      });
    }
  } finally {
    result.signSeconds = pool.signSeconds;
    result.signedTxs = pool.size;
    pool.close();
  }
  const anyFailure = [...result.ledger, ...result.etcdShapes].some((s) => s.failure) ||
    result.failoverFailure !== undefined || result.catchupFailure !== undefined;
  if (!options.keep && !anyFailure) {
    await Deno.remove(base, { recursive: true }).catch(() => {});
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

function summaryLine(s: ClusterShapeResult): string {
  const m = s.median;
  return s.failure !== undefined
    ? `cluster ${s.system} ${s.shape.id}: FAILED ${s.failure.split("\n")[0]}`
    : `cluster ${s.system} ${s.shape.id}: ${fmt(m?.txPerSec ?? NaN)} tx/s median, p50 ${
      fmt(m?.p50Ms ?? NaN, 1)
    } ms, p99 ${fmt(m?.p99Ms ?? NaN, 1)} ms`;
}

// ---------------------------------------------------------------------------
// Report sections.

/** The bar from the issue: ours ÷ etcd committed tx/s at these concurrencies (one per request). */
export const clusterBars = { ratioMin: 1.0, concurrencies: [64, 256] } as const;

function ratioOf(r: ClusterBenchResult, shape: ClusterShape): number {
  const ours = r.ledger.find((s) => s.shape.id === shape.id)?.median?.txPerSec ?? NaN;
  const theirs = r.etcdShapes.find((s) => s.shape.id === shape.id)?.median?.txPerSec ?? NaN;
  return ours / theirs;
}

const cores = navigator.hardwareConcurrency;

/** The bench's report sections (ids `cluster-*`). */
export function clusterSections(r: ClusterBenchResult): Section[] {
  const o = r.options;
  const sections: Section[] = [];
  const etcdLine = r.etcd.ok
    ? `etcd ${r.etcd.version} (\`${r.etcd.path}\`, Debian's \`etcd-server\`), HTTP JSON gateway ` +
      `under \`${r.etcd.gatewayPrefix}\``
    : `**etcd was skipped**: ${r.etcd.reason}`;
  const threads = threadsForSharedMachine(o.siteCount, cores);
  const threadsLine = threads.storage === "inline"
    ? "no admission or storage workers, everything on each site's main thread"
    : `${threads.admissionWorkers} admission workers and a storage worker per site`;
  sections.push({
    id: "cluster-method",
    markdown: `## 3-site cluster vs etcd: method

**Caveat: everything shares this machine's ${cores} cores** — the three site
processes (or the three etcd members), and the load generator (the bench
driver, one process). Sites and etcd never run at the same time. A real
deployment has one machine per site; here each of the 3 replicas gets
about ${fmt(cores / 3, 2)} of a core minus what the load generator takes, so
absolute numbers are far below what separate machines give; the ratio to
etcd on the same machine is the meaningful figure.

- **ours**: for every shape a fresh ledger (\`initLocalLedger\`, 3 sites,
  \`workers/site.ts\` processes, embedded libSQL files, Raft tick 50 ms,
  election timeout 10–20 ticks; the threads \`initLocalLedger\` gives sites
  sharing one machine: ${threadsLine}). Each transaction is an Ed25519-signed
  \`data.anchor\` on its own stream, ${fmt(r.envelopeBytes)} bytes of JSON
  (the smallest signed envelope this kind allows — "about 300 bytes" is not
  reachable with a did:key signer, a 64-hex root and a 64-byte signature),
  signed before the timed phase (${fmt(r.signedTxs)} signed in ${
      fmt(r.signSeconds, 1)
    } s on ${o.signWorkers} worker threads).
  \`POST /v1/txs?wait=commit\`, one envelope per request or \`{"txs":[…]}\`.
- **etcd**: ${etcdLine}; a fresh 3-member cluster per shape (loopback
  ports, temporary data directories, default heartbeat 100 ms, election
  timeout 1000 ms, WAL fsync). Values are **the same envelope texts**
  (${fmt(r.envelopeBytes)} bytes, base64 on the wire as the gateway wants),
  one \`POST ${r.etcd.ok ? r.etcd.gatewayPrefix : "/v3"}/kv/put\` per value, or one
  \`POST …/kv/txn\` with N \`requestPut\`s for the batched shape. An answer
  with a \`header\` means committed and applied on the member that answered.
- **load**: closed-loop clients; client *c* keeps one keep-alive HTTP/1.1
  connection to member *c* mod 3 (round-robin over all members, so most
  requests land on a follower and are forwarded) and has one request in
  flight. ${fmt(o.warmupSeconds)} s warm-up, then ${o.runs} runs of ${fmt(o.seconds)} s per
  shape; tables quote the **median** of the runs.
- **latency**: request start → committed answer (for a batch, the whole request).
- **CPU**: CPU-seconds ÷ wall-seconds of each process from \`/proc\`;
  "other" is the rest of the machine (\`/proc/stat\`): other users' work
  that disturbed the run, and the delay proxy's own CPU (below), shown
  apart in parentheses.
- **distance between members**: ${
      (o.peerRttMs ?? 0) > 0
        ? `**${fmt(o.peerRttMs, 1)} ms round trip** (\`BENCH_PEER_RTT_MS\`): the`
        : `loopback (\`BENCH_PEER_RTT_MS\` unset). With \`BENCH_PEER_RTT_MS=<ms>\` the`
    } URLs the sites know each other by (genesis's) and etcd's advertised peer
  URLs (\`--initial-advertise-peer-urls\`, \`--initial-cluster\`) point at a
  delaying TCP proxy (\`bench/_delay_proxy.ts\`, its own process) that
  delivers every chunk in each direction half that time after it arrived, in
  order; clients reach the members directly.${
      Object.keys(o.siteConfig ?? {}).length > 0
        ? ` Sites ran with ${
          Object.entries(o.siteConfig).map(([k, v]) => `\`${k}: ${v}\``).join(", ")
        } (\`BENCH_PROPOSALS_IN_FLIGHT\`, \`BENCH_FORWARDS_IN_FLIGHT\`).`
        : ""
    }`,
  });

  const rows = o.shapes.map((shape) => {
    const ours = r.ledger.find((s) => s.shape.id === shape.id);
    const theirs = r.etcdShapes.find((s) => s.shape.id === shape.id);
    const cell = (s: ClusterShapeResult | undefined, f: (m: ClusterRun) => string) =>
      s === undefined ? "not run" : s.median === undefined ? "failed" : f(s.median);
    const ratio = ratioOf(r, shape);
    return [
      clusterShapeLabel(shape),
      cell(ours, (m) => fmt(m.txPerSec)),
      cell(ours, (m) => fmt(m.p50Ms, 1)),
      cell(ours, (m) => fmt(m.p99Ms, 1)),
      ours ? fmt(ours.runs.reduce((a, x) => a + x.errors, 0)) : "–",
      cell(theirs, (m) => fmt(m.txPerSec)),
      cell(theirs, (m) => fmt(m.p50Ms, 1)),
      cell(theirs, (m) => fmt(m.p99Ms, 1)),
      theirs ? fmt(theirs.runs.reduce((a, x) => a + x.errors, 0)) : "–",
      Number.isFinite(ratio) ? fmt(ratio, 3) : "–",
    ];
  });
  const perRun = [...r.ledger, ...r.etcdShapes].map((s) =>
    `${s.system === "ledger" ? "ours" : "etcd"} ${s.shape.id}: ${
      s.runs.map((x) => fmt(x.txPerSec)).join(", ") || "–"
    }${s.runs.some((x) => x.exhausted) ? " (ran out of pre-built requests)" : ""}${
      s.failure ? " (FAILED)" : ""
    }`
  ).join("; ");
  sections.push({
    id: "cluster-throughput",
    markdown: `## 3-site cluster vs etcd: committed writes per second

${
      mdTable([
        "shape",
        "ours tx/s",
        "ours p50 ms",
        "ours p99 ms",
        "ours errors",
        "etcd puts/s",
        "etcd p50 ms",
        "etcd p99 ms",
        "etcd errors",
        "ours ÷ etcd",
      ], rows)
    }

Per-run committed/s: ${perRun || "none"}.

All ${cores} cores are shared by the 3 members and the load generator.`,
  });

  const barRows = clusterBars.concurrencies.map((c) => {
    const shape = o.shapes.find((s) => s.txsPerRequest === 1 && s.concurrency === c);
    const ratio = shape ? ratioOf(r, shape) : NaN;
    return [
      `ours ÷ etcd, 1 tx/request, ${c} clients`,
      `≥ ${fmt(clusterBars.ratioMin, 1)}`,
      Number.isFinite(ratio) ? fmt(ratio, 3) : "–",
      shape === undefined
        ? "not run"
        : !Number.isFinite(ratio)
        ? "**FAIL** (no result)"
        : ratio >= clusterBars.ratioMin
        ? "**PASS**"
        : "**FAIL**",
    ];
  });
  sections.push({
    id: "cluster-bars",
    markdown: `## Bars (3-site cluster vs 3-member etcd, same machine)

${mdTable(["bar", "target", "measured", "verdict"], barRows)}

Both clusters and the load generator share the machine's ${cores} cores.`,
  });

  const cpuRows = [...r.ledger, ...r.etcdShapes].filter((s) => s.median).map((s) => {
    const m = s.median!;
    const members = m.members.map((c, i) =>
      `${i === m.leader ? "L " : ""}${fmt(c.cores, 2)} (${fmt(c.busiestThread.cores, 2)})`
    ).join(" / ");
    const total = m.members.reduce((a, c) => a + c.cores, 0);
    const proxy = m.proxyCores ?? 0;
    return [
      s.system === "ledger" ? "ours" : "etcd",
      clusterShapeLabel(s.shape),
      members,
      fmt(total, 2),
      fmt(m.load.cores, 2),
      proxy > 0 ? `${fmt(m.otherCores + proxy, 2)} (proxy ${fmt(proxy, 2)})` : fmt(m.otherCores, 2),
      fmt(total + m.load.cores + m.otherCores + proxy, 2),
      fmt(m.clusterCpuUsPerTx),
      fmt(m.leaderMainCpuUsPerTx),
      Number.isFinite(m.txsPerBlock) ? fmt(m.txsPerBlock, 1) : "–",
      m.blocks > 0 ? fmt((m.wallSeconds * 1000) / m.blocks, 1) : "–",
      Number.isFinite(m.txsPerBlock) ? fmt((m.clusterCpuUsPerTx * m.txsPerBlock) / 1000, 1) : "–",
      Number.isFinite(m.msgRequestsPerBlock)
        ? `${fmt(m.msgRequestsPerBlock, 1)} + ${fmt(m.forwardRequestsPerBlock, 1)}`
        : "–",
      Number.isFinite(m.termsElapsed) ? fmt(m.termsElapsed) : "–",
      m.committedByMember.map((x) => fmt(x)).join(" / "),
    ];
  });
  sections.push({
    id: "cluster-cpu",
    markdown: `### Where the CPU went

Median run of each shape. "members" lists each member's cores (its busiest
thread in parentheses; **L** = the Raft leader during that run); "µs
CPU/write" is all members' CPU per committed write; "leader thread µs" is the
leader's busiest thread per committed write (1 ÷ that = the most one core
could do on that thread); "peer sends/block" counts the members' Raft
message frames on \`/raft/stream\` (checkpoint signatures riding along; a
\`/raft/msg\` request counts as one) and \`/raft/forward\` requests per
block, from their \`/metrics\`; the machine has ${cores} cores.

${
      mdTable([
        "system",
        "shape",
        "members cores (busiest thread)",
        "members total",
        "load-gen cores",
        "other",
        "machine total",
        "µs CPU/write",
        "leader thread µs/write",
        "txs/block",
        "ms/block",
        "cluster CPU ms/block",
        "peer sends/block (msg + forward)",
        "new terms (max of runs)",
        "committed via member",
      ], cpuRows)
    }

${blockStagesMarkdown(r)}${profileMarkdown(r)}`,
  });

  const f = r.failover;
  const fRows = f.map((x, i) => [
    String(i + 1),
    `${x.killedSite} (term ${x.oldTerm})`,
    `${x.newLeader} (term ${x.newTerm})`,
    fmt(x.electedMs),
    fmt(x.writesMs),
    fmt(x.failedRequests),
    fmt(x.rejoinMs),
  ]);
  if (f.length > 0) {
    fRows.push([
      "**median**",
      "",
      "",
      `**${fmt(median(f.map((x) => x.electedMs)))}**`,
      `**${fmt(median(f.map((x) => x.writesMs)))}**`,
      fmt(median(f.map((x) => x.failedRequests))),
      fmt(median(f.map((x) => x.rejoinMs))),
    ]);
  }
  sections.push({
    id: "cluster-failover",
    markdown: `## Leader failover (SIGKILL)

${
      o.parts.includes("failover")
        ? `A fresh 3-site ledger; ${o.failoverClients} clients write one transaction per request to the
sites in turn (each at most one request per ${o.failoverPaceMs} ms, ≤ ${
          fmt((o.failoverClients * 1000) / o.failoverPaceMs)
        } tx/s); after 1 s the
leader is SIGKILLed. **elected**: kill → a survivor answers \`GET /v1/status\`
with \`role: "leader"\` and a higher term (polled every ~10 ms). **writes**:
kill → the first commit of a request that *started* after the kill.
**failed requests**: requests of the whole run that did not commit (those
sent to the dead site fail at once). **rejoin**: the killed site restarted
(same data) → its height equals the leader's. Raft tick 50 ms, election
timeout 10–20 ticks (0.5–1 s) with PreVote. Runs: ${f.length} of ${o.failoverRuns}.

${
          mdTable([
            "run",
            "killed leader",
            "new leader",
            "elected ms",
            "writes ms",
            "failed requests",
            "rejoin ms",
          ], fRows)
        }${
          r.failoverFailure
            ? `\n\n**Failure:**\n\n\`\`\`\n${r.failoverFailure.slice(0, 6000)}\n\`\`\``
            : ""
        }`
        : "Not run (`BENCH_CLUSTER_PARTS`)."
    }`,
  });

  const catchupTable = (c: CatchupResult) =>
    mdTable(["", ""], [
      ["transactions to catch up", fmt(c.missedTxs)],
      ["blocks to catch up", fmt(c.missedBlocks)],
      ["Raft entries to catch up (commit index gap)", fmt(c.missedEntries)],
      ["site height at its first status", fmt(c.siteHeightAtStart)],
      ["leader height", fmt(c.leaderHeight)],
      ["process start → listening, ms", fmt(c.startMs)],
      [
        c.what.startsWith("a new site")
          ? "added (admin route answered) → height equals the leader's, ms"
          : "listening → height equals the leader's, ms",
        fmt(c.catchupMs),
      ],
      ["**catch-up rate, tx/s**", `**${fmt(c.txPerSec)}**`],
      ["catch-up rate, blocks/s", fmt(c.blocksPerSec, 1)],
    ]);
  const block = (title: string, c: CatchupResult | undefined, failure: string | undefined) =>
    `### ${title}\n\n` +
    (c !== undefined
      ? `Measured: ${c.what}.\n\n${catchupTable(c)}`
      : failure !== undefined
      ? (failure.startsWith("Not measured")
        ? failure
        : `**Failed:**\n\n\`\`\`\n${failure.slice(0, 6000)}\n\`\`\``)
      : "Not run (`BENCH_CLUSTER_PARTS`).");
  sections.push({
    id: "cluster-catchup",
    markdown: `## Catch-up rate of a site

Both on the failover ledger after its runs. The leader compacts its Raft log
after 2,000 applied entries (keeping 500): a site further behind is sent a
snapshot pointer and re-executes the missing blocks fetched from a peer;
a site less far behind gets ordinary log replication.

${block("A new site added as a learner", r.learner, r.learnerFailure)}

${
      block(
        `A site restarted after ${
          fmt(o.catchupTxs)
        } transactions were committed without it (100 per request, 8 clients on the other two sites)`,
        r.catchup,
        r.catchupFailure,
      )
    }`,
  });

  const failures = [...r.ledger, ...r.etcdShapes].filter((s) =>
    s.failure !== undefined || Object.keys(s.errorCauses).length > 0
  );
  sections.push({
    id: "cluster-errors",
    markdown: `### Cluster errors and failures

${
      failures.length === 0
        ? "None: every request was answered and every write committed."
        : failures.map((s) =>
          `- **${s.system === "ledger" ? "ours" : "etcd"}, ${clusterShapeLabel(s.shape)}**: ` +
          (Object.entries(s.errorCauses).map(([k, v]) => `${k} × ${v}`).join(", ") ||
            "no request errors") +
          (s.failure !== undefined
            ? `\n\n  Failure:\n\n  \`\`\`\n${indent(s.failure.slice(0, 6000), "  ")}\n  \`\`\``
            : "") +
          (s.errorExamples.length > 0
            ? `\n\n  Examples:\n\n  \`\`\`\n${indent(s.errorExamples.join("\n"), "  ")}\n  \`\`\``
            : "") +
          (s.statusAfter !== undefined
            ? `\n\n  \`GET /v1/status\` of every site right after the runs:\n\n  \`\`\`\n${
              indent(s.statusAfter.slice(0, 6000), "  ")
            }\n  \`\`\``
            : "")
        ).join("\n")
    }`,
  });

  if (r.floor !== undefined) sections.push({ id: "cluster-floor", markdown: floorMarkdown(r) });
  sections.push({ id: "cluster-limits", markdown: limitsMarkdown(r) });
  return sections;
}

/**
 * Block sizes the floor writes its Raft entries and rows at: the median
 * transactions per block of each one-transaction shape the ledger ran
 * (rounded), or 25 — about what 64 clients give — without them.
 */
export function floorBlockSizes(ledger: readonly ClusterShapeResult[]): number[] {
  const sizes = ledger
    .filter((s) => s.shape.txsPerRequest === 1 && s.median !== undefined)
    .map((s) => Math.max(1, Math.round(s.median!.txsPerBlock)))
    .filter((n) => Number.isFinite(n));
  return sizes.length > 0 ? [...new Set(sizes)].sort((a, b) => a - b) : [25];
}

function floorMarkdown(r: ClusterBenchResult): string {
  const f = r.floor as FloorResult;
  const sites = r.options.siteCount;
  const http = f.http;
  const components = mdTable([
    "work per committed write",
    "where",
    "µs CPU each",
    "times",
    "µs CPU",
  ], [
    [
      "answer one HTTP request: read the body, parse the JSON, answer a small JSON receipt",
      "the site the client used",
      http ? fmt(http.serverUsPerRequest, 1) : "–",
      1,
      http ? fmt(http.serverUsPerRequest, 1) : "–",
    ],
    [
      "verify one Ed25519 signature (node:crypto)",
      "that site",
      fmt(f.verifyUs, 1),
      1,
      fmt(f.verifyUs, 1),
    ],
    [
      "decode the transaction's JSON text, hash its RFC 9162 leaf and one interior node",
      "every site",
      fmt(f.applyUs, 1),
      sites,
      fmt(sites * f.applyUs, 1),
    ],
    [
      "make its Raft entry durable (one entry per block, `synchronous = FULL`): per block size below",
      "every site",
      "",
      sites,
      "",
    ],
    [
      "write its rows (the transaction, its Merkle log nodes, 2 state rows; one SQLite transaction per block): per block size below",
      "every site",
      "",
      sites,
      "",
    ],
  ]);
  const perBlock = mdTable(
    [
      "txs per block",
      "Raft entry µs CPU/tx",
      "entry KiB",
      "rows µs CPU/tx",
      "rows per tx",
      "KiB to `write(2)` per tx",
      "per site µs CPU/tx (with decode and hash)",
    ],
    f.storage.map((s) => [
      fmt(s.txsPerBlock),
      fmt(s.raftCpuUsPerTx, 1),
      fmt(s.entryKiB, 1),
      fmt(s.cpuUsPerTx, 1),
      fmt(s.rowsPerTx, 1),
      fmt(s.writtenKiBPerTx, 1),
      fmt(f.applyUs + s.raftCpuUsPerTx + s.cpuUsPerTx, 1),
    ]),
  );
  const single = r.options.shapes.filter((s) => s.txsPerRequest === 1);
  const compare = mdTable(
    [
      "shape",
      "txs per block",
      "etcd µs CPU/write",
      "ours µs CPU/write",
      "floor µs CPU/write",
      "ours ÷ floor",
      "etcd ÷ floor (best ours ÷ etcd at the floor)",
    ],
    single.map((shape) => {
      const ours = r.ledger.find((s) => s.shape.id === shape.id)?.median;
      const etcd = r.etcdShapes.find((s) => s.shape.id === shape.id)?.median?.clusterCpuUsPerTx ??
        NaN;
      const size = ours !== undefined && Number.isFinite(ours.txsPerBlock)
        ? ours.txsPerBlock
        : f.storage[0]?.txsPerBlock ?? NaN;
      const floor = floorUsPerWrite(f, sites, size);
      const oursUs = ours?.clusterCpuUsPerTx ?? NaN;
      return [
        clusterShapeLabel(shape),
        fmt(storageAt(f, size)?.txsPerBlock ?? NaN),
        fmt(etcd),
        fmt(oursUs),
        fmt(floor),
        fmt(oursUs / floor, 2),
        fmt(etcd / floor, 2),
      ];
    }),
  );
  const failures = [
    f.httpFailure ? `- The HTTP part failed: ${f.httpFailure}` : "",
    f.storageFailure ? `- The storage part failed: ${f.storageFailure}` : "",
  ].filter((x) => x !== "").join("\n");
  const timed = f.storage[0];
  return `### The floor: what any implementation of this design spends per write here

Measured piece by piece on this machine (\`bench/floor_bench.ts\`): the least a write costs on
this stack — one HTTP request and one signature verification on the site a client uses; on every
one of the ${sites} sites, decoding the transaction and hashing it into the Merkle log, making its
Raft entry durable before acknowledging it (DESIGN §3–4) and writing its rows. Everything else a
site does (Raft messages, forwarding to the leader, executing the contract, block headers,
checkpoint signatures, the receipt) is left out, so this is a lower bound. HTTP: three minimal
\`Deno.serve\` processes (\`bench/_floor_server.ts\`) under the same load generator and bodies as the
ledger${
    http
      ? ` (${http.concurrency} clients spread over the three; ${
        fmt(http.requestsPerSec)
      } requests/s, load generator ${fmt(http.loadUsPerRequest, 1)} µs/request, ${
        fmt(http.errors)
      } errors)`
      : ""
  }.${
    http && f.guardedHttp
      ? ` Not in the floor: the same endpoints on the guarded listener a gateway uses by default
(Node's server with per-connection deadlines, \`src/site/guarded_server.ts\`) spend ${
        fmt(f.guardedHttp.serverUsPerRequest, 1)
      } µs CPU/request (${fmt(f.guardedHttp.requestsPerSec)} requests/s), ${
        fmt(f.guardedHttp.serverUsPerRequest / http.serverUsPerRequest, 2)
      }× Deno's.`
      : ""
  }${
    f.ours
      ? ` Also not in the floor, on the same envelopes: a site's own admission checks short of the
signature (\`checkStateless\`) spend ${fmt(f.ours.admitUs, 1)} µs per transaction, and decoding,
planning and executing them in blocks of ${executeBlockTxs} (\`planBatch\`, \`executeBatch\`: what
the floor's decoding and hashing stand for) ${fmt(f.ours.executeUs, 1)} µs.`
      : ""
  } Raft entry and rows: a fresh site database (the real migrations) written through the site's
own write paths, an entry (FULL) then its block's rows (NORMAL) as a site does, at the block size
each shape below ran at${
    timed
      ? `; ${fmt(timed.txs)} transactions timed after ${
        fmt(timed.prefilledTxs)
      } written (the bytes to \`write(2)\` are WAL frames and checkpoints: each random-key index insert
rewrites a whole 4 KiB page)`
      : " — not measured"
  }.

${components}

${perBlock}

${compare}

"µs CPU/write" is all members' CPU per committed write (median run, as in _Where the CPU went_);
the floor is taken at the block size that shape ran at. On the same cores, ours ÷ etcd is about
etcd's µs CPU/write ÷ ours, so it can reach at most about etcd ÷ floor: how far even an
implementation that did nothing but the floor's work could go against etcd on this machine (the bar
asks for ${
    fmt(clusterBars.ratioMin, 1)
  }); ours ÷ floor is how much of our CPU per write is work above
the floor.${failures ? "\n\n" + failures : ""}`;
}

function limitsMarkdown(r: ClusterBenchResult): string {
  const notes: string[] = [];
  const singles = r.ledger.filter((s) => s.shape.txsPerRequest === 1 && s.median)
    .sort((a, b) => a.shape.concurrency - b.shape.concurrency);
  const machineFull = [...r.ledger, ...r.etcdShapes].filter((s) => {
    const m = s.median;
    if (!m) return false;
    return m.members.reduce((a, c) => a + c.cores, 0) + m.load.cores + m.otherCores +
        (m.proxyCores ?? 0) >= cores * 0.85;
  });
  if (machineFull.length > 0) {
    notes.push(
      `**The machine is full** in ${machineFull.length} measurements (members + load generator + other ≥ ` +
        `${
          fmt(cores * 0.85, 1)
        } of ${cores} cores): throughput there is bounded by CPU per write, ` +
        `so **µs CPU/write** is the figure to compare.`,
    );
  }
  const noisy = [...r.ledger, ...r.etcdShapes].filter((s) =>
    s.median && s.median.otherCores >= 0.3
  );
  if (noisy.length > 0) {
    notes.push(
      `**Caveat: other processes used the machine** in ${noisy.length} measurements (median ${
        fmt(median(noisy.map((s) => s.median!.otherCores)), 2)
      } cores): those runs understate both systems.`,
    );
  }
  for (const s of singles) {
    const e = r.etcdShapes.find((x) => x.shape.id === s.shape.id)?.median;
    const m = s.median!;
    const leaderCpu = m.leader >= 0 ? m.members[m.leader] : undefined;
    notes.push(
      `**${clusterShapeLabel(s.shape)}**: ours ${fmt(m.txPerSec)} tx/s at ${
        fmt(m.clusterCpuUsPerTx)
      } µs of cluster CPU per tx` +
        (e ? `, etcd ${fmt(e.txPerSec)} puts/s at ${fmt(e.clusterCpuUsPerTx)} µs per put` : "") +
        (leaderCpu
          ? `; our leader used ${
            fmt(leaderCpu.cores, 2)
          } cores (busiest thread ${leaderCpu.busiestThread.comm} ${
            fmt(leaderCpu.busiestThread.cores, 2)
          }), ` +
            `followers ${
              m.members.filter((_, i) => i !== m.leader).map((c) => fmt(c.cores, 2)).join(" and ")
            }`
          : "") +
        `; ${fmt(m.txsPerBlock, 1)} txs per block, a block every ${
          m.blocks > 0 ? fmt((m.wallSeconds * 1000) / m.blocks, 1) : "–"
        } ms, load generator ${fmt(m.load.cores, 2)} cores.` +
        idleNote(m),
    );
  }
  if (singles.length >= 2) {
    const first = singles[0].median!;
    const last = singles[singles.length - 1].median!;
    notes.push(
      last.txPerSec < first.txPerSec * 1.15
        ? `**Concurrency does not help us**: ${fmt(first.txPerSec)} → ${
          fmt(last.txPerSec)
        } tx/s from ${singles[0].shape.concurrency} to ${
          singles[singles.length - 1].shape.concurrency
        } clients while p50 grows ${fmt(first.p50Ms, 1)} → ${
          fmt(last.p50Ms, 1)
        } ms: the cluster is at capacity and clients only queue.`
        : `**Throughput still grows with clients** (${fmt(first.txPerSec)} → ${
          fmt(last.txPerSec)
        } tx/s): the smaller shapes are latency-bound.`,
    );
  }
  const perBlock = r.ledger.filter((s) => s.median && Number.isFinite(s.median.txsPerBlock));
  if (perBlock.length >= 2) {
    // Least squares: cluster CPU per block = fixed + perTx × txs per block.
    const xs = perBlock.map((s) => s.median!.txsPerBlock);
    const ys = perBlock.map((s) => (s.median!.clusterCpuUsPerTx * s.median!.txsPerBlock) / 1000);
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
    const my = ys.reduce((a, b) => a + b, 0) / ys.length;
    const sxx = xs.reduce((a, x) => a + (x - mx) ** 2, 0);
    const slope = sxx > 0 ? xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0) / sxx : NaN;
    const fixed = my - slope * mx;
    notes.push(
      `**Cost per block and per transaction**: cluster CPU per block was ` +
        perBlock.map((s, i) =>
          `${fmt(ys[i], 1)} ms at ${fmt(xs[i], 1)} txs/block (${clusterShapeLabel(s.shape)})`
        ).join(", ") +
        `. A straight-line fit gives ≈ **${fmt(fixed, 1)} ms of cluster CPU per block** plus ≈ ` +
        `**${fmt(slope * 1000)} µs per transaction** (all three sites together). With ` +
        `one transaction per request the closed-loop clients fill blocks of only ` +
        `${xs.slice(0, 3).map((x) => fmt(x, 1)).join(" / ")} txs, so the fixed per-block work ` +
        `(on every site: a libSQL transaction with the Raft log and the block, checkpoint ` +
        `signing and co-signature exchange, signed Raft messages) is most of the CPU; and even ` +
        `the per-transaction part alone caps the cluster at ≈ ${
          fmt(cores / (slope / 1000))
        } tx/s on ${cores} idle cores.`,
    );
  }
  const elections = r.ledger.filter((s) => s.runs.some((x) => x.termsElapsed > 0));
  if (elections.length > 0) {
    notes.push(
      `**Elections under load** (no site was killed): ` +
        elections.map((s) => {
          const runs = s.runs.filter((x) => x.termsElapsed > 0);
          return `${clusterShapeLabel(s.shape)}: ${runs.length} of ${s.runs.length} runs saw new ` +
            `terms (${runs.map((x) => fmt(x.termsElapsed)).join(", ")}) while other processes ` +
            `used ${runs.map((x) => fmt(x.otherCores, 2)).join(", ")} cores`;
        }).join("; ") +
        `. A follower starts an election when it hears nothing from the leader for 0.5–1 s ` +
        `(10–20 ticks of 50 ms), so a leader whose event loop or disk stalls that long, or ` +
        `whose heartbeats queue behind large appends, loses its term; each election costs the ` +
        `run its in-flight commits.`,
    );
  }
  const batch = r.ledger.find((s) => s.shape.txsPerRequest > 1 && s.median);
  if (batch && singles.length > 0) {
    const best = singles.reduce((a, s) => (s.median!.txPerSec > a.median!.txPerSec ? s : a));
    notes.push(
      `**Batching**: ${clusterShapeLabel(batch.shape)} gives ${
        fmt(batch.median!.txPerSec)
      } tx/s at ${fmt(batch.median!.clusterCpuUsPerTx)} µs ` +
        `cluster CPU per tx vs ${fmt(best.median!.txPerSec)} tx/s at ${
          fmt(best.median!.clusterCpuUsPerTx)
        } µs one per request: ` +
        `the difference is per-request cost (HTTP, forwarding, one commit wait per request).`,
    );
  }
  if (notes.length === 0) notes.push("No ledger measurements to derive from.");
  return `### What limits the cluster

Derived from the numbers above.

${notes.map((n) => `- ${n}`).join("\n")}`;
}

/**
 * Whether CPU was left over during a run: cores minus members, load
 * generator and other processes. Spare CPU with slow writes means the
 * cluster waits (a serial pipeline, timers, I/O) rather than computes.
 */
function idleNote(m: ClusterRun): string {
  const members = m.members.reduce((a, c) => a + c.cores, 0);
  const spare = cores - members - m.load.cores - m.otherCores - (m.proxyCores ?? 0);
  const busiest = Math.max(...m.members.map((c) => c.busiestThread.cores));
  if (spare < 0.3) return ` The machine had no spare CPU (${fmt(spare, 2)} cores idle).`;
  return ` **${fmt(spare, 2)} cores were idle** during this run and the busiest site thread ` +
    `ran at ${fmt(busiest, 2)} cores` +
    (busiest >= 0.85
      ? ": that one thread is the bottleneck."
      : ": the cluster waits (blocks go one at a time through persist → replicate → commit → " +
        "apply) rather than computes.");
}

/** The ledger's median runs: how long each stage of a block took, from the sites' histograms. */
function blockStagesMarkdown(r: ClusterBenchResult): string {
  const rows = r.ledger.filter((s) => s.median).map((s) => {
    const m = s.median!;
    const st = m.stagesMs;
    return [
      clusterShapeLabel(s.shape),
      m.blocks > 0 ? fmt((m.wallSeconds * 1000) / m.blocks, 1) : "–",
      fmt(st.commit, 1),
      fmt(st.persist, 1),
      fmt(st.peerQueue, 1),
      fmt(st.forward, 1),
      fmt(st.apply, 1),
    ];
  });
  if (rows.length === 0) return "";
  return `#### Where a block's time went (ours)

Means over the median run, from the sites' own histograms in \`/metrics\`
(\`edgeledger_raft_proposal_commit_seconds\` on the leader;
\`edgeledger_raft_persist_seconds\`, \`edgeledger_peer_queue_seconds\`,
\`edgeledger_peer_request_seconds\` and \`edgeledger_block_apply_seconds\`
on every site). The leader proposes the next batch once the previous one is
applied, so a block takes about propose→commit + apply. Propose→commit
covers the leader's durable write, the append reaching a follower, that
follower's durable write, and its acknowledgment reaching the leader. Raft
messages leave as frames on one open \`/raft/stream\` request per peer;
"peer queue" is how long the oldest message of a frame waited in its
sender's queue (while the frame before it was signed and written), and the
rest of a message's trip is the receiving site's event loop getting to it.

${
    mdTable([
      "shape",
      "ms/block",
      "propose→commit ms (leader)",
      "persist ms",
      "peer queue ms",
      "/raft/forward round trip ms",
      "apply ms",
    ], rows)
  }

`;
}

function profileMarkdown(r: ClusterBenchResult): string {
  const profiled = r.ledger.filter((s) => s.profiles !== undefined && s.profiles.length > 0);
  if (profiled.length === 0) return "";
  return profiled.map((s) => {
    const ps = s.profiles!;
    const kinds = ps.map((p) => p.summary ? profileByCategory(p.summary) : p.categories ?? []);
    const rows = kinds[0].map(([k]) => [
      k,
      ...kinds.map((c) => fmt(c.find(([n]) => n === k)?.[1] ?? NaN, 1)),
    ]);
    return `

#### V8 CPU profile of the JS main thread, ${clusterShapeLabel(s.shape)} (ours)

One extra ${fmt(r.options.profileSeconds)} s run (not in the tables; ${
      fmt(ps[0].txPerSec)
    } tx/s while profiled), sites started with \`--inspect\`; % of sampled time on each site's
JavaScript thread (other threads — WebCrypto, libSQL I/O, the HTTP server — are not
in a JS profile). Profiles: \`.bench/profile-cluster-${s.shape.id}-{leader,follower}.cpuprofile\`.

${mdTable(["kind of work", ...ps.map((p) => `${p.role} (${p.site}) %`)], rows)}`;
  }).join("");
}

function indent(text: string, prefix: string): string {
  return text.split("\n").map((l) => prefix + l).join("\n");
}

/**
 * The entry point for `bench/main.ts`: runs the bench with settings from
 * the environment, stores its result as `results.cluster`, returns its
 * sections.
 */
export async function benchCluster(results: object): Promise<Section[]> {
  const result = await runClusterBench(clusterBenchOptionsFromEnv());
  (results as { cluster?: ClusterBenchResult }).cluster = result;
  return clusterSections(result);
}

if (import.meta.main) {
  const result = await runClusterBench(clusterBenchOptionsFromEnv());
  for (const s of clusterSections(result)) console.log(s.markdown + "\n");
}
