/**
 * Network partitions between real site processes: every link between the
 * sites goes through a fault proxy (`test/_partition.ts`), clients reach
 * the sites directly.
 *
 * A leader cut off both ways keeps its clients; CheckQuorum must make it
 * step down, the majority must elect another and commit, the old leader
 * must acknowledge no write and answer no linearizable read, and once
 * healed its uncommitted entry must be gone and every site must hold the
 * same blocks. A write the cut-off leader admitted (202 `pending`) is held
 * by that site and commits once it reaches a leader again, exactly once,
 * as `POST /v1/txs` promises of an admitted transaction; once the cut-off
 * site has known no leader for four election timeouts it refuses new writes
 * (503), and takes them again once healed. A one-way cut
 * (the leader cannot send to a follower, or a follower to the leader)
 * must not stop the majority: PreVote keeps the follower that no longer
 * hears the leader from raising its term, and the leader goes on.
 *
 *   CLUSTER_LOG=1 npx -y deno@2.9.6 test -A test/partition_test.ts
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { type Envelope, transactionId } from "../sdk/envelope.ts";
import { EdgeLedgerClient } from "../sdk/client/mod.ts";
import { anchorTx } from "./_helpers.ts";
import {
  blockHashes,
  getJson,
  leaderIndex,
  startCluster,
  statuses,
  submitCommit,
  type TestCluster,
  txIdsInLog,
  waitFor,
} from "./_cluster.ts";
import {
  allLinks,
  bridge,
  isolation,
  linksBetween,
  PartitionProxy,
  ring,
  split,
} from "./_partition.ts";

const device = generateKeyPair("ed25519");

/** The sites' Raft timing here (startCluster's): 50 ms ticks, elections after 10–19 ticks. */
const tickMs = 50;
const electionTicks = 10;
const electionMsMax = 2 * electionTicks * tickMs;

type Status = {
  role: string;
  term: number;
  leader: string | null;
  height: number;
  commitIndex: number;
  pendingTxs?: number;
  peers?: Record<string, { match: number }>;
  leaderlessMs?: number;
};

const statusOf = (cluster: TestCluster, i: number) =>
  getJson<Status>(`${cluster.sites[i].url}/v1/status`, 1000);

/** Waits until every site is at one height with the same block hashes; those hashes. */
async function converged(cluster: TestCluster): Promise<string[]> {
  return await waitFor("the sites to hold the same blocks", async () => {
    const heights = (await statuses(cluster)).map((s) => s?.height);
    if (!heights.every((h) => h !== undefined && h === heights[0])) return undefined;
    const hashes = await Promise.all(cluster.sites.map((s) => blockHashes(s.url)));
    return hashes.every((h) => JSON.stringify(h) === JSON.stringify(hashes[0]))
      ? hashes[0]
      : undefined;
  }, 30_000);
}

/** The term of the block holding `txId` at `url`, if it is there. */
async function termOfBlockWith(url: string, txId: string): Promise<number | undefined> {
  for (let from = 0;;) {
    const page = await getJson<
      { blocks: Array<{ header: { term: number }; txIds: string[] }>; next: number | null }
    >(`${url}/v1/blocks?from=${from}&limit=1000`, 10_000);
    if (page === undefined) throw new Error(`Cannot read blocks from ${url}`);
    const b = page.blocks.find((b) => b.txIds.includes(txId));
    if (b !== undefined) return b.header.term;
    if (page.next === null) return undefined;
    from = page.next;
  }
}

/**
 * Runs `body` on a 3-site cluster whose peer links go through the fault
 * proxy; prints the sites' logs if it fails, and stops the cluster.
 */
async function withPartitionedCluster(
  body: (c: {
    cluster: TestCluster;
    links: NonNullable<TestCluster["links"]>;
    url: (i: number) => string;
  }) => Promise<void>,
): Promise<void> {
  const cluster = await startCluster(3, {}, [], { partitions: true });
  try {
    await body({ cluster, links: cluster.links!, url: (i) => cluster.sites[i].url });
  } catch (e) {
    for (const s of cluster.sites) console.error(`${s.name}:\n${s.stderr.slice(-3000)}`);
    throw e;
  } finally {
    await cluster.stop();
  }
}

