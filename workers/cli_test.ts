import assert from "node:assert/strict";
import { type CliIo, run, userFolder } from "./cli.ts";
import { parseArgs, parseCount, parseDuration, UsageError } from "./cli/args.ts";
import { membersView } from "./cli/admin.ts";
import { COMMANDS } from "./cli/commands.ts";
import {
  ConnectionNotes,
  formatMembers,
  formatStatus,
  formatVerified,
  withConnectReason,
} from "./cli/output.ts";
import { base64urlEncode, utf8Encode } from "../sdk/encoding.ts";
import { retirementText, rotationText } from "../sdk/key_rotation.ts";
import { parseEnvelope, transactionId, verifyEnvelopeSignatures } from "../sdk/envelope.ts";
import { exportKey, generateKeyPair, importKey, signSync } from "../sdk/keys.ts";
import { assembleNote, signNoteLine, verifierKey } from "../sdk/note.ts";
import { formatCheckpoint } from "../sdk/checkpoint.ts";
import { closedPort } from "../test/_cluster.ts";

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
  assert.throws(
    () => parseArgs(["--out", "--force"], SPECS),
    /needs a value \(FILE\); for a value that starts with --, --out=VALUE/,
  );
  assert.equal(parseArgs(["--out=--x"], SPECS).flags.out, "--x");
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

Deno.test('cli: an EDGELEDGER_URL set to no URL (",", spaces) is a usage error naming it, not the default site', async () => {
  for (const value of [",", " , ", " "]) {
    const r = await cli(["sites"], { EDGELEDGER_URL: value });
    assert.equal(r.code, 2, `EDGELEDGER_URL=${JSON.stringify(value)}: ${r.err}`);
    assert.match(r.err, /^EDGELEDGER_URL is set but names no site URL/);
    assert.doesNotMatch(r.err, /127\.0\.0\.1:7001/);
  }
  // --url wins over the environment, whatever it holds.
  const flag = await cli(["sites", "--url", closedUrl()], { EDGELEDGER_URL: "," });
  assert.equal(flag.code, 1, flag.err);
  assert.match(flag.err, /^Cannot read the member sites: Cannot reach/);
  // Empty is unset (test/_cli.ts clears it that way): the default site.
  const empty = await cli(["sites"], { EDGELEDGER_URL: "" });
  assert.doesNotMatch(empty.err, /EDGELEDGER_URL/);
});

Deno.test("cli: tx get and proof take a transaction id in either case and ask for it lowercase", async () => {
  const paths: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    paths.push(new URL(req.url).pathname);
    return Response.json({
      type: "https://edgeledger.dev/problems/not_found",
      title: "Not found",
      status: 404,
      detail: "no such transaction",
    }, { status: 404, headers: { "content-type": "application/problem+json" } });
  });
  const url = `http://127.0.0.1:${server.addr.port}`;
  const lower = "ab".repeat(32);
  try {
    for (const args of [["tx", "get"], ["proof"]]) {
      paths.length = 0;
      const r = await cli([...args, lower.toUpperCase(), "--url", url]);
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.err}`);
      assert.ok(r.err.includes(`transaction ${lower}`), r.err);
      assert.ok(paths.length > 0 && paths.every((p) => !/[A-F]/.test(p)), paths.join(", "));
    }
    // tx get asks for the transaction itself (proof stops at the checkpoint, not found here).
    paths.length = 0;
    await cli(["tx", "get", lower.toUpperCase(), "--url", url]);
    assert.deepEqual(paths, [`/v1/txs/${lower}`]);
    // Mixed case too; what is not 64 hex characters still is not an id.
    const mixed = await cli(["tx", "get", "Ab".repeat(32), "--url", url]);
    assert.equal(mixed.code, 1, mixed.err);
    for (const bad of ["ab".repeat(31), "gg".repeat(32), "0x" + lower]) {
      const r = await cli(["tx", "get", bad, "--url", url]);
      assert.equal(r.code, 2, bad);
      assert.match(r.err, /is not a transaction id \(64 hex characters\)/);
    }
  } finally {
    await server.shutdown();
  }
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

Deno.test('cli: an unreachable site\'s error says why the connection failed, not only "fetch failed"', async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const refused = await cli(["status", "--url", `http://127.0.0.1:${port}`]);
  assert.equal(refused.code, 1);
  assert.match(
    refused.err,
    new RegExp(
      `^Cannot read the site's status: Cannot reach http://127\\.0\\.0\\.1:${port}: connection refused \\(is a site running at that address and port\\?\\)\n$`,
    ),
  );
  // https:// to a site that serves plain HTTP.
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    () => new Response("plain"),
  );
  try {
    const tls = await cli(["sites", "--url", `https://127.0.0.1:${server.addr.port}`]);
    assert.equal(tls.code, 1);
    assert.match(
      tls.err,
      /: TLS handshake failed: the server does not speak TLS \(is it http:\/\/, not https:\/\/\?\)\n$/,
    );
    assert.doesNotMatch(tls.err, /fetch failed/);
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test("withConnectReason() keeps a message that is not a bare fetch failure, and one with no cause", () => {
  assert.equal(
    withConnectReason("Cannot reach x: no answer within 5 ms", undefined),
    "Cannot reach x: no answer within 5 ms",
  );
  assert.equal(
    withConnectReason("Cannot reach x: fetch failed", undefined),
    "Cannot reach x: fetch failed",
  );
  const dns = new TypeError("fetch failed", {
    cause: new Error(
      "error sending request for url (http://a.invalid/): client error (Connect): dns error: failed to lookup address information: Name or service not known",
    ),
  });
  assert.equal(
    withConnectReason("Cannot reach http://a.invalid: fetch failed", dns),
    "Cannot reach http://a.invalid: cannot find the host (failed to lookup address information: Name or service not known)",
  );
  // The SDK's message names the cause itself ("fetch failed: client error (Connect): …").
  assert.equal(
    withConnectReason(
      "Cannot reach http://a.invalid: fetch failed: client error (Connect): dns error: failed to lookup address information: Name or service not known",
      dns,
    ),
    "Cannot reach http://a.invalid: cannot find the host (failed to lookup address information: Name or service not known)",
  );
});

Deno.test("withConnectReason() says how to trust a site's CA when its certificate's issuer is unknown", () => {
  const untrusted = new TypeError("fetch failed", {
    cause: new Error(
      "error sending request for url (https://127.0.0.1:7001/v1/status): client error (Connect): invalid peer certificate: UnknownIssuer",
    ),
  });
  assert.match(
    withConnectReason("Cannot reach https://127.0.0.1:7001: fetch failed", untrusted),
    /^Cannot reach https:\/\/127\.0\.0\.1:7001: .*UnknownIssuer \(trust the CA that signed its certificate: DENO_CERT=ca\.pem before the command\)$/,
  );
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

Deno.test("--out into a folder that does not exist, or under a file, is refused before any work (exit 2), naming the folder; none is made", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "");
    const missing = await cli(["key", "new", "--out", `${dir}/nodir/k.json`]);
    assert.equal(missing.code, 2);
    assert.equal(
      missing.err,
      `Cannot write the key file ${dir}/nodir/k.json: its folder ${dir}/nodir does not exist ` +
        "(it is not created)\n",
    );
    const underFile = await cli(["key", "new", "--out", `${dir}/file/k.json`, "--force"]);
    assert.equal(underFile.code, 2);
    assert.equal(
      underFile.err,
      `Cannot write the key file ${dir}/file/k.json: ${dir}/file is not a folder\n`,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["file"]);
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

Deno.test("formatVerified() says what verify proved, and how the checkpoint compares with the one in --state's file (none without it)", () => {
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
      "a rolled-back or forked log (with --state FILE it can).",
    ].join("\n"),
  );
  assert.throws(() => formatVerified({ ok: false, reason: "block_mismatch", message: "" }, 1));

  // With --state: how the checkpoint compares with the one in the file, by name.
  const last = (v: typeof verdict | Record<string, unknown>, state?: string) =>
    formatVerified(v as typeof verdict, 2, state).split("\n").at(-1);
  const as = (c: string) => ({ ...verdict, checkpointConsistency: c });
  assert.equal(
    last(verdict, "s.json"),
    "No earlier checkpoint was compared: s.json held none. It holds this one now, and each " +
      "later run with --state s.json checks its checkpoint against it.",
  );
  assert.equal(last(as("same_tree"), "s.json"), "It is the same tree as the checkpoint in s.json.");
  assert.equal(
    last(as("extends"), "s.json"),
    "A consistency proof shows it extends the checkpoint in s.json, which s.json now replaces " +
      "with it.",
  );
  assert.equal(
    last(as("prefix"), "s.json"),
    "A consistency proof shows the checkpoint in s.json extends it.",
  );
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
    assert.equal(tooMany.code, 2);
    assert.match(
      tooMany.err,
      /^Flag --quorum must be at most 3 \(the site keys the trust file would hold\), not 4; see/,
    );
  });
});

