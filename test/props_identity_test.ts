/**
 * Property tests of `identity.*` under random register, rotate, revoke,
 * flag and unquarantine sequences, with devices signing `data.anchor`s all
 * along, against a small model of docs/identity.md. Every envelope is
 * admitted as a site admits it against the state before its block, and
 * some stay in flight for one more block, so a transaction admitted before
 * a revocation or rotation may apply after it, in the same block or the
 * next. The device, its DID document and its resolution by any of its keys
 * are read back through the real read routes.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Envelope } from "../sdk/envelope.ts";
import { hexEncode } from "../sdk/encoding.ts";
import type { KeyPair } from "../sdk/keys.ts";
import { deviceDid } from "../sdk/kinds/identity.ts";
import type { GenesisConfig } from "../src/chain/genesis.ts";
import {
  DEVICE_NS,
  type DeviceRecord,
  IDENTITY_STATUS_NS,
  type KeyStatusRecord,
} from "../src/contracts/mod.ts";
import { fixedKey, MemLedger, outcomes, runs, signedTx, T0 } from "./_props.ts";
import { testGenesis } from "./_helpers.ts";

const ORGS = ["org-a", "org-b", "org-c"];
/** One authority per organisation; the last one covers no device name used here. */
const AUTHS = [0, 1, 2].map((i) => fixedKey(i, 6));
const AUTH_NAMESPACES = [["demo/"], ["demo/"], ["other/"]];
const OWNER = fixedKey(3, 6);
const OTHER = fixedKey(4, 6);
const KEYS = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => fixedKey(10 + i, 6));
const NAMES = ["demo/cam-1", "demo/cam-2", "demo/gw-1"];

function genesis(): GenesisConfig {
  const base = testGenesis(fixedKey(99), "demo", ["data.anchor"]);
  return {
    ...base,
    organisations: ORGS.map((id) => ({ id, name: id })),
    authorities: AUTHS.map((a, i) => ({
      did: a.did,
      org: ORGS[i],
      name: `Authority ${i}`,
      namespaces: AUTH_NAMESPACES[i],
    })),
    policies: { ...base.policies, quarantineOrgsMin: 2 },
  };
}

type Who = { auth: number } | { key: number } | "owner" | "other";

type Op =
  | { op: "register"; name: number; key: number; auth: number; owner: boolean }
  | { op: "rotate"; name: number; newKey: number; stale: boolean }
  | { op: "revoke"; name: number; by: Who }
  | { op: "flag"; name: number; by: Who }
  | { op: "unquarantine"; name: number; auth: number }
  | { op: "use"; name: number; stale: boolean };

const nameArb = fc.integer({ min: 0, max: NAMES.length - 1 });
const keyArb = fc.integer({ min: 0, max: KEYS.length - 1 });
const authArb = fc.integer({ min: 0, max: AUTHS.length - 1 });
const whoArb: fc.Arbitrary<Who> = fc.oneof(
  fc.record({ auth: authArb }),
  fc.record({ key: keyArb }),
  fc.constantFrom<Who>("owner", "other"),
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("register" as const),
      name: nameArb,
      key: keyArb,
      auth: authArb,
      owner: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("rotate" as const),
      name: nameArb,
      newKey: keyArb,
      stale: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("revoke" as const), name: nameArb, by: whoArb }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant("flag" as const), name: nameArb, by: whoArb }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("unquarantine" as const),
      name: nameArb,
      auth: authArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant("use" as const), name: nameArb, stale: fc.boolean() }),
  },
);

interface Device {
  status: "active" | "revoked" | "quarantined";
  key: string;
  keys: string[];
  org: string;
  owner?: string;
  reports: string[];
}

type Status = "active" | "revoked" | "quarantined";

/** A transaction as the model judges it. */
interface Tx {
  kind: string;
  signers: string[];
  name: string;
  /** The device key the body names (`key`), the new key of a rotation. */
  key: string;
  newKey?: string;
  owner?: string;
}

/** What the ledger should decide and hold, per docs/identity.md. */
class Model {
  devices = new Map<string, Device>();
  keyRows = new Map<string, { status: Status; device: string; org: string }>();
  owners = new Set<string>();

