/**
 * `deno task bench`: runs the benches and (re)writes `BENCHMARKS.md`.
 *
 *     npx -y deno@2.9.6 task bench
 *     BENCH_SECONDS=3 BENCH_RUNS=1 npx -y deno@2.9.6 task bench    # quick look
 *     BENCH_ONLY=verify npx -y deno@2.9.6 task bench                # one bench, other sections kept
 *     BENCH_RENDER_ONLY=1 npx -y deno@2.9.6 task bench              # re-render the last run's results
 *
 * The report is a list of sections in a fixed order ({@link layout}). Each
 * bench in {@link benches} runs, stores its results in the shared
 * {@link Results}, and returns its own sections; the sections that compare
 * benches (the bars, cores used, what limits us) are built afterwards from
 * {@link Results} by {@link derivedSections}. To add a bench (a 3-site Raft
 * cluster, etcd for comparison, …): add an entry to `benches`, its result
 * type to `Results`, and its section ids to `layout`.
 *
 * With `BENCH_ONLY=<id,…>` only those benches run and the other sections
 * of the existing file are kept; otherwise the file is rewritten whole.
 *
 * @module
 */
import { median } from "./_load.ts";
import {
  fmt,
  machineInfo,
  mdTable,
  parseSections,
  renderReport,
  type ReportLayout,
  reportPreamble,
  type Section,
} from "./_report.ts";
import {
  httpBenchOptionsFromEnv,
  type HttpBenchResult,
  httpSections,
  profileByCategory,
  runHttpBench,
  shapeLabel,
  type ShapeResult,
} from "./http_bench.ts";
import {
  growthBenchOptionsFromEnv,
  type GrowthBenchResult,
  growthSections,
  runGrowthBench,
} from "./growth_bench.ts";

/** Where the report goes. */
const reportPath = new URL("../BENCHMARKS.md", import.meta.url).pathname;

/** The acceptance bars from the issue, committed Ed25519 tx/s on one site. */
export const bars = {
  singleC64TxPerSecMin: 5_000,
  batchedTxPerSecMin: 20_000,
} as const;

/** Other processes using this many cores during a run make it "noisy" in the report. */
const noisyOtherCoresMin = 0.3;

/** Section ids in report order; `*` matches a prefix. */
export const layout: ReportLayout = [
  "machine",
  "bars",
  "verify",
  "http-method",
  "http-single-*",
  "http-batch*",
  "http-errors",
  "http-profile",
  "cores",
  "limits",
  // One site as its ledger grows (bench/growth_bench.ts).
  "growth",
  // The 3-site Raft cluster vs etcd (bench/cluster_bench.ts).
  "cluster-*",
];

/** Results of every bench that ran; derived sections read what is there. */
export interface Results {
  /** Raw signature verification rates from `bench/verify_bench.ts`, by its names. */
  verify?: Record<string, number>;
  http?: HttpBenchResult;
  /** One site filled to a large ledger (`bench/growth_bench.ts`). */
  growth?: GrowthBenchResult;
  /** The 3-site cluster and etcd (`bench/cluster_bench.ts`, loaded when it runs). */
  cluster?: unknown;
}

/** One bench: runs, records into `results`, returns its sections. */
interface Bench {
  id: string;
  run(results: Results): Promise<Section[]>;
  /** Rebuilds the sections from saved results (`BENCH_RENDER_ONLY=1`); without it they are kept as they are. */
  render?(results: Results): Section[] | Promise<Section[]>;
}

