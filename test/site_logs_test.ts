/**
 * A site's log of what happens while it serves: a response body that fails
 * part-way (a backup download, an event stream) is one line of the site's
 * log with the route, the request id and the error, not a stack trace Deno
 * prints; a client that leaves mid-body is a `debug` line.
 *
 * In Deno 2.9.6, an error of a response body reaches `Deno.serve`'s
 * `onError` (Deno's own prints its stack trace on stderr), but only once
 * Deno's write to the client returns: for a client that stopped reading,
 * when it leaves. A client that leaves cancels the body (the reason is the
 * string `resource closed`) and reaches no `onError`. The tests serve over
 * real `Deno.serve` and real TCP clients on loopback; the last runs a real
 * site process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { serveErrorLogger, watchBody } from "../workers/site.ts";
import { initLocalLedger } from "../src/site/config.ts";
import {
  BODYLESS_UNROUTED_HEADS,
  openPartialRequest,
  PARTIAL_BODY_HEADS,
  postChunked,
  rawExchange,
  recordingLogger,
} from "./_helpers.ts";
import type { Logger } from "../src/log.ts";
import { basePort, type SpawnedWorker, spawnWorker, waitFor, waitForOutput } from "./_cluster.ts";

const encoder = new TextEncoder();

/**
 * Serves `handler` on a loopback port with a site's `onError`, both logging
 * to a recording logger of site `site-a`.
 */
function serveLogged(handler: (log: Logger) => Response) {
  const rec = recordingLogger({ site: "site-a" });
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    onError: serveErrorLogger(rec.log),
  }, () => handler(rec.log));
  return { ...rec, server, port: server.addr.port };
}

/**
 * Serves `body()` as the watched body of a 200 to `GET /v1/admin/backup`
 * with request id `req-1`, with a site's `onError`, on a loopback port.
 */
function serveWatched(body: () => ReadableStream<Uint8Array>) {
  return serveLogged((log) =>
    watchBody(
      new Response(body(), { headers: { "x-request-id": "req-1" } }),
      "GET /v1/admin/backup",
      log,
    )
  );
}

/** A TCP client that sends a GET for `path` and reads no more than `read` bytes of the answer. */
async function rawGet(port: number, path: string, read: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
  const buf = new Uint8Array(read);
  await conn.read(buf);
  return conn;
}

Deno.test("site: a streamed response body that fails part-way is one warn line, response cut, with the route, the request id and the error (name, message, stack, cause)", async () => {
  let pulls = 0;
  const t = serveWatched(() =>
    new ReadableStream({
      pull(c) {
        if (pulls++ === 0) c.enqueue(encoder.encode("SQLite format 3\0"));
        else {
          c.error(new Error("Backup download idle too long", { cause: new Error("no reader") }));
        }
      },
    })
  );
  try {
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/admin/backup`);
    assert.equal(res.status, 200);
    await assert.rejects(res.text());
    await waitFor("the log line", () => Promise.resolve(t.records.length > 0 || undefined), 5000);
    // Deno's onError comes after the line: give it its turn.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(t.records.length, 1, t.lines.join("\n"));
    const [r] = t.records;
    assert.equal(r.level, "warn");
    assert.equal(r.msg, "response cut");
    assert.equal(r.site, "site-a");
    assert.equal(r.route, "GET /v1/admin/backup");
    assert.equal(r.requestId, "req-1");
    const error = r.error as Record<string, Record<string, unknown>>;
    assert.equal(error.name, "Error");
    assert.equal(error.message, "Backup download idle too long");
    assert.match(String(error.stack), /^Error: Backup download idle too long\n\s+at /);
    assert.equal(error.cause.message, "no reader");
  } finally {
    await t.server.shutdown();
  }
});

Deno.test("site: a streamed response body that fails with a bug's error (a TypeError) is one error line, response cut", async () => {
  let pulls = 0;
  const t = serveWatched(() =>
    new ReadableStream({
      pull(c) {
        if (pulls++ === 0) c.enqueue(encoder.encode("data: {}\n\n"));
        else throw new TypeError("Cannot read properties of undefined (reading 'height')");
      },
    })
  );
  try {
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/admin/backup`);
    await assert.rejects(res.text());
    await waitFor("the log line", () => Promise.resolve(t.records.length > 0 || undefined), 5000);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      t.records.map((r) => [r.level, r.msg, (r.error as { name: string }).name]),
      [["error", "response cut", "TypeError"]],
    );
  } finally {
    await t.server.shutdown();
  }
});

