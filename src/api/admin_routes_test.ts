import assert from "node:assert/strict";
import { PROBLEM_TYPES, problemTypeUri } from "../../sdk/api/routes.ts";
import { base64urlEncode } from "../../sdk/encoding.ts";
import { generateKeyPair } from "../../sdk/keys.ts";
import { adminRoot, type AdminService, hashApiKey } from "./admin_routes.ts";
import { LedgerError } from "./service.ts";
import { MembershipTimeout, UnknownMemberError } from "../site/raft_host.ts";

const KEY = "admin-key-0123456789abcdef";
/** A new member's Ed25519 public key. */
const MEMBER_KEY = base64urlEncode(generateKeyPair("ed25519").publicKey);

function service(overrides: Partial<AdminService> = {}): AdminService & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    addLearner: (m) => (calls.push(`add ${m.name}`), Promise.resolve()),
    promote: (n) => (calls.push(`promote ${n}`), Promise.resolve()),
    remove: (n) => (calls.push(`remove ${n}`), Promise.resolve()),
    updateMemberUrl: (n, url) => (calls.push(`move ${n} ${url}`), Promise.resolve()),
    transferLeadership: (to) => (calls.push(`transfer ${to}`), Promise.resolve()),
    leader: () => "site-a",
    leaderUrl: () => "http://127.0.0.1:7001",
    isLeader: () => true,
    ...overrides,
  };
}

