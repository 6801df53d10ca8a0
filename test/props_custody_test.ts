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
import { hexEncode } from "../sdk/encoding.ts";
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

// ---- with key rotations, attachments and anchors ----------------------

/** Party `p`'s device keys: key 0 first, then one per rotation. */
const DEVICE_KEYS = [0, 1, 2].map((p) => [0, 1, 2, 3].map((n) => fixedKey(20 + p * 4 + n, 2)));
const DEVICE_AUTHORITY = fixedKey(9, 2);

type ROp =
  | { op: "rotate"; party: number }
  | { op: "anchor"; party: number; stream: number; seq: number }
  | {
    op: "handoff";
    item: number;
    skew: number;
    to: number;
    /** Who signs for the giver: the key `from` names (the holder's), its device's current key, or a stranger. */
    giver: "holder" | "current" | "stranger";
    /** Whether the taker names (and signs with) its key as of signing, or its first key. */
    takerKey: "current" | "first";
    anchor?: { stream: number; seq: number };
  }
  | {
    op: "attach";
    item: number;
    skew: number;
    by: "holder" | "current" | "stranger";
    anchor: { stream: number; seq: number };
  };

const dParty = fc.integer({ min: 0, max: DEVICE_KEYS.length - 1 });
const anchorRef = fc.record({
  stream: fc.integer({ min: 0, max: 1 }),
  seq: fc.integer({ min: 0, max: 4 }),
});
const signAs = fc.constantFrom("holder" as const, "current" as const, "stranger" as const);

const rOpArb: fc.Arbitrary<ROp> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ op: fc.constant("rotate" as const), party: dParty }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("anchor" as const),
      party: dParty,
      stream: fc.integer({ min: 0, max: 1 }),
      seq: fc.integer({ min: 0, max: 4 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("handoff" as const),
      item: fc.constant(0),
      skew: fc.constantFrom(0, 0, 0, 1),
      to: dParty,
      giver: signAs,
      takerKey: fc.constantFrom("current" as const, "current" as const, "first" as const),
      anchor: anchorRef,
    }, { requiredKeys: ["op", "item", "skew", "to", "giver", "takerKey"] }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("attach" as const),
      item: fc.constant(0),
      skew: fc.constantFrom(0, 0, 0, 1),
      by: signAs,
      anchor: anchorRef,
    }),
  },
);

/**
 * Devices, streams and one item, per docs/custody.md and docs/identity.md
 * ("what a rotation carries over"), under rules version `rules`.
 */
class RModel {
  constructor(readonly rules: number) {}

  /** Rotations so far of each party's device: its current key is `DEVICE_KEYS[p][n]`. */
  rotations = DEVICE_KEYS.map(() => 0);
  /** Each stream's last seq, owner and every seq anchored on it (seqs may skip). */
  streams = new Map<number, { lastSeq: number; owner: string; seqs: Set<number> }>();
  holder = DEVICE_KEYS[0][0].did;
  steps = 1;
  history: Array<{ type: string; holder: string; from?: string; to?: string }> = [
    { type: "create", holder: DEVICE_KEYS[0][0].did },
  ];

  clone(): RModel {
    const m = new RModel(this.rules);
    m.rotations = [...this.rotations];
    m.streams = new Map([...this.streams].map(([k, v]) => [k, { ...v, seqs: new Set(v.seqs) }]));
    m.holder = this.holder;
    m.steps = this.steps;
    m.history = [...this.history];
    return m;
  }

  current(p: number): string {
    return DEVICE_KEYS[p][this.rotations[p]].did;
  }

  /** The party whose device ever had `did`, or -1. */
  partyOf(did: string): number {
    return DEVICE_KEYS.findIndex((ks) => ks.some((k) => k.did === did));
  }

  /** Whether `did` is a rotated-out key (its status row says revoked). */
  revoked(did: string): boolean {
    const p = this.partyOf(did);
    return p >= 0 && DEVICE_KEYS[p].findIndex((k) => k.did === did) < this.rotations[p];
  }

