/**
 * Writes a freshly signed example `data.anchor` envelope for the curl line
 * that `deno task start` prints. The signing key is a throwaway demo key
 * kept beside the file so repeated runs extend the same stream.
 *
 * @module
 */
import { createEnvelope, signEnvelope } from "../sdk/envelope.ts";
import { exportKey, generateKeyPair, importKey, softwareSigner } from "../sdk/keys.ts";
import { leafHash, rootFromLeafHashes } from "../sdk/merkle.ts";
import { hexEncode, utf8Encode } from "../sdk/encoding.ts";

/**
 * Signs a `data.anchor` for the ledger served at `siteUrl` (asked through
 * `fetchFn`: over TLS, one that trusts the site's CA) and writes it to `path`.
 */
export async function writeExampleTx(
  siteUrl: string,
  path: string,
  fetchFn: typeof fetch = fetch,
): Promise<string> {
  const status = await (await fetchFn(`${siteUrl}/v1/status`)).json() as { ledger: string };
  const keyPath = path.replace(/\.json$/, "-key.json");
  let key;
  try {
    key = importKey(JSON.parse(await Deno.readTextFile(keyPath)));
  } catch {
    key = generateKeyPair("ed25519");
    await Deno.writeTextFile(keyPath, JSON.stringify(exportKey(key), null, 2), { mode: 0o600 });
  }
  const now = Date.now();
  const readings = Array.from(
    { length: 60 },
    (_, i) => utf8Encode(JSON.stringify({ t: now - 60_000 + i * 1000, c: 4 + i / 100 })),
  );
  const unsigned = createEnvelope({
    ledger: status.ledger,
    kind: "data.anchor",
    body: {
      stream: "demo/truck-17/temperature",
      seq: now,
      root: hexEncode(rootFromLeafHashes(readings.map(leafHash))),
      count: readings.length,
      from: now - 60_000,
      to: now,
    },
    signers: [key.did],
    ttlMs: 12 * 3600 * 1000,
  });
  const signed = await signEnvelope(unsigned, [softwareSigner(key)]);
  await Deno.writeTextFile(path, JSON.stringify(signed, null, 2) + "\n");
  return path;
}
