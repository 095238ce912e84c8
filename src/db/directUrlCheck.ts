import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql, type Db } from './db.ts';

/** Sends a notification through the pool: $1 channel, $2 payload. */
const PROBE = sql('direct_url_probe', `SELECT pg_notify($1, $2) AS sent`);

/** The direct URL reaches another database than the pool's: LISTEN and the process lock would be blind. */
export class DirectUrlMismatchError extends Error {
  readonly code = 'direct_url_mismatch';
  constructor(detail: string) {
    super(`DATABASE_DIRECT_URL does not reach the database of DATABASE_URL: ${detail} (both must name the same database, one without the pooler)`);
    this.name = 'DirectUrlMismatchError';
  }
}

/**
 * Checks at start that the direct URL reaches the same database as the pool,
 * the one way that matters: a notification sent through the pool arrives on a
 * LISTEN over the direct URL. NOTIFY is delivered within one database only,
 * as the process lock is looked up in one database's pg_locks, so a direct
 * URL to another database (or another server) would leave every process deaf
 * to the others and blind to their locks, without an error.
 */
export async function checkDirectUrl(db: Db, directUrl: string, timeoutMs = 5_000): Promise<void> {
  const channel = 'wagate_probe_' + randomBytes(8).toString('hex');
  const payload = randomBytes(8).toString('hex');
  const client = new pg.Client({ connectionString: directUrl });
  await client.connect();
  try {
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<boolean>((resolve) => {
      client.on('notification', (n) => {
        if (n.channel === channel && n.payload === payload) resolve(true);
      });
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    await client.query(`LISTEN ${channel}`);
    await db.query(PROBE, [channel, payload]);
    const ok = await arrived;
    clearTimeout(timer);
    if (!ok) throw new DirectUrlMismatchError(`a notification sent through the pool did not arrive on the direct connection within ${timeoutMs} ms`);
  } finally {
    await client.end().catch(() => {});
  }
}
