/**
 * Site-to-site transport over HTTP: every message is signed by the sending
 * site's Ed25519 key and rejected unless the key belongs to a member.
 *
 * Wire form: `POST <peer>/raft/<kind>` with a JSON body and the headers
 * `X-Edgeledger-Site: <sender name>` and `X-Edgeledger-Sig: <base64url
 * Ed25519 signature over UTF-8("edgeledger/peer/v1\n" + body)>`. Binary
 * fields (entry data, snapshot data) travel as base64url. `/raft/msg`
 * carries `{from, messages, lines?, storage?, storageLow?, catchingUp?,
 * clock?}`: Raft messages and, riding along, the sender's checkpoint
 * signature lines (`{height, line}`) for the receiver, what it says of its
 * disk (`disk_space.ts`), on a leader the other members that said they are
 * low (`[{site, freeBytes, freeBytesMin}]`), `catchingUp: true` while it installs a snapshot (it
 * stands for no election then: a leader hands leadership to another), and
 * its clock (ms since the epoch; a leader's block time is its voters'
 * median clock, `quorumClock` in `raft_host.ts`).
 *
 * Raft messages normally travel on `/raft/stream` instead: one long-lived
 * request per peer whose body is a stream of frames, one per line —
 * `<signature> <body>\n`, where body and signature are exactly those of a
 * `/raft/msg` request (JSON never holds a raw newline). The opening itself
 * is signed: `X-Edgeledger-Time: <ms>` and `X-Edgeledger-Sig` over
 * {@link streamOpenText} (sender, receiver, that time), refused (403) from
 * a non-member, for another receiver or more than {@link streamOpenSkewMs}
 * from the receiver's clock, so nobody else can make a site hold a stream
 * open; an unsigned opening is answered 404, as by a site without streams,
 * and the sender falls back to requests (as it does after a 403). A
 * member's newer stream ends its older one. The receiver answers `200` at
 * once, reads the frames in order, verifies each against the sender's
 * current key, and ends its answer (after a one-line problem, if a frame
 * was refused) when it stops reading. A sender no longer waits for one
 * request's answer before its next messages leave, as etcd's peers stream
 * theirs; a peer without the route gets `/raft/msg` requests.
 *
 * A site whose removal from the membership a receiver has applied (so it
 * is committed) is answered `410` with the problem type
 * {@link memberRemovedType} instead of `403`, on every route and on a
 * stream's opening, once its signature verifies against the key it had:
 * the sender learns that it is no member any more and stops taking part
 * until it is added again (see `RaftHost`), as a removed etcd member stops.
 * Receivers before this answer `403`, which a sender keeps treating as before.
 *
 * A site that rotated its key (`key_rotation.ts`) adds
 * `X-Edgeledger-Key-Chain` to every request, stream opening and signed
 * answer: a receiver whose directory still holds an older key of that site
 * follows the chain from it, each step checked, to the key the signature
 * is made with.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import { base64urlDecode, base64urlEncode, utf8Encode } from "../../sdk/encoding.ts";
import { Histogram, labelText } from "../api/histogram.ts";
import { createLogger, type Logger } from "../log.ts";
import { verifyEd25519Native } from "./native_ed25519.ts";
import type { Entry, Message, Snapshot } from "../consensus/mod.ts";
import type { SiteKey } from "./site_key.ts";
import type { StorageLowReport, StorageState } from "./disk_space.ts";
import { clientOf, type ClientSource, fetchFailure } from "./tls.ts";
import {
  decodeKeyChain,
  encodeKeyChain,
  keyAfterChain,
  type KeyRotation,
  type RetiredKey,
} from "./key_rotation.ts";

/** Domain separator of peer request signatures. */
export const PEER_DOMAIN = "edgeledger/peer/v1\n";
/** Largest peer request body, bytes. */
export const peerRequestBytesMax = 8 * 1024 * 1024;
/** Messages queued per peer before the oldest are dropped (Raft tolerates loss). */
export const peerQueueMessagesMax = 4096;
/**
 * Checkpoint lines in one peer request, at most: a sender keeps no more
 * queued per peer (the oldest are dropped; lines are best effort), and a
 * receiver reads no more from one request.
 */
export const cosignLinesPerRequestMax = 512;
/**
 * Longest a checkpoint line waits for a Raft message to ride with before it
 * goes in a request of its own, ms.
 */
export const linesAloneAfterMs = 50;
/** Time one peer request may take, ms. */
export const peerRequestTimeoutMs = 5000;
/**
 * Bytes a sender lets wait in its stream to a peer before it holds further
 * messages in its queue (the peer is not reading fast enough).
 */
export const streamBufferBytes = 1024 * 1024;
/** How long a sender uses `/raft/msg` after a peer answered that it has no `/raft/stream`, ms. */
export const streamRetryAfterMs = 60_000;

/** A member site as peers know it. */
export interface PeerInfo {
  name: string;
  url: string;
  /** Ed25519 public key. */
  publicKey: Uint8Array;
  /** The rotations that led to `publicKey`, oldest first (see `key_rotation.ts`). */
  rotations?: KeyRotation[];
  /** Keys it retired, oldest first, each with the last block height it signed. */
  retired?: RetiredKey[];
  /**
   * The key it retired last, still taken on peer routes until it is heard
   * signing with its new one or has signed that key's last height with it
   * (the retirement is in the log): a member may be behind its own rotation
   * (it switches keys when it applies it), and refusing it then could leave
   * the cluster without the vote or acknowledgment that would let it catch up.
   */
  graceKey?: Uint8Array;
}

/** Signs a peer request body. */
export async function signPeerBody(body: string, key: SiteKey): Promise<string> {
  return base64urlEncode(await key.sign(utf8Encode(PEER_DOMAIN + body)));
}

/**
 * How far the time of a stream's opening may be from the receiver's clock,
 * ms. A sender refused for it sends requests instead (see PeerSender).
 */
export const streamOpenSkewMs = 300_000;

