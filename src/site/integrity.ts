/**
 * The integrity check: re-verifies a site's whole chain from its database —
 * every block hash and link, every transaction id and signature, every log
 * leaf and stored Merkle node, every log root and every checkpoint
 * signature — and names the first thing that does not match.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { blockHash, type BlockHeader } from "../../sdk/block.ts";
import { canonicalJson } from "../../sdk/canonical_json.ts";
import { formatCheckpoint } from "../../sdk/checkpoint.ts";
import { base64urlDecode, bytesEqual, hexDecode, hexEncode } from "../../sdk/encoding.ts";
import { type Envelope, SIGNING_DOMAIN } from "../../sdk/envelope.ts";
import { leafHash } from "../../sdk/merkle.ts";
import { assembleNote, verifierKey, verifyNoteWith } from "../../sdk/note.ts";
import type { IntegrityReport } from "../api/service.ts";
import { envelopeText } from "../chain/envelope_text.ts";
import { leafData } from "../chain/execute.ts";
import { verifyEd25519Native } from "./native_ed25519.ts";
import { memberKeysAt, type RetiredKey } from "./key_rotation.ts";
import type { WireMember } from "./raft_host.ts";
import {
  type SignatureJob,
  type VerifySignatures,
  verifySignaturesHere,
} from "./signature_pool.ts";
import { genesisBlock, type GenesisConfig } from "../chain/genesis.ts";
import { MerkleFrontier } from "../chain/merkle_log.ts";
import type { ChainStoreApi } from "../storage/mod.ts";

/** Blocks read per page. */
const pageBlocksMax = 200;

/**
 * Longest stretch of checking between two turns of the event loop, ms. A
 * site runs the check in its own process while it serves: with its
 * database on the main thread (`storage: inline`) every query answers
 * without leaving the turn, so a check that never yielded would stall the
 * site — its API and its Raft heartbeats — for the whole chain (36 s for
 * 30,000 blocks here), and the libSQL statements of its queries, freed only
 * between turns, would pile up (27 KB a block: 800 MB for those 30,000).
 */
export const integritySliceMs = 5;

class Mismatch extends Error {}
/** A signature that does not verify (found a few blocks behind the walk). */
class SignatureMismatch extends Mismatch {}

