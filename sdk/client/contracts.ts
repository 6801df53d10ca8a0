/**
 * Typed reads of the built-in contracts' state (DESIGN §5, §7): one
 * namespace per contract group on {@link EdgeLedgerClient} — `client.gov`,
 * `client.identity`, `client.asset`, `client.custody`, `client.access`,
 * `client.data`, `client.roaming` — with one method per read route of
 * `sdk/api/contract_routes/`.
 *
 * Every method is a call of {@link EdgeLedgerClient.request} with the
 * shared route definition, so it retries, fails over, times out and throws
 * the same typed errors as the core methods, and its answer is checked
 * against the route's response schema. Every method takes the
 * {@link CallOptions} of the other methods plus `consistency` (default
 * `stale`: this site's replica). Path parameters (stream names with `/` or
 * spaces, DIDs with `:`) are percent-encoded as one path segment.
 *
 * A listing has two forms: `xxxPage(...)` answers one page as the site
 * sent it (`next` is the cursor of the following page, or null), and
 * `xxx(...)` is an async generator that yields every item, fetching the
 * pages one at a time as the iteration proceeds.
 *
 * @example
 * ```ts
 * const client = new EdgeLedgerClient({ urls: ["http://127.0.0.1:7001"] });
 * const device = await client.identity.device("did:edgeledger:demo:demo:cameras:cam-17");
 * const { balance } = await client.asset.balance("kwh-credit", device.key);
 * for await (const anchor of client.data.anchors("truck-17/temp")) console.log(anchor.seq);
 * ```
 *
 * @module
 */

import {
  checkStreamAccess,
  listReaderGrants,
  listStreamGrants,
} from "../api/contract_routes/access.ts";
import { getAsset, getAssetBalance, listAssetBalances } from "../api/contract_routes/asset.ts";
import { getCustodyHistory, getCustodyItem } from "../api/contract_routes/custody.ts";
import {
  getStream,
  getStreamGaps,
  listStreamAnchors,
  verifyStreamReading,
} from "../api/contract_routes/data.ts";
import { getGov } from "../api/contract_routes/gov.ts";
import { getDevice, getDeviceDidDocument, listDevices } from "../api/contract_routes/identity.ts";
import {
  getRoamingPeriod,
  getRoamingRecord,
  getRoamingStatement,
  listRoamingFlags,
  listRoamingRecords,
} from "../api/contract_routes/roaming.ts";
import type { CallOptions, Consistency, EdgeLedgerClient, RawResponse } from "./client.ts";
import { ServerError } from "./errors.ts";
import { abortReason } from "./_signals.ts";
import type { BodyOf, ResponseOf } from "./route_types.ts";

// ---- options ------------------------------------------------------------

/**
 * Options of every contract read: the {@link CallOptions} and the read
 * consistency (DESIGN §3; default `stale`, this site's replica).
 *
 * @example
 * ```ts
 * await client.identity.device(did, { consistency: "leader", timeoutMs: 2000 } satisfies StateReadOptions);
 * ```
 */
export interface StateReadOptions extends CallOptions {
  /** Read consistency. Default `stale`. */
  consistency?: Consistency;
}

/**
 * Options of a single-page listing (`xxxPage`).
 *
 * @example
 * ```ts
 * const page = await client.roaming.recordsPage("p-2026-11", { limit: 50 } satisfies StatePageOptions);
 * const more = page.next === null ? undefined : await client.roaming.recordsPage("p-2026-11", { after: page.next });
 * ```
 */
export interface StatePageOptions extends StateReadOptions {
  /** The `next` cursor of the previous page. Default: from the start. */
  after?: string;
  /** Items per page (the route's range; 1–1000 for most). A bad one is a `ValidationError`. */
  limit?: number;
}

/**
 * Options of a listing's async generator (`xxx`).
 *
 * @example
 * ```ts
 * for await (const g of client.access.readerGrants(reader, { pageSize: 200 } satisfies StateListOptions)) {
 *   console.log(g.stream, g.purpose);
 * }
 * ```
 */
export interface StateListOptions extends StateReadOptions {
  /** Start after this cursor (a `next` a page answered). Default: from the start. */
  after?: string;
  /** Items per request (the route's `limit`). Default: the route's default. */
  pageSize?: number;
}

/**
 * Options of {@link IdentityResource.devicesPage}.
 *
 * @example
 * ```ts
 * await client.identity.devicesPage({ prefix: "demo/cameras/" } satisfies DevicePageOptions);
 * ```
 */
export interface DevicePageOptions extends StatePageOptions {
  /** Only devices whose name starts with this (e.g. `demo/cameras/`). Default: every device. */
  prefix?: string;
}

/**
 * Options of {@link IdentityResource.devices}.
 *
 * @example
 * ```ts
 * for await (const d of client.identity.devices({ prefix: "demo/" } satisfies DeviceListOptions)) console.log(d.did);
 * ```
 */
export interface DeviceListOptions extends StateListOptions {
  /** Only devices whose name starts with this. Default: every device. */
  prefix?: string;
}

/**
 * Options of {@link CustodyResource.historyPage}.
 *
 * @example
 * ```ts
 * await client.custody.historyPage("shipment:0042", { proofs: true } satisfies CustodyHistoryPageOptions);
 * ```
 */
