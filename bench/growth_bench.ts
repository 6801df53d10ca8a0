/**
 * One site as its ledger grows: what a carrier's PoP meets after months of
 * traffic rather than on a fresh ledger.
 *
 *     BENCH_ONLY=growth npx -y deno@2.9.6 task bench
 *
 * A lone site (`workers/site.ts` on a new ledger under `.bench/`) is filled to
 * `BENCH_GROWTH_TXS` (1,000,000) Ed25519 `data.anchor` transactions, 100 per
 * request from 16 closed-loop clients, one chunk of `BENCH_GROWTH_CHUNK_TXS`
 * (100,000) at a time (each chunk signed before it is sent, so the rate is
 * the site's); each chunk's committed rate is recorded with the ledger's
 * size when it began. Then the site is stopped and started
 * `BENCH_GROWTH_RESTARTS` (3) times, timing how long until it answers
 * `GET /v1/status` and until its filter of committed ids is filled again
 * (`edgeledger_txid_filter_filled 1` on `/metrics`), the same as on the empty
 * ledger at the beginning. Last, `deno task integrity --replay` runs on the
 * stopped site's database: the integrity check and the replay check, each
 * timed. `BENCH_KEEP=1` keeps the ledger.
 *
 * @module
 */
import { initLocalLedger } from "../src/site/config.ts";
import { transactionId } from "../sdk/envelope.ts";
import { getSiteStatus } from "./_cluster.ts";
import {
  envNumber,
  freePort,
  median,
  processMemoryMiB,
  quantile,
  runClosedLoop,
  spawnSite,
  TxPool,
} from "./_load.ts";
import { fmt, mdTable, type Section } from "./_report.ts";

/** Settings of {@link runGrowthBench}. */
export interface GrowthBenchOptions {
  /** Transactions the ledger is filled to. */
  txs: number;
  /** Transactions signed and sent per chunk (a multiple of 100). */
  chunkTxs: number;
  /** Restarts timed on the full ledger (and on the empty one). */
  restarts: number;
  signWorkers: number;
  /** Where the ledger goes. */
  workDir: string;
  keep: boolean;
  log: (line: string) => void;
}

/** One start of the site. */
export interface StartTiming {
  /** From spawning the process to its first answer to `GET /v1/status`, ms. */
  answeringMs: number;
  /** From spawning to `edgeledger_txid_filter_filled 1`, ms. */
  filterFilledMs: number;
  filterIds: number;
  filterBytes: number;
  filterFalsePositiveRatio: number;
}

/** Reads of committed transactions with their proofs, at one ledger size. */
export interface ReadTiming {
  logSize: number;
  /** `GET /v1/txs/{id}` then `GET /v1/txs/{id}/proof` per transaction, this many transactions. */
  txs: number;
  /** Latency of one read (either request), ms. */
  p50Ms: number;
  p99Ms: number;
  /** Requests answered per second, with {@link readClients} clients. */
  requestsPerSecond: number;
}

/** Clients reading at once in {@link ReadTiming}. */
const readClients = 8;
/** Transaction ids each chunk contributes to the reads' sample. */
const sampledPerChunk = 200;

/** What {@link runGrowthBench} measured. */
export interface GrowthBenchResult {
  options: Omit<GrowthBenchOptions, "log" | "workDir" | "keep">;
  /** Each chunk: the ledger's size when it began, and its committed rate. */
  chunks: Array<{
    logSizeBefore: number;
    committed: number;
    seconds: number;
    errors: number;
    /** The site's resident memory when the chunk was committed, MiB. */
    rssMiB: number;
  }>;
  emptyStarts: StartTiming[];
  fullStarts: StartTiming[];
  /** Reads of random committed transactions after the first chunk and after the fill. */
  reads: ReadTiming[];
  /** The site's resident memory at the end of the fill, and after a start once its filter filled, MiB. */
  rssMiB: { filled: number; restarted: number };
  /** The database's files (main and WAL) after the fill, bytes. */
  databaseBytes: number;
  logSize: number;
  /** `deno task integrity --replay` on the filled ledger: each check's own duration, ms. */
  checks: { integrityMs: number; replayMs: number; stateRows: number };
}

