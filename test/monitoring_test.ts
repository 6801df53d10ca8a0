/**
 * Monitoring: the Prometheus alert rules shipped in docs/monitoring/ and the
 * metrics they read. Every metric an alert reads must be one a running
 * cluster's sites (or a gateway) export, in valid exposition format; the
 * consensus gauges must say who leads and follow a leader's death; and,
 * where Prometheus' `promtool` is installed (CI installs it; Debian:
 * `apt-get install prometheus`), the rules must load and pass their unit
 * tests (docs/monitoring/alerts_test.yml), every scrape must pass
 * `promtool check metrics`, and the dashboard's stats must evaluate, over
 * series made up here, to what their titles say.
 */
import assert from "node:assert/strict";
import { base64urlEncode } from "../sdk/encoding.ts";
import { generateKeyPair } from "../sdk/keys.ts";
import { gatewayConfigSchema } from "../src/gateway/mod.ts";
import { RaftHost } from "../src/site/raft_host.ts";
import { startGateway } from "../workers/gateway.ts";
import { anchorTx, openTestSite } from "./_helpers.ts";
import { closedPort, startCluster, submitCommit, waitFor } from "./_cluster.ts";

const RULES = new URL("../docs/monitoring/alerts.yml", import.meta.url).pathname;
const RULES_TESTS = new URL("../docs/monitoring/alerts_test.yml", import.meta.url).pathname;

/** Where Debian's prometheus package puts promtool, or undefined. */
const PROMTOOL = ["/usr/bin/promtool", "/usr/local/bin/promtool"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
if (PROMTOOL === undefined) {
  console.warn(
    "monitoring_test: promtool checks skipped: promtool is not installed (apt-get install prometheus)",
  );
}

async function promtool(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  const child = new Deno.Command(PROMTOOL!, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

// ---- the exposition format (text 0.0.4), parsed strictly ------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  type: string;
  help?: string;
  samples: Sample[];
}

const SAMPLE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;

/** The family a sample name belongs to: itself, or a histogram's for its suffixes. */
function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && families.get(base)?.type === "histogram") return base;
  }
  return name;
}

/**
 * Parses exposition text, throwing on what Prometheus would refuse or what
 * breaks its rules: a sample without a TYPE, a family declared twice or
 * split into two runs, a duplicate series, a bad label, a bad value, a
 * counter not named `_total`.
 */
function parseExposition(text: string): Map<string, Family> {
  assert.ok(text.endsWith("\n"), "exposition text ends with a newline");
  const families = new Map<string, Family>();
  const seenSeries = new Set<string>();
  const closed = new Set<string>();
  let current: string | undefined;
  const enter = (name: string) => {
    if (current === name) return;
    assert.ok(!closed.has(name), `${name}: its lines are split into two runs`);
    if (current !== undefined) closed.add(current);
    current = name;
  };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, what, name, rest] = meta;
      enter(name);
      const f = families.get(name) ?? { type: "untyped", samples: [] };
      if (what === "TYPE") {
        assert.ok(!families.get(name)?.type || f.type === "untyped", `${name}: TYPE twice`);
        assert.match(rest, /^(counter|gauge|histogram|summary|untyped)$/, `${name}: type ${rest}`);
        assert.equal(f.samples.length, 0, `${name}: TYPE after its samples`);
        if (rest === "counter") assert.match(name, /_total$/, `${name}: a counter ends in _total`);
        f.type = rest;
      } else {
        assert.equal(f.help, undefined, `${name}: HELP twice`);
        f.help = rest;
      }
      families.set(name, f);
      continue;
    }
    assert.ok(!line.startsWith("#"), `a comment line: ${line}`);
    const m = SAMPLE_RE.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const [, name, labelText = "", valueText] = m;
    const family = familyOf(name, families);
    enter(family);
    const f = families.get(family);
    assert.ok(f !== undefined && f.type !== "untyped", `${name}: a sample without a TYPE`);
    const labels: Record<string, string> = {};
    LABEL_RE.lastIndex = 0;
    while (LABEL_RE.lastIndex < labelText.length) {
      const l = LABEL_RE.exec(labelText);
      assert.ok(l, `${name}: bad labels {${labelText}}`);
      assert.equal(labels[l[1]], undefined, `${name}: label ${l[1]} twice`);
      labels[l[1]] = l[2];
    }
    const value = /^[+-]?Inf$/.test(valueText)
      ? Number(valueText.replace("Inf", "Infinity"))
      : Number(valueText);
    assert.ok(!Number.isNaN(value) || valueText === "NaN", `${name}: value ${valueText}`);
    const key = name + "{" + Object.entries(labels).sort().map(([k, v]) => `${k}=${v}`).join(",") +
      "}";
    assert.ok(!seenSeries.has(key), `series ${key} twice`);
    seenSeries.add(key);
    f.samples.push({ name, labels, value });
  }
  return families;
}

