/**
 * The SDK samples of the use-case pages run as written against a real
 * 3-site cluster, so that they cannot rot: every ```ts block of each page
 * is taken from `docs/<page>.md`, type-checked and run in page order, one
 * script per page, after a context (`test/_docs_context.ts`) that makes what
 * the page's prose assumes exists (a registered car, an item at step 3, two
 * carriers). Only the site URLs, the data folder and the SDK's import paths
 * are rewritten. Every transaction a sample submits must commit and apply,
 * and a statement with the comment `// true` must be true. Then each `curl`
 * line of the page's ```sh blocks must name a route of `/openapi.json`, and
 * each one without a placeholder must be answered (2xx, or as documented).
 */
import assert from "node:assert/strict";
import { startCluster } from "./_cluster.ts";

const root = new URL("..", import.meta.url);

/** One page: its context, code inserted before block `i`, and blocks documented to be refused. */
export interface Page {
  name: string;
  /** Top-level code run before the first block (names the context gives the samples). */
  prelude: string;
  /** Top-level code run before block `i` (0-based), after the blocks before it. */
  before?: Record<number, string>;
  /** Block `i` must throw an error whose problem type ends with this slug. */
  refused?: Record<number, string>;
}

const client = "const client = new __Client({ urls: [__env.url] });";

export const PAGES: Page[] = [
  { name: "identity", prelude: "" },
  {
    name: "sensor-data",
    prelude:
      `const { vehicle, vehicleSigner, from, to, minute } = await __ctx.sensorDataContext(__env);
${client}`,
  },
  {
    name: "custody",
    prelude:
      `const { courier, courierSigner, pharmacy, pharmacySigner } = await __ctx.custodyContext(__env);
${client}`,
    before: { 1: "const checkpointRoot = await __ctx.checkpointRootOfHead(__env);" },
  },
  {
    name: "payments",
    prelude: `const { car, carSigner, charger } = await __ctx.paymentsContext(__env);
${client}`,
  },
  {
    name: "access",
    prelude: `const { patientSigner, clinic } = await __ctx.accessContext(__env);
${client}`,
  },
  {
    name: "governance",
    prelude: client,
    // "Upgrading the rules", step 2: version 2 scheduled far ahead (this software supports it).
    before: { 1: "const { adminA, adminB } = await __ctx.governanceContext(__env);" },
  },
  {
    name: "roaming",
    prelude: `const { sha256HexOfImsi, from, to, siteKeySigner, homeCarrierSigner, carrierSigner } =
  await __ctx.roamingContext(__env);
${client}`,
  },
];

/** The ```ts blocks of a page, unindented (a block in a list item is indented). */
export function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^( *)```ts\n([\s\S]*?)^\1```/gm)].map((m) =>
    m[2].split("\n").map((line) => line.slice(m[1].length)).join("\n")
  );
}

/** One `curl` line of a page's ```sh blocks. */
export interface CurlLine {
  method: string;
  /** The URL with the block's shell variables substituted and the site's origin removed. */
  path: string;
  /** Whether the line runs as written: no placeholder (`…`, `...`) and no `@file` body. */
  runnable: boolean;
  /** The inline `-d` body. */
  body?: string;
}

/** The `curl` lines of a page's ```sh blocks (continuations joined, `| jq` dropped). */
export function curlLines(markdown: string): CurlLine[] {
  const out: CurlLine[] = [];
  for (const m of markdown.matchAll(/^( *)```sh\n([\s\S]*?)^\1```/gm)) {
    const vars = new Map<string, string>();
    for (const raw of m[2].replaceAll(/\\\n\s*/g, "").split("\n")) {
      const line = raw.trim();
      const v = /^([A-Z]+)=(\S+)$/.exec(line);
      if (v !== null) vars.set(v[1], v[2]);
      if (!line.startsWith("curl ")) continue;
      const cmd = line.replace(/\s*\|.*$/, "").replaceAll(
        /\$([A-Z]+)/g,
        (_, k) => vars.get(k) ?? "",
      );
      const url = /['"]?((?:https?:\/\/)?(?:localhost|127\.0\.0\.1):\d+(\/[^\s'"]*))/.exec(cmd);
      assert.ok(url !== null, `no site URL in: ${line}`);
      const body = /-d '([^']*)'/.exec(cmd)?.[1];
      out.push({
        method: /-X (\w+)/.exec(cmd)?.[1] ?? "GET",
        path: url[2],
        runnable: !/…|\.\.\./.test(cmd) && !/@\S/.test(cmd),
        ...(body !== undefined ? { body } : {}),
      });
    }
  }
  return out;
}

/** Whether `path` (query and all) is one of `/openapi.json`'s routes for `method`. */
function routed(openapi: { paths: Record<string, Record<string, unknown>> }, line: CurlLine) {
  const path = line.path.split("?")[0];
  return Object.entries(openapi.paths).some(([template, ops]) =>
    line.method.toLowerCase() in ops &&
    new RegExp(`^${template.replaceAll(/\{[^}]+\}/g, "[^/]+")}$`).test(path)
  );
}

