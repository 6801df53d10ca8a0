/**
 * The systemd deployment kit in `deploy/systemd/`: every unit file passes
 * `systemd-analyze verify` without a warning, and the Deno permissions in
 * each unit's `ExecStart` are the ones that work — read out of the unit file
 * (not copied here), with the deployment's paths mapped onto temp folders,
 * they run a real site, the gateway in front of it, a transaction through
 * the gateway, `GET /v1/admin/backup` and the backup command, and stop on
 * SIGTERM within the unit's `TimeoutStopSec`. And they are least in one way
 * that matters: a site cannot write outside its data folder.
 *
 * What the units' sandboxing does (users, `ProtectSystem=`, system call
 * filters) needs a running systemd and is not exercised here; see
 * deploy/README.md for how it was checked.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { initLocalLedger } from "../src/site/config.ts";
import { anchorTx } from "./_helpers.ts";
import { makeCa, makeCert, OPENSSL_MISSING, opensslPresent, trustingFetch } from "./_tls.ts";
import { portTaken, PortTakenError, startOnFreePort, waitFor } from "./_cluster.ts";

const repoRoot = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const unitsDir = `${repoRoot}/deploy/systemd`;
const SITE_UNIT = "edgeledger-site@.service";
const GATEWAY_UNIT = "edgeledger-gateway.service";
const BACKUP_UNIT = "edgeledger-backup@.service";
const BACKUP_TIMER = "edgeledger-backup@.timer";
/** The kit's unit files, each checked by `systemd-analyze verify`. */
const UNIT_FILES = [SITE_UNIT, GATEWAY_UNIT, BACKUP_UNIT, BACKUP_TIMER];
/** The instance name the templates are verified with. */
const VERIFY_INSTANCE = "pop-paris";
/** Where the units expect Deno and the checkout (deploy/README.md). */
const DEPLOYED_DENO = "/usr/local/bin/deno";
const DEPLOYED_CHECKOUT = "/opt/edgeledger";
/** The PATH systemd gives a system service (systemd.exec(5), "Environment variables"). */
const SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** The site `initLocalLedger` makes for a one-site ledger, and so the templates' instance. */
const SITE = "site-a";

const SYSTEMD_ANALYZE = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
if (SYSTEMD_ANALYZE === undefined) {
  console.warn(
    "deploy_test: the systemd-analyze verify check is SKIPPED: systemd-analyze is not installed " +
      "(Debian: apt-get install systemd)",
  );
}

// ---- unit files -----------------------------------------------------------

/** A unit file's settings: `Section` → key → its values in file order (a key may repeat). */
type Unit = Map<string, Map<string, string[]>>;

/**
 * Parses a unit file as systemd.syntax(7) says: `[Section]` headers,
 * `Key=Value` lines, `#` and `;` comment lines, and a line ending in a
 * backslash continued on the next (the backslash becomes a space).
 */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  let pending = "";
  for (const raw of text.split("\n")) {
    if (pending === "" && /^\s*[#;]/.test(raw)) continue;
    const line = pending + raw;
    if (line.endsWith("\\")) {
      pending = line.slice(0, -1) + " ";
      continue;
    }
    pending = "";
    const trimmed = line.trim();
    if (trimmed === "") continue;
    const header = /^\[(.+)\]$/.exec(trimmed);
    if (header) {
      section = new Map();
      unit.set(header[1], section);
      continue;
    }
    const eq = trimmed.indexOf("=");
    assert.ok(section !== undefined && eq > 0, `Cannot parse the unit line: ${trimmed}`);
    const key = trimmed.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), trimmed.slice(eq + 1).trim()]);
  }
  return unit;
}

/** The unit file `file` of the kit, parsed. */
async function readUnit(file: string): Promise<Unit> {
  return parseUnit(await Deno.readTextFile(`${unitsDir}/${file}`));
}

/** The values of `key` in `[section]`, in order (empty when unset). */
function values(unit: Unit, section: string, key: string): string[] {
  return unit.get(section)?.get(key) ?? [];
}

/** The one value of `key` in `[section]`; throws when it is unset or set more than once. */
function value(unit: Unit, section: string, key: string): string {
  const all = values(unit, section, key);
  assert.equal(all.length, 1, `${key}= must be set once in [${section}], not ${all.length} times`);
  return all[0];
}

