import assert from "node:assert/strict";
import { base64urlDecode, base64urlEncode } from "../../sdk/encoding.ts";
import { generateKeyPair } from "../../sdk/keys.ts";
import type { Message } from "../consensus/mod.ts";
import { raftRoutes } from "../api/raft_routes.ts";
import {
  type CosignLine,
  cosignLinesPerRequestMax,
  decodeMessage,
  encodeMessage,
  fetchPeerText,
  FORWARD_ROUTE,
  linesAloneAfterMs,
  MemberRemovedAnswer,
  memberRemovedAnswer,
  memberRemovedType,
  MSG_ROUTE,
  PeerAnswerError,
  PeerAuthError,
  peerCounters,
  PeerFrameError,
  PeerIdleError,
  type PeerInfo,
  peerMetricsText,
  peerQueueMessagesMax,
  peerRequestBytesMax,
  PeerSender,
  peerTimedOut,
  peerUnreachableLogAfterMs,
  postSigned,
  signPeerBody,
  splitFrame,
  streamFrames,
  streamOpenText,
  verifyPeerRequest,
  verifyStreamOpen,
  wireDecode,
  wireEncode,
} from "./peers.ts";
import { SiteKey } from "./site_key.ts";
import { forwardOutcomeOf } from "./raft_host.ts";
import { LedgerError } from "../api/service.ts";
import { transactionId } from "../../sdk/envelope.ts";
import { silentLogger } from "../log.ts";
import { recordingLogger } from "../../test/_helpers.ts";
import { closedPort } from "../../test/_cluster.ts";

interface Received {
  body: {
    from: string;
    messages: unknown[];
    lines?: CosignLine[];
    clock?: number;
    catchingUp?: boolean;
  };
  at: number;
  /** How it came: a frame on `/raft/stream`, or a `/raft/msg` request. */
  via: "stream" | "msg";
}

interface RecordingOptions {
  /** Whether the peer has `/raft/stream` (else it answers 404 there, as an older site). */
  stream?: boolean;
  /** Refuses every stream opening with this status (403: the opening did not verify). */
  refuseStreamWith?: number;
  /** Ends each stream after this many frames (as a peer that restarts). */
  framesPerStream?: number;
  /** The loopback port to listen on (default: any free one). */
  port?: number;
}

/**
 * A loopback peer that records every signed body it gets, as `/raft/msg`
 * requests or `/raft/stream` frames (checking each signature).
 */
function recordingPeer(sender: PeerInfo, options: RecordingOptions = {}) {
  const received: Received[] = [];
  const members = (n: string) => (n === sender.name ? sender : undefined);
  const port = options.port ?? 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
    const site = req.headers.get("x-edgeledger-site");
    if (new URL(req.url).pathname === "/raft/stream") {
      if (options.stream === false) return new Response("no such route", { status: 404 });
      if (options.refuseStreamWith !== undefined) {
        return new Response("refused", { status: options.refuseStreamWith });
      }
      const h = (n: string) => req.headers.get(n);
      verifyStreamOpen(
        site,
        h("x-edgeledger-sig"),
        h("x-edgeledger-time"),
        "site-b",
        Date.now(),
        members,
      );
      const reader = req.body!.getReader();
      let end!: () => void;
      const out = new ReadableStream<Uint8Array>({ start: (c) => void (end = () => c.close()) });
      void (async () => {
        let n = 0;
        try {
          for await (const frame of streamFrames(reader)) {
            const { sig, body } = splitFrame(frame);
            verifyPeerRequest(site, sig, body, members);
            received.push({ body: JSON.parse(body), at: performance.now(), via: "stream" });
            if (++n === options.framesPerStream) break;
          }
        } catch { /* the sender went away */ }
        end();
      })();
      return new Response(out);
    }
    const text = await req.text();
    verifyPeerRequest(site, req.headers.get("x-edgeledger-sig"), text, members);
    received.push({ body: JSON.parse(text), at: performance.now(), via: "msg" });
    return new Response(null, { status: 204 });
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  return { received, url, close: () => server.shutdown() };
}

/** Runs `body` with a sender from site-a to a recording site-b, then stops both. */
async function withRecordingPeer(
  body: (sender: PeerSender, received: Received[]) => Promise<void>,
  counters = peerCounters(),
  options: RecordingOptions = {},
): Promise<void> {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const peer = recordingPeer({ name: "site-a", url: "", publicKey: keyPair.publicKey }, options);
  const sender = new PeerSender(
    { name: "site-b", url: peer.url, publicKey: new Uint8Array(32) },
    "site-a",
    key,
    counters,
  );
  try {
    await body(sender, peer.received);
  } finally {
    sender.close();
    await peer.close();
  }
}

function heartbeat(term: number): Message {
  return { type: "heartbeat", from: "site-a", to: "site-b", term, commit: 0, ctx: undefined };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("PeerSender: checkpoint lines ride with the next Raft messages in one signed frame", async () => {
  await withRecordingPeer(async (sender, received) => {
    sender.sendLines([{ height: 7, line: "— site-a abc\n" }]);
    sender.send([heartbeat(3)]);
    await until(() => received.length >= 1);
    // Give a stray second request (a line sent alone) time to show up.
    await new Promise((r) => setTimeout(r, linesAloneAfterMs * 3));
    assert.equal(received.length, 1);
    const { body } = received[0];
    assert.equal(body.from, "site-a");
    assert.equal(body.messages.length, 1);
    assert.deepEqual(body.lines, [{ height: 7, line: "— site-a abc\n" }]);
    // Every frame carries the sender's clock (a leader's block time is its voters' median).
    assert.ok(Number.isSafeInteger(body.clock) && Math.abs(body.clock! - Date.now()) < 60_000);
    assert.equal(received[0].via, "stream");
    assert.deepEqual(sender.counters, {
      ...peerCounters(),
      streamsOpened: 1,
      streamFrames: 1,
      messagesSent: 1,
    });
  });
});

Deno.test("PeerSender: a checkpoint line with no Raft message to ride goes alone after a short wait", async () => {
  await withRecordingPeer(async (sender, received) => {
    const t0 = performance.now();
    sender.sendLines([{ height: 1, line: "one\n" }]);
    sender.sendLines([{ height: 2, line: "two\n" }]);
    await until(() => received.length >= 1);
    assert.ok(received[0].at - t0 >= linesAloneAfterMs - 5, "the line waited for company");
    assert.deepEqual(received[0].body.messages, []);
    assert.deepEqual(received[0].body.lines?.map((l) => l.height), [1, 2]);
    // A message sent later carries no stale copy of the lines.
    sender.send([heartbeat(4)]);
    await until(() => received.length >= 2);
    assert.equal(received[1].body.lines, undefined);
  });
});

Deno.test("PeerSender: beyond cosignLinesPerRequestMax queued lines the oldest are dropped, so a request never carries more than a receiver reads", async () => {
  await withRecordingPeer(async (sender, received) => {
    const extra = 40;
    sender.sendLines(
      Array.from({ length: cosignLinesPerRequestMax + extra }, (_, i) => ({
        height: i,
        line: `l${i}\n`,
      })),
    );
    await until(() => received.length >= 1);
    const heights = received[0].body.lines?.map((l) => l.height) ?? [];
    assert.equal(heights.length, cosignLinesPerRequestMax);
    assert.equal(heights[0], extra);
    assert.equal(heights.at(-1), cosignLinesPerRequestMax + extra - 1);
  });
});

Deno.test("PeerSender: every frame says catchingUp while the site catches up by snapshot, and no frame does otherwise", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const peer = recordingPeer({ name: "site-a", url: "", publicKey: keyPair.publicKey });
  let catchingUp = true;
  const sender = new PeerSender(
    { name: "site-b", url: peer.url, publicKey: new Uint8Array(32) },
    "site-a",
    key,
    peerCounters(),
    undefined,
    silentLogger,
    undefined,
    undefined,
    Date.now,
    undefined,
    () => catchingUp,
  );
  try {
    sender.send([heartbeat(3)]);
    await until(() => peer.received.length >= 1);
    assert.equal(peer.received[0].body.catchingUp, true);
    catchingUp = false;
    sender.send([heartbeat(3)]);
    await until(() => peer.received.length >= 2);
    assert.equal("catchingUp" in peer.received[1].body, false);
  } finally {
    sender.close();
    await peer.close();
  }
});

