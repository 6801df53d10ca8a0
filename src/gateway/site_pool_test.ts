import assert from "node:assert/strict";
import {
  type Candidate,
  chooseSite,
  LedgerUnknownError,
  refusalPollSpacingMsMin,
  resolveLedger,
  SitePool,
} from "./site_pool.ts";
import { recordingLogger } from "../../test/_helpers.ts";

const site = (over: Partial<Candidate> = {}): Candidate => ({
  up: true,
  preferred: false,
  inFlight: 0,
  leader: false,
  inTouch: true,
  ...over,
});
const none = () => false;

Deno.test("chooseSite() answers -1 when every site is down or already tried", () => {
  assert.equal(chooseSite([site({ up: false }), site({ up: false })], none, false, 0), -1);
  assert.equal(chooseSite([site(), site({ up: false })], (i) => i === 0, false, 0), -1);
  assert.equal(chooseSite([], none, false, 0), -1);
});

Deno.test("chooseSite() picks the site with the fewest requests in flight", () => {
  const sites = [site({ inFlight: 3 }), site({ inFlight: 1 }), site({ inFlight: 2 })];
  assert.equal(chooseSite(sites, none, false, 0), 1);
  assert.equal(chooseSite(sites, (i) => i === 1, false, 0), 2);
});

Deno.test("chooseSite() breaks ties round robin from the cursor", () => {
  const sites = [site(), site(), site({ inFlight: 5 }), site()];
  const picks: number[] = [];
  let cursor = 0;
  for (let k = 0; k < 5; k++) {
    const i = chooseSite(sites, none, false, cursor);
    picks.push(i);
    cursor = (i + 1) % sites.length;
  }
  assert.deepEqual(picks, [0, 1, 3, 0, 1]);
});

Deno.test("chooseSite() keeps to the preferred sites while one is up, however busy", () => {
  const sites = [site({ inFlight: 0 }), site({ preferred: true, inFlight: 9 })];
  assert.equal(chooseSite(sites, none, false, 0), 1);
  assert.equal(chooseSite(sites, (i) => i === 1, false, 0), 0);
  sites[1].up = false;
  assert.equal(chooseSite(sites, none, false, 0), 0);
});

Deno.test("chooseSite() sends leader reads to the leader when it is up and untried", () => {
  const sites = [site(), site({ leader: true, inFlight: 4 }), site({ preferred: true })];
  assert.equal(chooseSite(sites, none, true, 0), 1);
  assert.equal(chooseSite(sites, none, false, 0), 2);
  assert.equal(chooseSite(sites, (i) => i === 1, true, 0), 2);
});

Deno.test("chooseSite() keeps requests off a site out of touch with the cluster, preferred or not, while another is in touch; with none in touch, any site", () => {
  const sites = [
    site({ preferred: true, inTouch: false }),
    site({ inFlight: 5 }),
    site({ inFlight: 2 }),
  ];
  assert.equal(chooseSite(sites, none, false, 0), 2);
  assert.equal(chooseSite(sites, (i) => i === 2, false, 0), 1);
  // Tried both sites in touch: the one out of touch is still better than no answer.
  assert.equal(chooseSite(sites, (i) => i > 0, false, 0), 0);
  // During an election no site names a leader: the preferred site again.
  for (const s of sites) s.inTouch = false;
  assert.equal(chooseSite(sites, none, false, 0), 0);
  // Back in touch, it is preferred again.
  sites[0].inTouch = true;
  assert.equal(chooseSite(sites, none, false, 0), 0);
});

/** A healthy leader's `/v1/status` of ledger "demo", with `fields` over it. */
function siteStatus(fields: Record<string, unknown>) {
  return {
    ledger: "demo",
    site: "site-a",
    role: "leader",
    term: 3,
    leader: "site-a",
    commitIndex: 1,
    appliedIndex: 1,
    height: 1,
    logSize: 1,
    healthy: true,
    ...fields,
  };
}

