/**
 * The checker of `_openapi_fidelity.ts` fails when it should: fabricated
 * answers, checked against the document a site serves, that break its
 * declared response headers (a required one missing, one that fails its
 * schema, a watched one sent undeclared) each give the mismatch that names
 * them, and a faithful answer gives none. So do wrong answers of the admin
 * routes (the public realm's challenge on an admin 401, a `not_leader`
 * without `leaderUrl`, a backup of another media type). Without these, a
 * checker that never looked at a header would pass `openapi_fidelity_test.ts`
 * too.
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

/** An admin problem answer of `status`, `slug`, with `headers` and `extra` members. */
function adminProblem(
  status: number,
  slug: string,
  headers: Record<string, string>,
  extra: Record<string, unknown> = {},
): Response {
  const body = {
    type: `https://edgeledger.dev/problems/${slug}`,
    title: slug,
    status,
    detail: "A detail",
    instance: "/v1/admin/leader",
    requestId: "req-1",
    ...extra,
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}

const PROBLEM_HEADERS = { "cache-control": "no-store", "x-request-id": "req-1" };

Deno.test("openapi fidelity checker: wrong admin answers are mismatches — the public realm's challenge, a not_leader without leaderUrl, a status the route never gives", async () => {
  const f = await checker();
  const url = `${SITE}/v1/admin/leader`;
  await f.check(
    "transferLeader",
    url,
    adminProblem(401, "unauthorized", {
      ...PROBLEM_HEADERS,
      "www-authenticate": 'Bearer realm="edgeledger"',
    }),
    401,
  );
  await f.check(
    "transferLeader",
    url,
    adminProblem(503, "not_leader", { ...PROBLEM_HEADERS, "retry-after": "1" }, {
      leader: "site-b",
      retryAfter: 1,
    }),
    503,
  );
  await f.check("transferLeader", url, adminProblem(504, "commit_timeout", PROBLEM_HEADERS));
  await f.check(
    "transferLeader",
    url,
    new Response(JSON.stringify({ ok: true }), {
      headers: { "content-type": "application/json", "x-request-id": "req-1" },
    }),
    200,
  );
  const found = f.mismatches.join("\n");
  assert.equal(f.mismatches.length, 4, found);
  assert.match(
    found,
    /^transferLeader \(POST \/v1\/admin\/leader\) → 401: header WWW-Authenticate: # = "Bearer realm=\\"edgeledger\\"" fails enum at .*WwwAuthenticateAdmin/m,
  );
  assert.match(
    found,
    /^transferLeader .* → 503 application\/problem\+json: # = .* fails required at .*NotLeaderProblem/m,
  );
  assert.match(found, /^transferLeader .* → 504: status not documented/m);
  assert.match(
    found,
    /^transferLeader .* → 200: header Cache-Control is declared required and is absent/m,
  );
});

Deno.test("openapi fidelity checker: a backup served as another media type, or without its file name, is a mismatch; one as a site serves it is not", async () => {
  const f = await checker();
  const url = `${SITE}/v1/admin/backup`;
  const headers = {
    "cache-control": "no-store",
    "x-request-id": "req-1",
    "content-disposition": 'attachment; filename="demo-site-a-7.db"',
    "x-edgeledger-backup-height": "7",
    "x-edgeledger-backup-head": "ab".repeat(32),
    "x-edgeledger-backup-applied-index": "12",
  };
  const db = "SQLite format 3\0";
  await f.check(
    "getBackup",
    url,
    new Response(db, { headers: { ...headers, "content-type": "application/vnd.sqlite3" } }),
    200,
  );
  assert.deepEqual(f.mismatches, []);
  await f.check(
    "getBackup",
    url,
    new Response(db, { headers: { ...headers, "content-type": "application/octet-stream" } }),
    200,
  );
  const { "content-disposition": _, ...unnamed } = headers;
  await f.check(
    "getBackup",
    url,
    new Response(db, { headers: { ...unnamed, "content-type": "application/vnd.sqlite3" } }),
    200,
  );
  const found = f.mismatches.join("\n");
  assert.equal(f.mismatches.length, 2, found);
  assert.match(found, /→ 200: Content-Type "application\/octet-stream" not documented/);
  assert.match(found, /→ 200: header Content-Disposition is declared required and is absent/);
});
