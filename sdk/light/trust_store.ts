/**
 * Where a light client keeps the last checkpoint it trusted, so that every
 * later checkpoint must extend it (DESIGN §2, "Checkpoints").
 *
 * ## Implementing a store (mobile apps)
 *
 * Two methods: `load()` returns the last saved checkpoint or `undefined`;
 * `save(cp)` replaces it, durable before it resolves. The value is plain
 * JSON. A light client only ever saves a checkpoint that extends the one it
 * loaded, so a store that loses a write merely re-verifies more later; a
 * store that returns an older value than it was given weakens the fork check
 * to that older point — do not share one between ledgers.
 *
 * @module
 */

/**
 * A checkpoint the light client verified and trusts; JSON-friendly.
 *
 * @example
 * ```ts
 * const trusted: TrustedCheckpoint | undefined = await light.trusted();
 * ```
 */
export interface TrustedCheckpoint {
  /** The ledger's origin line. */
  origin: string;
  /** Tree size. */
  size: number;
  /** Root hash, lowercase hex. */
  rootHash: string;
  /** Block height of the checkpoint. */
  height: number;
  /** Block hash, lowercase hex. */
  blockHash: string;
  /** The signed note as served, for audit. */
  note: string;
}

/**
 * The storage of a light client's trusted checkpoint.
 *
 * @example
 * ```ts
 * const light = new LightClient({ client, trustedKeys, quorum: 2, store: new MemoryTrustStore() });
 * ```
 */
export interface TrustStore {
  /** The last trusted checkpoint, or undefined before the first. */
  load(): Promise<TrustedCheckpoint | undefined>;
  /** Replaces the trusted checkpoint; durable before it resolves. */
  save(checkpoint: TrustedCheckpoint): Promise<void>;
}

/**
 * A trust store in memory (the default): trust restarts from nothing with
 * the process. Use `FileTrustStore` (Deno/Node) or an app store to keep it.
 *
 * @example
 * ```ts
 * const store = new MemoryTrustStore();
 * await store.load(); // undefined
 * ```
 */
export class MemoryTrustStore implements TrustStore {
  #value: TrustedCheckpoint | undefined;

  /** Starts empty, or with `initial` trusted. */
  constructor(initial?: TrustedCheckpoint) {
    this.#value = initial === undefined ? undefined : { ...initial };
  }

  load(): Promise<TrustedCheckpoint | undefined> {
    return Promise.resolve(this.#value === undefined ? undefined : { ...this.#value });
  }

  save(checkpoint: TrustedCheckpoint): Promise<void> {
    this.#value = { ...checkpoint };
    return Promise.resolve();
  }
}
