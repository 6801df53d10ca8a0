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
import { AssertionError } from "../chain/assert.ts";
import {
  EXPLORER_BLOCKS_PER_PAGE_DEFAULT,
  EXPLORER_BLOCKS_PER_PAGE_MAX,
  explorerHtml,
} from "./explorer.ts";

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

Deno.test("explorerHtml(): the footer starts at the API's address until the site names its version, with no separator before it", () => {
  const html = explorerHtml();
  const foot = /<footer class="foot">([\s\S]*?)<\/footer>/.exec(html);
  assert.ok(foot, "the page has its footer");
  // The version, when the status names one, brings its own separator ("edgeledger 1.2 · ").
  assert.match(foot[1], /^<span id="st-version"><\/span>API: <a href="\/openapi.json">/);
  const [script] = inline(html, "script");
  assert.match(
    script,
    /setText\("st-version", s\.version \? "edgeledger " \+ s\.version \+ " · " : ""\)/,
  );
});

/** WCAG 2.x relative luminance of a #rrggbb colour. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2.x contrast ratio of two #rrggbb colours, from 1 to 21. */
function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/** The custom properties (`--name: #rrggbb`) a CSS block sets. */
function colourVars(block: string): Map<string, string> {
  return new Map([...block.matchAll(/--([a-z-]+):\s*(#[0-9a-f]{6})\b/gi)].map((m) => [m[1], m[2]]));
}

Deno.test("explorer CSS: the text inputs' borders are at least 3:1 against the panel and the page, and their placeholders at least 4.5:1, in light and dark (WCAG 1.4.11, 1.4.3)", () => {
  const css = inline(explorerHtml(), "style")[0];
  const light = colourVars(/:root \{([^}]*)\}/.exec(css)![1]);
  const darkOnly = /prefers-color-scheme: dark\) \{\s*:root \{([^}]*)\}/.exec(css);
  assert.ok(darkOnly, "the CSS has a dark scheme");
  const dark = new Map([...light, ...colourVars(darkOnly[1])]);
  const varOf = (rule: RegExp, property: string) => {
    const body = rule.exec(css);
    assert.ok(body, `the CSS has the rule ${rule}`);
    const m = new RegExp(`(?:^|[;\\s{])${property}:[^;]*var\\(--([a-z-]+)\\)`).exec(body[1]);
    assert.ok(m, `${rule} sets ${property} from a variable`);
    return m[1];
  };
  const placeholder = varOf(/input::placeholder \{([^}]*)\}/, "color");
  for (
    const [selector, rule] of [[".search input", /\.search input \{([^}]*)\}/], [
      ".jump input",
      /\.jump input \{([^}]*)\}/,
    ]] as const
  ) {
    const border = varOf(rule, "border");
    const background = varOf(rule, "background");
    for (const [scheme, vars] of [["light", light], ["dark", dark]] as const) {
      const colour = (name: string) => {
        assert.ok(vars.has(name), `--${name} is a colour in ${scheme}`);
        return vars.get(name)!;
      };
      // The border parts the input from the panel around it and from its own background.
      for (const against of new Set(["panel", "bg", background])) {
        const ratio = contrast(colour(border), colour(against));
        assert.ok(
          ratio >= 3,
          `${selector} border --${border} on --${against}, ${scheme}: ${ratio.toFixed(2)}:1`,
        );
      }
      const ratio = contrast(colour(placeholder), colour(background));
      assert.ok(
        ratio >= 4.5,
        `${selector} placeholder --${placeholder} on --${background}, ${scheme}: ${
          ratio.toFixed(2)
        }:1`,
      );
    }
  }
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
  for (
    const hashRoute of [`"#/block/"`, `"#/blocks/"`, `"#/tx/"`, `"#/checkpoint"`, `"#/sites"`]
  ) {
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
  // A size the page cannot hold exactly, or not written canonically, is not read as a number.
  for (const size of ["9999999999999999", "9007199254740992", "07"]) {
    assert.throws(
      () => page.parseCheckpoint(note.replace("\n7\n", `\n${size}\n`)),
      /tree size/,
      size,
    );
  }
});

// ---------------------------------------------------------------------------
// The block list's paging, run in Deno: the page's own pure functions.

