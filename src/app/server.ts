import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Authenticator } from '../api/auth.ts';
import { tenantRoutes } from '../api/tenants.routes.ts';
import { isUnavailable } from '../db/db.ts';
import { AppError } from '../shared/errors.ts';
import { webhookRoutes } from '../webhook/routes.ts';
import type { AppContext } from './context.ts';

/** Extra route sets registered by later stages (operator API, dashboard, metrics, sandbox). */
export type RoutePlugin = (app: FastifyInstance, ctx: AppContext, auth: Authenticator) => Promise<void>;

/** Builds the HTTP server: webhooks, API, health. Does not listen. */
export async function buildServer(ctx: AppContext, plugins: RoutePlugin[] = []): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log as unknown as FastifyBaseLogger,
    // No per-request log lines: the hot path logs nothing at info.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // Keep-alive connections from Meta (and the benchmark) are reused.
    keepAliveTimeout: 72_000,
    return503OnClosing: true,
  });
  const auth = new Authenticator(ctx);

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof AppError) return reply.code(err.status).send({ error: { code: err.code, message: err.message } });
    if (isUnavailable(err)) return reply.code(503).send({ error: { code: 'unavailable', message: 'database unavailable, try again' } });
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
    if (!ctx.state.ready || !ctx.state.accepting) return reply.code(503).send({ ok: false });
    try {
      await ctx.db.query({ name: 'readyz', text: 'SELECT 1' });
      return { ok: true };
    } catch {
      return reply.code(503).send({ ok: false });
    }
  });

  await app.register(async (scope) => webhookRoutes(scope, ctx));
  await app.register(async (scope) => tenantRoutes(scope, ctx, auth));
  for (const plugin of plugins) await app.register(async (scope) => plugin(scope, ctx, auth));
  return app as unknown as FastifyInstance;
}
