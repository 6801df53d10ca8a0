import assert from "node:assert/strict";
import { EdgeLedgerClient, ROUTES, type SubscriptionOpen } from "./client.ts";
import { transactionId } from "../envelope.ts";
import type { ProblemSlug } from "../api/routes.ts";
import {
  CommitTimeoutError,
  describeProblem,
  EdgeLedgerError,
  LedgerMismatchError,
  NetworkError,
  NotFoundError,
  RateLimitedError,
  RejectedError,
  ServerError,
  ValidationError,
} from "./errors.ts";

const TX_ID = "ab".repeat(32);
const HASH = "cd".repeat(32);

type Handler = (req: Request, url: URL, n: number) => Response | Promise<Response>;

/** A scripted fetch: records every request and answers with `handler`. */
function scripted(handler: Handler) {
  const requests: Request[] = [];
  const fetchFn = (async (input: URL | RequestInfo, init?: RequestInit) => {
    const req = new Request(input, init);
    requests.push(req);
    return await handler(req, new URL(req.url), requests.length);
  }) as typeof fetch;
  return { fetch: fetchFn, requests };
}

/** What `GET /v1/status` of site `site` of ledger `ledger` answers. */
function statusOf(ledger: string, site = "site-a") {
  return {
    ledger,
    site,
    role: "leader",
    term: 1,
    leader: site,
    commitIndex: 1,
    appliedIndex: 1,
    height: 0,
    logSize: 0,
  };
}

/**
 * {@link scripted} for a client of several sites: the `GET /v1/status` it
 * asks each site first (which ledger do you serve?) is answered for the
 * ledger `ledgerOf(host)` and kept apart in `probes`; `handler` answers the
 * rest, counted in `requests` and by `n` without the probes.
 */
function servingLedger(handler: Handler, ledgerOf: (host: string) => string = () => "demo") {
  const requests: Request[] = [];
  const probes: Request[] = [];
  const fetchFn = (async (input: URL | RequestInfo, init?: RequestInit) => {
    const req = new Request(input, init);
    const url = new URL(req.url);
    if (url.pathname === "/v1/status") {
      probes.push(req);
      return json(statusOf(ledgerOf(url.host)));
    }
    requests.push(req);
    return await handler(req, url, requests.length);
  }) as typeof fetch;
  return { fetch: fetchFn, requests, probes };
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function problem(slug: string, status: number, extra: Record<string, unknown> = {}, headers = {}) {
  return new Response(
    JSON.stringify({
      type: `https://edgeledger.dev/problems/${slug}`,
      title: slug,
      status,
      detail: `detail of ${slug}`,
      instance: "/x",
      requestId: "rid-from-body",
      ...extra,
    }),
    {
      status,
      headers: { "content-type": "application/problem+json", "x-request-id": "rid-1", ...headers },
    },
  );
}

const receipt = { txId: TX_ID, status: "pending" };
/** A committed receipt of {@link TX_ID} at height 1, log index 0, applied; `fields` over it. */
const committedReceipt = (fields: Record<string, unknown> = {}) => ({
  txId: TX_ID,
  status: "committed",
  height: 1,
  logIndex: 0,
  result: { status: "applied" },
  ...fields,
});
const fast = { attemptsMax: 4, delayMsBase: 1, delayMsMax: 2 };

Deno.test("client: a 503 is retried after its Retry-After and then succeeds", async () => {
  const s = scripted((_r, _u, n) =>
    n === 1 ? problem("unavailable", 503, {}, { "retry-after": "1" }) : json(receipt, 202)
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, retry: fast });
  const started = Date.now();
  const got = await client.getTx(TX_ID).catch((e) => e);
  // getTx answers 200 only; 202 is undeclared for it and must be refused.
  assert.ok(got instanceof ServerError);
  assert.ok(Date.now() - started >= 950, "waited for Retry-After");
  assert.equal(s.requests.length, 2);
});

Deno.test("client: a 503 from one site (cut off from the leader, say) moves the call to a site not yet tried at once; once every site answered 503, it waits Retry-After", async () => {
  const leaderless = () =>
    problem("unavailable", 503, {
      detail: "Site site-a has heard from no leader for 2.3 s, so it cannot have writes ordered",
    }, { "retry-after": "1" });
  const id = transactionId(SUBMITTED);
  const one = servingLedger((_r, u) =>
    u.host === "a" ? leaderless() : json({ txId: id, status: "pending" }, 202)
  );
  const client = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: one.fetch,
    retry: fast,
  });
  let started = performance.now();
  assert.equal((await client.submit(SUBMITTED)).txId, id);
  const movedMs = performance.now() - started;
  assert.ok(movedMs < 500, `moved to the next site after ${movedMs.toFixed(0)} ms`);
  assert.deepEqual(one.requests.map((r) => new URL(r.url).host), ["a", "b"]);

  const both = servingLedger((_r, _u, n) =>
    n <= 2 ? leaderless() : json({ txId: id, status: "pending" }, 202)
  );
  const patient = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: both.fetch,
    retry: fast,
  });
  started = performance.now();
  assert.equal((await patient.submit(SUBMITTED)).txId, id);
  const waitedMs = performance.now() - started;
  assert.ok(
    waitedMs >= 950,
    `asked a site again after ${waitedMs.toFixed(0)} ms, not its Retry-After`,
  );
  assert.deepEqual(both.requests.map((r) => new URL(r.url).host), ["a", "b", "a"]);
});

Deno.test("client: a 503 insufficient_storage (the cluster pauses writes for want of disk space) is thrown at once as a ServerError, not retried here or at another site", async () => {
  const s = scripted(() =>
    problem("insufficient_storage", 503, { sites: [{ site: "site-c" }] }, { "retry-after": "30" })
  );
  const client = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: s.fetch,
    retry: fast,
  });
  const started = Date.now();
  const got = await client.getTx(TX_ID).catch((e) => e);
  assert.ok(got instanceof ServerError);
  assert.equal(got.status, 503);
  assert.equal(got.retryAfterMs, 30_000);
  assert.match(got.problem?.type ?? "", /insufficient_storage$/);
  assert.equal(s.requests.length, 1);
  assert.ok(Date.now() - started < 1000, "no wait");
});

/** A follower's answer to a `leader` read: 503 not_leader naming `leaderUrl`, Retry-After 1. */
function notLeader(leaderUrl: string | null) {
  return problem("not_leader", 503, { leader: "site-a", leaderUrl }, { "retry-after": "1" });
}

const note = () => new Response("demo\n1\nroot\n\n", { headers: { "content-type": "text/plain" } });

Deno.test("client: a leader read asked of a follower that names the leader among the client's sites goes there at once", async () => {
  const s = servingLedger((_r, u) => u.host === "b" ? notLeader("http://a/") : note());
  const client = new EdgeLedgerClient({
    urls: ["http://b", "http://c", "http://a"],
    fetch: s.fetch,
  });
  const started = Date.now();
  assert.equal(await client.checkpoint({ consistency: "leader" }), "demo\n1\nroot\n\n");
  assert.ok(Date.now() - started < 500, "no Retry-After wait");
  assert.deepEqual(s.requests.map((r) => new URL(r.url).host), ["b", "a"]);
});

Deno.test("client: a follower naming a leader that is none of the client's sites fails at once (not_leader), without asking it again; the next site of the client is asked first", async () => {
  const s = scripted((_r, u) => u.host === "c" ? note() : notLeader("http://elsewhere:7001"));
  const one = new EdgeLedgerClient({ urls: "http://b", fetch: s.fetch });
  const started = Date.now();
  const e = await one.checkpoint({ consistency: "leader" }).catch((e) => e);
  assert.ok(e instanceof ServerError, String(e));
  assert.equal(e.problem?.leaderUrl, "http://elsewhere:7001");
  assert.ok(Date.now() - started < 500, "no Retry-After wait");
  assert.equal(s.requests.length, 1, "never sent to the URL the answer names");
  // With another site configured, that one is asked next, at once.
  const two = new EdgeLedgerClient({ urls: ["http://b", "http://c"], fetch: s.fetch });
  const again = Date.now();
  assert.equal(await two.checkpoint({ consistency: "leader" }), "demo\n1\nroot\n\n");
  assert.ok(Date.now() - again < 500, "no Retry-After wait");
});

