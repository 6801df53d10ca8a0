/**
 * The site's repositories in a worker thread. libSQL's embedded driver runs
 * every statement — and every fsync — synchronously on the calling thread;
 * in a worker, a block being written no longer stops the site from serving
 * requests and verifying signatures meanwhile.
 *
 * {@link openWorkerStores} starts the worker and answers with proxies whose
 * methods are those of {@link ChainStore} and {@link RaftStore}; calls are
 * messages, answered in order. Errors keep their name and message
 * (`StorageConflictError` is rebuilt as such).
 *
 * @module
 */
import { type ChainStoreApi, StorageConflictError } from "./chain_store.ts";
import type { RaftStoreApi } from "./raft_store.ts";

interface Call {
  id: number;
  target: "chain" | "raft" | "control";
  method: string;
  args: unknown[];
}

type Answer = { id: number; ok: true; value: unknown } | {
  id: number;
  ok: false;
  error: { name: string; message: string };
};

/** Calls waiting for the worker's answer, at most; beyond, callers wait for room. */
const callsInFlightMax = 10_000;

/** Proxies over a storage worker; `close()` stops it. */
export interface WorkerStores {
  chain: ChainStoreApi;
  raft: RaftStoreApi;
  close(): Promise<void>;
}

/**
 * Starts a storage worker on `url` (opening and migrating the database
 * there) and returns the proxies. Rejects when the database cannot be opened.
 */
export async function openWorkerStores(url: string, authToken?: string): Promise<WorkerStores> {
  const worker = new Worker(new URL("./worker_store_main.ts", import.meta.url).href, {
    type: "module",
  });
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let dead: Error | undefined;
  /**
   * Calls made while `callsInFlightMax` are in flight, in call order: they
   * are posted in that order as answers make room, so the worker still
   * answers calls in the order they were made.
   */
  const backlog: Array<() => void> = [];
  const die = (error: Error) => {
    dead ??= error;
    for (const w of waiting.values()) w.reject(dead);
    waiting.clear();
    for (const send of backlog.splice(0)) send();
  };
  worker.onmessage = (e: MessageEvent<Answer>) => {
    const a = e.data;
    const w = waiting.get(a.id);
    if (!w) return;
    waiting.delete(a.id);
    while (backlog.length > 0 && waiting.size < callsInFlightMax) backlog.shift()!();
    if (a.ok) w.resolve(a.value);
    else {
      const err = a.error.name === "StorageConflictError"
        ? new StorageConflictError(a.error.message)
        : Object.assign(new Error(a.error.message), { name: a.error.name });
      w.reject(err);
    }
  };
  worker.onerror = (e) => {
    e.preventDefault();
    die(new Error(`Storage worker failed: ${e.message}`));
  };
  const call = (target: Call["target"], method: string, args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const send = () => {
        if (dead) return reject(dead);
        const id = nextId++;
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, target, method, args } satisfies Call);
      };
      if (waiting.size >= callsInFlightMax || backlog.length > 0) backlog.push(send);
      else send();
    });
  try {
    await call("control", "open", [url, authToken]);
  } catch (e) {
    // A database that cannot be opened leaves no thread behind (it would keep the process alive).
    worker.terminate();
    die(new Error("Storage worker closed"));
    throw e;
  }
  const proxy = <T extends object>(
    target: "chain" | "raft",
    extra: Record<string, unknown> = {},
  ): T =>
    new Proxy(extra, {
      get(obj, prop) {
        if (typeof prop !== "string") return undefined;
        if (prop in obj) return obj[prop];
        if (prop === "then") return undefined;
        return (...args: unknown[]) => call(target, prop, args);
      },
    }) as T;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      await call("control", "close", []);
    } finally {
      worker.terminate();
      // A call made after this (or still waiting) gets an answer: an error.
      die(new Error("Storage worker closed"));
    }
  };
  const chain = proxy<ChainStoreApi>("chain", { close: () => void close() });
  const raft = proxy<RaftStoreApi>("raft");
  return { chain, raft, close };
}
