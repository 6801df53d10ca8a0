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
  checks: { running: boolean; member: boolean; leader: boolean; applied: boolean };
  failed: string[];
}

/**
 * The readiness checks on a site's status: it has not stopped taking
 * writes, is a member, knows a leader, and has at most
 * {@link READY_APPLY_LAG_MAX} committed Raft entries left to apply.
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
    leader: status.leader !== null && status.role !== "candidate",
    applied: lag <= READY_APPLY_LAG_MAX,
  };
  const failed: string[] = [];
  if (!checks.running) {
    failed.push("the site stopped taking writes (its log and /v1/status say why)");
  }
  if (!checks.member) failed.push("the site was removed from the cluster");
  if (!checks.leader) failed.push("no leader is known (an election, or no majority reachable)");
  if (!checks.applied) {
    failed.push(`${lag} committed Raft entries are left to apply (at most ${READY_APPLY_LAG_MAX})`);
  }
  return { checks, failed };
}
