import assert from "node:assert/strict";
import { createLogger } from "../log.ts";
import {
  DiskSpaceGuard,
  formatBytes,
  parseStorageLowReports,
  parseStorageReport,
  recoveryMarginBytes,
  statfsFreeBytes,
  storageLowReportsMax,
} from "./disk_space.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** A guard over a volume whose free bytes the test sets, and what it logged. */
function guardOver(freeBytesMin: number, start: number) {
  let free: number | Error = start;
  const records: Array<Record<string, unknown>> = [];
  const guard = new DiskSpaceGuard({
    path: "/data",
    freeBytesMin,
    intervalMs: 60_000,
    freeBytes: (path) => {
      assert.equal(path, "/data");
      return free instanceof Error ? Promise.reject(free) : Promise.resolve(free);
    },
    log: createLogger({
      format: "json",
      level: "debug",
      write: (line) => records.push(JSON.parse(line)),
    }),
  });
  return {
    guard,
    records,
    set(v: number | Error) {
      free = v;
    },
  };
}

Deno.test("a volume under the minimum is low; it is no longer low only above the minimum plus the margin", async () => {
  const t = guardOver(GiB, 2 * GiB);
  await t.guard.check();
  assert.deepEqual(t.guard.state, { freeBytes: 2 * GiB, freeBytesMin: GiB, low: false });
  t.set(GiB - 1);
  await t.guard.check();
  assert.equal(t.guard.state.low, true);
  // Back at the minimum, and just under minimum + margin: still low (no flapping).
  t.set(GiB);
  await t.guard.check();
  assert.equal(t.guard.state.low, true);
  t.set(GiB + recoveryMarginBytes(GiB) - 1);
  await t.guard.check();
  assert.equal(t.guard.state.low, true);
  t.set(GiB + recoveryMarginBytes(GiB));
  await t.guard.check();
  assert.equal(t.guard.state.low, false);
  // Each change of verdict is said once, in order: low, then recovered.
  const said = t.records.map((r) => `${r.level} ${r.msg}`);
  assert.deepEqual(said, [
    "error disk space low: this site and its cluster refuse new transactions",
    "info disk space recovered: new transactions are taken again",
  ]);
  assert.equal(t.records[0].freeBytes, GiB - 1);
});

Deno.test("the recovery margin is a tenth of the minimum, at least 16 MiB", () => {
  assert.equal(recoveryMarginBytes(GiB), Math.ceil(GiB / 10));
  assert.equal(recoveryMarginBytes(10 * MiB), 16 * MiB);
});

Deno.test("a minimum of 0 never makes a volume low, even a full one", async () => {
  const t = guardOver(0, 0);
  await t.guard.check();
  assert.deepEqual(t.guard.state, { freeBytes: 0, freeBytesMin: 0, low: false });
});

Deno.test("a volume that cannot be read keeps the last verdict and is logged once until a read succeeds", async () => {
  const t = guardOver(GiB, 10 * MiB);
  await t.guard.check();
  assert.equal(t.guard.state.low, true);
  t.set(new Error("EIO"));
  await t.guard.check();
  await t.guard.check();
  assert.equal(t.guard.state.low, true);
  assert.equal(t.records.filter((r) => r.level === "warn").length, 1);
  t.set(10 * MiB);
  await t.guard.check();
  t.set(new Error("EIO"));
  await t.guard.check();
  assert.equal(t.records.filter((r) => r.level === "warn").length, 2);
});

Deno.test("a guard refuses a minimum that is not a whole number of bytes", () => {
  for (const bad of [-1, 1.5, Number.NaN]) {
    assert.throws(() => guardOver(bad, 0), RangeError);
  }
});

Deno.test("start() looks at once and then on its interval until stop()", async () => {
  let reads = 0;
  const guard = new DiskSpaceGuard({
    path: "/data",
    freeBytesMin: GiB,
    intervalMs: 20,
    freeBytes: () => Promise.resolve(++reads > 3 ? 0 : 2 * GiB),
    log: createLogger({ write: () => {} }),
  });
  await guard.start();
  assert.equal(reads, 1);
  assert.equal(guard.state.low, false);
  const deadline = Date.now() + 5000;
  while (!guard.state.low && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  guard.stop();
  assert.equal(guard.state.low, true);
  const after = reads;
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(reads, after);
});

Deno.test("start() throws, saying what to grant, when the first look fails (Deno refuses statfs without --allow-sys=statfs)", async () => {
  const guard = new DiskSpaceGuard({
    path: "/data",
    freeBytesMin: GiB,
    intervalMs: 20,
    freeBytes: () => Promise.reject(new Error('Requires sys access to "statfs"')),
    log: createLogger({ write: () => {} }),
  });
  await assert.rejects(
    guard.start(),
    /^Error: Cannot read the free space of \/data: Requires sys access to "statfs" \(a site needs --allow-sys=statfs; or set diskFreeBytesMin to 0 to run unguarded\)$/,
  );
  guard.stop();
});

Deno.test("statfsFreeBytes reads a real volume's free bytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const free = await statfsFreeBytes(dir);
    assert.ok(Number.isSafeInteger(free) && free > 0, String(free));
    // As `df` counts it (its "Available" column), give or take what others wrote meanwhile.
    const df = await new Deno.Command("df", { args: ["-B1", "--output=avail", dir] }).output()
      .catch(() => undefined);
    if (df?.success) {
      const avail = Number(new TextDecoder().decode(df.stdout).trim().split("\n").at(-1));
      assert.ok(Math.abs(avail - free) < 64 * MiB, `statfs ${free}, df ${avail}`);
    }
    await assert.rejects(statfsFreeBytes(`${dir}/missing`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a peer's storage report is absent, well formed, or refused", () => {
  assert.equal(parseStorageReport(undefined), undefined);
  assert.deepEqual(
    parseStorageReport({ freeBytes: 5, freeBytesMin: 10, low: true }),
    { freeBytes: 5, freeBytesMin: 10, low: true },
  );
  for (
    const bad of [
      null,
      [],
      "low",
      { freeBytes: -1, freeBytesMin: 10, low: true },
      { freeBytes: 1.5, freeBytesMin: 10, low: true },
      { freeBytes: 5, low: true },
      { freeBytes: 5, freeBytesMin: 10, low: "yes" },
    ]
  ) {
    assert.throws(() => parseStorageReport(bad), TypeError, JSON.stringify(bad));
  }
});

Deno.test("a leader's relay of low members (storageLow) is absent (none), well formed, or refused", () => {
  assert.deepEqual(parseStorageLowReports(undefined), []);
  assert.deepEqual(
    parseStorageLowReports([{ site: "site-c", freeBytes: 5, freeBytesMin: 10, extra: 1 }]),
    [{ site: "site-c", freeBytes: 5, freeBytesMin: 10 }],
  );
  const one = { site: "site-c", freeBytes: 5, freeBytesMin: 10 };
  for (
    const bad of [
      null,
      "site-c",
      { ...one },
      [null],
      [{ ...one, site: "" }],
      [{ ...one, site: "x".repeat(65) }],
      [{ ...one, freeBytes: -1 }],
      [{ ...one, freeBytesMin: 1.5 }],
      Array.from({ length: storageLowReportsMax + 1 }, () => one),
    ]
  ) {
    assert.throws(() => parseStorageLowReports(bad), TypeError, JSON.stringify(bad).slice(0, 80));
  }
});

Deno.test("formatBytes says bytes in binary units", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(512 * MiB), "512 MiB");
  assert.equal(formatBytes(1.5 * GiB), "1.5 GiB");
  assert.equal(formatBytes(GiB), "1 GiB");
});
