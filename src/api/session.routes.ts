import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Provisioning } from '../tenancy/provision.ts';
import { AppError } from '../shared/errors.ts';
import { sessionToken, type Authenticator, type Principal } from './auth.ts';
import { RateLimited, type FailureLimiter } from './failureLimiter.ts';
import { handle, route } from './routeSpec.ts';
import { SESSION_COOKIE, SIGNED_IN_COOKIE } from './sameOrigin.ts';
import { errorBody, sessionShape, signInBody } from './schemas.ts';
import type { Sessions } from './sessions.ts';

/** Failed sign-ins allowed per client IP in SIGN_IN_WINDOW_MS before it must wait. */
export const SIGN_IN_MAX_FAILURES = 10;
export const SIGN_IN_WINDOW_MS = 15 * 60_000;

export const signInRoute = route({
  method: 'POST',
  url: '/api/session',
  operationId: 'signIn',
  tag: 'session',
  summary: 'Sign in to the dashboard with a key',
  description:
    'Opens a server-side session and sets its random token (never the key) as an httpOnly, SameSite=Strict cookie that the API then accepts instead of the Authorization header. ' +
    'The session ends at sign-out, when its key is revoked, or WAGATE_SESSION_HOURS after sign-in. ' +
    `Failed attempts are limited per client IP: after ${SIGN_IN_MAX_FAILURES} in ${SIGN_IN_WINDOW_MS / 60_000} minutes, 429 with Retry-After.`,
  auth: 'none',
  body: signInBody,
  responses: {
    200: { description: 'signed in', schema: sessionShape },
    400: { description: 'invalid body', schema: errorBody },
    401: { description: 'unknown or revoked key', schema: errorBody },
    403: { description: 'sent from a page of another site', schema: errorBody },
    429: { description: 'too many failed sign-ins from this IP', schema: errorBody },
  },
});

export const sessionRoute = route({
  method: 'GET',
  url: '/api/session',
  operationId: 'getSession',
  tag: 'session',
  summary: 'Who the key or session is',
  auth: 'tenant',
  responses: { 200: { description: 'the caller', schema: sessionShape }, 401: { description: 'no key, or an unknown one', schema: errorBody } },
});

export const signOutRoute = route({
  method: 'DELETE',
  url: '/api/session',
  operationId: 'signOut',
  tag: 'session',
  summary: 'Sign out: ends the session (a copy of the cookie no longer works) and clears the cookie',
  auth: 'none',
  responses: { 204: { description: 'signed out' }, 403: { description: 'sent from a page of another site', schema: errorBody } },
});

/** Dashboard sign-in, with its limit on failed attempts. */
export async function sessionRoutes(
  app: FastifyInstance,
  deps: { provisioning: Provisioning; auth: Authenticator; sessions: Sessions; limiter: FailureLimiter },
): Promise<void> {
  const { auth, sessions, limiter } = deps;
  const describe = async (p: Principal) => {
    if (p.kind === 'admin') return { kind: 'admin' as const, tenantId: null, tenantName: null };
    const t = await deps.provisioning.getTenant(p.tenantId);
    return { kind: 'tenant' as const, tenantId: p.tenantId, tenantName: t.name };
  };

  handle(
    app,
    signInRoute,
    async (req) => {
      const wait = limiter.retryAfter(req.ip);
      if (wait > 0) throw new RateLimited(wait, 'failed sign-ins');
      return null;
    },
    async (_none, { body, req, reply }) => {
      const p = await auth.principalForKey(body.key);
      if (!p) {
        limiter.fail(req.ip);
        throw new AppError(401, 'unauthorized', 'unknown or revoked API key');
      }
      const opened = await sessions.open(auth.sessionOwner(p));
      // Revoked between the check above and the insert.
      if (!opened) throw new AppError(401, 'unauthorized', 'unknown or revoked API key');
      setSession(req, reply, opened.token);
      return describe(p);
    },
  );

  handle(app, sessionRoute, (req) => auth.principal(req), async (p) => describe(p));

  handle(app, signOutRoute, async () => null, async (_none, { req, reply }) => {
    const token = sessionToken(req);
    const ended = token ? await sessions.end(token) : null;
    // This process forgets it now; the others when the notification arrives.
    if (ended) auth.forget(`session:${ended}`);
    reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict' });
    reply.clearCookie(SIGNED_IN_COOKIE, { path: '/', sameSite: 'strict' });
    return reply.code(204).send();
  });
}

function setSession(req: FastifyRequest, reply: FastifyReply, token: string): void {
  // Behind a proxy that terminates TLS the request itself is plain HTTP; trusting
  // the proxy's header here can only make the cookie stricter, never weaker.
  const secure = req.protocol === 'https' || req.headers['x-forwarded-proto'] === 'https';
  // A session cookie (no Max-Age): it ends with the browser session, or earlier
  // on the server. It holds a random token, never the key, so a copy of it dies
  // with the session. It never reaches script: httpOnly; never another site's
  // request: SameSite=Strict.
  reply.setCookie(SESSION_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'strict', secure });
  // A marker the page can read (it holds nothing secret): lets it skip asking for a session it does not have.
  reply.setCookie(SIGNED_IN_COOKIE, '1', { path: '/', sameSite: 'strict', secure });
}
