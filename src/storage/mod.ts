/**
 * Storage: the drizzle schema, opening the libSQL database with its
 * migrations, and the repositories. The only folder that contains SQL;
 * SQLite constraint failures leave it as domain errors.
 *
 * @module
 */
export * from "./db.ts";
export * from "./chain_store.ts";
export * as schema from "./schema.ts";
