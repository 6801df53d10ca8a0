/**
 * The client's `ledger` option against two real sites of two different
 * ledgers on loopback: a client given both URLs (or pointed at the wrong
 * one) must never read from or write to the other ledger — through its own
 * calls, `waitForCommit`, the offline queue or the light client.
 */

import assert from "node:assert/strict";
import {
  EdgeLedgerClient,
  LedgerMismatchError,
  NetworkError,
  RejectedError,
} from "../sdk/client/mod.ts";
import { OfflineQueue } from "../sdk/queue/mod.ts";
import { verifyTransaction } from "../sdk/light/mod.ts";
import { transactionId } from "../sdk/envelope.ts";
import { generateKeyPair } from "../sdk/keys.ts";
import { anchorTx, openTestSite, testGenesis } from "./_helpers.ts";

const RESOURCES = { sanitizeResources: false, sanitizeOps: false };

/** A one-site ledger `ledger`, its HTTP API served on 127.0.0.1 (a free port). */
async function servedSite(ledger: string) {
  const key = generateKeyPair("ed25519");
  const t = await openTestSite({ key, genesis: testGenesis(key, ledger) });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, t.app.fetch);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    origin: t.options.genesis.origin,
    close: async () => {
      await server.shutdown();
      await t.cleanup();
    },
  };
}

/** Sites of ledgers `ledger-a` and `ledger-b`, each with one committed anchor of its own. */
async function twoLedgers() {
  const a = await servedSite("ledger-a");
  const b = await servedSite("ledger-b");
  const signer = generateKeyPair("ed25519");
  const txA = await anchorTx(signer, { ledger: "ledger-a" });
  const txB = await anchorTx(signer, { ledger: "ledger-b" });
  await new EdgeLedgerClient({ urls: a.url }).submit(txA, { wait: "commit" });
  await new EdgeLedgerClient({ urls: b.url }).submit(txB, { wait: "commit" });
  return {
    a,
    b,
    signer,
    txA,
    txB,
    close: async () => {
      await a.close();
      await b.close();
    },
  };
}

Deno.test({
  name:
    "client: ledger option: reads and writes go to a site of the client's ledger, never to the site of another listed first (two real sites)",
  ...RESOURCES,
  fn: async () => {
    const t = await twoLedgers();
    try {
      const client = new EdgeLedgerClient({ urls: [t.b.url, t.a.url], ledger: "ledger-a" });
      assert.equal((await client.status()).ledger, "ledger-a");
      assert.equal((await client.block(0)).header.ledger, "ledger-a");
      const view = await client.getTx(transactionId(t.txA));
      assert.deepEqual(view.tx, t.txA);
      // ledger-b's transaction does not exist for this client.
      const other = await client.getTx(transactionId(t.txB)).catch((e) => e);
      assert.ok(other instanceof RejectedError && other.slug === "not_found", String(other));
      const next = await anchorTx(t.signer, { ledger: "ledger-a" });
      assert.equal((await client.submit(next, { wait: "commit" })).status, "committed");
      assert.equal(client.currentUrl, t.a.url);

      // Pointed only at the wrong ledger: refused, typed, not retryable.
      const wrong = new EdgeLedgerClient({ urls: t.b.url, ledger: "ledger-a" });
      const e = await wrong.submit(await anchorTx(t.signer, { ledger: "ledger-a" })).catch((e) =>
        e
      );
      assert.ok(e instanceof LedgerMismatchError, String(e));
      assert.equal(e.slug, "ledger_mismatch");
      assert.equal(e.actual, "ledger-b");
      assert.equal(e.retryable, false);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name:
    "client: without the ledger option, a client of two sites of different ledgers keeps to the ledger of the first that answered, also when that site is down (two real sites)",
  ...RESOURCES,
  fn: async () => {
    const t = await twoLedgers();
    try {
      const client = new EdgeLedgerClient({
        urls: [t.a.url, t.b.url],
        retry: { attemptsMax: 2, delayMsBase: 1, delayMsMax: 2 },
      });
      await client.status();
      assert.equal(client.ledger, "ledger-a");
      // ledger-a's site goes away: the client does not fall back on
      // ledger-b's (which would answer ledger-b's transaction); it keeps
      // trying its own, a failure to retry later.
      await t.a.close();
      const e = await client.getTx(transactionId(t.txB)).catch((e) => e);
      assert.ok(e instanceof NetworkError, String(e));
      assert.equal(e.site, t.a.url);
      assert.equal(e.retryable, true);
    } finally {
      await t.b.close();
    }
  },
});

Deno.test({
  name:
    "client: ledger option: waitForCommit() finds the transaction at the site of the client's ledger, past a site of another listed first (two real sites)",
  ...RESOURCES,
  fn: async () => {
    const t = await twoLedgers();
    try {
      const client = new EdgeLedgerClient({ urls: [t.b.url, t.a.url], ledger: "ledger-a" });
      const receipt = await client.waitForCommit(transactionId(t.txA), { timeoutMs: 5000 });
      assert.equal(receipt.status, "committed");
      assert.equal(receipt.txId, transactionId(t.txA));
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name:
    "queue: behind a client pinned to its ledger, entries whose only site serves another ledger stay queued, none dropped as wrong_ledger (two real sites)",
  ...RESOURCES,
  fn: async () => {
    const t = await twoLedgers();
    try {
      const envelope = await anchorTx(t.signer, { ledger: "ledger-a" });
      // Unpinned, the site of ledger-b refuses the entry for good: it is lost.
      const loose = new OfflineQueue({
        submitter: new EdgeLedgerClient({ urls: t.b.url }),
        commitWaitMs: 2000,
      });
      await loose.enqueue(envelope);
      const lost = await loose.drain();
      assert.deepEqual(lost.rejected.map((r) => r.slug), ["wrong_ledger"]);

      const queue = new OfflineQueue({
        submitter: new EdgeLedgerClient({ urls: t.b.url, ledger: "ledger-a" }),
        commitWaitMs: 2000,
      });
      await queue.enqueue(envelope);
      const report = await queue.drain();
      assert.equal(report.rejected.length, 0);
      assert.equal(report.remaining, 1);
      assert.ok(report.error instanceof LedgerMismatchError, String(report.error));
      assert.deepEqual((await queue.list()).map((e) => e.txId), [transactionId(envelope)]);
    } finally {
      await t.close();
    }
  },
});

Deno.test({
  name:
    "light client: verifyTransaction() with the client's ledger option takes checkpoints and proofs from the site of that ledger, past a site of another listed first (two real sites)",
  ...RESOURCES,
  fn: async () => {
    const t = await twoLedgers();
    try {
      const keys = (await new EdgeLedgerClient({ urls: t.a.url }).sites()).map((s) =>
        s.verifierKey
      );
      const options = { trustedKeys: keys, quorum: 1, origin: t.a.origin };
      const txId = transactionId(t.txA);
      const loose = await verifyTransaction(txId, { ...options, urls: [t.b.url, t.a.url] });
      assert.notEqual(loose.reason, "ok", "ledger-b's site answers first");
      const pinned = await verifyTransaction(txId, {
        ...options,
        urls: [t.b.url, t.a.url],
        client: { ledger: "ledger-a" },
      });
      assert.equal(pinned.reason, "ok", pinned.message);
    } finally {
      await t.close();
    }
  },
});
