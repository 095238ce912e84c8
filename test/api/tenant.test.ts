import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { startApiGateway, type ApiHarness } from './harness.ts';

describe('GET /api/usage and /api/settings', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiGateway();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("usage: this month's agent answers against the limit", async () => {
    const t = await provisionTenant(h.gw, { monthlyMessageLimit: 50, agent: { provider: 'demo' } });
    const month = new Date().toISOString().slice(0, 7);
    expect((await api(h.gw, 'GET', '/api/usage', undefined, t.key)).body).toEqual({ month, count: 0, limit: 50 });
    await postWebhook(h.gw.url, textNotification(t.phoneNumberId, '15556660001', 'hello').body);
    await postWebhook(h.gw.url, textNotification(t.phoneNumberId, '15556660002', 'hello').body);
    await eventually(async () => (await api(h.gw, 'GET', '/api/usage', undefined, t.key)).body.count === 2);
    // The admin key names the tenant.
    expect((await api(h.gw, 'GET', `/api/usage?tenantId=${t.tenant.id}`)).body).toEqual({ month, count: 2, limit: 50 });
    const noTenant = await api(h.gw, 'GET', '/api/usage');
    expect(noTenant.status).toBe(400);
    expect(noTenant.body.error.message).toMatch(/tenantId/);
    expect((await api(h.gw, 'GET', '/api/usage?tenantId=77777777')).status).toBe(404);
  });

  it('usage of an unlimited tenant has limit null', async () => {
    const t = await provisionTenant(h.gw, { monthlyMessageLimit: null });
    expect((await api(h.gw, 'GET', '/api/usage', undefined, t.key)).body.limit).toBeNull();
  });

  it('settings: the tenant reads and changes its agent configuration, handoff keywords and resume timer', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    const got = await api(h.gw, 'GET', '/api/settings', undefined, t.key);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: t.tenant.id, name: 'Acme', agent: { provider: 'demo', coalesce: 'restart', debounceMs: 0, hasApiKey: false } });
    const patch = {
      agent: {
        model: 'gpt-4o-mini',
        systemPrompt: 'You are Zed, the bike wizard. Be brief.',
        coalesce: 'queue',
        debounceMs: 800,
        maxDebounceMs: 3000,
        handoffKeywords: ['human', 'manager'],
        resumeAfterMinutes: 45,
        apiKey: 'sk-secret-never-shown',
      },
    };
    const p = await api(h.gw, 'PATCH', '/api/settings', patch, t.key);
    expect(p.status).toBe(200);
    const { apiKey: _secret, ...shown } = patch.agent;
    expect(p.body).toMatchObject({ monthlyMessageLimit: null, agent: { ...shown, hasApiKey: true } });
    expect(p.body.agent).not.toHaveProperty('apiKey');
    expect(JSON.stringify(p.body)).not.toContain('sk-secret-never-shown');
    expect((await api(h.gw, 'GET', '/api/settings', undefined, t.key)).body).toEqual(p.body);
    // Fields left out keep their value; null clears the nullable ones.
    const q = await api(h.gw, 'PATCH', '/api/settings', { agent: { resumeAfterMinutes: null } }, t.key);
    expect(q.body.agent).toMatchObject({ resumeAfterMinutes: null, systemPrompt: patch.agent.systemPrompt, coalesce: 'queue' });
  });

  it('the new system prompt reaches the agent at the next turn', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'demo', systemPrompt: 'You are Ava. Be nice.' } });
    await api(h.gw, 'PATCH', '/api/settings', { agent: { systemPrompt: 'You are Zed, the bike wizard. Be brief.' } }, t.key);
    const sent = h.cloud.once('send', (s) => s.to === '15556660009');
    await postWebhook(h.gw.url, textNotification(t.phoneNumberId, '15556660009', 'hello').body);
    expect((await sent).body).toContain('You are Zed, the bike wizard.');
  });

  it('performance metrics for the dashboard: the admin key only', async () => {
    const t = await provisionTenant(h.gw);
    const admin = await api(h.gw, 'GET', '/api/performance');
    expect(admin.status).toBe(200);
    expect(admin.body).toHaveProperty('avg_message_processing_time.last_5_minutes');
    expect(admin.body).toHaveProperty('database_connection_count.opened_since_start');
    const tenant = await api(h.gw, 'GET', '/api/performance', undefined, t.key);
    expect(tenant.status).toBe(403);
    expect(tenant.body.error.code).toBe('forbidden');
  });

  it('settings answer 400 naming the field for invalid values, and for the admin key without tenantId', async () => {
    const t = await provisionTenant(h.gw);
    for (const [body, field] of [
      [{ agent: { coalesce: 'merge' } }, 'agent.coalesce'],
      [{ agent: { debounceMs: -1 } }, 'agent.debounceMs'],
      [{ agent: { handoffKeywords: 'human' } }, 'agent.handoffKeywords'],
      [{ agent: { resumeAfterMinutes: 0 } }, 'agent.resumeAfterMinutes'],
      [{ monthlyMessageLimit: -5 }, 'monthlyMessageLimit'],
      [{ plan: 'gold' }, 'body'],
    ] as const) {
      const r = await api(h.gw, 'PATCH', '/api/settings', body, t.key);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.message.startsWith(field === 'body' ? '' : field), r.body.error.message).toBe(true);
    }
    expect((await api(h.gw, 'GET', '/api/settings')).status).toBe(400);
    expect((await api(h.gw, 'GET', `/api/settings?tenantId=${t.tenant.id}`)).status).toBe(200);
  });
});