const benches: Bench[] = [
  {
    id: "verify",
    async run(results) {
      const path = new URL("./verify_bench.ts", import.meta.url);
      try {
        await Deno.stat(path);
      } catch {
        return [{
          id: "verify",
          markdown:
            "## Raw signature verification\n\n`bench/verify_bench.ts` was not present in this run.",
        }];
      }
      // A computed specifier keeps the module optional for `deno check`.
      const mod = await import(path.href) as {
        runVerifyBench?: () => Promise<Record<string, number>>;
      };
      if (typeof mod.runVerifyBench !== "function") {
        return [{
          id: "verify",
          markdown:
            "## Raw signature verification\n\n`bench/verify_bench.ts` does not export `runVerifyBench()`.",
        }];
      }
      results.verify = await mod.runVerifyBench();
      return [verifySection(results.verify)];
    },
    render: (results) => (results.verify ? [verifySection(results.verify)] : []),
  },
  {
    id: "http",
    async run(results) {
      results.http = await runHttpBench(httpBenchOptionsFromEnv());
      return httpSections(results.http);
    },
    render: (results) => (results.http ? httpSections(results.http) : []),
  },
  {
    id: "growth",
    async run(results) {
      results.growth = await runGrowthBench(growthBenchOptionsFromEnv());
      return growthSections(results.growth);
    },
    render: (results) => (results.growth ? growthSections(results.growth) : []),
  },
  {
    id: "cluster",
    run: async (r) => (await import("./cluster_bench.ts")).benchCluster(r),
    render: async (r) => {
      if (r.cluster === undefined) return [];
      const { clusterSections } = await import("./cluster_bench.ts");
      return clusterSections(r.cluster as Parameters<typeof clusterSections>[0]);
    },
  },
];

function verifySection(rates: Record<string, number>): Section {
  // Names ending in "/s" are rates; anything else (cores used, counts) is shown as is.
  const rows = Object.entries(rates).map(([name, v]) =>
    /\/s\b/.test(name) ? [name, fmt(v), fmt(1e6 / v, 1)] : [name, fmt(v, 2), "–"]
  );
  return {
    id: "verify",
    markdown: `## Raw signature verification

From \`bench/verify_bench.ts\` (\`runVerifyBench()\`), run in the bench driver
process before any site starts, as that bench names its measures.

${mdTable(["measure", "value", "µs each"], rows)}`,
  };
}

// ---------------------------------------------------------------------------
// Sections built from several benches' results.

const algLabel = (a: string) => (a === "ed25519" ? "Ed25519" : a === "p256" ? "P-256" : a);

function findShape(
  http: HttpBenchResult | undefined,
  alg: string,
  pred: (s: ShapeResult) => boolean,
) {
  return http?.shapes.find((s) => s.algorithm === alg && pred(s));
}

/**
 * The verification rate for `alg` from the verify bench: the entry whose
 * name mentions the algorithm (and, among several, the path a site runs,
 * else the SDK's `verifySignature`, else the fastest), with its name.
 */
export function verifyRateFor(
  rates: Record<string, number> | undefined,
  alg: string,
): { name: string; rate: number } | undefined {
  if (rates === undefined) return undefined;
  const re = alg === "p256" ? /p-?256/i : new RegExp(alg, "i");
  const hits = Object.entries(rates).filter(([k, v]) =>
    re.test(k) && /\/s\b/.test(k) && Number.isFinite(v) && v > 0
  );
  if (hits.length === 0) return undefined;
  const preferred = hits.find(([k]) => /site native/i.test(k)) ??
    hits.find(([k]) => /verifySignature\b/.test(k) && !/concurrent|batch/i.test(k)) ??
    hits.find(([k]) => /fast|webcrypto/i.test(k) && !/reference|noble|concurrent|batch/i.test(k));
  const [name, rate] = preferred ?? hits.sort((a, b) => b[1] - a[1])[0];
  return { name, rate };
}

function barsSection(r: Results): Section | undefined {
  if (r.http === undefined) return undefined;
  const single = findShape(
    r.http,
    "ed25519",
    (s) => s.shape.txsPerRequest === 1 && s.shape.concurrency === 64,
  );
  const batched = findShape(r.http, "ed25519", (s) => s.shape.txsPerRequest > 1);
  const row = (what: string, s: ShapeResult | undefined, min: number) => {
    const v = s?.median?.txPerSec ?? NaN;
    const verdict = s === undefined
      ? "not run"
      : !Number.isFinite(v)
      ? "**FAIL** (no result)"
      : v >= min
      ? "**PASS**"
      : "**FAIL**";
    return [
      what,
      `≥ ${fmt(min)}`,
      fmt(v),
      Number.isFinite(v) ? `${fmt((100 * v) / min)} %` : "–",
      verdict,
    ];
  };
  return {
    id: "bars",
    markdown: `## Bars (one site, Ed25519, committed transactions per second)

${
      mdTable(["bar", "target tx/s", "measured tx/s (median)", "of target", "verdict"], [
        row("1 tx/request, 64 clients, `?wait=commit`", single, bars.singleC64TxPerSecMin),
        row(
          batched ? `batched (${shapeLabel(batched.shape)}), \`?wait=commit\`` : "batched",
          batched,
          bars.batchedTxPerSecMin,
        ),
      ])
    }

