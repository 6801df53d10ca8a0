/**
 * The body schema of every transaction kind the ledger knows, keyed by kind.
 * Server and SDK share these: a kind added here appears in both.
 *
 * @module
 */
import { dataAnchorBody } from "./data.ts";
import { GOV_BODIES } from "./gov.ts";
import { IDENTITY_BODIES } from "./identity.ts";
import { ASSET_BODIES } from "./asset.ts";
import { CUSTODY_BODIES } from "./custody.ts";
import { ACCESS_BODIES } from "./access.ts";
import { ROAMING_BODIES } from "./roaming.ts";

export * from "./data.ts";
export * from "./gov.ts";
export * from "./identity.ts";
export * from "./asset.ts";
export * from "./custody.ts";
export * from "./access.ts";
export * from "./roaming.ts";
export * from "./readings.ts";
export type { BuilderOptions } from "./_common.ts";

/** Every known kind's body schema. */
export const KIND_BODIES = {
  "data.anchor": dataAnchorBody,
  ...GOV_BODIES,
  ...IDENTITY_BODIES,
  ...ASSET_BODIES,
  ...CUSTODY_BODIES,
  ...ACCESS_BODIES,
  ...ROAMING_BODIES,
} as const;

/** A transaction kind the ledger knows. */
export type Kind = keyof typeof KIND_BODIES;
