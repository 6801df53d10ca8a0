import assert from "node:assert/strict";
import fc from "fast-check";
import { duplicateMember } from "./middleware.ts";

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
