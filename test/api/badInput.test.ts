import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlClient } from '../support/db.ts';
import { api, TEST_ADMIN_KEY } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { startApiGateway, tenantWithConversation, type ApiHarness } from './harness.ts';
import { settled, storedState } from './storedState.ts';

const NUL = 'nul\u0000here';
const LONE = 'half \ud800 a pair';

describe('NUL characters, lone surrogates and deep nesting in API input: 400 invalid_text, nothing stored', () => {
  let h: ApiHarness;
  let client: pg.Client;
  let t: Awaited<ReturnType<typeof tenantWithConversation>>;
  beforeAll(async () => {
    h = await startApiGateway({ statuses: false });
    client = await sqlClient(h.gw.dbUrl);
    t = await tenantWithConversation(h.gw);
    // The demo agent's answer to the customer is sent: from here on nothing writes by itself.
    await eventually(() => settled(client), 15_000, 'the first answer to be sent');
  });
  afterAll(async () => {
    await client?.end();
    await h?.close();
  });

  /** Sends the request and expects a 400 invalid_text naming `field` (or a place inside it), and no row changed. */
  async function expectRefused(method: string, path: string, body: unknown, key: string | null, field: string) {
    const before = await storedState(client);
    const r = await api(h.gw, method, path, body, key);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body).toEqual({ error: { code: 'invalid_text', message: expect.stringMatching(new RegExp(`^${field.replace(/\./g, '\\.')}(: |\\.)`)) } });
    expect(await storedState(client)).toBe(before);
  }

  it('a NUL in the text of a manual send', async () => {
    await expectRefused('POST', `/api/conversations/${t.conversationId}/messages`, { text: NUL }, t.key, 'body.text');
    await expectRefused('POST', `/api/conversations/${t.conversationId}/messages`, { text: NUL }, TEST_ADMIN_KEY, 'body.text');
  });

  it('a NUL or a lone surrogate in systemPrompt, from the tenant or the admin', async () => {
    await expectRefused('PATCH', '/api/settings', { agent: { systemPrompt: NUL } }, t.key, 'body.agent.systemPrompt');
    await expectRefused('PATCH', '/api/settings', { agent: { systemPrompt: LONE } }, t.key, 'body.agent.systemPrompt');
    await expectRefused('PATCH', `/api/tenants/${t.tenant.id}`, { agent: { systemPrompt: LONE } }, TEST_ADMIN_KEY, 'body.agent.systemPrompt');
    await expectRefused('POST', '/api/tenants', { name: 'Fine', agent: { systemPrompt: NUL } }, TEST_ADMIN_KEY, 'body.agent.systemPrompt');
    // A whole pair (an emoji) is well-formed, and stored (and storedState sees the change).
    const before = await storedState(client);
    const ok = await api(h.gw, 'PATCH', '/api/settings', { agent: { systemPrompt: 'You sell bikes 🚲' } }, t.key);
    expect(ok.status).toBe(200);
    expect(ok.body.agent.systemPrompt).toBe('You sell bikes 🚲');
    expect(await storedState(client)).not.toBe(before);
  });

  it('a NUL in a tenant name, at creation and in a change', async () => {
    await expectRefused('POST', '/api/tenants', { name: NUL }, TEST_ADMIN_KEY, 'body.name');
    await expectRefused('PATCH', `/api/tenants/${t.tenant.id}`, { name: NUL }, TEST_ADMIN_KEY, 'body.name');
  });

  it('a NUL in a handoff keyword', async () => {
    await expectRefused('PATCH', '/api/settings', { agent: { handoffKeywords: ['human', NUL] } }, t.key, 'body.agent.handoffKeywords.1');
  });

  it("a NUL in a channel's display number", async () => {
    const channel = { phoneNumberId: 'pn-nul-display', displayPhoneNumber: '+1 555\u00000100', accessToken: 'token' };
    await expectRefused('POST', `/api/tenants/${t.tenant.id}/channels`, channel, TEST_ADMIN_KEY, 'body.displayPhoneNumber');
  });

  it('a NUL in a query string, a path parameter or a key; nesting deeper than 64 levels', async () => {
    await expectRefused('GET', '/api/conversations?cursor=%00', undefined, t.key, 'query.cursor');
    await expectRefused('GET', `/api/conversations?tenant%00Id=${t.tenant.id}`, undefined, TEST_ADMIN_KEY, 'query');
    await expectRefused('GET', '/api/conversations/1%00', undefined, t.key, 'params.id');
    await expectRefused('PATCH', '/api/settings', { agent: { ['system\u0000Prompt']: 'x' } }, t.key, 'body.agent');
    let deep: unknown = 'x';
    for (let i = 0; i < 100; i++) deep = [deep];
    await expectRefused('PATCH', '/api/settings', { agent: { handoffKeywords: deep } }, t.key, 'body.agent.handoffKeywords');
  });

  it('is checked before the key: without one, or at sign-in, the answer is still 400', async () => {
    await expectRefused('PATCH', '/api/settings', { agent: { systemPrompt: NUL } }, null, 'body.agent.systemPrompt');
    await expectRefused('POST', '/api/session', { key: `${t.key}\u0000` }, null, 'body.key');
  });

  it('a path the router cannot decode, or with a segment over 100 characters: the API error shape and headers', async () => {
    for (const [path, status, code] of [
      ['/api/conversations/%E0%A4%A', 400, 'invalid_request'],
      ['/api/tenants/%/api-keys', 400, 'invalid_request'],
      [`/api/tenants/${'1'.repeat(101)}`, 414, 'uri_too_long'],
    ] as const) {
      const before = await storedState(client);
      const r = await api(h.gw, 'GET', path, undefined, t.key);
      expect(r.status, path).toBe(status);
      expect(r.body).toEqual({ error: { code, message: expect.any(String) } });
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(await storedState(client)).toBe(before);
    }
  });

  it('a NUL in a text/plain body', async () => {
    const before = await storedState(client);
    const r = await fetch(`${h.gw.url}/api/settings`, { method: 'PATCH', headers: { authorization: `Bearer ${t.key}`, 'content-type': 'text/plain' }, body: NUL });
    expect(r.status).toBe(400);
    expect((await r.json()).error.code).toBe('invalid_text');
    expect(await storedState(client)).toBe(before);
  });
});