The site and the load generator share the machine's ${navigator.hardwareConcurrency} cores (see *Cores used*).`,
  };
}

function coresSection(r: Results): Section | undefined {
  if (r.http === undefined) return undefined;
  const rows = r.http.shapes.filter((s) => s.median !== undefined).map((s) => {
    const m = s.median!;
    return [
      algLabel(s.algorithm),
      shapeLabel(s.shape),
      fmt(m.site.cores, 2),
      fmt(m.site.coresPeak, 2),
      // Threads under 0.05 cores (and threads that exited) are summed as "rest".
      [
        ...m.site.threads.slice(0, 3).map((t) => `${t.comm} ${fmt(t.cores, 2)}`),
        `rest ${
          fmt(
            Math.max(
              0,
              m.site.cores - m.site.threads.slice(0, 3).reduce((a, t) => a + t.cores, 0),
            ),
            2,
          )
        }`,
      ].join(", "),
      fmt(m.load.cores, 2),
      fmt(m.otherCores, 2),
      fmt(m.site.cores + m.load.cores + m.otherCores, 2),
    ];
  });
  const all = r.http.shapes.flatMap((s) => (s.median ? [s.median] : []));
  const siteMax = Math.max(...all.map((m) => m.site.cores));
  const busiest = median(all.map((m) => m.site.busiestThread.cores));
  const others = median(all.map((m) => m.otherCores));
  // Share of the site's CPU time spent on its busiest thread.
  const mainShare = median(
    all.map((m) => m.site.busiestThread.cores / Math.max(m.site.cores, 1e-9)),
  );
  // Where verification runs: the JS main-thread profiles say how much of that thread it takes.
  const profiles = r.http.shapes.filter((s) => s.profile !== undefined);
  const verifyOnMain = profiles.map((s) => ({
    s,
    pct: profileByCategory(s.profile!.summary).find(([k]) => k.startsWith("signatures"))
      ?.[1] ??
      0,
  }));
  const split = all.length === 0
    ? ""
    : mainShare >= 0.7
    ? ` Its busiest thread did a median ${fmt(100 * mainShare)} % of the site's CPU work: ` +
      `verification, validation and block writing all run on that one thread.`
    : ` Its work is spread over a few threads (the busiest did a median ${
      fmt(100 * mainShare)
    } % of ` +
      `it; see the thread column below).`;
  const where = verifyOnMain.length === 0
    ? ""
    : ` Admission (schema, canonical JSON, ids and signatures) runs on the site's admission ` +
      `worker threads (one per core), not on the JavaScript main thread; signatures ` +
      `(verification, and the site key signing checkpoints) and key decoding take ` +
      verifyOnMain.map(({ s, pct }) =>
        `${fmt(pct)} % of the main thread's time in the ${shapeLabel(s.shape)} profile`
      )
        .join(", ") +
      ` there.`;
  const noise = others >= noisyOtherCoresMin
    ? ` Other processes used a median ${
      fmt(others, 2)
    } of the ${navigator.hardwareConcurrency} cores during ` +
      `the runs, so the site could not have used both cores anyway.`
    : busiest >= 0.85
    ? ` The busiest thread is saturated (median ${fmt(busiest, 2)} cores).`
    : ` The busiest thread is not saturated (median ${
      fmt(busiest, 2)
    } cores): the site also waits (I/O, batching).`;
  const verdict = all.length === 0
    ? "No run completed."
    : siteMax >= 1.5
    ? `Yes: the site used up to ${fmt(siteMax, 2)} cores.${split}${where}`
    : `No: the site never used more than ${fmt(siteMax, 2)} cores.${split}${where}${noise}`;
  return {
    id: "cores",
    markdown: `## Cores used

Does verification use both cores? ${verdict}

CPU-seconds ÷ wall-seconds during the timed runs (median of runs), from
\`/proc/<pid>/stat\` and \`/proc/<pid>/task/*/stat\`; "peak" is the highest
0.5 s sample; "other processes" is the rest of the machine's busy time from
\`/proc/stat\` (anything above ~0.1 means the numbers were disturbed). The
machine has ${navigator.hardwareConcurrency} cores, shared by site and load generator.

${
      mdTable([
        "signer",
        "shape",
        "site cores",
        "site peak",
        "site threads (cores)",
        "load-gen cores",
        "other processes",
        "machine total",
      ], rows)
    }`,
  };
}

