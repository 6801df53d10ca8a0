/**
 * The explorer page (`src/api/explorer.ts`) in a real browser: Debian's
 * headless Chromium, driven by playwright-core, against a fake in-memory
 * JSON API on 127.0.0.1 whose blocks, log and checkpoint are real (RFC 9162
 * Merkle tree, Ed25519-signed note), so the page's own verification runs for
 * real: a valid proof shows ✓ and a tampered one ✗. A second test pages a
 * chain of several pages (a small page size, so it stays fast) back to block
 * 0 and forward again while blocks arrive. A third shows and clears the
 * status callouts (stopped site, diverged replicas) and the RULES item as the
 * status changes, fast-forwarding the page's clock to its next refresh.
 * Others take the site away (refusing connections, or frozen: taking
 * requests and answering none, where the page's clock runs its request
 * deadline and stalled-stream check), make it require an API key, and show
 * a block with more transactions than the page looks up.
 * The accessibility test runs axe-core (WCAG 2.1 A/AA) over every view in
 * both colour schemes and at 320 px, and checks what axe cannot: keyboard
 * order and focus, headings and titles, names in Chromium's accessibility
 * tree, what the live regions announce, and reduced motion.
 *
 * Never downloads a browser: without `/usr/bin/chromium` the test is skipped,
 * saying why. Screenshots land in `/tmp/explorer*.png`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { AxeBuilder } from "@axe-core/playwright";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { canonicalJson } from "../sdk/canonical_json.ts";
import {
  base64Encode,
  base64urlEncode,
  concatBytes,
  hexEncode,
  utf8Encode,
} from "../sdk/encoding.ts";
import { sha256, sha256Hex } from "../sdk/hash.ts";
import { explorerHtml } from "../src/api/explorer.ts";

const CHROMIUM = "/usr/bin/chromium";
const chromiumPresent = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!chromiumPresent) {
  console.warn(
    `explorer_browser_test: skipped: ${CHROMIUM} does not exist (apt-get install -y chromium)`,
  );
}

// ---------------------------------------------------------------------------
// A small ledger with a real Merkle log (RFC 9162 §2.1).

const LEDGER = "demo";
const ORIGIN = "edgeledger.test/demo";
const T0 = 1_764_000_000_000;
const SIGNER_A = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
const SIGNER_B = "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169";
/** Rendered as text by the page; if it ever became HTML it would set `window.__xss`. */
const XSS = "<img src=x onerror=window.__xss=1>";

type Json = Record<string, unknown>;
type Header = {
  v: 1;
  ledger: string;
  height: number;
  prev: string;
  time: number;
  term: number;
  proposer: string;
  txCount: number;
  logSize: number;
  logRoot: string;
};
type Block = { hash: string; header: Header; txIds: string[] };
type LoggedTx = {
  id: string;
  tx: Json;
  result: Json;
  height: number;
  logIndex: number;
  leaf: Uint8Array;
};

const leafHash = (leaf: Uint8Array) => sha256(concatBytes(new Uint8Array([0]), leaf));
const nodeHash = (l: Uint8Array, r: Uint8Array) => sha256(concatBytes(new Uint8Array([1]), l, r));

/** Largest power of two strictly below `n` (requires n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) over leaf hashes, RFC 9162 §2.1.1. */
function treeHash(hashes: Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return sha256(new Uint8Array());
  if (hashes.length === 1) return hashes[0];
  const k = split(hashes.length);
  return nodeHash(treeHash(hashes.slice(0, k)), treeHash(hashes.slice(k)));
}

/** PATH(m, D[n]), RFC 9162 §2.1.3.1. Requires `0 <= m < hashes.length`. */
function inclusionPath(m: number, hashes: Uint8Array[]): Uint8Array[] {
  if (hashes.length <= 1) return [];
  const k = split(hashes.length);
  return m < k
    ? [...inclusionPath(m, hashes.slice(0, k)), treeHash(hashes.slice(k))]
    : [...inclusionPath(m - k, hashes.slice(k)), treeHash(hashes.slice(0, k))];
}

function envelope(n: number, kind: string, body: Json, signers = [SIGNER_A]): Json {
  return {
    v: 1,
    ledger: LEDGER,
    kind,
    body,
    nonce: base64urlEncode(new Uint8Array(16).fill(n)),
    expiresAt: T0 + 3_600_000,
    signers,
    sigs: signers.map(() => base64urlEncode(new Uint8Array(64).fill(n))),
  };
}

function txId(env: Json): string {
  const { sigs: _sigs, ...unsigned } = env;
  return sha256Hex(utf8Encode("edgeledger/tx/v1\n" + canonicalJson(unsigned)));
}

function blockHash(header: Header): string {
  return sha256Hex(utf8Encode("edgeledger/block/v1\n" + canonicalJson(header)));
}

class FakeLedger {
  readonly blocks: Block[] = [];
  readonly txs: LoggedTx[] = [];
  /** Transactions whose served proof has one flipped bit. */
  readonly tampered = new Set<string>();
  /** Transactions whose served receipt claims "applied", whatever the log says. */
  readonly lyingReceipts = new Set<string>();

  constructor() {
    const genesis: Header = {
      v: 1,
      ledger: LEDGER,
      height: 0,
      prev: "0".repeat(64),
      time: T0,
      term: 1,
      proposer: "site-a",
      txCount: 0,
      logSize: 0,
      logRoot: hexEncode(treeHash([])),
    };
    this.blocks.push({ hash: blockHash(genesis), header: genesis, txIds: [] });
  }

  /** Appends a block of `entries`; returns the block. */
  append(entries: { tx: Json; result: Json }[], time: number): Block {
    const parent = this.blocks[this.blocks.length - 1];
    const ids: string[] = [];
    for (const { tx, result } of entries) {
      const id = txId(tx);
      const leaf = utf8Encode(canonicalJson({ tx, result }));
      this.txs.push({
        id,
        tx,
        result,
        height: parent.header.height + 1,
        logIndex: this.txs.length,
        leaf,
      });
      ids.push(id);
    }
    const header: Header = {
      v: 1,
      ledger: LEDGER,
      height: parent.header.height + 1,
      prev: parent.hash,
      time,
      term: 2,
      proposer: parent.header.height % 2 === 0 ? "site-a" : "site-b",
      txCount: entries.length,
      logSize: this.txs.length,
      logRoot: hexEncode(treeHash(this.leafHashes(this.txs.length))),
    };
    const block = { hash: blockHash(header), header, txIds: ids };
    this.blocks.push(block);
    return block;
  }

  leafHashes(size: number): Uint8Array[] {
    return this.txs.slice(0, size).map((t) => leafHash(t.leaf));
  }

  tx(id: string): LoggedTx | undefined {
    return this.txs.find((t) => t.id === id);
  }

  proof(t: LoggedTx, treeSize: number): Json {
    const path = inclusionPath(t.logIndex, this.leafHashes(treeSize)).map((p) => p.slice());
    if (this.tampered.has(t.id)) path[0][0] ^= 0x01;
    return {
      logIndex: t.logIndex,
      treeSize,
      leaf: base64urlEncode(t.leaf),
      proof: path.map(hexEncode),
    };
  }
}

type SiteKey = { name: string; url: string; keyPair: CryptoKeyPair; raw: Uint8Array };

/** A site key's Ed25519 public key, base64url (as rotations name keys). */
const rawKey = (key: SiteKey) => base64urlEncode(key.raw.slice(1));

async function signWith(key: SiteKey, text: string): Promise<string> {
  const sig = await crypto.subtle.sign(
    { name: "Ed25519" },
    key.keyPair.privateKey,
    new TextEncoder().encode(text),
  );
  return base64urlEncode(new Uint8Array(sig));
}

/** The rotation of a site from key `from` to key `to`, signed by both (sdk/key_rotation.ts). */
async function rotationOf(from: SiteKey, to: SiteKey) {
  const text = `edgeledger/site-key-rotation/v1\n${from.name}\n${rawKey(from)}\n${rawKey(to)}\n`;
  return {
    name: from.name,
    previous: rawKey(from),
    publicKey: rawKey(to),
    previousSig: await signWith(from, text),
    newSig: await signWith(to, text),
  };
}

/** `retired`'s last height as /keys serves it, signed by `signer` for `signedHeight`. */
async function retiredEntry(
  retired: SiteKey,
  untilHeight: number,
  signer?: SiteKey,
  signedHeight = untilHeight,
) {
  const entry = { verifierKey: verifierKey(retired), untilHeight };
  if (signer === undefined) return entry;
  const text = `edgeledger/site-key-retirement/v1\n${retired.name}\n${
    rawKey(retired)
  }\n${signedHeight}\n`;
  return { ...entry, signer: rawKey(signer), signature: await signWith(signer, text) };
}

async function siteKey(name: string, url: string): Promise<SiteKey> {
  const keyPair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const pub = new Uint8Array(await crypto.subtle.exportKey("raw", keyPair.publicKey));
  return { name, url, keyPair, raw: concatBytes(new Uint8Array([1]), pub) };
}

/** C2SP signed-note key hash: the first 4 bytes of SHA-256(name || "\n" || 0x01 || key). */
function keyHash(key: SiteKey): Uint8Array {
  return sha256(concatBytes(utf8Encode(key.name + "\n"), key.raw)).slice(0, 4);
}

function verifierKey(key: SiteKey): string {
  return `${key.name}+${hexEncode(keyHash(key))}+${base64Encode(key.raw)}`;
}

/** A C2SP tlog-checkpoint over the first `size` entries, signed by `signers`. */
async function signedCheckpoint(
  ledger: FakeLedger,
  block: Block,
  signers: SiteKey[],
): Promise<string> {
  const size = block.header.logSize;
  const body = `${ORIGIN}\n${size}\n${base64Encode(treeHash(ledger.leafHashes(size)))}\n` +
    `height ${block.header.height}\nblock ${block.hash}\n`;
  const lines: string[] = [];
  for (const key of signers) {
    const sig = new Uint8Array(
      await crypto.subtle.sign(
        { name: "Ed25519" },
        key.keyPair.privateKey,
        new TextEncoder().encode(body),
      ),
    );
    lines.push(`\u2014 ${key.name} ${base64Encode(concatBytes(keyHash(key), sig))}\n`);
  }
  return body + "\n" + lines.join("");
}

// ---------------------------------------------------------------------------
// The fake site: the explorer at `/` and the JSON API it reads.

const PROBLEM_SLUGS: Record<number, string> = {
  400: "validation",
  401: "unauthorized",
  404: "not_found",
  503: "unavailable",
};

function problem(status: number, title: string, detail: string): Response {
  return Response.json(
    {
      type: `https://edgeledger.dev/problems/${PROBLEM_SLUGS[status] ?? "internal"}`,
      title,
      status,
      detail,
      requestId: crypto.randomUUID(),
    },
    { status, headers: { "Content-Type": "application/problem+json" } },
  );
}

class FakeSite {
  readonly #encoder = new TextEncoder();
  readonly #streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  checkpoint = "";
  /** While true, `/v1/events` answers 503: the page must fall back to polling. */
  eventsDown = false;
  /** While true, every `/v1/` route answers 503, as a proxy in front of a stopped site does. */
  unavailable = false;
  /** While true, every `/v1/` route answers 401, as a site with `requireApiKey: "all"` does. */
  requireKey = false;
  /** While set, `/v1/` requests are taken and not answered until {@link thaw}: a frozen site. */
  #frozen: { until: Promise<void>; thaw(): void } | null = null;
  /** Fields merged over `/v1/status`'s answer: `healthy`, `removed`, `divergence`, `rules`. */
  status: Json = {};
  /** Keys each member retired, with the last height each signed (`/v1/sites/{name}/keys`). */
  retired = new Map<string, Array<{ verifierKey: string; untilHeight: number }>>();
  /** Each member's rotations, oldest first (`/v1/sites/{name}/keys`). */
  rotations = new Map<string, unknown[]>();

  constructor(
    readonly ledger: FakeLedger,
    readonly sites: SiteKey[],
    readonly blocksPerPage?: number,
  ) {}

  /** Sends `block` to every open event stream as an SSE `block` event. */
  push(block: Block): void {
    const data = {
      height: block.header.height,
      hash: block.hash,
      header: block.header,
      txs: block.txIds.map((id) => {
        const t = this.ledger.tx(id)!;
        return {
          txId: id,
          kind: t.tx.kind,
          signers: t.tx.signers,
          logIndex: t.logIndex,
          result: t.result,
        };
      }),
    };
    const frame = this.#encoder.encode(
      `event: block\nid: ${block.header.height}\ndata: ${JSON.stringify(data)}\n\n`,
    );
    for (const c of this.#streams) c.enqueue(frame);
  }

  get streams(): number {
    return this.#streams.size;
  }

