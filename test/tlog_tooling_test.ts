/**
 * DESIGN §2 says our checkpoints make "the log verifiable with ordinary
 * transparency-log tooling". This holds that claim against the reference
 * implementation: Go's `golang.org/x/mod/sumdb/note` (C2SP signed notes) and
 * `golang.org/x/mod/sumdb/tlog` (RFC 6962/9162 hashing and proofs), through
 * the small program in `test/tlogtool/main.go`, which uses those packages and
 * nothing of ours.
 *
 * A live 3-site cluster on loopback writes transactions in several blocks;
 * the test fetches two co-signed checkpoints, the consistency proof between
 * them and inclusion proofs in both, and Go verifies them all. Then it
 * tampers with each (a root, a proof hash, a leaf, the signature lines) and
 * Go must refuse every one, so the test can fail.
 *
 * Skips, saying why, when `go` or the x/mod sources are absent (CI installs
 * them: `apt-get install -y --no-install-recommends golang-go
 * golang-golang-x-mod-dev`). The program is built offline in GOPATH mode into
 * a temporary folder (its build cache too) and never downloads a module.
 *
 * @module
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../sdk/keys.ts";
import { signNoteLine } from "../sdk/note.ts";
import { anchorTx } from "./_helpers.ts";
import { startCluster, submitCommit, type TestCluster, waitFor } from "./_cluster.ts";

/** Where Debian's golang-golang-x-mod-dev puts its sources (a GOPATH). */
const GOPATH = "/usr/share/gocode";
const INSTALL = "apt-get install -y --no-install-recommends golang-go golang-golang-x-mod-dev";
const TOOL_SOURCE = new URL("./tlogtool/main.go", import.meta.url).pathname;
const RESOURCES = { sanitizeResources: false, sanitizeOps: false };

