/**
 * Zod schemas of the public HTTP API's requests and responses (DESIGN §6).
 *
 * These are protocol: the server validates with them and the client's types
 * come from them, so a change here is a wire change. Shapes listed in DESIGN
 * §6's routes table keep their shape; fields may only be added.
 *
 * Numbers that arrive in a path, query string or header are strict decimal
 * integers (`0` or no leading zero, no sign, no exponent) no larger than
 * `Number.MAX_SAFE_INTEGER`: `"1e3"`, `"0x10"`, `" 5"` and `"05"` are refused
 * as malformed, a longer run of digits as too big, so every SDK parses them
 * alike.
 *
 * @module
 */

import { z } from "@hono/zod-openapi";

/** Largest number of envelopes in one `POST /v1/txs` batch. */
export const BATCH_TXS_MAX = 1000;
/** Largest `limit` of `GET /v1/blocks`. */
export const BLOCKS_PAGE_LIMIT_MAX = 1000;
/** `limit` of `GET /v1/blocks` when none is given. */
export const BLOCKS_PAGE_LIMIT_DEFAULT = 100;
/** Largest `timeoutMs` of `POST /v1/txs?wait=commit`. */
export const COMMIT_WAIT_MS_MAX = 60_000;
/** `timeoutMs` of `POST /v1/txs?wait=commit` when none is given. */
export const COMMIT_WAIT_MS_DEFAULT = 10_000;
/** Largest number of kinds in the `kind` filter of `GET /v1/events`. */
export const EVENTS_KINDS_MAX = 32;

/** The prefix of every problem `type` URI; the slug follows it. */
export const PROBLEM_TYPE_BASE = "https://edgeledger.dev/problems/";

const DECIMAL = /^(0|[1-9][0-9]*)$/;
/** Digits of `Number.MAX_SAFE_INTEGER`: a decimal with more is above every `max`. */
const SAFE_DIGITS_MAX = String(Number.MAX_SAFE_INTEGER).length;

/**
 * A strict decimal integer carried as a string (path, query or header),
 * parsed to a number in `[min, max]`; requires `max <= Number.MAX_SAFE_INTEGER`.
 * Refuses signs, exponents, hex, spaces and leading zeros as malformed; a
 * well-formed number above `max`, however many digits it has, as too big
 * (the issue names `max`), and one below `min` as too small.
 */
export function decimalInt(
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): z.ZodPipe<z.ZodPipe<z.ZodString, z.ZodTransform<number, string>>, z.ZodNumber> {
  return z.string()
    .regex(DECIMAL, {
      error: "Must be a decimal integer without sign, exponent or leading zero",
      abort: true,
    })
    .check((ctx) => {
      // Number() would round so long a decimal (past 308 digits, to
      // Infinity, which is not a number to zod), so it is judged here.
      if (ctx.value.length > SAFE_DIGITS_MAX) {
        ctx.issues.push({
          code: "too_big",
          origin: "number",
          maximum: max,
          inclusive: true,
          input: ctx.value,
        });
      }
    })
    .transform(Number)
    // One issue for a number above `max`: int() alone would also call one
    // above MAX_SAFE_INTEGER too big, naming a different limit.
    .pipe(z.number().min(min).max(max, { abort: true }).int());
}

/** Lowercase hex SHA-256 (64 characters): transaction ids and block hashes. */
export const Hash = z.string().regex(/^[0-9a-f]{64}$/, {
  error: "Must be 64 lowercase hex characters",
}).openapi({
  description: "Lowercase hex SHA-256.",
  example: "9f2c4e0d6a1b3c5d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012a3b4c5d6",
});

/** A transaction id: hex SHA-256 of the signing payload (DESIGN §2). */
export const TxId = Hash.openapi({
  description: "Transaction id: hex SHA-256 of the signing payload.",
});

/**
 * Base64url without padding, as it decodes: whole groups of four characters,
 * then none, two or three more whose bits past the last whole byte are zero
 * (what `base64urlDecode` accepts), so `"A"` (no byte has one character) and
 * `"AB"` (only `"AA"` encodes 0x00) are refused here rather than by a decoder.
 */
export const Base64Url = z.string().regex(
  /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$/,
  { error: "Must be base64url without padding that decodes to whole bytes" },
).openapi({ description: "Base64url without padding.", example: "eyJ0eCI6e319" });

/** A `did:key` identifier of a signer. */
export const Did = z.string().regex(/^did:key:z[1-9A-HJ-NP-Za-km-z]{1,128}$/, {
  error: "Must be a did:key with a base58btc multibase key",
}).openapi({
  description: "A W3C did:key.",
  example: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
});

