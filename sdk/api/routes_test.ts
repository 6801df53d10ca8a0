import assert from "node:assert/strict";
import fc from "fast-check";
import { Base64Url } from "./schemas.ts";
import { base64urlByteLength, base64urlDecode, base64urlEncode } from "../encoding.ts";
import {
  CHECKPOINT_EXAMPLE,
  decimalInt,
  PROBLEM_TYPES,
  problemTitle,
  problemTypeUri,
  ROUTES,
  SubmitBody,
} from "./routes.ts";
import { OpenAPIHono } from "@hono/zod-openapi";
import { parseCheckpoint } from "../checkpoint.ts";
import { parseNote } from "../note.ts";

Deno.test("PROBLEM_TYPES lists every slug the API, the admin routes and the site's admission use, each with a title and status", () => {
  const required = [
    "validation",
    "not_found",
    "payload_too_large",
    "unsupported_media_type",
    "rate_limited",
    "internal",
    "unavailable",
    "wrong_ledger",
    "unknown_kind",
    "invalid_body",
    "invalid_envelope",
    "expired",
    "expires_too_far",
    "bad_signature",
    "revoked_signer",
    "duplicate",
    "envelope_too_large",
    "unauthorized_signer",
    "unsupported_rules",
    "proof_unavailable",
    "invalid_range",
    "commit_timeout",
    "not_leader",
    "insufficient_storage",
    "conflict",
  ];
  for (const slug of required) assert.ok(slug in PROBLEM_TYPES, slug);
  for (const [slug, { title, status }] of Object.entries(PROBLEM_TYPES)) {
    assert.match(slug, /^[a-z_]+$/);
    assert.ok(title.length > 0 && title[0] === title[0].toUpperCase(), slug);
    assert.ok(status >= 400 && status < 600, slug);
  }
});

Deno.test("problemTypeUri() is https://edgeledger.dev/problems/<slug>", () => {
  assert.equal(problemTypeUri("not_found"), "https://edgeledger.dev/problems/not_found");
});

Deno.test("decimalInt() accepts only plain decimal integers in range", () => {
  const schema = decimalInt(0, 1000);
  for (const ok of ["0", "7", "1000"]) assert.ok(schema.safeParse(ok).success, ok);
  for (
    const bad of ["", "-1", "+1", "01", "1e3", "0x10", " 1", "1.0", "1001", "99999999999999999"]
  ) {
    assert.ok(!schema.safeParse(bad).success, bad);
  }
  assert.equal(schema.parse("42"), 42);
});

Deno.test("decimalInt() calls a decimal beyond its max too big however many digits it has, and a malformed one malformed", () => {
  const messages = (schema: ReturnType<typeof decimalInt>, value: string) =>
    schema.safeParse(value).error?.issues.map((i) => i.message);
  const largest = Number.MAX_SAFE_INTEGER;
  for (const big of ["99999999999999999999", "9007199254740992", "9".repeat(400)]) {
    assert.deepEqual(messages(decimalInt(0), big), [`Too big: expected number to be <=${largest}`]);
    assert.deepEqual(messages(decimalInt(1, 1000), big), ["Too big: expected number to be <=1000"]);
  }
  assert.equal(decimalInt(0).parse(String(largest)), largest);
  for (const bad of ["-1", "01", "1e30", "0x10", "9".repeat(20) + "x"]) {
    assert.deepEqual(
      messages(decimalInt(0), bad),
      ["Must be a decimal integer without sign, exponent or leading zero"],
      bad,
    );
  }
});

Deno.test("SubmitBody: an object is one envelope, { txs } a batch of 1..1000 objects, nothing else", () => {
  assert.ok(SubmitBody.safeParse({ v: 1, anything: true }).success);
  assert.ok(SubmitBody.safeParse({ txs: [{}] }).success);
  assert.ok(!SubmitBody.safeParse({ txs: [] }).success);
  assert.ok(!SubmitBody.safeParse({ txs: [{}], v: 1 }).success);
  assert.ok(!SubmitBody.safeParse([{}]).success);
  assert.ok(!SubmitBody.safeParse("tx").success);
});

Deno.test("ROUTES: every route answers problems as application/problem+json and has an operationId", () => {
  for (const [name, route] of Object.entries(ROUTES)) {
    assert.equal(route.operationId, name);
    for (const [status, response] of Object.entries(route.responses)) {
      if (Number(status) < 400) continue;
      assert.ok(
        "content" in response && response.content && "application/problem+json" in response.content,
        `${name} ${status}`,
      );
    }
  }
});

Deno.test("getCheckpoint's OpenAPI example is a real signed checkpoint: it parses as a note and a tlog-checkpoint with height and block lines", () => {
  const app = new OpenAPIHono();
  app.openapi(ROUTES.getCheckpoint, (c) => c.text(CHECKPOINT_EXAMPLE, 200));
  const doc = app.getOpenAPI31Document({ openapi: "3.1.0", info: { title: "t", version: "1" } });
  const served = doc.paths?.["/v1/checkpoint"]?.get?.responses?.["200"] as {
    content: { "text/plain": { schema: { example?: string } } };
  };
  assert.equal(served.content["text/plain"].schema.example, CHECKPOINT_EXAMPLE);
  const { text, signatures } = parseNote(CHECKPOINT_EXAMPLE);
  assert.deepEqual(signatures.map((s) => s.name), ["site-a", "site-b"]);
  assert.ok(signatures.every((s) => s.signature.length === 64));
  const checkpoint = parseCheckpoint(text);
  assert.equal(checkpoint.origin, "edgeledger.local/demo");
  assert.equal(checkpoint.size, 42);
  assert.equal(checkpoint.height, 7);
  assert.match(checkpoint.blockHash, /^[0-9a-f]{64}$/);
});

Deno.test("submitTxs documents what the site serves: no 504 (a timed-out wait=commit is 202 pending) and no 409 duplicate (a resubmission gets its receipt)", () => {
  const statuses = Object.keys(ROUTES.submitTxs.responses);
  assert.ok(statuses.includes("202"));
  assert.ok(!statuses.includes("504"));
  assert.ok(!statuses.includes("409"));
});

Deno.test("Base64Url accepts exactly the strings base64urlDecode decodes (no 4n+1 length, no stray trailing bits)", () => {
  for (const bad of ["A", "AAAAA", "AB", "AAB", "AA=", "A+", "A/"]) {
    assert.equal(Base64Url.safeParse(bad).success, false, bad);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      assert.equal(Base64Url.safeParse(base64urlEncode(bytes)).success, true);
    }),
  );
  fc.assert(
    fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{0,12}$/), (s) => {
      let decodes = true;
      try {
        base64urlDecode(s);
      } catch {
        decodes = false;
      }
      assert.equal(Base64Url.safeParse(s).success, decodes, s);
      assert.equal(base64urlByteLength(s) !== undefined, decodes, s);
    }),
  );
});

Deno.test("problemTitle: one title per type — the catalogue's for a slug or its URI, the given one for a type outside it", () => {
  assert.equal(problemTitle("invalid_range", "Not in a checkpoint yet"), "Invalid range");
  assert.equal(problemTitle(problemTypeUri("unavailable"), "Site stopping"), "Service unavailable");
  assert.equal(problemTitle("https://example.com/other", "Other"), "Other");
  assert.equal(problemTitle("toString", "x"), "x", "no inherited member is a slug");
});
