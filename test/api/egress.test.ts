import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { sqlClient } from '../support/db.ts';
import { api, provisionTenant } from '../support/gateway.ts';
import { startApiGateway, type ApiHarness } from './harness.ts';

/** The forms a tenant might use to reach inside the host; each must be refused when saved. */
const REFUSED: string[] = [
  'http://127.0.0.1:11434/v1',
  'https://127.0.0.1/v1',
  'https://[::1]:8080/v1',
  'https://2130706433/v1',
  'https://0x7f.1/v1',
  'https://017700000001/v1',
  'https://10.0.0.5/v1',
  'https://192.168.1.10/v1',
  'https://172.20.0.2/v1',
  'https://169.254.169.254/latest/meta-data/',
  'https://100.64.1.1/v1',
  'https://0.0.0.0/v1',
  'https://[::ffff:127.0.0.1]/v1',
  'https://[fd00::1]/v1',
  'https://[fe80::1]/v1',
  'https://metadata.google.internal/computeMetadata/v1/',
  'https://localhost:11434/v1',
];

describe('a tenant cannot make the gateway reach inside the host: URLs refused when saved', () => {
  let h: ApiHarness;
  let model: FakeModel;
  let otherModel: FakeModel;
  beforeAll(async () => {
    model = await startFakeModel();
    otherModel = await startFakeModel();
    // The operator allows the one loopback port of `model`; `otherModel` stays out of reach.
    h = await startApiGateway({ env: { WAGATE_EGRESS_ALLOW: new URL(model.url).host } });
  });
  afterAll(async () => {
    await h?.close();
    await model?.close();
    await otherModel?.close();
  });

  const tenantCount = async () => {
    const c = await sqlClient(h.gw.dbUrl);
    try {
      return Number((await c.query('SELECT count(*) AS n FROM tenants')).rows[0].n);
    } finally {
      await c.end();
    }
  };

  it.each(['baseUrl', 'url'] as const)('PATCH /api/settings with a tenant key: every form of a private %s answers 400 and changes nothing', async (field) => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    const before = await api(h.gw, 'GET', '/api/settings', undefined, t.key);
    for (const url of REFUSED) {
      const res = await api(h.gw, 'PATCH', '/api/settings', { agent: { provider: field === 'url' ? 'http' : 'openai', [field]: url, systemPrompt: 'changed' } }, t.key);
      expect({ url, status: res.status }).toEqual({ url, status: 400 });
      expect(res.body.error.code).toBe('egress_refused');
      expect(res.body.error.message).toMatch(new RegExp(`^agent\\.${field}: `));
      expect(res.body.error.message).toMatch(/private address|could not be resolved|must be https/);
    }
    // The tenant's own PATCH /api/tenants/:id is judged the same way.
    const own = await api(h.gw, 'PATCH', `/api/tenants/${t.tenant.id}`, { agent: { [field]: 'https://169.254.169.254/' } }, t.key);
    expect(own.status).toBe(400);
    expect(own.body.error.message).toBe(
      `agent.${field}: 169.254.169.254 is a private address (link-local (cloud metadata)); tenants may only reach public addresses, or destinations the operator allows with WAGATE_EGRESS_ALLOW`,
    );
    expect(await api(h.gw, 'GET', '/api/settings', undefined, t.key)).toMatchObject({ status: 200, body: before.body });
  });

  it.each(['baseUrl', 'url'] as const)('POST /api/tenants (admin) with a private %s answers 400 and creates no tenant', async (field) => {
    const before = await tenantCount();
    for (const url of REFUSED) {
      const res = await api(h.gw, 'POST', '/api/tenants', { name: 'Sneaky', agent: { provider: field === 'url' ? 'http' : 'openai', [field]: url } });
      expect({ url, status: res.status, code: res.body.error?.code }).toEqual({ url, status: 400, code: 'egress_refused' });
    }
    expect(await tenantCount()).toBe(before);
  });

  it('plain http to a public address is refused: https only', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    const res = await api(h.gw, 'PATCH', '/api/settings', { agent: { baseUrl: 'http://93.184.215.14/v1' } }, t.key);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^agent\.baseUrl: must be https/);
  });

  it('WAGATE_EGRESS_ALLOW lets a tenant save the allowed loopback port (http too), and still not another port', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    const ok = await api(h.gw, 'PATCH', '/api/settings', { agent: { provider: 'openai', baseUrl: model.openaiBaseUrl } }, t.key);
    expect(ok.status).toBe(200);
    expect(ok.body.agent.baseUrl).toBe(model.openaiBaseUrl);
    const okHttp = await api(h.gw, 'PATCH', '/api/settings', { agent: { url: model.httpAgentUrl } }, t.key);
    expect(okHttp.status).toBe(200);
    const other = await api(h.gw, 'PATCH', '/api/settings', { agent: { baseUrl: otherModel.openaiBaseUrl } }, t.key);
    expect(other.status).toBe(400);
    expect(other.body.error.message).toMatch(/^agent\.baseUrl: 127\.0\.0\.1 is a private address \(loopback\)/);
    expect((await api(h.gw, 'GET', '/api/settings', undefined, t.key)).body.agent.baseUrl).toBe(model.openaiBaseUrl);
    // Clearing a URL needs no check.
    expect((await api(h.gw, 'PATCH', '/api/settings', { agent: { baseUrl: null, url: null } }, t.key)).status).toBe(200);
  });
});
