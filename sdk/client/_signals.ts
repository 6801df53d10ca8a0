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
  const onParent = () => controller.abort(abortReason(parent!));
  if (parent?.aborted) controller.abort(abortReason(parent));
  else parent?.addEventListener("abort", onParent, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort(namedError("TimeoutError", `Timed out after ${timeoutMs} ms`));
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
      reject(abortReason(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
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

/**
 * Why `signal` aborted: its `reason`, or an `AbortError` on runtimes whose
 * signals carry none (older React Native).
 */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? namedError("AbortError", "The operation was aborted");
}

/**
 * An `Error` with a `name` such as `"TimeoutError"`; used instead of
 * `DOMException`, which some runtimes (React Native's Hermes) lack.
 */
export function namedError(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** True for an abort or timeout, whatever class the runtime used for it. */
export function isAbortLike(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  return name === "AbortError" || name === "TimeoutError";
}
