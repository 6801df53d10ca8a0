/**
 * Property tests of admission through `POST /v1/txs` on a real site:
 * arbitrary JSON, arbitrary bytes and envelopes with one field mutated are
 * refused with a catalogued `application/problem+json` 4xx, never a 5xx,
 * never a commit, never an error in the site's log; shuffling the key order
 * of a submitted envelope keeps its transaction id.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { PROBLEM_TYPES } from "../sdk/api/routes.ts";
import { canonicalJson } from "../sdk/canonical_json.ts";
import { type Envelope, transactionId } from "../sdk/envelope.ts";
import { hexEncode } from "../sdk/encoding.ts";
import { testGenesis } from "./_helpers.ts";
import { openTestSite, recordingLogger } from "./_helpers.ts";
import { OPEN_KINDS } from "./_kinds_helpers.ts";
import { fixedKey, runs, signedTx } from "./_props.ts";

const SIGNER = fixedKey(7, 3);

type App = Awaited<ReturnType<typeof openTestSite>>["app"];

/** A site whose every log record is kept, so a test can say nothing was logged at `error`. */
async function recordedSite() {
  const key = fixedKey(98);
  const logs = recordingLogger({ site: "site-a" });
  const t = await openTestSite({
    key,
    genesis: testGenesis(key, "demo", OPEN_KINDS),
    log: logs.log,
  });
  return { ...t, logs };
}

async function post(app: App, body: BodyInit, type = "application/json") {
  const res = await app.request("/v1/txs", {
    method: "POST",
    headers: { "content-type": type },
    body,
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type") ?? "", text };
}

/** Asserts `r` is a problem of the catalogue served with the catalogue's status. */
function assertCatalogued(r: { status: number; type: string; text: string }): string {
  assert.ok(r.status >= 400 && r.status < 500, `expected a 4xx, got ${r.status}: ${r.text}`);
  assert.match(r.type, /^application\/problem\+json/, r.text);
  const p = JSON.parse(r.text);
  const slug = String(p.type).replace("https://edgeledger.dev/problems/", "");
  const entry = (PROBLEM_TYPES as Record<string, { status: number }>)[slug];
  assert.ok(entry !== undefined, `type ${p.type} is not in the catalogue`);
  assert.equal(p.status, r.status);
  assert.equal(entry.status, r.status, `${slug} served with ${r.status}`);
  return slug;
}

/** Asserts nothing reached the log, nothing was pending, and no error was logged. */
async function assertNothingHappened(t: Awaited<ReturnType<typeof recordedSite>>) {
  const status = await (await t.app.request("/v1/status")).json();
  assert.equal(status.height, 0, "nothing committed");
  const errors = t.logs.records.filter((r) => r.level === "error");
  assert.deepEqual(errors, [], "the site logged no error");
}

function anchor(seq = 1): Envelope {
  return signedTx(
    "data.anchor",
    {
      stream: "truck-1/temp",
      seq,
      root: hexEncode(new Uint8Array(32).fill(7)),
      count: 3,
      from: 1,
      to: 2,
    },
    [SIGNER],
    { expiresAt: Date.now() + 3600_000 },
  );
}

Deno.test("admission props: any JSON value as a POST /v1/txs body is a catalogued 4xx problem, never a 5xx or a commit", async () => {
  const t = await recordedSite();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.jsonValue(),
          fc.jsonValue().map((v) => ({ txs: [v] })),
          fc.dictionary(
            fc.constantFrom("v", "ledger", "kind", "body", "nonce", "expiresAt", "signers", "sigs"),
            fc.jsonValue(),
          ),
        ),
        async (value) => {
          const r = await post(t.app, JSON.stringify(value));
          if (r.status === 200) {
            // A batch: each receipt refused with a catalogued problem.
            const { receipts } = JSON.parse(r.text);
            for (const rc of receipts) assert.equal(rc.status, "refused", r.text);
            return;
          }
          assertCatalogued(r);
        },
      ),
      { numRuns: runs(150) },
    );
    await assertNothingHappened(t);
  } finally {
    await t.cleanup();
  }
});

