import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Authenticator } from '../api/auth.ts';
import type { EventHub } from '../api/eventHub.ts';
import { RateLimited } from '../api/failureLimiter.ts';
import { refuseMalformedText } from '../api/inputGuard.ts';
import { operatorApiRoutes } from '../api/plugin.ts';
import type { Sessions } from '../api/sessions.ts';
import { API_HEADERS, addSecurityHeaders, isApiPath } from '../api/securityHeaders.ts';
import type { Config } from '../config/config.ts';
import type { RichSender } from '../conversation/richSend.ts';
import type { MediaStore } from '../shared/mediaStore.ts';
import type { Takeover } from '../conversation/takeover.ts';
import type { TemplateSync } from '../outbound/templateSync.ts';
import { dashboardRoutes } from '../dashboard/plugin.ts';
import { isOutOfResources, isUnavailable, type Db } from '../db/db.ts';
import type { EventSubscriptions } from '../events/subscriptions.ts';
import type { IngestQueue } from '../ingest/queue.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { metricsRoutes } from '../metrics/routes.ts';
import type { CloudApiSimulator } from '../sandbox/cloudApiSimulator.ts';
import { sandboxRoutes } from '../sandbox/routes.ts';
import { demoToolRoutes } from '../sandbox/demoTool.ts';
import type { ToolAdmin } from '../tenancy/tools.ts';
import type { Bus } from '../shared/bus.ts';
import { AppError } from '../shared/errors.ts';
import type { ApiKeys } from '../tenancy/apiKeys.ts';
import type { AuditLog } from '../tenancy/auditLog.ts';
import type { ChannelAdmin } from '../tenancy/channelAdmin.ts';
import type { TenantLifecycle } from '../tenancy/tenantLifecycle.ts';
import type { ChannelDirectory } from '../tenancy/channels.ts';
import type { Provisioning } from '../tenancy/provision.ts';
import { ByteBudget } from '../webhook/body.ts';
import { webhookRoutes } from '../webhook/routes.ts';
import { hostGuard } from './hostGuard.ts';
import { capConnections, serverTimeouts } from './limits.ts';
import { requestId, requestLog } from './requestLog.ts';

/** Whether the gateway takes webhooks (false once shutdown began) and has finished starting. */
export interface Lifecycle {
  accepting: boolean;
  ready: boolean;
}

/** What the HTTP server's route sets use, built by startGateway. */
export interface ServerDeps {
  config: Config;
  log: Logger;
  db: Db;
  bus: Bus;
  lifecycle: Lifecycle;
  channels: ChannelDirectory;
  provisioning: Provisioning;
  /** Resolves bearer keys and session cookies. */
  auth: Authenticator;
  apiKeys: ApiKeys;
  sessions: Sessions;
  audit: AuditLog;
  tenantLifecycle: TenantLifecycle;
  channelAdmin: ChannelAdmin;
  /** A tenant deletion or channel removal was asked for. */
  onRemoval: () => void;
  ingest: IngestQueue;
  takeover: Takeover;
  rich: RichSender;
  templateSync: TemplateSync | null;
  hub: EventHub;
  metrics: Metrics;
  /** The Cloud API simulator whose phone page /sandbox serves; null outside the sandbox. */
  simulator: CloudApiSimulator | null;
  /** Tenant tools (docs/tools.md). */
  tools: ToolAdmin;
  /** The sandbox demo tool's signing secret; null outside the sandbox. */
  demoToolSecret: string | null;
  /** Event webhooks: the subscriptions, and the delivery worker's wake-up. */
  eventSubscriptions: EventSubscriptions;
  wakeEventDelivery: () => void;
  /** Where inbound media files are kept. */
  mediaStore: MediaStore;
}

