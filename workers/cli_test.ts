import assert from "node:assert/strict";
import { type CliIo, run, userFolder } from "./cli.ts";
import { parseArgs, parseCount, parseDuration, UsageError } from "./cli/args.ts";
import { COMMANDS } from "./cli/commands.ts";
import { ConnectionNotes, formatVerified } from "./cli/output.ts";
import { base64urlEncode } from "../sdk/encoding.ts";
import { parseEnvelope, transactionId, verifyEnvelopeSignatures } from "../sdk/envelope.ts";
import { exportKey, generateKeyPair, importKey } from "../sdk/keys.ts";
import { verifierKey } from "../sdk/note.ts";

/** An in-memory terminal: what the command printed, and the environment it saw. */
function terminal(env: Record<string, string> = {}, stdin = "") {
  let out = "";
  let err = "";
  const io: CliIo = {
    stdout: (text) => void (out += text),
    stderr: (text) => void (err += text),
    env: (name) => env[name],
    readStdin: () => Promise.resolve(stdin),
    onInterrupt: () => () => {},
  };
  return { io, out: () => out, err: () => err };
}

async function cli(args: string[], env: Record<string, string> = {}, stdin = "") {
  const t = terminal(env, stdin);
  const code = await run(args, t.io);
  return { code, out: t.out(), err: t.err() };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-cli-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes `key` (a new Ed25519 key by default) to `path` as a key file, mode 0600. */
async function writeKey(path: string, key = generateKeyPair()): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(exportKey(key)), { mode: 0o600 });
}

const SPECS = {
  out: { type: "string", value: "FILE", help: "" },
  key: { type: "string", multiple: true, value: "FILE", help: "" },
  force: { type: "boolean", help: "" },
} as const;

// ---- parseArgs ------------------------------------------------------------

Deno.test("parseArgs() takes flags before, between and after the positionals", () => {
  const { flags, positionals, help } = parseArgs(
    ["--force", "a", "--out", "f.json", "b", "--key=k1", "--key", "k2"],
    SPECS,
  );
  assert.deepEqual(flags, { out: "f.json", key: ["k1", "k2"], force: true });
  assert.deepEqual(positionals, ["a", "b"]);
  assert.equal(help, false);
});

Deno.test("parseArgs() defaults booleans to false and repeatable flags to []", () => {
  assert.deepEqual(parseArgs([], SPECS).flags, { out: undefined, key: [], force: false });
});

Deno.test("parseArgs() reads '-' as an argument and everything after '--' as arguments", () => {
  const { flags, positionals } = parseArgs(["-", "--", "--force", "-h"], SPECS);
  assert.deepEqual(positionals, ["-", "--force", "-h"]);
  assert.equal(flags.force, false);
});

Deno.test("parseArgs() sees --help and -h anywhere", () => {
  assert.equal(parseArgs(["a", "-h"], SPECS).help, true);
  assert.equal(parseArgs(["--help", "--out", "x"], SPECS).help, true);
});

Deno.test("parseArgs() refuses an unknown flag, short or long", () => {
  assert.throws(() => parseArgs(["--nope"], SPECS), /Unknown flag --nope/);
  assert.throws(() => parseArgs(["-x"], SPECS), /Unknown flag -x/);
  assert.throws(() => parseArgs(["--constructor"], SPECS), UsageError);
});

Deno.test("parseArgs() refuses a value flag without its value", () => {
  assert.throws(() => parseArgs(["--out"], SPECS), /Flag --out needs a value \(FILE\)/);
  assert.throws(() => parseArgs(["--out", "--force"], SPECS), /needs a value/);
});

Deno.test("parseArgs() refuses a value for a boolean flag and a single flag given twice", () => {
  assert.throws(() => parseArgs(["--force=yes"], SPECS), /takes no value/);
  assert.throws(() => parseArgs(["--out", "a", "--out=b"], SPECS), /given twice/);
});

Deno.test("parseDuration() reads an integer and a unit, and nothing else", () => {
  assert.equal(parseDuration("500ms", "--t"), 500);
  assert.equal(parseDuration("30s", "--t"), 30_000);
  assert.equal(parseDuration("10m", "--t"), 600_000);
  assert.equal(parseDuration("2h", "--t"), 7_200_000);
  assert.equal(parseDuration("1d", "--t"), 86_400_000);
  for (const bad of ["10", "0s", "-1m", "1.5h", "m", "31d", " 1m"]) {
    assert.throws(() => parseDuration(bad, "--t"), UsageError, bad);
  }
});

