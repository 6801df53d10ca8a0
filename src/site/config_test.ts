import assert from "node:assert/strict";
import {
  clusterDirectory,
  initLocalLedger,
  loadSiteConfig,
  siteConfigSchema,
  threadsForSharedMachine,
} from "./config.ts";
import { base64urlEncode } from "../../sdk/encoding.ts";
import { generateKeyPair, importKey } from "../../sdk/keys.ts";
import { writeSiteKey } from "../../workers/sitekey.ts";
import { testGenesis } from "../../test/_helpers.ts";
import { CA_CERT_PEM, SERVER_CERT_PEM, SERVER_KEY_PEM } from "../../test/_pem_fixture.ts";
import { siteLogger, siteThreads } from "../../workers/site.ts";

Deno.test("threadsForSharedMachine: a site with two cores or more to itself gets a worker per core of its share", () => {
  assert.deepEqual(threadsForSharedMachine(1, 2), { admissionWorkers: 2, storage: "worker" });
  assert.deepEqual(threadsForSharedMachine(3, 8), { admissionWorkers: 2, storage: "worker" });
  assert.deepEqual(threadsForSharedMachine(2, 4), { admissionWorkers: 2, storage: "worker" });
});

Deno.test("threadsForSharedMachine: sites with less than two cores each admit and write on their main thread", () => {
  assert.deepEqual(threadsForSharedMachine(3, 2), { admissionWorkers: 0, storage: "inline" });
  assert.deepEqual(threadsForSharedMachine(2, 2), { admissionWorkers: 0, storage: "inline" });
  assert.deepEqual(threadsForSharedMachine(5, 8), { admissionWorkers: 0, storage: "inline" });
  assert.throws(() => threadsForSharedMachine(0, 2), RangeError);
});

