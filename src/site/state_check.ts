/**
 * The state check between sites, as etcd's corruption check compares its
 * members' key-value hashes at one revision: at every height that is a
 * multiple of `stateCheckBlocks`, each site hashes its whole contract state
 * as of that block, and asks each peer for its hash at the same height.
 *
 * Blocks, transactions and results are the same on every site or the
 * checkpoints show it at once (a divergence, see `site.ts`). Contract state
 * is derived from them and signed nowhere: a state row corrupted on one
 * site's disk, edited behind its back, or written differently by another
 * version of the rules (with the same result) shows only when a transaction
 * reads it. This check finds such a site within `stateCheckBlocks` blocks.
 * It does not stop the site: it logs the difference at `error`, counts the
 * members whose state differs on `/metrics` and in `/v1/status`, and
 * `task integrity --replay` on each site then names the row.
 *
 * A site keeps its latest hashes and each member's verdict in its database
 * (meta `state_checks`), as etcd keeps its CORRUPT alarm in its backend: a
 * restart neither clears a difference found nor forgets the hashes peers
 * may still ask for, and a comparison the restart cut short is finished.
 *
 * The hash is SHA-256 over every state row in `(ns, key)` order, each field
 * (`ns`, `key`, `value`) as its UTF-8 length in decimal, a colon and its
 * UTF-8 bytes (netstrings without the comma: keys may hold any character,
 * so no separator would do). The site takes a view of its database right
 * after the block's write (the next block waits for that moment, never for
 * the hashing) and hashes it in the background, a page at a time with a
 * turn of the event loop every few milliseconds.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { Logger } from "../log.ts";
import { NativeSnapshot } from "../storage/native.ts";

/** A site's state hash at one height. */
export interface StateDigest {
  height: number;
  /** Hex SHA-256 (see the module doc). */
  hash: string;
  rows: number;
}

/** What a site says of its state hash at a height. */
export type StateDigestAnswer =
  | { status: "ok"; digest: StateDigest }
  /** Not there yet: the site is hashing that height, or has not applied it. */
  | { status: "pending" }
  /** It will not have one: it does not check that height, or forgot it. */
  | { status: "none" };

/** How a site reaches its peers' answers (the consensus host, with signed answers). */
export interface StateCheckPeers {
  /** The members other than this site. */
  others(): string[];
  fetch(member: string, height: number, signal: AbortSignal): Promise<StateDigestAnswer>;
}

/** A peer's state at the newest height both hashed, against this site's. */
export interface StateVerdict {
  site: string;
  height: number;
  ours: string;
  theirs: string;
}

/**
 * A peer's answer (`GET /raft/state` body) for `height`, checked: a digest
 * for another height, a hash that is no SHA-256 or a status it does not
 * know is refused.
 */
export function parseStateDigestAnswer(text: string, height: number): StateDigestAnswer {
  const a = JSON.parse(text) as Record<string, unknown>;
  if (a.status === "pending" || a.status === "none") return { status: a.status };
  const d = a.digest as Record<string, unknown> | undefined;
  if (
    a.status !== "ok" || d === undefined || d.height !== height || typeof d.hash !== "string" ||
    !/^[0-9a-f]{64}$/.test(d.hash) || !Number.isSafeInteger(d.rows) || (d.rows as number) < 0
  ) {
    throw new Error(`Not a state digest for height ${height}: ${text.slice(0, 200)}`);
  }
  return { status: "ok", digest: { height, hash: d.hash, rows: d.rows as number } };
}

/** State rows read per page. */
const pageRows = 1000;
/** Longest stretch of hashing between two turns of the event loop, ms. */
const sliceMs = 5;
/** Digests kept for peers that ask later. */
const digestsKept = 4;

/**
 * Hashes the state table of `snapshot` (see the module doc), yielding to
 * the event loop every {@link sliceMs}. Stops (rejects) once `signal` aborts.
 */
export async function hashState(
  snapshot: NativeSnapshot,
  signal?: AbortSignal,
): Promise<{ hash: string; rows: number }> {
  const digest = createHash("sha256");
  let rows = 0;
  let after: { ns: string; key: string } | undefined;
  let sliceStarted = performance.now();
  for (;;) {
    signal?.throwIfAborted();
    const page = snapshot.statePage(after, pageRows);
    let text = "";
    for (const r of page) {
      text += `${byteLength(r.ns)}:${r.ns}${byteLength(r.key)}:${r.key}${
        byteLength(r.value)
      }:${r.value}`;
    }
    digest.update(text);
    rows += page.length;
    if (page.length < pageRows) break;
    after = page[page.length - 1];
    if (performance.now() - sliceStarted > sliceMs) {
      await new Promise((r) => setTimeout(r, 0));
      sliceStarted = performance.now();
    }
  }
  return { hash: digest.digest("hex"), rows };
}

/** UTF-8 length of `s`. */
function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** What a site keeps of its state checks across restarts (meta `state_checks`). */
interface SavedStateChecks {
  digests: StateDigest[];
  verdicts: StateVerdict[];
  /** How long the newest hash took, ms. */
  ms: number;
}

