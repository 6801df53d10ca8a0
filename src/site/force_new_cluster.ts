/**
 * Disaster recovery for a cluster that lost a majority of its voters for
 * good (etcd's `--force-new-cluster`): a stopped surviving voter is made
 * the only voter of its cluster, keeping its whole ledger, so it elects
 * itself and takes writes again; new sites then join it as learners.
 *
 * Raft cannot do this through the log — a membership change needs a
 * majority of the old configuration, which is what was lost — so it is
 * done on the survivor's own disk while it is stopped: after the last
 * entry of its Raft log it appends one `remove` membership change per
 * other voter, in a term above any it has seen, and marks everything up to
 * them committed. Started again, the site's core rebuilds its
 * configuration from the log (a change counts once it is in the log) and
 * finds itself the only voter; its host applies the removals as it would
 * any (the removed sites are answered 410 and their keys refused).
 *
 * Entries beyond the commit index the survivor knew are kept and become
 * committed: they may have been committed by the lost majority and
 * acknowledged to clients, and a write whose client was not told either way
 * may land (its id is its idempotency key). Learners stay learners. The
 * chain itself is untouched: blocks, checkpoints and the Merkle log go on
 * from the survivor's head, so a checkpoint of a block it holds is
 * consistent with every later one. Blocks the lost majority committed
 * beyond its log, or in place of its uncommitted tail, are lost with their
 * writes, and a checkpoint co-signed for them shows verifiers a fork: the
 * command prints the survivor's height so that an operator can compare it
 * with the newest checkpoint verifiers hold before forcing.
 *
 * @module
 */
import { genesisConfigHash } from "../chain/genesis.ts";
import type { GenesisConfig } from "../chain/genesis.ts";
import { ConfHistory, forcedSoleVoter } from "../consensus/membership.ts";
import type { ConfState, HardState } from "../consensus/mod.ts";
import { ChainStore } from "../storage/chain_store.ts";
import type { Database } from "../storage/db.ts";
import { RaftStore } from "../storage/raft_store.ts";

/** Why a site cannot be made the only voter of its cluster. */
export class ForceNewClusterError extends Error {
  constructor(
    readonly reason: "other_ledger" | "removed" | "not_a_voter" | "unfinished_install",
    message: string,
  ) {
    super(message);
    this.name = "ForceNewClusterError";
  }
}

/** What a stopped site holds, and what {@link forceNewCluster} would change. */
export interface ForceNewClusterPlan {
  self: string;
  /** The configuration its log ends with. */
  confState: ConfState;
  /** The other voters: each gets a `remove` entry. Empty when it already is the only voter. */
  removes: string[];
  /** Its Raft log's last entry (the snapshot's, when the log is empty). */
  lastIndex: number;
  lastTerm: number;
  /** The commit index it knew. */
  commit: number;
  /** Its hard state as stored. */
  hardState: HardState;
  /** Entries after `commit` that become committed. */
  uncommitted: number;
  /** The term the removals are written in. */
  term: number;
  /** Its ledger's head. */
  height: number;
  head: string;
  appliedIndex: number;
}

/**
 * Reads what the stopped site `self` holds in `database` and what making it
 * the only voter would change. Throws {@link ForceNewClusterError} when the
 * database holds another ledger than `genesis`, the site was removed, it is
 * no voter (a learner's log may lack committed entries), or a snapshot
 * install was cut short (its blocks are incomplete, and no peer is left to
 * serve them). A log that never changed the membership has `genesis`'s
 * sites as its voters.
 */
export async function planForceNewCluster(
  database: Database,
  self: string,
  genesis: GenesisConfig,
): Promise<ForceNewClusterPlan> {
  const store = new ChainStore(database);
  const stored = await store.getMeta("genesis_hash");
  if (stored !== genesisConfigHash(genesis)) {
    throw new ForceNewClusterError(
      "other_ledger",
      stored === undefined
        ? "The database holds no ledger (no genesis is stored in it)"
        : `The database holds another ledger than the genesis file's ${genesis.ledger}`,
    );
  }
  const removed = JSON.parse(await store.getMeta("removed_members") ?? "{}") as Record<
    string,
    number
  >;
  if (removed[self] !== undefined) {
    throw new ForceNewClusterError(
      "removed",
      `${self} was removed from the cluster (at Raft index ${removed[self]}): its ledger ` +
        "stopped there; force a new cluster from a voter that survived",
    );
  }
  const durable = await new RaftStore(database).load();
  const snap = durable.snapshot?.metadata;
  const history = new ConfHistory(
    snap?.index ?? 0,
    snap?.confState ?? { voters: genesis.sites.map((s) => s.name).sort(), learners: [] },
  );
  history.appendEntries(durable.entries);
  const confState = history.current();
  if (!confState.voters.includes(self)) {
    throw new ForceNewClusterError(
      "not_a_voter",
      `${self} is ${confState.learners.includes(self) ? "a learner" : "not a member"} (voters: ${
        confState.voters.join(", ")
      }): a learner's log may lack committed ` +
        "entries; force a new cluster from a voter that survived",
    );
  }
  const head = await store.head();
  const appliedIndex = Math.max(
    Number(await store.getMeta("applied_entry") ?? "0"),
    head?.entryIndex ?? 0,
  );
  if (snap !== undefined && appliedIndex < snap.index) {
    throw new ForceNewClusterError(
      "unfinished_install",
      `${self} was catching up by snapshot (to Raft index ${snap.index}, applied ` +
        `${appliedIndex}) when it stopped: it lacks blocks no surviving site can serve`,
    );
  }
  const last = durable.entries.at(-1);
  const lastIndex = last?.index ?? snap?.index ?? 0;
  const lastTerm = last?.term ?? snap?.term ?? 0;
  const hard = durable.hardState ?? { term: 0, vote: "", commit: 0 };
  const commit = Math.max(hard.commit, snap?.index ?? 0);
  const forced = forcedSoleVoter(self, confState, { index: lastIndex, term: lastTerm }, hard);
  return {
    self,
    confState,
    removes: confState.voters.filter((v) => v !== self),
    lastIndex,
    lastTerm,
    commit,
    hardState: hard,
    uncommitted: lastIndex - commit,
    term: forced.hardState.term,
    height: head?.height ?? 0,
    head: head?.hash ?? "",
    appliedIndex,
  };
}

/**
 * Writes `plan`'s removals after the last entry of the stopped site's Raft
 * log and marks them committed, in one durable transaction (nothing else
 * changes). A plan with no removals writes nothing.
 */
export async function forceNewCluster(
  database: Database,
  plan: ForceNewClusterPlan,
): Promise<void> {
  const { entries, hardState } = forcedSoleVoter(
    plan.self,
    plan.confState,
    { index: plan.lastIndex, term: plan.lastTerm },
    plan.hardState,
  );
  if (entries.length === 0) return;
  await new RaftStore(database).persist({ entries, hardState });
}
