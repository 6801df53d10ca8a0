import assert from "node:assert/strict";
import { renderReport, reportPreamble } from "./_report.ts";

const full = {
  command: "npx -y deno@2.9.6 task bench",
  started: new Date("2026-12-05T01:35:17.123Z"),
  seconds: 830,
  tree: "commit e2857f7",
};
const partial = {
  command: "BENCH_ONLY=growth npx -y deno@2.9.6 task bench",
  started: new Date("2026-12-05T03:12:55Z"),
  seconds: 159,
  tree: "commit a3a32f2",
};
const bullets = (preamble: string) => preamble.split("\n").filter((l) => l.startsWith("- "));

Deno.test("reportPreamble: a full run lists itself alone", () => {
  assert.deepEqual(bullets(reportPreamble(full)), [
    "- Command: `npx -y deno@2.9.6 task bench`",
    "- Date: 2026-12-05T01:35:17Z (took 830 s)",
    "- Tree: commit e2857f7",
  ]);
});

Deno.test("reportPreamble: a run of some benches keeps the runs the other sections came from and adds itself", () => {
  const before = renderReport(reportPreamble(full), ["a", "b"], [
    { id: "a", markdown: "A" },
    { id: "b", markdown: "- not a run" },
  ]);
  const after = reportPreamble(partial, ["growth"], before);
  assert.deepEqual(bullets(after), [
    ...bullets(reportPreamble(full)),
    "- Then growth: `BENCH_ONLY=growth npx -y deno@2.9.6 task bench`, 2026-12-05T03:12:55Z (took 159 s), commit a3a32f2",
  ]);
  assert.deepEqual(
    bullets(reportPreamble(partial, [], after)),
    bullets(after),
    "a re-render keeps them",
  );
  assert.deepEqual(
    bullets(reportPreamble(partial, ["growth"], "")),
    bullets(reportPreamble(partial)),
  );
});
