import { sql } from '../db/db.ts';

/**
 * The kind of reply a turn commits: answer | fallback | handoff | none |
 * paused (the turn was stopped by a pause, even one undone since) |
 * window_closed.
 */
export type ReplyKind = 'answer' | 'fallback' | 'handoff' | 'none' | 'paused' | 'window_closed';

/** One turn's reply commit, as REPLY_COMMITS takes it (one element of $1). */
export interface CommitInput {
  conv: string;
  /** Release the lease unless inbound_seq went past this (-1: keep it). */
  seq: number;
  ids: string[];
  answered: string;
  turn: string;
  parts: string[];
  /**
   * The first part's Cloud API type and object (an interactive, media or
   * template message, whose part is then its text form) and the wamid it
   * replies to; null: plain text.
   */
  rich: { type: string; payload: Record<string, unknown> | null; contextWamid: string | null } | null;
  kind: ReplyKind;
  pause: boolean;
  /** The answer budget in force: a reply is recorded in answered_at, which keeps `keep` entries within `span` seconds. */
  keep: number;
  span: number;
}

/** One row of REPLY_COMMITS per turn. Not held: every other field is null or empty. */
export interface CommitRow {
  conv: string;
  held: boolean;
  wasPaused: boolean | null;
  inboundSeq: number | null;
  usageCount: number | null;
  convState: { paused: boolean; pausedUntil: string | null; released: boolean; answeredAt: number[] } | null;
  replies: { id: string; body: string; createdAt: string; type: string; payload: Record<string, unknown> | null; contextWamid: string | null }[];
  settled: { id: string; disposition: string }[];
}

/**
 * The reply commit (round trip 2 of an answered message), for one turn or for
 * the turns of many conversations at once (see Batcher). Under each
 * conversation's row lock (taken in contact order, as ingest does, so the two
 * never deadlock) it
 *  - checks the lease is still ours and reads the latest paused flag and
 *    inbound_seq (SELECT … FOR UPDATE sees the newest committed row, so a
 *    pause committed before this statement always wins);
 *  - answers nothing for a tenant the operator disabled meanwhile
 *    (disposition tenant_disabled), however far its turn had come;
 *  - takes one unit of the tenant's monthly quota per answering turn, only as
 *    many as are left: the usage row's upsert grants them under its lock and
 *    records the grant in last_grant, so a limit L gives exactly L answers
 *    under any concurrency; the turns of a tenant are served in input order;
 *  - inserts the reply parts as `queued`;
 *  - settles each turn's inbound dispositions;
 *  - records a turn that queued a reply in the conversation's answered_at
 *    (the answer budget, docs/behaviour.md), in the update of the row it
 *    makes anyway, trimmed to what the budget can still count;
 *  - keeps the lease while a reply waits to be sent or newer messages came in
 *    (inbound_seq > the turn's seq), else releases it.
 *
 * $1 the turns, a jsonb array of CommitInput with its ord; pause pauses the
 * conversation (handoff). $2 lease owner, $3 lease seconds. One CommitRow
 * per turn comes back.
 */