Deno.test("admission props: arbitrary bytes as a POST /v1/txs body are a catalogued 4xx problem", async () => {
  const t = await recordedSite();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.string({ unit: "binary", maxLength: 200 }).map((s) => new TextEncoder().encode(s)),
        ),
        fc.constantFrom("application/json", "application/json; charset=utf-8", "text/plain"),
        async (bytes, type) => {
          assertCatalogued(await post(t.app, bytes.slice(), type));
        },
      ),
      { numRuns: runs(150) },
    );
    await assertNothingHappened(t);
  } finally {
    await t.cleanup();
  }
});

/** One change to a signed envelope (JSON value), as a path and what to do there. */
type Mutation =
  | { at: string[]; set: unknown }
  | { at: string[]; drop: true }
  | { at: string[]; extra: string; value: unknown }
  | { at: string[]; flip: number };

const TOP = ["v", "ledger", "kind", "body", "nonce", "expiresAt", "signers", "sigs"];
const BODY = ["stream", "seq", "root", "count", "from", "to"];

const pathArb: fc.Arbitrary<string[]> = fc.oneof(
  fc.constantFrom(...TOP).map((k) => [k]),
  fc.constantFrom(...BODY).map((k) => ["body", k]),
  fc.constantFrom<string[]>(["signers", "0"], ["sigs", "0"]),
);

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ at: pathArb, set: fc.jsonValue() }),
  fc.record({ at: pathArb, drop: fc.constant(true as const) }),
  fc.record({
    at: fc.constantFrom<string[]>([], ["body"]),
    extra: fc.string({ minLength: 1, maxLength: 8 }),
    value: fc.jsonValue(),
  }),
  fc.record({ at: pathArb, flip: fc.nat() }),
);

function mutate(env: Envelope, m: Mutation): unknown {
  const copy = structuredClone(env) as unknown as Record<string, unknown>;
  if ("extra" in m) {
    const where = (m.at.length === 0 ? copy : copy.body) as Record<string, unknown>;
    where[m.extra] = m.value;
    return copy;
  }
  let parent = copy as Record<string, unknown>;
  for (const k of m.at.slice(0, -1)) parent = parent[k] as Record<string, unknown>;
  const last = m.at[m.at.length - 1];
  if ("drop" in m) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else if ("set" in m) {
    parent[last] = m.set;
  } else {
    const v = parent[last];
    if (typeof v === "string" && v.length > 0) {
      const i = m.flip % v.length;
      const c = v.charCodeAt(i);
      parent[last] = v.slice(0, i) + String.fromCharCode(c === 0x41 ? 0x42 : 0x41) +
        v.slice(i + 1);
    } else if (typeof v === "number") parent[last] = v + 1 + (m.flip % 3);
    else parent[last] = null;
  }
  return copy;
}

Deno.test("admission props: a signed envelope with one field changed is refused (bad_signature or a schema problem), never admitted", async () => {
  const t = await recordedSite();
  const env = anchor();
  const original = canonicalJson(env);
  try {
    await fc.assert(
      fc.asyncProperty(mutationArb, async (m) => {
        const changed = mutate(env, m);
        let same = false;
        try {
          same = canonicalJson(changed) === original;
        } catch { /* not JSON-canonicalizable: must be refused all the same */ }
        fc.pre(!same);
        const r = await post(t.app, JSON.stringify(changed));
        const slug = assertCatalogued(r);
        assert.ok(
          [
            "bad_signature",
            "invalid_envelope",
            "invalid_body",
            "wrong_ledger",
            "unknown_kind",
            "expired",
            "expires_too_far",
            "envelope_too_large",
            "validation",
          ].includes(slug),
          `refused ${slug}: ${r.text}`,
        );
      }),
      { numRuns: runs(200) },
    );
    await assertNothingHappened(t);
  } finally {
    await t.cleanup();
  }
});

function shuffled(value: unknown, order: number[]): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffled(v, order));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  const out: [string, unknown][] = [];
  entries.forEach((e, i) => out.splice(order[i % order.length] % (out.length + 1), 0, e));
  return Object.fromEntries(out.map(([k, v]) => [k, shuffled(v, order)]));
}

Deno.test("admission props: a submitted envelope's key order does not change its transaction id", async () => {
  const t = await recordedSite();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        async (order, seq) => {
          const env = anchor(seq);
          const text = JSON.stringify(shuffled(env, order));
          const r = await post(t.app, text);
          assert.equal(r.status, 202, r.text);
          assert.equal(JSON.parse(r.text).txId, transactionId(env));
        },
      ),
      { numRuns: runs(20) },
    );
  } finally {
    await t.cleanup();
  }
});
