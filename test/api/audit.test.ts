import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant, TEST_ADMIN_KEY, type TestGateway } from '../support/gateway.ts';
import { Customers, newWaId } from '../conversation/customers.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';

describe('GET /api/audit: operator actions', () => {
  let h: PipelineHarness;
  let gw: TestGateway;
  let a: Awaited<ReturnType<typeof provisionTenant>>;
  let b: Awaited<ReturnType<typeof provisionTenant>>;
  beforeAll(async () => {
    // Manual sends need the runner: a gateway that answers.
    h = await startPipeline();
    gw = h.gw;
    a = await provisionTenant(gw, { name: 'A' });
    b = await provisionTenant(gw, { name: 'B' });
  });
  afterAll(() => h?.close());

  const actions = async (query: string, key: string = TEST_ADMIN_KEY) =>
    (await api(gw, 'GET', `/api/audit${query}`, undefined, key)).body.items.map((e: any) => e.action);

  it('records who did what, when, on what: creation, settings, keys, pause, resume, manual send, disable, enable; never a secret or a text', async () => {
    const wa = newWaId();
    await new Customers(gw.url, a.phoneNumberId).say(wa, 'hi');
    const conv = await eventually(async () => (await api(gw, 'GET', '/api/conversations', undefined, a.key)).body.items[0], 10_000, 'the conversation');

    expect((await api(gw, 'PATCH', '/api/settings', { agent: { systemPrompt: 'Be brief', apiKey: 'sk-very-secret' } }, a.key)).status).toBe(200);
    const key = await api(gw, 'POST', `/api/tenants/${a.tenant.id}/api-keys`, undefined, a.key);
    expect((await api(gw, 'DELETE', `/api/api-keys/${key.body.id}`)).status).toBe(200);
    expect((await api(gw, 'POST', `/api/conversations/${conv.id}/pause`, {}, a.key)).status).toBe(200);
    expect((await api(gw, 'POST', `/api/conversations/${conv.id}/resume`, undefined, a.key)).status).toBe(200);
    expect((await api(gw, 'POST', `/api/conversations/${conv.id}/messages`, { text: 'a private operator text' }, a.key)).status).toBe(201);
    expect((await api(gw, 'POST', `/api/tenants/${a.tenant.id}/disable`)).status).toBe(200);
    expect((await api(gw, 'POST', `/api/tenants/${a.tenant.id}/enable`)).status).toBe(200);

    const all = await api(gw, 'GET', `/api/audit?tenantId=${a.tenant.id}`);
    expect(all.status).toBe(200);
    expect(all.body.items.map((e: any) => e.action)).toEqual([
      'tenant.enabled',
      'tenant.disabled',
      'message.sent_by_operator',
      'conversation.resumed',
      'conversation.paused',
      'api_key.revoked',
      'api_key.created',
      'settings.changed',
      'api_key.created',
      'channel.added',
      'tenant.created',
    ]);
    const text = JSON.stringify(all.body);
    expect(text).not.toContain('sk-very-secret');
    expect(text).not.toContain('a private operator text');
    expect(text).not.toContain(wa);
    const byAction = (name: string) => all.body.items.find((e: any) => e.action === name);
    expect(byAction('settings.changed')).toMatchObject({ actor: 'tenant_key', actorKeyId: expect.any(String), via: 'api', detail: { fields: ['agent.systemPrompt', 'agent.apiKey'] } });
    expect(byAction('conversation.paused')).toMatchObject({ tenantId: a.tenant.id, actor: 'tenant_key', target: { type: 'conversation', id: conv.id } });
    expect(byAction('tenant.disabled')).toMatchObject({ actor: 'admin', actorKeyId: null, via: 'api', createdAt: expect.any(String) });
  });

  it('a tenant key sees its own tenant only; the admin sees every tenant; pages by cursor', async () => {
    expect(await actions('', b.key)).toEqual(['api_key.created', 'channel.added', 'tenant.created']);
    expect((await api(gw, 'GET', `/api/audit?tenantId=${a.tenant.id}`, undefined, b.key)).status).toBe(404);
    const tenants = new Set((await api(gw, 'GET', '/api/audit?limit=200')).body.items.map((e: any) => e.tenantId));
    expect(tenants).toEqual(new Set([a.tenant.id, b.tenant.id]));

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await api(gw, 'GET', `/api/audit?limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body.items.length).toBeLessThanOrEqual(4);
      seen.push(...page.body.items.map((e: any) => e.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    const whole = (await api(gw, 'GET', '/api/audit?limit=200')).body.items.map((e: any) => e.id);
    expect(seen).toEqual(whole);
    expect((await api(gw, 'GET', '/api/audit?cursor=nonsense')).status).toBe(400);
    expect((await api(gw, 'GET', '/api/audit', undefined, null)).status).toBe(401);
  });
});
