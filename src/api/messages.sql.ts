import { sql } from '../db/db.ts';

/**
 * The tool calls that led to an agent reply (docs/tools.md): those recorded
 * with its turn id, on the reply's first message only (a long reply is split
 * into several). Null for every other message.
 */
const TOOL_CALLS_OF_REPLY = `CASE WHEN m.direction = 'outbound' AND m.author = 'agent' AND m.turn_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM messages p WHERE p.turn_id = m.turn_id AND p.direction = 'outbound' AND p.id < m.id)
  THEN (SELECT json_agg(json_build_object('id', t.id::text, 'name', t.name, 'arguments', t.arguments, 'status', t.status,
          'duration_ms', t.duration_ms, 'excerpt', t.result_excerpt, 'created_at', t.created_at) ORDER BY t.id)
        FROM tool_calls t WHERE t.turn_id = m.turn_id AND t.conversation_id = m.conversation_id) END`;

/** The columns of one message as the API maps it (views.ts), for json_agg and row_to_json. */
export const MESSAGE_COLUMNS = `m.id::text AS id, m.conversation_id::text AS conversation_id, m.direction, m.author, m.wamid,
  m.type, m.body, m.media, m.status, m.disposition, m.turn_id::text AS turn_id, m.error_code, m.error_title,
  m.errors, m.pricing_category, m.created_at, ${TOOL_CALLS_OF_REPLY} AS tool_calls`;

/**
 * A conversation's messages after message $3 (null: from the first), oldest
 * first, at most $4; $2 the caller's tenant (null: the admin). `found` tells
 * an empty page from a conversation the caller cannot see.
 *
 * Keyset on the id neither skips nor repeats while messages arrive: every
 * statement that inserts messages into a conversation (ingest, reply commit,
 * outbox) locks the conversation row before the ids are drawn and holds it
 * to commit, so within one conversation ids become visible in id order.
 */
export const MESSAGES_ASC = sql(
  'api_messages_asc',
  `WITH conv AS (SELECT id FROM conversations WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2::bigint))
   SELECT EXISTS (SELECT 1 FROM conv) AS found,
          (SELECT coalesce(json_agg(x ORDER BY x.n), '[]') FROM (
             SELECT m.id AS n, ${MESSAGE_COLUMNS}
             FROM messages m
             WHERE m.conversation_id = (SELECT id FROM conv) AND ($3::bigint IS NULL OR m.id > $3::bigint)
             ORDER BY m.id LIMIT $4) x) AS items`,
);

/** Like MESSAGES_ASC, newest first: the messages before $3 (null: from the newest). */
export const MESSAGES_DESC = sql(
  'api_messages_desc',
  `WITH conv AS (SELECT id FROM conversations WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2::bigint))
   SELECT EXISTS (SELECT 1 FROM conv) AS found,
          (SELECT coalesce(json_agg(x ORDER BY x.n DESC), '[]') FROM (
             SELECT m.id AS n, ${MESSAGE_COLUMNS}
             FROM messages m
             WHERE m.conversation_id = (SELECT id FROM conv) AND ($3::bigint IS NULL OR m.id < $3::bigint)
             ORDER BY m.id DESC LIMIT $4) x) AS items`,
);

/** Messages by id, in one conversation (the rows a manual send queued), oldest first. */
export const MESSAGES_BY_IDS = sql(
  'api_messages_by_ids',
  `SELECT coalesce(json_agg(x ORDER BY x.n), '[]') AS items FROM (
     SELECT m.id AS n, m.tenant_id::text AS tenant_id, ${MESSAGE_COLUMNS}
     FROM messages m WHERE m.conversation_id = $1 AND m.id = ANY($2::bigint[])) x`,
);
