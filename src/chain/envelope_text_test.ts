import assert from "node:assert/strict";
import { canonicalJson } from "../../sdk/canonical_json.ts";
import { type Envelope, transactionId } from "../../sdk/envelope.ts";
import { generateKeyPair } from "../../sdk/keys.ts";
import { anchorTx } from "../../test/_helpers.ts";
import { envelopeText } from "./envelope_text.ts";

Deno.test("envelopeText() gives the SDK's transactionId and canonicalJson for signed envelopes", async () => {
  for (const alg of ["ed25519", "p256", "secp256k1"] as const) {
    for (const stream of ["plain", "ünïcødé/€", "\u2028line", "a".repeat(300)]) {
      const env = await anchorTx(generateKeyPair(alg), { stream });
      const t = envelopeText(env);
      assert.equal(t.txId, transactionId(env), `${alg} ${stream}`);
      assert.equal(t.envelopeJson, canonicalJson(env), `${alg} ${stream}`);
      const { sigs: _sigs, ...unsigned } = env;
      assert.equal(t.unsignedJson, canonicalJson(unsigned));
    }
  }
});

Deno.test("envelopeText() falls back to full canonicalization when the shortcut does not hold", async () => {
  const env = await anchorTx(generateKeyPair("ed25519"));
  const odd = [
    { ...env, sigs: ['with"quote', "and\\slash"] },
    { ...env, sigs: ["lone\uD800"] },
    { ...env, v: 2 } as unknown as Envelope,
    { ...env, sigs: [env.sigs[0], env.sigs[0]] },
  ];
  for (const e of odd) {
    let want: string | undefined;
    try {
      want = canonicalJson(e);
    } catch {
      assert.throws(() => envelopeText(e), TypeError);
      continue;
    }
    assert.equal(envelopeText(e).envelopeJson, want);
    assert.equal(envelopeText(e).txId, transactionId(e));
  }
});
