/**
 * Deterministic execution of an ordered batch into a block.
 *
 * Execution is a pure function of (parent block, batch, leader time, the
 * prefetched state and committed ids), so every site that applies the same
 * committed batch produces the same block, byte for byte. It runs in two
 * phases so the host can fetch exactly what is needed in one query each:
 *
 * 1. {@link planBatch} parses each envelope's body and lists the transaction
 *    ids and state keys the batch touches.
 * 2. {@link executeBatch} applies the planned transactions in order over the
 *    prefetched state and returns the block and every row to write.
 *
 * @module
 */
import { canonicalJson } from "../../sdk/canonical_json.ts";
import { blockHash, type BlockHeader } from "../../sdk/block.ts";
import type { Envelope } from "../../sdk/envelope.ts";
import { hexEncode, utf8Encode } from "../../sdk/encoding.ts";
import type { ContractRegistry, RulesRecord, StateAccess, StateKey } from "../contracts/mod.ts";
import { checkRules, Rejection } from "../contracts/mod.ts";
import { assert } from "./assert.ts";
import { envelopeText } from "./envelope_text.ts";
import type { MerkleFrontier } from "./merkle_log.ts";
import { leafHashNative } from "./native_hash.ts";

/** The payload of one consensus log entry: an ordered batch plus the leader's clock. */
export interface Batch {
  /** The proposing leader's wall clock, ms. Block time is `max(parent.time, time)`. */
  time: number;
  /** The site that proposed the batch. */
  proposer: string;
  /** Consensus term of the entry (0 when there is no consensus yet). */
  term: number;
  /** Admitted signed envelopes in the order they are to be applied. */
  txs: Envelope[];
  /** The proposer's id for the batch, so it learns when it is applied; not executed. */
  id?: string;
}

/** A parent block as execution needs it. */
export interface Parent {
  hash: string;
  header: BlockHeader;
}

/** One transaction after planning. */
interface PlannedTx {
  envelope: Envelope;
  txId: string;
  /** JCS of the envelope. */
  envelopeJson: string;
  /** Parsed body, or a deterministic rejection found while planning. */
  body?: unknown;
  rejection?: Rejection;
  keys: StateKey[];
}

/** What a batch needs fetched before it can execute. */
export interface BatchPlan {
  txs: PlannedTx[];
  txIds: string[];
  keys: StateKey[];
}

/** A committed transaction row, ready to store. */
export interface TxRow {
  id: string;
  logIndex: number;
  height: number;
  kind: string;
  envelope: string;
  result: string;
  status: "applied" | "rejected";
}

/** Everything one block writes. */
export interface BlockOutcome {
  header: BlockHeader;
  /** The JCS text of the header, as hashed. */
  headerJson: string;
  hash: string;
  txRows: TxRow[];
  /** `txRows[i].result` as a value (for events and receipts, without parsing it back). */
  results: Array<Record<string, unknown> & { status: string }>;
  /** New perfect-subtree nodes of the Merkle log. */
  nodes: Array<{ level: number; index: number; hash: Uint8Array }>;
  /** Final value of every state key written (`null` = deleted). */
  stateWrites: Array<{ ns: string; key: string; value: string | null }>;
  /** Transactions of the batch left out because they were already committed. */
  duplicates: string[];
}

/** What admission already computed for an envelope object: its id and JCS. */
export interface KnownEnvelope {
  txId: string;
  envelopeJson: string;
}

/**
 * Lists what the batch will read: ids to check for duplicates and contract
 * state keys. `known` may return an envelope's id and JCS computed earlier
 * (by admission, for the very same object) to spare computing them again.
 */
