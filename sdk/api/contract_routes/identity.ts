/**
 * Read routes of the `identity.*` kinds: a device (status, current key,
 * attributes, history), its W3C DID document, and the devices under a
 * namespace prefix.
 *
 * A device is addressed by its DID (`did:edgeledger:<ledger>:<name with
 * "/" as ":">`) or by any key it has had (`did:key:…`), so a verifier
 * holding a transaction's signer can find the device behind it.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { decimalInt } from "../schemas.ts";
import { NEGOTIATED_HEADERS } from "../headers.ts";
import { COMMON_PROBLEMS, json, problem, readParams } from "./_common.ts";

/** Largest `limit` of `GET /v1/devices`. */
export const DEVICES_PAGE_LIMIT_MAX = 1000;
/** `limit` of `GET /v1/devices` when none is given. */
export const DEVICES_PAGE_LIMIT_DEFAULT = 100;

/** The media type of a DID document (W3C DID Core §6.2). */
export const DID_JSON_MEDIA_TYPE = "application/did+json";

/** A device DID or a did:key the device has had. */
export const DeviceRef = z.string().min(8).max(256).regex(
  /^did:(key:z[1-9A-HJ-NP-Za-km-z]+|edgeledger:[a-z0-9][a-z0-9._-]*:[a-z0-9._:-]+)$/,
  { error: "Must be a did:edgeledger device DID or a did:key" },
).openapi({
  param: { name: "did", in: "path" },
  example: "did:edgeledger:demo:demo:cameras:cam-17",
});

/** A device as stored, plus its DID. */
export const DeviceView = z.object({
  did: z.string(),
  name: z.string(),
  status: z.enum(["active", "revoked", "quarantined"]),
  key: z.string(),
  authority: z.string(),
  org: z.string(),
  namespace: z.string(),
  attributes: z.object({
    model: z.string(),
    imeiHash: z.string().optional(),
    iccidHash: z.string().optional(),
    owner: z.string().optional(),
  }),
  registered: z.object({ txId: z.string(), height: z.number().int(), time: z.number().int() }),
  keys: z.array(z.object({
    key: z.string(),
    from: z.number().int(),
    until: z.number().int().optional(),
  })),
  reports: z.array(z.object({
    org: z.string(),
    reporter: z.string(),
    reason: z.string(),
    txId: z.string(),
    height: z.number().int(),
    time: z.number().int(),
    epoch: z.number().int().optional().openapi({
      description: "The consortium's membership epoch at the report. It counts only while its " +
        "organisation is a member that joined at or before this epoch.",
    }),
  })),
  events: z.array(z.object({
    event: z.string(),
    txId: z.string(),
    height: z.number().int(),
    time: z.number().int(),
    signers: z.array(z.string()),
    detail: z.string().optional(),
  })),
  eventsDropped: z.number().int(),
}).openapi("Device");

/** A W3C DID Core document with Multikey verification methods. */
export const DidDocument = z.looseObject({
  "@context": z.array(z.string()),
  id: z.string(),
  verificationMethod: z.array(z.object({
    id: z.string(),
    type: z.literal("Multikey"),
    controller: z.string(),
    publicKeyMultibase: z.string(),
  })),
  authentication: z.array(z.string()),
  assertionMethod: z.array(z.string()),
}).openapi("DidDocument");

/** A page of devices. */
export const DevicePage = z.object({
  devices: z.array(DeviceView),
  next: z.string().nullable().openapi({
    description: "Pass as `after` to get the next page; null when this page is the last.",
  }),
}).openapi("DevicePage");

/** `GET /v1/devices/{did}`. */
export const getDevice = createRoute({
  method: "get",
  path: "/v1/devices/{did}",
  operationId: "getDevice",
  tags: ["identity"],
  summary: "A device: status, current key, attributes, key history, reports, events",
  request: { params: z.object({ did: DeviceRef }), query: z.object({ ...readParams }) },
  responses: {
    200: json(DeviceView, "The device."),
    404: problem("`not_found`: no device with that DID or key."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/devices/{did}/did.json`. */
export const getDeviceDidDocument = createRoute({
  method: "get",
  path: "/v1/devices/{did}/did.json",
  operationId: "getDeviceDidDocument",
  tags: ["identity"],
  summary: "The device's W3C DID document",
  description: "The current key is the one verification method. A quarantined device's key is " +
    "listed but not authorised for `authentication` or `assertionMethod`. A revoked device is " +
    "deactivated: 410 `device_revoked`.",
  request: { params: z.object({ did: DeviceRef }), query: z.object({ ...readParams }) },
  responses: {
    200: {
      description: "The DID document, as `application/did+json` unless the request accepts " +
        "only `application/json`.",
      headers: NEGOTIATED_HEADERS,
      content: {
        [DID_JSON_MEDIA_TYPE]: { schema: DidDocument },
        "application/json": { schema: DidDocument },
      },
    },
    404: problem("`not_found`: no device with that DID or key."),
    410: problem("`device_revoked`: the device is revoked (its DID is deactivated)."),
    ...COMMON_PROBLEMS,
  },
});

/** `GET /v1/devices?prefix=&after=&limit=`. */
export const listDevices = createRoute({
  method: "get",
  path: "/v1/devices",
  operationId: "listDevices",
  tags: ["identity"],
  summary: "Devices whose name starts with a prefix, ascending by name",
  request: {
    query: z.object({
      prefix: z.string().max(128).optional().openapi({ example: "demo/cameras/" }),
      after: z.string().min(1).max(256).optional().openapi({
        description: "The `next` of the previous page.",
      }),
      limit: decimalInt(1, DEVICES_PAGE_LIMIT_MAX).optional().openapi({
        type: "integer",
        minimum: 1,
        maximum: DEVICES_PAGE_LIMIT_MAX,
        default: DEVICES_PAGE_LIMIT_DEFAULT,
      }),
      ...readParams,
    }),
  },
  responses: { 200: json(DevicePage, "The page."), ...COMMON_PROBLEMS },
});

/** Every `identity.*` read route. */
export const IDENTITY_ROUTES = { getDevice, getDeviceDidDocument, listDevices } as const;