function call(app: ReturnType<typeof adminRoot>, path: string, init: RequestInit = {}, key = KEY) {
  return app.request(`/v1/admin${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
  });
}

async function problem(res: Response, status: number, slug: string) {
  assert.equal(res.status, status);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json();
  assert.equal(body.type, problemTypeUri(slug));
  // One status per problem type: the one the SDK's catalogue gives.
  if (slug in PROBLEM_TYPES) {
    assert.equal(status, PROBLEM_TYPES[slug as keyof typeof PROBLEM_TYPES].status, slug);
  }
  assert.match(body.requestId, /\S/, "a problem names its request id");
  assert.equal(res.headers.get("x-request-id"), body.requestId);
  return body;
}

const TENANT_KEY = "tenant-key-0123456789abcdef";

Deno.test("admin routes: no key is unauthorized with the admin realm's challenge, an unknown or malformed key unauthorized as invalid_token, a tenant's key forbidden (RFC 6750 §3.1)", async () => {
  const s = service();
  const tenants = [hashApiKey(TENANT_KEY)];
  const app = adminRoot(s, [hashApiKey(KEY)], undefined, {
    isTenantKey: (h) => tenants.includes(h),
  });
  const anonymous = await app.request("/v1/admin/members/site-d", { method: "DELETE" });
  assert.equal(anonymous.headers.get("www-authenticate"), 'Bearer realm="edgeledger-admin"');
  await problem(anonymous, 401, "unauthorized");
  const unknown = await call(app, "/members/site-d", { method: "DELETE" }, "x".repeat(24));
  assert.equal(
    unknown.headers.get("www-authenticate"),
    'Bearer realm="edgeledger-admin", error="invalid_token"',
  );
  assert.match((await problem(unknown, 401, "unauthorized")).detail, /no admin API key/);
  const tenant = await call(app, "/members/site-d", { method: "DELETE" }, TENANT_KEY);
  assert.equal(tenant.headers.get("www-authenticate"), null);
  assert.match((await problem(tenant, 403, "forbidden")).detail, /tenant API key/);
  // Sent, but no Bearer key of 16–256 characters: no admin key either, not "no key".
  for (const authorization of ["Bearer short", "Basic dXNlcjpwYXNz", "Bearer " + "k".repeat(257)]) {
    const malformed = await app.request("/v1/admin/members/site-d", {
      method: "DELETE",
      headers: { authorization },
    });
    assert.equal(
      malformed.headers.get("www-authenticate"),
      'Bearer realm="edgeledger-admin", error="invalid_token"',
      authorization,
    );
    assert.match((await problem(malformed, 401, "unauthorized")).detail, /no admin API key/);
  }
  // Without the tenant keys to ask, a key that is no admin key is unknown.
  const bare = adminRoot(s, [hashApiKey(KEY)]);
  await problem(
    await call(bare, "/members/site-d", { method: "DELETE" }, TENANT_KEY),
    401,
    "unauthorized",
  );
  assert.deepEqual(s.calls, []);
});

Deno.test("admin routes: each route reaches the service once and answers {ok: true}", async () => {
  const s = service();
  const app = adminRoot(s, [hashApiKey(KEY)]);
  const member = { name: "site-d", url: "http://127.0.0.1:7004", publicKey: MEMBER_KEY };
  for (
    const [path, method, body] of [
      ["/members", "POST", member],
      ["/members/site-d/promote", "POST", undefined],
      ["/leader", "POST", { to: "site-b" }],
      ["/members/site-d", "PATCH", { url: "https://pop-4.example:7443" }],
      ["/members/site-d", "DELETE", undefined],
    ] as const
  ) {
    const res = await call(app, path, { method, body: body && JSON.stringify(body) });
    assert.equal(res.status, 200, path);
    assert.deepEqual(await res.json(), { ok: true });
  }
  assert.deepEqual(s.calls, [
    "add site-d",
    "promote site-d",
    "transfer site-b",
    "move site-d https://pop-4.example:7443",
    "remove site-d",
  ]);
});

Deno.test("admin routes: a follower answers 503 not_leader naming the leader and its URL, the status PROBLEM_TYPES gives the type, with Retry-After", async () => {
  const app = adminRoot(service({ isLeader: () => false }), [hashApiKey(KEY)]);
  const res = await call(app, "/members/site-d", { method: "DELETE" });
  assert.equal(res.headers.get("retry-after"), "1");
  const body = await problem(res, PROBLEM_TYPES.not_leader.status, "not_leader");
  assert.equal(body.status, 503);
  assert.equal(body.leader, "site-a");
  assert.equal(body.leaderUrl, "http://127.0.0.1:7001");
});

Deno.test("admin routes: a follower that knows no leader says so (null leader and URL) rather than naming one", async () => {
  const app = adminRoot(
    service({ isLeader: () => false, leader: () => undefined, leaderUrl: () => undefined }),
    [hashApiKey(KEY)],
  );
  const body = await problem(
    await call(app, "/members/site-d/promote", { method: "POST" }),
    503,
    "not_leader",
  );
  assert.equal(body.leader, null);
  assert.equal(body.leaderUrl, null);
});

Deno.test("admin routes: a change the cluster refuses is a conflict problem carrying the reason", async () => {
  const app = adminRoot(
    service({ promote: () => Promise.reject(new Error("Site site-d is too far behind")) }),
    [hashApiKey(KEY)],
  );
  const body = await problem(
    await call(app, "/members/site-d/promote", { method: "POST" }),
    409,
    "conflict",
  );
  assert.match(body.detail, /too far behind/);
});

Deno.test("admin routes: a change proposed but not applied in time is 504 commit_timeout, not a conflict: it may still take effect", async () => {
  const app = adminRoot(
    service({
      remove: () =>
        Promise.reject(new MembershipTimeout("The change (remove site-d) … may still take effect")),
    }),
    [hashApiKey(KEY)],
  );
  const body = await problem(
    await call(app, "/members/site-d", { method: "DELETE" }),
    504,
    "commit_timeout",
  );
  assert.match(body.detail, /may still take effect/);
});

Deno.test("admin routes: a malformed member is a validation problem naming the field as the public API does (body.<field>)", async () => {
  const s = service();
  const app = adminRoot(s, [hashApiKey(KEY)]);
  const res = await call(app, "/members", {
    method: "POST",
    body: JSON.stringify({ name: "site-d", url: "not a url", publicKey: MEMBER_KEY }),
  });
  const body = await problem(res, 400, "validation");
  assert.deepEqual(body.errors.map((e: { path: string }) => e.path), ["body.url"]);
  assert.deepEqual(s.calls, []);
});

Deno.test("admin routes: a member's new URL must be an http(s) URL and the only field; a repeated one is refused", async () => {
  const s = service();
  const app = adminRoot(s, [hashApiKey(KEY)]);
  for (
    const body of [
      JSON.stringify({ url: "ftp://pop-4.example" }),
      JSON.stringify({ url: "not a url" }),
      JSON.stringify({ url: "http://pop-4.example:7004", name: "site-e" }),
      JSON.stringify({}),
    ]
  ) {
    const res = await call(app, "/members/site-d", { method: "PATCH", body });
    const problemBody = await problem(res, 400, "validation");
    assert.match(problemBody.detail, /Body must be \{url\}/, body);
  }
  const repeated = await call(app, "/members/site-d", {
    method: "PATCH",
    body: '{"url":"http://a.example:7004","url":"http://b.example:7004"}',
  });
  assert.match((await problem(repeated, 400, "validation")).detail, /repeats the member "url"/);
  assert.deepEqual(s.calls, []);
});

Deno.test("admin routes: a public key of 32 bytes that are no Ed25519 curve point is a validation problem, and adds no member", async () => {
  const s = service();
  const app = adminRoot(s, [hashApiKey(KEY)]);
  const notAPoint = "AgIC".repeat(10) + "AgI"; // 32 bytes of 0x02
  const res = await call(app, "/members", {
    method: "POST",
    body: JSON.stringify({ name: "site-d", url: "http://127.0.0.1:7004", publicKey: notAPoint }),
  });
  const body = await problem(res, 400, "validation");
  assert.deepEqual(body.errors.map((e: { path: string }) => e.path), ["body.publicKey"]);
  assert.deepEqual(s.calls, []);
});

Deno.test("admin routes: a public key of small order (32 zero bytes) is a validation problem that says it cannot sign, and adds no member", async () => {
  const s = service();
  const app = adminRoot(s, [hashApiKey(KEY)]);
  const res = await call(app, "/members", {
    method: "POST",
    body: JSON.stringify({
      name: "site-d",
      url: "http://127.0.0.1:7004",
      publicKey: "A".repeat(43),
    }),
  });
  const body = await problem(res, 400, "validation");
  assert.deepEqual(body.errors, [{
    path: "body.publicKey",
    message: "must be an Ed25519 key that can sign (not of small order)",
  }]);
  assert.deepEqual(s.calls, []);
});

Deno.test("admin routes: an unknown admin path is a not_found problem, not plain text", async () => {
  const app = adminRoot(service(), [hashApiKey(KEY)]);
  await problem(await call(app, "/nothing-here", { method: "GET" }), 404, "not_found");
});

Deno.test("admin routes: a known admin path asked with another method is a method_not_allowed problem", async () => {
  const app = adminRoot(service(), [hashApiKey(KEY)]);
  const res = await call(app, "/leader", { method: "GET" });
  assert.equal(res.headers.get("allow"), "POST, OPTIONS");
  await problem(res, 405, "method_not_allowed");
});

Deno.test("admin routes: a body whose object repeats a member name is a validation problem, and changes no membership", async () => {
  const s = service();
  const app = adminRoot(s, [hashApiKey(KEY)]);
  // Two keys: a proxy or log that read the first would show another member than the one added.
  const member = JSON.stringify({ name: "site-d", url: "http://127.0.0.1:7004" });
  for (
    const [path, body, name] of [
      [
        "/members",
        `${member.slice(0, -1)},"publicKey":"${"A".repeat(43)}","publicKey":"${"B".repeat(43)}"}`,
        "publicKey",
      ],
      ["/leader", '{"to":"site-b","to":"site-c"}', "to"],
    ]
  ) {
    const res = await call(app, path, { method: "POST", body });
    const problemBody = await problem(res, 400, "validation");
    assert.match(problemBody.detail, new RegExp(`repeats the member "${name}"`), path);
  }
  assert.deepEqual(s.calls, []);
  // The key is checked before the body is read.
  await problem(
    await call(app, "/leader", { method: "POST", body: '{"to":1,"to":2}' }, "x".repeat(24)),
    401,
    "unauthorized",
  );
});

Deno.test("admin routes: GET /backup needs the admin key, and streams the copy as application/vnd.sqlite3 with its size, height, head and file name", async () => {
  const bytes = new Uint8Array(300_000).map((_, i) => i % 251);
  let taken = 0;
  const app = adminRoot(
    service({
      backup: () => {
        taken++;
        return Promise.resolve({
          body: new Blob([bytes]).stream(),
          info: { height: 12, head: "ab".repeat(32), appliedIndex: 40, bytes: bytes.length },
          filename: "demo-site-a-12.db",
        });
      },
    }),
    [hashApiKey(KEY)],
  );
  await problem(await app.request("/v1/admin/backup"), 401, "unauthorized");
  await problem(await call(app, "/backup", {}, "x".repeat(24)), 401, "unauthorized");
  assert.equal(taken, 0, "no copy is made for a caller without the key");
  const res = await call(app, "/backup");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/vnd.sqlite3");
  assert.equal(res.headers.get("content-length"), String(bytes.length));
  assert.equal(
    res.headers.get("content-disposition"),
    'attachment; filename="demo-site-a-12.db"',
  );
  assert.equal(res.headers.get("x-edgeledger-backup-height"), "12");
  assert.equal(res.headers.get("x-edgeledger-backup-head"), "ab".repeat(32));
  assert.equal(res.headers.get("x-edgeledger-backup-applied-index"), "40");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
});

Deno.test("admin routes: a backup refused while another runs is a 409 conflict problem, and a site without backups answers not_found", async () => {
  const busy = adminRoot(
    service({
      backup: () =>
        Promise.reject(
          new LedgerError("conflict", 409, "Backup running", "A backup is already running"),
        ),
    }),
    [hashApiKey(KEY)],
  );
  const body = await problem(await call(busy, "/backup"), 409, "conflict");
  assert.equal(body.detail, "A backup is already running");
  await problem(await call(adminRoot(service(), [hashApiKey(KEY)]), "/backup"), 404, "not_found");
});

Deno.test("admin routes: HEAD /backup lets the copy go at once (its stream is cancelled), so the one backup slot is not held", async () => {
  let cancelled = false;
  const app = adminRoot(
    service({
      backup: () =>
        Promise.resolve({
          body: new ReadableStream<Uint8Array>({
            pull: (c) => c.enqueue(new Uint8Array(16)),
            cancel: () => {
              cancelled = true;
            },
          }),
          info: { height: 12, head: "ab".repeat(32), appliedIndex: 40, bytes: 16 },
          filename: "demo-site-a-12.db",
        }),
    }),
    [hashApiKey(KEY)],
  );
  const res = await call(app, "/backup", { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-edgeledger-backup-height"), "12");
  assert.equal(res.body, null);
  assert.equal(cancelled, true);
});

Deno.test("admin routes: POST /site-key rotates the key of the site asked (any member, not only the leader), answering the retired and the new key; a lone site, a refusal and a timeout are problems", async () => {
  const keys = {
    previous: "A".repeat(43),
    publicKey: "B".repeat(43),
    untilHeight: 12,
    retirementSigned: true,
  };
  let calls = 0;
  const app = adminRoot(
    service({
      isLeader: () => false,
      self: "site-b",
      rotateKey: () => (calls++, Promise.resolve(keys)),
    }),
    [hashApiKey(KEY)],
  );
  const ok = await call(app, "/site-key", { method: "POST" });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { site: "site-b", ...keys });
  assert.equal(calls, 1);
  await problem(await app.request("/v1/admin/site-key", { method: "POST" }), 401, "unauthorized");
  assert.equal(calls, 1);

  const lone = adminRoot(service(), [hashApiKey(KEY)]);
  const body = await problem(await call(lone, "/site-key", { method: "POST" }), 409, "conflict");
  assert.match(body.detail, /A lone site has no membership/);
  const refused = adminRoot(
    service({
      rotateKey: () => Promise.reject(new Error("A rotation of this site's key is under way")),
    }),
    [hashApiKey(KEY)],
  );
  assert.match(
    (await problem(await call(refused, "/site-key", { method: "POST" }), 409, "conflict")).detail,
    /under way/,
  );
  const late = adminRoot(
    service({ rotateKey: () => Promise.reject(new MembershipTimeout("may still take effect")) }),
    [hashApiKey(KEY)],
  );
  await problem(await call(late, "/site-key", { method: "POST" }), 504, "commit_timeout");
});

/** A request of `bytes` bytes of body with no Content-Length: chunked on the wire. */
function chunked(path: string, method: string, bytes: number, key = KEY): Request {
  const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
  let left = bytes;
  return new Request(`http://site/v1/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: new ReadableStream({
      pull(c) {
        if (left <= 0) return c.close();
        c.enqueue(chunk.subarray(0, Math.min(left, chunk.length)));
        left -= chunk.length;
      },
    }),
    duplex: "half",
  } as RequestInit);
}

