/**
 * Starts real edgeledger sites for the SDK's tests: a local ledger under a
 * temporary folder, each site a `workers/site.ts` process on a loopback port
 * of `startOnFreePort` (test/_cluster.ts), stopped with SIGTERM and
 * restartable on the same data and port.
 *
 * @module
 */

import { initLocalLedger } from "../src/site/config.ts";
import { type PortOptions, portTaken, PortTakenError, startOnFreePort } from "./_cluster.ts";

/** A running (or stopped) site process. */
export interface SiteProcess {
  name: string;
  url: string;
  configPath: string;
  /**
   * Starts the process again on the same config (same port, same chain).
   * Throws PortTakenError when the site says its port is taken.
   */
  start(): Promise<void>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), then waits for the exit. */
  kill(): Promise<void>;
  running(): boolean;
}

/**
 * Creates a one-site local ledger in a fresh temporary folder and starts it.
 * When its port was taken, the ledger is made again in a new folder on a new
 * port ({@link startOnFreePort}, `ports` picks them); its restarts keep the
 * port it started on.
 */
export async function startLocalSite(
  ports: PortOptions = {},
  config: Record<string, unknown> = {},
): Promise<
  { site: SiteProcess; dataDir: string; cleanup: () => Promise<void> }
> {
  const { site, dataDir } = await startOnFreePort(async (port) => {
    const dataDir = await Deno.makeTempDir({ prefix: "edgeledger-sdk-" });
    try {
      const [configPath] = await initLocalLedger({
        dataDir,
        sites: 1,
        basePort: port,
        host: "127.0.0.1",
      });
      if (Object.keys(config).length > 0) {
        const written = JSON.parse(await Deno.readTextFile(configPath));
        await Deno.writeTextFile(configPath, JSON.stringify({ ...written, ...config }, null, 2));
      }
      const site = siteProcess(configPath);
      await site.start();
      return { site, dataDir };
    } catch (e) {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      throw e;
    }
  }, ports);
  return {
    site,
    dataDir,
    cleanup: async () => {
      await site.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

/** The most of a site's stderr kept to tell why it did not start, in characters. */
const stderrKeptMax = 65_536;

/**
 * A handle on `workers/site.ts --config <configPath>`. The site's stderr
 * (its log) is passed on to this process's.
 */
export function siteProcess(configPath: string): SiteProcess {
  let child: Deno.ChildProcess | undefined;
  let status: Promise<Deno.CommandStatus> | undefined;
  const handle: SiteProcess = {
    name: "",
    url: "",
    configPath,
    running: () => child !== undefined,
    async start() {
      if (child) return;
      const cmd = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL("../workers/site.ts", import.meta.url).pathname,
          "--config",
          configPath,
        ],
        stdout: "piped",
        stderr: "piped",
        cwd: new URL("..", import.meta.url).pathname,
      });
      const proc = cmd.spawn();
      child = proc;
      status = proc.status;
      // Passed on as it comes, and the last of it kept: a site that exits says why there.
      let stderr = "";
      const stderrEnded = (async () => {
        const dec = new TextDecoder();
        for await (const chunk of proc.stderr) {
          for (let at = 0; at < chunk.length;) at += await Deno.stderr.write(chunk.subarray(at));
          stderr = (stderr + dec.decode(chunk, { stream: true })).slice(-stderrKeptMax);
        }
      })().catch(() => {});
      const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) {
          await status;
          await stderrEnded;
          child = undefined;
          const why = `Site ${configPath} exited before listening: ${buffer}${stderr.trim()}`;
          throw portTaken(stderr) ? new PortTakenError(why) : new Error(why);
        }
        buffer += value;
        const m = buffer.match(/^site (\S+) (\S+)$/m);
        if (m) {
          handle.name = m[1];
          handle.url = m[2];
          // Keep draining stdout so the child never blocks on a full pipe.
          (async () => {
            try {
              for (;;) if ((await reader.read()).done) break;
            } catch { /* closed */ }
          })();
          return;
        }
      }
      throw new Error(`Site ${configPath} did not listen within 60 s`);
    },
    async kill() {
      if (!child) return;
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await status;
      child = undefined;
    },
    async stop() {
      if (!child) return;
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      // A clean stop may wait on open event streams; do not wait forever.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          try {
            child?.kill("SIGKILL");
          } catch { /* already gone */ }
          resolve();
        }, 5000);
      });
      await Promise.race([status, killed]);
      await status;
      clearTimeout(timer);
      child = undefined;
    },
  };
  return handle;
}
