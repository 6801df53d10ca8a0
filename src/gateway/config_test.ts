import assert from "node:assert/strict";
import {
  GatewayConfigError,
  GatewayHelpRequested,
  loadGatewayConfig,
  readSiteApiKey,
  SiteApiKeyError,
} from "./config.ts";

const noEnv = () => undefined;
const noFile = () => Promise.reject(new Error("No such file"));

Deno.test("loadGatewayConfig() fills defaults and normalises site URLs", async () => {
  const c = await loadGatewayConfig(["--site", "http://127.0.0.1:7001/"], noEnv, noFile);
  assert.deepEqual(c.sites, ["http://127.0.0.1:7001"]);
  assert.equal(c.port, 7000);
  assert.equal(c.host, "127.0.0.1");
  assert.equal(c.ledger, undefined);
  assert.equal(c.attemptsMax, 3);
  assert.equal(c.requestBytesMax, 1024 * 1024);
  assert.equal(c.precheck, true);
  assert.equal(c.bodyIdleTimeoutMs, 10_000);
  assert.equal(c.eventsIdleTimeoutMs, 60_000);
});

Deno.test("loadGatewayConfig(): a flag wins over the environment, which wins over the file", async () => {
  const file = JSON.stringify({
    sites: ["http://a:1", "http://b:1"],
    port: 1,
    host: "0.0.0.0",
    ledger: "fromfile",
  });
  const env = (n: string) =>
    ({
      EDGELEDGER_GATEWAY_CONFIG: "/etc/gw.json",
      EDGELEDGER_GATEWAY_PORT: "2",
      EDGELEDGER_GATEWAY_LEDGER: "fromenv",
    })[n];
  const c = await loadGatewayConfig(
    ["--port=3", "--preferred-sites", "http://b:1", "--precheck", "false"],
    env,
    (path) => path === "/etc/gw.json" ? Promise.resolve(file) : noFile(),
  );
  assert.equal(c.port, 3);
  assert.equal(c.ledger, "fromenv");
  assert.equal(c.host, "0.0.0.0");
  assert.deepEqual(c.sites, ["http://a:1", "http://b:1"]);
  assert.deepEqual(c.preferredSites, ["http://b:1"]);
  assert.equal(c.precheck, false);
});

Deno.test("loadGatewayConfig(): --site repeats, and EDGELEDGER_GATEWAY_SITES takes a comma list", async () => {
  const flags = await loadGatewayConfig(
    ["--site", "http://a:1", "--site", "http://b:1"],
    noEnv,
    noFile,
  );
  assert.deepEqual(flags.sites, ["http://a:1", "http://b:1"]);
  const env = await loadGatewayConfig(
    [],
    (n) => n === "EDGELEDGER_GATEWAY_SITES" ? "http://a:1, http://b:1" : undefined,
    noFile,
  );
  assert.deepEqual(env.sites, ["http://a:1", "http://b:1"]);
});

Deno.test("loadGatewayConfig() refuses bad values with one line naming the key", async () => {
  const refuses = async (args: string[], re: RegExp, file?: string) => {
    await assert.rejects(
      loadGatewayConfig(args, noEnv, file === undefined ? noFile : () => Promise.resolve(file)),
      (e) => e instanceof GatewayConfigError && re.test(e.message) && !e.message.includes("\n"),
    );
  };
  await refuses([], /^sites: Must name at least one site URL/);
  await refuses(["--site", "ftp://x"], /^sites\.0: "ftp:\/\/x" is not an http\(s\) base URL/);
  await refuses(
    ["--site", "http://a:1", "--site", "http://a:1/"],
    /^sites\.1: http:\/\/a:1 is listed twice/,
  );
  await refuses(["--site", "http://a:1?x=1"], /^sites\.0:/);
  await refuses(
    ["--site", "http://a:1", "--preferred-sites", "http://b:1"],
    /^preferredSites\.0: "http:\/\/b:1" is not one of the sites/,
  );
  await refuses(["--site", "http://a:1", "--port", "70000"], /^port:/);
  await refuses(["--site", "http://a:1", "--port", "-1"], /^--port must be a non-negative integer/);
  await refuses(["--site", "http://a:1", "--attempts-max", "0"], /^attemptsMax:/);
  await refuses(["--site", "http://a:1", "--precheck", "yes"], /^--precheck must be true or false/);
  await refuses(["--site", "http://a:1", "--nope", "1"], /^Unknown flag "--nope"/);
  await refuses(["--site"], /^Flag --site needs a value/);
  await refuses(["--config", "x.json"], /^Cannot parse x\.json/, "{");
  await refuses(["--config", "x.json"], /^Cannot use x\.json: it must hold a JSON object/, "[]");
});

