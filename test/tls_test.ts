/**
 * TLS between clients, gateways and sites, with real processes on loopback
 * and certificates made at test time by the `openssl` CLI (a throwaway CA
 * and a certificate for 127.0.0.1): a lone site over HTTPS, a 3-site
 * cluster whose Raft traffic and forwards go over TLS, a site that does not
 * trust its peer's CA, the gateway over HTTPS in front of HTTPS sites, the
 * SDK through a `fetch` that trusts the CA, and TLS config errors.
 *
 * Without `openssl` the tests that need certificates are skipped, saying
 * why (the config errors that need none still run).
 *
 * @module
 */
import assert from "node:assert/strict";
import { EdgeLedgerClient } from "../sdk/client/mod.ts";
import { generateKeyPair } from "../sdk/keys.ts";
import { gatewayConfigSchema } from "../src/gateway/mod.ts";
import { initLocalLedger } from "../src/site/config.ts";
import { type RunningGateway, startGateway } from "../workers/gateway.ts";
import { anchorTx, testLogger } from "./_helpers.ts";
import {
  allAtHeight,
  basePort,
  blockHashes,
  getJson,
  spawnWorkerOnPort,
  startCluster,
  statuses,
  type TestCluster,
  waitFor,
} from "./_cluster.ts";
import { makeCa, makeCert, OPENSSL_MISSING, opensslPresent, trustingFetch } from "./_tls.ts";

if (!opensslPresent) console.warn(`tls_test: ${OPENSSL_MISSING}`);

const SITE_SCRIPT = new URL("../workers/site.ts", import.meta.url).pathname;
const GATEWAY_SCRIPT = new URL("../workers/gateway.ts", import.meta.url).pathname;

/** A temp folder with a CA and a certificate for 127.0.0.1 it signed. */
async function pki() {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-tls-" });
  const ca = await makeCa(dir, "ca");
  const site = await makeCert(dir, ca, "site");
  const trusting = trustingFetch(ca.caFile);
  return {
    dir,
    ca,
    site,
    ...trusting,
    async cleanup() {
      trusting.client.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** A test that needs certificates: skipped (and says so above) without `openssl`. */
function tlsTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !opensslPresent, sanitizeOps: false, sanitizeResources: false, fn });
}

async function submit(f: typeof fetch, url: string, body: unknown) {
  const res = await f(`${url}/v1/txs?wait=commit&timeoutMs=10000`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: await res.json() };
}

async function leaderOf(cluster: TestCluster, among = cluster.sites.length) {
  return await waitFor("a leader", async () => {
    const st = (await statuses(cluster)).slice(0, among);
    const i = st.findIndex((s) => s?.role === "leader");
    return i >= 0 ? i : undefined;
  });
}

async function metricsOf(f: typeof fetch, url: string): Promise<string> {
  return await (await f(`${url}/metrics`)).text();
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  assert.ok(m, `${name} is in the metrics`);
  return Number(m[1]);
}

tlsTest(
  "tls: a lone site over HTTPS serves /v1/status to a client that trusts its CA and is refused by one that does not (certificate error)",
  async () => {
    const p = await pki();
    const cluster = await startCluster(1, {}, [], { tls: p.site, fetch: p.fetch });
    try {
      const url = cluster.sites[0].url;
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const res = await p.fetch(`${url}/v1/status`);
      assert.equal(res.status, 200);
      const status = await res.json();
      assert.equal(status.site, "site-a");
      assert.equal(status.ledger, "demo");
      // Deno's own roots do not hold the throwaway CA.
      await assert.rejects(
        () => fetch(`${url}/v1/status`),
        (e: Error) => /certificate|UnknownIssuer/i.test(`${e.message} ${e.cause ?? ""}`),
      );
      // Plain HTTP to the TLS port gets no answer either.
      await assert.rejects(() =>
        fetch(url.replace("https:", "http:") + "/v1/status", {
          signal: AbortSignal.timeout(5000),
        })
      );
    } finally {
      await cluster.stop();
      await p.cleanup();
    }
  },
);

