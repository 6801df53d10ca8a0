/**
 * A test double of a libSQL server (sqld): Hrana over HTTP with the JSON
 * encoding, listening on 127.0.0.1, backed by one local SQLite file opened
 * with the `libsql` package. It lets the tests run a site on an `http://`
 * database URL — the path `@libsql/client` takes for `libsql://` and
 * `http(s)://` URLs — where no real libSQL server can be installed.
 *
 * Written from the Hrana 3 specification (tursodatabase/libsql,
 * `docs/HRANA_3_SPEC.md`, "Hrana over HTTP" and "Shared structures") and
 * from what `@libsql/hrana-client` 0.10 sends: `@libsql/client` opens its
 * HTTP client at protocol version 2 and POSTs JSON to `v2/pipeline`; one
 * `execute` or `batch` call is one pipeline (`store_sql` requests for its
 * SQL cache, the statement or batch, then `close`); an interactive
 * transaction keeps its stream across pipelines with the baton.
 *
 * Implemented:
 * - `POST /v2/pipeline` and `POST /v3/pipeline` (JSON); `GET /v2` and
 *   `GET /v3` answer 200 so a client probing for JSON support finds it.
 * - Stream requests `execute`, `batch` (conditions `ok`, `error`, `not`,
 *   `and`, `or`, `is_autocommit`), `sequence`, `store_sql`, `close_sql`,
 *   `get_autocommit` and `close`; positional or named arguments (not both);
 *   `want_rows`.
 * - Values: null, integer (a decimal string, 64-bit exact), float, text,
 *   blob (base64); the columns' names and declared types; the affected row
 *   count and the last insert rowid.
 * - Batons: a fresh random one in every answer; the old one is then
 *   refused (400), as is one whose stream idled past `streamIdleMs`.
 * - A failed statement is a Hrana error carrying SQLite's message and code
 *   (e.g. `SQLITE_CONSTRAINT_PRIMARYKEY`); a malformed body or an unknown
 *   baton is an HTTP 400 whose JSON body is a Hrana error.
 * - One writer at a time, as SQLite has: all streams share one connection,
 *   and while a stream is inside a transaction the pipelines of other
 *   streams wait for it to end (at most `lockWaitMs`, then `SQLITE_BUSY`).
 *   A stream closed or expired inside a transaction is rolled back.
 * - Commits are durable when answered: the file is in WAL mode with
 *   `synchronous = FULL`, as a site's own `file:` database is.
 * - With `authToken` set, requests must carry `Authorization: Bearer <it>`
 *   (a plain string comparison, not the JWT a real server verifies).
 *
 * Not implemented (a client asking for them gets an error or a 404):
 * the Protobuf encoding (`v3-protobuf`, so a protocol-3 client falls back to
 * v2), cursors (`v3/cursor`), `describe`, Hrana over WebSocket, `base_url`
 * redirection, replication, namespaces, JWT verification, TLS. Floats that
 * JSON cannot carry (NaN, ±Infinity) are not encoded. TEXT holding a NUL
 * character comes back cut at it (the `libsql` package reads it so, as a
 * `file:` database does; the chain store reads such keys as BLOBs). Unbound
 * parameters are NULL rather than an error. Statement execution is
 * synchronous on the test's thread, so keep statements small.
 *
 * @module
 */
import { Buffer } from "node:buffer";
// @ts-types="../src/storage/libsql_native.d.ts"
import Libsql from "libsql";

/** A running test server; `close()` stops it and closes the database. */
export interface HranaServer {
  /** `http://127.0.0.1:<port>`, to use as a site's database URL. */
  url: string;
  port: number;
  /** What the server has done so far, for tests to assert on. */
  stats: {
    /** HTTP pipeline requests answered (any status). */
    pipelines: number;
    /** SQL statements run (a batch counts each executed step). */
    statements: number;
    /** Streams open now (a client that closes its streams leaves 0). */
    streamsOpen(): number;
  };
  close(): Promise<void>;
}

/** Options of {@link startHranaServer}. */
export interface HranaServerOptions {
  /** The SQLite file (created if missing). */
  path: string;
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
  /** A stream unused this long is closed (rolled back if in a transaction), ms. */
  streamIdleMs?: number;
  /** Longest a pipeline waits for another stream's transaction to end, ms. */
  lockWaitMs?: number;
  /** When set, the bearer token every request must carry. */
  authToken?: string;
}

// ---- the protocol's JSON structures (Hrana 3 spec, "Shared structures") ----

type Value =
  | { type: "null" }
  | { type: "integer"; value: string }
  | { type: "float"; value: number }
  | { type: "text"; value: string }
  | { type: "blob"; base64: string };

interface Stmt {
  sql?: string | null;
  sql_id?: number | null;
  args?: Value[];
  named_args?: Array<{ name: string; value: Value }>;
  want_rows?: boolean;
}

