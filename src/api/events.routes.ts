import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/db.ts';
import { AppError, notFound } from '../shared/errors.ts';
import type { Authenticator } from './auth.ts';
import { CONVERSATION_TENANT } from './conversations.sql.ts';
import type { EventHub } from './eventHub.ts';
import { handle, route } from './routeSpec.ts';
import { z } from 'zod';
import { errorBody, eventsQuery } from './schemas.ts';
import { scopeTenant } from './scope.ts';
import { API_HEADERS } from './securityHeaders.ts';
import type { SseStreams } from './sse.ts';

/** Live streams one tenant may hold open in one process (a dashboard tab holds one). */
export const MAX_STREAMS_PER_TENANT = 100;
/** Live streams one process holds at most. */
export const MAX_STREAMS = 5_000;
/** How often an open stream's key is checked again: a revoked key's stream ends within this (plus the key cache). */
const RECHECK_MS = 60_000;

export const eventsRoute = route({
  method: 'GET',
  url: '/api/events',
  operationId: 'streamEvents',
  tag: 'events',
  summary: 'Live updates as server-sent events',
  description:
    'Events (`event:` name, `data:` JSON, each with conversationId): `message` (a message stored or sent: messageId, direction), ' +
    '`status` (an outbound status changed: messageId, status), `disposition` (customer messages settled: disposition, count), ' +
    '`conversation` (paused or resumed: paused, pausedUntil, by). They say what changed; fetch the conversation or its messages to show it. ' +
    'A comment line every 15 s keeps the connection open. ?conversationId= narrows the stream to one conversation.',
  auth: 'tenant',
  query: eventsQuery,
  responses: {
    200: { description: 'an event stream', contentType: 'text/event-stream', schema: z.string().describe('event: <name>\\ndata: <JSON>\\n\\n, repeated') },
    401: { description: 'no key, or an unknown one', schema: errorBody },
    404: { description: "no such conversation, or another tenant's conversation or tenantId", schema: errorBody },
    429: { description: 'too many open streams', schema: errorBody },
  },
});

/** `GET /api/events` (docs/api.md): the tenant's live updates. */
export async function eventRoutes(app: FastifyInstance, { db, auth, hub, streams }: { db: Db; auth: Authenticator; hub: EventHub; streams: SseStreams }): Promise<void> {
  const perTenant = new Map<string, number>();

  handle(app, eventsRoute, (req) => auth.principal(req), async (p, { query, req, reply }) => {
    const tenantId = scopeTenant(p, query.tenantId);
    const conversationId = query.conversationId ?? null;
    if (conversationId !== null) {
      const [row] = await db.query(CONVERSATION_TENANT, [conversationId, tenantId]);
      if (!row) throw notFound('conversation');
    }
    const bucket = tenantId ?? '*';
    const open = perTenant.get(bucket) ?? 0;
    if (open >= MAX_STREAMS_PER_TENANT || streams.size >= MAX_STREAMS) throw new AppError(429, 'too_many_streams', 'too many live streams open; close some and retry');
    perTenant.set(bucket, open + 1);

    let off = () => {};
    let recheck: NodeJS.Timeout | undefined;
    const stream = streams.start(reply, API_HEADERS, () => {
      off();
      clearInterval(recheck);
      const n = (perTenant.get(bucket) ?? 1) - 1;
      if (n > 0) perTenant.set(bucket, n);
      else perTenant.delete(bucket);
    });
    off = hub.add({ tenantId, conversationId, send: (e) => stream.send(e.type, { conversationId: e.conversationId, tenantId: e.tenantId, ...e.data }) });
    if (stream.closed) off();
    recheck = setInterval(() => {
      auth.principal(req).then(
        () => {},
        () => stream.close(),
      );
    }, RECHECK_MS);
    if (stream.closed) clearInterval(recheck);
    stream.send('ready', { tenantId, conversationId });
    return reply;
  });
}
