import assert from "node:assert/strict";
import {
  boundedIssues,
  FIELD_ISSUE_CHARS_MAX,
  FIELD_ISSUES_MAX,
  type FieldIssue,
} from "./field_issues.ts";

Deno.test("boundedIssues: keeps the first FIELD_ISSUES_MAX issues in order, each path and message cut to FIELD_ISSUE_CHARS_MAX characters ending with …; short ones unchanged", () => {
  const issues: FieldIssue[] = Array.from({ length: FIELD_ISSUES_MAX + 5 }, (_, i) => ({
    path: `body.k${i}`,
    message: i === 0 ? "x".repeat(FIELD_ISSUE_CHARS_MAX + 1) : `bad ${i}`,
  }));
  issues[1].path = "p".repeat(FIELD_ISSUE_CHARS_MAX);
  const out = boundedIssues(issues);
  assert.equal(out.length, FIELD_ISSUES_MAX);
  assert.equal(out[0].message.length, FIELD_ISSUE_CHARS_MAX);
  assert.ok(out[0].message.endsWith("…"));
  assert.equal(out[1].path, issues[1].path, "exactly at the limit: not cut");
  assert.deepEqual(out.slice(2), issues.slice(2, FIELD_ISSUES_MAX));
  assert.deepEqual(boundedIssues([]), []);
});
