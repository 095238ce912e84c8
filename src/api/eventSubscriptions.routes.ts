import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Delivery, EventSubscriptions, Subscription } from '../events/subscriptions.ts';
import type { AuditLog } from '../tenancy/auditLog.ts';
import { actorOf } from './actor.ts';
import type { Authenticator } from './auth.ts';
import { decodeCursor, encodeCursor, idCursor } from './cursor.ts';
import {
  createEventSubscriptionBody,
  eventDeliveryPage,
  eventDeliveryShape,
  eventSubscriptionList,
  eventSubscriptionShape,
  updateEventSubscriptionBody,
} from './eventSubscriptions.schemas.ts';
import { handle, route } from './routeSpec.ts';
import { errorBody, idString, pageLimit, tenantScopeQuery } from './schemas.ts';
import { oneTenant, scopeTenant } from './scope.ts';

const e = (description: string) => ({ description, schema: errorBody });
const params = z.strictObject({ id: idString });
const TAG = 'event webhooks';

export const listEventSubscriptionsRoute = route({
  method: 'GET',
  url: '/api/event-subscriptions',
  operationId: 'listEventSubscriptions',
  tag: TAG,
  summary: 'The event subscriptions: URLs that receive the events of the tenant, signed',
  auth: 'tenant',
  query: tenantScopeQuery,
  responses: { 200: { description: 'the subscriptions', schema: eventSubscriptionList }, 401: e('no key'), 404: e("another tenant's tenantId") },
});

export const createEventSubscriptionRoute = route({
  method: 'POST',
  url: '/api/event-subscriptions',
  operationId: 'createEventSubscription',
  tag: TAG,
  summary: 'Subscribe a URL to events (docs/events.md): every matching event is POSTed to it, signed with the secret, at least once, in order per conversation',
  description: 'The admin key names the tenant with ?tenantId=. The URL must pass the egress policy (400 egress_refused): https to a public address.',
  auth: 'tenant',
  query: tenantScopeQuery,
  body: createEventSubscriptionBody,
  responses: {
    201: { description: 'created', schema: eventSubscriptionShape },
    400: e('invalid input, an unknown event type, or a URL the egress policy refuses (egress_refused)'),
    401: e('no key'),
    404: e("another tenant's tenantId"),
  },
});

export const getEventSubscriptionRoute = route({
  method: 'GET',
  url: '/api/event-subscriptions/:id',
  operationId: 'getEventSubscription',
  tag: TAG,
  summary: 'One subscription (never its secret)',
  auth: 'tenant',
  resource: 'event subscription',
  params,
  responses: { 200: { description: 'the subscription', schema: eventSubscriptionShape }, 401: e('no key'), 404: e("no such subscription (or another tenant's)") },
});

export const updateEventSubscriptionRoute = route({
  method: 'PATCH',
  url: '/api/event-subscriptions/:id',
  operationId: 'updateEventSubscription',
  tag: TAG,
  summary: 'Change a subscription: url, secret, events; paused: true pauses it, false resumes it (also after the gateway paused it)',
  description: 'Fields left out keep their value. Deliveries that waited while it was paused go out after a resume.',
  auth: 'tenant',
  resource: 'event subscription',
  params,
  body: updateEventSubscriptionBody,
  responses: {
    200: { description: 'the subscription after the change', schema: eventSubscriptionShape },
    400: e('invalid input, or a URL the egress policy refuses (egress_refused)'),
    401: e('no key'),
    404: e("no such subscription (or another tenant's)"),
  },
});

export const deleteEventSubscriptionRoute = route({
  method: 'DELETE',
  url: '/api/event-subscriptions/:id',
  operationId: 'deleteEventSubscription',
  tag: TAG,
  summary: 'Remove a subscription and its delivery log; its pending deliveries are dropped',
  auth: 'tenant',
  resource: 'event subscription',
  params,
  responses: { 200: { description: 'the removed subscription', schema: eventSubscriptionShape }, 401: e('no key'), 404: e("no such subscription (or another tenant's)") },
});

export const listEventDeliveriesRoute = route({
  method: 'GET',
  url: '/api/event-subscriptions/:id/deliveries',
  operationId: 'listEventDeliveries',
  tag: TAG,
  summary: "A subscription's delivery log, newest first: each event's status, attempts, the receiver's HTTP status, latency and error",
  auth: 'tenant',
  resource: 'event subscription',
  params,
  query: z.strictObject({ cursor: z.string().max(200).optional(), limit: pageLimit(200, 50) }),
  responses: {
    200: { description: 'a page', schema: eventDeliveryPage },
    400: e('invalid query'),
    401: e('no key'),
    404: e("no such subscription (or another tenant's)"),
  },
});

