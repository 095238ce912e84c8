import { sql } from '../db/db.ts';
import type { HistoryMessage } from '../ingest/ingest.ts';

/** A message still without a disposition, as CLAIM loads it. */
export type ClaimedMessage = HistoryMessage & { wamid: string | null; waTimestamp: string | null };

/** What CLAIM returns: the conversation, the lease's sequence numbers and everything still to do. */
export interface ClaimRow {
  id: string;
  tenantId: string;
  channelId: string;
  paused: boolean;
  /** inbound_seq of the newest row (the lease update's). */
  inboundSeq: number;
  /** inbound_seq of the statement's snapshot, which the lists below come from. */
  snapSeq: number;
  configVersion: number;
  contact: { waId: string | null; userId: string | null; name: string | null };
  pending: ClaimedMessage[];
  queued: { id: string; body: string; turnId: string | null; type: string; payload: Record<string, unknown> | null; contextWamid: string | null }[];
  history: HistoryMessage[];
  /** The times of the latest answers (epoch ms, oldest first), for the answer budget. */
  answeredAt: number[];
}

/**
 * Takes (or keeps) a conversation's lease and loads everything still to do
 * (as of the statement's snapshot, whose inbound_seq is "snapSeq"; the lease
 * update sees the newest row, "inboundSeq"):
 * inbound messages with no disposition, replies still `queued`, the
 * history before them, and the times of the latest answers (answer budget). Used when the in-memory path does not already know the
 * work: after a sweep took an abandoned conversation, or when another process
 * ingested messages for a conversation this one holds.
 *
 * $1 conversation, $2 lease owner, $3 lease seconds.
 */
export const CLAIM = sql(
  'lease_claim',
  `
WITH c AS (
  UPDATE conversations SET lease_owner = $2, lease_until = now() + make_interval(secs => $3)
  WHERE id = $1 AND (lease_owner = $2 OR lease_owner IS NULL OR lease_until < now())
  RETURNING id, tenant_id, channel_id, contact_id, paused, inbound_seq, answered_at
)
SELECT c.id, c.tenant_id AS "tenantId", c.channel_id AS "channelId", c.paused, c.inbound_seq::float8 AS "inboundSeq",
       (SELECT inbound_seq FROM conversations WHERE id = $1)::float8 AS "snapSeq",
       t.config_version AS "configVersion",
       (SELECT coalesce(json_agg(extract(epoch FROM a) * 1000 ORDER BY a), '[]') FROM unnest(c.answered_at) a) AS "answeredAt",
       json_build_object('waId', k.wa_id, 'userId', k.user_id, 'name', k.profile_name) AS contact,
       (SELECT coalesce(json_agg(p ORDER BY p.id::bigint), '[]') FROM (
          SELECT id::text AS id, direction, author, wamid, type, body, media, CASE WHEN type IN ('interactive', 'button') THEN payload END AS payload, disposition, conv_seq AS "convSeq",
                 wa_timestamp AS "waTimestamp", created_at AS "createdAt"
          FROM messages WHERE conversation_id = c.id AND direction = 'inbound' AND disposition IS NULL
        ) p) AS pending,
       (SELECT coalesce(json_agg(q ORDER BY q.id::bigint), '[]') FROM (
          SELECT id::text AS id, body, turn_id AS "turnId", type, payload, context_wamid AS "contextWamid" FROM messages
          WHERE conversation_id = c.id AND direction = 'outbound' AND status = 'queued'
        ) q) AS queued,
       (SELECT coalesce(json_agg(h ORDER BY h.id::bigint), '[]') FROM (
          SELECT id::text AS id, direction, author, type, body, media, CASE WHEN type IN ('interactive', 'button') THEN payload END AS payload, disposition, conv_seq AS "convSeq", created_at AS "createdAt"
          FROM messages
          WHERE conversation_id = c.id AND NOT (direction = 'inbound' AND disposition IS NULL)
          ORDER BY messages.id DESC LIMIT coalesce((t.agent->>'historyLength')::int, 20)
        ) h) AS history
FROM c JOIN contacts k ON k.id = c.contact_id JOIN tenants t ON t.id = c.tenant_id
`,
);

/** Lets a lease run out now, so the next sweep takes the conversation (after a failed loop). */
export const EXPIRE_LEASE = sql(
  'lease_expire',
  `UPDATE conversations SET lease_until = now() WHERE id = $1 AND lease_owner = $2 RETURNING id`,
);

/** Releases a lease when nothing is left to do and nothing newer than $3 came in. */
export const RELEASE_IF_IDLE = sql(
  'lease_release_if_idle',
  `UPDATE conversations SET lease_owner = NULL, lease_until = NULL
   WHERE id = $1 AND lease_owner = $2 AND inbound_seq <= $3
   RETURNING id`,
);

/**
 * Extends the leases this process holds and returns the conversations among
 * $1 that it no longer holds. Rows locked right now are skipped rather than
 * waited for: the statement holding them is this process's own (it extends
 * the lease itself) or another's that does not take a live lease, and the next
 * renewal comes long before expiry. Taking the locks in a fixed order without
 * waiting keeps renewal out of every lock queue.
 */
export const RENEW = sql(
  'lease_renew',
  `WITH mine AS (
     SELECT id FROM conversations WHERE id = ANY($1::bigint[]) AND lease_owner = $2
     ORDER BY id FOR UPDATE SKIP LOCKED
   ),
   renewed AS (
     UPDATE conversations SET lease_until = now() + make_interval(secs => $3)
     WHERE id IN (SELECT id FROM mine)
     RETURNING id
   )
   SELECT id::text AS id FROM conversations
   WHERE id = ANY($1::bigint[]) AND lease_owner IS DISTINCT FROM $2
     AND id NOT IN (SELECT id FROM renewed)`,
);

