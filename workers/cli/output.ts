/**
 * What the command line prints: its failures as one line each, the
 * human-readable forms of the API's answers, and `watch`'s notes on its
 * connection. No I/O of its own: strings in, strings (or lines to a
 * callback) out.
 *
 * @module
 */
import {
  type BlockEvent,
  CommitTimeoutError,
  describeProblem,
  EdgeLedgerError,
  NetworkError,
  problemSlug,
  RateLimitedError,
  type Receipt,
  RejectedError,
  ServerError,
  type SiteView,
  type StatusView,
  type TxView,
  ValidationError,
} from "../../sdk/client/mod.ts";
import type { Verdict } from "../../sdk/light/mod.ts";
import { readiness } from "../../sdk/api/readiness.ts";
import { assert } from "../../src/chain/assert.ts";
import { formatBytes } from "../../src/site/disk_space.ts";
import { fetchFailure } from "../../src/site/tls.ts";
import type { BackupInfo, MembersView } from "./admin.ts";

/** A failure of the operation (exit code 1 unless said otherwise), described in one line. */
export class CliError extends Error {
  /** The process's exit code: 1 (the operation failed) by default. */
  readonly exitCode: number;

  /** `message` is one sentence-case line: the action, then what went wrong. */
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/**
 * One line for a failed client call: `action`, then the site's problem
 * (type slug, HTTP status, detail) when it sent one, else what failed, and
 * the site and request id to quote to its operator.
 *
 * @example
 * ```ts
 * describeClientError("Cannot submit transaction 3f2a…", e);
 * // "Cannot submit transaction 3f2a…: expired (422): Transaction expired at … [http://127.0.0.1:7001, request 9c…]"
 * ```
 */
export function describeClientError(action: string, e: EdgeLedgerError): string {
  const where = [e.site, e.requestId ? `request ${e.requestId}` : undefined]
    .filter((x) => x !== undefined).join(", ");
  const suffix = where ? ` [${where}]` : "";
  if (e instanceof CommitTimeoutError) return `${e.message}${suffix}`;
  // Another server's page knows nothing of the request id: it is not quoted.
  const foreign = foreignAnswer(e);
  if (foreign !== undefined) return `${action}: ${foreign}`;
  const problem = e instanceof RejectedError || e instanceof ValidationError ||
      e instanceof RateLimitedError || e instanceof ServerError
    ? e.problem
    : undefined;
  if (problem !== undefined) {
    const named = leaderNamedBy(e);
    return `${action}: ${problemSlug(problem.type)} (${problem.status}): ${
      describeProblem(problem)
    }${named === undefined ? "" : ` — ${whereTheLeaderIs(named)}`}${suffix}`;
  }
  if (e instanceof NetworkError) return `${action}: ${withConnectReason(e.message, e.cause)}`;
  return `${action}: ${e.message}${suffix}`;
}

/**
 * `e`'s message as the command line says it, for a message that quotes it
 * (a light client's verdict does): why a connection failed instead of
 * Deno's words ({@link withConnectReason}), and an answer that is not the
 * API's in one short line ({@link foreignAnswer}); any other as it is.
 */
export function errorMessage(e: EdgeLedgerError): string {
  if (e instanceof NetworkError) return withConnectReason(e.message, e.cause);
  return foreignAnswer(e) ?? e.message;
}

/** Longest excerpt of a foreign answer's text that {@link foreignAnswer} quotes. */
const FOREIGN_EXCERPT_MAX = 80;

/**
 * One line for an answer that is not the API's — a refusal without a
 * problem document, such as another server's HTML 404 page or a proxy's
 * 502 — or undefined for one that is. Says who answered, its status, that
 * it was not an edgeledger API answer (what a wrong URL or port looks
 * like), and the start of its text with tags and runs of white space
 * collapsed: the page itself may be many lines long.
 *
 * @example
 * ```ts
 * foreignAnswer(e);
 * // 'http://127.0.0.1:8080 answered 404 with an HTML page, not an edgeledger API answer: "404 Not Found …"'
 * ```
 */
export function foreignAnswer(e: EdgeLedgerError): string | undefined {
  let status: number;
  let text: string;
  if (e instanceof RejectedError && e.problem.type === "about:blank") {
    // The SDK's stand-in for a 4xx without a problem document: its detail is the body's start.
    status = e.status;
    text = e.problem.detail === e.problem.title ? "" : e.problem.detail;
  } else {
    // A 429 or 5xx without one: the SDK's message is "<status> from <site>: <the body's start>".
    const at = (e instanceof ServerError || e instanceof RateLimitedError) &&
        e.problem === undefined
      ? /^([3-5][0-9][0-9]) from (\S+): /.exec(e.message)
      : null;
    if (at === null || at[2] !== e.site) return undefined;
    status = Number(at[1]);
    text = e.message.slice(at[0].length);
  }
  const html = /^\s*</.test(text);
  // A page's scripts and styles are no words to quote; its tags go too. The
  // text may be cut short (the SDK keeps its first 200 characters): a tag
  // or a script left open runs to the end.
  const words = html
    ? text.replace(/<(script|style)\b[\s\S]*?(<\/\1\s*>|$)/gi, " ").replace(/<[^>]*(>|$)/g, " ")
    : text;
  const plain = words.replace(/\s+/g, " ").trim();
  const excerpt = plain.length > FOREIGN_EXCERPT_MAX
    ? `${plain.slice(0, FOREIGN_EXCERPT_MAX - 1).trimEnd()}…`
    : plain;
  return `${e.site ?? "the site"} answered ${status}${html ? " with an HTML page" : ""}, ` +
    `not an edgeledger API answer${excerpt === "" ? "" : `: "${excerpt}"`}`;
}

/** Who leads, as a site's `not_leader` answer names it. */
export interface LeaderNamed {
  /** The leader's name, when the site knows one. */
  leader: string | undefined;
  /** The leader's base URL, when the site knows one. */
  url: string | undefined;
}

/**
 * The leader a `not_leader` problem names (`leader`, `leaderUrl`), or
 * undefined for any other error. Sites answer it with 503; sites of earlier
 * releases answered a change 409, which counts too.
 */
export function leaderNamedBy(e: unknown): LeaderNamed | undefined {
  const problem = e instanceof RejectedError || e instanceof ServerError ? e.problem : undefined;
  if (problem === undefined || !problem.type.endsWith("/not_leader")) return undefined;
  return {
    leader: typeof problem.leader === "string" ? problem.leader : undefined,
    url: typeof problem.leaderUrl === "string" ? problem.leaderUrl : undefined,
  };
}

/**
 * What to do after a `not_leader` answer: which site leads and the `--url`
 * that reaches it, or that none is known yet.
 */
export function whereTheLeaderIs(named: LeaderNamed): string {
  if (named.url === undefined) {
    return "it knows of no leader (an election may be under way): try again in a moment";
  }
  return `the leader is ${named.leader ?? "at that URL"}: pass --url ${named.url}`;
}

/**
 * `message` with a "fetch failed" (all a failed `fetch` says of itself) at
 * its end — bare, or followed by the cause's own words, as the SDK now
 * gives it — replaced by why the connection failed, read from the error's
 * causes: "connection refused", the DNS error, the TLS error — what
 * etcdctl and curl print, and what tells a wrong port from a wrong host
 * from a wrong scheme. Any other message is returned as it is.
 */
export function withConnectReason(message: string, cause: unknown): string {
  const at = message.search(/fetch failed(: .*)?$/);
  if (at < 0 || !(cause instanceof Error)) return message;
  // Deno's, dug out by fetchFailure: "fetch failed: client error (Connect): tcp connect error: …".
  const reason = fetchFailure(cause).reason.replace(/^fetch failed(: |$)/, "")
    .replace(/^client error \(Connect\): /, "");
  if (reason === "") return message;
  const readable = /connection refused/i.test(reason)
    ? "connection refused (is a site running at that address and port?)"
    : /dns error|failed to lookup address/i.test(reason)
    ? `cannot find the host (${reason.replace(/^dns error: /, "")})`
    : /corrupt message|InvalidContentType/i.test(reason)
    ? `TLS handshake failed: the server does not speak TLS (is it http://, not https://?)`
    : /UnknownIssuer/.test(reason)
    ? `${reason} (trust the CA that signed its certificate: DENO_CERT=ca.pem before the command)`
    : reason;
  return message.slice(0, at) + readable;
}

/**
 * Runs `fn`; a client error becomes a {@link CliError} that starts with
 * `action`. A request Deno refused for want of a permission (a site the net
 * permission does not cover) is not the site's failure: its `NotCapable`
 * error is thrown on, for the command line to report as a permission error.
 */
export async function attempt<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof EdgeLedgerError) {
      if (e.cause instanceof Deno.errors.NotCapable) throw e.cause;
      throw new CliError(describeClientError(action, e));
    }
    throw e;
  }
}

