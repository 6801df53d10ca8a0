/**
 * Governance (`gov.*`) and device identity (`identity.*`) on a real site
 * through its HTTP API: genesis state, majority proposals, the open-kinds
 * rule at admission and apply, device registration, rotation, revocation,
 * quarantine by distinct organisations, and DID documents.
 *
 * The consortium: three organisations. `org-a` has two admins (so two
 * signatures of one organisation can be shown to count once), runs
 * `site-a` (the site under test) and an authority for `a/`; `org-b` has a
 * site key (`site-b`, not running) and an authority for `b/`; `org-c` has
 * one admin. Two distinct organisations quarantine a device; a report
 * counts only while its organisation is a member since before it.
 */
import assert from "node:assert/strict";
import { getGov } from "../sdk/api/contract_routes/gov.ts";
import { getDevice, getDeviceDidDocument } from "../sdk/api/contract_routes/identity.ts";
import { EdgeLedgerClient } from "../sdk/client/client.ts";
import { base64urlEncode } from "../sdk/encoding.ts";
import { createEnvelope, type Envelope, signEnvelope } from "../sdk/envelope.ts";
import { generateKeyPair, importKey, type KeyPair, softwareSigner } from "../sdk/keys.ts";
import { govProposal } from "../sdk/kinds/gov.ts";
import {
  deviceDid,
  flagDevice,
  registerDevice,
  revokeDevice,
  rotateDeviceKey,
  unquarantineDevice,
} from "../sdk/kinds/identity.ts";
import {
  type GenesisConfig,
  genesisConfigHash,
  genesisSchema,
  genesisState,
} from "../src/chain/genesis.ts";
import { initLocalLedger } from "../src/site/config.ts";
import { anchorTx, getJson, openTestSite, postJson } from "./_helpers.ts";

const LEDGER = "demo";

interface Fixture {
  siteKey: KeyPair;
  siteB: KeyPair;
  adminA1: KeyPair;
  adminA2: KeyPair;
  adminB: KeyPair;
  adminC: KeyPair;
  authA: KeyPair;
  authB: KeyPair;
  genesis: GenesisConfig;
}

function fixture(): Fixture {
  const k = () => generateKeyPair("ed25519");
  const [siteKey, siteB, adminA1, adminA2, adminB, adminC, authA, authB] = [
    k(),
    k(),
    k(),
    k(),
    k(),
    k(),
    k(),
    k(),
  ];
  const genesis: GenesisConfig = {
    v: 1,
    ledger: LEDGER,
    origin: "edgeledger.test/gov",
    time: 1_700_000_000_000,
    organisations: [
      { id: "org-a", name: "Carrier A", admins: [adminA1.did, adminA2.did] },
      { id: "org-b", name: "Carrier B", admins: [adminB.did] },
      { id: "org-c", name: "Carrier C", admins: [adminC.did] },
    ],
    sites: [
      {
        name: "site-a",
        org: "org-a",
        publicKey: base64urlEncode(siteKey.publicKey),
        url: "http://127.0.0.1:1",
      },
      {
        name: "site-b",
        org: "org-b",
        publicKey: base64urlEncode(siteB.publicKey),
        url: "http://127.0.0.1:2",
      },
    ],
    policies: {
      expiryWindowMs: 24 * 3600 * 1000,
      openKinds: ["data.anchor"],
      quarantineOrgsMin: 2,
    },
    authorities: [
      { did: authA.did, org: "org-a", name: "A devices", namespaces: ["a/"] },
      { did: authB.did, org: "org-b", name: "B devices", namespaces: ["b/"] },
    ],
  };
  return { siteKey, siteB, adminA1, adminA2, adminB, adminC, authA, authB, genesis };
}

async function open() {
  const f = fixture();
  const t = await openTestSite({ genesis: f.genesis, key: f.siteKey });
  return { ...t, f };
}

type App = Parameters<typeof postJson>[0];

/** Submits and waits for commit; returns the committed receipt. */
async function commit(app: App, env: Envelope) {
  const r = await postJson(app, "/v1/txs?wait=commit", env);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.status, "committed");
  return r.body as { result: { status: string; code?: string; [k: string]: unknown } };
}

async function applied(app: App, env: Envelope) {
  const r = await commit(app, env);
  assert.equal(r.result.status, "applied", JSON.stringify(r.result));
  return r.result;
}

async function rejectedCode(app: App, env: Envelope): Promise<string> {
  const r = await commit(app, env);
  assert.equal(r.result.status, "rejected", JSON.stringify(r.result));
  return r.result.code!;
}

/** The problem slug admission refused `env` with. */
async function refusedType(app: App, env: Envelope): Promise<string> {
  const r = await postJson(app, "/v1/txs", env);
  assert.equal(r.status, 422, JSON.stringify(r.body));
  return (r.body.type as string).split("/").pop()!;
}

