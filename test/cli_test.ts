/**
 * The developer command line (`workers/cli.ts`) end to end: each command
 * runs as its own process (`deno run` with the task's permissions) against
 * a real one-site ledger on 127.0.0.1, started and stopped here.
 */
import assert from "node:assert/strict";
import { canonicalJson } from "../sdk/canonical_json.ts";
import { base64urlEncode } from "../sdk/encoding.ts";
import { parseEnvelope, transactionId } from "../sdk/envelope.ts";
import { generateKeyPair, importKey } from "../sdk/keys.ts";
import { verifierKey } from "../sdk/note.ts";
import { anchorTx } from "./_helpers.ts";
import { closedPort, startCluster, statuses, submitCommit, waitFor } from "./_cluster.ts";
import { CLI, cli, type CliRun, ok, ROOT, TASK_PERMISSIONS } from "./_cli.ts";
import { startLocalSite } from "./sdk_site_helpers.ts";

/**
 * A proxy in front of `target` that records each request's path, query and
 * Authorization header, to see what the command line sent. GET only.
 */
function recordingProxy(target: string) {
  const seen: { path: string; query: URLSearchParams; authorization: string | null }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    seen.push({
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.get("authorization"),
    });
    const headers = new Headers(req.headers);
    headers.delete("host");
    const upstream = await fetch(target + url.pathname + url.search, { headers });
    return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    close: () => server.shutdown(),
  };
}

/**
 * Runs `watch` with `args` until its standard output satisfies `done` (20 s
 * at most), then Ctrl-C; resolves to what it printed and its exit code.
 */