export interface CustodyHistoryPageOptions extends StatePageOptions {
  /** Inline each step's inclusion proof (at the latest checkpoint's tree size). Default false. */
  proofs?: boolean;
}

/**
 * Options of {@link CustodyResource.history}.
 *
 * @example
 * ```ts
 * for await (const step of client.custody.history(item, { proofs: true } satisfies CustodyHistoryOptions)) console.log(step.type);
 * ```
 */
export interface CustodyHistoryOptions extends StateListOptions {
  /** Inline each step's inclusion proof. Default false. */
  proofs?: boolean;
}

/**
 * Options of {@link AccessResource.streamGrantsPage}.
 *
 * @example
 * ```ts
 * await client.access.streamGrantsPage("truck-17/temp", { reader } satisfies StreamGrantPageOptions);
 * ```
 */
export interface StreamGrantPageOptions extends StatePageOptions {
  /** Only this reader's grants (a did:key). Default: every reader's. */
  reader?: string;
}

/**
 * Options of {@link AccessResource.streamGrants}.
 *
 * @example
 * ```ts
 * for await (const g of client.access.streamGrants("truck-17/temp", { reader } satisfies StreamGrantListOptions)) console.log(g.grant);
 * ```
 */
export interface StreamGrantListOptions extends StateListOptions {
  /** Only this reader's grants (a did:key). Default: every reader's. */
  reader?: string;
}

/**
 * Options of {@link DataResource.anchorsPage}: the cursor is a seq.
 *
 * @example
 * ```ts
 * await client.data.anchorsPage("truck-17/temp", { after: 99, limit: 100 } satisfies AnchorPageOptions);
 * ```
 */
export interface AnchorPageOptions extends StateReadOptions {
  /** Anchors with seq above this (a number, or the `next` of the previous page). Default: all. */
  after?: number | string;
  /** Anchors per page, 1–1000. Default 100. */
  limit?: number;
}

/**
 * Options of {@link DataResource.anchors}.
 *
 * @example
 * ```ts
 * for await (const a of client.data.anchors("truck-17/temp", { after: 99 } satisfies AnchorListOptions)) console.log(a.root);
 * ```
 */
export interface AnchorListOptions extends StateReadOptions {
  /** Anchors with seq above this. Default: all. */
  after?: number | string;
  /** Anchors per request, 1–1000. Default 100. */
  pageSize?: number;
}

/**
 * Options of {@link DataResource.gaps} and {@link DataResource.gapPages}.
 *
 * @example
 * ```ts
 * await client.data.gaps("truck-17/temp", { silenceMs: 60_000 } satisfies GapScanOptions);
 * ```
 */
export interface GapScanOptions extends StateReadOptions {
  /** Scan anchors with seq above this, which counts as anchored. Default: from the first anchor. */
  after?: number | string;
  /** Anchors scanned per request, 1–1000. Default 1000. */
  limit?: number;
  /** Also report each stretch longer than this between consecutive anchors, in milliseconds. */
  silenceMs?: number;
}

// ---- answers --------------------------------------------------------------

/**
 * `GET /v1/gov`: organisations with their admins, sites, authorities, the
 * policies, and the `majority` of organisations a proposal needs.
 *
 * @example
 * ```ts
 * const { organisations, policy, majority }: GovernanceView = await client.gov.consortium();
 * ```
 */
export type GovernanceView = ResponseOf<typeof getGov>;
/**
 * A device with its DID, status, current key, key history, reports and events.
 *
 * @example
 * ```ts
 * const { status, key }: DeviceView = await client.identity.device(did);
 * ```
 */
export type DeviceView = ResponseOf<typeof getDevice>;
/**
 * A device's W3C DID document (Multikey verification methods).
 *
 * @example
 * ```ts
 * const doc: DidDocumentView = await client.identity.didDocument(did);
 * ```
 */
export type DidDocumentView = ResponseOf<typeof getDeviceDidDocument>;
/**
 * A page of devices, ascending by name.
 *
 * @example
 * ```ts
 * const { devices, next }: DevicePage = await client.identity.devicesPage({ prefix: "demo/" });
 * ```
 */
export type DevicePage = ResponseOf<typeof listDevices>;
/**
 * An asset: issuer, decimals, supply, fee policy.
 *
 * @example
 * ```ts
 * const { supply, issuer }: AssetView = await client.asset.get("kwh-credit");
 * ```
 */
export type AssetView = ResponseOf<typeof getAsset>;
/**
 * One account's balance of one asset (a decimal string; `"0"` when it holds none).
 *
 * @example
 * ```ts
 * const { balance }: AssetBalanceView = await client.asset.balance("kwh-credit", did);
 * ```
 */
export type AssetBalanceView = ResponseOf<typeof getAssetBalance>;
/**
 * A page of an asset's holders, in account order.
 *
 * @example
 * ```ts
 * const { balances, next }: AssetBalancePage = await client.asset.balancesPage("kwh-credit");
 * ```
 */
export type AssetBalancePage = ResponseOf<typeof listAssetBalances>;
/**
 * A custody item: producer, current holder, number of steps.
 *
 * @example
 * ```ts
 * const { holder, steps }: CustodyItemView = await client.custody.item("shipment:0042");
 * ```
 */