/** Read consistency (DESIGN §3): `stale` (this replica), `leader`, or `linearizable` (ReadIndex). */
export const ConsistencyLevel = z.enum(["stale", "leader", "linearizable"]).openapi({
  description:
    "Read consistency: `stale` reads this site's replica; `leader` reads the replica of a site " +
    "that believes it leads, with no quorum round (a leader that was paused or cut off and " +
    "replaced answers from its old state until it hears of the new term); `linearizable` " +
    "confirms leadership with a quorum first (ReadIndex).",
});

/** How long a site waits for a read's `minHeight` by default, in milliseconds. */
export const MIN_HEIGHT_WAIT_MS_DEFAULT = 5000;

/**
 * `minHeight` of a read: the block height the answering site must have
 * applied first. An extension of DESIGN §6's routes (optional; a site of an
 * earlier version ignores it). The SDK sends the height of the newest
 * committed receipt it was answered, so that a read at another site (after a
 * failover, or behind a gateway) sees the client's own writes.
 */
export const MinHeight = decimalInt(0).optional().openapi({
  type: "integer",
  minimum: 0,
  description: "Answer only once this site has applied the block of this height (read your " +
    "writes: the `height` of a committed receipt). A site that has not waits for it, up to 5 s " +
    "by default; then 503 `unavailable` with the site's `height` and `minHeight`, to retry here " +
    "or at another site. Combines with `consistency`, which is checked after it.",
  example: 42,
});

// ---------------------------------------------------------------------------
// Problems (RFC 9457)

/**
 * A problem (RFC 9457, `application/problem+json`). `type` is
 * `https://edgeledger.dev/problems/<slug>` with a slug from `PROBLEM_TYPES`;
 * `instance` is the request path; `requestId` matches the `X-Request-Id`
 * response header. Validation problems add `errors`; domain problems may add
 * members (e.g. `txId`).
 */
export const Problem = z.looseObject({
  type: z.string().openapi({ example: "https://edgeledger.dev/problems/validation" }),
  title: z.string().openapi({ example: "Request validation failed" }),
  status: z.number().int().openapi({ example: 400 }),
  detail: z.string().openapi({ example: "query.limit: Too big: expected number to be <=1000" }),
  instance: z.string().openapi({ example: "/v1/blocks" }),
  requestId: z.string().openapi({ example: "3b6f2a0e-8d4c-4a51-9f35-2c1d0e7b9a84" }),
  errors: z.array(z.object({
    path: z.string().openapi({
      description: "Dotted path of the bad field, prefixed by its location: `path`, `query`, " +
        "`header` or `body` (e.g. `query.limit`, `body.txs.3`).",
    }),
    message: z.string(),
  })).optional(),
}).openapi("Problem");

/** The problem summary carried by a refused receipt in a batch answer. */
export const ReceiptProblem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
}).openapi("ReceiptProblem");

// ---------------------------------------------------------------------------
// Transactions

/**
 * A signed transaction envelope, loosely: the route only checks that it is a
 * JSON object (and not a batch). The site validates it strictly, because it
 * needs the raw value to compute the transaction id and because an unknown
 * field is refused there (`invalid_envelope`), not silently dropped here.
 */
export const Envelope = z.custom<Record<string, unknown>>()
  // Checked without copying the value (a zod object would copy every
  // envelope of a batch only for the site to read the raw one).
  .superRefine((value, ctx) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      ctx.addIssue({
        code: "custom",
        message: `Invalid input: expected object, received ${
          value === null ? "null" : Array.isArray(value) ? "array" : typeof value
        }`,
        abort: true,
      });
    } else if (Object.hasOwn(value, "txs")) {
      ctx.addIssue({
        code: "custom",
        message: batchMessage(value),
        path: ["txs"],
        // Aborting, so a union failure reports the batch branch's issues.
        abort: true,
      });
    }
  })
  .openapi("Envelope", {
    type: "object",
    description: "A signed transaction envelope (DESIGN §2). Validated strictly by the site.",
    properties: {
      v: { type: "integer", enum: [1] },
      ledger: { type: "string" },
      kind: { type: "string", example: "data.anchor" },
      body: { type: "object" },
      nonce: { type: "string", description: "Base64url of 16 random bytes." },
      expiresAt: { type: "integer", description: "Milliseconds since the epoch." },
      signers: { type: "array", items: { type: "string" } },
      sigs: { type: "array", items: { type: "string" } },
    },
    required: ["v", "ledger", "kind", "body", "nonce", "expiresAt", "signers", "sigs"],
    additionalProperties: false,
    example: {
      v: 1,
      ledger: "demo",
      kind: "data.anchor",
      body: {
        stream: "meter-7",
        seq: 0,
        root: "9f2c4e0d6a1b3c5d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012a3b4c5d6",
        count: 10,
        from: 1764000000000,
        to: 1764000060000,
      },
      nonce: "AAECAwQFBgcICQoLDA0ODw",
      expiresAt: 1764003600000,
      signers: ["did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"],
      sigs: ["c2lnbmF0dXJl"],
    },
  });

