import assert from "node:assert/strict";
// @ts-types="./libsql_native.d.ts"
import Libsql from "libsql";
import {
  BackupError,
  databaseInUse,
  exists,
  foldWal,
  localDatabasePath,
  publishNoClobber,
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