type BlockPage = {
  top: number;
  bottom: number;
  older: number | null;
  newer: number | null;
  newerBlocks: number;
};

type PagerHashes = {
  latest: string | null;
  newer: string | null;
  older: string | null;
  oldest: string | null;
};

type HeightError = { error: "syntax" } | { error: "ahead"; digits: string };

/** The script's paging section, as callable JS. */
interface PagePaging {
  BLOCKS_PER_PAGE_DEFAULT: number;
  BLOCKS_PER_PAGE_MAX: number;
  HEIGHT_DIGITS_SHOWN_MAX: number;
  readHeight(text: unknown): { height: number } | { beyond: string } | null;
  parseHeight(text: unknown): number | null;
  blocksPerPage(attr: string | undefined): number;
  blockPage(top: number, head: number, size: number): BlockPage;
  pagerHashes(page: BlockPage, head: number, size: number, live: boolean): PagerHashes;
  heightTarget(text: string, head: number | null): { height: number } | HeightError;
  jumpTarget(text: string, head: number | null): { hash: string } | HeightError;
  searchTarget(
    raw: string,
    head: number | null,
  ): { hash: string } | { hex: string } | HeightError | null;
  heightLabel(digits: string): string;
  aheadText(digits: string, head: number | null): string;
  rangeLabel(page: BlockPage): string;
  listTitle(page: BlockPage, live: boolean): string;
  rangeText(
    page: BlockPage,
    head: number,
    live: boolean,
    link: { mode: string; text: string },
  ): string;
  blockTimeParts(
    ms: unknown,
    nowMs: number,
  ): { date: string; time: string; dateOnNarrow: boolean } | null;
}

function pagePaging(): PagePaging {
  const [script] = inline(explorerHtml(), "script");
  const constants = script.slice(0, script.indexOf("const baseTitle"));
  const start = script.indexOf("// ----- block list paging");
  const end = script.indexOf("// ----- bytes and hashing");
  assert.ok(start > 0 && end > start, "the script keeps its section markers");
  const names = "BLOCKS_PER_PAGE_DEFAULT, BLOCKS_PER_PAGE_MAX, HEIGHT_DIGITS_SHOWN_MAX, " +
    "readHeight, parseHeight, blocksPerPage, blockPage, pagerHashes, heightTarget, jumpTarget, " +
    "searchTarget, heightLabel, aheadText, rangeLabel, listTitle, rangeText, blockTimeParts";
  return new Function(
    `${constants}\n${script.slice(start, end)}\nreturn { ${names} };`,
  )() as PagePaging;
}

const paging = pagePaging();

const LINK_ON = { mode: "on", text: "Live" };

Deno.test("page rangeText(): a chain of one block is counted in the singular, more in the plural", () => {
  const one = paging.blockPage(0, 0, 20);
  assert.equal(paging.rangeText(one, 0, false, LINK_ON), "of 1 block");
  assert.equal(paging.rangeText(one, 0, true, LINK_ON), "Block 0 of 1, live");
  assert.equal(
    paging.rangeText(paging.blockPage(2, 22, 5), 22, false, LINK_ON),
    "of 23 blocks, newest first",
  );
  assert.equal(
    paging.rangeText(paging.blockPage(1_000, 1_000, 20), 1_000, true, LINK_ON),
    "Blocks 981–1,000 of 1,001, newest first, live",
  );
  // A one-row page is "Block n", in the heading too.
  assert.equal(paging.rangeLabel(paging.blockPage(0, 22, 1)), "Block 0");
  assert.equal(paging.rangeLabel(paging.blockPage(2, 22, 5)), "Blocks 0–2");
});

Deno.test("page listTitle(): the live list is titled Latest blocks, and a page of the list is never titled like a block, a one-row page included", () => {
  assert.equal(paging.listTitle(paging.blockPage(22, 22, 5), true), "Latest blocks");
  assert.equal(paging.listTitle(paging.blockPage(2, 22, 5), false), "Block list: Blocks 0–2");
  // The view of block 0 is titled "Block 0": the one-row page of the list that holds it is not.
  const oneRow = paging.blockPage(0, 22, 1);
  assert.equal(paging.rangeLabel(oneRow), "Block 0");
  assert.equal(paging.listTitle(oneRow, false), "Block list: Block 0");
  assert.equal(
    paging.listTitle(paging.blockPage(1_000, 1_000, 1), false),
    "Block list: Block 1,000",
  );
});

