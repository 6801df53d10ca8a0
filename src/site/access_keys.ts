/**
 * The keys a site checks requests against — tenant API keys under `/v1/`
 * (with `requireApiKey`) and admin keys under `/v1/admin/` — held where the
 * HTTP middleware reads them on every request, so that a site puts a
 * changed config's keys in service on SIGHUP without a restart: a leaked
 * tenant or admin key is revoked, a new tenant admitted, an admin key
 * rotated, while the site keeps its place in the cluster.
 *
 * @example
 * ```ts
 * const keys = new AccessKeys(config);
 * createApp(site, { apiKeys: keys.api });
 * adminRoot(service, keys.admin, logError);
 * const change = keys.replace((await loadSiteFiles(path)).config);
 * ```
 *
 * @module
 */
import {
  type ApiKeyEntry,
  type ApiKeyOptions,
  type ApiKeyRequirement,
  keyEntryOf,
} from "../api/api_keys.ts";

/** The config members a site's access keys come from. */
export interface AccessKeyConfig {
  apiKeys: readonly ApiKeyEntry[];
  requireApiKey: ApiKeyRequirement;
  adminKeyHashes: readonly string[];
}

/** What {@link AccessKeys.replace} changed (names of tenant keys; admin keys are counted, never shown). */
export interface AccessKeyChange {
  /** Tenant keys new by name, or whose hash or budget changed. */
  apiKeysAdded: string[];
  apiKeysChanged: string[];
  apiKeysRemoved: string[];
  /** The requirement before and after, when it changed. */
  requireApiKey?: { from: ApiKeyRequirement; to: ApiKeyRequirement };
  adminKeysAdded: number;
  adminKeysRemoved: number;
}

/** A site's access keys, replaceable while it serves (see the module doc). */
export class AccessKeys {
  /** Read by the `/v1/` API key middleware on every request. */
  readonly api: ApiKeyOptions;
  /** The admin keys' SHA-256 hex, read by `/v1/admin/` on every request (replaced in place). */
  readonly admin: string[];

  constructor(config: AccessKeyConfig) {
    this.api = { keys: [...config.apiKeys], require: config.requireApiKey };
    this.admin = [...config.adminKeyHashes];
  }

  /** Whether `hash` (SHA-256 hex) is one of the tenant keys in service. */
  isTenantKey(hash: string): boolean {
    return keyEntryOf(this.api.keys, hash) !== undefined;
  }

  /**
   * Puts `config`'s keys in service for the next request, and says what
   * changed; nothing when `config` holds the same keys. Requests already
   * past the checks are not affected.
   */
  replace(config: AccessKeyConfig): AccessKeyChange | undefined {
    const before = new Map(this.api.keys.map((k) => [k.name, k]));
    const after = new Map(config.apiKeys.map((k) => [k.name, k]));
    const change: AccessKeyChange = {
      apiKeysAdded: [...after.keys()].filter((n) => !before.has(n)),
      apiKeysChanged: [...after.values()].filter((k) => {
        const old = before.get(k.name);
        return old !== undefined &&
          (old.hash !== k.hash || old.requestsPerMinute !== k.requestsPerMinute);
      }).map((k) => k.name),
      apiKeysRemoved: [...before.keys()].filter((n) => !after.has(n)),
      adminKeysAdded: config.adminKeyHashes.filter((h) => !this.admin.includes(h)).length,
      adminKeysRemoved: this.admin.filter((h) => !config.adminKeyHashes.includes(h)).length,
    };
    if (this.api.require !== config.requireApiKey) {
      change.requireApiKey = { from: this.api.require, to: config.requireApiKey };
    }
    const same = change.apiKeysAdded.length === 0 && change.apiKeysChanged.length === 0 &&
      change.apiKeysRemoved.length === 0 && change.requireApiKey === undefined &&
      change.adminKeysAdded === 0 && change.adminKeysRemoved === 0;
    if (same) return undefined;
    this.api.keys = [...config.apiKeys];
    this.api.require = config.requireApiKey;
    this.admin.splice(0, this.admin.length, ...config.adminKeyHashes);
    return change;
  }
}