/** The one sample of `name` with `labels` (all of them, exactly), or undefined. */
function valueOf(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const f = families.get(familyOf(name, families));
  const want = JSON.stringify(Object.entries(labels).sort());
  return f?.samples.find((s) =>
    s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want
  )?.value;
}

/** The PromQL expressions of a rules file (one `expr:` per line, as alerts.yml writes them). */
function exprsInRules(rules: string): string[] {
  return rules.split("\n").flatMap((line) => {
    const expr = /^\s*expr:\s*(.*)$/.exec(line)?.[1];
    return expr === undefined ? [] : [expr];
  });
}

/**
 * The PromQL expressions of a Grafana dashboard (its panels' targets and
 * its query variables), with Grafana's variables replaced by what they
 * stand for in a plain Prometheus query.
 */
function exprsInDashboard(dashboard: {
  panels: Array<{ targets?: Array<{ expr: string }> }>;
  templating: { list: Array<{ query?: unknown; definition?: string }> };
}): string[] {
  const raw = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list.flatMap((v) =>
      v.definition === undefined ? [] : [/^label_values\((.*), \w+\)$/.exec(v.definition)![1]]
    ),
  ];
  return raw.map((e) =>
    e.replaceAll("$__rate_interval", "5m").replaceAll("$job", "edgeledger")
      .replaceAll("$instance", ".+")
  );
}

/** Metric names that `exprs` read (a histogram's as its family). */
function metricNamesIn(exprs: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const expr of exprs) {
    for (const m of expr.matchAll(/\b((?:edgeledger|process|deno)_[a-z0-9_]+)\b/g)) {
      names.add(m[1].replace(/_bucket$/, ""));
    }
  }
  return names;
}

const DASHBOARD = new URL("../docs/monitoring/dashboard.json", import.meta.url).pathname;

async function scrape(url: string): Promise<{ text: string; families: Map<string, Family> }> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return { text, families: parseExposition(text) };
}

// ---- tests -----------------------------------------------------------------

Deno.test("parseExposition() refuses what Prometheus refuses (the test's own parser can fail)", () => {
  const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n';
  assert.equal(valueOf(parseExposition(ok), "a_total", { x: "1" }), 2);
  for (
    const bad of [
      "a 1\n", // no TYPE
      "# TYPE a gauge\na 1\na 2\n", // the same series twice
      "# TYPE a gauge\n# TYPE a gauge\na 1\n", // TYPE twice
      '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 1\n', // split runs
      "# TYPE a counter\na 1\n", // a counter without _total
      "# TYPE a gauge\na{x=1} 1\n", // an unquoted label
      "# TYPE a gauge\na one\n", // not a number
      "# TYPE a gauge\na 1", // no final newline
    ]
  ) {
    assert.throws(() => parseExposition(bad), assert.AssertionError, JSON.stringify(bad));
  }
});

Deno.test("metricNamesIn(exprsInRules()) finds every metric an expression reads, histograms as their family", () => {
  const rules = [
    "      - alert: X",
    "        expr: histogram_quantile(0.99, rate(edgeledger_a_seconds_bucket[5m])) > 1",
    '        expr: process_open_fds{job="x"} / process_max_fds > 0.8 and up == 0',
    "        summary: edgeledger_not_an_expr",
  ].join("\n");
  assert.deepEqual(
    [...metricNamesIn(exprsInRules(rules))].sort(),
    ["edgeledger_a_seconds", "process_max_fds", "process_open_fds"],
  );
});

