import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { getConversationRoute, listConversationsRoute, markReadRoute, pauseRoute, resumeRoute } from './conversations.routes.ts';
import { apiKeyRouteSpecs } from './apiKeys.routes.ts';
import { auditRoute } from './audit.routes.ts';
import { channelRouteSpecs } from './channels.routes.ts';
import { templateRouteSpecs } from './templates.routes.ts';
import { eraseContactRoute } from './contacts.routes.ts';
import { getMediaRoute } from './media.routes.ts';
import { docsAssetRoute, docsPageRoute } from './docs.routes.ts';
import { eventsRoute } from './events.routes.ts';
import { eventSubscriptionRouteSpecs } from './eventSubscriptions.routes.ts';
import { externalRoutes } from './externalRoutes.ts';
import { listMessagesRoute, sendMessageRoute } from './messages.routes.ts';
import { performanceRoute } from './performance.routes.ts';
import { route, type RouteSpec } from './routeSpec.ts';
import { namedSchemas, queryParamSchemas } from './schemas.ts';
import { getSettingsRoute, patchSettingsRoute } from './settings.routes.ts';
import { tenantLifecycleRouteSpecs } from './tenantLifecycle.routes.ts';
import { tenantRouteSpecs } from './tenants.routes.ts';
import { toolRouteSpecs } from './tools.routes.ts';
import { sessionRoute, signInRoute, signOutRoute } from './session.routes.ts';
import { usageRoute } from './usage.routes.ts';

export const openApiRoute = route({
  method: 'GET',
  url: '/api/openapi.json',
  operationId: 'getOpenApiDocument',
  tag: 'meta',
  summary: 'This document',
  auth: 'none',
  responses: { 200: { description: 'OpenAPI 3.1', schema: z.looseObject({ openapi: z.literal('3.1.0'), paths: z.record(z.string(), z.unknown()) }) } },
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
  docsPageRoute,
  docsAssetRoute,
  ...tenantRouteSpecs,
  ...apiKeyRouteSpecs,
  ...tenantLifecycleRouteSpecs,
  ...channelRouteSpecs,
  ...toolRouteSpecs,
  ...templateRouteSpecs,
  eraseContactRoute,
  getMediaRoute,
  auditRoute,
  ...eventSubscriptionRouteSpecs,
  ...externalRoutes,
];

type JsonSchema = Record<string, unknown>;

/**
 * Turns zod schemas into JSON Schema for the document. Shapes named in
 * `namedSchemas` become `$ref`s to `components.schemas`, collected in
 * `components`; query parameters parsed from strings into numbers or
 * booleans are typed `integer` (with their bounds) or `boolean`.
 */
class SchemaWriter {
  readonly components: Record<string, JsonSchema> = {};

  write(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
    const out = z.toJSONSchema(schema, {
      io,
      unrepresentable: 'any',
      metadata: namedSchemas,
      override: (ctx) => {
        const typed = queryParamSchemas.get(ctx.zodSchema as unknown as z.ZodType);
        if (!typed) return;
        const description = (ctx.jsonSchema as JsonSchema).description;
        for (const k of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as JsonSchema)[k];
        Object.assign(ctx.jsonSchema, typed, description ? { description } : {});
      },
    }) as JsonSchema;
    // zod puts named shapes in $defs and points at them there; the document keeps them once, in components.
    const { $schema: _schema, $defs, ...rest } = JSON.parse(JSON.stringify(out).replaceAll('"#/$defs/', '"#/components/schemas/')) as JsonSchema & {
      $defs?: Record<string, JsonSchema>;
    };
    for (const [id, def] of Object.entries($defs ?? {})) this.components[id] ??= def;
    // The schema itself named: a $ref, its body in components.
    const id = namedSchemas.get(schema)?.id;
    if (id) {
      const { id: _id, ...body } = rest;
      this.components[id] ??= body;
      return { $ref: `#/components/schemas/${id}` };
    }
    return rest;
  }

  /** The properties of an object schema, each as a parameter `in` path or query. */
  parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
    if (!schema) return [];
    const js = this.write(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
    const required = new Set(js.required ?? []);
    const shape = (schema as { shape?: Record<string, z.ZodType> }).shape ?? {};
    return Object.entries(js.properties ?? {}).map(([name, s]) => {
      const { description: own, ...rest } = s;
      // A retyped parameter (queryParamSchemas) loses the description its wrapper carried: read it from the schema.
      const description = own ?? shape[name]?.description;
      return { name, in: where, required: where === 'path' || required.has(name), ...(description ? { description } : {}), schema: rest };
    });
  }
}

const SECURITY: Record<RouteSpec['auth'], JsonSchema[]> = {
  none: [],
  tenant: [{ bearer: [] }, { session: [] }],
  admin: [{ bearer: [] }, { session: [] }],
  admin_or_own_tenant: [{ bearer: [] }],
  metrics: [{ bearer: [] }],
};

const WHO: Record<RouteSpec['auth'], string> = {
  none: 'No key needed.',
  tenant: "A tenant key (its own tenant only; another tenant's resources answer 404) or the admin key (every tenant).",
  admin: 'The admin key only.',
  admin_or_own_tenant: 'The admin key, or a tenant key for its own tenant.',
  metrics: 'The admin key, or the read-only metrics key (WAGATE_METRICS_KEY), which opens nothing else.',
};

/** The OpenAPI 3.1 document of the HTTP API, generated from the route specs. */
export function openApiDocument(): JsonSchema {
  const schemas = new SchemaWriter();
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const spec of allRoutes) {
    const path = spec.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const op: JsonSchema = {
      operationId: spec.operationId,
      tags: [spec.tag],
      summary: spec.summary,
      description: [spec.description, WHO[spec.auth]].filter(Boolean).join('\n\n'),
      security: SECURITY[spec.auth],
      parameters: [...schemas.parameters(spec.params, 'path'), ...schemas.parameters(spec.query, 'query')],
      responses: Object.fromEntries(
        Object.entries(spec.responses).map(([status, r]) => [
          status,
          r.schema
            ? { description: r.description, content: { [r.contentType ?? 'application/json']: { schema: schemas.write(r.schema, 'output') } } }
            : r.contentType
              ? { description: r.description, content: { [r.contentType]: {} } }
              : { description: r.description },
        ]),
      ),
    };
    if (spec.body) {
      op.requestBody = { required: !spec.bodyOptional, content: { 'application/json': { schema: schemas.write(spec.body, 'input') } } };
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
        '{"items":[…],"nextCursor":string|null} with ?cursor=&limit=. Errors are {"error":{"code","message"}}. ' +
        'Every answer carries X-Request-Id (the caller\'s, when given). An interactive reference is at /api/docs.',
    },
    components: {
      schemas: Object.fromEntries(Object.entries(schemas.components).sort(([a], [b]) => a.localeCompare(b))),
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
