import { sql } from '../db/db.ts';

/**
 * The channel on which every process is told to forget what it cached:
 * payload `key:<api key id>` (revoked), `session:<session id>` (signed out),
 * `tenant:<tenant id>` (disabled, enabled or being deleted: its keys,
 * sessions and settings) or `channel:<channel id>` (token rotated, removed).
 */
export const KEYS_CHANNEL = 'wagate_keys';

export const API_KEY_INSERT = sql(
  'api_key_insert',
  `INSERT INTO api_keys (tenant_id, key_hash, prefix) SELECT id, $2, $3 FROM tenants WHERE id = $1 RETURNING id`,
);

/** A working key, and whether the operator disabled its tenant. */
export const API_KEY_LOOKUP = sql(
  'api_key_lookup',
  `SELECT k.id, k.tenant_id, t.disabled_at IS NOT NULL AS disabled
   FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
   WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND t.deleting_at IS NULL`,
);

/** One row per key of the tenant, newest first; one row with a null key id for a tenant without keys; none for no tenant. */
export const API_KEY_LIST = sql(
  'api_key_list',
  `SELECT t.id AS tenant_id, k.id, k.prefix, k.created_at, k.last_used_at, k.revoked_at
   FROM tenants t LEFT JOIN api_keys k ON k.tenant_id = t.id
   WHERE t.id = $1
   ORDER BY k.id DESC`,
);

/**
 * Revokes a key ($2: only if it is this tenant's; null: any), ends its
 * sessions and tells every process, in one statement (the notification is
 * delivered at commit). Revoking a revoked key keeps its first revocation time.
 */
export const API_KEY_REVOKE = sql(
  'api_key_revoke',
  `WITH k AS (
     UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
     WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2::bigint)
     RETURNING id, tenant_id, prefix, created_at, last_used_at, revoked_at
   ), ended AS (
     DELETE FROM sessions WHERE api_key_id IN (SELECT id FROM k)
   )
   SELECT k.*, pg_notify('${KEYS_CHANNEL}', 'key:' || k.id) AS notified FROM k`,
);

export const API_KEY_TOUCH = sql('api_key_touch', `UPDATE api_keys SET last_used_at = now() WHERE id = $1`);
