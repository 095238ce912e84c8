import { sql } from '../db/db.ts';

export const AUDIT_INSERT = sql(
  'audit_insert',
  `INSERT INTO audit_log (tenant_id, actor, actor_key_id, via, action, target_type, target_id, detail)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
);

/** Newest first; $1 one tenant (null: every tenant), $2 before this id (null: from the newest), $3 how many. */
export const AUDIT_LIST = sql(
  'audit_list',
  `SELECT id, tenant_id, actor, actor_key_id, via, action, target_type, target_id, detail, created_at
   FROM audit_log
   WHERE ($1::bigint IS NULL OR tenant_id = $1::bigint) AND ($2::bigint IS NULL OR id < $2::bigint)
   ORDER BY id DESC LIMIT $3`,
);