Deno.test("raft routes: /raft/msg hands its messages to consensus and its checkpoint lines to the site", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const member: PeerInfo = { name: "site-a", url: "", publicKey: keyPair.publicKey };
  const got: {
    messages: Message[];
    lines: CosignLine[];
    clocks: unknown[];
    catchingUp: unknown[];
  } = {
    messages: [],
    lines: [],
    clocks: [],
    catchingUp: [],
  };
  const app = raftRoutes({
    self: "site-b",
    member: (n) => (n === "site-a" ? member : undefined),
    receive: (_from, messages) => void got.messages.push(...messages),
    peerClock: (from, ms) => void got.clocks.push([from, ms]),
    peerCatchingUp: (from, yes) => void got.catchingUp.push([from, yes]),
    acceptForwarded: () => Promise.resolve({ accepted: 0, refused: [] }),
    addCosignLines: (from, lines) => {
      assert.equal(from, "site-a");
      got.lines.push(...lines);
      return Promise.resolve();
    },
    replayBlocks: () => Promise.resolve([]),
    sign: () => Promise.resolve(""),
  });
  const post = async (payload: unknown, sign = true) => {
    const body = JSON.stringify(payload);
    return await app.request("/msg", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-edgeledger-site": "site-a",
        "x-edgeledger-sig": sign ? await signPeerBody(body, key) : "AAAA",
      },
      body,
    });
  };
  const ok = await post({
    from: "site-a",
    messages: [heartbeat(5)],
    lines: [{ height: 9, line: "nine\n" }],
    clock: 1_767_268_800_000,
  });
  assert.equal(ok.status, 204);
  assert.equal(got.messages.length, 1);
  assert.equal(got.messages[0].type, "heartbeat");
  assert.deepEqual(got.lines, [{ height: 9, line: "nine\n" }]);
  // The sender's clock goes to consensus; a frame without one (an older site) says so.
  assert.deepEqual(got.clocks, [["site-a", 1_767_268_800_000]]);
  assert.equal((await post({ from: "site-a", messages: [] })).status, 204);
  assert.deepEqual(got.clocks[1], ["site-a", undefined]);
  const badClock = await post({ from: "site-a", messages: [], clock: "soon" });
  assert.equal(badClock.status, 400);
  assert.match((await badClock.json()).detail, /clock must be an integer/);
  assert.equal(got.clocks.length, 2, "a malformed clock reaches nothing");
  // Whether the sender is catching up by snapshot: said by `catchingUp: true`, and by its absence.
  assert.deepEqual(got.catchingUp, [["site-a", false], ["site-a", false]]);
  assert.equal((await post({ from: "site-a", messages: [], catchingUp: true })).status, 204);
  assert.deepEqual(got.catchingUp[2], ["site-a", true]);
  const badCatchingUp = await post({ from: "site-a", messages: [], catchingUp: "yes" });
  assert.equal(badCatchingUp.status, 400);
  assert.match((await badCatchingUp.json()).detail, /catchingUp must be true when present/);
  assert.equal(got.catchingUp.length, 3, "a malformed catchingUp reaches nothing");

  const bad = await post({ from: "site-a", messages: [], lines: "nine" });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).detail, /lines must be an array/);

  const forged = await post(
    { from: "site-a", messages: [], lines: [{ height: 1, line: "x" }] },
    false,
  );
  assert.equal(forged.status, 403);
  assert.equal(got.lines.length, 1, "no line from an unsigned request reached the site");
});

Deno.test("raft routes: /raft/forward answers the leader's refusals by transaction, and its own problems as problem+json", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const member: PeerInfo = { name: "site-b", url: "", publicKey: keyPair.publicKey };
  let busy = false;
  const problem = { type: "expired", title: "Transaction expired", status: 422, detail: "late" };
  const app = raftRoutes({
    self: "site-a",
    member: (n) => (n === "site-b" ? member : undefined),
    receive: () => {},
    acceptForwarded: (_from, txs) => {
      if (busy) {
        throw new LedgerError("unavailable", 503, "Site busy", "Leader queue is full", {
          retryAfter: 2,
        });
      }
      return Promise.resolve({ accepted: txs.length - 1, refused: [{ txId: "ab", problem }] });
    },
    addCosignLines: () => Promise.resolve(),
    replayBlocks: () => Promise.resolve([]),
    sign: () => Promise.resolve(""),
  });
  const forward = async () => {
    const body = JSON.stringify({ from: "site-b", txs: [{}, {}] });
    return await app.request("/forward", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-edgeledger-site": "site-b",
        "x-edgeledger-sig": await signPeerBody(body, key),
      },
      body,
    });
  };
  const ok = await forward();
  assert.equal(ok.status, 200);
  const answer = await ok.json();
  assert.deepEqual(answer, { accepted: 1, refused: [{ txId: "ab", problem }] });
  assert.deepEqual(forwardOutcomeOf(answer), answer);
  busy = true;
  const full = await forward();
  assert.equal(full.status, 503);
  assert.equal(full.headers.get("content-type"), "application/problem+json");
  assert.equal(full.headers.get("retry-after"), "2");
  assert.match((await full.json()).detail, /queue is full/);
});

