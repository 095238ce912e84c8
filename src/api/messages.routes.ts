import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/db.ts';
import type { z } from 'zod';
import type { RichSender } from '../conversation/richSend.ts';
import type { ManualSendResult, Takeover } from '../conversation/takeover.ts';
import type { AuditLog } from '../tenancy/auditLog.ts';
import { actorOf } from './actor.ts';
import { notFound } from '../shared/errors.ts';
import type { Authenticator } from './auth.ts';
import { decodeCursor, encodeCursor, messageCursor } from './cursor.ts';
import type { EventHub } from './eventHub.ts';
import { MESSAGES_ASC, MESSAGES_BY_IDS, MESSAGES_DESC } from './messages.sql.ts';
import { handle, route } from './routeSpec.ts';
import { conversationParams, errorBody, manualSendBody, manualSendShape, messageListQuery, messagePage } from './schemas.ts';
import { caller, scopeTenant } from './scope.ts';
import { messageView, type MessageRow } from './views.ts';

export const listMessagesRoute = route({
  method: 'GET',
  url: '/api/conversations/:id/messages',
  operationId: 'listMessages',
  tag: 'messages',
  summary: "A conversation's messages, oldest first",
  description:
    'Each with its status and, for customer messages, its disposition: why the bot answered or did not. `order=desc` walks from the newest. ' +
    'Paginated by cursor; messages that arrive during a walk come after the ones already listed, none skipped or repeated.',
  auth: 'tenant',
  resource: 'conversation',
  params: conversationParams,
  query: messageListQuery,
  responses: {
    200: { description: 'a page', schema: messagePage },
    400: { description: 'invalid query', schema: errorBody },
    401: { description: 'no key, or an unknown one', schema: errorBody },
    404: { description: "no such conversation (or another tenant's)", schema: errorBody },
  },
});

export const sendMessageRoute = route({
  method: 'POST',
  url: '/api/conversations/:id/messages',
  operationId: 'sendMessage',
  tag: 'messages',
  summary: 'Send a text, buttons, a list, an image or document, or a reaction by hand',
  description:
    "Queued and sent in order with the conversation's other messages (text is split past 4,096 characters). Pauses the bot when the tenant keeps " +
    'autoPauseOnOperatorReply. `buttons` or `list` make an interactive message of `text`; `media` sends an image or document (by `url`, fetched ' +
    'under the tenant egress policy, or base64 `data`) uploaded through the Cloud API, with `text` as its caption; `reaction` reacts to a message; ' +
    "`replyTo` quotes a message. WhatsApp's limits are checked first (400). More than 24 hours after the customer's last message WhatsApp allows " +
    'only templates: 409 outside_customer_service_window (POST /api/conversations/{id}/template).',
  auth: 'tenant',
  resource: 'conversation',
  params: conversationParams,
  body: manualSendBody,
  responses: {
    201: { description: 'queued', schema: manualSendShape },
    400: { description: 'invalid body', schema: errorBody },
    401: { description: 'no key, or an unknown one', schema: errorBody },
    404: { description: "no such conversation (or another tenant's)", schema: errorBody },
    409: { description: 'outside_customer_service_window', schema: errorBody },
    502: { description: 'media_upload_failed: the Cloud API refused the upload', schema: errorBody },
    503: { description: 'this process does not send messages', schema: errorBody },
  },
});

/** The message routes (docs/api.md): the conversation view and the operator's reply. */
export async function messageRoutes(
  app: FastifyInstance,
  { db, takeover, rich, auth, hub, audit }: { db: Db; takeover: Takeover; rich: RichSender; auth: Authenticator; hub: EventHub; audit: AuditLog },
): Promise<void> {
  const principal = (req: Parameters<Authenticator['principal']>[0]) => auth.principal(req);

  handle(app, listMessagesRoute, principal, async (p, { params, query }) => {
    const cur = query.cursor === undefined ? null : decodeCursor(messageCursor, query.cursor);
    const order = cur?.o ?? query.order ?? 'asc';
    const [row] = await db.query<{ found: boolean; items: MessageRow[] }>(order === 'asc' ? MESSAGES_ASC : MESSAGES_DESC, [
      params.id,
      scopeTenant(p, undefined),
      cur?.i ?? null,
      query.limit + 1,
    ]);
    if (!row.found) throw notFound('conversation');
    const more = row.items.length > query.limit;
    const page = more ? row.items.slice(0, query.limit) : row.items;
    return { items: page.map(messageView), nextCursor: more ? encodeCursor({ i: page[page.length - 1].id, o: order }) : null };
  });

  handle(app, sendMessageRoute, principal, async (p, { params, body, req, reply }) => {
    const tenantId = scopeTenant(p, undefined);
    const sent = await sendBody(takeover, rich, params.id, tenantId, body);
    const [row] = await db.query<{ items: (MessageRow & { tenant_id: string })[] }>(MESSAGES_BY_IDS, [params.id, sent.messages.map((m) => m.id)]);
    // Queued messages raise no bus event until they are sent: tell the live views now.
    for (const m of row.items) {
      hub.publish({ type: 'message', tenantId: m.tenant_id, conversationId: params.id, data: { messageId: m.id, direction: 'outbound', author: 'operator' } });
    }
    // The parts and ids only: the text stays in the conversation, not in the log.
    const owner = row.items[0]?.tenant_id ?? tenantId;
    await audit.record(actorOf(p), { tenantId: owner, action: 'message.sent_by_operator', targetType: 'conversation', targetId: params.id, detail: { messageIds: row.items.map((m) => m.id) } });
    req.log.info(
      { conversationId: params.id, tenantId: row.items[0]?.tenant_id, messageIds: row.items.map((m) => m.id), chars: body.text?.length ?? 0, paused: sent.paused, by: caller(p) },
      'operator message queued',
    );
    return reply.code(201).send({ messages: row.items.map(messageView), paused: sent.paused, pausedUntil: sent.pausedUntil });
  });
}

/** Plain text goes the text path; anything else is a rich message. */
function sendBody(takeover: Takeover, rich: RichSender, conversationId: string, tenantId: string | null, body: z.infer<typeof manualSendBody>): Promise<ManualSendResult> {
  const replyTo = body.replyTo ?? null;
  if (body.reaction) return rich.send(conversationId, tenantId, { kind: 'reaction', emoji: body.reaction.emoji, messageId: body.reaction.messageId });
  if (body.media) {
    const m = body.media;
    const source = m.url !== undefined ? { url: m.url, filename: m.filename } : { data: m.data ?? '', mimeType: m.mimeType ?? '', filename: m.filename };
    return rich.send(conversationId, tenantId, { kind: 'media', type: m.type, source, caption: body.text ?? null, replyTo });
  }
  const text = body.text ?? '';
  if (body.buttons) return rich.send(conversationId, tenantId, { kind: 'interactive', text, choice: { kind: 'buttons', buttons: body.buttons }, replyTo });
  if (body.list) return rich.send(conversationId, tenantId, { kind: 'interactive', text, choice: { kind: 'list', list: body.list }, replyTo });
  if (replyTo) return rich.send(conversationId, tenantId, { kind: 'text', text, replyTo });
  return takeover.sendManual(conversationId, tenantId, text);
}
