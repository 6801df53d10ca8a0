/**
 * Envelope signature checks for the integrity check's walk over a whole
 * chain, on this thread or on worker threads.
 *
 * Verifying every signature again is most of that walk (62 % of it, 57 µs
 * of 92 µs per transaction, measured on a lone site's 100,000 transactions
 * of the bench's shape): `task integrity`, `task backup` and `task restore`
 * run it on a {@link SignaturePool} of one worker per core while the main
 * thread hashes leaves and checks blocks. A site checking itself
 * (`GET /v1/integrity`) keeps to its own thread, leaving its cores to the
 * traffic it serves.
 *
 * @module
 */
import { type Envelope, verifyEnvelopeSignatures } from "../../sdk/envelope.ts";
import { utf8Encode } from "../../sdk/encoding.ts";
import { verifySignatureNative } from "./native_ed25519.ts";

/** One envelope's signatures to check: the text of its signing payload, its signers and sigs. */
export interface SignatureJob {
  payload: string;
  signers: unknown;
  sigs: unknown;
}

/** Whether an envelope's signatures verify, and if not, why. */
export interface SignatureVerdict {
  ok: boolean;
  /** When not ok: the lowest failing signer index, as `verifyEnvelopeSignatures` gives it. */
  index?: number;
  reason?: string;
}

/** Checks `jobs`' signatures, answering in their order. */
export type VerifySignatures = (jobs: SignatureJob[]) => Promise<SignatureVerdict[]>;

/** {@link VerifySignatures} on this thread. */
export function verifySignaturesHere(jobs: SignatureJob[]): Promise<SignatureVerdict[]> {
  return Promise.all(jobs.map(async (j) => {
    const v = await verifyEnvelopeSignatures(
      { signers: j.signers, sigs: j.sigs } as Envelope,
      utf8Encode(j.payload),
      verifySignatureNative,
    );
    return v.ok ? { ok: true } : { ok: false, index: v.index, reason: v.reason };
  }));
}

/** A message to a worker, and its answer. */
export interface SignatureRequest {
  id: number;
  jobs: SignatureJob[];
}
export interface SignatureAnswer {
  id: number;
  verdicts: SignatureVerdict[];
}

/**
 * Worker threads answering {@link VerifySignatures} calls, each call on the
 * worker with the fewest calls outstanding. A worker that fails fails the
 * calls it holds and every later one: the check that uses the pool stops
 * with that error rather than go on with fewer hands.
 */
export class SignaturePool {
  readonly #workers: Worker[] = [];
  readonly #outstanding: Array<Set<number>> = [];
  readonly #waiting = new Map<
    number,
    { resolve: (v: SignatureVerdict[]) => void; reject: (e: Error) => void }
  >();
  #nextId = 1;
  #failed: Error | undefined;

  /** Starts `size` workers (1 to 64; default one per core). */
  constructor(size = navigator.hardwareConcurrency) {
    if (!Number.isInteger(size) || size < 1 || size > 64) {
      throw new RangeError("SignaturePool: size must be an integer in [1, 64]");
    }
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./signature_worker_main.ts", import.meta.url).href, {
        type: "module",
      });
      this.#outstanding.push(new Set());
      w.onmessage = (e: MessageEvent<SignatureAnswer>) => {
        this.#outstanding[i].delete(e.data.id);
        const done = this.#waiting.get(e.data.id);
        this.#waiting.delete(e.data.id);
        done?.resolve(e.data.verdicts);
      };
      w.onerror = (e) => {
        e.preventDefault();
        this.#fail(new Error(`A signature worker failed: ${e.message}`));
      };
      this.#workers.push(w);
    }
  }

  /** {@link VerifySignatures} on the pool. */
  readonly verify: VerifySignatures = (jobs) => {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    let pick = 0;
    for (let i = 1; i < this.#workers.length; i++) {
      if (this.#outstanding[i].size < this.#outstanding[pick].size) pick = i;
    }
    const id = this.#nextId++;
    this.#outstanding[pick].add(id);
    return new Promise<SignatureVerdict[]>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#workers[pick].postMessage({ id, jobs } satisfies SignatureRequest);
    });
  };

  #fail(e: Error): void {
    this.#failed ??= e;
    for (const done of this.#waiting.values()) done.reject(this.#failed);
    this.#waiting.clear();
    for (const o of this.#outstanding) o.clear();
  }

  /** Stops the workers; calls still waiting fail. */
  close(): void {
    this.#fail(new Error("The signature pool is closed"));
    for (const w of this.#workers) w.terminate();
  }
}
