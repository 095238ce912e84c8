import { sql } from '../db/db.ts';
import { KEYS_CHANNEL } from './apiKeys.sql.ts';

const columns = (t: string) => `${t}id::text AS id, ${t}tenant_id::text AS tenant_id, ${t}name, ${t}description, ${t}parameters,
  ${t}url, ${t}secret_enc, ${t}safe_to_repeat, ${t}timeout_ms, ${t}enabled, ${t}created_at, ${t}updated_at`;
const TOOL_COLUMNS = columns('');

/**
 * Every change to a tenant's tools bumps the tenant's config_version in the
 * same statement and announces `tenant:<id>`: each process forgets its cached
 * settings, and the tool list cached with the old version is read again at
 * the tenant's next turn (src/tenancy/tools.ts, ToolDirectory).
 */
const BUMP = `bump AS (
     UPDATE tenants SET config_version = config_version + 1 WHERE id = $1 AND deleting_at IS NULL
     RETURNING id, pg_notify('${KEYS_CHANNEL}', 'tenant:' || id) AS notified)`;

/** A new tool ($1 tenant); nothing when the tenant is gone. A taken name raises a unique violation. */
export const INSERT_TOOL = sql(
  'tool_insert',
  `WITH ${BUMP}
   INSERT INTO tools (tenant_id, name, description, parameters, url, secret_enc, safe_to_repeat, timeout_ms, enabled)
   SELECT bump.id, $2, $3, $4::jsonb, $5, $6, $7, $8, $9 FROM bump
   RETURNING ${TOOL_COLUMNS}`,
);

/**
 * Changes a tool ($2) of tenant $1: each field given (a flag per nullable
 * one); $6/$7 the secret (keep when $6 is false).
 */
export const UPDATE_TOOL = sql(
  'tool_update',
  `WITH ${BUMP}
   UPDATE tools t SET
     name = coalesce($3, t.name),
     description = coalesce($4, t.description),
     parameters = coalesce($5::jsonb, t.parameters),
     secret_enc = CASE WHEN $6::boolean THEN $7 ELSE t.secret_enc END,
     url = coalesce($8, t.url),
     safe_to_repeat = coalesce($9, t.safe_to_repeat),
     timeout_ms = coalesce($10, t.timeout_ms),
     enabled = coalesce($11, t.enabled),
     updated_at = now()
   FROM bump WHERE t.id = $2 AND t.tenant_id = bump.id
   RETURNING ${columns('t.')}`,
);

/** Removes a tool ($2) of tenant $1; its recorded calls stay (they name it). */
export const DELETE_TOOL = sql(
  'tool_delete',
  `WITH ${BUMP}
   DELETE FROM tools t USING bump WHERE t.id = $2 AND t.tenant_id = bump.id RETURNING t.id::text AS id`,
);

/** One tool of tenant $1 (null: any tenant, for the admin). */
export const TOOL_BY_ID = sql(
  'tool_by_id',
  `SELECT ${TOOL_COLUMNS} FROM tools WHERE id = $1 AND ($2::bigint IS NULL OR tenant_id = $2::bigint)`,
);

/** A tenant's tools by name. */
export const TOOLS_OF_TENANT = sql('tools_of_tenant', `SELECT ${TOOL_COLUMNS} FROM tools WHERE tenant_id = $1 ORDER BY name`);

/** Whether tenant $1 exists (and is not being deleted). */
export const TOOL_TENANT_EXISTS = sql('tool_tenant_exists', `SELECT 1 AS ok FROM tenants WHERE id = $1 AND deleting_at IS NULL`);

/**
 * A tenant's enabled tools as one JSON array, read with its settings
 * (TENANT_SETTINGS in provision.sql.ts): a turn gets them with no statement
 * of its own, and a change (which bumps config_version) reaches every
 * process as settings changes do.
 */
export const ENABLED_TOOLS_JSON = `(SELECT coalesce(json_agg(json_build_object(
     'id', x.id::text, 'name', x.name, 'description', x.description, 'parameters', x.parameters, 'url', x.url,
     'secret_enc', x.secret_enc, 'safe_to_repeat', x.safe_to_repeat, 'timeout_ms', x.timeout_ms) ORDER BY x.name), '[]')
   FROM tools x WHERE x.tenant_id = tenants.id AND x.enabled)`;
