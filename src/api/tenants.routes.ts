import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app/context.ts';
import { notFound } from '../shared/errors.ts';
import { requireAdmin, requireTenant, type Authenticator } from './auth.ts';
import { isRowId } from '../shared/ids.ts';


/** Admin provisioning: tenants, channels, keys (SPEC §6). */
export async function tenantRoutes(app: FastifyInstance, ctx: AppContext, auth: Authenticator): Promise<void> {
  const p = ctx.provisioning;

  app.post('/api/tenants', async (req, reply) => {
    requireAdmin(await auth.principal(req));
    reply.code(201);
    return p.createTenant(req.body);
  });

  app.get<{ Params: { tenantId: string } }>('/api/tenants/:tenantId', async (req) => {
    const principal = await auth.principal(req);
    const { tenantId } = req.params;
    if (!isRowId(tenantId)) throw notFound('tenant');
    requireTenant(principal, tenantId);
    return p.getTenant(tenantId);
  });

  app.patch<{ Params: { tenantId: string } }>('/api/tenants/:tenantId', async (req) => {
    const principal = await auth.principal(req);
    const { tenantId } = req.params;
    if (!isRowId(tenantId)) throw notFound('tenant');
    requireTenant(principal, tenantId);
    return p.updateTenant(tenantId, req.body);
  });

  app.post<{ Params: { tenantId: string } }>('/api/tenants/:tenantId/channels', async (req, reply) => {
    const principal = await auth.principal(req);
    const { tenantId } = req.params;
    if (!isRowId(tenantId)) throw notFound('tenant');
    requireTenant(principal, tenantId);
    requireAdmin(principal);
    reply.code(201);
    return p.addChannel(tenantId, req.body);
  });

  app.post<{ Params: { tenantId: string } }>('/api/tenants/:tenantId/api-keys', async (req, reply) => {
    const principal = await auth.principal(req);
    const { tenantId } = req.params;
    if (!isRowId(tenantId)) throw notFound('tenant');
    requireTenant(principal, tenantId);
    requireAdmin(principal);
    reply.code(201);
    return p.createApiKey(tenantId);
  });
}
