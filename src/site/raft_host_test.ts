/**
 * The consensus host around one site, with its peers played by a loopback
 * HTTP server: what it does on restart after a crash.
 */
import assert from "node:assert/strict";
import { base64urlEncode, utf8Encode } from "../../sdk/encoding.ts";
import { generateKeyPair } from "../../sdk/keys.ts";
import { anchorTx, openTestSite, recordingLogger } from "../../test/_helpers.ts";
import { closedPort } from "../../test/_cluster.ts";
import { type Logger, silentLogger } from "../log.ts";
import {
  handOffTarget,
  knownPrefix,
  linkBack,
  MembershipTimeout,
  quorumClock,
  RaftHost,
  type RaftHostOptions,
  type ReplayBlock,
  servedTwice,
} from "./raft_host.ts";
import { proposalsInFlightMaxDefault } from "./config.ts";
import {
  decodeMessage,
  memberRemovedAnswer,
  memberRemovedType,
  signPeerBody,
  splitFrame,
  streamFrames,
  verifyPeerRequest,
  type WireMessage,
} from "./peers.ts";
import { SiteKey } from "./site_key.ts";
import {
  memberKeysAt,
  readRotatedKey,
  rotatedKeyPaths,
  signRetirement,
  signRotation,
} from "./key_rotation.ts";
import type { Site } from "./site.ts";
import type { LedgerError } from "../api/service.ts";
import type { RaftStoreApi } from "../storage/raft_store.ts";
import type { Message, Snapshot } from "../consensus/mod.ts";
import { raftRoot, raftRoutes } from "../api/raft_routes.ts";

const device = generateKeyPair("ed25519");

/**
 * A loopback peer answering `/raft/blocks` with `source`'s blocks, signed by
 * `key` as `name`, once `gate` (if given) settles — or with what `refusal`
 * answers instead, while it answers something.
 */
function blockServer(
  source: Site,
  name: string,
  key: SiteKey,
  { port = 0, gate, refusal }: {
    port?: number;
    gate?: Promise<void>;
    refusal?: () => Response | undefined;
  } = {},
) {
  return Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname !== "/raft/blocks") return new Response(null, { status: 404 });
    const refused = refusal?.();
    if (refused !== undefined) return refused;
    await gate;
    const from = Number(url.searchParams.get("from"));
    const limit = Number(url.searchParams.get("limit"));
    const body = JSON.stringify({ blocks: await source.replayBlocks(from, limit) });
    return new Response(body, {
      headers: { "x-edgeledger-site": name, "x-edgeledger-sig": await signPeerBody(body, key) },
    });
  });
}

/**
 * Starts the consensus host of `t`'s site as the only voter, ticking every
 * 5 ms (an election takes 20 ms), on `store` (the site's own by default).
 */
function startLoneVoter(
  t: Awaited<ReturnType<typeof openTestSite>>,
  store: RaftStoreApi = t.site.raftStore(),
  options: RaftHostOptions = {},
): Promise<RaftHost> {
  return RaftHost.start(
    t.site,
    store,
    "site-a",
    t.site.siteKey,
    [{ name: "site-a", url: "http://127.0.0.1:1", publicKey: t.site.siteKey.publicKey }],
    ["site-a"],
    { tickMs: 5, electionTicks: 4, heartbeatTicks: 1, ...options },
  );
}

/** `t`'s Raft store, whose writes each take 300 ms while `stalled` (a disk that stalls). */
function stallingStore(t: Awaited<ReturnType<typeof openTestSite>>) {
  const real = t.site.raftStore();
  const disk = {
    stalled: false,
    store: {
      load: () => real.load(),
      persist: async (rd, o) => {
        if (disk.stalled) await new Promise((r) => setTimeout(r, 300));
        return await real.persist(rd, o);
      },
      saveSnapshot: (snap, c) => real.saveSnapshot(snap, c),
    } as RaftStoreApi,
  };
  return disk;
}

/**
 * `t`'s Raft store with a gate: after `hold()`, the next write of entries
 * waits until `release()`; `hold()` answers the last index of that write
 * once it starts.
 */
function gatedStore(t: Awaited<ReturnType<typeof openTestSite>>) {
  const real = t.site.raftStore();
  let gate: Promise<void> | undefined;
  let open = () => {};
  let writing = (_last: number) => {};
  const store: RaftStoreApi = {
    load: () => real.load(),
    persist: async (rd, o) => {
      if (gate !== undefined && rd.entries.length > 0) {
        writing(rd.entries[rd.entries.length - 1].index);
        await gate;
      }
      await real.persist(rd, o);
    },
    saveSnapshot: (snap, c) => real.saveSnapshot(snap, c),
  };
  return {
    store,
    hold(): Promise<number> {
      gate = new Promise((r) => (open = r));
      return new Promise<number>((r) => (writing = r));
    },
    release: () => open(),
  };
}

/** Waits for `host` to lead, then adds `site-b`, out of reach, as a learner. */
async function leadWithLearner(host: RaftHost): Promise<void> {
  await untilLeader(host);
  await host.addLearner({
    name: "site-b",
    url: `http://127.0.0.1:${closedPort()}`,
    publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
  });
}

