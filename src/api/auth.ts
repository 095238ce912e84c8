import type { FastifyRequest } from 'fastify';
import { AppError, forbidden, notFound, unauthorized } from '../shared/errors.ts';
import { hashKey, safeEqual } from '../shared/secrets.ts';
import { FailureLimiter, RateLimited } from './failureLimiter.ts';
import { SESSION_COOKIE } from './sameOrigin.ts';
import type { SessionOwner, SessionRecord } from './sessions.ts';

/** Who is calling: the admin (every tenant) or one tenant's key (named by its id). */
export type Principal = ({ kind: 'admin' } | { kind: 'tenant'; tenantId: string; keyId: string }) & {
  /** Through a dashboard session rather than a bearer key (the audit log's `via`). */
  session?: boolean;
};

/**
 * How long a key or session looked up stays cached in a process. Revocations
 * and sign-outs reach every process at once through the key listener; this
 * bound only matters while a process's listener is down.
 */
export const AUTH_CACHE_MS = 5_000;
const MAX_CACHED = 10_000;

/** Unknown bearer keys allowed per client address in KEY_WINDOW_MS; then every key from it answers 429 until the oldest failure ages out. */
export const KEY_MAX_FAILURES = 20;
export const KEY_WINDOW_MS = 60_000;

/** Where tenant keys are looked up (their hashes are stored), and their use noted. */
export interface KeyLookup {
  /** The key's id and tenant (and whether the operator disabled it), or null for an unknown or revoked key. */
  lookup(key: string): Promise<{ id: string; tenantId: string; disabled?: boolean } | null>;
  /** Called on every request a tenant key authenticates (directly or through a session). */
  markUsed(keyId: string): void;
}

/** Where dashboard sessions are looked up. */
export interface SessionLookup {
  find(token: string): Promise<SessionRecord | null>;
}

/** What a request presents: a bearer key, the dashboard's session token, or nothing usable. */
export type Credentials = { kind: 'key'; key: string } | { kind: 'session'; token: string } | null;

interface CachedKey {
  at: number;
  /** null: unknown or revoked. */
  key: { id: string; tenantId: string; disabled?: boolean } | null;
}

interface CachedSession {
  at: number;
  session: SessionRecord | null;
}

/**
 * Resolves bearer keys (through the keys) and session cookies (through the
 * sessions table), caching both briefly so an API call usually costs no
 * lookup. `forget` drops what a revocation or sign-out announced.
 *
 * Unknown keys are counted per client address (`req.ip`: the socket's
 * address, or the forwarded one behind a trusted proxy): past the limit, that
 * address gets 429 for every key, right or wrong, while other addresses are
 * not affected.
 */
export class Authenticator {
  private readonly keys = new Map<string, CachedKey>();
  private readonly sessions = new Map<string, CachedSession>();
  private readonly adminKeyHash: string | null;

  constructor(
    private readonly adminKey: string | null,
    private readonly keyStore: KeyLookup,
    private readonly sessionStore: SessionLookup,
    private readonly failures = new FailureLimiter({ max: KEY_MAX_FAILURES, windowMs: KEY_WINDOW_MS }),
  ) {
    this.adminKeyHash = adminKey ? hashKey(adminKey) : null;
  }

  /**
   * The caller of a request (bearer header or session cookie); 401 without a
   * known key or live session, 429 after too many unknown keys from the
   * client's address.
   */
  async principal(req: FastifyRequest): Promise<Principal> {
    const c = credentials(req);
    if (!c) throw unauthorized();
    if (c.kind === 'key') {
      const wait = this.failures.retryAfter(req.ip);
      if (wait > 0) throw new RateLimited(wait, 'unknown keys');
      const p = await this.principalForKey(c.key);
      if (!p) {
        this.failures.fail(req.ip);
        throw unauthorized('unknown or revoked API key');
      }
      return p;
    }
    const p = await this.principalForSession(c.token);
    if (!p) throw unauthorized('the session has ended; sign in again');
    return p;
  }

