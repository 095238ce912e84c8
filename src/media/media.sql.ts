import { sql } from '../db/db.ts';

/** The columns the lane and the API read of a media row. */
const COLUMNS = `id::text AS id, tenant_id::text AS tenant_id, message_id::text AS message_id, kind, wa_media_id, mime, filename,
  size, sha256, storage_key, status, error, transcript, language, text_excerpt, duration_s, pages, attempts`;

/**
 * The media row of a message, made pending if there is none ($1 tenant, $2
 * message, $3 kind, $4 Meta's media id, $5 declared mime, $6 file name): one
 * statement, so two processes that both start on it share one row.
 */
export const MEDIA_OPEN = sql(
  'media_open',
  `WITH ins AS (
     INSERT INTO media (tenant_id, message_id, kind, wa_media_id, mime, filename)
     SELECT $1::bigint, $2::bigint, $3, $4, $5, $6
     WHERE EXISTS (SELECT 1 FROM messages WHERE id = $2::bigint AND tenant_id = $1::bigint)
     ON CONFLICT (message_id) DO NOTHING
     RETURNING ${COLUMNS}, true AS mine, 0::float8 AS age_s)
   SELECT * FROM ins
   UNION ALL
   SELECT ${COLUMNS}, false, extract(epoch FROM now() - updated_at)::float8 FROM media
   WHERE message_id = $2::bigint AND tenant_id = $1::bigint AND NOT EXISTS (SELECT 1 FROM ins)`,
);

/** Where a media row another process works on stands ($1 media id), with its message's `media`. */
export const MEDIA_STATE = sql(
  'media_state',
  `SELECT m.status, m.storage_key, m.mime, m.size, msg.media FROM media m JOIN messages msg ON msg.id = m.message_id WHERE m.id = $1::bigint`,
);

/**
 * The outcome of processing ($1 media id, $2 the outcome as JSON), written to
 * the media row and, as a summary the agent's text form and the API read,
 * into the message's `media.file`. Answers the row when it still exists (a
 * message removed meanwhile answers nothing, and its file is removed).
 */
export const MEDIA_SETTLE = sql(
  'media_settle',
  `WITH o AS (SELECT $2::jsonb AS j),
   u AS (
     UPDATE media SET
       status = o.j->>'status', error = o.j->>'error', mime = coalesce(o.j->>'mime', mime), size = (o.j->>'size')::bigint,
       sha256 = o.j->>'sha256', storage_key = o.j->>'storageKey', transcript = o.j->>'transcript', language = o.j->>'language',
       text_excerpt = o.j->>'excerpt', duration_s = (o.j->>'duration')::real, pages = (o.j->>'pages')::int,
       attempts = attempts + 1, updated_at = now()
     FROM o WHERE media.id = $1::bigint AND media.message_id IS NOT NULL
     RETURNING media.id, media.message_id),
   m AS (
     UPDATE messages SET media = coalesce(messages.media, '{}'::jsonb) || jsonb_build_object('file',
       jsonb_strip_nulls(jsonb_build_object('id', u.id::text, 'status', o.j->>'status', 'error', o.j->>'error', 'mime', o.j->>'mime',
         'size', (o.j->>'size')::bigint, 'transcript', o.j->>'transcript', 'language', o.j->>'language', 'excerpt', o.j->>'excerpt',
         'duration', (o.j->>'duration')::real, 'pages', (o.j->>'pages')::int)))
     FROM u, o WHERE messages.id = u.message_id
     RETURNING messages.media)
   SELECT (SELECT media FROM m) AS media, EXISTS (SELECT 1 FROM u) AS kept`,
);

/**
 * Notes that a turn stopped waiting for a message's media ($1 message id):
 * on the media row if it is still pending, and in the message's
 * `media.file` (the row may not exist yet when the lane is busy).
 */
export const MEDIA_TIMED_OUT = sql(
  'media_timed_out',
  `WITH u AS (UPDATE media SET error = 'timed_out', updated_at = now() WHERE message_id = $1::bigint AND status = 'pending' RETURNING id)
   UPDATE messages SET media = coalesce(messages.media, '{}'::jsonb)
     || jsonb_build_object('file', jsonb_strip_nulls(jsonb_build_object('id', (SELECT id::text FROM u), 'status', 'pending', 'error', 'timed_out')))
   WHERE messages.id = $1::bigint AND coalesce(messages.media->'file'->>'status', 'pending') = 'pending'`,
);

/** A media row as the API serves it: only the tenant's own ($2 null: the admin). */
export const MEDIA_BY_ID = sql(
  'media_by_id',
  `SELECT ${COLUMNS} FROM media WHERE id = $1::bigint AND ($2::bigint IS NULL OR tenant_id = $2::bigint)`,
);

/** A media row as the database returns it. */
export interface MediaRow {
  id: string;
  tenant_id: string;
  message_id: string | null;
  kind: string;
  wa_media_id: string;
  mime: string | null;
  filename: string | null;
  size: string | null;
  sha256: string | null;
  storage_key: string | null;
  status: 'pending' | 'ready' | 'failed';
  error: string | null;
  transcript: string | null;
  language: string | null;
  text_excerpt: string | null;
  duration_s: number | null;
  pages: number | null;
  attempts: number;
}

/** MEDIA_OPEN's row: whether this call made it, and how long ago it last changed. */
export interface OpenedMediaRow extends MediaRow {
  mine: boolean;
  age_s: number;
}