Deno.test("partition links: an isolation, a split, a bridge and a majorities ring cut the links they say, both ways", () => {
  const key = (links: ReadonlyArray<readonly [number, number]>) =>
    links.map(([f, t]) => `${f}>${t}`).sort().join(" ");
  assert.equal(key(isolation(3, 1)), "0>1 1>0 1>2 2>1");
  assert.equal(key(linksBetween([0], [1, 2])), key(isolation(3, 0)));
  assert.equal(key(split(5, [[0, 1], [2, 3, 4]])), key(linksBetween([0, 1], [2, 3, 4])));
  assert.equal(allLinks(5).length, 20);
  // The bridge (2) hears everyone; 0 and 1 do not hear 3 and 4.
  assert.equal(key(bridge(5, 2)), key(linksBetween([0, 1], [3, 4])));
  // Each site of the ring hears its two neighbours, a majority of five with itself.
  const cut = ring(5);
  assert.equal(cut.length, 10);
  for (let i = 0; i < 5; i++) {
    const heard = [0, 1, 2, 3, 4].filter((j) =>
      j !== i && !cut.some(([f, t]) => f === j && t === i)
    );
    assert.deepEqual(heard.sort(), [(i + 1) % 5, (i + 4) % 5].sort(), `site ${i} hears`);
  }
  assert.equal(
    PartitionProxy.describe([[0, 1]], ["site-a", "site-b"]),
    "site-a→site-b",
  );
  assert.throws(() => split(3, [[0, 1], [1, 2]]), RangeError);
  assert.throws(() => isolation(3, 3), RangeError);
});