/**
 * Why a body with a `txs` member is no envelope: a batch's own fault when
 * `txs` is its only member (not an array, empty, too long), else the other
 * members beside it. Said by the envelope branch of `SubmitBody`, whose
 * issue is the one reported, so it names what is wrong with the batch.
 */
function batchMessage(body: Record<string, unknown>): string {
  const txs = body.txs;
  if (Object.keys(body).length > 1) {
    return "A batch must be the only member of the body: { txs: [...] }";
  }
  if (!Array.isArray(txs)) {
    return `A batch's txs must be an array of envelopes, not ${txs === null ? "null" : typeof txs}`;
  }
  if (txs.length === 0) return "A batch holds at least 1 transaction; this one has none";
  if (txs.length > BATCH_TXS_MAX) {
    return `A batch holds at most ${BATCH_TXS_MAX} transactions; this one has ${txs.length}`;
  }
  return "A batch must be { txs: [envelopes] }";
}

/** `POST /v1/txs` batch body: 1 to `BATCH_TXS_MAX` envelopes, answered in order. */
export const TxBatch = z.object({
  txs: z.array(Envelope).min(1).max(BATCH_TXS_MAX),
}).strict().openapi("TxBatch");

/** `POST /v1/txs` body: one envelope, or a batch `{ txs: [...] }`. */
export const SubmitBody = z.union([TxBatch, Envelope]);

/** `POST /v1/txs` query. `timeoutMs` only matters with `wait=commit`. */
export const SubmitQuery = z.object({
  wait: z.enum(["commit"]).optional().openapi({
    description:
      "`commit`: answer once every admitted transaction is committed or `timeoutMs` passes.",
  }),
  timeoutMs: decimalInt(1, COMMIT_WAIT_MS_MAX).optional().openapi({
    type: "integer",
    minimum: 1,
    maximum: COMMIT_WAIT_MS_MAX,
    default: COMMIT_WAIT_MS_DEFAULT,
    description: "Upper bound on waiting for commit, in milliseconds.",
  }),
});

/** The outcome recorded in the log for a committed transaction. */
export const TxResult = z.looseObject({
  status: z.enum(["applied", "rejected"]),
  code: z.string().optional(),
  detail: z.string().optional(),
}).openapi("TxResult");

/**
 * A receipt: `pending` once admitted, `committed` once in a block (with
 * `height`, `logIndex`, `result`), `refused` when admission refused it (with
 * `problem`; only inside a batch answer).
 */
export const Receipt = z.object({
  txId: TxId.nullable().openapi({
    description: "Null when the envelope was too malformed to have an id.",
  }),
  status: z.enum(["pending", "committed", "refused"]),
  height: z.number().int().min(0).optional(),
  logIndex: z.number().int().min(0).optional(),
  result: TxResult.optional(),
  problem: ReceiptProblem.optional(),
}).openapi("Receipt");

/** `POST /v1/txs` batch answer: one receipt per envelope, in request order. */
export const ReceiptList = z.object({ receipts: z.array(Receipt) }).openapi("ReceiptList");

/** `GET /v1/txs/{txId}` answer. */
export const TxView = z.object({
  tx: z.record(z.string(), z.unknown()).openapi({
    description: "The signed envelope as submitted.",
  }),
  receipt: Receipt,
}).openapi("TxView");

/** `GET /v1/txs/{txId}/proof` answer: an RFC 9162 inclusion proof. */
export const ProofView = z.object({
  logIndex: z.number().int().min(0),
  treeSize: z.number().int().min(1),
  leaf: Base64Url.openapi({ description: "Base64url of the leaf data: JCS of {tx, result}." }),
  proof: z.array(Hash).openapi({ description: "Audit path, hex." }),
}).openapi("ProofView");

// ---------------------------------------------------------------------------
// Blocks, log, cluster

