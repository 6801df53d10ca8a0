/**
 * Load-generation machinery shared by the benches: signing transactions
 * ahead of time on worker threads, a bounded closed-loop HTTP client, a
 * site launched as a child process, and CPU / memory sampling from
 * `/proc`.
 *
 * Everything here is bounded: a closed loop stops at its deadline or when
 * its pre-built requests run out, whichever comes first; samplers keep at
 * most `samplesMax` points; workers sign at most `signBatchTxsMax` per
 * message.
 *
 * This module is also the signing worker's entry point: when it is loaded
 * as a Worker named {@link SIGNER_WORKER_NAME} it answers sign requests
 * (see {@link SignRequest}) instead of exporting anything useful.
 *
 * @module
 */
import {
  createEnvelope,
  type Envelope,
  envelopeSchema,
  signingPayload,
  type UnsignedEnvelope,
  verifyEnvelopeSignatures,
} from "../sdk/envelope.ts";
import { base64urlEncode, hexEncode } from "../sdk/encoding.ts";
import {
  exportKey,
  generateKeyPair,
  type KeyPair,
  type Signer,
  softwareSigner,
} from "../sdk/keys.ts";

/** Signature algorithms the benches sign with. */
export type BenchAlgorithm = "ed25519" | "p256";

/** The name a signing worker is started with; the module checks it to act as the worker. */
export const SIGNER_WORKER_NAME = "edgeledger-bench-signer";

/** Most transactions one worker signs per message, so replies stay a few MB. */
export const signBatchTxsMax = 20_000;

/** Keys per worker and algorithm; transaction `i` is signed by key `i % keysPerWorker`. */
export const keysPerWorker = 16;

/** Validity of pre-signed transactions; the genesis policy allows up to 24 h. */
export const txTtlMs = 6 * 3600 * 1000;

/** One message to a signing worker: sign `count` data.anchor transactions. */
export interface SignRequest {
  id: number;
  algorithm: BenchAlgorithm;
  ledger: string;
  /** Stream names are `${streamPrefix}/${index}` for index in `[firstIndex, firstIndex + count)`. */
  streamPrefix: string;
  firstIndex: number;
  /** Requires `1 <= count <= signBatchTxsMax`. */
  count: number;
}

/** A signing worker's reply: the signed envelopes as JSON text, in index order. */
export type SignReply = { id: number; envelopes: string[] } | { id: number; error: string };

// ---------------------------------------------------------------------------
// Signing (runs in the workers).

/**
 * A {@link Signer} backed by WebCrypto for Ed25519 (deterministic, so the
 * same signature the SDK's software signer makes, about 5x faster than the
 * pure-JS path); other algorithms use the SDK's software signer.
 */
async function benchSigner(keyPair: KeyPair): Promise<Signer> {
  if (keyPair.algorithm !== "ed25519") return softwareSigner(keyPair);
  try {
    const { kid: _kid, ...jwk } = exportKey(keyPair) as unknown as Record<string, string>;
    const key = await crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["sign"]);
    return {
      did: keyPair.did,
      algorithm: "ed25519",
      sign: async (message: Uint8Array) =>
        new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, message as BufferSource)),
    };
  } catch {
    return softwareSigner(keyPair);
  }
}

const workerSigners = new Map<BenchAlgorithm, Signer[]>();

async function signersFor(algorithm: BenchAlgorithm): Promise<Signer[]> {
  let signers = workerSigners.get(algorithm);
  if (signers === undefined) {
    signers = [];
    for (let i = 0; i < keysPerWorker; i++) {
      signers.push(await benchSigner(generateKeyPair(algorithm)));
    }
    workerSigners.set(algorithm, signers);
  }
  return signers;
}

/**
 * Signs the transactions of one {@link SignRequest}: each a `data.anchor`
 * on its own stream with `seq` 0, so no two of them can conflict and any
 * fresh ledger with the same id accepts all of them.
 *
 * The SDK's `signEnvelope()` verifies every signature it makes (a guard
 * against misbehaving hardware signers), which doubles the cost for Ed25519
 * and triples it for P-256; with software keys that guard buys nothing
 * here, so this signs `signingPayload()` directly (the same bytes
 * `signEnvelope()` signs) and checks the first and last envelope of each
 * request with `envelopeSchema` and `verifyEnvelopeSignatures()`.
 */
