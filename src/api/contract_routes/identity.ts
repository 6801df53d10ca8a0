/**
 * Read routes of `identity.*` (`sdk/api/contract_routes/identity.ts`).
 *
 * @module
 */
import {
  DEVICES_PAGE_LIMIT_DEFAULT,
  DID_JSON_MEDIA_TYPE,
  DidDocument,
  getDevice,
  getDeviceDidDocument,
  listDevices,
} from "../../../sdk/api/contract_routes/identity.ts";
import type { z } from "@hono/zod-openapi";
import { isDidKey } from "../../../sdk/did_key.ts";
import { deviceDid, parseDeviceDid } from "../../../sdk/kinds/identity.ts";
import { DEVICE_NS, type DeviceRecord } from "../../contracts/identity.ts";
import { IDENTITY_STATUS_NS, type KeyStatusRecord } from "../../contracts/gov.ts";
import { type Consistency, LedgerError, type LedgerService } from "../service.ts";
import type { ContractRouteRegistrar } from "./mod.ts";

function notFound(detail: string): LedgerError {
  return new LedgerError("not_found", 404, "Not found", detail);
}

/** The device `ref` (its DID or one of its keys) names, or a 404. */
async function resolveDevice(
  service: LedgerService,
  ref: string,
  consistency: Consistency,
): Promise<{ ledger: string; device: DeviceRecord }> {
  const { ledger } = await service.status();
  let name: string | undefined;
  if (isDidKey(ref)) {
    const status = await service.stateGet(IDENTITY_STATUS_NS, ref, consistency) as
      | KeyStatusRecord
      | undefined;
    name = status?.device;
  } else {
    const parsed = parseDeviceDid(ref);
    if (parsed !== undefined && parsed.ledger === ledger) name = parsed.name;
  }
  const device = name === undefined
    ? undefined
    : await service.stateGet(DEVICE_NS, name, consistency) as DeviceRecord | undefined;
  if (device === undefined) throw notFound(`Cannot find a device for ${ref.slice(0, 256)}`);
  return { ledger, device };
}

/**
 * The W3C DID Core document of a device that is not revoked: its current
 * key as a Multikey verification method (the did:key's multibase value is
 * the Multikey encoding), authorised for authentication and assertion only
 * while the device is active.
 */
export function didDocument(did: string, device: DeviceRecord): Record<string, unknown> {
  const multibase = device.key.slice("did:key:".length);
  const vm = `${did}#${multibase}`;
  const active = device.status === "active";
  return {
    "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
    id: did,
    alsoKnownAs: [device.key],
    verificationMethod: [{
      id: vm,
      type: "Multikey",
      controller: did,
      publicKeyMultibase: multibase,
    }],
    authentication: active ? [vm] : [],
    assertionMethod: active ? [vm] : [],
  };
}

/** Adds the `identity.*` read routes. */
export const identityRoutes: ContractRouteRegistrar = (app, service) => {
  app.openapi(getDevice, async (c) => {
    const { did } = c.req.valid("param");
    const { consistency } = c.req.valid("query");
    const { ledger, device } = await resolveDevice(service, did, consistency);
    c.header("Cache-Control", "no-cache");
    return c.json({ did: deviceDid(ledger, device.name), ...device }, 200);
  });
  app.openapi(getDeviceDidDocument, async (c) => {
    const { did } = c.req.valid("param");
    const { consistency } = c.req.valid("query");
    const { ledger, device } = await resolveDevice(service, did, consistency);
    const id = deviceDid(ledger, device.name);
    if (device.status === "revoked") {
      throw new LedgerError(
        "device_revoked",
        410,
        "Device revoked",
        `Cannot resolve ${id}: the device is revoked (its DID is deactivated)`,
      );
    }
    c.header("Cache-Control", "no-cache");
    c.header("Vary", "Accept");
    // DID Core §6.2's media type, unless the client asked for plain JSON
    // only; c.json keeps a Content-Type given here.
    const accept = c.req.header("accept") ?? "";
    const plain = accept.includes("application/json") && !accept.includes(DID_JSON_MEDIA_TYPE);
    return c.json(didDocument(id, device) as z.infer<typeof DidDocument>, 200, {
      "Content-Type": plain ? "application/json" : DID_JSON_MEDIA_TYPE,
    });
  });
  app.openapi(listDevices, async (c) => {
    const { prefix = "", after, limit = DEVICES_PAGE_LIMIT_DEFAULT, consistency } = c.req.valid(
      "query",
    );
    const [{ ledger }, rows] = await Promise.all([
      service.status(),
      service.stateRange(DEVICE_NS, prefix, { limit, after }, consistency),
    ]);
    const devices = rows.map((r) => {
      const d = r.value as DeviceRecord;
      return { did: deviceDid(ledger, d.name), ...d };
    });
    const next = rows.length === limit ? rows[rows.length - 1].key : null;
    c.header("Cache-Control", "no-cache");
    return c.json({ devices, next }, 200);
  });
};