Deno.test("parseDuration() refuses a duration above the flag's limit, naming it", () => {
  assert.equal(parseDuration("1d", "--timeout", 86_400_000), 86_400_000);
  assert.throws(
    () => parseDuration("25h", "--timeout", 86_400_000),
    /Flag --timeout must be .*at most 1d\), not "25h"/,
  );
  assert.throws(() => parseDuration("31d", "--t"), /at most 30d/);
});

Deno.test("parseCount() reads a whole number without leading zeros", () => {
  assert.equal(parseCount("0", "--from"), 0);
  assert.equal(parseCount("42", "--from"), 42);
  for (const bad of ["-1", "01", "1e3", "", "x"]) {
    assert.throws(() => parseCount(bad, "--from"), UsageError, bad);
  }
});

// ---- run(): help and usage --------------------------------------------------

Deno.test("cli: --help lists every command and exits 0", async () => {
  const r = await cli(["--help"]);
  assert.equal(r.code, 0);
  for (const c of COMMANDS) assert.ok(r.out.includes(`  ${c.name} `), c.name);
  assert.equal(r.err, "");
});

Deno.test("cli: no command prints the command list on stderr and exits 2", async () => {
  const r = await cli([]);
  assert.equal(r.code, 2);
  assert.equal(r.out, "");
  assert.ok(r.err.includes("Commands:"));
});

Deno.test("cli: every command has --help (exit 0, its usage and flags on stdout)", async () => {
  for (const c of COMMANDS) {
    const r = await cli([...c.name.split(" "), "--help"]);
    assert.equal(r.code, 0, c.name);
    assert.ok(r.out.startsWith(`usage: edgeledger ${c.name}`), r.out);
    assert.ok(r.out.includes("Flags:"), c.name);
    const viaHelp = await cli(["help", ...c.name.split(" ")]);
    assert.equal(viaHelp.out, r.out, `help ${c.name}`);
  }
});

Deno.test("cli: an unknown command, or a group without its command, is a usage error", async () => {
  const unknown = await cli(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /^Unknown command "frobnicate"/);
  const group = await cli(["tx"]);
  assert.equal(group.code, 2);
  assert.match(group.err, /tx sign/);
  assert.equal((await cli(["tx", "--help"])).code, 0);
  assert.equal((await cli(["tx", "send"])).code, 2);
});

Deno.test("cli: a usage error is one line naming the command's help", async () => {
  const r = await cli(["status", "--bogus"]);
  assert.equal(r.code, 2);
  assert.equal(r.err, "Unknown flag --bogus; see 'edgeledger status --help'\n");
  const extra = await cli(["status", "now"]);
  assert.equal(extra.code, 2);
  assert.match(extra.err, /Unexpected argument "now"/);
  const missing = await cli(["tx", "get"]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /^Missing TXID/);
});

Deno.test("cli: flags may come before the command", async () => {
  // The command is found behind a flag and its value, then judges them.
  const r = await cli(["--url", "ftp://x", "status"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /"ftp:\/\/x" is not a site URL .*; see 'edgeledger status --help'/);
});

Deno.test("cli: site URLs come from --url, else EDGELEDGER_URL (comma-separated)", async () => {
  const fromEnv = await cli(["sites"], { EDGELEDGER_URL: "http://127.0.0.1:7001, ftp://bad" });
  assert.equal(fromEnv.code, 2);
  assert.match(fromEnv.err, /"ftp:\/\/bad" is not a site URL/);
  // --url wins over the environment.
  const flag = await cli(["sites", "--url", "ftp://flag"], { EDGELEDGER_URL: "ftp://env" });
  assert.match(flag.err, /"ftp:\/\/flag"/);
});

Deno.test("cli: a site that does not answer exits 1 with one line naming it", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const r = await cli(["status", "--url", `http://127.0.0.1:${port}`]);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    new RegExp(`^Cannot read the site's status: Cannot reach http://127\\.0\\.0\\.1:${port}`),
  );
  assert.equal(r.err.trim().split("\n").length, 1);
});

