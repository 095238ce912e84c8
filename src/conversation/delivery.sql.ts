import { sql } from '../db/db.ts';

/** One row of SEND_RESULTS per message recorded. Not held: the lease is no longer this process's. */
export interface SendResultRow {
  id: string;
  tenantId: string;
  status: string;
  /** The turn's inbound messages this failure marked send_failed. */
  sendFailed: number;
  inboundSeq: number | null;
  released: boolean;
  held: boolean;
}

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
 * One SendResultRow per message found.
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
locked AS (
  SELECT c.id FROM conversations c WHERE c.id IN (SELECT conversation_id FROM msg) ORDER BY c.contact_id FOR UPDATE
),
conv AS (
  UPDATE conversations c SET
    lease_owner = CASE WHEN msg.release_seq IS NOT NULL AND c.inbound_seq <= msg.release_seq THEN NULL ELSE c.lease_owner END,
    lease_until = CASE WHEN msg.release_seq IS NOT NULL AND c.inbound_seq <= msg.release_seq THEN NULL
                       ELSE now() + make_interval(secs => $8) END
  FROM msg
  WHERE c.id = msg.conversation_id AND c.lease_owner = $7 AND c.id IN (SELECT id FROM locked)
  RETURNING c.id, c.inbound_seq, c.lease_owner IS NULL AS released
)
SELECT msg.id::text AS id, msg.tenant_id::text AS "tenantId", msg.status,
       (SELECT count(*) FROM failed f WHERE f.for_id = msg.id)::int AS "sendFailed",
       conv.inbound_seq::float8 AS "inboundSeq", coalesce(conv.released, false) AS released, conv.id IS NOT NULL AS held
FROM msg LEFT JOIN conv ON conv.id = msg.conversation_id
`,
);
