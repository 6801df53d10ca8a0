/**
 * A delaying TCP proxy whose routes can be cut and shaped: for the benches,
 * sites far apart (a WAN's round trip) simulated on one machine, where `tc
 * netem` is not available; for the partition and grey-failure tests
 * (`test/_partition.ts`), links between sites (and between clients and
 * sites) cut, slowed, thinned and healed one by one.
 *
 * Each route listens on a loopback port of its own and forwards every
 * connection to a loopback target port. Every chunk read in either
 * direction is written to the other side once it is due, in the order it
 * arrived: no reordering and no loss, as TCP delivers. A chunk is due its
 * route's one-way delay after it was read (`oneWayMs`; `--one-way-ms` at
 * the start, the same on every route), so a round trip through it takes
 * at least `2 × oneWayMs` and a long-lived streaming body (the sites'
 * `POST /raft/stream`) flows as it would over a slow link. An end of
 * stream (a half-close) is passed on the same way, after the bytes before
 * it; a reset or an error closes both sides at once.
 *
 * A route can be shaped while it runs (each applies to chunks read from
 * then on):
 *
 * - `delay`: a one-way delay and a jitter. Each chunk's delay is the delay
 *   plus a uniform draw in `[0, jitterMs)` from the route's own seeded
 *   PRNG (`--seed` and the route's number), but never earlier than the
 *   chunk before it on its connection: bytes stay in order, so a long
 *   draw holds up the chunks behind it (head-of-line blocking, as TCP's
 *   in-order delivery does) and the delays seen are skewed to the high end
 *   of the range. The draws are reproducible, which chunk gets which is
 *   not (the kernel decides how bytes are split into reads).
 * - `rate`: bytes per second, for each direction of the route, shared by
 *   all its connections: a chunk crosses the wire after the chunks before
 *   it (of any connection of the route), taking `bytes / rate`, and then
 *   its delay. At most {@link wireQueueMsMax} of bytes wait for the wire;
 *   beyond that the proxy stops reading and the senders' socket buffers
 *   fill (TCP's flow control, not an unbounded router queue). It reads in
 *   chunks of about 20 ms of the rate, so bytes trickle.
 *
 * A route can be cut ({@link DelayProxy.cut}) in one of three ways:
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
 * - `hang`, connects that are lost (a path that black-holes SYNs, a
 *   firewall that drops new flows) while the connections already made
 *   keep working: a new connection is accepted but never reaches its
 *   target, and nothing comes back on it; the client sees a connect that
 *   succeeded and a request that is never answered, which on loopback is
 *   what a hung connect looks like to a client that has no connect timeout
 *   of its own (its request's deadline is what ends it). The heal closes
 *   such a connection rather than connect it through, so a request its
 *   client gave up on is never delivered late. `reset` then `hang` makes a
 *   link whose connections all broke and whose new ones hang; `silent`
 *   freezes old and new connections alike.
 *
 * A heal opens a route and restores its shape as started (the start's
 * delay, no jitter, no rate limit). A cut is of one route, so of one
 * direction of a link only in the sense of who connects: both directions
 * of the TCP connections made through that route stop (acknowledgements
 * and answers included). `test/_partition.ts` says what that means for the
 * sites' messages.
 *
 * What it does not model: the TCP handshake's round trip (a new connection
 * costs no extra round trip — peers keep theirs open), loss (and so no
 * retransmission timeouts: a slow link here is slow, never lossy), and the
 * sender's congestion window (at most {@link queuedBytesMaxDefault} bytes
 * wait per direction of a connection, beyond which it stops reading).
 *
 * It runs as its own process (so its CPU is counted apart from the
 * systems under test):
 *
 *     deno run --allow-net bench/_delay_proxy.ts --one-way-ms 10 [--seed 7] --to 7001 --to 7002
 *
 * prints `delay-proxy <listenPort>,<listenPort>` once it listens (one port
 * per `--to`, in order), and exits when its standard input ends (the
 * process that started it is gone) or on SIGTERM. Its standard input takes
 * commands, one a line, each answered by a line `ok` (or `error <why>`,
 * changing nothing) once applied, routes numbered from 0 in the order of
 * the `--to`s and given as a list `<route>,<route>…`:
 *
 * - `cut silent|reset|hang <routes>`
 * - `delay <routes> <oneWayMs> [<jitterMs>]` (integers, 0..10000)
 * - `rate <routes> <bytesPerSecond>` (0: no limit)
 * - `heal [<routes>]` (every route when none is given)
 *
 * {@link DelayProxy.start} does all that from another program. Only
 * 127.0.0.1 is ever used.
 *
 * @module
 */

