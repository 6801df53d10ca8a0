/**
 * The operator side of the command line: the admin API key, the admin
 * routes (`/v1/admin/`, see `src/api/admin_routes.ts`) as route definitions
 * the SDK's client calls, finding the leader, the member list, and
 * downloading a backup.
 *
 * Why this lives here and not in the SDK: the SDK (DESIGN §7) is for device
 * and app developers and runs in apps, browsers and gateways, where an admin
 * key — which adds and removes sites of the consortium — must never be; and
 * the admin routes are not part of the public API that the SDK's shared
 * route definitions describe (DESIGN §6). The calls still go through the
 * SDK's client (`EdgeLedgerClient.request`): its typed errors, request ids,
 * timeouts and schema checks. Only the backup download is a fetch of its
 * own: the client reads JSON and text answers, and a backup is a database
 * streamed to disk.
 *
 * @module
 */
import { z } from "zod";
import {
  base64urlEncode,
  describeProblem,
  EdgeLedgerClient,
  EdgeLedgerError,
  NetworkError,
  type ProblemDetails,
  type RawResponse,
  RejectedError,
  type RequestInput,
  type ResponseOf,
  type RouteDefinition,
  ROUTES,
  ServerError,
  siteKeyCanSign,
  siteKeyDid,
  type SiteView,
  type StatusView,
} from "../../sdk/mod.ts";
import { Problem } from "../../sdk/api/schemas.ts";
import { UsageError } from "./args.ts";
import {
  inputName,
  type InputSource,
  readInput,
  readKeyFile,
  warnIfReadableByOthers,
  writeOutput,
} from "./files.ts";
import { attempt, CliError, describeClientError, leaderNamedBy } from "./output.ts";
import { requirePermissions } from "./permissions.ts";

// ---- the admin key -----------------------------------------------------------

/** The environment variable that holds the admin API key when no --admin-key-file is given. */
export const ADMIN_KEY_ENV = "EDGELEDGER_ADMIN_KEY";

/** An admin key as sites take it (`Authorization: Bearer <key>`): 16 to 256 characters, no spaces. */
const ADMIN_KEY = /^\S{16,256}$/;

/**
 * The admin API key: the content of `file` (trimmed; `-` reads standard
 * input) when given, else `$EDGELEDGER_ADMIN_KEY`, which holds the key
 * itself. There is deliberately no flag that takes the key itself: a flag's
 * value lands in shell history and in `ps`. Throws {@link UsageError} when
 * neither is there, or the variable holds no key or the path of a file (the
 * one case where it is quoted: it is then no key), {@link CliError} when the
 * file cannot be read or holds no key; neither ever quotes a key. `warn` is
 * told when the file is readable by others than its owner.
 */
export async function adminKeyFrom(
  io: InputSource & { env(name: string): string | undefined },
  file: string | undefined,
  warn: (line: string) => void,
): Promise<string> {
  if (file !== undefined) {
    if (await looksLikeKeyNotFile(file)) {
      throw new UsageError(
        "--admin-key-file takes the path of a file that holds the key, and no file has the name " +
          "given (it looks like the key itself, so it is not repeated here): write the key to a " +
          `file readable only by you, or set $${ADMIN_KEY_ENV}`,
      );
    }
    const key = (await readInput(io, file, "admin key file")).trim();
    if (!ADMIN_KEY.test(key)) {
      throw new CliError(
        `Cannot read the admin key file ${inputName(file)}: it holds no admin key ` +
          "(one line of 16 to 256 characters without spaces)",
      );
    }
    if (file !== "-") await warnIfReadableByOthers(file, "admin key file", warn);
    return key;
  }
  const fromEnv = io.env(ADMIN_KEY_ENV)?.trim();
  if (fromEnv) {
    // A site would answer such a key 401 as no admin key, which does not say why.
    if (await isFilePath(fromEnv)) {
      throw new UsageError(
        `$${ADMIN_KEY_ENV} holds a file's path; it takes the key itself: ` +
          `use --admin-key-file ${fromEnv}`,
      );
    }
    if (!ADMIN_KEY.test(fromEnv)) {
      throw new UsageError(
        `$${ADMIN_KEY_ENV} holds no admin key (16 to 256 characters without spaces)`,
      );
    }
    return fromEnv;
  }
  throw new UsageError(
    `Missing the admin key: pass --admin-key-file FILE or set $${ADMIN_KEY_ENV}`,
  );
}