/** Defaults, overridden by `BENCH_GROWTH_TXS`, `BENCH_GROWTH_CHUNK_TXS`, `BENCH_GROWTH_RESTARTS`. */
export function growthBenchOptionsFromEnv(
  log = (l: string) => console.error(l),
): GrowthBenchOptions {
  const chunkTxs = envNumber("BENCH_GROWTH_CHUNK_TXS", 100_000, 100, 10_000_000);
  if (chunkTxs % 100 !== 0) {
    throw new Error(`Cannot use BENCH_GROWTH_CHUNK_TXS=${chunkTxs}: expected a multiple of 100`);
  }
  return {
    txs: envNumber("BENCH_GROWTH_TXS", 1_000_000, 100, 1_000_000_000),
    chunkTxs,
    restarts: envNumber("BENCH_GROWTH_RESTARTS", 3, 1, 100),
    signWorkers: envNumber("BENCH_SIGN_WORKERS", 2, 1, 64),
    workDir: new URL("../.bench/growth", import.meta.url).pathname,
    keep: Deno.env.get("BENCH_KEEP") === "1",
    log,
  };
}

/** Fills a lone site's ledger and times its starts before and after (see the module doc). */
export async function runGrowthBench(o: GrowthBenchOptions): Promise<GrowthBenchResult> {
  await Deno.remove(o.workDir, { recursive: true }).catch(() => {});
  const [config] = await initLocalLedger({
    dataDir: o.workDir,
    sites: 1,
    basePort: freePort(),
    host: "127.0.0.1",
  });
  const logPath = `${o.workDir}/site.log`;
  const result: GrowthBenchResult = {
    options: { txs: o.txs, chunkTxs: o.chunkTxs, restarts: o.restarts, signWorkers: o.signWorkers },
    chunks: [],
    emptyStarts: [],
    fullStarts: [],
    reads: [],
    rssMiB: { filled: NaN, restarted: NaN },
    databaseBytes: 0,
    logSize: 0,
    checks: { integrityMs: NaN, replayMs: NaN, stateRows: NaN },
  };
  try {
    for (let i = 0; i < o.restarts; i++) result.emptyStarts.push(await timedStart(config, logPath));
    const site = await spawnSite(config, logPath);
    try {
      const ledger = (await getSiteStatus(site.url, 30_000)).ledger;
      const sample: string[] = [];
      for (;;) {
        const logSizeBefore = (await getSiteStatus(site.url, 30_000)).logSize;
        if (logSizeBefore >= o.txs) break;
        const want = Math.min(o.chunkTxs, Math.ceil((o.txs - logSizeBefore) / 100) * 100);
        const pool = new TxPool("ed25519", ledger, o.signWorkers);
        let bodies: string[];
        try {
          await pool.ensure(want);
          bodies = [];
          for (let i = 0; i + 100 <= want; i += 100) {
            bodies.push(`{"txs":[${pool.slice(i, i + 100).join(",")}]}`);
          }
          const step = Math.max(1, Math.floor(want / sampledPerChunk));
          for (let i = 0; i < want; i += step) sample.push(transactionId(JSON.parse(pool.at(i))));
        } finally {
          pool.close();
        }
        const r = await runClosedLoop({
          url: `${site.url}/v1/txs?wait=commit`,
          bodies,
          txsPerRequest: 100,
          concurrency: 16,
          durationMs: 3_600_000,
        });
        const errors = Object.values(r.errors).reduce((a, b) => a + b, 0) + r.pending;
        result.chunks.push({
          logSizeBefore,
          committed: r.committed,
          seconds: r.wallSeconds,
          errors,
          rssMiB: processMemoryMiB(site.pid).rssMiB,
        });
        o.log(
          `  ledger at ${fmt(logSizeBefore)}: ${fmt(r.committed / r.wallSeconds)} tx/s, site ${
            fmt(processMemoryMiB(site.pid).rssMiB)
          } MiB` +
            (errors > 0 ? ` (${errors} failed: ${JSON.stringify(r.errors)})` : ""),
        );
        if (r.committed === 0) {
          throw new Error(
            `No transaction committed at ledger size ${logSizeBefore}: ${r.errorExamples[0]}`,
          );
        }
        if (result.chunks.length === 1) result.reads.push(await timedReads(site.url, sample));
      }
      result.logSize = (await getSiteStatus(site.url, 30_000)).logSize;
      if (result.chunks.length > 1) result.reads.push(await timedReads(site.url, sample));
      for (const r of result.reads) {
        o.log(`  reads at ${fmt(r.logSize)}: p50 ${fmt(r.p50Ms, 2)} ms, p99 ${fmt(r.p99Ms, 2)} ms`);
      }
      result.rssMiB.filled = processMemoryMiB(site.pid).rssMiB;
    } finally {
      await site.stop(60_000);
    }
    for (let i = 0; i < o.restarts; i++) {
      const t = await timedStart(config, logPath, (pid) => {
        result.rssMiB.restarted = processMemoryMiB(pid).rssMiB;
      });
      result.fullStarts.push(t);
      o.log(
        `  start with ${fmt(t.filterIds)} ids: answering ${fmt(t.answeringMs)} ms, filter filled ${
          fmt(t.filterFilledMs)
        } ms`,
      );
    }
    const dbDir = `${o.workDir}/site-a`;
    for (const f of ["ledger.db", "ledger.db-wal"]) {
      result.databaseBytes += await Deno.stat(`${dbDir}/${f}`).then((s) => s.size, () => 0);
    }
    result.checks = await timedChecks(config, o.workDir);
    o.log(
      `  integrity ${fmt(result.checks.integrityMs)} ms, replay ${fmt(result.checks.replayMs)} ms`,
    );
    return result;
  } finally {
    if (!o.keep) await Deno.remove(o.workDir, { recursive: true }).catch(() => {});
  }
}

