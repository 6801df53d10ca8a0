import assert from "node:assert/strict";
import { base64urlDecode, base64urlEncode } from "../../sdk/encoding.ts";
import { generateKeyPair } from "../../sdk/keys.ts";
import { anchorTx, recordingLogger } from "../../test/_helpers.ts";
import { builtinContracts } from "../contracts/mod.ts";
import { admitStateless } from "./admission.ts";
import { AdmissionPool } from "./admission_pool.ts";

const policy = { ledger: "demo", expiryWindowMs: 24 * 3600_000, envelopeBytesMax: 65536 };

function flipSig<T extends { sigs: string[] }>(env: T, byte: number): T {
  const sig = base64urlDecode(env.sigs[0]);
  sig[byte % sig.length] ^= 1;
  return { ...env, sigs: [base64urlEncode(sig)] };
}

Deno.test("AdmissionPool judges signatures as the main thread does, good and bad, for every algorithm", async () => {
  const pool = new AdmissionPool(2);
  try {
    for (const alg of ["ed25519", "p256", "secp256k1"] as const) {
      const env = await anchorTx(generateKeyPair(alg));
      const good = await pool.admit(env, Date.now(), policy, true);
      assert.equal(good.ok && good.signatures?.ok, true, alg);
      const bad = await pool.admit(flipSig(env, 3), Date.now(), policy, true);
      assert.equal(bad.ok && bad.signatures?.ok, false, alg);
    }
  } finally {
    pool.close();
  }
});

Deno.test("AdmissionPool leaves signatures unchecked when asked to (forwarded envelopes)", async () => {
  const pool = new AdmissionPool(1);
  try {
    const env = flipSig(await anchorTx(generateKeyPair("ed25519")), 5);
    const verdict = await pool.admit(env, Date.now(), policy, false);
    assert.equal(verdict.ok, true);
    assert.equal(verdict.ok && verdict.signatures, undefined);
  } finally {
    pool.close();
  }
});

Deno.test("AdmissionPool refuses work once closed", async () => {
  const pool = new AdmissionPool(1);
  pool.close();
  const env = await anchorTx(generateKeyPair("ed25519"));
  await assert.rejects(() => pool.admit(env, Date.now(), policy, true), /shutting down/);
  assert.throws(() => new AdmissionPool(0), RangeError);
});

Deno.test("AdmissionPool refuses, on close, the calls that waited for room as well as those it held", async () => {
  // A worker that has not loaded answers nothing: the pool fills up.
  const workerUrl = new URL("./testdata/slow_admission_worker.ts?loadMs=60000", import.meta.url)
    .href;
  const pool = new AdmissionPool(1, { workerUrl });
  const held: Promise<unknown>[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // As many as the pool holds in flight for one worker (4096), then one that waits for room.
    for (let i = 0; i < 4096; i++) held.push(pool.admit({}, Date.now(), policy, true));
    const waiting = pool.admit({}, Date.now(), policy, true);
    await new Promise((r) => setTimeout(r, 20));
    pool.close();
    const rejections = await Promise.allSettled(held);
    assert.ok(rejections.every((r) => r.status === "rejected"));
    const settled = await Promise.race([
      waiting.then(() => "resolved", (e) => String(e)),
      new Promise<string>((r) => timer = setTimeout(() => r("never settled"), 2000)),
    ]);
    assert.match(settled, /shutting down/);
  } finally {
    clearTimeout(timer);
    pool.close();
  }
});

Deno.test("AdmissionPool answers many concurrent envelopes, refusals included, exactly as admitStateless does", async () => {
  const pool = new AdmissionPool(2);
  try {
    const now = Date.now();
    const envs: unknown[] = [];
    for (let i = 0; i < 60; i++) {
      const env = await anchorTx(generateKeyPair(i % 3 === 0 ? "p256" : "ed25519"));
      if (i % 4 === 1) envs.push(flipSig(env, i));
      else if (i % 7 === 2) envs.push({ ...env, sigs: [] });
      else if (i % 9 === 4) envs.push({ ...env, ledger: "other" });
      else if (i % 11 === 5) envs.push({ ...env, expiresAt: now - 1 });
      else if (i % 13 === 6) envs.push({ ...env, extra: true });
      else envs.push(env);
    }
    const got = await Promise.all(envs.map((e) => pool.admit(e, now, policy, true)));
    const registry = builtinContracts();
    const want = await Promise.all(envs.map((e) => admitStateless(e, now, policy, registry, true)));
    assert.deepEqual(got, want);
    assert.ok(got.some((v) => !v.ok) && got.some((v) => v.ok && v.signatures?.ok === false));
  } finally {
    pool.close();
  }
});

