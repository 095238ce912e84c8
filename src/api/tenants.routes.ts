import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isRowId } from '../shared/ids.ts';
import { notFound } from '../shared/errors.ts';
import { channelCreateInput, tenantCreateInput, tenantPatchInput, type Provisioning } from '../tenancy/provision.ts';
import type { AuditLog } from '../tenancy/auditLog.ts';
import { actorOf, settingsChange } from './actor.ts';
import { requireAdmin, requireTenant, type Authenticator, type Principal } from './auth.ts';
import { handle, route } from './routeSpec.ts';
import { channelShape, errorBody, idString, tenantShape } from './schemas.ts';

const tenantParams = z.strictObject({ tenantId: idString });
const e = (description: string) => ({ description, schema: errorBody });

export const createTenantRoute = route({
  method: 'POST',
  url: '/api/tenants',
  operationId: 'createTenant',
  tag: 'provisioning',
  summary: 'Create a tenant (name, monthly limit, limits, agent configuration)',
  auth: 'admin',
  body: tenantCreateInput,
  responses: { 201: { description: 'created', schema: tenantShape }, 400: e('invalid input'), 401: e('no key'), 403: e('not the admin key') },
});

export const getTenantRoute = route({
  method: 'GET',
  url: '/api/tenants/:tenantId',
  operationId: 'getTenant',
  tag: 'provisioning',
  summary: 'A tenant',
  auth: 'admin_or_own_tenant',
  resource: 'tenant',
  params: tenantParams,
  responses: { 200: { description: 'the tenant', schema: tenantShape }, 401: e('no key'), 404: e("no such tenant (or another tenant's)") },
});

export const patchTenantRoute = route({
  method: 'PATCH',
  url: '/api/tenants/:tenantId',
  operationId: 'updateTenant',
  tag: 'provisioning',
  summary: 'Change a tenant: name, monthly limit and limits (admin key), retention period, agent configuration',
  description:
    'A tenant key may change its own agent configuration, within its limits, and nothing else: moving name, monthlyMessageLimit or limits answers 403 and changes nothing.',
  auth: 'admin_or_own_tenant',
  resource: 'tenant',
  params: tenantParams,
  body: tenantPatchInput,
  responses: {
    200: { description: 'the tenant', schema: tenantShape },
    400: e('invalid input, a value over a ceiling of limits, or model_not_allowed'),
    401: e('no key'),
    403: e('a tenant key changing name, monthlyMessageLimit or limits'),
    404: e("no such tenant (or another tenant's)"),
  },
});

export const addChannelRoute = route({
  method: 'POST',
  url: '/api/tenants/:tenantId/channels',
  operationId: 'createChannel',
  tag: 'provisioning',
  summary: 'Add a channel (a WhatsApp number) to a tenant',
  description: 'The access token, app secret and verify token are stored encrypted and never shown again.',
  auth: 'admin',
  resource: 'tenant',
  params: tenantParams,
  body: channelCreateInput,
  responses: {
    201: { description: 'created', schema: channelShape },
    400: e('invalid input'),
    401: e('no key'),
    403: e('not the admin key'),
    404: e('no such tenant'),
    409: e('phone_number_taken'),
  },
});

/** Every provisioning route, for the OpenAPI document (the key routes are in apiKeys.routes.ts). */
export const tenantRouteSpecs = [createTenantRoute, getTenantRoute, patchTenantRoute, addChannelRoute];

/** Admin provisioning: tenants and channels (docs/api.md). */
export async function tenantRoutes(app: FastifyInstance, { provisioning, auth, audit }: { provisioning: Provisioning; auth: Authenticator; audit: AuditLog }): Promise<void> {
  const admin = async (req: FastifyRequest) => {
    const p = await auth.principal(req);
    requireAdmin(p);
    return p;
  };
  // Another tenant's id answers 404 before anything else is looked at (a key learns nothing of what it cannot reach).
  const tenantScoped = (adminOnly: boolean) => async (req: FastifyRequest): Promise<Principal> => {
    const p = await auth.principal(req);
    const { tenantId } = req.params as { tenantId: string };
    if (!isRowId(tenantId)) throw notFound('tenant');
    requireTenant(p, tenantId);
    if (adminOnly) requireAdmin(p);
    return p;
  };

  handle(app, createTenantRoute, admin, async (p, { body, reply }) => {
    const t = await provisioning.createTenant(body);
    await audit.record(actorOf(p), { tenantId: t.id, action: 'tenant.created', targetType: 'tenant', targetId: t.id });
    reply.code(201);
    return t;
  });
  handle(app, getTenantRoute, tenantScoped(false), async (_p, { params }) => provisioning.getTenant(params.tenantId));
  handle(app, patchTenantRoute, tenantScoped(false), async (p, { params, body }) => {
    const t = await provisioning.updateTenant(params.tenantId, body, p.kind);
    await audit.record(actorOf(p), settingsChange(t.id, body));
    return t;
  });
  handle(app, addChannelRoute, tenantScoped(true), async (p, { params, body, reply }) => {
    const c = await provisioning.addChannel(params.tenantId, body);
    await audit.record(actorOf(p), { tenantId: c.tenantId, action: 'channel.added', targetType: 'channel', targetId: c.id, detail: { phoneNumberId: c.phoneNumberId } });
    reply.code(201);
    return c;
  });
}
