/**
 * What the golden chains' scripts share: the fixture's format, fixed keys
 * and block times, and {@link ChainBuilder}, which builds a chain block by
 * block on an in-process lone site and reads it back as a fixture. Internal
 * to `test/golden/`; the chains themselves are listed in `generate.ts`.
 *
 * Deterministic: every key comes from a fixed secret (Ed25519; ECDSA
 * signatures per RFC 6979), every nonce from a counter, every block time
 * from its height; the site's clock follows the block being built. Blocks
 * are cut here, not by the site's batching (`Site.applyEntry`, as a committed
 * Raft entry is applied), so each holds exactly the transactions listed.
 * Admission is bypassed on purpose: some transactions are ones only a block
 * can reject (expired in flight, a signer revoked earlier in the same chain,
 * an overspend by a second transfer of the same block); each is signed by
 * every signer it names.
 *
 * @module
 */
import { base64urlEncode, hexEncode, utf8Encode } from "../../sdk/encoding.ts";
import { createEnvelope, type Envelope, signEnvelope, transactionId } from "../../sdk/envelope.ts";
import { sha256 } from "../../sdk/hash.ts";
import type { Algorithm } from "../../sdk/did_key.ts";
import { type KeyPair, keyPairFromSecret, softwareSigner } from "../../sdk/keys.ts";
import { buildTx, type KindBody } from "../../sdk/kinds/build.ts";
import type { Kind } from "../../sdk/kinds/mod.ts";
import type { GenesisConfig } from "../../src/chain/genesis.ts";
import type { BlockHeader } from "../../sdk/block.ts";
import { hashState } from "../../src/site/state_check.ts";
import { Site } from "../../src/site/site.ts";
import { NativeSnapshot, type StateRow } from "../../src/storage/native.ts";
import { createLogger } from "../../src/log.ts";

/** The fixture's format version; bump it when its shape changes. */
export const GOLDEN_VERSION = 1;

/** One block of the fixture: what `Site.replayBlocks` serves, plus what it decided. */
export interface GoldenBlock {
  /** What the block exercises (for people reading the file). */
  about: string;
  hash: string;
  header: BlockHeader;
  entryIndex: number;
  /** The envelopes, in log order, as stored (canonical key order). */
  txs: Envelope[];
  /** `results[i]` is the recorded result of `txs[i]`. */
  results: Array<Record<string, unknown>>;
}

/** The fixture. */
export interface GoldenChain {
  v: number;
  about: string;
  genesis: GenesisConfig;
  /** Block 0's hash, derived from `genesis`. */
  genesisHash: string;
  blocks: GoldenBlock[];
  final: {
    height: number;
    hash: string;
    logSize: number;
    logRoot: string;
    /** The contract-state hash of `state_check.ts` after the last block, and its row count. */
    state: { hash: string; rows: number };
    /** Every state row after the last block: `[ns, key, value]`, value parsed, in `(ns, key)` order. */
    stateRows: Array<[string, string, unknown]>;
  };
}

/** Genesis time of every golden chain. */
export const T0 = 1_700_000_000_000;
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
/** Block `h` is made at `T0 + h` minutes. */
export const blockTime = (h: number): number => T0 + h * MINUTE;

/** A key from a fixed secret: SHA-256 of `"edgeledger/golden/" + name`. */
export function keyOf(name: string, algorithm: Algorithm = "ed25519"): KeyPair {
  return keyPairFromSecret(algorithm, sha256(utf8Encode(`edgeledger/golden/${name}`)));
}

/** Lowercase hex SHA-256 of a label (anchor roots, subscriber hashes). */
export const hexOf = (label: string): string =>
  hexEncode(sha256(utf8Encode(`edgeledger/golden/${label}`)));

/**
 * Kinds any did:key may submit on the golden ledgers (every use-case kind).
 * Their own list, not `test/_kinds_helpers.ts`' (which may grow): it is part
 * of each recorded genesis.
 */
export const GOLDEN_OPEN_KINDS: readonly string[] = [
  "data.anchor",
  "asset.create",
  "asset.mint",
  "asset.transfer",
  "custody.create",
  "custody.handoff",
  "custody.attach",
  "access.grant",
  "access.revoke",
  "roaming.open",
  "roaming.record",
  "roaming.dispute",
  "roaming.accept",
  "roaming.close",
  "roaming.sign",
];