/** Runs `deno task integrity --replay` on the ledger of `config`; what its two "ok" lines say. */
async function timedChecks(
  config: string,
  scratchDir: string,
): Promise<GrowthBenchResult["checks"]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../workers/integrity.ts", import.meta.url).pathname,
      "--config",
      config,
      "--replay",
      "--scratch",
      scratchDir,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const integrity = /^ok: \d+ blocks and \d+ transactions verify \((\d+) ms\)$/m.exec(text);
  const replay = /^ok: re-executing .* the same (\d+) state rows \((\d+) ms\)$/m.exec(text);
  if (out.code !== 0 || integrity === null || replay === null) {
    throw new Error(`deno task integrity --replay exited ${out.code}: ${text}`);
  }
  return {
    integrityMs: Number(integrity[1]),
    replayMs: Number(replay[2]),
    stateRows: Number(replay[1]),
  };
}

/**
 * Reads each sampled transaction and its proof, in a random order, from
 * {@link readClients} clients; every answer must be 200.
 */
async function timedReads(url: string, ids: readonly string[]): Promise<ReadTiming> {
  const order = [...ids];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: readClients }, async () => {
    while (next < order.length) {
      const id = order[next++];
      for (const path of [`/v1/txs/${id}`, `/v1/txs/${id}/proof`]) {
        const started = performance.now();
        const res = await fetch(`${url}${path}`);
        const body = await res.text();
        if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${body}`);
        latencies.push(performance.now() - started);
      }
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    logSize: (await getSiteStatus(url, 30_000)).logSize,
    txs: order.length,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    requestsPerSecond: latencies.length / seconds,
  };
}

async function timedStart(
  config: string,
  logPath: string,
  whenFilled: (pid: number) => void = () => {},
): Promise<StartTiming> {
  const t0 = performance.now();
  const site = await spawnSite(config, logPath);
  try {
    await getSiteStatus(site.url, 30_000);
    const answeringMs = performance.now() - t0;
    for (;;) {
      const metrics = await (await fetch(`${site.url}/metrics`)).text();
      const gauge = (name: string) =>
        Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1]);
      if (gauge("edgeledger_txid_filter_filled") === 1) {
        whenFilled(site.pid);
        return {
          answeringMs,
          filterFilledMs: performance.now() - t0,
          filterIds: gauge("edgeledger_txid_filter_ids"),
          filterBytes: gauge("edgeledger_txid_filter_bytes"),
          filterFalsePositiveRatio: gauge("edgeledger_txid_filter_false_positive_ratio"),
        };
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await site.stop(60_000);
  }
}

/** The report's section for {@link GrowthBenchResult}. */
export function growthSections(r: GrowthBenchResult): Section[] {
  const rates = r.chunks.map((c) => c.committed / c.seconds);
  const first = rates[0];
  const lastThird = rates.slice(Math.floor((rates.length * 2) / 3));
  const startRow = (label: string, starts: StartTiming[]) => [
    label,
    fmt(median(starts.map((s) => s.filterIds))),
    fmt(median(starts.map((s) => s.answeringMs))),
    fmt(median(starts.map((s) => s.filterFilledMs))),
    fmt(median(starts.map((s) => s.filterBytes)) / 2 ** 20, 1),
    fmt(median(starts.map((s) => s.filterFalsePositiveRatio)) * 100, 2),
  ];
  const markdown = `## One site as its ledger grows

\`BENCH_ONLY=growth npx -y deno@2.9.6 task bench\` (\`bench/growth_bench.ts\`): a lone site filled
to ${fmt(r.logSize)} Ed25519 \`data.anchor\` transactions, 100 per request from 16 clients, in
chunks of ${fmt(r.options.chunkTxs)} signed before each is sent; then stopped and started
${r.options.restarts} times, as it was on the empty ledger. The database is ${
    fmt(r.databaseBytes / 2 ** 30, 2)
  } GiB on disk (${fmt(r.databaseBytes / Math.max(1, r.logSize))} bytes per transaction).

${
    mdTable(
      [
        "ledger size at the chunk's start",
        "committed tx/s",
        "÷ first chunk",
        "failed",
        "site RSS (MiB)",
      ],
      r.chunks.map((c, i) => [
        fmt(c.logSizeBefore),
        fmt(rates[i]),
        fmt(rates[i] / first, 2),
        fmt(c.errors),
        fmt(c.rssMiB),
      ]),
    )
  }

From ${
    fmt(r.chunks[r.chunks.length - lastThird.length]?.logSizeBefore ?? 0)
  } transactions on: median ${fmt(median(lastThird))} tx/s, ${
    fmt(median(lastThird) / first, 2)
  }× the first chunk's.

Reads of committed transactions picked across the ledger (200 from each chunk), each
\`GET /v1/txs/{id}\` and then its \`/proof\`, in a random order from ${readClients} clients:

${
    mdTable(
      ["ledger size", "transactions read", "p50 (ms)", "p99 (ms)", "requests/s"],
      r.reads.map((x) => [
        fmt(x.logSize),
        fmt(x.txs),
        fmt(x.p50Ms, 2),
        fmt(x.p99Ms, 2),
        fmt(x.requestsPerSecond),
      ]),
    )
  }

The site's resident memory (its admission and storage workers included): ${
    fmt(r.rssMiB.filled)
  } MiB at the end of the fill, ${
    fmt(r.rssMiB.restarted)
  } MiB after a start on the filled ledger, once its filter filled.

Starts (medians of ${r.options.restarts}). A site answers as soon as its head is read; its filter
of committed transaction ids (which spares admission a database read for every new id) fills in
the background, and until it has, every admission asks the database.

${
    mdTable(
      [
        "ledger",
        "ids",
        "answering after (ms)",
        "filter filled after (ms)",
        "filter (MiB)",
        "filter false positives (%)",
      ],
      [startRow("empty", r.emptyStarts), startRow("filled", r.fullStarts)],
    )
  }

\`deno task integrity --replay\` on the stopped site's ledger: the integrity check (every block,
signature, log leaf and root, checkpoint) took ${fmt(r.checks.integrityMs / 1000, 1)} s (${
    fmt(r.logSize / (r.checks.integrityMs / 1000))
  } transactions/s); re-executing the chain into a scratch database and comparing its ${
    fmt(r.checks.stateRows)
  } state rows took ${fmt(r.checks.replayMs / 1000, 1)} s (${
    fmt(r.logSize / (r.checks.replayMs / 1000))
  } transactions/s).`;
  return [{ id: "growth", markdown }];
}