/** A block header exactly as hashed (DESIGN §2, "Blocks"). */
export const BlockHeader = z.object({
  v: z.literal(1),
  ledger: z.string(),
  height: z.number().int().min(0),
  prev: z.string(),
  time: z.number().int(),
  term: z.number().int().min(0),
  proposer: z.string(),
  txCount: z.number().int().min(0),
  logSize: z.number().int().min(0),
  logRoot: z.string(),
}).openapi("BlockHeader");

/** A block as served: header, its hash, its transaction ids in log order. */
export const BlockView = z.object({
  hash: Hash,
  header: BlockHeader,
  txIds: z.array(TxId),
}).openapi("BlockView");

/** `GET /v1/blocks` answer; `next` is the `from` of the next page, null at the head. */
export const BlockPage = z.object({
  blocks: z.array(BlockView),
  next: z.number().int().min(0).nullable(),
}).openapi("BlockPage");

/** `GET /v1/consistency` answer: an RFC 9162 consistency proof, hex. */
export const ConsistencyProof = z.object({ proof: z.array(Hash) }).openapi("ConsistencyProof");

/**
 * `GET /v1/status` answer; sites may add members. DESIGN §6 requires
 * `ledger`, `site`, `role`, `term`, `leader`, `commitIndex`, `appliedIndex`,
 * `height` and `logSize` "at least": the members our sites add are optional
 * here, so a status from any conforming site parses.
 */
export const StatusView = z.looseObject({
  ledger: z.string(),
  origin: z.string().optional(),
  site: z.string(),
  role: z.enum(["leader", "follower", "candidate", "learner"]),
  term: z.number().int().min(0),
  leader: z.string().nullable(),
  commitIndex: z.number().int().min(0),
  appliedIndex: z.number().int().min(0),
  height: z.number().int().min(0),
  logSize: z.number().int().min(0),
  head: z.string().optional(),
  pendingTxs: z.number().int().min(0).optional(),
  version: z.string().optional(),
  /**
   * False once the site stopped taking writes for good (a failed durable
   * write, a diverged replica, a block under a rules version it does not
   * support).
   */
  healthy: z.boolean().optional(),
  /**
   * True on a site that was removed from the cluster and still runs: it
   * takes no part any more (refuses writes and current reads, serves
   * `stale` reads of what it holds); stop it. Absent otherwise.
   */
  removed: z.boolean().optional(),
  /**
   * Present while this site catches up by snapshot: the entry index of the
   * snapshot and the height of its block (`height` climbs to it as the
   * blocks are fetched and re-executed). Meanwhile the site votes and
   * acknowledges the leader's entries, but stands for no election (a
   * leadership transfer to it is refused, and a learner is not promoted)
   * and applies nothing past the snapshot until its blocks are in.
   */
  catchingUp: z.object({
    snapshotIndex: z.number().int().min(0),
    targetHeight: z.number().int().min(0),
  }).optional(),
  /**
   * Present while this site has known no leader for longer than an election
   * takes (four election timeouts): how long, in ms. A site that does not
   * campaign (a learner, a voter catching up by snapshot) keeps naming its
   * last leader: for it, the time since it last heard from that leader. It is
   * cut off from the majority, and refuses new writes (503 `unavailable`)
   * until it hears a leader again; its reads may be behind the cluster's.
   * Absent otherwise.
   */
  leaderlessMs: z.number().int().min(0).optional(),
  /**
   * Present while the leader this site names has answered none of its
   * forwards (of writes, or the empty ones a site with no writes asks with
   * every election timeout) for longer than an election takes (four election
   * timeouts): how long, in ms. The link from this site to the leader is cut,
   * though the leader's messages still arrive (so the site is not
   * leaderless). It refuses new writes (503 `unavailable`) until the leader
   * answers a forward again. Absent otherwise.
   */
  leaderUnreachableMs: z.number().int().min(0).optional(),
  /**
   * This site's data volume: bytes free, the minimum under which it refuses
   * new transactions (and makes its cluster refuse them), and whether it is
   * under it. Absent on a site with no guard (a remote database).
   */
  storage: z.object({
    freeBytes: z.number().int().min(0),
    freeBytesMin: z.number().int().min(0),
    low: z.boolean(),
  }).optional(),
  /**
   * The sites of the cluster under their free-space minimum as this site
   * knows (itself included): new transactions are refused (503
   * `insufficient_storage`) while any is. Absent when none is.
   */
  storageLow: z.array(z.object({
    site: z.string(),
    freeBytes: z.number().int().min(0),
    freeBytesMin: z.number().int().min(0),
  })).optional(),
  /**
   * Members that signed another block than this site's at the same height
   * (the first such height per member); absent when none has.
   */
  divergence: z.array(z.object({
    site: z.string(),
    height: z.number().int().min(0),
    ours: z.string(),
    theirs: z.string(),
  })).optional(),
  /**
   * Members whose contract state hashed differently from this site's at the
   * newest height both hashed (the state check, every `stateCheckBlocks`
   * blocks); absent when none did.
   */
  stateDivergence: z.array(z.object({
    site: z.string(),
    height: z.number().int().min(0),
    ours: z.string(),
    theirs: z.string(),
  })).optional(),
  /**
   * Rules versions: `active` is in force at `height`, `supported` is the
   * highest this site's software executes, `scheduled` an activation
   * governance set for a later height (`gov.setRules`). A site stops before
   * executing a block whose version it does not support, so
   * `scheduled.version > supported` asks for an upgrade before
   * `scheduled.height`.
   */
  rules: z.object({
    active: z.number().int().min(1),
    supported: z.number().int().min(1),
    scheduled: z.object({
      version: z.number().int().min(1),
      height: z.number().int().min(0),
    }).optional(),
  }).optional(),
}).openapi("StatusView");

