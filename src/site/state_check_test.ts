import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { generateKeyPair } from "../../sdk/keys.ts";
import { anchorTx, openTestSite, recordingLogger } from "../../test/_helpers.ts";
import { NativeSnapshot } from "../storage/native.ts";
import {
  hashState,
  parseStateDigestAnswer,
  StateChecks,
  type StateDigest,
  type StateDigestAnswer,
} from "./state_check.ts";
import type { Site } from "./site.ts";

const device = generateKeyPair("ed25519");

/** Blocks of `size` anchors each until the site's height is at least `height`. */
async function commitTo(
  t: Awaited<ReturnType<typeof openTestSite>>,
  height: number,
  size = 3,
): Promise<void> {
  while (t.site.head.header.height < height) {
    const envs = await Promise.all(Array.from({ length: size }, () => anchorTx(device)));
    await t.site.submit(envs, { wait: true, waitTimeoutMs: 10_000 });
  }
}

async function exec(t: Awaited<ReturnType<typeof openTestSite>>, sql: string, args: unknown[]) {
  // deno-lint-ignore no-explicit-any
  await t.site.store.database.client.execute({ sql, args: args as any });
}

/**
 * The state hash computed here: every row in (ns, key) order, each field as
 * its UTF-8 length, a colon and its bytes — keys read as bytes, since libSQL
 * hands TEXT back cut at its first U+0000.
 */
async function expectedHash(t: Awaited<ReturnType<typeof openTestSite>>) {
  const { rows } = await t.site.store.database.client.execute(
    "SELECT ns, CAST(key AS BLOB) AS key, value FROM state ORDER BY ns, key",
  );
  const digest = createHash("sha256");
  const field = (v: string) => `${new TextEncoder().encode(v).length}:${v}`;
  for (const r of rows) {
    const key = new TextDecoder().decode(new Uint8Array(r.key as ArrayBuffer));
    digest.update(field(String(r.ns)) + field(key) + field(String(r.value)));
  }
  return { hash: digest.digest("hex"), rows: rows.length };
}

Deno.test("state hash: SHA-256 over every row in (ns, key) order, each field as its UTF-8 length, a colon and its bytes, paged; one changed value changes it", async () => {
  const t = await openTestSite();
  try {
    await commitTo(t, 3);
    await exec(t, "INSERT INTO state (ns, key, value) VALUES ('zz.test', ?, ?)", [
      "caf\u00e9\u0000\u{1F4E1}",
      '{"name":"\u00e9t\u00e9"}',
    ]);
    // More rows than one page, inserted out of order.
    for (let i = 2499; i >= 0; i--) {
      await exec(t, "INSERT INTO state (ns, key, value) VALUES ('zz.test', ?, ?)", [
        `k${String(i).padStart(5, "0")}`,
        `{"i":${i}}`,
      ]);
    }
    const expected = await expectedHash(t);
    const rows = { length: expected.rows };
    const path = `${t.dir}/ledger.db`;
    const first = new NativeSnapshot(path);
    const got = await hashState(first).finally(() => first.close());
    assert.equal(got.rows, rows.length);
    assert.equal(got.hash, expected.hash);

    await exec(t, "UPDATE state SET value = '{\"i\":-1}' WHERE key = 'k01234'", []);
    const second = new NativeSnapshot(path);
    const changed = await hashState(second).finally(() => second.close());
    assert.equal(changed.rows, got.rows);
    assert.notEqual(changed.hash, got.hash);
  } finally {
    await t.cleanup();
  }
});

Deno.test("state hash: a page that ends on a key holding U+0000 (a data.anchor key) is followed by the rows after it, and such keys are hashed whole", async () => {
  const t = await openTestSite();
  try {
    // More rows than a page under one stream, keyed as data.anchor keys are.
    for (let i = 0; i < 1500; i++) {
      await exec(t, "INSERT INTO state (ns, key, value) VALUES ('data.anchor', ?, ?)", [
        `truck-17\u0000${i.toString(16).padStart(16, "0")}`,
        `{"seq":${i}}`,
      ]);
    }
    const expected = await expectedHash(t);
    const snap = new NativeSnapshot(`${t.dir}/ledger.db`);
    // Bounded: with keys cut at U+0000 the second page started over from the first.
    const got = await hashState(snap, AbortSignal.timeout(10_000)).finally(() => snap.close());
    assert.equal(got.rows, expected.rows);
    assert.equal(got.hash, expected.hash);
  } finally {
    await t.cleanup();
  }
});

