/**
 * The graceful stop of a long-running process (a site, a gateway) on SIGINT
 * or SIGTERM, what a second signal means, and the reload on SIGHUP.
 * Internal to `workers/`.
 *
 * @module
 */
import type { Logger } from "../src/log.ts";

/**
 * A second signal this soon after the first is the same stop, ms: a
 * terminal's Ctrl-C reaches a process directly and again through what
 * started it — `deno task` passes the SIGINT on to its child, `deno task
 * start` sends each site SIGTERM.
 */
export const signalEchoMs = 1000;

/**
 * On the first SIGINT or SIGTERM, runs `stop(signal)` once and exits 0 (1,
 * logged, when it throws). A second signal within {@link signalEchoMs} of the
 * first is its echo and changes nothing; a later one — an operator who does
 * not want to wait — exits at once with 1, saying so in `log`.
 */
export function stopOnSignals(stop: (signal: Deno.Signal) => Promise<void>, log: Logger): void {
  let first: { signal: Deno.Signal; at: number } | undefined;
  const onSignal = (signal: Deno.Signal) => async () => {
    if (first !== undefined) {
      if (Date.now() - first.at < signalEchoMs) return;
      log.warn("a second signal: stopping at once", { signal });
      Deno.exit(1);
    }
    first = { signal, at: Date.now() };
    try {
      await stop(signal);
    } catch (e) {
      log.error("the stop failed", { error: e });
      Deno.exit(1);
    }
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", onSignal("SIGINT"));
  Deno.addSignalListener("SIGTERM", onSignal("SIGTERM"));
}

/**
 * On SIGHUP (systemd's `ExecReload`, an ACME client's deploy hook), runs
 * `reload`: a site puts its config's tenant and admin keys in service, then
 * reads the TLS certificate files and the CA file again (each logs what it
 * did); a gateway reloads TLS only. Nothing else reloads.
 */
export function reloadOnHangup(reload: (trigger: string) => Promise<unknown>, log: Logger): void {
  Deno.addSignalListener(
    "SIGHUP",
    () => void reload("SIGHUP").catch((e) => log.error("the reload failed", { error: e })),
  );
}
