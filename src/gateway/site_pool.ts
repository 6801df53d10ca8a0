/**
 * The gateway's view of the sites: which are up, which leads, how busy each
 * is, and which one a request goes to.
 *
 * The view comes from polling each site's `GET /v1/status` (a bounded
 * timeout, one poll per site at a time) and from forwarded requests: a site
 * that refuses a connection or does not answer is marked down at once, and
 * comes back with its next good poll; one that answers 503 is polled at once
 * (see {@link SitePool.pollSoon}). The choice itself is a pure function,
 * {@link chooseSite}.
 *
 * @module
 */
import { readiness } from "../../sdk/api/readiness.ts";
import { StatusView } from "../../sdk/api/schemas.ts";
import type { z } from "zod";
import { assert } from "../chain/assert.ts";
import { createLogger, type Logger } from "../log.ts";
import { fetchFailure } from "../site/tls.ts";

/**
 * The least time between two polls of one site that requests brought about
 * (see {@link SitePool.pollSoon}), ms: a burst of refusals polls it once.
 */
export const refusalPollSpacingMsMin = 250;

/** A site name as a gateway passes it on: visible ASCII, as genesis names are (1–128 chars). */
const SITE_NAME = /^[\x21-\x7e]{1,128}$/;

/** What the gateway knows about one site. */
export interface SiteState {
  /** The configured base URL (no trailing slash): the site's identity here. */
  readonly url: string;
  /** In the configured "nearest" set. */
  readonly preferred: boolean;
  /** The site's name as its status reports it (null until it answered once). */
  name: string | null;
  /** Takes requests: its last poll succeeded, for this ledger, healthy, and no forward failed since. */
  up: boolean;
  role: string | null;
  term: number | null;
  height: number | null;
  /** Why it is down, or last was (one line); null if it never was. Down until its first poll. */
  lastError: string | null;
  /** When `lastError` happened, ms since the epoch. */
  lastErrorAt: number | null;
  /** When it last answered a poll well, ms since the epoch. */
  lastSeenAt: number | null;
  /** Forwarded requests waiting for, or streaming, their answer (event streams excluded). */
  inFlight: number;
  /** Event streams open through this site. */
  streams: number;
  /** The leader this site reports, by name (in `term`). */
  reportedLeader: string | null;
  /** The ledger its last answered poll reported; null when the last poll got no status. */
  servedLedger: string | null;
  /** In touch with the cluster by its last answered poll (see {@link inTouch}). */
  inTouch: boolean;
}

/** The part of a site {@link chooseSite} looks at. */
export interface Candidate {
  up: boolean;
  preferred: boolean;
  inFlight: number;
  leader: boolean;
  /** In touch with the cluster (see {@link inTouch}). */
  inTouch: boolean;
}

/**
 * Whether a site's status says it is in touch with the cluster: it passes
 * readiness's leader check (it names a leader and has said neither
 * `leaderlessMs` nor `leaderUnreachableMs`), and is not catching up by
 * snapshot. A voter cut off from the others stops naming one within an
 * election timeout (it campaigns, or a leader without a majority steps
 * down); a learner says `leaderlessMs` after four; a follower that still
 * hears its leader but cannot reach it says `leaderUnreachableMs` four
 * election timeouts into forwarding writes that get no answer. Until then it
 * cannot have writes ordered (and a site that hears no leader answers reads
 * from a ledger that no longer grows). While a site is out of touch the
 * others take its requests.
 */
export function inTouch(status: z.input<typeof StatusView>): boolean {
  return readiness(status).checks.leader && status.catchingUp === undefined;
}

/**
 * The index of the site a request goes to, or -1 when no site may take it.
 *
 * Among sites that are up and not `excluded`: the leader when `preferLeader`
 * (reads that need it) and it is one of them; else those in touch with the
 * cluster while one of them is (so a site cut off from its peers, preferred
 * or not, serves only when no site names a leader, as during an election);
 * among those, the preferred ("nearest") sites while one of them is, else
 * all; among those, the fewest requests in flight; a tie goes to the first
 * at or after `cursor` in `sites` order (round robin: the caller moves
 * `cursor` past each choice).
 * Requires `0 <= cursor`.
 */