Deno.test("admin routes: a body over requestBytesMax is 413 payload_too_large, sized or chunked, and changes nothing", async () => {
  const s = service();
  const app = adminRoot(s, [hashApiKey(KEY)]);
  const big = "x".repeat(2 * 1024 * 1024);
  for (const [path, method] of [["/members", "POST"], ["/leader", "POST"]] as const) {
    const body = await problem(
      await call(app, path, { method, body: big }),
      413,
      "payload_too_large",
    );
    assert.equal(body.limitBytes, 1024 * 1024);
    await problem(await app.request(chunked(path, method, big.length)), 413, "payload_too_large");
  }
  await problem(
    await app.request(chunked("/members/site-d", "PATCH", big.length)),
    413,
    "payload_too_large",
  );
  // The limit is the site's (its requestBytesMax).
  const small = adminRoot(s, [hashApiKey(KEY)], undefined, { requestBytesMax: 2048 });
  const body = JSON.stringify({ to: "site-b", pad: "x".repeat(4096) });
  await problem(await call(small, "/leader", { method: "POST", body }), 413, "payload_too_large");
  assert.deepEqual(s.calls, []);
});

Deno.test("admin routes: a body that is not application/json is 415 unsupported_media_type naming its type, as on POST /v1/txs", async () => {
  const s = service();
  const app = adminRoot(s, [hashApiKey(KEY)]);
  const member = { name: "site-d", url: "http://127.0.0.1:7004", publicKey: MEMBER_KEY };
  for (
    const [path, method, body] of [
      ["/members", "POST", member],
      ["/leader", "POST", { to: "site-b" }],
      ["/members/site-d", "PATCH", { url: "https://pop-4.example:7443" }],
    ] as const
  ) {
    const res = await app.request(`/v1/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, "content-type": "text/plain" },
      body: JSON.stringify(body),
    });
    const p = await problem(res, 415, "unsupported_media_type");
    assert.match(p.detail, /not "text\/plain"/, path);
    const none = await app.request(`/v1/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}` },
      body: JSON.stringify(body),
    });
    await problem(none, 415, "unsupported_media_type");
  }
  // The routes that read no body take none, and need no type.
  const promote = await app.request("/v1/admin/members/site-d/promote", {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}` },
  });
  assert.equal(promote.status, 200);
  assert.deepEqual(s.calls, ["promote site-d"]);
});