export async function signTransactions(request: SignRequest): Promise<string[]> {
  if (!(request.count >= 1 && request.count <= signBatchTxsMax)) {
    throw new Error(
      `Cannot sign ${request.count} transactions: the limit is 1..${signBatchTxsMax}`,
    );
  }
  const signers = await signersFor(request.algorithm);
  const out: string[] = new Array(request.count);
  const now = Date.now();
  const root = new Uint8Array(32);
  const nonce = new Uint8Array(16);
  for (let k = 0; k < request.count; k++) {
    const index = request.firstIndex + k;
    const signer = signers[index % signers.length];
    crypto.getRandomValues(root);
    crypto.getRandomValues(nonce);
    const body = {
      stream: `${request.streamPrefix}/${index}`,
      seq: 0,
      root: hexEncode(root),
      count: 60,
      from: now - 60_000,
      to: now,
    };
    // createEnvelope() validates with zod (~250 µs); the first envelope of
    // each request goes through it, the rest copy its exact shape.
    const unsigned: UnsignedEnvelope = k === 0
      ? createEnvelope({
        ledger: request.ledger,
        kind: "data.anchor",
        body,
        signers: [signer.did],
        nonce: base64urlEncode(nonce),
        expiresAt: now + txTtlMs,
      })
      : {
        v: 1,
        ledger: request.ledger,
        kind: "data.anchor",
        body,
        nonce: base64urlEncode(nonce),
        expiresAt: now + txTtlMs,
        signers: [signer.did],
      };
    const sig = await signer.sign(signingPayload(unsigned));
    const signed: Envelope = { ...unsigned, sigs: [base64urlEncode(sig)] };
    if (k === 0 || k === request.count - 1) {
      const check = await verifyEnvelopeSignatures(envelopeSchema.parse(signed) as Envelope);
      if (!check.ok) {
        throw new Error(
          `Cannot pre-sign: a ${request.algorithm} signature does not verify (${check.reason})`,
        );
      }
    }
    out[k] = JSON.stringify(signed);
  }
  return out;
}

interface WorkerScope {
  name?: string;
  onmessage: ((e: MessageEvent<SignRequest>) => void) | null;
  postMessage(message: SignReply): void;
}

const scope = globalThis as unknown as WorkerScope;
if (scope.name === SIGNER_WORKER_NAME) {
  scope.onmessage = (e) => {
    signTransactions(e.data).then(
      (envelopes) => scope.postMessage({ id: e.data.id, envelopes }),
      (err) => scope.postMessage({ id: e.data.id, error: String((err as Error)?.stack ?? err) }),
    );
  };
}

// ---------------------------------------------------------------------------
// The signing pool (runs in the bench driver).

/**
 * A growing list of pre-signed transactions for one algorithm and ledger
 * id, signed on `workers` threads. Transactions are on distinct streams, so
 * the same list can be replayed against every FRESH ledger with that id;
 * within one ledger, each index must be submitted at most once.
 */
export class TxPool {
  readonly algorithm: BenchAlgorithm;
  readonly ledger: string;
  readonly #envelopes: string[] = [];
  readonly #workers: Worker[];
  readonly #streamPrefix: string;
  #nextId = 0;
  readonly #waiting = new Map<
    number,
    { resolve: (v: string[]) => void; reject: (e: Error) => void }
  >();
  /** Seconds spent signing so far (wall time). */
  signSeconds = 0;

  constructor(algorithm: BenchAlgorithm, ledger: string, workers: number) {
    if (!(Number.isInteger(workers) && workers >= 1 && workers <= 64)) {
      throw new Error(`Cannot start ${workers} signing workers: expected 1..64`);
    }
    this.algorithm = algorithm;
    this.ledger = ledger;
    this.#streamPrefix = `bench/${algorithm}/${crypto.randomUUID().slice(0, 8)}`;
    this.#workers = Array.from({ length: workers }, () => {
      const w = new Worker(new URL("./_load.ts", import.meta.url).href, {
        type: "module",
        name: SIGNER_WORKER_NAME,
      });
      w.onmessage = (e: MessageEvent<SignReply>) => {
        const waiter = this.#waiting.get(e.data.id);
        if (waiter === undefined) return;
        this.#waiting.delete(e.data.id);
        if ("error" in e.data) waiter.reject(new Error(`Signing worker failed: ${e.data.error}`));
        else waiter.resolve(e.data.envelopes);
      };
      w.onerror = (e) => {
        e.preventDefault();
        for (const waiter of this.#waiting.values()) {
          waiter.reject(new Error(`Signing worker crashed: ${e.message}`));
        }
        this.#waiting.clear();
      };
      return w;
    });
  }

  /** How many transactions are signed. */
  get size(): number {
    return this.#envelopes.length;
  }

  /** Signed envelope `i` as JSON text. Requires `0 <= i < size`. */
  at(i: number): string {
    return this.#envelopes[i];
  }

  /** The envelopes `[lo, hi)` as JSON texts. Requires `0 <= lo <= hi <= size`. */
  slice(lo: number, hi: number): string[] {
    return this.#envelopes.slice(lo, hi);
  }

  /** Signs more until at least `size` transactions exist (no-op if they already do). */
  async ensure(size: number): Promise<void> {
    if (size <= this.#envelopes.length) return;
    const started = performance.now();
    const missing = size - this.#envelopes.length;
    const chunk = Math.min(signBatchTxsMax, Math.ceil(missing / this.#workers.length));
    const requests: SignRequest[] = [];
    for (let first = this.#envelopes.length; first < size; first += chunk) {
      requests.push({
        id: this.#nextId++,
        algorithm: this.algorithm,
        ledger: this.ledger,
        streamPrefix: this.#streamPrefix,
        firstIndex: first,
        count: Math.min(chunk, size - first),
      });
    }
    // Each worker takes the next request when it finishes one, so a slow
    // worker never holds the rest back.
    const results: string[][] = new Array(requests.length);
    let next = 0;
    await Promise.all(this.#workers.map(async (worker) => {
      while (next < requests.length) {
        const i = next++;
        results[i] = await this.#send(worker, requests[i]);
      }
    }));
    for (const r of results) for (const e of r) this.#envelopes.push(e);
    this.signSeconds += (performance.now() - started) / 1000;
  }

  #send(worker: Worker, request: SignRequest): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.#waiting.set(request.id, { resolve, reject });
      worker.postMessage(request);
    });
  }

  /** Stops the workers. */
  close(): void {
    for (const w of this.#workers) w.terminate();
  }
}