/** Waits up to 2 s for `host` to lead; the caller asserts that it does. */
async function untilLeader(host: RaftHost): Promise<void> {
  for (let i = 0; i < 400 && host.consensusStatus().role !== "leader"; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Applies blocks 1–3 to `peer` (the cluster's chain) and to `fork` (another chain from the same genesis). */
async function threeBlocksEach(peer: Site, fork: Site): Promise<void> {
  await blocksOnto(peer, 3);
  await blocksOnto(fork, 3);
}

/** Applies entries 1…`n` of leader site-b to `site`: a block of one anchor each. */
async function blocksOnto(site: Site, n: number): Promise<void> {
  for (let i = 1; i <= n; i++) {
    const batch = { time: 1_800_000_000_000 + i, proposer: "site-b", term: 1 };
    await site.applyEntry(i, { ...batch, txs: [await anchorTx(device)] });
  }
}

/**
 * Starts the consensus host of site-a (`site`, restarted after a snapshot)
 * among the voters site-a, site-b (the leader) and site-c, each of the other
 * two answering on its port with its key. It ticks never: what it does
 * comes from the messages a test sends it.
 */
function catchUpHost(
  site: Site,
  leader: { port: number; key: SiteKey },
  c: { port: number; key: SiteKey },
): Promise<RaftHost> {
  return RaftHost.start(
    site,
    site.raftStore(),
    "site-a",
    site.siteKey,
    [
      { name: "site-a", url: "http://127.0.0.1:1", publicKey: new Uint8Array(32) },
      { name: "site-b", url: `http://127.0.0.1:${leader.port}`, publicKey: leader.key.publicKey },
      { name: "site-c", url: `http://127.0.0.1:${c.port}`, publicKey: c.key.publicKey },
    ],
    ["site-a", "site-b", "site-c"],
    { tickMs: 1_000_000 },
  );
}

/**
 * Makes durable on `t`'s site the leader's snapshot of entry 3 (`target`,
 * block 3) with no block of it fetched yet, as a crash would leave it, and
 * reopens the site.
 */
async function restartAfterSnapshot(
  t: Awaited<ReturnType<typeof openTestSite>>,
  target: { header: { height: number }; hash: string },
  voters: string[],
  extra: Record<string, unknown> = {},
  reopen: Parameters<typeof t.reopen>[0] = {},
): Promise<Site> {
  await t.site.raftStore().persist({
    snapshot: {
      metadata: { index: 3, term: 1, confState: { voters, learners: [] } },
      data: utf8Encode(
        JSON.stringify({
          entryIndex: 3,
          height: target.header.height,
          hash: target.hash,
          ...extra,
        }),
      ),
    },
    entries: [],
    hardState: { term: 1, vote: "", commit: 3 },
  });
  await t.site.close();
  return await t.reopen(reopen);
}

/**
 * Starts the consensus host of site-a (`site`, restarted after a snapshot)
 * with one other voter, site-b, at `b`. It ticks never.
 */
function pairHost(site: Site, b: { url: string; publicKey: Uint8Array }): Promise<RaftHost> {
  return RaftHost.start(
    site,
    site.raftStore(),
    "site-a",
    site.siteKey,
    [
      { name: "site-a", url: "http://127.0.0.1:1", publicKey: site.siteKey.publicKey },
      { name: "site-b", ...b },
    ],
    ["site-a", "site-b"],
    { tickMs: 1_000_000 },
  );
}

/** The leader site-b sends entry 4 (committed) after the snapshot's entry 3. */
async function sendEntry4(host: RaftHost): Promise<void> {
  const next = { time: 1_800_000_000_010, proposer: "site-b", term: 1, id: "x" };
  const data = utf8Encode(JSON.stringify({ ...next, txs: [await anchorTx(device)] }));
  host.receive("site-b", [{
    type: "app",
    from: "site-b",
    to: "site-a",
    term: 1,
    prevIndex: 3,
    prevTerm: 1,
    entries: [{ index: 4, term: 1, type: "normal", data }],
    commit: 4,
  }]);
}

/** Waits up to 5 s for `site` to apply entry 4. */
async function untilApplied4(site: Site): Promise<void> {
  for (let i = 0; i < 500 && site.appliedIndex < 4; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("raft host: a restart after a snapshot install was cut short fetches the blocks it is missing (and learns the directory) before applying later entries; blocks a member did not sign are not taken, and a member other than the leader is believed once a second one serves the same blocks", async () => {
  // The cluster's chain (site-c and site-d serve it) and a fork (served as the leader
  // site-b, not signed by site-b).
  const peer = await openTestSite();
  const fork = await openTestSite({ genesis: peer.options.genesis, key: peer.options.key });
  const site = await openTestSite({ genesis: peer.options.genesis, key: peer.options.key });
  const keyB = await SiteKey.create(generateKeyPair("ed25519"));
  const keyC = await SiteKey.create(generateKeyPair("ed25519"));
  const keyD = await SiteKey.create(generateKeyPair("ed25519"));
  const forger = blockServer(fork.site, "site-b", await SiteKey.create(generateKeyPair("ed25519")));
  const server = blockServer(peer.site, "site-c", keyC);
  const serverD = blockServer(peer.site, "site-d", keyD);
  let host: RaftHost | undefined;
  let restarted: Site | undefined;
  try {
    await threeBlocksEach(peer.site, fork.site);
    const target = peer.site.head;
    const voters = ["site-a", "site-b", "site-c"];
    restarted = await restartAfterSnapshot(site, target, voters, {
      // A site added before the snapshot: its entry is compacted away.
      members: [{ name: "site-e", url: "http://127.0.0.1:2", publicKey: "A".repeat(43) }],
    });
    const members = [
      { name: "site-a", url: "http://127.0.0.1:1", publicKey: new Uint8Array(32) },
      { name: "site-b", url: `http://127.0.0.1:${forger.addr.port}`, publicKey: keyB.publicKey },
      { name: "site-c", url: `http://127.0.0.1:${server.addr.port}`, publicKey: keyC.publicKey },
      { name: "site-d", url: `http://127.0.0.1:${serverD.addr.port}`, publicKey: keyD.publicKey },
    ];
    host = await RaftHost.start(
      restarted,
      restarted.raftStore(),
      "site-a",
      restarted.siteKey,
      members,
      voters,
      { tickMs: 1_000_000 },
    );
    // Entry 4 arrives from the leader: it must become block 4, on top of the snapshot's chain.
    await sendEntry4(host);
    await untilApplied4(restarted);
    assert.equal(host.fatal, undefined);
    assert.equal(restarted.appliedIndex, 4);
    assert.equal(restarted.head.header.height, 4);
    const blocks = await restarted.blocks(0, 10, "stale");
    assert.equal(blocks[3].hash, target.hash, "blocks 1–3 are the peer's");
    assert.ok(
      host.members().some((m) => m.name === "site-e"),
      "the snapshot's directory is learned",
    );
  } finally {
    await host?.close();
    await restarted?.close();
    await server.shutdown();
    await serverD.shutdown();
    await forger.shutdown();
    await peer.cleanup();
    await fork.cleanup();
    await site.cleanup();
  }
});

Deno.test("raft host: a snapshot catch-up never writes blocks one member other than the leader serves alone (its own chain, signed by it); it waits for the leader, and takes the leader's", async () => {
  const peer = await openTestSite();
  const fork = await openTestSite({ genesis: peer.options.genesis, key: peer.options.key });
  const site = await openTestSite({ genesis: peer.options.genesis, key: peer.options.key });
  const keyB = await SiteKey.create(generateKeyPair("ed25519"));
  const keyC = await SiteKey.create(generateKeyPair("ed25519"));
  // site-c is a member and signs with its own key, but serves a chain of its own making.
  const hostile = blockServer(fork.site, "site-c", keyC);
  const leaderPort = closedPort();
  let leaderServer: Deno.HttpServer | undefined;
  let host: RaftHost | undefined;
  let restarted: Site | undefined;
  try {
    await threeBlocksEach(peer.site, fork.site);
    const target = peer.site.head;
    restarted = await restartAfterSnapshot(site, target, ["site-a", "site-b", "site-c"]);
    host = await catchUpHost(
      restarted,
      { port: leaderPort, key: keyB },
      { port: hostile.addr.port, key: keyC },
    );
    // The leader, site-b, is heard but does not answer /raft/blocks yet.
    await sendEntry4(host);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(restarted.head.header.height, 0, "site-c's chain alone was not written");
    assert.equal(host.fatal, undefined);
    leaderServer = blockServer(peer.site, "site-b", keyB, { port: leaderPort });
    await untilApplied4(restarted);
    assert.equal(host.fatal, undefined);
    assert.equal(restarted.appliedIndex, 4);
    const blocks = await restarted.blocks(0, 10, "stale");
    assert.equal(blocks[3].hash, target.hash, "blocks 1–3 are the leader's");
  } finally {
    await host?.close();
    await restarted?.close();
    await hostile.shutdown();
    await leaderServer?.shutdown();
    await peer.cleanup();
    await fork.cleanup();
    await site.cleanup();
  }
});

Deno.test("raft host: with the leader out of reach, a snapshot catch-up takes the blocks one other member serves alone once they link by hash to the snapshot's block (in a cluster of three whose leader is cut off, it waited for ever, and the other could not be elected without its vote)", async () => {
  const peer = await openTestSite();
  const site = await openTestSite({ genesis: peer.options.genesis, key: peer.options.key });
  const keyB = await SiteKey.create(generateKeyPair("ed25519"));
  const keyC = await SiteKey.create(generateKeyPair("ed25519"));
  // The cluster's chain, served by site-c alone; the leader site-b does not answer.
  const server = blockServer(peer.site, "site-c", keyC);
  let host: RaftHost | undefined;
  let restarted: Site | undefined;
  try {
    await blocksOnto(peer.site, 3);
    const target = peer.site.head;
    restarted = await restartAfterSnapshot(site, target, ["site-a", "site-b", "site-c"]);
    host = await catchUpHost(
      restarted,
      { port: closedPort(), key: keyB },
      { port: server.addr.port, key: keyC },
    );
    await sendEntry4(host);
    await untilApplied4(restarted);
    assert.equal(host.fatal, undefined);
    assert.equal(restarted.appliedIndex, 4);
    const blocks = await restarted.blocks(0, 10, "stale");
    assert.equal(blocks[3].hash, target.hash, "blocks 1–3 are the cluster's, from site-c");
  } finally {
    await host?.close();
    await restarted?.close();
    await server.shutdown();
    await peer.cleanup();
    await site.cleanup();
  }
});

Deno.test("raft host: while a snapshot's blocks are on their way the site takes part in Raft: it makes the leader's next entry and a vote durable (so it acknowledges and votes: in a cluster of three with one site down it still makes a majority), stands for no election even when the leader hands it leadership, and applies the entry once the blocks are in", async () => {
  const peer = await openTestSite();
  const site = await openTestSite({ genesis: peer.options.genesis, key: peer.options.key });
  const keyB = await SiteKey.create(generateKeyPair("ed25519"));
  const keyC = await SiteKey.create(generateKeyPair("ed25519"));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  // The leader site-b serves the blocks, once released.
  const server = blockServer(peer.site, "site-b", keyB, { gate });
  let host: RaftHost | undefined;
  let restarted: Site | undefined;
  try {
    await blocksOnto(peer.site, 3);
    const target = peer.site.head;
    restarted = await restartAfterSnapshot(site, target, ["site-a", "site-b", "site-c"]);
    const store = restarted.raftStore();
    host = await catchUpHost(
      restarted,
      { port: server.addr.port, key: keyB },
      { port: closedPort(), key: keyC },
    );
    const durably = async (
      what: string,
      holds: (d: Awaited<ReturnType<typeof store.load>>) => boolean,
    ) => {
      for (let i = 0; i < 500 && !holds(await store.load()); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(holds(await store.load()), `${what} is durable while the install waits`);
    };
    await sendEntry4(host);
    await durably("entry 4", (d) => d.entries.some((e) => e.index === 4));
    // Its status says what it catches up to.
    assert.deepEqual(host.catchingUp(), { snapshotIndex: 3, targetHeight: 3 });
    assert.deepEqual((await restarted.status()).catchingUp, { snapshotIndex: 3, targetHeight: 3 });
    // The leader hands it leadership: it does not stand (it could not lead: its state is behind).
    host.receive("site-b", [{ type: "timeoutNow", from: "site-b", to: "site-a", term: 1 }]);
    assert.equal(host.consensusStatus().role, "follower");
    assert.equal(host.consensusStatus().term, 1);
    // The leader hands leadership to site-c instead (its log is as long): it gets this site's vote.
    host.receive("site-c", [{
      type: "vote",
      from: "site-c",
      to: "site-a",
      term: 2,
      lastIndex: 4,
      lastTerm: 1,
      transfer: true,
    }]);
    await durably(
      "the vote for site-c",
      (d) => d.hardState?.term === 2 && d.hardState.vote === "site-c",
    );
    assert.equal(restarted.head.header.height, 0, "no block is in yet");
    assert.equal(restarted.appliedIndex, 0);
    release();
    await untilApplied4(restarted);
    assert.equal(host.fatal, undefined);
    assert.equal(restarted.appliedIndex, 4);
    const blocks = await restarted.blocks(0, 10, "stale");
    assert.equal(blocks[3].hash, target.hash);
    assert.equal(blocks.length, 5, "entry 4 made block 4, after the snapshot's blocks");
    assert.equal(host.catchingUp(), undefined);
    assert.equal((await restarted.status()).catchingUp, undefined);
    // Done installing, it stands when handed leadership (site-c leads term 2 now).
    host.receive("site-c", [{
      type: "heartbeat",
      from: "site-c",
      to: "site-a",
      term: 2,
      commit: 4,
      ctx: undefined,
    }]);
    host.receive("site-c", [{ type: "timeoutNow", from: "site-c", to: "site-a", term: 2 }]);
    assert.equal(host.consensusStatus().role, "candidate");
    assert.equal(host.consensusStatus().term, 3);
  } finally {
    release();
    await host?.close();
    await restarted?.close();
    await server.shutdown();
    await peer.cleanup();
    await site.cleanup();
  }
});

Deno.test("linkBack: learns a member's blocks as the cluster's only when their hashes chain to the known block, asking again for fewer when an answer stops short; knownPrefix takes a page as far as its blocks are known", async () => {
  const peer = await openTestSite();
  try {
    await blocksOnto(peer.site, 6);
    const chain = await peer.site.replayBlocks(1, 10);
    const hashes = chain.map((b) => b.hash);
    const genesisHash = (await peer.site.blocks(0, 1, "stale"))[0].hash;
    const asked: Array<[number, number]> = [];
    /** Serves `blocks` (the chain unless given), at most `most` an answer. */
    const server = (most = 10, blocks = chain) => (from: number, limit: number) => {
      asked.push([from, limit]);
      const page = blocks.filter((b) => b.header.height >= from).slice(0, Math.min(limit, most));
      return Promise.resolve(page.length > 0 ? { page } : { refused: "no blocks" });
    };
    // The snapshot's block is 6; catch-up needs 2 and up (block 1 is the head).
    let known = new Map([[6, hashes[5]]]);
    assert.equal(await linkBack(server(), 2, 6, known), 1);
    assert.deepEqual(asked, [[2, 5]]);
    assert.deepEqual([...known.keys()].sort(), [1, 2, 3, 4, 5, 6]);
    assert.equal(known.get(1), hashes[0]);
    // An answer that stops short (its size limit): asked again for as many, ending at the known block.
    asked.length = 0;
    known = new Map([[6, hashes[5]]]);
    assert.equal(await linkBack(server(2), 1, 6, known), 4);
    assert.deepEqual(asked, [[1, 6], [5, 2]]);
    assert.equal(known.get(4), hashes[3]);
    // Down to genesis: the first block's prev is the genesis block's hash.
    known = new Map([[6, hashes[5]]]);
    assert.equal(await linkBack(server(), 1, 6, known), 0);
    assert.equal(known.get(0), genesisHash);
    // Another chain, or one block forged inside the right one, links to nothing.
    const other = chain.map((b) => ({
      ...b,
      hash: b.hash.replace(/^./, (c) => c === "0" ? "1" : "0"),
    }));
    assert.equal(await linkBack(server(10, other), 1, 6, new Map([[6, hashes[5]]])), undefined);
    const forged = chain.map((b, i) =>
      i === 2 ? { ...b, header: { ...b.header, time: b.header.time + 1 } } : b
    );
    assert.equal(await linkBack(server(10, forged), 1, 6, new Map([[6, hashes[5]]])), undefined);
    const relinked = chain.map((b, i) => i === 2 ? { ...b, hash: hashes[1] } : b);
    assert.equal(await linkBack(server(10, relinked), 1, 6, new Map([[6, hashes[5]]])), undefined);
    // No answer: nothing learned.
    const none = new Map([[6, hashes[5]]]);
    assert.equal(
      await linkBack(() => Promise.resolve({ refused: "HTTP 503" }), 1, 6, none),
      undefined,
    );
    assert.equal(none.size, 1);
    // knownPrefix: as far as the blocks are known, from the first.
    const partly = new Map([[1, hashes[0]], [2, hashes[1]]]);
    assert.deepEqual(knownPrefix(chain, partly), chain.slice(0, 2));
    assert.equal(knownPrefix(chain.slice(2), partly), undefined);
    assert.equal(knownPrefix(other, partly), undefined);
    // A block with neither header nor hash is no known block.
    const blank = [{ entryIndex: 1, txs: [] } as unknown as ReplayBlock];
    assert.equal(knownPrefix(blank, partly), undefined);
  } finally {
    await peer.cleanup();
  }
});

Deno.test("Site.replayBlock with checkBeforeWriting: a block that does not re-execute to the hash served is neither written nor signed, and the right one is taken after it", async () => {
  const peer = await openTestSite();
  const site = await openTestSite({ genesis: peer.options.genesis, key: peer.options.key });
  try {
    await blocksOnto(peer.site, 1);
    const [block] = await peer.site.replayBlocks(1, 1);
    // The hash of the cluster's block 1, with other transactions.
    const forged = { ...block, txs: [await anchorTx(device)] };
    await assert.rejects(
      site.site.replayBlock(forged, { checkBeforeWriting: true }),
      /block 1: re-execution gives a different hash/,
    );
    assert.equal(site.site.head.header.height, 0);
    assert.equal(site.site.appliedIndex, 0);
    assert.equal((await site.site.blocks(0, 10, "stale")).length, 1, "no block 1 written");
    await site.site.replayBlock(block, { checkBeforeWriting: true });
    assert.equal(site.site.head.hash, block.hash);
    assert.equal((await site.site.blocks(0, 10, "stale")).length, 2);
  } finally {
    await peer.cleanup();
    await site.cleanup();
  }
});

Deno.test("servedTwice: a page counts only as far as another member served exactly the same blocks", () => {
  const block = (height: number, hash: string) =>
    ({ entryIndex: height, hash, header: { height }, txs: [] }) as unknown as ReplayBlock;
  const honest = [block(5, "a"), block(6, "b"), block(7, "c")];
  assert.equal(servedTwice(honest, []), undefined, "alone: not believed");
  assert.equal(
    servedTwice(honest, [[block(5, "x")]]),
    undefined,
    "another chain from the first block",
  );
  assert.deepEqual(servedTwice(honest, [[block(5, "a"), block(6, "b")]]), honest.slice(0, 2));
  assert.deepEqual(servedTwice(honest, [[block(5, "a"), block(6, "z")], honest]), honest);
  // Same hashes claimed, other contents: not the same blocks.
  const forged = [{ ...honest[0], txs: [{ v: 1 }] } as unknown as ReplayBlock];
  assert.equal(servedTwice(forged, [honest]), undefined);
});

Deno.test("raft host: a failed durable write halts the site: unhealthy, no writes, no leader reads; the halt is logged once with why", async () => {
  const rec = recordingLogger({ site: "site-a" });
  const t = await openTestSite({ log: rec.log });
  const real = t.site.raftStore();
  let fail = false;
  const store: RaftStoreApi = {
    load: () => real.load(),
    persist: (rd, o) =>
      fail ? Promise.reject(new Error("SQLITE_FULL: disk is full")) : real.persist(rd, o),
    saveSnapshot: (s, c) => real.saveSnapshot(s, c),
  };
  const host = await startLoneVoter(t, store);
  try {
    await untilLeader(host);
    assert.equal(host.consensusStatus().role, "leader");
    await t.site.blocks(0, 1, "leader");
    fail = true;
    await t.site.submit([await anchorTx(device)], { wait: false, waitTimeoutMs: 0 });
    for (let i = 0; i < 400 && host.fatal === undefined; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.match(String(host.fatal), /SQLITE_FULL/);
    assert.equal((await t.site.status()).healthy, false);
    const env = await anchorTx(device);
    await assert.rejects(
      () => t.site.submit([env], { wait: false, waitTimeoutMs: 0 }),
      /cannot write blocks/,
    );
    await assert.rejects(() => t.site.blocks(0, 1, "leader"), /cannot write blocks/);
    await t.site.blocks(0, 1, "stale");
    const halted = rec.said("site halted");
    assert.equal(halted.length, 1);
    assert.equal(halted[0].level, "error");
    assert.equal(halted[0].reason, "consensus host stopped");
    assert.equal((halted[0].error as { message: string }).message, "SQLITE_FULL: disk is full");
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: the json log says once that this site became leader, with the term, and each membership change with the member and the membership after it; a learner out of reach is logged unreachable once, not per heartbeat", async () => {
  const rec = recordingLogger({ site: "site-a" });
  const t = await openTestSite({ log: rec.log });
  const host = await startLoneVoter(t);
  try {
    await untilLeader(host);
    const { role, term } = host.consensusStatus();
    assert.equal(role, "leader");
    assert.ok(term >= 1);
    const elected = rec.said("became leader");
    assert.equal(elected.length, 1);
    assert.deepEqual(Object.keys(elected[0]), ["time", "level", "site", "msg", "term"]);
    assert.deepEqual({ ...elected[0], time: undefined }, {
      time: undefined,
      level: "info",
      site: "site-a",
      msg: "became leader",
      term,
    });
    assert.ok(!Number.isNaN(Date.parse(elected[0].time as string)));

    // A learner whose site is down: the change commits (learners do not vote).
    await host.addLearner({
      name: "site-b",
      url: `http://127.0.0.1:${closedPort()}`,
      publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
    });
    const added = rec.said("learner added");
    assert.equal(added.length, 1);
    assert.equal(added[0].level, "info");
    assert.equal(added[0].member, "site-b");
    assert.deepEqual(added[0].voters, ["site-a"]);
    assert.deepEqual(added[0].learners, ["site-b"]);
    // The leader sends site-b heartbeats every tick, each one dropped.
    await new Promise((r) => setTimeout(r, 300));
    const dropped = Number(
      /^edgeledger_raft_messages_dropped_total (\d+)$/m.exec(host.metrics())?.[1],
    );
    assert.ok(dropped >= 10, `${dropped} messages dropped`);
    // Said once the heartbeats have failed for a second (peerUnreachableLogAfterMs).
    for (const until = Date.now() + 5_000; rec.said("peer unreachable").length === 0;) {
      assert.ok(Date.now() < until, "site-b was not logged unreachable");
      await new Promise((r) => setTimeout(r, 20));
    }
    const unreachable = rec.said("peer unreachable");
    assert.equal(unreachable.length, 1, JSON.stringify(unreachable));
    assert.equal(unreachable[0].peer, "site-b");
    assert.match(unreachable[0].reason as string, /refused|connect/i);

    await host.remove("site-b");
    const removed = rec.said("member removed");
    assert.equal(removed.length, 1);
    assert.equal(removed[0].member, "site-b");
    assert.deepEqual(removed[0].learners, []);
    // Once per transition: nothing else about leadership came up meanwhile.
    assert.equal(rec.said("became leader").length, 1);
    assert.equal(rec.said("term changed").length, 0);
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: a learner behind the commit index is logged falling behind once, at info (a site just added catches up by design), not as a warning", async () => {
  const rec = recordingLogger({ site: "site-a" });
  const t = await openTestSite({ log: rec.log });
  const host = await startLoneVoter(t, undefined, { peerLagEntriesWarn: 4 });
  try {
    await untilLeader(host);
    assert.equal(host.consensusStatus().role, "leader");
    for (let i = 0; i < 4; i++) {
      await host.propose({ time: Date.now(), proposer: "site-a", term: 1, txs: [] });
    }
    // A site added, down: it never catches up (its entries are all dropped).
    await host.addLearner({
      name: "site-b",
      url: `http://127.0.0.1:${closedPort()}`,
      publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
    });
    // The leader looks every election timeout (20 ms): many times over.
    await new Promise((r) => setTimeout(r, 300));
    const behind = rec.said("peer falling behind");
    assert.equal(behind.length, 1, JSON.stringify(behind));
    assert.deepEqual([behind[0].level, behind[0].peer, behind[0].learner], [
      "info",
      "site-b",
      true,
    ]);
    assert.ok((behind[0].lag as number) >= 4);
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: once closed it starts no proposal, which would only wait out its timeout", async () => {
  const t = await openTestSite();
  const host = await startLoneVoter(t);
  try {
    await untilLeader(host);
    assert.equal(host.consensusStatus().role, "leader");
    await host.close();
    const started = performance.now();
    await assert.rejects(
      () => host.propose({ time: Date.now(), proposer: "site-a", term: 1, txs: [] }),
      /stopping/,
    );
    assert.ok(
      performance.now() - started < 1000,
      "refused at once, not after the proposal timeout",
    );
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: close() ends a linearizable read still waiting for the leader's answer: it is refused, not left waiting forever", async () => {
  const t = await openTestSite();
  const voters = ["site-a", "site-b"];
  let host: RaftHost | undefined;
  try {
    host = await RaftHost.start(
      t.site,
      t.site.raftStore(),
      "site-a",
      t.site.siteKey,
      [
        { name: "site-a", url: "http://127.0.0.1:1", publicKey: t.site.siteKey.publicKey },
        // The leader, out of reach: the read's request to it is never answered.
        { name: "site-b", url: `http://127.0.0.1:${closedPort()}`, publicKey: new Uint8Array(32) },
      ],
      voters,
      { tickMs: 1_000_000 },
    );
    host.receive("site-b", [
      { type: "heartbeat", from: "site-b", to: "site-a", term: 2, commit: 0, ctx: undefined },
    ]);
    assert.equal(host.consensusStatus().leader, "site-b");
    const read = host.readBarrier(60_000).then(() => "confirmed", (e) => String(e));
    await new Promise((r) => setTimeout(r, 20));
    await host.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      read,
      new Promise<string>((r) => timer = setTimeout(() => r("still waiting"), 1000)),
    ]);
    clearTimeout(timer);
    assert.match(outcome, /stopping/);
  } finally {
    await host?.close();
    await t.cleanup();
  }
});

Deno.test("raft host: status reports the leader's durable index: its own match and the commit index stay below an entry until its write returns", async () => {
  const t = await openTestSite();
  const { store, hold, release } = gatedStore(t);
  const host = await startLoneVoter(t, store);
  try {
    for (let i = 0; i < 400 && t.site.appliedIndex === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(host.consensusStatus().role, "leader");
    const durable = t.site.appliedIndex;
    const written = hold();
    await t.site.submit([await anchorTx(device)], { wait: false, waitTimeoutMs: 0 });
    const entry = await written;
    assert.equal(entry, durable + 1);
    // What /v1/status shows of this site's own progress.
    const ownMatch = (s: unknown) =>
      (s as { peers?: Record<string, { match: number }> }).peers?.["site-a"].match;
    // A lone voter's core commits its entry at once; none of it is on disk yet.
    const during = await t.site.status();
    assert.equal(ownMatch(during), durable, "own match while the write is under way");
    assert.equal(during.commitIndex, durable, "commit index while the write is under way");
    release();
    for (let i = 0; i < 400 && t.site.appliedIndex < entry; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const after = await t.site.status();
    assert.equal(ownMatch(after), entry);
    assert.equal(after.commitIndex, entry);
    assert.equal(after.height, 1);
  } finally {
    release();
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: durable before reply — a lone voter's learner never hears a commit index covering an entry the leader has not yet written (it would apply an entry a restarted leader may replace)", async () => {
  // site-b's stand-in keeps every Raft message that reaches it, with whether
  // the leader's write of `entry` had returned when it arrived, and answers
  // it as a learner that holds whatever it is sent.
  const heard: { m: Message; written: boolean }[] = [];
  let entryWritten = true;
  const leader: { host?: RaftHost } = {};
  const answer = (m: Message) => {
    const base = { from: "site-b", to: "site-a", term: m.term };
    if (m.type === "app") {
      const index = m.prevIndex + m.entries.length;
      const ack = { ...base, index, reject: false, conflictTerm: 0, conflictIndex: 0 };
      leader.host?.receive("site-b", [{ type: "appResp", ...ack }]);
    } else if (m.type === "heartbeat") {
      leader.host?.receive("site-b", [{ type: "heartbeatResp", ...base, ctx: m.ctx }]);
    }
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    let end = () => {};
    void (async () => {
      try {
        for await (const frame of streamFrames(req.body!.getReader())) {
          const body = JSON.parse(splitFrame(frame).body) as { messages: WireMessage[] };
          for (const w of body.messages) {
            const m = decodeMessage(w);
            heard.push({ m, written: entryWritten });
            answer(m);
          }
        }
      } catch { /* the sender closed its stream */ }
      end();
    })();
    return new Response(new ReadableStream({ start: (c) => void (end = () => c.close()) }));
  });
  const t = await openTestSite();
  const { store, hold, release } = gatedStore(t);
  const host = leader.host = await startLoneVoter(t, store);
  try {
    await untilLeader(host);
    await host.addLearner({
      name: "site-b",
      url: `http://127.0.0.1:${server.addr.port}`,
      publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
    });
    for (let i = 0; i < 400 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(heard.length > 0, "the learner was sent nothing");
    const written = hold();
    await t.site.submit([await anchorTx(device)], { wait: false, waitTimeoutMs: 0 });
    const entry = await written;
    entryWritten = false;
    // The write stalls; the learner's stream is open, so anything sent arrives meanwhile.
    await new Promise((r) => setTimeout(r, 300));
    entryWritten = true;
    release();
    for (let i = 0; i < 400 && t.site.appliedIndex < entry; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(t.site.appliedIndex >= entry);
    const early = heard.filter(({ m, written }) =>
      !written &&
      ((m.type === "app" || m.type === "heartbeat") && m.commit >= entry ||
        m.type === "readIndexResp" && m.index >= entry)
    );
    assert.deepEqual(
      early.map(({ m }) => m.type),
      [],
      `commit ${entry} left before it was written`,
    );
    // It does leave once written.
    const told = () =>
      heard.some(({ m }) => (m.type === "app" || m.type === "heartbeat") && m.commit >= entry);
    for (let i = 0; i < 400 && !told(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(told(), `the learner never heard commit ${entry}`);
  } finally {
    release();
    await host.close();
    await t.cleanup();
    await server.shutdown();
  }
});

Deno.test("raft host: a snapshot that could not be sent is reported lost: the leader probes the peer with its next answer and sends another, rather than waiting for heartbeat replies to stall", async () => {
  // site-b's stand-in holds nothing: it refuses the leader's first append
  // (so the leader, whose log is compacted, must send a snapshot) and goes
  // down as it does, so that the snapshot cannot be sent. It answers no
  // heartbeat by itself: the test gives the leader the replies it counts.
  const heard: Message[] = [];
  let down = false;
  const leader: { host?: RaftHost } = {};
  const base = (m: Message) => ({ from: "site-b", to: "site-a", term: m.term });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (down) return new Response("down", { status: 503 });
    let end = () => {};
    void (async () => {
      try {
        for await (const frame of streamFrames(req.body!.getReader())) {
          const body = JSON.parse(splitFrame(frame).body) as { messages: WireMessage[] };
          for (const w of body.messages) {
            const m = decodeMessage(w);
            heard.push(m);
            if (m.type !== "app" || down) continue;
            down = true;
            end();
            // Refused once its stream is gone: the snapshot goes on a new one.
            setTimeout(() =>
              leader.host?.receive("site-b", [{
                type: "appResp",
                ...base(m),
                index: m.prevIndex,
                reject: true,
                conflictTerm: 0,
                conflictIndex: 1,
              }]), 100);
          }
        }
      } catch { /* the sender closed its stream */ }
      end();
    })();
    return new Response(
      new ReadableStream({
        start: (c) =>
          void (end = () => {
            end = () => {};
            c.close();
          }),
      }),
    );
  });
  const t = await openTestSite();
  const host = leader.host = await startLoneVoter(t, t.site.raftStore(), {
    snapshotEntriesMin: 1,
    compactKeepEntries: 0,
  });
  const stateOfB = () => host.consensusStatus().progress?.["site-b"]?.state;
  const until = async (cond: () => boolean, ms: number) => {
    for (let i = 0; i < ms / 5 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    return cond();
  };
  try {
    await untilLeader(host);
    await t.site.submit([await anchorTx(device)], { wait: true, waitTimeoutMs: 5000 });
    assert.ok(host.consensusStatus().firstIndex > 1, "the leader's log is compacted");
    await host.addLearner({
      name: "site-b",
      url: `http://127.0.0.1:${server.addr.port}`,
      publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
    });
    assert.ok(await until(() => down, 2000), "site-b was sent no append");
    // The snapshot is sent, fails, and is reported: the leader probes again.
    assert.ok(
      await until(() => /^edgeledger_raft_snapshots_sent_total [1-9]/m.test(host.metrics()), 2000),
      "no snapshot was sent",
    );
    assert.ok(await until(() => stateOfB() === "probe", 1000), `site-b is in ${stateOfB()}`);
    assert.equal(heard.filter((m) => m.type === "snapshot").length, 0);
    // site-b is back: its first heartbeat reply brings another snapshot.
    down = false;
    host.receive("site-b", [{ type: "heartbeatResp", ...base(heard[0]), ctx: undefined }]);
    assert.ok(
      await until(() => heard.some((m) => m.type === "snapshot"), 2000),
      `no snapshot after a heartbeat reply (site-b is in ${stateOfB()})`,
    );
  } finally {
    await host.close();
    await t.cleanup();
    await server.shutdown();
  }
});

Deno.test("raft host: once its stop began, a site refuses leadership: a leader's timeoutNow starts no election there (before, it does at once)", async () => {
  const t = await openTestSite();
  const peer = (name: string) => ({
    name,
    url: `http://127.0.0.1:${closedPort()}`,
    publicKey: generateKeyPair("ed25519").publicKey,
  });
  // No tick fires during the test: only the messages given move the core.
  const host = await RaftHost.start(
    t.site,
    t.site.raftStore(),
    "site-a",
    t.site.siteKey,
    [
      { name: "site-a", url: "http://127.0.0.1:1", publicKey: t.site.siteKey.publicKey },
      peer("site-b"),
      peer("site-c"),
    ],
    ["site-a", "site-b", "site-c"],
    { tickMs: 1_000_000 },
  );
  const fromB = (m: { type: "heartbeat" | "timeoutNow"; term: number }): Message =>
    m.type === "heartbeat"
      ? { type: "heartbeat", from: "site-b", to: "site-a", term: m.term, commit: 0, ctx: undefined }
      : { type: "timeoutNow", from: "site-b", to: "site-a", term: m.term };
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(cond(), JSON.stringify(host.consensusStatus()));
  };
  const now = () => {
    const s = host.consensusStatus();
    return [s.role, s.term, s.leader];
  };
  try {
    host.receive("site-b", [fromB({ type: "heartbeat", term: 1 })]);
    await until(() => host.consensusStatus().leader === "site-b");
    // Before the stop: site-b hands leadership over, and this site campaigns at once.
    host.receive("site-b", [fromB({ type: "timeoutNow", term: 1 })]);
    await until(() => host.consensusStatus().term === 2);
    assert.equal(host.consensusStatus().role, "candidate");
    host.receive("site-b", [fromB({ type: "heartbeat", term: 2 })]);
    await until(() => host.consensusStatus().leader === "site-b");
    // The stop begins (a follower has nothing to hand off); the same hand-off is refused.
    assert.equal(await host.handOffLeadership(1000), undefined);
    host.receive("site-b", [fromB({ type: "timeoutNow", term: 2 })]);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(now(), ["follower", 2, "site-b"]);
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: a stopping leader hands off to a voter heard from this round, the most caught-up of them; never to a learner, a voter catching up by snapshot, or itself", () => {
  const pr = (match: number, recentActive: boolean, isLearner = false) => ({
    match,
    next: match + 1,
    state: "replicate" as const,
    recentActive,
    isLearner,
  });
  const status = (progress: Record<string, ReturnType<typeof pr>>, learners: string[] = []) => ({
    id: "site-a",
    confState: {
      voters: Object.keys(progress).filter((n) => !learners.includes(n)),
      learners,
    },
    progress,
  });
  assert.equal(
    handOffTarget(status({ "site-a": pr(9, true), "site-b": pr(7, true), "site-c": pr(8, true) })),
    "site-c",
  );
  assert.equal(
    handOffTarget(status({ "site-a": pr(9, true), "site-b": pr(7, true), "site-c": pr(9, false) })),
    "site-b",
    "one not heard from may be down",
  );
  assert.equal(
    handOffTarget(status({ "site-a": pr(9, true), "site-b": pr(9, true), "site-c": pr(9, true) })),
    "site-b",
  );
  assert.equal(
    handOffTarget(
      status({ "site-a": pr(9, true), "site-b": pr(5, true), "site-d": pr(9, true, true) }, [
        "site-d",
      ]),
    ),
    "site-b",
  );
  // One catching up by snapshot stands for no election, however caught up its log.
  const even = status({ "site-a": pr(9, true), "site-b": pr(9, true), "site-c": pr(8, true) });
  assert.equal(handOffTarget(even, new Set(["site-b"])), "site-c");
  assert.equal(handOffTarget(even, new Set(["site-b", "site-c"])), undefined);
  assert.equal(handOffTarget(status({ "site-a": pr(9, true) })), undefined);
  assert.equal(
    handOffTarget({ id: "site-a", confState: { voters: ["site-a", "site-b"], learners: [] } }),
    undefined,
    "not a leader",
  );
});

Deno.test("quorumClock: block time is the lower median of the voters' clocks heard lately, so no one clock moves it — the leader's included; fewer readings give the earlier", () => {
  const voters = ["site-a", "site-b", "site-c"];
  const at = (ms: number, heard: number) => ({ ms, at: heard });
  const year = 365 * 24 * 3600_000;
  const now = 1_767_268_800_000;
  const both = new Map([["site-b", at(now - 40, 1000)], ["site-c", at(now + 30, 1000)]]);
  // Readings are carried forward by the monotonic time since they were heard (here 200 ms).
  assert.equal(quorumClock(now, voters, "site-a", both, 1200, 10_000), now + 160);
  // A leader a year ahead proposes its voters' time; so does one a year behind.
  assert.equal(quorumClock(now + year, voters, "site-a", both, 1000, 10_000), now + 30);
  assert.equal(quorumClock(now - year, voters, "site-a", both, 1000, 10_000), now - 40);
  // One voter's clock a year ahead does not move it either.
  const oneAhead = new Map([["site-b", at(now + year, 1000)], ["site-c", at(now - 5, 1000)]]);
  assert.equal(quorumClock(now, voters, "site-a", oneAhead, 1000, 10_000), now);
  // A reading older than freshMs is left out: of two clocks, the earlier.
  const stale = new Map([["site-b", at(now - 7, 1000)], ["site-c", at(now, -20_000)]]);
  assert.equal(quorumClock(now + year, voters, "site-a", stale, 1000, 10_000), now - 7);
  // Alone (a lone voter, or no voter heard lately): its own clock.
  assert.equal(quorumClock(now, ["site-a"], "site-a", both, 1000, 10_000), now);
  assert.equal(quorumClock(now, voters, "site-a", new Map(), 1000, 10_000), now);
  // Only voters count: a learner's or a stranger's reading is not asked.
  const others = new Map([["site-d", at(0, 1000)], ["site-e", at(1, 1000)]]);
  assert.equal(quorumClock(now, voters, "site-a", others, 1000, 10_000), now);
  // Five voters: the third of five.
  const five = ["site-a", "site-b", "site-c", "site-d", "site-e"];
  const four = new Map([
    ["site-b", at(now + year, 1000)],
    ["site-c", at(now + 2 * year, 1000)],
    ["site-d", at(now - 3, 1000)],
    ["site-e", at(now + 4, 1000)],
  ]);
  assert.equal(quorumClock(now, five, "site-a", four, 1000, 10_000), now + 4);
});

Deno.test("raft host: the time a leader gives a batch is its voters' median clock from their frames, and a leader a year ahead of them says so once", async () => {
  const year = 365 * 24 * 3600_000;
  const rec = recordingLogger({ site: "site-a" });
  const t = await openTestSite({ log: rec.log });
  const other = async (name: string) => ({
    name,
    url: `http://127.0.0.1:${closedPort()}`,
    publicKey: (await SiteKey.create(generateKeyPair("ed25519"))).publicKey,
  });
  const members = [
    { name: "site-a", url: "http://127.0.0.1:1", publicKey: t.site.siteKey.publicKey },
    await other("site-b"),
    await other("site-c"),
  ];
  const host = await RaftHost.start(
    t.site,
    t.site.raftStore(),
    "site-a",
    t.site.siteKey,
    members,
    ["site-a", "site-b", "site-c"],
    { tickMs: 1000, electionTicks: 100, heartbeatTicks: 1 },
  );
  try {
    const now = Date.now();
    // Not heard from yet: its own clock.
    assert.equal(host.blockTime(now), now);
    host.peerClock("site-b", now - 50);
    host.peerClock("site-c", now + 70);
    host.peerClock("site-c", undefined); // a frame without a clock leaves the reading
    const time = host.blockTime(now + year);
    assert.ok(time >= now + 70 && time < now + 70 + 1000, String(time - now));
    assert.equal(rec.said("this leader's clock is ahead of its voters'").length, 1);
    host.blockTime(now + year);
    assert.equal(rec.said("this leader's clock is ahead of its voters'").length, 1, "said once");
    assert.ok(Math.abs(host.blockTime(Date.now()) - Date.now()) < 1000);
    assert.equal(rec.said("this leader's clock agrees with its voters' again").length, 1);
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: a leader keeps proposalsInFlightMaxDefault (2) batches in flight unless configured; a follower, its forwards", async () => {
  assert.equal(proposalsInFlightMaxDefault, 2);
  for (const [options, leading] of [[{}, 2], [{ proposalsInFlightMax: 1 }, 1]] as const) {
    const t = await openTestSite();
    const host = await startLoneVoter(t, undefined, { ...options, forwardsInFlightMax: 3 });
    try {
      assert.equal(host.proposalsInFlightMax, 3, "not leading yet: its forwards");
      await untilLeader(host);
      assert.equal(host.consensusStatus().role, "leader");
      assert.equal(host.proposalsInFlightMax, leading, JSON.stringify(options));
    } finally {
      await host.close();
      await t.cleanup();
    }
  }
});

Deno.test("raft host: a member's clock more than a second from this site's, as its frames carry it, is said once each way and shown in edgeledger_raft_peer_clock_offset_seconds", async () => {
  const rec = recordingLogger({ site: "site-a" });
  const t = await openTestSite({ log: rec.log });
  const host = await startLoneVoter(t);
  try {
    await leadWithLearner(host);
    const offset = () => {
      const line = host.metrics().split("\n").find((l) =>
        l.startsWith('edgeledger_raft_peer_clock_offset_seconds{peer="site-b"}')
      );
      return line === undefined ? undefined : Number(line.split(" ").pop());
    };
    assert.equal(offset(), undefined, "not heard yet");
    host.peerClock("site-b", Date.now() + 300);
    assert.ok(Math.abs(offset()! - 0.3) < 0.1, String(offset()));
    assert.equal(rec.said("a member's clock differs from this site's").length, 0);
    host.peerClock("site-b", Date.now() - 5_000);
    host.peerClock("site-b", Date.now() - 5_000);
    const said = rec.said("a member's clock differs from this site's");
    assert.equal(said.length, 1, "said once");
    assert.equal(said[0].peer, "site-b");
    assert.ok(Math.abs((said[0].offsetMs as number) + 5_000) < 100);
    assert.ok(Math.abs(offset()! + 5) < 0.1, String(offset()));
    host.peerClock("site-b", Date.now());
    assert.equal(rec.said("a member's clock agrees with this site's again").length, 1);
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: close() during a snapshot catch-up does not wait out a peer that never answers /raft/blocks", async () => {
  const t = await openTestSite();
  // A peer that takes the request and never answers it.
  let release!: () => void;
  const never = new Promise<void>((r) => (release = r));
  const silent = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async () => {
      await never;
      return new Response(null, { status: 503 });
    },
  );
  // A snapshot made durable before a crash, none of its blocks fetched yet. The catch-up
  // that close() ends halts the site: expected here, not worth a line.
  const restarted = await restartAfterSnapshot(
    t,
    { header: { height: 3 }, hash: "00".repeat(32) },
    ["site-a", "site-b"],
    {},
    { log: silentLogger },
  );
  let host: RaftHost | undefined;
  try {
    host = await pairHost(restarted, {
      url: `http://127.0.0.1:${silent.addr.port}`,
      publicKey: new Uint8Array(32),
    });
    // The catch-up is waiting on the silent peer.
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await host.close();
    const tookMs = Date.now() - started;
    assert.ok(tookMs < 3000, `close() took ${tookMs} ms`);
  } finally {
    await host?.close();
    await restarted.close();
    release();
    await silent.shutdown();
    await t.cleanup();
  }
});

Deno.test("raft host: a site removed while it catches up by snapshot learns it from the members' 410, waits without a stall (gauge 0, no warning, one line at info), and goes on once added again", async () => {
  const peer = await openTestSite();
  const site = await openTestSite({ genesis: peer.options.genesis, key: peer.options.key });
  const keyB = await SiteKey.create(generateKeyPair("ed25519"));
  const rec = recordingLogger({ site: "site-a" });
  // site-b, the leader: it applied site-a's removal (entry 2), until it is added again.
  let removed = true;
  let refusals = 0;
  const server = blockServer(peer.site, "site-b", keyB, {
    refusal: () => {
      if (!removed) return undefined;
      refusals++;
      return Response.json({
        type: memberRemovedType,
        status: 410,
        title: "Site removed from the cluster",
        detail: "site-a was removed from the cluster at index 2",
        removedAt: 2,
      }, { status: 410 });
    },
  });
  let host: RaftHost | undefined;
  let restarted: Site | undefined;
  try {
    await blocksOnto(peer.site, 3);
    const target = peer.site.head;
    // Entry 3's snapshot (site-a a voter in it: the membership it was added back to).
    restarted = await restartAfterSnapshot(site, target, ["site-a", "site-b"], {}, {
      log: rec.log,
    });
    host = await pairHost(restarted, {
      url: `http://127.0.0.1:${server.addr.port}`,
      publicKey: keyB.publicKey,
    });
    const h = host;
    for (let i = 0; i < 300 && h.removal === undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(h.removal, {
      index: 2,
      by: "site-b",
      detail: "site-a was removed from the cluster at index 2",
    });
    // Asked again (after 0.5 s, then 1 s): still removed, and no stall.
    await new Promise((r) => setTimeout(r, 1700));
    assert.ok(refusals >= 2, `asked ${refusals} time(s)`);
    assert.match(h.metrics(), /^edgeledger_raft_snapshot_install_stalled_seconds 0$/m);
    assert.equal(
      rec.said("snapshot catch-up: no peer serves the next block; asking again").length,
      0,
    );
    const waits = rec.said(
      "snapshot catch-up waits: this site was removed from the cluster; it goes on if the site is " +
        "added again",
    );
    assert.equal(waits.length, 1, rec.lines.join("\n"));
    assert.equal(waits[0].target, 3);
    assert.equal(restarted.head.header.height, 0, "no block is taken while removed");

    // Added again: site-b serves the blocks; the install finishes, and the next entry takes
    // site-a back in (its snapshot's membership names it, past its removal).
    removed = false;
    for (let i = 0; i < 500 && restarted.head.header.height < 3; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(restarted.head.hash, target.hash);
    await sendEntry4(h);
    await untilApplied4(restarted);
    assert.equal(restarted.appliedIndex, 4);
    assert.equal(h.removal, undefined);
    assert.equal(h.fatal, undefined);
  } finally {
    await host?.close();
    await restarted?.close();
    await server.shutdown();
    await peer.cleanup();
    await site.cleanup();
  }
});

Deno.test("raft host: checkpoint signatures go to the configuration's members only: a removed site is sent none", async () => {
  // site-b's stand-in counts what reaches it over its Raft stream, which it
  // answers at once (as a site does) with a body it keeps open while reading.
  let received = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      let end = () => {};
      void (async () => {
        try {
          for await (const chunk of req.body ?? []) received += chunk.length;
        } catch { /* the sender closed its stream */ }
        end();
      })();
      return new Response(new ReadableStream({ start: (c) => void (end = () => c.close()) }));
    },
  );
  const t = await openTestSite();
  const host = await startLoneVoter(t);
  const line = (height: number) => [{ height, line: `— site-a ${"x".repeat(40)}\n` }];
  /** Bytes site-b receives within `ms` after one broadcast. */
  const after = async (height: number, ms: number) => {
    const before = received;
    host.broadcastCosign(line(height));
    await new Promise((r) => setTimeout(r, ms));
    return received - before;
  };
  try {
    await untilLeader(host);
    await host.addLearner({
      name: "site-b",
      url: `http://127.0.0.1:${server.addr.port}`,
      publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
    });
    // A member: the lines reach it (they go alone after 50 ms without a Raft message).
    let got = 0;
    for (let h = 1; got === 0 && h < 20; h++) got = await after(h, 200);
    assert.ok(got > 0, "a learner was sent no checkpoint signature");

    await host.remove("site-b");
    // Heartbeats to a removed site stop with the change; let any in flight land.
    await new Promise((r) => setTimeout(r, 300));
    for (let h = 100; h < 105; h++) assert.equal(await after(h, 200), 0, `line ${h} was sent`);
  } finally {
    await host.close();
    await t.cleanup();
    await server.shutdown();
  }
});

Deno.test("raft host: a member named in peerUrls is sent to at that URL, not the recorded one, which the directory and leaderUrl keep (also after the log records another URL for it)", async () => {
  // site-b's stand-in notes who opens streams to it, and answers at once
  // with a body it keeps open while reading, as a site does.
  const openedBy: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      if (new URL(req.url).pathname === "/raft/stream") {
        openedBy.push(req.headers.get("x-edgeledger-site") ?? "");
      }
      let end = () => {};
      void (async () => {
        try {
          for await (const _ of req.body ?? []) { /* read */ }
        } catch { /* the sender closed its stream */ }
        end();
      })();
      return new Response(new ReadableStream({ start: (c) => void (end = () => c.close()) }));
    },
  );
  const t = await openTestSite();
  const reached = `http://127.0.0.1:${server.addr.port}`;
  const recorded = `http://127.0.0.1:${closedPort()}`;
  const host = await startLoneVoter(t, undefined, { peerUrls: { "site-b": reached } });
  const url = (name: string) => host.members().find((m) => m.name === name)?.url;
  try {
    await untilLeader(host);
    await host.addLearner({
      name: "site-b",
      url: recorded,
      publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
    });
    for (let i = 0; i < 100 && openedBy.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(openedBy.slice(0, 1), ["site-a"], "no stream reached site-b's peerUrls URL");
    assert.equal(url("site-b"), recorded, "the directory keeps the recorded URL");
    // The log moves site-b; this site still reaches it where its config says.
    await host.updateMemberUrl("site-b", `http://127.0.0.1:${closedPort()}`);
    const before = openedBy.length;
    for (let i = 0; i < 100 && openedBy.length === before; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(openedBy.length > before, "the sender to the moved site-b left peerUrls' URL");
    assert.notEqual(url("site-b"), reached);
    assert.equal(host.leaderUrl(), "http://127.0.0.1:1", "leaderUrl is the recorded URL");
  } finally {
    await host.close();
    await t.cleanup();
    await server.shutdown();
  }
});

Deno.test("raft host: leadership goes only to a voter: a name that is no member is refused naming the voters, a learner told to be promoted first", async () => {
  const t = await openTestSite();
  const host = await startLoneVoter(t);
  try {
    await leadWithLearner(host);
    const started = performance.now();
    await assert.rejects(
      () => host.transferLeadership("site-z"),
      {
        name: "MembershipError",
        message:
          "Cannot transfer leadership to site-z: site-z is not a voting member: the voters are site-a",
      },
    );
    await assert.rejects(
      () => host.transferLeadership("site-b"),
      {
        name: "MembershipError",
        message:
          "Cannot transfer leadership to site-b: it is a learner; promote it to a voter first",
      },
    );
    await assert.rejects(
      () => host.transferLeadership("site-a"),
      {
        name: "MembershipError",
        message: "Cannot transfer leadership to site-a: it leads already",
      },
    );
    assert.ok(performance.now() - started < 1000, "refused at once, not after a timeout");
    assert.equal(host.consensusStatus().role, "leader");
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: a removal, once applied, is kept across a restart (the removed site is answered 410); a site added again leaves it", async () => {
  const t = await openTestSite();
  const b = generateKeyPair("ed25519");
  const member = {
    name: "site-b",
    url: `http://127.0.0.1:${closedPort()}`,
    publicKey: base64urlEncode(b.publicKey),
  };
  let host = await startLoneVoter(t);
  try {
    await untilLeader(host);
    await host.addLearner(member);
    assert.equal(host.removedMember("site-b"), undefined, "a member is not removed");
    await host.remove("site-b");
    const gone = host.removedMember("site-b");
    assert.ok(gone !== undefined && gone.index > 0);
    assert.deepEqual(gone.info.publicKey, b.publicKey, "known by the key it had");
    assert.equal(host.removedMember("site-z"), undefined, "a name never a member is not removed");
    await host.close();
    host = await startLoneVoter(t);
    await untilLeader(host);
    assert.equal(host.removedMember("site-b")?.index, gone.index, "kept across a restart");
    await host.addLearner(member);
    assert.equal(host.removedMember("site-b"), undefined, "added again, it is a member");
    await host.close();
    host = await startLoneVoter(t);
    assert.equal(host.removedMember("site-b"), undefined, "and stays one after a restart");
  } finally {
    await host.close();
    await t.cleanup();
  }
});

/**
 * site-a leading alone (its blocks served at `urlA`), snapshotting at every
 * applied entry and keeping none behind it, and site-c's fresh database,
 * joining: a site that can only catch up from site-a's snapshot.
 */
async function snapshottingLeader() {
  const leaderT = await openTestSite();
  const server = blockServer(leaderT.site, "site-a", leaderT.site.siteKey);
  const urlA = `http://127.0.0.1:${server.addr.port}`;
  const leader = await RaftHost.start(
    leaderT.site,
    leaderT.site.raftStore(),
    "site-a",
    leaderT.site.siteKey,
    [{ name: "site-a", url: urlA, publicKey: leaderT.site.siteKey.publicKey }],
    ["site-a"],
    {
      tickMs: 5,
      electionTicks: 4,
      heartbeatTicks: 1,
      snapshotEntriesMin: 1,
      compactKeepEntries: 0,
    },
  );
  const receiverT = await openTestSite({
    genesis: leaderT.options.genesis,
    key: generateKeyPair("ed25519"),
    name: "site-c",
    joining: true,
  });
  return { leaderT, server, urlA, leader, receiverT };
}

/** site-c's host on `site`, knowing site-a (`siteA`, at `urlA`); it never ticks. */
function startSiteC(site: Site, siteA: Site, urlA: string, log?: Logger): Promise<RaftHost> {
  return RaftHost.start(
    site,
    site.raftStore(),
    "site-c",
    site.siteKey,
    [
      { name: "site-a", url: urlA, publicKey: siteA.siteKey.publicKey },
      { name: "site-c", url: "http://127.0.0.1:1", publicKey: site.siteKey.publicKey },
    ],
    ["site-a"],
    { tickMs: 1_000_000, ...(log === undefined ? {} : { log }) },
  );
}

/**
 * site-c (`receiverT`) made `snap` durable, as the leader's snapshot message
 * would, and is reopened and started (`start`); site-a's heartbeat says it
 * leads, so site-c takes its blocks up to the snapshot. Resolves once it
 * applied them.
 */
async function catchUpFrom(
  receiverT: Awaited<ReturnType<typeof openTestSite>>,
  snap: Snapshot,
  start: (site: Site) => Promise<RaftHost>,
): Promise<{ receiver: Site; host: RaftHost }> {
  await receiverT.site.raftStore().persist({
    snapshot: snap,
    entries: [],
    hardState: { term: snap.metadata.term, vote: "", commit: snap.metadata.index },
  });
  await receiverT.site.close();
  const receiver = await receiverT.reopen();
  const host = await start(receiver);
  host.receive("site-a", [{
    type: "heartbeat",
    from: "site-a",
    to: "site-c",
    term: snap.metadata.term,
    commit: snap.metadata.index,
    ctx: undefined,
  }]);
  for (let i = 0; i < 500 && receiver.appliedIndex < snap.metadata.index; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(host.fatal, undefined);
  assert.equal(receiver.appliedIndex, snap.metadata.index);
  return { receiver, host };
}

Deno.test("raft host: a site that caught up by snapshot past a removal answers the removed site as removed (410, with the index of its removal), as one that applied the removal does, also after a restart", async () => {
  const b = generateKeyPair("ed25519");
  const keyB = await SiteKey.create(b);
  // site-a leads alone, adds site-b and site-c as learners (both out of
  // reach), removes site-b and snapshots past the removal, compacting it away.
  const { leaderT, server, urlA, receiverT, ...t } = await snapshottingLeader();
  let leader: RaftHost | undefined = t.leader;
  let host: RaftHost | undefined;
  let receiver: Site | undefined;
  try {
    await untilLeader(leader);
    await leader.addLearner({
      name: "site-b",
      url: `http://127.0.0.1:${closedPort()}`,
      publicKey: base64urlEncode(b.publicKey),
    });
    await leader.addLearner({
      name: "site-c",
      url: `http://127.0.0.1:${closedPort()}`,
      publicKey: base64urlEncode(receiverT.site.siteKey.publicKey),
    });
    await leader.remove("site-b");
    const removedAt = leader.removedMember("site-b")!.index;
    const [receipt] = await leaderT.site.submit([await anchorTx(device)], {
      wait: true,
      waitTimeoutMs: 5000,
    });
    assert.equal(receipt.status, "committed");
    await leader.close();
    leader = undefined;
    const snap = (await leaderT.site.raftStore().load()).snapshot!;
    assert.ok(snap.metadata.index > removedAt, "the snapshot is past the removal");
    assert.deepEqual(snap.metadata.confState.learners, ["site-c"]);

    // site-c holds only that snapshot (sent by the leader, made durable), and
    // catches up from it: it never applies the removal's entry.
    const start = (site: Site) => startSiteC(site, leaderT.site, urlA);
    ({ receiver, host } = await catchUpFrom(receiverT, snap, start));

    // site-b, still running and signing with its key, is told it was removed.
    const answered = async (h: RaftHost) => {
      const app = raftRoot(raftRoutes({
        self: "site-c",
        member: (n) => h.member(n),
        removedMember: (n) => h.removedMember(n),
        receive: () => {},
        acceptForwarded: () => Promise.resolve({ accepted: 0, refused: [] } as never),
        addCosignLines: () => Promise.resolve(),
        replayBlocks: () => Promise.resolve([]),
        sign: () => Promise.resolve("sig"),
      }));
      const body = JSON.stringify({ from: "site-b", messages: [] });
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
      assert.equal(res.status, 410, text);
      return memberRemovedAnswer("site-c", res, text);
    };
    assert.equal(host.member("site-b"), undefined, "site-b's key is refused");
    assert.deepEqual(host.removedMember("site-b")?.info.publicKey, b.publicKey);
    assert.equal((await answered(host))?.index, removedAt);
    await host.close();
    host = await start(receiver);
    assert.equal((await answered(host))?.index, removedAt, "kept across a restart");
  } finally {
    await leader?.close();
    await host?.close();
    await receiver?.close();
    await server.shutdown();
    await leaderT.cleanup();
    await receiverT.cleanup();
  }
});

Deno.test("raft host: a site removed and added again that catches up by a snapshot taken between its removal and its return stays in: the leader sends it only because it is a member again", async () => {
  const { leaderT, server, urlA, receiverT, ...t } = await snapshottingLeader();
  let leader: RaftHost | undefined = t.leader;
  const rec = recordingLogger({ site: "site-c" });
  let host: RaftHost | undefined;
  let receiver: Site | undefined;
  try {
    // site-c (out of reach) is added, removed, and — once site-a took a
    // snapshot past the removal — added again (a restored site comes back so).
    await untilLeader(leader);
    const c = {
      name: "site-c",
      url: `http://127.0.0.1:${closedPort()}`,
      publicKey: base64urlEncode(receiverT.site.siteKey.publicKey),
    };
    await leader.addLearner(c);
    await leader.remove("site-c");
    const [receipt] = await leaderT.site.submit([await anchorTx(device)], {
      wait: true,
      waitTimeoutMs: 5000,
    });
    assert.equal(receipt.status, "committed");
    const snap = (await leaderT.site.raftStore().load()).snapshot!;
    assert.ok(snap.metadata.index > leader.removedMember("site-c")!.index);
    assert.deepEqual(snap.metadata.confState.learners, []);
    await leader.addLearner(c);
    assert.ok(leader.consensusStatus().progress?.["site-c"], "site-c is the leader's again");
    await leader.close();
    leader = undefined;

    // The leader sends site-c that snapshot (the newest it had when it
    // found site-c behind its log); site-c catches up from it.
    const start = (site: Site) => startSiteC(site, leaderT.site, urlA, rec.log);
    ({ receiver, host } = await catchUpFrom(receiverT, snap, start));
    // It takes part: the entry that added it again comes next from the leader.
    assert.equal(host.removal, undefined, "site-c retired on a snapshot it was sent as a member");
    assert.deepEqual(
      rec.said(
        "this site was removed from the cluster: it takes no part in it any more; stop it, or add it again to bring it back",
      ),
      [],
    );
    await host.close();
    host = await start(receiver);
    assert.equal(host.removal, undefined, "site-c retired when restarted");
  } finally {
    await leader?.close();
    await host?.close();
    await receiver?.close();
    await server.shutdown();
    await leaderT.cleanup();
    await receiverT.cleanup();
  }
});

Deno.test("raft host: a site that applied its own removal stays out when restarted on that data: it never campaigns, refuses writes and current reads saying it was removed, serves stale reads, says so once at error", async () => {
  const rec = recordingLogger({ site: "site-a" });
  const t = await openTestSite({ log: rec.log });
  // What applying the removal of site-a at log index 7 left in its database.
  await t.site.store.setMeta({ removed_members: JSON.stringify({ "site-a": 7 }) });
  const host = await startLoneVoter(t);
  try {
    await new Promise((r) => setTimeout(r, 100)); // five election timeouts of a lone voter
    assert.deepEqual(host.removal, { index: 7 });
    assert.notEqual(host.consensusStatus().role, "leader");
    assert.equal(host.consensusStatus().term, 0, "it never campaigned");
    const status = await t.site.status();
    assert.equal(status.removed, true);
    assert.equal(status.healthy, true, "removed is not broken");
    await assert.rejects(
      async () => t.site.submit([await anchorTx(device)], { wait: false, waitTimeoutMs: 0 }),
      /was removed from the cluster at log index 7/,
    );
    await assert.rejects(() => t.site.blocks(0, 1, "linearizable"), /was removed from the cluster/);
    await t.site.blocks(0, 1, "stale");
    assert.match(t.site.metrics(), /^edgeledger_site_removed 1$/m);
    const said = rec.records.filter((r) => String(r.msg).startsWith("this site was removed"));
    assert.equal(said.length, 1);
    assert.equal(said[0].level, "error");
    assert.equal(said[0].index, 7);
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: a member moved to a new URL keeps it across a restart, over the URL genesis names; a name with another key never takes an entry; a name that is no member is an UnknownMemberError to move, promote or remove", async () => {
  const t = await openTestSite();
  const url = (host: RaftHost, name: string) => host.members().find((m) => m.name === name)?.url;
  let host = await startLoneVoter(t);
  try {
    await untilLeader(host);
    assert.equal(url(host, "site-a"), "http://127.0.0.1:1", "genesis's URL");
    await host.updateMemberUrl("site-a", "https://pop-1.example:7443");
    assert.equal(url(host, "site-a"), "https://pop-1.example:7443");
    // A name that is no member: nothing to change (the admin routes answer 404, not 409).
    const unknown = { name: "UnknownMemberError", message: "Site site-z is not a member" };
    await assert.rejects(
      () => host.updateMemberUrl("site-z", "https://pop-9.example:7443"),
      unknown,
    );
    await assert.rejects(() => host.promote("site-z"), unknown);
    await assert.rejects(() => host.remove("site-z"), unknown);
    // A site added, removed, then added again at a new URL (same key) is there.
    const b = generateKeyPair("ed25519");
    const member = {
      name: "site-b",
      url: "http://127.0.0.1:9",
      publicKey: base64urlEncode(b.publicKey),
    };
    await host.addLearner(member);
    await host.remove("site-b");
    // Another key under a known name is refused, and never replaces the entry.
    await assert.rejects(
      () =>
        host.addLearner({
          ...member,
          url: "https://evil.example",
          publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
        }),
      /known with another key/,
    );
    assert.equal(url(host, "site-b"), "http://127.0.0.1:9");
    await host.addLearner({ ...member, url: "https://pop-2.example:7443" });
    assert.equal(url(host, "site-b"), "https://pop-2.example:7443");
    await host.close();
    host = await startLoneVoter(t);
    assert.equal(url(host, "site-a"), "https://pop-1.example:7443", "the log's URL, not genesis's");
    assert.equal(url(host, "site-b"), "https://pop-2.example:7443");
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: a membership change proposed but not applied in time is a MembershipTimeout saying it may still take effect, not a refusal; it does take effect", async () => {
  const t = await openTestSite();
  // Each Raft write takes 300 ms while stalled, past the 100 ms proposal timeout.
  const disk = stallingStore(t);
  const host = await startLoneVoter(t, disk.store, { proposalTimeoutMs: 100 });
  const member = {
    name: "site-b",
    url: `http://127.0.0.1:${closedPort()}`,
    publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
  };
  try {
    await untilLeader(host);
    disk.stalled = true;
    const e = await host.addLearner(member).catch((e) => e);
    assert.ok(e instanceof MembershipTimeout, String(e));
    assert.match(e.message, /add site-b\) was proposed but not applied within 100 ms/);
    assert.match(e.message, /may still take effect/);
    disk.stalled = false;
    // It did: the directory entry is applied once the write returns.
    for (let i = 0; i < 200 && !host.members().some((m) => m.name === "site-b"); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(host.members().some((m) => m.name === "site-b"));
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: a site's removal not yet applied leaves its key heard (a new leader may undo it, and must be heard); once applied it is refused, and answered as removed", async () => {
  const t = await openTestSite();
  const disk = stallingStore(t);
  const host = await startLoneVoter(t, disk.store);
  try {
    await untilLeader(host);
    await host.addLearner({
      name: "site-b",
      url: `http://127.0.0.1:${closedPort()}`,
      publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
    });
    assert.ok(host.member("site-b"));
    disk.stalled = true;
    const removal = host.remove("site-b");
    // In force from its append (Raft's rule for a membership change), not applied yet.
    for (let i = 0; i < 100 && host.consensusStatus().confState.learners.includes("site-b"); i++) {
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.deepEqual(host.consensusStatus().confState.learners, []);
    assert.ok(host.member("site-b"), "heard while its removal is not applied");
    assert.equal(host.removedMember("site-b"), undefined);
    disk.stalled = false;
    await removal;
    assert.equal(host.member("site-b"), undefined, "refused once applied");
    assert.ok(host.removedMember("site-b"));
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: a learner whose latest frame said it is catching up by snapshot is not promoted, refused saying why; a frame without it lifts that; a non-member's word counts for nothing", async () => {
  const t = await openTestSite();
  // The promotion, once proposed, cannot commit (site-b is out of reach): it times out at once.
  const host = await startLoneVoter(t, undefined, { proposalTimeoutMs: 300 });
  try {
    await leadWithLearner(host);
    host.peerCatchingUp("site-b", true);
    host.peerCatchingUp("site-z", true);
    assert.deepEqual(host.peersCatchingUp(), ["site-b"]);
    const { peers } = await t.site.status() as {
      peers?: Record<string, { catchingUp?: boolean }>;
    };
    assert.equal(peers?.["site-b"]?.catchingUp, true);
    await assert.rejects(
      () => host.promote("site-b"),
      /Cannot promote site-b: it is catching up by snapshot; promote it once its blocks are in/,
    );
    assert.deepEqual(host.consensusStatus().confState.learners, ["site-b"]);
    host.peerCatchingUp("site-b", false);
    assert.deepEqual(host.peersCatchingUp(), []);
    // Proposed this time (it then waits for a majority that includes site-b).
    await assert.rejects(() => host.promote("site-b"), MembershipTimeout);
    assert.deepEqual(host.consensusStatus().confState.voters, ["site-a", "site-b"]);
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: a member whose latest frame said it is low on disk space makes the site refuse new transactions naming it, until it says otherwise or goes unheard for two election timeouts; a non-member's word counts for nothing", async () => {
  const t = await openTestSite();
  const host = await startLoneVoter(t);
  try {
    await leadWithLearner(host);
    const low = { freeBytes: 100 * 1024 * 1024, freeBytesMin: 512 * 1024 * 1024, low: true };
    host.peerStorage("site-z", low);
    assert.deepEqual(host.storageLow(), []);
    host.peerStorage("site-b", low);
    assert.deepEqual(host.storageLow(), [{ site: "site-b", ...low }]);
    const refused = await anchorTx(device);
    await assert.rejects(
      () => t.site.submit([refused], { wait: false, waitTimeoutMs: 0 }),
      (e: LedgerError) => {
        assert.equal(e.type, "insufficient_storage");
        assert.equal(e.status, 503);
        assert.equal(e.extra.retryAfter, 30);
        assert.deepEqual(e.extra.sites, [
          { site: "site-b", freeBytes: low.freeBytes, freeBytesMin: low.freeBytesMin },
        ]);
        assert.equal(
          e.message,
          "New transactions are paused: site-b has 100 MiB free on its data volume, under its " +
            "minimum of 512 MiB. They are taken again once it has more; reads go on",
        );
        return true;
      },
    );
    assert.deepEqual((await t.site.status()).storageLow, [
      { site: "site-b", freeBytes: low.freeBytes, freeBytesMin: low.freeBytesMin },
    ]);
    // A frame without `storage`: not low any more.
    host.peerStorage("site-b", undefined);
    assert.deepEqual(host.storageLow(), []);
    const [ok] = await t.site.submit([refused], { wait: false, waitTimeoutMs: 0 });
    assert.equal(ok.status, "pending");
    // A member low and then silent (halted on a full disk, say) holds writes two election timeouts at most.
    host.peerStorage("site-b", low);
    assert.equal(host.storageLow().length, 1);
    const deadline = Date.now() + 2000;
    while (host.storageLow().length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(host.storageLow(), []);
    assert.equal((await t.site.status()).storageLow, undefined);
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: a membership change answers ok only if the entry applied at its index is its own: a new leader's entry that took that index before it committed makes it a MembershipTimeout, and the change never happened", async () => {
  const t = await openTestSite();
  // Elections slow enough (1 s) that CheckQuorum does not step the leader down mid-test.
  const host = await startLoneVoter(t, undefined, { electionTicks: 200, proposalTimeoutMs: 3000 });
  const closed = () => `http://127.0.0.1:${closedPort()}`;
  const newKey = () => base64urlEncode(generateKeyPair("ed25519").publicKey);
  try {
    await untilLeader(host);
    await host.addLearner({ name: "site-b", url: closed(), publicKey: newKey() });
    await host.addLearner({ name: "site-c", url: closed(), publicKey: newKey() });
    // site-b (out of reach; played by this test) becomes a voter: its acknowledgment commits it.
    const promoteB = host.promote("site-b");
    const { term, lastIndex } = host.consensusStatus();
    const ack = (index: number): Message => ({
      type: "appResp",
      from: "site-b",
      to: "site-a",
      term,
      index,
      reject: false,
      conflictTerm: 0,
      conflictIndex: 0,
    });
    host.receive("site-b", [ack(lastIndex)]);
    await promoteB;
    assert.deepEqual(host.consensusStatus().confState, {
      voters: ["site-a", "site-b"],
      learners: ["site-c"],
    });
    // The promotion of site-c is appended here, and needs site-b to commit.
    const promoteC = host.promote("site-c").then(() => "ok", (e) => e);
    const at = host.consensusStatus().lastIndex;
    assert.deepEqual(host.consensusStatus().confState.voters, ["site-a", "site-b", "site-c"]);
    // site-b wins the next term without it, and its own (empty) entry takes that index, committed.
    const app: Message = {
      type: "app",
      from: "site-b",
      to: "site-a",
      term: term + 1,
      prevIndex: at - 1,
      prevTerm: term,
      entries: [{ index: at, term: term + 1, type: "normal", data: new Uint8Array() }],
      commit: at,
    };
    host.receive("site-b", [app]);
    const outcome = await promoteC;
    assert.ok(outcome instanceof MembershipTimeout, String(outcome));
    assert.match(
      outcome.message,
      /\(promote site-c\) was proposed at index \d+, but what this site applied there is not it/,
    );
    const status = host.consensusStatus();
    assert.equal(status.role, "follower");
    assert.equal(status.leader, "site-b");
    assert.deepEqual(status.confState, { voters: ["site-a", "site-b"], learners: ["site-c"] });
    assert.ok(t.site.appliedIndex >= at);
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: a site rotates its own key — signed by the old key and the new one, through the log — and signs with the new key from the next block on; a restart on its old key file takes the rotated key from its data folder; the chain verifies with each block's key", async () => {
  const t = await openTestSite();
  const rotatedKeys = rotatedKeyPaths(`${t.dir}/ledger.db`);
  const host = await startLoneVoter(t, undefined, { rotatedKeys });
  let reopened: Site | undefined;
  let host2: RaftHost | undefined;
  try {
    await untilLeader(host);
    const [before] = await t.site.submit([await anchorTx(device)], {
      wait: true,
      waitTimeoutMs: 5000,
    });
    const old = base64urlEncode(t.site.siteKey.publicKey);
    const r = await host.rotateKey();
    assert.equal(r.previous, old);
    assert.notEqual(r.publicKey, old);
    assert.equal(base64urlEncode(t.site.siteKey.publicKey), r.publicKey, "the site signs with it");
    assert.equal(t.site.siteKey.chain.length, 1);
    const me = host.member("site-a")!;
    assert.equal(base64urlEncode(me.publicKey), r.publicKey);
    assert.deepEqual(me.retired?.map((k) => [base64urlEncode(k.publicKey), k.untilHeight]), [
      [old, before.height],
    ]);
    // The key is kept in the data folder; the rotation in progress is done.
    assert.equal(
      base64urlEncode((await readRotatedKey(rotatedKeys.current))!.publicKey),
      r.publicKey,
    );
    assert.equal(await readRotatedKey(rotatedKeys.next), undefined);
    const [after] = await t.site.submit([await anchorTx(device)], {
      wait: true,
      waitTimeoutMs: 5000,
    });
    assert.equal(after.height, before.height! + 1);
    assert.equal((await t.site.integrity()).ok, true, "block 1 under the old key, block 2 the new");
    await host.close();
    await t.site.close();

    // The config still names the old key file: the rotated key is taken instead.
    reopened = await t.reopen({ rotatedKeys });
    assert.equal(base64urlEncode(reopened.siteKey.publicKey), r.publicKey);
    host2 = await RaftHost.start(
      reopened,
      reopened.raftStore(),
      "site-a",
      reopened.siteKey,
      [{ name: "site-a", url: "http://127.0.0.1:1", publicKey: t.options.key.publicKey }],
      ["site-a"],
      { tickMs: 5, electionTicks: 4, heartbeatTicks: 1, rotatedKeys },
    );
    assert.equal(reopened.siteKey.chain.length, 1, "the chain goes with its peer requests");
    await untilLeader(host2);
    const [third] = await reopened.submit([await anchorTx(device)], {
      wait: true,
      waitTimeoutMs: 5000,
    });
    assert.equal(third.height, before.height! + 2);
    assert.equal((await reopened.integrity()).ok, true);
    // Without the data folder's key it cannot start: its config's key is retired.
    await host2.close();
    await reopened.close();
    reopened = undefined;
    await Deno.remove(rotatedKeys.current);
    await assert.rejects(
      () => t.reopen({ rotatedKeys }),
      new RegExp(
        `Cannot open site site-a: its key does not match the one its last key rotation gave it ` +
          `\\(${r.publicKey}\\); neither its keyFile nor .*site-key\\.rotated\\.json holds it`,
      ),
    );
  } finally {
    await host2?.close();
    await reopened?.close();
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: the leader records a member's rotation only with both signatures over that member's current key, never back to a key it retired; the member's retired key is still heard until it is heard with the new one, and signs no checkpoint above the rotation", async () => {
  const t = await openTestSite();
  const host = await startLoneVoter(t);
  try {
    await untilLeader(host);
    const k0 = await SiteKey.create(generateKeyPair("ed25519"));
    const k1 = await SiteKey.create(generateKeyPair("ed25519"));
    const stranger = await SiteKey.create(generateKeyPair("ed25519"));
    await host.addLearner({
      name: "site-b",
      url: `http://127.0.0.1:${closedPort()}`,
      publicKey: base64urlEncode(k0.publicKey),
    });
    // Signed by a key that is not site-b's: refused, nothing proposed.
    await assert.rejects(
      async () => host.rotateMemberKey("site-b", await signRotation("site-b", stranger, k1)),
      /does not verify: it must be signed by its current key and by the new one/,
    );
    // Signed by its key only, not by the new one.
    const half = await signRotation("site-b", k0, k1);
    await assert.rejects(
      () => host.rotateMemberKey("site-b", { ...half, newSig: half.previousSig }),
      /does not verify/,
    );
    await assert.rejects(
      async () => host.rotateMemberKey("site-z", await signRotation("site-z", k0, k1)),
      /Site site-z is not a member/,
    );
    const { height } = t.site.head.header;
    await host.rotateMemberKey("site-b", await signRotation("site-b", k0, k1));
    const b = host.member("site-b")!;
    assert.equal(base64urlEncode(b.publicKey), base64urlEncode(k1.publicKey));
    assert.equal(base64urlEncode(b.graceKey!), base64urlEncode(k0.publicKey));
    assert.deepEqual(memberKeysAt(b, height).map(base64urlEncode), [
      base64urlEncode(k1.publicKey),
      base64urlEncode(k0.publicKey),
    ]);
    assert.deepEqual(memberKeysAt(b, height + 1).map(base64urlEncode), [
      base64urlEncode(k1.publicKey),
    ]);
    // Its retired key still authenticates it, until it signs with the new one.
    const body = JSON.stringify({ from: "site-b", messages: [] });
    const members = (n: string) => host.member(n);
    verifyPeerRequest("site-b", await signPeerBody(body, k0), body, members);
    host.keyHeard("site-b", k0.publicKey);
    verifyPeerRequest("site-b", await signPeerBody(body, k0), body, members);
    host.keyHeard("site-b", k1.publicKey);
    assert.equal(host.member("site-b")!.graceKey, undefined);
    assert.throws(
      () => verifyPeerRequest("site-b", "x", body, members),
      /does not verify/,
    );
    const old = await signPeerBody(body, k0);
    assert.throws(() => verifyPeerRequest("site-b", old, body, members), /does not verify/);
    // Back to the key it retired: refused, though both keys sign (a chain never comes back).
    await assert.rejects(
      async () => host.rotateMemberKey("site-b", await signRotation("site-b", k1, k0)),
      /brings back a key it retired: a site never takes one back/,
    );
    assert.equal(base64urlEncode(host.member("site-b")!.publicKey), base64urlEncode(k1.publicKey));
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: the leader puts a member's retirement in the log only for a key it retired, at the recorded height, signed by a later key of its chain; once it is in, the retired key's grace ends even before the member is heard with its new key", async () => {
  const t = await openTestSite();
  const host = await startLoneVoter(t);
  try {
    await untilLeader(host);
    const [k0, k1, stranger] = await Promise.all(
      [0, 1, 2].map(() => SiteKey.create(generateKeyPair("ed25519"))),
    );
    await host.addLearner({
      name: "site-b",
      url: `http://127.0.0.1:${closedPort()}`,
      publicKey: base64urlEncode(k0.publicKey),
    });
    const { height } = t.site.head.header;
    await host.rotateMemberKey("site-b", await signRotation("site-b", k0, k1));
    assert.equal(base64urlEncode(host.member("site-b")!.graceKey!), base64urlEncode(k0.publicKey));
    const refusals: Array<[unknown, RegExp]> = [
      [[await signRetirement("site-b", k0.publicKey, height + 1, k1)], /does not verify/],
      [[await signRetirement("site-b", k0.publicKey, height, stranger)], /does not verify/],
      [[await signRetirement("site-b", k0.publicKey, height, k0)], /does not verify/],
      [[await signRetirement("site-b", stranger.publicKey, height, k1)], /does not verify/],
      [[], /a list of 1 to 64/],
      ["not a list", /a list of 1 to 64/],
    ];
    for (const [retirements, why] of refusals) {
      await assert.rejects(() => host.signMemberRetirements("site-b", retirements), why);
    }
    assert.equal(host.member("site-b")!.retired![0].signed, undefined);
    await assert.rejects(
      async () =>
        host.signMemberRetirements("site-z", [
          await signRetirement("site-z", k0.publicKey, height, k1),
        ]),
      /Site site-z is not a member/,
    );
    const good = await signRetirement("site-b", k0.publicKey, height, k1);
    await host.signMemberRetirements("site-b", [good]);
    const b = host.member("site-b")!;
    assert.deepEqual(b.retired![0].signed, { signer: good.signer, signature: good.signature });
    assert.equal(b.graceKey, undefined, "the grace ends with the signed retirement");
    const body = JSON.stringify({ from: "site-b", messages: [] });
    const members = (n: string) => host.member(n);
    const old = await signPeerBody(body, k0);
    assert.throws(() => verifyPeerRequest("site-b", old, body, members), /does not verify/);
    // Again: nothing to do.
    await host.signMemberRetirements("site-b", [good]);
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test("raft host: a member first known by its current key (a config's peers) takes its key history from the log, when its chain leads to that key; a rotation then extends the whole chain, never cuts it short", async () => {
  const t = await openTestSite();
  const [k0, k1, k2, k3, stranger] = await Promise.all(
    [0, 1, 2, 3, 4].map(() => SiteKey.create(generateKeyPair("ed25519"))),
  );
  const url = `http://127.0.0.1:${closedPort()}`;
  const host = await RaftHost.start(
    t.site,
    t.site.raftStore(),
    "site-a",
    t.site.siteKey,
    [
      { name: "site-a", url: "http://127.0.0.1:1", publicKey: t.site.siteKey.publicKey },
      { name: "site-b", url, publicKey: k1.publicKey },
    ],
    ["site-a"],
    { tickMs: 5, electionTicks: 4, heartbeatTicks: 1 },
  );
  const entry = (member: Record<string, unknown>) =>
    host.propose({
      time: Date.now(),
      proposer: "site-a",
      term: 0,
      txs: [],
      members: [member as never],
    });
  const b64 = (k: SiteKey) => base64urlEncode(k.publicKey);
  try {
    await untilLeader(host);
    await host.addLearner({ name: "site-b", url, publicKey: b64(k1) });
    const r01 = await signRotation("site-b", k0, k1);
    const retirement = await signRetirement("site-b", k0.publicKey, 0, k1);
    // A history whose chain does not lead to the key known here is not taken.
    await entry({
      name: "site-b",
      url,
      publicKey: b64(k1),
      rotations: [await signRotation("site-b", stranger, k0)],
    });
    assert.equal(host.member("site-b")!.rotations, undefined);
    // The log's history for the same key is taken, its signed retirement with it.
    await entry({
      name: "site-b",
      url,
      publicKey: b64(k1),
      rotations: [r01],
      retired: [{
        publicKey: b64(k0),
        untilHeight: 0,
        signer: retirement.signer,
        signature: retirement.signature,
      }],
    });
    const b = host.member("site-b")!;
    assert.deepEqual(b.rotations, [r01]);
    assert.equal(b.retired?.length, 1);
    assert.equal(base64urlEncode(b.retired![0].publicKey), b64(k0));
    assert.deepEqual(b.retired![0].signed, {
      signer: retirement.signer,
      signature: retirement.signature,
    });
    // The leader now sees the whole chain: a step back to k0 is refused, a new key extends it.
    await assert.rejects(
      async () => host.rotateMemberKey("site-b", await signRotation("site-b", k1, k0)),
      /brings back a key it retired/,
    );
    const r12 = await signRotation("site-b", k1, k2);
    await host.rotateMemberKey("site-b", r12);
    assert.deepEqual(host.member("site-b")!.rotations, [r01, r12]);
    // An entry carrying only the steps on from the key known here still keeps the whole chain.
    const r23 = await signRotation("site-b", k2, k3);
    await entry({ name: "site-b", url, publicKey: b64(k3), rotations: [r23] });
    const after = host.member("site-b")!;
    assert.equal(base64urlEncode(after.publicKey), b64(k3));
    assert.deepEqual(after.rotations, [r01, r12, r23]);
    assert.deepEqual(after.retired!.map((r) => base64urlEncode(r.publicKey)), [
      b64(k0),
      b64(k1),
      b64(k2),
    ]);
  } finally {
    await host.close();
    await t.cleanup();
  }
});
