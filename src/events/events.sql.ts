import { sql } from '../db/db.ts';
import { KEYS_CHANNEL } from '../tenancy/apiKeys.sql.ts';

/**
 * What every process's delivery worker hears when a tenant's subscriptions
 * change (`events:<tenant>` on the channel every process listens to): it reads
 * which tenants have an active subscription again.
 */
const ANNOUNCE = `pg_notify('${KEYS_CHANNEL}', 'events:' || x."tenantId")`;

/** The tenants with an active subscription: the only ones whose commits wake the worker. */
export const ACTIVE_TENANTS = sql(
  'event_active_tenants',
  `SELECT DISTINCT tenant_id::text AS id FROM event_subscriptions WHERE paused_at IS NULL`,
);

/** A subscription as the API shows it (never its secret). */
const SUBSCRIPTION_COLUMNS = `id::text AS id, tenant_id::text AS "tenantId", url, events, paused_at AS "pausedAt",
  pause_reason AS "pauseReason", failing_since AS "failingSince", consecutive_failures AS "consecutiveFailures",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

/** $1 tenant, $2 url, $3 encrypted secret, $4 event types. */
export const SUBSCRIPTION_CREATE = sql(
  'event_subscription_create',
  `WITH x AS (INSERT INTO event_subscriptions (tenant_id, url, secret_enc, events) VALUES ($1, $2, $3, $4)
     RETURNING ${SUBSCRIPTION_COLUMNS})
   SELECT x.*, ${ANNOUNCE} AS announced FROM x`,
);

/** $1 tenant (null: every tenant, the admin key). */
export const SUBSCRIPTION_LIST = sql(
  'event_subscription_list',
  `SELECT ${SUBSCRIPTION_COLUMNS} FROM event_subscriptions WHERE ($1::bigint IS NULL OR tenant_id = $1::bigint) ORDER BY event_subscriptions.id`,
);

/** $1 subscription, $2 tenant (null: any). */
export const SUBSCRIPTION_GET = sql(
  'event_subscription_get',
  `SELECT ${SUBSCRIPTION_COLUMNS} FROM event_subscriptions WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2::bigint)`,
);

/**
 * Changes what is given ($3 url, $4 encrypted secret, $5 events; null keeps
 * it). $6 paused: true pauses (reason: the tenant), false resumes and
 * forgets the failures, null leaves it. Deliveries waiting while paused go
 * out after a resume.
 */
export const SUBSCRIPTION_UPDATE = sql(
  'event_subscription_update',
  `WITH x AS (UPDATE event_subscriptions SET
     url = coalesce($3, url),
     secret_enc = coalesce($4, secret_enc),
     events = coalesce($5::text[], events),
     paused_at = CASE WHEN $6::boolean IS NULL THEN paused_at WHEN $6 THEN coalesce(paused_at, now()) END,
     pause_reason = CASE WHEN $6::boolean IS NULL THEN pause_reason WHEN $6 THEN coalesce(pause_reason, 'paused by the tenant') END,
     failing_since = CASE WHEN $6 = false THEN NULL ELSE failing_since END,
     consecutive_failures = CASE WHEN $6 = false THEN 0 ELSE consecutive_failures END,
     updated_at = now()
   WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2::bigint)
   RETURNING ${SUBSCRIPTION_COLUMNS})
   SELECT x.*, ${ANNOUNCE} AS announced FROM x`,
);

/** Removes a subscription and its deliveries; $1 subscription, $2 tenant (null: any). */
export const SUBSCRIPTION_DELETE = sql(
  'event_subscription_delete',
  `WITH x AS (DELETE FROM event_subscriptions WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2::bigint) RETURNING ${SUBSCRIPTION_COLUMNS})
   SELECT x.*, ${ANNOUNCE} AS announced FROM x`,
);

const DELIVERY_COLUMNS = `d.id::text AS id, d.subscription_id::text AS "subscriptionId", d.event_id::text AS "eventId", e.type,
  nullif(d.conversation_id, 0)::text AS "conversationId", d.status, d.attempts, d.next_at AS "nextAt",
  d.last_status AS "lastStatus", d.last_error AS "lastError", d.log, d.created_at AS "createdAt", d.finished_at AS "finishedAt"`;

/** A subscription's deliveries, newest first: $1 subscription, $2 before this id (null: from the newest), $3 limit. */
export const DELIVERY_LIST = sql(
  'event_delivery_list',
  `SELECT ${DELIVERY_COLUMNS}
   FROM event_deliveries d JOIN events e ON e.id = d.event_id
   WHERE d.subscription_id = $1 AND ($2::bigint IS NULL OR d.id < $2::bigint)
   ORDER BY d.id DESC LIMIT $3`,
);

/**
 * Delivers an event once more: a new delivery of the same event (same event
 * id) to the same subscription, due now, behind the conversation's other
 * pending deliveries. $1 the delivery, $2 tenant (null: any).
 */
export const DELIVERY_REDELIVER = sql(
  'event_delivery_redeliver',
  `WITH o AS (SELECT * FROM event_deliveries WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2::bigint)),
   d AS (
     INSERT INTO event_deliveries (tenant_id, subscription_id, event_id, conversation_id)
     SELECT tenant_id, subscription_id, event_id, conversation_id FROM o
     RETURNING *)
   SELECT ${DELIVERY_COLUMNS} FROM d JOIN events e ON e.id = d.event_id`,
);

/**
 * Takes the due lines of this process's next posts: up to $1 (subscription,
 * conversation) lines whose oldest pending delivery is due, of active
 * subscriptions not in $2 (those this process already posts to as much as it
 * may), each with its first $4 pending deliveries in order. The process posts
 * a line's deliveries one after the other, so a conversation's events go out
 * in order, and records them together. Each row is hidden from the others
 * for $3 seconds (longer than the posts may take): a process that dies
 * meanwhile leaves them due again then. Only claimed_until changes, which no
 * index holds: a HOT update. Only a line's oldest pending row can
 * start a claim, and a claimed line's rows are all hidden, so no two
 * processes post one line at once; SKIP LOCKED: they never wait for each
 * other's claims.
 */
export const DELIVERY_CLAIM = sql(
  'event_delivery_claim',
  `WITH first AS (
     -- Each line's oldest pending delivery: one walk of the line index, whatever the backlog
     -- (a NOT EXISTS probe per due row cost 0.8 s a claim with thousands waiting).
     SELECT DISTINCT ON (subscription_id, conversation_id) id, subscription_id, next_at, claimed_until
     FROM event_deliveries WHERE status = 'pending'
     ORDER BY subscription_id, conversation_id, id
   ),
   due AS (
     SELECT f.id FROM first f JOIN event_subscriptions s ON s.id = f.subscription_id
     WHERE f.next_at <= now() AND (f.claimed_until IS NULL OR f.claimed_until < now())
       AND s.paused_at IS NULL AND f.subscription_id <> ALL($2::bigint[])
     ORDER BY f.next_at, f.id
     LIMIT $1
   ),
   heads AS (
     -- Checked again under the lock: a head another process claimed or settled meanwhile is left out.
     SELECT d.id, d.subscription_id, d.conversation_id FROM event_deliveries d
     WHERE d.id IN (SELECT id FROM due) AND d.status = 'pending' AND d.next_at <= now()
       AND (d.claimed_until IS NULL OR d.claimed_until < now())
     FOR UPDATE SKIP LOCKED
   ),
   line AS (
     SELECT h.id AS head, f.id
     FROM heads h, LATERAL (
       SELECT f.id FROM event_deliveries f
       WHERE f.status = 'pending' AND f.subscription_id = h.subscription_id AND f.conversation_id = h.conversation_id
       ORDER BY f.id LIMIT $4) f
   )
   UPDATE event_deliveries d SET claimed_until = now() + make_interval(secs => $3)
   FROM line, events e, event_subscriptions s
   WHERE d.id = line.id AND e.id = d.event_id AND s.id = d.subscription_id
   RETURNING d.id::text AS id, line.head::text AS line, d.attempts, d.subscription_id::text AS "subscriptionId", s.url, s.secret_enc AS "secretEnc",
             e.id::text AS "eventId", e.type, e.created_at AS "time", e.tenant_id::text AS "tenantId",
             e.conversation_id::text AS "conversationId", e.message_id::text AS "messageId", e.data`,
);

/**
 * Records the attempts of many deliveries at once. $1 a jsonb array of
 * {id, ok, skipped, status, ms, error, retryInMs}. A success is delivered; a
 * failure is retried after retryInMs, or failed once the delivery is older
 * than $2 seconds (the retry window); a skipped one (not posted, because one
 * before it in its line failed) is due again now, with no attempt counted. Each attempt is appended to the delivery's log
 * (the latest $5 kept). A subscription's failures are counted: one whose
 * every attempt failed for $3 seconds, $4 times in a row at least, is paused
 * with the reason (those paused now come back); a success clears the count.
 */
export const DELIVERY_SETTLE = sql(
  'event_delivery_settle',
  `WITH r AS (
     SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, ok boolean, skipped boolean, status int, ms int, error text, "retryInMs" int)
   ),
   skip AS (
     UPDATE event_deliveries d SET claimed_until = NULL FROM r WHERE d.id = r.id AND r.skipped AND d.status = 'pending'
   ),
   d AS (
     UPDATE event_deliveries d SET
       attempts = d.attempts + 1,
       status = CASE WHEN r.ok THEN 'delivered'
                     WHEN d.created_at <= now() - make_interval(secs => $2) THEN 'failed'
                     ELSE 'pending' END,
       finished_at = CASE WHEN r.ok OR d.created_at <= now() - make_interval(secs => $2) THEN now() END,
       next_at = CASE WHEN r.ok THEN d.next_at ELSE now() + make_interval(secs => r."retryInMs" / 1000.0) END,
       claimed_until = NULL,
       last_status = r.status,
       last_error = r.error,
       log = (CASE WHEN jsonb_array_length(d.log) >= $5 THEN d.log - 0 ELSE d.log END)
             || jsonb_build_array(jsonb_build_object('at', now(), 'status', r.status, 'ms', r.ms, 'error', r.error))
     FROM r WHERE d.id = r.id AND NOT r.skipped AND d.status = 'pending'
     RETURNING d.subscription_id, r.ok, r.error
   ),
   per AS (
     SELECT subscription_id, bool_or(ok) AS any_ok, count(*) FILTER (WHERE NOT ok)::int AS fails,
            (array_agg(error) FILTER (WHERE NOT ok))[1] AS error
     FROM d GROUP BY subscription_id
   ),
   s AS (
     UPDATE event_subscriptions s SET
       failing_since = CASE WHEN p.any_ok THEN NULL ELSE coalesce(s.failing_since, now()) END,
       consecutive_failures = CASE WHEN p.any_ok THEN 0 ELSE s.consecutive_failures + p.fails END,
       paused_at = CASE WHEN NOT p.any_ok AND s.paused_at IS NULL
                         AND coalesce(s.failing_since, now()) <= now() - make_interval(secs => $3)
                         AND s.consecutive_failures + p.fails >= $4
                        THEN now() ELSE s.paused_at END,
       pause_reason = CASE WHEN NOT p.any_ok AND s.paused_at IS NULL
                         AND coalesce(s.failing_since, now()) <= now() - make_interval(secs => $3)
                         AND s.consecutive_failures + p.fails >= $4
                        THEN format('every delivery failed since %s (%s attempts in a row); last error: %s',
                                    to_char(s.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                                    s.consecutive_failures + p.fails, left(p.error, 300))
                        ELSE s.pause_reason END
     FROM per p WHERE s.id = p.subscription_id
       -- A success on a subscription with no failures to forget changes nothing: no write.
       AND (NOT p.any_ok OR s.failing_since IS NOT NULL OR s.consecutive_failures <> 0)
     RETURNING s.id::text AS id, s.tenant_id::text AS "tenantId", s.paused_at = now() AS newly, s.pause_reason AS "pauseReason"
   )
   SELECT id, "tenantId", "pauseReason" FROM s WHERE newly`,
);