Deno.test("client: not_leader with no leader known (an election) is retried after its Retry-After", async () => {
  const s = scripted((_r, _u, n) => n === 1 ? notLeader(null) : note());
  const client = new EdgeLedgerClient({ urls: "http://b", fetch: s.fetch, retry: fast });
  const started = Date.now();
  assert.equal(await client.checkpoint({ consistency: "leader" }), "demo\n1\nroot\n\n");
  assert.ok(Date.now() - started >= 950, "waited for Retry-After");
  assert.equal(s.requests.length, 2);
});

Deno.test("client: submit sends one envelope as the body and returns the typed receipt", async () => {
  // deno-lint-ignore no-explicit-any
  const receipt = { txId: transactionId({ v: 1 } as any), status: "pending" };
  const s = scripted(() => json(receipt, 202));
  const client = new EdgeLedgerClient({ urls: "http://a/", fetch: s.fetch });
  // deno-lint-ignore no-explicit-any
  const got = await client.submit({ v: 1 } as any, { wait: "commit", waitTimeoutMs: 500 });
  assert.deepEqual(got, receipt);
  const req = s.requests[0];
  assert.equal(req.method, "POST");
  assert.equal(new URL(req.url).pathname, "/v1/txs");
  assert.equal(new URL(req.url).search, "?wait=commit&timeoutMs=500");
  assert.deepEqual(await req.json(), { v: 1 });
  assert.match(req.headers.get("x-request-id") ?? "", /^[0-9a-f-]{32,36}$/);
});

Deno.test("client: submit of an array sends batches of { txs } and keeps the order", async () => {
  const s = scripted(async (req) => {
    const { txs } = await req.json();
    return json({
      receipts: txs.map((t: { i: number }) => ({ txId: TX_ID, status: "pending", height: t.i })),
    });
  });
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  // deno-lint-ignore no-explicit-any
  const envelopes = Array.from({ length: 1500 }, (_, i) => ({ i })) as any[];
  const got = (await client.submit(envelopes)) as unknown as Array<{ height?: number }>;
  assert.equal(s.requests.length, 2);
  assert.deepEqual(got.map((r) => r.height), envelopes.map((e: { i: number }) => e.i));
  assert.deepEqual(await client.submit([]), []);
  assert.equal(s.requests.length, 2);
});

Deno.test("client: 429 retries run out into RateLimitedError with retryAfterMs and requestId", async () => {
  const s = scripted(() => problem("rate_limited", 429, {}, { "retry-after": "0" }));
  const client = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: s.fetch,
    retry: fast,
  });
  const e = await client.status().catch((e) => e);
  assert.ok(e instanceof RateLimitedError);
  assert.equal(e.retryAfterMs, 0);
  assert.equal(e.requestId, "rid-1");
  assert.equal(s.requests.length, 4);
  // A 429 concerns the caller, not the site: no failover.
  assert.ok(s.requests.every((r) => new URL(r.url).host === "a"));
});

Deno.test("client: a Retry-After longer than retryAfterMsMax ends the retries", async () => {
  const s = scripted(() => problem("rate_limited", 429, {}, { "retry-after": "3600" }));
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, retry: fast });
  const e = await client.status().catch((e) => e);
  assert.ok(e instanceof RateLimitedError);
  assert.equal(e.retryAfterMs, 3_600_000);
  assert.equal(s.requests.length, 1);
});

Deno.test("client: a 503 whose Retry-After exceeds retryAfterMsMax still moves the call to a site not yet tried (the wait is about that site); once none is left, the call ends", async () => {
  const id = transactionId(SUBMITTED);
  const away = () => problem("unavailable", 503, {}, { "retry-after": "120" });
  const s = servingLedger((_r, u) =>
    u.host === "a" ? away() : json({ txId: id, status: "pending" }, 202)
  );
  const client = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: s.fetch,
    retry: fast,
  });
  assert.equal((await client.submit(SUBMITTED)).txId, id);
  assert.deepEqual(s.requests.map((r) => new URL(r.url).host), ["a", "b"]);

  const all = servingLedger(() => away());
  const both = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: all.fetch,
    retry: fast,
  });
  const e = await both.submit(SUBMITTED).catch((e) => e);
  assert.ok(e instanceof ServerError, String(e));
  assert.equal(e.retryAfterMs, 120_000);
  assert.deepEqual(all.requests.map((r) => new URL(r.url).host), ["a", "b"], "each once, no wait");
});

Deno.test("client: a site that cannot be reached fails over to the next at once", async () => {
  const s = servingLedger((_r, url) => {
    if (url.host === "dead:1") throw new TypeError("connection refused");
    return json({ status: "ok", version: "1" });
  });
  const client = new EdgeLedgerClient({
    urls: ["http://dead:1", "http://live:2"],
    fetch: s.fetch,
    retry: { attemptsMax: 3, delayMsBase: 10_000, delayMsMax: 10_000 },
  });
  const started = Date.now();
  assert.deepEqual(await client.health(), { status: "ok", version: "1" });
  assert.ok(Date.now() - started < 5000, "no backoff before trying a fresh site");
  assert.equal(client.currentUrl, "http://live:2");
  await client.health();
  assert.equal(s.requests.length, 3, "sticks to the site that answered");
});

Deno.test("client: NetworkError after every site failed, carrying the request id it sent", async () => {
  const s = scripted(() => {
    throw new TypeError("connection refused");
  });
  const client = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: s.fetch,
    retry: fast,
  });
  const e = await client.status().catch((e) => e);
  assert.ok(e instanceof NetworkError);
  assert.equal(e.timedOut, false);
  assert.equal(e.requestId, s.requests.at(-1)!.headers.get("x-request-id"));
  assert.equal(s.requests.length, 4);
});

Deno.test('client: a NetworkError says why the fetch failed — its cause (a reset, a refusal), without the URL Deno\'s cause repeats — not only "fetch failed"', async () => {
  const causes = [
    "error sending request for url (http://a/v1/status): client error (SendRequest): connection closed before message completed",
    "error sending request from 127.0.0.1:4242 for http://a/v1/status (127.0.0.1:80): client error (Connect): tcp connect error: Connection refused (os error 111)",
  ];
  for (const cause of causes) {
    const s = scripted(() => {
      throw new TypeError("fetch failed", { cause: new Error(cause) });
    });
    const client = new EdgeLedgerClient({
      urls: "http://a",
      fetch: s.fetch,
      retry: { ...fast, attemptsMax: 1 },
    });
    const e = await client.status().catch((e) => e);
    assert.ok(e instanceof NetworkError);
    assert.match(
      e.message,
      /^Cannot reach http:\/\/a: fetch failed: client error \((SendRequest|Connect)\): \S/,
    );
    assert.ok(!e.message.includes("error sending request"), e.message);
  }
  // A cause the message already holds is not said twice.
  const s = scripted(() => {
    throw new TypeError("connection refused", { cause: new Error("connection refused") });
  });
  const e = await new EdgeLedgerClient({
    urls: "http://a",
    fetch: s.fetch,
    retry: { ...fast, attemptsMax: 1 },
  }).status().catch((e) => e);
  assert.equal(e.message, "Cannot reach http://a: connection refused");
});

Deno.test("client: the per-request timeout aborts a hung attempt as a timed-out NetworkError", async () => {
  const s = scripted((req) =>
    new Promise<Response>((_, reject) =>
      req.signal.addEventListener("abort", () => reject(req.signal.reason))
    )
  );
  const client = new EdgeLedgerClient({
    urls: "http://a",
    fetch: s.fetch,
    timeoutMs: 30,
    retry: { ...fast, attemptsMax: 2 },
  });
  const e = await client.status().catch((e) => e);
  assert.ok(e instanceof NetworkError);
  assert.equal(e.timedOut, true);
  assert.equal(s.requests.length, 2);
});

Deno.test("client: a caller's abort stops the call without retrying", async () => {
  const s = scripted((req) =>
    new Promise<Response>((_, reject) =>
      req.signal.addEventListener("abort", () => reject(req.signal.reason))
    )
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, retry: fast });
  const abort = new AbortController();
  setTimeout(() => abort.abort(new Error("stop")), 20);
  const e = await client.status({ signal: abort.signal }).catch((e) => e);
  assert.equal(e.message, "stop");
  assert.equal(s.requests.length, 1);
});