/**
 * Whether `--admin-key-file`'s value is most likely the key pasted in place
 * of a path: no such file, and a key's shape with nothing of a path's (no
 * `/`, no `.`). Such a value is never echoed in an error: it would put the
 * key in a terminal's scroll-back and in CI logs.
 */
async function looksLikeKeyNotFile(value: string): Promise<boolean> {
  if (value === "-" || !ADMIN_KEY.test(value) || /[/.]/.test(value)) return false;
  try {
    await Deno.lstat(value);
    return false;
  } catch (e) {
    // Anything but "no such file" (a permission, say) the read that follows reports.
    return e instanceof Deno.errors.NotFound;
  }
}

/**
 * Whether `$EDGELEDGER_ADMIN_KEY`'s value is the path of a file rather than
 * a key: it has something of a path (a `/` or a `.`) and names an existing
 * file. Anything that cannot be checked (no read permission) counts as a
 * key, for the site to judge.
 */
async function isFilePath(value: string): Promise<boolean> {
  if (!/[/.]/.test(value)) return false;
  try {
    return (await Deno.stat(value)).isFile;
  } catch {
    return false;
  }
}

// ---- the admin routes ------------------------------------------------------------

/** What every change route answers once the change is applied on the leader. */
const Done = z.object({ ok: z.literal(true) });
const done = { 200: { description: "Done.", content: { "application/json": { schema: Done } } } };
const NameParam = z.object({ name: z.string() });
const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { "application/json": { schema } },
});

/**
 * The admin routes the command line calls, as route definitions the SDK's
 * client takes (`client.request(ADMIN_ROUTES.promoteMember, …)`). Their
 * bodies are checked by the site, with the schemas of the routes' full
 * definitions in `sdk/api/admin_routes.ts` (those of `/openapi.json`, tag
 * `admin`); these read answers leniently (a rotation's `untilHeight` is
 * absent from older sites). A site that is not the leader answers a change
 * with 503 `not_leader` and `leaderUrl`.
 * `GET /v1/admin/backup` streams a database, which the client does not read:
 * see {@link downloadBackup}.
 */
export const ADMIN_ROUTES = {
  addMember: {
    method: "post",
    path: "/v1/admin/members",
    request: {
      body: jsonBody(z.object({ name: z.string(), url: z.string(), publicKey: z.string() })),
    },
    responses: done,
  },
  promoteMember: {
    method: "post",
    path: "/v1/admin/members/{name}/promote",
    request: { params: NameParam },
    responses: done,
  },
  removeMember: {
    method: "delete",
    path: "/v1/admin/members/{name}",
    request: { params: NameParam },
    responses: done,
  },
  updateMember: {
    method: "patch",
    path: "/v1/admin/members/{name}",
    request: { params: NameParam, body: jsonBody(z.object({ url: z.string() })) },
    responses: done,
  },
  transferLeader: {
    method: "post",
    path: "/v1/admin/leader",
    request: { body: jsonBody(z.object({ to: z.string() })) },
    responses: done,
  },
  /** Sent to the member itself: it rotates its own key (the leader records it). */
  rotateSiteKey: {
    method: "post",
    path: "/v1/admin/site-key",
    request: {},
    responses: {
      200: {
        description: "Rotated: the site signs with the new key.",
        content: {
          "application/json": {
            schema: z.object({
              site: z.string().nullable(),
              previous: z.string(),
              publicKey: z.string(),
              /** The last block the retired key signed (absent from older sites). */
              untilHeight: z.number().int().min(0).optional(),
              /** Whether the site signed that height with its new key yet (absent from older sites). */
              retirementSigned: z.boolean().optional(),
            }),
          },
        },
      },
    },
  },
} as const satisfies Record<string, RouteDefinition>;

