import { z } from 'zod';
import { route, type RouteSpec } from './routeSpec.ts';
import { errorBody, idString, performanceShape } from './schemas.ts';

/**
 * Routes that other modules serve (webhooks, health, metrics, the dashboard's pages),
 * described for the OpenAPI document from the same schemas their handlers
 * parse with. The OpenAPI test checks that every /api route the server has
 * is described, so a new route cannot go undocumented.
 */

const e = (description: string) => ({ description, schema: errorBody });
const text = z.string();
const file = z.string().meta({ format: 'binary' });
const stored = z.object({ ok: z.literal(true) });

export const externalRoutes: RouteSpec[] = [
  route({
    method: 'GET',
    url: '/',
    operationId: 'getDashboard',
    tag: 'dashboard',
    summary: 'The dashboard (sign in with a key)',
    auth: 'none',
    responses: { 200: { description: 'the page', contentType: 'text/html', schema: text } },
  }),
  route({
    method: 'GET',
    url: '/assets/:name',
    operationId: 'getDashboardAsset',
    tag: 'dashboard',
    summary: "The pages' scripts and styles (names carry a content hash)",
    auth: 'none',
    params: z.strictObject({ name: z.string() }),
    responses: { 200: { description: 'the file', contentType: 'application/octet-stream', schema: file }, 404: e('no such file') },
  }),
  route({
    method: 'GET',
    url: '/healthz',
    operationId: 'getHealth',
    tag: 'health',
    summary: 'The process is up',
    auth: 'none',
    responses: { 200: { description: 'up', schema: z.object({ ok: z.boolean() }) } },
  }),
  route({
    method: 'GET',
    url: '/readyz',
    operationId: 'getReadiness',
    tag: 'health',
    summary: 'The database is reachable and migrated',
    auth: 'none',
    responses: { 200: { description: 'ready', schema: z.object({ ok: z.boolean() }) }, 503: { description: 'not ready', schema: z.object({ ok: z.boolean() }) } },
  }),
  route({
    method: 'GET',
    url: '/metrics',
    operationId: 'getMetrics',
    tag: 'metrics',
    summary: 'Prometheus metrics',
    auth: 'metrics',
    responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain', schema: text }, 401: e('no key'), 403: e('a tenant key') },
  }),
  route({
    method: 'GET',
    url: '/performance-metrics',
    operationId: 'getPerformanceMetrics',
    tag: 'metrics',
    summary: 'Performance metrics as JSON: p50/p95/p99 over the last 5 minutes and since start',
    auth: 'metrics',
    responses: { 200: { description: 'the metrics', schema: performanceShape }, 401: e('no key'), 403: e('a tenant key') },
  }),
  route({
    method: 'GET',
    url: '/webhooks/whatsapp',
    operationId: 'verifyWebhook',
    tag: 'webhooks',
    summary: "Meta's subscription handshake",
    description: 'hub.mode=subscribe, hub.verify_token, hub.challenge: answers the challenge when the token matches.',
    auth: 'none',
    responses: { 200: { description: 'the challenge', contentType: 'text/plain', schema: text }, 403: e('wrong verify token') },
  }),
  route({
    method: 'POST',
    url: '/webhooks/whatsapp',
    operationId: 'receiveWebhook',
    tag: 'webhooks',
    summary: "Meta's notifications (messages, statuses), signed with X-Hub-Signature-256",
    description: 'Answers 200 only once everything in the notification is committed; 503 when the database is unreachable, so that Meta delivers it again.',
    auth: 'none',
    responses: {
      200: { description: 'stored', schema: stored },
      400: e('not a WhatsApp Business Account notification'),
      401: e('missing or wrong signature'),
      413: e('over 4 MiB'),
      503: e('database unavailable or shutting down: deliver again'),
    },
  }),
  route({
    method: 'GET',
    url: '/webhooks/whatsapp/:channelId',
    operationId: 'verifyChannelWebhook',
    tag: 'webhooks',
    summary: 'The handshake of a channel with its own Meta app',
    auth: 'none',
    params: z.strictObject({ channelId: idString }),
    responses: { 200: { description: 'the challenge', contentType: 'text/plain', schema: text }, 403: e('wrong verify token') },
  }),
  route({
    method: 'POST',
    url: '/webhooks/whatsapp/:channelId',
    operationId: 'receiveChannelWebhook',
    tag: 'webhooks',
    summary: "Notifications for a channel with its own Meta app (its own app secret)",
    auth: 'none',
    params: z.strictObject({ channelId: idString }),
    responses: { 200: { description: 'stored', schema: stored }, 401: e('missing or wrong signature'), 404: e('no such channel'), 503: e('deliver again') },
  }),
];