Deno.test("raft routes: /raft/forward refuses by transaction id each envelope that repeats a member name, and hands the others to the site", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const member: PeerInfo = { name: "site-b", url: "", publicKey: keyPair.publicKey };
  const handed: unknown[][] = [];
  const app = raftRoutes({
    self: "site-a",
    member: (n) => (n === "site-b" ? member : undefined),
    receive: () => {},
    acceptForwarded: (_from, txs) => {
      handed.push(txs);
      return Promise.resolve({ accepted: txs.length, refused: [] });
    },
    addCosignLines: () => Promise.resolve(),
    replayBlocks: () => Promise.resolve([]),
    sign: () => Promise.resolve(""),
  });
  const forward = async (body: string) =>
    await app.request("/forward", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-edgeledger-site": "site-b",
        "x-edgeledger-sig": await signPeerBody(body, key),
      },
      body,
    });
  const envelope = (stream: string) => ({
    v: 1,
    ledger: "demo",
    kind: "data.anchor",
    body: { stream, seq: 0, root: "00".repeat(32), count: 1, from: 0, to: 1 },
    nonce: "AAAAAAAAAAAAAAAAAAAAAA",
    expiresAt: 1,
    signers: ["did:key:z6Mk"],
    sigs: ["AA"],
  });
  const good = JSON.stringify(envelope("good"));
  // `ledger` twice at the top; `stream` twice inside the body (written with an escape).
  const twoLedgers = JSON.stringify(envelope("x")).slice(0, -1) + ',"ledger":"other"}';
  const twoStreams = JSON.stringify(envelope("y")).replace('"seq"', '"\\u0073tream":"z","seq"');
  const res = await forward(`{"from":"site-b","txs":[${twoLedgers},${good},${twoStreams}]}`);
  assert.equal(res.status, 200);
  const answer = await res.json();
  // The id of each refused envelope is the one this site reads (the last of each name).
  assert.deepEqual(answer.refused.map((r: { txId: string }) => r.txId), [
    transactionId(JSON.parse(twoLedgers)),
    transactionId(JSON.parse(twoStreams)),
  ]);
  for (const [r, name] of [[answer.refused[0], "ledger"], [answer.refused[1], "stream"]]) {
    assert.equal(r.problem.type, "validation");
    assert.equal(r.problem.status, 400);
    assert.match(r.problem.detail, new RegExp(`repeats the member "${name}"`));
  }
  assert.equal(answer.accepted, 1);
  assert.deepEqual(
    handed,
    [[JSON.parse(good)]],
    "only the envelope without repeats reached the site",
  );
  assert.deepEqual(forwardOutcomeOf(answer), answer);

  // A repeat outside the envelopes refuses the request as a whole.
  handed.length = 0;
  for (
    const body of [
      `{"from":"site-b","txs":[${good}],"txs":[]}`,
      `{"from":"site-b","from":"site-b","txs":[${good}]}`,
    ]
  ) {
    const whole = await forward(body);
    assert.equal(whole.status, 400, body);
    assert.equal(whole.headers.get("content-type"), "application/problem+json");
    assert.match((await whole.json()).detail, /repeats the member "(txs|from)"/);
  }
  assert.deepEqual(handed, []);
});

Deno.test("raft routes: /raft/forward answers every envelope it refuses by its position in txs, one that repeats a name and has no transaction id included", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const member: PeerInfo = { name: "site-b", url: "", publicKey: keyPair.publicKey };
  const handed: unknown[][] = [];
  const rateLimited = { type: "rate_limited", title: "Rate limited", status: 429, detail: "d" };
  const app = raftRoutes({
    self: "site-a",
    member: (n) => (n === "site-b" ? member : undefined),
    receive: () => {},
    // Refuses the second envelope it is handed, by its position among those.
    acceptForwarded: (_from, txs) => {
      handed.push(txs);
      return Promise.resolve({
        accepted: txs.length - 1,
        refused: [{ txId: "cd", index: 1, problem: rateLimited, retryAfter: 15 }],
      });
    },
    addCosignLines: () => Promise.resolve(),
    replayBlocks: () => Promise.resolve([]),
    sign: () => Promise.resolve(""),
  });
  // `nonce` twice, the last a lone surrogate: no JSON canonical form, so no id.
  const noId = '{"v":1,"nonce":"AAAAAAAAAAAAAAAAAAAAAA","sigs":[],"nonce":"\\ud800"}';
  const body = `{"from":"site-b","txs":[{"v":1},${noId},{"v":2},{"v":3}]}`;
  const res = await app.request("/forward", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-edgeledger-site": "site-b",
      "x-edgeledger-sig": await signPeerBody(body, key),
    },
    body,
  });
  assert.equal(res.status, 200);
  const answer = await res.json();
  assert.deepEqual(handed, [[{ v: 1 }, { v: 2 }, { v: 3 }]]);
  assert.equal(answer.accepted, 2);
  assert.equal(answer.refused.length, 2);
  const [repeated, limited] = answer.refused;
  assert.equal(repeated.txId, null);
  assert.equal(repeated.index, 1);
  assert.equal(repeated.problem.type, "validation");
  assert.match(repeated.problem.detail, /repeats the member "nonce"/);
  // The site's position 1 is the envelope at 2 in the forward.
  assert.deepEqual(limited, { txId: "cd", index: 2, problem: rateLimited, retryAfter: 15 });
  assert.deepEqual(forwardOutcomeOf(answer), answer);
});

Deno.test("raft routes: /raft/forward reads every repeat in a deeply nested envelope in linear time", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const member: PeerInfo = { name: "site-b", url: "", publicKey: keyPair.publicKey };
  const app = raftRoutes({
    self: "site-a",
    member: (n) => (n === "site-b" ? member : undefined),
    receive: () => {},
    acceptForwarded: (_from, txs) => Promise.resolve({ accepted: txs.length, refused: [] }),
    addCosignLines: () => Promise.resolve(),
    replayBlocks: () => Promise.resolve([]),
    sign: () => Promise.resolve(""),
  });
  // 40,000 open arrays around an object with 10,000 repeats (about 140 kB, far
  // below the peer request limit): a path copied whole for each repeat took
  // seconds here, and minutes for a body near the limit.
  const depth = 40_000;
  const inner = '{"a":0' + ',"a":0'.repeat(10_000) + "}";
  const body = '{"from":"site-b","txs":[' + "[".repeat(depth) + inner + "]".repeat(depth) + "]}";
  const sig = await signPeerBody(body, key);
  const started = performance.now();
  const res = await app.request("/forward", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-edgeledger-site": "site-b",
      "x-edgeledger-sig": sig,
    },
    body,
  });
  const ms = performance.now() - started;
  assert.equal(res.status, 200);
  // The element has no transaction id: it is refused by its position.
  const answer = await res.json();
  assert.equal(answer.accepted, 0);
  assert.deepEqual(
    answer.refused.map((r: { txId: unknown; index: number }) => [r.txId, r.index]),
    [[null, 0]],
  );
  assert.ok(ms < 1500, `took ${ms.toFixed(0)} ms`);
});

Deno.test("raft routes: a /raft/msg or /raft/cosign body, or a stream frame, that repeats a member name is refused whole and reaches no site", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const { app, got } = recordingRoutes({ name: "site-a", url: "", publicKey: keyPair.publicKey });
  const hb = JSON.stringify(encodeMessage(heartbeat(7)));
  // The heartbeat's `term` twice: a site that kept the first would read term 1.
  const msg = `{"from":"site-a","messages":[${hb.slice(0, -1)},"term":1}]}`;
  const cosign = '{"from":"site-a","lines":[{"height":1,"line":"a\\n","height":2}]}';
  for (const [path, body, name] of [["/msg", msg, "term"], ["/cosign", cosign, "height"]]) {
    const res = await app.request(path, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-edgeledger-site": "site-a",
        "x-edgeledger-sig": await signPeerBody(body, key),
      },
      body,
    });
    assert.equal(res.status, 400, path);
    assert.match((await res.json()).detail, new RegExp(`repeats the member "${name}"`), path);
  }
  const good = JSON.stringify({ from: "site-a", messages: [heartbeat(1)] });
  const text = `${await signPeerBody(good, key)} ${good}\n${await signPeerBody(msg, key)} ${msg}\n`;
  const res = await openStream(app, "site-a", bodyOf([new TextEncoder().encode(text)], true), key);
  const problem = JSON.parse((await res.text()).trim());
  assert.equal(problem.status, 400);
  assert.match(problem.detail, /repeats the member "term"/);
  assert.deepEqual(got.messages.map((m) => m.term), [1], "only the frame before it");
  assert.deepEqual(got.lines, []);
});