Deno.test("SitePool logs a site going down once, with why, however many polls fail, and coming up once", async () => {
  const rec = recordingLogger({ gateway: "gw" });
  let answer: "status" | "refused" | "unhealthy" = "refused";
  const status = (healthy: boolean) => siteStatus({ healthy });
  const pool = new SitePool({
    urls: ["http://127.0.0.1:7001"],
    pollIntervalMs: 1000,
    pollTimeoutMs: 1000,
    via: "1.1 test",
    log: rec.log,
    fetch: (() => {
      if (answer === "refused") return Promise.reject(new TypeError("Connection refused"));
      return Promise.resolve(Response.json(status(answer === "status")));
    }) as typeof fetch,
  });
  pool.ledger = "demo";
  for (let i = 0; i < 3; i++) await pool.pollAll();
  answer = "status";
  for (let i = 0; i < 3; i++) await pool.pollAll();
  pool.markDown(pool.sites[0], "connection refused while forwarding");
  pool.markDown(pool.sites[0], "connection refused while forwarding");
  answer = "unhealthy";
  await pool.pollAll();
  await pool.close();
  assert.deepEqual(
    rec.records.map((r) => [r.level, r.msg, r.reason ?? null]),
    [
      ["warn", "site down", "GET /v1/status failed: Connection refused"],
      ["info", "site up", null],
      ["warn", "site down", "connection refused while forwarding"],
    ],
  );
  const up = rec.said("site up")[0];
  assert.deepEqual([up.gateway, up.url, up.name, up.role, up.term], [
    "gw",
    "http://127.0.0.1:7001",
    "site-a",
    "leader",
    3,
  ]);
});

Deno.test("SitePool: a site that says it was removed from the cluster takes no requests, with why", async () => {
  const rec = recordingLogger({ gateway: "gw" });
  let removed = false;
  const pool = new SitePool({
    urls: ["http://127.0.0.1:7001"],
    pollIntervalMs: 1000,
    pollTimeoutMs: 1000,
    via: "1.1 test",
    log: rec.log,
    fetch: (() =>
      Promise.resolve(Response.json(siteStatus(removed ? { removed } : {})))) as typeof fetch,
  });
  pool.ledger = "demo";
  try {
    await pool.pollAll();
    assert.equal(pool.sites[0].up, true);
    removed = true;
    await pool.pollAll();
    assert.equal(pool.sites[0].up, false);
    assert.equal(rec.said("site down")[0]?.reason, "was removed from the cluster");
  } finally {
    await pool.close();
  }
});

Deno.test("SitePool: a site whose TLS certificate the gateway does not trust is down with why and what to set (caFile), in its site-down line and in the startup failure (at once, when no site is trusted), never a bare 'fetch failed'", async () => {
  const rec = recordingLogger({ gateway: "gw" });
  const untrusted = () =>
    new TypeError("fetch failed", {
      cause: new Error(
        "error sending request for url (https://127.0.0.1:7001/v1/status): client error (Connect): invalid peer certificate: UnknownIssuer",
      ),
    });
  const pool = new SitePool({
    urls: ["https://127.0.0.1:7001"],
    pollIntervalMs: 50,
    pollTimeoutMs: 1000,
    via: "1.1 test",
    log: rec.log,
    fetch: (() => Promise.reject(untrusted())) as typeof fetch,
  });
  const why = "GET /v1/status failed: its TLS certificate is not trusted " +
    "(invalid peer certificate: UnknownIssuer): give the gateway the CA that signed it (caFile, --ca-file)";
  try {
    // At once, not after the wait: no answer would come while the gateway trusts no site.
    const started = Date.now();
    await assert.rejects(
      resolveLedger(pool, { waitMs: 30_000, pollIntervalMs: 50 }),
      (e) =>
        e instanceof LedgerUnknownError &&
        e.message ===
          `No site's TLS certificate is trusted, so none can tell the ledger (https://127.0.0.1:7001: ${why})`,
    );
    assert.ok(Date.now() - started < 5_000, "did not wait out startupWaitMs");
    assert.deepEqual(
      rec.records.map((r) => [r.level, r.msg, r.reason]),
      [["warn", "site down", why]],
    );
    assert.equal(pool.view().sites[0].lastError, why);
  } finally {
    await pool.close();
  }
});

