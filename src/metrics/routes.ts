import type { FastifyInstance } from 'fastify';
import type { FastifyRequest } from 'fastify';
import { credentials, requireAdmin, type Authenticator } from '../api/auth.ts';
import { safeEqual } from '../shared/secrets.ts';
import type { Metrics } from './metrics.ts';

/** Prometheus' text exposition format. */
const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** What the metrics routes use: the metrics, the authenticator, and the read-only metrics key (null: none set). */
export interface MetricsRouteDeps {
  metrics: Metrics;
  auth: Authenticator;
  metricsKey: string | null;
}

/**
 * `GET /metrics` (Prometheus text) and `GET /performance-metrics` (JSON),
 * for the admin key or the metrics key (WAGATE_METRICS_KEY): they show every
 * tenant's traffic. The metrics key is known here only; the authenticator of
 * every other route does not know it, so it opens nothing else.
 */
export async function metricsRoutes(app: FastifyInstance, { metrics, auth, metricsKey }: MetricsRouteDeps): Promise<void> {
  const allow = async (req: FastifyRequest) => {
    const c = credentials(req);
    if (metricsKey && c?.kind === 'key' && safeEqual(c.key, metricsKey)) return;
    requireAdmin(await auth.principal(req));
  };
  app.get('/metrics', async (req, reply) => {
    await allow(req);
    const text = await metrics.scrape();
    return reply.header('cache-control', 'no-store').type(PROMETHEUS_CONTENT_TYPE).send(text);
  });
  app.get('/performance-metrics', async (req, reply) => {
    await allow(req);
    return reply.header('cache-control', 'no-store').send(metrics.performance());
  });
}
