import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { RichSender } from '../conversation/richSend.ts';
import type { Db } from '../db/db.ts';
import type { TemplateSync } from '../outbound/templateSync.ts';
import { TEMPLATES_LIST, type TemplateRow } from '../outbound/templates.sql.ts';
import { unavailable } from '../shared/errors.ts';
import type { AuditLog } from '../tenancy/auditLog.ts';
import { actorOf } from './actor.ts';
import type { Authenticator } from './auth.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import type { EventHub } from './eventHub.ts';
import { MESSAGES_BY_IDS } from './messages.sql.ts';
import { handle, route } from './routeSpec.ts';
import { conversationParams, errorBody, idString, messageShape, namedSchemas, pageLimit, tenantIdQuery } from './schemas.ts';
import { scopeTenant } from './scope.ts';
import { messageView, type MessageRow } from './views.ts';

const e = (description: string) => ({ description, schema: errorBody });

export const templateShape = z.object({
  id: z.string(),
  channelId: z.string(),
  tenantId: z.string(),
  name: z.string(),
  language: z.string().describe('e.g. en_US'),
  category: z.string().nullable().describe('MARKETING, UTILITY or AUTHENTICATION'),
  status: z.string().describe('APPROVED, PENDING, REJECTED, PAUSED, DISABLED …: only APPROVED templates can be sent'),
  quality: z.string().nullable().describe('GREEN, YELLOW, RED or UNKNOWN'),
  parameterFormat: z.string().describe('POSITIONAL ({{1}}: parameters is an array) or NAMED ({{name}}: parameters is an object)'),
  components: z.array(z.unknown()).describe("Meta's components (HEADER, BODY, FOOTER, BUTTONS) as they came"),
  syncedAt: z.string(),
});

const templateListQuery = z.strictObject({
  channelId: idString.optional(),
  status: z.string().min(1).max(32).optional().describe('only templates with this status, e.g. APPROVED'),
  name: z.string().min(1).max(512).optional(),
  cursor: z.string().max(200).optional(),
  limit: pageLimit(500, 100),
  tenantId: tenantIdQuery,
});

const templateCursor = z.strictObject({ i: idString });

export const templateSyncBody = z.strictObject({
  channelId: idString.optional().describe('one channel (default: every channel of the tenant)'),
  tenantId: idString.optional().describe('admin key: one tenant (default: every tenant)'),
});

const channelSyncShape = z.object({
  channelId: z.string(),
  synced: z.number().int().describe('templates stored'),
  removed: z.number().int().describe('stored templates Meta no longer lists, removed'),
  error: z.object({ code: z.string(), message: z.string() }).nullable().describe('why this channel was not synced (no_waba_id, cloud_api_error)'),
});

export const templateSendBody = z.strictObject({
  name: z.string().min(1).max(512),
  language: z.string().min(1).max(32).describe('the template language, e.g. en_US'),
  parameters: z
    .union([z.array(z.string().max(1024)).max(100), z.record(z.string().regex(/^[A-Za-z0-9_]{1,64}$/), z.string().max(1024))])
    .optional()
    .describe("the body's parameters: an array for POSITIONAL templates ({{1}}, {{2}} …), an object for NAMED ones ({{first_name}})"),
  header: z
    .strictObject({
      text: z.string().min(1).max(60).optional().describe("a text header's parameter"),
      type: z.enum(['image', 'document', 'video', 'location']).optional().describe("a media header's type, or location for a location header"),
      url: z.string().max(2048).optional().describe('the media, fetched under the tenant egress policy and uploaded to WhatsApp'),
      filename: z.string().min(1).max(240).optional(),
      latitude: z.number().min(-90).max(90).optional().describe('a location header: the place'),
      longitude: z.number().min(-180).max(180).optional(),
      name: z.string().min(1).max(1000).optional().describe("a location header: the place's name"),
      address: z.string().min(1).max(1000).optional().describe("a location header: the place's address"),
    })
    .optional(),
  buttons: z
    .array(
      z.strictObject({
        index: z.number().int().min(0).max(9).describe("the button's position among the template's buttons, from 0"),
        parameters: z.array(z.string().min(1).max(2000)).min(1).max(1).describe('the URL suffix its {{1}} takes'),
      }),
    )
    .max(10)
    .optional()
    .describe('the parameters of buttons whose URL takes one (a dynamic URL suffix): each such button exactly once'),
});

const templateSendShape = z.object({
  messages: z.array(messageShape),
  windowOpen: z.boolean().describe("the customer wrote in the last 24 hours (a template goes out either way)"),
});

export const listTemplatesRoute = route({
  method: 'GET',
  url: '/api/templates',
  operationId: 'listTemplates',
  tag: 'templates',
  summary: "The tenant's message templates, as last synced from WhatsApp",
  auth: 'tenant',
  query: templateListQuery,
  responses: { 200: { description: 'a page', schema: z.object({ items: z.array(templateShape), nextCursor: z.string().nullable() }) }, 400: e('invalid query'), 401: e('no key') },
});