/**
 * What `watch` says about its connection, one line each to `note`: where it
 * starts, then only when the connection changes — it could not connect at
 * first, it connected after all, an open stream dropped, it is back — never
 * once per retry. Fed by the subscription's `onConnect` ({@link connecting}:
 * an attempt starts) and `onOpen` ({@link opened}: its event stream opened).
 */
export class ConnectionNotes {
  readonly #note: (line: string) => void;
  /** The attempt under way: its site and the height it resumes after. */
  #attempt: { site: string; after: number } | undefined;
  /** `open` while a stream is open; `failing` after a failed attempt; `starting` before either. */
  #state: "starting" | "open" | "failing" = "starting";
  /** The site of the last stream that opened, once one has. */
  #openedSite: string | undefined;

  /** Lines go to `note`, without their newline. */
  constructor(note: (line: string) => void) {
    this.#note = note;
  }

  /** A connection attempt to `site` starts, resuming after `after` (-1: from height 0). */
  connecting(site: string, after: number): void {
    if (this.#attempt === undefined) {
      this.#note(`Watching ${site} from height ${after + 1}`);
    } else if (this.#state === "open") {
      this.#note(`Lost the connection to ${this.#openedSite}; reconnecting`);
      this.#state = "failing";
    } else if (this.#state === "starting") {
      this.#note(`Cannot connect to ${this.#attempt.site}; retrying`);
      this.#state = "failing";
    }
    this.#attempt = { site, after };
  }

