/**
 * Property tests of `custody.*` under random items, parties and hand-off
 * sequences — hand-offs signed by the wrong parties, repeated, stale, or
 * shuffled within a block — admitted and executed block by block as a site
 * does, against a small model of what docs/custody.md promises; the
 * history is read back through the real read route.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Envelope } from "../sdk/envelope.ts";
import { ITEM_NS, type ItemState, STEP_NS, type StepRecord } from "../src/contracts/mod.ts";
import { envelopeText } from "../src/chain/envelope_text.ts";
import { fixedKey, MemLedger, outcomes, runs, signedTx, T0 } from "./_props.ts";
import { testGenesis } from "./_helpers.ts";
import { OPEN_KINDS } from "./_kinds_helpers.ts";

const PARTIES = [0, 1, 2, 3].map((i) => fixedKey(i, 2));
const ITEMS = ["crate-1", "crate-1.a"];

/** Who signs a hand-off, in envelope order. */
type Signing = "giver-taker" | "taker-giver" | "taker" | "giver" | "taker-other" | "other-giver";

type Op =
  | { op: "create"; item: number; by: number }
  | {
    op: "handoff";
    item: number;
    /** Added to the step the signers believe is next (0: the right one). */
    skew: number;
    /** The giver named in `from`: the holder the signers believe in, or another party. */
    from: "holder" | number;
    to: number;
    other: number;
    signing: Signing;
  }
  | { op: "repeat"; pick: number };

const party = fc.integer({ min: 0, max: PARTIES.length - 1 });
const item = fc.integer({ min: 0, max: ITEMS.length - 1 });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ op: fc.constant("create" as const), item, by: party }) },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("handoff" as const),
      item,
      skew: fc.constantFrom(0, 0, 0, 0, -1, 1),
      from: fc.oneof({ weight: 4, arbitrary: fc.constant("holder" as const) }, {
        weight: 1,
        arbitrary: party,
      }),
      to: party,
      other: party,
      signing: fc.constantFrom<Signing>(
        "giver-taker",
        "giver-taker",
        "taker-giver",
        "taker",
        "giver",
        "taker-other",
        "other-giver",
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("repeat" as const), pick: fc.nat() }) },
);

/** A transaction as the model sees it: the body's facts and the signer list. */
interface Tx {
  kind: "custody.create" | "custody.handoff";
  item: string;
  step: number;
  from: string;
  to: string;
  signers: string[];
}

/** What the ledger should hold, per docs/custody.md (no rotations here, so a giver signs as itself). */
class Model {
  items = new Map<string, { holder: string; steps: number; history: StepRecord[] }>();

  /** The admission verdict: a refusal type, or undefined. */
  admit(t: Tx): string | undefined {
    if (t.kind === "custody.create") return undefined;
    // The schema: a hand-off changes hands, and step 0 is the item's creation.
    if (t.from === t.to || t.step < 1) return "invalid_body";
    const takerSigned = t.signers.includes(t.to);
    const giverSigned = t.signers.includes(t.from) || t.signers.some((s) => s !== t.to);
    return takerSigned && giverSigned ? undefined : "unauthorized_signer";
  }

  /** The apply verdict in log order; applies it when applied. */
  apply(t: Tx, txId: string, height: number, time: number): string {
    const cur = this.items.get(t.item);
    if (t.kind === "custody.create") {
      if (cur !== undefined) return "custody_item_exists";
      const holder = t.signers[0];
      this.items.set(t.item, {
        holder,
        steps: 1,
        history: [{ item: t.item, step: 0, type: "create", holder, txId, height, time }],
      });
      return "applied";
    }
    if (cur === undefined) return "custody_item_unknown";
    if (cur.steps !== t.step) return "custody_step_mismatch";
    if (cur.holder !== t.from) return "custody_not_holder";
    if (!t.signers.includes(t.from)) return "custody_not_holder";
    cur.history.push({
      item: t.item,
      step: t.step,
      type: "handoff",
      holder: t.to,
      from: t.from,
      to: t.to,
      txId,
      height,
      time,
    });
    cur.holder = t.to;
    cur.steps++;
    return "applied";
  }
}

