/**
 * The floor: the work no implementation of this design on this stack can
 * skip for one committed write, measured on this machine piece by piece.
 *
 * - **HTTP**: three minimal `Deno.serve` processes (`_floor_server.ts`:
 *   read the body, parse it as JSON, answer a small JSON receipt) under the
 *   cluster bench's own load (closed-loop clients spread over the three,
 *   the very same envelope bodies): the servers' CPU per request.
 * - **Signature**: one Ed25519 verification with node:crypto, the site's
 *   verifier, over a message the size of a signing payload.
 * - **Apply's least**: decoding the transaction's JSON text and hashing it
 *   into the RFC 9162 log (its leaf and, on average, one interior node) —
 *   what every site must do to apply it, before executing anything.
 * - **Raft log**: every site makes each entry durable in its database
 *   before it acknowledges it (DESIGN §3–4): the entry holding a block's
 *   transaction texts written through the site's own Raft write path
 *   (`NativeWriter.persistRaft`, `synchronous = FULL`), one SQLite
 *   transaction per entry.
 * - **Rows**: the same fresh site database (the real migrations) written
 *   through the site's own write path (`NativeWriter.writeBlocks`) with the
 *   rows a block of `data.anchor` transactions carries — the transaction,
 *   its Merkle log nodes, its two state rows — one SQLite transaction per
 *   block as every site writes them: CPU and bytes written per transaction.
 *   Entries and blocks alternate as on a site, at each block size asked for
 *   (the per-block costs shrink per transaction as blocks grow).
 *
 * A write costs at least one HTTP request and one verification on the site
 * the client used, and its decoding, hashing, Raft entry and rows on every
 * site. Everything else a site does (Raft messages and forwarding,
 * executing the contract, block headers, checkpoints, the receipt) is left
 * out, so the floor is a lower bound: a system at the floor would still
 * spend more.
 *
 * @module
 */
import process from "node:process";
import { ed25519 } from "@noble/curves/ed25519.js";
import { blockHash, type BlockHeader } from "../sdk/block.ts";
import { EMPTY_ROOT } from "../sdk/merkle.ts";
import { envelopeText } from "../src/chain/envelope_text.ts";
import { executeBatch, leafText, planBatch } from "../src/chain/execute.ts";
import { MerkleFrontier } from "../src/chain/merkle_log.ts";
import { builtinContracts } from "../src/contracts/mod.ts";
import { checkStateless } from "../src/site/admission.ts";
import { leafHashNative, nodeHashNative } from "../src/chain/native_hash.ts";
import { ANCHOR_NS, anchorKey, STREAM_NS } from "../src/contracts/data_anchor.ts";
import { verifyEd25519Native } from "../src/site/native_ed25519.ts";
import type { BlockWrite } from "../src/storage/chain_store.ts";
import { type Database, openDatabase } from "../src/storage/db.ts";
import { hexEncode } from "../sdk/encoding.ts";
import type { Envelope } from "../sdk/envelope.ts";
import { runSpreadLoop, type Target } from "./_cluster.ts";
import { CpuSampler, txTtlMs } from "./_load.ts";

/** Options of {@link runFloorBench}. */
export interface FloorOptions {
  /** Closed-loop clients for the HTTP floor. */
  concurrency: number;
  /** Timed seconds of the HTTP floor, after `warmupSeconds`. */
  seconds: number;
  warmupSeconds: number;
  /** Transactions per block (one Raft entry, one SQLite transaction each) to measure the rows at. */
  blockSizes: number[];
  /** Transactions written before the timed ones (a ledger is never empty). */
  prefillTxs: number;
  /** Transactions timed. */
  storageTxs: number;
  /** Folder for the database (removed afterwards). */
  workDir: string;
  log: (line: string) => void;
}

