/**
 * Writing `BENCHMARKS.md`: markdown helpers, the machine description, and
 * a report made of named sections in a fixed order.
 *
 * Each section is wrapped in `<!-- bench:section <id> -->` …
 * `<!-- bench:end <id> -->` markers. A full run rewrites the whole file; a
 * partial run (only some benches) replaces its own sections and keeps the
 * others as they were, so the file always has every section in
 * {@link ReportLayout} order.
 *
 * @module
 */

/** One section of the report. `id` is stable across runs; `markdown` starts with its own heading. */
export interface Section {
  id: string;
  markdown: string;
}

/**
 * The order of section ids in the file. An entry ending in `*` matches every
 * id with that prefix (in the order the sections were given); ids matching
 * no entry go last.
 */
export type ReportLayout = readonly string[];

/** Position of `id` in `layout` ({@link ReportLayout} rules). */
export function layoutRank(layout: ReportLayout, id: string): number {
  const i = layout.findIndex((e) => (e.endsWith("*") ? id.startsWith(e.slice(0, -1)) : e === id));
  return i < 0 ? layout.length : i;
}

/** A GitHub-flavoured markdown table; cells are escaped for `|` and newlines. */
export function mdTable(
  headers: readonly string[],
  rows: ReadonlyArray<readonly (string | number)[]>,
): string {
  const cell = (v: string | number) => String(v).replaceAll("|", "\\|").replaceAll("\n", " ");
  // Numeric columns (every cell starts with a digit or "–") are right-aligned.
  const right = (i: number) => rows.length > 0 && rows.every((r) => /^[\d–]/.test(String(r[i])));
  return [
    `| ${headers.map(cell).join(" | ")} |`,
    `|${headers.map((_, i) => (right(i) ? " ---: " : " --- ")).join("|")}|`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");
}

/** `n` with thousands separators and `digits` decimals (default 0); "–" for NaN. */
export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return "–";
  return n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** The machine the benches ran on, as far as Linux and Deno tell. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memTotalGiB: number;
  kernel: string;
  deno: string;
  v8: string;
}

/** Reads `/proc/cpuinfo`, `/proc/meminfo`, `/proc/sys/kernel/osrelease` and `Deno.version`. */
export function machineInfo(): MachineInfo {
  const read = (p: string) => {
    try {
      return Deno.readTextFileSync(p);
    } catch {
      return "";
    }
  };
  const cpuinfo = read("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown";
  const memKiB = Number(/^MemTotal:\s+(\d+) kB/m.exec(read("/proc/meminfo"))?.[1] ?? NaN);
  const kernel = `${Deno.build.os} ${read("/proc/sys/kernel/osrelease").trim()} ${Deno.build.arch}`;
  return {
    cpuModel: model,
    cores: navigator.hardwareConcurrency,
    memTotalGiB: memKiB / 1024 / 1024,
    kernel,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
  };
}

const beginMarker = (id: string) => `<!-- bench:section ${id} -->`;
const endMarker = (id: string) => `<!-- bench:end ${id} -->`;

/** Splits a report written by {@link renderReport} into its sections (by id); other text is dropped. */
export function parseSections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /<!-- bench:section (\S+) -->\n([\s\S]*?)\n<!-- bench:end \1 -->/g;
  // `deno fmt` puts blank lines around the markers; they are not content.
  for (const m of text.matchAll(re)) out.set(m[1], m[2].trim());
  return out;
}

/**
 * Renders the report: `preamble`, then every section of `previous` and
 * `sections` (a new section replaces an old one with the same id) ordered
 * by `layout`, ids not in `layout` last.
 */
export function renderReport(
  preamble: string,
  layout: ReportLayout,
  sections: readonly Section[],
  previous: Map<string, string> = new Map(),
): string {
  const merged = new Map(previous);
  for (const s of sections) merged.set(s.id, s.markdown.trim());
  const ids = [...merged.keys()].sort((a, b) => layoutRank(layout, a) - layoutRank(layout, b));
  const parts = [preamble.trim()];
  for (const id of ids) parts.push(`${beginMarker(id)}\n${merged.get(id)}\n${endMarker(id)}`);
  return parts.join("\n\n") + "\n";
}

/** One run of the benches, as the report's preamble lists it. */
export interface RunLine {
  command: string;
  started: Date;
  seconds: number;
  tree: string;
}

/**
 * The report's preamble. A full run lists itself alone. A run of some
 * benches only (`only`) keeps the runs `previousReport` lists, since its
 * other sections are theirs, and adds itself with the sections it redid; a
 * re-render (`only` empty) keeps the previous list as it is.
 */
export function reportPreamble(
  run: RunLine,
  only?: readonly string[],
  previousReport = "",
): string {
  const head = `# edgeledger benchmarks

Generated by \`deno task bench\` (\`bench/main.ts\`); do not edit by hand —
the file is rewritten by every run.`;
  const when = (r: RunLine) =>
    `${r.started.toISOString().replace(/\.\d+Z$/, "Z")} (took ${fmt(r.seconds)} s)`;
  const earlier = previousReport.split("<!-- bench:section")[0].split("\n")
    .filter((l) => l.startsWith("- "));
  let lines: string[];
  if (only === undefined || earlier.length === 0) {
    lines = [`- Command: \`${run.command}\``, `- Date: ${when(run)}`, `- Tree: ${run.tree}`];
  } else if (only.length === 0) {
    lines = earlier;
  } else {
    lines = [
      ...earlier,
      `- Then ${only.join(", ")}: \`${run.command}\`, ${when(run)}, ${run.tree}`,
    ];
  }
  return `${head}\n\n${lines.join("\n")}`;
}