/**
 * How long one admin change may take, ms. The leader answers once the change
 * is applied: adding a site is two proposals, each allowed the site's
 * proposal timeout (5 s by default); a leadership transfer waits up to one.
 */
export const ADMIN_CALL_MS_MAX = 30_000;

/** A site name as sites accept one (`POST /v1/admin/members`). */
const SITE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** `name` when it can name a site; {@link UsageError} naming `what` otherwise. */
export function siteNameOf(name: string, what = "NAME"): string {
  if (!SITE_NAME.test(name)) {
    throw new UsageError(
      `${what} must be a site name (1 to 64 of a-z, 0-9, ".", "_", "-", starting with a letter ` +
        `or digit), not "${name}"`,
    );
  }
  return name;
}

/**
 * The base64url Ed25519 public key of a new site, from `--public-key` or
 * from its key file (`--key-file`, a private JWK as `task sitekey` writes
 * it: the public part is its `x`, checked here against its secret `d` by the
 * SDK's `importKey`). Exactly one must be given ({@link UsageError}
 * otherwise). Never quotes either: a value pasted into the wrong flag may be
 * a private key.
 */
export async function memberPublicKey(
  io: InputSource,
  flags: { "public-key": string | undefined; "key-file": string | undefined },
  warn: (line: string) => void,
): Promise<string> {
  const given = flags["public-key"];
  const file = flags["key-file"];
  if ((given === undefined) === (file === undefined)) {
    throw new UsageError(
      "Give either --public-key B64URL or --key-file FILE (the new site's key file)",
    );
  }
  if (given !== undefined) {
    if (!isEd25519PublicKey(given)) {
      throw new UsageError(
        "Flag --public-key must be a base64url Ed25519 public key (43 characters) that can " +
          "sign: a curve point not of small order",
      );
    }
    return given;
  }
  const key = await readKeyFile(io, file!, warn);
  if (key.algorithm !== "ed25519") {
    throw new CliError(
      `Cannot use the key file ${inputName(file!)}: it holds a ${key.algorithm} key, and site ` +
        "keys are Ed25519 (task sitekey makes one)",
    );
  }
  return base64urlEncode(key.publicKey);
}

/**
 * True for a base64url Ed25519 public key a site may have: a point on the
 * curve (the SDK's {@link siteKeyDid}) that can sign ({@link siteKeyCanSign}).
 */
function isEd25519PublicKey(text: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(text) && siteKeyDid(text) !== undefined &&
    siteKeyCanSign(text);
}

// ---- finding the leader --------------------------------------------------------------

/** How many `not_leader` answers a change follows to the leader they name. */
const LEADER_HOPS_MAX = 1;

/**
 * A client of the one site at `url` (a URL a site gave, such as a
 * `leaderUrl`, or one the user gave) sending `headers`. With `once`, each
 * call is one attempt: a change is never repeated behind the operator's back
 * (after a lost answer, a repeat would find it made and be refused). Throws
 * {@link CliError} for a URL that is not http(s), and a permission error
 * unless the net permission covers it.
 */
export function siteClient(
  url: string,
  headers: Record<string, string>,
  options: { once?: boolean; timeoutMs?: number } = {},
): EdgeLedgerClient {
  const host = httpHost(url);
  if (host === undefined) throw new CliError(`Cannot use the site URL "${url}": not http(s)`);
  requirePermissions(`Cannot connect to ${url}`, [{ name: "net", host }]);
  return new EdgeLedgerClient({
    urls: [url],
    headers,
    timeoutMs: options.timeoutMs,
    retry: options.once ? { attemptsMax: 1 } : undefined,
  });
}

/** The host of an http:// or https:// URL; undefined for any other text. */
export function httpHost(url: string): string | undefined {
  return /^https?:\/\/[^/]+/.test(url) ? URL.parse(url)?.host : undefined;
}

/** Where an admin change goes: the leader, as the site that answered named it. */
export interface ChangeTarget {
  /** The leader's base URL. */
  url: string;
  /** GET /v1/status of the site that answered first. */
  status: StatusView;
}

