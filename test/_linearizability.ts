/**
 * A linearizability checker for histories recorded from real clients, in the
 * way Jepsen's Knossos and Porcupine check etcd: given every operation's
 * invocation and completion time, input and output, is there one order of
 * the operations that (1) a sequential model accepts, answer for answer, and
 * (2) keeps every operation that completed before another was invoked ahead
 * of it? (Herlihy and Wing's definition.)
 *
 * The search is Wing and Gong's, as Lowe refined it ("Testing for
 * linearizability", 2017): walk the history's calls and returns in time
 * order; at a call, try to make that operation take effect now (the model
 * must accept its input and output in the current state); at a return whose
 * operation has not taken effect, the order chosen so far is wrong, so undo
 * the latest choice and try the next candidate. Lowe's addition makes it
 * practical: a configuration is the set of operations already placed plus
 * the model state they lead to, and a configuration met before is never
 * explored again (its outcome is already known), so the search visits each
 * (set, state) at most once. Sets are bitsets, found through a hash kept up
 * to date by XOR (one random word per operation), compared in full on a hit.
 *
 * One reduction of our own keeps concurrent reads cheap: an operation that
 * changes no state (a read, see {@link Model.observes}) is placed as soon
 * as the model accepts it, with no alternative tried — if any order follows
 * the operations placed so far, one follows them with that read next. A
 * unit test compares every verdict with a search of all orders on small
 * histories.
 *
 * Horn and Kroening's P-compositionality ("Faster linearizability checking
 * via P-compositionality", 2015) splits the work: when a model says which
 * partition each operation belongs to (a key, an asset), and operations of
 * different partitions never observe each other, the history is
 * linearizable iff each partition's is, and each is searched alone.
 *
 * An operation whose outcome is unknown (it timed out, its connection was
 * reset, its site was killed) may have taken effect at any time after its
 * invocation, or never: it completes at `ret = Infinity`, and an `output`
 * left undefined stands for any output. Taking effect "never" needs no case
 * of its own: such an operation can always be placed last, after everything
 * observable.
 *
 * When no order exists the checker explains why, per partition: the longest
 * prefix of an order it could build, the state it leads to, and the
 * operations that could come next (invoked before the earliest pending
 * completion) — none of which the model accepts in that state. (At the
 * first deepest point of the search every candidate is refused by the model:
 * one it accepted would have led deeper, or to a configuration reached
 * deeper before.)
 *
 * @module
 */

/** One operation of a history. */
export interface Operation<I, O> {
  /** Who ran it (a client number), for reports only. */
  client: number;
  /** When it was invoked, in ms of a monotonic clock shared by the whole history. */
  call: number;
  /**
   * When its answer arrived (same clock), or `Infinity` when none did: then
   * it may take effect at any time after `call`, or never. Requires
   * `ret >= call`.
   */
  ret: number;
  input: I;
  /** Its answer; undefined when unknown (any answer: the model decides what it would be). */
  output?: O;
}

/** A sequential specification: what one operation does to a state, and what it may answer. */
export interface Model<S, I, O> {
  /** The state a partition (see {@link partition}) starts in. */
  init(key: string): S;
  /**
   * The state after an operation with `input` answered `output` in `state`,
   * or undefined when it cannot answer that in that state. `output`
   * undefined is an unknown answer: the operation's effect, with whatever
   * it would answer. Must not modify `state`.
   */
  step(state: S, input: I, output: O | undefined): S | undefined;
  /** A string equal for two states exactly when they are equal (the search's memo key). */
  stateKey(state: S): string;
  /**
   * The partition of an operation. Requires that operations of different
   * partitions neither change nor observe each other's state; each
   * partition is then checked alone. Absent: one partition, `""`.
   */
  partition?(input: I): string;
  /**
   * True when the operation, with this answer, leaves unchanged every state
   * the model accepts it in (a read; a transfer refused for want of funds).
   * The search then places such an operation as soon as the model accepts
   * it, and never tries it later instead: if any order follows the
   * operations placed so far, one follows them with this one next (moving
   * it earlier breaks no real-time constraint, since everything that
   * completed before its call is placed, and changes no state). Many
   * concurrent reads then cost no branching. Absent: false for all.
   */
  observes?(input: I, output: O | undefined): boolean;
  /** An operation's text in reports (default JSON). */
  describe?(input: I, output: O | undefined): string;
  /** A state's text in reports (default {@link stateKey}). */
  describeState?(state: S): string;
}

/** Limits on the search, per partition. */
export interface CheckOptions {
  /** Search steps (a try or an undo) one partition may take; past it, its verdict is `unknown`. */
  stepsMax?: number;
  /** Wall time one partition's search may take, ms; past it, its verdict is `unknown`. */
  partitionMsMax?: number;
}

