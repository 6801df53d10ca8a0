import assert from "node:assert/strict";
import {
  createLogger,
  logConfigSchema,
  logConfigWithEnv,
  type LogFormat,
  type LogLevel,
  logValueProblem,
  silentLogger,
  SlowWriteWarning,
} from "./log.ts";

/** A logger at `level` in `format` whose lines land in `lines`, at a fixed clock. */
function capture(format: LogFormat, level: LogLevel = "debug") {
  const lines: string[] = [];
  const log = createLogger({
    level,
    format,
    context: { site: "site-a" },
    write: (line) => lines.push(line),
    now: () => Date.UTC(2025, 5, 1, 12, 0, 0, 123),
  });
  return { log, lines };
}

Deno.test("log: json: each record is one line of one JSON object with time, level, site and msg first, then the fields", () => {
  const { log, lines } = capture("json");
  log.info("became leader", { term: 5, voters: ["site-a", "site-b"], none: undefined });
  log.warn("peer unreachable", { peer: "site-b", reason: 'say "no"\nthen stop' });
  assert.equal(lines.length, 2);
  for (const line of lines) assert.ok(!line.includes("\n"), line);
  const first = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(first), ["time", "level", "site", "msg", "term", "voters"]);
  assert.deepEqual(first, {
    time: "2025-06-01T12:00:00.123Z",
    level: "info",
    site: "site-a",
    msg: "became leader",
    term: 5,
    voters: ["site-a", "site-b"],
  });
  assert.equal(JSON.parse(lines[1]).reason, 'say "no"\nthen stop');
});

Deno.test("log: json: an error is serialised with its name, message, stack and cause, never as {}", () => {
  const { log, lines } = capture("json");
  const cause = new Error("disk is full");
  const e = new TypeError("Cannot write block 12", { cause });
  log.error("site halted", { error: e, nested: { errors: [new RangeError("x")] } });
  const r = JSON.parse(lines[0]);
  assert.equal(r.error.name, "TypeError");
  assert.equal(r.error.message, "Cannot write block 12");
  assert.match(r.error.stack, /^TypeError: Cannot write block 12\n\s+at /);
  assert.equal(r.error.cause.message, "disk is full");
  assert.equal(r.nested.errors[0].message, "x");
  // A system error's code says what it was.
  const sys = Object.assign(new Error("No such file"), { code: "ENOENT" });
  log.error("x", { error: sys });
  assert.equal(JSON.parse(lines[1]).error.code, "ENOENT");
});

Deno.test("log: json: a field named like a record member does not replace it, and one no encoder takes still leaves a record", () => {
  const { log, lines } = capture("json");
  log.info("m", { msg: "other", level: "x", site: "site-z", n: 10n });
  const r = JSON.parse(lines[0]);
  assert.equal(r.msg, "m");
  assert.equal(r.level, "info");
  assert.equal(r.site, "site-a");
  assert.equal(r["field.msg"], "other");
  assert.equal(r["field.site"], "site-z");
  assert.equal(r.n, "10");
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  log.warn("with a cycle", { cycle });
  const c = JSON.parse(lines[1]);
  assert.equal(c.msg, "with a cycle");
  assert.equal(c.level, "warn");
  assert.match(c.logError, /circular/i);
});

Deno.test("log: text: one line — ISO time, level, site, message, then key=value fields, quoted when they need it", () => {
  const { log, lines } = capture("text");
  log.info("became leader", { term: 5, leader: "site-a" });
  log.warn("peer unreachable", {
    peer: "site-b",
    reason: "tcp connect error: Connection refused",
    voters: ["site-a", "site-b"],
    empty: "",
    gone: undefined,
  });
  log.error("site halted", { reason: "a fatal error", error: new Error("SQLITE_FULL\ndisk") });
  assert.deepEqual(lines, [
    "2025-06-01T12:00:00.123Z INFO  site-a became leader term=5 leader=site-a",
    '2025-06-01T12:00:00.123Z WARN  site-a peer unreachable peer=site-b reason="tcp connect error: Connection refused" voters=["site-a","site-b"] empty=""',
    '2025-06-01T12:00:00.123Z ERROR site-a site halted reason="a fatal error" error="SQLITE_FULL\\ndisk"',
  ]);
});

Deno.test("log: records below the level are not written; enabled() says which are", () => {
  const { log, lines } = capture("json", "warn");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(lines.map((l) => JSON.parse(l).level), ["warn", "error"]);
  assert.equal(log.enabled("info"), false);
  assert.equal(log.enabled("warn"), true);
  assert.equal(silentLogger.enabled("error"), false);
});

Deno.test("log: with() adds fields to every record of the child only; a record's own field wins", () => {
  const { log, lines } = capture("json");
  const peer = log.with({ peer: "site-b", term: 1 });
  peer.info("a", { term: 2 });
  log.info("b");
  assert.deepEqual(JSON.parse(lines[0]), {
    time: "2025-06-01T12:00:00.123Z",
    level: "info",
    site: "site-a",
    msg: "a",
    peer: "site-b",
    term: 2,
  });
  assert.equal(JSON.parse(lines[1]).peer, undefined);
});

