/**
 * A site's configuration file and the local-ledger bootstrap used by
 * `deno task start`.
 *
 * A site config is JSON:
 *
 * ```json
 * {
 *   "name": "site-a",
 *   "host": "127.0.0.1",
 *   "port": 7001,
 *   "url": "http://127.0.0.1:7001",
 *   "db": "file:data/site-a/ledger.db",
 *   "keyFile": "data/site-a/site-key.json",
 *   "genesisFile": "data/genesis.json",
 *   "batchTxsMax": 2000,
 *   "batchDelayMs": 2,
 *   "pendingTxsMax": 50000,
 *   "requestBytesMax": 1048576,
 *   "admissionWorkers": 2,
 *   "storage": "worker"
 * }
 * ```
 *
 * Relative paths resolve against the config file's folder. Environment
 * variables `EDGELEDGER_DB_URL` and `EDGELEDGER_DB_AUTH_TOKEN` override `db`
 * (for a `libsql://` server). `tls` (`{certFile, keyFile}`) serves HTTPS,
 * and `caFile` adds CA certificates the site trusts when it connects to
 * peers (see `tls.ts`). `clientConnections` makes the site close slow and
 * idle clients (see `guarded_server.ts`). `log` (`{level, format}`) sets what the site logs
 * and how (see `../log.ts`); `EDGELEDGER_LOG_LEVEL` and
 * `EDGELEDGER_LOG_FORMAT` override it.
 *
 * @module
 */
import { z } from "zod";
import { API_KEY_NAME } from "../api/api_keys.ts";
import { base64urlDecode, base64urlEncode, utf8Encode } from "../../sdk/encoding.ts";
import { sha256Hex } from "../../sdk/hash.ts";
import { MIN_HEIGHT_WAIT_MS_DEFAULT } from "../../sdk/api/schemas.ts";
import { exportKey, generateKeyPair, importKey, type KeyPair } from "../../sdk/keys.ts";
import { type GenesisConfig, genesisSchema } from "../chain/genesis.ts";
import { logConfigSchema } from "../log.ts";
import { connectionLimitSchemas } from "./guarded_server.ts";
import { TX_ID_FILTER_BYTES_MAX_DEFAULT } from "./tx_id_filter.ts";
import { readCaCerts, readServeTls, type ServeTls, tlsFilesSchema } from "./tls.ts";

/**
 * Proposals a leader keeps in flight unless told otherwise. Two, not one:
 * with sites 20–50 ms apart, a batch that arrives while one is on its way
 * no longer waits a whole commit round trip for it (64 clients: +10–30 %
 * tx/s, p50 down 8–25 %), and on an idle loopback machine two measured
 * +2 % / +4 % at 64 / 256 clients (seven alternating rounds) —
 * docs/performance.md, "Sites far apart". The core pipelines appends
 * whatever this is; it only decides how many batches are proposed before
 * the first is applied.
 */
export const proposalsInFlightMaxDefault = 2;

/** Forwards a follower keeps in flight unless told otherwise. */
export const forwardsInFlightMaxDefault = 4;

