/**
 * The SDK bundle (`sdk/build/bundle.ts`) runs outside Deno: in Node 20+
 * (the ESM bundle, against a real site), in headless Chromium (Debian's
 * `chromium` driven by `playwright-core`, same-origin through a loopback
 * proxy), and its declarations type-check a TypeScript consumer.
 *
 * Skips, saying why, when `node` or `/usr/bin/chromium` is absent; never
 * downloads a browser.
 */

import assert from "node:assert/strict";
import ts from "typescript";
import { bundleSdk } from "../sdk/build/bundle.ts";
import { startLocalSite } from "./sdk_site_helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const RESOURCES = { sanitizeResources: false, sanitizeOps: false };

function which(cmd: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${cmd}`).isFile) return `${dir}/${cmd}`;
    } catch { /* not here */ }
  }
  return undefined;
}

const nodePath = which("node");
const chromiumPresent = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!nodePath) console.warn("sdk_bundle_test: Node test skipped: no `node` on PATH");
if (!chromiumPresent) {
  console.warn(
    `sdk_bundle_test: Chromium test skipped: ${CHROMIUM} does not exist (apt-get install -y chromium)`,
  );
}

let built: Promise<{ dir: string; js: string; dts: string }> | undefined;
/** Builds the bundle once per test run into a temporary folder. */
function build() {
  built ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "edgeledger-bundle-" });
    const { js, dts } = await bundleSdk({ outDir: dir });
    return { dir, js, dts };
  })();
  return built;
}

/**
 * The smoke scenario, as source text run by Node or the browser with
 * `sdk` = the bundle's exports: sign, submit, wait for commit, follow the
 * block over SSE, and prove the receipt with the light client.
 */
const SCENARIO = `
async function scenario(sdk, url) {
  const client = new sdk.EdgeLedgerClient({ urls: [url] });
  const status = await client.status();
  const key = sdk.generateKeyPair("p256");
  const signer = sdk.softwareSigner(key);
  const now = Date.now();
  const envelope = await sdk.signEnvelope(sdk.createEnvelope({
    ledger: status.ledger,
    kind: "data.anchor",
    body: { stream: "bundle-" + now, seq: 0, root: "33".repeat(32), count: 1, from: now, to: now },
    signers: [signer.did],
  }), [signer]);
  const events = client.subscribe({ fromHeight: status.height + 1 });
  const receipt = await client.submit(envelope, { wait: "commit" });
  const { value: event } = await events.next();
  await events.return(undefined);
  const sites = await client.sites();
  const light = new sdk.LightClient({
    source: client, trustedKeys: sites.map((s) => s.verifierKey), quorum: 1, origin: status.origin,
  });
  const verdict = await light.verify(receipt.txId);
  let errorName;
  try {
    await client.getTx("00".repeat(32));
  } catch (e) {
    errorName = e instanceof sdk.NotFoundError ? e.name : "not a NotFoundError: " + e;
  }
  return {
    errorName,
    txId: receipt.txId, expectedTxId: sdk.transactionId(envelope), status: receipt.status,
    eventHeight: event.height, receiptHeight: receipt.height,
    eventTxIds: event.txs.map((t) => t.txId), ok: verdict.ok, reason: verdict.reason,
  };
}
`;

function assertScenario(out: Record<string, unknown>) {
  assert.equal(out.status, "committed");
  assert.equal(out.txId, out.expectedTxId);
  assert.equal(out.eventHeight, out.receiptHeight);
  assert.deepEqual(out.eventTxIds, [out.txId]);
  assert.equal(out.reason, "ok");
  assert.equal(out.ok, true);
  // Error classes keep their names through minification (callers log and match them).
  assert.equal(out.errorName, "NotFoundError");
}

Deno.test({
  name: "bundle: one ESM file without Node built-ins, with declarations that type a consumer",
  ...RESOURCES,
  fn: async () => {
    const { dir, js, dts } = await build();
    const code = await Deno.readTextFile(js);
    assert.ok(!/["']node:/.test(code), "no node: imports");
    const consumer = `${dir}/consumer.ts`;
    await Deno.writeTextFile(
      consumer,
      `import { EdgeLedgerClient, OfflineQueue, LightClient, createEnvelope, type Receipt } from "./edgeledger.js";
const client = new EdgeLedgerClient({ urls: ["http://127.0.0.1:1"] });
const receipt: Promise<Receipt> = client.getTx("ab").then((v) => v.receipt);
const height: Promise<number> = client.status().then((s) => s.height);
// @ts-expect-error: status() has no argument of this shape
client.status(42);
void [receipt, height, OfflineQueue, LightClient, createEnvelope];
`,
    );
    const root = new URL("../", import.meta.url).pathname;
    const program = ts.createProgram([consumer], {
      noEmit: true,
      strict: true,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      target: ts.ScriptTarget.ES2022,
      lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.dom.asynciterable.d.ts"],
      skipLibCheck: true,
      types: [],
      // The declarations refer to zod's types; a consumer installs zod.
      baseUrl: root,
      paths: { "*": [`${root}node_modules/*`] },
    });
    const errors = ts.getPreEmitDiagnostics(program).map((d) =>
      ts.flattenDiagnosticMessageText(d.messageText, "\n")
    );
    assert.deepEqual(errors, []);
    assert.ok(dts.endsWith("edgeledger.d.ts"));
  },
});

Deno.test({
  name:
    "bundle: runs in Node 20 against a real site (sign, submit, SSE, light-client proof), its errors keeping their class names",
  ignore: !nodePath,
  ...RESOURCES,
  fn: async () => {
    const { dir, js } = await build();
    const { site, cleanup } = await startLocalSite();
    try {
      const script = `${dir}/smoke.mjs`;
      await Deno.writeTextFile(
        script,
        `import * as sdk from ${JSON.stringify(js)};\n${SCENARIO}\n` +
          `console.log(JSON.stringify(await scenario(sdk, process.argv[2])));\n`,
      );
      const out = await new Deno.Command(nodePath!, { args: [script, site.url] }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      const version = new TextDecoder().decode(
        (await new Deno.Command(nodePath!, { args: ["--version"] }).output()).stdout,
      );
      assert.ok(Number(version.slice(1).split(".")[0]) >= 20, `node ${version}`);
      assertScenario(JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!));
    } finally {
      await cleanup();
    }
  },
});

Deno.test({
  name: "bundle: runs in headless Chromium against a real site (same origin via a proxy)",
  ignore: !chromiumPresent,
  ...RESOURCES,
  fn: async () => {
    const { chromium } = await import("playwright-core");
    const { js } = await build();
    const { site, cleanup } = await startLocalSite();
    // The page, the bundle and the API share one origin, so no CORS is needed.
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const url = new URL(req.url);
        if (url.pathname === "/") {
          return new Response("<!doctype html><title>sdk</title>", {
            headers: { "content-type": "text/html" },
          });
        }
        if (url.pathname === "/edgeledger.js") {
          return new Response(await Deno.readTextFile(js), {
            headers: { "content-type": "text/javascript" },
          });
        }
        return await fetch(new URL(url.pathname + url.search, site.url), {
          method: req.method,
          headers: req.headers,
          body: req.method === "GET" ? undefined : await req.arrayBuffer(),
        });
      },
    );
    const origin = `http://127.0.0.1:${server.addr.port}`;
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    try {
      const page = await browser.newPage();
      await page.goto(origin + "/");
      const out = await page.evaluate(
        `(async () => { const sdk = await import("/edgeledger.js"); ${SCENARIO}; return await scenario(sdk, location.origin); })()`,
      ) as Record<string, unknown>;
      assertScenario(out);
    } finally {
      await browser.close();
      await server.shutdown();
      await cleanup();
    }
  },
});
