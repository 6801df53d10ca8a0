/**
 * Read routes of the `asset.*` kinds: an asset, an account's balance, and an
 * asset's holders.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { Did } from "../schemas.ts";
import {
  COMMON_PROBLEMS,
  json,
  nextCursor,
  pageAfter,
  pageLimit,
  problem,
  readParams,
} from "./_common.ts";

const AssetId = z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/).openapi({
  example: "kwh-credit",
});
const Amount = z.string().openapi({ description: "Integer decimal string.", example: "1250" });

/** An asset as stored. */
export const AssetView = z.object({
  asset: z.string(),
  name: z.string(),
  decimals: z.number().int(),
  issuer: z.string(),
  supply: Amount,
  maxSupply: Amount.optional(),
  fee: z.object({ amount: Amount, collector: z.string() }).optional(),
  createdTx: z.string(),
  createdHeight: z.number().int(),
}).openapi("Asset");

/**
 * One account's balance of one asset; `"0"` for an account that never held
 * it. `currentKey` (single-balance route only) is the key that spends it now
 * when that is not `account`: the current key of the active device that
 * rotated `account` out.
 */
export const BalanceView = z.object({
  asset: z.string(),
  account: z.string(),
  balance: Amount,
  currentKey: z.string().optional().openapi({
    description: "When `account` is an earlier key of an active device: that device's " +
      "current key, which signs for the account now.",
  }),
}).openapi("AssetBalance");

/** `GET /v1/assets/{asset}`. */
export const getAsset = createRoute({
  method: "get",
  path: "/v1/assets/{asset}",
  operationId: "getAsset",
  tags: ["assets"],
  summary: "An asset: issuer, supply, fee policy",
  request: { params: z.object({ asset: AssetId }), query: z.object({ ...readParams }) },
  responses: {
    200: json(AssetView, "The asset."),
    404: problem("`not_found`: no such asset."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/assets/{asset}/balances/{account}`. */
export const getAssetBalance = createRoute({
  method: "get",
  path: "/v1/assets/{asset}/balances/{account}",
  operationId: "getAssetBalance",
  tags: ["assets"],
  summary: "An account's balance of an asset",
  request: {
    params: z.object({ asset: AssetId, account: Did }),
    query: z.object({ ...readParams }),
  },
  responses: {
    200: json(BalanceView, 'The balance ("0" when the account holds none).'),
    404: problem("`not_found`: no such asset."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/assets/{asset}/balances?after=&limit=`: holders in account order. */
export const listAssetBalances = createRoute({
  method: "get",
  path: "/v1/assets/{asset}/balances",
  operationId: "listAssetBalances",
  tags: ["assets"],
  summary: "An asset's holders with their balances, a page at a time",
  request: {
    params: z.object({ asset: AssetId }),
    query: z.object({ after: pageAfter, limit: pageLimit, ...readParams }),
  },
  responses: {
    200: json(
      z.object({ balances: z.array(BalanceView), next: nextCursor }).openapi("AssetBalancePage"),
      "The page.",
    ),
    404: problem("`not_found`: no such asset."),
    ...COMMON_PROBLEMS,
  },
});

/** Every `asset.*` read route. */
export const ASSET_ROUTES = { getAsset, getAssetBalance, listAssetBalances };
