/**
 * Abort-signal helpers that work where `AbortSignal.any` and
 * `AbortSignal.timeout` do not exist (older React Native, Node < 20.3).
 *
 * @module
 */

/** A controller aborted by `parent`, by `timeoutMs`, or by hand; `dispose()` releases the timer and listener. */
export interface LinkedAbort {
  signal: AbortSignal;
  abort(reason?: unknown): void;
  /** True when the timeout fired (not the parent, not `abort`). */
  timedOut(): boolean;
  dispose(): void;
}

/** Links a new controller to `parent` and an optional timeout. */
export function linkedAbort(parent?: AbortSignal, timeoutMs?: number): LinkedAbort {
  const controller = new AbortController();
  let timedOut = false;
  const onParent = () => controller.abort(parent?.reason);
  if (parent?.aborted) controller.abort(parent.reason);
  else parent?.addEventListener("abort", onParent, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new DOMException(`Timed out after ${timeoutMs} ms`, "TimeoutError"));
    }, timeoutMs);
  }
  return {
    signal: controller.signal,
    abort: (reason?: unknown) => controller.abort(reason),
    timedOut: () => timedOut,
    dispose: () => {
      if (timer !== undefined) clearTimeout(timer);
      parent?.removeEventListener("abort", onParent);
    },
  };
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A request id for `X-Request-Id`: a random UUID where available, else 128 random bits in hex. */
export function newRequestId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