/** `n` and `noun`, plural (an `s` added) unless `n` is 1: "1 transaction", "2 blocks". */
export function counted(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** What `deno task integrity` prints for a report: one line, or two for a mismatch. */
export function integrityLines(report: IntegrityReport): string[] {
  return report.ok
    ? [
      `ok: ${counted(report.blocksChecked, "block")} and ` +
      `${counted(report.txsChecked, "transaction")} verify (${report.durationMs} ms)`,
    ]
    : [
      `MISMATCH: ${report.firstMismatch}`,
      `(${counted(report.blocksChecked, "block")} verified before it)`,
    ];
}

/** Blocks whose signatures may be under check at once while the walk goes on. */
const signatureBlocksInFlightMax = 8;

/**
 * Walks the chain from block 0 to the head. Never throws for a mismatch:
 * reports it. `verifySignatures` checks envelopes' signatures (default: on
 * this thread; the commands pass a `SignaturePool`'s, so they are
 * checked on other cores while this walk goes on — a few blocks behind it,
 * and a signature that fails is still reported before any later finding).
 */
export async function checkIntegrity(
  store: ChainStoreApi,
  genesis: GenesisConfig,
  options: { verifySignatures?: VerifySignatures } = {},
): Promise<IntegrityReport> {
  const started = performance.now();
  const verifySignatures = options.verifySignatures ?? verifySignaturesHere;
  let blocksChecked = 0;
  let txsChecked = 0;
  /** Blocks whose signatures are being checked, oldest first: a mismatch's message, if any. */
  const signing: Array<{ height: number; lo: number; found: Promise<string | undefined> }> = [];
  const settleOldest = async () => {
    const oldest = signing.shift()!;
    const found = await oldest.found;
    if (found !== undefined) {
      // Counted as verified once walked: those from this block on were not.
      blocksChecked = oldest.height;
      txsChecked = oldest.lo;
      throw new SignatureMismatch(found);
    }
  };
  // Each site's keys: genesis's, or — for a site added to the cluster since,
  // or one that rotated its key — the directory the consensus host keeps,
  // where a rotated key's predecessors are kept with the last block each
  // signed (a key retired at height h verifies no checkpoint above h).
  const members = new Map<string, { publicKey: Uint8Array; retired?: RetiredKey[] }>(
    genesis.sites.map((s) => [s.name, { publicKey: base64urlDecode(s.publicKey) }]),
  );
  const directory = await store.getMeta("directory");
  if (directory !== undefined) {
    for (const m of JSON.parse(directory) as WireMember[]) {
      members.set(m.name, {
        publicKey: base64urlDecode(m.publicKey),
        retired: (m.retired ?? []).map((r) => ({
          publicKey: base64urlDecode(r.publicKey),
          untilHeight: r.untilHeight,
        })),
      });
    }
  }
  const keysAt = (site: string, height: number): string[] | undefined => {
    const m = members.get(site);
    return m === undefined ? undefined : memberKeysAt(m, height).map((k) => verifierKey(site, k));
  };
  const frontier = new MerkleFrontier();
  let parent: { header: BlockHeader; hash: string } | undefined;
  const fail = (what: string): never => {
    throw new Mismatch(what);
  };
  let sliceStarted = performance.now();
  try {
    for (let from = 0;; from += pageBlocksMax) {
      const rows = await store.blockRange(from, pageBlocksMax);
      for (const row of rows) {
        if (performance.now() - sliceStarted >= integritySliceMs) {
          await new Promise((r) => setImmediate(r));
          sliceStarted = performance.now();
        }
        const at = `block ${row.height}`;
        let header: BlockHeader;
        try {
          header = JSON.parse(row.header) as BlockHeader;
        } catch {
          return fail(`${at}: stored header is not JSON`);
        }
        if (canonicalJson(header) !== row.header) {
          fail(`${at}: stored header is not canonical JSON`);
        }
        if (blockHash(header) !== row.hash) fail(`${at}: hash does not match its header`);
        const columns: Array<[string, unknown, unknown]> = [
          ["height", row.height, header.height],
          ["prev", row.prev, header.prev],
          ["time", row.time, header.time],
          ["term", row.term, header.term],
          ["proposer", row.proposer, header.proposer],
          ["txCount", row.txCount, header.txCount],
          ["logSize", row.logSize, header.logSize],
          ["logRoot", row.logRoot, header.logRoot],
        ];
        for (const [name, col, h] of columns) {
          if (col !== h) fail(`${at}: column ${name} does not match the hashed header`);
        }
        if (header.ledger !== genesis.ledger) fail(`${at}: belongs to ledger ${header.ledger}`);
        if (parent === undefined) {
          const g = genesisBlock(genesis);
          if (row.height !== 0 || row.hash !== g.hash) {
            fail(`${at}: is not the genesis block of this config`);
          }
        } else {
          if (header.height !== parent.header.height + 1) {
            fail(`${at}: follows block ${parent.header.height}`);
          }
          if (header.prev !== parent.hash) {
            fail(`${at}: parent hash does not match block ${parent.header.height}`);
          }
          if (header.time < parent.header.time) fail(`${at}: time goes backwards`);
          if (header.logSize !== parent.header.logSize + header.txCount) {
            fail(`${at}: logSize does not equal the parent's plus txCount`);
          }
        }
        // Transactions, leaves and stored nodes.
        const lo = header.logSize - header.txCount;
        const txs = await store.txsByLogRange(lo, header.logSize);
        if (txs.length !== header.txCount) {
          fail(`${at}: holds ${txs.length} transactions, header says ${header.txCount}`);
        }
        const created: Array<{ level: number; index: number; hash: Uint8Array }> = [];
        const jobs: SignatureJob[] = [];
        for (let k = 0; k < txs.length; k++) {
          const tx = txs[k];
          const where = `${at}: transaction at log index ${lo + k}`;
          if (tx.logIndex !== lo + k || tx.height !== header.height) fail(`${where}: misplaced`);
          let envelope: Envelope;
          try {
            envelope = JSON.parse(tx.envelope) as Envelope;
          } catch {
            return fail(`${where}: envelope is not JSON`);
          }
          // One canonicalization gives both texts (checked against the SDK's in its tests).
          let texts: ReturnType<typeof envelopeText>;
          try {
            texts = envelopeText(envelope);
          } catch {
            return fail(`${where}: envelope is not canonical JSON`);
          }
          if (texts.envelopeJson !== tx.envelope) fail(`${where}: envelope is not canonical JSON`);
          if (texts.txId !== tx.id) {
            fail(`${where}: id ${tx.id.slice(0, 12)}… does not match its envelope`);
          }
          let result: { status?: unknown };
          try {
            result = JSON.parse(tx.result);
          } catch {
            return fail(`${where}: result is not JSON`);
          }
          if (canonicalJson(result) !== tx.result || result.status !== tx.status) {
            fail(`${where}: result does not match its status`);
          }
          jobs.push({
            payload: SIGNING_DOMAIN + texts.unsignedJson,
            signers: envelope.signers,
            sigs: envelope.sigs,
          });
          created.push(...frontier.append(leafHash(leafData(tx.envelope, tx.result))));
        }
        const height = header.height;
        const found = jobs.length === 0
          ? Promise.resolve(undefined)
          : verifySignatures(jobs).then((verdicts) => {
            const k = verdicts.findIndex((v) => !v.ok);
            return k < 0
              ? undefined
              : `block ${height}: transaction at log index ${lo + k}: ${verdicts[k].reason}`;
          });
        // Awaited in turn by settleOldest; a pool that failed must not go unheard meanwhile.
        found.catch(() => {});
        signing.push({ height, lo, found });
        while (signing.length > signatureBlocksInFlightMax) await settleOldest();
        if (hexEncode(frontier.root()) !== header.logRoot) {
          fail(`${at}: logRoot does not match the log's leaves`);
        }
        const stored = await store.nodes(created);
        for (const n of created) {
          const s = stored.get(`${n.level}/${n.index}`);
          if (s === undefined || !bytesEqual(s, n.hash)) {
            fail(`${at}: stored Merkle node ${n.level}/${n.index} does not match the leaves`);
          }
        }
        // Checkpoint signatures.
        const lines = await store.checkpointLines(header.height);
        if (lines.length === 0) fail(`${at}: no checkpoint signature is stored`);
        const text = formatCheckpoint({
          origin: genesis.origin,
          size: header.logSize,
          rootHash: hexDecode(header.logRoot),
          height: header.height,
          blockHash: row.hash,
        });
        for (const l of lines) {
          const keys = keysAt(l.site, header.height);
          if (keys === undefined) fail(`${at}: checkpoint signed by unknown site ${l.site}`);
          const ok = verifyNoteWith(assembleNote(text, [l.line]), keys!, verifyEd25519Native);
          if (ok.length !== 1) {
            fail(`${at}: checkpoint signature of site ${l.site} does not verify`);
          }
        }
        txsChecked += txs.length;
        blocksChecked++;
        parent = { header, hash: row.hash };
      }
      if (rows.length < pageBlocksMax) break;
    }
    while (signing.length > 0) await settleOldest();
    if (parent === undefined) return fail("no genesis block is stored");
    // Blocks the site wrote while the check ran are past its end; a row
    // that none of the blocks checked, nor a later one, can hold is not.
    const stray = await store.strayTxCount(parent.header.logSize, parent.header.height);
    if (stray > 0) {
      fail(
        `transactions table holds ${stray} row(s) outside the chain's log of ${parent.header.logSize} ` +
          `transactions (up to block ${parent.header.height})`,
      );
    }
    return {
      ok: true,
      blocksChecked,
      txsChecked,
      durationMs: Math.round(performance.now() - started),
    };
  } catch (e) {
    if (!(e instanceof Mismatch)) throw e;
    // A signature of an earlier block (or of this one: signatures come
    // before its log root) that fails is the first thing that does not match;
    // those still under check after a signature mismatch are of later blocks.
    let first = e;
    while (!(e instanceof SignatureMismatch) && signing.length > 0) {
      try {
        await settleOldest();
      } catch (earlier) {
        if (!(earlier instanceof Mismatch)) throw earlier;
        first = earlier;
        break;
      }
    }
    return {
      ok: false,
      blocksChecked,
      txsChecked,
      firstMismatch: first.message,
      durationMs: Math.round(performance.now() - started),
    };
  }
}