Deno.test("admin routes: POST /leader to a value that is no site name is a validation problem that does not echo it", async () => {
  const s = service();
  const app = adminRoot(s, [hashApiKey(KEY)]);
  const to = "x".repeat(100_000);
  const res = await call(app, "/leader", { method: "POST", body: JSON.stringify({ to }) });
  const text = await res.clone().text();
  assert.ok(text.length < 1000, `a ${text.length}-character problem`);
  const body = await problem(res, 400, "validation");
  assert.deepEqual(body.errors.map((e: { path: string }) => e.path), ["body.to"]);
  for (const bad of [{ to: 1 }, {}, { to: "Site B" }]) {
    await problem(
      await call(app, "/leader", { method: "POST", body: JSON.stringify(bad) }),
      400,
      "validation",
    );
  }
  assert.deepEqual(s.calls, []);
});

Deno.test("admin routes: a refusal whose cause says a lot is cut in the detail", async () => {
  const app = adminRoot(
    service({
      remove: (n) => Promise.reject(new Error(`No member is named ${n}${"y".repeat(100_000)}`)),
    }),
    [hashApiKey(KEY)],
  );
  const res = await call(app, `/members/site-b`, { method: "DELETE" });
  const body = await problem(res, 409, "conflict");
  assert.ok(body.detail.length < 600, `a ${body.detail.length}-character detail`);
  assert.match(body.detail, /^No member is named site-by+… \(100025 characters\)$/);
});