/** `s` with the specifiers it may use resolved: `%i` (the instance) and `%%`. */
function specifiers(s: string, instance: string): string {
  return s.replace(/%(.)/g, (_, c: string) => {
    if (c === "i") return instance;
    if (c === "%") return "%";
    throw new Error(`Cannot resolve the specifier %${c}: the test knows %i and %% only`);
  });
}

/**
 * Splits a command line as systemd does (systemd.service(5), "Command
 * lines"): words separated by whitespace, `"…"` and `'…'` quoting (C escapes
 * in double quotes), and `$$` for a literal `$`. No other `$` may appear:
 * the units expand no variables.
 */
function splitCommand(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i])) i++;
    if (i >= line.length) break;
    let word = "";
    while (i < line.length && !/\s/.test(line[i])) {
      const c = line[i];
      if (c === "'" || c === '"') {
        const end = line.indexOf(c, i + 1);
        assert.ok(end > i, `Cannot split the command: unbalanced ${c} in ${line}`);
        let quoted = line.slice(i + 1, end);
        if (c === '"') quoted = quoted.replace(/\\(["\\])/g, "$1");
        word += quoted;
        i = end + 1;
      } else {
        word += c;
        i++;
      }
    }
    words.push(word);
  }
  return words.map((w) => {
    const rest = w.replaceAll("$$", "");
    assert.ok(!rest.includes("$"), `Cannot run ${w}: the test expands no variables`);
    return w.replaceAll("$$", "$");
  });
}

/** Environment= values as variables (each value holds one or more `NAME=value` words). */
function unitEnvironment(unit: Unit, instance: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of values(unit, "Service", "Environment")) {
    for (const word of splitCommand(specifiers(v, instance))) {
      const eq = word.indexOf("=");
      assert.ok(eq > 0, `Cannot read Environment=${v}`);
      env[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return env;
}

/** A systemd time span (`30s`, `2min`, `1min 30s`, `500ms`, `90`), ms. */
function timeSpanMs(span: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, sec: 1000, min: 60_000, m: 60_000 };
  let total = 0;
  for (const part of span.trim().split(/\s+/)) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|sec|min|m)?$/.exec(part);
    assert.ok(m, `Cannot read the time span ${span}`);
    total += Number(m[1]) * units[m[2] ?? "s"];
  }
  return total;
}

/** The deployment's paths, and where a test puts each. */
type PathMap = ReadonlyArray<readonly [deployed: string, here: string]>;

/** `s` with every deployed path replaced by its test path. */
function mapPaths(s: string, paths: PathMap): string {
  let out = s;
  for (const [deployed, here] of paths) out = out.replaceAll(deployed, here);
  return out;
}

/** The command, environment and working folder a service unit runs, as systemd would start it. */
interface ServiceCommand {
  /** ExecStart's program and its arguments, with `%i` and the paths resolved. */
  argv: string[];
  /** The `deno run` arguments within them: argv itself, or the command `sh -c` runs. */
  deno: string[];
  env: Record<string, string>;
  cwd: string;
  /** ExecStartPost=, resolved the same way. */
  post: string[][];
  /** TimeoutStopSec=, ms. */
  timeoutStopMs: number;
  /** ReadWritePaths=, resolved. */
  readWritePaths: string[];
}

/** Reads what `file` runs for `instance`, with `paths` mapped ({@link mapPaths}). */
async function serviceCommand(
  file: string,
  instance: string,
  paths: PathMap,
): Promise<ServiceCommand> {
  const unit = await readUnit(file);
  const resolve = (s: string) =>
    splitCommand(specifiers(s, instance)).map((w) => mapPaths(w, paths));
  const argv = resolve(value(unit, "Service", "ExecStart"));
  const shell = argv[0] === "/bin/sh" && argv[1] === "-c";
  const deno = shell ? argv[2].replace(/^exec /, "").split(/\s+/) : argv;
  const env: Record<string, string> = { PATH: SERVICE_PATH };
  for (const [k, v] of Object.entries(unitEnvironment(unit, instance))) env[k] = mapPaths(v, paths);
  return {
    argv,
    deno,
    env,
    cwd: mapPaths(specifiers(value(unit, "Service", "WorkingDirectory"), instance), paths),
    post: values(unit, "Service", "ExecStartPost").map(resolve),
    timeoutStopMs: timeSpanMs(values(unit, "Service", "TimeoutStopSec")[0] ?? "90s"),
    readWritePaths: values(unit, "Service", "ReadWritePaths").flatMap(resolve),
  };
}