  clone(): Model {
    const m = new Model();
    for (const [k, d] of this.devices) {
      m.devices.set(k, { ...d, keys: [...d.keys], reports: [...d.reports] });
    }
    for (const [k, r] of this.keyRows) m.keyRows.set(k, { ...r });
    for (const o of this.owners) m.owners.add(o);
    return m;
  }

  standing(did: string): Status | undefined {
    const row = this.keyRows.get(did);
    if (row !== undefined) return row.status;
    if (AUTHS.some((a) => a.did === did) || this.owners.has(did)) return "active";
    return undefined;
  }

  /** Admission's verdict (the problem type), or undefined when admitted. */
  admit(t: Tx): string | undefined {
    for (const s of t.signers) {
      const st = this.standing(s);
      if (st === "revoked" || st === "quarantined") return "revoked_signer";
    }
    if (t.kind === "data.anchor") return undefined;
    const introduced = t.kind === "identity.register"
      ? [t.key]
      : t.kind === "identity.rotate"
      ? [t.newKey]
      : [];
    for (const s of t.signers) {
      if (this.standing(s) !== "active" && !introduced.includes(s)) return "unauthorized_signer";
    }
    return undefined;
  }

  /** The signer gate at apply: `revoked_signer`, `unregistered_signer`, or undefined. */
  gate(t: Tx, introduced: string[]): string | undefined {
    for (const s of t.signers) {
      const st = this.standing(s);
      if (st === "revoked" || st === "quarantined") return "revoked_signer";
    }
    if (t.kind === "data.anchor") return undefined;
    for (const s of t.signers) {
      if (this.standing(s) !== "active" && !introduced.includes(s)) return "unregistered_signer";
    }
    return undefined;
  }

  current(t: Tx): Device | string {
    const d = this.devices.get(t.name);
    if (d === undefined) return "unknown_device";
    if (d.key !== t.key) return "stale_key";
    return d;
  }

  authority(signers: string[], name: string): string | undefined {
    const auths = AUTHS.map((a, i) => ({ a, i })).filter(({ a }) => signers.includes(a.did));
    if (auths.length === 0) return "not_an_authority";
    const covering = auths.some(({ i }) => AUTH_NAMESPACES[i].some((p) => name.startsWith(p)));
    return covering ? undefined : "namespace_not_authorised";
  }

  /** The apply verdict in log order; applies it when applied. */
  apply(t: Tx): string {
    switch (t.kind) {
      case "data.anchor":
        return this.gate(t, []) ?? "applied";
      case "identity.register": {
        const g = this.gate(t, [t.key]);
        if (g !== undefined) return g;
        const a = this.authority(t.signers.filter((s) => s !== t.key), t.name);
        if (a !== undefined) return a;
        if (this.devices.has(t.name)) return "device_exists";
        if (this.keyRows.has(t.key)) return "key_in_use";
        const i = AUTHS.findIndex((x) => x.did === t.signers[0]);
        this.devices.set(t.name, {
          status: "active",
          key: t.key,
          keys: [t.key],
          org: ORGS[i],
          owner: t.owner,
          reports: [],
        });
        this.keyRows.set(t.key, { status: "active", device: t.name, org: ORGS[i] });
        if (t.owner !== undefined) this.owners.add(t.owner);
        return "applied";
      }
      case "identity.rotate": {
        const d = this.current(t);
        if (typeof d === "string") return d;
        if (d.status === "revoked") return "device_revoked";
        if (d.status === "quarantined") return "device_quarantined";
        const g = this.gate(t, [t.newKey!]);
        if (g !== undefined) return g;
        if (this.keyRows.has(t.newKey!)) return "key_in_use";
        this.keyRows.set(t.key, { ...this.keyRows.get(t.key)!, status: "revoked" });
        this.keyRows.set(t.newKey!, { status: "active", device: t.name, org: d.org });
        d.key = t.newKey!;
        d.keys.push(t.newKey!);
        return "applied";
      }
      case "identity.revoke": {
        const g = this.gate(t, []);
        if (g !== undefined) return g;
        const d = this.current(t);
        if (typeof d === "string") return d;
        if (d.status === "revoked") return "device_revoked";
        const byOwner = d.owner !== undefined && t.signers.includes(d.owner);
        if (!byOwner && this.authority(t.signers, t.name) !== undefined) {
          return "not_authority_or_owner";
        }
        d.status = "revoked";
        this.keyRows.get(t.key)!.status = "revoked";
        return "applied";
      }
      case "identity.flag": {
        const g = this.gate(t, []);
        if (g !== undefined) return g;
        const d = this.current(t);
        if (typeof d === "string") return d;
        if (d.status === "revoked") return "device_revoked";
        const reporter = t.signers[0];
        const a = AUTHS.findIndex((x) => x.did === reporter);
        const org = a >= 0 ? ORGS[a] : this.keyRows.get(reporter)?.org;
        if (org === undefined) return "reporter_unknown";
        // One report per organisation counts, however many of its reporters report.
        if (!d.reports.includes(org)) d.reports.push(org);
        if (d.status === "active" && d.reports.length >= 2) {
          d.status = "quarantined";
          this.keyRows.get(d.key)!.status = "quarantined";
        }
        return "applied";
      }
      case "identity.unquarantine": {
        const g = this.gate(t, []);
        if (g !== undefined) return g;
        const d = this.current(t);
        if (typeof d === "string") return d;
        if (d.status === "revoked") return "device_revoked";
        if (d.status !== "quarantined") return "device_not_quarantined";
        const a = this.authority(t.signers, t.name);
        if (a !== undefined) return a;
        d.status = "active";
        d.reports = [];
        this.keyRows.get(d.key)!.status = "active";
        return "applied";
      }
    }
    throw new Error(`Unknown kind ${t.kind}`);
  }
}

