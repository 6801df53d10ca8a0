import assert from "node:assert/strict";
import { JSON_DEPTH_MAX, JSON_OBJECT_MEMBERS_MAX } from "./middleware.ts";
import { type AppOptions, createApp } from "./app.ts";
import { FakeLedgerService, fakeTxId, sampleEnvelope } from "./testing.ts";
import { LedgerError } from "./service.ts";
import { generateKeyPair } from "../../sdk/keys.ts";
import { createLogger } from "../log.ts";
import {
  CACHE_IMMUTABLE,
  PROBLEM_TYPE_BASE,
  RESPONSE_HEADERS,
  ROUTES,
} from "../../sdk/api/routes.ts";
import { READY_APPLY_LAG_MAX } from "../../sdk/api/schemas.ts";
import { ADMIN_RESPONSE_HEADERS, ADMIN_ROUTES } from "../../sdk/api/admin_routes.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

function setup(options: AppOptions = {}) {
  const service = new FakeLedgerService();
  const logged: unknown[] = [];
  const app = createApp(service, { logError: (err) => logged.push(err), ...options });
  return { service, app, logged };
}

type App = ReturnType<typeof setup>["app"];

function postJson(app: App, path: string, body: unknown, headers: Record<string, string> = {}) {
  return app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

/** Asserts `res` is a complete problem of `slug` and returns its body. */
async function assertProblem(res: Response, status: number, slug: string): Promise<Json> {
  assert.equal(res.status, status);
  assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const body = await res.json();
  assert.equal(body.type, PROBLEM_TYPE_BASE + slug);
  assert.equal(body.status, status);
  assert.equal(typeof body.title, "string");
  assert.ok(body.title.length > 0);
  assert.equal(typeof body.detail, "string");
  assert.match(body.instance, /^\//);
  assert.ok(body.requestId);
  assert.equal(body.requestId, res.headers.get("x-request-id"));
  assert.equal(body.stack, undefined);
  return body;
}

function errorPaths(problem: Json): string[] {
  return problem.errors.map((e: { path: string }) => e.path);
}

// ---------------------------------------------------------------------------
// POST /v1/txs

Deno.test("POST /v1/txs: a committed envelope is answered 200 with its receipt", async () => {
  const { app, service } = setup();
  const envelope = sampleEnvelope();
  const res = await postJson(app, "/v1/txs", envelope);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const receipt = await res.json();
  const txId = await fakeTxId(envelope);
  assert.deepEqual(receipt, {
    txId,
    status: "committed",
    height: 1,
    logIndex: 0,
    result: { status: "applied" },
  });
  assert.deepEqual(service.txs.get(txId)?.tx, envelope);
});

Deno.test("POST /v1/txs: resubmitting the same envelope is idempotent by txId", async () => {
  const { app, service } = setup();
  const first = await (await postJson(app, "/v1/txs", sampleEnvelope())).json();
  const second = await (await postJson(app, "/v1/txs", sampleEnvelope())).json();
  assert.deepEqual(second, first);
  assert.equal(service.log.length, 1);
});

Deno.test("POST /v1/txs: a pending envelope is answered 202 with its receipt", async () => {
  const { app, service } = setup();
  service.autoCommit = false;
  const res = await postJson(app, "/v1/txs", sampleEnvelope());
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), { txId: await fakeTxId(sampleEnvelope()), status: "pending" });
});

Deno.test("POST /v1/txs: a single envelope refused at admission is answered with its problem", async () => {
  const { app, service } = setup();
  service.refuseWhen(
    (e) => e.ledger !== "demo",
    new LedgerError(
      "wrong_ledger",
      422,
      "Envelope is for another ledger",
      "Cannot admit: ledger is other",
    ),
  );
  const envelope = sampleEnvelope({ ledger: "other" });
  const res = await postJson(app, "/v1/txs", envelope);
  const problem = await assertProblem(res, 422, "wrong_ledger");
  assert.equal(problem.title, "Envelope is for another ledger");
  assert.equal(problem.detail, "Cannot admit: ledger is other");
  assert.equal(problem.txId, await fakeTxId(envelope));
  assert.equal(problem.instance, "/v1/txs");
});

Deno.test("POST /v1/txs: a batch is answered with receipts in request order, a refused item in the middle", async () => {
  const { app, service } = setup();
  service.refuseWhen(
    (e) => e.kind === "nope.kind",
    new LedgerError(
      "unknown_kind",
      422,
      "Unknown transaction kind",
      "Cannot admit: kind nope.kind is unknown",
    ),
  );
  const a = sampleEnvelope({ nonce: "AAAAAAAAAAAAAAAAAAAAAA" });
  const b = sampleEnvelope({ kind: "nope.kind" });
  const c = sampleEnvelope({ nonce: "BBBBBBBBBBBBBBBBBBBBBB" });
  const res = await postJson(app, "/v1/txs", { txs: [a, b, c] });
  assert.equal(res.status, 200);
  const { receipts } = await res.json();
  assert.equal(receipts.length, 3);
  assert.equal(receipts[0].txId, await fakeTxId(a));
  assert.equal(receipts[0].status, "committed");
  assert.equal(receipts[1].txId, await fakeTxId(b));
  assert.equal(receipts[1].status, "refused");
  assert.deepEqual(receipts[1].problem, {
    type: PROBLEM_TYPE_BASE + "unknown_kind",
    title: "Unknown transaction kind",
    status: 422,
    detail: "Cannot admit: kind nope.kind is unknown",
  });
  assert.equal(receipts[2].txId, await fakeTxId(c));
  assert.equal(receipts[2].status, "committed");
  assert.ok(receipts[0].logIndex < receipts[2].logIndex);
});

Deno.test("POST /v1/txs: the service receives each envelope exactly as sent, unknown fields included", async () => {
  const { app, service } = setup();
  const text =
    '{"v":1,"ledger":"demo","kind":"data.anchor","smuggled":{"x":1},"__proto__":{"y":2}}';
  const res = await app.request("/v1/txs", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: text,
  });
  assert.equal(res.status, 200);
  const [envelopes] = service.calls.find((c) => c.method === "submit")!.args as [unknown[]];
  assert.deepEqual(envelopes, [JSON.parse(text)]);
  assert.ok(Object.hasOwn(envelopes[0] as object, "__proto__"));
});

Deno.test("POST /v1/txs: wait=commit and timeoutMs reach the service; defaults are no wait and 10000 ms", async () => {
  const { app, service } = setup();
  await postJson(app, "/v1/txs?wait=commit&timeoutMs=2500", sampleEnvelope());
  await postJson(app, "/v1/txs", sampleEnvelope({ nonce: "CCCCCCCCCCCCCCCCCCCCCC" }));
  const submits = service.calls.filter((c) => c.method === "submit").map((c) => c.args[1]);
  assert.deepEqual(submits, [{ wait: true, waitTimeoutMs: 2500, batch: false }, {
    wait: false,
    waitTimeoutMs: 10000,
    batch: false,
  }]);
});

