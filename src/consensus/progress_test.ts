import assert from "node:assert/strict";
import { AssertionError } from "./errors.ts";
import { Inflights, Progress } from "./progress.ts";

Deno.test("Inflights: a full window pauses and freeLE() frees acknowledged messages", () => {
  const w = new Inflights(3);
  w.add(5);
  w.add(7);
  w.add(9);
  assert.equal(w.full(), true);
  assert.throws(() => w.add(11), AssertionError);
  w.freeLE(7);
  assert.equal(w.count, 1);
  assert.equal(w.full(), false);
  assert.throws(() => w.add(8), AssertionError, "indexes must increase");
});

Deno.test("Progress: probe sends one message and waits", () => {
  const pr = new Progress(5, 4, false);
  assert.equal(pr.isPaused(), false);
  pr.probeSent = true;
  assert.equal(pr.isPaused(), true);
  assert.equal(pr.maybeUpdate(4), true);
  assert.equal(pr.isPaused(), false);
});

Deno.test("Progress.maybeDecrTo() ignores stale rejections and clamps the hint", () => {
  const pr = new Progress(10, 4, false);
  pr.match = 3;
  // In probe only a rejection of next - 1 counts.
  assert.equal(pr.maybeDecrTo(7, 2), false);
  assert.equal(pr.maybeDecrTo(9, 2), true);
  assert.equal(pr.next, 4, "never at or below match");
  pr.becomeReplicate();
  pr.next = 12;
  assert.equal(pr.maybeDecrTo(3, 1), false, "a rejection at or below match is stale");
  assert.equal(pr.maybeDecrTo(8, 1), true);
  assert.equal(pr.next, 4);
});

Deno.test("Progress: leaving the snapshot state resumes after the snapshot", () => {
  const pr = new Progress(2, 4, false);
  pr.becomeSnapshot(50);
  assert.equal(pr.isPaused(), true);
  pr.becomeProbe();
  assert.equal(pr.next, 51);
});
