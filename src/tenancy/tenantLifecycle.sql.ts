import { sql } from '../db/db.ts';
import { KEYS_CHANNEL } from './apiKeys.sql.ts';

const THIS_MONTH = `date_trunc('month', now() AT TIME ZONE 'UTC')::date`;

/**
 * Tenants with this month's usage, newest first. $1 a search (digits only:
 * the id; else a name fragment, ILIKE-escaped), $2 before this id, $3 'active' |
 * 'disabled' | null, $4 how many. Tenants being deleted are not listed.
 */
export const TENANT_LIST = sql(
  'tenant_list',
  `SELECT t.id, t.name, t.monthly_message_limit, t.retention_days, t.disabled_at, t.created_at,
          coalesce(u.count, 0) AS usage_count,
          (SELECT count(*)::int FROM channels c WHERE c.tenant_id = t.id AND c.removed_at IS NULL) AS channels
   FROM tenants t
   LEFT JOIN usage u ON u.tenant_id = t.id AND u.month = ${THIS_MONTH}
   WHERE t.deleting_at IS NULL
     AND ($1::text IS NULL OR CASE WHEN $1 ~ '^[0-9]{1,18}$' THEN t.id = $1::bigint ELSE t.name ILIKE '%' || $1 || '%' END)
     AND ($2::bigint IS NULL OR t.id < $2::bigint)
     AND ($3::text IS NULL OR ($3 = 'disabled') = (t.disabled_at IS NOT NULL))
   ORDER BY t.id DESC LIMIT $4`,
);

/**
 * Disables ($2 true) or enables a tenant; bumps its config version, so every
 * process's runner reloads its settings at the tenant's next message.
 * Disabling ends the tenant's dashboard sessions. Every process is told
 * (`tenant:<id>`) at commit, so cached keys are looked up again. Returns
 * whether the state changed.
 */
export const TENANT_SET_DISABLED = sql(
  'tenant_set_disabled',
  `WITH before AS (SELECT id, disabled_at IS NOT NULL AS was FROM tenants WHERE id = $1 AND deleting_at IS NULL FOR UPDATE),
   t AS (
     UPDATE tenants SET disabled_at = CASE WHEN $2::boolean THEN coalesce(disabled_at, now()) END,
                        config_version = config_version + 1
     WHERE id IN (SELECT id FROM before)
     RETURNING id
   ), ended AS (
     DELETE FROM sessions WHERE $2::boolean AND tenant_id IN (SELECT id FROM t)
   )
   SELECT t.id, b.was <> $2::boolean AS changed, pg_notify('${KEYS_CHANNEL}', 'tenant:' || t.id) AS notified
   FROM t JOIN before b ON b.id = t.id`,
);

/**
 * Starts a tenant's deletion: marks it (its channels stop routing in the
 * same commit: ingest ignores a tenant being deleted), disables it, revokes
 * its keys and ends its sessions; every process is told. Housekeeping then
 * removes its rows in batches. A second call finds it marked and changes nothing.
 */
export const TENANT_MARK_DELETING = sql(
  'tenant_mark_deleting',
  `WITH t AS (
     UPDATE tenants SET deleting_at = coalesce(deleting_at, now()), disabled_at = coalesce(disabled_at, now()),
                        config_version = config_version + 1
     WHERE id = $1
     RETURNING id, name
   ), keys AS (
     UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE tenant_id IN (SELECT id FROM t)
   ), ended AS (
     DELETE FROM sessions WHERE tenant_id IN (SELECT id FROM t)
   )
   SELECT t.id, t.name, pg_notify('${KEYS_CHANNEL}', 'tenant:' || t.id) AS notified FROM t`,
);
