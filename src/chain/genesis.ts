/**
 * The genesis config and block 0 derived from it.
 *
 * Block 0 commits to the whole config: its `prev` is the hex SHA-256 of
 * `"edgeledger/genesis/v1\n" + JCS(config)`, so two sites with different
 * configs can never share a chain.
 *
 * @module
 */
import { z } from "zod";
import { blockHash, type BlockHeader } from "../../sdk/block.ts";
import { canonicalJson } from "../../sdk/canonical_json.ts";
import { EMPTY_ROOT } from "../../sdk/merkle.ts";
import { hexEncode, utf8Encode } from "../../sdk/encoding.ts";
import { sha256Hex } from "../../sdk/hash.ts";

const name = z.string().regex(
  /^[a-z0-9][a-z0-9._-]{0,63}$/,
  "must be 1-64 of a-z, 0-9, '.', '_', '-'",
);

/** The genesis config: who the consortium is and its first policies. */
export const genesisSchema = z.strictObject({
  v: z.literal(1),
  ledger: name,
  /** The C2SP checkpoint origin line, e.g. `edgeledger.example/demo`. */
  origin: z.string().min(1).max(256).regex(/^[^\s+][^\n+]*$/, "must be one line without '+'"),
  /** Genesis time, ms. */
  time: z.number().int().min(0),
  organisations: z.array(z.strictObject({ id: name, name: z.string().min(1).max(128) })).min(1)
    .max(64),
  sites: z.array(z.strictObject({
    name,
    org: name,
    /** Ed25519 public key, base64url. */
    publicKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be a base64url Ed25519 key"),
    url: z.url(),
  })).min(1).max(64),
  policies: z.strictObject({
    /** How far in the future `expiresAt` may lie at admission, ms. */
    expiryWindowMs: z.number().int().min(1000).max(30 * 24 * 3600 * 1000),
    /** Kinds any did:key may submit without being registered. */
    openKinds: z.array(z.string()).max(64),
  }),
});

/** A parsed genesis config. */
export type GenesisConfig = z.infer<typeof genesisSchema>;

/** The domain-separated hash that block 0's `prev` carries. */
export function genesisConfigHash(config: GenesisConfig): string {
  return sha256Hex(utf8Encode("edgeledger/genesis/v1\n" + canonicalJson(config)));
}

/** Block 0 of the ledger that `config` describes. */
export function genesisBlock(config: GenesisConfig): { header: BlockHeader; hash: string } {
  const header: BlockHeader = {
    v: 1,
    ledger: config.ledger,
    height: 0,
    prev: genesisConfigHash(config),
    time: config.time,
    term: 0,
    proposer: "genesis",
    txCount: 0,
    logSize: 0,
    logRoot: hexEncode(EMPTY_ROOT),
  };
  return { header, hash: blockHash(header) };
}
