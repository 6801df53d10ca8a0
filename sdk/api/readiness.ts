/**
 * Readiness of a site from its status (`GET /v1/status`), as `GET /readyz`
 * judges it: the site answers `/readyz` with these checks, and clients (the
 * CLI's `status`) show the same verdict from a status they already hold.
 *
 * @module
 */
import type { z } from "zod";
import { READY_APPLY_LAG_MAX, type StatusView } from "./schemas.ts";

/** What {@link readiness} found: each check's verdict, and a sentence for each that failed. */
export interface Readiness {
  checks: { running: boolean; member: boolean; leader: boolean; applied: boolean; disk: boolean };
  failed: string[];
}

/**
 * The readiness checks on a site's status: it has not stopped taking
 * writes, is a member, knows a leader (and has not said `leaderlessMs`: a
 * learner cut off from the others names its last leader still) that answers
 * its forwards (no `leaderUnreachableMs`), has at most
 * {@link READY_APPLY_LAG_MAX} committed Raft entries left to apply, and has
 * its minimum of free space on its data volume (`storage.low` false: a site
 * under it refuses every new transaction, see the README's _Disk space_).
 * The disk check is this site's own volume only: a site whose peer is low
 * stays ready (it serves reads, and its writes name that peer), and a site
 * that watches no volume (a remote database, or `diskFreeBytesMin` 0)
 * passes it.
 *
 * @example
 * ```ts
 * const { failed } = readiness(await client.status());
 * console.log(failed.length === 0 ? "ready" : `not ready: ${failed.join("; ")}`);
 * ```
 */
export function readiness(status: z.input<typeof StatusView>): Readiness {
  const lag = status.commitIndex - status.appliedIndex;
  const checks = {
    running: status.healthy !== false,
    member: status.removed !== true,
    leader: status.leader !== null && status.role !== "candidate" &&
      status.leaderlessMs === undefined && status.leaderUnreachableMs === undefined,
    applied: lag <= READY_APPLY_LAG_MAX,
    disk: status.storage?.low !== true,
  };
  const failed: string[] = [];
  if (!checks.running) {
    failed.push("the site stopped taking writes (its log and /v1/status say why)");
  }
  if (!checks.member) failed.push("the site was removed from the cluster");
  if (!checks.leader) {
    failed.push(
      status.leaderlessMs !== undefined
        ? `no leader heard from for ${seconds(status.leaderlessMs)} ` +
          "(cut off from the majority: new writes are refused)"
        : status.leaderUnreachableMs !== undefined
        ? `the leader ${status.leader} has answered no forward for ` +
          `${seconds(status.leaderUnreachableMs)} (the link to it is cut: new writes are refused)`
        : "no leader is known (an election, or no majority reachable)",
    );
  }
  if (!checks.applied) {
    failed.push(`${lag} committed Raft entries are left to apply (at most ${READY_APPLY_LAG_MAX})`);
  }
  if (!checks.disk) {
    const { freeBytes, freeBytesMin } = status.storage!;
    failed.push(`${lowSpaceText(freeBytes, freeBytesMin)} (new transactions are refused)`);
  }
  return { checks, failed };
}

/**
 * Why a volume with `freeBytes` free counts as low against `freeBytesMin`:
 * under the minimum, or — once over it but still within the margin a site
 * wants before it takes writes again (so that a volume at the line does
 * not flap) — short of that margin. "812 MiB free on the data volume, …";
 * `volume` names the volume ("its data volume" for a site named before it).
 */
export function lowSpaceText(
  freeBytes: number,
  freeBytesMin: number,
  volume = "the data volume",
): string {
  return freeBytes < freeBytesMin
    ? `${formatBytes(freeBytes)} free on ${volume}, under its minimum of ` +
      formatBytes(freeBytesMin)
    : `${formatBytes(freeBytes)} free on ${volume}, back over its minimum of ` +
      `${formatBytes(freeBytesMin)} but not yet by the margin it needs to take writes again`;
}

/** `ms` for a person, in seconds: `2.3 s`. */
function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** `bytes` for a person: `812 MiB`, `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const text = u === 0 || v >= 100 ? Math.round(v).toString() : v.toFixed(1).replace(/\.0$/, "");
  return `${text} ${units[u]}`;
}