/** Default {@link CheckOptions.stepsMax}: minutes of search, far more than a linearizable history of thousands of operations needs. */
export const checkStepsMaxDefault = 200_000_000;

/** Why one partition is not linearizable (indices are into the history given to {@link check}). */
export interface Violation<S> {
  key: string;
  /** The longest order of this partition's operations the search could build, with the state after each. */
  prefix: Array<{ index: number; state: S }>;
  /** The state after {@link prefix} (the partition's initial state when it is empty). */
  state: S;
  /**
   * The operation whose completion came first among those not in
   * {@link prefix}: it had to take effect by then (it is one of
   * {@link candidates}).
   */
  blocked: number;
  /**
   * Every operation that could take effect next — invoked before
   * {@link blocked} completed, not in {@link prefix} — none of which the
   * model accepts in {@link state}.
   */
  candidates: number[];
}

/** What {@link check} found. */
export interface CheckResult<S> {
  /** `linearizable`; `violation` (see {@link violations}); `unknown` when a search ran out of its budget. */
  verdict: "linearizable" | "violation" | "unknown";
  /** Operations checked. */
  ops: number;
  /** Partitions checked. */
  partitions: number;
  /** Search steps taken over all partitions. */
  steps: number;
  /** Wall time of the check, ms. */
  ms: number;
  /** One per partition that is not linearizable. */
  violations: Violation<S>[];
  /** Partitions whose search ran out of budget, with no verdict. */
  undecided: string[];
}

/** A call or return of one operation in the search's doubly linked list (Knuth's dancing links). */
interface Entry {
  /** The operation's position in its partition's list. */
  op: number;
  isCall: boolean;
  time: number;
  /** A call's return, a return's call. */
  match: Entry;
  prev: Entry | undefined;
  next: Entry | undefined;
}

/** Outcome of one partition's search. */
type Search<S> =
  | { kind: "ok"; steps: number }
  | { kind: "unknown"; steps: number }
  | { kind: "violation"; steps: number; deepest?: Deepest<S> };

/** The first configuration of greatest depth met (recorded on a second, failing run). */
interface Deepest<S> {
  placed: Array<{ op: number; state: S }>;
  state: S;
  blocked: number;
  candidates: number[];
}

/**
 * Checks `history` against `model`: whether it is linearizable, per
 * partition. Pure and deterministic (the same history gives the same
 * answer and explanation), unless {@link CheckOptions.partitionMsMax} cuts
 * a search short.
 */
export function check<S, I, O>(
  model: Model<S, I, O>,
  history: ReadonlyArray<Operation<I, O>>,
  options: CheckOptions = {},
): CheckResult<S> {
  const started = performance.now();
  const byKey = new Map<string, number[]>();
  for (const [i, op] of history.entries()) {
    if (!(op.ret >= op.call)) {
      throw new Error(
        `Cannot check operation ${i}: it returns (${op.ret}) before its call (${op.call})`,
      );
    }
    const key = model.partition?.(op.input) ?? "";
    let list = byKey.get(key);
    if (list === undefined) byKey.set(key, list = []);
    list.push(i);
  }
  const result: CheckResult<S> = {
    verdict: "linearizable",
    ops: history.length,
    partitions: byKey.size,
    steps: 0,
    ms: 0,
    violations: [],
    undecided: [],
  };
  for (const [key, indices] of byKey) {
    const ops = indices.map((i) => history[i]);
    const first = search(model, key, ops, options, false);
    result.steps += first.steps;
    if (first.kind === "ok") continue;
    if (first.kind === "unknown") {
      result.undecided.push(key);
      continue;
    }
    // Again, recording the deepest point: only failing partitions pay for it.
    const again = search(model, key, ops, options, true);
    const d = again.kind === "violation" ? again.deepest : undefined;
    if (d === undefined) throw new Error(`The second search of partition "${key}" did not fail`);
    result.violations.push({
      key,
      prefix: d.placed.map((p) => ({ index: indices[p.op], state: p.state })),
      state: d.state,
      blocked: indices[d.blocked],
      candidates: d.candidates.map((c) => indices[c]),
    });
  }
  result.verdict = result.violations.length > 0
    ? "violation"
    : result.undecided.length > 0
    ? "unknown"
    : "linearizable";
  result.ms = performance.now() - started;
  return result;
}

