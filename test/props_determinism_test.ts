/**
 * Property tests of determinism (DESIGN §3: every site turns a committed
 * entry into the same block): the same random sequence of blocks of many
 * kinds — with repeats, odd stream names and leader clocks that go back —
 * executed on two independent in-memory ledgers, and replayed by a real
 * `Site` on a temporary libSQL file as a catching-up site does, gives the
 * same results, block hashes and state, byte for byte.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Envelope } from "../sdk/envelope.ts";
import { hexEncode } from "../sdk/encoding.ts";
import { generateKeyPair } from "../sdk/keys.ts";
import type { GenesisConfig } from "../src/chain/genesis.ts";
import { Site } from "../src/site/site.ts";
import { NativeSnapshot, type StateRow } from "../src/storage/native.ts";
import { fixedKey, MemLedger, runs, signedTx, T0 } from "./_props.ts";
import { testGenesis, testLogger } from "./_helpers.ts";
import { OPEN_KINDS } from "./_kinds_helpers.ts";

const PARTIES = [0, 1, 2, 3].map((i) => fixedKey(i, 7));
const AUTHORITY = fixedKey(4, 7);
const DEVICE_KEYS = [0, 1, 2].map((i) => fixedKey(10 + i, 7));
/** Stream names that order oddly: nested under a NUL, a control character, non-ASCII. */
const STREAMS = ["v", "v\u00000", "a\u0001b", "capteur/été/😀"];
const ITEMS = ["crate-1", "crate-2"];
const ASSETS = ["kwh"];

function genesis(): GenesisConfig {
  return {
    ...testGenesis(fixedKey(99), "demo", OPEN_KINDS),
    authorities: [{ did: AUTHORITY.did, org: "org-a", name: "Authority", namespaces: ["demo/"] }],
  };
}

const party = fc.integer({ min: 0, max: PARTIES.length - 1 });
const small = fc.integer({ min: 0, max: 4 });

/** One transaction of some kind, as a recipe; `repeat` resubmits an earlier one. */
const recipeArb = fc.oneof(
  fc.record({ k: fc.constant("anchor" as const), s: small, seq: small, by: party }),
  fc.record({ k: fc.constant("create" as const), i: small, by: party }),
  fc.record({ k: fc.constant("handoff" as const), i: small, step: small, from: party, to: party }),
  fc.record({ k: fc.constant("asset" as const), by: party }),
  fc.record({ k: fc.constant("mint" as const), by: party, to: party, n: small }),
  fc.record({ k: fc.constant("transfer" as const), from: party, to: party, n: small }),
  fc.record({ k: fc.constant("grant" as const), s: small, by: party, to: party, until: small }),
  fc.record({ k: fc.constant("register" as const), d: small }),
  fc.record({ k: fc.constant("flag" as const), d: small }),
  fc.record({ k: fc.constant("repeat" as const), n: fc.nat() }),
);

type Recipe = typeof recipeArb extends fc.Arbitrary<infer R> ? R : never;

function envelopeOf(r: Recipe, sent: Envelope[]): Envelope | undefined {
  const p = (i: number) => PARTIES[i];
  switch (r.k) {
    case "anchor":
      return signedTx("data.anchor", {
        stream: STREAMS[r.s % STREAMS.length],
        seq: r.seq,
        root: hexEncode(new Uint8Array(32).fill(r.seq)),
        count: 1,
        from: 0,
        to: 1,
      }, [p(r.by)]);
    case "create":
      return signedTx("custody.create", {
        item: ITEMS[r.i % ITEMS.length],
        description: "Crate",
      }, [p(r.by)]);
    case "handoff":
      if (r.from === r.to) return undefined;
      return signedTx("custody.handoff", {
        item: ITEMS[r.i % ITEMS.length],
        step: r.step + 1,
        from: p(r.from).did,
        to: p(r.to).did,
      }, [p(r.from), p(r.to)]);
    case "asset":
      return signedTx("asset.create", { asset: ASSETS[0], name: "kWh", decimals: 3 }, [p(r.by)]);
    case "mint":
      return signedTx(
        "asset.mint",
        { asset: ASSETS[0], to: p(r.to).did, amount: `${r.n + 1}` },
        [p(r.by)],
      );
    case "transfer":
      if (r.from === r.to) return undefined;
      return signedTx("asset.transfer", {
        asset: ASSETS[0],
        from: p(r.from).did,
        to: p(r.to).did,
        amount: `${r.n + 1}`,
      }, [p(r.from)]);
    case "grant": {
      const stream = STREAMS[r.s % STREAMS.length];
      // deno-lint-ignore no-control-regex
      if (/[\u0000-\u001f]/.test(stream) || r.by === r.to) return undefined;
      return signedTx("access.grant", {
        stream,
        reader: p(r.to).did,
        purpose: "Audit",
        from: T0,
        until: T0 + (r.until + 1) * 2000,
      }, [p(r.by)]);
    }
    case "register": {
      const key = DEVICE_KEYS[r.d % DEVICE_KEYS.length];
      return signedTx("identity.register", {
        name: `demo/dev-${r.d}`,
        key: key.did,
        attributes: { model: "M" },
      }, [AUTHORITY, key]);
    }
    case "flag":
      return signedTx("identity.flag", {
        device: `demo/dev-${r.d}`,
        key: DEVICE_KEYS[r.d % DEVICE_KEYS.length].did,
        reason: "C2",
      }, [AUTHORITY]);
    case "repeat":
      return sent.length === 0 ? undefined : sent[r.n % sent.length];
  }
}