Deno.test("page rangeText(): the live list says live only while the header's connection is on, and otherwise says the header's state", () => {
  const page = paging.blockPage(22, 22, 5);
  assert.equal(paging.rangeText(page, 22, true, LINK_ON), "Blocks 18–22 of 23, newest first, live");
  for (
    const [link, says] of [
      [{ mode: "poll", text: "Reconnecting…" }, "not live (reconnecting…)"],
      [{ mode: "poll", text: "Polling" }, "not live (polling)"],
      [{ mode: "off", text: "Offline" }, "not live (offline)"],
      [{ mode: "", text: "Connecting…" }, "not live (connecting…)"],
    ] as const
  ) {
    const text = paging.rangeText(page, 22, true, link);
    assert.equal(text, `Blocks 18–22 of 23, newest first, ${says}`);
    assert.doesNotMatch(text, /, live$/);
  }
  // A page paged back is not live whatever the connection: it says nothing of it.
  assert.doesNotMatch(paging.rangeText(paging.blockPage(7, 22, 5), 22, false, LINK_ON), /live/);
});

Deno.test("page blockTimeParts(): a narrow screen shows a block's date unless it is today's (UTC)", () => {
  const t = Date.UTC(2025, 10, 24, 16, 0, 2);
  // The same UTC day, late or early: the time of day is enough.
  assert.deepEqual(paging.blockTimeParts(t, Date.UTC(2025, 10, 24, 23, 59, 59)), {
    date: "2025-11-24",
    time: "16:00:02",
    dateOnNarrow: false,
  });
  assert.equal(paging.blockTimeParts(t, Date.UTC(2025, 10, 24))!.dateOnNarrow, false);
  // Another day, a year later on the same date, or a clock behind the block's.
  for (
    const now of [
      Date.UTC(2025, 10, 25, 0, 0, 0),
      Date.UTC(2026, 10, 24, 16, 0, 2),
      Date.UTC(2025, 10, 23, 23, 0, 0),
    ]
  ) {
    assert.equal(paging.blockTimeParts(t, now)!.dateOnNarrow, true, new Date(now).toISOString());
  }
  for (const bad of [Number.NaN, Infinity, "1764000000000", null, 8.64e15 + 1, 3e14]) {
    assert.equal(paging.blockTimeParts(bad, t), null, String(bad));
  }
});

/** The pages from the head's page back to block 0, following `older`. */
function pagesBack(head: number, size: number): BlockPage[] {
  const pages = [paging.blockPage(head, head, size)];
  while (pages.at(-1)!.older !== null) {
    assert.ok(pages.length <= head + 1, "paging back ends");
    pages.push(paging.blockPage(pages.at(-1)!.older!, head, size));
  }
  return pages;
}

Deno.test("page blockPage(): paging back from the head reaches block 0 through disjoint pages of at most `size` rows that cover every height", () => {
  for (let head = 0; head <= 40; head++) {
    for (let size = 1; size <= 7; size++) {
      const pages = pagesBack(head, size);
      assert.equal(pages.length, Math.ceil((head + 1) / size), `head ${head} size ${size}`);
      let next = head;
      for (const p of pages) {
        assert.equal(p.top, next, "each page starts right below the previous one");
        assert.ok(p.top - p.bottom + 1 <= size && p.bottom <= p.top);
        assert.equal(p.newerBlocks, head - p.top);
        next = p.bottom - 1;
      }
      assert.equal(pages.at(-1)!.bottom, 0);
      assert.equal(pages.at(-1)!.older, null);
    }
  }
});

Deno.test("page blockPage(): newer retraces the pages that older went through, back to the head", () => {
  for (let head = 0; head <= 40; head++) {
    for (let size = 1; size <= 7; size++) {
      const back = pagesBack(head, size);
      const forward = [back.at(-1)!];
      while (forward.at(-1)!.newer !== null) {
        forward.push(paging.blockPage(forward.at(-1)!.newer!, head, size));
      }
      assert.deepEqual(forward, back.toReversed(), `head ${head} size ${size}`);
      assert.equal(forward.at(-1)!.top, head);
      assert.equal(forward.at(-1)!.newer, null, "the head's page has no newer page");
    }
  }
});

