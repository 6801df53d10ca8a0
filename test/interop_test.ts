/**
 * A clean-room client of the wire protocol (DESIGN §2 and §6), written from
 * the design document alone, against a live 3-site cluster of real processes
 * on loopback.
 *
 * Nothing in the client's code paths comes from `sdk/` or `src/`: did:key,
 * envelopes, the signing payload, transaction ids, RFC 9162 proofs, C2SP
 * signed notes and checkpoints are implemented here with `node:crypto`,
 * `canonicalize` (RFC 8785) and `@scure/base`. Our SDK and server were built
 * together, so a mistake both share would pass their own tests; this file is
 * what an SDK in Swift or Kotlin would do, and a worked example for those
 * SDKs' authors. Only the cluster's start and stop come from the repo's test
 * helpers (`./_cluster.ts`).
 *
 * Where DESIGN leaves a choice open (a stream's length in "chars", the path of
 * "block by hash", a refused batch item's `txId`), the test pins the reading
 * the sites implement; `sdk/conformance/README.md` lists both readings.
 *
 * @module
 */
import assert from "node:assert/strict";
import crypto from "node:crypto";
import canonicalize from "canonicalize";
import { base58, base64, base64urlnopad } from "@scure/base";
import { startCluster, statuses, type TestCluster, waitFor } from "./_cluster.ts";

// ---- encodings ---------------------------------------------------------------

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

/** RFC 8785 canonical JSON text of `value`. */
function jcs(value: unknown): string {
  const text = canonicalize(value);
  assert.ok(text !== undefined, "Cannot canonicalize a value JSON cannot hold");
  return text;
}

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = crypto.createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(text: string): Uint8Array {
  assert.match(text, /^([0-9a-f]{2})*$/, `not lowercase hex: ${text}`);
  return new Uint8Array(text.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
}

/** Base64url without padding (DESIGN §2: every binary value in JSON). */
const b64url = {
  encode: (bytes: Uint8Array) => base64urlnopad.encode(bytes),
  decode: (text: string) => {
    assert.match(text, /^[A-Za-z0-9_-]*$/, `not unpadded base64url: ${text}`);
    return base64urlnopad.decode(text);
  },
};

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---- keys and did:key ----------------------------------------------------------

type Alg = "ed25519" | "p256" | "secp256k1";

/**
 * Multicodec codes (unsigned varint) of did:key: ed25519-pub 0xed,
 * p256-pub 0x1200 (compressed SEC1), secp256k1-pub 0xe7 (compressed SEC1).
 */
const multicodec: Record<Alg, number> = { ed25519: 0xed, p256: 0x1200, secp256k1: 0xe7 };

function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return new Uint8Array(out);
}

/** The value and length of the unsigned varint at the start of `bytes`. */
function readVarint(bytes: Uint8Array): [number, number] {
  let value = 0;
  for (let i = 0; i < Math.min(bytes.length, 4); i++) {
    value |= (bytes[i] & 0x7f) << (7 * i);
    if ((bytes[i] & 0x80) === 0) return [value, i + 1];
  }
  throw new Error("Cannot read a varint: it does not end");
}

/** `did:key:z` + base58btc(varint(multicodec) ‖ public key). */
function didKey(alg: Alg, publicKey: Uint8Array): string {
  return `did:key:z${base58.encode(concat(varint(multicodec[alg]), publicKey))}`;
}

function parseDidKey(did: string): { alg: Alg; publicKey: Uint8Array } {
  assert.ok(did.startsWith("did:key:z"), `not a base58btc did:key: ${did}`);
  const bytes = base58.decode(did.slice("did:key:z".length));
  const [code, used] = readVarint(bytes);
  const alg = (Object.keys(multicodec) as Alg[]).find((a) => multicodec[a] === code);
  assert.ok(alg, `unknown multicodec 0x${code.toString(16)}`);
  const publicKey = bytes.slice(used);
  assert.equal(publicKey.length, alg === "ed25519" ? 32 : 33);
  return { alg, publicKey };
}

/** secp256k1's and P-256's group orders, for flipping `s` to `n − s`. */
const curveOrder: Record<Exclude<Alg, "ed25519">, bigint> = {
  p256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
};

