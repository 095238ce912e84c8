import { sql } from '../db/db.ts';
import { WORK_CHANNEL } from '../shared/notifyChannels.ts';

/**
 * The whole of a notification in ONE statement (one round trip, one commit):
 * resolves channels and tenants, upserts contacts and conversations (taking
 * the conversation's lease when it is free and a message needs an answer),
 * inserts messages idempotently on (channel, wamid), applies statuses without
 * ever moving one backwards, and returns what the conversation runner needs,
 * history included, so an answered message costs no read before the agent call.
 *
 * $1 messages (jsonb array of InboundItem), $2 statuses (jsonb array of
 * StatusItem), $3 this process's lease id, $4 lease seconds, $5 only this
 * channel id (per-channel webhook) or null.
 *
 * All CTEs share one snapshot: the history read below does not see the rows
 * this statement inserts, which is what we want (history = before this batch).
 */
export const INGEST = sql(
  'ingest_notification',
  `
WITH inp AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS m(
    idx int, "phoneNumberId" text, direction text, author text, "contactKey" text, "waId" text, "userId" text,
    "profileName" text, wamid text, type text, body text, media jsonb, payload jsonb, "contextWamid" text,
    errors jsonb, ts double precision, answerable boolean)
),
st AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS s(
    idx int, "phoneNumberId" text, wamid text, status text, ts double precision, "errorCode" int,
    "errorTitle" text, "callbackMessageId" bigint, "pricingCategory" text)
),
ch AS (
  SELECT c.id AS channel_id, c.tenant_id, c.phone_number_id, t.monthly_message_limit, t.config_version,
         coalesce((t.agent->>'autoPauseOnOperatorReply')::boolean, true) AS auto_pause,
         (t.agent->>'resumeAfterMinutes')::int AS resume_minutes,
         coalesce((t.agent->>'historyLength')::int, 20) AS history_length,
         -- A tenant with a template for closed windows lets the turn decide (docs/templates.md).
         jsonb_typeof(t.agent->'windowClosedTemplate') = 'object' AS window_template,
         coalesce(u.count, 0) AS usage_count,
         t.disabled_at IS NOT NULL AS disabled
  FROM channels c
  JOIN tenants t ON t.id = c.tenant_id
  LEFT JOIN usage u ON u.tenant_id = c.tenant_id AND u.month = date_trunc('month', now() AT TIME ZONE 'UTC')::date
  WHERE c.phone_number_id IN (SELECT "phoneNumberId" FROM inp UNION SELECT "phoneNumberId" FROM st)
    AND ($5::bigint IS NULL OR c.id = $5::bigint)
    -- A removed channel, or one of a tenant being deleted, routes nothing (its webhooks are unroutable).
    AND c.removed_at IS NULL AND t.deleting_at IS NULL
),
-- Messages already stored (Meta redelivers for days) are left out before anything is
-- touched: a redelivery changes no contact, conversation, lease or sequence.
m AS (
  SELECT inp.*, ch.channel_id, ch.tenant_id, ch.auto_pause, ch.resume_minutes, ch.disabled, ch.window_template,
         (ch.monthly_message_limit IS NOT NULL AND ch.usage_count >= ch.monthly_message_limit) AS over_quota
  FROM inp JOIN ch ON ch.phone_number_id = inp."phoneNumberId"
  WHERE NOT EXISTS (SELECT 1 FROM messages x WHERE x.channel_id = ch.channel_id AND x.wamid = inp.wamid)
),
per_contact AS (
  SELECT channel_id, "contactKey",
         max(tenant_id) AS tenant_id,
         (array_agg("waId" ORDER BY idx DESC) FILTER (WHERE "waId" IS NOT NULL))[1] AS wa_id,
         (array_agg("userId" ORDER BY idx DESC) FILTER (WHERE "userId" IS NOT NULL))[1] AS user_id,
         (array_agg("profileName" ORDER BY idx DESC) FILTER (WHERE "profileName" IS NOT NULL))[1] AS profile_name,
         to_timestamp(max(ts) FILTER (WHERE direction = 'inbound')) AS last_inbound_at,
         to_timestamp(max(ts)) AS last_at,
         -- messages that will need a turn: they take the lease and bump inbound_seq by one per notification
         count(*) FILTER (WHERE direction = 'inbound' AND answerable AND NOT over_quota AND NOT disabled
                          AND ts >= extract(epoch FROM now()) - 86400) AS answerable,
         bool_or(direction = 'outbound' AND auto_pause) AS echo_pause,
         max(resume_minutes) AS resume_minutes
  FROM m GROUP BY channel_id, "contactKey"
),
contact_up AS (
  INSERT INTO contacts AS c (tenant_id, channel_id, contact_key, wa_id, user_id, profile_name, last_inbound_at)
  SELECT tenant_id, channel_id, "contactKey", wa_id, user_id, profile_name, last_inbound_at FROM per_contact
  -- Rows are locked in a fixed order (contacts by key, conversations by contact),
  -- as the reply commit does, so merged statements never deadlock each other.
  ORDER BY channel_id, "contactKey"
  ON CONFLICT (channel_id, contact_key) DO UPDATE SET
    wa_id = coalesce(excluded.wa_id, c.wa_id),
    user_id = coalesce(excluded.user_id, c.user_id),
    profile_name = coalesce(excluded.profile_name, c.profile_name),
    last_inbound_at = greatest(c.last_inbound_at, excluded.last_inbound_at)
  RETURNING c.id, c.channel_id, c.contact_key, c.wa_id, c.user_id, c.profile_name
),
conv_up AS (
  INSERT INTO conversations AS v (tenant_id, channel_id, contact_id, inbound_seq, paused, paused_until, paused_by,
                                  lease_owner, lease_until, last_message_at, last_inbound_at)
  SELECT p.tenant_id, p.channel_id, cu.id, least(p.answerable, 1), p.echo_pause,
         CASE WHEN p.echo_pause AND p.resume_minutes IS NOT NULL THEN now() + make_interval(mins => p.resume_minutes) END,
         CASE WHEN p.echo_pause THEN 'business_app' END,
         CASE WHEN p.answerable > 0 AND NOT p.echo_pause THEN $3::uuid END,
         CASE WHEN p.answerable > 0 AND NOT p.echo_pause THEN now() + make_interval(secs => $4) END,
         greatest(now(), p.last_at), p.last_inbound_at
  FROM per_contact p JOIN contact_up cu ON cu.channel_id = p.channel_id AND cu.contact_key = p."contactKey"
  ORDER BY cu.id
  ON CONFLICT (channel_id, contact_id) DO UPDATE SET
    inbound_seq = v.inbound_seq + excluded.inbound_seq,
    paused = v.paused OR excluded.paused,
    paused_until = CASE WHEN excluded.paused AND NOT v.paused THEN excluded.paused_until ELSE v.paused_until END,
    paused_by = CASE WHEN excluded.paused AND NOT v.paused THEN excluded.paused_by ELSE v.paused_by END,
    lease_owner = CASE WHEN excluded.lease_owner IS NOT NULL AND NOT v.paused
                        AND (v.lease_owner IS NULL OR v.lease_until < now() OR v.lease_owner = $3::uuid)
                       THEN $3::uuid ELSE v.lease_owner END,
    lease_until = CASE WHEN excluded.lease_owner IS NOT NULL AND NOT v.paused
                        AND (v.lease_owner IS NULL OR v.lease_until < now() OR v.lease_owner = $3::uuid)
                       THEN excluded.lease_until ELSE v.lease_until END,
    last_message_at = greatest(v.last_message_at, excluded.last_message_at),
    last_inbound_at = greatest(v.last_inbound_at, excluded.last_inbound_at)
  RETURNING v.id, v.tenant_id, v.channel_id, v.contact_id, v.paused, v.paused_until, v.inbound_seq,
            v.lease_owner = $3::uuid AS held, v.lease_owner, (v.xmax = 0) AS created, v.answered_at
),
msg_ins AS (
  INSERT INTO messages (tenant_id, channel_id, conversation_id, direction, author, wamid, type, body, media, payload,
                        context_wamid, errors, status, disposition, conv_seq, wa_timestamp)
  SELECT m.tenant_id, m.channel_id, cv.id, m.direction, m.author, m.wamid, m.type, m.body, m.media, m.payload,
         m."contextWamid", m.errors,
         CASE WHEN m.direction = 'inbound' THEN 'received' ELSE 'sent' END,
         CASE WHEN m.direction = 'outbound' THEN NULL
              WHEN NOT m.answerable THEN 'no_answer_needed'
              WHEN m.disabled THEN 'tenant_disabled'
              WHEN cv.paused THEN 'paused'
              WHEN to_timestamp(m.ts) < now() - interval '24 hours' AND m.window_template IS NOT TRUE THEN 'window_closed'
              WHEN m.over_quota THEN 'over_quota'
         END,
         cv.inbound_seq, to_timestamp(m.ts)
  FROM m
  JOIN contact_up cu ON cu.channel_id = m.channel_id AND cu.contact_key = m."contactKey"
  JOIN conv_up cv ON cv.contact_id = cu.id
  ORDER BY m.idx
  ON CONFLICT (channel_id, wamid) WHERE wamid IS NOT NULL DO NOTHING
  RETURNING id, tenant_id AS "tenantId", conversation_id AS "conversationId", direction, author, wamid, type, body, media,
            CASE WHEN type IN ('interactive', 'button') THEN payload END AS payload, context_wamid AS "contextWamid", status, disposition, conv_seq AS "convSeq", wa_timestamp AS "waTimestamp",
            created_at AS "createdAt"
),
st_target AS (
  SELECT DISTINCT ON (s.tid) s.tid AS id, s.status, s."errorCode", s."errorTitle", s.wamid, s."pricingCategory"
  FROM (
    SELECT st.*, coalesce(
      (SELECT x.id FROM messages x WHERE x.id = st."callbackMessageId" AND x.channel_id = ch.channel_id AND x.direction = 'outbound'),
      (SELECT x.id FROM messages x WHERE x.channel_id = ch.channel_id AND x.wamid = st.wamid AND x.direction = 'outbound')
    ) AS tid
    FROM st JOIN ch ON ch.phone_number_id = st."phoneNumberId"
  ) s
  WHERE s.tid IS NOT NULL
  ORDER BY s.tid, array_position(ARRAY['queued','sent','delivered','read','failed'], s.status) DESC
),
st_up AS (
  UPDATE messages x SET
    status = t.status,
    wamid = coalesce(x.wamid, t.wamid),
    error_code = CASE WHEN t.status = 'failed' THEN t."errorCode" ELSE x.error_code END,
    error_title = CASE WHEN t.status = 'failed' THEN t."errorTitle" ELSE x.error_title END,
    pricing_category = coalesce(t."pricingCategory", x.pricing_category),
    updated_at = now()
  FROM st_target t
  WHERE x.id = t.id
    AND array_position(ARRAY['queued','sent','delivered','read','failed'], t.status)
      > array_position(ARRAY['queued','sent','delivered','read','failed'], x.status)
  RETURNING x.id::text AS id, x.tenant_id::text AS "tenantId", x.conversation_id::text AS "conversationId", x.status,
            x.error_code AS "errorCode"
)
SELECT
  (SELECT coalesce(json_agg(json_build_object(
      'id', cv.id::text, 'tenantId', cv.tenant_id::text, 'channelId', cv.channel_id::text, 'paused', cv.paused, 'held', cv.held,
      'inboundSeq', cv.inbound_seq, 'configVersion', ch.config_version, 'usageCount', ch.usage_count,
      'bumped', p.answerable > 0,
      'contact', json_build_object('waId', cu.wa_id, 'userId', cu.user_id, 'name', cu.profile_name),
      'messages', (SELECT coalesce(jsonb_agg(to_jsonb(mi) || jsonb_build_object('id', mi.id::text, 'tenantId', mi."tenantId"::text, 'conversationId', mi."conversationId"::text) ORDER BY mi.id), '[]') FROM msg_ins mi WHERE mi."conversationId" = cv.id),
      'answeredAt', CASE WHEN cv.held THEN (
        SELECT coalesce(json_agg(extract(epoch FROM a) * 1000 ORDER BY a), '[]') FROM unnest(cv.answered_at) a) END,
      'history', CASE WHEN cv.held THEN (
        SELECT coalesce(json_agg(h ORDER BY h.id::bigint), '[]') FROM (
          SELECT id::text AS id, direction, author, type, body, media, CASE WHEN type IN ('interactive', 'button') THEN payload END AS payload, disposition, conv_seq AS "convSeq", created_at AS "createdAt"
          FROM messages WHERE conversation_id = cv.id ORDER BY messages.id DESC LIMIT ch.history_length
        ) h) END
    )), '[]')
   FROM conv_up cv JOIN contact_up cu ON cu.id = cv.contact_id JOIN ch ON ch.channel_id = cv.channel_id
   JOIN per_contact p ON p.channel_id = cu.channel_id AND p."contactKey" = cu.contact_key
  ) AS conversations,
  (SELECT coalesce(json_agg(su), '[]') FROM st_up su) AS statuses,
  -- New work for a conversation another live process holds: tell that process
  -- (delivered at commit) so it can fold the messages into its running turn.
  (SELECT count(pg_notify('${WORK_CHANNEL}', cv.lease_owner::text || ':' || cv.id::text))
   FROM conv_up cv JOIN contact_up cu ON cu.id = cv.contact_id
   JOIN per_contact p ON p.channel_id = cu.channel_id AND p."contactKey" = cu.contact_key
   WHERE NOT cv.held AND cv.lease_owner IS NOT NULL AND p.answerable > 0) AS notified,
  (SELECT coalesce(json_agg(DISTINCT x.pid), '[]') FROM (
     SELECT "phoneNumberId" AS pid FROM inp UNION SELECT "phoneNumberId" FROM st
   ) x WHERE x.pid NOT IN (SELECT phone_number_id FROM ch)) AS unroutable
`,
  { lane: 'ingest' },
);
