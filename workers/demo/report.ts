/**
 * How the demo prints: numbered use cases, indented lines, shortened ids,
 * timings and links to each result (the API and the explorer).
 *
 * @module
 */

/** The outcome of one use case of the day. */
export interface UseCaseResult {
  /** Short stable id, e.g. `custody`. */
  id: string;
  title: string;
  /** `ok`: every step did what it should; `skipped`: a kind is not in this build. */
  status: "ok" | "skipped" | "failed";
  /** One line: what happened, what was skipped, or the failure. */
  detail: string;
  /** Transactions this use case submitted (refused ones included). */
  txs: number;
  ms: number;
}

/** `9f2c41ab07d3…`: the first 12 characters of a hex id. */
export function short(id: string): string {
  return id.length > 14 ? id.slice(0, 12) + "…" : id;
}

/** `did:key:z6Mkq…Xy3`: a did:key shortened for reading. */
export function shortDid(did: string): string {
  return did.length > 24 ? `${did.slice(0, 14)}…${did.slice(-4)}` : did;
}

/** Milliseconds for people: `840 ms`, `3.2 s`. */
export function ms(n: number): string {
  return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`;
}

/** Prints the day, step by step. */
export class Report {
  readonly #print: (line: string) => void;
  readonly #site: string;
  #n = 0;

  /** `site` is the base URL links point to. */
  constructor(print: (line: string) => void, site: string) {
    this.#print = print;
    this.#site = site;
  }

  /** A use case's header: `[3] Custody — …`. */
  section(title: string): void {
    this.#n++;
    this.#print("");
    this.#print(`[${this.#n}] ${title}`);
  }

  /** An indented line of a use case. */
  line(text: string): void {
    this.#print(`    ${text}`);
  }

  /** A plain line outside any use case. */
  plain(text: string): void {
    this.#print(text);
  }

  /** A result with its links: the API's transaction route and the explorer page. */
  tx(label: string, txId: string, extra = ""): void {
    this.line(`${label} tx ${short(txId)}${extra ? " " + extra : ""}`);
    this.line(`    ${this.apiLink(txId)}`);
    this.line(`    ${this.explorerLink(txId)}`);
  }

  apiLink(txId: string): string {
    return `${this.#site}/v1/txs/${txId}`;
  }

  explorerLink(txId: string): string {
    return `${this.#site}/#/tx/${txId}`;
  }
}