Deno.test("AdmissionPool matches each answer to its envelope when a worker gets several messages at once", async () => {
  // More jobs than one message holds, P-256 (awaited) and Ed25519 (not)
  // interleaved, a few bad: a worker gets several messages at once.
  const pool = new AdmissionPool(1);
  try {
    const keys = [generateKeyPair("p256"), generateKeyPair("ed25519")];
    const base = await Promise.all(keys.map((k) => anchorTx(k)));
    const envs = Array.from(
      { length: 1500 },
      (_, i) => i % 5 === 3 ? flipSig(base[i % 2], 10) : base[i % 2],
    );
    const got = await Promise.all(envs.map((e) => pool.admit(e, Date.now(), policy, true)));
    got.forEach((v, i) => assert.equal(v.ok && v.signatures?.ok, i % 5 !== 3, `envelope ${i}`));
  } finally {
    pool.close();
  }
});

Deno.test("AdmissionPool gives a light load to its first worker and spreads a backlog over all", async () => {
  const pool = new AdmissionPool(2);
  try {
    const key = generateKeyPair("ed25519");
    const envs = await Promise.all(Array.from({ length: 200 }, () => anchorTx(key)));
    // One at a time: the first worker never has a backlog.
    for (const e of envs.slice(0, 20)) await pool.admit(e, Date.now(), policy, true);
    assert.deepEqual(pool.jobsGiven, [20, 0]);
    // A burst: past the first worker's backlog bound, jobs go to the second.
    const verdicts = await Promise.all(envs.map((e) => pool.admit(e, Date.now(), policy, true)));
    assert.ok(verdicts.every((v) => v.ok && v.signatures?.ok));
    const [first, second] = pool.jobsGiven;
    assert.equal(first + second, 220);
    assert.ok(second >= 50, `the second worker took ${second} of the burst`);
  } finally {
    pool.close();
  }
});

Deno.test("AdmissionPool answers the jobs of a worker that died unavailable and goes on with a new one, logging it once", async () => {
  const workerUrl = new URL("./testdata/failing_admission_worker.ts", import.meta.url).href;
  const rec = recordingLogger();
  const pool = new AdmissionPool(1, { workerUrl, log: rec.log });
  try {
    const env = await anchorTx(generateKeyPair("ed25519"));
    // Queued in one turn, so both travel in the message that kills the worker.
    const lost = [
      pool.admit("crash", Date.now(), policy, true),
      pool.admit(env, Date.now(), policy, true),
    ];
    for (const p of lost) {
      await assert.rejects(() => p, (e) => (e as { type?: string }).type === "unavailable");
    }
    const after = await pool.admit(env, Date.now(), policy, true);
    assert.equal(after.ok && after.signatures?.ok, true);
    const failed = rec.said("admission worker failed; starting another");
    assert.equal(failed.length, 1);
    assert.equal(failed[0].worker, 0);
    assert.match(failed[0].reason as string, /admission worker crashed/);
  } finally {
    pool.close();
  }
});

Deno.test("AdmissionPool.ready() resolves once every worker has loaded", async () => {
  const pool = new AdmissionPool(2);
  try {
    await pool.ready(30_000);
    const env = await anchorTx(generateKeyPair("ed25519"));
    const v = await pool.admit(env, Date.now(), policy, true);
    assert.equal(v.ok && v.signatures?.ok, true);
  } finally {
    pool.close();
  }
});

Deno.test("AdmissionPool.ready() waits for a worker that loads slowly, and rejects when one has not loaded within its timeout", async () => {
  const slowWorker = (loadMs: number) =>
    new URL(`./testdata/slow_admission_worker.ts?loadMs=${loadMs}`, import.meta.url).href;
  const slow = new AdmissionPool(2, { workerUrl: slowWorker(400) });
  try {
    const started = performance.now();
    await slow.ready(30_000);
    const waitedMs = performance.now() - started;
    assert.ok(waitedMs >= 350, `ready() resolved after ${waitedMs} ms, before the workers loaded`);
    const env = await anchorTx(generateKeyPair("ed25519"));
    const v = await slow.admit(env, Date.now(), policy, true);
    assert.equal(v.ok && v.signatures?.ok, true);
  } finally {
    slow.close();
  }
  const late = new AdmissionPool(1, { workerUrl: slowWorker(5_000) });
  try {
    await assert.rejects(
      () => late.ready(50),
      /^Error: Cannot start the admission workers: not loaded in 50 ms$/,
    );
  } finally {
    late.close();
  }
});

Deno.test("AdmissionPool.ready() rejects when a worker's module cannot load, and such a worker is not started again in a tight loop", async () => {
  const workerUrl = new URL("./testdata/unloadable_admission_worker.ts", import.meta.url).href;
  const rec = recordingLogger();
  const pool = new AdmissionPool(1, { workerUrl, log: rec.log });
  try {
    await assert.rejects(
      () => pool.ready(30_000),
      /Cannot start the admission workers: .*this admission worker cannot load/,
    );
    // Tries again after 250 ms, 500 ms, 1 s, …: a handful in a second, not hundreds.
    await new Promise((r) => setTimeout(r, 1000));
    const failed = rec.said("admission worker failed to load");
    assert.ok(failed.length >= 2 && failed.length <= 4, `${failed.length} load failures logged`);
    assert.deepEqual(failed.map((f) => f.failuresInARow), failed.map((_, i) => i + 1));
  } finally {
    pool.close();
  }
});