/** The envelope and model view of `o`, as its signers would build it from `view` (what they believe). */
function build(o: Exclude<Op, { op: "repeat" }>, view: Model): { env: Envelope; tx: Tx } {
  const it = ITEMS[o.item];
  if (o.op === "create") {
    const by = PARTIES[o.by];
    return {
      env: signedTx("custody.create", { item: it, description: `Item ${it}` }, [by]),
      tx: { kind: "custody.create", item: it, step: 0, from: "", to: "", signers: [by.did] },
    };
  }
  const believed = view.items.get(it);
  const step = Math.max(0, (believed?.steps ?? 1) + o.skew);
  const giver = o.from === "holder"
    ? (PARTIES.find((p) => p.did === believed?.holder) ?? PARTIES[0])
    : PARTIES[o.from];
  const taker = PARTIES[o.to];
  const other = PARTIES[o.other];
  const signers = {
    "giver-taker": [giver, taker],
    "taker-giver": [taker, giver],
    "taker": [taker],
    "giver": [giver],
    "taker-other": [taker, other],
    "other-giver": [other, giver],
  }[o.signing].filter((k, i, all) => all.findIndex((x) => x.did === k.did) === i);
  const env = signedTx(
    "custody.handoff",
    { item: it, step, from: giver.did, to: taker.did },
    signers,
  );
  return {
    env,
    tx: {
      kind: "custody.handoff",
      item: it,
      step,
      from: giver.did,
      to: taker.did,
      signers: signers.map((k) => k.did),
    },
  };
}

function ledger(): MemLedger {
  return new MemLedger(testGenesis(fixedKey(99), "demo", OPEN_KINDS));
}

Deno.test("custody props: an item has one holder, a hand-off applies only from the holder with giver's and taker's signatures at the next step, a rejected one changes nothing, and the history read back is the applied sequence", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          ops: fc.array(opArb, { minLength: 1, maxLength: 7 }),
          shuffle: fc.array(fc.nat(), { maxLength: 7 }),
        }),
        { maxLength: 6 },
      ),
      async (blocks) => {
        const l = ledger();
        const model = new Model();
        const sent: Array<{ env: Envelope; tx: Tx }> = [];
        const ids = new Set<string>();
        let time = T0;
        for (const { ops, shuffle } of blocks) {
          // Signers build against a view that assumes what they built before applied.
          const view = new Model();
          for (const [k, v] of model.items) {
            view.items.set(k, { ...v, history: [...v.history] });
          }
          let txs: Array<{ env: Envelope; tx: Tx }> = [];
          for (const o of ops) {
            if (o.op === "repeat") {
              if (sent.length > 0) txs.push(sent[o.pick % sent.length]);
              continue;
            }
            const b = build(o, view);
            view.apply(b.tx, "", 0, 0);
            txs.push(b);
          }
          // Out of order within the block: a permutation picked by `shuffle`.
          txs = shuffle.reduce((acc, n, i) => {
            const j = n % acc.length;
            const k = i % acc.length;
            [acc[j], acc[k]] = [acc[k], acc[j]];
            return acc;
          }, txs);
          const admitted: typeof txs = [];
          for (const t of txs) {
            const verdict = await l.admit(t.env);
            assert.equal(verdict, model.admit(t.tx), `admission of ${JSON.stringify(t.tx)}`);
            if (verdict === undefined) admitted.push(t);
          }
          const before = l.snapshot();
          const out = l.block(admitted.map((t) => t.env), time += 1000);
          const height = out.header.height;
          const expected: string[] = [];
          for (const t of admitted) {
            const id = envelopeText(t.env).txId;
            if (ids.has(id)) continue; // a repeat, in this block or after an earlier one: left out
            ids.add(id);
            expected.push(model.apply(t.tx, id, height, out.header.time));
          }
          sent.push(...txs);
          assert.deepEqual(outcomes(out), expected);
          if (expected.every((c) => c !== "applied")) assert.deepEqual(l.snapshot(), before);
          const reads = l.reads();
          for (const it of ITEMS) {
            const m = model.items.get(it);
            const stored = l.get<ItemState>(ITEM_NS, it);
            const steps = l.list<StepRecord>(STEP_NS, `${it}\u0001`).map(([, s]) => s);
            const r = await reads.get(`/v1/custody/items/${it}/history`);
            if (m === undefined) {
              assert.equal(stored, undefined);
              assert.deepEqual(steps, []);
              assert.equal(r.status, 404);
              continue;
            }
            assert.equal(stored?.holder, m.holder, `holder of ${it}`);
            assert.equal(stored?.steps, m.steps);
            assert.deepEqual(steps, m.history);
            assert.equal(r.status, 200);
            assert.deepEqual(
              r.body.steps.map(({ proofUrl: _, ...s }: { proofUrl: string }) => s),
              m.history,
            );
            // One holder: the last step's, and it is a party of that step.
            assert.equal(m.history.at(-1)!.holder, m.holder);
          }
        }
      },
    ),
    { numRuns: runs(60) },
  );
});
