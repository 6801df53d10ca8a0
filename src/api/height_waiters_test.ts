import assert from "node:assert/strict";
import { HeightWaiters } from "./height_waiters.ts";
import { LedgerError } from "./service.ts";

Deno.test("HeightWaiters: a height already applied is answered at once", async () => {
  const waiters = new HeightWaiters("site-a", () => 5);
  await waiters.wait(5, 1000);
  await waiters.wait(0, 1000);
  assert.equal(waiters.size, 0);
});

Deno.test("HeightWaiters: a read waits until its height is reached, not a lower one", async () => {
  let applied = 2;
  const waiters = new HeightWaiters("site-a", () => applied);
  let done = false;
  const read = waiters.wait(4, 5000).then(() => done = true);
  applied = 3;
  waiters.reached(3);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(done, false);
  applied = 5;
  waiters.reached(5);
  await read;
  assert.equal(done, true);
  assert.equal(waiters.size, 0);
});

Deno.test("HeightWaiters: a height not reached in time is 503 unavailable naming both heights", async () => {
  const waiters = new HeightWaiters("site-b", () => 7);
  await assert.rejects(waiters.wait(9, 20), (e) => {
    assert.ok(e instanceof LedgerError);
    assert.equal(e.type, "unavailable");
    assert.equal(e.status, 503);
    assert.deepEqual(e.extra, { height: 7, minHeight: 9, retryAfter: 1 });
    assert.match(e.message, /site-b has applied height 7, not 9, after waiting 20 ms/);
    return true;
  });
  assert.equal(waiters.size, 0);
});

Deno.test("HeightWaiters: an aborted read stops waiting with the signal's reason", async () => {
  const waiters = new HeightWaiters("site-a", () => 1);
  const abort = new AbortController();
  const read = waiters.wait(3, 5000, abort.signal);
  abort.abort(new Error("client went away"));
  await assert.rejects(read, /client went away/);
  assert.equal(waiters.size, 0);
});

Deno.test("HeightWaiters: closing refuses the waiting reads and later ones, not reads already satisfied", async () => {
  const waiters = new HeightWaiters("site-a", () => 1);
  const read = waiters.wait(3, 5000);
  waiters.close("is stopping");
  await assert.rejects(read, (e) => e instanceof LedgerError && e.status === 503);
  await assert.rejects(waiters.wait(2, 5000), /site-a is stopping/);
  await waiters.wait(1, 5000);
});

Deno.test("HeightWaiters: past waitingMax reads waiting, one more is 503 at once; the waiting ones still resolve", async () => {
  let applied = 0;
  const waiters = new HeightWaiters("site-a", () => applied, 2);
  const first = waiters.wait(1, 5000);
  const second = waiters.wait(2, 5000);
  await assert.rejects(waiters.wait(3, 5000), /has 2 reads waiting for a height already/);
  // A height already applied never waits, so it is never refused for room.
  await waiters.wait(0, 5000);
  applied = 2;
  waiters.reached(2);
  await Promise.all([first, second]);
  assert.equal(waiters.size, 0);
});
