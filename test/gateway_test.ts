/**
 * The gateway (`workers/gateway.ts`) in front of real sites on loopback: a
 * site in this process (its own app over `Deno.serve`), counting fakes for
 * failover, a 3-site Raft cluster of real processes, and `task start
 * --gateway`.
 *
 * What a site would refuse, the gateway refuses with the site's exact
 * problem — checked by sending the same bytes to a site directly — and the
 * site's own request metrics show the junk never reached it.
 */
import assert from "node:assert/strict";
import { EdgeLedgerClient } from "../sdk/client/mod.ts";
import { createEnvelope, type Envelope, signEnvelope } from "../sdk/envelope.ts";
import { generateKeyPair, softwareSigner } from "../sdk/keys.ts";
import { RULES_VERSION_SUPPORTED } from "../src/contracts/rules.ts";
import { gatewayConfigSchema, LedgerUnknownError } from "../src/gateway/mod.ts";
import { createApp } from "../src/api/app.ts";
import { hashKey } from "../src/api/api_keys.ts";
import { type RunningGateway, startGateway } from "../workers/gateway.ts";
import { anchorTx, openTestSite, readAnswer } from "./_helpers.ts";
import {
  closedPort,
  getJson,
  leaderIndex,
  spawnWorker,
  spawnWorkerOnPort,
  startCluster,
  statuses,
  waitFor,
  waitForOutput,
} from "./_cluster.ts";
import { isolation } from "./_partition.ts";

const JSON_HEADERS = { "content-type": "application/json" };

/**
 * A gateway config for tests: port 0, fast polls, a log of errors only
 * (everything with `CLUSTER_LOG`), then `extra`.
 */
function config(sites: string[], extra: Record<string, unknown> = {}) {
  return gatewayConfigSchema.parse({
    port: 0,
    sites,
    pollIntervalMs: 100,
    pollTimeoutMs: 500,
    log: { level: Deno.env.get("CLUSTER_LOG") ? "debug" : "error" },
    ...extra,
  });
}

/** A one-site ledger in this process, served on a loopback port. */
async function servedSite() {
  const t = await openTestSite();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, t.app.fetch);
  return {
    ...t,
    url: `http://127.0.0.1:${server.addr.port}`,
    /** `POST` requests the site has answered (any route), from its own metrics. */
    async posts(): Promise<number> {
      const text = await (await t.app.request("/metrics")).text();
      let n = 0;
      for (const line of text.split("\n")) {
        if (line.startsWith('edgeledger_http_requests_total{method="POST",')) {
          n += Number(line.slice(line.lastIndexOf(" ") + 1));
        }
      }
      return n;
    },
    async close() {
      await server.shutdown();
      await t.cleanup();
    },
  };
}

type Site = Awaited<ReturnType<typeof servedSite>>;

/** A test with one in-process site and a gateway in front of it. */
function withSite(
  name: string,
  fn: (site: Site, gw: RunningGateway) => Promise<void>,
  extra: Record<string, unknown> = {},
): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const site = await servedSite();
      const gw = await startGateway(config([site.url], extra));
      try {
        await fn(site, gw);
      } finally {
        await gw.stop();
        await site.close();
      }
    },
  });
}

/** Flips one character of signature 0 (still valid base64url). */
function badSignature(env: Envelope): Envelope {
  const sig = env.sigs[0];
  const flipped = sig.slice(0, 10) + (sig[10] === "A" ? "B" : "A") + sig.slice(11);
  return { ...env, sigs: [flipped, ...env.sigs.slice(1)] };
}

async function signed(
  options: Parameters<typeof createEnvelope>[0],
  key = generateKeyPair("ed25519"),
) {
  return await signEnvelope(createEnvelope({ ...options, signers: [key.did] }), [
    softwareSigner(key),
  ]);
}

withSite(
  "gateway: a transaction submitted through the gateway commits, reads back through it, and says which site served it",
  async (site, gw) => {
    const env = await anchorTx(generateKeyPair("ed25519"));
    const res = await fetch(`${gw.url}/v1/txs?wait=commit`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify(env),
    });
    const receipt = await readAnswer(res);
    assert.equal(receipt.status, 200, JSON.stringify(receipt.body));
    assert.equal(receipt.body.status, "committed");
    assert.equal(res.headers.get("x-edgeledger-site"), "site-a");
    assert.equal(res.headers.get("via"), "1.1 edgeledger-gateway");
    assert.equal(res.headers.get("cache-control"), "no-store");

    const read = await readAnswer(await fetch(`${gw.url}/v1/txs/${receipt.body.txId}`));
    assert.equal(read.status, 200);
    assert.deepEqual(read.body.tx, env);
    assert.equal(read.body.receipt.height, receipt.body.height);
    const proof = await readAnswer(
      await fetch(`${gw.url}/v1/txs/${receipt.body.txId}/proof?treeSize=1`),
    );
    assert.equal(proof.status, 200);
    assert.equal(proof.headers.get("cache-control"), "public, max-age=31536000, immutable");

    // The checkpoint is a text/plain signed note, byte for byte the site's.
    const viaGateway = await fetch(`${gw.url}/v1/checkpoint`);
    assert.equal(viaGateway.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(await viaGateway.text(), await (await site.app.request("/v1/checkpoint")).text());

    // A site's 404 problem comes back as the site sent it.
    const missing = await readAnswer(await fetch(`${gw.url}/v1/txs/${"0".repeat(64)}`));
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("content-type"), "application/problem+json");
    assert.equal(missing.headers.get("x-edgeledger-site"), "site-a");
    // So does its 405 for a method the route does not take, with its Allow.
    const wrong = await readAnswer(await fetch(`${gw.url}/v1/checkpoint`, { method: "DELETE" }));
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "GET, HEAD, OPTIONS");
    assert.equal(wrong.headers.get("x-edgeledger-site"), "site-a");
    // The gateway's own routes answer the same way.
    const own = await readAnswer(await fetch(`${gw.url}/metrics`, { method: "POST" }));
    assert.equal(own.status, 405);
    assert.equal(own.body.type, "https://edgeledger.dev/problems/method_not_allowed");
    assert.equal(own.headers.get("allow"), "GET, HEAD, OPTIONS");
    assert.equal(own.headers.get("x-edgeledger-site"), null);
  },
);

