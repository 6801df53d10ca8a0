/**
 * The conformance vectors' `refusals` (sdk/conformance/protocol_v1.json):
 * a site's admission refuses each envelope with the problem the vector
 * names, so SDKs in other languages that test against them test against
 * what sites do.
 */
import assert from "node:assert/strict";
import { checkSignatures, checkStateless } from "../src/site/admission.ts";
import { builtinContracts } from "../src/contracts/mod.ts";
import { LedgerError } from "../src/api/service.ts";

const file = JSON.parse(
  await Deno.readTextFile(new URL("../sdk/conformance/protocol_v1.json", import.meta.url)),
);
const { now, ledger, expiryWindowMs, cases } = file.refusals as {
  now: number;
  ledger: string;
  expiryWindowMs: number;
  cases: Array<{ description: string; envelope: unknown; slug: string }>;
};

Deno.test("conformance vectors: a site's admission refuses every refusals envelope with the problem the vector names, and covers every admission slug it lists", async () => {
  const policy = { ledger, expiryWindowMs, envelopeBytesMax: 65_536 };
  for (const c of cases) {
    let refused: unknown;
    try {
      await checkSignatures(checkStateless(c.envelope, now, policy, builtinContracts()));
    } catch (e) {
      refused = e;
    }
    assert.ok(refused instanceof LedgerError, `${c.description}: not refused (${refused})`);
    assert.equal(refused.type, c.slug, `${c.description}: ${refused.message}`);
  }
  assert.deepEqual(
    [...new Set(cases.map((c) => c.slug))].sort(),
    [
      "bad_signature",
      "expired",
      "expires_too_far",
      "invalid_body",
      "invalid_envelope",
      "unknown_kind",
      "wrong_ledger",
    ],
  );
});

Deno.test("conformance vectors: the envelope the refusals start from (envelopes[0]) is admitted at their time, on their ledger, so each refusal is its one broken rule's", async () => {
  const policy = { ledger, expiryWindowMs, envelopeBytesMax: 65_536 };
  const valid = file.envelopes[0].signed;
  const admitted = checkStateless(valid, now, policy, builtinContracts());
  await checkSignatures(admitted);
  assert.equal(admitted.txId, file.envelopes[0].txId);
});
