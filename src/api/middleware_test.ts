import assert from "node:assert/strict";
import fc from "fast-check";
import { duplicateMember, repeatedMembers } from "./middleware.ts";

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