/** Minimal HTTP endpoints under load. */
export interface HttpFloor {
  concurrency: number;
  requestsPerSec: number;
  /** All three servers' CPU per answered request, µs. */
  serverUsPerRequest: number;
  /** The load generator's CPU per answered request, µs. */
  loadUsPerRequest: number;
  errors: number;
}

/** A block's Raft entry and rows written through the site's write paths. */
export interface StorageFloor {
  txsPerBlock: number;
  /** Transactions written before the timed ones. */
  prefilledTxs: number;
  /** Transactions timed. */
  txs: number;
  /** Rows per transaction (the transaction, Merkle nodes, state). */
  rowsPerTx: number;
  /** CPU per transaction of the rows. */
  cpuUsPerTx: number;
  /** CPU per transaction of making the block's Raft entry durable. */
  raftCpuUsPerTx: number;
  /** Size of one Raft entry (the block's transaction texts), KiB. */
  entryKiB: number;
  /** Bytes handed to `write(2)` per transaction (WAL frames and checkpoints), KiB. */
  writtenKiBPerTx: number;
}

/** What {@link runFloorBench} measured; a part that failed says why. */
export interface FloorResult {
  http?: HttpFloor;
  /**
   * The same minimal endpoints on the guarded listener a gateway uses
   * (`src/site/guarded_server.ts`): not in the floor; what that listener
   * costs per request instead of Deno's.
   */
  guardedHttp?: HttpFloor;
  httpFailure?: string;
  /** One Ed25519 verification, µs (node:crypto). */
  verifyUs: number;
  /** Decoding one transaction text and hashing it into the log (leaf and one node), µs. */
  applyUs: number;
  /**
   * Not in the floor: what a site's own code spends on the same texts, µs
   * per transaction — admission's checks without the signature
   * (`checkStateless` short of it), and decoding, planning and executing
   * blocks of {@link executeBlockTxs} (`planBatch`, `executeBatch`), which
   * the floor's `applyUs` stands for.
   */
  ours?: { admitUs: number; executeUs: number };
  /** One per block size measured. */
  storage: StorageFloor[];
  storageFailure?: string;
}

/** The storage measurement nearest `txsPerBlock` (the smaller on a tie). */
export function storageAt(f: FloorResult, txsPerBlock: number): StorageFloor | undefined {
  let best: StorageFloor | undefined;
  for (const s of f.storage) {
    const d = Math.abs(s.txsPerBlock - txsPerBlock);
    const bestD = best === undefined ? Infinity : Math.abs(best.txsPerBlock - txsPerBlock);
    if (d < bestD || (d === bestD && best !== undefined && s.txsPerBlock < best.txsPerBlock)) {
      best = s;
    }
  }
  return best;
}

/**
 * CPU per committed write of a system that did only the floor's work, with
 * blocks of `txsPerBlock`: one request and one verification, and on each of
 * `sites` sites the decoding and hashing, the Raft entry and the rows. NaN
 * when a part is missing.
 */
export function floorUsPerWrite(f: FloorResult, sites: number, txsPerBlock: number): number {
  const storage = storageAt(f, txsPerBlock);
  if (f.http === undefined || storage === undefined) return NaN;
  const perSite = f.applyUs + storage.raftCpuUsPerTx + storage.cpuUsPerTx;
  return f.http.serverUsPerRequest + f.verifyUs + sites * perSite;
}