Deno.test("client: 400 validation is a ValidationError with the field issues, not retried", async () => {
  const s = scripted(() =>
    problem("validation", 400, { errors: [{ path: "query.limit", message: "Too big" }] })
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, retry: fast });
  const e = await client.consistency(1, 2).catch((e) => e);
  assert.ok(e instanceof ValidationError);
  assert.deepEqual(e.issues, [{ path: "query.limit", message: "Too big" }]);
  assert.equal(e.requestId, "rid-1");
  assert.equal(s.requests.length, 1);
});

Deno.test("client: a domain problem is a RejectedError with its type and slug, not retried", async () => {
  const s = scripted(() => problem("bad_signature", 422, { txId: TX_ID }));
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, retry: fast });
  // deno-lint-ignore no-explicit-any
  const e = await client.submit({} as any).catch((e) => e);
  assert.ok(e instanceof RejectedError);
  assert.equal(e.slug, "bad_signature");
  assert.equal(e.problemType, "https://edgeledger.dev/problems/bad_signature");
  assert.equal(e.status, 422);
  assert.equal(e.problem.txId, TX_ID);
  assert.equal(s.requests.length, 1);
});

Deno.test("client: a RejectedError's message names the first two bad fields of its problem, which stays intact", async () => {
  const errors = [
    { path: "body.root", message: "must be 64 lowercase hex characters" },
    { path: "body.count", message: "Too small: expected number to be >=1" },
    { path: "body.to", message: "Invalid input: expected number, received string" },
  ];
  const s = scripted(() =>
    problem("invalid_body", 422, { detail: "Body does not match data.anchor", errors })
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, retry: fast });
  // deno-lint-ignore no-explicit-any
  const e = await client.submit({} as any).catch((e) => e);
  assert.ok(e instanceof RejectedError);
  assert.equal(
    e.message,
    "422 from http://a: invalid_body: Body does not match data.anchor (body.root: must be 64 " +
      "lowercase hex characters; body.count: Too small: expected number to be >=1; 1 more)",
  );
  assert.equal(e.problem.detail, "Body does not match data.anchor");
  assert.deepEqual(e.problem.errors, errors);
});

Deno.test("describeProblem() does not repeat a field the detail already names, and skips malformed errors", () => {
  const base = { type: "https://edgeledger.dev/problems/validation", title: "t", status: 400 };
  const issue = { path: "query.limit", message: "Too big" };
  assert.equal(
    describeProblem({ ...base, detail: "query.limit: Too big", errors: [issue] }),
    "query.limit: Too big",
  );
  assert.equal(describeProblem({ ...base, detail: "d" }), "d");
  assert.equal(
    describeProblem({ ...base, detail: "d", errors: [7, { path: 1 }, issue] }),
    "d (query.limit: Too big)",
  );
});

Deno.test("client: a 500 is a ServerError and is not retried; a 502 is retried", async () => {
  const s500 = scripted(() => problem("internal", 500));
  const c500 = new EdgeLedgerClient({ urls: "http://a", fetch: s500.fetch, retry: fast });
  const e = await c500.status().catch((e) => e);
  assert.ok(e instanceof ServerError);
  assert.equal(e.status, 500);
  assert.equal(s500.requests.length, 1);
  const s502 = scripted(() => new Response("bad gateway", { status: 502 }));
  const c502 = new EdgeLedgerClient({ urls: "http://a", fetch: s502.fetch, retry: fast });
  assert.ok((await c502.status().catch((e) => e)) instanceof ServerError);
  assert.equal(s502.requests.length, 4);
});

Deno.test("client: an answer that breaks the route's schema is refused as a ServerError", async () => {
  const s = scripted(() => json({ logIndex: -1, treeSize: 1, leaf: "x", proof: [] }));
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  const e = await client.proof(TX_ID).catch((e) => e);
  assert.ok(e instanceof ServerError);
  assert.match(e.message, /logIndex/);
});

function block(height: number) {
  return {
    hash: HASH,
    header: {
      v: 1,
      ledger: "demo",
      height,
      prev: HASH,
      time: 1,
      term: 1,
      proposer: "site-a",
      txCount: 0,
      logSize: 0,
      logRoot: HASH,
    },
    txIds: [],
  };
}

Deno.test("client: blocks() follows the next cursor page by page and stops before to", async () => {
  const s = scripted((_r, url) => {
    const from = Number(url.searchParams.get("from"));
    const limit = Number(url.searchParams.get("limit"));
    const heights = Array.from({ length: limit }, (_, i) => from + i).filter((h) => h < 7);
    return json({
      blocks: heights.map(block),
      next: heights.length === limit ? from + limit : null,
    });
  });
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  const all = [];
  for await (const b of client.blocks({ pageSize: 3 })) all.push(b.header.height);
  assert.deepEqual(all, [0, 1, 2, 3, 4, 5, 6]);
  const some = [];
  for await (const b of client.blocks({ from: 2, to: 4, pageSize: 3 })) some.push(b.header.height);
  assert.deepEqual(some, [2, 3]);
});

Deno.test("client: the path parameter is URL-encoded into the route's path", async () => {
  const s = scripted(() => json(block(12)));
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  await client.block(12);
  await client.block(HASH);
  assert.equal(new URL(s.requests[0].url).pathname, "/v1/blocks/12");
  assert.equal(new URL(s.requests[1].url).pathname, `/v1/blocks/by-hash/${HASH}`);
});

function blockEvent(height: number) {
  return { height, hash: HASH, header: block(height).header, txs: [] };
}

Deno.test("client: subscribe() resumes after a drop with Last-Event-ID, never repeating a block", async () => {
  const seen: Array<string | null> = [];
  const s = scripted((req, url) => {
    if (url.pathname === "/v1/status") return json({});
    seen.push(req.headers.get("last-event-id"));
    const last = Number(req.headers.get("last-event-id") ?? "-1");
    // First connection: blocks 5, 6 (as id-only, filtered), then a drop mid-frame.
    // Second: repeats 6 and 7 (a sloppy site), then 8, then ends cleanly.
    const frames = seen.length === 1
      ? [
        `event: block\nid: 5\ndata: ${JSON.stringify(blockEvent(5))}\n\n`,
        `id: 6\n\n`,
        "event: blo",
      ]
      : [6, 7, 8].filter((h) => h > last - 1).map((h) =>
        `event: block\nid: ${h}\ndata: ${JSON.stringify(blockEvent(h))}\n\n`
      );
    const drop = seen.length === 1;
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i < frames.length) c.enqueue(new TextEncoder().encode(frames[i++]));
        else if (drop) c.error(new TypeError("connection reset"));
        else c.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, retry: fast });
  const heights: number[] = [];
  for await (const e of client.subscribe({ fromHeight: 5 })) {
    heights.push(e.height);
    if (e.height === 8) break;
  }
  assert.deepEqual(heights, [5, 7, 8]);
  assert.deepEqual(seen, ["4", "6"]);
  assert.equal(new URL(s.requests[0].url).searchParams.get("from"), null);
});

