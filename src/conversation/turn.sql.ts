import { sql } from '../db/db.ts';

/**
 * The reply commit: ONE statement at the end of a turn (round trip 2 of an
 * answered message). Under the conversation's row lock it
 *  - checks the lease is still ours and reads the latest paused flag and
 *    inbound_seq (SELECT … FOR UPDATE sees the newest committed row, so a
 *    pause committed before this statement always wins);
 *  - takes one unit of the tenant's monthly quota for an agent answer, only if
 *    one is left (the usage row's lock serialises concurrent turns: a limit L
 *    gives exactly L answers);
 *  - inserts the reply parts as `queued`;
 *  - settles the turn's inbound dispositions;
 *  - keeps the lease while a reply waits to be sent or newer messages came in
 *    (inbound_seq > $3), else releases it.
 *
 * $1 conversation, $2 lease owner, $3 highest conv_seq the turn handled,
 * $4 the turn's inbound message ids, $5 the one answered (the last),
 * $6 turn id, $7 reply parts, $8 kind: answer | fallback | handoff | none | paused | window_closed
 * (paused: the turn was stopped by a pause, even one undone since),
 * $9 pause the conversation (handoff), $10 lease seconds.
 */
export const REPLY_COMMIT = sql(
  'turn_reply_commit',
  `
WITH cur AS (
  SELECT c.id, c.tenant_id, c.channel_id, c.paused, c.inbound_seq,
         t.monthly_message_limit, (t.agent->>'resumeAfterMinutes')::int AS resume_minutes
  FROM conversations c JOIN tenants t ON t.id = c.tenant_id
  WHERE c.id = $1 AND c.lease_owner = $2
  FOR UPDATE OF c
),
quota AS (
  INSERT INTO usage AS u (tenant_id, month, count)
  SELECT cur.tenant_id, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 1 FROM cur
  WHERE $8 = 'answer' AND NOT cur.paused AND coalesce(cur.monthly_message_limit > 0, true) AND cardinality($7::text[]) > 0
  ON CONFLICT (tenant_id, month) DO UPDATE SET count = u.count + 1
    WHERE u.count < coalesce((SELECT monthly_message_limit FROM tenants WHERE id = u.tenant_id), 2147483647)
  RETURNING u.count
),
allowed AS (
  SELECT cur.id, cur.tenant_id, cur.channel_id FROM cur
  WHERE NOT cur.paused AND ($8 <> 'answer' OR EXISTS (SELECT 1 FROM quota))
),
reply AS (
  INSERT INTO messages (tenant_id, channel_id, conversation_id, direction, author, type, body, status, turn_id)
  SELECT a.tenant_id, a.channel_id, a.id, 'outbound', 'agent', 'text', p.body, 'queued', $6::uuid
  FROM allowed a, unnest($7::text[]) WITH ORDINALITY AS p(body, n)
  WHERE $8 IN ('answer', 'fallback', 'handoff')
  ORDER BY p.n
  RETURNING id::text AS id, body, created_at
),
settle AS (
  UPDATE messages m SET
    disposition = CASE
      WHEN cur.paused OR $8 = 'paused' THEN 'paused'
      WHEN $8 = 'window_closed' THEN 'window_closed'
      WHEN $8 = 'handoff' THEN 'paused'
      WHEN $8 = 'fallback' THEN 'agent_failed'
      WHEN $8 = 'none' THEN 'no_answer_needed'
      WHEN NOT EXISTS (SELECT 1 FROM quota) THEN 'over_quota'
      WHEN m.id = $5 THEN 'answered'
      ELSE 'coalesced' END,
    turn_id = $6::uuid,
    updated_at = now()
  FROM cur
  WHERE m.id = ANY($4::bigint[]) AND m.conversation_id = cur.id AND m.disposition IS NULL
  RETURNING m.id::text AS id, m.disposition
),
conv AS (
  UPDATE conversations c SET
    paused = c.paused OR ($9 AND NOT cur.paused),
    paused_until = CASE WHEN $9 AND NOT cur.paused AND cur.resume_minutes IS NOT NULL
                        THEN now() + make_interval(mins => cur.resume_minutes) ELSE c.paused_until END,
    paused_by = CASE WHEN $9 AND NOT cur.paused THEN 'agent' ELSE c.paused_by END,
    last_message_at = CASE WHEN EXISTS (SELECT 1 FROM reply) THEN now() ELSE c.last_message_at END,
    lease_owner = CASE WHEN EXISTS (SELECT 1 FROM reply) OR cur.inbound_seq > $3 THEN $2::uuid END,
    lease_until = CASE WHEN EXISTS (SELECT 1 FROM reply) OR cur.inbound_seq > $3
                       THEN now() + make_interval(secs => $10) END
  FROM cur WHERE c.id = cur.id
  RETURNING c.paused, c.paused_until, c.lease_owner IS NULL AS released
)
SELECT
  EXISTS (SELECT 1 FROM cur) AS held,
  (SELECT paused FROM cur) AS was_paused,
  (SELECT inbound_seq FROM cur) AS inbound_seq,
  (SELECT row_to_json(conv) FROM conv) AS conv,
  (SELECT coalesce(json_agg(reply ORDER BY reply.id::bigint), '[]') FROM reply) AS replies,
  (SELECT coalesce(json_agg(settle), '[]') FROM settle) AS settled,
  (SELECT count FROM quota) AS usage_count
`,
);