/** Runs the measurements; `envelopes(n)` gives n distinct signed envelope texts. */
export async function runFloorBench(
  options: FloorOptions,
  envelopes: (n: number) => Promise<string[]>,
): Promise<FloorResult> {
  const result: FloorResult = { verifyUs: measureVerify(), applyUs: NaN, storage: [] };
  options.log(`  floor: Ed25519 verification ${result.verifyUs.toFixed(1)} µs`);
  try {
    // The minimal server keeps nothing, so bodies may repeat.
    const distinct = await envelopes(20_000);
    const count = Math.ceil(60_000 * (options.seconds + options.warmupSeconds));
    const bodies = Array.from({ length: count }, (_, i) => distinct[i % distinct.length]);
    result.http = await measureHttp(options, bodies, "deno");
    options.log(
      `  floor: minimal HTTP ${Math.round(result.http.requestsPerSec)} req/s, servers ${
        result.http.serverUsPerRequest.toFixed(1)
      } µs CPU/request`,
    );
    // Not part of the floor: what a gateway's guarded listener costs instead.
    try {
      result.guardedHttp = await measureHttp(options, bodies, "guarded");
      options.log(
        `  floor: the same on the guarded listener ${
          Math.round(result.guardedHttp.requestsPerSec)
        } req/s, servers ${result.guardedHttp.serverUsPerRequest.toFixed(1)} µs CPU/request`,
      );
    } catch (e) {
      options.log(`  floor: guarded HTTP FAILED: ${(e as Error).message}`);
    }
  } catch (e) {
    result.httpFailure = (e as Error).message;
    options.log(`  floor: HTTP FAILED: ${result.httpFailure}`);
  }
  try {
    const texts = await envelopes(options.prefillTxs + options.storageTxs);
    result.applyUs = measureApply(texts.slice(0, 2000));
    options.log(`  floor: decode and hash ${result.applyUs.toFixed(1)} µs/tx`);
    try {
      result.ours = measureOurs(texts.slice(0, executeBlockTxs * 20));
      options.log(
        `  not floor: our stateless admission ${result.ours.admitUs.toFixed(1)} µs/tx, ` +
          `decode, plan and execute ${result.ours.executeUs.toFixed(1)} µs/tx`,
      );
    } catch (e) {
      options.log(`  not floor: our execution FAILED: ${(e as Error).message}`);
    }
    for (const txsPerBlock of options.blockSizes) {
      const s = await measureStorage(options, txsPerBlock, texts);
      result.storage.push(s);
      options.log(
        `  floor: blocks of ${txsPerBlock}: Raft entry ${s.raftCpuUsPerTx.toFixed(1)} µs CPU/tx, ` +
          `rows ${s.cpuUsPerTx.toFixed(1)} µs CPU/tx, ${
            s.writtenKiBPerTx.toFixed(1)
          } KiB written/tx`,
      );
    }
  } catch (e) {
    result.storageFailure = (e as Error).message;
    options.log(`  floor: rows FAILED: ${result.storageFailure}`);
  }
  return result;
}

/** µs per node:crypto Ed25519 verification of a 400-byte message (median of 5 rounds). */
function measureVerify(): number {
  const secret = ed25519.utils.randomSecretKey();
  const publicKey = ed25519.getPublicKey(secret);
  const message = new TextEncoder().encode("m".repeat(400));
  const signature = ed25519.sign(message, secret);
  if (!verifyEd25519Native(publicKey, message, signature)) {
    throw new Error("node:crypto refused a good Ed25519 signature");
  }
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const n = 2000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) verifyEd25519Native(publicKey, message, signature);
    rounds.push(((performance.now() - t0) * 1000) / n);
  }
  return rounds.sort((a, b) => a - b)[2];
}

/**
 * µs per transaction to decode its text and hash it into an RFC 9162 log:
 * `JSON.parse`, the leaf hash of its leaf text, one interior node hash
 * (a log of n leaves has n − 1 interior nodes). Median of 5 rounds.
 */
export function measureApply(texts: readonly string[]): number {
  if (texts.length === 0) throw new Error("no transaction texts to decode");
  const result = '{"status":"applied"}';
  let sink = 0;
  const us = medianUsPer(texts.length, () => {
    let previous: Uint8Array = new Uint8Array(32);
    for (const text of texts) {
      const envelope = JSON.parse(text) as Envelope;
      const leaf = leafHashNative(leafText(text, result));
      previous = nodeHashNative(previous, leaf);
      sink += envelope.kind.length;
    }
  });
  if (sink === 0) throw new Error("decoded nothing");
  return us;
}

