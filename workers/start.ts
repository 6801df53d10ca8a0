/**
 * `deno task start`: a local ledger on embedded libSQL files under `./data/`.
 *
 *     npx -y deno@2.9.6 task start [--sites N] [--port 7001] [--data ./data] [--gateway [PORT]] [--tls]
 *
 * Creates the ledger on first start (genesis, one key and config per site),
 * starts each site as its own process (`workers/site.ts`), prints
 * `site <name> <url>` per site and how to try it. With `--gateway`
 * (`EDGELEDGER_GATEWAY`), also one gateway (`workers/gateway.ts`) in front
 * of the sites, on PORT or the port below the first site's, and prints
 * `gateway <url>`. With `--tls` (`EDGELEDGER_TLS=1`) a new ledger's sites
 * (and the gateway) serve HTTPS with a local CA made by `openssl` under
 * `<data>/tls/`. Ctrl-C stops them all cleanly; starting again resumes the
 * same chain. A SIGHUP is passed on to every site (and the gateway), which
 * reload their keys and certificates.
 *
 * @module
 */
import { normalize } from "node:path";
import { initLocalLedger, LedgerSizeError, sitesCount } from "../src/site/config.ts";
import { fetchVia, readCaCerts, trustingClient } from "../src/site/tls.ts";
import { blockedPortProblem } from "../src/site/ports.ts";
import { helpAsked } from "./_cli.ts";
import { signalEchoMs } from "./_signals.ts";
import { writeExampleTx } from "./example_tx.ts";
import { makeCa, makeCert, opensslPresent } from "./local_tls.ts";

const USAGE =
  "usage: deno task start [--sites N] [--port P] [--data DIR] [--gateway [PORT]] [--tls]";

/** What `--help` prints: the usage, then each flag with its variable and default. */
const HELP = `${USAGE}

Starts a local ledger: on first run it creates one (a genesis, a key, config and
libSQL file per site) under DIR, then starts each site as its own process and
prints one "site <name> <url>" line per site. Ctrl-C stops them all; starting
again resumes the same chain; remove DIR to begin a new ledger.

Flags (each also as --flag=value, or from the environment variable named):
  --sites N         sites to run, 1 to 9 (EDGELEDGER_SITES, default 3); fixed
                    when DIR is created
  --port P          the first site's port; the others follow it (EDGELEDGER_PORT,
                    default 7001)
  --data DIR        the ledger's folder (EDGELEDGER_DATA, default ./data)
  --gateway [PORT]  also a gateway in front of the sites (EDGELEDGER_GATEWAY,
                    default port: the one below the first site's)
  --tls             a new ledger served over HTTPS with a local CA under DIR/tls
                    (EDGELEDGER_TLS=1)
  --help, -h        this help

Exit codes: 0 stopped as asked, 1 a site failed or the ledger cannot start,
2 usage error.`;

/** `--name value` or `--name=value`; anything else is a usage error (exit 2). */
function parseFlags(args: string[]): Map<string, string> {
  const known = new Set(["--sites", "--port", "--data", "--gateway", "--tls"]);
  const out = new Map<string, string>();
  for (let k = 0; k < args.length; k++) {
    const arg = args[k];
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg : arg.slice(0, eq);
    // `--gateway` alone takes the default port; `--tls` takes no value.
    const bare = eq < 0 &&
      (name === "--tls" || (name === "--gateway" && !/^\d/.test(args[k + 1] ?? "")));
    const value = bare ? "" : eq < 0 ? args[++k] : arg.slice(eq + 1);
    if (!known.has(name) || value === undefined) {
      console.error(`${USAGE}\n(cannot use ${JSON.stringify(arg)})`);
      Deno.exit(2);
    }
    out.set(name, value);
  }
  return out;
}

