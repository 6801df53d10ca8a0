/**
 * `access.*` end to end on a real site: a patient grants a clinic access to
 * a stream for a period and purpose and revokes it; auditors list who had
 * access when; each refusal with its stable code.
 */
import assert from "node:assert/strict";
import { generateKeyPair, softwareSigner } from "../sdk/keys.ts";
import { grantAccess } from "../sdk/kinds/access.ts";
import { anchorTx, getJson } from "./_helpers.ts";
import { applied, openKindsSite, refused, rejected, tx } from "./_kinds_helpers.ts";

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
