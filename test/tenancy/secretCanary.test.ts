import { describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/db.ts';
import { checkSecretKeys, SecretKeyRefusedError } from '../../src/tenancy/secretCanary.ts';
import { freshDatabase, sqlClient } from '../support/db.ts';

describe('the secret key canary', () => {
  it('is written once when several processes start on a new database at the same moment, and all of them accept it', async () => {
    const url = await freshDatabase();
    const key = Buffer.alloc(32, 7);
    const dbs = Array.from({ length: 6 }, () => createDb({ connectionString: url, max: 2 }));
    try {
      await Promise.all(dbs.map((db) => checkSecretKeys(db, [key])));
      const client = await sqlClient(url);
      try {
        expect((await client.query('SELECT count(*)::int AS n FROM secret_canary')).rows[0].n).toBe(1);
      } finally {
        await client.end();
      }
      // Another key is still refused.
      await expect(checkSecretKeys(dbs[0], [Buffer.alloc(32, 8)])).rejects.toBeInstanceOf(SecretKeyRefusedError);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });
});