/**
 * Send results (round trip 3 of an answered message), for one or many sends
 * at once: records `sent` and the wamid, or `failed` with Meta's code and
 * title, never moving a status backwards (a status webhook may have arrived
 * first). Where a release sequence is given (the last queued message of its
 * conversation went out) the lease is released unless newer messages came
 * in; the latest inbound_seq comes back either way. A failed send marks its
 * turn's inbound messages `send_failed`. A conversation appears at most once
 * per call: its sends go out one at a time.
 *
 * $1 message ids, $2 'sent' | 'failed', $3 wamids, $4 error codes, $5 error
 * titles, $6 release up to this seq (null: keep), $7 lease owner, $8 lease seconds.
 */
export const SEND_RESULTS = sql(
  'turn_send_results',
  `
WITH input AS (
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bigint[])
    AS i(id, result, wamid, code, title, release_seq)
),
msg AS (
  UPDATE messages m SET
    status = CASE WHEN array_position(ARRAY['queued','sent','delivered','read','failed'], m.status)
                     < array_position(ARRAY['queued','sent','delivered','read','failed'], i.result) THEN i.result ELSE m.status END,
    wamid = coalesce(m.wamid, i.wamid),
    error_code = coalesce(i.code, m.error_code),
    error_title = coalesce(i.title, m.error_title),
    attempts = m.attempts + 1,
    updated_at = now()
  FROM input i
  WHERE m.id = i.id
  RETURNING m.id, m.tenant_id, m.conversation_id, m.turn_id, m.status, i.result, i.release_seq
),
failed AS (
  UPDATE messages m SET disposition = 'send_failed', updated_at = now()
  FROM msg
  WHERE msg.result = 'failed' AND msg.turn_id IS NOT NULL AND m.turn_id = msg.turn_id AND m.direction = 'inbound'
    AND m.disposition IN ('answered', 'coalesced', 'agent_failed')
  RETURNING m.id, msg.id AS for_id
),
conv AS (
  UPDATE conversations c SET
    lease_owner = CASE WHEN msg.release_seq IS NOT NULL AND c.inbound_seq <= msg.release_seq THEN NULL ELSE c.lease_owner END,
    lease_until = CASE WHEN msg.release_seq IS NOT NULL AND c.inbound_seq <= msg.release_seq THEN NULL
                       ELSE now() + make_interval(secs => $8) END
  FROM msg
  WHERE c.id = msg.conversation_id AND c.lease_owner = $7
  RETURNING c.id, c.inbound_seq, c.lease_owner IS NULL AS released
)
SELECT msg.id::text AS id, msg.tenant_id::text AS tenant_id, msg.status,
       (SELECT count(*) FROM failed f WHERE f.for_id = msg.id)::int AS send_failed,
       conv.inbound_seq, coalesce(conv.released, false) AS released, conv.id IS NOT NULL AS held
FROM msg LEFT JOIN conv ON conv.id = msg.conversation_id
`,
);
