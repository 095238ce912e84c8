import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { notFound } from '../shared/errors.ts';
import { isRowId } from '../shared/ids.ts';
import type { ApiKeys } from '../tenancy/apiKeys.ts';
import type { AuditLog } from '../tenancy/auditLog.ts';
import { actorOf } from './actor.ts';
import { requireTenant, type Authenticator, type Principal } from './auth.ts';
import { handle, route } from './routeSpec.ts';
import { apiKeyInfoShape, apiKeyList, apiKeyShape, errorBody, idString } from './schemas.ts';

const tenantParams = z.strictObject({ tenantId: idString });
const keyParams = z.strictObject({ keyId: idString });
const e = (description: string) => ({ description, schema: errorBody });

export const listApiKeysRoute = route({
  method: 'GET',
  url: '/api/tenants/:tenantId/api-keys',
  operationId: 'listApiKeys',
  tag: 'keys',
  summary: "A tenant's keys, newest first (never the key or its hash)",
  description: 'Revoked keys are listed too, with revokedAt. lastUsedAt is written at most once a minute per key and process.',
  auth: 'tenant',
  resource: 'tenant',
  params: tenantParams,
  responses: { 200: { description: 'the keys', schema: apiKeyList }, 401: e('no key'), 404: e("no such tenant (or another tenant's)") },
});

export const createApiKeyRoute = route({
  method: 'POST',
  url: '/api/tenants/:tenantId/api-keys',
  operationId: 'createApiKey',
  tag: 'keys',
  summary: 'A new tenant key (returned once)',
  description: "The admin key creates keys for any tenant, a tenant key for its own tenant (the dashboard's Settings).",
  auth: 'tenant',
  resource: 'tenant',
  params: tenantParams,
  responses: { 201: { description: 'created', schema: apiKeyShape }, 401: e('no key'), 404: e("no such tenant (or another tenant's)") },
});

export const revokeApiKeyRoute = route({
  method: 'DELETE',
  url: '/api/api-keys/:keyId',
  operationId: 'revokeApiKey',
  tag: 'keys',
  summary: 'Revoke a tenant key: refused everywhere within a second, and its dashboard sessions end',
  description: 'The admin key revokes any key, a tenant key its own tenant\'s keys (itself included). Revoking a revoked key changes nothing.',
  auth: 'tenant',
  resource: 'api key',
  params: keyParams,
  responses: { 200: { description: 'the revoked key', schema: apiKeyInfoShape }, 401: e('no key'), 404: e("no such key (or another tenant's)") },
});

/** Every key route, for the OpenAPI document. */
export const apiKeyRouteSpecs = [listApiKeysRoute, createApiKeyRoute, revokeApiKeyRoute];

/** Tenant keys: list, create, revoke (docs/api.md, docs/security.md). */
export async function apiKeyRoutes(app: FastifyInstance, { apiKeys, auth, audit }: { apiKeys: ApiKeys; auth: Authenticator; audit: AuditLog }): Promise<void> {
  // Another tenant's id answers 404 before anything else is looked at (a key learns nothing of what it cannot reach).
  const tenantScoped = async (req: FastifyRequest): Promise<Principal> => {
    const p = await auth.principal(req);
    const { tenantId } = req.params as { tenantId: string };
    if (!isRowId(tenantId)) throw notFound('tenant');
    requireTenant(p, tenantId);
    return p;
  };

  handle(app, listApiKeysRoute, tenantScoped, async (_p, { params }) => ({ items: await apiKeys.list(params.tenantId) }));
  handle(app, createApiKeyRoute, tenantScoped, async (p, { params, reply }) => {
    const created = await apiKeys.create(params.tenantId);
    await audit.record(actorOf(p), { tenantId: params.tenantId, action: 'api_key.created', targetType: 'api_key', targetId: created.id });
    reply.code(201);
    return created;
  });
  handle(app, revokeApiKeyRoute, (req) => auth.principal(req), async (p, { params }) => {
    const revoked = await apiKeys.revoke(params.keyId, p.kind === 'admin' ? null : p.tenantId);
    // This process forgets it now; the others when the notification arrives.
    auth.forget(`key:${revoked.id}`);
    await audit.record(actorOf(p), { tenantId: revoked.tenantId, action: 'api_key.revoked', targetType: 'api_key', targetId: revoked.id });
    return revoked;
  });
}