Deno.test("admin routes: a :name that is no site name is a validation problem naming path.name, on promote, PATCH and DELETE, and reaches no service", async () => {
  const s = service();
  const app = adminRoot(s, [hashApiKey(KEY)]);
  for (const name of ["y".repeat(65), "Site%20B", "-x", "x%00"]) {
    for (
      const [path, init] of [
        [`/members/${name}/promote`, { method: "POST" }],
        [`/members/${name}`, { method: "DELETE" }],
        [`/members/${name}`, {
          method: "PATCH",
          body: JSON.stringify({ url: "http://127.0.0.1:7009" }),
        }],
      ] as const
    ) {
      const body = await problem(await call(app, path, init), 400, "validation");
      assert.deepEqual(body.errors.map((e: { path: string }) => e.path), ["path.name"], path);
      assert.ok(body.detail.length < 200, path);
    }
  }
  assert.deepEqual(s.calls, []);
});

Deno.test("admin routes: promote, DELETE and PATCH of a name that is no member are 404 not_found, not a conflict", async () => {
  const unknown = (n: string) => Promise.reject(new UnknownMemberError(n));
  const app = adminRoot(
    service({ promote: unknown, remove: unknown, updateMemberUrl: unknown }),
    [hashApiKey(KEY)],
  );
  for (
    const [path, init] of [
      ["/members/site-z/promote", { method: "POST" }],
      ["/members/site-z", { method: "DELETE" }],
      ["/members/site-z", {
        method: "PATCH",
        body: JSON.stringify({ url: "http://127.0.0.1:7009" }),
      }],
    ] as const
  ) {
    const res = await call(app, path, init);
    assert.equal(res.headers.get("cache-control"), "no-store", path);
    const body = await problem(res, 404, "not_found");
    assert.equal(body.detail, "Site site-z is not a member", path);
  }
});

Deno.test("admin routes: a JSON answer is Cache-Control: no-store, as every problem is", async () => {
  const app = adminRoot(
    service({
      rotateKey: () =>
        Promise.resolve({ previous: "a", publicKey: "b", untilHeight: 3, retirementSigned: true }),
      self: "site-a",
    }),
    [hashApiKey(KEY)],
  );
  for (
    const [path, init] of [
      ["/members/site-d/promote", { method: "POST" }],
      ["/members/site-d", { method: "DELETE" }],
      ["/leader", { method: "POST", body: JSON.stringify({ to: "site-b" }) }],
      ["/site-key", { method: "POST" }],
    ] as const
  ) {
    const res = await call(app, path, init);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("cache-control"), "no-store", path);
    await res.body?.cancel();
  }
});
