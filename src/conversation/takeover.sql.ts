import { sql } from '../db/db.ts';

/**
 * Pauses the bot for a conversation ($2: the tenant, null for the admin),
 * optionally with a resume timer of $3 minutes (else the tenant's
 * resumeAfterMinutes, else none). A turn whose reply commit comes after this
 * sends nothing: the commit reads `paused` under the row lock.
 */
export const PAUSE = sql(
  'takeover_pause',
  `UPDATE conversations c SET
     paused = true,
     paused_until = CASE WHEN $3::int IS NOT NULL THEN now() + make_interval(mins => $3::int)
                         WHEN (t.agent->>'resumeAfterMinutes') IS NOT NULL
                           THEN now() + make_interval(mins => (t.agent->>'resumeAfterMinutes')::int)
                         END,
     paused_by = $4
   FROM tenants t
   WHERE c.id = $1 AND t.id = c.tenant_id AND ($2::bigint IS NULL OR c.tenant_id = $2::bigint)
   RETURNING c.id, c.tenant_id, c.paused, c.paused_until`,
);

/**
 * Resumes the bot. Messages that arrived while paused keep their `paused`
 * disposition and are not answered: the next customer message starts a turn.
 */
export const RESUME = sql(
  'takeover_resume',
  `UPDATE conversations SET paused = false, paused_until = NULL, paused_by = NULL
   WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2::bigint)
   RETURNING id, tenant_id, paused, paused_until`,
);
