import assert from "node:assert/strict";
import { EnvelopeError } from "../envelope.ts";
import { generateKeyPair } from "../keys.ts";
import { buildTx, knownKinds } from "./build.ts";

const key = generateKeyPair("ed25519");

Deno.test("buildTx() builds an envelope whose body is exactly the one given", () => {
  const body = { stream: "s", seq: 1, root: "ab".repeat(32), count: 1, from: 1, to: 2 };
  const env = buildTx("data.anchor", body, { ledger: "demo", signers: [key.did] });
  assert.equal(env.kind, "data.anchor");
  assert.deepEqual(env.body, body);
});

Deno.test("buildTx() refuses a body that fails the kind's schema, naming the field", () => {
  assert.throws(
    () =>
      buildTx(
        "data.anchor",
        { stream: "s", seq: -1, root: "ab".repeat(32), count: 1, from: 1, to: 2 },
        { ledger: "demo", signers: [key.did] },
      ),
    (e) => e instanceof EnvelopeError && /body\.seq/.test(e.message),
  );
  // An unknown kind is a type error too; cast to reach the runtime check.
  const unknownKind = "nope.kind" as Parameters<typeof buildTx>[0];
  assert.throws(
    () => buildTx(unknownKind, {} as never, { ledger: "demo", signers: [key.did] }),
    EnvelopeError,
  );
});

Deno.test("knownKinds() lists every kind, data.anchor among them", () => {
  const kinds = knownKinds();
  assert.ok(kinds.includes("data.anchor"));
  assert.deepEqual(kinds, [...kinds].sort());
});