Deno.test({
  name:
    "partition: a leader cut off both ways steps down (CheckQuorum) while the majority elects another and commits; it acknowledges no write and answers no linearizable read; healed, its uncommitted entry is gone, the write it admitted commits once in the new term, and every site holds the same blocks",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withPartitionedCluster(async ({ cluster, links, url }) => {
      const { index: old, term } = await leaderIndex(cluster);
      const majority = [0, 1, 2].filter((i) => i !== old);
      const warmTx = await anchorTx(device);
      const warm = await submitCommit(url(old), warmTx, 10_000);
      assert.equal(warm.body?.status, "committed", JSON.stringify(warm.body));

      await links.cut(isolation(3, old));
      const cutAt = performance.now();
      // A client of the old leader writes on: the old leader still thinks it leads.
      const w = await anchorTx(device);
      const wId = transactionId(w);
      const wAnswer = submitCommit(url(old), w, 3000);
      // It proposed the write: an entry in its log the commit index does not cover.
      const uncommitted = await waitFor("the old leader to propose the write", async () => {
        const st = await statusOf(cluster, old);
        if (st === undefined || st.role !== "leader") return undefined;
        const own = st.peers?.[cluster.sites[old].name]?.match ?? 0;
        return own > st.commitIndex ? { index: own, commit: st.commitIndex } : undefined;
      }, electionTicks * tickMs);

      // It steps down by itself, and the majority elects a leader of a later term.
      const [stepDownMs, elected] = await Promise.all([
        waitFor("the old leader to step down", async () => {
          const st = await statusOf(cluster, old);
          return st !== undefined && st.role !== "leader" ? performance.now() - cutAt : undefined;
        }, 10_000),
        waitFor("a leader on the majority side", async () => {
          for (const i of majority) {
            const st = await statusOf(cluster, i);
            if (st?.role === "leader" && st.term > term) {
              return { index: i, term: st.term, ms: performance.now() - cutAt };
            }
          }
          return undefined;
        }, 10_000),
      ]);
      console.log(
        `  cut ${cluster.sites[old].name} off: it stepped down after ${stepDownMs.toFixed(0)} ms, ${
          cluster.sites[elected.index].name
        } elected after ${
          elected.ms.toFixed(0)
        } ms (term ${term} → ${elected.term}); uncommitted entry ${uncommitted.index} above commit ${uncommitted.commit}`,
      );
      // CheckQuorum: no longer than two of its rounds (an election timeout each) and a little.
      assert.ok(stepDownMs < 2 * electionMsMax + 1000, `stepped down after ${stepDownMs} ms`);

      // The majority commits.
      const x = await anchorTx(device);
      const xId = transactionId(x);
      const committed = await submitCommit(url(elected.index), x, 10_000);
      assert.equal(committed.body?.status, "committed", JSON.stringify(committed.body));

      // The old leader's client: not acknowledged, admitted and held (202 pending).
      const answered = await wAnswer;
      assert.equal(answered.status, 202, JSON.stringify(answered.body));
      assert.equal(answered.body?.status, "pending");
      // The majority never saw it; the old leader holds it.
      const atMajority = await fetch(
        `${url(elected.index)}/v1/txs/${wId}?consistency=linearizable`,
      );
      assert.equal(atMajority.status, 404, await atMajority.text());
      const held = await getJson<{ receipt: { status: string } }>(`${url(old)}/v1/txs/${wId}`);
      assert.equal(held?.receipt.status, "pending");
      // A linearizable read at the old leader is refused, or not answered: never what it has.
      const read = await fetch(`${url(old)}/v1/txs/${xId}?consistency=linearizable`, {
        signal: AbortSignal.timeout(5000),
      }).catch(() => undefined);
      const readText = await read?.text();
      assert.ok(
        read === undefined || read.status === 503 || read.status === 504,
        `a linearizable read at the cut-off old leader answered ${read?.status}: ${readText}`,
      );
      if (read !== undefined) assert.match(JSON.parse(readText!).type, /\/unavailable$/);
      // Writes sent after it stepped down are admitted and held too, never acknowledged —
      // until it has known no leader for longer than an election takes (four election
      // timeouts): from then on they are refused, 503, so their clients go elsewhere.
      const heldIds = [wId];
      const refused = await waitFor("the cut-off old leader to refuse writes", async () => {
        const late = await anchorTx(device);
        const answer = await submitCommit(url(old), late, 200);
        if (answer.status === 503) return answer.body;
        assert.equal(answer.status, 202, JSON.stringify(answer.body));
        assert.equal(answer.body?.status, "pending");
        heldIds.push(transactionId(late));
        return undefined;
      }, 10_000);
      const refusedMs = performance.now() - cutAt;
      assert.match(refused.type, /\/unavailable$/);
      assert.match(refused.detail, /has heard from no leader for \d+\.\d s/);
      // Not before (less the time a status poll may have taken to see the step-down).
      assert.ok(
        refusedMs > stepDownMs + 4 * electionTicks * tickMs - 250,
        `refused ${refusedMs.toFixed(0)} ms after the cut, stepped down after ${stepDownMs} ms`,
      );
      console.log(
        `  writes held: ${heldIds.length}; refused from ${refusedMs.toFixed(0)} ms after the cut`,
      );
      // What it committed is still answered its receipt: the id is the idempotency key.
      const again = await submitCommit(url(old), warmTx, 200);
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.status, "committed");
      // What it holds is refused too, so that its client takes it where it can be ordered.
      const stillHeld = await submitCommit(url(old), w, 200);
      assert.equal(stillHeld.status, 503, JSON.stringify(stillHeld.body));
      assert.equal(stillHeld.body.txId, wId);
      assert.match(stillHeld.body.detail, /it holds this transaction, which may still commit/);
      // Its status says so, and for how long.
      const leaderless = (await getJson<{ leaderlessMs?: number }>(`${url(old)}/v1/status`))
        ?.leaderlessMs;
      assert.ok(
        leaderless !== undefined && leaderless > 4 * electionTicks * tickMs,
        `${leaderless}`,
      );

      await links.heal();
      const healedAt = performance.now();
      // The writes the old leader held commit (it forwards them to the new leader), once each.
      for (const id of heldIds) {
        await waitFor(`${id} committed after the heal`, async () => {
          const r = await getJson<{ receipt: { status: string } }>(
            `${url(elected.index)}/v1/txs/${id}`,
          );
          return r?.receipt.status === "committed" || undefined;
        }, 20_000);
      }
      const hashes = await converged(cluster);
      console.log(
        `  healed: ${hashes.length} identical blocks on every site after ${
          (performance.now() - healedAt).toFixed(0)
        } ms`,
      );
      const ids = await txIdsInLog(url(old));
      for (const id of [warm.body.txId, xId, ...heldIds]) {
        assert.equal(ids.filter((t) => t === id).length, 1, `${id} in the log once`);
      }
      // The old leader's entry of its term is gone: the write is in a block of a later term.
      const wTerm = await termOfBlockWith(url(old), wId);
      assert.ok(wTerm !== undefined && wTerm > term, `the held write's block is of term ${wTerm}`);
      const st = await statusOf(cluster, old);
      assert.equal(st?.role, "follower");
      assert.ok(st!.commitIndex > uncommitted.index, "the old leader's commit index moved on");
      // Hearing a leader again, it takes writes again.
      assert.equal(st?.leaderlessMs, undefined);
      const healed = await submitCommit(url(old), await anchorTx(device), 10_000);
      assert.equal(healed.body?.status, "committed", JSON.stringify(healed.body));
    }),
});