Deno.test("site: a body that fails while its client has stopped reading (a stalled backup download) is logged when it fails, not when the client leaves, and once", async () => {
  let fail!: () => void;
  const t = serveWatched(() =>
    new ReadableStream({
      start(c) {
        fail = () => c.error(new Error("Backup download idle too long"));
      },
      // More than the socket takes: Deno's write waits for a client that does not read.
      pull(c) {
        c.enqueue(new Uint8Array(256 * 1024));
      },
    }, { highWaterMark: 0 })
  );
  const conn = await rawGet(t.port, "/v1/admin/backup", 1024);
  try {
    // Let Deno fill the socket and block on its write.
    await new Promise((r) => setTimeout(r, 300));
    fail();
    await waitFor(
      "the line while the client is connected",
      () => Promise.resolve(t.records.length > 0 || undefined),
      5000,
    );
    assert.equal(t.said("response cut").length, 1);
  } finally {
    conn.close();
  }
  // Leaving now hands the failed body to onError: it was logged already.
  await new Promise((r) => setTimeout(r, 300));
  await t.server.shutdown();
  assert.deepEqual(t.records.map((r) => [r.level, r.msg]), [["warn", "response cut"]]);
});

Deno.test("site: a client that leaves in the middle of a streamed body is one debug line, client left mid-response, and the body is cancelled", async () => {
  let cancelled: unknown = undefined;
  const t = serveWatched(() => {
    let timer: ReturnType<typeof setInterval> | undefined;
    return new ReadableStream({
      start(c) {
        timer = setInterval(() => c.enqueue(encoder.encode(": heartbeat\n\n")), 20);
      },
      cancel(reason) {
        clearInterval(timer);
        cancelled = reason ?? "cancelled";
      },
    });
  });
  try {
    const conn = await rawGet(t.port, "/v1/events", 64);
    conn.close();
    await waitFor("the body to be cancelled", () => Promise.resolve(cancelled), 5000);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(t.records.map((r) => [r.level, r.msg]), [[
      "debug",
      "client left mid-response",
    ]]);
    assert.equal(t.records[0].route, "GET /v1/admin/backup");
    assert.equal(t.records[0].requestId, "req-1");
  } finally {
    await t.server.shutdown();
  }
});

