import { z } from 'zod';
import { ALL_EVENTS, EVENT_TYPES } from '../events/eventTypes.ts';
import { listOf, namedSchemas } from './schemas.ts';

const eventName = z.enum([...EVENT_TYPES, ALL_EVENTS]).describe(`an event type, or "${ALL_EVENTS}" for all`);
const url = z.string().min(1).max(2048).describe('https (http only to a destination the operator allows); checked by the egress policy when saved and at every connection');
const secret = z.string().min(16).max(256).describe('signs every delivery (X-Wagate-Signature); stored encrypted, never shown again');

export const createEventSubscriptionBody = z.strictObject({
  url,
  secret,
  events: z.array(eventName).min(1).max(EVENT_TYPES.length + 1),
});

export const updateEventSubscriptionBody = z.strictObject({
  url: url.optional(),
  secret: secret.optional(),
  events: z.array(eventName).min(1).max(EVENT_TYPES.length + 1).optional(),
  paused: z.boolean().optional().describe('true: pause (no new deliveries, none sent); false: resume, and forget the failures'),
});

const when = z.string().describe('ISO 8601');

export const eventSubscriptionShape = z.object({
  id: z.string(),
  tenantId: z.string(),
  url: z.string(),
  events: z.array(z.string()),
  paused: z.boolean(),
  pausedAt: when.nullable(),
  pauseReason: z.string().nullable().describe('"paused by the tenant", or why the gateway paused it (its endpoint kept failing)'),
  failingSince: when.nullable().describe('since when every attempt failed; null after a success'),
  consecutiveFailures: z.number().int(),
  createdAt: when,
  updatedAt: when,
});

export const eventDeliveryShape = z.object({
  id: z.string(),
  subscriptionId: z.string(),
  eventId: z.string().describe('the id the receiver sees; a redelivery carries the same'),
  type: z.string(),
  conversationId: z.string().nullable(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  nextAt: when.nullable().describe('when a pending delivery is tried next'),
  lastStatus: z.number().int().nullable().describe("the receiver's last HTTP status; null: no answer"),
  lastError: z.string().nullable(),
  log: z.array(z.object({ at: when, status: z.number().int().nullable(), ms: z.number().int(), error: z.string().nullable() })).describe('the latest attempts, oldest first'),
  createdAt: when,
  finishedAt: when.nullable(),
});

export const eventSubscriptionList = z.object({ items: z.array(eventSubscriptionShape) });
export const eventDeliveryPage = listOf(eventDeliveryShape);

for (const [id, schema] of [
  ['EventSubscription', eventSubscriptionShape],
  ['EventSubscriptionList', eventSubscriptionList],
  ['CreateEventSubscriptionRequest', createEventSubscriptionBody],
  ['UpdateEventSubscriptionRequest', updateEventSubscriptionBody],
  ['EventDelivery', eventDeliveryShape],
  ['EventDeliveryPage', eventDeliveryPage],
] as [string, z.ZodType][]) {
  namedSchemas.add(schema, { id });
}