Deno.test("loadGatewayConfig() refuses a value the config file set, an unknown key included, with one line naming the file and the key", async () => {
  const refuses = async (args: string[], message: string, file: string) => {
    await assert.rejects(
      loadGatewayConfig(args, noEnv, () => Promise.resolve(file)),
      (e) => e instanceof GatewayConfigError && e.message === message,
    );
  };
  await refuses(
    ["--config", "gw/x.json"],
    'Cannot use gw/x.json: Unrecognized key: "bogus"',
    '{"sites":["http://a:1"],"bogus":1}',
  );
  await refuses(
    ["--config", "gw/x.json"],
    'Cannot use gw/x.json: log: Unrecognized key: "colour"',
    '{"sites":["http://a:1"],"log":{"colour":true}}',
  );
  await refuses(
    ["--config", "gw/x.json"],
    "Cannot use gw/x.json: pollIntervalMs: Too small: expected number to be >=50",
    '{"sites":["http://a:1"],"pollIntervalMs":1}',
  );
  // A flag that sets the key is what is judged, and named as before.
  await refuses(
    ["--config", "gw/x.json", "--poll-interval-ms", "2"],
    "pollIntervalMs: Too small: expected number to be >=50",
    '{"sites":["http://a:1"],"pollIntervalMs":100}',
  );
});

Deno.test("loadGatewayConfig() answers --help with the usage", async () => {
  await assert.rejects(loadGatewayConfig(["--help"], noEnv, noFile), GatewayHelpRequested);
});

Deno.test("loadGatewayConfig(): tls and caFile come from the file (paths relative to it), the environment or flags, a flag winning per file", async () => {
  const file = JSON.stringify({
    sites: ["https://a:1"],
    tls: { certFile: "gw.pem", keyFile: "/keys/gw.key" },
    caFile: "ca.pem",
  });
  const read = (path: string) => path === "/etc/gw/gw.json" ? Promise.resolve(file) : noFile();
  const fromFile = await loadGatewayConfig(["--config", "/etc/gw/gw.json"], noEnv, read);
  assert.deepEqual(fromFile.tls, { certFile: "/etc/gw/gw.pem", keyFile: "/keys/gw.key" });
  assert.equal(fromFile.caFile, "/etc/gw/ca.pem");
  const env = (n: string) =>
    ({
      EDGELEDGER_GATEWAY_TLS_KEY_FILE: "env.key",
      EDGELEDGER_GATEWAY_CA_FILE: "env-ca.pem",
    })[n];
  const merged = await loadGatewayConfig(
    ["--config", "/etc/gw/gw.json", "--tls-cert-file", "flag.pem"],
    env,
    read,
  );
  assert.deepEqual(merged.tls, { certFile: "flag.pem", keyFile: "env.key" });
  assert.equal(merged.caFile, "env-ca.pem");
  const none = await loadGatewayConfig(["--site", "http://a:1"], noEnv, noFile);
  assert.equal(none.tls, undefined);
  assert.equal(none.caFile, undefined);
});

