import assert from "node:assert/strict";
import { canonicalJson } from "../../sdk/canonical_json.ts";
import { SIGNING_DOMAIN } from "../../sdk/envelope.ts";
import { generateKeyPair } from "../../sdk/keys.ts";
import { anchorTx } from "../../test/_helpers.ts";
import { SignaturePool, verifySignaturesHere } from "./signature_pool.ts";

const device = generateKeyPair("ed25519");

Deno.test("signature pool: answers as this thread does, in order, for sound and forged envelopes; once closed it refuses", async () => {
  const envs = await Promise.all(Array.from({ length: 6 }, () => anchorTx(device)));
  const jobs = envs.map((e) => ({
    payload: SIGNING_DOMAIN + canonicalJson({ ...e, sigs: undefined }),
    signers: e.signers,
    sigs: e.sigs,
  }));
  jobs[2] = { ...jobs[2], sigs: jobs[3].sigs };
  jobs[4] = { ...jobs[4], sigs: [] };
  const pool = new SignaturePool(2);
  try {
    const here = await verifySignaturesHere(jobs);
    assert.deepEqual(here.map((v) => v.ok), [true, true, false, true, false, true]);
    const [x, y] = await Promise.all([pool.verify(jobs), pool.verify(jobs.slice(2))]);
    assert.deepEqual(x, here);
    assert.deepEqual(y, here.slice(2));
  } finally {
    pool.close();
  }
  await assert.rejects(pool.verify(jobs), /closed/);
});
