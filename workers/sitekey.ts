/**
 * Makes a site key for a new PoP: writes the private key (a JWK, mode 0600)
 * where the site's config will point (`keyFile`), and prints its public key
 * in the base64url form `POST /v1/admin/members` takes.
 *
 *     deno task sitekey /etc/edgeledger/site-key.json
 *
 * Never overwrites a file. `--help` (`-h`) prints the usage and exits 0;
 * a path that starts with `-` is refused as a flag it does not know (write
 * `./-name` for such a file), so a mistyped flag never becomes a key file.
 * Exits 2 on bad usage, 1 if the file exists.
 *
 * @module
 */
import { base64urlEncode } from "../sdk/encoding.ts";
import { exportKey, generateKeyPair } from "../sdk/keys.ts";
import { helpAsked } from "./_cli.ts";

const USAGE = "usage: deno task sitekey <key file to create>";

/** Writes a new Ed25519 site key to `path` (refusing an existing file); returns its public key. */
export async function writeSiteKey(path: string): Promise<string> {
  const key = generateKeyPair("ed25519");
  await Deno.writeTextFile(path, JSON.stringify(exportKey(key)) + "\n", {
    mode: 0o600,
    createNew: true,
  });
  return base64urlEncode(key.publicKey);
}

if (import.meta.main) {
  if (helpAsked(Deno.args)) {
    console.log(
      `${USAGE}\n\nWrites a new Ed25519 site key (a private JWK, mode 0600) to the file, which must\n` +
        "not exist, and prints its public key, as `cli member add --public-key` takes it.",
    );
    Deno.exit(0);
  }
  const [path] = Deno.args;
  if (path === undefined || Deno.args.length !== 1) {
    console.error(USAGE);
    Deno.exit(2);
  }
  if (path.startsWith("-")) {
    console.error(`Unknown flag ${path} (a key file named so: ./${path})\n${USAGE}`);
    Deno.exit(2);
  }
  try {
    const publicKey = await writeSiteKey(path);
    console.log(`wrote ${path} (mode 0600); public key: ${publicKey}`);
  } catch (e) {
    console.error(`Cannot write ${path}: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