Deno.test({
  name:
    "partition: one way — a leader that cannot send to a follower, or a follower that cannot send to the leader, keeps leading in its term and commits; PreVote keeps the follower that hears no leader from raising its term; healed, every site holds the same blocks",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withPartitionedCluster(async ({ cluster, links, url }) => {
      const names = cluster.sites.map((s) => s.name);
      const { index: leader, term } = await leaderIndex(cluster);
      const follower = (leader + 1) % 3;
      const third = (leader + 2) % 3;
      for (const link of [[leader, follower], [follower, leader]] as const) {
        await links.cut([link]);
        // Several election timeouts of writes, through the leader and the site beside it.
        const until = performance.now() + 3 * electionMsMax;
        let commits = 0;
        for (let k = 0; performance.now() < until; k++) {
          const r = await submitCommit(url(k % 2 === 0 ? leader : third), await anchorTx(device));
          assert.equal(
            r.body?.status,
            "committed",
            `a write during ${PartitionProxy.describe([link], names)}: ${JSON.stringify(r.body)}`,
          );
          commits++;
        }
        const st = await statuses(cluster);
        console.log(
          `  ${PartitionProxy.describe([link], names)} cut: ${commits} writes committed; roles ${
            st.map((s) => `${s?.role}@${s?.term}`).join(", ")
          }`,
        );
        assert.equal(st[leader]?.role, "leader", "the leader lost its leadership");
        // Nobody raised the term: the follower's PreVotes found no majority.
        assert.deepEqual(st.map((s) => s?.term), [term, term, term]);
        await links.heal();
        await converged(cluster);
      }
    }),
});