Deno.test("SitePool: a site whose status names no leader, says leaderlessMs or leaderUnreachableMs, or catches up by snapshot is out of touch: requests go to the others, and /v1/gateway says why", async () => {
  const statusOf: Record<string, Record<string, unknown>> = {
    "http://a": siteStatus({ site: "site-a", role: "follower", leader: "site-b" }),
    "http://b": siteStatus({ site: "site-b", leader: "site-b" }),
  };
  const pool = new SitePool({
    urls: ["http://a", "http://b"],
    preferred: ["http://a"],
    pollIntervalMs: 1000,
    pollTimeoutMs: 1000,
    via: "1.1 test",
    log: recordingLogger({}).log,
    fetch: ((url: string) =>
      Promise.resolve(Response.json(statusOf[new URL(url).origin]))) as typeof fetch,
  });
  pool.ledger = "demo";
  try {
    const picked = () => pool.pick(new Set(), false)?.name;
    await pool.pollAll();
    assert.equal(picked(), "site-a", "the preferred site, in touch");
    const outOfTouch = [
      { role: "candidate", term: 4, leader: null },
      { role: "follower", leader: "site-b", catchingUp: { snapshotIndex: 900, targetHeight: 400 } },
      // A learner names its last leader however long it has not heard from it: leaderlessMs says so.
      { role: "learner", leader: "site-b", leaderlessMs: 2100 },
      // A follower that hears its leader but whose forwards get no answer.
      { role: "follower", leader: "site-b", leaderUnreachableMs: 2050 },
    ];
    for (const fields of outOfTouch) {
      statusOf["http://a"] = siteStatus({ site: "site-a", ...fields });
      await pool.pollAll();
      assert.equal(pool.sites[0].up, true, "out of touch is not down");
      assert.equal(picked(), "site-b", JSON.stringify(fields));
      assert.deepEqual(pool.view().sites.map((s) => s.inTouch), [false, true]);
    }
    statusOf["http://a"] = siteStatus({ site: "site-a", role: "follower", leader: "site-b" });
    await pool.pollAll();
    assert.equal(picked(), "site-a");
    assert.deepEqual(pool.view().sites.map((s) => s.inTouch), [true, true]);
  } finally {
    await pool.close();
  }
});

Deno.test("SitePool.pollSoon: polls a site out of its round, once for a burst (one poll on its way settles them all, and none again within refusalPollSpacingMsMin), and its status counts at once", async () => {
  let polls = 0;
  let status = siteStatus({ site: "site-a", role: "follower", leader: "site-b" });
  let release: (() => void) | undefined;
  const pool = new SitePool({
    urls: ["http://a"],
    pollIntervalMs: 60_000,
    pollTimeoutMs: 1000,
    via: "1.1 test",
    log: recordingLogger({}).log,
    fetch: (async () => {
      polls++;
      if (release === undefined) await new Promise<void>((r) => release = r);
      return Response.json(status);
    }) as typeof fetch,
  });
  pool.ledger = "demo";
  const [a] = pool.sites;
  try {
    // The first poll hangs until released: the burst waits for it, and adds none.
    const first = pool.pollSoon(a);
    const burst = [pool.pollSoon(a), pool.pollSoon(a)];
    await new Promise((r) => setTimeout(r, 10));
    release!();
    await Promise.all([first, ...burst]);
    assert.equal(polls, 1);
    assert.equal(a.inTouch, true);
    // Its status changed (cut off from its leader); within the spacing no poll asks.
    status = siteStatus({
      site: "site-a",
      role: "follower",
      leader: "site-b",
      leaderUnreachableMs: 2100,
    });
    await pool.pollSoon(a);
    assert.equal(polls, 1);
    await new Promise((r) => setTimeout(r, refusalPollSpacingMsMin + 20));
    await pool.pollSoon(a);
    assert.equal(polls, 2);
    assert.equal(a.inTouch, false, "out of touch as soon as the poll answered");
  } finally {
    await pool.close();
  }
});

Deno.test("SitePool: with pollApiKey, each status poll carries it as a Bearer key (sites that serve only with a key answer it); without, none", async () => {
  const KEY = "gateway-poll-key-0123456789";
  for (const pollApiKey of [KEY, undefined]) {
    const seen: (string | null)[] = [];
    const pool = new SitePool({
      urls: ["http://127.0.0.1:7001"],
      pollIntervalMs: 1000,
      pollTimeoutMs: 1000,
      via: "1.1 test",
      pollApiKey,
      log: recordingLogger({ gateway: "gw" }).log,
      fetch: ((_url: string, init: RequestInit) => {
        const auth = new Headers(init.headers).get("authorization");
        seen.push(auth);
        // A site with requireApiKey "all": 401 without the key.
        return Promise.resolve(
          auth === `Bearer ${KEY}`
            ? Response.json(siteStatus({}))
            : Response.json({ type: "unauthorized" }, { status: 401 }),
        );
      }) as typeof fetch,
    });
    pool.ledger = "demo";
    await pool.pollAll();
    await pool.close();
    assert.deepEqual(seen, [pollApiKey === undefined ? null : `Bearer ${KEY}`]);
    assert.equal(pool.sites[0].up, pollApiKey !== undefined, String(pollApiKey));
  }
});