export const syncTemplatesRoute = route({
  method: 'POST',
  url: '/api/templates/sync',
  operationId: 'syncTemplates',
  tag: 'templates',
  summary: "Sync templates from each channel's WhatsApp Business Account (wabaId)",
  description: 'Lists every page of GET /{waba-id}/message_templates and replaces the stored templates. A channel without wabaId, or one the Cloud API refuses, reports its error.',
  auth: 'tenant',
  body: templateSyncBody,
  bodyOptional: true,
  responses: { 200: { description: 'per channel', schema: z.object({ channels: z.array(channelSyncShape) }) }, 400: e('invalid body'), 401: e('no key'), 404: e('no such channel'), 503: e('this process does not sync') },
});

export const sendTemplateRoute = route({
  method: 'POST',
  url: '/api/conversations/:id/template',
  operationId: 'sendTemplate',
  tag: 'templates',
  summary: 'Send a template, inside or outside the 24-hour window',
  description:
    "Checked against the synced template before Meta is called: unknown template 404 template_not_found; not APPROVED 409 template_not_approved; wrong count or names of parameters, or a URL button's parameter missing, unknown or given for a button that takes none, 400 template_parameters_invalid; a media header without header.url 400 template_header_media_required; a location header without header.type location and its latitude and longitude 400 template_header_location_required. Queued and sent like any message; it does not pause the bot, so the customer's answer goes to the agent.",
  auth: 'tenant',
  resource: 'conversation',
  params: conversationParams,
  body: templateSendBody,
  responses: {
    201: { description: 'queued', schema: templateSendShape },
    400: e('invalid parameters'),
    401: e('no key'),
    404: e('no such conversation, or template_not_found'),
    409: e('template_not_approved'),
    503: e('this process does not send messages'),
  },
});

/** Every template route, for the OpenAPI document. */
export const templateRouteSpecs = [listTemplatesRoute, syncTemplatesRoute, sendTemplateRoute];

namedSchemas.add(templateShape, { id: 'Template' });
namedSchemas.add(templateSendBody, { id: 'SendTemplateRequest' });

/** The template routes (docs/templates.md). */
export async function templateRoutes(
  app: FastifyInstance,
  { db, rich, sync, auth, hub, audit }: { db: Db; rich: RichSender; sync: TemplateSync | null; auth: Authenticator; hub: EventHub; audit: AuditLog },
): Promise<void> {
  const principal = (req: Parameters<Authenticator['principal']>[0]) => auth.principal(req);

  handle(app, listTemplatesRoute, principal, async (p, { query }) => {
    const after = query.cursor === undefined ? null : decodeCursor(templateCursor, query.cursor).i;
    const rows = await db.query<TemplateRow>(TEMPLATES_LIST, [scopeTenant(p, query.tenantId), query.channelId ?? null, query.status ?? null, query.name ?? null, after, query.limit + 1]);
    const more = rows.length > query.limit;
    const page = more ? rows.slice(0, query.limit) : rows;
    return { items: page.map((r) => ({ ...r, syncedAt: new Date(r.syncedAt).toISOString() })), nextCursor: more ? encodeCursor({ i: page[page.length - 1].id }) : null };
  });

  handle(app, syncTemplatesRoute, principal, async (p, { body }) => {
    if (!sync) throw unavailable('this process does not sync templates');
    const channels = await sync.sync(scopeTenant(p, body.tenantId), body.channelId ?? null);
    return { channels };
  });

  handle(app, sendTemplateRoute, principal, async (p, { params, body, req, reply }) => {
    const tenantId = scopeTenant(p, undefined);
    const sent = await rich.sendTemplate(params.id, tenantId, body);
    const [row] = await db.query<{ items: (MessageRow & { tenant_id: string })[] }>(MESSAGES_BY_IDS, [params.id, sent.messages.map((m) => m.id)]);
    for (const m of row.items) {
      hub.publish({ type: 'message', tenantId: m.tenant_id, conversationId: params.id, data: { messageId: m.id, direction: 'outbound', author: 'operator' } });
    }
    const owner = row.items[0]?.tenant_id ?? tenantId;
    await audit.record(actorOf(p), { tenantId: owner, action: 'template.sent', targetType: 'conversation', targetId: params.id, detail: { template: body.name, language: body.language, messageIds: row.items.map((m) => m.id) } });
    req.log.info({ conversationId: params.id, template: body.name, language: body.language, windowOpen: sent.windowOpen }, 'template queued');
    return reply.code(201).send({ messages: row.items.map(messageView), windowOpen: sent.windowOpen });
  });
}
