import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../app/context.ts';
import { forbidden, notFound, unauthorized } from '../shared/errors.ts';
import { safeEqual } from '../shared/secrets.ts';

/** Who is calling: the admin (every tenant) or one tenant's key. */
export type Principal = { kind: 'admin' } | { kind: 'tenant'; tenantId: string };

const CACHE_MS = 30_000;

/** Resolves bearer keys, caching tenant keys briefly so an API call costs no lookup. */
export class Authenticator {
  private readonly cache = new Map<string, { at: number; tenantId: string | null }>();
  constructor(private readonly ctx: AppContext) {}

  async principal(req: FastifyRequest): Promise<Principal> {
    const key = bearer(req);
    if (!key) throw unauthorized();
    const admin = this.ctx.config.adminKey;
    if (admin && safeEqual(key, admin)) return { kind: 'admin' };
    const hit = this.cache.get(key);
    let tenantId: string | null;
    if (hit && Date.now() - hit.at < CACHE_MS) {
      tenantId = hit.tenantId;
    } else {
      tenantId = await this.ctx.provisioning.tenantForKey(key);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, { at: Date.now(), tenantId });
    }
    if (!tenantId) throw unauthorized('unknown or revoked API key');
    return { kind: 'tenant', tenantId };
  }
}

/** The key from `Authorization: Bearer …`, or from the dashboard's session cookie. */
export function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (h) {
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    return m ? m[1] : null;
  }
  const cookies = (req as unknown as { cookies?: Record<string, string | undefined> }).cookies;
  return cookies?.wagate_session ?? null;
}

export function requireAdmin(p: Principal): void {
  if (p.kind !== 'admin') throw forbidden('this needs the admin key');
}

/**
 * Checks that the principal may act on `tenantId`. Another tenant's resources
 * answer 404, not 403: a key learns nothing of what it cannot reach.
 */
export function requireTenant(p: Principal, tenantId: string): void {
  if (p.kind === 'admin') return;
  if (p.tenantId !== tenantId) throw notFound('tenant');
}
