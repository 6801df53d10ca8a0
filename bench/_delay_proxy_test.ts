import assert from "node:assert/strict";
import { applyCommand, DelayProxy, RouteGate, routeSeed } from "./_delay_proxy.ts";

const oneWayMs = 40;

/** A loopback server that hands each connection to `handle`. */
function serve(handle: (conn: Deno.Conn) => Promise<void>): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    try {
      for await (const conn of listener) {
        handle(conn).catch(() => {}).finally(() => {
          try {
            conn.close();
          } catch { /* closed */ }
        });
      }
    } catch { /* closed */ }
  })();
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

/** Echoes everything back, then half-closes when the client does. */
async function echo(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    let off = 0;
    while (off < n) off += await conn.write(buf.subarray(off, n));
  }
  await conn.closeWrite();
}

async function readExactly(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let off = 0;
  while (off < length) {
    const n = await conn.read(out.subarray(off));
    if (n === null) throw new Error(`End of stream after ${off} of ${length} bytes`);
    off += n;
  }
  return out;
}

async function withProxy(
  handle: (conn: Deno.Conn) => Promise<void>,
  body: (port: number) => Promise<void>,
): Promise<void> {
  const server = serve(handle);
  const proxy = await DelayProxy.start([server.port], oneWayMs);
  try {
    assert.equal(proxy.ports.length, 1);
    await body(proxy.ports[0]);
  } finally {
    await proxy.stop();
    server.close();
  }
}

Deno.test("delay proxy: a round trip takes at least 2 × oneWayMs, and not much more", async () => {
  await withProxy(echo, async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const trips: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        await conn.write(new Uint8Array([i]));
        assert.deepEqual(await readExactly(conn, 1), new Uint8Array([i]));
        trips.push(performance.now() - t0);
      }
      for (const t of trips) {
        assert.ok(t >= 2 * oneWayMs, `a round trip took ${t.toFixed(1)} ms < ${2 * oneWayMs}`);
        assert.ok(t < 2 * oneWayMs + 400, `a round trip took ${t.toFixed(1)} ms`);
      }
    } finally {
      conn.close();
    }
  });
});

Deno.test("delay proxy: megabytes in many writes arrive intact and in order, both ways", async () => {
  await withProxy(echo, async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      const sent = new Uint8Array(3 * 1024 * 1024 + 17);
      for (let off = 0; off < sent.length; off += 65536) {
        crypto.getRandomValues(sent.subarray(off, Math.min(sent.length, off + 65536)));
      }
      const reading = readExactly(conn, sent.length);
      // Writes of uneven sizes, some tiny, with pauses, so chunks interleave with deliveries.
      let off = 0;
      for (let i = 0; off < sent.length; i++) {
        const size = Math.min(sent.length - off, i % 7 === 0 ? 3 : 1 + ((i * 7919) % 90_000));
        let w = 0;
        while (w < size) w += await conn.write(sent.subarray(off + w, off + size));
        off += size;
        if (i % 25 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      const got = await reading;
      assert.equal(got.length, sent.length);
      assert.ok(got.every((b, i) => b === sent[i]), "the echoed bytes differ from those sent");
    } finally {
      conn.close();
    }
  });
});

Deno.test("delay proxy: each direction of a streaming exchange is delayed by oneWayMs", async () => {
  // The server streams numbered chunks while the client streams its own, as
  // the sites' long-lived `POST /raft/stream` bodies do; each side notes when
  // each chunk was sent and when the other side got it.
  const sentAt = { up: [] as number[], down: [] as number[] };
  const gotAt = { up: [] as number[], down: [] as number[] };
  const rounds = 6;
  const stream = async (conn: Deno.Conn, dir: "up" | "down") => {
    for (let i = 0; i < rounds; i++) {
      sentAt[dir].push(performance.now());
      await conn.write(new Uint8Array([i]));
      await new Promise((r) => setTimeout(r, 15));
    }
  };
  const collect = async (conn: Deno.Conn, dir: "up" | "down") => {
    for (let i = 0; i < rounds; i++) {
      const [b] = await readExactly(conn, 1);
      gotAt[dir].push(performance.now());
      assert.equal(b, i, `chunk ${i} of ${dir} came out of order`);
    }
  };
  await withProxy(async (conn) => {
    await Promise.all([stream(conn, "down"), collect(conn, "up")]);
    // Let the client see everything before the server closes.
    await new Promise((r) => setTimeout(r, 4 * oneWayMs));
  }, async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await Promise.all([stream(conn, "up"), collect(conn, "down")]);
    } finally {
      conn.close();
    }
  });
  for (const dir of ["up", "down"] as const) {
    assert.equal(gotAt[dir].length, rounds);
    for (let i = 0; i < rounds; i++) {
      const ms = gotAt[dir][i] - sentAt[dir][i];
      assert.ok(ms >= oneWayMs - 1, `${dir} chunk ${i} took ${ms.toFixed(1)} ms < ${oneWayMs}`);
      assert.ok(ms < oneWayMs + 300, `${dir} chunk ${i} took ${ms.toFixed(1)} ms`);
    }
  }
});

