/**
 * Site-to-site routes under `/raft/`: Raft messages (a stream of signed
 * frames, or one request each), transactions forwarded to the leader,
 * checkpoint signatures, and blocks for a catching-up site. Every POST and
 * every frame is signed by a member site (see `src/site/peers.ts`); these
 * routes are not part of the public API and not in `/openapi.json`.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { requestId, type RequestIdVariables } from "hono/request-id";
import type { Message } from "../consensus/mod.ts";
import {
  type CosignLine,
  decodeMessage,
  memberRemovedType,
  PeerAuthError,
  PeerFrameError,
  type PeerInfo,
  PeerRemovedError,
  peerRequestBytesMax,
  type RemovedMember,
  splitFrame,
  streamFrames,
  verifyPeerRead,
  verifyPeerRequest,
  verifyStreamOpen,
  type WireMessage,
} from "../site/peers.ts";
import type { ForwardOutcome, LeaderRefusal } from "../site/site.ts";
import { z } from "@hono/zod-openapi";
import { decimalInt } from "../../sdk/api/schemas.ts";
import {
  bodyReadProblem,
  knownProblem,
  problemBody,
  problemFromError,
  type ProblemInit,
  problemResponse,
  routeNotFound,
  validationProblem,
} from "./problem.ts";
import { bodySizeLimit, repeatedMemberDetail, repeatedMembers } from "./middleware.ts";
import { utf8Encode } from "../../sdk/encoding.ts";
import { type Envelope, transactionId } from "../../sdk/envelope.ts";
import { createLogger, type Logger } from "../log.ts";
import {
  parseStorageLowReports,
  parseStorageReport,
  type StorageLowReport,
  type StorageState,
} from "../site/disk_space.ts";
import type { StateDigestAnswer } from "../site/state_check.ts";
import { MembershipError, MembershipTimeout } from "../site/raft_host.ts";

/** What the peer routes need from a site and its consensus host. */
export interface PeerService {
  /** This site's name: stream openings are signed for it. */
  self: string;
  member(name: string): PeerInfo | undefined;
  /**
   * A site no member now whose removal this site applied, with the key it
   * had: it is answered 410 (see `src/site/peers.ts`) so that it learns it.
   */
  removedMember?(name: string): RemovedMember | undefined;
  receive(from: string, messages: Message[]): void;
  /** What a peer's frame said of its disk: its `storage` member, undefined when it has none. */
  peerStorage?(from: string, state: StorageState | undefined): void;
  /** The members a peer's frame said are low on space (its `storageLow`; empty: none). */
  peerStorageLow?(from: string, reports: StorageLowReport[]): void;
  /**
   * Whether this site serves reads without an API key (its `requireApiKey`
   * is not `all`): then `GET /raft/blocks` and `/raft/state` answer an
   * unsigned request too, as a site from before signed reads sends. Absent:
   * every read must be a member's, signed.
   */
  servesAnonymousReads?(): boolean;
  /** Whether a peer's frame said it is catching up by snapshot (`catchingUp: true`). */
  peerCatchingUp?(from: string, catchingUp: boolean): void;
  /** The clock a peer's frame carried (`clock`, ms since the epoch), undefined when it has none. */
  peerClock?(from: string, ms: number | undefined): void;
  /**
   * `{accepted, refused: [{txId, index, problem, retryAfter?}]}`, `index`
   * into `envelopes` (see `Site.acceptForwarded`).
   */
  acceptForwarded(from: string, envelopes: unknown[]): Promise<ForwardOutcome>;
  /** `signer`: the member as its request was authenticated (its key, a rotated one included). */
  addCosignLines(from: string, lines: CosignLine[], signer?: PeerInfo): Promise<void>;
  replayBlocks(from: number, limit: number): Promise<unknown[]>;
  /** This site's state hash at a height (`state_check.ts`); absent: the route answers 404. */
  stateDigest?(height: number): StateDigestAnswer;
  /** Signs an answer's body as a peer request body is signed (`signPeerBody`). */
  sign(body: string): Promise<string>;
  /** A member was heard signing with `publicKey` (it ends the grace of a retired key: see `PeerInfo`). */
  keyHeard?(name: string, publicKey: Uint8Array): void;
  /** The headers an answer carries besides its signature: this site's key chain, once it rotated. */
  signedHeaders?(): Record<string, string>;
  /**
   * A member's key rotation, sent by that member (leader only): proposed,
   * and resolved once applied here (see `RaftHost.rotateMemberKey`).
   */
  rotateMemberKey?(from: string, rotation: unknown): Promise<void>;
  /**
   * The signed retirements of a member's old keys, sent by that member
   * (leader only): proposed, and resolved once applied here (see
   * `RaftHost.signMemberRetirements`).
   */
  signMemberRetirements?(from: string, retirements: unknown): Promise<void>;
  /** Aborted when the site stops: open `/raft/stream` requests end then. */
  signal?: AbortSignal;
  /** Hears of a peer request that failed on a bug; default: stderr. */
  log?: Logger;
}