export type CustodyItemView = ResponseOf<typeof getCustodyItem>;
/**
 * A page of an item's provenance: the item and a page of its steps.
 *
 * @example
 * ```ts
 * const { item, steps, next }: CustodyHistoryPage = await client.custody.historyPage("shipment:0042");
 * ```
 */
export type CustodyHistoryPage = ResponseOf<typeof getCustodyHistory>;
/**
 * One step of an item's provenance, with the route of its inclusion proof.
 *
 * @example
 * ```ts
 * for await (const step of client.custody.history(item)) console.log((step satisfies CustodyStepView).proofUrl);
 * ```
 */
export type CustodyStepView = CustodyHistoryPage["steps"][number];
/**
 * A page of access grants.
 *
 * @example
 * ```ts
 * const { grants, next }: AccessGrantPage = await client.access.streamGrantsPage("truck-17/temp");
 * ```
 */
export type AccessGrantPage = ResponseOf<typeof listStreamGrants>;
/**
 * An access grant; its window is `[from, min(until, revokedAt))`.
 *
 * @example
 * ```ts
 * for await (const g of client.access.readerGrants(reader)) console.log((g satisfies AccessGrantView).stream);
 * ```
 */
export type AccessGrantView = AccessGrantPage["grants"][number];
/**
 * Whether a reader had access to a stream at a time, and by which grants.
 *
 * @example
 * ```ts
 * const { allowed, grants }: AccessCheckView = await client.access.check(stream, reader, Date.now());
 * ```
 */
export type AccessCheckView = ResponseOf<typeof checkStreamAccess>;
/**
 * A data stream: owner, last seq, number of anchors.
 *
 * @example
 * ```ts
 * const { owner, lastSeq }: DataStreamView = await client.data.stream("truck-17/temp");
 * ```
 */
export type DataStreamView = ResponseOf<typeof getStream>;
/**
 * A page of a stream's anchors in seq order; `next` is a seq.
 *
 * @example
 * ```ts
 * const { anchors, next }: DataAnchorPage = await client.data.anchorsPage("truck-17/temp");
 * ```
 */
export type DataAnchorPage = ResponseOf<typeof listStreamAnchors>;
/**
 * One `data.anchor` as stored: the Merkle root of a batch of readings.
 *
 * @example
 * ```ts
 * for await (const a of client.data.anchors("truck-17/temp")) console.log((a satisfies DataAnchorView).root);
 * ```
 */
export type DataAnchorView = DataAnchorPage["anchors"][number];
/**
 * One scan of a stream's sequence numbers: missing ranges, silent stretches, and `next`.
 *
 * @example
 * ```ts
 * const { gaps, lastSeq, next }: StreamGapsView = await client.data.gaps("truck-17/temp");
 * ```
 */
export type StreamGapsView = ResponseOf<typeof getStreamGaps>;
/**
 * What {@link DataResource.verifyReading} checks: a reading, the anchor
 * `seq` of its batch, and its audit path in that batch.
 *
 * @example
 * ```ts
 * const input: VerifyReadingInput = { seq: 0, reading: { json: { t: 4.2 } }, proof: { index: 3, count: 60, path } };
 * ```
 */
export type VerifyReadingInput = BodyOf<typeof verifyStreamReading>;
/**
 * The site's verdict on one reading, with the anchor it was checked against.
 *
 * @example
 * ```ts
 * const { valid, reason, anchor }: ReadingVerdict = await client.data.verifyReading(stream, input);
 * ```
 */
export type ReadingVerdict = ResponseOf<typeof verifyStreamReading>;
/**
 * A roaming period: the agreement, running totals per carrier, status.
 *
 * @example
 * ```ts
 * const { status, totals }: RoamingPeriodView = await client.roaming.period("orga-orgb-2026-11");
 * ```
 */
export type RoamingPeriodView = ResponseOf<typeof getRoamingPeriod>;
/**
 * A page of a period's usage records, by record id.
 *
 * @example
 * ```ts
 * const { records, next }: RoamingRecordPage = await client.roaming.recordsPage(period);
 * ```
 */
export type RoamingRecordPage = ResponseOf<typeof listRoamingRecords>;
/**
 * One usage record, with its fraud flags and dispute.
 *
 * @example
 * ```ts
 * const { flags, disputed }: RoamingRecordView = await client.roaming.record(period, "a-1");
 * ```
 */
export type RoamingRecordView = ResponseOf<typeof getRoamingRecord>;
/**
 * A page of a period's flagged records.
 *
 * @example
 * ```ts
 * const { flags, next }: RoamingFlagPage = await client.roaming.flagsPage(period);
 * ```
 */
export type RoamingFlagPage = ResponseOf<typeof listRoamingFlags>;
/**
 * One flagged record of a period's flag queue.
 *
 * @example
 * ```ts
 * for await (const f of client.roaming.flags(period)) console.log((f satisfies RoamingFlagView).flags);
 * ```
 */
export type RoamingFlagView = RoamingFlagPage["flags"][number];
/**
 * A closed period's settlement statement, its hash, the carriers'
 * signatures, and whether both signed (`final`).
 *
 * @example
 * ```ts
 * const { statement, statementHash, final }: RoamingStatementView = await client.roaming.statement(period);
 * ```
 */
export type RoamingStatementView = ResponseOf<typeof getRoamingStatement>;

// ---- paging -----------------------------------------------------------------

/** What a namespace needs of the client: its generic, retrying call. */
type Requester = Pick<EdgeLedgerClient, "request">;

