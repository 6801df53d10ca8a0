import assert from "node:assert/strict";
import { ADMIN_ROUTES, callLeader, leaderForChange } from "./admin.ts";
import { CliError } from "./output.ts";
import { EdgeLedgerClient } from "../../sdk/mod.ts";

const KEY = "admin-key-0123456789abcdef";

/**
 * A site on loopback answering every request with `answer(url)`; the requests it got. Its
 * `GET /v1/status` (which a client of several sites asks first: which ledger?) answers for
 * ledger `demo` and is not among them.
 */
function fakeSite(answer: (self: string) => { status: number; body: unknown }) {
  const seen: { method: string; path: string; auth: string | null }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    if (req.method === "GET" && url.pathname === "/v1/status") {
      return Response.json({
        ledger: "demo",
        site: "site-x",
        role: "follower",
        term: 1,
        leader: null,
        commitIndex: 1,
        appliedIndex: 1,
        height: 0,
        logSize: 0,
      });
    }
    seen.push({ method: req.method, path: url.pathname, auth: req.headers.get("authorization") });
    const { status, body } = answer(`http://127.0.0.1:${server.addr.port}`);
    const problem = status >= 400;
    return new Response(JSON.stringify(body), {
      status,
      headers: {
        "content-type": problem ? "application/problem+json" : "application/json",
        ...(status === 503 ? { "retry-after": "1" } : {}),
      },
    });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, seen, stop: () => server.shutdown() };
}

function notLeader(status: number, leaderUrl: string | null) {
  return {
    status,
    body: {
      type: "https://edgeledger.dev/problems/not_leader",
      title: "Not the leader",
      status,
      detail: "Membership changes are made by the leader",
      leader: leaderUrl === null ? null : "site-b",
      leaderUrl,
      instance: "/v1/admin/members/site-d",
      requestId: "r1",
    },
  };
}

const removeD = { params: { name: "site-d" } };

for (const status of [503, 409]) {
  Deno.test(
    `callLeader: a ${status} not_leader naming the leader's URL is followed once, and the leader's answer is the command's` +
      (status === 409 ? " (409: as sites of earlier releases answered)" : ""),
    async () => {
      const leader = fakeSite(() => ({ status: 200, body: { ok: true } }));
      const follower = fakeSite(() => notLeader(status, leader.url));
      try {
        const res = await callLeader(
          follower.url,
          KEY,
          ADMIN_ROUTES.removeMember,
          removeD,
          "remove",
        );
        assert.equal(res.site, leader.url);
        assert.deepEqual(res.body, { ok: true });
        assert.equal(follower.seen.length, 1, "the follower is asked once, never again");
        assert.deepEqual(leader.seen, [
          { method: "DELETE", path: "/v1/admin/members/site-d", auth: `Bearer ${KEY}` },
        ]);
      } finally {
        await follower.stop();
        await leader.stop();
      }
    },
  );
}

Deno.test("callLeader: not_leader with no leader known, or naming the site itself, fails with the problem after one request: a change is never repeated blindly", async () => {
  const noLeader = fakeSite(() => notLeader(503, null));
  const itself = fakeSite((self) => notLeader(503, self));
  try {
    for (const site of [noLeader, itself]) {
      await assert.rejects(
        callLeader(site.url, KEY, ADMIN_ROUTES.removeMember, removeD, "remove"),
        (e: unknown) =>
          e instanceof CliError && /^remove: .* answered not_leader.*was not made/s.test(e.message),
      );
      assert.equal(site.seen.length, 1, site.url);
    }
  } finally {
    await noLeader.stop();
    await itself.stop();
  }
});

Deno.test("the SDK client follows an admin route's 503 not_leader to the leader it names when that site is in its list", async () => {
  const leader = fakeSite(() => ({ status: 200, body: { ok: true } }));
  const follower = fakeSite(() => notLeader(503, leader.url));
  try {
    const client = new EdgeLedgerClient({
      urls: [follower.url, leader.url],
      headers: { authorization: `Bearer ${KEY}` },
    });
    const res = await client.request(ADMIN_ROUTES.removeMember, removeD);
    assert.equal(res.site, leader.url);
    assert.deepEqual(res.body, { ok: true });
    assert.equal(follower.seen.length, 1);
    assert.equal(leader.seen.length, 1);
  } finally {
    await follower.stop();
    await leader.stop();
  }
});

Deno.test("callLeader: a second not_leader in a row ends the command saying who leads now, that nothing was made, and the --url to use", async () => {
  const third = fakeSite(() => ({ status: 200, body: { ok: true } }));
  const leader = fakeSite(() => notLeader(503, third.url));
  const follower = fakeSite(() => notLeader(503, leader.url));
  try {
    await assert.rejects(
      callLeader(follower.url, KEY, ADMIN_ROUTES.removeMember, removeD, "remove"),
      (e: unknown) =>
        e instanceof CliError &&
        e.message ===
          `remove: ${leader.url} answered not_leader, naming site-b (${third.url}), after ` +
            `leadership moved once already; the change was not made: run it again (or with --url ${third.url})`,
    );
    assert.equal(third.seen.length, 0, "one hop only");
  } finally {
    for (const s of [third, leader, follower]) await s.stop();
  }
});

/** A site on loopback answering GET /v1/status with `status` and GET /v1/sites with `sites`. */
function statusSite(status: Record<string, unknown>, sites: { name: string; url: string }[]) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/v1/status") {
      return Response.json({
        ledger: "demo",
        role: "follower",
        term: 3,
        commitIndex: 9,
        appliedIndex: 9,
        height: 4,
        logSize: 9,
        ...status,
      });
    }
    if (path === "/v1/sites") {
      return Response.json({ sites: sites.map((s) => ({ ...s, verifierKey: "x" })) });
    }
    return new Response("{}", { status: 404 });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
}

Deno.test("leaderForChange: a removed site first in --url (it still answers, with its old view) is passed over for the next site, which names the leader", async () => {
  const leaderUrl = "http://127.0.0.1:9";
  const removed = statusSite({ site: "site-a", leader: "site-a", removed: true }, [
    { name: "site-a", url: "http://127.0.0.1:1" },
  ]);
  const member = statusSite({ site: "site-b", leader: "site-d" }, [
    { name: "site-d", url: leaderUrl },
  ]);
  try {
    const client = new EdgeLedgerClient({ urls: [removed.url, member.url] });
    const target = await leaderForChange(client, "add");
    assert.equal(target.url, leaderUrl);
    assert.equal(target.status.site, "site-b");
    // With the removed site alone, the command says so instead of waiting for an election.
    await assert.rejects(
      leaderForChange(new EdgeLedgerClient({ urls: [removed.url] }), "add"),
      (e: unknown) =>
        e instanceof CliError &&
        /^add: site-a was removed from the cluster, and no other site given .* named a leader/
          .test(e.message),
    );
  } finally {
    await removed.stop();
    await member.stop();
  }
});
