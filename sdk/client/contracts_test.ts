import assert from "node:assert/strict";
import { ACCESS_ROUTES } from "../api/contract_routes/access.ts";
import { ASSET_ROUTES } from "../api/contract_routes/asset.ts";
import { CUSTODY_ROUTES } from "../api/contract_routes/custody.ts";
import { DATA_ROUTES } from "../api/contract_routes/data.ts";
import { GOV_ROUTES } from "../api/contract_routes/gov.ts";
import { IDENTITY_ROUTES } from "../api/contract_routes/identity.ts";
import { ROAMING_ROUTES } from "../api/contract_routes/roaming.ts";
import { EdgeLedgerClient } from "./client.ts";
import {
  NetworkError,
  NotFoundError,
  RejectedError,
  ServerError,
  ValidationError,
} from "./errors.ts";
import { fillPath } from "./_path.ts";

const DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
const DEVICE_DID = "did:edgeledger:demo:demo:cams:cam-1";
const TX = "ab".repeat(32);
const ROOT = "cd".repeat(32);
const fast = { attemptsMax: 3, delayMsBase: 1, delayMsMax: 2 };

/** A scripted site: records every request, answers with `handler`. */
function scripted(handler: (req: Request, url: URL) => Response | Promise<Response>) {
  const requests: Request[] = [];
  const fetchFn = (async (input: URL | RequestInfo, init?: RequestInit) => {
    const req = new Request(input, init);
    requests.push(req.clone());
    return await handler(req, new URL(req.url));
  }) as typeof fetch;
  const client = new EdgeLedgerClient({ urls: "http://a", fetch: fetchFn, retry: fast });
  return { client, requests };
}

function json(body: unknown, status = 200, type = "application/json"): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": type } });
}

function problem(slug: string, status: number, extra: Record<string, unknown> = {}): Response {
  return json(
    {
      type: `https://edgeledger.dev/problems/${slug}`,
      title: slug,
      status,
      detail: `detail of ${slug}`,
      instance: "/x",
      requestId: "rid-1",
      ...extra,
    },
    status,
    "application/problem+json",
  );
}

/** The raw (still percent-encoded) path and the query of a recorded request. */
function sent(req: Request): { method: string; path: string; query: Record<string, string> } {
  const url = new URL(req.url);
  return {
    method: req.method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
  };
}