/**
 * What the sender of a `/raft/stream` request signs to open it, as the
 * "body" of a peer signature: the receiver refuses opens it cannot
 * authenticate before it reads a byte of the stream.
 */
export function streamOpenText(from: string, to: string, timeMs: number): string {
  return `stream\n${from}\n${to}\n${timeMs}`;
}

/**
 * Checks a stream's opening headers: signed by the member `site` for this
 * receiver (`self`), at a time within {@link streamOpenSkewMs} of `nowMs`.
 * Throws {@link PeerAuthError}.
 */
export function verifyStreamOpen(
  site: string | null,
  sig: string | null,
  time: string | null,
  self: string,
  nowMs: number,
  members: (name: string) => PeerInfo | undefined,
  removed?: (name: string) => RemovedMember | undefined,
  keyChain?: string | null,
): PeerInfo {
  const t = signedTime(time, nowMs);
  return verifyPeerRequest(
    site,
    sig,
    streamOpenText(site ?? "", self, t),
    members,
    removed,
    keyChain,
  );
}

/** The time of a signed opening or read, within {@link streamOpenSkewMs} of `nowMs`. */
function signedTime(time: string | null, nowMs: number): number {
  const t = Number(time);
  if (time === null || !Number.isSafeInteger(t) || Math.abs(nowMs - t) > streamOpenSkewMs) {
    throw new PeerAuthError("X-Edgeledger-Time is missing or too far from this site's clock");
  }
  return t;
}

/**
 * What a member signs to read a peer's blocks or state hash (`GET
 * /raft/blocks`, `GET /raft/state`): who reads, from whom, when, and the
 * path with its query — so the signature opens nothing else and, after
 * {@link streamOpenSkewMs}, nothing at all.
 */
export function peerReadText(
  from: string,
  to: string,
  timeMs: number,
  pathAndQuery: string,
): string {
  return `read\n${from}\n${to}\n${timeMs}\n${pathAndQuery}`;
}

/** The headers of `self`'s signed read of `pathAndQuery` (e.g. `/raft/blocks?from=3`) from `to`. */
export async function peerReadHeaders(
  self: string,
  to: string,
  key: SiteKey,
  pathAndQuery: string,
): Promise<Record<string, string>> {
  const time = Date.now();
  return {
    "x-edgeledger-site": self,
    "x-edgeledger-time": String(time),
    "x-edgeledger-sig": await signPeerBody(peerReadText(self, to, time, pathAndQuery), key),
    ...keyChainHeaders(key),
  };
}

/**
 * Checks a read's headers ({@link peerReadHeaders}): signed by the member
 * `site` for this receiver (`self`) and this `pathAndQuery`, at a time
 * within {@link streamOpenSkewMs} of `nowMs`. Throws {@link PeerAuthError}
 * ({@link PeerRemovedError} for a removed member).
 */
export function verifyPeerRead(
  site: string | null,
  sig: string | null,
  time: string | null,
  self: string,
  pathAndQuery: string,
  nowMs: number,
  members: (name: string) => PeerInfo | undefined,
  removed?: (name: string) => RemovedMember | undefined,
  keyChain?: string | null,
): PeerInfo {
  const t = signedTime(time, nowMs);
  return verifyPeerRequest(
    site,
    sig,
    peerReadText(site ?? "", self, t, pathAndQuery),
    members,
    removed,
    keyChain,
  );
}

/** A peer request that failed authentication. */
export class PeerAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PeerAuthError";
  }
}

/** The problem type a receiver answers a removed member with (HTTP 410, peer routes only). */
export const memberRemovedType = "https://edgeledger.dev/problems/member_removed";

/** A site that was a member, and the log index of its removal (committed). */
export interface RemovedMember {
  info: PeerInfo;
  index: number;
}

/**
 * A peer request whose sender proved it is a site that was removed from
 * the membership (its signature verifies against the key it had): answered
 * 410 {@link memberRemovedType}, so the sender learns it.
 */
export class PeerRemovedError extends PeerAuthError {
  constructor(readonly site: string, readonly index: number) {
    super(`Site ${site} was removed from the cluster (log index ${index}); it is no member now`);
    this.name = "PeerRemovedError";
  }
}

/** A peer answered that this site was removed from the cluster (410 {@link memberRemovedType}). */
export class MemberRemovedAnswer extends Error {
  constructor(
    readonly peer: string,
    readonly detail: string,
    /** The log index of the removal, as the peer applied it. */
    readonly index: number,
  ) {
    super(`Peer ${peer} answered that this site was removed from the cluster: ${detail}`);
    this.name = "MemberRemovedAnswer";
  }

  /** The same answer, named by the peer's name (a request's answer knows its URL only). */
  from(peer: string): MemberRemovedAnswer {
    return new MemberRemovedAnswer(peer, this.detail, this.index);
  }
}

/**
 * The {@link MemberRemovedAnswer} in a peer's answer `res` (already read as
 * `text`), if it is one: a 410 whose problem type is {@link memberRemovedType}.
 */