/** Answers a curl line may get as documented besides 2xx: a revoked device's DID document. */
const CURL_STATUS_DOCUMENTED: Array<[RegExp, number]> = [[/\/did\.json$/, 410]];

/** The script that runs `page`'s blocks against the cluster at `url` with data in `dir`. */
export function pageScript(page: Page, blocks: string[], url: string, dir: string): string {
  const sdk = new URL("sdk/", root).href;
  const imports = new Set<string>();
  const parts = blocks.map((block, i) => {
    const code = block
      .replace(/^import [\s\S]*?from "[^"]+";\n/gm, (line) => {
        imports.add(line);
        return "";
      })
      // `expr; // true`: the sample says what it evaluates to.
      .replace(/^(\s*)([^\n]+?); \/\/ (true|false)$/gm, "$1__assert.equal($2, $3);");
    const before = page.before?.[i] ?? "";
    const slug = page.refused?.[i];
    const run = slug === undefined ? `{\n${code}\n}` : `{
  let __refused = false;
  try {
${code}
  } catch (e) {
    __assert.match(String((e as { problem?: { type?: string } }).problem?.type), /\\/${slug}$/, String(e));
    __refused = true;
  }
  __assert.ok(__refused, "block ${i} was not refused with ${slug}");
}`;
    return `${before}\n${run}`;
  });
  const script = [
    ...imports,
    `import __assert from "node:assert/strict";`,
    `import { EdgeLedgerClient as __Client } from "./sdk/client/mod.ts";`,
    `import * as __ctx from ${JSON.stringify(new URL("test/_docs_context.ts", root).href)};`,
    `const __env = { url: ${JSON.stringify(url)}, dir: ${JSON.stringify(dir)} };`,
    `__ctx.checkReceipts();`,
    page.prelude,
    ...parts,
  ].join("\n");
  return script
    .replaceAll('"./sdk/', `"${sdk}`)
    .replaceAll('"data/', `"${dir}/`);
}

Deno.test({
  name:
    "docs: every use-case page's SDK samples type-check and run as written against a 3-site cluster, each transaction applied, and its curl lines name served routes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const cluster = await startCluster(3);
    const out = await Deno.makeTempDir({ prefix: "docs-samples-" });
    try {
      const [a, b] = cluster.sites.map((s) => s.url);
      const scripts: string[] = [];
      for (const page of PAGES) {
        const markdown = await Deno.readTextFile(new URL(`docs/${page.name}.md`, root));
        const blocks = tsBlocks(markdown);
        assert.ok(blocks.length > 0, `docs/${page.name}.md has no ts block`);
        const script = pageScript(page, blocks, a, cluster.dir)
          .replaceAll("http://127.0.0.1:7001", a)
          .replaceAll("http://127.0.0.1:7002", b);
        const path = `${out}/${page.name}.ts`;
        await Deno.writeTextFile(path, script);
        scripts.push(path);
      }
      const dec = new TextDecoder();
      const deno = async (args: string[]) => {
        const r = await new Deno.Command(Deno.execPath(), {
          args: [args[0], "--config", new URL("deno.json", root).pathname, ...args.slice(1)],
          cwd: root.pathname,
          stdout: "piped",
          stderr: "piped",
        }).output();
        return { code: r.code, text: dec.decode(r.stdout) + dec.decode(r.stderr) };
      };
      // One type check for every page: a renamed export or field fails here.
      const check = await deno(["check", ...scripts]);
      assert.equal(check.code, 0, check.text);
      const openapi = await (await fetch(`${a}/openapi.json`)).json();
      for (const [i, page] of PAGES.entries()) {
        await t.step(`docs/${page.name}.md`, async () => {
          const run = await deno(["run", "-A", "--no-check", scripts[i]]);
          assert.equal(run.code, 0, run.text);
          // Then its curl lines, on the state its samples left: each names a route the
          // API serves, and each that has no placeholder is answered as documented.
          const markdown = await Deno.readTextFile(new URL(`docs/${page.name}.md`, root));
          for (const line of curlLines(markdown)) {
            assert.ok(routed(openapi, line), `${line.method} ${line.path} is no route`);
            if (!line.runnable) continue;
            const res = await fetch(a + line.path, {
              method: line.method,
              ...(line.body !== undefined
                ? { body: line.body, headers: { "content-type": "application/json" } }
                : {}),
            });
            await res.body?.cancel(); // an event stream never ends
            const documented = CURL_STATUS_DOCUMENTED.some(([re, status]) =>
              re.test(line.path) && res.status === status
            );
            assert.ok(res.ok || documented, `${line.method} ${line.path}: ${res.status}`);
          }
        });
      }
    } finally {
      await cluster.stop();
      await Deno.remove(out, { recursive: true });
    }
  },
});