/** Blocks of envelopes with leader clocks that may go back. */
const blocksArb = fc.array(
  fc.record({
    recipes: fc.array(recipeArb, { maxLength: 8 }),
    clock: fc.integer({ min: -3000, max: 3000 }),
  }),
  { minLength: 1, maxLength: 6 },
).map((blocks) => {
  const sent: Envelope[] = [];
  let time = T0;
  return blocks.map((b) => {
    time += b.clock;
    const txs = b.recipes.flatMap((r) => envelopeOf(r, sent) ?? []);
    sent.push(...txs);
    return { txs, time };
  });
});

Deno.test("determinism props: two in-memory ledgers executing the same blocks of many kinds agree on every result, block hash and state byte", () => {
  fc.assert(
    fc.property(blocksArb, (blocks) => {
      const a = new MemLedger(genesis());
      const b = new MemLedger(genesis());
      for (const { txs, time } of blocks) {
        const x = a.block(txs, time);
        const y = b.block(structuredClone(txs), time);
        assert.deepEqual(y.txRows, x.txRows);
        assert.equal(y.headerJson, x.headerJson);
        assert.equal(y.hash, x.hash);
        assert.ok(x.header.time >= T0, "block time never decreases below genesis");
      }
      assert.deepEqual(b.snapshot(), a.snapshot());
    }),
    { numRuns: runs(100) },
  );
});

function byKey(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** Every state row of the database at `path`, in key order. */
function stateRows(path: string): StateRow[] {
  const snapshot = new NativeSnapshot(path);
  try {
    const rows: StateRow[] = [];
    let after: StateRow | undefined;
    while (true) {
      const page = snapshot.statePage(after, 1000);
      rows.push(...page);
      if (page.length < 1000) return rows;
      after = page[page.length - 1];
    }
  } finally {
    snapshot.close();
  }
}

Deno.test("determinism props: a site on libSQL replaying the blocks an in-memory ledger executed gets the same block hashes, results and state rows", async () => {
  await fc.assert(
    fc.asyncProperty(blocksArb, async (blocks) => {
      const l = new MemLedger(genesis());
      const dir = await Deno.makeTempDir({ prefix: "edgeledger-props-" });
      const dbPath = `${dir}/ledger.db`;
      let site: Site | undefined = await Site.open({
        name: "props-replay",
        joining: true,
        dbUrl: `file:${dbPath}`,
        genesis: l.genesis,
        key: generateKeyPair("ed25519"),
        storage: "inline",
        verifyWorkers: 0,
        diskFreeBytesMin: 0,
        stateCheckBlocks: 0,
        log: testLogger({ site: "props-replay" }),
      });
      try {
        assert.equal(site.head.hash, l.head.hash, "genesis");
        for (const { txs, time } of blocks) {
          const out = l.block(txs, time);
          await site.replayBlock({
            hash: out.hash,
            header: out.header,
            entryIndex: out.header.height,
            txs,
          });
          assert.equal(site.head.hash, out.hash);
          for (const row of out.txRows) {
            const stored = await site.store.txById(row.id);
            assert.equal(stored?.result, row.result, `result of ${row.kind} ${row.id}`);
          }
        }
        await site.close();
        site = undefined;
        // Compared as sets of rows: SQLite and JavaScript order non-ASCII keys differently.
        const rows = stateRows(dbPath).map((r): [string, string] => [
          `${r.ns}\u0000${r.key}`,
          r.value,
        ]);
        assert.deepEqual(rows.sort(byKey), l.snapshot().sort(byKey));
      } finally {
        await site?.close().catch(() => {});
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }),
    { numRuns: runs(25) },
  );
});