Deno.test("page blockPage(): a top above the head is clamped to the head, and a page is [bottom, top] of at most size rows", () => {
  assert.deepEqual(paging.blockPage(500, 22, 5), {
    top: 22,
    bottom: 18,
    older: 17,
    newer: null,
    newerBlocks: 0,
  });
  assert.deepEqual(paging.blockPage(2, 22, 5), {
    top: 2,
    bottom: 0,
    older: null,
    newer: 7,
    newerBlocks: 20,
  });
  // Near the head the newer page is the head's, aligned on the head.
  assert.deepEqual(paging.blockPage(20, 22, 5), {
    top: 20,
    bottom: 16,
    older: 15,
    newer: 22,
    newerBlocks: 2,
  });
  assert.deepEqual(paging.blockPage(0, 0, 20), {
    top: 0,
    bottom: 0,
    older: null,
    newer: null,
    newerBlocks: 0,
  });
  // A chain of 100,000 blocks pages in constant work per page.
  assert.deepEqual(paging.blockPage(99_999, 100_000, 20), {
    top: 99_999,
    bottom: 99_980,
    older: 99_979,
    newer: 100_000,
    newerBlocks: 1,
  });
});

Deno.test("page pagerHashes(): the newer page that reaches the head is the live list #/, and the live list has no latest or newer", () => {
  const head = 24;
  assert.deepEqual(paging.pagerHashes(paging.blockPage(22, head, 5), head, 5, false), {
    latest: "#/",
    newer: "#/",
    older: "#/blocks/17",
    oldest: "#/blocks/4",
  });
  assert.deepEqual(paging.pagerHashes(paging.blockPage(12, head, 5), head, 5, false), {
    latest: "#/",
    newer: "#/blocks/17",
    older: "#/blocks/7",
    oldest: "#/blocks/4",
  });
  assert.deepEqual(paging.pagerHashes(paging.blockPage(2, head, 5), head, 5, false), {
    latest: "#/",
    newer: "#/blocks/7",
    older: null,
    oldest: null,
  });
  assert.deepEqual(paging.pagerHashes(paging.blockPage(head, head, 5), head, 5, true), {
    latest: null,
    newer: null,
    older: "#/blocks/19",
    oldest: "#/blocks/4",
  });
  // A chain shorter than a page has nowhere to page to.
  assert.deepEqual(paging.pagerHashes(paging.blockPage(3, 3, 5), 3, 5, true), {
    latest: null,
    newer: null,
    older: null,
    oldest: null,
  });
});

Deno.test("page jumpTarget(): goes to the page that starts at a height, refuses text that is not a height and a height above the head", () => {
  assert.deepEqual(paging.jumpTarget("9", 31), { hash: "#/blocks/9" });
  assert.deepEqual(paging.jumpTarget(" 31 ", 31), { hash: "#/blocks/31" });
  assert.deepEqual(paging.jumpTarget("0", 0), { hash: "#/blocks/0" });
  assert.deepEqual(paging.jumpTarget("100000", null), { hash: "#/blocks/100000" });
  assert.deepEqual(paging.jumpTarget("32", 31), { error: "ahead", digits: "32" });
  for (const junk of ["", "nine", "-1", "1.5", "1e3", "0x10", "+1", "1 2"]) {
    assert.deepEqual(paging.jumpTarget(junk, 31), { error: "syntax" }, JSON.stringify(junk));
  }
});

Deno.test("page jumpTarget() and searchTarget() read leading zeros as the number: 007 is block 7", () => {
  assert.deepEqual(paging.jumpTarget("007", 31), { hash: "#/blocks/7" });
  assert.deepEqual(paging.jumpTarget("012", 31), { hash: "#/blocks/12" });
  assert.deepEqual(paging.jumpTarget("000", 31), { hash: "#/blocks/0" });
  assert.deepEqual(paging.searchTarget("007", 31), { hash: "#/block/7" });
  assert.deepEqual(paging.searchTarget(" 0032 ", 31), { error: "ahead", digits: "32" });
});