interface StmtResult {
  cols: Array<{ name: string | null; decltype: string | null }>;
  rows: Value[][];
  affected_row_count: number;
  last_insert_rowid: string | null;
}

type BatchCond =
  | { type: "ok"; step: number }
  | { type: "error"; step: number }
  | { type: "not"; cond: BatchCond }
  | { type: "and"; conds: BatchCond[] }
  | { type: "or"; conds: BatchCond[] }
  | { type: "is_autocommit" };

interface Batch {
  steps: Array<{ condition?: BatchCond | null; stmt: Stmt }>;
}

type StreamRequest =
  | { type: "close" }
  | { type: "execute"; stmt: Stmt }
  | { type: "batch"; batch: Batch }
  | { type: "sequence"; sql?: string | null; sql_id?: number | null }
  | { type: "store_sql"; sql_id: number; sql: string }
  | { type: "close_sql"; sql_id: number }
  | { type: "get_autocommit" };

interface ProtoError {
  message: string;
  code?: string;
}

type StreamResult = { type: "ok"; response: Record<string, unknown> } | {
  type: "error";
  error: ProtoError;
};

// ---- the part of the `libsql` package used here (better-sqlite3's API) ----

interface Column {
  name: string;
  type: string | null;
}

interface Statement {
  readonly reader: boolean;
  run(params: unknown[] | Record<string, unknown>): { changes: number; lastInsertRowid: unknown };
  all(params: unknown[] | Record<string, unknown>): unknown[][];
  raw(on?: boolean): Statement;
  safeIntegers(on?: boolean): Statement;
  columns(): Column[];
}

interface Connection {
  readonly inTransaction: boolean;
  prepare(sql: string): Statement;
  exec(sql: string): void;
  close(): void;
}

/** An error answered as a Hrana `Error` structure. */
class HranaError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
  }
}

/** A stream: the baton that names it now, its stored SQL texts, its last use. */
interface Stream {
  baton: string;
  sqls: Map<number, string>;
  usedAt: number;
}

/** Most SQL texts one stream may store (`@libsql/client` caches 30). */
const storedSqlsMax = 1000;
/** Most prepared statements kept; the cache starts over beyond. */
const preparedMax = 500;
/** Largest pipeline body read, bytes. */
const bodyBytesMax = 64 * 1024 * 1024;

/**
 * Starts the server on 127.0.0.1 over the SQLite file at `options.path`.
 * Resolves once it listens.
 */
