import assert from "node:assert/strict";
import { ed25519 } from "@noble/curves/ed25519.js";
import { base64Decode, base64Encode } from "./encoding.ts";
import { generateKeyPair } from "./keys.ts";
import { verifyEd25519With } from "./signature.ts";
import {
  assembleNote,
  NoteError,
  parseNote,
  parseVerifierKey,
  signNoteLine,
  signNoteLineWith,
  verifierKey,
  verifyNote,
  verifyNoteWith,
} from "./note.ts";

// The example key and note of Go's golang.org/x/mod/sumdb/note package.
const GO_SKEY_SEED = base64Decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").slice(1);
const GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_TEXT = "If you think cryptography is the answer to your problem,\n" +
  "then you don't know what your problem is.\n";
const GO_LINE =
  "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const GO_NOTE = GO_TEXT + "\n" + GO_LINE;

function site(name: string, fill: number) {
  const sk = new Uint8Array(32).fill(fill);
  return { name, sk, vkey: verifierKey(name, ed25519.getPublicKey(sk)) };
}
const a = site("site-a.example", 1);
const b = site("site-b.example", 2);
const c = site("site-c.example", 3);

Deno.test("verifierKey() and signNoteLine() reproduce the Go sumdb/note example", () => {
  assert.equal(verifierKey("PeterNeumann", ed25519.getPublicKey(GO_SKEY_SEED)), GO_VKEY);
  assert.equal(signNoteLine(GO_TEXT, "PeterNeumann", GO_SKEY_SEED), GO_LINE);
  assert.equal(assembleNote(GO_TEXT, [GO_LINE]), GO_NOTE);
  assert.equal(assembleNote(GO_TEXT, [GO_LINE.trimEnd()]), GO_NOTE);
});

Deno.test("verifyNote() accepts the Go sumdb/note example and rejects a tampered text", () => {
  assert.deepEqual(verifyNote(GO_NOTE, [GO_VKEY]), ["PeterNeumann"]);
  assert.deepEqual(verifyNote(GO_NOTE.replace("cryptography", "cryptographY"), [GO_VKEY]), []);
  assert.deepEqual(verifyNote(GO_NOTE, []), []);
});

Deno.test("parseVerifierKey() decodes name, key hash and key, and rejects malformed keys", () => {
  const k = parseVerifierKey(GO_VKEY);
  assert.equal(k.name, "PeterNeumann");
  assert.deepEqual(k.keyHash, new Uint8Array([0xc7, 0x4f, 0x20, 0xa3]));
  assert.deepEqual(k.publicKey, ed25519.getPublicKey(GO_SKEY_SEED));
  const bad = [
    "",
    "PeterNeumann+c74f20a3",
    "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
    "PeterNeumann+c74f20a3+" + base64Encode(new Uint8Array([2, ...new Uint8Array(32)])),
    "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    GO_VKEY + "+extra",
  ];
  for (const s of bad) assert.throws(() => parseVerifierKey(s), NoteError, s);
});

Deno.test("verifyNote() returns each co-signer that verifies, once, ignoring unknown signers", () => {
  const text = "edgeledger.example/demo\n3\n" + base64Encode(new Uint8Array(32)) + "\n";
  const note = assembleNote(text, [
    signNoteLine(text, a.name, a.sk),
    signNoteLine(text, c.name, c.sk),
    signNoteLine(text, b.name, b.sk),
  ]);
  assert.deepEqual(verifyNote(note, [a.vkey, b.vkey, c.vkey]), [a.name, b.name, c.name]);
  assert.deepEqual(verifyNote(note, [b.vkey]), [b.name]);
  assert.deepEqual(verifyNote(note, [b.vkey, b.vkey]), [b.name], "no duplicates");
  assert.deepEqual(verifyNote(note, [b.vkey, "garbage"]), [b.name], "malformed keys skipped");
  const unknown = site("site-z.example", 9);
  assert.deepEqual(verifyNote(note, [unknown.vkey]), []);
  // The same signature line twice counts once.
  const doubled = assembleNote(text, [
    signNoteLine(text, a.name, a.sk),
    signNoteLine(text, a.name, a.sk),
  ]);
  assert.deepEqual(verifyNote(doubled, [a.vkey]), [a.name]);
});

