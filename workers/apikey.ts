/**
 * Makes an API key: prints the key (it is shown once and stored nowhere) and
 * what to add to each site's config, which holds only the key's SHA-256 —
 * for a tenant, its entry in `apiKeys`; with `--admin`, an admin key's hash
 * for `adminKeyHashes` (to rotate the admin key: add the new hash, SIGHUP,
 * move the operators to the new key, remove the old hash, SIGHUP).
 *
 *     deno task apikey fleet-ops [--per-minute 6000]
 *     deno task apikey --admin
 *
 * Exits 2 on bad usage.
 *
 * @module
 */
import { base64urlEncode } from "../sdk/encoding.ts";
import { API_KEY_NAME, hashKey } from "../src/api/api_keys.ts";
import { helpAsked } from "./_cli.ts";

const USAGE = "usage: deno task apikey <name> [--per-minute N (1 to 10,000,000)]\n" +
  "       deno task apikey --admin";

/** A new random key: 24 bytes, base64url (32 characters, as admin and tenant keys accept). */
function newKey(): string {
  return base64urlEncode(crypto.getRandomValues(new Uint8Array(24)));
}

/** A new key for `name` and its config entry. */
export function makeApiKey(name: string, requestsPerMinute = 60_000) {
  const key = newKey();
  return { key, entry: { name, hash: hashKey(key), requestsPerMinute } };
}

/** A new admin key and the SHA-256 hex a site's `adminKeyHashes` holds for it. */
export function makeAdminKey(): { key: string; hash: string } {
  const key = newKey();
  return { key, hash: hashKey(key) };
}

if (import.meta.main) {
  if (helpAsked(Deno.args)) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (Deno.args[0] === "--admin") {
    if (Deno.args.length !== 1) {
      console.error(USAGE);
      Deno.exit(2);
    }
    const { key, hash } = makeAdminKey();
    console.log(`admin key (give it to the operators; it is not stored anywhere): ${key}`);
    console.log(`add to "adminKeyHashes" in each site.json, then SIGHUP each site: "${hash}"`);
    Deno.exit(0);
  }
  const [name] = Deno.args;
  const i = Deno.args.indexOf("--per-minute");
  const perMinute = i >= 0 ? Number(Deno.args[i + 1]) : 60_000;
  if (
    name === undefined || !API_KEY_NAME.test(name) ||
    !Number.isInteger(perMinute) || perMinute < 1 || perMinute > 10_000_000
  ) {
    console.error(USAGE);
    Deno.exit(2);
  }
  const { key, entry } = makeApiKey(name, perMinute);
  console.log(`key (give it to ${name}; it is not stored anywhere): ${key}`);
  console.log(`add to "apiKeys" in each site.json: ${JSON.stringify(entry)}`);
}