  /** Who a key is, or null for an unknown or revoked key; a key of a disabled tenant is 403 tenant_disabled. */
  async principalForKey(key: string): Promise<Principal | null> {
    if (this.adminKey && safeEqual(key, this.adminKey)) return { kind: 'admin' };
    const h = hashKey(key);
    const hit = this.keys.get(h);
    let found: CachedKey['key'];
    if (hit && Date.now() - hit.at < AUTH_CACHE_MS) {
      found = hit.key;
    } else {
      found = await this.keyStore.lookup(key);
      if (this.keys.size >= MAX_CACHED) this.keys.clear();
      this.keys.set(h, { at: Date.now(), key: found });
    }
    if (!found) return null;
    if (found.disabled) throw new AppError(403, 'tenant_disabled', 'the operator disabled this tenant; its keys work again once it is enabled');
    this.keyStore.markUsed(found.id);
    return { kind: 'tenant', tenantId: found.tenantId, keyId: found.id };
  }

  /** Who a session token is, or null for an unknown, ended or expired session (or one of a revoked key). */
  async principalForSession(token: string): Promise<Principal | null> {
    const h = hashKey(token);
    const hit = this.sessions.get(h);
    let session: SessionRecord | null;
    if (hit && Date.now() - hit.at < AUTH_CACHE_MS) {
      session = hit.session;
    } else {
      session = await this.sessionStore.find(token);
      if (this.sessions.size >= MAX_CACHED) this.sessions.clear();
      this.sessions.set(h, { at: Date.now(), session });
    }
    if (!session || session.expiresAt <= Date.now()) return null;
    const o = session.owner;
    if (o.kind === 'admin') {
      // An admin session lasts only as long as the admin key it was opened with.
      return this.adminKeyHash !== null && safeEqual(o.adminKeyHash, this.adminKeyHash) ? { kind: 'admin', session: true } : null;
    }
    this.keyStore.markUsed(o.keyId);
    return { kind: 'tenant', tenantId: o.tenantId, keyId: o.keyId, session: true };
  }

  /** Whom a session opened by this principal belongs to: its key, or the admin key in force. */
  sessionOwner(p: Principal): SessionOwner {
    if (p.kind === 'tenant') return { kind: 'tenant', keyId: p.keyId, tenantId: p.tenantId };
    if (!this.adminKeyHash) throw unauthorized();
    return { kind: 'admin', adminKeyHash: this.adminKeyHash };
  }

  /**
   * Drops what an announcement names from the caches: `key:<id>` (a revoked
   * key, and every session opened with it), `session:<id>` (a sign-out) or
   * `tenant:<id>` (disabled, enabled or deleted: all its keys and sessions).
   */
  forget(announcement: string): void {
    const [what, id] = announcement.split(':');
    if (!id) return;
    if (what === 'key') {
      for (const [h, c] of this.keys) if (c.key?.id === id) this.keys.delete(h);
      for (const [h, c] of this.sessions) if (c.session?.owner.kind === 'tenant' && c.session.owner.keyId === id) this.sessions.delete(h);
    } else if (what === 'tenant') {
      for (const [h, c] of this.keys) if (c.key?.tenantId === id) this.keys.delete(h);
      for (const [h, c] of this.sessions) if (c.session?.owner.kind === 'tenant' && c.session.owner.tenantId === id) this.sessions.delete(h);
    } else if (what === 'session') {
      for (const [h, c] of this.sessions) if (c.session?.id === id) this.sessions.delete(h);
    }
  }

  /** Forgets everything cached (the listener reconnected: announcements may have been missed). */
  clear(): void {
    this.keys.clear();
    this.sessions.clear();
  }
}

/**
 * What a request presents. An Authorization header wins (and a malformed one
 * counts as none, not as a reason to look at the cookie); else the session
 * cookie's token.
 */
export function credentials(req: FastifyRequest): Credentials {
  const h = req.headers.authorization;
  if (h) {
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    return m ? { kind: 'key', key: m[1] } : null;
  }
  const token = sessionToken(req);
  return token ? { kind: 'session', token } : null;
}

/** The dashboard session cookie's token, or null. */
export function sessionToken(req: FastifyRequest): string | null {
  const cookies = (req as unknown as { cookies?: Record<string, string | undefined> }).cookies;
  return cookies?.[SESSION_COOKIE] || null;
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
