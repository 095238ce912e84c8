import type { Db, Queryable } from '../db/db.ts';
import { AUDIT_INSERT, AUDIT_LIST } from './auditLog.sql.ts';

/**
 * Who did it: the admin key, a tenant key (by id), or the command line; and
 * through what: the API with a bearer key, the dashboard (a session), or the CLI.
 */
export interface Actor {
  actor: 'admin' | 'tenant_key' | 'cli';
  keyId: string | null;
  via: 'api' | 'dashboard' | 'cli';
}

/** The command line's actor: whoever runs it has the database's credentials. */
export const CLI_ACTOR: Actor = Object.freeze({ actor: 'cli', keyId: null, via: 'cli' });

/** The operator actions the log records (docs/security.md, "The audit log"). */
export type AuditAction =
  | 'conversation.paused'
  | 'conversation.resumed'
  | 'message.sent_by_operator'
  | 'template.sent'
  | 'settings.changed'
  | 'api_key.created'
  | 'api_key.revoked'
  | 'tenant.created'
  | 'tenant.updated'
  | 'tenant.disabled'
  | 'tenant.enabled'
  | 'tenant.deleted'
  | 'channel.added'
  | 'channel.token_rotated'
  | 'channel.updated'
  | 'channel.removed'
  | 'contact.erased'
  | 'tool.created'
  | 'tool.changed'
  | 'tool.deleted'
  | 'event_subscription.created'
  | 'event_subscription.updated'
  | 'event_subscription.deleted';

/** One action. `detail` is small and never holds a secret, a message text or a customer's number or name. */
export interface AuditEntry {
  tenantId: string | null;
  action: AuditAction;
  targetType?: string;
  targetId?: string;
  detail?: Record<string, unknown>;
}

/** An entry as the API shows it. */
export interface AuditView {
  id: string;
  tenantId: string | null;
  actor: Actor['actor'];
  actorKeyId: string | null;
  via: Actor['via'];
  action: string;
  target: { type: string; id: string } | null;
  detail: Record<string, unknown>;
  createdAt: string;
}

interface Row {
  id: string;
  tenant_id: string | null;
  actor: Actor['actor'];
  actor_key_id: string | null;
  via: Actor['via'];
  action: string;
  target_type: string | null;
  target_id: string | null;
  detail: Record<string, unknown>;
  created_at: Date;
}

/** The operator's audit log: written with the action (same transaction where the action is ours to run), read newest first. */
export class AuditLog {
  constructor(private readonly db: Db) {}

  /** Records one action, on `q` when it must commit with the action. */
  record(actor: Actor, entry: AuditEntry, q: Queryable = this.db): Promise<unknown> {
    return q.query(AUDIT_INSERT, [
      entry.tenantId,
      actor.actor,
      actor.keyId,
      actor.via,
      entry.action,
      entry.targetType ?? null,
      entry.targetId ?? null,
      JSON.stringify(entry.detail ?? {}),
    ]);
  }

  /** A page, newest first: `tenantId` null for every tenant; `beforeId` continues a walk. One row more than `limit` says there is a next page. */
  async list(tenantId: string | null, beforeId: string | null, limit: number): Promise<{ items: AuditView[]; more: boolean }> {
    const rows = await this.db.query<Row>(AUDIT_LIST, [tenantId, beforeId, limit + 1]);
    return {
      more: rows.length > limit,
      items: rows.slice(0, limit).map((r) => ({
        id: r.id,
        tenantId: r.tenant_id,
        actor: r.actor,
        actorKeyId: r.actor_key_id,
        via: r.via,
        action: r.action,
        target: r.target_type && r.target_id ? { type: r.target_type, id: r.target_id } : null,
        detail: r.detail,
        createdAt: r.created_at.toISOString(),
      })),
    };
  }
}