Deno.test("cli: --consistency accepts only stale, leader and linearizable", async () => {
  const r = await cli(["tx", "get", "ab".repeat(32), "--consistency", "eventual"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /Flag --consistency must be one of stale, leader, linearizable/);
});

Deno.test("userFolder(): INIT_CWD counts only under deno task (working folder = deno.json's)", () => {
  // `deno task cli` from /home/me/work: the task runs in the repo, INIT_CWD is the user's folder.
  assert.equal(userFolder("/repo", "/home/me/work", "/repo"), "/home/me/work");
  // `deno run /repo/workers/cli.ts` from /tmp/x, with an INIT_CWD left by an enclosing npm script.
  assert.equal(userFolder("/tmp/x", "/home/me/other", "/repo"), "/tmp/x");
  assert.equal(userFolder("/repo", undefined, "/repo"), "/repo");
  assert.equal(userFolder("/repo", "", "/repo"), "/repo");
});

// ---- keys --------------------------------------------------------------------

Deno.test("key new: writes a private JWK with mode 0600 and prints its did:key", async () => {
  await withTempDir(async (dir) => {
    const r = await cli(["key", "new", "--out", `${dir}/k.json`]);
    assert.equal(r.code, 0, r.err);
    const did = r.out.trim();
    assert.match(did, /^did:key:z6Mk/);
    const key = importKey(JSON.parse(await Deno.readTextFile(`${dir}/k.json`)));
    assert.equal(key.did, did);
    assert.equal((await Deno.stat(`${dir}/k.json`)).mode! & 0o777, 0o600);
  });
});

Deno.test("key new: refuses to overwrite a file unless --force (exit 2), which replaces it as 0600", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/k.json`;
    await Deno.writeTextFile(path, "precious", { mode: 0o644 });
    const refused = await cli(["key", "new", "--out", path]);
    assert.equal(refused.code, 2);
    assert.equal(
      refused.err,
      `Cannot write the key file ${path}: it exists (pass --force to replace it)\n`,
    );
    assert.equal(await Deno.readTextFile(path), "precious");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["k.json"]);
    const forced = await cli(["key", "new", "--out", path, "--force", "--alg", "p256"]);
    assert.equal(forced.code, 0, forced.err);
    assert.equal(importKey(JSON.parse(await Deno.readTextFile(path))).algorithm, "p256");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["k.json"]);
  });
});

Deno.test("key new: --alg takes ed25519, p256 or secp256k1 only, and --out is required", async () => {
  await withTempDir(async (dir) => {
    const p256 = await cli(["key", "new", "--alg", "p256", "--out", `${dir}/p.json`, "--json"]);
    assert.equal(p256.code, 0);
    const view = JSON.parse(p256.out);
    assert.match(view.did, /^did:key:zDn/);
    assert.equal(view.algorithm, "p256");
    const bad = await cli(["key", "new", "--alg", "rsa", "--out", `${dir}/r.json`]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--alg must be one of ed25519, p256, secp256k1/);
    assert.equal((await cli(["key", "new"])).code, 2);
  });
});

Deno.test("key show: prints the did:key, algorithm and public key, never the secret", async () => {
  await withTempDir(async (dir) => {
    const key = generateKeyPair("ed25519");
    await writeKey(`${dir}/k.json`, key);
    const r = await cli(["key", "show", `${dir}/k.json`, "--json"]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), {
      did: key.did,
      algorithm: "ed25519",
      publicKey: base64urlEncode(key.publicKey),
    });
    const human = await cli(["key", "show", `${dir}/k.json`]);
    assert.ok(human.out.includes(key.did));
    assert.ok(!human.out.includes(base64urlEncode(key.secretKey)));
  });
});

Deno.test("key show: warns about a key file others can read, and refuses one that is not a key", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/k.json`, JSON.stringify(exportKey(generateKeyPair())), {
      mode: 0o644,
    });
    await Deno.chmod(`${dir}/k.json`, 0o644);
    const loose = await cli(["key", "show", `${dir}/k.json`]);
    assert.equal(loose.code, 0);
    assert.match(loose.err, /readable by others \(mode 0644\); run chmod 600/);
    await Deno.writeTextFile(`${dir}/bad.json`, '{"kty":"OKP"}');
    const bad = await cli(["key", "show", `${dir}/bad.json`]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^Cannot read the key file .*bad\.json: Cannot import JWK/);
    const missing = await cli(["key", "show", `${dir}/none.json`]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no such file or directory/);
  });
});

