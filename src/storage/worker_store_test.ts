import assert from "node:assert/strict";
import { openWorkerStores } from "./worker_store.ts";

async function tempWorker() {
  const dir = await Deno.makeTempDir();
  const stores = await openWorkerStores(`file:${dir}/site.db`);
  return { stores, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("storage worker: calls are answered in the order they were made, also past the in-flight bound", async () => {
  const { stores, cleanup } = await tempWorker();
  try {
    // As many calls as may be in flight; the write made next waits its turn.
    const reads = Array.from({ length: 10_000 }, () => stores.chain.getMeta("k"));
    const write = stores.chain.setMeta({ k: "v" });
    // Once answers make room, a read made now must still come after the write.
    await reads[0];
    const after = stores.chain.getMeta("k");
    assert.ok((await Promise.all(reads)).every((v) => v === undefined));
    await write;
    assert.equal(await after, "v");
  } finally {
    await stores.close();
    await cleanup();
  }
});

Deno.test("storage worker: a call after close() is refused, not left waiting", async () => {
  const { stores, cleanup } = await tempWorker();
  await stores.close();
  try {
    await assert.rejects(() => stores.chain.getMeta("k"), /closed/);
  } finally {
    await cleanup();
  }
});
