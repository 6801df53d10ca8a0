/**
 * The light client (DESIGN §2 "Checkpoints", §7): verifies that a
 * transaction is in the ledger without trusting the site that answers.
 *
 * A receipt is accepted only when all of these hold, each checked here and
 * not taken from the site:
 *
 * 1. The checkpoint is a C2SP signed note carrying valid signatures of at
 *    least `quorum` distinct trusted site keys (configured, never taken from
 *    `/v1/sites`), and its body is a well-formed checkpoint of the expected
 *    origin.
 * 2. It extends the last checkpoint this client trusted (kept in a
 *    {@link TrustStore}): not smaller, not a different root at the same
 *    size, not a different block at the same height, and an RFC 9162
 *    consistency proof from the trusted tree to it verifies. A client that
 *    trusts no checkpoint yet has nothing to compare it with: its verdict
 *    says so (`checkpointConsistency: "unchecked"`).
 * 3. The leaf the site serves is canonical `{"tx", "result"}` JSON whose
 *    envelope has the asked transaction id and valid signatures, and equals
 *    the envelope and result of the receipt.
 * 4. The RFC 9162 inclusion proof of that leaf at the receipt's log index
 *    verifies against the checkpoint's root, in a tree of exactly the
 *    checkpoint's size.
 * 5. The receipt's block is proven: the blocks from it to the checkpoint's
 *    block hash correctly and chain by `prev` to the block the checkpoint
 *    names, and the transaction's log index falls in that block's range
 *    (skipped, and said so in the verdict, beyond `chainBlocksMax` blocks).
 *
 * Anything else is a {@link Verdict} with `ok: false` and a precise
 * {@link VerifyReason}.
 *
 * @module
 */

import { canonicalJson } from "../canonical_json.ts";
import { parseCheckpoint } from "../checkpoint.ts";
import { base64urlDecode, hexDecode, hexEncode, utf8Decode } from "../encoding.ts";
import { type Envelope, transactionId, verifyEnvelopeSignatures } from "../envelope.ts";
import { leafHash, verifyConsistency, verifyInclusion } from "../merkle.ts";
import { parseNote, parseVerifierKey, verifyNote } from "../note.ts";
import {
  type BlockView,
  type ClientOptions,
  EdgeLedgerClient,
  type ProofView,
  type Receipt,
} from "../client/client.ts";
import { blockHash } from "../block.ts";
import {
  EdgeLedgerError,
  NetworkError,
  NotFoundError,
  RateLimitedError,
  RejectedError,
  ServerError,
} from "../client/errors.ts";
import { MemoryTrustStore, type TrustedCheckpoint, type TrustStore } from "./trust_store.ts";
import {
  followKeyRotationsOf,
  type KeyRotationUpdate,
  type RetiredVerifierKey,
  retirementsOnTheWay,
  type SiteKeyHistory,
  verifierKeysAt,
} from "./trust_config.ts";

/** Default longest hash chain fetched to prove a transaction's block. */
export const CHAIN_BLOCKS_MAX_DEFAULT = 1000;

/**
 * Default longest wait, ms, for a co-signed checkpoint that covers a
 * transaction committed after the latest one: sites co-sign each block
 * within moments of applying it, so one asked about a transaction right
 * after its commit is usually a few tens of milliseconds behind.
 */
export const CHECKPOINT_WAIT_MS_DEFAULT = 5000;

/**
 * Why a verification failed — stable codes a program can branch on:
 *
 * | reason | meaning |
 * |---|---|
 * | `ok` | verified |
 * | `unavailable` | no site answered (no verdict on the data) |
 * | `response_malformed` | a site's answer breaks the API schema |
 * | `checkpoint_malformed` | not a signed note, or its body is not a checkpoint |
 * | `checkpoint_origin_mismatch` | the checkpoint is for another log |
 * | `checkpoint_quorum_not_met` | fewer than `quorum` trusted sites signed it validly |
 * | `checkpoint_rollback` | it is older than the last trusted checkpoint |
 * | `checkpoint_fork` | same size with another root, or same height with another block |
 * | `consistency_proof_invalid` | it does not provably extend the last trusted checkpoint |
 * | `tx_not_found` | no site knows the transaction |
 * | `tx_not_committed` | known but not yet in a block, or in one the latest co-signed checkpoint does not cover yet (after `checkpointWaitMs`) |
 * | `receipt_malformed` | the receipt lacks what a committed receipt must have, or is another transaction's |
 * | `proof_tree_size_mismatch` | the proof is for another tree size than the checkpoint |
 * | `leaf_malformed` | the leaf is not canonical `{"tx","result"}` JSON |
 * | `leaf_tx_mismatch` | the leaf holds another transaction than the one asked |
 * | `receipt_mismatch` | receipt, envelope or result disagree with the proven leaf |
 * | `inclusion_proof_invalid` | the leaf is not at that index under the checkpoint's root |
 * | `tx_signature_invalid` | the envelope's signatures do not verify |
 * | `block_mismatch` | the blocks do not chain to the checkpoint's block, or the receipt's block does not hold the transaction |
 *
 * @example
 * ```ts
 * const { reason }: { reason: VerifyReason } = await light.verify(txId);
 * if (reason === "checkpoint_quorum_not_met") alert("Not enough sites vouch for this log");
 * ```
 */
export type VerifyReason =
  | "ok"
  | "unavailable"
  | "response_malformed"
  | "checkpoint_malformed"
  | "checkpoint_origin_mismatch"
  | "checkpoint_quorum_not_met"
  | "checkpoint_rollback"
  | "checkpoint_fork"
  | "consistency_proof_invalid"
  | "tx_not_found"
  | "tx_not_committed"
  | "receipt_malformed"
  | "proof_tree_size_mismatch"
  | "leaf_malformed"
  | "leaf_tx_mismatch"
  | "receipt_mismatch"
  | "inclusion_proof_invalid"
  | "tx_signature_invalid"
  | "block_mismatch";

/**
 * How a checkpoint that passed verification compares with the one the
 * light client trusted before it (the one in its {@link TrustStore}):
 *
 * | value | meaning |
 * |---|---|
 * | `unchecked` | the client trusted no checkpoint yet, so none was compared: a new client, or a store that keeps nothing between runs — a stateless check, which cannot tell a rolled-back or forked log |
 * | `same_tree` | the same tree (size and root) as the trusted checkpoint |
 * | `extends` | a larger tree that an RFC 9162 consistency proof shows extends the trusted one |
 * | `prefix` | a smaller tree (a kept bundle's) that a consistency proof shows the trusted one extends |
 *
 * @example
 * ```ts
 * const v = await light.verifyBundle(bundle);
 * if (v.ok && v.checkpointConsistency === "unchecked") console.warn("no earlier checkpoint compared");
 * ```
 */