function limitsSection(r: Results): Section | undefined {
  const http = r.http;
  if (http === undefined) return undefined;
  const notes: string[] = [];
  const noisy = http.shapes.filter((s) => s.median && s.median.otherCores >= noisyOtherCoresMin);
  if (noisy.length > 0) {
    notes.push(
      `**Caveat: the machine was busy.** In ${noisy.length} of ${http.shapes.length} measurements other ` +
        `processes used ≥ ${fmt(noisyOtherCoresMin, 2)} cores (median ` +
        `${
          fmt(median(noisy.map((s) => s.median!.otherCores)), 2)
        } of ${navigator.hardwareConcurrency}) while the site ran: ` +
        `the site was starved of CPU and those numbers understate it. Compare CPU per transaction rather than tx/s.`,
    );
  }
  const quiet = http.shapes.filter((s) => s.median && s.median.otherCores < noisyOtherCoresMin);
  if (quiet.length > 0) {
    notes.push(
      `**The undisturbed measurements** (other processes < ${fmt(noisyOtherCoresMin, 2)} cores): ` +
        quiet.map((s) => {
          const m = s.median!;
          const machine = m.site.cores + m.load.cores + m.otherCores;
          return `${algLabel(s.algorithm)} ${shapeLabel(s.shape)}: ${
            fmt(m.txPerSec)
          } tx/s with the site at ` +
            `${fmt(m.site.cores, 2)} cores (busiest thread ${m.site.busiestThread.comm} ` +
            `${fmt(m.site.busiestThread.cores, 2)}), the machine at ${fmt(machine, 2)} of ` +
            `${navigator.hardwareConcurrency} cores, a block every ${
              fmt(m.msPerBlock, 1)
            } ms holding ` +
            `${fmt(m.txsPerBlock, 1)} txs`;
        }).join("; ") +
        `. ${
          quiet.every((s) =>
              s.median!.site.cores + s.median!.load.cores + s.median!.otherCores <
                navigator.hardwareConcurrency * 0.85 && s.median!.site.busiestThread.cores < 0.85
            )
            ? "Neither the machine nor any site thread was saturated there: the site is bound by its " +
              "block pipeline (a client waits until the block that holds its transaction is written " +
              "and fsynced), not by CPU."
            : "The machine or a site thread was saturated there: CPU bounds the site."
        }`,
    );
  }
  const ed = verifyRateFor(r.verify, "ed25519");
  const p = verifyRateFor(r.verify, "p256");
  // 1. P-256 vs Ed25519, against the raw verification ratio.
  const ratios: string[] = [];
  for (const s of http.shapes.filter((s) => s.algorithm === "ed25519" && s.median)) {
    const q = findShape(http, "p256", (x) => x.shape.id === s.shape.id);
    if (q?.median) {
      ratios.push(`${shapeLabel(s.shape)}: ${fmt(q.median.txPerSec / s.median!.txPerSec, 2)}`);
    }
  }
  if (ratios.length > 0) {
    const rawRatio = ed && p ? p.rate / ed.rate : NaN;
    notes.push(
      `**P-256 ÷ Ed25519 committed tx/s** — ${ratios.join("; ")}. ` +
        (Number.isFinite(rawRatio)
          ? `Raw verification ratio (\`${p!.name}\` ÷ \`${ed!.name}\`): ${fmt(rawRatio, 2)}. ` +
            `Where the HTTP ratio is near 1 while the raw ratio is well below 1, signature verification is not ` +
            `what limits the site; where the HTTP ratio approaches the raw one, it is.`
          : "No raw verification rates to compare with."),
    );
  }
  // 2. Share of site CPU per transaction that verification explains.
  for (const [alg, v] of [["ed25519", ed], ["p256", p]] as const) {
    const shapes = http.shapes.filter((s) =>
      s.algorithm === alg && s.median && Number.isFinite(s.median.siteCpuUsPerTx)
    );
    if (shapes.length === 0) continue;
    const perTx = median(shapes.map((s) => s.median!.siteCpuUsPerTx));
    const verifyUs = v ? 1e6 / v.rate : NaN;
    notes.push(
      `**${algLabel(alg)}: site CPU per committed transaction** — median ${
        fmt(perTx)
      } µs over the shapes ` +
        `(${
          shapes.map((s) => `${shapeLabel(s.shape)} ${fmt(s.median!.siteCpuUsPerTx)}`).join("; ")
        }).` +
        (Number.isFinite(verifyUs)
          ? ` One verification costs ${fmt(verifyUs, 1)} µs (${fmt(v!.rate)}/s), so it explains ` +
            `~${
              fmt((100 * verifyUs) / perTx)
            } % of the site's CPU per transaction; the rest is HTTP, JSON and ` +
            `schema validation, canonicalisation and hashing, block execution and libSQL writes.`
          : ""),
    );
  }
  // 2b. A contention-proof ceiling: the busiest thread's CPU per transaction.
  // Only the shapes the bars are about, to keep it readable.
  const ceilings = http.shapes.filter((s) =>
    s.median && Number.isFinite(s.median.mainCpuUsPerTx) &&
    (s.shape.txsPerRequest > 1 || s.shape.concurrency === 64)
  );
  if (ceilings.length > 0) {
    notes.push(
      `**Ceiling from CPU cost** (CPU time per transaction depends far less on other processes than ` +
        `tx/s does, so this also holds roughly on an idle machine): the site's busiest thread spends ` +
        ceilings.map((s) =>
          `${fmt(s.median!.mainCpuUsPerTx)} µs/tx for ${algLabel(s.algorithm)} ${
            shapeLabel(s.shape)
          } ` +
          `(≤ ${fmt(1e6 / s.median!.mainCpuUsPerTx)} tx/s on one core)`
        ).join("; ") +
        `. Unless that thread's work is spread over more threads, no shape can go beyond these numbers; ` +
        `compare them with the bars (${fmt(bars.singleC64TxPerSecMin)} and ${
          fmt(bars.batchedTxPerSecMin)
        } tx/s).`,
    );
  }
  // 3. Threads and cores.
  const all = http.shapes.filter((s) => s.median);
  const saturated = all.filter((s) => s.median!.site.busiestThread.cores >= 0.85);
  if (all.length > 0) {
    notes.push(
      saturated.length > 0
        ? `**One thread is saturated** in ${saturated.length} of ${all.length} measurements (busiest site thread ≥ 0.85 cores: ` +
          `${
            saturated.map((s) =>
              `${algLabel(s.algorithm)} ${shapeLabel(s.shape)} ${
                s.median!.site.busiestThread.comm
              } ${fmt(s.median!.site.busiestThread.cores, 2)}`
            ).join("; ")
          }). ` +
          `Work that stays on the JavaScript main thread (HTTP handling, parsing, validation, execution) caps ` +
          `throughput at what one core can do, whatever the verification rate.`
        : noisy.length > 0
        ? `**No site thread is saturated** (busiest ≤ ${
          fmt(Math.max(...all.map((s) => s.median!.site.busiestThread.cores)), 2)
        } cores), but other processes held most of the CPU, so this says little about the site itself.`
        : `**No site thread is saturated** (busiest ≤ ${
          fmt(Math.max(...all.map((s) => s.median!.site.busiestThread.cores)), 2)
        } cores): ` +
          `the site waits (batch delay, storage I/O, commit waits) more than it computes.`,
    );
    const shared = all.filter((s) =>
      s.median!.site.cores + s.median!.load.cores >= navigator.hardwareConcurrency * 0.85
    );
    if (shared.length > 0) {
      notes.push(
        `**The machine is full** in ${shared.length} of ${all.length} measurements: site + load generator ≥ ` +
          `${
            fmt(navigator.hardwareConcurrency * 0.85, 1)
          } of ${navigator.hardwareConcurrency} cores; the load generator takes ` +
          `${
            fmt(median(shared.map((s) => s.median!.load.cores)), 2)
          } cores (median) that a production site would have to itself.`,
      );
    }
  }
  // 4. Per-request cost: batched vs one per request.
  for (const alg of ["ed25519", "p256"]) {
    const b = findShape(http, alg, (s) => s.shape.txsPerRequest > 1);
    const singles = http.shapes.filter((s) =>
      s.algorithm === alg && s.shape.txsPerRequest === 1 && s.median
    );
    if (b?.median && singles.length > 0) {
      const best = singles.reduce((a, s) => (s.median!.txPerSec > a.median!.txPerSec ? s : a));
      notes.push(
        `**${algLabel(alg)}: batching** — ${shapeLabel(b.shape)} gives ${
          fmt(b.median.txPerSec)
        } tx/s vs ` +
          `${fmt(best.median!.txPerSec)} at best one per request (${shapeLabel(best.shape)}), ×${
            fmt(b.median.txPerSec / best.median!.txPerSec, 2)
          }; ` +
          `site CPU per transaction ${fmt(b.median.siteCpuUsPerTx)} vs ${
            fmt(best.median!.siteCpuUsPerTx)
          } µs: ` +
          `the difference is per-request overhead. Blocks averaged ${
            fmt(b.median.txsPerBlock, 1)
          } vs ` +
          `${fmt(best.median!.txsPerBlock, 1)} txs.`,
      );
    }
  }
  // 5. Latency growth with concurrency (queueing).
  for (const alg of ["ed25519", "p256"]) {
    const singles = http.shapes.filter((s) =>
      s.algorithm === alg && s.shape.txsPerRequest === 1 && s.median
    )
      .sort((a, b) => a.shape.concurrency - b.shape.concurrency);
    if (singles.length >= 2) {
      notes.push(
        `**${algLabel(alg)}: concurrency** — ` +
          singles.map((s) =>
            `${s.shape.concurrency} clients ${fmt(s.median!.txPerSec)} tx/s at p50 ${
              fmt(s.median!.p50Ms, 1)
            } ms`
          ).join(", ") +
          `. ${
            singles[singles.length - 1].median!.txPerSec < singles[0].median!.txPerSec * 1.15
              ? "Throughput is flat while latency grows with clients: the site is at capacity and extra clients only queue."
              : "Throughput still grows with clients: the smaller shapes are latency-bound (closed loop), not capacity-bound."
          }`,
      );
    }
  }
  // 6. The block pipeline: a block holds at most what closed-loop clients have in flight.
  for (const alg of ["ed25519", "p256"]) {
    const shapes = http.shapes.filter((s) =>
      s.algorithm === alg && s.median && Number.isFinite(s.median.msPerBlock)
    );
    if (shapes.length === 0) continue;
    notes.push(
      `**${algLabel(alg)}: block pipeline** — ` +
        shapes.map((s) =>
          `${shapeLabel(s.shape)}: a block every ${fmt(s.median!.msPerBlock, 1)} ms holding ` +
          `${fmt(s.median!.txsPerBlock, 1)} txs on average (max ${
            fmt(s.median!.txsPerBlockMax)
          }, ` +
          `at most ${fmt(s.shape.concurrency * s.shape.txsPerRequest)} can be waiting)`
        ).join("; ") +
        `. With closed-loop clients a block can only hold what the clients have in flight, so ` +
        `tx/s ≤ clients × txs per request ÷ block time: the per-block cost (execution, Merkle log, ` +
        `checkpoint signing, and the libSQL commit and fsync, shared by the blocks written together ` +
        `while an earlier write was on its way to disk) sets the ceiling of the one-per-request shapes.`,
    );
  }
  // 7. The CPU profiles: what the site's JS thread does.
  for (const s of http.shapes.filter((s) => s.profile !== undefined)) {
    const cats = profileByCategory(s.profile!.summary).filter(([, v]) => v >= 1).sort((a, b) =>
      b[1] - a[1]
    );
    const fns = s.profile!.summary.projectInclusiveTop.slice(0, 6).map(([k, v]) =>
      `${k} ${fmt(v, 0)} %`
    );
    notes.push(
      `**Profile, ${algLabel(s.algorithm)} ${
        shapeLabel(s.shape)
      }** (site JS thread, see the profile section): ` +
        cats.map(([k, v]) => `${k} ${fmt(v, 0)} %`).join(", ") +
        `. Heaviest project functions (inclusive): ` +
        fns.join(", ") + ".",
    );
  }
  return {
    id: "limits",
    markdown: `## What limits us

Derived from the numbers above.

${notes.map((n) => `- ${n}`).join("\n")}`,
  };
}