/** A site's state checks: its own hashes, and how its peers' compare. */
export class StateChecks {
  readonly #everyBlocks: number;
  readonly #path: string | undefined;
  readonly #log: Logger;
  /** The newest height whose write returned: a peer asking for a later one waits. */
  readonly #head: () => number;
  readonly #retryMs: number;
  readonly #triesMax: number;
  readonly #digests = new Map<number, StateDigest>();
  /** Heights being hashed now (checks close together may overlap). */
  readonly #hashing = new Set<number>();
  readonly #running = new Set<Promise<void>>();
  #peers: StateCheckPeers | undefined;
  readonly #verdicts = new Map<string, StateVerdict>();
  readonly #stop = new AbortController();
  #lastMs = 0;
  /** Peers' hashes compared with this site's: the same, or not. */
  readonly #compared = { agreed: 0, differed: 0 };
  readonly #save: ((json: string) => Promise<void>) | undefined;
  /** The last save, which the next one follows. */
  #saving: Promise<void> = Promise.resolve();

  /**
   * `everyBlocks` 0 checks nothing; so does a database that is not a local
   * file (`path` undefined). A peer that has not hashed the height yet is
   * asked again after 100 ms, then twice as long each time up to `retryMs`
   * (5 s), `triesMax` (120) times in all. `save` keeps what {@link restore}
   * reads back (the site's meta `state_checks`).
   */
  constructor(options: {
    everyBlocks: number;
    path: string | undefined;
    log: Logger;
    head: () => number;
    retryMs?: number;
    triesMax?: number;
    save?: (json: string) => Promise<void>;
  }) {
    this.#everyBlocks = options.everyBlocks;
    this.#path = options.path;
    this.#log = options.log;
    this.#head = options.head;
    this.#retryMs = options.retryMs ?? 5000;
    this.#triesMax = options.triesMax ?? 120;
    this.#save = options.save;
  }

