import { sql } from '../db/db.ts';

/**
 * A batch of media whose message is gone ($1 a tenant, or null for all; $2
 * the batch size; $3 true to take rows still pending too, for a tenant being
 * deleted). A pending row is otherwise left for ten minutes: the media lane
 * may still be writing its file, and settles it itself.
 */
export const MEDIA_ORPHANS = sql(
  'media_orphans',
  `SELECT id::text AS id, storage_key FROM media
   WHERE message_id IS NULL AND ($1::bigint IS NULL OR tenant_id = $1::bigint)
     AND ($3::boolean OR status <> 'pending' OR updated_at < now() - interval '10 minutes')
   ORDER BY id LIMIT $2`,
);

/** Removes media rows whose files are gone ($1 ids); only rows still without a message. */
export const MEDIA_DELETE = sql(
  'media_delete',
  `WITH d AS (DELETE FROM media WHERE id = ANY($1::bigint[]) AND message_id IS NULL RETURNING 1) SELECT count(*)::int AS n FROM d`,
);
