/**
 * The admin routes under `/v1/admin/` (cluster membership, leadership, a
 * site's own key, backups) as OpenAPI route definitions, with the request
 * schemas the site validates their bodies and paths with
 * (`src/api/admin_routes.ts` imports them: one definition for the server and
 * the document). Each site lists them in its `/openapi.json`, tagged
 * `admin`, under their own security scheme {@link ADMIN_SECURITY_SCHEME}:
 * an admin API key, not a tenant one.
 *
 * They are not part of the public API's {@link ROUTES} (DESIGN §6): the
 * SDK's client is never given an admin key, and a gateway answers
 * `/v1/admin/` 404; operators call a site directly (`task cli member …`).
 *
 * Every route checks the key before anything else: no `Authorization` is
 * 401 `unauthorized` with the challenge {@link ADMIN_BEARER_CHALLENGE}; one
 * that is no admin key of the site (not a Bearer key of 16–256 characters,
 * or a key it does not accept) is 401 too, with
 * {@link ADMIN_BEARER_CHALLENGE_INVALID}, except one of its tenant API keys,
 * which is 403 `forbidden` (RFC 6750 §3.1: known, but not for this). Membership
 * changes are made by the leader; another site answers 503 `not_leader`
 * ({@link NotLeaderProblem}).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { siteKeyCanSign, siteKeyDid } from "../kinds/gov.ts";
import { Problem } from "./schemas.ts";
import {
  type HeaderObject,
  NO_STORE_HEADERS,
  PROBLEM_HEADERS,
  type ResponseHeaderRefs,
  RETRY_PROBLEM_HEADERS,
} from "./headers.ts";

/**
 * The Bearer challenge of an admin 401 to a request without a key: admin
 * keys are a protection space of their own, so another realm than the
 * public API's.
 */
export const ADMIN_BEARER_CHALLENGE = 'Bearer realm="edgeledger-admin"';

/**
 * The challenge of an admin 401 to a key that is no admin key of the site
 * (RFC 6750 §3.1 `invalid_token`): asking again with it will not help.
 */
export const ADMIN_BEARER_CHALLENGE_INVALID =
  'Bearer realm="edgeledger-admin", error="invalid_token"';

/** The name of the admin key's security scheme in `/openapi.json`'s `components.securitySchemes`. */
export const ADMIN_SECURITY_SCHEME = "adminKey";

/** The admin key's security scheme, as `/openapi.json` declares it. */
export const ADMIN_SECURITY_SCHEME_OBJECT = {
  type: "http",
  scheme: "bearer",
  description: "An admin API key (16–256 characters without spaces; sites keep only its SHA-256, " +
    "`adminKeyHashes` in their config), distinct from tenant API keys: it may change the " +
    "cluster's membership, so it goes to the sites directly, never through a gateway or the SDK.",
} as const;

/** The tag of the admin routes in `/openapi.json`. */
export const ADMIN_TAG = "admin";

/** Longest member URL, characters. */
export const MEMBER_URL_LENGTH_MAX = 2048;

/** The media type of a backup (`GET /v1/admin/backup`). */
export const BACKUP_MEDIA_TYPE = "application/vnd.sqlite3";

/** A site name, as genesis and `gov.*` spell one. */
export const SiteName = z.string().regex(
  /^[a-z0-9][a-z0-9._-]{0,63}$/,
  "must be 1-64 of a-z, 0-9, '.', '_', '-'",
).openapi({ description: "A site's name.", example: "site-d" });

/** `POST /v1/admin/members`: the site to add as a learner. */
export const AdminMember = z.strictObject({
  name: SiteName,
  url: z.url().max(MEMBER_URL_LENGTH_MAX).openapi({
    description: "The URL the other sites reach it at.",
    example: "http://127.0.0.1:7004",
  }),
  publicKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be a base64url Ed25519 key")
    // 32 bytes that are no point on the curve would add a member whose
    // signatures can never verify.
    .refine((k) => siteKeyDid(k) !== undefined, "must be an Ed25519 public key (a curve point)")
    // A point of small order verifies no signature: such a member could
    // never be heard.
    .refine(
      (k) => siteKeyDid(k) === undefined || siteKeyCanSign(k),
      "must be an Ed25519 key that can sign (not of small order)",
    )
    .openapi({ description: "Its Ed25519 public key (a curve point), base64url." }),
}).openapi("AdminMember");