/** The site config file's schema. */
export const siteConfigSchema = z.strictObject({
  name: z.string().min(1).max(64),
  host: z.string().default("127.0.0.1"),
  port: z.number().int().min(0).max(65535),
  url: z.url(),
  db: z.string().min(1),
  keyFile: z.string().min(1),
  genesisFile: z.string().min(1),
  batchTxsMax: z.number().int().min(1).max(10_000).default(2000),
  /** Most canonical envelope bytes in one block: a Raft entry must fit a peer frame (8 MiB as base64). */
  batchBytesMax: z.number().int().min(65_536).max(6 * 1024 * 1024).default(4 * 1024 * 1024),
  batchDelayMs: z.number().int().min(0).max(10_000).default(2),
  pendingTxsMax: z.number().int().min(1).max(1_000_000).default(50_000),
  requestBytesMax: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  /** Longest a read waits for its `minHeight` before 503 `unavailable` (README, "Read your own writes"). */
  minHeightWaitMs: z.number().int().min(0).max(60_000).default(MIN_HEIGHT_WAIT_MS_DEFAULT),
  /**
   * Below this many bytes free on the database's volume the site refuses new
   * transactions, and so does its cluster, until it has more (a `file:`
   * database only; 0: never). See the README's "Disk space".
   */
  diskFreeBytesMin: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(512 * 1024 * 1024),
  /** How often the free space is read, ms. */
  diskCheckIntervalMs: z.number().int().min(100).max(600_000).default(5000),
  /**
   * Most memory the filter of committed transaction ids grows to: 1.3 to 2.5
   * bytes per id; past it, more duplicate checks read the database.
   */
  txIdFilterBytesMax: z.number().int().min(2 * 1024 * 1024).max(1024 * 1024 * 1024)
    .default(TX_ID_FILTER_BYTES_MAX_DEFAULT),
  /**
   * Every this many blocks each cluster site hashes its contract state and
   * compares the hash with its peers' (the state check: see the README's
   * "Running a cluster" and `state_check.ts`); 0: never.
   */
  stateCheckBlocks: z.number().int().min(0).max(1_000_000_000).default(100_000),
  /** Milliseconds per Raft tick (clusters only). */
  tickMs: z.number().int().min(5).max(1000).default(50),
  /** Raft election timeout base, in ticks (randomised to [n, 2n)). */
  electionTicks: z.number().int().min(3).max(100).default(10),
  /**
   * As leader, batches proposed and not yet applied, at most (clusters
   * only): what arrives while they are on their way becomes the next,
   * larger batch. 2 lets a batch leave while the last one is still being
   * committed, which sites far apart gain most from (docs/performance.md,
   * "Sites far apart").
   */
  proposalsInFlightMax: z.number().int().min(1).max(64).default(proposalsInFlightMaxDefault),
  /** As follower, batches forwarded to the leader and not yet taken in, at most (clusters only). */
  forwardsInFlightMax: z.number().int().min(1).max(64).default(forwardsInFlightMaxDefault),
  /** Snapshot (and compact the Raft log) after this many applied entries. */
  snapshotEntriesMin: z.number().int().min(1).max(1_000_000).default(2000),
  /** Raft entries kept below a snapshot for followers that are slightly behind. */
  compactKeepEntries: z.number().int().min(0).max(1_000_000).default(500),
  /** SHA-256 hex of the admin API keys accepted by `/v1/admin/` (the keys themselves are never stored). */
  adminKeyHashes: z.array(z.string().regex(/^[0-9a-f]{64}$/)).max(16).default([]),
  /** Tenant API keys for `/v1/` (`deno task apikey <name>` makes one): a name, the key's SHA-256 hex, a budget. */
  apiKeys: z.array(z.strictObject({
    name: z.string().regex(API_KEY_NAME),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    requestsPerMinute: z.number().int().min(1).max(10_000_000).default(60_000),
  })).max(1024).default([]).refine(
    (keys) => new Set(keys.map((k) => k.name)).size === keys.length,
    "API key names must be unique",
  ),
  /** Which requests without an API key are served: "none" needs no key, "writes" a key for POSTs, "all" for every /v1/ request. */
  requireApiKey: z.enum(["none", "writes", "all"]).default("none"),
  /** This site joins a running cluster: it is not in genesis and waits to be added as a learner. */
  join: z.boolean().default(false),
  /**
   * Sites of the cluster that are not in genesis (added since), so this site
   * can reach and authenticate them before the snapshot that names them
   * arrives — say, a joining site whose leader was added after genesis.
   */
  peers: z.array(z.strictObject({
    name: z.string().min(1).max(64),
    url: z.url(),
    publicKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be a base64url Ed25519 key"),
  })).max(256).default([]),
  /**
   * How this site reaches some members, by name: each URL replaces the one
   * the membership records for that site in this site's own traffic to it
   * (its Raft streams and messages, forwards, and the blocks and state it
   * fetches), whatever URL the log later records for it. What clients are
   * told (`leaderUrl`, `/v1/sites`) and what goes in the log stay the
   * recorded URLs. For a private link between two PoPs, or a test's fault
   * proxy between sites (`test/_partition.ts`).
   */
  peerUrls: z.record(z.string().min(1).max(64), z.url()).refine(
    (m) => Object.keys(m).length <= 256,
    "at most 256 peer URLs",
  ).default({}),
  /**
   * Admission worker threads (stateless checks and signature verification);
   * 0 admits on the main thread. Default: one per core.
   */
  admissionWorkers: z.number().int().min(0).max(64).optional(),
  /**
   * Where libSQL runs: `worker` (its own thread, so an fsync never stalls
   * requests) or `inline` (the main thread: no cross-thread hand-offs).
   */
  storage: z.enum(["worker", "inline"]).default("worker"),
  /**
   * Serve HTTPS with this PEM certificate chain and key (then `url` starts
   * with `https://`). Without it the site serves plain HTTP.
   */
  tls: tlsFilesSchema.optional(),
  /**
   * PEM CA certificates the site trusts, besides Deno's root store, when it
   * connects to peers whose URL is `https://` (a consortium's private CA).
   */
  caFile: z.string().min(1).optional(),
  /**
   * Close slow and idle clients, as a gateway does (`guarded_server.ts`):
   * with it the site listens with Node's server and these deadlines and
   * caps; without (the default), with Deno's, which spends less CPU per
   * request but has no connection timeouts — for a site devices reach only
   * through gateways or a proxy. Peers' streams under `/raft/` may pause
   * between messages; the other limits apply to them too. Keys and defaults:
   * `ConnectionLimits`, `defaultConnectionLimits`.
   */
  clientConnections: z.strictObject(connectionLimitSchemas).optional(),
  /** What the site logs (`level`: the least severe written) and how (`format`: `text` or `json`). */
  log: logConfigSchema,
}).superRefine((c, ctx) => {
  if (c.tls !== undefined && !c.url.startsWith("https://")) {
    ctx.addIssue({
      code: "custom",
      path: ["url"],
      message: "must start with https:// when tls is set (peers reach the site over TLS)",
    });
  }
});