/** A two-page listing: the first page (no `after`) answers `next: "c1"`, the second ends it. */
function twoPages<T>(key: string, first: T[], second: T[]) {
  return (url: URL) =>
    url.searchParams.get("after") === null
      ? json({ [key]: first, next: "c1" })
      : json({ [key]: second, next: null });
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

// ---- fixtures of each answer's schema -------------------------------------

const device = (name: string) => ({
  did: `did:edgeledger:demo:${name.replaceAll("/", ":")}`,
  name,
  status: "active",
  key: DID,
  authority: DID,
  org: "org-a",
  namespace: "demo/",
  attributes: { model: "CAM-4K" },
  registered: { txId: TX, height: 1, time: 1 },
  keys: [{ key: DID, from: 1 }],
  reports: [],
  events: [],
  eventsDropped: 0,
});
const didDocument = {
  "@context": ["https://www.w3.org/ns/did/v1"],
  id: DEVICE_DID,
  alsoKnownAs: [DID],
  verificationMethod: [{
    id: `${DEVICE_DID}#z6Mk`,
    type: "Multikey",
    controller: DEVICE_DID,
    publicKeyMultibase: "z6Mk",
  }],
  authentication: [`${DEVICE_DID}#z6Mk`],
  assertionMethod: [`${DEVICE_DID}#z6Mk`],
};
const governance = {
  organisations: [{
    id: "org-a",
    name: "A",
    admins: [DID],
    sites: ["site-a"],
    authorities: [],
    since: 0,
  }],
  sites: [],
  authorities: [],
  policy: null,
  majority: 1,
};
const asset = {
  asset: "kwh",
  name: "Charging credit",
  decimals: 3,
  issuer: DID,
  supply: "5000",
  createdTx: TX,
  createdHeight: 1,
};
const balance = (account: string, amount: string) => ({ asset: "kwh", account, balance: amount });
const item = {
  item: "shipment:0042",
  description: "Crate",
  producer: DID,
  holder: DID,
  steps: 2,
  createdTx: TX,
  createdHeight: 1,
  lastTx: TX,
  lastHeight: 2,
};
const step = (n: number) => ({
  item: "shipment:0042",
  step: n,
  type: n === 0 ? "create" : "handoff",
  holder: DID,
  txId: TX,
  height: n + 1,
  time: 1,
  proofUrl: `/v1/txs/${TX}/proof`,
});
const grant = (stream: string) => ({
  grant: TX,
  stream,
  owner: DID,
  reader: DID,
  purpose: "Audit",
  from: 0,
  until: 10,
  grantedAt: 0,
  height: 3,
});
const stream = (name: string) => ({
  stream: name,
  owner: DID,
  lastSeq: 4,
  count: 3,
  firstHeight: 1,
  lastHeight: 5,
});
const anchor = (seq: number) => ({
  stream: "s",
  seq,
  root: ROOT,
  count: 1,
  from: 0,
  to: 1,
  txId: TX,
  height: seq + 1,
  signer: DID,
});
const gaps = (next: string | null) => ({
  stream: "s",
  lastSeq: 9,
  lastTo: 1,
  gaps: [{ from: 2, to: 3, missing: 2 }],
  scanned: 2,
  next,
});
const tariff = { voiceMinute: "10", dataMb: "2", sms: "1" };
const period = {
  period: "p1",
  carriers: [{ org: "orga", tariff }, { org: "orgb", tariff }],
  from: 0,
  until: 10,
  currency: "EUR",
  limits: { maxSpeedKmh: 900, voiceMinutesPerHour: 60, dataMbPerHour: 20_000, smsPerHour: 200 },
  status: "open",
  totals: {},
  openedTx: TX,
  openedHeight: 1,
  signatures: {},
};
const usage = (record: string) => ({
  period: "p1",
  record,
  visited: "orga",
  home: "orgb",
  imsiHash: ROOT,
  country: "FR",
  lat: 0,
  lon: 0,
  from: 0,
  to: 1,
  voiceMinutes: 1,
  dataMb: 2,
  sms: 3,
  flags: [],
  txId: TX,
  height: 2,
});
const flag = (record: string) => ({
  period: "p1",
  record,
  visited: "orga",
  imsiHash: ROOT,
  flags: ["impossible_travel"],
  txId: TX,
});
const statement = {
  statement: {
    period: "p1",
    currency: "EUR",
    from: 0,
    until: 10,
    lines: [],
    net: { from: "orga", to: "orgb", amount: "0" },
  },
  statementHash: ROOT,
  signatures: {},
  final: false,
};

// ---- per namespace ----------------------------------------------------------

Deno.test("contracts: gov.consortium() reads GET /v1/gov at the consistency asked for", async () => {
  const s = scripted(() => json(governance));
  const g = await s.client.gov.consortium({ consistency: "leader" });
  assert.equal(g.majority, 1);
  assert.equal(g.organisations[0].id, "org-a");
  assert.deepEqual(sent(s.requests[0]), {
    method: "GET",
    path: "/v1/gov",
    query: { consistency: "leader" },
  });
  // Without a level the route's default (stale) applies: nothing is sent.
  await s.client.gov.consortium();
  assert.deepEqual(sent(s.requests[1]).query, {});
});

Deno.test("contracts: identity methods encode a DID as one path segment and page devices by the next cursor", async () => {
  const s = scripted((_req, url) => {
    if (url.pathname.endsWith("/did.json")) {
      return json(didDocument, 200, "application/did+json");
    }
    if (url.pathname === "/v1/devices") {
      return twoPages("devices", [device("demo/cams/a"), device("demo/cams/b")], [
        device("demo/cams/c"),
      ])(url);
    }
    return json(device("demo/cams/cam-1"));
  });
  const d = await s.client.identity.device(DID);
  assert.equal(d.status, "active");
  assert.equal(sent(s.requests[0]).path, `/v1/devices/${DID.replaceAll(":", "%3A")}`);
  const doc = await s.client.identity.didDocument(DEVICE_DID, { consistency: "linearizable" });
  assert.equal(doc.verificationMethod[0].type, "Multikey");
  assert.deepEqual(sent(s.requests[1]), {
    method: "GET",
    path: "/v1/devices/did%3Aedgeledger%3Ademo%3Ademo%3Acams%3Acam-1/did.json",
    query: { consistency: "linearizable" },
  });
  const page = await s.client.identity.devicesPage({ prefix: "demo/cams/", limit: 2 });
  assert.equal(page.next, "c1");
  assert.deepEqual(sent(s.requests[2]).query, { prefix: "demo/cams/", limit: "2" });
  const all = await collect(s.client.identity.devices({ prefix: "demo/", pageSize: 2 }));
  assert.deepEqual(all.map((x) => x.name), ["demo/cams/a", "demo/cams/b", "demo/cams/c"]);
  assert.deepEqual(s.requests.slice(3).map((r) => sent(r).query), [
    { prefix: "demo/", limit: "2" },
    { prefix: "demo/", after: "c1", limit: "2" },
  ]);
});

Deno.test("contracts: an unknown device is a NotFoundError (a RejectedError, slug not_found) and is not retried", async () => {
  const s = scripted(() => problem("not_found", 404));
  const e = await s.client.identity.device(DEVICE_DID).catch((e) => e);
  assert.ok(e instanceof NotFoundError);
  assert.ok(e instanceof RejectedError);
  assert.equal(e.slug, "not_found");
  assert.equal(e.status, 404);
  assert.equal(s.requests.length, 1);
  // Other refusals stay plain RejectedErrors.
  const gone = scripted(() => problem("device_revoked", 410));
  const e2 = await gone.client.identity.didDocument(DEVICE_DID).catch((e) => e);
  assert.ok(e2 instanceof RejectedError && !(e2 instanceof NotFoundError));
  assert.equal(e2.slug, "device_revoked");
});

Deno.test("contracts: a bad parameter the site refuses is a ValidationError with its issues", async () => {
  const s = scripted(() =>
    problem("validation", 400, {
      errors: [{ path: "param.did", message: "Must be a did:edgeledger device DID or a did:key" }],
    })
  );
  const e = await s.client.identity.device("did:web:example.com").catch((e) => e);
  assert.ok(e instanceof ValidationError);
  assert.equal(e.issues[0].path, "param.did");
  assert.equal(s.requests.length, 1);
});

Deno.test("contracts: asset methods read the asset, one balance, and every holder across pages", async () => {
  const s = scripted((_req, url) => {
    if (url.pathname === "/v1/assets/kwh") return json(asset);
    if (url.pathname === "/v1/assets/kwh/balances") {
      return twoPages("balances", [balance("a", "1")], [balance("b", "2")])(url);
    }
    return json(balance(DID, "0"));
  });
  assert.equal((await s.client.asset.get("kwh")).supply, "5000");
  assert.equal((await s.client.asset.balance("kwh", DID)).balance, "0");
  assert.equal(sent(s.requests[1]).path, `/v1/assets/kwh/balances/${DID.replaceAll(":", "%3A")}`);
  const page = await s.client.asset.balancesPage("kwh", { after: "xyz", limit: 7 });
  assert.equal(page.next, null);
  assert.deepEqual(sent(s.requests[2]).query, { after: "xyz", limit: "7" });
  const holders = await collect(s.client.asset.balances("kwh", { consistency: "leader" }));
  assert.deepEqual(holders.map((b) => [b.account, b.balance]), [["a", "1"], ["b", "2"]]);
  assert.deepEqual(sent(s.requests[4]).query, { after: "c1", consistency: "leader" });
});

Deno.test("contracts: custody methods read an item and follow its history, proofs asked for as true/false", async () => {
  const s = scripted((_req, url) => {
    if (url.pathname.endsWith("/history")) {
      const first = url.searchParams.get("after") === null;
      return json({ item, steps: first ? [step(0)] : [step(1)], next: first ? "c1" : null });
    }
    return json(item);
  });
  assert.equal((await s.client.custody.item("shipment:0042")).steps, 2);
  assert.equal(sent(s.requests[0]).path, "/v1/custody/items/shipment%3A0042");
  const page = await s.client.custody.historyPage("shipment:0042", { proofs: true, limit: 1 });
  assert.equal(page.item.holder, DID);
  assert.deepEqual(sent(s.requests[1]).query, { limit: "1", proofs: "true" });
  const steps = await collect(s.client.custody.history("shipment:0042", { proofs: false }));
  assert.deepEqual(steps.map((x) => x.type), ["create", "handoff"]);
  assert.deepEqual(sent(s.requests[3]).query, { after: "c1", proofs: "false" });
});

Deno.test("contracts: access methods list a stream's and a reader's grants and check access at a time", async () => {
  const name = "patient 42/glucose?#%";
  const s = scripted((_req, url) => {
    if (url.pathname.endsWith("/access")) {
      return json({
        stream: name,
        reader: DID,
        at: 5,
        allowed: true,
        grants: [grant(name)],
        truncated: false,
      });
    }
    if (url.pathname.startsWith("/v1/access/readers/")) {
      return twoPages("grants", [grant("a")], [grant("b")])(url);
    }
    return json({ grants: [grant(name)], next: null });
  });
  const encoded = "patient%2042%2Fglucose%3F%23%25";
  const page = await s.client.access.streamGrantsPage(name, { reader: DID, limit: 10 });
  assert.equal(page.grants[0].stream, name);
  assert.deepEqual(sent(s.requests[0]), {
    method: "GET",
    path: `/v1/streams/${encoded}/grants`,
    query: { reader: DID, limit: "10" },
  });
  assert.equal((await collect(s.client.access.streamGrants(name))).length, 1);
  const byReader = await collect(s.client.access.readerGrants(DID));
  assert.deepEqual(byReader.map((g) => g.stream), ["a", "b"]);
  assert.equal(sent(s.requests[2]).path, `/v1/access/readers/${DID.replaceAll(":", "%3A")}/grants`);
  assert.equal((await s.client.access.readerGrantsPage(DID, { after: "c1" })).next, null);
  const verdict = await s.client.access.check(name, DID, 5);
  assert.equal(verdict.allowed, true);
  assert.deepEqual(sent(s.requests.at(-1)!), {
    method: "GET",
    path: `/v1/streams/${encoded}/access`,
    query: { reader: DID, at: "5" },
  });
});

Deno.test("contracts: data methods encode stream names with '/' and spaces, follow seq cursors and post a reading", async () => {
  const name = "truck 17/temp";
  const encoded = "truck%2017%2Ftemp";
  const s = scripted((req, url) => {
    if (url.pathname.endsWith("/anchors")) {
      const after = url.searchParams.get("after");
      return after === null
        ? json({ anchors: [anchor(0), anchor(1)], next: "1" })
        : after === "1"
        ? json({ anchors: [], next: "40" }) // a short page with a next is allowed
        : json({ anchors: [anchor(41)], next: null });
    }
    if (url.pathname.endsWith("/gaps")) {
      return json(gaps(url.searchParams.get("after") === null ? "5" : null));
    }
    if (req.method === "POST") {
      return json({ valid: false, reason: "proof_mismatch", leafHash: ROOT, anchor: anchor(0) });
    }
    return json(stream(name));
  });
  assert.equal((await s.client.data.stream(name)).lastSeq, 4);
  assert.equal(sent(s.requests[0]).path, `/v1/streams/${encoded}`);
  const page = await s.client.data.anchorsPage(name, { after: 40, limit: 2 });
  assert.deepEqual(page, { anchors: [anchor(41)], next: null });
  assert.deepEqual(sent(s.requests[1]).query, { after: "40", limit: "2" });
  const seqs = (await collect(s.client.data.anchors(name, { pageSize: 2 }))).map((a) => a.seq);
  assert.deepEqual(seqs, [0, 1, 41]);
  assert.deepEqual(s.requests.slice(2, 5).map((r) => sent(r).query.after), [undefined, "1", "40"]);
  const scan = await s.client.data.gaps(name, { silenceMs: 60_000, limit: 10 });
  assert.deepEqual(scan.gaps, [{ from: 2, to: 3, missing: 2 }]);
  assert.deepEqual(sent(s.requests[5]), {
    method: "GET",
    path: `/v1/streams/${encoded}/gaps`,
    query: { limit: "10", silenceMs: "60000" },
  });
  const scans = await collect(s.client.data.gapPages(name));
  assert.deepEqual(scans.map((p) => p.next), ["5", null]);
  const input = {
    seq: 0,
    reading: { json: { t: 4.2 } },
    proof: { index: 0, count: 1, path: [] },
  };
  const verdict = await s.client.data.verifyReading(name, input, { consistency: "leader" });
  assert.equal(verdict.reason, "proof_mismatch");
  const post = s.requests.at(-1)!;
  assert.deepEqual(sent(post), {
    method: "POST",
    path: `/v1/streams/${encoded}/verify-reading`,
    query: { consistency: "leader" },
  });
  assert.deepEqual(await post.json(), input);
  assert.equal(post.headers.get("content-type"), "application/json");
});

Deno.test("contracts: roaming methods read a period, its records, flags, one record and the statement", async () => {
  const s = scripted((_req, url) => {
    const p = url.pathname;
    if (p.endsWith("/statement")) return json(statement);
    if (p.endsWith("/records")) return twoPages("records", [usage("a-1")], [usage("a-2")])(url);
    if (p.endsWith("/flags")) return twoPages("flags", [flag("b-1")], [flag("b-2")])(url);
    if (p.includes("/records/")) return json(usage("a-1"));
    return json(period);
  });
  assert.equal((await s.client.roaming.period("p1")).status, "open");
  const records = await collect(s.client.roaming.records("p1", { pageSize: 1 }));
  assert.deepEqual(records.map((r) => r.record), ["a-1", "a-2"]);
  assert.equal((await s.client.roaming.recordsPage("p1")).next, "c1");
  assert.equal((await s.client.roaming.record("p1", "a-1")).home, "orgb");
  assert.equal(sent(s.requests[4]).path, "/v1/roaming/periods/p1/records/a-1");
  const flags = await collect(s.client.roaming.flags("p1"));
  assert.deepEqual(flags.map((f) => f.record), ["b-1", "b-2"]);
  assert.equal((await s.client.roaming.flagsPage("p1", { after: "c1" })).next, null);
  assert.equal((await s.client.roaming.statement("p1")).final, false);
  assert.equal(sent(s.requests.at(-1)!).path, "/v1/roaming/periods/p1/statement");
});

// ---- the machinery every method shares -------------------------------------

Deno.test("contracts: a contract read retries a 503 like every other call", async () => {
  let n = 0;
  const s = scripted(() => ++n === 1 ? problem("unavailable", 503) : json(stream("s")));
  assert.equal((await s.client.data.stream("s")).owner, DID);
  assert.equal(s.requests.length, 2);
});

Deno.test("contracts: a contract read honours the per-call timeoutMs and the caller's signal", async () => {
  const hang = (req: Request) =>
    new Promise<Response>((_, reject) =>
      req.signal.addEventListener("abort", () => reject(req.signal.reason))
    );
  const s = scripted(hang);
  const timedOut = await s.client.asset.balance("kwh", DID, { timeoutMs: 20 }).catch((e) => e);
  assert.ok(timedOut instanceof NetworkError && timedOut.timedOut, String(timedOut));
  assert.equal(s.requests.length, fast.attemptsMax);
  const stop = new AbortController();
  setTimeout(() => stop.abort(new Error("stop")), 20);
  const it = s.client.data.anchors("s", { signal: stop.signal });
  const aborted = await it.next().catch((e) => e);
  assert.equal(aborted.message, "stop");
  assert.equal(s.requests.length, fast.attemptsMax + 1, "not retried after the abort");
});

Deno.test("contracts: a listing aborted by its signal yields no further item, not even the rest of the page it holds", async () => {
  const s = scripted((_req, url) =>
    twoPages("flags", [flag("r1"), flag("r2"), flag("r3")], [flag("r4")])(url)
  );
  const stop = new AbortController();
  const seen: string[] = [];
  const error = await (async () => {
    for await (const f of s.client.roaming.flags("p1", { signal: stop.signal })) {
      seen.push(f.record);
      stop.abort(new Error("stop"));
    }
  })().catch((e) => e);
  assert.equal(error?.message, "stop");
  assert.deepEqual(seen, ["r1"]);
  assert.equal(s.requests.length, 1);
});

Deno.test("contracts: a listing whose next cursor repeats an earlier page's ends in a ServerError instead of looping", async () => {
  const s = scripted((_req, url) =>
    json({
      flags: [flag(url.searchParams.get("after") ?? "first")],
      next: url.searchParams.get("after") === "c1" ? "c2" : "c1",
    })
  );
  const seen: string[] = [];
  const e = await (async () => {
    for await (const f of s.client.roaming.flags("p1")) seen.push(f.record);
  })().catch((e) => e);
  assert.ok(e instanceof ServerError, String(e));
  assert.match(e.message, /repeats an earlier page/);
  assert.deepEqual(seen, ["first", "c1", "c2"]);
  assert.equal(s.requests.length, 3);
});

Deno.test("contracts: a path parameter no URL can carry ('', '.', '..', a lone surrogate) is a RangeError before any request", async () => {
  const s = scripted(() => json(stream("s")));
  for (const bad of ["", ".", "..", "a\uD800"]) {
    await assert.rejects(() => s.client.data.stream(bad), RangeError, JSON.stringify(bad));
  }
  assert.equal(s.requests.length, 0);
  // Dots inside a segment, and a segment that merely looks encoded, travel as they are.
  assert.equal(fillPath("/v1/streams/{stream}", { stream: "../x" }), "/v1/streams/..%2Fx");
  assert.equal(fillPath("/v1/streams/{stream}", { stream: "%2e%2e" }), "/v1/streams/%252e%252e");
  assert.equal(fillPath("/v1/streams/{stream}", { stream: "...", x: 1 }), "/v1/streams/...");
  assert.throws(() => fillPath("/v1/streams/{stream}", {}), TypeError);
});

Deno.test("contracts: every contract read route of sdk/api/contract_routes has a client method", async () => {
  const routes = [
    ...Object.values(GOV_ROUTES),
    ...Object.values(IDENTITY_ROUTES),
    ...Object.values(ASSET_ROUTES),
    ...Object.values(CUSTODY_ROUTES),
    ...Object.values(ACCESS_ROUTES),
    ...Object.values(DATA_ROUTES),
    ...Object.values(ROAMING_ROUTES),
  ];
  const pattern = (path: string) =>
    new RegExp(`^${path.replace(/[.]/g, "\\.").replace(/\{[A-Za-z0-9_]+\}/g, "[^/]+")}$`);
  const hit = new Set<string>();
  const s = scripted((req, url) => {
    const route = routes.find((r) =>
      r.method.toUpperCase() === req.method && pattern(r.path).test(url.pathname)
    );
    if (route) hit.add(route.operationId!);
    // The answers do not matter here: every call fails on a 404.
    return problem("not_found", 404);
  });
  const c = s.client;
  const calls: Array<() => Promise<unknown>> = [
    () => c.gov.consortium(),
    () => c.identity.device(DID),
    () => c.identity.didDocument(DID),
    () => c.identity.devicesPage(),
    () => c.asset.get("kwh"),
    () => c.asset.balance("kwh", DID),
    () => c.asset.balancesPage("kwh"),
    () => c.custody.item("i"),
    () => c.custody.historyPage("i"),
    () => c.access.streamGrantsPage("s"),
    () => c.access.readerGrantsPage(DID),
    () => c.access.check("s", DID, 1),
    () => c.data.stream("s"),
    () => c.data.anchorsPage("s"),
    () => c.data.gaps("s"),
    () =>
      c.data.verifyReading("s", {
        seq: 0,
        reading: { bytes: "AA" },
        proof: { index: 0, count: 1, path: [] },
      }),
    () => c.roaming.period("p"),
    () => c.roaming.recordsPage("p"),
    () => c.roaming.record("p", "r"),
    () => c.roaming.flagsPage("p"),
    () => c.roaming.statement("p"),
  ];
  for (const call of calls) await assert.rejects(call, NotFoundError);
  assert.deepEqual([...hit].sort(), routes.map((r) => r.operationId!).sort());
  assert.equal(routes.length, 21);
});