Deno.test("delay proxy: a half-close reaches the target after the bytes before it, and the target's close comes back", async () => {
  let serverSawEndAt = NaN;
  let serverGot = "";
  await withProxy(async (conn) => {
    const buf = new Uint8Array(1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      serverGot += new TextDecoder().decode(buf.subarray(0, n));
    }
    serverSawEndAt = performance.now();
    await conn.write(new TextEncoder().encode("bye"));
    // The handler's return closes the connection.
  }, async (port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await conn.write(new TextEncoder().encode("hello"));
      const t0 = performance.now();
      await conn.closeWrite();
      const reply = await readExactly(conn, 3);
      assert.equal(new TextDecoder().decode(reply), "bye");
      const end = await Promise.race([
        conn.read(new Uint8Array(16)),
        new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 2_000)),
      ]);
      assert.equal(end, null, "the target's close did not reach the client");
      assert.ok(
        serverSawEndAt - t0 >= oneWayMs - 1,
        `the end of stream reached the target after ${(serverSawEndAt - t0).toFixed(1)} ms`,
      );
      assert.equal(serverGot, "hello");
    } finally {
      conn.close();
    }
  });
});

Deno.test("delay proxy: a connection to a target that refuses is closed", async () => {
  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (free.addr as Deno.NetAddr).port;
  free.close();
  const proxy = await DelayProxy.start([port], oneWayMs);
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[0] });
    try {
      const end = await Promise.race([
        conn.read(new Uint8Array(16)).catch(() => null),
        new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 2_000)),
      ]);
      assert.equal(end, null);
    } finally {
      conn.close();
    }
  } finally {
    await proxy.stop();
  }
});

/** Reads still waiting after a {@link readWithin} timed out, by connection: the next call takes their bytes. */
const pendingReads = new WeakMap<Deno.Conn, Promise<Uint8Array | null>>();

/** What a read on `conn` gives within `ms`: bytes, the end of the stream (null), or "timeout". */
async function readWithin(conn: Deno.Conn, ms: number): Promise<Uint8Array | null | "timeout"> {
  let read = pendingReads.get(conn);
  if (read === undefined) {
    const buf = new Uint8Array(1024);
    read = conn.read(buf).then((n) => (n === null ? null : buf.slice(0, n)), () => null);
    pendingReads.set(conn, read);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const result = await Promise.race([
    read,
    new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), ms)),
  ]);
  clearTimeout(timer);
  if (result !== "timeout") pendingReads.delete(conn);
  return result;
}

/** Two echo servers behind one proxy (routes 0 and 1, no delay), and what connected to each. */
async function withTwoRoutes(
  body: (proxy: DelayProxy, accepted: number[]) => Promise<void>,
): Promise<void> {
  const accepted = [0, 0];
  const servers = [0, 1].map((i) =>
    serve((conn) => {
      accepted[i]++;
      return echo(conn);
    })
  );
  const proxy = await DelayProxy.start(servers.map((s) => s.port), 0);
  try {
    await body(proxy, accepted);
  } finally {
    await proxy.stop();
    for (const s of servers) s.close();
  }
}

Deno.test("delay proxy: a route cut silently holds its connections open and moves nothing either way, a new connection reaches its target only once healed, and healed, the held bytes arrive in order; other routes go on", async () => {
  await withTwoRoutes(async (proxy, accepted) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[0] });
    const other = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[1] });
    try {
      await conn.write(new Uint8Array([1]));
      assert.deepEqual(await readWithin(conn, 2000), new Uint8Array([1]));
      await proxy.cut([0], "silent");
      await conn.write(new Uint8Array([2, 3]));
      assert.equal(await readWithin(conn, 300), "timeout", "bytes crossed a silent cut");
      const late = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[0] });
      await late.write(new Uint8Array([9]));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(accepted[0], 1, "a connection reached its target through a silent cut");
      // The route beside it is not cut.
      await other.write(new Uint8Array([7]));
      assert.deepEqual(await readWithin(other, 2000), new Uint8Array([7]));
      await proxy.heal([0]);
      const got: number[] = [];
      while (got.length < 2) {
        const r = await readWithin(conn, 2000);
        assert.ok(r instanceof Uint8Array, `after the heal: ${r}`);
        got.push(...r);
      }
      assert.deepEqual(got, [2, 3]);
      assert.deepEqual(await readWithin(late, 2000), new Uint8Array([9]));
      assert.equal(accepted[0], 2);
      late.close();
    } finally {
      conn.close();
      other.close();
    }
  });
});

