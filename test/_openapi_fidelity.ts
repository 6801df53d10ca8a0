/**
 * Checks answers a site gave against the `/openapi.json` it serves, with an
 * independent JSON Schema 2020-12 validator (`@hyperjump/json-schema`, in
 * its OpenAPI 3.1 dialect): the status must be one the operation documents,
 * the media type one that status documents, and the body must validate
 * against that media type's schema. So must the headers: each one the
 * response declares `required` must be there, each declared one that is
 * there must validate against its schema, and a header clients act on
 * ({@link isWatchedHeader}) must not be sent undeclared. Used by
 * `openapi_fidelity_test.ts`.
 *
 * @module
 */
import { registerSchema, validate } from "@hyperjump/json-schema/openapi-3-1";
import { BASIC } from "@hyperjump/json-schema/experimental";

/** The OpenAPI 3.1 meta-schema that also checks every schema in the document against its dialect. */
const OAS31_SCHEMA_BASE = "https://spec.openapis.org/oas/3.1/schema-base";
const OAS31_DIALECT = "https://spec.openapis.org/oas/3.1/dialect/base";

/** An OpenAPI document, as far as this module reads it. */
export interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { headers?: Record<string, OpenApiHeader> };
}

/** A Header Object, or a reference to one in `components.headers`. */
type OpenApiHeader = { required?: boolean; schema?: { type?: unknown } } | { $ref: string };

interface OpenApiOperation {
  operationId?: string;
  responses: Record<string, {
    content?: Record<string, { schema?: unknown }>;
    headers?: Record<string, OpenApiHeader>;
  }>;
}

/** One operation of the document: where it is and what it answers. */
export interface Operation {
  id: string;
  method: string;
  path: string;
  responses: OpenApiOperation["responses"];
}

/** Longest quote of an offending value in a mismatch, characters. */
const QUOTE_CHARS_MAX = 160;

/** One JSON Pointer reference token (RFC 6901 §3) as a URI fragment writes it (§6). */
function pointerToken(s: string): string {
  return encodeURIComponent(s.replaceAll("~", "~0").replaceAll("/", "~1"));
}

/** The value at a JSON Pointer written as a URI fragment (`#/a/0`), or undefined. */
function at(value: unknown, fragment: string): unknown {
  const tokens = fragment.replace(/^#/, "").split("/").slice(1)
    .map((t) => decodeURIComponent(t).replaceAll("~1", "/").replaceAll("~0", "~"));
  let v = value;
  for (const t of tokens) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[t];
  }
  return v;
}

function quote(value: unknown): string {
  const s = value === undefined ? "(absent)" : JSON.stringify(value);
  return s.length <= QUOTE_CHARS_MAX ? s : `${s.slice(0, QUOTE_CHARS_MAX)}…`;
}

/**
 * The response headers a client acts on (RFC 9110 caching and retry, CORS,
 * rate limits, request ids, auth challenges, links), lower case: one of these
 * that an answer carries must be declared by its response, or clients
 * generated from the document never learn of it. `Content-Type` is left out
 * (OpenAPI ignores it as a header: the media type says it), as are framing
 * and hop-by-hop headers (`Content-Length`, `Transfer-Encoding`,
 * `Connection`) and `Date`.
 */
const WATCHED_HEADERS = new Set([
  "retry-after",
  "cache-control",
  "expires",
  "etag",
  "last-modified",
  "vary",
  "location",
  "content-location",
  "link",
  "allow",
  "www-authenticate",
  "x-request-id",
  "x-correlation-id",
  "request-id",
  "deprecation",
  "sunset",
]);
const WATCHED_HEADER_PREFIXES = ["ratelimit", "x-ratelimit-", "access-control-"];

/** Whether a response header named `name` must be declared when an answer carries it. */
export function isWatchedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return WATCHED_HEADERS.has(lower) || WATCHED_HEADER_PREFIXES.some((p) => lower.startsWith(p));
}

/** Whether `mediaType` carries JSON: `application/json` or a `+json` suffix. */
export function isJsonMediaType(mediaType: string): boolean {
  return mediaType === "application/json" || mediaType.endsWith("+json");
}

/**
 * A document registered with the validator, and the mismatches found so far
 * between it and the answers {@link check}ed. Every mismatch names the
 * operation, the status and, for a body, the failing JSON pointer.
 */