withSite(
  "gateway: the request id is the client's when valid, else one the gateway makes and the site keeps",
  async (_site, gw) => {
    const given = await fetch(`${gw.url}/v1/status`, { headers: { "x-request-id": "trace-42_a" } });
    await given.body?.cancel();
    assert.equal(given.headers.get("x-request-id"), "trace-42_a");
    assert.equal(given.headers.get("x-edgeledger-site"), "site-a");
    // The site echoes the id it was sent: the gateway's, for a client that sent none.
    const made = await fetch(`${gw.url}/v1/status`);
    await made.body?.cancel();
    assert.match(made.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    const refused = await readAnswer(
      await fetch(`${gw.url}/v1/txs`, {
        method: "POST",
        headers: { ...JSON_HEADERS, "x-request-id": "bad id!" },
        body: "{",
      }),
    );
    assert.equal(refused.status, 400);
    assert.match(refused.body.requestId, /^[0-9a-f-]{36}$/);
    assert.equal(refused.headers.get("x-request-id"), refused.body.requestId);
  },
);

withSite(
  "gateway: refuses a bad signature, a wrong ledger, an unknown kind, a bad body, a repeated member name and other junk with the site's exact problem, and the site never sees them",
  async (site, gw) => {
    const key = generateKeyPair("ed25519");
    const good = await anchorTx(key);
    const now = Date.now();
    const cases: Array<{ name: string; body: string; headers?: Record<string, string> }> = [
      { name: "bad signature", body: JSON.stringify(badSignature(good)) },
      { name: "wrong ledger", body: JSON.stringify(await anchorTx(key, { ledger: "other" })) },
      {
        name: "unknown kind",
        body: JSON.stringify(
          await signed({ ledger: "demo", kind: "nope.kind", body: { a: 1 }, signers: [] }),
        ),
      },
      {
        name: "body failing its kind's schema",
        body: JSON.stringify(
          await signed({ ledger: "demo", kind: "data.anchor", body: { stream: "s" }, signers: [] }),
        ),
      },
      {
        name: "envelope over 64 KiB",
        body: JSON.stringify({
          ...good,
          body: { ...good.body as object, stream: "x".repeat(70_000) },
        }),
      },
      { name: "unknown envelope field", body: JSON.stringify({ ...good, extra: 1 }) },
      {
        name: "repeated member name",
        body: JSON.stringify(good).replace('{"v":1,', '{"v":1,"v":1,'),
      },
      { name: "malformed JSON", body: '{"v":1,' },
      { name: "not JSON", body: JSON.stringify(good), headers: { "content-type": "text/plain" } },
      { name: "request over 1 MiB", body: JSON.stringify({ pad: "x".repeat(1_100_000) }) },
      { name: "empty batch", body: '{"txs":[]}' },
    ];
    const verify = "/v1/streams/s/verify-reading";
    cases.push({ name: "repeated member name in a reading to verify", body: '{"seq":0,"seq":1}' });
    for (const c of cases) {
      const init = { method: "POST", headers: c.headers ?? JSON_HEADERS, body: c.body };
      const path = c.name.endsWith("to verify") ? verify : "/v1/txs";
      const direct = await readAnswer(await site.app.request(path, init));
      const before = await site.posts();
      const viaGateway = await readAnswer(await fetch(`${gw.url}${path}`, init));
      assert.equal(await site.posts(), before, `${c.name}: reached the site`);
      assert.ok(direct.status >= 400, `${c.name}: the site refuses it (${direct.status})`);
      assert.equal(viaGateway.status, direct.status, c.name);
      assert.equal(viaGateway.headers.get("content-type"), "application/problem+json", c.name);
      assert.equal(viaGateway.headers.get("x-edgeledger-site"), null, c.name);
      const { requestId: _a, detail: d1, ...site_ } = direct.body;
      const { requestId: _b, detail: d2, ...gateway } = viaGateway.body;
      assert.deepEqual(gateway, site_, c.name);
      assert.equal(d2, d1, c.name);
    }
    // Expired and badly signed: the gateway checks the signature as of the expiry (where a
    // site, looking the id up first, answers expired): documented in the README.
    const before = await site.posts();
    const expiredForged = await readAnswer(
      await fetch(`${gw.url}/v1/txs`, {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify(badSignature(await anchorTx(key, { expiresAt: now - 3_600_000 }))),
      }),
    );
    assert.equal(expiredForged.body.type, "https://edgeledger.dev/problems/bad_signature");
    assert.equal(await site.posts(), before);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    for (const type of ["bad_signature", "wrong_ledger", "unknown_kind", "validation"]) {
      assert.match(
        metrics,
        new RegExp(`edgeledger_gateway_precheck_refusals_total\\{type="${type}"\\} \\d`),
      );
    }
  },
);

withSite(
  "gateway: leaves to the site what depends on its clock, policy or state: expiry (a committed transaction's receipt however long ago it expired), the expiry window, and a batch's envelopes",
  async (site, gw) => {
    const key = generateKeyPair("ed25519");
    const post = async (body: unknown) => {
      const before = await site.posts();
      const res = await readAnswer(
        await fetch(`${gw.url}/v1/txs`, {
          method: "POST",
          headers: JSON_HEADERS,
          body: JSON.stringify(body),
        }),
      );
      assert.equal(await site.posts(), before + 1, "forwarded");
      assert.equal(res.headers.get("x-edgeledger-site"), "site-a");
      return res;
    };
    // Expired by the gateway's clock, 5 s or an hour ago: the site's clock may lag, and
    // a committed transaction is answered its receipt however long ago it expired.
    for (const ago of [5000, 3_600_000]) {
      const expired = await post(await anchorTx(key, { expiresAt: Date.now() - ago }));
      assert.equal(expired.status, 422);
      assert.equal(expired.body.type, "https://edgeledger.dev/problems/expired");
    }
    const soon = await anchorTx(key, { expiresAt: Date.now() + 3000 });
    const commit = async () =>
      await readAnswer(
        await fetch(`${gw.url}/v1/txs?wait=commit`, {
          method: "POST",
          headers: JSON_HEADERS,
          body: JSON.stringify(soon),
        }),
      );
    const committed = await commit();
    assert.equal(committed.body.status, "committed");
    await new Promise((r) => setTimeout(r, soon.expiresAt + 50 - Date.now()));
    const again = await commit();
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, committed.body);
    // The window is governed policy.
    const tooFar = await post(await anchorTx(key, { expiresAt: Date.now() + 48 * 3600_000 }));
    assert.equal(tooFar.body.type, "https://edgeledger.dev/problems/expires_too_far");
    // A batch is answered per envelope by the site: forwarded as sent.
    const ok = await anchorTx(key);
    const batch = await post({ txs: [ok, badSignature(await anchorTx(key))] });
    assert.equal(batch.status, 200);
    assert.equal(batch.body.receipts[0].status, "pending");
    assert.equal(batch.body.receipts[1].status, "refused");
    assert.equal(
      batch.body.receipts[1].problem.type,
      "https://edgeledger.dev/problems/bad_signature",
    );
  },
);