  /** From now on, takes `/v1/` requests and answers none (open event streams stay open, silent). */
  freeze(): void {
    let thaw = () => {};
    const until = new Promise<void>((resolve) => thaw = resolve);
    this.#frozen = { until, thaw };
  }

  /** Answers the requests taken while frozen, and all later ones. */
  thaw(): void {
    this.#frozen?.thaw();
    this.#frozen = null;
  }

  closeStreams(): void {
    for (const c of this.#streams) {
      try {
        c.close();
      } catch { /* already closed by the client */ }
    }
    this.#streams.clear();
  }

  handle(req: Request): Response | Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    const ledger = this.ledger;
    const tip = ledger.blocks[ledger.blocks.length - 1];
    if (this.#frozen !== null && path.startsWith("/v1/")) {
      return this.#frozen.until.then(() => this.handle(req));
    }
    if (this.unavailable && path.startsWith("/v1/")) {
      return problem(503, "Service unavailable", "Cannot reach the site: it is not answering");
    }
    if (this.requireKey && path.startsWith("/v1/")) {
      return problem(
        401,
        "Unauthorized",
        "This site serves requests only with an API key (Authorization: Bearer <key>)",
      );
    }
    if (path === "/") {
      const html = explorerHtml({ title: "demo · edgeledger", blocksPerPage: this.blocksPerPage });
      return new Response(html, {
        headers: { "Content-Type": "text/html; charset=utf-8" },
      });
    }
    if (path === "/v1/status") {
      return Response.json({
        ledger: LEDGER,
        origin: ORIGIN,
        site: "site-a",
        role: "leader",
        term: 2,
        leader: "site-a",
        commitIndex: tip.header.height + 7,
        appliedIndex: tip.header.height + 7,
        height: tip.header.height,
        logSize: tip.header.logSize,
        head: tip.hash,
        pendingTxs: 1,
        version: "0.1.0-test",
        ...this.status,
      });
    }
    if (path === "/v1/blocks") {
      const from = Number(url.searchParams.get("from") ?? 0);
      const limit = Number(url.searchParams.get("limit") ?? 100);
      const blocks = ledger.blocks.slice(from, from + limit);
      const next = blocks.length === limit && from + limit < ledger.blocks.length
        ? from + limit
        : null;
      return Response.json({ blocks, next });
    }
    let m = /^\/v1\/blocks\/(\d+)$/.exec(path);
    if (m) {
      const block = ledger.blocks[Number(m[1])];
      return block
        ? Response.json(block)
        : problem(404, "Not found", `Cannot find block at height ${m[1]}`);
    }
    m = /^\/v1\/blocks\/by-hash\/([0-9a-f]{64})$/.exec(path);
    if (m) {
      const block = ledger.blocks.find((b) => b.hash === m![1]);
      return block ? Response.json(block) : problem(404, "Not found", `Cannot find block ${m[1]}`);
    }
    m = /^\/v1\/txs\/([0-9a-f]{64})(\/proof)?$/.exec(path);
    if (m) {
      const t = ledger.tx(m[1]);
      if (!t) return problem(404, "Not found", `Cannot find transaction ${m[1]}`);
      if (!m[2]) {
        return Response.json({
          tx: t.tx,
          receipt: {
            txId: t.id,
            status: "committed",
            height: t.height,
            logIndex: t.logIndex,
            result: ledger.lyingReceipts.has(t.id) ? { status: "applied" } : t.result,
          },
        });
      }
      const treeSize = Number(url.searchParams.get("treeSize") ?? tip.header.logSize);
      if (!(treeSize > t.logIndex && treeSize <= ledger.txs.length)) {
        return problem(
          400,
          "Request validation failed",
          `treeSize: must be in (${t.logIndex}, ${ledger.txs.length}]`,
        );
      }
      return Response.json(ledger.proof(t, treeSize));
    }
    if (path === "/v1/checkpoint") {
      return new Response(this.checkpoint, {
        headers: { "Content-Type": "text/plain; charset=utf-8" },
      });
    }
    if (path === "/v1/sites") {
      return Response.json({
        sites: [
          ...this.sites.map((s) => ({ name: s.name, url: s.url, verifierKey: verifierKey(s) })),
          { name: "site-x", url: "javascript:window.__xss=2", verifierKey: "site-x+00000000+AQ==" },
        ],
      });
    }
    m = /^\/v1\/sites\/([^/]+)\/keys$/.exec(path);
    if (m) {
      const key = this.sites.find((s) => s.name === decodeURIComponent(m![1]));
      if (key === undefined) return problem(404, "Not found", `Cannot find site ${m[1]}`);
      return Response.json({
        name: key.name,
        verifierKey: verifierKey(key),
        rotations: this.rotations.get(key.name) ?? [],
        retired: this.retired.get(key.name) ?? [],
      });
    }
    if (path === "/v1/events") {
      if (this.eventsDown) {
        return problem(503, "Service unavailable", "Cannot subscribe: too many event streams");
      }
      let controller: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({
        start: (c) => {
          controller = c;
          this.#streams.add(c);
          c.enqueue(this.#encoder.encode(": hello\n\n"));
        },
        cancel: () => {
          this.#streams.delete(controller);
        },
      });
      return new Response(body, {
        headers: { "Content-Type": "text/event-stream", "Cache-Control": "no-store" },
      });
    }
    return problem(404, "Not found", `Cannot find ${req.method} ${path}: no such route`);
  }
}

async function fixture() {
  const ledger = new FakeLedger();
  const tx = {
    anchor0: envelope(1, "data.anchor", {
      stream: "meter-7",
      seq: 0,
      root: "ab".repeat(32),
      count: 10,
      from: T0,
      to: T0 + 60_000,
    }),
    anchor1: envelope(2, "data.anchor", {
      stream: XSS,
      seq: 0,
      root: "cd".repeat(32),
      count: 3,
      from: T0,
      to: T0 + 1_000,
    }),
    transfer: envelope(3, "asset.transfer", { asset: "EDGE", to: SIGNER_B, amount: "50" }),
    handoff: envelope(4, "custody.handoff", { item: "pallet-42", from: SIGNER_A, to: SIGNER_B }, [
      SIGNER_A,
      SIGNER_B,
    ]),
    anchor2: envelope(5, "data.anchor", {
      stream: "meter-7",
      seq: 1,
      root: "ef".repeat(32),
      count: 10,
      from: T0 + 60_000,
      to: T0 + 120_000,
    }),
    late: envelope(6, "data.anchor", {
      stream: "meter-9",
      seq: 0,
      root: "01".repeat(32),
      count: 1,
      from: T0,
      to: T0,
    }),
  };
  const applied = { status: "applied" };
  ledger.append(
    [{ tx: tx.anchor0, result: applied }, { tx: tx.anchor1, result: applied }],
    T0 + 1_000,
  );
  ledger.append([
    {
      tx: tx.transfer,
      result: {
        status: "rejected",
        code: "insufficient_funds",
        detail: "Cannot transfer 50 EDGE: balance is 20",
      },
    },
    { tx: tx.handoff, result: applied },
  ], T0 + 2_000);
  const b3 = ledger.append([{
    tx: tx.anchor2,
    // A real contract's code, long and unbroken: the phone-sized step checks that it fits.
    result: {
      status: "rejected",
      code: "stream_seq_not_increasing",
      detail: "Cannot anchor seq 1: expected 2",
    },
  }], T0 + 3_000);
  ledger.tampered.add(txId(tx.handoff));
  ledger.lyingReceipts.add(txId(tx.anchor2));
  const keys = [
    await siteKey("site-a", "http://127.0.0.1:7001"),
    await siteKey("site-b", "http://127.0.0.1:7002"),
  ];
  const site = new FakeSite(ledger, keys);
  site.checkpoint = await signedCheckpoint(ledger, b3, keys);
  const ids = Object.fromEntries(Object.entries(tx).map(([k, v]) => [k, txId(v)])) as Record<
    keyof typeof tx,
    string
  >;
  return { ledger, site, tx, ids, keys };
}

// ---------------------------------------------------------------------------

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * A headless Chromium on a fresh profile that may reach 127.0.0.1 only;
 * `problems` collects what went wrong. Console errors matching `expected`
 * are not problems: by default the 404s a test asks for and the 503s of an
 * event stream it takes down.
 */
async function openBrowser(expected = /status of (404|503)\b/): Promise<
  { context: BrowserContext; page: Page; problems: string[]; close(): Promise<void> }
> {
  const userDataDir = await Deno.makeTempDir({ prefix: "explorer-chromium-" });
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    colorScheme: "light",
  });
  const problems: string[] = [];
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !expected.test(m.text())) {
      problems.push(`console: ${m.text()}`);
    }
  });
  // Only loopback: anything else the page asks for is a bug.
  await context.route((u) => u.hostname !== "127.0.0.1", (route) => {
    problems.push(`non-loopback request: ${route.request().url()}`);
    return route.abort();
  });
  return {
    context,
    page,
    problems,
    async close() {
      await context.close();
      await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
    },
  };
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent() ?? "").trim();
}

async function waitText(page: Page, selector: string, expected: string | RegExp): Promise<void> {
  await page.locator(selector, { hasText: expected }).first().waitFor();
}

