import { sql } from '../db/db.ts';

/** The canary, and a stored secret to check the key against before there is one. */
export const CANARY_READ = sql(
  'secret_canary_read',
  `SELECT (SELECT value_enc FROM secret_canary WHERE id = 1) AS canary,
          (SELECT access_token_enc FROM channels ORDER BY id LIMIT 1) AS sample`,
);

/** Writes the canary unless a process wrote one first; returns the one stored. */
export const CANARY_WRITE = sql(
  'secret_canary_write',
  `WITH ins AS (
     INSERT INTO secret_canary (id, value_enc) VALUES (1, $1) ON CONFLICT (id) DO NOTHING RETURNING value_enc
   )
   SELECT value_enc FROM ins UNION ALL SELECT value_enc FROM secret_canary WHERE id = 1 LIMIT 1`,
);