/**
 * Gives back the leases of this process (shutdown), but for the conversations
 * in $2 whose send is still on its way to the Cloud API: those run out by
 * themselves, so no other process sends that message again while it may
 * still be accepted.
 */
export const RELEASE_ALL = sql(
  'lease_release_all',
  `UPDATE conversations SET lease_owner = NULL, lease_until = NULL
   WHERE lease_owner = $1 AND id <> ALL($2::bigint[]) RETURNING id`,
);

/**
 * The sweep: conversations with work left (an inbound message with no
 * disposition, or a reply still queued) whose lease is free or expired,
 * taken by this process. Driven by the partial index on pending messages,
 * which holds only what is in flight, so the sweep stays cheap at any size.
 *
 * $1 lease owner, $2 lease seconds, $3 how many at most.
 */
export const SWEEP = sql(
  'lease_sweep',
  `
WITH cand AS (
  SELECT c.id FROM conversations c
  WHERE c.id IN (
      SELECT m.conversation_id FROM messages m
      WHERE (m.direction = 'inbound' AND m.disposition IS NULL) OR (m.direction = 'outbound' AND m.status = 'queued'))
    AND (c.lease_owner IS NULL OR c.lease_until < now())
  LIMIT $3
  FOR UPDATE OF c SKIP LOCKED
)
UPDATE conversations c SET lease_owner = $1, lease_until = now() + make_interval(secs => $2)
FROM cand WHERE c.id = cand.id
RETURNING c.id
`,
);

/** What REAP_DEAD_OWNERS did. */
export interface ReapRow {
  /** Registered processes found without their lock, now unregistered. */
  owners: number;
  /** Their conversations with only customer messages waiting, whose lease now runs out within the grace. */
  conversations: number;
  /** Their conversations with a reply still `queued`, whose lease now runs out within the settle time. */
  unsettled: number;
}

/**
 * Dead processes (docs/architecture.md, "Leases of a killed process"):
 * registered owners whose advisory lock no session holds. Their registration
 * goes, and their leases over conversations with work left are cut short, so
 * the sweep takes them then instead of after the full lease:
 * - to `$1` seconds (the grace) where only customer messages wait: long
 *   enough for a live process whose lock connection merely dropped to take
 *   its lock again and renew before anyone acts on its leases;
 * - to `$2` seconds (the settle time) where a reply is still `queued`: the
 *   dead process may have handed it to the Cloud API, and its `sent` status
 *   (which Meta retries until a process is up to take it) settles it before
 *   it is sent again. Counted from now, when a process that takes webhooks
 *   found the death, even where the lease had run out already (a restart
 *   slower than the lease): the lease, counted from the kill, could leave
 *   the status no time at all.
 *
 * pg_locks is no snapshot: a process may take its lock again between the
 * read and the delete. Its LOCK_AND_REGISTER moves locked_at, so the delete
 * (which re-checks the row it waited for) leaves it registered, and only the
 * owners really deleted have their leases cut. Reads pg_locks once per call
 * and, when no process died, writes nothing.
 *
 * $1 grace seconds, $2 settle seconds.
 */
export const REAP_DEAD_OWNERS = sql(
  'lease_reap_dead_owners',
  `
WITH lockless AS (
  SELECT g.owner, g.locked_at FROM gateway_processes g
  WHERE NOT EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((l.classid::int8 << 32) | l.objid::int8) = g.lock_key)
),
dead AS (
  DELETE FROM gateway_processes g USING lockless d
  WHERE g.owner = d.owner AND g.locked_at = d.locked_at
  RETURNING g.owner
),
work AS (
  SELECT c.id, EXISTS (SELECT 1 FROM messages q WHERE q.conversation_id = c.id AND q.direction = 'outbound' AND q.status = 'queued') AS unsettled
  FROM conversations c
  WHERE c.lease_owner IN (SELECT owner FROM dead)
    AND c.id IN (
      SELECT m.conversation_id FROM messages m
      WHERE (m.direction = 'inbound' AND m.disposition IS NULL) OR (m.direction = 'outbound' AND m.status = 'queued'))
),
cut AS (
  UPDATE conversations c
  SET lease_until = CASE WHEN w.unsettled THEN now() + make_interval(secs => $2::float8)
                         ELSE least(c.lease_until, now() + make_interval(secs => $1::float8)) END
  -- The owner again: a row another process took meanwhile is re-checked against it, and left alone.
  FROM work w WHERE c.id = w.id AND c.lease_owner IN (SELECT owner FROM dead)
  RETURNING w.unsettled
)
SELECT (SELECT count(*) FROM dead)::int AS owners,
       (SELECT count(*) FROM cut WHERE NOT unsettled)::int AS conversations,
       (SELECT count(*) FROM cut WHERE unsettled)::int AS unsettled
`,
);

/** A conversation whose pause RESUME_DUE ended. */
export interface ResumedRow {
  id: string;
  tenantId: string;
}

/**
 * Ends the pauses whose resume timer ran out; returns what changed. Rows
 * locked right now are left for the next sweep rather than waited for, so the
 * sweep never queues behind (or deadlocks with) the hot path.
 */
export const RESUME_DUE = sql(
  'lease_resume_due',
  `WITH due AS (
     SELECT id FROM conversations
     WHERE paused AND paused_until IS NOT NULL AND paused_until <= now()
     ORDER BY contact_id LIMIT 1000
     FOR UPDATE SKIP LOCKED
   )
   UPDATE conversations SET paused = false, paused_until = NULL, paused_by = NULL
   WHERE id IN (SELECT id FROM due)
   RETURNING id::text AS id, tenant_id::text AS "tenantId"`,
);
