/**
 * Unit tests of the rule that carries a device's standing over a key
 * rotation (`actingSigner`), driven by the `identity.*` contracts over an
 * in-memory state that, like the executor, allows only declared keys.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../sdk/keys.ts";
import type { Contract, StateAccess, StateKey, TxContext } from "./contract.ts";
import {
  AUTHORITY_NS,
  CONSORTIUM_KEY,
  CONSORTIUM_NS,
  IDENTITY_STATUS_NS,
  type KeyStatusRecord,
} from "./gov.ts";
import {
  DEVICE_KEYS_MAX,
  identityFlag,
  identityRegister,
  identityRevoke,
  identityRotate,
  identityUnquarantine,
} from "./identity.ts";
import { actingSigner, actingSignerKeys } from "./_holder.ts";

const authority = generateKeyPair().did;

/** A ledger of one organisation `o` whose authority covers `a/`. */
function ledger() {
  const rows = new Map<string, string>([
    [`${CONSORTIUM_NS}\u0000${CONSORTIUM_KEY}`, JSON.stringify({ orgs: ["o"] })],
    [
      `${AUTHORITY_NS}\u0000${authority}`,
      JSON.stringify({ did: authority, org: "o", name: "A", namespaces: ["a/"], since: 0 }),
    ],
  ]);
  let height = 0;
  /** `state` restricted to `keys`, as the executor restricts `apply` to `touches`. */
  const view = (keys: StateKey[]): StateAccess => {
    const declared = new Set(keys.map((k) => `${k.ns}\u0000${k.key}`));
    const at = (ns: string, key: string) => {
      const k = `${ns}\u0000${key}`;
      assert.ok(declared.has(k), `read or write of undeclared key ${ns}/${key}`);
      return k;
    };
    return {
      get<T>(ns: string, key: string) {
        const v = rows.get(at(ns, key));
        return v === undefined ? undefined : JSON.parse(v) as T;
      },
      put: (ns, key, value) => void rows.set(at(ns, key), JSON.stringify(value)),
      delete: (ns, key) => void rows.delete(at(ns, key)),
    };
  };
  return {
    apply<B>(contract: Contract<B>, body: B, signers: string[]) {
      const tx: TxContext<B> = {
        txId: `t${++height}`,
        kind: contract.kind,
        body,
        signers,
        time: height,
        height,
        rules: 1,
      };
      return contract.apply(tx, view(contract.touches(tx)));
    },
    /** Who acts for `holder` among `signers`, reading only their declared rows. */
    acting: (holder: string, signers: string[]) =>
      actingSigner(holder, signers, view(actingSignerKeys(signers))),
    row: (did: string) =>
      view([{ ns: IDENTITY_STATUS_NS, key: did }]).get<KeyStatusRecord>(IDENTITY_STATUS_NS, did),
  };
}

const key = () => generateKeyPair().did;
const attributes = { model: "EV-1" };

Deno.test("actingSigner(): after rotations the device's current key acts for each earlier key; a key acts for itself", () => {
  const l = ledger();
  const [k1, k2, k3] = [key(), key(), key()];
  l.apply(identityRegister, { name: "a/car", key: k1, attributes }, [authority, k1]);
  assert.equal(l.acting(k1, [k1]), k1);
  assert.equal(l.row(k1)?.earlierKeys, undefined);
  l.apply(identityRotate, { device: "a/car", key: k1, newKey: k2 }, [k1, k2]);
  l.apply(identityRotate, { device: "a/car", key: k2, newKey: k3 }, [k2, k3]);
  assert.deepEqual(l.row(k3)?.earlierKeys, [k1, k2]);
  assert.equal(l.acting(k1, [k3]), k3);
  assert.equal(l.acting(k2, [key(), k3]), k3);
  assert.equal(l.acting(k3, [k3]), k3);
  // A rotated-out key acts for no other key (signing for itself is the signer gate's to refuse).
  assert.equal(l.acting(k1, [k2]), undefined);
  assert.equal(l.row(k2)?.status, "revoked");
});

Deno.test("actingSigner(): a quarantined device's current key acts for no earlier key until the quarantine is lifted", () => {
  const l = ledger();
  const [k1, k2] = [key(), key()];
  l.apply(identityRegister, { name: "a/car", key: k1, attributes }, [authority, k1]);
  l.apply(identityRotate, { device: "a/car", key: k1, newKey: k2 }, [k1, k2]);
  l.apply(identityFlag, { device: "a/car", key: k2, reason: "C2 traffic" }, [authority]);
  assert.equal(l.row(k2)?.status, "quarantined");
  assert.equal(l.acting(k1, [k2]), undefined);
  l.apply(identityUnquarantine, { device: "a/car", key: k2 }, [authority]);
  assert.deepEqual(l.row(k2)?.earlierKeys, [k1]);
  assert.equal(l.acting(k1, [k2]), k2);
});

Deno.test("actingSigner(): a revoked device's holdings stay frozen: no key acts for its earlier keys", () => {
  const l = ledger();
  const [k1, k2] = [key(), key()];
  l.apply(identityRegister, { name: "a/car", key: k1, attributes }, [authority, k1]);
  l.apply(identityRotate, { device: "a/car", key: k1, newKey: k2 }, [k1, k2]);
  l.apply(identityRevoke, { device: "a/car", key: k2 }, [authority]);
  assert.equal(l.acting(k1, [k2]), undefined);
  assert.equal(l.acting(k1, [authority]), undefined);
});

Deno.test("actingSigner(): a key that was never a device key, or another device's key, acts only for itself", () => {
  const l = ledger();
  const [k1, k2, other] = [key(), key(), key()];
  l.apply(identityRegister, { name: "a/car", key: k1, attributes }, [authority, k1]);
  l.apply(identityRotate, { device: "a/car", key: k1, newKey: k2 }, [k1, k2]);
  l.apply(identityRegister, { name: "a/van", key: other, attributes }, [authority, other]);
  const stranger = key();
  assert.equal(l.acting(k1, [stranger]), undefined);
  assert.equal(l.acting(k1, [other]), undefined);
  assert.equal(l.acting(k1, [authority]), undefined);
  assert.equal(l.acting(stranger, [stranger]), stranger);
});

Deno.test("actingSigner(): the current key acts for the last DEVICE_KEYS_MAX - 1 earlier keys, as the device record lists them", () => {
  const l = ledger();
  const keys = Array.from({ length: DEVICE_KEYS_MAX + 1 }, key);
  l.apply(identityRegister, { name: "a/car", key: keys[0], attributes }, [authority, keys[0]]);
  for (let i = 1; i < DEVICE_KEYS_MAX; i++) {
    l.apply(identityRotate, { device: "a/car", key: keys[i - 1], newKey: keys[i] }, [
      keys[i - 1],
      keys[i],
    ]);
  }
  const current = keys[DEVICE_KEYS_MAX - 1];
  assert.equal(l.row(current)?.earlierKeys?.length, DEVICE_KEYS_MAX - 1);
  assert.equal(l.acting(keys[0], [current]), current);
  const last = keys[DEVICE_KEYS_MAX];
  l.apply(identityRotate, { device: "a/car", key: current, newKey: last }, [current, last]);
  assert.deepEqual(l.row(last)?.earlierKeys, keys.slice(1, DEVICE_KEYS_MAX));
  assert.equal(l.acting(keys[0], [last]), undefined);
  assert.equal(l.acting(keys[1], [last]), last);
});
