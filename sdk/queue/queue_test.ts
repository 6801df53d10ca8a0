import assert from "node:assert/strict";
import { createEnvelope, type Envelope, signEnvelope, transactionId } from "../envelope.ts";
import { generateKeyPair, softwareSigner } from "../keys.ts";
import { EdgeLedgerClient, type Receipt } from "../client/client.ts";
import { NetworkError, RateLimitedError, RejectedError, ServerError } from "../client/errors.ts";
import { FileQueueStore } from "./file_store.ts";
import {
  type Delivered,
  OfflineQueue,
  QueueFullError,
  type Rejected,
  type Submitter,
} from "./queue.ts";
import { MemoryQueueStore, type QueuedTx } from "./store.ts";
import { PROBLEM_TYPE_BASE } from "../api/schemas.ts";

const key = generateKeyPair("ed25519");

async function envelope(seq: number, expiresAt = Date.now() + 3_600_000): Promise<Envelope> {
  const unsigned = createEnvelope({
    ledger: "demo",
    kind: "data.anchor",
    body: { stream: "s", seq, root: "00".repeat(32), count: 1, from: 0, to: 0 },
    signers: [key.did],
    expiresAt,
  });
  return await signEnvelope(unsigned, [softwareSigner(key)]);
}

/** A site stand-in: records what it received; `down` makes it unreachable. */
class FakeSite implements Submitter {
  down = false;
  received: string[] = [];
  refuse = new Map<string, string>();
  /** The status of a refusal's problem, by slug (422 when not set). */
  refuseStatus = new Map<string, number>();
  batches: number[] = [];
  /** Answer `pending` even when asked to wait for commit. */
  slow = false;
  /** Take the batch, then fail as if the answer was lost on the way back. */
  loseAnswers = false;
  /** The site's clock: an envelope it has not taken is refused as `expired` past its `expiresAt`. */
  now: () => number = Date.now;
  submit(envelopes: readonly Envelope[], options?: { wait?: "commit" }): Promise<Receipt[]> {
    if (this.down) return Promise.reject(new NetworkError("Cannot reach http://site: refused"));
    this.batches.push(envelopes.length);
    const receipts = envelopes.map((e) => {
      const txId = transactionId(e);
      const slug = this.refuse.get(txId) ??
        (e.expiresAt < this.now() && !this.received.includes(txId) ? "expired" : undefined);
      if (slug !== undefined) {
        return {
          txId,
          status: "refused" as const,
          problem: {
            type: `https://edgeledger.dev/problems/${slug}`,
            title: slug,
            status: this.refuseStatus.get(slug) ?? 422,
            detail: `refused: ${slug}`,
          },
        };
      }
      const duplicate = this.received.includes(txId);
      if (!duplicate) this.received.push(txId);
      if (options?.wait === "commit" && !this.slow) {
        return {
          txId,
          status: "committed" as const,
          height: 1,
          logIndex: 0,
          result: { status: "applied" as const },
        };
      }
      return { txId, status: "pending" as const };
    });
    if (this.loseAnswers) {
      return Promise.reject(new NetworkError("Cannot read the answer of http://site: reset"));
    }
    return Promise.resolve(receipts);
  }
}

Deno.test("queue: the same signed transaction is queued once (no duplicates by txId)", async () => {
  const queue = new OfflineQueue({ submitter: new FakeSite() });
  const e = await envelope(1);
  assert.equal((await queue.enqueue(e)).status, "queued");
  assert.equal((await queue.enqueue(structuredClone(e))).status, "duplicate");
  assert.equal(await queue.size(), 1);
});

Deno.test("queue: reject-new refuses a transaction when full", async () => {
  const queue = new OfflineQueue({ submitter: new FakeSite(), sizeMax: 2 });
  await queue.enqueue(await envelope(1));
  await queue.enqueue(await envelope(2));
  const e3 = await envelope(3);
  const error = await queue.enqueue(e3).catch((e) => e);
  assert.ok(error instanceof QueueFullError);
  assert.equal(error.txId, transactionId(e3));
  assert.equal(await queue.size(), 2);
});