/** What a transaction of a block is meant to do: `applied`, a rejection code, or `duplicate` (left out). */
export type Expect = string;

/** A transaction of a block being built, with what it must come to. */
export type Planned = [Envelope, Expect];

/**
 * Builds blocks one at a time on a lone site (the genesis's first site,
 * with key `siteKey`), checking each transaction does what it is meant to.
 */
export class ChainBuilder {
  #nonces = 0;
  readonly #about: string[] = [];
  /** The height after whose block the state is read (see {@link buildChain}). */
  stateAfter: number | undefined;
  /** The state read after block {@link stateAfter}, once it was built. */
  stateRead: GoldenState | undefined;

  private constructor(
    readonly site: Site,
    readonly dir: string,
    readonly genesis: GenesisConfig,
    readonly about: string,
    public now: number,
  ) {}

  static async open(
    genesis: GenesisConfig,
    siteKey: KeyPair,
    about: string,
  ): Promise<ChainBuilder> {
    const dir = await Deno.makeTempDir({ prefix: "edgeledger-golden-" });
    let builder: ChainBuilder | undefined = undefined;
    const site = await Site.open({
      name: genesis.sites[0].name,
      dbUrl: `file:${dir}/ledger.db`,
      genesis: structuredClone(genesis),
      key: siteKey,
      storage: "inline",
      verifyWorkers: 0,
      diskFreeBytesMin: 0,
      stateCheckBlocks: 0,
      clock: () => builder?.now ?? T0,
      log: createLogger({ level: "error", context: { site: "golden" } }),
    });
    builder = new ChainBuilder(site, dir, genesis, about, blockTime(1));
    return builder;
  }

  /** The height of the next block. */
  get nextHeight(): number {
    return this.site.head.header.height + 1;
  }

  /** A signed envelope of a known kind, its body checked by the kind's schema; expires an hour after the next block. */
  async tx<K extends Kind>(
    kind: K,
    body: KindBody<K>,
    signers: KeyPair[],
    options: { expiresAt?: number } = {},
  ): Promise<Envelope> {
    const unsigned = buildTx(kind, body, {
      ledger: this.genesis.ledger,
      signers: signers.map((k) => k.did),
      nonce: this.#nonce(),
      expiresAt: options.expiresAt ?? this.now + HOUR,
    });
    return await signEnvelope(unsigned, signers.map(softwareSigner));
  }

  /** A signed envelope whose kind or body no contract accepts (planning rejects it). */
  async raw(kind: string, body: unknown, signers: KeyPair[]): Promise<Envelope> {
    const unsigned = createEnvelope({
      ledger: this.genesis.ledger,
      kind,
      body,
      signers: signers.map((k) => k.did),
      nonce: this.#nonce(),
      expiresAt: this.now + HOUR,
    });
    return await signEnvelope(unsigned, signers.map(softwareSigner));
  }