Deno.test("verifyNote() does not count a name whose key hash does not match", () => {
  const text = "hello\n";
  // Signed by key `b` under a's name: the key ID is b's, so a's verifier does not match it.
  const impostor = assembleNote(text, [signNoteLine(text, a.name, b.sk)]);
  assert.deepEqual(verifyNote(impostor, [a.vkey]), []);
  // Same name and key ID as a, but a signature from another key: the note is invalid.
  const line = signNoteLine(text, a.name, a.sk);
  const raw = base64Decode(line.trimEnd().split(" ")[2]);
  raw.set(base64Decode(signNoteLine(text, a.name, b.sk).trimEnd().split(" ")[2]).slice(4), 4);
  const forged = assembleNote(text, [
    `— ${a.name} ${base64Encode(raw)}`,
    signNoteLine(text, c.name, c.sk),
  ]);
  assert.deepEqual(
    verifyNote(forged, [a.vkey, c.vkey]),
    [],
    "a failing known signature rejects the note",
  );
  assert.deepEqual(verifyNote(forged, [c.vkey]), [c.name], "unless that key is not trusted");
});

Deno.test("parseNote() splits at the last blank line and keeps empty lines in the text", () => {
  const text = "line one\n\nline three\n";
  const note = assembleNote(text, [signNoteLine(text, a.name, a.sk)]);
  const parsed = parseNote(note);
  assert.equal(parsed.text, text);
  assert.equal(parsed.signatures.length, 1);
  assert.equal(parsed.signatures[0].name, a.name);
  assert.equal(parsed.signatures[0].signature.length, 64);
  assert.deepEqual(verifyNote(note, [a.vkey]), [a.name]);
});

Deno.test("parseNote() and verifyNote() reject malformed notes", () => {
  const line = signNoteLine(GO_TEXT, "PeterNeumann", GO_SKEY_SEED);
  const bad = [
    "",
    GO_TEXT,
    GO_TEXT + "\n",
    GO_NOTE.slice(0, -1),
    GO_TEXT + line, // no blank line
    GO_TEXT + "\n" + line.replace("—", "-"),
    GO_TEXT + "\n" + line.replace("— ", "—"),
    GO_TEXT + "\n" + line.replace("Neumann ", "Neumann"),
    GO_TEXT + "\n" + line.replace("=\n", "\n"),
    GO_TEXT + "\n" + line + "\n",
    GO_TEXT + "\n" + line + "garbage\n",
    GO_TEXT + "\n" + "— PeterNeumann AAAA\n",
    GO_TEXT.replace("If", "If\t") + "\n" + line,
    GO_TEXT.replace("\n", "\r\n") + "\n" + line,
    GO_TEXT + "\n" + line.repeat(101),
    GO_TEXT.replace("If", "\ud800") + "\n" + line,
  ];
  for (const note of bad) {
    assert.throws(() => parseNote(note), NoteError, JSON.stringify(note).slice(0, 80));
    assert.deepEqual(verifyNote(note, [GO_VKEY]), []);
  }
  // deno-lint-ignore no-explicit-any
  assert.deepEqual(verifyNote(null as any, [GO_VKEY]), []);
  // deno-lint-ignore no-explicit-any
  assert.deepEqual(verifyNote(GO_NOTE, null as any), []);
});