async function watchUntil(
  args: string[],
  env: Record<string, string>,
  done: (stdout: string) => boolean,
): Promise<CliRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...TASK_PERMISSIONS, CLI, "watch", ...args],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stdout = "";
  let stderr = "";
  const pumps = Promise.all([
    (async () => {
      for await (const s of child.stdout.pipeThrough(new TextDecoderStream())) stdout += s;
    })(),
    (async () => {
      for await (const s of child.stderr.pipeThrough(new TextDecoderStream())) stderr += s;
    })(),
  ]);
  try {
    const deadline = Date.now() + 20_000;
    while (!done(stdout)) {
      if (Date.now() > deadline) throw new Error(`watch printed: ${stdout}${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.kill("SIGINT");
  }
  const status = await child.status;
  await pumps;
  return { code: status.code, stdout, stderr };
}

/** Asserts `code` and that stderr is exactly one line (no stack trace). */
function failsWith(run: CliRun, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
  assert.doesNotMatch(run.stderr, /\n\s+at /);
  assert.match(run.stderr.trimEnd(), pattern);
}

Deno.test("cli: a developer's round trip against a one-site ledger", async (t) => {
  // A short minHeight wait: one step asks for a block that will not come.
  const { site, dataDir, cleanup } = await startLocalSite({}, { minHeightWaitMs: 300 });
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-cli-" });
  const env = { EDGELEDGER_URL: site.url };
  const key = `${dir}/device.json`;
  const now = Date.now();
  const anchor = (seq: number) =>
    JSON.stringify({
      stream: "cli/truck-17",
      seq,
      root: "ab".repeat(32),
      count: 1,
      from: now,
      to: now,
    });
  let txId = "";
  try {
    await t.step("key new writes a 0600 private key file and prints its did:key", async () => {
      const r = ok(await cli(["key", "new", "--out", key], { env }));
      const did = r.stdout.trim();
      assert.equal(importKey(JSON.parse(await Deno.readTextFile(key))).did, did);
      assert.equal((await Deno.stat(key)).mode! & 0o777, 0o600);
      const shown = ok(await cli(["key", "show", key, "--json"], { env }));
      assert.equal(JSON.parse(shown.stdout).did, did);
    });

    await t.step(
      "tx sign data.anchor takes the ledger from the site and prints the txId",
      async () => {
        const r = ok(
          await cli(
            [
              "tx",
              "sign",
              "data.anchor",
              "--key",
              key,
              "--payload",
              anchor(0),
              "--out",
              `${dir}/tx.json`,
            ],
            { env },
          ),
        );
        const envelope = parseEnvelope(JSON.parse(await Deno.readTextFile(`${dir}/tx.json`)));
        assert.equal(envelope.ledger, "demo");
        txId = r.stdout.trim();
        assert.equal(txId, transactionId(envelope));
      },
    );

    await t.step("tx submit --wait prints the committed receipt", async () => {
      const r = ok(await cli(["tx", "submit", `${dir}/tx.json`, "--wait"], { env }));
      assert.match(
        r.stdout,
        new RegExp(`^${txId} committed at height \\d+, log index 0: applied\n$`),
      );
    });

    await t.step(
      "tx submit reads standard input, and --json prints a receipt that parses",
      async () => {
        const signed = ok(
          await cli(["tx", "sign", "data.anchor", "--key", key, "--payload", anchor(1)], { env }),
        );
        const r = ok(
          await cli(["tx", "submit", "-", "--wait", "--json"], { env, stdin: signed.stdout }),
        );
        const receipt = JSON.parse(r.stdout);
        assert.equal(receipt.status, "committed");
        assert.equal(receipt.logIndex, 1);
        assert.equal(signed.stderr, `txId ${receipt.txId}\n`);
      },
    );

    await t.step("tx get --json prints exactly the JSON the site answered", async () => {
      const r = ok(await cli(["tx", "get", txId, "--json", "--consistency", "leader"], { env }));
      const direct = await (await fetch(`${site.url}/v1/txs/${txId}`)).text();
      assert.equal(r.stdout, direct + "\n");
      const human = ok(await cli(["tx", "get", txId], { env }));
      assert.match(human.stdout, /^txId +[0-9a-f]{64}\nstatus +committed\n/);
    });

    await t.step("status, sites and checkpoint print what the site serves", async () => {
      const status = JSON.parse(ok(await cli(["status", "--json"], { env })).stdout);
      assert.equal(status.role, "leader");
      const sites = ok(await cli(["sites", "--json"], { env }));
      assert.equal(sites.stdout, (await (await fetch(`${site.url}/v1/sites`)).text()) + "\n");
      const note = ok(await cli(["checkpoint"], { env }));
      assert.match(note.stdout, /^edgeledger\.local\/demo\n\d+\n/);
      assert.match(note.stdout, /\n— site-a \S+\n$/);
      const parsed = JSON.parse(ok(await cli(["checkpoint", "--json"], { env })).stdout);
      assert.deepEqual(parsed.signatures, ["site-a"]);
    });

    await t.step("proof writes a self-contained bundle of the transaction", async () => {
      const r = ok(await cli(["proof", txId, "--out", `${dir}/bundle.json`], { env }));
      assert.match(r.stdout, /log index 0 \(block \d+\) in the checkpoint of 2 transactions/);
      const bundle = JSON.parse(await Deno.readTextFile(`${dir}/bundle.json`));
      assert.equal(bundle.txId, txId);
      assert.equal(bundle.proof.proof.length, 1);
    });

    await t.step("proof --out refuses an existing file (exit 2); --force replaces it", async () => {
      await Deno.writeTextFile(`${dir}/old.json`, "stale");
      failsWith(
        await cli(["proof", txId, "--out", `${dir}/old.json`], { env }),
        2,
        /^Cannot write the proof bundle .*old\.json: it exists \(pass --force to replace it\)$/,
      );
      assert.equal(await Deno.readTextFile(`${dir}/old.json`), "stale");
      ok(await cli(["proof", txId, "--out", `${dir}/old.json`, "--force"], { env }));
      assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/old.json`)).txId, txId);
      assert.ok(![...Deno.readDirSync(dir)].some((e) => e.name.includes(".tmp-")));
    });

    await t.step(
      "trust init --url writes the site's keys and says it is trust on first use",
      async () => {
        const r = ok(
          await cli(["trust", "init", "--url", site.url, "--out", `${dir}/trust-url.json`], {
            env,
          }),
        );
        assert.match(
          r.stdout,
          /1 site key\(s\) \(site-a\), quorum 1, origin edgeledger\.local\/demo/,
        );
        assert.match(r.stderr, /trust on first use/);
      },
    );

    await t.step("trust init --genesis trusts the same keys as the site serves", async () => {
      ok(
        await cli(
          ["trust", "init", "--genesis", `${dataDir}/genesis.json`, "--out", `${dir}/trust.json`],
          { env },
        ),
      );
      assert.deepEqual(
        JSON.parse(await Deno.readTextFile(`${dir}/trust.json`)),
        JSON.parse(await Deno.readTextFile(`${dir}/trust-url.json`)),
      );
    });

    // verify runs without network permission: it cannot reach anything.
    const offline = ["--allow-read"];

    await t.step("verify proves a bundle offline (no network permission) and exits 0", async () => {
      const r = ok(
        await cli(["verify", `${dir}/bundle.json`, "--trust", `${dir}/trust.json`], {
          permissions: offline,
        }),
      );
      assert.match(
        r.stdout,
        new RegExp(
          `^Transaction ${txId} is in ledger edgeledger\\.local/demo at log index 0 \\(block \\d+\\), ` +
            "applied\\.\n" +
            "Proven against the checkpoint of 2 transactions at height \\d+, signed by 1 trusted " +
            "site\\(s\\) \\(site-a; quorum 1\\)\\.\n" +
            "No earlier checkpoint was compared: verify keeps no state between runs, .*\n$",
        ),
      );
      // What a stateful light client would say is not what a stateless check did.
      assert.doesNotMatch(r.stdout, /first checkpoint this client trusts/);
      const json = ok(
        await cli(["verify", `${dir}/bundle.json`, "--trust", `${dir}/trust.json`, "--json"], {
          permissions: offline,
        }),
      );
      const verdict = JSON.parse(json.stdout);
      assert.equal(verdict.ok, true);
      assert.equal(verdict.blockVerified, true);
      assert.equal(verdict.checkpointConsistency, "unchecked");
      assert.equal(verdict.message, r.stdout.trim().replaceAll("\n", " "));
    });

    await t.step(
      "verify refuses a bundle with a tampered audit path: exit 1, the reason",
      async () => {
        const bundle = JSON.parse(await Deno.readTextFile(`${dir}/bundle.json`));
        const node: string = bundle.proof.proof[0];
        bundle.proof.proof[0] = node.slice(0, -1) + (node.endsWith("0") ? "1" : "0");
        await Deno.writeTextFile(`${dir}/tampered.json`, JSON.stringify(bundle));
        const r = await cli(["verify", `${dir}/tampered.json`, "--trust", `${dir}/trust.json`], {
          permissions: offline,
        });
        failsWith(r, 1, /^Cannot verify transaction [0-9a-f]{64}: .*\(inclusion_proof_invalid\)$/);
        assert.equal(r.stdout, "");
      },
    );

    await t.step(
      "verify refuses a bundle whose receipt was edited: exit 1, receipt_mismatch",
      async () => {
        const bundle = JSON.parse(await Deno.readTextFile(`${dir}/bundle.json`));
        bundle.receipt.result.status = "rejected";
        const r = await cli(["verify", "-", "--trust", `${dir}/trust.json`], {
          permissions: offline,
          stdin: JSON.stringify(bundle),
        });
        failsWith(r, 1, /\(receipt_mismatch\)$/);
      },
    );

    await t.step(
      "verify with a trust file lacking the ledger's sites fails the quorum",
      async () => {
        const stranger = verifierKey("site-a", generateKeyPair("ed25519").publicKey);
        await Deno.writeTextFile(
          `${dir}/stranger.json`,
          canonicalJson({
            v: 1,
            origin: "edgeledger.local/demo",
            quorum: 1,
            trustedKeys: [stranger],
          }),
        );
        const r = await cli(["verify", `${dir}/bundle.json`, "--trust", `${dir}/stranger.json`], {
          permissions: offline,
        });
        // Its site-a key is not the one site-a signs with: as after a rotation, it says what to run.
        failsWith(
          r,
          1,
          /validly signed by 0 trusted site\(s\).*\(checkpoint_quorum_not_met\); site-a signed with a key the trust file does not hold: .*run trust update .*stranger\.json$/,
        );
      },
    );

    await t.step(
      "verify --state keeps the largest checkpoint it verified and holds each bundle's to it: the same tree offline, a larger or an older one by the site's consistency proof, a fork refused with the file left as it was",
      async () => {
        const state = `${dir}/state.json`;
        const run = (bundle: string, flags: string[], permissions?: string[]) =>
          cli(["verify", `${dir}/${bundle}`, "--trust", `${dir}/trust.json`, ...flags], {
            env,
            permissions,
          });
        const verify = (bundle: string, permissions?: string[], json = true) =>
          run(bundle, ["--state", state, ...(json ? ["--json"] : [])], permissions);
        // The files and the environment, no network: the lock on the file reads its settings there.
        const files = ["--allow-read", "--allow-write", "--allow-env"];
        const kept = async () => JSON.parse(await Deno.readTextFile(state));

        // The first run has nothing to compare with, and keeps the checkpoint; no site is asked.
        const first = JSON.parse(ok(await verify("bundle.json", files)).stdout);
        assert.equal(first.checkpointConsistency, "unchecked");
        assert.match(first.message, /state\.json held none\. It holds this one now/);
        const two = await kept();
        assert.equal(two.size, 2);
        const same = ok(await verify("bundle.json", files, false));
        assert.match(same.stdout, /It is the same tree as the checkpoint in .*state\.json\.\n$/);

        // A later transaction's bundle: a larger tree, which the site's consistency proof links.
        const signed = ok(
          await cli(["tx", "sign", "data.anchor", "--key", key, "--payload", anchor(2)], { env }),
        );
        ok(await cli(["tx", "submit", "-", "--wait"], { env, stdin: signed.stdout }));
        const later = signed.stderr.trim().replace(/^txId /, "");
        ok(await cli(["proof", later, "--out", `${dir}/bundle3.json`], { env }));
        failsWith(
          await verify("bundle3.json", files),
          2,
          /^Cannot connect to http:\/\/127\.0\.0\.1:\d+: it needs the net permission/,
        );
        assert.deepEqual(await kept(), two, "a run that could not check leaves the file");
        const extended = JSON.parse(ok(await verify("bundle3.json")).stdout);
        assert.equal(extended.checkpointConsistency, "extends", extended.message);
        assert.match(extended.message, /state\.json now replaces with it\.$/);
        const three = await kept();
        assert.equal(three.size, 3);
        // The first bundle again: an older tree, which the kept one extends; the file keeps the larger.
        const older = JSON.parse(ok(await verify("bundle.json")).stdout);
        assert.equal(older.checkpointConsistency, "prefix");
        assert.deepEqual(await kept(), three);

        // Kept from another history: a different root at the same size is a fork; a larger
        // tree the bundle's is not a prefix of fails its consistency proof. The file stays.
        const other = { ...three, rootHash: "00".repeat(32) };
        await Deno.writeTextFile(state, JSON.stringify(other));
        failsWith(await verify("bundle3.json", undefined, false), 1, /\(checkpoint_fork\)$/);
        failsWith(
          await verify("bundle.json", undefined, false),
          1,
          /not provably an extension .*\(consistency_proof_invalid\)$/,
        );
        assert.deepEqual(await kept(), other);

        failsWith(
          await run("bundle.json", ["--state", `${dir}/bundle.json/state.json`]),
          2,
          /^Cannot use the state file .*bundle\.json\/state\.json: .*bundle\.json is not a folder$/,
        );
        await Deno.writeTextFile(state, "{}");
        failsWith(
          await verify("bundle.json", files),
          1,
          /^Cannot use the state file .*state\.json: missing or malformed fields$/,
        );
        failsWith(
          await run("bundle.json", ["--url", site.url]),
          2,
          /^Flag --url needs --state: without it verify asks no site; see 'edgeledger verify --help'$/,
        );
      },
    );

    await t.step(
      "tx submit of an expired envelope exits 1 with the site's problem type",
      async () => {
        const expired = await anchorTx(generateKeyPair(), { expiresAt: Date.now() - 60_000 });
        await Deno.writeTextFile(`${dir}/expired.json`, JSON.stringify(expired));
        const r = await cli(["tx", "submit", `${dir}/expired.json`], { env });
        failsWith(
          r,
          1,
          new RegExp(
            `^Cannot submit transaction ${
              transactionId(expired)
            }: expired \\(422\\): .*\\[${site.url}, request \\S+\\]$`,
          ),
        );
      },
    );

    await t.step(
      "tx submit of an envelope with a forged signature exits 1 with bad_signature",
      async () => {
        const envelope = await anchorTx(generateKeyPair());
        const other = await anchorTx(generateKeyPair());
        envelope.sigs = other.sigs;
        const r = await cli(["tx", "submit", "-"], { env, stdin: JSON.stringify(envelope) });
        failsWith(r, 1, /: bad_signature \(422\): /);
      },
    );

    await t.step(
      "tx get and proof of an unknown transaction exit 1, naming not_found",
      async () => {
        const unknown = "ee".repeat(32);
        failsWith(await cli(["tx", "get", unknown], { env }), 1, /: not_found \(404\): /);
        // The SDK's reason without its "Cannot verify transaction …:" (Verdict.detail).
        failsWith(
          await cli(["proof", unknown], { env }),
          1,
          new RegExp(
            `^Cannot fetch the proof of transaction ${unknown}: the site does not know this ` +
              "transaction \\(tx_not_found\\)$",
          ),
        );
      },
    );

    await t.step("usage errors exit 2 with one line", async () => {
      failsWith(await cli(["tx", "sign"], { env }), 2, /^Missing <kind>/);
      failsWith(await cli(["tx", "submit", "--nope"], { env }), 2, /^Unknown flag --nope/);
      failsWith(await cli(["tx", "get", "xyz"], { env }), 2, /is not a transaction id/);
      failsWith(await cli(["proof", txId, "--timeout", "soon"], { env }), 2, /--timeout must be/);
    });

    await t.step("watch prints committed blocks and transactions, and Ctrl-C exits 0", async () => {
      const line = `  tx ${txId} data.anchor log index 0: applied`;
      const r = await watchUntil(["--from", "0"], env, (out) => out.includes(line));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^block 0 [0-9a-f]{64} 0 txs /);
      // Said once: a connection that holds prints nothing more.
      assert.equal(r.stderr, `Watching ${site.url} from height 0\n`);
    });

    await t.step("watch --kinds prints only blocks with a transaction of those kinds", async () => {
      const line = `  tx ${txId} data.anchor log index 0: applied`;
      const r = await watchUntil(
        ["--from", "0", "--kinds", "data.anchor"],
        env,
        (out) => out.includes(line),
      );
      assert.equal(r.code, 0, r.stderr);
      // The genesis block holds no data.anchor: left out, unlike without --kinds.
      assert.doesNotMatch(r.stdout, /^block 0 /m);
      assert.match(r.stdout, /^block \d+ [0-9a-f]{64} 1 tx /);
      for (const tx of r.stdout.split("\n").filter((l) => l.startsWith("  tx "))) {
        assert.match(tx, / data\.anchor log index /);
      }
    });

    await t.step(
      "--url repeats for failover, and so does EDGELEDGER_URL (comma-separated)",
      async () => {
        const down = `http://127.0.0.1:${closedPort()}`;
        const flags = ok(await cli(["status", "--url", down, "--url", site.url], { env: {} }));
        assert.match(flags.stdout, new RegExp(`^site +site-a \\(${site.url}\\)\n`));
        const fromEnv = ok(
          await cli(["status"], { env: { EDGELEDGER_URL: `${down}, ${site.url}` } }),
        );
        assert.match(fromEnv.stdout, new RegExp(`^site +site-a \\(${site.url}\\)\n`));
      },
    );

    await t.step("the API key comes from --api-key, else EDGELEDGER_API_KEY", async () => {
      const proxy = recordingProxy(site.url);
      try {
        ok(await cli(["status", "--url", proxy.url], { env: { EDGELEDGER_API_KEY: "k-env" } }));
        ok(
          await cli(["sites", "--url", proxy.url, "--api-key", "k-flag"], {
            env: { EDGELEDGER_API_KEY: "k-env" },
          }),
        );
        ok(await cli(["status", "--url", proxy.url], { env: {} }));
        assert.deepEqual(proxy.seen.map((r) => [r.path, r.authorization]), [
          ["/v1/status", "Bearer k-env"],
          ["/v1/sites", "Bearer k-flag"],
          ["/v1/status", null],
        ]);
      } finally {
        await proxy.close();
      }
    });

    await t.step("tx get and checkpoint send --consistency to the site", async () => {
      const proxy = recordingProxy(site.url);
      try {
        ok(await cli(["tx", "get", txId, "--consistency", "linearizable", "--url", proxy.url]));
        ok(await cli(["checkpoint", "--consistency", "leader", "--url", proxy.url]));
        ok(await cli(["tx", "get", txId, "--url", proxy.url]));
        assert.deepEqual(proxy.seen.map((r) => [r.path, r.query.get("consistency")]), [
          [`/v1/txs/${txId}`, "linearizable"],
          ["/v1/checkpoint", "leader"],
          [`/v1/txs/${txId}`, null],
        ]);
      } finally {
        await proxy.close();
      }
    });

    await t.step(
      "tx get and checkpoint send --min-height; a height the site does not reach exits 1 naming it",
      async () => {
        const proxy = recordingProxy(site.url);
        try {
          const { height } = await (await fetch(`${site.url}/v1/status`)).json();
          ok(await cli(["tx", "get", txId, "--min-height", String(height), "--url", proxy.url]));
          ok(await cli(["checkpoint", "--min-height", "0", "--url", proxy.url]));
          assert.deepEqual(proxy.seen.map((r) => [r.path, r.query.get("minHeight")]), [
            [`/v1/txs/${txId}`, String(height)],
            ["/v1/checkpoint", null],
          ]);
          // A height the site will not reach: its 503 after the wait, exit 1 naming the height.
          const far = await cli([
            "checkpoint",
            "--min-height",
            String(height + 1000),
            "--url",
            site.url,
          ]);
          assert.equal(far.code, 1, far.stderr);
          assert.match(far.stderr, new RegExp(`not ${height + 1000}`));
          const bad = await cli(["tx", "get", txId, "--min-height", "-1", "--url", site.url]);
          assert.equal(bad.code, 2);
          assert.match(bad.stderr, /Flag --min-height must be a whole number/);
        } finally {
          await proxy.close();
        }
      },
    );
  } finally {
    await cleanup();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "cli against a follower given as the only --url: proof of a transaction it does not know says tx_not_found (the follower's 404, not the leader retry's not_leader); tx get and checkpoint --consistency leader name the leader and the --url to use (3 sites)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(3);
    try {
      const leader = await waitFor("a leader", async () => {
        const st = await statuses(cluster);
        const i = st.findIndex((s) => s?.role === "leader");
        return i >= 0 ? { index: i, name: st[i]!.site } : undefined;
      }, 30_000);
      const committed = await submitCommit(
        cluster.sites[leader.index].url,
        await anchorTx(generateKeyPair()),
      );
      assert.equal(committed.body?.status, "committed", JSON.stringify(committed.body));
      const leaderUrl = cluster.sites[leader.index].url;
      const follower = cluster.sites[(leader.index + 1) % 3].url;
      const unknown = "ee".repeat(32);
      failsWith(
        await cli(["proof", unknown, "--url", follower, "--timeout", "1s"]),
        1,
        new RegExp(
          `^Cannot fetch the proof of transaction ${unknown}: the site does not know this ` +
            "transaction \\(tx_not_found\\)$",
        ),
      );
      const where = `— the leader is ${leader.name}: pass --url ${leaderUrl} \\[`;
      failsWith(
        await cli(["tx", "get", unknown, "--consistency", "leader", "--url", follower]),
        1,
        new RegExp(`^Cannot read transaction ${unknown}: not_leader \\(503\\): .* ${where}`),
      );
      failsWith(
        await cli(["checkpoint", "--consistency", "leader", "--url", follower]),
        1,
        new RegExp(`^Cannot read the checkpoint: not_leader \\(503\\): .* ${where}`),
      );
    } finally {
      await cluster.stop();
    }
  },
});