Deno.test("delay proxy: a route cut by reset ends its connections at once and closes new ones until healed; then connections work again", async () => {
  await withTwoRoutes(async (proxy) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[0] });
    try {
      await conn.write(new Uint8Array([1]));
      assert.deepEqual(await readWithin(conn, 2000), new Uint8Array([1]));
      await proxy.cut([0], "reset");
      assert.equal(await readWithin(conn, 2000), null, "the connection did not end");
      const refused = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[0] });
      assert.equal(await readWithin(refused, 2000), null, "a new connection was not closed");
      refused.close();
      await proxy.heal();
      const again = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[0] });
      await again.write(new Uint8Array([5]));
      assert.deepEqual(await readWithin(again, 2000), new Uint8Array([5]));
      again.close();
    } finally {
      conn.close();
    }
  });
});

Deno.test("delay proxy: a cut of several routes is applied at once; a route out of range or a malformed command is refused", async () => {
  const gates = [new RouteGate(), new RouteGate(), new RouteGate()];
  assert.equal(applyCommand("cut silent 0,2", gates), "ok");
  assert.deepEqual(gates.map((g) => g.mode), ["silent", "open", "silent"]);
  assert.equal(applyCommand("cut reset 1", gates), "ok");
  assert.equal(applyCommand("heal 0", gates), "ok");
  assert.deepEqual(gates.map((g) => g.mode), ["open", "reset", "silent"]);
  assert.equal(applyCommand("heal", gates), "ok");
  assert.deepEqual(gates.map((g) => g.mode), ["open", "open", "open"]);
  for (const bad of ["cut silent 3", "cut loud 0", "cut silent", "heal 0,x", "drop 0", ""]) {
    assert.match(applyCommand(bad, gates), /^error /, bad);
  }
  assert.deepEqual(gates.map((g) => g.mode), ["open", "open", "open"]);
  await withTwoRoutes(async (proxy) => {
    assert.throws(() => proxy.cut([2]), RangeError);
    await proxy.cut([0, 1]);
    await proxy.heal([1]);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[1] });
    await conn.write(new Uint8Array([3]));
    assert.deepEqual(await readWithin(conn, 2000), new Uint8Array([3]));
    conn.close();
  });
});

Deno.test("delay proxy: a route's jitter draws come from its seed (the same seed, the same draws), each in [oneWayMs, oneWayMs + jitterMs)", () => {
  const draws = (seed: number) => {
    const gate = new RouteGate(0, seed);
    gate.delay(200, 600);
    return Array.from({ length: 50 }, () => gate.drawDelayMs());
  };
  assert.deepEqual(draws(7), draws(7));
  assert.notDeepEqual(draws(7), draws(8));
  for (const d of draws(7)) assert.ok(d >= 200 && d < 800, `a draw of ${d} ms`);
  assert.notEqual(routeSeed(7, 0), routeSeed(7, 1));
  const gate = new RouteGate(5, 1);
  gate.delay(100, 50);
  gate.rate(1000);
  gate.heal();
  assert.deepEqual(gate.shape, { oneWayMs: 5, jitterMs: 0, bytesPerSecond: 0 });
});

Deno.test("delay proxy: a route given a delay and a jitter delays each round trip by 2 × oneWayMs to 2 × (oneWayMs + jitterMs), keeps the bytes in order, and leaves the other routes alone", async () => {
  await withTwoRoutes(async (proxy) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[0] });
    const other = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[1] });
    try {
      await proxy.delay([0], 60, 60);
      const trips: number[] = [];
      for (let i = 0; i < 6; i++) {
        const t0 = performance.now();
        // Three writes at once: they come back in order whatever their draws.
        for (const b of [3 * i, 3 * i + 1, 3 * i + 2]) await conn.write(new Uint8Array([b]));
        assert.deepEqual(await readExactly(conn, 3), new Uint8Array([3 * i, 3 * i + 1, 3 * i + 2]));
        trips.push(performance.now() - t0);
      }
      for (const t of trips) {
        assert.ok(t >= 120 - 1 && t < 240 + 400, `a round trip took ${t.toFixed(1)} ms`);
      }
      // A delay no busy machine's scheduling comes near, so the two checks
      // below tell a delayed round trip (2 s at least) from a loaded one.
      await proxy.delay([0], 1000, 0);
      const t0 = performance.now();
      await other.write(new Uint8Array([1]));
      await readExactly(other, 1);
      assert.ok(performance.now() - t0 < 1000, "the other route was delayed");
      // Healed, the route is as started (no delay).
      await proxy.heal([0]);
      const t1 = performance.now();
      await conn.write(new Uint8Array([1]));
      await readExactly(conn, 1);
      assert.ok(performance.now() - t1 < 1000, "the heal left the delay");
    } finally {
      conn.close();
      other.close();
    }
  });
});

