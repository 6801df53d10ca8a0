/**
 * Throwaway certificates for TLS tests, made at test time with the
 * `openssl` CLI (`workers/local_tls.ts`): a CA and certificates it signs
 * for 127.0.0.1, valid for two days, in a temporary folder. Without
 * `openssl` on the PATH, {@link opensslPresent} is false and the tests that
 * need certificates skip, saying why.
 *
 * @module
 */
import { opensslPresent as probe } from "../workers/local_tls.ts";

export { type LocalCa, type LocalCert, makeCa, makeCert } from "../workers/local_tls.ts";

/** Whether the `openssl` CLI runs here. */
export const opensslPresent: boolean = probe();

/** Why TLS tests skip, printed once by each test file that needs `openssl`. */
export const OPENSSL_MISSING =
  "skipped: the openssl CLI is not installed (apt-get install -y openssl)";

/** A `fetch` (and its client, to close) that trusts the CAs of `caFiles`, besides Deno's roots. */
export function trustingFetch(
  ...caFiles: string[]
): { fetch: typeof fetch; client: Deno.HttpClient } {
  const client = Deno.createHttpClient({ caCerts: caFiles.map((f) => Deno.readTextFileSync(f)) });
  return { fetch: (input, init) => fetch(input, { ...init, client }), client };
}