import { mulberry32 } from "../src/prng.ts";

/** Most bytes waiting for their delivery time per direction of one connection. */
export const queuedBytesMaxDefault = 64 * 1024 * 1024;

/** Longest the proxy process may take to print its ports, ms. */
export const proxyStartMsMax = 30_000;

/** Largest one-way delay (and jitter) a route takes, ms. */
export const oneWayMsMax = 10_000;

/**
 * Longest a rate-limited direction of a route lets bytes queue for its
 * wire, ms at its rate: beyond it the proxy stops reading, so the senders'
 * socket buffers fill (a router's queue, not a bufferbloat of minutes).
 */
export const wireQueueMsMax = 250;

/** Bytes read from a socket at once. */
const readBytesMax = 64 * 1024;

const host = "127.0.0.1";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** How a cut route treats its connections (see the module doc). */
export type CutMode = "silent" | "reset" | "hang";

/** The route was cut by `reset`: its connections end. */
class RouteReset extends Error {
  override name = "RouteReset";
}

/** How a route shapes what passes it: its delay, jitter and rate (see the module doc). */
export interface Shape {
  /** Least one-way delay of each chunk, ms (`0..oneWayMsMax`). */
  oneWayMs: number;
  /** Each chunk's delay is `oneWayMs` plus a uniform draw in `[0, jitterMs)`, ms. */
  jitterMs: number;
  /** Bytes per second each direction of the route carries, shared by its connections; 0: no limit. */
  bytesPerSecond: number;
}

/**
 * Whether one route passes bytes and connections (open, or cut `silent`,
 * `reset` or `hang`), how it shapes them ({@link Shape}), and the
 * connections it holds (both sides of each), which a reset closes.
 */
export class RouteGate {
  #mode: "open" | CutMode = "open";
  /** Waits for bytes to pass (released by a heal or a `hang`). */
  #waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** Waits of new connections to reach the target (released by a heal only). */
  #connectWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** The route's connections, client and target sides. */
  readonly conns = new Set<Deno.Conn>();
  /** What a heal restores. */
  readonly #initial: Shape;
  #shape: Shape;
  readonly #random: () => number;
  /**
   * When the wire of each direction (0: towards the target, 1: back) is free
   * again, performance.now(): a rate-limited route sends one chunk at a time.
   */
  readonly wireFreeAt = [0, 0];

  /** A route delaying each chunk `oneWayMs`, its jitter drawn from `seed`. */
  constructor(oneWayMs = 0, seed = 0) {
    this.#initial = { oneWayMs, jitterMs: 0, bytesPerSecond: 0 };
    this.#shape = { ...this.#initial };
    this.#random = mulberry32(seed);
  }

  get mode(): "open" | CutMode {
    return this.#mode;
  }

  /** Whether bytes pass on the route's connections now (open, or hung: old connections work). */
  get passes(): boolean {
    return this.#mode === "open" || this.#mode === "hang";
  }

  get shape(): Readonly<Shape> {
    return this.#shape;
  }

  /** Sets the route's delay and jitter (the rate stays); chunks read from now on take it. */
  delay(oneWayMs: number, jitterMs = 0): void {
    this.#shape = { ...this.#shape, oneWayMs, jitterMs };
  }

