import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { sqlClient } from '../support/db.ts';

const errorBody = (code: string) => ({ error: { code, message: expect.any(String) } });

/** The tenant's whole row, as stored: what a refused request must leave as it was. */
async function tenantRow(gw: TestGateway, id: string): Promise<Record<string, unknown>> {
  const c = await sqlClient(gw.dbUrl);
  try {
    return (await c.query('SELECT * FROM tenants WHERE id = $1', [id])).rows[0];
  } finally {
    await c.end();
  }
}

/** The two routes by which a tenant key changes its own tenant. */
const patchRoutes = (t: { tenant: { id: string } }) => ['/api/settings', `/api/tenants/${t.tenant.id}`];

describe('what a tenant may change, and what only the admin may (WAGATE_ALLOWED_MODELS=gpt-4o-mini,gpt-4o)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { OPENAI_API_KEY: 'sk-operator', WAGATE_ALLOWED_MODELS: 'gpt-4o-mini,gpt-4o', WAGATE_EGRESS_ALLOW: '127.0.0.1:11434' } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('a tenant key moving name, monthlyMessageLimit or any limit gets 403 naming the field, via both routes, and nothing changes', async () => {
    const t = await provisionTenant(gw, { name: 'Acme', monthlyMessageLimit: 1000 });
    const set = await api(gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { limits: { allowedModels: ['gpt-4o'], maxHistoryLength: 30, maxSystemPromptChars: 4000 } });
    expect(set.status).toBe(200);
    const before = await tenantRow(gw, t.tenant.id);
    const cases: [Record<string, unknown>, string][] = [
      [{ name: 'Acme Unlimited' }, 'name'],
      [{ monthlyMessageLimit: null }, 'monthlyMessageLimit'],
      [{ monthlyMessageLimit: 2_000_000_000 }, 'monthlyMessageLimit'],
      [{ limits: { allowedModels: ['o1-pro', 'gpt-4.5-preview'] } }, 'limits.allowedModels'],
      [{ limits: { allowedModels: null } }, 'limits.allowedModels'],
      [{ limits: { maxHistoryLength: 200 } }, 'limits.maxHistoryLength'],
      [{ limits: { maxHistoryLength: null } }, 'limits.maxHistoryLength'],
      [{ limits: { maxSystemPromptChars: 20_000 } }, 'limits.maxSystemPromptChars'],
    ];
    for (const path of patchRoutes(t)) {
      for (const [fields, field] of cases) {
        // Every request also asks for a change the tenant may make: it must not happen either.
        const body = { ...fields, agent: { systemPrompt: 'Smuggled along', historyLength: 5 } };
        const r = await api(gw, 'PATCH', path, body, t.key);
        expect(r.status, `${path} ${JSON.stringify(fields)}`).toBe(403);
        expect(r.body).toEqual(errorBody('forbidden'));
        expect(r.body.error.message).toContain(field);
      }
    }
    const both = await api(gw, 'PATCH', '/api/settings', { name: 'X', monthlyMessageLimit: 5 }, t.key);
    expect(both.body.error.message).toMatch(/^name, monthlyMessageLimit: /);
    expect(await tenantRow(gw, t.tenant.id)).toEqual(before);
  });

  it('an admin field sent with the value it already has is no change: a client may send back what it read', async () => {
    const t = await provisionTenant(gw, { name: 'Roundtrip', monthlyMessageLimit: 300 });
    const got = (await api(gw, 'GET', '/api/settings', undefined, t.key)).body;
    const { effectiveAllowedModels: _shown, effectiveAllowedTranscriptionModels: _shownToo, ...limits } = got.limits;
    const r = await api(gw, 'PATCH', '/api/settings', { name: got.name, monthlyMessageLimit: got.monthlyMessageLimit, limits, agent: { fallbackMessage: 'One moment.' } }, t.key);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ name: 'Roundtrip', monthlyMessageLimit: 300, agent: { fallbackMessage: 'One moment.' } });
  });

  it('the admin key sets name, monthlyMessageLimit and limits through both routes; null returns a limit to its default', async () => {
    const t = await provisionTenant(gw, { name: 'Before' });
    const a = await api(gw, 'PATCH', `/api/tenants/${t.tenant.id}`, {
      name: 'After',
      monthlyMessageLimit: 20,
      limits: { allowedModels: ['gpt-4.1', 'gpt-4.1-mini'], maxHistoryLength: 120, maxSystemPromptChars: 16_000 },
    });
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({
      name: 'After',
      monthlyMessageLimit: 20,
      limits: { allowedModels: ['gpt-4.1', 'gpt-4.1-mini'], maxHistoryLength: 120, maxSystemPromptChars: 16_000, effectiveAllowedModels: ['gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini'] },
    });
    const b = await api(gw, 'PATCH', `/api/settings?tenantId=${t.tenant.id}`, { limits: { allowedModels: null, maxHistoryLength: null } });
    expect(b.status).toBe(200);
    expect(b.body.limits).toEqual({
      allowedModels: null,
      allowedTranscriptionModels: null,
      maxHistoryLength: 50,
      maxSystemPromptChars: 16_000,
      effectiveAllowedModels: ['gpt-4o-mini', 'gpt-4o'],
      effectiveAllowedTranscriptionModels: [],
    });
    expect(await tenantRow(gw, t.tenant.id)).toMatchObject({ allowed_models: null, max_history_length: null, max_system_prompt_chars: 16_000 });
    // The tenant sees its limits, read-only.
    expect((await api(gw, 'GET', '/api/settings', undefined, t.key)).body.limits).toEqual(b.body.limits);
  });

  it("on the operator's key, a model outside WAGATE_ALLOWED_MODELS is refused at save (400 model_not_allowed) and nothing changes", async () => {
    const t = await provisionTenant(gw, { agent: { provider: 'openai' } });
    expect((await api(gw, 'GET', '/api/settings', undefined, t.key)).body.limits.effectiveAllowedModels).toEqual(['gpt-4o-mini', 'gpt-4o']);
    const ok = await api(gw, 'PATCH', '/api/settings', { agent: { model: 'gpt-4o' } }, t.key);
    expect(ok.status).toBe(200);
    expect(ok.body.agent.model).toBe('gpt-4o');
    const before = await tenantRow(gw, t.tenant.id);
    for (const path of patchRoutes(t)) {
      const r = await api(gw, 'PATCH', path, { agent: { model: 'o1-pro', systemPrompt: 'Smuggled along' } }, t.key);
      expect(r.status).toBe(400);
      expect(r.body).toEqual(errorBody('model_not_allowed'));
      expect(r.body.error.message).toMatch(/^agent\.model: "o1-pro" is not allowed .*gpt-4o-mini, gpt-4o/);
    }
    // The admin is held to the same list (and may widen it in the same request).
    expect((await api(gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { agent: { model: 'o1-pro' } })).status).toBe(400);
    expect(await tenantRow(gw, t.tenant.id)).toEqual(before);
    const widened = await api(gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { limits: { allowedModels: ['o1-pro'] }, agent: { model: 'o1-pro' } });
    expect(widened.status).toBe(200);
    expect(widened.body.agent.model).toBe('o1-pro');
  });

  it("a tenant's own list replaces the process's; OPENAI_MODEL stays allowed; model: null returns to the default", async () => {
    const t = await provisionTenant(gw, { agent: { provider: 'openai' } });
    await api(gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { limits: { allowedModels: ['gpt-4.1'] } });
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { model: 'gpt-4.1' } }, t.key)).status).toBe(200);
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { model: 'gpt-4o' } }, t.key)).body).toEqual(errorBody('model_not_allowed'));
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { model: 'gpt-4o-mini' } }, t.key)).status).toBe(200);
    const back = await api(gw, 'PATCH', '/api/settings', { agent: { model: null } }, t.key);
    expect(back.status).toBe(200);
    expect(back.body.agent.model).toBeNull();
    expect((await tenantRow(gw, t.tenant.id)).agent).toMatchObject({ model: null });
  });

  it('with its own apiKey or its own baseUrl a tenant may use any model; dropping them back onto the operator key is refused', async () => {
    const t = await provisionTenant(gw, { agent: { provider: 'openai' } });
    const own = await api(gw, 'PATCH', '/api/settings', { agent: { apiKey: 'sk-tenant-own', model: 'o1-pro' } }, t.key);
    expect(own.status).toBe(200);
    expect(own.body.agent).toMatchObject({ model: 'o1-pro', hasApiKey: true });
    const drop = await api(gw, 'PATCH', '/api/settings', { agent: { apiKey: null } }, t.key);
    expect(drop.body).toEqual(errorBody('model_not_allowed'));
    expect((await api(gw, 'GET', '/api/settings', undefined, t.key)).body.agent.hasApiKey).toBe(true);
    // Dropping the key together with the model is fine.
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { apiKey: null, model: null } }, t.key)).status).toBe(200);

    const local = await api(gw, 'PATCH', '/api/settings', { agent: { baseUrl: 'http://127.0.0.1:11434/v1', model: 'llama3.1:70b' } }, t.key);
    expect(local.status).toBe(200);
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { baseUrl: null } }, t.key)).body).toEqual(errorBody('model_not_allowed'));
  });

  it('historyLength and systemPrompt over their ceilings are refused (400 naming the field); at the ceiling they are saved', async () => {
    const t = await provisionTenant(gw);
    const before = await tenantRow(gw, t.tenant.id);
    for (const path of patchRoutes(t)) {
      const h = await api(gw, 'PATCH', path, { agent: { historyLength: 51, fallbackMessage: 'Smuggled along' } }, t.key);
      expect(h.status).toBe(400);
      expect(h.body).toEqual(errorBody('invalid_request'));
      expect(h.body.error.message).toMatch(/^agent\.historyLength: must be at most 50/);
      const p = await api(gw, 'PATCH', path, { agent: { systemPrompt: 'x'.repeat(8_001) } }, t.key);
      expect(p.status).toBe(400);
      expect(p.body.error.message).toMatch(/^agent\.systemPrompt: must be at most 8000 characters/);
    }
    expect(await tenantRow(gw, t.tenant.id)).toEqual(before);
    const atCeiling = await api(gw, 'PATCH', '/api/settings', { agent: { historyLength: 50, systemPrompt: 'y'.repeat(8_000) } }, t.key);
    expect(atCeiling.status).toBe(200);
    expect(atCeiling.body.agent.historyLength).toBe(50);
    // The admin raises the ceilings; then the tenant may go up to them.
    await api(gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { limits: { maxHistoryLength: 100, maxSystemPromptChars: 12_000 } });
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { historyLength: 100, systemPrompt: 'z'.repeat(12_000) } }, t.key)).status).toBe(200);
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { historyLength: 101 } }, t.key)).status).toBe(400);
  });

  it('the admin is held to the ceilings too, and may raise them in the same request', async () => {
    const refused = await api(gw, 'POST', '/api/tenants', { name: 'Big', agent: { historyLength: 80 } });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/^agent\.historyLength: must be at most 50/);
    const created = await api(gw, 'POST', '/api/tenants', { name: 'Big', limits: { maxHistoryLength: 80, maxSystemPromptChars: 9_000 }, agent: { historyLength: 80, systemPrompt: 'p'.repeat(9_000) } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ limits: { maxHistoryLength: 80, maxSystemPromptChars: 9_000 }, agent: { historyLength: 80 } });
  });

  it('after the admin lowers a ceiling under a saved value, the tenant still changes other fields (turns clamp the old value)', async () => {
    const t = await provisionTenant(gw, { agent: { provider: 'openai', historyLength: 40 } });
    const lowered = await api(gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { limits: { maxHistoryLength: 10, allowedModels: [] } });
    expect(lowered.status).toBe(200);
    expect(lowered.body).toMatchObject({ limits: { maxHistoryLength: 10 }, agent: { historyLength: 40 } });
    const other = await api(gw, 'PATCH', '/api/settings', { agent: { historyLength: 40, handoffKeywords: ['person'] } }, t.key);
    expect(other.status).toBe(200);
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { historyLength: 39 } }, t.key)).status).toBe(400);
  });

  it('the OpenAPI document shows limits in the tenant shape and the 403 of both PATCH routes', async () => {
    const doc = (await api(gw, 'GET', '/api/openapi.json', undefined, null)).body;
    for (const path of ['/api/settings', '/api/tenants/{tenantId}']) expect(Object.keys(doc.paths[path].patch.responses)).toContain('403');
    expect(JSON.stringify(doc)).toContain('effectiveAllowedModels');
    expect(JSON.stringify(doc)).toContain('maxSystemPromptChars');
  });
});

describe('without WAGATE_ALLOWED_MODELS only OPENAI_MODEL is allowed on the operator key', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { OPENAI_API_KEY: 'sk-operator', OPENAI_MODEL: 'gpt-4o-mini' } });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('gpt-4o is refused, gpt-4o-mini and null are saved', async () => {
    const t = await provisionTenant(gw, { agent: { provider: 'openai' } });
    expect((await api(gw, 'GET', '/api/settings', undefined, t.key)).body.limits).toEqual({
      allowedModels: null,
      allowedTranscriptionModels: null,
      maxHistoryLength: 50,
      maxSystemPromptChars: 8_000,
      effectiveAllowedModels: ['gpt-4o-mini'],
      effectiveAllowedTranscriptionModels: [],
    });
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { model: 'gpt-4o' } }, t.key)).body).toEqual(errorBody('model_not_allowed'));
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { model: 'gpt-4o-mini' } }, t.key)).status).toBe(200);
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { model: null } }, t.key)).status).toBe(200);
  });
});