Deno.test({
  name:
    "explorer: in Chromium, shows status, blocks, txs, live blocks, and verifies inclusion proofs (✓ valid, ✗ tampered)",
  ignore: !chromiumPresent,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const { ledger, site, tx, ids, keys } = await fixture();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => site.handle(req),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    const browser = await openBrowser();
    const { page, problems } = browser;
    try {
      await t.step("the status header renders", async () => {
        await page.goto(base + "/");
        await waitText(page, "#st-height", /^3$/);
        assert.equal(await text(page, "#st-ledger"), "demo");
        assert.equal(await text(page, "#st-site"), "site-a");
        assert.equal(await text(page, "#st-role"), "leader");
        assert.equal(await text(page, "#st-logsize"), "5");
        // The version brings its separator: the footer reads as one line.
        assert.equal(await text(page, "footer"), "edgeledger 0.1.0-test · API: /openapi.json");
      });

      await t.step("the block list shows the blocks, newest first", async () => {
        await page.locator("#blocks tbody tr[data-height='0']").waitFor();
        const heights = await page.locator("#blocks tbody tr").evaluateAll((rows) =>
          rows.map((r) => r.getAttribute("data-height"))
        );
        assert.deepEqual(heights, ["3", "2", "1", "0"]);
        assert.equal(await page.title(), "Latest blocks · demo · edgeledger");
        const row = page.locator("#blocks tbody tr[data-height='2']");
        assert.match(await row.textContent() ?? "", /2025-11-24 16:00:02/);
        assert.ok((await row.textContent() ?? "").includes(ledger.blocks[2].hash.slice(0, 10)));
        await waitText(
          page,
          "#cp-h + dl",
          "✓ signed by 2 sites (site-a, site-b), all signatures verify · a quorum is 2 of 3 sites",
        );
      });

      await t.step("a new block arrives live over SSE", async () => {
        await waitText(page, "#live", "Live");
        const b4 = ledger.append([{ tx: tx.late, result: { status: "applied" } }], T0 + 4_000);
        site.push(b4);
        await page.locator("#blocks tbody tr[data-height='4']").waitFor();
        await waitText(page, "#st-height", /^4$/);
        await waitText(page, "#st-logsize", /^6$/);
        await page.screenshot({ path: "/tmp/explorer.png", fullPage: true });
      });

      await t.step("clicking a block shows its transactions", async () => {
        await page.locator("#blocks tbody tr[data-height='2'] a").click();
        await waitText(page, "#view-h", "Block 2");
        assert.equal(new URL(page.url()).hash, "#/block/2");
        const txRows = page.locator("#block-txs tbody tr");
        assert.deepEqual(
          await txRows.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-tx"))),
          [ids.transfer, ids.handoff],
        );
        await waitText(
          page,
          `#block-txs tr[data-tx='${ids.transfer}'] .result`,
          "✗ rejected: insufficient_funds",
        );
        await waitText(page, `#block-txs tr[data-tx='${ids.handoff}'] .result`, "✓ applied");
        await waitText(page, `#block-txs tr[data-tx='${ids.handoff}'] .kind`, "custody.handoff");
        await page.screenshot({ path: "/tmp/explorer-block.png", fullPage: true });
        // The previous-block link goes by hash.
        await page.locator(`a[href='#/block/${ledger.blocks[1].hash}']`).first().click();
        await waitText(page, "#view-h", "Block 1");
      });

      await t.step(
        "a transaction with a valid proof shows ✓, and its body is text, not HTML",
        async () => {
          await page.locator(`a[href='#/tx/${ids.anchor1}']`).click();
          await waitText(page, "#proof-verdict", "Verified");
          const size = (await (await fetch(`${base}/v1/checkpoint`)).text()).split("\n")[1];
          assert.equal(
            await text(page, "#proof-verdict"),
            `✓Verified: included in the checkpointed log of ${size} entries`,
          );
          assert.equal(await page.locator("#proof .checks .bad").count(), 0);
          assert.ok((await text(page, "#view")).includes(XSS), "the XSS string shows as text");
          assert.equal(
            await page.evaluate(() => (globalThis as { __xss?: number }).__xss),
            undefined,
          );
          assert.equal(await page.locator("#view img").count(), 0);
          await page.screenshot({ path: "/tmp/explorer-tx.png", fullPage: true });
        },
      );

      await t.step("a rejected transaction is marked, and still proven in the log", async () => {
        await page.goto(`${base}/#/tx/${ids.transfer}`);
        await waitText(page, "#tx-result.bad", "✗ Rejected (insufficient_funds)");
        await waitText(page, "#tx-result", "Cannot transfer 50 EDGE: balance is 20");
        await waitText(page, "#proof-verdict", "Verified");
      });

      await t.step("a transaction with a tampered proof shows ✗", async () => {
        await page.goto(`${base}/#/tx/${ids.handoff}`);
        await waitText(page, "#proof-verdict", "Not verified");
        assert.ok((await text(page, "#proof-verdict")).includes("✗"));
        await waitText(page, "#proof .checks li", "✗ Audit path leads to the checkpoint's root");
        await page.screenshot({ path: "/tmp/explorer-tampered.png", fullPage: true });
      });

      await t.step("a receipt whose result differs from the logged one shows ✗", async () => {
        await page.goto(`${base}/#/tx/${ids.anchor2}`);
        await waitText(page, "#proof-verdict", "Not verified");
        await waitText(page, "#proof .checks li", "✗ Leaf records the result the receipt shows");
        await waitText(page, "#proof .checks li", '"rejected"');
      });

      await t.step(
        "a transaction newer than the checkpoint says so instead of verifying",
        async () => {
          await page.goto(`${base}/#/tx/${ids.late}`);
          await waitText(page, "#proof", "The latest checkpoint covers 5 log entries");
        },
      );

      await t.step(
        "searching for a height, a tx id and a block hash navigates; junk explains itself",
        async () => {
          await page.goto(base + "/");
          await waitText(page, "#st-height", /^4$/);
          await page.locator("#q").fill("2");
          await page.locator("#q").press("Enter");
          await waitText(page, "#view-h", "Block 2");
          assert.equal(new URL(page.url()).hash, "#/block/2");
          // Focus moves to the new view's heading; the skip link moves it to
          // main and keeps the view.
          await page.locator("#view-h:focus").waitFor();
          await page.locator(".skip").focus();
          await page.keyboard.press("Enter");
          await page.locator("main:focus").waitFor();
          assert.equal(new URL(page.url()).hash, "#/block/2");
          assert.equal(await text(page, "#view-h"), "Block 2");

          await page.locator("#q").fill(ids.anchor0.toUpperCase());
          await page.locator("#search button").click();
          await waitText(page, "#view-h", "Transaction");
          assert.equal(new URL(page.url()).hash, `#/tx/${ids.anchor0}`);

          await page.locator("#q").fill(ledger.blocks[3].hash);
          await page.locator("#q").press("Enter");
          await waitText(page, "#view-h", "Block 3");

          await page.locator("#q").fill("f".repeat(64));
          await page.locator("#q").press("Enter");
          await waitText(page, "#search-msg", "Nothing found");
          await page.locator("#q").fill("hello");
          await page.locator("#q").press("Enter");
          await waitText(page, "#search-msg", "Enter a block height");
        },
      );

      await t.step(
        "a height above the newest block says which block is the newest and links to it, from the search box, a link or go to height",
        async () => {
          const asked: string[] = [];
          const onRequest = (r: { url(): string }) => asked.push(new URL(r.url()).pathname);
          page.on("request", onRequest);
          await page.goto(base + "/");
          await waitText(page, "#st-height", /^4$/);
          for (
            const [typed, label] of [["999999", "999,999 yet"], [
              "9999999999999999",
              "9,999,999,999,999,999",
            ]]
          ) {
            await page.locator("#q").fill(typed);
            await page.locator("#q").press("Enter");
            await waitText(
              page,
              "#search-msg",
              `There is no block ${label}: the newest is block 4. Show block 4`,
            );
            assert.equal(new URL(page.url()).hash, "", "the search stays on the page");
          }
          await page.locator("#search-msg a[data-newest]").click();
          await waitText(page, "#view-h", "Block 4");
          assert.equal(new URL(page.url()).hash, "#/block/4");
          assert.equal(await text(page, "#search-msg"), "");

          for (
            const [hash, words] of [
              ["#/block/999999", "There is no block 999,999 yet: the newest is block 4."],
              [
                "#/block/9999999999999999",
                "There is no block 9,999,999,999,999,999: the newest is block 4.",
              ],
            ]
          ) {
            await page.goto(`${base}/${hash}`);
            await waitText(page, "#no-block", words);
            assert.equal(await page.locator("#view [role=alert]").count(), 0, "not an error");
            assert.equal(
              await page.locator("#view a[data-newest]").getAttribute("href"),
              "#/block/4",
            );
            assert.equal(await page.locator("#view #back-home").getAttribute("href"), "#/");
          }
          // No block can be that high: the site is not asked for it.
          assert.ok(!asked.some((p) => p.includes("9999999999999999")), asked.join(" "));
          await page.goto(`${base}/#/blocks/9999999999999999`);
          await page.locator("#blocks tbody tr[data-height='4']").waitFor();
          await waitText(
            page,
            "#blocks-clamped",
            "There is no block 9,999,999,999,999,999: the newest is block 4. This page starts there.",
          );
          page.off("request", onRequest);
        },
      );

      await t.step(
        "search and go to height read leading zeros as the number: 002 is block 2",
        async () => {
          await page.locator("#q").fill("002");
          await page.locator("#q").press("Enter");
          await waitText(page, "#view-h", "Block 2");
          assert.equal(new URL(page.url()).hash, "#/block/2");
        },
      );

      await t.step(
        "every error page says what failed and links back to the latest blocks",
        async () => {
          for (
            const [hash, what] of [
              ["#/block/abc", 'Cannot show block "abc".'],
              ["#/tx/zzz", 'Cannot show transaction "zzz".'],
              [`#/tx/${"f".repeat(64)}`, "Cannot find transaction"],
              ["#/nonsense/x", "There is no such page."],
              ["#/blocks/-5", 'Cannot show the blocks below "-5".'],
            ]
          ) {
            await page.goto(`${base}/${hash}`);
            await waitText(page, "#view [role=alert]", what);
            assert.equal(await page.locator("#view #back-home").getAttribute("href"), "#/", hash);
            // Only a site that did not answer is worth trying again.
            assert.equal(await page.locator("#view #retry").count(), 0, hash);
          }
          await page.locator("#back-home").click();
          await page.locator("#blocks tbody tr[data-height='0']").waitFor();
          assert.equal(new URL(page.url()).hash, "#/");
        },
      );

      await t.step("API errors read as messages", async () => {
        await page.goto(`${base}/#/tx/${"f".repeat(64)}`);
        await waitText(page, "#view [role=alert]", "Cannot find transaction");
        assert.match(await text(page, "#view [role=alert]"), /Request id: [0-9a-f-]{36}/);
      });

      await t.step(
        "on a 390 px phone a block's transaction table fits: short ids (the full id is the title and link), the result column in view",
        async () => {
          await page.setViewportSize({ width: 390, height: 844 });
          await page.goto(`${base}/#/block/2`);
          await waitText(page, `#block-txs tr[data-tx='${ids.transfer}'] .result`, "✗ rejected");
          await waitText(page, `#block-txs tr[data-tx='${ids.handoff}'] .result`, "✓ applied");
          const fit = await page.locator("#block-txs").evaluate((table) => {
            const wrap = table.parentElement!;
            return {
              scrolls: wrap.scrollWidth > wrap.clientWidth,
              resultRight: Math.max(
                ...[...table.querySelectorAll("td.result")].map((td) =>
                  td.getBoundingClientRect().right
                ),
              ),
              idHeight: Math.max(
                ...[...table.querySelectorAll("tbody td:nth-child(2) a")].map((a) =>
                  a.getBoundingClientRect().height
                ),
              ),
              // One line of the id's text: its font size times the page's 1.5 line height.
              lineHeight: 1.5 * parseFloat(
                table.ownerDocument.defaultView!.getComputedStyle(
                  table.querySelector("tbody td:nth-child(2) a")!,
                ).fontSize,
              ),
            };
          });
          await page.screenshot({ path: "/tmp/explorer-block-mobile.png", fullPage: true });
          assert.equal(
            fit.scrolls,
            false,
            `the table does not scroll sideways: ${JSON.stringify(fit)}`,
          );
          assert.ok(fit.resultRight <= 390, `the result column ends at ${fit.resultRight} px`);
          assert.ok(fit.idHeight <= fit.lineHeight * 1.5, `an id is ${fit.idHeight} px tall`);
          const link = page.locator(`#block-txs tr[data-tx='${ids.transfer}'] td:nth-child(2) a`);
          assert.equal(await link.getAttribute("title"), ids.transfer);
          assert.equal(await link.getAttribute("href"), `#/tx/${ids.transfer}`);
          assert.equal(
            (await link.innerText()).trim(),
            `${ids.transfer.slice(0, 10)}…${ids.transfer.slice(-4)}`,
          );
          // On a wide screen the id is shown in full.
          await page.setViewportSize({ width: 1280, height: 900 });
          assert.equal((await link.innerText()).trim(), ids.transfer);
        },
      );

      await t.step(
        "checkpoint and sites pages: signatures verified, unsafe URLs not linked",
        async () => {
          await page.goto(`${base}/#/checkpoint`);
          await waitText(page, "#note-sigs", "✓ verified");
          assert.equal(await page.locator("#note-sigs tbody tr").count(), 2);
          // The summary counts sites, not lines, and names them.
          assert.equal(
            await text(page, "#sig-summary"),
            "✓ signed by 2 sites (site-a, site-b), all signatures verify · a quorum is 2 of 3 sites",
          );
          // The note's height and block lines link to the block.
          const b3 = ledger.blocks[3];
          assert.equal(await text(page, "#note-extensions li:nth-child(1)"), "height 3");
          assert.equal(
            await page.locator("#note-extensions a[href='#/block/3']").textContent(),
            "3",
          );
          assert.equal(
            await page.locator(`#note-extensions a[href='#/block/${b3.hash}']`).textContent(),
            b3.hash,
          );
          await page.screenshot({ path: "/tmp/explorer-checkpoint.png", fullPage: true });
          assert.ok((await text(page, "#note-text")).startsWith(ORIGIN + "\n5\n"));
          await page.goto(`${base}/#/sites`);
          await waitText(page, "#sites", "site-x");
          assert.equal(await page.locator("#sites a[href^='javascript']").count(), 0);
          assert.equal(await page.locator("#sites a[href='http://127.0.0.1:7001/']").count(), 1);
          assert.equal(
            await text(page, "#sites tr[data-site='site-a'] .retired"),
            "none (never rotated)",
          );
          assert.equal(await text(page, "#sites tr[data-site='site-x'] .retired"), "—");
        },
      );

      await t.step(
        "a site that rotated its key: its line verifies by the key it retired at or after the checkpoint's height when a later key of the site vouched for that height — not by one retired before it, nor on the site's word alone; the Sites page lists the retired key, its last block and whether it is vouched for",
        async () => {
          const [, oldB] = keys;
          const newB = await siteKey("site-b", oldB.url);
          site.sites[1] = newB;
          site.rotations.set("site-b", [await rotationOf(oldB, newB)]);
          site.retired.set("site-b", [await retiredEntry(oldB, 3, newB)]);
          const lineCheck = "#note-sigs tbody tr:nth-child(2) td:nth-child(3)";
          // Through another view, so the checkpoint's is drawn anew.
          const reread = async () => {
            await page.goto(`${base}/#/sites`);
            await waitText(page, "#view-h", "Sites");
            await page.goto(`${base}/#/checkpoint`);
            await waitText(page, "#sig-summary", "signed by");
          };
          const notCounted =
            "✗ signed by 1 site (site-a), 1 of 2 signatures does not verify · a quorum is 2 of 3 sites";
          try {
            // The checkpoint of block 3 was signed by site-b's old key, its last block.
            await page.goto(`${base}/#/checkpoint`);
            await waitText(page, "#sig-summary", "signed by");
            assert.equal(
              await text(page, "#sig-summary"),
              "✓ signed by 2 sites (site-a, site-b), all signatures verify · a quorum is 2 of 3 sites",
            );
            assert.equal(
              await text(page, lineCheck),
              "✓ verified by a key the site retired after block 3",
            );
            assert.equal(
              await page.locator("#note-sigs tbody tr:nth-child(2) a[href='#/block/3']").count(),
              1,
            );
            await page.goto(`${base}/#/sites`);
            await waitText(page, "#sites tr[data-site='site-b'] .retired", "signed blocks up to 3");
            assert.equal(
              await text(page, "#sites tr[data-site='site-b'] .retired"),
              `${verifierKey(oldB)} signed blocks up to 3 (vouched for by its later key)`,
            );
            assert.ok(
              (await text(page, "#sites tr[data-site='site-b'] td:nth-child(3)")).includes(
                verifierKey(newB),
              ),
            );

            // Retired before block 3: the old key's line on block 3 counts for nothing.
            site.retired.set("site-b", [await retiredEntry(oldB, 2, newB)]);
            await reread();
            assert.equal(await text(page, "#sig-summary"), notCounted);
            assert.equal(await text(page, lineCheck), "unknown key");

            // The site's word alone: no signature of that height, or a signature of
            // another height (2) served as 3, or one by a key off its chain.
            for (
              const entry of [
                await retiredEntry(oldB, 3),
                await retiredEntry(oldB, 3, newB, 2),
                await retiredEntry(oldB, 3, await siteKey("site-b", oldB.url)),
              ]
            ) {
              site.retired.set("site-b", [entry]);
              await reread();
              await waitText(page, lineCheck, "not vouched for");
              assert.equal(await text(page, "#sig-summary"), notCounted, JSON.stringify(entry));
              assert.equal(
                await text(page, lineCheck),
                "retired key, height not vouched for the site says this key signed up to block 3; no later key of it signed that",
              );
            }
            // A chain that comes back to the retired key, which then "vouches" for itself.
            const newC = await siteKey("site-b", oldB.url);
            site.sites[1] = newC;
            site.rotations.set("site-b", [
              await rotationOf(oldB, newB),
              await rotationOf(newB, oldB),
              await rotationOf(oldB, newC),
            ]);
            site.retired.set("site-b", [await retiredEntry(oldB, 3, oldB)]);
            await reread();
            await waitText(page, lineCheck, "not vouched for");
            assert.equal(await text(page, "#sig-summary"), notCounted);
            // The retired key under a second spelling (an unused bit of its last character set:
            // the same bytes to a lax decoder) "rotated" to by itself, then vouching for itself.
            const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            const a = rawKey(oldB);
            const a2 = a.slice(0, -1) + alphabet[alphabet.indexOf(a.at(-1)!) + 1];
            const selfText = `edgeledger/site-key-rotation/v1\nsite-b\n${a}\n${a2}\n`;
            const selfSig = await signWith(oldB, selfText);
            const retiredText = `edgeledger/site-key-retirement/v1\nsite-b\n${a}\n3\n`;
            site.sites[1] = newB;
            site.rotations.set("site-b", [
              { name: "site-b", previous: a, publicKey: a2, previousSig: selfSig, newSig: selfSig },
              await rotationOf(oldB, newB),
            ]);
            const forged = {
              ...(await retiredEntry(oldB, 3)),
              signer: a2,
              signature: await signWith(oldB, retiredText),
            };
            site.retired.set("site-b", [forged]);
            await reread();
            await waitText(page, lineCheck, "not vouched for");
            assert.equal(await text(page, "#sig-summary"), notCounted);
            site.rotations.set("site-b", [await rotationOf(oldB, newB)]);
            site.retired.set("site-b", [await retiredEntry(oldB, 3)]);
            await page.goto(`${base}/#/sites`);
            await waitText(page, "#sites tr[data-site='site-b'] .retired", "signed blocks up to 3");
            assert.equal(
              await text(page, "#sites tr[data-site='site-b'] .retired"),
              `${verifierKey(oldB)} signed blocks up to 3 (not vouched for by a later key yet)`,
            );
          } finally {
            site.sites[1] = oldB;
            site.retired.delete("site-b");
            site.rotations.delete("site-b");
          }
        },
      );

      await t.step(
        "without the event stream, the page polls and still shows new blocks",
        async () => {
          await page.goto(base + "/");
          await waitText(page, "#live", "Live");
          site.eventsDown = true;
          site.closeStreams();
          await waitText(page, "#live", /Polling|Reconnecting/);
          // The list says what the header says, not "live".
          await waitText(page, "#blocks-range", /, not live \((polling|reconnecting…)\)$/);
          ledger.append([], T0 + 5_000);
          await page.locator("#blocks tbody tr[data-height='5']").waitFor();
          await waitText(page, "#st-height", /^5$/);
          assert.doesNotMatch(await text(page, "#blocks-range"), /, live$/);
        },
      );

      await t.step("dark mode and a phone-sized viewport render (screenshots)", async () => {
        await page.emulateMedia({ colorScheme: "dark" });
        await page.goto(`${base}/#/tx/${ids.anchor0}`);
        await waitText(page, "#proof-verdict", "Verified");
        await page.screenshot({ path: "/tmp/explorer-dark.png", fullPage: true });
        await page.setViewportSize({ width: 390, height: 844 });
        await page.emulateMedia({ colorScheme: "light" });
        await page.goto(base + "/");
        await page.locator("#blocks tbody tr[data-height='4']").waitFor();
        await page.screenshot({ path: "/tmp/explorer-mobile.png", fullPage: true });
      });

      await t.step(
        "on a phone, the block list shows the date of a block that is not from today (UTC), and still fits at 390 px",
        async () => {
          // Block 6 is from now; the others from 2025-11-24.
          const today = ledger.append([], Date.now());
          for (const width of [320, 390]) {
            await page.setViewportSize({ width, height: 740 });
            await page.goto(base + "/");
            await page.locator("#blocks tbody tr[data-height='6']").waitFor();
            const dates = await page.locator("#blocks tbody tr").evaluateAll((rows) =>
              rows.map((r) => ({
                height: r.getAttribute("data-height"),
                shown: r.querySelector("time")!.innerText.replace(/\s+/g, " ").trim(),
              }))
            );
            const made = new Date(today.header.time).toISOString();
            // Unless UTC midnight passed since the block was made: then it is no longer today's.
            if (new Date().toISOString().slice(0, 10) === made.slice(0, 10)) {
              assert.deepEqual(dates.find((d) => d.height === "6"), {
                height: "6",
                shown: made.slice(11, 19),
              });
            }
            assert.deepEqual(dates.find((d) => d.height === "2"), {
              height: "2",
              shown: "2025-11-24 16:00:02",
            });
            const fit = await page.locator("#blocks").evaluate((table) => ({
              table: table.scrollWidth,
              wrap: table.parentElement!.clientWidth,
            }));
            // The date, small on a line of its own, does not widen the list: at 390 px it
            // fits as it did without it. (Below that the list scrolls sideways either way.)
            if (width === 390) {
              assert.ok(fit.table <= fit.wrap, `at ${width} px: ${fit.table} px in ${fit.wrap} px`);
            }
          }
        },
      );

      await t.step(
        "on a 320 px phone, a block's transactions fit without scrolling sideways, a long rejection code included",
        async () => {
          for (const width of [320, 360, 390]) {
            await page.setViewportSize({ width, height: 740 });
            for (const height of [2, 3]) {
              await page.goto(`${base}/#/block/${height}`);
              await waitText(page, "#block-txs .result", "✗ rejected");
              const fit = await page.locator("#block-txs").evaluate((table) => ({
                table: table.scrollWidth,
                wrap: table.parentElement!.clientWidth,
              }));
              assert.ok(
                fit.table <= fit.wrap,
                `block ${height} at ${width} px: the table is ${fit.table} px in ${fit.wrap} px`,
              );
            }
          }
          await page.screenshot({ path: "/tmp/explorer-mobile-block.png", fullPage: true });
        },
      );

      assert.deepEqual(problems, [], "no script error, CSP violation or off-host request");
    } finally {
      await browser.close();
      site.closeStreams();
      await server.shutdown();
    }
  },
});