/**
 * The leader to send a change to: asks the first of `client`'s sites that
 * answers for GET /v1/status; when that site does not lead, takes the URL of
 * the leader it names from its GET /v1/sites. Both are public reads: the
 * admin key goes to the leader only (another site may not even accept it).
 * Throws {@link CliError} starting with `action` when no site answers, or
 * the one that did knows of no leader (an election) or no URL for it.
 */
export async function leaderForChange(
  client: EdgeLedgerClient,
  action: string,
  headers: Record<string, string> = {},
): Promise<ChangeTarget> {
  const asked = await siteThatKnowsTheLeader(client, headers, action);
  const res = asked.status;
  client = asked.client;
  const { site, leader, role } = res.body;
  if (res.body.removed === true) {
    throw new CliError(
      `${action}: ${site} was removed from the cluster, and no other site given (--url or ` +
        "EDGELEDGER_URL) named a leader: give a member's URL",
    );
  }
  if (leader === null) {
    throw new CliError(
      `${action}: no site leads now (${site} knows of no leader; an election may be under ` +
        "way): try again in a moment",
    );
  }
  if (role === "leader") return { url: res.site, status: res.body };
  const sites = await attempt(action, () => client.request(ROUTES.listSites, {}));
  const url = sites.body.sites.find((s) => s.name === leader)?.url;
  if (url === undefined) {
    throw new CliError(`${action}: ${site} names ${leader} as the leader but lists no URL for it`);
  }
  return { url, status: res.body };
}

/**
 * GET /v1/status of the first of `client`'s sites that can say who leads —
 * a member (a removed site still runs and answers, with the view it had
 * when it was removed) that knows a leader — and a client of that site. It
 * asks the site the client picks and, when that one cannot say, every other
 * of `client.urls` in turn, one attempt each (with `headers`). When none
 * can, the first answer and `client`, for the caller to report.
 */
export async function siteThatKnowsTheLeader(
  client: EdgeLedgerClient,
  headers: Record<string, string>,
  action: string,
): Promise<{ status: RawResponse<StatusView>; client: EdgeLedgerClient }> {
  const knows = (s: StatusView) => s.removed !== true && s.leader !== null;
  const first = await attempt(action, () => client.request(ROUTES.getStatus, {}));
  if (knows(first.body)) return { status: first, client };
  for (const url of client.urls) {
    if (url === first.site) continue;
    const other = siteClient(url, headers, { once: true });
    try {
      const status = await other.request(ROUTES.getStatus, {});
      if (knows(status.body)) return { status, client: other };
    } catch (e) {
      if (!(e instanceof EdgeLedgerError)) throw e;
      if (e.cause instanceof Deno.errors.NotCapable) throw e.cause;
    }
  }
  return { status: first, client };
}

/**
 * Sends an admin change (`route`, `input`, the admin key) to the leader at
 * `url` ({@link leaderForChange}), one attempt, and when that site answers
 * 503 `not_leader` naming the leader's URL — leadership moved since — once
 * more to that URL. Resolves to the answer of the site that made the
 * change; throws {@link CliError} starting with `action` otherwise: the
 * site's problem type and detail, or an unanswered change that may have
 * been made.
 */
export async function callLeader<R extends RouteDefinition>(
  url: string,
  adminKey: string,
  route: R,
  input: RequestInput<R>,
  action: string,
): Promise<RawResponse<ResponseOf<R>>> {
  const headers = { authorization: `Bearer ${adminKey}` };
  return await attempt(action, async () => {
    let target = url.replace(/\/+$/, "");
    for (let hop = 0;; hop++) {
      const client = siteClient(target, headers, { once: true, timeoutMs: ADMIN_CALL_MS_MAX });
      try {
        return await client.request(route, input);
      } catch (e) {
        if (e instanceof NetworkError && e.timedOut) {
          // Sent, and unanswered: the change may be made or under way.
          throw new CliError(
            `${action}: ${target} did not answer within ${ADMIN_CALL_MS_MAX / 1000} s; the ` +
              "change may have been made (see member list)",
          );
        }
        const next = leaderNamedBy(e)?.url;
        if (
          hop >= LEADER_HOPS_MAX || typeof next !== "string" ||
          next.replace(/\/+$/, "") === target
        ) {
          throw leadershipMoved(e, target, hop, action) ?? e;
        }
        target = next.replace(/\/+$/, "");
      }
    }
  });
}