withSite(
  "gateway: /raft/* and /v1/admin/* are not exposed (404 problem+json, nothing forwarded)",
  async (site, gw) => {
    for (
      const [method, path] of [
        ["POST", "/raft/msg"],
        ["POST", "/raft/stream"],
        ["GET", "/raft/blocks"],
        ["POST", "/v1/admin/members"],
        ["DELETE", "/v1/admin/members/site-b"],
        ["POST", "/v1/admin/leader"],
        ["GET", "/v1/admin"],
      ]
    ) {
      const res = await readAnswer(
        await fetch(`${gw.url}${path}`, {
          method,
          headers: JSON_HEADERS,
          body: method === "POST" ? "{}" : undefined,
        }),
      );
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      assert.equal(res.body.type, "https://edgeledger.dev/problems/not_found");
      assert.equal(res.headers.get("x-edgeledger-site"), null);
    }
    // Spelled so a router takes it for a public path, but a site would not.
    for (
      const path of [
        "/v1/txs/../admin/members",
        "/v1/txs/%2e%2e/admin/members",
        "/v1/../raft/msg",
        "/v1/%61dmin/members",
        "/v1/admin%2Fmembers",
      ]
    ) {
      const head = await rawRequest(gw.url, "POST", path);
      assert.match(head, /^HTTP\/1\.1 404 /, path);
      assert.doesNotMatch(head, /x-edgeledger-site/i, path);
    }
    assert.equal(await site.posts(), 0);
  },
);

