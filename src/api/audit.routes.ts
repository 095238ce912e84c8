import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AuditLog } from '../tenancy/auditLog.ts';
import type { Authenticator } from './auth.ts';
import { decodeCursor, encodeCursor, idCursor } from './cursor.ts';
import { handle, route } from './routeSpec.ts';
import { auditShape, errorBody, listOf, pageLimit, tenantIdQuery } from './schemas.ts';
import { scopeTenant } from './scope.ts';

export const auditRoute = route({
  method: 'GET',
  url: '/api/audit',
  operationId: 'listAuditEntries',
  tag: 'audit',
  summary: 'Operator actions, newest first: who, when, what, on what',
  description:
    'Pause, resume, manual sends, settings changes, keys created and revoked, tenants created, changed, disabled, enabled and deleted, ' +
    'channels added, rotated and removed, contacts erased. The admin key sees every tenant (or one with tenantId), a tenant key its own.',
  auth: 'tenant',
  query: z.strictObject({ tenantId: tenantIdQuery, cursor: z.string().max(200).optional(), limit: pageLimit(200, 50) }),
  responses: {
    200: { description: 'a page', schema: listOf(auditShape) },
    400: { description: 'invalid query', schema: errorBody },
    401: { description: 'no key', schema: errorBody },
    404: { description: "another tenant's tenantId", schema: errorBody },
  },
});

/** `GET /api/audit`. */
export async function auditRoutes(app: FastifyInstance, { audit, auth }: { audit: AuditLog; auth: Authenticator }): Promise<void> {
  handle(app, auditRoute, (req) => auth.principal(req), async (p, { query }) => {
    const tenantId = scopeTenant(p, query.tenantId);
    const beforeId = query.cursor ? decodeCursor(idCursor, query.cursor).i : null;
    const page = await audit.list(tenantId, beforeId, query.limit);
    const last = page.items[page.items.length - 1];
    return { items: page.items, nextCursor: page.more && last ? encodeCursor({ i: last.id }) : null };
  });
}
