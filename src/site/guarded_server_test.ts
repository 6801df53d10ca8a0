import assert from "node:assert/strict";
import process from "node:process";
import tls from "node:tls";
import { X509Certificate } from "node:crypto";
import {
  type ConnectionLimits,
  GuardedServer,
  type GuardedServerOptions,
} from "./guarded_server.ts";
import { readServeTls } from "./tls.ts";
import { makeCa, makeCert, OPENSSL_MISSING, opensslPresent } from "../../test/_tls.ts";

if (!opensslPresent) console.warn(`guarded_server_test: ${OPENSSL_MISSING}`);

const LIMITS: ConnectionLimits = {
  headersTimeoutMs: 400,
  idleTimeoutMs: 400,
  keepAliveTimeoutMs: 400,
  maxConnections: 100,
  maxConnectionsPerAddress: 100,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const encode = (text: string) => new TextEncoder().encode(text);

/** A handler with a few routes: `/` ok, `/slow` answers after 1.2 s, `/echo` counts the body, `/events` streams. */
function handler(): Deno.ServeHandler {
  return async (req, info) => {
    const url = new URL(req.url);
    if (url.pathname === "/slow") {
      await sleep(1200);
      return new Response("slow");
    }
    if (url.pathname.endsWith("/echo")) {
      let n = 0;
      for await (const chunk of req.body!) n += chunk.length;
      return Response.json({ n, from: (info.remoteAddr as Deno.NetAddr).hostname, url: req.url });
    }
    if (url.pathname === "/events") {
      let timer: ReturnType<typeof setInterval>;
      return new Response(
        new ReadableStream({
          start(c) {
            timer = setInterval(() => c.enqueue(encode(": beat\n\n")), 150);
          },
          cancel() {
            clearInterval(timer);
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    }
    if (url.pathname === "/quiet") {
      // A stream whose first bytes come after a second (an event stream between events).
      return new Response(
        new ReadableStream({
          async pull(c) {
            await sleep(1000);
            c.enqueue(encode("late"));
            c.close();
          },
        }),
      );
    }
    if (url.pathname === "/broken") {
      let sent = false;
      return new Response(
        new ReadableStream({
          pull(c) {
            if (sent) throw new Error("the source failed");
            sent = true;
            c.enqueue(encode("part"));
          },
        }),
      );
    }
    return new Response("ok");
  };
}

async function start(overrides: Partial<GuardedServerOptions> = {}) {
  const errors: unknown[] = [];
  const server = await GuardedServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    limits: LIMITS,
    handler: handler(),
    onError: (e) => {
      errors.push(e);
      return new Response(null, { status: 500 });
    },
    ...overrides,
  });
  return { server, errors, url: `http://127.0.0.1:${server.addr.port}` };
}

/** Connects, writes `text` (a byte at a time every `everyMs` when given), and says when the server closed. */
async function holdOpen(
  port: number,
  text: string,
  options: { everyMs?: number; waitMs: number; tlsCa?: string },
): Promise<{ closedAfterMs: number | undefined; received: string }> {
  const conn = options.tlsCa === undefined
    ? await Deno.connect({ hostname: "127.0.0.1", port })
    : await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [options.tlsCa] });
  const t0 = performance.now();
  let closedAfterMs: number | undefined;
  let received = "";
  const reading = (async () => {
    const buf = new Uint8Array(4096);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        received += new TextDecoder().decode(buf.subarray(0, n));
      }
    } catch { /* reset */ }
    closedAfterMs = performance.now() - t0;
  })();
  if (options.everyMs === undefined) {
    if (text !== "") await conn.write(encode(text));
  } else {
    for (const ch of text) {
      if (closedAfterMs !== undefined || performance.now() - t0 > options.waitMs) break;
      await conn.write(encode(ch)).catch(() => {});
      await sleep(options.everyMs);
    }
  }
  while (closedAfterMs === undefined && performance.now() - t0 < options.waitMs) await sleep(20);
  try {
    conn.close();
  } catch { /* closed */ }
  await reading;
  return {
    closedAfterMs: closedAfterMs !== undefined && closedAfterMs < options.waitMs
      ? closedAfterMs
      : undefined,
    received,
  };
}

