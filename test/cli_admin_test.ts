/**
 * The command line's operator commands (`member …`, `leader transfer`,
 * `backup`) end to end: each runs as its own process (`deno run` with the
 * permissions `task cli` grants) against a real cluster of site processes
 * on 127.0.0.1, with the admin key file the ledger's setup wrote.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { verifyCopyFile } from "../src/site/backup.ts";
import { loadSiteConfig } from "../src/site/config.ts";
import { anchorTx } from "./_helpers.ts";
import {
  blockHashes,
  closedPort,
  startCluster,
  statuses,
  submitCommit,
  type TestCluster,
  waitFor,
} from "./_cluster.ts";
import { cli, ok } from "./_cli.ts";

const device = generateKeyPair("ed25519");

/** The index and status of the site that leads now (and, with `not`, is not that one). */
async function leaderOf(cluster: TestCluster, not?: string) {
  return await waitFor("a leader", async () => {
    const st = await statuses(cluster);
    const i = st.findIndex((s) => s?.role === "leader" && s.site !== not);
    return i >= 0 ? { index: i, status: st[i]! } : undefined;
  }, 30_000);
}

interface MembersJson {
  leader: string | null;
  fromLeader: boolean;
  site: string;
  members: Array<{
    name: string;
    role: string;
    url: string | null;
    leader: boolean;
    match: number | null;
    lag: number | null;
    catchingUp?: true;
  }>;
}

/** `GET /v1/sites` of `url`: each member's name and URL. */
async function getSites(url: string): Promise<Array<{ name: string; url: string }> | undefined> {
  const res = await fetch(`${url}/v1/sites`).catch(() => undefined);
  if (res === undefined || !res.ok) {
    await res?.body?.cancel();
    return undefined;
  }
  return (await res.json()).sites;
}

/** `member list --json` asked of `url`. */
async function members(url: string): Promise<MembersJson> {
  return JSON.parse(ok(await cli(["member", "list", "--url", url, "--json"])).stdout);
}