tlsTest(
  "tls: the SDK submits and reads back a write over HTTPS through a fetch whose Deno client trusts the CA",
  async () => {
    const p = await pki();
    const cluster = await startCluster(1, {}, [], { tls: p.site, fetch: p.fetch });
    try {
      // Web-standard SDK, Deno-specific transport: only the `fetch` knows the CA.
      const client = new EdgeLedgerClient({
        urls: [cluster.sites[0].url],
        timeoutMs: 10_000,
        fetch: p.fetch,
      });
      const receipt = await client.submit(await anchorTx(generateKeyPair("p256")), {
        wait: "commit",
      });
      assert.equal(receipt.status, "committed");
      const read = await client.getTx(receipt.txId!);
      assert.equal(read.receipt.height, receipt.height);
      // The same client without the CA cannot reach the site.
      const untrusting = new EdgeLedgerClient({
        urls: [cluster.sites[0].url],
        timeoutMs: 2000,
        retry: { attemptsMax: 1 },
      });
      await assert.rejects(() => untrusting.status());
    } finally {
      await cluster.stop();
      await p.cleanup();
    }
  },
);

tlsTest(
  "tls: a 3-site cluster with https URLs and caFile elects a leader, commits writes submitted to a follower (forwarded over TLS), catches a restarted site up by snapshot over TLS, and every site holds identical blocks",
  async () => {
    const p = await pki();
    const cluster = await startCluster(
      3,
      { snapshotEntriesMin: 10, compactKeepEntries: 2 },
      [],
      { tls: { ...p.site, caFile: p.ca.caFile }, fetch: p.fetch },
    );
    try {
      assert.ok(cluster.sites.every((s) => s.url.startsWith("https://")));
      const leader = await leaderOf(cluster);
      const follower = (leader + 1) % 3;
      const third = (leader + 2) % 3;
      const followerUrl = cluster.sites[follower].url;
      const device = generateKeyPair("ed25519");
      const first = await submit(p.fetch, followerUrl, await anchorTx(device));
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.status, "committed", JSON.stringify(first.body));
      // The follower forwarded it to the leader (an https:// peer URL).
      const followerMetrics = await metricsOf(p.fetch, followerUrl);
      assert.ok(metric(followerMetrics, "edgeledger_forwarded_txs_total") >= 1);

      // With the third site down, enough blocks that the leader compacts its
      // log past it: back, it catches up by fetching blocks from a peer.
      await cluster.kill(third);
      let height = first.body.height as number;
      for (let k = 0; k < 15; k++) {
        const r = await submit(p.fetch, followerUrl, await anchorTx(device));
        assert.equal(r.body.status, "committed", JSON.stringify(r.body));
        height = r.body.height;
      }
      await cluster.start(third);
      await waitFor("every site at the last write's height", async () => {
        const st = await statuses(cluster);
        return st.every((s) => s !== undefined && s.height >= height) || undefined;
      }, 30_000);
      const [a, b, c] = await Promise.all(
        cluster.sites.map((s) => blockHashes(s.url, p.fetch)),
      );
      assert.ok(a.length >= 17);
      assert.deepEqual(b, a, "site-b holds the same blocks as site-a");
      assert.deepEqual(c, a, "site-c holds the same blocks as site-a");
      // Raft messages went on streams over TLS, never as single requests.
      for (const s of cluster.sites) {
        const text = await metricsOf(p.fetch, s.url);
        assert.ok(metric(text, "edgeledger_peer_stream_frames_total") > 0, s.name);
        assert.match(text, /^edgeledger_peer_requests_total\{route="msg"\} 0$/m);
      }
    } finally {
      await cluster.stop();
      await p.cleanup();
    }
  },
);