/** Sections that compare benches, built after all benches ran; `undefined` when their inputs are missing. */
const derivedSections: Array<(r: Results) => Section | undefined> = [
  barsSection,
  coresSection,
  limitsSection,
];

function machineSection(): Section {
  const m = machineInfo();
  return {
    id: "machine",
    markdown: `## Machine

${
      mdTable(["", ""], [
        ["CPU", m.cpuModel],
        ["cores (nproc)", String(m.cores)],
        ["memory", `${fmt(m.memTotalGiB, 1)} GiB`],
        ["kernel", m.kernel],
        ["Deno", `${m.deno} (V8 ${m.v8})`],
      ])
    }

Site(s) and load generator run on this one machine and share its ${m.cores} cores;
all traffic is loopback (127.0.0.1).`,
  };
}

/** The commit the benches ran on, and whether the server code had uncommitted changes. */
function treeDescription(): string {
  const git = (args: string[]) => {
    try {
      const out = new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).outputSync();
      return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
    } catch {
      return undefined;
    }
  };
  const head = git(["rev-parse", "--short", "HEAD"]);
  if (head === undefined) return "not a git checkout";
  const dirty = git(["status", "--porcelain", "--", "src", "sdk", "workers", "migrations"]);
  return `commit ${head}` +
    (dirty ? `, with uncommitted changes in ${dirty.split("\n").length} server/SDK files` : "");
}

