import assert from "node:assert/strict";
import {
  certificateDoubts,
  fetchFailure,
  pemFileBytesMax,
  readCaCerts,
  readServeTls,
  serveError,
  TlsConfigError,
  trustingClient,
} from "./tls.ts";
import { CA_CERT_PEM, SERVER_CERT_PEM, SERVER_KEY_PEM } from "../../test/_pem_fixture.ts";

const pem = (label: string, body = "AAAA") =>
  `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;

/** The body of a real CA certificate: Deno loads it as a trust anchor. */
const CA_BODY = CA_CERT_PEM.split("\n").slice(1, -2).join("");

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-tls-unit-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Rejects with a one-line TlsConfigError whose message matches `re`. */
async function refuses(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(
    p,
    (e) => e instanceof TlsConfigError && re.test(e.message) && !e.message.includes("\n"),
  );
}

Deno.test("readServeTls() reads a PEM chain and the key of its first certificate, and keeps their paths", async () => {
  await withDir(async (dir) => {
    const chain = SERVER_CERT_PEM + CA_CERT_PEM;
    await Deno.writeTextFile(`${dir}/c.pem`, chain);
    await Deno.writeTextFile(`${dir}/k.pem`, SERVER_KEY_PEM);
    const tls = await readServeTls({ certFile: `${dir}/c.pem`, keyFile: `${dir}/k.pem` });
    assert.deepEqual(tls, {
      cert: chain,
      key: SERVER_KEY_PEM,
      certFile: `${dir}/c.pem`,
      keyFile: `${dir}/k.pem`,
    });
  });
});

Deno.test("readServeTls() refuses a key that is not the first certificate's, and a certificate that does not parse, naming the files", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/c.pem`, SERVER_CERT_PEM);
    await Deno.writeTextFile(`${dir}/ca-first.pem`, CA_CERT_PEM + SERVER_CERT_PEM);
    await Deno.writeTextFile(`${dir}/junk.pem`, pem("CERTIFICATE"));
    await Deno.writeTextFile(`${dir}/k.pem`, SERVER_KEY_PEM);
    await refuses(
      readServeTls({ certFile: `${dir}/ca-first.pem`, keyFile: `${dir}/k.pem` }),
      /^Cannot use tls\.keyFile \S+\/k\.pem: it is not the key of the certificate in tls\.certFile \S+\/ca-first\.pem$/,
    );
    await refuses(
      readServeTls({ certFile: `${dir}/junk.pem`, keyFile: `${dir}/k.pem` }, "gateway.tls"),
      /^Cannot use gateway\.tls\.certFile \S+\/junk\.pem: its first certificate does not parse/,
    );
  });
});

Deno.test("readServeTls() refuses a missing file, a file without PEM, and an encrypted key, naming the key and the file", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/c.pem`, pem("CERTIFICATE"));
    await Deno.writeTextFile(`${dir}/k.pem`, pem("PRIVATE KEY"));
    await Deno.writeTextFile(`${dir}/enc.pem`, pem("ENCRYPTED PRIVATE KEY"));
    await Deno.writeTextFile(`${dir}/text.pem`, "hello\n");
    await Deno.writeFile(`${dir}/der.pem`, new Uint8Array([0x30, 0x82, 0xff, 0xfe]));
    const files = (certFile: string, keyFile: string) => ({
      certFile: `${dir}/${certFile}`,
      keyFile: `${dir}/${keyFile}`,
    });
    await refuses(
      readServeTls(files("none.pem", "k.pem")),
      /^Cannot read tls\.certFile \S+\/none\.pem: no such file$/,
    );
    await refuses(
      readServeTls(files("c.pem", "none.pem")),
      /^Cannot read tls\.keyFile \S+\/none\.pem: no such file$/,
    );
    await refuses(
      readServeTls(files("text.pem", "k.pem")),
      /^Cannot use tls\.certFile \S+\/text\.pem: it holds no PEM certificate$/,
    );
    await refuses(
      readServeTls(files("c.pem", "c.pem")),
      /^Cannot use tls\.keyFile \S+\/c\.pem: it holds no PEM private key$/,
    );
    await refuses(readServeTls(files("c.pem", "enc.pem")), /the key is encrypted/);
    await refuses(readServeTls(files("der.pem", "k.pem")), /not PEM text/);
    await refuses(readServeTls(files(".", "k.pem")), /^Cannot read tls\.certFile \S+: not a file$/);
  });
});

Deno.test("readServeTls() refuses a file larger than pemFileBytesMax", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/big.pem`, "x".repeat(pemFileBytesMax + 1));
    await refuses(
      readServeTls({ certFile: `${dir}/big.pem`, keyFile: `${dir}/big.pem` }),
      /larger than 1048576 bytes/,
    );
  });
});

