import { sql } from '../db/db.ts';
import { MESSAGE_COLUMNS } from './messages.sql.ts';

/**
 * What the API shows of a conversation `c` (joined with its contact `k`):
 * the latest message and the customer messages since an operator last read it.
 */
const CONVERSATION_COLUMNS = `c.id::text AS id, c.tenant_id::text AS tenant_id, c.channel_id::text AS channel_id,
  c.paused, c.paused_until, c.paused_by, c.last_message_at,
  k.id::text AS contact_id, k.wa_id, k.user_id, k.profile_name, k.last_inbound_at,
  (SELECT row_to_json(lm) FROM (SELECT ${MESSAGE_COLUMNS} FROM messages m
     WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1) lm) AS last_message,
  (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'inbound'
     AND m.created_at > coalesce(c.operator_read_at, '-infinity'))::int AS unread`;

/**
 * The list's filters on a conversation `c`, from $7 (paused), $8 (the
 * disposition of the customer's latest message, 'pending' when unsettled)
 * and $9 (unanswered: the latest message that wants an answer is the
 * customer's). They read the current rows.
 */
const FILTERS = `($7::boolean IS NULL OR c.paused = $7::boolean)
  AND ($8::text IS NULL OR $8::text = (SELECT coalesce(m.disposition, 'pending') FROM messages m
        WHERE m.conversation_id = c.id AND m.direction = 'inbound' ORDER BY m.id DESC LIMIT 1))
  AND ($9::boolean IS NULL OR $9::boolean = coalesce((SELECT m.direction = 'inbound' FROM messages m
        WHERE m.conversation_id = c.id AND NOT (m.direction = 'inbound' AND m.disposition IN ('no_answer_needed', 'duplicate'))
        ORDER BY m.id DESC LIMIT 1), false))`;

/** Whether snapshot `snap.s` saw the conversation's newest message (so all of them). */
const SEEN_WHOLE = `coalesce(pg_visible_in_snapshot(
  (SELECT m.created_xid FROM messages m WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1), snap.s), true)`;

/**
 * One page of the conversation list, newest activity first
 * (last_message_at DESC, id DESC).
 *
 * A walk through the pages is pinned to the snapshot of its first page, so
 * it neither skips nor repeats a conversation while messages arrive (a new
 * message would otherwise move a conversation not yet listed above the
 * cursor, out of the walk): each conversation keeps the place the snapshot
 * gave it. Conversations that appear after the first page are not in the
 * walk; a new first page (or the live events) shows them.
 *  - `settled`: conversations whose newest message the snapshot saw. Their
 *    stored last_message_at is the key the snapshot had: index order.
 *  - `moved`: conversations with messages the snapshot did not see. Their key
 *    is recomputed from the messages it saw, as the writers compute
 *    last_message_at: the latest of created_at and WhatsApp's timestamp.
 *    Only conversations active since the horizon can be here: any statement
 *    that adds a message sets last_message_at to at least its own start, and
 *    the horizon is the first page's time less a minute (longer than any
 *    statement that inserts messages runs).
 * Within a conversation ids become visible in id order (inserts hold the
 * conversation's row lock), so "the snapshot saw the newest message" means
 * it saw them all.
 *
 * $1 tenant (null: every tenant), $2 the walk's snapshot (null: this is the
 * first page, use the statement's), $3 its horizon in µs since the epoch,
 * $4/$5 the cursor (key in µs, id), $6 rows wanted, $7–$9 filters (FILTERS).
 */
export const CONVERSATION_PAGE = sql(
  'api_conversation_page',
  `
WITH snap AS (
  SELECT coalesce($2::pg_snapshot, pg_current_snapshot()) AS s,
         coalesce(timestamptz 'epoch' + $3::bigint * interval '1 microsecond', statement_timestamp() - interval '60 seconds') AS h
),
cur AS (
  SELECT timestamptz 'epoch' + $4::bigint * interval '1 microsecond' AS k, $5::bigint AS id
),
settled AS (
  SELECT c.id, c.last_message_at AS k
  FROM conversations c CROSS JOIN snap CROSS JOIN cur
  WHERE ($1::bigint IS NULL OR c.tenant_id = $1::bigint)
    AND (cur.k IS NULL OR (c.last_message_at, c.id) < (cur.k, cur.id))
    AND (c.last_message_at < snap.h OR ${SEEN_WHOLE})
    AND ${FILTERS}
  ORDER BY c.last_message_at DESC, c.id DESC
  LIMIT $6
),
moved AS (
  SELECT c.id, v.k
  FROM conversations c CROSS JOIN snap CROSS JOIN cur
  CROSS JOIN LATERAL (
    SELECT max(greatest(m.created_at, coalesce(m.wa_timestamp, m.created_at))) AS k
    FROM messages m WHERE m.conversation_id = c.id AND pg_visible_in_snapshot(m.created_xid, snap.s)
  ) v
  WHERE $2::pg_snapshot IS NOT NULL
    AND ($1::bigint IS NULL OR c.tenant_id = $1::bigint)
    AND c.last_message_at >= snap.h
    AND NOT ${SEEN_WHOLE}
    AND v.k IS NOT NULL
    AND (cur.k IS NULL OR (v.k, c.id) < (cur.k, cur.id))
    AND ${FILTERS}
),
page AS (
  SELECT id, k FROM settled UNION ALL SELECT id, k FROM moved
  ORDER BY k DESC, id DESC
  LIMIT $6
)
SELECT ${CONVERSATION_COLUMNS},
       (extract(epoch FROM page.k) * 1000000)::bigint::text AS sort_key,
       (SELECT s::text FROM snap) AS snapshot,
       (SELECT (extract(epoch FROM h) * 1000000)::bigint::text FROM snap) AS horizon
FROM page
JOIN conversations c ON c.id = page.id
JOIN contacts k ON k.id = c.contact_id
ORDER BY page.k DESC, page.id DESC
`,
);

/** One conversation, if the caller ($2: tenant, null for the admin) may see it. */
export const CONVERSATION_BY_ID = sql(
  'api_conversation_by_id',
  `SELECT ${CONVERSATION_COLUMNS}
   FROM conversations c JOIN contacts k ON k.id = c.contact_id
   WHERE c.id = $1 AND ($2::bigint IS NULL OR c.tenant_id = $2::bigint)`,
);

/** Marks a conversation read by an operator now: its unread count starts again from 0. */
export const MARK_READ = sql(
  'api_conversation_mark_read',
  `UPDATE conversations SET operator_read_at = now()
   WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2::bigint)
   RETURNING id::text AS id`,
);

/** The tenant of a conversation the caller may see (the live events' filter check). */
export const CONVERSATION_TENANT = sql(
  'api_conversation_tenant',
  `SELECT tenant_id::text AS tenant_id FROM conversations WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2::bigint)`,
);