Deno.test("client: subscribe() without fromHeight starts after the site's current height", async () => {
  const s = scripted((req, url) => {
    if (url.pathname === "/v1/status") return json({ height: 41 });
    assert.equal(req.headers.get("last-event-id"), "41");
    assert.equal(url.searchParams.get("kind"), "data.anchor,x.y");
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(
          new TextEncoder().encode(
            `event: block\nid: 42\ndata: ${JSON.stringify(blockEvent(42))}\n\n`,
          ),
        );
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  const status = client.status;
  // The status answer is partial; bypass its schema by stubbing the call.
  client.status = () => Promise.resolve({ height: 41 } as Awaited<ReturnType<typeof status>>);
  for await (const e of client.subscribe({ kinds: ["data.anchor", "x.y"] })) {
    assert.equal(e.height, 42);
    break;
  }
});

Deno.test("client: subscribe() ends quietly when its signal aborts", async () => {
  const s = scripted((req) =>
    new Response(
      new ReadableStream({
        start(c) {
          req.signal.addEventListener("abort", () => c.error(req.signal.reason));
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    )
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 30);
  const got = [];
  for await (const e of client.subscribe({ fromHeight: 0, signal: abort.signal })) got.push(e);
  assert.deepEqual(got, []);
});

/** One answer of {@link eventsSite}: a status with a body and its type, or an event stream. */
type EventsAnswer =
  | { status: number; type: string; body: string }
  | { frames: string[]; then: "close" | "stay" };

/** A `block` event frame at `height`, as a site streams it. */
function blockFrame(height: number): string {
  return `event: block\nid: ${height}\ndata: ${JSON.stringify(blockEvent(height))}\n\n`;
}

/**
 * A site on 127.0.0.1 (port 0) whose `/v1/events` answers connection n with
 * `script[n]`, and with the last step past its end. Each answer carries
 * `X-Request-Id: rid-<n>`.
 */
function eventsSite(script: readonly EventsAnswer[]) {
  const lastEventIds: Array<string | null> = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const n = lastEventIds.push(req.headers.get("last-event-id")) - 1;
    const step = script[Math.min(n, script.length - 1)];
    const headers = { "x-request-id": `rid-${n}` };
    if ("status" in step) {
      return new Response(step.body, {
        status: step.status,
        headers: { ...headers, "content-type": step.type },
      });
    }
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const f of step.frames) c.enqueue(new TextEncoder().encode(f));
        if (step.then === "close") c.close();
      },
    });
    return new Response(body, { headers: { ...headers, "content-type": "text/event-stream" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    /** The `Last-Event-ID` of each connection, in order (null: none sent). */
    lastEventIds,
    close: () => server.shutdown(),
  };
}

Deno.test("client: subscribe() onOpen fires once per accepted event stream, before its first event or without one, and again on each reconnect with the Last-Event-ID it resumed from", async () => {
  const site = eventsSite([
    // Opens, sends only a heartbeat, ends; opens again with block 5, ends;
    // opens again with block 6 and stays.
    { frames: [": heartbeat\n\n"], then: "close" },
    { frames: [blockFrame(5)], then: "close" },
    { frames: [blockFrame(6)], then: "stay" },
  ]);
  try {
    const client = new EdgeLedgerClient({ urls: site.url, retry: fast });
    const log: string[] = [];
    for await (
      const e of client.subscribe({
        fromHeight: 5,
        onConnect: (s, after) => log.push(`connect ${s === site.url} ${after}`),
        onOpen: (o) => log.push(`open ${JSON.stringify(o).replace(site.url, "SITE")}`),
      })
    ) {
      log.push(`block ${e.height}`);
      if (e.height === 6) break;
    }
    const open = (lastEventId: string, afterHeight: number, reconnect: boolean, n: number) =>
      `open ${
        JSON.stringify({ site: "SITE", lastEventId, afterHeight, reconnect, requestId: `rid-${n}` })
      }`;
    assert.deepEqual(log, [
      "connect true 4",
      open("4", 4, false, 0),
      "connect true 4",
      open("4", 4, true, 1),
      "block 5",
      "connect true 5",
      open("5", 5, true, 2),
      "block 6",
    ]);
    assert.deepEqual(site.lastEventIds, ["4", "4", "5"]);
  } finally {
    await site.close();
  }
});

Deno.test("client: subscribe() onOpen never fires for a refused answer (503) or a 200 that is not an event stream; both are failed attempts", async () => {
  const site = eventsSite([
    { status: 503, type: "text/plain", body: "down" },
    { status: 200, type: "application/json", body: "{}" },
    { status: 200, type: "text/html", body: "<p>Sign in to the Wi-Fi</p>" },
    { frames: [blockFrame(0)], then: "stay" },
  ]);
  try {
    const client = new EdgeLedgerClient({ urls: site.url, retry: fast });
    let connects = 0;
    const opens: SubscriptionOpen[] = [];
    for await (
      const e of client.subscribe({
        fromHeight: 0,
        onConnect: () => connects++,
        onOpen: (o) => opens.push(o),
      })
    ) {
      assert.equal(e.height, 0);
      break;
    }
    assert.equal(connects, 4);
    // The first stream that opened, after three failed attempts: not a reconnect.
    assert.deepEqual(opens, [
      {
        site: site.url,
        lastEventId: undefined,
        afterHeight: -1,
        reconnect: false,
        requestId: "rid-3",
      },
    ]);
  } finally {
    await site.close();
  }
});

Deno.test("client: subscribe() counts a 200 that is not an event stream as a failed connection", async () => {
  const site = eventsSite([{ status: 200, type: "application/json", body: "{}" }]);
  try {
    const client = new EdgeLedgerClient({ urls: site.url, retry: fast });
    await assert.rejects(
      () => client.subscribe({ fromHeight: 0, reconnectAttemptsMax: 2 }).next(),
      (e) => {
        assert.ok(e instanceof ServerError, String(e));
        assert.equal(e.status, 200);
        assert.match(
          e.message,
          /^Cannot subscribe: the site sent no event stream \(content type "application\/json"\)$/,
        );
        return true;
      },
    );
    assert.equal(site.lastEventIds.length, 2);
  } finally {
    await site.close();
  }
});

Deno.test("client: subscribe() waits a refusal's Retry-After before reconnecting", async () => {
  const s = scripted((_req, _url, n) =>
    n === 1
      ? problem("unavailable", 503, {}, { "retry-after": "1" })
      : new Response(blockFrame(0), { headers: { "content-type": "text/event-stream" } })
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, retry: fast });
  const started = Date.now();
  for await (const e of client.subscribe({ fromHeight: 0 })) {
    assert.equal(e.height, 0);
    break;
  }
  const waited = Date.now() - started;
  assert.ok(waited >= 950 && waited < 5000, `waited ${waited} ms for a 1 s Retry-After`);
  assert.equal(s.requests.length, 2);
});

Deno.test("client: subscribe() ends at once, with the refusal, when its Retry-After exceeds retryAfterMsMax", async () => {
  const s = scripted(() => problem("rate_limited", 429, {}, { "retry-after": "3600" }));
  const client = new EdgeLedgerClient({
    urls: "http://a",
    fetch: s.fetch,
    retry: { ...fast, retryAfterMsMax: 60_000 },
  });
  const started = Date.now();
  // A subscription that waited the hour instead would end quietly at this abort.
  const signal = AbortSignal.timeout(2000);
  await assert.rejects(
    () => client.subscribe({ fromHeight: 0, signal }).next(),
    (e) => {
      assert.ok(e instanceof RateLimitedError, String(e));
      assert.equal(e.retryAfterMs, 3_600_000);
      return true;
    },
  );
  assert.ok(Date.now() - started < 1000, "no wait");
  assert.equal(s.requests.length, 1);
});

Deno.test("client: subscribe() ends with what onOpen or onConnect threw, a TypeError included, without retrying", async () => {
  const site = eventsSite([{ frames: [blockFrame(0)], then: "stay" }]);
  // Closes a stream a subscription left open (it would keep the site from shutting down).
  const stop = new AbortController();
  try {
    const client = new EdgeLedgerClient({ urls: site.url, retry: fast });
    const fromOpen = new TypeError("onOpen failed");
    await assert.rejects(
      () =>
        client.subscribe({
          fromHeight: 0,
          reconnectAttemptsMax: 3,
          signal: stop.signal,
          onOpen: () => {
            throw fromOpen;
          },
        }).next(),
      (e) => e === fromOpen,
    );
    assert.equal(site.lastEventIds.length, 1);
    const fromConnect = new TypeError("onConnect failed");
    await assert.rejects(
      () =>
        client.subscribe({
          fromHeight: 0,
          reconnectAttemptsMax: 3,
          signal: stop.signal,
          onConnect: () => {
            throw fromConnect;
          },
        }).next(),
      (e) => e === fromConnect,
    );
    assert.equal(site.lastEventIds.length, 1);
  } finally {
    stop.abort();
    await site.close();
  }
});

/** An envelope as submitted (the scripted sites never check it). */
const SUBMITTED = {
  v: 1 as const,
  ledger: "demo",
  kind: "data.anchor",
  body: {},
  nonce: "AAAAAAAAAAAAAAAAAAAAAA",
  expiresAt: 1,
  signers: ["did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"],
  sigs: ["x"],
};

Deno.test("client: a duplicate refusal of one envelope is answered with the existing receipt", async () => {
  const committed = committedReceipt({ txId: transactionId(SUBMITTED), height: 3, logIndex: 7 });
  const s = scripted((req) =>
    req.method === "POST" ? problem("duplicate", 409) : json({ tx: {}, receipt: committed })
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  const envelope = SUBMITTED;
  const got = await client.submit(envelope);
  assert.deepEqual(got, committed);
  assert.match(new URL(s.requests[1].url).pathname, /^\/v1\/txs\/[0-9a-f]{64}$/);
});

Deno.test("client: a duplicate the site cannot show yet (pending, or a replica behind) is a pending receipt, not a refusal", async () => {
  const s = scripted((req) =>
    req.method === "POST" ? problem("duplicate", 409) : problem("not_found", 404)
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  const envelope = SUBMITTED;
  const got = await client.submit(envelope);
  assert.deepEqual(got, { txId: transactionId(envelope), status: "pending" });
});

Deno.test("client: request() types input and output from the shared route definition", async () => {
  const s = scripted(() => json(block(5)));
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  const res = await client.request(ROUTES.getBlock, { params: { height: 5 } });
  const height: number = res.body.header.height;
  assert.equal(height, 5);
  assert.equal(res.status, 200);
  assert.equal(res.site, "http://a");
  // @ts-expect-error: getBlock has no body
  await client.request(ROUTES.getBlock, { params: { height: 5 }, body: {} }).catch(() => {});
  // @ts-expect-error: getBlock needs its height parameter
  await client.request(ROUTES.getBlock, {}).catch(() => {});
});

Deno.test("client: request() keeps the answer's text exactly as the site sent it", async () => {
  // Spacing, member order and a member the schema does not declare survive
  // in `text`; `body` is the parsed, schema-checked value.
  const sent = '{ "sites": [ {"verifierKey": "site-a+00000000+AQ", "url": "http://a",' +
    ' "name": "site-a", "org": "org-a"} ] }';
  const s = scripted(() => new Response(sent, { headers: { "content-type": "application/json" } }));
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  const res = await client.request(ROUTES.listSites, {});
  assert.equal(res.text, sent);
  assert.deepEqual(res.body, {
    sites: [{ name: "site-a", url: "http://a", verifierKey: "site-a+00000000+AQ" }],
  });
  const note = "origin\n1\nAA==\n\n— a b\n";
  const t = scripted(() => new Response(note, { headers: { "content-type": "text/plain" } }));
  const text = await new EdgeLedgerClient({ urls: "http://a", fetch: t.fetch })
    .request(ROUTES.getCheckpoint, { query: {} });
  assert.equal(text.text, note);
  assert.equal(text.body, note);
});

Deno.test("client: subscribe() refuses a negative fromHeight", async () => {
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: scripted(() => json({})).fetch });
  await assert.rejects(() => client.subscribe({ fromHeight: -1 }).next(), RangeError);
});

Deno.test("client: a +json or text answer is read with the schema the route declares for it", async () => {
  const s = scripted(() =>
    new Response(JSON.stringify({ status: "ok", version: "9" }), {
      headers: { "content-type": "application/vnd.edgeledger+json; charset=utf-8" },
    })
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  assert.deepEqual(await client.health(), { status: "ok", version: "9" });
  const text = scripted(() =>
    new Response("note\n", { headers: { "content-type": "text/plain" } })
  );
  const c2 = new EdgeLedgerClient({ urls: "http://a", fetch: text.fetch });
  assert.equal(await c2.checkpoint(), "note\n");
});

Deno.test("client: waitForCommit() asks every other poll from the third on at consistency=linearizable, so a site cut off after it forwarded the transaction (stale: pending for ever; linearizable: refused) does not hide its commit at another", async () => {
  const committed = committedReceipt({ height: 7, logIndex: 3 });
  const s = servingLedger((_r, u) => {
    const linearizable = u.searchParams.get("consistency") === "linearizable";
    if (u.host === "a") {
      return linearizable
        ? problem(
          "unavailable",
          503,
          { detail: "Cannot serve a linearizable read now: no leader" },
          {
            "retry-after": "1",
          },
        )
        : json({ tx: {}, receipt });
    }
    return linearizable ? json({ tx: {}, receipt: committed }) : problem("not_found", 404);
  });
  const client = new EdgeLedgerClient({ urls: ["http://a", "http://b"], fetch: s.fetch });
  const started = performance.now();
  assert.deepEqual(await client.waitForCommit(TX_ID, { timeoutMs: 5000 }), committed);
  assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
  assert.deepEqual(
    s.requests.map((r) => {
      const u = new URL(r.url);
      return `${u.host} ${u.searchParams.get("consistency") ?? "stale"}`;
    }),
    ["a stale", "a stale", "a linearizable", "b linearizable"],
  );
  assert.equal(client.sessionHeight, 7, "the committed receipt of a write waited for");
});

Deno.test("client: waitForCommit() gives up at its timeout even while the site is unreachable", async () => {
  const s = scripted(() => {
    throw new TypeError("connection refused");
  });
  const client = new EdgeLedgerClient({
    urls: "http://a",
    fetch: s.fetch,
    retry: { attemptsMax: 50, delayMsBase: 200, delayMsMax: 200 },
  });
  const started = Date.now();
  const e = await client.waitForCommit(TX_ID, { timeoutMs: 300 }).catch((e) => e);
  assert.equal(e.name, "CommitTimeoutError");
  assert.equal(e.lastStatus, "unknown");
  assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
});

Deno.test("client: waitForCommit() returns the committed receipt once the site reports it", async () => {
  const committed = committedReceipt();
  const s = scripted((_r, _u, n) =>
    n < 3 ? problem("not_found", 404) : json({ tx: {}, receipt: n < 4 ? receipt : committed })
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  assert.deepEqual(await client.waitForCommit(TX_ID, { timeoutMs: 5000 }), committed);
  assert.equal(s.requests.length, 4);
});

/** An answer that sends `head` and then breaks off, as on a connection reset mid-body. */
function brokenOff(head: string, status = 200, type = "application/json"): Response {
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) {
        controller.error(new TypeError("connection reset by peer"));
        return;
      }
      sent = true;
      controller.enqueue(new TextEncoder().encode(head));
    },
  });
  return new Response(body, { status, headers: { "content-type": type } });
}