  /** The attempt under way opened its event stream. Requires a {@link connecting} first. */
  opened(): void {
    assert(this.#attempt !== undefined, "ConnectionNotes.opened() before connecting()");
    const { site, after } = this.#attempt;
    if (this.#state === "failing") {
      this.#note(
        this.#openedSite === undefined
          ? `Connected to ${site}`
          : `Reconnected to ${site}; resuming from height ${after + 1}`,
      );
    }
    this.#state = "open";
    this.#openedSite = site;
  }
}

/** Rows of `[label, value]` as aligned lines; rows whose value is undefined are left out. */
export function fields(rows: ReadonlyArray<readonly [string, unknown]>): string {
  const shown = rows.filter(([, v]) => v !== undefined);
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${k.padEnd(width)}  ${text(v)}`).join("\n");
}

function text(value: unknown): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(", ");
  return JSON.stringify(value);
}

/** A site's status, one field a line. `url` is the site that answered. */
export function formatStatus(status: StatusView, url: string): string {
  const s = status as StatusView & { voters?: unknown; learners?: unknown };
  // What GET /readyz would answer, from the same status.
  const ready = readiness(s).failed;
  return fields([
    ["site", `${s.site} (${url})`],
    ["ledger", s.ledger],
    ["origin", s.origin],
    ["role", s.role],
    ["term", s.term],
    ["leader", s.leader ?? "none"],
    ["voters", Array.isArray(s.voters) ? s.voters : undefined],
    ["learners", Array.isArray(s.learners) && s.learners.length > 0 ? s.learners : undefined],
    ["height", s.height],
    ["head", s.head],
    ["log size", s.logSize],
    ["commit index", s.commitIndex],
    ["applied index", s.appliedIndex],
    ["pending txs", s.pendingTxs],
    ["healthy", s.healthy === undefined ? undefined : s.healthy ? "yes" : "no"],
    ["ready", ready.length === 0 ? "yes" : `no: ${ready.join("; ")}`],
    ["removed", s.removed ? "yes: it takes no part in the cluster any more" : undefined],
    [
      "catching up",
      s.catchingUp === undefined
        ? undefined
        : `by snapshot, to height ${s.catchingUp.targetHeight} (entry ${s.catchingUp.snapshotIndex}): ` +
          "it votes, but stands for no election until its blocks are in",
    ],
    [
      "disk free",
      s.storage === undefined
        ? undefined
        : `${formatBytes(s.storage.freeBytes)} (minimum ${formatBytes(s.storage.freeBytesMin)}` +
          (s.storage.low ? "; under it)" : ")"),
    ],
    [
      "writes paused",
      s.storageLow?.length
        ? "low disk space at " +
          s.storageLow.map((x) => `${x.site} (${formatBytes(x.freeBytes)} free)`).join(", ")
        : undefined,
    ],
    [
      "rules",
      s.rules === undefined
        ? undefined
        : `version ${s.rules.active} (supports ${s.rules.supported}` +
          (s.rules.scheduled
            ? `; version ${s.rules.scheduled.version} from height ${s.rules.scheduled.height})`
            : ")"),
    ],
    [
      "divergence",
      s.divergence?.length
        ? s.divergence.map((d) => `${d.site} at height ${d.height}`).join(", ")
        : undefined,
    ],
    [
      "state differs",
      s.stateDivergence?.length
        ? s.stateDivergence.map((d) => `from ${d.site}'s at height ${d.height}`).join(", ") +
          " (task integrity --replay on each names the row)"
        : undefined,
    ],
    ["version", s.version],
  ]);
}

