import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { hostAllowed, type AllowedHosts } from '../config/http.ts';
import { AppError } from '../shared/errors.ts';

/**
 * Refuses requests that name a Host outside the allow-list with 421
 * `misdirected_request`, before anything else runs: a page that re-points
 * its own domain at 127.0.0.1 (DNS rebinding) reaches the port, but its
 * requests still carry its own name. Behind a trusted proxy, the host is the
 * one the proxy forwards (X-Forwarded-Host), else the Host header.
 */
export function hostGuard(app: FastifyInstance, allowed: AllowedHosts, log: Logger): void {
  if (allowed.unset) {
    log.warn('no WAGATE_ALLOWED_HOSTS or WAGATE_PUBLIC_URL on a non-loopback address: every Host name is answered (set one of them, or WAGATE_ALLOWED_HOSTS=*)');
  }
  if (allowed.any) return;
  app.addHook('onRequest', async (req) => {
    if (!hostAllowed(allowed, req.host)) {
      throw new AppError(421, 'misdirected_request', 'this server does not answer for this Host (its operator allows hosts with WAGATE_ALLOWED_HOSTS or WAGATE_PUBLIC_URL)');
    }
  });
}
