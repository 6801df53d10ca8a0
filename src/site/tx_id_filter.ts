/**
 * A Bloom filter over committed transaction ids, so admission and planning
 * ask the database "is this id committed?" only when the answer may be yes.
 * A miss is certain (the id was never added); a hit may be false (then the
 * database decides). Ids are hex SHA-256, already uniformly random, so the
 * bit positions are slices of the id itself.
 *
 * The ledger grows forever, so the filter grows with it, as a scalable Bloom
 * filter (Almeida et al., 2007): a layer of `2^b` bits holds about
 * `2^b · ln 2 / 7` ids at under 1 % false positives; when it is that full a
 * layer twice its size is added, and an id may be present when any layer
 * says so. Layers stop being added at `bytesMax`; past that the newest layer
 * fills on and its false positives rise (each costs one database read, never
 * a wrong answer).
 *
 * A site fills the filter from its database at start, in the background; until
 * {@link TxIdFilter.markLoaded} every id may be present.
 *
 * @module
 */

/** Bit positions per id and layer. */
const hashesPerId = 7;
/** An id's 32-bit slices (8 hex digits each). */
const slicesPerId = 8;
/** Ids a layer of `2^b` bits takes before the next is added: `2^b · ln 2 / k`. */
const fillPerBit = Math.LN2 / hashesPerId;
/** The largest layer: `2^32` bits (512 MiB), as many as a slice of the id has. */
const layerBitsLog2Max = 32;

/** Sizes of a {@link TxIdFilter}. */
export interface TxIdFilterOptions {
  /** The first layer has `2^firstLayerBitsLog2` bits; an integer in [10, 32] (default 24: 2 MiB). */
  firstLayerBitsLog2?: number;
  /** No layer is added past this many bytes in all (default 256 MiB; at least the first layer). */
  bytesMax?: number;
}

/**
 * The default `bytesMax`: layers from 2 MiB up to 128 MiB, 254 MiB in all,
 * about 211 million ids before the newest layer overfills.
 */
export const TX_ID_FILTER_BYTES_MAX_DEFAULT = 256 * 1024 * 1024;

interface Layer {
  bits: Uint8Array;
  mask: number;
  /** Which slice the layer's first position comes from (layers use different ones). */
  offset: number;
  count: number;
  capacity: number;
}

/** A growing Bloom filter of hex transaction ids. */
export class TxIdFilter {
  readonly #layers: Layer[] = [];
  readonly #bytesMax: number;
  #count = 0;
  #loaded = false;

  constructor(options: TxIdFilterOptions = {}) {
    const first = options.firstLayerBitsLog2 ?? 24;
    if (!Number.isInteger(first) || first < 10 || first > layerBitsLog2Max) {
      throw new RangeError(
        `TxIdFilter: firstLayerBitsLog2 must be an integer in [10, ${layerBitsLog2Max}]`,
      );
    }
    this.#bytesMax = options.bytesMax ?? TX_ID_FILTER_BYTES_MAX_DEFAULT;
    if (!Number.isSafeInteger(this.#bytesMax) || this.#bytesMax < 2 ** (first - 3)) {
      throw new RangeError(
        `TxIdFilter: bytesMax must be an integer of at least ${2 ** (first - 3)} (the first layer)`,
      );
    }
    this.#layers.push(newLayer(first, 0));
  }

  /** Ids added so far. */
  get count(): number {
    return this.#count;
  }

  /** Bytes of bits held. */
  get bytes(): number {
    let n = 0;
    for (const l of this.#layers) n += l.bits.length;
    return n;
  }

  /** Layers so far. */
  get layers(): number {
    return this.#layers.length;
  }

  /** Whether every committed id has been added (see {@link markLoaded}). */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** Says that every id committed so far has been added: misses are certain from now on. */
  markLoaded(): void {
    this.#loaded = true;
  }

  /**
   * The chance that an id never added is reported as possibly present:
   * 1 before {@link markLoaded}, else estimated from each layer's fill.
   */
  falsePositiveRate(): number {
    if (!this.#loaded) return 1;
    let allMiss = 1;
    for (const l of this.#layers) {
      const m = l.bits.length * 8;
      allMiss *= 1 - (1 - Math.exp(-hashesPerId * l.count / m)) ** hashesPerId;
    }
    return 1 - allMiss;
  }

  /** Adds a 64-hex-digit id (anything else is ignored: {@link mightContain} says yes to it). */
  add(txId: string): void {
    if (txId.length !== 64) return;
    let layer = this.#layers[this.#layers.length - 1];
    if (layer.count >= layer.capacity) layer = this.#grow() ?? layer;
    for (let k = 0; k < hashesPerId; k++) {
      const bit = position(txId, layer, k);
      layer.bits[bit >>> 3] |= 1 << (bit & 7);
    }
    layer.count++;
    this.#count++;
  }

  /** False when `txId` was certainly never committed; true when it may have been. */
  mightContain(txId: string): boolean {
    if (!this.#loaded || txId.length !== 64) return true;
    // Newest first: recent ids are the likeliest duplicates.
    for (let i = this.#layers.length - 1; i >= 0; i--) {
      if (layerHas(this.#layers[i], txId)) return true;
    }
    return false;
  }

  /** Adds a layer twice the newest one's size, unless that would pass `bytesMax`. */
  #grow(): Layer | undefined {
    const newest = this.#layers[this.#layers.length - 1];
    const bitsLog2 = Math.log2(newest.bits.length * 8) + 1;
    if (bitsLog2 > layerBitsLog2Max || this.bytes + 2 ** (bitsLog2 - 3) > this.#bytesMax) {
      return undefined;
    }
    const layer = newLayer(bitsLog2, this.#layers.length % slicesPerId);
    this.#layers.push(layer);
    return layer;
  }
}

function newLayer(bitsLog2: number, offset: number): Layer {
  return {
    bits: new Uint8Array(2 ** (bitsLog2 - 3)),
    mask: 2 ** bitsLog2 - 1,
    offset,
    count: 0,
    capacity: Math.floor(2 ** bitsLog2 * fillPerBit),
  };
}

function layerHas(layer: Layer, txId: string): boolean {
  for (let k = 0; k < hashesPerId; k++) {
    const bit = position(txId, layer, k);
    if ((layer.bits[bit >>> 3] & (1 << (bit & 7))) === 0) return false;
  }
  return true;
}

function position(txId: string, layer: Layer, k: number): number {
  const slice = (layer.offset + k) % slicesPerId;
  // In a 2^32-bit layer `&` gives positions past 2^31 as negative 32-bit
  // integers; `bit >>> 3` and `bit & 7` read them as the unsigned ones.
  return parseInt(txId.slice(slice * 8, slice * 8 + 8), 16) & layer.mask;
}