// ---------------------------------------------------------------------------
// Closed-loop HTTP load.

/** Options of {@link runClosedLoop}. */
export interface ClosedLoopOptions {
  /** Full URL to POST to, e.g. `http://127.0.0.1:7001/v1/txs?wait=commit`. */
  url: string;
  /** Request bodies, each sent at most once, in order. */
  bodies: readonly string[];
  /** Transactions in each body (1 for a bare envelope, N for `{txs: [N]}`). */
  txsPerRequest: number;
  /** Concurrent clients, each with one request in flight. Requires 1..4096. */
  concurrency: number;
  /** No client starts a request after this many ms. */
  durationMs: number;
  /** Abort a request after this long, ms (the server's own wait is 10 s). */
  requestTimeoutMs?: number;
}

/** What one closed-loop run observed. */
export interface ClosedLoopResult {
  requests: number;
  /** Receipts with status `committed` (including those whose result was `rejected`). */
  committed: number;
  /** Committed receipts whose `result.status` was `rejected` (apply refused them). */
  rejectedOnApply: number;
  /** Receipts still `pending` when the server's wait ended (202). */
  pending: number;
  /** Receipts `refused` at admission, and failed requests, by cause. */
  errors: Record<string, number>;
  /** Up to a few complete examples of failures: request excerpt and answer. */
  errorExamples: string[];
  /** Latency (ms) of every request that returned at least one committed receipt. */
  latenciesMs: Float64Array;
  /** From the first request's start to the last answer, seconds. */
  wallSeconds: number;
  /** True when the loop stopped because `bodies` ran out before the deadline. */
  exhausted: boolean;
}

const errorExamplesMax = 5;

/**
 * Runs `concurrency` clients that each POST the next unsent body, wait for
 * the answer, and repeat until `durationMs` has passed or the bodies run
 * out. Each client keeps one HTTP/1.1 connection alive
 * ({@link RawHttpConnection}: `fetch` costs the load generator ~150 µs of
 * CPU per request, which on a 2-core machine is taken from the site). Never
 * throws for HTTP or network failures; it counts them.
 */