/** The member sites as a table: name, URL, checkpoint verifier key. */
export function formatSites(sites: readonly SiteView[]): string {
  const rows = [
    ["NAME", "URL", "VERIFIER KEY"],
    ...sites.map((s) => [s.name, s.url, s.verifierKey]),
  ];
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => `${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2]}`)
    .join("\n");
}

/** `rows` (a header first) as aligned columns, two spaces apart, without trailing spaces. */
export function table(rows: ReadonlyArray<readonly string[]>): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd())
    .join("\n");
}

/**
 * The members as a table — name, role (voter or learner), whether it leads,
 * URL, the leader's match index of it and its lag behind the commit index
 * (`-` when no leader answered) — then a line naming the leader, its term
 * and commit index, and whose view it is when it is not the leader's, and
 * one for each member catching up by snapshot.
 */
export function formatMembers(view: MembersView): string {
  const rows = [
    ["NAME", "ROLE", "LEADER", "URL", "MATCH", "LAG"],
    ...view.members.map((m) => [
      m.name,
      m.role,
      m.leader ? "yes" : "",
      m.url ?? "-",
      m.match === null ? "-" : String(m.match),
      m.lag === null ? "-" : String(m.lag),
    ]),
  ];
  const summary = view.leader === null
    ? `No leader (term ${view.term}); ${view.site}'s view`
    : `Leader ${view.leader}, term ${view.term}, commit index ${view.commitIndex}` +
      (view.fromLeader ? "" : `; ${view.site}'s view (not the leader's): match and lag unknown`);
  const catchingUp = view.members.filter((m) => m.catchingUp).map((m) =>
    `${m.name} is catching up by snapshot: it votes, but stands for no election until its blocks are in`
  );
  return [table(rows), summary, ...catchingUp].join("\n");
}

/** What `backup` wrote, in one line: where from, where to, and what the copy holds. */
export function formatBackup(info: BackupInfo): string {
  const holds = [
    info.height === undefined ? undefined : `height ${info.height}`,
    info.head === undefined ? undefined : `head ${info.head}`,
    info.appliedIndex === undefined ? undefined : `applied index ${info.appliedIndex}`,
    `${info.bytes} bytes`,
  ].filter((x) => x !== undefined);
  return `Wrote the backup of ${info.site} to ${info.file}: ${holds.join(", ")}`;
}

/** What a receipt says, in one line: `<txId> committed at height …, log index …: applied`. */
export function formatReceipt(receipt: Receipt): string {
  const id = receipt.txId ?? "(no id)";
  switch (receipt.status) {
    case "committed":
      return `${id} committed at height ${receipt.height}, log index ${receipt.logIndex}: ` +
        describeResult(receipt.result);
    case "pending":
      return `${id} pending: admitted, not yet in a block`;
    case "refused":
      return `${id} refused: ${
        receipt.problem
          ? `${
            problemSlug(receipt.problem.type)
          } (${receipt.problem.status}): ${receipt.problem.detail}`
          : "no reason given"
      }`;
  }
}

/** `applied`, or `rejected <code>: <detail>`, of a committed transaction's result. */
export function describeResult(result: Receipt["result"]): string {
  if (result === undefined) return "no result";
  if (result.status === "applied") return "applied";
  return `rejected by its contract${result.code ? ` (${result.code})` : ""}` +
    (result.detail ? `: ${result.detail}` : "");
}

