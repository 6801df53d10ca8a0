/**
 * Cluster administration under `/v1/admin/`, protected by an admin API key
 * (`Authorization: Bearer <key>`; sites keep only SHA-256 hashes of keys):
 *
 * | route | what |
 * | --- | --- |
 * | `POST /v1/admin/members` `{name, url, publicKey}` | add a site as a non-voting learner |
 * | `POST /v1/admin/members/{name}/promote` | make a caught-up learner a voter |
 * | `DELETE /v1/admin/members/{name}` | remove a site |
 * | `PATCH /v1/admin/members/{name}` `{url}` | move a member to a new URL |
 * | `POST /v1/admin/leader` `{to}` | transfer leadership |
 * | `POST /v1/admin/site-key` | rotate this site's own key (any member; see `site/key_rotation.ts`) |
 * | `GET /v1/admin/backup` | a consistent copy of this site's database (`application/vnd.sqlite3`) |
 *
 * Membership changes are made by the leader; another site answers 503
 * `not_leader` with the leader's name and URL (`leader`, `leaderUrl`; null
 * while none is known), as a `consistency=leader` read does — one status per
 * problem type, the one `PROBLEM_TYPES` gives. A path that names no member is
 * 404 `not_found`; a change the cluster refuses is 409 `conflict`; one
 * proposed but not applied within the proposal timeout is 504
 * `commit_timeout` (it may still take effect). Any site serves its own
 * backup. Every JSON answer and problem is `Cache-Control: no-store`.
 *
 * The routes, their bodies' schemas and every answer above are defined in
 * `sdk/api/admin_routes.ts`, which this module validates with and each
 * site's `/openapi.json` lists (tag `admin`); `test/openapi_fidelity_test.ts`
 * holds a cluster's answers to that document.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { requestId, type RequestIdVariables } from "hono/request-id";
import { z } from "zod";
import {
  ADMIN_BEARER_CHALLENGE,
  ADMIN_BEARER_CHALLENGE_INVALID,
  AdminLeaderTransfer,
  AdminMember,
  AdminMemberMove,
  SiteName,
} from "../../sdk/api/admin_routes.ts";
import { BEARER_KEY, hashKey, sameHex } from "./api_keys.ts";
import { refuseDuplicateMembers, requestSizeLimit, requireJsonBody } from "./middleware.ts";
import { bodyReadProblem, problemFromError, problemResponse, routeNotFound } from "./problem.ts";
import { boundedIssues } from "./field_issues.ts";
import { createLogger } from "../log.ts";
import { MembershipTimeout, UnknownMemberError } from "../site/raft_host.ts";

/** What the admin routes need from the consensus host. */
export interface AdminService {
  addLearner(member: { name: string; url: string; publicKey: string }): Promise<void>;
  promote(name: string): Promise<void>;
  remove(name: string): Promise<void>;
  /** Moves a member to a new URL (see `RaftHost.updateMemberUrl`). */
  updateMemberUrl(name: string, url: string): Promise<void>;
  transferLeadership(to: string): Promise<void>;
  /** The leader's name, if a leader is known. */
  leader(): string | undefined;
  leaderUrl(): string | undefined;
  isLeader(): boolean;
  /**
   * Rotates this site's own key (see `RaftHost.rotateKey`): the retired and
   * the new key, base64url. Absent: the site has none to rotate (a lone site).
   */
  rotateKey?(): Promise<
    { previous: string; publicKey: string; untilHeight: number; retirementSigned: boolean }
  >;
  /** This site's name (in the rotation's answer). */
  self?: string;
  /**
   * A copy of the site's database to stream, made now; throws a `conflict`
   * `LedgerError` while another one runs. Absent: the site serves none.
   */
  backup?(): Promise<BackupDownload>;
}

/** A database copy as the backup route streams it (see `site/backup.ts`). */
export interface BackupDownload {
  body: ReadableStream<Uint8Array>;
  info: { height: number; head: string; appliedIndex: number; bytes: number };
  filename: string;
}

/** Longest quote of a cause's message in a problem's detail, characters. */
const DETAIL_QUOTE_LENGTH_MAX = 500;

/** The headers of an admin route's JSON answer: one change's outcome, never stored. */
const NO_STORE = { "Cache-Control": "no-store" };

/** Options of {@link adminRoutes}; every limit has a default, its unit in its name. */
export interface AdminRoutesOptions {
  /** Largest request body accepted, in bytes; larger answers 413. Default 1 MiB (as the public API's). */
  requestBytesMax?: number;
  /**
   * Whether a key's SHA-256 hex is one of the site's tenant API keys (read
   * on every request, so a reload counts): such a key is known here but may
   * not administer, 403 `forbidden`; any other key that is no admin key is
   * 401 `unauthorized` (`invalid_token`). Without it, every key that is no
   * admin key is the latter.
   */
  isTenantKey?: (hash: string) => boolean;
}