Deno.test("POST /v1/txs: timeoutMs above 60000 or not decimal is a validation problem naming query.timeoutMs", async () => {
  const { app } = setup();
  for (const q of ["timeoutMs=60001", "timeoutMs=1e3", "timeoutMs=0", "wait=soon"]) {
    const res = await postJson(app, `/v1/txs?${q}`, sampleEnvelope());
    const problem = await assertProblem(res, 400, "validation");
    assert.deepEqual(
      errorPaths(problem),
      [q.startsWith("wait") ? "query.wait" : "query.timeoutMs"],
      q,
    );
  }
});

Deno.test("POST /v1/txs: an empty batch is a validation problem naming body.txs", async () => {
  const { app } = setup();
  const problem = await assertProblem(
    await postJson(app, "/v1/txs", { txs: [] }),
    400,
    "validation",
  );
  assert.deepEqual(errorPaths(problem), ["body.txs"]);
});

Deno.test("POST /v1/txs: a batch of more than 1000 envelopes is a validation problem naming body.txs", async () => {
  const { app } = setup({ requestBytesMax: 10 * 1024 * 1024 });
  const txs = Array.from({ length: 1001 }, () => ({}));
  const problem = await assertProblem(await postJson(app, "/v1/txs", { txs }), 400, "validation");
  assert.deepEqual(errorPaths(problem), ["body.txs"]);
});

Deno.test("POST /v1/txs: a batch of more than 1000 envelopes is refused saying the batch holds at most 1000 and how many it had", async () => {
  const { app } = setup({ requestBytesMax: 10 * 1024 * 1024 });
  const txs = Array.from({ length: 1001 }, () => ({}));
  const problem = await assertProblem(await postJson(app, "/v1/txs", { txs }), 400, "validation");
  assert.equal(
    problem.detail,
    "body.txs: A batch holds at most 1000 transactions; this one has 1001",
  );
});

Deno.test("POST /v1/txs: a batch whose txs is null (or no array) is refused saying txs must be an array", async () => {
  const { app } = setup();
  for (const [txs, what] of [[null, "null"], ["x", "string"], [{}, "object"]] as const) {
    const problem = await assertProblem(
      await postJson(app, "/v1/txs", { txs }),
      400,
      "validation",
    );
    assert.deepEqual(errorPaths(problem), ["body.txs"]);
    assert.equal(
      problem.detail,
      `body.txs: A batch's txs must be an array of envelopes, not ${what}`,
    );
  }
});

Deno.test("POST /v1/txs: a batch item that is not an object is a validation problem naming its index", async () => {
  const { app } = setup();
  const res = await postJson(app, "/v1/txs", { txs: [sampleEnvelope(), "nope"] });
  const problem = await assertProblem(res, 400, "validation");
  assert.deepEqual(errorPaths(problem), ["body.txs.1"]);
});

Deno.test("POST /v1/txs: a JSON array or malformed JSON body is a validation problem", async () => {
  const { app } = setup();
  await assertProblem(await postJson(app, "/v1/txs", [sampleEnvelope()]), 400, "validation");
  const res = await app.request("/v1/txs", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: '{"v":1,',
  });
  await assertProblem(res, 400, "validation");
});

Deno.test("POST /v1/txs: a body whose object repeats a member name is a validation problem, and reaches no service", async () => {
  const { app, service } = setup();
  const envelope = JSON.stringify(sampleEnvelope());
  // `ledger` twice: JSON.parse would keep the second one silently.
  const res = await app.request("/v1/txs", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: envelope.slice(0, -1) + ',"ledger":"other"}',
  });
  const problem = await assertProblem(res, 400, "validation");
  assert.match(problem.detail, /repeats the member "ledger"/);
  assert.equal(service.calls.filter((c) => c.method === "submit").length, 0);
});

Deno.test("POST /v1/txs: a body nested deeper than JSON_DEPTH_MAX or with an object of more than JSON_OBJECT_MEMBERS_MAX members is a validation problem before it is parsed, and reaches no service", async () => {
  const { app, service } = setup();
  const envelope = JSON.stringify(sampleEnvelope());
  const deep = "[".repeat(JSON_DEPTH_MAX) + "]".repeat(JSON_DEPTH_MAX);
  const wide = "{" +
    Array.from({ length: JSON_OBJECT_MEMBERS_MAX + 1 }, (_, i) => `"k${i}":0`).join(",") + "}";
  for (
    const [body, why] of [
      [envelope.slice(0, -1) + `,"x":${deep}}`, /nested more than 160 deep/],
      [envelope.slice(0, -1) + `,"x":${wide}}`, /an object has more than 10000 members/],
    ] as const
  ) {
    const res = await app.request("/v1/txs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const problem = await assertProblem(res, 400, "validation");
    assert.match(problem.detail, why);
  }
  assert.equal(service.calls.filter((c) => c.method === "submit").length, 0);
});

Deno.test("POST /v1/streams/{stream}/verify-reading: a reading whose object repeats a member name is a validation problem, and reaches no service", async () => {
  const { app, service } = setup();
  // JSON.parse would verify {"kmh": 200}; a parser that kept the first would show 50.
  const res = await app.request("/v1/streams/meter-7/verify-reading", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body:
      '{"seq":0,"reading":{"json":{"kmh":50,"kmh":200}},"proof":{"index":0,"count":1,"path":[]}}',
  });
  const problem = await assertProblem(res, 400, "validation");
  assert.match(problem.detail, /repeats the member "kmh"/);
  assert.deepEqual(service.calls, []);
});

/** POSTs a verify-reading body whose `reading` is the JSON text `reading`, as sent. */
function verifyReading(app: App, reading: string) {
  return app.request("/v1/streams/meter-7/verify-reading", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: `{"seq":0,"reading":${reading},"proof":{"index":0,"count":60,"path":[]}}`,
  });
}

Deno.test("POST /v1/streams/{stream}/verify-reading: base64url of a length no bytes encode to is a validation problem naming body.reading.bytes", async () => {
  const { app, service, logged } = setup();
  for (const bytes of ["A", "AAAAA", "AB", "AAB"]) {
    const problem = await assertProblem(
      await verifyReading(app, JSON.stringify({ bytes })),
      400,
      "validation",
    );
    assert.deepEqual(problem.errors.map((e: { path: string }) => e.path), ["body.reading.bytes"]);
  }
  assert.deepEqual(service.calls, []);
  assert.deepEqual(logged, []);
});

Deno.test("POST /v1/streams/{stream}/verify-reading: a json reading with a lone surrogate is a validation problem naming body.reading.json", async () => {
  const { app, service, logged } = setup();
  const problem = await assertProblem(
    await verifyReading(app, '{"json":{"a":["\\ud800"]}}'),
    400,
    "validation",
  );
  assert.deepEqual(problem.errors.map((e: { path: string }) => e.path), ["body.reading.json"]);
  assert.match(problem.detail, /lone surrogate \(at value\.a\[0\]\)/);
  assert.deepEqual(service.calls, []);
  assert.deepEqual(logged, []);
});

