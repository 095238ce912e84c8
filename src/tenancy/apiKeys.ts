import type { Db } from '../db/db.ts';
import { notFound } from '../shared/errors.ts';
import { hashKey, newApiKey } from '../shared/secrets.ts';
import { API_KEY_INSERT, API_KEY_LIST, API_KEY_LOOKUP, API_KEY_REVOKE, API_KEY_TOUCH } from './apiKeys.sql.ts';

/** A tenant key as it may be shown: never the key or its hash. */
export interface ApiKeyInfo {
  id: string;
  tenantId: string;
  /** The key's first characters (`wgk_` and four more), to tell keys apart. */
  prefix: string;
  createdAt: string;
  /** When the key last authenticated a request, to the minute; null: never. */
  lastUsedAt: string | null;
  /** null while the key works. */
  revokedAt: string | null;
}

interface KeyRow {
  id: string;
  tenant_id: string;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

/** How often "last used" is written per key and process: a write per request would cost more than the request. */
export const LAST_USED_EVERY_MS = 60_000;

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const info = (r: KeyRow): ApiKeyInfo => ({
  id: r.id,
  tenantId: r.tenant_id,
  prefix: r.prefix,
  createdAt: r.created_at.toISOString(),
  lastUsedAt: iso(r.last_used_at),
  revokedAt: iso(r.revoked_at),
});

/** Tenant API keys: create, look up, list, revoke, and "last used". */
export class ApiKeys {
  private readonly written = new Map<string, number>();

  constructor(private readonly db: Db) {}

  /** A new tenant key; the only time it is ever shown. 404 for no such tenant. */
  async create(tenantId: string): Promise<{ id: string; key: string }> {
    const key = newApiKey();
    const [row] = await this.db.query<{ id: string }>(API_KEY_INSERT, [tenantId, hashKey(key), key.slice(0, 8)]);
    if (!row) throw notFound('tenant');
    return { id: row.id, key };
  }

  /** The key's id and tenant (and whether the tenant is disabled), or null for an unknown or revoked key. */
  async lookup(key: string): Promise<{ id: string; tenantId: string; disabled: boolean } | null> {
    if (!key.startsWith('wgk_') || key.length > 200) return null;
    const [row] = await this.db.query<{ id: string; tenant_id: string; disabled: boolean }>(API_KEY_LOOKUP, [hashKey(key)]);
    return row ? { id: row.id, tenantId: row.tenant_id, disabled: row.disabled } : null;
  }

  /** A tenant's keys, revoked ones included, newest first. 404 for no such tenant. */
  async list(tenantId: string): Promise<ApiKeyInfo[]> {
    const rows = await this.db.query<KeyRow>(API_KEY_LIST, [tenantId]);
    if (rows.length === 0) throw notFound('tenant');
    return rows.filter((r) => r.id !== null).map(info);
  }

  /**
   * Revokes a key and ends its dashboard sessions; every process is told at
   * commit. `tenantId` limits it to that tenant's keys (null: any key).
   * 404 for a key that does not exist or is another tenant's.
   */
  async revoke(keyId: string, tenantId: string | null): Promise<ApiKeyInfo> {
    const [row] = await this.db.query<KeyRow>(API_KEY_REVOKE, [keyId, tenantId]);
    if (!row) throw notFound('api key');
    return info(row);
  }

  /**
   * Notes that a key authenticated a request. Written at most once every
   * LAST_USED_EVERY_MS per key in this process, without waiting: "last used"
   * is a hint for the operator, and a failed write only delays it.
   */
  markUsed(keyId: string): void {
    const now = Date.now();
    const last = this.written.get(keyId);
    if (last !== undefined && now - last < LAST_USED_EVERY_MS) return;
    if (this.written.size > 100_000) this.written.clear();
    this.written.set(keyId, now);
    this.db.query(API_KEY_TOUCH, [keyId]).catch(() => this.written.delete(keyId));
  }
}
