import assert from "node:assert/strict";
import { hashKey } from "../src/api/api_keys.ts";
import { makeAdminKey, makeApiKey } from "./apikey.ts";

/** Runs `deno task apikey` as the task does: no permissions at all. */
async function apikey(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", new URL("./apikey.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("apikey: a tenant key's entry and an admin key's hash are the SHA-256 of a new 32-character key each time", () => {
  const tenant = makeApiKey("fleet-ops", 6000);
  assert.match(tenant.key, /^[A-Za-z0-9_-]{32}$/);
  assert.deepEqual(tenant.entry, {
    name: "fleet-ops",
    hash: hashKey(tenant.key),
    requestsPerMinute: 6000,
  });
  const admin = makeAdminKey();
  assert.match(admin.key, /^[A-Za-z0-9_-]{32}$/);
  assert.equal(admin.hash, hashKey(admin.key));
  assert.notEqual(makeAdminKey().key, admin.key);
});

Deno.test("apikey --admin prints a new admin key and the hash for adminKeyHashes; with anything else after it, usage and exit 2", async () => {
  const r = await apikey("--admin");
  assert.equal(r.code, 0, r.stderr);
  const key = /^admin key \(.*\): (\S+)$/m.exec(r.stdout)?.[1];
  const hash =
    /^add to "adminKeyHashes" in each site\.json, then SIGHUP each site: "([0-9a-f]{64})"$/m
      .exec(r.stdout)?.[1];
  assert.ok(key !== undefined && hash !== undefined, r.stdout);
  assert.equal(hash, hashKey(key));
  const bad = await apikey("--admin", "ops");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^usage: /);
});
