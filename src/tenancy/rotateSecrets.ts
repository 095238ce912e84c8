import type { Db, Queryable } from '../db/db.ts';
import { decrypt, encrypt, keyId, storedKeyId } from '../shared/secrets.ts';
import { CANARY_TEXT, checkSecretKeys, SecretKeyRefusedError } from './secretCanary.ts';
import {
  ROTATE_CANARY_WRITE,
  ROTATE_CHANNELS_BATCH,
  ROTATE_CHANNELS_WRITE,
  ROTATE_EVENT_SUBSCRIPTIONS_BATCH,
  ROTATE_EVENT_SUBSCRIPTIONS_WRITE,
  ROTATE_TENANTS_BATCH,
  ROTATE_TENANTS_WRITE,
  ROTATE_TOOLS_BATCH,
  ROTATE_TOOLS_WRITE,
} from './rotateSecrets.sql.ts';

/** What a rotation did. */
export interface RotationReport {
  /** The new key's id, as stored secrets name it. */
  keyId: string;
  /** Secrets re-encrypted with the new key. */
  rewritten: number;
  /** Secrets already encrypted with it (a rotation run again after an interruption). */
  alreadyNew: number;
}

interface ChannelRow {
  id: string;
  access_token_enc: string;
  app_secret_enc: string | null;
  verify_token_enc: string | null;
}

/**
 * Re-encrypts every stored secret with `newKey`: channel access tokens, app
 * secrets and verify tokens, tenants' agent secrets, tools' signing
 * secrets, event subscriptions' secrets, and the canary last.
 * Rows are locked and rewritten in batches of `batchSize`, each batch in its
 * own transaction, so gateways keep running: one that knows both keys
 * (WAGATE_SECRET_KEY_PREVIOUS) reads every row at every moment. Secrets
 * already under the new key are left as they are, so an interrupted rotation
 * is finished by running it again. `oldKeys` are the keys secrets may be
 * encrypted with now.
 */
export async function rotateSecrets(db: Db, oldKeys: readonly Buffer[], newKey: Buffer, batchSize = 100): Promise<RotationReport> {
  const readKeys = [...oldKeys, newKey];
  await checkSecretKeys(db, readKeys);
  const newId = keyId(newKey);
  const report: RotationReport = { keyId: newId, rewritten: 0, alreadyNew: 0 };
  const rewrap = (stored: string | null, what: string): string | null => {
    if (stored === null) return null;
    if (storedKeyId(stored) === newId) {
      report.alreadyNew++;
      return stored;
    }
    let plain: string;
    try {
      plain = decrypt(readKeys, stored);
    } catch {
      throw new SecretKeyRefusedError(`WAGATE_SECRET_KEY: does not decrypt ${what}; nothing of its batch was changed`);
    }
    report.rewritten++;
    return encrypt(newKey, plain);
  };

  await inBatches(db, ROTATE_CHANNELS_BATCH, batchSize, async (tx, rows: ChannelRow[]) => {
    const out = rows.map((r) => ({
      id: r.id,
      access_token_enc: rewrap(r.access_token_enc, `channel ${r.id}'s access token`),
      app_secret_enc: rewrap(r.app_secret_enc, `channel ${r.id}'s app secret`),
      verify_token_enc: rewrap(r.verify_token_enc, `channel ${r.id}'s verify token`),
    }));
    await tx.query(ROTATE_CHANNELS_WRITE, [JSON.stringify(out)]);
  });
  await inBatches(db, ROTATE_TENANTS_BATCH, batchSize, async (tx, rows: { id: string; agent_secrets: Record<string, string | null> }[]) => {
    const out = rows.map((r) => ({
      id: r.id,
      agent_secrets: Object.fromEntries(Object.entries(r.agent_secrets).map(([k, v]) => [k, rewrap(v, `tenant ${r.id}'s agent ${k}`)])),
    }));
    await tx.query(ROTATE_TENANTS_WRITE, [JSON.stringify(out)]);
  });
  await inBatches(db, ROTATE_TOOLS_BATCH, batchSize, async (tx, rows: { id: string; secret_enc: string | null }[]) => {
    const out = rows.map((r) => ({ id: r.id, secret_enc: rewrap(r.secret_enc, `tool ${r.id}'s secret`) }));
    await tx.query(ROTATE_TOOLS_WRITE, [JSON.stringify(out)]);
  });
  await inBatches(db, ROTATE_EVENT_SUBSCRIPTIONS_BATCH, batchSize, async (tx, rows: { id: string; secret_enc: string }[]) => {
    const out = rows.map((r) => ({ id: r.id, secret_enc: rewrap(r.secret_enc, `event subscription ${r.id}'s secret`) }));
    await tx.query(ROTATE_EVENT_SUBSCRIPTIONS_WRITE, [JSON.stringify(out)]);
  });
  // Last: until here, the canary still proves the old key to gateways started meanwhile.
  await db.query(ROTATE_CANARY_WRITE, [encrypt(newKey, CANARY_TEXT)]);
  return report;
}

/** Runs `write` over every row of `select` in id order, `size` rows per transaction. */
async function inBatches<R extends { id: string }>(
  db: Db,
  select: Parameters<Queryable['query']>[0],
  size: number,
  write: (tx: Queryable, rows: R[]) => Promise<void>,
): Promise<void> {
  let after = '0';
  for (;;) {
    const last = await db.transaction(async (tx) => {
      const rows = await tx.query<R>(select, [after, size]);
      if (rows.length > 0) await write(tx, rows);
      return rows.at(-1)?.id ?? null;
    });
    if (last === null) return;
    after = last;
  }
}