Deno.test("loadGatewayConfig() refuses half a tls pair with one line naming the key", async () => {
  await assert.rejects(
    loadGatewayConfig(["--site", "https://a:1", "--tls-cert-file", "gw.pem"], noEnv, noFile),
    (e) => e instanceof GatewayConfigError && /^tls\.keyFile:/.test(e.message),
  );
});

Deno.test("loadGatewayConfig(): log comes from the file, EDGELEDGER_LOG_*, EDGELEDGER_GATEWAY_LOG_* and --log-level/--log-format, each winning over the one before; default info as text", async () => {
  const defaults = await loadGatewayConfig(["--site", "http://a:1"], noEnv, noFile);
  assert.deepEqual(defaults.log, { level: "info", format: "text" });
  const file = JSON.stringify({ sites: ["http://a:1"], log: { level: "warn", format: "json" } });
  const read = (path: string) => path === "gw.json" ? Promise.resolve(file) : noFile();
  const fromFile = await loadGatewayConfig(["--config", "gw.json"], noEnv, read);
  assert.deepEqual(fromFile.log, { level: "warn", format: "json" });
  const sitesEnv = (n: string) => ({ EDGELEDGER_LOG_LEVEL: "error" })[n];
  assert.deepEqual((await loadGatewayConfig(["--config", "gw.json"], sitesEnv, read)).log, {
    level: "error",
    format: "json",
  });
  const gatewayEnv = (n: string) =>
    ({ EDGELEDGER_LOG_LEVEL: "error", EDGELEDGER_GATEWAY_LOG_LEVEL: "debug" })[n];
  assert.deepEqual((await loadGatewayConfig(["--config", "gw.json"], gatewayEnv, read)).log, {
    level: "debug",
    format: "json",
  });
  const flags = await loadGatewayConfig(
    ["--config", "gw.json", "--log-format", "text", "--log-level=info"],
    gatewayEnv,
    read,
  );
  assert.deepEqual(flags.log, { level: "info", format: "text" });
});

Deno.test("loadGatewayConfig() refuses a bad log level or format with one line naming where it came from: the flag, the gateway's or the sites' environment variable, or the config file's key", async () => {
  const refuses = async (
    args: string[],
    vars: Record<string, string>,
    message: string,
    file?: string,
  ) => {
    await assert.rejects(
      loadGatewayConfig(
        args,
        (n) => vars[n],
        file === undefined ? noFile : () => Promise.resolve(file),
      ),
      (e) => e instanceof GatewayConfigError && e.message === message,
    );
  };
  const site = ["--site", "http://a:1"];
  const levels = '"debug", "info", "warn" or "error"';
  await refuses([...site, "--log-level", "loud"], {}, `--log-level must be ${levels}, not "loud"`);
  await refuses(
    [...site, "--log-format=xml"],
    {},
    '--log-format must be "text" or "json", not "xml"',
  );
  await refuses(
    site,
    { EDGELEDGER_GATEWAY_LOG_LEVEL: "verbose" },
    `EDGELEDGER_GATEWAY_LOG_LEVEL must be ${levels}, not "verbose"`,
  );
  await refuses(
    site,
    { EDGELEDGER_GATEWAY_LOG_FORMAT: "yaml" },
    'EDGELEDGER_GATEWAY_LOG_FORMAT must be "text" or "json", not "yaml"',
  );
  await refuses(
    site,
    { EDGELEDGER_LOG_FORMAT: "yaml" },
    'EDGELEDGER_LOG_FORMAT must be "text" or "json", not "yaml"',
  );
  await refuses(
    site,
    { EDGELEDGER_LOG_LEVEL: "loud" },
    `EDGELEDGER_LOG_LEVEL must be ${levels}, not "loud"`,
  );
  await refuses(
    ["--config", "gw.json"],
    {},
    `log.level in gw.json must be ${levels}, not 3`,
    '{"sites":["http://a:1"],"log":{"level":3}}',
  );
  // The value in force is the one judged: a later source's good value wins over a bad one.
  const fixed = await loadGatewayConfig(
    [...site, "--log-level", "warn"],
    (n) => ({ EDGELEDGER_GATEWAY_LOG_LEVEL: "loud", EDGELEDGER_LOG_FORMAT: "json" })[n],
    noFile,
  );
  assert.deepEqual(fixed.log, { level: "warn", format: "json" });
  await refuses(
    [...site, "--log-level", "loud"],
    { EDGELEDGER_GATEWAY_LOG_LEVEL: "warn" },
    `--log-level must be ${levels}, not "loud"`,
  );
});

