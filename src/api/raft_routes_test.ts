import assert from "node:assert/strict";
import { problemTypeUri } from "../../sdk/api/routes.ts";
import { type PeerService, raftRoot, raftRoutes } from "./raft_routes.ts";
import { generateKeyPair } from "../../sdk/keys.ts";
import { SiteKey } from "../site/site_key.ts";
import { type PeerInfo, peerReadHeaders, peerReadText, signPeerBody } from "../site/peers.ts";

function peers(overrides: Partial<PeerService> = {}) {
  const replayed: Array<[number, number]> = [];
  const service: PeerService = {
    self: "site-a",
    member: () => undefined,
    receive: () => {},
    acceptForwarded: () => Promise.resolve({ accepted: 0, refused: [] } as never),
    addCosignLines: () => Promise.resolve(),
    replayBlocks: (from, limit) => (replayed.push([from, limit]), Promise.resolve([])),
    sign: () => Promise.resolve("sig"),
    servesAnonymousReads: () => true,
    ...overrides,
  };
  return { app: raftRoot(raftRoutes(service)), replayed };
}

async function problem(res: Response, status: number, slug: string) {
  assert.equal(res.status, status);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json();
  assert.equal(body.type, problemTypeUri(slug));
  return body;
}

Deno.test("peer routes: an unknown /raft path is a not_found problem, not plain text, with its request id (as X-Request-Id too)", async () => {
  const { app } = peers();
  const res = await app.request("/raft/nope");
  const id = res.headers.get("x-request-id");
  const body = await problem(res, 404, "not_found");
  assert.match(body.detail, /GET \/raft\/nope/);
  assert.match(String(body.requestId), /^[0-9a-f-]{36}$/);
  assert.equal(body.requestId, id);
});

Deno.test("peer routes: a known /raft route asked with another method is a method_not_allowed problem naming its methods", async () => {
  const { app } = peers();
  for (
    const [method, path] of [["GET", "/raft/msg"], ["PUT", "/raft/forward"], [
      "POST",
      "/raft/blocks",
    ]]
  ) {
    const res = await app.request(path, { method });
    assert.ok(res.headers.get("allow")?.includes(method === "POST" ? "GET" : "POST"), path);
    await problem(res, 405, "method_not_allowed");
  }
});

Deno.test("peer routes: GET /raft/blocks refuses a from or limit that is no strict decimal (empty, 1e3, 0x10, -1) as validation naming it", async () => {
  const { app, replayed } = peers();
  for (
    const query of ["from=", "from=1e3", "from=0x10", "from=-1", "limit=0", "limit=", "from=01"]
  ) {
    const body = await problem(await app.request(`/raft/blocks?${query}`), 400, "validation");
    assert.match(body.detail, new RegExp(`^query\\.${query.split("=")[0]}: `), query);
  }
  assert.deepEqual(replayed, []);
  // Without a key (blocks are public); a limit past 500 is cut to it.
  const res = await app.request("/raft/blocks?from=7&limit=100000");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { blocks: [] });
  assert.equal((await app.request("/raft/blocks")).status, 200);
  assert.deepEqual(replayed, [[7, 500], [1, 100]]);
});

Deno.test("peer routes: GET /raft/state refuses a height that is no positive strict decimal, and a site without state hashes answers a not_found problem", async () => {
  const { app } = peers({ stateDigest: () => ({ height: 3 }) as never });
  for (const query of ["", "height=", "height=0", "height=1e3"]) {
    await problem(await app.request(`/raft/state?${query}`), 400, "validation");
  }
  assert.equal((await app.request("/raft/state?height=3")).status, 200);
  const none = peers();
  await problem(await none.app.request("/raft/state?height=3"), 404, "not_found");
});

Deno.test("peer routes: on a site that serves nothing without an API key, GET /raft/blocks and /raft/state answer a member's signed read only — not an unsigned one, a non-member's, one signed for another path or site, or a stale one", async () => {
  const member = generateKeyPair("ed25519");
  const key = await SiteKey.create(member);
  const b: PeerInfo = { name: "site-b", url: "http://127.0.0.1:1", publicKey: member.publicKey };
  const { app, replayed } = peers({
    member: (n) => (n === "site-b" ? b : undefined),
    servesAnonymousReads: () => false,
    stateDigest: () => ({ height: 3 }) as never,
  });
  const read = async (path: string, headers?: Record<string, string>) =>
    await app.request(path, { headers });
  for (const path of ["/raft/blocks?from=1&limit=5", "/raft/state?height=3"]) {
    const unsigned = await problem(await read(path), 403, "forbidden");
    assert.match(unsigned.detail, /serves nothing without an API key: a member reads/);
    assert.equal(
      (await read(path, await peerReadHeaders("site-b", "site-a", key, path))).status,
      200,
    );
    // Signed for another path, another receiver, or by a site that is no member.
    const other = await peerReadHeaders("site-b", "site-a", key, path + "0");
    await problem(await read(path, other), 403, "forbidden");
    await problem(
      await read(path, await peerReadHeaders("site-b", "site-x", key, path)),
      403,
      "forbidden",
    );
    const stranger = await SiteKey.create(generateKeyPair("ed25519"));
    await problem(
      await read(path, await peerReadHeaders("site-z", "site-a", stranger, path)),
      403,
      "forbidden",
    );
    // A signed read is good for a few minutes only.
    const stale = await peerReadHeaders("site-b", "site-a", key, path);
    const old = Number(stale["x-edgeledger-time"]) - 600_000;
    await problem(
      await read(path, {
        ...stale,
        "x-edgeledger-time": String(old),
        "x-edgeledger-sig": await signPeerBody(peerReadText("site-b", "site-a", old, path), key),
      }),
      403,
      "forbidden",
    );
  }
  assert.deepEqual(replayed, [[1, 5]]);
});
