/**
 * A cluster of real site processes under a seeded schedule of faults while
 * clients write throughout: sites killed (SIGKILL) and restarted, frozen
 * (SIGSTOP, then SIGCONT: a host that stalls, or a link that drops
 * everything for a while), stopped gracefully and restarted, removed from
 * the membership while running and added back, leadership handed around,
 * site keys rotated, and the network partitioned while every site runs and
 * its clients keep writing to it — the leader cut off from the others, or
 * a follower, one link cut one way, a bridge (two sides that share one
 * site), and with five sites a majority/minority split and a majorities
 * ring; cut silently (packets dropped) or by resets — and grey failures:
 * a site's links slowed to 200–800 ms one way with a seeded jitter or
 * thinned to 16 KiB/s, one link's connects hung — one fault at a time,
 * so a majority of voters always runs and can reach each other.
 * Every link between the sites goes through a fault proxy
 * (`test/_partition.ts`); clients reach the sites directly.
 * Throughout, a linearizable read at another site sees a write once it is
 * acknowledged. While sites are cut off from the majority, none of them
 * acknowledges a write first sent to it after the cut, a linearizable read
 * there of a write the majority committed after the cut is refused or not
 * answered (never "not found"), and when the leader is among them the
 * majority elects another (the time it takes is reported, with the time
 * the cut-off leader took to step down). Then the cluster heals and the
 * checks are Raft's promises as a client sees them: every acknowledged
 * write is in the ledger exactly once, nothing is there that no client
 * sent, every site holds the same blocks and passes its own integrity
 * check, its state is what re-executing the chain gives, the sites' own
 * state checks (every 100 blocks here) never saw a difference, and
 * acknowledged writes verify with the light client against each site's
 * co-signed checkpoint.
 *
 * 20 seconds of faults in the default suite; a long soak:
 *
 *   SOAK_SECONDS=600 npx -y deno@2.9.6 test -A test/soak_test.ts
 *   SOAK_SEED=7 SOAK_SITES=5 …   replays a schedule, or runs five sites
 *   SOAK_GUARDED=1 …              sites guard their connections (2 s deadlines)
 *   SOAK_VERBOSE=1 …              each fault as it starts and ends, each write
 *                                 a cut-off site refused (why), then the faults
 *
 * The schedule is seeded (the processes are not: a failure is a lead to
 * replay, not a guaranteed repro); a failure prints the seed.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { type Envelope, transactionId } from "../sdk/envelope.ts";
import { EdgeLedgerClient } from "../sdk/client/client.ts";
import { LightClient } from "../sdk/light/light_client.ts";
import { trustConfigFromSites } from "../sdk/light/trust_config.ts";
import { parseVerifierKey } from "../sdk/note.ts";
import { type KeyRotation, retirementVerifies } from "../sdk/key_rotation.ts";
import { base64urlEncode } from "../sdk/encoding.ts";
import { loadSiteConfig } from "../src/site/config.ts";
import { CUT_OFF_DETAIL } from "../src/site/site.ts";
import { checkByReplay } from "../src/site/replay_check.ts";
import { filePathOf } from "../src/storage/db.ts";
import { anchorTx, envInt } from "./_helpers.ts";
import { mulberry32 } from "./raft_sim.ts";
import {
  bridge,
  type CutMode,
  isolation,
  type Link,
  PartitionProxy,
  ring,
  split,
} from "./_partition.ts";
import {
  blockHashes,
  getJson,
  startCluster,
  statuses,
  submitCommit,
  type TestCluster,
  transferLeadership,
  txIdsInLog,
  waitFor,
} from "./_cluster.ts";

const device = generateKeyPair("ed25519");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Fault =
  | "kill"
  | "freeze"
  | "restart"
  | "transfer"
  | "rejoin"
  | "rotate"
  | Partition
  | Grey;

/** The grey failures of the schedule ({@link grey}): links up but bad. */
type Grey = "slow" | "thin" | "hang";

/** The partitions of the schedule ({@link partition}); "split" and "ring" need five sites. */
type Partition = "isolate-leader" | "isolate" | "one-way" | "bridge" | "split" | "ring";

/** The soak's writes, as the partitions add to them and check them. */
interface Writes {
  /** Every transaction sent (before it leaves). */
  submitted: Set<string>;
  /** Every transaction acknowledged committed. */
  acked: Set<string>;
  /** The first try of each new envelope: where, when sent and answered (performance.now()), and whether committed. */
  firstTries: Array<{ site: string; sentAt: number; answeredAt: number; committed: boolean }>;
}

