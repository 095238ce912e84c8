import fastifyCookie from '@fastify/cookie';
import type { RoutePlugin } from '../app/server.ts';
import { conversationRoutes } from './conversations.routes.ts';
import { eventHub } from './eventHub.ts';
import { eventRoutes } from './events.routes.ts';
import { FailureLimiter } from './failureLimiter.ts';
import { messageRoutes } from './messages.routes.ts';
import { openApiRoutes } from './openapi.ts';
import { performanceRoutes } from './performance.routes.ts';
import { sameOriginGuard } from './sameOrigin.ts';
import { API_HEADERS, addSecurityHeaders } from './securityHeaders.ts';
import { addRetryAfter, sessionRoutes, SIGN_IN_MAX_FAILURES, SIGN_IN_WINDOW_MS } from './session.routes.ts';
import { settingsRoutes } from './settings.routes.ts';
import { SseStreams } from './sse.ts';
import { usageRoutes } from './usage.routes.ts';

/**
 * The operator API of SPEC §6 beyond provisioning: conversations, messages,
 * pause/resume, manual sends, usage, settings, live events, the dashboard
 * session and the OpenAPI document. Register it with `startGateway`'s
 * `plugins` (wagate start does).
 */
export const operatorApiPlugin: RoutePlugin = async (app, ctx, auth) => {
  // Parses the session cookie, which auth.ts's `bearer` reads for the routes of this scope.
  await app.register(fastifyCookie);
  addSecurityHeaders(app, API_HEADERS);
  sameOriginGuard(app, (req) => req.method === 'POST' && req.url.split('?')[0] === '/api/session');
  addRetryAfter(app);

  const hub = eventHub(ctx);
  const streams = new SseStreams(app);
  const limiter = new FailureLimiter({ max: SIGN_IN_MAX_FAILURES, windowMs: SIGN_IN_WINDOW_MS });

  await conversationRoutes(app, ctx, auth);
  await messageRoutes(app, ctx, auth, hub);
  await eventRoutes(app, ctx, auth, hub, streams);
  await usageRoutes(app, ctx, auth);
  await settingsRoutes(app, ctx, auth);
  await sessionRoutes(app, ctx, auth, limiter);
  await performanceRoutes(app, ctx, auth);
  await openApiRoutes(app);
};
