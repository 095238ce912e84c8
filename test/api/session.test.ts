import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGN_IN_MAX_FAILURES } from '../../src/api/session.routes.ts';
import { hashKey } from '../../src/shared/secrets.ts';
import { sqlClient } from '../support/db.ts';
import { api, TEST_ADMIN_KEY } from '../support/gateway.ts';
import { startApiGateway, tenantWithConversation, type ApiHarness } from './harness.ts';

/** A request with full control of the headers a browser would send. */
async function raw(base: string, method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

describe('dashboard sessions: POST/GET/DELETE /api/session', () => {
  let h: ApiHarness;
  let origin: string;
  beforeAll(async () => {
    h = await startApiGateway();
    origin = h.gw.url;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('signs in with a tenant key: an httpOnly, SameSite=Strict cookie that the API accepts', async () => {
    const t = await tenantWithConversation(h.gw);
    const r = await raw(origin, 'POST', '/api/session', { origin }, { key: t.key });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ kind: 'tenant', tenantId: t.tenant.id, tenantName: 'Acme' });
    const setCookie = r.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^wagate_session=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Path=\//);
    const cookie = setCookie.split(';')[0];

    expect((await raw(origin, 'GET', '/api/session', { cookie })).body).toEqual(r.body);
    const list = await raw(origin, 'GET', '/api/conversations', { cookie });
    expect(list.status).toBe(200);
    expect(list.body.items.map((c: any) => c.id)).toEqual([t.conversationId]);
  });

  it('behind a proxy that terminates TLS the cookie is Secure', async () => {
    const t = await tenantWithConversation(h.gw);
    const r = await raw(origin, 'POST', '/api/session', { origin, 'x-forwarded-proto': 'https' }, { key: t.key });
    expect(r.status).toBe(200);
    expect(r.headers.get('set-cookie')).toMatch(/^wagate_session=[^,]*; Secure/i);
  });

  it('the admin key signs in as admin', async () => {
    const r = await raw(origin, 'POST', '/api/session', { origin }, { key: TEST_ADMIN_KEY });
    expect(r.body).toEqual({ kind: 'admin', tenantId: null, tenantName: null });
  });

  it('refuses state-changing cookie requests that do not come from a page of this site', async () => {
    const t = await tenantWithConversation(h.gw);
    const signedIn = await raw(origin, 'POST', '/api/session', { origin }, { key: t.key });
    const cookie = signedIn.headers.get('set-cookie')!.split(';')[0];
    const path = `/api/conversations/${t.conversationId}/pause`;
    const attempts: Record<string, string>[] = [{ cookie }, { cookie, origin: 'https://evil.example' }, { cookie, origin: 'null' }, { cookie, referer: 'http://attacker.test/page' }];
    for (const headers of attempts) {
      const r = await raw(origin, 'POST', path, headers, {});
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(r.body.error.code).toBe('cross_site_request');
    }
    expect((await api(h.gw, 'GET', `/api/conversations/${t.conversationId}`, undefined, t.key)).body.paused).toBe(false);
    // From the dashboard's own origin it works; reads are not affected; a bearer key is not a cookie.
    expect((await raw(origin, 'POST', path, { cookie, origin }, {})).status).toBe(200);
    expect((await raw(origin, 'GET', `/api/conversations/${t.conversationId}`, { cookie, origin: 'https://evil.example' })).status).toBe(200);
    expect((await raw(origin, 'POST', `/api/conversations/${t.conversationId}/resume`, { authorization: `Bearer ${t.key}`, origin: 'https://evil.example' })).status).toBe(200);
  });

  it('refuses a sign-in posted from another site', async () => {
    const t = await tenantWithConversation(h.gw);
    const r = await raw(origin, 'POST', '/api/session', { origin: 'https://evil.example' }, { key: t.key });
    expect(r.status).toBe(403);
    expect(r.headers.get('set-cookie')).toBeNull();
  });

  it('a wrong key is 401 and sets no cookie; a bad body is 400', async () => {
    const r = await raw(origin, 'POST', '/api/session', { origin }, { key: 'wgk_wrong' });
    expect(r.status).toBe(401);
    expect(r.headers.get('set-cookie')).toBeNull();
    for (const body of [{}, { key: '' }, { key: 12 }, { key: 'x', remember: true }]) {
      expect((await raw(origin, 'POST', '/api/session', { origin }, body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await raw(origin, 'POST', '/api/session', { origin })).status).toBe(400);
  });

  it('sign-out clears the cookie', async () => {
    const r = await raw(origin, 'DELETE', '/api/session', { origin });
    expect(r.status).toBe(204);
    expect(r.headers.get('set-cookie')).toMatch(/^wagate_session=;.*(Expires=Thu, 01 Jan 1970|Max-Age=0)/i);
  });

  it('API responses carry nosniff, no-store and a deny-all CSP', async () => {
    const t = await tenantWithConversation(h.gw);
    const r = await raw(origin, 'GET', '/api/conversations', { authorization: `Bearer ${t.key}` });
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(r.headers.get('x-frame-options')).toBe('DENY');
    // Errors too.
    const e = await raw(origin, 'GET', '/api/conversations', {});
    expect(e.status).toBe(401);
    expect(e.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('failed sign-ins are rate-limited per IP', () => {
  it(`after ${SIGN_IN_MAX_FAILURES} failures: 429 with Retry-After, even for a right key`, async () => {
    const h = await startApiGateway();
    try {
      const t = await tenantWithConversation(h.gw);
      const origin = h.gw.url;
      for (let i = 0; i < SIGN_IN_MAX_FAILURES; i++) {
        expect((await raw(origin, 'POST', '/api/session', { origin }, { key: `wgk_guess_${i}` })).status).toBe(401);
      }
      for (const key of ['wgk_guess_more', t.key]) {
        const r = await raw(origin, 'POST', '/api/session', { origin }, { key });
        expect(r.status).toBe(429);
        expect(r.body.error.code).toBe('too_many_attempts');
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(r.headers.get('set-cookie')).toBeNull();
      }
      // Bearer keys keep working: the limit is on sign-in.
      expect((await api(h.gw, 'GET', '/api/conversations', undefined, t.key)).status).toBe(200);
    } finally {
      await h.close();
    }
  });
});

describe('server-side sessions: the cookie holds a session, not the key', () => {
  let h: ApiHarness;
  let origin: string;
  let client: pg.Client;
  beforeAll(async () => {
    h = await startApiGateway();
    origin = h.gw.url;
    client = await sqlClient(h.gw.dbUrl);
  });
  afterAll(async () => {
    await client?.end();
    await h?.close();
  });
  const signIn = async (key: string) => {
    const r = await raw(origin, 'POST', '/api/session', { origin }, { key });
    expect(r.status).toBe(200);
    const cookie = r.headers.get('set-cookie')!.split(';')[0];
    return { cookie, token: cookie.slice('wagate_session='.length) };
  };
  const usage = async (cookie: string) => raw(origin, 'GET', '/api/usage', { cookie });

  it('the cookie is a random token (256 bits) unrelated to the key, stored only hashed', async () => {
    const t = await tenantWithConversation(h.gw);
    const { token } = await signIn(t.key);
    const second = await signIn(t.key);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(second.token).not.toBe(token);
    for (const derived of [t.key, hashKey(t.key), Buffer.from(t.key).toString('base64url'), t.key.slice(4)]) {
      expect(token).not.toBe(derived);
      expect(token).not.toContain(t.key.slice(4, 20));
    }
    const rows = (await client.query('SELECT token_hash, api_key_id, tenant_id, expires_at FROM sessions')).rows;
    expect(rows.some((r) => r.token_hash === token)).toBe(false);
    const row = rows.find((r) => r.token_hash === hashKey(token));
    expect(row).toMatchObject({ tenant_id: t.tenant.id });
    const hours = (row.expires_at.getTime() - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(11.9);
    expect(hours).toBeLessThanOrEqual(12);
    // The key itself is not a session.
    expect((await usage(`wagate_session=${t.key}`)).status).toBe(401);
  });

  it('after sign-out a copy of the cookie is refused', async () => {
    const t = await tenantWithConversation(h.gw);
    const { cookie, token } = await signIn(t.key);
    expect((await usage(cookie)).status).toBe(200);
    expect((await raw(origin, 'DELETE', '/api/session', { cookie, origin })).status).toBe(204);
    const r = await usage(cookie);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('unauthorized');
    expect((await client.query('SELECT 1 FROM sessions WHERE token_hash = $1', [hashKey(token)])).rowCount).toBe(0);
  });

  it("revoking the key ends the sessions opened with it", async () => {
    const t = await tenantWithConversation(h.gw);
    const spare = (await api(h.gw, 'POST', `/api/tenants/${t.tenant.id}/api-keys`)).body;
    const { cookie } = await signIn(spare.key);
    expect((await usage(cookie)).status).toBe(200);
    // Revoked through the session itself: the dashboard's own Keys section.
    expect((await raw(origin, 'DELETE', `/api/api-keys/${spare.id}`, { cookie, origin })).status).toBe(200);
    expect((await usage(cookie)).status).toBe(401);
    expect((await client.query('SELECT 1 FROM sessions WHERE api_key_id = $1', [spare.id])).rowCount).toBe(0);
    expect((await api(h.gw, 'GET', '/api/usage', undefined, t.key)).status).toBe(200);
  });

  it('an expired session is refused and deleted', async () => {
    const t = await tenantWithConversation(h.gw);
    const { cookie, token } = await signIn(t.key);
    await client.query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1", [hashKey(token)]);
    expect((await usage(cookie)).status).toBe(401);
    expect((await client.query('SELECT 1 FROM sessions WHERE token_hash = $1', [hashKey(token)])).rowCount).toBe(0);
  });

  it("an admin session changes a tenant (the dashboard's Tenants page) from this site only, recorded as through the dashboard", async () => {
    const t = await tenantWithConversation(h.gw);
    const { cookie } = await signIn(TEST_ADMIN_KEY);
    const path = `/api/tenants/${t.tenant.id}`;
    for (const headers of [{ cookie }, { cookie, origin: 'https://evil.example' }] as Record<string, string>[]) {
      const r = await raw(origin, 'PATCH', path, headers, { name: 'Renamed elsewhere' });
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(r.body.error.code).toBe('cross_site_request');
    }
    expect((await raw(origin, 'GET', path, { cookie })).body.name).toBe('Acme');
    const r = await raw(origin, 'PATCH', path, { cookie, origin }, { name: 'Acme Cycles', monthlyMessageLimit: 300 });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'Acme Cycles', monthlyMessageLimit: 300 });
    const audit = await api(h.gw, 'GET', `/api/audit?tenantId=${t.tenant.id}`);
    expect(audit.body.items[0]).toMatchObject({ action: 'settings.changed', actor: 'admin', via: 'dashboard', detail: { fields: ['name', 'monthlyMessageLimit'] } });
    // A tenant's own session may not rename it: 403, nothing changed.
    const own = await signIn(t.key);
    expect((await raw(origin, 'PATCH', path, { cookie: own.cookie, origin }, { name: 'Mine now' })).status).toBe(403);
    expect((await raw(origin, 'GET', path, { cookie })).body.name).toBe('Acme Cycles');
  });

  it('an admin session works, and ends with sign-out', async () => {
    const { cookie } = await signIn(TEST_ADMIN_KEY);
    expect((await raw(origin, 'GET', '/api/session', { cookie })).body).toEqual({ kind: 'admin', tenantId: null, tenantName: null });
    expect((await raw(origin, 'DELETE', '/api/session', { cookie, origin })).status).toBe(204);
    expect((await raw(origin, 'GET', '/api/session', { cookie })).status).toBe(401);
  });
});
