import { sql } from '../db/db.ts';

export const INSERT_TENANT = sql(
  'tenant_insert',
  `INSERT INTO tenants (name, monthly_message_limit, agent, agent_secrets)
   VALUES ($1, $2, $3, $4)
   RETURNING id, name, monthly_message_limit, agent, agent_secrets`,
);

/** Merges the given agent fields over the stored ones and bumps the config version. */
export const UPDATE_TENANT = sql(
  'tenant_update',
  `UPDATE tenants SET
     name = coalesce($2, name),
     monthly_message_limit = CASE WHEN $3::boolean THEN $4::int ELSE monthly_message_limit END,
     agent = agent || $5::jsonb,
     agent_secrets = (agent_secrets || $6::jsonb),
     config_version = config_version + 1
   WHERE id = $1
   RETURNING id, name, monthly_message_limit, agent, agent_secrets`,
);

export const TENANT_BY_ID = sql(
  'tenant_by_id',
  `SELECT id, name, monthly_message_limit, agent, agent_secrets, config_version FROM tenants WHERE id = $1`,
);

export const INSERT_CHANNEL = sql(
  'channel_insert',
  `INSERT INTO channels (tenant_id, phone_number_id, display_phone_number, access_token_enc, app_secret_enc,
                         verify_token_enc, messages_per_second)
   SELECT id, $2, $3, $4, $5, $6, $7 FROM tenants WHERE id = $1
   ON CONFLICT (phone_number_id) DO NOTHING
   RETURNING id, tenant_id, phone_number_id, display_phone_number, messages_per_second`,
);