/**
 * What to say when a change ends on a `not_leader` answer that is not
 * followed: who leads as that site knows (none, itself, or another after the
 * one hop followed already) and what to do. Undefined for another error.
 */
function leadershipMoved(
  e: unknown,
  target: string,
  hops: number,
  action: string,
): CliError | undefined {
  const named = leaderNamedBy(e);
  if (named === undefined) return undefined;
  const leader = named.leader ?? "the leader";
  const url = named.url;
  const made = "the change was not made";
  if (url === undefined) {
    return new CliError(
      `${action}: ${target} answered not_leader and knows of no leader (an election may be ` +
        `under way); ${made}: try again in a moment`,
    );
  }
  return new CliError(
    `${action}: ${target} answered not_leader, naming ${leader} (${url})` +
      (hops > 0 ? ", after leadership moved once already" : "") +
      `; ${made}: run it again (or with --url ${url})`,
  );
}

// ---- the member list ------------------------------------------------------------------

/** One member as `member list` shows it. */
export interface MemberRow {
  name: string;
  role: "voter" | "learner";
  /** The URL the member list (`GET /v1/sites`) gives; null when it lists none. */
  url: string | null;
  /** True for the site that leads. */
  leader: boolean;
  /** The leader's match index of this member; null when no leader answered. */
  match: number | null;
  /** Entries this member is behind the leader's commit index; null when no leader answered. */
  lag: number | null;
  /**
   * True when the leader heard that this member is catching up by snapshot
   * (it stands for no election until its blocks are in); absent otherwise.
   */
  catchingUp?: true;
}

/** What `member list` shows: the members, who leads, and whether match and lag are known. */
export interface MembersView {
  /** The leader's name, or null when the site that answered knows of none. */
  leader: string | null;
  term: number;
  commitIndex: number;
  /** The site (base URL) whose status the view is made from. */
  site: string;
  /** True when that site is the leader, so `match` and `lag` are known. */
  fromLeader: boolean;
  /** Voters, then learners, each in the status's order. */
  members: MemberRow[];
}

/** The consensus part of `/v1/status`; the leader alone adds `peers` (its progress of each). */
const ConsensusStatus = z.object({
  voters: z.array(z.string()),
  learners: z.array(z.string()),
  peers: z.record(
    z.string(),
    z.looseObject({
      match: z.number().int().min(0),
      lag: z.number().int().min(0),
      catchingUp: z.boolean().optional(),
    }),
  ).optional(),
});

/**
 * The member list from one site's status and member list (`site` is that
 * site's base URL). A lone site, which runs no consensus and so has no
 * `voters` in its status, is its one voter and leader. Throws
 * {@link CliError} for a status whose membership breaks its shape.
 */
export function membersView(
  status: StatusView,
  sites: readonly SiteView[],
  site: string,
): MembersView {
  let voters: string[];
  let learners: string[] = [];
  let peers: z.output<typeof ConsensusStatus>["peers"];
  if ((status as { voters?: unknown }).voters === undefined) {
    voters = sites.map((s) => s.name);
  } else {
    const parsed = ConsensusStatus.safeParse(status);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new CliError(
        `Cannot read the members from ${site}: its status breaks the API schema: ` +
          `${issue.path.join(".")}: ${issue.message}`,
      );
    }
    ({ voters, learners, peers } = parsed.data);
  }
  const fromLeader = status.role === "leader";
  const urls = new Map(sites.map((s) => [s.name, s.url]));
  const row = (name: string, role: MemberRow["role"]): MemberRow => {
    const p = fromLeader ? peers?.[name] : undefined;
    return {
      name,
      role,
      url: urls.get(name) ?? null,
      leader: name === status.leader,
      match: p?.match ?? null,
      lag: p?.lag ?? null,
      ...(p?.catchingUp === true ? { catchingUp: true as const } : {}),
    };
  };
  return {
    leader: status.leader,
    term: status.term,
    commitIndex: status.commitIndex,
    site,
    fromLeader,
    members: [
      ...voters.map((n) => row(n, "voter")),
      ...learners.map((n) => row(n, "learner")),
    ],
  };
}

