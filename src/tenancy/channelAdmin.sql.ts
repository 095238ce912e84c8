import { sql } from '../db/db.ts';
import { KEYS_CHANNEL } from './apiKeys.sql.ts';

const CHANNEL_COLUMNS = 'id, tenant_id, phone_number_id, display_phone_number, messages_per_second, waba_id';

/** A tenant's channels in use, oldest first; one row with a null id for a tenant without channels; none for no tenant. */
export const CHANNEL_LIST = sql(
  'channel_list',
  `SELECT t.id AS tenant_id, c.id, c.phone_number_id, c.display_phone_number, c.messages_per_second, c.waba_id
   FROM tenants t LEFT JOIN channels c ON c.tenant_id = t.id AND c.removed_at IS NULL
   WHERE t.id = $1 AND t.deleting_at IS NULL
   ORDER BY c.id`,
);

/**
 * Changes a channel ($2 the new encrypted access token, or null to keep it;
 * $3 messagesPerSecond or null; $4 wabaId or null to keep it, '' to clear it), and tells every
 * process to forget its cached copy.
 */
export const CHANNEL_UPDATE = sql(
  'channel_update',
  `WITH c AS (
     UPDATE channels SET access_token_enc = coalesce($2, access_token_enc), messages_per_second = coalesce($3, messages_per_second),
                         waba_id = CASE WHEN $4::text IS NULL THEN waba_id ELSE nullif($4::text, '') END
     WHERE id = $1 AND removed_at IS NULL
       AND tenant_id IN (SELECT id FROM tenants WHERE deleting_at IS NULL)
     RETURNING ${CHANNEL_COLUMNS}
   )
   SELECT c.*, pg_notify('${KEYS_CHANNEL}', 'channel:' || c.id) AS notified FROM c`,
);

/** Marks a channel removed: it routes nothing from this commit on; housekeeping removes its rows. */
export const CHANNEL_MARK_REMOVED = sql(
  'channel_mark_removed',
  `WITH c AS (
     UPDATE channels SET removed_at = now()
     WHERE id = $1 AND removed_at IS NULL
     RETURNING ${CHANNEL_COLUMNS}
   )
   SELECT c.*, pg_notify('${KEYS_CHANNEL}', 'channel:' || c.id) AS notified FROM c`,
);
