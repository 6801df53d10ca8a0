/**
 * The Markdown documents' links lead somewhere: every in-page link
 * (`[…](#anchor)`) names a heading of its document, as GitHub makes
 * anchors of headings, and every relative link names a file or folder of
 * the repository (and, with `#anchor`, a heading of that document).
 */
import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The anchor GitHub makes of a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, "").replaceAll(" ", "-");
}

/** A document's text outside fenced code blocks, where `#` starts a comment, not a heading. */
function prose(text: string): string {
  return text.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, "");
}

function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of prose(text).matchAll(/^#{1,6} (.+)$/gm)) {
    const anchor = anchorOf(heading);
    const n = seen.get(anchor) ?? 0;
    seen.set(anchor, n + 1);
    out.add(n === 0 ? anchor : `${anchor}-${n}`);
  }
  return out;
}

function markdownFiles(): string[] {
  const out = ["README.md", "BENCHMARKS.md"];
  for (const dir of ["docs", "sdk/client"]) {
    for (const e of Deno.readDirSync(join(root, dir))) {
      if (e.isFile && e.name.endsWith(".md")) out.push(`${dir}/${e.name}`);
    }
  }
  return out;
}

Deno.test("docs: every in-page and relative link of the Markdown documents names a heading or a file that exists", () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of markdownFiles()) {
    const text = Deno.readTextFileSync(join(root, file));
    for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
      checked++;
      const [path, anchor] = target.split("#", 2);
      const into = path === "" ? file : normalize(join(dirname(file), path));
      let exists = true;
      try {
        Deno.statSync(join(root, into));
      } catch {
        exists = false;
      }
      if (!exists) {
        broken.push(`${file}: ${target} (no ${into})`);
        continue;
      }
      if (anchor !== undefined && into.endsWith(".md")) {
        const anchors = anchorsOf(Deno.readTextFileSync(join(root, into)));
        if (!anchors.has(anchor)) broken.push(`${file}: ${target} (no such heading in ${into})`);
      }
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked >= 60, `only ${checked} links found: the pattern no longer matches them`);
});
