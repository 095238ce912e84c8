import { sql } from '../db/db.ts';

/** A message's wamid in a conversation of the tenant ($1 conversation, $2 tenant or null, $3 message). */
export const MESSAGE_WAMID = sql(
  'rich_message_wamid',
  `SELECT m.wamid FROM messages m JOIN conversations v ON v.id = m.conversation_id
   WHERE m.id = $3 AND v.id = $1 AND ($2::bigint IS NULL OR v.tenant_id = $2::bigint)`,
);

/** A conversation's channel ($1 conversation, $2 tenant or null). */
export const CONVERSATION_CHANNEL = sql(
  'rich_conversation_channel',
  `SELECT channel_id::text AS "channelId" FROM conversations WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2::bigint)`,
);
