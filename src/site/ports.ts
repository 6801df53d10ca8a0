/**
 * The ports a site or gateway may listen on.
 *
 * Fetch (the WHATWG standard Deno, browsers and the SDK follow) refuses to
 * connect to a list of "bad ports" ("Requests to port 10080 are blocked"):
 * a site listening on one could be reached by no client, gateway or peer.
 *
 * @module
 */

/** The ports fetch refuses to connect to, as Deno 2.9's does (measured: every port tried). */
export const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([
  1,
  7,
  9,
  11,
  13,
  15,
  17,
  19,
  20,
  21,
  22,
  23,
  25,
  37,
  42,
  43,
  53,
  69,
  77,
  79,
  87,
  95,
  101,
  102,
  103,
  104,
  109,
  110,
  111,
  113,
  115,
  117,
  119,
  123,
  135,
  137,
  139,
  143,
  161,
  179,
  389,
  427,
  465,
  512,
  513,
  514,
  515,
  526,
  530,
  531,
  532,
  540,
  548,
  554,
  556,
  563,
  587,
  601,
  636,
  989,
  990,
  993,
  995,
  1719,
  1720,
  1723,
  2049,
  3659,
  4045,
  4190,
  5060,
  5061,
  6000,
  6566,
  6665,
  6666,
  6667,
  6668,
  6669,
  6679,
  6697,
  10080,
]);

/** Why `port` cannot be listened on usefully, or undefined when it can (0: any free port). */
export function blockedPortProblem(port: number): string | undefined {
  return FETCH_BLOCKED_PORTS.has(port)
    ? `${port} is a port fetch refuses to connect to (the Fetch standard's bad ports): no ` +
      "client, gateway or peer could reach it"
    : undefined;
}
