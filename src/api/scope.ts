import type { Principal } from './auth.ts';
import { badRequest, notFound } from '../shared/errors.ts';

/**
 * The tenant a call acts on: a tenant key's own tenant, or for the admin key
 * the one named by `?tenantId=` (null: every tenant). A tenant key naming
 * another tenant gets 404, as for any other tenant's resource.
 */
export function scopeTenant(p: Principal, requested: string | undefined): string | null {
  if (p.kind === 'admin') return requested ?? null;
  if (requested !== undefined && requested !== p.tenantId) throw notFound('tenant');
  return p.tenantId;
}

/** Like scopeTenant, for routes that need exactly one tenant (usage, settings). */
export function oneTenant(p: Principal, requested: string | undefined): string {
  const t = scopeTenant(p, requested);
  if (t === null) throw badRequest('invalid_request', 'tenantId: required with the admin key');
  return t;
}

/** Who made a call, for log lines: `admin` or the tenant key's id (never the key). */
export function caller(p: Principal): string {
  return p.kind === 'admin' ? 'admin' : `key:${p.keyId}`;
}