/**
 * Every item of a cursor-paged listing, one page per request: `load(after)`
 * fetches the page after cursor `after` (undefined: the first), `split`
 * takes its items and `next` cursor. Ends when `next` is null. A cursor the
 * iteration has already used would repeat pages forever, so it is refused
 * as a {@link ServerError} (the cursors are remembered, one per page). Once
 * `signal` is aborted no further item is yielded, not even the rest of a
 * page already fetched: the iteration throws the abort reason.
 */
async function* follow<P, T>(
  what: string,
  first: string | undefined,
  load: (after: string | undefined) => Promise<RawResponse<P>>,
  split: (page: P) => { items: readonly T[]; next: string | null },
  signal: AbortSignal | undefined,
): AsyncGenerator<T, void, undefined> {
  const used = new Set<string>();
  let after = first;
  if (after !== undefined) used.add(after);
  for (;;) {
    const res = await load(after);
    const { items, next } = split(res.body);
    for (const item of items) {
      if (signal?.aborted) throw abortReason(signal);
      yield item;
    }
    if (next === null) return;
    if (used.has(next)) {
      throw new ServerError(
        `Cannot list ${what} from ${res.site}: the next cursor ${
          JSON.stringify(next.slice(0, 64))
        } repeats an earlier page's`,
        { status: res.status, requestId: res.requestId, site: res.site },
      );
    }
    used.add(next);
    after = next;
  }
}

// ---- namespaces ---------------------------------------------------------------

/**
 * `client.gov`: the consortium as governance last left it (`gov.*`).
 *
 * @example
 * ```ts
 * const { organisations, sites, authorities, policy } = await client.gov.consortium();
 * ```
 */
export class GovResource {
  readonly #client: Requester;

  /** Built by {@link EdgeLedgerClient}; use `client.gov`. */
  constructor(client: Requester) {
    this.#client = client;
  }

  /**
   * `GET /v1/gov`: every organisation (with its admins, sites and
   * authorities), site, authority, the policies (null on a ledger created
   * before governance state) and `majority`, the number of organisations
   * whose admins must sign a proposal.
   *
   * @example
   * ```ts
   * const { majority, policy } = await client.gov.consortium({ consistency: "leader" });
   * ```
   */
  async consortium(options: StateReadOptions = {}): Promise<GovernanceView> {
    return (await this.#client.request(
      getGov,
      { query: { consistency: options.consistency } },
      options,
    )).body;
  }
}

/**
 * `client.identity`: devices (`identity.*`).
 *
 * A device is addressed by its DID (`did:edgeledger:<ledger>:<name with "/"
 * as ":">`, see `deviceDid`) or by any key it has had (`did:key:…`).
 *
 * @example
 * ```ts
 * const device = await client.identity.device(signerDid); // the device behind a signer
 * console.log(device.did, device.status);
 * ```
 */
export class IdentityResource {
  readonly #client: Requester;

  /** Built by {@link EdgeLedgerClient}; use `client.identity`. */
  constructor(client: Requester) {
    this.#client = client;
  }

  /**
   * `GET /v1/devices/{did}`: the device named by `did` — its DID or any
   * did:key it has had — with status, current key, attributes, key
   * history, hijack reports and recent events. Throws
   * {@link NotFoundError} when no device has that DID or key, and
   * {@link ValidationError} when `did` is neither form.
   *
   * @example
   * ```ts
   * const { did, status, key, keys } = await client.identity.device("did:edgeledger:demo:demo:cam-17");
   * ```
   */
  async device(did: string, options: StateReadOptions = {}): Promise<DeviceView> {
    return (await this.#client.request(getDevice, {
      params: { did },
      query: { consistency: options.consistency },
    }, options)).body;
  }

  /**
   * `GET /v1/devices/{did}/did.json`: the device's W3C DID document. Its
   * one verification method is the current key, authorised for
   * `authentication` and `assertionMethod` only while the device is active.
   * Throws {@link NotFoundError} for an unknown device and
   * {@link RejectedError} with `slug === "device_revoked"` (410) for a
   * revoked one (its DID is deactivated).
   *
   * @example
   * ```ts
   * const doc = await client.identity.didDocument(did);
   * console.log(doc.verificationMethod[0].publicKeyMultibase);
   * ```
   */
  async didDocument(did: string, options: StateReadOptions = {}): Promise<DidDocumentView> {
    return (await this.#client.request(getDeviceDidDocument, {
      params: { did },
      query: { consistency: options.consistency },
    }, options)).body;
  }

  /**
   * `GET /v1/devices`: one page of devices whose name starts with
   * `prefix`, ascending by name; `next` is the `after` of the following
   * page, null after the last. `limit` is 1–1000 (default 100).
   *
   * @example
   * ```ts
   * const { devices, next } = await client.identity.devicesPage({ prefix: "demo/cameras/", limit: 10 });
   * ```
   */
  async devicesPage(options: DevicePageOptions = {}): Promise<DevicePage> {
    return (await this.#client.request(listDevices, {
      query: {
        prefix: options.prefix,
        after: options.after,
        limit: options.limit,
        consistency: options.consistency,
      },
    }, options)).body;
  }

  /**
   * Every device whose name starts with `prefix`, ascending by name,
   * fetched `pageSize` at a time as the iteration proceeds.
   *
   * @example
   * ```ts
   * for await (const d of client.identity.devices({ prefix: "demo/" })) console.log(d.name, d.status);
   * ```
   */
  devices(options: DeviceListOptions = {}): AsyncGenerator<DeviceView, void, undefined> {
    return follow(
      "devices",
      options.after,
      (after) =>
        this.#client.request(listDevices, {
          query: {
            prefix: options.prefix,
            after,
            limit: options.pageSize,
            consistency: options.consistency,
          },
        }, options),
      (page) => ({ items: page.devices, next: page.next }),
      options.signal,
    );
  }
}