Deno.test("key show and tx sign --key never quote a key file that is not JSON (it holds the secret)", async () => {
  await withTempDir(async (dir) => {
    // A raw base64url secret key, or a JWK cut short: the JSON parser's message quotes the text.
    const secret = base64urlEncode(generateKeyPair().secretKey);
    await Deno.writeTextFile(`${dir}/raw.key`, secret + "\n", { mode: 0o600 });
    const cut = JSON.stringify(exportKey(generateKeyPair()));
    await Deno.writeTextFile(`${dir}/cut.json`, cut.slice(0, cut.length - 10), { mode: 0o600 });
    const runs = [
      await cli(["key", "show", `${dir}/raw.key`]),
      await cli(["key", "show", "-"], {}, secret),
      await cli(["tx", "sign", "data.anchor", "--key", `${dir}/raw.key`, "--payload", "{}"]),
      await cli(["key", "show", `${dir}/cut.json`]),
    ];
    for (const r of runs) {
      assert.equal(r.code, 1, r.err);
      assert.match(r.err, /^Cannot read the key file .*: not JSON\n$/);
      assert.ok(!r.err.includes(secret.slice(0, 6)), r.err);
    }
    // Other inputs still say why they are not JSON.
    await Deno.writeTextFile(`${dir}/b.json`, "{x");
    const bundle = await cli(["verify", `${dir}/b.json`, "--trust", `${dir}/t.json`]);
    assert.match(bundle.err, /not JSON \(.+\)/);
  });
});

// ---- tx sign (offline with --ledger) -------------------------------------------

const ANCHOR = { stream: "unit/s", seq: 0, root: "ab".repeat(32), count: 1, from: 1, to: 2 };

/** The arguments of `tx sign data.anchor` offline (ledger "demo") with one key, then `extra`. */
function signAnchor(keyPath: string, payload: unknown, ...extra: string[]): string[] {
  const sign = [
    "tx",
    "sign",
    "data.anchor",
    "--key",
    keyPath,
    "--payload",
    JSON.stringify(payload),
  ];
  return [...sign, "--ledger", "demo", ...extra];
}

Deno.test("tx sign: prints a canonical signed envelope on stdout and its txId on stderr", async () => {
  await withTempDir(async (dir) => {
    const key = generateKeyPair("ed25519");
    await writeKey(`${dir}/k.json`, key);
    const r = await cli(signAnchor(`${dir}/k.json`, ANCHOR, "--expires-in", "10m"));
    assert.equal(r.code, 0, r.err);
    const envelope = parseEnvelope(JSON.parse(r.out));
    assert.deepEqual(envelope.body, ANCHOR);
    assert.deepEqual(envelope.signers, [key.did]);
    assert.equal(envelope.ledger, "demo");
    assert.ok(Math.abs(envelope.expiresAt - (Date.now() + 600_000)) < 60_000);
    assert.deepEqual(await verifyEnvelopeSignatures(envelope), { ok: true });
    assert.equal(r.err, `txId ${transactionId(envelope)}\n`);
  });
});