let streamCounter = 0;

function whoKey(w: Who): KeyPair {
  if (w === "owner") return OWNER;
  if (w === "other") return OTHER;
  return "auth" in w ? AUTHS[w.auth] : KEYS[w.key];
}

/** The key of `did` among the test's keys. */
function keyOf(did: string): KeyPair {
  return KEYS.find((k) => k.did === did)!;
}

/** The envelope of `o` as its signers build it from `view` (the state they saw), or undefined when it cannot be built. */
function build(o: Op, view: Model): { env: Envelope; tx: Tx } | undefined {
  const name = NAMES[o.name];
  const d = view.devices.get(name);
  // The key the body names: the device's current key as seen, or a key for a device never seen.
  const seen = d?.key ?? KEYS[o.name].did;
  const earlier = d !== undefined && d.keys.length > 1 ? d.keys[d.keys.length - 2] : seen;
  const make = (kind: string, body: Record<string, unknown>, signers: KeyPair[], extra = {}) => ({
    env: signedTx(kind, body, signers),
    tx: { kind, signers: signers.map((k) => k.did), name, key: seen, ...extra } as Tx,
  });
  switch (o.op) {
    case "register": {
      const key = KEYS[o.key];
      const owner = o.owner ? { owner: OWNER.did } : {};
      return {
        env: signedTx("identity.register", {
          name,
          key: key.did,
          attributes: { model: "CAM", ...owner },
        }, [AUTHS[o.auth], key]),
        tx: {
          kind: "identity.register",
          signers: [AUTHS[o.auth].did, key.did],
          name,
          key: key.did,
          ...(o.owner ? { owner: OWNER.did } : {}),
        },
      };
    }
    case "rotate": {
      const signing = o.stale ? earlier : seen;
      const next = KEYS[o.newKey];
      if (signing === next.did) return undefined;
      return {
        env: signedTx(
          "identity.rotate",
          { device: name, key: signing, newKey: next.did },
          [keyOf(signing), next],
        ),
        tx: {
          kind: "identity.rotate",
          signers: [signing, next.did],
          name,
          key: signing,
          newKey: next.did,
        },
      };
    }
    case "revoke":
      return make("identity.revoke", { device: name, key: seen }, [whoKey(o.by)]);
    case "flag":
      return make("identity.flag", { device: name, key: seen, reason: "C2" }, [whoKey(o.by)]);
    case "unquarantine":
      return make("identity.unquarantine", { device: name, key: seen }, [AUTHS[o.auth]]);
    case "use": {
      const k = keyOf(o.stale ? earlier : seen);
      const env = signedTx("data.anchor", {
        stream: `s-${++streamCounter}`,
        seq: 0,
        root: hexEncode(new Uint8Array(32)),
        count: 1,
        from: 0,
        to: 1,
      }, [k]);
      return { env, tx: { kind: "data.anchor", signers: [k.did], name, key: k.did } };
    }
  }
}