async function proposal(
  kind: Parameters<typeof govProposal>[0],
  body: Record<string, unknown>,
  signers: KeyPair[],
): Promise<Envelope> {
  // deno-lint-ignore no-explicit-any
  const unsigned = govProposal(kind, body as any, signers.map((s) => s.did), { ledger: LEDGER });
  return await signEnvelope(unsigned, signers.map(softwareSigner));
}

async function register(authority: KeyPair, device: KeyPair, name: string, owner?: string) {
  return await registerDevice({
    ledger: LEDGER,
    name,
    attributes: { model: "CAM-4K", imeiHash: "ab".repeat(32), ...(owner ? { owner } : {}) },
    authority: softwareSigner(authority),
    device: softwareSigner(device),
  });
}

/** An envelope of any kind and body signed by `signers` (to build malformed ones). */
async function rawTx(kind: string, body: unknown, signers: KeyPair[]): Promise<Envelope> {
  const unsigned = createEnvelope({
    ledger: LEDGER,
    kind,
    body,
    signers: signers.map((s) => s.did),
  });
  return await signEnvelope(unsigned, signers.map(softwareSigner));
}

// ---- governance --------------------------------------------------------

Deno.test("gov: genesis state lists organisations with admins, sites, authorities and policies", async () => {
  const t = await open();
  try {
    const g = await getJson(t.app, "/v1/gov");
    assert.equal(g.status, 200);
    assert.deepEqual(g.body.organisations.map((o: { id: string }) => o.id), [
      "org-a",
      "org-b",
      "org-c",
    ]);
    const a = g.body.organisations[0];
    assert.deepEqual(a.admins, [t.f.adminA1.did, t.f.adminA2.did].sort());
    assert.deepEqual(a.sites, ["site-a"]);
    assert.deepEqual(a.authorities, [t.f.authA.did]);
    assert.deepEqual(g.body.sites.map((s: { name: string }) => s.name), ["site-a", "site-b"]);
    assert.equal(g.body.sites[0].did, t.f.siteKey.did);
    assert.equal(g.body.authorities.length, 2);
    assert.deepEqual(g.body.policy, {
      expiryWindowMs: 24 * 3600 * 1000,
      openKinds: ["data.anchor"],
      quarantineOrgsMin: 2,
    });
    assert.equal(g.body.majority, 2);
  } finally {
    await t.cleanup();
  }
});

Deno.test("gov: a proposal signed by admins of a majority of organisations applies", async () => {
  const t = await open();
  try {
    const newAuth = generateKeyPair();
    const r = await applied(
      t.app,
      await proposal("gov.addAuthority", {
        did: newAuth.did,
        org: "org-c",
        name: "C devices",
        namespaces: ["c/"],
      }, [t.f.adminA1, t.f.adminC, newAuth]),
    );
    assert.deepEqual(r.approvedBy, ["org-a", "org-c"]);
    const g = await getJson(t.app, "/v1/gov");
    assert.ok(g.body.authorities.some((a: { did: string }) => a.did === newAuth.did));
    assert.deepEqual(g.body.organisations[2].authorities, [newAuth.did]);
    // The new authority can register under its namespace at once.
    await applied(t.app, await register(newAuth, generateKeyPair(), "c/cam-1"));
  } finally {
    await t.cleanup();
  }
});

Deno.test("gov: a proposal approved by half or fewer of the organisations is rejected no_majority (two admins of one organisation count once)", async () => {
  const t = await open();
  try {
    const code = await rejectedCode(
      t.app,
      await proposal("gov.setPolicy", { quarantineOrgsMin: 3 }, [t.f.adminA1, t.f.adminA2]),
    );
    assert.equal(code, "no_majority");
    const g = await getJson(t.app, "/v1/gov");
    assert.equal(g.body.policy.quarantineOrgsMin, 2, "nothing of a rejected proposal is kept");
  } finally {
    await t.cleanup();
  }
});

Deno.test("gov: a key a change adds must co-sign it (admission refuses unauthorized_signer)", async () => {
  const t = await open();
  try {
    const newAdmin = generateKeyPair();
    const env = await proposal("gov.addAdmin", { org: "org-b", did: newAdmin.did }, [
      t.f.adminA1,
      t.f.adminB,
    ]);
    assert.equal(await refusedType(t.app, env), "unauthorized_signer");
    const ok = await proposal("gov.addAdmin", { org: "org-b", did: newAdmin.did }, [
      t.f.adminA1,
      t.f.adminB,
      newAdmin,
    ]);
    await applied(t.app, ok);
    // The new admin now counts for org-b.
    const r = await applied(
      t.app,
      await proposal("gov.setPolicy", { quarantineOrgsMin: 3 }, [t.f.adminA1, newAdmin]),
    );
    assert.deepEqual(r.approvedBy, ["org-a", "org-b"]);
  } finally {
    await t.cleanup();
  }
});

