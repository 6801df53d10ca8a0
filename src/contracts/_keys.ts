/**
 * State key helpers of the built-in contracts. Internal to `src/contracts/`.
 *
 * @module
 */

/**
 * Separates the parts of a composite state key, e.g. `<asset>\u0001<did>`.
 * It sorts below every character an id, a did or a hex string can contain,
 * so a prefix range over `<part>\u0001` lists exactly that part's entries in
 * order. Not `\u0000`: libSQL hands TEXT values back cut at the first NUL,
 * so a key containing one cannot be found again by the executor's prefetch.
 */
export const KEY_SEP = "\u0001";

/** A composite state key of `parts`, joined by {@link KEY_SEP}. */
export function compositeKey(...parts: string[]): string {
  return parts.join(KEY_SEP);
}

/** A 16-hex-digit, zero-padded step or sequence number; sorts numerically. Requires a safe integer ≥ 0. */
export function hex16(n: number): string {
  return n.toString(16).padStart(16, "0");
}

/** Whether `s` contains a control character (U+0000–U+001F), which could break key ordering. */
export function hasControlChar(s: string): boolean {
  // deno-lint-ignore no-control-regex
  return /[\u0000-\u001f]/.test(s);
}