export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const { url, bodies, txsPerRequest, concurrency, durationMs } = options;
  if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 4096)) {
    throw new Error(`Cannot run ${concurrency} clients: expected 1..4096`);
  }
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const batch = txsPerRequest > 1;
  const latencies = new Float64Array(bodies.length);
  let latencyCount = 0;
  let next = 0;
  let requests = 0;
  let committed = 0;
  let rejectedOnApply = 0;
  let pending = 0;
  const errors: Record<string, number> = {};
  const errorExamples: string[] = [];
  const fail = (cause: string, body: string, answer: string) => {
    errors[cause] = (errors[cause] ?? 0) + 1;
    if (errorExamples.length < errorExamplesMax) {
      errorExamples.push(`${cause}: POST ${url} ${body.slice(0, 160)}… → ${answer.slice(0, 600)}`);
    }
  };
  const target = new URL(url);
  const host = target.hostname;
  const port = Number(target.port || 80);
  const head = `POST ${target.pathname}${target.search} HTTP/1.1\r\nhost: ${target.host}\r\n` +
    `content-type: application/json\r\ncontent-length: `;
  const encoder = new TextEncoder();
  const connections: RawHttpConnection[] = [];
  const started = performance.now();
  const deadline = started + durationMs;

  const client = async () => {
    const connection = new RawHttpConnection(host, port);
    connections.push(connection);
    while (performance.now() < deadline && next < bodies.length) {
      const body = bodies[next++];
      const t0 = performance.now();
      requests++;
      let status = 0;
      let text = "";
      try {
        const bytes = encoder.encode(body);
        const request = new Uint8Array(head.length + 24 + bytes.length);
        const { written } = encoder.encodeInto(`${head}${bytes.length}\r\n\r\n`, request);
        request.set(bytes, written);
        ({ status, body: text } = await connection.request(
          request.subarray(0, written + bytes.length),
          requestTimeoutMs,
        ));
      } catch (e) {
        fail(`network: ${(e as Error).name}`, body, String((e as Error).message));
        continue;
      }
      const t1 = performance.now();
      let answer: Receipt | { receipts: Receipt[] } | undefined;
      try {
        answer = JSON.parse(text);
      } catch {
        fail(`http ${status}: not JSON`, body, text);
        continue;
      }
      const receipts = batch
        ? (answer as { receipts?: Receipt[] }).receipts
        : status === 200 || status === 202
        ? [answer as Receipt]
        : undefined;
      if (!Array.isArray(receipts)) {
        const type = (answer as { type?: string }).type ?? "";
        fail(`http ${status} ${type.replace(/^.*\//, "")}`.trim(), body, `${status} ${text}`);
        continue;
      }
      let ok = 0;
      for (const r of receipts) {
        if (r.status === "committed") {
          ok++;
          if (r.result?.status === "rejected") {
            rejectedOnApply++;
            fail(`rejected on apply: ${r.result.code ?? "?"}`, body, JSON.stringify(r));
          }
        } else if (r.status === "pending") pending++;
        else {fail(
            `refused: ${(r.problem?.type ?? "?").replace(/^.*\//, "")}`,
            body,
            JSON.stringify(r),
          );}
      }
      committed += ok;
      if (ok > 0) latencies[latencyCount++] = t1 - t0;
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, client));
  } finally {
    for (const c of connections) c.close();
  }
  const wallSeconds = (performance.now() - started) / 1000;
  return {
    requests,
    committed,
    rejectedOnApply,
    pending,
    errors,
    errorExamples,
    latenciesMs: latencies.slice(0, latencyCount).sort(),
    wallSeconds,
    exhausted: next >= bodies.length && performance.now() < deadline,
  };
}

/**
 * One keep-alive HTTP/1.1 connection with at most one request in flight,
 * the cheapest client Deno offers: pre-encoded request bytes in, status and
 * body text out. Understands `content-length` and `chunked` answers; a
 * failed or timed-out request closes the connection and the next request
 * opens a new one.
 */