/** `message` cut to {@link DETAIL_QUOTE_LENGTH_MAX} characters, so a detail never echoes a large input. */
function bounded(message: string): string {
  return message.length <= DETAIL_QUOTE_LENGTH_MAX
    ? message
    : `${message.slice(0, DETAIL_QUOTE_LENGTH_MAX)}… (${message.length} characters)`;
}

/** SHA-256 hex of an admin API key, the form kept in site configs (as for tenant keys). */
export const hashApiKey: (key: string) => string = hashKey;

/** Builds the `/v1/admin` sub-app. `keyHashes` are the accepted keys' SHA-256 hex. */
export function adminRoutes(
  service: AdminService,
  keyHashes: readonly string[],
  logError: (err: unknown, requestId: string) => void = (err, id) =>
    createLogger().error("admin request failed", { requestId: id, error: err }),
  options: AdminRoutesOptions = {},
) {
  const requestBytesMax = options.requestBytesMax ?? 1024 * 1024;
  const app = new Hono<{ Variables: RequestIdVariables }>();
  // Like the public API: every answer has a request id, every error is a problem.
  app.use(requestId());
  app.onError((err, c) => {
    // The client left mid-body, or sent a malformed one: no error of ours.
    const unread = bodyReadProblem(err, c.req.raw);
    if (unread !== undefined) return problemResponse(c, unread.problem);
    return problemResponse(c, problemFromError(err, (e) => logError(e, c.get("requestId") ?? "")));
  });

  const problem = (
    c: Context,
    status: number,
    type: string,
    title: string,
    detail: string,
    extra = {},
  ) => problemResponse(c, { status, type, title, detail, extra });

  app.use(async (c, next) => {
    const auth = c.req.header("authorization");
    if (auth === undefined) {
      return problemResponse(
        c,
        {
          status: 401,
          type: "unauthorized",
          title: "Unauthorized",
          detail: "An admin API key is required",
        },
        { challenge: ADMIN_BEARER_CHALLENGE },
      );
    }
    // Sent but no Bearer key of 16–256 characters: no admin key either (as the public API).
    const m = BEARER_KEY.exec(auth);
    const h = m === null ? undefined : hashApiKey(m[1]);
    if (h === undefined || !keyHashes.some((k) => sameHex(k, h))) {
      // RFC 6750 §3.1: a tenant's key is known but lacks the right
      // (insufficient scope, 403); any other is no key of this realm at all
      // (invalid_token, 401), which asking again with will not mend.
      if (h !== undefined && options.isTenantKey?.(h) === true) {
        return problem(
          c,
          403,
          "forbidden",
          "Forbidden",
          "This is a tenant API key: it may not administer the cluster (admin keys are separate)",
        );
      }
      return problemResponse(
        c,
        {
          status: 401,
          type: "unauthorized",
          title: "Unauthorized",
          detail: "This is no admin API key of this site",
        },
        { challenge: ADMIN_BEARER_CHALLENGE_INVALID },
      );
    }
    await next();
  });
  // After the key check, so nobody without a key has a body read; as the
  // public API: a size limit, and JSON bodies only (on the routes that read
  // one). A repeated name (say two `publicKey`s) would add a member other
  // than the one a log or a proxy that reads the first showed.
  app.use(requestSizeLimit({ requestBytesMax }));
  app.use("/members", requireJsonBody({ methods: ["POST"] }));
  app.use("/members/:name", requireJsonBody({ methods: ["PATCH"] }));
  app.use("/leader", requireJsonBody({ methods: ["POST"] }));
  app.use(refuseDuplicateMembers({ methods: ["POST", "PATCH"] }));

  const run = async (c: Context, action: () => Promise<void>) => {
    if (!service.isLeader()) {
      return problem(
        c,
        503,
        "not_leader",
        "Not the leader",
        "Membership changes are made by the leader",
        { leader: service.leader() ?? null, leaderUrl: service.leaderUrl() ?? null, retryAfter: 1 },
      );
    }
    try {
      await action();
      return c.json({ ok: true }, 200, NO_STORE);
    } catch (e) {
      // Proposed, not applied in time: not refused, so not a conflict.
      if (e instanceof MembershipTimeout) {
        return problem(c, 504, "commit_timeout", "Change not applied in time", bounded(e.message));
      }
      // The path names no member: nothing to change, as GET /v1/sites/{name}/keys answers.
      if (e instanceof UnknownMemberError) {
        return problem(c, 404, "not_found", "Not found", bounded(e.message));
      }
      return problem(
        c,
        409,
        "conflict",
        "Cannot change membership now",
        bounded((e as Error).message),
      );
    }
  };

  /**
   * The JSON body of `c` checked by `schema`, or the 400 validation problem
   * to answer (`shape` names what the body must be; `errors` the fields).
   */
  const bodyOf = async <T>(
    c: Context,
    schema: z.ZodType<T>,
    shape: string,
  ): Promise<{ data: T } | { refusal: Response }> => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return { refusal: problem(c, 400, "validation", "Invalid request", "Body must be JSON") };
    }
    const parsed = schema.safeParse(body);
    if (parsed.success) return { data: parsed.data };
    return {
      refusal: problem(c, 400, "validation", "Invalid request", `Body must be ${shape}`, {
        // Prefixed with `body`, as the public API's validation problems are.
        errors: boundedIssues(
          parsed.error.issues.map((i) => ({
            path: ["body", ...i.path].join("."),
            message: i.message,
          })),
        ),
      }),
    };
  };

  app.post("/members", async (c) => {
    const body = await bodyOf(c, AdminMember, "{name, url, publicKey}");
    if ("refusal" in body) return body.refusal;
    return await run(c, () => service.addLearner(body.data));
  });
  /** The `:name` of `c`, or the 400 validation problem for one that is no site name. */
  const nameOf = (c: Context): { name: string } | { refusal: Response } => {
    const parsed = SiteName.safeParse(c.req.param("name"));
    if (parsed.success) return { name: parsed.data };
    return {
      refusal: problem(c, 400, "validation", "Invalid request", "The path's name is no site name", {
        errors: [{ path: "path.name", message: parsed.error.issues[0].message }],
      }),
    };
  };
  app.post("/members/:name/promote", (c) => {
    const n = nameOf(c);
    return "refusal" in n ? n.refusal : run(c, () => service.promote(n.name));
  });
  app.delete("/members/:name", (c) => {
    const n = nameOf(c);
    return "refusal" in n ? n.refusal : run(c, () => service.remove(n.name));
  });
  app.patch("/members/:name", async (c) => {
    const n = nameOf(c);
    if ("refusal" in n) return n.refusal;
    const body = await bodyOf(c, AdminMemberMove, "{url}");
    if ("refusal" in body) return body.refusal;
    return await run(c, () => service.updateMemberUrl(n.name, body.data.url));
  });
  app.get("/backup", async (c) => {
    if (service.backup === undefined) {
      return problem(c, 404, "not_found", "Not found", "This site serves no backups");
    }
    const b = await service.backup();
    const headers = {
      "Content-Type": "application/vnd.sqlite3",
      "Content-Length": String(b.info.bytes),
      "Content-Disposition": `attachment; filename="${b.filename}"`,
      "Cache-Control": "no-store",
      "X-Edgeledger-Backup-Height": String(b.info.height),
      "X-Edgeledger-Backup-Head": b.info.head,
      "X-Edgeledger-Backup-Applied-Index": String(b.info.appliedIndex),
    };
    // Hono answers HEAD from this handler and drops the body unread: let the
    // copy go now rather than hold the site's one backup slot until it idles out.
    if (c.req.method === "HEAD") {
      await b.body.cancel();
      return c.body(null, 200, headers);
    }
    return c.body(b.body, 200, headers);
  });
  // Any member rotates its own key (the leader puts it in the log for it).
  app.post("/site-key", async (c) => {
    if (service.rotateKey === undefined) {
      return problem(
        c,
        409,
        "conflict",
        "Cannot rotate the key",
        "A lone site has no membership to record a new key in; it keeps the key genesis names",
      );
    }
    try {
      const r = await service.rotateKey();
      return c.json({ site: service.self ?? null, ...r }, 200, NO_STORE);
    } catch (e) {
      if (e instanceof MembershipTimeout) {
        return problem(
          c,
          504,
          "commit_timeout",
          "Rotation not applied in time",
          bounded(e.message),
        );
      }
      return problem(
        c,
        409,
        "conflict",
        "Cannot rotate the key now",
        bounded((e as Error).message),
      );
    }
  });
  app.post("/leader", async (c) => {
    // A site name first: the change's refusal quotes it.
    const body = await bodyOf(c, AdminLeaderTransfer, "{to: site name}");
    if ("refusal" in body) return body.refusal;
    const { to } = body.data;
    return await run(c, () => service.transferLeadership(to));
  });
  return app;
}

/**
 * The admin routes mounted at `/v1/admin`, as a site serves them: an unknown
 * admin path is a `not_found` problem too.
 */
export function adminRoot(
  service: AdminService,
  keyHashes: readonly string[],
  logError?: (err: unknown, requestId: string) => void,
  options: AdminRoutesOptions = {},
) {
  const root = new Hono<{ Variables: RequestIdVariables }>();
  root.route("/v1/admin", adminRoutes(service, keyHashes, logError, options));
  root.notFound(routeNotFound(root, "admin route"));
  return root;
}