  /**
   * Takes back what an earlier run saved: its hashes (peers may still ask
   * for them) and each member's verdict (a difference stays reported until
   * a later comparison with that member agrees). A site that checks
   * nothing now takes nothing back; what cannot be read is said once and
   * left (the next check starts afresh).
   */
  restore(json: string | undefined): void {
    if (json === undefined || this.#everyBlocks === 0 || this.#path === undefined) return;
    try {
      const saved = JSON.parse(json) as SavedStateChecks;
      for (const d of saved.digests) this.#digests.set(d.height, d);
      for (const v of saved.verdicts) this.#verdicts.set(v.site, v);
      this.#lastMs = saved.ms;
    } catch (e) {
      this.#log.warn("cannot read the saved state checks; starting afresh", { error: e });
    }
  }

  /** Saves the hashes and verdicts, after any save still under way (best effort: said at warn). */
  #persist(): void {
    const save = this.#save;
    if (save === undefined) return;
    const saved: SavedStateChecks = {
      digests: [...this.#digests.values()],
      verdicts: [...this.#verdicts.values()],
      ms: Math.round(this.#lastMs),
    };
    const json = JSON.stringify(saved);
    this.#saving = this.#saving.then(() => save(json)).catch((e) => {
      if (!this.#stop.signal.aborted) this.#log.warn("cannot save the state checks", { error: e });
    });
  }

  /** Whether `height` is one this site hashes. */
  due(height: number): boolean {
    return this.#everyBlocks > 0 && this.#path !== undefined && height > 0 &&
      height % this.#everyBlocks === 0 && !this.#stop.signal.aborted;
  }

  /**
   * Compare with these peers from now on; the newest hash taken back by
   * {@link restore} is compared with each member that has no verdict at its
   * height yet (a restart cut that comparison short).
   */
  attachPeers(peers: StateCheckPeers): void {
    this.#peers = peers;
    const latest = this.latest();
    if (latest === undefined || this.#stop.signal.aborted) return;
    const behind = peers.others().filter((m) =>
      (this.#verdicts.get(m)?.height ?? 0) < latest.height
    );
    if (behind.length > 0) this.#track(this.#compare(latest.height, behind));
  }

  #track(run: Promise<void>): void {
    this.#running.add(run);
    void run.finally(() => this.#running.delete(run));
  }

  /**
   * Takes the view of the database now — its write of block `height` has
   * returned and the next block's has not begun — then hashes it in the
   * background and compares with the peers'.
   */
  start(height: number): void {
    let snapshot: NativeSnapshot;
    try {
      snapshot = new NativeSnapshot(this.#path!);
      const head = snapshot.headHeight();
      if (head !== height) {
        snapshot.close();
        this.#log.warn("state check skipped", { height, reason: `the database is at ${head}` });
        return;
      }
    } catch (e) {
      this.#log.warn("state check skipped", { height, error: e });
      return;
    }
    this.#hashing.add(height);
    const started = performance.now();
    const run = (async () => {
      try {
        const { hash, rows } = await hashState(snapshot, this.#stop.signal);
        this.#lastMs = performance.now() - started;
        this.#digests.set(height, { height, hash, rows });
        for (const h of [...this.#digests.keys()].sort((a, b) => a - b).slice(0, -digestsKept)) {
          this.#digests.delete(h);
        }
        this.#log.debug("state hashed", { height, rows, hash, ms: Math.round(this.#lastMs) });
        this.#persist();
      } catch (e) {
        if (!this.#stop.signal.aborted) this.#log.warn("state check failed", { height, error: e });
        return;
      } finally {
        snapshot.close();
        this.#hashing.delete(height);
      }
      await this.#compare(height);
    })();
    this.#track(run);
  }

  /** What this site says of its hash at `height` (the peer route's answer). */
  answer(height: number): StateDigestAnswer {
    const digest = this.#digests.get(height);
    if (digest !== undefined) return { status: "ok", digest };
    if (this.#hashing.has(height)) return { status: "pending" };
    if (this.due(height) && height > this.#head()) return { status: "pending" };
    return { status: "none" };
  }

  /** Asks every peer (or `members`) for its hash at `height` until each has answered, or gave up. */
  async #compare(height: number, members?: string[]): Promise<void> {
    const ours = this.#digests.get(height);
    if (ours === undefined || this.#peers === undefined) return;
    const peers = this.#peers;
    await Promise.all(
      (members ?? peers.others()).map(async (member) => {
        for (let tries = 0; tries < this.#triesMax && !this.#stop.signal.aborted; tries++) {
          let answer: StateDigestAnswer | undefined;
          try {
            answer = await peers.fetch(member, height, this.#stop.signal);
          } catch {
            answer = undefined; // unreachable for now: ask again
          }
          if (answer?.status === "none") return;
          if (answer?.status === "ok") return this.#judge(member, ours, answer.digest);
          // A peer a few blocks behind answers within moments; one that is down, later.
          const delay = Math.min(this.#retryMs, 100 * 2 ** tries);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, delay);
            this.#stop.signal.addEventListener("abort", () => {
              clearTimeout(timer);
              resolve();
            }, { once: true });
          });
        }
      }),
    );
  }

  #judge(member: string, ours: StateDigest, theirs: StateDigest): void {
    const known = this.#verdicts.get(member);
    // An answer for an older height than one already compared says nothing new.
    if (known !== undefined && known.height > ours.height) return;
    const verdict = { site: member, height: ours.height, ours: ours.hash, theirs: theirs.hash };
    this.#verdicts.set(member, verdict);
    this.#persist();
    this.#compared[theirs.hash === ours.hash ? "agreed" : "differed"]++;
    if (theirs.hash !== ours.hash) {
      this.#log.error("state differs from a member's", {
        height: ours.height,
        member,
        ours: ours.hash,
        theirs: theirs.hash,
        rows: ours.rows,
        theirRows: theirs.rows,
      });
    } else if (known !== undefined && known.ours !== known.theirs) {
      this.#log.info("state agrees with a member's again", { height: ours.height, member });
    } else {
      this.#log.debug("state agrees with a member's", { height: ours.height, member });
    }
  }

  /** The members whose state differed from this site's at the newest height both hashed. */
  divergent(): StateVerdict[] {
    return [...this.#verdicts.values()].filter((v) => v.ours !== v.theirs)
      .sort((a, b) => a.site.localeCompare(b.site));
  }

  /** The newest hash this site made, if any. */
  latest(): StateDigest | undefined {
    const heights = [...this.#digests.keys()];
    return heights.length === 0 ? undefined : this.#digests.get(Math.max(...heights));
  }

  /** `/metrics` lines. */
  metrics(): string[] {
    const latest = this.latest();
    return [
      "# HELP edgeledger_state_check_height Newest height whose contract state this site hashed for the state check (0: none yet).",
      "# TYPE edgeledger_state_check_height gauge",
      `edgeledger_state_check_height ${latest?.height ?? 0}`,
      "# HELP edgeledger_state_check_seconds Time the newest state hash took.",
      "# TYPE edgeledger_state_check_seconds gauge",
      `edgeledger_state_check_seconds ${(this.#lastMs / 1000).toFixed(3)}`,
      "# HELP edgeledger_state_comparisons_total Peers' state hashes compared with this site's at the same height, by result.",
      "# TYPE edgeledger_state_comparisons_total counter",
      `edgeledger_state_comparisons_total{result="agreed"} ${this.#compared.agreed}`,
      `edgeledger_state_comparisons_total{result="differed"} ${this.#compared.differed}`,
      "# HELP edgeledger_state_divergent_members Members whose contract state differed from this site's at the newest height both hashed.",
      "# TYPE edgeledger_state_divergent_members gauge",
      `edgeledger_state_divergent_members ${this.divergent().length}`,
    ];
  }

  /** Stops hashing and asking; resolves once nothing runs and the last save returned. */
  async close(): Promise<void> {
    this.#stop.abort();
    await Promise.all([...this.#running]);
    await this.#saving;
  }
}