/** Messages per `/raft/msg` request, at most. */
const messagesPerRequestMax = 10_000;
/** Transactions per `/raft/forward` request, at most. */
const forwardTxsMax = 10_000;

/** Builds the `/raft` sub-app. Mount with `app.route("/raft", raftRoutes(service))`. */
export function raftRoutes(service: PeerService) {
  const app = new Hono<{ Variables: RequestIdVariables }>();
  // Problems carry a request id (and X-Request-Id), as on the public routes.
  app.use(requestId());
  const log = service.log ?? createLogger({ context: { site: service.self } });
  const limit = bodySizeLimit({
    bytesMax: peerRequestBytesMax,
    tooLarge: (c) =>
      problemResponse(c, {
        type: "payload_too_large",
        status: 413,
        title: "Payload too large",
        detail: `Peer requests are limited to ${peerRequestBytesMax} bytes`,
      }),
  });
  /** A JSON answer signed as a peer request body is (`verifyPeerAnswer` checks it). */
  const signedAnswer = async (c: Context, body: string) =>
    c.body(body, 200, {
      "content-type": "application/json",
      "x-edgeledger-site": service.self,
      "x-edgeledger-sig": await service.sign(body),
      ...service.signedHeaders?.(),
    });
  // What the routes do not catch themselves, the size limit's read of a body above all.
  app.onError((err, c) => {
    const unread = bodyReadProblem(err, c.req.raw);
    if (unread !== undefined) {
      log.debug(unread.message, { path: c.req.path, error: err });
      return problemResponse(c, unread.problem);
    }
    return problemResponse(
      c,
      problemFromError(
        err,
        (e) => log.error("peer request failed", { path: c.req.path, error: e }),
      ),
    );
  });
  // A stream is bounded frame by frame instead (it is meant to stay open).
  app.use((c, next) => c.req.path.endsWith("/stream") ? next() : limit(c, next));

  const members = (n: string) => service.member(n);
  const removedMember = (n: string) => service.removedMember?.(n);

  async function signedBody(
    c: { req: { header(n: string): string | undefined; text(): Promise<string> } },
    options: { perTx?: boolean } = {},
  ) {
    const text = await c.req.text();
    if (text.length > peerRequestBytesMax) throw new PeerAuthError("Peer request too large");
    return verifiedBody(
      c.req.header("x-edgeledger-site") ?? null,
      c.req.header("x-edgeledger-sig") ?? null,
      text,
      options,
      c.req.header("x-edgeledger-key-chain") ?? null,
    );
  }

  /**
   * A signed body of a member as an object; throws PeerAuthError or
   * TypeError. A body in which an object repeats a member name is refused
   * (TypeError), as `POST /v1/txs` refuses one: JSON.parse keeps the last,
   * a site written in another language may keep the first, and all sites
   * must read a message alike. With `perTx`, a repeat inside an element of
   * `txs` refuses only that element instead: its index is in `repeatedTxs`
   * with the first repeated name.
   */
  function verifiedBody(
    site: string | null,
    sig: string | null,
    text: string,
    options: { perTx?: boolean } = {},
    keyChain: string | null = null,
  ) {
    const peer = verifyPeerRequest(site, sig, text, members, removedMember, keyChain);
    if (peer.graceKey !== undefined) service.keyHeard?.(peer.name, peer.publicKey);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text);
    } catch {
      throw new TypeError("Peer request is not JSON");
    }
    const repeatedTxs = new Map<number, string>();
    // Only `txs` and the index matter here: a longer path would make a body
    // with many repeats deep inside cost time quadratic in its size.
    for (const { name, path } of repeatedMembers(text, { pathLengthMax: 2 })) {
      const index = path[1];
      if (options.perTx && path[0] === "txs" && typeof index === "number") {
        if (!repeatedTxs.has(index)) repeatedTxs.set(index, name);
      } else {
        throw new TypeError(repeatedMemberDetail(name, "the peer request"));
      }
    }
    if (body.from !== peer.name) throw new PeerAuthError("Body 'from' does not match the signer");
    return { peer, body, repeatedTxs };
  }

  const fail = (c: Context, e: unknown) => {
    if (e instanceof PeerRemovedError) return problemResponse(c, removedProblem(e));
    if (e instanceof PeerAuthError) {
      return problemResponse(c, {
        type: "forbidden",
        status: 403,
        title: "Forbidden",
        detail: e.message,
      });
    }
    if (e instanceof TypeError) {
      return problemResponse(c, {
        type: "validation",
        status: 400,
        title: "Invalid request",
        detail: e.message,
      });
    }
    // The site's own problems (a leader whose queue is full answers 503 with
    // Retry-After); anything else is a bug, logged and answered `internal`.
    return problemResponse(
      c,
      problemFromError(
        e,
        (err) => log.error("peer request failed", { path: c.req.path, error: err }),
      ),
    );
  };

  /** Hands a `/raft/msg` body (or a frame's) to consensus and the site. */
  async function takeMessages(peer: PeerInfo, body: Record<string, unknown>): Promise<void> {
    const wire = body.messages;
    if (!Array.isArray(wire) || wire.length > messagesPerRequestMax) {
      throw new TypeError("messages must be an array");
    }
    const lines = body.lines;
    if (lines !== undefined && !Array.isArray(lines)) {
      throw new TypeError("lines must be an array");
    }
    if (body.clock !== undefined && !Number.isSafeInteger(body.clock)) {
      throw new TypeError("clock must be an integer (ms since the epoch)");
    }
    if (body.catchingUp !== undefined && body.catchingUp !== true) {
      throw new TypeError("catchingUp must be true when present");
    }
    const storage = parseStorageReport(body.storage);
    const storageLow = parseStorageLowReports(body.storageLow);
    service.peerStorage?.(peer.name, storage);
    service.peerStorageLow?.(peer.name, storageLow);
    service.peerCatchingUp?.(peer.name, body.catchingUp === true);
    service.peerClock?.(peer.name, body.clock as number | undefined);
    service.receive(peer.name, (wire as WireMessage[]).map(decodeMessage));
    if (lines !== undefined && lines.length > 0) {
      await service.addCosignLines(peer.name, lines as CosignLine[], peer);
    }
  }

  app.post("/msg", async (c) => {
    try {
      const { peer, body } = await signedBody(c);
      await takeMessages(peer, body);
      return c.body(null, 204);
    } catch (e) {
      return fail(c, e);
    }
  });

  /** Ends the stream a member has open, when it opens another. */
  const openStreams = new Map<string, () => void>();

  // Answered at once; the frames are read and handed on in order until the
  // sender ends the request, a frame is refused, or the site stops. The
  // answer then ends, after a problem line if a frame was refused.
  app.post("/stream", (c) => {
    const site = c.req.header("x-edgeledger-site") ?? null;
    const openSig = c.req.header("x-edgeledger-sig") ?? null;
    const keyChain = c.req.header("x-edgeledger-key-chain") ?? null;
    const raw = c.req.raw.body;
    // An opening is signed (a sender from before that answers 404 falls back to /raft/msg).
    if (openSig === null) {
      return problemResponse(
        c,
        knownProblem("not_found", "Streams must be opened signed; send /raft/msg requests instead"),
      );
    }
    try {
      verifyStreamOpen(
        site,
        openSig,
        c.req.header("x-edgeledger-time") ?? null,
        service.self,
        Date.now(),
        members,
        removedMember,
        keyChain,
      );
    } catch (e) {
      return fail(c, e);
    }
    if (raw === null) return fail(c, new TypeError("A stream needs a body"));
    if (service.signal?.aborted) {
      return problemResponse(c, knownProblem("unavailable", "This site is stopping"));
    }
    const reader = raw.getReader();
    let answer!: ReadableStreamDefaultController<Uint8Array>;
    const out = new ReadableStream<Uint8Array>({
      start: (ctl) => {
        answer = ctl;
      },
      cancel: () => void reader.cancel().catch(() => {}),
    });
    const stop = () => void reader.cancel().catch(() => {});
    service.signal?.addEventListener("abort", stop, { once: true });
    // One stream per member: the newest (its sender reopened) replaces the older.
    openStreams.get(site!)?.();
    openStreams.set(site!, stop);
    void (async () => {
      /** Whether a frame is being handled (not the stream read: a sender gone is no problem). */
      let handling = false;
      try {
        for await (const frame of streamFrames(reader)) {
          handling = true;
          const { sig, body: text } = splitFrame(frame);
          const { peer, body } = verifiedBody(site, sig, text, {}, keyChain);
          await takeMessages(peer, body);
          handling = false;
        }
      } catch (e) {
        // Peer routes carry no request id (they skip the public API's middleware).
        let init: ProblemInit | undefined;
        if (e instanceof PeerAuthError || e instanceof PeerFrameError || e instanceof TypeError) {
          const slug = e instanceof PeerAuthError ? "forbidden" : "validation";
          init = e instanceof PeerRemovedError ? removedProblem(e) : knownProblem(slug, e.message);
        } else if (handling) {
          // What /raft/msg answers with a 5xx (logged, as a bug) or the
          // site's own problem, the stream ends with: never silently.
          init = problemFromError(
            e,
            (err) => log.error("peer request failed", { path: c.req.path, error: err }),
          );
        }
        if (init !== undefined) {
          try {
            answer.enqueue(utf8Encode(JSON.stringify(problemBody(init, c.req.path, "")) + "\n"));
          } catch { /* the sender is gone */ }
        }
      } finally {
        if (openStreams.get(site!) === stop) openStreams.delete(site!);
        service.signal?.removeEventListener("abort", stop);
        try {
          answer.close();
        } catch { /* already ended */ }
      }
    })();
    return new Response(out, { status: 200, headers: { "content-type": "application/x-ndjson" } });
  });

  // A problem with the request as a whole (signature, not JSON, a repeated
  // name outside the envelopes, no `txs`) refuses it all; the follower then
  // retries the batch. A problem with one envelope, a repeated name inside
  // it included, refuses that envelope alone, by its position in `txs` and
  // its transaction id (null if it has none): the rest of the batch (other
  // clients' transactions) goes on. Every envelope is taken or refused, so
  // no client of the follower waits for an answer that never comes.
  app.post("/forward", async (c) => {
    try {
      const { peer, body, repeatedTxs } = await signedBody(c, { perTx: true });
      if (!Array.isArray(body.txs) || body.txs.length > forwardTxsMax) {
        throw new TypeError("txs must be an array");
      }
      const txs: unknown[] = body.txs;
      const refused: LeaderRefusal[] = [];
      for (const [index, name] of repeatedTxs) {
        const problem = knownProblem("validation", repeatedMemberDetail(name, "the transaction"));
        const { type, title, status, detail } = problem;
        // The id as this site reads the envelope (the last of each repeated name).
        refused.push({ txId: txIdOf(txs[index]), index, problem: { type, title, status, detail } });
      }
      if (repeatedTxs.size === 0) return c.json(await service.acceptForwarded(peer.name, txs));
      /** Where each envelope handed to the site is in `txs`. */
      const positions = [...txs.keys()].filter((i) => !repeatedTxs.has(i));
      const answer = await service.acceptForwarded(peer.name, positions.map((i) => txs[i]));
      for (const r of answer.refused) {
        refused.push(r.index === undefined ? r : { ...r, index: positions[r.index] });
      }
      return c.json({ ...answer, refused });
    } catch (e) {
      return fail(c, e);
    }
  });

  // Checkpoint lines alone (sites now send them with `/raft/msg`; kept for peers that do not).
  app.post("/cosign", async (c) => {
    try {
      const { peer, body } = await signedBody(c);
      if (!Array.isArray(body.lines)) throw new TypeError("lines must be an array");
      await service.addCosignLines(peer.name, body.lines as CosignLine[], peer);
      return c.body(null, 204);
    } catch (e) {
      return fail(c, e);
    }
  });

  /**
   * Checks that a read (`GET /raft/blocks`, `/raft/state`) is a member's:
   * signed for this site and this path ({@link verifyPeerRead}). An unsigned
   * one is served only while the site serves reads without an API key (the
   * blocks are public there, on `/v1/blocks`). Throws PeerAuthError.
   */
  function checkRead(c: Context): void {
    const sig = c.req.header("x-edgeledger-sig") ?? null;
    if (sig === null) {
      if (service.servesAnonymousReads?.() === true) return;
      throw new PeerAuthError(
        "This site serves nothing without an API key: a member reads its blocks and state " +
          "signed (X-Edgeledger-Site, X-Edgeledger-Time, X-Edgeledger-Sig)",
      );
    }
    const url = new URL(c.req.url);
    verifyPeerRead(
      c.req.header("x-edgeledger-site") ?? null,
      sig,
      c.req.header("x-edgeledger-time") ?? null,
      service.self,
      url.pathname + url.search,
      Date.now(),
      members,
      removedMember,
      c.req.header("x-edgeledger-key-chain") ?? null,
    );
  }

  app.get("/blocks", async (c) => {
    try {
      checkRead(c);
    } catch (e) {
      return fail(c, e);
    }
    // Strict decimals, as the public routes read them: "", "1e3" and "0x10" are refused.
    const query = blocksQuery.safeParse(c.req.query());
    if (!query.success) return problemResponse(c, validationProblem("query", query.error));
    const { from = 1, limit = 100 } = query.data;
    // Signed like a peer request, so a catching-up site knows a member sent these blocks.
    const body = JSON.stringify({ blocks: await service.replayBlocks(from, Math.min(limit, 500)) });
    return await signedAnswer(c, body);
  });

  // A peer's state hash at a height, signed like the blocks (see `state_check.ts`).
  app.get("/state", async (c) => {
    try {
      checkRead(c);
    } catch (e) {
      return fail(c, e);
    }
    if (service.stateDigest === undefined) {
      return problemResponse(c, knownProblem("not_found", "This site serves no state hashes"));
    }
    const query = stateQuery.safeParse(c.req.query());
    if (!query.success) return problemResponse(c, validationProblem("query", query.error));
    const { height } = query.data;
    const body = JSON.stringify(service.stateDigest(height));
    return await signedAnswer(c, body);
  });

  // A member's own key rotation, and then the signed retirement of the key it
  // replaced, sent by it to the leader (see `key_rotation.ts`).
  const keyChange = (
    path: string,
    apply: ((from: string, body: Record<string, unknown>) => Promise<void>) | undefined,
  ) =>
    app.post(path, async (c) => {
      try {
        const { peer, body } = await signedBody(c);
        if (apply === undefined) {
          return problemResponse(
            c,
            knownProblem("not_found", `This site takes no ${path} requests`),
          );
        }
        await apply(peer.name, body);
        return c.body(null, 204);
      } catch (e) {
        if (e instanceof MembershipTimeout) {
          return problemResponse(c, knownProblem("commit_timeout", e.message));
        }
        if (e instanceof MembershipError) {
          return problemResponse(c, knownProblem("conflict", e.message));
        }
        return fail(c, e);
      }
    });
  keyChange(
    "/rotate-key",
    service.rotateMemberKey && ((from, body) => service.rotateMemberKey!(from, body.rotation)),
  );
  keyChange(
    "/retired-key",
    service.signMemberRetirements &&
      ((from, body) => service.signMemberRetirements!(from, body.retirements)),
  );

  return app;
}

/**
 * The peer routes mounted at `/raft`, as a site serves them: an unknown peer
 * path is a `not_found` problem (not Hono's plain text), a known one asked
 * with another method a `method_not_allowed` one.
 */
export function raftRoot(routes: ReturnType<typeof raftRoutes>): Hono {
  const root = new Hono();
  root.route("/raft", routes);
  root.notFound(routeNotFound(root, "peer route"));
  return root;
}

/** `GET /raft/blocks` query: the first height, and how many blocks (at most 500 are sent). */
const blocksQuery = z.object({ from: decimalInt(0).optional(), limit: decimalInt(1).optional() });

/** `GET /raft/state` query. */
const stateQuery = z.object({ height: decimalInt(1) });

/** The answer to a removed member (peer routes only: no public route serves it). */
function removedProblem(e: PeerRemovedError) {
  return {
    type: memberRemovedType,
    status: 410,
    title: "Site removed from the cluster",
    detail: e.message,
    extra: { removedAt: e.index },
  };
}

/** The transaction id of a forwarded envelope, or null if it has none. */
function txIdOf(envelope: unknown): string | null {
  try {
    return transactionId(envelope as Envelope);
  } catch {
    return null;
  }
}