/** The value of `--<flag>=…` in a deno command line, `""` for the bare flag, or undefined. */
function flagValue(deno: string[], flag: string): string | undefined {
  for (const a of deno) {
    if (a === `--${flag}`) return "";
    if (a.startsWith(`--${flag}=`)) return a.slice(flag.length + 3);
  }
  return undefined;
}

// ---- processes ------------------------------------------------------------

/** A service's process, with what it printed so far. */
interface Running {
  child: Deno.ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code once the process and its output have ended. */
  exited: Promise<number>;
}

/** Starts `cmd` as systemd would: its environment only, no stdin. */
function spawnService(cmd: ServiceCommand): Running {
  const child = new Deno.Command(cmd.argv[0], {
    args: cmd.argv.slice(1),
    env: cmd.env,
    clearEnv: true,
    cwd: cmd.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let err = "";
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    for await (const t of s.pipeThrough(new TextDecoderStream())) add(t);
  };
  const ended = Promise.all([
    pump(child.stdout, (t) => out += t),
    pump(child.stderr, (t) => err += t),
  ]);
  const exited = child.status.then(async (s) => {
    await ended.catch(() => {});
    return s.code;
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/**
 * Waits until `proc` prints a stdout line matching `ready` (its first group
 * is returned). Throws {@link PortTakenError} when it exited saying its
 * address was in use, else an error with its output.
 */
async function waitReady(proc: Running, ready: RegExp, what: string): Promise<string> {
  let code: number | undefined;
  proc.exited.then((c) => code = c);
  try {
    return await waitFor(`${what} to say it listens`, () => {
      const m = ready.exec(proc.stdout());
      if (m) return Promise.resolve(m[1]);
      if (code !== undefined) throw new Error(`${what} exited with code ${code}`);
      return Promise.resolve(undefined);
    }, 60_000);
  } catch (e) {
    await stopNow(proc);
    const output = `${proc.stdout()}${proc.stderr()}`.trim().slice(-2000);
    if (portTaken(output)) throw new PortTakenError(`${what}: ${output}`);
    throw new Error(`${(e as Error).message}: ${output}`);
  }
}

/** SIGKILL, for a process the test gives up on. */
async function stopNow(proc: Running): Promise<void> {
  try {
    proc.child.kill("SIGKILL");
  } catch { /* exited */ }
  await proc.exited;
}

/** The exit code of `proc`, or undefined when it still runs after `ms`. */
async function exitWithin(proc: Running, ms: number): Promise<number | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const code = await Promise.race([
    proc.exited,
    new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), ms)),
  ]);
  clearTimeout(timer);
  return code;
}

/**
 * Sends SIGTERM, as `systemctl stop` does; the exit code and how long the
 * stop took, or undefined (after a SIGKILL) when it did not end within `withinMs`.
 */
async function stopByTerm(
  proc: Running,
  withinMs: number,
): Promise<{ code: number; tookMs: number } | undefined> {
  const started = performance.now();
  proc.child.kill("SIGTERM");
  const code = await exitWithin(proc, withinMs);
  if (code === undefined) {
    await stopNow(proc);
    return undefined;
  }
  return { code, tookMs: Math.round(performance.now() - started) };
}

// ---- the deployment, in a temp folder -------------------------------------

/** A one-site ledger laid out as deploy/README.md lays out a PoP, under `dir`. */
interface Deployment {
  dir: string;
  paths: PathMap;
  adminKey: string;
  /** How the test reaches the site and the gateway: over TLS, trusting the deployment's CA. */
  fetch: typeof fetch;
  close(): Promise<void>;
}

/** Options of {@link deploy}. */
interface DeployOptions {
  /** The database file, instead of `lib/site-a/ledger.db`. */
  db?: (dir: string) => string;
  /** Serve HTTPS: a CA and a certificate for 127.0.0.1, beside the site's and gateway's configs. */
  tls?: boolean;
}

/**
 * Makes a one-site ledger on `port` (initLocalLedger) and lays it out as a
 * PoP is laid out (deploy/README.md): its config, genesis, key and TLS files
 * in `etc/site-a/`, its database in `lib/site-a/`, backups in
 * `backups/site-a/`, the gateway's folder `etc/gateway/` (with the CA it
 * trusts); the units' paths map onto these.
 */
