import type { Db } from '../db/db.ts';
import { hashKey, newSessionToken } from '../shared/secrets.ts';
import { SESSION_END, SESSION_FIND, SESSION_OPEN } from './sessions.sql.ts';

/** Whom a session was opened for: a tenant key (by id), or the admin key (by its hash). */
export type SessionOwner = { kind: 'tenant'; keyId: string; tenantId: string } | { kind: 'admin'; adminKeyHash: string };

/** A live session as the table holds it. */
export interface SessionRecord {
  id: string;
  owner: SessionOwner;
  /** Epoch milliseconds. */
  expiresAt: number;
}

interface Row {
  id: string;
  api_key_id: string | null;
  tenant_id: string | null;
  admin_key_hash: string | null;
  expires_at: Date;
}

/**
 * Server-side dashboard sessions. The cookie carries a random token (256
 * bits); the table holds only its hash, with the key it was opened with and
 * its end (an absolute lifetime from sign-in).
 */
export class Sessions {
  constructor(
    private readonly db: Db,
    /** Lifetime of a session from sign-in. */
    private readonly lifetimeMs: number,
  ) {}

  /** Opens a session and returns its token (for the cookie), or null when the key was revoked meanwhile. */
  async open(owner: SessionOwner): Promise<{ token: string; id: string } | null> {
    const token = newSessionToken();
    const params =
      owner.kind === 'tenant' ? [hashKey(token), owner.keyId, owner.tenantId, null] : [hashKey(token), null, null, owner.adminKeyHash];
    const [row] = await this.db.query<{ id: string }>(SESSION_OPEN, [...params, Math.ceil(this.lifetimeMs / 1000)]);
    return row ? { token, id: row.id } : null;
  }

  /** The live session a token names, or null (unknown, ended, expired, or its key revoked). */
  async find(token: string): Promise<SessionRecord | null> {
    if (token.length > 200) return null;
    const [r] = await this.db.query<Row>(SESSION_FIND, [hashKey(token)]);
    if (!r) return null;
    const owner: SessionOwner =
      r.api_key_id !== null && r.tenant_id !== null ? { kind: 'tenant', keyId: r.api_key_id, tenantId: r.tenant_id } : { kind: 'admin', adminKeyHash: r.admin_key_hash ?? '' };
    return { id: r.id, owner, expiresAt: r.expires_at.getTime() };
  }

  /** Ends the session a token names (every process is told); returns its id, or null if there was none. */
  async end(token: string): Promise<string | null> {
    if (token.length > 200) return null;
    const [r] = await this.db.query<{ id: string }>(SESSION_END, [hashKey(token)]);
    return r?.id ?? null;
  }
}
