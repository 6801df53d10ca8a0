/**
 * The storage worker's entry (see `worker_store.ts`): owns the database
 * connection and runs each call's method on the repositories, one at a time
 * in arrival order.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { ChainStore } from "./chain_store.ts";
import { openDatabase } from "./db.ts";
import { RaftStore } from "./raft_store.ts";
import { releaseClosedConnections } from "./release.ts";

let chain: ChainStore | undefined;
let raft: RaftStore | undefined;
let queue: Promise<void> = Promise.resolve();

self.onmessage = (
  e: MessageEvent<{ id: number; target: string; method: string; args: unknown[] }>,
) => {
  const { id, target, method, args } = e.data;
  // One call at a time, in order: a block write never interleaves with another.
  queue = queue.then(async () => {
    try {
      let value: unknown;
      if (target === "control" && method === "open") {
        const db = await openDatabase(args[0] as string, args[1] as string | undefined);
        chain = new ChainStore(db);
        raft = new RaftStore(db);
      } else if (target === "control" && method === "close") {
        chain?.close();
        chain = undefined;
        raft = undefined;
        // Here, before the answer: ending the worker runs no finalizers, so
        // its connections would hold the database open for the process's life.
        await releaseClosedConnections();
      } else {
        const repo = (target === "chain" ? chain : raft) as unknown as
          | Record<string, unknown>
          | undefined;
        const fn = repo?.[method];
        if (typeof fn !== "function") {
          throw new TypeError(`Storage worker: no method ${target}.${method}`);
        }
        value = await (fn as (...a: unknown[]) => Promise<unknown>).apply(repo, args);
      }
      self.postMessage({ id, ok: true, value });
    } catch (err) {
      const error = err as Error;
      self.postMessage({
        id,
        ok: false,
        error: { name: error?.name ?? "Error", message: String(error?.message ?? err) },
      });
    }
  });
};