async function deploy(port: number, options: DeployOptions = {}): Promise<Deployment> {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger_deploy_" });
  const tlsFiles = { certFile: "tls/site.pem", keyFile: "tls/site.key", caFile: "tls/ca.pem" };
  const [generated] = await initLocalLedger({
    dataDir: `${dir}/gen`,
    sites: 1,
    basePort: port,
    host: "127.0.0.1",
    ...(options.tls ? { tls: tlsFiles } : {}),
  });
  const etc = `${dir}/etc/${SITE}`;
  for (const d of [`${etc}/tls`, `${dir}/etc/gateway`, `${dir}/lib/${SITE}`]) {
    await Deno.mkdir(d, { recursive: true });
  }
  await Deno.mkdir(`${dir}/backups/${SITE}`, { recursive: true });
  await Deno.copyFile(`${dir}/gen/genesis.json`, `${etc}/genesis.json`);
  await Deno.copyFile(`${dir}/gen/${SITE}/site-key.json`, `${etc}/site-key.json`);
  let testFetch: typeof fetch = fetch;
  let client: Deno.HttpClient | undefined;
  if (options.tls) {
    const ca = await makeCa(`${etc}/tls`, "ca");
    const cert = await makeCert(`${etc}/tls`, ca, "site");
    await Deno.rename(cert.certFile, `${etc}/${tlsFiles.certFile}`);
    await Deno.rename(cert.keyFile, `${etc}/${tlsFiles.keyFile}`);
    await Deno.copyFile(ca.caFile, `${dir}/etc/gateway/ca.pem`);
    await Deno.remove(ca.caKeyFile);
    ({ fetch: testFetch, client } = trustingFetch(ca.caFile));
  }
  const config = JSON.parse(await Deno.readTextFile(generated));
  await Deno.writeTextFile(
    `${etc}/site.json`,
    JSON.stringify({
      ...config,
      db: `file:${options.db?.(dir) ?? `${dir}/lib/${SITE}/ledger.db`}`,
      genesisFile: "genesis.json",
      keyFile: "site-key.json",
    }),
  );
  const paths: PathMap = [
    [DEPLOYED_DENO, Deno.execPath()],
    [DEPLOYED_CHECKOUT, repoRoot],
    ["/etc/edgeledger", `${dir}/etc`],
    ["/var/lib/edgeledger", `${dir}/lib`],
    ["/var/backups/edgeledger", `${dir}/backups`],
    ["/var/cache/edgeledger", `${dir}/cache`],
  ];
  const adminKey = (await Deno.readTextFile(`${dir}/gen/admin-api-key.txt`)).trim();
  return {
    dir,
    paths,
    adminKey,
    fetch: testFetch,
    close: async () => {
      client?.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Starts the site unit's command on a deployment of its own; moves to a new port when taken. */
async function startSite(
  options: DeployOptions,
): Promise<{ d: Deployment; cmd: ServiceCommand; proc: Running; url: string }> {
  return await startOnFreePort(async (port) => {
    const d = await deploy(port, options);
    const cmd = await serviceCommand(SITE_UNIT, SITE, d.paths);
    const proc = spawnService(cmd);
    try {
      const url = await waitReady(proc, /^site \S+ (\S+)$/m, "the site");
      return { d, cmd, proc, url };
    } catch (e) {
      await d.close();
      throw e;
    }
  });
}

/** Starts the gateway unit's command in front of `siteUrl`; moves to a new port when taken. */
async function startGateway(
  d: Deployment,
  siteUrl: string,
  tls: boolean,
): Promise<{ cmd: ServiceCommand; proc: Running; url: string }> {
  const cmd = await serviceCommand(GATEWAY_UNIT, "", d.paths);
  return await startOnFreePort(async (port) => {
    await Deno.writeTextFile(
      `${d.dir}/etc/gateway/gateway.json`,
      JSON.stringify({
        sites: [siteUrl],
        host: "127.0.0.1",
        port,
        ...(tls ? { caFile: "ca.pem" } : {}),
      }),
    );
    const proc = spawnService(cmd);
    return { cmd, proc, url: await waitReady(proc, /^gateway (\S+)$/m, "the gateway") };
  });
}

/** Runs a command to its end with `cmd`'s environment; its exit code and output. */
async function runToEnd(cmd: ServiceCommand, argv: string[]) {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: cmd.env,
    clearEnv: true,
    cwd: cmd.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

/**
 * Runs the site unit's command, the gateway unit's in front of it, a
 * transaction through the gateway, `GET /v1/admin/backup` and the backup
 * unit's commands, then stops the gateway and the site with SIGTERM; each
 * must work with exactly its unit's permissions and stop, exit 0, within
 * its unit's TimeoutStopSec.
 */
async function checkUnitsRun(tls: boolean): Promise<void> {
  const { d, cmd: siteCmd, proc: site, url: siteUrl } = await startSite({ tls });
  let gateway: Running | undefined;
  try {
    assert.ok(siteUrl.startsWith(tls ? "https://" : "http://"), siteUrl);
    const gw = await startGateway(d, siteUrl, tls);
    gateway = gw.proc;

    // A transaction through the gateway commits on the site.
    const tx = await anchorTx(generateKeyPair("ed25519"));
    const res = await d.fetch(`${gw.url}/v1/txs?wait=commit&timeoutMs=10000`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(tx),
    });
    const receipt = await res.json();
    assert.equal(res.status, 200, JSON.stringify(receipt));
    assert.equal(receipt.status, "committed");
    assert.equal(res.headers.get("x-edgeledger-site"), SITE);

    // The site reads its data volume's free space (statfs) under the unit's permissions.
    const status = await (await d.fetch(`${siteUrl}/v1/status`)).json();
    assert.ok(status.storage?.freeBytes > 0, JSON.stringify(status.storage));
    assert.equal(status.storage.low, false);

    // The admin backup: a temporary copy beside the database, streamed.
    const backupRes = await d.fetch(`${siteUrl}/v1/admin/backup`, {
      headers: { authorization: `Bearer ${d.adminKey}` },
    });
    const copy = new Uint8Array(await backupRes.arrayBuffer());
    assert.equal(backupRes.status, 200, new TextDecoder().decode(copy.slice(0, 500)));
    assert.equal(new TextDecoder().decode(copy.slice(0, 16)), "SQLite format 3\0");
    assert.ok(Number(backupRes.headers.get("x-edgeledger-backup-height")) >= 1);

    // The backup unit's command while the site runs, then its removal of old copies.
    const backup = await serviceCommand(BACKUP_UNIT, SITE, d.paths);
    const ran = await runToEnd(backup, backup.argv);
    assert.equal(ran.code, 0, ran.text);
    const named = `${d.dir}/backups/${SITE}/${SITE}-\\d{8}T\\d{6}Z\\.db`;
    assert.match(ran.text, new RegExp(`^backup ${named}: height [1-9]`, "m"));
    assert.match(ran.text, /^ok: /m);
    const fresh = [];
    for await (const e of Deno.readDir(`${d.dir}/backups/${SITE}`)) fresh.push(e.name);
    assert.equal(fresh.length, 1, fresh.join(", "));
    // A copy 15 days old goes; one 13 days old stays, and so does a file the backup did not name.
    const dayS = 24 * 3600;
    const aged = { [`${SITE}-20200101T031500Z.db`]: 15, [`${SITE}-20200103T031500Z.db`]: 13 };
    for (const [name, days] of Object.entries({ ...aged, "notes-20200101.db": 30 })) {
      const path = `${d.dir}/backups/${SITE}/${name}`;
      await Deno.writeTextFile(path, "");
      const at = Date.now() / 1000 - days * dayS;
      await Deno.utime(path, at, at);
    }
    for (const post of backup.post) {
      const pruned = await runToEnd(backup, post);
      assert.equal(pruned.code, 0, pruned.text);
    }
    const kept = [];
    for await (const e of Deno.readDir(`${d.dir}/backups/${SITE}`)) kept.push(e.name);
    assert.deepEqual(
      kept.sort(),
      [fresh[0], `${SITE}-20200103T031500Z.db`, "notes-20200101.db"].sort(),
    );

    if (tls) {
      // ExecReload's SIGHUP: each reads its certificate files again under its unit's permissions.
      // (This gateway serves plain HTTP: it says there is nothing to reload, and goes on.)
      const verdicts = [
        [site, '"tls certificate unchanged"'],
        [gw.proc, '"tls reload: no tls configured, nothing to reload"'],
      ] as const;
      for (const [proc, said] of verdicts) {
        proc.child.kill("SIGHUP");
        await waitFor(
          "the reload's verdict in the log",
          () => Promise.resolve(proc.stderr().includes(said) || undefined),
          10_000,
        ).catch((e) => {
          throw new Error(`${(e as Error).message}: ${proc.stderr().slice(-2000)}`);
        });
      }
    }

    // SIGTERM: the gateway, then the site, each exit 0 within its unit's TimeoutStopSec.
    const gwStop = await stopByTerm(gw.proc, gw.cmd.timeoutStopMs);
    assert.equal(gwStop?.code, 0, `the gateway: ${gw.proc.stderr().slice(-2000)}`);
    const siteStop = await stopByTerm(site, siteCmd.timeoutStopMs);
    assert.equal(siteStop?.code, 0, `the site: ${site.stderr().slice(-2000)}`);

    // Their logs, as the journal gets them: one JSON object per line, ending with the stop.
    for (
      const [proc, context, name] of [[site, "site", SITE], [gw.proc, "gateway", null]] as const
    ) {
      const lines = proc.stderr().trim().split("\n");
      for (const line of lines) {
        const record = JSON.parse(line);
        if (name !== null) assert.equal(record[context], name, line);
        else assert.equal(typeof record[context], "string", line);
        assert.equal(typeof record.msg, "string", line);
      }
      assert.equal(JSON.parse(lines.at(-1)!).msg, "stopped");
    }
  } finally {
    if (gateway !== undefined) await stopNow(gateway);
    await stopNow(site);
    await d.close();
  }
}

/** The value of `const <name> = <ms>;` in a worker's source: the waits a stop is made of. */
async function constantMs(file: string, name: string): Promise<number> {
  const source = await Deno.readTextFile(`${repoRoot}/${file}`);
  const m = new RegExp(`const ${name} = ([\\d_]+);`).exec(source);
  assert.ok(m, `Cannot find const ${name} in ${file}`);
  return Number(m[1].replaceAll("_", ""));
}

// ---- tests ----------------------------------------------------------------

Deno.test({
  name: "deploy: every unit file passes systemd-analyze verify without a warning",
  ignore: SYSTEMD_ANALYZE === undefined,
  async fn() {
    // verify checks that ExecStart's program exists: Deno and the checkout are where they are here.
    // (It does not check that User= exists: systemd 252 says nothing of a missing edgeledger user.)
    const dir = await Deno.makeTempDir({ prefix: "edgeledger_units_" });
    try {
      for (const file of UNIT_FILES) {
        const text = await Deno.readTextFile(`${unitsDir}/${file}`);
        await Deno.writeTextFile(
          `${dir}/${file}`,
          mapPaths(text, [[DEPLOYED_DENO, Deno.execPath()], [DEPLOYED_CHECKOUT, repoRoot]]),
        );
      }
      // A template is verified as an instance (a timer with the service it starts beside it).
      for (const file of UNIT_FILES) {
        const name = file.replace("@.", `@${VERIFY_INSTANCE}.`);
        const out = await new Deno.Command(SYSTEMD_ANALYZE!, {
          args: ["verify", "--man=no", `${dir}/${name}`],
          cwd: dir,
          stdout: "piped",
          stderr: "piped",
        }).output();
        const dec = new TextDecoder();
        const said = (dec.decode(out.stdout) + dec.decode(out.stderr)).trim();
        // It prints a warning (an unknown key, a value it ignores) and still exits 0.
        assert.equal(said, "", `systemd-analyze verify ${name} warns:\n${said}`);
        assert.equal(out.code, 0, `systemd-analyze verify ${name} exited with ${out.code}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deploy: every unit's ExecStart scopes its Deno permissions: no -A, no prompt, writes only where ReadWritePaths= allows", async () => {
  const scoped = ["allow-read", "allow-write", "allow-env", "allow-sys", "allow-ffi"];
  for (const file of [SITE_UNIT, GATEWAY_UNIT, BACKUP_UNIT]) {
    const cmd = await serviceCommand(file, VERIFY_INSTANCE, []);
    const { deno } = cmd;
    assert.equal(deno[0], DEPLOYED_DENO, `${file}: ExecStart runs ${deno[0]}`);
    assert.equal(deno[1], "run", file);
    for (const forbidden of ["-A", "--allow-all", "--allow-run", "--allow-import"]) {
      assert.ok(
        !deno.some((a) => a === forbidden || a.startsWith(`${forbidden}=`)),
        `${file}: ${forbidden}`,
      );
    }
    // A permission it lacks fails at once: it never waits on a prompt. Nothing is fetched,
    // and the dependencies are the ones deno.lock names.
    for (const flag of ["--no-prompt", "--cached-only", "--frozen"]) {
      assert.ok(deno.includes(flag), `${file}: ${flag}`);
    }
    for (const flag of scoped) {
      assert.notEqual(flagValue(deno, flag), "", `${file}: --${flag} must name what it allows`);
    }
    // The test's deployment has no environment file: each must be optional ("-").
    for (const f of values(await readUnit(file), "Service", "EnvironmentFile")) {
      assert.ok(f.startsWith("-"), `${file}: EnvironmentFile=${f} must be optional`);
    }
    // What Deno may write, the sandbox lets it write.
    for (const w of flagValue(deno, "allow-write")?.split(",") ?? []) {
      assert.ok(
        cmd.readWritePaths.includes(w),
        `${file}: --allow-write=${w} not in ReadWritePaths=`,
      );
    }
  }
  const site = await serviceCommand(SITE_UNIT, VERIFY_INSTANCE, []);
  const data = `/var/lib/edgeledger/${VERIFY_INSTANCE}`;
  assert.deepEqual(site.readWritePaths, [data], "a site writes its data folder only");
  assert.equal(flagValue(site.deno, "allow-write"), data);
  const gateway = await serviceCommand(GATEWAY_UNIT, "", []);
  assert.equal(flagValue(gateway.deno, "allow-write"), undefined, "a gateway writes nothing");
  assert.deepEqual(gateway.readWritePaths, []);
  const backup = await serviceCommand(BACKUP_UNIT, VERIFY_INSTANCE, []);
  const backups = `/var/backups/edgeledger/${VERIFY_INSTANCE}`;
  assert.deepEqual(backup.readWritePaths, [backups], "a backup never writes the site's data");
  assert.equal(flagValue(backup.deno, "allow-write"), backups);
  assert.equal(flagValue(backup.deno, "allow-net"), undefined, "a backup needs no network");
});

Deno.test("deploy: every service runs as the edgeledger user in the sandbox deploy/README.md describes, JIT allowed", async () => {
  const sandbox: Record<string, string> = {
    User: "edgeledger",
    Group: "edgeledger",
    NoNewPrivileges: "yes",
    ProtectSystem: "strict",
    ProtectHome: "yes",
    PrivateTmp: "yes",
    PrivateDevices: "yes",
    ProtectKernelTunables: "yes",
    ProtectKernelModules: "yes",
    ProtectKernelLogs: "yes",
    ProtectControlGroups: "yes",
    ProtectClock: "yes",
    ProtectHostname: "yes",
    ProtectProc: "invisible",
    PrivateMounts: "yes",
    RestrictNamespaces: "yes",
    RestrictRealtime: "yes",
    RestrictSUIDSGID: "yes",
    LockPersonality: "yes",
    RemoveIPC: "yes",
    SystemCallArchitectures: "native",
    SystemCallErrorNumber: "EPERM",
    UMask: "0077",
    CapabilityBoundingSet: "",
    AmbientCapabilities: "",
  };
  // AF_NETLINK where libSQL is loaded: its loader's process report lists the interfaces.
  const families: Record<string, string> = {
    [SITE_UNIT]: "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
    [GATEWAY_UNIT]: "AF_INET AF_INET6 AF_UNIX",
    [BACKUP_UNIT]: "AF_UNIX AF_NETLINK",
  };
  for (const file of [SITE_UNIT, GATEWAY_UNIT, BACKUP_UNIT]) {
    const unit = await readUnit(file);
    for (const [key, want] of Object.entries(sandbox)) {
      assert.equal(value(unit, "Service", key), want, `${file}: ${key}=`);
    }
    assert.equal(value(unit, "Service", "RestrictAddressFamilies"), families[file], file);
    assert.deepEqual(
      values(unit, "Service", "SystemCallFilter"),
      ["@system-service @pkey", "~@privileged"],
      `${file}: SystemCallFilter= (V8 calls pkey_alloc at start)`,
    );
    // V8's JIT writes machine code and then runs it.
    assert.deepEqual(values(unit, "Service", "MemoryDenyWriteExecute"), [], file);
  }
  for (const file of [SITE_UNIT, GATEWAY_UNIT]) {
    const unit = await readUnit(file);
    assert.equal(value(unit, "Service", "Restart"), "on-failure", file);
    assert.equal(value(unit, "Service", "KillSignal"), "SIGTERM", file);
    assert.ok(Number(value(unit, "Service", "LimitNOFILE")) >= 65536, `${file}: LimitNOFILE=`);
  }
  const backup = await readUnit(BACKUP_UNIT);
  assert.equal(value(backup, "Service", "PrivateNetwork"), "yes");
  const timer = await readUnit(BACKUP_TIMER);
  assert.equal(value(timer, "Timer", "Persistent"), "true");
  assert.equal(value(timer, "Install", "WantedBy"), "timers.target");
});

Deno.test("deploy: each unit's TimeoutStopSec outlasts the longest graceful stop its process allows", async () => {
  // A site's stop: hand-off, drain and HTTP drain are bounded; consensus and the
  // database then close (a block being written first). 10 s is left for those.
  const closeMs = 10_000;
  const siteStopMs = await constantMs("workers/site.ts", "handOffWaitMs") +
    await constantMs("workers/site.ts", "drainWaitMs") +
    await constantMs("workers/site.ts", "shutdownWaitMs");
  const site = await serviceCommand(SITE_UNIT, VERIFY_INSTANCE, []);
  assert.ok(
    site.timeoutStopMs >= siteStopMs + closeMs,
    `site: TimeoutStopSec ${site.timeoutStopMs} ms < ${siteStopMs} ms of waits + ${closeMs} ms`,
  );
  const gatewayStopMs = await constantMs("workers/gateway.ts", "shutdownWaitMs");
  const gateway = await serviceCommand(GATEWAY_UNIT, "", []);
  assert.ok(
    gateway.timeoutStopMs >= gatewayStopMs + closeMs,
    `gateway: TimeoutStopSec ${gateway.timeoutStopMs} ms < ${gatewayStopMs} ms + ${closeMs} ms`,
  );
});

Deno.test(
  "deploy: a site, a gateway and the backup command run with exactly their units' Deno permissions, and stop on SIGTERM within TimeoutStopSec",
  () => checkUnitsRun(false),
);

Deno.test({
  name:
    "deploy: over TLS, with the certificates beside their configs, the units' Deno permissions still suffice",
  ignore: !opensslPresent,
  fn: () => checkUnitsRun(true),
});
if (!opensslPresent) console.warn(`deploy_test: the TLS run is ${OPENSSL_MISSING}`);

Deno.test("deploy: a site whose database is outside its unit's --allow-write refuses to start with one clear line", async () => {
  // Port 2: it fails before it listens (port 1 is one fetch refuses, which a site refuses first).
  const d = await deploy(2, { db: (dir) => `${dir}/elsewhere/ledger.db` });
  try {
    const cmd = await serviceCommand(SITE_UNIT, SITE, d.paths);
    const proc = spawnService(cmd);
    const code = await exitWithin(proc, 30_000);
    if (code === undefined) await stopNow(proc);
    assert.equal(code, 1, `it did not refuse: ${proc.stdout()}${proc.stderr()}`);
    assert.equal(proc.stdout(), "");
    assert.equal(
      proc.stderr().trim(),
      `Cannot start site: Requires write access to "${d.dir}/elsewhere", ` +
        "run again with the --allow-write flag",
    );
    await assert.rejects(Deno.lstat(`${d.dir}/elsewhere`), Deno.errors.NotFound);
  } finally {
    await d.close();
  }
});

Deno.test("deploy: a site that may not read the code its admission workers load refuses to start with one clear line, rather than refusing every transaction", async () => {
  const d = await deploy(2);
  try {
    const cmd = await serviceCommand(SITE_UNIT, SITE, d.paths);
    // The unit's permissions without the SDK's folder, which the workers import.
    const deno = cmd.argv.map((a) =>
      a.startsWith("--allow-read=")
        ? a.split(",").filter((p) => !p.endsWith(`${repoRoot}/sdk`)).join(",")
        : a
    );
    assert.notDeepEqual(deno, cmd.argv, "the site unit reads the SDK's folder");
    const proc = spawnService({ ...cmd, argv: deno });
    const code = await exitWithin(proc, 30_000);
    if (code === undefined) await stopNow(proc);
    assert.equal(code, 1, `it did not refuse: ${proc.stdout()}${proc.stderr()}`);
    assert.match(
      proc.stderr(),
      /^Cannot start site: Cannot start the admission workers: .*Requires read access to/m,
    );
  } finally {
    await d.close();
  }
});
