import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, TEST_ADMIN_KEY } from '../support/gateway.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { startApiGateway, tenantWithConversation, type ApiHarness } from './harness.ts';
import { openEventStream, type EventStreamClient } from './sseClient.ts';

describe('GET /api/events: live updates', () => {
  let h: ApiHarness;
  const open: EventStreamClient[] = [];
  const stream = async (key: string, qs = '') => {
    const s = await openEventStream(`${h.gw.url}/api/events${qs}`, { authorization: `Bearer ${key}` });
    open.push(s);
    return s;
  };
  beforeAll(async () => {
    h = await startApiGateway();
  });
  afterAll(async () => {
    for (const s of open) s.close();
    await h?.close();
  });

  it("streams the tenant's new messages, statuses, dispositions and pauses", async () => {
    const t = await tenantWithConversation(h.gw, { text: 'hello' });
    const s = await stream(t.key);
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(s.headers.get('x-content-type-options')).toBe('nosniff');
    await s.next((e) => e.event === 'ready');

    await postWebhook(h.gw.url, textNotification(t.phoneNumberId, t.from, 'opening hours?').body);
    const inbound = await s.next((e) => e.event === 'message' && e.data.direction === 'inbound');
    expect(inbound.data).toMatchObject({ conversationId: t.conversationId, tenantId: t.tenant.id, messageId: expect.any(String) });
    // The answer to 'opening hours?' (stored after it, so a greater id): the answer to
    // the set-up's 'hello' may still be on its way and come first on the stream.
    const out = await s.next(
      (e) => e.event === 'message' && e.data.direction === 'outbound' && e.data.author === 'agent' && BigInt(e.data.messageId) > BigInt(inbound.data.messageId),
    );
    await s.next((e) => e.event === 'disposition' && e.data.conversationId === t.conversationId && e.data.disposition === 'answered');
    // Statuses only move forward and the status webhooks that wait together are applied in
    // one statement, which keeps the furthest: 'delivered' may be passed over for 'read'.
    await s.next((e) => e.event === 'status' && e.data.messageId === out.data.messageId && ['delivered', 'read'].includes(e.data.status));

    await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/pause`, {}, t.key);
    const paused = await s.next((e) => e.event === 'conversation');
    expect(paused.data).toMatchObject({ conversationId: t.conversationId, paused: true, by: 'operator' });

    await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/messages`, { text: 'by hand' }, t.key);
    await s.next((e) => e.event === 'message' && e.data.author === 'operator');
  });

  it("never carries another tenant's events", async () => {
    const a = await tenantWithConversation(h.gw, { name: 'A' });
    const b = await tenantWithConversation(h.gw, { name: 'B' });
    const sa = await stream(a.key);
    const admin = await stream(TEST_ADMIN_KEY);
    await sa.next((e) => e.event === 'ready');
    await admin.next((e) => e.event === 'ready');
    await postWebhook(h.gw.url, textNotification(b.phoneNumberId, b.from, 'from B').body);
    await postWebhook(h.gw.url, textNotification(a.phoneNumberId, a.from, 'from A').body);
    // The admin sees both; A's stream sees its own, and B's message was stored before A's.
    await admin.next((e) => e.event === 'message' && e.data.tenantId === b.tenant.id);
    await sa.next((e) => e.event === 'message' && e.data.conversationId === a.conversationId);
    expect(sa.events.filter((e) => e.event !== 'ready').every((e) => e.data.tenantId === a.tenant.id)).toBe(true);
  });

  it('?conversationId= narrows the stream to one conversation', async () => {
    const t = await tenantWithConversation(h.gw);
    const other = '15557770000';
    await postWebhook(h.gw.url, textNotification(t.phoneNumberId, other, 'another customer').body);
    const s = await stream(t.key, `?conversationId=${t.conversationId}`);
    await s.next((e) => e.event === 'ready');
    await postWebhook(h.gw.url, textNotification(t.phoneNumberId, other, 'still me').body);
    await postWebhook(h.gw.url, textNotification(t.phoneNumberId, t.from, 'me').body);
    await s.next((e) => e.event === 'message' && e.data.direction === 'inbound');
    expect(s.events.filter((e) => e.event !== 'ready').every((e) => e.data.conversationId === t.conversationId)).toBe(true);
  });

  it("404 for another tenant's conversation or tenant; 400 for a bad filter; 401 without a key", async () => {
    const a = await tenantWithConversation(h.gw, { name: 'A' });
    const b = await tenantWithConversation(h.gw, { name: 'B' });
    for (const qs of [`?conversationId=${a.conversationId}`, `?tenantId=${a.tenant.id}`, '?conversationId=987654321']) {
      const s = await stream(b.key, qs);
      expect(s.status, qs).toBe(404);
      expect(s.body.error.code).toBe('not_found');
    }
    const bad = await stream(b.key, '?conversationId=abc');
    expect(bad.status).toBe(400);
    const none = await openEventStream(`${h.gw.url}/api/events`, {});
    expect(none.status).toBe(401);
  });
});

describe('GET /api/events and shutdown', () => {
  it('open streams end when the gateway stops, instead of holding it open', async () => {
    const h = await startApiGateway();
    const t = await tenantWithConversation(h.gw);
    const s = await openEventStream(`${h.gw.url}/api/events`, { authorization: `Bearer ${t.key}` });
    await s.next((e) => e.event === 'ready');
    await h.close();
    await s.ended;
    s.close();
  });
});