Deno.test("site: an error no route handled (a handler's that escaped its app) is one error line, request failed, and a 500", async () => {
  const t = serveLogged(() => {
    throw new RangeError("Invalid array length");
  });
  try {
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/status`);
    assert.equal(res.status, 500);
    await res.body?.cancel();
    assert.deepEqual(
      t.records.map((r) => [r.level, r.msg, (r.error as { message: string }).message]),
      [["error", "request failed", "Invalid array length"]],
    );
  } finally {
    await t.server.shutdown();
  }
});

/**
 * A real lone site (`workers/site.ts`) logging JSON at `debug`, on a free
 * port; its config with `overrides`, and its path given as `args` make it.
 */
async function startJsonSite(
  overrides: Record<string, unknown> = {},
  args: (path: string) => string[] = (path) => ["--config", path],
) {
  const dataDir = await Deno.makeTempDir({ prefix: "edgeledger-site-logs-" });
  const [path] = await initLocalLedger({
    dataDir,
    sites: 1,
    basePort: basePort(),
    host: "127.0.0.1",
  });
  const config = JSON.parse(await Deno.readTextFile(path));
  // A lone site needs no fixed port: 0 takes a free one, and its `site` line says which.
  await Deno.writeTextFile(
    path,
    JSON.stringify({ ...config, port: 0, log: { level: "debug", format: "json" }, ...overrides }),
  );
  const site = spawnWorker("site.ts", args(path));
  const stop = async () => {
    try {
      site.process.kill("SIGKILL");
    } catch { /* ended */ }
    await site.process.status;
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  try {
    // Its `site <name> <url>` line (stdout) and its log (stderr) come through pipes of their own.
    await waitForOutput(site, '"msg":"site started"');
    const url = await waitFor(
      "the site <name> <url> line",
      () => Promise.resolve(site.output().match(/^site \S+ (\S+)$/m)?.[1]),
      30_000,
    );
    return { site, url, port: Number(new URL(url).port), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Stops `site` with SIGTERM and answers its log records, failing on any
 * line of its output that is neither a record nor its `site` line.
 */
async function jsonRecords(site: SpawnedWorker): Promise<Array<Record<string, unknown>>> {
  site.process.kill("SIGTERM");
  await site.process.status;
  await site.outputEnded;
  const lines = site.output().split("\n").filter((l) => l !== "" && !l.startsWith("site "));
  return lines.map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      assert.fail(`a line that is not a JSON log record: ${l}\n${site.output()}`);
    }
  });
}

Deno.test({
  name:
    "site: a real site logs an event stream's client that leaves as one debug line with the route and the request id, a client that leaves mid-request-body as one debug line too (never an error), and its stderr holds nothing but its log lines",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { site, url, port, stop } = await startJsonSite();
    try {
      // From height 0: the stream starts with block 0, so its headers and a first frame come at once.
      const conn = await rawGet(port, "/v1/events?from=0", 4096);
      conn.close();
      await waitForOutput(site, '"msg":"client left mid-response"', 10_000);
      // Clients that leave in the middle of a request body, sized and chunked.
      for (const head of PARTIAL_BODY_HEADS) (await openPartialRequest(url, head)).close();
      await waitFor(
        "two client left mid-request lines",
        () =>
          Promise.resolve(
            site.output().split('"msg":"client left mid-request"').length === 3 || undefined,
          ),
        10_000,
      );
      const records = await jsonRecords(site);
      const left = records.filter((r) => r.msg === "client left mid-response");
      assert.equal(left.length, 1, site.output());
      assert.equal(left[0].level, "debug");
      assert.equal(left[0].route, "GET /v1/events");
      assert.match(String(left[0].requestId), /^[0-9a-f-]{36}$/);
      const leftMidRequest = records.filter((r) => r.msg === "client left mid-request");
      assert.equal(leftMidRequest.length, 2, site.output());
      for (const r of leftMidRequest) assert.equal(r.level, "debug");
      assert.equal(records.filter((r) => r.level === "warn" || r.level === "error").length, 0);
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name:
    "site: a method no route handles (PROPFIND, a lower-case get), a chunked request body and reads with minHeight (answered, and one whose client leaves while it waits) are answered without Deno printing its request.signal warning: stderr holds nothing but JSON log lines",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { site, url, port, stop } = await startJsonSite();
    try {
      // A path a route takes, asked with a method none takes: 405 with Allow.
      for (const head of BODYLESS_UNROUTED_HEADS) {
        const answer = await rawExchange(port, head);
        assert.match(answer, /^HTTP\/1\.1 405 /, head);
        assert.match(answer, /\r\nallow: GET, HEAD, OPTIONS\r\n/i, head);
      }
      const chunked = await postChunked(url, "/v1/txs", "{}");
      assert.equal(chunked.status, 422, "the chunked body was read, and judged");
      await chunked.body?.cancel();
      // minHeight reads watch for their client leaving (the SDK sends minHeight by default).
      const read = await fetch(`${url}/v1/blocks/0?minHeight=0`);
      assert.equal(read.status, 200);
      await read.body?.cancel();
      const leaving = new AbortController();
      const waiting = fetch(`${url}/v1/blocks/0?minHeight=1000000`, { signal: leaving.signal });
      setTimeout(() => leaving.abort(), 300);
      await assert.rejects(waiting, (e) => (e as Error).name === "AbortError");
      // Deno's warning goes out with the answer; give it its turn before the stop.
      await new Promise((r) => setTimeout(r, 200));
      await jsonRecords(site);
      assert.doesNotMatch(site.output(), /request\.signal/);
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name:
    "site: a config url that is not the one the ledger records for the site is one warn line at start naming both (the others reach it at the recorded one); --config=path works as --config path",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { site, stop } = await startJsonSite(
      { url: "http://pop-1.example.net:7001" },
      (path) => [`--config=${path}`],
    );
    try {
      await waitForOutput(site, "differs from the one the cluster records");
      const records = await jsonRecords(site);
      const warned = records.filter((r) => r.level === "warn");
      assert.deepEqual(
        warned.map((r) => [r.msg, r.url, typeof r.recorded]),
        [[
          "this site's url differs from the one the cluster records for it",
          "http://pop-1.example.net:7001",
          "string",
        ]],
      );
      assert.match(String(warned[0].recorded), /^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await stop();
    }
  },
});