Deno.test("cli: a site that does not answer exits 1 with one line naming its URL", async () => {
  const url = `http://127.0.0.1:${closedPort()}`;
  const r = await cli(["status", "--url", url]);
  failsWith(r, 1, new RegExp(`^Cannot read the site's status: Cannot reach ${url}`));
});

Deno.test("cli: run without --allow-env, EDGELEDGER_* read as unset: no prompt, no stack trace", async () => {
  const url = `http://127.0.0.1:${closedPort()}`;
  const r = await cli(["status", "--url", url], {
    permissions: ["--allow-net", "--allow-read", "--allow-write"],
    env: { EDGELEDGER_API_KEY: "k" },
  });
  failsWith(r, 1, new RegExp(`^Cannot read the site's status: Cannot reach ${url}`));
});

Deno.test("cli: a Deno permission it was run without is one line naming the permission and its flag (exit 2)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-cli-" });
  try {
    const url = `http://127.0.0.1:${closedPort()}`;
    const noNet = { permissions: ["--allow-read", "--allow-write", "--allow-env"] };
    const net = (s: string) =>
      new RegExp(
        `^Cannot connect to ${s}: it needs the net permission \\(run deno with --allow-net, as ` +
          "task cli does\\)$",
      );
    failsWith(await cli(["status", "--url", url], noNet), 2, net(url));
    // The event stream, unlike other requests, would pass Deno's error on as is.
    failsWith(await cli(["watch", "--from", "0", "--url", url], noNet), 2, net(url));
    failsWith(await cli(["proof", "ab".repeat(32), "--url", url], noNet), 2, net(url));

    const key = `${dir}/k.json`;
    ok(await cli(["key", "new", "--out", key]));
    failsWith(
      await cli(["key", "show", key], { permissions: ["--allow-env"] }),
      2,
      /^Cannot read the key file .*k\.json: it needs the read permission \(run deno with --allow-read, as task cli does\)$/,
    );
    failsWith(
      await cli(["key", "new", "--out", `${dir}/new.json`], {
        permissions: ["--allow-read", "--allow-env"],
      }),
      2,
      /^Cannot write the key file .*new\.json: it needs the write permission \(run deno with --allow-write, as task cli does\)$/,
    );
    failsWith(
      await cli(["key", "new", "--out", `${dir}/new.json`], { permissions: ["--allow-env"] }),
      2,
      /: it needs the write and read permissions \(run deno with --allow-write --allow-read, as task cli does\)$/,
    );
    failsWith(
      await cli(["tx", "sign", "data.anchor", "--key", key, "--payload", "{}", "--ledger", "x"], {
        permissions: [],
      }),
      2,
      /^Cannot read the key file .*: it needs the read permission/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["k.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: relative paths are the user's folder: INIT_CWD under deno task, else the working folder", async () => {
  const here = await Deno.makeTempDir({ prefix: "edgeledger-cli-here-" });
  const elsewhere = await Deno.makeTempDir({ prefix: "edgeledger-cli-elsewhere-" });
  try {
    // `deno run workers/cli.ts` in `here`, with an INIT_CWD an enclosing npm script left.
    ok(
      await cli(["key", "new", "--out", "direct.json"], {
        cwd: here,
        env: { INIT_CWD: elsewhere },
      }),
    );
    assert.ok((await Deno.stat(`${here}/direct.json`)).isFile);
    await assert.rejects(() => Deno.stat(`${elsewhere}/direct.json`), Deno.errors.NotFound);
    // `deno task cli` typed in `elsewhere`: the task runs in the repo, INIT_CWD names `elsewhere`.
    ok(await cli(["key", "new", "--out", "task.json"], { env: { INIT_CWD: elsewhere } }));
    assert.ok((await Deno.stat(`${elsewhere}/task.json`)).isFile);
    await assert.rejects(() => Deno.stat(`${ROOT}/task.json`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(here, { recursive: true });
    await Deno.remove(elsewhere, { recursive: true });
  }
});

Deno.test({
  name: "cli: a write cut short (the process killed mid-file) leaves no half file at the name",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "edgeledger-cli-" });
    try {
      // A genesis of 64 sites with long names makes a trust file of about 150 KB.
      const genesis = {
        origin: "edgeledger.test/demo",
        sites: Array.from({ length: 64 }, (_, i) => ({
          name: `site-${String(i).padStart(2, "0")}-${"x".repeat(2300)}`,
          publicKey: base64urlEncode(generateKeyPair().publicKey),
        })),
      };
      await Deno.writeTextFile(`${dir}/genesis.json`, JSON.stringify(genesis));
      const args = ["trust", "init", "--genesis", `${dir}/genesis.json`, "--out"];
      // Compiled and cached first, so the run below writes no cache of its own.
      ok(await cli([...args, `${dir}/warm.json`]));
      // A file size limit of 100 blocks (51 or 102 KB: 512 or 1024 bytes a block, by
      // shell), above the 32 KB of Deno's cache files: the kernel kills the process
      // (SIGXFSZ) part-way through the trust file.
      const limited = await new Deno.Command("sh", {
        args: [
          "-c",
          'ulimit -f 100 && exec "$0" run --no-prompt --no-code-cache "$@"',
          Deno.execPath(),
          ...TASK_PERMISSIONS,
          CLI,
          ...args,
          `${dir}/trust.json`,
        ],
        cwd: ROOT,
        stdout: "null",
        stderr: "null",
      }).output();
      assert.notEqual(limited.code, 0);
      const names = [...Deno.readDirSync(dir)].map((e) => e.name);
      assert.ok(!names.includes("trust.json"), "a half-written trust.json");
      // Killed while writing the temporary file (not before, in Deno's own start-up).
      assert.ok(names.some((n) => n.startsWith("trust.json.tmp-")), names.join(", "));
      // So nothing stands in the way of writing it again.
      ok(await cli([...args, `${dir}/trust.json`]));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
