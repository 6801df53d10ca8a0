/**
 * What a real site answers is what its `/openapi.json` says it answers:
 * clients generated from the document (Swift, Kotlin) decode exactly what
 * the document describes, so an undocumented status or media type, a
 * missing `required` member, a number typed `integer` that arrives as a
 * string or a null where none is allowed breaks them. So does a header: an
 * SDK that waits `Retry-After`, caches by `Cache-Control` or logs
 * `X-Request-Id` reads what the response declares, so every header a
 * response declares `required` must come, every declared one must match its
 * schema, and a header clients act on must not come undeclared.
 *
 * A 3-site cluster (a leader, and followers for `not_leader`) with contract
 * state of every kind; every operation of the document is asked for its
 * success answers and for the problems a client can cheaply provoke (bad
 * input, unknown records, an unknown API key, an API key over its budget,
 * `consistency=leader` at a follower, a site without a leader), and each
 * answer is checked by `_openapi_fidelity.ts` with an independent JSON
 * Schema 2020-12 validator. The document itself must be valid OpenAPI 3.1.
 * So are the admin routes (tag `admin`, the admin key): their 401, 403,
 * 400, 404, 409, 413, 415 and 503 `not_leader` problems, a backup, a fourth
 * site added as a learner, promoted and removed, and a leadership transfer.
 */
import assert from "node:assert/strict";
import { sha256Hex } from "../sdk/hash.ts";
import { utf8Encode } from "../sdk/encoding.ts";
import { createEnvelope, signEnvelope } from "../sdk/envelope.ts";
import { generateKeyPair, importKey, softwareSigner } from "../sdk/keys.ts";
import { grantAccess } from "../sdk/kinds/access.ts";
import { buildTx } from "../sdk/kinds/build.ts";
import { anchorBody, buildBatch, readingProof } from "../sdk/kinds/readings.ts";
import { anchorTx } from "./_helpers.ts";
import { leaderIndex, startCluster, waitFor } from "./_cluster.ts";
import {
  accessContext,
  custodyContext,
  type DocsEnv,
  governanceContext,
  paymentsContext,
  roamingContext,
  sensorDataContext,
} from "./_docs_context.ts";
import { Fidelity, type OpenApiDoc } from "./_openapi_fidelity.ts";

/** A tenant key with a budget no test reaches, and one that is spent after one request. */
const TENANT_KEY = "fidelity-tenant-key-0123456789";
const SPENT_KEY = "fidelity-spent-key-0123456789";
const UNKNOWN_KEY = "fidelity-unknown-key-0123456789";

const PERIOD = "orga-orgb-2026-11";

