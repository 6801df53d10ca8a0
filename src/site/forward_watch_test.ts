import assert from "node:assert/strict";
import { ForwardWatch } from "./forward_watch.ts";

Deno.test("ForwardWatch: a site that forwarded nothing, or whose forwards were all answered, knows nothing unanswered", () => {
  const w = new ForwardWatch();
  assert.equal(w.unansweredSince("site-a"), undefined);
  const f = w.started("site-a", 3);
  assert.equal(w.unansweredSince("site-a"), 3);
  w.answered(f, 4);
  assert.equal(w.unansweredSince("site-a"), undefined);
});

Deno.test("ForwardWatch: a forward on its way counts from its start; a failed one from its start until the leader answers another", () => {
  const w = new ForwardWatch();
  const first = w.started("site-a", 10);
  const second = w.started("site-a", 12);
  assert.equal(w.unansweredSince("site-a"), 10);
  w.failed(first);
  // Still the oldest: the retry that follows does not make the link younger.
  const retry = w.started("site-a", 110);
  assert.equal(w.unansweredSince("site-a"), 10);
  w.failed(second);
  w.failed(retry);
  assert.equal(w.unansweredSince("site-a"), 10, "nothing on its way, and no answer since tick 10");
  const answered = w.started("site-a", 200);
  w.answered(answered, 201);
  assert.equal(w.unansweredSince("site-a"), undefined, "an answer forgives the failures before it");
});

Deno.test("ForwardWatch: a forward still on its way when the leader answers a later one counts only from that answer (slow, not lost)", () => {
  const w = new ForwardWatch();
  const slow = w.started("site-a", 5);
  const quick = w.started("site-a", 6);
  w.answered(quick, 7);
  assert.equal(w.unansweredSince("site-a"), 7);
  w.answered(slow, 9);
  assert.equal(w.unansweredSince("site-a"), undefined);
});

Deno.test("ForwardWatch: forwards to another leader, and forwards dropped by this site, say nothing of the current leader's link", () => {
  const w = new ForwardWatch();
  const old = w.started("site-a", 1);
  w.failed(old);
  const dropped = w.started("site-a", 2);
  assert.equal(w.unansweredSince("site-b"), undefined, "site-a's failures are not site-b's");
  const toB = w.started("site-b", 3);
  assert.equal(w.unansweredSince("site-b"), 3);
  w.dropped(dropped);
  assert.equal(
    w.unansweredSince("site-a"),
    1,
    "the failure stands; the dropped forward adds nothing",
  );
  w.answered(toB, 4);
  assert.equal(w.unansweredSince("site-b"), undefined);
  // site-b's answer is not site-a's: site-a still owes one.
  assert.equal(w.unansweredSince("site-a"), 1);
  // A failure to a new leader replaces the old leader's.
  const toB2 = w.started("site-b", 8);
  w.failed(toB2);
  assert.equal(w.unansweredSince("site-b"), 8);
  assert.equal(w.unansweredSince("site-a"), undefined);
});

Deno.test("ForwardWatch: a leader is quiet when no forward to it is on its way and it answered none after the tick asked about", () => {
  const w = new ForwardWatch();
  assert.equal(w.quiet("site-a", 0), true, "never asked");
  const f = w.started("site-a", 5);
  assert.equal(w.quiet("site-a", 0), false, "one on its way will say");
  assert.equal(w.quiet("site-b", 0), true, "another leader's forwards say nothing of site-b");
  w.answered(f, 7);
  assert.equal(w.quiet("site-a", 6), false, "answered after tick 6");
  assert.equal(w.quiet("site-a", 7), true, "answered at tick 7, not after");
  const lost = w.started("site-a", 8);
  w.failed(lost);
  assert.equal(w.quiet("site-a", 7), true, "a failure is no answer: ask again");
});

Deno.test("ForwardWatch: a failure while a leader led before is forgotten once the site follows another leadership, so that leader's return counts from nothing", () => {
  const w = new ForwardWatch();
  // site-a led, and a forward to it failed; then site-b led (or this site did).
  w.failed(w.started("site-a", 10));
  w.reset();
  const toB = w.started("site-b", 20);
  w.answered(toB, 21);
  // site-a leads again: nothing said of it since.
  w.reset();
  assert.equal(w.unansweredSince("site-a"), undefined);
  assert.equal(w.quiet("site-a", 100), true, "so the site asks it");
  // A forward still on its way across the change counts on.
  const open = w.started("site-a", 200);
  w.reset();
  assert.equal(w.unansweredSince("site-a"), 200);
  w.answered(open, 201);
  assert.equal(w.unansweredSince("site-a"), undefined);
});