export function chooseSite(
  sites: readonly Candidate[],
  excluded: (index: number) => boolean,
  preferLeader: boolean,
  cursor: number,
): number {
  const open: number[] = [];
  for (let i = 0; i < sites.length; i++) if (sites[i].up && !excluded(i)) open.push(i);
  if (open.length === 0) return -1;
  if (preferLeader) {
    const leader = open.find((i) => sites[i].leader);
    if (leader !== undefined) return leader;
  }
  const touching = open.filter((i) => sites[i].inTouch);
  const reachable = touching.length > 0 ? touching : open;
  const near = reachable.filter((i) => sites[i].preferred);
  const tier = near.length > 0 ? near : reachable;
  const least = Math.min(...tier.map((i) => sites[i].inFlight));
  const tied = tier.filter((i) => sites[i].inFlight === least);
  const start = cursor % sites.length;
  return tied.find((i) => i >= start) ?? tied[0];
}

/** Options of {@link SitePool}. */
export interface SitePoolOptions {
  urls: readonly string[];
  preferred?: readonly string[];
  pollIntervalMs: number;
  pollTimeoutMs: number;
  /** `Via` sent with polls. */
  via: string;
  /**
   * A tenant API key sent with polls (`Authorization: Bearer <key>`), for
   * sites that serve requests only with one (`requireApiKey: "all"`).
   */
  pollApiKey?: string;
  /**
   * How the gateway reaches the sites, for polls and forwarded requests (a
   * `fetch` through a client that trusts the sites' CA). Default `fetch`.
   */
  fetch?: typeof fetch;
  now?: () => number;
  /** Hears when a site goes down (with why) and comes up, once per change; default: stderr. */
  log?: Logger;
}

/** The sites behind a gateway, polled on an interval. */
export class SitePool {
  readonly sites: readonly SiteState[];
  /** The ledger every site must serve; undefined until learned (then set once). */
  ledger: string | undefined;
  readonly #options: SitePoolOptions;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  #cursor = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** The poll on its way to each site: at most one per site. */
  readonly #polls = new Map<SiteState, Promise<void>>();
  /** When the last poll {@link pollSoon} started for each site (`performance.now()`). */
  readonly #soonPolledAt = new Map<SiteState, number>();
  readonly #closing = new AbortController();
  readonly #log: Logger;
  /** Whether each site was last logged up or down (none yet: neither). */
  readonly #logged = new Map<SiteState, boolean>();
  /** Sites whose last poll failed on their TLS certificate (see everyCertificateRefused). */
  readonly #certificateRefused = new Set<SiteState>();

  constructor(options: SitePoolOptions) {
    assert(options.urls.length > 0, "SitePool needs at least one site");
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? createLogger();
    const preferred = new Set(options.preferred ?? []);
    this.sites = options.urls.map((url) => ({
      url,
      preferred: preferred.has(url),
      name: null,
      up: false,
      role: null,
      term: null,
      height: null,
      lastError: null,
      lastErrorAt: null,
      lastSeenAt: null,
      inFlight: 0,
      streams: 0,
      reportedLeader: null,
      servedLedger: null,
      inTouch: false,
    }));
  }

  /** The `fetch` that reaches the sites (see {@link SitePoolOptions.fetch}). */
  get fetch(): typeof fetch {
    return this.#fetch;
  }

  /** Aborts when the pool closes: forwarded requests end with it. */
  get closing(): AbortSignal {
    return this.#closing.signal;
  }

