/**
 * Property tests of the peer routes: a member that signs its requests and
 * frames well but fills them with garbage — Raft messages of the wrong
 * shape, checkpoint lines, clocks and storage reports of any JSON — is
 * answered with a problem (never a 5xx, but for a false claim to lead in
 * this site's term, which the Raft core asserts against), and the
 * receiving site never halts.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { base64urlEncode } from "../sdk/encoding.ts";
import { raftRoot, raftRoutes } from "../src/api/raft_routes.ts";
import { signPeerBody } from "../src/site/peers.ts";
import { RaftHost } from "../src/site/raft_host.ts";
import { SiteKey } from "../src/site/site_key.ts";
import { closedPort } from "./_cluster.ts";
import { openTestSite, recordingLogger, testGenesis } from "./_helpers.ts";
import { fixedKey, runs } from "./_props.ts";

const TYPES = [
  "preVote",
  "vote",
  "preVoteResp",
  "voteResp",
  "app",
  "appResp",
  "heartbeat",
  "heartbeatResp",
  "snapshot",
  "timeoutNow",
  "readIndex",
  "readIndexResp",
];

/** A field: mostly a plausible value, sometimes any JSON. */
const field = <T>(plausible: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 1, arbitrary: fc.jsonValue() });

const index = fc.integer({ min: 0, max: 50 });

/** A Raft message from site-b to site-a, with any of its fields garbage. */
const messageArb = fc.record({
  type: field(fc.constantFrom(...TYPES)),
  from: field(fc.constant("site-b")),
  to: field(fc.constant("site-a")),
  term: field(fc.integer({ min: 0, max: 5 })),
  lastIndex: field(index),
  lastTerm: field(index),
  transfer: field(fc.boolean()),
  reject: field(fc.boolean()),
  prevIndex: field(index),
  prevTerm: field(index),
  commit: field(index),
  index: field(index),
  conflictTerm: field(index),
  conflictIndex: field(index),
  ctx: field(fc.string({ maxLength: 8 })),
  entries: field(fc.array(
    fc.record({
      index: field(index),
      term: field(index),
      type: field(fc.constantFrom("normal", "conf")),
      data: field(fc.constantFrom("", "e30", "bnVsbA", "W10")),
    }),
    { maxLength: 3 },
  )),
  snapshot: field(fc.record({
    metadata: field(fc.record({
      index: field(index),
      term: field(index),
      confState: field(fc.record({ voters: field(fc.constant(["site-b"])) })),
    })),
    data: field(fc.constantFrom("", "e30")),
  })),
}, { requiredKeys: ["type", "from", "to", "term"] });

const bodyArb = fc.record({
  from: fc.constant("site-b"),
  messages: field(fc.array(messageArb, { maxLength: 3 })),
  lines: field(fc.array(field(fc.record({ height: field(index), line: field(fc.string()) })), {
    maxLength: 2,
  })),
  clock: field(fc.integer({ min: 0, max: 2 ** 41 })),
  storage: field(fc.record({
    freeBytes: field(fc.nat()),
    freeBytesMin: field(fc.nat()),
    low: field(fc.boolean()),
  })),
}, { requiredKeys: ["from", "messages"] });

