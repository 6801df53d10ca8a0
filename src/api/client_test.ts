import assert from "node:assert/strict";
import { hc } from "hono/client";
import { type AppType, createApp } from "./app.ts";
import { FakeLedgerService, sampleEnvelope } from "./testing.ts";

Deno.test("AppType types an hc client that submits and reads through the app", async () => {
  const service = new FakeLedgerService();
  const app: AppType = createApp(service);
  const client = hc<AppType>("http://site", {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => app.request(input, init),
  });
  const submitted = await client.v1.txs.$post({ query: {}, json: sampleEnvelope() });
  assert.equal(submitted.status, 200);
  const block = await client.v1.blocks[":height"].$get({ param: { height: "1" }, query: {} });
  assert.equal(block.status, 200);
  if (block.status === 200) {
    const view = await block.json();
    assert.equal(view.header.height, 1);
    assert.equal(view.txIds.length, 1);
  }
  const page = await client.v1.blocks.$get({ query: { limit: "1" } });
  if (page.status === 200) assert.equal((await page.json()).next, 1);
  else assert.fail(`status ${page.status}`);
});
