/**
 * Renewing a TLS certificate without a restart (`src/site/https_server.ts`):
 * the server looks at its certificate files and serves renewed ones, keeps
 * the one in service when the new files do not fit together, and a site
 * reloads on SIGHUP while its cluster goes on. Certificates are made at test
 * time by the `openssl` CLI; without it these tests skip, saying why.
 *
 * @module
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { defaultConnectionLimits } from "../src/site/guarded_server.ts";
import { certificateInfo, HttpsServer } from "../src/site/https_server.ts";
import { fetchVia, readServeTls, ReloadingClient, TlsConfigError } from "../src/site/tls.ts";
import { anchorTx, recordingLogger } from "./_helpers.ts";
import { blockHashes, startCluster, statuses, waitFor } from "./_cluster.ts";
import { type LocalCert, makeCa, makeCert, OPENSSL_MISSING, opensslPresent } from "./_tls.ts";

if (!opensslPresent) console.warn(`tls_reload_test: ${OPENSSL_MISSING}`);

function tlsTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !opensslPresent, sanitizeOps: false, sanitizeResources: false, fn });
}

/** Answers over a new connection whose client trusts only `caFile`'s CA; the error's text otherwise. */
async function fetchTrusting(caFile: string, url: string): Promise<string> {
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(caFile)],
    poolMaxIdlePerHost: 0,
  });
  try {
    const res = await fetch(url, { client, signal: AbortSignal.timeout(5000) });
    return await res.text();
  } catch (e) {
    return `error: ${(e as Error).message} ${(e as Error).cause ?? ""}`;
  } finally {
    client.close();
  }
}

/** Puts `from`'s files in place of `to`'s, the key first (as an ACME client may). */
async function install(from: LocalCert, to: LocalCert, only?: "key" | "cert"): Promise<void> {
  if (only !== "cert") await Deno.copyFile(from.keyFile, to.keyFile);
  if (only !== "key") await Deno.copyFile(from.certFile, to.certFile);
}

function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m === null ? undefined : Number(m[1]);
}

/** Two CAs, a certificate of each for 127.0.0.1, and the files a server is configured with (A's). */
async function twoCas() {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-tls-reload-" });
  const caA = await makeCa(dir, "ca-a");
  const caB = await makeCa(dir, "ca-b");
  const a = await makeCert(dir, caA, "a");
  const b = await makeCert(dir, caB, "b");
  const served = { certFile: `${dir}/served.pem`, keyFile: `${dir}/served.key` };
  await install(a, served);
  return { dir, caA, caB, a, b, served };
}

/**
 * A server on a free loopback port that answers "ok", and streams ticks on
 * /stream; `guarded`: on the listener a gateway uses (Node's, connection limits).
 */
function startServer(
  tls: Awaited<ReturnType<typeof readServeTls>>,
  log: ReturnType<typeof recordingLogger>["log"],
  checkIntervalMs: number,
  guarded = false,
) {
  return HttpsServer.start({
    hostname: "127.0.0.1",
    port: 0,
    tls,
    checkIntervalMs,
    log,
    limits: guarded ? defaultConnectionLimits : undefined,
    onError: () => new Response(null, { status: 500 }),
    handler: (req) => {
      if (new URL(req.url).pathname !== "/stream") return new Response("ok");
      let timer: ReturnType<typeof setInterval>;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          timer = setInterval(() => c.enqueue(new TextEncoder().encode("tick\n")), 50);
        },
        cancel() {
          clearInterval(timer);
        },
      });
      return new Response(body);
    },
  });
}

