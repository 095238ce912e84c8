import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { sqlClient } from '../support/db.ts';
import { ToolServer } from './toolServer.ts';

const schema = { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] };

describe('tools API', () => {
  let gw: TestGateway;
  let tool: ToolServer;
  let a: Awaited<ReturnType<typeof provisionTenant>>;
  let b: Awaited<ReturnType<typeof provisionTenant>>;
  beforeAll(async () => {
    tool = await ToolServer.start('s3cret');
    gw = await startTestGateway({ env: { WAGATE_EGRESS_ALLOW: tool.host } });
    a = await provisionTenant(gw, { name: 'A' });
    b = await provisionTenant(gw, { name: 'B' });
  });
  afterAll(async () => {
    await gw?.stop();
    await tool?.close();
  });

  const create = (key: string, body: Record<string, unknown>) => api(gw, 'POST', '/api/tools', body, key);
  const valid = (extra: Record<string, unknown> = {}) => ({ name: 'order_status', description: 'Looks up an order', parameters: schema, url: tool.url + '/order', secret: 'tool-secret', ...extra });

  it('creates, lists, reads, changes and deletes a tool; the secret is never shown and is stored encrypted', async () => {
    const c = await create(a.key, valid());
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ name: 'order_status', tenantId: a.tenant.id, hasSecret: true, safeToRepeat: false, enabled: true, timeoutMs: 10000, parameters: schema });
    expect(JSON.stringify(c.body)).not.toContain('tool-secret');
    const client = await sqlClient(gw.dbUrl);
    try {
      const { rows } = await client.query('SELECT secret_enc FROM tools WHERE id = $1', [c.body.id]);
      expect(rows[0].secret_enc).toBeTruthy();
      expect(rows[0].secret_enc).not.toContain('tool-secret');
    } finally {
      await client.end();
    }
    expect((await api(gw, 'GET', '/api/tools', undefined, a.key)).body.items.map((t: any) => t.name)).toEqual(['order_status']);
    expect((await api(gw, 'GET', `/api/tools/${c.body.id}`, undefined, a.key)).body.id).toBe(c.body.id);
    const p = await api(gw, 'PATCH', `/api/tools/${c.body.id}`, { safeToRepeat: true, timeoutMs: 2000, enabled: false }, a.key);
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ safeToRepeat: true, timeoutMs: 2000, enabled: false, hasSecret: true });
    const d = await api(gw, 'DELETE', `/api/tools/${c.body.id}`, undefined, a.key);
    expect(d.status).toBe(200);
    expect((await api(gw, 'GET', `/api/tools/${c.body.id}`, undefined, a.key)).status).toBe(404);
  });

  it("a tenant key never sees or changes another tenant's tool (404); the admin acts with ?tenantId", async () => {
    const c = await create(a.key, valid({ name: 'a_only' }));
    expect(c.status).toBe(201);
    for (const [m, body] of [['GET', undefined], ['PATCH', { enabled: false }], ['DELETE', undefined]] as const) {
      expect((await api(gw, m, `/api/tools/${c.body.id}`, body, b.key)).status).toBe(404);
    }
    expect((await api(gw, 'GET', `/api/tools?tenantId=${a.tenant.id}`, undefined, b.key)).status).toBe(404);
    expect((await api(gw, 'GET', '/api/tools', undefined, b.key)).body.items).toEqual([]);
    expect((await api(gw, 'GET', '/api/tools')).status).toBe(400);
    const admin = await api(gw, 'POST', `/api/tools?tenantId=${b.tenant.id}`, valid({ name: 'by_admin' }));
    expect(admin.status).toBe(201);
    expect(admin.body.tenantId).toBe(b.tenant.id);
    expect((await api(gw, 'GET', `/api/tools/${c.body.id}`)).status).toBe(200);
  });

  it('bad input is a 400 (or 409) that changes nothing', async () => {
    const before = (await api(gw, 'GET', '/api/tools', undefined, a.key)).body.items.length;
    const cases: [Record<string, unknown>, number, string][] = [
      [valid({ name: 'bad name!' }), 400, 'invalid_request'],
      [valid({ name: 'x'.repeat(65) }), 400, 'invalid_request'],
      [valid({ name: 'handoff_to_human' }), 400, 'invalid_request'],
      [valid({ description: 'd'.repeat(1025) }), 400, 'invalid_request'],
      [valid({ parameters: { type: 'objec' } }), 400, 'invalid_schema'],
      [valid({ parameters: { type: 'object', required: 3 } }), 400, 'invalid_schema'],
      [valid({ parameters: { type: 'string' } }), 400, 'invalid_schema'],
      [valid({ parameters: { type: 'object', properties: { q: { type: 'string', pattern: '^(a+)+$' } } } }), 400, 'invalid_schema'],
      [valid({ parameters: { type: 'object', properties: { q: { $ref: 'https://example.com/remote.json' } } } }), 400, 'invalid_schema'],
      [valid({ url: 'http://127.0.0.1:9/x' }), 400, 'egress_refused'],
      [valid({ url: 'https://10.0.0.1/x' }), 400, 'egress_refused'],
      [valid({ url: 'ftp://example.com/x' }), 400, 'egress_refused'],
      [valid({ timeoutMs: 10 }), 400, 'invalid_request'],
      [valid({ extra: 1 }), 400, 'invalid_request'],
    ];
    for (const [body, status, code] of cases) {
      const r = await create(a.key, body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(r.body.error.code).toBe(code);
    }
    expect((await create(a.key, valid({ name: 'dup' }))).status).toBe(201);
    const dup = await create(a.key, valid({ name: 'dup' }));
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('tool_name_taken');
    const id = (await api(gw, 'GET', '/api/tools', undefined, a.key)).body.items.find((t: any) => t.name === 'dup').id;
    const bad = await api(gw, 'PATCH', `/api/tools/${id}`, { parameters: { type: 'object', properties: { x: { minimum: 'no' } } } }, a.key);
    expect(bad.status).toBe(400);
    expect((await api(gw, 'GET', `/api/tools/${id}`, undefined, a.key)).body.parameters).toEqual(schema);
    expect((await api(gw, 'GET', '/api/tools', undefined, a.key)).body.items.length).toBe(before + 1);
  });

  it('a tenant deletion removes its tools', async () => {
    const t = await provisionTenant(gw, { name: 'Gone' });
    expect((await create(t.key, valid({ name: 'doomed' }))).status).toBe(201);
    expect((await api(gw, 'DELETE', `/api/tenants/${t.tenant.id}`)).status).toBeLessThan(300);
    await gw.housekeeping.kick();
    const client = await sqlClient(gw.dbUrl);
    try {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM tools WHERE tenant_id = $1', [t.tenant.id]);
      expect(rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
  });
});
