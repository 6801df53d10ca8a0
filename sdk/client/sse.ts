/**
 * A Server-Sent Events parser (WHATWG HTML §9.2.6, "Interpreting an event
 * stream") over text chunks, so the client can read `text/event-stream` from
 * `fetch` with headers of its own (`Last-Event-ID`) — which `EventSource`
 * cannot send, and which React Native lacks altogether.
 *
 * @module
 */

/**
 * Largest line accepted by default, in characters: a block event with many transactions is big.
 *
 * @example
 * ```ts
 * new SseParser({ lineCharsMax: SSE_LINE_CHARS_MAX_DEFAULT / 4 });
 * ```
 */
export const SSE_LINE_CHARS_MAX_DEFAULT = 16 * 1024 * 1024;

/**
 * One dispatch of the stream. `id` is the stream's last event id at the
 * dispatch (it persists across events, per the spec). `data` is undefined for
 * a dispatch that carried no data — e.g. a bare `id:` line, which moves the
 * resume point without being an event.
 *
 * @example
 * ```ts
 * const [d]: SseDispatch[] = new SseParser().push("id: 3\ndata: x\n\n"); // { event: "message", id: "3", data: "x" }
 * ```
 */
export interface SseDispatch {
  /** The event type; `"message"` when the stream named none. */
  event: string;
  /** The `data` lines joined by newlines; undefined when the dispatch had none. */
  data: string | undefined;
  /** The last event id at the dispatch (persists across events). */
  id: string;
  /** A `retry:` field seen since the previous dispatch, in milliseconds. */
  retryMs?: number;
}

/**
 * An incremental parser: feed it decoded text with {@link SseParser.push} in
 * any chunking and get the complete dispatches. Lines end with CRLF, LF or
 * CR; comment lines (`:`) are skipped; an `id` containing NUL is ignored.
 * Requires every line, and every event's data (its `data` lines joined), to
 * be at most `lineCharsMax` characters; a longer one throws a `RangeError` (a
 * stream that never ends a line, or never ends an event, would otherwise grow
 * without bound).
 *
 * @example
 * ```ts
 * const parser = new SseParser();
 * parser.push("event: block\nid: 7\ndata: {\"height\":7}\n");
 * parser.push("\n"); // [{ event: "block", id: "7", data: "{\"height\":7}" }]
 * ```
 */
export class SseParser {
  /** The last event id seen so far (the value to send as `Last-Event-ID`). */
  lastEventId = "";
  readonly #lineCharsMax: number;
  #buffer = "";
  #started = false;
  #pendingCr = false;
  #data: string[] = [];
  /** Characters of {@link #data} joined: bounded by `lineCharsMax` like a line. */
  #dataChars = 0;
  #event = "";
  #idBuffer = "";
  #retryMs: number | undefined;
  #sawField = false;

  /** `lastEventId` seeds the resume point; `lineCharsMax` bounds a line and an event's data. */
  constructor(options: { lineCharsMax?: number; lastEventId?: string } = {}) {
    this.#lineCharsMax = options.lineCharsMax ?? SSE_LINE_CHARS_MAX_DEFAULT;
    this.lastEventId = options.lastEventId ?? "";
    this.#idBuffer = this.lastEventId;
  }

  /** Feeds the next chunk of text; returns the dispatches it completed, in order. */
  push(chunk: string): SseDispatch[] {
    let text = chunk;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.#pendingCr && text.startsWith("\n")) text = text.slice(1);
    this.#pendingCr = false;
    this.#buffer += text;
    const out: SseDispatch[] = [];
    let start = 0;
    for (;;) {
      const cr = this.#buffer.indexOf("\r", start);
      const lf = this.#buffer.indexOf("\n", start);
      let end: number;
      if (cr === -1 && lf === -1) break;
      if (cr === -1 || (lf !== -1 && lf < cr)) end = lf;
      else end = cr;
      const line = this.#buffer.slice(start, end);
      let next = end + 1;
      if (this.#buffer[end] === "\r") {
        if (end + 1 < this.#buffer.length) {
          if (this.#buffer[end + 1] === "\n") next = end + 2;
        } else {
          // The LF of a CRLF may come in the next chunk.
          this.#pendingCr = true;
        }
      }
      start = next;
      this.#line(line, out);
    }
    this.#buffer = this.#buffer.slice(start);
    if (this.#buffer.length > this.#lineCharsMax) {
      throw new RangeError(
        `Cannot parse event stream: a line exceeds ${this.#lineCharsMax} characters`,
      );
    }
    return out;
  }

  #line(line: string, out: SseDispatch[]): void {
    if (line.length > this.#lineCharsMax) {
      throw new RangeError(
        `Cannot parse event stream: a line exceeds ${this.#lineCharsMax} characters`,
      );
    }
    if (line === "") {
      this.#dispatch(out);
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        // Joined with "\n": the first line adds its length, each next one a character more.
        this.#dataChars += value.length + (this.#data.length > 0 ? 1 : 0);
        if (this.#dataChars > this.#lineCharsMax) {
          throw new RangeError(
            `Cannot parse event stream: an event's data exceeds ${this.#lineCharsMax} characters`,
          );
        }
        this.#data.push(value);
        this.#sawField = true;
        break;
      case "event":
        this.#event = value;
        this.#sawField = true;
        break;
      case "id":
        if (!value.includes("\0")) {
          this.#idBuffer = value;
          this.#sawField = true;
        }
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.#retryMs = Number(value);
        break;
      default:
        break;
    }
  }

  #dispatch(out: SseDispatch[]): void {
    const sawField = this.#sawField;
    this.lastEventId = this.#idBuffer;
    const data = this.#data.length === 0 ? undefined : this.#data.join("\n");
    const dispatch: SseDispatch = {
      event: this.#event === "" ? "message" : this.#event,
      data,
      id: this.lastEventId,
    };
    if (this.#retryMs !== undefined) dispatch.retryMs = this.#retryMs;
    this.#data = [];
    this.#dataChars = 0;
    this.#event = "";
    this.#retryMs = undefined;
    this.#sawField = false;
    if (sawField || dispatch.retryMs !== undefined) out.push(dispatch);
  }
}