/** The search of one partition; `record` keeps the first deepest configuration. */
function search<S, I, O>(
  model: Model<S, I, O>,
  key: string,
  ops: ReadonlyArray<Operation<I, O>>,
  options: CheckOptions,
  record: boolean,
): Search<S> {
  const stepsMax = options.stepsMax ?? checkStepsMaxDefault;
  const deadline = options.partitionMsMax === undefined
    ? Infinity
    : performance.now() + options.partitionMsMax;
  const head = buildEntries(ops);
  // One random word per operation: the set's hash is the XOR of its members' words.
  const random = xorshift32(0x9e3779b9);
  const words = Uint32Array.from(ops, () => random());
  const placed = new Uint32Array(Math.ceil(ops.length / 32));
  let hash = 0;
  const seen = new Map<string, Uint32Array[]>();
  /** Adds the current configuration to `seen`; false when it was there already. */
  const remember = (stateKey: string): boolean => {
    const k = `${hash >>> 0}|${stateKey}`;
    const same = seen.get(k);
    if (same === undefined) {
      seen.set(k, [placed.slice()]);
      return true;
    }
    for (const bits of same) if (equalBits(bits, placed)) return false;
    same.push(placed.slice());
    return true;
  };
  const flip = (op: number) => {
    placed[op >>> 5] ^= 1 << (op & 31);
    hash ^= words[op];
  };

  let state = model.init(key);
  const stack: Frame<S>[] = [];
  let deepest: Deepest<S> | undefined;
  let steps = 0;
  /** Places `e` with the state `after` it, unless that configuration was met before. */
  const place = (e: Entry, after: S, forced: boolean): boolean => {
    flip(e.op);
    if (!remember(model.stateKey(after))) {
      flip(e.op);
      return false;
    }
    stack.push({ entry: e, before: state, forced });
    state = after;
    lift(e);
    if (record && stack.length > (deepest?.placed.length ?? -1)) {
      deepest = snapshot(head, stack, state);
    }
    return true;
  };
  // At each level the candidates are the calls before the first return in
  // the list, tried in list order (earliest call first); an observer the
  // model accepts goes first, alone.
  let fresh = true;
  let cursor: Entry | undefined;
  while (head.next !== undefined) {
    steps++;
    if (steps > stepsMax || ((steps & 0xffff) === 0 && performance.now() > deadline)) {
      return { kind: "unknown", steps };
    }
    let backtrack = false;
    if (fresh) {
      fresh = false;
      cursor = head.next;
      for (let e: Entry | undefined = head.next; e !== undefined && e.isCall; e = e.next) {
        const op = ops[e.op];
        if (model.observes?.(op.input, op.output) !== true) continue;
        const after = model.step(state, op.input, op.output);
        if (after === undefined) continue;
        // When it cannot go here, no order from this prefix exists (see Model.observes).
        if (place(e, after, true)) fresh = true;
        else backtrack = true;
        break;
      }
      if (fresh) continue;
    }
    // Every operation left has its return in the list, after its call: the
    // cursor stops at a return (the end of the candidates) before the end.
    const e = cursor!;
    if (!backtrack && e.isCall) {
      cursor = e.next;
      const op = ops[e.op];
      const after = model.step(state, op.input, op.output);
      if (after !== undefined && place(e, after, false)) fresh = true;
      continue;
    }
    // Undo the latest choice and try the candidate after it; a forced one had no alternative.
    for (;;) {
      const top = stack.pop();
      if (top === undefined) {
        if (record && deepest === undefined) deepest = snapshot(head, stack, state);
        return { kind: "violation", steps, deepest };
      }
      state = top.before;
      flip(top.entry.op);
      unlift(top.entry);
      if (top.forced) continue;
      cursor = top.entry.next;
      break;
    }
  }
  return { kind: "ok", steps };
}

/** One placement on the search's stack. */
interface Frame<S> {
  entry: Entry;
  /** The state before it. */
  before: S;
  /** An observer placed with no alternative. */
  forced: boolean;
}

/** The configuration now, for a report: what is placed, and what could come next. */
function snapshot<S>(
  head: Entry,
  stack: ReadonlyArray<Frame<S>>,
  state: S,
): Deepest<S> {
  const placed = stack.map((s, i) => ({
    op: s.entry.op,
    state: i + 1 < stack.length ? stack[i + 1].before : state,
  }));
  const candidates: number[] = [];
  let e = head.next;
  while (e !== undefined && e.isCall) {
    candidates.push(e.op);
    e = e.next;
  }
  // The list is not empty at a deepest point that failed; at a complete one, nothing blocks.
  const blocked = e?.op ?? -1;
  return { placed, state, blocked, candidates };
}

/**
 * The history as a list of calls and returns in time order, after a
 * sentinel head. At equal times calls come first: operations that touch
 * at an instant count as concurrent (the checker never demands an order
 * the clock cannot show). Returns at `Infinity` come last.
 */
