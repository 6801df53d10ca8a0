/**
 * The bundle's entry when `sdk/mod.ts` does not exist yet: the protocol core,
 * the shared API definitions, the transaction kinds, the client, the offline
 * queue and the light client — everything that runs in a browser. The file
 * stores (`node:fs`) are left out on purpose.
 *
 * @module
 */

export * from "../protocol.ts";
export * from "../kinds/mod.ts";
export { PROBLEM_TYPES, problemTypeUri, ROUTES } from "../api/routes.ts";
export type { ProblemSlug } from "../api/routes.ts";
export * from "../client/mod.ts";
export * from "../queue/mod.ts";
export * from "../light/mod.ts";