for (const guarded of [false, true]) {
  tlsTest(
    "tls reload: renewed certificate files are served once the server looks at them, without a restart, and a connection opened before keeps streaming" +
      (guarded ? " (the guarded listener a gateway uses: in place)" : ""),
    async () => {
      const p = await twoCas();
      const rec = recordingLogger();
      const server = await startServer(await readServeTls(p.served), rec.log, 100, guarded);
      const streamClient = Deno.createHttpClient({
        caCerts: [await Deno.readTextFile(p.caA.caFile)],
      });
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
      try {
        const url = server.url;
        assert.equal(await fetchTrusting(p.caA.caFile, url), "ok");
        assert.match(await fetchTrusting(p.caB.caFile, url), /^error: .*UnknownIssuer/);
        const before = server.certificate!;
        assert.equal(before.serial, certificateInfo(await readServeTls(p.a)).serial);
        assert.match(server.metricsText(), /^edgeledger_tls_cert_reloads_total 0$/m);

        const stream = await fetch(`${url}/stream`, { client: streamClient });
        reader = stream.body!.getReader();
        assert.equal((await reader.read()).done, false);

        await install(p.b, p.served);
        await waitFor(
          "the renewed certificate in service",
          async () => (await fetchTrusting(p.caB.caFile, url)) === "ok" || undefined,
          10_000,
        );
        // New connections get the new certificate only.
        assert.match(await fetchTrusting(p.caA.caFile, url), /^error: .*UnknownIssuer/);
        // The stream opened before goes on over its connection.
        for (let k = 0; k < 3; k++) assert.equal((await reader.read()).done, false);
        await reader.cancel();

        const after = certificateInfo(await readServeTls(p.b));
        assert.deepEqual(server.certificate, after);
        assert.notEqual(after.serial, before.serial);
        const text = server.metricsText();
        assert.equal(metric(text, "edgeledger_tls_cert_reloads_total"), 1);
        assert.equal(metric(text, "edgeledger_tls_cert_reload_failures_total"), 0);
        assert.equal(metric(text, "edgeledger_tls_cert_reload_failing"), 0);
        assert.equal(
          metric(text, "edgeledger_tls_cert_expiry_timestamp_seconds"),
          Math.floor(after.notAfter / 1000),
        );
        const said = rec.said("tls certificate reloaded");
        assert.equal(said.length, 1);
        assert.equal(said[0].trigger, "files changed");
        assert.equal(said[0].serial, after.serial);
        // Nothing changed since: a reload says so and keeps what it serves.
        assert.equal(await server.reload("test"), "unchanged");
        assert.equal(metric(server.metricsText(), "edgeledger_tls_cert_reloads_total"), 1);
      } finally {
        // Else the server's graceful shutdown waits for the stream forever.
        await reader?.cancel().catch(() => {});
        streamClient.close();
        await server.shutdown();
        await Deno.remove(p.dir, { recursive: true }).catch(() => {});
      }
    },
  );
}

for (const guarded of [false, true]) {
  tlsTest(
    "tls reload: files that do not fit together keep the certificate in service, are logged once and reported failing until fixed" +
      (guarded ? " (the guarded listener a gateway uses: in place)" : ""),
    async () => {
      const p = await twoCas();
      const rec = recordingLogger();
      const server = await startServer(await readServeTls(p.served), rec.log, 50, guarded);
      try {
        const url = server.url;
        // The new certificate, the old key: an ACME client caught between its two writes.
        await install(p.b, p.served, "cert");
        await waitFor(
          "the mismatch reported",
          () =>
            Promise.resolve(
              metric(server.metricsText(), "edgeledger_tls_cert_reload_failing") === 1 || undefined,
            ),
          10_000,
        );
        // Several more looks at the same files: one error line, not one per look.
        await new Promise((r) => setTimeout(r, 400));
        const errors = rec.said("tls certificate not reloaded: the one in service stays");
        assert.equal(errors.length, 1, JSON.stringify(errors));
        assert.match(
          String(errors[0].reason),
          /is not the key of the certificate in tls\.certFile/,
        );
        assert.equal(errors[0].serial, certificateInfo(await readServeTls(p.a)).serial);
        assert.equal(metric(server.metricsText(), "edgeledger_tls_cert_reload_failures_total"), 1);
        assert.equal(await fetchTrusting(p.caA.caFile, url), "ok");
        // A reload asked for explicitly says it again.
        assert.equal(await server.reload("SIGHUP"), "failed");
        assert.equal(rec.said("tls certificate not reloaded: the one in service stays").length, 2);

        // A file that is not PEM at all is refused the same way.
        await Deno.writeTextFile(p.served.keyFile, "not a key\n");
        assert.equal(await server.reload("SIGHUP"), "failed");
        assert.equal(await fetchTrusting(p.caA.caFile, url), "ok");

        // The key arrives: the pair is served.
        await install(p.b, p.served, "key");
        await waitFor(
          "the fixed pair in service",
          async () => (await fetchTrusting(p.caB.caFile, url)) === "ok" || undefined,
          10_000,
        );
        const text = server.metricsText();
        assert.equal(metric(text, "edgeledger_tls_cert_reload_failing"), 0);
        assert.equal(metric(text, "edgeledger_tls_cert_reloads_total"), 1);
      } finally {
        await server.shutdown();
        await Deno.remove(p.dir, { recursive: true }).catch(() => {});
      }
    },
  );
}

tlsTest(
  "tls reload: reading a key that is not the certificate's is refused, naming both files",
  async () => {
    const p = await twoCas();
    try {
      await assert.rejects(
        readServeTls({ certFile: p.a.certFile, keyFile: p.b.keyFile }),
        (e: Error) =>
          e instanceof TlsConfigError &&
          e.message ===
            `Cannot use tls.keyFile ${p.b.keyFile}: it is not the key of the certificate in tls.certFile ${p.a.certFile}`,
      );
    } finally {
      await Deno.remove(p.dir, { recursive: true }).catch(() => {});
    }
  },
);

