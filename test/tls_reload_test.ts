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
import { certificateInfo, HttpsServer } from "../src/site/https_server.ts";
import { readServeTls, TlsConfigError } from "../src/site/tls.ts";
import { anchorTx, recordingLogger } from "./_helpers.ts";
import { startCluster, statuses, waitFor } from "./_cluster.ts";
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

/** A server on a free loopback port that answers "ok", and streams ticks on /stream. */
function startServer(
  tls: Awaited<ReturnType<typeof readServeTls>>,
  log: ReturnType<typeof recordingLogger>["log"],
  checkIntervalMs: number,
) {
  return HttpsServer.start({
    hostname: "127.0.0.1",
    port: 0,
    tls,
    checkIntervalMs,
    log,
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

tlsTest(
  "tls reload: renewed certificate files are served once the server looks at them, without a restart, and a connection opened before keeps streaming",
  async () => {
    const p = await twoCas();
    const rec = recordingLogger();
    const server = await startServer(await readServeTls(p.served), rec.log, 100);
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

tlsTest(
  "tls reload: files that do not fit together keep the certificate in service, are logged once and reported failing until fixed",
  async () => {
    const p = await twoCas();
    const rec = recordingLogger();
    const server = await startServer(await readServeTls(p.served), rec.log, 50);
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
      assert.match(String(errors[0].reason), /is not the key of the certificate in tls\.certFile/);
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

tlsTest(
  "tls reload: certificateInfo refuses a key that is not the certificate's, naming both files",
  async () => {
    const p = await twoCas();
    try {
      const tls = await readServeTls({ certFile: p.a.certFile, keyFile: p.b.keyFile });
      assert.throws(
        () => certificateInfo(tls),
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
