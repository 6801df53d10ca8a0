/**
 * Site key rotation on a cluster of real processes: members rotate their
 * keys while clients write, one of them down meanwhile.
 */
import assert from "node:assert/strict";
import { parseVerifierKey, verifierKey, verifyNoteWith } from "../sdk/note.ts";
import { base64urlDecode, base64urlEncode } from "../sdk/encoding.ts";
import { generateKeyPair } from "../sdk/keys.ts";
import { verifyEd25519Native } from "../src/site/native_ed25519.ts";
import { EdgeLedgerClient } from "../sdk/client/client.ts";
import { fetchReceiptBundle, LightClient, type ReceiptBundle } from "../sdk/light/light_client.ts";
import { retirementVerifies } from "../sdk/key_rotation.ts";
import { readRotatedKey, signRetirement } from "../src/site/key_rotation.ts";
import { SiteKey } from "../src/site/site_key.ts";
import { signPeerBody } from "../src/site/peers.ts";
import { dirname, join } from "node:path";
import { followKeyRotations, trustConfigFromGenesis } from "../sdk/light/trust_config.ts";
import { anchorTx } from "./_helpers.ts";
import {
  addBackRestored,
  adminCall,
  blockHashes,
  commitBatches,
  copyOfCaughtUp,
  getJson,
  leaderIndex,
  rotateSiteKey,
  runWorker,
  snapshottingCluster,
  startCluster,
  statuses,
  submitCommit,
  txIdsInLog,
  waitFor,
} from "./_cluster.ts";

const device = generateKeyPair("ed25519");

type SiteList = { sites: Array<{ name: string; verifierKey: string }> };