Deno.test("readCaCerts() splits a bundle into one PEM per certificate and refuses a file with none", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/bundle.pem`,
      "# our CAs\n" + pem("CERTIFICATE", CA_BODY) + "junk\n" + pem("CERTIFICATE", CA_BODY),
    );
    assert.deepEqual(await readCaCerts(`${dir}/bundle.pem`), [
      pem("CERTIFICATE", CA_BODY).trim(),
      pem("CERTIFICATE", CA_BODY).trim(),
    ]);
    await Deno.writeTextFile(`${dir}/key.pem`, pem("PRIVATE KEY"));
    await refuses(
      readCaCerts(`${dir}/key.pem`),
      /^Cannot use caFile \S+\/key\.pem: it holds no PEM certificate$/,
    );
    await refuses(readCaCerts(`${dir}/none.pem`), /^Cannot read caFile \S+: no such file$/);
  });
});

Deno.test("serveError() names the TLS files with Deno's reason, and passes address errors through", () => {
  const tls = { cert: "", key: "", certFile: "/c.pem", keyFile: "/k.pem" };
  const e = serveError(new Error("keys may not be consistent: KeyMismatch"), tls);
  assert.ok(e instanceof TlsConfigError);
  assert.equal(
    e.message,
    "Cannot serve HTTPS with tls.certFile /c.pem and tls.keyFile /k.pem: keys may not be consistent: KeyMismatch",
  );
  const inUse = new Deno.errors.AddrInUse("Address already in use");
  assert.equal(serveError(inUse, tls), inUse);
  const plain = new Error("boom");
  assert.equal(serveError(plain, undefined), plain);
});

Deno.test("trustingClient() makes no client without CA certificates", () => {
  assert.equal(trustingClient(undefined), undefined);
});

Deno.test("readCaCerts() refuses a certificate that does not decode, naming the file", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/bad.pem`, pem("CERTIFICATE", "AAAA"));
    await refuses(readCaCerts(`${dir}/bad.pem`), /^Cannot use caFile \S+\/bad\.pem: .*BadEncoding/);
  });
});

Deno.test("readServeTls() refuses a key encrypted in the legacy PEM form (Proc-Type: 4,ENCRYPTED)", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/c.pem`, pem("CERTIFICATE"));
    await Deno.writeTextFile(
      `${dir}/k.pem`,
      pem("RSA PRIVATE KEY", "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA"),
    );
    await refuses(
      readServeTls({ certFile: `${dir}/c.pem`, keyFile: `${dir}/k.pem` }),
      /^Cannot use tls\.keyFile \S+\/k\.pem: the key is encrypted/,
    );
  });
});

Deno.test("fetchFailure() digs the reason out of Deno's bare 'fetch failed' (its cause), without the URL, and says when the server's certificate was refused", () => {
  const failed = (cause: string) => new TypeError("fetch failed", { cause: new Error(cause) });
  const refused = fetchFailure(
    failed(
      "error sending request for url (http://127.0.0.1:9/v1/status): client error (Connect): tcp connect error: Connection refused (os error 111)",
    ),
  );
  assert.deepEqual(refused, {
    reason:
      "fetch failed: client error (Connect): tcp connect error: Connection refused (os error 111)",
    unknownIssuer: false,
  });
  const untrusted = fetchFailure(
    failed(
      "error sending request for url (https://127.0.0.1:9/v1/status): client error (Connect): invalid peer certificate: UnknownIssuer",
    ),
  );
  assert.equal(untrusted.certificate, "invalid peer certificate: UnknownIssuer");
  assert.equal(untrusted.unknownIssuer, true);
  const expired = fetchFailure(failed("client error (Connect): invalid peer certificate: Expired"));
  assert.equal(expired.certificate, "invalid peer certificate: Expired");
  assert.equal(expired.unknownIssuer, false);
  // No cause: the error's own message, in one line.
  assert.equal(
    fetchFailure(new DOMException("Signal timed out.\n", "TimeoutError")).reason,
    "Signal timed out.",
  );
  assert.equal(fetchFailure("x".repeat(400)).reason.length, 300);
});

Deno.test("certificateDoubts() says a certificate expired, not valid yet, or not naming the server's host; nothing for one that fits", () => {
  const tls = { cert: SERVER_CERT_PEM, key: SERVER_KEY_PEM, certFile: "/c.pem", keyFile: "/k.pem" };
  const now = Date.parse("2027-01-01T00:00:00Z");
  assert.deepEqual(certificateDoubts(tls, { now, host: "127.0.0.1" }), []);
  assert.deepEqual(certificateDoubts(tls, { now }), []);
  const [other] = certificateDoubts(tls, { now, host: "pop-1.carrier-a.example" });
  assert.match(other, /^the certificate in \/c\.pem does not name pop-1\.carrier-a\.example/);
  assert.equal(certificateDoubts(tls, { now, host: "127.0.0.2" }).length, 1);
  const [expired] = certificateDoubts(tls, { now: Date.parse("2200-01-01T00:00:00Z") });
  assert.match(expired, /^the certificate in \/c\.pem expired at 21\d\d-.*: clients refuse it$/);
  const [early] = certificateDoubts(tls, { now: Date.parse("2020-01-01T00:00:00Z") });
  assert.match(early, /is valid only from 2026-/);
});