export async function startHranaServer(options: HranaServerOptions): Promise<HranaServer> {
  const streamIdleMs = options.streamIdleMs ?? 10_000;
  const lockWaitMs = options.lockWaitMs ?? 5_000;
  const db = new Libsql(options.path) as unknown as Connection;
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  const streams = new Map<string, Stream>();
  const prepared = new Map<string, Statement>();
  const totalChanges = db.prepare("SELECT total_changes(), last_insert_rowid()").raw()
    .safeIntegers();
  /** The stream whose transaction is open on the connection, if any. */
  let owner: Stream | undefined;
  /** Pipelines waiting for `owner` to leave its transaction. */
  const waiters = new Set<() => void>();
  const stats = { pipelines: 0, statements: 0, streamsOpen: () => streams.size };

  const release = () => {
    owner = undefined;
    for (const wake of [...waiters]) wake();
  };

  /** Closes a stream; one inside a transaction is rolled back first. */
  const dropStream = (s: Stream) => {
    streams.delete(s.baton);
    if (owner === s) {
      if (db.inTransaction) db.exec("ROLLBACK");
      release();
    }
  };

  const sweepIdle = (now: number) => {
    for (const s of [...streams.values()]) {
      if (now - s.usedAt > streamIdleMs) dropStream(s);
    }
  };

  /** Waits until no other stream holds a transaction; false after `lockWaitMs`. */
  const acquire = async (s: Stream): Promise<boolean> => {
    const deadline = Date.now() + lockWaitMs;
    while (owner !== undefined && owner !== s) {
      const now = Date.now();
      sweepIdle(now);
      if (owner === undefined) break;
      if (now >= deadline) return false;
      // Wake on release, or when the owner may have expired, or at the deadline.
      const waitMs = Math.min(deadline, owner.usedAt + streamIdleMs + 1) - now;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(waitMs, 1));
        function done() {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
    return true;
  };

  const prepare = (sql: string): Statement => {
    let st = prepared.get(sql);
    if (st === undefined) {
      if (prepared.size >= preparedMax) prepared.clear();
      st = db.prepare(sql);
      // Integers come back as bigint, so they are told apart from floats.
      if (st.reader) st.raw().safeIntegers();
      prepared.set(sql, st);
    }
    return st;
  };

  const sqlOf = (s: Stream, sql: string | null | undefined, id: number | null | undefined) => {
    if (typeof sql === "string") return sql;
    if (typeof id === "number") {
      const text = s.sqls.get(id);
      if (text === undefined) throw new HranaError(`SQL text ${id} is not stored`, "SQL_NOT_FOUND");
      return text;
    }
    throw new HranaError("A statement needs `sql` or `sql_id`", "PROTO_ERROR");
  };

  const execute = (s: Stream, stmt: Stmt): StmtResult => {
    const st = prepare(sqlOf(s, stmt.sql, stmt.sql_id));
    const positional = (stmt.args ?? []).map(decodeValue);
    let params: unknown[] | Record<string, unknown> = positional;
    if ((stmt.named_args ?? []).length > 0) {
      if (positional.length > 0) {
        throw new HranaError(
          "Positional and named arguments together are not supported by this test server",
          "ARGS_INVALID",
        );
      }
      // The `libsql` package takes names without their `:`, `@` or `$`.
      params = Object.fromEntries(
        stmt.named_args!.map((a) => [a.name.replace(/^[:@$]/, ""), decodeValue(a.value)]),
      );
    }
    stats.statements++;
    try {
      if (!st.reader) {
        const info = st.run(params);
        return {
          cols: [],
          rows: [],
          affected_row_count: info.changes,
          last_insert_rowid: String(info.lastInsertRowid),
        };
      }
      // A statement that returns rows may also write (INSERT … RETURNING):
      // its affected rows are the change in total_changes().
      const [before] = totalChanges.all([]) as [[bigint, bigint]];
      const rows = st.all(params);
      const [after] = totalChanges.all([]) as [[bigint, bigint]];
      return {
        cols: st.columns().map((c) => ({ name: c.name, decltype: c.type })),
        rows: stmt.want_rows === false ? [] : rows.map((r) => r.map(encodeValue)),
        affected_row_count: Number(after[0] - before[0]),
        last_insert_rowid: String(after[1]),
      };
    } catch (e) {
      throw asHranaError(e);
    }
  };

  const batch = (s: Stream, b: Batch) => {
    const results: Array<StmtResult | null> = [];
    const errors: Array<ProtoError | null> = [];
    const holds = (c: BatchCond, step: number): boolean => {
      switch (c.type) {
        case "ok":
        case "error":
          if (!(c.step < step)) {
            throw new HranaError(`Condition of step ${step} names a later step`, "PROTO_ERROR");
          }
          return c.type === "ok" ? results[c.step] !== null : errors[c.step] !== null;
        case "not":
          return !holds(c.cond, step);
        case "and":
          return c.conds.every((x) => holds(x, step));
        case "or":
          return c.conds.some((x) => holds(x, step));
        case "is_autocommit":
          return !db.inTransaction;
        default:
          throw new HranaError("Unknown batch condition", "PROTO_ERROR");
      }
    };
    for (const [i, step] of b.steps.entries()) {
      results.push(null);
      errors.push(null);
      // A skipped step leaves both its result and its error null.
      if (step.condition && !holds(step.condition, i)) continue;
      try {
        results[i] = execute(s, step.stmt);
      } catch (e) {
        errors[i] = errorOf(e);
      }
    }
    return { step_results: results, step_errors: errors };
  };

  /** Runs one stream request; throws a {@link HranaError} for its error result. */
  const handle = (s: Stream, req: StreamRequest): Record<string, unknown> => {
    switch (req.type) {
      case "execute":
        return { type: "execute", result: execute(s, req.stmt) };
      case "batch":
        return { type: "batch", result: batch(s, req.batch) };
      case "sequence": {
        const sql = sqlOf(s, req.sql, req.sql_id);
        stats.statements++;
        try {
          db.exec(sql);
        } catch (e) {
          throw asHranaError(e);
        }
        return { type: "sequence" };
      }
      case "store_sql":
        if (s.sqls.has(req.sql_id)) {
          throw new HranaError(`SQL text ${req.sql_id} is already stored`, "PROTO_ERROR");
        }
        if (s.sqls.size >= storedSqlsMax) {
          throw new HranaError("Too many SQL texts stored on this stream", "SQL_STORE_FULL");
        }
        s.sqls.set(req.sql_id, req.sql);
        return { type: "store_sql" };
      case "close_sql":
        s.sqls.delete(req.sql_id);
        return { type: "close_sql" };
      case "get_autocommit":
        return { type: "get_autocommit", is_autocommit: !db.inTransaction };
      case "close":
        dropStream(s);
        return { type: "close" };
      default:
        throw new HranaError(
          `Request ${(req as { type: string }).type} is not supported by this test server`,
          "PROTO_ERROR",
        );
    }
  };

  const pipeline = async (req: Request): Promise<Response> => {
    let body: { baton?: string | null; requests?: StreamRequest[] };
    try {
      const text = await req.text();
      if (text.length > bodyBytesMax) throw new Error("body too large");
      body = JSON.parse(text);
      if (!Array.isArray(body.requests)) throw new Error("no `requests` array");
    } catch (e) {
      return errorResponse(400, `Cannot read the pipeline: ${(e as Error).message}`, "PROTO_ERROR");
    }
    const now = Date.now();
    sweepIdle(now);
    let stream: Stream;
    if (typeof body.baton === "string") {
      const found = streams.get(body.baton);
      if (found === undefined) {
        return errorResponse(400, "The baton is unknown or its stream expired", "STREAM_EXPIRED");
      }
      stream = found;
      // A baton is good for one request: the answer carries the next one.
      streams.delete(stream.baton);
    } else {
      stream = { baton: "", sqls: new Map(), usedAt: now };
    }
    if (!(await acquire(stream))) {
      const error = { message: "database is locked", code: "SQLITE_BUSY" };
      dropStream(stream);
      return Response.json({
        baton: null,
        base_url: null,
        results: body.requests.map((): StreamResult => ({ type: "error", error })),
      });
    }
    const results: StreamResult[] = [];
    let closed = false;
    for (const r of body.requests) {
      if (closed) {
        results.push({
          type: "error",
          error: { message: "The stream is closed", code: "PROTO_ERROR" },
        });
        continue;
      }
      if (r?.type === "close") closed = true;
      try {
        results.push({ type: "ok", response: handle(stream, r) });
      } catch (e) {
        results.push({ type: "error", error: errorOf(e) });
      }
      // Only this stream runs now, so an open transaction is its own; a
      // close (above) rolled it back.
      if (!closed && db.inTransaction) owner = stream;
      else if (owner === stream) release();
    }
    if (closed) return Response.json({ baton: null, base_url: null, results });
    stream.baton = crypto.randomUUID();
    stream.usedAt = Date.now();
    streams.set(stream.baton, stream);
    return Response.json({ baton: stream.baton, base_url: null, results });
  };

  const listening = Promise.withResolvers<void>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 0,
    onListen: () => listening.resolve(),
  }, async (req) => {
    const path = new URL(req.url).pathname;
    if (
      options.authToken !== undefined &&
      req.headers.get("authorization") !== `Bearer ${options.authToken}`
    ) {
      await req.body?.cancel();
      return errorResponse(401, "Authorization is missing or wrong", "AUTH_FAILED");
    }
    if (req.method === "GET" && (path === "/v2" || path === "/v3")) return new Response("");
    if (req.method === "POST" && (path === "/v2/pipeline" || path === "/v3/pipeline")) {
      stats.pipelines++;
      return await pipeline(req);
    }
    await req.body?.cancel();
    return new Response("Not found", { status: 404, headers: { "content-type": "text/plain" } });
  });
  await listening.promise;
  const port = server.addr.port;
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    async close() {
      if (closed) return;
      closed = true;
      await server.shutdown();
      for (const s of [...streams.values()]) dropStream(s);
      for (const wake of [...waiters]) wake();
      db.close();
    },
  };
}