Deno.test("client: a JSON answer whose body breaks off is a NetworkError, retried at the next site; a complete non-JSON body is a ServerError", async () => {
  const health = { status: "ok", version: "9" };
  const s = servingLedger((_r, _u, n) => n === 1 ? brokenOff('{"status":"o') : json(health));
  const client = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: s.fetch,
    retry: fast,
  });
  assert.deepEqual(await client.health(), health);
  assert.deepEqual(s.requests.map((r) => new URL(r.url).host), ["a", "b"]);

  const always = scripted(() => brokenOff('{"status":"o'));
  const c2 = new EdgeLedgerClient({ urls: "http://a", fetch: always.fetch, retry: fast });
  const e = await c2.health().catch((e) => e);
  assert.ok(e instanceof NetworkError, String(e));
  assert.equal(always.requests.length, fast.attemptsMax);

  // The same bytes, complete: the site broke the schema; not retried.
  const garbled = scripted(() =>
    new Response('{"status":"o', { headers: { "content-type": "application/json" } })
  );
  const c3 = new EdgeLedgerClient({ urls: "http://a", fetch: garbled.fetch, retry: fast });
  const e3 = await c3.health().catch((e) => e);
  assert.ok(e3 instanceof ServerError && !(e3 instanceof NetworkError), String(e3));
  assert.match(e3.message, /not JSON/);
  assert.equal(garbled.requests.length, 1);
});

