/**
 * Shared fixtures for cross-module tests: a throwaway ledger on a temp libSQL
 * file, and signed `data.anchor` envelopes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { base64urlEncode, hexEncode } from "../sdk/encoding.ts";
import { createEnvelope, type Envelope, signEnvelope, transactionId } from "../sdk/envelope.ts";
import { generateKeyPair, type KeyPair, softwareSigner } from "../sdk/keys.ts";
import { createApp } from "../src/api/app.ts";
import type { GenesisConfig } from "../src/chain/genesis.ts";
import { loadSiteConfig } from "../src/site/config.ts";
import { Site, type SiteOptions } from "../src/site/site.ts";
import { createLogger, type Logger } from "../src/log.ts";

/**
 * A test's whole-number setting from the environment (`SOAK_SECONDS`,
 * `MC_DEPTH`, …): undefined when unset or empty, and an error naming the
 * variable for anything but a non-negative safe integer.
 */
export function envInt(name: string): number | undefined {
  const v = Deno.env.get(name);
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`Cannot parse ${name}: ${v}`);
  return n;
}

/**
 * The log of what a test runs in its own process (sites, hosts,
 * gateways): errors only, so a test's output stays quiet, unless
 * `CLUSTER_LOG` is set (then everything, as cluster tests echo their sites').
 */
export function testLogger(context?: Record<string, string>): Logger {
  return createLogger({ level: Deno.env.get("CLUSTER_LOG") ? "debug" : "error", context });
}

/** A logger that keeps every record, as its JSON line and parsed. */
export interface RecordingLogger {
  log: Logger;
  /** The JSON lines written, in order. */
  lines: string[];
  /** Each line parsed. */
  records: Array<Record<string, unknown>>;
  /** The records whose `msg` is `msg`. */
  said(msg: string): Array<Record<string, unknown>>;
}

/** A JSON logger at `debug` with `context` that records what it writes (see {@link RecordingLogger}). */
export function recordingLogger(context?: Record<string, string>): RecordingLogger {
  const lines: string[] = [];
  const records: Array<Record<string, unknown>> = [];
  const log = createLogger({
    level: "debug",
    format: "json",
    context,
    write: (line) => {
      lines.push(line);
      records.push(JSON.parse(line));
    },
  });
  return { log, lines, records, said: (msg) => records.filter((r) => r.msg === msg) };
}

/** A genesis with one site named `site-a` whose key is `siteKey`; `openKinds` defaults to `["data.anchor"]`. */
export function testGenesis(
  siteKey: KeyPair,
  ledger = "demo",
  openKinds: string[] = ["data.anchor"],
): GenesisConfig {
  return {
    v: 1,
    ledger,
    origin: `edgeledger.test/${ledger}`,
    time: 1_700_000_000_000,
    organisations: [{ id: "org-a", name: "Org A" }],
    sites: [{
      name: "site-a",
      org: "org-a",
      publicKey: base64urlEncode(siteKey.publicKey),
      url: "http://127.0.0.1:1",
    }],
    policies: { expiryWindowMs: 24 * 3600 * 1000, openKinds },
  };
}

/**
 * A fresh site on a temp database; `reopen` opens the same files again. It
 * logs through {@link testLogger} unless `overrides` gives a `log`.
 */
