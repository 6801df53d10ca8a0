/**
 * A delaying TCP proxy whose routes can be cut: for the benches, sites far
 * apart (a WAN's round trip) simulated on one machine, where `tc netem` is
 * not available; for the partition tests (`test/_partition.ts`), links
 * between sites cut and healed one by one.
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
 * A route can be cut ({@link DelayProxy.cut}) in one of two ways:
 *
 * - `silent`, a link that loses every packet: nothing more is read or
 *   written on the route's connections, in either direction, and they stay
 *   open; a new connection is accepted (the proxy listens on loopback, so a
 *   connect succeeds at once where a lost SYN would hang) but reaches its
 *   target only once healed. The senders' socket buffers fill as over a
 *   dead link, and no end of stream or reset is seen by anyone. Healed, the
 *   held bytes flow on in order, as TCP's retransmissions would deliver
 *   them after a partition shorter than its give-up time (minutes): late,
 *   never lost from the middle of a stream.
 * - `reset`, a link whose far side refuses: the route's connections are
 *   closed at once (both sides see the connection end) and a new one is
 *   closed as soon as it is accepted, until healed.
 *
 * A cut is of one route, so of one direction of a link only in the sense
 * of who connects: both directions of the TCP connections made through that
 * route stop (acknowledgements and answers included). `test/_partition.ts`
 * says what that means for the sites' messages.
 *
 * It runs as its own process (so its CPU is counted apart from the
 * systems under test):
 *
 *     deno run --allow-net bench/_delay_proxy.ts --one-way-ms 10 --to 7001 --to 7002
 *
 * prints `delay-proxy <listenPort>,<listenPort>` once it listens (one port
 * per `--to`, in order), and exits when its standard input ends (the
 * process that started it is gone) or on SIGTERM. Its standard input takes
 * commands, one a line, each answered by a line `ok` (or `error <why>`) once
 * applied: `cut silent|reset <route>,<route>…` and `heal [<route>,…]` (every
 * route when none is given), routes numbered from 0 in the order of the
 * `--to`s. {@link DelayProxy.start} does all that from another program.
 * Only 127.0.0.1 is ever used.
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

/** How a cut route treats its connections (see the module doc). */
export type CutMode = "silent" | "reset";

/** The route was cut by `reset`: its connections end. */
class RouteReset extends Error {
  override name = "RouteReset";
}

/**
 * Whether one route passes bytes (open, or cut `silent` or `reset`), and
 * the connections it holds (both sides of each), which a reset closes.
 */
export class RouteGate {
  #mode: "open" | CutMode = "open";
  #waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** The route's connections, client and target sides. */
  readonly conns = new Set<Deno.Conn>();

  get mode(): "open" | CutMode {
    return this.#mode;
  }

