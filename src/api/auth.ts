import type { FastifyRequest } from 'fastify';
import { forbidden, notFound, unauthorized } from '../shared/errors.ts';
import { safeEqual } from '../shared/secrets.ts';
import { FailureLimiter, RateLimited } from './failureLimiter.ts';

/** Who is calling: the admin (every tenant) or one tenant's key. */
export type Principal = { kind: 'admin' } | { kind: 'tenant'; tenantId: string };

const CACHE_MS = 30_000;

/** Unknown bearer keys allowed per client address in KEY_WINDOW_MS; then every key from it answers 429 until the oldest failure ages out. */
export const KEY_MAX_FAILURES = 20;
export const KEY_WINDOW_MS = 60_000;

/** Where tenant keys are looked up (their hashes are stored). */
export interface KeyLookup {
  /** The tenant a key belongs to, or null. */
  tenantForKey(key: string): Promise<string | null>;
}

/**
 * Resolves bearer keys, caching tenant keys briefly so an API call costs no
 * lookup. Unknown keys are counted per client address (`req.ip`: the socket's
 * address, or the forwarded one behind a trusted proxy): past the limit, that
 * address gets 429 for every key, right or wrong (else 429 against 200 would
 * still answer each guess), while other addresses are not affected.
 */
export class Authenticator {
  private readonly cache = new Map<string, { at: number; tenantId: string | null }>();
  constructor(
    private readonly adminKey: string | null,
    private readonly keys: KeyLookup,
    private readonly failures = new FailureLimiter({ max: KEY_MAX_FAILURES, windowMs: KEY_WINDOW_MS }),
  ) {}

  /** The caller of a request (bearer header or session cookie); 401 without a known key, 429 after too many unknown ones. */
  async principal(req: FastifyRequest): Promise<Principal> {
    const key = bearer(req);
    if (!key) throw unauthorized();
    const wait = this.failures.retryAfter(req.ip);
    if (wait > 0) throw new RateLimited(wait, 'unknown keys');
    const p = await this.principalForKey(key);
    if (!p) {
      this.failures.fail(req.ip);
      throw unauthorized('unknown or revoked API key');
    }
    return p;
  }

  /** Who a key is, or null for an unknown key. */
  async principalForKey(key: string): Promise<Principal | null> {
    if (this.adminKey && safeEqual(key, this.adminKey)) return { kind: 'admin' };
    const hit = this.cache.get(key);
    let tenantId: string | null;
    if (hit && Date.now() - hit.at < CACHE_MS) {
      tenantId = hit.tenantId;
    } else {
      tenantId = await this.keys.tenantForKey(key);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, { at: Date.now(), tenantId });
    }
    return tenantId ? { kind: 'tenant', tenantId } : null;
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
