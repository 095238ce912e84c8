import { sql } from '../db/db.ts';

export const ROTATE_CHANNELS_BATCH = sql(
  'rotate_channels_batch',
  `SELECT id, access_token_enc, app_secret_enc, verify_token_enc FROM channels
   WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE`,
);

export const ROTATE_CHANNELS_WRITE = sql(
  'rotate_channels_write',
  `UPDATE channels c SET access_token_enc = r.access_token_enc, app_secret_enc = r.app_secret_enc, verify_token_enc = r.verify_token_enc
   FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, access_token_enc text, app_secret_enc text, verify_token_enc text)
   WHERE c.id = r.id`,
);

export const ROTATE_TENANTS_BATCH = sql(
  'rotate_tenants_batch',
  `SELECT id, agent_secrets FROM tenants WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE`,
);

export const ROTATE_TENANTS_WRITE = sql(
  'rotate_tenants_write',
  `UPDATE tenants t SET agent_secrets = r.agent_secrets
   FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, agent_secrets jsonb)
   WHERE t.id = r.id`,
);

export const ROTATE_TOOLS_BATCH = sql(
  'rotate_tools_batch',
  `SELECT id::text AS id, secret_enc FROM tools WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE`,
);

export const ROTATE_TOOLS_WRITE = sql(
  'rotate_tools_write',
  `UPDATE tools t SET secret_enc = r.secret_enc
   FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, secret_enc text)
   WHERE t.id = r.id`,
);

export const ROTATE_EVENT_SUBSCRIPTIONS_BATCH = sql(
  'rotate_event_subscriptions_batch',
  `SELECT id, secret_enc FROM event_subscriptions WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE`,
);

export const ROTATE_EVENT_SUBSCRIPTIONS_WRITE = sql(
  'rotate_event_subscriptions_write',
  `UPDATE event_subscriptions s SET secret_enc = r.secret_enc
   FROM jsonb_to_recordset($1::jsonb) AS r(id bigint, secret_enc text)
   WHERE s.id = r.id`,
);

export const ROTATE_CANARY_WRITE = sql(
  'rotate_canary_write',
  `INSERT INTO secret_canary (id, value_enc) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET value_enc = EXCLUDED.value_enc`,
);