/**
 * The member list, made from the leader's status (the one site that knows
 * every member's match index) and member list: asks the first of `client`'s
 * sites that answers, and when that is not the leader, the leader it names
 * (its URL from the member list), with `headers`. When no leader is known or
 * it does not answer, the view is the answering site's, without match and
 * lag, and `note` says why.
 */
export async function readMembers(
  client: EdgeLedgerClient,
  headers: Record<string, string>,
  note: (line: string) => void,
): Promise<MembersView> {
  const action = "Cannot read the members";
  const asked = await siteThatKnowsTheLeader(client, headers, action);
  const first = asked.status;
  // That client sticks to the site that answered: the list comes from the same site.
  const firstSites = await attempt(action, () => asked.client.request(ROUTES.listSites, {}));
  const leader = first.body.leader;
  if (first.body.removed === true) {
    note(
      `${first.body.site} was removed from the cluster, and no other site given named a leader: ` +
        "this is its view from then",
    );
    return membersView(first.body, firstSites.body.sites, first.site);
  }
  if (first.body.role === "leader" || leader === null) {
    if (leader === null) {
      note(
        `${first.body.site} knows of no leader (an election may be under way): match and lag unknown`,
      );
    }
    return membersView(first.body, firstSites.body.sites, first.site);
  }
  const leaderUrl = firstSites.body.sites.find((s) => s.name === leader)?.url;
  if (leaderUrl !== undefined) {
    // One attempt: without it the view is still the answering site's.
    const leaderClient = siteClient(leaderUrl, headers, { once: true });
    try {
      const status = await leaderClient.request(ROUTES.getStatus, {});
      if (status.body.role === "leader") {
        const sites = await leaderClient.request(ROUTES.listSites, {});
        return membersView(status.body, sites.body.sites, status.site);
      }
      note(
        `${leader} (${leaderUrl}) no longer leads: match and lag unknown; showing ` +
          `${first.body.site}'s view`,
      );
    } catch (e) {
      if (!(e instanceof EdgeLedgerError)) throw e;
      if (e.cause instanceof Deno.errors.NotCapable) throw e.cause;
      note(
        `${describeClientError(`Cannot ask the leader ${leader}`, e)}; match and lag unknown, ` +
          `showing ${first.body.site}'s view`,
      );
    }
  } else {
    note(`${first.body.site} lists no URL for the leader ${leader}: match and lag unknown`);
  }
  return membersView(first.body, firstSites.body.sites, first.site);
}

// ---- backups ----------------------------------------------------------------------------

/** The media type of a backup (`GET /v1/admin/backup`). */
const BACKUP_MEDIA_TYPE = "application/vnd.sqlite3";
/** The first 16 bytes of every SQLite database file. */
const SQLITE_HEADER = new TextEncoder().encode("SQLite format 3\0");
/**
 * Longest wait for a backup's answer, ms: a site copies its database before
 * it answers, which for a large one takes minutes.
 */
export const BACKUP_ANSWER_MS_MAX = 15 * 60_000;
/**
 * Longest wait for the next bytes of a download, ms: as long as a site waits
 * for a reader that stopped (then it ends the download).
 */
export const BACKUP_IDLE_MS_MAX = 60_000;
/** Most bytes of a refusal (a problem document) read. */
const PROBLEM_BYTES_MAX = 64 * 1024;
/** Statuses after which the next site is tried, as the SDK's client does. */
const FAILOVER_STATUSES = new Set([502, 503, 504]);

