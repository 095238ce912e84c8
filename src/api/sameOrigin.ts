import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../shared/errors.ts';

/** The dashboard's session cookie (read by auth.ts's `bearer`). */
export const SESSION_COOKIE = 'wagate_session';
/** A marker beside it that the page may read: "a session cookie was set". It holds no secret. */
export const SIGNED_IN_COOKIE = 'wagate_signed_in';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The host the browser says the request comes from (Origin, else Referer), or null. */
function requestOriginHost(req: FastifyRequest): string | null {
  const origin = req.headers.origin ?? req.headers.referer;
  if (typeof origin !== 'string' || origin === 'null') return null;
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

/** True when the request carries the session cookie (and no Authorization header that would win over it). */
export function usesSessionCookie(req: FastifyRequest): boolean {
  if (req.headers.authorization) return false;
  const cookie = req.headers.cookie;
  return typeof cookie === 'string' && new RegExp(`(?:^|;\\s*)${SESSION_COOKIE}=`).test(cookie);
}

/**
 * Cross-site request defence for cookie sessions, on top of the cookie's
 * SameSite=Strict (which a sibling subdomain is still "same site" for): a
 * state-changing request authenticated by the cookie must come from a page
 * of this very host, as its Origin (or Referer) says. Requests with a bearer
 * key are not affected: a browser never adds that header by itself.
 * `alwaysCheck` routes (sign-in) are checked whenever the browser names an origin.
 */
export function sameOriginGuard(app: FastifyInstance, alwaysCheck: (req: FastifyRequest) => boolean = () => false): void {
  app.addHook('onRequest', async (req) => {
    if (SAFE.has(req.method)) return;
    const cookie = usesSessionCookie(req);
    const check = alwaysCheck(req);
    if (!cookie && !check) return;
    const host = requestOriginHost(req);
    if (host === null && !cookie) return;
    if (host === null || host !== req.headers.host) {
      throw new AppError(403, 'cross_site_request', 'this request must come from a page of this site');
    }
  });
}
