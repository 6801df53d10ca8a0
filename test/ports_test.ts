/**
 * How tests start processes on ports they choose (test/_cluster.ts): a first
 * start whose port was taken, here by this test, moves to a new port instead
 * of failing; with one try it fails saying the port was taken. Ports come
 * from below Linux's ephemeral range, and a closed one is refused.
 */
import assert from "node:assert/strict";
import {
  basePort,
  closedPort,
  FETCH_BLOCKED_PORTS,
  PortTakenError,
  spawnWorkerOnPort,
  startCluster,
  startOnFreePort,
  testPortMax,
  testPortMin,
} from "./_cluster.ts";
import { startLocalSite } from "./sdk_site_helpers.ts";
import { initLocalLedger } from "../src/site/config.ts";

/** The first port of Linux's ephemeral range (net.ipv4.ip_local_port_range's default). */
const ephemeralPortMin = 32_768;

/** A `pick` that gives `ports` first, then {@link basePort}'s; `picked` lists what it gave. */
function picks(...ports: number[]) {
  const picked: number[] = [];
  return {
    picked,
    pick: () => {
      const port = ports.shift() ?? basePort();
      picked.push(port);
      return port;
    },
  };
}

/** Holds a loopback port (one the system gives) until `close()`: a port another test took. */
function takenPort(): { port: number; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

const PROCESSES = { sanitizeOps: false, sanitizeResources: false };

Deno.test("startOnFreePort(): a start whose port was taken runs again on the next pick; any other error, and the last try's, is thrown as it is", async () => {
  const { pick, picked } = picks(11_001, 11_002, 11_003);
  const port = await startOnFreePort((p) => {
    if (p === 11_001) return Promise.reject(new PortTakenError("site-a: address in use"));
    if (p === 11_002) return Promise.reject(new Deno.errors.AddrInUse("listen"));
    return Promise.resolve(p);
  }, { pick });
  assert.equal(port, 11_003);
  assert.deepEqual(picked, [11_001, 11_002, 11_003]);

  const always = picks();
  await assert.rejects(
    startOnFreePort((p) => Promise.reject(new PortTakenError(`${p} taken`)), {
      pick: always.pick,
      triesMax: 2,
    }),
    PortTakenError,
  );
  assert.equal(always.picked.length, 2);

  const other = picks();
  await assert.rejects(
    startOnFreePort(() => Promise.reject(new Error("Cannot read genesis")), { pick: other.pick }),
    /^Error: Cannot read genesis$/,
  );
  assert.equal(other.picked.length, 1, "a failure that is not a taken port is not tried again");
});

Deno.test("basePort() never draws a first port whose cluster (the gateway below, 9 sites above) would take a port fetch blocks (10080)", () => {
  for (let i = 0; i < 20_000; i++) {
    const port = basePort();
    for (const blocked of FETCH_BLOCKED_PORTS) {
      assert.ok(blocked < port - 1 || blocked > port + 9, `drew ${port}`);
    }
  }
});

Deno.test("basePort() and closedPort() stay below the ephemeral range; nothing accepts a connection on closedPort()", async () => {
  assert.ok(testPortMax + 9 < ephemeralPortMin, "room for 9 sites above a base port");
  for (let i = 0; i < 1000; i++) {
    const port = basePort();
    assert.ok(Number.isInteger(port) && port >= testPortMin && port < testPortMax, `${port}`);
  }
  const port = closedPort();
  assert.ok(port >= testPortMin && port < testPortMax, `${port}`);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test({
  name:
    "startLocalSite(): a site whose first port is taken starts on a new one (with one try, it fails: the port was taken)",
  ...PROCESSES,
  async fn() {
    const taken = takenPort();
    try {
      await assert.rejects(
        startLocalSite({ pick: picks(taken.port).pick, triesMax: 1 }),
        (e) => e instanceof PortTakenError && /address already in use/i.test(e.message),
      );

      const { pick, picked } = picks(taken.port);
      const { site, cleanup } = await startLocalSite({ pick });
      try {
        assert.equal(picked.length, 2);
        assert.equal(site.url, `http://127.0.0.1:${picked[1]}`);
        const status = await (await fetch(`${site.url}/v1/status`)).json();
        assert.equal(status.site, "site-a");
        // A restart keeps the port it started on.
        await site.stop();
        await site.start();
        assert.equal(site.url, `http://127.0.0.1:${picked[1]}`);
      } finally {
        await cleanup();
      }
    } finally {
      taken.close();
    }
  },
});

Deno.test({
  name:
    "spawnWorkerOnPort(): a gateway whose first port is taken (it says its address is in use and exits) starts on a new one",
  ...PROCESSES,
  async fn() {
    const taken = takenPort();
    const site = `http://127.0.0.1:${closedPort()}`;
    const args = (port: number) => ["--site", site, "--port", String(port), "--ledger", "demo"];
    try {
      await assert.rejects(
        spawnWorkerOnPort("gateway.ts", args, "gateway http", {
          pick: picks(taken.port).pick,
          triesMax: 1,
        }),
        (e) => e instanceof PortTakenError && /address already in use/i.test(e.message),
      );

      const { pick, picked } = picks(taken.port);
      const gw = await spawnWorkerOnPort("gateway.ts", args, "gateway http", { pick });
      try {
        assert.deepEqual(picked, [taken.port, gw.port]);
        assert.notEqual(gw.port, taken.port);
        assert.deepEqual(gw.args, args(gw.port));
        assert.match(
          gw.worker.output(),
          new RegExp(`^gateway http://127\\.0\\.0\\.1:${gw.port}$`, "m"),
        );
        const view = await (await fetch(`http://127.0.0.1:${gw.port}/v1/gateway`)).json();
        assert.equal(view.sitesUp, 0);
      } finally {
        gw.worker.process.kill("SIGTERM");
        await gw.worker.process.status;
      }
    } finally {
      taken.close();
    }
  },
});

Deno.test({
  name: "startCluster(): a cluster whose first site's port is taken starts on new ports",
  ...PROCESSES,
  async fn() {
    const taken = takenPort();
    try {
      const { pick, picked } = picks(taken.port);
      const cluster = await startCluster(1, {}, [], { ports: { pick } });
      try {
        assert.equal(picked.length, 2);
        assert.equal(cluster.sites[0].url, `http://127.0.0.1:${picked[1]}`);
        const status = await (await fetch(`${cluster.sites[0].url}/v1/status`)).json();
        assert.equal(status.site, "site-a");
      } finally {
        await cluster.stop();
      }
    } finally {
      taken.close();
    }
  },
});

Deno.test("a site, a gateway and task start refuse to listen on a port fetch refuses to connect to (10080, 5060, …): no client or peer could reach it; operator commands still read such a config", async () => {
  const { blockedPortProblem } = await import("../src/site/ports.ts");
  for (const port of [10080, 5060, 6000]) {
    assert.match(blockedPortProblem(port)!, /is a port fetch refuses to connect to/);
  }
  for (const port of [0, 7001, 10079, 10081]) assert.equal(blockedPortProblem(port), undefined);
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-bad-port-" });
  const run = async (worker: string, args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(`../workers/${worker}`, import.meta.url).pathname, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, err: new TextDecoder().decode(out.stderr) };
  };
  try {
    for (const args of [["--port", "10078", "--sites", "3"], ["--port", "10081", "--gateway"]]) {
      const r = await run("start.ts", [...args, "--data", `${dir}/data`]);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /10080 is a port fetch refuses to connect to/, args.join(" "));
    }
    await assert.rejects(Deno.stat(`${dir}/data`), Deno.errors.NotFound, "no ledger was made");
    const gateway = await run("gateway.ts", ["--port", "10080", "--site", "http://127.0.0.1:7001"]);
    assert.equal(gateway.code, 2, gateway.err);
    assert.match(
      gateway.err,
      /^Cannot start gateway: Cannot listen on port: 10080 is a port fetch/,
    );
    const [config] = await initLocalLedger({
      dataDir: `${dir}/lone`,
      sites: 1,
      basePort: 10080,
      host: "127.0.0.1",
    });
    const site = await run("site.ts", ["--config", config]);
    assert.equal(site.code, 1, site.err);
    assert.match(site.err, /^Cannot start site: Cannot listen on port: 10080 is a port fetch/);
    await assert.rejects(Deno.stat(`${dir}/lone/site-a/ledger.db`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
