import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { notFound } from '../shared/errors.ts';
import { route } from './routeSpec.ts';
import { errorBody } from './schemas.ts';

/**
 * The interactive reference's policy. Swagger UI's scripts and styles come
 * from this origin (no CDN, so the page works offline and nothing is loaded
 * from a third party); it renders the document's Markdown through React's
 * innerHTML (sanitised by its DOMPurify), so unlike the dashboard's pages
 * it runs without Trusted Types; and its "try it out" calls only this origin.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Swagger UI's files the page loads, served from the swagger-ui-dist package, and the page's own start script. */
const FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'start.js': 'text/javascript; charset=utf-8',
};

// An inline script would need 'unsafe-inline': the options live in a file of their own.
const START = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/api/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    withCredentials: true,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wagate API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
<main id="swagger-ui"></main>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/start.js"></script>
</body>
</html>
`;

export const docsPageRoute = route({
  method: 'GET',
  url: '/api/docs',
  operationId: 'getReferencePage',
  tag: 'meta',
  summary: 'An interactive reference of this API (Swagger UI, served by the gateway itself)',
  auth: 'none',
  responses: { 200: { description: 'the page', contentType: 'text/html', schema: z.string() } },
});

export const docsAssetRoute = route({
  method: 'GET',
  url: '/api/docs/:file',
  operationId: 'getReferenceAsset',
  tag: 'meta',
  summary: "The reference page's scripts and styles",
  auth: 'none',
  params: z.strictObject({ file: z.enum(Object.keys(FILES) as [string, ...string[]]) }),
  responses: { 200: { description: 'the file', contentType: 'text/javascript', schema: z.string() }, 404: { description: 'no such file', schema: errorBody } },
});

/** `GET /api/docs` and its files. Swagger UI's files are read once, on first use, and kept in memory. */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  const dist = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const cache = new Map<string, Promise<Buffer>>([['start.js', Promise.resolve(Buffer.from(START))]]);
  const headers = { 'content-security-policy': DOCS_CSP, 'cache-control': 'no-cache' };

  app.get(docsPageRoute.url, async (_req, reply) => reply.headers(headers).type('text/html; charset=utf-8').send(PAGE));
  app.get(docsAssetRoute.url, async (req, reply) => {
    const { file } = req.params as { file: string };
    const type = Object.hasOwn(FILES, file) ? FILES[file] : undefined;
    if (!type) throw notFound('file');
    let body = cache.get(file);
    if (!body) cache.set(file, (body = readFile(path.join(dist, file))));
    return reply.headers(headers).type(type).send(await body);
  });
}