export type CheckpointConsistency = "unchecked" | "same_tree" | "extends" | "prefix";

/**
 * A checkpoint that passed verification.
 *
 * @example
 * ```ts
 * const { checkpoint } = await light.updateCheckpoint();
 * console.log(checkpoint?.size, checkpoint?.signers);
 * ```
 */
export interface VerifiedCheckpoint extends TrustedCheckpoint {
  /** The trusted keys (by name) whose signatures verified. */
  signers: string[];
}

/**
 * The answer of a verification: `ok`, a reason code, and a sentence a person can read.
 *
 * @example
 * ```ts
 * const verdict: Verdict = await light.verify(txId);
 * console.log(verdict.ok ? "proven" : verdict.reason, verdict.message);
 * ```
 */
export interface Verdict {
  /** True only when every check passed. */
  ok: boolean;
  /** `ok`, or the first check that failed. */
  reason: VerifyReason;
  /** One or two sentences saying what was proven, or what failed and why. */
  message: string;
  /**
   * On a failure, why, without the subject: `message` is `Cannot verify
   * <the checkpoint | transaction <txId>>: <detail>.` For a caller that names
   * the subject itself (`Cannot fetch the proof of …: <detail>`). Absent when
   * `ok`.
   */
  detail?: string;
  /** The transaction checked, when there was one. */
  txId?: string;
  /** Its log index, when proven. */
  logIndex?: number;
  /** Block height of the transaction. */
  height?: number;
  /** The outcome recorded in the log (`applied` or `rejected` by its contract). */
  result?: Record<string, unknown>;
  /** The checkpoint the proof was checked against, when it passed. */
  checkpoint?: VerifiedCheckpoint;
  /**
   * How that checkpoint compares with the one this client trusted before,
   * when it passed; `unchecked` when there was none to compare it with.
   */
  checkpointConsistency?: CheckpointConsistency;
  /**
   * True when the transaction's block was proven too: the hash chain from
   * its block to the checkpoint's block verified and the block holds the
   * transaction at its log index. False when the chain was longer than
   * `chainBlocksMax` (the height is then the site's word).
   */
  blockVerified?: boolean;
}

/**
 * What the light client fetches from sites; an `EdgeLedgerClient` is one.
 *
 * @example
 * ```ts
 * const source: LightSource = new EdgeLedgerClient({ urls });
 * ```
 */
export interface LightSource {
  /** The latest co-signed checkpoint (a signed note). */
  checkpoint(options?: ReadOptions): Promise<string>;
  /** An RFC 9162 consistency proof between two tree sizes, hex. */
  consistency(from: number, to: number, options?: ReadOptions): Promise<{ proof: string[] }>;
  /** A transaction's envelope and receipt. */
  getTx(
    txId: string,
    options?: ReadOptions,
  ): Promise<{ tx: Record<string, unknown>; receipt: Receipt }>;
  /** An inclusion proof at `treeSize`. */
  proof(txId: string, options: { treeSize?: number } & ReadOptions): Promise<ProofView>;
  /** Blocks `[from, to)` in ascending height. */
  blocks(options: { from?: number; to?: number } & ReadOptions): AsyncIterable<BlockView>;
}

/**
 * The read consistency a light client asks a {@link LightSource} for.
 *
 * @example
 * ```ts
 * await source.checkpoint({ consistency: "leader" } satisfies ReadOptions);
 * ```
 */
export interface ReadOptions {
  /** `leader` for "the latest"; `stale` lets any replica answer. */
  consistency?: "stale" | "leader" | "linearizable";
}

/**
 * Everything needed to check a receipt, as served; keep it to verify later
 * offline (see {@link LightClient.fetchBundle}).
 *
 * @example
 * ```ts
 * const bundle = await light.fetchBundle(txId);
 * if (!("reason" in bundle)) localStorage.setItem(txId, JSON.stringify(bundle satisfies ReceiptBundle));
 * ```
 */
export interface ReceiptBundle {
  /** The transaction the bundle proves. */
  txId: string;
  /** The signed envelope as served by `GET /v1/txs/{txId}`. */
  tx: Record<string, unknown>;
  /** Its receipt as served. */
  receipt: Receipt;
  /** The inclusion proof at the checkpoint's tree size. */
  proof: ProofView;
  /** The signed-note checkpoint. */
  checkpoint: string;
  /**
   * The blocks from the transaction's block to the checkpoint's block,
   * ascending; absent when longer than `chainBlocksMax`.
   */
  chain?: BlockView[];
}

/**
 * Options of {@link LightClient}.
 *
 * @example
 * ```ts
 * const options: LightClientOptions = { source: client, trustedKeys, quorum: 2 };
 * const light = new LightClient(options);
 * ```
 */
export interface LightClientOptions {
  /** Fetches checkpoints, proofs and receipts; needed by `verify`, optional for bundles. */
  source?: LightSource;
  /**
   * The consortium's site verifier keys (`name+hash+base64key`), from
   * configuration you trust — never from the sites being checked.
   */
  trustedKeys: readonly string[];
  /**
   * Keys the trusted sites retired, each counted for checkpoints up to the
   * last block height it signed (a trust file's `retiredKeys`, kept by
   * `followKeyRotations` from heights the sites signed with their later
   * keys), so receipts made before a rotation still verify. Default: none.
   */
  retiredKeys?: readonly RetiredVerifierKey[];
  /** How many distinct trusted keys must sign a checkpoint (1 ≤ quorum ≤ trustedKeys.length). */
  quorum: number;
  /** The log's origin line (`edgeledger.local/demo`); when set, other origins are refused. */
  origin?: string;
  /**
   * Longest hash chain fetched to prove the transaction's block (from it to
   * the checkpoint's block). Default 1000.
   */
  chainBlocksMax?: number;
  /**
   * How long `verify` waits, ms, for a checkpoint that covers a transaction
   * committed after the latest one, or for one signed by a quorum when the
   * site serves one short of it (checking again with growing pauses), before
   * answering `tx_not_committed` (or `checkpoint_quorum_not_met`). Default
   * 5000; 0 does not wait.
   */
  checkpointWaitMs?: number;
  /** Where the last trusted checkpoint is kept. Default: in memory. */
  store?: TrustStore;
  /**
   * Follow the trusted sites' key rotations (see `followKeyRotations`):
   * when a checkpoint carries a trusted site's signature by a key this
   * client does not know, the client reads the sites' rotations from
   * `source` (an `EdgeLedgerClient` is one) and replaces a trusted key only
   * through a chain of rotations signed by it, then checks the checkpoint
   * with the keys it trusts now; a replaced key whose last height the site
   * signed with its new key joins the retired keys (one followed before the
   * site signed it joins at the next look, which a line by that key on an
   * older checkpoint sets off). Sites are never added.
   * `onChange` gets the new trusted keys and retired keys (persist them to
   * keep them across restarts;
   * until it resolves the verdict waits, and if it throws, so does the
   * call that followed the rotation). At most one look every `intervalMs`
   * (default 10000). Off by default: a pinned trust file then answers
   * `checkpoint_quorum_not_met` once too many of its sites rotated, until
   * it is updated.
   */
  keyRotations?: {
    source: KeyRotationSource;
    onChange?: (
      trustedKeys: string[],
      rotated: KeyRotationUpdate["rotated"],
      retiredKeys: RetiredVerifierKey[],
    ) => void | Promise<void>;
    intervalMs?: number;
  };
}

