/**
 * Property tests of `data.anchor` under random anchors on a few streams,
 * submitted in any order within a block and across blocks, against a small
 * model of DESIGN §5 and docs/sensor-data.md: per stream, the applied seqs
 * strictly increase in log order, and the stream belongs to the first
 * signer of its first anchor for good. The anchors are read back through
 * the real read routes, page by page.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Envelope } from "../sdk/envelope.ts";
import { hexEncode } from "../sdk/encoding.ts";
import { type AnchorRecord, STREAM_NS, type StreamState } from "../src/contracts/mod.ts";
import { fixedKey, MemLedger, outcomes, runs, signedTx, T0 } from "./_props.ts";
import { testGenesis } from "./_helpers.ts";

const PARTIES = [0, 1, 2].map((i) => fixedKey(i, 4));
/** Streams whose names nest: `"v\u00000"` sorts inside `"v"`'s anchor key range. */
const STREAMS = ["v", "v\u00000", "fleet/truck-7"];
const SEQS = [0, 1, 2, 3, 4, 5, 7, Number.MAX_SAFE_INTEGER];

interface Anchor {
  stream: number;
  seq: number;
  /** The first signer, and a second one (or none). */
  by: number;
  co?: number;
}

const anchorArb: fc.Arbitrary<Anchor> = fc.record({
  stream: fc.integer({ min: 0, max: STREAMS.length - 1 }),
  seq: fc.constantFrom(...SEQS),
  by: fc.integer({ min: 0, max: PARTIES.length - 1 }),
  co: fc.integer({ min: 0, max: PARTIES.length - 1 }),
}, { requiredKeys: ["stream", "seq", "by"] });

class Model {
  streams = new Map<string, { owner: string; seqs: number[] }>();

  apply(a: Anchor): string {
    const s = STREAMS[a.stream];
    const signers = signersOf(a);
    const cur = this.streams.get(s);
    if (cur === undefined) {
      this.streams.set(s, { owner: signers[0], seqs: [a.seq] });
      return "applied";
    }
    if (!signers.includes(cur.owner)) return "stream_not_owner";
    if (a.seq <= cur.seqs.at(-1)!) return "stream_seq_not_increasing";
    cur.seqs.push(a.seq);
    return "applied";
  }
}

function signersOf(a: Anchor): string[] {
  const keys = [PARTIES[a.by].did];
  if (a.co !== undefined && a.co !== a.by) keys.push(PARTIES[a.co].did);
  return keys;
}

function envelopeOf(a: Anchor): Envelope {
  const keys = [PARTIES[a.by]];
  if (a.co !== undefined && a.co !== a.by) keys.push(PARTIES[a.co]);
  return signedTx("data.anchor", {
    stream: STREAMS[a.stream],
    seq: a.seq,
    root: hexEncode(new Uint8Array(32).fill(a.seq % 256)),
    count: 1,
    from: 0,
    to: 1,
  }, keys);
}

/** Every anchor of `stream` through `GET /v1/streams/{stream}/anchors`, two a page. */
async function anchorsRead(l: MemLedger, stream: string): Promise<AnchorRecord[]> {
  const reads = l.reads();
  const out: AnchorRecord[] = [];
  let after: number | undefined;
  for (let page = 0; page < 20; page++) {
    const q = after === undefined ? "" : `&after=${after}`;
    const r = await reads.get(`/v1/streams/${encodeURIComponent(stream)}/anchors?limit=2${q}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    out.push(...r.body.anchors);
    if (r.body.next === null || r.body.next === undefined) return out;
    after = r.body.next;
  }
  assert.fail("more pages than anchors");
}

Deno.test("data.anchor props: per stream, applied seqs strictly increase in log order whatever the submission order, and the owner is the first signer of the first anchor", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(anchorArb, { minLength: 1, maxLength: 8 }), { maxLength: 5 }),
      async (blocks) => {
        const l = new MemLedger(testGenesis(fixedKey(99), "demo", ["data.anchor"]));
        const model = new Model();
        let time = T0;
        for (const anchors of blocks) {
          const out = l.block(anchors.map(envelopeOf), time += 1000);
          assert.deepEqual(outcomes(out), anchors.map((a) => model.apply(a)));
          for (const s of STREAMS) {
            const m = model.streams.get(s);
            const stored = l.get<StreamState>(STREAM_NS, s);
            if (m === undefined) {
              assert.equal(stored, undefined);
              continue;
            }
            assert.equal(stored?.owner, m.owner, `owner of ${JSON.stringify(s)}`);
            assert.equal(stored?.lastSeq, m.seqs.at(-1));
            assert.equal(stored?.anchors, m.seqs.length);
            const seqs = (await anchorsRead(l, s)).map((a) => a.seq);
            assert.deepEqual(seqs, m.seqs, `anchors of ${JSON.stringify(s)} read back`);
            for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i - 1] < seqs[i]);
          }
        }
      },
    ),
    { numRuns: runs(60) },
  );
});