export class Fidelity {
  readonly operations = new Map<string, Operation>();
  readonly mismatches: string[] = [];
  /** The statuses each operation was seen to answer, by operation id. */
  readonly seen = new Map<string, Set<number>>();
  #validators = new Map<string, (value: unknown) => Promise<string[]>>();

  private constructor(readonly doc: OpenApiDoc, readonly uri: string) {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const id = op.operationId ?? `${method.toUpperCase()} ${path}`;
        this.operations.set(id, {
          id,
          method: method.toUpperCase(),
          path,
          responses: op.responses,
        });
      }
    }
  }

  /**
   * Validates `doc` as an OpenAPI 3.1 document (every schema in it against
   * its dialect too) and registers it under `uri` for {@link check}. The
   * problems found in the document itself, as mismatches.
   */
  static async load(doc: OpenApiDoc, uri: string): Promise<Fidelity> {
    const f = new Fidelity(doc, uri);
    const out = await validate(OAS31_SCHEMA_BASE, doc as never, BASIC);
    if (!out.valid) {
      for (const e of out.errors ?? []) {
        f.mismatches.push(
          `/openapi.json is no valid OpenAPI 3.1 document: ${e.instanceLocation} fails ` +
            `${e.keyword} (${e.absoluteKeywordLocation})`,
        );
      }
    }
    // Registered as a schema of the OpenAPI dialect, so that a pointer into
    // it is a schema and its `#/components/schemas/...` references resolve.
    registerSchema({ ...doc, $schema: OAS31_DIALECT } as never, uri);
    return f;
  }

  /** The operation `id`; throws for one the document does not have. */
  operation(id: string): Operation {
    const op = this.operations.get(id);
    if (op === undefined) throw new Error(`/openapi.json has no operation ${id}`);
    return op;
  }

  /**
   * Checks one answer of operation `id` to a request for `url`: its status,
   * its media type and its body (read here; the parsed JSON, or the text, is
   * returned). `expected`, when given, is the status the scenario means to
   * reach: another one is a mismatch of the test, reported too, since a
   * check that never reached its answer proves nothing.
   */
  async check(id: string, url: string, res: Response, expected?: number): Promise<unknown> {
    const op = this.operation(id);
    const where = `${id} (${op.method} ${new URL(url).pathname}${new URL(url).search})`;
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    // An event stream never ends: its first `block` event's data stands for it.
    const sse = mediaType === "text/event-stream" && res.status === 200;
    const text = sse ? await firstEventData(res) : await res.text();
    const template = new RegExp(
      "^" + op.path.replace(/[.]/g, "\\.").replace(/\{[^}]+\}/g, "[^/]+") + "$",
    );
    if (!template.test(new URL(url).pathname)) {
      this.mismatches.push(`${where}: the test asked a path that is not ${op.path}`);
    }
    if (expected !== undefined && res.status !== expected) {
      this.mismatches.push(
        `${where}: the scenario expected ${expected}, the site answered ${res.status}: ` +
          quote(text),
      );
    }
    let statuses = this.seen.get(id);
    if (statuses === undefined) this.seen.set(id, statuses = new Set());
    statuses.add(res.status);
    const key = String(res.status);
    const documented = op.responses[key] ??
      op.responses[`${key[0]}XX`] ?? op.responses.default;
    if (documented === undefined) {
      this.mismatches.push(
        `${where} → ${res.status}: status not documented (documented: ` +
          `${Object.keys(op.responses).join(", ")}): ${quote(text)}`,
      );
      return parseMaybe(text);
    }
    await this.#checkHeaders(`${where} → ${res.status}`, op, key, res.headers);
    const content = documented.content ?? {};
    if (text === "" && Object.keys(content).length === 0) return undefined;
    const entry = content[mediaType];
    if (entry === undefined) {
      this.mismatches.push(
        `${where} → ${res.status}: Content-Type ${quote(mediaType)} not documented ` +
          `(documented: ${Object.keys(content).join(", ") || "no body"})`,
      );
      return parseMaybe(text);
    }
    let body: unknown = text;
    if (isJsonMediaType(mediaType) || sse) {
      try {
        body = JSON.parse(text);
      } catch {
        this.mismatches.push(`${where} → ${res.status} ${mediaType}: the body is not JSON`);
        return text;
      }
    }
    if (entry.schema !== undefined) {
      const pointer = ["paths", op.path, op.method.toLowerCase(), "responses", key, "content"]
        .map(pointerToken).join("/") + "/" + pointerToken(mediaType) + "/schema";
      for (const e of await this.validate(pointer, body)) {
        this.mismatches.push(`${where} → ${res.status} ${mediaType}: ${e}`);
      }
    }
    return body;
  }

  /**
   * Checks the headers of an answer with the response `key` of `op`: each
   * declared `required` is present, each declared one present validates
   * against its schema (an `integer` one as the number its digits spell),
   * and no watched header ({@link isWatchedHeader}) is there undeclared.
   */
  async #checkHeaders(where: string, op: Operation, key: string, headers: Headers) {
    const declared = op.responses[key]?.headers ?? {};
    const base = ["paths", op.path, op.method.toLowerCase(), "responses", key, "headers"]
      .map(pointerToken).join("/");
    const names = new Set<string>();
    for (const [name, declaration] of Object.entries(declared)) {
      names.add(name.toLowerCase());
      // OpenAPI 3.1 §4.8.17.1: a Content-Type header declaration is ignored.
      if (name.toLowerCase() === "content-type") continue;
      let pointer = `${base}/${pointerToken(name)}`;
      let header = declaration;
      if ("$ref" in header) {
        const component = header.$ref.replace(/^#\/components\/headers\//, "");
        const found = this.doc.components?.headers?.[component];
        if (found === undefined || "$ref" in found || component === header.$ref) {
          this.mismatches.push(`${where}: header ${name} refers to ${header.$ref}, which is none`);
          continue;
        }
        header = found;
        pointer = `components/headers/${pointerToken(component)}`;
      }
      const value = headers.get(name);
      if (value === null) {
        if (header.required === true) {
          this.mismatches.push(`${where}: header ${name} is declared required and is absent`);
        }
        continue;
      }
      if (header.schema === undefined) continue;
      const numeric = header.schema.type === "integer" || header.schema.type === "number";
      const typed = numeric && /^-?[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : value;
      for (const e of await this.validate(`${pointer}/schema`, typed)) {
        this.mismatches.push(`${where}: header ${name}: ${e}`);
      }
    }
    for (const [name] of headers) {
      if (isWatchedHeader(name) && !names.has(name)) {
        this.mismatches.push(
          `${where}: header ${name} is sent but not declared (declared: ` +
            `${Object.keys(declared).join(", ") || "none"})`,
        );
      }
    }
  }

  /**
   * Validates `value` against the schema at `pointer` (from the document's
   * root, without `#/`) of the registered document; one sentence per
   * failing keyword, naming the instance's JSON pointer.
   */
  async validate(pointer: string, value: unknown): Promise<string[]> {
    let v = this.#validators.get(pointer);
    if (v === undefined) {
      const validator = await validate(`${this.uri}#/${pointer}`);
      v = (value: unknown) => {
        const out = validator(value as never, BASIC);
        return Promise.resolve(
          out.valid
            ? []
            : (out.errors ?? []).map((e) =>
              `${e.instanceLocation} = ${quote(at(value, e.instanceLocation))} fails ` +
              `${e.keyword.replace("https://json-schema.org/keyword/", "")} at ` +
              decodeURIComponent(e.absoluteKeywordLocation.replace(this.uri, ""))
            ),
        );
      };
      this.#validators.set(pointer, v);
    }
    return await v(value);
  }

  /** The operations never seen answering a 2xx status. */
  withoutSuccess(): string[] {
    return [...this.operations.keys()].filter((id) =>
      ![...this.seen.get(id) ?? []].some((s) => s >= 200 && s < 300)
    );
  }
}

/** Longest wait for the first `block` event of a stream, ms. */
const EVENT_WAIT_MS = 5000;

/**
 * The data of the first `block` event of an SSE answer (its `data:` lines
 * joined); the stream is cancelled after it. Empty when none came in time.
 */
async function firstEventData(res: Response): Promise<string> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const timer = setTimeout(() => reader.cancel().catch(() => {}), EVENT_WAIT_MS);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return "";
      buf += value;
      for (const frame of buf.split("\n\n").slice(0, -1)) {
        const lines = frame.split("\n");
        if (!lines.includes("event: block")) continue;
        return lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      }
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
}

function parseMaybe(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