Deno.test("tx sign: reads the payload from @FILE and writes the envelope to --out", async () => {
  await withTempDir(async (dir) => {
    const key = generateKeyPair("p256");
    await writeKey(`${dir}/k.json`, key);
    await Deno.writeTextFile(`${dir}/body.json`, JSON.stringify(ANCHOR));
    const r = await cli([
      "tx",
      "sign",
      "data.anchor",
      `--key=${dir}/k.json`,
      `--payload=@${dir}/body.json`,
      "--ledger=demo",
      "--out",
      `${dir}/tx.json`,
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    const { txId, envelope } = JSON.parse(r.out);
    assert.deepEqual(
      parseEnvelope(JSON.parse(await Deno.readTextFile(`${dir}/tx.json`))),
      envelope,
    );
    assert.equal(transactionId(envelope), txId);
  });
});

Deno.test("tx sign --out: refuses an existing file unless --force (exit 2, naming it and --force), which replaces it", async () => {
  await withTempDir(async (dir) => {
    await writeKey(`${dir}/k.json`);
    const out = `${dir}/tx.json`;
    await Deno.writeTextFile(out, "precious");
    const sign = (...extra: string[]) =>
      cli(signAnchor(`${dir}/k.json`, ANCHOR, "--out", out, ...extra));
    const refused = await sign();
    assert.equal(refused.code, 2);
    assert.equal(
      refused.err,
      `Cannot write the envelope ${out}: it exists (pass --force to replace it)\n`,
    );
    assert.equal(refused.out, "");
    assert.equal(await Deno.readTextFile(out), "precious");
    const forced = await sign("--force");
    assert.equal(forced.code, 0, forced.err);
    const envelope = parseEnvelope(JSON.parse(await Deno.readTextFile(out)));
    assert.equal(transactionId(envelope), forced.out.trim());
    // Replaced by a rename: no temporary file is left beside it.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["k.json", "tx.json"]);
    const noOut = await cli([
      "tx",
      "sign",
      "data.anchor",
      "--key",
      "k",
      "--payload",
      "{}",
      "--force",
    ]);
    assert.equal(noOut.code, 2);
    assert.match(noOut.err, /^Flag --force needs --out/);
  });
});

Deno.test("tx sign: several --key sign in the order given", async () => {
  await withTempDir(async (dir) => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    await writeKey(`${dir}/a.json`, a);
    await writeKey(`${dir}/b.json`, b);
    const body = { item: "pallet-7", step: 1, from: a.did, to: b.did };
    const r = await cli([
      "tx",
      "sign",
      "custody.handoff",
      "--key",
      `${dir}/a.json`,
      "--key",
      `${dir}/b.json`,
      "--payload",
      JSON.stringify(body),
      "--ledger",
      "demo",
    ]);
    assert.equal(r.code, 0, r.err);
    const envelope = parseEnvelope(JSON.parse(r.out));
    assert.deepEqual(envelope.signers, [a.did, b.did]);
    assert.deepEqual(await verifyEnvelopeSignatures(envelope), { ok: true });
  });
});

Deno.test("tx sign: a body that fails the kind's schema exits 1 naming the field", async () => {
  await withTempDir(async (dir) => {
    await writeKey(`${dir}/k.json`);
    const r = await cli(signAnchor(`${dir}/k.json`, { ...ANCHOR, root: "nothex" }));
    assert.equal(r.code, 1);
    assert.match(r.err, /^Cannot build the data\.anchor transaction: .*body\.root/);
    assert.equal(r.out, "");
  });
});

Deno.test("tx sign: an unknown kind, a payload that is not JSON, or no --key is a usage error", async () => {
  const unknown = await cli(["tx", "sign", "data.anchr", "--key", "k", "--payload", "{}"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /Unknown kind "data\.anchr"; the kinds are .*data\.anchor/);
  const notJson = await cli(["tx", "sign", "data.anchor", "--key", "k", "--payload", "{x"]);
  assert.equal(notJson.code, 2);
  assert.match(notJson.err, /^Flag --payload is not JSON/);
  const noKey = await cli(["tx", "sign", "data.anchor", "--payload", "{}"]);
  assert.equal(noKey.code, 2);
  assert.match(noKey.err, /^Flag --key is required/);
});

Deno.test("tx sign: standard input feeds one of --key - and --payload @-, not both", async () => {
  const key = JSON.stringify(exportKey(generateKeyPair()));
  const both = ["--key", "-", "--payload", "@-"];
  const twoKeys = ["--key", "-", "--key", "-", "--payload", JSON.stringify(ANCHOR)];
  for (const args of [both, twoKeys]) {
    const r = await cli(["tx", "sign", "data.anchor", ...args, "--ledger", "demo"], {}, key);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /^Only one of --key - and --payload @- can read standard input/);
  }
});

// ---- tx submit, verify and trust init without a site ----------------------------

Deno.test("tx submit: an envelope that is not one exits 1 before any request", async () => {
  // The URL is unreachable: the envelope is refused before anything is sent.
  const r = await cli(["tx", "submit", "-", "--url", "http://127.0.0.1:9"], {}, '{"v":1}');
  assert.equal(r.code, 1);
  assert.match(r.err, /^Cannot read the envelope from standard input: Invalid envelope at/);
  const timeout = await cli(["tx", "submit", "-", "--timeout", "5s"]);
  assert.equal(timeout.code, 2);
  assert.match(timeout.err, /--timeout needs --wait/);
});

Deno.test("tx submit --wait and proof refuse a --timeout longer than a day (a timer would fire at once)", async () => {
  const submit = await cli(["tx", "submit", "-", "--wait", "--timeout", "30d"], {}, "{}");
  assert.equal(submit.code, 2);
  assert.match(submit.err, /^Flag --timeout must be .*at most 1d\), not "30d"/);
  const proof = await cli(["proof", "ab".repeat(32), "--timeout", "25d"]);
  assert.equal(proof.code, 2);
  assert.match(proof.err, /^Flag --timeout must be .*at most 1d/);
});