Deno.test("gov: a change signed only by the key it adds is refused at admission", async () => {
  const t = await open();
  try {
    const newAdmin = generateKeyPair();
    const env = await proposal("gov.addAdmin", { org: "org-b", did: newAdmin.did }, [newAdmin]);
    assert.equal(await refusedType(t.app, env), "unauthorized_signer");
  } finally {
    await t.cleanup();
  }
});

Deno.test("gov: removeOrg is rejected org_not_empty while the organisation has admins, sites or authorities", async () => {
  const t = await open();
  try {
    const env = await proposal("gov.removeOrg", { id: "org-c" }, [t.f.adminA1, t.f.adminB]);
    assert.equal(await rejectedCode(t.app, env), "org_not_empty");
    await applied(
      t.app,
      await proposal("gov.removeAdmin", { org: "org-c", did: t.f.adminC.did }, [
        t.f.adminA1,
        t.f.adminB,
      ]),
    );
    await applied(
      t.app,
      await proposal("gov.removeOrg", { id: "org-c" }, [t.f.adminA1, t.f.adminB]),
    );
    const g = await getJson(t.app, "/v1/gov");
    assert.deepEqual(g.body.organisations.map((o: { id: string }) => o.id), ["org-a", "org-b"]);
    assert.equal(g.body.majority, 2);
  } finally {
    await t.cleanup();
  }
});