tlsTest(
  "tls: a mixed cluster (site-c over https, the others plain http) commits writes submitted to every site and holds identical blocks",
  async () => {
    const p = await pki();
    // Given its own tls, site-c serves https (its url in genesis says so).
    const cluster = await startCluster(
      3,
      { caFile: p.ca.caFile },
      [{}, {}, { tls: p.site }],
      { fetch: p.fetch },
    );
    try {
      await waitFor(
        "every site up",
        async () => (await statuses(cluster)).every((s) => s !== undefined) || undefined,
      );
      assert.deepEqual(cluster.sites.map((s) => new URL(s.url).protocol), [
        "http:",
        "http:",
        "https:",
      ]);
      await leaderOf(cluster);
      const device = generateKeyPair("ed25519");
      let height = 0;
      for (const s of cluster.sites) {
        const r = await submit(p.fetch, s.url, await anchorTx(device));
        assert.equal(r.body.status, "committed", `${s.name}: ${JSON.stringify(r.body)}`);
        height = Math.max(height, r.body.height);
      }
      await waitFor("every site at the last write's height", async () => {
        const st = await statuses(cluster);
        return st.every((s) => s !== undefined && s.height >= height) || undefined;
      });
      const [a, b, c] = await Promise.all(cluster.sites.map((s) => blockHashes(s.url, p.fetch)));
      assert.deepEqual(b, a);
      assert.deepEqual(c, a);
    } finally {
      await cluster.stop();
      await p.cleanup();
    }
  },
);

tlsTest(
  "tls: a site does not connect to a peer whose certificate comes from a CA it does not trust: its streams fail, none of its messages count, and that peer stays behind",
  async () => {
    const p = await pki();
    // site-c: a certificate from another CA, and it trusts only that one.
    const rogueCa = await makeCa(p.dir, "rogue-ca");
    const rogue = await makeCert(p.dir, rogueCa, "rogue");
    const both = trustingFetch(p.ca.caFile, rogueCa.caFile);
    const cluster = await startCluster(
      3,
      {},
      [{}, {}, { tls: rogue, caFile: rogueCa.caFile }],
      { tls: { ...p.site, caFile: p.ca.caFile }, fetch: both.fetch },
    );
    try {
      const leader = await leaderOf(cluster, 2);
      const r = await submit(
        both.fetch,
        cluster.sites[leader].url,
        await anchorTx(generateKeyPair("ed25519")),
      );
      assert.equal(r.body.status, "committed", JSON.stringify(r.body));
      // Heartbeats and appends to site-c fail for a while (every 100 ms)...
      await new Promise((res) => setTimeout(res, 1500));
      const [aMetrics, cMetrics] = await Promise.all([
        metricsOf(both.fetch, cluster.sites[leader].url),
        metricsOf(both.fetch, cluster.sites[2].url),
      ]);
      assert.ok(
        metric(aMetrics, "edgeledger_raft_messages_dropped_total") > 0,
        "the leader's messages to site-c are dropped",
      );
      // ...and site-c's own (pre-vote requests) never reach anyone.
      assert.equal(metric(cMetrics, "edgeledger_raft_messages_sent_total"), 0);
      assert.ok(metric(cMetrics, "edgeledger_raft_messages_dropped_total") > 0);
      const c = await getJson<{ height: number; commitIndex: number; leader: string | null }>(
        `${cluster.sites[2].url}/v1/status`,
        2000,
        both.fetch,
      );
      assert.ok(c !== undefined);
      assert.equal(c.height, 0, "site-c applied no block");
      assert.equal(c.commitIndex, 0, "site-c committed nothing");
      assert.equal(c.leader, null, "site-c never heard a leader");
      // Each site says so once, naming the peer and the reason.
      const untrusted = (stderr: string, peer: string) =>
        stderr.split("\n").filter((l) =>
          l.includes("TLS certificate is not trusted") && l.includes(` peer=${peer} `)
        );
      const fromLeader = untrusted(cluster.sites[leader].stderr, "site-c");
      assert.equal(fromLeader.length, 1, cluster.sites[leader].stderr);
      assert.match(
        fromLeader[0],
        /^\S+ ERROR site-[ab] peer unreachable: its TLS certificate is not trusted; messages to it are dropped until it is peer=site-c url=https:\/\/127\.0\.0\.1:\d+ reason="invalid peer certificate: UnknownIssuer" hint="give this site the CA that signed it \(caFile\)"$/,
      );
      assert.equal(untrusted(cluster.sites[2].stderr, "site-a").length, 1);
      const ab = await Promise.all(
        cluster.sites.slice(0, 2).map((s) =>
          getJson<{ height: number }>(`${s.url}/v1/status`, 2000, both.fetch)
        ),
      );
      assert.ok(ab.every((s) => s !== undefined && s.height >= r.body.height));
    } finally {
      await cluster.stop();
      both.client.close();
      await p.cleanup();
    }
  },
);

