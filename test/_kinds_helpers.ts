/**
 * Fixtures for the built-in kinds' tests: a site whose genesis opens every
 * kind under test to any did:key, and signing and submitting a transaction
 * of any kind in one call.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createEnvelope, type Envelope, signEnvelope } from "../sdk/envelope.ts";
import { generateKeyPair, type KeyPair, softwareSigner } from "../sdk/keys.ts";
import {
  flagDevice,
  registerDevice,
  revokeDevice,
  rotateDeviceKey,
  unquarantineDevice,
} from "../sdk/kinds/identity.ts";
import { openTestSite, postJson, testGenesis } from "./_helpers.ts";

/** Every kind these tests submit, open to unregistered signers in their genesis. */
export const OPEN_KINDS = [
  "data.anchor",
  "asset.create",
  "asset.mint",
  "asset.transfer",
  "custody.create",
  "custody.handoff",
  "custody.attach",
  "access.grant",
  "access.revoke",
  "roaming.open",
  "roaming.record",
  "roaming.dispute",
  "roaming.accept",
  "roaming.close",
  "roaming.sign",
];

/** A test site whose genesis opens {@link OPEN_KINDS}. */
export async function openKindsSite() {
  const key = generateKeyPair("ed25519");
  return await openTestSite({ key, genesis: testGenesis(key, "demo", OPEN_KINDS) });
}

type App = Parameters<typeof postJson>[0];

/** A signed envelope of `kind` by `signers` (in that order). */
export async function tx(
  kind: string,
  body: unknown,
  signers: KeyPair[],
): Promise<Envelope> {
  const unsigned = createEnvelope({
    ledger: "demo",
    kind,
    body,
    signers: signers.map((k) => k.did),
  });
  return await signEnvelope(unsigned, signers.map(softwareSigner));
}

/** Submits with `wait=commit` and returns the committed receipt's result; fails on refusal. */
export async function commit(app: App, env: Envelope): Promise<Record<string, unknown>> {
  const r = await postJson(app, "/v1/txs?wait=commit", env);
  assert.equal(r.status, 200, `expected a commit, got ${r.status}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body.status, "committed");
  return { ...r.body.result, txId: r.body.txId };
}

/** Commits `env` and asserts it applied; returns its result (with `txId`). */
export async function applied(app: App, env: Envelope): Promise<Record<string, unknown>> {
  const result = await commit(app, env);
  assert.equal(result.status, "applied", `expected applied, got ${JSON.stringify(result)}`);
  return result;
}

/** Commits `env` and asserts it was recorded as rejected with `code`. */
export async function rejected(app: App, env: Envelope, code: string): Promise<void> {
  const result = await commit(app, env);
  assert.equal(
    result.status,
    "rejected",
    `expected rejected ${code}, got ${JSON.stringify(result)}`,
  );
  assert.equal(result.code, code);
}

/** Submits `env` and asserts admission refused it with problem slug `type`. */
export async function refused(app: App, env: unknown, type: string): Promise<void> {
  const r = await postJson(app, "/v1/txs", env);
  assert.ok(r.status >= 400 && r.status < 500, `expected a refusal, got ${r.status}`);
  assert.equal((r.body.type as string).split("/").pop(), type, JSON.stringify(r.body));
}

/**
 * A test site like {@link openKindsSite} with an authority for the device
 * namespace `a/` (organisation `org-a`, the only one, so one hijack report
 * by the authority quarantines a device), and the identity steps of a
 * device's life as one call each, for the key-rotation tests.
 */
export async function devicesSite() {
  const key = generateKeyPair("ed25519");
  const authority = generateKeyPair("ed25519");
  const genesis = {
    ...testGenesis(key, "demo", OPEN_KINDS),
    authorities: [{ did: authority.did, org: "org-a", name: "Devices", namespaces: ["a/"] }],
  };
  const t = await openTestSite({ key, genesis });
  const ledger = "demo";
  const by = softwareSigner(authority);
  return {
    ...t,
    authority,
    /** Registers `device` as `name` (signed by the authority and the device). */
    register: async (name: string, device: KeyPair) =>
      await applied(
        t.app,
        await registerDevice({
          ledger,
          name,
          attributes: { model: "EV-1" },
          authority: by,
          device: softwareSigner(device),
        }),
      ),
    /** Rotates `name` from `current` to `next` (signed by both keys). */
    rotate: async (name: string, current: KeyPair, next: KeyPair) =>
      await applied(
        t.app,
        await rotateDeviceKey({
          ledger,
          device: name,
          current: softwareSigner(current),
          next: softwareSigner(next),
        }),
      ),
    /** Revokes `name`, whose current key is `key`, by its authority. */
    revoke: async (name: string, key: KeyPair) =>
      await applied(
        t.app,
        await revokeDevice({ ledger, device: name, key: key.did, by, reason: "stolen" }),
      ),
    /** Quarantines `name`, whose current key is `key`: one report of the only organisation. */
    quarantine: async (name: string, key: KeyPair) => {
      const r = await applied(
        t.app,
        await flagDevice({
          ledger,
          device: name,
          key: key.did,
          reporter: by,
          reason: "C2 traffic",
        }),
      );
      assert.equal(r.deviceStatus, "quarantined");
    },
    /** Lifts the quarantine of `name`, whose current key is `key`. */
    unquarantine: async (name: string, key: KeyPair) =>
      await applied(
        t.app,
        await unquarantineDevice({ ledger, device: name, key: key.did, authority: by }),
      ),
  };
}