  /** Whether a signer acts for `holder`: it is `holder`, or its device's current key with `holder` an earlier key. */
  actsFor(holder: string, signers: string[]): boolean {
    if (signers.includes(holder)) return true;
    const p = this.partyOf(holder);
    return p >= 0 && signers.includes(this.current(p)) && holder !== this.current(p);
  }

  /**
   * Whether a step may cite `a`: rules 3, the anchor was made; rules 1 and
   * 2, its stream exists and `seq` is at most the stream's last (a skipped
   * seq passes).
   */
  anchorKnown(a: { stream: number; seq: number } | undefined): boolean {
    if (a === undefined) return true;
    const s = this.streams.get(a.stream);
    if (s === undefined) return false;
    return this.rules >= 3 ? s.seqs.has(a.seq) : a.seq <= s.lastSeq;
  }
}

interface RTx {
  op: ROp;
  kind: string;
  signers: string[];
  from?: string;
  to?: string;
  step?: number;
  anchor?: { stream: number; seq: number };
  seq?: number;
}

function rBuild(o: ROp, view: RModel): { env: Envelope; tx: RTx } | undefined {
  const stranger = PARTIES[3];
  const stream = (i: number) => `leg-${i}`;
  if (o.op === "rotate") {
    const n = view.rotations[o.party];
    if (n + 1 >= DEVICE_KEYS[o.party].length) return undefined;
    const [cur, next] = [DEVICE_KEYS[o.party][n], DEVICE_KEYS[o.party][n + 1]];
    return {
      env: signedTx(
        "identity.rotate",
        { device: `demo/p-${o.party}`, key: cur.did, newKey: next.did },
        [cur, next],
      ),
      tx: { op: o, kind: "identity.rotate", signers: [cur.did, next.did] },
    };
  }
  if (o.op === "anchor") {
    const k = DEVICE_KEYS[o.party][view.rotations[o.party]];
    return {
      env: signedTx("data.anchor", {
        stream: stream(o.stream),
        seq: o.seq,
        root: hexEncode(new Uint8Array(32).fill(o.seq)),
        count: 1,
        from: 0,
        to: 1,
      }, [k]),
      tx: { op: o, kind: "data.anchor", signers: [k.did], seq: o.seq },
    };
  }
  const holder = view.holder;
  const hp = view.partyOf(holder);
  const giverKey = o.op === "handoff" ? o.giver : o.by;
  const signerKey = giverKey === "holder"
    ? DEVICE_KEYS[hp].find((k) => k.did === holder)!
    : giverKey === "current"
    ? DEVICE_KEYS[hp][view.rotations[hp]]
    : stranger;
  const step = view.steps + o.skew;
  const anchors = o.anchor === undefined
    ? undefined
    : [{ stream: stream(o.anchor.stream), seq: o.anchor.seq }];
  if (o.op === "attach") {
    return {
      env: signedTx("custody.attach", { item: ITEMS[0], step, anchors }, [signerKey]),
      tx: { op: o, kind: "custody.attach", signers: [signerKey.did], step, anchor: o.anchor },
    };
  }
  const taker = o.takerKey === "first"
    ? DEVICE_KEYS[o.to][0]
    : DEVICE_KEYS[o.to][view.rotations[o.to]];
  if (taker.did === holder) return undefined;
  const signers = signerKey.did === taker.did ? [taker, stranger] : [signerKey, taker];
  return {
    env: signedTx("custody.handoff", {
      item: ITEMS[0],
      step,
      from: holder,
      to: taker.did,
      ...(anchors !== undefined ? { anchors } : {}),
    }, signers),
    tx: {
      op: o,
      kind: "custody.handoff",
      signers: signers.map((k) => k.did),
      from: holder,
      to: taker.did,
      step,
      anchor: o.anchor,
    },
  };
}

/** Admission's verdict: rotated-out keys are refused. */
function rAdmit(t: RTx, m: RModel): string | undefined {
  return t.signers.some((s) => m.revoked(s)) ? "revoked_signer" : undefined;
}

