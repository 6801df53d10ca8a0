/**
 * An admission worker (see `admission_pool.ts`): runs admission's stateless
 * checks and signature verification off the site's main thread.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { builtinContracts } from "../contracts/mod.ts";
import { admitStateless } from "./admission.ts";
import {
  ADMISSION_WORKER_READY,
  type AdmissionAnswer,
  type AdmissionJob,
} from "./admission_pool.ts";

const registry = builtinContracts();

/** One message: a batch of jobs, answered as one batch in the same order. */
self.onmessage = async (e: MessageEvent<AdmissionJob[]>) => {
  const answers = await Promise.all(
    e.data.map(async ({ id, raw, now, policy, signatures }): Promise<AdmissionAnswer> => {
      try {
        return { id, verdict: await admitStateless(raw, now, policy, registry, signatures) };
      } catch (err) {
        return { id, error: `Cannot admit: ${(err as Error).message}` };
      }
    }),
  );
  self.postMessage(answers);
};

// Loaded: the pool waits for this before it counts the worker as started
// (a module that cannot load — a file it may not read — fails the start).
self.postMessage(ADMISSION_WORKER_READY);