export function planBatch(
  batch: Batch,
  registry: ContractRegistry,
  known: (envelope: Envelope) => KnownEnvelope | undefined = () => undefined,
): BatchPlan {
  const txs: PlannedTx[] = [];
  const keys = new Map<string, StateKey>();
  for (const envelope of batch.txs) {
    const { txId, envelopeJson } = known(envelope) ?? envelopeText(envelope);
    const contract = registry.get(envelope.kind);
    if (contract === undefined) {
      txs.push({
        envelope,
        txId,
        envelopeJson,
        keys: [],
        rejection: new Rejection("unknown_kind", `Unknown kind ${envelope.kind}`),
      });
      continue;
    }
    const parsed = contract.body.safeParse(envelope.body);
    if (!parsed.success) {
      txs.push({
        envelope,
        txId,
        envelopeJson,
        keys: [],
        rejection: new Rejection("invalid_body", `Body does not match ${envelope.kind}`),
      });
      continue;
    }
    const view = { txId, kind: envelope.kind, body: parsed.data, signers: envelope.signers };
    const touched = contract.touches(view);
    for (const k of touched) keys.set(stateMapKey(k.ns, k.key), k);
    txs.push({ envelope, txId, envelopeJson, body: parsed.data, keys: touched });
  }
  return { txs, txIds: txs.map((t) => t.txId), keys: [...keys.values()] };
}

/** Inputs fetched by the host for a plan. */
export interface Prefetched {
  /** Ids of the plan's transactions that are already committed. */
  committed: ReadonlySet<string>;
  /** JSON text of each present state key, keyed by {@link stateMapKey}. */
  state: ReadonlyMap<string, string>;
  /**
   * `gov.rules/current` as of the parent block (undefined when absent).
   * Hosts keep it in memory: only a block's state writes change it.
   */
  rules: RulesRecord | undefined;
}

/** The map key for a state key. */
export function stateMapKey(ns: string, key: string): string {
  return `${ns}\u0000${key}`;
}

/**
 * Applies the planned batch over the prefetched state, appends every leaf to
 * `frontier` (mutated), and returns the block.
 *
 * Order-dependent rules are decided here, identically on every site: a
 * transaction already committed, or repeated within the batch, is left out;
 * one that expired before the block's time is recorded as rejected; a
 * contract's {@link Rejection} is recorded as rejected with nothing it wrote.
 *
 * The block executes under the rules version in force at its height
 * (`prefetched.rules`); every transaction sees it as `tx.rules`. Throws
 * `UnsupportedRulesError` before applying anything (and leaves `frontier`
 * as it was) when that version is above `registry.rulesSupported`.
 */
export function executeBatch(
  parent: Parent,
  batch: Batch,
  plan: BatchPlan,
  prefetched: Prefetched,
  registry: ContractRegistry,
  frontier: MerkleFrontier,
): BlockOutcome {
  assert(parent.header.logSize === frontier.size, "frontier size must match the parent's logSize");
  const height = parent.header.height + 1;
  const rules = checkRules(prefetched.rules, height, registry.rulesSupported);
  const time = Math.max(parent.header.time, batch.time);
  const overlay = new Map<string, string | null>();
  const seen = new Set<string>();
  const txRows: TxRow[] = [];
  const results: BlockOutcome["results"] = [];
  const nodes: BlockOutcome["nodes"] = [];
  const duplicates: string[] = [];

  for (const planned of plan.txs) {
    if (prefetched.committed.has(planned.txId) || seen.has(planned.txId)) {
      duplicates.push(planned.txId);
      continue;
    }
    seen.add(planned.txId);
    const result = applyOne(planned, { time, height, rules }, overlay, prefetched.state, registry);
    const resultJson = canonicalJson(result);
    const envelopeJson = planned.envelopeJson;
    const logIndex = frontier.size;
    nodes.push(...frontier.append(leafHashNative(leafText(envelopeJson, resultJson))));
    results.push(result);
    txRows.push({
      id: planned.txId,
      logIndex,
      height,
      kind: planned.envelope.kind,
      envelope: envelopeJson,
      result: resultJson,
      status: result.status as "applied" | "rejected",
    });
  }

  const header: BlockHeader = {
    v: 1,
    ledger: parent.header.ledger,
    height,
    prev: parent.hash,
    time,
    term: batch.term,
    proposer: batch.proposer,
    txCount: txRows.length,
    logSize: frontier.size,
    logRoot: hexEncode(frontier.root()),
  };
  const stateWrites = [...overlay].map(([k, value]) => {
    const [ns, key] = splitStateMapKey(k);
    return { ns, key, value };
  });
  return {
    header,
    headerJson: canonicalJson(header),
    hash: blockHash(header),
    txRows,
    results,
    nodes,
    stateWrites,
    duplicates,
  };
}

