/**
 * Read routes of `access.*` (`sdk/api/contract_routes/access.ts`).
 *
 * @module
 */
import {
  ACCESS_CHECK_GRANTS_MAX,
  checkStreamAccess,
  listReaderGrants,
  listStreamGrants,
} from "../../../sdk/api/contract_routes/access.ts";
import {
  GRANT_NS,
  grantActiveAt,
  grantKey,
  type GrantRecord,
  READER_GRANT_NS,
  readerGrantKey,
} from "../../contracts/access.ts";
import { IDENTITY_STATUS_NS, type KeyStatusRecord } from "../../contracts/gov.ts";
import type { ContractRouteRegistrar } from "./mod.ts";
import { statePage } from "./_common.ts";

/** Adds the `access.*` read routes. */
export const accessRoutes: ContractRouteRegistrar = (app, service) => {
  app.openapi(listStreamGrants, async (c) => {
    const { stream } = c.req.valid("param");
    const { reader, after, limit, consistency } = c.req.valid("query");
    // `grantKey(stream, "", "")` ends with two separators; keep one for "every reader".
    const prefix = reader === undefined
      ? grantKey(stream, "", "").slice(0, -1)
      : grantKey(stream, reader, "");
    const page = await statePage<GrantRecord>(
      service,
      GRANT_NS,
      prefix,
      { after, limit },
      consistency,
    );
    c.header("Cache-Control", "no-cache");
    return c.json({ grants: page.items, next: page.next }, 200);
  });
  app.openapi(listReaderGrants, async (c) => {
    const { reader } = c.req.valid("param");
    const { after, limit, consistency } = c.req.valid("query");
    const page = await statePage<GrantRecord>(
      service,
      READER_GRANT_NS,
      readerGrantKey(reader, "", "").slice(0, -1),
      { after, limit },
      consistency,
    );
    c.header("Cache-Control", "no-cache");
    return c.json({ grants: page.items, next: page.next }, 200);
  });
  app.openapi(checkStreamAccess, async (c) => {
    const { stream } = c.req.valid("param");
    const { reader, at, consistency } = c.req.valid("query");
    // A reader that is the current key of an active device also has the
    // grants its device's earlier keys received (the contracts' rule,
    // `src/contracts/_holder.ts`): at most DEVICE_KEYS_MAX keys in all.
    const row = await service.stateGet(IDENTITY_STATUS_NS, reader, consistency) as
      | KeyStatusRecord
      | undefined;
    const earlier = row?.status === "active" ? row.earlierKeys ?? [] : [];
    const readerKeys = [reader, ...earlier];
    const reads = await Promise.all(readerKeys.map((k) =>
      service.stateRange(
        GRANT_NS,
        grantKey(stream, k, ""),
        { limit: ACCESS_CHECK_GRANTS_MAX },
        consistency,
      )
    ));
    const grants = reads.flat().map((r) => r.value as GrantRecord).filter((g) =>
      grantActiveAt(g, at)
    );
    c.header("Cache-Control", "no-cache");
    return c.json({
      stream,
      reader,
      at,
      allowed: grants.length > 0,
      grants,
      truncated: reads.some((rows) => rows.length === ACCESS_CHECK_GRANTS_MAX),
      ...(earlier.length > 0 ? { readerKeys } : {}),
    }, 200);
  });
};
