import assert from "node:assert/strict";
import { encodeConfChange } from "../consensus/membership.ts";
import { MemoryStorage, RaftNode } from "../consensus/mod.ts";
import type { ConfChange, Entry } from "../consensus/mod.ts";
import { openDatabase } from "../storage/db.ts";
import { RaftStore } from "../storage/raft_store.ts";
import { ChainStore } from "../storage/chain_store.ts";
import { openTestSite } from "../../test/_helpers.ts";
import { forceNewCluster, ForceNewClusterError, planForceNewCluster } from "./force_new_cluster.ts";

const change = (index: number, term: number, cc: ConfChange): Entry => ({
  index,
  term,
  type: "confChange",
  data: encodeConfChange(cc),
});

/** A stopped site's database whose Raft log added site-b and site-c as voters and learner site-d. */
async function stoppedSite() {
  const t = await openTestSite();
  await t.site.close();
  const database = await openDatabase(t.options.dbUrl);
  await new RaftStore(database).persist({
    entries: [
      change(1, 2, { type: "addLearner", node: "site-b" }),
      change(2, 2, { type: "promote", node: "site-b" }),
      change(3, 3, { type: "addLearner", node: "site-c" }),
      change(4, 3, { type: "promote", node: "site-c" }),
      change(5, 4, { type: "addLearner", node: "site-d" }),
      { index: 6, term: 4, type: "normal", data: new Uint8Array() },
      { index: 7, term: 5, type: "normal", data: new Uint8Array() },
    ],
    hardState: { term: 6, vote: "site-b", commit: 5 },
  });
  return { t, database, genesis: t.options.genesis };
}

Deno.test("force-new-cluster: the plan removes every other voter after the last entry, in a term above any seen, commits what the log holds, keeps learners; written, the core built from the log has the site as its only voter", async () => {
  const { t, database, genesis } = await stoppedSite();
  try {
    const plan = await planForceNewCluster(database, "site-a", genesis);
    assert.deepEqual(plan.confState, {
      voters: ["site-a", "site-b", "site-c"],
      learners: ["site-d"],
    });
    assert.deepEqual(plan.removes, ["site-b", "site-c"]);
    assert.equal(plan.lastIndex, 7);
    assert.equal(plan.lastTerm, 5);
    assert.equal(plan.commit, 5);
    assert.equal(plan.uncommitted, 2);
    assert.equal(plan.term, 7, "above the hard state's term 6");

    await forceNewCluster(database, plan);
    const durable = await new RaftStore(database).load();
    assert.deepEqual(durable.hardState, { term: 7, vote: "site-a", commit: 9 });
    assert.deepEqual(
      durable.entries.slice(7).map((e) => [e.index, e.term, e.type]),
      [[8, 7, "confChange"], [9, 7, "confChange"]],
    );
    // What a restart builds from it.
    const storage = new MemoryStorage({ voters: ["site-a"], learners: [] });
    storage.append(durable.entries);
    storage.setHardState(durable.hardState!);
    const node = new RaftNode({
      id: "site-a",
      storage,
      electionTicks: 10,
      heartbeatTicks: 1,
      random: () => 0.5,
      maxEntriesPerMsg: 64,
      maxBytesPerMsg: 1 << 20,
      maxInflightMsgs: 4,
      preVote: true,
      checkQuorum: true,
      applied: 0,
    });
    assert.deepEqual(node.confState(), { voters: ["site-a"], learners: ["site-d"] });
    assert.equal(node.status().commitIndex, 9);
    for (let i = 0; i < 30 && node.status().role !== "leader"; i++) node.tick();
    assert.equal(node.status().role, "leader", "it elects itself");
    assert.ok(node.status().term > 7);

    const again = await planForceNewCluster(database, "site-a", genesis);
    assert.deepEqual(again.removes, []);
    await forceNewCluster(database, again);
    assert.equal((await new RaftStore(database).load()).entries.length, 9, "nothing written");
  } finally {
    database.close();
    await t.cleanup();
  }
});

Deno.test("force-new-cluster: refused for a learner, a site that is no member, a removed site, another ledger's database and a site whose snapshot install was cut short — nothing written", async () => {
  const { t, database, genesis } = await stoppedSite();
  try {
    const refused = async (self: string, reason: string, why: RegExp, g = genesis) => {
      await assert.rejects(
        () => planForceNewCluster(database, self, g),
        (e: unknown) =>
          e instanceof ForceNewClusterError && e.reason === reason && why.test(e.message),
      );
    };
    await refused(
      "site-d",
      "not_a_voter",
      /site-d is a learner \(voters: site-a, site-b, site-c\)/,
    );
    await refused("site-z", "not_a_voter", /site-z is not a member/);
    await refused("site-a", "other_ledger", /another ledger/, { ...genesis, ledger: "other" });
    const store = new ChainStore(database);
    await store.setMeta({ removed_members: JSON.stringify({ "site-a": 4 }) });
    await refused("site-a", "removed", /site-a was removed from the cluster \(at Raft index 4\)/);
    await store.setMeta({ removed_members: "{}" });
    await new RaftStore(database).persist({
      snapshot: {
        metadata: { index: 50, term: 5, confState: { voters: ["site-a", "site-b"], learners: [] } },
        data: new Uint8Array(),
      },
      entries: [],
    });
    await refused("site-a", "unfinished_install", /catching up by snapshot \(to Raft index 50/);
    const durable = await new RaftStore(database).load();
    assert.equal(durable.entries.length, 0);
    assert.deepEqual(durable.hardState, { term: 6, vote: "site-b", commit: 5 });
  } finally {
    database.close();
    await t.cleanup();
  }
});
