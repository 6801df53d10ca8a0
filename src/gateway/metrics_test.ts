import assert from "node:assert/strict";
import { routeLabel } from "./metrics.ts";

Deno.test("routeLabel() names the API's route template, literal segments first, else other", () => {
  assert.equal(routeLabel("/v1/txs"), "/v1/txs");
  assert.equal(routeLabel(`/v1/txs/${"ab".repeat(32)}/proof`), "/v1/txs/{txId}/proof");
  assert.equal(routeLabel("/v1/blocks/by-hash/abc"), "/v1/blocks/by-hash/{hash}");
  assert.equal(routeLabel("/v1/blocks/12"), "/v1/blocks/{height}");
  assert.equal(routeLabel("/v1/streams/s1/verify-reading"), "/v1/streams/{stream}/verify-reading");
  assert.equal(routeLabel("/v1/gateway"), "/v1/gateway");
  assert.equal(routeLabel("/raft/msg"), "other");
  assert.equal(routeLabel("/v1/txs/a/b/c"), "other");
});