Deno.test("guarded server: serves requests as Deno's server does — the handler gets a Request with the absolute URL, a streamed body, the client's address — and answers stream", async () => {
  const { server, url } = await start();
  try {
    assert.equal(await (await fetch(url)).text(), "ok");
    const body = new ReadableStream({
      async start(c) {
        for (let i = 0; i < 4; i++) {
          c.enqueue(new Uint8Array(1000));
          await sleep(30);
        }
        c.close();
      },
    });
    const echo = await (await fetch(`${url}/echo?x=1`, { method: "POST", body })).json();
    assert.deepEqual(echo, { n: 4000, from: "127.0.0.1", url: `${url}/echo?x=1` });
    const events = await fetch(`${url}/events`);
    const reader = events.body!.getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /: beat/);
    await reader.cancel();
  } finally {
    await server.shutdown();
  }
});

Deno.test("guarded server: a client trickling its headers, sending nothing, or pausing mid-body is cut at its deadline, and each cut is counted", async () => {
  const { server } = await start();
  try {
    const port = server.addr.port;
    const [trickle, nothing, stalled] = await Promise.all([
      holdOpen(port, "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + "a".repeat(50), {
        everyMs: 50,
        waitMs: 3000,
      }),
      holdOpen(port, "", { waitMs: 3000 }),
      holdOpen(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789", {
        waitMs: 3000,
      }),
    ]);
    for (const [name, r] of Object.entries({ trickle, nothing, stalled })) {
      assert.ok(r.closedAfterMs !== undefined, `${name}: still open after 3 s`);
      assert.ok(r.closedAfterMs >= 350 && r.closedAfterMs < 1500, `${name}: ${r.closedAfterMs} ms`);
    }
    assert.equal(server.cuts().get("headers"), 2);
    assert.equal(server.cuts().get("body"), 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("guarded server: an idle kept-alive connection is closed after the keep-alive deadline, but a slow answer or a live event stream is never cut", async () => {
  const { server, url } = await start();
  try {
    const idle = await holdOpen(server.addr.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", {
      waitMs: 3000,
    });
    assert.match(idle.received, /^HTTP\/1\.1 200/);
    assert.ok(
      idle.closedAfterMs !== undefined && idle.closedAfterMs < 1500,
      `${idle.closedAfterMs}`,
    );
    assert.equal(server.cuts().get("keepalive"), 1);
    // 1.2 s of waiting for the answer, three times every deadline.
    assert.equal(await (await fetch(`${url}/slow`)).text(), "slow");
    // An event stream quieter than nothing but its beats lasts.
    const events = await fetch(`${url}/events`);
    const reader = events.body!.getReader();
    const t0 = performance.now();
    let beats = 0;
    while (performance.now() - t0 < 1500) {
      const { done } = await reader.read();
      assert.equal(done, false, "the stream was cut");
      beats++;
    }
    assert.ok(beats >= 5, `${beats}`);
    await reader.cancel();
    assert.equal(server.cuts().get("body"), undefined);
  } finally {
    await server.shutdown();
  }
});

Deno.test("guarded server: connections beyond the cap per address, or in all, are closed at once and counted", async () => {
  const { server } = await start({
    limits: { ...LIMITS, maxConnectionsPerAddress: 2, headersTimeoutMs: 5000 },
  });
  const open: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      open.push(await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port }));
    }
    await sleep(100);
    assert.equal(server.connections, 2);
    const third = await holdOpen(server.addr.port, "", { waitMs: 1000 });
    assert.ok(
      third.closedAfterMs !== undefined && third.closedAfterMs < 300,
      `${third.closedAfterMs}`,
    );
    assert.equal(server.cuts().get("max_per_address"), 1);
    assert.equal(server.connections, 2);
  } finally {
    for (const c of open) c.close();
    await server.shutdown();
  }
  const all = await start({ limits: { ...LIMITS, maxConnections: 1, headersTimeoutMs: 5000 } });
  const first = await Deno.connect({ hostname: "127.0.0.1", port: all.server.addr.port });
  try {
    await sleep(100);
    const second = await holdOpen(all.server.addr.port, "", { waitMs: 1000 });
    assert.ok(second.closedAfterMs !== undefined && second.closedAfterMs < 300);
    assert.equal(all.server.cuts().get("max_connections"), 1);
  } finally {
    first.close();
    await all.server.shutdown();
  }
});