Deno.test("state digest answers: a digest for another height, a hash that is no SHA-256 or an unknown status is refused", () => {
  const hash = "ab".repeat(32);
  assert.deepEqual(
    parseStateDigestAnswer(
      JSON.stringify({ status: "ok", digest: { height: 5, hash, rows: 2 } }),
      5,
    ),
    { status: "ok", digest: { height: 5, hash, rows: 2 } },
  );
  assert.deepEqual(parseStateDigestAnswer('{"status":"pending"}', 5), { status: "pending" });
  assert.deepEqual(parseStateDigestAnswer('{"status":"none"}', 5), { status: "none" });
  for (
    const bad of [
      { status: "ok", digest: { height: 6, hash, rows: 2 } },
      { status: "ok", digest: { height: 5, hash: "AB".repeat(32), rows: 2 } },
      { status: "ok", digest: { height: 5, hash, rows: -1 } },
      { status: "ok" },
      { status: "later" },
    ]
  ) {
    assert.throws(() => parseStateDigestAnswer(JSON.stringify(bad), 5), /Not a state digest/);
  }
});

Deno.test("state check: a site hashes its state as of each multiple of stateCheckBlocks, says pending for one it has not reached and none for others, and compares with its peers — one that differs is named in status, metrics and an error log line, one that agrees or has none is not", async () => {
  const rec = recordingLogger({ site: "site-a" });
  const t = await openTestSite({ stateCheckBlocks: 2, stateCheckRetryMs: 50, log: rec.log });
  try {
    // Peers: one agrees, one differs, one is pending once then agrees, one never has it.
    let pendingOnce = true;
    const asked: string[] = [];
    t.site.stateChecks.attachPeers({
      others: () => ["site-b", "site-c", "site-d", "site-e"],
      fetch: (member, height): Promise<StateDigestAnswer> => {
        asked.push(`${member}@${height}`);
        const ours = t.site.stateChecks.answer(height);
        assert.equal(ours.status, "ok");
        const digest = (ours as { digest: { height: number; hash: string; rows: number } }).digest;
        if (member === "site-c") {
          return Promise.resolve({ status: "ok", digest: { ...digest, hash: "00".repeat(32) } });
        }
        if (member === "site-d" && pendingOnce) {
          pendingOnce = false;
          return Promise.resolve({ status: "pending" });
        }
        if (member === "site-e") return Promise.resolve({ status: "none" });
        return Promise.resolve({ status: "ok", digest });
      },
    });
    assert.deepEqual(t.site.stateChecks.answer(2), { status: "pending" }, "not reached yet");
    assert.deepEqual(t.site.stateChecks.answer(3), { status: "none" }, "not a checked height");
    await commitTo(t, 2, 3);
    // The hash at 2 is the state as of block 2, even once later blocks are written.
    const at2 = await waitAnswer(t.site.stateChecks, 2);
    const snap = new NativeSnapshot(`${t.dir}/ledger.db`);
    const now = await hashState(snap).finally(() => snap.close());
    assert.equal(at2.hash, now.hash, "nothing was written after block 2 yet");
    await commitTo(t, 3, 3);
    assert.deepEqual(t.site.stateChecks.answer(2).status, "ok");
    const later = new NativeSnapshot(`${t.dir}/ledger.db`);
    assert.notEqual((await hashState(later).finally(() => later.close())).hash, at2.hash);

    const status = await waitFor(async () => {
      const s = await t.site.status();
      return (s.stateDivergence as unknown[] | undefined)?.length === 1 &&
          asked.filter((a) => a === "site-d@2").length === 2
        ? s
        : undefined;
    });
    assert.deepEqual(status.stateDivergence, [{
      site: "site-c",
      height: 2,
      ours: at2.hash,
      theirs: "00".repeat(32),
    }]);
    const metrics = t.site.metrics();
    assert.match(metrics, /^edgeledger_state_check_height 2$/m);
    assert.match(metrics, /^edgeledger_state_divergent_members 1$/m);
    // site-b and site-d agreed, site-c differed, site-e had none.
    assert.match(metrics, /^edgeledger_state_comparisons_total\{result="agreed"\} 2$/m);
    assert.match(metrics, /^edgeledger_state_comparisons_total\{result="differed"\} 1$/m);
    const [line] = rec.said("state differs from a member's");
    assert.equal(line.level, "error");
    assert.equal(line.member, "site-c");
    assert.equal(line.height, 2);
    assert.equal(rec.said("state differs from a member's").length, 1);
  } finally {
    await t.cleanup();
  }
});

