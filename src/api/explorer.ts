/**
 * The web explorer every site serves at `GET /` (DESIGN §6): one
 * self-contained HTML page — inline CSS and one inline ES module, no external
 * asset, no build step — that reads the site's own public JSON API on the
 * same origin (`/v1/status`, `/v1/blocks`, `/v1/txs/{id}`, `/v1/txs/{id}/proof`,
 * `/v1/checkpoint`, `/v1/sites`, `/v1/sites/{name}/keys`, `/v1/events`).
 *
 * What it shows: the site's status (live over Server-Sent Events, polling
 * when the stream is down) with its rules version, callouts above every view
 * while the site has stopped taking writes or a member signed another block
 * than this site's at the same height (see `statusNotices` in the script),
 * the block list, a block with its transactions, a
 * transaction with its receipt, the co-signed checkpoint and the member
 * sites with their verifier keys and the keys they retired by rotation.
 *
 * The block list is paged, so the whole chain can be browsed however long it
 * is, and it never holds more than one page of rows. At `#/` it shows the
 * newest page, live: blocks arriving over the event stream go on top and the
 * oldest row drops off (while the stream is down the list says it is not
 * live, in the header's words). `#/blocks/{height}` shows the page whose newest row
 * is that block, fixed while the user reads it; there the live head shows
 * as a count of newer blocks. Newer/older/latest/oldest links page through
 * `GET /v1/blocks?from=&limit=` (ascending pages), and a "go to height" form
 * jumps to any page. The search box finds a block by height or hash and a
 * transaction by id. A height no block has yet, typed or linked, is not an
 * error: the page names the newest block and links to it.
 *
 * Every view that cannot be shown says why and links back to the latest
 * blocks (unless the latest blocks are what failed); when the site did not
 * answer — no answer within a request's deadline counts as none — it also
 * offers "Try again", and loads by itself once the site answers again (a
 * status poll or the event stream reopening). A navigation still waiting
 * after a moment says "Loading…". A site that answers 401 (it wants an API
 * key for every request) is shown as such, not as offline.
 *
 * The page also lets an auditor check a receipt in the browser: the
 * inclusion proof is verified per RFC 9162 §2.1.3.2 against the root of the
 * current checkpoint, the leaf is checked to hold the transaction (its id is
 * recomputed), and the checkpoint's
 * Ed25519 note signatures must come from a quorum of the sites (a line by
 * a key its site retired counts for checkpoints up to the last block that
 * key signed). The sites'
 * keys — and this page — come from the site being checked, so this catches
 * a wrong proof or a forged note, not a site that lies about its consortium:
 * that takes keys configured out of band (the SDK's light client).
 *
 * Accessibility (WCAG 2.1 AA, checked by `test/explorer_browser_test.ts`
 * with axe-core and by hand): the site's title is the one h1 and every view
 * has an h2 and a tab title of its own; a navigation moves focus to the new
 * view's heading; glyphs drawn for the eye (arrows, bullets) are hidden from
 * screen readers; live regions are rendered before they speak and say only
 * what changed: the connection badge once per change, a proof's verdict
 * once it is known, never a new block.
 *
 * Security: the page renders API data only through DOM text nodes and
 * attributes, never `innerHTML`; links are built from validated heights and
 * hashes, and a site URL becomes a link only when it is `http(s)`. A
 * Content-Security-Policy `<meta>` allows exactly the page's own inline
 * script and style (by SHA-256) and `connect-src 'self'`.
 *
 * @module
 */

import { base64Encode, utf8Encode } from "../../sdk/encoding.ts";
import { sha256 } from "../../sdk/hash.ts";
import { assert } from "../chain/assert.ts";

/** Rows per page of the explorer's block list when {@link ExplorerOptions} names none. */
export const EXPLORER_BLOCKS_PER_PAGE_DEFAULT = 20;
/** Largest `blocksPerPage` of {@link ExplorerOptions}: the block list's DOM bound. */
export const EXPLORER_BLOCKS_PER_PAGE_MAX = 100;

/** Options of {@link explorerHtml}. */
export interface ExplorerOptions {
  /** The page title, shown in the tab and the header; escaped. Default `"edgeledger explorer"`. */
  title?: string;
  /**
   * Rows per page of the block list, an integer in
   * `[1, EXPLORER_BLOCKS_PER_PAGE_MAX]`; the live list at `#/` keeps this
   * many too. Default {@link EXPLORER_BLOCKS_PER_PAGE_DEFAULT}. It reaches
   * the page as a `data-` attribute, so the script (and its CSP hash) is the
   * same whatever the value.
   */
  blocksPerPage?: number;
}

const TITLE_DEFAULT = "edgeledger explorer";
const TITLE_CHARS_MAX = 200;

/**
 * Returns the explorer page: a complete HTML document with everything
 * inline. The result depends only on `options`, so a caller may build it
 * once and serve it many times (`c.html(explorerHtml({ title }))`).
 * Requires `options.blocksPerPage`, when given, to be an integer in
 * `[1, EXPLORER_BLOCKS_PER_PAGE_MAX]` (a programmer error otherwise).
 *
 * @example
 * ```ts
 * const html = explorerHtml({ title: "demo ledger" });
 * html.startsWith("<!doctype html>"); // true
 * ```
 */
