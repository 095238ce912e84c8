import type { Db } from '../db/db.ts';
import { notFound } from '../shared/errors.ts';
import type { Actor, AuditLog } from './auditLog.ts';
import type { Provisioning, TenantView } from './provision.ts';
import { TENANT_LIST, TENANT_MARK_DELETING, TENANT_SET_DISABLED } from './tenantLifecycle.sql.ts';

/** A tenant in the admin's list: who it is, its state, and this month's usage. */
export interface TenantSummary {
  id: string;
  name: string;
  disabled: boolean;
  disabledAt: string | null;
  retentionDays: number | null;
  channels: number;
  usage: { month: string; count: number; limit: number | null };
  createdAt: string;
}

interface ListRow {
  id: string;
  name: string;
  monthly_message_limit: number | null;
  retention_days: number | null;
  disabled_at: Date | null;
  created_at: Date;
  usage_count: number;
  channels: number;
}

/** What the list is asked for. */
export interface TenantListQuery {
  /** Digits only: the tenant's id; else a fragment of the name (case-insensitive). */
  search?: string;
  state?: 'active' | 'disabled';
  beforeId?: string | null;
  limit: number;
}

/** `%`, `_` and `\` are literal in a search, not ILIKE patterns. */
const likeLiteral = (s: string) => s.replace(/[\\%_]/g, (c) => '\\' + c);

/**
 * A tenant's life after its creation: listing, disabling and enabling, and
 * the start of its deletion (housekeeping finishes it). Each change is
 * recorded in the audit log in the same transaction.
 */
export class TenantLifecycle {
  constructor(
    private readonly db: Db,
    private readonly provisioning: Provisioning,
    private readonly audit: AuditLog,
  ) {}

  /** A page of tenants, newest first; one row more than `limit` says there is another page. */
  async list(q: TenantListQuery): Promise<{ items: TenantSummary[]; more: boolean }> {
    const search = q.search?.trim() ? likeLiteral(q.search.trim()) : null;
    const rows = await this.db.query<ListRow>(TENANT_LIST, [search, q.beforeId ?? null, q.state ?? null, q.limit + 1]);
    const month = new Date().toISOString().slice(0, 7);
    return {
      more: rows.length > q.limit,
      items: rows.slice(0, q.limit).map((r) => ({
        id: r.id,
        name: r.name,
        disabled: r.disabled_at !== null,
        disabledAt: r.disabled_at ? r.disabled_at.toISOString() : null,
        retentionDays: r.retention_days,
        channels: r.channels,
        usage: { month, count: r.usage_count, limit: r.monthly_message_limit },
        createdAt: r.created_at.toISOString(),
      })),
    };
  }

  /**
   * Disables a tenant: its webhooks are still stored and acknowledged, no
   * turn runs (disposition tenant_disabled), its keys answer 403 and its
   * dashboard sessions end. Disabling a disabled tenant changes nothing.
   */
  disable(tenantId: string, actor: Actor): Promise<TenantView> {
    return this.setDisabled(tenantId, true, actor);
  }

  /** Enables a tenant again: new messages are answered as usual; old ones keep their disposition. */
  enable(tenantId: string, actor: Actor): Promise<TenantView> {
    return this.setDisabled(tenantId, false, actor);
  }

  private async setDisabled(tenantId: string, disabled: boolean, actor: Actor): Promise<TenantView> {
    await this.db.transaction(async (tx) => {
      const [r] = await tx.query<{ id: string; changed: boolean }>(TENANT_SET_DISABLED, [tenantId, disabled]);
      if (!r) throw notFound('tenant');
      if (r.changed) await this.audit.record(actor, { tenantId, action: disabled ? 'tenant.disabled' : 'tenant.enabled', targetType: 'tenant', targetId: tenantId }, tx);
    });
    return this.provisioning.getTenant(tenantId);
  }

  /**
   * Starts a tenant's deletion: from this commit on its channels route
   * nothing, its keys are revoked and its sessions ended; housekeeping then
   * removes every row of it in batches. 404 for no such tenant.
   */
  async requestDeletion(tenantId: string, actor: Actor): Promise<{ id: string; name: string }> {
    return this.db.transaction(async (tx) => {
      const [r] = await tx.query<{ id: string; name: string }>(TENANT_MARK_DELETING, [tenantId]);
      if (!r) throw notFound('tenant');
      await this.audit.record(actor, { tenantId, action: 'tenant.deleted', targetType: 'tenant', targetId: tenantId }, tx);
      return { id: r.id, name: r.name };
    });
  }
}