/** A parsed site config with paths resolved. */
export type SiteConfig = z.infer<typeof siteConfigSchema>;

/** Everything a site needs to start, loaded from disk. */
export interface LoadedSite extends LoadedSiteFiles {
  key: KeyPair;
  /** The certificate chain and key to serve HTTPS with (`tls`), read from their files. */
  tls?: ServeTls;
}

/**
 * What the operator commands (backup, restore, integrity) read of a site's
 * config: no private key, neither the site's nor its TLS key.
 */
export interface LoadedSiteFiles {
  config: SiteConfig;
  genesis: GenesisConfig;
  dbUrl: string;
  dbAuthToken?: string;
  /** The extra CA certificates for connections to peers (`caFile`), one PEM each. */
  caCerts?: string[];
  /** The path of `caFile`, resolved against the config's folder. */
  caFile?: string;
}

/**
 * The sites a site knows at start: genesis's, then the config's `peers`
 * (sites added since genesis). Throws when a peer repeats a name.
 */
export function clusterDirectory(
  genesis: GenesisConfig,
  peers: ReadonlyArray<{ name: string; url: string; publicKey: string }>,
): Array<{ name: string; url: string; publicKey: Uint8Array }> {
  const out = genesis.sites.map((s) => ({
    name: s.name,
    url: s.url,
    publicKey: base64urlDecode(s.publicKey),
  }));
  for (const p of peers) {
    if (out.some((m) => m.name === p.name)) {
      throw new Error(
        `Cannot use peer ${p.name}: a site of that name is in genesis or listed twice`,
      );
    }
    out.push({ name: p.name, url: p.url, publicKey: base64urlDecode(p.publicKey) });
  }
  return out;
}