export const redeliverEventDeliveryRoute = route({
  method: 'POST',
  url: '/api/event-deliveries/:id/redeliver',
  operationId: 'redeliverEventDelivery',
  tag: TAG,
  summary: "Deliver a delivery's event again: a new delivery of the same event (same event id), due now, after the conversation's other pending ones",
  auth: 'tenant',
  resource: 'event delivery',
  params,
  responses: { 201: { description: 'the new delivery', schema: eventDeliveryShape }, 401: e('no key'), 404: e("no such delivery (or another tenant's)") },
});

/** Every route of the event webhooks, for the OpenAPI document. */
export const eventSubscriptionRouteSpecs = [
  listEventSubscriptionsRoute,
  createEventSubscriptionRoute,
  getEventSubscriptionRoute,
  updateEventSubscriptionRoute,
  deleteEventSubscriptionRoute,
  listEventDeliveriesRoute,
  redeliverEventDeliveryRoute,
];

const iso = (t: Date | string | null): string | null => (t === null ? null : new Date(t).toISOString());

function subscriptionView(s: Subscription): z.infer<typeof eventSubscriptionShape> {
  return {
    id: s.id,
    tenantId: s.tenantId,
    url: s.url,
    events: s.events,
    paused: s.pausedAt !== null,
    pausedAt: iso(s.pausedAt),
    pauseReason: s.pauseReason,
    failingSince: iso(s.failingSince),
    consecutiveFailures: s.consecutiveFailures,
    createdAt: iso(s.createdAt)!,
    updatedAt: iso(s.updatedAt)!,
  };
}

function deliveryView(d: Delivery): z.infer<typeof eventDeliveryShape> {
  return {
    id: d.id,
    subscriptionId: d.subscriptionId,
    eventId: d.eventId,
    type: d.type,
    conversationId: d.conversationId,
    status: d.status,
    attempts: d.attempts,
    nextAt: d.status === 'pending' ? iso(d.nextAt) : null,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    log: d.log.map((a) => ({ at: iso(a.at)!, status: a.status, ms: a.ms, error: a.error })),
    createdAt: iso(d.createdAt)!,
    finishedAt: iso(d.finishedAt),
  };
}

/** Event subscriptions and their delivery log (docs/events.md); `wake` tells the delivery worker of new work. */
export async function eventSubscriptionRoutes(
  app: FastifyInstance,
  { subscriptions, auth, audit, wake }: { subscriptions: EventSubscriptions; auth: Authenticator; audit: AuditLog; wake: () => void },
): Promise<void> {
  const principal = (req: Parameters<Authenticator['principal']>[0]) => auth.principal(req);
  const own = (p: Awaited<ReturnType<Authenticator['principal']>>) => (p.kind === 'admin' ? null : p.tenantId);

  handle(app, listEventSubscriptionsRoute, principal, async (p, { query }) => ({
    items: (await subscriptions.list(scopeTenant(p, query.tenantId))).map(subscriptionView),
  }));
  handle(app, createEventSubscriptionRoute, principal, async (p, { query, body, reply }) => {
    const s = await subscriptions.create(oneTenant(p, query.tenantId), body);
    await audit.record(actorOf(p), { tenantId: s.tenantId, action: 'event_subscription.created', targetType: 'event_subscription', targetId: s.id, detail: { events: s.events } });
    wake();
    reply.code(201);
    return subscriptionView(s);
  });
  handle(app, getEventSubscriptionRoute, principal, async (p, { params }) => subscriptionView(await subscriptions.get(params.id, own(p))));
  handle(app, updateEventSubscriptionRoute, principal, async (p, { params, body }) => {
    const s = await subscriptions.update(params.id, own(p), body);
    const fields = Object.keys(body).filter((k) => k !== 'secret' || body.secret !== undefined);
    await audit.record(actorOf(p), { tenantId: s.tenantId, action: 'event_subscription.updated', targetType: 'event_subscription', targetId: s.id, detail: { fields } });
    wake();
    return subscriptionView(s);
  });
  handle(app, deleteEventSubscriptionRoute, principal, async (p, { params }) => {
    const s = await subscriptions.remove(params.id, own(p));
    await audit.record(actorOf(p), { tenantId: s.tenantId, action: 'event_subscription.deleted', targetType: 'event_subscription', targetId: s.id });
    wake();
    return subscriptionView(s);
  });
  handle(app, listEventDeliveriesRoute, principal, async (p, { params, query }) => {
    const before = query.cursor ? decodeCursor(idCursor, query.cursor).i : null;
    const rows = await subscriptions.deliveries(params.id, own(p), before, query.limit + 1);
    const items = rows.slice(0, query.limit).map(deliveryView);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > query.limit && last ? encodeCursor({ i: last.id }) : null };
  });
  handle(app, redeliverEventDeliveryRoute, principal, async (p, { params, reply }) => {
    const d = await subscriptions.redeliver(params.id, own(p));
    wake();
    reply.code(201);
    return deliveryView(d);
  });
}