/**
 * `client.asset`: fungible assets and balances (`asset.*`). Amounts are
 * integer decimal strings.
 *
 * @example
 * ```ts
 * const { balance } = await client.asset.balance("kwh-credit", car.did);
 * ```
 */
export class AssetResource {
  readonly #client: Requester;

  /** Built by {@link EdgeLedgerClient}; use `client.asset`. */
  constructor(client: Requester) {
    this.#client = client;
  }

  /**
   * `GET /v1/assets/{asset}`: the asset — name, decimals, issuer, supply,
   * maximum supply and fee policy. Throws {@link NotFoundError} when there
   * is no such asset.
   *
   * @example
   * ```ts
   * const { supply, maxSupply, fee } = await client.asset.get("kwh-credit");
   * ```
   */
  async get(asset: string, options: StateReadOptions = {}): Promise<AssetView> {
    return (await this.#client.request(getAsset, {
      params: { asset },
      query: { consistency: options.consistency },
    }, options)).body;
  }

  /**
   * `GET /v1/assets/{asset}/balances/{account}`: `account`'s balance of
   * `asset` (`"0"` when it never held any). `account` is a did:key. Throws
   * {@link NotFoundError} when there is no such asset.
   *
   * @example
   * ```ts
   * const { balance } = await client.asset.balance("kwh-credit", "did:key:z6Mk…");
   * ```
   */
  async balance(
    asset: string,
    account: string,
    options: StateReadOptions = {},
  ): Promise<AssetBalanceView> {
    return (await this.#client.request(getAssetBalance, {
      params: { asset, account },
      query: { consistency: options.consistency },
    }, options)).body;
  }

  /**
   * `GET /v1/assets/{asset}/balances`: one page of the asset's holders in
   * account order. Throws {@link NotFoundError} when there is no such asset.
   *
   * @example
   * ```ts
   * const { balances, next } = await client.asset.balancesPage("kwh-credit", { limit: 100 });
   * ```
   */
  async balancesPage(asset: string, options: StatePageOptions = {}): Promise<AssetBalancePage> {
    return (await this.#client.request(listAssetBalances, {
      params: { asset },
      query: { after: options.after, limit: options.limit, consistency: options.consistency },
    }, options)).body;
  }

  /**
   * Every holder of `asset` with its balance, in account order, a page at
   * a time.
   *
   * @example
   * ```ts
   * for await (const { account, balance } of client.asset.balances("kwh-credit")) console.log(account, balance);
   * ```
   */
  balances(
    asset: string,
    options: StateListOptions = {},
  ): AsyncGenerator<AssetBalanceView, void, undefined> {
    return follow(
      `the holders of asset ${asset}`,
      options.after,
      (after) =>
        this.#client.request(listAssetBalances, {
          params: { asset },
          query: { after, limit: options.pageSize, consistency: options.consistency },
        }, options),
      (page) => ({ items: page.balances, next: page.next }),
      options.signal,
    );
  }
}

/**
 * `client.custody`: items and their provenance (`custody.*`).
 *
 * @example
 * ```ts
 * for await (const step of client.custody.history("shipment:0042")) console.log(step.step, step.holder);
 * ```
 */
export class CustodyResource {
  readonly #client: Requester;

  /** Built by {@link EdgeLedgerClient}; use `client.custody`. */
  constructor(client: Requester) {
    this.#client = client;
  }

  /**
   * `GET /v1/custody/items/{item}`: the item — description, attributes,
   * producer, current holder, number of steps. Throws
   * {@link NotFoundError} when there is no such item.
   *
   * @example
   * ```ts
   * const { holder, steps } = await client.custody.item("shipment:0042");
   * ```
   */
  async item(item: string, options: StateReadOptions = {}): Promise<CustodyItemView> {
    return (await this.#client.request(getCustodyItem, {
      params: { item },
      query: { consistency: options.consistency },
    }, options)).body;
  }

  /**
   * `GET /v1/custody/items/{item}/history`: the item and one page of its
   * steps in order from creation, each with its transaction, the route of
   * its inclusion proof, cited sensor anchors resolved to their
   * `data.anchor`, and with `proofs: true` the proof itself (absent while
   * the latest checkpoint does not cover the step). `limit` is 1–100
   * (default 100). Throws {@link NotFoundError} when there is no such item.
   *
   * @example
   * ```ts
   * const { item, steps, next } = await client.custody.historyPage("shipment:0042", { proofs: true });
   * ```
   */
  async historyPage(
    item: string,
    options: CustodyHistoryPageOptions = {},
  ): Promise<CustodyHistoryPage> {
    return (await this.#client.request(getCustodyHistory, {
      params: { item },
      query: {
        after: options.after,
        limit: options.limit,
        proofs: proofsParam(options.proofs),
        consistency: options.consistency,
      },
    }, options)).body;
  }

  /**
   * Every step of the item's provenance in order, a page at a time (see
   * {@link CustodyResource.historyPage}).
   *
   * @example
   * ```ts
   * for await (const step of client.custody.history("shipment:0042")) {
   *   console.log(step.type, step.from, "→", step.to, step.proofUrl);
   * }
   * ```
   */
  history(
    item: string,
    options: CustodyHistoryOptions = {},
  ): AsyncGenerator<CustodyStepView, void, undefined> {
    return follow(
      `the history of item ${item}`,
      options.after,
      (after) =>
        this.#client.request(getCustodyHistory, {
          params: { item },
          query: {
            after,
            limit: options.pageSize,
            proofs: proofsParam(options.proofs),
            consistency: options.consistency,
          },
        }, options),
      (page) => ({ items: page.steps, next: page.next }),
      options.signal,
    );
  }
}

