/**
 * An in-memory {@link LedgerService} for the API's tests: small but honest.
 * It computes real transaction ids (SHA-256 of the signing payload, DESIGN
 * §2), keeps envelopes by id, is idempotent, orders committed transactions
 * into blocks, serves subscriptions with a bounded live buffer, and throws
 * the `LedgerError`s a test configures. It checks no signatures.
 *
 * @module
 */

import canonicalize from "canonicalize";
import { base64urlnopad } from "@scure/base";
import type {
  BlockEvent,
  BlockView,
  Consistency,
  IntegrityReport,
  LedgerService,
  ProofView,
  Receipt,
  SiteKeysView,
  SiteView,
  StatusView,
  SubmitOptions,
  TxResult,
} from "./service.ts";
import { LedgerError } from "./service.ts";
import { HeightWaiters } from "./height_waiters.ts";

/** One recorded call of a service method, for assertions on what the API passed. */
export interface FakeCall {
  method: keyof LedgerService;
  args: unknown[];
}

interface StoredTx {
  tx: Record<string, unknown>;
  receipt: Receipt;
  kind: string;
  signers: string[];
}

interface Subscriber {
  queue: BlockEvent[];
  bufferBlocksMax: number;
  pumping: boolean;
  closed: boolean;
  onBlock: (event: BlockEvent) => void | Promise<void>;
  onEnd: (reason: string) => void;
}

/** Hex SHA-256 of a UTF-8 string. */
async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The transaction id of DESIGN §2: hex SHA-256 of
 * `"edgeledger/tx/v1\n" + JCS(envelope without "sigs")`.
 */
export async function fakeTxId(envelope: Record<string, unknown>): Promise<string> {
  const { sigs: _sigs, ...unsigned } = envelope;
  return await sha256Hex("edgeledger/tx/v1\n" + canonicalize(unsigned));
}

/** A syntactically plausible envelope for tests; `overrides` replace members. */
export function sampleEnvelope(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    v: 1,
    ledger: "demo",
    kind: "data.anchor",
    body: { stream: "meter-7", seq: 0, root: "00".repeat(32), count: 1, from: 0, to: 1 },
    nonce: "AAECAwQFBgcICQoLDA0ODw",
    expiresAt: 1764003600000,
    signers: ["did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"],
    sigs: ["c2ln"],
    ...overrides,
  };
}

/**
 * The fake. By default a submitted transaction is committed at once in a new
 * block (`autoCommit`); with `autoCommit = false` it stays pending until
 * {@link FakeLedgerService.commitPending}. Configure refusals with
 * {@link FakeLedgerService.refuseWhen} and failures of any method with
 * {@link FakeLedgerService.failures}.
 */
export class FakeLedgerService implements LedgerService {
  /** Commit each submission at once (one block per `submit` call). */
  autoCommit = true;
  /** Makes the named method throw this error (a `LedgerError` or a bug). */
  readonly failures = new Map<keyof LedgerService, unknown>();
  /** Every call, in order. */
  readonly calls: FakeCall[] = [];
  /** Block 0 is genesis; heights are indexes. */
  readonly chain: BlockView[] = [];
  /** The event of every block, as pushed to subscribers; index = height. */
  readonly events: BlockEvent[] = [];
  /** Every admitted transaction by id, pending or committed. */
  readonly txs = new Map<string, StoredTx>();
  /** Transaction ids in log order. */
  readonly log: string[] = [];
  /** Ids admitted and not yet in a block, in admission order. */
  readonly pending: string[] = [];
  /** Live subscriptions; one leaves on unsubscribe or when ended. */
  readonly subscribers = new Set<Subscriber>();
  /** Contract state served by `stateGet`/`stateRange`, keyed `ns\u0000key`. */
  readonly state = new Map<string, unknown>();
  /** What `sites()` answers. */
  readonly sitesList: SiteView[] = [
    {
      name: "site-a",
      url: "http://127.0.0.1:7001",
      verifierKey: "site-a+1a2b3c4d+AWVkZ2VsZWRnZXI",
    },
  ];
  readonly #heightWaiters = new HeightWaiters("site-a", () => this.chain.length - 1);
  #refusals: Array<{ when: (envelope: Record<string, unknown>) => boolean; error: LedgerError }> =
    [];

  constructor(readonly ledger = "demo") {
    this.chain.push(this.#block(0, [], "0".repeat(64), "0".repeat(64)));
    this.events.push({
      height: 0,
      hash: this.chain[0].hash,
      header: this.chain[0].header,
      txs: [],
    });
  }

  /** Refuses, at admission, every envelope for which `when` is true, with `error`. */
  refuseWhen(when: (envelope: Record<string, unknown>) => boolean, error: LedgerError): this {
    this.#refusals.push({ when, error });
    return this;
  }

  /** Subscriptions not yet ended or unsubscribed. */
  get activeSubscriptions(): number {
    return this.subscribers.size;
  }

  /** Records the call and throws its configured failure, after yielding like real I/O would. */
  async #record(method: keyof LedgerService, args: unknown[]): Promise<void> {
    await Promise.resolve();
    this.#recordSync(method, args);
  }