/**
 * The leaf data of a committed transaction: UTF-8 of
 * `JCS({"tx": envelope, "result": result})`, built from the two JCS texts
 * (JCS of an object whose members are JCS texts is their concatenation in
 * key order, and "result" < "tx").
 */
export function leafData(envelopeJson: string, resultJson: string): Uint8Array {
  return utf8Encode(leafText(envelopeJson, resultJson));
}

/** {@link leafData} as text. */
export function leafText(envelopeJson: string, resultJson: string): string {
  return `{"result":${resultJson},"tx":${envelopeJson}}`;
}

function applyOne(
  planned: PlannedTx,
  block: { time: number; height: number; rules: number },
  overlay: Map<string, string | null>,
  base: ReadonlyMap<string, string>,
  registry: ContractRegistry,
): Record<string, unknown> & { status: string } {
  if (planned.rejection) return rejected(planned.rejection);
  if (planned.envelope.expiresAt < block.time) {
    return rejected(
      new Rejection(
        "expired",
        `Transaction expired at ${planned.envelope.expiresAt}, block time ${block.time}`,
      ),
    );
  }
  const contract = registry.get(planned.envelope.kind);
  assert(contract !== undefined, "a planned transaction without rejection has a contract");
  const declared = new Set(planned.keys.map((k) => stateMapKey(k.ns, k.key)));
  const journal = new Map<string, string | null | undefined>();
  const read = (k: string): string | undefined => {
    if (overlay.has(k)) return overlay.get(k) ?? undefined;
    return base.get(k);
  };
  const write = (k: string, v: string | null) => {
    if (!journal.has(k)) journal.set(k, overlay.has(k) ? overlay.get(k) : undefined);
    overlay.set(k, v);
  };
  const access: StateAccess = {
    get<T>(ns: string, key: string): T | undefined {
      const k = stateMapKey(ns, key);
      assert(declared.has(k), `contract ${contract.kind} read undeclared key ${ns}/${key}`);
      const v = read(k);
      return v === undefined ? undefined : JSON.parse(v) as T;
    },
    put(ns, key, value) {
      const k = stateMapKey(ns, key);
      assert(declared.has(k), `contract ${contract.kind} wrote undeclared key ${ns}/${key}`);
      write(k, canonicalJson(value));
    },
    delete(ns, key) {
      const k = stateMapKey(ns, key);
      assert(declared.has(k), `contract ${contract.kind} deleted undeclared key ${ns}/${key}`);
      write(k, null);
    },
  };
  try {
    const out = contract.apply({
      txId: planned.txId,
      kind: planned.envelope.kind,
      body: planned.body,
      signers: planned.envelope.signers,
      time: block.time,
      height: block.height,
      rules: block.rules,
    }, access);
    return { ...out, status: "applied" };
  } catch (e) {
    if (!(e instanceof Rejection)) throw e;
    for (const [k, prev] of journal) {
      if (prev === undefined) overlay.delete(k);
      else overlay.set(k, prev);
    }
    return rejected(e);
  }
}

function rejected(r: Rejection): { status: "rejected"; code: string; detail: string } {
  return { status: "rejected", code: r.code, detail: r.message };
}

function splitStateMapKey(k: string): [string, string] {
  const i = k.indexOf("\u0000");
  return [k.slice(0, i), k.slice(i + 1)];
}