Deno.test("queue: drop-oldest drops and reports the oldest entry to make room", async () => {
  const dropped: QueuedTx[] = [];
  const queue = new OfflineQueue({
    submitter: new FakeSite(),
    sizeMax: 2,
    dropPolicy: "drop-oldest",
    onDropped: (d) => dropped.push(...d),
  });
  const [e1, e2, e3] = [await envelope(1), await envelope(2), await envelope(3)];
  await queue.enqueue(e1);
  await queue.enqueue(e2);
  const r = await queue.enqueue(e3);
  assert.deepEqual(r.dropped.map((d) => d.txId), [transactionId(e1)]);
  assert.deepEqual(dropped.map((d) => d.txId), [transactionId(e1)]);
  assert.deepEqual((await queue.list()).map((d) => d.txId), [e2, e3].map(transactionId));
});

Deno.test("queue: drain submits in order, in batches, and empties the queue", async () => {
  const site = new FakeSite();
  const queue = new OfflineQueue({ submitter: site, batchTxsMax: 3 });
  const envelopes = await Promise.all(Array.from({ length: 7 }, (_, i) => envelope(i)));
  for (const e of envelopes) await queue.enqueue(e);
  const report = await queue.drain();
  assert.deepEqual(site.batches, [3, 3, 1]);
  assert.deepEqual(site.received, envelopes.map(transactionId));
  assert.deepEqual(report.delivered.map((d) => d.entry.txId), envelopes.map(transactionId));
  assert.equal(report.remaining, 0);
  assert.equal(report.error, undefined);
});

Deno.test("queue: while the site is down entries stay queued, then drain with nothing lost or duplicated", async () => {
  const site = new FakeSite();
  const queue = new OfflineQueue({ submitter: site, batchTxsMax: 2 });
  const envelopes = await Promise.all(Array.from({ length: 5 }, (_, i) => envelope(i)));
  site.down = true;
  for (const e of envelopes) {
    const r = await queue.send(e);
    assert.equal(r.status, "queued");
  }
  const offline = await queue.drain();
  assert.ok(offline.error instanceof NetworkError);
  assert.equal(offline.remaining, 5);
  site.down = false;
  const online = await queue.drain();
  assert.equal(online.remaining, 0);
  assert.deepEqual(site.received, envelopes.map(transactionId));
  // Draining again sends nothing.
  await queue.drain();
  assert.deepEqual(site.batches, [2, 2, 1]);
});

Deno.test("queue: send submits at once when the queue is empty and a site answers", async () => {
  const site = new FakeSite();
  const queue = new OfflineQueue({ submitter: site });
  const r = await queue.send(await envelope(1));
  assert.equal(r.status, "submitted");
  assert.equal(await queue.size(), 0);
});

Deno.test("queue: send queues behind waiting entries so order is kept", async () => {
  const site = new FakeSite();
  const queue = new OfflineQueue({ submitter: site });
  const [e1, e2] = [await envelope(1), await envelope(2)];
  site.down = true;
  await queue.send(e1);
  site.down = false;
  const r = await queue.send(e2);
  assert.equal(r.status, "submitted");
  assert.deepEqual(site.received, [e1, e2].map(transactionId));
});

Deno.test("queue: a transaction that expired while queued is reported, not silently dropped", async () => {
  let now = Date.now();
  const reported: QueuedTx[] = [];
  const site = new FakeSite();
  const queue = new OfflineQueue({
    submitter: site,
    now: () => now,
    onExpired: (e) => reported.push(...e),
  });
  site.now = () => now;
  const soon = await envelope(1, now + 1000);
  const later = await envelope(2, now + 3_600_000);
  await queue.enqueue(soon);
  await queue.enqueue(later);
  now += 2000;
  const report = await queue.drain();
  assert.deepEqual(report.expired.map((e) => e.txId), [transactionId(soon)]);
  assert.deepEqual(reported.map((e) => e.txId), [transactionId(soon)]);
  assert.deepEqual(site.received, [transactionId(later)]);
  assert.equal(report.remaining, 0);
});