/**
 * Where a light client reads the sites' key rotations from
 * (`GET /v1/sites`, `GET /v1/sites/{name}/keys`); an `EdgeLedgerClient` is one.
 *
 * @example
 * ```ts
 * const keyRotations: LightClientOptions["keyRotations"] = { source: client satisfies KeyRotationSource };
 * ```
 */
export interface KeyRotationSource {
  /** The current members with their verifier keys. */
  sites(): Promise<readonly { name: string; verifierKey: string }[]>;
  /** A member's key, the chain of rotations that led to it, and its retired keys. */
  siteKeys(name: string): Promise<SiteKeyHistory>;
}

/** Default least pause between two looks at the sites' key rotations, ms. */
const KEY_ROTATION_INTERVAL_MS_DEFAULT = 10_000;

/**
 * Verifies receipts against a quorum of trusted site keys.
 *
 * @example
 * ```ts
 * const light = new LightClient({
 *   source: new EdgeLedgerClient({ urls: ["http://127.0.0.1:7001"] }),
 *   trustedKeys: ["site-a+1a2b3c4d+AW...", "site-b+...", "site-c+..."],
 *   quorum: 2,
 *   origin: "edgeledger.local/demo",
 * });
 * const verdict = await light.verify(txId);
 * console.log(verdict.ok, verdict.reason, verdict.message);
 * ```
 */
export class LightClient {
  /** Distinct trusted keys that must sign a checkpoint. */
  readonly quorum: number;
  /** The required origin line, if one was configured. */
  readonly origin: string | undefined;
  #trustedKeys: string[];
  #retiredKeys: RetiredVerifierKey[];
  /**
   * Rotations followed before the site had signed its old key's last
   * height: looked at again on the next reading of the rotations, until
   * every key of the way is kept.
   */
  #unsettled: Array<{ name: string; from: string; to: string }> = [];
  readonly #source: LightSource | undefined;
  readonly #keyRotations: LightClientOptions["keyRotations"];
  /** When the sites' key rotations were last read (performance.now()), if ever. */
  #rotationsReadAt: number | undefined;
  readonly #store: TrustStore;
  readonly #chainBlocksMax: number;
  readonly #checkpointWaitMs: number;
  #lock: Promise<unknown> = Promise.resolve();

  /** Throws a `RangeError` for a malformed trusted key, an impossible quorum, or one key under two names. */
  constructor(options: LightClientOptions) {
    this.#trustedKeys = [...options.trustedKeys];
    const names = new Set<string>();
    for (const key of this.#trustedKeys) {
      try {
        names.add(parseVerifierKey(key).name);
      } catch (e) {
        throw new RangeError(
          `Cannot create light client: bad trusted key ${key}: ${(e as Error).message}`,
        );
      }
    }
    if (!Number.isInteger(options.quorum) || options.quorum < 1 || options.quorum > names.size) {
      throw new RangeError(
        `Cannot create light client: quorum must be in [1, ${names.size}] (distinct trusted names)`,
      );
    }
    this.#retiredKeys = [];
    for (const r of options.retiredKeys ?? []) {
      try {
        parseVerifierKey(r.key);
      } catch (e) {
        throw new RangeError(
          `Cannot create light client: bad retired key ${r.key}: ${(e as Error).message}`,
        );
      }
      if (!Number.isSafeInteger(r.untilHeight) || r.untilHeight < 0) {
        throw new RangeError(
          `Cannot create light client: retired key ${r.key} needs an untilHeight >= 0`,
        );
      }
      this.#retiredKeys.push({ key: r.key, untilHeight: r.untilHeight });
    }
    // One public key under two names would count twice toward the quorum.
    const owners = new Map<string, string>();
    for (const key of [...this.#trustedKeys, ...this.#retiredKeys.map((r) => r.key)]) {
      const { name, publicKey } = parseVerifierKey(key);
      const owner = owners.get(hexEncode(publicKey));
      if (owner !== undefined && owner !== name) {
        throw new RangeError(
          `Cannot create light client: key ${key} is also site ${owner}'s: one key, two names`,
        );
      }
      owners.set(hexEncode(publicKey), name);
    }
    this.quorum = options.quorum;
    this.origin = options.origin;
    this.#source = options.source;
    this.#store = options.store ?? new MemoryTrustStore();
    this.#chainBlocksMax = options.chainBlocksMax ?? CHAIN_BLOCKS_MAX_DEFAULT;
    this.#checkpointWaitMs = checkpointWaitOption(options.checkpointWaitMs, "create light client");
    const interval = options.keyRotations?.intervalMs;
    if (interval !== undefined && !(Number.isInteger(interval) && interval >= 0)) {
      throw new RangeError(
        "Cannot create light client: keyRotations.intervalMs must be a whole number >= 0",
      );
    }
    this.#keyRotations = options.keyRotations;
  }

  /**
   * The verifier keys this client trusts now: the configured ones, with
   * each key rotation it followed (see `keyRotations`) applied.
   *
   * @example
   * ```ts
   * await Deno.writeTextFile("trusted-keys.json", JSON.stringify(light.trustedKeys()));
   * ```
   */
  trustedKeys(): string[] {
    return [...this.#trustedKeys];
  }

  /**
   * The retired keys this client counts for the checkpoints they signed:
   * the configured ones, and those kept from rotations it followed.
   */
  retiredKeys(): RetiredVerifierKey[] {
    return this.#retiredKeys.map((r) => ({ ...r }));
  }

  /**
   * The last checkpoint this client trusts, if any.
   *
   * @example
   * ```ts
   * const trusted = await light.trusted(); // { size, rootHash, height, ... } or undefined
   * ```
   */
  trusted(): Promise<TrustedCheckpoint | undefined> {
    return this.#store.load();
  }

  /**
   * Fetches the latest checkpoint, verifies it (quorum, origin, consistency
   * with the trusted one) and, when it is newer, trusts it. The verdict's
   * `checkpoint` is the verified checkpoint.
   *
   * @example
   * ```ts
   * const { ok, reason, checkpoint } = await light.updateCheckpoint();
   * ```
   */
  async updateCheckpoint(): Promise<Verdict> {
    const source = this.#requireSource("updateCheckpoint");
    let note: string;
    try {
      note = await latestCheckpoint(source);
    } catch (e) {
      return unavailable(e, "the latest checkpoint");
    }
    const accepted = await this.#locked(() => this.#acceptCheckpoint(note, source, false));
    if ("reason" in accepted) return accepted;
    return {
      ok: true,
      reason: "ok",
      message: `Checkpoint of ${accepted.size} transactions at height ${accepted.height} is ` +
        `signed by ${describeSigners(accepted.signers, this.quorum)}` +
        `${accepted.previous}.`,
      checkpoint: stripPrevious(accepted),
      checkpointConsistency: accepted.consistency,
    };
  }

  /**
   * Proves that transaction `txId` is in the ledger: fetches the latest
   * checkpoint, the transaction and its inclusion proof at the checkpoint's
   * size, and checks them all (see the module documentation). Never throws
   * for what sites send; a site that cannot be reached gives `unavailable`.
   *
   * @example
   * ```ts
   * const v = await light.verify(txId);
   * if (!v.ok) console.error(v.reason, v.message);
   * ```
   */
  async verify(txId: string): Promise<Verdict> {
    const source = this.#requireSource("verify");
    return await untilSettled(this.#checkpointWaitMs, async () => {
      let note: string;
      try {
        note = await latestCheckpoint(source);
      } catch (e) {
        return unavailable(e, "the latest checkpoint", txId);
      }
      // The checkpoint first: a lie there is the one to report, and the proof
      // is then requested at the size this client has verified.
      const accepted = await this.#locked(() => this.#acceptCheckpoint(note, source, false));
      if ("reason" in accepted) {
        // Sites co-sign a block moments after applying it: a site that has
        // not yet received its peers' signatures serves a checkpoint short of
        // a quorum (its own, at a cluster's start). A later one is checked
        // afresh; only once the wait is over is this failure the answer.
        const verdict = { ...accepted, txId };
        return accepted.reason === "checkpoint_quorum_not_met" ? new NotYet(verdict) : verdict;
      }
      const bundle = await fetchProof(
        source,
        txId,
        note,
        accepted.size,
        accepted.height,
        this.#chainBlocksMax,
      );
      if (bundle instanceof NotYet || "reason" in bundle) return bundle;
      return this.#checkReceipt(bundle, accepted);
    });
  }

  /**
   * Fetches what proves `txId` (checkpoint, envelope, receipt, proof at the
   * checkpoint's size) without verifying it; store it and verify it later
   * with {@link LightClient.verifyBundle}, e.g. offline. A failed fetch is a
   * verdict (`unavailable`, `tx_not_found`, `tx_not_committed`, ...). The
   * same as {@link fetchReceiptBundle}, which needs no light client.
   *
   * @example
   * ```ts
   * const bundle = await light.fetchBundle(txId);
   * if (!("reason" in bundle)) await Deno.writeTextFile("receipt.json", JSON.stringify(bundle));
   * ```
   */
  async fetchBundle(txId: string): Promise<ReceiptBundle | Verdict> {
    return await fetchReceiptBundle(this.#requireSource("fetchBundle"), txId, {
      chainBlocksMax: this.#chainBlocksMax,
      checkpointWaitMs: this.#checkpointWaitMs,
    });
  }