Deno.test("delay proxy: a route limited to a rate carries bytes no faster than it, intact, its connections sharing it", async () => {
  await withTwoRoutes(async (proxy) => {
    const rate = 64 * 1024;
    await proxy.rate([0], rate);
    const conns = await Promise.all(
      [0, 1].map(() => Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[0] })),
    );
    try {
      // Two connections echo 32 KiB each: 64 KiB each way over the shared wire, about 1 s.
      const t0 = performance.now();
      await Promise.all(conns.map(async (conn) => {
        const sent = crypto.getRandomValues(new Uint8Array(32 * 1024));
        const reading = readExactly(conn, sent.length);
        await conn.write(sent);
        assert.deepEqual(await reading, sent);
      }));
      const ms = performance.now() - t0;
      assert.ok(ms >= 1000 - 50, `64 KiB crossed a ${rate} B/s route in ${ms.toFixed(0)} ms`);
      assert.ok(ms < 4000, `64 KiB took ${ms.toFixed(0)} ms`);
    } finally {
      for (const c of conns) c.close();
    }
  });
});

Deno.test("delay proxy: a hung route keeps its connections working, holds a new one without reaching its target, and the heal closes that one; a connection after the heal works", async () => {
  await withTwoRoutes(async (proxy, accepted) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[0] });
    try {
      await conn.write(new Uint8Array([1]));
      assert.deepEqual(await readWithin(conn, 2000), new Uint8Array([1]));
      await proxy.cut([0], "hang");
      const hung = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[0] });
      await hung.write(new Uint8Array([9]));
      assert.equal(await readWithin(hung, 300), "timeout", "a hung connect was answered");
      assert.equal(accepted[0], 1, "a hung connect reached its target");
      // The connection made before still works.
      await conn.write(new Uint8Array([2]));
      assert.deepEqual(await readWithin(conn, 2000), new Uint8Array([2]));
      await proxy.heal([0]);
      assert.equal(await readWithin(hung, 2000), null, "the heal did not close the hung connect");
      assert.equal(accepted[0], 1, "the hung connect's request was delivered after the heal");
      hung.close();
      const again = await Deno.connect({ hostname: "127.0.0.1", port: proxy.ports[0] });
      await again.write(new Uint8Array([5]));
      assert.deepEqual(await readWithin(again, 2000), new Uint8Array([5]));
      assert.equal(accepted[0], 2);
      again.close();
    } finally {
      conn.close();
    }
  });
});

Deno.test("delay proxy: delay, rate and hang commands shape or cut the routes they name; malformed ones change nothing", () => {
  const gates = [new RouteGate(), new RouteGate()];
  assert.equal(applyCommand("delay 0,1 200 600", gates), "ok");
  assert.equal(applyCommand("rate 1 4096", gates), "ok");
  assert.equal(applyCommand("cut hang 0", gates), "ok");
  assert.deepEqual(gates.map((g) => g.mode), ["hang", "open"]);
  assert.deepEqual(gates[1].shape, { oneWayMs: 200, jitterMs: 600, bytesPerSecond: 4096 });
  assert.equal(applyCommand("delay 1 50", gates), "ok");
  assert.deepEqual(gates[1].shape, { oneWayMs: 50, jitterMs: 0, bytesPerSecond: 4096 });
  for (
    const bad of [
      "delay 2 10",
      "delay 0 -1",
      "delay 0 10001",
      "delay 0 1.5",
      "delay 0",
      "rate 0 x",
      "rate 0 -5",
      "rate 0",
    ]
  ) {
    assert.match(applyCommand(bad, gates), /^error /, bad);
  }
  assert.deepEqual(gates[1].shape, { oneWayMs: 50, jitterMs: 0, bytesPerSecond: 4096 });
});