Deno.test("exprsInDashboard() takes panels' and variables' queries, with Grafana's variables replaced", () => {
  const exprs = exprsInDashboard({
    panels: [{
      targets: [{ expr: 'rate(a_total{job="$job", instance=~"$instance"}[$__rate_interval])' }],
    }, {}],
    templating: {
      list: [{ definition: 'label_values(b{job="$job"}, instance)' }, { query: "prometheus" }],
    },
  });
  assert.deepEqual(exprs, [
    'rate(a_total{job="edgeledger", instance=~".+"}[5m])',
    'b{job="edgeledger"}',
  ]);
});

Deno.test({
  name: "dashboard.json: every query of the Grafana dashboard is valid PromQL (promtool)",
  ignore: PROMTOOL === undefined,
  async fn() {
    const exprs = exprsInDashboard(JSON.parse(await Deno.readTextFile(DASHBOARD)));
    assert.ok(exprs.length >= 25, `only ${exprs.length} queries`);
    // promtool parses expressions only inside rules: one recording rule each.
    const rules = "groups:\n  - name: dashboard\n    rules:\n" +
      exprs.map((e, i) =>
        `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(e)}\n`
      )
        .join("");
    const file = await Deno.makeTempFile({ suffix: ".yml" });
    try {
      await Deno.writeTextFile(file, rules);
      const check = await promtool(["check", "rules", file]);
      assert.equal(check.code, 0, check.out);
      assert.match(check.out, new RegExp(`SUCCESS: ${exprs.length} rules found`));
    } finally {
      await Deno.remove(file);
    }
  },
});

/** A dashboard target: its query, and whether Grafana runs it at one instant or over the range. */
interface Target {
  expr: string;
  instant?: boolean;
  range?: boolean;
}

/** The one target of the panel titled `title` in dashboard.json. */
async function panelTarget(title: string): Promise<Target> {
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  const panels = dashboard.panels.filter((p: { title: string }) => p.title === title);
  assert.equal(panels.length, 1, `one panel titled ${title}`);
  assert.equal(panels[0].targets.length, 1, `${title}: one target`);
  return panels[0].targets[0];
}

/**
 * Checks with promtool's unit tests that `expr` (Grafana's variables
 * replaced as {@link exprsInDashboard} does) evaluates at `at` over `series`
 * to exactly `want` (labels as PromQL writes them, `{}` for none); throws
 * with what it got otherwise.
 */
async function assertEvaluates(
  series: Array<{ series: string; values: string }>,
  expr: string,
  at: string,
  want: Array<{ labels: string; value: number }>,
): Promise<void> {
  const [plain] = exprsInDashboard({ panels: [{ targets: [{ expr }] }], templating: { list: [] } });
  // JSON is YAML: promtool reads it as its unit-test file.
  const test = {
    rule_files: [],
    evaluation_interval: "15s",
    tests: [{
      interval: "15s",
      input_series: series,
      promql_expr_test: [{ expr: plain, eval_time: at, exp_samples: want }],
    }],
  };
  const file = await Deno.makeTempFile({ suffix: ".yml" });
  try {
    await Deno.writeTextFile(file, JSON.stringify(test));
    const run = await promtool(["test", "rules", file]);
    assert.equal(run.code, 0, `${plain}\n${run.out}`);
  } finally {
    await Deno.remove(file);
  }
}

Deno.test({
  name:
    "dashboard.json: the Leader stat names the site that leads now (its site label, at one instant), after an election too",
  ignore: PROMTOOL === undefined,
  async fn() {
    const target = await panelTarget("Leader");
    // Over a range, every site that led in it would be listed (each one's last value is 1).
    assert.equal(target.instant, true, "the Leader stat is an instant query");
    assert.equal(target.range, false, "the Leader stat is not a range query");
    const info = (i: string, site: string) =>
      `edgeledger_site_info{job="edgeledger",instance="${i}",site="${site}",ledger="demo",version="0.1.0"}`;
    const series = [
      { series: info("a:7001", "pop-paris"), values: "1x20" },
      { series: info("b:7001", "pop-lyon"), values: "1x20" },
      {
        series: 'edgeledger_raft_is_leader{job="edgeledger",instance="a:7001"}',
        values: "1x8 0x12",
      },
      {
        series: 'edgeledger_raft_is_leader{job="edgeledger",instance="b:7001"}',
        values: "0x8 1x12",
      },
    ];
    await assertEvaluates(series, target.expr, "1m", [{ labels: '{site="pop-paris"}', value: 1 }]);
    await assertEvaluates(series, target.expr, "4m", [{ labels: '{site="pop-lyon"}', value: 1 }]);
  },
});

