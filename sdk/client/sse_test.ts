import assert from "node:assert/strict";
import { SseParser } from "./sse.ts";

Deno.test("SseParser dispatches an event only at a blank line", () => {
  const p = new SseParser();
  assert.deepEqual(p.push('event: block\nid: 7\ndata: {"a":1}\n'), []);
  assert.deepEqual(p.push("\n"), [{ event: "block", id: "7", data: '{"a":1}' }]);
  assert.equal(p.lastEventId, "7");
});

Deno.test("SseParser gives the same dispatches for any chunking, CRLF split included", () => {
  const text =
    "\uFEFF: hi\r\nevent: block\r\nid: 1\r\ndata: x\r\ndata: y\r\n\r\nid: 2\r\n\r\ndata: z\n\n";
  const whole = new SseParser().push(text);
  for (let cut = 0; cut <= text.length; cut++) {
    const p = new SseParser();
    const got = [...p.push(text.slice(0, cut)), ...p.push(text.slice(cut))];
    assert.deepEqual(got, whole, `cut at ${cut}`);
  }
  assert.deepEqual(whole, [
    { event: "block", id: "1", data: "x\ny" },
    { event: "message", id: "2", data: undefined },
    { event: "message", id: "2", data: "z" },
  ]);
});

Deno.test("SseParser treats a bare id line as a data-less dispatch that moves the resume point", () => {
  const p = new SseParser();
  assert.deepEqual(p.push("id: 9\n\n"), [{ event: "message", id: "9", data: undefined }]);
  assert.equal(p.lastEventId, "9");
});

Deno.test("SseParser skips comments and ignores an id containing NUL", () => {
  const p = new SseParser({ lastEventId: "3" });
  assert.deepEqual(p.push(": heartbeat\n\n"), []);
  assert.deepEqual(p.push("id: 4\0\ndata: a\n\n"), [{ event: "message", id: "3", data: "a" }]);
});

Deno.test("SseParser refuses a line longer than lineCharsMax", () => {
  const p = new SseParser({ lineCharsMax: 10 });
  assert.throws(() => p.push("data: 0123456789"), RangeError);
});

Deno.test("SseParser refuses an event whose data lines together exceed lineCharsMax", () => {
  const p = new SseParser({ lineCharsMax: 10 });
  // Every line is short, but the event never ends: what the parser holds must stay bounded.
  assert.throws(() => {
    for (let i = 0; i < 100; i++) p.push("data:0123\n");
  }, RangeError);
});

Deno.test("SseParser counts each event's data afresh: many short events pass", () => {
  const p = new SseParser({ lineCharsMax: 10 });
  for (let i = 0; i < 100; i++) {
    assert.deepEqual(p.push("data:0123\ndata:4\n\n"), [{
      event: "message",
      id: "",
      data: "0123\n4",
    }]);
  }
});

Deno.test("SseParser reports retry: in milliseconds", () => {
  const p = new SseParser();
  assert.deepEqual(p.push("retry: 1500\ndata: a\n\n"), [
    { event: "message", id: "", data: "a", retryMs: 1500 },
  ]);
});
