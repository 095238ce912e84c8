import type { FastifyInstance } from 'fastify';
import { addSecurityHeaders, PAGE_HEADERS } from '../api/securityHeaders.ts';
import { notFound } from '../shared/errors.ts';
import { pageAssets } from './assets.ts';

/**
 * The dashboard at `/` and the files of every page at `/assets/…` (the
 * sandbox page at /sandbox loads its files from here too). Served with a
 * strict Content-Security-Policy: scripts and styles from this origin only,
 * none inline.
 */
export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  const assets = await pageAssets();
  addSecurityHeaders(app, PAGE_HEADERS);

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(assets.dashboardHtml));

  app.get<{ Params: { name: string } }>('/assets/:name', async (req, reply) => {
    const file = assets.files.get(req.params.name);
    if (!file) throw notFound('file');
    // Names carry a content hash: a new build has new names.
    return reply.type(file.type).header('cache-control', 'public, max-age=31536000, immutable').send(file.body);
  });
}