if (helpAsked(Deno.args)) {
  console.log(HELP);
  Deno.exit(0);
}
const flags = parseFlags(Deno.args);
const decimal = (v: string) => (/^\d+$/.test(v) ? Number(v) : NaN);
const sites = decimal(flags.get("--sites") ?? Deno.env.get("EDGELEDGER_SITES") ?? "3");
const portGiven = flags.get("--port") ?? Deno.env.get("EDGELEDGER_PORT");
const basePort = decimal(portGiven ?? "7001");
const dataDir = flags.get("--data") ?? Deno.env.get("EDGELEDGER_DATA") ?? "./data";
/** The gateway's port: undefined for none, NaN for the default (below the first site's). */
const gatewayGiven = flags.get("--gateway") ?? Deno.env.get("EDGELEDGER_GATEWAY");
const gatewayPort = gatewayGiven === undefined ? undefined : decimal(gatewayGiven);
const tlsGiven = flags.get("--tls") ?? Deno.env.get("EDGELEDGER_TLS");
if (tlsGiven !== undefined && !["", "1", "true", "0", "false"].includes(tlsGiven)) {
  console.error("--tls takes no value, or --tls=1, true, 0 or false (EDGELEDGER_TLS likewise)");
  Deno.exit(2);
}
const tlsWanted = tlsGiven !== undefined && tlsGiven !== "0" && tlsGiven !== "false";
if (gatewayGiven !== undefined && gatewayGiven !== "" && !(Number(gatewayPort) <= 65535)) {
  console.error("--gateway (EDGELEDGER_GATEWAY) must be a TCP port, or nothing for the default");
  Deno.exit(2);
}
if (!Number.isInteger(sites) || sites < 1 || sites > 9) {
  console.error("--sites (EDGELEDGER_SITES) must be an integer from 1 to 9");
  Deno.exit(2);
}
if (!Number.isInteger(basePort) || basePort < 1 || basePort + sites - 1 > 65535) {
  console.error(`--port (EDGELEDGER_PORT) must be a TCP port with room for ${sites} site(s)`);
  Deno.exit(2);
}
// The sites take the ports from --port up; a gateway its own, or by default the one below.
const portsTaken = [
  ...Array.from({ length: sites }, (_, i) => basePort + i),
  ...(gatewayGiven === undefined ? [] : [Number.isNaN(gatewayPort) ? basePort - 1 : gatewayPort!]),
];
const blockedPort = portsTaken.map(blockedPortProblem).find((p) => p !== undefined);
if (blockedPort !== undefined) {
  console.error(`--port (EDGELEDGER_PORT) or --gateway: ${blockedPort}`);
  Deno.exit(2);
}

if (sites > 1 && Deno.env.get("EDGELEDGER_DB_URL") !== undefined) {
  // Every site would inherit it and share one database (and one Raft log).
  console.error(
    `EDGELEDGER_DB_URL names one database, and each of the ${sites} sites needs its own: unset it (or run --sites 1)`,
  );
  Deno.exit(2);
}

// Signals first: a stop while the sites start must stop the ones started.
const children: Deno.ChildProcess[] = [];
/** Set once stopping: ends the process (exit 0 when asked to stop, 1 when a site failed). */
let stopping: Promise<never> | undefined;
/**
 * How long sites get to stop after SIGTERM before they are killed, ms: more
 * than a site's graceful stop waits at most (workers/site.ts: 2 s for a
 * leader's hand-off, 5 s for admitted writes to commit, 3 s for open
 * requests), with time left to close its database.
 */
const stopWaitMs = 15_000;

function stopAll(code: number): Promise<never> {
  stopping ??= (async () => {
    signalAll("SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([
      Promise.all(children.map((c) => c.status)).then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), stopWaitMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      console.error(`sites still running after ${stopWaitMs / 1000} s; killing them`);
      signalAll("SIGKILL");
      await Promise.all(children.map((c) => c.status));
    }
    Deno.exit(code);
  })();
  return stopping;
}

function signalAll(signal: Deno.Signal): void {
  for (const c of children) {
    try {
      c.kill(signal);
    } catch { /* already gone */ }
  }
}

/** When the first signal came (`performance.now()`), to tell a second Ctrl-C from its echo. */
let firstSignalAt: number | undefined;

const onSignal = () => {
  // A terminal's Ctrl-C reaches this process twice: from the terminal, and
  // passed on by `deno task`. Only a later one is a second Ctrl-C, which
  // does not wait any longer.
  const now = performance.now();
  firstSignalAt ??= now;
  if (now - firstSignalAt >= signalEchoMs) signalAll("SIGKILL");
  void stopAll(0);
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);
// A reload, as systemd's `ExecReload` sends one to a deployed site: each site
// (and the gateway) reads its keys and certificates again and goes on.
Deno.addSignalListener("SIGHUP", () => {
  if (stopping) return;
  console.log("SIGHUP: asking every site to reload its keys and certificates");
  signalAll("SIGHUP");
});