Deno.test({
  name:
    "cli admin: member list names the leader; a learner added with --key-file catches up, is promoted, moves to a new URL (member update) and is reached there, takes leadership by leader transfer, and is removed, which it learns (3 sites + 1)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(3);
    try {
      const adminKeyFile = `${cluster.dir}/admin-api-key.txt`;
      const admin = ["--admin-key-file", adminKeyFile];
      for (let i = 0; i < 5; i++) {
        const r = await submitCommit(cluster.sites[i % 3].url, await anchorTx(device));
        assert.equal(r.body?.status, "committed", JSON.stringify(r.body));
      }
      const first = await leaderOf(cluster);
      const follower = cluster.sites[(first.index + 1) % 3];

      // Asked of a follower, member list finds the leader and shows its progress of each member.
      const listed = await members(follower.url);
      assert.equal(listed.leader, first.status.site);
      assert.equal(listed.fromLeader, true);
      assert.equal(listed.site, cluster.sites[first.index].url);
      assert.deepEqual(
        listed.members.map((m) => [m.name, m.role, m.url, m.leader]),
        cluster.sites.map((s) => [s.name, "voter", s.url, s.name === first.status.site]),
      );
      assert.ok(listed.members.every((m) => typeof m.match === "number" && m.match > 0));
      const table = ok(await cli(["member", "list", "--url", follower.url])).stdout;
      assert.match(table, /^NAME {4}ROLE {3}LEADER {2}URL/);
      assert.match(table, new RegExp(`^${first.status.site} +voter +yes +http`, "m"));
      assert.match(
        table,
        new RegExp(`^Leader ${first.status.site}, term \\d+, commit index \\d+$`, "m"),
      );

      // A new PoP: its key file as task sitekey writes it, its config, started, then added.
      const port = Number(new URL(cluster.sites[2].url).port) + 1;
      const publicKey = await cluster.addSiteConfig("site-d", port);
      const keyFile = `${cluster.dir}/site-d/site-key.json`;
      const d = await cluster.startConfig("site-d", `${cluster.dir}/site-d/site.json`);
      const add = ok(
        await cli([
          "member",
          "add",
          "site-d",
          "--peer-url",
          d.url,
          "--key-file",
          keyFile,
          ...admin,
          "--url",
          follower.url,
        ]),
      );
      assert.equal(add.stdout, `Added site-d (${d.url}) as a learner, public key ${publicKey}\n`);
      const { d: secret } = JSON.parse(await Deno.readTextFile(keyFile));
      assert.ok(!add.stdout.includes(secret) && !add.stderr.includes(secret));

      // It catches up: the leader's match index of it reaches the commit index, and
      // its snapshot is installed (member list names a learner still catching up by snapshot).
      const caughtUp = await waitFor("site-d to catch up", async () => {
        const view = await members(cluster.sites[0].url);
        const row = view.members.find((m) => m.name === "site-d");
        return view.fromLeader && row?.role === "learner" && row.lag === 0 && !row.catchingUp
          ? row
          : undefined;
      }, 60_000);
      assert.equal(caughtUp.url, d.url);

      const promote = ok(await cli(["member", "promote", "site-d", ...admin, "--url", d.url]));
      assert.equal(promote.stdout, "Promoted site-d to voter\n");
      assert.equal(
        (await members(follower.url)).members.find((m) => m.name === "site-d")?.role,
        "voter",
      );

      // The PoP moves: the cluster learns its new URL, then it restarts there.
      const movedUrl = `http://127.0.0.1:${closedPort()}`;
      const move = ok(
        await cli(["member", "update", "site-d", "--peer-url", movedUrl, ...admin, "--url", d.url]),
      );
      assert.equal(move.stdout, `Moved site-d to ${movedUrl}\n`);
      const dIndex = cluster.sites.indexOf(d);
      await cluster.kill(dIndex, "SIGTERM");
      const dConfig = JSON.parse(await Deno.readTextFile(d.configPath));
      dConfig.url = movedUrl;
      dConfig.port = Number(new URL(movedUrl).port);
      await Deno.writeTextFile(d.configPath, JSON.stringify(dConfig, null, 2));
      d.url = movedUrl;
      await cluster.start(dIndex);
      for (const site of cluster.sites) {
        const listed = await waitFor(`${site.name} to list site-d's new URL`, async () => {
          const view = await getSites(site.url);
          return view?.find((m) => m.name === "site-d")?.url === movedUrl ? view : undefined;
        }, 15_000);
        assert.ok(listed);
      }
      // Reached there: it takes writes, which the leader replicates back to it.
      const viaMoved = await submitCommit(movedUrl, await anchorTx(device));
      assert.equal(viaMoved.body?.status, "committed", JSON.stringify(viaMoved.body));
      assert.equal(
        ok(
          await cli([
            "member",
            "update",
            "site-d",
            "--peer-url",
            movedUrl,
            ...admin,
            "--url",
            cluster.sites[0].url,
          ]),
        ).stdout,
        `site-d is at ${movedUrl} already: nothing changed\n`,
        "the URL it has already: nothing changes, and it says so",
      );

      const leaderNow = (await leaderOf(cluster)).status.site;
      const transfer = ok(
        await cli(["leader", "transfer", "site-d", ...admin, "--url", follower.url]),
      );
      assert.equal(transfer.stdout, `Leadership moved from ${leaderNow} to site-d\n`);
      const afterTransfer = await members(cluster.sites[0].url);
      assert.equal(afterTransfer.leader, "site-d");
      assert.equal(afterTransfer.site, d.url);
      assert.equal(
        ok(await cli(["leader", "transfer", "site-d", ...admin, "--url", d.url])).stdout,
        "site-d leads already\n",
      );

      // Removing the leader itself: it steps down once its removal commits.
      const remove = ok(
        await cli(["member", "remove", "site-d", ...admin, "--url", cluster.sites[0].url]),
      );
      assert.equal(remove.stdout, "Removed site-d from the cluster\n");
      const next = await leaderOf(cluster, "site-d");
      const finalView = await waitFor("a member list without site-d", async () => {
        const view = await members(cluster.sites[0].url);
        return view.fromLeader && view.leader === next.status.site ? view : undefined;
      }, 30_000);
      assert.deepEqual(finalView.members.map((m) => m.name), ["site-a", "site-b", "site-c"]);
      // It applied its own removal: it says so, and takes no part any more.
      await waitFor("site-d to say it was removed", async () => {
        const st = await (await fetch(`${d.url}/v1/status`)).json();
        return st.removed === true || undefined;
      }, 15_000);
      // Its member list is its view from then: no trust file is made from it.
      const stale = await cli(["trust", "init", "--url", d.url, "--out", `${cluster.dir}/t.json`]);
      assert.equal(stale.code, 1, stale.stderr);
      assert.match(
        stale.stderr,
        /^Cannot build the trust file: site-d \(.*\) was removed from the/,
      );
      await assert.rejects(Deno.stat(`${cluster.dir}/t.json`), Deno.errors.NotFound);
      // The cluster goes on without it.
      const r = await submitCommit(cluster.sites[0].url, await anchorTx(device));
      assert.equal(r.body?.status, "committed", JSON.stringify(r.body));
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test({
  name:
    "cli admin: a wrong admin key exits 1 with the site's forbidden problem and changes nothing; a missing one exits 2; a key pasted as --admin-key-file is refused without being echoed; a name that is no member exits 1 with not_found (3 sites)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(3);
    try {
      await leaderOf(cluster);
      const url = cluster.sites[1].url;
      const wrongFile = `${cluster.dir}/wrong-admin-key.txt`;
      await Deno.writeTextFile(wrongFile, "x".repeat(32) + "\n", { mode: 0o600 });
      const before = await members(url);

      const viaFile = await cli([
        "member",
        "remove",
        "site-c",
        "--admin-key-file",
        wrongFile,
        "--url",
        url,
      ]);
      assert.equal(viaFile.code, 1, viaFile.stderr);
      assert.match(
        viaFile.stderr,
        /^Cannot remove site site-c: unauthorized \(401\): This is no admin API key of this site \[http:\/\/127\.0\.0\.1:\d+, request [0-9a-f-]+\]\n$/,
      );
      const viaEnv = await cli(["leader", "transfer", "site-c", "--url", url], {
        env: { EDGELEDGER_ADMIN_KEY: "y".repeat(32) },
      });
      assert.equal(viaEnv.code, 1, viaEnv.stderr);
      assert.match(viaEnv.stderr, /^Cannot hand leadership to site-c: unauthorized \(401\): /);
      const backup = await cli([
        "backup",
        "--out",
        `${cluster.dir}/copy.db`,
        "--admin-key-file",
        wrongFile,
        "--url",
        url,
      ]);
      assert.equal(backup.code, 1, backup.stderr);
      assert.match(backup.stderr, /^Cannot download a backup: unauthorized \(401\): /);
      await assert.rejects(Deno.stat(`${cluster.dir}/copy.db`), Deno.errors.NotFound);

      const missing = await cli(["member", "promote", "site-c", "--url", url]);
      assert.equal(missing.code, 2, missing.stderr);
      assert.equal(
        missing.stderr,
        "Missing the admin key: pass --admin-key-file FILE or set $EDGELEDGER_ADMIN_KEY; see " +
          "'edgeledger member promote --help'\n",
      );
      // The key pasted where its file's path goes: refused before any request, never echoed.
      const pastedKey = "k3Y_pasted-in-place-of-a-path0123";
      const pasted = await cli([
        "member",
        "promote",
        "site-c",
        "--admin-key-file",
        pastedKey,
        "--url",
        url,
      ]);
      assert.equal(pasted.code, 2, pasted.stderr);
      assert.match(pasted.stderr, /^--admin-key-file takes the path of a file that holds the key/);
      assert.doesNotMatch(pasted.stderr, new RegExp(pastedKey));
      // A missing file that is a path is named, as any missing input is.
      const typo = await cli([
        "member",
        "promote",
        "site-c",
        "--admin-key-file",
        `${cluster.dir}/no-such-key.txt`,
        "--url",
        url,
      ]);
      assert.equal(typo.code, 1, typo.stderr);
      assert.match(typo.stderr, /^Cannot read the admin key file \S+\/no-such-key\.txt: /);
      // The right key, a name that is no member: 404 not_found, said as such.
      const unknown = await cli(["member", "remove", "site-z", "--url", url], {
        env: { EDGELEDGER_ADMIN_KEY: cluster.adminKey },
      });
      assert.equal(unknown.code, 1, unknown.stderr);
      assert.match(
        unknown.stderr,
        /^Cannot remove site site-z: not_found \(404\): Site site-z is not a member \[/,
      );
      for (const run of [viaFile, viaEnv, backup, missing, pasted, typo, unknown]) {
        assert.equal(run.stdout, "");
        assert.doesNotMatch(run.stderr, /\n\s+at /);
      }
      const after = await members(url);
      assert.deepEqual(
        after.members.map((m) => [m.name, m.role]),
        before.members.map((m) => [m.name, m.role]),
      );
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test({
  name:
    "cli admin: backup writes a copy of a cluster site that the backup verifier accepts, at the height and head it printed, and refuses an existing --out without --force (3 sites)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(3);
    try {
      await leaderOf(cluster);
      for (let i = 0; i < 4; i++) {
        const r = await submitCommit(cluster.sites[i % 3].url, await anchorTx(device));
        assert.equal(r.body?.status, "committed", JSON.stringify(r.body));
      }
      const site = cluster.sites[2];
      const { genesis } = await loadSiteConfig(site.configPath);
      const out = `${cluster.dir}/backups/site-c.db`;
      await Deno.mkdir(`${cluster.dir}/backups`);
      const admin = ["--admin-key-file", `${cluster.dir}/admin-api-key.txt`];
      const r = ok(await cli(["backup", "--out", out, ...admin, "--url", site.url, "--json"]));
      const printed = JSON.parse(r.stdout);
      assert.equal(printed.file, out);
      assert.equal(printed.site, site.url);
      assert.match(printed.filename, /^demo-site-c-\d+\.db$/);
      assert.equal(printed.bytes, (await Deno.stat(out)).size);
      assert.equal((await Deno.stat(out)).mode! & 0o777, 0o600);

      const { info, report } = await verifyCopyFile(out, genesis);
      assert.equal(report.ok, true, report.firstMismatch);
      assert.ok(info.height >= 4, `height ${info.height}`);
      assert.equal(info.height, printed.height);
      assert.equal(info.head, printed.head);
      assert.equal(info.appliedIndex, printed.appliedIndex);
      assert.equal((await blockHashes(site.url))[info.height], info.head);

      const again = await cli(["backup", "--out", out, ...admin, "--url", site.url]);
      assert.equal(again.code, 2);
      assert.equal(
        again.stderr,
        `Cannot write the backup ${out}: it exists (pass --force to replace it)\n`,
      );
      const forced = ok(
        await cli(["backup", "--out", out, "--force", ...admin, "--url", site.url]),
      );
      assert.match(
        forced.stdout,
        new RegExp(
          `^Wrote the backup of ${site.url} to ${out}: height \\d+, head [0-9a-f]{64}, applied index \\d+, \\d+ bytes\\n$`,
        ),
      );
      assert.equal((await verifyCopyFile(out, genesis)).report.ok, true);
      assert.deepEqual(
        (await Array.fromAsync(Deno.readDir(`${cluster.dir}/backups`))).map((e) => e.name),
        ["site-c.db"],
      );
    } finally {
      await cluster.stop();
    }
  },
});