Deno.test("peer props: a member's well-signed /raft/msg of garbage is answered 204 or a 4xx problem, and the site never halts (a false claim to lead in this site's term: dropped and logged)", async () => {
  const logs = recordingLogger({ site: "site-a" });
  const key = fixedKey(97);
  const t = await openTestSite({ key, genesis: testGenesis(key), log: logs.log });
  const b = fixedKey(96);
  const keyB = await SiteKey.create(b);
  const host = await RaftHost.start(
    t.site,
    t.site.raftStore(),
    "site-a",
    t.site.siteKey,
    [
      { name: "site-a", url: "http://127.0.0.1:1", publicKey: t.site.siteKey.publicKey },
      { name: "site-b", url: `http://127.0.0.1:${closedPort()}`, publicKey: b.publicKey },
    ],
    ["site-a"],
    { tickMs: 5, electionTicks: 4, heartbeatTicks: 1, log: logs.log },
  );
  const app = raftRoot(raftRoutes({
    self: "site-a",
    member: (n) => host.member(n),
    removedMember: (n) => host.removedMember(n),
    receive: (from, messages) => host.receive(from, messages),
    peerStorage: (from, state) => host.peerStorage(from, state),
    peerClock: (from, ms) => host.peerClock(from, ms),
    acceptForwarded: (_from, envelopes) => t.site.acceptForwarded(envelopes),
    addCosignLines: (from, lines) =>
      t.site.addCosignLines(from, base64urlEncode(b.publicKey), lines),
    replayBlocks: (from, limit) => t.site.replayBlocks(from, limit),
    sign: (body) => signPeerBody(body, t.site.siteKey),
    log: logs.log,
  }));
  try {
    await fc.assert(
      fc.asyncProperty(bodyArb, async (value) => {
        // Each run judged on its own log, so a failure shrinks to its own cause.
        logs.records.splice(0);
        const body = JSON.stringify(value);
        const res = await app.request("/raft/msg", {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-edgeledger-site": "site-b",
            "x-edgeledger-sig": await signPeerBody(body, keyB),
          },
          body,
        });
        const text = await res.text();
        const errors = logs.records.filter((r) => r.level === "error");
        // One error is logged on purpose: a member claiming to lead in this
        // leader's term (no correct member can) is dropped and reported.
        const twoLeaders = errors.length === 1 &&
          /claims to lead the term this site leads/.test(String(errors[0].msg));
        assert.ok(
          res.status === 204 || (res.status >= 400 && res.status < 500),
          `${res.status} ${text} ${JSON.stringify(errors)}`,
        );
        // Let the host act on what it took (persist, send, apply) before judging it.
        await new Promise((r) => setTimeout(r, 1));
        assert.equal((await t.site.status()).healthy, true, "the site halted");
        if (!twoLeaders) assert.deepEqual(errors, [], "the site logged an error");
      }),
      { numRuns: runs(100) },
    );
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("peer frames: a member's heartbeat without commit (found by the property above) is refused validation, and the site keeps its term and its health", async () => {
  const logs = recordingLogger({ site: "site-a" });
  const key = fixedKey(95);
  const t = await openTestSite({ key, genesis: testGenesis(key), log: logs.log });
  const b = fixedKey(94);
  const keyB = await SiteKey.create(b);
  const host = await RaftHost.start(
    t.site,
    t.site.raftStore(),
    "site-a",
    t.site.siteKey,
    [
      { name: "site-a", url: "http://127.0.0.1:1", publicKey: t.site.siteKey.publicKey },
      { name: "site-b", url: `http://127.0.0.1:${closedPort()}`, publicKey: b.publicKey },
    ],
    ["site-a"],
    { tickMs: 5, electionTicks: 4, heartbeatTicks: 1, log: logs.log },
  );
  const app = raftRoot(raftRoutes({
    self: "site-a",
    member: (n) => host.member(n),
    removedMember: (n) => host.removedMember(n),
    receive: (from, messages) => host.receive(from, messages),
    acceptForwarded: () => Promise.resolve({ accepted: 0, refused: [] } as never),
    addCosignLines: () => Promise.resolve(),
    replayBlocks: () => Promise.resolve([]),
    sign: () => Promise.resolve("sig"),
    log: logs.log,
  }));
  try {
    const body = JSON.stringify({
      from: "site-b",
      messages: [{ type: "heartbeat", from: "site-b", to: "site-a", term: 5 }],
    });
    const res = await app.request("/raft/msg", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-edgeledger-site": "site-b",
        "x-edgeledger-sig": await signPeerBody(body, keyB),
      },
      body,
    });
    const text = await res.text();
    assert.equal(res.status, 400, text);
    assert.match(JSON.parse(text).detail, /commit/);
    assert.notEqual(host.consensusStatus().term, 5, "the garbage message never reached Raft");
    assert.equal((await t.site.status()).healthy, true);
    assert.deepEqual(logs.records.filter((r) => r.level === "error"), []);
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("peer frames: a member claiming to lead the term this site leads is dropped, logged once per term, and this site keeps leading", async () => {
  const logs = recordingLogger({ site: "site-a" });
  const key = fixedKey(93);
  const t = await openTestSite({ key, genesis: testGenesis(key), log: logs.log });
  const b = fixedKey(92);
  const keyB = await SiteKey.create(b);
  const host = await RaftHost.start(
    t.site,
    t.site.raftStore(),
    "site-a",
    t.site.siteKey,
    [
      { name: "site-a", url: "http://127.0.0.1:1", publicKey: t.site.siteKey.publicKey },
      { name: "site-b", url: `http://127.0.0.1:${closedPort()}`, publicKey: b.publicKey },
    ],
    ["site-a"],
    { tickMs: 5, electionTicks: 4, heartbeatTicks: 1, log: logs.log },
  );
  const app = raftRoot(raftRoutes({
    self: "site-a",
    member: (n) => host.member(n),
    removedMember: (n) => host.removedMember(n),
    receive: (from, messages) => host.receive(from, messages),
    acceptForwarded: () => Promise.resolve({ accepted: 0, refused: [] } as never),
    addCosignLines: () => Promise.resolve(),
    replayBlocks: () => Promise.resolve([]),
    sign: () => Promise.resolve("sig"),
    log: logs.log,
  }));
  const send = async (messages: unknown[]) => {
    const body = JSON.stringify({ from: "site-b", messages });
    const res = await app.request("/raft/msg", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-edgeledger-site": "site-b",
        "x-edgeledger-sig": await signPeerBody(body, keyB),
      },
      body,
    });
    return { status: res.status, text: await res.text() };
  };
  try {
    const deadline = performance.now() + 5_000;
    while (host.consensusStatus().role !== "leader") {
      assert.ok(performance.now() < deadline, "site-a never led");
      await new Promise((r) => setTimeout(r, 5));
    }
    const { term } = host.consensusStatus();
    const lie = { from: "site-b", to: "site-a", term };
    for (let k = 0; k < 3; k++) {
      const res = await send([
        { ...lie, type: "heartbeat", commit: 0 },
        { ...lie, type: "app", prevIndex: 0, prevTerm: 0, commit: 0, entries: [] },
      ]);
      assert.equal(res.status, 204, res.text);
    }
    await new Promise((r) => setTimeout(r, 20));
    const status = host.consensusStatus();
    assert.equal(status.role, "leader");
    assert.equal(status.term, term);
    assert.equal((await t.site.status()).healthy, true);
    const errors = logs.records.filter((r) => r.level === "error");
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(String(errors[0].msg), /claims to lead the term this site leads/);
    assert.equal(errors[0].peer, "site-b");
    assert.equal(errors[0].term, term);
  } finally {
    await host.close();
    await t.cleanup();
  }
});
