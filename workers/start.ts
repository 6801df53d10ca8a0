/**
 * `deno task start`: a local ledger on embedded libSQL files under `./data/`.
 *
 *     npx -y deno@2.9.6 task start [--sites N] [--port 7001] [--data ./data]
 *
 * Creates the ledger on first start (genesis, one key and config per site),
 * starts each site as its own process (`workers/site.ts`), prints
 * `site <name> <url>` per site and how to try it. Ctrl-C stops them all
 * cleanly; starting again resumes the same chain.
 *
 * @module
 */
import { initLocalLedger } from "../src/site/config.ts";
import { writeExampleTx } from "./example_tx.ts";

function flag(name: string, fallback: string): string {
  const i = Deno.args.indexOf(name);
  return i >= 0 && Deno.args[i + 1] !== undefined ? Deno.args[i + 1] : fallback;
}

const sites = Number(flag("--sites", Deno.env.get("EDGELEDGER_SITES") ?? "3"));
const basePort = Number(flag("--port", Deno.env.get("EDGELEDGER_PORT") ?? "7001"));
const dataDir = flag("--data", Deno.env.get("EDGELEDGER_DATA") ?? "./data");
if (!Number.isInteger(sites) || sites < 1 || sites > 9) {
  console.error("--sites must be an integer from 1 to 9");
  Deno.exit(2);
}
if (!Number.isInteger(basePort) || basePort < 1 || basePort > 65535 - sites) {
  console.error("--port must be a TCP port");
  Deno.exit(2);
}

const configs = await initLocalLedger({ dataDir, sites, basePort, host: "127.0.0.1" });
const siteScript = new URL("./site.ts", import.meta.url).pathname;
const children: Deno.ChildProcess[] = [];
const urls: string[] = [];

for (const config of configs) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", siteScript, "--config", config],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  children.push(child);
  const url = await firstLine(child, (line) => console.log(line));
  urls.push(url);
}

const leader = sites > 1 ? await waitForLeader(urls) : "site-a";
const example = await writeExampleTx(urls[0], `${dataDir}/example-tx.json`);
console.log(`
edgeledger is running: ${sites} site(s), leader ${leader}, data in ${dataDir}/
(Ctrl-C stops them all; starting again resumes the same chain)

  status:      curl -s ${urls[0]}/v1/status
  submit:      curl -s -X POST -H 'content-type: application/json' \\
                 --data @${example} '${urls[0]}/v1/txs?wait=commit'
  blocks:      curl -s '${urls[0]}/v1/blocks?from=0&limit=10'
  checkpoint:  curl -s ${urls[0]}/v1/checkpoint
  API docs:    ${urls[0]}/openapi.json
  explorer:    ${urls[0]}/
  admin key:   ${dataDir}/admin-api-key.txt  (Authorization: Bearer <key> for /v1/admin/)
`);

let stopping = false;
async function stopAll() {
  if (stopping) return;
  stopping = true;
  for (const c of children) {
    try {
      c.kill("SIGTERM");
    } catch { /* already gone */ }
  }
  await Promise.all(children.map((c) => c.status));
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", stopAll);
Deno.addSignalListener("SIGTERM", stopAll);
const exits = await Promise.race(children.map((c, i) => c.status.then((s) => ({ s, i }))));
if (!stopping) {
  console.error(`site ${configs[exits.i]} exited with code ${exits.s.code}; stopping the others`);
  await stopAll();
}

/** Polls the sites until one reports a leader; returns its name (or "none yet"). */
async function waitForLeader(siteUrls: string[]): Promise<string> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    for (const u of siteUrls) {
      try {
        const s = await (await fetch(`${u}/v1/status`)).json();
        if (s.leader) return s.leader;
      } catch { /* not up yet */ }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return "none yet";
}

/** Forwards a child's stdout and resolves with the URL of its `site <name> <url>` line. */
function firstLine(child: Deno.ChildProcess, print: (l: string) => void): Promise<string> {
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
          const m = /^site (\S+) (\S+)$/.exec(line);
          if (m && !resolved) {
            resolved = true;
            resolve(m[2]);
          }
        }
      }
      if (!resolved) reject(new Error("a site exited before it listened"));
    })().catch(reject);
  });
}