/** µs per item of `run` doing `items` items: the median of {@link timedRounds} rounds. */
function medianUsPer(items: number, run: () => void): number {
  const rounds: number[] = [];
  for (let r = 0; r < timedRounds; r++) {
    const t0 = performance.now();
    run();
    rounds.push(((performance.now() - t0) * 1000) / items);
  }
  return rounds.sort((a, b) => a - b)[Math.floor(timedRounds / 2)];
}

/** Rounds {@link medianUsPer} times. */
const timedRounds = 5;

/** Transactions per block in {@link measureOurs}: the 256-client shape's blocks. */
export const executeBlockTxs = 109;

/**
 * µs per transaction of a site's own code on `texts` (median of 5 rounds):
 * admission's stateless checks (signatures excepted: the floor counts the
 * verification) and, in blocks of {@link executeBlockTxs}, decoding,
 * planning and executing them on fresh state, each block on the last.
 * Requires `data.anchor` texts of one ledger, all of which apply.
 */
export function measureOurs(texts: readonly string[]): { admitUs: number; executeUs: number } {
  if (texts.length < executeBlockTxs) throw new Error("too few transaction texts to execute");
  const registry = builtinContracts();
  const first = JSON.parse(texts[0]) as Envelope;
  const policy = { ledger: first.ledger, expiryWindowMs: txTtlMs * 2, envelopeBytesMax: 65_536 };
  const genesis: BlockHeader = {
    v: 1,
    ledger: first.ledger,
    // A parent at height 1 (any block hash will do as its prev): genesis
    // headers carry their config's hash instead.
    height: 1,
    prev: "ab".repeat(32),
    time: 0,
    term: 0,
    proposer: "floor",
    txCount: 0,
    logSize: 0,
    logRoot: hexEncode(EMPTY_ROOT),
  };
  const admit = () => {
    const now = Date.now();
    for (const text of texts) checkStateless(JSON.parse(text), now, policy, registry);
  };
  let applied = 0;
  const execute = () => {
    const frontier = new MerkleFrontier();
    let parent = { header: genesis, hash: blockHash(genesis) };
    for (let i = 0; i + executeBlockTxs <= texts.length; i += executeBlockTxs) {
      const txs = texts.slice(i, i + executeBlockTxs).map((t) => JSON.parse(t) as Envelope);
      const batch = { time: Date.now(), proposer: "floor", term: 1, txs };
      const plan = planBatch(batch, registry);
      const out = executeBatch(
        parent,
        batch,
        plan,
        {
          committed: new Set(),
          state: new Map(),
          rules: undefined,
        },
        registry,
        frontier,
      );
      applied += out.results.filter((r) => r.status === "applied").length;
      parent = { header: out.header, hash: out.hash };
    }
  };
  const executed = Math.floor(texts.length / executeBlockTxs) * executeBlockTxs;
  const result = {
    admitUs: medianUsPer(texts.length, admit),
    executeUs: medianUsPer(executed, execute),
  };
  const expected = timedRounds * executed;
  if (applied !== expected) {
    throw new Error(`${expected - applied} of ${expected} transactions did not apply`);
  }
  return result;
}

/** A running minimal endpoint (`_floor_server.ts`) as a child process. */
export interface FloorServer {
  target: Target;
  pid: number;
  stop(): Promise<void>;
}