  /** Limits each direction to `bytesPerSecond` (0: no limit). */
  rate(bytesPerSecond: number): void {
    this.#shape = { ...this.#shape, bytesPerSecond };
  }

  /** The delay of a chunk read now, ms: `oneWayMs` plus its jitter draw. */
  drawDelayMs(): number {
    const { oneWayMs, jitterMs } = this.#shape;
    return jitterMs > 0 ? oneWayMs + this.#random() * jitterMs : oneWayMs;
  }

  /**
   * Resolves once bytes may pass: at once while open or hung, at the heal
   * (or a `hang`) while cut silently; rejects while (or once) the route is
   * cut by reset.
   */
  wait(): Promise<void> {
    if (this.passes) return Promise.resolve();
    if (this.#mode === "reset") return Promise.reject(new RouteReset());
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /**
   * Resolves once a new connection may reach the target: at once while
   * open, at the heal while cut `silent` or `hang`; rejects on a reset.
   */
  waitConnect(): Promise<void> {
    if (this.#mode === "open") return Promise.resolve();
    if (this.#mode === "reset") return Promise.reject(new RouteReset());
    return new Promise((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
  }

  /** Cuts the route; a reset closes its connections now. */
  cut(mode: CutMode): void {
    this.#mode = mode;
    if (mode === "silent") return;
    if (mode === "hang") {
      for (const w of this.#waiters.splice(0)) w.resolve();
      return;
    }
    for (const w of [...this.#waiters.splice(0), ...this.#connectWaiters.splice(0)]) {
      w.reject(new RouteReset());
    }
    for (const c of this.conns) closeQuietly(c);
  }

  /**
   * Opens the route again and restores its shape as started (delay, no
   * jitter, no rate limit): held bytes and connections go on.
   */
  heal(): void {
    this.#mode = "open";
    this.#shape = { ...this.#initial };
    for (const w of [...this.#waiters.splice(0), ...this.#connectWaiters.splice(0)]) w.resolve();
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
 * Copies `from` to `to` in direction `dir` of `gate`'s route (0: towards
 * the target), each chunk delivered once it crossed the route's wire (at
 * its rate, after the chunks before it on any connection of the route)
 * and its delay (`oneWayMs` and a jitter draw), never before the chunk
 * before it: in order. Passes the end of the stream on as a half-close of
 * `to`. While `gate` is cut silently it neither reads nor writes (bytes
 * read just before wait); a reset rejects. Resolves at the end of the
 * stream; rejects on a read or write error.
 */
async function pipeDelayed(
  from: Deno.Conn,
  to: Deno.Conn,
  dir: 0 | 1,
  queuedBytesMax: number,
  gate: RouteGate,
): Promise<void> {
  const queue: Chunk[] = [];
  let queuedBytes = 0;
  let readError: unknown;
  let wakeWriter: (() => void) | undefined;
  let wakeReader: (() => void) | undefined;
  let writerDone = false;
  /** When the last chunk read is due: none is due before it (TCP delivers in order). */
  let lastDueMs = 0;
  const reader = (async () => {
    const buf = new Uint8Array(readBytesMax);
    try {
      for (;;) {
        while (queuedBytes >= queuedBytesMax && !writerDone) {
          await new Promise<void>((r) => wakeReader = r);
        }
        if (writerDone) return;
        if (!gate.passes) await gate.wait();
        // A thin wire: its queue holds at most wireQueueMsMax of bytes; meanwhile
        // nothing is read, and the sender's socket buffers fill.
        let rate = gate.shape.bytesPerSecond;
        while (rate > 0 && gate.wireFreeAt[dir] - performance.now() > wireQueueMsMax) {
          await sleep(Math.max(1, gate.wireFreeAt[dir] - performance.now() - wireQueueMsMax));
          rate = gate.shape.bytesPerSecond;
        }
        // At a limited rate, chunks of about 20 ms of it, so bytes trickle as over a thin link.
        const size = rate > 0
          ? Math.min(readBytesMax, Math.max(512, Math.floor(rate / 50)))
          : readBytesMax;
        const n = await from.read(buf.subarray(0, size));
        const now = performance.now();
        let sentMs = now;
        if (n !== null && gate.shape.bytesPerSecond > 0) {
          const start = Math.max(now, gate.wireFreeAt[dir]);
          gate.wireFreeAt[dir] = start + n * 1000 / gate.shape.bytesPerSecond;
          sentMs = gate.wireFreeAt[dir];
        }
        const dueMs = Math.max(lastDueMs, sentMs + gate.drawDelayMs());
        lastDueMs = dueMs;
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
        // A chunk read meanwhile is due no earlier (in order): the head decides.
        await sleep(Math.ceil(waitMs));
        continue;
      }
      if (!gate.passes) {
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
 * refuses is closed. `gate` cuts, heals and shapes the route (see the
 * module doc).
 */
export async function serveRoute(
  listener: Deno.TcpListener,
  targetPort: number,
  gate: RouteGate = new RouteGate(),
  queuedBytesMax = queuedBytesMaxDefault,
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
          if (gate.mode !== "open") {
            // Hung, the connection never reaches its target: a heal closes it
            // (a connect that timed out), so a request its client gave up on
            // is never delivered. Cut silently, it reaches its target once healed.
            const hung = gate.mode === "hang";
            await gate.waitConnect();
            if (hung) return;
          }
          target = await Deno.connect({ hostname: host, port: targetPort });
          open.add(target);
          for (const c of [client, target]) {
            try {
              c.setNoDelay(true);
            } catch { /* not a TCP socket */ }
          }
          const t = target;
          const ends = [
            pipeDelayed(client, t, 0, queuedBytesMax, gate),
            pipeDelayed(t, client, 1, queuedBytesMax, gate),
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
   * Cuts `routes` (indexes into {@link ports}) all at once, `silent`, by
   * `reset` or `hang` (see the module doc); resolves once the proxy has cut
   * them. A cut route stays cut, in the last mode given, until {@link heal}ed.
   */
  cut(routes: readonly number[], mode: CutMode = "silent"): Promise<void> {
    this.#checkRoutes(routes);
    if (routes.length === 0) return Promise.resolve();
    return this.#command(`cut ${mode} ${routes.join(",")}`);
  }

  /**
   * Sets the one-way delay of `routes` to `oneWayMs` plus a jitter drawn
   * in `[0, jitterMs)` for each chunk (in order on each connection: see
   * the module doc); resolves once the proxy has. Requires both in
   * `0..oneWayMsMax`.
   */
  delay(routes: readonly number[], oneWayMs: number, jitterMs = 0): Promise<void> {
    this.#checkRoutes(routes);
    for (const ms of [oneWayMs, jitterMs]) {
      if (!(Number.isInteger(ms) && ms >= 0 && ms <= oneWayMsMax)) {
        throw new RangeError(`Cannot delay by ${ms} ms: expected an integer 0..${oneWayMsMax}`);
      }
    }
    if (routes.length === 0) return Promise.resolve();
    return this.#command(`delay ${routes.join(",")} ${oneWayMs} ${jitterMs}`);
  }

  /**
   * Limits each direction of `routes` to `bytesPerSecond` (0: no limit),
   * shared by the route's connections; resolves once the proxy has.
   */
  rate(routes: readonly number[], bytesPerSecond: number): Promise<void> {
    this.#checkRoutes(routes);
    if (!(Number.isSafeInteger(bytesPerSecond) && bytesPerSecond >= 0)) {
      throw new RangeError(`Cannot limit a route to ${bytesPerSecond} bytes/s`);
    }
    if (routes.length === 0) return Promise.resolve();
    return this.#command(`rate ${routes.join(",")} ${bytesPerSecond}`);
  }

  /**
   * Heals `routes` (every route when omitted) all at once: open again, and
   * shaped as started (the start's delay, no jitter, no rate limit);
   * resolves once the proxy has.
   */
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
   * listens. Route `r`'s jitter draws come from `seed` and `r`. Requires
   * `0 <= oneWayMs <= 10_000`.
   */
  static async start(targetPorts: number[], oneWayMs: number, seed = 0): Promise<DelayProxy> {
    if (!(oneWayMs >= 0 && oneWayMs <= oneWayMsMax)) {
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
        "--seed",
        String(seed >>> 0),
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
 * `error <why>` for a line it cannot take (and then changes nothing).
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
  const msOf = (w: string | undefined) => {
    const ms = Number(w ?? "0");
    return /^\d+$/.test(w ?? "0") && ms <= oneWayMsMax ? ms : undefined;
  };
  if (
    words[0] === "cut" && (words[1] === "silent" || words[1] === "reset" || words[1] === "hang") &&
    words.length === 3
  ) {
    const routes = routesOf(words[2]);
    if (routes === undefined) return `error no such route in ${words[2]}`;
    for (const r of routes) gates[r].cut(words[1]);
    return "ok";
  }
  if (words[0] === "delay" && (words.length === 3 || words.length === 4)) {
    const routes = routesOf(words[1]);
    if (routes === undefined) return `error no such route in ${words[1]}`;
    const [oneWayMs, jitterMs] = [msOf(words[2]), msOf(words[3])];
    if (oneWayMs === undefined || jitterMs === undefined) {
      return `error delay and jitter must be integers 0..${oneWayMsMax} ms`;
    }
    for (const r of routes) gates[r].delay(oneWayMs, jitterMs);
    return "ok";
  }
  if (words[0] === "rate" && words.length === 3) {
    const routes = routesOf(words[1]);
    if (routes === undefined) return `error no such route in ${words[1]}`;
    const rate = Number(words[2]);
    if (!/^\d+$/.test(words[2]) || !Number.isSafeInteger(rate)) {
      return "error a rate is an integer of bytes per second (0: no limit)";
    }
    for (const r of routes) gates[r].rate(rate);
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

/** The seed of route `r`'s jitter draws, from the proxy's `seed`. */
export function routeSeed(seed: number, r: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(r + 1, 0x85ebca6b)) >>> 0;
}

function parseArgs(args: string[]): { oneWayMs: number; seed: number; targets: number[] } {
  let oneWayMs = NaN;
  let seed = 0;
  const targets: number[] = [];
  for (let i = 0; i < args.length; i += 2) {
    const value = Number(args[i + 1]);
    if (args[i] === "--one-way-ms") oneWayMs = value;
    else if (args[i] === "--seed") seed = value;
    else if (args[i] === "--to") targets.push(value);
    else throw new Error(`Unknown argument ${args[i]}`);
  }
  if (!(oneWayMs >= 0 && oneWayMs <= oneWayMsMax)) {
    throw new Error(`--one-way-ms must be 0..${oneWayMsMax}`);
  }
  if (!Number.isSafeInteger(seed)) throw new Error("--seed must be an integer");
  if (targets.length === 0 || !targets.every((p) => Number.isInteger(p) && p > 0 && p < 65536)) {
    throw new Error("--to <port> (1..65535) at least once");
  }
  return { oneWayMs, seed, targets };
}

if (import.meta.main) {
  let parsed: { oneWayMs: number; seed: number; targets: number[] };
  try {
    parsed = parseArgs(Deno.args);
  } catch (e) {
    console.error(
      `${(e as Error).message}\nusage: deno run --allow-net bench/_delay_proxy.ts ` +
        `--one-way-ms <ms> [--seed <n>] --to <port> [--to <port> …]`,
    );
    Deno.exit(2);
  }
  const listeners = parsed.targets.map(() => Deno.listen({ hostname: host, port: 0 }));
  const gates = listeners.map((_, i) => new RouteGate(parsed.oneWayMs, routeSeed(parsed.seed, i)));
  for (let i = 0; i < listeners.length; i++) {
    void serveRoute(listeners[i], parsed.targets[i], gates[i]);
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
