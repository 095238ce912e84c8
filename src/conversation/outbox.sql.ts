import { sql } from '../db/db.ts';

/** What to queue outside a turn (an operator's reply, the quota notice). */
export interface EnqueueInput {
  conversationId: string;
  /** The caller's tenant; null for the admin. */
  tenantId: string | null;
  author: 'operator' | 'agent';
  texts: string[];
  /**
   * For messages other than text, by position in `texts` (whose entry is
   * then the message's text form): the Cloud API type and object, and the
   * wamid it replies to. Missing entries are plain text.
   */
  rich?: (OutboundRich | null)[];
  autoPause: boolean;
  requireWindow: boolean;
}

/** A queued message's Cloud API type and object, and the message it replies to. */
export interface OutboundRich {
  type: string;
  payload: Record<string, unknown> | null;
  contextWamid: string | null;
}

/** What enqueueing messages outside a turn returns (operator replies, notices): ENQUEUE_OUTBOUND's row. */
export interface EnqueueResult {
  /** The conversation exists (for this tenant). */
  found: boolean;
  /** The customer wrote within 24 hours, or the window was not required. */
  windowOpen: boolean;
  messages: { id: string; body: string; author: string; createdAt: string; type: string; payload: Record<string, unknown> | null; contextWamid: string | null }[];
  /** The conversation after the statement; null when nothing was queued. */
  conv: {
    id: string;
    tenantId: string;
    paused: boolean;
    pausedUntil: string | null;
    pausedBy: string | null;
    /** From row_to_json: a JSON number. */
    inboundSeq: number;
    /** This process holds the lease now. */
    held: boolean;
    newlyPaused: boolean;
  } | null;
}

/**
 * Queues messages that do not come from a turn (an operator's reply, the
 * monthly quota notice) in one statement: inserts them `queued`, optionally
 * pauses the bot (an operator took over), bumps inbound_seq so a holder in
 * another process learns there is work, and takes the lease when it is free,
 * so the process that holds the conversation sends them in order.
 *
 * $1 conversation, $2 tenant (null: any, for the admin), $3 author,
 * $4 texts, $5 lease owner, $6 lease seconds, $7 pause if the tenant
 * auto-pauses on operator replies, $8 require the 24-hour window, $9 a jsonb
 * array of OutboundRich (or null) by position in $4 (null: all text).
 */
export const ENQUEUE_OUTBOUND = sql(
  'outbox_enqueue',
  `
WITH cur AS (
  SELECT c.id, c.tenant_id, c.channel_id, c.paused, k.last_inbound_at,
         (t.agent->>'resumeAfterMinutes')::int AS resume_minutes,
         coalesce((t.agent->>'autoPauseOnOperatorReply')::boolean, true) AS auto_pause
  FROM conversations c JOIN contacts k ON k.id = c.contact_id JOIN tenants t ON t.id = c.tenant_id
  WHERE c.id = $1 AND ($2::bigint IS NULL OR c.tenant_id = $2::bigint)
  FOR UPDATE OF c
),
ok AS (
  SELECT * FROM cur WHERE NOT $8 OR cur.last_inbound_at > now() - interval '24 hours'
),
ins AS (
  INSERT INTO messages (tenant_id, channel_id, conversation_id, direction, author, type, body, payload, context_wamid, status)
  SELECT ok.tenant_id, ok.channel_id, ok.id, 'outbound', $3, coalesce(r.e->>'type', 'text'), p.body,
         nullif(r.e->'payload', 'null'::jsonb), r.e->>'contextWamid', 'queued'
  FROM ok CROSS JOIN unnest($4::text[]) WITH ORDINALITY AS p(body, n)
  LEFT JOIN LATERAL (
    SELECT x.e FROM jsonb_array_elements(coalesce($9::jsonb, '[]'::jsonb)) WITH ORDINALITY AS x(e, k)
    WHERE x.k = p.n AND jsonb_typeof(x.e) = 'object'
  ) r ON true
  ORDER BY p.n
  RETURNING id::text AS id, body, author, created_at AS "createdAt", type, payload, context_wamid AS "contextWamid"
),
conv AS (
  UPDATE conversations c SET
    inbound_seq = c.inbound_seq + 1,
    paused = c.paused OR ($7 AND ok.auto_pause),
    paused_until = CASE WHEN $7 AND ok.auto_pause AND NOT c.paused AND ok.resume_minutes IS NOT NULL
                        THEN now() + make_interval(mins => ok.resume_minutes) ELSE c.paused_until END,
    paused_by = CASE WHEN $7 AND ok.auto_pause AND NOT c.paused THEN 'operator' ELSE c.paused_by END,
    lease_owner = CASE WHEN c.lease_owner IS NULL OR c.lease_until < now() OR c.lease_owner = $5 THEN $5::uuid ELSE c.lease_owner END,
    lease_until = CASE WHEN c.lease_owner IS NULL OR c.lease_until < now() OR c.lease_owner = $5
                       THEN now() + make_interval(secs => $6) ELSE c.lease_until END,
    last_message_at = greatest(c.last_message_at, now())
  FROM ok WHERE c.id = ok.id
  RETURNING c.id::text AS id, c.tenant_id::text AS "tenantId", c.paused, c.paused_until AS "pausedUntil", c.paused_by AS "pausedBy",
            c.inbound_seq AS "inboundSeq", c.lease_owner = $5 AS held, NOT ok.paused AND c.paused AS "newlyPaused"
)
SELECT EXISTS (SELECT 1 FROM cur) AS found,
       EXISTS (SELECT 1 FROM ok) AS "windowOpen",
       (SELECT coalesce(json_agg(ins ORDER BY ins.id::bigint), '[]') FROM ins) AS messages,
       (SELECT row_to_json(conv) FROM conv) AS conv
`,
);

/** Marks this month's quota notice as sent for a tenant; returns a row only the first time. */
export const CLAIM_QUOTA_NOTICE = sql(
  'outbox_claim_quota_notice',
  `INSERT INTO usage AS u (tenant_id, month, count, notice_sent)
   VALUES ($1, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 0, true)
   ON CONFLICT (tenant_id, month) DO UPDATE SET notice_sent = true WHERE NOT u.notice_sent
   RETURNING u.month`,
);
