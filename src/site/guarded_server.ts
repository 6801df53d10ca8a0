/**
 * An HTTP(S) listener that bounds what a connection may hold, for servers
 * that face devices on the Internet (a gateway by default; a site that opts
 * in with `clientConnections`).
 *
 * Deno's own server (`Deno.serve`) has no connection timeouts: a client that
 * sends its headers a byte at a time, connects and sends nothing, stops
 * mid-body or keeps an idle connection holds a file descriptor for as long
 * as it likes, so a few thousand such clients take a server off the air.
 * This listener is Node's `http`/`https` server as Deno provides it, which
 * hands over each connection's socket, with the deadlines kept here, per
 * connection, as a small state machine:
 *
 * - **headers**: a new connection (its TLS handshake included) must deliver
 *   its first request's headers within `headersTimeoutMs`, however slowly
 *   it trickles them;
 * - **body**: while a request's body arrives, no pause longer than
 *   `idleTimeoutMs`;
 * - **waiting for the answer**: no deadline (a `wait=commit` submission may
 *   wait a minute, an event stream lasts hours);
 * - **keep-alive**: after an answer, the next request's headers within
 *   `keepAliveTimeoutMs`, or the connection is closed;
 * - at most `maxConnections` connections, and `maxConnectionsPerAddress`
 *   from one client address; a connection beyond either is closed at once.
 *
 * A renewed TLS certificate is put in service in place (`setTls`): new
 * connections get it at once, with no gap in which the address refuses.
 *
 * The price is CPU: a minimal endpoint costs about 63 µs per request here
 * against Deno's 15 (BENCHMARKS.md, the floor section; Node's server as
 * Deno provides it is most of it), which is why sites keep Deno's server
 * and face devices through gateways.
 *
 * @module
 */
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { z } from "zod";
import { concatBytes, utf8Encode } from "../../sdk/encoding.ts";
import { knownProblem, PROBLEM_MEDIA_TYPE, problemBody } from "../api/problem.ts";
import type { ServeTls } from "./tls.ts";

/** The deadlines and caps of a {@link GuardedServer}. */
export interface ConnectionLimits {
  /** A new connection's TLS handshake and first request headers within this, ms. */
  headersTimeoutMs: number;
  /** Longest pause while a request body arrives, ms. */
  idleTimeoutMs: number;
  /** Longest an idle kept-alive connection waits for its next request's headers, ms. */
  keepAliveTimeoutMs: number;
  /** Open connections at most; one more is closed at once. */
  maxConnections: number;
  /** Open connections from one client address at most. */
  maxConnectionsPerAddress: number;
}

/** The defaults: what a gateway facing devices uses unless its config says otherwise. */
export const defaultConnectionLimits: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  keepAliveTimeoutMs: 60_000,
  maxConnections: 20_000,
  maxConnectionsPerAddress: 1024,
};

/**
 * Each limit's config schema, bounded and defaulting to
 * {@link defaultConnectionLimits}: a gateway's `client…` keys and a site's
 * `clientConnections` are made of these.
 */
export const connectionLimitSchemas = {
  headersTimeoutMs: z.number().int().min(100).max(300_000)
    .default(defaultConnectionLimits.headersTimeoutMs),
  idleTimeoutMs: z.number().int().min(100).max(3_600_000)
    .default(defaultConnectionLimits.idleTimeoutMs),
  keepAliveTimeoutMs: z.number().int().min(100).max(3_600_000)
    .default(defaultConnectionLimits.keepAliveTimeoutMs),
  // A site's peers hold connections too: never fewer than a few.
  maxConnections: z.number().int().min(16).max(1_000_000)
    .default(defaultConnectionLimits.maxConnections),
  maxConnectionsPerAddress: z.number().int().min(4).max(1_000_000)
    .default(defaultConnectionLimits.maxConnectionsPerAddress),
};

/** Why the server closed connections, as `/metrics` labels them. */
export const CUT_REASONS = [
  "headers",
  "body",
  "keepalive",
  "max_connections",
  "max_per_address",
] as const;

/** Why a connection was closed by the server rather than by its client. */
export type CutReason = typeof CUT_REASONS[number];