Deno.test("trust update: follows a trusted site's rotation (both signatures checked) into the file, keeping the retired key up to the block the site signed for it (named and left as it was, exit 1, until the site has signed it); an unreachable key is kept and named, exit 1; nothing to follow leaves the file as it was", async () => {
  await withTempDir(async (dir) => {
    const [a0, a1, b0, b9] = [
      generateKeyPair(),
      generateKeyPair(),
      generateKeyPair(),
      generateKeyPair(),
    ];
    const b64 = (k: ReturnType<typeof generateKeyPair>) => base64urlEncode(k.publicKey);
    const text = utf8Encode(rotationText("site-a", b64(a0), b64(a1)));
    const rotation = {
      name: "site-a",
      previous: b64(a0),
      publicKey: b64(a1),
      previousSig: base64urlEncode(signSync(a0, text)),
      newSig: base64urlEncode(signSync(a1, text)),
    };
    // site-a vouched, with its new key, for the last block its old key signed.
    const retired = {
      verifierKey: verifierKey("site-a", a0.publicKey),
      untilHeight: 41,
      signer: b64(a1),
      signature: base64urlEncode(
        signSync(a1, utf8Encode(retirementText("site-a", b64(a0), 41))),
      ),
    };
    // Until site-a has signed it, /keys serves the retired key without a signature.
    const { signer: _signer, signature: _signature, ...unsignedRetired } = retired;
    let retiredServed: typeof unsignedRetired = unsignedRetired;
    let bKey = b0;
    const sitesOf = () => [
      {
        name: "site-a",
        url: "http://127.0.0.1:1",
        verifierKey: verifierKey("site-a", a1.publicKey),
      },
      {
        name: "site-b",
        url: "http://127.0.0.1:1",
        verifierKey: verifierKey("site-b", bKey.publicKey),
      },
    ];
    const site = scriptedSite((r) => {
      if (r.path === "/v1/sites") return Response.json({ sites: sitesOf() });
      const name = /^\/v1\/sites\/([^/]+)\/keys$/.exec(r.path)?.[1];
      const listed = sitesOf().find((s) => s.name === name)!;
      return Response.json({
        name,
        verifierKey: listed.verifierKey,
        rotations: name === "site-a" ? [rotation] : [],
        retired: name === "site-a" ? [retiredServed] : [],
      });
    });
    try {
      const file = `${dir}/trust.json`;
      const trust = {
        v: 1,
        origin: "edgeledger.test/demo",
        quorum: 2,
        trustedKeys: [verifierKey("site-a", a0.publicKey), verifierKey("site-b", b0.publicKey)],
      };
      await Deno.writeTextFile(file, JSON.stringify(trust));
      // Rotated moments ago: not followed yet, named, exit 1; the file is as it was.
      const early = await cli(["trust", "update", file, "--url", site.url]);
      assert.equal(early.code, 1);
      assert.equal(early.out, `${file} is unchanged\n`);
      assert.match(early.err, /last block of the key they retired not signed yet: site-a .*again/);
      assert.deepEqual(JSON.parse(await Deno.readTextFile(file)), trust);
      retiredServed = retired;
      const r = await cli(["trust", "update", file, "--url", site.url]);
      assert.equal(r.code, 0, r.err);
      assert.equal(
        r.out,
        `site-a: ${b64(a0)} → ${
          b64(a1)
        } (the retired key counts for checkpoints up to block 41)\nUpdated ${file}: 1 key(s) followed to their rotated keys\n`,
      );
      const updated = JSON.parse(await Deno.readTextFile(file));
      assert.deepEqual(updated.trustedKeys, [
        verifierKey("site-a", a1.publicKey),
        verifierKey("site-b", b0.publicKey),
      ]);
      assert.deepEqual(updated.retiredKeys, [{ key: retired.verifierKey, untilHeight: 41 }]);
      const same = await cli(["trust", "update", file, "--url", site.url]);
      assert.equal(same.code, 0, same.err);
      assert.match(same.out, /is up to date: no trusted site rotated its key/);
      // site-b now lists a key no chain from the trusted one reaches: kept, named, exit 1.
      bKey = b9;
      const before = await Deno.readTextFile(file);
      const stray = await cli(["trust", "update", file, "--url", site.url]);
      assert.equal(stray.code, 1);
      assert.match(
        stray.err,
        /No chain of rotations leads from the trusted key to the key now of: site-b/,
      );
      assert.equal(await Deno.readTextFile(file), before);
    } finally {
      await site.close();
    }
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

Deno.test("watch: an unknown kind in --kinds is refused before connecting (exit 2), not watched for ever", async () => {
  const r = await cli([
    "watch",
    "--kinds",
    "data.anchor,data.anchr",
    "--url",
    "http://127.0.0.1:9",
  ]);
  assert.equal(r.code, 2, r.err);
  assert.match(
    r.err,
    /^Flag --kinds names an unknown kind "data\.anchr"; the kinds are .*data\.anchor/,
  );
  assert.equal(r.err.trim().split("\n").length, 1);
  // Known kinds pass: the failure is then the (unreachable) site's.
  const good = await cli([
    "watch",
    "--kinds",
    "data.anchor, identity.register",
    "--url",
    "http://127.0.0.1:9",
  ]);
  assert.equal(good.code, 1, good.err);
  assert.match(good.err, /^Cannot follow the committed blocks: /);
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

// ---- operators: membership, leadership, backups ----------------------------------

const ADMIN_KEY = "k".repeat(24);

/** One request a {@link scriptedSite} received. */
interface SeenRequest {
  method: string;
  path: string;
  authorization: string | null;
  body: string;
}

/** A site on 127.0.0.1 that answers each request with `handler`, and records it. */
function scriptedSite(handler: (req: SeenRequest) => Response | Promise<Response>) {
  const seen: SeenRequest[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const r = {
      method: req.method,
      path: new URL(req.url).pathname,
      authorization: req.headers.get("authorization"),
      body: await req.text(),
    };
    seen.push(r);
    return await handler(r);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    admin: () => seen.filter((r) => r.path.startsWith("/v1/admin/")),
    close: () => server.shutdown(),
  };
}

/** A `/v1/status` answer of site `site` whose leader is `leader`. */
/** A `GET /v1/sites` answer listing each site of `urls` (by name) with a placeholder key. */
function sitesAnswer(urls: Record<string, string>): Response {
  return Response.json({
    sites: Object.entries(urls).map(([name, url]) => ({
      name,
      url,
      verifierKey: `${name}+00000000+AA`,
    })),
  });
}

function statusOf(site: string, leader: string | null, extra: Record<string, unknown> = {}) {
  return Response.json({
    ledger: "demo",
    site,
    role: site === leader ? "leader" : "follower",
    term: 3,
    leader,
    commitIndex: 57,
    appliedIndex: 57,
    height: 9,
    logSize: 9,
    ...extra,
  });
}

/** A problem document as sites answer one. */
function problemOf(status: number, slug: string, detail: string, extra = {}) {
  return new Response(
    JSON.stringify({
      type: `https://edgeledger.dev/problems/${slug}`,
      title: slug,
      status,
      detail,
      instance: "/v1/admin",
      requestId: crypto.randomUUID(),
      ...extra,
    }),
    { status, headers: { "content-type": "application/problem+json" } },
  );
}

/**
 * A new site's public key as `task sitekey` prints it, one that does not
 * start with "--" (a flag's value may not: `--public-key=--…` passes one).
 */
function sitePublicKey(): string {
  for (;;) {
    const pk = base64urlEncode(generateKeyPair().publicKey);
    if (!pk.startsWith("--")) return pk;
  }
}

/**
 * A URL nothing listens at, on a port below the ephemeral range (see
 * closedPort()): a closed port the system gave could be taken meanwhile by
 * an outgoing connection, even this test's own.
 */
function closedUrl(): string {
  return `http://127.0.0.1:${closedPort()}`;
}

Deno.test("member add: needs NAME, --peer-url and exactly one of --public-key and --key-file (exit 2, before any request)", async () => {
  const site = scriptedSite(() => statusOf("site-a", "site-a"));
  try {
    const env = { EDGELEDGER_ADMIN_KEY: ADMIN_KEY };
    const base = ["member", "add", "--url", site.url];
    const pk = sitePublicKey();
    const cases: Array<[string[], RegExp]> = [
      [[...base, "--peer-url", "http://127.0.0.1:7004", "--public-key", pk], /^Missing NAME/],
      [[...base, "site-d", "--public-key", pk], /^Flag --peer-url is required/],
      [
        [...base, "site-d", "--peer-url", "ftp://x", "--public-key", pk],
        /--peer-url must be an http/,
      ],
      [
        [...base, "Site D", "--peer-url", "http://x:1", "--public-key", pk],
        /NAME must be a site name/,
      ],
      [
        [...base, "site-d", "--peer-url", "http://x:1"],
        /^Give either --public-key B64URL or --key-file/,
      ],
      [
        [...base, "site-d", "--peer-url", "http://x:1", "--public-key", pk, "--key-file", "k.json"],
        /^Give either --public-key/,
      ],
      [
        [...base, "site-d", "--peer-url", "http://x:1", "--public-key", "not-a-key"],
        /^Flag --public-key must be a base64url Ed25519 public key \(43 characters\) that can sign: a curve point not of small order; see/,
      ],
    ];
    for (const [args, expected] of cases) {
      const r = await cli(args, env);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.match(r.err, expected);
      assert.match(r.err, /see 'edgeledger member add --help'\n$/);
    }
    // The value of --public-key is never quoted: pasted there by mistake, it may be a private key.
    assert.doesNotMatch((await cli(cases[6][0], env)).err, /not-a-key/);
    assert.deepEqual(site.seen, []);
  } finally {
    await site.close();
  }
});

Deno.test("admin commands: a missing admin key is a usage error (exit 2) naming --admin-key-file and $EDGELEDGER_ADMIN_KEY, before any request", async () => {
  const site = scriptedSite(() => statusOf("site-a", "site-a"));
  try {
    await withTempDir(async (dir) => {
      const pk = sitePublicKey();
      for (
        const args of [
          ["member", "add", "site-d", "--peer-url", "http://127.0.0.1:7004", "--public-key", pk],
          ["member", "promote", "site-d"],
          ["member", "remove", "site-d"],
          ["leader", "transfer", "site-b"],
          ["backup", "--out", `${dir}/copy.db`],
        ]
      ) {
        // An empty variable counts as unset.
        const r = await cli([...args, "--url", site.url], { EDGELEDGER_ADMIN_KEY: "" });
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
        assert.match(
          r.err,
          /^Missing the admin key: pass --admin-key-file FILE or set \$EDGELEDGER_ADMIN_KEY; see/,
        );
      }
      const short = await cli(["member", "promote", "site-d", "--url", site.url], {
        EDGELEDGER_ADMIN_KEY: "short",
      });
      assert.equal(short.code, 2);
      assert.match(short.err, /^\$EDGELEDGER_ADMIN_KEY holds no admin key/);
      assert.ok(!short.err.includes("short"), "the variable was quoted");
      assert.deepEqual(site.seen, []);
      assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
    });
  } finally {
    await site.close();
  }
});

Deno.test("admin commands: $EDGELEDGER_ADMIN_KEY holding a file's path is refused before any request, pointing to --admin-key-file; a key with a dot that names no file goes to the site", async () => {
  const site = scriptedSite((r) =>
    r.path === "/v1/status" ? statusOf("site-a", "site-a") : Response.json({ ok: true })
  );
  try {
    await withTempDir(async (dir) => {
      const keyFile = `${dir}/admin-api-key.txt`;
      await Deno.writeTextFile(keyFile, `${ADMIN_KEY}\n`, { mode: 0o600 });
      const asPath = await cli(["member", "promote", "site-d", "--url", site.url], {
        EDGELEDGER_ADMIN_KEY: keyFile,
      });
      assert.equal(asPath.code, 2, asPath.err);
      assert.match(
        asPath.err,
        new RegExp(
          "^\\$EDGELEDGER_ADMIN_KEY holds a file's path; it takes the key itself: " +
            `use --admin-key-file ${keyFile.replaceAll(".", "\\.")}; see`,
        ),
      );
      assert.deepEqual(site.seen, []);

      // A key may hold a dot or a slash: only an existing file's name is taken for a path.
      const dotted = "k.e/y".repeat(5);
      const key = await cli(["member", "promote", "site-d", "--url", site.url], {
        EDGELEDGER_ADMIN_KEY: dotted,
      });
      assert.equal(key.code, 0, key.err);
      assert.deepEqual(site.admin().map((r) => r.authorization), [`Bearer ${dotted}`]);
    });
  } finally {
    await site.close();
  }
});

Deno.test("admin commands: the help says --admin-key-file names a file holding the key and $EDGELEDGER_ADMIN_KEY holds the key itself", async () => {
  const says =
    /a file holding the admin API key \(else the key itself from\s+\$EDGELEDGER_ADMIN_KEY\)/;
  assert.match((await cli(["member", "promote", "--help"])).out, says);
  assert.match((await cli(["--help"])).out, says);
  assert.doesNotMatch((await cli(["--help"])).out, /admin API key's file/);
});

Deno.test("admin commands: no flag takes the admin key itself, and the refusal never quotes it", async () => {
  const secret = "s3cr3t-admin-key-value-0123456789";
  for (
    const args of [
      ["member", "promote", "site-d", "--admin-key", secret],
      ["backup", "--out", "x.db", `--admin-key=${secret}`],
      // Before the command: the key is not taken for the command's name either.
      ["--admin-key", secret, "member", "remove", "site-d"],
    ]
  ) {
    const r = await cli(args);
    assert.equal(r.code, 2, r.err);
    assert.match(
      r.err,
      /^There is no flag --admin-key: a key on the command line lands in shell history; pass --admin-key-file FILE or set \$EDGELEDGER_ADMIN_KEY; see/,
    );
    assert.ok(!r.err.includes(secret) && !r.out.includes(secret));
  }
  // Every operator command's help says where the key comes from, and why not from a flag.
  for (
    const name of [
      "member add",
      "member promote",
      "member remove",
      "member rotate-key",
      "leader transfer",
      "backup",
    ]
  ) {
    const help = (await cli([...name.split(" "), "--help"])).out;
    assert.match(help, /--admin-key-file FILE/, name);
    assert.match(help, /\$EDGELEDGER_ADMIN_KEY/, name);
    assert.match(help, /shell history/, name);
  }
  assert.match((await cli(["--help"])).out, /--admin-key-file FILE .*\n(.*\n)?.*shell history/);
});

Deno.test("admin commands: the admin key file is read trimmed and sent only to admin routes; the public reads carry the API key", async () => {
  const site = scriptedSite((r) =>
    r.path === "/v1/status" ? statusOf("site-a", "site-a") : Response.json({ ok: true })
  );
  try {
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/admin.txt`, `${ADMIN_KEY}\n`, { mode: 0o600 });
      const r = await cli([
        "member",
        "promote",
        "site-d",
        "--admin-key-file",
        `${dir}/admin.txt`,
        "--api-key",
        "tenant-key",
        "--url",
        site.url,
      ]);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out, "Promoted site-d to voter\n");
      assert.equal(r.err, "");
      assert.deepEqual(site.seen.map((s) => [s.method, s.path, s.authorization]), [
        ["GET", "/v1/status", "Bearer tenant-key"],
        ["POST", "/v1/admin/members/site-d/promote", `Bearer ${ADMIN_KEY}`],
      ]);
      // A file others can read is used, with a warning; one that holds no key is never quoted.
      await Deno.chmod(`${dir}/admin.txt`, 0o644);
      const removeWith = (keyFile: string) =>
        cli(["member", "remove", "site-d", "--url", site.url, "--admin-key-file", keyFile]);
      const shared = await removeWith(`${dir}/admin.txt`);
      assert.equal(shared.code, 0, shared.err);
      assert.match(
        shared.err,
        /^Warning: the admin key file .*admin\.txt is readable by others \(mode 0644\); run chmod 600/,
      );
      await Deno.writeTextFile(`${dir}/bad.txt`, "two words\n");
      const bad = await removeWith(`${dir}/bad.txt`);
      assert.equal(bad.code, 1);
      assert.equal(
        bad.err,
        `Cannot read the admin key file ${dir}/bad.txt: it holds no admin key (one line of 16 to 256 characters without spaces)\n`,
      );
      const missing = await removeWith(`${dir}/none.txt`);
      assert.equal(missing.code, 1);
      assert.match(missing.err, /^Cannot read the admin key file .*none\.txt: no such file/);
    });
  } finally {
    await site.close();
  }
});

Deno.test("member add --key-file: sends the key file's public key (its JWK x) and never its private part, and refuses a key that is not Ed25519", async () => {
  const site = scriptedSite((r) =>
    r.path === "/v1/status" ? statusOf("site-a", "site-a") : Response.json({ ok: true })
  );
  try {
    await withTempDir(async (dir) => {
      const key = generateKeyPair("ed25519");
      const jwk = exportKey(key) as { x: string; d: string };
      await Deno.writeTextFile(`${dir}/site-key.json`, JSON.stringify(jwk) + "\n", { mode: 0o600 });
      const env = { EDGELEDGER_ADMIN_KEY: ADMIN_KEY };
      const args = [
        "member",
        "add",
        "site-d",
        "--peer-url",
        "http://127.0.0.1:7004",
        "--url",
        site.url,
      ];
      const r = await cli([...args, "--key-file", `${dir}/site-key.json`], env);
      assert.equal(r.code, 0, r.err);
      const [add] = site.admin();
      assert.deepEqual(JSON.parse(add.body), {
        name: "site-d",
        url: "http://127.0.0.1:7004",
        publicKey: jwk.x,
      });
      assert.equal(jwk.x, base64urlEncode(key.publicKey));
      assert.equal(
        r.out,
        `Added site-d (http://127.0.0.1:7004) as a learner, public key ${jwk.x}\n`,
      );
      assert.match(r.err, /promote it \(member promote site-d\) once member list shows its lag/);
      for (const text of [r.out, r.err, ...site.seen.map((s) => s.body)]) {
        assert.ok(!text.includes(jwk.d), "the private key leaked");
      }
      const json = await cli([...args, "--key-file", `${dir}/site-key.json`, "--json"], env);
      assert.deepEqual(JSON.parse(json.out), {
        change: "add",
        name: "site-d",
        role: "learner",
        url: "http://127.0.0.1:7004",
        publicKey: jwk.x,
        site: site.url,
      });
      await writeKey(`${dir}/p256.json`, generateKeyPair("p256"));
      const p256 = await cli([...args, "--key-file", `${dir}/p256.json`], env);
      assert.equal(p256.code, 1);
      assert.match(
        p256.err,
        /^Cannot use the key file .*p256\.json: it holds a p256 key, and site keys are Ed25519/,
      );
      // A key file whose public part does not match its private part is refused, unquoted.
      const other = exportKey(generateKeyPair()) as { x: string };
      await Deno.writeTextFile(`${dir}/mixed.json`, JSON.stringify({ ...jwk, x: other.x }), {
        mode: 0o600,
      });
      const mixed = await cli([...args, "--key-file", `${dir}/mixed.json`], env);
      assert.equal(mixed.code, 1);
      assert.match(mixed.err, /public key does not match the secret key/);
      assert.ok(!mixed.err.includes(jwk.d));
      assert.equal(site.admin().length, 2);
    });
  } finally {
    await site.close();
  }
});

Deno.test("member promote: sends the admin key to the leader only (found through a follower's status and member list), and follows a not_leader answer's leaderUrl once, no further", async () => {
  const env = { EDGELEDGER_ADMIN_KEY: ADMIN_KEY };
  const notLeader = (leaderUrl: string) =>
    problemOf(409, "not_leader", "Membership changes are made by the leader", { leaderUrl });
  let cLeads = true;
  // c leads now; b led when a last heard, and names c; a is a follower that still names b.
  const c = scriptedSite(() => cLeads ? Response.json({ ok: true }) : notLeader(b.url));
  const b = scriptedSite(() => notLeader(c.url));
  const a = scriptedSite((r) =>
    r.path === "/v1/status"
      ? statusOf("site-a", "site-b")
      : r.path === "/v1/sites"
      ? sitesAnswer({ "site-a": a.url, "site-b": b.url })
      : Response.json({ ok: true })
  );
  try {
    const r = await cli(["member", "promote", "site-d", "--url", a.url, "--json"], env);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), {
      change: "promote",
      name: "site-d",
      role: "voter",
      site: c.url,
    });
    assert.deepEqual(a.seen.map((s) => [s.path, s.authorization]), [
      ["/v1/status", null],
      ["/v1/sites", null],
    ]);
    assert.deepEqual(b.seen.map((s) => [s.method, s.path, s.authorization]), [
      ["POST", "/v1/admin/members/site-d/promote", `Bearer ${ADMIN_KEY}`],
    ]);
    assert.equal(c.admin().length, 1);
    // Leadership moving on and on: one hop, then who leads as the last site says, and what to do.
    cLeads = false;
    const moving = await cli(["member", "promote", "site-d", "--url", a.url], env);
    assert.equal(moving.code, 1);
    assert.equal(
      moving.err,
      `Cannot promote site site-d: ${c.url} answered not_leader, naming the leader (${b.url}), ` +
        `after leadership moved once already; the change was not made: run it again (or with ` +
        `--url ${b.url})\n`,
    );
    assert.equal(b.admin().length, 2);
    assert.equal(c.admin().length, 2);
    assert.equal(a.admin().length, 0);
  } finally {
    await a.close();
    await b.close();
    await c.close();
  }
});

Deno.test("member rotate-key: sends the admin key to the member named (its URL from the first site's list) only, and prints the retired and the new key with the old key's last block and whether its height is signed yet; a name no site lists exits 1 before anything is sent", async () => {
  const env = { EDGELEDGER_ADMIN_KEY: ADMIN_KEY };
  let signed = true;
  const b = scriptedSite(() =>
    Response.json({
      site: "site-b",
      previous: "A".repeat(43),
      publicKey: "B".repeat(43),
      untilHeight: 12,
      retirementSigned: signed,
    })
  );
  const a = scriptedSite((r) =>
    r.path === "/v1/sites"
      ? sitesAnswer({ "site-a": a.url, "site-b": b.url })
      : Response.json({ ok: true })
  );
  try {
    const r = await cli(["member", "rotate-key", "site-b", "--url", a.url], env);
    assert.equal(r.code, 0, r.err);
    assert.equal(
      r.out,
      `Rotated the key of site-b: ${"A".repeat(43)} → ${"B".repeat(43)} ` +
        "(the old key signed blocks up to 12; site-b signed that height with its new key)\n",
    );
    assert.match(r.err, /site-key\.rotated\.json.*trust update FILE/);
    assert.deepEqual(a.seen.map((x) => [x.path, x.authorization]), [["/v1/sites", null]]);
    assert.deepEqual(b.seen.map((x) => [x.method, x.path, x.authorization]), [
      ["POST", "/v1/admin/site-key", `Bearer ${ADMIN_KEY}`],
    ]);
    const json = await cli(["member", "rotate-key", "site-b", "--url", a.url, "--json"], env);
    assert.deepEqual(JSON.parse(json.out), {
      change: "rotate-key",
      name: "site-b",
      previous: "A".repeat(43),
      publicKey: "B".repeat(43),
      untilHeight: 12,
      retirementSigned: true,
    });
    signed = false;
    const later = await cli(["member", "rotate-key", "site-b", "--url", a.url], env);
    assert.match(later.out, /up to 12; site-b signs that height with its new key shortly\)\n$/);
    const unknown = await cli(["member", "rotate-key", "site-z", "--url", a.url], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /^Cannot rotate the key of site-z: .* lists no member of that name/);
    assert.equal(b.seen.length, 3);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("admin changes: a site that knows of no leader, or does not answer, exits 1 before any change is sent", async () => {
  const env = { EDGELEDGER_ADMIN_KEY: ADMIN_KEY };
  const site = scriptedSite(() => statusOf("site-a", null));
  try {
    const r = await cli(["leader", "transfer", "site-b", "--url", site.url], env);
    assert.equal(r.code, 1);
    assert.equal(
      r.err,
      "Cannot hand leadership to site-b: no site leads now (site-a knows of no leader; an " +
        "election may be under way): try again in a moment\n",
    );
    assert.deepEqual(site.admin(), []);
    const down = closedUrl();
    const gone = await cli(["member", "remove", "site-d", "--url", down], env);
    assert.equal(gone.code, 1);
    assert.match(gone.err, new RegExp(`^Cannot remove site site-d: Cannot reach ${down}`));
  } finally {
    await site.close();
  }
});

Deno.test("leader transfer: a refusal exits 1 with the problem type and detail; the leader-to-be leading already changes nothing", async () => {
  const env = { EDGELEDGER_ADMIN_KEY: ADMIN_KEY };
  const site = scriptedSite((r) =>
    r.path === "/v1/status"
      ? statusOf("site-a", "site-a")
      : problemOf(409, "conflict", "Cannot transfer leadership to site-z now")
  );
  try {
    const r = await cli(["leader", "transfer", "site-z", "--url", site.url], env);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^Cannot hand leadership to site-z: conflict \(409\): Cannot transfer leadership to site-z now \[/,
    );
    assert.deepEqual(JSON.parse(site.admin()[0].body), { to: "site-z" });
    const self = await cli(["leader", "transfer", "site-a", "--url", site.url], env);
    assert.equal(self.code, 0, self.err);
    assert.equal(self.out, "site-a leads already\n");
    assert.equal(site.admin().length, 1);
  } finally {
    await site.close();
  }
});

Deno.test("membersView(): voters then learners, each one's match and lag from the leader's status, and which are catching up by snapshot", () => {
  const sites = [
    { name: "site-a", url: "http://a", verifierKey: "" },
    { name: "site-b", url: "http://b", verifierKey: "" },
    { name: "site-d", url: "http://d", verifierKey: "" },
  ];
  const peers = {
    "site-a": { match: 57, next: 58, lag: 0 },
    "site-b": { match: 55, next: 58, lag: 2 },
    "site-d": { match: 12, next: 13, lag: 45 },
  };
  const leader = {
    ledger: "demo",
    site: "site-a",
    role: "leader" as const,
    term: 3,
    leader: "site-a",
    commitIndex: 57,
    appliedIndex: 57,
    height: 9,
    logSize: 9,
    voters: ["site-a", "site-b"],
    learners: ["site-d"],
    peers,
  };
  const view = membersView(leader, sites, "http://a");
  assert.deepEqual(view.members, [
    { name: "site-a", role: "voter", url: "http://a", leader: true, match: 57, lag: 0 },
    { name: "site-b", role: "voter", url: "http://b", leader: false, match: 55, lag: 2 },
    { name: "site-d", role: "learner", url: "http://d", leader: false, match: 12, lag: 45 },
  ]);
  assert.equal(view.fromLeader, true);
  assert.equal(
    formatMembers(view),
    [
      "NAME    ROLE     LEADER  URL       MATCH  LAG",
      "site-a  voter    yes     http://a  57     0",
      "site-b  voter            http://b  55     2",
      "site-d  learner          http://d  12     45",
      "Leader site-a, term 3, commit index 57",
    ].join("\n"),
  );
  // A member catching up by snapshot, as the leader heard: said under the table.
  const catching = membersView(
    { ...leader, peers: { ...peers, "site-b": { ...peers["site-b"], catchingUp: true } } },
    sites,
    "http://a",
  );
  assert.equal(catching.members[1].catchingUp, true);
  assert.equal(catching.members[0].catchingUp, undefined);
  assert.match(
    formatMembers(catching),
    /commit index 57\nsite-b is catching up by snapshot: it votes, but stands for no election until its blocks are in$/,
  );
  // A follower's view: no match or lag, and it says whose view it is.
  const follower = membersView(
    { ...leader, site: "site-b", role: "follower", peers: undefined },
    sites,
    "http://b",
  );
  assert.ok(follower.members.every((m) => m.match === null && m.lag === null));
  assert.equal(
    formatMembers(follower),
    [
      "NAME    ROLE     LEADER  URL       MATCH  LAG",
      "site-a  voter    yes     http://a  -      -",
      "site-b  voter            http://b  -      -",
      "site-d  learner          http://d  -      -",
      "Leader site-a, term 3, commit index 57; http://b's view (not the leader's): match and " +
      "lag unknown",
    ].join("\n"),
  );
  // A lone site runs no consensus: it is its one voter, and leads.
  const lone = membersView(
    { ...leader, voters: undefined, learners: undefined, peers: undefined } as never,
    sites.slice(0, 1),
    "http://a",
  );
  assert.deepEqual(lone.members, [
    { name: "site-a", role: "voter", url: "http://a", leader: true, match: null, lag: null },
  ]);
  assert.throws(
    () => membersView({ ...leader, voters: "site-a" } as never, sites, "http://a"),
    /Cannot read the members from http:\/\/a: its status breaks the API schema: voters/,
  );
});

Deno.test("member list: asks the leader a follower names, and shows each member's match and lag", async () => {
  const sitesOf = (a: string, b: string) =>
    Response.json({
      sites: [
        { name: "site-a", url: a, verifierKey: "site-a+00000000+AA" },
        { name: "site-b", url: b, verifierKey: "site-b+00000000+AA" },
      ],
    });
  const consensus = { voters: ["site-a", "site-b"], learners: [] };
  const leader = scriptedSite((r) =>
    r.path === "/v1/sites" ? sitesOf(follower.url, leader.url) : statusOf("site-b", "site-b", {
      ...consensus,
      peers: { "site-a": { match: 50, lag: 7 }, "site-b": { match: 57, lag: 0 } },
    })
  );
  const follower = scriptedSite((r) =>
    r.path === "/v1/sites"
      ? sitesOf(follower.url, leader.url)
      : statusOf("site-a", "site-b", consensus)
  );
  try {
    const r = await cli(["member", "list", "--url", follower.url, "--json"]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, "");
    const view = JSON.parse(r.out);
    assert.equal(view.leader, "site-b");
    assert.equal(view.site, leader.url);
    assert.deepEqual(
      view.members.map((
        m: { name: string; leader: boolean; match: number; lag: number },
      ) => [m.name, m.leader, m.match, m.lag]),
      [
        ["site-a", false, 50, 7],
        ["site-b", true, 57, 0],
      ],
    );
    // The leader gone: the follower's view, said on stderr, still exit 0.
    await leader.close();
    const alone = await cli(["member", "list", "--url", follower.url]);
    assert.equal(alone.code, 0, alone.err);
    assert.match(alone.out, /^NAME {4}ROLE {3}LEADER {2}URL/);
    assert.match(
      alone.err,
      /^Cannot ask the leader site-b: Cannot reach .*; match and lag unknown, showing site-a's view\n$/,
    );
  } finally {
    await follower.close();
    await leader.close().catch(() => {});
  }
});

/** The start of an SQLite database file, then `n` more bytes: what a backup's bytes begin with. */
function sqliteBytes(n: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(16 + n);
  bytes.set(new TextEncoder().encode("SQLite format 3\0"));
  for (let i = 16; i < bytes.length; i++) bytes[i] = i % 251;
  return bytes;
}

const BACKUP_HEADERS = {
  "content-type": "application/vnd.sqlite3",
  "content-disposition": 'attachment; filename="demo-site-a-9.db"',
  "x-edgeledger-backup-height": "9",
  "x-edgeledger-backup-head": "ab".repeat(32),
  "x-edgeledger-backup-applied-index": "12",
};

Deno.test("backup --out: refuses an existing file before asking any site (exit 2, naming it and --force)", async () => {
  await withTempDir(async (dir) => {
    const site = scriptedSite(() => new Response(null, { status: 500 }));
    try {
      await Deno.writeTextFile(`${dir}/copy.db`, "precious");
      const r = await cli(["backup", "--out", `${dir}/copy.db`, "--url", site.url], {
        EDGELEDGER_ADMIN_KEY: ADMIN_KEY,
      });
      assert.equal(r.code, 2);
      assert.equal(
        r.err,
        `Cannot write the backup ${dir}/copy.db: it exists (pass --force to replace it)\n`,
      );
      assert.equal(await Deno.readTextFile(`${dir}/copy.db`), "precious");
      assert.deepEqual(site.seen, []);
      const noOut = await cli(["backup"], { EDGELEDGER_ADMIN_KEY: ADMIN_KEY });
      assert.equal(noOut.code, 2);
      assert.match(noOut.err, /^Flag --out is required/);
    } finally {
      await site.close();
    }
  });
});

Deno.test("backup: streams the copy of the first --url site that answers to --out (mode 0600) and prints what the headers say it holds", async () => {
  const bytes = sqliteBytes(300_000);
  const site = scriptedSite(() =>
    new Response(bytes, { headers: { ...BACKUP_HEADERS, "content-length": String(bytes.length) } })
  );
  try {
    await withTempDir(async (dir) => {
      const env = { EDGELEDGER_ADMIN_KEY: ADMIN_KEY };
      const down = closedUrl();
      const r = await cli(
        ["backup", "--out", `${dir}/copy.db`, "--url", down, "--url", site.url],
        env,
      );
      assert.equal(r.code, 0, r.err);
      assert.equal(
        r.out,
        `Wrote the backup of ${site.url} to ${dir}/copy.db: height 9, head ${"ab".repeat(32)}, ` +
          `applied index 12, ${bytes.length} bytes\n`,
      );
      assert.deepEqual(await Deno.readFile(`${dir}/copy.db`), bytes);
      assert.equal((await Deno.stat(`${dir}/copy.db`)).mode! & 0o777, 0o600);
      assert.deepEqual(site.seen.map((s) => [s.path, s.authorization]), [
        ["/v1/admin/backup", `Bearer ${ADMIN_KEY}`],
      ]);
      const json = await cli([
        "backup",
        "--out",
        `${dir}/copy.db`,
        "--force",
        "--url",
        site.url,
        "--json",
      ], env);
      assert.equal(json.code, 0, json.err);
      assert.deepEqual(JSON.parse(json.out), {
        file: `${dir}/copy.db`,
        site: site.url,
        filename: "demo-site-a-9.db",
        height: 9,
        head: "ab".repeat(32),
        appliedIndex: 12,
        bytes: bytes.length,
      });
      assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["copy.db"]);
    });
  } finally {
    await site.close();
  }
});

Deno.test("backup: a download that breaks off, is short, or is not a database leaves nothing under --out, nor a temporary file", async () => {
  const bytes = sqliteBytes(100_000);
  let mode = "";
  const site = scriptedSite(() => {
    switch (mode) {
      case "breaks": {
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            // Less than its Content-Length: the connection ends mid-body.
            c.enqueue(bytes.subarray(0, 50_000));
            c.close();
          },
        });
        return new Response(body, {
          headers: { ...BACKUP_HEADERS, "content-length": String(bytes.length) },
        });
      }
      case "html":
        return new Response("<html>proxy login</html>", {
          headers: { "content-type": "text/html" },
        });
      default: // "not sqlite": the right type and length, the wrong bytes
        return new Response(new Uint8Array(1000), { headers: BACKUP_HEADERS });
    }
  });
  try {
    await withTempDir(async (dir) => {
      const env = { EDGELEDGER_ADMIN_KEY: ADMIN_KEY };
      const expected: Array<[string, RegExp]> = [
        ["breaks", /^Cannot download a backup: the download from .* broke off after \d+ bytes: /],
        [
          "html",
          /^Cannot download a backup: .* answered with text\/html, not a database \(application\/vnd\.sqlite3\)\n$/,
        ],
        [
          "not sqlite",
          /^Cannot download a backup: the download from .* is not an SQLite database\n$/,
        ],
      ];
      for (const [what, message] of expected) {
        mode = what;
        const r = await cli(["backup", "--out", `${dir}/copy.db`, "--url", site.url], env);
        assert.equal(r.code, 1, `${what}: ${r.err}`);
        assert.match(r.err, message, what);
        assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), [], what);
      }
    });
  } finally {
    await site.close();
  }
});