Deno.test("client: a problem answer whose body breaks off is a NetworkError and retried, never a refusal", async () => {
  // deno-lint-ignore no-explicit-any
  const receiptOfEmpty = { txId: transactionId({} as any), status: "pending" };
  const s = scripted((_r, _u, n) =>
    n === 1
      ? brokenOff(
        '{"type":"https://edgeledger.dev/problems/bad_sig',
        422,
        "application/problem+json",
      )
      : json(receiptOfEmpty, 202)
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, retry: fast });
  // deno-lint-ignore no-explicit-any
  assert.deepEqual(await client.submit({} as any), receiptOfEmpty);
  assert.equal(s.requests.length, 2);
});

Deno.test("client: an answer whose body exceeds responseBytesMax — declared or streamed without end — is a ServerError, its body cancelled, not retried", async () => {
  const health = { status: "ok", version: "9" };
  // Fits: read as usual, at the limit exactly.
  const fits = JSON.stringify(health);
  const exact = scripted(() => json(health));
  const c0 = new EdgeLedgerClient({
    urls: "http://a",
    fetch: exact.fetch,
    retry: fast,
    responseBytesMax: new TextEncoder().encode(fits).byteLength,
  });
  assert.deepEqual(await c0.health(), health);

  // Declared too large: refused before a byte is read.
  let cancelled = 0;
  const endless = () =>
    new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new TextEncoder().encode('{"status":"ok","x":"' + "y".repeat(1000)));
      },
      cancel() {
        cancelled++;
      },
    });
  const declared = servingLedger(() =>
    new Response(endless(), {
      headers: { "content-type": "application/json", "content-length": "1000000" },
    })
  );
  const c1 = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: declared.fetch,
    retry: fast,
    responseBytesMax: 4096,
  });
  const e1 = await c1.health().catch((e) => e);
  assert.ok(e1 instanceof ServerError && !(e1 instanceof NetworkError), String(e1));
  assert.match(e1.message, /1000000 bytes, over responseBytesMax \(4096\)/);
  assert.equal(declared.requests.length, 1);

  // No length, a body that never ends (a lying server within the timeout):
  // cut at the limit.
  const streamed = scripted(() =>
    new Response(endless(), { headers: { "content-type": "application/json" } })
  );
  const c2 = new EdgeLedgerClient({
    urls: "http://a",
    fetch: streamed.fetch,
    retry: fast,
    responseBytesMax: 64 * 1024,
  });
  const e2 = await c2.health().catch((e) => e);
  assert.ok(e2 instanceof ServerError, String(e2));
  assert.match(e2.message, /more than 65536 bytes/);
  assert.equal(streamed.requests.length, 1);
  assert.equal(cancelled, 2, "both bodies cancelled");

  // So is a problem answer: its text is read under the same limit.
  const bigProblem = scripted(() =>
    new Response(endless(), {
      status: 422,
      headers: { "content-type": "application/problem+json" },
    })
  );
  const c3 = new EdgeLedgerClient({
    urls: "http://a",
    fetch: bigProblem.fetch,
    retry: fast,
    responseBytesMax: 8192,
  });
  // deno-lint-ignore no-explicit-any
  const e3 = await c3.submit({} as any).catch((e) => e);
  assert.ok(e3 instanceof ServerError, String(e3));
  assert.throws(
    () => new EdgeLedgerClient({ urls: "http://a", responseBytesMax: 0 }),
    /responseBytesMax must be a positive integer/,
  );
});

/**
 * Runs `fn` with `Date.now` answering `offsetMs()` more than the real clock,
 * as on a device whose clock is set (NITZ, NTP, the user) while it runs.
 */
async function withWallClock<T>(offsetMs: () => number, fn: () => Promise<T>): Promise<T> {
  const real = Date.now;
  Date.now = () => real() + offsetMs();
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}

Deno.test("client: waitForCommit() times its wait with a monotonic clock: the device's clock set an hour ahead mid-wait does not end it", async () => {
  const committed = committedReceipt();
  let offset = 0;
  const s = scripted((_r, _u, n) => {
    // The device's clock is set forward between the first answer and the next poll.
    offset = 3600_000;
    return json({ tx: {}, receipt: n < 2 ? receipt : committed });
  });
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  const got = await withWallClock(
    () => offset,
    () => client.waitForCommit(TX_ID, { timeoutMs: 5000 }),
  )
    .catch((e) => e);
  assert.deepEqual(got, committed);
});

Deno.test("client: a Retry-After HTTP-date is read against the answer's Date (the site's clock), not the device's", async () => {
  const siteNow = Date.UTC(2026, 0, 1, 0, 0, 0);
  const s = scripted((_r, _u, n) =>
    n === 1
      ? problem("unavailable", 503, {}, {
        "retry-after": new Date(siteNow + 1000).toUTCString(),
        date: new Date(siteNow).toUTCString(),
      })
      : json({ status: "ok", version: "9" })
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, retry: fast });
  const started = performance.now();
  // The device's clock is months ahead of the site's: the date alone would mean no wait at all.
  await client.health();
  const waited = performance.now() - started;
  assert.equal(s.requests.length, 2);
  assert.ok(waited >= 950 && waited < 5000, `waited ${waited} ms for a 1 s Retry-After`);
});

Deno.test("client: submit() of one envelope answers a receipt typed with its txId (a string, the envelope's id), and refuses a receipt of another transaction as a ServerError", async () => {
  const id = transactionId(SUBMITTED);
  const ok = scripted(() => json({ txId: id, status: "pending" }, 202));
  const got = await new EdgeLedgerClient({ urls: "http://a", fetch: ok.fetch }).submit(SUBMITTED);
  const txId: string = got.txId; // no `!`: one envelope's receipt always has its id
  assert.equal(txId, id);
  for (const answer of [{ txId: TX_ID, status: "pending" }, { txId: null, status: "pending" }]) {
    const lying = scripted(() => json(answer, 202));
    const client = new EdgeLedgerClient({ urls: "http://a", fetch: lying.fetch, retry: fast });
    const e = await client.submit(SUBMITTED).catch((e) => e);
    assert.ok(e instanceof ServerError, String(e));
    assert.match(e.message, /receipt/);
  }
});

Deno.test("client: waitForCommit() answers a committed receipt typed with height, logIndex and result, and refuses one of another transaction or missing them as a ServerError", async () => {
  const committed = committedReceipt();
  const s = scripted(() => json({ tx: {}, receipt: committed }));
  const got = await new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch })
    .waitForCommit(TX_ID, { timeoutMs: 2000 });
  const where: [string, number, number, string] = [
    got.txId,
    got.height,
    got.logIndex,
    got.result.status,
  ];
  assert.deepEqual(where, [TX_ID, 1, 0, "applied"]);
  const { height: _h, ...noHeight } = committed;
  for (const receipt of [{ ...committed, txId: "ef".repeat(32) }, noHeight]) {
    const lying = scripted(() => json({ tx: {}, receipt }));
    const client = new EdgeLedgerClient({ urls: "http://a", fetch: lying.fetch, retry: fast });
    const e = await client.waitForCommit(TX_ID, { timeoutMs: 2000 }).catch((e) => e);
    assert.ok(e instanceof ServerError, String(e));
  }
});

Deno.test("client: every error with a problem document carries its slug, so a caller branches on insufficient_storage, rate_limited or validation without parsing the type URI", async () => {
  const cases: Array<[Response, string]> = [
    [problem("insufficient_storage", 503, {}, { "retry-after": "30" }), "insufficient_storage"],
    [problem("rate_limited", 429, {}, { "retry-after": "0" }), "rate_limited"],
    [problem("validation", 400, { errors: [] }), "validation"],
    [problem("not_found", 404), "not_found"],
  ];
  for (const [answer, slug] of cases) {
    const s = scripted(() => answer.clone());
    const client = new EdgeLedgerClient({
      urls: "http://a",
      fetch: s.fetch,
      retry: { attemptsMax: 1 },
    });
    const e = await client.status().catch((e) => e);
    assert.ok(e instanceof EdgeLedgerError);
    const got: ProblemSlug | (string & Record<never, never>) | undefined = e.slug;
    assert.equal(got, slug, e.constructor.name);
  }
  const down = new EdgeLedgerClient({
    urls: "http://a",
    fetch: () => Promise.reject(new TypeError("refused")),
    retry: { attemptsMax: 1 },
  });
  const e = await down.status().catch((e) => e);
  assert.ok(e instanceof NetworkError);
  assert.equal(e.slug, undefined, "no answer, no problem, no slug");
});