Deno.test("page heightTarget(): a height beyond Number.MAX_SAFE_INTEGER is ahead of any head, known or not, and never rounded", () => {
  const max = String(Number.MAX_SAFE_INTEGER);
  for (const head of [31, null]) {
    for (
      const digits of [
        "9007199254740992",
        "9007199254740993",
        "9999999999999999",
        "1" + "0".repeat(40),
      ]
    ) {
      assert.deepEqual(
        paging.heightTarget(digits, head),
        { error: "ahead", digits },
        `${digits} ${head}`,
      );
      assert.deepEqual(paging.jumpTarget(digits, head), { error: "ahead", digits });
      assert.deepEqual(paging.searchTarget(digits, head), { error: "ahead", digits });
    }
  }
  assert.deepEqual(paging.heightTarget("00" + "9".repeat(16), 31), {
    error: "ahead",
    digits: "9".repeat(16),
  });
  assert.deepEqual(paging.heightTarget(max, null), { height: Number.MAX_SAFE_INTEGER });
  assert.deepEqual(paging.heightTarget(max, 31), { error: "ahead", digits: max });
});

Deno.test("page searchTarget(): heights go to their block, 64 hex characters (any case, 0x, or all digits) are looked up, the rest is refused", () => {
  const hex = "ab".repeat(32);
  assert.equal(paging.searchTarget("   ", 31), null);
  assert.deepEqual(paging.searchTarget("12", 31), { hash: "#/block/12" });
  assert.deepEqual(paging.searchTarget("12", null), { hash: "#/block/12" });
  assert.deepEqual(paging.searchTarget("999999", 31), { error: "ahead", digits: "999999" });
  assert.deepEqual(paging.searchTarget(hex.toUpperCase(), 31), { hex });
  assert.deepEqual(paging.searchTarget("0x" + hex, 31), { hex });
  assert.deepEqual(paging.searchTarget("1".repeat(64), 31), { hex: "1".repeat(64) });
  for (const junk of ["hello", "-1", "ab".repeat(31), "1".repeat(63) + "g", "1.5"]) {
    assert.deepEqual(paging.searchTarget(junk, 31), { error: "syntax" }, junk);
  }
});

Deno.test("page aheadText() names the newest block, and a height no block can ever have is not 'yet'", () => {
  assert.equal(
    paging.aheadText("999999", 31),
    "There is no block 999,999 yet: the newest is block 31.",
  );
  assert.equal(
    paging.aheadText("32", 1234),
    "There is no block 32 yet: the newest is block 1,234.",
  );
  assert.equal(paging.aheadText("32", null), "There is no block 32 yet.");
  assert.equal(
    paging.aheadText("9999999999999999", 31),
    "There is no block 9,999,999,999,999,999: the newest is block 31.",
  );
  // A pasted wall of digits is cut, not repeated back in full.
  const wall = "1".repeat(500);
  assert.equal(
    paging.heightLabel(wall),
    "1".repeat(paging.HEIGHT_DIGITS_SHOWN_MAX) + "…",
  );
  assert.equal(paging.heightLabel("0"), "0");
  assert.equal(paging.heightLabel("1000"), "1,000");
});

Deno.test("page readHeight() reads safe integers (leading zeros allowed) as numbers and larger decimals as beyond, never rounded", () => {
  assert.deepEqual(paging.readHeight("0"), { height: 0 });
  assert.deepEqual(paging.readHeight(" 12 "), { height: 12 });
  assert.deepEqual(paging.readHeight("007"), { height: 7 });
  assert.deepEqual(paging.readHeight("0000"), { height: 0 });
  assert.deepEqual(paging.readHeight(String(Number.MAX_SAFE_INTEGER)), {
    height: Number.MAX_SAFE_INTEGER,
  });
  assert.deepEqual(paging.readHeight("9007199254740993"), { beyond: "9007199254740993" });
  assert.deepEqual(paging.readHeight("09007199254740992"), { beyond: "9007199254740992" });
  for (const junk of [undefined, null, "", "-0", "+1", "1 2", "1.0", "1e3", "١٢", "0x1"]) {
    assert.equal(paging.readHeight(junk), null, JSON.stringify(junk));
  }
});

