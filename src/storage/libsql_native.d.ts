// The part of the `libsql` package (better-sqlite3's API) that native.ts
// uses. Declared here because the package's own typings pull in Node's
// global types, which change `node:assert` overloads across the project.
interface LibsqlStatement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  /** Rows as arrays of column values instead of objects. */
  raw(on?: boolean): LibsqlStatement;
}

declare class Database {
  constructor(path: string);
  exec(sql: string): void;
  prepare(sql: string): LibsqlStatement;
  transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
  close(): void;
  /** Whether a transaction is open on the connection. */
  readonly inTransaction: boolean;
}

export default Database;