  /**
   * Verifies a bundle from {@link LightClient.fetchBundle} or
   * {@link fetchReceiptBundle}. Its checkpoint may be older than the trusted
   * one (a receipt kept for later), in which case it must be provably a
   * prefix of the trusted tree: that needs a `source` for the consistency
   * proof; without one it is refused as
   * `consistency_proof_invalid`.
   *
   * @example
   * ```ts
   * const verdict = await light.verifyBundle(JSON.parse(await Deno.readTextFile("receipt.json")));
   * ```
   */
  verifyBundle(bundle: ReceiptBundle): Promise<Verdict> {
    return this.#verifyBundle(bundle, true);
  }

  // ---- internals --------------------------------------------------------

  async #verifyBundle(bundle: ReceiptBundle, allowOlder: boolean): Promise<Verdict> {
    const accepted = await this.#locked(() =>
      this.#acceptCheckpoint(bundle.checkpoint, this.#source, allowOlder)
    );
    if ("reason" in accepted) return { ...accepted, txId: bundle.txId };
    return this.#checkReceipt(bundle, accepted);
  }

  /** Checks the receipt, leaf and inclusion proof of `bundle` against an accepted checkpoint. */
  async #checkReceipt(
    bundle: ReceiptBundle,
    accepted: AcceptedCheckpoint,
  ): Promise<Verdict> {
    const { txId } = bundle;
    const cp = stripPrevious(accepted);
    const receipt = bundle.receipt;
    if (receipt?.status !== "committed") {
      return fail("tx_not_committed", `the receipt says ${receipt?.status}`, txId);
    }
    if (typeof receipt.txId === "string" && receipt.txId !== txId) {
      // Nothing is missing: the receipt is another transaction's (a swapped
      // id in the bundle, or a site answering for another transaction).
      return fail(
        "receipt_malformed",
        `the receipt is for another transaction, ${receipt.txId}`,
        txId,
      );
    }
    if (
      !Number.isSafeInteger(receipt.logIndex) || !Number.isSafeInteger(receipt.height) ||
      receipt.result === undefined || receipt.txId !== txId
    ) {
      return fail(
        "receipt_malformed",
        "the committed receipt lacks its txId, logIndex, height or result",
        txId,
      );
    }
    const proof = bundle.proof;
    if (proof?.treeSize !== cp.size) {
      return fail(
        "proof_tree_size_mismatch",
        `the proof is for a tree of ${proof?.treeSize} transactions, the checkpoint has ${cp.size}`,
        txId,
      );
    }
    if (proof.logIndex !== receipt.logIndex) {
      return fail(
        "receipt_mismatch",
        `the receipt says log index ${receipt.logIndex}, the proof ${proof.logIndex}`,
        txId,
      );
    }
    if (receipt.height! > cp.height) {
      return fail(
        "receipt_mismatch",
        `the receipt's block ${receipt.height} is after the checkpoint's block ${cp.height}, ` +
          `yet its log index ${proof.logIndex} is inside the checkpoint`,
        txId,
      );
    }
    // The leaf: canonical JSON of exactly {tx, result}.
    let leafBytes: Uint8Array;
    let leaf: { tx: Envelope; result: Record<string, unknown> };
    try {
      leafBytes = base64urlDecode(proof.leaf);
      const text = utf8Decode(leafBytes);
      const parsed = JSON.parse(text);
      if (
        typeof parsed !== "object" || parsed === null || Array.isArray(parsed) ||
        Object.keys(parsed).sort().join(",") !== "result,tx" ||
        typeof parsed.tx !== "object" || parsed.tx === null ||
        typeof parsed.result !== "object" || parsed.result === null
      ) {
        return fail(
          "leaf_malformed",
          'the leaf is not an object of exactly "tx" and "result"',
          txId,
        );
      }
      if (canonicalJson(parsed) !== text) {
        return fail("leaf_malformed", "the leaf is not in canonical (RFC 8785) form", txId);
      }
      leaf = parsed;
    } catch (e) {
      return fail("leaf_malformed", `the leaf does not decode: ${errorText(e)}`, txId);
    }
    let leafTxId: string;
    try {
      leafTxId = transactionId(leaf.tx);
    } catch (e) {
      return fail("leaf_tx_mismatch", `the leaf's envelope has no id: ${errorText(e)}`, txId);
    }
    if (leafTxId !== txId) {
      return fail("leaf_tx_mismatch", `the proven leaf holds transaction ${leafTxId}`, txId);
    }
    if (!sameJson(leaf.tx, bundle.tx)) {
      return fail("receipt_mismatch", "the served envelope differs from the proven leaf's", txId);
    }
    if (!sameJson(leaf.result, receipt.result)) {
      return fail("receipt_mismatch", "the receipt's result differs from the proven leaf's", txId);
    }
    let path: Uint8Array[];
    try {
      path = proof.proof.map((h) => hexDecode(h));
    } catch (e) {
      return fail("inclusion_proof_invalid", `a proof node is not hex: ${errorText(e)}`, txId);
    }
    if (
      !verifyInclusion(leafHash(leafBytes), proof.logIndex, cp.size, path, hexDecode(cp.rootHash))
    ) {
      return fail(
        "inclusion_proof_invalid",
        `the inclusion proof of log index ${proof.logIndex} does not lead to the checkpoint's ` +
          `root in a tree of ${cp.size}`,
        txId,
      );
    }
    const signatures = await verifyEnvelopeSignatures(leaf.tx);
    if (!signatures.ok) {
      return fail("tx_signature_invalid", signatures.reason, txId);
    }
    let blockVerified = false;
    if (bundle.chain !== undefined) {
      const why = checkChain(bundle.chain, txId, proof.logIndex, receipt.height!, cp);
      if (why !== null) return fail("block_mismatch", why, txId);
      blockVerified = true;
    }
    const status = leaf.result.status === "applied"
      ? "applied"
      : `rejected by its contract (${String(leaf.result.code ?? "no code")})`;
    return {
      ok: true,
      reason: "ok",
      message: `Transaction ${txId} is in ledger ${cp.origin} at log index ${proof.logIndex} ` +
        `(block ${receipt.height}), ${status}. Proven against the checkpoint of ` +
        `${cp.size} transactions at height ${cp.height}, signed by ` +
        `${describeSigners(cp.signers, this.quorum)}${accepted.previous}.` +
        (blockVerified
          ? ""
          : ` Its block height is as the site reported it (not proven: more than ` +
            `${this.#chainBlocksMax} blocks before the checkpoint).`),
      txId,
      logIndex: proof.logIndex,
      height: receipt.height,
      result: leaf.result,
      checkpoint: cp,
      checkpointConsistency: accepted.consistency,
      blockVerified,
    };
  }

  /**
   * Whether rotations are followed at all and `note` carries a line of a
   * trusted site by a key this client does not trust for it (a rotated
   * key, one retired already, or a forged one: following tells which).
   */
  #signedByUnknownKey(note: string): boolean {
    if (this.#keyRotations === undefined) return false;
    let lines;
    try {
      lines = parseNote(note).signatures;
    } catch {
      return false;
    }
    const known = [...this.#trustedKeys, ...this.#retiredKeys.map((r) => r.key)]
      .map((k) => parseVerifierKey(k));
    return lines.some((l) =>
      known.some((k) => k.name === l.name) &&
      !known.some((k) => k.name === l.name && hexEncode(k.keyHash) === hexEncode(l.keyHash))
    );
  }

  /**
   * Follows the trusted sites' key rotations (see `keyRotations`), at most
   * once per interval: "" when a trusted key changed, else why not, as a
   * clause for the verdict's message.
   */
  async #followKeyRotations(): Promise<string> {
    const options = this.#keyRotations!;
    const now = performance.now();
    const interval = options.intervalMs ?? KEY_ROTATION_INTERVAL_MS_DEFAULT;
    if (this.#rotationsReadAt !== undefined && now - this.#rotationsReadAt < interval) {
      return "; the sites' key rotations were read moments ago";
    }
    this.#rotationsReadAt = now;
    let update;
    try {
      const sites = await options.source.sites();
      update = await followKeyRotationsOf(
        this.#trustedKeys,
        sites,
        (name) => options.source.siteKeys(name),
      );
    } catch (e) {
      return `; cannot read the sites' key rotations: ${errorText(e)}`;
    }
    // Rotations followed earlier, before their old keys' heights were signed.
    let kept = 0;
    for (const u of [...this.#unsettled]) {
      let found;
      try {
        found = retirementsOnTheWay(u.name, u.from, u.to, await options.source.siteKeys(u.name));
      } catch {
        continue;
      }
      kept += this.#keepRetired(found.retired);
      if (found.unsigned === 0) this.#unsettled = this.#unsettled.filter((x) => x !== u);
    }
    for (const r of update.rotated) {
      if (update.pending.includes(r.name)) {
        this.#unsettled.push({ name: r.name, from: r.from, to: r.to });
      }
    }
    if (update.rotated.length === 0 && kept === 0) {
      return update.unreachable.length > 0
        ? `; no chain of rotations signed by the trusted key leads to the key of ` +
          update.unreachable.join(", ")
        : "; no trusted site rotated its key";
    }
    this.#trustedKeys = update.trustedKeys;
    this.#keepRetired(update.rotated.flatMap((x) => x.retired));
    await options.onChange?.([...update.trustedKeys], update.rotated, this.retiredKeys());
    return "";
  }

  /** Adds the retired keys not held yet; how many were added. */
  #keepRetired(keys: readonly RetiredVerifierKey[]): number {
    let added = 0;
    for (const r of keys) {
      if (this.#retiredKeys.some((k) => k.key === r.key)) continue;
      this.#retiredKeys.push({ key: r.key, untilHeight: r.untilHeight });
      added++;
    }
    return added;
  }

  /**
   * Verifies `note` as a checkpoint and, when it is newer than the trusted
   * one, trusts it. Requires the caller to hold the lock.
   */
  async #acceptCheckpoint(
    note: string,
    source: LightSource | undefined,
    allowOlder: boolean,
  ): Promise<AcceptedCheckpoint | Verdict> {
    let body;
    try {
      body = parseCheckpoint(parseNote(note).text);
    } catch (e) {
      return fail("checkpoint_malformed", `the checkpoint does not parse: ${errorText(e)}`);
    }
    if (this.origin !== undefined && body.origin !== this.origin) {
      return fail(
        "checkpoint_origin_mismatch",
        `the checkpoint is for log "${body.origin}", not "${this.origin}"`,
      );
    }
    // A trusted site that signed with a key this client does not know may
    // have rotated: follow it now, whether or not the others reach the
    // quorum, so a retired key stops being trusted as soon as it is seen.
    let followed = "";
    if (this.#signedByUnknownKey(note)) followed = await this.#followKeyRotations();
    const signers = verifyNote(
      note,
      verifierKeysAt(this.#trustedKeys, this.#retiredKeys, body.height),
    );
    if (signers.length < this.quorum) {
      return fail(
        "checkpoint_quorum_not_met",
        `the checkpoint is validly signed by ${signers.length} trusted site(s)` +
          `${signers.length ? ` (${signers.join(", ")})` : ""}, fewer than the quorum of ` +
          `${this.quorum}${followed}`,
      );
    }
    const cp: VerifiedCheckpoint = {
      origin: body.origin,
      size: body.size,
      rootHash: hexEncode(body.rootHash),
      height: body.height,
      blockHash: body.blockHash,
      note,
      signers,
    };
    const trusted = await this.#store.load();
    if (trusted === undefined) {
      await this.#store.save(stripSigners(cp));
      return {
        ...cp,
        consistency: "unchecked",
        previous: "; it is the first checkpoint this client trusts",
      };
    }
    if (trusted.origin !== cp.origin) {
      return fail(
        "checkpoint_origin_mismatch",
        `the checkpoint is for log "${cp.origin}", the trusted one for "${trusted.origin}"`,
      );
    }
    const older = cp.size < trusted.size ||
      (cp.size === trusted.size && cp.height < trusted.height);
    if (older && !allowOlder) {
      return fail(
        "checkpoint_rollback",
        `the site served a checkpoint of size ${cp.size} at height ${cp.height}, older than the ` +
          `trusted one of size ${trusted.size} at height ${trusted.height}: stale or rolled back`,
      );
    }
    // The log only grows by adding blocks: a bigger tree at a height not
    // above the trusted one (or a smaller tree at a height not below it)
    // cannot be the same history.
    if (
      (cp.size > trusted.size && cp.height <= trusted.height) ||
      (cp.size < trusted.size && cp.height >= trusted.height)
    ) {
      return fail(
        "checkpoint_fork",
        `the checkpoint has ${cp.size} transactions at height ${cp.height}, the trusted one ` +
          `${trusted.size} at height ${trusted.height}: the log and the chain disagree`,
      );
    }
    if (cp.height === trusted.height && cp.blockHash !== trusted.blockHash) {
      return fail(
        "checkpoint_fork",
        `the checkpoint names block ${cp.blockHash} at height ${cp.height}, the trusted one ` +
          `${trusted.blockHash}: a forked history`,
      );
    }
    if (cp.size === trusted.size) {
      if (cp.rootHash !== trusted.rootHash) {
        return fail(
          "checkpoint_fork",
          `the checkpoint has root ${cp.rootHash} for size ${cp.size}, the trusted one ` +
            `${trusted.rootHash}: a forked history`,
        );
      }
      if (cp.height > trusted.height) await this.#store.save(stripSigners(cp));
      return {
        ...cp,
        consistency: "same_tree",
        previous: "; it matches the trusted checkpoint's tree",
      };
    }
    // Different sizes: the smaller tree must be a prefix of the larger.
    const [small, large] = cp.size < trusted.size ? [cp, trusted] : [trusted, cp];
    let proof: Uint8Array[] = [];
    if (small.size > 0) {
      if (source === undefined) {
        return fail(
          "consistency_proof_invalid",
          `no source to fetch a consistency proof from size ${small.size} to ${large.size}`,
        );
      }
      try {
        proof = (await withLeaderRetry((consistency) =>
          source.consistency(small.size, large.size, { consistency })
        )).proof.map((h) =>
          hexDecode(h)
        );
      } catch (e) {
        if (e instanceof EdgeLedgerError && !(e instanceof RejectedError)) {
          return unavailable(e, "a consistency proof");
        }
        if (isReplicaOnlyAnswer(e)) {
          // A replica behind lacks the larger tree, and no leader answered in
          // its place: no proof was had, which says nothing of a fork.
          return fail(
            "unavailable",
            `cannot fetch a consistency proof from size ${small.size} to ${large.size}: ` +
              `${errorText(e)}; no leader answered in its place`,
          );
        }
        return fail(
          "consistency_proof_invalid",
          `no valid consistency proof from size ${small.size} to ${large.size}: ${errorText(e)}`,
        );
      }
    }
    if (
      !verifyConsistency(
        small.size,
        large.size,
        proof,
        hexDecode(small.rootHash),
        hexDecode(large.rootHash),
      )
    ) {
      return fail(
        "consistency_proof_invalid",
        `the tree of size ${large.size} is not provably an extension of the tree of size ` +
          `${small.size}: a forked or rewritten history`,
      );
    }
    if (cp.size > trusted.size) {
      await this.#store.save(stripSigners(cp));
      return {
        ...cp,
        consistency: "extends",
        previous: `; it extends the previously trusted checkpoint of size ${trusted.size}`,
      };
    }
    return {
      ...cp,
      consistency: "prefix",
      previous: `; it is a prefix of the trusted checkpoint of size ${trusted.size}`,
    };
  }

  #requireSource(method: string): LightSource {
    if (this.#source === undefined) {
      throw new TypeError(`Cannot call ${method}: the light client was created without a source`);
    }
    return this.#source;
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
  }
}