Deno.test("backup: a site's refusal exits 1 with its problem type and detail; a busy site (409) is not failed over", async () => {
  const busy = scriptedSite(() =>
    problemOf(409, "conflict", "A backup of this site is already running; retry once it has ended")
  );
  const other = scriptedSite(() => new Response(sqliteBytes(10), { headers: BACKUP_HEADERS }));
  try {
    await withTempDir(async (dir) => {
      const r = await cli([
        "backup",
        "--out",
        `${dir}/copy.db`,
        "--url",
        busy.url,
        "--url",
        other.url,
      ], {
        EDGELEDGER_ADMIN_KEY: ADMIN_KEY,
      });
      assert.equal(r.code, 1);
      assert.match(
        r.err,
        new RegExp(
          `^Cannot download a backup: conflict \\(409\\): A backup of this site is already running; retry once it has ended \\[${busy.url}, request `,
        ),
      );
      assert.deepEqual(other.seen, []);
      assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
    });
  } finally {
    await busy.close();
    await other.close();
  }
});

Deno.test("backup: a copy that cannot be written (its folder went away) lets the site's download go at once, not when the process ends", async () => {
  // A bare HTTP/1.1 site: it sends the answer's head and first bytes, then
  // waits for the client to close the connection (as a site's streamed
  // backup waits for its reader, holding its one backup slot meanwhile).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let conn: Deno.Conn | undefined;
  let folder = "";
  const letGo = (async () => {
    conn = await listener.accept();
    const buf = new Uint8Array(64 * 1024);
    await conn.read(buf);
    await Deno.remove(folder, { recursive: true });
    const first = sqliteBytes(4096);
    const head = "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.sqlite3\r\n" +
      `content-length: ${first.length + 1_000_000}\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    await conn.write(first);
    try {
      while ((await conn.read(buf)) !== null) { /* the client sends nothing more */ }
    } catch {
      // Reset by the client: let go too.
    }
    return true;
  })();
  try {
    await withTempDir(async (dir) => {
      // The folder is there when the command checks, and gone once the answer comes.
      folder = `${dir}/gone`;
      await Deno.mkdir(folder);
      const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
      const r = await cli(["backup", "--out", `${folder}/copy.db`, "--url", url], {
        EDGELEDGER_ADMIN_KEY: ADMIN_KEY,
      });
      assert.equal(r.code, 1, r.err);
      assert.match(
        r.err,
        /^Cannot write the backup .*\/gone\/copy\.db: no such file or directory\n$/,
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      const closed = await Promise.race([
        letGo,
        new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), 3000)),
      ]);
      clearTimeout(timer);
      assert.equal(closed, true, "the download's connection is still open");
    });
  } finally {
    listener.close();
    conn?.close();
    await letGo.catch(() => {});
  }
});

Deno.test("member add --public-key: refuses 43 base64url characters that are no Ed25519 public key (not a point on the curve), unquoted, before any request", async () => {
  const site = scriptedSite((r) =>
    r.path === "/v1/status" ? statusOf("site-a", "site-a") : Response.json({ ok: true })
  );
  try {
    // 32 bytes, so the right length, but no point of the curve: no site could sign with it.
    const notAPoint = base64urlEncode(new Uint8Array(32).fill(2));
    const r = await cli(
      [
        "member",
        "add",
        "site-d",
        "--peer-url",
        "http://127.0.0.1:7004",
        "--url",
        site.url,
        "--public-key",
        notAPoint,
      ],
      { EDGELEDGER_ADMIN_KEY: ADMIN_KEY },
    );
    assert.equal(r.code, 2, r.err);
    assert.match(
      r.err,
      /^Flag --public-key must be a base64url Ed25519 public key \(43 characters\) that can sign: a curve point not of small order; see/,
    );
    assert.ok(!r.err.includes(notAPoint));
    assert.deepEqual(site.seen, []);
  } finally {
    await site.close();
  }
});

Deno.test("member remove: a change the leader proposed but did not apply in time exits 1 with its commit_timeout, asked once (a retry would propose it again)", async () => {
  const env = { EDGELEDGER_ADMIN_KEY: ADMIN_KEY };
  const site = scriptedSite((r) =>
    r.path === "/v1/status"
      ? statusOf("site-a", "site-a")
      : problemOf(504, "commit_timeout", "The change (remove site-d) … may still take effect")
  );
  try {
    const r = await cli(["member", "remove", "site-d", "--url", site.url], env);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^Cannot remove site site-d: commit_timeout \(504\): The change \(remove site-d\) … may still take effect \[/,
    );
    assert.equal(site.admin().length, 1, "asked once");
  } finally {
    await site.close();
  }
});

/** A status with the fields every site sends, for formatStatus(). */
const STATUS_BASE = {
  ledger: "demo",
  site: "site-a",
  role: "leader" as const,
  term: 2,
  leader: "site-a",
  commitIndex: 9,
  appliedIndex: 9,
  height: 4,
  logSize: 7,
};

Deno.test("formatStatus() shows the disk's free space and minimum, and which sites pause writes for want of it; nothing of either when the status has neither", () => {
  const MiB = 1024 * 1024;
  const base = STATUS_BASE;
  const plain = formatStatus(base, "http://127.0.0.1:7001");
  assert.doesNotMatch(plain, /disk free|writes paused|removed/);
  const low = formatStatus({
    ...base,
    storage: { freeBytes: 100 * MiB, freeBytesMin: 512 * MiB, low: true },
    storageLow: [
      { site: "site-a", freeBytes: 100 * MiB, freeBytesMin: 512 * MiB },
      { site: "site-c", freeBytes: 1536 * MiB, freeBytesMin: 2048 * MiB },
    ],
  }, "http://127.0.0.1:7001");
  assert.match(low, /^disk free +100 MiB \(minimum 512 MiB; under it\)$/m);
  assert.match(
    low,
    /^writes paused +low disk space at site-a \(100 MiB free\), site-c \(1\.5 GiB free\)$/m,
  );
  const ok = formatStatus({
    ...base,
    storage: { freeBytes: 20 * 1024 * MiB, freeBytesMin: 512 * MiB, low: false },
  }, "http://127.0.0.1:7001");
  assert.match(ok, /^disk free +20 GiB \(minimum 512 MiB\)$/m);
  assert.doesNotMatch(ok, /writes paused/);
  assert.match(formatStatus({ ...base, removed: true }, "u"), /^removed +yes: /m);
});

Deno.test("formatStatus() says a site is catching up by snapshot, to which height, and what it does meanwhile; nothing when it is not", () => {
  assert.doesNotMatch(formatStatus(STATUS_BASE, "u"), /catching up/);
  const out = formatStatus({
    ...STATUS_BASE,
    role: "follower",
    height: 0,
    appliedIndex: 0,
    catchingUp: { snapshotIndex: 412, targetHeight: 296 },
  }, "u");
  assert.match(
    out,
    /^catching up +by snapshot, to height 296 \(entry 412\): it votes, but stands for no election until its blocks are in$/m,
  );
});

Deno.test("formatStatus() says whether the site is ready as GET /readyz judges it, naming what fails", () => {
  assert.match(formatStatus(STATUS_BASE, "u"), /^ready +yes$/m);
  assert.match(
    formatStatus({ ...STATUS_BASE, leader: null, role: "follower", healthy: false }, "u"),
    /^ready +no: the site stopped taking writes \(its log and \/v1\/status say why\); no leader is known \(an election, or no majority reachable\)$/m,
  );
});

Deno.test("formatStatus() names the members whose contract state hashed differently (the state check), and says nothing of it when none did", () => {
  const base = { ...STATUS_BASE, site: "site-c", role: "follower" as const };
  assert.doesNotMatch(formatStatus(base, "u"), /state differs/);
  const hash = (c: string) => c.repeat(64);
  const out = formatStatus({
    ...base,
    stateDivergence: [
      { site: "site-a", height: 100_000, ours: hash("a"), theirs: hash("b") },
      { site: "site-b", height: 100_000, ours: hash("a"), theirs: hash("b") },
    ],
  }, "u");
  assert.match(
    out,
    /^state differs +from site-a's at height 100000, from site-b's at height 100000 \(task integrity --replay on each names the row\)$/m,
  );
});

Deno.test("verify: what an untrusted bundle holds reaches the terminal with its control characters escaped, so it cannot redraw a failure as a success", async () => {
  const vectors = JSON.parse(
    await Deno.readTextFile(new URL("../sdk/conformance/protocol_v1.json", import.meta.url)),
  );
  const { trust, cases } = vectors.receiptBundles;
  const bundle = structuredClone(cases[0].bundle);
  const spoof = `\u001b[2K\rTransaction ${bundle.txId} is in ledger ${trust.origin}.\u001b[8m`;
  bundle.receipt.status = spoof;
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/b.json`, JSON.stringify(bundle));
    await Deno.writeTextFile(`${dir}/t.json`, JSON.stringify({ v: 1, ...trust }));
    const failed = await cli(["verify", `${dir}/b.json`, "--trust", `${dir}/t.json`]);
    assert.equal(failed.code, 1);
    assert.ok(!failed.err.includes("\u001b") && !failed.err.includes("\r"), failed.err);
    assert.match(failed.err, /the receipt says \\u001b\[2K\\u000dTransaction /);
    assert.match(failed.err, /\(tx_not_committed\)\n$/);
    const json = await cli(["verify", `${dir}/b.json`, "--trust", `${dir}/t.json`, "--json"]);
    assert.equal(JSON.parse(json.out).detail, `the receipt says ${spoof}`);
  });
});

Deno.test("verify --applied: a transaction its contract rejected is in the ledger (exit 0), but exits 1 with --applied; an applied one passes either way", async () => {
  const vectors = JSON.parse(
    await Deno.readTextFile(new URL("../sdk/conformance/protocol_v1.json", import.meta.url)),
  );
  const { trust, cases } = vectors.receiptBundles;
  const applied = cases[0].bundle;
  const rejected = cases[1].bundle;
  assert.equal(applied.receipt.result.status, "applied");
  assert.equal(rejected.receipt.result.status, "rejected");
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/t.json`, JSON.stringify({ v: 1, ...trust }));
    await Deno.writeTextFile(`${dir}/a.json`, JSON.stringify(applied));
    await Deno.writeTextFile(`${dir}/r.json`, JSON.stringify(rejected));
    const verify = (file: string, ...flags: string[]) =>
      cli(["verify", `${dir}/${file}`, "--trust", `${dir}/t.json`, ...flags]);
    const plain = await verify("r.json");
    assert.equal(plain.code, 0, plain.err);
    assert.match(plain.out, /rejected by its contract/);
    const strict = await verify("r.json", "--applied");
    assert.equal(strict.code, 1);
    assert.match(strict.out, /rejected by its contract/, "what was proven is still said");
    assert.match(strict.err, /is in the ledger, but its contract did not apply it/);
    assert.equal((await verify("a.json", "--applied")).code, 0);
  });
});

Deno.test("printable: what the command line prints keeps its newlines and escapes every other control or bidirectional character; JSON keeps its meaning", async () => {
  const { printable } = await import("./cli/output.ts");
  const hostile = "ok\u001b[2K\rfake\u0085\u202etxt\u0007";
  assert.equal(
    printable(`a\n${hostile}\n`),
    "a\nok\\u001b[2K\\u000dfake\\u0085\\u202etxt\\u0007\n",
  );
  const json = JSON.stringify({ detail: "x\u009by\u2066z" }, null, 2);
  assert.deepEqual(JSON.parse(printable(json)), JSON.parse(json));
  assert.ok(!/[\u0080-\u009f\u2066]/.test(printable(json)));
});

// ---- what an audit of every command found -------------------------------------

/** A site on 127.0.0.1 that answers each request with `handler`, given its URL (query included). */
function urlSite(handler: (url: URL) => Response | Promise<Response>) {
  const seen: URL[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    seen.push(url);
    return handler(url);
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, seen, close: () => server.shutdown() };
}

/** A checkpoint of the empty-rooted log of `size` at `height`, signed by each [name, key]. */
function checkpointNote(
  size: number,
  height: number,
  signers: Array<[string, ReturnType<typeof generateKeyPair>]>,
): string {
  const text = formatCheckpoint({
    origin: "edgeledger.test/demo",
    size,
    rootHash: new Uint8Array(32),
    height,
    blockHash: "00".repeat(32),
  });
  return assembleNote(text, signers.map(([name, k]) => signNoteLine(text, name, k.secretKey)));
}

/** A proof bundle of a made-up transaction against `checkpoint` (only the checkpoint is real). */
function bundleOf(checkpoint: string, size: number) {
  const txId = "ab".repeat(32);
  return {
    txId,
    tx: {},
    receipt: { txId, status: "committed" },
    proof: { logIndex: 0, treeSize: size, leaf: "", proof: [] },
    checkpoint,
  };
}

/** A follower's 503 `not_leader` for a read at `consistency=leader`, naming `leaderUrl`. */
function notLeaderAnswer(leaderUrl: string | null) {
  return problemOf(503, "not_leader", "Site site-a is not the leader", {
    leader: leaderUrl === null ? null : "site-b",
    leaderUrl,
    retryAfter: 1,
  });
}

Deno.test("proof of a transaction a follower does not know (--url that follower only) says the site does not know it (tx_not_found), not the leader retry's not_leader", async () => {
  const note = checkpointNote(0, 0, [["site-a", generateKeyPair()]]);
  const site = urlSite((url) => {
    if (url.searchParams.get("consistency") === "leader") {
      return notLeaderAnswer("http://127.0.0.1:9");
    }
    if (url.pathname === "/v1/checkpoint") return new Response(note);
    return problemOf(404, "not_found", "No such transaction");
  });
  try {
    const txId = "cd".repeat(32);
    const r = await cli(["proof", txId, "--url", site.url, "--timeout", "1s"]);
    assert.equal(r.code, 1, r.err);
    assert.equal(
      r.err,
      `Cannot fetch the proof of transaction ${txId}: the site does not know this transaction ` +
        "(tx_not_found)\n",
    );
    // The leader was asked, and its refusal is not what was reported.
    assert.ok(
      site.seen.some((u) =>
        u.pathname === `/v1/txs/${txId}` && u.searchParams.get("consistency") === "leader"
      ),
    );
  } finally {
    await site.close();
  }
});

Deno.test("tx get and checkpoint --consistency leader asked of a follower name the leader and the --url to use, as the admin commands do", async () => {
  const leaderUrl = "http://127.0.0.1:9";
  const site = urlSite(() => notLeaderAnswer(leaderUrl));
  try {
    const txId = "ab".repeat(32);
    const tx = await cli(["tx", "get", txId, "--consistency", "leader", "--url", site.url]);
    assert.equal(tx.code, 1, tx.err);
    assert.match(
      tx.err,
      new RegExp(
        `^Cannot read transaction ${txId}: not_leader \\(503\\): Site site-a is not the leader ` +
          `— the leader is site-b: pass --url http://127\\.0\\.0\\.1:9 \\[`,
      ),
    );
    const cp = await cli(["checkpoint", "--consistency", "leader", "--url", site.url]);
    assert.equal(cp.code, 1, cp.err);
    assert.match(cp.err, /— the leader is site-b: pass --url http:\/\/127\.0\.0\.1:9 \[/);
  } finally {
    await site.close();
  }
});

