import type { Queryable } from '../db/db.ts';
import { AppError } from '../shared/errors.ts';
import { decrypt, encrypt, keyId, storedKeyId, type SecretKeys } from '../shared/secrets.ts';
import { CANARY_READ, CANARY_WRITE } from './secretCanary.sql.ts';

/** The text the canary holds. */
export const CANARY_TEXT = 'wagate secret key canary';

/** The secret key does not decrypt what this database stores. One line, naming the variable. */
export class SecretKeyRefusedError extends AppError {
  constructor(message: string) {
    super(500, 'secret_key_refused', message);
    this.name = 'SecretKeyRefusedError';
  }
}

/**
 * Checks at start that the configured keys decrypt this database's secrets,
 * through a canary written with WAGATE_SECRET_KEY the first time (after
 * checking the key against a stored channel token, if there is one). A
 * gateway started with the wrong key refuses to run instead of answering 500
 * to webhooks and failing every turn. `keys` lists WAGATE_SECRET_KEY first.
 */
export async function checkSecretKeys(db: Queryable, keys: readonly Buffer[]): Promise<void> {
  const [current] = keys;
  if (!current || current.length !== 32) return;
  const [{ canary, sample }] = await db.query<{ canary: string | null; sample: string | null }>(CANARY_READ);
  if (canary === null && sample !== null) mustDecrypt(keys, sample, 'the stored channel tokens', null);
  // When another process wrote it at the same moment, the write saw its row only
  // after the statement's snapshot was taken: read it again with a new one.
  const stored =
    canary ??
    (await db.query<{ value_enc: string }>(CANARY_WRITE, [encrypt(current, CANARY_TEXT)]))[0]?.value_enc ??
    (await db.query<{ canary: string | null }>(CANARY_READ))[0].canary;
  if (!stored) throw new Error('the secret key canary was neither written nor found');
  mustDecrypt(keys, stored, "this database's secrets", CANARY_TEXT);
}

/** Throws SecretKeyRefusedError unless `keys` decrypt `stored` (to `expected`, when given). */
function mustDecrypt(keys: SecretKeys, stored: string, what: string, expected: string | null): void {
  let plain: string | null = null;
  try {
    plain = decrypt(keys, stored);
  } catch {
    plain = null;
  }
  if (plain !== null && (expected === null || plain === expected)) return;
  const list = Buffer.isBuffer(keys) ? [keys] : keys;
  const id = storedKeyId(stored);
  const given = list.map(keyId).join(', ');
  throw new SecretKeyRefusedError(
    `WAGATE_SECRET_KEY: does not decrypt ${what}` +
      (id ? ` (encrypted with key ${id}; the keys given are ${given})` : '') +
      '; start with the key they were encrypted with (during a rotation, set the other one as WAGATE_SECRET_KEY_PREVIOUS)',
  );
}
