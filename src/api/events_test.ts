import assert from "node:assert/strict";
import { type AppOptions, createApp } from "./app.ts";
import { FakeLedgerService, sampleEnvelope } from "./testing.ts";
import { PROBLEM_TYPE_BASE } from "../../sdk/api/routes.ts";

/** One parsed SSE frame; `event` is undefined for a bare `id:` line or a comment. */
interface Frame {
  event?: string;
  id?: string;
  // deno-lint-ignore no-explicit-any
  data?: any;
  comment?: string;
}

function parseFrame(raw: string): Frame {
  const frame: Frame = {};
  for (const line of raw.split("\n")) {
    if (line.startsWith(":")) frame.comment = line.slice(1).trim();
    else if (line.startsWith("event: ")) frame.event = line.slice(7);
    else if (line.startsWith("id: ")) frame.id = line.slice(4);
    else if (line.startsWith("data: ")) frame.data = JSON.parse(line.slice(6));
  }
  return frame;
}

/**
 * Reads SSE frames from a response as they come. `until(done)` reads until
 * `done(frames)` holds for the frames read since the previous `until`, or
 * fails after `timeoutMs`.
 */
class SseReader {
  readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  #decoder = new TextDecoder();
  #buffer = "";
  #pending: Frame[] = [];
  #read: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;

  constructor(res: Response) {
    this.reader = res.body!.getReader();
  }

