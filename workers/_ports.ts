/**
 * Starting processes on ports of their own: a start whose port another
 * process holds runs again on a new one. Shared by `task demo`'s cluster and
 * the tests' clusters and sites.
 *
 * @module
 */

/** A process (or a listener of this one) could not start because its port was taken. */
export class PortTakenError extends Error {
  override name = "PortTakenError";
}

/** Whether what a process printed says its address (its port) was already in use. */
export function portTaken(output: string): boolean {
  return /address already in use|AddrInUse/i.test(output);
}

/** How many ports {@link startOnFreePort} tries by default, each new. */
export const portTriesMax = 3;

/**
 * Starts something on a port of its own: calls `start(port)` with a port
 * from `pick`, and when it throws {@link PortTakenError} (a process said its
 * address is in use) or `Deno.errors.AddrInUse` (a listener in this process),
 * calls it again on a new port, `triesMax` tries in all. Throws the last
 * try's error, and at once any other error.
 *
 * Requires `start` to have stopped and removed what it began before it
 * throws, and to make each try new (a ledger keeps the ports it was made
 * with: give each try its own data folder). Only a first start may move: a
 * restart must use its port as it is.
 */
export async function startOnFreePort<T>(
  start: (port: number) => Promise<T>,
  options: { pick: () => number; triesMax?: number },
): Promise<T> {
  const triesMax = options.triesMax ?? portTriesMax;
  for (let tries = 1;; tries++) {
    try {
      return await start(options.pick());
    } catch (e) {
      const taken = e instanceof PortTakenError || e instanceof Deno.errors.AddrInUse;
      if (!taken || tries >= triesMax) throw e;
    }
  }
}
