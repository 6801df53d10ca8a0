/**
 * What one member site, authenticated with its own key, can do to the
 * others through the peer routes beyond what Raft allows it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { transactionId } from "../sdk/envelope.ts";
import { generateKeyPair } from "../sdk/keys.ts";
import { anchorTx, getJson, openTestSite } from "./_helpers.ts";

for (const verifyWorkers of [0, 1]) {
  Deno.test(`peer trust: a forwarded envelope whose signature does not verify is refused by the leader (verifyWorkers ${verifyWorkers})`, async () => {
    const t = await openTestSite({ verifyWorkers });
    try {
      const victim = generateKeyPair("ed25519");
      const attacker = generateKeyPair("ed25519");
      // Signed by the attacker, in the victim's name: no valid signature of the victim.
      const forged = await anchorTx(attacker);
      forged.signers = [victim.did];
      const outcome = await t.site.acceptForwarded([forged]);
      assert.equal(outcome.accepted, 0, "the leader took a forged transaction into its pool");
      assert.equal(outcome.refused.length, 1);
      assert.match(outcome.refused[0].problem.type, /bad_signature$/);
      // And it never reaches the chain.
      await new Promise((r) => setTimeout(r, 100));
      const got = await getJson(t.app, `/v1/txs/${transactionId(forged)}`);
      assert.equal(got.status, 404);
    } finally {
      await t.cleanup();
    }
  });
}