Deno.test("signNoteLine() and assembleNote() refuse malformed text, names and keys", () => {
  assert.throws(() => signNoteLine("no newline", a.name, a.sk), NoteError);
  assert.throws(() => signNoteLine("tab\t\n", a.name, a.sk), NoteError);
  assert.throws(() => signNoteLine("x\n", "has space", a.sk), NoteError);
  assert.throws(() => signNoteLine("x\n", "has+plus", a.sk), NoteError);
  assert.throws(() => signNoteLine("x\n", "", a.sk), NoteError);
  assert.throws(() => signNoteLine("x\n", a.name, new Uint8Array(31)), NoteError);
  assert.throws(() => assembleNote("x\n", []), NoteError);
  assert.throws(() => assembleNote("x\n", ["not a signature line"]), NoteError);
  assert.throws(() => assembleNote("x\n", ["— a AAAAAAA=\n— b AAAAAAA="]), NoteError);
  assert.throws(() => verifierKey("n", new Uint8Array(31)), NoteError);
});

Deno.test("verifyNote() accepts verifier keys whose base64 contains '+'", () => {
  let seen = 0;
  for (let i = 0; i < 200 && seen < 5; i++) {
    const kp = generateKeyPair("ed25519");
    const vkey = verifierKey("site-a", kp.publicKey);
    if (!vkey.split("+").slice(2).join("+").includes("+")) continue;
    seen++;
    const text = "example.org/log\n1\n" + "A".repeat(43) + "=\n";
    const note = assembleNote(text, [signNoteLine(text, "site-a", kp.secretKey)]);
    assert.deepEqual(verifyNote(note, [vkey]), ["site-a"]);
  }
  assert.ok(seen > 0, "generated at least one key with '+' in its base64");
});

Deno.test("signNoteLineWith() gives the same line as signNoteLine() (Ed25519 is deterministic)", async () => {
  const line = await signNoteLineWith(
    GO_TEXT,
    "PeterNeumann",
    ed25519.getPublicKey(GO_SKEY_SEED),
    (m) => Promise.resolve(ed25519.sign(m, GO_SKEY_SEED)),
  );
  assert.equal(line, GO_LINE);
  await assert.rejects(
    signNoteLineWith(
      GO_TEXT,
      "PeterNeumann",
      new Uint8Array(31),
      () => Promise.resolve(new Uint8Array(64)),
    ),
    NoteError,
  );
  await assert.rejects(
    signNoteLineWith(
      GO_TEXT,
      "PeterNeumann",
      new Uint8Array(32),
      () => Promise.resolve(new Uint8Array(63)),
    ),
    NoteError,
  );
});

Deno.test("verifyNoteWith() over a guarded permissive verifier answers as verifyNote() on good, tampered, unknown and malformed notes", () => {
  // ZIP-215 accepts more than strict RFC 8032; verifyEd25519With's guards must hide that.
  const permissive = (pk: Uint8Array, m: Uint8Array, s: Uint8Array) =>
    verifyEd25519With((k, msg, sig) => ed25519.verify(sig, msg, k, { zip215: true }), pk, m, s);
  const text = "edgeledger.example/demo\n3\n" + base64Encode(new Uint8Array(32)) + "\n";
  const note = assembleNote(text, [
    signNoteLine(text, a.name, a.sk),
    signNoteLine(text, b.name, b.sk),
  ]);
  const badSig = signNoteLine(text, c.name, c.sk).replace(
    /.(=?\n)$/,
    (m, end) => (m[0] === "A" ? "B" : "A") + end,
  );
  const cases: Array<[string, string[]]> = [
    [note, [a.vkey, b.vkey, c.vkey]],
    [note, [c.vkey]],
    [note.replace("demo", "dem0"), [a.vkey, b.vkey]],
    [assembleNote(text, [signNoteLine(text, a.name, a.sk), badSig]), [a.vkey, c.vkey]],
    [GO_NOTE, [GO_VKEY]],
    ["not a note", [a.vkey]],
    [note, ["garbage"]],
  ];
  for (const [n, keys] of cases) {
    assert.deepEqual(verifyNoteWith(n, keys, permissive), verifyNote(n, keys));
  }
  assert.deepEqual(verifyNoteWith(note, [a.vkey, b.vkey], permissive), [a.name, b.name]);
});