tlsTest(
  "tls: a gateway serving HTTPS in front of HTTPS sites forwards a write, which commits",
  async () => {
    const p = await pki();
    const cluster = await startCluster(
      3,
      {},
      [],
      { tls: { ...p.site, caFile: p.ca.caFile }, fetch: p.fetch },
    );
    let gw: RunningGateway | undefined;
    try {
      await leaderOf(cluster);
      gw = await startGateway(
        gatewayConfigSchema.parse({
          port: 0,
          sites: cluster.sites.map((s) => s.url),
          pollIntervalMs: 100,
          pollTimeoutMs: 1000,
          tls: p.site,
          caFile: p.ca.caFile,
        }),
        { log: testLogger({ gateway: "gw" }) },
      );
      assert.match(gw.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      await waitFor("the gateway to see every site up", async () => {
        const view = await (await p.fetch(`${gw!.url}/v1/gateway`)).json();
        return view.sitesUp === 3 || undefined;
      });
      const r = await submit(p.fetch, gw.url, await anchorTx(generateKeyPair("ed25519")));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.status, "committed", JSON.stringify(r.body));
      // A stale read may go to another site than the write did.
      await allAtHeight(cluster, r.body.height);
      const read = await p.fetch(`${gw.url}/v1/txs/${r.body.txId}`);
      assert.equal(read.status, 200);
      assert.match(read.headers.get("x-edgeledger-site") ?? "", /^site-[abc]$/);
      await read.body?.cancel();
      await assert.rejects(() => fetch(`${gw!.url}/healthz`));
      // Its certificate's expiry, for EdgeledgerTlsCertExpiresSoon; a reload of unchanged files changes nothing.
      const expiry = metric(
        await metricsOf(p.fetch, gw.url),
        "edgeledger_tls_cert_expiry_timestamp_seconds",
      );
      assert.ok(expiry * 1000 > Date.now(), String(expiry));
      assert.deepEqual(await gw.reloadTls("test"), { certificate: "unchanged", ca: "unchanged" });
      assert.equal(
        metric(await metricsOf(p.fetch, gw.url), "edgeledger_tls_cert_reloads_total"),
        0,
      );
    } finally {
      await gw?.stop();
      await cluster.stop();
      await p.cleanup();
    }
  },
);

// ---- configuration errors ----------------------------------------------------

/** Runs a worker script; its exit code and stderr. */
async function run(script: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
}

/**
 * A one-site ledger whose config gets `extra`; the config's path. Its site
 * fails before it listens (TLS files are read and checked before the port is
 * bound), so its port may be taken.
 */
async function siteConfig(dir: string, extra: Record<string, unknown>): Promise<string> {
  const [path] = await initLocalLedger({
    dataDir: dir,
    sites: 1,
    basePort: basePort(),
    host: "127.0.0.1",
  });
  const config = JSON.parse(await Deno.readTextFile(path));
  const url = extra.tls === undefined ? config.url : config.url.replace("http:", "https:");
  await Deno.writeTextFile(path, JSON.stringify({ ...config, url, ...extra }));
  return path;
}