export class RawHttpConnection {
  readonly #host: string;
  readonly #port: number;
  #conn: Deno.TcpConn | undefined;
  #buf = new Uint8Array(64 * 1024);
  #len = 0;
  static readonly #decoder = new TextDecoder();
  static readonly responseBytesMax = 64 * 1024 * 1024;

  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
  }

  /** Sends `request` (a complete HTTP/1.1 request) and reads one answer. */
  async request(request: Uint8Array, timeoutMs: number): Promise<{ status: number; body: string }> {
    const timer = setTimeout(() => this.close(), timeoutMs);
    try {
      if (this.#conn === undefined) {
        this.#conn = await Deno.connect({ hostname: this.#host, port: this.#port });
        this.#conn.setNoDelay(true);
        this.#len = 0;
      }
      const conn = this.#conn;
      for (let off = 0; off < request.length;) off += await conn.write(request.subarray(off));
      return await this.#readResponse(conn);
    } catch (e) {
      this.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  async #fill(conn: Deno.TcpConn): Promise<boolean> {
    if (this.#len === this.#buf.length) {
      if (this.#buf.length >= RawHttpConnection.responseBytesMax) {
        throw new Error("Answer too large");
      }
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
    const n = await conn.read(this.#buf.subarray(this.#len));
    if (n === null) return false;
    this.#len += n;
    return true;
  }

  async #readResponse(conn: Deno.TcpConn): Promise<{ status: number; body: string }> {
    let headEnd = -1;
    while ((headEnd = indexOfCrlfCrlf(this.#buf, this.#len)) < 0) {
      if (!(await this.#fill(conn))) throw new Error("Connection closed before an answer");
    }
    const head = RawHttpConnection.#decoder.decode(this.#buf.subarray(0, headEnd)).toLowerCase();
    const status = Number(head.slice(9, 12));
    const bodyStart = headEnd + 4;
    const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
    let body: Uint8Array;
    let consumed: number;
    if (length !== null) {
      const end = bodyStart + Number(length[1]);
      while (this.#len < end) {
        if (!(await this.#fill(conn))) throw new Error("Connection closed inside an answer");
      }
      body = this.#buf.slice(bodyStart, end);
      consumed = end;
    } else if (/\r\ntransfer-encoding:\s*chunked/.test(head)) {
      const parts: Uint8Array[] = [];
      let at = bodyStart;
      for (;;) {
        let lineEnd: number;
        while ((lineEnd = indexOfCrlf(this.#buf, at, this.#len)) < 0) {
          if (!(await this.#fill(conn))) throw new Error("Connection closed inside a chunk size");
        }
        const size = parseInt(
          RawHttpConnection.#decoder.decode(this.#buf.subarray(at, lineEnd)),
          16,
        );
        if (!Number.isFinite(size)) throw new Error("Bad chunk size");
        const end = lineEnd + 2 + size + 2;
        while (this.#len < end) {
          if (!(await this.#fill(conn))) throw new Error("Connection closed inside a chunk");
        }
        if (size === 0) {
          consumed = end;
          break;
        }
        parts.push(this.#buf.slice(lineEnd + 2, lineEnd + 2 + size));
        at = end;
      }
      body = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
      let off = 0;
      for (const p of parts) {
        body.set(p, off);
        off += p.length;
      }
    } else {
      while (await this.#fill(conn)) { /* read to EOF */ }
      body = this.#buf.slice(bodyStart, this.#len);
      consumed = this.#len;
      this.close();
    }
    this.#buf.copyWithin(0, consumed, this.#len);
    this.#len -= consumed;
    if (/\r\nconnection:\s*close/.test(head)) this.close();
    return { status, body: RawHttpConnection.#decoder.decode(body) };
  }

  /** Closes the connection (idempotent). */
  close(): void {
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    this.#conn = undefined;
    this.#len = 0;
  }
}

function indexOfCrlfCrlf(buf: Uint8Array, len: number): number {
  for (let i = 0; i + 3 < len; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

function indexOfCrlf(buf: Uint8Array, from: number, len: number): number {
  for (let i = from; i + 1 < len; i++) if (buf[i] === 13 && buf[i + 1] === 10) return i;
  return -1;
}

interface Receipt {
  txId?: string | null;
  status?: string;
  result?: { status?: string; code?: string };
  problem?: { type?: string };
}

// ---------------------------------------------------------------------------
// Statistics.

/** The `p`-quantile (0..1) of an ASCENDING array by nearest rank; NaN when empty. */
export function quantile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(p * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/** The median of `values` (mean of the middle two for an even count); NaN when empty. */
/** What every timed run of either bench reports. */
export interface RunCore {
  txPerSec: number;
  committed: number;
  requests: number;
  wallSeconds: number;
  p50Ms: number;
  p99Ms: number;
  /** Refused, failed and rejected-on-apply transactions or requests. */
  errors: number;
  exhausted: boolean;
}

/**
 * Medians over repeated runs of one shape: `m(f)` is the median of a number,
 * `cpu(f)` the median of a {@link CpuUsage} (its thread split and busiest
 * thread's name from `byRate`, the run whose rate is the median), and
 * `common` the fields every run result has. Requires `runs.length > 0`.
 */
export function runMedians<T extends RunCore>(runs: readonly T[]) {
  const m = (f: (r: T) => number) => median(runs.map(f));
  const byRate = [...runs].sort((a, b) => a.txPerSec - b.txPerSec)[(runs.length - 1) >> 1];
  const cpu = (f: (r: T) => CpuUsage): CpuUsage => ({
    cores: m((r) => f(r).cores),
    coresPeak: m((r) => f(r).coresPeak),
    busiestThread: {
      comm: f(byRate).busiestThread.comm,
      cores: m((r) => f(r).busiestThread.cores),
    },
    threads: f(byRate).threads,
  });
  const common = {
    txPerSec: m((r) => r.txPerSec),
    committed: m((r) => r.committed),
    requests: m((r) => r.requests),
    wallSeconds: m((r) => r.wallSeconds),
    p50Ms: m((r) => r.p50Ms),
    p99Ms: m((r) => r.p99Ms),
    errors: m((r) => r.errors),
    exhausted: runs.some((r) => r.exhausted),
  };
  return { m, cpu, byRate, common };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

// ---------------------------------------------------------------------------
// /proc sampling (Linux).

let clockTicks: number | undefined;

/** Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, almost always 100). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      const out = new Deno.Command("getconf", {
        args: ["CLK_TCK"],
        stdout: "piped",
        stderr: "null",
      })
        .outputSync();
      const n = Number(new TextDecoder().decode(out.stdout).trim());
      clockTicks = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** `utime + stime` in ticks and the command name from a `/proc/.../stat` line. */
export function parseProcStat(line: string): { comm: string; ticks: number } {
  // comm is in parentheses and may contain spaces; fields after it are fixed.
  const open = line.indexOf("(");
  const close = line.lastIndexOf(")");
  if (open < 0 || close < open) {
    throw new Error(`Cannot parse /proc stat line: ${line.slice(0, 80)}`);
  }
  const rest = line.slice(close + 2).split(" ");
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return { comm: line.slice(open + 1, close), ticks: utime + stime };
}

/** CPU seconds (user + system) a process has used so far, all threads. */
export function processCpuSeconds(pid: number): number {
  return parseProcStat(Deno.readTextFileSync(`/proc/${pid}/stat`)).ticks / clockTicksPerSecond();
}

/**
 * CPU seconds the whole machine has been busy (all cores; user, nice,
 * system, irq, softirq, steal) since boot, from `/proc/stat`.
 */
export function machineBusySeconds(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is already in user).
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
  return busy / clockTicksPerSecond();
}

/** CPU ticks per thread of a process, keyed by `tid`. Threads that vanish mid-read are skipped. */
export function threadTicks(pid: number): Map<number, { comm: string; ticks: number }> {
  const out = new Map<number, { comm: string; ticks: number }>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      out.set(
        Number(entry.name),
        parseProcStat(Deno.readTextFileSync(`/proc/${pid}/task/${entry.name}/stat`)),
      );
    } catch {
      // The thread exited between listing and reading.
    }
  }
  return out;
}

/** Memory of a process from `/proc/<pid>/status`, MiB: peak resident (VmHWM) and current (VmRSS). */
export function processMemoryMiB(pid: number): { peakMiB: number; rssMiB: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return m === null ? NaN : Number(m[1]);
  };
  return { peakMiB: kib("VmHWM") / 1024, rssMiB: kib("VmRSS") / 1024 };
}

/** CPU use of one process over an interval. */
export interface CpuUsage {
  /** CPU-seconds / wall-seconds over the whole interval (≈ cores used). */
  cores: number;
  /** Highest cores-used over any one sampling period. */
  coresPeak: number;
  /** The thread that used most CPU, and its cores-used (1.0 = one core saturated). */
  busiestThread: { comm: string; cores: number };
  /** The threads that used at least 0.05 cores, busiest first. */
  threads: Array<{ comm: string; cores: number }>;
}

/**
 * Samples the CPU time of processes every `periodMs` between {@link start}
 * and {@link stop}. Keeps at most `samplesMax` periods (the whole-interval
 * figure is exact regardless).
 */
export class CpuSampler {
  readonly #pids: number[];
  readonly #periodMs: number;
  readonly #samplesMax: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #t0 = 0;
  #first: number[] = [];
  #firstThreads: Array<Map<number, { comm: string; ticks: number }>> = [];
  #last: { t: number; cpu: number[] } = { t: 0, cpu: [] };
  #peaks: number[] = [];
  #samples = 0;

  constructor(pids: number[], periodMs = 500, samplesMax = 10_000) {
    this.#pids = pids;
    this.#periodMs = periodMs;
    this.#samplesMax = samplesMax;
  }

  /** Takes the first sample and starts the periodic ones. */
  start(): void {
    this.#t0 = performance.now();
    this.#first = this.#pids.map(processCpuSeconds);
    this.#firstThreads = this.#pids.map(threadTicks);
    this.#last = { t: this.#t0, cpu: this.#first };
    this.#peaks = this.#pids.map(() => 0);
    this.#timer = setInterval(() => this.#sample(), this.#periodMs);
  }

  #sample(): void {
    if (this.#samples++ >= this.#samplesMax) return;
    const t = performance.now();
    const cpu = this.#pids.map(processCpuSeconds);
    const dt = (t - this.#last.t) / 1000;
    if (dt > 0) {
      cpu.forEach((c, i) =>
        this.#peaks[i] = Math.max(this.#peaks[i], (c - this.#last.cpu[i]) / dt)
      );
    }
    this.#last = { t, cpu };
  }

  /** Stops sampling; one {@link CpuUsage} per pid, in constructor order. */
  stop(): CpuUsage[] {
    clearInterval(this.#timer);
    this.#sample();
    const wall = (performance.now() - this.#t0) / 1000;
    const hz = clockTicksPerSecond();
    return this.#pids.map((pid, i) => {
      const before = this.#firstThreads[i];
      const threads: Array<{ comm: string; cores: number }> = [];
      for (const [tid, now] of threadTicks(pid)) {
        const used = (now.ticks - (before.get(tid)?.ticks ?? 0)) / hz / wall;
        if (used >= 0.05) threads.push({ comm: now.comm, cores: used });
      }
      threads.sort((a, b) => b.cores - a.cores);
      return {
        cores: (this.#last.cpu[i] - this.#first[i]) / wall,
        coresPeak: this.#peaks[i],
        busiestThread: threads[0] ?? { comm: "-", cores: 0 },
        threads,
      };
    });
  }
}

// ---------------------------------------------------------------------------
// A site as a child process.

/** A running site child process. */
export interface SiteProcess {
  name: string;
  url: string;
  pid: number;
  /** Where its stdout and stderr go. */
  logPath: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Sites started by {@link spawnSite} and not yet stopped. */
const liveSites = new Set<Deno.ChildProcess>();
let signalsHooked = false;

/**
 * On SIGINT/SIGTERM, kills every site this process started, then exits
 * (130 / 143), so an interrupted bench leaves no orphan sites behind.
 */
function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    Deno.addSignalListener(signal, () => {
      for (const child of liveSites) {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      Deno.exit(code);
    });
  }
}

/** Longest a site may take to print its `site <name> <url>` line, ms. */
export const siteStartMsMax = 60_000;

/**
 * Starts `deno run -A workers/site.ts --config <configPath>` and resolves
 * once it prints `site <name> <url>`. Its output is copied to `logPath`.
 * `denoFlags` go before the script (e.g. `--v8-flags=--prof`).
 */
export async function spawnSite(
  configPath: string,
  logPath: string,
  denoFlags: string[] = [],
): Promise<SiteProcess> {
  const script = new URL("../workers/site.ts", import.meta.url).pathname;
  const cwd = new URL("..", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...denoFlags, script, "--config", configPath],
    cwd,
    // Plain text in the log: Deno colours its errors otherwise.
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  hookSignals();
  liveSites.add(child);
  child.status.then(() => liveSites.delete(child));
  const log = await Deno.open(logPath, { write: true, create: true, truncate: true });
  const logWriter = log.writable.getWriter();
  let logChain = Promise.resolve();
  const append = (bytes: Uint8Array) => {
    logChain = logChain.then(() => logWriter.write(bytes)).catch(() => {});
  };
  const drain = async (stream: ReadableStream<Uint8Array>, onText?: (t: string) => void) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      append(chunk);
      onText?.(dec.decode(chunk, { stream: true }));
    }
  };
  let stdoutText = "";
  let onListening: (v: { name: string; url: string }) => void = () => {};
  const drained = Promise.all([
    drain(child.stdout, (t) => {
      stdoutText += t;
      const m = /^site (\S+) (\S+)$/m.exec(stdoutText);
      if (m) onListening({ name: m[1], url: m[2] });
      if (stdoutText.length > 65536) stdoutText = stdoutText.slice(-4096);
    }).catch(() => {}),
    drain(child.stderr).catch(() => {}),
  ]);
  const listening = new Promise<{ name: string; url: string }>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `Cannot start site: no "site <name> <url>" line within ${siteStartMsMax} ms (log: ${logPath})`,
          ),
        ),
      siteStartMsMax,
    );
    onListening = (v) => {
      clearTimeout(timer);
      resolve(v);
    };
    child.status.then(async (s) => {
      clearTimeout(timer);
      // Let its last words reach the log before anyone reads it.
      await drained;
      await logChain;
      reject(
        new Error(
          `Cannot start site: it exited with code ${s.code} before listening (log: ${logPath})`,
        ),
      );
    });
  });
  let up: { name: string; url: string };
  try {
    up = await listening;
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await drained;
    await logChain;
    await logWriter.close().catch(() => {});
    throw e;
  }
  const stop = async (graceMs = 10_000) => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, graceMs);
    await child.status;
    clearTimeout(timer);
    await drained;
    await logChain;
    await logWriter.close().catch(() => {});
  };
  return { ...up, pid: child.pid, logPath, stop };
}

/** A bench setting from the environment: `fallback` when unset, else a number in [min, max]. */
export function envNumber(name: string, fallback: number, min: number, max: number): number {
  const raw = Deno.env.get(name);
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!(Number.isFinite(n) && n >= min && n <= max)) {
    throw new Error(`Cannot use ${name}=${raw}: expected a number from ${min} to ${max}`);
  }
  return n;
}

/** A free TCP port on 127.0.0.1 (racy by nature; fine on a quiet bench machine). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

// ---------------------------------------------------------------------------
// CPU profiles of a site, over the V8 inspector (start it with
// `--inspect=127.0.0.1:<port>`).

/** A V8 CPU profile as `Profiler.stop` returns it (the `.cpuprofile` format). */
export interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }>;
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Most time one inspector command may take, ms. */
export const inspectorCommandMsMax = 30_000;

/** A connection to a process's V8 inspector, for the `Profiler` domain only. */
export class InspectorProfiler {
  readonly #ws: WebSocket;
  #nextId = 0;
  readonly #waiting = new Map<
    number,
    (m: { result?: unknown; error?: { message: string } }) => void
  >();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const m = JSON.parse(String(e.data));
      const w = this.#waiting.get(m.id);
      if (w !== undefined) {
        this.#waiting.delete(m.id);
        w(m);
      }
    };
  }

  /** Connects to the first target of the inspector on `127.0.0.1:port`. */
  static async connect(port: number): Promise<InspectorProfiler> {
    const res = await fetch(`http://127.0.0.1:${port}/json/list`, {
      signal: AbortSignal.timeout(10_000),
    });
    const targets = await res.json() as Array<{ webSocketDebuggerUrl: string }>;
    if (targets.length === 0) {
      throw new Error(`Cannot profile: no inspector target on port ${port}`);
    }
    const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () =>
        reject(new Error(`Cannot profile: inspector WebSocket on port ${port} failed`));
    });
    return new InspectorProfiler(ws);
  }

  #send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`Inspector command ${method} timed out`));
      }, inspectorCommandMsMax);
      this.#waiting.set(id, (m) => {
        clearTimeout(timer);
        if (m.error) reject(new Error(`Inspector command ${method} failed: ${m.error.message}`));
        else resolve(m.result);
      });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Starts sampling every `intervalUs` microseconds. */
  async start(intervalUs = 500): Promise<void> {
    await this.#send("Profiler.enable");
    await this.#send("Profiler.setSamplingInterval", { interval: intervalUs });
    await this.#send("Profiler.start");
  }

  /** Stops sampling and returns the profile. */
  async stop(): Promise<CpuProfile> {
    const result = await this.#send("Profiler.stop") as { profile: CpuProfile };
    return result.profile;
  }

  /** Closes the connection. */
  close(): void {
    this.#ws.close();
  }
}

