/**
 * Read routes of the built-in contracts. Each contract group has one module
 * here exporting a registrar, and one line in {@link CONTRACT_ROUTES}; the
 * route definitions themselves (zod schemas, `createRoute`) live in
 * `sdk/api/contract_routes/` so the SDK shares them.
 *
 * @module
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Env } from "../app.ts";
import type { LedgerService } from "../service.ts";
import { govRoutes } from "./gov.ts";
import { identityRoutes } from "./identity.ts";
import { assetRoutes } from "./asset.ts";
import { custodyRoutes } from "./custody.ts";
import { accessRoutes } from "./access.ts";
import { dataRoutes } from "./data.ts";
import { roamingRoutes } from "./roaming.ts";

/** Adds a contract group's routes to the app; reads go through `service.stateGet`/`stateRange`. */
export type ContractRouteRegistrar = (app: OpenAPIHono<Env>, service: LedgerService) => void;

/** Every contract group's registrar, in the order their routes are added. */
export const CONTRACT_ROUTES: ContractRouteRegistrar[] = [
  govRoutes,
  identityRoutes,
  assetRoutes,
  custodyRoutes,
  accessRoutes,
  dataRoutes,
  roamingRoutes,
];
