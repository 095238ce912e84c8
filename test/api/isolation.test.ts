import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allRoutes } from '../../src/api/openapi.ts';
import type { RouteSpec } from '../../src/api/routeSpec.ts';
import { api } from '../support/gateway.ts';
import { startApiGateway, tenantWithConversation, type ApiHarness } from './harness.ts';

/** A body each route accepts, so that only the ids decide the answer. */
const VALID_BODY: Record<string, unknown> = {
  'POST /api/conversations/:id/pause': { minutes: 5 },
  'POST /api/conversations/:id/messages': { text: 'from the other tenant' },
  'POST /api/conversations/:id/template': { name: 'order_update', language: 'en_US', parameters: [] },
  'PATCH /api/settings': { agent: { systemPrompt: 'hijacked' } },
  'PATCH /api/tenants/:tenantId': { agent: { systemPrompt: 'hijacked' } },
  'POST /api/tenants/:tenantId/channels': { phoneNumberId: 'pn-hijack', displayPhoneNumber: '+1', accessToken: 't' },
  'POST /api/tenants': { name: 'x' },
  'POST /api/session': { key: 'wgk_nothing' },
  'POST /api/tools': { name: 'hijack', parameters: { type: 'object' }, url: 'https://8.8.8.8/hijack', secret: 'x' },
  'PATCH /api/tools/:id': { url: 'https://8.8.8.8/hijacked' },
  'POST /api/event-subscriptions': { url: 'https://8.8.8.8/hijack', secret: 'hijack-secret-0123456789', events: ['*'] },
  'PATCH /api/event-subscriptions/:id': { url: 'https://8.8.8.8/hijacked' },
};

/**
 * A request from a loopback address of its own (127.0.0.N): unknown keys are
 * limited per client address, and this walk tries more routes than one
 * address may fail in a minute.
 */
