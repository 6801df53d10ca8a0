/**
 * Entry point of one edge site (a carrier PoP):
 *
 *     deno run -A workers/site.ts --config data/site-a/site.json
 *
 * Opens the site's libSQL database (migrating it), serves the HTTP API, and
 * prints `site <name> <url>` once it listens. SIGINT/SIGTERM stop it cleanly:
 * the block being written completes, then the database closes.
 *
 * @module
 */
import { createApp } from "../src/api/app.ts";
import { loadSiteConfig } from "../src/site/config.ts";
import { Site } from "../src/site/site.ts";

export const VERSION = "0.1.0";

/** Starts one site from its config file; resolves to a stop function. */
export async function startSite(
  configPath: string,
): Promise<{ stop: () => Promise<void>; site: Site; url: string }> {
  const loaded = await loadSiteConfig(configPath);
  const { config } = loaded;
  const site = await Site.open({
    name: config.name,
    dbUrl: loaded.dbUrl,
    dbAuthToken: loaded.dbAuthToken,
    genesis: loaded.genesis,
    key: loaded.key,
    batchTxsMax: config.batchTxsMax,
    batchDelayMs: config.batchDelayMs,
    pendingTxsMax: config.pendingTxsMax,
    version: VERSION,
  });
  const app = createApp(site, {
    requestBytesMax: config.requestBytesMax,
    version: VERSION,
    metrics: () => site.metrics(),
  });
  let server!: Deno.HttpServer;
  const url = await new Promise<string>((resolve) => {
    server = Deno.serve({
      hostname: config.host,
      port: config.port,
      onListen: ({ hostname, port }) => resolve(`http://${hostname}:${port}`),
    }, app.fetch);
  });
  const stop = async () => {
    await server.shutdown();
    await site.close();
  };
  return { stop, site, url };
}

function argValue(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

if (import.meta.main) {
  const configPath = argValue("--config") ?? Deno.env.get("EDGELEDGER_CONFIG");
  if (!configPath) {
    console.error("usage: deno run -A workers/site.ts --config <site.json>");
    Deno.exit(2);
  }
  try {
    const { stop, site, url } = await startSite(configPath);
    console.log(`site ${site.name} ${url}`);
    let stopping = false;
    const onSignal = async () => {
      if (stopping) return;
      stopping = true;
      await stop();
      Deno.exit(0);
    };
    Deno.addSignalListener("SIGINT", onSignal);
    Deno.addSignalListener("SIGTERM", onSignal);
  } catch (e) {
    console.error(`Cannot start site: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
