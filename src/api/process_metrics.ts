/**
 * The process's own Prometheus metrics, under the names every Prometheus
 * client library uses (`process_cpu_seconds_total`,
 * `process_resident_memory_bytes`, `process_start_time_seconds`,
 * `process_open_fds`, `process_max_fds`), plus V8's heap as `deno_heap_*`:
 * what an operator's standard dashboards and memory and file-descriptor
 * alerts read, for sites and gateways alike.
 *
 * @module
 */
import process from "node:process";

/** Where the file-descriptor counts come from (Linux); other systems omit them. */
const FD_DIR = "/proc/self/fd";
const LIMITS_FILE = "/proc/self/limits";

/**
 * The process metrics as exposition text (format 0.0.4), each family with
 * its HELP and TYPE. Costs a few system calls: meant for a scrape, not a hot
 * path. File-descriptor metrics are left out where `/proc` cannot be read.
 */
export function processMetricsText(): string {
  const cpu = process.cpuUsage();
  const mem = Deno.memoryUsage();
  const lines = [
    "# HELP process_cpu_seconds_total User and system CPU time spent, in seconds.",
    "# TYPE process_cpu_seconds_total counter",
    `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
    "# HELP process_resident_memory_bytes Resident memory size, in bytes.",
    "# TYPE process_resident_memory_bytes gauge",
    `process_resident_memory_bytes ${mem.rss}`,
    "# HELP process_start_time_seconds Start time of the process since the Unix epoch, in seconds.",
    "# TYPE process_start_time_seconds gauge",
    `process_start_time_seconds ${Math.floor(performance.timeOrigin) / 1000}`,
    "# HELP deno_heap_used_bytes V8 heap in use, in bytes.",
    "# TYPE deno_heap_used_bytes gauge",
    `deno_heap_used_bytes ${mem.heapUsed}`,
    "# HELP deno_heap_total_bytes V8 heap reserved, in bytes.",
    "# TYPE deno_heap_total_bytes gauge",
    `deno_heap_total_bytes ${mem.heapTotal}`,
    "# HELP deno_external_memory_bytes Memory of objects outside V8's heap that it tracks (buffers), in bytes.",
    "# TYPE deno_external_memory_bytes gauge",
    `deno_external_memory_bytes ${mem.external}`,
  ];
  const fds = openFds();
  if (fds !== undefined) {
    lines.push(
      "# HELP process_open_fds Open file descriptors.",
      "# TYPE process_open_fds gauge",
      `process_open_fds ${fds}`,
    );
  }
  const max = maxFds();
  if (max !== undefined) {
    lines.push(
      "# HELP process_max_fds Most open file descriptors allowed (the soft limit).",
      "# TYPE process_max_fds gauge",
      `process_max_fds ${max}`,
    );
  }
  return lines.join("\n") + "\n";
}

function openFds(): number | undefined {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync(FD_DIR)) n++;
    // Reading the folder opened one descriptor of its own.
    return Math.max(0, n - 1);
  } catch {
    return undefined;
  }
}

function maxFds(): number | undefined {
  try {
    const line = Deno.readTextFileSync(LIMITS_FILE).split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    const n = soft === undefined ? NaN : Number(soft);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}
