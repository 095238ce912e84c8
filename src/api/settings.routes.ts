import type { FastifyInstance } from 'fastify';
import type { Provisioning } from '../tenancy/provision.ts';
import { tenantPatchInput } from '../tenancy/provision.ts';
import type { AuditLog } from '../tenancy/auditLog.ts';
import { actorOf, settingsChange } from './actor.ts';
import type { Authenticator } from './auth.ts';
import { handle, route } from './routeSpec.ts';
import { errorBody, tenantScopeQuery, tenantShape } from './schemas.ts';
import { oneTenant } from './scope.ts';

export const getSettingsRoute = route({
  method: 'GET',
  url: '/api/settings',
  operationId: 'getSettings',
  tag: 'tenant',
  summary: "The caller's tenant: name, monthly limit, limits and agent configuration",
  description: 'The same as GET /api/tenants/{tenantId} for the key\'s own tenant. Secrets are never shown, only whether they are set.',
  auth: 'tenant',
  query: tenantScopeQuery,
  responses: {
    200: { description: 'the tenant', schema: tenantShape },
    400: { description: 'the admin key without tenantId', schema: errorBody },
    401: { description: 'no key, or an unknown one', schema: errorBody },
    404: { description: "another tenant's tenantId", schema: errorBody },
  },
});

export const patchSettingsRoute = route({
  method: 'PATCH',
  url: '/api/settings',
  operationId: 'updateSettings',
  tag: 'tenant',
  summary: "Change the caller's tenant: agent configuration (provider, model, system prompt, coalescing, debounce, handoff keywords, resume timer …)",
  description:
    "The same as PATCH /api/tenants/{tenantId} for the key's own tenant. Agent fields not given keep their value; null clears the nullable ones. " +
    'name, monthlyMessageLimit and limits are the admin\'s: a tenant key moving one gets 403 and nothing changes. ' +
    "historyLength and systemPrompt must fit limits; on the operator's model key, model must be in limits.effectiveAllowedModels (400 model_not_allowed).",
  auth: 'tenant',
  query: tenantScopeQuery,
  body: tenantPatchInput,
  responses: {
    200: { description: 'the tenant after the change', schema: tenantShape },
    400: { description: 'invalid input, a value over a ceiling of limits, or model_not_allowed', schema: errorBody },
    401: { description: 'no key, or an unknown one', schema: errorBody },
    403: { description: 'a tenant key changing name, monthlyMessageLimit or limits (the message names them)', schema: errorBody },
    404: { description: "another tenant's tenantId", schema: errorBody },
  },
});

/** The tenant's own settings, for the dashboard's settings page. */
export async function settingsRoutes(app: FastifyInstance, { provisioning, auth, audit }: { provisioning: Provisioning; auth: Authenticator; audit: AuditLog }): Promise<void> {
  const principal = (req: Parameters<Authenticator['principal']>[0]) => auth.principal(req);
  handle(app, getSettingsRoute, principal, async (p, { query }) => provisioning.getTenant(oneTenant(p, query.tenantId)));
  handle(app, patchSettingsRoute, principal, async (p, { query, body }) => {
    const t = await provisioning.updateTenant(oneTenant(p, query.tenantId), body, p.kind);
    await audit.record(actorOf(p), settingsChange(t.id, body));
    return t;
  });
}
