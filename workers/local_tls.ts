/**
 * A local certificate authority for `deno task start --tls` and the TLS
 * tests, made with the `openssl` CLI: a CA and server certificates it signs
 * (ECDSA P-256; by default for `IP:127.0.0.1` and `DNS:localhost`). For
 * loopback clusters only: a real consortium issues its sites' certificates
 * from its own PKI.
 *
 * @module
 */

/** Whether the `openssl` CLI runs here. */
export function opensslPresent(): boolean {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** A CA: its certificate (PEM file) and the key that signs with it. */
export interface LocalCa {
  caFile: string;
  caKeyFile: string;
}

/** A server certificate and its key (PEM files). */
export interface LocalCert {
  certFile: string;
  keyFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/**
 * Makes a self-signed CA named `name` in `dir` (`<name>.pem`, and
 * `<name>.key` with mode 0600), valid for `days`.
 */
export async function makeCa(dir: string, name: string, days = 2): Promise<LocalCa> {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-days",
    String(days),
    "-subj",
    `/CN=edgeledger local CA ${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  await Deno.chmod(`${dir}/${name}.key`, 0o600);
  return { caFile: `${dir}/${name}.pem`, caKeyFile: `${dir}/${name}.key` };
}

/**
 * Makes a server certificate named `name` in `dir` (`<name>.pem`, and
 * `<name>.key` with mode 0600), signed by `ca`, for `subjectAltName`, valid
 * for `days`.
 */
export async function makeCert(
  dir: string,
  ca: LocalCa,
  name: string,
  subjectAltName = "IP:127.0.0.1,DNS:localhost",
  days = 2,
): Promise<LocalCert> {
  await openssl([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${name}`,
  ], dir);
  await Deno.writeTextFile(
    `${dir}/${name}.ext`,
    `subjectAltName=${subjectAltName}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    ca.caFile,
    "-CAkey",
    ca.caKeyFile,
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    String(days),
    "-extfile",
    `${name}.ext`,
  ], dir);
  await Deno.chmod(`${dir}/${name}.key`, 0o600);
  await Deno.remove(`${dir}/${name}.csr`);
  await Deno.remove(`${dir}/${name}.ext`);
  return { certFile: `${dir}/${name}.pem`, keyFile: `${dir}/${name}.key` };
}
