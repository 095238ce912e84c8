import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/db.ts';
import { notFound } from '../shared/errors.ts';
import type { Authenticator } from './auth.ts';
import { handle, route } from './routeSpec.ts';
import { errorBody, tenantScopeQuery, usageShape } from './schemas.ts';
import { oneTenant } from './scope.ts';
import { USAGE_THIS_MONTH } from './usage.sql.ts';

export const usageRoute = route({
  method: 'GET',
  url: '/api/usage',
  operationId: 'getUsage',
  tag: 'tenant',
  summary: "This month's agent answers and the limit",
  description: 'Counted per calendar month (UTC); the admin key names the tenant with ?tenantId=.',
  auth: 'tenant',
  query: tenantScopeQuery,
  responses: {
    200: { description: 'usage', schema: usageShape },
    400: { description: 'the admin key without tenantId', schema: errorBody },
    401: { description: 'no key, or an unknown one', schema: errorBody },
    404: { description: "another tenant's tenantId", schema: errorBody },
  },
});

/** `GET /api/usage` (docs/api.md). */
export async function usageRoutes(app: FastifyInstance, { db, auth }: { db: Db; auth: Authenticator }): Promise<void> {
  handle(app, usageRoute, (req) => auth.principal(req), async (p, { query }) => {
    const [row] = await db.query<{ month: string; count: number; limit: number | null }>(USAGE_THIS_MONTH, [oneTenant(p, query.tenantId)]);
    if (!row) throw notFound('tenant');
    return { month: row.month, count: row.count, limit: row.limit };
  });
}