export function explorerHtml(options: ExplorerOptions = {}): string {
  const title = (options.title ?? TITLE_DEFAULT).slice(0, TITLE_CHARS_MAX);
  const t = escapeHtml(title);
  const perPage = options.blocksPerPage ?? EXPLORER_BLOCKS_PER_PAGE_DEFAULT;
  assert(
    Number.isSafeInteger(perPage) && perPage >= 1 && perPage <= EXPLORER_BLOCKS_PER_PAGE_MAX,
    `explorer blocksPerPage must be an integer in [1, ${EXPLORER_BLOCKS_PER_PAGE_MAX}], got ${perPage}`,
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<title>${t}</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body data-blocks-per-page="${perPage}">
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <div class="bar">
    <h1 class="brand"><a href="#/" id="brand">${t}</a></h1>
    <span id="live" class="live" role="status" aria-live="polite">Connecting…</span>
    <form id="search" class="search" role="search" novalidate>
      <label for="q" class="sr-only">Search by block height, block hash or transaction id</label>
      <input id="q" name="q" type="search" inputmode="text" autocomplete="off" spellcheck="false"
        placeholder="Block height, block hash or transaction id" aria-describedby="search-msg">
      <button type="submit">Search</button>
    </form>
  </div>
  <p id="search-msg" class="search-msg" role="status" aria-live="polite"></p>
  <dl class="stats" id="status" aria-label="Site status">
    <div><dt>Ledger</dt><dd id="st-ledger">…</dd></div>
    <div><dt>Site</dt><dd id="st-site">…</dd></div>
    <div><dt>Role</dt><dd id="st-role">…</dd></div>
    <div><dt>Term</dt><dd id="st-term">…</dd></div>
    <div><dt>Height</dt><dd id="st-height">…</dd></div>
    <div><dt>Log size</dt><dd id="st-logsize">…</dd></div>
    <div><dt>Pending</dt><dd id="st-pending">…</dd></div>
    <div><dt>Leader</dt><dd id="st-leader">…</dd></div>
    <div id="st-rules-item" hidden><dt>Rules</dt><dd id="st-rules">…</dd></div>
  </dl>
  <nav aria-label="Sections">
    <ul>
      <li><a href="#/" data-nav="home">Blocks</a></li>
      <li><a href="#/checkpoint" data-nav="checkpoint">Checkpoint</a></li>
      <li><a href="#/sites" data-nav="sites">Sites</a></li>
    </ul>
  </nav>
</header>
<main id="main" tabindex="-1">
  <div id="notices" class="notices"></div>
  <div id="view"><p class="muted">Loading…</p></div>
  <p id="loading" class="loading" role="status" aria-live="polite"></p>
  <noscript><p class="error">The explorer needs JavaScript. The JSON API is at <code>/v1/status</code>.</p></noscript>
</main>
<footer class="foot"><span id="st-version"></span>API: <a href="/openapi.json">/openapi.json</a></footer>
<script type="module">${SCRIPT}</script>
</body>
</html>
`;
}

/** Escapes `&`, `<`, `>`, `"` and `'`, so `s` is safe in HTML text and quoted attributes. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

// ---------------------------------------------------------------------------
// The page's style. No backticks and no "${" below: it is a template literal.

const CSS = String.raw`
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --panel: #ffffff; --fg: #1b1f24; --muted: #57606a; --border: #d0d7de;
  --accent: #0a58ca; --accent-bg: #e7f0ff; --code-bg: #eff1f4;
  --ok: #0f6b2b; --ok-bg: #dcf7e3; --bad: #a3101f; --bad-bg: #ffe9e7;
  --warn: #6f4600; --warn-bg: #fff4c2; --fresh: #fff7d6;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono", monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --panel: #161b22; --fg: #e6edf3; --muted: #9ea8b3; --border: #30363d;
    --accent: #74b9ff; --accent-bg: #132339; --code-bg: #1f252e;
    --ok: #5fdc7a; --ok-bg: #10291a; --bad: #ff8a80; --bad-bg: #33151a;
    --warn: #f0c04c; --warn-bg: #2e250f; --fresh: #2b2a14;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
a { color: var(--accent); text-underline-offset: 2px; }
a:hover { text-decoration-thickness: 2px; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; border-radius: 3px; }
code, pre, .mono { font-family: var(--mono); font-size: 0.9em; }
code { background: var(--code-bg); padding: 0.05em 0.3em; border-radius: 4px; }
pre {
  background: var(--code-bg); padding: 0.8rem 1rem; border-radius: 6px; overflow: auto;
  max-height: 32rem; margin: 0.5rem 0 1rem; white-space: pre-wrap; word-break: break-word;
}
pre code { background: none; padding: 0; }
h1, h2, h3 { line-height: 1.25; }
h2 { font-size: 1.35rem; margin: 0 0 0.75rem; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem; }
.sr-only {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.skip { position: absolute; left: -9999px; top: 0; background: var(--panel); padding: 0.5rem 1rem; z-index: 10; }
.skip:focus { left: 0.5rem; top: 0.5rem; }
.muted { color: var(--muted); }
.small { font-size: 0.85em; }
.top { background: var(--panel); border-bottom: 1px solid var(--border); padding: 0.75rem 1rem 0; }
.bar { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1rem; max-width: 1200px; margin: 0 auto; }
/* The site's title is the page's one h1; each view's name is an h2 under it. */
.brand { margin: 0; font-weight: 700; font-size: 1.15rem; }
.brand a { color: var(--fg); text-decoration: none; }
.live { font-size: 0.8rem; padding: 0.1rem 0.55rem; border-radius: 999px; border: 1px solid var(--border); color: var(--muted); }
.live::before { content: "\25CF\00a0" / ""; } /* a bullet for the eye: its alt text is empty */
.live.on { color: var(--ok); border-color: currentColor; }
.live.poll { color: var(--warn); border-color: currentColor; }
.live.off { color: var(--bad); border-color: currentColor; }
.search { display: flex; gap: 0.4rem; flex: 1 1 22rem; justify-content: flex-end; min-width: 0; }
/* Text inputs are told apart by their border alone: --muted is at least 3:1 against the panel and
   the page in both schemes (WCAG 1.4.11), where --border is under 1.6:1. */
.search input {
  flex: 1 1 auto; min-width: 0; max-width: 34rem; padding: 0.45rem 0.7rem; font: inherit;
  color: var(--fg); background: var(--bg); border: 1px solid var(--muted); border-radius: 6px;
}
/* Chromium's own placeholder grey is 4.1-4.3:1 on the inputs' background; --muted is 4.5:1 or
   more (WCAG 1.4.3). Firefox dims placeholders by opacity, which would undo it. */
input::placeholder { color: var(--muted); opacity: 1; }
button {
  font: inherit; padding: 0.45rem 0.9rem; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--accent); background: var(--accent); color: var(--panel); font-weight: 600;
}
button.secondary { background: transparent; color: var(--accent); }
button:disabled { opacity: 0.6; cursor: default; }
.search-msg { max-width: 1200px; margin: 0.25rem auto 0; min-height: 1.2em; font-size: 0.9rem; color: var(--bad); }
/* Empty live regions take no room but stay rendered: one that is display: none is not in the
   accessibility tree, so a screen reader may not announce the message that shows it. */
.search-msg:empty { margin: 0; min-height: 0; }
.stats {
  display: flex; flex-wrap: wrap; gap: 0.25rem 1.5rem; max-width: 1200px; margin: 0.6rem auto 0; padding: 0;
}
.stats div { display: flex; flex-direction: column; min-width: 4.5rem; }
.stats dt { font-size: 0.72rem; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
.stats dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
.stats div[hidden] { display: none; }
.stats .note { display: block; font-size: 0.8rem; font-weight: 600; color: var(--warn); }
.notices:empty { display: none; }
.notices .callout ul { margin: 0.35rem 0 0; padding-left: 1.25rem; color: var(--fg); }
.notices .callout li { margin: 0.15rem 0; overflow-wrap: anywhere; }
.top nav ul { display: flex; gap: 0.25rem; list-style: none; margin: 0.5rem auto 0; padding: 0; max-width: 1200px; }
.top nav a { display: inline-block; padding: 0.45rem 0.8rem; text-decoration: none; color: var(--muted); border-bottom: 3px solid transparent; font-weight: 600; }
.top nav a[aria-current="page"] { color: var(--fg); border-bottom-color: var(--accent); }
main { max-width: calc(1200px + 2rem); margin: 0 auto; padding: 1.25rem 1rem 2rem; }
main:focus, [tabindex="-1"]:focus { outline: none; }
.grid { display: grid; gap: 1.25rem; grid-template-columns: minmax(0, 1fr); }
@media (min-width: 960px) { .grid { grid-template-columns: minmax(0, 2fr) minmax(0, 1fr); } }
.panel { background: var(--panel); border: 1px solid var(--border); border-radius: 8px; padding: 1rem 1.1rem; min-width: 0; }
.panel + .panel { margin-top: 1.25rem; }
.grid > .panel + .panel, .grid > * > .panel:first-child { margin-top: 0; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.4rem; }
th, td { text-align: left; padding: 0.45rem 0.6rem; border-bottom: 1px solid var(--border); vertical-align: top; }
th { font-size: 0.78rem; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); font-weight: 600; }
td.num, th.num { text-align: right; }
tbody tr.clickable { cursor: pointer; }
tbody tr.clickable:hover { background: var(--accent-bg); }
tr.fresh { animation: fresh 2.5s ease-out; }
@keyframes fresh { from { background: var(--fresh); } to { background: transparent; } }
@media (prefers-reduced-motion: reduce) { tr.fresh { animation: none; } }
code.short, .show-sm { white-space: nowrap; }
.show-sm, .kind-sm { display: none; }
@media (max-width: 640px) {
  .hide-sm { display: none; }
  .date-sm { display: block; white-space: nowrap; font-size: 0.75em; color: var(--muted); }
  .show-sm { display: inline; }
  /* A block's transactions fit a phone: ids are short, the kind goes under the result,
     a long rejection code (stream_seq_not_increasing) breaks inside its badge, and the
     "Result and kind" heading wraps between its words. */
  #block-txs .badge { white-space: normal; overflow-wrap: anywhere; }
  #block-txs th .show-sm { white-space: normal; }
  #block-txs .kind-sm { display: block; margin-top: 0.2rem; overflow-wrap: anywhere; }
  th, td { padding: 0.4rem 0.35rem; }
  .panel { padding: 0.85rem 0.75rem; }
  main { padding: 1rem 0.6rem 1.5rem; }
}
.kv { display: grid; grid-template-columns: minmax(6rem, max-content) minmax(0, 1fr); gap: 0.35rem 1rem; margin: 0; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
@media (max-width: 380px) { .kv { grid-template-columns: minmax(0, 1fr); } .kv dd { margin-bottom: 0.4rem; } }
.hash { font-family: var(--mono); font-size: 0.88em; overflow-wrap: anywhere; }
.pager { display: flex; gap: 0.5rem; flex-wrap: wrap; margin: 0 0 1rem; }
.pager a { padding: 0.25rem 0.7rem; border: 1px solid var(--border); border-radius: 6px; text-decoration: none; font-weight: 600; }
.pager a[href]:hover { background: var(--accent-bg); }
.pager[hidden] { display: none; }
.pager .off { padding: 0.25rem 0.7rem; border: 1px solid var(--border); border-radius: 6px; font-weight: 600; color: var(--muted); opacity: 0.6; cursor: default; }
.list-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.25rem 0.75rem; margin: 0 0 0.75rem; }
.list-head h2 { margin: 0; }
.list-bar { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 0.5rem 1rem; margin: 0 0 0.75rem; }
.list-bar .pager, .list-foot .pager { margin: 0; }
.list-foot { margin: 0.75rem 0 0; }
.jump { display: flex; align-items: center; gap: 0.4rem; }
.jump input {
  width: 8rem; min-width: 0; padding: 0.3rem 0.6rem; font: inherit; color: var(--fg);
  background: var(--bg); border: 1px solid var(--muted); border-radius: 6px;
}
.jump button { padding: 0.3rem 0.8rem; }
.jump-msg { margin: 0 0 0.75rem; font-size: 0.9rem; color: var(--bad); }
.jump-msg:empty { margin: 0; }
.error-links { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1rem; margin: 0.75rem 0 0; }
.badge {
  display: inline-block; padding: 0.05rem 0.5rem; border-radius: 999px; font-size: 0.8rem;
  font-weight: 600; border: 1px solid currentColor; white-space: nowrap;
}
/* a long verdict wraps inside its panel, as a box: a pill's round ends would cut into its lines */
.kv dd .badge { white-space: normal; border-radius: 6px; }
.badge.ok { color: var(--ok); background: var(--ok-bg); }
.badge.bad { color: var(--bad); background: var(--bad-bg); }
.badge.warn { color: var(--warn); background: var(--warn-bg); }
.badge.info { color: var(--accent); background: var(--accent-bg); }
/* A callout may quote a did:key or a hash (a rejection's detail): it wraps anywhere, its paragraphs
   too (inherited), rather than widen a 320 px page (WCAG 1.4.10). */
.callout { border-radius: 8px; padding: 0.75rem 1rem; margin: 0 0 1rem; border: 1px solid currentColor; overflow-wrap: anywhere; }
.callout.ok { color: var(--ok); background: var(--ok-bg); }
.callout.bad { color: var(--bad); background: var(--bad-bg); }
.callout.warn { color: var(--warn); background: var(--warn-bg); }
.callout.info { color: var(--accent); background: var(--accent-bg); }
.callout.slim { padding: 0.4rem 0.8rem; margin: 0 0 0.75rem; }
.callout p { margin: 0.2rem 0 0; color: var(--fg); }
/* An error may quote a 64-character id: it wraps rather than widen a 320 px page (WCAG 1.4.10). */
.error { color: var(--bad); background: var(--bad-bg); border: 1px solid currentColor; border-radius: 8px; padding: 0.75rem 1rem; overflow-wrap: anywhere; }
.error p { margin: 0.25rem 0 0; color: var(--fg); }
.error h2 { font-size: 1rem; margin: 0; }
.verdict { display: flex; align-items: center; gap: 0.75rem; font-size: 1.1rem; font-weight: 700; }
.verdict .mark { font-size: 1.8rem; line-height: 1; }
.checks { list-style: none; padding: 0; margin: 0.75rem 0; }
.checks li { padding: 0.15rem 0; }
.checks .ok { color: var(--ok); font-weight: 700; }
.checks .bad { color: var(--bad); font-weight: 700; }
ol.path { padding-left: 1.5rem; margin: 0.25rem 0 1rem; }
ol.path li { margin: 0.15rem 0; }
details { margin: 0.5rem 0; }
summary { cursor: pointer; font-weight: 600; padding: 0.2rem 0; }
ul.plain { list-style: none; padding: 0; margin: 0; }
ul.plain li { margin: 0.15rem 0; }
/* What a navigation still waiting says, where it shows whatever part of the old view is in sight.
   Empty, it takes no room but stays rendered: it is a live region. */
.loading {
  position: fixed; left: 50%; bottom: 1rem; transform: translateX(-50%); z-index: 5; margin: 0;
  max-width: calc(100vw - 2rem); padding: 0.35rem 0.9rem; border-radius: 999px; font-weight: 600;
  color: var(--fg); background: var(--panel); border: 1px solid var(--muted); box-shadow: 0 2px 8px rgb(0 0 0 / 0.25);
}
.loading:empty { padding: 0; border: 0; box-shadow: none; }
.foot { max-width: calc(1200px + 2rem); margin: 0 auto; padding: 0 1rem 2rem; color: var(--muted); font-size: 0.85rem; }
`;

// ---------------------------------------------------------------------------
// The page's script, an ES module. No backticks and no "${" below: it is a
// template literal (String.raw, so regex escapes stay as written). API data
// reaches the DOM only as text (`append(string)`, `textContent`) or as
// attribute values built from validated heights and hashes.

const SCRIPT = String.raw`
const BLOCKS_PER_PAGE_DEFAULT = 20; // rows of the block list, live or paged back (explorer.ts has the same)
const BLOCKS_PER_PAGE_MAX = 100;   // the block list's DOM bound: a larger data-blocks-per-page is ignored
const TX_DETAILS_MAX = 50;         // transactions of a block whose kind/result are fetched
const TX_FETCH_CONCURRENCY = 6;
const NOT_LOOKED_UP = "not looked up: open the transaction"; // a transaction row past TX_DETAILS_MAX
const POLL_MS = 5000;              // status polling while the event stream is down, or a refresh failed
const STATUS_REFRESH_MS = 15000;   // status refresh while live (role, term, pending change without blocks)
const REQUEST_TIMEOUT_MS = 10000;  // a request's deadline: a site that accepted it but sends nothing "did not answer"
// The live stream is stalled when neither an event nor a status refresh came for this long: two of
// the site's heartbeats (15 s apart), which are SSE comments that EventSource does not surface.
const STREAM_STALL_MS = 30000;
const LOADING_NOTE_DELAY_MS = 300; // a navigation waits this long before it says "Loading…", so fast ones do not flash
const CHECKPOINT_REFRESH_DELAY_MS = 1000; // after new blocks, before re-reading the checkpoint (sites co-sign it)
const PROOF_HASHES_MAX = 64;       // an audit path is at most 63 hashes for any tree of safe-integer size
const DIVERGED_SHOWN_MAX = 16;     // members named in the divergence callout; the rest are counted
const HEX64 = /^[0-9a-f]{64}$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/; // a number as the site writes it: no leading zeros (any size: see readHeight)
const DIGITS = /^[0-9]+$/;           // a number as a user may type it: "007" is 7
const HEIGHT_DIGITS_SHOWN_MAX = 20;  // digits of an impossible height repeated back to the user; the rest is "…"
const TX_PREFIX = "edgeledger/tx/v1\n";
const ROTATION_PREFIX = "edgeledger/site-key-rotation/v1\n";
const RETIREMENT_PREFIX = "edgeledger/site-key-retirement/v1\n";

const baseTitle = document.title;
const BLOCKS_PER_PAGE = blocksPerPage(document.body.dataset.blocksPerPage);
const view = document.getElementById("view");
const mainEl = document.getElementById("main");
const liveEl = document.getElementById("live");
const loadingEl = document.getElementById("loading");
const searchMsg = document.getElementById("search-msg");
const enc = new TextEncoder();

const state = {
  status: null,          // last /v1/status
  live: false,           // the event stream is open
  link: { mode: "", text: "Connecting…" }, // what the header's connection badge says (see setLive)
  list: null,            // the block list while it is shown (see showBlocks)
  onNewBlocks: null,     // the block list's hook for a higher head (refreshes its checkpoint)
  firstRoute: true,
  focusOnShow: false,    // the next show() moves focus to its heading
  noticesKey: null,      // what the callouts above the view say (see renderNotices)
  routeHash: "",         // the route last shown or failed, which "Try again" loads
  retryView: false,      // the view failed because the site did not answer: load it again when it does
  atHome: false,         // the route shown (or failed) is the latest blocks, so an error does not link back to it
  heardMs: 0,            // Date.now() when the event stream last opened or sent an event, or a status refresh succeeded
};

// ----- DOM helpers: API data becomes text nodes, never parsed as HTML ---------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

function setText(id, value) {
  const el = document.getElementById(id);
  if (el) el.textContent = value === undefined || value === null ? "—" : String(value);
}

function kv(pairs) {
  const dl = h("dl", { class: "kv" });
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    add(dl, [h("dt", null, k), h("dd", null, v === null ? "—" : v)]);
  }
  return dl;
}

const fmtInt = new Intl.NumberFormat("en");
function num(n) {
  return typeof n === "number" && Number.isFinite(n) ? fmtInt.format(n) : String(n);
}

function shortHash(hex) {
  const s = String(hex);
  return s.length > 16 ? s.slice(0, 10) + "…" + s.slice(-4) : s;
}

function utc(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return String(ms);
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function timeEl(ms) {
  const ok = typeof ms === "number" && Number.isFinite(ms) && !Number.isNaN(new Date(ms).getTime());
  return h("time", ok ? { datetime: new Date(ms).toISOString(), title: String(ms) + " ms" } : null, utc(ms));
}

/**
 * A block time for a table (the full time is the tooltip). A narrow screen
 * has room for the time of day only: there the date hides when it is today
 * (see blockTimeParts), and otherwise goes on a line of its own above it.
 */
function timeCell(ms) {
  const p = blockTimeParts(ms, Date.now());
  if (!p) return utc(ms);
  return h("time", { datetime: new Date(ms).toISOString(), title: utc(ms) },
    h("span", { class: p.dateOnNarrow ? "date-sm" : "hide-sm" }, p.date + " "), p.time);
}

/**
 * A label with a decorative glyph before and/or after its words ("‹ Newer",
 * "Block 3 →"), the glyph hidden from screen readers: they read "Newer".
 */
function glyphed(before, words, after) {
  return [
    before ? h("span", { "aria-hidden": "true" }, before + " ") : null,
    words,
    after ? h("span", { "aria-hidden": "true" }, " " + after) : null,
  ];
}

function hashCode(hex) {
  return h("code", { class: "hash" }, String(hex));
}

/** A link to a block by height (a decimal safe integer as the site writes it) or hash; other text stays text. */
function blockLink(ref, label) {
  const s = String(ref);
  const isHeight = DECIMAL.test(s) && parseHeight(s) !== null;
  if (!isHeight && !HEX64.test(s)) return h("span", { class: "hash" }, s);
  return h("a", { href: "#/block/" + s, class: isHeight ? null : "hash" }, label ?? s);
}

function txLink(id, label) {
  const s = String(id);
  if (!HEX64.test(s)) return h("span", { class: "hash" }, s);
  return h("a", { href: "#/tx/" + s, class: "hash" }, label ?? s);
}

/**
 * A transaction id for a table row: in full on wide screens, shortened on
 * narrow ones, where the full id is the link's title and target.
 */
function txLinkShortSm(id) {
  const s = String(id);
  if (!HEX64.test(s)) return h("span", { class: "hash" }, s);
  return h("a", { href: "#/tx/" + s, class: "hash", title: s },
    h("span", { class: "hide-sm" }, s), h("span", { class: "show-sm" }, shortHash(s)));
}

/**
 * Text in a box that scrolls once it is taller than the box (pre's
 * max-height). The box takes the keyboard focus, so a keyboard can scroll
 * it too, and is a region named label.
 */
function scrollBox(attrs, label, text) {
  return h("pre", Object.assign({ tabindex: "0", role: "region", "aria-label": label }, attrs), h("code", null, text));
}

function json(value, label) {
  return scrollBox(null, label, JSON.stringify(value, null, 2));
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// ----- status notices: pure, no DOM and no I/O -----------------------------------

/**
 * What the status header shows beyond the plain fields of a /v1/status
 * answer s (any value: a malformed field shows nothing rather than throwing).
 * stopped is true only for healthy === false: a site too old to send the
 * field is not called stopped; removed only for removed === true. diverged holds the well-formed divergence
 * entries, at most DIVERGED_SHOWN_MAX of them; more counts the ones left
 * out; stateDiverged and stateMore the same for stateDivergence (the state
 * check: members whose contract state hashed differently). rules is null when s has no well-formed rules; else active, scheduled
 * ({ version, height } or null) and upgradeBefore, the height before which
 * this site must be upgraded because the scheduled version is above the
 * highest it supports (null when it is not). leaderless is true while the
 * site says leaderlessMs, and unreachableLeader names the leader while the
 * site says leaderUnreachableMs (its forwards get no answer); neither while
 * removed, and not both: hearing no leader says more.
 */
function statusNotices(s) {
  const st = s && typeof s === "object" ? s : {};
  const isCount = (n) => Number.isSafeInteger(n) && n >= 0;
  const wellFormed = (list) => Array.isArray(list) ? list.filter((d) =>
    d && typeof d === "object" && typeof d.site === "string" && isCount(d.height) &&
    typeof d.ours === "string" && typeof d.theirs === "string") : [];
  const shown = (list) => list.slice(0, DIVERGED_SHOWN_MAX)
    .map((d) => ({ site: d.site, height: d.height, ours: d.ours, theirs: d.theirs }));
  const entries = wellFormed(st.divergence);
  const diverged = shown(entries);
  const stateEntries = wellFormed(st.stateDivergence);
  const stateDiverged = shown(stateEntries);
  let rules = null;
  const r = st.rules;
  if (r && typeof r === "object" && isCount(r.active) && isCount(r.supported)) {
    const sc = r.scheduled;
    const scheduled = sc && typeof sc === "object" && isCount(sc.version) && isCount(sc.height)
      ? { version: sc.version, height: sc.height } : null;
    rules = {
      active: r.active,
      scheduled,
      upgradeBefore: scheduled && scheduled.version > r.supported ? scheduled.height : null,
    };
  }
  const lows = Array.isArray(st.storageLow) ? st.storageLow.filter((x) =>
    x && typeof x === "object" && typeof x.site === "string" && isCount(x.freeBytes) &&
    isCount(x.freeBytesMin)) : [];
  const storageLow = lows.slice(0, DIVERGED_SHOWN_MAX)
    .map((x) => ({ site: x.site, freeBytes: x.freeBytes, freeBytesMin: x.freeBytesMin }));
  return {
    stopped: st.healthy === false,
    removed: st.removed === true,
    // Not while removed: that callout says more.
    leaderless: isCount(st.leaderlessMs) && st.removed !== true,
    unreachableLeader: isCount(st.leaderUnreachableMs) && !isCount(st.leaderlessMs) &&
      st.removed !== true && typeof st.leader === "string" ? st.leader : null,
    diverged,
    more: entries.length - diverged.length,
    stateDiverged,
    stateMore: stateEntries.length - stateDiverged.length,
    rules,
    storageLow,
  };
}

/** A low site's free space beside its name: ": 100 MiB free, under its minimum of 512 MiB". */
function storageFigures(x) {
  return ": " + bytesText(x.freeBytes) + " free, under its minimum of " + bytesText(x.freeBytesMin);
}

/** n bytes for a person, in binary units: "512 MiB", "1.5 GiB". */
function bytesText(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  const t = u === 0 || v >= 100 ? String(Math.round(v)) : v.toFixed(1).replace(/\.0$/, "");
  return t + " " + units[u];
}

// ----- block list paging: pure, no DOM and no I/O ------------------------------------

/**
 * A block height in text (spaces around it ignored; leading zeros allowed,
 * "007" is 7): { height } when it is a safe integer, { beyond } (its digits
 * without leading zeros) when it is a decimal above Number.MAX_SAFE_INTEGER,
 * which no block can have, and null when it is not a decimal. A height is
 * never rounded: "9007199254740993" is beyond, not 9007199254740992.
 */
function readHeight(text) {
  const t = String(text ?? "").trim();
  if (!DIGITS.test(t)) return null;
  const digits = t.replace(/^0+(?=[0-9])/, "");
  const n = Number(digits);
  return Number.isSafeInteger(n) ? { height: n } : { beyond: digits };
}

/** A block height in text as readHeight reads it, when it is a safe integer; else null. */
function parseHeight(text) {
  const r = readHeight(text);
  return r !== null && r.beyond === undefined ? r.height : null;
}

/** Rows per page from the page's data-blocks-per-page: an integer in [1, BLOCKS_PER_PAGE_MAX], else the default. */
function blocksPerPage(attr) {
  const n = parseHeight(attr);
  return n !== null && n >= 1 && n <= BLOCKS_PER_PAGE_MAX ? n : BLOCKS_PER_PAGE_DEFAULT;
}

/**
 * The page of the block list whose newest row is block top, in a chain whose
 * newest block is head, size rows a page. Requires top and head to be safe
 * integers >= 0 and size >= 1; a top above head is clamped to head. The
 * rows are the heights [bottom, top], newest first: at most size of them.
 * older is the top of the next older page, null on the page that holds
 * block 0; newer is the top of the next newer page, null on the page that
 * holds the head, and head itself when that page is the latest. Paging is
 * symmetric: the newer page of the older page is this page, and the older
 * page of the newer page is this page unless the newer one is the head's
 * (the latest page is aligned on the head, not on this page).
 * /v1/blocks is ascending, so a page is fetched as from=bottom,
 * limit=top-bottom+1.
 */
function blockPage(top, head, size) {
  const t = Math.min(top, head);
  const bottom = Math.max(0, t - size + 1);
  return {
    top: t,
    bottom,
    older: bottom > 0 ? bottom - 1 : null,
    newer: t < head ? Math.min(t + size, head) : null,
    newerBlocks: head - t,
  };
}

/**
 * Where the pager's links go from page (a blockPage of the same head and
 * size): a "#/..." route, or null when there is nowhere to go. The newer
 * page that reaches the head is the live list "#/", not a fixed page, and
 * the live list itself has no "latest" or "newer".
 */
function pagerHashes(page, head, size, live) {
  return {
    latest: live ? null : "#/",
    newer: live || page.newer === null ? null : page.newer >= head ? "#/" : "#/blocks/" + page.newer,
    older: page.older === null ? null : "#/blocks/" + page.older,
    oldest: page.bottom === 0 ? null : "#/blocks/" + Math.min(size - 1, head),
  };
}

/** A page's rows in words: "Block 7" for one row, "Blocks 3–7" for more. */
function rangeLabel(page) {
  return page.bottom === page.top
    ? "Block " + heightLabel(String(page.top))
    : "Blocks " + heightLabel(String(page.bottom)) + "–" + heightLabel(String(page.top));
}

/**
 * The block list's tab title: "Latest blocks" when live; a page paged back
 * is "Block list: " and its rows, so a one-row page ("Block list: Block 0")
 * is not titled like that block's own view ("Block 0").
 */
function listTitle(page, live) {
  return live ? "Latest blocks" : "Block list: " + rangeLabel(page);
}

/**
 * The line beside the block list's heading, for page (a blockPage) of a
 * chain whose newest block is head. Paged back (live false) the heading
 * names the rows, so this counts the chain: "of 1 block", "of 23 blocks,
 * newest first". The live list names its rows too, and says "live" only
 * while link, the header's connection badge ({ mode, text } as setLive
 * shows it), is on; otherwise new blocks may not arrive, and it says why in
 * the badge's words: "not live (reconnecting…)". One row has no order, so
 * no "newest first".
 */
function rangeText(page, head, live, link) {
  const order = page.bottom === page.top ? "" : ", newest first";
  if (!live) return "of " + heightLabel(String(head + 1)) + (head === 0 ? " block" : " blocks") + order;
  const on = link && link.mode === "on";
  const why = link && typeof link.text === "string" && link.text !== "" ? link.text.toLowerCase() : "connecting…";
  return rangeLabel(page) + " of " + heightLabel(String(head + 1)) + order + (on ? ", live" : ", not live (" + why + ")");
}

/**
 * Where a height typed by a user points, given head, the newest block's
 * height (null while it is not known): { height }, a block that may exist;
 * { error: "ahead", digits } when no block has that height — it is above
 * head, or beyond the safe integers, which needs no head to know — where
 * digits is the height without leading zeros; { error: "syntax" } when the
 * text is not a decimal.
 */
function heightTarget(text, head) {
  const r = readHeight(text);
  if (r === null) return { error: "syntax" };
  if (r.beyond !== undefined) return { error: "ahead", digits: r.beyond };
  if (head !== null && r.height > head) return { error: "ahead", digits: String(r.height) };
  return { height: r.height };
}

/** Where "go to height" goes: the page whose newest row is that block ({ hash }), or heightTarget's error. */
function jumpTarget(text, head) {
  const t = heightTarget(text, head);
  return t.error ? t : { hash: "#/blocks/" + t.height };
}

/**
 * Where the search box goes for raw, given head as for heightTarget: a
 * block height is { hash } of its block or heightTarget's "ahead"; 64 hex
 * characters (case and a "0x" prefix ignored; 64 digits are hex too, no
 * height is that long) are { hex }, lowercase, for a block hash or a
 * transaction id the site must look up; anything else is { error: "syntax" },
 * and blank text is null.
 */
function searchTarget(raw, head) {
  const q = String(raw ?? "").trim();
  if (q === "") return null;
  if (DIGITS.test(q) && q.length !== 64) {
    const t = heightTarget(q, head);
    return t.error ? t : { hash: "#/block/" + t.height };
  }
  const hex = q.toLowerCase().replace(/^0x/, "");
  return HEX64.test(hex) ? { hex } : { error: "syntax" };
}

/**
 * A height's digits (no leading zeros) for a sentence, grouped like num()
 * ("1,000"); more than HEIGHT_DIGITS_SHOWN_MAX digits are cut, ungrouped,
 * with "…".
 */
function heightLabel(digits) {
  const d = String(digits);
  if (d.length > HEIGHT_DIGITS_SHOWN_MAX) return d.slice(0, HEIGHT_DIGITS_SHOWN_MAX) + "…";
  return d.replace(/\B(?=([0-9]{3})+$)/g, ",");
}

/**
 * What the search box, "go to height" and the block views say of a height
 * no block has (digits as heightTarget gives them), naming the newest block
 * when head is known. A height beyond the safe integers is not "yet".
 */
function aheadText(digits, head) {
  const never = !Number.isSafeInteger(Number(digits));
  return "There is no block " + heightLabel(digits) + (never ? "" : " yet") +
    (head === null ? "." : ": the newest is block " + heightLabel(String(head)) + ".");
}

// ----- block times: pure, no DOM and no I/O -----------------------------------------

/**
 * A block time (ms since the epoch) split for the block list: date
 * ("2025-11-24") and time ("16:00:02"), in UTC as the column says, and
 * dateOnNarrow, whether a narrow screen, which shows the time of day only,
 * must show the date too: when it is not today's, in UTC, as of nowMs.
 * Without it blocks of different days would read alike. null for a time that
 * is not a date of four-digit year.
 */
function blockTimeParts(ms, nowMs) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return null;
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return null;
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(d.toISOString());
  if (!m) return null;
  const now = new Date(nowMs);
  const today = Number.isNaN(now.getTime()) ? "" : now.toISOString().slice(0, 10);
  return { date: m[1], time: m[2], dateOnNarrow: m[1] !== today };
}

// ----- bytes and hashing ------------------------------------------------------

function hexToBytes(hex) {
  if (typeof hex !== "string" || !/^([0-9a-f]{2})*$/i.test(hex)) throw new Error("not hex");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function b64ToBytes(s, url) {
  if (typeof s !== "string") throw new Error("not base64");
  let t = url ? s.replace(/-/g, "+").replace(/_/g, "/") : s;
  if (url ? !/^[A-Za-z0-9+/]*$/.test(t) : !/^[A-Za-z0-9+/]*={0,2}$/.test(t)) throw new Error("not base64");
  if (url) t += "=".repeat((4 - (t.length % 4)) % 4);
  const bin = atob(t);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * An Ed25519 public key from its one spelling (43 base64url characters, the
 * last with its two unused bits zero), or an error: a key has one spelling,
 * so keys compare as strings.
 */
function keyFromB64url(s) {
  if (typeof s !== "string" || !/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(s)) {
    throw new Error("not a key");
  }
  return b64ToBytes(s, true);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);

/** RFC 9162 §2.1.1: the hash of a leaf, SHA-256(0x00 || data). */
function leafHash(data) {
  return sha256(concat(LEAF, data));
}

/** RFC 9162 §2.1.1: the hash of an interior node, SHA-256(0x01 || left || right). */
function nodeHash(left, right) {
  return sha256(concat(NODE, left, right));
}

/**
 * RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or null when the
 * proof cannot be valid for (index, size) — index out of range, a path too
 * long or too short. Arithmetic uses division, not bit operators, so sizes
 * above 2^31 work.
 */
async function rootFromInclusionProof(leaf, index, size, path) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return null;
  if (path.length > PROOF_HASHES_MAX) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (p.length !== 32 || sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/** RFC 8785 (JCS) for JSON values as JSON.parse returns them. */
function canonical(v) {
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
  const keys = Object.keys(v).sort((a, b) => {
    // JCS sorts by UTF-16 code units, which is what < on strings compares.
    return a < b ? -1 : a > b ? 1 : 0;
  });
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",") + "}";
}

/** DESIGN §2: hex SHA-256 of "edgeledger/tx/v1\n" + JCS(envelope without sigs). */
async function transactionId(envelope) {
  const rest = {};
  for (const [k, v] of Object.entries(envelope)) if (k !== "sigs") rest[k] = v;
  return bytesToHex(await sha256(enc.encode(TX_PREFIX + canonical(rest))));
}

// ----- signed notes (C2SP signed-note, tlog-checkpoint) -------------------------

/** Parses a checkpoint note; throws an Error with a readable message when malformed. */
function parseCheckpoint(text) {
  // Signatures follow the LAST blank line (c2sp.org/signed-note).
  const sep = text.lastIndexOf("\n\n");
  if (sep < 0) throw new Error("Cannot read the checkpoint: no blank line before its signatures");
  const body = text.slice(0, sep + 1);
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 3) throw new Error("Cannot read the checkpoint: it has fewer than 3 lines");
  const [origin, sizeLine, rootLine] = lines;
  if (!DECIMAL.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine))) {
    throw new Error("Cannot read the checkpoint: tree size " + JSON.stringify(sizeLine) + " is not a decimal safe integer");
  }
  let root;
  try { root = b64ToBytes(rootLine, false); } catch { root = null; }
  if (!root || root.length !== 32) throw new Error("Cannot read the checkpoint: root hash is not 32 bytes of base64");
  const sigs = [];
  for (const line of text.slice(sep + 2).split("\n")) {
    if (line === "") continue;
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$/.exec(line);
    let raw = null;
    if (m) { try { raw = b64ToBytes(m[2], false); } catch { raw = null; } }
    if (!m || !raw || raw.length < 5) { sigs.push({ name: null, line, keyHash: null, sig: null }); continue; }
    sigs.push({ name: m[1], line, keyHash: bytesToHex(raw.slice(0, 4)), sig: raw.slice(4) });
  }
  return { text, body, origin, size: Number(sizeLine), root, extensions: lines.slice(3), sigs };
}

/** Parses a verifier key "name+hash+base64(0x01 || ed25519 public key)"; null when not Ed25519. */
function parseVerifierKey(vkey) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(String(vkey));
  if (!m) return null;
  let raw;
  try { raw = b64ToBytes(m[3], false); } catch { return null; }
  if (raw.length !== 33 || raw[0] !== 1) return null;
  return { name: m[1], keyHash: m[2], publicKey: raw.slice(1), raw };
}

let ed25519Supported = null;

/** The note's "height N" extension line as a number; null without one. */
function noteHeight(note) {
  const line = note.extensions.find((l) => /^height \d+$/.test(l));
  return line ? parseHeight(line.slice(7)) : null;
}

/**
 * A member's retired key that may have signed the checkpoint of height
 * with key hash keyHash (a site that rotated its key signed blocks up to
 * the rotation with the old one: GET /v1/sites/{name}/keys lists each
 * retired key with the last height it signed), as {key, untilHeight,
 * vouched}; null when none does or the keys cannot be read.
 */
async function retiredKeyFor(name, keyHash, height) {
  if (height === null) return null;
  let keys;
  try { keys = await api("/v1/sites/" + encodeURIComponent(name) + "/keys"); } catch { return null; }
  for (const r of (keys && Array.isArray(keys.retired)) ? keys.retired : []) {
    const key = parseVerifierKey(r.verifierKey);
    if (key && key.name === name && key.keyHash === keyHash && r.untilHeight >= height) {
      return { key, untilHeight: r.untilHeight, vouched: await retirementVouched(name, r, keys) };
    }
  }
  return null;
}

/** Whether an Ed25519 signature verifies (WebCrypto); false when it does not or cannot be checked. */
async function ed25519Verifies(publicKey, message, signature) {
  try {
    const ck = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, ck, signature, message);
  } catch {
    return false;
  }
}

/**
 * Whether the site vouched for a retired key's last height (sdk/key_rotation.ts): its
 * rotations lead from that key to the key it holds now, each step signed by both keys,
 * and a later key of the way signed
 * "edgeledger/site-key-retirement/v1\n<name>\n<retired key>\n<height>\n".
 */
async function retirementVouched(name, retired, keys) {
  try {
    const current = parseVerifierKey(keys.verifierKey);
    const old = parseVerifierKey(retired.verifierKey);
    if (!current || !old || typeof retired.signer !== "string" || typeof retired.signature !== "string") return false;
    let at = old.publicKey, from = null;
    const later = [];
    for (const r of Array.isArray(keys.rotations) ? keys.rotations : []) {
      const prev = keyFromB64url(r.previous), next = keyFromB64url(r.publicKey);
      if (from === null) {
        if (!equalBytes(prev, at)) continue;
        from = r.previous;
      }
      if (r.name !== name || !equalBytes(prev, at)) return false;
      // A chain that comes back to a key it passed is no chain.
      if (r.publicKey === from || later.includes(r.publicKey)) return false;
      const text = enc.encode(ROTATION_PREFIX + name + "\n" + r.previous + "\n" + r.publicKey + "\n");
      if (!(await ed25519Verifies(prev, text, b64ToBytes(r.previousSig, true)))) return false;
      if (!(await ed25519Verifies(next, text, b64ToBytes(r.newSig, true)))) return false;
      at = next;
      later.push(r.publicKey);
    }
    if (from === null || !equalBytes(at, current.publicKey) || !later.includes(retired.signer)) return false;
    const statement = enc.encode(RETIREMENT_PREFIX + name + "\n" + from + "\n" + retired.untilHeight + "\n");
    return await ed25519Verifies(keyFromB64url(retired.signer), statement, b64ToBytes(retired.signature, true));
  } catch {
    return false;
  }
}

/**
 * Checks each signature line of the note against the sites' verifier keys,
 * and a member's line with another key hash against the keys it retired at
 * or after the note's height. Per line: "verified" (with retiredUntil when
 * by a retired key), "unvouched" (by a key the site says it retired at or
 * after that height, a height no later key of it signed), "bad" (wrong
 * signature or key hash), "unknown" (no
 * site has that name and key hash), "malformed", or "unchecked" (this
 * browser's WebCrypto has no Ed25519).
 */
async function checkNoteSignatures(note, sites) {
  const keys = (sites || []).map((s) => parseVerifierKey(s.verifierKey)).filter(Boolean);
  const out = [];
  for (const sig of note.sigs) {
    if (!sig.name) { out.push({ sig, result: "malformed" }); continue; }
    let key = keys.find((k) => k.name === sig.name && k.keyHash === sig.keyHash);
    let retiredUntil;
    if (!key && keys.some((k) => k.name === sig.name)) {
      const retired = await retiredKeyFor(sig.name, sig.keyHash, noteHeight(note));
      // A height the site's later key did not sign is the site's word alone: not counted.
      if (retired && !retired.vouched) {
        out.push({ sig, result: "unvouched", retiredUntil: retired.untilHeight });
        continue;
      }
      if (retired) { key = retired.key; retiredUntil = retired.untilHeight; }
    }
    if (!key) { out.push({ sig, result: "unknown" }); continue; }
    // The key hash must match the key, or a site could be named with another's hash.
    const expected = bytesToHex((await sha256(concat(enc.encode(key.name + "\n"), key.raw))).slice(0, 4));
    if (expected !== key.keyHash || sig.sig.length !== 64) { out.push({ sig, result: "bad" }); continue; }
    if (ed25519Supported === false) { out.push({ sig, result: "unchecked" }); continue; }
    try {
      const ck = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, ["verify"]);
      ed25519Supported = true;
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, ck, sig.sig, enc.encode(note.body));
      out.push({ sig, result: ok ? "verified" : "bad", retiredUntil: ok ? retiredUntil : undefined });
    } catch {
      ed25519Supported = false;
      out.push({ sig, result: "unchecked" });
    }
  }
  return out;
}

// ----- API ----------------------------------------------------------------------

class ApiError extends Error {
  constructor(message, status, problem) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }
}

/**
 * A request's signal: it aborts when opts.signal does (the navigation moved
 * on) or at the deadline, REQUEST_TIMEOUT_MS from now; expired() says
 * whether the deadline is what aborted it.
 */
function requestSignal(signal) {
  const deadline = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const expired = () => deadline.aborted && !(signal && signal.aborted);
  if (!signal) return { signal: deadline, expired };
  if (typeof AbortSignal.any === "function") return { signal: AbortSignal.any([signal, deadline]), expired };
  // A browser without AbortSignal.any (before 2024) still gets both.
  const both = new AbortController();
  const abort = () => both.abort();
  if (signal.aborted) abort();
  signal.addEventListener("abort", abort, { once: true });
  deadline.addEventListener("abort", abort, { once: true });
  return { signal: both.signal, expired };
}

/**
 * GETs path on this site: its JSON (or text, opts.text). Throws ApiError:
 * status 0 when the site did not answer, none within REQUEST_TIMEOUT_MS
 * included (a frozen site accepts connections and sends nothing); or the
 * AbortError of opts.signal.
 */
async function api(path, opts) {
  const text = opts && opts.text;
  const { signal, expired } = requestSignal(opts && opts.signal);
  const unanswered = () => new ApiError("The site did not answer (" + path + ") within " + REQUEST_TIMEOUT_MS / 1000 + " s", 0, null);
  let res;
  try {
    res = await fetch(path, { headers: { Accept: text ? "text/plain" : "application/json" }, signal });
  } catch (e) {
    if (expired()) throw unanswered();
    if (e && e.name === "AbortError") throw e;
    throw new ApiError("The site did not answer (" + path + "): " + (e && e.message ? e.message : e), 0, null);
  }
  if (!res.ok) {
    let problem = null;
    if ((res.headers.get("content-type") || "").includes("json")) {
      try { problem = await res.json(); } catch { problem = null; }
    }
    const title = problem && typeof problem.title === "string" ? problem.title : "HTTP " + res.status + (res.statusText ? " " + res.statusText : "");
    const detail = problem && typeof problem.detail === "string" ? problem.detail : "";
    throw new ApiError(title + (detail ? ": " + detail : ""), res.status, problem);
  }
  try {
    return text ? await res.text() : await res.json();
  } catch (e) {
    // The answer began but stopped before its end: no answer either.
    if (expired()) throw unanswered();
    if (e && e.name === "AbortError") throw e;
    throw new ApiError("The site sent an unreadable answer to " + path, res.status, null);
  }
}

/**
 * True when err says the site did not answer, or a proxy in front of it said
 * so (502, 503, 504): the same request may work later.
 */
function notAnswered(err) {
  return err instanceof ApiError && (err.status === 0 || err.status === 502 || err.status === 503 || err.status === 504);
}

/**
 * What failed (action) and why (err), announced as an alert. heading: the
 * box is a whole view, so action is its h2 (the view's name), not bold text.
 */
function errorBox(action, err, heading) {
  const problem = err && err.problem;
  return h("div", { class: "error", role: "alert" },
    heading ? h("h2", { id: "view-h", tabindex: "-1" }, action) : h("strong", null, action),
    h("p", null, err && err.message ? err.message : String(err)),
    err instanceof ApiError && err.status === 401
      ? h("p", { class: "auth-hint" }, "The explorer sends no API key, and this site serves no request without one " +
        "(requireApiKey \"all\"): open the explorer through a proxy in front of the site that adds a key to every request.")
      : null,
    problem && typeof problem.requestId === "string"
      ? h("p", { class: "small muted" }, "Request id: ", h("code", null, problem.requestId))
      : null);
}

// ----- status header, live updates ------------------------------------------------

function renderStatus(s) {
  const before = state.status ? state.status.height : null;
  state.status = s;
  setText("st-ledger", s.ledger);
  setText("st-site", s.site);
  const role = document.getElementById("st-role");
  role.replaceChildren(h("span", { class: "badge " + (s.role === "leader" ? "ok" : s.role === "follower" ? "info" : "warn") }, String(s.role)));
  setText("st-term", num(s.term));
  setText("st-height", num(s.height));
  setText("st-logsize", num(s.logSize));
  setText("st-pending", num(s.pendingTxs ?? 0));
  setText("st-leader", s.leader ?? "none");
  // The separator comes with the version: without one the footer starts at "API:".
  setText("st-version", s.version ? "edgeledger " + s.version + " · " : "");
  renderNotices(s);
  if (state.list) updateListChrome(state.list);
  if (before !== null && s.height > before && state.onNewBlocks) state.onNewBlocks();
}

/**
 * The callouts above the view and the RULES item, from s. The callouts are
 * rebuilt only when what they say changes, so a refresh that changes
 * nothing does not make a screen reader announce them again.
 */
function renderNotices(s) {
  const n = statusNotices(s);
  const item = document.getElementById("st-rules-item");
  const dd = document.getElementById("st-rules");
  item.hidden = n.rules === null;
  if (n.rules) {
    const r = n.rules;
    const value = "v" + r.active + (r.scheduled ? " · v" + r.scheduled.version + " at height " + num(r.scheduled.height) : "");
    if (r.upgradeBefore === null) dd.replaceChildren(value);
    else dd.replaceChildren(h("span", { class: "badge warn" }, value), h("span", { class: "note", id: "st-rules-upgrade" },
      "This site must be upgraded before height " + num(r.upgradeBefore)));
  }
  // A low site's free bytes change at every refresh: they are left out of the key and
  // updated in place, outside the callout's alert, which is announced once.
  const key = JSON.stringify([n.stopped, n.removed, n.leaderless, n.unreachableLeader, n.diverged, n.more, n.stateDiverged, n.stateMore,
    n.storageLow.map((x) => [x.site, x.freeBytesMin])]);
  if (key === state.noticesKey) {
    for (const li of document.querySelectorAll("#notice-storage li[data-site]")) {
      const x = n.storageLow.find((y) => y.site === li.dataset.site);
      const figures = li.querySelector(".figures");
      if (x && figures && figures.textContent !== storageFigures(x)) figures.textContent = storageFigures(x);
    }
    return;
  }
  state.noticesKey = key;
  const notices = [];
  if (n.stopped) {
    notices.push(h("div", { class: "callout bad", id: "notice-stopped", role: "alert" },
      h("strong", null, "This site has stopped taking writes: its log says why, and an operator must act."),
      h("p", null, "A site stops for good on a failed durable write, a block under a rules version it does not support, " +
        "or a replica that diverged. Reads still work, but what this page shows may be stale.")));
  }
  if (n.removed) {
    notices.push(h("div", { class: "callout bad", id: "notice-removed", role: "alert" },
      h("strong", null, "This site was removed from the cluster: it takes no part in it any more."),
      h("p", null, "It refuses writes and current reads, and what this page shows stops at its last block. " +
        "Use another site of the consortium; an operator should stop this one, or add it again.")));
  }
  if (n.leaderless) {
    notices.push(h("div", { class: "callout warn", id: "notice-leaderless", role: "alert" },
      h("strong", null, "This site hears no leader: it refuses new transactions."),
      h("p", null, "It is cut off from the rest of the cluster, or the cluster has lost its majority. " +
        "Reads still work, but what this page shows may be behind the cluster. " +
        "Use another site of the consortium; this one takes transactions again once it hears a leader.")));
  }
  if (n.unreachableLeader !== null) {
    notices.push(h("div", { class: "callout warn", id: "notice-unreachable", role: "alert" },
      h("strong", null, "This site cannot reach its leader: it refuses new transactions."),
      h("p", null, "The leader, " + n.unreachableLeader + ", answers none of the transactions this site forwards to it, " +
        "though its messages still arrive: the link from this site to the leader is cut. Reads still work. " +
        "Use another site of the consortium; this one takes transactions again once the leader answers.")));
  }
  if (n.storageLow.length) {
    // The alert is the headline alone: the figures below it change at every refresh.
    notices.push(h("div", { class: "callout warn", id: "notice-storage" },
      h("strong", { role: "alert" }, "New transactions are paused: " + (n.storageLow.length === 1 ? "a site" : "sites") +
        " of the cluster " + (n.storageLow.length === 1 ? "is" : "are") + " low on disk space."),
      h("ul", null, n.storageLow.map((x) => h("li", { "data-site": x.site },
        h("strong", null, x.site), h("span", { class: "figures" }, storageFigures(x))))),
      h("p", null, "Reads, receipts and proofs go on. Writes resume by themselves once the site has room again.")));
  }
  if (n.diverged.length) {
    notices.push(h("div", { class: "callout bad", id: "notice-diverged", role: "alert" },
      h("strong", null, "The replicas diverged: " + (n.diverged.length + n.more === 1 ? "a member" : "members") +
        " signed another block than this site's at the same height."),
      h("ul", null, n.diverged.map((d) => h("li", { "data-site": d.site },
        h("strong", null, d.site), " at height ", blockLink(d.height, num(d.height)), ": this site's block ",
        HEX64.test(d.ours) ? blockLink(d.ours, shortHash(d.ours)) : h("code", { class: "short", title: d.ours }, shortHash(d.ours)),
        ", theirs ", h("code", { class: "short", title: d.theirs }, shortHash(d.theirs))))),
      n.more ? h("p", null, "And " + num(n.more) + (n.more === 1 ? " more member" : " more members") + "; /v1/status lists them all.") : null,
      h("p", null, "At most one of the chains can be the ledger: compare the sites' logs before trusting either.")));
  }
  if (n.stateDiverged.length) {
    notices.push(h("div", { class: "callout bad", id: "notice-state-diverged", role: "alert" },
      h("strong", null, "This site's contract state differs from " +
        (n.stateDiverged.length + n.stateMore === 1 ? "a member's" : "members'") + " at the same height."),
      h("ul", null, n.stateDiverged.map((d) => h("li", { "data-site": d.site },
        h("strong", null, d.site), " at height ", blockLink(d.height, num(d.height)), ": this site's state hash ",
        h("code", { class: "short", title: d.ours }, shortHash(d.ours)),
        ", theirs ", h("code", { class: "short", title: d.theirs }, shortHash(d.theirs))))),
      n.stateMore ? h("p", null, "And " + num(n.stateMore) + (n.stateMore === 1 ? " more member" : " more members") + "; /v1/status lists them all.") : null,
      h("p", null, "One of them holds a corrupted or edited state row: balances, revocations and grants read here may be wrong. " +
        "Blocks, receipts and proofs are not affected. An operator finds the row with task integrity --replay.")));
  }
  document.getElementById("notices").replaceChildren(...notices);
}

/**
 * The site answered: a status refresh succeeded or the event stream opened.
 * A view that failed because the site did not answer loads again, quietly
 * (focus stays where it is); at most once per failure, so a view that keeps
 * failing is tried again at the next status refresh, not in a loop.
 */
function siteAnswered() {
  if (!state.retryView) return;
  state.retryView = false;
  void route({ again: true, quiet: true });
}

/**
 * Shows the connection in the header; the live block list says the same
 * (see rangeText). The badge is a live region: words it already shows are
 * not written again, or a screen reader would read them again.
 */
function setLive(mode, text) {
  if (state.link.mode === mode && state.link.text === text) return;
  liveEl.className = "live " + mode;
  liveEl.textContent = text;
  state.link = { mode, text };
  if (state.list && state.list.live) updateListChrome(state.list);
}

/**
 * Reads the status into the header; returns whether the site answered. A
 * site that does not answer is "Offline" — a 401 "Authentication required":
 * it answers, but not without an API key. An open stream that has sent
 * nothing for STREAM_STALL_MS while the status went unanswered too is
 * stalled (a frozen site keeps its connections open): it is dropped.
 */
async function refreshStatus() {
  try {
    const s = await api("/v1/status");
    state.heardMs = Date.now();
    const before = state.status ? state.status.height : null;
    renderStatus(s);
    if (!state.live && liveEl.classList.contains("off")) setLive("poll", "Polling");
    siteAnswered();
    if (before !== null && s.height > before) await fetchNewBlocks(s.height);
    return true;
  } catch (e) {
    if (state.live && Date.now() - state.heardMs >= STREAM_STALL_MS) streamStalled();
    if (!state.live) setLive("off", e instanceof ApiError && e.status === 401 ? "Authentication required" : "Offline");
    if (!state.status) setText("st-ledger", "unavailable");
    return false;
  }
}

let statusTimer = 0;

/**
 * Refreshes the status after delayMs, then keeps polling: every POLL_MS
 * while the stream is down or the last refresh failed (so a stalled stream
 * is found within about STREAM_STALL_MS), else every STATUS_REFRESH_MS.
 */
function scheduleStatus(delayMs) {
  clearTimeout(statusTimer);
  statusTimer = setTimeout(async () => {
    const answered = await refreshStatus();
    scheduleStatus(state.live && answered ? STATUS_REFRESH_MS : POLL_MS);
  }, delayMs);
}

/** The stream went down: poll now rather than at the end of the live interval. */
function streamDown(label) {
  const wasLive = state.live;
  state.live = false;
  // "Offline" (the status poll failed too) stays until the site answers: the
  // stream's retries do not flip the badge, a live region, back and forth.
  if (state.link.mode !== "off") setLive("poll", label);
  if (wasLive) scheduleStatus(0);
}

let events = null; // the EventSource of startEvents

/**
 * The open stream is stalled (see refreshStatus): it is closed and a new one
 * opened, which opens once the site answers again; until then the page polls.
 */
function streamStalled() {
  events.close();
  state.live = false;
  startEvents();
}

function startEvents() {
  if (typeof EventSource !== "function") { setLive("poll", "Polling"); return; }
  const es = new EventSource("/v1/events");
  events = es;
  es.addEventListener("open", () => { state.live = true; state.heardMs = Date.now(); setLive("on", "Live"); siteAnswered(); });
  es.addEventListener("error", () => {
    // EventSource retries by itself while CONNECTING; polling covers the gap.
    streamDown(es.readyState === EventSource.CLOSED ? "Polling" : "Reconnecting…");
    if (es.readyState === EventSource.CLOSED) setTimeout(startEvents, 30000);
  });
  es.addEventListener("end", () => {
    state.heardMs = Date.now();
    es.close();
    streamDown("Polling");
    setTimeout(startEvents, 5000);
  });
  es.addEventListener("block", (ev) => {
    state.heardMs = Date.now();
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    if (!data || typeof data.height !== "number" || !data.header || typeof data.hash !== "string") return;
    onBlock({ hash: data.hash, header: data.header, txIds: Array.isArray(data.txs) ? data.txs.map((t) => t.txId) : [] });
  });
}

function onBlock(block) {
  const hd = block.header;
  if (state.status && hd.height > state.status.height) {
    renderStatus(Object.assign({}, state.status, { height: hd.height, logSize: hd.logSize }));
  }
  // A list paged back stays put; its count of newer blocks follows the status.
  const list = state.list;
  if (!list || !list.live) return;
  const top = listTop(list);
  if (top !== null && hd.height > top + 1) {
    // Blocks were missed (the stream opened late or dropped): fetch the gap.
    void fetchNewBlocks(hd.height);
    return;
  }
  insertBlocks(list, [block], true);
}

/** The newest height on the list, or null while it is empty. */
function listTop(list) {
  return list.blocks.length ? list.blocks[0].header.height : null;
}

/** Brings the live list up to block height: at most one page, fetched from /v1/blocks. */
async function fetchNewBlocks(height) {
  const list = state.list;
  if (!list || !list.live) return;
  const top = listTop(list);
  if (top !== null && height <= top) return;
  const from = Math.max(top === null ? 0 : top + 1, height - BLOCKS_PER_PAGE + 1);
  try {
    const page = await api("/v1/blocks?from=" + from + "&limit=" + BLOCKS_PER_PAGE);
    if (state.list !== list) return;
    // Too far behind to fill the gap: start the list over from the latest page.
    if (top === null || from > top + 1) list.blocks = [];
    insertBlocks(list, page.blocks, true);
  } catch { /* the next poll or event tries again */ }
}

/** Adds blocks to the list, newest first, keeping the newest BLOCKS_PER_PAGE of them. */
function insertBlocks(list, blocks, fresh) {
  const seen = new Set(list.blocks.map((b) => b.header.height));
  const added = new Set();
  for (const b of blocks) {
    if (!b || !b.header || !Number.isSafeInteger(b.header.height) || seen.has(b.header.height)) continue;
    seen.add(b.header.height);
    added.add(b.header.height);
    list.blocks.push(b);
  }
  if (added.size === 0) return;
  list.blocks.sort((a, b) => b.header.height - a.header.height);
  list.blocks.length = Math.min(list.blocks.length, BLOCKS_PER_PAGE);
  if (list.body) renderBlockRows(list, fresh ? added : new Set());
}

// ----- views ----------------------------------------------------------------------

function show(title, ...nodes) {
  document.title = title ? title + " · " + baseTitle : baseTitle;
  view.replaceChildren(...nodes.flat().filter(Boolean));
  // The view is here; what it still loads (a proof, a panel) says so in place.
  loadingDone();
  // After a navigation (not the first load), move focus to the new view, so
  // keyboard and screen-reader users land on what they asked for.
  if (state.focusOnShow) {
    state.focusOnShow = false;
    const target = view.querySelector("h2") || mainEl;
    if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus();
  }
}

/** A link to the live block list; it reloads the list even when it is the current route. */
function backHome() {
  return h("a", { href: "#/", id: "back-home", onclick: (ev) => { ev.preventDefault(); go("#/"); } }, "Back to the latest blocks");
}

/**
 * Shows a view that could not be shown: what failed (action, a sentence,
 * which also names the view: its heading and, without the full stop, the
 * page's title) and why, and a way back to the latest blocks unless they are
 * what failed. When the site
 * did not answer (notAnswered) it also offers "Try again", and the view
 * loads again by itself when the site next answers (siteAnswered).
 */
function showError(action, err) {
  const retry = notAnswered(err);
  state.retryView = retry;
  show(action.replace(/\.$/, ""), errorBox(action, err, true),
    retry ? h("p", { class: "muted small", id: "retry-note" }, "This page loads again by itself when the site answers.") : null,
    retry || !state.atHome ? h("p", { class: "error-links" },
      retry ? h("button", { type: "button", class: "secondary", id: "retry", onclick: () => void route({ again: true }) }, "Try again") : null,
      state.atHome ? null : backHome()) : null);
}

function markNav(name) {
  for (const a of document.querySelectorAll("nav a[data-nav]")) {
    if (a.dataset.nav === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function renderBlockRows(list, fresh) {
  const rows = list.blocks.map((b) => {
    const hd = b.header;
    const tr = h("tr", { class: "clickable" + (fresh.has(hd.height) ? " fresh" : ""), "data-height": hd.height },
      h("td", { class: "num" }, blockLink(hd.height, num(hd.height))),
      h("td", null, timeCell(hd.time)),
      h("td", { class: "num" }, num(hd.txCount)),
      h("td", null, h("code", { class: "short", title: String(b.hash) }, shortHash(b.hash))),
      h("td", { class: "hide-sm" }, String(hd.proposer)));
    tr.addEventListener("click", (ev) => {
      if (ev.target.closest("a")) return;
      go("#/block/" + hd.height);
    });
    return tr;
  });
  if (rows.length === 0) {
    // A site that joined from a snapshot may hold no blocks below its snapshot.
    rows.push(h("tr", null, h("td", { colspan: 5, class: "muted" }, list.live
      ? "No blocks yet."
      : "This site holds none of blocks " + num(list.page.bottom) + "–" + num(list.page.top) + ".")));
  }
  list.body.replaceChildren(...rows);
  updateListChrome(list);
}

/** The list's page, pagers, range and (paged back) count of newer blocks, for the current head. */
function updateListChrome(list) {
  const top = list.live ? listTop(list) : list.page.top;
  const known = state.status && Number.isSafeInteger(state.status.height) ? state.status.height : 0;
  const head = Math.max(known, top ?? 0);
  const page = blockPage(top ?? head, head, BLOCKS_PER_PAGE);
  if (list.live) list.page = page;
  const links = pagerHashes(list.page, head, BLOCKS_PER_PAGE, list.live);
  // A chain of one page has nowhere to page to: no pager at all.
  const none = Object.values(links).every((l) => l === null);
  for (const nav of list.pagers) {
    nav.hidden = none;
    nav.replaceChildren(
      pagerLink(links.latest, "latest", glyphed("«", "Latest")),
      pagerLink(links.newer, "newer", glyphed("‹", "Newer")),
      pagerLink(links.older, "older", glyphed(null, "Older", "›")),
      pagerLink(links.oldest, "oldest", glyphed(null, "Oldest", "»")));
  }
  // The heading of a page already names its range; the live list's moves.
  list.range.textContent = rangeText(list.page, head, list.live, state.link);
  if (list.live) return;
  const n = head - list.page.top;
  list.newer.replaceChildren(
    h("strong", null, n === 0 ? "No newer blocks yet" : glyphed("▲", num(n) + (n === 1 ? " newer block" : " newer blocks"))),
    n === 0 ? "; new ones are counted here as they arrive. " : " above this page; the newest is block " + num(head) + ". ",
    h("a", { href: "#/" }, "Show the latest blocks"));
}

/**
 * A pager item: a link to hash, or, when hash is null, a disabled link: a
 * screen reader says "link, unavailable" rather than reading plain text.
 * Without an href it is not in the tab order.
 */
function pagerLink(hash, name, label) {
  return hash === null
    ? h("a", { class: "off", role: "link", "aria-disabled": "true", "data-page": name }, label)
    : h("a", { href: hash, "data-page": name }, label);
}

/**
 * The block list. top null: the latest page at "#/", live (new blocks go on
 * top, the oldest row drops off). top a height: the fixed page whose newest
 * row is that block, at "#/blocks/{top}"; a top above the head shows the
 * head's page with a note that names asked, the height the route named
 * (digits, which may be beyond the safe integers). Either way at most
 * BLOCKS_PER_PAGE rows.
 */
async function showBlocks(top, signal, asked) {
  markNav("home");
  const status = await api("/v1/status", { signal });
  if (!status || !Number.isSafeInteger(status.height) || status.height < 0) {
    throw new Error("The site's status has no block height, so its blocks cannot be paged.");
  }
  renderStatus(status);
  const live = top === null;
  const page = blockPage(live ? status.height : top, status.height, BLOCKS_PER_PAGE);
  const res = await api("/v1/blocks?from=" + page.bottom + "&limit=" + (page.top - page.bottom + 1), { signal });
  if (signal.aborted) return;
  const list = {
    live,
    page,
    blocks: [],
    body: h("tbody"),
    pagers: [
      h("nav", { class: "pager", id: "pager-top", "aria-label": "Block pages" }),
      h("nav", { class: "pager", id: "pager-bottom", "aria-label": "Block pages, bottom" }),
    ],
    range: h("p", { id: "blocks-range", class: "muted small" }),
    newer: h("p", { id: "blocks-newer", class: "callout info slim" }),
  };
  // Only what /v1/blocks returned for this page, newest first.
  insertBlocks(list, (Array.isArray(res.blocks) ? res.blocks : []).filter((b) =>
    b && b.header && b.header.height >= page.bottom && b.header.height <= page.top), false);

  const jumpInput = h("input", { id: "jump-h", name: "height", type: "text", inputmode: "numeric", autocomplete: "off",
    spellcheck: "false", placeholder: "Height", "aria-describedby": "jump-msg" });
  const jumpMsg = h("p", { id: "jump-msg", class: "jump-msg", role: "status", "aria-live": "polite" });
  const jump = h("form", { id: "jump", class: "jump", novalidate: true, "aria-label": "Go to a block height" },
    h("label", { for: "jump-h" }, "Go to height"), jumpInput, h("button", { type: "submit", class: "secondary" }, "Go"));
  jump.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const r = jumpTarget(jumpInput.value, state.status ? state.status.height : null);
    if (r.hash) { jumpMsg.textContent = ""; go(r.hash); return; }
    if (r.error === "ahead") jumpMsg.replaceChildren(...notYet(r.digits, state.status ? state.status.height : null, "latest"));
    else jumpMsg.textContent = "Enter a block height: a whole number such as 12.";
  });
  const clamped = !live && top > page.top
    ? h("p", { class: "callout warn slim", id: "blocks-clamped" }, aheadText(asked ?? String(top), status.height) + " This page starts there.")
    : null;
  const heading = live ? "Latest blocks" : rangeLabel(page);
  const listPanel = h("section", { class: "panel", "aria-labelledby": "blocks-h" },
    h("div", { class: "list-head" }, h("h2", { id: "blocks-h" }, heading), list.range),
    live ? null : list.newer,
    clamped,
    h("div", { class: "list-bar" }, list.pagers[0], jump),
    jumpMsg,
    h("div", { class: "table-wrap" },
      h("table", { id: "blocks", "aria-labelledby": "blocks-h", "data-live": live ? "true" : "false" },
        h("thead", null, h("tr", null,
          h("th", { scope: "col", class: "num" }, "Height"),
          h("th", { scope: "col" }, "Time (UTC)"),
          h("th", { scope: "col", class: "num" }, "Txs"),
          h("th", { scope: "col" }, "Hash"),
          h("th", { scope: "col", class: "hide-sm" }, "Proposer"))),
        list.body)),
    h("div", { class: "list-foot" }, list.pagers[1]));
  state.list = list;
  renderBlockRows(list, new Set());

  const cpPanel = h("section", { class: "panel", "aria-labelledby": "cp-h" }, h("h2", { id: "cp-h" }, "Checkpoint"), h("p", { class: "muted" }, "Loading…"));
  const sitesPanel = h("section", { class: "panel", "aria-labelledby": "sites-h" }, h("h2", { id: "sites-h" }, "Sites"), h("p", { class: "muted" }, "Loading…"));
  show(listTitle(page, live), h("div", { class: "grid" }, listPanel, h("div", null, cpPanel, sitesPanel)));
  // A block that arrived while this page loaded moved the head past the list.
  if (live && state.status && state.status.height > (listTop(list) ?? -1)) void fetchNewBlocks(state.status.height);

  let siteList = null;
  let sitesError = null;
  try {
    siteList = (await api("/v1/sites", { signal })).sites;
  } catch (e) {
    sitesError = e;
  }
  if (signal.aborted) return;
  if (siteList) {
    sitesPanel.replaceChildren(h("h2", { id: "sites-h" }, "Sites"),
      h("ul", { class: "plain" }, siteList.map((s) => h("li", null, h("strong", null, String(s.name)), " ", siteUrl(s.url, "muted small")))),
      h("p", null, h("a", { href: "#/sites" }, "Verifier keys")));
  } else {
    sitesPanel.replaceChildren(h("h2", { id: "sites-h" }, "Sites"), errorBox("Cannot load the sites.", sitesError));
  }
  // Signatures are checked against the sites' keys; new blocks refresh it (debounced).
  await renderCheckpointPanel(cpPanel, siteList, signal);
  if (signal.aborted) return;
  let timer = 0;
  state.onNewBlocks = () => {
    clearTimeout(timer);
    timer = setTimeout(() => { if (!signal.aborted) void renderCheckpointPanel(cpPanel, siteList, signal); }, CHECKPOINT_REFRESH_DELAY_MS);
  };
}

/** Shows the latest checkpoint's summary in the home page's panel; never throws. */
async function renderCheckpointPanel(panel, siteList, signal) {
  const head = h("h2", { id: "cp-h" }, "Checkpoint");
  let text;
  try {
    text = await api("/v1/checkpoint", { text: true, signal });
  } catch (e) {
    if (!signal.aborted) panel.replaceChildren(head, errorBox("Cannot load the checkpoint.", e));
    return;
  }
  let note;
  try { note = parseCheckpoint(text); } catch (e) {
    panel.replaceChildren(head, errorBox("Cannot read the checkpoint.", e));
    return;
  }
  const checks = siteList ? await checkNoteSignatures(note, siteList) : null;
  const height = note.extensions.map((l) => /^height (\d+)$/.exec(l)).find(Boolean);
  panel.replaceChildren(head,
    kv([
      ["Tree size", num(note.size)],
      ["Height", height ? blockLink(height[1]) : undefined],
      ["Root", h("code", { class: "short", title: bytesToHex(note.root) }, shortHash(bytesToHex(note.root)))],
      ["Signatures", checks ? signatureSummary(checks, siteList.length) : num(note.sigs.length)],
    ]),
    h("p", null, h("a", { href: "#/checkpoint" }, "Show the signed note")));
}

/**
 * A checkpoint extension line; the tlog-checkpoint lines "height N" and
 * "block HASH" link to that block.
 */
function extensionLine(line) {
  const m = /^(height|block) (\S+)$/.exec(line);
  const link = m && (m[1] === "height" ? DECIMAL.test(m[2]) && parseHeight(m[2]) !== null : HEX64.test(m[2]));
  return link ? h("code", null, m[1] + " ", blockLink(m[2])) : h("code", null, line);
}

/**
 * The verdict on a checkpoint's signature lines (checks, from
 * checkNoteSignatures) in words about sites, not lines: which member sites'
 * signatures verify, whether every line does, and the quorum of siteCount.
 */
function signatureSummary(checks, siteCount) {
  const unchecked = checks.filter((c) => c.result === "unchecked").length;
  if (unchecked > 0) return h("span", null, checks.length + " (not checked: this browser has no Ed25519)");
  const names = [...new Set(checks.filter((c) => c.result === "verified").map((c) => String(c.sig.name)))];
  const failed = checks.filter((c) => c.result !== "verified").length;
  const quorum = siteQuorum(siteCount);
  const cls = failed === 0 && names.length >= quorum ? "ok" : names.length > 0 ? "warn" : "bad";
  const sites = names.length === 0 ? "no site" : names.length + (names.length === 1 ? " site (" : " sites (") + names.join(", ") + ")";
  const lines = failed === 0 ? "all signatures verify"
    : failed + " of " + checks.length + (checks.length === 1 ? " signature" : " signatures") + (failed === 1 ? " does" : " do") + " not verify";
  return h("span", { class: "badge " + cls, id: "sig-summary" }, (cls === "ok" ? "✓ " : "✗ ") + "signed by " + sites + ", " + lines +
    (siteCount ? " · a quorum is " + quorum + " of " + siteCount + " sites" : ""));
}

/** Signatures a checkpoint needs from n sites: a majority (at least 1). */
function siteQuorum(n) {
  return Math.floor((n || 0) / 2) + 1;
}

function siteUrl(url, cls) {
  let u = null;
  try { u = new URL(String(url)); } catch { u = null; }
  if (u && (u.protocol === "http:" || u.protocol === "https:")) return h("a", { href: u.href, class: cls, rel: "noopener noreferrer" }, u.href);
  return h("span", { class: cls }, String(url));
}

async function showBlockPage(ref, signal) {
  const r = readHeight(ref);
  if (r === null) {
    markNav("home");
    showError("Cannot show the blocks below " + JSON.stringify(ref) + ".",
      new Error("A page of the block list is named by the height of its newest block, a decimal."));
    return;
  }
  // A height beyond the safe integers is above any head: the head's page, with the note.
  if (r.beyond !== undefined) await showBlocks(Number.MAX_SAFE_INTEGER, signal, r.beyond);
  else await showBlocks(r.height, signal, String(r.height));
}

/**
 * What the search box and "go to height" say of a height no block has
 * (aheadText), with a link to the newest: to the latest blocks when to is
 * "latest", else to the newest block itself. No link while head is null.
 */
function notYet(digits, head, to) {
  if (head === null) return [aheadText(digits, null)];
  return [aheadText(digits, head), " ", to === "latest"
    ? h("a", { href: "#/", "data-newest": "" }, "Show the latest blocks")
    : h("a", { href: "#/block/" + head, "data-newest": "" }, "Show block " + num(head))];
}

/**
 * Shows that no block has height digits yet, with a link to the newest, when
 * the site's status (read now, as the head moves) says digits is above its
 * head; returns true then. Returns false, showing nothing, when the head is
 * at or above digits: the block is missing, not ahead, and the caller says so.
 */
async function showNoBlock(digits, signal) {
  const status = await api("/v1/status", { signal });
  if (signal.aborted) return true;
  if (!status || !Number.isSafeInteger(status.height) || status.height < 0) return false;
  renderStatus(status);
  const n = Number(digits);
  if (Number.isSafeInteger(n) && n <= status.height) return false;
  const label = heightLabel(digits);
  show("Block " + label,
    h("section", { class: "panel", "aria-labelledby": "view-h" },
      h("h2", { id: "view-h", tabindex: "-1" }, "Block " + label),
      h("p", { class: "callout warn", id: "no-block" }, aheadText(digits, status.height)),
      h("p", { class: "error-links" },
        h("a", { href: "#/block/" + status.height, "data-newest": "" }, "Show block " + num(status.height)),
        backHome())));
  return true;
}

async function showBlock(ref, signal) {
  markNav("");
  const hex = ref.toLowerCase();
  const r = HEX64.test(hex) ? null : readHeight(ref);
  if (r === null && !HEX64.test(hex)) {
    showError("Cannot show block " + JSON.stringify(ref) + ".",
      new Error("A block is named by its height (a decimal) or its hash (64 hex characters)."));
    return;
  }
  // No block has a height beyond the safe integers: the site is not asked for one.
  if (r !== null && r.beyond !== undefined) {
    if (!await showNoBlock(r.beyond, signal)) throw new Error("The site's status has no block height.");
    return;
  }
  let block;
  try {
    block = await api(r !== null ? "/v1/blocks/" + r.height : "/v1/blocks/by-hash/" + hex, { signal });
  } catch (e) {
    // A height above the head is not missing, only not there yet.
    if (r !== null && e instanceof ApiError && e.status === 404 && await showNoBlock(String(r.height), signal)) return;
    throw e;
  }
  const hd = block.header;
  const tip = state.status ? state.status.height : null;
  const pager = h("nav", { class: "pager", "aria-label": "Neighbouring blocks" },
    hd.height > 0 ? blockLink(hd.height - 1, glyphed("←", "Block " + num(hd.height - 1))) : null,
    tip === null || hd.height < tip ? blockLink(hd.height + 1, glyphed(null, "Block " + num(hd.height + 1), "→")) : null,
    Number.isSafeInteger(hd.height) && hd.height >= 0
      ? h("a", { href: "#/blocks/" + hd.height, "data-page": "list" }, "Show in the block list")
      : null);
  const prev = hd.height > 0 && HEX64.test(String(hd.prev))
    ? blockLink(hd.prev)
    : h("span", { class: "hash muted" }, String(hd.prev) || "none (genesis)");
  const firstIndex = hd.logSize - block.txIds.length;
  // Past TX_DETAILS_MAX rows kind and result are not fetched: a dash says so, in words for a screen reader.
  const notLookedUp = () => [h("span", { class: "muted", "aria-hidden": "true", title: NOT_LOOKED_UP }, "—"),
    h("span", { class: "sr-only" }, NOT_LOOKED_UP)];
  const rows = block.txIds.map((id, i) => h("tr", { "data-tx": id },
    h("td", { class: "num" }, num(firstIndex + i)),
    h("td", { class: "txid" }, txLinkShortSm(id)),
    h("td", { class: "kind hide-sm" }, i < TX_DETAILS_MAX ? h("span", { class: "muted" }, "…") : notLookedUp()),
    h("td", { class: "result" }, i < TX_DETAILS_MAX ? "" : notLookedUp())));
  const txTable = block.txIds.length === 0
    ? h("p", { class: "muted" }, "This block has no transactions.")
    : h("div", { class: "table-wrap" }, h("table", { id: "block-txs" },
      h("caption", { class: "sr-only" }, "Transactions of block " + hd.height),
      h("thead", null, h("tr", null,
        h("th", { scope: "col", class: "num" }, "Log index"),
        h("th", { scope: "col" }, "Transaction id"),
        h("th", { scope: "col", class: "hide-sm" }, "Kind"),
        h("th", { scope: "col" }, "Result", h("span", { class: "show-sm" }, " and kind")))),
      h("tbody", null, rows)));
  show("Block " + hd.height,
    h("section", { class: "panel", "aria-labelledby": "view-h" },
      h("h2", { id: "view-h", tabindex: "-1" }, "Block " + num(hd.height)),
      pager,
      kv([
        ["Hash", hashCode(block.hash)],
        ["Previous", prev],
        ["Time", timeEl(hd.time)],
        ["Proposer", String(hd.proposer)],
        ["Term", num(hd.term)],
        ["Transactions", num(hd.txCount)],
        ["Log size", num(hd.logSize)],
        ["Log root", hashCode(hd.logRoot)],
        ["Ledger", String(hd.ledger)],
        ["Header version", String(hd.v)],
      ]),
      h("h3", null, "Transactions (" + num(block.txIds.length) + ")"),
      block.txIds.length > TX_DETAILS_MAX
        ? h("p", { class: "muted small", id: "txs-partial" }, "Kind and result shown for the first " + num(TX_DETAILS_MAX) +
          "; open a transaction for the rest.")
        : null,
      txTable));
  // Fill kind and result in, a few requests at a time.
  const todo = rows.slice(0, TX_DETAILS_MAX);
  const worker = async () => {
    while (todo.length && !signal.aborted) {
      const tr = todo.shift();
      const id = tr.getAttribute("data-tx");
      try {
        const t = await api("/v1/txs/" + id, { signal });
        const kind = String(t.tx && t.tx.kind);
        tr.querySelector(".kind").replaceChildren(h("code", null, kind));
        // On a narrow screen the kind column hides and the kind goes under the result.
        tr.querySelector(".result").replaceChildren(resultBadge(t.receipt), h("span", { class: "kind-sm" }, h("code", null, kind)));
      } catch (e) {
        if (e && e.name === "AbortError") return;
        tr.querySelector(".kind").replaceChildren(h("span", { class: "muted" }, "unavailable"));
      }
    }
  };
  await Promise.all(Array.from({ length: TX_FETCH_CONCURRENCY }, worker));
}

function resultBadge(receipt) {
  const r = receipt && receipt.result;
  if (r && r.status === "applied") return h("span", { class: "badge ok" }, "✓ applied");
  if (r && r.status === "rejected") return h("span", { class: "badge bad", title: r.detail ? String(r.detail) : null }, "✗ rejected" + (r.code ? ": " + r.code : ""));
  return h("span", { class: "badge warn" }, String(receipt ? receipt.status : "unknown"));
}

async function showTx(id, signal) {
  markNav("");
  if (!HEX64.test(id)) {
    showError("Cannot show transaction " + JSON.stringify(id) + ".", new Error("A transaction id is 64 hex characters."));
    return;
  }
  const { tx, receipt } = await api("/v1/txs/" + id, { signal });
  const r = receipt.result;
  let banner;
  if (receipt.status === "committed" && r && r.status === "applied") {
    banner = h("div", { class: "callout ok", id: "tx-result" }, h("strong", null, "✓ Applied"),
      h("p", null, "Committed in block ", blockLink(receipt.height), " at log index " + num(receipt.logIndex) + "."));
  } else if (receipt.status === "committed" && r && r.status === "rejected") {
    banner = h("div", { class: "callout bad", id: "tx-result" }, h("strong", null, "✗ Rejected" + (r.code ? " (" + r.code + ")" : "")),
      h("p", null, r.detail ? String(r.detail) : "The transaction was ordered but its contract refused it; it changed no state."),
      h("p", null, "Recorded in block ", blockLink(receipt.height), " at log index " + num(receipt.logIndex) + "."));
  } else if (receipt.status === "pending") {
    banner = h("div", { class: "callout warn", id: "tx-result" }, h("strong", null, "Pending"),
      h("p", null, "Admitted by a site, not yet in a block."));
  } else {
    banner = h("div", { class: "callout warn", id: "tx-result" }, h("strong", null, String(receipt.status)));
  }
  const expires = typeof tx.expiresAt === "number"
    ? h("span", null, timeEl(tx.expiresAt), tx.expiresAt < Date.now() ? h("span", { class: "muted" }, " (in the past)") : null)
    : null;
  const signers = Array.isArray(tx.signers)
    ? h("ul", { class: "plain" }, tx.signers.map((s) => h("li", null, h("code", { class: "hash" }, String(s)))))
    : null;
  const proofPanel = h("section", { class: "panel", id: "proof", "aria-labelledby": "proof-h" },
    h("h2", { id: "proof-h" }, "Inclusion proof"),
    h("p", { class: "muted", "aria-busy": "true" }, "Verifying…"));
  show("Transaction " + id.slice(0, 10),
    h("section", { class: "panel", "aria-labelledby": "view-h" },
      h("h2", { id: "view-h", tabindex: "-1" }, "Transaction"),
      h("p", null, hashCode(id)),
      banner,
      kv([
        ["Kind", h("code", null, String(tx.kind))],
        ["Block", receipt.height === undefined ? "—" : blockLink(receipt.height)],
        ["Log index", receipt.logIndex === undefined ? "—" : num(receipt.logIndex)],
        ["Signers", signers],
        ["Expires", expires],
        ["Nonce", tx.nonce === undefined ? undefined : h("code", null, String(tx.nonce))],
        ["Ledger", String(tx.ledger)],
        ["Signatures", Array.isArray(tx.sigs) ? num(tx.sigs.length) : "—"],
      ]),
      h("h3", null, "Body"),
      json(tx.body, "Body"),
      h("details", null, h("summary", null, "Receipt"), json(receipt, "Receipt")),
      h("details", null, h("summary", null, "Signed envelope"), json(tx, "Signed envelope"))),
    proofPanel,
    // The verdict comes after the view shows: this live region, there from the start, says it.
    h("p", { class: "sr-only", role: "status", id: "proof-said" }));
  await renderProof(proofPanel, id, receipt, signal);
}

async function renderProof(panel, id, receipt, signal) {
  const head = h("h2", { id: "proof-h" }, "Inclusion proof");
  if (receipt.status !== "committed" || typeof receipt.logIndex !== "number") {
    panel.replaceChildren(head, h("p", { class: "muted" }, "Not in the log yet, so there is no inclusion proof."));
    return;
  }
  let note;
  try {
    note = parseCheckpoint(await api("/v1/checkpoint", { text: true, signal }));
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    panel.replaceChildren(head, errorBox("Cannot load the checkpoint to verify against.", e));
    return;
  }
  if (receipt.logIndex >= note.size) {
    panel.replaceChildren(head, h("p", null, "The latest checkpoint covers " + num(note.size) +
      " log entries; this transaction is entry " + num(receipt.logIndex) + ". Reload once a newer checkpoint is signed."));
    return;
  }
  let proof;
  try {
    proof = await api("/v1/txs/" + id + "/proof?treeSize=" + note.size, { signal });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    panel.replaceChildren(head, errorBox("Cannot load the inclusion proof.", e));
    return;
  }
  const sites = await api("/v1/sites", { signal }).then((s) => s.sites, () => null);
  const v = await verifyProof(id, receipt, proof, note, sites);
  if (signal.aborted) return;
  const ok = v.checks.every((c) => c.ok);
  const words = ok
    ? "Verified: included in the checkpointed log of " + num(note.size) + (note.size === 1 ? " entry" : " entries")
    : "Not verified: this proof does not show the transaction in the checkpointed log";
  const verdict = h("p", { class: "verdict callout " + (ok ? "ok" : "bad"), id: "proof-verdict", "data-testid": "proof-verdict" },
    h("span", { class: "mark", "aria-hidden": "true" }, ok ? "✓" : "✗"),
    h("span", null, words));
  const pathItems = (Array.isArray(proof.proof) ? proof.proof : []).map((p, i) =>
    h("li", null, h("code", { class: "hash" }, String(p)), h("span", { class: "muted small" }, v.sides[i] ? " (" + v.sides[i] + ")" : "")));
  panel.replaceChildren(head, verdict,
    h("ul", { class: "checks", "aria-label": "Checks" }, v.checks.map((c) =>
      h("li", null, h("span", { class: c.ok ? "ok" : "bad" }, c.ok ? "✓ " : "✗ "), c.label, c.detail ? h("span", { class: "muted" }, " — " + c.detail) : null))),
    kv([
      ["Log index", num(proof.logIndex)],
      ["Tree size", num(proof.treeSize)],
      ["Leaf hash", v.leafHash ? hashCode(v.leafHash) : "—"],
      ["Computed root", v.computedRoot ? hashCode(v.computedRoot) : h("span", { class: "muted" }, "none: the path does not fit the tree")],
      ["Checkpoint root", hashCode(bytesToHex(note.root))],
      ["Checkpoint origin", String(note.origin)],
    ]),
    h("h3", null, "Audit path (" + (pathItems.length === 1 ? "1 hash" : pathItems.length + " hashes") + ", leaf to root)"),
    pathItems.length ? h("ol", { class: "path", start: "1" }, pathItems) : h("p", { class: "muted" }, "Empty: the tree has one leaf."),
    v.leafJson !== undefined ? h("details", null, h("summary", null, "Leaf data (the logged transaction and result)"), json(v.leafJson, "Leaf data")) : null,
    h("p", { class: "muted small" }, "Checked in this browser: leaf hash SHA-256(0x00‖leaf), nodes SHA-256(0x01‖left‖right), RFC 9162 §2.1.3.2."));
  const said = document.getElementById("proof-said");
  if (said) said.textContent = words;
}

/** Runs every check of an inclusion proof; each check says what it proves. */
async function verifyProof(id, receipt, proof, note, sites) {
  const checks = [];
  const out = { checks, sides: [], leafHash: null, computedRoot: null, leafJson: undefined };
  // The root proven against is only as good as the signatures on it.
  const sigs = sites ? await checkNoteSignatures(note, sites) : [];
  const signers = new Set(sigs.filter((c) => c.result === "verified").map((c) => c.sig.name));
  const quorum = siteQuorum(sites ? sites.length : 0);
  checks.push({
    ok: !!sites && signers.size >= quorum,
    label: "Checkpoint signed by a quorum of the sites",
    detail: !sites ? "cannot read the sites' keys"
      : sigs.some((c) => c.result === "unchecked") ? "this browser cannot check Ed25519"
      : signers.size + " of " + sites.length + " sites, a quorum is " + quorum,
  });
  checks.push({ ok: proof.treeSize === note.size, label: "Proof is for the checkpoint's tree size", detail: "proof " + proof.treeSize + ", checkpoint " + note.size });
  checks.push({ ok: proof.logIndex === receipt.logIndex, label: "Proof is for the receipt's log index", detail: String(proof.logIndex) });
  let leaf = null;
  try { leaf = b64ToBytes(proof.leaf, true); } catch { leaf = null; }
  let path = null;
  try { path = proof.proof.map((p) => hexToBytes(p)); } catch { path = null; }
  if (!leaf || !path) {
    checks.push({ ok: false, label: "Proof is well-formed", detail: !leaf ? "leaf is not base64url" : "path is not a list of hex hashes" });
    return out;
  }
  try {
    const parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(leaf));
    out.leafJson = parsed;
    const leafId = parsed && parsed.tx ? await transactionId(parsed.tx) : null;
    checks.push({ ok: leafId === id, label: "Leaf holds this transaction (id recomputed from the leaf)", detail: leafId === id ? null : "leaf is transaction " + (leafId ? shortHash(leafId) : "none") });
    // The result shown above comes from the receipt; the proven one is in the leaf.
    const same = !!parsed && parsed.result !== undefined && receipt.result !== undefined && canonical(parsed.result) === canonical(receipt.result);
    checks.push({ ok: same, label: "Leaf records the result the receipt shows", detail: same ? null : "the log says " + JSON.stringify(parsed && parsed.result && parsed.result.status) });
  } catch {
    checks.push({ ok: false, label: "Leaf holds this transaction", detail: "leaf is not UTF-8 JSON" });
  }
  const lh = await leafHash(leaf);
  out.leafHash = bytesToHex(lh);
  // Which side each sibling sits on, for display (mirrors the loop below).
  let fn = proof.logIndex, sn = proof.treeSize - 1;
  for (let i = 0; i < path.length && sn > 0; i++) {
    if (fn % 2 === 1 || fn === sn) {
      out.sides.push("left sibling");
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else out.sides.push("right sibling");
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  const root = await rootFromInclusionProof(lh, proof.logIndex, proof.treeSize, path);
  out.computedRoot = root ? bytesToHex(root) : null;
  checks.push({ ok: !!root && equalBytes(root, note.root), label: "Audit path leads to the checkpoint's root", detail: root ? null : "the path does not fit the tree" });
  return out;
}

async function showCheckpoint(signal) {
  markNav("checkpoint");
  const [text, sites] = await Promise.all([
    api("/v1/checkpoint", { text: true, signal }),
    api("/v1/sites", { signal }).then((s) => s.sites, () => null),
  ]);
  let parsed = null, err = null;
  try { parsed = parseCheckpoint(text); } catch (e) { err = e; }
  const checks = parsed ? await checkNoteSignatures(parsed, sites) : [];
  if (signal.aborted) return;
  const LABELS = { verified: ["ok", "✓ verified"], bad: ["bad", "✗ bad signature"], unknown: ["warn", "unknown key"], unvouched: ["warn", "retired key, height not vouched for"], malformed: ["bad", "✗ malformed line"], unchecked: ["warn", "not checked"] };
  show("Checkpoint",
    h("section", { class: "panel", "aria-labelledby": "view-h" },
      h("h2", { id: "view-h", tabindex: "-1" }, "Checkpoint"),
      h("p", { class: "muted" }, "The latest co-signed checkpoint of the log: a C2SP signed note. Signatures are checked in this browser against the sites' verifier keys."),
      err ? errorBox("Cannot read the checkpoint.", err) : kv([
        ["Origin", String(parsed.origin)],
        ["Tree size", num(parsed.size)],
        ["Root (hex)", hashCode(bytesToHex(parsed.root))],
        ["Extensions", parsed.extensions.length ? h("ul", { class: "plain", id: "note-extensions" }, parsed.extensions.map((l) => h("li", null, extensionLine(l)))) : "none"],
        ["Signatures", signatureSummary(checks, sites ? sites.length : 0)],
      ]),
      checks.length ? h("h3", { id: "sigs-h" }, "Signature lines") : null,
      checks.length ? h("div", { class: "table-wrap" }, h("table", { id: "note-sigs", "aria-labelledby": "sigs-h" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "Signer"), h("th", { scope: "col" }, "Key hash"), h("th", { scope: "col" }, "Check"))),
        h("tbody", null, checks.map((c) => h("tr", null,
          h("td", null, c.sig.name ? String(c.sig.name) : h("code", null, c.sig.line)),
          h("td", null, c.sig.keyHash ? h("code", null, c.sig.keyHash) : "—"),
          h("td", null, h("span", { class: "badge " + LABELS[c.result][0] }, LABELS[c.result][1]),
            c.result === "unvouched"
              ? h("span", { class: "muted small" }, " the site says this key signed up to block ", blockLink(String(c.retiredUntil)), "; no later key of it signed that")
              : c.retiredUntil !== undefined ? h("span", { class: "muted small" }, " by a key the site retired after block ", blockLink(String(c.retiredUntil))) : null)))))) : null,
      h("h3", null, "Signed note"),
      scrollBox({ id: "note-text" }, "Signed note", text)));
}

async function showSites(signal) {
  markNav("sites");
  const { sites } = await api("/v1/sites", { signal });
  // Each member's rotations: which keys it retired, and the last block each signed.
  const histories = await Promise.all(sites.map((s) =>
    api("/v1/sites/" + encodeURIComponent(String(s.name)) + "/keys", { signal }).catch(() => null)));
  // Whether each retired key's last block is vouched for by a later key of its site.
  const vouched = await Promise.all(histories.map((k, i) =>
    k && Array.isArray(k.retired)
      ? Promise.all(k.retired.map((r) => retirementVouched(String(sites[i].name), r, k)))
      : null));
  if (signal.aborted) return;
  show("Sites",
    h("section", { class: "panel", "aria-labelledby": "view-h" },
      h("h2", { id: "view-h", tabindex: "-1" }, "Sites"),
      h("p", { class: "muted" }, "The consortium's member sites. A verifier key (name+hash+key) checks that site's checkpoint signatures; a site that rotated its key signed the blocks up to each rotation with the key it retired then (each rotation is signed by the old key and the new one, and the last block of the retired key by a later one: only such a vouched-for key counts on the checkpoint page)."),
      h("div", { class: "table-wrap" }, h("table", { id: "sites", "aria-labelledby": "view-h" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "URL"), h("th", { scope: "col" }, "Verifier key"), h("th", { scope: "col" }, "Retired keys"))),
        h("tbody", null, sites.map((s, i) => h("tr", { "data-site": String(s.name) },
          h("td", null, h("strong", null, String(s.name)), state.status && s.name === state.status.site ? h("span", { class: "muted small" }, " (this site)") : null),
          h("td", null, siteUrl(s.url)),
          h("td", null, h("code", { class: "hash" }, String(s.verifierKey))),
          h("td", { class: "retired" }, retiredKeys(histories[i], vouched[i])))))))));
}

/**
 * A member's retired keys (GET /v1/sites/{name}/keys), each with the last block it signed
 * and whether a later key of the site vouched for that block (vouched[i]).
 */
function retiredKeys(keys, vouched) {
  if (!keys || !Array.isArray(keys.retired)) return h("span", { class: "muted" }, "—");
  if (keys.retired.length === 0) return h("span", { class: "muted" }, "none (never rotated)");
  return h("ul", { class: "plain" }, keys.retired.map((r, i) => h("li", null,
    h("code", { class: "hash" }, String(r.verifierKey)),
    h("span", { class: "muted small" }, " signed blocks up to "), blockLink(String(r.untilHeight)),
    vouched && vouched[i]
      ? h("span", { class: "muted small" }, " (vouched for by its later key)")
      : h("span", { class: "muted small" }, " (not vouched for by a later key yet)"))));
}

// ----- routing and search -----------------------------------------------------------

let navController = null;
let loadingTimer = 0;

/** Takes the "Loading…" note of a navigation down, or keeps it from showing. */
function loadingDone() {
  clearTimeout(loadingTimer);
  if (loadingEl.textContent !== "") loadingEl.textContent = "";
}

/**
 * Shows the view of the route in location.hash. opts.again: load the route
 * last shown (or failed) again, whatever the fragment now is; opts.quiet:
 * keep the focus where it is (a reload the user did not ask for).
 */
async function route(opts) {
  // Routes are "#/..."; any other fragment (the skip link's "#main") is not a
  // page, so keep the current view (or show the home page on first load).
  const again = !!(opts && opts.again);
  const hash = again ? state.routeHash : location.hash.startsWith("#/") || state.firstRoute ? location.hash : null;
  if (hash === null) return;
  state.routeHash = hash;
  state.retryView = false;
  if (navController) navController.abort();
  const controller = new AbortController();
  navController = controller;
  const signal = controller.signal;
  state.list = null;
  state.onNewBlocks = null;
  let parts;
  try {
    parts = (hash.startsWith("#/") ? hash : "#/").slice(1).split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    parts = ["?"];
  }
  state.focusOnShow = !state.firstRoute && !(opts && opts.quiet);
  state.atHome = parts.length === 0 || (parts[0] === "blocks" && parts.length === 1);
  // The first view's placeholder says "Loading…" already; a later one keeps the old view meanwhile.
  loadingDone();
  if (!state.firstRoute) {
    loadingTimer = setTimeout(() => { if (navController === controller) loadingEl.textContent = "Loading…"; }, LOADING_NOTE_DELAY_MS);
  }
  state.firstRoute = false;
  view.setAttribute("aria-busy", "true");
  try {
    if (parts.length === 0 || (parts[0] === "blocks" && parts.length === 1)) await showBlocks(null, signal);
    else if (parts[0] === "blocks" && parts.length === 2) await showBlockPage(parts[1], signal);
    else if (parts[0] === "block" && parts.length === 2) await showBlock(parts[1], signal);
    else if (parts[0] === "tx" && parts.length === 2) await showTx(parts[1].toLowerCase(), signal);
    else if (parts[0] === "checkpoint" && parts.length === 1) await showCheckpoint(signal);
    else if (parts[0] === "sites" && parts.length === 1) await showSites(signal);
    else {
      markNav("");
      showError("There is no such page.", new Error("Try a block height, a block hash or a transaction id in the search box."));
    }
  } catch (e) {
    if (signal.aborted || (e && e.name === "AbortError")) return;
    const what = parts[0] === "block" ? "block " + parts[1] : parts[0] === "tx" ? "transaction " + shortHash(parts[1])
      : parts[0] === "blocks" || parts.length === 0 ? "the blocks"
      : parts[0] === "checkpoint" ? "the checkpoint" : parts[0] === "sites" ? "the sites" : "this page";
    showError("Cannot show " + what + ".", e);
  } finally {
    if (navController === controller) {
      view.removeAttribute("aria-busy");
      loadingDone();
    }
  }
}

async function search(raw) {
  searchMsg.textContent = "";
  const head = state.status && Number.isSafeInteger(state.status.height) ? state.status.height : null;
  const target = searchTarget(raw, head);
  if (target === null) return;
  const input = document.getElementById("q");
  if (target.hash) { input.value = ""; go(target.hash); return; }
  if (target.error === "ahead") { searchMsg.replaceChildren(...notYet(target.digits, head, "block")); return; }
  if (target.error) {
    searchMsg.textContent = "Enter a block height (e.g. 12), a block hash or a transaction id (64 hex characters).";
    return;
  }
  const hex = target.hex;
  try {
    await api("/v1/txs/" + hex);
    input.value = "";
    go("#/tx/" + hex);
    return;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) { searchMsg.textContent = "Cannot search: " + e.message; return; }
  }
  try {
    await api("/v1/blocks/by-hash/" + hex);
    input.value = "";
    go("#/block/" + hex);
  } catch (e) {
    searchMsg.textContent = e instanceof ApiError && e.status === 404
      ? "Nothing found: no transaction or block has the id " + shortHash(hex) + "."
      : "Cannot search: " + e.message;
  }
}

// The skip link moves focus without touching the route in location.hash.
document.querySelector(".skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  mainEl.focus();
});
document.getElementById("search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void search(document.getElementById("q").value);
});
window.addEventListener("hashchange", () => { searchMsg.textContent = ""; void route(); });

scheduleStatus(0);
startEvents();
void route();
`;

/** `'sha256-…'` CSP source of an inline block, hashing its exact text. */
function cspHash(text: string): string {
  return `'sha256-${base64Encode(sha256(utf8Encode(text)))}'`;
}

// Computed once: the page's script and style never change after load.
const CSP = [
  "default-src 'none'",
  `script-src ${cspHash(SCRIPT)}`,
  `style-src ${cspHash(CSS)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");