function toBig(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${hex(bytes)}`);
}

function fromBig(n: bigint, length: number): Uint8Array {
  return fromHex(n.toString(16).padStart(length * 2, "0"));
}

interface Key {
  alg: Alg;
  did: string;
  publicKey: Uint8Array;
  /** An IEEE P1363 (ECDSA, `r‖s`, SHA-256) or RFC 8032 signature of `message`. */
  sign(message: Uint8Array): Uint8Array;
}

function newKey(alg: Alg): Key {
  if (alg === "ed25519") {
    const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519");
    const raw = b64url.decode(publicKey.export({ format: "jwk" }).x!);
    return {
      alg,
      did: didKey(alg, raw),
      publicKey: raw,
      sign: (m) => new Uint8Array(crypto.sign(null, m, privateKey)),
    };
  }
  const namedCurve = alg === "p256" ? "prime256v1" : "secp256k1";
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve });
  const jwk = publicKey.export({ format: "jwk" });
  const y = b64url.decode(jwk.y!);
  // Compressed SEC1: 0x02 for an even y, 0x03 for an odd one, then x.
  const raw = concat(new Uint8Array([0x02 | (y[31] & 1)]), b64url.decode(jwk.x!));
  return {
    alg,
    did: didKey(alg, raw),
    publicKey: raw,
    sign: (m) =>
      new Uint8Array(crypto.sign("sha256", m, { key: privateKey, dsaEncoding: "ieee-p1363" })),
  };
}

/** The same ECDSA signature with `s` replaced by `n − s` (the other of low-S and high-S). */
function flipS(alg: Exclude<Alg, "ed25519">, sig: Uint8Array): Uint8Array {
  assert.equal(sig.length, 64);
  const s = toBig(sig.slice(32));
  return concat(sig.slice(0, 32), fromBig(curveOrder[alg] - s, 32));
}

/** The ASN.1 DER form of a P1363 `r‖s` signature. */
function derOf(sig: Uint8Array): Uint8Array {
  const int = (b: Uint8Array) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const v = b.slice(i);
    const body = v[0] & 0x80 ? concat(new Uint8Array([0]), v) : v;
    return concat(new Uint8Array([0x02, body.length]), body);
  };
  const seq = concat(int(sig.slice(0, 32)), int(sig.slice(32)));
  return concat(new Uint8Array([0x30, seq.length]), seq);
}

function isHighS(alg: Exclude<Alg, "ed25519">, sig: Uint8Array): boolean {
  return toBig(sig.slice(32)) > curveOrder[alg] / 2n;
}

// ---- envelopes -----------------------------------------------------------------

interface Envelope {
  v: number;
  ledger: string;
  kind: string;
  body: Record<string, unknown>;
  nonce: string;
  expiresAt: number;
  signers: string[];
  sigs: string[];
  [extra: string]: unknown;
}

const signingPrefix = "edgeledger/tx/v1\n";

/** UTF-8 of `"edgeledger/tx/v1\n" + JCS(envelope without "sigs")`. */
function signingPayload(envelope: Envelope): Uint8Array {
  const { sigs: _sigs, ...unsigned } = envelope;
  return utf8.encode(signingPrefix + jcs(unsigned));
}

/** Hex SHA-256 of the signing payload. */
function txId(envelope: Envelope): string {
  return hex(sha256(signingPayload(envelope)));
}

let streamCount = 0;

/**
 * A `data.anchor` envelope signed by `key`; `edit` changes the unsigned
 * envelope before it is signed (to build one the server must refuse).
 */
function anchor(
  ledger: string,
  key: Key,
  edit: (e: Envelope) => void = () => {},
): Envelope {
  const now = Date.now();
  const envelope: Envelope = {
    v: 1,
    ledger,
    kind: "data.anchor",
    body: {
      stream: `interop-${key.alg}-${streamCount++}-${crypto.randomUUID().slice(0, 8)}`,
      seq: 0,
      root: hex(sha256(utf8.encode(`readings ${streamCount}`))),
      count: 3,
      from: now - 60_000,
      to: now,
    },
    nonce: b64url.encode(crypto.getRandomValues(new Uint8Array(16))),
    expiresAt: now + 10 * 60_000,
    signers: [key.did],
    sigs: [],
  };
  edit(envelope);
  envelope.sigs = [b64url.encode(key.sign(signingPayload(envelope)))];
  return envelope;
}

// ---- RFC 9162 Merkle tree --------------------------------------------------------

/** RFC 9162 §2.1.1: leaf hash H(0x00 ‖ d). */
function leafHash(data: Uint8Array): Uint8Array {
  return sha256(new Uint8Array([0]), data);
}

/** RFC 9162 §2.1.1: node hash H(0x01 ‖ left ‖ right). */
function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(new Uint8Array([1]), left, right);
}

/** MTH(D[n]) of RFC 9162 §2.1.1, for the tests of the verifiers below. */
function merkleRoot(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256();
  if (leaves.length === 1) return leafHash(leaves[0]);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(merkleRoot(leaves.slice(0, k)), merkleRoot(leaves.slice(k)));
}

/** PATH(m, D[n]) of RFC 9162 §2.1.3.1. */
function auditPath(m: number, leaves: Uint8Array[]): Uint8Array[] {
  if (leaves.length <= 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return m < k
    ? [...auditPath(m, leaves.slice(0, k)), merkleRoot(leaves.slice(k))]
    : [...auditPath(m - k, leaves.slice(k)), merkleRoot(leaves.slice(0, k))];
}

/** PROOF(m, D[n]) of RFC 9162 §2.1.4.1. */
function consistencyPath(m: number, leaves: Uint8Array[], complete = true): Uint8Array[] {
  const n = leaves.length;
  if (m === n) return complete ? [] : [merkleRoot(leaves)];
  let k = 1;
  while (k * 2 < n) k *= 2;
  return m <= k
    ? [...consistencyPath(m, leaves.slice(0, k), complete), merkleRoot(leaves.slice(k))]
    : [...consistencyPath(m - k, leaves.slice(k), false), merkleRoot(leaves.slice(0, k))];
}

/** RFC 9162 §2.1.3.2: verifies an inclusion proof (audit path). */
function verifyInclusion(
  hash: Uint8Array,
  index: number,
  size: number,
  proof: Uint8Array[],
  root: Uint8Array,
): boolean {
  if (index >= size || proof.some((p) => p.length !== 32)) return false;
  let fn = index;
  let sn = size - 1;
  let r = hash;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(r, root);
}

/** RFC 9162 §2.1.4.2: verifies a consistency proof between sizes `m ≤ n`. */
function verifyConsistency(
  m: number,
  n: number,
  proof: Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  if (m > n || m < 1 || proof.some((p) => p.length !== 32)) return false;
  if (m === n) return proof.length === 0 && equalBytes(root1, root2);
  if (proof.length === 0) return false;
  const path = (m & (m - 1)) === 0 ? [root1, ...proof] : [...proof];
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && equalBytes(fr, root1) && equalBytes(sr, root2);
}

// ---- C2SP signed notes and checkpoints ----------------------------------------------

interface VerifierKey {
  name: string;
  keyId: Uint8Array;
  publicKey: crypto.KeyObject;
}

/** C2SP signed-note key id: the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key). */
function noteKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return sha256(utf8.encode(name), new Uint8Array([0x0a, 0x01]), publicKey).slice(0, 4);
}

/** Parses a `name+<hex key id>+<base64(0x01 ‖ Ed25519 key)>` verifier key. */
function parseVerifierKey(text: string): VerifierKey {
  // The base64 part may hold '+' itself: split on the first two only.
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  assert.ok(first > 0 && second > first, `not a verifier key: ${text}`);
  const name = text.slice(0, first);
  const idHex = text.slice(first + 1, second);
  assert.match(idHex, /^[0-9a-f]{8}$/);
  const key = base64.decode(text.slice(second + 1));
  assert.equal(key.length, 33, "an Ed25519 verifier key is 0x01 ‖ 32 bytes");
  assert.equal(key[0], 0x01, "an Ed25519 verifier key starts with its type 0x01");
  const raw = key.slice(1);
  const keyId = noteKeyId(name, raw);
  assert.equal(hex(keyId), idHex, `${name}: the key id is not SHA-256(name ‖ \\n ‖ 0x01 ‖ key)`);
  const publicKey = crypto.createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x: b64url.encode(raw) },
    format: "jwk",
  });
  return { name, keyId, publicKey };
}

/**
 * Verifies a C2SP signed note: its text and the names of the keys whose
 * lines verified. A known key's line that does not verify voids the note.
 */
function openNote(note: string, keys: VerifierKey[]): { text: string; names: string[] } {
  const split = note.lastIndexOf("\n\n");
  assert.ok(split > 0, "a signed note has a blank line before its signatures");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2);
  assert.ok(lines.endsWith("\n"), "a signed note ends with a newline");
  const names: string[] = [];
  for (const line of lines.slice(0, -1).split("\n")) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$/.exec(line);
    assert.ok(m, `not a signature line: ${JSON.stringify(line)}`);
    const sig = base64.decode(m[2]);
    const key = keys.find((k) => k.name === m[1] && equalBytes(k.keyId, sig.slice(0, 4)));
    if (key === undefined) continue;
    assert.equal(sig.length, 4 + 64);
    if (!crypto.verify(null, utf8.encode(text), key.publicKey, sig.slice(4))) {
      return { text, names: [] };
    }
    if (!names.includes(key.name)) names.push(key.name);
  }
  return { text, names };
}

interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  height: number;
  block: string;
  signers: string[];
}

/**
 * Parses a C2SP tlog-checkpoint body: origin, decimal tree size, base64
 * root hash, then extension lines (`height <n>`, `block <hex>`).
 */
function parseCheckpoint(text: string): Omit<Checkpoint, "signers"> {
  assert.ok(text.endsWith("\n"));
  const lines = text.slice(0, -1).split("\n");
  assert.ok(lines.length >= 3, "a checkpoint has at least origin, size and root");
  const [origin, sizeLine, rootLine, ...extensions] = lines;
  assert.match(sizeLine, /^(0|[1-9][0-9]*)$/, "the tree size is a decimal without leading zeros");
  const root = base64.decode(rootLine);
  assert.equal(root.length, 32);
  const ext = new Map(extensions.map((l) => {
    const at = l.indexOf(" ");
    return [l.slice(0, at), l.slice(at + 1)] as const;
  }));
  const height = ext.get("height");
  const block = ext.get("block");
  assert.ok(height !== undefined && /^(0|[1-9][0-9]*)$/.test(height), `no height line: ${text}`);
  assert.ok(block !== undefined && /^[0-9a-f]{64}$/.test(block), `no block line: ${text}`);
  return { origin, size: Number(sizeLine), root, height: Number(height), block };
}

// ---- blocks ----------------------------------------------------------------------

const headerFields = [
  "height",
  "ledger",
  "logRoot",
  "logSize",
  "prev",
  "proposer",
  "term",
  "time",
  "txCount",
  "v",
];

/** Hex SHA-256 of `"edgeledger/block/v1\n" + JCS(header)`. */
function blockHash(header: Record<string, unknown>): string {
  return hex(sha256(utf8.encode("edgeledger/block/v1\n" + jcs(header))));
}

// ---- the client --------------------------------------------------------------------

interface Receipt {
  txId: string;
  status: string;
  height?: number;
  logIndex?: number;
  result?: Record<string, unknown> & { status: string };
}

interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  requestId?: string;
}

const problemBase = "https://edgeledger.dev/problems/";

/** A site's answer: its status, content type and parsed body. */
async function call(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; type: string; body: unknown; text: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  const type = res.headers.get("content-type") ?? "";
  const body = /json/.test(type) ? JSON.parse(text) : undefined;
  return { status: res.status, type, body, text };
}

async function getJson<T>(url: string): Promise<T> {
  const r = await call(url);
  assert.equal(r.status, 200, `${url}: ${r.text}`);
  assert.match(r.type, /^application\/json\b/);
  return r.body as T;
}

async function submit(url: string, payload: unknown) {
  return await call(`${url}/v1/txs?wait=commit`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(payload),
  });
}

/** Asserts a receipt of a committed, applied transaction, with our own id. */
function assertCommitted(receipt: Receipt, envelope: Envelope): void {
  assert.equal(receipt.txId, txId(envelope), "the server's txId is the client's");
  assert.equal(receipt.status, "committed", JSON.stringify(receipt));
  assert.ok(Number.isSafeInteger(receipt.height) && receipt.height! >= 1);
  assert.ok(Number.isSafeInteger(receipt.logIndex) && receipt.logIndex! >= 0);
  assert.equal(receipt.result?.status, "applied", JSON.stringify(receipt.result));
}

/** Asserts an RFC 9457 problem with the stable type `slug` and HTTP status `status`. */
function assertProblem(
  r: { status: number; type: string; body: unknown; text: string },
  status: number,
  slug: string,
): Problem {
  assert.equal(r.status, status, r.text);
  assert.match(r.type, /^application\/problem\+json\b/, r.type);
  const p = r.body as Problem;
  assert.equal(p.type, problemBase + slug, r.text);
  assert.equal(p.status, status);
  assert.equal(typeof p.title, "string");
  assert.ok(p.title.length > 0);
  assert.equal(typeof p.requestId, "string", "a problem carries the request id");
  assert.doesNotMatch(r.text, /\bat [^ ]+:\d+:\d+|\.ts:\d+/, "a problem carries no stack trace");
  return p;
}

/**
 * The latest checkpoint of `url`, verified against every site's verifier
 * key of `/v1/sites` and signed by a majority of them.
 */
async function trustedCheckpoint(url: string, origin: string): Promise<Checkpoint> {
  const { sites } = await getJson<{ sites: Array<{ name: string; verifierKey: string }> }>(
    `${url}/v1/sites`,
  );
  const keys = sites.map((s) => parseVerifierKey(s.verifierKey));
  assert.deepEqual(keys.map((k) => k.name), sites.map((s) => s.name));
  const quorum = Math.floor(keys.length / 2) + 1;
  // A block's co-signatures travel after it: a quorum follows shortly.
  return await waitFor(`a checkpoint signed by ${quorum} sites`, async () => {
    const r = await call(`${url}/v1/checkpoint`);
    assert.equal(r.status, 200, r.text);
    assert.match(r.type, /^text\/plain\b/);
    const { text, names } = openNote(r.text, keys);
    if (names.length < quorum) return undefined;
    const cp = parseCheckpoint(text);
    assert.equal(cp.origin, origin);
    return { ...cp, signers: names };
  }, 15_000);
}

/** A trusted checkpoint of `url` whose tree holds `logIndex`. */
async function checkpointCovering(url: string, origin: string, logIndex: number) {
  return await waitFor(`a checkpoint covering log index ${logIndex}`, async () => {
    const cp = await trustedCheckpoint(url, origin);
    return cp.size > logIndex ? cp : undefined;
  }, 15_000);
}

interface Block {
  hash: string;
  header: Record<string, unknown> & { height: number; prev: string; txCount: number };
  txIds: string[];
}

/**
 * The path template of "block by hash" (DESIGN §6 names the read but not its
 * path; the table lists only `/v1/blocks/{height}`), as `/openapi.json` says.
 */
async function blockByHashPath(url: string): Promise<string> {
  const openapi = await getJson<{ openapi: string; paths: Record<string, unknown> }>(
    `${url}/openapi.json`,
  );
  assert.match(openapi.openapi, /^3\.1\./);
  const paths = Object.keys(openapi.paths).filter((p) => /^\/v1\/blocks\/.*\{hash\}$/.test(p));
  assert.equal(paths.length, 1, `one block-by-hash route: ${paths.join(", ")}`);
  return paths[0];
}

/**
 * Reads block `height` (by height, then by hash at `byHash`) and checks its
 * fields and its hash per DESIGN §2.
 */
async function checkedBlock(url: string, height: number, byHash: string): Promise<Block> {
  const block = await getJson<Block>(`${url}/v1/blocks/${height}`);
  assert.deepEqual(Object.keys(block.header).sort(), headerFields);
  assert.equal(block.header.height, height);
  assert.equal(blockHash(block.header), block.hash, `block ${height}: the hash is not ours`);
  assert.match(block.hash, /^[0-9a-f]{64}$/);
  assert.equal(block.txIds.length, block.header.txCount);
  const again = await getJson<Block>(url + byHash.replace("{hash}", block.hash));
  assert.deepEqual(again, block);
  return block;
}

/** Reads one SSE stream until `until` says stop (or `timeoutMs`); the events seen. */
async function readEvents(
  url: string,
  headers: Record<string, string>,
  until: (events: SseEvent[]) => boolean,
  onOpen: () => Promise<void> = async () => {},
  timeoutMs = 15_000,
): Promise<SseEvent[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const events: SseEvent[] = [];
  try {
    const res = await fetch(`${url}/v1/events`, { headers, signal: abort.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream\b/);
    const opened = onOpen();
    let buffer = "";
    try {
      for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
        buffer += chunk.replace(/\r\n?/g, "\n");
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = parseSse(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event.data !== "") events.push(event);
        }
        if (until(events)) break;
      }
    } catch (e) {
      if (!abort.signal.aborted) throw e;
    }
    await opened;
    abort.abort();
    return events;
  } finally {
    clearTimeout(timer);
  }
}

interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

/** One SSE event per the HTML standard's rules (comments skipped, data lines joined). */
function parseSse(block: string): SseEvent {
  const out: SseEvent = { event: "message", data: "" };
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const field = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (field === "event") out.event = value;
    else if (field === "id") out.id = value;
    else if (field === "data") data.push(value);
  }
  out.data = data.join("\n");
  return out;
}

// ---- the clean-room primitives checked on their own ---------------------------------

Deno.test("interop: the clean-room did:key uses multicodec 0xed, 0x1200 and 0xe7 under base58btc", () => {
  for (const [alg, prefix] of [["ed25519", "z6Mk"], ["p256", "zDn"], ["secp256k1", "zQ3s"]]) {
    const key = newKey(alg as Alg);
    assert.ok(key.did.startsWith(`did:key:${prefix}`), key.did);
    const parsed = parseDidKey(key.did);
    assert.equal(parsed.alg, alg);
    assert.ok(equalBytes(parsed.publicKey, key.publicKey));
  }
  assert.deepEqual([...varint(0x1200)], [0x80, 0x24]);
  assert.deepEqual([...varint(0xed)], [0xed, 0x01]);
});

Deno.test("interop: the clean-room RFC 9162 verifiers accept every path and refuse a flipped bit", () => {
  const leaves = Array.from({ length: 9 }, (_, i) => utf8.encode(`leaf-${i}`));
  for (let n = 1; n <= leaves.length; n++) {
    const tree = leaves.slice(0, n);
    const root = merkleRoot(tree);
    for (let i = 0; i < n; i++) {
      const path = auditPath(i, tree);
      assert.ok(verifyInclusion(leafHash(tree[i]), i, n, path, root), `inclusion ${i}/${n}`);
      const bad = leafHash(tree[i]);
      bad[0] ^= 1;
      assert.ok(!verifyInclusion(bad, i, n, path, root));
      assert.ok(!verifyInclusion(leafHash(tree[i]), i, n, [...path, root], root));
    }
    for (let m = 1; m <= n; m++) {
      const path = consistencyPath(m, tree);
      const root1 = merkleRoot(leaves.slice(0, m));
      assert.ok(verifyConsistency(m, n, path, root1, root), `consistency ${m}→${n}`);
      if (path.length > 0) {
        const flipped = path.map((p) => p.slice());
        flipped[0][31] ^= 1;
        assert.ok(!verifyConsistency(m, n, flipped, root1, root), `flipped ${m}→${n}`);
      }
    }
  }
});

Deno.test("interop: flipping s to n − s turns a low-S P1363 signature into a high-S one and back", () => {
  for (const alg of ["p256", "secp256k1"] as const) {
    const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", {
      namedCurve: alg === "p256" ? "prime256v1" : "secp256k1",
    });
    const m = utf8.encode("edgeledger");
    const sig = new Uint8Array(
      crypto.sign("sha256", m, { key: privateKey, dsaEncoding: "ieee-p1363" }),
    );
    const other = flipS(alg, sig);
    assert.notEqual(isHighS(alg, sig), isHighS(alg, other));
    assert.deepEqual(flipS(alg, other), sig);
    const low = isHighS(alg, sig) ? other : sig;
    const key = { key: publicKey, dsaEncoding: "ieee-p1363" as const };
    assert.ok(crypto.verify("sha256", m, key, low));
    // Deno's node:crypto refuses a high-S secp256k1 signature (as libsecp256k1
    // does), though both forms are valid ECDSA; the sites must accept both
    // (DESIGN §2), which the cluster test checks. P-256 verifiers take both.
    if (alg === "p256") assert.ok(crypto.verify("sha256", m, key, flipS(alg, low)));
  }
});

// ---- against a live cluster -----------------------------------------------------------

Deno.test({
  name: "interop: a clean-room client interoperates with a live 3-site cluster (DESIGN §2, §6)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const cluster: TestCluster = await startCluster(3);
    try {
      await waitFor("a leader", async () => {
        const all = await statuses(cluster);
        return all.some((s) => s?.role === "leader") || undefined;
      });
      const urls = cluster.sites.map((s) => s.url);
      const status = await getJson<
        { ledger: string; origin: string; site: string; role: string; height: number }
      >(`${urls[0]}/v1/status`);
      const statusFields = [
        "ledger",
        "site",
        "role",
        "term",
        "leader",
        "commitIndex",
        "appliedIndex",
        "height",
        "logSize",
      ];
      for (const field of statusFields) assert.ok(field in status, `status has ${field}`);
      assert.ok(["leader", "follower", "candidate", "learner"].includes(status.role));
      const ledger = status.ledger;
      const origin = status.origin;
      /** What each committed envelope of ours is, by id, with its receipt. */
      const committed = new Map<string, { envelope: Envelope; receipt: Receipt }>();

      const ed = newKey("ed25519");
      const p256 = newKey("p256");
      const k1 = newKey("secp256k1");
      let firstCheckpoint: Checkpoint | undefined;

      await t.step(
        "POST /v1/txs with one envelope: Ed25519, P-256 low-S, P-256 high-S and secp256k1 signers are each answered a committed receipt with the client's txId",
        async () => {
          const lowS = anchor(ledger, p256, (e) => e.body.stream += "-low");
          const lowSig = b64url.decode(lowS.sigs[0]);
          if (isHighS("p256", lowSig)) lowS.sigs = [b64url.encode(flipS("p256", lowSig))];
          const highS = anchor(ledger, p256, (e) => e.body.stream += "-high");
          const highSig = b64url.decode(highS.sigs[0]);
          if (!isHighS("p256", highSig)) highS.sigs = [b64url.encode(flipS("p256", highSig))];
          const k1HighS = anchor(ledger, k1);
          const k1Sig = b64url.decode(k1HighS.sigs[0]);
          if (!isHighS("secp256k1", k1Sig)) {
            k1HighS.sigs = [b64url.encode(flipS("secp256k1", k1Sig))];
          }
          // JCS of strings beyond ASCII: a control character, U+2028, an astral
          // code point, a quote and a backslash (RFC 8785 §3.2.2.2).
          const unicode = anchor(
            ledger,
            ed,
            (e) => e.body.stream = 't\u0007é\u2028"\\</x>\u{1F321}',
          );
          const cases = [anchor(ledger, ed), lowS, highS, anchor(ledger, k1), k1HighS, unicode];
          for (const [i, envelope] of cases.entries()) {
            const r = await submit(urls[i % 3], envelope);
            assert.equal(r.status, 200, r.text);
            const receipt = r.body as Receipt;
            assertCommitted(receipt, envelope);
            assert.equal(receipt.result?.owner, envelope.signers[0]);
            committed.set(receipt.txId, { envelope, receipt });
          }
          firstCheckpoint = await checkpointCovering(urls[0], origin, 0);
        },
      );

      await t.step(
        'POST /v1/txs with {"txs": [...]}: a receipt per envelope, in order, each with the client\'s txId',
        async () => {
          const batch = [anchor(ledger, k1), anchor(ledger, ed), anchor(ledger, p256)];
          const r = await submit(urls[2], { txs: batch });
          assert.equal(r.status, 200, r.text);
          const { receipts } = r.body as { receipts: Receipt[] };
          assert.equal(receipts.length, batch.length);
          for (const [i, receipt] of receipts.entries()) {
            assertCommitted(receipt, batch[i]);
            committed.set(receipt.txId, { envelope: batch[i], receipt });
          }
        },
      );

      await t.step(
        "the same signed envelope submitted again (also with its ECDSA signature's s flipped) is one transaction: the same txId and receipt",
        async () => {
          const [id, { envelope, receipt }] = [...committed].find(([, c]) =>
            c.envelope.signers[0] === p256.did
          )!;
          const again = await submit(urls[1], envelope);
          assert.equal(again.status, 200, again.text);
          assert.deepEqual(again.body, receipt);
          const sig = b64url.decode(envelope.sigs[0]);
          const flipped = { ...envelope, sigs: [b64url.encode(flipS("p256", sig))] };
          assert.equal(txId(flipped), id, "a transaction id does not cover the signatures");
          const other = await submit(urls[2], flipped);
          assert.equal(other.status, 200, other.text);
          assert.deepEqual(other.body, receipt);
          const batch = await submit(urls[0], { txs: [envelope] });
          assert.equal(batch.status, 200, batch.text);
          assert.deepEqual(batch.body, { receipts: [receipt] });
        },
      );

      await t.step(
        "a multi-signer envelope: every signer signs the same payload and sigs[i] belongs to signers[i]",
        async () => {
          const both = (order: [Key, Key]) => {
            const e = anchor(ledger, ed, (x) => x.signers = [ed.did, p256.did]);
            e.sigs = order.map((k) => b64url.encode(k.sign(signingPayload(e))));
            return e;
          };
          const right = both([ed, p256]);
          const r = await submit(urls[1], right);
          assert.equal(r.status, 200, r.text);
          assertCommitted(r.body as Receipt, right);
          assert.equal((r.body as Receipt).result?.owner, ed.did, "a stream is its first signer's");
          committed.set(txId(right), { envelope: right, receipt: r.body as Receipt });
          const swapped = both([p256, ed]);
          assertProblem(await submit(urls[2], swapped), 422, "bad_signature");
        },
      );

      await t.step(
        'a {"txs": [...]} batch answers a refused envelope in its place with status "refused" and its problem; the others commit',
        async () => {
          const good = anchor(ledger, k1);
          const other = anchor(`${ledger}-other`, ed);
          const noEnvelope = { ...anchor(ledger, ed), nonce: "AAAA" };
          const r = await submit(urls[0], { txs: [good, other, noEnvelope] });
          assert.equal(r.status, 200, r.text);
          const { receipts } = r.body as {
            receipts: Array<Receipt & { problem?: { type: string; status: number } }>;
          };
          assert.equal(receipts.length, 3);
          assertCommitted(receipts[0], good);
          committed.set(receipts[0].txId, { envelope: good, receipt: receipts[0] });
          assert.equal(receipts[1].status, "refused");
          assert.equal(receipts[1].txId, txId(other));
          assert.equal(receipts[1].problem?.type, problemBase + "wrong_ledger");
          assert.equal(receipts[1].problem?.status, 422);
          assert.equal(receipts[2].status, "refused");
          // DESIGN §6 gives every receipt a txId; a site answers null for an
          // item it could not read as an envelope (see sdk/conformance/README.md).
          assert.ok(receipts[2].txId === null || receipts[2].txId === txId(noEnvelope));
          assert.equal(receipts[2].problem?.type, problemBase + "invalid_envelope");
        },
      );

      await t.step(
        "a data.anchor stream of 1–128 characters counts Unicode code points (not UTF-16 units, not bytes)",
        async () => {
          const astral = "\u{1F321}"; // two UTF-16 units, four UTF-8 bytes
          const fits = anchor(ledger, ed, (e) => e.body.stream = astral.repeat(128));
          const r = await submit(urls[2], fits);
          assert.equal(r.status, 200, r.text);
          assertCommitted(r.body as Receipt, fits);
          committed.set(txId(fits), { envelope: fits, receipt: r.body as Receipt });
          const long = anchor(ledger, ed, (e) => e.body.stream = astral.repeat(129));
          assertProblem(await submit(urls[2], long), 422, "invalid_body");
          const empty = anchor(ledger, ed, (e) => e.body.stream = "");
          assertProblem(await submit(urls[2], empty), 422, "invalid_body");
        },
      );

      await t.step(
        "GET /v1/txs/{id} answers the envelope as signed and its receipt, on every site",
        async () => {
          for (const [id, { envelope, receipt }] of committed) {
            for (const url of urls) {
              const got = await getJson<{ tx: Envelope; receipt: Receipt }>(
                `${url}/v1/txs/${id}`,
              );
              assert.equal(jcs(got.tx), jcs(envelope));
              assert.equal(txId(got.tx), id);
              assert.deepEqual(got.receipt, receipt);
            }
          }
        },
      );

      await t.step(
        "an inclusion proof of each transaction verifies, from the leaf JCS({tx, result}) of the client's own envelope, against a checkpoint co-signed by a quorum of /v1/sites keys",
        async () => {
          const last = Math.max(...[...committed.values()].map((c) => c.receipt.logIndex!));
          const cp = await checkpointCovering(urls[1], origin, last);
          assert.ok(cp.signers.length >= 2, cp.signers.join());
          for (const [id, { envelope, receipt }] of committed) {
            const proof = await getJson<
              { logIndex: number; treeSize: number; leaf: string; proof: string[] }
            >(`${urls[(receipt.logIndex! + 1) % 3]}/v1/txs/${id}/proof?treeSize=${cp.size}`);
            assert.deepEqual(Object.keys(proof).sort(), ["leaf", "logIndex", "proof", "treeSize"]);
            assert.equal(proof.logIndex, receipt.logIndex);
            assert.equal(proof.treeSize, cp.size);
            const leaf = b64url.decode(proof.leaf);
            const expected = jcs({ tx: envelope, result: receipt.result });
            assert.equal(fromUtf8.decode(leaf), expected, "the leaf is JCS({tx, result})");
            const path = proof.proof.map(fromHex);
            assert.ok(
              verifyInclusion(leafHash(leaf), proof.logIndex, cp.size, path, cp.root),
              `the inclusion proof of ${id} verifies against the checkpoint's root`,
            );
            // And not against another leaf.
            const other = leafHash(utf8.encode(expected + " "));
            assert.ok(!verifyInclusion(other, proof.logIndex, cp.size, path, cp.root));
          }
          // Without treeSize, the proof is against the latest checkpoint's size.
          const [id, { receipt }] = [...committed][0];
          const latest = await getJson<{ treeSize: number; proof: string[]; leaf: string }>(
            `${urls[0]}/v1/txs/${id}/proof`,
          );
          const now = await trustedCheckpoint(urls[0], origin);
          if (latest.treeSize === now.size) {
            assert.ok(
              verifyInclusion(
                leafHash(b64url.decode(latest.leaf)),
                receipt.logIndex!,
                latest.treeSize,
                latest.proof.map(fromHex),
                now.root,
              ),
            );
          } else {
            assert.ok(latest.treeSize <= now.size, "a newer checkpoint came meanwhile");
          }
        },
      );

      await t.step(
        "GET /v1/consistency proves the later checkpoint extends the earlier one (RFC 9162 §2.1.4)",
        async () => {
          const cp1 = firstCheckpoint!;
          const cp2 = await trustedCheckpoint(urls[2], origin);
          assert.ok(cp2.size > cp1.size, `${cp1.size} → ${cp2.size}`);
          const { proof } = await getJson<{ proof: string[] }>(
            `${urls[1]}/v1/consistency?from=${cp1.size}&to=${cp2.size}`,
          );
          const path = proof.map(fromHex);
          assert.ok(verifyConsistency(cp1.size, cp2.size, path, cp1.root, cp2.root));
          const forged = new Uint8Array(cp1.root);
          forged[0] ^= 1;
          assert.ok(!verifyConsistency(cp1.size, cp2.size, path, forged, cp2.root));
          const same = await getJson<{ proof: string[] }>(
            `${urls[0]}/v1/consistency?from=${cp2.size}&to=${cp2.size}`,
          );
          assert.deepEqual(same.proof, [], "a tree is consistent with itself by an empty proof");
        },
      );

      await t.step(
        "a block's hash is SHA-256 of \"edgeledger/block/v1\\n\" + JCS(header), its prev is its parent's hash, and it holds the transactions and log root it claims",
        async () => {
          const heights = new Set([...committed.values()].map((c) => c.receipt.height!));
          const cp = await trustedCheckpoint(urls[0], origin);
          heights.add(cp.height);
          const byHash = await blockByHashPath(urls[0]);
          for (const height of [...heights].sort((a, b) => a - b)) {
            const block = await checkedBlock(urls[height % 3], height, byHash);
            const parent = await checkedBlock(urls[(height + 1) % 3], height - 1, byHash);
            assert.equal(block.header.prev, parent.hash, `block ${height}'s prev`);
            assert.equal(
              block.header.logSize,
              (parent.header.logSize as number) + block.txIds.length,
            );
            for (const [id, c] of committed) {
              if (c.receipt.height !== height) continue;
              assert.ok(block.txIds.includes(id));
              // Inclusion at the block's own log size, against the root it commits to.
              const size = block.header.logSize as number;
              const proof = await getJson<{ leaf: string; proof: string[] }>(
                `${urls[0]}/v1/txs/${id}/proof?treeSize=${size}`,
              );
              const hash = leafHash(b64url.decode(proof.leaf));
              const root = fromHex(block.header.logRoot as string);
              const path = proof.proof.map(fromHex);
              assert.ok(verifyInclusion(hash, c.receipt.logIndex!, size, path, root));
            }
            if (height === cp.height) {
              assert.equal(block.hash, cp.block, "the checkpoint's block line is the block hash");
              assert.equal(block.header.logSize, cp.size);
              assert.equal(block.header.logRoot, hex(cp.root));
            }
          }
        },
      );

      await t.step(
        "a refused envelope (tampered signature, unknown field, 15-byte nonce, wrong ledger, expired) is answered problem+json with its stable type, and nothing is committed",
        async () => {
          const heightBefore = (await getJson<{ height: number }>(`${urls[0]}/v1/status`)).height;
          const tampered = anchor(ledger, ed);
          const sig = b64url.decode(tampered.sigs[0]);
          sig[5] ^= 0x10;
          tampered.sigs = [b64url.encode(sig)];
          const tamperedP256 = anchor(ledger, p256);
          const sig2 = b64url.decode(tamperedP256.sigs[0]);
          sig2[40] ^= 0x01;
          tamperedP256.sigs = [b64url.encode(sig2)];
          const cases: Array<[string, Envelope, number, string]> = [
            ["a tampered Ed25519 signature", tampered, 422, "bad_signature"],
            ["a tampered P-256 signature", tamperedP256, 422, "bad_signature"],
            [
              "an unknown envelope field (signed)",
              anchor(ledger, ed, (e) => e.memo = "smuggled"),
              422,
              "invalid_envelope",
            ],
            [
              "an unknown body field (signed)",
              anchor(ledger, ed, (e) => e.body.note = "smuggled"),
              422,
              "invalid_body",
            ],
            [
              "a 15-byte nonce",
              anchor(ledger, ed, (e) => e.nonce = b64url.encode(new Uint8Array(15).fill(7))),
              422,
              "invalid_envelope",
            ],
            [
              "a 17-byte nonce",
              anchor(ledger, ed, (e) => e.nonce = b64url.encode(new Uint8Array(17).fill(7))),
              422,
              "invalid_envelope",
            ],
            [
              "a padded base64 nonce",
              anchor(ledger, ed, (e) => e.nonce = base64.encode(new Uint8Array(16).fill(7))),
              422,
              "invalid_envelope",
            ],
            ["the wrong ledger", anchor(`${ledger}-other`, ed), 422, "wrong_ledger"],
            [
              "an expired expiresAt",
              anchor(ledger, ed, (e) => e.expiresAt = Date.now() - 60_000),
              422,
              "expired",
            ],
            [
              "an expiresAt beyond 24 h",
              anchor(ledger, ed, (e) => e.expiresAt = Date.now() + 25 * 3600_000),
              422,
              "expires_too_far",
            ],
            [
              "an unknown kind",
              anchor(ledger, ed, (e) => e.kind = "data.nothing"),
              422,
              "unknown_kind",
            ],
          ];
          for (const [what, envelope, status, slug] of cases) {
            for (const url of [urls[0], urls[2]]) {
              const r = await submit(url, envelope);
              const p = assertProblem(r, status, slug);
              assert.equal(typeof p.detail, "string", what);
              // Nothing of it was committed.
              const read = await call(`${url}/v1/txs/${txId(envelope)}`);
              assertProblem(read, 404, "not_found");
            }
          }
          // An ECDSA signature that is not 64-byte P1363 (cut short, or DER), and a
          // signature in padded standard base64, are refused (which check says so is the site's).
          const short = anchor(ledger, p256);
          short.sigs = [b64url.encode(b64url.decode(short.sigs[0]).slice(0, 63))];
          const der = anchor(ledger, p256);
          der.sigs = [b64url.encode(derOf(b64url.decode(der.sigs[0])))];
          const padded = anchor(ledger, ed);
          padded.sigs = [base64.encode(b64url.decode(padded.sigs[0]))];
          for (const envelope of [short, der, padded]) {
            const r = await submit(urls[1], envelope);
            assert.equal(r.status, 422, r.text);
            assert.match(r.type, /^application\/problem\+json\b/);
            assert.ok(
              [problemBase + "bad_signature", problemBase + "invalid_envelope"].includes(
                (r.body as Problem).type,
              ),
              r.text,
            );
            assertProblem(await call(`${urls[1]}/v1/txs/${txId(envelope)}`), 404, "not_found");
          }
          const heightAfter = (await getJson<{ height: number }>(`${urls[0]}/v1/status`)).height;
          assert.equal(heightAfter, heightBefore, "no block was made of refused envelopes");
        },
      );

      await t.step(
        "GET /v1/events streams the block a client caused, and Last-Event-ID resumes after it",
        async () => {
          const first = anchor(ledger, ed);
          let firstReceipt: Receipt | undefined;
          const seen = await readEvents(
            urls[2],
            {},
            (events) => events.some((e) => e.data.includes(txId(first))),
            async () => {
              const r = await submit(urls[0], first);
              assert.equal(r.status, 200, r.text);
              firstReceipt = r.body as Receipt;
            },
          );
          assertCommitted(firstReceipt!, first);
          const event = seen.find((e) => e.data.includes(txId(first)))!;
          const data = JSON.parse(event.data);
          assert.equal(data.height, firstReceipt!.height);
          assert.equal(event.id, String(data.height), "an event's id is its block's height");
          assert.equal(blockHash(data.header), data.hash);
          // Two more blocks while nobody listens; a resume from the first sees them, not it.
          const missed = [];
          for (const key of [p256, k1]) {
            const envelope = anchor(ledger, key);
            const r = await submit(urls[1], envelope);
            assertCommitted(r.body as Receipt, envelope);
            missed.push(r.body as Receipt);
          }
          const lastHeight = missed[1].height!;
          const resumed = await readEvents(
            urls[0],
            { "last-event-id": event.id! },
            (events) => events.some((e) => Number(e.id) >= lastHeight),
          );
          const heights = resumed.map((e) => Number(e.id));
          assert.equal(heights[0], Number(event.id) + 1, "the resume starts after Last-Event-ID");
          assert.deepEqual(
            heights.slice(0, lastHeight - Number(event.id)),
            Array.from(
              { length: lastHeight - Number(event.id) },
              (_, i) => Number(event.id) + 1 + i,
            ),
          );
          const txIdsSeen = resumed.flatMap((e) =>
            (JSON.parse(e.data).txs as Array<{ txId: string }>).map((x) => x.txId)
          );
          for (const r of missed) assert.ok(txIdsSeen.includes(r.txId));
          assert.ok(!txIdsSeen.includes(txId(first)));
        },
      );
    } finally {
      await cluster.stop();
    }
  },
});
