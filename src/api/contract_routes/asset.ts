/**
 * Read routes of `asset.*` (`sdk/api/contract_routes/asset.ts`).
 *
 * @module
 */
import {
  getAsset,
  getAssetBalance,
  listAssetBalances,
} from "../../../sdk/api/contract_routes/asset.ts";
import { ASSET_NS, type AssetState, BALANCE_NS, balanceKey } from "../../contracts/asset.ts";
import type { BalanceState } from "../../contracts/asset.ts";
import type { ContractRouteRegistrar } from "./mod.ts";
import { currentKeyFor, notFound, statePage } from "./_common.ts";

/** Adds the `asset.*` read routes. */
export const assetRoutes: ContractRouteRegistrar = (app, service) => {
  app.openapi(getAsset, async (c) => {
    const { asset } = c.req.valid("param");
    const { consistency } = c.req.valid("query");
    const def = await service.stateGet(ASSET_NS, asset, consistency) as AssetState | undefined;
    if (def === undefined) throw notFound(`Cannot find asset "${asset}"`);
    c.header("Cache-Control", "no-cache");
    return c.json(def, 200);
  });
  app.openapi(getAssetBalance, async (c) => {
    const { asset, account } = c.req.valid("param");
    const { consistency } = c.req.valid("query");
    const [def, balance, currentKey] = await Promise.all([
      service.stateGet(ASSET_NS, asset, consistency),
      service.stateGet(BALANCE_NS, balanceKey(asset, account), consistency) as Promise<
        BalanceState | undefined
      >,
      currentKeyFor(service, account, consistency),
    ]);
    if (def === undefined) throw notFound(`Cannot find asset "${asset}"`);
    c.header("Cache-Control", "no-cache");
    const view = balance ?? { asset, account, balance: "0" };
    return c.json(currentKey === undefined ? view : { ...view, currentKey }, 200);
  });
  app.openapi(listAssetBalances, async (c) => {
    const { asset } = c.req.valid("param");
    const { after, limit, consistency } = c.req.valid("query");
    if (await service.stateGet(ASSET_NS, asset, consistency) === undefined) {
      throw notFound(`Cannot find asset "${asset}"`);
    }
    const page = await statePage<BalanceState>(
      service,
      BALANCE_NS,
      balanceKey(asset, ""),
      { after, limit },
      consistency,
    );
    c.header("Cache-Control", "no-cache");
    return c.json({ balances: page.items, next: page.next }, 200);
  });
};