Deno.test({
  name:
    "tls: a site whose tls.certFile does not exist, or whose caFile holds no certificate, exits 1 with one line naming the file",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "edgeledger-tls-config-" });
    try {
      const missing = await siteConfig(`${dir}/a`, {
        tls: { certFile: "nope.pem", keyFile: "nope.key" },
      });
      const r = await run(SITE_SCRIPT, ["--config", missing]);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.split("\n").length, 1, r.stderr);
      assert.match(
        r.stderr,
        /^Cannot start site: Cannot read tls\.certFile \S*\/a\/site-a\/nope\.pem: no such file$/,
      );

      await Deno.writeTextFile(`${dir}/not-a-ca.pem`, "hello\n");
      const noCa = await siteConfig(`${dir}/b`, { caFile: `${dir}/not-a-ca.pem` });
      const r2 = await run(SITE_SCRIPT, ["--config", noCa]);
      assert.equal(r2.code, 1);
      assert.equal(r2.stderr.split("\n").length, 1, r2.stderr);
      assert.match(
        r2.stderr,
        /^Cannot start site: Cannot use caFile \S+not-a-ca\.pem: it holds no PEM certificate$/,
      );

      // tls with an http:// url: peers would speak HTTP to a TLS port.
      const [plain] = await initLocalLedger({
        dataDir: `${dir}/c`,
        sites: 1,
        basePort: basePort(),
        host: "127.0.0.1",
      });
      const c = JSON.parse(await Deno.readTextFile(plain));
      await Deno.writeTextFile(
        plain,
        JSON.stringify({ ...c, tls: { certFile: "x", keyFile: "y" } }),
      );
      const r3 = await run(SITE_SCRIPT, ["--config", plain]);
      assert.equal(r3.code, 1);
      assert.equal(r3.stderr.split("\n").length, 1, r3.stderr);
      assert.match(r3.stderr, /url: must start with https:\/\/ when tls is set/);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

tlsTest(
  "tls: a site whose key does not belong to its certificate exits 1 with one line naming both files, before it opens its database, on Deno's server and on the guarded one (clientConnections)",
  async () => {
    const p = await pki();
    try {
      const other = await makeCert(p.dir, p.ca, "other");
      for (const [i, extra] of [{}, { clientConnections: {} }].entries()) {
        const path = await siteConfig(`${p.dir}/ledger-${i}`, {
          tls: { certFile: p.site.certFile, keyFile: other.keyFile },
          ...extra,
        });
        const r = await run(SITE_SCRIPT, ["--config", path]);
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stderr.split("\n").length, 1, r.stderr);
        assert.match(
          r.stderr,
          /^Cannot start site: Cannot use tls\.keyFile \S+other\.key: it is not the key of the certificate in tls\.certFile \S+site\.pem$/,
        );
        const { db } = JSON.parse(await Deno.readTextFile(path));
        const dbPath = `${path.slice(0, path.lastIndexOf("/"))}/${db.replace(/^file:/, "")}`;
        await assert.rejects(Deno.stat(dbPath), Deno.errors.NotFound, `${dbPath} was made`);
      }
    } finally {
      await p.cleanup();
    }
  },
);

tlsTest(
  "tls: a gateway whose key does not belong to its certificate exits 2 with one line naming both files (its node server would listen and fail every handshake)",
  async () => {
    const p = await pki();
    try {
      const other = await makeCert(p.dir, p.ca, "other");
      const r = await run(GATEWAY_SCRIPT, [
        "--site",
        "https://127.0.0.1:9",
        "--tls-cert-file",
        p.site.certFile,
        "--tls-key-file",
        other.keyFile,
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^Cannot start gateway: Cannot use tls\.keyFile \S+other\.key: it is not the key of the certificate in tls\.certFile \S+site\.pem$/,
      );
    } finally {
      await p.cleanup();
    }
  },
);

Deno.test({
  name: "tls: a gateway whose tls.certFile does not exist exits 2 with one line naming the file",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await run(GATEWAY_SCRIPT, [
      "--site",
      "https://127.0.0.1:9",
      "--tls-cert-file",
      "/nonexistent/gw.pem",
      "--tls-key-file",
      "/nonexistent/gw.key",
    ]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      "Cannot start gateway: Cannot read tls.certFile /nonexistent/gw.pem: no such file",
    );
  },
});