Deno.test("proof --out: refuses an existing file before asking any site (exit 2, naming it and --force)", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/bundle.json`;
    await Deno.writeTextFile(out, "precious");
    // Nothing listens at the URL: the refusal comes before any request.
    const r = await cli(["proof", "ab".repeat(32), "--out", out, "--url", "http://127.0.0.1:9"]);
    assert.equal(r.code, 2);
    assert.equal(
      r.err,
      `Cannot write the proof bundle ${out}: it exists (pass --force to replace it)\n`,
    );
    assert.equal(await Deno.readTextFile(out), "precious");
    const noOut = await cli(["proof", "ab".repeat(32), "--force"]);
    assert.equal(noOut.code, 2);
    assert.match(noOut.err, /^Flag --force needs --out/);
  });
});

Deno.test("verify: needs --trust, a proof bundle, and a valid trust file", async () => {
  await withTempDir(async (dir) => {
    const noTrust = await cli(["verify", "bundle.json"]);
    assert.equal(noTrust.code, 2);
    assert.match(noTrust.err, /^Flag --trust is required/);
    await Deno.writeTextFile(`${dir}/b.json`, '{"txId": 1}');
    const notBundle = await cli(["verify", `${dir}/b.json`, "--trust", `${dir}/t.json`]);
    assert.equal(notBundle.code, 1);
    assert.match(notBundle.err, /not a proof bundle/);
    const bundle = {
      txId: "ab".repeat(32),
      tx: {},
      receipt: { txId: "ab".repeat(32), status: "committed" },
      proof: { logIndex: 0, treeSize: 1, leaf: "", proof: [] },
      checkpoint: "not a note",
    };
    await Deno.writeTextFile(`${dir}/b.json`, JSON.stringify(bundle));
    await Deno.writeTextFile(`${dir}/t.json`, JSON.stringify({ v: 1, quorum: 1 }));
    const badTrust = await cli(["verify", `${dir}/b.json`, "--trust", `${dir}/t.json`]);
    assert.equal(badTrust.code, 1);
    assert.match(
      badTrust.err,
      /^Cannot read the trust file .*t\.json: Invalid trust config at origin/,
    );
    const key = verifierKey("site-a", generateKeyPair().publicKey);
    await Deno.writeTextFile(
      `${dir}/t.json`,
      JSON.stringify({ v: 1, origin: "o/demo", quorum: 1, trustedKeys: [key] }),
    );
    const malformed = await cli(["verify", `${dir}/b.json`, "--trust", `${dir}/t.json`, "--json"]);
    assert.equal(malformed.code, 1);
    assert.equal(JSON.parse(malformed.out).reason, "checkpoint_malformed");
    assert.match(malformed.err, /\(checkpoint_malformed\)\n$/);
  });
});

Deno.test("formatVerified() says what a stateless verify proved, and that no earlier checkpoint was compared", () => {
  const verdict = {
    ok: true,
    reason: "ok" as const,
    message: "… it is the first checkpoint this client trusts.",
    txId: "ab".repeat(32),
    logIndex: 0,
    height: 1,
    result: { status: "rejected", code: "seq_gap" },
    checkpoint: {
      origin: "o/demo",
      size: 1,
      rootHash: "00".repeat(32),
      height: 1,
      blockHash: "11".repeat(32),
      note: "",
      signers: ["site-a", "site-c"],
    },
    checkpointConsistency: "unchecked" as const,
    blockVerified: false,
  };
  assert.equal(
    formatVerified(verdict, 2),
    [
      `Transaction ${"ab".repeat(32)} is in ledger o/demo at log index 0 (block 1), rejected by ` +
      "its contract (seq_gap).",
      "Proven against the checkpoint of 1 transaction at height 1, signed by 2 trusted site(s) " +
      "(site-a, site-c; quorum 2).",
      "Its block height is the site's word: the bundle holds no blocks that prove it.",
      "No earlier checkpoint was compared: verify keeps no state between runs, so it cannot tell " +
      "a rolled-back or forked log (the SDK's LightClient with a TrustStore can).",
    ].join("\n"),
  );
  assert.throws(() => formatVerified({ ok: false, reason: "block_mismatch", message: "" }, 1));
});

Deno.test("trust init: --genesis trusts every genesis site, a majority as quorum", async () => {
  await withTempDir(async (dir) => {
    const keys = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
    const genesis = {
      origin: "edgeledger.test/demo",
      sites: keys.map((k, i) => ({
        name: `site-${i}`,
        org: "o",
        publicKey: base64urlEncode(k.publicKey),
        url: "http://127.0.0.1:1",
      })),
    };
    await Deno.writeTextFile(`${dir}/genesis.json`, JSON.stringify(genesis));
    const r = await cli([
      "trust",
      "init",
      "--genesis",
      `${dir}/genesis.json`,
      "--out",
      `${dir}/t.json`,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /3 site key\(s\) \(site-0, site-1, site-2\), quorum 2/);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/t.json`)), {
      v: 1,
      origin: "edgeledger.test/demo",
      quorum: 2,
      trustedKeys: keys.map((k, i) => verifierKey(`site-${i}`, k.publicKey)),
    });
    const again = await cli([
      "trust",
      "init",
      "--genesis",
      `${dir}/genesis.json`,
      "--out",
      `${dir}/t.json`,
    ]);
    assert.equal(again.code, 2);
    assert.equal(
      again.err,
      `Cannot write the trust file ${dir}/t.json: it exists (pass --force to replace it)\n`,
    );
    const tooMany = await cli([
      "trust",
      "init",
      "--genesis",
      `${dir}/genesis.json`,
      "--out",
      `${dir}/t2.json`,
      "--quorum",
      "4",
    ]);
    assert.equal(tooMany.code, 1);
    assert.match(tooMany.err, /^Cannot build the trust file: .*quorum/);
  });
});