Deno.test("loadGatewayConfig(): client connections are guarded by default, with bounded deadlines and caps a flag or variable can change", async () => {
  const d = await loadGatewayConfig(["--site", "http://a:1"], noEnv, noFile);
  assert.equal(d.guardClientConnections, true);
  assert.deepEqual(
    [
      d.clientHeadersTimeoutMs,
      d.clientIdleTimeoutMs,
      d.clientKeepAliveTimeoutMs,
      d.clientConnectionsMax,
      d.clientConnectionsPerAddressMax,
    ],
    [10_000, 30_000, 60_000, 20_000, 1024],
  );
  const c = await loadGatewayConfig(
    [
      "--site",
      "http://a:1",
      "--guard-client-connections",
      "false",
      "--client-headers-timeout-ms",
      "2000",
    ],
    (n) => ({ EDGELEDGER_GATEWAY_CLIENT_CONNECTIONS_PER_ADDRESS_MAX: "50000" })[n],
    noFile,
  );
  assert.equal(c.guardClientConnections, false);
  assert.equal(c.clientHeadersTimeoutMs, 2000);
  assert.equal(c.clientConnectionsPerAddressMax, 50_000);
  await assert.rejects(
    loadGatewayConfig(["--site", "http://a:1", "--client-headers-timeout-ms", "0"], noEnv, noFile),
    (e: unknown) => e instanceof GatewayConfigError && /clientHeadersTimeoutMs/.test(e.message),
  );
});

Deno.test("loadGatewayConfig(): siteApiKeyFile comes from the file (relative to it), EDGELEDGER_GATEWAY_SITE_API_KEY_FILE or --site-api-key-file", async () => {
  const file = JSON.stringify({ sites: ["http://a:1"], siteApiKeyFile: "poll.key" });
  const read = (path: string) => path === "/etc/gw/gw.json" ? Promise.resolve(file) : noFile();
  const fromFile = await loadGatewayConfig(["--config", "/etc/gw/gw.json"], noEnv, read);
  assert.equal(fromFile.siteApiKeyFile, "/etc/gw/poll.key");
  const env = (n: string) => ({ EDGELEDGER_GATEWAY_SITE_API_KEY_FILE: "env.key" })[n];
  assert.equal(
    (await loadGatewayConfig(["--config", "/etc/gw/gw.json"], env, read)).siteApiKeyFile,
    "env.key",
  );
  const flag = await loadGatewayConfig(
    ["--site", "http://a:1", "--site-api-key-file", "flag.key"],
    env,
    noFile,
  );
  assert.equal(flag.siteApiKeyFile, "flag.key");
  assert.equal(
    (await loadGatewayConfig(["--site", "http://a:1"], noEnv, noFile)).siteApiKeyFile,
    undefined,
  );
});

Deno.test("readSiteApiKey(): one line of 16–256 characters without spaces; a missing file or anything else is refused naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ok.key`, "gateway-poll-key-0123456789\n");
    assert.equal(await readSiteApiKey(`${dir}/ok.key`), "gateway-poll-key-0123456789");
    await Deno.writeTextFile(`${dir}/short.key`, "short\n");
    await assert.rejects(
      readSiteApiKey(`${dir}/short.key`),
      (e: unknown) =>
        e instanceof SiteApiKeyError && /short\.key: it holds no API key/.test(e.message),
    );
    await assert.rejects(
      readSiteApiKey(`${dir}/none.key`),
      (e: unknown) => e instanceof SiteApiKeyError && /none\.key: no such file/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
