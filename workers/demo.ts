/**
 * `deno task demo`: a realistic day on an edgeledger consortium, through the SDK.
 *
 *     npx -y deno@2.9.6 task demo                      # its own fresh 3-site cluster
 *     npx -y deno@2.9.6 task demo --url http://127.0.0.1:7001 --data ./data
 *     npx -y deno@2.9.6 task demo --devices 500
 *
 * By default it starts a fresh 3-site cluster in a temp folder and removes
 * it afterwards, so nothing is left running. With `--url` it runs against a
 * cluster started by `deno task start`; `--data` is that cluster's folder,
 * where the demo reads the organisation admin and `demo/` authority keys
 * (and keeps the second carrier's keys, so it can run again on the same
 * ledger). Exits 0 when every available use case succeeded and the light
 * client verified the receipt, 1 otherwise.
 *
 * @module
 */
import { startDemoCluster } from "./demo/cluster.ts";
import { type DaySummary, runDay } from "./demo/scenario.ts";
import { helpAsked } from "./_cli.ts";

const USAGE = "usage: deno task demo [--url URL --data DIR] [--devices N]";

export type { DaySummary } from "./demo/scenario.ts";
export type { UseCaseResult } from "./demo/report.ts";

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** A running site's URL; absent: start a fresh local cluster and stop it afterwards. */
  url?: string;
  /** The running cluster's data folder (required with `url`). */
  dataDir?: string;
  /** Devices to register; default 300. */
  devices?: number;
  /** Where lines go; default `console.log`. */
  print?: (line: string) => void;
  /**
   * The kinds this build offers; default every kind of `KIND_BODIES`. Use
   * cases needing another kind are skipped (tests use this to check the
   * skipped path).
   */
  kinds?: readonly string[];
}

/** Runs the day, on its own cluster or the one at `options.url`; returns what happened. */
export async function runDemo(options: DemoOptions = {}): Promise<DaySummary> {
  const print = options.print ?? ((line: string) => console.log(line));
  const devices = options.devices ?? 300;
  if (options.url !== undefined) {
    if (options.dataDir === undefined) {
      throw new Error("Cannot run the demo against --url: --data (its data folder) is required");
    }
    const urls = [options.url.replace(/\/+$/, "")];
    return await runDay({ urls, dataDir: options.dataDir, devices, print, kinds: options.kinds });
  }
  const t0 = performance.now();
  print("starting a fresh 3-site cluster in a temp folder …");
  const cluster = await startDemoCluster({ sites: 3 });
  const stopOnSignal = () => {
    cluster.stop().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", stopOnSignal);
  Deno.addSignalListener("SIGTERM", stopOnSignal);
  try {
    print(
      `cluster up in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${
        cluster.urls.join(", ")
      } (data in ${cluster.dataDir})`,
    );
    return await runDay({
      urls: cluster.urls,
      dataDir: cluster.dataDir,
      devices,
      print,
      kinds: options.kinds,
    });
  } finally {
    Deno.removeSignalListener("SIGINT", stopOnSignal);
    Deno.removeSignalListener("SIGTERM", stopOnSignal);
    await cluster.stop();
    print("cluster stopped and its temp folder removed");
  }
}

function flag(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

/**
 * Why `args` cannot run the demo, or null when they can: each flag is one of
 * `--url`, `--data`, `--devices` with a value after it. A mistyped flag is
 * refused rather than ignored, since the demo would otherwise start a
 * cluster of its own instead of using the one named.
 */
export function demoArgsProblem(args: readonly string[]): string | null {
  for (let i = 0; i < args.length; i += 2) {
    if (!["--url", "--data", "--devices"].includes(args[i])) {
      return `Unknown flag or argument ${JSON.stringify(args[i])}`;
    }
    if (args[i + 1] === undefined) return `Flag ${args[i]} needs a value`;
  }
  if ((args.includes("--url")) !== (args.includes("--data"))) {
    return "--url and --data go together: a running cluster's URL and its data folder";
  }
  return null;
}

if (import.meta.main) {
  if (helpAsked(Deno.args)) {
    console.log(`${USAGE}

A realistic day on an edgeledger consortium, driven through the SDK. Without
--url it starts a fresh 3-site cluster in a temp folder and removes it after.

  --url URL    a running cluster's site (deno task start), instead of a fresh one
  --data DIR   that cluster's data folder (its admin and authority keys)
  --devices N  devices to register, at least 80 (default 300)
  --help, -h   this help

Exit codes: 0 every use case succeeded and the receipt verified, 1 otherwise,
2 usage error.`);
    Deno.exit(0);
  }
  const problem = demoArgsProblem(Deno.args);
  if (problem !== null) {
    console.error(`${problem}\n${USAGE}`);
    Deno.exit(2);
  }
  const devices = flag("--devices");
  if (devices !== undefined && !(Number.isInteger(Number(devices)) && Number(devices) >= 80)) {
    console.error("--devices must be an integer of at least 80");
    Deno.exit(2);
  }
  try {
    const summary = await runDemo({
      url: flag("--url"),
      dataDir: flag("--data"),
      devices: devices === undefined ? undefined : Number(devices),
    });
    Deno.exit(summary.ok ? 0 : 1);
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    Deno.exit(1);
  }
}
