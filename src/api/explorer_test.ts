import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { canonicalJson } from "../../sdk/canonical_json.ts";
import { formatCheckpoint } from "../../sdk/checkpoint.ts";
import { hexEncode, utf8Encode } from "../../sdk/encoding.ts";
import { createEnvelope, signEnvelope, transactionId } from "../../sdk/envelope.ts";
import { generateKeyPair, softwareSigner } from "../../sdk/keys.ts";
import {
  inclusionProof,
  leafHash as merkleLeafHash,
  rootFromLeafHashes,
  verifyInclusion,
} from "../../sdk/merkle.ts";
import { assembleNote, signNoteLine, verifierKey } from "../../sdk/note.ts";
import { explorerHtml } from "./explorer.ts";

function inline(html: string, tag: "script" | "style"): string[] {
  const re = new RegExp(`<${tag}\\b[^>]*>([\\s\\S]*?)</${tag}>`, "g");
  return [...html.matchAll(re)].map((m) => m[1]);
}

function cspSources(html: string): Map<string, string> {
  const m = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html);
  assert.ok(m, "the page carries a CSP meta element");
  return new Map(
    m[1].split(";").map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name, values.join(" ")];
    }),
  );
}

Deno.test("explorerHtml() is one self-contained document: no http(s) URL, no external script, style or image", () => {
  const html = explorerHtml();
  assert.ok(html.startsWith("<!doctype html>"));
  assert.doesNotMatch(html, /https?:\/\//i);
  assert.doesNotMatch(html, /<script[^>]*\bsrc\s*=/i);
  assert.doesNotMatch(html, /<link[^>]*rel="stylesheet"/i);
  assert.doesNotMatch(html, /<img\b/i);
  assert.doesNotMatch(inline(html, "style")[0], /@import|url\(/i);
  assert.doesNotMatch(html, /\bimport\s*\(|^\s*import\s/m, "the module imports nothing");
  assert.equal(inline(html, "script").length, 1);
  assert.equal(inline(html, "style").length, 1);
});

Deno.test("explorerHtml() allows exactly its own inline script and style by CSP hash", () => {
  const html = explorerHtml();
  const csp = cspSources(html);
  const hash = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;
  assert.equal(csp.get("default-src"), "'none'");
  assert.equal(csp.get("script-src"), hash(inline(html, "script")[0]));
  assert.equal(csp.get("style-src"), hash(inline(html, "style")[0]));
  assert.equal(csp.get("connect-src"), "'self'");
  assert.equal(csp.get("base-uri"), "'none'");
});

Deno.test("explorerHtml() escapes the title in the tab and in the header", () => {
  const evil = `</title><script>alert("x")</script>&'`;
  const html = explorerHtml({ title: evil });
  assert.ok(!html.includes(evil));
  assert.ok(!html.includes(`<script>alert`));
  const escaped = "&lt;/title&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;";
  assert.ok(html.includes(`<title>${escaped}</title>`));
  assert.ok(html.includes(`id="brand">${escaped}</a>`));
  assert.ok(explorerHtml().includes("<title>edgeledger explorer</title>"));
});

Deno.test("explorerHtml() bounds the title length", () => {
  const html = explorerHtml({ title: "x".repeat(10_000) });
  assert.ok(html.includes(`<title>${"x".repeat(200)}</title>`));
});

Deno.test("explorer script renders API data as text only: no innerHTML, outerHTML, insertAdjacentHTML, document.write or eval", () => {
  const [script] = inline(explorerHtml(), "script");
  for (
    const sink of [
      "innerHTML",
      "outerHTML",
      "insertAdjacentHTML",
      "document.write",
      "eval(",
      "new Function",
    ]
  ) {
    assert.ok(!script.includes(sink), `the script uses ${sink}`);
  }
  // Links to other sites are allowed only for http(s) URLs.
  assert.match(script, /u\.protocol === "http:" \|\| u\.protocol === "https:"/);
});

Deno.test("explorer script calls every API route it renders, on the same origin", () => {
  const [script] = inline(explorerHtml(), "script");
  for (
    const route of [
      `"/v1/status"`,
      `"/v1/blocks?from="`,
      `"/v1/blocks/"`,
      `"/v1/blocks/by-hash/"`,
      `"/v1/txs/"`,
      `"/proof?treeSize="`,
      `"/v1/checkpoint"`,
      `"/v1/sites"`,
      `new EventSource("/v1/events")`,
    ]
  ) {
    assert.ok(script.includes(route), `the script calls ${route}`);
  }
  // The routes the page itself understands, shareable as links.
  for (const hashRoute of [`"#/block/"`, `"#/tx/"`, `"#/checkpoint"`, `"#/sites"`]) {
    assert.ok(
      script.includes(hashRoute) || explorerHtml().includes(hashRoute.slice(1, -1)),
      hashRoute,
    );
  }
});

Deno.test("explorer script verifies inclusion proofs with RFC 9162 domain separation and WebCrypto SHA-256", () => {
  const [script] = inline(explorerHtml(), "script");
  assert.match(script, /crypto\.subtle\.digest\("SHA-256"/);
  assert.match(script, /const LEAF = new Uint8Array\(\[0\]\)/);
  assert.match(script, /const NODE = new Uint8Array\(\[1\]\)/);
  assert.match(script, /async function rootFromInclusionProof\(/);
});

Deno.test("explorerHtml() is accessible by construction: lang, labelled search, landmarks, skip link, dark mode", () => {
  const html = explorerHtml();
  assert.match(html, /<html lang="en">/);
  assert.match(html, /<label for="q"[^>]*>[^<]+<\/label>/);
  assert.match(html, /<form id="search"[^>]*role="search"/);
  assert.match(html, /<header\b/);
  assert.match(html, /<nav aria-label=/);
  assert.match(html, /<main id="main"/);
  assert.match(html, /class="skip" href="#main"/);
  assert.match(html, /prefers-color-scheme: dark/);
  assert.match(html, /prefers-reduced-motion/);
});

// ---------------------------------------------------------------------------
// The page's verification code, run in Deno and checked against the SDK.

/** The script's constants and its pure bytes/hashing/note functions, as callable JS. */
interface PageVerifier {
  leafHash(data: Uint8Array): Promise<Uint8Array>;
  rootFromInclusionProof(
    leaf: Uint8Array,
    index: number,
    size: number,
    path: Uint8Array[],
  ): Promise<Uint8Array | null>;
  canonical(value: unknown): string;
  transactionId(envelope: Record<string, unknown>): Promise<string>;
  parseCheckpoint(text: string): {
    origin: string;
    size: number;
    root: Uint8Array;
    extensions: string[];
    sigs: unknown[];
  };
  checkNoteSignatures(
    note: unknown,
    sites: { verifierKey: string }[],
  ): Promise<{ result: string }[]>;
}

function pageVerifier(): PageVerifier {
  const [script] = inline(explorerHtml(), "script");
  const constants = script.slice(0, script.indexOf("const baseTitle"));
  const start = script.indexOf("// ----- bytes and hashing");
  const end = script.indexOf("// ----- API");
  assert.ok(start > 0 && end > start, "the script keeps its section markers");
  const names = "leafHash, rootFromInclusionProof, canonical, transactionId, parseCheckpoint, " +
    "checkNoteSignatures";
  // The page's own code, unchanged; it only needs WebCrypto, atob and TextEncoder.
  const body = `${constants}\nconst enc = new TextEncoder();\n${script.slice(start, end)}\n` +
    `return { ${names} };`;
  return new Function(body)() as PageVerifier;
}

const page = pageVerifier();

function leaves(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => merkleLeafHash(utf8Encode(`leaf ${i}`)));
}

Deno.test("page rootFromInclusionProof() agrees with sdk verifyInclusion() for every leaf of trees of size 1..33", async () => {
  for (let size = 1; size <= 33; size++) {
    const hashes = leaves(size);
    const root = rootFromLeafHashes(hashes);
    for (let index = 0; index < size; index++) {
      const proof = inclusionProof(index, hashes);
      assert.ok(verifyInclusion(hashes[index], index, size, proof, root));
      const got = await page.rootFromInclusionProof(hashes[index], index, size, proof);
      assert.ok(got && hexEncode(got) === hexEncode(root), `size ${size} index ${index}`);
    }
  }
});

Deno.test("page rootFromInclusionProof() rejects a flipped bit, a wrong index, a wrong size, a missing or extra hash", async () => {
  const hashes = leaves(5);
  const root = hexEncode(rootFromLeafHashes(hashes));
  const proof = inclusionProof(3, hashes);
  const rootOf = async (leaf: Uint8Array, index: number, size: number, path: Uint8Array[]) => {
    const r = await page.rootFromInclusionProof(leaf, index, size, path);
    return r === null ? null : hexEncode(r);
  };
  assert.equal(await rootOf(hashes[3], 3, 5, proof), root);
  const flipped = proof.map((p) => p.slice());
  flipped[1][31] ^= 0x80;
  assert.notEqual(await rootOf(hashes[3], 3, 5, flipped), root);
  const badLeaf = hashes[3].slice();
  badLeaf[0] ^= 1;
  assert.notEqual(await rootOf(badLeaf, 3, 5, proof), root);
  assert.notEqual(await rootOf(hashes[3], 2, 5, proof), root);
  // A size whose path has another length does not fit. (A size with the same
  // path shape, like 6 here, gives the same root, which is why the page also
  // requires the proof's tree size to be the checkpoint's.)
  assert.equal(await rootOf(hashes[3], 3, 4, proof), null, "a smaller tree size");
  assert.equal(await rootOf(hashes[3], 3, 9, proof), null, "a larger tree size");
  assert.equal(await rootOf(hashes[3], 3, 5, proof.slice(0, -1)), null, "a missing hash");
  assert.equal(await rootOf(hashes[3], 3, 5, [...proof, proof[0]]), null, "a trailing hash");
  assert.equal(await rootOf(hashes[3], 3, 5, []), null, "an empty proof of a 5-leaf tree");
  assert.equal(await rootOf(hashes[3], 5, 5, proof), null, "index == size");
  assert.equal(await rootOf(hashes[3], -1, 5, proof), null, "a negative index");
  assert.equal(
    await rootOf(hashes[3], 3, 5, [proof[0].slice(1), ...proof.slice(1)]),
    null,
    "a 31-byte hash",
  );
  assert.equal(await rootOf(hashes[0], 0, 1, []), hexEncode(hashes[0]), "a one-leaf tree");
});

Deno.test("page leafHash() and transactionId() match the SDK's RFC 9162 leaf hash and DESIGN §2 tx id", async () => {
  const data = utf8Encode(`{"result":{"status":"applied"},"tx":{"v":1}}`);
  assert.equal(hexEncode(await page.leafHash(data)), hexEncode(merkleLeafHash(data)));
  const key = generateKeyPair("ed25519");
  const envelope = await signEnvelope(
    createEnvelope({
      ledger: "demo",
      kind: "data.anchor",
      body: {
        stream: "m-\u20ac\u{1F600}",
        seq: 1,
        root: "ab".repeat(32),
        count: 2,
        from: 1e12,
        to: 1e12 + 1,
      },
      signers: [key.did],
      ttlMs: 60_000,
    }),
    [softwareSigner(key)],
  );
  const parsed = JSON.parse(JSON.stringify(envelope));
  assert.equal(await page.transactionId(parsed), transactionId(envelope));
  assert.equal(
    page.canonical({ b: [1e21, "x"], a: { d: null, c: true } }),
    canonicalJson({ b: [1e21, "x"], a: { d: null, c: true } }),
  );
});

Deno.test("page parseCheckpoint() reads an SDK checkpoint note and checkNoteSignatures() verifies it (and refuses a tampered one)", async () => {
  const rootHash = rootFromLeafHashes(leaves(7));
  const text = formatCheckpoint({
    origin: "edgeledger.test/demo",
    size: 7,
    rootHash,
    height: 4,
    blockHash: "cd".repeat(32),
  });
  const [a, b] = [generateKeyPair("ed25519"), generateKeyPair("ed25519")];
  const note = assembleNote(text, [
    signNoteLine(text, "site-a", a.secretKey),
    signNoteLine(text, "site-b", b.secretKey),
  ]);
  const sites = [
    { verifierKey: verifierKey("site-a", a.publicKey) },
    { verifierKey: verifierKey("site-b", b.publicKey) },
  ];
  const parsed = page.parseCheckpoint(note);
  assert.equal(parsed.origin, "edgeledger.test/demo");
  assert.equal(parsed.size, 7);
  assert.equal(hexEncode(parsed.root), hexEncode(rootHash));
  assert.deepEqual(parsed.extensions, ["height 4", `block ${"cd".repeat(32)}`]);
  const results = await page.checkNoteSignatures(parsed, sites);
  assert.deepEqual(results.map((r) => r.result), ["verified", "verified"]);

  const tampered = page.parseCheckpoint(note.replace("\n7\n", "\n8\n"));
  assert.deepEqual((await page.checkNoteSignatures(tampered, sites)).map((r) => r.result), [
    "bad",
    "bad",
  ]);
  // A site that is not a member signs nothing that counts.
  assert.deepEqual((await page.checkNoteSignatures(parsed, sites.slice(1))).map((r) => r.result), [
    "unknown",
    "verified",
  ]);
  assert.throws(() => page.parseCheckpoint("no blank line\n"), /no blank line/);
  assert.throws(() => page.parseCheckpoint("origin\nseven\nAAAA\n\n"), /tree size/);
});