function requestFrom(localAddress: string, url: string, method: string, body: unknown, key: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(url, { method, localAddress, headers: { authorization: `Bearer ${key}`, ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

const apiRoutes = allRoutes.filter((r) => r.url.startsWith('/api/') && r.auth !== 'none');

describe("tenant isolation: another tenant's ids answer 404 on every route", () => {
  let h: ApiHarness;
  let a: Awaited<ReturnType<typeof tenantWithConversation>>;
  let b: Awaited<ReturnType<typeof tenantWithConversation>>;
  let aKeyId: string;
  let aContactId: string;
  let aToolId: string;
  let aSubscriptionId: string;
  beforeAll(async () => {
    h = await startApiGateway();
    a = await tenantWithConversation(h.gw, { name: 'A', text: 'hello from A' });
    b = await tenantWithConversation(h.gw, { name: 'B', text: 'hello from B' });
    aKeyId = (await api(h.gw, 'GET', `/api/tenants/${a.tenant.id}/api-keys`)).body.items[0].id;
    aContactId = (await api(h.gw, 'GET', `/api/conversations/${a.conversationId}`, undefined, a.key)).body.contact.id;
    aToolId = (await api(h.gw, 'POST', '/api/tools', { name: 'lookup', parameters: { type: 'object' }, url: 'https://8.8.8.8/a', secret: 'a' }, a.key)).body.id;
    aSubscriptionId = (await api(h.gw, 'POST', '/api/event-subscriptions', { url: 'https://8.8.8.8/events', secret: 'a-secret-0123456789abc', events: ['*'] }, a.key)).body.id;
  });
  afterAll(async () => {
    await h?.close();
  });

  /** The request of `spec` aimed at tenant A's resources, or null when the route names no id. */
  function aimedAtA(spec: RouteSpec): { path: string; body?: unknown } | null {
    const id = spec.url.startsWith('/api/tools/') ? aToolId : spec.url.startsWith('/api/event-subscriptions/') ? aSubscriptionId : a.conversationId;
    let path = spec.url.replace(':id', id).replace(':tenantId', a.tenant.id).replace(':keyId', aKeyId).replace(':contactId', aContactId);
    const query = spec.query ? Object.keys((spec.query as any).shape) : [];
    const qs: string[] = [];
    if (query.includes('conversationId')) qs.push(`conversationId=${a.conversationId}`);
    else if (query.includes('tenantId')) qs.push(`tenantId=${a.tenant.id}`);
    if (path === spec.url && qs.length === 0) return null;
    if (qs.length) path += '?' + qs.join('&');
    return { path, body: VALID_BODY[`${spec.method} ${spec.url}`] };
  }

  it('walks every /api route with tenant B\'s key against tenant A\'s ids', async () => {
    const checked: string[] = [];
    for (const spec of apiRoutes) {
      const req = aimedAtA(spec);
      if (!req) continue;
      const r = await api(h.gw, spec.method, req.path, req.body, b.key);
      expect(r.status, `${spec.method} ${req.path}`).toBe(404);
      expect(r.body.error.code).toBe('not_found');
      checked.push(`${spec.method} ${spec.url}`);
    }
    expect(checked).toEqual(
      expect.arrayContaining([
        'GET /api/conversations',
        'GET /api/conversations/:id',
        'POST /api/conversations/:id/pause',
        'POST /api/conversations/:id/resume',
        'POST /api/conversations/:id/read',
        'GET /api/conversations/:id/messages',
        'POST /api/conversations/:id/messages',
        'POST /api/conversations/:id/template',
        'GET /api/templates',
        'GET /api/events',
        'GET /api/usage',
        'GET /api/settings',
        'PATCH /api/settings',
        'GET /api/tenants/:tenantId',
        'PATCH /api/tenants/:tenantId',
        'POST /api/tenants/:tenantId/channels',
        'POST /api/tenants/:tenantId/api-keys',
        'GET /api/tenants/:tenantId/api-keys',
        'DELETE /api/api-keys/:keyId',
        'POST /api/tenants/:tenantId/disable',
        'POST /api/tenants/:tenantId/enable',
        'DELETE /api/tenants/:tenantId',
        'GET /api/tenants/:tenantId/channels',
        'DELETE /api/contacts/:contactId',
        'GET /api/audit',
        'GET /api/tools',
        'POST /api/tools',
        'GET /api/tools/:id',
        'PATCH /api/tools/:id',
        'DELETE /api/tools/:id',
        'GET /api/event-subscriptions',
        'POST /api/event-subscriptions',
        'GET /api/event-subscriptions/:id',
        'PATCH /api/event-subscriptions/:id',
        'DELETE /api/event-subscriptions/:id',
        'GET /api/event-subscriptions/:id/deliveries',
        'POST /api/event-deliveries/:id/redeliver',
        'GET /api/media/:id',
      ]),
    );
    // A's subscription is still there, unchanged.
    const subs = await api(h.gw, 'GET', '/api/event-subscriptions', undefined, a.key);
    expect(subs.body.items.map((x: any) => [x.id, x.url])).toEqual([[aSubscriptionId, 'https://8.8.8.8/events']]);
    // A's tool is still there, unchanged, and B made none for A.
    const tools = await api(h.gw, 'GET', '/api/tools', undefined, a.key);
    expect(tools.body.items.map((t: any) => [t.id, t.url])).toEqual([[aToolId, 'https://8.8.8.8/a']]);
  });

  it("changed nothing of tenant A's", async () => {
    const conv = await api(h.gw, 'GET', `/api/conversations/${a.conversationId}`, undefined, a.key);
    expect(conv.body.paused).toBe(false);
    const msgs = (await api(h.gw, 'GET', `/api/conversations/${a.conversationId}/messages`, undefined, a.key)).body.items;
    expect(msgs.some((m: any) => m.author === 'operator')).toBe(false);
    expect((await api(h.gw, 'GET', '/api/settings', undefined, a.key)).body.agent.systemPrompt).not.toBe('hijacked');
    expect(h.cloud.requests().some((r: any) => JSON.stringify(r.body).includes('from the other tenant'))).toBe(false);
    expect((await api(h.gw, 'GET', `/api/tenants/${a.tenant.id}/api-keys`)).body.items.map((k: any) => k.revokedAt)).toEqual([null]);
  });

  it("B's lists never contain A's conversations", async () => {
    const list = await api(h.gw, 'GET', '/api/conversations?limit=200', undefined, b.key);
    expect(list.body.items.map((c: any) => c.id)).toEqual([b.conversationId]);
    expect(list.body.items.every((c: any) => c.tenantId === b.tenant.id)).toBe(true);
  });

  it('every /api route answers 401 without a key, and with an unknown one', async () => {
    let n = 0;
    for (const spec of apiRoutes) {
      const path = spec.url.replace(':id', a.conversationId).replace(':tenantId', a.tenant.id);
      const body = VALID_BODY[`${spec.method} ${spec.url}`];
      const none = await api(h.gw, spec.method, path, body, null);
      expect(none.status, `${spec.method} ${path} without a key`).toBe(401);
      expect(none.body.error.code).toBe('unauthorized');
      const unknown = await requestFrom(`127.0.0.${2 + (n++ % 200)}`, h.gw.url + path, spec.method, body, 'wgk_not_a_real_key');
      expect(unknown.status, `${spec.method} ${path} with an unknown key`).toBe(401);
      expect(unknown.body.error.code).toBe('unauthorized');
    }
  });
});