Deno.test("log: a sink that throws (stderr closed) does not throw at the caller", () => {
  const log = createLogger({
    write: () => {
      throw new Error("Broken pipe");
    },
  });
  log.error("still fine");
});

Deno.test("logConfigSchema: defaults to info and text; an unknown key and a bad level or format are refused, naming the allowed values", () => {
  assert.deepEqual(logConfigSchema.parse(undefined), { level: "info", format: "text" });
  assert.deepEqual(logConfigSchema.parse({ format: "json" }), { level: "info", format: "json" });
  const unknown = logConfigSchema.safeParse({ level: "info", colour: true });
  assert.equal(unknown.success, false);
  assert.equal(unknown.error?.issues[0].code, "unrecognized_keys");
  const level = logConfigSchema.safeParse({ level: "verbose" });
  assert.equal(level.error?.issues[0].message, 'must be "debug", "info", "warn" or "error"');
  const format = logConfigSchema.safeParse({ format: "xml" });
  assert.equal(format.error?.issues[0].message, 'must be "text" or "json"');
});

Deno.test("logConfigWithEnv: EDGELEDGER_LOG_LEVEL and EDGELEDGER_LOG_FORMAT override the config; a bad value is refused by name", () => {
  const config = { level: "info" as const, format: "text" as const };
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assert.deepEqual(logConfigWithEnv(config, env({})), config);
  assert.deepEqual(
    logConfigWithEnv(config, env({ EDGELEDGER_LOG_LEVEL: "debug", EDGELEDGER_LOG_FORMAT: "json" })),
    { level: "debug", format: "json" },
  );
  assert.throws(
    () => logConfigWithEnv(config, env({ EDGELEDGER_LOG_LEVEL: "loud" })),
    /^Error: EDGELEDGER_LOG_LEVEL must be "debug", "info", "warn" or "error", not "loud"$/,
  );
  assert.throws(
    () => logConfigWithEnv(config, env({ EDGELEDGER_LOG_FORMAT: "yaml" })),
    /EDGELEDGER_LOG_FORMAT must be "text" or "json", not "yaml"/,
  );
});

Deno.test("SlowWriteWarning: a write over the threshold warns with how long it took; on a disk that stays slow, once per interval with the count since", () => {
  const { log, lines } = capture("json");
  let now = 0;
  const slow = new SlowWriteWarning(log, "raft", 1000, 10_000, () => now);
  slow.observe(5);
  slow.observe(1000);
  assert.equal(lines.length, 0, "at or under the threshold: nothing");
  slow.observe(1500);
  for (let i = 0; i < 5; i++) {
    now += 1000;
    slow.observe(1200 + i);
  }
  assert.equal(lines.length, 1, "the slow writes within the interval are counted, not logged");
  now += 10_000;
  slow.observe(3000);
  assert.equal(slow.count, 7);
  const [first, second] = lines.map((l) => JSON.parse(l));
  assert.equal(first.msg, "slow durable write");
  assert.equal(first.level, "warn");
  assert.deepEqual(
    [first.write, first.tookMs, first.thresholdMs, first.slowWrites],
    ["raft", 1500, 1000, 1],
  );
  assert.deepEqual([second.tookMs, second.slowWrites, second.slowestMs], [3000, 6, 3000]);
});

Deno.test("log: text: an error shows its cause chain after its message, each cause's name (unless Error) and message, at most four deep (a cycle included)", () => {
  const { log, lines } = capture("text");
  const disk = Object.assign(new Error("disk is full"), { code: "ENOSPC" });
  const write = new TypeError("Cannot write block 12", { cause: disk });
  log.error("site halted", { error: new Error("Cannot apply batch 3", { cause: write }) });
  log.warn("peer unreachable", { error: new Error("Cannot reach site-b", { cause: "timeout" }) });
  const cycle: Error = new RangeError("again");
  cycle.cause = cycle;
  log.warn("x", { error: cycle });
  assert.deepEqual(lines, [
    '2025-06-01T12:00:00.123Z ERROR site-a site halted error="Cannot apply batch 3; cause: TypeError: Cannot write block 12; cause: disk is full"',
    '2025-06-01T12:00:00.123Z WARN  site-a peer unreachable error="Cannot reach site-b; cause: timeout"',
    `2025-06-01T12:00:00.123Z WARN  site-a x error="RangeError: again${
      "; cause: RangeError: again".repeat(4)
    }"`,
  ]);
});

Deno.test("logValueProblem() says what a level or a format must be and the value it is not, for a message that starts with where the value came from", () => {
  assert.equal(logValueProblem("level", "warn"), undefined);
  assert.equal(logValueProblem("format", "json"), undefined);
  assert.equal(
    logValueProblem("level", "loud"),
    'must be "debug", "info", "warn" or "error", not "loud"',
  );
  assert.equal(logValueProblem("format", 3), 'must be "text" or "json", not 3');
  assert.equal(
    logValueProblem("format", "x".repeat(500))?.length,
    'must be "text" or "json", not '.length + 102,
  );
});