/**
 * One-call verification: proves that transaction `txId` is in the ledger
 * served at `urls`, trusting only `trustedKeys` (a `quorum` of them must sign
 * the checkpoint), and returns a verdict a person can read. Pass a `store`
 * to keep the last trusted checkpoint between calls; without one, the
 * consistency check starts from this call's checkpoint.
 *
 * @example
 * ```ts
 * const verdict = await verifyTransaction(txId, {
 *   urls: ["http://127.0.0.1:7001"],
 *   trustedKeys: ["site-a+2a850ea9+AfV8..."],
 *   quorum: 1,
 * });
 * console.log(verdict.message);
 * ```
 */
export async function verifyTransaction(
  txId: string,
  options: Omit<LightClientOptions, "source"> & {
    urls: ClientOptions["urls"];
    client?: Omit<ClientOptions, "urls">;
  },
): Promise<Verdict> {
  const source = new EdgeLedgerClient({ ...options.client, urls: options.urls });
  return await new LightClient({ ...options, source }).verify(txId);
}

/**
 * Fetches what proves transaction `txId` — the latest checkpoint, the
 * envelope and receipt, the inclusion proof at the checkpoint's tree size
 * and the blocks from the transaction's block to the checkpoint's — without
 * verifying any of it and without any trusted keys: a {@link ReceiptBundle}
 * to keep and verify later, offline, with {@link LightClient.verifyBundle}.
 * A fetch that fails is a verdict: `unavailable`, `response_malformed`,
 * `checkpoint_malformed`, `tx_not_found`, or `tx_not_committed` (pending, or
 * committed after the latest co-signed checkpoint and still not covered
 * after `checkpointWaitMs`, default 5000: the checkpoint is fetched again
 * with growing pauses until one covers it). `chainBlocksMax` (default 1000)
 * bounds the blocks fetched; a longer chain is left out of the bundle.
 *
 * @example
 * ```ts
 * const bundle = await fetchReceiptBundle(new EdgeLedgerClient({ urls }), txId);
 * if (!("reason" in bundle)) await Deno.writeTextFile("receipt.json", JSON.stringify(bundle));
 * ```
 */