function which(cmd: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${cmd}`).isFile) return `${dir}/${cmd}`;
    } catch { /* not here */ }
  }
  return undefined;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const goPath = which("go");
const xmodPresent = ["note/note.go", "tlog/tlog.go"].every((f) =>
  exists(`${GOPATH}/src/golang.org/x/mod/sumdb/${f}`)
);
const skipWhy = !goPath
  ? "no `go` on PATH"
  : !xmodPresent
  ? `no golang.org/x/mod sources under ${GOPATH}`
  : undefined;
if (skipWhy) {
  console.warn(
    `tlog_tooling_test: Go sumdb/note and sumdb/tlog checks skipped: ${skipWhy} (${INSTALL})`,
  );
}

/**
 * Builds `test/tlogtool` into a new temporary folder, offline: GOPATH mode
 * over the Debian sources, no proxy, the build cache in that folder. The
 * folder and the binary's path.
 */
async function buildTool(): Promise<{ dir: string; bin: string }> {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-tlogtool-" });
  const bin = `${dir}/tlogtool`;
  const out = await new Deno.Command(goPath!, {
    args: ["build", "-o", bin, TOOL_SOURCE],
    cwd: dir,
    env: {
      GO111MODULE: "off",
      GOPATH,
      GOPROXY: "off",
      GOFLAGS: "",
      GOENV: "off",
      GOTOOLCHAIN: "local",
      GOCACHE: `${dir}/cache`,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `go build ${TOOL_SOURCE} failed:\n${text}`);
  return { dir, bin };
}

/** An inclusion proof as `GET /v1/txs/{txId}/proof` answers it (the tool's input shape). */
interface Inclusion {
  leaf: string;
  logIndex: number;
  treeSize: number;
  proof: string[];
}

/** What `test/tlogtool` reads on stdin. */
interface ToolInput {
  verifierKeys: string[];
  quorum: number;
  origin?: string;
  old: string;
  new: string;
  consistency: string[];
  inclusions: Inclusion[];
}

/** What `test/tlogtool` prints. */
interface Verdict {
  ok: boolean;
  old?: ToolCheckpoint;
  new?: ToolCheckpoint;
  consistency?: string;
  inclusions: Array<{ logIndex: number; treeSize: number; leafHash?: string; error?: string }>;
  errors: string[];
}

interface ToolCheckpoint {
  origin: string;
  size: number;
  root: string;
  extensions: string[];
  signers: string[];
  unverified: string[];
}

/** Runs the built tool on `input`: its exit code and verdict. */
async function runTool(bin: string, input: ToolInput): Promise<{ code: number; verdict: Verdict }> {
  const child = new Deno.Command(bin, { stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(input)));
  await writer.close();
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.notEqual(out.code, 2, `tlogtool could not read its input: ${stderr}`);
  return { code: out.code, verdict: JSON.parse(stdout) as Verdict };
}

/** Asserts that Go refused `input`, for a reason matching `reason`. */
async function assertRefused(bin: string, input: ToolInput, reason: RegExp): Promise<void> {
  const { code, verdict } = await runTool(bin, input);
  assert.equal(code, 1, `Go accepted what it should refuse: ${JSON.stringify(verdict)}`);
  assert.equal(verdict.ok, false);
  assert.ok(
    verdict.errors.some((e) => reason.test(e)),
    `Go refused, but not for ${reason}: ${JSON.stringify(verdict.errors)}`,
  );
}

/** A signed note's text and its signature lines (each with its newline). */
function splitNote(note: string): { text: string; lines: string[] } {
  const split = note.lastIndexOf("\n\n");
  assert.ok(split > 0, `not a signed note: ${note}`);
  return {
    text: note.slice(0, split + 1),
    lines: note.slice(split + 2).split(/(?<=\n)/).filter((l) => l !== ""),
  };
}

/** The checkpoint text with its line `i` (0: origin, 1: size, 2: root) replaced by `f(line)`. */
function editLine(text: string, i: number, f: (line: string) => string): string {
  const lines = text.split("\n");
  lines[i] = f(lines[i]);
  return lines.join("\n");
}

/** `s` with its character at `at` changed to another of the same alphabet. */
function flipChar(s: string, at: number, alphabet: string): string {
  const next = alphabet[(alphabet.indexOf(s[at]) + 1) % alphabet.length];
  return s.slice(0, at) + next + s.slice(at + 1);
}

const HEX = "0123456789abcdef";
/** Base64 letters whose change keeps a 32-byte root's length and padding. */
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** A committed transaction's receipt, as `POST /v1/txs?wait=commit` answers it. */
interface Committed {
  txId: string;
  height: number;
  logIndex: number;
  result: { status: "applied" | "rejected" };
}

/** Commits the `envelopes` in one POST through `url` (one block, when the leader is idle). */
async function commitBlock(url: string, envelopes: unknown[]): Promise<Committed[]> {
  const r = await submitCommit(url, { txs: envelopes }, 10_000);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  for (const receipt of r.body.receipts) {
    assert.equal(receipt.status, "committed", JSON.stringify(receipt));
  }
  return r.body.receipts;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const body = await res.json();
  assert.equal(res.status, 200, `${url}: ${JSON.stringify(body)}`);
  return body as T;
}

/**
 * The checkpoint `url` serves once it covers block `height` and carries at
 * least `quorum` signature lines.
 */
async function checkpointAt(url: string, height: number, quorum: number): Promise<string> {
  return await waitFor(`a checkpoint of height ${height} signed by ${quorum}`, async () => {
    const res = await fetch(`${url}/v1/checkpoint`);
    const note = await res.text();
    if (res.status !== 200) return undefined;
    const at = Number(/^height (\d+)$/m.exec(note)?.[1]);
    const signed = splitNote(note).lines.length;
    return at >= height && signed >= quorum ? note : undefined;
  }, 15_000);
}

/** The tree size line of a signed checkpoint. */
function sizeOf(note: string): number {
  return Number(splitNote(note).text.split("\n")[1]);
}

/** Leaves per block: the checkpoints' tree sizes then run 1, 2, 4, 8, 11, 16 (powers of two and not). */
const BLOCK_TXS = [1, 1, 2, 4, 3, 5];

Deno.test({
  name:
    "tlog tooling: Go's sumdb/note opens our co-signed checkpoints with the sites' verifier keys, and sumdb/tlog accepts our inclusion and consistency proofs; each refuses a tampered root, proof hash, leaf or signature set (3 sites)",
  ignore: skipWhy !== undefined,
  ...RESOURCES,
  async fn(t) {
    const [built, started] = await Promise.allSettled([buildTool(), startCluster(3)]);
    const tool = built.status === "fulfilled" ? built.value : undefined;
    const cluster = started.status === "fulfilled" ? started.value : undefined;
    try {
      if (built.status === "rejected") throw built.reason;
      if (started.status === "rejected") throw started.reason;
      await check(t, tool!.bin, cluster!);
    } finally {
      await cluster?.stop();
      if (tool) await Deno.remove(tool.dir, { recursive: true }).catch(() => {});
    }
  },
});

async function check(t: Deno.TestContext, bin: string, cluster: TestCluster): Promise<void> {
  const url = cluster.sites[0].url;
  const { sites } = await getJson<{ sites: Array<{ name: string; verifierKey: string }> }>(
    `${url}/v1/sites`,
  );
  assert.equal(sites.length, 3);
  const verifierKeys = sites.map((s) => s.verifierKey);
  // A checkpoint counts once a majority of the sites signed it (DESIGN §2: "a quorum").
  const quorum = Math.floor(sites.length / 2) + 1;
  const { origin, ledger } = await getJson<{ origin: string; ledger: string }>(`${url}/v1/status`);

  // One block per entry of BLOCK_TXS, and the checkpoint of each. Leaves of
  // both outcomes: the block of 4 repeats a stream's seq, which apply
  // rejects; one stream's name is not ASCII.
  const key = generateKeyPair("ed25519");
  const committed: Committed[] = [];
  const notes: string[] = [];
  for (const n of BLOCK_TXS) {
    const envelopes = await Promise.all(Array.from({ length: n }, () => anchorTx(key, { ledger })));
    if (n === 4) {
      envelopes[3] = await anchorTx(key, { ledger, stream: "capteur-température-☃", seq: 0 });
      envelopes[2] = await anchorTx(key, { ledger, stream: "capteur-température-☃", seq: 0 });
    }
    const receipts = await commitBlock(url, envelopes);
    committed.push(...receipts);
    notes.push(await checkpointAt(url, Math.max(...receipts.map((r) => r.height)), quorum));
  }
  assert.ok(committed.some((r) => r.result.status === "rejected"), "no rejected leaf");
  const sizes = notes.map(sizeOf);
  assert.deepEqual(sizes, [...new Set(sizes)].sort((a, b) => a - b), `sizes ${sizes}`);
  assert.equal(sizes.at(-1), Math.max(...committed.map((r) => r.logIndex)) + 1);

  const consistencyOf = async (from: number, to: number) =>
    (await getJson<{ proof: string[] }>(`${url}/v1/consistency?from=${from}&to=${to}`)).proof;
  const inclusionsIn = (size: number) =>
    Promise.all(
      committed.filter((r) => r.logIndex < size).map((r) =>
        getJson<Inclusion>(`${url}/v1/txs/${r.txId}/proof?treeSize=${size}`)
      ),
    );
  const inclusions = new Map<number, Inclusion[]>();
  for (const size of sizes) inclusions.set(size, await inclusionsIn(size));
  /** The tool's input for checkpoints `i` and `j`: their consistency proof, every leaf in both. */
  const inputFor = async (i: number, j: number): Promise<ToolInput> => ({
    verifierKeys,
    quorum,
    origin,
    old: notes[i],
    new: notes[j],
    consistency: await consistencyOf(sizes[i], sizes[j]),
    inclusions: [...inclusions.get(sizes[i])!, ...inclusions.get(sizes[j])!],
  });
  const [first, last] = [0, notes.length - 1];
  const good = await inputFor(first, last);

  await t.step(
    "note.Open verifies every signature line of both checkpoints with the sites' verifierKey strings, tlog.CheckTree the consistency proof, tlog.CheckRecord every inclusion proof (leaf hash tlog.RecordHash of the leaf data)",
    async () => {
      const { code, verdict } = await runTool(bin, good);
      assert.deepEqual(verdict.errors, []);
      assert.equal(code, 0);
      assert.equal(verdict.ok, true);
      for (const [cp, i] of [[verdict.old!, first], [verdict.new!, last]] as const) {
        assert.equal(cp.origin, origin);
        assert.equal(cp.size, sizes[i]);
        // Every line the site served is from a member and verified; none unknown.
        assert.equal(cp.signers.length, splitNote(notes[i]).lines.length);
        assert.ok(cp.signers.length >= quorum);
        assert.deepEqual(cp.unverified, []);
        assert.match(cp.extensions[0], /^height \d+$/);
        assert.match(cp.extensions[1], /^block [0-9a-f]{64}$/);
      }
      assert.equal(verdict.inclusions.length, sizes[first] + sizes[last]);
    },
  );

  await t.step(
    "tlog.CheckTree accepts our consistency proof between every two checkpoints, equal sizes and power-of-two sizes included, and tlog.CheckRecord every leaf's inclusion in each",
    async () => {
      for (let i = 0; i < notes.length; i++) {
        for (let j = i; j < notes.length; j++) {
          const input = await inputFor(i, j);
          if (i === j) assert.deepEqual(input.consistency, [], "a proof between equal sizes");
          const { code, verdict } = await runTool(bin, input);
          assert.deepEqual(verdict.errors, [], `sizes ${sizes[i]} → ${sizes[j]}`);
          assert.equal(code, 0);
        }
      }
    },
  );

  await t.step(
    "note.Open refuses a checkpoint whose root hash was changed after the sites signed it",
    async () => {
      const { text, lines } = splitNote(good.new);
      const forged = editLine(text, 2, (root) => flipChar(root, 0, B64)) + "\n" + lines.join("");
      await assertRefused(
        bin,
        { ...good, new: forged },
        /new checkpoint: note\.Open: invalid signature for key site-/,
      );
    },
  );

  await t.step("tlog.CheckRecord refuses an inclusion proof with one hash flipped", async () => {
    const i = good.inclusions.findIndex((p) => p.proof.length > 0);
    const flipped = structuredClone(good.inclusions[i]);
    flipped.proof[0] = flipChar(flipped.proof[0], 63, HEX);
    await assertRefused(
      bin,
      { ...good, inclusions: [flipped] },
      /tlog\.CheckRecord: invalid transparency proof/,
    );
  });

  await t.step("tlog.CheckRecord refuses another transaction's leaf at an index", async () => {
    const swapped = { ...good.inclusions.at(-1)!, leaf: good.inclusions.at(-2)!.leaf };
    await assertRefused(
      bin,
      { ...good, inclusions: [swapped] },
      /tlog\.CheckRecord: invalid transparency proof/,
    );
  });

  await t.step("tlog.CheckTree refuses a consistency proof with one hash flipped", async () => {
    assert.ok(good.consistency.length > 0);
    const flipped = [...good.consistency];
    flipped[flipped.length - 1] = flipChar(flipped[flipped.length - 1], 0, HEX);
    await assertRefused(
      bin,
      { ...good, consistency: flipped },
      /tlog\.CheckTree: invalid transparency proof/,
    );
  });

  // An outsider forges a checkpoint with another root (a forked history).
  const outsider = generateKeyPair("ed25519");
  const forgedText = editLine(splitNote(good.new).text, 2, (root) => flipChar(root, 1, B64));

  await t.step(
    "note.Open refuses an altered checkpoint that carries the sites' signature lines and one from a key outside the set",
    async () => {
      const forged = forgedText + "\n" +
        [signNoteLine(forgedText, "outsider", outsider.secretKey), ...splitNote(good.new).lines]
          .join("");
      await assertRefused(
        bin,
        { ...good, new: forged },
        /new checkpoint: note\.Open: invalid signature for key site-/,
      );
    },
  );

  await t.step(
    "note.Open refuses an altered checkpoint signed only by keys outside the set, even one bearing a site's name",
    async () => {
      const forged = forgedText + "\n" + signNoteLine(forgedText, "outsider", outsider.secretKey) +
        signNoteLine(forgedText, sites[0].name, outsider.secretKey);
      await assertRefused(
        bin,
        { ...good, new: forged },
        /new checkpoint: note\.Open: note has no verifiable signatures/,
      );
    },
  );

  await t.step(
    "a checkpoint that note.Open verifies but fewer sites than the quorum signed is refused",
    async () => {
      const { text, lines } = splitNote(good.old);
      await assertRefused(
        bin,
        { ...good, old: text + "\n" + lines[0] },
        new RegExp(`old checkpoint: signed by 1 of the sites .*below the quorum of ${quorum}`),
      );
    },
  );
}
