import type { Queryable, Statement } from '../db/db.ts';
import { CHANNEL_PURGE_BATCHES, CHANNEL_PURGE_LAST, RETENTION_BATCH, TENANT_PURGE_BATCHES, TENANT_PURGE_LAST } from './removal.sql.ts';

/** Rows removed per statement: small enough that each transaction is short, large enough to finish quickly. */
export const REMOVAL_BATCH = 1_000;

/** Runs batch statements until each table is empty, then the last statement; returns the rows removed and whether the last one removed its row. */
async function purge(db: Queryable, id: string, batches: readonly Statement[], last: Statement, batchSize: number): Promise<{ rows: number; done: boolean }> {
  let rows = 0;
  for (const stmt of batches) {
    for (;;) {
      const [r] = await db.query<{ n: number }>(stmt, [id, batchSize]);
      rows += r.n;
      if (r.n < batchSize) break;
    }
  }
  const [r] = await db.query<{ n: number }>(last, [id]);
  return { rows, done: r.n > 0 };
}

/** Removes every row of a tenant marked for deletion, in batches, the tenants row last. */
export function purgeTenant(db: Queryable, tenantId: string, batchSize = REMOVAL_BATCH): Promise<{ rows: number; done: boolean }> {
  return purge(db, tenantId, TENANT_PURGE_BATCHES, TENANT_PURGE_LAST, batchSize);
}

/** Removes a removed channel's contacts, conversations and messages in batches, then the channel. */
export function purgeChannel(db: Queryable, channelId: string, batchSize = REMOVAL_BATCH): Promise<{ rows: number; done: boolean }> {
  return purge(db, channelId, CHANNEL_PURGE_BATCHES, CHANNEL_PURGE_LAST, batchSize);
}

/** Removes a tenant's messages older than its retention period, at most `maxBatches` batches; returns how many. */
export async function applyRetention(db: Queryable, tenantId: string, batchSize = REMOVAL_BATCH, maxBatches = 100): Promise<number> {
  let removed = 0;
  for (let i = 0; i < maxBatches; i++) {
    const [r] = await db.query<{ n: number }>(RETENTION_BATCH, [tenantId, batchSize]);
    removed += r.n;
    if (r.n < batchSize) break;
  }
  return removed;
}
