/**
 * The replay check: re-executes a site's whole chain from genesis into a
 * scratch database with the same code that applies blocks, and compares
 * what that gives with what the database holds — each block's hash, then
 * every row of contract state.
 *
 * The integrity check ({@link checkIntegrity}) proves the chain is what the
 * sites signed: blocks, transactions, their results (in the log leaves) and
 * checkpoints. It cannot see the `state` table, which is derived — balances,
 * revocations, grants, stream sequence numbers — and which a site reads to
 * decide what the next transactions do. A state row edited behind a site's
 * back shows nowhere until a transaction reads it, and then as a result that
 * differs from the other sites'. This check finds it before that, names the
 * row, and also proves each block's results are what this version's rules
 * give (a block a faulty site executed differently no longer reproduces its
 * hash). It is what makes a copy from another operator's site safe to start
 * a new site from (`task restore --replay`).
 *
 * It costs what catching up costs (each block executed and written again)
 * and the scratch database needs about as much disk as the checked one.
 *
 * @module
 */
import { generateKeyPair } from "../../sdk/keys.ts";
import { statfsFreeBytes } from "./disk_space.ts";
import { counted } from "./integrity.ts";
import type { GenesisConfig } from "../chain/genesis.ts";
import type { ContractRegistry } from "../contracts/mod.ts";
import { createLogger } from "../log.ts";
import { NativeSnapshot, type StateRow } from "../storage/native.ts";
import type { ReplayBlock } from "./raft_host.ts";
import { blocksWithEnvelopes, Site } from "./site.ts";

/** Blocks read at once (fewer when their envelopes pass a few MiB). */
const pageBlocksMax = 200;
/** State rows compared per page. */
const statePageRows = 1000;
/** Longest value quoted in a mismatch. */
const quoteCharsMax = 160;

/** What {@link checkByReplay} found. */
export interface ReplayReport {
  ok: boolean;
  /** Blocks after genesis executed again. */
  blocksReplayed: number;
  /** Transactions in them. */
  txsReplayed: number;
  /** State rows compared (the union of both sides' keys, up to the first mismatch). */
  stateRowsCompared: number;
  /** The height the check replayed to: the database's head when it started. */
  height: number;
  durationMs: number;
  /** The first thing that differs, when something does. */
  firstMismatch?: string;
}

/** Why a replay check could not run (as opposed to a mismatch, which it reports). */
export class ReplayCheckError extends Error {}

/** What `deno task integrity --replay` prints for a report. */
export function replayLines(report: ReplayReport): string[] {
  return report.ok
    ? [
      `ok: re-executing ${counted(report.blocksReplayed, "block")} and ` +
      `${counted(report.txsReplayed, "transaction")} gives the same blocks and the same ` +
      `${counted(report.stateRowsCompared, "state row")} ` +
      `(${report.durationMs} ms)`,
    ]
    : [
      `MISMATCH: ${report.firstMismatch}`,
      `(found re-executing up to block ${report.height}: ${report.blocksReplayed} blocks replayed, ` +
      `${report.stateRowsCompared} state rows compared)`,
    ];
}

/**
 * Replays the chain of the site database at `dbPath` (a `file:` database's
 * path) into a scratch database under `scratchDir` (a new folder there,
 * removed at the end) and compares. The checked database is read as of one
 * commit (a site may go on running meanwhile) and never written. Never
 * throws for a mismatch: reports it. Throws {@link ReplayCheckError} when
 * the check cannot run (no room for the scratch database).
 */