/**
 * Where a site's commands reach each member, by name: genesis and the
 * config's `peers`, then each of `directories` in order (later ones win:
 * sites added or moved since), then the config's `peerUrls` over all.
 */
export function memberUrls(
  loaded: LoadedSiteFiles,
  directories: ReadonlyArray<ReadonlyArray<{ name: string; url: string }>>,
): Map<string, string> {
  const urls = new Map(
    clusterDirectory(loaded.genesis, loaded.config.peers ?? []).map((m) => [m.name, m.url]),
  );
  for (const directory of directories) for (const m of directory) urls.set(m.name, m.url);
  for (const [n, url] of Object.entries(loaded.config.peerUrls ?? {})) urls.set(n, url);
  return urls;
}

/**
 * Reads a site config, its genesis, its key and its TLS files. Throws with
 * the file and the field on bad input (a TLS file: a one-line
 * `TlsConfigError`).
 */
export async function loadSiteConfig(path: string): Promise<LoadedSite> {
  const files = await loadSiteFiles(path);
  const resolve = resolverFor(path);
  const keyPath = resolve(files.config.keyFile);
  const key = keyFromFile(keyPath, await readNamedFile(path, "keyFile", keyPath));
  const tls = files.config.tls === undefined ? undefined : await readServeTls({
    certFile: resolve(files.config.tls.certFile),
    keyFile: resolve(files.config.tls.keyFile),
  });
  return { ...files, key, ...(tls === undefined ? {} : { tls }) };
}

/**
 * Reads the site config file alone — none of the files it names (genesis,
 * CA, key, TLS) — as a reload of its keys needs: a CA file mid-rotation
 * must not keep a leaked API key in service. Throws with the file and the
 * field on bad input.
 */
export async function readSiteConfig(path: string): Promise<SiteConfig> {
  return parseJsonFile(path, await readFileText(path, path), siteConfigSchema);
}

/**
 * Reads a site config, its genesis and its CA certificates, and where its
 * database is — what the operator commands need, and never a private key
 * (so a backup can run where the site's key may not be read). Throws with
 * the file and the field on bad input.
 */
export async function loadSiteFiles(path: string): Promise<LoadedSiteFiles> {
  const resolve = resolverFor(path);
  const config = await readSiteConfig(path);
  const genesisPath = resolve(config.genesisFile);
  const genesis = parseJsonFile(
    genesisPath,
    await readNamedFile(path, "genesisFile", genesisPath),
    genesisSchema,
  );
  const caFile = config.caFile === undefined ? undefined : resolve(config.caFile);
  const caCerts = caFile === undefined ? undefined : await readCaCerts(caFile);
  const envDb = Deno.env.get("EDGELEDGER_DB_URL");
  const dbUrl = envDb ??
    (config.db.startsWith("file:") && !config.db.startsWith("file:/")
      ? "file:" + resolve(config.db.slice("file:".length))
      : config.db);
  return {
    config,
    genesis,
    dbUrl,
    dbAuthToken: Deno.env.get("EDGELEDGER_DB_AUTH_TOKEN"),
    ...(caCerts === undefined ? {} : { caCerts, caFile }),
  };
}

/**
 * The site key in `text`, the content of the key file at `path` (a private
 * JWK). Its errors name the file and never quote it: what is in a key file
 * is a private key, even when it is not a well-formed one.
 */
function keyFromFile(path: string, text: string): KeyPair {
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new Error(
      `Cannot read the site key ${path}: it is not JSON (a private JWK, as task sitekey writes)`,
    );
  }
  try {
    return importKey(jwk as Parameters<typeof importKey>[0]);
  } catch {
    throw new Error(
      `Cannot read the site key ${path}: it holds no private key JWK (as task sitekey writes)`,
    );
  }
}

/**
 * The text of the file at `path`, which the key `key` of the config at
 * `configPath` names. Throws naming both when it cannot be read:
 * "Cannot read data/site-a/site.json: genesisFile data/genesis.jsn: no such file".
 */