/** Starts `_floor_server.ts` and waits until it prints the port it listens on. */
export async function startFloorServer(
  server: "deno" | "guarded" = "deno",
): Promise<FloorServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      new URL("./_floor_server.ts", import.meta.url).pathname,
      server,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await child.stdout.cancel().catch(() => {});
  };
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the floor server exited before listening");
      text += value;
    }
    reader.releaseLock();
    const { port } = JSON.parse(text.split("\n")[0]) as { port: number };
    return { target: { host: "127.0.0.1", port, path: "/v1/txs" }, pid: child.pid, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function measureHttp(
  options: FloorOptions,
  bodies: string[],
  server: "deno" | "guarded",
): Promise<HttpFloor> {
  const servers: FloorServer[] = [];
  try {
    for (let i = 0; i < 3; i++) servers.push(await startFloorServer(server));
    const targets = servers.map((s) => s.target);
    const judge = (status: number, text: string) =>
      status === 200 && text.includes('"committed"')
        ? { committed: 1 }
        : { committed: 0, cause: `http ${status}` };
    let cursor = 0;
    const take = (n: number) => bodies.slice(cursor, cursor += n);
    if (options.warmupSeconds > 0) {
      await runSpreadLoop({
        targets,
        bodies: take(Math.min(bodies.length / 4, 20_000)),
        concurrency: options.concurrency,
        durationMs: options.warmupSeconds * 1000,
        judge,
      });
    }
    const sampler = new CpuSampler([...servers.map((s) => s.pid), Deno.pid]);
    sampler.start();
    const r = await runSpreadLoop({
      targets,
      bodies: bodies.slice(cursor),
      concurrency: options.concurrency,
      durationMs: options.seconds * 1000,
      judge,
    });
    const cpu = sampler.stop();
    if (r.committed === 0) throw new Error(`no request answered (${JSON.stringify(r.errors)})`);
    const serverCores = cpu.slice(0, 3).reduce((a, c) => a + c.cores, 0);
    const perRequest = (cores: number) => (cores * r.wallSeconds * 1e6) / r.committed;
    return {
      concurrency: options.concurrency,
      requestsPerSec: r.committed / r.wallSeconds,
      serverUsPerRequest: perRequest(serverCores),
      loadUsPerRequest: perRequest(cpu[3].cores),
      errors: Object.values(r.errors).reduce((a, b) => a + b, 0),
    };
  } finally {
    for (const server of servers) await server.stop();
  }
}

/** Bytes this process has handed to write(2) so far (`/proc/self/io` wchar). */
function bytesWritten(): number {
  const line = Deno.readTextFileSync("/proc/self/io").split("\n").find((l) =>
    l.startsWith("wchar:")
  );
  return line === undefined ? NaN : Number(line.slice("wchar:".length));
}

/**
 * The rows of a block of `data.anchor` transactions, as a site writes them
 * (sizes as the real ones; hashes random: the floor does not hash).
 */
export function anchorBlockWrite(
  texts: readonly string[],
  first: { height: number; logIndex: number },
): BlockWrite {
  const random = () => crypto.getRandomValues(new Uint8Array(32));
  const txs: BlockWrite["txs"] = [];
  const nodes: BlockWrite["nodes"] = [];
  const stateWrites: BlockWrite["stateWrites"] = [];
  const height = first.height;
  texts.forEach((text, k) => {
    const envelope = JSON.parse(text) as Envelope;
    const { txId, envelopeJson } = envelopeText(envelope);
    const logIndex = first.logIndex + k;
    const body = envelope.body as { stream: string; seq: number };
    const signer = envelope.signers[0];
    txs.push({
      id: txId,
      logIndex,
      height,
      kind: envelope.kind,
      envelope: envelopeJson,
      result: JSON.stringify({ status: "applied", stream: body.stream, seq: body.seq, signer }),
      status: "applied",
    });
    // RFC 9162 storage: the leaf, and each subtree the leaf completes.
    nodes.push({ level: 0, index: logIndex, hash: random() });
    for (let level = 1, i = logIndex; (i & 1) === 1; level++, i >>= 1) {
      nodes.push({ level, index: i >> 1, hash: random() });
    }
    stateWrites.push({
      ns: STREAM_NS,
      key: body.stream,
      value: JSON.stringify({
        owner: signer,
        lastSeq: body.seq,
        anchors: 1,
        firstHeight: height,
        lastHeight: height,
      }),
    });
    stateWrites.push({
      ns: ANCHOR_NS,
      key: anchorKey(body.stream, body.seq),
      value: JSON.stringify({ ...body, txId, height, signer }),
    });
  });
  const hash = hexEncode(random());
  return {
    block: {
      height,
      hash,
      prev: hexEncode(random()),
      time: Date.now(),
      term: 1,
      proposer: "site-a",
      txCount: texts.length,
      logSize: first.logIndex + texts.length,
      logRoot: hexEncode(random()),
      header: JSON.stringify({ height, hash, pad: "h".repeat(300) }),
      entryIndex: height,
    },
    txs,
    nodes,
    stateWrites,
    checkpointLine: { site: "site-a", line: `— site-a ${btoa(hexEncode(random()))}` },
    meta: { applied_entry: String(height) },
  };
}

export async function measureStorage(
  options: FloorOptions,
  txsPerBlock: number,
  texts: string[],
  inspect?: (database: Database) => Promise<void>,
): Promise<StorageFloor> {
  const { prefillTxs } = options;
  await Deno.mkdir(options.workDir, { recursive: true });
  const path = `${options.workDir}/floor-${crypto.randomUUID().slice(0, 8)}.db`;
  const database = await openDatabase(`file:${path}`);
  try {
    const native = database.native;
    if (native === undefined) throw new Error("no native writer for a file: database");
    // Entries and blocks are built before the clock starts: the floor times the writes only.
    const utf8 = new TextEncoder();
    const writes: Array<{ entry: Uint8Array; block: BlockWrite }> = [];
    for (let i = 0; i + txsPerBlock <= texts.length; i += txsPerBlock) {
      const batch = texts.slice(i, i + txsPerBlock);
      writes.push({
        entry: utf8.encode(batch.join("\n")),
        block: anchorBlockWrite(batch, { height: writes.length + 1, logIndex: i }),
      });
    }
    // As a site: the entry durable (FULL) before it is acknowledged, the block's rows after commit (NORMAL).
    const write = (k: number, w: { entry: Uint8Array; block: BlockWrite }, cpu: number[]) => {
      const t0 = process.cpuUsage();
      database.setSync("full");
      native.persistRaft({ entries: [{ index: k + 1, term: 1, type: "normal", data: w.entry }] });
      const t1 = process.cpuUsage(t0);
      database.setSync("normal");
      native.writeBlocks([w.block]);
      const t2 = process.cpuUsage(t0);
      cpu[0] += t1.user + t1.system;
      cpu[1] += t2.user + t2.system - (t1.user + t1.system);
    };
    const prefillBlocks = Math.floor(prefillTxs / txsPerBlock);
    const ignored = [0, 0];
    for (let k = 0; k < prefillBlocks && k < writes.length; k++) write(k, writes[k], ignored);
    const timed = writes.length - prefillBlocks;
    if (timed <= 0) throw new Error("no transactions left to time");
    const cpu = [0, 0];
    const written0 = bytesWritten();
    for (let k = prefillBlocks; k < writes.length; k++) write(k, writes[k], cpu);
    const written = bytesWritten() - written0;
    const timedWrites = writes.slice(prefillBlocks).map((w) => w.block);
    const txs = timed * txsPerBlock;
    const rows = timedWrites.reduce(
      (n, w) => n + w.txs.length + w.nodes.length + w.stateWrites.length,
      0,
    );
    const entryBytes = writes.slice(prefillBlocks).reduce((n, w) => n + w.entry.length, 0);
    await inspect?.(database);
    return {
      txsPerBlock,
      prefilledTxs: prefillBlocks * txsPerBlock,
      txs,
      rowsPerTx: rows / txs,
      cpuUsPerTx: cpu[1] / txs,
      raftCpuUsPerTx: cpu[0] / txs,
      entryKiB: entryBytes / timed / 1024,
      writtenKiBPerTx: written / txs / 1024,
    };
  } finally {
    database.close();
    for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(path + suffix).catch(() => {});
  }
}
