/**
 * Builds the SDK into one ES module with type declarations, for Node 20+,
 * browsers and React Native:
 *
 *     deno run -A sdk/build/bundle.ts [--entry sdk/mod.ts] [--out dist/sdk]
 *
 * Output (in `--out`, default `dist/sdk`):
 * - `edgeledger.js` (+ `.map`): every SDK module and its npm dependencies in
 *   one ESM file, no Node built-ins, target ES2022;
 * - `edgeledger.d.ts` and `types/`: declarations emitted by TypeScript from
 *   the sources (they refer to `zod` and `@hono/zod-openapi` types, so a
 *   TypeScript consumer installs those as dev dependencies);
 * - `package.json`: `exports` pointing at both.
 *
 * The entry defaults to `sdk/mod.ts`, or `sdk/build/entry.ts` while that
 * does not exist. Node-only modules (`sdk/queue/file_store.ts`,
 * `sdk/light/file_trust_store.ts`) are not in the bundle; Node and Deno users
 * import them from source or copy them (they are small).
 *
 * @module
 */

import * as esbuild from "esbuild";
import ts from "typescript";

/**
 * What {@link bundleSdk} produced.
 *
 * @example
 * ```ts
 * const { js, bytes }: BundleResult = await bundleSdk();
 * ```
 */
export interface BundleResult {
  /** Absolute path of the ESM bundle. */
  js: string;
  /** Absolute path of the entry declaration file. */
  dts: string;
  /** Size of the bundle in bytes. */
  bytes: number;
}

const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Bundles the SDK from `entry` (relative to the repository root) into
 * `outDir`. Throws with the compiler's messages when esbuild or TypeScript
 * fails.
 *
 * @example
 * ```ts
 * const { js, dts } = await bundleSdk({ outDir: "/tmp/sdk" });
 * ```
 */
export async function bundleSdk(
  options: { entry?: string; outDir?: string } = {},
): Promise<BundleResult> {
  const entry = options.entry ??
    (exists(`${ROOT}sdk/mod.ts`) ? "sdk/mod.ts" : "sdk/build/entry.ts");
  const outDir = absolute(options.outDir ?? "dist/sdk");
  await Deno.mkdir(outDir, { recursive: true });
  const js = `${outDir}/edgeledger.js`;

  try {
    await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: [entry],
      outfile: js,
      bundle: true,
      format: "esm",
      platform: "neutral",
      mainFields: ["module", "main"],
      conditions: ["import", "module", "default"],
      target: ["es2022"],
      sourcemap: true,
      minify: true,
      // Error classes name themselves after their class (`new.target.name`):
      // callers log `e.name` and match on it.
      keepNames: true,
      legalComments: "eof",
      logLevel: "silent",
      banner: { js: "// edgeledger SDK — bundled by sdk/build/bundle.ts" },
    });
  } finally {
    await esbuild.stop();
  }
  const text = await Deno.readTextFile(js);
  if (/from\s*["']node:|require\(["']node:/.test(text)) {
    throw new Error(`Cannot ship ${js}: it imports a Node built-in; browsers cannot load it`);
  }

  const dts = emitDeclarations(entry, `${outDir}/types`);
  const entryDts = `${outDir}/edgeledger.d.ts`;
  await Deno.writeTextFile(
    entryDts,
    `export * from "./types/${entry.replace(/\.ts$/, ".js")}";\n`,
  );
  if (!dts.includes(entry.replace(/\.ts$/, ".d.ts"))) {
    throw new Error(`Cannot find the declarations of ${entry} among the emitted files`);
  }
  const pkg = {
    name: "@edgeledger/sdk",
    version: "0.1.0",
    description: "edgeledger SDK: keys, envelopes, typed client, offline queue, light client",
    type: "module",
    module: "./edgeledger.js",
    types: "./edgeledger.d.ts",
    exports: { ".": { types: "./edgeledger.d.ts", default: "./edgeledger.js" } },
    sideEffects: false,
    engines: { node: ">=20" },
    peerDependencies: { "zod": "^4", "@hono/zod-openapi": "^1" },
    peerDependenciesMeta: { "zod": { optional: true }, "@hono/zod-openapi": { optional: true } },
  };
  await Deno.writeTextFile(`${outDir}/package.json`, JSON.stringify(pkg, null, 2) + "\n");
  return { js, dts: entryDts, bytes: text.length };
}

/**
 * Emits `.d.ts` files for `entry` and what it imports from the repository
 * into `typesDir`, keeping the folder layout, with relative `.ts` import
 * specifiers rewritten to `.js` (what a consumer's TypeScript resolves to a
 * `.d.ts`). Returns the emitted paths relative to `typesDir`.
 */
function emitDeclarations(entry: string, typesDir: string): string[] {
  const compilerOptions: ts.CompilerOptions = {
    declaration: true,
    emitDeclarationOnly: true,
    allowImportingTsExtensions: true,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts", "lib.dom.asynciterable.d.ts"],
    strict: true,
    skipLibCheck: true,
    types: [],
    rootDir: ROOT,
    outDir: typesDir,
  };
  const program = ts.createProgram([`${ROOT}${entry}`], compilerOptions);
  const written: string[] = [];
  const diagnostics: ts.Diagnostic[] = [];
  const result = program.emit(
    undefined,
    (fileName, data) => {
      if (!fileName.startsWith(typesDir) || fileName.includes("/node_modules/")) return;
      const rewritten = data.replace(
        /(from\s+|import\()(["'])(\.{1,2}\/[^"']+)\.ts\2/g,
        (_m, lead: string, q: string, path: string) => `${lead}${q}${path}.js${q}`,
      );
      Deno.mkdirSync(fileName.slice(0, fileName.lastIndexOf("/")), { recursive: true });
      Deno.writeTextFileSync(fileName, rewritten);
      written.push(fileName.slice(typesDir.length + 1));
    },
    undefined,
    true,
  );
  diagnostics.push(...result.diagnostics);
  const errors = diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) {
    throw new Error(
      "Cannot emit declarations:\n" +
        ts.formatDiagnostics(errors, {
          getCanonicalFileName: (f) => f,
          getCurrentDirectory: () => ROOT,
          getNewLine: () => "\n",
        }),
    );
  }
  return written;
}

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${ROOT}${path}`;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = Deno.args.indexOf(name);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const { js, dts, bytes } = await bundleSdk({ entry: arg("--entry"), outDir: arg("--out") });
  console.log(`bundle ${js} (${(bytes / 1024).toFixed(0)} KiB)`);
  console.log(`types  ${dts}`);
}
