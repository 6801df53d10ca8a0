/**
 * The lying-server test (issue 4): a proxy between the SDK's light client
 * and a real running site tampers with proofs, roots, checkpoints,
 * signatures, tree sizes and receipts. Every lie must be rejected with its
 * precise reason, and a rejected checkpoint must never become trusted.
 *
 * Trust setup: the consortium's keys are the real site's key plus two
 * witness keys held by the test; quorum 2. The honest proxy co-signs each
 * checkpoint with witness 1 (as a transparency-log witness would), so honest
 * checkpoints carry 2 valid trusted signatures. Witness 2 plays a key that
 * an attacker holds, to forge checkpoints "signed by too few sites".
 */

import assert from "node:assert/strict";
import { EdgeLedgerClient } from "../sdk/client/mod.ts";
import { LightClient, MemoryTrustStore, type TrustedCheckpoint } from "../sdk/light/mod.ts";
import { createEnvelope, type Envelope, signEnvelope, transactionId } from "../sdk/envelope.ts";
import { generateKeyPair, softwareSigner } from "../sdk/keys.ts";
import { assembleNote, parseNote, signNoteLine, verifierKey } from "../sdk/note.ts";
import { formatCheckpoint, parseCheckpoint } from "../sdk/checkpoint.ts";
import { base64urlDecode, base64urlEncode, utf8Decode, utf8Encode } from "../sdk/encoding.ts";
import { canonicalJson } from "../sdk/canonical_json.ts";
import { startLocalSite } from "./sdk_site_helpers.ts";

type Json = Record<string, unknown>;

interface Lie {
  /** Rewrites the URL sent upstream. */
  rewrite?: (url: URL) => void;
  checkpoint?: (note: string) => string;
  proof?: (proof: Json) => Json | Promise<Json>;
  tx?: (view: Json) => Json;
  consistency?: (body: Json) => Json;
  blocks?: (page: { blocks: Json[]; next: number | null }) => Json;
}

const witness1 = generateKeyPair("ed25519");
const witness2 = generateKeyPair("ed25519");
const W1 = verifierKey("witness-1", witness1.publicKey);
const W2 = verifierKey("witness-2", witness2.publicKey);

/** The site's signature lines of a note. */
function signatureLines(note: string): string[] {
  const { text } = parseNote(note);
  return note.slice(text.length + 1).split("\n").filter((l) => l !== "");
}

function cosign(note: string, name: string, secretKey: Uint8Array): string {
  const { text } = parseNote(note);
  return assembleNote(text, [...signatureLines(note), signNoteLine(text, name, secretKey)]);
}

/** A checkpoint body with fields replaced, signed only by the given witnesses. */
function forge(
  note: string,
  change: Partial<{ origin: string; size: number; rootHash: Uint8Array; height: number }>,
  signers: Array<[string, Uint8Array]>,
): string {
  const cp = parseCheckpoint(parseNote(note).text);
  const text = formatCheckpoint({ ...cp, ...change });
  return assembleNote(text, signers.map(([n, k]) => signNoteLine(text, n, k)));
}

function flipHexBit(hex: string): string {
  const first = parseInt(hex[0], 16) ^ 1;
  return first.toString(16) + hex.slice(1);
}

function flipBase64Char(s: string, at: number): string {
  const c = s[at];
  const swapped = c === "A" ? "B" : "A";
  return s.slice(0, at) + swapped + s.slice(at + 1);
}

/** Changes `result` inside a leaf and returns the re-encoded canonical leaf. */
function forgeLeafResult(leaf: string, result: Json): string {
  const parsed = JSON.parse(utf8Decode(base64urlDecode(leaf)));
  return base64urlEncode(utf8Encode(canonicalJson({ ...parsed, result })));
}

