/**
 * A local etcd cluster for comparison benches: the distribution's `etcd`
 * binary (Debian's `etcd-server`), N members on loopback ports with
 * temporary data directories, and helpers for its HTTP JSON gateway
 * (grpc-gateway: `POST <prefix>/kv/put`, `<prefix>/kv/txn`, keys and
 * values base64).
 *
 * Nothing is ever downloaded: when the binary is missing, {@link findEtcd}
 * says why and the caller skips etcd. Members are stopped by
 * {@link EtcdCluster.close}; if the bench process is interrupted or calls
 * `Deno.exit()`, an `unload` listener and a SIGINT/SIGTERM listener kill
 * the members that are still running, so none is left behind.
 *
 * @module
 */
import { freePort } from "./_load.ts";
import { DelayProxy } from "./_delay_proxy.ts";

/** Where Debian's `etcd-server` puts the binary; `ETCD_BIN` overrides it. */
export const etcdPathDefault = "/usr/bin/etcd";

/** Longest a member may take to report healthy, ms. */
export const etcdStartMsMax = 30_000;

/** The etcd found on this machine, or why there is none. */
export type EtcdFound =
  | { ok: true; path: string; version: string; gatewayPrefix: string }
  | { ok: false; reason: string };

/**
 * The gateway path prefix an etcd version serves: `/v3` from 3.4 (where
 * `/v3beta` is a deprecated alias), `/v3beta` in 3.3, `/v3alpha` before.
 */
export function gatewayPrefixFor(version: string): string {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (m === null) return "/v3";
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major > 3 || (major === 3 && minor >= 4)) return "/v3";
  return minor === 3 ? "/v3beta" : "/v3alpha";
}