/** One member site; `verifierKey` in the signed-note `name+hash+base64key` form. */
export const SiteView = z.object({
  name: z.string(),
  url: z.string(),
  verifierKey: z.string(),
}).openapi("SiteView");

/** `GET /v1/sites` answer. */
export const SiteList = z.object({ sites: z.array(SiteView) }).openapi("SiteList");

const Base64urlKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
const Base64urlSig = z.string().regex(/^[A-Za-z0-9_-]{86}$/);

/**
 * One rotation of a site's key (see `sdk/key_rotation.ts`): the statement
 * `edgeledger/site-key-rotation/v1\n<name>\n<previous>\n<publicKey>\n`
 * signed by the previous key and by the new one (Ed25519, base64url).
 */
export const KeyRotationView = z.object({
  name: z.string(),
  previous: Base64urlKey,
  publicKey: Base64urlKey,
  previousSig: Base64urlSig,
  newSig: Base64urlSig,
}).openapi("KeyRotation");

/**
 * `GET /v1/sites/{name}/keys` answer: the member's key now, the chain of
 * rotations that led to it from the key it started with (oldest first),
 * and each key it retired with the last block height it signed, vouched for
 * by a later key once the site has signed it.
 */
export const SiteKeys = z.object({
  name: z.string(),
  verifierKey: z.string(),
  rotations: z.array(KeyRotationView),
  retired: z.array(z.object({
    verifierKey: z.string(),
    untilHeight: z.number().int().min(0),
    /**
     * The later key of the site (base64url) that signed the retirement
     * statement `edgeledger/site-key-retirement/v1\n<name>\n<retired key>\n<untilHeight>\n`;
     * absent until the site has signed it (moments after the rotation).
     */
    signer: z.string().optional(),
    /** Ed25519 signature of that statement by `signer`, base64url. */
    signature: z.string().optional(),
  })),
}).openapi("SiteKeys");

/** `GET /v1/integrity` answer; `ok: false` names the first mismatch. */
export const IntegrityReport = z.object({
  ok: z.boolean(),
  blocksChecked: z.number().int().min(0),
  txsChecked: z.number().int().min(0),
  firstMismatch: z.string().optional(),
  durationMs: z.number().min(0),
}).openapi("IntegrityReport");

/**
 * The data of an SSE `block` event. With a `kind`/`signer` filter, `txs`
 * holds only the matching transactions (`header.txCount` still counts all).
 */
export const BlockEvent = z.object({
  height: z.number().int().min(0),
  hash: Hash,
  header: BlockHeader,
  txs: z.array(z.object({
    txId: TxId,
    kind: z.string(),
    signers: z.array(z.string()),
    logIndex: z.number().int().min(0),
    result: TxResult,
  })),
}).openapi("BlockEvent");

/** `GET /healthz` answer: the process serves HTTP (liveness, not readiness). */
export const Health = z.object({
  status: z.literal("ok"),
  version: z.string(),
}).openapi("Health");

/**
 * `GET /readyz` answer of a site ready for traffic: it takes writes (it has
 * not stopped, is a member, knows a leader) and has applied what it knows
 * to be committed, give or take `READY_APPLY_LAG_MAX` entries.
 */
export const Ready = z.object({
  status: z.literal("ready"),
  version: z.string(),
  role: z.enum(["leader", "follower", "learner"]),
  leader: z.string(),
}).openapi("Ready");

/** Committed Raft entries a site may have left to apply and still be ready (`GET /readyz`). */
export const READY_APPLY_LAG_MAX = 1000;
