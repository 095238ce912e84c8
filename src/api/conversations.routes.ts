import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/db.ts';
import type { Takeover } from '../conversation/takeover.ts';
import type { AuditLog } from '../tenancy/auditLog.ts';
import { actorOf } from './actor.ts';
import { AppError, notFound } from '../shared/errors.ts';
import type { Authenticator } from './auth.ts';
import { CONVERSATION_BY_ID, CONVERSATION_PAGE, MARK_READ } from './conversations.sql.ts';
import { conversationCursor, decodeCursor, encodeCursor } from './cursor.ts';
import { handle, route } from './routeSpec.ts';
import { conversationListQuery, conversationParams, conversationShape, errorBody, conversationPage, pauseBody, tenantScopeQuery } from './schemas.ts';
import { caller, scopeTenant } from './scope.ts';
import { conversationView, type ConversationRow } from './views.ts';

const errors = {
  400: { description: 'invalid input', schema: errorBody },
  401: { description: 'no key, or an unknown one', schema: errorBody },
  404: { description: "no such conversation (or another tenant's)", schema: errorBody },
};

export const listConversationsRoute = route({
  method: 'GET',
  url: '/api/conversations',
  operationId: 'listConversations',
  tag: 'conversations',
  summary: 'List conversations, newest activity first',
  description:
    'Each with its last message, paused flag and unread count. Paginated by cursor: a walk through the pages neither skips nor repeats a ' +
    'conversation while messages arrive (it keeps the order of its first page; newer conversations appear on a new first page).',
  auth: 'tenant',
  query: conversationListQuery,
  responses: { 200: { description: 'a page', schema: conversationPage }, 400: errors[400], 401: errors[401], 404: { description: "another tenant's tenantId", schema: errorBody } },
});

export const getConversationRoute = route({
  method: 'GET',
  url: '/api/conversations/:id',
  operationId: 'getConversation',
  tag: 'conversations',
  summary: 'One conversation',
  auth: 'tenant',
  resource: 'conversation',
  params: conversationParams,
  query: tenantScopeQuery,
  responses: { 200: { description: 'the conversation', schema: conversationShape }, 401: errors[401], 404: errors[404] },
});

export const pauseRoute = route({
  method: 'POST',
  url: '/api/conversations/:id/pause',
  operationId: 'pauseConversation',
  tag: 'conversations',
  summary: 'Pause the bot for a conversation',
  description:
    "Optional body {\"minutes\"}: a resume timer for this pause (default: the tenant's resumeAfterMinutes; none: paused until resumed). " +
    'A reply the agent is still writing is not sent.',
  auth: 'tenant',
  resource: 'conversation',
  params: conversationParams,
  body: pauseBody,
  bodyOptional: true,
  responses: { 200: { description: 'the conversation, paused', schema: conversationShape }, ...errors },
});

export const resumeRoute = route({
  method: 'POST',
  url: '/api/conversations/:id/resume',
  operationId: 'resumeConversation',
  tag: 'conversations',
  summary: 'Resume the bot',
  description: 'No body. Messages that arrived while paused keep their `paused` disposition: the next customer message starts a turn.',
  auth: 'tenant',
  resource: 'conversation',
  params: conversationParams,
  responses: { 200: { description: 'the conversation, resumed', schema: conversationShape }, ...errors },
});

export const markReadRoute = route({
  method: 'POST',
  url: '/api/conversations/:id/read',
  operationId: 'markConversationRead',
  tag: 'conversations',
  summary: 'Mark a conversation read by an operator',
  description: 'Its unread count starts again from 0. The dashboard calls it when an operator opens the conversation.',
  auth: 'tenant',
  resource: 'conversation',
  params: conversationParams,
  responses: { 204: { description: 'marked' }, 401: errors[401], 404: errors[404] },
});

/** The conversation routes (docs/api.md). */
export async function conversationRoutes(app: FastifyInstance, { db, takeover, auth, audit }: { db: Db; takeover: Takeover; auth: Authenticator; audit: AuditLog }): Promise<void> {
  const principal = (req: Parameters<Authenticator['principal']>[0]) => auth.principal(req);

  handle(app, listConversationsRoute, principal, async (p, { query }) => {
    const tenantId = scopeTenant(p, query.tenantId);
    const cur = query.cursor === undefined ? null : decodeCursor(conversationCursor, query.cursor);
    let rows: (ConversationRow & { sort_key: string; snapshot: string; horizon: string })[];
    try {
      rows = await db.query(CONVERSATION_PAGE, [
        tenantId,
        cur?.s ?? null,
        cur?.h ?? null,
        cur?.k ?? null,
        cur?.i ?? null,
        query.limit + 1,
        query.paused ?? null,
        query.disposition ?? null,
        query.unanswered ?? null,
      ]);
    } catch (err) {
      // A cursor that parses but names an impossible snapshot or time: PostgreSQL's data exceptions (class 22).
      if (cur && typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('22')) {
        throw new AppError(400, 'invalid_request', 'cursor: not a cursor this API returned');
      }
      throw err;
    }
    const more = rows.length > query.limit;
    const page = more ? rows.slice(0, query.limit) : rows;
    const last = page[page.length - 1];
    return {
      items: page.map(conversationView),
      nextCursor: more ? encodeCursor({ k: last.sort_key, i: last.id, s: cur?.s ?? last.snapshot, h: cur?.h ?? last.horizon }) : null,
    };
  });

  handle(app, getConversationRoute, principal, async (p, { params, query }) => getConversation(db, params.id, scopeTenant(p, query.tenantId)));

  handle(app, pauseRoute, principal, async (p, { params, body, req }) => {
    const tenantId = scopeTenant(p, undefined);
    await takeover.pause(params.id, tenantId, { minutes: body.minutes ?? null, by: 'operator' });
    const c = await getConversation(db, params.id, tenantId);
    await audit.record(actorOf(p), { tenantId: c.tenantId, action: 'conversation.paused', targetType: 'conversation', targetId: c.id, detail: { minutes: body.minutes ?? null } });
    req.log.info({ conversationId: params.id, tenantId: c.tenantId, minutes: body.minutes ?? null, by: caller(p) }, 'conversation paused');
    return c;
  });

  handle(app, resumeRoute, principal, async (p, { params, req }) => {
    const tenantId = scopeTenant(p, undefined);
    await takeover.resume(params.id, tenantId);
    const c = await getConversation(db, params.id, tenantId);
    await audit.record(actorOf(p), { tenantId: c.tenantId, action: 'conversation.resumed', targetType: 'conversation', targetId: c.id });
    req.log.info({ conversationId: params.id, tenantId: c.tenantId, by: caller(p) }, 'conversation resumed');
    return c;
  });

  handle(app, markReadRoute, principal, async (p, { params, reply }) => {
    const rows = await db.query(MARK_READ, [params.id, scopeTenant(p, undefined)]);
    if (rows.length === 0) throw notFound('conversation');
    return reply.code(204).send();
  });
}

/** One conversation in the API's shape, if `tenantId` (null: any) may see it. */
export async function getConversation(db: Db, id: string, tenantId: string | null) {
  const [row] = await db.query<ConversationRow>(CONVERSATION_BY_ID, [id, tenantId]);
  if (!row) throw notFound('conversation');
  return conversationView(row);
}