Deno.test("raft routes: /raft/blocks answers are signed by this site, so a catching-up site can tell a member sent them", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const blocks = [{ hash: "ab", header: {}, entryIndex: 1, txs: [] }];
  const app = raftRoutes({
    self: "site-b",
    member: () => undefined,
    receive: () => {},
    acceptForwarded: () => Promise.resolve({ accepted: 0, refused: [] }),
    addCosignLines: () => Promise.resolve(),
    replayBlocks: (from, limit) => Promise.resolve(from === 1 && limit === 200 ? blocks : []),
    sign: (body) => signPeerBody(body, key),
    servesAnonymousReads: () => true,
  });
  const res = await app.request("/blocks?from=1&limit=200");
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.deepEqual(JSON.parse(text), { blocks });
  const signer = { name: "site-b", url: "", publicKey: keyPair.publicKey };
  const h = (n: string) => res.headers.get(n);
  assert.equal(
    verifyPeerRequest(h("x-edgeledger-site"), h("x-edgeledger-sig"), text, () => signer),
    signer,
  );
  assert.throws(
    () => verifyPeerRequest("site-b", h("x-edgeledger-sig"), text + " ", () => signer),
    PeerAuthError,
  );
});

Deno.test("forwardOutcomeOf: an older leader's bare count and malformed refusals are read safely", () => {
  assert.deepEqual(forwardOutcomeOf({ accepted: 3 }), { accepted: 3, refused: [] });
  assert.deepEqual(forwardOutcomeOf(undefined), { accepted: 0, refused: [] });
  const problem = { type: "expired", title: "T", status: 422, detail: "d" };
  assert.deepEqual(
    forwardOutcomeOf({
      accepted: 0,
      refused: [null, { txId: 1, problem }, { txId: "x" }, { txId: "y", problem, more: 1 }],
    }).refused,
    [{ txId: "y", problem }],
  );
});

Deno.test("forwardOutcomeOf: a refusal names its envelope by id or by position, and keeps a positive whole Retry-After", () => {
  const problem = { type: "rate_limited", title: "T", status: 429, detail: "d" };
  assert.deepEqual(
    forwardOutcomeOf({
      accepted: 0,
      refused: [
        { txId: "a", index: 0, problem, retryAfter: 15 },
        { txId: null, index: 1, problem },
        // Named neither way: nobody to tell.
        { txId: null, problem },
        { txId: null, index: -1, problem },
        { txId: null, index: 1.5, problem },
        // A position or Retry-After that is no count is left out, not the refusal.
        { txId: "b", index: "2", problem, retryAfter: 0 },
        { txId: "c", problem, retryAfter: 2.5 },
        { txId: "d", problem, retryAfter: "15" },
      ],
    }).refused,
    [
      { txId: "a", index: 0, problem, retryAfter: 15 },
      { txId: null, index: 1, problem },
      { txId: "b", problem },
      { txId: "c", problem },
      { txId: "d", problem },
    ],
  );
});

/** A body that hands out `chunks` and then ends (or stays open, when `open`). */
function bodyOf(chunks: Uint8Array[], open = false): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of chunks) c.enqueue(chunk);
      if (!open) c.close();
    },
  });
}

async function framesOf(chunks: Uint8Array[], max?: number): Promise<string[]> {
  const out: string[] = [];
  for await (const f of streamFrames(bodyOf(chunks).getReader(), max)) out.push(f);
  return out;
}

Deno.test("streamFrames: frames split across chunks, and several in one chunk, come out whole and in order", async () => {
  const text = new TextEncoder().encode('sig1 {"a":1}\nsig2 {"b":"é"}\nsig3 {}\n');
  assert.deepEqual(await framesOf([text]), ['sig1 {"a":1}', 'sig2 {"b":"é"}', "sig3 {}"]);
  // Every split point, including inside the two bytes of "é".
  for (let cut = 1; cut < text.length; cut++) {
    assert.deepEqual(
      await framesOf([text.subarray(0, cut), text.subarray(cut)]),
      ['sig1 {"a":1}', 'sig2 {"b":"é"}', "sig3 {}"],
      `cut at ${cut}`,
    );
  }
  assert.deepEqual(await framesOf([]), []);
});

Deno.test("streamFrames: a frame over the bound, a body that ends inside a frame, and bytes that are not UTF-8 are refused", async () => {
  const enc = (t: string) => new TextEncoder().encode(t);
  await assert.rejects(framesOf([enc("x".repeat(11) + "\n")], 10), PeerFrameError);
  // Over the bound before its end has arrived: refused without waiting for it.
  await assert.rejects(framesOf([enc("x".repeat(6)), enc("x".repeat(6))], 10), /longer than 10/);
  await assert.rejects(framesOf([enc("ok\npartial")]), /ended inside a frame/);
  await assert.rejects(framesOf([new Uint8Array([0x61, 0xff, 0x0a])]), /not UTF-8/);
  assert.deepEqual(splitFrame("abc {}"), { sig: "abc", body: "{}" });
  assert.throws(() => splitFrame("{}"), PeerFrameError);
  assert.throws(() => splitFrame(" {}"), PeerFrameError);
});

/** Raft routes over a recording service; `signal` is the site's stop. */
function recordingRoutes(member: PeerInfo, signal?: AbortSignal) {
  const got: { messages: Message[]; lines: CosignLine[] } = { messages: [], lines: [] };
  const app = raftRoutes({
    self: "site-b",
    member: (n) => (n === member.name ? member : undefined),
    receive: (_from, messages) => void got.messages.push(...messages),
    acceptForwarded: () => Promise.resolve({ accepted: 0, refused: [] }),
    addCosignLines: (_from, lines) => {
      got.lines.push(...lines);
      return Promise.resolve();
    },
    replayBlocks: () => Promise.resolve([]),
    sign: () => Promise.resolve(""),
    signal,
  });
  return { app, got };
}

/** Opens a stream to routes serving "site-b", signed by `key` (unsigned without one). */
async function openStream(
  app: ReturnType<typeof raftRoutes>,
  site: string,
  body: ReadableStream<Uint8Array>,
  key?: SiteKey,
  opening: { to?: string; time?: number } = {},
): Promise<Response> {
  const time = opening.time ?? Date.now();
  const signed = key === undefined ? {} : {
    "x-edgeledger-time": String(time),
    "x-edgeledger-sig": await signPeerBody(streamOpenText(site, opening.to ?? "site-b", time), key),
  };
  return await app.request("/stream", {
    method: "POST",
    headers: { "content-type": "application/x-ndjson", "x-edgeledger-site": site, ...signed },
    body,
    duplex: "half",
  } as RequestInit);
}

