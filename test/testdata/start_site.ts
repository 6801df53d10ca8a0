/**
 * Starts the site of the config at `Deno.args[0]` with `startSite` and stops
 * it again, printing `started`, or `failed: <message>` when the start
 * fails. It never calls `Deno.exit`: the process ends by itself only if the
 * start (or the stop) left no thread, timer or server running.
 *
 * @module
 */
import { startSite } from "../../workers/site.ts";

try {
  const { stop } = await startSite(Deno.args[0]);
  await stop();
  console.log("started");
} catch (e) {
  console.log(`failed: ${(e as Error).message}`);
}
