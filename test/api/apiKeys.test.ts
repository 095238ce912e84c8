import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/shared/secrets.ts';
import { sqlClient } from '../support/db.ts';
import { api, provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';

const errorBody = (code: string) => ({ error: { code, message: expect.any(String) } });

describe('tenant keys: list, create, revoke (API)', () => {
  let gw: TestGateway;
  let client: pg.Client;
  let a: Awaited<ReturnType<typeof provisionTenant>>;
  let b: Awaited<ReturnType<typeof provisionTenant>>;
  beforeAll(async () => {
    gw = await startTestGateway();
    client = await sqlClient(gw.dbUrl);
    a = await provisionTenant(gw, { name: 'A' });
    b = await provisionTenant(gw, { name: 'B' });
  });
  afterAll(async () => {
    await client?.end();
    await gw?.stop();
  });
  const keyCount = async () => (await client.query('SELECT count(*)::int AS n FROM api_keys WHERE revoked_at IS NULL')).rows[0].n as number;

  it('lists a tenant\'s keys for the admin and for the tenant itself: id, prefix, times; never the key or its hash', async () => {
    for (const key of [undefined, a.key]) {
      const r = await api(gw, 'GET', `/api/tenants/${a.tenant.id}/api-keys`, undefined, key);
      expect(r.status).toBe(200);
      expect(r.body.items).toHaveLength(1);
      const [item] = r.body.items;
      expect(Object.keys(item).sort()).toEqual(['createdAt', 'id', 'lastUsedAt', 'prefix', 'revokedAt', 'tenantId']);
      expect(item).toMatchObject({ id: expect.stringMatching(/^\d+$/), tenantId: a.tenant.id, prefix: a.key.slice(0, 8), createdAt: expect.any(String), revokedAt: null });
      const text = JSON.stringify(r.body);
      expect(text).not.toContain(a.key);
      expect(text).not.toContain(hashKey(a.key));
    }
  });

  it('records when a key was last used, without a write per request', async () => {
    const { key } = (await api(gw, 'POST', `/api/tenants/${a.tenant.id}/api-keys`)).body;
    const listed = async () => (await api(gw, 'GET', `/api/tenants/${a.tenant.id}/api-keys`)).body.items.find((k: any) => k.prefix === key.slice(0, 8));
    expect((await listed()).lastUsedAt).toBeNull();
    expect((await api(gw, 'GET', '/api/usage', undefined, key)).status).toBe(200);
    await expect.poll(async () => (await listed()).lastUsedAt, { timeout: 10_000 }).not.toBeNull();
    const first = (await listed()).lastUsedAt;
    for (let i = 0; i < 3; i++) expect((await api(gw, 'GET', '/api/usage', undefined, key)).status).toBe(200);
    // Within the minute nothing more is written.
    expect((await listed()).lastUsedAt).toBe(first);
  });

  it("another tenant's key list, and creating a key under another tenant, answer 404 and create nothing", async () => {
    const before = await keyCount();
    const list = await api(gw, 'GET', `/api/tenants/${b.tenant.id}/api-keys`, undefined, a.key);
    expect(list.status).toBe(404);
    expect(list.body).toEqual(errorBody('not_found'));
    const create = await api(gw, 'POST', `/api/tenants/${b.tenant.id}/api-keys`, undefined, a.key);
    expect(create.status).toBe(404);
    expect(await keyCount()).toBe(before);
    expect((await api(gw, 'GET', '/api/tenants/999999/api-keys')).status).toBe(404);
  });

  it('a tenant creates a key for itself (shown once), which works at once', async () => {
    const r = await api(gw, 'POST', `/api/tenants/${b.tenant.id}/api-keys`, undefined, b.key);
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ id: expect.stringMatching(/^\d+$/), key: expect.stringMatching(/^wgk_/) });
    expect((await api(gw, 'GET', '/api/usage', undefined, r.body.key)).status).toBe(200);
    const listed = (await api(gw, 'GET', `/api/tenants/${b.tenant.id}/api-keys`, undefined, b.key)).body.items;
    expect(listed.map((k: any) => k.id)).toContain(r.body.id);
    expect(JSON.stringify(listed)).not.toContain(r.body.key);
  });

  it('a tenant revokes its own key: refused at once; revoking again changes nothing', async () => {
    const spare = (await api(gw, 'POST', `/api/tenants/${a.tenant.id}/api-keys`)).body;
    expect((await api(gw, 'GET', '/api/usage', undefined, spare.key)).status).toBe(200);
    const r = await api(gw, 'DELETE', `/api/api-keys/${spare.id}`, undefined, a.key);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: spare.id, tenantId: a.tenant.id, revokedAt: expect.any(String) });
    const refused = await api(gw, 'GET', '/api/usage', undefined, spare.key);
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual(errorBody('unauthorized'));
    const again = await api(gw, 'DELETE', `/api/api-keys/${spare.id}`, undefined, a.key);
    expect(again.status).toBe(200);
    expect(again.body.revokedAt).toBe(r.body.revokedAt);
    // The tenant's own key still works.
    expect((await api(gw, 'GET', '/api/usage', undefined, a.key)).status).toBe(200);
  });

  it("another tenant's key id answers 404 and the key keeps working; the admin revokes any key", async () => {
    const bSpare = (await api(gw, 'POST', `/api/tenants/${b.tenant.id}/api-keys`)).body;
    const cross = await api(gw, 'DELETE', `/api/api-keys/${bSpare.id}`, undefined, a.key);
    expect(cross.status).toBe(404);
    expect(cross.body).toEqual(errorBody('not_found'));
    expect((await api(gw, 'GET', '/api/usage', undefined, bSpare.key)).status).toBe(200);
    const [row] = (await client.query('SELECT revoked_at FROM api_keys WHERE id = $1', [bSpare.id])).rows;
    expect(row.revoked_at).toBeNull();
    for (const id of ['999999', 'abc', '1.5']) expect((await api(gw, 'DELETE', `/api/api-keys/${id}`, undefined, a.key)).status).toBe(404);
    expect((await api(gw, 'DELETE', `/api/api-keys/${bSpare.id}`)).status).toBe(200);
    expect((await api(gw, 'GET', '/api/usage', undefined, bSpare.key)).status).toBe(401);
  });
});
