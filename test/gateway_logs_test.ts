/**
 * A gateway's log of its own stop, and of a log setting it cannot use: real
 * `workers/gateway.ts` processes on loopback, in front of a site that is not
 * there (`--ledger` given, so the gateway starts without one).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  closedPort,
  runWorker,
  type SpawnedWorker,
  spawnWorker,
  waitFor,
  waitForOutput,
} from "./_cluster.ts";
import {
  BODYLESS_UNROUTED_HEADS,
  openPartialRequest,
  PARTIAL_BODY_HEADS,
  postChunked,
  rawExchange,
} from "./_helpers.ts";

/** A gateway with JSON logs on a free port, in front of a site nothing answers for. */
async function startGatewayProcess(
  extraArgs: string[] = [],
): Promise<SpawnedWorker & { url: string }> {
  const gw = spawnWorker("gateway.ts", [
    "--site",
    `http://127.0.0.1:${closedPort()}`,
    "--ledger",
    "demo",
    "--port",
    "0",
    "--log-format",
    "json",
    ...extraArgs,
  ]);
  // Its `gateway <url>` line (stdout) and its log (stderr) come through pipes of their own.
  await waitForOutput(gw, '"msg":"gateway started"', 30_000);
  const url = await waitFor(
    "the gateway <url> line",
    () => Promise.resolve(gw.output().match(/^gateway (\S+)$/m)?.[1]),
    30_000,
  );
  return { ...gw, url };
}

/** The JSON log records a process wrote (its other lines, such as `gateway <url>`, left out). */
function records(output: string): Array<Record<string, unknown>> {
  return output.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

Deno.test({
  name:
    "gateway: SIGINT, with the signals that echo it within a second (deno task's SIGINT, start's SIGTERM), logs stopping and stopped at info, once each, and exits 0",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const gw = await startGatewayProcess();
    const conn = await openPartialRequest(gw.url);
    try {
      gw.process.kill("SIGINT");
      await new Promise((r) => setTimeout(r, 20));
      gw.process.kill("SIGINT");
      await new Promise((r) => setTimeout(r, 30));
      gw.process.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 300));
      // The open request ends: the stop finishes.
      conn.close();
      const { code } = await gw.process.status;
      // Its last lines may still be on their way through the pipe.
      await gw.outputEnded;
      assert.equal(code, 0, gw.output());
      const logged = records(gw.output()).filter((r) =>
        r.msg === "gateway started" || String(r.msg).startsWith("stop") ||
        String(r.msg).includes("signal")
      );
      assert.deepEqual(
        logged.map((r) => [r.level, r.msg]),
        [["info", "gateway started"], ["info", "stopping: forwarding ends"], ["info", "stopped"]],
        gw.output(),
      );
      assert.equal(logged[1].reason, "SIGINT");
      assert.equal(logged[1].gateway, "edgeledger-gateway");
      assert.equal(typeof logged[2].tookMs, "number");
    } finally {
      try {
        conn.close();
      } catch { /* closed */ }
      try {
        gw.process.kill("SIGKILL");
      } catch { /* ended */ }
      await gw.process.status;
    }
  },
});

Deno.test({
  name:
    "gateway: a second signal over a second after the first ends a stop that waits for an open request at once (exit 1), saying so",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const gw = await startGatewayProcess();
    // The stop drains for its 3 s.
    const conn = await openPartialRequest(gw.url);
    try {
      gw.process.kill("SIGTERM");
      await waitForOutput(gw, '"msg":"stopping: forwarding ends"', 5000);
      await new Promise((r) => setTimeout(r, 1200));
      const again = Date.now();
      gw.process.kill("SIGTERM");
      const { code } = await gw.process.status;
      const tookMs = Date.now() - again;
      await gw.outputEnded;
      assert.equal(code, 1, gw.output());
      assert.ok(tookMs < 1500, `exited ${tookMs} ms after the second signal`);
      const logged = records(gw.output());
      const second = logged.filter((r) => r.msg === "a second signal: stopping at once");
      assert.equal(second.length, 1, gw.output());
      assert.equal(second[0].level, "warn");
      assert.equal(second[0].signal, "SIGTERM");
      assert.equal(logged.filter((r) => r.msg === "stopping: forwarding ends").length, 1);
      assert.equal(logged.filter((r) => r.msg === "stopped").length, 0);
    } finally {
      conn.close();
      try {
        gw.process.kill("SIGKILL");
      } catch { /* ended */ }
      await gw.process.status;
    }
  },
});

