/**
 * The walk-through in `sdk/client/README.md` is what a developer copies
 * first, so its samples must stay right: every ```ts block is type-checked
 * against the SDK as the bundle exports it (`sdk/mod.ts`). Each block is
 * checked in its own scope; the names a block takes from the page's earlier
 * blocks or from the reader's app (a platform key API, a trust config) are
 * declared with their SDK types.
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url);

/** What the page's blocks assume exists: earlier blocks' values and the reader's own. */
const PRELUDE = `
declare const client: SDK.EdgeLedgerClient;
declare const signer: SDK.Signer;
declare const envelope: SDK.Envelope;
declare const receipt: SDK.SubmittedReceipt;
declare const committed: SDK.CommittedReceipt;
declare const car: SDK.KeyPair;
declare const trust: SDK.TrustConfig;
/** The platform's key API (Secure Enclave, Android Keystore, a SIM applet). */
declare const enclave: { publicKey: Uint8Array; sign(message: Uint8Array): Promise<Uint8Array> };
`;

Deno.test({
  name:
    "sdk/client/README.md: every ts sample type-checks against the SDK's exports, each block on its own",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const page = await Deno.readTextFile(new URL("sdk/client/README.md", root));
    const blocks = [...page.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
    assert.ok(blocks.length >= 5, "the page lost its samples");
    const imports: string[] = [];
    const bodies: string[] = [];
    for (const [i, block] of blocks.entries()) {
      // Imports move to the top (one module); the rest of each block gets its own scope.
      const rest = block.replace(/^import [\s\S]*?;\n/gm, (statement) => {
        imports.push(statement.replace('from "./edgeledger.js"', 'from "../sdk/mod.ts"'));
        return "";
      });
      bodies.push(`// block ${i}\nasync function block${i}() {\n${rest}\n}\n`);
    }
    const script = [
      ...imports,
      'import type * as SDK from "../sdk/mod.ts";',
      PRELUDE,
      ...bodies,
    ].join("\n");
    const dir = await Deno.makeTempDir({ dir: new URL("test", root).pathname, prefix: ".readme-" });
    try {
      await Deno.writeTextFile(
        `${dir}/samples.ts`,
        script.replaceAll('"../sdk/mod.ts"', JSON.stringify(new URL("sdk/mod.ts", root).href)),
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["check", "--config", new URL("deno.json", root).pathname, `${dir}/samples.ts`],
        cwd: root.pathname,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(out.code, 0, dec.decode(out.stderr) + "\n" + script);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
