/**
 * `access.*` end to end on a real site: a patient grants a clinic access to
 * a stream for a period and purpose and revokes it; auditors list who had
 * access when; each refusal with its stable code.
 */
import assert from "node:assert/strict";
import { generateKeyPair, softwareSigner } from "../sdk/keys.ts";
import { grantAccess } from "../sdk/kinds/access.ts";
import { anchorTx, getJson } from "./_helpers.ts";
import { applied, devicesSite, openKindsSite, refused, rejected, tx } from "./_kinds_helpers.ts";

const patient = generateKeyPair("p256");
const clinic = generateKeyPair("ed25519");
const insurer = generateKeyPair("ed25519");
const stranger = generateKeyPair("ed25519");
const STREAM = "patient-42/glucose";
const enc = encodeURIComponent(STREAM);
const HOUR = 3600_000;

async function withStream(fn: (t: Awaited<ReturnType<typeof openKindsSite>>) => Promise<void>) {
  const t = await openKindsSite();
  try {
    await applied(t.app, await anchorTx(patient, { stream: STREAM, seq: 0 }));
    await fn(t);
  } finally {
    await t.cleanup();
  }
}

const check = async (app: Parameters<typeof getJson>[0], reader: string, at: number) =>
  (await getJson(app, `/v1/streams/${enc}/access?reader=${reader}&at=${at}`)).body;

Deno.test("access: a grant allows its reader inside its window only, and a revocation ends it", async () => {
  await withStream(async (t) => {
    const now = Date.now();
    const env = await grantAccess(
      {
        stream: STREAM,
        reader: clinic.did,
        purpose: "Diabetes follow-up",
        from: now,
        until: now + 30 * 24 * HOUR,
      },
      softwareSigner(patient),
      { ledger: "demo" },
    );
    const g = await applied(t.app, env);
    const grant = g.grant as string;
    assert.equal(grant, g.txId);
    const inside = await check(t.app, clinic.did, now + HOUR);
    assert.equal(inside.allowed, true);
    assert.equal(inside.grants[0].purpose, "Diabetes follow-up");
    assert.equal((await check(t.app, clinic.did, now - HOUR)).allowed, false);
    assert.equal((await check(t.app, clinic.did, now + 31 * 24 * HOUR)).allowed, false);
    assert.equal((await check(t.app, insurer.did, now + HOUR)).allowed, false);

    const r = await applied(
      t.app,
      await tx("access.revoke", { stream: STREAM, reader: clinic.did, grant, reason: "Moved" }, [
        patient,
      ]),
    );
    const revokedAt = r.revokedAt as number;
    assert.equal((await check(t.app, clinic.did, revokedAt)).allowed, false);
    assert.equal(
      (await check(t.app, clinic.did, revokedAt - 1)).allowed,
      g.from as number <= revokedAt - 1,
    );

    // Auditors see who had access when, revoked grants included.
    const byStream = await getJson(t.app, `/v1/streams/${enc}/grants`);
    assert.equal(byStream.body.grants.length, 1);
    assert.equal(byStream.body.grants[0].revokedAt, revokedAt);
    assert.equal(byStream.body.grants[0].revokedBy, patient.did);
    const byReader = await getJson(t.app, `/v1/access/readers/${clinic.did}/grants`);
    assert.equal(byReader.body.grants.length, 1);
    assert.equal(byReader.body.grants[0].stream, STREAM);
  });
});

Deno.test("access: grants list by stream and by reader in pages", async () => {
  await withStream(async (t) => {
    const now = Date.now();
    for (const reader of [clinic, insurer]) {
      await applied(
        t.app,
        await tx("access.grant", {
          stream: STREAM,
          reader: reader.did,
          purpose: "Study",
          from: now,
          until: now + HOUR,
        }, [patient]),
      );
    }
    const first = await getJson(t.app, `/v1/streams/${enc}/grants?limit=1`);
    assert.equal(first.body.grants.length, 1);
    const second = await getJson(
      t.app,
      `/v1/streams/${enc}/grants?limit=1&after=${first.body.next}`,
    );
    assert.equal(second.body.grants.length, 1);
    assert.notEqual(second.body.grants[0].reader, first.body.grants[0].reader);
    const onlyClinic = await getJson(t.app, `/v1/streams/${enc}/grants?reader=${clinic.did}`);
    assert.deepEqual(onlyClinic.body.grants.map((g: { reader: string }) => g.reader), [clinic.did]);
  });
});

Deno.test("access: a grant cannot be backdated before its block", async () => {
  await withStream(async (t) => {
    const now = Date.now();
    const g = await applied(
      t.app,
      await tx("access.grant", {
        stream: STREAM,
        reader: clinic.did,
        purpose: "Retroactive",
        from: now - 10 * HOUR,
        until: now + HOUR,
      }, [patient]),
    );
    assert.ok((g.from as number) >= now);
    assert.equal((await check(t.app, clinic.did, now - 5 * HOUR)).allowed, false);
  });
});

Deno.test("access: only the stream's owner grants, for a stream that exists and a period not over", async () => {
  await withStream(async (t) => {
    const now = Date.now();
    const body = { stream: STREAM, reader: clinic.did, purpose: "x", from: now, until: now + HOUR };
    await rejected(t.app, await tx("access.grant", body, [stranger]), "access_not_owner");
    await rejected(
      t.app,
      await tx("access.grant", { ...body, stream: "nobody/stream" }, [patient]),
      "access_stream_unknown",
    );
    await rejected(
      t.app,
      await tx("access.grant", { ...body, from: now - 2 * HOUR, until: now - HOUR }, [patient]),
      "access_period_over",
    );
    await refused(
      t.app,
      await tx("access.grant", { ...body, until: now }, [patient]),
      "invalid_body",
    );
  });
});

