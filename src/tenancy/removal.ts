import type { Queryable, Statement } from '../db/db.ts';
import type { MediaStore } from '../shared/mediaStore.ts';
import { MEDIA_DELETE, MEDIA_ORPHANS } from './mediaRemoval.sql.ts';
import { CHANNEL_PURGE_BATCHES, CHANNEL_PURGE_LAST, RETENTION_BATCH, TENANT_PURGE_BATCHES, TENANT_PURGE_LAST } from './removal.sql.ts';

/** Rows removed per statement: small enough that each transaction is short, large enough to finish quickly. */
export const REMOVAL_BATCH = 1_000;

/** Runs batch statements until each table is empty; returns the rows removed. */
async function purgeBatches(db: Queryable, id: string, batches: readonly Statement[], batchSize: number): Promise<number> {
  let rows = 0;
  for (const stmt of batches) {
    for (;;) {
      const [r] = await db.query<{ n: number }>(stmt, [id, batchSize]);
      rows += r.n;
      if (r.n < batchSize) break;
    }
  }
  return rows;
}

/** Runs batch statements until each table is empty, then the last statement; returns the rows removed and whether the last one removed its row. */
async function purge(db: Queryable, id: string, batches: readonly Statement[], last: Statement, batchSize: number): Promise<{ rows: number; done: boolean }> {
  const rows = await purgeBatches(db, id, batches, batchSize);
  const [r] = await db.query<{ n: number }>(last, [id]);
  return { rows, done: r.n > 0 };
}

/**
 * Removes every row of a tenant marked for deletion, in batches, the tenants
 * row last; with the media store, its media files and rows before that
 * (without it, housekeeping's media sweep removes them later).
 */
export async function purgeTenant(db: Queryable, tenantId: string, batchSize = REMOVAL_BATCH, store?: MediaStore): Promise<{ rows: number; done: boolean }> {
  let rows = await purgeBatches(db, tenantId, TENANT_PURGE_BATCHES, batchSize);
  if (store) {
    rows += await removeOrphanMedia(db, store, tenantId, batchSize, true);
    await store.removeTenant(tenantId);
  }
  const [r] = await db.query<{ n: number }>(TENANT_PURGE_LAST, [tenantId]);
  return { rows, done: r.n > 0 };
}

/**
 * Removes the media whose message is gone (retention, erasure, removals):
 * the files first, then the rows, so a crash in between leaves rows to try
 * again, never files that nothing points to. `tenantId` null: every tenant.
 * Returns the rows removed.
 */
export async function removeOrphanMedia(db: Queryable, store: MediaStore, tenantId: string | null, batchSize = REMOVAL_BATCH, evenPending = false): Promise<number> {
  let removed = 0;
  for (;;) {
    const rows = await db.query<{ id: string; storage_key: string | null }>(MEDIA_ORPHANS, [tenantId, batchSize, evenPending]);
    if (rows.length === 0) break;
    await store.remove(rows.flatMap((r) => (r.storage_key ? [r.storage_key] : [])));
    const [d] = await db.query<{ n: number }>(MEDIA_DELETE, [rows.map((r) => r.id)]);
    removed += d.n;
    if (rows.length < batchSize) break;
  }
  return removed;
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