  #nonce(): string {
    return base64urlEncode(
      sha256(utf8Encode(`edgeledger/golden/nonce/${this.#nonces++}`)).slice(0, 16),
    );
  }

  /**
   * Applies `planned` as the next block (as a committed entry is applied)
   * and checks each transaction came to what it was meant to. Answers each
   * transaction's result, in `planned` order (undefined for a duplicate).
   */
  async block(about: string, planned: Planned[]): Promise<Array<Record<string, unknown>>> {
    const height = this.site.head.header.height + 1;
    this.now = blockTime(height);
    await this.site.applyEntry("next", {
      time: this.now,
      proposer: this.genesis.sites[0].name,
      term: 0,
      txs: planned.map(([e]) => e),
    });
    if (this.site.head.header.height !== height) {
      throw new Error(`Cannot build block ${height}: the site made no block`);
    }
    this.#about.push(about);
    const results: Array<Record<string, unknown>> = [];
    const seen = new Set<string>();
    for (const [i, [env, expect]] of planned.entries()) {
      const txId = transactionId(env);
      const row = await this.site.store.txById(txId);
      const result = row === undefined ? undefined : JSON.parse(row.result);
      // Left out: committed in an earlier block, or earlier in this one.
      const got = row === undefined || row.height !== height || seen.has(txId)
        ? "duplicate"
        : result.status === "applied"
        ? "applied"
        : result.code;
      if (got !== expect) {
        throw new Error(
          `Block ${height} (${about}), transaction ${i} (${env.kind}): expected ${expect}, got ` +
            `${got}: ${JSON.stringify(result)}`,
        );
      }
      seen.add(txId);
      results.push(result);
    }
    if (height === this.stateAfter) this.stateRead = await this.readState();
    // The next block's envelopes expire relative to its time.
    this.now = blockTime(height + 1);
    return results;
  }

  /** The contract state now: its `state_check.ts` hash and every row. */
  async readState(): Promise<GoldenState> {
    const snapshot = new NativeSnapshot(`${this.dir}/ledger.db`);
    try {
      const state = await hashState(snapshot);
      const rows: Array<[string, string, unknown]> = [];
      for (let after: StateRow | undefined = undefined;;) {
        const page = snapshot.statePage(after, 1000);
        for (const r of page) rows.push([r.ns, r.key, JSON.parse(r.value)]);
        if (page.length < 1000) break;
        after = page[page.length - 1];
      }
      return { state, stateRows: rows };
    } finally {
      snapshot.close();
    }
  }

  /** The fixture: genesis, every block as served to a catching-up peer with its results, the final state. */
  async fixture(): Promise<GoldenChain> {
    const head = this.site.head;
    const served = await this.site.replayBlocks(1, head.header.height);
    if (served.length !== head.header.height) {
      throw new Error(
        `Cannot read the chain back: ${served.length} of ${head.header.height} blocks`,
      );
    }
    const blocks: GoldenBlock[] = [];
    for (const [i, b] of served.entries()) {
      const results = [];
      for (const env of b.txs) {
        const row = await this.site.store.txById(transactionId(env));
        if (row === undefined) {
          throw new Error(`Cannot read back transaction ${transactionId(env)}`);
        }
        results.push(JSON.parse(row.result));
      }
      blocks.push({ about: this.#about[i], ...b, results });
    }
    const zero = await this.site.blockByHeight(0, "stale");
    const { state, stateRows } = await this.readState();
    return {
      v: GOLDEN_VERSION,
      about: this.about,
      genesis: this.genesis,
      genesisHash: zero!.hash,
      blocks,
      final: {
        height: head.header.height,
        hash: head.hash,
        logSize: head.header.logSize,
        logRoot: head.header.logRoot,
        state,
        stateRows,
      },
    };
  }

  async close(): Promise<void> {
    await this.site.close();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** One golden chain: its fixture file, and how to build it. */
export interface GoldenSpec {
  /** Short name, as tests and the generator's output call it. */
  name: string;
  /** The fixture file. */
  file: URL;
  /** The fixture's `about`. */
  about: string;
  /** The recorded genesis (a fresh object each call: the site may keep it). */
  genesis: () => GenesisConfig;
  /** The genesis's first site's key (the lone site builds every block). */
  siteKey: KeyPair;
  /** The blocks, in order. New blocks go at the END (see `generate.ts`). */
  script: (g: ChainBuilder) => Promise<void>;
}

/** The contract state after some block, as a fixture's `final` records it. */
export type GoldenState = Pick<GoldenChain["final"], "state" | "stateRows">;

/** A chain {@link buildChain} built: the fixture, and the state it was asked to read on the way. */
export interface BuiltChain {
  chain: GoldenChain;
  /**
   * The state right after block `stateAfter` (when asked, and the chain
   * reached it): what a fixture ending there records, so that the
   * generator can tell whether a chain it extends still leaves the
   * recorded blocks' state as recorded.
   */
  stateAfter?: GoldenState;
}

/**
 * Builds `spec`'s chain on a fresh lone site and answers the fixture, with
 * the state after block `options.stateAfter` (0: genesis) when asked.
 */
export async function buildChain(
  spec: GoldenSpec,
  options: { stateAfter?: number } = {},
): Promise<BuiltChain> {
  const g = await ChainBuilder.open(spec.genesis(), spec.siteKey, spec.about);
  g.stateAfter = options.stateAfter;
  try {
    if (options.stateAfter === 0) g.stateRead = await g.readState();
    await spec.script(g);
    const chain = await g.fixture();
    return g.stateRead === undefined ? { chain } : { chain, stateAfter: g.stateRead };
  } finally {
    await g.close();
  }
}

/** The fixture as written: JSON, two-space indent, final newline (as `deno fmt` leaves it). */
export function fixtureText(chain: GoldenChain): string {
  return JSON.stringify(chain, null, 2) + "\n";
}
