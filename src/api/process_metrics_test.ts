import assert from "node:assert/strict";
import { processMetricsText } from "./process_metrics.ts";

/** The value of the unlabelled sample `name` in `text`. */
function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(m, `${name} is missing`);
  return Number(m[1]);
}

Deno.test("processMetricsText() gives each family a HELP and a TYPE, once", () => {
  const text = processMetricsText();
  const names = [...text.matchAll(/^(\w+) \S+$/gm)].map((m) => m[1]);
  assert.ok(names.length >= 6);
  for (const name of names) {
    assert.equal(text.split(`# HELP ${name} `).length, 2, name);
    assert.equal(text.split(`# TYPE ${name} `).length, 2, name);
  }
  assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m);
});

/** utime + stime of this process from `/proc/self/stat`, in seconds (Linux's 100 ticks a second). */
function procCpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

Deno.test("processMetricsText(): CPU seconds agree with the kernel's account of this process", () => {
  let x = 0;
  for (let i = 0; i < 3e7; i++) x += Math.sqrt(i);
  assert.ok(x > 0);
  const kernel = procCpuSeconds();
  const ours = sample(processMetricsText(), "process_cpu_seconds_total");
  assert.ok(kernel > 0.02, `the kernel counted ${kernel} s`);
  assert.ok(Math.abs(ours - kernel) < 0.05 + kernel * 0.05, `ours ${ours} s, kernel ${kernel} s`);
});

/** Tries of the file-descriptor test: one whose count other threads changed is tried again. */
const fdTriesMax = 5;

Deno.test("processMetricsText(): open file descriptors count the files this process opens", () => {
  // The count is the process's: test files that run in parallel run in it too, on other
  // threads, and may close descriptors between the two counts. A count that misses the
  // files opened here misses them every time.
  const seen: string[] = [];
  for (let tries = 0; tries < fdTriesMax; tries++) {
    const before = sample(processMetricsText(), "process_open_fds");
    const files = Array.from({ length: 20 }, () => Deno.openSync(Deno.execPath()));
    try {
      const during = sample(processMetricsText(), "process_open_fds");
      assert.ok(sample(processMetricsText(), "process_max_fds") >= during);
      if (during - before >= 20) return;
      seen.push(`${during} - ${before}`);
    } finally {
      for (const f of files) f.close();
    }
  }
  assert.fail(`20 files opened, counted: ${seen.join(", ")}`);
});

Deno.test("processMetricsText(): memory and start time are plausible", () => {
  const text = processMetricsText();
  assert.ok(sample(text, "process_resident_memory_bytes") > 10 * 1024 * 1024);
  assert.ok(sample(text, "deno_heap_used_bytes") <= sample(text, "deno_heap_total_bytes"));
  const start = sample(text, "process_start_time_seconds");
  assert.ok(start <= Date.now() / 1000 && start > Date.now() / 1000 - 3600, String(start));
});