Deno.test("raft routes: /raft/stream hands each verified frame on in order and ends at the first frame that does not verify", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const { app, got } = recordingRoutes({ name: "site-a", url: "", publicKey: keyPair.publicKey });
  const frame = async (payload: unknown, sign = true) => {
    const body = JSON.stringify(payload);
    const sig = sign ? await signPeerBody(body, key) : await signPeerBody(body + " ", key);
    return new TextEncoder().encode(`${sig} ${body}\n`);
  };
  const res = await openStream(
    app,
    "site-a",
    bodyOf([
      await frame({ from: "site-a", messages: [heartbeat(1)] }),
      await frame({
        from: "site-a",
        messages: [heartbeat(2)],
        lines: [{ height: 4, line: "l\n" }],
      }),
      await frame({ from: "site-a", messages: [heartbeat(3)] }, false),
      await frame({ from: "site-a", messages: [heartbeat(4)] }),
    ], true),
    key,
  );
  assert.equal(res.status, 200);
  // The answer ends (the body stays open: the route stopped reading it).
  const answer = await res.text();
  assert.deepEqual(got.messages.map((m) => m.term), [1, 2]);
  assert.deepEqual(got.lines, [{ height: 4, line: "l\n" }]);
  const problem = JSON.parse(answer.trim());
  assert.equal(problem.status, 403);
  assert.match(problem.detail, /does not verify/);
  assert.match(problem.type, /\/forbidden$/);
  // The same problem members as any answer of the API.
  assert.equal(problem.title, "Forbidden");
  assert.equal(problem.instance, "/stream");

  // A frame signed by site-a cannot claim to be from another site.
  const spoof = await openStream(
    app,
    "site-a",
    bodyOf([await frame({ from: "site-b", messages: [heartbeat(9)] })]),
    key,
  );
  assert.match(await spoof.text(), /does not match the signer/);
  assert.deepEqual(got.messages.map((m) => m.term), [1, 2]);

  const stranger = await openStream(app, "site-z", bodyOf([]), key);
  assert.equal(stranger.status, 403);
  await stranger.body?.cancel();
});

Deno.test("raft routes: a stream is opened signed by a member, for this site, at a time near its clock; a member's newer stream ends its older one", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const other = await SiteKey.create(generateKeyPair("ed25519"));
  const { app } = recordingRoutes({ name: "site-a", url: "", publicKey: keyPair.publicKey });
  // Unsigned (a site from before signed openings): 404, so it falls back to /raft/msg.
  const unsigned = await openStream(app, "site-a", bodyOf([], true));
  assert.equal(unsigned.status, 404);
  assert.equal(unsigned.headers.get("content-type"), "application/problem+json");
  await unsigned.body?.cancel();
  for (
    const [what, res] of [
      ["another key", await openStream(app, "site-a", bodyOf([], true), other)],
      [
        "for another site",
        await openStream(app, "site-a", bodyOf([], true), key, { to: "site-c" }),
      ],
      [
        "an hour old",
        await openStream(app, "site-a", bodyOf([], true), key, { time: Date.now() - 3600_000 }),
      ],
    ] as const
  ) {
    assert.equal(res.status, 403, what);
    await res.body?.cancel();
  }
  const first = await openStream(app, "site-a", bodyOf([], true), key);
  assert.equal(first.status, 200);
  const firstEnded = first.text();
  const second = await openStream(app, "site-a", bodyOf([], true), key);
  assert.equal(second.status, 200);
  assert.equal(await firstEnded, "", "the older stream ended");
  await second.body?.cancel();
});

Deno.test("raft routes: a malformed frame ends the stream with a validation problem, after the frames before it", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const { app, got } = recordingRoutes({ name: "site-a", url: "", publicKey: keyPair.publicKey });
  const good = JSON.stringify({ from: "site-a", messages: [heartbeat(1)] });
  const bad = JSON.stringify({ from: "site-a", messages: "none" });
  const text = `${await signPeerBody(good, key)} ${good}\n${await signPeerBody(bad, key)} ${bad}\n`;
  const res = await openStream(
    app,
    "site-a",
    bodyOf([new TextEncoder().encode(text)], true),
    key,
  );
  const problem = JSON.parse((await res.text()).trim());
  assert.equal(problem.status, 400);
  assert.match(problem.detail, /messages must be an array/);
  assert.deepEqual(got.messages.map((m) => m.term), [1]);
});

Deno.test("raft routes: open streams end when the site stops, and a stopping site opens none", async () => {
  const keyPair = generateKeyPair("ed25519");
  const stopping = new AbortController();
  const { app } = recordingRoutes(
    { name: "site-a", url: "", publicKey: keyPair.publicKey },
    stopping.signal,
  );
  const key = await SiteKey.create(keyPair);
  const res = await openStream(app, "site-a", bodyOf([], true), key);
  assert.equal(res.status, 200);
  const ended = res.text();
  stopping.abort();
  assert.equal(await ended, "");
  const late = await openStream(app, "site-a", bodyOf([], true), key);
  assert.equal(late.status, 503);
  await late.body?.cancel();
});

Deno.test("wire data: native base64url encodes as the SDK does and decodes back, at every length", () => {
  for (let n = 0; n < 300; n++) {
    const bytes = crypto.getRandomValues(new Uint8Array(n));
    const text = wireEncode(bytes);
    assert.equal(text, base64urlEncode(bytes));
    assert.deepEqual(wireDecode(text), bytes);
    assert.deepEqual(base64urlDecode(text), bytes);
  }
  const big = new Uint8Array(100_000).map((_, i) => (i * 7919) & 0xff);
  assert.deepEqual(wireDecode(wireEncode(big)), big);
});

Deno.test("wire data: anything but unpadded base64url is refused, not skipped over", () => {
  for (
    const bad of [
      "AAA=",
      "AA+A",
      "AA/A",
      "AA A",
      "AAAAA",
      "AA\nA",
      "ÿÿÿÿ",
      "AB",
      42,
      null,
      undefined,
    ]
  ) {
    assert.throws(() => wireDecode(bad), TypeError, String(bad));
  }
});

Deno.test("decodeMessage: an append whose entry data is not base64url is a malformed message", () => {
  const app: Message = {
    type: "app",
    from: "site-a",
    to: "site-b",
    term: 2,
    prevIndex: 4,
    prevTerm: 2,
    commit: 3,
    entries: [{ index: 5, term: 2, type: "normal", data: new Uint8Array([1, 2, 3]) }],
  };
  const wire = encodeMessage(app);
  assert.deepEqual(decodeMessage(JSON.parse(JSON.stringify(wire))), app);
  const broken = { ...wire, entries: [{ index: 5, term: 2, type: "normal", data: "AQI=D" }] };
  assert.throws(() => decodeMessage(broken), /not unpadded base64url/);
  assert.throws(() => decodeMessage({ ...wire, entries: "x" }), /entries/);
});

Deno.test("PeerSender: messages to a peer that does not answer are counted dropped", async () => {
  const keyPair = generateKeyPair("ed25519");
  const counters = peerCounters();
  const sender = new PeerSender(
    { name: "site-b", url: `http://127.0.0.1:${closedPort()}`, publicKey: new Uint8Array(32) },
    "site-a",
    await SiteKey.create(keyPair),
    counters,
    undefined,
    silentLogger,
  );
  try {
    sender.send([heartbeat(1), heartbeat(1)]);
    await until(() => counters.messagesDropped === 2);
    assert.equal(counters.streamsOpened, 1);
    assert.equal(counters.streamFrames, 0);
    assert.equal(counters.messagesSent, 0);
  } finally {
    sender.close();
    await new Promise((r) => setTimeout(r, 60)); // the back-off timer
  }
});

/** A sender from site-a to site-b on a port where nothing listens, recording what it reports dropped. */
async function droppingSender() {
  const counters = peerCounters();
  const dropped: Message[][] = [];
  const sender = new PeerSender(
    { name: "site-b", url: `http://127.0.0.1:${closedPort()}`, publicKey: new Uint8Array(32) },
    "site-a",
    await SiteKey.create(generateKeyPair("ed25519")),
    counters,
    undefined,
    silentLogger,
    undefined,
    undefined,
    undefined,
    (messages) => dropped.push(messages),
  );
  return { counters, dropped, sender };
}