function proofsParam(proofs: boolean | undefined): "true" | "false" | undefined {
  return proofs === undefined ? undefined : proofs ? "true" : "false";
}

/**
 * `client.access`: who may read a data stream (`access.*`).
 *
 * @example
 * ```ts
 * const { allowed } = await client.access.check("truck-17/temp", reader.did, Date.now());
 * ```
 */
export class AccessResource {
  readonly #client: Requester;

  /** Built by {@link EdgeLedgerClient}; use `client.access`. */
  constructor(client: Requester) {
    this.#client = client;
  }

  /**
   * `GET /v1/streams/{stream}/grants`: one page of the stream's grants,
   * revoked ones included, ordered by reader; `reader` keeps one reader's.
   * A stream without grants answers an empty page.
   *
   * @example
   * ```ts
   * const { grants, next } = await client.access.streamGrantsPage("truck-17/temp", { reader });
   * ```
   */
  async streamGrantsPage(
    stream: string,
    options: StreamGrantPageOptions = {},
  ): Promise<AccessGrantPage> {
    return (await this.#client.request(listStreamGrants, {
      params: { stream },
      query: {
        reader: options.reader,
        after: options.after,
        limit: options.limit,
        consistency: options.consistency,
      },
    }, options)).body;
  }

  /**
   * Every grant of `stream` (one reader's with `reader`), revoked ones
   * included, ordered by reader, a page at a time.
   *
   * @example
   * ```ts
   * for await (const g of client.access.streamGrants("truck-17/temp")) console.log(g.reader, g.purpose);
   * ```
   */
  streamGrants(
    stream: string,
    options: StreamGrantListOptions = {},
  ): AsyncGenerator<AccessGrantView, void, undefined> {
    return follow(
      `the grants of stream ${stream}`,
      options.after,
      (after) =>
        this.#client.request(listStreamGrants, {
          params: { stream },
          query: {
            reader: options.reader,
            after,
            limit: options.pageSize,
            consistency: options.consistency,
          },
        }, options),
      (page) => ({ items: page.grants, next: page.next }),
      options.signal,
    );
  }

  /**
   * `GET /v1/access/readers/{reader}/grants`: one page of every grant
   * `reader` (a did:key) received, ordered by stream.
   *
   * @example
   * ```ts
   * const { grants, next } = await client.access.readerGrantsPage(reader.did);
   * ```
   */
  async readerGrantsPage(reader: string, options: StatePageOptions = {}): Promise<AccessGrantPage> {
    return (await this.#client.request(listReaderGrants, {
      params: { reader },
      query: { after: options.after, limit: options.limit, consistency: options.consistency },
    }, options)).body;
  }

  /**
   * Every grant `reader` received, ordered by stream, a page at a time.
   *
   * @example
   * ```ts
   * for await (const g of client.access.readerGrants(reader.did)) console.log(g.stream, g.until);
   * ```
   */
  readerGrants(
    reader: string,
    options: StateListOptions = {},
  ): AsyncGenerator<AccessGrantView, void, undefined> {
    return follow(
      `the grants of reader ${reader}`,
      options.after,
      (after) =>
        this.#client.request(listReaderGrants, {
          params: { reader },
          query: { after, limit: options.pageSize, consistency: options.consistency },
        }, options),
      (page) => ({ items: page.grants, next: page.next }),
      options.signal,
    );
  }

  /**
   * `GET /v1/streams/{stream}/access`: whether `reader` (a did:key) had
   * access to `stream` at time `at` (ms): `allowed` is true when a grant's
   * window `[from, min(until, revokedAt))` contains `at`, and `grants` are
   * those grants. Examines at most 1000 grants of the pair (`truncated`
   * says when there were more).
   *
   * @example
   * ```ts
   * const { allowed, grants } = await client.access.check("truck-17/temp", reader.did, Date.now());
   * ```
   */
  async check(
    stream: string,
    reader: string,
    at: number,
    options: StateReadOptions = {},
  ): Promise<AccessCheckView> {
    return (await this.#client.request(checkStreamAccess, {
      params: { stream },
      query: { reader, at, consistency: options.consistency },
    }, options)).body;
  }
}

/**
 * `client.data`: anchored device data (`data.*`). Stream names may hold
 * `/`, spaces and any other character; they are percent-encoded.
 *
 * @example
 * ```ts
 * const { lastSeq } = await client.data.stream("truck-17/temp");
 * const { gaps } = await client.data.gaps("truck-17/temp");
 * ```
 */