/** What `backup` wrote: from the answer's headers, those the site sent. */
export interface BackupInfo {
  /** The file written. */
  file: string;
  /** The base URL of the site whose copy it is. */
  site: string;
  /** The name the site gave it (`<ledger>-<site>-<height>.db`). */
  filename?: string;
  /** The height of the copy's head block. */
  height?: number;
  /** The copy's head block hash. */
  head?: string;
  /** The Raft index applied in the copy. */
  appliedIndex?: number;
  /** Bytes written. */
  bytes: number;
}

/**
 * Downloads `GET /v1/admin/backup` from the first of `urls` that answers
 * (failing over, as the SDK's client does, on no answer and on 502, 503 and
 * 504) into `out`, written as every output of the command line is: whole or
 * not at all ({@link writeOutput}; mode 0600: it is the whole ledger). The
 * answer must be a database (its media type and SQLite's header) of exactly
 * its `Content-Length`; a download that breaks off, stalls for
 * {@link BACKUP_IDLE_MS_MAX}, or is aborted by `signal` leaves nothing.
 * Throws {@link CliError}: the site's problem type and detail, or what went
 * wrong.
 */
export async function downloadBackup(
  urls: readonly string[],
  adminKey: string,
  out: string,
  options: { replace: boolean; signal: AbortSignal },
): Promise<BackupInfo> {
  const action = "Cannot download a backup";
  let lastError: EdgeLedgerError | undefined;
  for (const url of urls) {
    const site = url.replace(/\/+$/, "");
    const requestId = crypto.randomUUID();
    const abort = new AbortController();
    const signal = AbortSignal.any([options.signal, abort.signal]);
    let timer = setTimeout(() => abort.abort(), BACKUP_ANSWER_MS_MAX);
    try {
      let res: Response;
      try {
        res = await fetch(`${site}/v1/admin/backup`, {
          headers: {
            authorization: `Bearer ${adminKey}`,
            accept: `${BACKUP_MEDIA_TYPE}, application/problem+json`,
            "x-request-id": requestId,
          },
          signal,
        });
      } catch (e) {
        if (e instanceof Deno.errors.NotCapable) throw e;
        if (options.signal.aborted) throw new CliError(`${action}: interrupted`);
        const why = abort.signal.aborted
          ? `no answer within ${BACKUP_ANSWER_MS_MAX / 60_000} minutes`
          : errorText(e);
        lastError = new NetworkError(`Cannot reach ${site}: ${why}`, {
          site,
          requestId,
          cause: e,
        });
        continue;
      }
      // Answered: from now on only a stall ends the download.
      clearTimeout(timer);
      timer = setTimeout(() => abort.abort(), BACKUP_IDLE_MS_MAX);
      const answered = { site, requestId: res.headers.get("x-request-id") ?? requestId };
      if (!res.ok) {
        lastError = await refusalOf(res, answered);
        if (FAILOVER_STATUSES.has(res.status)) continue;
        throw new CliError(describeClientError(action, lastError));
      }
      const type = (res.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
      if (type !== BACKUP_MEDIA_TYPE || res.body === null) {
        await res.body?.cancel();
        throw new CliError(
          `${action}: ${site} answered with ${type || "no media type"}, not a database ` +
            `(${BACKUP_MEDIA_TYPE})`,
        );
      }
      const length = intHeader(res.headers, "content-length");
      const chunks = checkedDownload(res.body, {
        action: `${action}: the download from ${site}`,
        bytes: length,
        signal: options.signal,
        // Each chunk re-arms the stall timer.
        onChunk: () => {
          clearTimeout(timer);
          timer = setTimeout(() => abort.abort(), BACKUP_IDLE_MS_MAX);
        },
        stalled: () => abort.signal.aborted,
      });
      const bytes = await writeOutput(out, chunks, {
        what: "backup",
        replace: options.replace,
        mode: 0o600,
      });
      const disposition = res.headers.get("content-disposition") ?? "";
      return {
        file: out,
        site,
        filename: /filename="([^"]+)"/.exec(disposition)?.[1],
        height: intHeader(res.headers, "x-edgeledger-backup-height"),
        head: res.headers.get("x-edgeledger-backup-head") ?? undefined,
        appliedIndex: intHeader(res.headers, "x-edgeledger-backup-applied-index"),
        bytes,
      };
    } finally {
      clearTimeout(timer);
      // A body not read to its end (the copy could not be written, say) is
      // let go now: the site holds its one backup slot while a reader is there.
      abort.abort();
    }
  }
  throw new CliError(describeClientError(action, lastError!));
}