/** Where profiled time went, in percent of the sampled (main-thread) time. */
export interface ProfileSummary {
  /** Percent of samples in which the JS thread was idle (waiting for I/O or work). */
  idlePct: number;
  /** Functions by self time, `name (file:line)`. */
  selfTop: Array<[string, number]>;
  /** Project functions (under `sdk/`, `src/`, `workers/`) by inclusive time. */
  projectInclusiveTop: Array<[string, number]>;
  /** Self time by package or project file, all of them, largest first. */
  byOwner: Array<[string, number]>;
}

/**
 * Summarises a V8 CPU profile: self time per function, inclusive time per
 * project function (each function counted once per sample, so recursion
 * does not inflate it), and self time per npm package / project file.
 */
export function summarizeProfile(
  profile: CpuProfile,
  projectRoot: string,
  top = 15,
): ProfileSummary {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const total = profile.timeDeltas.reduce((a, b) => a + Math.max(0, b), 0) || 1;
  const owner = (url: string, fn: string) => {
    const pkg = /node_modules\/\.deno\/([^/]+)\//.exec(url);
    if (pkg) return `npm:${pkg[1].replace(/^(@[^+]+)\+/, "$1/")}`;
    if (url.startsWith(`file://${projectRoot}`)) return url.slice(`file://${projectRoot}`.length);
    if (url.startsWith("ext:")) return url.replace(/^ext:([^/]+)\/.*/, "deno:$1");
    return url === "" ? fn || "(native)" : url;
  };
  const label = (n: CpuProfile["nodes"][number]) => {
    const f = n.callFrame;
    const where = f.url === "" ? "" : ` (${owner(f.url, f.functionName)}:${f.lineNumber + 1})`;
    return `${f.functionName || "(anonymous)"}${where}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const owners = new Map<string, number>();
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const dt = Math.max(0, profile.timeDeltas[i] ?? 0);
    const node = byId.get(id);
    if (node === undefined) return;
    if (node.callFrame.functionName === "(idle)") idle += dt;
    const key = label(node);
    self.set(key, (self.get(key) ?? 0) + dt);
    const o = owner(node.callFrame.url, node.callFrame.functionName);
    owners.set(o, (owners.get(o) ?? 0) + dt);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at)!;
      const url = n.callFrame.url;
      if (!url.startsWith(`file://${projectRoot}`) || url.includes("/node_modules/")) continue;
      const k = label(n);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  });
  const pct = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) =>
      [k, (100 * v) / total] as [string, number]
    );
  return {
    idlePct: (100 * idle) / total,
    selfTop: pct(self),
    projectInclusiveTop: pct(inclusive),
    byOwner: [...owners].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, (100 * v) / total]),
  };
}
