import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { notFound } from '../shared/errors.ts';
import { isRowId } from '../shared/ids.ts';
import type { TenantLifecycle } from '../tenancy/tenantLifecycle.ts';
import { actorOf } from './actor.ts';
import { requireAdmin, requireTenant, type Authenticator, type Principal } from './auth.ts';
import { decodeCursor, encodeCursor, idCursor } from './cursor.ts';
import { handle, route } from './routeSpec.ts';
import { errorBody, idString, listOf, pageLimit, tenantShape, tenantSummaryShape } from './schemas.ts';

const tenantParams = z.strictObject({ tenantId: idString });
const e = (description: string) => ({ description, schema: errorBody });

export const listTenantsRoute = route({
  method: 'GET',
  url: '/api/tenants',
  operationId: 'listTenants',
  tag: 'provisioning',
  summary: "Every tenant, newest first, with this month's usage",
  description: 'Tenants being deleted are not listed.',
  auth: 'admin',
  query: z.strictObject({
    search: z.string().max(200).optional().describe("digits only: the tenant's id; else a fragment of the name (case-insensitive)"),
    state: z.enum(['active', 'disabled']).optional(),
    cursor: z.string().max(200).optional(),
    limit: pageLimit(200, 50),
  }),
  responses: { 200: { description: 'a page', schema: listOf(tenantSummaryShape) }, 400: e('invalid query'), 401: e('no key'), 403: e('not the admin key') },
});

export const disableTenantRoute = route({
  method: 'POST',
  url: '/api/tenants/:tenantId/disable',
  operationId: 'disableTenant',
  tag: 'provisioning',
  summary: 'Disable a tenant: webhooks still stored and acknowledged, nothing answered (disposition tenant_disabled), its keys answer 403 tenant_disabled',
  description: 'Its dashboard sessions end. Disabling a disabled tenant changes nothing.',
  auth: 'admin',
  resource: 'tenant',
  params: tenantParams,
  responses: { 200: { description: 'the tenant', schema: tenantShape }, 401: e('no key'), 403: e('not the admin key'), 404: e('no such tenant') },
});

export const enableTenantRoute = route({
  method: 'POST',
  url: '/api/tenants/:tenantId/enable',
  operationId: 'enableTenant',
  tag: 'provisioning',
  summary: 'Enable a disabled tenant: new messages are answered as usual, its keys work again',
  description: 'Messages that arrived while it was disabled keep their tenant_disabled disposition.',
  auth: 'admin',
  resource: 'tenant',
  params: tenantParams,
  responses: { 200: { description: 'the tenant', schema: tenantShape }, 401: e('no key'), 403: e('not the admin key'), 404: e('no such tenant') },
});

export const deleteTenantRoute = route({
  method: 'DELETE',
  url: '/api/tenants/:tenantId',
  operationId: 'deleteTenant',
  tag: 'provisioning',
  summary: 'Delete a tenant and every row of it',
  description:
    'From the answer on, its channels route nothing, its keys are revoked and its sessions ended; its rows are then removed in the background, ' +
    'in batches of short transactions so that other tenants never wait. The audit log keeps the record of the deletion.',
  auth: 'admin',
  resource: 'tenant',
  params: tenantParams,
  responses: {
    202: { description: 'deletion under way', schema: z.object({ id: z.string(), status: z.literal('deleting') }) },
    401: e('no key'),
    403: e('not the admin key'),
    404: e('no such tenant'),
  },
});

/** Every tenant life-cycle route, for the OpenAPI document. */
export const tenantLifecycleRouteSpecs = [listTenantsRoute, disableTenantRoute, enableTenantRoute, deleteTenantRoute];

/** The admin's tenant life cycle: list, disable, enable, delete (docs/api.md, docs/operations.md). */
export async function tenantLifecycleRoutes(
  app: FastifyInstance,
  { lifecycle, auth, onDeletion }: { lifecycle: TenantLifecycle; auth: Authenticator; onDeletion: () => void },
): Promise<void> {
  const admin = async (req: FastifyRequest): Promise<Principal> => {
    const p = await auth.principal(req);
    requireAdmin(p);
    return p;
  };
  // Another tenant's id answers 404 before the key's rights are looked at (a key learns nothing of what it cannot reach).
  const adminOnTenant = async (req: FastifyRequest): Promise<Principal> => {
    const p = await auth.principal(req);
    const { tenantId } = req.params as { tenantId: string };
    if (!isRowId(tenantId)) throw notFound('tenant');
    requireTenant(p, tenantId);
    requireAdmin(p);
    return p;
  };

  handle(app, listTenantsRoute, admin, async (_p, { query }) => {
    const beforeId = query.cursor ? decodeCursor(idCursor, query.cursor).i : null;
    const page = await lifecycle.list({ search: query.search, state: query.state, beforeId, limit: query.limit });
    const last = page.items[page.items.length - 1];
    return { items: page.items, nextCursor: page.more && last ? encodeCursor({ i: last.id }) : null };
  });
  handle(app, disableTenantRoute, adminOnTenant, async (p, { params }) => lifecycle.disable(params.tenantId, actorOf(p)));
  handle(app, enableTenantRoute, adminOnTenant, async (p, { params }) => lifecycle.enable(params.tenantId, actorOf(p)));
  handle(app, deleteTenantRoute, adminOnTenant, async (p, { params, reply }) => {
    const t = await lifecycle.requestDeletion(params.tenantId, actorOf(p));
    onDeletion();
    return reply.code(202).send({ id: t.id, status: 'deleting' });
  });
}