/** Looks for the etcd binary and asks it for its version (`etcd --version`). */
export async function findEtcd(): Promise<EtcdFound> {
  const path = Deno.env.get("ETCD_BIN") ?? etcdPathDefault;
  try {
    await Deno.stat(path);
  } catch {
    return {
      ok: false,
      reason: `${path} is not installed (Debian: \`apt-get install etcd-server etcd-client\`; ` +
        `the bench never downloads etcd)`,
    };
  }
  try {
    const out = await new Deno.Command(path, {
      args: ["--version"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const version = /etcd Version:\s*(\S+)/.exec(text)?.[1];
    if (version === undefined) {
      return {
        ok: false,
        reason: `\`${path} --version\` printed no version: ${text.slice(0, 200)}`,
      };
    }
    return { ok: true, path, version, gatewayPrefix: gatewayPrefixFor(version) };
  } catch (e) {
    return { ok: false, reason: `Cannot run ${path}: ${(e as Error).message}` };
  }
}

/** One running member. */
export interface EtcdMember {
  name: string;
  clientUrl: string;
  /** Where the member listens for peers. */
  peerUrl: string;
  /** Where its peers reach it (through the delay proxy when there is one). */
  advertisedPeerUrl: string;
  pid: number;
  logPath: string;
}

/** Members started by this process and not yet stopped. */
const liveMembers = new Set<Deno.ChildProcess>();
let exitHooked = false;

function killLiveMembers(): void {
  for (const child of liveMembers) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }
  liveMembers.clear();
}

/**
 * Kills live members when the process exits (`unload` also fires on
 * `Deno.exit()`, which the site launcher's own signal handler calls) or is
 * interrupted; the exit itself is left to a later tick so that other
 * signal listeners (which stop sites) still run.
 */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  globalThis.addEventListener("unload", killLiveMembers);
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    Deno.addSignalListener(signal, () => {
      killLiveMembers();
      setTimeout(() => Deno.exit(code), 0);
    });
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A running etcd cluster. */
export class EtcdCluster {
  readonly members: EtcdMember[];
  readonly gatewayPrefix: string;
  /** The proxy between the members, when started with `peerRttMs` above 0. */
  readonly proxy: DelayProxy | undefined;
  readonly #children: Deno.ChildProcess[];
  readonly #drained: Promise<unknown>[];

  private constructor(
    members: EtcdMember[],
    gatewayPrefix: string,
    proxy: DelayProxy | undefined,
    children: Deno.ChildProcess[],
    drained: Promise<unknown>[],
  ) {
    this.members = members;
    this.gatewayPrefix = gatewayPrefix;
    this.proxy = proxy;
    this.#children = children;
    this.#drained = drained;
  }

  /**
   * Starts `size` members (`etcd-0` …) under `dir` (data in
   * `dir/etcd-<i>.data`, logs in `dir/etcd-<i>.log`) on free loopback ports
   * with `--initial-cluster-state new` and etcd's default heartbeat (100 ms),
   * election timeout (1000 ms) and fsync-on-commit WAL, and waits until every
   * member answers `GET /health` with `"health":"true"`. With `peerRttMs`
   * above 0, the members reach each other through a {@link DelayProxy}
   * that delays each direction by half of it: their advertised peer URLs
   * (`--initial-advertise-peer-urls`, `--initial-cluster`) are the proxy's,
   * their client URLs stay direct.
   */
  static async start(
    etcd: { path: string; gatewayPrefix: string },
    dir: string,
    size = 3,
    peerRttMs = 0,
  ): Promise<EtcdCluster> {
    await Deno.mkdir(dir, { recursive: true });
    hookExit();
    const token = `edgeledger-bench-${crypto.randomUUID().slice(0, 8)}`;
    const peerPorts = Array.from({ length: size }, () => freePort());
    const proxy = peerRttMs > 0 ? await DelayProxy.start(peerPorts, peerRttMs / 2) : undefined;
    const specs = Array.from({ length: size }, (_, i) => ({
      name: `etcd-${i}`,
      clientUrl: `http://127.0.0.1:${freePort()}`,
      peerUrl: `http://127.0.0.1:${peerPorts[i]}`,
      advertisedPeerUrl: `http://127.0.0.1:${proxy?.ports[i] ?? peerPorts[i]}`,
      dataDir: `${dir}/etcd-${i}.data`,
      logPath: `${dir}/etcd-${i}.log`,
    }));
    const initialCluster = specs.map((s) => `${s.name}=${s.advertisedPeerUrl}`).join(",");
    const children: Deno.ChildProcess[] = [];
    const drained: Promise<unknown>[] = [];
    const members: EtcdMember[] = [];
    for (const s of specs) {
      const child = new Deno.Command(etcd.path, {
        args: [
          "--name",
          s.name,
          "--data-dir",
          s.dataDir,
          "--listen-client-urls",
          s.clientUrl,
          "--advertise-client-urls",
          s.clientUrl,
          "--listen-peer-urls",
          s.peerUrl,
          "--initial-advertise-peer-urls",
          s.advertisedPeerUrl,
          "--initial-cluster",
          initialCluster,
          "--initial-cluster-token",
          token,
          "--initial-cluster-state",
          "new",
          "--logger",
          "zap",
          "--log-outputs",
          "stderr",
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      liveMembers.add(child);
      child.status.then(() => liveMembers.delete(child));
      children.push(child);
      const log = await Deno.open(s.logPath, { write: true, create: true, truncate: true });
      const writer = log.writable.getWriter();
      let chain = Promise.resolve();
      const pump = async (stream: ReadableStream<Uint8Array>) => {
        for await (const chunk of stream) {
          chain = chain.then(() => writer.write(chunk)).catch(() => {});
        }
      };
      drained.push(
        Promise.all([pump(child.stdout).catch(() => {}), pump(child.stderr).catch(() => {})])
          .then(() => chain).then(() => writer.close()).catch(() => {}),
      );
      members.push({
        name: s.name,
        clientUrl: s.clientUrl,
        peerUrl: s.peerUrl,
        advertisedPeerUrl: s.advertisedPeerUrl,
        pid: child.pid,
        logPath: s.logPath,
      });
    }
    const cluster = new EtcdCluster(members, etcd.gatewayPrefix, proxy, children, drained);
    try {
      await cluster.#waitHealthy();
    } catch (e) {
      await cluster.close();
      throw e;
    }
    return cluster;
  }

  async #waitHealthy(): Promise<void> {
    const until = performance.now() + etcdStartMsMax;
    const last: string[] = this.members.map(() => "no answer");
    while (performance.now() < until) {
      const ok = await Promise.all(this.members.map(async (m, i) => {
        try {
          const res = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
          last[i] = `${res.status} ${(await res.text()).slice(0, 200)}`;
          return res.ok && last[i].includes(`"health":"true"`);
        } catch (e) {
          last[i] = String((e as Error).message);
          return false;
        }
      }));
      if (ok.every((x) => x)) return;
      await sleep(100);
    }
    throw new Error(
      `etcd did not become healthy within ${etcdStartMsMax} ms: ` +
        this.members.map((m, i) => `${m.name} ${last[i]}`).join("; "),
    );
  }

  /** `POST <member><prefix><path>` with a JSON body; the parsed answer, or a thrown error. */
  async call(member: number, path: string, body: unknown): Promise<Record<string, unknown>> {
    const m = this.members[member];
    const res = await fetch(`${m.clientUrl}${this.gatewayPrefix}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) {
      throw new Error(
        `POST ${m.clientUrl}${this.gatewayPrefix}${path} answered ${res.status}: ${text}`,
      );
    }
    return JSON.parse(text);
  }

  /** Member status (`POST <prefix>/maintenance/status`): leader id, raft term, db size. */
  status(member: number): Promise<Record<string, unknown>> {
    return this.call(member, "/maintenance/status", {});
  }

  /** Pids of the members. */
  get pids(): number[] {
    return this.members.map((m) => m.pid);
  }

  /** SIGTERM every member, SIGKILL after `graceMs`; resolves when all have exited. */
  async close(graceMs = 5_000): Promise<void> {
    for (const c of this.#children) {
      try {
        c.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    const timer = setTimeout(() => {
      for (const c of this.#children) {
        try {
          c.kill("SIGKILL");
        } catch { /* already gone */ }
      }
    }, graceMs);
    await Promise.all(this.#children.map((c) => c.status));
    clearTimeout(timer);
    await Promise.all(this.#drained);
    await this.proxy?.stop();
  }
}

/** base64 of UTF-8 text, as the gateway wants keys and values. */
export function base64Text(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/**
 * Judges an etcd gateway answer: a 200 with a `header` committed
 * `txsPerRequest` puts (for a txn, only if `succeeded` is not false).
 */
export function judgeEtcd(
  txsPerRequest: number,
): (status: number, text: string) => { committed: number; cause?: string } {
  return (status, text) => {
    let answer: { header?: unknown; succeeded?: boolean; error?: string; message?: string };
    try {
      answer = JSON.parse(text);
    } catch {
      return { committed: 0, cause: `http ${status}: not JSON` };
    }
    if (status !== 200 || answer.header === undefined) {
      return {
        committed: 0,
        cause: `http ${status} ${(answer.error ?? answer.message ?? "").slice(0, 80)}`.trim(),
      };
    }
    if (txsPerRequest > 1 && answer.succeeded === false) {
      return { committed: 0, cause: "txn not succeeded" };
    }
    return { committed: txsPerRequest };
  };
}
