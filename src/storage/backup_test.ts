import assert from "node:assert/strict";
// @ts-types="./libsql_native.d.ts"
import Libsql from "libsql";
import {
  BackupError,
  databaseInUse,
  exists,
  foldWal,
  localDatabasePath,
  lockRestores,
  partialIdleMsMin,
  publishNoClobber,
  removeRestoreLeftovers,
  removeStalePartials,
  storedDirectory,
  vacuumInto,
} from "./backup.ts";

function walDatabase(dir: string) {
  const path = `${dir}/ledger.db`;
  const db = new Libsql(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("CREATE TABLE t (x INTEGER)");
  db.exec("INSERT INTO t VALUES (1), (2), (3)");
  return { path, db };
}

Deno.test("storage backup: databaseInUse() is true while another connection holds the database open, and foldWal() then refuses with in_use", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-" });
  try {
    const { path, db } = walDatabase(dir);
    assert.equal(databaseInUse(path), true);
    await assert.rejects(
      foldWal(path),
      (e) => e instanceof BackupError && e.reason === "in_use",
    );
    assert.equal(await exists(`${path}-wal`), true);
    db.close();
    assert.equal(databaseInUse(path), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage backup: foldWal() turns a crashed writer's WAL database into one file holding every commit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-" });
  try {
    const path = `${dir}/ledger.db`;
    // A process that commits in WAL mode and dies without closing: its
    // commits are only in the -wal file.
    const script = `${dir}/crash.ts`;
    await Deno.writeTextFile(
      script,
      `import Libsql from "libsql";
const db = new Libsql(${JSON.stringify(path)});
db.exec("PRAGMA journal_mode = WAL");
db.exec("PRAGMA wal_autocheckpoint = 0");
db.exec("CREATE TABLE t (x INTEGER)");
db.exec("INSERT INTO t VALUES (1), (2), (3), (4)");
Deno.exit(0);
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", new URL("../../deno.json", import.meta.url).pathname, script],
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.ok((await Deno.stat(`${path}-wal`)).size > 0, "the commits are in the WAL");
    await foldWal(path);
    assert.equal(await exists(`${path}-wal`), false);
    assert.equal(await exists(`${path}-shm`), false);
    // Alone, the file holds every commit.
    await Deno.rename(path, `${dir}/moved.db`);
    const check = new Libsql(`${dir}/moved.db`);
    assert.equal(
      Object.values(check.prepare("SELECT count(*) AS n FROM t").get() as object)[0],
      4,
    );
    check.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage backup: vacuumInto() copies while the source is open for writing, refuses an existing target, and leaves no connection to the source behind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-" });
  try {
    const { path, db } = walDatabase(dir);
    await vacuumInto(path, `${dir}/copy.db`);
    db.exec("INSERT INTO t VALUES (4)");
    const copy = new Libsql(`${dir}/copy.db`);
    assert.equal(Object.values(copy.prepare("SELECT count(*) AS n FROM t").get() as object)[0], 3);
    copy.close();
    await assert.rejects(
      vacuumInto(path, `${dir}/copy.db`),
      (e) => e instanceof BackupError && /exists/.test(e.message),
    );
    db.close();
    // The copy's connection is gone too: nothing holds the source open.
    assert.equal(databaseInUse(path), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage backup: publishNoClobber() never replaces an existing file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-" });
  try {
    await Deno.writeTextFile(`${dir}/tmp`, "new");
    await Deno.writeTextFile(`${dir}/out`, "old");
    await assert.rejects(
      publishNoClobber(`${dir}/tmp`, `${dir}/out`),
      (e) => e instanceof BackupError && e.reason === "exists",
    );
    assert.equal(await Deno.readTextFile(`${dir}/out`), "old");
    await publishNoClobber(`${dir}/tmp`, `${dir}/out2`);
    assert.equal(await Deno.readTextFile(`${dir}/out2`), "new");
    assert.equal(await exists(`${dir}/tmp`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage backup: a libSQL server's database is refused as remote", () => {
  for (const url of ["http://127.0.0.1:8080", "libsql://db.example?tls=0", "https://x"]) {
    assert.throws(
      () => localDatabasePath(url, "back up"),
      (e) => e instanceof BackupError && e.reason === "remote" && /server's job/.test(e.message),
    );
  }
  assert.equal(localDatabasePath("file:/a%20b/ledger.db", "back up"), "/a b/ledger.db");
});

/** Writes each of `names` in `dir`, last modified `ageMs` ago. */
async function filesAged(dir: string, names: string[], ageMs: number): Promise<void> {
  const at = new Date(Date.now() - ageMs);
  for (const name of names) {
    await Deno.writeTextFile(`${dir}/${name}`, name);
    await Deno.utime(`${dir}/${name}`, at, at);
  }
}

async function namesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("storage backup: removeStalePartials() removes partial files no backup has written for a day, keeps a newer one a running backup may be writing, and no other name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-" });
  try {
    const day = partialIdleMsMin;
    await filesAged(dir, ["a.db.partial-0123abcd", "b.db.partial-89abcdef"], day + 60_000);
    await filesAged(dir, ["c.db.partial-00ff00ff"], day - 60_000);
    // Not a partial file of ours, however old.
    const others = [
      "a.db",
      "a.db.partial-0123abcd.txt",
      "a.db.partial-0123ABCD",
      "a.db.partial-0123abc",
      ".partial-0123abcd",
      "ledger.db.restoring-0123abcd",
      "ledger.db.replaced-20250601T120000Z",
    ];
    await filesAged(dir, others, 10 * day);
    await Deno.mkdir(`${dir}/d.db.partial-01234567`);

    const removed = await removeStalePartials(`${dir}/new.db`);
    assert.deepEqual(removed, [`${dir}/a.db.partial-0123abcd`, `${dir}/b.db.partial-89abcdef`]);
    assert.deepEqual(
      await namesIn(dir),
      [...others, "c.db.partial-00ff00ff", "d.db.partial-01234567"].sort(),
    );
    // A day later the newer one is stale too.
    assert.deepEqual(await removeStalePartials(`${dir}/new.db`, { now: Date.now() + day }), [
      `${dir}/c.db.partial-00ff00ff`,
    ]);
    // No folder: nothing to remove.
    assert.deepEqual(await removeStalePartials(`${dir}/missing/new.db`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage backup: removeRestoreLeftovers() removes that database's restoring copies and their side files, new or old, and never a replaced database or another database's files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-" });
  try {
    const ours = [
      "ledger.db.restoring-0123abcd",
      "ledger.db.restoring-0123abcd-journal",
      "ledger.db.restoring-0123abcd-shm",
      "ledger.db.restoring-0123abcd-wal",
      "ledger.db.restoring-89abcdef",
    ];
    await filesAged(dir, ours, 0);
    const others = [
      "ledger.db",
      "ledger.db-wal",
      "ledger.db.replaced-20250601T120000Z",
      "ledger.db.restoring-0123abcd.bak",
      "ledger.db.restoring-0123abcd-other",
      "ledger.db.restoring-xyz",
      "other.db.restoring-0123abcd",
      "xledger.db.restoring-0123abcd",
      "ledger.db.partial-0123abcd",
    ];
    await filesAged(dir, others, 0);
    const removed = await removeRestoreLeftovers(`${dir}/ledger.db`);
    assert.deepEqual(removed, ours.map((n) => `${dir}/${n}`));
    assert.deepEqual(await namesIn(dir), others.sort());
    // Where no lock can be held, only what has gone unmodified long enough.
    await filesAged(dir, ["ledger.db.restoring-00000000"], 0);
    await filesAged(dir, ["ledger.db.restoring-11111111"], 2 * partialIdleMsMin);
    assert.deepEqual(
      await removeRestoreLeftovers(`${dir}/ledger.db`, { idleMsMin: partialIdleMsMin }),
      [`${dir}/ledger.db.restoring-11111111`],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage backup: lockRestores() lets one restore into a folder at a time: another is refused with in_use until the first releases it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-" });
  try {
    const first = await lockRestores(`${dir}/site/ledger.db`);
    assert.ok(first, "this platform locks folders");
    assert.equal(await exists(`${dir}/site`), true);
    await assert.rejects(
      lockRestores(`${dir}/site/other.db`),
      (e) =>
        e instanceof BackupError && e.reason === "in_use" &&
        /another restore into .*\/site is running/.test(e.message),
    );
    first.release();
    const second = await lockRestores(`${dir}/site/ledger.db`);
    assert.ok(second);
    second.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage backup: vacuumInto() never writes the database it copies — a crashed site's WAL stays as it was, and the copy holds its rows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-ro-" });
  try {
    const source = `${dir}/ledger.db`;
    // A process that writes in WAL mode and ends without closing: its rows are in the -wal only.
    const script = `${dir}/writer.ts`;
    await Deno.writeTextFile(
      script,
      `import Libsql from "libsql";
const db = new Libsql(${JSON.stringify(source)});
db.exec("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3);");
Deno.exit(0);
`,
    );
    const ran = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-check",
        `--config=${new URL("../../deno.json", import.meta.url).pathname}`,
        script,
      ],
    }).output();
    assert.equal(ran.code, 0, new TextDecoder().decode(ran.stderr));
    const before = {
      db: await Deno.readFile(source),
      wal: await Deno.readFile(`${source}-wal`),
    };
    assert.ok(before.wal.length > 0, "the writer's rows are in its WAL");

    await vacuumInto(source, `${dir}/copy.db`);

    assert.deepEqual(await Deno.readFile(source), before.db, "the database file changed");
    assert.deepEqual(await Deno.readFile(`${source}-wal`), before.wal, "the WAL changed");
    const copy = new Libsql(`${dir}/copy.db`);
    try {
      assert.deepEqual(copy.prepare("SELECT x FROM t ORDER BY x").raw().all(), [[1], [2], [3]]);
    } finally {
      copy.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage backup: vacuumInto() copies a database whose path holds URI characters (?, #, %, %41) or starts with // (a path, never a URI authority), and opens nothing else", async () => {
  const dir = await Deno.makeTempDir({ prefix: "edgeledger-backup-uri-" });
  try {
    const names = ["a?mode=rwc.db", "b#frag.db", "c%.db", "d%41.db"];
    for (const name of names) {
      const source = `${dir}/${name}`;
      const db = new Libsql(source);
      db.exec(`CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('${name}')`);
      db.close();
    }
    // `//tmp/…` names the same file as `/tmp/…` (POSIX); as a URI it would be host "tmp".
    const sources = [...names.map((n) => `${dir}/${n}`), `/${dir}/${names[0]}`];
    for (const [i, source] of sources.entries()) {
      const copy = `${dir}/copy-${i}.db`;
      await vacuumInto(source, copy);
      const db = new Libsql(copy);
      try {
        assert.deepEqual(
          db.prepare("SELECT x FROM t").raw().all(),
          [[names[i] ?? names[0]]],
          source,
        );
      } finally {
        db.close();
      }
    }
    // Read-only: no file was made under a name the URI would have misread.
    const made = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assert.deepEqual(made, [...names, ...sources.map((_, i) => `copy-${i}.db`)].sort());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage backup: storedDirectory() reads the directory a site's database holds, and is [] for a missing file, a file that is no database, one without a directory or a malformed one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/ledger.db`;
    const db = new Libsql(path);
    db.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    assert.deepEqual(storedDirectory(path), []);
    const directory = [
      { name: "site-a", url: "http://a:7001", publicKey: "k" },
      { name: "site-b", url: "http://b:7001" },
      { name: 7, url: "x" },
    ];
    db.prepare("INSERT INTO meta VALUES ('directory', ?)").run(JSON.stringify(directory));
    assert.deepEqual(storedDirectory(path), [
      { name: "site-a", url: "http://a:7001" },
      { name: "site-b", url: "http://b:7001" },
    ]);
    db.prepare("UPDATE meta SET value = ? WHERE key = 'directory'").run("{not json");
    assert.deepEqual(storedDirectory(path), []);
    db.close();
    assert.deepEqual(storedDirectory(`${dir}/missing.db`), []);
    await Deno.writeTextFile(`${dir}/junk.db`, "not a database at all");
    assert.deepEqual(storedDirectory(`${dir}/junk.db`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