function snapshotMessage(index: number): Message {
  return {
    type: "snapshot",
    from: "site-a",
    to: "site-b",
    term: 2,
    snapshot: {
      metadata: { index, term: 2, confState: { voters: ["site-a", "site-b"], learners: [] } },
      data: new Uint8Array(8),
    },
  };
}

Deno.test("PeerSender: beyond peerQueueMessagesMax queued messages the oldest are reported through onDropped at once, and counted dropped", async () => {
  const { counters, dropped, sender } = await droppingSender();
  try {
    const messages = Array.from({ length: peerQueueMessagesMax + 3 }, (_, i) => heartbeat(i + 1));
    messages[1] = snapshotMessage(7);
    sender.send(messages);
    // Before any send is tried: the three oldest, the snapshot among them.
    assert.deepEqual(dropped, [messages.slice(0, 3)]);
    assert.equal(counters.messagesDropped, 3);
  } finally {
    sender.close();
    await new Promise((r) => setTimeout(r, 60)); // the back-off timer
  }
});

Deno.test("PeerSender: close() reports the messages still queued through onDropped (a replaced sender's snapshot is not lost silently), once, and counts them dropped", async () => {
  const { counters, dropped, sender } = await droppingSender();
  const messages = [heartbeat(2), snapshotMessage(9)];
  sender.send(messages);
  sender.close();
  assert.deepEqual(dropped, [messages]);
  assert.equal(counters.messagesDropped, 2);
  // Closed: a second close, and messages sent after it, report nothing more.
  sender.close();
  sender.send([snapshotMessage(10)]);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(dropped, [messages]);
  assert.equal(counters.messagesDropped, 2);
  assert.equal(counters.streamsOpened, 0, "nothing was sent after close()");
});

/**
 * A sender from site-a to site-b on a port where nothing listens (yet), with
 * its counters and a recording log; `keyPair` is site-a's, for a peer that
 * comes up on `port` later.
 */
async function senderToClosedPort() {
  const keyPair = generateKeyPair("ed25519");
  const counters = peerCounters();
  const rec = recordingLogger({ site: "site-a" });
  const port = closedPort();
  const sender = new PeerSender(
    { name: "site-b", url: `http://127.0.0.1:${port}`, publicKey: new Uint8Array(32) },
    "site-a",
    await SiteKey.create(keyPair),
    counters,
    undefined,
    rec.log,
  );
  return { keyPair, counters, rec, port, sender };
}

Deno.test("PeerSender: a peer out of reach is logged unreachable once, with the reason, not per failed retry; once a message gets through, reachable again, once", async () => {
  const { keyPair, counters, rec, port, sender } = await senderToClosedPort();
  let peer: ReturnType<typeof recordingPeer> | undefined;
  try {
    for (let i = 1; i <= 5; i++) {
      sender.send([heartbeat(i)]);
      await until(() => counters.messagesDropped === i);
    }
    assert.equal(sender.unreachable, true);
    // Said once the sends have failed for peerUnreachableLogAfterMs, not before.
    assert.equal(rec.said("peer unreachable").length, 0);
    await until(() => rec.said("peer unreachable").length > 0, peerUnreachableLogAfterMs + 2000);
    const unreachable = rec.said("peer unreachable");
    assert.equal(unreachable.length, 1, "five failed sends, one record");
    assert.ok((unreachable[0].forMs as number) >= peerUnreachableLogAfterMs - 5);
    assert.equal(unreachable[0].level, "warn");
    assert.equal(unreachable[0].peer, "site-b");
    assert.equal(unreachable[0].url, `http://127.0.0.1:${port}`);
    assert.match(unreachable[0].reason as string, /refused|connect/i);
    assert.equal(rec.said("peer reachable again").length, 0);

    // The peer comes up on its address.
    peer = recordingPeer({ name: "site-a", url: "", publicKey: keyPair.publicKey }, { port });
    for (let i = 6; i <= 8; i++) {
      sender.send([heartbeat(i)]);
      await until(() => peer!.received.length === i - 5);
    }
    const back = rec.said("peer reachable again");
    assert.equal(back.length, 1);
    assert.equal(back[0].level, "info");
    assert.equal(back[0].peer, "site-b");
    assert.equal(typeof back[0].downMs, "number");
    assert.equal(rec.said("peer unreachable").length, 1);
  } finally {
    sender.close();
    await peer?.close();
    await new Promise((r) => setTimeout(r, 60)); // the back-off timer
  }
});

Deno.test("PeerSender: a peer out of reach for less than peerUnreachableLogAfterMs (a restart, a whole cluster stopping) is not logged, neither gone nor back; unreachable says so meanwhile", async () => {
  const { keyPair, counters, rec, port, sender } = await senderToClosedPort();
  let peer: ReturnType<typeof recordingPeer> | undefined;
  try {
    sender.send([heartbeat(1)]);
    await until(() => counters.messagesDropped === 1);
    assert.equal(sender.unreachable, true);
    // Back well within the grace.
    peer = recordingPeer({ name: "site-a", url: "", publicKey: keyPair.publicKey }, { port });
    sender.send([heartbeat(2)]);
    await until(() => peer!.received.length === 1);
    assert.equal(sender.unreachable, false);
    await new Promise((r) => setTimeout(r, peerUnreachableLogAfterMs + 200));
    assert.deepEqual(rec.said("peer unreachable"), []);
    assert.deepEqual(rec.said("peer reachable again"), []);
  } finally {
    sender.close();
    await peer?.close();
    await new Promise((r) => setTimeout(r, 60)); // the back-off timer
  }
});

Deno.test("PeerSender: once its site is stopping, a peer that goes away is logged unreachable at info, not warn (peers stop with it); unreachable says so", async () => {
  const rec = recordingLogger({ site: "site-a" });
  const counters = peerCounters();
  const sender = new PeerSender(
    { name: "site-b", url: `http://127.0.0.1:${closedPort()}`, publicKey: new Uint8Array(32) },
    "site-a",
    await SiteKey.create(generateKeyPair("ed25519")),
    counters,
    undefined,
    rec.log,
  );
  try {
    assert.equal(sender.unreachable, false);
    sender.siteStopping();
    sender.send([heartbeat(1)]);
    await until(() => counters.messagesDropped === 1);
    assert.equal(sender.unreachable, true);
    await until(() => rec.said("peer unreachable").length > 0, peerUnreachableLogAfterMs + 2000);
    assert.deepEqual(rec.said("peer unreachable").map((r) => [r.level, r.peer]), [
      ["info", "site-b"],
    ]);
  } finally {
    sender.close();
    await new Promise((r) => setTimeout(r, 60)); // the back-off timer
  }
});

Deno.test("peerMetricsText: one Prometheus counter line per route and count, and the round-trip histogram", () => {
  const counters = {
    ...peerCounters(),
    msgRequests: 3,
    streamsOpened: 2,
    streamFrames: 11,
    messagesSent: 5,
    messagesDropped: 1,
    forwardRequests: 7,
    forwardedTxs: 70,
  };
  counters.requestSeconds.observe(0.004, MSG_ROUTE);
  counters.requestSeconds.observe(0.030, FORWARD_ROUTE);
  counters.queueSeconds.observe(0.0004);
  const text = peerMetricsText(counters);
  assert.ok(text.endsWith("\n"));
  for (
    const line of [
      'edgeledger_peer_requests_total{route="msg"} 3',
      'edgeledger_peer_requests_total{route="forward"} 7',
      "edgeledger_peer_streams_opened_total 2",
      "edgeledger_peer_stream_frames_total 11",
      'edgeledger_peer_queue_seconds_bucket{le="0.0005"} 1',
      "edgeledger_raft_messages_sent_total 5",
      "edgeledger_raft_messages_dropped_total 1",
      "edgeledger_forwarded_txs_total 70",
      'edgeledger_peer_request_seconds_bucket{route="msg",le="0.005"} 1',
      'edgeledger_peer_request_seconds_bucket{route="forward",le="0.02"} 0',
      'edgeledger_peer_request_seconds_count{route="forward"} 1',
    ]
  ) assert.ok(text.split("\n").includes(line), line);
});