Deno.test({
  name:
    "cluster: members rotate their keys while clients write — a follower twice, then the leader while a third site is down, which hears it through the key chain when it comes back; no write is lost, checkpoints carry the new keys' signatures, each site verifies its whole chain, a light client follows the rotations from genesis's keys (by hand or by itself), and a restart takes the rotated key",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(3);
    const rotate = async (i: number) => {
      const body = await rotateSiteKey(cluster, i);
      assert.equal(body.site, cluster.sites[i].name);
      // The answer waits for the old key's last height to be signed with the new one.
      assert.equal(body.retirementSigned, true, JSON.stringify(body));
      assert.ok(Number.isSafeInteger(body.untilHeight) && body.untilHeight >= 1);
      const metrics = await (await cluster.fetch(`${cluster.sites[i].url}/metrics`)).text();
      assert.match(metrics, /^edgeledger_site_key_retirements_unsigned 0$/m);
      return body;
    };
    const leader = async () => (await leaderIndex(cluster)).index;
    let stop = false;
    try {
      const lead = await leader();
      const follower = (lead + 1) % 3;
      const third = (lead + 2) % 3;
      const acked = new Set<string>();
      const writers = Array.from({ length: 4 }, async (_, w) => {
        for (let n = 0; !stop; n++) {
          const site = cluster.sites[(w + n) % 3];
          if (!site.alive) continue;
          const tx = await anchorTx(device);
          const r = await submitCommit(site.url, tx, 10_000).catch(() => undefined);
          if (r?.status === 200) acked.add(r.body.txId);
          else await new Promise((res) => setTimeout(res, 20));
        }
      });
      const ackedAtLeast = (n: number) =>
        waitFor(`${n} writes`, () => Promise.resolve(acked.size >= n ? true : undefined), 30_000);
      await ackedAtLeast(20);
      // A receipt bundle kept from before the rotations (its checkpoint signed by the old keys).
      const early = await fetchReceiptBundle(
        new EdgeLedgerClient({ urls: [cluster.sites[lead].url], fetch: cluster.fetch }),
        [...acked][0],
      );
      assert.ok(!("reason" in early), JSON.stringify(early));
      const earlyBundle = early as ReceiptBundle;

      const first = await rotate(follower);
      await ackedAtLeast(acked.size + 20);
      const second = await rotate(follower);
      assert.equal(second.previous, first.publicKey);
      await ackedAtLeast(acked.size + 20);

      // The third site is down while the leader rotates: when it comes back,
      // the leader's appends are signed with a key it has not heard of yet.
      await cluster.kill(third, "SIGTERM");
      const leaderRotation = await rotate(lead);
      await ackedAtLeast(acked.size + 20);
      await cluster.start(third);
      await ackedAtLeast(acked.size + 40);
      stop = true;
      await Promise.all(writers);

      const expected = new Map([
        [cluster.sites[follower].name, second.publicKey],
        [cluster.sites[lead].name, leaderRotation.publicKey],
      ]);
      const head = await waitFor("every site at the same height", async () => {
        const st = await statuses(cluster);
        const hs = st.map((s) => s?.height);
        return hs.every((h) => h !== undefined && h === hs[0]) ? hs[0] : undefined;
      }, 30_000);
      for (const s of cluster.sites) {
        // The new keys are the members' keys everywhere.
        const { sites } = (await getJson<SiteList>(`${s.url}/v1/sites`))!;
        for (const [name, key] of expected) {
          const listed = sites.find((x) => x.name === name)!;
          assert.equal(
            listed.verifierKey,
            verifierKey(name, base64urlDecode(key)),
            `${s.name}: ${name}`,
          );
        }
        // Its latest checkpoint is signed by a quorum of the current keys.
        const note = await (await cluster.fetch(`${s.url}/v1/checkpoint`)).text();
        const names = verifyNoteWith(note, sites.map((x) => x.verifierKey), verifyEd25519Native);
        assert.ok(names.length >= 2, `${s.name}: checkpoint signed by ${names} (${note})`);
        // Every block's checkpoint verifies with the key its signer held then.
        const integrity = await getJson<{ ok: boolean; blocks: number }>(
          `${s.url}/v1/integrity`,
          60_000,
        );
        assert.equal(integrity!.ok, true, `${s.name}: ${JSON.stringify(integrity)}`);
      }
      // A checkpoint after the rotations carries the rotated sites' new keys.
      const note = await (await cluster.fetch(`${cluster.sites[lead].url}/v1/checkpoint`)).text();
      const { sites } = (await getJson<SiteList>(`${cluster.sites[lead].url}/v1/sites`))!;
      const byLeader = verifyNoteWith(
        note,
        [verifierKey(cluster.sites[lead].name, base64urlDecode(leaderRotation.publicKey))],
        verifyEd25519Native,
      );
      assert.deepEqual(byLeader, [cluster.sites[lead].name]);

      // Every acknowledged write is in every site's log, once; the chains are identical.
      const hashes = await Promise.all(cluster.sites.map((s) => blockHashes(s.url)));
      assert.ok(hashes[0].length >= head);
      for (const h of hashes) assert.deepEqual(h, hashes[0]);
      for (const s of cluster.sites) {
        const ids = await txIdsInLog(s.url);
        assert.equal(new Set(ids).size, ids.length, `${s.name}: a transaction twice`);
        const inLog = new Set(ids);
        for (const id of acked) assert.ok(inLog.has(id), `${s.name} lacks ${id}`);
      }

      // A light client pinned to genesis's keys no longer reaches its quorum (two of the three
      // rotated); following the rotations from those keys, each step checked, it does.
      const genesis = JSON.parse(await Deno.readTextFile(`${cluster.dir}/genesis.json`));
      const pinned = trustConfigFromGenesis(genesis);
      const client = new EdgeLedgerClient({
        urls: [cluster.sites[third].url],
        fetch: cluster.fetch,
      });
      const someTx = [...acked][0];
      const stale = await new LightClient({ source: client, ...pinned }).verify(someTx);
      assert.equal(stale.ok, false);
      assert.equal(stale.reason, "checkpoint_quorum_not_met");
      const update = await followKeyRotations(
        pinned,
        await client.sites(),
        (n) => client.siteKeys(n),
      );
      assert.deepEqual(
        update.rotated.map((r) => [r.name, r.to]).sort(),
        [
          [cluster.sites[follower].name, second.publicKey],
          [cluster.sites[lead].name, leaderRotation.publicKey],
        ].sort(),
      );
      assert.deepEqual(update.unreachable, []);
      const fresh = await new LightClient({ source: client, ...update.trust }).verify(someTx);
      assert.equal(fresh.ok, true, fresh.message);
      // Each retired key's last height is signed by a later key of its site
      // (the rotation's answer waits for it), so the update keeps the keys it
      // replaced — the follower's two, the leader's one — for what they signed.
      for (const [i, rotations] of [[follower, 2], [lead, 1]] as const) {
        const name = cluster.sites[i].name;
        const keys = await client.siteKeys(name);
        assert.equal(keys.retired.length, rotations, name);
        for (const r of keys.retired) {
          const publicKey = base64urlEncode(parseVerifierKey(r.verifierKey).publicKey);
          assert.ok(r.signer !== undefined && r.signature !== undefined, JSON.stringify(r));
          assert.equal(
            retirementVerifies(name, { ...r, publicKey } as never, keys.rotations),
            true,
            `${name}: ${JSON.stringify(r)}`,
          );
        }
        assert.deepEqual(
          update.rotated.find((x) => x.name === name)!.retired,
          keys.retired.map((r) => ({ key: r.verifierKey, untilHeight: r.untilHeight })),
        );
      }
      assert.equal(update.trust.retiredKeys?.length, 3);
      // The leader takes a retirement only as the log recorded it: another
      // height, though signed by the site's key now, is refused (a holder of
      // that key cannot stretch its old key); the recorded one again changes nothing.
      const fName = cluster.sites[follower].name;
      const fKey = await SiteKey.create(
        (await readRotatedKey(
          join(dirname(cluster.sites[follower].configPath), "site-key.rotated.json"),
        ))!,
      );
      const [firstRetired] = (await client.siteKeys(fName)).retired;
      const oldKey = parseVerifierKey(firstRetired.verifierKey).publicKey;
      const leaderUrl = cluster.sites[(await leaderIndex(cluster)).index].url;
      const postRetirement = async (untilHeight: number) => {
        const body = JSON.stringify({
          from: fName,
          retirements: [await signRetirement(fName, oldKey, untilHeight, fKey)],
        });
        return await cluster.fetch(`${leaderUrl}/raft/retired-key`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-edgeledger-site": fName,
            "x-edgeledger-sig": await signPeerBody(body, fKey),
          },
          body,
        });
      };
      const stretched = await postRetirement(firstRetired.untilHeight + 1000);
      assert.equal(stretched.status, 400);
      assert.match((await stretched.json()).detail, /does not verify/);
      const again = await postRetirement(firstRetired.untilHeight);
      assert.equal(again.status, 204, await again.text());
      assert.deepEqual((await client.siteKeys(fName)).retired[0], firstRetired);
      // The bundle kept from before: its checkpoint's signers retired their
      // keys since, so the updated keys alone fall short; with the retired
      // keys kept for the heights they signed, it verifies offline.
      const currentOnly = await new LightClient({ ...update.trust, retiredKeys: [] })
        .verifyBundle(earlyBundle);
      assert.equal(currentOnly.ok, false);
      assert.equal(currentOnly.reason, "checkpoint_quorum_not_met");
      const kept = await new LightClient({ ...update.trust }).verifyBundle(earlyBundle);
      assert.equal(kept.ok, true, kept.message);
      // A light client told to follow rotations does the same by itself, from genesis's keys.
      const followed: string[][] = [];
      const following = new LightClient({
        source: client,
        ...pinned,
        keyRotations: { source: client, onChange: (keys) => void followed.push(keys) },
      });
      const verdict = await following.verify(someTx);
      assert.equal(verdict.ok, true, verdict.message);
      assert.deepEqual(followed, [update.trust.trustedKeys]);
      assert.deepEqual(following.trustedKeys(), update.trust.trustedKeys);
      assert.deepEqual(following.retiredKeys(), update.trust.retiredKeys);

      // Restarted on its config (which still names its first key file), the
      // follower signs with the key its rotations gave it.
      await cluster.kill(follower, "SIGTERM");
      await cluster.start(follower);
      const tx = await anchorTx(device);
      const r = await submitCommit(cluster.sites[follower].url, tx, 10_000);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await waitFor("the follower's signature on a new checkpoint", async () => {
        const text = await (await cluster.fetch(`${cluster.sites[follower].url}/v1/checkpoint`))
          .text();
        const key = sites.find((x) => x.name === cluster.sites[follower].name)!.verifierKey;
        const ok = verifyNoteWith(text, [key], verifyEd25519Native);
        const st = await getJson<{ height: number }>(`${cluster.sites[follower].url}/v1/status`);
        return ok.length === 1 && st!.height > head ? true : undefined;
      }, 20_000);
    } finally {
      stop = true;
      await cluster.stop();
    }
  },
});