export async function openTestSite(overrides: Partial<SiteOptions> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-test-" });
  const key = generateKeyPair("ed25519");
  const genesis = testGenesis(key);
  const base: SiteOptions = {
    name: "site-a",
    dbUrl: `file:${dir}/ledger.db`,
    genesis,
    key,
    batchDelayMs: 1,
    log: testLogger({ site: overrides.name ?? "site-a" }),
    ...overrides,
  };
  const site = await Site.open(base);
  return {
    dir,
    site,
    options: base,
    app: createApp(site, { metrics: () => site.metrics() }),
    reopen: (o: Partial<SiteOptions> = {}) => Site.open({ ...base, ...o }),
    cleanup: async () => {
      await site.close().catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Opens the site of `configPath` in-process (no HTTP, no consensus), logging through {@link testLogger}. */
export async function openSiteOf(configPath: string): Promise<Site> {
  const loaded = await loadSiteConfig(configPath);
  return await Site.open({
    name: loaded.config.name,
    dbUrl: loaded.dbUrl,
    genesis: loaded.genesis,
    key: loaded.key,
    log: testLogger(),
  });
}

/** Opens the site of `configPath` in-process and closes it: its database then exists and holds block 0. */
export async function writeBlockZero(configPath: string): Promise<void> {
  await (await openSiteOf(configPath)).close();
}

let streamCounter = 0;

/** A signed `data.anchor` by `key` on `stream` with `seq`. */
export async function anchorTx(
  key: KeyPair,
  options: { stream?: string; seq?: number; ledger?: string; expiresAt?: number; ttlMs?: number } =
    {},
): Promise<Envelope> {
  const now = Date.now();
  const unsigned = createEnvelope({
    ledger: options.ledger ?? "demo",
    kind: "data.anchor",
    body: {
      stream: options.stream ?? `s-${++streamCounter}-${crypto.randomUUID().slice(0, 8)}`,
      seq: options.seq ?? 0,
      root: hexEncode(crypto.getRandomValues(new Uint8Array(32))),
      count: 10,
      from: now - 1000,
      to: now,
    },
    signers: [key.did],
    ...(options.expiresAt !== undefined
      ? { expiresAt: options.expiresAt }
      : { ttlMs: options.ttlMs ?? 3600_000 }),
  });
  return await signEnvelope(unsigned, [softwareSigner(key)]);
}

/** POSTs JSON to the app and returns status, headers and parsed body. */
export async function postJson(
  app: { request: (input: string, init?: RequestInit) => Response | Promise<Response> },
  path: string,
  body: unknown,
) {
  const res = await app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** GETs a path and returns status and parsed JSON (or text). */
export async function getJson(
  app: { request: (input: string, init?: RequestInit) => Response | Promise<Response> },
  path: string,
) {
  return await readAnswer(await app.request(path));
}

/** A response's status, headers and body: parsed JSON when its type says JSON, else text. */
export async function readAnswer(res: Response) {
  const text = await res.text();
  const type = res.headers.get("content-type") ?? "";
  return {
    status: res.status,
    headers: res.headers,
    body: type.includes("json") ? JSON.parse(text) : text,
  };
}

/** How a request body that never comes in full starts: sized, and chunked. */
export const PARTIAL_BODY_HEADS = [
  "Content-Length: 1000\r\n\r\n{",
  "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n",
];

/**
 * Opens a `POST /v1/txs` to `url` whose body never comes in full (`head`: its
 * length or chunking header and the start of the body) and waits until the
 * server has read the request; the caller closes the connection.
 */
export async function openPartialRequest(
  url: string,
  head = PARTIAL_BODY_HEADS[0],
): Promise<Deno.TcpConn> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  await conn.write(
    new TextEncoder().encode(
      "POST /v1/txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + head,
    ),
  );
  // Until the server reads the request.
  await new Promise((r) => setTimeout(r, 200));
  return conn;
}

/**
 * Requests that no route of a site or a gateway handles and for which
 * Deno.serve makes a body stream although none is sent: a method it does not
 * know (`PROPFIND`) and a known one in lower case (`get`, which `fetch`
 * would send upper-cased). Each a whole HTTP/1.1 request, closing the connection.
 */
export const BODYLESS_UNROUTED_HEADS = [
  "PROPFIND /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  "get /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
];

/** Sends `request` (raw HTTP/1.1 that closes the connection) to `port` on loopback; the answer as text. */
export async function rawExchange(port: number, request: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    return await new Response(conn.readable).text();
  } catch (e) {
    conn.close();
    throw e;
  }
}

/** POSTs `body` as JSON to `url` + `path` with no `Content-Length`: a chunked body on the wire. */
export async function postChunked(url: string, path: string, body: string): Promise<Response> {
  const bytes = new TextEncoder().encode(body);
  return await fetch(url + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    }),
  });
}