Deno.test("POST /v1/streams/{stream}/verify-reading: a json reading JSON.parse makes infinite (1e999) is a validation problem naming body.reading.json", async () => {
  const { app, service, logged } = setup();
  const problem = await assertProblem(
    await verifyReading(app, '{"json":1e999}'),
    400,
    "validation",
  );
  assert.deepEqual(problem.errors.map((e: { path: string }) => e.path), ["body.reading.json"]);
  assert.match(problem.detail, /not a finite number/);
  assert.deepEqual(service.calls, []);
  assert.deepEqual(logged, []);
});

Deno.test("POST /v1/streams/{stream}/verify-reading: a json reading nested deeper than canonical JSON allows is a validation problem naming body.reading.json; one deeper than any body may be is refused before parsing", async () => {
  const { app, service, logged } = setup();
  // Deeper than canonical JSON's 128 levels, within the body limit: the schema names the field.
  const deep = "[".repeat(140) + "]".repeat(140);
  const problem = await assertProblem(
    await verifyReading(app, `{"json":${deep}}`),
    400,
    "validation",
  );
  assert.deepEqual(problem.errors.map((e: { path: string }) => e.path), ["body.reading.json"]);
  assert.match(problem.detail, /nesting too deep/);
  assert.ok(problem.detail.length < 300, "the detail does not echo the value's path");
  // 5000 deep: refused by the body's shape check, before anything parses it.
  const deeper = "[".repeat(5000) + "]".repeat(5000);
  const early = await assertProblem(
    await verifyReading(app, `{"json":${deeper}}`),
    400,
    "validation",
  );
  assert.match(early.detail, /nested more than 160 deep/);
  assert.deepEqual(service.calls, []);
  assert.deepEqual(logged, []);
});

Deno.test("POST /v1/streams/{stream}/verify-reading: a non-JSON content type is answered 415 naming it, as POST /v1/txs is", async () => {
  const { app, service } = setup();
  const res = await app.request("/v1/streams/meter-7/verify-reading", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: '{"seq":0,"reading":{"json":1},"proof":{"index":0,"count":1,"path":[]}}',
  });
  const problem = await assertProblem(res, 415, "unsupported_media_type");
  assert.match(problem.detail, /not "text\/plain"/);
  const none = await app.request("/v1/streams/meter-7/verify-reading", { method: "POST" });
  await assertProblem(none, 415, "unsupported_media_type");
  assert.deepEqual(service.calls, []);
});

Deno.test("POST /v1/txs: a non-JSON content type is answered 415", async () => {
  const { app, service } = setup();
  const res = await app.request("/v1/txs", {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body: JSON.stringify(sampleEnvelope()),
  });
  await assertProblem(res, 415, "unsupported_media_type");
  const none = await app.request("/v1/txs", { method: "POST" });
  await assertProblem(none, 415, "unsupported_media_type");
  assert.equal(service.calls.length, 0);
});

Deno.test("POST /v1/txs: application/json with a charset is accepted", async () => {
  const { app } = setup();
  const res = await postJson(app, "/v1/txs", sampleEnvelope(), {
    "content-type": "application/json; charset=utf-8",
  });
  assert.equal(res.status, 200);
});

Deno.test("POST /v1/txs: a body over requestBytesMax with Content-Length is answered 413", async () => {
  const { app, service } = setup({ requestBytesMax: 1024 });
  const body = JSON.stringify(sampleEnvelope({ body: { pad: "x".repeat(2000) } }));
  const res = await app.request("/v1/txs", {
    method: "POST",
    headers: { "content-type": "application/json", "content-length": String(body.length) },
    body,
  });
  const problem = await assertProblem(res, 413, "payload_too_large");
  assert.equal(problem.limitBytes, 1024);
  assert.equal(service.calls.length, 0);
});

Deno.test("POST /v1/txs: a chunked body over requestBytesMax (no Content-Length) is cut and answered 413", async () => {
  const { app, service } = setup({ requestBytesMax: 1024 });
  let pulled = 0;
  const chunk = new TextEncoder().encode(" ".repeat(512));
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      // An endless body: only the limit can stop reading it.
      pulled++;
      controller.enqueue(chunk);
    },
  });
  const request = new Request("http://site/v1/txs", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: stream,
    duplex: "half",
  } as RequestInit);
  assert.equal(request.headers.get("content-length"), null);
  await assertProblem(await app.request(request), 413, "payload_too_large");
  assert.ok(pulled <= 4, `read ${pulled} chunks of an oversized body`);
  assert.equal(service.calls.length, 0);
});

// ---------------------------------------------------------------------------
// Transactions and proofs

Deno.test("GET /v1/txs/{txId}: answers the envelope and its receipt", async () => {
  const { app, service } = setup();
  const envelope = sampleEnvelope();
  const receipt = await (await postJson(app, "/v1/txs", envelope)).json();
  const res = await app.request(`/v1/txs/${receipt.txId}`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { tx: envelope, receipt });
  assert.equal(service.calls.at(-1)?.args[1], "stale");
});

Deno.test("GET /v1/txs/{txId}: an unknown transaction is a not_found problem", async () => {
  const { app } = setup();
  const problem = await assertProblem(
    await app.request(`/v1/txs/${"a".repeat(64)}`),
    404,
    "not_found",
  );
  assert.equal(problem.instance, `/v1/txs/${"a".repeat(64)}`);
});

Deno.test("GET /v1/txs/{txId}: a txId that is not 64 lowercase hex is a validation problem naming path.txId", async () => {
  const { app } = setup();
  for (const id of ["xyz", "A".repeat(64), "a".repeat(63)]) {
    const problem = await assertProblem(await app.request(`/v1/txs/${id}`), 400, "validation");
    assert.deepEqual(errorPaths(problem), ["path.txId"]);
  }
});

Deno.test("GET /v1/txs/{txId}: consistency must be stale, leader or linearizable", async () => {
  const { app, service } = setup();
  const problem = await assertProblem(
    await app.request(`/v1/txs/${"a".repeat(64)}?consistency=eventual`),
    400,
    "validation",
  );
  assert.deepEqual(errorPaths(problem), ["query.consistency"]);
  await app.request(`/v1/txs/${"a".repeat(64)}?consistency=linearizable`);
  assert.equal(service.calls.at(-1)?.args[1], "linearizable");
});

Deno.test("GET /v1/txs/{txId}/proof: answers {logIndex, treeSize, leaf, proof}; cacheable only with treeSize", async () => {
  const { app } = setup();
  const first = await (await postJson(app, "/v1/txs", sampleEnvelope())).json();
  await postJson(app, "/v1/txs", sampleEnvelope({ nonce: "DDDDDDDDDDDDDDDDDDDDDD" }));
  const latest = await app.request(`/v1/txs/${first.txId}/proof`);
  assert.equal(latest.status, 200);
  assert.equal(latest.headers.get("cache-control"), "no-cache");
  const proof = await latest.json();
  assert.deepEqual(Object.keys(proof).sort(), ["leaf", "logIndex", "proof", "treeSize"]);
  assert.equal(proof.logIndex, 0);
  assert.equal(proof.treeSize, 2);
  assert.match(proof.leaf, /^[A-Za-z0-9_-]+$/);
  const fixed = await app.request(`/v1/txs/${first.txId}/proof?treeSize=1`);
  assert.equal(fixed.status, 200);
  assert.match(fixed.headers.get("cache-control") ?? "", /immutable/);
  assert.equal((await fixed.json()).treeSize, 1);
});