function decodeValue(v: Value): unknown {
  switch (v?.type) {
    case "null":
      return null;
    case "integer":
      return BigInt(v.value);
    case "float":
      return v.value;
    case "text":
      return v.value;
    case "blob":
      return Buffer.from(v.base64, "base64");
    default:
      throw new HranaError("Unknown value type", "PROTO_ERROR");
  }
}

function encodeValue(x: unknown): Value {
  if (x === null || x === undefined) return { type: "null" };
  if (typeof x === "bigint") return { type: "integer", value: x.toString() };
  if (typeof x === "number") return { type: "float", value: x };
  if (typeof x === "string") return { type: "text", value: x };
  if (x instanceof Uint8Array) return { type: "blob", base64: Buffer.from(x).toString("base64") };
  if (x instanceof ArrayBuffer) {
    return { type: "blob", base64: Buffer.from(new Uint8Array(x)).toString("base64") };
  }
  throw new HranaError(`Cannot encode a value of type ${typeof x}`, "INTERNAL");
}

/** SQLite's errors keep their message and code (`SQLITE_CONSTRAINT_…`). */
function asHranaError(e: unknown): HranaError {
  if (e instanceof HranaError) return e;
  const code = (e as { code?: unknown })?.code;
  return new HranaError(
    String((e as Error)?.message ?? e),
    typeof code === "string" ? code : "SQLITE_ERROR",
  );
}

function errorOf(e: unknown): ProtoError {
  const h = asHranaError(e);
  return { message: h.message, code: h.code };
}

function errorResponse(status: number, message: string, code: string): Response {
  return Response.json({ message, code }, { status });
}