Deno.test("--min-height asks each --url site once (each waits up to 5 s) and fails when none has the block, without asking them again for half a minute", async () => {
  const behind = () =>
    problemOf(503, "unavailable", "Site has applied block 3, not 50", {
      height: 3,
      minHeight: 50,
      retryAfter: 1,
    });
  const a = urlSite(behind);
  const b = urlSite(behind);
  try {
    const started = performance.now();
    const r = await cli([
      "tx",
      "get",
      "ab".repeat(32),
      "--min-height",
      "50",
      "--url",
      a.url,
      "--url",
      b.url,
    ]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /unavailable \(503\): Site has applied block 3, not 50/);
    assert.deepEqual([a.seen.length, b.seen.length], [1, 1]);
    assert.ok(performance.now() - started < 2500, "asked again after the sites' Retry-After");
    const cp = await cli(["checkpoint", "--min-height", "50", "--url", a.url]);
    assert.equal(cp.code, 1, cp.err);
    assert.equal(a.seen.length, 2);
  } finally {
    await a.close();
    await b.close();
  }
  const help = (await cli(["tx", "get", "--help"])).out;
  assert.match(help, /each --url site is asked once and waits up to 5 s/);
});

Deno.test("trust update replaces the trust file with mode 0600, as its help says", async () => {
  await withTempDir(async (dir) => {
    const [a0, a1, b0] = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
    const b64 = (k: ReturnType<typeof generateKeyPair>) => base64urlEncode(k.publicKey);
    const text = utf8Encode(rotationText("site-a", b64(a0), b64(a1)));
    const site = scriptedSite((r) => {
      const sites = [
        {
          name: "site-a",
          url: "http://127.0.0.1:1",
          verifierKey: verifierKey("site-a", a1.publicKey),
        },
        {
          name: "site-b",
          url: "http://127.0.0.1:1",
          verifierKey: verifierKey("site-b", b0.publicKey),
        },
      ];
      if (r.path === "/v1/sites") return Response.json({ sites });
      const name = /^\/v1\/sites\/([^/]+)\/keys$/.exec(r.path)?.[1];
      return Response.json({
        name,
        verifierKey: sites.find((s) => s.name === name)!.verifierKey,
        rotations: name === "site-a"
          ? [{
            name: "site-a",
            previous: b64(a0),
            publicKey: b64(a1),
            previousSig: base64urlEncode(signSync(a0, text)),
            newSig: base64urlEncode(signSync(a1, text)),
          }]
          : [],
        retired: name === "site-a"
          ? [{
            verifierKey: verifierKey("site-a", a0.publicKey),
            untilHeight: 7,
            signer: b64(a1),
            signature: base64urlEncode(
              signSync(a1, utf8Encode(retirementText("site-a", b64(a0), 7))),
            ),
          }]
          : [],
      });
    });
    try {
      const file = `${dir}/trust.json`;
      await Deno.writeTextFile(
        file,
        JSON.stringify({
          v: 1,
          origin: "edgeledger.test/demo",
          quorum: 2,
          trustedKeys: [verifierKey("site-a", a0.publicKey), verifierKey("site-b", b0.publicKey)],
        }),
      );
      await Deno.chmod(file, 0o644);
      const r = await cli(["trust", "update", file, "--url", site.url]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /Updated .*trust\.json: 1 key\(s\) followed/);
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      assert.match((await cli(["trust", "update", "--help"])).out, /mode 0600/);
    } finally {
      await site.close();
    }
  });
});

