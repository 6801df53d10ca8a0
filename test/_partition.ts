/**
 * Network partitions between the real site processes of a test cluster.
 *
 * Every directed link between two sites — A's connections to B — goes
 * through a route of its own of one fault proxy process
 * (`bench/_delay_proxy.ts`): each site's config names, in `peerUrls`, the
 * route it reaches each other site by, so a link is cut and healed without
 * touching the others. Clients (the tests) reach the sites directly, and
 * the log, `/v1/sites` and `leaderUrl` keep the sites' own URLs.
 *
 * What a cut of A→B means for the sites' messages: a site sends its Raft
 * messages to a peer on a stream it opens itself (`POST /raft/stream`,
 * one per peer) or, failing that, in `/raft/msg` requests of its own, and
 * the answer to either carries no Raft message back (a stream's answer
 * ends it; a request's is a bare 204). A follower's reply to A's append
 * travels on the follower's own stream to A. So cutting A→B loses exactly
 * the messages A sends to B — appends, heartbeats, votes and their
 * replies alike — and nothing B sends to A: a one-way partition at the
 * level of Raft messages. At the TCP level it is not one-way: both
 * directions of A's connections to B stop (acknowledgements, answers).
 * Exchanges that are a request and its answer go with the requester's
 * link: A's forwards of writes to B, and the blocks and state hashes A
 * fetches from B, fail as a whole when A→B is cut, and B's to A still
 * work.
 *
 * A cut is `silent` (a link that drops every packet: connections held
 * open, nothing moves, held bytes flow on once healed, as TCP's
 * retransmissions would deliver them), `reset` (connections closed,
 * new ones closed until healed) or `hang` (connections made keep working,
 * new ones are never connected through: lost SYNs); see the proxy's module
 * doc for what each does and does not model.
 *
 * Grey failures leave a link up but bad: {@link PartitionProxy.slow} gives
 * links a one-way delay and a seeded jitter (bytes stay in order), and
 * {@link PartitionProxy.thin} a rate in bytes per second. A heal restores
 * a link as started, whatever was done to it.
 *
 * Clients can be routed through the proxy too (`clients` at the start):
 * client `c` then reaches site `i` at {@link PartitionProxy.clientUrl} on a
 * route of its own, which {@link PartitionProxy.cutClients} cuts (the
 * client's requests and their answers stop; the site and its peers go on).
 *
 * @module
 */
import { type CutMode, DelayProxy } from "../bench/_delay_proxy.ts";

export type { CutMode };

/** A directed link: site `from`'s connections to site `to` (indexes into the cluster's sites). */
export type Link = readonly [from: number, to: number];

/** Client `client`'s connections to site `site` (when the proxy routes clients). */
export type ClientLink = readonly [client: number, site: number];

/** Both directions between every site of `a` and every site of `b`. */
export function linksBetween(a: readonly number[], b: readonly number[]): Link[] {
  const out: Link[] = [];
  for (const x of a) {
    for (const y of b) {
      if (x === y) continue;
      out.push([x, y], [y, x]);
    }
  }
  return out;
}

/** Every link of `n` sites: all cut, no site hears another. */
export function allLinks(n: number): Link[] {
  const sites = Array.from({ length: n }, (_, i) => i);
  return sites.flatMap((x) => sites.filter((y) => y !== x).map((y) => [x, y] as Link));
}

/** Site `i` cut off from the other `n - 1`, both ways. */
export function isolation(n: number, i: number): Link[] {
  assertSite(n, i);
  return linksBetween([i], Array.from({ length: n }, (_, j) => j).filter((j) => j !== i));
}

/**
 * The links that cross between `groups` (site indexes; each site in one
 * group at most), both ways: each group then hears only itself. A site in
 * no group keeps all its links (a bridge between groups).
 */
export function split(n: number, groups: ReadonlyArray<readonly number[]>): Link[] {
  const seen = new Set<number>();
  for (const g of groups) {
    for (const i of g) {
      assertSite(n, i);
      if (seen.has(i)) throw new RangeError(`Site ${i} is in two groups`);
      seen.add(i);
    }
  }
  const out: Link[] = [];
  for (let a = 0; a < groups.length; a++) {
    for (let b = a + 1; b < groups.length; b++) out.push(...linksBetween(groups[a], groups[b]));
  }
  return out;
}