Deno.test({
  name:
    "partition: a follower cut off from its leader one way, silently or by resets (it hears the leader, its forwards get no answer) holds writes until the leader has answered none for four election timeouts, from then on refuses new ones 503 naming the leader (and the ones it holds: the SDK takes one on to another site, where it commits), says leaderUnreachableMs, is not ready and shows the leader unreachable; healed, what it held commits once each and it takes writes again",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withPartitionedCluster(async ({ cluster, links, url }) => {
      const names = cluster.sites.map((s) => s.name);
      // A link that drops everything (forwards wait out their timeout), then one that resets
      // every connection (forwards fail at once and are retried): the same from the site's side.
      for (const mode of ["silent", "reset"] as const) {
        const { index: leader, term } = await leaderIndex(cluster);
        const follower = (leader + 1) % 3;
        await links.cut([[follower, leader]], mode);
        // Writes to the follower are admitted and held: it hears the leader, so it forwards to it.
        const heldIds: string[] = [];
        const held: unknown[] = [];
        let firstHeldAt: number | undefined;
        const refused = await waitFor("the follower to refuse writes", async () => {
          const w = await anchorTx(device);
          const answer = await submitCommit(url(follower), w, 100);
          if (answer.status === 503) return answer.body;
          assert.equal(answer.status, 202, JSON.stringify(answer.body));
          assert.equal(answer.body?.status, "pending");
          firstHeldAt ??= performance.now();
          heldIds.push(transactionId(w));
          held.push(w);
          return undefined;
        }, 15_000);
        const refusedMs = performance.now() - firstHeldAt!;
        console.log(
          `  ${
            PartitionProxy.describe([[follower, leader]], names)
          } cut (${mode}): ${heldIds.length} writes ` +
            `held; refused from ${refusedMs.toFixed(0)} ms after the first`,
        );
        assert.match(refused.type, /\/unavailable$/);
        assert.match(
          refused.detail,
          new RegExp(
            `no answer from the leader ${names[leader]} to what it forwarded for \\d`,
          ),
        );
        // Not before four election timeouts from the first forward (it starts ≤ 2 ms after
        // the first write is held, but the write's answer may take a little).
        assert.ok(refusedMs > 4 * electionTicks * tickMs - 250, `refused after ${refusedMs} ms`);
        // The cluster went on: no election, the leader leads, and writes commit through it.
        const ok = await submitCommit(url(leader), await anchorTx(device));
        assert.equal(ok.body?.status, "committed", JSON.stringify(ok.body));
        const st = await getJson<Status & { leaderUnreachableMs?: number }>(
          `${url(follower)}/v1/status`,
        );
        assert.equal(st?.leader, names[leader], "the follower still names the leader");
        assert.equal(st?.term, term);
        assert.equal(st?.leaderlessMs, undefined);
        assert.ok((st?.leaderUnreachableMs ?? 0) > 4 * electionTicks * tickMs, JSON.stringify(st));
        // One it holds, resubmitted there, is refused too; the SDK, given the follower first,
        // takes it on to the third site, where it commits.
        const third = (leader + 2) % 3;
        const resubmitted = await submitCommit(url(follower), held[0], 100);
        assert.equal(resubmitted.status, 503, JSON.stringify(resubmitted.body));
        assert.match(resubmitted.body.detail, /it holds this transaction, which may still commit/);
        const client = new EdgeLedgerClient({ urls: [url(follower), url(third)] });
        const elsewhere = await client.submit(held[0] as Envelope, { wait: "commit" });
        assert.equal(elsewhere.status, "committed", JSON.stringify(elsewhere));
        const ready = await fetch(`${url(follower)}/readyz`);
        const readyBody = await ready.json();
        assert.equal(ready.status, 503, JSON.stringify(readyBody));
        assert.equal(readyBody.checks.leader, false);
        const metrics = await (await fetch(`${url(follower)}/metrics`)).text();
        assert.match(
          metrics,
          new RegExp(`^edgeledger_raft_peer_reachable\\{peer="${names[leader]}"\\} 0$`, "m"),
        );

        await links.heal();
        for (const id of heldIds) {
          await waitFor(`${id} committed after the heal`, async () => {
            const r = await getJson<{ receipt: { status: string } }>(`${url(leader)}/v1/txs/${id}`);
            return r?.receipt.status === "committed" || undefined;
          }, 20_000);
        }
        const again = await waitFor("the follower to take writes again", async () => {
          const r = await submitCommit(url(follower), await anchorTx(device), 5_000);
          return r.status === 503 ? undefined : r;
        }, 15_000);
        assert.equal(again.body?.status, "committed", JSON.stringify(again.body));
        assert.equal(
          (await getJson<{ leaderUnreachableMs?: number }>(`${url(follower)}/v1/status`))
            ?.leaderUnreachableMs,
          undefined,
        );
        await converged(cluster);
        const ids = await txIdsInLog(url(follower));
        for (const id of heldIds) assert.equal(ids.filter((t) => t === id).length, 1, `${id} once`);
      }
    }),
});