Deno.test("help GROUP shows the group's help (exit 0), as GROUP --help does, and the top-level help lists help", async () => {
  for (const group of ["key", "tx", "trust", "member", "leader"]) {
    const viaHelp = await cli(["help", group]);
    assert.equal(viaHelp.code, 0, `help ${group}: ${viaHelp.err}`);
    assert.equal(viaHelp.err, "");
    assert.equal(viaHelp.out, (await cli([group, "--help"])).out);
    assert.match(viaHelp.out, new RegExp(`^usage: edgeledger ${group} <command>`));
  }
  assert.match((await cli(["--help"])).out, /\n {2}help \[COMMAND\] +This help/);
  // A group alone is still a usage error.
  assert.equal((await cli(["tx"])).code, 2);
});

Deno.test("an answer that is not the API's (another server's HTML page) is one short line saying so, never the page", async () => {
  const page = "<!DOCTYPE html>\n<html>\n<head><title>404 Not Found</title>\n" +
    "<style>\nbody { color: red }\n</style></head>\n<body>\n<h1>Not Found</h1>\n" +
    "<p>The requested URL was not found on this server, nor on any other one of ours.</p>\n" +
    "</body>\n</html>\n";
  const html = (status: number) => () =>
    new Response(page, { status, headers: { "content-type": "text/html" } });
  const notFound = urlSite(html(404));
  const badGateway = urlSite(html(502));
  try {
    const txId = "ab".repeat(32);
    const runs = [
      await cli(["status", "--url", notFound.url]),
      await cli(["tx", "get", txId, "--url", notFound.url]),
      await cli(["checkpoint", "--url", notFound.url]),
      await cli(["proof", txId, "--url", notFound.url]),
      await cli(["sites", "--url", badGateway.url]),
    ];
    for (const r of runs) {
      assert.equal(r.code, 1, r.err);
      assert.equal(r.err.trimEnd().split("\n").length, 1, r.err);
      assert.doesNotMatch(r.err, /<|color: red/);
      assert.match(r.err, /answered (404|502) with an HTML page, not an edgeledger API answer: "/);
      // Cut short: the page's last words are not there.
      assert.doesNotMatch(r.err, /any other one of ours/);
    }
    assert.match(
      runs[0].err,
      new RegExp(
        `^Cannot read the site's status: ${notFound.url} answered 404 with an HTML page, not an ` +
          `edgeledger API answer: "404 Not Found Not Found The requested URL was not found on .*…"\n$`,
      ),
    );
    assert.match(runs[3].err, /\(unavailable\)\n$/);
  } finally {
    await notFound.close();
    await badGateway.close();
  }
});

/** A trust file at `path` of one site, `site-a` with `site`'s key, quorum 1, origin edgeledger.test/demo. */
async function writeOneSiteTrust(path: string, site: { publicKey: Uint8Array }): Promise<void> {
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      v: 1,
      origin: "edgeledger.test/demo",
      quorum: 1,
      trustedKeys: [verifierKey("site-a", site.publicKey)],
    }),
  );
}

