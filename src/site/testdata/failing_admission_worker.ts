/**
 * The admission worker, except that a message holding a job whose raw
 * envelope is the string "crash" kills it (an uncaught error): for the
 * pool's worker-failure test.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import "../admission_worker_main.ts";

const admit = self.onmessage as (e: MessageEvent) => unknown;
self.onmessage = (e: MessageEvent<Array<{ raw: unknown }>>) => {
  if (e.data.some((job) => job.raw === "crash")) throw new Error("admission worker crashed");
  return admit(e);
};