  #recordSync(method: keyof LedgerService, args: unknown[]): void {
    this.calls.push({ method, args });
    const failure = this.failures.get(method);
    if (failure !== undefined) throw failure;
  }

  #block(height: number, txIds: string[], prev: string, hash: string): BlockView {
    return {
      hash,
      header: {
        v: 1,
        ledger: this.ledger,
        height,
        prev,
        time: 1764000000000 + height * 1000,
        term: 1,
        proposer: "site-a",
        txCount: txIds.length,
        logSize: this.log.length,
        logRoot: "0".repeat(64),
      },
      txIds,
    };
  }

  async submit(envelopes: unknown[], options: SubmitOptions): Promise<Receipt[]> {
    await this.#record("submit", [envelopes, options]);
    const receipts: Receipt[] = [];
    for (const envelope of envelopes) {
      if (typeof envelope !== "object" || envelope === null || Array.isArray(envelope)) {
        receipts.push(
          refused(
            null,
            new LedgerError(
              "invalid_envelope",
              422,
              "Malformed transaction envelope",
              "Cannot admit the envelope: it is not an object",
            ),
          ),
        );
        continue;
      }
      const env = envelope as Record<string, unknown>;
      const txId = await fakeTxId(env);
      const refusal = this.#refusals.find((r) => r.when(env));
      if (refusal) {
        receipts.push(refused(txId, refusal.error));
        continue;
      }
      const known = this.txs.get(txId);
      if (known) {
        receipts.push(known.receipt);
        continue;
      }
      this.txs.set(txId, {
        tx: env,
        receipt: { txId, status: "pending" },
        kind: String(env.kind),
        signers: Array.isArray(env.signers) ? env.signers.map(String) : [],
      });
      this.pending.push(txId);
      receipts.push({ txId, status: "pending" });
    }
    if (this.autoCommit && this.pending.length > 0) await this.commitPending();
    // Receipts of transactions committed just now are answered as committed.
    return receipts.map((
      r,
    ) => (r.txId !== null && r.status === "pending" ? this.txs.get(r.txId)!.receipt : r));
  }

  /** Commits every pending transaction in one new block and pushes it to subscribers. */
  async commitPending(): Promise<BlockEvent> {
    const height = this.chain.length;
    const ids = this.pending.splice(0);
    const txs: BlockEvent["txs"] = [];
    for (const txId of ids) {
      const stored = this.txs.get(txId)!;
      const logIndex = this.log.length;
      this.log.push(txId);
      const result: TxResult = { status: "applied" };
      stored.receipt = { txId, status: "committed", height, logIndex, result };
      txs.push({ txId, kind: stored.kind, signers: stored.signers, logIndex, result });
    }
    const prev = this.chain[height - 1].hash;
    const hash = await sha256Hex(`block ${height} ${prev} ${ids.join(",")}`);
    const block = this.#block(height, ids, prev, hash);
    this.chain.push(block);
    this.#heightWaiters.reached(height);
    const event: BlockEvent = { height, hash, header: block.header, txs };
    this.events.push(event);
    for (const sub of this.subscribers) {
      if (sub.queue.length >= sub.bufferBlocksMax) {
        this.#end(sub, "slow_consumer");
        continue;
      }
      sub.queue.push(event);
      void this.#pump(sub);
    }
    return event;
  }

  async getTx(
    txId: string,
    consistency: Consistency,
  ): Promise<{ tx: Record<string, unknown>; receipt: Receipt } | null> {
    await this.#record("getTx", [txId, consistency]);
    const stored = this.txs.get(txId);
    return stored ? { tx: stored.tx, receipt: stored.receipt } : null;
  }

  async proof(
    txId: string,
    treeSize: number | undefined,
    consistency: Consistency,
  ): Promise<ProofView | null> {
    await this.#record("proof", [txId, treeSize, consistency]);
    const stored = this.txs.get(txId);
    if (!stored) return null;
    const logIndex = stored.receipt.logIndex;
    const size = treeSize ?? this.log.length;
    if (logIndex === undefined || size <= logIndex || size > this.log.length) {
      // As the site answers it (its own title; the API serves the catalogue's).
      throw new LedgerError(
        "invalid_range",
        422,
        "Invalid tree size",
        `Cannot prove transaction ${txId} in a tree of size ${size}`,
      );
    }
    const leaf = base64urlnopad.encode(
      new TextEncoder().encode(canonicalize({ tx: stored.tx, result: stored.receipt.result })!),
    );
    return {
      logIndex,
      treeSize: size,
      leaf,
      proof: size === 1 ? [] : ["ab".repeat(32)],
    };
  }

  async awaitHeight(height: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    await this.#record("awaitHeight", [height, timeoutMs]);
    await this.#heightWaiters.wait(height, timeoutMs, signal);
  }

  async blockByHeight(height: number, consistency: Consistency): Promise<BlockView | null> {
    await this.#record("blockByHeight", [height, consistency]);
    return this.chain[height] ?? null;
  }

  async blockByHash(hash: string, consistency: Consistency): Promise<BlockView | null> {
    await this.#record("blockByHash", [hash, consistency]);
    return this.chain.find((b) => b.hash === hash) ?? null;
  }

  async blocks(from: number, limit: number, consistency: Consistency): Promise<BlockView[]> {
    await this.#record("blocks", [from, limit, consistency]);
    return this.chain.slice(from, from + limit);
  }

  async checkpoint(consistency: Consistency): Promise<string> {
    await this.#record("checkpoint", [consistency]);
    const head = this.chain[this.chain.length - 1];
    return `edgeledger.dev/${this.ledger}\n${this.log.length}\nAAAA\nheight ${head.header.height}\n\n— site-a AAAA\n`;
  }

  async consistency(from: number, to: number, consistency: Consistency): Promise<string[]> {
    await this.#record("consistency", [from, to, consistency]);
    if (!(0 < from && from <= to && to <= this.log.length)) {
      throw new LedgerError(
        "invalid_range",
        422,
        "Invalid range",
        `Cannot prove consistency from ${from} to ${to}: the log has ${this.log.length} entries`,
      );
    }
    return from === to ? [] : ["cd".repeat(32)];
  }

  /** Fields merged over what `status()` answers (a stopped, removed or lagging site). */
  statusOverride: Partial<StatusView> = {};

  async status(): Promise<StatusView> {
    await this.#record("status", []);
    const head = this.chain[this.chain.length - 1];
    return {
      ledger: this.ledger,
      origin: `edgeledger.dev/${this.ledger}`,
      site: "site-a",
      role: "leader",
      term: 1,
      leader: "site-a",
      commitIndex: head.header.height,
      appliedIndex: head.header.height,
      height: head.header.height,
      logSize: this.log.length,
      head: head.hash,
      pendingTxs: this.pending.length,
      version: "test",
      ...this.statusOverride,
    };
  }

  async sites(): Promise<SiteView[]> {
    await this.#record("sites", []);
    return this.sitesList;
  }

  /** What `siteKeys(name)` answers, by name (none: not found). */
  readonly siteKeysByName = new Map<string, SiteKeysView>();

  async siteKeys(name: string): Promise<SiteKeysView | undefined> {
    await this.#record("siteKeys", [name]);
    return this.siteKeysByName.get(name);
  }

  async integrity(): Promise<IntegrityReport> {
    await this.#record("integrity", []);
    return {
      ok: true,
      blocksChecked: this.chain.length,
      txsChecked: this.log.length,
      durationMs: 1,
    };
  }

  async stateGet(ns: string, key: string, _c: Consistency): Promise<unknown | undefined> {
    await this.#record("stateGet", [ns, key]);
    return this.state.get(`${ns}\u0000${key}`);
  }

  async stateRange(
    ns: string,
    prefix: string,
    options: { limit: number; after?: string },
    _c: Consistency,
  ): Promise<Array<{ key: string; value: unknown }>> {
    await this.#record("stateRange", [ns, prefix, options]);
    const head = `${ns}\u0000`;
    return [...this.state.entries()]
      .filter(([k]) => k.startsWith(head + prefix))
      .map(([k, value]) => ({ key: k.slice(head.length), value }))
      .filter((e) => options.after === undefined || e.key > options.after)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .slice(0, options.limit);
  }

  subscribe(
    afterHeight: number,
    onBlock: (event: BlockEvent) => void | Promise<void>,
    onEnd: (reason: string) => void,
    options?: { bufferBlocksMax?: number },
  ): () => void {
    this.#recordSync("subscribe", [afterHeight, options]);
    const sub: Subscriber = {
      queue: this.events.filter((e) => e.height > afterHeight),
      bufferBlocksMax: options?.bufferBlocksMax ?? 1024,
      pumping: false,
      closed: false,
      onBlock,
      onEnd,
    };
    this.subscribers.add(sub);
    void this.#pump(sub);
    return () => {
      sub.closed = true;
      this.subscribers.delete(sub);
    };
  }

  /** Delivers queued blocks in order, one at a time: `onBlock` is awaited before the next. */
  async #pump(sub: Subscriber): Promise<void> {
    if (sub.pumping) return;
    sub.pumping = true;
    try {
      while (!sub.closed && sub.queue.length > 0) await sub.onBlock(sub.queue.shift()!);
    } finally {
      sub.pumping = false;
    }
  }

  #end(sub: Subscriber, reason: string): void {
    sub.closed = true;
    this.subscribers.delete(sub);
    sub.onEnd(reason);
  }
}

function refused(txId: string | null, error: LedgerError): Receipt {
  return {
    txId,
    status: "refused",
    problem: { type: error.type, title: error.title, status: error.status, detail: error.message },
  };
}
