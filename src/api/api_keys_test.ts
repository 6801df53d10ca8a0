import assert from "node:assert/strict";
import { createApp } from "./app.ts";
import { type ApiKeyOptions, hashKey } from "./api_keys.ts";
import { FakeLedgerService, sampleEnvelope } from "./testing.ts";
import {
  BEARER_CHALLENGE,
  BEARER_CHALLENGE_INVALID,
  PROBLEM_TYPE_BASE,
} from "../../sdk/api/routes.ts";
import { siteConfigSchema } from "../site/config.ts";

const FLEET = "fleet-key-0123456789abcdef";
const OTHER = "other-key-0123456789abcdef";

function setup(options: Partial<ApiKeyOptions> = {}) {
  let t = 1_800_000_000_000;
  const app = createApp(new FakeLedgerService(), {
    apiKeys: {
      keys: [
        { name: "fleet", hash: hashKey(FLEET), requestsPerMinute: 3 },
        { name: "other", hash: hashKey(OTHER), requestsPerMinute: 100 },
      ],
      require: "none",
      now: () => t,
      ...options,
    },
  });
  return { app, advance: (ms: number) => (t += ms) };
}

const get = (app: ReturnType<typeof setup>["app"], key?: string) =>
  app.request(
    "/v1/status",
    key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } },
  );

const submit = (app: ReturnType<typeof setup>["app"], key?: string) =>
  app.request("/v1/txs", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
    },
    body: JSON.stringify(sampleEnvelope()),
  });

async function problem(res: Response, status: number, slug: string) {
  assert.equal(res.status, status);
  const body = await res.json();
  assert.equal(body.type, PROBLEM_TYPE_BASE + slug);
  assert.ok(body.requestId);
  return body;
}

Deno.test("API keys: a known key is served; an unknown or malformed one is refused 401, never taken as anonymous", async () => {
  const { app } = setup();
  assert.equal((await get(app, FLEET)).status, 200);
  assert.equal((await get(app)).status, 200, "keys are optional by default");
  await problem(await get(app, "unknown-key-0123456789abcdef"), 401, "unauthorized");
  await problem(
    await app.request("/v1/status", { headers: { authorization: "Basic abc" } }),
    401,
    "unauthorized",
  );
});

Deno.test("API keys: each key has its own per-minute budget; past it 429 with Retry-After until the next minute", async () => {
  const { app, advance } = setup();
  for (let i = 0; i < 3; i++) assert.equal((await get(app, FLEET)).status, 200);
  const over = await get(app, FLEET);
  const body = await problem(over, 429, "rate_limited");
  assert.equal(body.apiKey, "fleet");
  assert.ok(Number(over.headers.get("retry-after")) >= 1);
  assert.equal((await get(app, OTHER)).status, 200, "another key is not affected");
  assert.equal((await get(app)).status, 200, "nor are requests without a key");
  advance(60_000);
  assert.equal((await get(app, FLEET)).status, 200, "a new minute, a new budget");
});

Deno.test("API keys: require 'writes' refuses a submit without a key and serves reads; 'all' refuses both", async () => {
  const writes = setup({ require: "writes" }).app;
  await problem(await submit(writes), 401, "unauthorized");
  assert.notEqual((await submit(writes, FLEET)).status, 401);
  assert.equal((await get(writes)).status, 200);
  const all = setup({ require: "all" }).app;
  await problem(await get(all), 401, "unauthorized");
  assert.equal((await get(all, OTHER)).status, 200);
  // Outside /v1/: the explorer's page and /metrics are not tenant routes.
  assert.equal((await all.request("/metrics")).status, 200);
});

Deno.test("API keys: every 401 carries a Bearer challenge, invalid_token for a key the site does not know (RFC 6750 §3)", async () => {
  const all = setup({ require: "all" }).app;
  const missing = await get(all);
  assert.equal(missing.headers.get("www-authenticate"), BEARER_CHALLENGE);
  await problem(missing, 401, "unauthorized");
  for (const auth of ["Bearer unknown-key-0123456789abcdef", "Basic abc"]) {
    const res = await all.request("/v1/status", { headers: { authorization: auth } });
    assert.equal(res.headers.get("www-authenticate"), BEARER_CHALLENGE_INVALID, auth);
    await problem(res, 401, "unauthorized");
  }
  // Answers other than 401 carry no challenge.
  const served = await get(all, FLEET);
  assert.equal(served.status, 200);
  assert.equal(served.headers.get("www-authenticate"), null);
});

Deno.test("site config: apiKeys need unique names and SHA-256 hashes; requireApiKey defaults to none", () => {
  const base = {
    name: "site-a",
    port: 7001,
    url: "http://127.0.0.1:7001",
    db: "file:x.db",
    keyFile: "k.json",
    genesisFile: "g.json",
  };
  const parsed = siteConfigSchema.parse({
    ...base,
    apiKeys: [{ name: "a", hash: "ab".repeat(32) }],
  });
  assert.equal(parsed.requireApiKey, "none");
  assert.equal(parsed.apiKeys[0].requestsPerMinute, 60_000);
  const twice = [{ name: "a", hash: "ab".repeat(32) }, { name: "a", hash: "cd".repeat(32) }];
  assert.equal(siteConfigSchema.safeParse({ ...base, apiKeys: twice }).success, false);
  assert.equal(
    siteConfigSchema.safeParse({ ...base, apiKeys: [{ name: "a", hash: "secret" }] }).success,
    false,
  );
});

Deno.test("API keys: /openapi.json documents the bearer key as optional security and 401 on the routes", async () => {
  const doc = await (await setup().app.request("/openapi.json")).json();
  assert.equal(doc.components.securitySchemes.apiKey.scheme, "bearer");
  assert.deepEqual(doc.security, [{}, { apiKey: [] }]);
  assert.ok(doc.paths["/v1/txs"].post.responses["401"]);
});

Deno.test("API keys: with no keys and none required, any request passes, Authorization header or not (as with no key options at all)", async () => {
  const { app } = setup({ keys: [] });
  assert.equal((await get(app, "someone-elses-token-0123456789")).status, 200);
  assert.equal((await get(app)).status, 200);
});

Deno.test("API keys: the options are read on every request — keys replaced in them (a SIGHUP reload) judge the next request", async () => {
  const options: ApiKeyOptions = {
    keys: [{ name: "fleet", hash: hashKey(FLEET), requestsPerMinute: 100 }],
    require: "writes",
  };
  const app = createApp(new FakeLedgerService(), { apiKeys: options });
  assert.equal((await get(app, FLEET)).status, 200);
  assert.equal((await submit(app)).status, 401);
  options.keys = [{ name: "other", hash: hashKey(OTHER), requestsPerMinute: 100 }];
  options.require = "none";
  await problem(await get(app, FLEET), 401, "unauthorized");
  assert.equal((await get(app, OTHER)).status, 200);
  assert.notEqual((await submit(app)).status, 401);
});