async function readNamedFile(configPath: string, key: string, path: string): Promise<string> {
  return await readFileText(path, `${configPath}: ${key} ${path}`);
}

/** The text of the file at `path`; throws "Cannot read <what>: <why>" in one line. */
async function readFileText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "no such file"
      : e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : e instanceof Deno.errors.IsADirectory
      ? "a folder, not a file"
      : (e as Error).message.replace(/\s+/g, " ");
    throw new Error(`Cannot read ${what}: ${why}`, { cause: e });
  }
}

/** Resolves a path in the config at `path` against the config's folder. */
function resolverFor(path: string): (p: string) => string {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "./";
  return (p) => (p.startsWith("/") ? p : dir + p);
}

function parseJsonFile<T>(path: string, text: string, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`Cannot read ${path}: not JSON (${(e as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    // The file was read: what is wrong is in it, at the field named (none: the whole object).
    const first = parsed.error.issues[0];
    const where = first.path.length > 0 ? `${first.path.join(".")}: ` : "";
    throw new Error(`Cannot use ${path}: ${where}${first.message}`);
  }
  return parsed.data;
}

/** The threads a site runs besides its main thread. */
export interface SiteThreads {
  admissionWorkers: number;
  storage: "worker" | "inline";
}

/**
 * The threads for each of `sites` sites that share one machine of `cores`
 * cores (a local ledger). A site with at least two cores to itself gets one
 * admission worker per core of its share and a storage worker. With less,
 * more threads than cores only add cross-thread hand-offs (each a wake-up of
 * a sleeping thread) to a machine that is already full: the site admits and
 * writes on its main thread. Three sites on two cores committed 15–35 % more
 * transactions per second so (BENCHMARKS.md).
 */
export function threadsForSharedMachine(sites: number, cores: number): SiteThreads {
  if (!Number.isInteger(sites) || sites < 1) {
    throw new RangeError("sites must be a positive integer");
  }
  const share = Math.max(1, cores) / sites;
  if (share < 2) return { admissionWorkers: 0, storage: "inline" };
  return { admissionWorkers: Math.floor(share), storage: "worker" };
}

/** Options of {@link initLocalLedger}. */
export interface LocalLedgerOptions {
  /** Folder that holds everything, e.g. `./data`. */
  dataDir: string;
  sites: number;
  basePort: number;
  host: string;
  ledger?: string;
  /** Cores of this machine, shared by the sites (default: `navigator.hardwareConcurrency`). */
  cores?: number;
  /**
   * Serve every site over HTTPS: each config gets these `tls` and `caFile`
   * paths as given (relative ones resolve against each site's folder) and
   * an `https://` URL, in its config and in genesis. One certificate serves
   * all the sites when it names `host`.
   */
  tls?: { certFile: string; keyFile: string; caFile?: string };
}

/**
 * {@link initLocalLedger} found a ledger of another number of sites in its
 * data folder: the caller either resumes it with `held` sites or removes the
 * folder for a new ledger of `asked` (a command line says which of its
 * flags does that).
 */
export class LedgerSizeError extends Error {
  constructor(
    readonly dataDir: string,
    readonly genesisPath: string,
    readonly asked: number,
    readonly held: number,
  ) {
    super(
      `Cannot start ${sitesCount(asked)}: ${dataDir} holds a ledger of ${sitesCount(held)} ` +
        `(${genesisPath}); start ${held} to resume it, or remove ${dataDir} to start a new ledger`,
    );
    this.name = "LedgerSizeError";
  }
}

/** `1 site`, `3 sites`. */
export function sitesCount(n: number): string {
  return `${n} site${n === 1 ? "" : "s"}`;
}

/**
 * Creates (once) a local ledger under `dataDir`: one Ed25519 key and config
 * per site and a genesis naming them, with `data.anchor` open to any
 * did:key, an admin key of the `local` organisation (`admin-key.json`) and
 * an authority that may register devices under `demo/`
 * (`authority-key.json`), both private JWKs with mode 0600. With several
 * sites, each config sets the threads of {@link threadsForSharedMachine}
 * (they all run on this machine). Existing files are kept, so a restart
 * resumes the same chain; throws {@link LedgerSizeError} when they are a
 * ledger of another number of sites. Returns the config paths.
 */