Deno.test({
  name:
    "light client: a lying site cannot make it accept any falsified proof, checkpoint or receipt",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const { site, cleanup } = await startLocalSite();
    let lie: Lie = {};
    const proxy = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const url = new URL(req.url);
        const upstream = new URL(url.pathname + url.search, site.url);
        lie.rewrite?.(upstream);
        const res = await fetch(upstream, {
          method: req.method,
          headers: req.headers,
          body: req.method === "GET" ? undefined : await req.arrayBuffer(),
        });
        let text = await res.text();
        if (res.ok) {
          if (url.pathname === "/v1/checkpoint") {
            text = cosign(text, "witness-1", witness1.secretKey);
            if (lie.checkpoint) text = lie.checkpoint(text);
          } else if (url.pathname.endsWith("/proof") && lie.proof) {
            text = JSON.stringify(await lie.proof(JSON.parse(text)));
          } else if (/^\/v1\/txs\/[0-9a-f]{64}$/.test(url.pathname) && lie.tx) {
            text = JSON.stringify(lie.tx(JSON.parse(text)));
          } else if (url.pathname === "/v1/consistency" && lie.consistency) {
            text = JSON.stringify(lie.consistency(JSON.parse(text)));
          } else if (url.pathname === "/v1/blocks" && lie.blocks) {
            text = JSON.stringify(lie.blocks(JSON.parse(text)));
          }
        }
        const headers = new Headers(res.headers);
        headers.delete("content-length");
        return new Response(text, { status: res.status, headers });
      },
    );
    const proxyUrl = `http://127.0.0.1:${proxy.addr.port}`;
    try {
      const direct = new EdgeLedgerClient({ urls: site.url });
      const viaProxy = new EdgeLedgerClient({ urls: proxyUrl, retry: { attemptsMax: 1 } });
      const [{ verifierKey: siteKey }] = await direct.sites();
      const trustedKeys = [siteKey, W1, W2];
      const status = await direct.status();
      const author = generateKeyPair("ed25519");
      let seq = 0;
      const anchor = async (): Promise<Envelope> =>
        await signEnvelope(
          createEnvelope({
            ledger: status.ledger,
            kind: "data.anchor",
            body: {
              stream: "lying-server",
              seq: seq++,
              root: "11".repeat(32),
              count: 1,
              from: 0,
              to: 1,
            },
            signers: [author.did],
          }),
          [softwareSigner(author)],
        );
      const commit = async (n: number): Promise<string[]> => {
        const envelopes = [];
        for (let i = 0; i < n; i++) envelopes.push(await anchor());
        const receipts = await direct.submit(envelopes, { wait: "commit" });
        for (const r of receipts) assert.equal(r.status, "committed", JSON.stringify(r));
        return envelopes.map(transactionId);
      };

      // Size 1, then 3 (trusted for every case), then 6 (latest).
      await commit(1);
      const note1 = cosign(await direct.checkpoint(), "witness-1", witness1.secretKey);
      assert.equal(parseCheckpoint(parseNote(note1).text).size, 1);
      const [txA] = await commit(2);
      const note3 = cosign(await direct.checkpoint(), "witness-1", witness1.secretKey);
      const cp3 = parseCheckpoint(parseNote(note3).text);
      assert.equal(cp3.size, 3);
      const [txB, txC] = await commit(3);
      const latest = parseCheckpoint(parseNote(await direct.checkpoint()).text);
      assert.equal(latest.size, 6);

      const trusted3: TrustedCheckpoint = {
        origin: cp3.origin,
        size: cp3.size,
        rootHash: Array.from(cp3.rootHash, (b) => b.toString(16).padStart(2, "0")).join(""),
        height: cp3.height,
        blockHash: cp3.blockHash,
        note: note3,
      };

      const check = async (
        name: string,
        the: Lie,
        expected: string,
        txId = txA,
      ) => {
        await t.step(name, async () => {
          lie = the;
          const store = new MemoryTrustStore(trusted3);
          const light = new LightClient({
            source: viaProxy,
            trustedKeys,
            quorum: 2,
            origin: status.origin,
            store,
            // A lie stays a lie: no waiting for a checkpoint that might mend it.
            checkpointWaitMs: 0,
          });
          const verdict = await light.verify(txId);
          lie = {};
          assert.equal(verdict.reason, expected, verdict.message);
          assert.equal(verdict.ok, expected === "ok");
          const after = await store.load();
          if (expected === "ok") {
            assert.equal(after?.size, 6);
            assert.equal(verdict.blockVerified, true, "the block was proven too");
          } else if (
            !["tx_not_committed", "receipt_mismatch", "receipt_malformed"].includes(expected)
          ) {
            // Whatever failed, no lie about the log advanced the trusted checkpoint
            // past what an honest consistency proof established.
            assert.ok(after?.size === 3 || after?.size === 6, `trusted size ${after?.size}`);
            if (expected.startsWith("checkpoint") || expected.startsWith("consistency")) {
              assert.deepEqual(after, trusted3, "a rejected checkpoint must not become trusted");
            }
          }
        });
      };

      await check(
        "accepts the honest answers (sanity), extending trust from size 3 to 6",
        {},
        "ok",
      );
      await check("accepts a transaction committed after the trusted checkpoint", {}, "ok", txC);

      // Proofs.
      await check("rejects an inclusion proof with one flipped bit", {
        proof: (p) => ({
          ...p,
          proof: (p.proof as string[]).map((h, i) => i === 0 ? flipHexBit(h) : h),
        }),
      }, "inclusion_proof_invalid");
      await check("rejects an inclusion proof with a node dropped", {
        proof: (p) => ({ ...p, proof: (p.proof as string[]).slice(0, -1) }),
      }, "inclusion_proof_invalid");
      await check("rejects an inclusion proof with a trailing extra node", {
        proof: (p) => ({ ...p, proof: [...(p.proof as string[]), "00".repeat(32)] }),
      }, "inclusion_proof_invalid");
      await check("rejects an empty inclusion proof", {
        proof: (p) => ({ ...p, proof: [] }),
      }, "inclusion_proof_invalid");
      await check("rejects an inclusion proof with its nodes reordered", {
        proof: (p) => ({ ...p, proof: [...(p.proof as string[])].reverse() }),
      }, "inclusion_proof_invalid");
      await check("rejects a proof moved to another log index (receipt moved too)", {
        proof: (p) => ({ ...p, logIndex: (p.logIndex as number) + 1 }),
        tx: (v) => ({
          ...v,
          receipt: {
            ...(v.receipt as Json),
            logIndex: ((v.receipt as Json).logIndex as number) + 1,
          },
        }),
      }, "inclusion_proof_invalid");
      await check("rejects a proof for an older tree than the checkpoint", {
        rewrite: (u) => {
          if (u.pathname.endsWith("/proof")) u.searchParams.set("treeSize", "3");
        },
      }, "proof_tree_size_mismatch");
      await check("rejects a proof that claims the checkpoint's size but is for an older tree", {
        rewrite: (u) => {
          if (u.pathname.endsWith("/proof")) u.searchParams.set("treeSize", "3");
        },
        proof: (p) => ({ ...p, treeSize: 6 }),
      }, "inclusion_proof_invalid");
      await check("rejects a proof node that is not a hash (schema)", {
        proof: (p) => ({ ...p, proof: ["zz".repeat(32)] }),
      }, "response_malformed");

      // Leaves and receipts.
      await check("rejects another transaction's leaf under this transaction's proof", {
        proof: async (p) => ({ ...p, leaf: (await direct.proof(txB, { treeSize: 6 })).leaf }),
      }, "leaf_tx_mismatch");
      await check("rejects a leaf whose result was forged (receipt forged alike)", {
        proof: (p) => ({
          ...p,
          leaf: forgeLeafResult(p.leaf as string, { status: "rejected", code: "x" }),
        }),
        tx: (v) => ({
          ...v,
          receipt: { ...(v.receipt as Json), result: { status: "rejected", code: "x" } },
        }),
      }, "inclusion_proof_invalid");
      await check("rejects a receipt whose result differs from the proven leaf", {
        tx: (v) => ({
          ...v,
          receipt: { ...(v.receipt as Json), result: { status: "rejected", code: "x" } },
        }),
      }, "receipt_mismatch");
      await check("rejects a leaf that is not canonical JSON", {
        proof: (p) => {
          const parsed = JSON.parse(utf8Decode(base64urlDecode(p.leaf as string)));
          return { ...p, leaf: base64urlEncode(utf8Encode(JSON.stringify(parsed, null, 1))) };
        },
      }, "leaf_malformed");
      await check("rejects a receipt that names another log index than the proof", {
        tx: (v) => ({ ...v, receipt: { ...(v.receipt as Json), logIndex: 0 } }),
      }, "receipt_mismatch");
      await check("rejects a receipt whose block is after the checkpoint", {
        tx: (v) => ({ ...v, receipt: { ...(v.receipt as Json), height: 999 } }),
      }, "receipt_mismatch");
      await check("rejects a served envelope that differs from the proven one", {
        tx: (v) => ({
          ...v,
          tx: { ...(v.tx as Json), expiresAt: ((v.tx as Json).expiresAt as number) + 1 },
        }),
      }, "receipt_mismatch");
      await check("rejects a transaction the site calls pending", {
        tx: (v) => ({ ...v, receipt: { txId: (v.receipt as Json).txId, status: "pending" } }),
      }, "tx_not_committed");
      await check("rejects another transaction's receipt", {
        rewrite: (u) => {
          if (u.pathname === `/v1/txs/${txA}`) u.pathname = `/v1/txs/${txB}`;
        },
      }, "receipt_malformed");

      // Blocks: the receipt's height is proven by the hash chain to the checkpoint.
      await check("rejects a receipt that names an earlier block", {
        tx: (v) => ({
          ...v,
          receipt: { ...(v.receipt as Json), height: ((v.receipt as Json).height as number) - 1 },
        }),
      }, "block_mismatch");
      await check("rejects a block whose header was altered", {
        blocks: (page) => ({
          ...page,
          blocks: page.blocks.map((b, i) =>
            i === 0
              ? {
                ...b,
                header: { ...(b.header as Json), time: ((b.header as Json).time as number) + 1 },
              }
              : b
          ),
        }),
      }, "block_mismatch");
      await check("rejects a block chain with a block dropped", {
        blocks: (page) => ({ ...page, blocks: page.blocks.filter((_, i) => i !== 1) }),
      }, "block_mismatch");
      await check("rejects a block that lists other transactions", {
        blocks: (page) => ({
          ...page,
          blocks: page.blocks.map((b, i) =>
            i === 0 ? { ...b, txIds: [...(b.txIds as string[])].reverse() } : b
          ),
        }),
      }, "block_mismatch");

      // Checkpoints and signatures.
      await check("rejects a checkpoint whose root has one flipped bit", {
        checkpoint: (n) => {
          const { text } = parseNote(n);
          const lines = text.split("\n");
          lines[2] = flipBase64Char(lines[2], 0);
          return lines.join("\n") + n.slice(text.length);
        },
      }, "checkpoint_quorum_not_met");
      await check("rejects a checkpoint whose tree size was changed", {
        checkpoint: (n) => n.replace(/^(.*\n)6\n/, "$15\n"),
      }, "checkpoint_quorum_not_met");
      await check("rejects a checkpoint whose site signature has one flipped bit", {
        checkpoint: (n) => {
          const lines = n.split("\n");
          const i = lines.findIndex((l) => l.startsWith("— site-a "));
          lines[i] = flipBase64Char(lines[i], lines[i].length - 6);
          return lines.join("\n");
        },
      }, "checkpoint_quorum_not_met");
      await check("rejects a checkpoint with the witness signature stripped (1 of quorum 2)", {
        checkpoint: (n) => {
          const { text } = parseNote(n);
          return assembleNote(text, signatureLines(n).filter((l) => !l.startsWith("— witness-1 ")));
        },
      }, "checkpoint_quorum_not_met");
      await check("rejects a checkpoint whose one signature is duplicated to look like two", {
        checkpoint: (n) => {
          const { text } = parseNote(n);
          const siteLine = signatureLines(n).find((l) => l.startsWith("— site-a "))!;
          return assembleNote(text, [siteLine, siteLine]);
        },
      }, "checkpoint_quorum_not_met");
      await check("rejects a forked checkpoint signed by too few trusted sites", {
        checkpoint: (n) =>
          forge(n, { rootHash: new Uint8Array(32).fill(7) }, [["witness-2", witness2.secretKey]]),
      }, "checkpoint_quorum_not_met");
      await check("rejects a forked checkpoint signed by an untrusted key", {
        checkpoint: (n) => {
          const attacker = generateKeyPair("ed25519");
          return forge(n, { rootHash: new Uint8Array(32).fill(7) }, [
            ["witness-2", witness2.secretKey],
            ["site-a", attacker.secretKey],
          ]);
        },
      }, "checkpoint_quorum_not_met");
      await check(
        "rejects a forked checkpoint that a colluding quorum signed (consistency fails)",
        {
          checkpoint: (n) =>
            forge(n, { rootHash: new Uint8Array(32).fill(7) }, [
              ["witness-1", witness1.secretKey],
              ["witness-2", witness2.secretKey],
            ]),
        },
        "consistency_proof_invalid",
      );
      await check("rejects a checkpoint that forks the trusted tree at its own size", {
        checkpoint: () =>
          forge(note3, { rootHash: new Uint8Array(32).fill(9) }, [
            ["witness-1", witness1.secretKey],
            ["witness-2", witness2.secretKey],
          ]),
      }, "checkpoint_fork");
      await check("rejects a quorum-signed checkpoint whose log grew while its height did not", {
        checkpoint: (n) =>
          forge(n, { height: cp3.height }, [
            ["witness-1", witness1.secretKey],
            ["witness-2", witness2.secretKey],
          ]),
      }, "checkpoint_fork");
      await check("rejects an older (validly signed) checkpoint than the trusted one", {
        checkpoint: () => note1,
      }, "checkpoint_rollback");
      await check("rejects a checkpoint of another log", {
        checkpoint: (n) =>
          forge(n, { origin: "edgeledger.local/other" }, [
            ["witness-1", witness1.secretKey],
            ["witness-2", witness2.secretKey],
          ]),
      }, "checkpoint_origin_mismatch");
      await check("rejects a checkpoint that is not a signed note", {
        checkpoint: () => "edgeledger.local/demo\n6\nAAAA\n",
      }, "checkpoint_malformed");

      // Consistency proofs.
      await check("rejects a consistency proof with one flipped bit", {
        consistency: (c) => ({
          proof: (c.proof as string[]).map((h, i) => i === 0 ? flipHexBit(h) : h),
        }),
      }, "consistency_proof_invalid");
      await check("rejects a consistency proof with a node dropped", {
        consistency: (c) => ({ proof: (c.proof as string[]).slice(1) }),
      }, "consistency_proof_invalid");
      await check("rejects an empty consistency proof", {
        consistency: () => ({ proof: [] }),
      }, "consistency_proof_invalid");
      await check("rejects a consistency proof for other sizes", {
        rewrite: (u) => {
          if (u.pathname === "/v1/consistency") u.searchParams.set("from", "1");
        },
      }, "consistency_proof_invalid");

      await t.step("the verdict of an honest receipt reads as a sentence", async () => {
        const light = new LightClient({ source: viaProxy, trustedKeys, quorum: 2 });
        const verdict = await light.verify(txA);
        assert.equal(verdict.ok, true, verdict.message);
        assert.match(
          verdict.message,
          new RegExp(`^Transaction ${txA} is in ledger edgeledger.local/demo at log index 1`),
        );
        assert.match(
          verdict.message,
          /signed by 2 trusted site\(s\) \(site-a, witness-1; quorum 2\)/,
        );
      });

      await t.step(
        "a block beyond chainBlocksMax is reported as unproven, not as proven",
        async () => {
          const light = new LightClient({
            source: viaProxy,
            trustedKeys,
            quorum: 2,
            chainBlocksMax: 1,
          });
          const verdict = await light.verify(txA);
          assert.equal(verdict.ok, true, verdict.message);
          assert.equal(verdict.blockVerified, false);
          assert.match(verdict.message, /block height is as the site reported it \(not proven/);
        },
      );

      await t.step(
        "a bundle kept from an older checkpoint still verifies once trust moved on",
        async () => {
          const store = new MemoryTrustStore(trusted3);
          const light = new LightClient({ source: viaProxy, trustedKeys, quorum: 2, store });
          const bundle = await light.fetchBundle(txA);
          assert.ok(!("reason" in bundle));
          // Trust advances past the bundle's checkpoint...
          await commit(1);
          assert.equal((await light.updateCheckpoint()).ok, true);
          assert.equal((await store.load())?.size, 7);
          // ...and the bundle (size 6) is proven a prefix of it.
          const verdict = await light.verifyBundle(bundle);
          assert.equal(verdict.ok, true, verdict.message);
          assert.match(verdict.message, /prefix of the trusted checkpoint of size 7/);
        },
      );
    } finally {
      await proxy.shutdown();
      await cleanup();
    }
  },
});