Deno.test("page parseHeight() accepts decimal safe integers, leading zeros included, and nothing larger", () => {
  assert.equal(paging.parseHeight("0"), 0);
  assert.equal(paging.parseHeight("12"), 12);
  assert.equal(paging.parseHeight("01"), 1);
  assert.equal(paging.parseHeight(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  assert.equal(paging.parseHeight("9007199254740993"), null, "above 2^53");
  assert.equal(paging.parseHeight("9999999999999999"), null, "16 digits above the safe range");
  for (const junk of [undefined, null, "", "-0", "+1", "1 2", "١٢"]) {
    assert.equal(paging.parseHeight(junk), null, JSON.stringify(junk));
  }
});

Deno.test("page blocksPerPage() takes data-blocks-per-page in [1, max] and falls back to the default otherwise", () => {
  assert.equal(paging.BLOCKS_PER_PAGE_DEFAULT, EXPLORER_BLOCKS_PER_PAGE_DEFAULT);
  assert.equal(paging.BLOCKS_PER_PAGE_MAX, EXPLORER_BLOCKS_PER_PAGE_MAX);
  assert.equal(paging.blocksPerPage("5"), 5);
  assert.equal(paging.blocksPerPage("1"), 1);
  assert.equal(paging.blocksPerPage(String(EXPLORER_BLOCKS_PER_PAGE_MAX)), 100);
  for (const bad of [undefined, "", "0", "101", "5000", "abc", "-3"]) {
    assert.equal(paging.blocksPerPage(bad), EXPLORER_BLOCKS_PER_PAGE_DEFAULT, String(bad));
  }
});

Deno.test("explorerHtml() passes blocksPerPage as a data attribute, leaving the script and its CSP hash unchanged", () => {
  const a = explorerHtml();
  const b = explorerHtml({ blocksPerPage: 5 });
  assert.match(a, /<body data-blocks-per-page="20">/);
  assert.match(b, /<body data-blocks-per-page="5">/);
  assert.equal(inline(a, "script")[0], inline(b, "script")[0]);
  assert.equal(cspSources(a).get("script-src"), cspSources(b).get("script-src"));
});

Deno.test("explorerHtml() refuses a blocksPerPage that is not an integer in [1, EXPLORER_BLOCKS_PER_PAGE_MAX]", () => {
  for (const bad of [0, -1, 1.5, NaN, EXPLORER_BLOCKS_PER_PAGE_MAX + 1]) {
    assert.throws(() => explorerHtml({ blocksPerPage: bad }), AssertionError, String(bad));
  }
  assert.doesNotThrow(() => explorerHtml({ blocksPerPage: EXPLORER_BLOCKS_PER_PAGE_MAX }));
});

// ---------------------------------------------------------------------------
// The status header's notices: the page's pure statusNotices(), run in Deno.

interface StatusNotices {
  stopped: boolean;
  removed: boolean;
  leaderless: boolean;
  unreachableLeader: string | null;
  diverged: { site: string; height: number; ours: string; theirs: string }[];
  more: number;
  stateDiverged: { site: string; height: number; ours: string; theirs: string }[];
  stateMore: number;
  rules: {
    active: number;
    scheduled: { version: number; height: number } | null;
    upgradeBefore: number | null;
  } | null;
  storageLow: { site: string; freeBytes: number; freeBytesMin: number }[];
}

function pageNotices(): { statusNotices(s: unknown): StatusNotices; DIVERGED_SHOWN_MAX: number } {
  const [script] = inline(explorerHtml(), "script");
  const constants = script.slice(0, script.indexOf("const baseTitle"));
  const start = script.indexOf("// ----- status notices");
  const end = script.indexOf("// ----- block list paging");
  assert.ok(start > 0 && end > start, "the script keeps its section markers");
  return new Function(
    `${constants}\n${script.slice(start, end)}\nreturn { statusNotices, DIVERGED_SHOWN_MAX };`,
  )() as { statusNotices(s: unknown): StatusNotices; DIVERGED_SHOWN_MAX: number };
}

const notices = pageNotices();
const BASE_STATUS = { ledger: "demo", site: "site-a", role: "leader", term: 2, height: 40 };
const OURS = "ab".repeat(32);
const THEIRS = "cd".repeat(32);

Deno.test("page statusNotices(): a site is called stopped only when it says healthy: false (an older site without the field is not)", () => {
  assert.equal(notices.statusNotices({ ...BASE_STATUS, healthy: false }).stopped, true);
  assert.equal(notices.statusNotices({ ...BASE_STATUS, healthy: true }).stopped, false);
  assert.equal(notices.statusNotices(BASE_STATUS).stopped, false);
  for (const junk of [null, undefined, "x", 3, [], { healthy: "false" }, { healthy: 0 }]) {
    const n = notices.statusNotices(junk);
    assert.deepEqual(
      n,
      {
        stopped: false,
        removed: false,
        leaderless: false,
        unreachableLeader: null,
        diverged: [],
        more: 0,
        stateDiverged: [],
        stateMore: 0,
        rules: null,
        storageLow: [],
      },
      String(junk),
    );
  }
});

Deno.test("page statusNotices(): a site is called leaderless only when it says leaderlessMs as a count, and not while removed (that callout says more)", () => {
  assert.equal(notices.statusNotices({ ...BASE_STATUS, leaderlessMs: 2400 }).leaderless, true);
  assert.equal(notices.statusNotices({ ...BASE_STATUS, leaderlessMs: 0 }).leaderless, true);
  for (const junk of [undefined, null, -1, 2.5, "2400", true]) {
    assert.equal(
      notices.statusNotices({ ...BASE_STATUS, leaderlessMs: junk }).leaderless,
      false,
      String(junk),
    );
  }
  assert.equal(
    notices.statusNotices({ ...BASE_STATUS, leaderlessMs: 2400, removed: true }).leaderless,
    false,
  );
});

Deno.test("page statusNotices(): a site's leader is called unreachable only when the site says leaderUnreachableMs as a count and names it; not while removed or leaderless (those callouts say more)", () => {
  const cut = { ...BASE_STATUS, role: "follower", leader: "site-b", leaderUnreachableMs: 2100 };
  assert.equal(notices.statusNotices(cut).unreachableLeader, "site-b");
  assert.equal(notices.statusNotices(cut).leaderless, false);
  for (const junk of [undefined, null, -1, 2.5, "2100", true]) {
    assert.equal(
      notices.statusNotices({ ...cut, leaderUnreachableMs: junk }).unreachableLeader,
      null,
      String(junk),
    );
  }
  assert.equal(notices.statusNotices({ ...cut, leader: null }).unreachableLeader, null);
  assert.equal(notices.statusNotices({ ...cut, removed: true }).unreachableLeader, null);
  assert.equal(notices.statusNotices({ ...cut, leaderlessMs: 2400 }).unreachableLeader, null);
});

Deno.test("page statusNotices(): a site is called removed only when it says removed: true", () => {
  assert.equal(notices.statusNotices({ ...BASE_STATUS, removed: true }).removed, true);
  assert.equal(notices.statusNotices({ ...BASE_STATUS, removed: "true" }).removed, false);
  assert.equal(notices.statusNotices(BASE_STATUS).removed, false);
  assert.equal(notices.statusNotices({ ...BASE_STATUS, removed: true }).stopped, false);
});

Deno.test("page statusNotices(): lists the sites low on disk space, well-formed entries only, with their three fields", () => {
  const low = { site: "site-c", freeBytes: 100 * 1024 * 1024, freeBytesMin: 512 * 1024 * 1024 };
  assert.deepEqual(notices.statusNotices({ ...BASE_STATUS, storageLow: [low] }).storageLow, [low]);
  assert.deepEqual(notices.statusNotices(BASE_STATUS).storageLow, []);
  assert.deepEqual(notices.statusNotices({ ...BASE_STATUS, storageLow: "site-c" }).storageLow, []);
  const malformed = [null, "site-c", { ...low, site: 3 }, { ...low, freeBytes: -1 }, {
    site: "site-d",
    freeBytes: 1,
  }];
  assert.deepEqual(
    notices.statusNotices({ storageLow: [...malformed, { ...low, extra: "<b>" }] }).storageLow,
    [low],
  );
  const many = Array.from({ length: notices.DIVERGED_SHOWN_MAX + 3 }, (_, i) => ({
    ...low,
    site: `site-${i}`,
  }));
  assert.equal(
    notices.statusNotices({ storageLow: many }).storageLow.length,
    notices.DIVERGED_SHOWN_MAX,
  );
});

Deno.test("page statusNotices(): names each diverged member with height and both hashes, skips malformed entries, and bounds the list", () => {
  const d = { site: "site-b", height: 12, ours: OURS, theirs: THEIRS };
  assert.deepEqual(notices.statusNotices({ ...BASE_STATUS, divergence: [d] }).diverged, [d]);
  assert.deepEqual(notices.statusNotices({ ...BASE_STATUS, divergence: [] }).diverged, []);
  assert.deepEqual(notices.statusNotices(BASE_STATUS).diverged, []);
  const malformed = [
    null,
    "site-c",
    { ...d, site: 7 },
    { ...d, height: -1 },
    { ...d, height: 1.5 },
    { ...d, ours: null },
    { site: "site-c", height: 3, ours: OURS },
  ];
  const n = notices.statusNotices({ ...BASE_STATUS, divergence: [...malformed, d] });
  assert.deepEqual(n.diverged, [d]);
  assert.equal(n.more, 0);
  // Only the four fields: nothing else the site sends reaches the page.
  assert.deepEqual(
    notices.statusNotices({ divergence: [{ ...d, extra: "<b>" }] }).diverged,
    [d],
  );
  const many = Array.from({ length: notices.DIVERGED_SHOWN_MAX + 3 }, (_, i) => ({
    ...d,
    site: `site-${i}`,
  }));
  const bounded = notices.statusNotices({ divergence: many });
  assert.equal(bounded.diverged.length, notices.DIVERGED_SHOWN_MAX);
  assert.equal(bounded.more, 3);
  assert.equal(notices.statusNotices({ divergence: { length: 1, 0: d } }).diverged.length, 0);
});

Deno.test("page statusNotices(): names each member whose state hash differed (stateDivergence) apart from diverged blocks, skips malformed entries, and bounds the list", () => {
  const d = { site: "site-c", height: 100_000, ours: OURS, theirs: THEIRS };
  const n = notices.statusNotices({
    ...BASE_STATUS,
    stateDivergence: [null, { ...d, ours: 1 }, d],
  });
  assert.deepEqual(n.stateDiverged, [d]);
  assert.equal(n.stateMore, 0);
  assert.deepEqual(n.diverged, [], "a state difference is not a diverged block");
  assert.deepEqual(notices.statusNotices(BASE_STATUS).stateDiverged, []);
  const many = Array.from({ length: notices.DIVERGED_SHOWN_MAX + 2 }, (_, i) => ({
    ...d,
    site: `site-${i}`,
  }));
  const bounded = notices.statusNotices({ stateDivergence: many });
  assert.equal(bounded.stateDiverged.length, notices.DIVERGED_SHOWN_MAX);
  assert.equal(bounded.stateMore, 2);
});

Deno.test("page statusNotices(): rules show the active version and a scheduled one, and ask for an upgrade only when the scheduled version is above the supported one", () => {
  assert.deepEqual(notices.statusNotices({ rules: { active: 1, supported: 1 } }).rules, {
    active: 1,
    scheduled: null,
    upgradeBefore: null,
  });
  assert.deepEqual(
    notices.statusNotices({
      rules: { active: 1, supported: 2, scheduled: { version: 2, height: 500 } },
    }).rules,
    { active: 1, scheduled: { version: 2, height: 500 }, upgradeBefore: null },
  );
  assert.deepEqual(
    notices.statusNotices({
      rules: { active: 1, supported: 1, scheduled: { version: 2, height: 500 } },
    }).rules,
    { active: 1, scheduled: { version: 2, height: 500 }, upgradeBefore: 500 },
  );
  // A malformed schedule is not shown; malformed rules are no rules.
  assert.deepEqual(
    notices.statusNotices({
      rules: { active: 2, supported: 2, scheduled: { version: "3", height: 9 } },
    }).rules,
    { active: 2, scheduled: null, upgradeBefore: null },
  );
  for (const junk of [null, 2, { active: 1 }, { active: "1", supported: 1 }]) {
    assert.equal(notices.statusNotices({ rules: junk }).rules, null, JSON.stringify(junk));
  }
});

Deno.test("explorerHtml() has a hidden RULES item in the status bar and an empty notices area above the view", () => {
  const html = explorerHtml();
  assert.match(html, /<div id="st-rules-item" hidden><dt>Rules<\/dt><dd id="st-rules">/);
  assert.match(
    html,
    /<main id="main"[^>]*>\s*<div id="notices" class="notices"><\/div>\s*<div id="view">/,
  );
});