/**
 * Jepsen's bridge: the sites other than `bridge` split into two halves (in
 * the order of their indexes, the first half no larger) that do not hear
 * each other; `bridge` hears both. With 5 sites each half and the bridge
 * make a majority.
 */
export function bridge(n: number, bridgeSite: number): Link[] {
  assertSite(n, bridgeSite);
  const others = Array.from({ length: n }, (_, j) => j).filter((j) => j !== bridgeSite);
  const half = Math.floor(others.length / 2);
  return split(n, [others.slice(0, half), others.slice(half)]);
}

/**
 * Jepsen's majorities ring: the sites in a ring (by index), each hearing
 * only its neighbours up to `reach` steps away, both ways; with 5 sites and
 * `reach` 1 each hears a majority (itself and two), and no two the same one.
 */
export function ring(n: number, reach = 1): Link[] {
  const out: Link[] = [];
  for (let x = 0; x < n; x++) {
    for (let y = 0; y < n; y++) {
      const d = Math.abs(x - y);
      if (x !== y && Math.min(d, n - d) > reach) out.push([x, y]);
    }
  }
  return out;
}

function assertSite(n: number, i: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError(`No site ${i} of ${n}`);
}

/** How {@link PartitionProxy.start} sets up its routes. */
export interface PartitionOptions {
  /** Delay of each direction of each route as started, ms (default 0). */
  oneWayMs?: number;
  /** Clients routed through the proxy, a route per client and site (default 0). */
  clients?: number;
  /** Seed of the routes' jitter draws (default 0). */
  seed?: number;
}

/**
 * A fault proxy with one route per directed link between `n` sites (see
 * the module doc), and per client and site when asked: start it before the
 * sites, give site `i`'s config {@link peerUrls}`(i, names)`, then cut,
 * slow, thin and heal links.
 */
export class PartitionProxy {
  readonly n: number;
  /** Clients with routes of their own to each site. */
  readonly clients: number;
  readonly #proxy: DelayProxy;
  /** Route of each link, `from * n + to`. */
  readonly #routes: number[];
  /** Links cut now, by route, with how. */
  readonly #cut = new Map<number, { link: Link; mode: CutMode }>();
  /** Links slowed or thinned now, by route, with how (for a failure's report). */
  readonly #shaped = new Map<number, { link: Link; how: string }>();

  private constructor(n: number, clients: number, proxy: DelayProxy, routes: number[]) {
    this.n = n;
    this.clients = clients;
    this.#proxy = proxy;
    this.#routes = routes;
  }

  /**
   * Starts the proxy process for sites listening on `sitePorts` (127.0.0.1):
   * a route per directed link between them, then one per client and site
   * (`options.clients`).
   */
  static async start(
    sitePorts: readonly number[],
    options: PartitionOptions = {},
  ): Promise<PartitionProxy> {
    const n = sitePorts.length;
    const clients = options.clients ?? 0;
    if (n < 2) throw new RangeError("Cannot partition fewer than two sites");
    if (!Number.isInteger(clients) || clients < 0) throw new RangeError(`${clients} clients`);
    const targets: number[] = [];
    const routes: number[] = new Array(n * n).fill(-1);
    for (const [from, to] of allLinks(n)) {
      routes[from * n + to] = targets.length;
      targets.push(sitePorts[to]);
    }
    for (let c = 0; c < clients; c++) targets.push(...sitePorts);
    const proxy = await DelayProxy.start(targets, options.oneWayMs ?? 0, options.seed ?? 0);
    return new PartitionProxy(n, clients, proxy, routes);
  }

  /** The proxy process's id (its CPU is its own). */
  get pid(): number {
    return this.#proxy.pid;
  }

  /** Where site `from` reaches site `to`: the link's own route. */
  url(from: number, to: number): string {
    return `http://127.0.0.1:${this.#proxy.ports[this.#route([from, to])]}`;
  }

  /** Where client `client` reaches site `site`: a route of its own. */
  clientUrl(client: number, site: number): string {
    return `http://127.0.0.1:${this.#proxy.ports[this.#clientRoute([client, site])]}`;
  }