Deno.test("openapi: every answer of a real cluster has a documented status, media type, body schema and headers", async (t) => {
  const cluster = await startCluster(3, {
    apiKeys: [
      { name: "tenant", hash: sha256Hex(utf8Encode(TENANT_KEY)), requestsPerMinute: 1_000_000 },
      { name: "spent", hash: sha256Hex(utf8Encode(SPENT_KEY)), requestsPerMinute: 1 },
    ],
  });
  try {
    const { index } = await leaderIndex(cluster);
    const leader = cluster.sites[index].url;
    const follower = cluster.sites[(index + 1) % 3].url;
    const doc = await (await fetch(`${leader}/openapi.json`)).json() as OpenApiDoc;
    const f = await Fidelity.load(
      doc,
      `https://edgeledger.test/${crypto.randomUUID()}/openapi.json`,
    );

    /** Asks `url` as operation `id` and checks the answer; its body. */
    const call = async (
      id: string,
      url: string,
      expected: number,
      init: RequestInit & { json?: unknown } = {},
    ): Promise<unknown> => {
      const { json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (json !== undefined) headers.set("content-type", "application/json");
      const res = await fetch(url, {
        method: f.operation(id).method,
        ...rest,
        headers,
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      });
      return await f.check(id, url, res, expected);
    };
    const mismatchesAfter = (step: string) => {
      const found = f.mismatches.splice(0);
      assert.deepEqual(
        found,
        [],
        `${step}: answers disagree with /openapi.json:\n${found.join("\n")}`,
      );
    };

    await t.step("the document is a valid OpenAPI 3.1 document", () => {
      assert.equal(doc.openapi, "3.1.0");
      mismatchesAfter("the document");
    });

    await t.step(
      "the checker names the operation, status and JSON pointer of a mismatch",
      async () => {
        const url = `${leader}/v1/status`;
        const answer = (body: string, status = 200, type = "application/json") =>
          new Response(body, { status, headers: { "content-type": type } });
        await f.check("getStatus", url, answer(JSON.stringify({ ledger: 1 })));
        await f.check("getStatus", url, answer("{}", 418));
        await f.check("getStatus", url, answer("ok", 200, "text/plain"));
        await f.check("getGov", `${leader}/v1/gov`, answer(JSON.stringify({ policy: null })));
        const found = f.mismatches.splice(0);
        for (
          const re of [
            /^getStatus \(GET \/v1\/status\) → 200 application\/json: #\/ledger = 1 fails type/,
            /^getStatus .* → 200 application\/json: # = .* fails required at #\/components\/schemas\/StatusView/,
            /^getStatus .* → 418: status not documented/,
            /^getStatus .* → 200: Content-Type "text\/plain" not documented/,
          ]
        ) assert.ok(found.some((m) => re.test(m)), `${re} matches none of:\n${found.join("\n")}`);
        // A null `policy` is documented (a ledger made before governance state).
        assert.ok(!found.some((m) => m.includes("/policy")), found.join("\n"));
        f.seen.clear();
      },
    );

    // Contract state of every kind, as the use-case pages' samples assume it.
    const env: DocsEnv = { url: leader, dir: cluster.dir };
    const [, , payments, access] = await Promise.all([
      sensorDataContext(env),
      custodyContext(env),
      paymentsContext(env),
      accessContext(env),
      governanceContext(env).then(() => roamingContext(env)),
    ]);

    await t.step("transactions: submit, read, prove", async () => {
      const device = generateKeyPair("ed25519");
      const committed = await anchorTx(device);
      const receipt = await call("submitTxs", `${leader}/v1/txs?wait=commit`, 200, {
        json: committed,
      }) as { txId: string; logIndex: number };
      await call("submitTxs", `${leader}/v1/txs`, 202, { json: await anchorTx(device) });
      // A batch with a refused item: one whose id cannot be computed.
      await call("submitTxs", `${leader}/v1/txs?wait=commit`, 200, {
        json: { txs: [await anchorTx(device), { v: 1 }] },
      });
      await call("submitTxs", `${leader}/v1/txs`, 400, { json: { txs: [] } });
      await call("submitTxs", `${leader}/v1/txs?wait=soon`, 400, { json: committed });
      await call("submitTxs", `${leader}/v1/txs`, 415, {
        body: JSON.stringify(committed),
        headers: { "content-type": "text/plain" },
      });
      await call("submitTxs", `${leader}/v1/txs`, 413, {
        json: { txs: [{ pad: "x".repeat(1024 * 1024) }] },
      });
      await call("submitTxs", `${leader}/v1/txs`, 413, {
        json: await anchorTx(device, { stream: "s".repeat(100) }).then((e) => ({
          ...e,
          body: { ...e.body as object, pad: "x".repeat(70 * 1024) },
        })),
      });
      await call("submitTxs", `${leader}/v1/txs`, 422, {
        json: await anchorTx(device, { ledger: "another" }),
      });

      const id = receipt.txId;
      const unknown = "0".repeat(64);
      await call("getTx", `${leader}/v1/txs/${id}`, 200);
      await call("getTx", `${follower}/v1/txs/${id}`, 200);
      await call("getTx", `${leader}/v1/txs/${unknown}`, 404);
      await call("getTx", `${leader}/v1/txs/not-an-id`, 400);
      await call("getTx", `${follower}/v1/txs/${id}?consistency=leader`, 503);
      await waitFor("a checkpoint covering the transaction", async () => {
        const res = await fetch(`${leader}/v1/txs/${id}/proof`);
        await res.body?.cancel();
        return res.status === 200 || undefined;
      });
      await call("getTxProof", `${leader}/v1/txs/${id}/proof`, 200);
      await call(
        "getTxProof",
        `${leader}/v1/txs/${id}/proof?treeSize=${receipt.logIndex + 1}`,
        200,
      );
      await call("getTxProof", `${leader}/v1/txs/${id}/proof?treeSize=1000000`, 422);
      await call("getTxProof", `${leader}/v1/txs/${unknown}/proof`, 404);
      await call("getTxProof", `${leader}/v1/txs/${id}/proof?treeSize=0`, 400);
      mismatchesAfter("transactions");
    });

    await t.step("blocks, log, cluster: every answer and problem", async () => {
      const block = await call("getBlock", `${leader}/v1/blocks/1`, 200) as { hash: string };
      await call("getBlock", `${leader}/v1/blocks/99999999`, 404);
      await call("getBlock", `${leader}/v1/blocks/01`, 400);
      await call("getBlockByHash", `${leader}/v1/blocks/by-hash/${block.hash}`, 200);
      await call("getBlockByHash", `${leader}/v1/blocks/by-hash/${"0".repeat(64)}`, 404);
      await call("getBlockByHash", `${leader}/v1/blocks/by-hash/xyz`, 400);
      await call("listBlocks", `${leader}/v1/blocks?from=0&limit=2`, 200);
      await call("listBlocks", `${leader}/v1/blocks?from=99999999`, 200);
      await call("listBlocks", `${leader}/v1/blocks?limit=0`, 400);
      await call("getCheckpoint", `${leader}/v1/checkpoint`, 200);
      await call("getCheckpoint", `${follower}/v1/checkpoint?consistency=linearizable`, 200);
      await call("getCheckpoint", `${follower}/v1/checkpoint?consistency=leader`, 503);
      await call("getCheckpoint", `${leader}/v1/checkpoint?consistency=never`, 400);
      await call("getConsistency", `${leader}/v1/consistency?from=1&to=2`, 200);
      await call("getConsistency", `${leader}/v1/consistency?from=1&to=99999999`, 422);
      await call("getConsistency", `${leader}/v1/consistency?from=3&to=2`, 400);
      await call("getStatus", `${leader}/v1/status`, 200);
      await call("getStatus", `${follower}/v1/status`, 200);
      await call("listSites", `${leader}/v1/sites`, 200);
      await call("getSiteKeys", `${leader}/v1/sites/site-a/keys`, 200);
      await call("getSiteKeys", `${leader}/v1/sites/site-z/keys`, 404);
      await call("getSiteKeys", `${leader}/v1/sites/${"n".repeat(65)}/keys`, 400);
      await call("getIntegrity", `${follower}/v1/integrity`, 200);
      await call("streamEvents", `${leader}/v1/events?from=1`, 200);
      await call("streamEvents", `${leader}/v1/events?kind=data.anchor&from=1`, 200);
      await call("streamEvents", `${leader}/v1/events?kind=Not%20a%20kind`, 400);
      await call("streamEvents", `${leader}/v1/events`, 400, {
        headers: { "last-event-id": "-1" },
      });
      await call("getMetrics", `${follower}/metrics`, 200);
      await call("getHealth", `${leader}/healthz`, 200);
      await call("getReady", `${leader}/readyz`, 200);
      await call("getReady", `${follower}/readyz`, 200);
      mismatchesAfter("blocks, log, cluster");
    });

    await t.step("contract state: every read route, found, not found and malformed", async () => {
      const carDid = payments.car.did;
      const chargerDid = payments.charger.did;
      await call("getGov", `${leader}/v1/gov`, 200);
      await call("getGov", `${leader}/v1/gov?consistency=x`, 400);
      await call("getGov", `${follower}/v1/gov?consistency=leader`, 503);

      await call("getDevice", `${leader}/v1/devices/${carDid}`, 200);
      const devices = await call("listDevices", `${leader}/v1/devices?limit=2`, 200) as {
        devices: Array<{ did: string }>;
      };
      await call("getDevice", `${leader}/v1/devices/${devices.devices[0].did}`, 200);
      await call("getDevice", `${leader}/v1/devices/${generateKeyPair().did}`, 404);
      await call("getDevice", `${leader}/v1/devices/not-a-did`, 400);
      await call("getDeviceDidDocument", `${leader}/v1/devices/${carDid}/did.json`, 200);
      await call("getDeviceDidDocument", `${leader}/v1/devices/${carDid}/did.json`, 200, {
        headers: { accept: "application/json" },
      });
      await call(
        "getDeviceDidDocument",
        `${leader}/v1/devices/${generateKeyPair().did}/did.json`,
        404,
      );
      await call("listDevices", `${leader}/v1/devices?prefix=demo%2F&limit=1000`, 200);
      await call("listDevices", `${leader}/v1/devices?limit=1001`, 400);

      await call("getAsset", `${leader}/v1/assets/kwh-credit`, 200);
      await call("getAsset", `${leader}/v1/assets/no-such-asset`, 404);
      await call("getAssetBalance", `${leader}/v1/assets/kwh-credit/balances/${carDid}`, 200);
      await call("getAssetBalance", `${leader}/v1/assets/kwh-credit/balances/${chargerDid}`, 200);
      await call("getAssetBalance", `${leader}/v1/assets/no-such-asset/balances/${carDid}`, 404);
      await call("getAssetBalance", `${leader}/v1/assets/kwh-credit/balances/nobody`, 400);
      await call("listAssetBalances", `${leader}/v1/assets/kwh-credit/balances`, 200);
      await call("listAssetBalances", `${leader}/v1/assets/no-such-asset/balances`, 404);
      await call("listAssetBalances", `${leader}/v1/assets/kwh-credit/balances?limit=0`, 400);

      await call("getCustodyItem", `${leader}/v1/custody/items/batch-7`, 200);
      await call("getCustodyItem", `${leader}/v1/custody/items/no-such-item`, 404);
      await call("getCustodyHistory", `${leader}/v1/custody/items/batch-7/history`, 200);
      await call("getCustodyHistory", `${leader}/v1/custody/items/no-such-item/history`, 404);
      await call("getCustodyHistory", `${leader}/v1/custody/items/batch-7/history?limit=x`, 400);

      // A grant of the patient's stream to the clinic.
      const grant = await grantAccess(
        {
          stream: "patient-42/glucose",
          reader: access.clinic.did,
          from: 0,
          until: Date.now() + 3_600_000,
          purpose: "care",
        },
        access.patientSigner,
        { ledger: "demo" },
      );
      await call("submitTxs", `${leader}/v1/txs?wait=commit`, 200, { json: grant });
      await call("listStreamGrants", `${leader}/v1/streams/patient-42%2Fglucose/grants`, 200);
      await call("listStreamGrants", `${leader}/v1/streams/no-such-stream/grants`, 200);
      await call("listStreamGrants", `${leader}/v1/streams/x/grants?limit=1001`, 400);
      await call(
        "listReaderGrants",
        `${leader}/v1/access/readers/${access.clinic.did}/grants`,
        200,
      );
      await call("listReaderGrants", `${leader}/v1/access/readers/not-a-did/grants`, 400);
      const check = `${leader}/v1/streams/patient-42%2Fglucose/access?reader=${access.clinic.did}`;
      await call("checkStreamAccess", `${check}&at=${Date.now()}`, 200);
      await call("checkStreamAccess", `${check}&at=0`, 200);
      await call("checkStreamAccess", check, 400);

      // A stream whose readings this test holds, to verify one.
      const owner = softwareSigner(generateKeyPair());
      const readings = Array.from({ length: 5 }, (_, i) => ({ at: i, celsius: 4 + i / 10 }));
      const batch = buildBatch(readings);
      const stream = `fidelity/temp-${owner.did.slice(-6)}`;
      const anchor = await signEnvelope(
        createEnvelope({
          ledger: "demo",
          kind: "data.anchor",
          body: anchorBody(batch, { stream, seq: 1, from: 0, to: 4 }),
          signers: [owner.did],
        }),
        [owner],
      );
      await call("submitTxs", `${leader}/v1/txs?wait=commit`, 200, { json: anchor });
      const s = `${leader}/v1/streams/${encodeURIComponent(stream)}`;
      await call("getStream", s, 200);
      await call("getStream", `${leader}/v1/streams/monitor-3%2Fnox`, 200);
      await call("getStream", `${leader}/v1/streams/no-such-stream`, 404);
      await call("getStream", `${leader}/v1/streams/${"s".repeat(129)}`, 400);
      await call("listStreamAnchors", `${s}/anchors`, 200);
      await call("listStreamAnchors", `${leader}/v1/streams/no-such-stream/anchors`, 404);
      await call("listStreamAnchors", `${s}/anchors?limit=-1`, 400);
      await call("getStreamGaps", `${leader}/v1/streams/monitor-3%2Fnox/gaps`, 200);
      await call("getStreamGaps", `${leader}/v1/streams/no-such-stream/gaps`, 404);
      await call("getStreamGaps", `${s}/gaps?limit=abc`, 400);
      const proof = readingProof(batch, 2);
      await call("verifyStreamReading", `${s}/verify-reading`, 200, {
        json: { seq: 1, reading: { json: readings[2] }, proof },
      });
      await call("verifyStreamReading", `${s}/verify-reading`, 200, {
        json: { seq: 1, reading: { json: readings[3] }, proof },
      });
      await call("verifyStreamReading", `${s}/verify-reading`, 404, {
        json: { seq: 9, reading: { json: readings[2] }, proof },
      });
      await call("verifyStreamReading", `${s}/verify-reading`, 400, {
        json: { seq: 1, reading: {}, proof },
      });
      await call("verifyStreamReading", `${s}/verify-reading`, 415, {
        body: "{}",
        headers: { "content-type": "text/plain" },
      });
      await call("verifyStreamReading", `${s}/verify-reading`, 413, {
        json: { seq: 1, reading: { json: "x".repeat(1024 * 1024) }, proof },
      });

      // The roaming period, closed so that its statement exists.
      const carrier = softwareSigner(
        importKey(JSON.parse(await Deno.readTextFile(`${cluster.dir}/orgb-admin-key.json`))),
      );
      const close = buildTx("roaming.close", { period: PERIOD }, {
        ledger: "demo",
        signers: [carrier.did],
      });
      await call("submitTxs", `${leader}/v1/txs?wait=commit`, 200, {
        json: await signEnvelope(close, [carrier]),
      });
      const p = `${leader}/v1/roaming/periods/${PERIOD}`;
      await call("getRoamingPeriod", p, 200);
      await call("getRoamingPeriod", `${leader}/v1/roaming/periods/no-such-period`, 404);
      await call("getRoamingPeriod", `${leader}/v1/roaming/periods/${"p".repeat(200)}`, 400);
      await call("listRoamingRecords", `${p}/records`, 200);
      await call("listRoamingRecords", `${leader}/v1/roaming/periods/no-such-period/records`, 404);
      await call("listRoamingRecords", `${p}/records?limit=0`, 400);
      await call("getRoamingRecord", `${p}/records/tap-000124`, 200);
      await call("getRoamingRecord", `${p}/records/tap-000999`, 404);
      await call("listRoamingFlags", `${p}/flags`, 200);
      await call("listRoamingFlags", `${leader}/v1/roaming/periods/no-such-period/flags`, 404);
      await call("getRoamingStatement", `${p}/statement`, 200);
      await call(
        "getRoamingStatement",
        `${leader}/v1/roaming/periods/no-such-period/statement`,
        404,
      );
      mismatchesAfter("contract state");
    });

    await t.step(
      "API keys: an unknown key is 401 and a spent budget 429 on every operation",
      async () => {
        // The spent key's one request of the minute. The sites count a key's
        // requests in whole-minute windows of the clock they share with this
        // test: near a minute's end, wait for the next one, so the window
        // cannot close while the operations below expect it spent.
        const left = 60_000 - Date.now() % 60_000;
        if (left < 20_000) await new Promise((r) => setTimeout(r, left + 50));
        await fetch(`${leader}/v1/status`, { headers: { authorization: `Bearer ${SPENT_KEY}` } })
          .then((r) => r.body?.cancel());
        for (const op of f.operations.values()) {
          // The admin routes take admin keys only (their own step).
          if (!op.path.startsWith("/v1/") || op.path.startsWith("/v1/admin/")) continue;
          const path = op.path.replace(/\{[^}]+\}/g, "x");
          for (const [key, status] of [[UNKNOWN_KEY, 401], [SPENT_KEY, 429]] as const) {
            await call(op.id, `${leader}${path}`, status, {
              headers: { authorization: `Bearer ${key}` },
            });
          }
        }
        // A key in good standing is served.
        await call("getStatus", `${leader}/v1/status`, 200, {
          headers: { authorization: `Bearer ${TENANT_KEY}` },
        });
        mismatchesAfter("API keys");
      },
    );

    await t.step(
      "admin routes: every answer of the admin key's routes, their problems, a backup, a learner added, promoted and removed, a leadership transfer",
      async () => {
        const follow = cluster.sites.find((s) => s.url === follower)!;
        // A fourth site to add, promote and remove: it starts while the problems
        // below are asked.
        const port = Math.max(...cluster.sites.map((s) => Number(new URL(s.url).port))) + 1;
        const publicKey = await cluster.addSiteConfig("site-d", port);
        const starting = cluster.startConfig("site-d", `${cluster.dir}/site-d/site.json`);
        /** Asks the admin route `id` at `site` + `/v1/admin` + `path`, with the admin key unless `key` says otherwise. */
        const admin = (
          id: string,
          site: string,
          path: string,
          expected: number,
          init: RequestInit & { json?: unknown; key?: string | null } = {},
        ) => {
          const { key: given, ...rest } = init;
          const key = given === undefined ? cluster.adminKey : given;
          const headers = new Headers(rest.headers);
          if (key !== null) headers.set("authorization", `Bearer ${key}`);
          return call(id, `${site}/v1/admin${path}`, expected, { ...rest, headers });
        };
        const ops = [...f.operations.values()].filter((op) => op.path.startsWith("/v1/admin/"));
        assert.equal(ops.length, 7, ops.map((op) => op.id).join(", "));
        // No key, no Bearer key, an unknown key: 401 with the admin realm's challenge; a
        // tenant's key: 403.
        for (const op of ops) {
          const path = op.path.replace("/v1/admin", "").replace("{name}", follow.name);
          await admin(op.id, leader, path, 401, { key: null });
          await admin(op.id, leader, path, 401, {
            key: null,
            headers: { authorization: "Basic x" },
          });
          await admin(op.id, leader, path, 401, { key: UNKNOWN_KEY });
          // A tenant key is known here, but is no admin key.
          await admin(op.id, leader, path, 403, { key: TENANT_KEY });
        }
        // Bodies: not JSON, not the schema, too large, another media type.
        await admin("addMember", leader, "/members", 400, { json: {} });
        await admin("addMember", leader, "/members", 400, {
          body: "{",
          headers: { "content-type": "application/json" },
        });
        await admin("addMember", leader, "/members", 413, {
          json: { name: "site-e", url: "x".repeat(1024 * 1024), publicKey: "x" },
        });
        await admin("addMember", leader, "/members", 415, {
          body: "{}",
          headers: { "content-type": "text/plain" },
        });
        await admin("transferLeader", leader, "/leader", 415, { body: "{}" });
        await admin("transferLeader", leader, "/leader", 400, { json: { to: "Site B" } });
        await admin("transferLeader", leader, "/leader", 400, {
          body: '{"to":"site-a","to":"site-b"}',
          headers: { "content-type": "application/json" },
        });
        await admin("updateMember", leader, `/members/${follow.name}`, 400, {
          json: { url: "ftp://pop.example" },
        });
        await admin("updateMember", leader, `/members/${follow.name}`, 415, { body: "{}" });
        // Names: no site name (400), no member (404), a member in the wrong state (409).
        await admin("promoteMember", leader, "/members/NOT%20A%20NAME/promote", 400);
        await admin("removeMember", leader, "/members/-x", 400);
        await admin("promoteMember", leader, "/members/site-z/promote", 404);
        await admin("removeMember", leader, "/members/site-z", 404);
        await admin("updateMember", leader, "/members/site-z", 404, {
          json: { url: "http://127.0.0.1:9" },
        });
        await admin("promoteMember", leader, `/members/${follow.name}/promote`, 409);
        await admin("transferLeader", leader, "/leader", 409, { json: { to: "site-z" } });
        // A follower: every membership change is 503 not_leader, naming the leader's URL.
        for (
          const [id, path, init] of [
            ["addMember", "/members", {
              json: { name: "site-e", url: "http://127.0.0.1:9", publicKey },
            }],
            ["promoteMember", `/members/${follow.name}/promote`, {}],
            ["removeMember", `/members/${follow.name}`, {}],
            ["updateMember", `/members/${follow.name}`, { json: { url: follow.url } }],
            ["transferLeader", "/leader", { json: { to: follow.name } }],
          ] as const
        ) {
          const p = await admin(id, follower, path, 503, init) as { leaderUrl: unknown };
          assert.equal(p.leaderUrl, leader, id);
        }
        // Successes: a member moved to the URL it has, a key rotated, a backup.
        await admin("updateMember", leader, `/members/${follow.name}`, 200, {
          json: { url: follow.url },
        });
        await admin("rotateSiteKey", follower, "/site-key", 200);
        const backup = await fetch(`${follower}/v1/admin/backup`, {
          headers: { authorization: `Bearer ${cluster.adminKey}` },
        });
        assert.equal(backup.headers.get("content-type"), "application/vnd.sqlite3");
        assert.ok(/^\d+$/.test(backup.headers.get("content-length") ?? ""));
        await f.check("getBackup", `${follower}/v1/admin/backup`, backup, 200);
        // A site added as a learner, refused a second time, promoted once caught up, removed.
        const d = await starting;
        const member = { name: "site-d", url: d.url, publicKey };
        await admin("addMember", leader, "/members", 200, { json: member });
        await admin("addMember", leader, "/members", 409, { json: member });
        const { height } = (await (await fetch(`${leader}/v1/status`)).json()) as {
          height: number;
        };
        // Caught up: its snapshot installed, as the leader heard (it refuses to promote before).
        await waitFor("site-d to catch up", async () => {
          const res = await fetch(`${d.url}/v1/status`).catch(() => undefined);
          const st = await res?.json() as { height: number } | undefined;
          const at = await (await fetch(`${leader}/v1/status`)).json() as {
            peers?: Record<string, { catchingUp?: boolean }>;
          };
          return st !== undefined && st.height >= height &&
              at.peers?.["site-d"]?.catchingUp === undefined || undefined;
        });
        await admin("promoteMember", leader, "/members/site-d/promote", 200);
        await admin("removeMember", leader, "/members/site-d", 200);
        await cluster.kill(cluster.sites.indexOf(d));
        // Leadership handed to the follower; the old leader now answers not_leader.
        await admin("transferLeader", leader, "/leader", 200, { json: { to: follow.name } });
        const p = await admin("transferLeader", leader, "/leader", 503, {
          json: { to: follow.name },
        }) as { leader: string; leaderUrl: string };
        assert.deepEqual([p.leader, p.leaderUrl], [follow.name, follower]);
        mismatchesAfter("admin routes");
      },
    );

    await t.step("a site without a leader: 503 where documented", async () => {
      const survivor = cluster.sites[index].url;
      await cluster.kill((index + 1) % 3);
      await cluster.kill((index + 2) % 3);
      await waitFor("the survivor to lose its leader", async () => {
        const res = await fetch(`${survivor}/readyz`);
        await res.body?.cancel();
        return res.status === 503 || undefined;
      });
      await call("getReady", `${survivor}/readyz`, 503);
      await call("getTx", `${survivor}/v1/txs/${"0".repeat(64)}?consistency=linearizable`, 503);
      await call("getGov", `${survivor}/v1/gov?consistency=linearizable`, 503);
      mismatchesAfter("no leader");
    });

    await t.step("every operation of the document was seen answering a 2xx", () => {
      assert.deepEqual(f.withoutSuccess(), []);
    });
  } finally {
    await cluster.stop();
  }
});
