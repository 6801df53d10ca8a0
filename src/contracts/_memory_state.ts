/**
 * An in-memory {@link StateAccess} for contract unit tests: rows as
 * `[namespace, key, value]`, values kept as JSON text so a test sees what
 * a contract wrote, not an object it may still hold.
 *
 * @module
 */
import type { StateAccess } from "./contract.ts";

/** A state holding `rows` (`[namespace, key, value]`), read and written as JSON. */
export function memoryState(rows: ReadonlyArray<[string, string, unknown]>): StateAccess {
  const m = new Map(rows.map(([ns, key, v]) => [`${ns}\u0000${key}`, JSON.stringify(v)]));
  return {
    get<T>(ns: string, key: string) {
      const v = m.get(`${ns}\u0000${key}`);
      return v === undefined ? undefined : JSON.parse(v) as T;
    },
    put(ns, key, value) {
      m.set(`${ns}\u0000${key}`, JSON.stringify(value));
    },
    delete(ns, key) {
      m.delete(`${ns}\u0000${key}`);
    },
  };
}
