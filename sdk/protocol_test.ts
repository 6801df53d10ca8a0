import assert from "node:assert/strict";
import * as protocol from "./protocol.ts";

Deno.test("protocol.ts exports the DESIGN §2 verification surface", () => {
  for (
    const name of [
      "canonicalJson",
      "transactionId",
      "verifySignature",
      "verifyInclusion",
      "verifyConsistency",
      "verifyNote",
      "encodeDidKey",
      "decodeDidKey",
      "generateKeyPair",
      "softwareSigner",
      "hardwareSigner",
      "createEnvelope",
      "signEnvelope",
      "addSignature",
      "parseEnvelope",
      "verifyEnvelopeSignatures",
      "formatCheckpoint",
      "parseCheckpoint",
      "blockHash",
      "leafHash",
      "rootFromLeafHashes",
    ]
  ) {
    assert.equal(typeof (protocol as Record<string, unknown>)[name], "function", name);
  }
  assert.equal(protocol.SIGNING_DOMAIN, "edgeledger/tx/v1\n");
  assert.equal(protocol.BLOCK_DOMAIN, "edgeledger/block/v1\n");
});

Deno.test("protocol.ts: a signed envelope verifies and anchors into a log with a co-signed checkpoint", async () => {
  const signer = protocol.softwareSigner(protocol.generateKeyPair("p256"));
  const env = await protocol.signEnvelope(
    protocol.createEnvelope({
      ledger: "demo",
      kind: "data.anchor",
      body: { x: 1 },
      signers: [signer.did],
    }),
    [signer],
  );
  assert.deepEqual(await protocol.verifyEnvelopeSignatures(protocol.parseEnvelope(env)), {
    ok: true,
  });
  const leaves = [env, env, env].map((tx, i) =>
    protocol.leafHash(
      protocol.canonicalBytes({ tx, result: { status: i === 1 ? "rejected" : "applied" } }),
    )
  );
  const root = protocol.rootFromLeafHashes(leaves);
  const siteKey = new Uint8Array(32).fill(5);
  const text = protocol.formatCheckpoint({
    origin: "edgeledger.example/demo",
    size: 3,
    rootHash: root,
    height: 1,
    blockHash: "ab".repeat(32),
  });
  const note = protocol.assembleNote(text, [protocol.signNoteLine(text, "site-a", siteKey)]);
  const vkey = protocol.verifierKey(
    "site-a",
    protocol.keyPairFromSecret("ed25519", siteKey).publicKey,
  );
  assert.deepEqual(protocol.verifyNote(note, [vkey]), ["site-a"]);
  const cp = protocol.parseCheckpoint(protocol.parseNote(note).text);
  assert.ok(
    protocol.verifyInclusion(
      leaves[2],
      2,
      cp.size,
      protocol.inclusionProof(2, leaves),
      cp.rootHash,
    ),
  );
});