Deno.test("state check: a restart keeps the hashes peers may ask for and each member's verdict (a difference stays reported), and finishes a comparison it cut short", async () => {
  const t = await openTestSite({ stateCheckBlocks: 2, stateCheckRetryMs: 20 });
  let reopened: Site | undefined;
  try {
    // site-c differs; site-d has not hashed height 2 yet when the site stops.
    t.site.stateChecks.attachPeers({
      others: () => ["site-b", "site-c", "site-d"],
      fetch: (member, height): Promise<StateDigestAnswer> => {
        const ours = t.site.stateChecks.answer(height) as { digest: StateDigest };
        if (member === "site-c") {
          return Promise.resolve({
            status: "ok",
            digest: { ...ours.digest, hash: "00".repeat(32) },
          });
        }
        if (member === "site-d") return Promise.resolve({ status: "pending" });
        return Promise.resolve({ status: "ok", digest: ours.digest });
      },
    });
    await commitTo(t, 2, 3);
    const at2 = await waitAnswer(t.site.stateChecks, 2);
    await waitFor(async () =>
      ((await t.site.status()).stateDivergence as unknown[] | undefined)?.length === 1
        ? true
        : undefined
    );
    await t.site.close();

    reopened = await t.reopen();
    const checks = reopened.stateChecks;
    // Before any peer is attached (or asked): what the first run found.
    assert.deepEqual(checks.answer(2), { status: "ok", digest: at2 });
    assert.deepEqual((await reopened.status()).stateDivergence, [
      { site: "site-c", height: 2, ours: at2.hash, theirs: "00".repeat(32) },
    ]);
    assert.match(reopened.metrics(), /^edgeledger_state_check_height 2$/m);
    assert.match(reopened.metrics(), /^edgeledger_state_divergent_members 1$/m);
    // Attached, it asks only the member with no verdict at 2 (site-d), which now has it.
    const asked: string[] = [];
    checks.attachPeers({
      others: () => ["site-b", "site-c", "site-d"],
      fetch: (member, height): Promise<StateDigestAnswer> => {
        asked.push(`${member}@${height}`);
        return Promise.resolve({ status: "ok", digest: at2 });
      },
    });
    await waitFor(() =>
      Promise.resolve(/result="agreed"\} 1$/m.test(reopened!.metrics()) ? true : undefined)
    );
    assert.deepEqual(asked, ["site-d@2"]);
    assert.equal(checks.divergent().length, 1, "site-c's difference stands until it agrees");
  } finally {
    await reopened?.close();
    await t.cleanup();
  }
});

Deno.test("state check: a site that checks nothing now takes back no verdict saved by an earlier run that did", async () => {
  const t = await openTestSite({ stateCheckBlocks: 2 });
  let reopened: Site | undefined;
  try {
    t.site.stateChecks.attachPeers({
      others: () => ["site-c"],
      fetch: (_member, height) => {
        const ours = t.site.stateChecks.answer(height) as { digest: StateDigest };
        return Promise.resolve({ status: "ok", digest: { ...ours.digest, hash: "00".repeat(32) } });
      },
    });
    await commitTo(t, 2);
    await waitFor(() =>
      Promise.resolve(t.site.stateChecks.divergent().length === 1 ? true : undefined)
    );
    await t.site.close();
    reopened = await t.reopen({ stateCheckBlocks: 0 });
    assert.deepEqual(reopened.stateChecks.divergent(), []);
    assert.deepEqual(reopened.stateChecks.answer(2), { status: "none" });
    assert.match(reopened.metrics(), /^edgeledger_state_check_height 0$/m);
  } finally {
    await reopened?.close();
    await t.cleanup();
  }
});

Deno.test("state check: with a storage worker writing the blocks, the hash at a checked height is the state as of that block too", async () => {
  const t = await openTestSite({ stateCheckBlocks: 3, storage: "worker" });
  try {
    await commitTo(t, 3, 4);
    const at3 = await waitAnswer(t.site.stateChecks, 3);
    const snap = new NativeSnapshot(`${t.dir}/ledger.db`);
    const now = await hashState(snap).finally(() => snap.close());
    assert.equal(now.hash, at3.hash);
    assert.equal(now.rows, at3.rows);
    await commitTo(t, 4, 4);
    assert.equal(
      (t.site.stateChecks.answer(3) as { digest: { hash: string } }).digest.hash,
      at3.hash,
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("state check: off (stateCheckBlocks 0, the default of a site opened in code) it hashes nothing and answers none", async () => {
  const t = await openTestSite();
  try {
    await commitTo(t, 4);
    assert.equal(t.site.stateChecks.due(2), false);
    assert.deepEqual(t.site.stateChecks.answer(2), { status: "none" });
    assert.match(t.site.metrics(), /^edgeledger_state_check_height 0$/m);
  } finally {
    await t.cleanup();
  }
});

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

function waitAnswer(checks: StateChecks, height: number) {
  return waitFor(() => {
    const a = checks.answer(height);
    return Promise.resolve(a.status === "ok" ? a.digest : undefined);
  });
}