  /**
   * Polls every site now (a site whose previous poll is still on its way is
   * not polled twice: that poll's result is awaited) and resolves once every
   * site has its result.
   */
  async pollAll(): Promise<void> {
    await Promise.all(this.sites.map((s) => this.#polls.get(s) ?? this.#track(s, this.#poll(s))));
  }

  /** Polls every `pollIntervalMs` until {@link close}; the first round starts now. */
  start(): void {
    const tick = () => {
      if (this.#closed) return;
      void this.pollAll();
      this.#timer = setTimeout(tick, this.#options.pollIntervalMs);
    };
    tick();
  }

  /**
   * Polls `site` now, out of its round: a site that refused a request (503:
   * busy, stopping, cut off from the leader) may have fallen out of touch,
   * and its status says so at once, where the next round would come up to
   * `pollIntervalMs` later. Not when a poll of it is on its way (that one
   * settles it) or when the last poll asked this way started less than
   * {@link refusalPollSpacingMsMin} ago (the rounds' polls do not count: the
   * status may have changed since). Resolves when the poll has its result;
   * never rejects.
   */
  pollSoon(site: SiteState): Promise<void> {
    const onItsWay = this.#polls.get(site);
    if (onItsWay !== undefined) return onItsWay;
    const now = performance.now();
    const last = this.#soonPolledAt.get(site);
    if (this.#closed || (last !== undefined && now - last < refusalPollSpacingMsMin)) {
      return Promise.resolve();
    }
    this.#soonPolledAt.set(site, now);
    return this.#track(site, this.#poll(site));
  }

  /** Stops polling, ends forwarded requests, and waits for polls on their way. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#closing.abort(new Error("The gateway is stopping"));
    await Promise.allSettled([...this.#polls.values()]);
  }

  /**
   * The leader's name: reported by the up site in the highest term that
   * names one; null when none does.
   */
  leaderName(): string | null {
    let best: SiteState | undefined;
    for (const s of this.sites) {
      if (!s.up || s.reportedLeader === null || s.term === null) continue;
      if (best === undefined || s.term > best.term!) best = s;
    }
    return best?.reportedLeader ?? null;
  }

  /** The number of sites up. */
  upCount(): number {
    return this.sites.filter((s) => s.up).length;
  }

  /**
   * The site the next try of a request goes to (see {@link chooseSite}), or
   * undefined when every site is down or in `tried`.
   */
  pick(tried: ReadonlySet<SiteState>, preferLeader: boolean): SiteState | undefined {
    const leader = this.leaderName();
    const candidates = this.sites.map((s) => ({
      up: s.up,
      preferred: s.preferred,
      inFlight: s.inFlight,
      leader: leader !== null && s.name === leader,
      inTouch: s.inTouch,
    }));
    const i = chooseSite(candidates, (k) => tried.has(this.sites[k]), preferLeader, this.#cursor);
    if (i < 0) return undefined;
    this.#cursor = (i + 1) % this.sites.length;
    return this.sites[i];
  }

  /** Whether a site is up that is not in `tried`. */
  canPick(tried: ReadonlySet<SiteState>): boolean {
    return this.sites.some((s) => s.up && !tried.has(s));
  }

  /**
   * Marks `site` down after a forwarded request failed on it; its next good
   * poll brings it back. Logged when the site was up (or not yet seen).
   */
  markDown(site: SiteState, reason: string): void {
    site.up = false;
    site.lastError = reason;
    site.lastErrorAt = this.#now();
    if (this.#logged.get(site) === false) return;
    this.#logged.set(site, false);
    this.#log.warn("site down", { url: site.url, name: site.name ?? undefined, reason });
  }

  /** Marks `site` up after a good poll; logged when it was down (or not yet seen). */
  #markUp(site: SiteState): void {
    site.up = true;
    site.lastSeenAt = this.#now();
    if (this.#logged.get(site) === true) return;
    this.#logged.set(site, true);
    this.#log.info("site up", {
      url: site.url,
      name: site.name ?? undefined,
      role: site.role ?? undefined,
      term: site.term ?? undefined,
    });
  }

  /** The view `GET /v1/gateway` shows. */
  view() {
    const leader = this.leaderName();
    return {
      ledger: this.ledger ?? null,
      leader,
      sitesUp: this.upCount(),
      sites: this.sites.map((s) => ({
        url: s.url,
        name: s.name,
        up: s.up,
        preferred: s.preferred,
        leader: leader !== null && s.name === leader,
        inTouch: s.inTouch,
        role: s.role,
        term: s.term,
        height: s.height,
        inFlight: s.inFlight,
        streams: s.streams,
        lastError: s.lastError,
        lastErrorAt: s.lastErrorAt === null ? null : new Date(s.lastErrorAt).toISOString(),
        lastSeenAt: s.lastSeenAt === null ? null : new Date(s.lastSeenAt).toISOString(),
      })),
    };
  }

  #track(site: SiteState, poll: Promise<void>): Promise<void> {
    const p = poll.finally(() => this.#polls.delete(site));
    this.#polls.set(site, p);
    return p;
  }

  async #poll(site: SiteState): Promise<void> {
    this.#certificateRefused.delete(site);
    try {
      const res = await this.#fetch(`${site.url}/v1/status`, {
        headers: {
          accept: "application/json",
          via: this.#options.via,
          ...(this.#options.pollApiKey === undefined
            ? {}
            : { authorization: `Bearer ${this.#options.pollApiKey}` }),
        },
        signal: AbortSignal.any([
          AbortSignal.timeout(this.#options.pollTimeoutMs),
          this.#closing.signal,
        ]),
      });
      if (res.status !== 200) {
        await res.body?.cancel();
        return this.#down(site, `GET /v1/status answered ${res.status}`);
      }
      const parsed = StatusView.safeParse(await res.json());
      if (!parsed.success) return this.#down(site, "GET /v1/status answered no status");
      const status = parsed.data;
      // The name goes out in a header (X-Edgeledger-Site): one no header can
      // carry would make answering every request this site serves throw.
      if (!SITE_NAME.test(status.site)) {
        return this.markDown(
          site,
          `reports a site name no header can carry: ${JSON.stringify(status.site)}`,
        );
      }
      site.servedLedger = status.ledger;
      site.name = status.site;
      site.role = status.role;
      site.term = status.term;
      site.height = status.height;
      site.reportedLeader = status.leader;
      site.inTouch = inTouch(status);
      if (this.ledger !== undefined && status.ledger !== this.ledger) {
        return this.markDown(
          site,
          `serves ledger ${JSON.stringify(status.ledger)}, not ${JSON.stringify(this.ledger)}`,
        );
      }
      if (status.healthy === false) return this.markDown(site, "reports itself unhealthy");
      if (status.removed === true) return this.markDown(site, "was removed from the cluster");
      this.#markUp(site);
    } catch (e) {
      if (this.#closed) return;
      const err = e as Error;
      if (fetchFailure(e).certificate !== undefined) this.#certificateRefused.add(site);
      this.#down(
        site,
        err.name === "TimeoutError"
          ? `GET /v1/status took longer than ${this.#options.pollTimeoutMs} ms`
          : `GET /v1/status failed: ${siteFetchFailure(e)}`,
      );
    }
  }

  #down(site: SiteState, reason: string): void {
    site.servedLedger = null;
    this.markDown(site, reason);
  }