const configs = await (async () => {
  const fresh = await Deno.stat(`${dataDir}/genesis.json`).then(() => false, () => true);
  const tls = tlsWanted && fresh ? await localTls(`${dataDir}/tls`) : undefined;
  return await initLocalLedger({ dataDir, sites, basePort, host: "127.0.0.1", tls });
})().catch((e) => {
  if (e instanceof LedgerSizeError) {
    // Resuming is what a start on a data folder usually means: said first.
    console.error(
      `Cannot start ${sitesCount(e.asked)}: ${dataDir} holds a ledger of ${sitesCount(e.held)} ` +
        `(${e.genesisPath}). To resume it, run with --sites ${e.held}; to start a new ledger ` +
        `of ${
          sitesCount(e.asked)
        } instead, remove ${dataDir} first (its chain and keys go with it).`,
    );
  } else console.error(`Cannot start: ${(e as Error).message}`);
  Deno.exit(1);
});
/** The ledger's TLS, as its first site's config says (a ledger keeps what it was made with). */
const served = await servedTls(configs[0]);
if (tlsWanted && served === undefined) {
  console.error(
    `Cannot start with --tls: ${dataDir}/ holds a ledger whose sites serve plain HTTP; remove ${dataDir} to start a new one`,
  );
  Deno.exit(2);
}
/** How start reaches its sites: over TLS, trusting the local CA. */
const siteFetch = fetchVia(
  trustingClient(served === undefined ? undefined : await readCaCerts(served.caFile)),
);
const siteScript = decodeURIComponent(new URL("./site.ts", import.meta.url).pathname);
const siteName = (config: string) => config.split("/").at(-2) ?? config;
const urls: string[] = [];

for (const config of configs) {
  if (stopping) break;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", siteScript, "--config", config],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  children.push(child);
  try {
    urls.push(await firstLine(child, (line) => console.log(line)));
  } catch {
    const { code } = await child.status;
    console.error(
      `site ${siteName(config)} did not start (exit code ${code}): see its error above`,
    );
    await stopAll(1);
  }
}
if (stopping) await stopping;
const firstPort = Number(new URL(urls[0]).port);
if (portGiven !== undefined && firstPort !== basePort) {
  console.error(
    `note: ${dataDir}/ already holds a ledger; its sites keep their ports (${firstPort}…), not --port ${basePort}`,
  );
}

const leader = sites > 1 ? await waitForLeader(urls) : "site-a";
if (sites > 1 && leader !== "none yet") {
  for (const lag of await waitForCaughtUp(urls)) console.error(`note: ${lag}`);
}
const example = await writeExampleTx(urls[0], `${dataDir}/example-tx.json`, siteFetch);
const curl = served === undefined ? "curl -s" : `curl -s --cacert ${served.caFile}`;
const gateway = gatewayPort === undefined ? undefined : await startGateway(gatewayPort);
console.log(`
edgeledger is running: ${sites} site(s), leader ${leader}, data in ${dataDir}/
(Ctrl-C stops them all; starting again resumes the same chain;
 kill -HUP ${Deno.pid} has every site reload its keys and certificates)

  status:      ${curl} ${urls[0]}/v1/status
  submit:      ${curl} -X POST -H 'content-type: application/json' \\
                 --data @${example} '${urls[0]}/v1/txs?wait=commit'
  blocks:      ${curl} '${urls[0]}/v1/blocks?from=0&limit=10'
  checkpoint:  ${curl} ${urls[0]}/v1/checkpoint
  API docs:    ${urls[0]}/openapi.json
  explorer:    ${urls[0]}/${
  served === undefined
    ? ""
    : `\n  local CA:    ${served.caFile}  (trust it: curl --cacert, NODE_EXTRA_CA_CERTS, DENO_CERT)`
}${gateway === undefined ? "" : `\n  gateway:     ${gateway}  (one front door for every site)`}${
  sites > 1
    ? `\n  admin key:   ${dataDir}/admin-api-key.txt  (Authorization: Bearer <key> for /v1/admin/ on the leader)`
    : ""
}
`);

const exited = await Promise.race(children.map((c, i) => c.status.then((s) => ({ s, i }))));
if (!stopping) {
  const what = exited.i < configs.length ? `site ${siteName(configs[exited.i])}` : "the gateway";
  console.error(`${what} exited with code ${exited.s.code}; stopping the others`);
  await stopAll(1);
}
await stopping;

/**
 * Waits, 15 s at most, until every site has applied what the leader had
 * committed when first asked: a site started again re-applies its log, and
 * one stopped before it heard of the last commit learns of it from the new
 * leader — so that the chain a user reads next is the same whichever site
 * answers. A site that says it was removed from the cluster (a restore's
 * first step, say; it may learn so from a peer only now) runs but takes no
 * part: it is not waited for. Returns a line for each site removed, and
 * each still catching up then.
 */
