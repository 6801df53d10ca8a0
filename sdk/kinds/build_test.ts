import assert from "node:assert/strict";
import { EnvelopeError } from "../envelope.ts";
import { generateKeyPair } from "../keys.ts";
import { buildTx, knownKinds, type TxOptions } from "./build.ts";
import type { BuilderOptions } from "./mod.ts";
import { softwareSigner } from "../keys.ts";
import { grantAccess } from "./access.ts";
import { registerDevice } from "./identity.ts";
import { govProposal } from "./gov.ts";

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

Deno.test("kind builders refuse a bad body with an EnvelopeError naming the field and carrying the zod issues, as buildTx() does — never a bare ZodError (which the bundle does not export)", async () => {
  const signer = softwareSigner(key);
  const options = { ledger: "demo" };
  const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
    [
      "grantAccess",
      () =>
        grantAccess(
          { stream: "s", reader: key.did, purpose: "care", from: 5, until: 1 },
          signer,
          options,
        ),
      /access\.grant body at body\.until/,
    ],
    [
      "registerDevice",
      () =>
        registerDevice({
          ...options,
          name: "",
          attributes: { model: "m" },
          authority: signer,
          device: softwareSigner(generateKeyPair()),
        }),
      /identity\.register body at body\.name/,
    ],
    [
      "govProposal",
      () =>
        Promise.resolve().then(() => govProposal("gov.removeOrg", { id: "" }, [key.did], options)),
      /gov\.removeOrg body at body\.id/,
    ],
    [
      "buildTx",
      () =>
        Promise.resolve().then(() =>
          buildTx("data.anchor", {
            stream: "s",
            seq: -1,
            root: "ab".repeat(32),
            count: 1,
            from: 1,
            to: 2,
          }, {
            ...options,
            signers: [key.did],
          })
        ),
      /data\.anchor body at body\.seq/,
    ],
  ];
  for (const [name, build, message] of cases) {
    const e = await build().then(() => undefined, (e) => e);
    assert.ok(e instanceof EnvelopeError, `${name} threw ${e?.constructor?.name}`);
    assert.equal(e.code, "schema", name);
    assert.match(e.message, message, name);
    assert.ok(e.issues.length > 0, `${name} carries the zod issues`);
  }
});

Deno.test("kind builders take options of an exported type, distinct from buildTx()'s TxOptions: BuilderOptions names the ledger and lifetime, no signers", async () => {
  const options: BuilderOptions = { ledger: "demo", ttlMs: 60_000 };
  const env = await grantAccess(
    { stream: "s", reader: key.did, purpose: "care", from: 1, until: 2 },
    softwareSigner(key),
    options,
  );
  assert.equal(env.ledger, "demo");
  // buildTx() takes the signers as well.
  const txOptions: TxOptions = { ...options, signers: [key.did] };
  assert.deepEqual(txOptions.signers, [key.did]);
});