Deno.test("trust init: needs exactly one of --url and --genesis", async () => {
  const neither = await cli(["trust", "init", "--out", "t.json"]);
  assert.equal(neither.code, 2);
  assert.match(neither.err, /^Give either --url .* or --genesis FILE/);
  const both = await cli([
    "trust",
    "init",
    "--out",
    "t.json",
    "--genesis",
    "g.json",
    "--url",
    "http://127.0.0.1:7001",
  ]);
  assert.equal(both.code, 2);
});

Deno.test("watch: --from and --kinds are checked before connecting", async () => {
  const from = await cli(["watch", "--from", "-3"]);
  assert.equal(from.code, 2);
  assert.match(from.err, /--from must be a whole number/);
  const kinds = await cli(["watch", "--kinds", ","]);
  assert.equal(kinds.code, 2);
  assert.match(kinds.err, /--kinds names no kind/);
});

Deno.test("watch: --signer must be a did:key, checked with the SDK's parser before connecting (exit 2)", async () => {
  // The last two pass the site's own check (did:key:z + base58), not the SDK's.
  for (const bad of ["did:web:example.com", "z6Mk", "did:key:z6Mk", "did:key:z111111"]) {
    const r = await cli(["watch", "--signer", bad, "--url", "http://127.0.0.1:9"]);
    assert.equal(r.code, 2, `${bad}: ${r.err}`);
    assert.match(
      r.err,
      /^Flag --signer must be a did:key, not ".+" \(Cannot decode did:key: .+\); see/,
    );
    assert.equal(r.err.trim().split("\n").length, 1);
  }
  // A did:key passes: the failure is then the (unreachable) site's.
  const good = await cli([
    "watch",
    "--signer",
    generateKeyPair("p256").did,
    "--url",
    "http://127.0.0.1:9",
  ]);
  assert.equal(good.code, 1, good.err);
  assert.match(good.err, /^Cannot follow the committed blocks: /);
});

/** A block event as a site streams it: an empty block at `height`. */
function blockEvent(height: number) {
  const header = {
    v: 1,
    ledger: "demo",
    height,
    prev: "00".repeat(32),
    time: 0,
    term: 1,
    proposer: "site-a",
    txCount: 0,
    logSize: 0,
    logRoot: "00".repeat(32),
  };
  return { height, hash: "ab".repeat(32), header, txs: [] };
}