/** Asserts the ledger's identity state and its read routes agree with `model`. */
async function check(l: MemLedger, model: Model): Promise<void> {
  const reads = l.reads();
  for (const [did, row] of model.keyRows) {
    const stored = l.get<KeyStatusRecord>(IDENTITY_STATUS_NS, did);
    assert.equal(stored?.status, row.status, `status of key ${did}`);
    assert.equal(stored?.device, row.device);
  }
  for (const name of NAMES) {
    const d = model.devices.get(name);
    const stored = l.get<DeviceRecord>(DEVICE_NS, name);
    const id = deviceDid("demo", name);
    const r = await reads.get(`/v1/devices/${id}`);
    const doc = await reads.get(`/v1/devices/${id}/did.json`);
    if (d === undefined) {
      assert.equal(stored, undefined);
      assert.equal(r.status, 404);
      continue;
    }
    assert.equal(stored?.status, d.status, `status of ${name}`);
    assert.equal(stored?.key, d.key, `current key of ${name}`);
    assert.deepEqual(stored?.reports.map((x) => x.org), d.reports);
    assert.equal(r.status, 200);
    assert.equal(r.body.key, d.key);
    assert.equal(r.body.status, d.status);
    // Any key the device ever had resolves to it.
    for (const k of d.keys) {
      const byKey = await reads.get(`/v1/devices/${k}`);
      assert.equal(byKey.body.name, name, `${k} resolves to ${name}`);
    }
    if (d.status === "revoked") {
      assert.equal(doc.status, 410);
      continue;
    }
    assert.equal(doc.status, 200);
    assert.deepEqual(doc.body.alsoKnownAs, [d.key]);
    assert.deepEqual(
      doc.body.verificationMethod.map((m: { publicKeyMultibase: string }) => m.publicKeyMultibase),
      [d.key.slice("did:key:".length)],
    );
    const vm = `${id}#${d.key.slice("did:key:".length)}`;
    const authorised = d.status === "active" ? [vm] : [];
    assert.deepEqual(doc.body.authentication, authorised);
    assert.deepEqual(doc.body.assertionMethod, authorised);
  }
}

Deno.test("identity props: admission and apply refuse revoked, quarantined and rotated-away keys (also for transactions admitted before the change), reports count once per organisation, and the device, its DID document and its keys resolve to the current state", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.array(fc.record({ op: opArb, delay: fc.boolean(), at: fc.nat() }), {
          minLength: 1,
          maxLength: 8,
        }),
        { maxLength: 7 },
      ),
      async (blocks) => {
        const l = new MemLedger(genesis());
        const model = new Model();
        let time = T0;
        let inFlight: Tx[] = [];
        let inFlightEnvs: Envelope[] = [];
        // Two devices from the start, so that most operations find one.
        const setup = [
          { op: { op: "register", name: 0, key: 0, auth: 0, owner: true }, delay: false, at: 0 },
          { op: { op: "register", name: 2, key: 2, auth: 1, owner: false }, delay: false, at: 1 },
        ] as const;
        for (const ops of [setup, ...blocks, []]) {
          // Every envelope is built and admitted against the state before this block.
          const txs = [...inFlight];
          const envs = [...inFlightEnvs];
          inFlight = [];
          inFlightEnvs = [];
          for (const { op, delay, at } of ops) {
            const b = build(op, model);
            if (b === undefined) continue;
            const verdict = await l.admit(b.env);
            assert.equal(verdict, model.admit(b.tx), `admission of ${JSON.stringify(b.tx)}`);
            if (verdict !== undefined) continue;
            if (delay) {
              inFlight.push(b.tx);
              inFlightEnvs.push(b.env);
            } else {
              const i = at % (txs.length + 1);
              txs.splice(i, 0, b.tx);
              envs.splice(i, 0, b.env);
            }
          }
          const out = l.block(envs, time += 1000);
          assert.deepEqual(
            outcomes(out).map((c, i) => `${txs[i].kind} ${c}`),
            txs.map((t) => `${t.kind} ${model.apply(t)}`),
          );
          await check(l, model);
        }
      },
    ),
    { numRuns: runs(60) },
  );
});