  async until(done: (frames: Frame[]) => boolean, timeoutMs = 2000): Promise<Frame[]> {
    const frames: Frame[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#pending.length > 0 && !done(frames)) frames.push(this.#pending.shift()!);
      if (done(frames)) return frames;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Timed out; frames so far: ${JSON.stringify(frames)}`)),
          Math.max(0, deadline - Date.now()),
        );
      });
      this.#read ??= this.reader.read();
      try {
        const { value, done: ended } = await Promise.race([this.#read, timeout]);
        this.#read = null;
        if (ended) throw new Error(`Stream ended; frames so far: ${JSON.stringify(frames)}`);
        this.#buffer += this.#decoder.decode(value, { stream: true });
      } finally {
        clearTimeout(timer);
      }
      let end: number;
      while ((end = this.#buffer.indexOf("\n\n")) >= 0) {
        this.#pending.push(parseFrame(this.#buffer.slice(0, end)));
        this.#buffer = this.#buffer.slice(end + 2);
      }
    }
  }
}

/** Opens the stream and reads until `done`. */
async function readFrames(res: Response, done: (frames: Frame[]) => boolean) {
  const sse = new SseReader(res);
  const frames = await sse.until(done);
  return { frames, reader: sse.reader, sse };
}

const blockEvents = (frames: Frame[]) => frames.filter((f) => f.event === "block");

async function setup(blocks: Array<Array<Record<string, unknown>>>, options: AppOptions = {}) {
  const service = new FakeLedgerService();
  service.autoCommit = false;
  const logged: unknown[] = [];
  const app = createApp(service, { logError: (err) => logged.push(err), ...options });
  for (const envelopes of blocks) {
    await service.submit(envelopes, { wait: false, waitTimeoutMs: 0 });
    await service.commitPending();
  }
  return { service, app, logged };
}

async function closeAndSettle(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  service: FakeLedgerService,
) {
  await reader.cancel();
  for (let i = 0; i < 50 && service.activeSubscriptions > 0; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
}

const alice = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
const bob = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2";

const env = (n: number, overrides: Record<string, unknown> = {}) =>
  sampleEnvelope({ nonce: String(n).padStart(22, "A"), ...overrides });

Deno.test("GET /v1/events: sends committed blocks as `block` events with id = height, from storage then live", async () => {
  const { app, service } = await setup([[env(1)], [env(2)]]);
  const res = await app.request("/v1/events?from=0");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  assert.ok(res.headers.get("x-request-id"));
  const { frames, reader, sse } = await readFrames(res, (f) => blockEvents(f).length >= 3);
  const events = blockEvents(frames);
  assert.deepEqual(events.map((e) => e.id), ["0", "1", "2"]);
  assert.deepEqual(events[1].data, service.events[1]);
  // Live: a block committed after connecting arrives too.
  await service.submit([env(3)], { wait: false, waitTimeoutMs: 0 });
  await service.commitPending();
  const live = await sse.until((f) => blockEvents(f).length >= 1);
  assert.deepEqual(blockEvents(live).map((e) => e.id), ["3"]);
  assert.deepEqual(blockEvents(live)[0].data, service.events[3]);
  await closeAndSettle(reader, service);
});

Deno.test("GET /v1/events: without from or Last-Event-ID only blocks after the current head are sent", async () => {
  const { app, service } = await setup([[env(1)]]);
  const res = await app.request("/v1/events");
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(service.calls.find((c) => c.method === "subscribe")?.args[0], 1);
  await service.submit([env(2)], { wait: false, waitTimeoutMs: 0 });
  await service.commitPending();
  const { frames, reader } = await readFrames(res, (f) => blockEvents(f).length >= 1);
  assert.deepEqual(blockEvents(frames).map((e) => e.id), ["2"]);
  await closeAndSettle(reader, service);
});

Deno.test("GET /v1/events: resumes after Last-Event-ID without repeating, and Last-Event-ID wins over from", async () => {
  const { app, service } = await setup([[env(1)], [env(2)], [env(3)]]);
  const first = await app.request("/v1/events?from=0");
  const { frames, reader } = await readFrames(first, (f) => blockEvents(f).length >= 2);
  const lastId = blockEvents(frames).at(-1)!.id!;
  await closeAndSettle(reader, service);
  // A reconnecting EventSource keeps its URL (from=0) and adds Last-Event-ID.
  const resumed = await app.request("/v1/events?from=0", { headers: { "last-event-id": lastId } });
  const next = await readFrames(resumed, (f) => blockEvents(f).length >= 2);
  const ids = blockEvents(next.frames).map((e) => e.id);
  assert.deepEqual(ids, ["2", "3"]);
  assert.ok(!ids.includes(lastId));
  await closeAndSettle(next.reader, service);
});

Deno.test("GET /v1/events: a kind filter sends matching txs only; other blocks advance the id without an event", async () => {
  const { app, service } = await setup([
    [env(1, { kind: "data.anchor" }), env(2, { kind: "custody.handoff" })],
    [env(3, { kind: "custody.handoff" })],
    [env(4, { kind: "gov.addSite" })],
  ]);
  const res = await app.request("/v1/events?from=1&kind=data.anchor,gov.addSite");
  const { frames, reader } = await readFrames(
    res,
    (f) => f.filter((x) => x.id !== undefined).length >= 3,
  );
  assert.deepEqual(frames.map((f) => [f.event, f.id]), [["block", "1"], [undefined, "2"], [
    "block",
    "3",
  ]]);
  const [b1, , b3] = frames;
  assert.deepEqual(b1.data.txs.map((t: { kind: string }) => t.kind), ["data.anchor"]);
  assert.equal(b1.data.header.txCount, 2);
  assert.deepEqual(b3.data.txs.map((t: { kind: string }) => t.kind), ["gov.addSite"]);
  assert.equal(frames[1].data, undefined);
  await closeAndSettle(reader, service);
});

Deno.test("GET /v1/events: a signer filter sends only blocks with txs signed by that did", async () => {
  const { app, service } = await setup([
    [env(1, { signers: [alice] })],
    [env(2, { signers: [bob, alice] }), env(3, { signers: [bob] })],
  ]);
  const res = await app.request(`/v1/events?from=1&signer=${encodeURIComponent(bob)}`);
  const { frames, reader } = await readFrames(
    res,
    (f) => f.filter((x) => x.id !== undefined).length >= 2,
  );
  assert.deepEqual(frames.map((f) => [f.event, f.id]), [[undefined, "1"], ["block", "2"]]);
  assert.equal(frames[1].data.txs.length, 2);
  await closeAndSettle(reader, service);
});

Deno.test("GET /v1/events: the client disconnecting unsubscribes from the service", async () => {
  const { app, service } = await setup([[env(1)]]);
  const res = await app.request("/v1/events?from=0");
  const { reader } = await readFrames(res, (f) => blockEvents(f).length >= 1);
  assert.equal(service.activeSubscriptions, 1);
  await closeAndSettle(reader, service);
  assert.equal(service.activeSubscriptions, 0);
});

Deno.test("GET /v1/events: sends a heartbeat comment every eventsHeartbeatMs", async () => {
  const { app, service } = await setup([], { eventsHeartbeatMs: 10 });
  const res = await app.request("/v1/events");
  const { frames, reader } = await readFrames(res, (f) => f.some((x) => x.comment === "heartbeat"));
  assert.ok(frames.some((f) => f.comment === "heartbeat"));
  await closeAndSettle(reader, service);
});

Deno.test("GET /v1/events: passes eventsBufferBlocksMax to subscribe and ends with an `end` event when dropped", async () => {
  const { app, service } = await setup([], { eventsBufferBlocksMax: 7 });
  const res = await app.request("/v1/events");
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(service.calls.find((c) => c.method === "subscribe")?.args[1], {
    bufferBlocksMax: 7,
  });
  // Simulate the site dropping this subscriber.
  const [sub] = service.subscribers;
  service.subscribers.delete(sub);
  sub.closed = true;
  sub.onEnd("slow_consumer");
  const { frames } = await readFrames(res, (f) => f.some((x) => x.event === "end"));
  assert.deepEqual(frames.find((f) => f.event === "end")?.data, { reason: "slow_consumer" });
});

Deno.test("GET /v1/events: a malformed Last-Event-ID, kind or signer is a validation problem naming it", async () => {
  const { app } = await setup([]);
  const cases: Array<[string, Record<string, string>, string]> = [
    ["/v1/events", { "last-event-id": "abc" }, "header.last-event-id"],
    ["/v1/events?kind=Data%20Anchor", {}, "query.kind"],
    ["/v1/events?kind=data.anchor,Gov.addSite", {}, "query.kind"],
    ["/v1/events?kind=data.anchor,", {}, "query.kind"],
    [`/v1/events?kind=data.${"a".repeat(60)}`, {}, "query.kind"],
    ["/v1/events?signer=alice", {}, "query.signer"],
    ["/v1/events?from=-1", {}, "query.from"],
  ];
  for (const [path, headers, field] of cases) {
    const res = await app.request(path, { headers });
    assert.equal(res.status, 400, path);
    const problem = await res.json();
    assert.equal(problem.type, PROBLEM_TYPE_BASE + "validation");
    assert.deepEqual(problem.errors.map((e: { path: string }) => e.path), [field], path);
  }
});

Deno.test("GET /v1/events: past eventsSubscribersMax streams a new subscriber gets 503 unavailable", async () => {
  const { app, service } = await setup([], { eventsSubscribersMax: 1 });
  const first = await app.request("/v1/events");
  const second = await app.request("/v1/events");
  assert.equal(second.status, 503);
  assert.equal((await second.json()).type, PROBLEM_TYPE_BASE + "unavailable");
  const reader = first.body!.getReader();
  await closeAndSettle(reader, service);
  await new Promise((r) => setTimeout(r, 10));
  const third = await app.request("/v1/events");
  assert.equal(third.status, 200);
  await closeAndSettle(third.body!.getReader(), service);
});

Deno.test("GET /v1/events: a failing subscription ends the stream with reason internal, leaking nothing", async () => {
  const { app, service, logged } = await setup([]);
  const bug = new Error("Cannot read /var/lib/edgeledger/secret.db");
  service.failures.set("subscribe", bug);
  const res = await app.request("/v1/events?from=0");
  const text = await res.text();
  assert.equal(text, 'event: end\ndata: {"reason":"internal"}\n\n');
  assert.deepEqual(logged, [bug]);
  assert.equal(service.activeSubscriptions, 0);
});

Deno.test("GET /v1/events: a subscriber dropped while it reads nothing is disconnected and frees its slot", async () => {
  // Three blocks to send: the second frame already waits for the reader.
  const blocks = [7, 8, 9].map((n) => [env(n)]);
  const { app, service } = await setup(blocks, { eventsSubscribersMax: 1 });
  const stalled = await app.request("/v1/events?from=0");
  await new Promise((r) => setTimeout(r, 10));
  // The site drops it (a slow consumer); its reader never takes the `end` frame.
  const [sub] = service.subscribers;
  service.subscribers.delete(sub);
  sub.closed = true;
  sub.onEnd("slow_consumer");
  await new Promise((r) => setTimeout(r, 1300));
  const next = await app.request("/v1/events");
  assert.equal(next.status, 200, "the stalled stream's slot is free again");
  await closeAndSettle(next.body!.getReader(), service);
  await stalled.body?.cancel().catch(() => {});
});

Deno.test("HEAD /v1/events: answers the stream's headers without subscribing, so HEADs hold no stream slot", async () => {
  const { app, service } = await setup([[env(1)]], { eventsSubscribersMax: 3 });
  const streams = async () => {
    const text = await (await app.request("/metrics")).text();
    return Number(/^edgeledger_http_event_streams (\d+)$/m.exec(text)?.[1]);
  };
  for (let i = 0; i < 10; i++) {
    const res = await app.request("/v1/events?from=0", { method: "HEAD" });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    assert.ok(res.headers.get("x-request-id"));
    assert.equal(await res.text(), "");
  }
  assert.equal(await streams(), 0);
  assert.equal(service.calls.filter((c) => c.method === "subscribe").length, 0);
  // A GET still subscribes, past as many HEADs as there are slots.
  const res = await app.request("/v1/events?from=0");
  assert.equal(res.status, 200);
  const { reader } = await readFrames(res, (f) => blockEvents(f).length >= 1);
  assert.equal(await streams(), 1);
  assert.equal(service.calls.filter((c) => c.method === "subscribe").length, 1);
  await closeAndSettle(reader, service);
});

Deno.test("HEAD /v1/events: a malformed query is the same validation problem as for GET", async () => {
  const { app } = await setup([]);
  const res = await app.request("/v1/events?from=1e3", { method: "HEAD" });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
});