export function memberRemovedAnswer(
  peer: string,
  res: Response,
  text: string,
): MemberRemovedAnswer | undefined {
  if (res.status !== 410) return undefined;
  let problem: { type?: unknown; detail?: unknown; removedAt?: unknown };
  try {
    problem = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (problem?.type !== memberRemovedType || !Number.isSafeInteger(problem.removedAt)) {
    return undefined;
  }
  return new MemberRemovedAnswer(
    peer,
    typeof problem.detail === "string" ? problem.detail : "",
    problem.removedAt as number,
  );
}

/**
 * Verifies a peer request: the named sender must be a member and the
 * signature must be its key's over the exact body. Throws {@link PeerAuthError};
 * {@link PeerRemovedError} when `removed` knows the sender as a removed
 * member and the signature is that member's.
 */
export function verifyPeerRequest(
  site: string | null,
  sig: string | null,
  body: string,
  members: (name: string) => PeerInfo | undefined,
  removed?: (name: string) => RemovedMember | undefined,
  keyChain?: string | null,
): PeerInfo {
  if (!site || !sig) throw new PeerAuthError("Missing X-Edgeledger-Site or X-Edgeledger-Sig");
  const peer = members(site);
  if (peer === undefined) {
    const gone = removed?.(site);
    // Signed by the removed member (with its key, or the one it retired last).
    if (
      gone !== undefined &&
      [gone.info.publicKey, gone.info.graceKey].some((k) =>
        k !== undefined && signatureVerifies(k, sig, body)
      )
    ) {
      throw new PeerRemovedError(site, gone.index);
    }
    throw new PeerAuthError(`Site ${site} is not a member`);
  }
  if (signatureVerifies(peer.publicKey, sig, body)) return peer;
  // A member that rotated its key before this site applied the rotation:
  // its chain, followed from the key known here, leads to the one it signs with.
  const chain = decodeKeyChain(keyChain);
  if (chain.length > 0) {
    const known = base64urlEncode(peer.publicKey);
    const key = keyAfterChain(site, known, chain);
    if (key !== undefined && key !== known) {
      const publicKey = base64urlDecode(key);
      if (signatureVerifies(publicKey, sig, body)) return { ...peer, publicKey };
    }
  }
  // A member behind its own rotation (see PeerInfo.graceKey).
  const grace = peer.graceKey;
  if (grace !== undefined && signatureVerifies(grace, sig, body)) {
    return { ...peer, publicKey: grace };
  }
  throw new PeerAuthError(`Signature of site ${site} does not verify`);
}

/**
 * Checks a signed answer (`/raft/blocks`, `/raft/state`) from the member
 * `name`, by its headers and body text as a peer request is checked (its
 * key chain included); throws {@link PeerAuthError} otherwise.
 */
export function verifyPeerAnswer(
  res: Response,
  text: string,
  name: string,
  members: (name: string) => PeerInfo | undefined,
): PeerInfo {
  return verifyPeerRequest(
    res.headers.get("x-edgeledger-site"),
    res.headers.get("x-edgeledger-sig"),
    text,
    (n) => (n === name ? members(n) : undefined),
    undefined,
    res.headers.get("x-edgeledger-key-chain"),
  );
}

/** The `X-Edgeledger-Key-Chain` header of a site that rotated its key (none before). */
export function keyChainHeaders(key: SiteKey): Record<string, string> {
  return key.chain.length === 0 ? {} : { "x-edgeledger-key-chain": encodeKeyChain(key.chain) };
}

/** Whether `sig` (base64url) is `publicKey`'s signature over a peer request's `body`. */
function signatureVerifies(publicKey: Uint8Array, sig: string, body: string): boolean {
  let sigBytes: Uint8Array;
  try {
    sigBytes = base64urlDecode(sig);
  } catch {
    return false;
  }
  return verifyEd25519Native(publicKey, utf8Encode(PEER_DOMAIN + body), sigBytes);
}

/** A `/raft/stream` body that is not a sequence of well-formed frames. */
export class PeerFrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PeerFrameError";
  }
}

/**
 * Splits a `/raft/stream` body into its frames' text, in order, as they
 * arrive. Throws {@link PeerFrameError} on a frame longer than
 * `frameBytesMax`, on text that is not UTF-8, and on a body that ends
 * inside a frame. Cancels the body when the caller stops early.
 */
export async function* streamFrames(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  frameBytesMax: number = peerRequestBytesMax,
): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const decode = (bytes: Uint8Array) => {
    try {
      return decoder.decode(bytes);
    } catch {
      throw new PeerFrameError("Frame is not UTF-8");
    }
  };
  /** The start of a frame whose end has not arrived yet. */
  let parts: Uint8Array[] = [];
  let partBytes = 0;
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let start = 0;
      for (let nl = value.indexOf(10); nl !== -1; nl = value.indexOf(10, start)) {
        const piece = value.subarray(start, nl);
        if (partBytes + piece.length > frameBytesMax) {
          throw new PeerFrameError(`Frame longer than ${frameBytesMax} bytes`);
        }
        let frame = piece;
        if (parts.length > 0) {
          frame = new Uint8Array(partBytes + piece.length);
          let at = 0;
          for (const p of [...parts, piece]) {
            frame.set(p, at);
            at += p.length;
          }
          parts = [];
          partBytes = 0;
        }
        start = nl + 1;
        yield decode(frame);
      }
      if (start < value.length) {
        partBytes += value.length - start;
        if (partBytes > frameBytesMax) {
          throw new PeerFrameError(`Frame longer than ${frameBytesMax} bytes`);
        }
        parts.push(value.subarray(start));
      }
    }
    finished = true;
    if (partBytes > 0) throw new PeerFrameError("Stream ended inside a frame");
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
  }
}

/** Splits a frame's text into its signature and body; throws {@link PeerFrameError}. */
export function splitFrame(frame: string): { sig: string; body: string } {
  const space = frame.indexOf(" ");
  if (space <= 0) throw new PeerFrameError("Frame is not '<signature> <body>'");
  return { sig: frame.slice(0, space), body: frame.slice(space + 1) };
}

// ---- message encoding ----------------------------------------------------

type WireEntry = Omit<Entry, "data"> & { data: string };

/** A Raft message with its binary fields as base64url. */
export type WireMessage = Record<string, unknown>;

/**
 * The TC39 base64 methods of Uint8Array (native in the pinned Deno's V8; not
 * in TypeScript's lib yet).
 */
const base64 = Uint8Array as unknown as {
  fromBase64(text: string, options: { alphabet: "base64url" }): Uint8Array;
};

/**
 * Unpadded base64url of entry and snapshot data, natively: these are the
 * bulk of a site's peer traffic (every transaction of every entry).
 */
