import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../support/gateway.ts';
import { eventually } from '../support/pipeline.ts';
import { messagesValue, notification, postWebhook, textNotification, wamid } from '../support/webhooks.ts';
import { startApiGateway, tenantWithConversation, type ApiHarness } from './harness.ts';

describe('GET /api/conversations/:id/messages', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiGateway();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("oldest first, each with its status, and the customer's with their disposition", async () => {
    const t = await tenantWithConversation(h.gw, { text: 'when are you open?' });
    const r = await eventually(async () => {
      const res = await api(h.gw, 'GET', `/api/conversations/${t.conversationId}/messages`, undefined, t.key);
      // The simulator posts sent, delivered and read back through the signed webhook.
      return res.body.items.length === 2 && res.body.items[1].status === 'read' ? res : null;
    });
    expect(r.body.nextCursor).toBeNull();
    const [inbound, reply] = r.body.items;
    expect(inbound).toEqual({
      id: expect.any(String),
      conversationId: t.conversationId,
      direction: 'inbound',
      author: 'customer',
      wamid: t.wamid,
      type: 'text',
      text: 'when are you open?',
      media: null,
      status: 'received',
      disposition: 'answered',
      turnId: expect.any(String),
      error: null,
      toolCalls: [],
      pricingCategory: null,
      createdAt: expect.stringMatching(/Z$/),
    });
    expect(reply).toMatchObject({ direction: 'outbound', author: 'agent', type: 'text', status: 'read', disposition: null, turnId: inbound.turnId, error: null, toolCalls: [] });
    expect(reply.wamid).toMatch(/^wamid\./);
    expect(BigInt(reply.id)).toBeGreaterThan(BigInt(inbound.id));
  });

  it('media messages carry mime type, caption and filename; the caption is the text', async () => {
    const t = await tenantWithConversation(h.gw);
    const doc = {
      from: t.from,
      id: wamid(),
      timestamp: String(Math.floor(Date.now() / 1000)),
      type: 'document',
      document: { id: 'media-1', mime_type: 'application/pdf', sha256: 'x', caption: 'the invoice', filename: 'invoice.pdf' },
    };
    expect((await postWebhook(h.gw.url, notification({ value: messagesValue(t.phoneNumberId, [doc]) }))).status).toBe(200);
    const r = await api(h.gw, 'GET', `/api/conversations/${t.conversationId}/messages?order=desc&limit=5`, undefined, t.key);
    const m = r.body.items.find((x: any) => x.wamid === doc.id);
    expect(m).toMatchObject({ type: 'document', text: 'the invoice', media: { mimeType: 'application/pdf', caption: 'the invoice', filename: 'invoice.pdf' } });
  });

  it('pages by cursor in both orders, none skipped or repeated', async () => {
    const t = await tenantWithConversation(h.gw, { agent: { provider: 'demo' } });
    await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/pause`, {}, t.key);
    for (let i = 0; i < 9; i++) await postWebhook(h.gw.url, textNotification(t.phoneNumberId, t.from, `m${i}`).body);
    const all = (await api(h.gw, 'GET', `/api/conversations/${t.conversationId}/messages?limit=500`, undefined, t.key)).body.items.map((m: any) => m.id);
    expect(all.length).toBeGreaterThanOrEqual(10);
    for (const order of ['asc', 'desc'] as const) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const qs: string = cursor ? `cursor=${cursor}&limit=3` : `order=${order}&limit=3`;
        const r = await api(h.gw, 'GET', `/api/conversations/${t.conversationId}/messages?${qs}`, undefined, t.key);
        expect(r.status).toBe(200);
        expect(r.body.items.length).toBeLessThanOrEqual(3);
        seen.push(...r.body.items.map((m: any) => m.id));
        cursor = r.body.nextCursor;
      } while (cursor && ++pages < 20);
      expect(seen).toEqual(order === 'asc' ? all : [...all].reverse());
    }
  });

  it('400 for a bad limit, order or cursor; 404 for an unknown conversation', async () => {
    const t = await tenantWithConversation(h.gw);
    for (const qs of ['limit=0', 'limit=501', 'order=up', 'cursor=abc', 'cursor=' + Buffer.from('{"i":"x","o":"asc"}').toString('base64url')]) {
      const r = await api(h.gw, 'GET', `/api/conversations/${t.conversationId}/messages?${qs}`, undefined, t.key);
      expect(r.status, qs).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    expect((await api(h.gw, 'GET', '/api/conversations/424242424/messages', undefined, t.key)).status).toBe(404);
  });
});

describe('POST /api/conversations/:id/messages: an operator answers by hand', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApiGateway();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('queues the text, sends it to the customer and pauses the bot (autoPauseOnOperatorReply, the default)', async () => {
    const t = await tenantWithConversation(h.gw, { text: 'hello' });
    await eventually(async () => (await api(h.gw, 'GET', `/api/conversations/${t.conversationId}`, undefined, t.key)).body.lastMessage?.author === 'agent');
    const sent = h.cloud.once('send', (s) => s.to === t.from && s.body === 'A person here: how can I help?');
    const r = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/messages`, { text: 'A person here: how can I help?' }, t.key);
    expect(r.status).toBe(201);
    expect(r.body.paused).toBe(true);
    expect(r.body.messages).toHaveLength(1);
    expect(r.body.messages[0]).toMatchObject({ direction: 'outbound', author: 'operator', text: 'A person here: how can I help?', status: 'queued', conversationId: t.conversationId });
    await sent;
    const conv = await api(h.gw, 'GET', `/api/conversations/${t.conversationId}`, undefined, t.key);
    expect(conv.body).toMatchObject({ paused: true, pausedBy: 'operator' });
    // The bot stays quiet now.
    await postWebhook(h.gw.url, textNotification(t.phoneNumberId, t.from, 'thanks').body);
    const last = await eventually(async () => {
      const m = (await api(h.gw, 'GET', `/api/conversations/${t.conversationId}/messages?order=desc&limit=1`, undefined, t.key)).body.items[0];
      return m.text === 'thanks' && m.disposition ? m : null;
    });
    expect(last.disposition).toBe('paused');
  });

  it('does not pause when the tenant turned autoPauseOnOperatorReply off', async () => {
    const t = await tenantWithConversation(h.gw, { agent: { provider: 'demo', autoPauseOnOperatorReply: false } });
    const r = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/messages`, { text: 'just a note' }, t.key);
    expect(r.status).toBe(201);
    expect(r.body.paused).toBe(false);
    expect((await api(h.gw, 'GET', `/api/conversations/${t.conversationId}`, undefined, t.key)).body.paused).toBe(false);
  });

  it("409 outside_customer_service_window when the customer's last message is more than 24 hours old; nothing queued", async () => {
    const t = await tenantWithConversation(h.gw);
    // A fresh customer whose only message is 25 hours old.
    const old = { from: '15559990001', id: wamid(), timestamp: String(Math.floor(Date.now() / 1000) - 25 * 3600), type: 'text', text: { body: 'yesterday' } };
    expect((await postWebhook(h.gw.url, notification({ value: messagesValue(t.phoneNumberId, [old]) }))).status).toBe(200);
    const conv = (await api(h.gw, 'GET', '/api/conversations', undefined, t.key)).body.items.find((c: any) => c.contact.waId === '15559990001');
    const r = await api(h.gw, 'POST', `/api/conversations/${conv.id}/messages`, { text: 'sorry for the wait' }, t.key);
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('outside_customer_service_window');
    const msgs = (await api(h.gw, 'GET', `/api/conversations/${conv.id}/messages`, undefined, t.key)).body.items;
    expect(msgs.map((m: any) => m.direction)).toEqual(['inbound']);
    expect(msgs[0].disposition).toBe('window_closed');
    // Nor was the bot paused by the refused send.
    expect((await api(h.gw, 'GET', `/api/conversations/${conv.id}`, undefined, t.key)).body.paused).toBe(false);
  });

  it('a text over 4,096 characters goes out in parts', async () => {
    const t = await tenantWithConversation(h.gw);
    const text = 'word '.repeat(1000).trim();
    const r = await api(h.gw, 'POST', `/api/conversations/${t.conversationId}/messages`, { text }, t.key);
    expect(r.status).toBe(201);
    expect(r.body.messages.length).toBe(2);
    expect(r.body.messages.map((m: any) => m.text).join(' ')).toBe(text);
  });

  it('400 for a missing, empty, blank, too long or extra-field body', async () => {
    const t = await tenantWithConversation(h.gw);
    const url = `/api/conversations/${t.conversationId}/messages`;
    for (const body of [undefined, {}, { text: '' }, { text: '   ' }, { text: 42 }, { text: 'x'.repeat(16_385) }, { text: 'hi', to: '123' }]) {
      const r = await api(h.gw, 'POST', url, body, t.key);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
  });
});
