/**
 * A delaying TCP proxy for the benches: sites far apart (a WAN's round
 * trip) simulated on one machine, where `tc netem` is not available.
 *
 * Each route listens on a loopback port of its own and forwards every
 * connection to a loopback target port. Every chunk read in either
 * direction is written to the other side `oneWayMs` after it arrived, in
 * the order it arrived: no reordering, no loss, no bandwidth limit, so a
 * round trip through it takes at least `2 × oneWayMs` and a long-lived
 * streaming body (the sites' `POST /raft/stream`) flows as it would over
 * a slow link. An end of stream (a half-close) is passed on the same
 * `oneWayMs` later, after the bytes before it; a reset or an error closes
 * both sides at once. What it does not model: the TCP handshake's round
 * trip (the proxy accepts at once and connects to its target at once, so
 * a new connection costs no extra round trip — peers keep theirs open),
 * loss, jitter and a window: at most {@link queuedBytesMaxDefault} bytes
 * wait per direction, beyond which it stops reading.
 *
 * It runs as its own process (so its CPU is counted apart from the
 * systems under test):
 *
 *     deno run --allow-net bench/_delay_proxy.ts --one-way-ms 10 --to 7001 --to 7002
 *
 * prints `delay-proxy <listenPort>,<listenPort>` once it listens (one port
 * per `--to`, in order), and exits when its standard input ends (the
 * process that started it is gone) or on SIGTERM. {@link DelayProxy.start}
 * does all that from another program. Only 127.0.0.1 is ever used.
 *
 * @module
 */

/** Most bytes waiting for their delivery time per direction of one connection. */
export const queuedBytesMaxDefault = 64 * 1024 * 1024;

/** Longest the proxy process may take to print its ports, ms. */
export const proxyStartMsMax = 30_000;

/** Bytes read from a socket at once. */
const readBytesMax = 64 * 1024;

const host = "127.0.0.1";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One chunk on its way: when it is due, and its bytes (`null`: the end of the stream). */
interface Chunk {
  dueMs: number;
  bytes: Uint8Array | null;
}

/** Writes all of `bytes` (a socket write may take part of them). */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/**
 * Copies `from` to `to`, each chunk `oneWayMs` after it was read, in
 * order; passes the end of the stream on as a half-close of `to`.
 * Resolves at the end of the stream; rejects on a read or write error.
 */
