import assert from "node:assert/strict";
import { generateKeyPair } from "../keys.ts";
import { assembleNote, signNoteLine, verifierKey } from "../note.ts";
import { formatCheckpoint } from "../checkpoint.ts";
import { EMPTY_ROOT } from "../merkle.ts";
import { NetworkError } from "../client/errors.ts";
import { FileTrustStore } from "./file_trust_store.ts";
import { LightClient, type LightSource } from "./light_client.ts";

const keyA = verifierKey("site-a", generateKeyPair("ed25519").publicKey);
const keyB = verifierKey("site-b", generateKeyPair("ed25519").publicKey);

Deno.test("LightClient refuses a quorum larger than the distinct trusted names", () => {
  assert.throws(() => new LightClient({ trustedKeys: [keyA, keyB], quorum: 3 }), RangeError);
  assert.throws(() => new LightClient({ trustedKeys: [keyA, keyA], quorum: 2 }), RangeError);
  assert.throws(() => new LightClient({ trustedKeys: [keyA], quorum: 0 }), RangeError);
});

Deno.test("LightClient refuses a malformed trusted key", () => {
  assert.throws(
    () => new LightClient({ trustedKeys: ["site-a+00000000+AAAA"], quorum: 1 }),
    /bad trusted key/,
  );
});

Deno.test("LightClient.verifyBundle() rejects a checkpoint that is not a signed note", async () => {
  const light = new LightClient({ trustedKeys: [keyA], quorum: 1 });
  const verdict = await light.verifyBundle({
    txId: "ab".repeat(32),
    tx: {},
    receipt: { txId: "ab".repeat(32), status: "committed" },
    proof: { logIndex: 0, treeSize: 1, leaf: "", proof: [] },
    checkpoint: "not a note",
  });
  assert.equal(verdict.ok, false);
  assert.equal(verdict.reason, "checkpoint_malformed");
  assert.equal(await light.trusted(), undefined);
});

Deno.test("LightClient.verify() needs a source", async () => {
  const light = new LightClient({ trustedKeys: [keyA], quorum: 1 });
  await assert.rejects(() => light.verify("ab".repeat(32)), TypeError);
});

Deno.test("FileTrustStore round-trips the trusted checkpoint and starts empty", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new FileTrustStore(`${dir}/x/trusted.json`);
    assert.equal(await store.load(), undefined);
    const cp = {
      origin: "o",
      size: 3,
      rootHash: "00".repeat(32),
      height: 2,
      blockHash: "11".repeat(32),
      note: "n",
    };
    await store.save(cp);
    assert.deepEqual(await new FileTrustStore(`${dir}/x/trusted.json`).load(), cp);
    await Deno.writeTextFile(`${dir}/x/trusted.json`, "{}");
    await assert.rejects(() => store.load(), /malformed fields/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LightClient reads the checkpoint from any replica when no leader answers", async () => {
  const site = generateKeyPair("ed25519");
  const text = formatCheckpoint({
    origin: "edgeledger.test/demo",
    size: 0,
    rootHash: EMPTY_ROOT,
    height: 0,
    blockHash: "00".repeat(32),
  });
  const note = assembleNote(text, [signNoteLine(text, "site-a", site.secretKey)]);
  const asked: Array<string | undefined> = [];
  const source: LightSource = {
    checkpoint: (options) => {
      asked.push(options?.consistency);
      return options?.consistency === "leader"
        ? Promise.reject(new NetworkError("Cannot reach the leader"))
        : Promise.resolve(note);
    },
    consistency: () => Promise.reject(new Error("unused")),
    getTx: () => Promise.reject(new Error("unused")),
    proof: () => Promise.reject(new Error("unused")),
    blocks: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error("unused")) }),
    }),
  };
  const light = new LightClient({
    source,
    trustedKeys: [verifierKey("site-a", site.publicKey)],
    quorum: 1,
  });
  const verdict = await light.updateCheckpoint();
  assert.equal(verdict.ok, true, verdict.message);
  assert.deepEqual(asked, ["leader", "stale"]);
  assert.equal((await light.trusted())?.size, 0);
});
