/**
 * A member site forwarding its admitted transactions to the leader, in one
 * process: the leader's `/raft/forward` route over its own site, and the
 * member's sequencer posting signed bodies to it and reading the answer as
 * the Raft host does. What the leader refuses reaches the member's client.
 */
import assert from "node:assert/strict";
import { base64urlEncode } from "../sdk/encoding.ts";
import { type Envelope, transactionId } from "../sdk/envelope.ts";
import { generateKeyPair } from "../sdk/keys.ts";
import { createApp } from "../src/api/app.ts";
import { raftRoutes } from "../src/api/raft_routes.ts";
import { signPeerBody } from "../src/site/peers.ts";
import { silentLogger } from "../src/log.ts";
import { forwardOutcomeOf } from "../src/site/raft_host.ts";
import { type Sequencer, Site, type SiteOptions } from "../src/site/site.ts";
import { anchorTx, postJson, testGenesis } from "./_helpers.ts";

/** Per-signer admissions per minute in these tests' policy. */
const signerTxsPerMinuteMax = 3;

/**
 * A leader `site-a` and a member `site-b` of one ledger on temp files, the
 * member's batches forwarded to the leader's `/raft/forward`; `wire` may
 * rewrite the forward's body text on its way (as a member written in
 * another language may send it). Both read the time from `clock`.
 */
