/**
 * Makes a tenant API key: prints the key (give it to the tenant; it is shown
 * once and stored nowhere) and the entry to add to each site's `apiKeys`,
 * which holds only the key's SHA-256.
 *
 *     deno task apikey fleet-ops [--per-minute 6000]
 *
 * Exits 2 on bad usage.
 *
 * @module
 */
import { base64urlEncode } from "../sdk/encoding.ts";
import { API_KEY_NAME, hashKey } from "../src/api/api_keys.ts";
import { helpAsked } from "./_cli.ts";

const USAGE = "usage: deno task apikey <name> [--per-minute N (1 to 10,000,000)]";

/** A new key for `name` and its config entry. */
export function makeApiKey(name: string, requestsPerMinute = 60_000) {
  const key = base64urlEncode(crypto.getRandomValues(new Uint8Array(24)));
  return { key, entry: { name, hash: hashKey(key), requestsPerMinute } };
}

if (import.meta.main) {
  if (helpAsked(Deno.args)) {
    console.log(USAGE);
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
