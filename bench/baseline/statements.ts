import pg from 'pg';

/**
 * The eight database operations the old service ran for every message (see
 * the analysis it was measured by), written against wagate's schema so both
 * pipelines run on the same database. As in the old service, each one opens
 * its own connection, runs, and closes it: no pool.
 */

/** 1. `get_user_by_phone_number`: the business (tenant) behind the number written to. */
export const USER_BY_PHONE = `
SELECT c.id AS channel_id, c.tenant_id, c.access_token_enc, t.monthly_message_limit
FROM channels c JOIN tenants t ON t.id = c.tenant_id
WHERE c.phone_number_id = $1`;

/** 2. `check_message_limits`: this month's usage. */
export const USAGE_CHECK = `
SELECT coalesce((SELECT count FROM usage
                 WHERE tenant_id = $1 AND month = date_trunc('month', now() AT TIME ZONE 'UTC')::date), 0) AS count`;

/** 3. `get_or_create_contact`: the contact and its thread (conversation). */
export const GET_OR_CREATE_CONTACT = `
WITH c AS (
  INSERT INTO contacts AS c (tenant_id, channel_id, contact_key, wa_id, profile_name)
  VALUES ($1, $2, $3, $3, $4)
  ON CONFLICT (channel_id, contact_key) DO UPDATE SET profile_name = coalesce(excluded.profile_name, c.profile_name)
  RETURNING c.id
)
INSERT INTO conversations AS v (tenant_id, channel_id, contact_id)
SELECT $1, $2, c.id FROM c
ON CONFLICT (channel_id, contact_id) DO UPDATE SET last_message_at = now()
RETURNING v.id AS conversation_id, v.contact_id`;

/** 4. `log_message`: the customer's message. */
export const LOG_MESSAGE = `
INSERT INTO messages (tenant_id, channel_id, conversation_id, direction, author, wamid, type, body, status)
VALUES ($1, $2, $3, 'inbound', 'customer', $4, 'text', $5, 'received')
ON CONFLICT (channel_id, wamid) WHERE wamid IS NOT NULL DO NOTHING`;

/** 5. `update_contact_interaction`. */
export const UPDATE_CONTACT_INTERACTION = `UPDATE contacts SET last_inbound_at = now() WHERE id = $1`;

/** 6. `is_conversation_paused`. */
export const PAUSE_CHECK = `SELECT paused FROM conversations WHERE id = $1`;

/** 7. `log_message` for the response. */
export const LOG_RESPONSE = `
INSERT INTO messages (tenant_id, channel_id, conversation_id, direction, author, type, body, status)
VALUES ($1, $2, $3, 'outbound', 'agent', 'text', $4, 'queued')`;

/** 8. `track_message_usage`. */
export const TRACK_USAGE = `
INSERT INTO usage (tenant_id, month, count)
VALUES ($1, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 1)
ON CONFLICT (tenant_id, month) DO UPDATE SET count = usage.count + 1`;

/** What the old data layer did, counted: statements sent and connections opened. */
export interface OperationCounts {
  roundTrips: number;
  connectionsOpened: number;
}

/**
 * One operation the old way: `psycopg2.connect(...)`, one statement, close.
 * A new connection every time (TCP, start-up, authentication), which is the
 * cost the analysis measured at 50–200 ms per operation on its hosts.
 */
export async function onNewConnection<R extends object>(
  databaseUrl: string,
  counts: OperationCounts,
  text: string,
  params: unknown[],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  counts.connectionsOpened++;
  try {
    await client.connect();
    counts.roundTrips++;
    const res = await client.query(text, params);
    return res.rows as R[];
  } finally {
    await client.end().catch(() => {});
  }
}