Deno.test("initLocalLedger: several sites on one machine get the shared-machine threads in their configs; a lone site keeps the defaults", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-config-" });
  try {
    const three = await initLocalLedger({
      dataDir: `${dir}/three`,
      sites: 3,
      basePort: 17101,
      host: "127.0.0.1",
      cores: 2,
    });
    for (const path of three) {
      const { config } = await loadSiteConfig(path);
      assert.equal(config.admissionWorkers, 0);
      assert.equal(config.storage, "inline");
    }
    const [one] = await initLocalLedger({
      dataDir: `${dir}/one`,
      sites: 1,
      basePort: 17201,
      host: "127.0.0.1",
      cores: 2,
    });
    const { config } = await loadSiteConfig(one);
    assert.equal(config.admissionWorkers, undefined);
    assert.equal(config.storage, "worker");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("siteThreads: environment variables override the config, the config overrides the defaults", () => {
  const none = () => undefined;
  const cores = navigator.hardwareConcurrency ?? 1;
  assert.deepEqual(siteThreads({ storage: "worker" }, none), {
    storage: "worker",
    verifyWorkers: cores,
  });
  assert.deepEqual(siteThreads({ storage: "inline", admissionWorkers: 0 }, none), {
    storage: "inline",
    verifyWorkers: 0,
  });
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assert.deepEqual(
    siteThreads(
      { storage: "inline", admissionWorkers: 0 },
      env({ EDGELEDGER_STORAGE: "worker", EDGELEDGER_VERIFY_WORKERS: "3" }),
    ),
    { storage: "worker", verifyWorkers: 3 },
  );
});

Deno.test("siteThreads: a malformed EDGELEDGER_STORAGE or EDGELEDGER_VERIFY_WORKERS is refused by name", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assert.throws(
    () => siteThreads({ storage: "worker" }, env({ EDGELEDGER_STORAGE: "disk" })),
    /EDGELEDGER_STORAGE must be "worker" or "inline"/,
  );
  for (const bad of ["two", "-1", "1.5", "65", "", " "]) {
    assert.throws(
      () => siteThreads({ storage: "worker" }, env({ EDGELEDGER_VERIFY_WORKERS: bad })),
      /EDGELEDGER_VERIFY_WORKERS must be an integer from 0 to 64/,
    );
  }
});

Deno.test("clusterDirectory: genesis sites first, then the config's peers; a peer repeating a name is refused", () => {
  const key = generateKeyPair("ed25519");
  const genesis = testGenesis(key);
  const peer = {
    name: "site-d",
    url: "http://127.0.0.1:7004",
    publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
  };
  const dir = clusterDirectory(genesis, [peer]);
  assert.deepEqual(dir.map((m) => m.name), ["site-a", "site-d"]);
  assert.equal(base64urlEncode(dir[1].publicKey), peer.publicKey);
  assert.throws(() => clusterDirectory(genesis, [peer, peer]), /site-d/);
  assert.throws(() => clusterDirectory(genesis, [{ ...peer, name: "site-a" }]), /site-a/);
});

Deno.test("sitekey: writes a private key the site loads, mode 0600, and never overwrites one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/site-key.json`;
    const publicKey = await writeSiteKey(path);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const loaded = importKey(JSON.parse(await Deno.readTextFile(path)));
    assert.equal(base64urlEncode(loaded.publicKey), publicKey);
    await assert.rejects(() => writeSiteKey(path), Deno.errors.AlreadyExists);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A site config with only the keys `siteConfigSchema` requires. */
const siteBase = {
  name: "site-a",
  port: 7001,
  url: "http://127.0.0.1:7001",
  db: "file:ledger.db",
  keyFile: "k.json",
  genesisFile: "g.json",
};

Deno.test("siteConfigSchema: peerUrls maps member names to URLs (none by default); a malformed URL or an empty name is refused", () => {
  assert.deepEqual(siteConfigSchema.parse(siteBase).peerUrls, {});
  const peerUrls = { "site-b": "http://127.0.0.1:7102", "site-c": "https://pop-3.example:7443" };
  assert.deepEqual(siteConfigSchema.parse({ ...siteBase, peerUrls }).peerUrls, peerUrls);
  for (const bad of [{ "site-b": "127.0.0.1:7102" }, { "": "http://127.0.0.1:7102" }]) {
    assert.equal(siteConfigSchema.safeParse({ ...siteBase, peerUrls: bad }).success, false);
  }
});

Deno.test("siteConfigSchema: tls needs an https:// url; an https:// url without tls is allowed (TLS ends in front of the site)", () => {
  const tls = { certFile: "site.pem", keyFile: "site.key" };
  const refused = siteConfigSchema.safeParse({ ...siteBase, tls });
  assert.equal(refused.success, false);
  assert.deepEqual(refused.error?.issues[0].path, ["url"]);
  assert.ok(
    siteConfigSchema.safeParse({ ...siteBase, url: "https://127.0.0.1:7001", tls }).success,
  );
  assert.ok(siteConfigSchema.safeParse({ ...siteBase, url: "https://127.0.0.1:7001" }).success);
  assert.equal(
    siteConfigSchema.safeParse({ ...siteBase, tls: { certFile: "site.pem" } }).success,
    false,
  );
  // How often renewed files are looked for: whole milliseconds, 0 (SIGHUP only) to a day.
  const https = { ...siteBase, url: "https://127.0.0.1:7001" };
  for (const checkIntervalMs of [0, 60_000, 86_400_000]) {
    assert.ok(siteConfigSchema.safeParse({ ...https, tls: { ...tls, checkIntervalMs } }).success);
  }
  for (const checkIntervalMs of [-1, 1.5, 86_400_001, "60000"]) {
    const bad = siteConfigSchema.safeParse({ ...https, tls: { ...tls, checkIntervalMs } });
    assert.equal(bad.success, false, String(checkIntervalMs));
    assert.deepEqual(bad.error?.issues[0].path, ["tls", "checkIntervalMs"]);
  }
});

Deno.test("siteConfigSchema: txIdFilterBytesMax defaults to 256 MiB and is bounded by one first layer (2 MiB) and 1 GiB", () => {
  assert.equal(siteConfigSchema.parse(siteBase).txIdFilterBytesMax, 256 * 1024 * 1024);
  for (const ok of [2 * 1024 * 1024, 1024 * 1024 * 1024]) {
    assert.equal(
      siteConfigSchema.parse({ ...siteBase, txIdFilterBytesMax: ok }).txIdFilterBytesMax,
      ok,
    );
  }
  for (const bad of [2 * 1024 * 1024 - 1, 1024 * 1024 * 1024 + 1, 3e6 + 0.5, "268435456"]) {
    const refused = siteConfigSchema.safeParse({ ...siteBase, txIdFilterBytesMax: bad });
    assert.equal(refused.success, false, String(bad));
    assert.deepEqual(refused.error?.issues[0].path, ["txIdFilterBytesMax"]);
  }
});

Deno.test("siteConfigSchema: a leader keeps 2 proposals in flight and a follower 4 forwards by default; 0, a fraction or more than 64 is refused", () => {
  const parsed = siteConfigSchema.parse(siteBase);
  assert.equal(parsed.proposalsInFlightMax, 2);
  assert.equal(parsed.forwardsInFlightMax, 4);
  assert.equal(
    siteConfigSchema.parse({ ...siteBase, proposalsInFlightMax: 1 }).proposalsInFlightMax,
    1,
  );
  for (const key of ["proposalsInFlightMax", "forwardsInFlightMax"]) {
    for (const bad of [0, 1.5, 65]) {
      const refused = siteConfigSchema.safeParse({ ...siteBase, [key]: bad });
      assert.equal(refused.success, false, `${key} ${bad}`);
      assert.deepEqual(refused.error?.issues[0].path, [key]);
    }
  }
});

Deno.test("siteConfigSchema: stateCheckBlocks defaults to 100,000, 0 turns the state check off, and a negative or fractional count is refused", () => {
  assert.equal(siteConfigSchema.parse(siteBase).stateCheckBlocks, 100_000);
  assert.equal(siteConfigSchema.parse({ ...siteBase, stateCheckBlocks: 0 }).stateCheckBlocks, 0);
  for (const bad of [-1, 2.5, "100"]) {
    const refused = siteConfigSchema.safeParse({ ...siteBase, stateCheckBlocks: bad });
    assert.equal(refused.success, false, String(bad));
    assert.deepEqual(refused.error?.issues[0].path, ["stateCheckBlocks"]);
  }
});

Deno.test("siteConfigSchema: log defaults to info as text; an unknown key in log is refused, and a bad level with the levels named", async () => {
  assert.deepEqual(siteConfigSchema.parse(siteBase).log, { level: "info", format: "text" });
  assert.deepEqual(siteConfigSchema.parse({ ...siteBase, log: { format: "json" } }).log, {
    level: "info",
    format: "json",
  });
  const unknown = siteConfigSchema.safeParse({
    ...siteBase,
    log: { level: "info", file: "x.log" },
  });
  assert.equal(unknown.success, false);
  assert.deepEqual(unknown.error?.issues[0].path, ["log"]);
  assert.match(unknown.error!.issues[0].message, /file/);
  // As a site reads its file: one line naming the file, the key and the values allowed.
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-config-log-" });
  try {
    const path = `${dir}/site.json`;
    await Deno.writeTextFile(path, JSON.stringify({ ...siteBase, log: { level: "verbose" } }));
    await assert.rejects(
      () => loadSiteConfig(path),
      (e: Error) =>
        e.message ===
          `Cannot use ${path}: log.level: must be "debug", "info", "warn" or "error"`,
    );
    await Deno.writeTextFile(path, JSON.stringify({ ...siteBase, log: { format: "yaml" } }));
    await assert.rejects(() => loadSiteConfig(path), /log\.format: must be "text" or "json"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("siteLogger: EDGELEDGER_LOG_LEVEL overrides the config's log level; a bad EDGELEDGER_LOG_LEVEL or EDGELEDGER_LOG_FORMAT is refused by name", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  const config = { name: "site-a", log: { level: "warn" as const, format: "text" as const } };
  const fromConfig = siteLogger(config, env({}));
  assert.equal(fromConfig.enabled("info"), false);
  assert.equal(fromConfig.enabled("warn"), true);
  const fromEnv = siteLogger(config, env({ EDGELEDGER_LOG_LEVEL: "debug" }));
  assert.equal(fromEnv.enabled("debug"), true);
  assert.throws(
    () => siteLogger(config, env({ EDGELEDGER_LOG_LEVEL: "trace" })),
    /EDGELEDGER_LOG_LEVEL must be "debug", "info", "warn" or "error", not "trace"/,
  );
  assert.throws(
    () => siteLogger(config, env({ EDGELEDGER_LOG_FORMAT: "logfmt" })),
    /EDGELEDGER_LOG_FORMAT must be "text" or "json", not "logfmt"/,
  );
});

Deno.test("initLocalLedger: with tls every site gets an https:// URL (config and genesis) and the TLS files; loadSiteConfig reads them relative to the config", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-config-tls-" });
  try {
    const paths = await initLocalLedger({
      dataDir: dir,
      sites: 2,
      basePort: 17101,
      host: "127.0.0.1",
      cores: 8,
      tls: { certFile: "../site.pem", keyFile: "../site.key", caFile: "../ca.pem" },
    });
    // A real certificate and its key (loadSiteConfig checks the key is the certificate's),
    // and real CA certificates (they must load).
    await Deno.writeTextFile(`${dir}/site.pem`, SERVER_CERT_PEM);
    await Deno.writeTextFile(`${dir}/site.key`, SERVER_KEY_PEM);
    await Deno.writeTextFile(`${dir}/ca.pem`, CA_CERT_PEM + CA_CERT_PEM);
    const genesis = JSON.parse(await Deno.readTextFile(`${dir}/genesis.json`));
    assert.deepEqual(
      genesis.sites.map((s: { url: string }) => s.url),
      ["https://127.0.0.1:17101", "https://127.0.0.1:17102"],
    );
    const loaded = await loadSiteConfig(paths[1]);
    assert.equal(loaded.config.url, "https://127.0.0.1:17102");
    assert.equal(loaded.tls?.certFile, `${dir}/site-b/../site.pem`);
    assert.equal(loaded.tls?.cert, SERVER_CERT_PEM);
    assert.equal(loaded.caCerts?.length, 2);
    const plain = await initLocalLedger({
      dataDir: `${dir}/plain`,
      sites: 1,
      basePort: 17201,
      host: "127.0.0.1",
    });
    const p = await loadSiteConfig(plain[0]);
    assert.equal(p.config.url, "http://127.0.0.1:17201");
    assert.equal(p.tls, undefined);
    assert.equal(p.caCerts, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadSiteConfig: a site key file that is not JSON, or no private key, is refused naming the file and quoting nothing of it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-config-key-" });
  try {
    const [configPath] = await initLocalLedger({
      dataDir: dir,
      sites: 1,
      basePort: 7001,
      host: "127.0.0.1",
    });
    const keyPath = `${dir}/site-a/site-key.json`;
    const secret = "SECRETSECRETSECRET";
    for (
      const [text, why] of [
        [`{"kty":"OKP","crv":"Ed25519","d":"${secret}`, /it is not JSON/],
        [`{"kty":"OKP","crv":"Ed25519","d":"${secret}"}`, /it holds no private key JWK/],
      ] as const
    ) {
      await Deno.writeTextFile(keyPath, text);
      await assert.rejects(
        () => loadSiteConfig(configPath),
        (e: Error) => {
          assert.match(e.message, why);
          assert.ok(e.message.includes(keyPath), e.message);
          assert.ok(!e.message.includes("SECRET"), e.message);
          return true;
        },
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadSiteConfig: a genesisFile or keyFile that does not exist is refused in one line naming the config file, the key and the path; so is a config file that does not exist", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-config-files-" });
  try {
    const [configPath] = await initLocalLedger({
      dataDir: dir,
      sites: 1,
      basePort: 7001,
      host: "127.0.0.1",
    });
    const config = JSON.parse(await Deno.readTextFile(configPath));
    const refuses = async (changes: Record<string, unknown>, message: string) => {
      await Deno.writeTextFile(configPath, JSON.stringify({ ...config, ...changes }));
      await assert.rejects(
        () => loadSiteConfig(configPath),
        (e: Error) => {
          assert.equal(e.message, message);
          return true;
        },
      );
    };
    await refuses(
      { genesisFile: "../genesis.jsn" },
      `Cannot read ${configPath}: genesisFile ${dir}/site-a/../genesis.jsn: no such file`,
    );
    await refuses(
      { keyFile: "site-key.jsn" },
      `Cannot read ${configPath}: keyFile ${dir}/site-a/site-key.jsn: no such file`,
    );
    await refuses(
      { genesisFile: "." },
      `Cannot read ${configPath}: genesisFile ${dir}/site-a/.: a folder, not a file`,
    );
    await assert.rejects(
      () => loadSiteConfig(`${dir}/site-a/site.jsn`),
      (e: Error) => e.message === `Cannot read ${dir}/site-a/site.jsn: no such file`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("siteConfigSchema: clientConnections is off unless set; set, each limit defaults and is bounded, and an unknown key is refused", () => {
  assert.equal(siteConfigSchema.parse(siteBase).clientConnections, undefined);
  assert.deepEqual(
    siteConfigSchema.parse({ ...siteBase, clientConnections: {} }).clientConnections,
    {
      headersTimeoutMs: 10_000,
      idleTimeoutMs: 30_000,
      keepAliveTimeoutMs: 60_000,
      maxConnections: 20_000,
      maxConnectionsPerAddress: 1024,
    },
  );
  for (
    const bad of [
      { headersTimeoutMs: 0 },
      { maxConnections: 1 },
      { maxConnectionsPerAddress: 2.5 },
      { idleTimeout: 5 },
    ]
  ) {
    assert.equal(
      siteConfigSchema.safeParse({ ...siteBase, clientConnections: bad }).success,
      false,
      JSON.stringify(bad),
    );
  }
});