tlsTest(
  "tls: a gateway without caFile in front of a site whose certificate comes from a CA it does not trust says why and what to set (caFile), in its site-down line and its startup failure (exit 1)",
  async () => {
    const p = await pki();
    // A site's TLS: any answer would do, the handshake never gets that far.
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(p.site.certFile),
      key: await Deno.readTextFile(p.site.keyFile),
      onListen: () => {},
    }, () => new Response("unreachable"));
    try {
      const site = `https://127.0.0.1:${server.addr.port}`;
      const r = await run(GATEWAY_SCRIPT, [
        ...["--site", site, "--port", "0", "--log-format", "json"],
        // Long: it gives up at once all the same (no site it trusts could answer).
        ...["--startup-wait-ms", "60000", "--poll-interval-ms", "100"],
      ]);
      assert.equal(r.code, 1, r.stderr);
      const why = "GET /v1/status failed: its TLS certificate is not trusted " +
        "(invalid peer certificate: UnknownIssuer): give the gateway the CA that signed it (caFile, --ca-file)";
      const lines = r.stderr.split("\n");
      const down = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
        .filter((rec) => rec.msg === "site down");
      assert.deepEqual(down.map((rec) => [rec.level, rec.url, rec.reason]), [["warn", site, why]]);
      assert.equal(
        lines.at(-1),
        `Cannot start gateway: No site's TLS certificate is trusted, so none can tell the ledger (${site}: ${why})`,
      );
    } finally {
      await server.shutdown();
      await p.cleanup();
    }
  },
);

// ---- deno task start --tls -----------------------------------------------------

const START_SCRIPT = new URL("../workers/start.ts", import.meta.url).pathname;

tlsTest(
  "tls: start --tls makes a local CA and serves the site and the gateway over HTTPS, printing curl lines that trust the CA",
  async () => {
    const root = await Deno.makeTempDir({ prefix: "edgeledger-start-tls-" });
    // Each try (a new port if one was taken) makes its ledger and CA in a folder of its own.
    const dataOf = (port: number) => `${root}/data-${port}`;
    const { worker: start, port } = await spawnWorkerOnPort(
      "start.ts",
      (port) => [
        ...["--sites", "1", "--port", String(port), "--data", dataOf(port)],
        ...["--gateway", "--tls"],
      ],
      "edgeledger is running",
    ).catch(async (e) => {
      await Deno.remove(root, { recursive: true }).catch(() => {});
      throw e;
    });
    const data = dataOf(port);
    const child = start.process;
    let trusting: ReturnType<typeof trustingFetch> | undefined;
    try {
      const out = start.output();
      assert.match(out, new RegExp(`^site site-a https://127\\.0\\.0\\.1:${port}$`, "m"));
      assert.match(out, new RegExp(`^gateway https://127\\.0\\.0\\.1:${port - 1}$`, "m"));
      assert.ok(
        out.includes(`curl -s --cacert ${data}/tls/ca.pem https://127.0.0.1:${port}/v1/status`),
        out,
      );
      assert.equal((await Deno.stat(`${data}/tls/ca.key`)).mode! & 0o777, 0o600);
      trusting = trustingFetch(`${data}/tls/ca.pem`);
      const r = await submit(
        trusting.fetch,
        `https://127.0.0.1:${port - 1}`,
        JSON.parse(await Deno.readTextFile(`${data}/example-tx.json`)),
      );
      assert.equal(r.body.status, "committed", JSON.stringify(r.body));
      child.kill("SIGINT");
      assert.equal((await child.status).code, 0);
    } finally {
      // start stops its site and gateway on SIGTERM (a no-op once it exited).
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
      trusting?.client.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test({
  name:
    "tls: start --tls refuses a data folder whose ledger serves plain HTTP, exit 2, starting nothing",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const data = await Deno.makeTempDir({ prefix: "edgeledger-start-tls-" });
    try {
      const port = basePort();
      await initLocalLedger({ dataDir: data, sites: 1, basePort: port, host: "127.0.0.1" });
      const r = await run(START_SCRIPT, ["--sites", "1", "--data", data, "--tls"]);
      assert.equal(r.code, 2);
      assert.equal(
        r.stderr,
        `Cannot start with --tls: ${data}/ holds a ledger whose sites serve plain HTTP; remove ${data} to start a new one`,
      );
    } finally {
      await Deno.remove(data, { recursive: true }).catch(() => {});
    }
  },
});
