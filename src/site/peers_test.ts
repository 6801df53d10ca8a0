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
  FORWARD_ROUTE,
  linesAloneAfterMs,
  MSG_ROUTE,
  peerCounters,
  type PeerInfo,
  peerMetricsText,
  PeerSender,
  signPeerBody,
  verifyPeerRequest,
  wireDecode,
  wireEncode,
} from "./peers.ts";
import { SiteKey } from "./site_key.ts";

interface Received {
  body: { from: string; messages: unknown[]; lines?: CosignLine[] };
  at: number;
}

/** A loopback peer that records every signed `/raft/msg` body it gets (and checks its signature). */
function recordingPeer(sender: PeerInfo) {
  const received: Received[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const text = await req.text();
    verifyPeerRequest(
      req.headers.get("x-edgeledger-site"),
      req.headers.get("x-edgeledger-sig"),
      text,
      (n) => (n === sender.name ? sender : undefined),
    );
    received.push({ body: JSON.parse(text), at: performance.now() });
    return new Response(null, { status: 204 });
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  return { received, url, close: () => server.shutdown() };
}

/** Runs `body` with a sender from site-a to a recording site-b, then stops both. */
async function withRecordingPeer(
  body: (sender: PeerSender, received: Received[]) => Promise<void>,
  counters = peerCounters(),
): Promise<void> {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const peer = recordingPeer({ name: "site-a", url: "", publicKey: keyPair.publicKey });
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

Deno.test("PeerSender: checkpoint lines ride with the next Raft messages in one signed request", async () => {
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
    assert.deepEqual(sender.counters, {
      ...peerCounters(),
      msgRequests: 1,
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

Deno.test("raft routes: /raft/msg hands its messages to consensus and its checkpoint lines to the site", async () => {
  const keyPair = generateKeyPair("ed25519");
  const key = await SiteKey.create(keyPair);
  const member: PeerInfo = { name: "site-a", url: "", publicKey: keyPair.publicKey };
  const got: { messages: Message[]; lines: CosignLine[] } = { messages: [], lines: [] };
  const app = raftRoutes({
    member: (n) => (n === "site-a" ? member : undefined),
    verifierKeyOf: () => undefined,
    receive: (_from, messages) => void got.messages.push(...messages),
    acceptForwarded: () => Promise.resolve(0),
    addCosignLines: (from, lines) => {
      assert.equal(from, "site-a");
      got.lines.push(...lines);
      return Promise.resolve();
    },
    replayBlocks: () => Promise.resolve([]),
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
  });
  assert.equal(ok.status, 204);
  assert.equal(got.messages.length, 1);
  assert.equal(got.messages[0].type, "heartbeat");
  assert.deepEqual(got.lines, [{ height: 9, line: "nine\n" }]);

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
  // A port nobody listens on (bound, then released).
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const sender = new PeerSender(
    { name: "site-b", url: `http://127.0.0.1:${port}`, publicKey: new Uint8Array(32) },
    "site-a",
    await SiteKey.create(keyPair),
    counters,
  );
  try {
    sender.send([heartbeat(1), heartbeat(1)]);
    await until(() => counters.messagesDropped === 2);
    assert.equal(counters.msgRequests, 1);
    assert.equal(counters.messagesSent, 0);
  } finally {
    sender.close();
    await new Promise((r) => setTimeout(r, 60)); // the back-off timer
  }
});

Deno.test("peerMetricsText: one Prometheus counter line per route and count, and the round-trip histogram", () => {
  const counters = {
    ...peerCounters(),
    msgRequests: 3,
    messagesSent: 5,
    messagesDropped: 1,
    forwardRequests: 7,
    forwardedTxs: 70,
  };
  counters.requestSeconds.observe(0.004, MSG_ROUTE);
  counters.requestSeconds.observe(0.030, FORWARD_ROUTE);
  const text = peerMetricsText(counters);
  assert.ok(text.endsWith("\n"));
  for (
    const line of [
      'edgeledger_peer_requests_total{route="msg"} 3',
      'edgeledger_peer_requests_total{route="forward"} 7',
      "edgeledger_raft_messages_sent_total 5",
      "edgeledger_raft_messages_dropped_total 1",
      "edgeledger_forwarded_txs_total 70",
      'edgeledger_peer_request_seconds_bucket{route="msg",le="0.005"} 1',
      'edgeledger_peer_request_seconds_bucket{route="forward",le="0.02"} 0',
      'edgeledger_peer_request_seconds_count{route="forward"} 1',
    ]
  ) assert.ok(text.split("\n").includes(line), line);
});

Deno.test("PeerSender: each answered request's round trip is observed under route msg", async () => {
  const counters = peerCounters();
  await withRecordingPeer(async (sender, received) => {
    sender.send([heartbeat(1)]);
    await until(() => received.length === 1 && counters.messagesSent === 1);
    assert.equal(counters.requestSeconds.totals(MSG_ROUTE).count, 1);
    assert.ok(counters.requestSeconds.totals(MSG_ROUTE).sum > 0);
    assert.equal(counters.requestSeconds.totals(FORWARD_ROUTE).count, 0);
  }, counters);
});

Deno.test("PeerSender: messages made in one turn of the event loop leave together in one request", async () => {
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
