import assert from "node:assert/strict";
import { GatewayMetrics, routeLabel } from "./metrics.ts";
import { SitePool } from "./site_pool.ts";

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

Deno.test("GatewayMetrics labels a method outside HTTP's own as other, so clients cannot grow the label set", () => {
  const metrics = new GatewayMetrics();
  for (const method of ["FOO1", "FOO2", "get", "GET"]) {
    metrics.request(method, "other", 404, "gateway");
  }
  const pool = new SitePool({
    urls: ["http://127.0.0.1:1"],
    pollIntervalMs: 1000,
    pollTimeoutMs: 1000,
    via: "1.1 test",
  });
  const lines = metrics.render(pool).split("\n")
    .filter((l) => l.startsWith("edgeledger_gateway_requests_total{"));
  assert.deepEqual(lines, [
    'edgeledger_gateway_requests_total{method="other",route="other",status="404",site="gateway"} 3',
    'edgeledger_gateway_requests_total{method="GET",route="other",status="404",site="gateway"} 1',
  ]);
});
