import assert from "node:assert/strict";
import { Hono } from "hono";
import { ApiRouter } from "./router.ts";

function countingApp() {
  const app = new Hono({ router: new ApiRouter() });
  const ran: string[] = [];
  app.use(async (_c, next) => {
    ran.push("all");
    await next();
  });
  app.use("/v1/*", async (_c, next) => {
    ran.push("v1");
    await next();
  });
  app.get("/v1/txs/:txId", (c) => c.text(`tx ${c.req.param("txId")}`));
  app.get("/v1/blocks/:height{[0-9]+}", (c) => c.text("block"));
  // Routes RegExpRouter cannot build together, as the API's are: TrieRouter serves.
  app.get("/:a/b", (c) => c.text("b"));
  app.get("/a/:b", (c) => c.text("a"));
  return { app, ran };
}

Deno.test("ApiRouter: a path segment that is a literal * runs each matching middleware once (TrieRouter ran it twice)", async () => {
  const { app, ran } = countingApp();
  for (
    const [path, expected] of [
      ["/*", ["all"]],
      ["/v1/*", ["all", "v1"]],
      ["/v1/%2A", ["all", "v1"]],
      ["/v1/*/x", ["all", "v1"]],
    ] as const
  ) {
    ran.length = 0;
    const res = await app.request(path, { method: "OPTIONS" });
    assert.equal(res.status, 404, path);
    assert.deepEqual(ran, expected, path);
  }
});

Deno.test("ApiRouter: a path parameter that is a literal * reads as *", async () => {
  const { app, ran } = countingApp();
  const res = await app.request("/v1/txs/*");
  // deno-lint-ignore no-explicit-any
  assert.equal((app.router as any).name, "ApiRouter");
  assert.equal(await res.text(), "tx *");
  assert.deepEqual(ran, ["all", "v1"]);
  assert.equal(await (await app.request("/v1/txs/a*b")).text(), "tx a*b");
});
