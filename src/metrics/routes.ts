import type { FastifyInstance } from 'fastify';
import { requireAdmin, type Authenticator } from '../api/auth.ts';
import type { Metrics } from './metrics.ts';

/** Prometheus' text exposition format. */
const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * `GET /metrics` (Prometheus text) and `GET /performance-metrics` (JSON),
 * both for the admin key only: they show every tenant's traffic.
 */
export async function metricsRoutes(app: FastifyInstance, { metrics, auth }: { metrics: Metrics; auth: Authenticator }): Promise<void> {
  app.get('/metrics', async (req, reply) => {
    requireAdmin(await auth.principal(req));
    const text = await metrics.scrape();
    return reply.header('cache-control', 'no-store').type(PROMETHEUS_CONTENT_TYPE).send(text);
  });
  app.get('/performance-metrics', async (req, reply) => {
    requireAdmin(await auth.principal(req));
    return reply.header('cache-control', 'no-store').send(metrics.performance());
  });
}