function commandLine(): string {
  const env = Object.entries(Deno.env.toObject()).filter(([k]) => k.startsWith("BENCH_")).sort()
    .map(([k, v]) => `${k}=${v}`);
  return [...env, "npx -y deno@2.9.6 task bench"].join(" ");
}

/** Where the last run's raw results are kept, for `BENCH_RENDER_ONLY=1`. */
const resultsPath = new URL("../.bench/results.json", import.meta.url).pathname;

/** What {@link resultsPath} holds. */
interface SavedRun {
  results: Results;
  started: string;
  seconds: number;
  command: string;
  tree: string;
}

if (import.meta.main) {
  const started = new Date();
  const t0 = performance.now();
  const renderOnly = Deno.env.get("BENCH_RENDER_ONLY") === "1";
  const only = Deno.env.get("BENCH_ONLY")?.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const id of only ?? []) {
    if (!benches.some((b) => b.id === id)) {
      console.error(
        `Cannot run BENCH_ONLY=${id}: benches are ${benches.map((b) => b.id).join(", ")}`,
      );
      Deno.exit(2);
    }
  }
  let saved: SavedRun;
  const sections: Section[] = [machineSection()];
  if (renderOnly) {
    // Re-render the sections of the last run from its saved results (no bench runs).
    saved = JSON.parse(await Deno.readTextFile(resultsPath)) as SavedRun;
    for (const bench of benches) sections.push(...((await bench.render?.(saved.results)) ?? []));
  } else {
    const results: Results = {};
    for (const bench of benches) {
      if (only !== undefined && !only.includes(bench.id)) continue;
      console.error(`bench ${bench.id}…`);
      sections.push(...await bench.run(results));
    }
    saved = {
      results,
      started: started.toISOString(),
      seconds: (performance.now() - t0) / 1000,
      command: commandLine(),
      tree: treeDescription(),
    };
    await Deno.mkdir(new URL("../.bench", import.meta.url).pathname, { recursive: true });
    await Deno.writeTextFile(resultsPath, JSON.stringify(saved));
  }
  for (const derive of derivedSections) {
    const s = derive(saved.results);
    if (s !== undefined) sections.push(s);
  }
  let previous = new Map<string, string>();
  let previousReport = "";
  if (only !== undefined || renderOnly) {
    try {
      previousReport = await Deno.readTextFile(reportPath);
      previous = parseSections(previousReport);
    } catch { /* no earlier report */ }
  }
  const run = {
    command: saved.command,
    started: new Date(saved.started),
    seconds: saved.seconds,
    tree: saved.tree,
  };
  await Deno.writeTextFile(
    reportPath,
    renderReport(
      reportPreamble(run, renderOnly ? [] : only, previousReport),
      layout,
      sections,
      previous,
    ),
  );
  // Keep the generated file as `deno fmt` wants it, so `deno fmt --check` passes.
  const formatted = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", reportPath],
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!formatted.success) console.error(`Cannot format ${reportPath}; it is written unformatted`);
  console.error(`wrote ${reportPath} in ${fmt((performance.now() - t0) / 1000)} s`);
}
