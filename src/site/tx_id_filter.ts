/**
 * A Bloom filter over committed transaction ids, so admission asks the
 * database "is this id committed?" only when the answer may be yes. A miss
 * is certain (the id was never added); a hit may be false (then the database
 * decides). Ids are hex SHA-256, already uniformly random, so the bit
 * positions are slices of the id itself.
 *
 * @module
 */

/** Bit positions per id. */
const hashesPerId = 7;

/** A fixed-size Bloom filter of hex transaction ids. */
export class TxIdFilter {
  readonly #bits: Uint8Array;
  readonly #mask: number;
  #count = 0;

  /** Requires `bitsLog2` in [10, 30]: the filter has `2^bitsLog2` bits. */
  constructor(bitsLog2 = 24) {
    if (!Number.isInteger(bitsLog2) || bitsLog2 < 10 || bitsLog2 > 30) {
      throw new RangeError("TxIdFilter: bitsLog2 must be an integer in [10, 30]");
    }
    this.#bits = new Uint8Array(2 ** (bitsLog2 - 3));
    this.#mask = 2 ** bitsLog2 - 1;
  }

  /** Ids added so far. */
  get count(): number {
    return this.#count;
  }

  /** Adds a 64-hex-digit id. */
  add(txId: string): void {
    for (let k = 0; k < hashesPerId; k++) {
      const bit = this.#position(txId, k);
      this.#bits[bit >>> 3] |= 1 << (bit & 7);
    }
    this.#count++;
  }

  /** False when `txId` was certainly never added; true when it may have been. */
  mightContain(txId: string): boolean {
    if (txId.length !== 64) return true;
    for (let k = 0; k < hashesPerId; k++) {
      const bit = this.#position(txId, k);
      if ((this.#bits[bit >>> 3] & (1 << (bit & 7))) === 0) return false;
    }
    return true;
  }

  #position(txId: string, k: number): number {
    return parseInt(txId.slice(k * 8, k * 8 + 8), 16) & this.#mask;
  }
}