/**
 * Builds the HTTP server with every route set: health, webhooks,
 * provisioning, the operator API, metrics, the dashboard, and in sandbox
 * mode the phone page. Does not listen.
 */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { config, db, lifecycle } = deps;
  const app = Fastify({
    loggerInstance: deps.log as unknown as FastifyBaseLogger,
    // Fastify's own request lines log the URL with its query string; requestLog writes one line without it.
    logController: new LogController({ disableRequestLogging: true }),
    // The caller's X-Request-Id when it looks like one (requestLog.ts), else a new UUID.
    requestIdHeader: false,
    genReqId: requestId,
    bodyLimit: 1024 * 1024,
    // Request, headers and keep-alive timeouts (docs/security.md, "Limits on one client").
    ...serverTimeouts(config.http),
    // Whose X-Forwarded-For gives req.ip (rate limits) and X-Forwarded-Host the host checked against the allow-list.
    trustProxy: config.http.trustProxy as boolean | string[],
    return503OnClosing: true,
    // A path the router cannot take (a malformed percent-escape, a segment over 100 characters) is
    // refused before any route or hook runs: answer it in the API's shape and with its headers all the same.
    frameworkErrors: answerFrameworkError,
  });
  capConnections(app.server, config.http.maxConnections);
  const { auth } = deps;

  // Before anything can refuse the request: every answer carries its id, and every request leaves an access line.
  requestLog(app);
  // First of all: a Host outside the allow-list is answered 421 before anything else runs.
  hostGuard(app, config.http.allowedHosts, deps.log);
  // On the root, so every /api answer carries them: provisioning, 404s, and errors of any route set.
  addSecurityHeaders(app, API_HEADERS, isApiPath);

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof RateLimited) reply.header('retry-after', String(err.retryAfterSeconds));
    if (err instanceof AppError) return reply.code(err.status).send({ error: { code: err.code, message: err.message } });
    if (isUnavailable(err) || isOutOfResources(err)) return reply.code(503).send({ error: { code: 'unavailable', message: 'database unavailable, try again' } });
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      const code = e.statusCode === 413 ? 'payload_too_large' : e.statusCode === 415 ? 'unsupported_media_type' : 'invalid_request';
      return reply.code(e.statusCode).send({ error: { code, message: e.message ?? 'invalid request' } });
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send({ error: { code: 'internal', message: 'internal error' } });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: { code: 'not_found', message: 'no such route' } }));

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    if (!lifecycle.ready || !lifecycle.accepting) return reply.code(503).send({ ok: false });
    try {
      await db.query({ name: 'readyz', text: 'SELECT 1' });
      return { ok: true };
    } catch {
      return reply.code(503).send({ ok: false });
    }
  });

  await app.register(async (scope) =>
    webhookRoutes(scope, {
      appSecret: config.whatsappAppSecret,
      verifyToken: config.whatsappVerifyToken,
      channels: deps.channels,
      ingest: deps.ingest,
      bus: deps.bus,
      budget: new ByteBudget(config.http.webhookInflightBytes, (bytes) => deps.bus.emit('webhook.body_bytes', { bytes })),
      accepting: () => lifecycle.accepting,
      onTemplateEvents: deps.templateSync ? (events, channelId) => deps.templateSync!.onEvents(events, channelId) : undefined,
    }),
  );
  // Every route set but the webhook's (which reads raw bytes and checks them itself):
  // NUL characters, lone surrogates and deep nesting in a path, query or body are a 400 before any handler runs.
  await app.register(async (checked) => {
    refuseMalformedText(checked);
    await checked.register(async (scope) => metricsRoutes(scope, { metrics: deps.metrics, auth, metricsKey: config.metrics.key }));
    await checked.register(async (scope) => operatorApiRoutes(scope, { db, provisioning: deps.provisioning, takeover: deps.takeover, rich: deps.rich, templateSync: deps.templateSync, hub: deps.hub, auth, apiKeys: deps.apiKeys, sessions: deps.sessions, audit: deps.audit, lifecycle: deps.tenantLifecycle, channelAdmin: deps.channelAdmin, tools: deps.tools, onRemoval: deps.onRemoval, performance: () => deps.metrics.performance(), eventSubscriptions: deps.eventSubscriptions, wakeEventDelivery: deps.wakeEventDelivery, mediaStore: deps.mediaStore }));
    await checked.register(async (scope) => dashboardRoutes(scope));
    const simulator = deps.simulator;
    if (simulator) await checked.register(async (scope) => sandboxRoutes(scope, { db, simulator, appSecret: config.whatsappAppSecret }));
    const demoSecret = deps.demoToolSecret;
    if (demoSecret) await checked.register(async (scope) => demoToolRoutes(scope, { secret: demoSecret }));
  });
  return app as unknown as FastifyInstance;
}

/** Fastify's own refusals of a path it cannot route, answered like every other error. */
function answerFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isApiPath(req.url)) reply.headers(API_HEADERS);
  if (err.statusCode === 414) return reply.code(414).send({ error: { code: 'uri_too_long', message: 'a path segment is longer than 100 characters' } });
  if (err.statusCode === 400) return reply.code(400).send({ error: { code: 'invalid_request', message: 'the path is not a valid URL (a malformed percent-escape?)' } });
  req.log.error({ err }, 'unhandled error');
  return reply.code(500).send({ error: { code: 'internal', message: 'internal error' } });
}