/** The apply verdict, applied to `m` when applied. */
function rApply(t: RTx, m: RModel): string {
  const o = t.op;
  // identity.rotate checks the key it names before its signers (docs/identity.md).
  if (o.op === "rotate" && t.signers[0] !== m.current(o.party)) return "stale_key";
  if (t.signers.some((s) => m.revoked(s))) return "revoked_signer";
  if (o.op === "rotate") {
    m.rotations[o.party]++;
    return "applied";
  }
  if (o.op === "anchor") {
    const s = m.streams.get(o.stream);
    if (s === undefined) {
      m.streams.set(o.stream, { lastSeq: o.seq, owner: t.signers[0], seqs: new Set([o.seq]) });
      return "applied";
    }
    if (!m.actsFor(s.owner, t.signers)) return "stream_not_owner";
    if (o.seq <= s.lastSeq) return "stream_seq_not_increasing";
    s.lastSeq = o.seq;
    s.seqs.add(o.seq);
    return "applied";
  }
  if (t.step !== m.steps) return "custody_step_mismatch";
  if (o.op === "handoff" && t.from !== m.holder) return "custody_not_holder";
  if (!m.actsFor(m.holder, t.signers)) return "custody_not_holder";
  if (!m.anchorKnown(t.anchor)) return "custody_anchor_unknown";
  m.steps++;
  if (o.op === "handoff") {
    m.history.push({ type: "handoff", holder: t.to!, from: t.from, to: t.to });
    m.holder = t.to!;
  } else {
    m.history.push({ type: "attach", holder: m.holder });
  }
  return "applied";
}

Deno.test("custody props: after key rotations the holder's device's current key gives and attaches for its old key, the old key moves nothing, and a cited anchor must be anchored by then (rules 3: that very seq; rules 1 and 2: a seq up to the stream's last)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(1, 2, 3),
      fc.array(fc.array(rOpArb, { minLength: 1, maxLength: 6 }), { maxLength: 6 }),
      async (rules, blocks) => {
        const base = testGenesis(fixedKey(99), "demo", OPEN_KINDS);
        const l = new MemLedger({
          ...base,
          ...(rules > 1 ? { rules } : {}),
          authorities: [{
            did: DEVICE_AUTHORITY.did,
            org: "org-a",
            name: "Devices",
            namespaces: ["demo/"],
          }],
        });
        const setup = DEVICE_KEYS.map((ks, p) =>
          signedTx("identity.register", {
            name: `demo/p-${p}`,
            key: ks[0].did,
            attributes: { model: "Tracker" },
          }, [DEVICE_AUTHORITY, ks[0]])
        );
        setup.push(signedTx("custody.create", { item: ITEMS[0], description: "Crate" }, [
          DEVICE_KEYS[0][0],
        ]));
        let time = T0 + 1000;
        assert.deepEqual(outcomes(l.block(setup, time)), setup.map(() => "applied"));
        const model = new RModel(rules);
        for (const ops of blocks) {
          const txs: RTx[] = [];
          const envs: Envelope[] = [];
          for (const o of ops) {
            const b = rBuild(o, model);
            if (b === undefined) continue;
            const verdict = await l.admit(b.env);
            assert.equal(verdict, rAdmit(b.tx, model), `admission of ${JSON.stringify(b.tx)}`);
            if (verdict !== undefined) continue;
            txs.push(b.tx);
            envs.push(b.env);
          }
          const out = l.block(envs, time += 1000);
          assert.deepEqual(
            outcomes(out).map((c, i) => `${txs[i].op.op} ${c}`),
            txs.map((t) => `${t.op.op} ${rApply(t, model)}`),
          );
          const item = l.get<ItemState>(ITEM_NS, ITEMS[0]);
          assert.equal(item?.holder, model.holder);
          assert.deepEqual(
            l.list<StepRecord>(STEP_NS, `${ITEMS[0]}\u0001`).map(([, s]) => ({
              type: s.type,
              holder: s.holder,
              ...(s.from !== undefined ? { from: s.from, to: s.to } : {}),
            })),
            model.history,
          );
        }
      },
    ),
    { numRuns: runs(60) },
  );
});
