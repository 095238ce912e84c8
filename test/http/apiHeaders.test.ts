import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_HEADERS } from '../../src/api/securityHeaders.ts';
import { startTestGateway, TEST_ADMIN_KEY, type TestGateway } from '../support/gateway.ts';

describe('the API headers on every /api answer', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });

  const call = async (method: string, path: string, opts: { key?: string | null; body?: string } = {}) => {
    const key = opts.key === undefined ? TEST_ADMIN_KEY : opts.key;
    const headers: Record<string, string> = {};
    if (key) headers.authorization = `Bearer ${key}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(gw.url + path, { method, headers, body: opts.body });
    return { status: res.status, headers: res.headers, body: await res.json() };
  };

  const expectApiHeaders = (r: { headers: Headers }, what: string) => {
    for (const [name, value] of Object.entries(API_HEADERS)) expect(r.headers.get(name), `${what}: ${name}`).toBe(value);
  };

  it('on provisioning answers, the new key above all', async () => {
    const t = await call('POST', '/api/tenants', { body: JSON.stringify({ name: 'Headers', agent: { provider: 'demo' } }) });
    expect(t.status).toBe(201);
    expectApiHeaders(t, 'tenant created');
    const k = await call('POST', `/api/tenants/${t.body.id}/api-keys`);
    expect(k.status).toBe(201);
    expect(k.body.key).toMatch(/^wgk_/);
    expectApiHeaders(k, 'key created');
    expectApiHeaders(await call('GET', `/api/tenants/${t.body.id}`, { key: k.body.key }), 'tenant read');
  });

  it('on errors of every kind and on unknown /api routes', async () => {
    const cases = [
      [401, await call('POST', '/api/tenants/1/api-keys', { key: null })],
      [400, await call('POST', '/api/tenants', { body: '{"name":' })],
      [400, await call('POST', '/api/tenants', { body: '{"name":""}' })],
      [404, await call('POST', '/api/tenants/987654321/api-keys')],
      [404, await call('GET', '/api/no-such-route')],
      [404, await call('GET', '/api')],
    ] as const;
    for (const [status, r] of cases) {
      expect(r.status).toBe(status);
      expect(r.body.error.code).toEqual(expect.any(String));
      expectApiHeaders(r, `${status} ${JSON.stringify(r.body)}`);
    }
  });

  it('leaves the pages to their own policy', async () => {
    const res = await fetch(gw.url + '/');
    expect(res.headers.get('content-security-policy')).not.toBe(API_HEADERS['content-security-policy']);
  });
});
