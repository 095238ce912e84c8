import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AuditLog } from '../tenancy/auditLog.ts';
import { toolCreateInput, toolPatchInput, type ToolAdmin } from '../tenancy/tools.ts';
import { actorOf } from './actor.ts';
import type { Authenticator } from './auth.ts';
import { handle, route } from './routeSpec.ts';
import { errorBody, idString, tenantScopeQuery, toolList, toolShape } from './schemas.ts';
import { oneTenant, scopeTenant } from './scope.ts';

const e = (description: string) => ({ description, schema: errorBody });
const toolParams = z.strictObject({ id: idString });

export const listToolsRoute = route({
  method: 'GET',
  url: '/api/tools',
  operationId: 'listTools',
  tag: 'tools',
  summary: "The tenant's tools, by name (the secret never, only whether one is set)",
  auth: 'tenant',
  query: tenantScopeQuery,
  responses: { 200: { description: 'the tools', schema: toolList }, 400: e('the admin key without tenantId'), 401: e('no key'), 404: e("another tenant's tenantId") },
});

export const createToolRoute = route({
  method: 'POST',
  url: '/api/tools',
  operationId: 'createTool',
  tag: 'tools',
  summary: 'A new tool the openai agent may call (docs/tools.md)',
  description:
    'parameters must be a valid JSON Schema of an object (400 invalid_schema); url must pass the egress policy (400 egress_refused): https to a public address, ' +
    'or a destination the operator allows with WAGATE_EGRESS_ALLOW. Each call is signed with secret as the http agent signs.',
  auth: 'tenant',
  query: tenantScopeQuery,
  body: toolCreateInput,
  responses: {
    201: { description: 'created', schema: toolShape },
    400: e('invalid input, an invalid schema, a refused url, or a reserved name'),
    401: e('no key'),
    404: e("another tenant's tenantId"),
    409: e('the tenant already has a tool of that name'),
  },
});

export const getToolRoute = route({
  method: 'GET',
  url: '/api/tools/:id',
  operationId: 'getTool',
  tag: 'tools',
  summary: 'One tool',
  auth: 'tenant',
  resource: 'tool',
  params: toolParams,
  responses: { 200: { description: 'the tool', schema: toolShape }, 401: e('no key'), 404: e("no such tool (or another tenant's)") },
});

export const updateToolRoute = route({
  method: 'PATCH',
  url: '/api/tools/:id',
  operationId: 'updateTool',
  tag: 'tools',
  summary: 'Change a tool: the fields given; secret null removes it',
  description: 'Checked as on create. The change reaches the next turn of every process.',
  auth: 'tenant',
  resource: 'tool',
  params: toolParams,
  body: toolPatchInput,
  responses: {
    200: { description: 'the tool after the change', schema: toolShape },
    400: e('invalid input, an invalid schema, a refused url, or a reserved name'),
    401: e('no key'),
    404: e("no such tool (or another tenant's)"),
    409: e('the tenant already has a tool of that name'),
  },
});

export const deleteToolRoute = route({
  method: 'DELETE',
  url: '/api/tools/:id',
  operationId: 'deleteTool',
  tag: 'tools',
  summary: 'Delete a tool; the calls it made stay recorded under their answers',
  auth: 'tenant',
  resource: 'tool',
  params: toolParams,
  responses: { 200: { description: 'the deleted tool', schema: toolShape }, 401: e('no key'), 404: e("no such tool (or another tenant's)") },
});

/** Every tool route, for the OpenAPI document. */
export const toolRouteSpecs = [listToolsRoute, createToolRoute, getToolRoute, updateToolRoute, deleteToolRoute];

/** Tenant tools (docs/tools.md): a tenant key acts on its own tenant, the admin key on any (`?tenantId=` to create or list). */
export async function toolRoutes(app: FastifyInstance, { tools, auth, audit }: { tools: ToolAdmin; auth: Authenticator; audit: AuditLog }): Promise<void> {
  const principal = (req: Parameters<Authenticator['principal']>[0]) => auth.principal(req);
  // The admin sees every tenant's tool by id; a tenant key only its own (another's answers 404).
  const owner = (p: Awaited<ReturnType<typeof principal>>) => scopeTenant(p, undefined);

  handle(app, listToolsRoute, principal, async (p, { query }) => ({ items: await tools.list(oneTenant(p, query.tenantId)) }));
  handle(app, createToolRoute, principal, async (p, { query, body, reply }) => {
    const tool = await tools.create(oneTenant(p, query.tenantId), body);
    await audit.record(actorOf(p), { tenantId: tool.tenantId, action: 'tool.created', targetType: 'tool', targetId: tool.id, detail: { name: tool.name } });
    reply.code(201);
    return tool;
  });
  handle(app, getToolRoute, principal, async (p, { params }) => tools.get(params.id, owner(p)));
  handle(app, updateToolRoute, principal, async (p, { params, body }) => {
    const tool = await tools.update(params.id, owner(p), body);
    await audit.record(actorOf(p), { tenantId: tool.tenantId, action: 'tool.changed', targetType: 'tool', targetId: tool.id, detail: { fields: Object.keys(body) } });
    return tool;
  });
  handle(app, deleteToolRoute, principal, async (p, { params }) => {
    const tool = await tools.remove(params.id, owner(p));
    await audit.record(actorOf(p), { tenantId: tool.tenantId, action: 'tool.deleted', targetType: 'tool', targetId: tool.id, detail: { name: tool.name } });
    return tool;
  });
}
