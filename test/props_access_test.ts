/**
 * Property tests of `access.*` under random grant and revoke sequences,
 * executed block by block as a site does, against a small model of
 * docs/access.md: a reader may read exactly while a grant stands (from its
 * start to the earlier of its end and its revocation), and only the
 * stream's owner, or the reader renouncing, revokes. Access is read back
 * through `GET /v1/streams/{stream}/access`.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Envelope } from "../sdk/envelope.ts";
import { hexEncode } from "../sdk/encoding.ts";
import { envelopeText } from "../src/chain/envelope_text.ts";
import { fixedKey, MemLedger, outcomes, runs, signedTx, T0 } from "./_props.ts";
import { testGenesis } from "./_helpers.ts";
import { OPEN_KINDS } from "./_kinds_helpers.ts";

const OWNER = fixedKey(0, 5);
const READERS = [fixedKey(1, 5), fixedKey(2, 5)];
const OTHER = fixedKey(3, 5);
const STREAM = "patient-42/glucose";
/** Blocks are this far apart, ms. */
const BLOCK_MS = 1000;

type By = "owner" | "reader" | "other";

type Op =
  | { op: "grant"; reader: number; by: By; from: number; until: number }
  | { op: "revoke"; pick: number; reader: "granted" | number; by: By };

const byArb = fc.constantFrom<By>("owner", "owner", "reader", "other");

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("grant" as const),
    reader: fc.integer({ min: 0, max: READERS.length - 1 }),
    by: byArb,
    // Offsets from the block's time, in blocks: in the past, now, ahead.
    from: fc.integer({ min: -3, max: 4 }),
    until: fc.integer({ min: -1, max: 6 }),
  }).filter((g) => g.from < g.until),
  fc.record({
    op: fc.constant("revoke" as const),
    pick: fc.nat(),
    reader: fc.oneof(
      { weight: 4, arbitrary: fc.constant("granted" as const) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: READERS.length - 1 }) },
    ),
    by: byArb,
  }),
);

interface Grant {
  id: string;
  reader: number;
  from: number;
  until: number;
  revokedAt?: number;
}

/** The grants the ledger should hold, per docs/access.md. */
class Model {
  grants = new Map<string, Grant>();

  grant(g: Grant, by: By, time: number): string {
    if (by !== "owner") return "access_not_owner";
    if (g.until <= time) return "access_period_over";
    this.grants.set(g.id, { ...g, from: Math.max(g.from, time) });
    return "applied";
  }

  revoke(id: string, reader: number, by: By, time: number): string {
    const g = this.grants.get(id);
    if (g === undefined || g.reader !== reader) return "access_grant_unknown";
    if (by === "other") return "access_not_owner";
    if (g.revokedAt !== undefined) return "access_already_revoked";
    g.revokedAt = time;
    return "applied";
  }

  allowed(reader: number, at: number): boolean {
    return [...this.grants.values()].some((g) =>
      g.reader === reader && g.from <= at && at < Math.min(g.until, g.revokedAt ?? Infinity)
    );
  }
}

function signer(by: By, reader: number) {
  return by === "owner" ? OWNER : by === "reader" ? READERS[reader] : OTHER;
}

Deno.test("access props: a reader may read exactly while a grant stands, and only the owner or the renouncing reader revokes", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(opArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }),
      async (blocks) => {
        const l = new MemLedger(testGenesis(fixedKey(99), "demo", OPEN_KINDS));
        const model = new Model();
        let time = T0 + BLOCK_MS;
        const root = hexEncode(new Uint8Array(32));
        const setup = signedTx(
          "data.anchor",
          { stream: STREAM, seq: 0, root, count: 1, from: 0, to: 1 },
          [OWNER],
        );
        assert.deepEqual(outcomes(l.block([setup], time)), ["applied"]);
        const sent: Array<{ id: string; reader: number }> = [];
        const times: number[] = [];
        for (const ops of blocks) {
          time += BLOCK_MS;
          times.push(time);
          // Grants first, so a revoke may name a grant of its own block.
          const envs: Envelope[] = [];
          const decide: Array<() => string> = [];
          for (const o of ops) {
            if (o.op === "grant") {
              const body = {
                stream: STREAM,
                reader: READERS[o.reader].did,
                purpose: "Follow-up",
                from: time + o.from * BLOCK_MS,
                until: time + o.until * BLOCK_MS,
              };
              if (body.from < 0) continue;
              const env = signedTx("access.grant", body, [signer(o.by, o.reader)]);
              const id = envelopeText(env).txId;
              sent.push({ id, reader: o.reader });
              envs.push(env);
              const g = { id, reader: o.reader, from: body.from, until: body.until };
              decide.push(() => model.grant(g, o.by, time));
              continue;
            }
            if (sent.length === 0) continue;
            const target = sent[o.pick % sent.length];
            const reader = o.reader === "granted" ? target.reader : o.reader;
            const env = signedTx("access.revoke", {
              stream: STREAM,
              reader: READERS[reader].did,
              grant: target.id,
            }, [signer(o.by, reader)]);
            envs.push(env);
            decide.push(() => model.revoke(target.id, reader, o.by, time));
          }
          const out = l.block(envs, time);
          assert.deepEqual(outcomes(out), decide.map((d) => d()));
          const reads = l.reads();
          for (const [r, reader] of READERS.entries()) {
            for (const at of [T0, ...times, time + BLOCK_MS / 2, time + 3 * BLOCK_MS]) {
              const q = `reader=${encodeURIComponent(reader.did)}&at=${at}`;
              const res = await reads.get(`/v1/streams/${encodeURIComponent(STREAM)}/access?${q}`);
              assert.equal(res.status, 200);
              assert.equal(res.body.allowed, model.allowed(r, at), `reader ${r} at ${at - T0}`);
            }
          }
        }
      },
    ),
    { numRuns: runs(50) },
  );
});