Deno.test("proof and verify --state say why a connection failed as the other commands do (connection refused), not in Deno's words", async () => {
  const down = closedUrl();
  const refused = /connection refused \(is a site running at that address and port\?\)/;
  const proof = await cli(["proof", "ab".repeat(32), "--url", down, "--timeout", "1s"]);
  assert.equal(proof.code, 1, proof.err);
  assert.match(proof.err, refused);
  assert.doesNotMatch(proof.err, /fetch failed|os error|tcp connect/);
  await withTempDir(async (dir) => {
    const site = generateKeyPair();
    await writeOneSiteTrust(`${dir}/t.json`, site);
    await Deno.writeTextFile(
      `${dir}/b.json`,
      JSON.stringify(bundleOf(checkpointNote(2, 2, [["site-a", site]]), 2)),
    );
    // Kept from before: a smaller tree, which only a site's consistency proof links.
    const kept = {
      origin: "edgeledger.test/demo",
      size: 1,
      rootHash: "11".repeat(32),
      height: 1,
      blockHash: "22".repeat(32),
      note: "(the checkpoint of size 1)",
    };
    await Deno.writeTextFile(`${dir}/s.json`, JSON.stringify(kept));
    const r = await cli([
      "verify",
      `${dir}/b.json`,
      "--trust",
      `${dir}/t.json`,
      "--state",
      `${dir}/s.json`,
      "--url",
      down,
    ]);
    assert.equal(r.code, 1, r.err);
    assert.equal(r.err.trimEnd().split("\n").length, 1, r.err);
    assert.match(
      r.err,
      /cannot fetch a consistency proof: Cannot reach http:\/\/127\.0\.0\.1:\d+: /,
    );
    assert.match(r.err, refused);
    assert.match(r.err, /\(unavailable\)\n$/);
    assert.doesNotMatch(r.err, /fetch failed|os error|tcp connect/);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/s.json`)), kept);
  });
});

Deno.test("verify --state into a folder that does not exist, or under a file, is refused before any work (exit 2), naming the folder; none is made", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "");
    const missing = await cli([
      "verify",
      `${dir}/no-bundle.json`,
      "--trust",
      `${dir}/no-trust.json`,
      "--state",
      `${dir}/nodir/s.json`,
    ]);
    assert.equal(missing.code, 2, missing.err);
    assert.equal(
      missing.err,
      `Cannot use the state file ${dir}/nodir/s.json: its folder ${dir}/nodir does not exist ` +
        "(it is not created)\n",
    );
    const underFile = await cli([
      "verify",
      `${dir}/no-bundle.json`,
      "--trust",
      `${dir}/no-trust.json`,
      "--state",
      `${dir}/file/s.json`,
    ]);
    assert.equal(underFile.code, 2, underFile.err);
    assert.equal(
      underFile.err,
      `Cannot use the state file ${dir}/file/s.json: ${dir}/file is not a folder\n`,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["file"]);
  });
});

Deno.test("verify --state: a state file that is not JSON is one line saying so, never quoting it; a folder is not a file", async () => {
  await withTempDir(async (dir) => {
    const site = generateKeyPair();
    await writeOneSiteTrust(`${dir}/t.json`, site);
    await Deno.writeTextFile(
      `${dir}/b.json`,
      JSON.stringify(bundleOf(checkpointNote(1, 1, [["site-a", site]]), 1)),
    );
    const verify = (state: string) =>
      cli(["verify", `${dir}/b.json`, "--trust", `${dir}/t.json`, "--state", state]);
    await Deno.writeTextFile(`${dir}/garbage`, "secret-ish\nline two {");
    const garbage = await verify(`${dir}/garbage`);
    assert.equal(garbage.code, 1, garbage.err);
    assert.equal(garbage.err, `Cannot use the state file ${dir}/garbage: not JSON\n`);
    await Deno.mkdir(`${dir}/folder`);
    const folder = await verify(`${dir}/folder`);
    assert.equal(folder.code, 1, folder.err);
    assert.equal(folder.err, `Cannot use the state file ${dir}/folder: not a file\n`);
  });
});

Deno.test("trust init: a --quorum above the site keys found is a usage error (exit 2), and nothing is written", async () => {
  await withTempDir(async (dir) => {
    const genesis = {
      origin: "edgeledger.test/demo",
      sites: [0, 1, 2].map((i) => ({
        name: `site-${i}`,
        publicKey: base64urlEncode(generateKeyPair().publicKey),
      })),
    };
    await Deno.writeTextFile(`${dir}/genesis.json`, JSON.stringify(genesis));
    const args = ["trust", "init", "--genesis", `${dir}/genesis.json`, "--out", `${dir}/t.json`];
    const r = await cli([...args, "--quorum", "5"]);
    assert.equal(r.code, 2, r.err);
    assert.equal(
      r.err,
      "Flag --quorum must be at most 3 (the site keys the trust file would hold), not 5; see " +
        "'edgeledger trust init --help'\n",
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["genesis.json"]);
    const three = await cli([...args, "--quorum", "3"]);
    assert.equal(three.code, 0, three.err);
    assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/t.json`)).quorum, 3);
  });
});

