import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { messagesValue, notification, now, postWebhook, textNotification, wamid } from '../support/webhooks.ts';
import { startApiGateway, tenantWithConversation, type ApiHarness } from './harness.ts';

describe('GET /api/conversations and /api/conversations/:id', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiGateway();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('lists newest activity first with contact, last message, paused flag and unread count', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    for (const [from, text] of [
      ['15550000001', 'opening hours?'],
      ['15550000002', 'price please'],
    ]) {
      const n = textNotification(t.phoneNumberId, from, text);
      expect((await postWebhook(h.gw.url, n.body)).status).toBe(200);
    }
    // Both answered by the demo agent: the last message becomes the agent's.
    const list = await eventually(async () => {
      const r = await api(h.gw, 'GET', '/api/conversations', undefined, t.key);
      return r.body.items.length === 2 && r.body.items.every((c: any) => c.lastMessage?.author === 'agent') ? r : null;
    });
    expect(list.status).toBe(200);
    expect(list.body.nextCursor).toBeNull();
    const [first, second] = list.body.items;
    expect(new Date(first.lastMessageAt).getTime()).toBeGreaterThanOrEqual(new Date(second.lastMessageAt).getTime());
    const c = list.body.items.find((x: any) => x.contact.waId === '15550000001');
    expect(c).toMatchObject({
      tenantId: t.tenant.id,
      channelId: t.channel.id,
      contact: { waId: '15550000001', userId: null, name: 'Customer 15550000001' },
      paused: false,
      pausedUntil: null,
      pausedBy: null,
      unread: 1,
    });
    expect(typeof c.id).toBe('string');
    expect(c.lastMessage).toMatchObject({ direction: 'outbound', author: 'agent', type: 'text', conversationId: c.id });
    expect(c.lastMessage.text).toContain('open');
    expect(c.lastMessageAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const one = await api(h.gw, 'GET', `/api/conversations/${c.id}`, undefined, t.key);
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ ...c, lastMessage: one.body.lastMessage });
  });

  it('unread counts customer messages since an operator marked the conversation read', async () => {
    const t = await tenantWithConversation(h.gw);
    const read = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/read`, undefined, t.key);
    expect(read.status).toBe(204);
    expect((await api(h.gw, 'GET', `/api/conversations/${t.conversationId}`, undefined, t.key)).body.unread).toBe(0);
    await postWebhook(h.gw.url, textNotification(t.phoneNumberId, t.from, 'one').body);
    await postWebhook(h.gw.url, textNotification(t.phoneNumberId, t.from, 'two').body);
    expect((await api(h.gw, 'GET', `/api/conversations/${t.conversationId}`, undefined, t.key)).body.unread).toBe(2);
  });

  it('filters: paused, unanswered, disposition of the latest customer message', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'demo' } });
    const say = async (from: string, text: string) => expect((await postWebhook(h.gw.url, textNotification(t.phoneNumberId, from, text).body)).status).toBe(200);
    await say('15551110001', 'hello');
    await say('15551110002', 'hello');
    const ids = await eventually(async () => {
      const r = await api(h.gw, 'GET', '/api/conversations', undefined, t.key);
      const answered = r.body.items.filter((c: any) => c.lastMessage?.author === 'agent');
      return answered.length === 2 ? Object.fromEntries(r.body.items.map((c: any) => [c.contact.waId, c.id])) : null;
    });
    const paused = ids['15551110002'];
    expect((await api(h.gw, 'POST', `/api/conversations/${paused}/pause`, {}, t.key)).status).toBe(200);
    await say('15551110002', 'anyone there?');
    await eventually(async () => (await api(h.gw, 'GET', `/api/conversations/${paused}`, undefined, t.key)).body.lastMessage?.disposition === 'paused');

    const q = async (qs: string) => (await api(h.gw, 'GET', `/api/conversations?${qs}`, undefined, t.key)).body.items.map((c: any) => c.contact.waId).sort();
    expect(await q('paused=true')).toEqual(['15551110002']);
    expect(await q('paused=false')).toEqual(['15551110001']);
    expect(await q('unanswered=true')).toEqual(['15551110002']);
    expect(await q('unanswered=false')).toEqual(['15551110001']);
    expect(await q('disposition=paused')).toEqual(['15551110002']);
    expect(await q('disposition=answered')).toEqual(['15551110001']);
    expect(await q('disposition=over_quota')).toEqual([]);
    expect(await q('paused=true&disposition=answered')).toEqual([]);
  });

  it('a reaction alone does not make a conversation unanswered; its disposition is no_answer_needed', async () => {
    const t = await tenantWithConversation(h.gw, { text: 'hello' });
    await eventually(async () => (await api(h.gw, 'GET', `/api/conversations/${t.conversationId}`, undefined, t.key)).body.lastMessage?.author === 'agent');
    const reaction = { from: t.from, id: wamid(), timestamp: now(), type: 'reaction', reaction: { message_id: t.wamid, emoji: '👍' } };
    expect((await postWebhook(h.gw.url, notification({ value: messagesValue(t.phoneNumberId, [reaction]) }))).status).toBe(200);
    const q = async (qs: string) => (await api(h.gw, 'GET', `/api/conversations?${qs}`, undefined, t.key)).body.items.map((c: any) => c.id);
    expect(await q('unanswered=true')).toEqual([]);
    expect(await q('disposition=no_answer_needed')).toEqual([t.conversationId]);
  });

  it('answers 400 invalid_request for bad query values, naming the field', async () => {
    const t = await tenantWithConversation(h.gw);
    for (const qs of ['limit=0', 'limit=201', 'limit=ten', 'paused=yes', 'unanswered=1', 'disposition=ignored', 'cursor=%25%25', 'cursor=eyJ4IjoxfQ', 'color=red']) {
      const r = await api(h.gw, 'GET', `/api/conversations?${qs}`, undefined, t.key);
      expect(r.status, qs).toBe(400);
      expect(r.body.error.code, qs).toBe('invalid_request');
      expect(r.body.error.message, qs).toMatch(new RegExp(qs.split('=')[0]));
    }
  });

  it('a cursor naming an impossible snapshot is a 400, not a 500', async () => {
    const t = await tenantWithConversation(h.gw);
    const bad = Buffer.from(JSON.stringify({ k: '1', i: '1', s: '9:3:', h: '1' })).toString('base64url');
    const r = await api(h.gw, 'GET', `/api/conversations?cursor=${bad}`, undefined, t.key);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
  });

  it('an unknown or malformed conversation id answers 404 not_found', async () => {
    const t = await tenantWithConversation(h.gw);
    for (const id of ['999999999', 'abc', '1e3']) {
      const r = await api(h.gw, 'GET', `/api/conversations/${id}`, undefined, t.key);
      expect(r.status, id).toBe(404);
      expect(r.body).toEqual({ error: { code: 'not_found', message: 'conversation not found' } });
    }
  });

  it('the admin key sees every tenant, or one with ?tenantId=', async () => {
    const a = await tenantWithConversation(h.gw, { name: 'A' });
    const b = await tenantWithConversation(h.gw, { name: 'B' });
    const all = await api(h.gw, 'GET', '/api/conversations?limit=200');
    expect(all.status).toBe(200);
    const ids = all.body.items.map((c: any) => c.id);
    expect(ids).toContain(a.conversationId);
    expect(ids).toContain(b.conversationId);
    const onlyA = await api(h.gw, 'GET', `/api/conversations?tenantId=${a.tenant.id}`);
    expect(onlyA.body.items.map((c: any) => c.id)).toEqual([a.conversationId]);
    // A tenant key may name its own tenant, and no other.
    expect((await api(h.gw, 'GET', `/api/conversations?tenantId=${a.tenant.id}`, undefined, a.key)).status).toBe(200);
    expect((await api(h.gw, 'GET', `/api/conversations?tenantId=${b.tenant.id}`, undefined, a.key)).status).toBe(404);
  });
});