export async function initLocalLedger(options: LocalLedgerOptions): Promise<string[]> {
  const { dataDir, host, basePort } = options;
  await Deno.mkdir(dataDir, { recursive: true });
  const genesisPath = `${dataDir}/genesis.json`;
  const names = Array.from(
    { length: options.sites },
    (_, i) => `site-${String.fromCharCode(97 + i)}`,
  );
  const existing = await readIfExists(genesisPath);
  const paths: string[] = [];
  if (existing !== undefined) {
    const genesis = genesisSchema.parse(JSON.parse(existing));
    if (genesis.sites.length !== options.sites) {
      throw new LedgerSizeError(dataDir, genesisPath, options.sites, genesis.sites.length);
    }
    for (const s of genesis.sites) paths.push(`${dataDir}/${s.name}/site.json`);
    return paths;
  }
  // The admin API key (for /v1/admin/): written once for the operator; sites keep its hash.
  const adminApiKey = base64urlEncode(crypto.getRandomValues(new Uint8Array(24)));
  await Deno.writeTextFile(`${dataDir}/admin-api-key.txt`, adminApiKey + "\n", { mode: 0o600 });
  const adminApiKeyHash = sha256Hex(utf8Encode(adminApiKey));
  const threads = options.sites > 1
    ? threadsForSharedMachine(options.sites, options.cores ?? navigator.hardwareConcurrency ?? 1)
    : {};
  const sites = [];
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const siteDir = `${dataDir}/${name}`;
    await Deno.mkdir(siteDir, { recursive: true });
    const key = generateKeyPair("ed25519");
    await Deno.writeTextFile(`${siteDir}/site-key.json`, JSON.stringify(exportKey(key), null, 2), {
      mode: 0o600,
    });
    const port = basePort + i;
    const url = `${options.tls === undefined ? "http" : "https"}://${host}:${port}`;
    const tls = options.tls === undefined ? {} : {
      tls: { certFile: options.tls.certFile, keyFile: options.tls.keyFile },
      ...(options.tls.caFile === undefined ? {} : { caFile: options.tls.caFile }),
    };
    const config = {
      name,
      host,
      port,
      url,
      db: "file:ledger.db",
      keyFile: "site-key.json",
      genesisFile: "../genesis.json",
      adminKeyHashes: [adminApiKeyHash],
      ...threads,
      ...tls,
    };
    await Deno.writeTextFile(`${siteDir}/site.json`, JSON.stringify(config, null, 2) + "\n");
    sites.push({ name, org: "local", publicKey: base64urlEncode(key.publicKey), url });
    paths.push(`${siteDir}/site.json`);
  }
  const ledger = options.ledger ?? "demo";
  const admin = generateKeyPair("ed25519");
  const authority = generateKeyPair("ed25519");
  const keyFiles = { "admin-key.json": admin, "authority-key.json": authority };
  for (const [file, key] of Object.entries(keyFiles)) {
    await Deno.writeTextFile(`${dataDir}/${file}`, JSON.stringify(exportKey(key), null, 2), {
      mode: 0o600,
    });
  }
  const genesis: GenesisConfig = {
    v: 1,
    ledger,
    origin: `edgeledger.local/${ledger}`,
    time: Date.now(),
    organisations: [{ id: "local", name: "Local development consortium", admins: [admin.did] }],
    sites,
    policies: { expiryWindowMs: 24 * 3600 * 1000, openKinds: ["data.anchor"] },
    authorities: [{
      did: authority.did,
      org: "local",
      name: "Local demo authority",
      namespaces: ["demo/"],
    }],
  };
  await Deno.writeTextFile(genesisPath, JSON.stringify(genesis, null, 2) + "\n");
  return paths;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}