/**
 * The round trip every database must carry for a site with a storage
 * worker: 20 transactions committed in one batch, a proof, an idempotent
 * resubmission answered at the same log index, a restart (also with a
 * storage worker) that keeps all 20, and a clean integrity check. Closes
 * the reopened site; `t.cleanup` is the caller's.
 */
export async function checkStorageWorkerRoundTrip(
  t: Awaited<ReturnType<typeof openTestSite>>,
  device: KeyPair,
): Promise<void> {
  const envs = await Promise.all(Array.from({ length: 20 }, () => anchorTx(device)));
  const r = await postJson(t.app, "/v1/txs?wait=commit", { txs: envs });
  if (!r.body.receipts.every((x: { status: string }) => x.status === "committed")) {
    throw new Error(`Not all committed: ${JSON.stringify(r.body)}`);
  }
  const p = await getJson(t.app, `/v1/txs/${r.body.receipts[7].txId}/proof`);
  if (p.status !== 200) throw new Error(`Proof answered ${p.status}`);
  const again = await postJson(t.app, "/v1/txs?wait=commit", envs[3]);
  if (again.body.logIndex !== r.body.receipts[3].logIndex) {
    throw new Error(`Resubmission answered log index ${again.body.logIndex}`);
  }
  await t.site.close();
  const reopened = await t.reopen({ storage: "worker" });
  try {
    const logSize = (await reopened.status()).logSize;
    if (logSize !== 20) throw new Error(`Reopened with log size ${logSize}, not 20`);
    const report = await reopened.integrity();
    if (!report.ok) throw new Error(`Integrity: ${report.firstMismatch}`);
  } finally {
    await reopened.close();
  }
}

/**
 * The restart every database must survive: 20 transactions committed, 20
 * more submitted without waiting, the site closed while they may be in
 * flight (then `afterClose` runs), and the reopened site keeps the 20,
 * commits all 40 on resubmission with one log index each, chains its head
 * to its parent and passes its integrity check. Closes the reopened site;
 * `t.cleanup` is the caller's.
 */
export async function checkRestartMidStream(
  t: Awaited<ReturnType<typeof openTestSite>>,
  device: KeyPair,
  afterClose: () => void = () => {},
): Promise<void> {
  const envs: Envelope[] = [];
  for (let i = 0; i < 40; i++) envs.push(await anchorTx(device));
  const committed = await postJson(t.app, "/v1/txs?wait=commit", { txs: envs.slice(0, 20) });
  assert.ok(committed.body.receipts.every((r: { status: string }) => r.status === "committed"));
  // Submit more without waiting, then stop while they may be in flight.
  await postJson(t.app, "/v1/txs", { txs: envs.slice(20) });
  const before = await t.site.status();
  await t.site.close();
  afterClose();
  const reopened = await t.reopen();
  try {
    const after = await reopened.status();
    assert.ok(after.height >= before.height - 1);
    for (const e of envs.slice(0, 20)) {
      const got = await reopened.getTx(transactionId(e), "stale");
      assert.equal(got?.receipt.status, "committed");
    }
    // Resubmitting everything commits what was lost in flight, once.
    const again = await reopened.submit(envs, { wait: true, waitTimeoutMs: 10_000 });
    assert.ok(again.every((r) => r.status === "committed"));
    const indexes = new Set(again.map((r) => r.logIndex));
    assert.equal(indexes.size, 40, "each transaction holds one log index");
    const status = await reopened.status();
    assert.equal(status.logSize, 40);
    const head = await reopened.blockByHeight(status.height, "stale");
    const parent = await reopened.blockByHeight(status.height - 1, "stale");
    assert.equal(head?.header.prev, parent?.hash);
    const report = await reopened.integrity();
    assert.ok(report.ok, report.firstMismatch);
  } finally {
    await reopened.close();
  }
}
