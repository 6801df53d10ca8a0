/**
 * Typed transaction builders for every kind the ledger knows, inferred from
 * the same zod body schemas the server validates with ({@link KIND_BODIES}):
 * a kind added to the ledger appears here with its body type, and nothing is
 * written by hand.
 *
 * @module
 */
import type { z } from "zod";
import {
  createEnvelope,
  type CreateEnvelopeOptions,
  EnvelopeError,
  type UnsignedEnvelope,
} from "../envelope.ts";
import { type Kind, KIND_BODIES } from "./mod.ts";
import { checkBody } from "./_common.ts";

/** The body type of `kind`, as the caller writes it. */
export type KindBody<K extends Kind> = z.input<(typeof KIND_BODIES)[K]>;

/** Everything of an envelope but the kind and body. */
export type TxOptions = Omit<CreateEnvelopeOptions, "kind" | "body">;

/**
 * Builds an unsigned envelope of `kind`, checking `body` against the kind's
 * schema first so a mistake fails here, with the field named, not at the
 * site. The body is signed exactly as given. Throws {@link EnvelopeError}
 * (`code: "schema"`, with the zod issues) for an unknown kind or a body that
 * does not match.
 *
 * @example
 * ```ts
 * const unsigned = buildTx("asset.transfer", { asset: "kwh", from: car.did, to: post.did, amount: "25" }, {
 *   ledger: "demo",
 *   signers: [car.did],
 * });
 * const envelope = await signEnvelope(unsigned, [softwareSigner(car)]);
 * ```
 */
export function buildTx<K extends Kind>(
  kind: K,
  body: KindBody<K>,
  options: TxOptions,
): UnsignedEnvelope {
  const schema = KIND_BODIES[kind] as z.ZodType | undefined;
  if (schema === undefined) throw new EnvelopeError("schema", `Unknown kind ${String(kind)}`);
  checkBody(schema, kind, body);
  return createEnvelope({ ...options, kind, body });
}

/** Every kind a builder exists for, sorted. */
export function knownKinds(): Kind[] {
  return (Object.keys(KIND_BODIES) as Kind[]).sort();
}