/**
 * A download's chunks as they come, checked: the first bytes are SQLite's
 * header, and the total is `bytes` when the site said it. Any failure — the
 * connection broke, the stall timer fired, `signal` aborted, a check failed —
 * is a {@link CliError} starting with `action`.
 */
async function* checkedDownload(
  body: ReadableStream<Uint8Array>,
  options: {
    action: string;
    bytes: number | undefined;
    signal: AbortSignal;
    onChunk: () => void;
    stalled: () => boolean;
  },
): AsyncGenerator<Uint8Array> {
  let received = 0;
  const head = new Uint8Array(SQLITE_HEADER.length);
  const reader = body.getReader();
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        const why = options.signal.aborted
          ? "interrupted"
          : options.stalled()
          ? `no data for ${BACKUP_IDLE_MS_MAX / 1000} s`
          : errorText(e);
        throw new CliError(`${options.action} broke off after ${received} bytes: ${why}`);
      }
      if (chunk.done) break;
      options.onChunk();
      const bytes = chunk.value;
      if (received < head.length) {
        head.set(bytes.subarray(0, head.length - received), received);
      }
      received += bytes.length;
      if (options.bytes !== undefined && received > options.bytes) {
        throw new CliError(`${options.action} is longer than its ${options.bytes} bytes`);
      }
      yield bytes;
    }
  } finally {
    reader.releaseLock();
    await body.cancel().catch(() => {});
  }
  if (options.bytes !== undefined && received !== options.bytes) {
    throw new CliError(
      `${options.action} ended after ${received} of its ${options.bytes} bytes`,
    );
  }
  if (received < head.length || !head.every((b, i) => b === SQLITE_HEADER[i])) {
    throw new CliError(`${options.action} is not an SQLite database`);
  }
}

/**
 * The SDK's error for a refusal (a status that is not 2xx) — a
 * {@link RejectedError} for a 4xx, a {@link ServerError} otherwise — with
 * the site's problem document when it sent one, as the SDK's client makes
 * them, so {@link describeClientError} says it the same way.
 */
async function refusalOf(
  res: Response,
  at: { site: string; requestId: string },
): Promise<EdgeLedgerError> {
  const text = await readTextMax(res, PROBLEM_BYTES_MAX).catch(() => "");
  let problem: ProblemDetails | undefined;
  if ((res.headers.get("content-type") ?? "").includes("json")) {
    try {
      const parsed = Problem.safeParse(JSON.parse(text));
      if (parsed.success) problem = parsed.data as ProblemDetails;
    } catch {
      // Not a problem document: described from the status.
    }
  }
  const detail = problem?.detail ?? (text.slice(0, 200) || res.statusText);
  const message = `${res.status} from ${at.site}: ${
    problem ? `${problem.title}: ${describeProblem(problem)}` : detail
  }`;
  if (res.status >= 400 && res.status < 500) {
    return new RejectedError(message, {
      ...at,
      problem: problem ??
        { type: "about:blank", title: res.statusText, status: res.status, detail },
    });
  }
  return new ServerError(message, { ...at, status: res.status, problem });
}

/** At most `bytesMax` bytes of `res`'s body, as text; the rest is not read. */
async function readTextMax(res: Response, bytesMax: number): Promise<string> {
  if (res.body === null) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  try {
    while (bytes < bytesMax) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      bytes += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const all = new Uint8Array(bytes);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all.subarray(0, bytesMax));
}

/** A header holding a whole number, or undefined when it is absent or holds none. */
function intHeader(headers: Headers, name: string): number | undefined {
  const value = headers.get(name);
  return value !== null && /^(0|[1-9][0-9]{0,15})$/.test(value) ? Number(value) : undefined;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