async function pipeDelayed(
  from: Deno.Conn,
  to: Deno.Conn,
  oneWayMs: number,
  queuedBytesMax: number,
): Promise<void> {
  const queue: Chunk[] = [];
  let queuedBytes = 0;
  let readError: unknown;
  let wakeWriter: (() => void) | undefined;
  let wakeReader: (() => void) | undefined;
  let writerDone = false;
  const reader = (async () => {
    const buf = new Uint8Array(readBytesMax);
    try {
      for (;;) {
        while (queuedBytes >= queuedBytesMax && !writerDone) {
          await new Promise<void>((r) => wakeReader = r);
        }
        if (writerDone) return;
        const n = await from.read(buf);
        const dueMs = performance.now() + oneWayMs;
        if (n === null) {
          queue.push({ dueMs, bytes: null });
          wakeWriter?.();
          return;
        }
        queue.push({ dueMs, bytes: buf.slice(0, n) });
        queuedBytes += n;
        wakeWriter?.();
      }
    } catch (e) {
      readError = e;
      wakeWriter?.();
    }
  })();
  try {
    for (;;) {
      if (readError !== undefined) throw readError;
      if (queue.length === 0) {
        await new Promise<void>((r) => wakeWriter = r);
        wakeWriter = undefined;
        continue;
      }
      const waitMs = queue[0].dueMs - performance.now();
      if (waitMs > 0) {
        await sleep(Math.ceil(waitMs));
        continue;
      }
      if (queue[0].bytes === null) {
        queue.shift();
        await to.closeWrite();
        return;
      }
      // Everything already due goes in one write.
      const now = performance.now();
      const due: Uint8Array[] = [];
      let length = 0;
      while (queue.length > 0 && queue[0].bytes !== null && queue[0].dueMs <= now) {
        const bytes = queue.shift()!.bytes!;
        due.push(bytes);
        length += bytes.length;
      }
      const out = due.length === 1 ? due[0] : new Uint8Array(length);
      if (due.length > 1) {
        let off = 0;
        for (const b of due) {
          out.set(b, off);
          off += b.length;
        }
      }
      await writeAll(to, out);
      queuedBytes -= length;
      wakeReader?.();
      wakeReader = undefined;
    }
  } finally {
    // The reader ends on its own: at the end of the stream, or when the
    // caller closes `from` after an error.
    writerDone = true;
    wakeReader?.();
    void reader;
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/**
 * Serves one route until `listener` is closed: each accepted connection
 * is joined to a new connection to `127.0.0.1:targetPort` through
 * {@link pipeDelayed} in both directions. A connection whose target
 * refuses is closed.
 */
export async function serveRoute(
  listener: Deno.TcpListener,
  targetPort: number,
  oneWayMs: number,
  queuedBytesMax = queuedBytesMaxDefault,
): Promise<void> {
  const open = new Set<Deno.TcpConn>();
  try {
    for await (const client of listener) {
      open.add(client);
      (async () => {
        let target: Deno.TcpConn | undefined;
        try {
          target = await Deno.connect({ hostname: host, port: targetPort });
          open.add(target);
          for (const c of [client, target]) {
            try {
              c.setNoDelay(true);
            } catch { /* not a TCP socket */ }
          }
          const t = target;
          const ends = [
            pipeDelayed(client, t, oneWayMs, queuedBytesMax),
            pipeDelayed(t, client, oneWayMs, queuedBytesMax),
          ];
          // An error in one direction ends both at once (a reset); a clean
          // end (a half-close) waits for the other direction's.
          for (const p of ends) p.catch(() => {});
          await Promise.all(ends);
        } catch {
          /* a reset or a refused target: close both */
        } finally {
          closeQuietly(client);
          open.delete(client);
          if (target !== undefined) {
            closeQuietly(target);
            open.delete(target);
          }
        }
      })();
    }
  } catch {
    /* the listener was closed */
  } finally {
    for (const c of open) closeQuietly(c);
  }
}

/** A running proxy process (see the module doc). */
export class DelayProxy {
  /** Listening port of each route, in the order of the targets given. */
  readonly ports: number[];
  readonly pid: number;
  readonly oneWayMs: number;
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;

  private constructor(
    ports: number[],
    oneWayMs: number,
    child: Deno.ChildProcess,
    stdin: WritableStreamDefaultWriter<Uint8Array>,
  ) {
    this.ports = ports;
    this.pid = child.pid;
    this.oneWayMs = oneWayMs;
    this.#child = child;
    this.#stdin = stdin;
  }

  /**
   * Starts a proxy process with one route per target port (on
   * 127.0.0.1), each delaying `oneWayMs` per direction; resolves once it
   * listens. Requires `0 <= oneWayMs <= 10_000`.
   */
  static async start(targetPorts: number[], oneWayMs: number): Promise<DelayProxy> {
    if (!(oneWayMs >= 0 && oneWayMs <= 10_000)) {
      throw new Error(`Cannot start a delay proxy of ${oneWayMs} ms: expected 0..10000`);
    }
    if (targetPorts.length === 0) throw new Error("Cannot start a delay proxy without targets");
    const script = new URL("./_delay_proxy.ts", import.meta.url).pathname;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        script,
        "--one-way-ms",
        String(oneWayMs),
        ...targetPorts.flatMap((p) => ["--to", String(p)]),
      ],
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const stdin = child.stdin.getWriter();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), proxyStartMsMax);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`The delay proxy exited before listening: ${text.slice(0, 400)}`);
        text += value;
        const m = /^delay-proxy (\S+)$/m.exec(text);
        if (m) {
          const ports = m[1].split(",").map(Number);
          // Nothing else is printed; keep the pipe drained anyway.
          (async () => {
            try {
              while (!(await reader.read()).done) { /* drain */ }
            } catch { /* gone */ }
          })();
          return new DelayProxy(ports, oneWayMs, child, stdin);
        }
      }
    } catch (e) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the process (closing its standard input, then SIGKILL after `graceMs`). */
  async stop(graceMs = 2_000): Promise<void> {
    await this.#stdin.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, graceMs);
    await this.#child.status;
    clearTimeout(timer);
  }
}

function parseArgs(args: string[]): { oneWayMs: number; targets: number[] } {
  let oneWayMs = NaN;
  const targets: number[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const value = Number(args[i + 1]);
    if (args[i] === "--one-way-ms") oneWayMs = value;
    else if (args[i] === "--to") targets.push(value);
    else throw new Error(`Unknown argument ${args[i]}`);
  }
  if (!(oneWayMs >= 0 && oneWayMs <= 10_000)) throw new Error("--one-way-ms must be 0..10000");
  if (targets.length === 0 || !targets.every((p) => Number.isInteger(p) && p > 0 && p < 65536)) {
    throw new Error("--to <port> (1..65535) at least once");
  }
  return { oneWayMs, targets };
}

if (import.meta.main) {
  let parsed: { oneWayMs: number; targets: number[] };
  try {
    parsed = parseArgs(Deno.args);
  } catch (e) {
    console.error(
      `${(e as Error).message}\nusage: deno run --allow-net bench/_delay_proxy.ts ` +
        `--one-way-ms <ms> --to <port> [--to <port> …]`,
    );
    Deno.exit(2);
  }
  const listeners = parsed.targets.map(() => Deno.listen({ hostname: host, port: 0 }));
  for (let i = 0; i < listeners.length; i++) {
    void serveRoute(listeners[i], parsed.targets[i], parsed.oneWayMs);
  }
  console.log(`delay-proxy ${listeners.map((l) => (l.addr as Deno.NetAddr).port).join(",")}`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  // The process that started this one is gone (or said stop) once stdin ends.
  const buf = new Uint8Array(256);
  try {
    while ((await Deno.stdin.read(buf)) !== null) { /* nothing is sent */ }
  } catch { /* closed */ }
  Deno.exit(0);
}