Deno.test("gov: removeAdmin refuses an organisation's last admin while it has sites or authorities (last_admin)", async () => {
  const t = await open();
  try {
    const [a, c] = [t.f.adminA1, t.f.adminC];
    // org-b has site-b and an authority: without an admin it could never be emptied.
    const last = await proposal("gov.removeAdmin", { org: "org-b", did: t.f.adminB.did }, [a, c]);
    assert.equal(await rejectedCode(t.app, last), "last_admin");
    const g = await getJson(t.app, "/v1/gov");
    assert.deepEqual(g.body.organisations[1].admins, [t.f.adminB.did]);
    // Emptied first, its last admin goes.
    const siteB = base64urlEncode(t.f.siteB.publicKey);
    await applied(
      t.app,
      await proposal("gov.removeSite", { name: "site-b", org: "org-b", publicKey: siteB }, [a, c]),
    );
    await applied(
      t.app,
      await proposal("gov.removeAuthority", { did: t.f.authB.did, org: "org-b" }, [a, c]),
    );
    await applied(
      t.app,
      await proposal("gov.removeAdmin", { org: "org-b", did: t.f.adminB.did }, [a, c]),
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("gov: an organisation with no admins left is removed by a majority of the others, so two organisations never deadlock", async () => {
  const k = () => generateKeyPair("ed25519");
  const [siteKey, adminA, adminB] = [k(), k(), k()];
  const genesis: GenesisConfig = {
    v: 1,
    ledger: LEDGER,
    origin: "edgeledger.test/gov-two",
    time: 1_700_000_000_000,
    organisations: [
      { id: "org-a", name: "Carrier A", admins: [adminA.did] },
      { id: "org-b", name: "Carrier B", admins: [adminB.did] },
    ],
    sites: [{
      name: "site-a",
      org: "org-a",
      publicKey: base64urlEncode(siteKey.publicKey),
      url: "http://127.0.0.1:1",
    }],
    policies: { expiryWindowMs: 24 * 3600 * 1000, openKinds: [] },
  };
  const t = await openTestSite({ genesis, key: siteKey });
  try {
    // While org-b has an admin, its removal needs it like any change.
    const early = await proposal("gov.removeOrg", { id: "org-b" }, [adminA]);
    assert.equal(await rejectedCode(t.app, early), "no_majority");
    await applied(
      t.app,
      await proposal("gov.removeAdmin", { org: "org-b", did: adminB.did }, [adminA, adminB]),
    );
    // org-b can sign nothing now; org-a alone is a majority of the others.
    const removed = await applied(
      t.app,
      await proposal("gov.removeOrg", { id: "org-b" }, [adminA]),
    );
    assert.deepEqual(removed.approvedBy, ["org-a"]);
    const g = await getJson(t.app, "/v1/gov");
    assert.deepEqual(g.body.organisations.map((o: { id: string }) => o.id), ["org-a"]);
    assert.equal(g.body.majority, 1);
    // Governance goes on.
    await applied(t.app, await proposal("gov.setPolicy", { quarantineOrgsMin: 1 }, [adminA]));
  } finally {
    await t.cleanup();
  }
});

Deno.test("gov: an unregistered did:key is refused a kind that is not open (unauthorized_signer)", async () => {
  const t = await open();
  try {
    const stranger = generateKeyPair();
    const env = await proposal("gov.setPolicy", { quarantineOrgsMin: 1 }, [stranger]);
    assert.equal(await refusedType(t.app, env), "unauthorized_signer");
  } finally {
    await t.cleanup();
  }
});

Deno.test("gov: setPolicy openKinds takes effect at admission on the next transaction", async () => {
  const t = await open();
  try {
    const stranger = generateKeyPair();
    await applied(t.app, await anchorTx(stranger));
    await applied(
      t.app,
      await proposal("gov.setPolicy", { openKinds: [] }, [t.f.adminA1, t.f.adminB]),
    );
    assert.equal(await refusedType(t.app, await anchorTx(stranger)), "unauthorized_signer");
    // A registered device may still anchor.
    const cam = generateKeyPair();
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1"));
    await applied(t.app, await anchorTx(cam));
  } finally {
    await t.cleanup();
  }
});

// ---- identity ----------------------------------------------------------

Deno.test("identity: register signed by a covering authority and the device key applies; the device resolves by DID and by key", async () => {
  const t = await open();
  try {
    const cam = generateKeyPair("p256");
    const r = await applied(t.app, await register(t.f.authA, cam, "a/cameras/cam-17"));
    assert.equal(r.device, "a/cameras/cam-17");
    assert.equal(r.org, "org-a");
    const did = deviceDid(LEDGER, "a/cameras/cam-17");
    assert.equal(did, "did:edgeledger:demo:a:cameras:cam-17");
    const byDid = await getJson(t.app, `/v1/devices/${did}`);
    assert.equal(byDid.status, 200);
    assert.equal(byDid.body.did, did);
    assert.equal(byDid.body.status, "active");
    assert.equal(byDid.body.key, cam.did);
    assert.equal(byDid.body.authority, t.f.authA.did);
    assert.equal(byDid.body.namespace, "a/");
    assert.equal(byDid.body.attributes.model, "CAM-4K");
    assert.deepEqual(byDid.body.events.map((e: { event: string }) => e.event), ["registered"]);
    const byKey = await getJson(t.app, `/v1/devices/${cam.did}`);
    assert.deepEqual(byKey.body, byDid.body);
    const list = await getJson(t.app, "/v1/devices?prefix=a/cameras/");
    assert.deepEqual(list.body.devices.map((d: { name: string }) => d.name), ["a/cameras/cam-17"]);
    assert.equal((await getJson(t.app, `/v1/devices/${generateKeyPair().did}`)).status, 404);
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: register without the device key's signature or without an authority is refused at admission", async () => {
  const t = await open();
  try {
    const cam = generateKeyPair();
    const body = { name: "a/cam-1", key: cam.did, attributes: { model: "X" } };
    assert.equal(
      await refusedType(t.app, await rawTx("identity.register", body, [t.f.authA])),
      "unauthorized_signer",
    );
    assert.equal(
      await refusedType(t.app, await rawTx("identity.register", body, [cam])),
      "unauthorized_signer",
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: register under another authority's namespace is rejected namespace_not_authorised", async () => {
  const t = await open();
  try {
    assert.equal(
      await rejectedCode(t.app, await register(t.f.authB, generateKeyPair(), "a/cam-1")),
      "namespace_not_authorised",
    );
    // "a/" does not cover "ab/…".
    assert.equal(
      await rejectedCode(t.app, await register(t.f.authA, generateKeyPair(), "ab/cam-1")),
      "namespace_not_authorised",
    );
    // A registered key that is not an authority (an admin) cannot register devices.
    assert.equal(
      await rejectedCode(t.app, await register(t.f.adminA1, generateKeyPair(), "a/cam-1")),
      "not_an_authority",
    );
    assert.equal((await getJson(t.app, `/v1/devices/${deviceDid(LEDGER, "a/cam-1")}`)).status, 404);
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: a device name or key registered twice is rejected device_exists / key_in_use", async () => {
  const t = await open();
  try {
    const cam = generateKeyPair();
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1"));
    assert.equal(
      await rejectedCode(t.app, await register(t.f.authA, generateKeyPair(), "a/cam-1")),
      "device_exists",
    );
    assert.equal(
      await rejectedCode(t.app, await register(t.f.authA, cam, "a/cam-2")),
      "key_in_use",
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: rotate signed by the old and new keys applies; the old key is then refused at admission", async () => {
  const t = await open();
  try {
    const k1 = generateKeyPair();
    const k2 = generateKeyPair("p256");
    await applied(t.app, await register(t.f.authA, k1, "a/car-1"));
    const r = await applied(
      t.app,
      await rotateDeviceKey({
        ledger: LEDGER,
        device: "a/car-1",
        current: softwareSigner(k1),
        next: softwareSigner(k2),
      }),
    );
    assert.equal(r.key, k2.did);
    const d = await getJson(t.app, `/v1/devices/${k1.did}`);
    assert.equal(d.body.key, k2.did);
    assert.equal(d.body.keys.length, 2);
    assert.equal(d.body.keys[0].until, d.body.keys[1].from);
    assert.equal(await refusedType(t.app, await anchorTx(k1)), "revoked_signer");
    await applied(t.app, await anchorTx(k2));
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: rotate without the old key's signature is refused; with a stale key it is rejected stale_key", async () => {
  const t = await open();
  try {
    const k1 = generateKeyPair();
    const k2 = generateKeyPair();
    await applied(t.app, await register(t.f.authA, k1, "a/car-1"));
    const body = { device: "a/car-1", key: k1.did, newKey: k2.did };
    assert.equal(
      await refusedType(t.app, await rawTx("identity.rotate", body, [k2])),
      "unauthorized_signer",
    );
    // The authority cannot stand in for the device's key either.
    assert.equal(
      await refusedType(t.app, await rawTx("identity.rotate", body, [t.f.authA, k2])),
      "unauthorized_signer",
    );
    // A second device's key naming car-1 is not car-1's current key.
    const other = generateKeyPair();
    await applied(t.app, await register(t.f.authA, other, "a/car-2"));
    const k3 = generateKeyPair();
    assert.equal(
      await rejectedCode(
        t.app,
        await rawTx("identity.rotate", { device: "a/car-1", key: other.did, newKey: k3.did }, [
          other,
          k3,
        ]),
      ),
      "stale_key",
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: revoke by the authority applies and the device is refused at admission with revoked_signer", async () => {
  const t = await open();
  try {
    const cam = generateKeyPair();
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1"));
    await applied(t.app, await anchorTx(cam));
    await applied(
      t.app,
      await revokeDevice({
        ledger: LEDGER,
        device: "a/cam-1",
        key: cam.did,
        by: softwareSigner(t.f.authA),
        reason: "decommissioned",
      }),
    );
    assert.equal(await refusedType(t.app, await anchorTx(cam)), "revoked_signer");
    const d = await getJson(t.app, `/v1/devices/${cam.did}`);
    assert.equal(d.body.status, "revoked");
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: revoke by the owner applies; by anyone else it is rejected not_authority_or_owner", async () => {
  const t = await open();
  try {
    const owner = generateKeyPair();
    const cam = generateKeyPair();
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1", owner.did));
    const revokeBy = async (k: KeyPair) =>
      await revokeDevice({
        ledger: LEDGER,
        device: "a/cam-1",
        key: cam.did,
        by: softwareSigner(k),
      });
    // Another organisation's authority does not cover a/…
    assert.equal(await rejectedCode(t.app, await revokeBy(t.f.authB)), "not_authority_or_owner");
    // An unregistered key is refused before it reaches the log.
    assert.equal(
      await refusedType(t.app, await revokeBy(generateKeyPair())),
      "unauthorized_signer",
    );
    const r = await applied(t.app, await revokeBy(owner));
    assert.equal(r.by, "owner");
    assert.equal(await rejectedCode(t.app, await revokeBy(owner)), "device_revoked");
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: an owner that is itself a device revokes the devices its old key owns with its new key after a rotation", async () => {
  const t = await open();
  try {
    const [g1, g2, cam, van] = [
      generateKeyPair(),
      generateKeyPair(),
      generateKeyPair(),
      generateKeyPair(),
    ];
    await applied(t.app, await register(t.f.authA, g1, "a/gateway-1"));
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1", g1.did));
    await applied(t.app, await register(t.f.authA, van, "a/van-1"));
    await applied(
      t.app,
      await rotateDeviceKey({
        ledger: LEDGER,
        device: "a/gateway-1",
        current: softwareSigner(g1),
        next: softwareSigner(g2),
      }),
    );
    const revokeBy = async (k: KeyPair) =>
      await revokeDevice({
        ledger: LEDGER,
        device: "a/cam-1",
        key: cam.did,
        by: softwareSigner(k),
      });
    assert.equal(await refusedType(t.app, await revokeBy(g1)), "revoked_signer");
    // Another device's key gains nothing from the gateway's rotation.
    assert.equal(await rejectedCode(t.app, await revokeBy(van)), "not_authority_or_owner");
    const r = await applied(t.app, await revokeBy(g2));
    assert.equal(r.by, "owner");
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: apply re-checks order: a rotation admitted before a revocation that commits first is rejected", async () => {
  const t = await open();
  try {
    const cam = generateKeyPair();
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1"));
    const revoke = await revokeDevice({
      ledger: LEDGER,
      device: "a/cam-1",
      key: cam.did,
      by: softwareSigner(t.f.authA),
    });
    const rotate = await rotateDeviceKey({
      ledger: LEDGER,
      device: "a/cam-1",
      current: softwareSigner(cam),
      next: softwareSigner(generateKeyPair()),
    });
    const r = await postJson(t.app, "/v1/txs?wait=commit", { txs: [revoke, rotate] });
    assert.equal(r.status, 200);
    const [a, b] = r.body.receipts;
    assert.equal(a.result.status, "applied");
    assert.equal(b.result.status, "rejected");
    assert.equal(b.result.code, "device_revoked");
  } finally {
    await t.cleanup();
  }
});

async function flag(app: App, reporter: KeyPair, device: string, key: string) {
  return await applied(
    app,
    await flagDevice({
      ledger: LEDGER,
      device,
      key,
      reporter: softwareSigner(reporter),
      reason: "traffic to a known C2 server",
    }),
  );
}

Deno.test("identity: quarantine needs reports from distinct organisations, not several reports from one", async () => {
  const t = await open();
  try {
    const cam = generateKeyPair();
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1"));
    // Three reports from org-a: its site, an admin, and a gateway device.
    const gateway = generateKeyPair();
    await applied(t.app, await register(t.f.authA, gateway, "a/gw-1"));
    let r = await flag(t.app, t.f.siteKey, "a/cam-1", cam.did);
    assert.equal(r.counted, true);
    r = await flag(t.app, t.f.adminA1, "a/cam-1", cam.did);
    assert.equal(r.counted, false);
    r = await flag(t.app, gateway, "a/cam-1", cam.did);
    assert.equal(r.distinctOrgs, 1);
    assert.equal(r.deviceStatus, "active");
    await applied(t.app, await anchorTx(cam));
    // One report from org-b (its site key) makes two organisations.
    r = await flag(t.app, t.f.siteB, "a/cam-1", cam.did);
    assert.equal(r.distinctOrgs, 2);
    assert.equal(r.deviceStatus, "quarantined");
    const refused = await postJson(t.app, "/v1/txs", await anchorTx(cam));
    assert.equal(refused.body.type.split("/").pop(), "revoked_signer");
    assert.match(refused.body.detail, /quarantined/);
    const d = await getJson(t.app, `/v1/devices/${cam.did}`);
    assert.equal(d.body.status, "quarantined");
    assert.deepEqual(d.body.reports.map((x: { org: string }) => x.org), ["org-a", "org-b"]);
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: a report from a key that speaks for no organisation is rejected; a report has one reporter", async () => {
  const t = await open();
  try {
    const owner = generateKeyPair();
    const cam = generateKeyPair();
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1", owner.did));
    const env = await flagDevice({
      ledger: LEDGER,
      device: "a/cam-1",
      key: cam.did,
      reporter: softwareSigner(owner),
      reason: "odd",
    });
    assert.equal(await rejectedCode(t.app, env), "reporter_unknown");
    const two = await rawTx(
      "identity.flag",
      { device: "a/cam-1", key: cam.did, reason: "odd" },
      [t.f.siteKey, t.f.siteB],
    );
    assert.equal(await refusedType(t.app, two), "unauthorized_signer");
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: un-quarantine by the device's authority restores the key; others are rejected", async () => {
  const t = await open();
  try {
    const cam = generateKeyPair();
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1"));
    const lift = async (k: KeyPair) =>
      await unquarantineDevice({
        ledger: LEDGER,
        device: "a/cam-1",
        key: cam.did,
        authority: softwareSigner(k),
      });
    assert.equal(await rejectedCode(t.app, await lift(t.f.authA)), "device_not_quarantined");
    await flag(t.app, t.f.siteKey, "a/cam-1", cam.did);
    await flag(t.app, t.f.adminC, "a/cam-1", cam.did);
    assert.equal(await refusedType(t.app, await anchorTx(cam)), "revoked_signer");
    assert.equal(await rejectedCode(t.app, await lift(t.f.authB)), "namespace_not_authorised");
    assert.equal(await rejectedCode(t.app, await lift(t.f.adminA1)), "not_an_authority");
    const r = await applied(t.app, await lift(t.f.authA));
    assert.equal(r.clearedReports, 2);
    await applied(t.app, await anchorTx(cam));
    const d = await getJson(t.app, `/v1/devices/${cam.did}`);
    assert.equal(d.body.status, "active");
    assert.deepEqual(d.body.reports, []);
    assert.deepEqual(
      d.body.events.map((e: { event: string }) => e.event),
      ["registered", "flagged", "flagged", "quarantined", "unquarantined"],
    );
  } finally {
    await t.cleanup();
  }
});

/** Removes `org-c` the way governance must: its last admin first, then the organisation. */
async function removeOrgC(t: Awaited<ReturnType<typeof open>>) {
  const [a, b] = [t.f.adminA1, t.f.adminB];
  await applied(
    t.app,
    await proposal("gov.removeAdmin", { org: "org-c", did: t.f.adminC.did }, [a, b]),
  );
  await applied(t.app, await proposal("gov.removeOrg", { id: "org-c" }, [a, b]));
}

Deno.test("identity: a report from an organisation governance has since removed no longer counts toward quarantine", async () => {
  const t = await open();
  try {
    const cam = generateKeyPair();
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1"));
    let r = await flag(t.app, t.f.adminC, "a/cam-1", cam.did);
    assert.equal(r.distinctOrgs, 1);
    await removeOrgC(t);
    // org-a's report would make two organisations with org-c's; org-c is gone.
    r = await flag(t.app, t.f.siteKey, "a/cam-1", cam.did);
    assert.equal(r.counted, true);
    assert.equal(r.droppedReports, 1);
    assert.equal(r.distinctOrgs, 1);
    assert.equal(r.threshold, 2);
    assert.equal(r.deviceStatus, "active");
    await applied(t.app, await anchorTx(cam));
    const d = await getJson(t.app, `/v1/devices/${cam.did}`);
    assert.deepEqual(d.body.reports.map((x: { org: string }) => x.org), ["org-a"]);
    // A current organisation's report makes two.
    r = await flag(t.app, t.f.siteB, "a/cam-1", cam.did);
    assert.equal(r.distinctOrgs, 2);
    assert.equal(r.deviceStatus, "quarantined");
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: an organisation removed and added again counts only the reports of its new membership", async () => {
  const t = await open();
  try {
    const cam = generateKeyPair();
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1"));
    await flag(t.app, t.f.adminC, "a/cam-1", cam.did);
    await removeOrgC(t);
    await applied(
      t.app,
      await proposal(
        "gov.addOrg",
        { id: "org-c", name: "Carrier C again", admins: [t.f.adminC.did] },
        [t.f.adminA1, t.f.adminB, t.f.adminC],
      ),
    );
    // org-c is a member again, but its report predates this membership.
    let r = await flag(t.app, t.f.siteKey, "a/cam-1", cam.did);
    assert.equal(r.droppedReports, 1);
    assert.equal(r.distinctOrgs, 1);
    assert.equal(r.threshold, 2);
    assert.equal(r.deviceStatus, "active");
    // A report it makes now counts.
    r = await flag(t.app, t.f.adminC, "a/cam-1", cam.did);
    assert.equal(r.counted, true);
    assert.equal(r.distinctOrgs, 2);
    assert.equal(r.deviceStatus, "quarantined");
    const d = await getJson(t.app, `/v1/devices/${cam.did}`);
    assert.deepEqual(d.body.reports.map((x: { org: string }) => x.org), ["org-a", "org-c"]);
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: removing an organisation does not lift a quarantine its report helped reach; the authority does", async () => {
  const t = await open();
  try {
    const cam = generateKeyPair();
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1"));
    await flag(t.app, t.f.siteKey, "a/cam-1", cam.did);
    const r = await flag(t.app, t.f.adminC, "a/cam-1", cam.did);
    assert.equal(r.deviceStatus, "quarantined");
    await removeOrgC(t);
    assert.equal((await getJson(t.app, `/v1/devices/${cam.did}`)).body.status, "quarantined");
    assert.equal(await refusedType(t.app, await anchorTx(cam)), "revoked_signer");
    const lifted = await applied(
      t.app,
      await unquarantineDevice({
        ledger: LEDGER,
        device: "a/cam-1",
        key: cam.did,
        authority: softwareSigner(t.f.authA),
      }),
    );
    assert.equal(lifted.clearedReports, 2);
    await applied(t.app, await anchorTx(cam));
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: the DID document is W3C DID Core with the current key as Multikey, served as application/did+json", async () => {
  const t = await open();
  try {
    const cam = generateKeyPair();
    await applied(t.app, await register(t.f.authA, cam, "a/cam-1"));
    const did = deviceDid(LEDGER, "a/cam-1");
    const res = await t.app.request(`/v1/devices/${did}/did.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^application\/did\+json/);
    const doc = await res.json();
    const multibase = cam.did.slice("did:key:".length);
    assert.deepEqual(doc, {
      "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
      id: did,
      alsoKnownAs: [cam.did],
      verificationMethod: [{
        id: `${did}#${multibase}`,
        type: "Multikey",
        controller: did,
        publicKeyMultibase: multibase,
      }],
      authentication: [`${did}#${multibase}`],
      assertionMethod: [`${did}#${multibase}`],
    });
    // Quarantined: the key is listed but authorises nothing.
    await flag(t.app, t.f.siteKey, "a/cam-1", cam.did);
    await flag(t.app, t.f.siteB, "a/cam-1", cam.did);
    const q = await getJson(t.app, `/v1/devices/${did}/did.json`);
    assert.deepEqual(q.body.authentication, []);
    assert.deepEqual(q.body.assertionMethod, []);
    // Revoked: deactivated, 410.
    await applied(
      t.app,
      await revokeDevice({
        ledger: LEDGER,
        device: "a/cam-1",
        key: cam.did,
        by: softwareSigner(t.f.authA),
      }),
    );
    const gone = await getJson(t.app, `/v1/devices/${did}/did.json`);
    assert.equal(gone.status, 410);
    assert.equal(gone.body.type.split("/").pop(), "device_revoked");
    assert.equal(
      (await getJson(t.app, "/v1/devices/did:edgeledger:other:a:cam-1/did.json")).status,
      404,
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("identity: the SDK client reads a device, its DID document and the governance state through the shared routes", async () => {
  const t = await open();
  try {
    const client = new EdgeLedgerClient({
      urls: "http://site-a.test",
      fetch: (input, init) => Promise.resolve(t.app.request(String(input), init)),
      retry: { attemptsMax: 1 },
    });
    const cam = generateKeyPair();
    const receipt = await client.submit(await register(t.f.authA, cam, "a/cam-1"), {
      wait: "commit",
    });
    assert.equal(receipt.result?.status, "applied");
    const did = deviceDid(LEDGER, "a/cam-1");
    const device = await client.request(getDevice, { params: { did: cam.did }, query: {} });
    assert.equal(device.body.did, did);
    assert.equal(device.body.status, "active");
    const doc = await client.request(getDeviceDidDocument, { params: { did }, query: {} });
    assert.equal(doc.body.id, did);
    assert.match(doc.headers.get("content-type") ?? "", /^application\/json/);
    const gov = await client.request(getGov, { query: {} });
    assert.equal(gov.body.organisations.length, 3);
  } finally {
    await t.cleanup();
  }
});

Deno.test("gov: a genesis without the governance fields parses unchanged, so its hash and chain stay the same", () => {
  const siteKey = generateKeyPair();
  const old = {
    v: 1,
    ledger: "demo",
    origin: "edgeledger.test/demo",
    time: 1_700_000_000_000,
    organisations: [{ id: "org-a", name: "Org A" }],
    sites: [{
      name: "site-a",
      org: "org-a",
      publicKey: base64urlEncode(siteKey.publicKey),
      url: "http://127.0.0.1:1",
    }],
    policies: { expiryWindowMs: 86_400_000, openKinds: ["data.anchor"] },
  };
  const parsed = genesisSchema.parse(structuredClone(old));
  assert.deepEqual(parsed, old);
  assert.equal(genesisConfigHash(parsed), genesisConfigHash(old as GenesisConfig));
  // Its first state still has a policy (quarantineOrgsMin defaults to 2) and the site's key.
  const state = genesisState(parsed);
  assert.deepEqual(state.find((w) => w.ns === "gov.policy")?.value, {
    expiryWindowMs: 86_400_000,
    openKinds: ["data.anchor"],
    quarantineOrgsMin: 2,
  });
  assert.ok(state.some((w) => w.ns === "gov.siteKey" && w.key === siteKey.did));
});

Deno.test("gov: genesis refuses an admin of two organisations and an authority of an unknown organisation", () => {
  const f = fixture();
  const twice = structuredClone(f.genesis);
  twice.organisations[1].admins = [f.adminA1.did];
  assert.equal(genesisSchema.safeParse(twice).success, false);
  const orphan = structuredClone(f.genesis);
  orphan.authorities![0].org = "org-z";
  assert.equal(genesisSchema.safeParse(orphan).success, false);
});

Deno.test("gov: genesis refuses a site key of small order (it verifies no signature), naming the field", () => {
  const f = fixture();
  const dead = structuredClone(f.genesis);
  dead.sites[0].publicKey = base64urlEncode(new Uint8Array(32));
  const result = genesisSchema.safeParse(dead);
  assert.equal(result.success, false);
  assert.deepEqual(
    result.error?.issues.map((i) => [i.path.join("."), i.message]),
    [[
      "sites.0.publicKey",
      "must be an Ed25519 key that can sign: canonically encoded, not of small order",
    ]],
  );
});

Deno.test("gov: the local ledger has an admin of its organisation and a demo/ authority, keys written 0600", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-local-" });
  try {
    await initLocalLedger({ dataDir: dir, sites: 1, basePort: 17001, host: "127.0.0.1" });
    const genesis = genesisSchema.parse(JSON.parse(await Deno.readTextFile(`${dir}/genesis.json`)));
    const admin = importKey(JSON.parse(await Deno.readTextFile(`${dir}/admin-key.json`)));
    const authority = importKey(JSON.parse(await Deno.readTextFile(`${dir}/authority-key.json`)));
    assert.deepEqual(genesis.organisations[0].admins, [admin.did]);
    assert.deepEqual(genesis.authorities, [{
      did: authority.did,
      org: "local",
      name: "Local demo authority",
      namespaces: ["demo/"],
    }]);
    if (Deno.build.os !== "windows") {
      for (const f of ["admin-key.json", "authority-key.json"]) {
        assert.equal((await Deno.stat(`${dir}/${f}`)).mode! & 0o777, 0o600, f);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gov: genesis refuses two sites of one name or one key (a key under two names would count twice towards a checkpoint's quorum)", () => {
  const f = fixture();
  const second = (over: Record<string, string>) => {
    const g = structuredClone(f.genesis);
    g.sites.push({ ...g.sites[0], name: "site-z", url: "http://127.0.0.1:7999", ...over });
    return g;
  };
  const ok = second({ publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey) });
  assert.equal(genesisSchema.safeParse(ok).success, true);
  const sameKey = genesisSchema.safeParse(second({}));
  assert.equal(sameKey.success, false);
  assert.match(JSON.stringify(sameKey.error?.issues), /the key of another site/);
  const sameName = genesisSchema.safeParse(
    second({
      name: f.genesis.sites[0].name,
      publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
    }),
  );
  assert.equal(sameName.success, false);
  assert.match(JSON.stringify(sameName.error?.issues), /duplicate site name/);
});
