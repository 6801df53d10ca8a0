/**
 * Bounds on the field issues a problem quotes (`errors` and its detail), so
 * that a body with thousands of bad or unknown fields is refused in a
 * problem of a few KiB. No dependencies: admission workers load it too.
 *
 * @module
 */

/** A field and what is wrong with it, as a problem's `errors` lists them. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Most field issues a problem lists (`errors`, and its detail); it counts the rest. */
export const FIELD_ISSUES_MAX = 32;

/** Longest message or path of a field issue a problem quotes, in characters. */
export const FIELD_ISSUE_CHARS_MAX = 300;

/**
 * The first {@link FIELD_ISSUES_MAX} of `issues`, each path and message cut
 * to {@link FIELD_ISSUE_CHARS_MAX} characters (ending `…`): a body with
 * thousands of bad or unknown fields is refused in a problem of a few KiB,
 * not one larger than the body.
 */
export function boundedIssues(issues: readonly FieldIssue[]): FieldIssue[] {
  const cut = (s: string) =>
    s.length > FIELD_ISSUE_CHARS_MAX ? s.slice(0, FIELD_ISSUE_CHARS_MAX - 1) + "…" : s;
  return issues.slice(0, FIELD_ISSUES_MAX).map((e) => ({
    path: cut(e.path),
    message: cut(e.message),
  }));
}