async function leaderAndMember(
  clock: () => number,
  wire: (body: string) => string = (body) => body,
  leaderOptions: Partial<SiteOptions> = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-forward-" });
  const leaderKey = generateKeyPair("ed25519");
  const memberKey = generateKeyPair("ed25519");
  const genesis = testGenesis(leaderKey);
  genesis.sites.push({
    name: "site-b",
    org: "org-a",
    publicKey: base64urlEncode(memberKey.publicKey),
    url: "http://127.0.0.1:2",
  });
  genesis.policies.rateLimits = { signerTxsPerMinuteMax };
  const common = { genesis, batchDelayMs: 1, clock };
  const leader = await Site.open({
    ...common,
    name: "site-a",
    dbUrl: `file:${dir}/a.db`,
    key: leaderKey,
    ...leaderOptions,
  });
  const member = await Site.open({
    ...common,
    name: "site-b",
    dbUrl: `file:${dir}/b.db`,
    key: memberKey,
  });
  const members = genesis.sites.map((s) => ({
    name: s.name,
    url: s.url,
    publicKey: s.name === "site-a" ? leaderKey.publicKey : memberKey.publicKey,
  }));
  const routes = raftRoutes({
    self: "site-a",
    member: (n) => members.find((m) => m.name === n && n !== "site-a"),
    receive: () => {},
    acceptForwarded: (_from, envelopes) => leader.acceptForwarded(envelopes),
    addCosignLines: () => Promise.resolve(),
    replayBlocks: () => Promise.resolve([]),
    sign: (body) => signPeerBody(body, leader.siteKey),
  });
  const sequencer: Sequencer = {
    propose: async (batch) => {
      const body = wire(JSON.stringify({ from: "site-b", txs: batch.txs }));
      const res = await routes.request("/forward", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-edgeledger-site": "site-b",
          "x-edgeledger-sig": await signPeerBody(body, member.siteKey),
        },
        body,
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`Leader answered ${res.status}: ${text}`);
      return forwardOutcomeOf(JSON.parse(text));
    },
    proposalsInFlightMax: 1,
    consensusStatus: () => ({
      role: "follower",
      term: 1,
      leader: "site-a",
      commitIndex: 0,
      confState: { voters: ["site-a", "site-b"], learners: [] },
    }),
    readBarrier: () => Promise.resolve(),
    leaderUrl: () => "http://127.0.0.1:1",
    broadcastCosign: () => {},
    members: () => members,
  };
  await member.attachSequencer(sequencer);
  return {
    leader,
    member,
    memberApp: createApp(member, { metrics: () => member.metrics() }),
    cleanup: async () => {
      await member.close().catch(() => {});
      await leader.close().catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

Deno.test("forward: a client refused by the leader's per-signer rate limit gets 429 with the Retry-After the leader computed, as a local refusal has", async () => {
  // 45 s into a minute: the signer's window ends in 15 s.
  const now = Math.floor(Date.now() / 60_000) * 60_000 + 45_000;
  const t = await leaderAndMember(() => now);
  try {
    const busy = generateKeyPair("ed25519");
    // The signer's quota is used up at the leader (within the member's own count).
    for (let i = 0; i < signerTxsPerMinuteMax; i++) {
      const [r] = await t.leader.submit([await anchorTx(busy)], { wait: false, waitTimeoutMs: 0 });
      assert.equal(r.status, "pending", `leader submit ${i}`);
    }
    const env = await anchorTx(busy);
    const over = await postJson(t.memberApp, "/v1/txs?wait=commit&timeoutMs=5000", env);
    assert.equal(over.status, 429);
    assert.match(over.body.type, /rate_limited$/);
    assert.equal(over.body.txId, transactionId(env));
    assert.equal(over.headers.get("retry-after"), "15");
    assert.equal(over.body.retryAfter, 15);
    // A batch answer's receipt keeps its public shape: the problem summary alone.
    const batch = await postJson(t.memberApp, "/v1/txs?wait=commit&timeoutMs=5000", {
      txs: [await anchorTx(busy)],
    });
    assert.equal(batch.status, 200);
    assert.deepEqual(Object.keys(batch.body.receipts[0]).sort(), ["problem", "status", "txId"]);
    assert.match(batch.body.receipts[0].problem.type, /rate_limited$/);
  } finally {
    await t.cleanup();
  }
});

Deno.test("forward: the leader answers every envelope of a forward it does not take, by position, also one too malformed to have a transaction id", async () => {
  const t = await leaderAndMember(() => Date.now());
  try {
    const good = await anchorTx(generateKeyPair("ed25519"));
    const expired = await anchorTx(generateKeyPair("ed25519"), { expiresAt: Date.now() - 1000 });
    // No JSON canonical form, so no id: a lone surrogate, and nesting deeper than JCS allows.
    const loneSurrogate = { ...good, nonce: "\ud800" };
    let deep: unknown = {};
    for (let i = 0; i < 200; i++) deep = [deep];
    const outcome = await t.leader.acceptForwarded([loneSurrogate, good, expired, deep]);
    assert.equal(outcome.accepted, 1);
    assert.deepEqual(
      outcome.refused.map((r) => [r.index, r.txId, r.problem.type]),
      [
        [0, null, "invalid_envelope"],
        [2, transactionId(expired), "expired"],
        [3, null, "invalid_envelope"],
      ],
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("forward: a client whose envelope reached the leader repeating a member name, with no transaction id as the leader reads it, gets the leader's problem instead of waiting", async () => {
  // The forward's text as a member in another language might write it: the
  // first envelope's `nonce` again, last, as a string no JSON canonical form
  // has (a lone surrogate). The leader reads the last: the envelope has no id.
  const t = await leaderAndMember(
    () => Date.now(),
    (body) => body.replace('"sigs":', '"nonce":"\\ud800","sigs":'),
  );
  try {
    const env = await anchorTx(generateKeyPair("ed25519"));
    const started = performance.now();
    const res = await postJson(t.memberApp, "/v1/txs?wait=commit&timeoutMs=3000", env);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.type, /validation$/);
    assert.match(res.body.detail, /repeats the member "nonce"/);
    assert.equal(res.body.txId, transactionId(env), "the member's id for its client's envelope");
    assert.ok(performance.now() - started < 2000, "answered at once, not at the wait's end");
  } finally {
    await t.cleanup();
  }
});

Deno.test("forward: while the leader's disk is low, a member's client gets 503 insufficient_storage naming the leader, with Retry-After; the envelope is not ordered", async () => {
  const MiB = 1024 * 1024;
  const t = await leaderAndMember(Date.now, undefined, {
    diskFreeBytesMin: 512 * MiB,
    diskFreeBytes: () => Promise.resolve(100 * MiB),
    log: silentLogger,
  });
  try {
    const env = await anchorTx(generateKeyPair("ed25519"));
    const r = await postJson(t.memberApp, "/v1/txs?wait=commit&timeoutMs=5000", env);
    assert.equal(r.status, 503);
    assert.match(r.body.type, /\/insufficient_storage$/);
    assert.match(
      r.body.detail,
      /site-a has 100 MiB free on its data volume, under its minimum of 512 MiB/,
    );
    assert.equal(r.headers.get("retry-after"), "30");
    assert.equal(r.body.txId, transactionId(env));
    assert.equal((await t.leader.status()).height, 0);
  } finally {
    await t.cleanup();
  }
});

Deno.test("forward: what a leader took and had not ordered goes to the leader of a later term once this site hears of it, also when the news came while the forward's answer was on its way; meanwhile this site answers it pending", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-forward-" });
  const keys = { a: generateKeyPair("ed25519"), b: generateKeyPair("ed25519") };
  const cKey = generateKeyPair("ed25519");
  const genesis = testGenesis(keys.a);
  for (const [name, key] of [["site-b", keys.b], ["site-c", cKey]] as const) {
    genesis.sites.push({
      name,
      org: "org-a",
      publicKey: base64urlEncode(key.publicKey),
      url: "http://127.0.0.1:2",
    });
  }
  const open = (name: string, key: typeof cKey, batchDelayMs: number) =>
    Site.open({ genesis, name, dbUrl: `file:${dir}/${name}.db`, key, batchDelayMs });
  // site-a takes forwards and never orders them (its batch waits a minute): a leader about to die.
  const old = await open("site-a", keys.a, 60_000);
  const next = await open("site-c", cKey, 1);
  const member = await open("site-b", keys.b, 1);
  let news = { term: 1, leader: "site-a" };
  const leaders: Record<string, Site> = { "site-a": old, "site-c": next };
  /** Runs once a leader answered a forward, before the member reads the answer. */
  let answered: ((txs: unknown[]) => void) | undefined;
  const forwardedTo: string[] = [];
  await member.attachSequencer({
    propose: async (batch) => {
      const to = news.leader;
      forwardedTo.push(to);
      const outcome = await leaders[to].acceptForwarded(batch.txs);
      answered?.(batch.txs);
      return outcome;
    },
    proposalsInFlightMax: 1,
    consensusStatus: () => ({
      role: "follower",
      term: news.term,
      leader: news.leader,
      commitIndex: 0,
      confState: { voters: ["site-a", "site-b", "site-c"], learners: [] },
    }),
    readBarrier: () => Promise.resolve(),
    leaderUrl: () => undefined,
    broadcastCosign: () => {},
    members: () => [],
  });
  const committedAt = async (site: Site, txId: string) => {
    for (let i = 0; i < 200; i++) {
      if ((await site.getTx(txId, "stale"))?.receipt.status === "committed") return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return false;
  };
  try {
    // Taken by site-a, then site-c leads term 2: the member forwards it again.
    const first = await anchorTx(generateKeyPair("ed25519"));
    const id1 = transactionId(first);
    const [r1] = await member.submit([first], { wait: false, waitTimeoutMs: 0 });
    assert.deepEqual(r1, { txId: id1, status: "pending" });
    while (forwardedTo.length < 1) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal((await old.getTx(id1, "stale"))?.receipt.status, "pending");
    assert.equal((await member.getTx(id1, "stale"))?.receipt.status, "pending");
    member.leaderKnown(1);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(forwardedTo, ["site-a"], "news of the same term forwards nothing again");
    news = { term: 2, leader: "site-c" };
    member.leaderKnown(2);
    assert.ok(await committedAt(next, id1), "site-c ordered the transaction site-a held");
    assert.deepEqual(forwardedTo, ["site-a", "site-c"]);

    // site-a leads again (term 3); site-c's term 4 is known before site-a's answer is read.
    news = { term: 3, leader: "site-a" };
    member.leaderKnown(3);
    // (The member never applies site-c's blocks here, so the first goes along again: site-c
    // finds it committed.)
    const second = await anchorTx(generateKeyPair("ed25519"));
    let raced = 0;
    answered = (txs) => {
      if (!txs.some((tx) => transactionId(tx as Envelope) === transactionId(second))) return;
      answered = undefined;
      raced = forwardedTo.length;
      news = { term: 4, leader: "site-c" };
      member.leaderKnown(4);
    };
    await member.submit([second], { wait: false, waitTimeoutMs: 0 });
    assert.ok(
      await committedAt(next, transactionId(second)),
      "site-c ordered the second transaction too",
    );
    assert.equal(forwardedTo[raced - 1], "site-a", "site-a took the second transaction");
    assert.equal((await old.getTx(transactionId(second), "stale"))?.receipt.status, "pending");
    assert.deepEqual(forwardedTo.slice(raced), forwardedTo.slice(raced).map(() => "site-c"));
  } finally {
    await member.close().catch(() => {});
    await next.close().catch(() => {});
    await old.close().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
