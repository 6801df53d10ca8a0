/**
 * Fixtures for the property tests (`test/props_*_test.ts`): how many runs
 * each property gets (`PROPS_RUNS`), deterministic keys and signed
 * envelopes, and an in-memory ledger that executes blocks through the same
 * functions a site does (`planBatch`, `executeBatch`) over the genesis
 * state, keeping state, committed ids and the Merkle frontier between
 * blocks as a site's storage would.
 *
 * It also admits envelopes as a site's admission does (`admit`), and serves
 * its state through the real read routes (`reads`).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { BlockHeader } from "../sdk/block.ts";
import { base64urlEncode } from "../sdk/encoding.ts";
import type { Envelope } from "../sdk/envelope.ts";
import { type KeyPair, keyPairFromSecret, signSync } from "../sdk/keys.ts";
import { utf8Encode } from "../sdk/encoding.ts";
import { SIGNING_DOMAIN } from "../sdk/envelope.ts";
import { canonicalJson } from "../sdk/canonical_json.ts";
import {
  type Batch,
  type BlockOutcome,
  executeBatch,
  planBatch,
  stateMapKey,
} from "../src/chain/execute.ts";
import { genesisBlock, type GenesisConfig, genesisState } from "../src/chain/genesis.ts";
import { MerkleFrontier } from "../src/chain/merkle_log.ts";
import {
  builtinContracts,
  type ContractRegistry,
  POLICY_KEY,
  POLICY_NS,
  RULES_KEY,
  RULES_NS,
  type RulesRecord,
  standingOf,
} from "../src/contracts/mod.ts";
import { checkSignerStatus, checkStateless } from "../src/site/admission.ts";
import { LedgerError } from "../src/api/service.ts";
import { createApp } from "../src/api/app.ts";
import { FakeLedgerService } from "../src/api/testing.ts";

/**
 * Runs per property: `PROPS_RUNS` when set (a longer hunt, e.g.
 * `PROPS_RUNS=2000`), else `fallback`, chosen so the default suite stays
 * fast. fast-check prints the seed and path of a failure; replay it with
 * `fc.assert(…, { seed, path })`.
 */