export function wireEncode(bytes: Uint8Array): string {
  return (bytes as unknown as { toBase64(o: object): string }).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

/**
 * Decodes {@link wireEncode}'s text; throws a TypeError on anything else.
 * The decoder skips ASCII whitespace and takes non-zero trailing bits: only
 * a text that encodes back to itself is canonical unpadded base64url, and
 * re-encoding is faster than a character check.
 */
export function wireDecode(text: unknown): Uint8Array {
  let bytes: Uint8Array | undefined;
  if (typeof text === "string") {
    try {
      bytes = base64.fromBase64(text, { alphabet: "base64url" });
    } catch { /* not base64url */ }
  }
  if (bytes === undefined || wireEncode(bytes) !== text) {
    throw new TypeError("Malformed Raft message: data is not unpadded base64url");
  }
  return bytes;
}

/** Encodes a message for JSON. */
export function encodeMessage(m: Message): WireMessage {
  if (m.type === "app") {
    return { ...m, entries: m.entries.map((e) => ({ ...e, data: wireEncode(e.data) })) };
  }
  if (m.type === "snapshot") {
    return { ...m, snapshot: { ...m.snapshot, data: wireEncode(m.snapshot.data) } };
  }
  return { ...m };
}

/** The fields each message type carries besides `type`, `from`, `to` and `term`, by kind of value. */
const messageFields: Record<string, Record<string, "index" | "boolean" | "ctx" | "ctx?">> = {
  preVote: { lastIndex: "index", lastTerm: "index", transfer: "boolean" },
  vote: { lastIndex: "index", lastTerm: "index", transfer: "boolean" },
  preVoteResp: { reject: "boolean" },
  voteResp: { reject: "boolean" },
  app: { prevIndex: "index", prevTerm: "index", commit: "index" },
  appResp: { index: "index", reject: "boolean", conflictTerm: "index", conflictIndex: "index" },
  heartbeat: { commit: "index", ctx: "ctx?" },
  heartbeatResp: { ctx: "ctx?" },
  snapshot: {},
  timeoutNow: {},
  readIndex: { ctx: "ctx" },
  readIndexResp: { ctx: "ctx", index: "index" },
};

const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isNames = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((n) => typeof n === "string");

/**
 * Decodes a message from JSON; throws a TypeError on a malformed one: an
 * unknown type, or a field of its type missing or of the wrong kind (an
 * index or term that is no safe integer ≥ 0, a flag that is no boolean).
 * The Raft core asserts on what it is given, so nothing a member sends may
 * reach it unchecked: a heartbeat without `commit` once made it throw mid-step.
 */
export function decodeMessage(w: WireMessage): Message {
  if (typeof w !== "object" || w === null || typeof w.type !== "string") {
    throw new TypeError("Malformed Raft message");
  }
  if (typeof w.from !== "string" || typeof w.to !== "string" || !isIndex(w.term)) {
    throw new TypeError("Malformed Raft message: from/to/term");
  }
  const fields = Object.hasOwn(messageFields, w.type) ? messageFields[w.type] : undefined;
  if (fields === undefined) throw new TypeError(`Malformed Raft message: type ${w.type}`);
  for (const [name, kind] of Object.entries(fields)) {
    const v = w[name];
    const ok = kind === "index"
      ? isIndex(v)
      : kind === "boolean"
      ? typeof v === "boolean"
      : kind === "ctx"
      ? typeof v === "string"
      : v === undefined || typeof v === "string";
    if (!ok) throw new TypeError(`Malformed Raft message: ${w.type} ${name}`);
  }
  if (w.type === "app") {
    if (!Array.isArray(w.entries)) throw new TypeError("Malformed Raft message: entries");
    const entries = (w.entries as WireEntry[]).map((e) => {
      if (
        typeof e !== "object" || e === null || !isIndex(e.index) || !isIndex(e.term) ||
        (e.type !== "normal" && e.type !== "confChange")
      ) {
        throw new TypeError("Malformed Raft message: entries");
      }
      return { ...e, data: wireDecode(e.data) };
    });
    return { ...w, entries } as unknown as Message;
  }
  if (w.type === "snapshot") {
    const s = w.snapshot as Omit<Snapshot, "data"> & { data: string };
    const meta = s?.metadata;
    if (
      typeof meta !== "object" || meta === null || !isIndex(meta.index) ||
      !isIndex(meta.term) || typeof meta.confState !== "object" || meta.confState === null ||
      !isNames(meta.confState.voters) || !isNames(meta.confState.learners)
    ) {
      throw new TypeError("Malformed Raft message: snapshot metadata");
    }
    return { ...w, snapshot: { ...s, data: wireDecode(s?.data) } } as unknown as Message;
  }
  return w as unknown as Message;
}

// ---- client ----------------------------------------------------------------

/** {@link PeerCounters.requestSeconds}' label set for `/raft/msg`. */
export const MSG_ROUTE = labelText({ route: "msg" });
/** {@link PeerCounters.requestSeconds}' label set for `/raft/forward`. */
export const FORWARD_ROUTE = labelText({ route: "forward" });

/** A site's peer traffic since it started (Prometheus counters under `/metrics`). */
export interface PeerCounters {
  /** `/raft/msg` requests sent (each carries queued Raft messages and checkpoint lines). */
  msgRequests: number;
  /** `/raft/stream` requests opened (one per peer, again after a peer dropped it). */
  streamsOpened: number;
  /** Frames written on streams (each carries what a `/raft/msg` request would). */
  streamFrames: number;
  /** Raft messages sent (written on an open stream, or in a request answered 2xx). */
  messagesSent: number;
  /** Raft messages dropped (queue overflow or failed request; Raft resends). */
  messagesDropped: number;
  /** `/raft/forward` requests sent to the leader. */
  forwardRequests: number;
  /** Transactions in those requests. */
  forwardedTxs: number;
  /**
   * Round trip of each answered peer request, by route (`msg`, `forward`):
   * sending, the peer's handling, and both sites' event loops.
   */
  requestSeconds: Histogram;
  /**
   * How long the oldest message of each frame or `/raft/msg` request waited
   * in the sender's queue before it left.
   */
  queueSeconds: Histogram;
}

/** Fresh {@link PeerCounters}. */
export function peerCounters(): PeerCounters {
  return {
    msgRequests: 0,
    streamsOpened: 0,
    streamFrames: 0,
    messagesSent: 0,
    messagesDropped: 0,
    forwardRequests: 0,
    forwardedTxs: 0,
    requestSeconds: new Histogram(
      "edgeledger_peer_request_seconds",
      "Round trip of answered peer requests, by route.",
    ),
    queueSeconds: new Histogram(
      "edgeledger_peer_queue_seconds",
      "Wait of the oldest Raft message of each frame or request in the sender's queue.",
    ),
  };
}

/** {@link PeerCounters} as Prometheus text (ends with a newline). */
export function peerMetricsText(c: PeerCounters): string {
  return [
    "# HELP edgeledger_peer_requests_total Requests this site sent to peers, by route.",
    "# TYPE edgeledger_peer_requests_total counter",
    `edgeledger_peer_requests_total{${MSG_ROUTE}} ${c.msgRequests}`,
    `edgeledger_peer_requests_total{${FORWARD_ROUTE}} ${c.forwardRequests}`,
    "# HELP edgeledger_peer_streams_opened_total Message streams this site opened to peers.",
    "# TYPE edgeledger_peer_streams_opened_total counter",
    `edgeledger_peer_streams_opened_total ${c.streamsOpened}`,
    "# HELP edgeledger_peer_stream_frames_total Signed frames of Raft messages this site sent on its streams.",
    "# TYPE edgeledger_peer_stream_frames_total counter",
    `edgeledger_peer_stream_frames_total ${c.streamFrames}`,
    "# HELP edgeledger_raft_messages_sent_total Raft messages this site sent to peers.",
    "# TYPE edgeledger_raft_messages_sent_total counter",
    `edgeledger_raft_messages_sent_total ${c.messagesSent}`,
    "# HELP edgeledger_raft_messages_dropped_total Raft messages dropped: a full queue to a peer or a failed send (Raft sends what matters again).",
    "# TYPE edgeledger_raft_messages_dropped_total counter",
    `edgeledger_raft_messages_dropped_total ${c.messagesDropped}`,
    "# HELP edgeledger_forwarded_txs_total Admitted transactions this site forwarded to the leader.",
    "# TYPE edgeledger_forwarded_txs_total counter",
    `edgeledger_forwarded_txs_total ${c.forwardedTxs}`,
  ].join("\n") + "\n" + c.requestSeconds.render() + c.queueSeconds.render();
}

/**
 * A checkpoint signature line of the sender's, for the block at `height`,
 * with that block's hash (hex): a receiver whose own block at that height
 * differs learns that the replicas diverged (a line alone only fails to
 * verify, which a garbled line does too). Senders before this field omit it.
 */
export interface CosignLine {
  height: number;
  line: string;
  hash?: string;
  /**
   * The sender serves no quorum-signed checkpoint yet (a new cluster's
   * block 0, say) and asks for the receiver's line for this block in
   * return. Senders before this field omit it; receivers before it ignore it.
   */
  again?: boolean;
}

/** The sender's end of an open `/raft/stream` request. */
interface PeerStream {
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** Ends the request (and so the stream). */
  abort: AbortController;
  /** False once the peer or this site ended it. */
  open: boolean;
  /** Fetch cancelled the body: the request failed or ended. */
  cancelled: boolean;
}

/**
 * How long sends to a peer must keep failing before it is logged
 * unreachable, ms: a shorter blip — a peer restarting, the sites of a whole
 * cluster stopping a few milliseconds apart — is no operator event. The
 * `unreachable` state itself (metrics, a hand-off that gives up) is
 * immediate; a TLS certificate not trusted is logged at once.
 */
export const peerUnreachableLogAfterMs = 1000;

/** A peer answered that it has no `/raft/stream` route. */
class StreamUnsupported extends Error {}

/**
 * Sends Raft messages to one peer: queued messages leave together in one
 * signed frame on the stream to that peer (see the module's wire form);
 * messages made while a frame is being signed and written queue for the
 * next, which batches them under load. Messages lost with a stream that
 * broke, or dropped while there is none, are not resent: Raft retries by
 * itself. Checkpoint lines ride with the next frame; one goes alone only if
 * no frame left within {@link linesAloneAfterMs}.
 *
 * It logs when the peer becomes unreachable (sends have failed for
 * {@link peerUnreachableLogAfterMs} since one got through, with the reason;
 * at `info` once this site is stopping) and when it is reachable again after
 * that, never per failed retry.
 */
export class PeerSender {
  readonly #queue: Message[] = [];
  /** When the oldest queued message was queued (performance.now()). */
  #oldestAt = 0;
  #lines: CosignLine[] = [];
  #linesTimer: ReturnType<typeof setTimeout> | undefined;
  #busy = false;
  #scheduled = false;
  #closed = false;
  #stream: PeerStream | undefined;
  /** Resolves the wait for room in the stream (see `#room`). */
  #roomMade: (() => void) | undefined;
  /** Until when this peer gets `/raft/msg` requests (it has no `/raft/stream`). */
  #requestsUntil = 0;
  /** The last failure was the peer's TLS certificate (said once, until a message gets through). */
  #untrusted = false;
  /** Since when sends to the peer fail (`performance.now()`); undefined while they get through. */
  #unreachableSince: number | undefined;
  /** This site is stopping (see {@link siteStopping}). */
  #siteStopping = false;
  /** Why the last send failed (for the log). */
  #unreachableReason = "";
  /** Says the peer unreachable once sends have failed long enough (see #sendFailed). */
  #unreachableTimer: ReturnType<typeof setTimeout> | undefined;
  /** The peer was said unreachable (so its return is said too). */
  #unreachableSaid = false;

  constructor(
    readonly peer: PeerInfo,
    readonly self: string,
    readonly key: SiteKey,
    /** Where this sender counts its traffic (shared by a site's senders). */
    readonly counters: PeerCounters = peerCounters(),
    /**
     * The site's client for its peer connections (the CA certificates it
     * trusts for `https://` peers; a function: asked at each connection);
     * the default `fetch` without one.
     */
    readonly client?: ClientSource,
    /** Hears when the peer becomes unreachable and reachable again; default: stderr. */
    readonly log: Logger = createLogger({ context: { site: self } }),
    /**
     * Hears that the peer answered this site was removed from the cluster
     * (its messages to the peer are dropped, as to an unreachable one).
     */
    readonly onRemoved?: (answer: MemberRemovedAnswer) => void,
    /**
     * This site's disk verdict (see `disk_space.ts`): while it is low, every
     * frame says so (`storage`), and a frame without it says it is not.
     */
    readonly storage?: () => StorageState | undefined,
    /**
     * This site's clock, ms since the epoch: every frame carries its reading
     * (`clock`), from which a leader takes its voters' median for block time
     * (`quorumClock` in `raft_host.ts`).
     */
    readonly clock: () => number = Date.now,
    /**
     * Hears of messages that never left: their frame or request failed, the
     * queue overflowed, or the sender was closed with them queued. Raft gets
     * over a lost message by itself; a host tells its core of a lost
     * snapshot at once (`reportSnapshot`), so the leader sends another as
     * soon as the peer answers again.
     */
    readonly onDropped?: (messages: Message[]) => void,
    /**
     * Whether this site is catching up by snapshot: while it is, every
     * frame says so (`catchingUp: true`), and a frame without it says it is not.
     */
    readonly catchingUp?: () => boolean,
    /**
     * On a leader, the other members it heard are low on space: every frame
     * passes them on (`storageLow`), so that a follower — which hears only
     * its leader — knows why writes are paused, and a frame without it says
     * none is.
     */
    readonly storageLowRelay?: () => StorageLowReport[],
  ) {}

  /** Queues messages; drops the oldest beyond {@link peerQueueMessagesMax}. */
  send(messages: Message[]): void {
    if (this.#closed || messages.length === 0) return;
    if (this.#queue.length === 0) this.#oldestAt = performance.now();
    this.#queue.push(...messages);
    if (this.#queue.length > peerQueueMessagesMax) {
      const excess = this.#queue.length - peerQueueMessagesMax;
      const dropped = this.#queue.splice(0, excess);
      this.counters.messagesDropped += excess;
      this.onDropped?.(dropped);
    }
    // A macrotask later: messages made in this turn of the event loop (a
    // commit notice, then the next proposal's append once the block is
    // applied) leave together in one frame.
    if (!this.#busy && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        if (!this.#busy) void this.#pump();
      });
    }
  }

  /** Queues checkpoint lines for the peer; drops the oldest beyond {@link cosignLinesPerRequestMax}. */
  sendLines(lines: CosignLine[]): void {
    if (this.#closed || lines.length === 0) return;
    this.#lines.push(...lines);
    if (this.#lines.length > cosignLinesPerRequestMax) {
      this.#lines.splice(0, this.#lines.length - cosignLinesPerRequestMax);
    }
    this.#linesTimer ??= setTimeout(() => {
      this.#linesTimer = undefined;
      if (!this.#busy) void this.#pump();
    }, linesAloneAfterMs);
  }

  /**
   * A send failed: says that the peer is unreachable, with why, when the
   * send before got through (once per transition, not per retry). That the
   * peer's TLS certificate is not trusted is said once too (until a message
   * gets through again), even while the peer is already unreachable: unlike
   * a peer that is down, it is a configuration to fix (`caFile`, or the
   * peer's certificate).
   */
  #sendFailed(e: unknown): void {
    const failure = fetchFailure(e);
    const reason = failure.reason;
    const untrusted = failure.certificate !== undefined;
    const first = this.#unreachableSince === undefined;
    this.#unreachableSince ??= performance.now();
    this.#unreachableReason = reason;
    if (untrusted && !this.#untrusted) {
      this.#untrusted = true;
      this.#unreachableSaid = true;
      this.log.error(
        "peer unreachable: its TLS certificate is not trusted; messages to it are dropped until it is",
        {
          peer: this.peer.name,
          url: this.peer.url,
          reason: failure.certificate,
          hint: "give this site the CA that signed it (caFile)",
        },
      );
    } else if (first && !this.#unreachableSaid) {
      this.#unreachableTimer = setTimeout(() => {
        this.#unreachableTimer = undefined;
        if (this.#closed || this.#unreachableSince === undefined || this.#unreachableSaid) return;
        this.#unreachableSaid = true;
        this.log[this.#siteStopping ? "info" : "warn"]("peer unreachable", {
          peer: this.peer.name,
          url: this.peer.url,
          reason: this.#unreachableReason,
          forMs: Math.round(performance.now() - this.#unreachableSince),
        });
      }, peerUnreachableLogAfterMs);
    }
  }

  /** A send got through: says that the peer is reachable again, if it was not. */
  #sendSucceeded(): void {
    this.#untrusted = false;
    if (this.#unreachableSince === undefined) return;
    clearTimeout(this.#unreachableTimer);
    this.#unreachableTimer = undefined;
    const downMs = Math.round(performance.now() - this.#unreachableSince);
    this.#unreachableSince = undefined;
    if (!this.#unreachableSaid) return;
    this.#unreachableSaid = false;
    this.log.info("peer reachable again", { peer: this.peer.name, downMs });
  }

  /** Whether the last send to the peer failed (and none got through since). */
  get unreachable(): boolean {
    return this.#unreachableSince !== undefined;
  }

  /**
   * This site's graceful stop began: a peer that goes away from now on is
   * logged unreachable at `info`, not `warn`. Peers often stop with it (a
   * Ctrl-C on a whole local cluster), and a site on its way out has no
   * cluster left to be degraded; the peers that stay say it at `warn`.
   */
  siteStopping(): void {
    this.#siteStopping = true;
  }

  /**
   * Stops sending and ends the stream to the peer. The messages still
   * queued never leave: they are counted dropped and reported through
   * `onDropped` (a sender replaced for a member's new URL or this site's new
   * key may hold a snapshot the leader waits on), as a batch in flight is
   * when its send fails. A host that is stopping as a whole ignores them.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const dropped = this.#queue.splice(0);
    this.#lines = [];
    if (this.#linesTimer !== undefined) clearTimeout(this.#linesTimer);
    clearTimeout(this.#unreachableTimer);
    this.#linesTimer = undefined;
    this.#endStream(this.#stream);
    if (dropped.length > 0) {
      this.counters.messagesDropped += dropped.length;
      this.onDropped?.(dropped);
    }
  }

  async #pump(): Promise<void> {
    this.#busy = true;
    try {
      while (!this.#closed && (this.#queue.length > 0 || this.#lines.length > 0)) {
        // Take messages up to about half the receiver's frame limit.
        let take = 0;
        let bytes = 0;
        while (take < this.#queue.length && (take === 0 || bytes < peerRequestBytesMax / 2)) {
          bytes += approxWireBytes(this.#queue[take]);
          take++;
        }
        const batch = this.#queue.splice(0, take);
        const waitedSince = this.#oldestAt;
        this.#oldestAt = performance.now();
        const lines = this.#lines;
        this.#lines = [];
        if (this.#linesTimer !== undefined) clearTimeout(this.#linesTimer);
        this.#linesTimer = undefined;
        const storage = this.storage?.();
        const storageLow = this.storageLowRelay?.() ?? [];
        const body = JSON.stringify({
          from: this.self,
          messages: batch.map(encodeMessage),
          ...(lines.length > 0 ? { lines } : {}),
          ...(storage?.low ? { storage } : {}),
          ...(storageLow.length > 0 ? { storageLow } : {}),
          ...(this.catchingUp?.() ? { catchingUp: true } : {}),
          clock: this.clock(),
        });
        const observeWait = () => {
          if (batch.length > 0) {
            this.counters.queueSeconds.observe((performance.now() - waitedSince) / 1000);
          }
        };
        try {
          if (
            performance.now() < this.#requestsUntil || !(await this.#sendFrame(body, observeWait))
          ) {
            await this.#sendRequest(body, observeWait);
          }
          this.counters.messagesSent += batch.length;
          this.#sendSucceeded();
        } catch (e) {
          this.counters.messagesDropped += batch.length;
          if (e instanceof MemberRemovedAnswer) this.onRemoved?.(e.from(this.peer.name));
          else if (!this.#closed) this.#sendFailed(e);
          if (batch.length > 0) this.onDropped?.(batch);
          // Back off briefly so a dead peer does not spin this loop.
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Writes one signed frame on the stream to the peer, opening it first if
   * needed. False when the peer has no `/raft/stream`; throws when the
   * stream cannot be opened or the peer stopped reading.
   */
  async #sendFrame(body: string, onLeave: () => void): Promise<boolean> {
    let stream: PeerStream;
    try {
      stream = await this.#openStream();
    } catch (e) {
      if (!(e instanceof StreamUnsupported)) throw e;
      this.#requestsUntil = performance.now() + streamRetryAfterMs;
      return false;
    }
    if (!(await this.#room(stream))) {
      this.#endStream(stream);
      throw new Error(`Peer ${this.peer.name} is not reading its stream`);
    }
    const frame = utf8Encode(`${await signPeerBody(body, this.key)} ${body}\n`);
    if (!stream.open) throw new Error(`Stream to ${this.peer.name} ended`);
    stream.controller.enqueue(frame);
    this.counters.streamFrames++;
    onLeave();
    return true;
  }

  /** Posts one signed `/raft/msg` request; throws unless the peer answers 2xx. */
  async #sendRequest(body: string, onLeave: () => void): Promise<void> {
    this.counters.msgRequests++;
    const started = performance.now();
    onLeave();
    await postSigned(
      this.peer.url + "/raft/msg",
      body,
      this.self,
      this.key,
      peerRequestTimeoutMs,
      clientOf(this.client),
    );
    this.counters.requestSeconds.observe((performance.now() - started) / 1000, MSG_ROUTE);
  }

  /** The open stream to the peer, or a new one once the peer answered it. */
  async #openStream(): Promise<PeerStream> {
    if (this.#stream?.open) return this.#stream;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          controller = c;
        },
        pull: () => this.#roomMade?.(),
        // Fetch cancels the body when the request fails or ends. While the
        // request is opening, fetch then settles with its own error, which
        // says why (a refused connection, an untrusted TLS certificate):
        // aborting it here would replace that error with an AbortError.
        cancel: () => {
          stream.cancelled = true;
          if (stream.open) this.#endStream(stream);
        },
      },
      new ByteLengthQueuingStrategy({ highWaterMark: streamBufferBytes }),
    );
    const stream: PeerStream = {
      controller,
      abort: new AbortController(),
      open: false,
      cancelled: false,
    };
    this.#stream = stream;
    this.counters.streamsOpened++;
    const timer = setTimeout(() => stream.abort.abort(), peerRequestTimeoutMs);
    let res: Response;
    try {
      const time = Date.now();
      const openSig = await signPeerBody(streamOpenText(this.self, this.peer.name, time), this.key);
      res = await fetch(this.peer.url + "/raft/stream", {
        method: "POST",
        headers: {
          "content-type": "application/x-ndjson",
          "x-edgeledger-site": this.self,
          "x-edgeledger-time": String(time),
          "x-edgeledger-sig": openSig,
          ...keyChainHeaders(this.key),
        },
        body,
        // Fetch's option for a request body that streams (not in Deno's RequestInit type).
        duplex: "half",
        signal: stream.abort.signal,
        client: clientOf(this.client),
      } as RequestInit);
    } catch (e) {
      this.#endStream(stream);
      throw e;
    } finally {
      clearTimeout(timer);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      this.#endStream(stream);
      const removed = memberRemovedAnswer(this.peer.name, res, text);
      if (removed !== undefined) throw removed;
      // No route (an older site), or an opening it refused (say its clock is
      // far from ours): requests work all the same, one per frame.
      if (res.status === 403 || res.status === 404 || res.status === 405) {
        throw new StreamUnsupported();
      }
      throw new Error(`Peer ${this.peer.url} answered ${res.status}: ${text.slice(0, 200)}`);
    }
    if (this.#closed || stream.cancelled) {
      this.#endStream(stream);
      throw new Error(this.#closed ? "Sender closed" : `Stream to ${this.peer.name} ended`);
    }
    stream.open = true;
    // The peer ends its answer when it stops reading (it restarts, or refused a frame).
    void (async () => {
      try {
        const reader = res.body?.getReader();
        while (reader !== undefined && !(await reader.read()).done) { /* nothing expected */ }
      } catch {
        /* ended */
      } finally {
        this.#endStream(stream);
      }
    })();
    return stream;
  }

  /** Resolves true once the stream has room for a frame; false if it ended or stayed full. */
  #room(stream: PeerStream): Promise<boolean> {
    if ((stream.controller.desiredSize ?? 0) > 0) return Promise.resolve(stream.open);
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(false), peerRequestTimeoutMs);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#roomMade = undefined;
        resolve(ok && stream.open);
      };
      this.#roomMade = () => done(true);
    });
  }

  /**
   * Ends a stream: its body ends (the peer's server would otherwise wait for
   * it when it stops), and the request is aborted if it is still opening.
   */
  #endStream(stream: PeerStream | undefined): void {
    if (stream === undefined) return;
    stream.open = false;
    if (this.#stream === stream) this.#stream = undefined;
    this.#roomMade?.();
    try {
      stream.controller.close();
    } catch { /* already ended or cancelled */ }
    stream.abort.abort();
  }
}

