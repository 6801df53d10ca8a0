/**
 * Site-to-site routes under `/raft/`: Raft messages, transactions forwarded
 * to the leader, checkpoint signatures, and blocks for a catching-up site.
 * Every POST is signed by a member site (see `src/site/peers.ts`); these
 * routes are not part of the public API and not in `/openapi.json`.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Message } from "../consensus/mod.ts";
import {
  type CosignLine,
  decodeMessage,
  PeerAuthError,
  type PeerInfo,
  peerRequestBytesMax,
  verifyPeerRequest,
  type WireMessage,
} from "../site/peers.ts";
import { problemResponse } from "./problem.ts";

/** What the peer routes need from a site and its consensus host. */
export interface PeerService {
  member(name: string): PeerInfo | undefined;
  /** The signed-note verifier key of a member. */
  verifierKeyOf(name: string): string | undefined;
  receive(from: string, messages: Message[]): void;
  acceptForwarded(from: string, envelopes: unknown[]): Promise<number>;
  addCosignLines(from: string, lines: CosignLine[]): Promise<void>;
  replayBlocks(from: number, limit: number): Promise<unknown[]>;
}

/** Messages per `/raft/msg` request, at most. */
const messagesPerRequestMax = 10_000;
/** Transactions per `/raft/forward` request, at most. */
const forwardTxsMax = 10_000;

/** Builds the `/raft` sub-app. Mount with `app.route("/raft", raftRoutes(service))`. */
export function raftRoutes(service: PeerService) {
  const app = new Hono();
  app.use(bodyLimit({
    maxSize: peerRequestBytesMax,
    onError: (c) =>
      problemResponse(c, {
        type: "payload_too_large",
        status: 413,
        title: "Payload too large",
        detail: `Peer requests are limited to ${peerRequestBytesMax} bytes`,
      }),
  }));

  async function signedBody(
    c: { req: { header(n: string): string | undefined; text(): Promise<string> } },
  ) {
    const text = await c.req.text();
    if (text.length > peerRequestBytesMax) throw new PeerAuthError("Peer request too large");
    const peer = verifyPeerRequest(
      c.req.header("x-edgeledger-site") ?? null,
      c.req.header("x-edgeledger-sig") ?? null,
      text,
      (n) => service.member(n),
    );
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text);
    } catch {
      throw new TypeError("Peer request is not JSON");
    }
    if (body.from !== peer.name) throw new PeerAuthError("Body 'from' does not match the signer");
    return { peer, body };
  }

  const fail = (c: Context, e: unknown) => {
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
    throw e;
  };

  app.post("/msg", async (c) => {
    try {
      const { peer, body } = await signedBody(c);
      const wire = body.messages;
      if (!Array.isArray(wire) || wire.length > messagesPerRequestMax) {
        throw new TypeError("messages must be an array");
      }
      const lines = body.lines;
      if (lines !== undefined && !Array.isArray(lines)) {
        throw new TypeError("lines must be an array");
      }
      service.receive(peer.name, (wire as WireMessage[]).map(decodeMessage));
      if (lines !== undefined && lines.length > 0) {
        await service.addCosignLines(peer.name, lines as CosignLine[]);
      }
      return c.body(null, 204);
    } catch (e) {
      return fail(c, e);
    }
  });

  app.post("/forward", async (c) => {
    try {
      const { peer, body } = await signedBody(c);
      if (!Array.isArray(body.txs) || body.txs.length > forwardTxsMax) {
        throw new TypeError("txs must be an array");
      }
      const accepted = await service.acceptForwarded(peer.name, body.txs);
      return c.json({ accepted });
    } catch (e) {
      return fail(c, e);
    }
  });

  // Checkpoint lines alone (sites now send them with `/raft/msg`; kept for peers that do not).
  app.post("/cosign", async (c) => {
    try {
      const { peer, body } = await signedBody(c);
      if (!Array.isArray(body.lines)) throw new TypeError("lines must be an array");
      await service.addCosignLines(
        peer.name,
        body.lines as CosignLine[],
      );
      return c.body(null, 204);
    } catch (e) {
      return fail(c, e);
    }
  });

  app.get("/blocks", async (c) => {
    const from = Number(c.req.query("from") ?? "1");
    const limit = Number(c.req.query("limit") ?? "100");
    if (!Number.isSafeInteger(from) || from < 0 || !Number.isSafeInteger(limit) || limit < 1) {
      return problemResponse(c, {
        type: "validation",
        status: 400,
        title: "Invalid request",
        detail: "from and limit must be non-negative integers",
      });
    }
    return c.json({ blocks: await service.replayBlocks(from, Math.min(limit, 500)) });
  });

  return app;
}