export function runs(fallback: number): number {
  const n = Number(Deno.env.get("PROPS_RUNS"));
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/** A fixed Ed25519 key pair, the same on every run: key `i` of the tests. */
export function fixedKey(i: number, salt = 0): KeyPair {
  const secret = new Uint8Array(32);
  secret[0] = i + 1;
  secret[1] = salt;
  secret[31] = 0x5a;
  return keyPairFromSecret("ed25519", secret);
}

/** Block times start here; every envelope expires long after. */
export const T0 = 1_700_000_000_000;
/** `expiresAt` of envelopes the tests sign (admission is not in play here). */
export const FAR_EXPIRY = T0 + 10 * 365 * 86_400_000;

let nonceCounter = 0;

/** A fresh 16-byte nonce, deterministic within a process. */
export function nextNonce(): string {
  const bytes = new Uint8Array(16);
  let n = ++nonceCounter;
  for (let i = 15; i >= 0 && n > 0; i--) {
    bytes[i] = n & 0xff;
    n = Math.floor(n / 256);
  }
  return base64urlEncode(bytes);
}

/** An envelope of `kind` signed by `signers` in that order (synchronous: no worker, no WebCrypto). */
export function signedTx(
  kind: string,
  body: unknown,
  signers: readonly KeyPair[],
  options: { ledger?: string; nonce?: string; expiresAt?: number } = {},
): Envelope {
  const unsigned = {
    v: 1 as const,
    ledger: options.ledger ?? "demo",
    kind,
    body,
    nonce: options.nonce ?? nextNonce(),
    expiresAt: options.expiresAt ?? FAR_EXPIRY,
    signers: signers.map((k) => k.did),
  };
  const payload = utf8Encode(SIGNING_DOMAIN + canonicalJson(unsigned));
  return { ...unsigned, sigs: signers.map((k) => base64urlEncode(signSync(k, payload))) };
}

/**
 * A ledger in memory, executing each block with `planBatch` and
 * `executeBatch` as a site does: prefetched state is exactly the keys the
 * plan names, committed ids are checked, writes land after the block.
 *
 * After every block it also asserts a rule of the executor itself: a block
 * writes only keys that a transaction it applied declared — a rejected
 * transaction leaves no trace in state.
 */
export class MemLedger {
  readonly state = new Map<string, string>();
  readonly committed = new Set<string>();
  readonly frontier = new MerkleFrontier();
  readonly blocks: BlockOutcome[] = [];
  head: { header: BlockHeader; hash: string };
  rules: RulesRecord | undefined;

  constructor(
    readonly genesis: GenesisConfig,
    readonly registry: ContractRegistry = builtinContracts(),
  ) {
    this.head = genesisBlock(genesis);
    for (const w of genesisState(genesis)) {
      this.state.set(stateMapKey(w.ns, w.key), canonicalJson(w.value));
    }
    const r = this.state.get(stateMapKey(RULES_NS, RULES_KEY));
    this.rules = r === undefined ? undefined : JSON.parse(r);
  }

  /** Executes `txs` as the next block at leader time `time` and stores it. */
  block(txs: Envelope[], time: number, proposer = "site-a"): BlockOutcome {
    const batch: Batch = { time, proposer, term: 1, txs };
    const plan = planBatch(batch, this.registry);
    const fetched = new Map<string, string>();
    for (const k of plan.keys) {
      const m = stateMapKey(k.ns, k.key);
      const v = this.state.get(m);
      if (v !== undefined) fetched.set(m, v);
    }
    const committed = new Set(plan.txIds.filter((id) => this.committed.has(id)));
    const out = executeBatch(
      this.head,
      batch,
      plan,
      { committed, state: fetched, rules: this.rules },
      this.registry,
      this.frontier,
    );
    const appliedKeys = new Set<string>();
    const byId = new Map(plan.txs.map((t) => [t.txId, t]));
    out.txRows.forEach((row) => {
      if (row.status !== "applied") return;
      for (const k of byId.get(row.id)!.keys) appliedKeys.add(stateMapKey(k.ns, k.key));
    });
    for (const w of out.stateWrites) {
      const m = stateMapKey(w.ns, w.key);
      assert.ok(
        appliedKeys.has(m),
        `block ${out.header.height} wrote ${w.ns}/${JSON.stringify(w.key)}, which no applied ` +
          `transaction declared`,
      );
      if (w.value === null) this.state.delete(m);
      else this.state.set(m, w.value);
      if (w.ns === RULES_NS && w.key === RULES_KEY && w.value !== null) {
        this.rules = JSON.parse(w.value);
      }
    }
    for (const row of out.txRows) this.committed.add(row.id);
    this.head = { header: out.header, hash: out.hash };
    this.blocks.push(out);
    return out;
  }

  /** The value of a state key, parsed, or undefined. */
  get<T>(ns: string, key: string): T | undefined {
    const v = this.state.get(stateMapKey(ns, key));
    return v === undefined ? undefined : JSON.parse(v) as T;
  }

  /** Every `[key, value]` of namespace `ns` whose key starts with `prefix`, in key order. */
  list<T>(ns: string, prefix = ""): Array<[string, T]> {
    const head = `${ns}\u0000${prefix}`;
    return [...this.state]
      .filter(([k]) => k.startsWith(head))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k.slice(ns.length + 1), JSON.parse(v) as T]);
  }

  /** The whole state as sorted `[key, value]` text pairs, for comparing two ledgers. */
  snapshot(): Array<[string, string]> {
    return [...this.state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * Admission of `env` as a site runs it against this ledger's state: the
   * stateless checks (schema, ledger, kind, body, the kind's `authorize`),
   * then the signers' standing and the open-kinds gate, with the same
   * functions (`checkStateless`, `checkSignerStatus`). Signatures are not
   * checked: the tests sign every envelope properly. Returns the problem
   * type of a refusal, or undefined when admitted.
   */
  async admit(env: Envelope, now = T0): Promise<string | undefined> {
    try {
      const admitted = checkStateless(
        env,
        now,
        { ledger: this.genesis.ledger, expiryWindowMs: FAR_EXPIRY, envelopeBytesMax: 1 << 20 },
        this.registry,
      );
      const get = <T>(ns: string, key: string) => this.get<T>(ns, key);
      await checkSignerStatus(admitted, (dids) => {
        const out = new Map<string, string>();
        for (const d of dids) {
          const s = standingOf(d, get);
          if (s !== undefined) out.set(d, s);
        }
        return Promise.resolve(out);
      }, {
        openKinds: () =>
          Promise.resolve(
            this.get<{ openKinds: string[] }>(POLICY_NS, POLICY_KEY)?.openKinds ?? [],
          ),
        registry: this.registry,
      });
      return undefined;
    } catch (e) {
      if (e instanceof LedgerError) return e.type;
      throw e;
    }
  }

  /**
   * The read API (`createApp`) over a service whose contract state is this
   * ledger's, as it stands now; other routes answer as the fake service does.
   */
  // deno-lint-ignore no-explicit-any
  reads(): { get(path: string): Promise<{ status: number; body: any }> } {
    const service = new FakeLedgerService(this.genesis.ledger);
    for (const [k, v] of this.state) service.state.set(k, JSON.parse(v));
    const app = createApp(service);
    return {
      async get(path: string) {
        const res = await app.request(path);
        const text = await res.text();
        return { status: res.status, body: text === "" ? undefined : JSON.parse(text) };
      },
    };
  }
}

/** Each result of a block as `"applied"` or its rejection code, in log order. */
export function outcomes(out: BlockOutcome): string[] {
  return out.results.map((r) => r.status === "applied" ? "applied" : String(r.code));
}
