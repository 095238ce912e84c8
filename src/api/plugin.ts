import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance } from 'fastify';
import type { RichSender } from '../conversation/richSend.ts';
import type { Takeover } from '../conversation/takeover.ts';
import type { TemplateSync } from '../outbound/templateSync.ts';
import type { Db } from '../db/db.ts';
import type { EventSubscriptions } from '../events/subscriptions.ts';
import type { Provisioning } from '../tenancy/provision.ts';
import type { ApiKeys } from '../tenancy/apiKeys.ts';
import type { AuditLog } from '../tenancy/auditLog.ts';
import type { ChannelAdmin } from '../tenancy/channelAdmin.ts';
import type { TenantLifecycle } from '../tenancy/tenantLifecycle.ts';
import { apiKeyRoutes } from './apiKeys.routes.ts';
import { auditRoutes } from './audit.routes.ts';
import { channelRoutes } from './channels.routes.ts';
import { contactRoutes } from './contacts.routes.ts';
import { mediaRoutes } from './media.routes.ts';
import type { MediaStore } from '../shared/mediaStore.ts';
import type { Authenticator } from './auth.ts';
import { conversationRoutes } from './conversations.routes.ts';
import type { EventHub } from './eventHub.ts';
import { eventRoutes } from './events.routes.ts';
import { eventSubscriptionRoutes } from './eventSubscriptions.routes.ts';
import { FailureLimiter } from './failureLimiter.ts';
import { messageRoutes } from './messages.routes.ts';
import { templateRoutes } from './templates.routes.ts';
import { docsRoutes } from './docs.routes.ts';
import { openApiRoutes } from './openapi.ts';
import { performanceRoutes } from './performance.routes.ts';
import { sameOriginGuard } from './sameOrigin.ts';
import { sessionRoutes, SIGN_IN_MAX_FAILURES, SIGN_IN_WINDOW_MS } from './session.routes.ts';
import type { Sessions } from './sessions.ts';
import { settingsRoutes } from './settings.routes.ts';
import { SseStreams } from './sse.ts';
import { tenantLifecycleRoutes } from './tenantLifecycle.routes.ts';
import { tenantRoutes } from './tenants.routes.ts';
import { toolRoutes } from './tools.routes.ts';
import type { ToolAdmin } from '../tenancy/tools.ts';
import { usageRoutes } from './usage.routes.ts';

/** What the operator API uses. */
export interface OperatorApiDeps {
  db: Db;
  provisioning: Provisioning;
  takeover: Takeover;
  /** The operator's messages other than plain text, and templates. */
  rich: RichSender;
  /** Template sync; null in a process without a Cloud API client. */
  templateSync: TemplateSync | null;
  hub: EventHub;
  auth: Authenticator;
  apiKeys: ApiKeys;
  sessions: Sessions;
  audit: AuditLog;
  lifecycle: TenantLifecycle;
  channelAdmin: ChannelAdmin;
  /** Tenant tools (docs/tools.md). */
  tools: ToolAdmin;
  /** Told when a tenant deletion or channel removal was asked for: housekeeping starts on it now. */
  onRemoval: () => void;
  /** The body of /api/performance (the admin dashboard's charts). */
  performance: () => object;
  /** Event webhooks: the subscriptions, and the delivery worker's wake-up (a resume, a redelivery). */
  eventSubscriptions: EventSubscriptions;
  wakeEventDelivery: () => void;
  /** Where inbound media files are kept (GET /api/media/:id). */
  mediaStore: MediaStore;
}

/**
 * The operator API (docs/api.md): provisioning, conversations,
 * messages, pause/resume, manual sends, usage, settings, tenant keys, the
 * tenant life cycle, channels, contact erasure, the audit log, live events,
 * event subscriptions and their delivery log, the dashboard session and the
 * OpenAPI document.
 */
export async function operatorApiRoutes(app: FastifyInstance, deps: OperatorApiDeps): Promise<void> {
  // Parses the session cookie, which auth.ts's `credentials` reads for the routes of this scope.
  await app.register(fastifyCookie);
  // The API's security headers and Retry-After are set for every /api answer by the server (src/app/server.ts).
  sameOriginGuard(app, (req) => req.method === 'POST' && req.url.split('?')[0] === '/api/session');

  const { db, provisioning, takeover, hub, auth, audit } = deps;
  const streams = new SseStreams(app);
  const limiter = new FailureLimiter({ max: SIGN_IN_MAX_FAILURES, windowMs: SIGN_IN_WINDOW_MS });

  // Provisioning is here, in the scope that reads the session cookie and checks its origin, so that the admin's dashboard can rename a tenant.
  await tenantRoutes(app, { provisioning, auth, audit });
  await conversationRoutes(app, { db, takeover, auth, audit });
  await messageRoutes(app, { db, takeover, rich: deps.rich, auth, hub, audit });
  await templateRoutes(app, { db, rich: deps.rich, sync: deps.templateSync, auth, hub, audit });
  await eventRoutes(app, { db, auth, hub, streams });
  await usageRoutes(app, { db, auth });
  await settingsRoutes(app, { provisioning, auth, audit });
  await apiKeyRoutes(app, { apiKeys: deps.apiKeys, auth, audit });
  await tenantLifecycleRoutes(app, { lifecycle: deps.lifecycle, auth, onDeletion: deps.onRemoval });
  await channelRoutes(app, { channels: deps.channelAdmin, auth, onRemoval: deps.onRemoval });
  await toolRoutes(app, { tools: deps.tools, auth, audit });
  await contactRoutes(app, { db, audit, auth, onErased: deps.onRemoval });
  await mediaRoutes(app, { db, auth, store: deps.mediaStore });
  await auditRoutes(app, { audit, auth });
  await eventSubscriptionRoutes(app, { subscriptions: deps.eventSubscriptions, auth, audit, wake: deps.wakeEventDelivery });
  await sessionRoutes(app, { provisioning, auth, sessions: deps.sessions, limiter });
  await performanceRoutes(app, { performance: deps.performance, auth });
  await openApiRoutes(app);
  await docsRoutes(app);
}