/** What the partitions saw, for the checks and the report. */
interface PartitionLog {
  /** Sites cut off from the majority, from the cut (applied) to the heal (asked), performance.now(). */
  windows: Array<{ sites: Set<string>; cutAt: number; healAt: number }>;
  /** Cut-off leader: ms from the cut to a leader of a later term among the others. */
  electionMs: number[];
  /** Cut-off leader: ms from the cut to it no longer saying it leads. */
  stepDownMs: number[];
  /** Linearizable reads at cut-off sites of a write the majority committed after the cut: the answer's status (0: none). */
  reads: Array<{ site: string; status: number }>;
  /** A write at the majority's leader during each partition: committed (within 8 s), and how long it took. */
  probes: Array<{ kind: Partition | Grey; committed: boolean; ms: number }>;
  /** Each grey failure: how many terms it raised, and whether the leader moved. */
  grey: Array<{ kind: Grey; termsRaised: number; leaderMoved: boolean }>;
}

/** Longest a majority may take to elect a leader once the old one is cut off, ms: liveness, not speed. */
const electionAfterCutMsMax = 15_000;

/** A random permutation of `0..n-1`. */
function shuffled(n: number, random: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/**
 * Partitions the network (see {@link Partition}) while every site runs and
 * the writers keep writing to all of them; resolves once healed. A
 * cut-off leader's successor is awaited and timed; then a write goes to the
 * majority's leader (timed: does the cluster still commit?), and when the
 * cut leaves sites without a majority, that write is read (linearizable)
 * at each of them.
 */
async function partition(
  cluster: TestCluster,
  kind: Partition,
  random: () => number,
  writes: Writes,
  log: PartitionLog,
): Promise<string> {
  const links = cluster.links!;
  const n = cluster.sites.length;
  const names = cluster.sites.map((s) => s.name);
  const mode: CutMode = random() < 2 / 3 ? "silent" : "reset";
  const pause = 300 + Math.floor(random() * 1700);
  const pick = Math.floor(random() * n);
  const order = shuffled(n, random);
  const st = await statuses(cluster);
  const leader = st.findIndex((s) => s?.role === "leader");
  const term = Math.max(0, ...st.map((s) => s?.term ?? 0));
  let cut: Link[];
  /** Sites left without a majority (they must acknowledge nothing new). */
  let minority: number[] = [];
  let what: string;
  switch (kind) {
    case "isolate-leader":
    case "isolate": {
      const i = kind === "isolate-leader" && leader >= 0 ? leader : pick;
      cut = isolation(n, i);
      minority = [i];
      what = `cut ${names[i]}${i === leader ? " (the leader)" : ""} off`;
      break;
    }
    case "one-way": {
      const [from, to] = order;
      cut = [[from, to]];
      what = `one way: ${names[from]} cannot send to ${names[to]}${
        from === leader ? " (from the leader)" : to === leader ? " (to the leader)" : ""
      }`;
      break;
    }
    case "bridge":
      cut = bridge(n, pick);
      what = `bridge through ${names[pick]}: ${PartitionProxy.describe(cut, names)}`;
      break;
    case "split": {
      minority = order.slice(0, Math.floor((n - 1) / 2));
      cut = split(n, [minority, order.slice(minority.length)]);
      what = `split ${minority.map((i) => names[i]).join(",")} | ${
        order.slice(minority.length).map((i) => names[i]).join(",")
      }`;
      break;
    }
    case "ring":
      // The ring in a random order of the sites.
      cut = ring(n).map(([f, t]) => [order[f], order[t]] as Link);
      what = `majorities ring ${order.map((i) => names[i]).join("-")}`;
      break;
  }
  await links.cut(cut, mode);
  const cutAt = performance.now();
  let detail = "";
  try {
    const majority = [...Array(n).keys()].filter((i) => !minority.includes(i));
    let writeTo: number | undefined;
    if (leader >= 0 && minority.includes(leader)) {
      // The majority elects another leader; the cut-off one steps down (CheckQuorum).
      const [down, elected] = await Promise.all([
        waitFor(`${names[leader]} to step down after "${what}"`, async () => {
          const s = await getJson<{ role: string }>(`${cluster.sites[leader].url}/v1/status`);
          return s !== undefined && s.role !== "leader" ? performance.now() - cutAt : undefined;
        }, electionAfterCutMsMax),
        waitFor(`a leader among the majority after "${what}"`, async () => {
          for (const i of majority) {
            const s = await getJson<{ role: string; term: number }>(
              `${cluster.sites[i].url}/v1/status`,
            );
            if (s?.role === "leader" && s.term > term) {
              return { index: i, ms: performance.now() - cutAt };
            }
          }
          return undefined;
        }, electionAfterCutMsMax),
      ]);
      log.electionMs.push(elected.ms);
      log.stepDownMs.push(down);
      writeTo = elected.index;
      detail += `, ${names[elected.index]} led after ${Math.round(elected.ms)} ms, ${
        names[leader]
      } stepped down after ${Math.round(down)} ms`;
    } else {
      // The leader of the latest term among the majority, if one says it leads.
      const now = await statuses(cluster);
      const leading = majority.filter((i) => now[i]?.role === "leader")
        .sort((a, b) => now[b]!.term - now[a]!.term);
      writeTo = leading[0] ?? majority[0];
    }
    // A write at the majority's leader: whether the cluster still commits, and
    // (when sites are cut off) one they must not read as absent.
    const x = await anchorTx(device);
    const xId = transactionId(x);
    writes.submitted.add(xId);
    const sentAt = performance.now();
    const r = await submitCommit(cluster.sites[writeTo].url, x, 8000);
    const committed = r.status === 200 && r.body?.status === "committed";
    const ms = performance.now() - sentAt;
    log.probes.push({ kind, committed, ms });
    detail += committed
      ? `, a write at ${names[writeTo]} committed in ${Math.round(ms)} ms`
      : `, a write at ${names[writeTo]}: ${r.status} ${r.body?.status ?? ""}`;
    if (committed) writes.acked.add(xId);
    if (committed && minority.length > 0) {
      // Read while the cut lasts; what is not answered by the heal counts as no answer.
      const healing = new AbortController();
      const reads = Promise.all(minority.map(async (i) => {
        const res = await fetch(
          `${cluster.sites[i].url}/v1/txs/${xId}?consistency=linearizable`,
          { signal: healing.signal },
        ).catch(() => undefined);
        await res?.body?.cancel().catch(() => {});
        return { site: names[i], status: res?.status ?? 0 };
      }));
      await sleep(pause);
      healing.abort();
      const got = await reads;
      log.reads.push(...got);
      detail += `, linearizable reads there: ${got.map((x) => x.status).join(", ")}`;
    } else {
      await sleep(pause);
    }
  } finally {
    const healAt = performance.now();
    if (minority.length > 0) {
      log.windows.push({ sites: new Set(minority.map((i) => names[i])), cutAt, healAt });
    }
    await links.heal();
    detail = ` (${mode}) for ${Math.round(healAt - cutAt)} ms` + detail;
  }
  return what + detail;
}

/**
 * A grey failure while every site runs and the writers keep writing, then
 * healed: `slow`, a site's links (both ways) 200–400 ms one way plus up to
 * 600 ms of seeded jitter (bytes in order); `thin`, a site's links limited
 * to 16 KiB/s; `hang`, one link's connections reset and its new ones hung
 * (never connected through). Each holds 1–4 s, during which a write goes
 * to the leader (timed, as for the partitions); the terms it raised and
 * whether the leader moved are logged.
 */
async function grey(
  cluster: TestCluster,
  kind: Grey,
  random: () => number,
  writes: Writes,
  log: PartitionLog,
): Promise<string> {
  const links = cluster.links!;
  const n = cluster.sites.length;
  const names = cluster.sites.map((s) => s.name);
  const holdMs = 1000 + Math.floor(random() * 3000);
  const i = Math.floor(random() * n);
  const order = shuffled(n, random);
  const before = await statuses(cluster);
  const leader = before.findIndex((s) => s?.role === "leader");
  const term = Math.max(0, ...before.map((s) => s?.term ?? 0));
  const role = (k: number) => k === leader ? " (the leader)" : "";
  let what: string;
  if (kind === "slow") {
    const oneWayMs = 200 + Math.floor(random() * 200);
    const jitterMs = Math.floor(random() * 600);
    await links.slow(isolation(n, i), oneWayMs, jitterMs);
    what = `slowed ${names[i]}${role(i)} to ${oneWayMs}–${oneWayMs + jitterMs} ms one way`;
  } else if (kind === "thin") {
    await links.thin(isolation(n, i), 16 * 1024);
    what = `thinned ${names[i]}${role(i)} to 16 KiB/s`;
  } else {
    const [from, to] = order;
    await links.cut([[from, to]], "reset");
    await links.cut([[from, to]], "hang");
    what = `hung ${names[from]}${role(from)}'s connects to ${names[to]}${role(to)}`;
  }
  const startedAt = performance.now();
  let detail = "";
  try {
    const x = await anchorTx(device);
    writes.submitted.add(transactionId(x));
    const writeTo = leader >= 0 ? leader : 0;
    const r = await submitCommit(cluster.sites[writeTo].url, x, 8000);
    const committed = r.status === 200 && r.body?.status === "committed";
    const ms = performance.now() - startedAt;
    log.probes.push({ kind, committed, ms });
    if (committed) writes.acked.add(transactionId(x));
    detail = committed
      ? `, a write at ${names[writeTo]} committed in ${Math.round(ms)} ms`
      : `, a write at ${names[writeTo]}: ${r.status} ${r.body?.status ?? ""}`;
    await sleep(Math.max(0, holdMs - (performance.now() - startedAt)));
  } finally {
    await links.heal();
  }
  const after = await statuses(cluster);
  const termNow = Math.max(0, ...after.map((s) => s?.term ?? 0));
  const leaderNow = after.findIndex((s) => s?.role === "leader");
  log.grey.push({ kind, termsRaised: termNow - term, leaderMoved: leaderNow !== leader });
  return `${what} for ${
    Math.round(performance.now() - startedAt)
  } ms${detail}; terms ${term} → ${termNow}`;
}

/** Runs one fault on a site of `cluster` chosen by `random`; resolves once it has healed. */
async function fault(
  cluster: TestCluster,
  kind: Fault,
  random: () => number,
  writes: Writes,
  log: PartitionLog,
): Promise<string> {
  if (
    kind === "isolate-leader" || kind === "isolate" || kind === "one-way" || kind === "bridge" ||
    kind === "split" || kind === "ring"
  ) {
    return await partition(cluster, kind, random, writes, log);
  }
  if (kind === "slow" || kind === "thin" || kind === "hang") {
    return await grey(cluster, kind, random, writes, log);
  }
  const i = Math.floor(random() * cluster.sites.length);
  const site = cluster.sites[i];
  const pause = 300 + Math.floor(random() * 1700);
  switch (kind) {
    case "kill":
      await cluster.kill(i, "SIGKILL");
      await sleep(pause);
      await cluster.start(i);
      return `SIGKILL ${site.name}, restarted after ${pause} ms`;
    case "freeze":
      site.proc.kill("SIGSTOP");
      await sleep(pause);
      site.proc.kill("SIGCONT");
      return `SIGSTOP ${site.name} for ${pause} ms`;
    case "restart":
      await cluster.kill(i, "SIGTERM");
      await cluster.start(i);
      return `SIGTERM ${site.name}, restarted`;
    case "transfer": {
      const leader = (await statuses(cluster)).findIndex((s) => s?.role === "leader");
      if (leader < 0) return `leadership to ${site.name}: no leader to ask`;
      const res = await transferLeadership(cluster, leader, site.name).catch(() => undefined);
      // 409 when it leads already, or cannot take over now: a fault that did not happen.
      const text = (await res?.text()) ?? "";
      let why = res === undefined ? " no answer" : "";
      try {
        if (res !== undefined && !res.ok) why = ` ${JSON.parse(text).detail}`;
      } catch { /* not a problem document */ }
      return `leadership to ${site.name}: ${res?.status ?? 0}${why}`;
    }
    case "rejoin":
      return await removeAndAddBack(cluster, i);
    case "rotate": {
      // Any member rotates its own key; a 504 may still take effect, a 409 did not happen.
      const res = await fetch(`${site.url}/v1/admin/site-key`, {
        method: "POST",
        headers: { authorization: `Bearer ${cluster.adminKey}` },
      }).catch(() => undefined);
      const answer = res === undefined ? undefined : await res.json().catch(() => ({}));
      return `rotate ${site.name}'s key: ${res?.status ?? 0}${
        res?.ok ? ` ${answer.previous} → ${answer.publicKey}` : ` ${answer?.detail ?? "no answer"}`
      }`;
    }
  }
}

/** The Ed25519 key (base64url) in a verifier key `name+hash+base64(0x01 ‖ key)`. */
function keyOfVerifier(verifierKey: string): string {
  return base64urlEncode(parseVerifierKey(verifierKey).publicKey);
}

/** Asks the leader (found, or named by a `not_leader` answer) for an admin change; its answer. */
async function leaderAdmin(
  cluster: TestCluster,
  path: string,
  method: string,
  body?: unknown,
): Promise<{ status: number; detail?: string }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const leader = (await statuses(cluster)).find((s) => s?.role === "leader");
    const url = cluster.sites.find((s) => s.name === leader?.site)?.url;
    if (url !== undefined) {
      const res = await fetch(`${url}/v1/admin${path}`, {
        method,
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${cluster.adminKey}`,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).catch(() => undefined);
      if (res !== undefined) {
        const answer = await res.json().catch(() => ({}));
        // Leadership moved meanwhile: ask the new leader.
        if (!String(answer.type ?? "").endsWith("/not_leader")) {
          return { status: res.status, detail: answer.detail };
        }
      }
    }
    await sleep(100);
  }
  throw new Error(`No leader took ${method} ${path}`);
}

/**
 * Removes site `i` from the cluster while it runs, waits until it says it
 * was removed, adds it back as a learner (same name, key and URL), and
 * promotes it once it caught up: a removed site takes part again.
 */
async function removeAndAddBack(cluster: TestCluster, i: number): Promise<string> {
  const site = cluster.sites[i];
  /** The leader's view of `site`: "voter", "learner" or "none". */
  const membership = async () => {
    const st = (await statuses(cluster)).find((s) => s?.role === "leader") as
      | { voters?: string[]; learners?: string[] }
      | undefined;
    if (st === undefined) return undefined;
    return st.voters?.includes(site.name)
      ? "voter"
      : st.learners?.includes(site.name)
      ? "learner"
      : "none";
  };
  // A 200 means applied on the leader: the site must leave. A 504 (proposed,
  // not applied in time) may take effect or be undone by a new leader: what
  // counts is the membership, and the removal is asked again if it stayed.
  // Added back with the key it has (rotated, maybe: the log's, not genesis's).
  const listed = await getJson<{ sites: Array<{ name: string; verifierKey: string }> }>(
    `${site.url}/v1/sites`,
  );
  const own = listed?.sites.find((s) => s.name === site.name);
  if (own === undefined) return `remove ${site.name}: it does not list itself as a member`;
  const publicKey = keyOfVerifier(own.verifierKey);
  const answers: number[] = [];
  for (let attempt = 0; (await membership()) !== "none"; attempt++) {
    if (attempt === 5) return `remove ${site.name}: not removed (${answers.join(", ")})`;
    const removal = await leaderAdmin(cluster, `/members/${site.name}`, "DELETE");
    answers.push(removal.status);
    if (removal.status === 409) return `remove ${site.name}: 409 ${removal.detail}`;
    const out = await waitFor(`${site.name} out of the membership`, async () => {
      return (await membership()) === "none" || undefined;
    }, removal.status === 200 ? 15_000 : 5_000).catch((e) => {
      if (removal.status === 200) throw e;
      return false;
    });
    if (out) break;
  }
  await waitFor(`${site.name} to say it was removed`, async () => {
    const st = await getJson<{ removed?: boolean }>(`${site.url}/v1/status`);
    return st?.removed === true || undefined;
  }, 15_000);
  await waitFor(`${site.name} added back`, async () => {
    const now = await membership();
    if (now === undefined) return undefined; // an election: ask again
    if (now !== "none") return true;
    await leaderAdmin(cluster, "/members", "POST", { name: site.name, url: site.url, publicKey });
    return undefined;
  }, 30_000);
  // Promoted once caught up: the leader refuses (409) until then.
  await waitFor(`${site.name} promoted`, async () => {
    if ((await membership()) === "voter") return true;
    await leaderAdmin(cluster, `/members/${site.name}/promote`, "POST");
    return undefined;
  }, 30_000);
  await waitFor(`${site.name} to take part again`, async () => {
    const st = await getJson<{ removed?: boolean }>(`${site.url}/v1/status`);
    return (st !== undefined && st.removed === undefined) || undefined;
  }, 15_000);
  return `removed ${site.name} (${answers.join(", ")}), added it back, promoted`;
}

Deno.test({
  name:
    "soak: under kills, freezes, restarts, removals and re-additions, leadership transfers, key rotations, network partitions and grey failures (slow, thin and hung links), one at a time, every acknowledged write is in the ledger exactly once, nothing else is, no site cut off from the majority acknowledges a new write or answers a linearizable read, every site holds the same blocks, and receipts verify against each site's checkpoint",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const seconds = envInt("SOAK_SECONDS") ?? 20;
    const seed = envInt("SOAK_SEED") ?? Math.floor(Math.random() * 1_000_000);
    const sites = envInt("SOAK_SITES") ?? 3;
    const random = mulberry32(seed);
    // Sites that guard their connections, with deadlines short enough to meet the faults.
    const guarded = Deno.env.get("SOAK_GUARDED") === "1";
    const verbose = Boolean(Deno.env.get("SOAK_VERBOSE"));
    const repro = `SOAK_SEED=${seed} SOAK_SITES=${sites} SOAK_SECONDS=${seconds}` +
      (guarded ? " SOAK_GUARDED=1" : "");
    const cluster = await startCluster(
      sites,
      {
        snapshotEntriesMin: 200,
        compactKeepEntries: 50,
        // The state check runs throughout, through every fault: it must never see a difference.
        stateCheckBlocks: 100,
        ...(guarded
          ? {
            clientConnections: {
              headersTimeoutMs: 2000,
              idleTimeoutMs: 2000,
              keepAliveTimeoutMs: 2000,
            },
          }
          : {}),
      },
      [],
      { partitions: { seed } },
    );
    const writes: Writes = { submitted: new Set(), acked: new Set(), firstTries: [] };
    const { submitted, acked } = writes;
    const partitions: PartitionLog = {
      windows: [],
      electionMs: [],
      stepDownMs: [],
      reads: [],
      probes: [],
      grey: [],
    };
    const done: string[] = [];
    let stop = false;
    try {
      await waitFor("a leader", async () => {
        const st = await statuses(cluster);
        return st.some((s) => s?.role === "leader") || undefined;
      });
      // Each writer retries an unacknowledged envelope at other sites (the
      // transaction id makes a resubmission idempotent) before a new one.
      /** Linearizable reads of acknowledged writes: answered, and the ones that missed the write. */
      let readsAnswered = 0;
      const readsMissed: string[] = [];
      const readBack = async (site: TestCluster["sites"][number], txId: string) => {
        if (!site.alive) return;
        const res = await fetch(`${site.url}/v1/txs/${txId}?consistency=linearizable`, {
          signal: AbortSignal.timeout(5000),
        }).catch(() => undefined);
        // 503 (no quorum now, a removed site) or no answer (a frozen one): no answer to judge.
        if (res?.status === 200) readsAnswered++;
        if (res?.status === 404) readsMissed.push(`${site.name} missed ${txId}`);
        await res?.body?.cancel();
      };
      /**
       * The fault under way when a site refused a write for want of a
       * leader it can reach (503: it hears none, or cannot reach the one it
       * hears), and how often: such refusals belong to faults that cut sites off, not
       * to ones that only slow or restart them.
       */
      let faultNow = "before the first fault";
      /** With SOAK_VERBOSE=1: a line as it happens, seconds from the start. */
      const started = performance.now();
      const trace = (line: string) => {
        if (!verbose) return;
        console.log(`  [${((performance.now() - started) / 1000).toFixed(2)} s] ${line}`);
      };
      const cutOffRefusals = new Map<string, number>();
      const writers = Array.from({ length: 8 }, async (_, w) => {
        let k = w;
        while (!stop) {
          const env: Envelope = await anchorTx(device);
          // Before it leaves: an answer lost with a killed site may hide a commit.
          submitted.add(transactionId(env));
          let tried = false;
          for (let attempt = 0; attempt < 6 && !stop; attempt++) {
            const site = cluster.sites[k++ % cluster.sites.length];
            if (!site.alive) continue;
            const sentAt = performance.now();
            const r = await submitCommit(site.url, env, 4000);
            const committed = r.status === 200 && r.body?.status === "committed";
            // Its first try: no site can know of it before.
            if (!tried) {
              writes.firstTries.push({
                site: site.name,
                sentAt,
                answeredAt: performance.now(),
                committed,
              });
              tried = true;
            }
            const why = r.status !== 503 || typeof r.body?.detail !== "string"
              ? undefined
              : r.body.detail.includes(CUT_OFF_DETAIL.leaderless)
              ? "no leader"
              : r.body.detail.includes(CUT_OFF_DETAIL.leaderUnreachable)
              ? "leader unreachable"
              : undefined;
            if (why !== undefined) {
              trace(`${site.name} refused a write (${faultNow}): ${r.body.detail}`);
              const key = `${faultNow}: ${why}`;
              cutOffRefusals.set(key, (cutOffRefusals.get(key) ?? 0) + 1);
            }
            if (committed) {
              acked.add(r.body.txId);
              // Linearizable: a read at another site, once it answers, sees the write.
              if (acked.size % 4 === 0) {
                await readBack(cluster.sites[k % cluster.sites.length], r.body.txId);
              }
              break;
            }
            await sleep(50);
          }
        }
      });
      const faults: Fault[] = [
        "kill",
        "freeze",
        "restart",
        "transfer",
        "rejoin",
        "rotate",
        "isolate-leader",
        "isolate",
        "one-way",
        "bridge",
        "slow",
        "thin",
        "hang",
        // With three sites a split is an isolation, and a ring cuts nothing.
        ...(sites >= 5 ? ["split", "ring"] as const : []),
      ];
      const until = Date.now() + seconds * 1000;
      while (Date.now() < until) {
        const before = acked.size;
        const kind = faults[Math.floor(random() * faults.length)];
        faultNow = kind;
        trace(`${kind} starts`);
        done.push(await fault(cluster, kind, random, writes, partitions));
        trace(`${kind} ended: ${done.at(-1)}`);
        faultNow = `after ${kind}`;
        // Writes go on between faults: the cluster recovers from each.
        await waitFor(
          `writes acknowledged after "${done.at(-1)}" (${repro})`,
          () => Promise.resolve(acked.size >= before + 10 || undefined),
          30_000,
        );
      }
      stop = true;
      await Promise.all(writers);
      assert.deepEqual(
        readsMissed,
        [],
        `linearizable reads that missed a committed write (${repro})`,
      );
      assert.ok(readsAnswered > 0, "no linearizable read was answered");
      // Cut off from the majority, a site acknowledged no write first sent to it after the cut
      // (no site but it could know of one), and answered no linearizable read of the majority's.
      const duringCut = (a: Writes["firstTries"][number]) =>
        partitions.windows.some((w) =>
          w.sites.has(a.site) && a.sentAt > w.cutAt && a.sentAt < w.healAt
        );
      const cutOff = writes.firstTries.filter(duringCut);
      const ackedCutOff = cutOff.filter((a) =>
        a.committed &&
        partitions.windows.some((w) =>
          w.sites.has(a.site) && a.sentAt > w.cutAt && a.answeredAt < w.healAt
        )
      );
      assert.deepEqual(
        ackedCutOff,
        [],
        `writes a site cut off from the majority acknowledged before the heal (${repro})`,
      );
      const readsAnsweredCutOff = partitions.reads.filter((r) => ![0, 503, 504].includes(r.status));
      assert.deepEqual(
        readsAnsweredCutOff,
        [],
        `linearizable reads a site cut off from the majority answered (${repro})`,
      );
      const t0 = Date.now();
      const phase = (what: string) => console.log(`  ${what} after ${Date.now() - t0} ms`);

      // Healed: every site at one height with the same blocks.
      await waitFor(`sites to converge (${repro})`, async () => {
        const heights = (await statuses(cluster)).map((s) => s?.height);
        return heights.every((h) => h !== undefined && h === heights[0]) || undefined;
      }, 60_000);
      phase("converged");
      const hashes = await Promise.all(cluster.sites.map((s) => blockHashes(s.url)));
      for (const [i, h] of hashes.entries()) {
        assert.deepEqual(h, hashes[0], `${cluster.sites[i].name}'s blocks (${repro})`);
      }
      const ids = await txIdsInLog(cluster.sites[0].url);
      const genesisIds = new Set(
        (await getJson<{ txIds: string[] }>(`${cluster.sites[0].url}/v1/blocks/0`))!.txIds,
      );
      const counts = new Map<string, number>();
      for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
      for (const id of acked) {
        assert.equal(
          counts.get(id),
          1,
          `acknowledged ${id} is in the log ${counts.get(id) ?? 0} times (${repro})`,
        );
      }
      assert.equal(new Set(ids).size, ids.length, `no transaction is in the log twice (${repro})`);
      const strangers = ids.filter((id) => !submitted.has(id) && !genesisIds.has(id));
      assert.deepEqual(strangers, [], `transactions no client sent (${repro})`);
      for (const s of cluster.sites) {
        // It re-executes the whole chain: minutes for a long soak's.
        const res = await fetch(`${s.url}/v1/integrity`, { signal: AbortSignal.timeout(600_000) });
        const integrity = await res.json();
        assert.equal(integrity.ok, true, `${s.name}: ${JSON.stringify(integrity)} (${repro})`);
      }
      // Each site's state is what re-executing the chain gives (with the faults, restarts and
      // snapshot installs it went through, it was applied in very different ways).
      for (const s of cluster.sites) {
        const { genesis, dbUrl } = await loadSiteConfig(s.configPath);
        const report = await checkByReplay({ dbPath: filePathOf(dbUrl)!, genesis });
        assert.equal(report.ok, true, `${s.name}: ${report.firstMismatch} (${repro})`);
      }
      // The sites' own state checks agreed all along, and every site hashed
      // (a restart keeps what a site hashed and found).
      const checked: number[] = [];
      let agreed = 0;
      for (const s of cluster.sites) {
        const st = await getJson<{ stateDivergence?: unknown[] }>(`${s.url}/v1/status`);
        assert.deepEqual(st?.stateDivergence, undefined, `${s.name}'s state check (${repro})`);
        const metrics = await (await fetch(`${s.url}/metrics`)).text();
        checked.push(Number(/^edgeledger_state_check_height (\d+)$/m.exec(metrics)?.[1]));
        agreed += Number(
          /^edgeledger_state_comparisons_total\{result="agreed"\} (\d+)$/m.exec(metrics)?.[1],
        );
      }
      assert.ok(Math.min(...checked) >= 100, `state hashed at ${checked} (${repro})`);
      assert.ok(agreed > 0, `no state hashes were compared (${repro})`);
      phase("checked the log, integrity and state");
      // Every site lists the same keys (rotated ones included); light clients trust those.
      const lists = await Promise.all(
        cluster.sites.map((s) =>
          getJson<{ sites: Array<{ name: string; verifierKey: string }> }>(`${s.url}/v1/sites`)
        ),
      );
      const keys = (l: (typeof lists)[number]) =>
        JSON.stringify(l!.sites.map((x) => [x.name, x.verifierKey]).sort());
      for (const l of lists) assert.equal(keys(l), keys(lists[0]), `site keys (${repro})`);
      const genesis = JSON.parse(await Deno.readTextFile(`${cluster.dir}/genesis.json`));
      const rotatedNow = lists[0]!.sites.filter((x) =>
        keyOfVerifier(x.verifierKey) !==
          genesis.sites.find((g: { name: string }) => g.name === x.name)?.publicKey
      ).map((x) => x.name);
      // A rotation answered 200 took effect: that site no longer has its genesis key.
      for (const d of done) {
        const m = /^rotate (\S+)'s key: 200 /.exec(d);
        if (m) assert.ok(rotatedNow.includes(m[1]), `${m[1]} kept its genesis key (${repro})`);
      }
      // Each key a site retired has its last height signed by a later key of
      // that site (tried again until it is in the log), the same on every site.
      type Keys = {
        rotations: KeyRotation[];
        retired: Array<
          { verifierKey: string; untilHeight: number; signer?: string; signature?: string }
        >;
      };
      await waitFor("every retired key's last height signed on every site", async () => {
        for (const name of rotatedNow) {
          const all = await Promise.all(
            cluster.sites.map((s) => getJson<Keys>(`${s.url}/v1/sites/${name}/keys`)),
          );
          for (const k of all) {
            if (JSON.stringify(k) !== JSON.stringify(all[0])) return undefined;
            for (const r of k!.retired) {
              const publicKey = keyOfVerifier(r.verifierKey);
              if (r.signer === undefined || r.signature === undefined) return undefined;
              const ok = retirementVerifies(name, {
                publicKey,
                untilHeight: r.untilHeight,
                signer: r.signer,
                signature: r.signature,
              }, k!.rotations);
              assert.ok(ok, `${name}'s retirement ${JSON.stringify(r)} does not verify (${repro})`);
            }
          }
        }
        return true;
      }, 20_000);
      const trust = trustConfigFromSites(lists[0]!.sites, { origin: genesis.origin });
      const sample = [...acked].filter((_, n) => n % Math.max(1, Math.floor(acked.size / 5)) === 0);
      for (const s of cluster.sites) {
        const light = new LightClient({
          source: new EdgeLedgerClient({ urls: [s.url] }),
          ...trust,
        });
        for (const id of sample) {
          const v = await light.verify(id);
          assert.equal(v.ok, true, `${s.name}, ${id}: ${v.message} (${repro})`);
        }
      }
      phase("verified");
      const maxTerm = Math.max(...(await statuses(cluster)).map((s) => s?.term ?? 0));
      /** The median and the largest of `xs`, ms. */
      const spread = (xs: number[]) => {
        const sorted = [...xs].sort((a, b) => a - b);
        return `median ${Math.round(sorted[Math.floor((sorted.length - 1) / 2)])} ms, max ${
          Math.round(sorted[sorted.length - 1])
        } ms`;
      };
      const led = partitions.electionMs.length;
      console.log(
        `  partitions: ${partitions.windows.length} left sites without a majority: ${cutOff.length} new writes sent to them then, none acknowledged before the heal; ${partitions.reads.length} linearizable reads there, each refused or unanswered` +
          (led === 0
            ? "; no leader was cut off"
            : `; ${led} cut the leader off: a new one led after ${
              spread(partitions.electionMs)
            }; the old one stepped down after ${spread(partitions.stepDownMs)}`),
      );
      const kinds = [...new Set(partitions.probes.map((p) => p.kind))];
      console.log(
        `  a write at the majority's leader during each partition or grey failure committed in: ${
          kinds.map((k) => {
            const all = partitions.probes.filter((p) => p.kind === k);
            const ok = all.filter((p) => p.committed).map((p) => p.ms);
            return `${k} ${ok.length} of ${all.length}` + (ok.length > 0 ? ` (${spread(ok)})` : "");
          }).join("; ")
        }`,
      );
      const greyKinds = [...new Set(partitions.grey.map((g) => g.kind))];
      console.log(
        `  grey failures: ${
          greyKinds.map((k) => {
            const all = partitions.grey.filter((g) => g.kind === k);
            return `${k} ${all.length} (terms raised ${
              all.map((g) => g.termsRaised).join(",")
            }; leader moved ${all.filter((g) => g.leaderMoved).length})`;
          }).join("; ") || "none"
        }`,
      );
      console.log(
        `  ${repro}: ${done.length} faults, ${acked.size} acknowledged writes (${submitted.size} submitted), ${readsAnswered} linearizable reads of them, ${ids.length} transactions in ${
          hashes[0].length
        } blocks, term ${maxTerm}, keys rotated on ${rotatedNow.join(", ") || "no site"}, ${
          cluster.sites.reduce((n, s) => n + s.snapshotsInstalled, 0)
        } snapshot installs`,
      );
      console.log(
        `  writes refused by a site that could not have them ordered: ${
          [...cutOffRefusals].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, n]) => `${k} ${n}`)
            .join("; ") || "none"
        }`,
      );
      if (verbose) { for (const d of done) console.log(`    ${d}`); }
    } catch (e) {
      console.error(`soak failed: ${repro}\n${done.length} faults:\n  ${done.join("\n  ")}`);
      const cut = cluster.links?.cutLinks ?? [];
      if (cut.length > 0) {
        console.error(
          `links cut: ${PartitionProxy.describe(cut, cluster.sites.map((s) => s.name))}`,
        );
      }
      const st = await statuses(cluster).catch(() => []);
      console.error(JSON.stringify(st));
      // A site that does not answer: what it said last.
      cluster.sites.forEach((s, i) => {
        if (st[i] !== undefined) return;
        const tail = s.stderr.trimEnd().split("\n").slice(-30).join("\n");
        console.error(`${s.name} (${s.alive ? "running" : "not running"}) said last:\n${tail}`);
      });
      throw e;
    } finally {
      stop = true;
      await cluster.links?.heal().catch(() => {});
      for (const s of cluster.sites) {
        try {
          s.proc.kill("SIGCONT");
        } catch { /* not running */ }
      }
      await cluster.stop();
    }
  },
});
