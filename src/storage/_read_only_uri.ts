/**
 * `path` as an SQLite URI filename opened read-only (SQLite's `mode=ro`):
 * `%`, `?` and `#` escaped, and an absolute path given an empty authority
 * (`file:///…`), so that one starting with `//` is still a path and not a
 * host. A connection opened so never writes the database, not even a
 * checkpoint of its WAL when it closes.
 */
export function readOnlyUri(path: string): string {
  const escaped = path.replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${path.startsWith("/") ? "file://" : "file:"}${escaped}?mode=ro`;
}