/** The heights of the block list's rows, top to bottom. */
async function rowHeights(page: Page): Promise<number[]> {
  const heights = await page.locator("#blocks tbody tr").evaluateAll((rows) =>
    rows.map((r) => r.getAttribute("data-height"))
  );
  return heights.map(Number);
}

/** Waits until the block list's rows are exactly `expected` (top to bottom); fails after 10 s. */
async function waitRows(page: Page, expected: number[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  let got = await rowHeights(page);
  while (got.join() !== expected.join() && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    got = await rowHeights(page);
  }
  assert.deepEqual(got, expected);
}

/** Heights `top` down to `bottom`, inclusive. */
function down(top: number, bottom: number): number[] {
  return Array.from({ length: top - bottom + 1 }, (_, i) => top - i);
}

Deno.test({
  name:
    "explorer: in Chromium, pages a chain of many pages back to block 0 and forward again, jumps to a height, and keeps the list one page long while blocks arrive",
  ignore: !chromiumPresent,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    // 23 blocks (0..22) at 5 a page: pages [18, 22], [13, 17], [8, 12], [3, 7], [0, 2].
    const PER_PAGE = 5;
    const ledger = new FakeLedger();
    for (let i = 1; i <= 22; i++) ledger.append([], T0 + i * 1_000);
    const keys = [
      await siteKey("site-a", "http://127.0.0.1:7001"),
      await siteKey("site-b", "http://127.0.0.1:7002"),
    ];
    const site = new FakeSite(ledger, keys, PER_PAGE);
    site.checkpoint = await signedCheckpoint(ledger, ledger.blocks[22], keys);
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => site.handle(req),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    const browser = await openBrowser();
    const { page, problems } = browser;
    const hash = () => new URL(page.url()).hash;
    const click = (which: string) => page.locator(`#pager-top a[data-page='${which}']`).click();
    const disabled = (which: string) =>
      page.locator(`#pager-top a[data-page='${which}'][aria-disabled='true']:not([href])`)
        .waitFor();
    const pushNext = (time: number) => site.push(ledger.append([], time));
    try {
      await t.step("the latest page is live and holds one page of rows", async () => {
        await page.goto(base + "/");
        await waitRows(page, down(22, 18));
        await waitText(page, "#blocks-range", "Blocks 18–22 of 23");
        assert.equal(await page.locator("#blocks").getAttribute("data-live"), "true");
        await disabled("latest");
        await disabled("newer");
        assert.equal(
          await page.locator("#pager-top a[data-page='older']").getAttribute("href"),
          "#/blocks/17",
        );
        await waitText(page, "#live", "Live");
      });

      await t.step("Older pages back one page at a time, down to block 1 and block 0", async () => {
        for (const [top, bottom] of [[17, 13], [12, 8], [7, 3], [2, 0]]) {
          await click("older");
          await waitRows(page, down(top, bottom));
          assert.equal(hash(), `#/blocks/${top}`);
          await waitText(page, "#blocks-h", `Blocks ${bottom}–${top}`);
        }
        await page.locator("#blocks tbody tr[data-height='1']").waitFor();
        assert.equal(await page.locator("#blocks").getAttribute("data-live"), "false");
        await disabled("older");
        await disabled("oldest");
        await waitText(page, "#blocks-newer", "20 newer blocks");
      });

      await t.step("paged back, new blocks show as a count and the page stays put", async () => {
        pushNext(T0 + 23_000);
        pushNext(T0 + 24_000);
        await waitText(page, "#blocks-newer", "22 newer blocks");
        await waitText(page, "#blocks-newer", "the newest is block 24");
        await waitText(page, "#st-height", /^24$/);
        assert.deepEqual(await rowHeights(page), [2, 1, 0]);
        await page.screenshot({ path: "/tmp/explorer-paged.png", fullPage: true });
      });

      await t.step("Newer pages forward again, and the last step is the live list", async () => {
        for (const top of [7, 12, 17, 22]) {
          await click("newer");
          await waitRows(page, down(top, top - PER_PAGE + 1));
          assert.equal(hash(), `#/blocks/${top}`);
        }
        // Blocks 23 and 24 arrived meanwhile: the newer page is the latest one.
        assert.equal(
          await page.locator("#pager-top a[data-page='newer']").getAttribute("href"),
          "#/",
        );
        await click("newer");
        await waitRows(page, down(24, 20));
        assert.equal(hash(), "#/");
        assert.equal(await page.locator("#blocks").getAttribute("data-live"), "true");
      });

      await t.step("the live list stays one page long as blocks arrive on top", async () => {
        await waitText(page, "#live", "Live");
        for (let h = 25; h <= 31; h++) pushNext(T0 + h * 1_000);
        await waitRows(page, down(31, 27));
        await waitText(page, "#blocks-range", "Blocks 27–31 of 32");
        assert.equal(
          await page.locator("#pager-top a[data-page='older']").getAttribute("href"),
          "#/blocks/26",
        );
      });

      await t.step("go to height shows the page that starts at that block", async () => {
        await page.locator("#jump-h").fill("9");
        await page.locator("#jump button").click();
        await waitRows(page, down(9, 5));
        assert.equal(hash(), "#/blocks/9");
        await page.locator("#blocks tbody tr[data-height='9'] a").click();
        await waitText(page, "#view-h", "Block 9");
        assert.equal(await text(page, "#view .kv dd"), ledger.blocks[9].hash);
        await page.locator("a[data-page='list']").click();
        await waitRows(page, down(9, 5));

        await page.locator("#jump-h").fill("999");
        await page.locator("#jump-h").press("Enter");
        await waitText(page, "#jump-msg", "There is no block 999 yet: the newest is block 31.");
        assert.equal(await page.locator("#jump-msg a[data-newest]").getAttribute("href"), "#/");
        // Beyond the safe integers: the same answer, not a refusal to read the number.
        await page.locator("#jump-h").fill("9999999999999999");
        await page.locator("#jump-h").press("Enter");
        await waitText(
          page,
          "#jump-msg",
          "There is no block 9,999,999,999,999,999: the newest is block 31.",
        );
        await page.locator("#jump-h").fill("nine");
        await page.locator("#jump-h").press("Enter");
        await waitText(page, "#jump-msg", "Enter a block height");
        assert.equal(hash(), "#/blocks/9");
        // Leading zeros are the number.
        await page.locator("#jump-h").fill("007");
        await page.locator("#jump-h").press("Enter");
        await waitRows(page, down(7, 3));
        assert.equal(hash(), "#/blocks/7");
        await page.goto(`${base}/#/blocks/9`);
        await waitRows(page, down(9, 5));
      });

      await t.step("Oldest goes to the page that holds block 0", async () => {
        await click("oldest");
        await waitRows(page, down(4, 0));
        assert.equal(hash(), "#/blocks/4");
      });

      await t.step(
        "a page link above the head starts at the newest block and says so",
        async () => {
          await page.goto(`${base}/#/blocks/500`);
          await waitRows(page, down(31, 27));
          await waitText(page, "#view .callout.warn", "There is no block 500 yet");
          await page.goto(`${base}/#/blocks/x`);
          await waitText(page, "#view [role=alert]", "Cannot show the blocks below");
        },
      );

      assert.deepEqual(problems, [], "no script error, CSP violation or off-host request");
    } finally {
      await browser.close();
      site.closeStreams();
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "explorer: in Chromium, the status header shows a stopped site, diverged replicas and a needed rules upgrade, and clears each when the next status refresh says so",
  ignore: !chromiumPresent,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const { ledger, site } = await fixture();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => site.handle(req),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    const browser = await openBrowser();
    const { page, problems } = browser;
    // The page refreshes its status every 15 s while live (5 s polling):
    // the test moves the page's clock on instead of waiting.
    const nextRefresh = () => page.clock.fastForward(16_000);
    const ours = ledger.blocks[2].hash;
    const theirs = "e".repeat(64);
    const gone = (selector: string) => page.locator(selector).waitFor({ state: "detached" });
    try {
      await t.step("a healthy site without rules shows no callout and no RULES item", async () => {
        await page.clock.install();
        await page.goto(base + "/");
        await waitText(page, "#st-height", /^3$/);
        await page.locator("#blocks tbody tr[data-height='0']").waitFor();
        assert.equal(await page.locator("#notices > *").count(), 0);
        assert.equal(await page.locator("#st-rules-item").isVisible(), false);
      });

      await t.step(
        "healthy: false, a divergence and a scheduled rules version above the supported one all show on refresh",
        async () => {
          site.status = {
            healthy: false,
            divergence: [
              { site: "site-b", height: 2, ours, theirs },
              { site: XSS, height: 3, ours: ledger.blocks[3].hash, theirs },
            ],
            stateDivergence: [{ site: "site-c", height: 2, ours: "a".repeat(64), theirs }],
            rules: { active: 1, supported: 1, scheduled: { version: 2, height: 1000 } },
          };
          await nextRefresh();
          await waitText(page, "#notice-stopped", "This site has stopped taking writes");
          assert.match(await text(page, "#notice-stopped"), /its log says why/);
          assert.match(await text(page, "#notice-stopped"), /Reads still work/);
          assert.equal(await page.locator("#notice-stopped").getAttribute("class"), "callout bad");

          await waitText(page, "#notice-diverged", "The replicas diverged");
          const row = page.locator("#notice-diverged li[data-site='site-b']");
          const rowText = (await row.textContent() ?? "").replace(/\s+/g, " ");
          assert.equal(
            rowText,
            `site-b at height 2: this site's block ${ours.slice(0, 10)}…${ours.slice(-4)}, ` +
              `theirs ${"e".repeat(10)}…eeee`,
          );
          assert.equal(await row.locator("a.hash").getAttribute("href"), `#/block/${ours}`);
          assert.equal(await row.locator("code.short").getAttribute("title"), theirs);
          // A member name is text, never markup.
          assert.match(await text(page, "#notice-diverged li:nth-child(2)"), /^<img src=x/);
          assert.equal(await page.evaluate(() => "__xss" in globalThis), false);

          await waitText(
            page,
            "#notice-state-diverged",
            "This site's contract state differs from a member's at the same height.",
          );
          const stateRow = page.locator("#notice-state-diverged li[data-site='site-c']");
          assert.equal(
            (await stateRow.textContent() ?? "").replace(/\s+/g, " "),
            `site-c at height 2: this site's state hash ${"a".repeat(10)}…aaaa, ` +
              `theirs ${"e".repeat(10)}…eeee`,
          );
          assert.match(await text(page, "#notice-state-diverged"), /task integrity --replay/);

          await waitText(page, "#st-rules .badge.warn", "v1 · v2 at height 1,000");
          await waitText(
            page,
            "#st-rules-upgrade",
            "This site must be upgraded before height 1,000",
          );
          assert.equal(await text(page, "#status #st-rules-item dt"), "Rules");
          await page.screenshot({ path: "/tmp/explorer-notices.png", fullPage: true });
        },
      );

      await t.step("the callouts stay up across views and go when the status clears", async () => {
        await page.locator("a[data-nav='sites']").click();
        await waitText(page, "#view-h", "Sites");
        assert.equal(await page.locator("#notices > .callout").count(), 3);

        site.status = {
          healthy: true,
          rules: { active: 1, supported: 2, scheduled: { version: 2, height: 1000 } },
        };
        await nextRefresh();
        await gone("#notice-stopped");
        await gone("#notice-diverged");
        await gone("#notice-state-diverged");
        // Scheduled, but this site supports it: shown, not flagged.
        await waitText(page, "#st-rules", /^v1 · v2 at height 1,000$/);
        assert.equal(await page.locator("#st-rules .badge, #st-rules-upgrade").count(), 0);
      });

      await t.step("a site removed from the cluster says so, until it is added again", async () => {
        site.status = { healthy: true, removed: true };
        await nextRefresh();
        await waitText(page, "#notice-removed", "This site was removed from the cluster");
        assert.match(await text(page, "#notice-removed"), /Use another site of the consortium/);
        assert.equal(await page.locator("#notices > .callout").count(), 1);
        site.status = { healthy: true };
        await nextRefresh();
        await gone("#notice-removed");
      });

      await t.step(
        "a site that hears no leader says it refuses transactions, once, however its figure moves; the removed callout stands for it while both hold",
        async () => {
          site.status = { healthy: true, leader: null, leaderlessMs: 2400 };
          await nextRefresh();
          await waitText(
            page,
            "#notice-leaderless",
            "This site hears no leader: it refuses new transactions.",
          );
          assert.match(
            await text(page, "#notice-leaderless"),
            /Use another site of the consortium/,
          );
          const callout = await page.locator("#notice-leaderless").elementHandle();
          site.status = { healthy: true, leader: null, leaderlessMs: 3400, term: 7 };
          await nextRefresh();
          await waitText(page, "#st-term", /^7$/);
          assert.ok(
            await callout!.evaluate((el) => el.isConnected),
            "rebuilt for a new figure: a screen reader would hear it again",
          );
          site.status = { healthy: true, leader: null, leaderlessMs: 4400, removed: true };
          await nextRefresh();
          await waitText(page, "#notice-removed", "This site was removed from the cluster");
          assert.equal(await page.locator("#notice-leaderless").count(), 0);
          site.status = { healthy: true };
          await nextRefresh();
          await gone("#notice-removed");
          await gone("#notice-leaderless");
        },
      );

      await t.step(
        "a site whose leader answers none of its forwards says it cannot reach that leader and refuses transactions, once, however its figure moves; hearing no leader says more",
        async () => {
          site.status = { healthy: true, leader: "site-b", leaderUnreachableMs: 2100 };
          await nextRefresh();
          await waitText(
            page,
            "#notice-unreachable",
            "This site cannot reach its leader: it refuses new transactions.",
          );
          assert.match(await text(page, "#notice-unreachable"), /The leader, site-b, answers none/);
          const callout = await page.locator("#notice-unreachable").elementHandle();
          site.status = { healthy: true, leader: "site-b", leaderUnreachableMs: 3100, term: 8 };
          await nextRefresh();
          await waitText(page, "#st-term", /^8$/);
          assert.ok(
            await callout!.evaluate((el) => el.isConnected),
            "rebuilt for a new figure: a screen reader would hear it again",
          );
          site.status = {
            healthy: true,
            leader: null,
            leaderlessMs: 2400,
            leaderUnreachableMs: 4100,
          };
          await nextRefresh();
          await page.locator("#notice-leaderless").waitFor();
          assert.equal(await page.locator("#notice-unreachable").count(), 0);
          site.status = { healthy: true };
          await nextRefresh();
          await gone("#notice-leaderless");
          await gone("#notice-unreachable");
        },
      );

      await t.step(
        "sites low on disk space are named in a callout while writes are paused",
        async () => {
          site.status = {
            healthy: true,
            storageLow: [{
              site: "site-c",
              freeBytes: 100 * 1024 * 1024,
              freeBytesMin: 512 * 1024 * 1024,
            }],
          };
          await nextRefresh();
          await waitText(
            page,
            "#notice-storage",
            "New transactions are paused: a site of the cluster is low on disk space.",
          );
          assert.equal(
            await text(page, "#notice-storage li[data-site='site-c']"),
            "site-c: 100 MiB free, under its minimum of 512 MiB",
          );
          site.status = { healthy: true };
          await nextRefresh();
          await gone("#notice-storage");
        },
      );

      await t.step(
        "the RULES item follows the active version and hides when rules are absent",
        async () => {
          site.status = { rules: { active: 2, supported: 2 } };
          await nextRefresh();
          await waitText(page, "#st-rules", /^v2$/);
          site.status = {};
          await nextRefresh();
          await page.locator("#st-rules-item").waitFor({ state: "hidden" });
          assert.equal(await page.locator("#notices > *").count(), 0);
        },
      );

      assert.deepEqual(problems, [], "no script error, CSP violation or off-host request");
    } finally {
      await browser.close();
      site.closeStreams();
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "explorer: in Chromium, a view that failed because the site did not answer offers Try again, and loads by itself once the site answers again",
  ignore: !chromiumPresent,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    // 23 blocks at 5 a page, so "Older" has a page to go to.
    const ledger = new FakeLedger();
    for (let i = 1; i <= 22; i++) ledger.append([], T0 + i * 1_000);
    const keys = [
      await siteKey("site-a", "http://127.0.0.1:7001"),
      await siteKey("site-b", "http://127.0.0.1:7002"),
    ];
    const site = new FakeSite(ledger, keys, 5);
    site.checkpoint = await signedCheckpoint(ledger, ledger.blocks[22], keys);
    const serve = (port: number) =>
      Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req) => site.handle(req));
    let server = serve(0);
    const port = server.addr.port;
    let up = true;
    const stop = async () => {
      site.closeStreams();
      await server.shutdown();
      up = false;
    };
    const start = () => {
      server = serve(port);
      up = true;
    };
    const base = `http://127.0.0.1:${port}`;
    // While the site is down, the page's requests are refused: expected.
    const browser = await openBrowser(/status of (404|503)\b|ERR_CONNECTION_REFUSED/);
    const { page, problems } = browser;
    try {
      await t.step(
        "with the site down, Older shows why it failed, Try again and the way back",
        async () => {
          await page.goto(base + "/");
          await waitRows(page, down(22, 18));
          await waitText(page, "#live", "Live");
          await stop();
          await waitText(page, "#live", /Reconnecting|Polling|Offline/);
          // The list does not claim to be live: it says what the header says.
          await waitText(page, "#blocks-range", /, not live \((reconnecting…|polling|offline)\)$/);
          await page.locator("#pager-top a[data-page='older']").click();
          await waitText(page, "#view [role=alert]", "Cannot show the blocks.");
          await waitText(page, "#view [role=alert]", "The site did not answer");
          assert.equal(await text(page, "#retry"), "Try again");
          await waitText(page, "#retry-note", "loads again by itself when the site answers");
          assert.equal(await page.locator("#view #back-home").getAttribute("href"), "#/");
          assert.equal(new URL(page.url()).hash, "#/blocks/17");
        },
      );

      await t.step(
        "Try again while the site is still down tries, and fails the same way",
        async () => {
          await page.locator("#view [role=alert]").evaluate((el) =>
            el.setAttribute("data-old", "")
          );
          await page.locator("#retry").click();
          await page.locator("#view [role=alert]:not([data-old])").waitFor();
          await waitText(page, "#view [role=alert]", "The site did not answer");
          await page.locator("#retry").waitFor();
        },
      );

      await t.step(
        "when the site answers again, the view loads by itself, as the header goes live",
        async () => {
          start();
          // The next status poll (5 s) or the event stream's reconnect, whichever comes first.
          await page.locator("#blocks tbody tr[data-height='13']").waitFor();
          await waitRows(page, down(17, 13));
          assert.equal(new URL(page.url()).hash, "#/blocks/17");
          assert.equal(await page.locator("#view [role=alert]").count(), 0);
          await waitText(page, "#live", "Live");
        },
      );

      await t.step(
        "back on the latest blocks with the site up, the list says live again",
        async () => {
          await page.locator("#pager-top a[data-page='latest']").click();
          await waitText(page, "#blocks-range", /^Blocks 18–22 of 23, newest first, live$/);
        },
      );

      assert.deepEqual(problems, [], "no script error, CSP violation or off-host request");
    } finally {
      await browser.close();
      site.closeStreams();
      if (up) await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "explorer: in Chromium, a site that takes requests and answers none: a navigation says Loading… after a moment, fails with Try again at the request deadline, the badge stops saying Live once the stream and the status are silent for two heartbeats, and all comes back when the site answers",
  ignore: !chromiumPresent,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const { site } = await fixture();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => site.handle(req),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    const browser = await openBrowser();
    const { page, problems } = browser;
    // The page's deadline for one request.
    const requestTimeoutMs = 10_000;
    try {
      await t.step("a navigation the site answers at once shows no Loading… note", async () => {
        await page.goto(base + "/");
        await page.locator("#blocks tbody tr[data-height='2']").waitFor();
        await waitText(page, "#live", "Live");
        await page.evaluate(`(() => {
          globalThis.__loading = [];
          new MutationObserver(() => globalThis.__loading.push(document.getElementById("loading").textContent))
            .observe(document.getElementById("loading"), { childList: true, characterData: true, subtree: true });
        })()`);
        await page.locator("#blocks tbody tr[data-height='2'] a").click();
        await waitText(page, "#view-h", "Block 2");
        await page.locator("#block-txs .result", { hasText: "✓ applied" }).waitFor();
        assert.deepEqual(await page.evaluate("globalThis.__loading"), []);
      });

      await t.step(
        "the old view stays with Loading… under way, then the view says the site did not answer and offers Try again",
        async () => {
          await page.clock.install();
          await page.goto(base + "/");
          await page.locator("#blocks tbody tr[data-height='2']").waitFor();
          await waitText(page, "#live", "Live");
          site.freeze();
          await page.locator("#blocks tbody tr[data-height='2'] a").click();
          assert.equal(new URL(page.url()).hash, "#/block/2");
          await waitText(page, "#loading", "Loading…");
          assert.equal(await page.locator("#loading").isVisible(), true);
          assert.equal(await page.locator("#view").getAttribute("aria-busy"), "true");
          assert.equal(await page.locator("#blocks").count(), 1, "the old view stays meanwhile");
          await page.clock.fastForward(requestTimeoutMs);
          await waitText(page, "#view [role=alert]", "Cannot show block 2.");
          await waitText(page, "#view [role=alert]", "The site did not answer");
          await page.locator("#retry").waitFor();
          assert.equal(await text(page, "#loading"), "");
          assert.equal(await page.locator("#view").getAttribute("aria-busy"), null);
        },
      );

      await t.step(
        "the badge stops saying Live once neither the stream nor a status refresh was heard for two heartbeats",
        async () => {
          // The stream stays open and says nothing, as a frozen site's does: a view that failed
          // is not the stream, which is stalled only after two heartbeats (30 s) of silence.
          assert.equal(site.streams, 1);
          assert.equal(await text(page, "#live"), "Live");
          for (let i = 0; i < 12 && (await text(page, "#live")) !== "Offline"; i++) {
            await page.clock.fastForward(5_000);
            await new Promise((r) => setTimeout(r, 100));
          }
          assert.equal(await text(page, "#live"), "Offline");
        },
      );

      await t.step(
        "when the site answers again, the view loads by itself and the badge says Live",
        async () => {
          site.thaw();
          for (let i = 0; i < 12 && (await text(page, "#live")) !== "Live"; i++) {
            await page.clock.fastForward(5_000);
            await new Promise((r) => setTimeout(r, 100));
          }
          await waitText(page, "#view-h", "Block 2");
          await waitText(page, "#live", "Live");
          assert.equal(await page.locator("#view [role=alert]").count(), 0);
          assert.equal(await text(page, "#loading"), "");
        },
      );

      assert.deepEqual(problems, [], "no script error, CSP violation or off-host request");
    } finally {
      site.thaw();
      await browser.close();
      site.closeStreams();
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "explorer: in Chromium, a site that serves no request without an API key shows Authentication required, not Offline, says the explorer then needs a key-adding proxy, and links back to the latest blocks only from another view",
  ignore: !chromiumPresent,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const { site } = await fixture();
    site.requireKey = true;
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => site.handle(req),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    const browser = await openBrowser(/status of (401|404)\b|EventSource/);
    const { page, problems } = browser;
    try {
      await t.step(
        "the badge says Authentication required, and keeps saying it through polls and the stream's retries",
        async () => {
          await page.clock.install();
          await page.goto(base + "/");
          await waitText(page, "#live", "Authentication required");
          await recordAnnouncements(page);
          // Six status polls (5 s) and the event stream's restart (30 s).
          for (let i = 0; i < 7; i++) {
            await page.clock.fastForward(5_000);
            await new Promise((r) => setTimeout(r, 50));
          }
          assert.equal(await text(page, "#live"), "Authentication required");
          assert.deepEqual((await announced(page)).filter((a) => a.startsWith("live: ")), []);
        },
      );

      await t.step(
        "the latest blocks say why they cannot be shown and how to browse the site, with no link back to themselves and no Try again; the footer has no stray separator",
        async () => {
          await waitText(page, "#view [role=alert]", "Cannot show the blocks.");
          await waitText(page, "#view [role=alert]", "only with an API key");
          assert.match(
            await text(page, "#view .auth-hint"),
            /a proxy in front of the site that adds a key/,
          );
          assert.equal(await page.locator("#view #back-home").count(), 0);
          assert.equal(await page.locator("#view #retry").count(), 0);
          assert.equal(await text(page, "footer"), "API: /openapi.json");
        },
      );

      await t.step("another view that fails so links back to the latest blocks", async () => {
        await page.goto(`${base}/#/block/1`);
        await waitText(page, "#view [role=alert]", "Cannot show block 1.");
        await page.locator("#view .auth-hint").waitFor();
        assert.equal(await page.locator("#view #back-home").getAttribute("href"), "#/");
      });

      assert.deepEqual(problems, [], "no script error, CSP violation or off-host request");
    } finally {
      await browser.close();
      site.closeStreams();
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "explorer: in Chromium, a block of more transactions than the page looks up says under its heading which rows show no kind and result, and their cells say so to a screen reader rather than nothing",
  ignore: !chromiumPresent,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    // The page looks up kind and result for the first 50 transactions of a block.
    const detailsMax = 50;
    const ledger = new FakeLedger();
    const block = ledger.append(
      Array.from({ length: detailsMax + 3 }, (_, i) => ({
        tx: envelope(i + 1, "data.anchor", {
          stream: `meter-${i}`,
          seq: 0,
          root: "ab".repeat(32),
          count: 1,
          from: T0,
          to: T0,
        }),
        result: { status: "applied" },
      })),
      T0 + 1_000,
    );
    const keys = [
      await siteKey("site-a", "http://127.0.0.1:7001"),
      await siteKey("site-b", "http://127.0.0.1:7002"),
    ];
    const site = new FakeSite(ledger, keys);
    site.checkpoint = await signedCheckpoint(ledger, block, keys);
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => site.handle(req),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    const browser = await openBrowser();
    const { page, problems } = browser;
    try {
      await t.step(
        "the heading's note says kind and result show for the first 50, and each cell past them holds a dash, in words for a screen reader",
        async () => {
          await page.goto(`${base}/#/block/1`);
          const last = block.txIds[detailsMax - 1];
          await waitText(page, `#block-txs tr[data-tx='${last}'] .result`, "✓ applied");
          assert.equal(
            await text(page, "#txs-partial"),
            "Kind and result shown for the first 50; open a transaction for the rest.",
          );
          const cells = await page.locator("#block-txs tbody tr").evaluateAll((rows) =>
            rows.map((r) => ({
              kind: r.querySelector(".kind")!.textContent,
              result: r.querySelector(".result")!.textContent,
              shown: [...r.querySelectorAll(".kind [aria-hidden], .result [aria-hidden]")]
                .map((e) => e.textContent),
            }))
          );
          assert.equal(cells.length, detailsMax + 3);
          // The result cell holds the kind too, shown under it on a narrow screen.
          assert.deepEqual(
            cells.slice(0, detailsMax).filter((c) =>
              c.kind !== "data.anchor" || c.result !== "✓ applieddata.anchor" || c.shown.length
            ),
            [],
          );
          // The eye sees a dash; a screen reader, which skips it, hears why there is nothing.
          const unlooked = "—not looked up: open the transaction";
          assert.deepEqual(
            cells.slice(detailsMax),
            Array(3).fill({ kind: unlooked, result: unlooked, shown: ["—", "—"] }),
          );
          const said = (await accessibleTexts(page)).filter((n) =>
            n === "cell: not looked up: open the transaction"
          );
          assert.equal(said.length, 3 * 2, "each of the 3 rows' kind and result cells");
          assert.equal(
            await page.locator(
              `#block-txs tr[data-tx='${block.txIds[detailsMax]}'] .result [title]`,
            )
              .getAttribute("title"),
            "not looked up: open the transaction",
          );
          assert.deepEqual(await axeViolations(page, "a block of 53 transactions"), []);
        },
      );

      assert.deepEqual(problems, [], "no script error, CSP violation or off-host request");
    } finally {
      await browser.close();
      site.closeStreams();
      await server.shutdown();
    }
  },
});

// ---------------------------------------------------------------------------
// Accessibility: axe-core's rules and the checks axe cannot make.

/** The axe-core rule tags the explorer is held to: WCAG 2.0 and 2.1, levels A and AA. */
const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

/**
 * The axe-core violations on the page as it is now, one line per failing
 * element ("rule: help — target: why"), prefixed by `where`; [] when none.
 * Legacy mode runs axe.run() in the page itself: the explorer has no frames,
 * so the blank page that axe's default mode opens per run buys nothing.
 */
async function axeViolations(page: Page, where: string): Promise<string[]> {
  const results = await new AxeBuilder({ page })
    .options({ resultTypes: ["violations"] })
    .withTags(AXE_TAGS)
    .setLegacyMode(true)
    .analyze();
  return results.violations.flatMap((v) =>
    v.nodes.map((n) =>
      `${where}: ${v.id}: ${v.help} — ${n.target.join(" ")}: ${
        (n.failureSummary ?? "").replace(/\s+/g, " ")
      }`
    )
  );
}

/**
 * What is wrong with the page's headings, one line each; [] when nothing:
 * one h1 (the site's title) and it comes first, no level skipped on the way
 * down (WCAG 1.3.1, 2.4.6), no empty heading, and a level-2 heading in the
 * view that names it.
 */
async function headingProblems(page: Page, where: string): Promise<string[]> {
  const headings = await page.locator("h1, h2, h3, h4, h5, h6").evaluateAll((els) =>
    els.filter((e) => e.getClientRects().length > 0)
      .map((e) => ({
        level: Number(e.tagName.slice(1)),
        text: (e.textContent ?? "").trim(),
        inView: e.closest("#view") !== null,
      }))
  );
  const out: string[] = [];
  const outline = headings.map((h) => `h${h.level} ${JSON.stringify(h.text)}`).join(", ");
  if (headings.filter((h) => h.level === 1).length !== 1 || headings[0]?.level !== 1) {
    out.push(`${where}: one h1 must come first: ${outline}`);
  }
  headings.forEach((h, i) => {
    if (i > 0 && h.level > headings[i - 1].level + 1) {
      out.push(`${where}: h${h.level} ${JSON.stringify(h.text)} skips a level: ${outline}`);
    }
    if (h.text === "") out.push(`${where}: an empty h${h.level}`);
  });
  if (!headings.some((h) => h.inView && h.level === 2)) {
    out.push(`${where}: the view has no h2 naming it: ${outline}`);
  }
  return out;
}

/**
 * The names and text that Chromium's accessibility tree holds for the page:
 * what a screen reader reads, CSS generated content included. Each entry is
 * "role: name".
 */
async function accessibleTexts(page: Page): Promise<string[]> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = await cdp.send("Accessibility.getFullAXTree");
    return nodes.filter((n) =>
      !n.ignored && n.role?.value !== "InlineTextBox" && typeof n.name?.value === "string" &&
      n.name.value !== ""
    )
      .map((n) => `${n.role?.value}: ${n.name!.value}`);
  } finally {
    await cdp.detach();
  }
}

/**
 * The links in Chromium's accessibility tree, by name, each with whether a
 * screen reader hears it as unavailable (disabled).
 */
async function accessibleLinks(page: Page): Promise<{ name: string; disabled: boolean }[]> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = await cdp.send("Accessibility.getFullAXTree");
    return nodes.filter((n) => !n.ignored && n.role?.value === "link").map((n) => ({
      name: String(n.name?.value ?? ""),
      disabled: (n.properties ?? []).some((p) => p.name === "disabled" && p.value.value === true),
    }));
  } finally {
    await cdp.detach();
  }
}

