import assert from "node:assert/strict";
import fc from "fast-check";
import { Hono } from "hono";
import {
  duplicateMember,
  JsonShapeError,
  repeatedMembers,
  requestSizeLimit,
} from "./middleware.ts";

Deno.test("duplicateMember: JSON with unique names in every object has none, whatever the nesting and the strings", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      assert.equal(duplicateMember(JSON.stringify(value)), undefined);
      assert.equal(duplicateMember(JSON.stringify(value, null, 2)), undefined);
    }),
    { numRuns: 500 },
  );
});

Deno.test("duplicateMember: a repeated name is found in any object, also written with escapes", () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }),
      fc.nat(),
      fc.jsonValue(),
      (obj, pick, other) => {
        const names = Object.keys(obj);
        const name = names[pick % names.length];
        const text = JSON.stringify(obj);
        // The same name again, as the last member of the object.
        const repeated = `${text.slice(0, -1)},${JSON.stringify(name)}:${JSON.stringify(other)}}`;
        assert.equal(duplicateMember(repeated), name);
        // Nested inside an array inside another object.
        assert.equal(duplicateMember(`{"a":[1,{"b":2},${repeated}],"z":"}"}`), name);
      },
    ),
    { numRuns: 300 },
  );
  assert.equal(duplicateMember('{"ledger":"a","\\u006cedger":"b"}'), "ledger");
  assert.equal(duplicateMember('{"a":{"x":1},"b":{"x":2}}'), undefined, "one name per object");
  assert.equal(duplicateMember('{"a":"{\\"a\\":1,\\"a\\":2}"}'), undefined, "inside a string");
  assert.equal(duplicateMember('[{"a":1},{"a":1}]'), undefined, "two objects in an array");
});

Deno.test("repeatedMembers: every repeat is reported, with the path of the object that repeats it", () => {
  const text = '{"txs":[{"a":1},{"a":1,"a":2,"a":3},{"b":{"c":[0,{"d":1,"d":2}]}}],"e":1,"e":2}';
  assert.deepEqual([...repeatedMembers(text)], [
    { name: "a", path: ["txs", 1] },
    { name: "a", path: ["txs", 1] },
    { name: "d", path: ["txs", 2, "b", "c", 1] },
    { name: "e", path: [] },
  ]);
  // Whitespace, and commas and brackets inside strings, move no index.
  assert.deepEqual([...repeatedMembers('[ "[,]" , 1 ,\n{ "x" : "{,}" , "x" : 0 } ]')], [
    { name: "x", path: [2] },
  ]);
  assert.deepEqual([...repeatedMembers('{"a":"\\"","a":1}')], [{ name: "a", path: [] }]);
  assert.deepEqual([...repeatedMembers('{"a\\\\":1,"a\\\\":2}')], [{ name: "a\\", path: [] }]);
  assert.deepEqual([...repeatedMembers(JSON.stringify({ txs: [{ a: 1 }, { a: 2 }] }))], []);
});

Deno.test("repeatedMembers: pathLengthMax keeps the first entries of each path, so reading every repeat of a deep body stays linear", () => {
  const text = '{"txs":[{"b":{"c":[0,{"d":1,"d":2}]}}]}';
  assert.deepEqual([...repeatedMembers(text, { pathLengthMax: 2 })], [{
    name: "d",
    path: ["txs", 0],
  }]);
  assert.deepEqual([...repeatedMembers(text, { pathLengthMax: 0 })], [{ name: "d", path: [] }]);
  // 40,000 open arrays around an object with 10,000 repeats: copying the whole
  // path for each repeat took seconds; the first two entries take milliseconds.
  const depth = 40_000;
  const inner = '{"a":0' + ',"a":0'.repeat(10_000) + "}";
  const deep = '{"txs":[' + "[".repeat(depth) + inner + "]".repeat(depth) + "]}";
  const started = performance.now();
  let count = 0;
  for (const { path } of repeatedMembers(deep, { pathLengthMax: 2 })) {
    assert.equal(path.length, 2);
    count++;
  }
  assert.equal(count, 10_000);
  assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
});

/** A request to `path` whose body comes as `chunks` with no `Content-Length` (chunked on the wire). */
function chunkedRequest(path: string, chunks: string[], method = "POST"): Request {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      controller.close();
    },
  });
  return new Request(`http://site${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body,
    duplex: "half",
  } as RequestInit);
}

Deno.test("requestSizeLimit(): a chunked body that fits is read by c.req.json(), text() and arrayBuffer() as sent, and the request served is never copied (a copy reads Deno.serve's request signal, and Deno warns on stderr)", async () => {
  const request = chunkedRequest("/v1/txs", ['{"a":', '"é",', '"b":[1,2]}']);
  const app = new Hono();
  app.use(requestSizeLimit({ requestBytesMax: 1024 }));
  let same: boolean | undefined;
  app.post("/v1/txs", async (c) => {
    same = c.req.raw === request;
    const json = await c.req.json();
    const text = await c.req.text();
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    return c.json({ json, text, bytes: bytes.length });
  });
  const res = await app.request(request);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {
    json: { a: "é", b: [1, 2] },
    text: '{"a":"é","b":[1,2]}',
    bytes: new TextEncoder().encode('{"a":"é","b":[1,2]}').length,
  });
  assert.equal(same, true, "the handler sees the request as it was served");
});

Deno.test("requestSizeLimit(): a chunked body over the limit is answered 413 payload_too_large; so is a Content-Length over it, unread", async () => {
  const app = new Hono();
  app.use(requestSizeLimit({ requestBytesMax: 1024 }));
  app.post("/v1/txs", (c) => c.text("taken"));
  const chunked = await app.request(chunkedRequest("/v1/txs", ["x".repeat(600), "x".repeat(600)]));
  assert.equal(chunked.status, 413);
  assert.equal((await chunked.json()).limitBytes, 1024);
  const sized = await app.request("/v1/txs", {
    method: "POST",
    headers: { "content-length": "2000" },
    body: "x".repeat(2000),
  });
  assert.equal(sized.status, 413);
  await sized.body?.cancel();
  const fits = await app.request(chunkedRequest("/v1/txs", ["x".repeat(1024)]));
  assert.equal(await fits.text(), "taken");
});

Deno.test("repeatedMembers: with limits it stops at the first object or array nested beyond depthMax, or the first object with more than membersMax names; at the limits it reads on", () => {
  const nested = (depth: number) => "[".repeat(depth - 1) + '{"a":1}' + "]".repeat(depth - 1);
  const wide = (n: number) =>
    "{" + Array.from({ length: n }, (_, i) => `"k${i}":0`).join(",") + "}";
  const limits = { depthMax: 8, membersMax: 5 };
  assert.equal(duplicateMember(nested(8), limits), undefined);
  assert.equal(duplicateMember(wide(5), limits), undefined);
  assert.throws(() => duplicateMember(nested(9), limits), JsonShapeError);
  assert.throws(
    () => duplicateMember(wide(6), limits),
    (e: Error) => e instanceof JsonShapeError && /more than 5 members/.test(e.message),
  );
  // Repeats do not count twice, and the limit is per object.
  assert.equal(duplicateMember('{"a":1,"a":2}', { membersMax: 1 }), "a");
  assert.equal(duplicateMember(`[${wide(5)},${wide(5)}]`, limits), undefined);
  // The first offence ends the scan: the rest of the text is not read.
  assert.throws(() => duplicateMember(nested(9) + "junk that is not JSON", limits), JsonShapeError);
});
