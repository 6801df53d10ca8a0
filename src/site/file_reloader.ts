/**
 * Files a running server reads again when they change: its TLS certificate
 * and key (`https_server.ts`), the CA certificates it trusts (`tls.ts`).
 *
 * A {@link FileReloader} looks at the files' size, modification time and
 * inode every `checkIntervalMs`, and reads them at once on
 * {@link FileReloader.reload} (a site or gateway calls it on SIGHUP). What
 * it read is put in service only when it loads (parses, checks) and differs
 * from what is in service; files that fail to load leave what is in service
 * as it is, are logged once per version of the files (every time on an
 * explicit reload), and are reported failing until they load.
 *
 * @module
 */
import type { Logger } from "../log.ts";

/** How often files are looked at by default, ms. */
export const fileCheckIntervalMsDefault = 60_000;

/** How a reload ended. */
export type ReloadOutcome = "reloaded" | "unchanged" | "failed";

/** What a {@link FileReloader} reloads, and how. */
export interface FileReloaderOptions<T> {
  /** What the files are, in log lines: "tls certificate", "tls ca file". */
  what: string;
  /** The metric names' stem: `edgeledger_<stem>_reloads_total`, …. */
  metric: string;
  /** A phrase for the metrics' help: "TLS certificates", "CA files". */
  metricHelp: string;
  paths: () => readonly string[];
  /** Reads and checks the files; throws an error of `failure` when they cannot be used. */
  load: () => Promise<T>;
  /** Whether a loaded value is what is in service already. */
  same: (a: T, b: T) => boolean;
  /** Puts a loaded value in service; throwing leaves the old one (and counts a failure). */
  apply: (next: T) => Promise<void>;
  /** Fields that say which value is in service, for log lines. */
  describe: (value: T) => Record<string, unknown>;
  /** The errors of `load` and `apply` that mean "these files cannot be used". */
  failure: (e: unknown) => boolean;
  log: Logger;
  /** How often to look at the files, ms; 0: only on {@link FileReloader.reload}. */
  checkIntervalMs?: number;
}

/** Reloads a value read from files when they change (see the module). */
export class FileReloader<T> {
  readonly #o: FileReloaderOptions<T>;
  #value: T;
  #stamp = "";
  #failedStamp: string | undefined;
  #queue: Promise<ReloadOutcome> = Promise.resolve("unchanged");
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #reloads = 0;
  #failures = 0;

  private constructor(options: FileReloaderOptions<T>, value: T) {
    this.#o = options;
    this.#value = value;
  }

  /** Watches the files of `value`, in service now. */
  static async watch<T>(options: FileReloaderOptions<T>, value: T): Promise<FileReloader<T>> {
    const r = new FileReloader(options, value);
    r.#stamp = await filesStamp(options.paths());
    const every = options.checkIntervalMs ?? fileCheckIntervalMsDefault;
    if (every > 0) {
      r.#timer = setInterval(() => void r.#check(), every);
      Deno.unrefTimer(r.#timer);
    }
    return r;
  }

  /** The value in service. */
  get value(): T {
    return this.#value;
  }

  /** Reads the files again, and puts them in service if they load and changed. Calls queue. */
  reload(trigger = "reload"): Promise<ReloadOutcome> {
    return this.#enqueue(trigger, false);
  }

  #enqueue(trigger: string, quietIfSeen: boolean): Promise<ReloadOutcome> {
    const run = this.#queue
      .catch(() => "failed" as const)
      .then(() => this.#reload(trigger, quietIfSeen));
    this.#queue = run;
    return run;
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    const stamp = await filesStamp(this.#o.paths());
    if (stamp === this.#stamp || stamp === this.#failedStamp) return;
    // `apply` failing other than `failure` (a lost listener) said so itself.
    await this.#enqueue("files changed", true).catch(() => {});
  }

  async #reload(trigger: string, quietIfSeen: boolean): Promise<ReloadOutcome> {
    if (this.#closed) return "unchanged";
    const { log, what } = this.#o;
    const stamp = await filesStamp(this.#o.paths());
    const fail = (e: unknown): ReloadOutcome => {
      this.#failures++;
      if (!(quietIfSeen && stamp === this.#failedStamp)) {
        log.error(`${what} not reloaded: the one in service stays`, {
          trigger,
          reason: oneLine(e),
          ...this.#o.describe(this.#value),
        });
      }
      this.#failedStamp = stamp;
      return "failed";
    };
    let next: T;
    try {
      next = await this.#o.load();
    } catch (e) {
      if (!this.#o.failure(e)) throw e;
      return fail(e);
    }
    if (this.#o.same(next, this.#value)) {
      this.#stamp = stamp;
      this.#failedStamp = undefined;
      log.info(`${what} unchanged`, { trigger, ...this.#o.describe(this.#value) });
      return "unchanged";
    }
    try {
      await this.#o.apply(next);
    } catch (e) {
      if (!this.#o.failure(e)) throw e;
      return fail(e);
    }
    this.#value = next;
    this.#stamp = stamp;
    this.#failedStamp = undefined;
    this.#reloads++;
    log.info(`${what} reloaded`, { trigger, ...this.#o.describe(next) });
    return "reloaded";
  }

  /** Prometheus lines: reloads, failures, and whether the files on disk fail now. */
  metricsText(): string {
    const m = `edgeledger_${this.#o.metric}`;
    const help = this.#o.metricHelp;
    return [
      `# HELP ${m}_reloads_total Renewed ${help} put in service without a restart.`,
      `# TYPE ${m}_reloads_total counter`,
      `${m}_reloads_total ${this.#reloads}`,
      `# HELP ${m}_reload_failures_total Reloads of ${help} that could not be used (what was in service stayed).`,
      `# TYPE ${m}_reload_failures_total counter`,
      `${m}_reload_failures_total ${this.#failures}`,
      `# HELP ${m}_reload_failing 1 while the ${help} on disk changed and cannot be used.`,
      `# TYPE ${m}_reload_failing gauge`,
      `${m}_reload_failing ${this.#failedStamp === undefined ? 0 : 1}`,
    ].join("\n") + "\n";
  }

  /** Stops looking at the files; resolves once a reload under way has ended. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#queue.catch(() => {});
  }
}

/** Size, modification time and inode of each file ("missing" for one that cannot be looked at). */
async function filesStamp(paths: readonly string[]): Promise<string> {
  const one = async (path: string) => {
    try {
      const s = await Deno.stat(path);
      return `${s.size}:${s.mtime?.getTime() ?? 0}:${s.ino ?? 0}`;
    } catch {
      return "missing";
    }
  };
  return (await Promise.all(paths.map(one))).join("|");
}

/** An error's message on one line, at most 300 characters. */
export function oneLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/\s+/g, " ").trim().slice(0, 300);
}
