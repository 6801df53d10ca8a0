/**
 * The Deno permissions the command line runs with. `deno task cli` grants
 * net, read, write and env; run another way (`deno run --allow-net …
 * workers/cli.ts`), a permission it lacks is never a prompt nor a stack
 * trace: an environment variable it may not read is absent, and anything
 * else it needs and lacks is a {@link PermissionError} (exit code 2), one
 * line naming the permission and its flag.
 *
 * @module
 */
import { CliError } from "./output.ts";

/** The permissions the command line uses, by their name in Deno's descriptors. */
export type PermissionName = "net" | "read" | "write" | "env";

/** True iff `descriptor` is granted now. Queries only: never prompts. */
export function granted(descriptor: Deno.PermissionDescriptor): boolean {
  return Deno.permissions.querySync(descriptor).state === "granted";
}

/**
 * A command run without a Deno permission it needs (exit code 2, like a
 * usage error: running it again the same way fails the same way).
 */
export class PermissionError extends CliError {
  /** The permissions missing, e.g. `["read", "write"]`. */
  readonly permissions: readonly PermissionName[];

  /**
   * `action` starts the message, as in every failure ("Cannot write the
   * envelope tx.json"); `permissions` are those missing. Requires at least one.
   */
  constructor(action: string, permissions: readonly PermissionName[]) {
    const names = permissions.join(" and ");
    const flags = permissions.map((p) => `--allow-${p}`).join(" ");
    super(
      `${action}: it needs the ${names} permission${permissions.length > 1 ? "s" : ""} ` +
        `(run deno with ${flags}, as task cli does)`,
      2,
    );
    this.name = "PermissionError";
    this.permissions = permissions;
  }
}

/**
 * Throws a {@link PermissionError} starting with `action` when any of
 * `descriptors` is not granted, naming each missing permission once, in the
 * order given. Queries only: a permission Deno would prompt for counts as
 * missing, so a command never stops to ask.
 */
export function requirePermissions(
  action: string,
  descriptors: readonly Deno.PermissionDescriptor[],
): void {
  const missing: PermissionName[] = [];
  for (const d of descriptors) {
    const name = d.name as PermissionName;
    if (!missing.includes(name) && !granted(d)) missing.push(name);
  }
  if (missing.length > 0) throw new PermissionError(action, missing);
}
