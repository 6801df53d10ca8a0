/**
 * A pool of signature-verification workers. Verification is the expensive
 * part of admission, and Deno runs WebCrypto's verify on the calling thread:
 * spreading it over workers lets a site use every core for it while the main
 * thread parses, batches and serves.
 *
 * @module
 */
import type { Envelope, SignatureCheck } from "../../sdk/envelope.ts";
import { LedgerError } from "../api/service.ts";

/** Verifications queued per worker before callers wait for room. */
const inFlightPerWorkerMax = 4096;
/** Verifications sent to a worker in one message, at most. */
const batchMax = 256;

type Job = { id: number; envelope: Envelope; payload: Uint8Array };

/** A fixed set of workers answering {@link verifyEnvelopeSignatures} calls. */
export class VerifyPool {
  readonly #workers: Worker[] = [];
  readonly #waiting = new Map<
    number,
    { resolve: (r: SignatureCheck) => void; reject: (e: Error) => void }
  >();
  #next = 0;
  #nextId = 1;
  #closed = false;
  /** Jobs waiting for their worker to answer its current message, per worker. */
  readonly #queued: Job[][] = [];
  /** Messages each worker has not answered yet. */
  readonly #busy: number[] = [];

  /** Starts `size` workers (`1 <= size <= 16`). */
  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1 || size > 16) {
      throw new RangeError("VerifyPool: size must be an integer in [1, 16]");
    }
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./verify_worker_main.ts", import.meta.url).href, {
        type: "module",
      });
      const index = i;
      w.onmessage = (e: MessageEvent<Array<{ id: number; result: SignatureCheck }>>) => {
        this.#busy[index]--;
        this.#send(index);
        for (const { id, result } of e.data) {
          const done = this.#waiting.get(id);
          this.#waiting.delete(id);
          done?.resolve(result);
        }
      };
      w.onerror = (e) => {
        e.preventDefault();
        console.error("verify worker failed:", e.message);
      };
      this.#workers.push(w);
      this.#queued.push([]);
      this.#busy.push(0);
    }
  }

  /**
   * Verifies an envelope's signatures over `payload` (its signing payload) on
   * a worker; answers as `verifyEnvelopeSignatures` does. Never throws for a
   * bad signature; rejects (`unavailable`) only when the pool is closed.
   */
  async verify(envelope: Envelope, payload: Uint8Array): Promise<SignatureCheck> {
    if (this.#closed) throw stopping();
    while (this.#waiting.size >= inFlightPerWorkerMax * this.size) {
      await new Promise((r) => setTimeout(r, 1));
    }
    const id = this.#nextId++;
    const index = this.#next;
    this.#next = (this.#next + 1) % this.#workers.length;
    return await new Promise<SignatureCheck>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#queued[index].push({ id, envelope, payload });
      // Structured cloning costs per message: an idle worker gets the job at
      // once; a busy one gets everything that queued meanwhile as one message
      // when it answers (no timer, no added latency when idle).
      if (this.#busy[index] === 0 || this.#queued[index].length >= batchMax) this.#send(index);
    });
  }

  #send(index: number): void {
    const jobs = this.#queued[index];
    if (this.#closed || jobs.length === 0) return;
    this.#queued[index] = [];
    this.#busy[index]++;
    this.#workers[index].postMessage(jobs);
  }

  /** Stops the workers; pending verifications reject with `unavailable`. */
  close(): void {
    this.#closed = true;
    for (const w of this.#workers) w.terminate();
    for (const done of this.#waiting.values()) done.reject(stopping());
    this.#waiting.clear();
  }
}

function stopping(): LedgerError {
  return new LedgerError("unavailable", 503, "Site stopping", "The site is shutting down", {
    retryAfter: 1,
  });
}