export async function fetchReceiptBundle(
  source: LightSource,
  txId: string,
  options: { chainBlocksMax?: number; checkpointWaitMs?: number } = {},
): Promise<ReceiptBundle | Verdict> {
  const chainBlocksMax = options.chainBlocksMax ?? CHAIN_BLOCKS_MAX_DEFAULT;
  const waitMs = checkpointWaitOption(options.checkpointWaitMs, "fetch the receipt bundle");
  return await untilSettled(waitMs, async () => {
    let checkpoint: string;
    try {
      checkpoint = await latestCheckpoint(source);
    } catch (e) {
      return unavailable(e, "the latest checkpoint", txId);
    }
    let size: number;
    let height: number;
    try {
      ({ size, height } = parseCheckpoint(parseNote(checkpoint).text));
    } catch (e) {
      return fail("checkpoint_malformed", `the checkpoint does not parse: ${errorText(e)}`, txId);
    }
    return await fetchProof(source, txId, checkpoint, size, height, chainBlocksMax);
  });
}

/** First pause before asking again for a checkpoint that covers a transaction, ms (then doubled). */
const CHECKPOINT_PAUSE_MS_FIRST = 25;

/** `checkpointWaitMs` as given (a whole number of ms ≥ 0), or its default. */
function checkpointWaitOption(value: number | undefined, action: string): number {
  if (value === undefined) return CHECKPOINT_WAIT_MS_DEFAULT;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot ${action}: checkpointWaitMs must be a whole number >= 0`);
  }
  return value;
}

/**
 * Runs `attempt` until it answers something other than {@link NotYet},
 * pausing between attempts (25 ms, then doubled) for at most `waitMs` in
 * all; a `NotYet` after that gives its verdict.
 */
async function untilSettled<T>(
  waitMs: number,
  attempt: () => Promise<T | NotYet>,
): Promise<T | Verdict> {
  // Monotonic: a device's clock set meanwhile neither ends nor stretches the wait.
  const until = performance.now() + waitMs;
  for (let pauseMs = CHECKPOINT_PAUSE_MS_FIRST;; pauseMs *= 2) {
    const answer = await attempt();
    if (!(answer instanceof NotYet)) return answer;
    const left = until - performance.now();
    if (left <= 0) return answer.verdict;
    await new Promise((r) => setTimeout(r, Math.min(pauseMs, left)));
  }
}

/**
 * An answer that may change in a moment, as sites exchange co-signatures: a
 * transaction committed after the latest co-signed checkpoint, or a
 * checkpoint short of a quorum. Worth asking again shortly; `verdict` is
 * the answer once the wait is over.
 */
class NotYet {
  constructor(readonly verdict: Verdict) {}
}

/**
 * The envelope, receipt, inclusion proof at `size` and blocks up to `height`
 * of `txId`, against `checkpoint` (of tree size `size` at block `height`).
 */
async function fetchProof(
  source: LightSource,
  txId: string,
  checkpoint: string,
  size: number,
  height: number,
  chainBlocksMax: number,
): Promise<ReceiptBundle | Verdict | NotYet> {
  let view;
  try {
    view = await withLeaderRetry((consistency) => source.getTx(txId, { consistency }));
  } catch (e) {
    if (e instanceof NotFoundError) {
      return fail("tx_not_found", "the site does not know this transaction", txId);
    }
    return unavailable(e, "the transaction", txId);
  }
  if (view.receipt.status !== "committed") {
    return fail(
      "tx_not_committed",
      `the transaction is ${view.receipt.status}, not yet in a block`,
      txId,
    );
  }
  const logIndex = view.receipt.logIndex;
  if (size === 0 || (logIndex !== undefined && logIndex >= size)) {
    return new NotYet(fail(
      "tx_not_committed",
      `the transaction (log index ${
        logIndex ?? "unknown"
      }) is committed but not yet in the latest co-signed ` +
        `checkpoint (tree size ${size}): ask again shortly`,
      txId,
    ));
  }
  let proof: ProofView;
  try {
    proof = await withLeaderRetry((consistency) =>
      source.proof(txId, { treeSize: size, consistency })
    );
  } catch (e) {
    // The site's answer for a size that does not include the transaction.
    if (
      e instanceof RejectedError && (e.slug === "invalid_range" || e.slug === "proof_unavailable")
    ) {
      return new NotYet(fail(
        "tx_not_committed",
        `the checkpoint (size ${size}) does not cover the transaction yet: ${e.message}`,
        txId,
      ));
    }
    return unavailable(e, "the inclusion proof", txId);
  }
  const bundle: ReceiptBundle = { txId, tx: view.tx, receipt: view.receipt, proof, checkpoint };
  const from = view.receipt.height;
  if (from !== undefined && from <= height && height - from + 1 <= chainBlocksMax) {
    let chain: BlockView[];
    try {
      chain = await fetchChain(source, from, height, "stale", chainBlocksMax);
      // A replica behind the checkpoint ends before its block; the leader
      // has every block the checkpoint names. What the leader serves is
      // checked as is: a chain still short is a broken one.
      if (chain[chain.length - 1]?.header?.height !== height) {
        chain = await fetchChain(source, from, height, "leader", chainBlocksMax);
      }
    } catch (e) {
      return unavailable(e, `blocks ${from} to ${height}`, txId);
    }
    bundle.chain = chain;
  }
  return bundle;
}

/** Blocks `[from, to]` as `source` serves them, at most `chainBlocksMax + 1`. */
async function fetchChain(
  source: LightSource,
  from: number,
  to: number,
  consistency: "stale" | "leader",
  chainBlocksMax: number,
): Promise<BlockView[]> {
  const chain: BlockView[] = [];
  for await (const block of source.blocks({ from, to: to + 1, consistency })) {
    chain.push(block);
    if (chain.length > chainBlocksMax) break;
  }
  return chain;
}

/**
 * The latest checkpoint: from the leader (the newest one), or from any
 * replica when no leader answers. A replica may lag; what it serves is still
 * checked like any other answer.
 */
async function latestCheckpoint(source: LightSource): Promise<string> {
  try {
    return await source.checkpoint({ consistency: "leader" });
  } catch (e) {
    if (e instanceof RejectedError) throw e;
    return await source.checkpoint({ consistency: "stale" });
  }
}

/**
 * Reads from any replica; a replica that lacks the data yet (404, or 4xx for
 * a tree size it does not have) is asked again at the leader, which has
 * everything the checkpoint names. The leader's answer is then the one
 * thrown, unless no leader answered about the data at all: a source of one
 * follower's URL gets 503 `not_leader` (the light client does not follow
 * the `leaderUrl` it names: a {@link LightSource} is not always a client it
 * could point elsewhere, and a URL a site names is not one this client was
 * given), and a cluster in an election answers 503 `unavailable`. Such a
 * refusal says nothing about the transaction or the tree, so the replica's
 * own answer is thrown instead, marked (see {@link isReplicaOnlyAnswer}) for
 * a caller that must tell it from the leader's.
 */
async function withLeaderRetry<T>(
  read: (consistency: "stale" | "leader") => Promise<T>,
): Promise<T> {
  try {
    return await read("stale");
  } catch (e) {
    if (!(e instanceof RejectedError) || e.status === 400) throw e;
    try {
      return await read("leader");
    } catch (again) {
      if (answeredNothing(again)) {
        replicaOnlyAnswers.add(e);
        throw e;
      }
      throw again;
    }
  }
}

/**
 * The replicas' refusals {@link withLeaderRetry} threw because no leader
 * answered in their place: a replica behind lacks what the leader may have,
 * so such a refusal is no proof that the data does not exist.
 */
const replicaOnlyAnswers = new WeakSet<Error>();

/** Whether `e` is a replica's refusal that no leader's answer confirmed (see {@link withLeaderRetry}). */
function isReplicaOnlyAnswer(e: unknown): boolean {
  return e instanceof Error && replicaOnlyAnswers.has(e);
}

/**
 * Whether `e` is a failure to answer rather than an answer about the data:
 * no answer (a network error), a 5xx (`not_leader`, `unavailable`) or a
 * 429. A 2xx the client could not use (a malformed answer) is an answer.
 */
function answeredNothing(e: unknown): boolean {
  return e instanceof NetworkError || e instanceof RateLimitedError ||
    (e instanceof ServerError && e.status >= 500);
}

/**
 * Null when `chain` proves that block `height` holds transaction `txId` at
 * `logIndex`: the blocks run from `height` to the checkpoint's height, each
 * hashes to its stated hash, each names its predecessor's hash as `prev`,
 * the last is the checkpoint's block (hash, log size and root), and the
 * transaction lies in the first block's log range at its position.
 * Otherwise, why not.
 */
function checkChain(
  chain: BlockView[],
  txId: string,
  logIndex: number,
  height: number,
  cp: VerifiedCheckpoint,
): string | null {
  if (!Array.isArray(chain) || chain.length !== cp.height - height + 1) {
    return `the blocks from ${height} to ${cp.height} are incomplete`;
  }
  for (let i = 0; i < chain.length; i++) {
    const block = chain[i];
    if (block?.header?.height !== height + i) {
      return `block ${height + i} is missing from the chain`;
    }
    let hash: string;
    try {
      hash = blockHash(block.header);
    } catch (e) {
      return `block ${height + i} has a malformed header: ${errorText(e)}`;
    }
    if (hash !== block.hash) return `block ${height + i} does not hash to ${block.hash}`;
    if (i > 0 && block.header.prev !== chain[i - 1].hash) {
      return `block ${height + i} does not follow block ${height + i - 1}`;
    }
  }
  const last = chain[chain.length - 1];
  if (
    last.hash !== cp.blockHash || last.header.logSize !== cp.size ||
    last.header.logRoot !== cp.rootHash
  ) {
    return `the chain does not end at the checkpoint's block ${cp.blockHash}`;
  }
  const first = chain[0].header;
  const start = first.logSize - first.txCount;
  const ids = chain[0].txIds;
  if (
    logIndex < start || logIndex >= first.logSize || !Array.isArray(ids) ||
    ids.length !== first.txCount || ids[logIndex - start] !== txId
  ) {
    return `block ${height} does not hold the transaction at log index ${logIndex}`;
  }
  return null;
}