export async function checkByReplay(options: {
  dbPath: string;
  genesis: GenesisConfig;
  /** Where the scratch database goes; default the system's temporary folder. */
  scratchDir?: string;
  /** The contracts to execute with; default this version's. */
  contracts?: ContractRegistry;
  /** Called every few seconds with the height reached. */
  progress?: (height: number, head: number) => void;
  /** Free bytes on a volume; default {@link statfsFreeBytes}. */
  freeBytes?: (path: string) => Promise<number>;
}): Promise<ReplayReport> {
  const started = performance.now();
  const snapshot = new NativeSnapshot(options.dbPath);
  let scratch: string | undefined;
  let site: Site | undefined;
  const report: ReplayReport = {
    ok: true,
    blocksReplayed: 0,
    txsReplayed: 0,
    stateRowsCompared: 0,
    height: 0,
    durationMs: 0,
  };
  const done = (firstMismatch?: string): ReplayReport => {
    if (firstMismatch !== undefined) {
      report.ok = false;
      report.firstMismatch = firstMismatch;
    }
    report.durationMs = Math.round(performance.now() - started);
    return report;
  };
  try {
    report.height = snapshot.headHeight();
    if (report.height < 0) return done("no blocks: the database holds no chain");
    const parent = options.scratchDir ?? Deno.env.get("TMPDIR") ?? "/tmp";
    if (!(await Deno.stat(parent).then((s) => s.isDirectory, () => false))) {
      throw new ReplayCheckError(`Cannot replay into ${parent}: no such folder`);
    }
    // The scratch copy holds what the checked one does, so it needs about its size.
    let needed = 0;
    for (const f of [options.dbPath, `${options.dbPath}-wal`]) {
      needed += await Deno.stat(f).then((s) => s.size, () => 0);
    }
    const free = await (options.freeBytes ?? statfsFreeBytes)(parent);
    if (free < needed) {
      throw new ReplayCheckError(
        `Cannot replay into ${parent}: it has ${free} bytes free and the scratch database ` +
          `needs about ${needed} (the checked database's size with its WAL); choose another folder with --scratch`,
      );
    }
    scratch = await Deno.makeTempDir({ dir: parent, prefix: "edgeledger-replay-" });
    site = await Site.open({
      name: "replay-check",
      joining: true,
      dbUrl: `file:${scratch}/ledger.db`,
      genesis: options.genesis,
      key: generateKeyPair("ed25519"),
      storage: "inline",
      verifyWorkers: 0,
      diskFreeBytesMin: 0,
      stateCheckBlocks: 0,
      log: createLogger({ level: "error", context: { site: "replay-check" } }),
      ...(options.contracts === undefined ? {} : { contracts: options.contracts }),
    });
    const zero = snapshot.reads.blockByHeight(0);
    if (zero === undefined) return done("block 0: missing");
    if (zero.hash !== site.head.hash) {
      return done(
        `block 0: the database holds ${zero.hash}, the genesis file gives ${site.head.hash}`,
      );
    }
    let lastProgress = performance.now();
    for (let from = 1; from <= report.height;) {
      const blocks = await blocksWithEnvelopes(
        snapshot.reads,
        from,
        Math.min(pageBlocksMax, report.height - from + 1),
      );
      if (blocks.length === 0) return done(`block ${from}: missing`);
      for (const block of blocks) {
        // Heights follow each other: a gap is a block the database lacks.
        if (block.header.height !== from) return done(`block ${from}: missing`);
        const mismatch = await replayOne(site, snapshot, block);
        if (mismatch !== undefined) return done(mismatch);
        report.blocksReplayed++;
        report.txsReplayed += block.txs.length;
        from++;
      }
      if (options.progress && performance.now() - lastProgress > 5000) {
        lastProgress = performance.now();
        options.progress(from - 1, report.height);
      }
    }
    await site.close();
    site = undefined;
    const replayed = new NativeSnapshot(`${scratch}/ledger.db`);
    try {
      const mismatch = compareState(snapshot, replayed, report);
      return done(mismatch);
    } finally {
      replayed.close();
    }
  } finally {
    snapshot.close();
    await site?.close().catch(() => {});
    if (scratch !== undefined) await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

/** Replays `block` onto `site`; if it does not come out the same, what differs. */
async function replayOne(
  site: Site,
  snapshot: NativeSnapshot,
  block: ReplayBlock,
): Promise<string | undefined> {
  const { height, txCount } = block.header;
  if (block.txs.length !== txCount) {
    return `block ${height}: its ${txCount} transactions are not all in the database`;
  }
  try {
    await site.replayBlock(block);
    return undefined;
  } catch (e) {
    const head = site.head;
    if (head.header.height !== height || head.hash === block.hash) throw e;
  }
  // Executed, and not to the same block: name the first result that differs.
  const head = site.head;
  const lo = block.header.logSize - txCount;
  const stored = snapshot.reads.txsByLogRange(lo, block.header.logSize);
  const results = await Promise.all(stored.map((t) => site.store.txById(t.id)));
  const differs = stored.findIndex((t, i) => results[i]?.result !== t.result);
  return `block ${height}: re-executing it gives block ${head.hash}, the database holds ` +
    `${block.hash}` +
    (differs < 0
      ? " (the same results: its header differs)"
      : ` (transaction ${stored[differs].id}: the database holds the result ${
        quote(stored[differs].result)
      }, re-executing gives ${quote(results[differs]?.result ?? "none")})`);
}

/**
 * Walks both state tables in key order; the first row that differs (a
 * value, or a key only one side has), described. Counts rows compared.
 */
function compareState(
  held: NativeSnapshot,
  replayed: NativeSnapshot,
  report: ReplayReport,
): string | undefined {
  const a = pager(held);
  const b = pager(replayed);
  for (;;) {
    const x = a.peek();
    const y = b.peek();
    if (x === undefined && y === undefined) return undefined;
    report.stateRowsCompared++;
    const order = x === undefined ? 1 : y === undefined ? -1 : compareKeys(x, y);
    if (order < 0) {
      return `state ${x!.ns} ${JSON.stringify(x!.key)}: the database holds ${
        quote(x!.value)
      }, re-executing the chain writes no such row`;
    }
    if (order > 0) {
      return `state ${y!.ns} ${JSON.stringify(y!.key)}: missing from the database, ` +
        `re-executing the chain writes ${quote(y!.value)}`;
    }
    if (x!.value !== y!.value) {
      return `state ${x!.ns} ${JSON.stringify(x!.key)}: the database holds ${
        quote(x!.value)
      }, re-executing the chain gives ${quote(y!.value)}`;
    }
    a.next();
    b.next();
  }
}

/** A state table read a page at a time. */
function pager(snapshot: NativeSnapshot) {
  let rows: StateRow[] = snapshot.statePage(undefined, statePageRows);
  let i = 0;
  return {
    peek(): StateRow | undefined {
      if (i === rows.length && rows.length === statePageRows) {
        const last = rows[rows.length - 1];
        rows = snapshot.statePage(last, statePageRows);
        i = 0;
      }
      return rows[i];
    },
    next(): void {
      i++;
    },
  };
}

/** SQLite's order of `(ns, key)` under the default BINARY collation: bytes, as UTF-8. */
function compareKeys(x: StateRow, y: StateRow): number {
  return compareText(x.ns, y.ns) || compareText(x.key, y.key);
}

const encoder = new TextEncoder();

function compareText(x: string, y: string): number {
  if (x === y) return 0;
  const a = encoder.encode(x);
  const b = encoder.encode(y);
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function quote(value: string): string {
  return value.length <= quoteCharsMax ? value : `${value.slice(0, quoteCharsMax)}…`;
}
