import { sql } from '../db/db.ts';

/**
 * The contact rows of one customer of one tenant: the contact named ($1,
 * only if it is tenant $2's when $2 is given) and the same customer's rows on
 * the tenant's other channels (same contact key).
 */
export const ERASURE_TARGETS = sql(
  'erasure_targets',
  `SELECT o.id, o.tenant_id
   FROM contacts c JOIN contacts o ON o.tenant_id = c.tenant_id AND o.contact_key = c.contact_key
   WHERE c.id = $1 AND ($2::bigint IS NULL OR c.tenant_id = $2::bigint)
   ORDER BY o.id`,
);

/** A batch of their messages ($1 contact ids, $2 batch size). */
export const ERASURE_MESSAGES = sql(
  'erasure_messages',
  `WITH d AS (
     DELETE FROM messages WHERE id IN (
       SELECT m.id FROM conversations v JOIN messages m ON m.conversation_id = v.id WHERE v.contact_id = ANY($1::bigint[]) LIMIT $2)
     RETURNING 1)
   SELECT count(*)::int AS n FROM d`,
);

/**
 * The rest in one statement: any message that arrived meanwhile, the events
 * about their conversations (with their deliveries), the conversations and
 * the contacts (foreign keys are checked at the end of the
 * statement, when all three are gone).
 */
export const ERASURE_LAST = sql(
  'erasure_last',
  `WITH e AS (DELETE FROM events WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = ANY($1::bigint[]))),
   m AS (DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = ANY($1::bigint[])) RETURNING 1),
   v AS (DELETE FROM conversations WHERE contact_id = ANY($1::bigint[]) RETURNING id),
   c AS (DELETE FROM contacts WHERE id = ANY($1::bigint[]) RETURNING id)
   SELECT (SELECT count(*)::int FROM m) AS messages,
          (SELECT coalesce(array_agg(id::text), '{}') FROM v) AS conversations,
          (SELECT count(*)::int FROM c) AS contacts`,
);