  /** Site `i`'s `peerUrls`: every other site, by its name in `names`, at its link's route. */
  peerUrls(i: number, names: readonly string[]): Record<string, string> {
    assertSite(this.n, i);
    if (names.length !== this.n) throw new RangeError(`Need ${this.n} names, got ${names.length}`);
    return Object.fromEntries(names.flatMap((name, j) => j === i ? [] : [[name, this.url(i, j)]]));
  }

  /**
   * Cuts `links` all at once (`silent` by default, see the module doc);
   * resolves once the proxy has. A link cut already takes the new mode.
   */
  async cut(links: readonly Link[], mode: CutMode = "silent"): Promise<void> {
    const routes = links.map((l) => this.#route(l));
    await this.#proxy.cut(routes, mode);
    links.forEach((link, k) => this.#cut.set(routes[k], { link, mode }));
  }

  /**
   * Slows `links`: each chunk's one-way delay is `oneWayMs` plus a seeded
   * draw in `[0, jitterMs)`, in order (see the proxy's module doc); resolves
   * once the proxy has. Healing them restores the delay as started.
   */
  async slow(links: readonly Link[], oneWayMs: number, jitterMs = 0): Promise<void> {
    const routes = links.map((l) => this.#route(l));
    await this.#proxy.delay(routes, oneWayMs, jitterMs);
    links.forEach((link, k) =>
      this.#shaped.set(routes[k], { link, how: `${oneWayMs}+${jitterMs} ms` })
    );
  }

  /** Limits each direction of `links` to `bytesPerSecond` (0: no limit); resolves once the proxy has. */
  async thin(links: readonly Link[], bytesPerSecond: number): Promise<void> {
    const routes = links.map((l) => this.#route(l));
    await this.#proxy.rate(routes, bytesPerSecond);
    links.forEach((link, k) => this.#shaped.set(routes[k], { link, how: `${bytesPerSecond} B/s` }));
  }

  /** Cuts clients from sites (`[client, site]` pairs) all at once, as {@link cut} does links. */
  async cutClients(pairs: readonly ClientLink[], mode: CutMode = "silent"): Promise<void> {
    await this.#proxy.cut(pairs.map((p) => this.#clientRoute(p)), mode);
  }

  /** Heals clients' routes to sites (`[client, site]` pairs). */
  async healClients(pairs: readonly ClientLink[]): Promise<void> {
    await this.#proxy.heal(pairs.map((p) => this.#clientRoute(p)));
  }

  /**
   * Heals `links` (every route, clients' included, when omitted) all at
   * once: open again, shaped as started; resolves once the proxy has.
   */
  async heal(links?: readonly Link[]): Promise<void> {
    if (links === undefined) {
      await this.#proxy.heal();
      this.#cut.clear();
      this.#shaped.clear();
      return;
    }
    const routes = links.map((l) => this.#route(l));
    await this.#proxy.heal(routes);
    for (const r of routes) {
      this.#cut.delete(r);
      this.#shaped.delete(r);
    }
  }

  /** The links cut now. */
  get cutLinks(): Link[] {
    return [...this.#cut.values()].map((c) => c.link);
  }

  /** The links cut, slowed or thinned now, as text with the sites' `names`. */
  describeNow(names: readonly string[]): string {
    return [
      ...[...this.#cut.values()].map((c) =>
        `${PartitionProxy.describe([c.link], names)} cut ${c.mode}`
      ),
      ...[...this.#shaped.values()].map((c) =>
        `${PartitionProxy.describe([c.link], names)} ${c.how}`
      ),
    ].join(", ");
  }

  /** `links` as text, `a→b` with the sites' `names`. */
  static describe(links: readonly Link[], names: readonly string[]): string {
    return links.map(([f, t]) => `${names[f]}→${names[t]}`).join(" ");
  }

  /** Stops the proxy process. */
  async stop(): Promise<void> {
    await this.#proxy.stop();
  }

  #route([from, to]: Link): number {
    assertSite(this.n, from);
    assertSite(this.n, to);
    if (from === to) throw new RangeError(`No link from site ${from} to itself`);
    return this.#routes[from * this.n + to];
  }

  #clientRoute([client, site]: ClientLink): number {
    assertSite(this.n, site);
    if (!Number.isInteger(client) || client < 0 || client >= this.clients) {
      throw new RangeError(`No client ${client} of ${this.clients} routed through the proxy`);
    }
    return this.n * (this.n - 1) + client * this.n + site;
  }
}