/** A transaction and its receipt, one field a line, the body as JSON. */
export function formatTx(view: TxView): string {
  const tx = view.tx as {
    kind?: unknown;
    ledger?: unknown;
    signers?: unknown;
    expiresAt?: unknown;
    body?: unknown;
  };
  const r = view.receipt;
  return fields([
    ["txId", r.txId ?? undefined],
    ["status", r.status],
    ["height", r.height],
    ["log index", r.logIndex],
    ["result", r.result === undefined ? undefined : describeResult(r.result)],
    ["kind", tx.kind],
    ["ledger", tx.ledger],
    ["signers", tx.signers],
    [
      "expires",
      typeof tx.expiresAt === "number" ? new Date(tx.expiresAt).toISOString() : undefined,
    ],
    ["body", tx.body],
  ]);
}

/** One line per committed block, then one indented line per (matching) transaction. */
export function formatBlockEvent(event: BlockEvent): string {
  const count = event.header.txCount;
  const lines = [
    `block ${event.height} ${event.hash} ${count} tx${count === 1 ? "" : "s"} ` +
    new Date(event.header.time).toISOString(),
  ];
  for (const tx of event.txs) {
    lines.push(`  tx ${tx.txId} ${tx.kind} log index ${tx.logIndex}: ${describeResult(tx.result)}`);
  }
  return lines.join("\n");
}

/**
 * What a passing verdict proved, from its fields, one sentence a line: the
 * transaction's place and outcome, the checkpoint and who signed it, whether
 * its block was proven, and how the checkpoint compares with one trusted
 * before: the one in `state` (`verify --state`), or — for `verify` without
 * it, which keeps nothing — that none was compared (the SDK's message would
 * call it "the first checkpoint this client trusts"). `quorum` is the trust
 * file's. Requires `verdict.ok`.
 */
export function formatVerified(verdict: Verdict, quorum: number, state?: string): string {
  const cp = verdict.checkpoint;
  assert(
    verdict.ok && cp !== undefined,
    `formatVerified() needs a passing verdict: ${verdict.reason}`,
  );
  const lines = [
    `Transaction ${verdict.txId} is in ledger ${cp.origin} at log index ${verdict.logIndex} ` +
    `(block ${verdict.height}), ${describeResult(verdict.result as Receipt["result"])}.`,
    `Proven against the checkpoint of ${transactions(cp.size)} at height ${cp.height}, signed by ` +
    `${cp.signers.length} trusted site(s) (${cp.signers.join(", ")}; quorum ${quorum}).`,
  ];
  if (!verdict.blockVerified) {
    lines.push("Its block height is the site's word: the bundle holds no blocks that prove it.");
  }
  const before = state === undefined
    ? "the checkpoint trusted before"
    : `the checkpoint in ${state}`;
  switch (verdict.checkpointConsistency) {
    case "unchecked":
      lines.push(
        state === undefined
          ? "No earlier checkpoint was compared: verify keeps no state between runs, so it cannot " +
            "tell a rolled-back or forked log (with --state FILE it can)."
          : `No earlier checkpoint was compared: ${state} held none. It holds this one now, and ` +
            `each later run with --state ${state} checks its checkpoint against it.`,
      );
      break;
    case "same_tree":
      lines.push(`It is the same tree as ${before}.`);
      break;
    case "extends":
      lines.push(
        `A consistency proof shows it extends ${before}` +
          `${state === undefined ? "" : `, which ${state} now replaces with it`}.`,
      );
      break;
    case "prefix":
      lines.push(`A consistency proof shows ${before} extends it.`);
      break;
  }
  return lines.join("\n");
}

/** `1 transaction`, `2 transactions`. */
export function transactions(n: number): string {
  return `${n} transaction${n === 1 ? "" : "s"}`;
}

/** A failed verification in one line: its message, then its reason code. */
export function formatVerdictFailure(verdict: Verdict): string {
  return `${verdict.message.replace(/\.$/, "")} (${verdict.reason})`;
}

/** Control characters (C0 but the newline, DEL, C1) and bidirectional marks and overrides. */
const INVISIBLE_RE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with its newlines kept and every other control or bidirectional
 * character written as a `\uXXXX` escape. Everything the command line
 * prints goes through it (`Context.out`, `Context.note`): what it quotes
 * from a site's answer or an untrusted bundle (a receipt's status, a
 * block's hash, a result's detail) cannot move the cursor, clear or
 * recolour the terminal, or reorder what is shown — redraw a failure as a
 * success. JSON keeps its meaning (such characters can only be inside its
 * strings, where `\uXXXX` is the same character).
 */
export function printable(text: string): string {
  return text.replace(
    INVISIBLE_RE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