/** What starts a {@link GuardedServer}. */
export interface GuardedServerOptions {
  hostname: string;
  port: number;
  tls?: ServeTls;
  limits: ConnectionLimits;
  handler: Deno.ServeHandler;
  /** Answers a handler that threw, and hears a response body that failed part-way. */
  onError: (error: unknown) => Response | Promise<Response>;
  /**
   * Paths whose request bodies may pause without limit (a site's peer
   * streams, which are quiet between Raft messages); the body deadline
   * spares them. Other deadlines and the caps still apply.
   */
  quietBodies?: (path: string) => boolean;
}

/** Per-connection state, on the socket the requests arrive on. */
interface Guard {
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Requests on this connection whose answers are not finished. */
  active: number;
  /** While a request body arrives: the socket's idle timeout is the body deadline. */
  readingBody: boolean;
}

const GUARD = Symbol("edgeledger.guard");
type GuardedSocket = Socket & { [GUARD]?: Guard };

/** Node's `http`/`https` server with per-connection deadlines and caps. */
export class GuardedServer {
  /** The address it listens on. */
  readonly addr: Deno.NetAddr;
  readonly #server: http.Server | https.Server;
  readonly #limits: ConnectionLimits;
  /** Accepted connections (for TLS, the TCP sockets under the handshakes). */
  readonly #sockets = new Set<Socket>();
  /** The sockets requests arrive on (for TLS, those of finished handshakes). */
  readonly #guarded = new Set<GuardedSocket>();
  readonly #perAddress = new Map<string, number>();
  readonly #cuts = new Map<CutReason, number>();
  #active = 0;
  #idleWaiters: (() => void)[] = [];
  #closing = false;
  #closed: Promise<void> = Promise.resolve();

  private constructor(
    server: http.Server | https.Server,
    limits: ConnectionLimits,
    addr: Deno.NetAddr,
  ) {
    this.#server = server;
    this.#limits = limits;
    this.addr = addr;
  }

