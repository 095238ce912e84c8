import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant, startTestGateway, TEST_ADMIN_KEY, TEST_SECRET_KEY, type TestGateway } from '../support/gateway.ts';
import { sqlClient } from '../support/db.ts';
import { decrypt } from '../../src/shared/secrets.ts';

const errorBody = (code: string) => ({ error: { code, message: expect.any(String) } });

describe('admin provisioning API: tenants, channels, keys', () => {
  let gw: TestGateway;
  let a: Awaited<ReturnType<typeof provisionTenant>>;
  let b: Awaited<ReturnType<typeof provisionTenant>>;

  beforeAll(async () => {
    gw = await startTestGateway();
    a = await provisionTenant(gw, { name: 'Tenant A' });
    b = await provisionTenant(gw, { name: 'Tenant B' });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  const count = async (table: string) => {
    const c = await sqlClient(gw.dbUrl);
    try {
      return (await c.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number;
    } finally {
      await c.end();
    }
  };

  it('creates a tenant with 201, its limit and its agent configuration with defaults', async () => {
    const res = await api(gw, 'POST', '/api/tenants', {
      name: 'Pizzeria',
      monthlyMessageLimit: 500,
      agent: { provider: 'openai', model: 'gpt-4o-mini', apiKey: 'sk-own', historyLength: 10 },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^\d+$/),
      name: 'Pizzeria',
      monthlyMessageLimit: 500,
      agent: { provider: 'openai', model: 'gpt-4o-mini', historyLength: 10, timeoutMs: 30_000, coalesce: 'restart', hasApiKey: true },
    });
    expect(JSON.stringify(res.body)).not.toContain('sk-own');
  });

  it('adds a channel and answers its public shape, never the token or secrets', async () => {
    const t = await api(gw, 'POST', '/api/tenants', { name: 'Channel owner' });
    const res = await api(gw, 'POST', `/api/tenants/${t.body.id}/channels`, {
      phoneNumberId: '106540352242922',
      displayPhoneNumber: '+1 555 0199',
      accessToken: 'EAAG-secret-token',
      appSecret: 'own-app-secret',
      verifyToken: 'own-verify',
      messagesPerSecond: 250,
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.stringMatching(/^\d+$/), tenantId: t.body.id, phoneNumberId: '106540352242922', displayPhoneNumber: '+1 555 0199', messagesPerSecond: 250, wabaId: null });
    const c = await sqlClient(gw.dbUrl);
    try {
      const [row] = (await c.query('SELECT access_token_enc, app_secret_enc FROM channels WHERE id = $1', [res.body.id])).rows;
      expect(row.access_token_enc).not.toContain('EAAG');
      expect(decrypt(Buffer.from(TEST_SECRET_KEY, 'hex'), row.access_token_enc)).toBe('EAAG-secret-token');
      expect(decrypt(Buffer.from(TEST_SECRET_KEY, 'hex'), row.app_secret_enc)).toBe('own-app-secret');
    } finally {
      await c.end();
    }
  });

  it('answers 409 to a phone_number_id that already has a channel', async () => {
    const res = await api(gw, 'POST', `/api/tenants/${b.tenant.id}/channels`, { phoneNumberId: a.phoneNumberId, displayPhoneNumber: '+1', accessToken: 't' });
    expect(res.status).toBe(409);
    expect(res.body).toEqual(errorBody('phone_number_taken'));
  });

  it('creates a tenant key shown once, prefixed wgk_, stored only as a hash', async () => {
    const res = await api(gw, 'POST', `/api/tenants/${a.tenant.id}/api-keys`);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.stringMatching(/^\d+$/), key: expect.stringMatching(/^wgk_[A-Za-z0-9_-]{32}$/) });
    const c = await sqlClient(gw.dbUrl);
    try {
      const stored = JSON.stringify((await c.query('SELECT * FROM api_keys WHERE id = $1', [res.body.id])).rows[0]);
      expect(stored).not.toContain(res.body.key);
    } finally {
      await c.end();
    }
    // The new key works for its own tenant.
    expect((await api(gw, 'GET', `/api/tenants/${a.tenant.id}`, undefined, res.body.key)).status).toBe(200);
  });

  it("lets a tenant key read and patch its own tenant's agent; the admin key sets its limit", async () => {
    const res = await api(gw, 'PATCH', `/api/tenants/${a.tenant.id}`, { agent: { systemPrompt: 'Be kind.' } }, a.key);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: a.tenant.id, monthlyMessageLimit: null, agent: { systemPrompt: 'Be kind.', provider: 'demo' } });
    expect((await api(gw, 'GET', `/api/tenants/${a.tenant.id}`, undefined, a.key)).body).toEqual(res.body);
    const limited = await api(gw, 'PATCH', `/api/tenants/${a.tenant.id}`, { monthlyMessageLimit: 42 });
    expect(limited.body.monthlyMessageLimit).toBe(42);
    const unlimited = await api(gw, 'PATCH', `/api/tenants/${a.tenant.id}`, { monthlyMessageLimit: null });
    expect(unlimited.body.monthlyMessageLimit).toBeNull();
    expect(unlimited.body.agent.systemPrompt).toBe('Be kind.');
  });

  it("answers 404 when tenant A's key reads or patches tenant B", async () => {
    const get = await api(gw, 'GET', `/api/tenants/${b.tenant.id}`, undefined, a.key);
    expect(get.status).toBe(404);
    expect(get.body).toEqual(errorBody('not_found'));
    const patch = await api(gw, 'PATCH', `/api/tenants/${b.tenant.id}`, { monthlyMessageLimit: 1 }, a.key);
    expect(patch.status).toBe(404);
    expect(patch.body).toEqual(errorBody('not_found'));
    const after = await api(gw, 'GET', `/api/tenants/${b.tenant.id}`);
    expect(after.body.monthlyMessageLimit).toBeNull();
  });

  it("answers 404 when tenant A's key adds a channel or a key under tenant B, and creates nothing", async () => {
    const channels = await count('channels');
    const keys = await count('api_keys');
    const ch = await api(gw, 'POST', `/api/tenants/${b.tenant.id}/channels`, { phoneNumberId: 'pn-smuggled', displayPhoneNumber: '+1', accessToken: 't' }, a.key);
    expect(ch.status).toBe(404);
    expect(ch.body).toEqual(errorBody('not_found'));
    const key = await api(gw, 'POST', `/api/tenants/${b.tenant.id}/api-keys`, undefined, a.key);
    expect(key.status).toBe(404);
    expect(key.body).toEqual(errorBody('not_found'));
    expect(await count('channels')).toBe(channels);
    expect(await count('api_keys')).toBe(keys);
  });

  it('answers 403 when a tenant key adds channels even to its own tenant', async () => {
    const ch = await api(gw, 'POST', `/api/tenants/${a.tenant.id}/channels`, { phoneNumberId: 'pn-self', displayPhoneNumber: '+1', accessToken: 't' }, a.key);
    expect(ch.status).toBe(403);
    expect(ch.body).toEqual(errorBody('forbidden'));
  });

  it('answers 403 when a tenant key creates a tenant', async () => {
    const tenants = await count('tenants');
    const res = await api(gw, 'POST', '/api/tenants', { name: 'Usurper' }, a.key);
    expect(res.status).toBe(403);
    expect(res.body).toEqual(errorBody('forbidden'));
    expect(await count('tenants')).toBe(tenants);
  });

  it('answers 401 without a key, with an unknown key and with a malformed header', async () => {
    for (const key of [null, 'wgk_not-a-real-key-at-all-000000000', TEST_ADMIN_KEY + 'x']) {
      const res = await api(gw, 'POST', '/api/tenants', { name: 'Nobody' }, key);
      expect(res.status).toBe(401);
      expect(res.body).toEqual(errorBody('unauthorized'));
    }
    const res = await fetch(gw.url + '/api/tenants', { method: 'POST', headers: { authorization: `Basic ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' }, body: '{"name":"x"}' });
    expect(res.status).toBe(401);
  });

  it('answers 400 with the field in the message to invalid input, and creates nothing', async () => {
    const tenants = await count('tenants');
    const cases: [string, string, unknown, string][] = [
      ['POST', '/api/tenants', {}, 'name'],
      ['POST', '/api/tenants', { name: '   ' }, 'name'],
      ['POST', '/api/tenants', { name: 'x', monthlyMessageLimit: -1 }, 'monthlyMessageLimit'],
      ['POST', '/api/tenants', { name: 'x', monthlyMessageLimit: 1.5 }, 'monthlyMessageLimit'],
      ['POST', '/api/tenants', { name: 'x', agent: { provider: 'skynet' } }, 'agent.provider'],
      ['POST', '/api/tenants', { name: 'x', agent: { timeoutMs: 1 } }, 'agent.timeoutMs'],
      ['POST', '/api/tenants', { name: 'x', surprise: true }, 'surprise'],
      ['POST', `/api/tenants/${a.tenant.id}/channels`, { displayPhoneNumber: '+1', accessToken: 't' }, 'phoneNumberId'],
      ['POST', `/api/tenants/${a.tenant.id}/channels`, { phoneNumberId: 'has spaces', displayPhoneNumber: '+1', accessToken: 't' }, 'phoneNumberId'],
      ['POST', `/api/tenants/${a.tenant.id}/channels`, { phoneNumberId: 'pn-x', displayPhoneNumber: '+1', accessToken: 't', messagesPerSecond: 0 }, 'messagesPerSecond'],
      ['PATCH', `/api/tenants/${a.tenant.id}`, { agent: { coalesce: 'sometimes' } }, 'agent.coalesce'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await api(gw, method, path, body);
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body).toEqual(errorBody('invalid_request'));
      expect(res.body.error.message).toContain(field);
    }
    expect(await count('tenants')).toBe(tenants);
  });

  it('answers 400 with a JSON error to a body that is not JSON', async () => {
    const res = await fetch(gw.url + '/api/tenants', { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' }, body: '{"name":' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
  });

  it('answers 404 for a tenant that does not exist or a malformed id', async () => {
    for (const id of ['999999999', 'abc', '1;DROP']) {
      const ch = await api(gw, 'POST', `/api/tenants/${encodeURIComponent(id)}/channels`, { phoneNumberId: 'pn-ghost', displayPhoneNumber: '+1', accessToken: 't' });
      expect(ch.status).toBe(404);
      expect(ch.body).toEqual(errorBody('not_found'));
      expect((await api(gw, 'POST', `/api/tenants/${encodeURIComponent(id)}/api-keys`)).status).toBe(404);
      expect((await api(gw, 'PATCH', `/api/tenants/${encodeURIComponent(id)}`, { name: 'x' })).status).toBe(404);
    }
  });
});