Deno.test("queue: an entry that expired after a site took it (the answer was lost) is delivered with its receipt, not reported expired", async () => {
  let now = Date.now();
  const site = new FakeSite();
  site.now = () => now;
  const expired: QueuedTx[] = [];
  const queue = new OfflineQueue({
    submitter: site,
    now: () => now,
    onExpired: (e) => expired.push(...e),
  });
  const e = await envelope(1, now + 1000);
  site.loseAnswers = true;
  const first = await queue.send(e);
  assert.equal(first.status, "queued");
  assert.deepEqual(site.received, [transactionId(e)]);
  site.loseAnswers = false;
  now += 60_000;
  const report = await queue.drain();
  assert.deepEqual(report.delivered.map((d) => [d.entry.txId, d.receipt.status]), [[
    transactionId(e),
    "committed",
  ]]);
  assert.deepEqual(report.expired, []);
  assert.deepEqual(expired, []);
  assert.equal(report.remaining, 0);
});

Deno.test("queue: an expired entry stays queued while no site answers, since only a site can say whether it committed", async () => {
  let now = Date.now();
  const site = new FakeSite();
  site.now = () => now;
  const queue = new OfflineQueue({ submitter: site, now: () => now });
  await queue.enqueue(await envelope(1, now + 1000));
  now += 2000;
  site.down = true;
  const offline = await queue.drain();
  assert.deepEqual(offline.expired, []);
  assert.equal(offline.remaining, 1);
  assert.ok(offline.error);
  site.down = false;
  const online = await queue.drain();
  assert.equal(online.expired.length, 1);
  assert.equal(online.remaining, 0);
});

Deno.test("queue: an already expired envelope is reported and not queued", async () => {
  const reported: QueuedTx[] = [];
  const queue = new OfflineQueue({
    submitter: new FakeSite(),
    onExpired: (e) => reported.push(...e),
  });
  const r = await queue.enqueue(await envelope(1, Date.now() - 1));
  assert.equal(r.status, "expired");
  assert.equal(reported.length, 1);
  assert.equal(await queue.size(), 0);
});

Deno.test("queue: a site's expired refusal is reported as expired; duplicate is pending (kept until committed); others as rejected", async () => {
  const site = new FakeSite();
  const t0 = Date.now();
  let now = t0;
  const [e1, e2, e3] = [await envelope(1, t0 + 1000), await envelope(2), await envelope(3)];
  site.refuse.set(transactionId(e1), "expired");
  site.refuse.set(transactionId(e2), "duplicate");
  site.refuse.set(transactionId(e3), "bad_signature");
  const queue = new OfflineQueue({ submitter: site, now: () => now });
  for (const e of [e1, e2, e3]) await queue.enqueue(e);
  now = t0 + 2000; // this device's clock agrees: e1 has expired
  const report = await queue.drain();
  assert.deepEqual(report.expired.map((e) => e.txId), [transactionId(e1)]);
  assert.deepEqual(report.delivered, []);
  assert.deepEqual(report.rejected.map((r) => [r.entry.txId, r.slug]), [[
    transactionId(e3),
    "bad_signature",
  ]]);
  assert.deepEqual((await queue.list()).map((q) => q.txId), [transactionId(e2)]);
  assert.ok(report.error, "the drain says why an entry is still queued");
  // Once the site answers the resubmission with the committed receipt, it is delivered.
  site.refuse.clear();
  assert.deepEqual((await queue.drain()).delivered.map((d) => d.entry.txId), [transactionId(e2)]);
});

Deno.test("queue: with deliveredWhen admitted a duplicate is delivered, as a pending transaction is", async () => {
  const site = new FakeSite();
  const e = await envelope(1);
  site.refuse.set(transactionId(e), "duplicate");
  const queue = new OfflineQueue({ submitter: site, deliveredWhen: "admitted" });
  await queue.enqueue(e);
  const report = await queue.drain();
  assert.deepEqual(report.delivered.map((d) => d.receipt), [{
    txId: transactionId(e),
    status: "pending",
  }]);
  assert.equal(report.remaining, 0);
});