  /**
   * Resolves once bytes may pass: at once while open, at the heal while cut
   * silently; rejects while (or once) the route is cut by reset.
   */
  wait(): Promise<void> {
    if (this.#mode === "open") return Promise.resolve();
    if (this.#mode === "reset") return Promise.reject(new RouteReset());
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Cuts the route; a reset closes its connections now. */
  cut(mode: CutMode): void {
    this.#mode = mode;
    if (mode === "silent") return;
    for (const w of this.#waiters.splice(0)) w.reject(new RouteReset());
    for (const c of this.conns) closeQuietly(c);
  }

  /** Opens the route again: held bytes and connections go on. */
  heal(): void {
    this.#mode = "open";
    for (const w of this.#waiters.splice(0)) w.resolve();
  }
}

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
 * order; passes the end of the stream on as a half-close of `to`. While
 * `gate` is cut silently it neither reads nor writes (bytes read just
 * before wait); a reset rejects. Resolves at the end of the stream;
 * rejects on a read or write error.
 */
async function pipeDelayed(
  from: Deno.Conn,
  to: Deno.Conn,
  oneWayMs: number,
  queuedBytesMax: number,
  gate: RouteGate,
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
        if (gate.mode !== "open") await gate.wait();
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
      if (gate.mode !== "open") {
        await gate.wait();
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
 * refuses is closed. `gate` cuts and heals the route (see the module doc).
 */
export async function serveRoute(
  listener: Deno.TcpListener,
  targetPort: number,
  oneWayMs: number,
  queuedBytesMax = queuedBytesMaxDefault,
  gate = new RouteGate(),
): Promise<void> {
  const open = gate.conns;
  try {
    for await (const client of listener) {
      if (gate.mode === "reset") {
        closeQuietly(client);
        continue;
      }
      open.add(client);
      (async () => {
        let target: Deno.TcpConn | undefined;
        try {
          // Cut silently, the connection reaches its target once healed.
          if (gate.mode !== "open") await gate.wait();
          target = await Deno.connect({ hostname: host, port: targetPort });
          open.add(target);
          for (const c of [client, target]) {
            try {
              c.setNoDelay(true);
            } catch { /* not a TCP socket */ }
          }
          const t = target;
          const ends = [
            pipeDelayed(client, t, oneWayMs, queuedBytesMax, gate),
            pipeDelayed(t, client, oneWayMs, queuedBytesMax, gate),
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
  /** Commands sent and not yet answered, oldest first (the proxy answers in order). */
  readonly #replies: Array<{ resolve: (line: string) => void; reject: (e: Error) => void }> = [];
  /** Commands go one at a time: each waits for the one before to be answered. */
  #commands: Promise<unknown> = Promise.resolve();
  /** The proxy's standard output ended (it exited). */
  #ended = false;

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

  /** Reads the proxy's answers (`rest`: what came after its first line) until it exits. */
  async #readReplies(reader: ReadableStreamDefaultReader<string>, rest: string): Promise<void> {
    let text = rest;
    try {
      for (;;) {
        let nl: number;
        while ((nl = text.indexOf("\n")) >= 0) {
          const line = text.slice(0, nl);
          text = text.slice(nl + 1);
          this.#replies.shift()?.resolve(line);
        }
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
    } catch { /* gone */ }
    this.#ended = true;
    for (const r of this.#replies.splice(0)) r.reject(new Error("The delay proxy exited"));
  }

  /** Sends one command line; resolves once the proxy applied it, rejects with its error. */
  #command(line: string): Promise<void> {
    const sent = this.#commands.then(async () => {
      if (this.#ended) throw new Error(`The delay proxy exited before "${line}"`);
      const reply = new Promise<string>((resolve, reject) =>
        this.#replies.push({ resolve, reject })
      );
      await this.#stdin.write(new TextEncoder().encode(line + "\n"));
      const answer = await reply;
      if (answer !== "ok") throw new Error(`The delay proxy refused "${line}": ${answer}`);
    });
    this.#commands = sent.catch(() => {});
    return sent;
  }

  /**
   * Cuts `routes` (indexes into {@link ports}) all at once, `silent` or by
   * `reset` (see the module doc); resolves once the proxy has cut them. A
   * cut route stays cut, in the last mode given, until {@link heal}ed.
   */
  cut(routes: readonly number[], mode: CutMode = "silent"): Promise<void> {
    this.#checkRoutes(routes);
    if (routes.length === 0) return Promise.resolve();
    return this.#command(`cut ${mode} ${routes.join(",")}`);
  }

  /** Heals `routes` (every route when omitted) all at once; resolves once the proxy has. */
  heal(routes?: readonly number[]): Promise<void> {
    if (routes !== undefined) {
      this.#checkRoutes(routes);
      if (routes.length === 0) return Promise.resolve();
    }
    return this.#command(routes === undefined ? "heal" : `heal ${routes.join(",")}`);
  }

  #checkRoutes(routes: readonly number[]): void {
    for (const r of routes) {
      if (!Number.isInteger(r) || r < 0 || r >= this.ports.length) {
        throw new RangeError(`No route ${r}: routes are 0..${this.ports.length - 1}`);
      }
    }
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
        const m = /^delay-proxy (\S+)\n/m.exec(text);
        if (m) {
          const ports = m[1].split(",").map(Number);
          const proxy = new DelayProxy(ports, oneWayMs, child, stdin);
          // Then only answers to commands are printed.
          void proxy.#readReplies(reader, text.slice(m.index + m[0].length));
          return proxy;
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

/**
 * Applies one control line to `gates` (see the module doc); `ok`, or
 * `error <why>` for a line it cannot take.
 */
export function applyCommand(line: string, gates: readonly RouteGate[]): string {
  const words = line.trim().split(/\s+/);
  const routesOf = (list: string | undefined): number[] | undefined => {
    if (list === undefined) return gates.map((_, i) => i);
    const routes = list.split(",").map(Number);
    return routes.every((r) => Number.isInteger(r) && r >= 0 && r < gates.length)
      ? routes
      : undefined;
  };
  if (words[0] === "cut" && (words[1] === "silent" || words[1] === "reset") && words.length === 3) {
    const routes = routesOf(words[2]);
    if (routes === undefined) return `error no such route in ${words[2]}`;
    for (const r of routes) gates[r].cut(words[1]);
    return "ok";
  }
  if (words[0] === "heal" && words.length <= 2) {
    const routes = routesOf(words[1]);
    if (routes === undefined) return `error no such route in ${words[1]}`;
    for (const r of routes) gates[r].heal();
    return "ok";
  }
  return `error unknown command: ${line.slice(0, 100)}`;
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
  const gates = listeners.map(() => new RouteGate());
  for (let i = 0; i < listeners.length; i++) {
    void serveRoute(
      listeners[i],
      parsed.targets[i],
      parsed.oneWayMs,
      queuedBytesMaxDefault,
      gates[i],
    );
  }
  console.log(`delay-proxy ${listeners.map((l) => (l.addr as Deno.NetAddr).port).join(",")}`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  // Commands, one a line, each answered once applied. The process that
  // started this one is gone (or said stop) once stdin ends.
  const out = new TextEncoder();
  let text = "";
  try {
    for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      let nl: number;
      while ((nl = text.indexOf("\n")) >= 0) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        await Deno.stdout.write(out.encode(applyCommand(line, gates) + "\n"));
      }
      if (text.length > 4096) text = ""; // no command is that long
    }
  } catch { /* closed */ }
  Deno.exit(0);
}