export class DataResource {
  readonly #client: Requester;

  /** Built by {@link EdgeLedgerClient}; use `client.data`. */
  constructor(client: Requester) {
    this.#client = client;
  }

  /**
   * `GET /v1/streams/{stream}`: the stream — its owner (first signer),
   * last seq, number of anchors, first and last block heights. Throws
   * {@link NotFoundError} when there is no such stream.
   *
   * @example
   * ```ts
   * const { owner, lastSeq, count } = await client.data.stream("truck-17/temp");
   * ```
   */
  async stream(stream: string, options: StateReadOptions = {}): Promise<DataStreamView> {
    return (await this.#client.request(getStream, {
      params: { stream },
      query: { consistency: options.consistency },
    }, options)).body;
  }

  /**
   * `GET /v1/streams/{stream}/anchors`: one page of the stream's anchors
   * with seq above `after`, in seq order; `next` is the seq to pass as
   * `after` for the following page, null after the last. A page may hold
   * fewer than `limit` anchors and still have a `next`. Throws
   * {@link NotFoundError} when there is no such stream.
   *
   * @example
   * ```ts
   * const { anchors, next } = await client.data.anchorsPage("truck-17/temp", { limit: 500 });
   * ```
   */
  async anchorsPage(stream: string, options: AnchorPageOptions = {}): Promise<DataAnchorPage> {
    return (await this.#client.request(listStreamAnchors, {
      params: { stream },
      query: { after: options.after, limit: options.limit, consistency: options.consistency },
    }, options)).body;
  }

  /**
   * Every anchor of the stream with seq above `after`, in seq order, a page
   * at a time.
   *
   * @example
   * ```ts
   * for await (const a of client.data.anchors("truck-17/temp")) console.log(a.seq, a.root, a.txId);
   * ```
   */
  anchors(
    stream: string,
    options: AnchorListOptions = {},
  ): AsyncGenerator<DataAnchorView, void, undefined> {
    return follow(
      `the anchors of stream ${stream}`,
      options.after === undefined ? undefined : String(options.after),
      (after) =>
        this.#client.request(listStreamAnchors, {
          params: { stream },
          query: { after, limit: options.pageSize, consistency: options.consistency },
        }, options),
      (page) => ({ items: page.anchors, next: page.next }),
      options.signal,
    );
  }

  /**
   * `GET /v1/streams/{stream}/gaps`: one scan of at most `limit` anchors
   * (1–1000, default 1000) with seq above `after`, reporting each missing
   * seq range between consecutive anchors (`after` itself counts as
   * anchored) and, with `silenceMs`, each longer stretch between one
   * anchor's `to` and the next one's `from`. `lastSeq` and `lastTo` tell
   * how long the stream has been silent; `next` continues the scan (see
   * {@link DataResource.gapPages}). Throws {@link NotFoundError} when there
   * is no such stream.
   *
   * @example
   * ```ts
   * const { gaps, silences, lastTo } = await client.data.gaps("truck-17/temp", { silenceMs: 60_000 });
   * ```
   */
  async gaps(stream: string, options: GapScanOptions = {}): Promise<StreamGapsView> {
    return (await this.#client.request(getStreamGaps, {
      params: { stream },
      query: {
        after: options.after,
        limit: options.limit,
        silenceMs: options.silenceMs,
        consistency: options.consistency,
      },
    }, options)).body;
  }

  /**
   * The whole stream's gap scan: each page {@link DataResource.gaps}
   * answers, following `next` to the stream's last anchor. A gap across
   * two pages is reported once (the next page starts at the last anchor
   * the previous one scanned).
   *
   * @example
   * ```ts
   * for await (const page of client.data.gapPages("truck-17/temp")) {
   *   for (const g of page.gaps) console.log(`seq ${g.from}–${g.to} missing`);
   * }
   * ```
   */
  gapPages(
    stream: string,
    options: GapScanOptions = {},
  ): AsyncGenerator<StreamGapsView, void, undefined> {
    return follow(
      `the gaps of stream ${stream}`,
      options.after === undefined ? undefined : String(options.after),
      (after) =>
        this.#client.request(getStreamGaps, {
          params: { stream },
          query: {
            after,
            limit: options.limit,
            silenceMs: options.silenceMs,
            consistency: options.consistency,
          },
        }, options),
      (page) => ({ items: [page], next: page.next }),
      options.signal,
    );
  }

  /**
   * `POST /v1/streams/{stream}/verify-reading`: the site's verdict on
   * whether `reading` is leaf `proof.index` of the batch anchored as `seq`
   * (`reason` says why not). This trusts the site; to trust none, check
   * the same with the SDK's `verifyReading` and the anchor transaction's
   * own inclusion proof (`anchor.txId`). Throws {@link NotFoundError} when
   * the stream has no anchor `seq`.
   *
   * @example
   * ```ts
   * const { valid, reason } = await client.data.verifyReading("truck-17/temp", {
   *   seq: 0,
   *   reading: { json: { t: 4.2, at: 1764000000000 } },
   *   proof: { index: 3, count: 60, path },
   * });
   * ```
   */
  async verifyReading(
    stream: string,
    input: VerifyReadingInput,
    options: StateReadOptions = {},
  ): Promise<ReadingVerdict> {
    return (await this.#client.request(verifyStreamReading, {
      params: { stream },
      query: { consistency: options.consistency },
      body: input,
    }, options)).body;
  }
}