Deno.test({
  name:
    "cluster: a site restored from a copy made before its key rotation (removed, restored, added back with its current key) signs with the rotated key from its data folder, catches up by snapshot past its rotation and takes part again",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Compacting after 10 entries: the restored site catches up by snapshot.
    const cluster = await snapshottingCluster();
    try {
      const c = cluster.sites[2];
      await commitBatches(cluster.sites[0].url, 3, 10);
      const { copy } = await copyOfCaughtUp(cluster, 2);
      // Rotated after the copy was made; more blocks follow.
      const rotation = await rotateSiteKey(cluster, 2);
      await commitBatches(cluster.sites[0].url, 15, 10);

      // site-c's database is lost, its data folder's rotated key kept: removed, restored, added back.
      await cluster.kill(2, "SIGKILL");
      await waitFor("a leader among the others", async () => {
        const st = await statuses(cluster);
        return st.some((s) => s?.role === "leader" && s.site !== "site-c") ? true : undefined;
      }, 20_000);
      const removed = await adminCall(cluster, "/members/site-c", { method: "DELETE" });
      assert.equal(removed.status, 200, await removed.text());
      // Its database is still there, ahead of the copy: restore replaces it only when forced.
      const r = await runWorker("restore.ts", [
        "--config",
        c.configPath,
        "--from",
        copy,
        "--force",
      ]);
      assert.equal(r.code, 0, r.text);
      // The copy's directory names its old key; its data folder keeps the rotated one, which it
      // signs with.
      await cluster.start(2);
      await addBackRestored(cluster, 2, rotation.publicKey, await anchorTx(device));
      // It signs with its rotated key (its own checkpoint carries its line); its chain verifies.
      await waitFor("site-c's signature with its rotated key", async () => {
        const note = await (await cluster.fetch(`${c.url}/v1/checkpoint`)).text();
        const key = verifierKey("site-c", base64urlDecode(rotation.publicKey));
        return verifyNoteWith(note, [key], verifyEd25519Native).length === 1 ? true : undefined;
      }, 20_000);
      const [ha, hc] = await Promise.all([blockHashes(cluster.sites[0].url), blockHashes(c.url)]);
      assert.deepEqual(hc.slice(0, ha.length), ha.slice(0, hc.length));
      const integrity = await getJson<{ ok: boolean; firstMismatch?: string }>(
        `${c.url}/v1/integrity`,
        30_000,
      );
      assert.equal(integrity?.ok, true, integrity?.firstMismatch);
      const st = await getJson<{ healthy: boolean; voters: string[] }>(`${c.url}/v1/status`);
      assert.equal(st?.healthy, true);
      assert.deepEqual(st?.voters.toSorted(), ["site-a", "site-b", "site-c"]);
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test({
  name:
    "cluster: a site that rotates its key on a quiet cluster signs the head's checkpoint again with the new key, so every site serves that head verified by the current keys alone — no new block needed, nor after the rotated site restarts",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(3);
    try {
      await leaderIndex(cluster);
      await commitBatches(cluster.sites[0].url, 1, 3);
      const head = (await getJson<{ height: number }>(`${cluster.sites[0].url}/v1/status`))!.height;
      await rotateSiteKey(cluster, 1);
      const { sites } = (await getJson<SiteList>(`${cluster.sites[0].url}/v1/sites`))!;
      const current = sites.map((s) => s.verifierKey);
      await waitFor("every site's head checkpoint verified by the current keys", async () => {
        const notes = await Promise.all(
          cluster.sites.map(async (s) =>
            await (await cluster.fetch(`${s.url}/v1/checkpoint`)).text()
          ),
        );
        return notes.every((n) =>
          n.includes(`\nheight ${head}\n`) &&
          verifyNoteWith(n, current, verifyEd25519Native).length === 3
        ) || undefined;
      }, 15_000);
      // Nothing was committed meanwhile: the head is the block signed before the rotation.
      const st = await statuses(cluster);
      for (const s of st) assert.equal(s?.height, head);
      // Restarted, the rotated site (whose database keeps its old key's line
      // for that block) signs the head again with the key it holds.
      await cluster.kill(1, "SIGTERM");
      await cluster.start(1);
      await waitFor(
        "the restarted site's head checkpoint verified by the current keys",
        async () => {
          const n = await (await cluster.fetch(`${cluster.sites[1].url}/v1/checkpoint`)).text();
          return (n.includes(`\nheight ${head}\n`) &&
            verifyNoteWith(n, current, verifyEd25519Native).length === 3) || undefined;
        },
        15_000,
      );
    } finally {
      await cluster.stop();
    }
  },
});
