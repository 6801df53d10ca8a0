/**
 * One status per problem type: every problem the server builds from a slug
 * of the SDK's catalogue (`PROBLEM_TYPES`) answers with the catalogue's
 * status, so a client in any language may map a type to one status. Checked
 * over the source, where the problems are built (`new LedgerError(slug,
 * status, …)` and the admin routes' `problem(c, status, slug, …)`).
 */
import assert from "node:assert/strict";
import { PROBLEM_TYPES } from "../../sdk/api/routes.ts";

const ROOTS = ["src", "workers"];

async function* sources(dir: URL): AsyncGenerator<{ path: string; text: string }> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sources(url);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
      yield { path: url.pathname, text: await Deno.readTextFile(url) };
    }
  }
}

Deno.test("every problem built from a catalogued slug carries the status PROBLEM_TYPES gives it", async () => {
  const forms = [
    { re: /new LedgerError\(\s*"([a-z_]+)",\s*(\d{3})\b/g, slug: 1, status: 2 },
    { re: /problem\(\s*c,\s*(\d{3}),\s*"([a-z_]+)"/g, slug: 2, status: 1 },
  ];
  const found: string[] = [];
  const wrong: string[] = [];
  for (const root of ROOTS) {
    for await (const { path, text } of sources(new URL(`../../${root}/`, import.meta.url))) {
      for (const form of forms) {
        for (const m of text.matchAll(form.re)) {
          const slug = m[form.slug];
          const status = Number(m[form.status]);
          found.push(`${slug} ${status}`);
          const entry = (PROBLEM_TYPES as Record<string, { status: number }>)[slug];
          if (entry !== undefined && entry.status !== status) {
            wrong.push(`${path}: ${slug} answered ${status}, catalogued ${entry.status}`);
          }
        }
      }
    }
  }
  // The scan must see the problems it checks (the admin routes' not_leader among them).
  assert.ok(found.length >= 30, `found only ${found.length} problems`);
  assert.ok(found.includes("not_leader 503"), found.join(", "));
  assert.deepEqual(wrong, []);
});