Deno.test("guarded server: shutdown closes idle connections at once, lets an answer in flight finish, then resolves", async () => {
  const { server, url } = await start({
    limits: { ...LIMITS, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 10_000 },
  });
  const idle = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  await sleep(100);
  const slow = fetch(`${url}/slow`).then((r) => r.text());
  await sleep(200);
  const t0 = performance.now();
  await server.shutdown();
  const took = performance.now() - t0;
  assert.equal(await slow, "slow");
  assert.ok(took >= 700 && took < 5000, `${took} ms`);
  const n = await idle.read(new Uint8Array(10)).catch(() => null);
  assert.equal(n, null, "the idle connection was closed");
  idle.close();
  await assert.rejects(fetch(url), "no longer listening");
});

Deno.test("guarded server: a response body that fails part-way is reported to onError and ends the connection", async () => {
  const { server, url, errors } = await start();
  try {
    // Cut before or after its head went out: either way the client sees a failure, not an answer.
    await assert.rejects(async () => await (await fetch(`${url}/broken`)).text());
    await sleep(50);
    assert.equal(errors.length, 1);
    assert.match((errors[0] as Error).message, /the source failed/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("guarded server: an address in use is Deno.errors.AddrInUse, as Deno.serve throws", async () => {
  const { server } = await start();
  try {
    await assert.rejects(
      GuardedServer.listen({
        hostname: "127.0.0.1",
        port: server.addr.port,
        limits: LIMITS,
        handler: handler(),
        onError: () => new Response(null, { status: 500 }),
      }),
      Deno.errors.AddrInUse,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test({
  name:
    "guarded server with TLS: a handshake never made and headers trickled inside TLS are cut at the deadline; setTls serves the new certificate to the next connection",
  ignore: !opensslPresent,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const ca = await makeCa(dir, "ca");
    const caPem = await Deno.readTextFile(ca.caFile);
    const first = await readServeTls(await makeCert(dir, ca, "first"));
    const second = await readServeTls(await makeCert(dir, ca, "second"));
    const { server } = await start({ tls: first });
    try {
      const port = server.addr.port;
      const [bare, trickle] = await Promise.all([
        holdOpen(port, "", { waitMs: 3000 }),
        holdOpen(port, "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + "a".repeat(50), {
          everyMs: 50,
          waitMs: 3000,
          tlsCa: caPem,
        }),
      ]);
      assert.ok(
        bare.closedAfterMs !== undefined && bare.closedAfterMs < 1500,
        `${bare.closedAfterMs}`,
      );
      assert.ok(
        trickle.closedAfterMs !== undefined && trickle.closedAfterMs < 1500,
        `${trickle.closedAfterMs}`,
      );
      const serial = () =>
        new Promise<string>((resolve, reject) => {
          const socket = tls.connect({ host: "127.0.0.1", port, ca: caPem }, () => {
            const s = socket.getPeerCertificate().serialNumber.toLowerCase();
            socket.destroy();
            resolve(s);
          });
          socket.on("error", reject);
        });
      const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toLowerCase();
      assert.equal(await serial(), serialOf(first.cert));
      server.setTls(second);
      assert.equal(await serial(), serialOf(second.cert));
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("guarded server: a request Node's parser refuses (a method it does not know, a lower-case get) is a 400 validation problem with a request id, and the connection closes", async () => {
  const { server } = await start();
  try {
    for (const method of ["TRACK", "get", "FOO"]) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      await conn.write(encode(`${method} / HTTP/1.1\r\nHost: x\r\n\r\n`));
      const answer = await new Response(conn.readable).text();
      const [head, body] = answer.split("\r\n\r\n");
      assert.match(head, /^HTTP\/1\.1 400 /, method);
      assert.match(head, /content-type: application\/problem\+json/i);
      const problem = JSON.parse(body);
      assert.equal(problem.type, "https://edgeledger.dev/problems/validation");
      assert.equal(problem.status, 400);
      assert.match(head, new RegExp(`x-request-id: ${problem.requestId}`, "i"));
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("guarded server: a client that leaves mid-body — a small sized body, a large one, a chunked one — fails the handler's read with BadResource, the body counted as used, as Deno's server does", async () => {
  const seen: string[] = [];
  const { server } = await start({
    limits: { ...LIMITS, idleTimeoutMs: 10_000 },
    handler: async (req) => {
      try {
        await req.text();
        seen.push("read whole");
      } catch (e) {
        seen.push(`${(e as Error).constructor.name} used=${req.bodyUsed}`);
      }
      return new Response("x");
    },
  });
  try {
    for (
      const head of ["Content-Length: 100", "Content-Length: 200000", "Transfer-Encoding: chunked"]
    ) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      const start = head.startsWith("Transfer") ? "4\r\n0123\r\n" : "0123";
      await conn.write(encode(`POST / HTTP/1.1\r\nHost: x\r\n${head}\r\n\r\n${start}`));
      await sleep(150);
      conn.close();
      await sleep(150);
    }
    assert.deepEqual(seen, Array(3).fill("BadResource used=true"));
  } finally {
    await server.shutdown();
  }
});

Deno.test("guarded server: many requests with bodies on one kept-alive connection add no listeners per request (no MaxListeners warning)", async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on("warning", onWarning);
  const { server, url } = await start();
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 1 });
  try {
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${url}/echo`, { method: "POST", body: "x".repeat(100), client });
      assert.equal((await res.json()).n, 100);
    }
    await sleep(50);
    assert.equal(server.connections, 1, "one kept-alive connection");
    assert.deepEqual(warnings, []);
  } finally {
    process.off("warning", onWarning);
    client.close();
    await server.shutdown();
  }
});

Deno.test("guarded server: a request target in absolute form reaches the handler with that URL; an asterisk one is a 400 problem", async () => {
  const { server } = await start({ handler: (req) => new Response(new URL(req.url).pathname) });
  try {
    const exchange = async (line: string) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      await conn.write(encode(`${line}\r\nHost: x\r\nConnection: close\r\n\r\n`));
      return await new Response(conn.readable).text();
    };
    const absolute = await exchange("GET http://example.test/v1/status HTTP/1.1");
    assert.match(absolute, /^HTTP\/1\.1 200 /);
    assert.match(absolute, /\r\n\/v1\/status\r\n/);
    const asterisk = await exchange("OPTIONS * HTTP/1.1");
    assert.match(asterisk, /^HTTP\/1\.1 400 /);
    assert.match(asterisk, /problems\/validation/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("guarded server: a body on a quiet path (a site's peer stream) may pause past the body deadline; elsewhere the same pause is cut", async () => {
  const { server } = await start({ quietBodies: (path) => path.startsWith("/raft/") });
  try {
    const pause = (path: string) =>
      holdOpen(
        server.addr.port,
        `POST ${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n`,
        { waitMs: 1500 },
      );
    const [quiet, loud] = await Promise.all([pause("/raft/echo"), pause("/echo")]);
    assert.equal(quiet.closedAfterMs, undefined, "the quiet stream was cut");
    assert.ok(
      loud.closedAfterMs !== undefined && loud.closedAfterMs < 1200,
      `${loud.closedAfterMs}`,
    );
    assert.equal(server.cuts().get("body"), 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("guarded server: a streamed answer's head goes out at once, before its first bytes (a quiet event stream, a peer stream's answer)", async () => {
  const { server, url } = await start();
  try {
    const t0 = performance.now();
    const res = await fetch(`${url}/quiet`);
    const headAfter = performance.now() - t0;
    assert.equal(res.status, 200);
    assert.ok(headAfter < 600, `the head came after ${headAfter} ms`);
    assert.equal(await res.text(), "late");
  } finally {
    await server.shutdown();
  }
});

Deno.test("guarded server: a handler that stops reading a streamed body (cancels it) while the client goes on sending it, and ends it, is no error: what comes after is dropped and the server serves on", async () => {
  const cancelled = Promise.withResolvers<void>();
  const { server, url } = await start({
    handler: (req) => {
      if (new URL(req.url).pathname === "/next") return new Response("next");
      // Answered at once, read until the handler stops reading (as a peer stream
      // a newer one from the same member replaces), closed a little later.
      void (async () => {
        const reader = req.body!.getReader();
        await reader.read();
        await reader.cancel();
        cancelled.resolve();
      })();
      return new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(encode("open\n"));
            await sleep(400);
            c.close();
          },
        }),
      );
    },
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    await conn.write(
      encode("POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n"),
    );
    await cancelled.promise;
    // More body after the handler stopped reading, then its end.
    for (let i = 0; i < 20; i++) await conn.write(encode("4\r\nabcd\r\n"));
    await conn.write(encode("0\r\n\r\n"));
    await sleep(100);
    assert.equal(await (await fetch(`${url}/next`)).text(), "next");
  } finally {
    conn.close();
    await server.shutdown();
  }
});