  /**
   * Whether every site's last poll failed on its TLS certificate: a
   * configuration to fix (`caFile`, or the sites' certificates), not sites
   * still starting.
   */
  everyCertificateRefused(): boolean {
    return this.sites.every((s) => this.#certificateRefused.has(s));
  }
}

/**
 * Why a request to a site failed, in one line, for the log and
 * `/v1/gateway`: Deno's reason (see {@link fetchFailure}: its bare `fetch
 * failed` says nothing), and for a certificate the gateway does not trust,
 * what to set — a site that is up but untrusted stays down until then.
 */
export function siteFetchFailure(e: unknown): string {
  const failure = fetchFailure(e);
  if (failure.unknownIssuer) {
    return `its TLS certificate is not trusted (${failure.certificate}): ` +
      "give the gateway the CA that signed it (caFile, --ca-file)";
  }
  if (failure.certificate !== undefined) {
    return `its TLS certificate is refused (${failure.certificate})`;
  }
  return failure.reason;
}

/** The ledger could not be learned: the message is one line. */
export class LedgerUnknownError extends Error {
  constructor(message: string, readonly disagreement: boolean) {
    super(message);
    this.name = "LedgerUnknownError";
  }
}

/**
 * Learns the ledger from the sites: polls them (every `pollIntervalMs`, for
 * at most `waitMs`) until at least one answers, then sets `pool.ledger` to
 * what the answering sites serve. Throws {@link LedgerUnknownError} when the
 * sites that answered disagree (`disagreement`), when none answered in
 * time, or at once when every site's TLS certificate was refused (waiting
 * would not change that). A site that answers later with another ledger is kept down.
 */
export async function resolveLedger(
  pool: SitePool,
  options: { waitMs: number; pollIntervalMs: number },
): Promise<string> {
  const deadline = performance.now() + options.waitMs;
  for (;;) {
    await pool.pollAll();
    const answered = pool.sites.filter((s) => s.servedLedger !== null);
    if (answered.length > 0) {
      const ledgers = new Set(answered.map((s) => s.servedLedger!));
      if (ledgers.size > 1) {
        const list = answered.map((s) => `${s.url} serves ${JSON.stringify(s.servedLedger)}`);
        throw new LedgerUnknownError(`The sites disagree on the ledger: ${list.join(", ")}`, true);
      }
      const [ledger] = ledgers;
      pool.ledger = ledger;
      return ledger;
    }
    const errors = () => pool.sites.map((s) => `${s.url}: ${s.lastError}`).join("; ");
    // Waiting would not help: the gateway trusts none of them.
    if (pool.everyCertificateRefused()) {
      throw new LedgerUnknownError(
        `No site's TLS certificate is trusted, so none can tell the ledger (${errors()})`,
        false,
      );
    }
    if (performance.now() >= deadline) {
      throw new LedgerUnknownError(
        `No site answered GET /v1/status within ${options.waitMs} ms (${errors()})`,
        false,
      );
    }
    await new Promise((r) =>
      setTimeout(r, Math.min(options.pollIntervalMs, deadline - performance.now()))
    );
  }
}