/** `PATCH /v1/admin/members/{name}`: the member's new URL, as the other sites reach it. */
export const AdminMemberMove = z.strictObject({
  url: z.url().max(MEMBER_URL_LENGTH_MAX)
    .refine((u) => /^https?:\/\//.test(u), "must be an http:// or https:// URL")
    .openapi({ description: "An http:// or https:// URL.", example: "http://127.0.0.1:7014" }),
}).openapi("AdminMemberMove");

/** `POST /v1/admin/leader`: the voter to hand leadership to. */
export const AdminLeaderTransfer = z.object({ to: SiteName }).openapi("AdminLeaderTransfer");

/** What every membership route answers once the change is applied on the leader. */
export const AdminDone = z.object({ ok: z.literal(true) }).openapi("AdminDone");

/** `POST /v1/admin/site-key`: the key the site retired and the one it signs with now. */
export const SiteKeyRotation = z.object({
  site: z.string().nullable().openapi({ description: "The site that rotated its key." }),
  previous: z.string().openapi({ description: "The retired public key, base64url." }),
  publicKey: z.string().openapi({ description: "The new public key, base64url." }),
  untilHeight: z.number().int().min(0).openapi({
    description: "The last block height the retired key signed.",
  }),
  retirementSigned: z.boolean().openapi({
    description: "Whether the site has signed `untilHeight` with its new key yet (it does later " +
      "if not).",
  }),
}).openapi("SiteKeyRotation");

/**
 * The 503 `not_leader` of a membership change asked of a site that does not
 * lead: the leader it knows, to ask instead.
 */
export const NotLeaderProblem = Problem.extend({
  leader: z.string().nullable().openapi({
    description: "The leader's name; null while none is known.",
  }),
  leaderUrl: z.string().nullable().openapi({
    description: "The leader's URL, to send the change to; null while none is known.",
  }),
  retryAfter: z.number().int().min(1).openapi({ description: "As `Retry-After`, seconds." }),
}).openapi("NotLeaderProblem");

/** The admin routes' response headers, registered as `components.headers` besides `RESPONSE_HEADERS`. */
export const ADMIN_RESPONSE_HEADERS = {
  WwwAuthenticateAdmin: {
    description: "The Bearer challenge of an admin 401: send an admin API key as " +
      "`Authorization: Bearer <key>` (the admin routes are a realm of their own). Without " +
      '`error` the request had no `Authorization`; with `error="invalid_token"` what it sent is ' +
      "no admin key of this site.",
    required: true,
    schema: { type: "string", enum: [ADMIN_BEARER_CHALLENGE, ADMIN_BEARER_CHALLENGE_INVALID] },
  },
  ContentDispositionBackup: {
    description: "`attachment` and the copy's file name, `<ledger>-<site>-<height>.db`.",
    required: true,
    schema: { type: "string", pattern: '^attachment; filename="[^"/\\\\]+"$' },
  },
  BackupHeight: {
    description: "The height of the copy's newest block.",
    required: true,
    schema: { type: "integer", minimum: 0 },
  },
  BackupHead: {
    description: "The hash of the copy's newest block, hex.",
    required: true,
    schema: { type: "string", pattern: "^[0-9a-f]{64}$" },
  },
  BackupAppliedIndex: {
    description: "The Raft entry index applied with the copy's newest block (0 for a lone site).",
    required: true,
    schema: { type: "integer", minimum: 0 },
  },
} satisfies Record<string, HeaderObject>;

/** A reference to the header component `name` of {@link ADMIN_RESPONSE_HEADERS}. */
function ref(name: keyof typeof ADMIN_RESPONSE_HEADERS) {
  return { $ref: `#/components/headers/${name}` as const };
}

/** Headers of an admin 401: a problem's, and the admin realm's challenge. */
export const ADMIN_UNAUTHORIZED_HEADERS = {
  ...PROBLEM_HEADERS,
  "WWW-Authenticate": ref("WwwAuthenticateAdmin"),
} as const;

/** Headers of a backup: never stored, its file name, and what the copy holds. */
export const BACKUP_HEADERS = {
  ...NO_STORE_HEADERS,
  "Content-Disposition": ref("ContentDispositionBackup"),
  "X-Edgeledger-Backup-Height": ref("BackupHeight"),
  "X-Edgeledger-Backup-Head": ref("BackupHead"),
  "X-Edgeledger-Backup-Applied-Index": ref("BackupAppliedIndex"),
} as const;

const problem = (
  description: string,
  headers: ResponseHeaderRefs = PROBLEM_HEADERS,
  schema: z.ZodType = Problem,
) => ({ description, headers, content: { "application/problem+json": { schema } } });

const done = {
  description: "The change is applied on the leader.",
  headers: NO_STORE_HEADERS,
  content: { "application/json": { schema: AdminDone } },
};

/** The problems every admin route can answer with. */
const AUTH_PROBLEMS = {
  401: problem(
    "`unauthorized`: no `Authorization`, or one that is no admin key of this site (not a " +
      "Bearer key of 16–256 characters without spaces, or a key it does not accept: " +
      '`WWW-Authenticate` then says `error="invalid_token"`).',
    ADMIN_UNAUTHORIZED_HEADERS,
  ),
  403: problem(
    "`forbidden`: one of this site's tenant API keys, which may not administer (admin keys " +
      "are separate).",
  ),
  500: problem("`internal`: a bug; no detail is leaked."),
} as const;

/** The problems of a route that reads a JSON body. */
const BODY_PROBLEMS = {
  413: problem("`payload_too_large`: the body exceeds the site's `requestBytesMax`."),
  415: problem("`unsupported_media_type`: the body must be application/json."),
} as const;

/** The problems of a membership change (made by the leader only). */
const CHANGE_PROBLEMS = {
  503: problem(
    "`not_leader`: this site does not lead; send the change to `leaderUrl` (null while no " +
      "leader is known: retry after `Retry-After`).",
    RETRY_PROBLEM_HEADERS,
    NotLeaderProblem,
  ),
  504: problem(
    "`commit_timeout`: proposed, but not applied within the leader's proposal timeout; it may " +
      "still take effect: look at the membership (`GET /v1/status`: `voters`, `learners`) " +
      "before asking again.",
  ),
} as const;

const nameParam = z.object({ name: SiteName });
const invalidName = "`validation`: the path's `name` is no site name (`errors` names `path.name`)";
const invalidBody = "`validation`: the body is no JSON, repeats a member name in an object, or " +
  "fails its schema (`errors` names the fields, `body.<field>`)";
const jsonBody = (schema: z.ZodType) => ({
  required: true,
  content: { "application/json": { schema } },
});

/** `POST /v1/admin/members`: add a site as a non-voting learner. */
export const addMember = createRoute({
  method: "post",
  path: "/v1/admin/members",
  operationId: "addMember",
  tags: [ADMIN_TAG],
  security: [{ [ADMIN_SECURITY_SCHEME]: [] }],
  summary: "Add a site as a learner",
  description: 'Leader only. Adds a started site (`"join": true`) as a non-voting learner: a ' +
    "directory entry with its URL and key, then the membership change; answers once both are " +
    "applied. It catches up from the leader's log (or a snapshot); promote it once it has.",
  request: { body: jsonBody(AdminMember) },
  responses: {
    200: done,
    400: problem(`${invalidBody}.`),
    ...AUTH_PROBLEMS,
    409: problem(
      "`conflict`: the cluster refuses the change now (already a member, a name known with " +
        "another key, another change under way, a lone site); `detail` says why.",
    ),
    ...BODY_PROBLEMS,
    ...CHANGE_PROBLEMS,
  },
});

/** `POST /v1/admin/members/{name}/promote`: make a caught-up learner a voter. */
export const promoteMember = createRoute({
  method: "post",
  path: "/v1/admin/members/{name}/promote",
  operationId: "promoteMember",
  tags: [ADMIN_TAG],
  security: [{ [ADMIN_SECURITY_SCHEME]: [] }],
  summary: "Promote a learner to voter",
  description: "Leader only. Makes the learner `name`, once caught up, a voter.",
  request: { params: nameParam },
  responses: {
    200: done,
    400: problem(`${invalidName}, or a body sent repeats a member name.`),
    ...AUTH_PROBLEMS,
    404: problem("`not_found`: no member of that name."),
    409: problem(
      "`conflict`: the cluster refuses the change now (a voter already, a learner not caught " +
        "up, another change under way, a lone site); `detail` says why.",
    ),
    413: BODY_PROBLEMS[413],
    ...CHANGE_PROBLEMS,
  },
});

/** `DELETE /v1/admin/members/{name}`: remove a site. */
export const removeMember = createRoute({
  method: "delete",
  path: "/v1/admin/members/{name}",
  operationId: "removeMember",
  tags: [ADMIN_TAG],
  security: [{ [ADMIN_SECURITY_SCHEME]: [] }],
  summary: "Remove a member",
  description: "Leader only. Removes the voter or learner `name`; its key is refused from then on.",
  request: { params: nameParam },
  responses: {
    200: done,
    400: problem(`${invalidName}.`),
    ...AUTH_PROBLEMS,
    404: problem("`not_found`: no member of that name."),
    409: problem(
      "`conflict`: the cluster refuses the change now (another change under way, a lone site); " +
        "`detail` says why.",
    ),
    ...CHANGE_PROBLEMS,
  },
});

/** `PATCH /v1/admin/members/{name}`: move a member to a new URL. */
export const updateMember = createRoute({
  method: "patch",
  path: "/v1/admin/members/{name}",
  operationId: "updateMember",
  tags: [ADMIN_TAG],
  security: [{ [ADMIN_SECURITY_SCHEME]: [] }],
  summary: "Move a member to a new URL",
  description: "Leader only. The member keeps its name and key; its new URL goes through the " +
    "log, and every site sends to it from then on. A URL it has already changes nothing (200).",
  request: { params: nameParam, body: jsonBody(AdminMemberMove) },
  responses: {
    200: done,
    400: problem(`${invalidName}; or ${invalidBody}.`),
    ...AUTH_PROBLEMS,
    404: problem("`not_found`: no member of that name."),
    409: problem("`conflict`: the cluster refuses the change now; `detail` says why."),
    ...BODY_PROBLEMS,
    ...CHANGE_PROBLEMS,
  },
});

/** `POST /v1/admin/leader`: hand leadership to another voter. */
export const transferLeader = createRoute({
  method: "post",
  path: "/v1/admin/leader",
  operationId: "transferLeader",
  tags: [ADMIN_TAG],
  security: [{ [ADMIN_SECURITY_SCHEME]: [] }],
  summary: "Transfer leadership",
  description: "Leader only. Hands leadership to the voter `to` and answers once it leads.",
  request: { body: jsonBody(AdminLeaderTransfer) },
  responses: {
    200: done,
    400: problem(`${invalidBody}.`),
    ...AUTH_PROBLEMS,
    409: problem(
      "`conflict`: `to` is no voter (a learner, no member, or this site), the transfer could " +
        "not start, or `to` did not lead within the proposal timeout; `detail` says which.",
    ),
    ...BODY_PROBLEMS,
    503: CHANGE_PROBLEMS[503],
  },
});

/** `POST /v1/admin/site-key`: the site asked rotates its own key. */
export const rotateSiteKey = createRoute({
  method: "post",
  path: "/v1/admin/site-key",
  operationId: "rotateSiteKey",
  tags: [ADMIN_TAG],
  security: [{ [ADMIN_SECURITY_SCHEME]: [] }],
  summary: "Rotate this site's key",
  description: "Any member, leader or not: the site asked makes a new Ed25519 key, has the " +
    "rotation (signed by both keys) put in the log, and answers once it signs with the new key.",
  responses: {
    200: {
      description: "Rotated: the site signs with the new key.",
      headers: NO_STORE_HEADERS,
      content: { "application/json": { schema: SiteKeyRotation } },
    },
    400: problem("`validation`: a body sent repeats a member name."),
    ...AUTH_PROBLEMS,
    409: problem(
      "`conflict`: no rotation now (a lone site, a site removed, one without a local data " +
        "folder, a rotation under way); `detail` says why.",
    ),
    413: BODY_PROBLEMS[413],
    504: problem(
      "`commit_timeout`: the rotation was not applied in time; it may still take effect (the " +
        "site keeps its new key, and the same one is proposed if asked again).",
    ),
  },
});

/** `GET /v1/admin/backup`: a consistent copy of this site's database. */
export const getBackup = createRoute({
  method: "get",
  path: "/v1/admin/backup",
  operationId: "getBackup",
  tags: [ADMIN_TAG],
  security: [{ [ADMIN_SECURITY_SCHEME]: [] }],
  summary: "Download a backup",
  description: "Any site (a lone one too): a copy of its database made now, streamed as " +
    `\`${BACKUP_MEDIA_TYPE}\` with its \`Content-Length\`. One backup runs at a time.`,
  responses: {
    200: {
      description: "The SQLite database file.",
      headers: BACKUP_HEADERS,
      content: {
        [BACKUP_MEDIA_TYPE]: {
          schema: z.string().openapi({ contentMediaType: BACKUP_MEDIA_TYPE } as never),
        },
      },
    },
    ...AUTH_PROBLEMS,
    404: problem("`not_found`: this site serves no backups."),
    409: problem(
      "`conflict`: another backup of this site runs, or its database is not a local file.",
    ),
    503: problem(
      "`insufficient_storage`: the copy would not leave the site its free-space minimum; retry " +
        "after `Retry-After`.",
      RETRY_PROBLEM_HEADERS,
    ),
  },
});

/** Every admin route, by operation id. */
export const ADMIN_ROUTES = {
  addMember,
  promoteMember,
  removeMember,
  updateMember,
  transferLeader,
  rotateSiteKey,
  getBackup,
} as const;
