import type { FastifyInstance } from 'fastify';

/** Headers on every response of the API: JSON that no browser should render, frame or cache. */
export const API_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
});

/**
 * The pages' policy: scripts and styles only from this origin's files (no
 * inline script, no eval), no plugins, no framing, requests only back to this
 * origin; and Trusted Types, so that even a mistaken `innerHTML` with
 * customer text would be refused by the browser instead of run.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  // Customers' voice notes and videos, from GET /api/media/:id.
  "media-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types',
].join('; ');

/** Headers on the dashboard and sandbox pages and their assets. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
});

/** True for the operator API's paths, `/api` and under it. */
export function isApiPath(url: string): boolean {
  const path = url.split('?', 1)[0];
  return path === '/api' || path.startsWith('/api/');
}

/**
 * Sets `headers` on every response of the routes of `app` (a route's own
 * value wins), or only on those of the requests `applies` selects. Added to
 * the root instance with `isApiPath`, it covers every /api answer whatever
 * route set it comes from: provisioning, 404s, errors of any hook.
 */
export function addSecurityHeaders(app: FastifyInstance, headers: Readonly<Record<string, string>>, applies: (url: string) => boolean = () => true): void {
  app.addHook('onSend', async (req, reply, payload) => {
    if (!applies(req.url)) return payload;
    for (const [k, v] of Object.entries(headers)) if (!reply.hasHeader(k)) reply.header(k, v);
    // HSTS only means something over TLS (behind a proxy that terminates it, the proxy sets it).
    if (req.protocol === 'https' && !reply.hasHeader('strict-transport-security')) reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });
}