export const REPLY_COMMITS = sql(
  'turn_reply_commits',
  `
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(
    ord int, conv bigint, seq bigint, ids bigint[], answered bigint, turn uuid, parts text[], rich jsonb, kind text, pause boolean,
    keep int, span int)
),
cur AS (
  SELECT c.id, c.tenant_id, c.channel_id, c.paused, c.inbound_seq,
         t.monthly_message_limit, (t.agent->>'resumeAfterMinutes')::int AS resume_minutes,
         t.disabled_at IS NOT NULL AS disabled
  FROM conversations c JOIN tenants t ON t.id = c.tenant_id
  WHERE c.id IN (SELECT conv FROM input) AND c.lease_owner = $2
  ORDER BY c.contact_id
  FOR UPDATE OF c
),
want AS (
  SELECT i.conv, cur.tenant_id, cur.monthly_message_limit,
         row_number() OVER (PARTITION BY cur.tenant_id ORDER BY i.ord) AS rank
  FROM input i JOIN cur ON cur.id = i.conv
  WHERE i.kind = 'answer' AND NOT cur.paused AND NOT cur.disabled AND cardinality(i.parts) > 0
),
asks AS (
  SELECT tenant_id, count(*)::int AS n, coalesce(max(monthly_message_limit), 2147483647) AS lim
  FROM want GROUP BY tenant_id
),
quota AS (
  INSERT INTO usage AS u (tenant_id, month, count, last_grant)
  SELECT tenant_id, date_trunc('month', now() AT TIME ZONE 'UTC')::date, least(n, lim), least(n, lim) FROM asks
  ORDER BY tenant_id
  ON CONFLICT (tenant_id, month) DO UPDATE SET
    count = least(u.count + excluded.last_grant,
                  coalesce((SELECT monthly_message_limit FROM tenants WHERE id = u.tenant_id), 2147483647)),
    last_grant = greatest(0, least(u.count + excluded.last_grant,
                  coalesce((SELECT monthly_message_limit FROM tenants WHERE id = u.tenant_id), 2147483647)) - u.count)
  RETURNING u.tenant_id, u.last_grant, u.count
),
granted AS (
  SELECT w.conv FROM want w JOIN quota q ON q.tenant_id = w.tenant_id WHERE w.rank <= q.last_grant
),
decide AS (
  SELECT i.*, cur.tenant_id, cur.channel_id, cur.paused AS was_paused, cur.inbound_seq, cur.resume_minutes, cur.disabled,
         NOT cur.paused AND NOT cur.disabled AND (i.kind <> 'answer' OR i.conv IN (SELECT conv FROM granted)) AS allowed,
         -- a message queued outside the turn (an operator's) still waits: keep the lease for it
         EXISTS (SELECT 1 FROM messages q WHERE q.conversation_id = i.conv AND q.direction = 'outbound' AND q.status = 'queued') AS queued
  FROM input i JOIN cur ON cur.id = i.conv
),
settle AS (
  UPDATE messages m SET
    disposition = CASE
      WHEN d.was_paused OR d.kind = 'paused' THEN 'paused'
      WHEN d.disabled THEN 'tenant_disabled'
      WHEN d.kind = 'window_closed' THEN 'window_closed'
      WHEN d.kind = 'handoff' THEN 'paused'
      WHEN d.kind = 'fallback' THEN 'agent_failed'
      WHEN d.kind = 'none' THEN 'no_answer_needed'
      WHEN NOT d.allowed THEN 'over_quota'
      WHEN m.id = d.answered THEN 'answered'
      ELSE 'coalesced' END,
    turn_id = d.turn,
    updated_at = now()
  FROM decide d
  WHERE m.id = ANY(d.ids) AND m.conversation_id = d.conv AND m.disposition IS NULL
  RETURNING m.id, m.conversation_id, m.disposition
),
reply AS (
  INSERT INTO messages (tenant_id, channel_id, conversation_id, direction, author, type, body, payload, context_wamid, status, turn_id)
  SELECT d.tenant_id, d.channel_id, d.conv, 'outbound', 'agent',
         CASE WHEN p.n = 1 THEN coalesce(d.rich->>'type', 'text') ELSE 'text' END, p.body,
         CASE WHEN p.n = 1 THEN nullif(d.rich->'payload', 'null'::jsonb) END,
         CASE WHEN p.n = 1 THEN d.rich->>'contextWamid' END, 'queued', d.turn
  FROM decide d, unnest(d.parts) WITH ORDINALITY AS p(body, n)
  WHERE d.allowed AND d.kind IN ('answer', 'fallback', 'handoff')
    -- A turn whose messages another commit already settled answers nothing.
    AND d.conv IN (SELECT conversation_id FROM settle)
  ORDER BY d.ord, p.n
  RETURNING id, conversation_id, body, created_at, type, payload, context_wamid
),
conv AS (
  UPDATE conversations c SET
    paused = c.paused OR (d.pause AND NOT d.was_paused),
    paused_until = CASE WHEN d.pause AND NOT d.was_paused AND d.resume_minutes IS NOT NULL
                        THEN now() + make_interval(mins => d.resume_minutes) ELSE c.paused_until END,
    paused_by = CASE WHEN d.pause AND NOT d.was_paused THEN 'agent' ELSE c.paused_by END,
    last_message_at = CASE WHEN d.conv IN (SELECT conversation_id FROM reply) THEN greatest(c.last_message_at, now())
                           ELSE c.last_message_at END,
    answered_at = CASE WHEN d.conv IN (SELECT conversation_id FROM reply)
                       THEN ARRAY(SELECT a FROM (
                              SELECT a FROM unnest(c.answered_at || now()) a
                              WHERE a > now() - make_interval(secs => d.span) ORDER BY a DESC LIMIT d.keep) w ORDER BY a)
                       ELSE c.answered_at END,
    lease_owner = CASE WHEN d.conv IN (SELECT conversation_id FROM reply) OR d.inbound_seq > d.seq OR d.queued
                       THEN $2::uuid END,
    lease_until = CASE WHEN d.conv IN (SELECT conversation_id FROM reply) OR d.inbound_seq > d.seq OR d.queued
                       THEN now() + make_interval(secs => $3) END
  FROM decide d WHERE c.id = d.conv
  RETURNING c.id, c.paused, c.paused_until, c.lease_owner IS NULL AS released, c.answered_at
)
SELECT i.conv::text AS conv,
       d.conv IS NOT NULL AS held,
       d.was_paused AS "wasPaused",
       d.inbound_seq::float8 AS "inboundSeq",
       (SELECT q.count FROM quota q WHERE q.tenant_id = d.tenant_id) AS "usageCount",
       (SELECT row_to_json(x) FROM (SELECT conv.paused, conv.paused_until AS "pausedUntil", conv.released,
          (SELECT coalesce(json_agg(extract(epoch FROM a) * 1000 ORDER BY a), '[]') FROM unnest(conv.answered_at) a) AS "answeredAt"
          FROM conv WHERE conv.id = i.conv) x) AS "convState",
       (SELECT coalesce(json_agg(json_build_object('id', r.id::text, 'body', r.body, 'createdAt', r.created_at,
                                           'type', r.type, 'payload', r.payload, 'contextWamid', r.context_wamid) ORDER BY r.id), '[]')
          FROM reply r WHERE r.conversation_id = i.conv) AS replies,
       (SELECT coalesce(json_agg(json_build_object('id', s.id::text, 'disposition', s.disposition)), '[]')
          FROM settle s WHERE s.conversation_id = i.conv) AS settled
FROM input i LEFT JOIN decide d ON d.conv = i.conv
ORDER BY i.ord
`,
);
