import type { FastifyInstance } from 'fastify';
import { requireAdmin, type Authenticator } from './auth.ts';
import { handle, route } from './routeSpec.ts';
import { errorBody, performanceShape } from './schemas.ts';

export const performanceRoute = route({
  method: 'GET',
  url: '/api/performance',
  operationId: 'getPerformance',
  tag: 'metrics',
  summary: 'The performance metrics, for the dashboard (admin)',
  description: 'The body of GET /performance-metrics, reachable with the dashboard session: the charts of the admin dashboard read it.',
  auth: 'admin',
  responses: {
    200: { description: 'the same body as GET /performance-metrics', schema: performanceShape },
    401: { description: 'no key, or an unknown one', schema: errorBody },
    403: { description: 'not the admin key', schema: errorBody },
  },
});

/** `GET /api/performance`: the metrics of every tenant, so the admin key only. */
export async function performanceRoutes(app: FastifyInstance, { performance, auth }: { performance: () => object; auth: Authenticator }): Promise<void> {
  handle(app, performanceRoute, (req) => auth.principal(req), async (p) => {
    requireAdmin(p);
    return performance();
  });
}
