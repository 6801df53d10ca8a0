/**
 * The checker of `_openapi_fidelity.ts` fails when it should: fabricated
 * answers, checked against the document a site serves, that break its
 * declared response headers (a required one missing, one that fails its
 * schema, a watched one sent undeclared) each give the mismatch that names
 * them, and a faithful answer gives none. Without these, a checker that
 * never looked at a header would pass `openapi_fidelity_test.ts` too.
 */
import assert from "node:assert/strict";
import { createApp } from "../src/api/app.ts";
import { FakeLedgerService } from "../src/api/testing.ts";
import { CACHE_IMMUTABLE } from "../sdk/api/headers.ts";
import { Fidelity, isWatchedHeader, type OpenApiDoc } from "./_openapi_fidelity.ts";

const SITE = "http://127.0.0.1:7001";

async function checker(): Promise<Fidelity> {
  const app = createApp(new FakeLedgerService());
  const doc = await (await app.request("/openapi.json")).json() as OpenApiDoc;
  const f = await Fidelity.load(doc, `https://edgeledger.test/${crypto.randomUUID()}/openapi.json`);
  assert.deepEqual(f.mismatches, [], "the document itself is valid OpenAPI 3.1");
  return f;
}

/** A problem answer of `status` with `headers` (and a body that validates). */
function problem(status: number, headers: Record<string, string>): Response {
  const body = {
    type: "https://edgeledger.dev/problems/rate_limited",
    title: "Too many requests",
    status,
    detail: "Over budget",
    instance: "/v1/status",
    requestId: "req-1",
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}

const STATUS_BODY = JSON.stringify({
  ledger: "demo",
  site: "site-a",
  role: "leader",
  term: 1,
  leader: "site-a",
  commitIndex: 1,
  appliedIndex: 1,
  height: 0,
  logSize: 0,
});

Deno.test("openapi fidelity checker: a 429 without its required Retry-After is a mismatch naming the operation, status and header", async () => {
  const f = await checker();
  await f.check(
    "getStatus",
    `${SITE}/v1/status`,
    problem(429, { "cache-control": "no-store", "x-request-id": "req-1" }),
    429,
  );
  assert.deepEqual(f.mismatches, [
    "getStatus (GET /v1/status) → 429: header Retry-After is declared required and is absent",
  ]);
});

Deno.test("openapi fidelity checker: a declared header whose value fails its schema is a mismatch", async () => {
  const f = await checker();
  await f.check(
    "getStatus",
    `${SITE}/v1/status`,
    problem(503, { "cache-control": "no-cache", "x-request-id": "bad id", "retry-after": "soon" }),
  );
  const found = f.mismatches.join("\n");
  assert.equal(f.mismatches.length, 3, found);
  assert.match(found, /→ 503: header Retry-After: # = "soon" fails type at .*RetryAfter/);
  assert.match(found, /→ 503: header X-Request-Id: # = "bad id" fails pattern/);
  assert.match(found, /→ 503: header Cache-Control: # = "no-cache" fails const/);
});

Deno.test("openapi fidelity checker: Retry-After must be whole seconds of at least 1", async () => {
  for (const value of ["0", "1.5", "-1", "Wed, 21 Oct 2015 07:28:00 GMT"]) {
    const f = await checker();
    await f.check(
      "getStatus",
      `${SITE}/v1/status`,
      problem(429, { "cache-control": "no-store", "x-request-id": "r", "retry-after": value }),
    );
    assert.equal(f.mismatches.length, 1, `${value}: ${f.mismatches.join("\n")}`);
    assert.match(f.mismatches[0], /header Retry-After: /);
  }
});

Deno.test("openapi fidelity checker: a watched header the response does not declare is a mismatch; others are not", async () => {
  const f = await checker();
  const res = new Response(STATUS_BODY, {
    status: 200,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
      "x-request-id": "req-1",
      "etag": '"v1"',
      "access-control-allow-origin": "*",
      "ratelimit-remaining": "10",
      "x-something-else": "ignored",
      "via": "1.1 gateway",
    },
  });
  await f.check("getStatus", `${SITE}/v1/status`, res, 200);
  const found = f.mismatches.join("\n");
  assert.equal(f.mismatches.length, 3, found);
  for (const name of ["etag", "access-control-allow-origin", "ratelimit-remaining"]) {
    assert.match(
      found,
      new RegExp(
        `→ 200: header ${name} is sent but not declared \\(declared: X-Request-Id, ` +
          `Cache-Control\\)`,
      ),
    );
  }
});

Deno.test("openapi fidelity checker: answers with every declared header as the site sends it pass", async () => {
  const f = await checker();
  await f.check(
    "getStatus",
    `${SITE}/v1/status`,
    new Response(STATUS_BODY, {
      headers: {
        "content-type": "application/json",
        "cache-control": "no-store",
        "x-request-id": "0b6f2e3c-7a1d-4c8e-9f00-123456789abc",
      },
    }),
    200,
  );
  await f.check(
    "getStatus",
    `${SITE}/v1/status`,
    problem(429, {
      "cache-control": "no-store",
      "x-request-id": "client_id-1=",
      "retry-after": "18",
    }),
    429,
  );
  for (const cache of [CACHE_IMMUTABLE, "no-cache"]) {
    await f.check(
      "getTxProof",
      `${SITE}/v1/txs/${"a".repeat(64)}/proof`,
      new Response(JSON.stringify({ logIndex: 0, treeSize: 1, leaf: "AA", proof: [] }), {
        headers: {
          "content-type": "application/json",
          "cache-control": cache,
          "x-request-id": "r",
        },
      }),
      200,
    );
  }
  assert.deepEqual(f.mismatches, []);
});

Deno.test("isWatchedHeader() covers caching, retry, CORS, rate-limit and request-id headers, in any case", () => {
  for (
    const name of [
      "Retry-After",
      "cache-control",
      "ETag",
      "Last-Modified",
      "Location",
      "X-Request-Id",
      "RateLimit-Policy",
      "X-RateLimit-Remaining",
      "Access-Control-Allow-Origin",
      "WWW-Authenticate",
    ]
  ) assert.ok(isWatchedHeader(name), name);
  for (const name of ["Content-Type", "Content-Length", "Transfer-Encoding", "Date", "Via"]) {
    assert.ok(!isWatchedHeader(name), name);
  }
});