/** Sends `method path` as written (no client-side normalisation); answers the response head. */
async function rawRequest(base: string, method: string, path: string): Promise<string> {
  const { hostname, port } = new URL(base);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  await conn.write(
    new TextEncoder().encode(
      `${method} ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n` +
        "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    ),
  );
  let text = "";
  for await (const chunk of conn.readable.pipeThrough(new TextDecoderStream())) text += chunk;
  return text.slice(0, text.indexOf("\r\n\r\n"));
}

withSite(
  "gateway: Server-Sent Events flow through the gateway and resume after Last-Event-ID",
  async (_site, gw) => {
    const key = generateKeyPair("ed25519");
    const first = new AbortController();
    const res = await fetch(`${gw.url}/v1/events?from=1`, { signal: first.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    assert.equal(res.headers.get("x-edgeledger-site"), "site-a");
    const frames = sseFrames(res.body!);
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${gw.url}/v1/txs?wait=commit`, {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify(await anchorTx(key)),
      });
      assert.equal((await r.json()).status, "committed");
    }
    const ids: string[] = [];
    while (ids.length < 3) {
      const f = (await frames.next()).value!;
      if (f.event === "block") ids.push(f.id!);
    }
    assert.deepEqual(ids, ["1", "2", "3"]);
    const view = async () => (await (await fetch(`${gw.url}/v1/gateway`)).json()).sites[0];
    assert.equal((await view()).streams, 1);
    first.abort();
    await frames.return(undefined);
    await waitFor(
      "the stream to close",
      async () => (await view()).streams === 0 || undefined,
      5000,
    );

    const resumed = await fetch(`${gw.url}/v1/events`, { headers: { "last-event-id": "1" } });
    const again = sseFrames(resumed.body!);
    const next: string[] = [];
    while (next.length < 2) {
      const f = (await again.next()).value!;
      if (f.event === "block") next.push(f.id!);
    }
    assert.deepEqual(next, ["2", "3"]);
    await again.return(undefined);
  },
);

withSite(
  "gateway: the SDK client works unchanged against the gateway's URL",
  async (_site, gw) => {
    const client = new EdgeLedgerClient({ urls: [gw.url], timeoutMs: 5000 });
    const status = await client.status();
    assert.equal(status.ledger, "demo");
    const key = generateKeyPair("p256");
    const receipt = await client.submit(await anchorTx(key), { wait: "commit" });
    assert.equal(receipt.status, "committed");
    const view = await client.getTx(receipt.txId!);
    assert.equal(view.receipt.height, receipt.height);
    await waitFor("a proof", async () => {
      try {
        return await client.proof(receipt.txId!);
      } catch {
        return undefined;
      }
    }, 5000);
    assert.match(await client.checkpoint(), /^edgeledger\.test\/demo\n/);
    const stop = new AbortController();
    const heights: number[] = [];
    for await (const block of client.subscribe({ fromHeight: 1, signal: stop.signal })) {
      heights.push(block.height);
      stop.abort();
    }
    assert.deepEqual(heights, [1], "the subscription yields block 1, then stops");
    await assert.rejects(
      client.submit(badSignature(await anchorTx(key))),
      (e: Error & { problem?: { type: string } }) => /bad_signature/.test(e.problem?.type ?? ""),
    );
  },
);

/** Parses an SSE body into frames (`event`, `id`, `data`). */
async function* sseFrames(body: ReadableStream<Uint8Array>) {
  let buf = "";
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const frame: { event?: string; id?: string; data?: string } = {};
        for (const line of buf.slice(0, end).split("\n")) {
          const m = /^(event|id|data): ?(.*)$/.exec(line);
          if (m) frame[m[1] as "event"] = m[2];
        }
        buf = buf.slice(end + 2);
        yield frame;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

// ---- failover, against counting fakes --------------------------------------

/** A stand-in site: answers `/v1/status` for `ledger`, anything else with `handle`. */
function fakeSite(
  name: string,
  handle: (req: Request) => Response | Promise<Response> = () => Response.json({ from: name }),
  ledger = "demo",
  /** Fields added to its status, read at each poll (change them to change what it says). */
  statusFields: Record<string, unknown> = {},
) {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const { pathname } = new URL(req.url);
    if (pathname === "/v1/status") {
      return Response.json({
        ledger,
        site: name,
        role: "follower",
        term: 1,
        leader: null,
        commitIndex: 0,
        appliedIndex: 0,
        height: 0,
        logSize: 0,
        ...statusFields,
      });
    }
    seen.push(`${req.method} ${pathname}`);
    return handle(req);
  });
  let open = true;
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    async close() {
      if (!open) return;
      open = false;
      await server.shutdown();
    },
  };
}

type Fake = ReturnType<typeof fakeSite>;

/** Two fakes, the first preferred, and a gateway whose view does not refresh during the test. */
function withFakes(
  name: string,
  handlers: [
    (req: Request) => Response | Promise<Response>,
    (req: Request) => Response | Promise<Response>,
  ],
  fn: (a: Fake, b: Fake, gw: RunningGateway) => Promise<void>,
  extra: Record<string, unknown> = {},
): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const a = fakeSite("site-a", handlers[0]);
      const b = fakeSite("site-b", handlers[1]);
      const gw = await startGateway(
        config([a.url, b.url], {
          preferredSites: [a.url],
          pollIntervalMs: 60_000,
          ledger: "demo",
          ...extra,
        }),
      );
      await gw.pool.pollAll();
      try {
        await fn(a, b, gw);
      } finally {
        await gw.stop();
        await a.close();
        await b.close();
      }
    },
  });
}

const fromSite = (name: string) => () => Response.json({ from: name });

withFakes(
  "gateway: a GET and a POST /v1/txs are retried on another site when the first is down, and the answer names the site that served it",
  [
    fromSite("site-a"),
    (req) =>
      req.method === "POST"
        ? new Response(req.body, { status: 202, headers: JSON_HEADERS })
        : Response.json({ from: "site-b" }),
  ],
  async (a, b, gw) => {
    await a.close();
    const read = await fetch(`${gw.url}/v1/blocks/1`);
    assert.deepEqual(await read.json(), { from: "site-b" });
    assert.equal(read.headers.get("x-edgeledger-site"), "site-b");
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(`edgeledger_gateway_retries_total\\{site="${a.url}",reason="connect"\\} 1`),
    );
    assert.match(metrics, new RegExp(`edgeledger_gateway_site_up\\{site="${a.url}"\\} 0`));

    // A failed site is skipped until a poll brings it back; POST /v1/txs goes to b, bytes unchanged.
    const envelope = JSON.stringify({ txs: [await anchorTx(generateKeyPair("ed25519"))] }, null, 1);
    const write = await fetch(`${gw.url}/v1/txs`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: envelope,
    });
    assert.equal(write.status, 202);
    assert.equal(await write.text(), envelope);
    assert.deepEqual(b.seen, ["GET /v1/blocks/1", "POST /v1/txs"]);
    const view = await (await fetch(`${gw.url}/v1/gateway`)).json();
    assert.equal(view.sites[0].up, false);
    assert.match(view.sites[0].lastError, /127\.0\.0\.1/);
  },
);

withFakes(
  "gateway: a 503 from a site or no answer within responseTimeoutMs is retried on another site; a request unsafe to repeat is not",
  [
    async (req) => {
      const { pathname } = new URL(req.url);
      if (pathname === "/v1/slow") await new Promise((r) => setTimeout(r, 2000));
      return Response.json({ type: "x" }, { status: 503, headers: { "retry-after": "7" } });
    },
    fromSite("site-b"),
  ],
  async (a, b, gw) => {
    const busy = await fetch(`${gw.url}/v1/sites`);
    assert.deepEqual(await busy.json(), { from: "site-b" });
    const slow = await fetch(`${gw.url}/v1/slow`);
    assert.deepEqual(await slow.json(), { from: "site-b" });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(
      metrics,
      /edgeledger_gateway_retries_total\{site="[^"]+",reason="unavailable"\} 1/,
    );
    assert.match(metrics, /edgeledger_gateway_retries_total\{site="[^"]+",reason="timeout"\} 1/);
    // The timed-out site is down now; a poll brings it back.
    await gw.pool.pollAll();
    // DELETE is not safe to repeat: the site's 503 comes back as it is, Retry-After included.
    const unsafe = await fetch(`${gw.url}/v1/things/1`, { method: "DELETE" });
    assert.equal(unsafe.status, 503);
    assert.equal(unsafe.headers.get("retry-after"), "7");
    assert.equal(unsafe.headers.get("x-edgeledger-site"), "site-a");
    await unsafe.body?.cancel();
    assert.ok(!b.seen.includes("DELETE /v1/things/1"));
    assert.ok(a.seen.includes("DELETE /v1/things/1"));
  },
  { responseTimeoutMs: 300 },
);

withFakes(
  "gateway: a 503 insufficient_storage (the cluster pauses writes for want of disk space) is passed on from the first site, not asked of the others",
  [
    () =>
      new Response(
        JSON.stringify({
          type: "https://edgeledger.dev/problems/insufficient_storage",
          title: "Insufficient storage",
          status: 503,
          detail: "New transactions are paused: site-c has 100 MiB free",
          sites: [{ site: "site-c", freeBytes: 104857600, freeBytesMin: 536870912 }],
        }),
        {
          status: 503,
          headers: { "content-type": "application/problem+json", "retry-after": "30" },
        },
      ),
    fromSite("site-b"),
  ],
  async (a, b, gw) => {
    const write = await fetch(`${gw.url}/v1/txs`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify(await anchorTx(generateKeyPair("ed25519"))),
    });
    assert.equal(write.status, 503);
    assert.equal(write.headers.get("retry-after"), "30");
    assert.equal(write.headers.get("x-edgeledger-site"), "site-a");
    const body = await write.json();
    assert.match(body.type, /\/insufficient_storage$/);
    assert.equal(body.sites[0].site, "site-c");
    assert.deepEqual(a.seen, ["POST /v1/txs"]);
    assert.deepEqual(b.seen, [], "the next site is not asked");
    assert.doesNotMatch(
      await (await fetch(`${gw.url}/metrics`)).text(),
      /edgeledger_gateway_retries_total\{[^}]*reason="unavailable"/,
    );
  },
);

Deno.test({
  name:
    "gateway: a site that answers a write 503 is polled at once: once its status says it cannot reach its leader, the next requests go to another site, though the preferred one and before the next round of polls",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const aStatus: Record<string, unknown> = { leader: "site-b" };
    const a = fakeSite(
      "site-a",
      () => {
        // What a site answers, and then says, once its forwards get no answer.
        aStatus.leaderUnreachableMs = 2100;
        return Response.json({
          type: "https://edgeledger.dev/problems/unavailable",
          title: "Leader unreachable",
          status: 503,
          detail: "Site site-a has had no answer from the leader site-b to what it forwarded",
        }, { status: 503, headers: { "retry-after": "1" } });
      },
      "demo",
      aStatus,
    );
    const b = fakeSite(
      "site-b",
      (req) => new Response(req.body, { status: 202, headers: JSON_HEADERS }),
      "demo",
      { role: "leader", leader: "site-b" },
    );
    const gw = await startGateway(
      config([a.url, b.url], {
        preferredSites: [a.url],
        pollIntervalMs: 60_000,
        ledger: "demo",
      }),
    );
    try {
      await gw.pool.pollAll();
      assert.equal(gw.pool.sites[0].inTouch, true);
      const write = async () =>
        await fetch(`${gw.url}/v1/txs`, {
          method: "POST",
          headers: JSON_HEADERS,
          body: JSON.stringify(await anchorTx(generateKeyPair("ed25519"))),
        });
      const first = await write();
      assert.equal(first.status, 202, "retried at site-b");
      await first.body?.cancel();
      assert.deepEqual(a.seen, ["POST /v1/txs"]);
      await waitFor(
        "the gateway to see site-a out of touch",
        () => Promise.resolve(gw.pool.sites[0].inTouch === false || undefined),
        2000,
      );
      for (let k = 0; k < 3; k++) {
        const r = await write();
        assert.equal(r.status, 202);
        assert.equal(r.headers.get("x-edgeledger-site"), "site-b");
        await r.body?.cancel();
      }
      assert.deepEqual(a.seen, ["POST /v1/txs"], "site-a is asked no more");
    } finally {
      await gw.stop();
      await a.close();
      await b.close();
    }
  },
});

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A body that sends `chunks`, `pauseMs` apart, then stays open and silent unless `close`. */
function pacedBody(chunks: string[], pauseMs: number, close: boolean): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async start(controller) {
      for (const [i, chunk] of chunks.entries()) {
        if (i > 0) await sleep(pauseMs);
        controller.enqueue(encoder.encode(chunk));
      }
      if (close) controller.close();
    },
  });
}

withFakes(
  "gateway: a site that stalls in the middle of a response body is cut off after bodyIdleTimeoutMs: the client's connection is aborted and the site is marked down",
  [
    () => new Response(pacedBody(['{"from":', '"site-a"'], 100, false), { headers: JSON_HEADERS }),
    fromSite("site-b"),
  ],
  async (_a, _b, gw) => {
    const res = await fetch(`${gw.url}/v1/blocks/1`, { signal: AbortSignal.timeout(3000) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-edgeledger-site"), "site-a");
    const started = performance.now();
    await assert.rejects(res.text());
    const waitedMs = performance.now() - started;
    // Cut by the gateway, not by this client's own 3 s timeout.
    assert.ok(waitedMs >= 250 && waitedMs < 2500, `cut after ${Math.round(waitedMs)} ms`);
    const view = await (await fetch(`${gw.url}/v1/gateway`)).json();
    assert.equal(view.sites[0].up, false);
    assert.match(view.sites[0].lastError, /sent no more of its response body within 300 ms$/);
    assert.equal(view.sites[0].inFlight, 0);
    assert.equal(view.inFlight, 0);
    // Down until its next good poll: the next request goes to the other site.
    const next = await fetch(`${gw.url}/v1/blocks/1`);
    assert.deepEqual(await next.json(), { from: "site-b" });
  },
  { bodyIdleTimeoutMs: 300 },
);

Deno.test({
  name:
    "gateway: a response it cuts because its site stalled mid-body is one warning line in its log (the site, the request id, why), not Deno's stack trace on stderr",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const site = fakeSite(
      "site-a",
      () =>
        new Response(pacedBody(['{"from":', '"site-a"'], 100, false), { headers: JSON_HEADERS }),
    );
    const gw = spawnWorker("gateway.ts", [
      ...["--site", site.url, "--port", "0", "--ledger", "demo"],
      ...["--body-idle-timeout-ms", "300", "--poll-interval-ms", "60000", "--log-format", "json"],
    ]);
    try {
      await waitForOutput(gw, "gateway http");
      const url = /^gateway (\S+)$/m.exec(gw.output())![1];
      const res = await fetch(`${url}/v1/blocks/1`, {
        headers: { "x-request-id": "req-stalled" },
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(res.status, 200);
      await assert.rejects(res.text());
      await waitForOutput(gw, '"msg":"response cut"', 5000);
      gw.process.kill("SIGTERM");
      assert.equal((await gw.process.status).code, 0);
      // Its last lines may still be on their way through the pipe.
      await gw.outputEnded;
      const lines = gw.output().split("\n").filter((l) => l !== "" && !l.startsWith("gateway "));
      assert.doesNotMatch(gw.output(), /^\s+at /m, "no stack trace");
      // Every line of its stderr is one JSON record.
      const records = lines.map((l) => JSON.parse(l));
      const cut = records.filter((r) => r.msg === "response cut");
      assert.equal(cut.length, 1, gw.output());
      assert.equal(cut[0].level, "warn");
      assert.equal(cut[0].site, site.url);
      assert.equal(cut[0].requestId, "req-stalled");
      assert.match(cut[0].reason, /sent no more of its response body within 300 ms$/);
    } finally {
      try {
        gw.process.kill("SIGKILL");
      } catch { /* exited */ }
      await gw.process.status;
      await site.close();
    }
  },
});

const MIB = 1024 * 1024;
/** Enough to fill every buffer between site and client, so a client that stops reading holds the site up. */
const BIG_BODY_CHUNKS = 64;

/** `chunks` MiB, sent as fast as they are taken. */
function bigBody(chunks: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent++ < chunks) controller.enqueue(new Uint8Array(MIB).fill(120));
      else controller.close();
    },
  });
}

withFakes(
  "gateway: bodyIdleTimeoutMs bounds a site's pauses, not how long a whole body takes nor how slowly the client reads",
  [
    (req) =>
      new URL(req.url).pathname === "/v1/blocks/paced"
        ? new Response(pacedBody(["a", "b", "c", "d", "e", "f"], 150, true))
        : new Response(bigBody(BIG_BODY_CHUNKS)),
    fromSite("site-b"),
  ],
  async (_a, _b, gw) => {
    // Six chunks 150 ms apart: 750 ms in all, each pause under the 300 ms limit.
    const paced = await fetch(`${gw.url}/v1/blocks/paced`);
    assert.equal(await paced.text(), "abcdef");
    // A client that stops reading for longer than the limit holds the site
    // up (back pressure), which is not the site stalling.
    const big = await fetch(`${gw.url}/v1/blocks/big`);
    const reader = big.body!.getReader();
    let bytes = (await reader.read()).value!.length;
    await sleep(800);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      bytes += value.length;
    }
    assert.equal(bytes, BIG_BODY_CHUNKS * MIB);
    const view = await (await fetch(`${gw.url}/v1/gateway`)).json();
    assert.equal(view.sites[0].up, true, view.sites[0].lastError);
  },
  { bodyIdleTimeoutMs: 300 },
);

withFakes(
  "gateway: an event stream whose site sends nothing for eventsIdleTimeoutMs ends as if the site had closed it, and the site is marked down; shorter pauses pass",
  [
    () =>
      new Response(
        pacedBody(["id: 1\nevent: block\ndata: {}\n\n", ": heartbeat\n\n"], 400, false),
        { headers: { "content-type": "text/event-stream" } },
      ),
    fromSite("site-b"),
  ],
  async (_a, _b, gw) => {
    const started = performance.now();
    const res = await fetch(`${gw.url}/v1/events`, { signal: AbortSignal.timeout(3000) });
    assert.equal(res.headers.get("x-edgeledger-site"), "site-a");
    // A 400 ms pause, longer than bodyIdleTimeoutMs, passes: the stream
    // ends cleanly 600 ms after the heartbeat, so the client resumes.
    assert.equal(await res.text(), "id: 1\nevent: block\ndata: {}\n\n: heartbeat\n\n");
    const tookMs = performance.now() - started;
    assert.ok(tookMs >= 900 && tookMs < 2500, `ended after ${Math.round(tookMs)} ms`);
    const view = await (await fetch(`${gw.url}/v1/gateway`)).json();
    assert.equal(view.sites[0].up, false);
    assert.match(view.sites[0].lastError, /sent nothing on an event stream for 600 ms$/);
    assert.equal(view.sites[0].streams, 0);
  },
  { bodyIdleTimeoutMs: 200, eventsIdleTimeoutMs: 600 },
);

withFakes(
  "gateway: a request goes to the site with the fewest requests in flight, and to the preferred sites while one is up",
  [
    async () => {
      await new Promise((r) => setTimeout(r, 400));
      return Response.json({ from: "site-a" });
    },
    fromSite("site-b"),
  ],
  async (a, b, gw) => {
    const siteOf = async (res: Promise<Response>) => {
      const r = await res;
      await r.body?.cancel();
      return r.headers.get("x-edgeledger-site");
    };
    // No preference: a tie goes round robin (site-a first), then the idle site.
    const slow = siteOf(fetch(`${gw.url}/v1/blocks/1`));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await siteOf(fetch(`${gw.url}/v1/blocks/2`)), "site-b");
    assert.equal(await slow, "site-a");

    // site-a preferred ("nearest"): it takes every request while it is up, busy or not.
    const near = await startGateway(
      config([a.url, b.url], { preferredSites: [a.url], ledger: "demo", pollIntervalMs: 60_000 }),
    );
    try {
      const first = siteOf(fetch(`${near.url}/v1/blocks/1`));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await siteOf(fetch(`${near.url}/v1/blocks/2`)), "site-a");
      assert.equal(await first, "site-a");
    } finally {
      await near.stop();
    }
  },
  { preferredSites: [] },
);

withFakes(
  "gateway: a method no site routes (TRACE, TRACK, a lower-case get with a body) is a problem here — 404 when the site asked OPTIONS names no methods, or 400 from the HTTP parser for a method it does not know — never forwarded as itself, and marks no site down",
  [fromSite("site-a"), fromSite("site-b")],
  async (a, b, gw) => {
    // fetch cannot send these; a failure of the gateway's own must never be blamed on a site.
    const status = { TRACE: 404, TRACK: 400, trace: 400, get: 400, head: 400, FOO: 400 };
    for (const [method, code] of Object.entries(status)) {
      const head = await rawRequest(gw.url, method, "/v1/blocks/1");
      assert.match(head, new RegExp(`^HTTP/1\\.1 ${code} `), method);
      assert.match(head, /content-type: application\/problem\+json/i, method);
    }
    // Only the gateway's own question: which methods the site takes there.
    assert.deepEqual([...a.seen, ...b.seen], ["OPTIONS /v1/blocks/1"]);
    const view = await (await fetch(`${gw.url}/v1/gateway`)).json();
    assert.deepEqual(view.sites.map((s: { up: boolean }) => s.up), [true, true]);
    assert.equal(view.sitesUp, 2);
    const read = await fetch(`${gw.url}/v1/blocks/1`);
    assert.deepEqual(await read.json(), { from: "site-a" });
  },
);

withSite(
  "gateway: a method it never forwards (PROPFIND) on a site's route is that site's 405 with the site's Allow, and on a path no site routes 404",
  async (site, gw) => {
    for (const path of ["/v1/txs", "/v1/status"]) {
      const direct = await fetch(`${site.url}${path}`, { method: "OPTIONS" });
      assert.equal(direct.status, 204);
      const allow = direct.headers.get("allow");
      assert.ok(allow, path);
      const res = await readAnswer(await fetch(`${gw.url}${path}`, { method: "PROPFIND" }));
      assert.equal(res.status, 405, path);
      assert.equal(res.headers.get("allow"), allow, path);
      assert.equal(res.body.type, "https://edgeledger.dev/problems/method_not_allowed");
      assert.match(res.body.detail, /PROPFIND is not allowed on/);
    }
    const none = await readAnswer(await fetch(`${gw.url}/v1/nothing-here`, { method: "PROPFIND" }));
    assert.equal(none.status, 404);
    assert.equal(none.body.type, "https://edgeledger.dev/problems/not_found");
  },
);

withFakes(
  "gateway: leaves unsupported_rules to the sites: a gov.setRules for a rules version newer than the gateway's software is forwarded",
  [(req) => new Response(req.body, { status: 202, headers: JSON_HEADERS }), fromSite("site-b")],
  async (a, _b, gw) => {
    // A site whose software is newer takes it (the upgrade's order: sites first, then the proposal).
    const env = await signed({
      ledger: "demo",
      kind: "gov.setRules",
      body: { version: RULES_VERSION_SUPPORTED + 1, height: 100 },
      signers: [],
    });
    const body = JSON.stringify(env);
    const res = await fetch(`${gw.url}/v1/txs`, { method: "POST", headers: JSON_HEADERS, body });
    assert.equal(res.status, 202);
    assert.equal(await res.text(), body);
    assert.deepEqual(a.seen, ["POST /v1/txs"]);
  },
);

Deno.test({
  name:
    "gateway: with no site up it answers 503 problem+json with Retry-After, and /healthz and /readyz say so",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const gw = await startGateway(config([`http://127.0.0.1:${closedPort()}`], { ledger: "demo" }));
    try {
      await gw.pool.pollAll();
      for (const path of ["/v1/status", "/v1/txs/" + "0".repeat(64), "/healthz", "/readyz"]) {
        const res = await readAnswer(await fetch(`${gw.url}${path}`));
        assert.equal(res.status, 503, path);
        assert.equal(res.headers.get("content-type"), "application/problem+json");
        assert.equal(res.headers.get("retry-after"), "1");
        assert.equal(res.body.type, "https://edgeledger.dev/problems/unavailable");
      }
      const view = await (await fetch(`${gw.url}/v1/gateway`)).json();
      assert.equal(view.sitesUp, 0);
      assert.match(view.sites[0].lastError, /GET \/v1\/status failed/);
    } finally {
      await gw.stop();
    }
  },
});

Deno.test({
  name: "gateway: refuses to start when the sites disagree on the ledger, or when none answers",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const a = fakeSite("site-a", undefined, "demo");
    const b = fakeSite("site-b", undefined, "other");
    try {
      await assert.rejects(
        startGateway(config([a.url, b.url])),
        (e) => e instanceof LedgerUnknownError && e.disagreement && /disagree/.test(e.message),
      );
      await assert.rejects(
        startGateway(config([`http://127.0.0.1:${closedPort()}`], { startupWaitMs: 200 })),
        (e) => e instanceof LedgerUnknownError && !e.disagreement,
      );
      // Configured for "other": a site serving "demo" is kept down.
      const gw = await startGateway(config([a.url, b.url], { ledger: "other" }));
      await gw.pool.pollAll();
      const view = await (await fetch(`${gw.url}/v1/gateway`)).json();
      assert.deepEqual(view.sites.map((s: { up: boolean }) => s.up), [false, true]);
      assert.match(view.sites[0].lastError, /serves ledger "demo", not "other"/);
      await gw.stop();
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name:
    "gateway: a site whose status names it in a way no header can carry is kept down, not served through",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const bad = fakeSite("site\nx");
    const good = fakeSite("site-b");
    try {
      const gw = await startGateway(config([bad.url, good.url]));
      await gw.pool.pollAll();
      const view = await (await fetch(`${gw.url}/v1/gateway`)).json();
      assert.deepEqual(view.sites.map((s: { up: boolean }) => s.up), [false, true]);
      assert.match(view.sites[0].lastError, /no header can carry/);
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${gw.url}/v1/blocks`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("x-edgeledger-site"), "site-b");
        await res.body?.cancel();
      }
      await gw.stop();
    } finally {
      await bad.close();
      await good.close();
    }
  },
});

const GATEWAY = new URL("../workers/gateway.ts", import.meta.url).pathname;

Deno.test("gateway: a bad config exits 2 with a one-line message", async () => {
  for (
    const [args, message] of [
      [[], /^Cannot start gateway: sites: Must name at least one site URL/],
      [
        ["--site", "ftp://x"],
        /^Cannot start gateway: sites\.0: "ftp:\/\/x" is not an http\(s\) base URL/,
      ],
      [
        ["--site", "http://127.0.0.1:1", "--port", "seven"],
        /^Cannot start gateway: --port must be/,
      ],
      [
        ["--site", "http://127.0.0.1:1", "--bogus", "1"],
        /^Cannot start gateway: Unknown flag "--bogus"/,
      ],
      [
        ["--config", "/nonexistent/gateway.json"],
        /^Cannot start gateway: Cannot read \/nonexistent/,
      ],
    ] as Array<[string[], RegExp]>
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", GATEWAY, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, message);
    assert.equal(stderr.trim().split("\n").length, 1, stderr);
  }
});

// ---- a real cluster ----------------------------------------------------------

Deno.test({
  name:
    "gateway: in front of a 3-site Raft cluster it is ready (/healthz, /readyz), a write commits and reads back through it, and when a site dies its requests are served by another",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cluster = await startCluster(3);
    let gw: RunningGateway | undefined;
    try {
      await waitFor("a leader", async () => {
        const all = await statuses(cluster);
        return all.some((s) => s?.role === "leader") || undefined;
      });
      const urls = cluster.sites.map((s) => s.url);
      // The view does not refresh during the test: the dead site is found by forwarding.
      gw = await startGateway(config(urls, { preferredSites: [urls[0]], pollIntervalMs: 60_000 }));
      // Its own probes: ready while a site is up (not forwarded: a site's /readyz is its own).
      const gwUrl = gw.url;
      for (const path of ["/healthz", "/readyz"]) {
        const probe: Response = await fetch(`${gwUrl}${path}`);
        assert.equal(probe.status, 200, path);
        assert.equal((await probe.json()).status, "ok", path);
      }
      const client = new EdgeLedgerClient({
        urls: [gw.url],
        timeoutMs: 5000,
        retry: { attemptsMax: 20, delayMsBase: 100, delayMsMax: 500 },
      });
      const key = generateKeyPair("ed25519");
      const env = await anchorTx(key, { stream: "gw", seq: 0 });
      const res = await fetch(`${gw.url}/v1/txs?wait=commit`, {
        method: "POST",
        headers: JSON_HEADERS,
        body: JSON.stringify(env),
      });
      const receipt = await res.json();
      assert.equal(receipt.status, "committed", JSON.stringify(receipt));
      assert.equal(res.headers.get("x-edgeledger-site"), "site-a");

      // The stale read below goes to site-b or site-c: minHeight has it wait for the write.
      await cluster.kill(0);
      const read = await fetch(`${gw.url}/v1/txs/${receipt.txId}?minHeight=${receipt.height}`);
      assert.equal(read.status, 200);
      assert.match(read.headers.get("x-edgeledger-site") ?? "", /^site-[bc]$/);
      assert.equal((await read.json()).receipt.height, receipt.height);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      assert.match(
        metrics,
        new RegExp(`edgeledger_gateway_retries_total\\{site="${urls[0]}",reason="connect"\\} 1`),
      );

      // Writes go on through the survivors (a new leader, if site-a led).
      const second = await client.submit(await anchorTx(key, { stream: "gw", seq: 1 }), {
        wait: "commit",
      });
      assert.equal(second.status, "committed");
      // The gateway may send the read to a site that has not applied that block yet; the
      // client's session height (minHeight) has that site wait for it.
      assert.equal(client.sessionHeight, second.height);
      const readBack = await client.getTx(second.txId!);
      assert.equal(readBack.receipt.status, "committed");
    } finally {
      await gw?.stop();
      await cluster.stop();
    }
  },
});

Deno.test({
  name:
    "gateway: a site cut off from its peers takes no requests once it names no leader, though preferred — writes commit and reads find them at the others — and takes them again once healed",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cluster = await startCluster(3, {}, [], { partitions: true });
    let gw: RunningGateway | undefined;
    try {
      const { index: leader } = await leaderIndex(cluster);
      const cut = (leader + 1) % 3;
      const name = cluster.sites[cut].name;
      const urls = cluster.sites.map((s) => s.url);
      gw = await startGateway(config(urls, { preferredSites: [urls[cut]] }));
      const gwUrl = gw.url;
      await gw.pool.pollAll();
      const servedBy = async (path: string) => {
        const res = await fetch(`${gwUrl}${path}`);
        await res.body?.cancel();
        assert.equal(res.status, 200, path);
        return res.headers.get("x-edgeledger-site");
      };
      // The control: in touch, the preferred site serves.
      assert.equal(await servedBy("/v1/blocks/0"), name);

      await cluster.links!.cut(isolation(3, cut));
      await waitFor(`${name}, cut off, to name no leader`, async () => {
        const status = await getJson<{ leader: string | null }>(`${urls[cut]}/v1/status`);
        return status?.leader === null || undefined;
      });
      await gw.pool.pollAll();
      const view = await (await fetch(`${gwUrl}/v1/gateway`)).json();
      assert.deepEqual(
        view.sites.map((s: { up: boolean; inTouch: boolean }) => [s.up, s.inTouch]),
        urls.map((_, i) => [true, i !== cut]),
      );
      const key = generateKeyPair("ed25519");
      for (let seq = 0; seq < 5; seq++) {
        const write = await fetch(`${gwUrl}/v1/txs?wait=commit`, {
          method: "POST",
          headers: JSON_HEADERS,
          body: JSON.stringify(await anchorTx(key, { stream: "cut", seq })),
        });
        const receipt = await write.json();
        assert.equal(receipt.status, "committed", JSON.stringify(receipt));
        assert.notEqual(write.headers.get("x-edgeledger-site"), name);
        const read = await fetch(`${gwUrl}/v1/txs/${receipt.txId}?minHeight=${receipt.height}`);
        assert.equal(read.status, 200);
        assert.notEqual(read.headers.get("x-edgeledger-site"), name);
        assert.equal((await read.json()).receipt.height, receipt.height);
      }

      await cluster.links!.heal();
      await waitFor(`${name}, healed, to name a leader`, async () => {
        const status = await getJson<{ leader: string | null }>(`${urls[cut]}/v1/status`);
        return (status !== undefined && status.leader !== null) || undefined;
      });
      await gw.pool.pollAll();
      assert.equal(await servedBy("/v1/blocks/0"), name);
    } finally {
      await gw?.stop();
      await cluster.stop();
    }
  },
});

Deno.test({
  name:
    "gateway: start --gateway puts one gateway in front of the local cluster and prints its URL",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "edgeledger-start-gw-" });
    // Each try (a new port if one was taken) makes its ledger in a folder of its own.
    const dataOf = (port: number) => `${root}/data-${port}`;
    const { worker: start, port } = await spawnWorkerOnPort(
      "start.ts",
      (port) => ["--sites", "1", "--port", String(port), "--data", dataOf(port), "--gateway"],
      "edgeledger is running",
    ).catch(async (e) => {
      await Deno.remove(root, { recursive: true }).catch(() => {});
      throw e;
    });
    const data = dataOf(port);
    const child = start.process;
    try {
      const m = /^gateway (http:\/\/127\.0\.0\.1:(\d+))$/m.exec(start.output());
      assert.ok(m, start.output());
      assert.equal(Number(m[2]), port - 1);
      const res = await fetch(`${m[1]}/v1/txs?wait=commit`, {
        method: "POST",
        headers: JSON_HEADERS,
        body: await Deno.readTextFile(`${data}/example-tx.json`),
      });
      assert.equal((await res.json()).status, "committed");
      assert.equal(res.headers.get("x-edgeledger-site"), "site-a");
      child.kill("SIGINT");
      assert.equal((await child.status).code, 0);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

withFakes(
  "gateway: a client trickling its headers, or idle after an answer, is closed at the gateway's deadline and counted in /metrics; nothing of the trickled request is forwarded",
  [fromSite("site-a"), fromSite("site-b")],
  async (a, b, gw) => {
    const { port } = new URL(gw.url);
    const hold = async (text: string, everyMs: number) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
      const t0 = performance.now();
      let closedAt: number | undefined;
      const reading = (async () => {
        const buf = new Uint8Array(4096);
        try {
          while ((await conn.read(buf)) !== null) { /* the answer, if any */ }
        } catch { /* reset */ }
        closedAt = performance.now() - t0;
      })();
      for (const ch of text) {
        if (closedAt !== undefined) break;
        await conn.write(new TextEncoder().encode(ch)).catch(() => {});
        await new Promise((r) => setTimeout(r, everyMs));
      }
      while (closedAt === undefined && performance.now() - t0 < 5000) {
        await new Promise((r) => setTimeout(r, 20));
      }
      try {
        conn.close();
      } catch { /* closed */ }
      await reading;
      return closedAt;
    };
    const [trickled, idle] = await Promise.all([
      hold("GET /v1/blocks/1 HTTP/1.1\r\nHost: x\r\nX-Pad: " + "a".repeat(80), 50),
      hold("GET /v1/blocks/1 HTTP/1.1\r\nHost: x\r\n\r\n", 0),
    ]);
    assert.ok(trickled !== undefined && trickled < 2500, `trickled: ${trickled}`);
    assert.ok(idle !== undefined && idle < 2500, `idle: ${idle}`);
    assert.deepEqual(a.seen, ["GET /v1/blocks/1"], "only the whole request was forwarded");
    assert.deepEqual(b.seen, []);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(metrics, /^edgeledger_http_connections_closed_total\{reason="headers"\} 1$/m);
    assert.match(metrics, /^edgeledger_http_connections_closed_total\{reason="keepalive"\} 1$/m);
    assert.match(metrics, /^edgeledger_http_connections \d+$/m);
  },
  { clientHeadersTimeoutMs: 600, clientKeepAliveTimeoutMs: 600 },
);

withFakes(
  "gateway: with guardClientConnections false it serves with Deno's server: no client connection metrics",
  [fromSite("site-a"), fromSite("site-b")],
  async (_a, _b, gw) => {
    assert.deepEqual(await (await fetch(`${gw.url}/v1/blocks/1`)).json(), { from: "site-a" });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /edgeledger_http_connections/);
  },
  { guardClientConnections: false },
);

Deno.test({
  name:
    "gateway: in front of a site that serves nothing without an API key (requireApiKey all), it polls with siteApiKeyFile's key and passes clients' requests on with theirs; without that key every site looks down",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const t = await openTestSite();
    const GATEWAY_KEY = "gateway-poll-key-0123456789";
    const CLIENT_KEY = "fleet-client-key-0123456789";
    const app = createApp(t.site, {
      apiKeys: {
        keys: [
          { name: "gateway", hash: hashKey(GATEWAY_KEY), requestsPerMinute: 100_000 },
          { name: "fleet", hash: hashKey(CLIENT_KEY), requestsPerMinute: 100_000 },
        ],
        require: "all",
      },
    });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
    const url = `http://127.0.0.1:${server.addr.port}`;
    const dir = await Deno.makeTempDir();
    try {
      await assert.rejects(
        startGateway(config([url], { startupWaitMs: 300 })),
        (e) => e instanceof LedgerUnknownError && /answered 401/.test(e.message),
      );
      await Deno.writeTextFile(`${dir}/poll.key`, GATEWAY_KEY + "\n");
      const gw = await startGateway(config([url], { siteApiKeyFile: `${dir}/poll.key` }));
      try {
        await gw.pool.pollAll();
        assert.equal(gw.pool.sites[0].up, true);
        const withKey = await fetch(`${gw.url}/v1/status`, {
          headers: { authorization: `Bearer ${CLIENT_KEY}` },
        });
        assert.equal(withKey.status, 200);
        assert.equal((await withKey.json()).ledger, gw.pool.ledger);
        // A client's request goes with its own key (none here): the site's 401, passed on.
        const without = await fetch(`${gw.url}/v1/status`);
        assert.equal(without.status, 401);
        await without.body?.cancel();
      } finally {
        await gw.stop();
      }
    } finally {
      await server.shutdown();
      await t.cleanup();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