Deno.test("GET /v1/txs/{txId}/proof: a treeSize past the log is the service's invalid_range problem, served with the catalogue's title for that type", async () => {
  const { app } = setup();
  const { txId } = await (await postJson(app, "/v1/txs", sampleEnvelope())).json();
  const past = await assertProblem(
    await app.request(`/v1/txs/${txId}/proof?treeSize=5`),
    422,
    "invalid_range",
  );
  assert.equal(past.title, "Invalid range");
  assert.match(past.detail, /in a tree of size 5/);
  const problem = await assertProblem(
    await app.request(`/v1/txs/${txId}/proof?treeSize=0`),
    400,
    "validation",
  );
  assert.deepEqual(errorPaths(problem), ["query.treeSize"]);
});

Deno.test("a required query parameter left out is a validation problem that says it is required, not zod's type message", async () => {
  const { app } = setup();
  const reader = generateKeyPair().did;
  const problem = await assertProblem(
    await app.request(`/v1/streams/s-1/access?reader=${reader}`),
    400,
    "validation",
  );
  assert.deepEqual(problem.errors, [{ path: "query.at", message: "Required: a value" }]);
  assert.equal(problem.detail, "query.at: Required: a value");
});

// ---------------------------------------------------------------------------
// Blocks

Deno.test("GET /v1/blocks/{height}: answers the block, cacheable as immutable", async () => {
  const { app, service } = setup();
  const res = await app.request("/v1/blocks/0");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("cache-control") ?? "", /immutable/);
  assert.deepEqual(await res.json(), service.chain[0]);
  assert.deepEqual(service.calls.at(-1)?.args, [0, "stale"]);
});

Deno.test("GET /v1/blocks/{height}: accepts only decimal heights", async () => {
  const { app } = setup();
  for (const h of ["1e3", "01", "-1", "0x1", "1.0", "%201"]) {
    const problem = await assertProblem(await app.request(`/v1/blocks/${h}`), 400, "validation");
    assert.deepEqual(errorPaths(problem), ["path.height"], h);
  }
});

Deno.test("GET /v1/blocks/{height}: a height beyond MAX_SAFE_INTEGER is too big, naming the largest allowed", async () => {
  const { app } = setup();
  const largest = Number.MAX_SAFE_INTEGER;
  for (const h of ["99999999999999999999", String(largest + 1), "9".repeat(400)]) {
    const problem = await assertProblem(await app.request(`/v1/blocks/${h}`), 400, "validation");
    assert.equal(problem.detail, `path.height: Too big: expected number to be <=${largest}`, h);
  }
});

Deno.test("GET /v1/blocks: a from or limit of more digits than any allowed value is too big, naming the largest", async () => {
  const { app } = setup();
  for (
    const [query, detail] of [
      ["limit=99999999999999999999", "query.limit: Too big: expected number to be <=1000"],
      ["limit=9999", "query.limit: Too big: expected number to be <=1000"],
      [
        "from=99999999999999999999",
        `query.from: Too big: expected number to be <=${Number.MAX_SAFE_INTEGER}`,
      ],
    ]
  ) {
    const problem = await assertProblem(
      await app.request(`/v1/blocks?${query}`),
      400,
      "validation",
    );
    assert.equal(problem.detail, detail, query);
  }
});

Deno.test("GET /v1/blocks/{height}: a missing block is a not_found problem, not cached", async () => {
  const { app } = setup();
  await assertProblem(await app.request("/v1/blocks/7"), 404, "not_found");
});