Deno.test({
  name: "dashboard.json: the Sites up stat counts the sites that answer scrapes, 0 when none does",
  ignore: PROMTOOL === undefined,
  async fn() {
    const { expr } = await panelTarget("Sites up");
    const series = [
      { series: 'up{job="edgeledger",instance="a:7001"}', values: "1 1 0 0" },
      { series: 'up{job="edgeledger",instance="b:7001"}', values: "1 0 0 0" },
    ];
    await assertEvaluates(series, expr, "0s", [{ labels: "{}", value: 2 }]);
    await assertEvaluates(series, expr, "15s", [{ labels: "{}", value: 1 }]);
    await assertEvaluates(series, expr, "45s", [{ labels: "{}", value: 0 }]);
  },
});

Deno.test({
  name:
    "alerts.yml: promtool loads the rules, as many as the README says, and every alert fires as alerts_test.yml says",
  ignore: PROMTOOL === undefined,
  async fn() {
    const check = await promtool(["check", "rules", RULES]);
    assert.equal(check.code, 0, check.out);
    const found = check.out.match(/SUCCESS: (\d+) rules found/)?.[1];
    assert.ok(found !== undefined, check.out);
    const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
    assert.match(readme, new RegExp(`alerts\\.yml\\), ${found} in all,`));
    const run = await promtool(["test", "rules", RULES_TESTS]);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /SUCCESS/);
  },
});

Deno.test("metrics: the leader's peer gauges cover the members of its configuration only: a removed member (one that was down, say) leaves them", async () => {
  const t = await openTestSite();
  // The only voter, ticking every 5 ms: it leads within an election (20 ms).
  const host = await RaftHost.start(
    t.site,
    t.site.raftStore(),
    "site-a",
    t.site.siteKey,
    [{ name: "site-a", url: "http://127.0.0.1:1", publicKey: t.site.siteKey.publicKey }],
    ["site-a"],
    { tickMs: 5, electionTicks: 4, heartbeatTicks: 1 },
  );
  /** The leader's reachable gauges (peer=value), and the peers of its lag gauges. */
  const gauges = () => {
    const f = parseExposition(host.metrics());
    return [
      f.get("edgeledger_raft_peer_reachable")!.samples.map((s) => `${s.labels.peer}=${s.value}`),
      f.get("edgeledger_raft_peer_lag_entries")!.samples.map((s) => s.labels.peer),
    ];
  };
  try {
    await waitFor(
      "site-a to lead",
      () => Promise.resolve(host.consensusStatus().role === "leader" || undefined),
      10_000,
    );
    // A learner whose site is down: the leader's heartbeats to it fail.
    await host.addLearner({
      name: "site-b",
      url: `http://127.0.0.1:${closedPort()}`,
      publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
    });
    await waitFor(
      "site-b reported unreachable",
      () => Promise.resolve(gauges()[0].includes("site-b=0") || undefined),
      10_000,
    );
    assert.deepEqual(gauges(), [["site-b=0"], ["site-b"]]);
    // Removed, it is no peer of the leader's any more: no gauge says it is down.
    await host.remove("site-b");
    assert.deepEqual(gauges(), [[], []]);
  } finally {
    await host.close();
    await t.cleanup();
  }
});

