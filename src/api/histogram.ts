/**
 * Prometheus histograms (text exposition format 0.0.4): cumulative buckets,
 * a sum and a count per label set, under one metric name.
 *
 * @module
 */

/**
 * Upper bounds, in seconds, for the durations of the consensus and storage
 * pipeline (a durable write, a peer round trip, applying a block): 0.5 ms to
 * 5 s, about ×2 apart, as etcd's disk and network histograms.
 */
export const PIPELINE_BUCKETS_SECONDS: readonly number[] = [
  0.0005,
  0.001,
  0.002,
  0.005,
  0.01,
  0.02,
  0.05,
  0.1,
  0.2,
  0.5,
  1,
  2,
  5,
];

/** One label set's observations. */
interface Series {
  /** `buckets[i]` counts observations `<= bounds[i]` (cumulative, as exposed). */
  buckets: number[];
  sum: number;
  count: number;
}

/**
 * A histogram family. Label sets are given as their rendered text
 * (`method="GET",route="/v1/status"`; see {@link labelText}), so observing
 * costs one map lookup; the family's cardinality is its caller's to bound.
 */
export class Histogram {
  readonly #series = new Map<string, Series>();
  readonly #bounds: readonly number[];

  constructor(
    /** The metric name, without the `_bucket`/`_sum`/`_count` suffixes. */
    readonly name: string,
    readonly help: string,
    bounds: readonly number[] = PIPELINE_BUCKETS_SECONDS,
  ) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) {
      throw new RangeError(`Histogram: "${name}" is not a Prometheus metric name`);
    }
    for (let i = 0; i < bounds.length; i++) {
      if (!Number.isFinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
        throw new RangeError("Histogram: bucket bounds must be finite and increasing");
      }
    }
    this.#bounds = [...bounds];
  }

  /** Records one observation (seconds, for a duration) under `labels`. */
  observe(value: number, labels = ""): void {
    if (!Number.isFinite(value)) return;
    let s = this.#series.get(labels);
    if (s === undefined) {
      s = { buckets: this.#bounds.map(() => 0), sum: 0, count: 0 };
      this.#series.set(labels, s);
    }
    for (let i = this.#bounds.length - 1; i >= 0 && value <= this.#bounds[i]; i--) s.buckets[i]++;
    s.sum += value;
    s.count++;
  }

  /** Count and sum observed under `labels` (zeros if none). */
  totals(labels = ""): { count: number; sum: number } {
    const s = this.#series.get(labels);
    return { count: s?.count ?? 0, sum: s?.sum ?? 0 };
  }

  /** The family as exposition text: `# HELP`, `# TYPE`, then each series; ends with a newline. */
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [labels, s] of this.#series) {
      const sep = labels === "" ? "" : ",";
      this.#bounds.forEach((le, i) => {
        lines.push(`${this.name}_bucket{${labels}${sep}le="${le}"} ${s.buckets[i]}`);
      });
      lines.push(`${this.name}_bucket{${labels}${sep}le="+Inf"} ${s.count}`);
      const braces = labels === "" ? "" : `{${labels}}`;
      lines.push(`${this.name}_sum${braces} ${s.sum}`);
      lines.push(`${this.name}_count${braces} ${s.count}`);
    }
    return lines.join("\n") + "\n";
  }
}

/** Renders label pairs as exposition text, values escaped (`a="x",b="y"`). */
export function labelText(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",");
}

/** Escapes a label value: backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * Sum of `<name>_sum` and of `<name>_count` in exposition text: over every
 * series, or only the one with exactly `labels` (as {@link labelText}
 * renders them). The benches use it to explain a run from `/metrics`.
 */
export function histogramTotalsIn(
  text: string,
  name: string,
  labels?: string,
): { count: number; sum: number } {
  let count = 0;
  let sum = 0;
  const braces = labels === undefined ? undefined : labels === "" ? " " : `{${labels}} `;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "_")) continue;
    const rest = line.slice(name.length + 1);
    const field = rest.startsWith("sum") ? "sum" : rest.startsWith("count") ? "count" : undefined;
    if (field === undefined) continue;
    const after = rest.slice(field.length);
    if (braces !== undefined ? !after.startsWith(braces) : !/^[{ ]/.test(after)) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (!Number.isFinite(value)) continue;
    if (field === "sum") sum += value;
    else count += value;
  }
  return { count, sum };
}

/** Methods labelled as they are; a client may send any token as a method. */
const METHODS = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "CONNECT",
  "TRACE",
]);

/** The method label of `method`: itself when {@link METHODS} has it, else `other`. */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : "other";
}