function fail(reason: VerifyReason, why: string, txId?: string): Verdict {
  const subject = txId === undefined ? "the checkpoint" : `transaction ${txId}`;
  return { ok: false, reason, message: `Cannot verify ${subject}: ${why}.`, detail: why, txId };
}

function unavailable(e: unknown, what: string, txId?: string): Verdict {
  if (!(e instanceof EdgeLedgerError) && !(e instanceof TypeError)) {
    // Not an operating failure of the network: a bug; let it surface.
    throw e;
  }
  if (e instanceof ServerError && e.status >= 200 && e.status < 300) {
    return fail(
      "response_malformed",
      `the site's answer for ${what} is malformed: ${e.message}`,
      txId,
    );
  }
  return fail("unavailable", `cannot fetch ${what}: ${errorText(e)}`, txId);
}

function describeSigners(signers: string[], quorum: number): string {
  return `${signers.length} trusted site(s) (${signers.join(", ")}; quorum ${quorum})`;
}

function stripSigners(cp: VerifiedCheckpoint): TrustedCheckpoint {
  const { signers: _signers, ...rest } = cp;
  return rest;
}

/**
 * A checkpoint that passed verification, with how it compares with the one
 * trusted before (`consistency`) and that as a clause of a verdict's message.
 */
type AcceptedCheckpoint = VerifiedCheckpoint & {
  consistency: CheckpointConsistency;
  previous: string;
};

function stripPrevious(cp: AcceptedCheckpoint): VerifiedCheckpoint {
  const { consistency: _consistency, previous: _previous, ...rest } = cp;
  return rest;
}

function sameJson(a: unknown, b: unknown): boolean {
  try {
    return canonicalJson(a) === canonicalJson(b);
  } catch {
    return false;
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
