import { sql } from '../db/db.ts';

/** A tenant's agent answers this calendar month (UTC) and its limit; no row: no such tenant. */
export const USAGE_THIS_MONTH = sql(
  'api_usage_this_month',
  `SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
          coalesce(u.count, 0) AS count,
          t.monthly_message_limit AS "limit"
   FROM tenants t
   LEFT JOIN usage u ON u.tenant_id = t.id AND u.month = date_trunc('month', now() AT TIME ZONE 'UTC')::date
   WHERE t.id = $1`,
);
