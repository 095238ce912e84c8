import type pg from 'pg';

const TABLES = ['tenants', 'channels', 'contacts', 'conversations', 'messages', 'usage', 'sessions', 'secret_canary'];

/**
 * A digest of every row an API request could store: equal digests before
 * and after a request mean it stored nothing. Leaves out only
 * `api_keys.last_used_at`, which records that a key authenticated, not what
 * the request asked for.
 */
export async function storedState(client: pg.Client): Promise<string> {
  const parts = TABLES.map((t) => `(SELECT count(*) || ':' || coalesce(md5(string_agg(r::text, ',' ORDER BY r::text)), '') FROM ${t} r)`);
  parts.push(`(SELECT count(*) || ':' || coalesce(md5(string_agg(concat_ws(';', k.id, k.tenant_id, k.key_hash, k.prefix, k.created_at, k.revoked_at), ',' ORDER BY k.id)), '') FROM api_keys k)`);
  const { rows } = await client.query<{ state: string }>(`SELECT concat_ws(' ', ${parts.join(', ')}) AS state`);
  return rows[0].state;
}

/** True when no customer message waits for its turn and no reply waits to be sent: nothing will write by itself. */
export async function settled(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ open: number }>(
    // Messages still to answer or send, and tenants or channels whose removal runs in the background.
    `SELECT ((SELECT count(*) FROM messages WHERE (direction = 'inbound' AND disposition IS NULL) OR (direction = 'outbound' AND status = 'queued'))
          + (SELECT count(*) FROM tenants WHERE deleting_at IS NOT NULL)
          + (SELECT count(*) FROM channels WHERE removed_at IS NOT NULL))::int AS open`,
  );
  return rows[0].open === 0;
}