Deno.test({
  name:
    "metrics: a cluster's sites and a gateway export every metric the alert rules and the dashboard read, in valid exposition format; the consensus gauges name one leader, see a frozen follower, and follow the leader's death (3 sites)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster(3);
    const gateway = await startGateway(gatewayConfigSchema.parse({
      port: 0,
      sites: cluster.sites.map((s) => s.url),
      pollIntervalMs: 100,
      pollTimeoutMs: 500,
      log: { level: "error" },
    }));
    try {
      const leaderOf = async (alive: number[]) => {
        return await waitFor("one leader that every live site knows", async () => {
          const scrapes = await Promise.all(alive.map((i) => scrape(cluster.sites[i].url)));
          const leaders = alive.filter((_, k) =>
            valueOf(scrapes[k].families, "edgeledger_raft_is_leader") === 1
          );
          const known = scrapes.every((s) =>
            valueOf(s.families, "edgeledger_raft_has_leader") === 1
          );
          const terms = new Set(scrapes.map((s) => valueOf(s.families, "edgeledger_raft_term")));
          return leaders.length === 1 && known && terms.size === 1 ? leaders[0] : undefined;
        });
      };
      const first = await leaderOf([0, 1, 2]);
      const device = generateKeyPair("ed25519");
      for (let i = 0; i < 3; i++) {
        const r = await submitCommit(cluster.sites[i].url, await anchorTx(device));
        assert.equal(r.status, 200);
      }
      // Every site has the block and a quorum-signed checkpoint of it.
      await waitFor("every site's checkpoint at height 3", async () => {
        const s = await Promise.all(cluster.sites.map((p) => scrape(p.url)));
        return s.every((x) => valueOf(x.families, "edgeledger_checkpoint_height")! >= 3) ||
          undefined;
      });

      const sites = await Promise.all(cluster.sites.map((s) => scrape(s.url)));
      const gw = await scrape(gateway.url);
      // What every alert reads is there.
      const wanted = metricNamesIn([
        ...exprsInRules(await Deno.readTextFile(RULES)),
        ...exprsInDashboard(JSON.parse(await Deno.readTextFile(DASHBOARD))),
      ]);
      assert.ok(
        wanted.size >= 30,
        `only ${wanted.size} names found in the rules and the dashboard`,
      );
      for (const name of wanted) {
        // Only a server with `tls` exports these: tls_reload_test reads them from a site's.
        if (name.startsWith("edgeledger_tls_")) continue;
        // A gateway guards its client connections by default, a site only with clientConnections.
        const gatewayOnly = name.startsWith("edgeledger_gateway_") ||
          name.startsWith("edgeledger_http_connections");
        const where = gatewayOnly ? [gw] : sites;
        for (const s of where) assert.ok(s.families.has(name), `${name} is not exported`);
      }
      for (
        const name of [
          "process_open_fds",
          "process_resident_memory_bytes",
          "process_cpu_seconds_total",
        ]
      ) {
        assert.ok(gw.families.has(name), `the gateway does not export ${name}`);
      }
      if (PROMTOOL !== undefined) {
        for (const s of [...sites, gw]) {
          const lint = await promtool(["check", "metrics"], s.text);
          assert.equal(lint.code, 0, lint.out);
        }
      }

      // The consensus gauges.
      const names = cluster.sites.map((s) => s.name);
      const leader = sites[first].families;
      for (const [i, s] of sites.entries()) {
        const f = s.families;
        assert.equal(valueOf(f, "edgeledger_site_healthy"), 1);
        assert.equal(
          valueOf(f, "edgeledger_site_info", { site: names[i], ledger: "demo", version: "0.1.0" }),
          1,
        );
        assert.equal(valueOf(f, "edgeledger_raft_voters"), 3);
        assert.equal(valueOf(f, "edgeledger_raft_learners"), 0);
        assert.equal(valueOf(f, "edgeledger_raft_is_learner"), 0);
        assert.equal(valueOf(f, "edgeledger_site_key_retirements_unsigned"), 0);
        assert.ok(valueOf(f, "edgeledger_raft_leader_changes_total")! >= 1);
        assert.ok(
          valueOf(f, "edgeledger_raft_commit_index")! >=
            valueOf(f, "edgeledger_raft_applied_index")!,
        );
        assert.ok(valueOf(f, "edgeledger_raft_applied_index")! >= 3);
        assert.ok(valueOf(f, "process_resident_memory_bytes")! > 1e6);
        assert.ok(valueOf(f, "process_open_fds")! > 0);
        const peers = f.get("edgeledger_raft_peer_reachable")!.samples.map((x) => x.labels.peer);
        if (i === first) {
          // The leader speaks for every peer, and alone gives match and lag.
          assert.deepEqual(peers, names.filter((n) => n !== names[first]));
          for (const p of peers) {
            assert.equal(valueOf(f, "edgeledger_raft_peer_reachable", { peer: p }), 1);
            assert.equal(valueOf(f, "edgeledger_raft_peer_lag_entries", { peer: p }), 0);
            assert.equal(
              valueOf(f, "edgeledger_raft_peer_match_index", { peer: p }),
              valueOf(f, "edgeledger_raft_commit_index"),
            );
          }
        } else {
          assert.deepEqual(peers, [names[first]]);
          assert.equal(f.get("edgeledger_raft_peer_match_index")!.samples.length, 0);
        }
      }
      assert.equal(valueOf(leader, "edgeledger_raft_is_leader"), 1);
      assert.equal(
        valueOf(gw.families, "edgeledger_gateway_site_up", { site: cluster.sites[first].url }),
        1,
      );

      // A follower cut off silently (frozen: its connections stay open, nothing answers, no send
      // fails): the leader reports it unreachable once it has not heard from it for two election
      // timeouts, and reachable again once it answers.
      const frozen = [0, 1, 2].find((i) => i !== first)!;
      const leaderGauge = async () =>
        valueOf(
          (await scrape(cluster.sites[first].url)).families,
          "edgeledger_raft_peer_reachable",
          { peer: names[frozen] },
        );
      cluster.sites[frozen].proc.kill("SIGSTOP");
      try {
        await waitFor(
          "the leader to report the frozen follower unreachable",
          async () => await leaderGauge() === 0 || undefined,
          10_000,
        );
      } finally {
        cluster.sites[frozen].proc.kill("SIGCONT");
      }
      await waitFor(
        "the leader to report it reachable again",
        async () => await leaderGauge() === 1 || undefined,
        10_000,
      );

      // The leader dies: a survivor leads, counts the change, and reports the old one unreachable.
      const changesBefore = sites.map((s) =>
        valueOf(s.families, "edgeledger_raft_leader_changes_total")!
      );
      await cluster.kill(first);
      const alive = [0, 1, 2].filter((i) => i !== first);
      const next = await leaderOf(alive);
      for (const i of alive) {
        const f = (await scrape(cluster.sites[i].url)).families;
        assert.ok(valueOf(f, "edgeledger_raft_leader_changes_total")! > changesBefore[i], names[i]);
        assert.ok(valueOf(f, "edgeledger_raft_term")! > valueOf(leader, "edgeledger_raft_term")!);
      }
      await waitFor("the new leader to report the old one unreachable", async () => {
        const f = (await scrape(cluster.sites[next].url)).families;
        return valueOf(f, "edgeledger_raft_peer_reachable", { peer: names[first] }) === 0 ||
          undefined;
      });
      const nf = (await scrape(cluster.sites[next].url)).families;
      const other = alive.find((i) => i !== next)!;
      assert.equal(valueOf(nf, "edgeledger_raft_peer_reachable", { peer: names[other] }), 1);
      await waitFor("the gateway to mark the dead site down", async () => {
        const g = (await scrape(gateway.url)).families;
        return valueOf(g, "edgeledger_gateway_site_up", { site: cluster.sites[first].url }) === 0 ||
          undefined;
      });

      // The new leader dies too: the survivor, cut off from the majority, knows no leader
      // (NoLeader can fire on it) and still speaks for its links to both members, each down
      // (PeerUnreachable can fire on it too).
      await cluster.kill(next);
      await waitFor("the survivor to report no leader and both peers unreachable", async () => {
        const f = (await scrape(cluster.sites[other].url)).families;
        const reachable = f.get("edgeledger_raft_peer_reachable")!.samples
          .map((x) => `${x.labels.peer}=${x.value}`);
        const down = names.filter((n) => n !== names[other]).map((n) => `${n}=0`);
        return valueOf(f, "edgeledger_raft_has_leader") === 0 &&
            JSON.stringify(reachable) === JSON.stringify(down) ||
          undefined;
      }, 15_000);
    } finally {
      await gateway.stop();
      await cluster.stop();
    }
  },
});