async function waitForCaughtUp(siteUrls: string[]): Promise<string[]> {
  const deadline = Date.now() + 15_000;
  let target: number | undefined;
  let behind: string[] = [];
  const removed = new Set<string>();
  const said = () =>
    [...removed].map((name) =>
      `${name} was removed from the cluster and takes no part until it is added back ` +
      `(task cli member add ${name} …; README: Running a cluster)`
    );
  while (Date.now() < deadline) {
    const all = await Promise.all(siteUrls.map(siteStatus));
    for (const s of all) if (s?.removed === true) removed.add(s.site);
    target ??= all.find((s) => s?.role === "leader")?.commitIndex;
    if (target !== undefined) {
      behind = all.flatMap((s, i) =>
        s?.removed === true || (s !== undefined && s.appliedIndex >= target!) ? [] : [
          `${s?.site ?? siteUrls[i]} is still catching up (applied ${
            s?.appliedIndex ?? "?"
          } of ${target} committed entries)`,
        ]
      );
      if (behind.length === 0) return said();
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return [...said(), ...behind];
}

/** `GET /v1/status` of the site at `url`, or undefined while it does not answer (not up yet). */
async function siteStatus(url: string) {
  try {
    return await (await siteFetch(`${url}/v1/status`)).json() as {
      site: string;
      role: string;
      leader: string | null;
      commitIndex: number;
      appliedIndex: number;
      removed?: boolean;
    };
  } catch {
    return undefined;
  }
}

/**
 * Polls the sites until one reports a leader; returns its name (or "none
 * yet"). A removed site's word is passed over: it names the leader it knew.
 */
async function waitForLeader(siteUrls: string[]): Promise<string> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    for (const u of siteUrls) {
      const s = await siteStatus(u);
      if (s?.leader && s.removed !== true) return s.leader;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return "none yet";
}

/**
 * Starts `workers/gateway.ts` in front of the sites on `port` (NaN: the
 * port below the first site's) and resolves with its URL; stops everything
 * if it does not start.
 */
async function startGateway(port: number): Promise<string | undefined> {
  if (stopping) return await stopping;
  const script = decodeURIComponent(new URL("./gateway.ts", import.meta.url).pathname);
  const listen = Number.isNaN(port) ? firstPort - 1 : port;
  const tlsArgs = served === undefined ? [] : [
    "--tls-cert-file",
    served.certFile,
    "--tls-key-file",
    served.keyFile,
    "--ca-file",
    served.caFile,
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      script,
      "--port",
      String(listen),
      ...urls.flatMap((u) => ["--site", u]),
      ...tlsArgs,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  children.push(child);
  try {
    return await firstLine(child, (line) => console.log(line), /^gateway (\S+)$/);
  } catch {
    const { code } = await child.status;
    console.error(`the gateway did not start (exit code ${code}): see its error above`);
    await stopAll(1);
  }
}

/** Forwards a child's stdout and resolves with the URL of its first line matching `re` (URL last). */
function firstLine(
  child: Deno.ChildProcess,
  print: (l: string) => void,
  re = /^site (\S+) (\S+)$/,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let resolved = false;
    (async () => {
      let buf = "";
      const dec = new TextDecoder();
      for await (const chunk of child.stdout) {
        buf += dec.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          print(line);
          const m = re.exec(line);
          if (m && !resolved) {
            resolved = true;
            resolve(m[m.length - 1]);
          }
        }
      }
      if (!resolved) reject(new Error("a process exited before it listened"));
    })().catch(reject);
  });
}

/**
 * The local CA and the one certificate every site serves (127.0.0.1 and
 * localhost), made once under `dir`; their paths as a site's config names
 * them (relative to its folder, a sibling of `dir`).
 */
async function localTls(
  dir: string,
): Promise<{ certFile: string; keyFile: string; caFile: string }> {
  if (!opensslPresent()) {
    throw new Error("--tls needs the openssl CLI to make a local CA (apt-get install -y openssl)");
  }
  await Deno.mkdir(dir, { recursive: true });
  const ca = await makeCa(dir, "ca", 365);
  await makeCert(dir, ca, "site", "IP:127.0.0.1,DNS:localhost", 365);
  const rel = `../${dir.slice(dir.lastIndexOf("/") + 1)}`;
  return { certFile: `${rel}/site.pem`, keyFile: `${rel}/site.key`, caFile: `${rel}/ca.pem` };
}

/** The TLS files of a site's config, as paths from here; undefined when it serves plain HTTP. */
async function servedTls(
  configPath: string,
): Promise<{ certFile: string; keyFile: string; caFile: string } | undefined> {
  const config = JSON.parse(await Deno.readTextFile(configPath));
  if (config.tls === undefined || config.caFile === undefined) return undefined;
  const dir = configPath.slice(0, configPath.lastIndexOf("/") + 1);
  const resolve = (p: string) => normalize(p.startsWith("/") ? p : dir + p);
  return {
    certFile: resolve(config.tls.certFile),
    keyFile: resolve(config.tls.keyFile),
    caFile: resolve(config.caFile),
  };
}