Deno.test("watch --help says Ctrl-C exits 0, and that through npx the shell sees 130 (npm dies of the signal)", async () => {
  const help = (await cli(["watch", "--help"])).out.replaceAll("\n", " ");
  assert.match(help, /Ctrl-C stops it \(exit 0\)/);
  assert.match(
    help,
    /through npx .*130 .*npm itself dies of the signal; deno task cli or deno run exits 0/,
  );
});

Deno.test("leader transfer --json says change none when NAME leads already, as member update does for its no-op", async () => {
  const env = { EDGELEDGER_ADMIN_KEY: ADMIN_KEY };
  const site = scriptedSite(() => statusOf("site-a", "site-a"));
  try {
    const r = await cli(["leader", "transfer", "site-a", "--url", site.url, "--json"], env);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), {
      change: "none",
      leader: "site-a",
      previous: "site-a",
      site: site.url,
    });
    assert.deepEqual(site.admin(), []);
  } finally {
    await site.close();
  }
});

Deno.test("trust init --url of a site removed from the cluster is refused (exit 1, nothing written): its member list is stale; a member given next is asked instead", async () => {
  const keys = {
    "site-a": generateKeyPair(),
    "site-b": generateKeyPair(),
    "site-c": generateKeyPair(),
  };
  const sitesOf = (names: Array<keyof typeof keys>) =>
    Response.json({
      sites: names.map((name) => ({
        name,
        url: "http://127.0.0.1:1",
        verifierKey: verifierKey(name, keys[name].publicKey),
      })),
    });
  const origin = { origin: "edgeledger.test/demo" };
  // site-c was removed: it still runs, with the members it knew (itself among them).
  const removed = scriptedSite((r) =>
    r.path === "/v1/status"
      ? statusOf("site-c", "site-a", {
        ...origin,
        removed: true,
        voters: ["site-a", "site-b", "site-c"],
        learners: [],
      })
      : sitesOf(["site-a", "site-b", "site-c"])
  );
  const member = scriptedSite((r) =>
    r.path === "/v1/status"
      ? statusOf("site-a", "site-a", { ...origin, voters: ["site-a", "site-b"], learners: [] })
      : sitesOf(["site-a", "site-b"])
  );
  try {
    await withTempDir(async (dir) => {
      const r = await cli(["trust", "init", "--url", removed.url, "--out", `${dir}/t.json`]);
      assert.equal(r.code, 1, r.err);
      assert.equal(
        r.err,
        `Cannot build the trust file: site-c (${removed.url}) was removed from the cluster, so ` +
          "its member list is stale: pass a member's URL with --url\n",
      );
      assert.deepEqual([...Deno.readDirSync(dir)], []);
      const next = await cli([
        "trust",
        "init",
        "--url",
        removed.url,
        "--url",
        member.url,
        "--out",
        `${dir}/t.json`,
      ]);
      assert.equal(next.code, 0, next.err);
      assert.match(next.out, /2 site key\(s\) \(site-a, site-b\), quorum 2/);
    });
  } finally {
    await removed.close();
    await member.close();
  }
});