Deno.test("errors: retryable says whether the same call may succeed later — no answer, a rate limit, a site's failure and a commit not seen yet are; a malformed request and a refusal are not", () => {
  const problem = (slug: string, status: number) => ({
    type: `https://edgeledger.dev/problems/${slug}`,
    title: slug,
    status,
    detail: "",
  });
  const cases: Array<[EdgeLedgerError, boolean]> = [
    [new NetworkError("no answer"), true],
    [new RateLimitedError("slow down", { retryAfterMs: 1000 }), true],
    [new ServerError("down", { status: 503, problem: problem("unavailable", 503) }), true],
    [new ServerError("disk", { status: 503, problem: problem("insufficient_storage", 503) }), true],
    [new ServerError("bug", { status: 500 }), true],
    [new CommitTimeoutError("not yet", { txId: "ab", lastStatus: "pending" }), true],
    [new ValidationError("bad", { issues: [], problem: problem("validation", 400) }), false],
    [new RejectedError("no", { problem: problem("bad_signature", 422) }), false],
    [new NotFoundError("none", { problem: problem("not_found", 404) }), false],
  ];
  for (const [error, retryable] of cases) assert.equal(error.retryable, retryable, error.name);
});

// ---- the ledger a client is for ------------------------------------------

const hosts = (requests: Request[]) => requests.map((r) => new URL(r.url).host);
const health = { status: "ok", version: "1" };

Deno.test("client: ledger option: a site of another ledger is refused and never sent the call, which fails over at once to a site of the client's ledger", async () => {
  const s = servingLedger(() => json(health), (host) => host === "b" ? "ledger-b" : "ledger-a");
  const client = new EdgeLedgerClient({
    urls: ["http://b", "http://a"],
    ledger: "ledger-a",
    fetch: s.fetch,
    retry: { attemptsMax: 1, delayMsBase: 10_000, delayMsMax: 10_000 },
  });
  assert.deepEqual(await client.health(), health);
  assert.deepEqual(await client.health(), health);
  assert.deepEqual(hosts(s.requests), ["a", "a"]);
  // Each site asked its ledger once; the refused one never again.
  assert.deepEqual(hosts(s.probes), ["b", "a"]);
  assert.equal(client.currentUrl, "http://a");
  assert.equal(client.ledger, "ledger-a");
});

Deno.test("client: ledger option: when every site serves another ledger, the call throws LedgerMismatchError (ledger_mismatch, not retryable) having sent them nothing but the status", async () => {
  const s = servingLedger(() => json(health), () => "ledger-b");
  const client = new EdgeLedgerClient({
    urls: ["http://b", "http://c"],
    ledger: "ledger-a",
    fetch: s.fetch,
    retry: fast,
  });
  const e = await client.health().catch((e) => e);
  assert.ok(e instanceof LedgerMismatchError, String(e));
  assert.ok(e instanceof EdgeLedgerError);
  assert.equal(e.slug, "ledger_mismatch");
  assert.equal(e.retryable, false);
  assert.equal(e.expected, "ledger-a");
  assert.equal(e.actual, "ledger-b");
  assert.equal(e.site, "http://b");
  assert.match(e.message, /^Cannot use http:\/\/b: it serves ledger "ledger-b", not "ledger-a"/);
  assert.equal(s.requests.length, 0);
  // Refused for good: a later call asks no site again.
  assert.ok((await client.status().catch((e) => e)) instanceof LedgerMismatchError);
  assert.deepEqual(hosts(s.probes), ["b", "c"]);
});

Deno.test("client: ledger option: even a client of one URL checks its site, and refuses one that will not say its ledger", async () => {
  const other = servingLedger(() => json(health), () => "ledger-b");
  const one = new EdgeLedgerClient({ urls: "http://b", ledger: "ledger-a", fetch: other.fetch });
  assert.ok((await one.health().catch((e) => e)) instanceof LedgerMismatchError);
  assert.equal(other.requests.length, 0);

  const silent = scripted((_r, u) =>
    u.pathname === "/v1/status" ? problem("not_found", 404) : json(health)
  );
  const c2 = new EdgeLedgerClient({ urls: "http://a", ledger: "ledger-a", fetch: silent.fetch });
  const e = await c2.health().catch((e) => e);
  assert.ok(e instanceof LedgerMismatchError, String(e));
  assert.equal(e.actual, undefined);
  assert.match(e.message, /does not say which ledger it serves/);
  assert.deepEqual(silent.requests.map((r) => new URL(r.url).pathname), ["/v1/status"]);
});

Deno.test("client: ledger option: a status refused for want of credentials (401, 403) is the call's own error, not the site's refusal for good: with the key, the site is asked again and used", async () => {
  for (const [slug, status] of [["unauthorized", 401], ["forbidden", 403]] as const) {
    let keyed = false;
    const s = scripted((r, u) =>
      u.pathname === "/v1/status"
        ? (r.headers.get("authorization") === null ? problem(slug, status) : json(statusOf("l")))
        : json(health)
    );
    const client = new EdgeLedgerClient({
      urls: "http://a",
      ledger: "l",
      fetch: ((input: URL | RequestInfo, init?: RequestInit) => {
        const req = new Request(input, init);
        if (keyed) req.headers.set("authorization", "Bearer k");
        return s.fetch(req);
      }) as typeof fetch,
    });
    const e = await client.health().catch((e) => e);
    assert.ok(!(e instanceof LedgerMismatchError), String(e));
    assert.equal(e.slug, slug);
    assert.equal(e.retryable, false);
    keyed = true;
    assert.deepEqual(await client.health(), health);
    assert.deepEqual(s.requests.map((r) => new URL(r.url).pathname), [
      "/v1/status",
      "/v1/status",
      "/healthz",
    ]);
  }
});

Deno.test("client: ledger option: a status a site cannot answer now (503) fails the attempt like any answer, and the site is asked again", async () => {
  const s = scripted((_r, u, n) =>
    u.pathname === "/v1/status"
      ? (n === 1 ? problem("unavailable", 503) : json(statusOf("ledger-a")))
      : json(health)
  );
  const client = new EdgeLedgerClient({
    urls: "http://a",
    ledger: "ledger-a",
    fetch: s.fetch,
    retry: fast,
  });
  assert.deepEqual(await client.health(), health);
  assert.deepEqual(s.requests.map((r) => new URL(r.url).pathname), [
    "/v1/status",
    "/v1/status",
    "/healthz",
  ]);
});

Deno.test("client: without the ledger option, a client of several sites learns the ledger from the first that answers and refuses a site of another", async () => {
  const s = servingLedger(
    (_r, u) => u.host === "a" ? json(health, 503) : json(health),
    (host) => host === "b" ? "ledger-b" : "ledger-a",
  );
  const client = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: s.fetch,
    retry: fast,
  });
  const e = await client.health().catch((e) => e);
  assert.equal(client.ledger, "ledger-a");
  // Site a failed (503); site b serves another ledger and is never sent the call.
  assert.ok(e instanceof ServerError, String(e));
  assert.deepEqual(hosts(s.requests), ["a", "a", "a", "a"]);
  assert.deepEqual(hosts(s.probes), ["a", "b"]);
  await client.health().catch(() => {});
  assert.deepEqual(hosts(s.probes), ["a", "b"], "each site asked once");
});

Deno.test("client: without the ledger option, a client of one URL asks no status first", async () => {
  const s = scripted(() => json(health));
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  await client.health();
  assert.deepEqual(s.requests.map((r) => new URL(r.url).pathname), ["/healthz"]);
  assert.equal(client.ledger, undefined);
});

Deno.test("client: ledger option: subscribe() never opens a stream at a site of another ledger", async () => {
  const frame = blockFrame(3);
  const s = servingLedger(
    () => new Response(frame, { headers: { "content-type": "text/event-stream" } }),
    (host) => host === "b" ? "ledger-b" : "ledger-a",
  );
  const client = new EdgeLedgerClient({
    urls: ["http://b", "http://a"],
    ledger: "ledger-a",
    fetch: s.fetch,
    retry: fast,
  });
  const connected: string[] = [];
  for await (
    const e of client.subscribe({
      fromHeight: 3,
      onConnect: (site) => connected.push(site),
    })
  ) {
    assert.equal(e.height, 3);
    break;
  }
  assert.deepEqual(connected, ["http://a"]);
  assert.deepEqual(hosts(s.requests), ["a"]);
});