  /**
   * Listens; resolves once it does. An address in use rejects with
   * `Deno.errors.AddrInUse`, as `Deno.serve` throws; a certificate and key
   * that do not match throw at once.
   */
  static async listen(options: GuardedServerOptions): Promise<GuardedServer> {
    const { limits } = options;
    const server = options.tls === undefined ? http.createServer() : https.createServer({
      cert: options.tls.cert,
      key: options.tls.key,
      handshakeTimeout: limits.headersTimeoutMs,
    });
    // Node's own request clocks are not relied on (its headers timeout does
    // not hold against a trickle here); the guards below are.
    server.requestTimeout = 0;
    server.headersTimeout = 0;
    server.keepAliveTimeout = 0;
    const guarded = await new Promise<GuardedServer>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) => reject(listenError(e)));
      server.listen(options.port, options.hostname, () => {
        const a = server.address();
        if (a === null || typeof a === "string") {
          reject(new Error("listening, but on no TCP address"));
          return;
        }
        resolve(
          new GuardedServer(server, limits, {
            transport: "tcp",
            hostname: a.address,
            port: a.port,
          }),
        );
      });
    });
    guarded.#wire(options);
    return guarded;
  }

  #wire(options: GuardedServerOptions): void {
    const server = this.#server;
    const limits = this.#limits;
    server.on("error", () => {}); // after listening: per-connection errors are the sockets'
    // What Node's HTTP parser refuses (a method it does not know, such as
    // TRACK or a lower-case "get"; a malformed head) is answered as the API
    // answers a bad request, a problem document, and the connection closed.
    server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
      // Anything else (a reset, a TLS handshake that timed out) just closes.
      if (!socket.writable || !error.code?.startsWith("HPE_")) {
        socket.destroy();
        return;
      }
      // Half-closed: a client that keeps its side open meets its headers deadline.
      socket.end(badRequestText(error));
    });
    server.on("connection", (socket: Socket) => this.#accepted(socket));
    // A plain connection's requests arrive on the socket accepted; a TLS
    // one's on the socket its handshake made, which is guarded from then.
    const requestSocket = options.tls === undefined ? "connection" : "secureConnection";
    server.on(requestSocket, (socket: GuardedSocket) => {
      if (socket.destroyed) return; // over a cap
      const guard: Guard = { timer: undefined, active: 0, readingBody: false };
      socket[GUARD] = guard;
      this.#guarded.add(socket);
      // One listener per connection; each body only sets the socket's clock.
      socket.on("timeout", () => {
        if (guard.readingBody) this.#cut(socket, "body");
      });
      socket.once("close", () => {
        this.#disarm(socket);
        this.#guarded.delete(socket);
      });
      this.#arm(socket, limits.headersTimeoutMs, "headers");
    });
    server.on("request", (incoming: http.IncomingMessage, outgoing: http.ServerResponse) => {
      const socket = incoming.socket as GuardedSocket;
      const guard = socket[GUARD];
      if (guard !== undefined) {
        this.#disarm(socket);
        guard.active++;
        this.#active++;
        // While a body arrives: no pause beyond the idle limit.
        const quiet = options.quietBodies?.((incoming.url ?? "/").split("?")[0]) ?? false;
        if (hasBody(incoming) && !incoming.complete && !quiet) {
          guard.readingBody = true;
          socket.setTimeout(limits.idleTimeoutMs);
          incoming.once("end", () => {
            guard.readingBody = false;
            socket.setTimeout(0);
          });
        }
        outgoing.once("close", () => {
          if (guard.readingBody) {
            guard.readingBody = false;
            socket.setTimeout(0);
          }
          guard.active--;
          this.#active--;
          if (guard.active === 0 && !socket.destroyed) {
            if (this.#closing) socket.end();
            else this.#arm(socket, limits.keepAliveTimeoutMs, "keepalive");
          }
          if (this.#active === 0) { for (const w of this.#idleWaiters.splice(0)) w(); }
        });
      }
      void this.#serve(options, incoming, outgoing);
    });
  }

  /** Counts a new connection and closes it when over a cap. */
  #accepted(socket: Socket): void {
    const address = socket.remoteAddress ?? "";
    const fromAddress = this.#perAddress.get(address) ?? 0;
    if (this.#closing) {
      socket.destroy();
      return;
    }
    if (this.#sockets.size >= this.#limits.maxConnections) {
      this.#count("max_connections");
      socket.destroy();
      return;
    }
    if (fromAddress >= this.#limits.maxConnectionsPerAddress) {
      this.#count("max_per_address");
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    this.#perAddress.set(address, fromAddress + 1);
    socket.once("close", () => {
      this.#sockets.delete(socket);
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(address, left);
      else this.#perAddress.delete(address);
    });
  }

  /**
   * One request: a web `Request` made of Node's message (its body streamed
   * with backpressure, its signal aborted when the client goes before the
   * answer is done), the handler's `Response` written back the same way. A
   * handler that throws is answered by `onError`; a response body that
   * fails part-way is told to `onError` and ends the connection, so the
   * client sees a cut answer, never a short one that looks whole.
   */
  async #serve(
    options: GuardedServerOptions,
    incoming: http.IncomingMessage,
    outgoing: http.ServerResponse,
  ): Promise<void> {
    // One listener for the answer's end: the handler's `completed`, the
    // request's signal (aborted when the client went first), the writer's stop.
    const closed = new Promise<void>((resolve) => outgoing.once("close", () => resolve()));
    const gone = new AbortController();
    void closed.then(() => {
      if (!outgoing.writableFinished) gone.abort(new Error("the client closed the connection"));
    });
    const socket = incoming.socket;
    const method = incoming.method ?? "GET";
    const scheme = options.tls === undefined ? "http" : "https";
    const host = incoming.headers.host ?? `${this.addr.hostname}:${this.addr.port}`;
    const target = incoming.url ?? "/";
    // A path, or the absolute form a proxy may send; anything else ("*") is not a resource here.
    const absolute = /^https?:\/\//i.test(target);
    if (!target.startsWith("/") && !absolute) {
      socket.end(badRequestText({ code: "not a resource path" } as NodeJS.ErrnoException));
      return;
    }
    let res: Response;
    try {
      const headers = new Headers();
      const raw = incoming.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
      const upper = method.toUpperCase();
      const withBody = hasBody(incoming) && method !== "GET" && method !== "HEAD";
      // A Request keeps its method as sent, as Deno's server gives it: one
      // Fetch would refuse (TRACE) or rewrite ("get" → "GET") is made with
      // a stand-in and then shown as sent, so routing sees what came.
      const standIn = FORBIDDEN_METHODS.has(upper) || (NORMALIZED_METHODS.has(upper) &&
        method !== upper) ||
        ((upper === "GET" || upper === "HEAD") && withBody);
      const req = new Request(absolute ? target : `${scheme}://${host}${target}`, {
        method: standIn ? (withBody ? "POST" : "GET") : method,
        headers,
        body: withBody ? await requestBody(incoming) : null,
        signal: gone.signal,
        // @ts-ignore: a streamed request body needs it (Fetch's RequestInit.duplex)
        duplex: "half",
      });
      if (standIn) Object.defineProperty(req, "method", { value: method });
      const info: Deno.ServeHandlerInfo<Deno.NetAddr> = {
        remoteAddr: {
          transport: "tcp",
          hostname: socket.remoteAddress ?? "",
          port: socket.remotePort ?? 0,
        },
        completed: closed,
      };
      res = await options.handler(req, info);
    } catch (e) {
      try {
        res = await options.onError(e);
      } catch {
        res = new Response(null, { status: 500 });
      }
    }
    if (outgoing.destroyed) {
      await res.body?.cancel().catch(() => {});
      return;
    }
    const head: Record<string, string | string[]> = {};
    res.headers.forEach((value, name) => {
      if (name !== "set-cookie") head[name] = value;
    });
    const cookies = res.headers.getSetCookie();
    if (cookies.length > 0) head["set-cookie"] = cookies;
    try {
      outgoing.writeHead(res.status, res.statusText || undefined, head);
    } catch (e) {
      // A head Node will not write (a status outside 100–999): the handler's bug, reported.
      void Promise.resolve(options.onError(e)).catch(() => {});
      await res.body?.cancel().catch(() => {});
      outgoing.destroy();
      return;
    }
    if (res.body === null || method === "HEAD") {
      await res.body?.cancel().catch(() => {});
      outgoing.end();
      return;
    }
    const reader = res.body.getReader();
    void closed.then(() => reader.cancel().catch(() => {}));
    // A body already in memory leaves with its head in one write; one whose
    // first bytes are not there within a few microtasks (a peer stream's
    // answer, a quiet event stream) gets its head sent now, as Deno's
    // server sends it.
    let next: Promise<ReadableStreamReadResult<Uint8Array>> | undefined = reader.read();
    const ready = await Promise.race([
      next.then(() => true, () => true),
      Promise.resolve().then(() => Promise.resolve()).then(() => false),
    ]);
    if (!ready) outgoing.flushHeaders();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await (next ?? reader.read());
        next = undefined;
      } catch (e) {
        if (outgoing.destroyed) return; // the client left: not the body's fault
        void Promise.resolve(options.onError(e)).catch(() => {});
        outgoing.destroy();
        return;
      }
      if (chunk.done) break;
      if (outgoing.destroyed) return;
      if (!outgoing.write(chunk.value)) {
        await Promise.race([new Promise((r) => outgoing.once("drain", r)), closed]);
      }
    }
    outgoing.end();
    // A body the handler left unread is not drained for another request.
    if (!incoming.complete) outgoing.once("finish", () => socket.destroy());
  }

  #arm(socket: GuardedSocket, ms: number, reason: CutReason): void {
    const guard = socket[GUARD];
    if (guard === undefined) return;
    clearTimeout(guard.timer);
    guard.timer = setTimeout(() => this.#cut(socket, reason), ms);
  }

  #disarm(socket: GuardedSocket): void {
    const guard = socket[GUARD];
    if (guard === undefined) return;
    clearTimeout(guard.timer);
    guard.timer = undefined;
  }

  #cut(socket: GuardedSocket, reason: CutReason): void {
    this.#disarm(socket);
    // Node's server may have closed it on the same timeout: still this cut.
    this.#count(reason);
    socket.destroy();
  }

  #count(reason: CutReason): void {
    this.#cuts.set(reason, (this.#cuts.get(reason) ?? 0) + 1);
  }

  /** Connections open now. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** Connections the server closed, by why. */
  cuts(): ReadonlyMap<CutReason, number> {
    return this.#cuts;
  }

  /**
   * Serves `tls` to new connections from now on; open connections keep the
   * certificate they began with. Throws when Node refuses the pair.
   */
  setTls(tls: ServeTls): void {
    (this.#server as https.Server).setSecureContext({ cert: tls.cert, key: tls.key });
  }

  /**
   * Stops accepting, closes idle connections, lets requests in flight
   * finish (a long-lived one, such as an event stream, until it ends), and
   * resolves once every connection is closed.
   */
  async shutdown(): Promise<void> {
    if (this.#closing) return await this.#closed;
    this.#closing = true;
    this.#closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#guarded) {
      if (socket[GUARD]!.active === 0) socket.destroy();
    }
    // Connections still in their TLS handshake or before their first
    // request go with the last answer (or by their headers deadline).
    if (this.#active > 0) await new Promise<void>((r) => this.#idleWaiters.push(r));
    for (const socket of [...this.#guarded, ...this.#sockets]) socket.destroy();
    await this.#closed;
  }
}

/** Largest body read whole before the handler runs, bytes; a larger or chunked one streams. */
const BUFFERED_BODY_BYTES_MAX = 64 * 1024;

/**
 * A request's body for its `Request`: a small one with a stated length read
 * whole first (cheaper than a stream, and the handler is the same), any
 * other streamed ({@link bodyOf}). A client that leaves before its body is
 * in gets a stream failing as {@link bodyOf}'s would, for the handler to say so.
 */
async function requestBody(
  incoming: http.IncomingMessage,
): Promise<Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>> {
  const length = Number(incoming.headers["content-length"]);
  const chunked = incoming.headers["transfer-encoding"] !== undefined;
  if (chunked || !(length <= BUFFERED_BODY_BYTES_MAX)) return bodyOf(incoming);
  const chunks: Uint8Array[] = [];
  const whole = await new Promise<boolean>((resolve) => {
    incoming.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    incoming.once("end", () => resolve(true));
    incoming.once("error", () => resolve(false));
    incoming.once("close", () => resolve(incoming.complete));
  });
  if (!whole) {
    // What came, then the failure, as the stream would have given them (a
    // body read up to a failure counts as used; one failing at once would not).
    return new ReadableStream({
      start(controller) {
        for (const chunk of chunks.length > 0 ? chunks : [new Uint8Array(0)]) {
          controller.enqueue(chunk);
        }
      },
      pull(controller) {
        controller.error(new Deno.errors.BadResource("the client closed the connection mid-body"));
      },
    });
  }
  return concatBytes(...chunks) as Uint8Array<ArrayBuffer>;
}

/**
 * A Node request body as a web stream: chunks as they come, the socket
 * paused while the handler has not read what it holds (64 KiB). Once the
 * handler stops reading (cancels the stream: a peer stream that a newer one
 * replaced), the rest of the body is drained and dropped — a stream that
 * ended takes nothing more, and its end is no error.
 */
function bodyOf(incoming: http.IncomingMessage): ReadableStream<Uint8Array> {
  let ended = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      incoming.on("data", (chunk: Uint8Array) => {
        if (ended) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) incoming.pause();
      });
      incoming.once("end", () => {
        if (ended) return;
        ended = true;
        controller.close();
      });
      // As Deno's server says it (the API tells a client that left by it).
      const left = () => {
        if (ended) return;
        ended = true;
        controller.error(new Deno.errors.BadResource("the client closed the connection mid-body"));
      };
      incoming.once("error", left);
      incoming.once("close", () => {
        if (!incoming.complete) left();
      });
    },
    pull() {
      incoming.resume();
    },
    cancel() {
      ended = true;
      incoming.resume();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }));
}