Deno.test({
  name:
    "partition: a follower with no writes, cut off from its leader one way, finds out by the empty forwards it asks with — within five election timeouts it says leaderUnreachableMs, is not ready and refuses its first write at once; healed, it clears and commits",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withPartitionedCluster(async ({ cluster, links, url }) => {
      const names = cluster.sites.map((s) => s.name);
      const { index: leader, term } = await leaderIndex(cluster);
      const follower = (leader + 1) % 3;
      const probes = async () => {
        const text = await (await fetch(`${url(follower)}/metrics`)).text();
        return Number(/^edgeledger_raft_leader_probes_total (\d+)$/m.exec(text)?.[1]);
      };
      // An idle follower asks now and then, and the leader answers: nothing to say.
      const before = await probes();
      await new Promise((r) => setTimeout(r, 3 * electionTicks * tickMs));
      assert.ok((await probes()) > before, "an idle follower asks its leader");
      const idle = await getJson<Status & { leaderUnreachableMs?: number }>(
        `${url(follower)}/v1/status`,
      );
      assert.equal(idle?.leaderUnreachableMs, undefined, JSON.stringify(idle));

      const cutAt = performance.now();
      await links.cut([[follower, leader]], "silent");
      const st = await waitFor("the idle follower to see the cut", async () => {
        const s = await getJson<Status & { leaderUnreachableMs?: number }>(
          `${url(follower)}/v1/status`,
        );
        return s?.leaderUnreachableMs === undefined ? undefined : s;
      }, 10_000);
      const seenMs = performance.now() - cutAt;
      console.log(
        `  an idle follower saw its link to the leader cut after ${seenMs.toFixed(0)} ms`,
      );
      // Four election timeouts of silence, after an ask that starts within one of the cut.
      assert.ok(seenMs > 4 * electionTicks * tickMs - 250, `seen after ${seenMs} ms`);
      assert.ok(seenMs < 5 * electionTicks * tickMs + 1_500, `seen after ${seenMs} ms`);
      assert.equal(st.leader, names[leader]);
      assert.equal(st.term, term);
      const ready = await fetch(`${url(follower)}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal((await ready.json()).checks.leader, false);
      // Its first write is refused at once, not held for four election timeouts.
      const first = await submitCommit(url(follower), await anchorTx(device), 1_000);
      assert.equal(first.status, 503, JSON.stringify(first.body));
      assert.match(first.body.detail, new RegExp(`no answer from the leader ${names[leader]}`));

      await links.heal();
      await waitFor("the follower to clear", async () => {
        const s = await getJson<{ leaderUnreachableMs?: number }>(`${url(follower)}/v1/status`);
        return s !== undefined && s.leaderUnreachableMs === undefined ? true : undefined;
      }, 10_000);
      const again = await submitCommit(url(follower), await anchorTx(device), 5_000);
      assert.equal(again.body?.status, "committed", JSON.stringify(again.body));
    }),
});

Deno.test({
  name:
    "partition: a follower that forwarded writes to a leader since cut off silently abandons those forwards once another leader is elected — as the new leader it commits at once, not after the forwards time out (5 s), and the writes it held commit once each",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withPartitionedCluster(async ({ cluster, links, url }) => {
      const { index: old, term } = await leaderIndex(cluster);
      const followers = [0, 1, 2].filter((i) => i !== old);
      await links.cut(isolation(3, old));
      // Before their election timeout the followers still forward to the old
      // leader: three batches each, each forward left waiting by the cut.
      const held: string[] = [];
      for (let k = 0; k < 3; k++) {
        for (const i of followers) {
          const env = await anchorTx(device);
          held.push(transactionId(env));
          const res = await fetch(`${url(i)}/v1/txs`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(env),
          });
          const text = await res.text();
          assert.equal(res.status, 202, text);
        }
        await new Promise((r) => setTimeout(r, 30));
      }
      const elected = await waitFor("a leader on the majority side", async () => {
        for (const i of followers) {
          const st = await statusOf(cluster, i);
          if (st?.role === "leader" && st.term > term) return i;
        }
        return undefined;
      }, 10_000);
      const t0 = performance.now();
      const first = await submitCommit(url(elected), await anchorTx(device), 10_000);
      const firstMs = performance.now() - t0;
      console.log(`  the new leader's first write committed after ${firstMs.toFixed(0)} ms`);
      assert.equal(first.body?.status, "committed", JSON.stringify(first.body));
      assert.ok(firstMs < 1500, `the new leader's first write took ${firstMs.toFixed(0)} ms`);
      // The writes the followers held commit while the old leader is still cut off.
      for (const id of held) {
        await waitFor(`${id} committed by the majority`, async () => {
          const r = await getJson<{ receipt: { status: string } }>(`${url(elected)}/v1/txs/${id}`);
          return r?.receipt.status === "committed" || undefined;
        }, 5_000);
      }
      await links.heal();
      await converged(cluster);
      const ids = await txIdsInLog(url(old));
      for (const id of held) assert.equal(ids.filter((t) => t === id).length, 1, `${id} once`);
    }),
});
