/**
 * Monitoring: the Prometheus alert rules shipped in docs/monitoring/ and the
 * metrics they read. Every metric an alert reads must be one a running
 * cluster's sites (or a gateway) export, in valid exposition format; the
 * consensus gauges must say who leads and follow a leader's death; and,
 * where Prometheus' `promtool` is installed (CI installs it; Debian:
 * `apt-get install prometheus`), the rules must load and pass their unit
 * tests (docs/monitoring/alerts_test.yml) and every scrape must pass
 * `promtool check metrics`.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { gatewayConfigSchema } from "../src/gateway/mod.ts";
import { startGateway } from "../workers/gateway.ts";
import { anchorTx } from "./_helpers.ts";
import { startCluster, submitCommit, waitFor } from "./_cluster.ts";

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

Deno.test({
  name: "alerts.yml: promtool loads the rules and every alert fires as alerts_test.yml says",
  ignore: PROMTOOL === undefined,
  async fn() {
    const check = await promtool(["check", "rules", RULES]);
    assert.equal(check.code, 0, check.out);
    assert.match(check.out, /SUCCESS: \d+ rules found/);
    const run = await promtool(["test", "rules", RULES_TESTS]);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /SUCCESS/);
  },
});

Deno.test({
  name:
    "metrics: a cluster's sites and a gateway export every metric the alert rules and the dashboard read, in valid exposition format; the consensus gauges name one leader and follow its death (3 sites)",
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
        const where = name.startsWith("edgeledger_gateway_") ? [gw] : sites;
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
    } finally {
      await gateway.stop();
      await cluster.stop();
    }
  },
});