Deno.test("queue: a transient per-item refusal (unavailable) keeps it and what follows queued", async () => {
  const site = new FakeSite();
  const [e1, e2] = [await envelope(1), await envelope(2)];
  site.refuse.set(transactionId(e1), "unavailable");
  const queue = new OfflineQueue({ submitter: site, batchTxsMax: 1 });
  await queue.enqueue(e1);
  await queue.enqueue(e2);
  const report = await queue.drain();
  assert.equal(report.remaining, 2);
  assert.ok(report.error);
  site.refuse.clear();
  assert.equal((await queue.drain()).remaining, 0);
  assert.deepEqual(site.received, [e1, e2].map(transactionId));
});

Deno.test("queue: a per-item refusal for want of disk space (insufficient_storage), or any with a 5xx problem, keeps the entry queued", async () => {
  const site = new FakeSite();
  const [e1, e2] = [await envelope(1), await envelope(2)];
  site.refuse.set(transactionId(e1), "insufficient_storage");
  site.refuseStatus.set("insufficient_storage", 503);
  site.refuse.set(transactionId(e2), "some_future_outage");
  site.refuseStatus.set("some_future_outage", 502);
  const queue = new OfflineQueue({ submitter: site, batchTxsMax: 2 });
  await queue.enqueue(e1);
  await queue.enqueue(e2);
  const report = await queue.drain();
  assert.equal(report.remaining, 2);
  site.refuse.clear();
  assert.equal((await queue.drain()).remaining, 0);
  assert.deepEqual(site.received, [e1, e2].map(transactionId));
});

