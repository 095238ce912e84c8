import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { sqlClient } from '../support/db.ts';

const errorBody = (code: string) => ({ error: { code, message: expect.any(String) } });

async function tenantRow(gw: TestGateway, id: string): Promise<Record<string, unknown>> {
  const c = await sqlClient(gw.dbUrl);
  try {
    return (await c.query('SELECT * FROM tenants WHERE id = $1', [id])).rows[0];
  } finally {
    await c.end();
  }
}

describe('transcription models on the operator key (OPENAI_TRANSCRIPTION_MODEL=whisper-1, WAGATE_ALLOWED_TRANSCRIPTION_MODELS=gpt-4o-mini-transcribe)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      env: { OPENAI_API_KEY: 'sk-operator', OPENAI_TRANSCRIPTION_MODEL: 'whisper-1', WAGATE_ALLOWED_TRANSCRIPTION_MODELS: 'gpt-4o-mini-transcribe' },
    });
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('a model outside the list is refused (400 model_not_allowed) through both routes and nothing changes; listed ones, null and "" are saved', async () => {
    const t = await provisionTenant(gw, { agent: { provider: 'openai' } });
    const got = await api(gw, 'GET', '/api/settings', undefined, t.key);
    expect(got.body.limits).toMatchObject({ allowedTranscriptionModels: null, effectiveAllowedTranscriptionModels: ['whisper-1', 'gpt-4o-mini-transcribe'] });
    expect(got.body.agent.transcriptionModel).toBeUndefined();
    const before = await tenantRow(gw, t.tenant.id);
    for (const path of ['/api/settings', `/api/tenants/${t.tenant.id}`]) {
      const r = await api(gw, 'PATCH', path, { agent: { transcriptionModel: 'gpt-4o-transcribe', systemPrompt: 'Smuggled along' } }, t.key);
      expect(r.status, path).toBe(400);
      expect(r.body).toEqual(errorBody('model_not_allowed'));
      expect(r.body.error.message).toMatch(/^agent\.transcriptionModel: "gpt-4o-transcribe" is not allowed .*whisper-1, gpt-4o-mini-transcribe/);
    }
    // The admin is held to the same list.
    expect((await api(gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { agent: { transcriptionModel: 'gpt-4o-transcribe' } })).body).toEqual(errorBody('model_not_allowed'));
    expect(await tenantRow(gw, t.tenant.id)).toEqual(before);

    const listed = await api(gw, 'PATCH', '/api/settings', { agent: { transcriptionModel: 'gpt-4o-mini-transcribe' } }, t.key);
    expect(listed.status).toBe(200);
    expect(listed.body.agent.transcriptionModel).toBe('gpt-4o-mini-transcribe');
    const off = await api(gw, 'PATCH', '/api/settings', { agent: { transcriptionModel: null } }, t.key);
    expect(off.body.agent.transcriptionModel).toBeNull();
    const back = await api(gw, 'PATCH', '/api/settings', { agent: { transcriptionModel: '' } }, t.key);
    expect(back.status).toBe(200);
    expect(back.body.agent.transcriptionModel).toBeUndefined();
  });

  it("only the admin key sets the tenant's own list, which replaces the process's; the default stays allowed", async () => {
    const t = await provisionTenant(gw, { agent: { provider: 'openai' } });
    const before = await tenantRow(gw, t.tenant.id);
    const refused = await api(gw, 'PATCH', '/api/settings', { limits: { allowedTranscriptionModels: ['gpt-4o-transcribe'] } }, t.key);
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('limits.allowedTranscriptionModels');
    expect(await tenantRow(gw, t.tenant.id)).toEqual(before);

    const set = await api(gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { limits: { allowedTranscriptionModels: ['gpt-4o-transcribe'] } });
    expect(set.status).toBe(200);
    expect(set.body.limits).toMatchObject({ allowedTranscriptionModels: ['gpt-4o-transcribe'], effectiveAllowedTranscriptionModels: ['whisper-1', 'gpt-4o-transcribe'] });
    expect(await tenantRow(gw, t.tenant.id)).toMatchObject({ allowed_transcription_models: ['gpt-4o-transcribe'] });
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { transcriptionModel: 'gpt-4o-transcribe' } }, t.key)).status).toBe(200);
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { transcriptionModel: 'gpt-4o-mini-transcribe' } }, t.key)).body).toEqual(errorBody('model_not_allowed'));
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { transcriptionModel: 'whisper-1' } }, t.key)).status).toBe(200);
    const reset = await api(gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { limits: { allowedTranscriptionModels: null } });
    expect(reset.body.limits.effectiveAllowedTranscriptionModels).toEqual(['whisper-1', 'gpt-4o-mini-transcribe']);
  });

  it('with its own apiKey or baseUrl an openai tenant may pick any; other providers transcribe on the operator key and are held to the list', async () => {
    const t = await provisionTenant(gw, { agent: { provider: 'openai' } });
    const own = await api(gw, 'PATCH', '/api/settings', { agent: { apiKey: 'sk-tenant-own', transcriptionModel: 'my-whisper-large' } }, t.key);
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    expect(own.body.agent.transcriptionModel).toBe('my-whisper-large');
    // Dropping the key would put that model on the operator's key: refused, nothing changes.
    const drop = await api(gw, 'PATCH', '/api/settings', { agent: { apiKey: null } }, t.key);
    expect(drop.body).toEqual(errorBody('model_not_allowed'));
    expect(drop.body.error.message).toMatch(/^agent\.transcriptionModel: /);
    expect((await api(gw, 'GET', '/api/settings', undefined, t.key)).body.agent.hasApiKey).toBe(true);
    // A demo or http agent transcribes with the operator's key, whatever key it holds.
    const http = await provisionTenant(gw, { agent: { provider: 'demo' } });
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { transcriptionModel: 'my-whisper-large' } }, http.key)).body).toEqual(errorBody('model_not_allowed'));
    expect((await api(gw, 'PATCH', '/api/settings', { agent: { transcriptionModel: 'whisper-1' } }, http.key)).status).toBe(200);
  });
});
