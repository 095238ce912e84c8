import { sql, type Statement } from '../db/db.ts';
import { KEYS_CHANNEL } from './apiKeys.sql.ts';

/**
 * The statements that remove a tenant's or a channel's rows, a batch at a
 * time ($1 the tenant or channel, $2 the batch size): each is a short
 * transaction of its own that locks at most a batch of rows, so other
 * tenants' ingest and turns never wait behind a deletion. Each answers how
 * many rows it removed (`n`); fewer than a batch means that table is done.
 */
const batch = (name: string, table: string, ids: string): Statement =>
  sql(name, `WITH d AS (DELETE FROM ${table} WHERE id IN (${ids} LIMIT $2) RETURNING 1) SELECT count(*)::int AS n FROM d`);

/** A tenant's rows, children first (events with their deliveries, messages → conversations → contacts). */
export const TENANT_PURGE_BATCHES: readonly Statement[] = [
  batch('tenant_purge_tool_calls', 'tool_calls', 'SELECT id FROM tool_calls WHERE tenant_id = $1'),
  batch('tenant_purge_events', 'events', 'SELECT id FROM events WHERE tenant_id = $1'),
  batch('tenant_purge_messages', 'messages', 'SELECT id FROM messages WHERE tenant_id = $1'),
  batch('tenant_purge_conversations', 'conversations', 'SELECT id FROM conversations WHERE tenant_id = $1'),
  batch('tenant_purge_contacts', 'contacts', 'SELECT id FROM contacts WHERE tenant_id = $1'),
];

/**
 * The rest of a tenant, a handful of rows, in one statement: event
 * subscriptions (with what is left of their deliveries), sessions, keys,
 * usage, tools, templates, channels and the tenants row (only a tenant marked
 * for deletion). Foreign keys are checked at the end of the statement, so the
 * templates and their channels go together.
 * Every process forgets its channels, and reads again which tenants
 * subscribe to events (else their delivery workers would poll for a tenant
 * that is gone). `n` is 1 when the tenant is gone.
 */
export const TENANT_PURGE_LAST = sql(
  'tenant_purge_last',
  `WITH es AS (DELETE FROM event_subscriptions WHERE tenant_id = $1 RETURNING 1),
   s AS (DELETE FROM sessions WHERE tenant_id = $1),
   k AS (DELETE FROM api_keys WHERE tenant_id = $1),
   u AS (DELETE FROM usage WHERE tenant_id = $1),
   x AS (DELETE FROM tools WHERE tenant_id = $1),
   tp AS (DELETE FROM templates WHERE tenant_id = $1),
   c AS (DELETE FROM channels WHERE tenant_id = $1 RETURNING id),
   t AS (DELETE FROM tenants WHERE id = $1 AND deleting_at IS NOT NULL RETURNING id)
   SELECT (SELECT count(*)::int FROM t) AS n,
          (SELECT count(pg_notify('${KEYS_CHANNEL}', 'channel:' || c.id)) FROM c) AS notified,
          (SELECT count(pg_notify('${KEYS_CHANNEL}', 'events:' || $1::text)) FROM (SELECT 1 FROM es LIMIT 1) x) AS events_notified`,
);

/** A removed channel's rows, children first. */
export const CHANNEL_PURGE_BATCHES: readonly Statement[] = [
  batch('channel_purge_events', 'events', 'SELECT e.id FROM conversations v JOIN events e ON e.conversation_id = v.id WHERE v.channel_id = $1'),
  batch('channel_purge_messages', 'messages', 'SELECT m.id FROM conversations v JOIN messages m ON m.conversation_id = v.id WHERE v.channel_id = $1'),
  batch('channel_purge_conversations', 'conversations', 'SELECT id FROM conversations WHERE channel_id = $1'),
  batch('channel_purge_contacts', 'contacts', 'SELECT id FROM contacts WHERE channel_id = $1'),
];

/** The channel row itself and its templates, once it is marked removed and empty. */
export const CHANNEL_PURGE_LAST = sql(
  'channel_purge_last',
  `WITH tp AS (DELETE FROM templates WHERE channel_id = $1 AND EXISTS (SELECT 1 FROM channels WHERE id = $1 AND removed_at IS NOT NULL)),
   c AS (DELETE FROM channels WHERE id = $1 AND removed_at IS NOT NULL RETURNING id)
   SELECT count(*)::int AS n, count(pg_notify('${KEYS_CHANNEL}', 'channel:' || c.id)) AS notified FROM c`,
);

/** What housekeeping must still finish: tenants being deleted, channels being removed. */
export const PENDING_REMOVALS = sql(
  'pending_removals',
  `SELECT 'tenant' AS kind, id FROM tenants WHERE deleting_at IS NOT NULL
   UNION ALL
   SELECT 'channel', c.id FROM channels c JOIN tenants t ON t.id = c.tenant_id WHERE c.removed_at IS NOT NULL AND t.deleting_at IS NULL`,
);

/** Tenants with a retention period. */
export const RETENTION_TENANTS = sql(
  'retention_tenants',
  `SELECT id FROM tenants WHERE retention_days IS NOT NULL AND deleting_at IS NULL ORDER BY id`,
);

/**
 * A batch of a tenant's messages older than its retention period (read from
 * the row, so a period lifted meanwhile removes nothing). Messages still
 * waiting for their turn or their send are left: the queue of record is never
 * cut short. The tenant's tool calls as old go with them (a batch at most;
 * one still running stays).
 */
export const RETENTION_BATCH = sql(
  'retention_batch',
  `WITH calls AS (
     DELETE FROM tool_calls WHERE id IN (
       SELECT id FROM tool_calls
       WHERE tenant_id = $1 AND status <> 'running'
         AND created_at < now() - make_interval(days => (SELECT retention_days FROM tenants WHERE id = $1))
       LIMIT $2)),
   d AS (
     DELETE FROM messages WHERE id IN (
       SELECT id FROM messages
       WHERE tenant_id = $1
         AND created_at < now() - make_interval(days => (SELECT retention_days FROM tenants WHERE id = $1))
         AND NOT (direction = 'inbound' AND disposition IS NULL)
         AND NOT (direction = 'outbound' AND status = 'queued')
       LIMIT $2)
     RETURNING 1)
   SELECT count(*)::int AS n FROM d`,
);

/**
 * A batch of events older than $1 days, or than their tenant's retention
 * period when it is shorter, none of whose deliveries is still pending
 * (their deliveries go with them): the delivery log is kept that long, and an
 * event, which quotes the message it is about, no longer.
 */
export const EVENT_PRUNE_BATCH = sql(
  'event_prune_batch',
  `WITH d AS (
     DELETE FROM events WHERE id IN (
       SELECT e.id FROM events e
       WHERE e.created_at < now() - make_interval(days => least($1, coalesce((SELECT t.retention_days FROM tenants t WHERE t.id = e.tenant_id), $1)))
         AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
       LIMIT $2)
     RETURNING 1)
   SELECT count(*)::int AS n FROM d`,
);
