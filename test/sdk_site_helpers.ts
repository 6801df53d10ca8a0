/**
 * Starts real edgeledger sites for the SDK's tests: a local ledger under a
 * temporary folder, each site a `workers/site.ts` process on a free loopback
 * port, stopped with SIGTERM and restartable on the same data.
 *
 * @module
 */

import { initLocalLedger } from "../src/site/config.ts";

/** A running (or stopped) site process. */
export interface SiteProcess {
  name: string;
  url: string;
  configPath: string;
  /** Starts the process again on the same config (same port, same chain). */
  start(): Promise<void>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), then waits for the exit. */
  kill(): Promise<void>;
  running(): boolean;
}

/** A port nothing listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Creates a one-site local ledger in a fresh temporary folder and starts it. */
export async function startLocalSite(): Promise<
  { site: SiteProcess; dataDir: string; cleanup: () => Promise<void> }
> {
  const dataDir = await Deno.makeTempDir({ prefix: "edgeledger-sdk-" });
  const [configPath] = await initLocalLedger({
    dataDir,
    sites: 1,
    basePort: freePort(),
    host: "127.0.0.1",
  });
  const site = siteProcess(configPath);
  await site.start();
  return {
    site,
    dataDir,
    cleanup: async () => {
      await site.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

/** A handle on `workers/site.ts --config <configPath>`. */
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
        stderr: "inherit",
        cwd: new URL("..", import.meta.url).pathname,
      });
      child = cmd.spawn();
      status = child.status;
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`Site ${configPath} exited before listening: ${buffer}`);
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