/**
 * `client.roaming`: roaming periods between two carriers (`roaming.*`).
 *
 * @example
 * ```ts
 * const { status, totals } = await client.roaming.period("orga-orgb-2026-11");
 * for await (const flag of client.roaming.flags("orga-orgb-2026-11")) console.log(flag.record, flag.flags);
 * ```
 */
export class RoamingResource {
  readonly #client: Requester;

  /** Built by {@link EdgeLedgerClient}; use `client.roaming`. */
  constructor(client: Requester) {
    this.#client = client;
  }

  /**
   * `GET /v1/roaming/periods/{period}`: the period — carriers and tariffs,
   * window, limits, status (`open`, `closed`, `final`), running totals per
   * carrier, and once closed its statement and signatures. Throws
   * {@link NotFoundError} when there is no such period.
   *
   * @example
   * ```ts
   * const { status, totals } = await client.roaming.period("orga-orgb-2026-11");
   * ```
   */
  async period(period: string, options: StateReadOptions = {}): Promise<RoamingPeriodView> {
    return (await this.#client.request(getRoamingPeriod, {
      params: { period },
      query: { consistency: options.consistency },
    }, options)).body;
  }

  /**
   * `GET /v1/roaming/periods/{period}/records`: one page of the period's
   * usage records by record id. Throws {@link NotFoundError} when there is
   * no such period.
   *
   * @example
   * ```ts
   * const { records, next } = await client.roaming.recordsPage("orga-orgb-2026-11");
   * ```
   */
  async recordsPage(period: string, options: StatePageOptions = {}): Promise<RoamingRecordPage> {
    return (await this.#client.request(listRoamingRecords, {
      params: { period },
      query: { after: options.after, limit: options.limit, consistency: options.consistency },
    }, options)).body;
  }

  /**
   * Every usage record of the period by record id, a page at a time.
   *
   * @example
   * ```ts
   * for await (const r of client.roaming.records("orga-orgb-2026-11")) console.log(r.record, r.dataMb);
   * ```
   */
  records(
    period: string,
    options: StateListOptions = {},
  ): AsyncGenerator<RoamingRecordView, void, undefined> {
    return follow(
      `the records of period ${period}`,
      options.after,
      (after) =>
        this.#client.request(listRoamingRecords, {
          params: { period },
          query: { after, limit: options.pageSize, consistency: options.consistency },
        }, options),
      (page) => ({ items: page.records, next: page.next }),
      options.signal,
    );
  }

  /**
   * `GET /v1/roaming/periods/{period}/records/{record}`: one usage record
   * with its fraud flags and dispute. Throws {@link NotFoundError} when the
   * period has no such record.
   *
   * @example
   * ```ts
   * const { flags, disputed } = await client.roaming.record("orga-orgb-2026-11", "a-1");
   * ```
   */
  async record(
    period: string,
    record: string,
    options: StateReadOptions = {},
  ): Promise<RoamingRecordView> {
    return (await this.#client.request(getRoamingRecord, {
      params: { period, record },
      query: { consistency: options.consistency },
    }, options)).body;
  }

  /**
   * `GET /v1/roaming/periods/{period}/flags`: one page of the period's
   * records that the fraud signals flagged. Throws {@link NotFoundError}
   * when there is no such period.
   *
   * @example
   * ```ts
   * const { flags, next } = await client.roaming.flagsPage("orga-orgb-2026-11");
   * ```
   */
  async flagsPage(period: string, options: StatePageOptions = {}): Promise<RoamingFlagPage> {
    return (await this.#client.request(listRoamingFlags, {
      params: { period },
      query: { after: options.after, limit: options.limit, consistency: options.consistency },
    }, options)).body;
  }

  /**
   * Every flagged record of the period, a page at a time.
   *
   * @example
   * ```ts
   * for await (const f of client.roaming.flags("orga-orgb-2026-11")) console.log(f.record, f.flags);
   * ```
   */
  flags(
    period: string,
    options: StateListOptions = {},
  ): AsyncGenerator<RoamingFlagView, void, undefined> {
    return follow(
      `the flags of period ${period}`,
      options.after,
      (after) =>
        this.#client.request(listRoamingFlags, {
          params: { period },
          query: { after, limit: options.pageSize, consistency: options.consistency },
        }, options),
      (page) => ({ items: page.flags, next: page.next }),
      options.signal,
    );
  }

  /**
   * `GET /v1/roaming/periods/{period}/statement`: the closed period's
   * settlement statement, `statementHash` (hex SHA-256 of
   * `"edgeledger/roaming-statement/v1\n" + JCS(statement)`: recompute it
   * with `roamingStatementHash` before signing with `roaming.sign`), the
   * carriers' signatures, and `final` once both signed. Throws
   * {@link NotFoundError} when there is no such period or it is not closed.
   *
   * @example
   * ```ts
   * const { statement, statementHash, final } = await client.roaming.statement("orga-orgb-2026-11");
   * ```
   */
  async statement(period: string, options: StateReadOptions = {}): Promise<RoamingStatementView> {
    return (await this.#client.request(getRoamingStatement, {
      params: { period },
      query: { consistency: options.consistency },
    }, options)).body;
  }
}