Deno.test("access: only the owner or the reader revokes, once, a grant that exists", async () => {
  await withStream(async (t) => {
    const now = Date.now();
    const g = await applied(
      t.app,
      await tx("access.grant", {
        stream: STREAM,
        reader: clinic.did,
        purpose: "x",
        from: now,
        until: now + HOUR,
      }, [patient]),
    );
    const revoke = { stream: STREAM, reader: clinic.did, grant: g.grant };
    await rejected(t.app, await tx("access.revoke", revoke, [stranger]), "access_not_owner");
    await rejected(
      t.app,
      await tx("access.revoke", { ...revoke, grant: "ab".repeat(32) }, [patient]),
      "access_grant_unknown",
    );
    // The reader may renounce its own grant.
    await applied(t.app, await tx("access.revoke", revoke, [clinic]));
    await rejected(t.app, await tx("access.revoke", revoke, [patient]), "access_already_revoked");
  });
});

// ---- key rotation -------------------------------------------------------

const grantBody = (reader: string, now: number) => ({
  stream: STREAM,
  reader,
  purpose: "Diabetes follow-up",
  from: now,
  until: now + 24 * HOUR,
});

Deno.test("access: after a rotation the owner's new key revokes a grant the old key made and grants anew; the old key is refused", async () => {
  const t = await devicesSite();
  try {
    const [p1, p2] = [generateKeyPair("p256"), generateKeyPair("p256")];
    await t.register("a/patient-42-phone", p1);
    await applied(t.app, await anchorTx(p1, { stream: STREAM, seq: 0 }));
    const now = Date.now();
    const g = await applied(t.app, await tx("access.grant", grantBody(clinic.did, now), [p1]));
    await t.rotate("a/patient-42-phone", p1, p2);
    const revoke = { stream: STREAM, reader: clinic.did, grant: g.grant };
    await refused(t.app, await tx("access.revoke", revoke, [p1]), "revoked_signer");
    await applied(t.app, await tx("access.revoke", revoke, [p2]));
    assert.equal((await check(t.app, clinic.did, now + HOUR)).allowed, false);
    await refused(
      t.app,
      await tx("access.grant", grantBody(insurer.did, now), [p1]),
      "revoked_signer",
    );
    await applied(t.app, await tx("access.grant", grantBody(insurer.did, now), [p2]));
    assert.equal((await check(t.app, insurer.did, Date.now() + HOUR)).allowed, true);
    const grants = (await getJson(t.app, `/v1/streams/${enc}/grants`)).body.grants;
    // Grants keep the stream's owner, the key that anchored it first; `revokedBy` is who signed.
    assert.deepEqual(
      grants.map((x: { reader: string; owner: string; revokedBy?: string }) => [
        x.reader,
        x.owner,
        x.revokedBy,
      ]).sort(),
      [[clinic.did, p1.did, p2.did], [insurer.did, p1.did, undefined]].sort(),
    );
  } finally {
    await t.cleanup();
  }
});

Deno.test("access: after a rotation the reader's new key has the grants its old key received, and renounces them", async () => {
  const t = await devicesSite();
  try {
    const [c1, c2] = [generateKeyPair(), generateKeyPair()];
    await t.register("a/clinic-tablet", c1);
    await applied(t.app, await anchorTx(patient, { stream: STREAM, seq: 0 }));
    const now = Date.now();
    const g = await applied(t.app, await tx("access.grant", grantBody(c1.did, now), [patient]));
    await t.rotate("a/clinic-tablet", c1, c2);
    const carried = await check(t.app, c2.did, now + HOUR);
    assert.equal(carried.allowed, true);
    assert.deepEqual(carried.readerKeys, [c2.did, c1.did]);
    assert.equal(carried.grants[0].reader, c1.did);
    // A key that never was the clinic's has nothing.
    const none = await check(t.app, stranger.did, now + HOUR);
    assert.equal(none.allowed, false);
    assert.equal(none.readerKeys, undefined);
    const revoke = { stream: STREAM, reader: c1.did, grant: g.grant };
    await rejected(t.app, await tx("access.revoke", revoke, [stranger]), "access_not_owner");
    const r = await applied(t.app, await tx("access.revoke", revoke, [c2]));
    assert.equal(typeof r.revokedAt, "number");
    assert.equal((await check(t.app, c2.did, now + HOUR)).allowed, false);
  } finally {
    await t.cleanup();
  }
});

Deno.test("access: a quarantined reader's new key has no carried grants, a revoked owner's stream takes no grants, and a key that was never the owner's cannot grant", async () => {
  const t = await devicesSite();
  try {
    const [o1, o2, c1, c2] = [
      generateKeyPair(),
      generateKeyPair(),
      generateKeyPair(),
      generateKeyPair(),
    ];
    await t.register("a/owner-phone", o1);
    await t.register("a/clinic-tablet", c1);
    await applied(t.app, await anchorTx(o1, { stream: STREAM, seq: 0 }));
    const now = Date.now();
    await applied(t.app, await tx("access.grant", grantBody(c1.did, now), [o1]));
    await t.rotate("a/owner-phone", o1, o2);
    await t.rotate("a/clinic-tablet", c1, c2);
    await rejected(
      t.app,
      await tx("access.grant", grantBody(insurer.did, now), [c2]),
      "access_not_owner",
    );
    await t.quarantine("a/clinic-tablet", c2);
    assert.equal((await check(t.app, c2.did, now + HOUR)).allowed, false);
    await t.revoke("a/owner-phone", o2);
    await refused(
      t.app,
      await tx("access.grant", grantBody(insurer.did, now), [o2]),
      "revoked_signer",
    );
  } finally {
    await t.cleanup();
  }
});