Deno.test("standard input is read once: verify - --trust - and member add --key-file - --admin-key-file - are usage errors (exit 2); the help says what - reads", async () => {
  const both = await cli(["verify", "-", "--trust", "-"], {}, "{}");
  assert.equal(both.code, 2, both.err);
  assert.equal(
    both.err,
    "Only one of BUNDLE - and --trust - can read standard input; see 'edgeledger verify --help'\n",
  );
  const add = await cli(
    [
      "member",
      "add",
      "site-d",
      "--peer-url",
      "http://127.0.0.1:9",
      "--key-file",
      "-",
      "--admin-key-file",
      "-",
      "--url",
      "http://127.0.0.1:9",
    ],
    {},
    "{}",
  );
  assert.equal(add.code, 2, add.err);
  assert.match(add.err, /^Only one of --key-file - and --admin-key-file - can read standard input/);
  // trust update replaces its FILE: standard input is no file to replace.
  const update = await cli(["trust", "update", "-", "--url", "http://127.0.0.1:9"], {}, "{}");
  assert.equal(update.code, 2, update.err);
  assert.match(
    update.err,
    /^FILE cannot be - \(standard input\): trust update replaces it in place/,
  );
  const help = async (...words: string[]) =>
    (await cli([...words, "--help"])).out.replaceAll(/\s+/g, " ");
  assert.match(
    await help("tx", "sign"),
    /--key FILE … a signer's key file \(required; - reads it from standard input\)/,
  );
  assert.match(
    await help("verify"),
    /--trust FILE +the trust file: .*- reads it from standard input/,
  );
  assert.match(
    await help("member", "promote"),
    /--admin-key-file FILE .*- reads it from standard input/,
  );
  assert.match(
    (await cli(["--help"])).out.replaceAll(/\s+/g, " "),
    /--admin-key-file FILE .*- reads it from standard input/,
  );
});

Deno.test("key show of a file that is not a key (an envelope) says it is not a key file, a private JWK as key new writes", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/anchor.json`, JSON.stringify({ v: 1, kind: "data.anchor" }));
    const r = await cli(["key", "show", `${dir}/anchor.json`]);
    assert.equal(r.code, 1);
    assert.equal(
      r.err,
      `Cannot read the key file ${dir}/anchor.json: not a key file (a private JWK, as key new ` +
        "writes)\n",
    );
    const array = await cli(["key", "show", "-"], {}, "[1, 2]");
    assert.match(array.err, /^Cannot read the key file from standard input: not a key file/);
  });
});

Deno.test("help text is filled: no description line stops short while the next word would fit in 80 columns, none is wider than 100", async () => {
  for (const c of COMMANDS) {
    const out = (await cli([...c.name.split(" "), "--help"])).out;
    const description = out.split("\n\nFlags:")[0].split("\n").slice(2);
    for (let i = 0; i + 1 < description.length; i++) {
      const [line, next] = [description[i], description[i + 1]];
      assert.ok(line.length <= 100, `${c.name}: ${line}`);
      if (line === "" || next === "") continue;
      assert.ok(
        line.length + 1 + next.split(" ")[0].length > 80,
        `${c.name}: "${line}" could take "${next.split(" ")[0]}"`,
      );
    }
  }
});

Deno.test("--json help says what each command prints: the site's answer as it came only for status, sites and tx get; checkpoint's rootHash is hex", async () => {
  const asItCame = new Set(["status", "sites", "tx get"]);
  for (const c of COMMANDS) {
    const help = c.flags.json?.help ?? "";
    assert.ok(help !== "", `${c.name} has --json`);
    assert.equal(/as it came/.test(help), asItCame.has(c.name), `${c.name}: ${help}`);
  }
  assert.match(COMMANDS.find((c) => c.name === "checkpoint")!.flags.json.help, /rootHash \(hex\)/);
  assert.match((await cli(["checkpoint", "--help"])).out, /rootHash is\s+hex/);
  const top = (await cli(["--help"])).out.replaceAll(/\s+/g, " ");
  assert.match(
    top,
    /--json print JSON: for status, sites and tx get the site's answer as it came; for the others JSON the command makes/,
  );
});

Deno.test("verify: a checkpoint short of the quorum because trusted sites signed with keys the trust file lacks hints at trust update", async () => {
  await withTempDir(async (dir) => {
    const [aOld, aNew, bOld, bNew, c] = [
      generateKeyPair(),
      generateKeyPair(),
      generateKeyPair(),
      generateKeyPair(),
      generateKeyPair(),
    ];
    await Deno.writeTextFile(
      `${dir}/trust.json`,
      JSON.stringify({
        v: 1,
        origin: "edgeledger.test/demo",
        quorum: 2,
        trustedKeys: [
          verifierKey("site-a", aOld.publicKey),
          verifierKey("site-b", bOld.publicKey),
          verifierKey("site-c", c.publicKey),
        ],
      }),
    );
    // site-a and site-b rotated their keys since the trust file was made.
    const note = checkpointNote(1, 1, [["site-a", aNew], ["site-b", bNew], ["site-c", c]]);
    await Deno.writeTextFile(`${dir}/b.json`, JSON.stringify(bundleOf(note, 1)));
    const r = await cli(["verify", `${dir}/b.json`, "--trust", `${dir}/trust.json`]);
    assert.equal(r.code, 1);
    assert.equal(r.err.trimEnd().split("\n").length, 1, r.err);
    assert.match(
      r.err,
      new RegExp(
        "\\(checkpoint_quorum_not_met\\); site-a, site-b signed with keys the trust file does " +
          `not hold: if they rotated \\(member rotate-key\\), run trust update ${dir}/trust\\.json\n$`,
      ),
    );
    // Short of the quorum for another reason (a stranger signed): no such hint.
    const stranger = checkpointNote(1, 1, [["site-z", generateKeyPair()], ["site-c", c]]);
    await Deno.writeTextFile(`${dir}/z.json`, JSON.stringify(bundleOf(stranger, 1)));
    const other = await cli(["verify", `${dir}/z.json`, "--trust", `${dir}/trust.json`]);
    assert.match(other.err, /\(checkpoint_quorum_not_met\)\n$/);
  });
});