/** Glyphs the page draws as decoration (arrows, a bullet), which a screen reader must not read. */
const DECORATION = /[«»‹›←→▲●]/;

/** What makes an element a live region: a screen reader reads out what changes inside it. */
const LIVE_REGIONS =
  '[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"]';

/**
 * Starts writing down what the page's live regions would announce, as
 * "id: text" after each batch of DOM changes: a live region that was in the
 * page before and whose content changed, and an alert as it is added. A
 * status region added with its text already in it is not announced (a
 * screen reader follows a live region from when it appears), nor is one
 * that is not rendered. {@link announced} reads the list and starts a new
 * one.
 */
async function recordAnnouncements(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    const regions = ${JSON.stringify(LIVE_REGIONS)};
    const rendered = (e) => e.getClientRects().length > 0 || e.classList.contains("sr-only");
    globalThis.__announced = [];
    if (globalThis.__announcer) return;
    let known = new WeakSet(document.querySelectorAll(regions));
    globalThis.__announcer = new MutationObserver((records) => {
      const changed = new Set();
      for (const r of records) {
        const at = r.target.nodeType === 1 ? r.target : r.target.parentElement;
        const region = at && at.closest(regions);
        if (region && known.has(region)) changed.add(region);
        for (const n of r.addedNodes) {
          if (n.nodeType !== 1) continue;
          for (const e of [n, ...n.querySelectorAll(regions)]) {
            if (e.matches('[role="alert"]')) changed.add(e);
          }
        }
      }
      for (const e of changed) {
        if (e.isConnected && rendered(e)) globalThis.__announced.push((e.id || e.tagName) + ": " + e.textContent.trim());
      }
      known = new WeakSet(document.querySelectorAll(regions));
    });
    globalThis.__announcer.observe(document.body, { subtree: true, childList: true, characterData: true });
  })()`);
}

/** What the live regions announced since {@link recordAnnouncements} or the last call. */
async function announced(page: Page): Promise<string[]> {
  return await page.evaluate(
    "(() => { const said = globalThis.__announced; globalThis.__announced = []; return said; })()",
  ) as string[];
}

/** A verdict that the proof verifies ("Verified" alone also matches "Not verified"). */
const VERIFIED = /^✓Verified: /;

/** One view of the explorer as the accessibility test visits it. */
type A11yView = {
  name: string;
  /** The document's title while the view shows, before " · demo · edgeledger". */
  title: string;
  /** Shows the view: navigates, types, or changes the fake site. */
  open(page: Page, base: string): Promise<void>;
  /** Puts back what `open` changed on the fake site. */
  close?(): void;
};

Deno.test({
  name:
    "explorer: in Chromium, accessibility: every view passes axe-core's WCAG 2.1 A and AA rules in light and dark, at 1280 px and on a 320 px phone, without scrolling sideways",
  ignore: !chromiumPresent,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const { ledger, ids, keys } = await fixture();
    // Block 4 holds a transaction whose body is taller than its box, which then scrolls.
    const long = envelope(7, "data.anchor", {
      stream: "meter-7",
      readings: Array.from({ length: 60 }, (_, i) => ({ seq: i, value: i * 7 })),
    });
    // And one refused with a did:key in its detail: a word too long for a 320 px line.
    const claimed = envelope(8, "data.anchor", {
      stream: "meter-7",
      seq: 2,
      root: "23".repeat(32),
      count: 1,
      from: T0,
      to: T0,
    }, [SIGNER_B]);
    const b4 = ledger.append([
      { tx: long, result: { status: "applied" } },
      {
        tx: claimed,
        result: {
          status: "rejected",
          code: "stream_not_owner",
          detail: `Cannot anchor on stream "meter-7": it belongs to ${SIGNER_A}`,
        },
      },
    ], T0 + 4_000);
    // Two blocks a page, so the list of blocks 0..4 has pages to go to.
    const site = new FakeSite(ledger, keys, 2);
    site.checkpoint = await signedCheckpoint(ledger, b4, keys);
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => site.handle(req),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    const browser = await openBrowser();
    const { page, problems } = browser;
    const goto = async (hash: string, ready: string, has?: string | RegExp) => {
      await page.goto(`${base}/${hash}`);
      await page.locator(ready, has === undefined ? {} : { hasText: has }).first().waitFor();
    };
    const views: A11yView[] = [
      {
        name: "latest blocks (live)",
        title: "Latest blocks",
        open: async () => {
          await goto("#/", "#blocks tbody tr[data-height='3']");
          await waitText(page, "#cp-h + dl", "signed by");
          await page.locator("#sites-h + ul").waitFor();
        },
      },
      {
        name: "a page of older blocks",
        title: "Block list: Blocks 0–1",
        open: () => goto("#/blocks/1", "#blocks tbody tr[data-height='0']"),
      },
      {
        name: "go to a height not there yet",
        title: "Block list: Blocks 0–1",
        open: async () => {
          await goto("#/blocks/1", "#blocks tbody tr[data-height='0']");
          await page.locator("#jump-h").fill("999");
          await page.locator("#jump-h").press("Enter");
          await waitText(page, "#jump-msg", "There is no block 999 yet");
        },
      },
      {
        name: "a block",
        title: "Block 2",
        open: async () => {
          await goto("#/block/2", "#view-h", "Block 2");
          await waitText(page, `#block-txs tr[data-tx='${ids.handoff}'] .result`, "✓ applied");
        },
      },
      {
        // Its heading is "Block 0", like the block's own view: its title is not.
        name: "a page of the block list that holds one block",
        title: "Block list: Block 0",
        open: () => goto("#/blocks/0", "#blocks tbody tr[data-height='0']"),
      },
      {
        name: "a transaction whose proof verifies",
        title: `Transaction ${ids.anchor1.slice(0, 10)}`,
        open: () => goto(`#/tx/${ids.anchor1}`, "#proof-verdict", VERIFIED),
      },
      {
        name: "a transaction whose proof does not verify",
        title: `Transaction ${ids.handoff.slice(0, 10)}`,
        open: () => goto(`#/tx/${ids.handoff}`, "#proof-verdict", "Not verified"),
      },
      {
        name: "a transaction whose body scrolls in its box",
        title: `Transaction ${txId(long).slice(0, 10)}`,
        open: async () => {
          await goto(`#/tx/${txId(long)}`, "pre[aria-label='Body']", "readings");
          await waitText(page, "#proof-verdict", VERIFIED);
        },
      },
      {
        name: "a transaction refused with a did:key in its detail",
        title: `Transaction ${txId(claimed).slice(0, 10)}`,
        open: async () => {
          await goto(`#/tx/${txId(claimed)}`, "#tx-result", SIGNER_A);
          await waitText(page, "#proof-verdict", VERIFIED);
        },
      },
      {
        name: "the checkpoint",
        title: "Checkpoint",
        open: () => goto("#/checkpoint", "#note-sigs", "✓ verified"),
      },
      { name: "the sites", title: "Sites", open: () => goto("#/sites", "#sites", "site-x") },
      {
        name: "a search that finds nothing",
        title: "Latest blocks",
        open: async () => {
          await goto("#/", "#blocks tbody tr[data-height='3']");
          await page.locator("#q").fill("f".repeat(64));
          await page.locator("#q").press("Enter");
          await waitText(page, "#search-msg", "Nothing found");
        },
      },
      {
        name: "a block not there yet",
        title: "Block 999",
        open: () => goto("#/block/999", "#no-block"),
      },
      {
        name: "a malformed block link",
        title: 'Cannot show block "abc"',
        open: () => goto("#/block/abc", "#view [role=alert]"),
      },
      {
        name: "no such page",
        title: "There is no such page",
        open: () => goto("#/nonsense", "#view [role=alert]", "There is no such page"),
      },
      {
        name: "a transaction the site does not have",
        title: `Cannot show transaction ${"f".repeat(10)}…ffff`,
        open: () => goto(`#/tx/${"f".repeat(64)}`, "#view [role=alert]", "Cannot find"),
      },
      {
        name: "a site that does not answer (Try again)",
        title: "Cannot show block 1",
        open: async () => {
          site.unavailable = true;
          await goto("#/block/1", "#retry");
        },
        close: () => site.unavailable = false,
      },
      {
        name: "every status callout",
        title: "Latest blocks",
        open: async () => {
          site.status = {
            healthy: false,
            removed: true,
            divergence: [{
              site: "site-b",
              height: 2,
              ours: ledger.blocks[2].hash,
              theirs: "e".repeat(64),
            }],
            stateDivergence: [{
              site: "site-b",
              height: 2,
              ours: "a".repeat(64),
              theirs: "e".repeat(64),
            }],
            storageLow: [{ site: "site-b", freeBytes: 1 << 20, freeBytesMin: 1 << 29 }],
            rules: { active: 1, supported: 1, scheduled: { version: 2, height: 1000 } },
          };
          await goto("#/", "#blocks tbody tr[data-height='3']");
          await page.locator("#notice-state-diverged").waitFor();
          await page.locator("#st-rules-upgrade").waitFor();
        },
        close: () => site.status = {},
      },
      {
        name: "the callout of a site that hears no leader",
        title: "Latest blocks",
        open: async () => {
          site.status = { healthy: true, leader: null, leaderlessMs: 2400 };
          await goto("#/", "#blocks tbody tr[data-height='3']");
          await page.locator("#notice-leaderless").waitFor();
        },
        close: () => site.status = {},
      },
      {
        name: "the callout of a site that cannot reach its leader",
        title: "Latest blocks",
        open: async () => {
          site.status = { healthy: true, leader: "site-b", leaderUnreachableMs: 2100 };
          await goto("#/", "#blocks tbody tr[data-height='3']");
          await page.locator("#notice-unreachable").waitFor();
        },
        close: () => site.status = {},
      },
    ];
    const settings = [
      { scheme: "light", width: 1280, height: 900 },
      { scheme: "dark", width: 320, height: 740 },
    ] as const;
    try {
      for (const { scheme, width, height } of settings) {
        await t.step(
          `axe-core (WCAG 2.1 A, AA) finds no violation and WCAG 1.4.10 (reflow) holds on every view, ${scheme}, ${width} px`,
          async () => {
            await page.emulateMedia({ colorScheme: scheme });
            await page.setViewportSize({ width, height });
            const violations: string[] = [];
            for (const view of views) {
              try {
                await view.open(page, base);
                violations.push(...await axeViolations(page, view.name));
                // WCAG 1.4.10 Reflow, which axe does not check: at 320 px nothing
                // scrolls the page sideways (a wide table scrolls in its own box).
                const sideways = await page.locator("html").evaluate((html) =>
                  html.scrollWidth - html.clientWidth
                );
                if (sideways > 0) violations.push(`${view.name}: reflow: ${sideways} px too wide`);
              } finally {
                view.close?.();
              }
            }
            assert.deepEqual(violations, [], violations.join("\n"));
          },
        );
      }
      await t.step(
        "every view has one h1, headings in order, an h2 naming the view, named tables, and a title of its own (WCAG 1.3.1, 2.4.2, 2.4.6)",
        async () => {
          await page.emulateMedia({ colorScheme: "light" });
          await page.setViewportSize({ width: 1280, height: 900 });
          const wrong: string[] = [];
          for (const view of views) {
            try {
              await view.open(page, base);
              wrong.push(...await headingProblems(page, view.name));
              // A screen reader's list of tables names each one (its caption or heading).
              const unnamed = await page.locator("table").evaluateAll((tables) =>
                tables.filter((t) =>
                  !t.querySelector("caption") && !t.getAttribute("aria-label") &&
                  !t.ownerDocument.getElementById(t.getAttribute("aria-labelledby") ?? "")
                ).map((t) => `#${t.id}`)
              );
              if (unnamed.length) wrong.push(`${view.name}: unnamed tables ${unnamed.join(" ")}`);
              const title = await page.title();
              if (title !== `${view.title} · demo · edgeledger`) {
                wrong.push(`${view.name}: title ${JSON.stringify(title)}`);
              }
            } finally {
              view.close?.();
            }
          }
          assert.deepEqual(wrong, [], wrong.join("\n"));
        },
      );

      await t.step(
        "screen readers read the pager, the neighbouring blocks and the connection badge by their words, not their arrows and bullet, and the pager's links that go nowhere as unavailable links (WCAG 1.1.1, 2.4.4, 4.1.2)",
        async () => {
          await page.goto(`${base}/#/blocks/1`);
          await page.locator("#blocks tbody tr[data-height='0']").waitFor();
          await waitText(page, "#blocks-newer", "3 newer blocks");
          await waitText(page, "#live", "Live");
          const list = await accessibleTexts(page);
          const links = await accessibleLinks(page);
          const notTabbable = await page.locator("#pager-top [aria-disabled='true']:not([href])")
            .count();
          await goto("#/block/2", "#view-h", "Block 2");
          const block = await accessibleTexts(page);
          const read = [...list, ...block].filter((n) => DECORATION.test(n));
          assert.deepEqual(read, [], read.join("\n"));
          // The oldest page: Older and Oldest are there, as links a screen reader says are
          // unavailable (not as plain text, which says nothing of the pager), in both pagers.
          for (
            const [name, disabled] of [["Latest", false], ["Newer", false], ["Older", true], [
              "Oldest",
              true,
            ]] as const
          ) {
            const found = links.filter((l) => l.name === name);
            assert.deepEqual(
              found,
              [{ name, disabled }, { name, disabled }],
              `the pagers' ${name}: ${JSON.stringify(links)}`,
            );
          }
          // Out of the tab order: there is nowhere to go.
          assert.equal(notTabbable, 2);
          assert.ok(list.includes("StaticText: Live"), list.join(", "));
          for (const name of ["Block 1", "Block 3"]) {
            assert.ok(block.includes(`link: ${name}`), `${name}: ${block.join(", ")}`);
          }
          // Sighted users still see them.
          assert.equal(await text(page, "#view nav.pager a"), "← Block 1");
        },
      );

      await t.step(
        "live regions are in the accessibility tree before they speak: an empty message is not display: none (WCAG 4.1.3)",
        async () => {
          await goto("#/blocks/1", "#blocks tbody tr[data-height='0']");
          for (const id of ["search-msg", "jump-msg"]) {
            const region = page.locator(`#${id}`);
            assert.equal(await region.textContent(), "", id);
            const display = await region.evaluate((e) =>
              e.ownerDocument.defaultView!.getComputedStyle(e).display
            );
            assert.notEqual(display, "none", `#${id} is display: none while empty`);
          }
        },
      );

      await t.step(
        "the search box and Go to height stand out by borders of at least 3:1 against what is around and inside them, and their placeholders are at least 4.5:1, light and dark (WCAG 1.4.11, 1.4.3)",
        async () => {
          const rgb = (css: string) => (css.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
          const luminance = (css: string) => {
            const [r, g, b] = rgb(css).map((v) => v / 255)
              .map((c) => c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
            return 0.2126 * r + 0.7152 * g + 0.0722 * b;
          };
          const ratio = (a: string, b: string) => {
            const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
            return (hi + 0.05) / (lo + 0.05);
          };
          const low: string[] = [];
          try {
            for (const scheme of ["light", "dark"] as const) {
              await page.emulateMedia({ colorScheme: scheme });
              await goto("#/blocks/1", "#jump-h");
              for (const id of ["q", "jump-h"]) {
                const colours = await page.locator(`#${id}`).evaluate((input) => {
                  const style = (e: typeof input, pseudo?: string) =>
                    input.ownerDocument.defaultView!.getComputedStyle(e, pseudo);
                  // What is around the input: its nearest ancestor with a background of its own.
                  let around = input.parentElement!;
                  while (
                    around.parentElement && style(around).backgroundColor === "rgba(0, 0, 0, 0)"
                  ) around = around.parentElement;
                  return {
                    border: style(input).borderTopColor,
                    inside: style(input).backgroundColor,
                    around: style(around).backgroundColor,
                    placeholder: style(input, "::placeholder").color,
                  };
                });
                for (const against of ["inside", "around"] as const) {
                  const r = ratio(colours.border, colours[against]);
                  if (r < 3) low.push(`${scheme} #${id} border on ${against}: ${r.toFixed(2)}:1`);
                }
                const r = ratio(colours.placeholder, colours.inside);
                if (r < 4.5) low.push(`${scheme} #${id} placeholder: ${r.toFixed(2)}:1`);
              }
            }
          } finally {
            await page.emulateMedia({ colorScheme: "light" });
          }
          assert.deepEqual(low, [], low.join("\n"));
        },
      );

      await t.step(
        "keyboard: Tab reaches every control in reading order, each with a visible focus ring; Enter follows the pager, searches and opens a receipt (WCAG 2.1.1, 2.4.3, 2.4.7)",
        async () => {
          await goto("#/", "#blocks tbody tr[data-height='3']");
          await waitText(page, "#cp-h + dl", "signed by");
          await page.locator("#sites-h + ul").waitFor();
          // Number the controls a keyboard should reach, in document order, and start at the top.
          const controls = await page.evaluate(`(() => {
            const all = [...document.querySelectorAll(
              "a[href], button:not([disabled]), input, select, textarea, summary, [tabindex]:not([tabindex='-1'])",
            )].filter((e) => e.getClientRects().length > 0);
            all.forEach((e, i) => e.dataset.kb = String(i));
            document.body.tabIndex = -1;
            document.body.focus();
            document.body.removeAttribute("tabindex");
            return all.map((e) => e.id ? "#" + e.id : e.tagName.toLowerCase() + " " + JSON.stringify(e.textContent.trim().slice(0, 24)));
          })()`) as string[];
          assert.ok(controls.length >= 20, controls.join(", "));
          const reached: number[] = [];
          const noRing: string[] = [];
          for (let i = 0; i < controls.length + 1; i++) {
            await page.keyboard.press("Tab");
            const at = await page.evaluate(`(() => {
              const e = document.activeElement;
              const s = getComputedStyle(e);
              return { kb: e.dataset.kb ?? null, ring: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2 };
            })()`) as { kb: string | null; ring: boolean };
            if (at.kb === null) break;
            reached.push(Number(at.kb));
            if (!at.ring) noRing.push(controls[Number(at.kb)]);
          }
          assert.deepEqual(
            reached.map((i) => controls[i]),
            controls,
            "Tab goes through every control once, in document order",
          );
          assert.deepEqual(noRing, [], "every control shows where the focus is");

          await page.locator("#pager-top a[data-page='older']").focus();
          await page.keyboard.press("Enter");
          await page.locator("#blocks-h:focus").waitFor();
          assert.equal(new URL(page.url()).hash, "#/blocks/2");
          await page.locator("#q").focus();
          await page.keyboard.type("2");
          await page.keyboard.press("Enter");
          await page.locator("#view-h:focus", { hasText: "Block 2" }).waitFor();
          await goto(`#/tx/${ids.anchor1}`, "#proof-verdict", VERIFIED);
          await page.locator("summary", { hasText: "Receipt" }).focus();
          await page.keyboard.press("Enter");
          await page.locator("details[open] pre[aria-label='Receipt']").waitFor();
        },
      );

      // From here on the chain grows: the views above expect blocks 0..4.
      await t.step(
        "blocks arriving every 150 ms make no live region speak, on the live list, a page of older blocks or a block (WCAG 4.1.3, 2.2.2)",
        async () => {
          let time = T0 + 10_000;
          for (
            const [hash, ready] of [
              ["#/", "#blocks tbody tr[data-height='3']"],
              ["#/blocks/1", "#blocks tbody tr[data-height='0']"],
              ["#/block/2", "#block-txs"],
            ]
          ) {
            await goto(hash, ready);
            await waitText(page, "#live", "Live");
            await recordAnnouncements(page);
            for (let i = 0; i < 3; i++) {
              site.push(ledger.append([], time += 1_000));
              await new Promise((r) => setTimeout(r, 150));
            }
            const head = ledger.blocks.length - 1;
            await waitText(page, "#st-height", new RegExp(`^${head}$`));
            if (hash === "#/") await page.locator(`#blocks tr[data-height='${head}']`).waitFor();
            assert.deepEqual(await announced(page), [], hash);
          }
        },
      );

      await t.step(
        "prefers-reduced-motion: reduce: a block arriving on the live list does not flash its row, and nothing else moves (WCAG 2.3.3)",
        async () => {
          for (const motion of ["no-preference", "reduce"] as const) {
            await page.emulateMedia({ reducedMotion: motion });
            await goto("#/", "#blocks tbody tr");
            await waitText(page, "#live", "Live");
            const block = ledger.append([], ledger.blocks.at(-1)!.header.time + 1_000);
            site.push(block);
            await page.locator(`#blocks tr[data-height='${block.header.height}']`).waitFor();
            const moving = await page.evaluate("document.getAnimations().length") as number;
            if (motion === "reduce") assert.equal(moving, 0, "nothing moves");
            else assert.ok(moving > 0, "without the preference, the new row flashes");
          }
          await page.emulateMedia({ reducedMotion: "no-preference" });
        },
      );

      await t.step(
        "while the site does not answer, the connection badge says so once, not at every retry and poll; then Live once it answers (WCAG 4.1.3)",
        async () => {
          await page.clock.install();
          await page.goto(`${base}/#/`);
          await page.locator("#blocks tbody tr").first().waitFor();
          await waitText(page, "#live", "Live");
          await recordAnnouncements(page);
          site.unavailable = true;
          site.closeStreams();
          await waitText(page, "#live", "Offline");
          // Six status polls (5 s) and the event stream's restart (30 s).
          for (let i = 0; i < 7; i++) {
            await page.clock.fastForward(5_000);
            await new Promise((r) => setTimeout(r, 50));
          }
          const down = (await announced(page)).filter((a) => a.startsWith("live: "));
          site.unavailable = false;
          for (let i = 0; i < 7 && (await text(page, "#live")) !== "Live"; i++) {
            await page.clock.fastForward(5_000);
            await new Promise((r) => setTimeout(r, 100));
          }
          await waitText(page, "#live", "Live");
          const up = (await announced(page)).filter((a) => a.startsWith("live: "));
          assert.equal(down.at(-1), "live: Offline", down.join(", "));
          assert.ok(down.length <= 2, `said ${down.length} times while down: ${down.join(", ")}`);
          assert.equal(up.at(-1), "live: Live", up.join(", "));
          const said = [...down, ...up];
          assert.ok(
            said.every((a, i) => i === 0 || a !== said[i - 1]),
            `the same words twice in a row: ${said.join(", ")}`,
          );
        },
      );

      await t.step(
        "a low-disk callout is announced once, not again at each refresh that only changes its figures (WCAG 4.1.3)",
        async () => {
          // The page's clock is fake since the step above: a refresh is 15 s away.
          await goto("#/", "#blocks tbody tr");
          await recordAnnouncements(page);
          const low = (freeBytes: number) => ({
            storageLow: [{ site: "site-b", freeBytes, freeBytesMin: 512 * 1024 * 1024 }],
          });
          try {
            site.status = low(100 * 1024 * 1024);
            await page.clock.fastForward(16_000);
            await waitText(page, "#notice-storage li", "100 MiB free");
            const first = await announced(page);
            assert.equal(first.length, 1, first.join("\n"));
            assert.match(first[0], /: New transactions are paused/);
            site.status = low(101 * 1024 * 1024);
            await page.clock.fastForward(16_000);
            await waitText(page, "#notice-storage li", "101 MiB free");
            assert.deepEqual(await announced(page), []);
          } finally {
            site.status = {};
          }
        },
      );

      await t.step(
        "a transaction's proof verdict is announced once it is known (WCAG 4.1.3)",
        async () => {
          for (
            const [id, verdict] of [[ids.anchor1, "Verified: "], [ids.handoff, "Not verified: "]]
          ) {
            await goto("#/blocks/1", "#blocks tbody tr[data-height='0']");
            await recordAnnouncements(page);
            await page.goto(`${base}/#/tx/${id}`);
            await waitText(page, "#proof-verdict", verdict);
            await new Promise((r) => setTimeout(r, 50));
            const said = await announced(page);
            assert.ok(
              said.some((a) => a.includes(verdict)),
              `the verdict is not announced: ${said.join("\n")}`,
            );
          }
        },
      );

      assert.deepEqual(problems, [], "no script error, CSP violation or off-host request");
    } finally {
      await browser.close();
      site.closeStreams();
      await server.shutdown();
    }
  },
});