/** A generous estimate of a message's JSON size (base64url grows data by 4/3). */
function approxWireBytes(m: Message): number {
  if (m.type === "app") {
    return 256 + m.entries.reduce((n, e) => n + 64 + Math.ceil(e.data.length * 4 / 3), 0);
  }
  if (m.type === "snapshot") return 512 + Math.ceil(m.snapshot.data.length * 4 / 3);
  return 256;
}

/** A peer's answer other than 2xx to a signed request, with its status. */
export class PeerAnswerError extends Error {
  constructor(url: string, readonly status: number, text: string) {
    super(`Peer ${url} answered ${status}: ${text.slice(0, 200)}`);
    this.name = "PeerAnswerError";
  }
}

/**
 * Whether a request to a peer failed for want of time rather than being
 * refused: the peer answered 504 (it ran out of time itself), or its answer
 * did not come within the request's time limit.
 */
export function peerTimedOut(e: unknown): boolean {
  if (e instanceof PeerAnswerError) return e.status === 504;
  const name = (e as Error | undefined)?.name;
  return name === "TimeoutError" || name === "AbortError";
}

/** A peer's answer that stopped arriving: no byte of it for the time allowed. */
export class PeerIdleError extends Error {
  override name = "TimeoutError";
}

/**
 * GETs `url` from a peer and reads the whole answer as text, giving up
 * (with a {@link PeerIdleError}, a `TimeoutError`) only when no byte of it
 * arrives for `idleMs` — waiting for the answer's head, or between two
 * chunks of its body — or when `totalMs` passes, or `signal` aborts. An
 * answer that keeps arriving over a slow or thin link is read to its end,
 * however long it takes within `totalMs`: a deadline on the whole would
 * abandon, again and again, a large answer that is merely slow.
 */
