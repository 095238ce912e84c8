import { sql } from '../db/db.ts';
import { KEYS_CHANNEL } from '../tenancy/apiKeys.sql.ts';

/**
 * Opens a session ($2, $3: the tenant key and its tenant; $4: the admin key's
 * hash; $5: lifetime in seconds). A tenant session is opened only for a key
 * that still works. Sign-ins also sweep the expired sessions of everyone.
 */
export const SESSION_OPEN = sql(
  'session_open',
  `WITH swept AS (
     DELETE FROM sessions WHERE expires_at <= now()
   )
   INSERT INTO sessions (token_hash, api_key_id, tenant_id, admin_key_hash, expires_at)
   SELECT $1, $2::bigint, $3::bigint, $4::text, now() + make_interval(secs => $5::int)
   WHERE $2::bigint IS NULL OR EXISTS (SELECT 1 FROM api_keys WHERE id = $2::bigint AND tenant_id = $3::bigint AND revoked_at IS NULL)
   RETURNING id, expires_at`,
);

/**
 * A live session by its token's hash. An expired one is deleted on the way;
 * one whose key was revoked is not returned even if a sign-in raced the
 * revocation's delete.
 */
export const SESSION_FIND = sql(
  'session_find',
  `WITH expired AS (
     DELETE FROM sessions WHERE token_hash = $1 AND expires_at <= now()
   )
   SELECT s.id, s.api_key_id, s.tenant_id, s.admin_key_hash, s.expires_at
   FROM sessions s LEFT JOIN api_keys k ON k.id = s.api_key_id
   WHERE s.token_hash = $1 AND s.expires_at > now() AND (s.api_key_id IS NULL OR k.revoked_at IS NULL)`,
);

/** Ends a session and tells every process (delivered at commit). */
export const SESSION_END = sql(
  'session_end',
  `WITH ended AS (
     DELETE FROM sessions WHERE token_hash = $1 RETURNING id
   )
   SELECT id, pg_notify('${KEYS_CHANNEL}', 'session:' || id) AS notified FROM ended`,
);