tlsTest(
  "tls reload: a client whose caFile gains a CA trusts servers certified by it from then on; a CA file that cannot be used keeps the trust in service",
  async () => {
    const p = await twoCas();
    const rec = recordingLogger();
    const server = await startServer(await readServeTls(p.b), rec.log, 0);
    const caFile = `${p.dir}/trusted.pem`;
    await Deno.copyFile(p.caA.caFile, caFile);
    const client = await ReloadingClient.open(
      caFile,
      [await Deno.readTextFile(caFile)],
      rec.log,
      50,
    );
    const get = fetchVia(client.source);
    const answer = async () => {
      try {
        return await (await get(server.url, { signal: AbortSignal.timeout(5000) })).text();
      } catch (e) {
        return `error: ${(e as Error).message} ${(e as Error).cause ?? ""}`;
      }
    };
    try {
      assert.match(await answer(), /^error: .*UnknownIssuer/);
      // The consortium adds its new CA to the bundle: looked at, read, trusted.
      await Deno.writeTextFile(
        caFile,
        (await Deno.readTextFile(p.caA.caFile)) + (await Deno.readTextFile(p.caB.caFile)),
      );
      await waitFor(
        "the new CA trusted",
        async () => (await answer()) === "ok" || undefined,
        10_000,
      );
      const said = rec.said("tls ca file reloaded");
      assert.equal(said.length, 1);
      assert.equal(said[0].certificates, 2);
      assert.equal(metric(client.metricsText(), "edgeledger_tls_ca_reloads_total"), 1);

      // A bundle that is not PEM: the trust in service stays, said once, failing until fixed.
      await Deno.writeTextFile(caFile, "garbage\n");
      await waitFor(
        "the bad file reported",
        () =>
          Promise.resolve(
            metric(client.metricsText(), "edgeledger_tls_ca_reload_failing") === 1 || undefined,
          ),
        10_000,
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(rec.said("tls ca file not reloaded: the one in service stays").length, 1);
      assert.equal(await answer(), "ok");
      // Back to the first CA alone: the second is no longer trusted on new connections.
      await Deno.copyFile(p.caA.caFile, caFile);
      // The 50 ms look may have read it before the SIGHUP does: then it is unchanged by then.
      assert.match(await client.reload("SIGHUP"), /^(reloaded|unchanged)$/);
      assert.equal(metric(client.metricsText(), "edgeledger_tls_ca_reloads_total"), 2);
      assert.match(await answer(), /^error: .*UnknownIssuer/);
      assert.equal(metric(client.metricsText(), "edgeledger_tls_ca_reload_failing"), 0);
    } finally {
      await client.close();
      await server.shutdown();
      await Deno.remove(p.dir, { recursive: true }).catch(() => {});
    }
  },
);

tlsTest(
  "tls reload: a site in a 3-site cluster reloads a renewed certificate on SIGHUP, and the cluster goes on committing through it",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "edgeledger-tls-reload-cluster-" });
    const ca = await makeCa(dir, "ca");
    const first = await makeCert(dir, ca, "first");
    const renewed = await makeCert(dir, ca, "renewed");
    const served = { certFile: `${dir}/site.pem`, keyFile: `${dir}/site.key` };
    await install(first, served);
    const caCerts = [await Deno.readTextFile(ca.caFile)];
    const client = Deno.createHttpClient({ caCerts });
    const trusted: typeof fetch = (input, init) => fetch(input, { ...init, client });
    const cluster = await startCluster(3, {}, [], {
      tls: { ...served, caFile: ca.caFile },
      fetch: trusted,
    });
    try {
      const site = cluster.sites[0];
      const submit = async () => {
        const res = await trusted(`${site.url}/v1/txs?wait=commit`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(await anchorTx(generateKeyPair("ed25519"))),
        });
        const body = await res.json();
        assert.equal(body.status, "committed", JSON.stringify(body));
        return body.height as number;
      };
      await submit();
      const metricsText = async () => await (await trusted(`${site.url}/metrics`)).text();
      const expiry = metric(await metricsText(), "edgeledger_tls_cert_expiry_timestamp_seconds");
      assert.ok(expiry !== undefined && expiry * 1000 > Date.now());

      await install(renewed, served);
      site.proc.kill("SIGHUP");
      // The default check is a minute away: SIGHUP is what reloads it.
      await waitFor(
        "the reload logged",
        () => Promise.resolve(site.stderr.includes("tls certificate reloaded") || undefined),
        10_000,
      );
      const serial = certificateInfo(await readServeTls(renewed)).serial;
      assert.ok(site.stderr.includes(serial), "the log names the new certificate's serial");
      const text = await metricsText();
      assert.equal(metric(text, "edgeledger_tls_cert_reloads_total"), 1);
      // Every TLS metric the alert rules read is there.
      const rules = await Deno.readTextFile(
        new URL("../docs/monitoring/alerts.yml", import.meta.url),
      );
      const read = new Set(rules.match(/edgeledger_tls_[a-z_]+/g));
      assert.ok(read.size >= 2);
      for (const name of read) assert.notEqual(metric(text, name), undefined, name);
      // Still one process, still a member: writes through it commit on every site.
      const height = await submit();
      await waitFor("every site at that height", async () => {
        const st = await statuses(cluster);
        return st.every((s) => s !== undefined && s.height >= height) || undefined;
      }, 20_000);
      assert.ok(cluster.sites.every((s) => s.alive));
    } finally {
      await cluster.stop();
      client.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

tlsTest(
  "tls reload: a cluster moves to a new CA without a restart (trust both, serve the new certificates, drop the old CA, each on SIGHUP), and a site restarted afterwards reaches and is reached by the others over the new CA alone",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "edgeledger-tls-ca-rotation-" });
    const oldCa = await makeCa(dir, "old-ca");
    const newCa = await makeCa(dir, "new-ca");
    const oldCert = await makeCert(dir, oldCa, "old");
    const newCert = await makeCert(dir, newCa, "new");
    const served = { certFile: `${dir}/site.pem`, keyFile: `${dir}/site.key` };
    const caFile = `${dir}/trusted.pem`;
    await install(oldCert, served);
    await Deno.copyFile(oldCa.caFile, caFile);
    const [oldPem, newPem] = [
      await Deno.readTextFile(oldCa.caFile),
      await Deno.readTextFile(newCa.caFile),
    ];
    const client = Deno.createHttpClient({ caCerts: [oldPem, newPem] });
    const trusted: typeof fetch = (input, init) => fetch(input, { ...init, client });
    const cluster = await startCluster(3, {}, [], { tls: { ...served, caFile }, fetch: trusted });
    const hangUp = async (said: string) => {
      const before = cluster.sites.map((s) => s.stderr.split(said).length);
      for (const s of cluster.sites) s.proc.kill("SIGHUP");
      await waitFor(
        `"${said}" from every site`,
        () =>
          Promise.resolve(
            cluster.sites.every((s, i) => s.stderr.split(said).length > before[i]) || undefined,
          ),
        10_000,
      );
    };
    const submit = async (i: number) => {
      const res = await trusted(`${cluster.sites[i].url}/v1/txs?wait=commit`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(await anchorTx(generateKeyPair("ed25519"))),
      });
      const body = await res.json();
      assert.equal(body.status, "committed", JSON.stringify(body));
      return body.height as number;
    };
    try {
      await submit(0);
      // 1. Trust both CAs.
      await Deno.writeTextFile(caFile, oldPem + newPem);
      await hangUp("tls ca file reloaded");
      // 2. Serve certificates of the new CA.
      await install(newCert, served);
      await hangUp("tls certificate reloaded");
      await submit(1);
      // 3. Drop the old CA.
      await Deno.writeTextFile(caFile, newPem);
      await hangUp("tls ca file reloaded");
      for (const s of cluster.sites) {
        const text = await (await trusted(`${s.url}/metrics`)).text();
        assert.equal(metric(text, "edgeledger_tls_ca_reloads_total"), 2, s.name);
        assert.equal(metric(text, "edgeledger_tls_cert_reloads_total"), 1, s.name);
      }
      // A site down meanwhile comes back: new connections both ways, the new CA alone.
      await cluster.kill(2);
      let height = 0;
      for (let k = 0; k < 3; k++) height = await submit(0);
      await cluster.start(2);
      await waitFor("every site at the last write's height", async () => {
        const st = await statuses(cluster);
        return st.every((s) => s !== undefined && s.height >= height) || undefined;
      }, 30_000);
      const [a, b, c] = await Promise.all(cluster.sites.map((s) => blockHashes(s.url, trusted)));
      assert.deepEqual(b, a);
      assert.deepEqual(c, a);
      // A client that trusts only the old CA reaches no site now.
      assert.match(await fetchTrusting(oldCa.caFile, cluster.sites[0].url), /UnknownIssuer/);
    } finally {
      await cluster.stop();
      client.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