Deno.test("gateway: a bad log level or format in the environment exits 2 with one line naming the variable", async () => {
  for (
    const [env, message] of [
      [
        { EDGELEDGER_GATEWAY_LOG_LEVEL: "loud" },
        'Cannot start gateway: EDGELEDGER_GATEWAY_LOG_LEVEL must be "debug", "info", "warn" or "error", not "loud"',
      ],
      [
        { EDGELEDGER_LOG_FORMAT: "yaml" },
        'Cannot start gateway: EDGELEDGER_LOG_FORMAT must be "text" or "json", not "yaml"',
      ],
    ] as Array<[Record<string, string>, string]>
  ) {
    const out = await runWorker("gateway.ts", ["--site", "http://127.0.0.1:1"], env);
    assert.equal(out.code, 2, out.text);
    assert.equal(out.text.trim(), message);
  }
});

Deno.test({
  name:
    "gateway: a client that leaves in the middle of its request body is one debug line, client left mid-request, never an error (sized and chunked bodies)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const gw = await startGatewayProcess(["--log-level", "debug"]);
    try {
      for (const head of PARTIAL_BODY_HEADS) (await openPartialRequest(gw.url, head)).close();
      await waitFor(
        "two client left mid-request lines",
        () =>
          Promise.resolve(
            records(gw.output()).filter((r) => r.msg === "client left mid-request").length === 2 ||
              undefined,
          ),
        10_000,
      );
      const loud = records(gw.output()).filter((r) => r.level === "error" || r.level === "warn");
      // The site it fronts is down: that warning is expected, nothing else.
      assert.deepEqual(loud.filter((r) => r.msg !== "site down"), []);
      for (const r of records(gw.output()).filter((r) => r.msg === "client left mid-request")) {
        assert.equal(r.level, "debug");
        assert.equal(typeof r.requestId, "string");
      }
    } finally {
      gw.process.kill("SIGTERM");
      await gw.process.status;
    }
  },
});

Deno.test({
  name:
    "gateway: a method no route handles (PROPFIND, a lower-case get) and a chunked request body are answered without Deno printing its request.signal warning: stderr holds nothing but JSON log lines",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const gw = await startGatewayProcess();
    try {
      const port = Number(new URL(gw.url).port);
      for (const head of BODYLESS_UNROUTED_HEADS) {
        // A method the HTTP parser knows reaches the app, which has no site
        // to ask what it takes there (503); one the parser does not know
        // ("get" is not GET) is refused by the parser (400): both problems.
        const answer = await rawExchange(port, head);
        assert.match(
          answer,
          head.startsWith("get ") ? /^HTTP\/1\.1 400 / : /^HTTP\/1\.1 503 /,
          head,
        );
        assert.match(answer, /content-type: application\/problem\+json/i, head);
      }
      const chunked = await postChunked(gw.url, "/v1/txs", "{}");
      assert.equal(chunked.status, 422, "the chunked body was read, and judged");
      await chunked.body?.cancel();
      // Deno's warning goes out with the answer; give it its turn before the stop.
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      gw.process.kill("SIGTERM");
      await gw.process.status;
      await gw.outputEnded;
    }
    const lines = gw.output().split("\n").filter((l) => l !== "" && !l.startsWith("gateway "));
    for (const line of lines) {
      assert.ok(line.startsWith("{"), `a line that is not a JSON log record: ${line}`);
    }
    assert.doesNotMatch(gw.output(), /request\.signal/);
  },
});