Deno.test("queue: the file store keeps entries across queue instances (a restart)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/sub/outbox.json`;
    const site = new FakeSite();
    site.down = true;
    const first = new OfflineQueue({ submitter: site, store: new FileQueueStore(path) });
    const envelopes = [await envelope(1), await envelope(2)];
    for (const e of envelopes) await first.send(e);
    const second = new OfflineQueue({ submitter: site, store: new FileQueueStore(path) });
    assert.deepEqual((await second.list()).map((e) => e.txId), envelopes.map(transactionId));
    site.down = false;
    assert.equal((await second.drain()).remaining, 0);
    const third = new OfflineQueue({ submitter: site, store: new FileQueueStore(path) });
    assert.equal(await third.size(), 0);
    assert.deepEqual(site.received, envelopes.map(transactionId));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("queue: the file store refuses a corrupted file with its path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/outbox.json`;
    await Deno.writeTextFile(path, "{not json");
    await assert.rejects(() => new FileQueueStore(path).list(), /outbox\.json: not JSON/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("queue: start() drains in the background once the site is back", async () => {
  const site = new FakeSite();
  site.down = true;
  const queue = new OfflineQueue({ submitter: site });
  await queue.send(await envelope(1));
  queue.start({ intervalMs: 10, intervalMsMax: 20 });
  try {
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await queue.size(), 1);
    site.down = false;
    queue.kick();
    for (let i = 0; i < 100 && (await queue.size()) > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await queue.size(), 0);
  } finally {
    queue.stop();
  }
});

/**
 * A site that refuses the first `refusals.length` submissions with those
 * errors, then takes everything; `at` holds when each submission came (ms).
 */
class BusySite extends FakeSite {
  at: number[] = [];
  constructor(readonly refusals: Error[]) {
    super();
  }
  override submit(envelopes: readonly Envelope[], options?: { wait?: "commit" }) {
    this.at.push(performance.now());
    const refusal = this.refusals.shift();
    return refusal === undefined ? super.submit(envelopes, options) : Promise.reject(refusal);
  }
}

Deno.test("queue: start() waits a site's Retry-After (503 insufficient_storage, 429) before draining again", async () => {
  for (
    const refusal of [
      new ServerError("503: Insufficient storage", { status: 503, retryAfterMs: 400 }),
      new RateLimitedError("429: Too many requests", { retryAfterMs: 400 }),
    ]
  ) {
    const site = new BusySite([refusal]);
    const queue = new OfflineQueue({ submitter: site });
    await queue.enqueue(await envelope(1));
    queue.start({ intervalMs: 10, intervalMsMax: 5000 });
    try {
      for (let i = 0; i < 200 && (await queue.size()) > 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(await queue.size(), 0, refusal.message);
      assert.equal(site.at.length, 2, refusal.message);
      const waited = site.at[1] - site.at[0];
      // Backing off alone would have asked again after 20 ms.
      assert.ok(waited >= 390 && waited < 1500, `${refusal.message}: waited ${waited} ms`);
    } finally {
      queue.stop();
    }
  }
});

Deno.test("queue: start() waits a Retry-After no longer than intervalMsMax", async () => {
  const site = new BusySite([
    new ServerError("503: Insufficient storage", { status: 503, retryAfterMs: 3_600_000 }),
  ]);
  const queue = new OfflineQueue({ submitter: site });
  await queue.enqueue(await envelope(1));
  queue.start({ intervalMs: 10, intervalMsMax: 100 });
  try {
    for (let i = 0; i < 200 && (await queue.size()) > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await queue.size(), 0);
    const waited = site.at[1] - site.at[0];
    assert.ok(waited >= 90 && waited < 1000, `waited ${waited} ms`);
  } finally {
    queue.stop();
  }
});

Deno.test("queue: an entry admitted but not committed within the wait stays queued (deliveredWhen committed)", async () => {
  const site = new FakeSite();
  site.slow = true;
  const queue = new OfflineQueue({ submitter: site });
  const e = await envelope(1);
  await queue.enqueue(e);
  const report = await queue.drain();
  assert.equal(report.remaining, 1);
  assert.equal(report.delivered.length, 0);
  site.slow = false;
  const again = await queue.drain();
  assert.equal(again.delivered.length, 1);
  assert.deepEqual(site.received, [transactionId(e)], "the resubmission is the same transaction");
});

Deno.test("queue: deliveredWhen admitted removes an entry once a site admits it", async () => {
  const site = new FakeSite();
  site.slow = true;
  const queue = new OfflineQueue({ submitter: site, deliveredWhen: "admitted" });
  await queue.enqueue(await envelope(1));
  assert.equal((await queue.drain()).remaining, 0);
});

/** A site's refusal of a whole request, as the client throws it. */
function refusal(slug: string, status: number): RejectedError {
  return new RejectedError(`${status} from http://site: ${slug}`, {
    problem: {
      type: `https://edgeledger.dev/problems/${slug}`,
      title: slug,
      status,
      detail: `refused: ${slug}`,
    },
  });
}

Deno.test("queue: an abort during the one-by-one resend keeps every entry no site answered", async () => {
  const abort = new AbortController();
  const committed: string[] = [];
  // Refuses any batch as too large; commits single entries until the caller
  // aborts, then rejects with the abort's reason, as EdgeLedgerClient does.
  const site: Submitter = {
    submit(envelopes, options) {
      if (envelopes.length > 1) return Promise.reject(refusal("payload_too_large", 413));
      if (committed.length === 1) abort.abort(new Error("app went to the background"));
      if (options?.signal?.aborted) return Promise.reject(options.signal.reason);
      const txId = transactionId(envelopes[0]);
      committed.push(txId);
      return Promise.resolve([{
        txId,
        status: "committed" as const,
        height: 1,
        logIndex: committed.length - 1,
        result: { status: "applied" as const },
      }]);
    },
  };
  const delivered: string[] = [];
  const rejected: string[] = [];
  const queue = new OfflineQueue({
    submitter: site,
    onDelivered: (d) => delivered.push(...d.map((x) => x.entry.txId)),
    onRejected: (r) => rejected.push(...r.map((x) => x.entry.txId)),
  });
  const envelopes = [await envelope(1), await envelope(2), await envelope(3)];
  for (const e of envelopes) await queue.enqueue(e);
  await assert.rejects(queue.drain({ signal: abort.signal }), /app went to the background/);
  assert.deepEqual(delivered, [transactionId(envelopes[0])], "the committed entry is reported");
  assert.deepEqual(rejected, [], "no site refused anything");
  assert.deepEqual(
    (await queue.list()).map((e) => e.txId),
    envelopes.slice(1).map(transactionId),
  );
});

Deno.test("queue: an error that is not a site's refusal stops the one-by-one resend and keeps the entries", async () => {
  let singles = 0;
  const site: Submitter = {
    submit(envelopes) {
      if (envelopes.length > 1) return Promise.reject(refusal("payload_too_large", 413));
      singles++;
      return Promise.reject(new TypeError("a bug in the submitter"));
    },
  };
  const queue = new OfflineQueue({ submitter: site, onRejected: () => assert.fail("rejected") });
  for (let i = 0; i < 3; i++) await queue.enqueue(await envelope(i));
  await assert.rejects(queue.drain(), TypeError);
  assert.equal(singles, 1, "the resend stops at the first failure");
  assert.equal(await queue.size(), 3);
});

Deno.test("queue: only a site's problem answer settles an entry; a proxy's 4xx page keeps it queued", async () => {
  // A 4xx without a problem document, as the client reports a proxy's page.
  const proxyPage = new RejectedError("401 from http://site: Unauthorized", {
    problem: { type: "about:blank", title: "Unauthorized", status: 401, detail: "Unauthorized" },
  });
  const site: Submitter = { submit: () => Promise.reject(proxyPage) };
  const queue = new OfflineQueue({ submitter: site });
  await queue.enqueue(await envelope(1));
  const report = await queue.drain();
  assert.equal(report.error, proxyPage);
  assert.deepEqual(report.rejected, []);
  assert.equal(report.remaining, 1);
});

Deno.test("queue: a site refusing the client's API key (401, 403) settles nothing; the entry waits", async () => {
  for (const [status, slug] of [[401, "unauthorized"], [403, "forbidden"]] as const) {
    const refusal = new RejectedError(`${status}: Unknown API key`, {
      problem: { type: PROBLEM_TYPE_BASE + slug, title: "No", status, detail: "Unknown API key" },
    });
    const queue = new OfflineQueue({ submitter: { submit: () => Promise.reject(refusal) } });
    await queue.enqueue(await envelope(1));
    const report = await queue.drain();
    assert.equal(report.error, refusal);
    assert.deepEqual(report.rejected, []);
    assert.equal(report.remaining, 1, slug);
  }
});

Deno.test("queue: drop-oldest loses nothing and reports no drop when the store fails to add", async () => {
  class FailingAdds extends MemoryQueueStore {
    failing = false;
    override add(entry: QueuedTx): Promise<void> {
      return this.failing ? Promise.reject(new Error("disk full")) : super.add(entry);
    }
  }
  const store = new FailingAdds();
  const dropped: string[] = [];
  const queue = new OfflineQueue({
    submitter: new FakeSite(),
    store,
    sizeMax: 2,
    dropPolicy: "drop-oldest",
    onDropped: (d) => dropped.push(...d.map((e) => e.txId)),
  });
  const [e1, e2, e3] = [await envelope(1), await envelope(2), await envelope(3)];
  await queue.enqueue(e1);
  await queue.enqueue(e2);
  store.failing = true;
  await assert.rejects(queue.enqueue(e3), /disk full/);
  assert.deepEqual(dropped, []);
  assert.deepEqual((await store.list()).map((e) => e.txId), [e1, e2].map(transactionId));
  assert.deepEqual((await queue.list()).map((e) => e.txId), [e1, e2].map(transactionId));
  store.failing = false;
  const r = await queue.enqueue(e3);
  assert.deepEqual(r.dropped.map((e) => e.txId), [transactionId(e1)]);
  assert.deepEqual(dropped, [transactionId(e1)]);
  assert.deepEqual((await store.list()).map((e) => e.txId), [e2, e3].map(transactionId));
});

/**
 * A site behind `fetch` that calls every submission a duplicate and answers
 * lookups from `lookups` in turn (a `Receipt`, or `"not_found"`), the last
 * one again once they run out; records each request as `METHOD path`.
 */
function duplicateSite(lookups: Array<Receipt | "not_found">) {
  const requests: string[] = [];
  const json = (body: unknown, status = 200, type = "application/json") =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": type } });
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    requests.push(`${request.method} ${url.pathname}`);
    if (request.method === "POST" && url.pathname === "/v1/txs") {
      const { txs } = await request.json() as { txs: Envelope[] };
      return json({
        receipts: txs.map((e) => ({
          txId: transactionId(e),
          status: "refused",
          problem: {
            type: `${PROBLEM_TYPE_BASE}duplicate`,
            title: "Duplicate transaction",
            status: 409,
            detail: `Transaction ${transactionId(e)} was already submitted`,
          },
        })),
      });
    }
    const lookup = lookups.length > 1 ? lookups.shift()! : lookups[0];
    if (lookup === "not_found") {
      return json(
        {
          type: `${PROBLEM_TYPE_BASE}not_found`,
          title: "Not found",
          status: 404,
          detail: "Cannot find the transaction",
        },
        404,
        "application/problem+json",
      );
    }
    return json({ tx: {}, receipt: lookup });
  };
  return { fetch: fetch as typeof globalThis.fetch, requests };
}

Deno.test("queue over EdgeLedgerClient: a duplicate the site cannot show yet (not_found) stays queued and is delivered once its lookup answers committed", async () => {
  const e = await envelope(1);
  const txId = transactionId(e);
  const committed: Receipt = {
    txId,
    status: "committed",
    height: 3,
    logIndex: 7,
    result: { status: "applied" },
  };
  const site = duplicateSite(["not_found", committed]);
  const client = new EdgeLedgerClient({ urls: "http://127.0.0.1:9", fetch: site.fetch });
  const rejected: Rejected[] = [];
  const delivered: Delivered[] = [];
  const queue = new OfflineQueue({
    submitter: client,
    onRejected: (r) => rejected.push(...r),
    onDelivered: (d) => delivered.push(...d),
  });
  await queue.enqueue(e);

  const first = await queue.drain();
  assert.deepEqual(first.rejected, [], "a duplicate is never a refusal of the transaction");
  assert.equal(first.remaining, 1);
  assert.ok(first.error, "the drain says why the entry is still queued");
  assert.deepEqual((await queue.list()).map((q) => q.txId), [txId]);

  const second = await queue.drain();
  assert.deepEqual(second.delivered.map((d) => [d.entry.txId, d.receipt]), [[txId, committed]]);
  assert.equal(second.remaining, 0);
  assert.deepEqual(rejected, []);
  assert.equal(delivered.length, 1);
  assert.deepEqual(site.requests, [
    "POST /v1/txs",
    `GET /v1/txs/${txId}`,
    "POST /v1/txs",
    `GET /v1/txs/${txId}`,
  ]);
});

/** A site stand-in that answers every submission `duplicate`, and lookups from `lookups` in turn. */
class DuplicateSite implements Submitter {
  submissions = 0;
  lookups: Array<Receipt | "not_found">;
  constructor(lookups: Array<Receipt | "not_found">) {
    this.lookups = lookups;
  }
  submit(envelopes: readonly Envelope[]): Promise<Receipt[]> {
    this.submissions++;
    return Promise.resolve(envelopes.map((e) => ({
      txId: transactionId(e),
      status: "refused" as const,
      problem: {
        type: `${PROBLEM_TYPE_BASE}duplicate`,
        title: "Duplicate transaction",
        status: 409,
        detail: "already submitted",
      },
    })));
  }
  getTx(): Promise<{ receipt: Receipt }> {
    const next = this.lookups.length > 1 ? this.lookups.shift()! : this.lookups[0];
    if (next === "not_found") return Promise.reject(refusal("not_found", 404));
    return Promise.resolve({ receipt: next });
  }
}

function committedReceipt(txId: string): Receipt {
  return { txId, status: "committed", height: 3, logIndex: 7, result: { status: "applied" } };
}

Deno.test("queue: a duplicate whose lookup answers not_found stays queued, never rejected, and is delivered with its committed receipt once the lookup shows it", async () => {
  const e = await envelope(1);
  const txId = transactionId(e);
  const site = new DuplicateSite(["not_found", committedReceipt(txId)]);
  const rejected: Rejected[] = [];
  const queue = new OfflineQueue({ submitter: site, onRejected: (r) => rejected.push(...r) });
  await queue.enqueue(e);
  const first = await queue.drain();
  assert.deepEqual(first.rejected, []);
  assert.deepEqual(first.delivered, []);
  assert.equal(first.remaining, 1);
  assert.match(first.error?.message ?? "", /not committed yet/);
  const second = await queue.drain();
  assert.deepEqual(second.delivered.map((d) => d.receipt), [committedReceipt(txId)]);
  assert.equal(second.remaining, 0);
  assert.deepEqual(rejected, []);
  assert.equal(site.submissions, 2);
});

Deno.test("queue: a not_found answer to a submission (a duplicate's lookup passed on) keeps the entry queued, from drain and from send", async () => {
  const e = await envelope(1);
  const txId = transactionId(e);
  // As a submitter that looks a duplicate up and throws the lookup's 404.
  let lookupShows = false;
  const submitter: Submitter = {
    submit: (envelopes) =>
      lookupShows
        ? Promise.resolve(envelopes.map((x) => committedReceipt(transactionId(x))))
        : Promise.reject(refusal("not_found", 404)),
  };
  const rejected: Rejected[] = [];
  const queue = new OfflineQueue({ submitter, onRejected: (r) => rejected.push(...r) });
  const sent = await queue.send(e);
  assert.equal(sent.status, "queued");
  assert.match((sent as { error?: Error }).error?.message ?? "", /not_found/);
  const report = await queue.drain();
  assert.deepEqual(report.rejected, []);
  assert.equal(report.remaining, 1);
  assert.match(report.error?.message ?? "", /not_found/);
  lookupShows = true;
  assert.deepEqual((await queue.drain()).delivered.map((d) => d.entry.txId), [txId]);
  assert.deepEqual(rejected, []);
});

Deno.test("queue: an expired refusal from a site whose clock runs ahead keeps the entry while this device's clock says it has not expired; it is offered again, and reported expired once it has", async () => {
  const site = new FakeSite();
  const t0 = Date.now();
  let now = t0;
  site.now = () => t0 + 3_600_000; // an hour ahead
  const e = await envelope(1, t0 + 600_000);
  const expired: QueuedTx[] = [];
  const queue = new OfflineQueue({
    submitter: site,
    now: () => now,
    onExpired: (x) => expired.push(...x),
  });
  // Sent at once: the site refuses it as expired; this device's clock says 10 minutes are left.
  const sent = await queue.send(e);
  assert.equal(sent.status, "queued");
  let report = await queue.drain();
  assert.deepEqual(report.expired, []);
  assert.deepEqual((await queue.list()).map((q) => q.txId), [transactionId(e)]);
  assert.match(
    String(report.error?.message),
    /refused it as expired, but by this device's clock it expires at/,
  );
  // The site's clock is set right: the entry is taken.
  site.now = Date.now;
  report = await queue.drain();
  assert.deepEqual(report.delivered.map((d) => d.entry.txId), [transactionId(e)]);

  // Another, never taken: once this device's clock passes its expiry too, it is reported expired.
  site.now = () => t0 + 3_600_000;
  const late = await envelope(2, t0 + 600_000);
  await queue.enqueue(late);
  assert.equal((await queue.drain()).expired.length, 0);
  now = t0 + 600_001;
  report = await queue.drain();
  assert.deepEqual(report.expired.map((x) => x.txId), [transactionId(late)]);
  assert.deepEqual(expired.map((x) => x.txId), [transactionId(late)]);
  assert.deepEqual(await queue.list(), []);
});
