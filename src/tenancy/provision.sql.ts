import { sql } from '../db/db.ts';
import { ENABLED_TOOLS_JSON } from './tools.sql.ts';

const TENANT_COLUMNS = 'id, name, monthly_message_limit, agent, agent_secrets, allowed_models, allowed_transcription_models, max_history_length, max_system_prompt_chars, config_version, ' +
  'retention_days, disabled_at, deleting_at';

export const INSERT_TENANT = sql(
  'tenant_insert',
  `INSERT INTO tenants (name, monthly_message_limit, agent, agent_secrets, allowed_models, max_history_length, max_system_prompt_chars,
                        retention_days, allowed_transcription_models)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
   RETURNING ${TENANT_COLUMNS}`,
);

/**
 * Merges the given agent fields over the stored ones, sets the limits given
 * (each with a flag, since null is a value), and bumps the config version.
 * Only if the version is still the one the change was checked against
 * ($13), and never a tenant being deleted: a change checked against a stale row updates nothing and is checked again.
 */
export const UPDATE_TENANT = sql(
  'tenant_update',
  `UPDATE tenants SET
     name = coalesce($2, name),
     monthly_message_limit = CASE WHEN $3::boolean THEN $4::int ELSE monthly_message_limit END,
     agent = agent || $5::jsonb,
     agent_secrets = (agent_secrets || $6::jsonb),
     allowed_models = CASE WHEN $7::boolean THEN $8::text[] ELSE allowed_models END,
     max_history_length = CASE WHEN $9::boolean THEN $10::int ELSE max_history_length END,
     max_system_prompt_chars = CASE WHEN $11::boolean THEN $12::int ELSE max_system_prompt_chars END,
     retention_days = CASE WHEN $14::boolean THEN $15::int ELSE retention_days END,
     allowed_transcription_models = CASE WHEN $16::boolean THEN $17::text[] ELSE allowed_transcription_models END,
     config_version = config_version + 1
   WHERE id = $1 AND config_version = $13 AND deleting_at IS NULL
   RETURNING ${TENANT_COLUMNS}`,
);

export const TENANT_BY_ID = sql('tenant_by_id', `SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = $1`);

/** What a turn needs of a tenant (src/tenancy/tenantSettings.ts): its row and its enabled tools. */
export const TENANT_SETTINGS = sql('tenant_settings', `SELECT ${TENANT_COLUMNS}, ${ENABLED_TOOLS_JSON} AS tools FROM tenants WHERE id = $1`);

export const INSERT_CHANNEL = sql(
  'channel_insert',
  `INSERT INTO channels (tenant_id, phone_number_id, display_phone_number, access_token_enc, app_secret_enc,
                         verify_token_enc, messages_per_second, waba_id)
   SELECT id, $2, $3, $4, $5, $6, $7, $8 FROM tenants WHERE id = $1 AND deleting_at IS NULL
   ON CONFLICT (phone_number_id) DO NOTHING
   RETURNING id, tenant_id, phone_number_id, display_phone_number, messages_per_second, waba_id`,
);