function buildEntries<I, O>(ops: ReadonlyArray<Operation<I, O>>): Entry {
  const entries: Entry[] = [];
  for (const [i, op] of ops.entries()) {
    const call = { op: i, isCall: true, time: op.call } as Entry;
    const ret = { op: i, isCall: false, time: op.ret, match: call } as Entry;
    call.match = ret;
    entries.push(call, ret);
  }
  entries.sort((a, b) =>
    a.time !== b.time
      ? (a.time < b.time ? -1 : 1)
      : a.isCall !== b.isCall
      ? (a.isCall ? -1 : 1)
      : a.op - b.op
  );
  const head = { op: -1, isCall: false, time: -Infinity } as Entry;
  let prev = head;
  for (const e of entries) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  prev.next = undefined;
  return head;
}

/** Takes a call and its return out of the list (they remember their neighbours). */
function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next !== undefined) call.next.prev = call.prev;
  const ret = call.match;
  ret.prev!.next = ret.next;
  if (ret.next !== undefined) ret.next.prev = ret.prev;
}

/** Puts back what {@link lift} took out; requires undoing lifts in reverse order. */
function unlift(call: Entry): void {
  const ret = call.match;
  ret.prev!.next = ret;
  if (ret.next !== undefined) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next !== undefined) call.next.prev = call;
}

function equalBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A small deterministic source of 32-bit words (Marsaglia's xorshift). */
function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** Options of {@link explain}. */
export interface ExplainOptions {
  /** Operations of the prefix shown, its last ones (default 12). */
  prefixShownMax?: number;
  /** More about the operation at `index` (where it ran, say), shown after it. */
  note?: (index: number) => string;
}

/**
 * A violation in words: the partition, how much of an order was found, its
 * last steps, and the operations none of which could come next.
 */
export function explain<S, I, O>(
  model: Model<S, I, O>,
  history: ReadonlyArray<Operation<I, O>>,
  v: Violation<S>,
  options: ExplainOptions = {},
): string {
  const shown = options.prefixShownMax ?? 12;
  const op = (index: number) => {
    const note = options.note?.(index);
    return describeOp(model, history, index) + (note ? ` (${note})` : "");
  };
  const describeState = (s: S) => model.describeState?.(s) ?? model.stateKey(s);
  const lines = [
    `partition "${v.key}": no order of its operations is linearizable; the longest order found places ${v.prefix.length} of them`,
  ];
  const skipped = Math.max(0, v.prefix.length - shown);
  if (skipped > 0) lines.push(`  … ${skipped} earlier operations`);
  for (const p of v.prefix.slice(skipped)) {
    lines.push(`  ${op(p.index)}  ⇒ ${describeState(p.state)}`);
  }
  lines.push(
    `in state ${describeState(v.state)} none of these can take effect next, and the one marked ` +
      `completed, so one had to:`,
  );
  for (const c of v.candidates) {
    lines.push(`  ${c === v.blocked ? "→" : " "} ${op(c)}`);
  }
  return lines.join("\n");
}

/** One operation in a report: its index, client, interval and what it did. */
export function describeOp<S, I, O>(
  model: Model<S, I, O>,
  history: ReadonlyArray<Operation<I, O>>,
  index: number,
): string {
  const op = history[index];
  const what = model.describe?.(op.input, op.output) ??
    `${JSON.stringify(op.input)} → ${op.output === undefined ? "?" : JSON.stringify(op.output)}`;
  const ret = op.ret === Infinity ? "∞" : op.ret.toFixed(1);
  return `#${index} client ${op.client} [${op.call.toFixed(1)}, ${ret}] ${what}`;
}

// ---- reference models --------------------------------------------------------

/** An operation on a register: a write of a value, or a read. */
export type RegisterInput = { kind: "write"; value: number } | { kind: "read" };
/** A register's answer: a read's value (a write answers nothing but "done"). */
export type RegisterOutput = { value?: number };

/** A register holding a number, `initial` at first: the checker's textbook model. */
export function registerModel(initial = 0): Model<number, RegisterInput, RegisterOutput> {
  return {
    init: () => initial,
    step(state, input, output) {
      if (input.kind === "write") return input.value;
      if (output === undefined) return state;
      return output.value === state ? state : undefined;
    },
    observes: (input) => input.kind === "read",
    stateKey: (s) => String(s),
    describe: (input, output) =>
      input.kind === "write"
        ? `write(${input.value})${output === undefined ? " ?" : ""}`
        : `read() → ${output?.value ?? "?"}`,
  };
}

/** An operation on one key of a key-value store of registers. */
export type KvInput = RegisterInput & { key: string };

/** Registers by key, each `initial` at first: a model with one partition per key. */
export function kvModel(initial = 0): Model<number, KvInput, RegisterOutput> {
  const register = registerModel(initial);
  return {
    ...register,
    partition: (input) => input.key,
    describe: (input, output) => `${input.key}.${register.describe!(input, output)}`,
  };
}