export async function fetchPeerText(
  url: string,
  idleMs: number,
  totalMs: number,
  client?: Deno.HttpClient,
  signal?: AbortSignal,
  headers?: Record<string, string>,
): Promise<{ res: Response; text: string }> {
  const idle = new AbortController();
  const stalled = () => idle.abort(new PeerIdleError(`No byte from ${url} for ${idleMs} ms`));
  let timer = setTimeout(stalled, idleMs);
  const arrived = () => {
    clearTimeout(timer);
    timer = setTimeout(stalled, idleMs);
  };
  const signals = [idle.signal, AbortSignal.timeout(totalMs)];
  if (signal !== undefined) signals.push(signal);
  try {
    const res = await fetch(url, { client, headers, signal: AbortSignal.any(signals) });
    arrived();
    const parts: Uint8Array[] = [];
    const reader = res.body?.getReader();
    for (;;) {
      const next = await reader?.read();
      if (next === undefined || next.done) break;
      arrived();
      parts.push(next.value);
    }
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    return { res, text: new TextDecoder().decode(bytes) };
  } catch (e) {
    // The abort's reason says why (stalled, out of time, stopping), not a bare AbortError.
    const why = signals.find((s) => s.aborted)?.reason;
    throw why ?? e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * POSTs a signed JSON body to a peer (through `client`, the site's peer
 * client, when given); resolves with the parsed answer; throws on non-2xx
 * ({@link PeerAnswerError}, or the removed member's own error), and when
 * `timeoutMs` passes or `signal` aborts first.
 */
export async function postSigned(
  url: string,
  body: string,
  self: string,
  key: SiteKey,
  timeoutMs = peerRequestTimeoutMs,
  client?: Deno.HttpClient,
  signal?: AbortSignal,
): Promise<unknown> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const res = await fetch(url, {
    client,
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-edgeledger-site": self,
      "x-edgeledger-sig": await signPeerBody(body, key),
      ...keyChainHeaders(key),
    },
    body,
    signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]),
  });
  const text = await res.text();
  if (!res.ok) {
    throw memberRemovedAnswer(url, res, text) ?? new PeerAnswerError(url, res.status, text);
  }
  return text ? JSON.parse(text) : undefined;
}