Deno.test("client: ledger option: an answer to the status that is no status (a captive portal's page) fails the call without refusing the site for good", async () => {
  let portal = true;
  const s = scripted((_r, u) =>
    u.pathname === "/v1/status" && portal
      ? new Response("<p>Sign in to the Wi-Fi</p>", { headers: { "content-type": "text/html" } })
      : u.pathname === "/v1/status"
      ? json(statusOf("ledger-a"))
      : json(health)
  );
  const client = new EdgeLedgerClient({ urls: "http://a", ledger: "ledger-a", fetch: s.fetch });
  const e = await client.health().catch((e) => e);
  assert.ok(e instanceof ServerError && !(e instanceof LedgerMismatchError), String(e));
  portal = false;
  assert.deepEqual(await client.health(), health);
});

// ---- read your writes (minHeight) ---------------------------------------

const committedAt = (height: number, txId = TX_ID) =>
  committedReceipt({ txId, height, logIndex: height * 2 });

Deno.test("client: reads after a committed receipt ask for its height as minHeight; writes do not", async () => {
  const s = scripted((req, url) => {
    if (req.method === "POST") return json(committedAt(7, transactionId(SUBMITTED)));
    return url.pathname.startsWith("/v1/txs/")
      ? json({ tx: {}, receipt: committedAt(4) })
      : problem("not_found", 404);
  });
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  assert.equal(client.sessionHeight, 0);
  await client.getTx(TX_ID);
  assert.equal(new URL(s.requests[0].url).searchParams.get("minHeight"), null);
  await client.submit(SUBMITTED, { wait: "commit" });
  assert.equal(new URL(s.requests[1].url).searchParams.get("minHeight"), null);
  assert.equal(client.sessionHeight, 7);
  // A lower height read back does not lower it.
  await client.getTx(TX_ID);
  assert.equal(new URL(s.requests[2].url).searchParams.get("minHeight"), "7");
  assert.equal(client.sessionHeight, 7);
  await client.identity.device("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK").catch(
    () => undefined,
  );
  assert.equal(new URL(s.requests[3].url).searchParams.get("minHeight"), "7");
  // verify-reading is a read with a body: it asks too.
  await client.data.verifyReading("truck-17/temp", {
    seq: 1,
    reading: { json: { celsius: 4 } },
    proof: { index: 0, count: 1, path: [] },
  }).catch(() => undefined);
  assert.equal(s.requests[4].method, "POST");
  assert.equal(new URL(s.requests[4].url).searchParams.get("minHeight"), "7");
  // A site's own state is asked as it is now: no session height, unless the call gives one.
  await client.status().catch(() => undefined);
  assert.equal(new URL(s.requests[5].url).pathname, "/v1/status");
  assert.equal(new URL(s.requests[5].url).searchParams.get("minHeight"), null);
  await client.status({ minHeight: 7 }).catch(() => undefined);
  assert.equal(new URL(s.requests[6].url).searchParams.get("minHeight"), "7");
});

Deno.test("client: a batch's highest committed receipt sets the session height; a pending one and a read do not", async () => {
  const s = scripted((req) =>
    req.method === "POST"
      ? json({
        receipts: [
          committedAt(5, "01".repeat(32)),
          { txId: "02".repeat(32), status: "pending" },
          committedAt(9, "03".repeat(32)),
          committedAt(6, "04".repeat(32)),
        ],
      })
      : json({ tx: {}, receipt: committedAt(12) })
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch });
  await client.submit([SUBMITTED, SUBMITTED, SUBMITTED, SUBMITTED]);
  assert.equal(client.sessionHeight, 9);
  // A read's receipt is not this client's write: it leaves the height alone (a site that
  // lied in it would otherwise make every later read wait for a block that never comes).
  await client.getTx(TX_ID);
  assert.equal(new URL(s.requests[1].url).searchParams.get("minHeight"), "9");
  assert.equal(client.sessionHeight, 9);
});

Deno.test("client: a site that has not reached the session height answers 503; the read moves to the next site", async () => {
  const s = servingLedger((_req, url) =>
    url.host === "a"
      ? problem("unavailable", 503, { height: 3, minHeight: 7 }, { "retry-after": "1" })
      : json({ tx: {}, receipt: committedAt(7) })
  );
  const client = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: s.fetch,
    sessionHeight: 7,
    retry: { ...fast, retryAfterMsMax: 60_000 },
  });
  const started = performance.now();
  const got = await client.getTx(TX_ID);
  assert.equal(got.receipt.height, 7);
  // At once, not after the Retry-After: another site may have applied the height.
  assert.ok(performance.now() - started < 900, `moved on after ${performance.now() - started} ms`);
  assert.deepEqual(
    s.requests.map((r) => [new URL(r.url).host, new URL(r.url).searchParams.get("minHeight")]),
    [["a", "7"], ["b", "7"]],
  );
});

Deno.test("client: readYourWrites false sends minHeight only where a call gives it; 0 sends none; a bad one throws before any request", async () => {
  const s = scripted((req) =>
    req.method === "POST"
      ? json(committedAt(7, transactionId(SUBMITTED)))
      : json({ tx: {}, receipt: committedAt(7) })
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, readYourWrites: false });
  await client.submit(SUBMITTED, { wait: "commit" });
  assert.equal(client.sessionHeight, 7);
  await client.getTx(TX_ID);
  assert.equal(new URL(s.requests[1].url).searchParams.get("minHeight"), null);
  await client.getTx(TX_ID, { minHeight: 3 });
  assert.equal(new URL(s.requests[2].url).searchParams.get("minHeight"), "3");
  const on = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, sessionHeight: 7 });
  await on.getTx(TX_ID, { minHeight: 0 });
  assert.equal(new URL(s.requests[3].url).searchParams.get("minHeight"), null);
  await assert.rejects(on.getTx(TX_ID, { minHeight: -1 }), RangeError);
  await assert.rejects(on.getTx(TX_ID, { minHeight: 1.5 }), RangeError);
  assert.equal(s.requests.length, 4);
  assert.throws(
    () => new EdgeLedgerClient({ urls: "http://a", sessionHeight: -2 }),
    /sessionHeight must be an integer >= 0/,
  );
});

Deno.test("client: a receipt the call refuses (another transaction's) does not move the session height", async () => {
  const s = scripted((req) =>
    req.method === "POST"
      ? json(committedAt(99, "ee".repeat(32)))
      : json({ tx: {}, receipt: committedAt(50, "ff".repeat(32)) })
  );
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: s.fetch, retry: fast });
  await assert.rejects(client.submit(SUBMITTED), ServerError);
  await client.getTx(TX_ID);
  assert.equal(client.sessionHeight, 0);
});

Deno.test("client: when no site has applied the session height, the read fails once and later reads ask for the highest height a site has", async () => {
  const s = servingLedger((_req, url) => {
    const asked = Number(url.searchParams.get("minHeight") ?? 0);
    const has = url.host === "a" ? 3 : 5;
    return asked > has
      ? problem("unavailable", 503, { height: has, minHeight: asked }, { "retry-after": "1" })
      : json({ tx: {}, receipt: committedAt(2) });
  });
  const client = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: s.fetch,
    sessionHeight: 999, // as after a restore that set the ledger back, or a lying receipt
    retry: { ...fast, attemptsMax: 2 },
  });
  await assert.rejects(client.getTx(TX_ID), (e) => e instanceof ServerError && e.status === 503);
  assert.equal(client.sessionHeight, 5);
  const got = await client.getTx(TX_ID);
  assert.equal(got.receipt.height, 2);
  // A height the caller gave is the caller's: not lowered.
  const own = new EdgeLedgerClient({
    urls: ["http://a", "http://b"],
    fetch: s.fetch,
    retry: { ...fast, attemptsMax: 2 },
  });
  await assert.rejects(own.getTx(TX_ID, { minHeight: 50 }), ServerError);
  assert.equal(own.sessionHeight, 0);
});
