import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** The header a request id comes in and goes back out on. */
export const REQUEST_ID_HEADER = 'x-request-id';

// What a caller's id may look like: a UUID, a proxy's or a load balancer's
// trace id. Anything else (too long, control characters, spaces) is replaced,
// so that a client cannot write what it likes into the log lines.
const ACCEPTED_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * The id of a request: the caller's `X-Request-Id` when it looks like one,
 * else a new UUID. Fastify's `genReqId`: the id is `req.id`, and every line
 * `req.log` writes carries it as `reqId`.
 */
export function requestId(req: IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && ACCEPTED_ID.test(given) ? given : randomUUID();
}

/**
 * Echoes the request id on every answer (added first, so 421s and 404s carry
 * it too) and writes one access line per request at info when its answer is
 * sent: method, path without its query string (a handshake's verify token and
 * a cursor ride there), status, time and client address. Headers and bodies
 * are never logged.
 */
export function requestLog(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    reply.header(REQUEST_ID_HEADER, req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    const q = req.url.indexOf('?');
    req.log.info(
      { method: req.method, path: q < 0 ? req.url : req.url.slice(0, q), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, ip: req.ip },
      'request',
    );
  });
}