Deno.test("PeerSender: a peer without /raft/stream gets /raft/msg requests, each round trip observed under route msg", async () => {
  const counters = peerCounters();
  await withRecordingPeer(
    async (sender, received) => {
      sender.send([heartbeat(1)]);
      await until(() => received.length === 1 && counters.messagesSent === 1);
      sender.send([heartbeat(2)]);
      await until(() => received.length === 2 && counters.messagesSent === 2);
      assert.deepEqual(received.map((r) => r.via), ["msg", "msg"]);
      // It asked once; the next messages went straight to /raft/msg.
      assert.equal(counters.streamsOpened, 1);
      assert.equal(counters.msgRequests, 2);
      assert.equal(counters.requestSeconds.totals(MSG_ROUTE).count, 2);
      assert.ok(counters.requestSeconds.totals(MSG_ROUTE).sum > 0);
      assert.equal(counters.requestSeconds.totals(FORWARD_ROUTE).count, 0);
      assert.equal(counters.queueSeconds.totals().count, 2);
    },
    counters,
    { stream: false },
  );
});

Deno.test("PeerSender: a peer that refuses the stream's opening (its clock far from ours, say) gets /raft/msg requests", async () => {
  const counters = peerCounters();
  await withRecordingPeer(
    async (sender, received) => {
      sender.send([heartbeat(1)]);
      await until(() => received.length === 1 && counters.messagesSent === 1);
      assert.deepEqual(received.map((r) => r.via), ["msg"]);
      assert.equal(counters.messagesDropped, 0);
    },
    counters,
    { refuseStreamWith: 403 },
  );
});

Deno.test("PeerSender: Raft messages leave as signed frames on one long-lived /raft/stream request", async () => {
  const counters = peerCounters();
  await withRecordingPeer(async (sender, received) => {
    for (let term = 1; term <= 3; term++) {
      sender.send([heartbeat(term)]);
      await until(() => received.length === term);
    }
    assert.deepEqual(received.map((r) => r.via), ["stream", "stream", "stream"]);
    assert.deepEqual(received.map((r) => (r.body.messages[0] as Message).term), [1, 2, 3]);
    assert.equal(counters.streamsOpened, 1);
    assert.equal(counters.streamFrames, 3);
    assert.equal(counters.msgRequests, 0);
    assert.equal(counters.queueSeconds.totals().count, 3);
  }, counters);
});

Deno.test("PeerSender: once a peer ends its stream, the next messages open a new one", async () => {
  const counters = peerCounters();
  await withRecordingPeer(
    async (sender, received) => {
      sender.send([heartbeat(1)]);
      await until(() => received.length === 1);
      // The peer stopped reading after that frame; let the sender see the end.
      await until(() => counters.streamsOpened === 1);
      await new Promise((r) => setTimeout(r, 50));
      sender.send([heartbeat(2)]);
      await until(() => received.length === 2);
      assert.equal(counters.streamsOpened, 2);
      assert.deepEqual(received.map((r) => (r.body.messages[0] as Message).term), [1, 2]);
    },
    counters,
    { framesPerStream: 1 },
  );
});

Deno.test("PeerSender: messages made in one turn of the event loop leave together in one frame", async () => {
  await withRecordingPeer(async (sender, received) => {
    sender.send([heartbeat(1)]);
    // Later in the same turn (as a commit notice, then the next proposal's append).
    await Promise.resolve();
    sender.send([heartbeat(2)]);
    await until(() => received.length >= 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(received.length, 1);
    assert.deepEqual(received[0].body.messages.map((m) => (m as Message).term), [1, 2]);
  });
});

Deno.test("raft routes: a removed member, proven by the key it had, is answered 410 member_removed with its removal's index on every route and on a stream's opening; another key claiming its name gets 403", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const other = await SiteKey.create(generateKeyPair("ed25519"));
  const info = { name: "site-d", url: "", publicKey: keyPair.publicKey };
  const { app: plain } = recordingRoutes({
    name: "site-a",
    url: "",
    publicKey: new Uint8Array(32),
  });
  const app = raftRoutes({
    self: "site-b",
    member: () => undefined,
    removedMember: (n) => (n === "site-d" ? { info, index: 46 } : undefined),
    receive: () => assert.fail("a removed member's messages reach no site"),
    acceptForwarded: () => assert.fail("a removed member's forward reaches no site"),
    addCosignLines: () => assert.fail("a removed member's lines reach no site"),
    replayBlocks: () => Promise.resolve([]),
    sign: () => Promise.resolve(""),
  });
  const post = async (routes: typeof app, path: string, signer: SiteKey) => {
    const body = JSON.stringify({ from: "site-d", messages: [], txs: [], lines: [] });
    return await routes.request(path, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-edgeledger-site": "site-d",
        "x-edgeledger-sig": await signPeerBody(body, signer),
      },
      body,
    });
  };
  for (const path of ["/msg", "/forward", "/cosign"]) {
    const res = await post(app, path, key);
    const problem = await res.json();
    assert.equal(res.status, 410, `${path}: ${JSON.stringify(problem)}`);
    assert.equal(problem.type, memberRemovedType);
    assert.equal(problem.removedAt, 46);
    assert.match(problem.detail, /site-d was removed from the cluster \(log index 46\)/);
    const spoofed = await post(app, path, other);
    assert.equal(spoofed.status, 403, path);
    assert.match((await spoofed.json()).detail, /not a member/);
    // A site that knows of no removal answers as before.
    const unknown = await post(plain, path, key);
    assert.equal(unknown.status, 403, path);
    await unknown.body?.cancel();
  }
  const opened = await openStream(app, "site-d", bodyOf([], true), key);
  assert.equal(opened.status, 410);
  assert.equal((await opened.json()).type, memberRemovedType);
  const spoofedOpen = await openStream(app, "site-d", bodyOf([], true), other);
  assert.equal(spoofedOpen.status, 403);
  await spoofedOpen.body?.cancel();
});

Deno.test("memberRemovedAnswer: only a 410 whose problem type is member_removed, with the removal's index, says this site was removed (not a 410 from a proxy, not another type)", () => {
  const res = (status: number) => new Response(null, { status });
  const problem = JSON.stringify({ type: memberRemovedType, detail: "gone at 46", removedAt: 46 });
  const answer = memberRemovedAnswer("site-b", res(410), problem);
  assert.ok(answer instanceof MemberRemovedAnswer);
  assert.equal(answer.peer, "site-b");
  assert.equal(answer.detail, "gone at 46");
  assert.equal(answer.index, 46);
  assert.equal(
    memberRemovedAnswer("site-b", res(410), JSON.stringify({ type: memberRemovedType })),
    undefined,
    "no index of the removal",
  );
  assert.equal(memberRemovedAnswer("site-b", res(403), problem), undefined);
  assert.equal(memberRemovedAnswer("site-b", res(410), "<html>Gone</html>"), undefined);
  assert.equal(
    memberRemovedAnswer("site-b", res(410), JSON.stringify({ type: "about:blank" })),
    undefined,
  );
});

