import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { getConversationRoute, listConversationsRoute, markReadRoute, pauseRoute, resumeRoute } from './conversations.routes.ts';
import { apiKeyRouteSpecs } from './apiKeys.routes.ts';
import { auditRoute } from './audit.routes.ts';
import { channelRouteSpecs } from './channels.routes.ts';
import { eraseContactRoute } from './contacts.routes.ts';
import { eventsRoute } from './events.routes.ts';
import { externalRoutes } from './externalRoutes.ts';
import { listMessagesRoute, sendMessageRoute } from './messages.routes.ts';
import { performanceRoute } from './performance.routes.ts';
import { route, type RouteSpec } from './routeSpec.ts';
import { getSettingsRoute, patchSettingsRoute } from './settings.routes.ts';
import { tenantLifecycleRouteSpecs } from './tenantLifecycle.routes.ts';
import { tenantRouteSpecs } from './tenants.routes.ts';
import { sessionRoute, signInRoute, signOutRoute } from './session.routes.ts';
import { usageRoute } from './usage.routes.ts';

export const openApiRoute = route({
  method: 'GET',
  url: '/api/openapi.json',
  tag: 'meta',
  summary: 'This document',
  auth: 'none',
  responses: { 200: { description: 'OpenAPI 3.1' } },
});

/** Every route of the HTTP server, as documented. */
export const allRoutes: RouteSpec[] = [
  listConversationsRoute,
  getConversationRoute,
  pauseRoute,
  resumeRoute,
  markReadRoute,
  listMessagesRoute,
  sendMessageRoute,
  eventsRoute,
  usageRoute,
  getSettingsRoute,
  patchSettingsRoute,
  signInRoute,
  sessionRoute,
  signOutRoute,
  performanceRoute,
  openApiRoute,
  ...tenantRouteSpecs,
  ...apiKeyRouteSpecs,
  ...tenantLifecycleRouteSpecs,
  ...channelRouteSpecs,
  eraseContactRoute,
  auditRoute,
  ...externalRoutes,
];

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

/** The properties of an object schema, each as a parameter `in` path or query. */
function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const js = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  const required = new Set(js.required ?? []);
  return Object.entries(js.properties ?? {}).map(([name, s]) => {
    const { description, ...rest } = s;
    return { name, in: where, required: where === 'path' || required.has(name), ...(description ? { description } : {}), schema: rest };
  });
}

const SECURITY: Record<RouteSpec['auth'], JsonSchema[]> = {
  none: [],
  tenant: [{ bearer: [] }, { session: [] }],
  admin: [{ bearer: [] }, { session: [] }],
  admin_or_own_tenant: [{ bearer: [] }],
};

const WHO: Record<RouteSpec['auth'], string> = {
  none: 'No key needed.',
  tenant: "A tenant key (its own tenant only; another tenant's resources answer 404) or the admin key (every tenant).",
  admin: 'The admin key only.',
  admin_or_own_tenant: 'The admin key, or a tenant key for its own tenant.',
};

/** The OpenAPI 3.1 document of the HTTP API, generated from the route specs. */
export function openApiDocument(): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const spec of allRoutes) {
    const path = spec.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const op: JsonSchema = {
      operationId: `${spec.method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      tags: [spec.tag],
      summary: spec.summary,
      description: [spec.description, WHO[spec.auth]].filter(Boolean).join('\n\n'),
      security: SECURITY[spec.auth],
      parameters: [...parameters(spec.params, 'path'), ...parameters(spec.query, 'query')],
      responses: Object.fromEntries(
        Object.entries(spec.responses).map(([status, r]) => [
          status,
          r.schema
            ? { description: r.description, content: { [r.contentType ?? 'application/json']: { schema: jsonSchema(r.schema, 'output') } } }
            : r.contentType
              ? { description: r.description, content: { [r.contentType]: {} } }
              : { description: r.description },
        ]),
      ),
    };
    if (spec.body) {
      op.requestBody = { required: !spec.bodyOptional, content: { 'application/json': { schema: jsonSchema(spec.body, 'input') } } };
    }
    (paths[path] ??= {})[spec.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'wagate',
      version: '1',
      description:
        'Multi-tenant WhatsApp AI-agent gateway: the operator API. JSON, camelCase; ids are strings; times ISO 8601; lists are ' +
        '{"items":[…],"nextCursor":string|null} with ?cursor=&limit=. Errors are {"error":{"code","message"}}.',
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'an API key (wgk_…): a tenant key or the admin key' },
        session: { type: 'apiKey', in: 'cookie', name: 'wagate_session', description: "the dashboard's session, set by POST /api/session" },
      },
    },
    paths,
  };
}

/** `GET /api/openapi.json`. */
export async function openApiRoutes(app: FastifyInstance): Promise<void> {
  let doc: string | null = null;
  app.get(openApiRoute.url, async (_req, reply) => {
    doc ??= JSON.stringify(openApiDocument());
    return reply.type('application/json; charset=utf-8').header('cache-control', 'no-cache').send(doc);
  });
}