/**
 * A site whose event stream answers each connection with the next step of
 * `script`: a status (it is down), or blocks followed by the stream's end
 * (`close`: it drops) or by nothing (`stay`: it stays open). Past the
 * script, 503.
 */
function scriptedEventsSite(
  script: ReadonlyArray<number | { blocks: number[]; then: "close" | "stay" }>,
) {
  let connections = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (new URL(req.url).pathname !== "/v1/events") return new Response("no", { status: 404 });
    const step = script[connections++] ?? 503;
    if (typeof step === "number") return new Response("down", { status: step });
    const frames = step.blocks.map((h) =>
      `event: block\nid: ${h}\ndata: ${JSON.stringify(blockEvent(h))}\n\n`
    );
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const f of frames) c.enqueue(new TextEncoder().encode(f));
        if (step.then === "close") c.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    connections: () => connections,
    close: () => server.shutdown(),
  };
}

/** Runs `watch` in this process until its standard output satisfies `done` (10 s at most), then Ctrl-C. */
async function watchUntil(args: string[], done: (out: string) => boolean) {
  let out = "";
  let err = "";
  let interrupt: (() => void) | undefined;
  const io: CliIo = {
    stdout: (text) => void (out += text),
    stderr: (text) => void (err += text),
    env: () => undefined,
    readStdin: () => Promise.resolve(""),
    onInterrupt(handler) {
      interrupt = handler;
      return () => void (interrupt = undefined);
    },
  };
  let finished = false;
  const running = run(["watch", ...args], io).finally(() => void (finished = true));
  const deadline = Date.now() + 10_000;
  while (!done(out) && !finished) {
    if (Date.now() > deadline) {
      interrupt?.();
      await running;
      throw new Error(`watch printed: ${out}${err}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  interrupt?.();
  return { code: await running, out, err };
}

Deno.test("watch: says where it starts once, then one line when the stream drops and one when it is back, never one per retry", async () => {
  // Down at first, then a block and a drop, down twice, then back for good.
  const site = scriptedEventsSite([
    503,
    { blocks: [0], then: "close" },
    503,
    503,
    { blocks: [1], then: "stay" },
  ]);
  try {
    const r = await watchUntil(
      ["--url", site.url, "--from", "0"],
      (out) => out.includes("block 1 "),
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(site.connections(), 5);
    assert.match(r.out, /^block 0 (ab){32} 0 txs .*\nblock 1 (ab){32} 0 txs /);
    assert.equal(
      r.err,
      [
        `Watching ${site.url} from height 0`,
        `Cannot connect to ${site.url}; retrying`,
        `Connected to ${site.url}`,
        `Lost the connection to ${site.url}; reconnecting`,
        `Reconnected to ${site.url}; resuming from height 1`,
        "",
      ].join("\n"),
    );
  } finally {
    await site.close();
  }
});

Deno.test("watch: a 200 answer that is not an event stream (a proxy's page) is a failed attempt, not a connection", async () => {
  // A text/plain 200 first, then the event stream.
  const site = scriptedEventsSite([200, { blocks: [0], then: "stay" }]);
  try {
    const r = await watchUntil(
      ["--url", site.url, "--from", "0"],
      (out) => out.includes("block 0 "),
    );
    assert.equal(r.code, 0, r.err);
    assert.equal(site.connections(), 2);
    assert.equal(
      r.err,
      [
        `Watching ${site.url} from height 0`,
        `Cannot connect to ${site.url}; retrying`,
        `Connected to ${site.url}`,
        "",
      ].join("\n"),
    );
  } finally {
    await site.close();
  }
});

Deno.test("ConnectionNotes: one line per change of the connection, naming the site that dropped and the one that answered", () => {
  const lines: string[] = [];
  const notes = new ConnectionNotes((line) => lines.push(line));
  notes.connecting("http://a", 9);
  notes.opened();
  // The stream drops; a then b fail over and over; b answers.
  notes.connecting("http://b", 12);
  notes.connecting("http://a", 12);
  notes.connecting("http://b", 12);
  notes.opened();
  assert.deepEqual(lines, [
    "Watching http://a from height 10",
    "Lost the connection to http://a; reconnecting",
    "Reconnected to http://b; resuming from height 13",
  ]);
  assert.throws(() => new ConnectionNotes(() => {}).opened());
});