/** The whole answer to a request Node's parser refused: 400, a `validation` problem. */
function badRequestText(error: NodeJS.ErrnoException): string {
  const requestId = crypto.randomUUID();
  const body = JSON.stringify(problemBody(
    knownProblem(
      "validation",
      `The request is not HTTP/1.1 this server reads (${error.code ?? "parse error"})`,
    ),
    "",
    requestId,
  ));
  return `HTTP/1.1 400 Bad Request\r\nContent-Type: ${PROBLEM_MEDIA_TYPE}\r\n` +
    `Content-Length: ${utf8Encode(body).length}\r\nX-Request-Id: ${requestId}\r\n` +
    `Cache-Control: no-store\r\nConnection: close\r\n\r\n${body}`;
}

/** Methods a Fetch `Request` refuses. */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
/** Methods a Fetch `Request` upper-cases. */
const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);

/** Whether a request carries a body (a length above 0, or chunks). */
function hasBody(incoming: http.IncomingMessage): boolean {
  const length = incoming.headers["content-length"];
  return incoming.headers["transfer-encoding"] !== undefined ||
    (length !== undefined && length !== "0");
}

/** Node's listen error as `Deno.serve` would throw it, so callers handle both alike. */
function listenError(e: NodeJS.ErrnoException): Error {
  if (e.code === "EADDRINUSE") return new Deno.errors.AddrInUse(e.message);
  if (e.code === "EADDRNOTAVAIL") return new Deno.errors.AddrNotAvailable(e.message);
  if (e.code === "EACCES") return new Deno.errors.PermissionDenied(e.message);
  return e;
}