Deno.test("GET /v1/blocks/by-hash/{hash}: answers the block by hash; unknown is not_found; bad hash is validation", async () => {
  const { app, service } = setup();
  const res = await app.request(`/v1/blocks/by-hash/${service.chain[0].hash}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("cache-control") ?? "", /immutable/);
  assert.deepEqual(await res.json(), service.chain[0]);
  await assertProblem(await app.request(`/v1/blocks/by-hash/${"b".repeat(64)}`), 404, "not_found");
  const problem = await assertProblem(
    await app.request("/v1/blocks/by-hash/zz"),
    400,
    "validation",
  );
  assert.deepEqual(errorPaths(problem), ["path.hash"]);
});

Deno.test("GET /v1/blocks: pages ascending with next = the following height, null at the head", async () => {
  const { app, service } = setup();
  for (let i = 0; i < 4; i++) {
    await postJson(app, "/v1/txs", sampleEnvelope({ nonce: `${i}`.repeat(22) }));
  }
  assert.equal(service.chain.length, 5);
  const page1 = await (await app.request("/v1/blocks?from=0&limit=3")).json();
  assert.deepEqual(page1.blocks.map((b: Json) => b.header.height), [0, 1, 2]);
  assert.equal(page1.next, 3);
  const page2 = await (await app.request(`/v1/blocks?from=${page1.next}&limit=3`)).json();
  assert.deepEqual(page2.blocks.map((b: Json) => b.header.height), [3, 4]);
  assert.equal(page2.next, null);
  assert.deepEqual(page2.blocks[0], service.chain[3]);
});

Deno.test("GET /v1/blocks: from defaults to 0 and limit to 100", async () => {
  const { app, service } = setup();
  const res = await app.request("/v1/blocks");
  assert.equal(res.status, 200);
  assert.deepEqual(service.calls.at(-1)?.args, [0, 100, "stale"]);
});

Deno.test("GET /v1/blocks: limit outside 1..1000 is a validation problem naming query.limit", async () => {
  const { app } = setup();
  for (const limit of ["0", "1001", "ten"]) {
    const problem = await assertProblem(
      await app.request(`/v1/blocks?limit=${limit}`),
      400,
      "validation",
    );
    assert.deepEqual(errorPaths(problem), ["query.limit"], limit);
  }
});

// ---------------------------------------------------------------------------
// Log, cluster, operations

Deno.test("GET /v1/checkpoint: answers the signed note as text/plain; charset=utf-8, never cached", async () => {
  const { app, service } = setup();
  const res = await app.request("/v1/checkpoint");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(await res.text(), await service.checkpoint("stale"));
  assert.equal(service.calls[0].args[0], "stale");
});

Deno.test("GET /v1/consistency: answers {proof} for from <= to", async () => {
  const { app } = setup();
  await postJson(app, "/v1/txs", {
    txs: [sampleEnvelope(), sampleEnvelope({ nonce: "E".repeat(22) })],
  });
  const res = await app.request("/v1/consistency?from=1&to=2");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { proof: ["cd".repeat(32)] });
});

Deno.test("GET /v1/consistency: from > to, a missing bound or from = 0 is a validation problem naming the field", async () => {
  const { app } = setup();
  const cases: Array<[string, string[]]> = [
    ["from=3&to=2", ["query.to"]],
    ["from=1", ["query.to"]],
    ["from=0&to=1", ["query.from"]],
  ];
  for (const [q, paths] of cases) {
    const problem = await assertProblem(
      await app.request(`/v1/consistency?${q}`),
      400,
      "validation",
    );
    assert.deepEqual(errorPaths(problem), paths, q);
  }
});

Deno.test("GET /v1/consistency: a range past the log is the service's invalid_range problem", async () => {
  const { app } = setup();
  await assertProblem(await app.request("/v1/consistency?from=1&to=9"), 422, "invalid_range");
});

Deno.test("GET /v1/status: answers the status fields, never cached", async () => {
  const { app } = setup();
  const res = await app.request("/v1/status");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const status = await res.json();
  for (
    const key of [
      "ledger",
      "site",
      "role",
      "term",
      "leader",
      "commitIndex",
      "appliedIndex",
      "height",
      "logSize",
    ]
  ) {
    assert.ok(key in status, key);
  }
});

Deno.test("GET /v1/sites: answers {sites: [{name, url, verifierKey}]}", async () => {
  const { app, service } = setup();
  const res = await app.request("/v1/sites");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { sites: service.sitesList });
});

Deno.test("GET /v1/sites/{name}/keys: answers the member's key, rotations and retired keys; a name no member has is 404 not_found", async () => {
  const { app, service } = setup();
  const keys = {
    name: "site-a",
    verifierKey: "site-a+1a2b3c4d+AWVkZ2VsZWRnZXI",
    rotations: [{
      name: "site-a",
      previous: "A".repeat(43),
      publicKey: "B".repeat(43),
      previousSig: "C".repeat(86),
      newSig: "D".repeat(86),
    }],
    retired: [{ verifierKey: "site-a+00000000+AQ", untilHeight: 7 }],
  };
  service.siteKeysByName.set("site-a", keys);
  const res = await app.request("/v1/sites/site-a/keys");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), keys);
  const missing = await app.request("/v1/sites/site-z/keys");
  assert.equal(missing.status, 404);
  assert.match((await missing.json()).detail, /No member site is named site-z/);
});

Deno.test("GET /v1/integrity: answers the integrity report", async () => {
  const { app } = setup();
  const res = await app.request("/v1/integrity");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true, blocksChecked: 1, txsChecked: 0, durationMs: 1 });
});

Deno.test("GET /healthz: answers ok with the version, without calling the service", async () => {
  const { app, service } = setup({ version: "1.2.3" });
  const res = await app.request("/healthz");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: "ok", version: "1.2.3" });
  assert.equal(service.calls.length, 0);
});

Deno.test("GET /readyz: ready (200, role and leader) while the site runs, is a member, knows a leader and has applied what is committed", async () => {
  const { app } = setup({ version: "1.2.3" });
  const res = await app.request("/readyz");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(await res.json(), {
    status: "ready",
    version: "1.2.3",
    role: "leader",
    leader: "site-a",
  });
});

Deno.test("GET /readyz: 503 unavailable naming every failed check — stopped, removed, no leader (or none heard from: leaderlessMs; or one that answers no forward: leaderUnreachableMs), too far behind — with which checks passed", async () => {
  const { app, service } = setup();
  service.statusOverride = { healthy: false, removed: true, leader: null, role: "follower" };
  const problem = await assertProblem(await app.request("/readyz"), 503, "unavailable");
  assert.equal(
    problem.detail,
    "Not ready: the site stopped taking writes (its log and /v1/status say why); the site was " +
      "removed from the cluster; no leader is known (an election, or no majority reachable)",
  );
  assert.deepEqual(problem.checks, {
    running: false,
    member: false,
    leader: false,
    applied: true,
    disk: true,
  });

  // A candidate knows no leader; a site with more than READY_APPLY_LAG_MAX entries to apply is
  // catching up; at exactly the bound it is ready.
  service.statusOverride = { role: "candidate", leader: null };
  assert.equal((await app.request("/readyz")).status, 503);
  // A learner cut off from the others names its last leader still; leaderlessMs says it is not.
  service.statusOverride = { role: "learner", leader: "site-a", leaderlessMs: 2345 };
  const cut = await assertProblem(await app.request("/readyz"), 503, "unavailable");
  assert.equal(
    cut.detail,
    "Not ready: no leader heard from for 2.3 s (cut off from the majority: new writes are refused)",
  );
  assert.equal(cut.checks.leader, false);
  // A follower that hears its leader but gets no answer to its forwards names it; not ready.
  service.statusOverride = { role: "follower", leader: "site-a", leaderUnreachableMs: 2160 };
  const oneWay = await assertProblem(await app.request("/readyz"), 503, "unavailable");
  assert.equal(
    oneWay.detail,
    "Not ready: the leader site-a has answered no forward for 2.2 s (the link to it is " +
      "cut: new writes are refused)",
  );
  assert.equal(oneWay.checks.leader, false);
  service.statusOverride = { commitIndex: READY_APPLY_LAG_MAX + 5, appliedIndex: 4 };
  const behind = await assertProblem(await app.request("/readyz"), 503, "unavailable");
  assert.equal(
    behind.detail,
    `Not ready: ${
      READY_APPLY_LAG_MAX + 1
    } committed Raft entries are left to apply (at most ${READY_APPLY_LAG_MAX})`,
  );
  assert.deepEqual(behind.checks, {
    running: true,
    member: true,
    leader: true,
    applied: false,
    disk: true,
  });
  service.statusOverride = {
    commitIndex: READY_APPLY_LAG_MAX + 4,
    appliedIndex: 4,
    role: "follower",
  };
  assert.equal((await app.request("/readyz")).status, 200);
});

Deno.test("GET /readyz: 503 unavailable naming the disk while the site is under its free-space minimum; a peer's low disk, or no guard, leaves it ready", async () => {
  const { app, service } = setup();
  const MiB = 1024 * 1024;
  service.statusOverride = {
    storage: { freeBytes: 300 * MiB, freeBytesMin: 512 * MiB, low: true },
    storageLow: [{ site: "site-a", freeBytes: 300 * MiB, freeBytesMin: 512 * MiB }],
  };
  const low = await assertProblem(await app.request("/readyz"), 503, "unavailable");
  assert.equal(
    low.detail,
    "Not ready: 300 MiB free on the data volume, under its minimum of 512 MiB " +
      "(new transactions are refused)",
  );
  assert.deepEqual(low.checks, {
    running: true,
    member: true,
    leader: true,
    applied: true,
    disk: false,
  });
  // Its own volume only: a site whose peer is low serves reads, and its
  // writes' refusal names that peer.
  service.statusOverride = {
    storage: { freeBytes: 900 * MiB, freeBytesMin: 512 * MiB, low: false },
    storageLow: [{ site: "site-b", freeBytes: 300 * MiB, freeBytesMin: 512 * MiB }],
  };
  assert.equal((await app.request("/readyz")).status, 200);
  service.statusOverride = { storage: undefined };
  assert.equal((await app.request("/readyz")).status, 200);
});

// ---------------------------------------------------------------------------
// Errors and request ids

Deno.test("an unknown route is a not_found problem+json", async () => {
  const { app } = setup();
  const problem = await assertProblem(await app.request("/v1/nope"), 404, "not_found");
  assert.equal(problem.instance, "/v1/nope");
  await assertProblem(await app.request("/v1/nope", { method: "DELETE" }), 404, "not_found");
});

Deno.test("a route asked with a method it does not take is 405 method_not_allowed with Allow; OPTIONS is 204 with Allow", async () => {
  const { app } = setup();
  for (
    const [method, path, allow] of [
      ["DELETE", "/v1/status", "GET, HEAD, OPTIONS"],
      ["GET", "/v1/txs", "POST, OPTIONS"],
      ["PUT", `/v1/txs/${"a".repeat(64)}`, "GET, HEAD, OPTIONS"],
      ["POST", "/v1/checkpoint", "GET, HEAD, OPTIONS"],
      ["PATCH", "/", "GET, HEAD, OPTIONS"],
    ]
  ) {
    const res = await app.request(path, { method });
    assert.equal(res.headers.get("allow"), allow, `${method} ${path}`);
    const problem = await assertProblem(res, 405, "method_not_allowed");
    assert.equal(problem.title, "Method not allowed");
    assert.match(problem.detail, new RegExp(`^${method} is not allowed on `));
  }
  const options = await app.request("/v1/txs", { method: "OPTIONS" });
  assert.equal(options.status, 204);
  assert.equal(options.headers.get("allow"), "POST, OPTIONS");
  assert.equal(await options.text(), "");
  // A path no route takes stays 404, whatever the method.
  await assertProblem(await app.request("/v1/nope", { method: "OPTIONS" }), 404, "not_found");
});

Deno.test("an unexpected error is a 500 internal problem that leaks no message or stack, and is logged", async () => {
  const { app, service, logged } = setup();
  const bug = new Error("Cannot open /var/lib/edgeledger/secret.db: token=hunter2");
  service.failures.set("status", bug);
  const res = await app.request("/v1/status");
  const text = await res.clone().text();
  const problem = await assertProblem(res, 500, "internal");
  assert.ok(
    !text.includes("hunter2") && !text.includes("secret.db") && !text.includes("at "),
    text,
  );
  assert.equal(problem.title, "Internal server error");
  assert.deepEqual(logged, [bug]);
});

Deno.test("a LedgerError keeps its status, type, title, detail and extras", async () => {
  const { app, service, logged } = setup();
  service.failures.set(
    "getTx",
    new LedgerError("unavailable", 503, "Service unavailable", "Cannot read: no leader", {
      leader: null,
    }),
  );
  const res = await app.request(`/v1/txs/${"a".repeat(64)}?consistency=leader`);
  assert.equal(res.headers.get("retry-after"), "1");
  const problem = await assertProblem(res, 503, "unavailable");
  assert.equal(problem.detail, "Cannot read: no leader");
  assert.equal(problem.leader, null);
  assert.deepEqual(logged, []);
});

Deno.test("a LedgerError's extras cannot override the standard problem members", async () => {
  const { app, service } = setup();
  service.failures.set(
    "sites",
    new LedgerError("unavailable", 503, "Service unavailable", "Down", { status: 200, type: "x" }),
  );
  await assertProblem(await app.request("/v1/sites"), 503, "unavailable");
});

Deno.test("X-Request-Id: a well-formed incoming id is echoed on success and in problems", async () => {
  const { app } = setup();
  const ok = await app.request("/v1/status", { headers: { "x-request-id": "client-abc_123" } });
  assert.equal(ok.headers.get("x-request-id"), "client-abc_123");
  const missing = await app.request("/v1/blocks/9", {
    headers: { "x-request-id": "client-abc_124" },
  });
  assert.equal(missing.headers.get("x-request-id"), "client-abc_124");
  assert.equal((await missing.json()).requestId, "client-abc_124");
});

Deno.test("X-Request-Id: one is generated when absent or malformed", async () => {
  const { app } = setup();
  const generated = await app.request("/v1/status");
  assert.match(generated.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  const bad = await app.request("/v1/status", { headers: { "x-request-id": "bad id\u0001" } });
  assert.match(bad.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  const long = await app.request("/v1/status", { headers: { "x-request-id": "a".repeat(300) } });
  assert.match(long.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  const unknown = await app.request("/nope");
  assert.match(unknown.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
});

// ---------------------------------------------------------------------------
// OpenAPI and metrics

Deno.test("GET /openapi.json: an OpenAPI 3.1 document listing every route", async () => {
  const { app } = setup({ version: "9.9.9" });
  const res = await app.request("/openapi.json");
  assert.equal(res.status, 200);
  // As every answer: a Cache-Control (no-cache: it changes with the site's version).
  assert.equal(res.headers.get("cache-control"), "no-cache");
  const doc = await res.json();
  assert.equal(doc.openapi, "3.1.0");
  assert.equal(doc.info.title, "edgeledger site API");
  assert.equal(doc.info.version, "9.9.9");
  assert.ok(doc.info.description.length > 0);
  for (const route of Object.values(ROUTES)) {
    assert.ok(doc.paths[route.path]?.[route.method], `${route.method} ${route.path} missing`);
  }
  // Beyond the core routes, only the built-in contracts' read routes, all under /v1.
  const core = new Set<string>(Object.values(ROUTES).map((r) => r.path));
  for (const path of Object.keys(doc.paths)) {
    assert.ok(core.has(path) || path.startsWith("/v1/"), `unexpected path ${path}`);
  }
  assert.ok(doc.components.schemas.Problem);
  const params = doc.paths["/v1/blocks"].get.parameters.map((p: Json) => p.name).sort();
  assert.deepEqual(params, ["consistency", "from", "limit", "minHeight"]);
  assert.ok(doc.paths["/v1/txs"].post.responses["202"]);
  assert.ok(doc.paths["/v1/checkpoint"].get.responses["200"].content["text/plain"]);
});

Deno.test("GET /openapi.json: every response declares X-Request-Id and its Cache-Control, every 429 and 503 Retry-After, every 401 WWW-Authenticate, by reference to components.headers", async () => {
  const { app } = setup();
  const doc = await (await app.request("/openapi.json")).json();
  const components = doc.components.headers;
  assert.deepEqual(
    Object.keys(components).sort(),
    [...Object.keys(RESPONSE_HEADERS), ...Object.keys(ADMIN_RESPONSE_HEADERS)].sort(),
  );
  assert.deepEqual(components.RetryAfter.schema, { type: "integer", minimum: 1 });
  let responses = 0;
  for (const [path, item] of Object.entries(doc.paths) as [string, Json][]) {
    for (const [method, op] of Object.entries(item) as [string, Json][]) {
      for (const [status, response] of Object.entries(op.responses) as [string, Json][]) {
        const where = `${method.toUpperCase()} ${path} → ${status}`;
        const headers: Record<string, { $ref: string }> = response.headers ?? {};
        for (const [name, header] of Object.entries(headers)) {
          const component = header.$ref?.replace("#/components/headers/", "");
          assert.ok(components[component], `${where}: ${name} refers to no header component`);
        }
        assert.equal(headers["X-Request-Id"]?.$ref, "#/components/headers/XRequestId", where);
        assert.match(headers["Cache-Control"]?.$ref ?? "", /^#\/components\/headers\/CacheControl/);
        if (status === "429" || status === "503") {
          assert.equal(headers["Retry-After"]?.$ref, "#/components/headers/RetryAfter", where);
        } else {
          assert.equal(headers["Retry-After"], undefined, where);
        }
        if (status === "401") {
          assert.equal(
            headers["WWW-Authenticate"]?.$ref,
            path.startsWith("/v1/admin/")
              ? "#/components/headers/WwwAuthenticateAdmin"
              : "#/components/headers/WwwAuthenticate",
            where,
          );
        }
        if (response.content?.["application/problem+json"]) {
          assert.equal(headers["Cache-Control"].$ref, "#/components/headers/CacheControlNoStore");
        }
        responses++;
      }
    }
  }
  assert.ok(responses > 100, `only ${responses} responses`);
  const proof = doc.paths["/v1/txs/{txId}/proof"].get.responses["200"].headers;
  assert.equal(proof["Cache-Control"].$ref, "#/components/headers/CacheControlProof");
  assert.deepEqual(components.CacheControlProof.schema.enum, [CACHE_IMMUTABLE, "no-cache"]);
});

Deno.test("GET /openapi.json: the admin routes are there, tagged admin, each under the admin key's security scheme alone and answering 401 with the admin realm's challenge", async () => {
  const { app } = setup();
  const doc = await (await app.request("/openapi.json")).json();
  assert.deepEqual(doc.components.securitySchemes.adminKey, {
    type: "http",
    scheme: "bearer",
    description: doc.components.securitySchemes.adminKey.description,
  });
  assert.deepEqual(doc.components.headers.WwwAuthenticateAdmin.schema.enum, [
    'Bearer realm="edgeledger-admin"',
    'Bearer realm="edgeledger-admin", error="invalid_token"',
  ]);
  const admin: string[] = [];
  for (const [path, item] of Object.entries(doc.paths) as [string, Json][]) {
    for (const [method, op] of Object.entries(item) as [string, Json][]) {
      const tagged = op.tags?.includes("admin") ?? false;
      assert.equal(tagged, path.startsWith("/v1/admin/"), `${method} ${path}`);
      if (!tagged) continue;
      admin.push(`${method} ${path}`);
      assert.deepEqual(op.security, [{ adminKey: [] }], `${method} ${path}`);
      assert.ok(op.responses["401"] && op.responses["403"], `${method} ${path}`);
    }
  }
  assert.deepEqual(
    admin.sort(),
    Object.values(ADMIN_ROUTES).map((r) => `${r.method} ${r.path}`).sort(),
  );
  const backup = doc.paths["/v1/admin/backup"].get.responses["200"];
  assert.deepEqual(Object.keys(backup.content), ["application/vnd.sqlite3"]);
  const promote = doc.paths["/v1/admin/members/{name}/promote"].post.responses;
  assert.equal(
    promote["503"].content["application/problem+json"].schema.$ref,
    "#/components/schemas/NotLeaderProblem",
  );
});

Deno.test("GET /metrics: a method outside HTTP's own is labelled other, so clients cannot grow the label set", async () => {
  const { app } = setup({ metrics: () => "" });
  for (const m of ["FOO1", "FOO2", "BREW"]) await app.request("/v1/status", { method: m });
  const text = await (await app.request("/metrics")).text();
  assert.doesNotMatch(text, /FOO1|FOO2|BREW/);
  assert.match(
    text,
    /edgeledger_http_requests_total\{method="other",route="[^"]*",status="\d+"\} 3\n/,
  );
});

Deno.test("GET /metrics: counts requests by route pattern and status, a latency histogram, the site's gauges and the process's", async () => {
  const { app } = setup({ metrics: () => "edgeledger_site_height 7\n" });
  await app.request("/v1/status");
  await app.request("/v1/blocks/0");
  await app.request("/v1/blocks/99");
  await app.request("/no/such/route");
  const res = await app.request("/metrics");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.match(
    text,
    /edgeledger_http_requests_total\{method="GET",route="\/v1\/status",status="200"\} 1\n/,
  );
  assert.match(
    text,
    /edgeledger_http_requests_total\{method="GET",route="\/v1\/blocks\/:height",status="200"\} 1\n/,
  );
  assert.match(
    text,
    /edgeledger_http_requests_total\{method="GET",route="\/v1\/blocks\/:height",status="404"\} 1\n/,
  );
  assert.match(
    text,
    /edgeledger_http_requests_total\{method="GET",route="unmatched",status="404"\} 1\n/,
  );
  assert.match(
    text,
    /edgeledger_http_request_duration_seconds_bucket\{method="GET",route="\/v1\/status",le="\+Inf"\} 1\n/,
  );
  assert.match(
    text,
    /edgeledger_http_request_duration_seconds_count\{method="GET",route="\/v1\/status"\} 1\n/,
  );
  assert.ok(!text.includes("/v1/blocks/99"));
  assert.match(text, /\nedgeledger_http_event_streams 0\n/);
  // The site's own metrics, then the process's.
  assert.match(text, /\nedgeledger_site_height 7\n# HELP process_cpu_seconds_total /);
  assert.match(text, /\nprocess_resident_memory_bytes \d+\n/);
});

Deno.test("a LedgerError with a non-error status is treated as a bug: 500 internal, logged", async () => {
  const { app, service, logged } = setup();
  service.failures.set("sites", new LedgerError("weird", 200, "Weird", "Not an error"));
  await assertProblem(await app.request("/v1/sites"), 500, "internal");
  assert.equal(logged.length, 1);
});

Deno.test("a 503 or 429 problem carries Retry-After, from the error's retryAfter seconds when given", async () => {
  const { app, service } = setup();
  service.failures.set(
    "sites",
    new LedgerError("unavailable", 503, "Site busy", "Retry shortly", { retryAfter: 7 }),
  );
  const res = await app.request("/v1/sites");
  assert.equal(res.headers.get("retry-after"), "7");
  await assertProblem(res, 503, "unavailable");
});

/**
 * Serves `app` on loopback port 0 and sends `parts` (raw HTTP/1.1) over one
 * connection, `gapMs` apart; the answer as text, as far as it came before
 * the connection ended or `timeoutMs` passed.
 */
async function rawServed(
  app: { fetch: (req: Request) => Response | Promise<Response> },
  parts: string[],
  gapMs = 20,
  timeoutMs = 3000,
): Promise<string> {
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen() {},
      onError: () => new Response(null, { status: 599 }),
    },
    (req) => app.fetch(req),
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  let answer = "";
  try {
    for (const part of parts) {
      // The server may answer, and close, before the last part.
      const sent = await conn.write(new TextEncoder().encode(part)).catch(() => null);
      if (sent === null) break;
      await new Promise((r) => setTimeout(r, gapMs));
    }
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(64 * 1024);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        conn.read(buffer).catch(() => null),
        new Promise<null>((r) => (timer = setTimeout(() => r(null), deadline - Date.now()))),
      ]);
      clearTimeout(timer);
      if (n === null) break;
      answer += decoder.decode(buffer.subarray(0, n), { stream: true });
      const head = answer.indexOf("\r\n\r\n");
      const length = /content-length: (\d+)/i.exec(answer);
      if (head >= 0 && length && answer.length >= head + 4 + Number(length[1])) break;
    }
  } finally {
    conn.close();
    await server.shutdown();
  }
  return answer;
}

Deno.test("POST /v1/txs: a malformed chunked body (chunk data not followed by CRLF) is 400 validation, logged at most at debug", async () => {
  const lines: string[] = [];
  const { app, logged, service } = setup({
    log: createLogger({ level: "debug", format: "json", write: (l) => lines.push(l) }),
  });
  const answer = await rawServed(app, [
    "POST /v1/txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
    'Transfer-Encoding: chunked\r\n\r\n5\r\n{"txs',
    " ",
    "a",
    " ",
    "a",
  ]);
  assert.match(answer, /^HTTP\/1\.1 400 /);
  assert.match(answer, /content-type: application\/problem\+json/i);
  const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
  assert.equal(body.type, PROBLEM_TYPE_BASE + "validation");
  assert.match(body.detail, /malformed request body/);
  assert.deepEqual(logged, []);
  assert.deepEqual(
    lines.map((l) => JSON.parse(l).level).filter((level) => level !== "debug"),
    [],
  );
  assert.equal(service.calls.length, 0);
});

Deno.test("OPTIONS * with a chunked body is 404 not_found, not 500 (each middleware runs once, the body is read once)", async () => {
  const { app, logged } = setup();
  for (
    const body of [
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
      "Content-Length: 0\r\n\r\n",
    ]
  ) {
    const answer = await rawServed(app, [
      "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + body,
    ]);
    assert.match(answer, /^HTTP\/1\.1 404 /, body);
    const problem = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
    assert.equal(problem.type, PROBLEM_TYPE_BASE + "not_found");
  }
  assert.deepEqual(logged, []);
});

Deno.test("POST /v1/%2A with a chunked body is 404 not_found, counted once in /metrics", async () => {
  const { app, logged } = setup();
  const res = await app.request(
    new Request("http://site/v1/%2A", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode("{}"));
          c.close();
        },
      }),
      duplex: "half",
    } as RequestInit),
  );
  await assertProblem(res, 404, "not_found");
  const metrics = await (await app.request("/metrics")).text();
  assert.match(
    metrics,
    /^edgeledger_http_requests_total\{method="POST",route="unmatched",status="404"\} 1$/m,
  );
  assert.deepEqual(logged, []);
});

// ---------------------------------------------------------------------------
// minHeight (read your writes)

Deno.test("minHeight: a read for a height this site has applied is answered at once", async () => {
  const { app, service } = setup();
  await service.submit([sampleEnvelope()], { wait: false, waitTimeoutMs: 0 });
  const res = await app.request("/v1/blocks/1?minHeight=1");
  assert.equal(res.status, 200);
  assert.equal((await res.json()).header.height, 1);
});

Deno.test("minHeight: a read for a later height waits for that block, then answers what it holds", async () => {
  const { app, service } = setup({ minHeightWaitMs: 5000 });
  service.autoCommit = false;
  const envelope = sampleEnvelope();
  const [receipt] = await service.submit([envelope], { wait: false, waitTimeoutMs: 0 });
  const read = app.request(`/v1/txs/${receipt.txId}?minHeight=1`);
  await new Promise((r) => setTimeout(r, 30));
  await service.commitPending();
  const res = await read;
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.receipt.status, "committed");
  assert.equal(body.receipt.height, 1);
});

Deno.test("minHeight: a height not reached within minHeightWaitMs is 503 unavailable with Retry-After", async () => {
  const { app } = setup({ minHeightWaitMs: 30 });
  const res = await app.request("/v1/gov?minHeight=3");
  const problem = await assertProblem(res, 503, "unavailable");
  assert.equal(problem.height, 0);
  assert.equal(problem.minHeight, 3);
  assert.equal(res.headers.get("retry-after"), "1");
});

Deno.test("minHeight: a value that is not a decimal integer is a validation problem naming query.minHeight", async () => {
  const { app, service } = setup();
  for (const bad of ["-1", "1.5", "0x10", "abc", "01", "1e3", ""]) {
    const res = await app.request(`/v1/checkpoint?minHeight=${encodeURIComponent(bad)}`);
    const problem = await assertProblem(res, 400, "validation");
    assert.deepEqual(errorPaths(problem), ["query.minHeight"], bad);
  }
  assert.equal(service.calls.filter((c) => c.method === "awaitHeight").length, 0);
});

Deno.test("minHeight: the event stream and writes do not wait for it", async () => {
  const { app, service } = setup({ minHeightWaitMs: 5000 });
  const res = await postJson(app, "/v1/txs?minHeight=99", sampleEnvelope());
  assert.equal(res.status, 200);
  const events = await app.request("/v1/events?minHeight=99");
  assert.equal(events.status, 200);
  await events.body?.cancel();
  assert.equal(service.calls.filter((c) => c.method === "awaitHeight").length, 0);
});

Deno.test("minHeight: every read route but the event stream (and the admin app's) documents the parameter", async () => {
  const { app } = setup();
  const doc = await (await app.request("/openapi.json")).json();
  const missing: string[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    if (!path.startsWith("/v1/") || path.startsWith("/v1/admin/")) continue;
    if (path === "/v1/events" || item.get === undefined) continue;
    const names = (item.get.parameters ?? []).map((p: { name: string }) => p.name);
    if (!names.includes("minHeight")) missing.push(path);
  }
  assert.deepEqual(missing, []);
});

Deno.test("minHeight: verify-reading, a read with a body, waits for it too", async () => {
  const { app, service } = setup({ minHeightWaitMs: 30 });
  const res = await postJson(app, "/v1/streams/truck-17%2Ftemp/verify-reading?minHeight=5", {});
  await assertProblem(res, 503, "unavailable");
  assert.deepEqual(
    service.calls.filter((c) => c.method === "awaitHeight").map((c) => c.args[0]),
    [5],
  );
});

Deno.test("minHeight: a read whose client goes away while it waits stops waiting, and is not logged as an error", async () => {
  const { app, service, logged } = setup({ minHeightWaitMs: 5000 });
  const gone = new AbortController();
  const read = app.request("/v1/blocks/3?minHeight=3", { signal: gone.signal });
  await new Promise((r) => setTimeout(r, 20));
  const started = performance.now();
  gone.abort();
  const res = await read;
  assert.ok(performance.now() - started < 1000);
  assert.equal(res.status, 503);
  await res.body?.cancel();
  assert.deepEqual(logged, []);
  assert.equal(service.calls.filter((c) => c.method === "awaitHeight").length, 1);
});