Deno.test("PeerSender: a peer that answers this site was removed (410 member_removed), at a stream's opening or to a /raft/msg request, is heard through onRemoved by the peer's name, and is not logged unreachable", async () => {
  for (const via of ["stream", "msg"] as const) {
    const gone = JSON.stringify({
      type: memberRemovedType,
      detail: "removed at 46",
      removedAt: 46,
    });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      const stream = new URL(req.url).pathname === "/raft/stream";
      if (stream && via === "msg") return new Response("no such route", { status: 404 });
      return new Response(gone, {
        status: 410,
        headers: { "content-type": "application/problem+json" },
      });
    });
    const heard: MemberRemovedAnswer[] = [];
    const { log, said } = recordingLogger();
    const sender = new PeerSender(
      {
        name: "site-b",
        url: `http://127.0.0.1:${server.addr.port}`,
        publicKey: new Uint8Array(32),
      },
      "site-d",
      await SiteKey.create(generateKeyPair("ed25519")),
      peerCounters(),
      undefined,
      log,
      (answer) => heard.push(answer),
    );
    try {
      sender.send([heartbeat(1)]);
      await until(() => heard.length === 1);
      assert.equal(heard[0].peer, "site-b", via);
      assert.equal(heard[0].detail, "removed at 46", via);
      assert.equal(heard[0].index, 46, via);
      assert.equal(sender.unreachable, false, via);
      await new Promise((r) => setTimeout(r, peerUnreachableLogAfterMs + 100));
      assert.deepEqual(said("peer unreachable"), [], via);
    } finally {
      sender.close();
      await server.shutdown();
    }
  }
});

Deno.test("raft routes: a peer request over peerRequestBytesMax is refused 413 before it is read as JSON or reaches the site, with or without a Content-Length", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const { app, got } = recordingRoutes({ name: "site-a", url: "", publicKey: keyPair.publicKey });
  const body = JSON.stringify({
    from: "site-a",
    messages: [heartbeat(1)],
    pad: "x".repeat(peerRequestBytesMax),
  });
  const sig = await signPeerBody(body, key);
  for (const chunked of [false, true]) {
    const res = await app.request("/msg", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-edgeledger-site": "site-a",
        "x-edgeledger-sig": sig,
      },
      body: chunked ? bodyOf([new TextEncoder().encode(body)]) : body,
      ...(chunked ? { duplex: "half" } : {}),
    } as RequestInit);
    assert.equal(res.status, 413, `chunked: ${chunked}`);
    const problem = await res.json();
    assert.match(problem.type, /\/payload_too_large$/);
    assert.match(problem.detail, new RegExp(`${peerRequestBytesMax} bytes`));
  }
  assert.deepEqual(got.messages, []);
});

Deno.test("postSigned: a peer's answer other than 2xx is a PeerAnswerError with its status (a route an older peer lacks is 404), the body's start in its message", async () => {
  const key = await SiteKey.create(generateKeyPair("ed25519"));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/raft/ok"
        ? Response.json({ fine: true })
        : new Response("no such route", { status: 404 }),
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    assert.deepEqual(await postSigned(`${base}/raft/ok`, "{}", "site-a", key), { fine: true });
    const e = await postSigned(`${base}/raft/retired-key`, "{}", "site-a", key).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(e instanceof PeerAnswerError, String(e));
    assert.equal(e.status, 404);
    assert.match(e.message, /answered 404: no such route/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("peerTimedOut: a peer that answered 504, or whose answer did not come in time, timed out; any other answer or failure is a refusal", async () => {
  const key = await SiteKey.create(generateKeyPair("ed25519"));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/raft/slow") await new Promise((r) => setTimeout(r, 500));
      return new Response("no", { status: path === "/raft/late" ? 504 : 409 });
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const failure = (path: string, timeoutMs?: number) =>
    postSigned(`${base}${path}`, "{}", "site-a", key, timeoutMs).then(() => undefined, (e) => e);
  try {
    assert.equal(peerTimedOut(await failure("/raft/late")), true);
    assert.equal(peerTimedOut(await failure("/raft/slow", 50)), true);
    assert.equal(peerTimedOut(await failure("/raft/refused")), false);
    assert.equal(peerTimedOut(new TypeError("fetch failed")), false);
    assert.equal(peerTimedOut(undefined), false);
  } finally {
    await server.shutdown();
  }
});

/**
 * A loopback server whose answer to every request is `chunks` pieces of
 * `text`, one every `everyMs` (after its head, which waits `headMs`).
 */
function tricklingServer(text: string, chunks: number, everyMs: number, headMs = 0) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    await new Promise((r) => setTimeout(r, headMs));
    const bytes = new TextEncoder().encode(text);
    const size = Math.ceil(bytes.length / chunks);
    let sent = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent >= bytes.length) return c.close();
        if (sent > 0) await new Promise((r) => timer = setTimeout(r, everyMs));
        c.enqueue(bytes.subarray(sent, sent + size));
        sent += size;
      },
      cancel() {
        clearTimeout(timer);
      },
    });
    return new Response(body);
  });
  return { url: `http://127.0.0.1:${server.addr.port}/`, close: () => server.shutdown() };
}

Deno.test("fetchPeerText() reads an answer that keeps arriving to its end, though it takes far longer than the idle time allowed", async () => {
  const text = "x".repeat(10_000);
  const server = tricklingServer(text, 10, 60);
  try {
    const t0 = performance.now();
    const got = await fetchPeerText(server.url, 200, 5000);
    const ms = performance.now() - t0;
    assert.equal(got.text, text);
    assert.equal(got.res.status, 200);
    assert.ok(ms > 400, `it took ${ms.toFixed(0)} ms: the answer did not trickle`);
  } finally {
    await server.close();
  }
});

Deno.test("fetchPeerText() gives up with a TimeoutError once no byte arrived for the idle time: before the head, or in the body", async () => {
  for (const [headMs, everyMs] of [[1000, 0], [0, 1000]]) {
    const server = tricklingServer("abcdef", 3, everyMs, headMs);
    try {
      const t0 = performance.now();
      const e = await fetchPeerText(server.url, 200, 5000).then(() => undefined, (e) => e);
      const ms = performance.now() - t0;
      assert.ok(e instanceof PeerIdleError, String(e));
      assert.equal(e.name, "TimeoutError");
      assert.match(e.message, /No byte from .* for 200 ms/);
      assert.ok(ms >= 190 && ms < 900, `gave up after ${ms.toFixed(0)} ms`);
    } finally {
      await server.close();
    }
  }
});

Deno.test("fetchPeerText() gives up at its total time, though bytes keep arriving, and at once when its signal aborts", async () => {
  const server = tricklingServer("y".repeat(1000), 100, 50);
  try {
    const e = await fetchPeerText(server.url, 1000, 300).then(() => undefined, (e) => e);
    assert.equal(e?.name, "TimeoutError", String(e));
    const stop = new AbortController();
    setTimeout(() => stop.abort(new Error("stopping")), 100);
    const stopped = await fetchPeerText(server.url, 1000, 5000, undefined, stop.signal).then(
      () => undefined,
      (e) => e,
    );
    assert.equal(stopped?.message, "stopping");
  } finally {
    await server.close();
  }
});
