/**
 * A throwaway local cluster for `deno task demo`: a fresh ledger in a temp
 * folder (`initLocalLedger`), one `workers/site.ts` process per site on
 * loopback, stopped and removed by {@link DemoCluster.stop}.
 *
 * @module
 */
import { initLocalLedger } from "../../src/site/config.ts";
import { portTaken, PortTakenError, startOnFreePort } from "../_ports.ts";

/** How long a site may take to print its `site <name> <url>` line, ms. */
const SITE_LISTEN_MS_MAX = 30_000;
/** How long the sites may take to elect a leader, ms. */
const LEADER_WAIT_MS_MAX = 20_000;
/** Lines of a site's stderr kept to explain a failure. */
const STDERR_LINES_MAX = 20;

/** A running cluster the demo started. */
export interface DemoCluster {
  /** The ledger's folder: genesis, site configs and the demo keys. */
  dataDir: string;
  /** Site base URLs, `site-a` first. */
  urls: string[];
  /** Stops every site (SIGTERM, then waits) and removes the folder. Safe to call twice. */
  stop(): Promise<void>;
}

/** The lowest base port drawn when none is given. */
const DEMO_PORT_MIN = 20_000;
/**
 * Ports drawn stay below this: Linux hands out outgoing connections' local
 * ports from 32768 up, so a listener there may find its port taken.
 */
const DEMO_PORT_END = 32_768;

/**
 * Starts `sites` sites on ports `[basePort, basePort + sites)` under a new
 * temp folder. Without `basePort` the ports are drawn at random below the
 * ephemeral range, and a port another process holds makes it start again
 * on new ones, in a new folder ({@link startOnFreePort}).
 */
export async function startDemoCluster(
  options: {
    sites?: number;
    basePort?: number;
    /** Draws a base port when `basePort` is not given (tests); default: at random. */
    drawPort?: () => number;
  } = {},
): Promise<DemoCluster> {
  const sites = options.sites ?? 3;
  if (options.basePort !== undefined) return await startOn(sites, options.basePort);
  const pick = options.drawPort ??
    (() => DEMO_PORT_MIN + Math.floor(Math.random() * (DEMO_PORT_END - DEMO_PORT_MIN - sites)));
  return await startOnFreePort((port) => startOn(sites, port), { pick });
}

/** One try of {@link startDemoCluster} on the given ports. */
async function startOn(sites: number, basePort: number): Promise<DemoCluster> {
  const dataDir = await Deno.makeTempDir({ prefix: "edgeledger-demo-" });
  const configs = await initLocalLedger({ dataDir, sites, basePort, host: "127.0.0.1" });
  const siteScript = new URL("../site.ts", import.meta.url).pathname;
  const procs: { proc: Deno.ChildProcess; drained: Promise<void>; stderr: string[] }[] = [];
  const urls: string[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const p of procs) {
      try {
        p.proc.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.all(procs.map(async (p) => {
      await p.proc.status;
      await p.drained;
    }));
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  try {
    for (const config of configs) {
      const proc = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", siteScript, "--config", config],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stderr: string[] = [];
      const listening = Promise.withResolvers<string>();
      const drained = Promise.all([
        readLines(proc.stdout, (line) => {
          const m = /^site (\S+) (\S+)$/.exec(line);
          if (m) listening.resolve(m[2]);
        }),
        readLines(proc.stderr, (line) => {
          stderr.push(line);
          if (stderr.length > STDERR_LINES_MAX) stderr.shift();
        }),
      ]).then(() => listening.reject(new Error("exited before it listened")));
      procs.push({ proc, drained: drained.catch(() => {}), stderr });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`did not listen within ${SITE_LISTEN_MS_MAX} ms`)),
          SITE_LISTEN_MS_MAX,
        );
      });
      try {
        urls.push(await Promise.race([listening.promise, timeout]));
      } catch (e) {
        const tail = stderr.slice(-5).join("\n  ");
        const why = `Cannot start demo site ${config}: ${(e as Error).message}${
          tail ? "\n  " + tail : ""
        }`;
        throw portTaken(tail) ? new PortTakenError(why) : new Error(why);
      } finally {
        clearTimeout(timer);
      }
    }
    await waitForLeader(urls);
  } catch (e) {
    await stop();
    throw e;
  }
  return { dataDir, urls, stop };
}

/** Calls `onLine` for every line of `stream` until it ends. */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) onLine(buf);
}

/** Polls `/v1/status` until some site names a leader; throws after {@link LEADER_WAIT_MS_MAX}. */
async function waitForLeader(urls: string[]): Promise<void> {
  const deadline = Date.now() + LEADER_WAIT_MS_MAX;
  while (Date.now() < deadline) {
    for (const url of urls) {
      try {
        const res = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(1000) });
        const status = await res.json();
        if (status.leader) return;
      } catch { /* not up yet */ }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Cannot start demo cluster: no leader within ${LEADER_WAIT_MS_MAX} ms`);
}
