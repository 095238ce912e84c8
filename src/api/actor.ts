import type { Actor, AuditEntry } from '../tenancy/auditLog.ts';
import type { Principal } from './auth.ts';

/** The audit log's "who" for a caller of the API: the admin key or a tenant key, by bearer key or dashboard session. */
export function actorOf(p: Principal): Actor {
  const via = p.session ? 'dashboard' : 'api';
  return p.kind === 'admin' ? { actor: 'admin', keyId: null, via } : { actor: 'tenant_key', keyId: p.keyId, via };
}

/**
 * The audit entry of a tenant change: which fields it touched (agent fields
 * by name), never their values, since some are secrets (apiKey, secret).
 */
export function settingsChange(tenantId: string, body: Record<string, unknown>): AuditEntry {
  const fields = Object.entries(body).flatMap(([k, v]) => (k === 'agent' && v && typeof v === 'object' ? Object.keys(v).map((a) => `agent.${a}`) : [k]));
  return { tenantId, action: 'settings.changed', targetType: 'tenant', targetId: tenantId, detail: { fields } };
}
